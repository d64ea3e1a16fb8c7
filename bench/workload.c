/* workload.c — the end-to-end benchmark's program, with its own ground truth.
 *
 * N threads each run `rounds` rounds (the total is split between them, so
 * the amount of work does not depend on N).  A round calls four leaf
 * functions with a fixed mix of work units, 10:6:3:1 (50/30/15/5 %):
 *
 *     work_a(10 units)  work_b(6)  work_c(3)  work_d(1)
 *
 * The rounds have no fixed period: each round's unit is scaled by a random
 * factor in [0.5, 1.5) and its four calls run in a random order (the mix
 * within the round is kept).  Fixed rounds (--fixed-rounds: 0.75 ms each,
 * always a, b, c, d) sampled by the kernel's 4 ms tick alias: 16 rounds
 * take 3 ticks, so the ticks see a few phases of a round only
 * (bench/RESULTS.md, "Attribution at 8 threads").
 *
 * Ground truth: every call is bracketed by clock_gettime(CLOCK_THREAD_CPUTIME_ID),
 * and the difference is added to that function's truth.  A profiler's signal
 * handler that interrupts work_a runs on the same thread inside the bracket,
 * so its cost is charged to work_a in the truth exactly as the profiler
 * would see it; the syscall of the bracket itself (~0.5 us) is small against
 * a unit (~50 us) by construction (WORK_UNIT_ITERS).
 *
 * One binary serves every profiler, so every row of the comparison runs the
 * same machine code:
 *   - none:        run as is;
 *   - gperftools:  LD_PRELOAD=libprofiler.so CPUPROFILE=...; when
 *                  ProfilerRegisterThread is found (dlsym) each thread calls it,
 *                  which per-thread-timer mode (CPUPROFILE_PER_THREAD_TIMERS=1)
 *                  requires;
 *   - perf:        perf record -- workload ...;
 *   - profcore:    --profcore LIB: the runtime is dlopen()ed, started with
 *                  --engine/--hz/--out before the threads and stopped after
 *                  them; each thread calls pcp_register_thread.  dlopen (not
 *                  linking) keeps this program buildable before the runtime
 *                  is, and keeps the binary identical across rows.
 *
 * Output: one JSON object (--truth FILE, else stdout) with the truth per
 * function, the CPU and wall time of the process, max RSS and, for profcore,
 * the runtime's own counters (pcp_get_stats).  Process CPU is read right
 * after the workers are joined, before any profiler writes its file (gperftools
 * writes at exit, profcore at pcp_stop), so every profiler is charged the
 * same thing: the in-process cost of sampling.
 *
 * Built with frame pointers everywhere (-fno-omit-frame-pointer
 * -mno-omit-leaf-frame-pointer) so the frame-pointer unwinders (gperftools,
 * perf -g, profcore) can all walk it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "profcore_profiler.h"

/* Iterations of the dependent multiply-add chain per unit: about 50 us on a
 * 2-3 GHz core (a 64-bit multiply chain retires one step per ~4 cycles). */
#ifndef WORK_UNIT_ITERS
#define WORK_UNIT_ITERS 30000u
#endif

enum { FN_A, FN_B, FN_C, FN_D, FN_COUNT };
static const char *const fn_names[FN_COUNT] = {"work_a", "work_b", "work_c", "work_d"};
static const unsigned fn_units[FN_COUNT] = {10, 6, 3, 1};

/* Four distinct leaf functions.  Each has its own constants so no compiler
 * folds them into one (gcc's -fipa-icf would, and the profile would then
 * name one function for all four); the empty asm keeps the chain from being
 * computed in closed form. */
#define DEFINE_WORK(NAME, MUL, ADD)                                                \
    __attribute__((noinline)) uint64_t NAME(uint64_t x, uint64_t n) {             \
        for (uint64_t i = 0; i < n; i++) {                                         \
            x = x * (MUL) + (ADD);                                                 \
            __asm__ volatile("" : "+r"(x));                                        \
        }                                                                          \
        return x;                                                                  \
    }
