/* demo.c — profiles itself with profcore and shows every part of it:
 *
 *   worker-a   registered, label "alpha": demo_hot_mix (70 %) and
 *              demo_hot_hash (30 %), plus demo_critical_update inside a
 *              critical section (reported under "[lost: critical section]");
 *   worker-b   registered, label "beta": demo_hot_sort;
 *   stranger   created behind the profiler's back (never registered): found
 *              in /proc/self/task, sampled on the unregistered path, tagged;
 *   interp     registered, label "interp": a toy interpreter whose script
 *              functions exist only in its own shadow stack; the traceback
 *              hook puts them into the samples, above the native dispatch.
 *
 * Usage: demo [OUT_PREFIX [HZ [ENGINE]]]   (default out/demo 1000 ctimer)
 * Writes OUT_PREFIX.pb.gz (pprof), .prof (gperftools legacy), .collapsed,
 * prints the summary, and "truth" lines: CPU measured in-process by each
 * thread's CPU clock around each hot function (the tests compare them).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "profcore_profiler.h"

#define DEMO_CPU_NS_PER_THREAD 1200000000ull /* each worker burns 1.2 CPU-s */

static uint64_t thread_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- hot functions: pure loops, no calls, so their flat time is exact ---- */
static volatile uint64_t demo_sink;

__attribute__((noinline)) void demo_hot_mix(uint64_t n) {
    uint64_t x = n;
    for (uint64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        x ^= x >> 17;
    }
    demo_sink = x;
}

__attribute__((noinline)) void demo_hot_hash(uint64_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; i++) {
        h ^= i & 0xff;
        h *= 0x100000001b3ull;
    }
    demo_sink = h;
}

__attribute__((noinline)) void demo_hot_sort(uint64_t n) {
    uint32_t v[64];
    for (uint64_t r = 0; r < n / 2048 + 1; r++) {
        for (int i = 0; i < 64; i++) v[i] = (uint32_t)((r * 2654435761u + (uint64_t)i * 40503u) & 0xffff);
        for (int i = 1; i < 64; i++) { /* insertion sort */
            uint32_t k = v[i];
            int j = i - 1;
            while (j >= 0 && v[j] > k) {
                v[j + 1] = v[j];
                j--;
            }
            v[j + 1] = k;
        }
        demo_sink = v[r & 63];
    }
}

__attribute__((noinline)) void demo_critical_update(uint64_t n) {
    uint64_t x = 1;
    for (uint64_t i = 0; i < n; i++) x = (x << 1 | x >> 63) + i;
    demo_sink = x;
}

__attribute__((noinline)) void demo_stranger_spin(uint64_t n) {
    uint64_t x = 7;
    for (uint64_t i = 0; i < n; i++) x = x * 31 + (x >> 7);
    demo_sink = x;
}

/* ---- per-function ground truth ---- */
enum { T_MIX, T_HASH, T_SORT, T_CRIT, T_STRANGER, T_SCRIPT_OUTER, T_SCRIPT_INNER, T_THREADS, T_N };
static const char *const truth_names[T_N] = {
    "demo_hot_mix",        "demo_hot_hash",        "demo_hot_sort",
    "[lost: critical section]", "demo_stranger_spin", "demo_script_outer",
    "demo_script_inner",   "all_threads"};
static uint64_t truth_ns[T_N];

static void truth_add(int which, uint64_t ns) { __atomic_fetch_add(&truth_ns[which], ns, __ATOMIC_RELAXED); }

#define TIMED(which, call)                                                                         \
    do {                                                                                           \
        uint64_t t0_ = thread_cpu_ns();                                                            \
        call;                                                                                      \
        truth_add(which, thread_cpu_ns() - t0_);                                                   \
    } while (0)

/* About 5 ms of work, randomized.  Rounds of a fixed length would alias
 * with the kernel tick that drives CPU timers (4 ms here).  And the ground
 * truth is measured with a system call around each call: system calls are
 * preemption points, and under CPU contention the tick-checked CPU timers
 * then sample code right after them less often (measured on this kernel:
 * a 0.7 ms alternation lost half its samples in the second function), so
 * calls are kept long compared with the tick. */
