/* wall_clock.c — the wall-clock engine samples running and blocked threads.
 *
 *   wall_clock OUT.pb.gz [SECONDS] [HZ]
 * Profiles with engine "wall" (default 2 s at 100 Hz) while three
 * registered threads spend the same wall time differently:
 *   spinner  burns CPU in spin_work (state running),
 *   reader   blocks in read(2) on a pipe in read_work (state sleeping),
 *   main     blocks in nanosleep in sleep_work (state sleeping),
 *   blocker  has the tick signal blocked for the first half (a raw
 *            rt_sigprocmask, as code that bypasses libc does), then not,
 *   muted    has it blocked the whole run,
 * then stops and writes OUT.  A tick sent while the previous one is still
 * pending is dropped by the kernel: the blocked threads' wall time is only
 * whole if the engine carries it (threads.c, prt_threads_wall_tick).  Prints "tid NAME TID" and "expect WEIGHT"
 * lines for tests/profiler/run.sh (which reads OUT back with go tool pprof
 * and checks per-thread weight and state labels), checks what it can in
 * process (engine name, no foreign signal, conservation, total weight
 * ~ 5 threads x seconds x hz within 10 %, an unknown engine still
 * refused), and prints "N passed, N failed". */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "profcore_profiler.h"


#include "../check.h"

static volatile uint64_t sink;
static double seconds = 2.0;
static int pipe_fds[2];

static double mono_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int gettid_(void) { return (int)syscall(SYS_gettid); }

__attribute__((noinline)) static void spin_work(double s) {
    double end = mono_s() + s;
    while (mono_s() < end)
        for (int i = 0; i < 20000; i++) sink = sink * 6364136223846793005ull + 11;
}

__attribute__((noinline)) static void read_work(void) {
    char b;
    while (read(pipe_fds[0], &b, 1) < 0) {
    }
}

__attribute__((noinline)) static void sleep_work(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static void *spinner(void *arg) {
    (void)arg;
    pcp_register_thread();
    printf("tid spinner %d\n", gettid_());
    spin_work(seconds);
    return NULL;
}

/* The tick signal blocked or unblocked on this thread with the raw system
 * call: no libc or interposer sees it. */
static void raw_mask_sigprof(int how) {
    uint64_t set = UINT64_C(1) << (SIGPROF - 1);
    syscall(SYS_rt_sigprocmask, how, &set, NULL, sizeof set);
}

static void *blocker(void *arg) {
    (void)arg;
    pcp_register_thread();
    printf("tid blocker %d\n", gettid_());
    raw_mask_sigprof(SIG_BLOCK);
    sleep_work(seconds / 2);
    raw_mask_sigprof(SIG_UNBLOCK);
    sleep_work(seconds / 2);
    return NULL;
}

static void *muted(void *arg) {
    (void)arg;
    pcp_register_thread();
    printf("tid muted %d\n", gettid_());
    raw_mask_sigprof(SIG_BLOCK);
    sleep_work(seconds);
    return NULL;
}

static void *reader(void *arg) {
    (void)arg;
    pcp_register_thread();
    printf("tid reader %d\n", gettid_());
    read_work();
    return NULL;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: wall_clock OUT.pb.gz [SECONDS] [HZ]\n");
        return 2;
    }
    if (argc > 2) seconds = atof(argv[2]);
    int hz = argc > 3 ? atoi(argv[3]) : 100;
    char err[512] = "";

    pcp_options bad = PCP_OPTIONS_INIT;
    bad.engine = "walls";
    CHECK(pcp_start(&bad, err, sizeof err) == PCP_E_ENGINE && strstr(err, "wall") != NULL,
          "an unknown engine is refused, naming wall among the choices: %s", err);

    pcp_options o = PCP_OPTIONS_INIT;
    o.engine = "wall";
    o.hz = hz;
    o.output_path = argv[1];
    int r = pcp_start(&o, err, sizeof err);
    CHECK(r == PCP_OK, "start engine wall: %d %s", r, err);
    if (r != PCP_OK) {
        printf("%d passed, %d failed\n", passed, failed);
        return 1;
    }
    printf("tid main %d\n", gettid_());
    if (pipe(pipe_fds) != 0) return 1;
    pthread_t a, b, c, d;
    double t0 = mono_s();
    pthread_create(&a, NULL, spinner, NULL);
    pthread_create(&b, NULL, reader, NULL);
    pthread_create(&c, NULL, blocker, NULL);
    pthread_create(&d, NULL, muted, NULL);
    sleep_work(seconds);
    if (write(pipe_fds[1], "x", 1) != 1) return 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_join(c, NULL);
    pthread_join(d, NULL);
    double elapsed = mono_s() - t0;
    r = pcp_stop(err, sizeof err);
    CHECK(r == PCP_OK, "stop: %d %s", r, err);

    pcp_stats st;
    CHECK(pcp_get_stats(&st) == PCP_OK, "stats");
    double expect_thread = seconds * hz;
    double expect_total = 5 * expect_thread;
    printf("expect %.0f\n", expect_thread);
    printf("     signals %llu foreign %llu offered weight %llu profile %llu (expected ~%.0f), %.3f s\n",
           (unsigned long long)st.signals, (unsigned long long)st.signals_foreign,
           (unsigned long long)st.offered_weight, (unsigned long long)st.profile_weight, expect_total,
           elapsed);
    CHECK(st.signals_foreign == 0, "no tick was taken as foreign (%llu)", (unsigned long long)st.signals_foreign);
    CHECK(st.offered_weight == st.core_offered_weight &&
              st.profile_weight + st.core_rejected_weight == st.core_offered_weight,
          "conservation: handler %llu core %llu profile %llu rejected %llu",
          (unsigned long long)st.offered_weight, (unsigned long long)st.core_offered_weight,
          (unsigned long long)st.profile_weight, (unsigned long long)st.core_rejected_weight);
    CHECK(st.profile_weight >= 0.9 * expect_total && st.profile_weight <= 1.1 * expect_total,
          "total weight %llu within 10%% of 5 threads x %.1f s x %d Hz = %.0f",
          (unsigned long long)st.profile_weight, seconds, hz, expect_total);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
