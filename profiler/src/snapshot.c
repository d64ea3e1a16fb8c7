/* snapshot.c — thread snapshots: the current stack of every thread of the
 * process, one sample of weight 1 per thread (the analogue of Go's
 * goroutine profile), with or without a running profile.
 *
 * How (nothing waits on another thread inside a
 * handler, and the caller never waits without a bound):
 *   - the caller lists the threads (/proc/self/task minus the profiler's
 *     own), arms one slot per thread and queues it a SIGPROF (SI_QUEUE, our
 *     pid, si_value = magic | slot | generation);
 *   - each thread's handler claims its slot with one CAS (ARMED -> BUSY of
 *     the same generation), fills it with the hook frames then the
 *     frame-pointer walk, exactly as a sample is taken (critical sections
 *     and unwind failures give the same synthetic frames), and publishes it
 *     (DONE, release);
 *   - the caller polls the slots until all answered or the timeout, then
 *     takes the answers; a slot still ARMED is disarmed (CAS -> FREE) and
 *     its thread reported with the frame "[no answer: signals blocked or
 *     stopped]".
 * Slots live in memory mapped once and never unmapped, and a claim needs
 * the slot's current generation, so an answer arriving after the timeout
 * (a thread that unblocks SIGPROF later) finds the slot disarmed or
 * re-armed for another generation and writes nothing.  A slot a late
 * handler is still filling (BUSY) is skipped by later snapshots until that
 * handler publishes it.
 *
 * A standard signal already pending on a thread (a profiling tick) makes
 * the kernel drop a second one, so the caller re-queues every few
 * milliseconds to the threads that have not answered.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "profile.h"

#define PRT_SNAP_SLOTS 512u
#define PRT_SNAP_DEPTH 128u
#define PRT_SNAP_MAGIC 0x534e4150u /* "SNAP": never a session token (0x5043....) */
#define PRT_SNAP_RESEND_NS 5000000u
#define PRT_SNAP_MAX_TIMEOUT_MS 60000

enum { PRT_SNAP_FREE = 0, PRT_SNAP_ARMED = 1, PRT_SNAP_BUSY = 2, PRT_SNAP_DONE = 3 };
#define PRT_SNAP_STATE(gen, phase) ((((uint32_t)(gen) & 0xffffu) << 2) | (uint32_t)(phase))
#define PRT_SNAP_PHASE(st) ((st) & 3u)

typedef struct prt_snap_slot {
    uint32_t state; /* atomic: PRT_SNAP_STATE(generation, phase) */
    uint32_t depth;
    uint64_t tag;
    uintptr_t frames[PRT_SNAP_DEPTH + 1]; /* one more than kept: truncation is marked */
} prt_snap_slot;

_Static_assert(sizeof(uintptr_t) == sizeof(uint64_t), "frames are copied as 64-bit values");

static prt_snap_slot *prt_g_snap_slots; /* atomic; mapped once, never unmapped */
static pthread_mutex_t prt_snap_mu = PTHREAD_MUTEX_INITIALIZER;
static uint32_t prt_snap_generation; /* under prt_snap_mu */

/* ---- the handler's side -------------------------------------------------- */

/* The stack of the interrupted thread into the slot, with the sampling
 * rules (handler.c's prt_take_sample). */
PROFCORE_SIGNAL_SAFE static void prt_snap_fill(prt_snap_slot *s, void *uc) {
    prt_thread *self = prt_tls_self;
    bool registered = self != NULL;
    uint32_t tid = registered ? (uint32_t)self->tid : (uint32_t)prt_gettid();
    s->tag = PCPROF_TAG_MAKE(tid, prt_tls_label, PCPROF_STATE_NONE, !registered);
    if (prt_tls_critical != 0) { /* not unwound, as a sample */
        s->frames[0] = (uintptr_t)PROFCORE_FRAME_LOST(PROFCORE_LOSS_CRITICAL);
        s->depth = 1;
        return;
    }
    int n = prt_unwind_interrupted(uc, self, s->frames, PRT_SNAP_DEPTH + 1u);
    if (n <= 0) {
        s->frames[0] = (uintptr_t)PROFCORE_FRAME_LOST(PROFCORE_LOSS_UNWIND);
        n = 1;
    } else if ((uint32_t)n > PRT_SNAP_DEPTH) {
        n = (int)PRT_SNAP_DEPTH;
        s->frames[n - 1] = (uintptr_t)PROFCORE_FRAME_TRUNCATED;
    }
    s->depth = (uint32_t)n;
}

