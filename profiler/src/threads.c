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
 *   - armed entries exist only while a session runs (pcp_g_arm.view != NULL).
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

#include "internal.h"
#include "profile.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

static pthread_mutex_t pcp_reg_mu = PTHREAD_MUTEX_INITIALIZER;
static pcp_thread *pcp_reg_head;
static pthread_key_t pcp_reg_key;
static pthread_once_t pcp_reg_key_once = PTHREAD_ONCE_INIT;

/* The arming parameters of the running session: its view (engine, period,
 * token; NULL: none) and the profiler's own threads. */
static struct {
    const pcp_view *view;
    pid_t skip_tid;   /* the writer thread: never sampled */
    pid_t skip_tid2;  /* the wall-clock ticker: never sampled */
} pcp_g_arm;

static bool pcp_is_profiler_thread(pid_t tid) {
    return tid == pcp_g_arm.skip_tid || (pcp_g_arm.skip_tid2 != 0 && tid == pcp_g_arm.skip_tid2);
}

static uint64_t pcp_timers_created, pcp_timers_deleted;

/* ---- per-thread engines ---- */

/* The CPU clock of any thread of this process, by tid (the encoding
 * glibc's pthread_getcpuclockid uses: CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED). */
static clockid_t pcp_thread_cpu_clock(pid_t tid) { return (clockid_t)((~(unsigned)tid << 3) | 6u); }

static int pcp_arm_ctimer(pcp_thread *t) {
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = SIGPROF;
    sev.sigev_notify_thread_id = t->tid;
    sev.sigev_value.sival_int = pcp_g_arm.view->token;
    if (timer_create(pcp_thread_cpu_clock(t->tid), &sev, &t->timer) != 0) return -1;
    struct itimerspec its;
    its.it_interval.tv_sec = (time_t)(pcp_g_arm.view->period_ns / 1000000000u);
    its.it_interval.tv_nsec = (long)(pcp_g_arm.view->period_ns % 1000000000u);
    its.it_value = its.it_interval;
    if (timer_settime(t->timer, 0, &its, NULL) != 0) {
        timer_delete(t->timer);
        return -1;
    }
    return 0;
}

