/* threads.c — the thread registry and the per-thread timers.
 *
 * The registry is a list under one mutex; nothing here runs in a signal
 * handler.  A thread's timer is created "from outside" on the thread's own
 * CPU clock (derived from its tid), so the writer thread can arm threads it
 * discovers in /proc/self/task exactly like threads that register.
 *
 * Invariants:
 *   - at most one entry (hence one timer) per live tid: a thread is never
 *     sampled twice for one expiry;
 *   - a registered thread's TLS pointer is set only after its entry is
 *     complete, and cleared (with a signal fence) before the entry is
 *     freed, so its handler never sees a dangling pointer;
 *   - armed entries exist only while a session runs (prt_g_arm.view != NULL).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"
#include "internal.h"
#include "profile.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

static pthread_mutex_t prt_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static prt_thread *prt_reg_head;
static pthread_key_t prt_reg_key;
static pthread_once_t prt_reg_key_once = PTHREAD_ONCE_INIT;

/* The arming parameters of the running session: its view (engine, period,
 * token; NULL: none) and the profiler's own threads. */
static struct {
    const prt_view *view;
    pid_t skip_tid;   /* the writer thread: never sampled */
    pid_t skip_more[2]; /* the wall-clock ticker, the rotator: never sampled */
    uint64_t start_ticks; /* the session's start, in /proc starttime units (clock ticks since boot) */
} prt_g_arm;

static bool prt_is_profiler_thread(pid_t tid) {
    return tid == prt_g_arm.skip_tid || (prt_g_arm.skip_more[0] != 0 && tid == prt_g_arm.skip_more[0]) ||
           (prt_g_arm.skip_more[1] != 0 && tid == prt_g_arm.skip_more[1]);
}

static uint64_t prt_timers_created, prt_timers_deleted;

/* ---- per-thread engines ---- */

/* The CPU clock of any thread of this process, by tid (the encoding
 * glibc's pthread_getcpuclockid uses: CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED). */
static clockid_t prt_thread_cpu_clock(pid_t tid) { return (clockid_t)((~(unsigned)tid << 3) | 6u); }

static int prt_arm_ctimer(prt_thread *t) {
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = __atomic_load_n(&prt_g_signal, __ATOMIC_RELAXED);
    sev.sigev_notify_thread_id = t->tid;
    sev.sigev_value.sival_int = prt_g_arm.view->token;
    if (timer_create(prt_thread_cpu_clock(t->tid), &sev, &t->timer) != 0) return -1;
    struct itimerspec its;
    its.it_interval.tv_sec = (time_t)(prt_g_arm.view->period_ns / 1000000000u);
    its.it_interval.tv_nsec = (long)(prt_g_arm.view->period_ns % 1000000000u);
    its.it_value = its.it_interval;
    /* Absolute: one period of the thread's CPU since the fork (fork.c). */
    int flags = t->count_since_fork ? TIMER_ABSTIME : 0;
    if (timer_settime(t->timer, flags, &its, NULL) != 0) {
        timer_delete(t->timer);
        return -1;
    }
    return 0;
}