uint64_t work_a(uint64_t x, uint64_t n);
uint64_t work_b(uint64_t x, uint64_t n);
uint64_t work_c(uint64_t x, uint64_t n);
uint64_t work_d(uint64_t x, uint64_t n);
DEFINE_WORK(work_a, 6364136223846793005ull, 1442695040888963407ull)
DEFINE_WORK(work_b, 2862933555777941757ull, 3037000493ull)
DEFINE_WORK(work_c, 3202034522624059733ull, 7ull)
DEFINE_WORK(work_d, 3935559000370003845ull, 2691343689449507681ull)

typedef uint64_t (*work_fn)(uint64_t, uint64_t);
static const work_fn fn_table[FN_COUNT] = {work_a, work_b, work_c, work_d};

/* ---- options ------------------------------------------------------------- */

typedef struct options {
    int threads;
    long rounds; /* total, split between threads */
    int depth;   /* extra frames under each worker before a round */
    int spread;  /* distinct stacks per function (see branch) */
    int fixed;   /* --fixed-rounds: every round the same length and order */
    const char *truth_path;
    const char *profcore_lib;
    const char *engine;
    int hz;
    const char *out_path;
    const char *format;
    int max_depth;
} options;

/* The profcore runtime's entry points, resolved from --profcore LIB. */
typedef struct profcore_api {
    int (*start)(const pcp_options *, char *, size_t);
    int (*stop)(char *, size_t);
    int (*register_thread)(void);
    int (*get_stats)(pcp_stats *);
} profcore_api;

static profcore_api g_pcp;
static int (*g_gperf_register)(void); /* ProfilerRegisterThread, when preloaded */

typedef struct thread_result {
    uint64_t truth_ns[FN_COUNT];
    uint64_t calls[FN_COUNT];
    uint64_t thread_cpu_ns;
    uint64_t sink;
    int registered_gperftools, registered_profcore;
} thread_result;

typedef struct worker {
    pthread_t tid;
    long rounds;
    int depth, spread, levels; /* levels = ceil(log2(spread)) */
    int fixed;
    uint64_t rng; /* xorshift state of this thread's round lengths and orders */
    thread_result r;
} worker;

static uint64_t clock_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Peak resident memory of this program (VmHWM).  Not getrusage's
 * ru_maxrss: that one survives exec and so reports the parent's peak when
 * a big parent (the Python driver) forked us. */
static long peak_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    if (f != NULL) fclose(f);
    return kb;
}