PROFCORE_SIGNAL_SAFE bool prt_snapshot_answer(const siginfo_t *si, void *uc) {
    if (si->si_code != SI_QUEUE) return false;
    uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
    if ((uint32_t)(v & 0xffffffffu) != PRT_SNAP_MAGIC || si->si_pid != getpid()) return false;
    uint32_t idx = (uint32_t)((v >> 32) & 0xffffu), gen = (uint32_t)(v >> 48);
    prt_snap_slot *slots = __atomic_load_n(&prt_g_snap_slots, __ATOMIC_ACQUIRE);
    if (slots == NULL || idx >= PRT_SNAP_SLOTS) return true;
    prt_snap_slot *s = &slots[idx];
    uint32_t armed = PRT_SNAP_STATE(gen, PRT_SNAP_ARMED);
    if (!__atomic_compare_exchange_n(&s->state, &armed, PRT_SNAP_STATE(gen, PRT_SNAP_BUSY), false,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return true; /* late (timed out, re-armed) or answered already: write nothing */
    prt_snap_fill(s, uc);
    __atomic_store_n(&s->state, PRT_SNAP_STATE(gen, PRT_SNAP_DONE), __ATOMIC_RELEASE);
    return true;
}

/* ---- the caller's side (never in a handler) ------------------------------ */

static uint64_t prt_snap_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int prt_snap_map_slots(void) {
    if (__atomic_load_n(&prt_g_snap_slots, __ATOMIC_ACQUIRE) != NULL) return 0;
    void *m = mmap(NULL, PRT_SNAP_SLOTS * sizeof(prt_snap_slot), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return -1;
    __atomic_store_n(&prt_g_snap_slots, (prt_snap_slot *)m, __ATOMIC_RELEASE);
    return 0;
}

static int prt_snap_queue(pid_t tid, uint32_t idx, uint32_t gen) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int sig = __atomic_load_n(&prt_g_signal, __ATOMIC_RELAXED);
    si.si_signo = sig;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    uint64_t v = (uint64_t)PRT_SNAP_MAGIC | ((uint64_t)idx << 32) | ((uint64_t)(gen & 0xffffu) << 48);
    si.si_value.sival_ptr = (void *)(uintptr_t)v;
    return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, sig, &si);
}

/* One thread of the snapshot: where its answer is, or that it has none. */
typedef struct prt_snap_entry {
    pid_t tid;
    uint32_t slot; /* PRT_SNAP_SLOTS: none (no free slot, or the thread exited) */
    bool gone;     /* the thread exited before it was asked: not reported */
} prt_snap_entry;

/* A slot that can be armed now: free, answered, or armed by an earlier
 * snapshot that gave up on it (disarmed here).  BUSY: a late handler owns it. */
static bool prt_snap_take_slot(prt_snap_slot *s) {
    uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if (PRT_SNAP_PHASE(st) == PRT_SNAP_BUSY) return false;
    if (PRT_SNAP_PHASE(st) == PRT_SNAP_ARMED &&
        !__atomic_compare_exchange_n(&s->state, &st, PRT_SNAP_FREE, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        return false; /* claimed meanwhile */
    return true;
}

/* Arms a slot per entry and asks each thread.  An entry left without a
 * slot (none reusable, or the request could not be queued) is reported as
 * not answering; a thread that exited meanwhile (ESRCH) is dropped. */
static void prt_snap_arm(prt_snap_entry *e, size_t n, uint32_t gen) {
    prt_snap_slot *slots = prt_g_snap_slots;
    uint32_t next = 0;
    for (size_t i = 0; i < n; i++) {
        e[i].slot = PRT_SNAP_SLOTS;
        while (next < PRT_SNAP_SLOTS && !prt_snap_take_slot(&slots[next])) next++;
        if (next == PRT_SNAP_SLOTS) continue;
        prt_snap_slot *s = &slots[next];
        s->depth = 0;
        __atomic_store_n(&s->state, PRT_SNAP_STATE(gen, PRT_SNAP_ARMED), __ATOMIC_RELEASE);
        if (prt_snap_queue(e[i].tid, next, gen) == 0) {
            e[i].slot = next++;
            continue;
        }
        e[i].gone = errno == ESRCH;
        uint32_t armed = PRT_SNAP_STATE(gen, PRT_SNAP_ARMED);
        __atomic_compare_exchange_n(&s->state, &armed, PRT_SNAP_FREE, false, __ATOMIC_ACQ_REL,
                                    __ATOMIC_RELAXED); /* never asked: free for the next thread */
    }
}

static bool prt_snap_answered(const prt_snap_entry *e, uint32_t gen) {
    if (e->slot >= PRT_SNAP_SLOTS) return true;
    uint32_t st = __atomic_load_n(&prt_g_snap_slots[e->slot].state, __ATOMIC_ACQUIRE);
    return st == PRT_SNAP_STATE(gen, PRT_SNAP_DONE);
}

/* Waits until every armed entry answered or `deadline`; re-queues to the
 * silent ones (a pending SIGPROF swallows a second). */
static void prt_snap_wait(prt_snap_entry *e, size_t n, uint32_t gen, uint64_t deadline) {
    uint64_t last_send = prt_snap_now_ns();
    for (;;) {
        size_t silent = 0;
        for (size_t i = 0; i < n; i++)
            if (!prt_snap_answered(&e[i], gen)) silent++;
        uint64_t now = prt_snap_now_ns();
        if (silent == 0 || now >= deadline) return;
        if (now - last_send >= PRT_SNAP_RESEND_NS) {
            for (size_t i = 0; i < n; i++)
                if (!prt_snap_answered(&e[i], gen)) prt_snap_queue(e[i].tid, e[i].slot, gen);
            last_send = now;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

/* The result: one stack per thread, frames copied out of the slots. */
typedef struct prt_snap_result {
    pcprof_stack *stacks;
    uint64_t *frames;
    size_t nstacks, nframes;
    size_t no_answer;
} prt_snap_result;

static void prt_snap_add(prt_snap_result *r, uint64_t tag, const uintptr_t *frames, uint32_t depth) {
    pcprof_stack *st = &r->stacks[r->nstacks++];
    st->weight = 1;
    st->tag = tag;
    st->depth = depth;
    for (uint32_t i = 0; i < depth; i++) r->frames[r->nframes + i] = (uint64_t)frames[i];
    r->nframes += depth; /* st->frames is set once every stack is in (prt_snap_run) */
}

/* Takes the answers of one batch; disarms the silent slots. */
static void prt_snap_collect(prt_snap_entry *e, size_t n, uint32_t gen, prt_snap_result *r) {
    static const uintptr_t no_answer[1] = {(uintptr_t)PCPROF_FRAME_NO_ANSWER};
    for (size_t i = 0; i < n; i++) {
        if (e[i].gone) continue;
        uint64_t silent_tag = PCPROF_TAG_MAKE(e[i].tid, 0, PCPROF_STATE_NONE, 0);
        if (e[i].slot >= PRT_SNAP_SLOTS) {
            prt_snap_add(r, silent_tag, no_answer, 1);
            r->no_answer++;
            continue;
        }
        prt_snap_slot *s = &prt_g_snap_slots[e[i].slot];
        uint32_t armed = PRT_SNAP_STATE(gen, PRT_SNAP_ARMED);
        if (__atomic_compare_exchange_n(&s->state, &armed, PRT_SNAP_FREE, false, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            prt_snap_add(r, silent_tag, no_answer, 1); /* disarmed: a late answer writes nothing */
            r->no_answer++;
        } else if (armed == PRT_SNAP_STATE(gen, PRT_SNAP_DONE)) {
            prt_snap_add(r, s->tag, s->frames, s->depth);
            __atomic_store_n(&s->state, PRT_SNAP_FREE, __ATOMIC_RELEASE);
        } else { /* BUSY: its handler is still writing; the slot stays its own */
            prt_snap_add(r, silent_tag, no_answer, 1);
            r->no_answer++;
        }
    }
}

/* The threads to ask: /proc/self/task minus the profiler's own threads. */
static prt_snap_entry *prt_snap_list(size_t *n) {
    size_t cap = 64, count = 0;
    prt_snap_entry *e = malloc(cap * sizeof *e);
    DIR *d = opendir("/proc/self/task");
    if (e == NULL || d == NULL) {
        free(e);
        if (d != NULL) closedir(d);
        return NULL;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
        pid_t tid = (pid_t)atoi(de->d_name);
        if (prt_threads_is_profiler(tid)) continue;
        if (count == cap) {
            prt_snap_entry *ne = realloc(e, cap * 2 * sizeof *e);
            if (ne == NULL) break;
            e = ne;
            cap *= 2;
        }
        e[count].tid = tid;
        e[count].slot = PRT_SNAP_SLOTS;
        e[count].gone = false;
        count++;
    }
    closedir(d);
    *n = count;
    return e;
}

/* Is SIGPROF blocked in the calling thread?  Then it cannot answer itself:
 * it is a profiler-internal thread (the preload helper) and is left out. */
static bool prt_snap_caller_blocks_sigprof(void) {
    sigset_t cur;
    return prt_sigmask_own(SIG_BLOCK, NULL, &cur) == 0 &&
           sigismember(&cur, __atomic_load_n(&prt_g_signal, __ATOMIC_RELAXED)) == 1;
}

static int prt_snap_run(prt_snap_entry *e, size_t n, int timeout_ms, prt_snap_result *r) {
    r->stacks = calloc(n ? n : 1, sizeof *r->stacks);
    r->frames = malloc((n ? n : 1) * PRT_SNAP_DEPTH * sizeof *r->frames);
    if (r->stacks == NULL || r->frames == NULL) return -1;
    uint64_t deadline = prt_snap_now_ns() + (uint64_t)timeout_ms * 1000000u;
    for (size_t at = 0; at < n; at += PRT_SNAP_SLOTS) { /* batches, one deadline */
        size_t k = n - at < PRT_SNAP_SLOTS ? n - at : PRT_SNAP_SLOTS;
        pthread_mutex_lock(&prt_snap_mu);
        uint32_t gen;
        do gen = ++prt_snap_generation & 0xffffu;
        while (gen == 0);
        prt_snap_arm(e + at, k, gen);
        prt_snap_wait(e + at, k, gen, deadline);
        prt_snap_collect(e + at, k, gen, r);
        pthread_mutex_unlock(&prt_snap_mu);
    }
    size_t off = 0; /* frames were appended in order: point each stack at its own */
    for (size_t i = 0; i < r->nstacks; i++) {
        r->stacks[i].frames = r->frames + off;
        off += r->stacks[i].depth;
    }
    return 0;
}

PCP_EXPORT int pcp_snapshot(const char *path, const char *format, int timeout_ms, char *err, size_t errlen) {
    int fmt;
    int checked = prt_check_destination(path, format, "snapshot: ", &fmt, err, errlen);
    if (checked != PCP_OK) return checked;
    if (timeout_ms < 1 || timeout_ms > PRT_SNAP_MAX_TIMEOUT_MS) {
        prt_set_error(err, errlen, "profcore: snapshot timeout %d ms out of range 1..%d", timeout_ms,
                      PRT_SNAP_MAX_TIMEOUT_MS);
        return PCP_E_INVAL;
    }
    int rc = prt_ensure_handler(err, errlen);
    if (rc != PCP_OK) return rc;
    if (prt_snap_map_slots() != 0) {
        prt_set_error(err, errlen, "profcore: snapshot: cannot map its slots");
        return PCP_E_SYSTEM;
    }
    size_t n = 0;
    prt_snap_entry *e = prt_snap_list(&n);
    if (e == NULL) {
        prt_set_error(err, errlen, "profcore: snapshot: cannot list the threads: %s", strerror(errno));
        return PCP_E_SYSTEM;
    }
    if (prt_snap_caller_blocks_sigprof()) {
        pid_t self = prt_gettid();
        for (size_t i = 0; i < n; i++)
            if (e[i].tid == self) e[i] = e[--n];
    }
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    uint64_t t0 = prt_snap_now_ns();
    prt_snap_result r;
    memset(&r, 0, sizeof r);
    if (prt_snap_run(e, n, timeout_ms, &r) != 0) {
        prt_set_error(err, errlen, "profcore: snapshot: out of memory");
        rc = PCP_E_SYSTEM;
    } else {
        pcprof_profile p;
        memset(&p, 0, sizeof p);
        p.stacks = r.stacks;
        p.nstacks = r.nstacks;
        p.period_ns = 1;
        p.start_unix_ns = (int64_t)wall.tv_sec * 1000000000 + wall.tv_nsec;
        p.duration_ns = (int64_t)(prt_snap_now_ns() - t0);
        p.engine = "snapshot";
        rc = prt_write_profile(&p, path, fmt, err, errlen);
    }
    free(r.stacks);
    free(r.frames);
    free(e);
    return rc;
}

/* Fork child: slots armed or being filled by the parent's threads belong
 * to no thread here. */
void prt_snapshot_fork_child(void) {
    pthread_mutex_init(&prt_snap_mu, NULL);
    prt_snap_slot *slots = prt_g_snap_slots;
    if (slots == NULL) return;
    for (uint32_t i = 0; i < PRT_SNAP_SLOTS; i++) slots[i].state = PRT_SNAP_FREE;
}