static long prt_perf_event_open(struct perf_event_attr *a, pid_t tid) {
    return syscall(SYS_perf_event_open, a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static void prt_perf_attr(struct perf_event_attr *a, uint64_t period_ns) {
    memset(a, 0, sizeof *a);
    a->size = sizeof *a;
    a->type = PERF_TYPE_SOFTWARE;
    a->config = PERF_COUNT_SW_TASK_CLOCK;
    a->sample_period = period_ns;
    a->wakeup_events = 1;
    a->exclude_kernel = 0;
    a->disabled = 1;
}

static int prt_arm_perf(prt_thread *t) {
    struct perf_event_attr a;
    prt_perf_attr(&a, prt_g_arm.view->period_ns);
    long fd = prt_perf_event_open(&a, t->tid);
    if (fd < 0) return -1;
    if (fd >= PRT_PERF_FD_LIMIT) { /* the handler could not validate it */
        close((int)fd);
        errno = EMFILE;
        return -1;
    }
    struct f_owner_ex owner = {F_OWNER_TID, t->tid};
    if (fcntl((int)fd, F_SETSIG, __atomic_load_n(&prt_g_signal, __ATOMIC_RELAXED)) != 0 || fcntl((int)fd, F_SETOWN_EX, &owner) != 0 ||
        fcntl((int)fd, F_SETFL, O_ASYNC | O_NONBLOCK) != 0) {
        close((int)fd);
        return -1;
    }
    __atomic_store_n(&prt_g_perf_periods[fd], 0u, __ATOMIC_RELAXED); /* ordered by the release below */
    __atomic_store_n(&prt_g_perf_fd_owner[fd], (uint32_t)t->tid, __ATOMIC_RELEASE);
    if (ioctl((int)fd, PERF_EVENT_IOC_ENABLE, 0) != 0) {
        __atomic_store_n(&prt_g_perf_fd_owner[fd], 0u, __ATOMIC_RELEASE);
        close((int)fd);
        return -1;
    }
    t->perf_fd = (int)fd;
    return 0;
}

/* Arms t for the running session; the registry lock is held.  The tail
 * starts here: the thread's CPU clock now, nothing delivered (no signal of
 * this timer exists yet, and the handler's adds of a previous session
 * ended with its unpublish). */
static int prt_arm(prt_thread *t) {
    if (t->armed || prt_g_arm.view == NULL || prt_is_profiler_thread(t->tid)) return 0;
    __atomic_store_n(&t->delivered, 0, __ATOMIC_RELAXED);
    /* The first arming takes the fork child's request; pcp_start's own
     * registration re-arms the same entry and must keep it, or the CPU
     * since the fork is neither sampled nor in the tail. */
    if (prt_fork_take_count_since_fork(t->tid)) t->count_since_fork = true;
    t->cpu_armed_ns = t->tail_from_start || t->count_since_fork ? 0 : prt_clock_ns(prt_thread_cpu_clock(t->tid));
    int r = 0;
    if (prt_g_arm.view->engine == PCPROF_ENGINE_CTIMER) r = prt_arm_ctimer(t);
    else if (prt_g_arm.view->engine == PCPROF_ENGINE_PERF) r = prt_arm_perf(t);
    else return 0; /* itimer: process-wide; wall: the ticker signals the list */
    if (r == 0) {
        t->armed = true;
        prt_timers_created++;
    }
    return r;
}

/* Deleting a POSIX timer also discards its queued signal; closing a perf
 * fd after clearing its owner makes a late signal of it foreign. */
static void prt_disarm(prt_thread *t) {
    if (!t->armed) return; /* armed: a session runs, prt_g_arm.view is set */
    if (prt_g_arm.view->engine == PCPROF_ENGINE_CTIMER || t->perf_fd < 0) {
        timer_delete(t->timer);
    } else {
        ioctl(t->perf_fd, PERF_EVENT_IOC_DISABLE, 0);
        __atomic_store_n(&prt_g_perf_fd_owner[t->perf_fd], 0u, __ATOMIC_RELEASE);
        close(t->perf_fd);
        t->perf_fd = -1;
    }
    t->armed = false;
    prt_timers_deleted++;
}

/* ---- thread tails (lock held) ----
 *
 * A thread's timer covers its CPU only up to the last expiry delivered:
 * the kernel checks CPU timers at a tick that finds the thread running and
 * re-arms a periodic one only when its signal is dequeued, so a thread that
 * exits (or is stopped) with an expiry due or queued loses it
 * (bench/RESULTS.md, "Thread tails").  The tail is the rest: the thread's
 * CPU since its timer was armed minus the delivered weight x period,
 * offered as one sample under [unsampled: thread tail].
 *
 * Order (the timer is already disarmed: nothing new is generated, and a
 * queued signal was discarded with it):
 *   1. exchange `delivered` for PRT_TAIL_CLOSED: the weight read here is
 *      every delivery the handler will offer; one arriving later (already
 *      dequeued on another CPU) sees CLOSED and is not offered, its CPU
 *      being in the tail (prt_note_delivery, handler.c);
 *   2. read the thread's CPU clock (after 1, so it covers any such one);
 *   3. offer the difference, in periods.  The sub-period remainder is
 *      carried to the next tail of the session, so the sum of tails is
 *      exact to one period and each thread to one period. */
static uint64_t prt_tail_residual_ns; /* the session's carried remainder */

static void prt_thread_tail(prt_thread *t) {
    const prt_view *v = prt_g_arm.view;
    uint64_t delivered = __atomic_exchange_n(&t->delivered, PRT_TAIL_CLOSED, __ATOMIC_RELAXED) & ~PRT_TAIL_CLOSED;
    struct timespec ts;
    if (clock_gettime(prt_thread_cpu_clock(t->tid), &ts) != 0) return; /* gone: nothing to read */
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    uint64_t covered = t->cpu_armed_ns + delivered * v->period_ns;
    if (now <= covered) return;
    uint64_t ns = now - covered + prt_tail_residual_ns;
    uint64_t weight = ns / v->period_ns;
    if (weight > UINT32_MAX) weight = UINT32_MAX;
    prt_tail_residual_ns = ns - weight * v->period_ns;
    if (weight == 0) return;
    uint32_t label = t == prt_tls_self ? prt_tls_label : 0; /* another thread's label is its TLS */
    prt_offer_tail(v, (uint32_t)t->tid, label, (uint32_t)weight);
}

/* The wall-clock engine's tail: the weight of ticks the ticker carried
 * for t because one was still pending (prt_threads_wall_tick) and never
 * sent.  Offered like a thread tail, so the thread's wall time is whole.
 * The ticker is the only other writer of the carry and holds the lock. */
static void prt_wall_tail(prt_thread *t) {
    uint32_t carry = t->wall_carry;
    t->wall_carry = 0;
    if (carry == 0 || prt_g_arm.view == NULL || prt_g_arm.view->engine != PCPROF_ENGINE_WALL) return;
    uint32_t label = t == prt_tls_self ? prt_tls_label : 0;
    prt_offer_tail(prt_g_arm.view, (uint32_t)t->tid, label, carry);
}

/* Disarms t and, when its engine is a per-thread clock, offers its tail;
 * under the wall-clock engine, the ticks it carried. */
static void prt_disarm_with_tail(prt_thread *t) {
    bool per_thread = t->armed && (prt_g_arm.view->engine == PCPROF_ENGINE_CTIMER ||
                                   prt_g_arm.view->engine == PCPROF_ENGINE_PERF);
    prt_disarm(t);
    if (per_thread && t->registered) prt_thread_tail(t);
    prt_wall_tail(t);
}

/* ---- registry list (lock held) ---- */

static prt_thread *prt_find(pid_t tid) {
    for (prt_thread *t = prt_reg_head; t != NULL; t = t->next)
        if (t->tid == tid) return t;
    return NULL;
}

static void prt_unlink(prt_thread *victim) {
    for (prt_thread **p = &prt_reg_head; *p != NULL; p = &(*p)->next)
        if (*p == victim) {
            *p = victim->next;
            return;
        }
}

static prt_thread *prt_new_entry(pid_t tid) {
    prt_thread *t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    t->tid = tid;
    t->perf_fd = -1;
    t->next = prt_reg_head;
    prt_reg_head = t;
    return t;
}

/* Field 22 of /proc/self/task/TID/stat (start time in clock ticks); 0 if
 * the thread is gone. */
static uint64_t prt_task_starttime(pid_t tid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    return pcprof_stat_starttime(path);
}

/* ---- registration (public) ---- */

static void prt_unregister_entry(prt_thread *t) {
    prt_disarm_with_tail(t);
    prt_unlink(t);
    free(t);
}

/* The calling thread's own entry t goes.  Its timer is deleted and its
 * tail taken while its TLS still points at t, so every delivery before the
 * delete was added to t->delivered (a delivery after it cannot exist); the
 * TLS is cleared (with a signal fence) before t is freed. */
static void prt_unregister_self(prt_thread *t) {
    pthread_mutex_lock(&prt_reg_mu);
    prt_disarm_with_tail(t);
    prt_tls_self = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    prt_unregister_entry(t);
    pthread_mutex_unlock(&prt_reg_mu);
}

static void prt_thread_exit_destructor(void *arg) { prt_unregister_self((prt_thread *)arg); }

static bool prt_reg_key_made;
static void prt_make_key(void) {
    prt_reg_key_made = pthread_key_create(&prt_reg_key, prt_thread_exit_destructor) == 0;
}

PCP_EXPORT int pcp_register_thread(void) {
    if (prt_tls_self != NULL) return PCP_OK;
    prt_install_atfork(); /* a fork child must forget this entry */
    pthread_once(&prt_reg_key_once, prt_make_key);
    pthread_attr_t attr;
    void *stack_addr = NULL;
    size_t stack_size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return PCP_E_SYSTEM;
    int r = pthread_attr_getstack(&attr, &stack_addr, &stack_size);
    pthread_attr_destroy(&attr);
    if (r != 0) return PCP_E_SYSTEM;
    pid_t tid = prt_gettid();
    pthread_mutex_lock(&prt_reg_mu);
    prt_thread *t = prt_find(tid);
    bool fresh = t == NULL;
    if (t == NULL) t = prt_new_entry(tid);
    if (t == NULL) {
        pthread_mutex_unlock(&prt_reg_mu);
        return PCP_E_SYSTEM;
    }
    t->stack_lo = (uintptr_t)stack_addr;
    t->stack_hi = (uintptr_t)stack_addr + stack_size;
    t->starttime = prt_task_starttime(tid);
    /* A thread that began inside the session and was never sampled before
     * (no discovered entry): the CPU it spent before registering (start-up,
     * the registration itself) is the session's too.  starttime has clock
     * tick resolution, so a thread begun in the tick of the start counts
     * from its beginning. */
    t->tail_from_start = fresh && prt_g_arm.view != NULL && t->starttime >= prt_g_arm.start_ticks;
    t->registered = true;
    /* A discovered entry's timer ran without TLS: its deliveries were not
     * added to `delivered`.  Armed again once the TLS is set, so the tail
     * counts only what this entry's handler saw. */
    prt_disarm(t);
    pthread_mutex_unlock(&prt_reg_mu);
    pthread_setspecific(prt_reg_key, t);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* entry complete before the handler sees it */
    prt_tls_self = t;
    pthread_mutex_lock(&prt_reg_mu);
    int armed = prt_arm(t);
    pthread_mutex_unlock(&prt_reg_mu);
    return armed == 0 ? PCP_OK : PCP_E_SYSTEM;
}

PCP_EXPORT int pcp_unregister_thread(void) {
    prt_thread *t = prt_tls_self;
    if (t == NULL) return PCP_OK;
    pthread_setspecific(prt_reg_key, NULL);
    prt_unregister_self(t);
    return PCP_OK;
}

/* ---- session-wide operations ---- */

/* Adds every thread of /proc/self/task that has no entry (or whose tid was
 * reused), arms entries that are not armed, and forgets discovered
 * threads that exited.  Lock held. */
static void prt_scan_locked(void) {
    for (prt_thread *t = prt_reg_head; t != NULL; t = t->next) t->seen = false;
    DIR *d = opendir("/proc/self/task");
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        if (prt_is_profiler_thread(tid)) continue;
        prt_thread *t = prt_find(tid);
        uint64_t st = prt_task_starttime(tid);
        if (st == 0) continue; /* exited meanwhile */
        if (t != NULL && !t->registered && t->starttime != st) {
            prt_unregister_entry(t); /* tid reused by a new thread */
            t = NULL;
        }
        if (t == NULL) {
            t = prt_new_entry(tid);
            if (t == NULL) continue;
            t->starttime = st;
        }
        t->seen = true;
        prt_arm(t);
    }
    closedir(d);
    prt_thread *t = prt_reg_head;
    while (t != NULL) {
        prt_thread *next = t->next;
        if (!t->seen && !t->registered) prt_unregister_entry(t);
        t = next;
    }
}

int prt_threads_arm_all(const prt_view *v, pid_t skip_tid, char *err, size_t errlen) {
    pthread_mutex_lock(&prt_reg_mu);
    prt_g_arm.view = v; /* fixed until prt_threads_disarm_all */
    prt_g_arm.skip_tid = skip_tid;
    memset(prt_g_arm.skip_more, 0, sizeof prt_g_arm.skip_more);
    prt_tail_residual_ns = 0;
    prt_g_arm.start_ticks = prt_clock_ns(CLOCK_BOOTTIME) / (1000000000u / (uint64_t)sysconf(_SC_CLK_TCK));
    int failed = 0, first_errno = 0;
    for (prt_thread *t = prt_reg_head; t != NULL; t = t->next)
        if (prt_arm(t) != 0 && failed++ == 0) first_errno = errno;
    prt_scan_locked();
    pthread_mutex_unlock(&prt_reg_mu);
    if (failed) {
        prt_set_error(err, errlen, "profcore: could not arm %d thread timer(s): %s", failed,
                      strerror(first_errno));
        return -1;
    }
    return 0;
}

void prt_threads_disarm_all(void) {
    pthread_mutex_lock(&prt_reg_mu);
    prt_thread *t = prt_reg_head;
    while (t != NULL) {
        prt_thread *next = t->next;
        prt_disarm_with_tail(t); /* every live thread's tail, the exit of the whole process too */
        t->count_since_fork = false; /* a later session counts from its own start */
        t->tail_from_start = false;  /* so does a thread that registered as it began */
        if (!t->registered) prt_unregister_entry(t);
        t = next;
    }
    prt_g_arm.view = NULL;
    pthread_mutex_unlock(&prt_reg_mu);
}

void prt_threads_rescan(void) {
    pthread_mutex_lock(&prt_reg_mu);
    if (prt_g_arm.view != NULL) prt_scan_locked();
    pthread_mutex_unlock(&prt_reg_mu);
}

void prt_threads_counts(uint64_t *registered, uint64_t *discovered, uint64_t *created,
                        uint64_t *deleted) {
    pthread_mutex_lock(&prt_reg_mu);
    *registered = *discovered = 0;
    for (prt_thread *t = prt_reg_head; t != NULL; t = t->next) {
        if (t->registered) (*registered)++;
        else (*discovered)++;
    }
    *created = prt_timers_created;
    *deleted = prt_timers_deleted;
    pthread_mutex_unlock(&prt_reg_mu);
}

/* ---- the wall-clock engine's ticks (ticker thread, never a handler) ---- */

/* Helper threads of the embedding library (the preload helper) that block
 * every signal by design: never asked for a snapshot. */
#define PRT_INTERNAL_MAX 4
static pid_t prt_internal_tids[PRT_INTERNAL_MAX]; /* under prt_reg_mu */

/* runtime_link.h: the preload library's helper thread. */
void prt_link_mark_internal_thread(pid_t tid) {
    pthread_mutex_lock(&prt_reg_mu);
    for (int i = 0; i < PRT_INTERNAL_MAX; i++)
        if (prt_internal_tids[i] == 0 || prt_internal_tids[i] == tid) {
            prt_internal_tids[i] = tid;
            break;
        }
    pthread_mutex_unlock(&prt_reg_mu);
}

bool prt_threads_is_profiler(pid_t tid) {
    pthread_mutex_lock(&prt_reg_mu);
    bool r = prt_g_arm.view != NULL && prt_is_profiler_thread(tid);
    for (int i = 0; i < PRT_INTERNAL_MAX && !r; i++) r = prt_internal_tids[i] == tid;
    pthread_mutex_unlock(&prt_reg_mu);
    return r;
}

void prt_threads_skip(pid_t tid) {
    pthread_mutex_lock(&prt_reg_mu);
    int slot = prt_g_arm.skip_more[0] == 0 || prt_g_arm.skip_more[0] == tid ? 0 : 1;
    prt_g_arm.skip_more[slot] = tid;
    prt_thread *t = prt_find(tid);
    if (t != NULL && !t->registered) prt_unregister_entry(t); /* discovered before it said so */
    pthread_mutex_unlock(&prt_reg_mu);
}

/* What the ticker needs of thread `tid`, from /proc/self/task/TID/status:
 * its state as a PCPROF_STATE_* (NONE when the thread is gone) and whether
 * signal `sig` is already pending on it (SigPnd, the thread's private
 * pending set).  Read by the ticker, outside any handler: the handler runs
 * on the sampled thread, which is running by then whatever it was. */
static uint32_t prt_task_probe(pid_t tid, int sig, bool *pending) {
    char path[64], buf[4096];
    *pending = false;
    snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PCPROF_STATE_NONE;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return PCPROF_STATE_NONE;
    buf[n] = '\0';
    /* "Name:" comes first and escapes its newlines, so every key below
     * starts a line. */
    const char *st = strstr(buf, "\nState:\t");
    if (st == NULL) return PCPROF_STATE_NONE;
    const char *pnd = strstr(st, "\nSigPnd:\t");
    if (pnd != NULL && sig >= 1 && sig <= 64) {
        unsigned long long mask = strtoull(pnd + 9, NULL, 16);
        *pending = (mask >> (sig - 1)) & 1u;
    }
    switch (st[8]) {
    case 'R': return PCPROF_STATE_RUNNING;
    case 'S': return PCPROF_STATE_SLEEPING;
    case 'X': case 'Z': return PCPROF_STATE_NONE; /* exiting */
    default: return PCPROF_STATE_OTHER; /* D (disk), T/t (stopped, traced), ... */
    }
}

/* Queues one tick on thread `tid` (see PRT_WALL_VALUE in internal.h). */
static int prt_queue_tick(pid_t tid, uint64_t value) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int sig = __atomic_load_n(&prt_g_signal, __ATOMIC_RELAXED);
    si.si_signo = sig;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_ptr = (void *)(uintptr_t)value;
    return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, sig, &si);
}

