/* accuracy_workload.c — a known CPU split for the accuracy matrix.
 *
 * Usage: accuracy_workload ENGINE HZ THREADS CPU_SECONDS OUT.pb.gz
 * THREADS registered threads each burn CPU_SECONDS/THREADS of CPU.  With
 * one thread it alternates acc_hot_major (about 3/4) and acc_hot_minor
 * (about 1/4) in randomized lengths (no fixed period to alias with the
 * kernel tick).  With several, each thread runs ONE function (one thread in
 * four runs acc_hot_minor), so each function's truth is exactly its
 * threads' CPU clocks: a per-iteration price calibrated on one thread does
 * not hold when threads share the two (SMT) CPUs, and the split it gave
 * was off by up to 5 points at 4 threads.
 * Prints the ground truth measured in-process with the thread CPU clocks
 * (see worker() for how the split is measured):
 *   truth <function> <ns>      CPU inside each hot function
 *   truth all_threads <ns>     CPU of every sampled thread during the run
 *   stat <name> <value>        the profiler's own counters
 * tests/profiler/run.sh compares them with `go tool pprof` on the file.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "profcore_profiler.h"

static volatile uint64_t acc_sink;
static uint64_t per_thread_ns;
static uint64_t truth_major, truth_minor, truth_threads;

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

__attribute__((noinline)) void acc_hot_major(uint64_t n) {
    uint64_t x = n;
    for (uint64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        x ^= x >> 17;
    }
    acc_sink = x;
}

__attribute__((noinline)) void acc_hot_minor(uint64_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; i++) {
        h ^= i & 0xff;
        h *= 0x100000001b3ull;
    }
    acc_sink = h;
}

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* CPU nanoseconds per iteration of each function, measured in main before
 * profiling with the thread's CPU clock. */
static double cost_major, cost_minor;

static double calibrate(void (*fn)(uint64_t)) {
    fn(1000000); /* warm up */
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 3; i++) {
        uint64_t t0 = thread_cpu_ns();
        fn(8000000);
        uint64_t d = thread_cpu_ns() - t0;
        if (d < best) best = d;
    }
    return (double)best / 8e6;
}

/* The clock is read only every 16 alternations (about 0.2 s): a system
 * call between the two functions is a preemption point, and under CPU
 * contention the tick-checked CPU timers then under-sample the code right
 * after it (measured here: with a clock read around every call, the second
 * function lost up to half its samples).  So the split is counted in
 * iterations, priced by the calibrated cost, and scaled to the thread's
 * measured CPU time. */
static int nthreads_running;

/* Several threads: thread i runs acc_hot_minor if i % 4 == 0, else
 * acc_hot_major, and its whole CPU time is that function's truth. */
static void *single_function_worker(uintptr_t index) {
    if (pcp_register_thread() != 0) fprintf(stderr, "register failed\n");
    int minor = index % 4 == 0;
    uint64_t start = thread_cpu_ns();
    while (thread_cpu_ns() - start < per_thread_ns) {
        if (minor)
            acc_hot_minor(4000000);
        else
            acc_hot_major(4000000);
    }
    uint64_t total = thread_cpu_ns() - start;
    pcp_unregister_thread();
    __atomic_fetch_add(minor ? &truth_minor : &truth_major, total, __ATOMIC_RELAXED);
    __atomic_fetch_add(&truth_threads, total, __ATOMIC_RELAXED);
    return NULL;
}

static void *worker(void *arg) {
    if (nthreads_running > 1) return single_function_worker((uintptr_t)arg);
    uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)arg;
    if (pcp_register_thread() != 0) fprintf(stderr, "register failed\n");
    uint64_t start = thread_cpu_ns(), it_major = 0, it_minor = 0;
    while (thread_cpu_ns() - start < per_thread_ns) {
        for (int k = 0; k < 16; k++) {
            uint64_t n = 200000u + next_rand(&rng) % 600000u; /* ~0.3..1 ms */
            acc_hot_major(2 * n);
            acc_hot_minor(n);
            it_major += 2 * n;
            it_minor += n;
        }
    }
    uint64_t total = thread_cpu_ns() - start;
    pcp_unregister_thread(); /* the session goes on: its timer must go away cleanly */
    double major = (double)it_major * cost_major, minor = (double)it_minor * cost_minor;
    double scale = (double)total / (major + minor);
    __atomic_fetch_add(&truth_major, (uint64_t)(major * scale), __ATOMIC_RELAXED);
    __atomic_fetch_add(&truth_minor, (uint64_t)(minor * scale), __ATOMIC_RELAXED);
    __atomic_fetch_add(&truth_threads, total, __ATOMIC_RELAXED);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s ENGINE HZ THREADS CPU_SECONDS OUT\n", argv[0]);
        return 2;
    }
    int nthreads = atoi(argv[3]);
    if (nthreads < 1 || nthreads > 64) return 2;
    per_thread_ns = (uint64_t)(atof(argv[4]) * 1e9) / (uint64_t)nthreads;
    nthreads_running = nthreads;
    pcp_options o = PCP_OPTIONS_INIT;
    o.engine = argv[1];
    o.hz = atoi(argv[2]);
    o.output_path = argv[5];
    char err[512];
    cost_major = calibrate(acc_hot_major);
    cost_minor = calibrate(acc_hot_minor);
    uint64_t main_start = thread_cpu_ns();
    if (pcp_start(&o, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    pthread_t t[64];
    for (int i = 0; i < nthreads; i++) pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
    truth_threads += thread_cpu_ns() - main_start;
    if (pcp_stop(err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    pcp_stats s;
    pcp_get_stats(&s);
    printf("truth\tacc_hot_major\t%llu\n", (unsigned long long)truth_major);
    printf("truth\tacc_hot_minor\t%llu\n", (unsigned long long)truth_minor);
    printf("truth\tall_threads\t%llu\n", (unsigned long long)truth_threads);
    printf("stat\tprofile_weight\t%llu\n", (unsigned long long)s.profile_weight);
    printf("stat\tsignals\t%llu\n", (unsigned long long)s.signals);
    printf("stat\thandler_ns_mean\t%llu\n",
           (unsigned long long)(s.offered_samples ? s.handler_ns_total / s.offered_samples : 0));
    printf("stat\tconservation\t%s\n",
           s.offered_weight == s.core_offered_weight &&
                   s.profile_weight + s.core_rejected_weight == s.core_offered_weight
               ? "ok"
               : "BROKEN");
    return 0;
}