static long pcp_perf_event_open(struct perf_event_attr *a, pid_t tid) {
    return syscall(SYS_perf_event_open, a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static void pcp_perf_attr(struct perf_event_attr *a, uint64_t period_ns) {
    memset(a, 0, sizeof *a);
    a->size = sizeof *a;
    a->type = PERF_TYPE_SOFTWARE;
    a->config = PERF_COUNT_SW_TASK_CLOCK;
    a->sample_period = period_ns;
    a->wakeup_events = 1;
    a->exclude_kernel = 0;
    a->disabled = 1;
}

static int pcp_arm_perf(pcp_thread *t) {
    struct perf_event_attr a;
    pcp_perf_attr(&a, pcp_g_arm.view->period_ns);
    long fd = pcp_perf_event_open(&a, t->tid);
    if (fd < 0) return -1;
    if (fd >= PCP_PERF_FD_LIMIT) { /* the handler could not validate it */
        close((int)fd);
        errno = EMFILE;
        return -1;
    }
    struct f_owner_ex owner = {F_OWNER_TID, t->tid};
    if (fcntl((int)fd, F_SETSIG, SIGPROF) != 0 || fcntl((int)fd, F_SETOWN_EX, &owner) != 0 ||
        fcntl((int)fd, F_SETFL, O_ASYNC | O_NONBLOCK) != 0) {
        close((int)fd);
        return -1;
    }
    __atomic_store_n(&pcp_g_perf_fd_owner[fd], (uint32_t)t->tid, __ATOMIC_RELEASE);
    if (ioctl((int)fd, PERF_EVENT_IOC_ENABLE, 0) != 0) {
        __atomic_store_n(&pcp_g_perf_fd_owner[fd], 0u, __ATOMIC_RELEASE);
        close((int)fd);
        return -1;
    }
    t->perf_fd = (int)fd;
    return 0;
}

/* Arms t for the running session; the registry lock is held. */
static int pcp_arm(pcp_thread *t) {
    if (t->armed || pcp_g_arm.view == NULL || pcp_is_profiler_thread(t->tid)) return 0;
    int r = 0;
    if (pcp_g_arm.view->engine == PCP_ENGINE_CTIMER) r = pcp_arm_ctimer(t);
    else if (pcp_g_arm.view->engine == PCP_ENGINE_PERF) r = pcp_arm_perf(t);
    else return 0; /* itimer: process-wide; wall: the ticker signals the list */
    if (r == 0) {
        t->armed = true;
        pcp_timers_created++;
    }
    return r;
}

/* Deleting a POSIX timer also discards its queued signal; closing a perf
 * fd after clearing its owner makes a late signal of it foreign. */
static void pcp_disarm(pcp_thread *t) {
    if (!t->armed) return; /* armed: a session runs, pcp_g_arm.view is set */
    if (pcp_g_arm.view->engine == PCP_ENGINE_CTIMER || t->perf_fd < 0) {
        timer_delete(t->timer);
    } else {
        ioctl(t->perf_fd, PERF_EVENT_IOC_DISABLE, 0);
        __atomic_store_n(&pcp_g_perf_fd_owner[t->perf_fd], 0u, __ATOMIC_RELEASE);
        close(t->perf_fd);
        t->perf_fd = -1;
    }
    t->armed = false;
    pcp_timers_deleted++;
}

/* ---- registry list (lock held) ---- */

static pcp_thread *pcp_find(pid_t tid) {
    for (pcp_thread *t = pcp_reg_head; t != NULL; t = t->next)
        if (t->tid == tid) return t;
    return NULL;
}

static void pcp_unlink(pcp_thread *victim) {
    for (pcp_thread **p = &pcp_reg_head; *p != NULL; p = &(*p)->next)
        if (*p == victim) {
            *p = victim->next;
            return;
        }
}

static pcp_thread *pcp_new_entry(pid_t tid) {
    pcp_thread *t = calloc(1, sizeof *t);
    if (t == NULL) return NULL;
    t->tid = tid;
    t->perf_fd = -1;
    t->next = pcp_reg_head;
    pcp_reg_head = t;
    return t;
}

/* Field 22 of /proc/self/task/TID/stat (start time in clock ticks); 0 if
 * the thread is gone. */
static uint64_t pcp_task_starttime(pid_t tid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL) return 0;
    int field = 2;
    for (p++; *p != '\0' && field < 22; p++)
        if (*p == ' ') field++;
    return strtoull(p, NULL, 10);
}

/* ---- registration (public) ---- */

static void pcp_unregister_entry(pcp_thread *t) {
    pcp_disarm(t);
    pcp_unlink(t);
    free(t);
}

static void pcp_thread_exit_destructor(void *arg) {
    pcp_thread *t = (pcp_thread *)arg;
    pcp_tls_self = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    pthread_mutex_lock(&pcp_reg_mu);
    pcp_unregister_entry(t);
    pthread_mutex_unlock(&pcp_reg_mu);
}

static bool pcp_reg_key_made;
static void pcp_make_key(void) {
    pcp_reg_key_made = pthread_key_create(&pcp_reg_key, pcp_thread_exit_destructor) == 0;
}

PCP_EXPORT int pcp_register_thread(void) {
    if (pcp_tls_self != NULL) return PCP_OK;
    pcp_install_atfork(); /* a fork child must forget this entry */
    pthread_once(&pcp_reg_key_once, pcp_make_key);
    pthread_attr_t attr;
    void *stack_addr = NULL;
    size_t stack_size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) != 0) return PCP_E_SYSTEM;
    int r = pthread_attr_getstack(&attr, &stack_addr, &stack_size);
    pthread_attr_destroy(&attr);
    if (r != 0) return PCP_E_SYSTEM;
    pid_t tid = pcp_gettid();
    pthread_mutex_lock(&pcp_reg_mu);
    pcp_thread *t = pcp_find(tid);
    if (t == NULL) t = pcp_new_entry(tid);
    if (t == NULL) {
        pthread_mutex_unlock(&pcp_reg_mu);
        return PCP_E_SYSTEM;
    }
    t->stack_lo = (uintptr_t)stack_addr;
    t->stack_hi = (uintptr_t)stack_addr + stack_size;
    t->starttime = pcp_task_starttime(tid);
    t->registered = true;
    int armed = pcp_arm(t);
    pthread_mutex_unlock(&pcp_reg_mu);
    pthread_setspecific(pcp_reg_key, t);
    __atomic_signal_fence(__ATOMIC_SEQ_CST); /* entry complete before the handler sees it */
    pcp_tls_self = t;
    return armed == 0 ? PCP_OK : PCP_E_SYSTEM;
}

PCP_EXPORT int pcp_unregister_thread(void) {
    pcp_thread *t = pcp_tls_self;
    if (t == NULL) return PCP_OK;
    pcp_tls_self = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    pthread_setspecific(pcp_reg_key, NULL);
    pthread_mutex_lock(&pcp_reg_mu);
    pcp_unregister_entry(t);
    pthread_mutex_unlock(&pcp_reg_mu);
    return PCP_OK;
}