_Static_assert(sizeof(void *) == 8, "the wall-clock tick needs a 64-bit si_value");

/* A tick is a standard signal: sent while the previous one is still
 * pending on the thread (a runnable thread that got no CPU for a period,
 * one in uninterruptible sleep), the kernel drops it and its weight with
 * it.  So a tick is sent only to a thread with none pending; otherwise its
 * weight is carried, under the lock, and goes with the next tick that is
 * sent.  Whatever is still carried when the thread's entry goes (its exit,
 * the session's stop) is offered as the thread's tail (prt_wall_tail): the
 * wall time of every known thread is in the profile, delivered or not.
 * Only the ticker sends ticks, so "none pending" cannot turn into
 * "pending" between the probe and the send (a foreign SIGPROF aside). */
void prt_threads_wall_tick(int token, uint32_t weight) {
    if (weight > PRT_WALL_MAX_WEIGHT) weight = PRT_WALL_MAX_WEIGHT;
    int sig = __atomic_load_n(&prt_g_signal, __ATOMIC_RELAXED);
    pthread_mutex_lock(&prt_reg_mu);
    for (prt_thread *t = prt_reg_head; t != NULL; t = t->next) {
        if (prt_is_profiler_thread(t->tid)) continue;
        bool pending;
        uint32_t state = prt_task_probe(t->tid, sig, &pending);
        if (state == PCPROF_STATE_NONE) continue; /* gone: its carry is offered when its entry goes */
        uint64_t w = (uint64_t)t->wall_carry + weight;
        uint32_t carry_max = w > UINT32_MAX ? UINT32_MAX : (uint32_t)w;
        if (pending) {
            t->wall_carry = carry_max;
            continue;
        }
        /* A carry beyond one tick's weight (hours at 100 Hz) goes over
         * several ticks. */
        uint32_t send = w > PRT_WALL_MAX_WEIGHT ? PRT_WALL_MAX_WEIGHT : (uint32_t)w;
        bool sent = prt_queue_tick(t->tid, PRT_WALL_VALUE(token, state, send)) == 0;
        t->wall_carry = sent ? (uint32_t)(w - send) : carry_max;
    }
    pthread_mutex_unlock(&prt_reg_mu);
}

