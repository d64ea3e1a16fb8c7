/* fork.c — what a fork child keeps of the profiler: nothing of the session.
 *
 * A fork child has a copy of the session (the core's memory, the aggregate,
 * the registry, the "running" flag) but none of its threads (writer,
 * wall-clock ticker) and none of its timers (POSIX timers and itimers are
 * not inherited; perf fds are, but their signals go to the parent's
 * threads).  The atfork handlers make the child a process with no session:
 *   prepare  takes every runtime lock in the documented order (api ->
 *            reader -> label -> registry), so the child's copy of every
 *            structure they guard is consistent, and blocks SIGPROF on the
 *            forking thread;
 *   parent   restores the mask and releases the locks;
 *   child    re-initialises the locks (their owners do not exist there),
 *            forgets the session without stopping it (no join of a writer
 *            that is not there, no timer_delete of the parent's timer ids)
 *            through the same reset a stop uses, empties the registry.
 * After that pcp_stop in the child says "not running" and pcp_start starts
 * a fresh session of the child (the preload library does that with
 * PROFCORE_CHILDREN=1).  The handlers live in the runtime, not in the
 * preload library, so a program linked with libprofcore.a gets them too.
 * glibc's own fork handling (malloc, stdio) has run before the child
 * handler, so free() and close() are usable in it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>

#include "internal.h"

static sigset_t prt_fork_saved_mask; /* under prt_api_mu from prepare to parent/child */

static void prt_fork_prepare(void) {
    pthread_mutex_lock(&prt_api_mu);
    pthread_mutex_lock(&prt_reader_mu);
    prt_labels_lock();
    prt_threads_fork_prepare();
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, &prt_fork_saved_mask);
}

static void prt_fork_parent(void) {
    pthread_sigmask(SIG_SETMASK, &prt_fork_saved_mask, NULL);
    prt_threads_fork_parent();
    prt_labels_unlock();
    pthread_mutex_unlock(&prt_reader_mu);
    pthread_mutex_unlock(&prt_api_mu);
}

/* The session of the parent, forgotten (see above).  Nothing here waits:
 * the child has one thread, SIGPROF blocked, so no handler is in flight
 * and none can start before the mask is restored. */
static void prt_fork_child(void) {
    pthread_mutex_init(&prt_api_mu, NULL);
    pthread_mutex_init(&prt_reader_mu, NULL);
    prt_labels_fork_child();
    __atomic_store_n(&prt_g_view, NULL, __ATOMIC_SEQ_CST); /* no acquire pair: no handler can run */
    __atomic_store_n(&prt_g_inflight, 0u, __ATOMIC_SEQ_CST); /* the parent's handlers ran on other threads */
    prt_session_release_live(); /* the helper threads do not exist here: their ids are dropped */
    prt_g_session.running = false;
    prt_session_forget_result(); /* the parent's samples are not the child's profile */
    prt_threads_fork_child();
    prt_snapshot_fork_child();
    pthread_sigmask(SIG_SETMASK, &prt_fork_saved_mask, NULL);
}

static pthread_once_t prt_atfork_once = PTHREAD_ONCE_INIT;
static void prt_atfork_register(void) { pthread_atfork(prt_fork_prepare, prt_fork_parent, prt_fork_child); }
/* Once per process, at the first start or registration (what creates state
 * a child must forget). */
void prt_install_atfork(void) { pthread_once(&prt_atfork_once, prt_atfork_register); }
