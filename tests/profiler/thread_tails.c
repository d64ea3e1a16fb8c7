/* thread_tails.c — is every CPU-second of short threads in the profile?
 *
 * Usage: thread_tails ENGINE HZ THREADS MS [table]
 *        thread_tails ENGINE HZ churn COUNT
 *        thread_tails ENGINE HZ two-sessions
 *
 * THREADS registered threads run at once; each burns MS ms of its own CPU
 * (CLOCK_THREAD_CPUTIME_ID is the truth) and exits normally, so its entry
 * is unregistered by the thread-exit path.  The main thread then stops the
 * session.  White-box: the test reads the runtime's aggregate
 * (internal.h, on purpose) to sum the profile's weight per tid, split into
 * sampled stacks and the `[unsampled: thread tail]` frame.
 *
 * "table" prints one line per thread (measured, sampled, tail, missing in
 * ms) and the totals, and checks nothing: the experiment behind
 * bench/RESULTS.md, "Thread tails".  Without it the checks run:
 *   - profile total (sampled + tail) of the workers within 1 % (perf: 3 %,
 *     its counter also counts its own interrupts) of their
 *     measured CPU;
 *   - each worker's total within one period + 1 % of its measured CPU;
 *   - the sampled part alone never above the truth (how far below depends
 *     on the machine's load: printed, not checked);
 *   - the tail frame present whenever threads are short against a period;
 *   - conservation: handler offered weight == core offered weight, and the
 *     core's offered = recorded + lost + rejected;
 *   - Go's rule (TestCPUProfileMultithreadMagnitude): the profile's CPU
 *     within 10 % of getrusage's.
 *
 * "churn": COUNT threads, 4 at a time, each burning 0.2 ms and exiting (a
 * thread-per-request server): conservation exact, every timer created
 * deleted, the workers' profile within 1 % + one period per thread of
 * their CPU; prints the cost of a thread's create + exit, unprofiled and
 * profiled (numbers, not checked).
 *
 * "two-sessions": a thread registers as it begins inside session 1, burns
 * 100 ms, and keeps running into session 2, where it burns 50 ms and
 * exits: session 2's profile of it is its 50 ms (one period + 1 %), not
 * its whole CPU clock (a thread counted from its start only once).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "internal.h"
#include "profile.h"
#include "vocab.h"

#define MAX_THREADS 256

typedef struct worker {
    pthread_t th;
    pid_t tid;
    uint64_t measured_ns;
    uint64_t sampled_w, tail_w;
} worker;

static worker workers[MAX_THREADS];
static uint64_t burn_ns;
static __thread volatile uint64_t sink; /* per thread: the workers share nothing */
/* Every worker starts burning at once, after all have registered: the
 * threads overlap whatever the machine's speed. */
static pthread_barrier_t start_line;

static uint64_t cpu_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Burns CPU in steps of irregular length (no fixed period to alias with
 * the tick) until the thread's own clock says burn_ns. */
static void *work(void *arg) {
    worker *w = (worker *)arg;
    if (pcp_register_thread() != PCP_OK) fprintf(stderr, "register failed\n");
    w->tid = (pid_t)syscall(SYS_gettid);
    pthread_barrier_wait(&start_line);
    uint64_t t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    uint64_t x = (uint64_t)w->tid * 0x9e3779b97f4a7c15ull + 1;
    while (cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0 < burn_ns) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t n = 2000 + (x & 4095);
        for (uint64_t i = 0; i < n; i++) x = x * 6364136223846793005ull + 1;
        sink = x;
    }
    w->measured_ns = cpu_ns(CLOCK_THREAD_CPUTIME_ID); /* since the thread began */
    return NULL;
}

static worker *worker_of(pid_t tid, int n) {
    for (int i = 0; i < n; i++)
        if (workers[i].tid == tid) return &workers[i];
    return NULL;
}

static bool is_tail(const prt_agg *a, const prt_agg_entry *e) {
    return e->depth == 1 && a->frames[e->frames_at] == PCPROF_FRAME_UNSAMPLED_TAIL;
}

