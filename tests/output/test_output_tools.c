/* test_output_tools.c — the files read back by the real tools:
 *   go tool pprof -raw / -top      (Debian golang-go) on the pprof file:
 *                                  parses with no warning, labels, names,
 *                                  absolute files and lines, inline frames,
 *                                  synthetic frames with their weights,
 *                                  main binary first with its build ID
 *   google-pprof --text            (Debian google-perftools, perl) on the
 *                                  legacy file: totals and names
 *   go tool pprof -top             on the legacy file too
 * The expected lines and weights come from the fixture (fixture.h). */
#define _GNU_SOURCE
#include <limits.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "fixture.h"
#include "output_internal.h"

static fixture fx;
static char dir[256];
static char exe[PATH_MAX];

typedef struct run_result {
    int status; /* exit status, or -1 */
    char *out, *err;
} run_result;

/* Runs a shell command with stdout and stderr captured in files of dir. */
static run_result run(const char *cmd) {
    run_result r = {-1, NULL, NULL};
    char full[3 * PATH_MAX];
    snprintf(full, sizeof full, "cd '%s' && %s >'%s/out' 2>'%s/err'", dir, cmd, dir, dir);
    int st = system(full);
    r.status = st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/out", dir);
    r.out = slurp(path, NULL);
    snprintf(path, sizeof path, "%s/err", dir);
    r.err = slurp(path, NULL);
    if (!r.out) r.out = strdup("");
    if (!r.err) r.err = strdup("");
    return r;
}

static void run_free(run_result *r) {
    free(r->out);
    free(r->err);
}

/* The first line of text containing every one of the given fragments. */
static int line_with(const char *text, const char *a, const char *b, const char *c) {
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = strndup(p, n);
        int ok = line && strstr(line, a) && (!b || strstr(line, b)) && (!c || strstr(line, c));
        free(line);
        if (ok) return 1;
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

/* In a pprof/google-pprof table ("flat flat% sum% cum cum% name"), the
 * flat and cum columns of the row whose name is exactly `name`. */
static int table_row(const char *text, const char *name, double *flat, double *cum) {
    const char *p = text;
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof line, "%.*s", (int)(n < 1023 ? n : 1023), p);
        double f, fp, sp, c, cp;
        int used = 0;
        if (sscanf(line, " %lf %lf%% %lf%% %lf %lf%% %n", &f, &fp, &sp, &c, &cp, &used) == 5 &&
            used > 0 && strcmp(line + used, name) == 0) {
            *flat = f;
            *cum = c;
            return 1;
        }
        p = nl ? nl + 1 : NULL;
    }
    return 0;
}

static void expect_row(const char *tool, const char *text, const char *name, double flat,
                       double cum) {
    double f = -1, c = -1;
    int found = table_row(text, name, &f, &c);
    CHECK(found && f == flat && c == cum, "%s: %s flat %g cum %g, want %g %g", tool, name, f, c,
          flat, cum);
}

static void build_id(char *out, size_t n) {
    pcout_mapping *m = NULL;
    size_t k = pcout_read_mappings(&m);
    snprintf(out, n, "%s", k && m[0].is_main ? m[0].build_id : "");
    pcout_free_mappings(m, k);
}