static uint64_t timeval_ns(struct timeval tv) {
    return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

/* One round, with the truth bracket around every call. */
static uint64_t next_rand(worker *w) {
    w->rng ^= w->rng << 13;
    w->rng ^= w->rng >> 7;
    w->rng ^= w->rng << 17;
    return w->rng;
}

static void run_round(worker *w) {
    uint64_t x = w->r.sink;
    int order[FN_COUNT] = {FN_A, FN_B, FN_C, FN_D};
    uint64_t unit = WORK_UNIT_ITERS;
    if (!w->fixed) { /* a scale in [0.5, 1.5) and a random order (Fisher-Yates) */
        unit = WORK_UNIT_ITERS / 2 + next_rand(w) % WORK_UNIT_ITERS;
        for (int i = FN_COUNT - 1; i > 0; i--) {
            int j = (int)(next_rand(w) % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    for (int k = 0; k < FN_COUNT; k++) {
        int f = order[k];
        uint64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        x = fn_table[f](x, (uint64_t)fn_units[f] * unit);
        uint64_t t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        w->r.truth_ns[f] += t1 - t0;
        w->r.calls[f]++;
    }
    w->r.sink = x;
}

/* --spread K: K distinct stacks per function.  Round r walks a path of
 * ceil(log2 K) calls through two distinct functions chosen by the bits of
 * r mod K, so the stacks differ near the leaf (within any profiler's depth
 * cap) and overflow the profiler's table, which makes its writer work. */
__attribute__((noinline)) int branch_left(worker *w, int levels, unsigned bits);
__attribute__((noinline)) int branch_right(worker *w, int levels, unsigned bits);
static inline int branch(worker *w, int levels, unsigned bits) {
    if (levels <= 0) {
        run_round(w);
        return 0;
    }
    return (bits & 1u) ? branch_right(w, levels - 1, bits >> 1) : branch_left(w, levels - 1, bits >> 1);
}
/* The work after each call keeps it from becoming a tail call (which would
 * leave no frame). */
__attribute__((noinline)) int branch_left(worker *w, int levels, unsigned bits) {
    int r = branch(w, levels, bits);
    __asm__ volatile("" : "+r"(r));
    return r + 1;
}
__attribute__((noinline)) int branch_right(worker *w, int levels, unsigned bits) {
    int r = branch(w, levels, bits);
    __asm__ volatile("" : "+r"(r));
    return r + 2;
}

/* `depth` real frames between the thread's start and a round, so the
 * handler's cost can be measured by stack depth. */
__attribute__((noinline)) int descend(worker *w, int depth, unsigned bits);
__attribute__((noinline)) int descend(worker *w, int depth, unsigned bits) {
    if (depth <= 0) return branch(w, w->levels, bits);
    int r = descend(w, depth - 1, bits);
    __asm__ volatile("" : "+r"(r));
    return r + 1;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    if (g_gperf_register != NULL) {
        g_gperf_register();
        w->r.registered_gperftools = 1;
    }
    if (g_pcp.register_thread != NULL && g_pcp.register_thread() == PCP_OK)
        w->r.registered_profcore = 1;
    uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    w->r.sink = (uint64_t)(uintptr_t)w;
    for (long r = 0; r < w->rounds; r++) descend(w, w->depth, (unsigned)(r % w->spread));
    w->r.thread_cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    return NULL;
}

static void usage(void) {
    fprintf(stderr,
            "usage: workload [--threads N] [--rounds R] [--depth D] [--spread K] [--truth FILE]\n"
            "                [--profcore LIB --engine ctimer|itimer|perf --hz HZ --out FILE\n"
            "                 [--format pprof|legacy|collapsed] [--max-depth N]]\n"
            "                [--fixed-rounds]\n"
            "A round is %u+%u+%u+%u units of %u iterations on average (work_a..work_d), the\n"
            "unit scaled by a random 0.5..1.5 and the calls in random order per round unless\n"
            "--fixed-rounds; R rounds are split between the N threads.\n",
            fn_units[0], fn_units[1], fn_units[2], fn_units[3], WORK_UNIT_ITERS);
}

static long parse_long(const char *s, const char *what, long lo, long hi) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "workload: bad %s '%s' (expected %ld..%ld)\n", what, s, lo, hi);
        exit(2);
    }
    return v;
}

static options parse_options(int argc, char **argv) {
    options o = {1, 1000, 0, 1, 0, NULL, NULL, "ctimer", 100, NULL, "pprof", 64};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0) {
            usage();
            exit(0);
        }
        if (strcmp(a, "--fixed-rounds") == 0) { /* the only option without a value */
            o.fixed = 1;
            continue;
        }
        if (v == NULL) {
            usage();
            exit(2);
        }
        i++;
        if (strcmp(a, "--threads") == 0) o.threads = (int)parse_long(v, "threads", 1, 1024);
        else if (strcmp(a, "--rounds") == 0) o.rounds = parse_long(v, "rounds", 1, 1L << 40);
        else if (strcmp(a, "--depth") == 0) o.depth = (int)parse_long(v, "depth", 0, 10000);
        else if (strcmp(a, "--spread") == 0) o.spread = (int)parse_long(v, "spread", 1, 100000);
        else if (strcmp(a, "--truth") == 0) o.truth_path = v;
        else if (strcmp(a, "--profcore") == 0) o.profcore_lib = v;
        else if (strcmp(a, "--engine") == 0) o.engine = v;
        else if (strcmp(a, "--hz") == 0) o.hz = (int)parse_long(v, "hz", 1, 1000000);
        else if (strcmp(a, "--out") == 0) o.out_path = v;
        else if (strcmp(a, "--format") == 0) o.format = v;
        else if (strcmp(a, "--max-depth") == 0) o.max_depth = (int)parse_long(v, "max-depth", 2, 100000);
        else {
            usage();
            exit(2);
        }
    }
    return o;
}

