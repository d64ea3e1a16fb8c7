/* support.c — small helpers of the runtime: error messages, clocks and the
 * start/stop handshake of its helper threads (writer, ticker).
 * Nothing here runs in a signal handler. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "runtime_link.h"

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

/* Daemons close every descriptor they did not open, then open their own:
 * open() takes the lowest free number, so a descriptor of ours at a low
 * number would become the program's file or socket, and the handler's
 * wake-up write would land in it (seen: 8 bytes in a daemon's log).  Ours
 * live high, where a program's next open does not reach: at three
 * quarters of the descriptor limit (at least 64).  On failure fd stays. */
int prt_fd_move_high(int fd) {
    struct rlimit rl;
    long floor = 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 4 * 3 > 64)
        floor = (long)(rl.rlim_cur / 4 * 3);
    if (floor > 65536) floor = 65536;
    if (fd >= floor) return fd;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, (int)floor);
    if (high < 0) return fd;
    close(fd);
    return high;
}

int prt_link_fd_move_high(int fd) { return prt_fd_move_high(fd); }