static void test_go_pprof_raw(void) {
    run_result r = run("go tool pprof -raw cpu.pb.gz");
    CHECK(r.status == 0, "go tool pprof -raw exit %d: %s", r.status, r.err);
    CHECK(r.err[0] == '\0', "no warnings from go tool pprof -raw: %s", r.err);
    const char *o = r.out;
    /* Labels: the thread label, tid, unregistered and both states. */
    CHECK(strstr(o, "thread_label:[worker]"), "thread label");
    CHECK(strstr(o, "tid:[1234]") && strstr(o, "tid:[999]") && strstr(o, "tid:[1235]"), "tids");
    CHECK(strstr(o, "unregistered:[true]"), "unregistered label");
    CHECK(strstr(o, "state:[running]") && strstr(o, "state:[sleeping]"), "state labels");
    /* Sample values: [count, count x period]. */
    CHECK(strstr(o, "samples/count cpu/nanoseconds"), "sample types");
    CHECK(strstr(o, "          7   70000000: "), "the contended loss sample carries weight 7");
    CHECK(strstr(o, "          2   20000000: "), "the log-full loss sample carries weight 2");
    /* Symbols with absolute files and the call lines of the return addresses. */
    char src[64], line[128];
    snprintf(src, sizeof src, "/tests/output/%s:", FIXTURE_SOURCE);
    snprintf(line, sizeof line, "%s%d ", src, fx.line_b);
    CHECK(line_with(o, "M=1 fixture_level_b /", line, NULL), "fixture_level_b at %s", line);
    snprintf(line, sizeof line, "%s%d ", src, fx.line_c);
    CHECK(line_with(o, "M=1 fixture_level_c /", line, NULL), "fixture_level_c at %s", line);
    CHECK(line_with(o, "M=1 fixture_leaf /", src, NULL), "fixture_leaf with its file");
    /* The inlined call: one location, two lines, callee first. */
    char inl[128], caller[128];
    snprintf(inl, sizeof inl, "%s%d ", src, fx.line_inlined);
    snprintf(caller, sizeof caller, "%s%d ", src, fx.line_d_call);
    const char *at = strstr(o, " fixture_inlined /");
    const char *next = at ? strchr(at, '\n') : NULL;
    CHECK(at && line_with(at, "fixture_inlined", inl, NULL), "inlined callee at %s", inl);
    CHECK(next && strncmp(next + 1, "             fixture_level_d /", 30) == 0 &&
              line_with(next + 1, "fixture_level_d", caller, NULL),
          "inline caller fixture_level_d at %s on the same location", caller);
    /* Synthetic frames: their own locations, no mapping. */
    CHECK(line_with(o, ": 0x0 [lost: contended]", NULL, NULL), "contended frame");
    CHECK(line_with(o, ": 0x0 [truncated]", NULL, NULL), "truncated frame");
    /* Mappings: the main binary first, with its build ID and all flags. */
    char id[256], want[PATH_MAX + 300];
    build_id(id, sizeof id);
    snprintf(want, sizeof want, " %s %s [FN][FL][LN][IN]", exe, id);
    const char *maps = strstr(o, "\nMappings\n1: ");
    CHECK(id[0] && maps && line_with(maps + 10, want, NULL, NULL), "mapping 1 is%s", want);
    run_free(&r);
}

static void test_go_pprof_top(void) {
    run_result r = run("go tool pprof -top -sample_index=samples cpu.pb.gz");
    CHECK(r.status == 0, "go tool pprof -top exit %d: %s", r.status, r.err);
    CHECK(r.err[0] == '\0', "no warnings from go tool pprof -top: %s", r.err);
    CHECK(strstr(r.out, "Total samples = 22"), "total 22:\n%s", r.out);
    expect_row("pprof", r.out, "fixture_leaf", 13, 13);
    expect_row("pprof", r.out, "[lost: contended]", 7, 7);
    expect_row("pprof", r.out, "[lost: log full]", 2, 2);
    expect_row("pprof", r.out, "[truncated]", 0, 1);
    expect_row("pprof", r.out, "fixture_level_b", 0, 10);
    expect_row("pprof", r.out, "fixture_level_c", 0, 12);
    expect_row("pprof", r.out, "fixture_level_d", 0, 3);
    expect_row("pprof", r.out, "fixture_inlined (inline)", 0, 3);
    run_free(&r);
    /* The CPU view: weight x period in time units. */
    r = run("go tool pprof -top cpu.pb.gz");
    CHECK(r.status == 0 && strstr(r.out, "220ms total"), "cpu total 220ms:\n%s", r.out);
    run_free(&r);
    /* A label filter works on our labels. */
    r = run("go tool pprof -top -sample_index=samples -tagfocus=thread_label=worker cpu.pb.gz");
    CHECK(r.status == 0 && strstr(r.out, "accounting for 5, 22.73% of 22 total"), "tagfocus worker keeps weight 5:\n%s%s",
          r.out, r.err);
    run_free(&r);
}