/* dlopen the runtime and resolve the four calls the benchmark makes. */
static int load_profcore(const char *lib) {
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "workload: cannot load %s: %s\n", lib, dlerror());
        return -1;
    }
    *(void **)&g_pcp.start = dlsym(h, "pcp_start");
    *(void **)&g_pcp.stop = dlsym(h, "pcp_stop");
    *(void **)&g_pcp.register_thread = dlsym(h, "pcp_register_thread");
    *(void **)&g_pcp.get_stats = dlsym(h, "pcp_get_stats");
    if (!g_pcp.start || !g_pcp.stop || !g_pcp.register_thread || !g_pcp.get_stats) {
        fprintf(stderr, "workload: %s lacks pcp_start/pcp_stop/pcp_register_thread/pcp_get_stats\n", lib);
        return -1;
    }
    return 0;
}

static void write_stats(FILE *f, const pcp_stats *s) {
    fprintf(f, ",\n  \"profcore\": {\"signals\": %" PRIu64 ", \"signals_foreign\": %" PRIu64
               ", \"offered_weight\": %" PRIu64 ", \"offered_samples\": %" PRIu64
               ", \"unregistered_samples\": %" PRIu64 ", \"critical_weight\": %" PRIu64
               ", \"unwind_failures\": %" PRIu64 ", \"handler_ns_total\": %" PRIu64
               ", \"handler_ns_max\": %" PRIu64 ", \"core_offered_weight\": %" PRIu64
               ", \"core_recorded_weight\": %" PRIu64 ", \"core_rejected_weight\": %" PRIu64
               ", \"core_lost_weight\": [",
            s->signals, s->signals_foreign, s->offered_weight, s->offered_samples,
            s->unregistered_samples, s->critical_weight, s->unwind_failures, s->handler_ns_total,
            s->handler_ns_max, s->core_offered_weight, s->core_recorded_weight,
            s->core_rejected_weight);
    for (int i = 0; i < 8; i++) fprintf(f, "%s%" PRIu64, i ? ", " : "", s->core_lost_weight[i]);
    fprintf(f, "], \"profile_weight\": %" PRIu64 ", \"profile_stacks\": %" PRIu64
               ", \"threads_registered\": %" PRIu64 ", \"threads_discovered\": %" PRIu64 "}",
            s->profile_weight, s->profile_stacks, s->threads_registered, s->threads_discovered);
}

typedef struct run_totals {
    uint64_t wall_ns, process_cpu_ns, process_cpu_clock_ns, stop_ns;
    long maxrss_kb;
} run_totals;

static void write_truth(FILE *f, const options *o, const worker *ws, const run_totals *t,
                        const pcp_stats *stats) {
    uint64_t truth[FN_COUNT] = {0}, calls[FN_COUNT] = {0}, threads_cpu = 0;
    int reg_gperf = 0, reg_pcp = 0;
    for (int i = 0; i < o->threads; i++) {
        for (int f = 0; f < FN_COUNT; f++) {
            truth[f] += ws[i].r.truth_ns[f];
            calls[f] += ws[i].r.calls[f];
        }
        threads_cpu += ws[i].r.thread_cpu_ns;
        reg_gperf += ws[i].r.registered_gperftools;
        reg_pcp += ws[i].r.registered_profcore;
    }
    fprintf(f, "{\n  \"threads\": %d, \"rounds\": %ld, \"depth\": %d, \"spread\": %d, \"unit_iters\": %u,\n",
            o->threads, o->rounds, o->depth, o->spread, WORK_UNIT_ITERS);
    fprintf(f, "  \"profiler\": \"%s\", \"engine\": \"%s\", \"hz\": %d,\n",
            o->profcore_lib ? "profcore" : "external", o->profcore_lib ? o->engine : "",
            o->profcore_lib ? o->hz : 0);
    fprintf(f, "  \"truth_ns\": {");
    for (int f2 = 0; f2 < FN_COUNT; f2++)
        fprintf(f, "%s\"%s\": %" PRIu64, f2 ? ", " : "", fn_names[f2], truth[f2]);
    fprintf(f, "},\n  \"calls\": {");
    for (int f2 = 0; f2 < FN_COUNT; f2++)
        fprintf(f, "%s\"%s\": %" PRIu64, f2 ? ", " : "", fn_names[f2], calls[f2]);
    fprintf(f, "},\n  \"threads_cpu_ns\": %" PRIu64 ", \"process_cpu_ns\": %" PRIu64
               ", \"process_cpu_clock_ns\": %" PRIu64 ",\n  \"wall_ns\": %" PRIu64
               ", \"stop_ns\": %" PRIu64 ", \"maxrss_kb\": %ld,\n"
               "  \"registered_gperftools\": %d, \"registered_profcore\": %d",
            threads_cpu, t->process_cpu_ns, t->process_cpu_clock_ns, t->wall_ns, t->stop_ns,
            t->maxrss_kb, reg_gperf, reg_pcp);
    if (stats != NULL) write_stats(f, stats);
    fprintf(f, "\n}\n");
}

