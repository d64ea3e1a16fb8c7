/* stress.c — the runtime under churn, with exact conservation after each
 * session:
 *   handler offered weight == core offered weight           (nothing lost
 *       between the signal and the core)
 *   profile weight + core rejected weight == core offered   (nothing lost
 *       between the core and the aggregate; losses are records)
 *   timers created == timers deleted after stop             (no leak)
 * Cases: start/stop cycles with busy threads; threads created and exiting
 * quickly (registered and not); a slow writer (PCP_TEST_WRITER_DELAY_MS)
 * with one shard and many distinct stacks; flush and write while running;
 * the itimer engine.  A watchdog alarm turns a deadlock into a failure.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "profcore_profiler.h"

#include "../check.h"

static char dir[256];

static uint64_t sink; /* atomic: written by every busy thread */
static int stop_flag;
/* A busy thread stops only once stop_flag is set AND it has burned this much
 * of its own CPU.  Wall time alone is luck on a loaded machine (a thread may
 * not run at all in 80 ms); 40 ms of thread CPU spans several kernel ticks,
 * so a registered thread's CPU timer certainly expires at least once. */
static uint64_t min_thread_cpu_ns;

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void spin_ns(uint64_t ns) {
    uint64_t t0 = thread_cpu_ns(), x = 1;
    while (thread_cpu_ns() - t0 < ns)
        for (int i = 0; i < 1000; i++) x = x * 31 + 7;
    __atomic_store_n(&sink, x, __ATOMIC_RELAXED);
}

/* Distinct stacks: recursion of a varying depth. */
__attribute__((noinline)) void stress_recurse(int depth, uint64_t ns) {
    if (depth <= 0) {
        spin_ns(ns);
        return;
    }
    stress_recurse(depth - 1, ns);
    __atomic_fetch_add(&sink, 1, __ATOMIC_RELAXED); /* not a tail call */
}

static void *busy(void *arg) {
    int reg = (int)(intptr_t)arg;
    if (reg) pcp_register_thread();
    unsigned d = (unsigned)(uintptr_t)&d;
    uint64_t t0 = thread_cpu_ns();
    while (!__atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE) || thread_cpu_ns() - t0 < min_thread_cpu_ns) {
        d = d * 1103515245u + 12345u;
        stress_recurse((int)((d >> 16) % 48), 200000);
    }
    return NULL;
}

static void *short_lived(void *arg) {
    int reg = (int)(intptr_t)arg;
    if (reg) pcp_register_thread();
    spin_ns(2000000);
    if (reg && (reg & 2)) pcp_unregister_thread(); /* else the exit destructor does it */
    return NULL;
}

static void check_conservation(const char *what) {
    pcp_stats s;
    int r = pcp_get_stats(&s);
    CHECK(r == 0, "%s: stats", what);
    CHECK(s.offered_weight == s.core_offered_weight, "%s: handler offered %llu != core offered %llu",
          what, (unsigned long long)s.offered_weight, (unsigned long long)s.core_offered_weight);
    CHECK(s.profile_weight + s.core_rejected_weight == s.core_offered_weight,
          "%s: profile %llu + rejected %llu != offered %llu", what,
          (unsigned long long)s.profile_weight, (unsigned long long)s.core_rejected_weight,
          (unsigned long long)s.core_offered_weight);
    CHECK(s.timers_created == s.timers_deleted, "%s: timers created %llu deleted %llu", what,
          (unsigned long long)s.timers_created, (unsigned long long)s.timers_deleted);
    CHECK(s.signals > 0, "%s: no signal at all", what);
}

static int start(const char *engine, int hz, int shards, const char *file) {
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    pcp_options o = PCP_OPTIONS_INIT;
    o.engine = engine;
    o.hz = hz;
    o.shards = shards;
    o.output_path = path;
    int r = pcp_start(&o, err, sizeof err);
    if (r != 0) printf("start: %s\n", err);
    return r;
}

