/* badinput.c — every bad call gets its own error code and a one-line
 * message, the program keeps running (unprofiled, or with its running
 * profile untouched), and nothing already recorded is lost. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "profcore_profiler.h"

#include "../check.h"

static char dir[256];

static volatile uint64_t sink;

static void spin_ms(long ms) {
    struct timespec t0, t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    uint64_t x = 1;
    do {
        for (int i = 0; i < 10000; i++) x = x * 31 + 7;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
    sink = x;
}

/* Starts with one field changed; expects `want` and a message holding `needle`. */
static void expect_start(pcp_options o, int want, const char *needle, const char *what) {
    char err[512] = "";
    int r = pcp_start(&o, err, sizeof err);
    CHECK(r == want, "%s: got %d want %d (%s)", what, r, want, err);
    CHECK(strstr(err, needle) != NULL, "%s: message '%s' lacks '%s'", what, err, needle);
    CHECK(!pcp_is_running(), "%s: must not be profiling", what);
    printf("     %-28s -> %s\n", what, err);
}

static pcp_options good(void) {
    static char path[512];
    snprintf(path, sizeof path, "%s/good.pb.gz", dir);
    pcp_options o = PCP_OPTIONS_INIT;
    o.output_path = path;
    return o;
}

static void on_prof(int sig) { (void)sig; }

/* A garbage frame pointer in the interrupted context.  Code that keeps no
 * frame uses rbp as a plain register, so the handler may start its walk
 * from any stack address, here one inside an ASan redzone: the walk must
 * read it as data (the badinput-asan build would abort) and still return
 * the interrupted pc.  CI once failed on this from a real signal. */
__attribute__((noinline)) static void garbage_frame_pointer(void) {
#if defined(__x86_64__)
    CHECK(pcp_register_thread() == PCP_OK, "register for direct stack reads");
    volatile char pad[8] = {0};
    uintptr_t redzone = ((uintptr_t)&pad[7] + 8) & ~(uintptr_t)7; /* just past pad */
    ucontext_t uc;
    memset(&uc, 0, sizeof uc);
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)&spin_ms;
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)redzone;
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)redzone;
    uintptr_t frames[8];
    int n = pcp_unwind_context(&uc, frames, 8);
    CHECK(n >= 1 && frames[0] == (uintptr_t)&spin_ms, "garbage frame pointer: %d frames", n);
    (void)pad[0];
