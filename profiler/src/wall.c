/* wall.c — the wall-clock engine's ticker thread.
 *
 * One thread, every signal blocked (it is never sampled, and it is told to
 * the registry as a profiler thread), sleeping to absolute CLOCK_MONOTONIC
 * deadlines one period apart: a late wake-up does not shift later ticks.
 * Each wake-up sends every known thread, running or blocked, one tick
 * whose weight is 1 + the deadlines that passed unserved (deadline
 * arithmetic: missed ticks are counted, not lost), so a thread's weight
 * over a run is its wall time x hz whatever the ticker's scheduling.
 * A tick's si_value is PRT_WALL_VALUE (internal.h), decoded by the handler.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static struct timespec prt_ns_ts(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    return ts;
}

/* Sleeps until `deadline`; returns the weight of the tick that is due:
 * 1 + the later deadlines already passed, and moves `deadline` past them. */
static uint32_t prt_ticker_wait(uint64_t *deadline, uint64_t period) {
    struct timespec d = prt_ns_ts(*deadline);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL) == EINTR) {
    }
    uint64_t now = prt_clock_ns(CLOCK_MONOTONIC);
    uint64_t missed = now > *deadline ? (now - *deadline) / period : 0;
    *deadline += (missed + 1) * period;
    return missed >= PRT_WALL_MAX_WEIGHT ? PRT_WALL_MAX_WEIGHT : (uint32_t)missed + 1u;
}

static void *prt_ticker_main(void *arg) {
    (void)arg;
    pid_t self = prt_gettid();
    prt_threads_skip(self);
    prt_helper *t = &prt_g_session.live.ticker;
    prt_helper_running(t);
    /* The view is complete before the ticker starts and fixed until it is
     * joined. */
    const prt_view *v = &prt_g_session.live.view;
    uint64_t period = v->period_ns;
    uint64_t deadline = prt_clock_ns(CLOCK_MONOTONIC) + period;
    for (;;) {
        uint32_t weight = prt_ticker_wait(&deadline, period);
        if (prt_helper_stopping(t)) break;
        prt_threads_wall_tick(v->token, weight);
    }
    return NULL;
}

int prt_ticker_start(char *err, size_t errlen) {
    sigset_t all;
    sigfillset(&all); /* no signal of the program lands on it */
    return prt_helper_start(&prt_g_session.live.ticker, prt_ticker_main, &all, "wall-clock ticker", err,
                            errlen);
}

/* The ticker wakes at most one period after the flag is set. */
void prt_ticker_stop(void) {
    prt_helper *t = &prt_g_session.live.ticker;
    if (t->tid == 0) return;
    prt_helper_ask_stop(t);
    prt_helper_join(t);
}
