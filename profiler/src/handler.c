/* handler.c — the SIGPROF handler: validate the signal, weigh it, unwind,
 * hand the sample to the core.  Everything here is async-signal-safe and
 * wait-free: no lock, no allocation, no libc beyond the async-signal-safe
 * list (clock_gettime, read of a perf event fd, write, syscall for gettid /
 * process_vm_readv), and
 * the only indirect call is the traceback hook (profcore_traceback_fn).
 *
 * Every delivery ends in exactly one of: ignored as foreign (not from a
 * timer of the running session: counted in signals_foreign, never offered),
 * ignored as already covered by its thread's tail (signals_after_tail, see
 * prt_note_delivery), or offered to the core once with its weight
 * (profcore_add, _nohandoff or _loss).  A thread tail (prt_offer_tail) is
 * one more offer, counted the same way.  Hence handler offered_weight == core offered_weight (I1 across
 * the boundary), which the stress tests check.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "profile.h"
#include "unwind_tables.h"

__thread prt_thread *prt_tls_self PRT_IE;
__thread uint32_t prt_tls_label PRT_IE;
__thread uint32_t prt_tls_critical PRT_IE;

const prt_view *prt_g_view;
prt_counters prt_g_counters;
uint32_t prt_g_inflight;
uint32_t prt_g_perf_fd_owner[PRT_PERF_FD_LIMIT];
uint64_t prt_g_perf_periods[PRT_PERF_FD_LIMIT];
uint64_t prt_g_itimer_covered_ns;
profcore_traceback_fn prt_g_hook;
void *prt_g_hook_user;

PROFCORE_SIGNAL_SAFE pid_t prt_gettid(void) { return (pid_t)syscall(SYS_gettid); }

PROFCORE_SIGNAL_SAFE static uint64_t prt_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

PROFCORE_SIGNAL_SAFE static void prt_count(uint64_t *c, uint64_t v) {
    __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

/* Bounded max update: a few CAS tries, then give up (a concurrent handler
 * just stored a value at least as recent; the max may be low by one
 * sample's difference under heavy contention, never blocking). */