/* Splits the stopped session's aggregate per worker; returns the weight
 * of every other thread (main). */
static uint64_t split_profile(int n, uint64_t *tail_total) {
    const prt_agg *a = &prt_g_session.agg;
    uint64_t other = 0;
    *tail_total = 0;
    for (size_t i = 0; i < a->n; i++) {
        const prt_agg_entry *e = &a->entries[i];
        worker *w = worker_of((pid_t)PCPROF_TAG_TID(e->tag), n);
        bool tail = is_tail(a, e);
        if (tail) *tail_total += e->weight;
        if (w == NULL) other += e->weight;
        else if (tail) w->tail_w += e->weight;
        else w->sampled_w += e->weight;
    }
    return other;
}

static double ms(uint64_t ns) { return (double)ns / 1e6; }

static void check_conservation(const pcp_stats *st) {
    CHECK(st->offered_weight == st->core_offered_weight, "handler offered %llu == core offered %llu",
          (unsigned long long)st->offered_weight, (unsigned long long)st->core_offered_weight);
    uint64_t lost = 0;
    for (int r = 0; r < 8; r++) lost += st->core_lost_weight[r];
    CHECK(st->core_offered_weight == st->core_recorded_weight + lost + st->core_rejected_weight,
          "core offered %llu == recorded %llu + lost %llu + rejected %llu",
          (unsigned long long)st->core_offered_weight, (unsigned long long)st->core_recorded_weight,
          (unsigned long long)lost, (unsigned long long)st->core_rejected_weight);
}

/* itimer: one process-wide timer, each signal weighed by the process CPU
 * since the previous one, and the process's tail (tid 0) at the stop.  The
 * whole profile must match the process's CPU (getrusage over the session,
 * less the profiler's own start and write, which run before the itimer is
 * armed and after it is disarmed: 3 ms of start on a fresh machine made
 * this fail at 10 kHz x 100 ms; the profiler's threads are in both) within
 * 2 % + 2 periods (a signal the
 * kernel sends before our clock shows a full period weighs 1 and borrows
 * from the next, up to the stop).  Which thread a signal lands on is the
 * kernel's choice (a sleeping thread may take it, with the weight of all
 * the CPU since the previous signal), so the workers' share is printed,
 * not checked: it fell to 83 % with 1 worker under heavy load. */
static int check_itimer(const pcp_stats *st, double profile_ns, double rus, uint64_t truth, uint64_t sampled,
                        int n, uint64_t period) {
    rus -= (double)(st->startup_cpu_ns + st->write_cpu_ns);
    double slack = 0.02 * rus + 2.0 * (double)period;
    CHECK(profile_ns >= rus - slack && profile_ns <= rus + slack,
          "itimer profile %.1f ms within 2 %% + 2 periods of getrusage less the profiler's start and write %.1f ms", profile_ns / 1e6, rus / 1e6);
    check_conservation(st);
    printf("# itimer %d threads: process CPU %.1f ms, profile %.2f %% of it (%llu signals, weight %llu, tail %llu); "
           "workers %.2f %%; profiler start %.1f ms, write %.1f ms\n", n, rus / 1e6, 100.0 * profile_ns / rus,
           (unsigned long long)st->signals, (unsigned long long)st->offered_weight,
           (unsigned long long)st->tail_weight, 100.0 * (double)sampled / (double)truth,
           (double)st->startup_cpu_ns / 1e6, (double)st->write_cpu_ns / 1e6);
    return check_finish();
}

/* ---- two sessions ---- */

static pthread_barrier_t between; /* the worker's phases against the main thread's stop and start */

static void burn_for(uint64_t ns) {
    uint64_t t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID), x = t0 | 1;
    while (cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0 < ns) {
        for (int i = 0; i < 500; i++) x = x * 6364136223846793005ull + 1;
        sink = x;
    }
}

