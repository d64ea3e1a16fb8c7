/* test_envconfig.c — the environment parser, value by value and as a whole. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envconfig.h"

#include "../check.h"

/* A fake environment: NULL-terminated "NAME=VALUE" strings. */
static const char *lookup(void *ctx, const char *name) {
    size_t n = strlen(name);
    for (const char *const *e = ctx; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') return *e + n + 1;
    return NULL;
}

static pcenv_result parse(const char *const *env) {
    pcenv_result r;
    pcenv_parse(lookup, (void *)env, &r);
    return r;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_off_and_paths(void) {
    const char *none[] = {"PROFCORE_HZ=junk", NULL};
    pcenv_result r = parse(none);
    CHECK(r.status == PCENV_OFF && r.nerrors == 0, "no path: off, other variables not examined");
    const char *mine[] = {"PROFCORE_OUT=/tmp/a.pb.gz", NULL};
    r = parse(mine);
    CHECK(r.status == PCENV_PROFILE && strcmp(r.config.out, "/tmp/a.pb.gz") == 0, "PROFCORE_OUT");
    CHECK(r.config.hz == PCENV_DEFAULT_HZ && r.config.engine == PCPROF_ENGINE_CTIMER &&
              r.config.format == PCPROF_FORMAT_PPROF && r.config.children == 0 && r.config.snapshot_signal == 0,
          "defaults");
    const char *theirs[] = {"CPUPROFILE=/tmp/g.prof", NULL};
    r = parse(theirs);
    CHECK(r.status == PCENV_PROFILE && strcmp(r.config.out, "/tmp/g.prof") == 0 &&
              strcmp(r.config.out_from, "CPUPROFILE") == 0,
          "CPUPROFILE");
    const char *both[] = {"CPUPROFILE=/tmp/g.prof", "PROFCORE_OUT=/tmp/p", NULL};
    r = parse(both);
    CHECK(r.status == PCENV_PROFILE && strcmp(r.config.out, "/tmp/p") == 0, "PROFCORE_OUT wins");
    const char *empty_theirs[] = {"CPUPROFILE=", NULL};
    r = parse(empty_theirs);
    CHECK(r.status == PCENV_OFF, "empty CPUPROFILE is unset (as in gperftools)");
    const char *empty_mine[] = {"PROFCORE_OUT=", NULL};
    r = parse(empty_mine);
    CHECK(r.status == PCENV_REFUSED && strstr(r.messages, "PROFCORE_OUT=''"), "empty PROFCORE_OUT: %s", r.messages);
    static char longpath[PATH_MAX + 32];
    memcpy(longpath, "PROFCORE_OUT=", 13);
    memset(longpath + 13, 'a', PATH_MAX);
    const char *too_long[] = {longpath, NULL};
    r = parse(too_long);
    CHECK(r.status == PCENV_REFUSED && count_lines(r.messages) == 1 && strstr(r.messages, "..."),
          "path >= PATH_MAX refused, message one line and cut: %s", r.messages);
}

static void test_hz(void) {
    static const struct {
        const char *v;
        unsigned hz; /* 0 = invalid */
    } cases[] = {{"1", 1},     {"100000", 100000}, {"250", 250},   {"007", 7}, {"0", 0},
                 {"100001", 0}, {"-5", 0},         {"+5", 0},      {" 5", 0},  {"5 ", 0},
                 {"10x", 0},    {"", 0},           {"0x10", 0},    {"1e3", 0}, {"99999999999999999999999999", 0},
                 {"4294967297", 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char var[64];
        snprintf(var, sizeof var, "PROFCORE_HZ=%s", cases[i].v);
        const char *env[] = {"PROFCORE_OUT=/tmp/x", var, NULL};
        pcenv_result r = parse(env);
        if (cases[i].hz) {
            CHECK(r.status == PCENV_PROFILE && r.config.hz == cases[i].hz, "HZ '%s' -> %u", cases[i].v, r.config.hz);
        } else {
            char expect[96];
            snprintf(expect, sizeof expect, "PROFCORE_HZ='%s': expected an integer 1..100000", cases[i].v);
            CHECK(r.status == PCENV_REFUSED && strstr(r.messages, expect) && count_lines(r.messages) == 1,
                  "HZ '%s' refused: %s", cases[i].v, r.messages);
        }
    }
    const char *freq[] = {"CPUPROFILE=/tmp/x", "CPUPROFILE_FREQUENCY=500", NULL};
    pcenv_result r = parse(freq);
    CHECK(r.status == PCENV_PROFILE && r.config.hz == 500 && strcmp(r.config.hz_from, "CPUPROFILE_FREQUENCY") == 0,
          "CPUPROFILE_FREQUENCY");
    const char *bad_freq[] = {"CPUPROFILE=/tmp/x", "CPUPROFILE_FREQUENCY=fast", NULL};
    r = parse(bad_freq);
    CHECK(r.status == PCENV_REFUSED && strstr(r.messages, "CPUPROFILE_FREQUENCY='fast'"), "%s", r.messages);
    const char *override[] = {"CPUPROFILE=/tmp/x", "CPUPROFILE_FREQUENCY=fast", "PROFCORE_HZ=50", NULL};
    r = parse(override);
    CHECK(r.status == PCENV_PROFILE && r.config.hz == 50, "PROFCORE_HZ overrides (overridden not examined)");
}

static void test_engine(void) {
    static const char *const names[] = {"ctimer", "itimer", "perf", "wall"};
    for (int i = 0; i < 4; i++) {
        pcprof_engine e;
        CHECK(pcenv_parse_engine(names[i], &e) == 0 && (int)e == i + 1 && strcmp(pcprof_engine_name(e), names[i]) == 0,
              "%s", names[i]);
    }
    static const char *const bad[] = {"CTIMER", "ctimer ", "", "timer", "wall\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char var[64];
        snprintf(var, sizeof var, "PROFCORE_ENGINE=%s", bad[i]);
        const char *env[] = {"PROFCORE_OUT=/x", var, NULL};
        pcenv_result r = parse(env);
        CHECK(r.status == PCENV_REFUSED && strstr(r.messages, "one of ctimer, itimer, perf, wall"), "engine '%s'", bad[i]);
    }
    const char *rt[] = {"CPUPROFILE=/x", "CPUPROFILE_REALTIME=1", NULL};
    pcenv_result r = parse(rt);
    CHECK(r.status == PCENV_PROFILE && r.config.engine == PCPROF_ENGINE_WALL, "REALTIME -> wall");
    const char *rt_empty[] = {"CPUPROFILE=/x", "CPUPROFILE_REALTIME=", NULL};
    r = parse(rt_empty);
    CHECK(r.status == PCENV_PROFILE && r.config.engine == PCPROF_ENGINE_WALL, "REALTIME empty -> wall");
    const char *pt[] = {"CPUPROFILE=/x", "CPUPROFILE_PER_THREAD_TIMERS=yes", NULL};
    r = parse(pt);
    CHECK(r.status == PCENV_PROFILE && r.config.engine == PCPROF_ENGINE_CTIMER &&
              strcmp(r.config.engine_from, "CPUPROFILE_PER_THREAD_TIMERS") == 0,
          "PER_THREAD -> ctimer");
    const char *both[] = {"CPUPROFILE=/x", "CPUPROFILE_PER_THREAD_TIMERS=1", "CPUPROFILE_REALTIME=true", NULL};
    r = parse(both);
    CHECK(r.status == PCENV_PROFILE && r.config.engine == PCPROF_ENGINE_WALL, "both -> wall");
    const char *rt_off[] = {"CPUPROFILE=/x", "CPUPROFILE_REALTIME=0", NULL};
    r = parse(rt_off);
    CHECK(r.status == PCENV_REFUSED && strstr(r.messages, "CPUPROFILE_REALTIME='0': gperftools treats any value as set"),
          "REALTIME=0 refused: %s", r.messages);
    const char *mine_wins[] = {"CPUPROFILE=/x", "CPUPROFILE_REALTIME=1", "PROFCORE_ENGINE=itimer", NULL};
    r = parse(mine_wins);
    CHECK(r.status == PCENV_PROFILE && r.config.engine == PCPROF_ENGINE_ITIMER, "PROFCORE_ENGINE wins");
}

static void test_format_children(void) {
    const char *ok[] = {"PROFCORE_OUT=/x", "PROFCORE_FORMAT=collapsed", "PROFCORE_CHILDREN=yes", NULL};
    pcenv_result r = parse(ok);
    CHECK(r.status == PCENV_PROFILE && r.config.format == PCPROF_FORMAT_COLLAPSED && r.config.children == 1, "format/children");
    const char *legacy[] = {"PROFCORE_OUT=/x", "PROFCORE_FORMAT=legacy", "PROFCORE_CHILDREN=false", NULL};
    r = parse(legacy);
    CHECK(r.status == PCENV_PROFILE && r.config.format == PCPROF_FORMAT_LEGACY && r.config.children == 0, "legacy/false");
    static const char *const bools[][2] = {{"0", "0"}, {"1", "1"}, {"true", "1"}, {"false", "0"}, {"yes", "1"},
                                           {"no", "0"}, {"TRUE", "x"}, {"2", "x"}, {"", "x"}, {"on", "x"}};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        int v = -1;
        int rc = pcenv_parse_bool(bools[i][0], &v);
        if (bools[i][1][0] == 'x') CHECK(rc == -1 && v == -1, "bool '%s' refused", bools[i][0]);
        else CHECK(rc == 0 && v == bools[i][1][0] - '0', "bool '%s'", bools[i][0]);
    }
    const char *two_bad[] = {"PROFCORE_OUT=/x", "PROFCORE_FORMAT=json", "PROFCORE_CHILDREN=maybe", NULL};
    r = parse(two_bad);
    CHECK(r.status == PCENV_REFUSED && r.nerrors == 2 && count_lines(r.messages) == 2 &&
              strstr(r.messages, "PROFCORE_FORMAT='json': expected one of pprof, legacy, collapsed") &&
              strstr(r.messages, "PROFCORE_CHILDREN='maybe'"),
          "two errors, two lines: %s", r.messages);
}

static void test_signal(void) {
    static const struct {
        const char *v;
        int sig; /* -1 invalid */
    } cases[] = {{"SIGUSR2", SIGUSR2}, {"USR1", SIGUSR1}, {"12", 12}, {"SIGHUP", SIGHUP}, {"SIGKILL", -1},
                 {"9", -1},            {"SIGSTOP", -1},   {"SIGPROF", -1}, {"SIGSEGV", -1}, {"SIGBUS", -1},
                 {"0", -1},            {"65", -1},        {"33", -1},      {"SIGFOO", -1},  {"usr2", -1},
                 {"SIGUSR2 ", -1},     {"", -1},          {"SIGRTMIN+99", -1}, {"RTMIN+", -1}, {"SIG", -1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int sig = -7;
        int rc = pcenv_parse_signal(cases[i].v, &sig);
        if (cases[i].sig < 0) CHECK(rc == -1 && sig == -7, "signal '%s' refused", cases[i].v);
        else CHECK(rc == 0 && sig == cases[i].sig, "signal '%s' -> %d", cases[i].v, sig);
    }
    int sig = 0;
    CHECK(pcenv_parse_signal("SIGRTMIN+3", &sig) == 0 && sig == SIGRTMIN + 3, "SIGRTMIN+3");
    CHECK(pcenv_parse_signal("RTMAX-1", &sig) == 0 && sig == SIGRTMAX - 1, "RTMAX-1");
    CHECK(pcenv_parse_signal("SIGRTMAX", &sig) == 0 && sig == SIGRTMAX, "SIGRTMAX");
    CHECK(pcenv_parse_signal("RTMAX+1", &sig) == -1, "RTMAX+1 refused");
    const char *env[] = {"PROFCORE_OUT=/x", "PROFCORE_SNAPSHOT_SIGNAL=SIGKILL", NULL};
    pcenv_result r = parse(env);
    CHECK(r.status == PCENV_REFUSED && strstr(r.messages, "PROFCORE_SNAPSHOT_SIGNAL='SIGKILL'"), "%s", r.messages);
    const char *ok[] = {"PROFCORE_OUT=/x", "PROFCORE_SNAPSHOT_SIGNAL=SIGUSR2", NULL};
    r = parse(ok);
    CHECK(r.status == PCENV_PROFILE && r.config.snapshot_signal == SIGUSR2, "snapshot SIGUSR2");
}

/* Every message is one line that starts with "profcore: ", even when all
 * variables are bad at once. */
static void test_all_bad(void) {
    static char junk[3000];
    memset(junk, 'z', sizeof junk - 1);
    char hz[3100], eng[3100];
    snprintf(hz, sizeof hz, "PROFCORE_HZ=%s", junk);
    snprintf(eng, sizeof eng, "PROFCORE_ENGINE=%s", junk);
    const char *env[] = {"PROFCORE_OUT=/x", hz, eng, "PROFCORE_FORMAT=x", "PROFCORE_CHILDREN=x",
                         "PROFCORE_SNAPSHOT_SIGNAL=x", NULL};
    pcenv_result r = parse(env);
    int lines_ok = 1;
    for (const char *l = r.messages; *l;) {
        const char *nl = strchr(l, '\n');
        if (strncmp(l, "profcore: ", 10) != 0 || nl == NULL) lines_ok = 0;
        if (nl == NULL) break;
        l = nl + 1;
    }
    CHECK(r.status == PCENV_REFUSED && r.nerrors == 5 && lines_ok && strlen(r.messages) < PCENV_MESSAGES_MAX,
          "five errors, well-formed lines (%d)", r.nerrors);
}

/* Found by fuzz_env: a newline inside a value broke the one-line rule. */
static void test_control_bytes(void) {
    const char *env[] = {"PROFCORE_OUT=/x", "PROFCORE_ENGINE=cti\nEr", "CPUPROFILE_REALTIME=no\r", NULL};
    pcenv_result r = parse(env);
    CHECK(r.status == PCENV_REFUSED && r.nerrors == 1 && count_lines(r.messages) == 1 &&
              strstr(r.messages, "PROFCORE_ENGINE='cti\\x0aEr'"),
          "newline escaped: %s", r.messages);
    const char *env2[] = {"CPUPROFILE=/x", "CPUPROFILE_REALTIME=o'k", NULL};
    r = parse(env2);
    CHECK(r.status == PCENV_REFUSED && count_lines(r.messages) == 1 && strstr(r.messages, "'o\\x27k'"), "%s", r.messages);
}

/* gperftools' switch signal, its timer signal, and rotation. */
static void test_toggle_timer_signal_period(void) {
    const char *tog[] = {"CPUPROFILE=/x", "CPUPROFILESIGNAL=12", NULL};
    pcenv_result r = parse(tog);
    CHECK(r.status == PCENV_PROFILE && r.config.toggle_signal == SIGUSR2, "CPUPROFILESIGNAL=12");
    const char *tog_name[] = {"CPUPROFILE=/x", "CPUPROFILESIGNAL=SIGUSR1", NULL};
    r = parse(tog_name);
    CHECK(r.status == PCENV_PROFILE && r.config.toggle_signal == SIGUSR1, "CPUPROFILESIGNAL=SIGUSR1");
    const char *tog_bad[] = {"CPUPROFILE=/x", "CPUPROFILESIGNAL=27", NULL};
    r = parse(tog_bad);
    CHECK(r.status == PCENV_REFUSED && strstr(r.messages, "CPUPROFILESIGNAL='27'"), "SIGPROF refused: %s", r.messages);
    const char *tog_junk[] = {"CPUPROFILE=/x", "CPUPROFILESIGNAL=12x", NULL};
    r = parse(tog_junk);
    CHECK(r.status == PCENV_REFUSED && r.nerrors == 1, "CPUPROFILESIGNAL=12x refused");
    const char *tog_same[] = {"CPUPROFILE=/x", "CPUPROFILESIGNAL=USR2", "PROFCORE_SNAPSHOT_SIGNAL=12", NULL};
    r = parse(tog_same);
    CHECK(r.status == PCENV_REFUSED && strstr(r.messages, "same signal"), "same as snapshot: %s", r.messages);
    const char *tog_period[] = {"CPUPROFILE=/x", "CPUPROFILESIGNAL=USR2", "PROFCORE_PERIOD=5s", NULL};
    r = parse(tog_period);
    CHECK(r.status == PCENV_REFUSED && strstr(r.messages, "choose one"), "switch + period: %s", r.messages);

    const char *ts_prof[] = {"CPUPROFILE=/x", "CPUPROFILE_TIMER_SIGNAL=27", NULL};
    r = parse(ts_prof);
    CHECK(r.status == PCENV_PROFILE && r.config.engine == PCPROF_ENGINE_CTIMER &&
              strcmp(r.config.engine_from, "CPUPROFILE_TIMER_SIGNAL") == 0,
          "CPUPROFILE_TIMER_SIGNAL=27: per-thread timers");
    CHECK(r.config.timer_signal == 0, "27 is SIGPROF: the default signal");
    const char *ts_rt[] = {"CPUPROFILE=/x", "CPUPROFILE_TIMER_SIGNAL=SIGRTMIN+4", NULL};
    r = parse(ts_rt);
    CHECK(r.status == PCENV_PROFILE && r.config.timer_signal == SIGRTMIN + 4 && r.config.engine == PCPROF_ENGINE_CTIMER,
          "CPUPROFILE_TIMER_SIGNAL=SIGRTMIN+4");
    const char *ts_usr[] = {"CPUPROFILE=/x", "CPUPROFILE_TIMER_SIGNAL=10", "PROFCORE_ENGINE=wall", NULL};
    r = parse(ts_usr);
    CHECK(r.status == PCENV_PROFILE && r.config.timer_signal == SIGUSR1 && r.config.engine == PCPROF_ENGINE_WALL,
          "CPUPROFILE_TIMER_SIGNAL=10 with PROFCORE_ENGINE=wall: read, not overridden");
    static const char *const ts_bad[] = {"CPUPROFILE_TIMER_SIGNAL=15", "CPUPROFILE_TIMER_SIGNAL=SIGINT",
                                         "CPUPROFILE_TIMER_SIGNAL=9", "CPUPROFILE_TIMER_SIGNAL=SIGSEGV",
                                         "CPUPROFILE_TIMER_SIGNAL=", "CPUPROFILE_TIMER_SIGNAL=0x22",
                                         "CPUPROFILE_TIMER_SIGNAL=33"};
    for (size_t i = 0; i < sizeof ts_bad / sizeof ts_bad[0]; i++) {
        const char *env[] = {"CPUPROFILE=/x", ts_bad[i], NULL};
        r = parse(env);
        CHECK(r.status == PCENV_REFUSED && r.nerrors == 1 && strstr(r.messages, "expected a signal number or name among"),
              "%s refused: %s", ts_bad[i], r.messages);
    }
    const char *ts_itimer[] = {"CPUPROFILE=/x", "CPUPROFILE_TIMER_SIGNAL=USR2", "PROFCORE_ENGINE=itimer", NULL};
    r = parse(ts_itimer);
    CHECK(r.status == PCENV_REFUSED && strstr(r.messages, "itimer engine"), "with itimer: %s", r.messages);
    const char *ts_same[] = {"CPUPROFILE=/x", "CPUPROFILE_TIMER_SIGNAL=USR2", "CPUPROFILESIGNAL=12", NULL};
    r = parse(ts_same);
    CHECK(r.status == PCENV_REFUSED && strstr(r.messages, "also the CPUPROFILESIGNAL"), "same as the switch: %s",
          r.messages);

    static const struct {
        const char *v;
        unsigned ms;
    } good[] = {{"1s", 1000}, {"60s", 60000}, {"1500ms", 1500}, {"5m", 300000}, {"24h", 86400000}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        unsigned ms = 0;
        CHECK(pcenv_parse_period(good[i].v, &ms) == 0 && ms == good[i].ms, "period %s = %u ms", good[i].v, ms);
    }
    static const char *const bad[] = {"0s", "-1s", "60", "1.5s", "999ms", "25h", "s", "", "1 s", "10S",
                                      "99999999999s", "1sec", "+5s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned ms = 7;
        CHECK(pcenv_parse_period(bad[i], &ms) != 0 && ms == 7, "period '%s' refused", bad[i]);
    }
    const char *per[] = {"PROFCORE_OUT=/x.pb.gz", "PROFCORE_PERIOD=2s", NULL};
    r = parse(per);
    CHECK(r.status == PCENV_PROFILE && r.config.period_ms == 2000, "PROFCORE_PERIOD=2s");
    const char *per_bad[] = {"PROFCORE_OUT=/x.pb.gz", "PROFCORE_PERIOD=0", NULL};
    r = parse(per_bad);
    CHECK(r.status == PCENV_REFUSED && strstr(r.messages, "PROFCORE_PERIOD='0': expected a duration 1s..24h"),
          "PROFCORE_PERIOD=0: %s", r.messages);
}

/* PROFCORE_HTTP: turns the library on alone (no whole-run profile), the
 * address grammar of endpoint.h, and a bad value refuses everything. */
static void test_http(void) {
    const char *alone[] = {"PROFCORE_HTTP=127.0.0.1:6060", "PROFCORE_HZ=250", NULL};
    pcenv_result r = parse(alone);
    CHECK(r.status == PCENV_PROFILE && r.config.http && r.config.out[0] == '\0' && r.config.hz == 250 &&
              r.config.http_endpoint.kind == PCPROF_ENDPOINT_TCP4 && r.config.http_endpoint.port == 6060 &&
              r.config.http_endpoint.loopback,
          "PROFCORE_HTTP alone: endpoint only, the other variables read");
    const char *with_out[] = {"PROFCORE_HTTP=unix:/run/p.sock", "PROFCORE_OUT=/tmp/w.pb.gz", NULL};
    r = parse(with_out);
    CHECK(r.status == PCENV_PROFILE && r.config.http && strcmp(r.config.out, "/tmp/w.pb.gz") == 0 &&
              r.config.http_endpoint.kind == PCPROF_ENDPOINT_UNIX,
          "PROFCORE_HTTP and PROFCORE_OUT together");
    static const struct {
        const char *v;
        int ok, loopback;
        unsigned port;
    } cases[] = {
        {":6060", 1, 1, 6060},      {"6060", 1, 1, 6060},        {"localhost:0", 1, 1, 0},
        {"[::1]:80", 1, 1, 80},     {"0.0.0.0:6060", 1, 0, 6060}, {"[::]:1", 1, 0, 1},
        {"10.1.2.3:65535", 1, 0, 65535},
        {"example.com:80", 0, 0, 0}, {"127.0.0.1:65536", 0, 0, 0}, {"::1:80", 0, 0, 0},
        {"127.0.0.1:", 0, 0, 0},     {"127.0.0.1:+80", 0, 0, 0},  {"unix:rel", 0, 0, 0},
        {"", 0, 0, 0},               {"1.2.3:80", 0, 0, 0},       {"[::1]", 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char var[96];
        snprintf(var, sizeof var, "PROFCORE_HTTP=%s", cases[i].v);
        const char *env[] = {var, NULL};
        r = parse(env);
        if (cases[i].ok)
            CHECK(r.status == PCENV_PROFILE && r.config.http_endpoint.loopback == cases[i].loopback &&
                      r.config.http_endpoint.port == cases[i].port,
                  "PROFCORE_HTTP='%s' accepted (loopback %d)", cases[i].v, r.config.http_endpoint.loopback);
        else
            CHECK(r.status == PCENV_REFUSED && count_lines(r.messages) == 1 && strstr(r.messages, "PROFCORE_HTTP="),
                  "PROFCORE_HTTP='%s' refused: %s", cases[i].v, r.messages);
    }
}

int main(void) {
    test_http();
    test_toggle_timer_signal_period();
    test_control_bytes();
    test_off_and_paths();
    test_hz();
    test_engine();
    test_format_children();
    test_signal();
    test_all_bad();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
