/* core_demo.c — the core driven by real CPU timers, printed as a table.
 *
 * Four threads each run a different busy function for the same wall time
 * but a different duty cycle (100 %, 75 %, 50 %, 25 % busy).  Each thread
 * arms its own CPU-time timer (timer_create on CLOCK_THREAD_CPUTIME_ID,
 * SIGEV_THREAD_ID, 1 ms period); the SIGPROF handler offers one sample
 * whose first frame is the thread's busy function and whose weight is
 * 1 + si_overrun, so expirations the kernel coalesced still count.  A
 * reader thread drains the core every 100 ms.  At the end the core is
 * stopped and final-drained, and the demo prints per function: samples,
 * weight (= CPU ms at 1 ms per expiry), share, the thread's real CPU time,
 * then losses by reason and the conservation check.
 *
 * This is the interim demo of the core alone; the real profiler's demo
 * (unwinding, pprof output) lives beside it later. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROFCORE_IMPLEMENTATION
#include "profcore.h"

#define NTHREADS 4
#define PERIOD_NS 1000000L /* 1 ms of thread CPU time per expiry */
#define RUN_MS 2000L

static profcore *pc;

/* ---- the busy functions: each one is a "stack" of its own ---------------- */

static __thread volatile uint64_t sink;
static void spin_for_ns(long ns) {
    struct timespec t0, t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    do {
        for (int i = 0; i < 1000; i++) sink = sink * 6364136223846793005ull + (uint64_t)i;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < ns);
}
static void sleep_ns(long ns) {
    struct timespec ts = {ns / 1000000000L, ns % 1000000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
/* Each works `busy` of every 4 ms and sleeps the rest. */
static __attribute__((noinline)) void duty(int busy_quarters) {
    spin_for_ns(busy_quarters * 1000000L);
    if (busy_quarters < 4) sleep_ns((4 - busy_quarters) * 1000000L);
}
static __attribute__((noinline)) void busy_alpha(void) { duty(4); }
static __attribute__((noinline)) void busy_beta(void) { duty(3); }
static __attribute__((noinline)) void busy_gamma(void) { duty(2); }
static __attribute__((noinline)) void busy_delta(void) { duty(1); }

static const struct {
    const char *name;
    void (*fn)(void);
} functions[NTHREADS] = {
    {"busy_alpha (100%)", busy_alpha},
    {"busy_beta  (75%)", busy_beta},
    {"busy_gamma (50%)", busy_gamma},
    {"busy_delta (25%)", busy_delta},
};

/* ---- per-thread state and the handler ------------------------------------ */

typedef struct thread_state {
    int index;
    pid_t tid;
    uintptr_t frames[2]; /* the busy function, then the thread's entry */
    uint64_t offered_samples, offered_weight, recorded_samples; /* handler-only */
    uint64_t cpu_ns;
} thread_state;

static thread_state threads[NTHREADS];
static __thread thread_state *self __attribute__((tls_model("initial-exec")));

static void on_sigprof(int sig, siginfo_t *si, void *uc) {
    (void)sig, (void)uc;
    thread_state *me = self;
    if (me == NULL || si->si_code != SI_TIMER) return; /* only our timers' expiries */
    int saved_errno = errno;
    uint32_t weight = 1u + (uint32_t)(si->si_overrun > 0 ? si->si_overrun : 0);
    int r = profcore_add(pc, (uint64_t)me->index, me->frames, 2, weight, (uint32_t)me->tid);
    me->offered_samples++;
    me->offered_weight += weight;
    if (r == PROFCORE_RECORDED || r == PROFCORE_RECORDED_HANDOFF) me->recorded_samples++;
    errno = saved_errno;
}

static void *thread_main(void *arg) {
    thread_state *me = arg;
    me->tid = gettid();
    me->frames[0] = (uintptr_t)functions[me->index].fn;
    me->frames[1] = (uintptr_t)thread_main;
    self = me;
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev._sigev_un._tid = me->tid;
    timer_t timer;
    if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &timer) != 0) {
        perror("timer_create");
        exit(1);
    }
    struct itimerspec its = {{0, PERIOD_NS}, {0, PERIOD_NS}};
    timer_settime(timer, 0, &its, NULL);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        functions[me->index].fn();
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((now.tv_sec - start.tv_sec) * 1000L + (now.tv_nsec - start.tv_nsec) / 1000000L < RUN_MS);
    timer_delete(timer); /* no expiry of this thread after this point */
    struct timespec cpu;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu);
    me->cpu_ns = (uint64_t)cpu.tv_sec * 1000000000ull + (uint64_t)cpu.tv_nsec;
    return NULL;
}

/* ---- the reader ------------------------------------------------------------ */

static uint64_t weight_by_thread[NTHREADS];
static uint64_t weight_lost[PROFCORE_LOSS_REASONS];
static uint64_t unknown_records;

static void emit(void *ctx, const profcore_record *rec) {
    (void)ctx;
    uint64_t f0 = rec->frames[0];
    if (rec->depth == 1 && f0 >= PROFCORE_FRAME_LOST(0) &&
        f0 < PROFCORE_FRAME_LOST(PROFCORE_LOSS_REASONS)) {
        weight_lost[f0 - PROFCORE_FRAME_LOST(0)] += rec->weight;
        return;
    }
    for (int i = 0; i < NTHREADS; i++)
        if (f0 == (uint64_t)(uintptr_t)functions[i].fn && rec->tag == (uint64_t)i) {
            weight_by_thread[i] += rec->weight;
            return;
        }
    unknown_records++;
}

