/* tests/vendor/vendor_c.c — a small C program that vendors the core the way
 * the manual says: profcore.h copied alone into its tree, the
 * implementation in one other file (vendor_impl.c), this file including
 * the header plainly.  tests/vendor/run copies the three files into an
 * empty directory and builds them there, so nothing else of this
 * repository is visible.
 *
 * Two worker threads spin on the CPU under an ITIMER_PROF timer; the
 * SIGPROF handler offers each sample to the core.  The main thread also
 * sends SIGPROF to each worker with pthread_kill, so every worker takes
 * samples even if the timer's signals all land on the other.  A reader
 * thread drains when woken and periodically.  At the end: stop, final
 * drain, then conservation is checked against what the handlers offered.
 * Closing line: "N passed, N failed". */
#define _GNU_SOURCE
#include "profcore.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define WORKERS 2
#define SAMPLES_PER_WORKER 300u /* each worker runs until its handler saw this many */
#define MAX_DEPTH 8u

static _Alignas(64) unsigned char memory[1u << 20];
static profcore *the_core;
static __thread uint32_t worker_id;        /* 1..WORKERS on workers, 0 elsewhere */
static __thread uint32_t worker_samples;   /* handler invocations on this thread */
static uint64_t offered_weight;            /* atomic: what the handlers offered */
static uint64_t offered_per_worker[WORKERS + 1];
static uint32_t wake;                      /* atomic: a handoff happened */
static uint32_t done;                      /* atomic: workers may stop */

/* A stack the handler builds: frame i of thread t is 0x100000 + t * 0x1000
 * + (sample % 5) * 0x10 + i, so the reader can tell a torn or merged
 * record from a real one.  Depth 1..11: some deeper than MAX_DEPTH. */
static void on_sigprof(int sig) {
    (void)sig;
    uint32_t t = worker_id;
    uint32_t n = worker_samples++;
    uint32_t depth = 1u + n % 11u;
    uintptr_t frames[16];
    for (uint32_t i = 0; i < depth; i++)
        frames[i] = 0x100000u + t * 0x1000u + (n % 5u) * 0x10u + i;
    int r = profcore_add(the_core, t, frames, depth, 1u, t);
    __atomic_add_fetch(&offered_weight, 1u, __ATOMIC_RELAXED);
    __atomic_add_fetch(&offered_per_worker[t], 1u, __ATOMIC_RELAXED);
    if (r == PROFCORE_RECORDED_HANDOFF) __atomic_store_n(&wake, 1u, __ATOMIC_RELEASE);
}

static void *worker(void *arg) {
    worker_id = (uint32_t)(uintptr_t)arg;
    /* SIGPROF was blocked when this thread started: a sample before its id
     * is known would have no tag. */
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_UNBLOCK, &prof, NULL);
    volatile uint64_t spin = 0;
    while (__atomic_load_n(&worker_samples, __ATOMIC_RELAXED) < SAMPLES_PER_WORKER ||
           !__atomic_load_n(&done, __ATOMIC_ACQUIRE))
        spin = spin + 1;
    return NULL;
}

/* ---- reader ------------------------------------------------------------ */
static uint64_t emitted_records_weight, emitted_loss_weight[PROFCORE_LOSS_REASONS];
static uint64_t bad_records;

static void on_record(void *ctx, const profcore_record *rec) {
    (void)ctx;
    if (rec->depth == 1 && rec->frames[0] >= PROFCORE_FRAME_LOST(0) &&
        rec->frames[0] < PROFCORE_FRAME_LOST(PROFCORE_LOSS_REASONS)) {
        emitted_loss_weight[rec->frames[0] - PROFCORE_FRAME_LOST(0)] += rec->weight;
        return;
    }
    emitted_records_weight += rec->weight;
    uint64_t t = rec->tag;
    int ok = t >= 1 && t <= WORKERS && rec->depth >= 1 && rec->depth <= MAX_DEPTH;
    for (uint32_t i = 0; ok && i < rec->depth; i++) {
        uint64_t f = rec->frames[i];
        if (i + 1 == MAX_DEPTH && f == PROFCORE_FRAME_TRUNCATED) continue;
        ok = (f & 0xfu) == i && (f >> 12) == 0x100u + t;
    }
    if (!ok && bad_records++ == 0)
        printf("     bad record: tag %llu depth %u frame0 %#llx\n", (unsigned long long)t, rec->depth,
               (unsigned long long)rec->frames[0]);
}