#endif
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    snprintf(dir, sizeof dir, "/tmp/pcp-badinput.%d", (int)getpid());
    mkdir(dir, 0700);
    char err[512], path[1024];

    CHECK(pcp_write("/tmp/x", "pprof", err, sizeof err) == PCP_E_NO_PROFILE, "write before any profile");
    CHECK(pcp_stop(err, sizeof err) == PCP_E_NOT_RUNNING, "stop without start");
    CHECK(pcp_flush(err, sizeof err) == PCP_E_NOT_RUNNING, "flush without start");
    CHECK(pcp_objects_changed() == PCP_E_NOT_RUNNING, "objects changed without a session");
    CHECK(pcp_start(NULL, err, sizeof err) == PCP_E_INVAL, "NULL options");

    pcp_options o;
    o = good(); o.hz = 0; expect_start(o, PCP_E_INVAL, "frequency", "frequency 0");
    o = good(); o.hz = -100; expect_start(o, PCP_E_INVAL, "frequency", "frequency -100");
    o = good(); o.hz = 100000000; expect_start(o, PCP_E_INVAL, "frequency", "frequency 1e8");
    o = good(); o.engine = "perf"; o.hz = 50000; expect_start(o, PCP_E_INVAL, "perf engine is limited", "perf at 50 kHz");
    o = good(); o.engine = "turbo"; expect_start(o, PCP_E_ENGINE, "unknown engine", "engine turbo");
    o = good(); o.format = "xml"; expect_start(o, PCP_E_FORMAT, "unknown format", "format xml");
    o = good(); o.max_depth = 1; expect_start(o, PCP_E_INVAL, "max_depth", "max_depth 1");
    o = good(); o.max_depth = 100000; expect_start(o, PCP_E_INVAL, "max_depth", "max_depth 100000");
    o = good(); o.shards = 3; expect_start(o, PCP_E_INVAL, "shards", "shards 3");
    o = good(); o.output_path = "/nonexistent-dir/p.pb.gz"; expect_start(o, PCP_E_PATH, "not writable", "unwritable path");
    o = good(); o.output_path = dir; expect_start(o, PCP_E_PATH, "directory", "path is a directory");
    o = good(); o.period_ms = -1; expect_start(o, PCP_E_INVAL, "period", "period -1 ms");
    o = good(); o.period_ms = 999; expect_start(o, PCP_E_INVAL, "period", "period 999 ms (too small)");
    o = good(); o.period_ms = PCP_MAX_PERIOD_MS + 1; expect_start(o, PCP_E_INVAL, "period", "period past 24 h");
    o = good(); o.period_ms = 1000; o.output_path = NULL; expect_start(o, PCP_E_PATH, "needs an output path", "period without a path");
    o = good(); o.signal = SIGTERM; expect_start(o, PCP_E_INVAL, "cannot be the sampling signal", "SIGTERM as the sampling signal");
    o = good(); o.signal = SIGUSR1; o.engine = "itimer"; expect_start(o, PCP_E_INVAL, "itimer engine", "itimer with SIGUSR1");

    /* The program's own SIGPROF handler is refused, and stays installed. */
    struct sigaction mine, now;
    memset(&mine, 0, sizeof mine);
    mine.sa_handler = on_prof;
    sigaction(SIGPROF, &mine, NULL);
    expect_start(good(), PCP_E_SIGNAL, "SIGPROF handler", "own SIGPROF handler");
    sigaction(SIGPROF, NULL, &now);
    CHECK(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == on_prof, "the program's handler was replaced");
    signal(SIGPROF, SIG_DFL);

    /* perf: works, or says clearly why not. */
    o = good(); o.engine = "perf";
    int r = pcp_start(&o, err, sizeof err);
    CHECK(r == 0 || (r == PCP_E_ENGINE && strstr(err, "perf_event_paranoid") != NULL), "perf: %d %s", r, err);
    printf("     %-28s -> %s\n", "engine perf", r == 0 ? "available" : err);
    if (r == 0) {
        spin_ms(50);
        CHECK(pcp_stop(err, sizeof err) == 0, "perf stop: %s", err);
    }

    /* Start twice: refused, and the running profile keeps everything. */
    o = good();
    snprintf(path, sizeof path, "%s/run.pb.gz", dir);
    o.output_path = path;
    CHECK(pcp_start(&o, err, sizeof err) == 0, "first start: %s", err);
    spin_ms(150);
    CHECK(pcp_start(&o, err, sizeof err) == PCP_E_RUNNING, "second start refused");
    CHECK(strstr(err, "already") != NULL, "second start message: %s", err);
    CHECK(pcp_is_running(), "still profiling after a refused start");
    CHECK(pcp_objects_changed() == PCP_OK, "objects changed while profiling (the tables' rescan)");
    CHECK(pcp_write(path, "yaml", err, sizeof err) == PCP_E_FORMAT, "write with a bad format");
    CHECK(pcp_write(NULL, "pprof", err, sizeof err) == PCP_E_PATH, "write with no path");
    spin_ms(150);
    /* The output directory disappears: stop reports it, the profile stays. */
    char moved[300];
    snprintf(moved, sizeof moved, "%s.gone", dir);
    CHECK(rename(dir, moved) == 0, "rename the output directory");
    r = pcp_stop(err, sizeof err);
    CHECK(r == PCP_E_WRITE, "stop into a vanished directory: %d %s", r, err);
    printf("     %-28s -> %s\n", "vanished output directory", err);
    CHECK(rename(moved, dir) == 0, "restore the output directory");
    pcp_stats s;
    pcp_get_stats(&s);
    printf("     kept: signals %llu foreign %llu offered %llu core %llu profile %llu rejected %llu\n", (unsigned long long)s.signals, (unsigned long long)s.signals_foreign, (unsigned long long)s.offered_weight, (unsigned long long)s.core_offered_weight, (unsigned long long)s.profile_weight, (unsigned long long)s.core_rejected_weight);
    CHECK(pcp_get_stats(&s) == 0 && s.profile_weight >= 20, "kept profile weight %llu (>= 20 of ~30)",
          (unsigned long long)s.profile_weight);
    CHECK(s.offered_weight == s.core_offered_weight &&
              s.profile_weight + s.core_rejected_weight == s.core_offered_weight,
          "conservation across refused calls");
    snprintf(path, sizeof path, "%s/saved.pb.gz", dir);
    CHECK(pcp_write(path, "pprof", err, sizeof err) == 0, "the kept profile can still be written: %s", err);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > 0, "saved file exists");
    CHECK(pcp_stop(err, sizeof err) == PCP_E_NOT_RUNNING, "stop twice");
    CHECK(pcp_objects_changed() == PCP_E_NOT_RUNNING, "objects changed after the stop");

    garbage_frame_pointer();

    char cmd[1024];
    snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, moved);
    if (system(cmd) != 0) printf("cleanup failed\n");
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