static void *two_sessions_work(void *arg) {
    worker *w = (worker *)arg;
    pcp_register_thread();
    w->tid = (pid_t)syscall(SYS_gettid);
    burn_for(100000000u);
    pthread_barrier_wait(&between); /* main stops session 1, starts session 2 */
    pthread_barrier_wait(&between);
    uint64_t c0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    burn_for(50000000u);
    w->measured_ns = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
    return NULL;
}

static int two_sessions(pcp_options *o) {
    char err[256];
    pthread_barrier_init(&between, NULL, 2);
    if (pcp_start(o, err, sizeof err) != PCP_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    pthread_create(&workers[0].th, NULL, two_sessions_work, &workers[0]);
    pthread_barrier_wait(&between);
    pcp_stop(err, sizeof err);
    if (pcp_start(o, err, sizeof err) != PCP_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    pthread_barrier_wait(&between);
    pthread_join(workers[0].th, NULL);
    pcp_stop(err, sizeof err);
    uint64_t tail = 0;
    split_profile(1, &tail);
    uint64_t period = 1000000000u / (uint64_t)o->hz;
    double got = (double)((workers[0].sampled_w + workers[0].tail_w) * period), want = (double)workers[0].measured_ns;
    double slack = (double)period + 0.01 * want + 1e6; /* + the stop/start hand-off around the barrier */
    CHECK(got >= want - slack && got <= want + slack,
          "session 2 has the thread's %.1f ms of it (tail %.1f ms), not its CPU since it began: %.1f ms", want / 1e6,
          ms(workers[0].tail_w * period), got / 1e6);
    pcp_stats st;
    pcp_get_stats(&st);
    check_conservation(&st);
    return check_finish();
}

/* ---- churn ---- */

static _Atomic uint64_t churn_cpu_ns;

static void *churn_work(void *arg) {
    (void)arg;
    if (pcp_is_running()) pcp_register_thread(); /* as the preload library does */
    uint64_t t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID), x = t0 | 1;
    while (cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0 < burn_ns) {
        for (int i = 0; i < 500; i++) x = x * 6364136223846793005ull + 1;
        sink = x;
    }
    churn_cpu_ns += cpu_ns(CLOCK_THREAD_CPUTIME_ID);
    return NULL;
}

/* Wall time per thread of `count` create + exit, 4 at a time; the process
 * CPU per thread in *cpu (robust to a loaded machine: no waiting in it). */
static double churn_round(int count, double *cpu) {
    uint64_t t0 = cpu_ns(CLOCK_MONOTONIC), c0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < count; i += 4) {
        pthread_t th[4];
        for (int k = 0; k < 4; k++) pthread_create(&th[k], NULL, churn_work, NULL);
        for (int k = 0; k < 4; k++) pthread_join(th[k], NULL);
    }
    if (cpu != NULL) *cpu = (double)(cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - c0) / count;
    return (double)(cpu_ns(CLOCK_MONOTONIC) - t0) / count;
}