int main(int argc, char **argv) {
    options o = parse_options(argc, argv);
    *(void **)&g_gperf_register = dlsym(RTLD_DEFAULT, "ProfilerRegisterThread");
    if (o.profcore_lib != NULL) {
        if (load_profcore(o.profcore_lib) != 0) return 1;
        pcp_options po = PCP_OPTIONS_INIT;
        po.engine = o.engine;
        po.hz = o.hz;
        po.output_path = o.out_path;
        po.format = o.format;
        po.max_depth = o.max_depth;
        char err[256] = "";
        int rc = g_pcp.start(&po, err, sizeof err);
        if (rc != PCP_OK) {
            fprintf(stderr, "workload: pcp_start failed (%d): %s\n", rc, err);
            return 1;
        }
    }
    worker *ws = calloc((size_t)o.threads, sizeof *ws);
    if (ws == NULL) return 1;
    uint64_t wall0 = clock_ns(CLOCK_MONOTONIC);
    for (int i = 0; i < o.threads; i++) {
        ws[i].rounds = o.rounds / o.threads + (i < o.rounds % o.threads ? 1 : 0);
        ws[i].depth = o.depth;
        ws[i].spread = o.spread;
        ws[i].fixed = o.fixed;
        ws[i].rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
        while ((1 << ws[i].levels) < o.spread) ws[i].levels++;
        int r = pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]);
        if (r != 0) {
            fprintf(stderr, "workload: pthread_create: %s\n", strerror(r));
            return 1;
        }
    }
    for (int i = 0; i < o.threads; i++) pthread_join(ws[i].tid, NULL);
    run_totals t = {0};
    t.wall_ns = clock_ns(CLOCK_MONOTONIC) - wall0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    t.process_cpu_ns = timeval_ns(ru.ru_utime) + timeval_ns(ru.ru_stime);
    t.process_cpu_clock_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);

    pcp_stats stats;
    bool have_stats = false;
    if (o.profcore_lib != NULL) {
        char err[256] = "";
        uint64_t s0 = clock_ns(CLOCK_MONOTONIC);
        int rc = g_pcp.stop(err, sizeof err);
        t.stop_ns = clock_ns(CLOCK_MONOTONIC) - s0;
        if (rc != PCP_OK) fprintf(stderr, "workload: pcp_stop failed (%d): %s\n", rc, err);
        have_stats = g_pcp.get_stats(&stats) == PCP_OK;
        if (rc != PCP_OK) return 1;
    }
    t.maxrss_kb = peak_rss_kb();

    FILE *f = o.truth_path ? fopen(o.truth_path, "w") : stdout;
    if (f == NULL) {
        fprintf(stderr, "workload: cannot write %s: %s\n", o.truth_path, strerror(errno));
        return 1;
    }
    write_truth(f, &o, ws, &t, have_stats ? &stats : NULL);
    if (f != stdout) fclose(f);
    free(ws);
    return 0;
}