static __thread uint64_t chunk_rng __attribute__((tls_model("initial-exec")));
static uint64_t chunk(void) {
    if (chunk_rng == 0) chunk_rng = (uint64_t)(uintptr_t)&chunk_rng | 1u;
    chunk_rng ^= chunk_rng << 13;
    chunk_rng ^= chunk_rng >> 7;
    chunk_rng ^= chunk_rng << 17;
    return 2000000u + chunk_rng % 4000000u;
}
#define CHUNK chunk()

static void *worker_a(void *arg) {
    (void)arg;
    pcp_register_thread();
    pcp_set_label("alpha");
    uint64_t start = thread_cpu_ns();
    for (unsigned round = 0; thread_cpu_ns() - start < DEMO_CPU_NS_PER_THREAD; round++) {
        TIMED(T_MIX, demo_hot_mix(CHUNK * 6));
        TIMED(T_HASH, demo_hot_hash(CHUNK * 3));
        if (round % 2 == 0) {
            pcp_critical_enter();
            TIMED(T_CRIT, demo_critical_update(CHUNK * 2));
            pcp_critical_leave();
        }
    }
    truth_add(T_THREADS, thread_cpu_ns() - start);
    return NULL;
}

static void *worker_b(void *arg) {
    (void)arg;
    pcp_register_thread();
    pcp_set_label("beta");
    uint64_t start = thread_cpu_ns();
    while (thread_cpu_ns() - start < DEMO_CPU_NS_PER_THREAD) TIMED(T_SORT, demo_hot_sort(CHUNK));
    truth_add(T_THREADS, thread_cpu_ns() - start);
    return NULL;
}

/* Never registered: the profiler finds it in /proc/self/task within 100 ms.
 * It sleeps 250 ms first so that all its CPU time is sampled. */
static void *stranger(void *arg) {
    (void)arg;
    struct timespec nap = {0, 250000000};
    nanosleep(&nap, NULL);
    uint64_t start = thread_cpu_ns();
    while (thread_cpu_ns() - start < DEMO_CPU_NS_PER_THREAD / 2)
        TIMED(T_STRANGER, demo_stranger_spin(CHUNK));
    truth_add(T_THREADS, thread_cpu_ns() - start);
    return NULL;
}

/* ---- the toy interpreter and its traceback hook ----
 * Script functions are bytecode: the native code only runs the dispatch
 * loop.  Each script function has a marker function whose address stands
 * for it in samples (so any symbolizer names it); the hook reports
 * marker + 1 (an address inside it, also after the output side's
 * "return address - 1" adjustment). */
__attribute__((noinline)) void demo_script_outer(void) { demo_sink = 1; }
__attribute__((noinline)) void demo_script_inner(void) { demo_sink = 2; }

#define SHADOW_MAX 8
static __thread uintptr_t shadow[SHADOW_MAX] __attribute__((tls_model("initial-exec")));
static __thread uint32_t shadow_depth __attribute__((tls_model("initial-exec")));
/* Set only while the dispatch loop runs bytecode.  Like a real interpreter,
 * the hook reports script frames only then: a sample that lands in the
 * native glue around the loop (pushing frames, reading the clock) is not
 * inside any script function, and its native frames say so. */
static __thread volatile int in_dispatch __attribute__((tls_model("initial-exec")));