/* ---- session-wide operations ---- */

/* Adds every thread of /proc/self/task that has no entry (or whose tid was
 * reused), arms entries that are not armed, and forgets discovered
 * threads that exited.  Lock held. */
static void pcp_scan_locked(void) {
    for (pcp_thread *t = pcp_reg_head; t != NULL; t = t->next) t->seen = false;
    DIR *d = opendir("/proc/self/task");
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        pid_t tid = (pid_t)atoi(e->d_name);
        if (pcp_is_profiler_thread(tid)) continue;
        pcp_thread *t = pcp_find(tid);
        uint64_t st = pcp_task_starttime(tid);
        if (st == 0) continue; /* exited meanwhile */
        if (t != NULL && !t->registered && t->starttime != st) {
            pcp_unregister_entry(t); /* tid reused by a new thread */
            t = NULL;
        }
        if (t == NULL) {
            t = pcp_new_entry(tid);
            if (t == NULL) continue;
            t->starttime = st;
        }
        t->seen = true;
        pcp_arm(t);
    }
    closedir(d);
    pcp_thread *t = pcp_reg_head;
    while (t != NULL) {
        pcp_thread *next = t->next;
        if (!t->seen && !t->registered) pcp_unregister_entry(t);
        t = next;
    }
}

int pcp_threads_arm_all(const pcp_view *v, pid_t skip_tid, char *err, size_t errlen) {
    pthread_mutex_lock(&pcp_reg_mu);
    pcp_g_arm.view = v; /* fixed until pcp_threads_disarm_all */
    pcp_g_arm.skip_tid = skip_tid;
    pcp_g_arm.skip_tid2 = 0;
    int failed = 0, first_errno = 0;
    for (pcp_thread *t = pcp_reg_head; t != NULL; t = t->next)
        if (pcp_arm(t) != 0 && failed++ == 0) first_errno = errno;
    pcp_scan_locked();
    pthread_mutex_unlock(&pcp_reg_mu);
    if (failed) {
        pcp_set_error(err, errlen, "profcore: could not arm %d thread timer(s): %s", failed,
                      strerror(first_errno));
        return -1;
    }
    return 0;
}

void pcp_threads_disarm_all(void) {
    pthread_mutex_lock(&pcp_reg_mu);
    pcp_thread *t = pcp_reg_head;
    while (t != NULL) {
        pcp_thread *next = t->next;
        pcp_disarm(t);
        if (!t->registered) pcp_unregister_entry(t);
        t = next;
    }
    pcp_g_arm.view = NULL;
    pthread_mutex_unlock(&pcp_reg_mu);
}

void pcp_threads_rescan(void) {
    pthread_mutex_lock(&pcp_reg_mu);
    if (pcp_g_arm.view != NULL) pcp_scan_locked();
    pthread_mutex_unlock(&pcp_reg_mu);
}

void pcp_threads_counts(uint64_t *registered, uint64_t *discovered, uint64_t *created,
                        uint64_t *deleted) {
    pthread_mutex_lock(&pcp_reg_mu);
    *registered = *discovered = 0;
    for (pcp_thread *t = pcp_reg_head; t != NULL; t = t->next) {
        if (t->registered) (*registered)++;
        else (*discovered)++;
    }
    *created = pcp_timers_created;
    *deleted = pcp_timers_deleted;
    pthread_mutex_unlock(&pcp_reg_mu);
}

/* ---- the wall-clock engine's ticks (ticker thread, never a handler) ---- */

/* Helper threads of the embedding library (the preload helper) that block
 * every signal by design: never asked for a snapshot. */
#define PCP_INTERNAL_MAX 4
static pid_t pcp_internal_tids[PCP_INTERNAL_MAX]; /* under pcp_reg_mu */

void pcp_threads_mark_internal(pid_t tid) {
    pthread_mutex_lock(&pcp_reg_mu);
    for (int i = 0; i < PCP_INTERNAL_MAX; i++)
        if (pcp_internal_tids[i] == 0 || pcp_internal_tids[i] == tid) {
            pcp_internal_tids[i] = tid;
            break;
        }
    pthread_mutex_unlock(&pcp_reg_mu);
}

bool pcp_threads_is_profiler(pid_t tid) {
    pthread_mutex_lock(&pcp_reg_mu);
    bool r = pcp_g_arm.view != NULL && pcp_is_profiler_thread(tid);
    for (int i = 0; i < PCP_INTERNAL_MAX && !r; i++) r = pcp_internal_tids[i] == tid;
    pthread_mutex_unlock(&pcp_reg_mu);
    return r;
}

