/* support.c — small helpers of the runtime: error messages, clocks and the
 * start/stop handshake of its helper threads (writer, ticker).
 * Nothing here runs in a signal handler. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

void prt_set_error(char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

uint64_t prt_clock_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int prt_helper_start(prt_helper *h, void *(*main_fn)(void *), const sigset_t *blocked, const char *what,
                     char *err, size_t errlen) {
    sigset_t old;
    /* Marked as the runtime's own from the block to the restore: the
     * thread is born with `blocked` and is not one of the program's
     * (own_sigmask.c). */
    prt_own_mask_enter();
    prt_sigmask_own(SIG_BLOCK, blocked, &old); /* the thread inherits the blocked set */
    __atomic_store_n(&h->stop, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&h->tid, 0, __ATOMIC_RELEASE);
    int r = pthread_create(&h->thread, NULL, main_fn, NULL);
    prt_sigmask_own(SIG_SETMASK, &old, NULL);
    prt_own_mask_leave();
    if (r != 0) {
        prt_set_error(err, errlen, "profcore: cannot start the %s thread: %s", what, strerror(r));
        return PCP_E_SYSTEM;
    }
    /* Acquire pair of the thread's release store of its tid (prt_helper_running). */
    while (__atomic_load_n(&h->tid, __ATOMIC_ACQUIRE) == 0) prt_sleep_us(100);
    return PCP_OK;
}

void prt_helper_running(prt_helper *h) {
    __atomic_store_n(&h->tid, prt_gettid(), __ATOMIC_RELEASE); /* pairs: prt_helper_start */
}

bool prt_helper_stopping(prt_helper *h) {
    bool stop = __atomic_load_n(&h->stop, __ATOMIC_ACQUIRE); /* pairs: prt_helper_ask_stop */
    /* The thread's last look: its CPU, for the profiler's own account
     * (read by the stopper after pthread_join, which orders it). */
    if (stop) h->cpu_ns = prt_clock_ns(CLOCK_THREAD_CPUTIME_ID);
    return stop;
}

/* A running helper's CPU clock (0 when there is none or it is gone). */
static uint64_t prt_helper_cpu_live(const prt_helper *h) {
    clockid_t c;
    if (__atomic_load_n(&h->tid, __ATOMIC_ACQUIRE) == 0 || pthread_getcpuclockid(h->thread, &c) != 0) return 0;
    struct timespec ts;
    return clock_gettime(c, &ts) == 0 ? (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec : 0;
}

uint64_t prt_helpers_cpu_ns(void) {
    const prt_session *s = &prt_g_session;
    if (!s->running) return s->result.helpers_cpu_ns;
    return prt_helper_cpu_live(&s->live.writer) + prt_helper_cpu_live(&s->live.ticker) +
           prt_helper_cpu_live(&s->live.rotator);
}

void prt_helper_ask_stop(prt_helper *h) {
    __atomic_store_n(&h->stop, 1, __ATOMIC_RELEASE); /* pairs: prt_helper_stopping */
}

void prt_helper_join(prt_helper *h) {
    pthread_join(h->thread, NULL);
    h->tid = 0;
}

void prt_sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}