/* ---- fork (fork.c's atfork handlers) ---- */

void prt_threads_fork_prepare(void) { pthread_mutex_lock(&prt_reg_mu); }
void prt_threads_fork_parent(void) { pthread_mutex_unlock(&prt_reg_mu); }

/* In the child every entry names a thread of the parent (the forking
 * thread's too: its tid changed).  Entries are freed without timer_delete
 * (the child has no timers; an id could name one it creates later); a perf
 * fd is the child's own copy of the parent's event and is closed.  The
 * forking thread forgets its TLS and key value, so neither the handler nor
 * the exit destructor ever sees a freed entry; it registers again at the
 * next pcp_start. */
void prt_threads_fork_child(void) {
    pthread_mutex_init(&prt_reg_mu, NULL);
    prt_tls_self = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (prt_reg_key_made) pthread_setspecific(prt_reg_key, NULL);
    prt_thread *t = prt_reg_head;
    while (t != NULL) {
        prt_thread *next = t->next;
        if (t->perf_fd >= 0) {
            __atomic_store_n(&prt_g_perf_fd_owner[t->perf_fd], 0u, __ATOMIC_RELEASE);
            close(t->perf_fd);
        }
        free(t);
        t = next;
    }
    prt_reg_head = NULL;
    memset(&prt_g_arm, 0, sizeof prt_g_arm);
    memset(prt_internal_tids, 0, sizeof prt_internal_tids); /* the parent's threads */
    prt_timers_created = prt_timers_deleted = 0;
}

/* Can this process open a task-clock event on itself? */
int prt_perf_probe(char *err, size_t errlen) {
    struct perf_event_attr a;
    prt_perf_attr(&a, 10000000u);
    long fd = prt_perf_event_open(&a, 0);
    if (fd >= 0) {
        close((int)fd);
        return 0;
    }
    int e = errno;
    char paranoid[32] = "?";
    FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
    if (f != NULL) {
        if (fgets(paranoid, sizeof paranoid, f) != NULL) paranoid[strcspn(paranoid, "\n")] = '\0';
        fclose(f);
    }
    prt_set_error(err, errlen,
                  "profcore: engine 'perf' not permitted: perf_event_open(task-clock): %s "
                  "(kernel.perf_event_paranoid=%s); use engine 'ctimer'",
                  strerror(e), paranoid);
    return -1;
}