void pcp_threads_skip(pid_t tid) {
    pthread_mutex_lock(&pcp_reg_mu);
    pcp_g_arm.skip_tid2 = tid;
    pcp_thread *t = pcp_find(tid);
    if (t != NULL && !t->registered) pcp_unregister_entry(t); /* discovered before it said so */
    pthread_mutex_unlock(&pcp_reg_mu);
}

/* Field 3 of /proc/self/task/TID/stat as a PCPROF_STATE_*, or NONE when the
 * thread is gone.  Read by the ticker, outside any handler: the handler
 * runs on the sampled thread, which is running by then whatever it was. */
static uint32_t pcp_task_state(pid_t tid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PCPROF_STATE_NONE;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return PCPROF_STATE_NONE;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and ')' */
    if (p == NULL || p[1] != ' ') return PCPROF_STATE_NONE;
    switch (p[2]) {
    case 'R': return PCPROF_STATE_RUNNING;
    case 'S': return PCPROF_STATE_SLEEPING;
    case 'X': case 'Z': return PCPROF_STATE_NONE; /* exiting */
    default: return PCPROF_STATE_OTHER; /* D (disk), T/t (stopped, traced), ... */
    }
}

/* Queues one tick on thread `tid` (see PCP_WALL_VALUE in internal.h). */
static int pcp_queue_tick(pid_t tid, uint64_t value) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGPROF;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_ptr = (void *)(uintptr_t)value;
    return (int)syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGPROF, &si);
}

_Static_assert(sizeof(void *) == 8, "the wall-clock tick needs a 64-bit si_value");

void pcp_threads_wall_tick(int token, uint32_t weight) {
    if (weight > PCP_WALL_MAX_WEIGHT) weight = PCP_WALL_MAX_WEIGHT;
    pthread_mutex_lock(&pcp_reg_mu);
    for (pcp_thread *t = pcp_reg_head; t != NULL; t = t->next) {
        if (pcp_is_profiler_thread(t->tid)) continue;
        uint32_t state = pcp_task_state(t->tid);
        if (state == PCPROF_STATE_NONE) continue; /* gone: the next scan forgets it */
        pcp_queue_tick(t->tid, PCP_WALL_VALUE(token, state, weight));
    }
    pthread_mutex_unlock(&pcp_reg_mu);
}

/* ---- fork (fork.c's atfork handlers) ---- */

void pcp_threads_fork_prepare(void) { pthread_mutex_lock(&pcp_reg_mu); }
void pcp_threads_fork_parent(void) { pthread_mutex_unlock(&pcp_reg_mu); }

/* In the child every entry names a thread of the parent (the forking
 * thread's too: its tid changed).  Entries are freed without timer_delete
 * (the child has no timers; an id could name one it creates later); a perf
 * fd is the child's own copy of the parent's event and is closed.  The
 * forking thread forgets its TLS and key value, so neither the handler nor
 * the exit destructor ever sees a freed entry; it registers again at the
 * next pcp_start. */
void pcp_threads_fork_child(void) {
    pthread_mutex_init(&pcp_reg_mu, NULL);
    pcp_tls_self = NULL;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (pcp_reg_key_made) pthread_setspecific(pcp_reg_key, NULL);
    pcp_thread *t = pcp_reg_head;
    while (t != NULL) {
        pcp_thread *next = t->next;
        if (t->perf_fd >= 0) {
            __atomic_store_n(&pcp_g_perf_fd_owner[t->perf_fd], 0u, __ATOMIC_RELEASE);
            close(t->perf_fd);
        }
        free(t);
        t = next;
    }
    pcp_reg_head = NULL;
    memset(&pcp_g_arm, 0, sizeof pcp_g_arm);
    memset(pcp_internal_tids, 0, sizeof pcp_internal_tids); /* the parent's threads */
    pcp_timers_created = pcp_timers_deleted = 0;
}

/* Can this process open a task-clock event on itself? */
int pcp_perf_probe(char *err, size_t errlen) {
    struct perf_event_attr a;
    pcp_perf_attr(&a, 10000000u);
    long fd = pcp_perf_event_open(&a, 0);
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
    pcp_set_error(err, errlen,
                  "profcore: engine 'perf' not permitted: perf_event_open(task-clock): %s "
                  "(kernel.perf_event_paranoid=%s); use engine 'ctimer'",
                  strerror(e), paranoid);
    return -1;
}

void pcp_link_mark_internal_thread(pid_t tid) { pcp_threads_mark_internal(tid); }