static atomic_bool workers_done;
static unsigned drains;

static void *reader_main(void *arg) {
    (void)arg;
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    while (!atomic_load(&workers_done)) {
        sleep_ns(100000000L);
        if (profcore_drain(pc, emit, NULL) == PROFCORE_OK) drains++;
    }
    int rc;
    while ((rc = profcore_stop(pc)) == PROFCORE_BUSY) sleep_ns(1000000L);
    while (rc == PROFCORE_OK && (rc = profcore_final_drain(pc, emit, NULL)) == PROFCORE_BUSY)
        sleep_ns(1000000L);
    if (rc != PROFCORE_OK) fprintf(stderr, "stop/final drain failed: %d\n", rc);
    return NULL;
}

int main(void) {
    profcore_config cfg = PROFCORE_CONFIG_DEFAULT;
    size_t size = profcore_size(&cfg);
    void *mem = aligned_alloc(64, (size + 63u) & ~(size_t)63u);
    if (mem == NULL || profcore_init(mem, size, &cfg, &pc) != PROFCORE_OK) {
        fprintf(stderr, "profcore_init failed\n");
        return 1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, NULL);

    printf("profcore core demo: %d threads, per-thread CPU timers every %ld us, %ld ms each\n",
           NTHREADS, PERIOD_NS / 1000, RUN_MS);
    pthread_t reader, workers[NTHREADS];
    pthread_create(&reader, NULL, reader_main, NULL);
    for (int i = 0; i < NTHREADS; i++) {
        threads[i].index = i;
        pthread_create(&workers[i], NULL, thread_main, &threads[i]);
    }
    for (int i = 0; i < NTHREADS; i++) pthread_join(workers[i], NULL);
    atomic_store(&workers_done, true);
    pthread_join(reader, NULL);

    profcore_stats st;
    profcore_stats_read(pc, &st);
    uint64_t total_weight = 0, offered_s = 0, offered_w = 0, emitted = 0, lost_s = 0, lost_w = 0;
    for (int i = 0; i < NTHREADS; i++) {
        total_weight += weight_by_thread[i];
        offered_s += threads[i].offered_samples;
        offered_w += threads[i].offered_weight;
    }
    printf("\n%-20s %8s %8s %7s %9s %9s %9s\n", "function (duty)", "samples", "weight", "share",
           "prof ms", "cpu ms", "captured");
    for (int i = 0; i < NTHREADS; i++) {
        double prof_ms = (double)weight_by_thread[i] * (double)PERIOD_NS / 1e6;
        double cpu_ms = (double)threads[i].cpu_ns / 1e6;
        printf("%-20s %8" PRIu64 " %8" PRIu64 " %6.1f%% %9.1f %9.1f %8.1f%%\n", functions[i].name,
               threads[i].recorded_samples, weight_by_thread[i],
               total_weight ? 100.0 * (double)weight_by_thread[i] / (double)total_weight : 0.0,
               prof_ms, cpu_ms, cpu_ms > 0 ? 100.0 * prof_ms / cpu_ms : 0.0);
        emitted += weight_by_thread[i];
    }
    printf("\nlost by reason:");
    for (int r = 0; r < (int)PROFCORE_LOSS_REASONS; r++) {
        printf(" %s %" PRIu64 "%s", profcore_loss_name((uint32_t)r), st.lost_samples[r],
               r + 1 < (int)PROFCORE_LOSS_REASONS ? "," : "\n");
        lost_s += st.lost_samples[r];
        lost_w += st.lost_weight[r];
    }
    printf("rejected after stop: %" PRIu64 "; evictions %" PRIu64 ", handoffs %" PRIu64
           ", reader drains %u\n",
           st.rejected_samples, st.evictions, st.handoffs, drains);
    bool ok = st.offered_samples == offered_s && st.offered_weight == offered_w &&
              st.offered_samples == st.recorded_samples + lost_s + st.rejected_samples &&
              st.offered_weight == st.recorded_weight + lost_w + st.rejected_weight &&
              emitted == st.recorded_weight && unknown_records == 0;
    for (int r = 0; r < (int)PROFCORE_LOSS_REASONS; r++) ok = ok && weight_lost[r] == st.lost_weight[r];
    printf("conservation: offered %" PRIu64 " samples / %" PRIu64 " weight (handlers counted %" PRIu64
           " / %" PRIu64 ") = recorded %" PRIu64 " / %" PRIu64 " + lost %" PRIu64 " / %" PRIu64
           " + rejected %" PRIu64 " / %" PRIu64 "; emitted weight %" PRIu64 ": %s\n",
           st.offered_samples, st.offered_weight, offered_s, offered_w, st.recorded_samples,
           st.recorded_weight, lost_s, lost_w, st.rejected_samples, st.rejected_weight, emitted,
           ok ? "OK" : "MISMATCH");
    free(mem);
    return ok ? 0 : 1;
}