PROFCORE_SIGNAL_SAFE static void prt_count_max(uint64_t *c, uint64_t v) {
    uint64_t old = __atomic_load_n(c, __ATOMIC_RELAXED);
    for (int i = 0; i < 4 && v > old; i++)
        if (__atomic_compare_exchange_n(c, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return;
}

/* A weight stays a sane 32-bit value. */
#define PRT_MAX_WEIGHT 1000000u

/* itimer: ITIMER_PROF runs on the process's CPU clock but the kernel
 * coalesces its expiries and reports no overrun (at 1 kHz a quarter of
 * them arrive), so a signal weighs the process CPU since the CPU the
 * previous ones covered, in whole periods (the remainder stays for the
 * next).  An estimate: the CPU of every thread (the profiler's own too)
 * lands on the stack of the thread the signal hit.  At least 1, so a
 * signal earlier than a full period borrows from the next.  Bounded
 * retries; under contention, one period. */
PROFCORE_SIGNAL_SAFE static uint32_t prt_itimer_weight(uint64_t period_ns) {
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 1u;
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    uint64_t old = __atomic_load_n(&prt_g_itimer_covered_ns, __ATOMIC_RELAXED);
    for (int i = 0; i < 4; i++) {
        if (old & PRT_TAIL_CLOSED) return 0u; /* after the stop's tail took this CPU */
        uint64_t w = now > old ? (now - old) / period_ns : 0;
        if (w == 0) w = 1;
        if (w > PRT_MAX_WEIGHT) w = PRT_MAX_WEIGHT;
        if (__atomic_compare_exchange_n(&prt_g_itimer_covered_ns, &old, old + w * period_ns, false,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return (uint32_t)w;
    }
    old = __atomic_fetch_add(&prt_g_itimer_covered_ns, period_ns, __ATOMIC_RELAXED);
    return (old & PRT_TAIL_CLOSED) ? 0u : 1u;
}

/* perf: a signal weighs the periods the task-clock counter advanced since
 * the previous one of this fd (read(2) of the event fd is
 * async-signal-safe and returns its count, read_format 0), so overflows
 * the kernel coalesced into one signal count.  At least 1: the signal says
 * one overflow happened. */
PROFCORE_SIGNAL_SAFE static uint32_t prt_perf_weight(int fd, uint64_t period_ns) {
    uint64_t count = 0;
    if (read(fd, &count, sizeof count) != (ssize_t)sizeof count) return 1u;
    uint64_t periods = count / period_ns;
    uint64_t last = __atomic_load_n(&prt_g_perf_periods[fd], __ATOMIC_RELAXED);
    uint64_t w = periods > last ? periods - last : 1u;
    if (w > PRT_MAX_WEIGHT) w = PRT_MAX_WEIGHT;
    __atomic_store_n(&prt_g_perf_periods[fd], last + w, __ATOMIC_RELAXED);
    return (uint32_t)w;
}

/* The weight of a delivery, or 0 when it is not ours (foreign): the
 * engine decides which si_code is legitimate, and the timer identity (the
 * session token in si_value, the perf fd's owner) rules out signals of
 * other sessions, other timers and kill(2). */
PROFCORE_SIGNAL_SAFE static uint32_t prt_signal_weight(const prt_view *s, const siginfo_t *si,
                                                       uint32_t *state) {
    *state = PCPROF_STATE_NONE;
    switch (s->engine) {
    case PCPROF_ENGINE_WALL: {
        if (si->si_code != SI_QUEUE || si->si_pid != getpid()) return 0;
        uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
        if (PRT_WALL_TOKEN(v) != (uint32_t)s->token) return 0;
        *state = PRT_WALL_STATE(v);
        return PRT_WALL_WEIGHT(v); /* 0 (never sent) makes it foreign */
    }
    case PCPROF_ENGINE_CTIMER: {
        if (si->si_code != SI_TIMER || si->si_value.sival_int != s->token) return 0;
        int over = si->si_overrun;
        if (over < 0) over = 0;
        if (over > (int)PRT_MAX_WEIGHT) over = (int)PRT_MAX_WEIGHT;
        return 1u + (uint32_t)over;
    }
    case PCPROF_ENGINE_ITIMER:
        return si->si_code == SI_KERNEL ? prt_itimer_weight(s->period_ns) : 0u;
    case PCPROF_ENGINE_PERF: {
        if (si->si_code != POLL_IN && si->si_code != POLL_HUP) return 0;
        int fd = si->si_fd;
        if (fd < 0 || fd >= PRT_PERF_FD_LIMIT) return 0;
        uint32_t owner = __atomic_load_n(&prt_g_perf_fd_owner[fd], __ATOMIC_ACQUIRE);
        return owner != 0 && owner == (uint32_t)prt_gettid() ? prt_perf_weight(fd, s->period_ns) : 0u;
    }
    default:
        return 0;
    }
}

PROFCORE_SIGNAL_SAFE static void prt_wake_writer(int fd) {
    uint64_t one = 1;
    ssize_t r = write(fd, &one, sizeof one); /* eventfd: never blocks (EFD_NONBLOCK) */
    (void)r;
}

/* Unwinds and offers one sample of `weight` to the core. */
PROFCORE_SIGNAL_SAFE static void prt_take_sample(const prt_view *s, profcore *pc, void *uc,
                                                 uint32_t weight, uint32_t state) {
    prt_thread *self = prt_tls_self;
    bool registered = self != NULL;
    uint32_t tid = registered ? (uint32_t)self->tid : (uint32_t)prt_gettid();
    uint64_t tag = PCPROF_TAG_MAKE(tid, prt_tls_label, state, !registered);
    prt_count(&prt_g_counters.offered_samples, 1);
    prt_count(&prt_g_counters.offered_weight, weight);
    if (!registered) prt_count(&prt_g_counters.unregistered_samples, 1);

    if (prt_tls_critical != 0) { /* not unwound: its weight counted exactly as a critical loss */
        profcore_add_loss(pc, PROFCORE_LOSS_CRITICAL, weight);
        prt_count(&prt_g_counters.critical_weight, weight);
        return;
    }
    uintptr_t frames[PCP_MAX_DEPTH + 1];
    /* One frame more than the core keeps, so it can mark truncation. */
    int n = prt_unwind_interrupted(uc, self, frames, s->max_depth + 1u);
    if (n <= 0) {
        profcore_add_loss(pc, PROFCORE_LOSS_UNWIND, weight);
        prt_count(&prt_g_counters.unwind_failures, 1);
        return;
    }
    /* A pc in no table: wake the writer once to look for new libraries. */
    if (prt_unwind_refresh_wake()) prt_wake_writer(s->wake_fd);
    uint32_t hint = tid;
    if (registered) {
        if (profcore_add(pc, tag, frames, (uint32_t)n, weight, hint) == PROFCORE_RECORDED_HANDOFF)
            prt_wake_writer(s->wake_fd);
    } else {
        /* A thread with no state never hands off: it evicts only into room
         * the log already has, else the sample is counted lost
         * (NOHANDOFF_FULL); docs/ARCHITECTURE.md, "Unregistered threads". */
        profcore_add_nohandoff(pc, tag, frames, (uint32_t)n, weight, hint);
    }
}

/* ---- thread tails: offered from normal context (threads.c) ---- */

/* Its address is the tail's frame inside the core: a data address is never
 * an unwound pc, and it is above PROFCORE_FRAME_RESERVED_END, so the core
 * records it like any stack; the aggregate renames it. */
static const char prt_tail_mark = 't';

uintptr_t prt_tail_core_frame(void) { return (uintptr_t)&prt_tail_mark; }

void prt_offer_tail(const prt_view *v, uint32_t tid, uint32_t label, uint32_t weight) {
    uintptr_t frame = prt_tail_core_frame();
    prt_count(&prt_g_counters.offered_samples, 1);
    prt_count(&prt_g_counters.offered_weight, weight);
    prt_count(&prt_g_counters.tail_samples, 1);
    prt_count(&prt_g_counters.tail_weight, weight);
    uint64_t tag = PCPROF_TAG_MAKE(tid, label, PCPROF_STATE_NONE, 0);
    if (profcore_add(v->pc, tag, &frame, 1, weight, tid) == PROFCORE_RECORDED_HANDOFF)
        prt_wake_writer(v->wake_fd);
}

/* A delivery of the thread's own timer (ctimer, perf) adds its weight to
 * the thread's entry; false when the thread's tail was already taken (the
 * tail counted this CPU: offering it again would count it twice).  The one
 * atomic add against the tail's exchange (prt_thread_tail, threads.c) is
 * what orders the two, even when the tail is taken from another thread. */
PROFCORE_SIGNAL_SAFE static bool prt_note_delivery(const prt_view *v, prt_thread *self, uint32_t weight) {
    if (self == NULL || (v->engine != PCPROF_ENGINE_CTIMER && v->engine != PCPROF_ENGINE_PERF)) return true;
    uint64_t before = __atomic_fetch_add(&self->delivered, weight, __ATOMIC_RELAXED);
    return (before & PRT_TAIL_CLOSED) == 0;
}

#ifdef PRT_TEST_VIEW_PROBE
/* Tests only (tests/profiler/session_race.c): sees every non-NULL view a
 * handler acts on, before it is used. */
PROFCORE_SIGNAL_SAFE void prt_test_view_probe(const prt_view *v);
#define PRT_VIEW_PROBE(v) prt_test_view_probe(v)
#else
#define PRT_VIEW_PROBE(v) ((void)0)
#endif

PROFCORE_SIGNAL_SAFE void prt_handler_entry(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    int saved_errno = errno;
    /* In-flight bracket: prt_view_unpublish (session.c) stores NULL, then
     * waits for this count to reach 0 before anything of the view is freed.
     * Seq_cst on both sides (a store-load handshake with its store). */
    __atomic_add_fetch(&prt_g_inflight, 1u, __ATOMIC_SEQ_CST);
    /* Acquire pair of prt_view_publish's release (seq_cst) store: a
     * non-NULL view is complete. */
    const prt_view *v = __atomic_load_n(&prt_g_view, __ATOMIC_SEQ_CST);
    if (prt_snapshot_answer(si, uc)) {
        /* a thread snapshot's request (snapshot.c): answered, not a sample */
    } else if (v != NULL) {
        PRT_VIEW_PROBE(v);
        uint64_t t0 = prt_mono_ns();
        prt_count(&prt_g_counters.signals, 1);
        uint32_t state;
        uint32_t weight = prt_signal_weight(v, si, &state);
        if (weight == 0) {
            prt_count(&prt_g_counters.signals_foreign, 1);
        } else if (!prt_note_delivery(v, prt_tls_self, weight)) {
            prt_count(&prt_g_counters.signals_after_tail, 1);
        } else {
            prt_take_sample(v, v->pc, uc, weight, state);
            uint64_t dt = prt_mono_ns() - t0;
            prt_count(&prt_g_counters.handler_ns_total, dt);
            prt_count_max(&prt_g_counters.handler_ns_max, dt);
        }
    }
    /* Release: pairs with prt_view_unpublish's seq_cst loads of the count. */
    __atomic_sub_fetch(&prt_g_inflight, 1u, __ATOMIC_RELEASE);
    errno = saved_errno;
}

/* ---- critical sections: a per-thread depth, read by the handler ---------- */
PROFCORE_SIGNAL_SAFE PCP_EXPORT void pcp_critical_enter(void) {
    prt_tls_critical++;
    /* The handler runs on this thread: a compiler fence orders the count
     * before the section's code. */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

PROFCORE_SIGNAL_SAFE PCP_EXPORT void pcp_critical_leave(void) {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (prt_tls_critical > 0) prt_tls_critical--;
}