static int stop(void) {
    char err[512];
    int r = pcp_stop(err, sizeof err);
    if (r != 0) printf("stop: %s\n", err);
    return r;
}

static void run_busy(int nthreads, int reg_mask, long ms) {
    pthread_t t[8];
    __atomic_store_n(&stop_flag, 0, __ATOMIC_RELEASE);
    min_thread_cpu_ns = (uint64_t)(ms < 40 ? ms : 40) * 1000000u; /* read after pthread_create */
    for (int i = 0; i < nthreads; i++) pthread_create(&t[i], NULL, busy, (void *)(intptr_t)((reg_mask >> i) & 1));
    struct timespec nap = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&nap, NULL);
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
}

static void case_cycles(void) {
    for (int i = 0; i < 12; i++) {
        int r = start(i % 3 == 2 ? "itimer" : "ctimer", i % 2 ? 10000 : 1000, 0, "cycle.pb.gz");
        CHECK(r == 0, "cycle %d start", i);
        if (r != 0) continue;
        run_busy(3, 0x5, 80);
        CHECK(stop() == 0, "cycle %d stop", i);
        check_conservation("cycle");
    }
}

static void case_churn(void) {
    CHECK(start("ctimer", 5000, 0, "churn.pb.gz") == 0, "churn start");
    pthread_t t[16];
    for (int round = 0; round < 12; round++) {
        for (int i = 0; i < 16; i++) pthread_create(&t[i], NULL, short_lived, (void *)(intptr_t)(i % 4));
        for (int i = 0; i < 16; i++) pthread_join(t[i], NULL);
    }
    CHECK(stop() == 0, "churn stop");
    check_conservation("churn");
}

static void case_slow_writer(void) {
    setenv("PCP_TEST_WRITER_DELAY_MS", "300", 1);
    CHECK(start("ctimer", 10000, 1, "slow.pb.gz") == 0, "slow writer start");
    unsetenv("PCP_TEST_WRITER_DELAY_MS");
    run_busy(4, 0x7, 1200); /* 3 registered, 1 not */
    CHECK(stop() == 0, "slow writer stop");
    check_conservation("slow writer");
    pcp_stats s;
    pcp_get_stats(&s);
    printf("     slow writer: offered %llu, profile %llu, log-full loss %llu, no-handoff loss %llu, contended %llu\n",
           (unsigned long long)s.core_offered_weight, (unsigned long long)s.profile_weight,
           (unsigned long long)s.core_lost_weight[1], (unsigned long long)s.core_lost_weight[2],
           (unsigned long long)s.core_lost_weight[0]);
}

static void case_flush_while_running(void) {
    char path[512], err[512];
    CHECK(start("ctimer", 1000, 0, "flush.pb.gz") == 0, "flush start");
    pthread_t t;
    __atomic_store_n(&stop_flag, 0, __ATOMIC_RELEASE);
    pthread_create(&t, NULL, busy, (void *)(intptr_t)1);
    for (int i = 0; i < 5; i++) {
        struct timespec nap = {0, 60000000};
        nanosleep(&nap, NULL);
        CHECK(pcp_flush(err, sizeof err) == 0, "flush %d: %s", i, err);
        snprintf(path, sizeof path, "%s/flush-%d.collapsed", dir, i);
        CHECK(pcp_write(path, "collapsed", err, sizeof err) == 0, "write while running: %s", err);
    }
    snprintf(path, sizeof path, "%s/flush.pb.gz", dir);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_size > 0, "flush wrote %s", path);
    __atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    CHECK(stop() == 0, "flush stop");
    check_conservation("flush");
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "FAIL watchdog: deadlock or hang\n0 passed, 1 failed\n";
    ssize_t w = write(1, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGALRM, on_alarm);
    alarm(300);
    snprintf(dir, sizeof dir, "/tmp/pcp-stress.%d", (int)getpid());
    mkdir(dir, 0700);
    case_cycles();
    case_churn();
    case_slow_writer();
    case_flush_while_running();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("cleanup failed\n");
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