static void *reader(void *arg) {
    (void)arg;
    while (!__atomic_load_n(&done, __ATOMIC_ACQUIRE)) {
        if (__atomic_exchange_n(&wake, 0u, __ATOMIC_ACQUIRE) == 0) usleep(500);
        if (profcore_drain(the_core, on_record, NULL) != PROFCORE_OK) bad_records++;
    }
    return NULL;
}

static int passed, failed;
static void check(int ok, const char *what) {
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (ok) passed++; else failed++;
}

int main(void) {
    profcore_config cfg = {4u, 16u, 2u, MAX_DEPTH, 64u}; /* small: evictions and handoffs */
    check(profcore_init(memory, sizeof memory, &cfg, &the_core) == PROFCORE_OK, "init");
    if (failed) goto out;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigprof;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, NULL);
    /* Only workers take samples: the main and reader threads keep SIGPROF
     * blocked, and each worker unblocks it once it knows its id. */
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, NULL);
    pthread_t w[WORKERS], rd;
    for (uintptr_t i = 0; i < WORKERS; i++) pthread_create(&w[i], NULL, worker, (void *)(i + 1));
    pthread_create(&rd, NULL, reader, NULL);
    struct itimerval it = {{0, 500}, {0, 500}};
    setitimer(ITIMER_PROF, &it, NULL);
    /* Until each worker has taken enough samples (timer plus directed
     * signals; bounded by a generous deadline, not by luck). */
    for (int round = 0; round < 20000; round++) {
        for (int i = 0; i < WORKERS; i++) pthread_kill(w[i], SIGPROF);
        usleep(200);
        if (__atomic_load_n(&offered_per_worker[1], __ATOMIC_RELAXED) >= SAMPLES_PER_WORKER &&
            __atomic_load_n(&offered_per_worker[2], __ATOMIC_RELAXED) >= SAMPLES_PER_WORKER)
            break;
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    check(offered_per_worker[1] >= SAMPLES_PER_WORKER && offered_per_worker[2] >= SAMPLES_PER_WORKER,
          "each worker took its samples from real signals");
    __atomic_store_n(&done, 1u, __ATOMIC_RELEASE);
    for (int i = 0; i < WORKERS; i++) pthread_join(w[i], NULL);
    pthread_join(rd, NULL);

    int st = PROFCORE_BUSY;
    for (int i = 0; i < 1000 && st == PROFCORE_BUSY; i++) st = profcore_stop(the_core);
    check(st == PROFCORE_OK, "stop");
    st = PROFCORE_BUSY;
    for (int i = 0; i < 1000 && st == PROFCORE_BUSY; i++) st = profcore_final_drain(the_core, on_record, NULL);
    check(st == PROFCORE_OK, "final drain");

    profcore_stats s;
    check(profcore_stats_read(the_core, &s) == PROFCORE_OK, "stats");
    uint64_t lost = 0, emitted_lost = 0;
    for (uint32_t r = 0; r < PROFCORE_LOSS_REASONS; r++) {
        lost += s.lost_weight[r];
        emitted_lost += emitted_loss_weight[r];
        if (s.lost_weight[r] != emitted_loss_weight[r])
            printf("     loss %s: counted %llu, emitted %llu\n", profcore_loss_name(r),
                   (unsigned long long)s.lost_weight[r], (unsigned long long)emitted_loss_weight[r]);
    }
    check(s.offered_weight == offered_weight, "offered weight == what the handlers offered");
    check(s.recorded_weight + lost + s.rejected_weight == offered_weight,
          "recorded + lost + rejected == offered");
    check(emitted_records_weight == s.recorded_weight, "every recorded weight emitted once");
    check(emitted_lost == lost, "every lost weight emitted once, under its reason");
    check(bad_records == 0, "every record is a stack a handler offered");
    check(s.evictions > 0 && s.handoffs > 0, "the run evicted and handed off");
    printf("     offered %llu, recorded %llu, lost %llu, evictions %llu, handoffs %llu (%s)\n",
           (unsigned long long)offered_weight, (unsigned long long)s.recorded_weight,
           (unsigned long long)lost, (unsigned long long)s.evictions,
           (unsigned long long)s.handoffs, PROFCORE_VERSION);
out:
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