static void shadow_push(void (*fn)(void)) {
    shadow[shadow_depth] = (uintptr_t)fn + 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    shadow_depth++;
}
static void shadow_pop(void) {
    shadow_depth--;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/* Async-signal-safe: reads only this thread's shadow stack. */
static int demo_traceback(pcp_traceback_args *a, void *user) {
    (void)user;
    uint32_t d = in_dispatch ? shadow_depth : 0;
    uint32_t n = 0;
    while (d > 0 && n < a->max_frames) a->frames[n++] = shadow[--d]; /* innermost first */
    a->nframes = n;
    return 0;
}

/* The "bytecode" body of every script function: native work in the
 * dispatch loop, attributed to whichever script function is on top. */
__attribute__((noinline)) void demo_interp_dispatch(uint64_t n) {
    uint64_t acc = 3;
    in_dispatch = 1; /* volatile: the loop below stays between the two stores */
    for (uint64_t i = 0; i < n; i++) acc = acc * 2862933555777941757ull + 3037000493ull;
    demo_sink = acc;
    in_dispatch = 0;
}

__attribute__((noinline)) void demo_interp_run(void) {
    shadow_push(demo_script_outer);
    TIMED(T_SCRIPT_OUTER, demo_interp_dispatch(CHUNK * 2));
    shadow_push(demo_script_inner);
    TIMED(T_SCRIPT_INNER, demo_interp_dispatch(CHUNK * 3));
    shadow_pop();
    shadow_pop();
}

static void *interp(void *arg) {
    (void)arg;
    pcp_register_thread();
    pcp_set_label("interp");
    uint64_t start = thread_cpu_ns();
    while (thread_cpu_ns() - start < DEMO_CPU_NS_PER_THREAD / 2) demo_interp_run();
    truth_add(T_THREADS, thread_cpu_ns() - start);
    return NULL;
}

static int write_extra(const char *prefix, const char *ext, const char *format) {
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s%s", prefix, ext);
    if (pcp_write(path, format, err, sizeof err) != 0) {
        fprintf(stderr, "demo: %s\n", err);
        return 1;
    }
    printf("wrote %s (%s)\n", path, format);
    return 0;
}

int main(int argc, char **argv) {
    const char *prefix = argc > 1 ? argv[1] : "out/demo";
    char pb[4096], err[512];
    snprintf(pb, sizeof pb, "%s.pb.gz", prefix);
    pcp_options o = PCP_OPTIONS_INIT;
    o.hz = argc > 2 ? atoi(argv[2]) : 1000;
    o.engine = argc > 3 ? argv[3] : "ctimer";
    o.output_path = pb;
    pcp_set_traceback_hook(demo_traceback, NULL);
    uint64_t main_start = thread_cpu_ns();
    if (pcp_start(&o, err, sizeof err) != 0) {
        fprintf(stderr, "demo: %s\n", err);
        return 1;
    }
    pthread_t t[4];
    void *(*fns[4])(void *) = {worker_a, worker_b, stranger, interp};
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, fns[i], NULL);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    truth_add(T_THREADS, thread_cpu_ns() - main_start);
    if (pcp_stop(err, sizeof err) != 0) {
        fprintf(stderr, "demo: %s\n", err);
        return 1;
    }
    printf("wrote %s (pprof)\n", pb);
    int bad = write_extra(prefix, ".prof", "legacy") + write_extra(prefix, ".collapsed", "collapsed");
    printf("\n");
    pcp_print_summary(stdout, 10);

    pcp_stats s;
    pcp_get_stats(&s);
    /* Compare with the flat% column above: the profile should agree with
     * what each thread's own CPU clock measured, within a point or so. */
    printf("\nground truth, measured in-process (each thread's CPU clock around each call):\n");
    printf("  %-28s %9s %8s\n", "function", "CPU s", "share");
    for (int i = 0; i < T_THREADS; i++)
        printf("  %-28s %9.3f %7.2f%%\n", truth_names[i], (double)truth_ns[i] / 1e9,
               truth_ns[T_THREADS] ? 100.0 * (double)truth_ns[i] / (double)truth_ns[T_THREADS] : 0.0);
    printf("  %-28s %9.3f\n", "all threads", (double)truth_ns[T_THREADS] / 1e9);
    printf("\nmachine-readable (tests/profiler/run.sh reads these):\n");
    for (int i = 0; i < T_N; i++) printf("truth\t%s\t%llu\n", truth_names[i], (unsigned long long)truth_ns[i]);
    printf("stat\tcritical_weight\t%llu\n", (unsigned long long)s.critical_weight);
    printf("stat\tunregistered_samples\t%llu\n", (unsigned long long)s.unregistered_samples);
    printf("stat\tperiod_ns\t%llu\n", (unsigned long long)(1000000000ull / (uint64_t)o.hz));
    printf("stat\tconservation\t%s\n",
           s.offered_weight == s.core_offered_weight &&
                   s.profile_weight + s.core_rejected_weight == s.core_offered_weight
               ? "ok"
               : "BROKEN");
    return bad;
}