static void test_google_pprof(void) {
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "google-pprof --text '%s' cpu.prof", exe);
    run_result r = run(cmd);
    CHECK(r.status == 0, "google-pprof exit %d: %s", r.status, r.err);
    CHECK(strstr(r.out, "Total: 22 samples"), "google-pprof total:\n%s\n%s", r.out, r.err);
    expect_row("google-pprof", r.out, "fixture_leaf", 13, 13);
    expect_row("google-pprof", r.out, "profcore_lost_contended", 7, 7);
    expect_row("google-pprof", r.out, "profcore_lost_log_full", 2, 2);
    expect_row("google-pprof", r.out, "profcore_truncated", 0, 1);
    expect_row("google-pprof", r.out, "fixture_level_c", 0, 12);
    expect_row("google-pprof", r.out, "fixture_level_b", 0, 10);
    run_free(&r);
}

static void test_go_pprof_legacy(void) {
    run_result r = run("go tool pprof -top -sample_index=samples cpu.prof");
    CHECK(r.status == 0, "go tool pprof on the legacy file exit %d: %s", r.status, r.err);
    CHECK(!strstr(r.err, "arning") && !strstr(r.err, "not available"), "no warning: %s", r.err);
    CHECK(strstr(r.out, "accounting for 22, 100% of 22 total"), "legacy total 22 via go pprof:\n%s", r.out);
    expect_row("pprof(legacy)", r.out, "fixture_leaf", 13, 13);
    expect_row("pprof(legacy)", r.out, "profcore_lost_contended", 7, 7);
    expect_row("pprof(legacy)", r.out, "fixture_level_c", 0, 12);
    run_free(&r);
}

static void test_collapsed_matches_pprof(void) {
    /* pprof's own -traces view and our collapsed file must agree on the
     * total weight per leaf function. */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/stacks.txt", dir);
    char *text = slurp(path, NULL);
    unsigned long long leaf = 0;
    for (char *l = text ? strtok(text, "\n") : NULL; l; l = strtok(NULL, "\n")) {
        char *sp = strrchr(l, ' ');
        if (sp && sp - l >= 13 && strncmp(sp - 13, ";fixture_leaf", 13) == 0)
            leaf += strtoull(sp + 1, NULL, 10);
    }
    CHECK(leaf == 13, "collapsed stacks ending in fixture_leaf weigh %llu, pprof says 13", leaf);
    free(text);
}

static int have_tool(const char *cmd) {
    run_result r = run(cmd);
    int ok = r.status == 0;
    run_free(&r);
    return ok;
}

int main(void) {
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    /* go needs a HOME (for its caches) even just to run a tool. */
    if (!getenv("HOME")) setenv("HOME", "/tmp", 1);
    snprintf(dir, sizeof dir, "/tmp/profcore-output-tools.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    fixture_build(&fx);
    char path[PATH_MAX], err[256] = "";
    snprintf(path, sizeof path, "%s/cpu.pb.gz", dir);
    CHECK(pcprof_write_pprof(&fx.profile, path, err, sizeof err) == 0, "pprof: %s", err);
    snprintf(path, sizeof path, "%s/cpu.prof", dir);
    CHECK(pcprof_write_legacy(&fx.profile, path, err, sizeof err) == 0, "legacy: %s", err);
    snprintf(path, sizeof path, "%s/stacks.txt", dir);
    CHECK(pcprof_write_collapsed(&fx.profile, path, err, sizeof err) == 0, "collapsed: %s", err);

    /* A missing tool is a failure, not a skip: `make deps` installs them. */
    CHECK(have_tool("go version"), "go is installed (golang-go)");
    CHECK(have_tool("command -v google-pprof"), "google-pprof is installed (google-perftools)");
    test_go_pprof_raw();
    test_go_pprof_top();
    test_google_pprof();
    test_go_pprof_legacy();
    test_collapsed_matches_pprof();

    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (failed == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    else if (failed) fprintf(stderr, "files kept in %s\n", dir);
    return check_finish();
}
