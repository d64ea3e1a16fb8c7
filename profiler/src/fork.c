/* fork.c — what a fork child keeps of the profiler: nothing of the session.
 *
 * A fork child has a copy of the session (the core's memory, the aggregate,
 * the registry, the "running" flag) but none of its threads (writer,
 * wall-clock ticker) and none of its timers (POSIX timers and itimers are
 * not inherited; perf fds are, but their signals go to the parent's
 * threads).  The atfork handlers make the child a process with no session:
 *   prepare  takes every runtime lock in the documented order (api ->
 *            period -> reader -> label -> registry -> unwind tables), so
 *            the child's copy of every
 *            structure they guard is consistent, and blocks SIGPROF on the
 *            forking thread;
 *   parent   restores the mask and releases the locks;
 *   child    re-initialises the locks (their owners do not exist there),
 *            forgets the session without stopping it (no join of a writer
 *            that is not there, no timer_delete of the parent's timer ids)
 *            through the same reset a stop uses, empties the registry,
 *            keeps the unwind tables (same address space) but not their
 *            published snapshot.
 * After that pcp_stop in the child says "not running" and pcp_start starts
 * a fresh session of the child (the preload library does that with
 * PROFCORE_CHILDREN=1).  The handlers live in the runtime, not in the
 * preload library, so a program linked with libprofcore.a gets them too.
 * glibc's own fork handling (malloc, stdio) has run before the child
 * handler, so free() and close() are usable in it.
 *
 * The child's CPU before its first sample.  Timers are not inherited: the
 * child's are new, armed when its session starts, and a relative timer
 * would count its first period from there, so the CPU the child spent
 * from the fork to that moment (the rest of fork(), the session start:
 * about 11 ms here at 100 Hz, most of it the unwind tables) would never be
 * sampled.  The forking thread's CPU clock starts at zero in the child, so
 * the preload library asks (prt_link_count_since_fork, right after fork)
 * that this thread's ctimer be armed absolute: the first expiry is at one
 * period of the thread's CPU since the fork, and when that is already
 * past the timer fires at once with the missed periods as its overrun,
 * which the handler weighs (1 + overrun).  The parent's samples before the
 * fork stay the parent's: the child's copy of its session is forgotten
 * here, and signals pending in the parent are not inherited. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"
#include "profile.h"
#include "unwind_tables.h"

static sigset_t prt_fork_saved_mask; /* under prt_api_mu from prepare to parent/child */
/* The thread whose CPU since the fork is to be counted (0: none); set in
 * the child before its session starts, consumed by that thread's arming
 * (threads.c, under the registry lock). */
static pid_t prt_fork_count_tid;

static void prt_fork_prepare(void) {
    pthread_mutex_lock(&prt_api_mu);
    pthread_mutex_lock(&prt_period_mu);
    pthread_mutex_lock(&prt_reader_mu);
    prt_labels_lock();
    prt_threads_fork_prepare();
    prt_unwind_tables_fork_prepare(); /* innermost: see unwind_objects.c */
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, __atomic_load_n(&prt_g_signal, __ATOMIC_RELAXED));
    prt_sigmask_own(SIG_BLOCK, &prof, &prt_fork_saved_mask);
}

static void prt_fork_parent(void) {
    prt_sigmask_own(SIG_SETMASK, &prt_fork_saved_mask, NULL);
    prt_unwind_tables_fork_parent();
    prt_threads_fork_parent();
    prt_labels_unlock();
    pthread_mutex_unlock(&prt_reader_mu);
    pthread_mutex_unlock(&prt_period_mu);
    pthread_mutex_unlock(&prt_api_mu);
}

/* The session of the parent, forgotten (see above).  Nothing here waits:
 * the child has one thread, SIGPROF blocked, so no handler is in flight
 * and none can start before the mask is restored. */
static void prt_fork_child(void) {
    pthread_mutex_init(&prt_api_mu, NULL);
    pthread_mutex_init(&prt_period_mu, NULL);
    pthread_mutex_init(&prt_reader_mu, NULL);
    prt_labels_fork_child();
    __atomic_store_n(&prt_g_view, NULL, __ATOMIC_SEQ_CST); /* no acquire pair: no handler can run */
    __atomic_store_n(&prt_g_inflight, 0u, __ATOMIC_SEQ_CST); /* the parent's handlers ran on other threads */
    prt_session_release_live(); /* the helper threads do not exist here: their ids are dropped */
    prt_g_session.running = false;
    prt_g_session.window = false;
    prt_session_forget_result(); /* the parent's samples are not the child's profile */
    prt_threads_fork_child();
    prt_unwind_tables_fork_child(); /* kept: the same objects at the same addresses */
    prt_snapshot_fork_child();
    pcprof_output_fork_child(); /* the parent's reserved output files are not the child's */
    prt_fork_count_tid = 0; /* only asked for by the preload library, after this */
    prt_sigmask_own(SIG_SETMASK, &prt_fork_saved_mask, NULL);
}

void prt_link_count_since_fork(void) { prt_fork_count_tid = (pid_t)syscall(SYS_gettid); }

bool prt_fork_take_count_since_fork(pid_t tid) {
    if (tid == 0 || tid != prt_fork_count_tid) return false;
    prt_fork_count_tid = 0;
    return true;
}

void prt_fork_drop_count_since_fork(void) { prt_fork_count_tid = 0; }

static pthread_once_t prt_atfork_once = PTHREAD_ONCE_INIT;
static void prt_atfork_register(void) { pthread_atfork(prt_fork_prepare, prt_fork_parent, prt_fork_child); }
/* Once per process, at the first start or registration (what creates state
 * a child must forget). */
void prt_install_atfork(void) { pthread_once(&prt_atfork_once, prt_atfork_register); }