static int churn(pcp_options *o, int count) {
    char err[256];
    burn_ns = 0;
    double bare_cpu, prof_cpu;
    double bare = churn_round(count, &bare_cpu);
    burn_ns = 200000;
    churn_cpu_ns = 0;
    if (pcp_start(o, err, sizeof err) != PCP_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    uint64_t truth = 0;
    burn_ns = 0;
    double profiled = churn_round(count, &prof_cpu); /* cost of create + exit under the profiler */
    burn_ns = 200000;
    churn_cpu_ns = 0;
    churn_round(count, NULL);
    truth = churn_cpu_ns;
    if (pcp_stop(err, sizeof err) != PCP_OK) fprintf(stderr, "%s\n", err);
    pcp_stats st;
    pcp_get_stats(&st);
    check_conservation(&st);
    CHECK(st.timers_created == st.timers_deleted, "timers created %llu == deleted %llu",
          (unsigned long long)st.timers_created, (unsigned long long)st.timers_deleted);
    CHECK(st.timers_created >= (uint64_t)(2 * count), "a timer per thread: %llu for %d threads",
          (unsigned long long)st.timers_created, 2 * count);
    uint64_t period = 1000000000u / (uint64_t)o->hz, main_w = 0, tail_total = 0;
    const prt_agg *a = &prt_g_session.agg;
    pid_t self = (pid_t)syscall(SYS_gettid);
    for (size_t i = 0; i < a->n; i++) {
        if ((pid_t)PCPROF_TAG_TID(a->entries[i].tag) == self) main_w += a->entries[i].weight;
        if (is_tail(a, &a->entries[i])) tail_total += a->entries[i].weight;
    }
    /* The workers' share of the profile: all but the main thread, which
     * also ran the create/join loops (the first, unburnt round included). */
    double got = (double)(st.profile_weight - main_w) * (double)period;
    CHECK(got <= 1.01 * (double)truth + (double)period * 2 * count && got >= 0.99 * (double)truth,
          "churn workers' profile %.1f ms vs their CPU %.1f ms (tails %.1f ms)", got / 1e6, ms(truth),
          ms(tail_total * period));
    printf("# churn %d threads at %d Hz: create+exit %.1f us unprofiled, %.1f us profiled (%.2fx); process CPU "
           "%.1f us vs %.1f us a thread; workers %.1f ms CPU, profile %.1f ms\n",
           count, o->hz, bare / 1e3, profiled / 1e3, profiled / bare, bare_cpu / 1e3, prof_cpu / 1e3, ms(truth),
           got / 1e6);
    return check_finish();
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[3], "two-sessions") == 0) {
        pcp_options o = PCP_OPTIONS_INIT;
        o.engine = argv[1];
        o.hz = atoi(argv[2]);
        o.unwind = "fp";
        return o.hz > 0 ? two_sessions(&o) : 2;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: thread_tails ENGINE HZ THREADS MS [table] | ENGINE HZ churn COUNT | ENGINE HZ two-sessions\n");
        return 2;
    }
    if (strcmp(argv[3], "churn") == 0) {
        pcp_options o = PCP_OPTIONS_INIT;
        o.engine = argv[1];
        o.hz = atoi(argv[2]);
        o.unwind = "fp";
        return o.hz > 0 ? churn(&o, atoi(argv[4])) : 2;
    }
    int hz = atoi(argv[2]), n = atoi(argv[3]);
    bool table = argc > 5 && strcmp(argv[5], "table") == 0;
    if (hz <= 0 || n <= 0 || n > MAX_THREADS) {
        fprintf(stderr, "thread_tails: bad HZ or THREADS\n");
        return 2;
    }
    burn_ns = (uint64_t)atoi(argv[4]) * 1000000u;
    pcp_options o = PCP_OPTIONS_INIT;
    o.engine = argv[1];
    o.hz = hz;
    o.unwind = "fp";
    char err[256];
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    if (pcp_start(&o, err, sizeof err) != PCP_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    pthread_barrier_init(&start_line, NULL, (unsigned)n);
    for (int i = 0; i < n; i++) pthread_create(&workers[i].th, NULL, work, &workers[i]);
    for (int i = 0; i < n; i++) pthread_join(workers[i].th, NULL);
    if (pcp_stop(err, sizeof err) != PCP_OK) fprintf(stderr, "%s\n", err);
    getrusage(RUSAGE_SELF, &ru1);
    pcp_stats st;
    pcp_get_stats(&st);

    uint64_t period = 1000000000u / (uint64_t)hz, tail_total = 0;
    uint64_t other_w = split_profile(n, &tail_total);
    uint64_t truth = 0, sampled = 0, tails = 0;
    for (int i = 0; i < n; i++) {
        truth += workers[i].measured_ns;
        sampled += workers[i].sampled_w * period;
        tails += workers[i].tail_w * period;
    }
    double rus = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e9 +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) * 1e3;
    double profile_ns = (double)(st.profile_weight) * (double)period;

    if (table) {
        printf("# engine %s, %d Hz, %d threads x %s ms\n", argv[1], hz, n, argv[4]);
        printf("# tid measured_ms sampled_ms tail_ms missing_ms\n");
        for (int i = 0; i < n; i++) {
            const worker *w = &workers[i];
            double s = ms(w->sampled_w * period), t = ms(w->tail_w * period);
            printf("%d %.2f %.2f %.2f %.2f\n", (int)w->tid, ms(w->measured_ns), s, t, ms(w->measured_ns) - s - t);
        }
        printf("total measured %.1f ms sampled %.1f ms (%.1f %%) tail %.1f ms, with tail %.1f %%; "
               "missing per thread %.2f ms; main thread %.1f ms; getrusage %.1f ms\n",
               ms(truth), ms(sampled), 100.0 * (double)sampled / (double)truth, ms(tails),
               100.0 * (double)(sampled + tails) / (double)truth, (ms(truth) - ms(sampled) - ms(tails)) / n,
               ms(other_w * period), rus / 1e6);
        return 0;
    }

    double total = (double)(sampled + tails);
    if (strcmp(argv[1], "itimer") == 0) return check_itimer(&st, profile_ns, rus, truth, sampled, n, period);
    /* perf: the task-clock counter the weights come from also counts the
     * interrupt time of its own sampling, which the thread's CPU clock
     * leaves out (IRQ time accounting): ~1.5 % at 10 kHz here.  Its bound
     * is 3 %; the CPU-clock engines' is 1 %. */
    double tol = strcmp(argv[1], "perf") == 0 ? 0.03 : 0.01;
    CHECK(total >= (1 - tol) * (double)truth && total <= (1 + tol) * (double)truth,
          "workers' profile %.1f ms (sampled %.1f + tail %.1f) within %.0f %% of measured %.1f ms", total / 1e6, ms(sampled),
          ms(tails), 100 * tol, ms(truth));
    /* The sampled part alone is not bounded below: how many expiries a
     * thread loses grows with how long it waits for a CPU between slices
     * (bench/RESULTS.md, "Thread tails"), i.e. with the machine's load.
     * It must never exceed the truth; its share is printed below. */
    CHECK((double)sampled <= (double)truth * (1 + tol), "sampled %.1f ms not above measured %.1f ms", ms(sampled),
          ms(truth));
    int per_thread_bad = 0;
    for (int i = 0; i < n; i++) {
        const worker *w = &workers[i];
        double got = (double)((w->sampled_w + w->tail_w) * period), want = (double)w->measured_ns;
        /* perf, per thread: the interrupt time the task-clock counts lands
         * on whichever thread the interrupt found, so one thread's excess
         * varies around the total's ~1.5 %: 3.7 % on one of 8 threads in a
         * fresh-clone run whose total was 100.5 %.  Per thread 5 %; the
         * total keeps its 3 %. */
        double per_tol = strcmp(argv[1], "perf") == 0 ? 0.05 : tol;
        double slack = (double)period + per_tol * want;
        if (got < want - slack || got > want + slack) {
            if (per_thread_bad++ < 5)
                printf("  thread %d: profile %.2f ms vs measured %.2f ms\n", (int)w->tid, got / 1e6, want / 1e6);
        }
    }
    CHECK(per_thread_bad == 0, "%d of %d threads off by more than one period + %.0f %%", per_thread_bad, n,
          100 * (strcmp(argv[1], "perf") == 0 ? 0.05 : tol));
    CHECK(tail_total > 0, "a [unsampled: thread tail] frame in the profile (%d threads)", n);
    check_conservation(&st);
    CHECK(profile_ns >= 0.9 * rus && profile_ns <= 1.1 * rus, "profile %.1f ms within 10 %% of getrusage %.1f ms",
          profile_ns / 1e6, rus / 1e6);
    printf("# %s %d Hz %d x %s ms: measured %.1f ms, sampled %.1f %%, with tail %.2f %%\n", argv[1], hz, n, argv[4],
           ms(truth), 100.0 * (double)sampled / (double)truth, 100.0 * total / (double)truth);
    return check_finish();
}
