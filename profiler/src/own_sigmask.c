/* own_sigmask.c — the runtime's own signal-mask changes, told apart from
 * the program's.
 *
 * The preload library keeps the sampling signal deliverable in the
 * program's threads: a program that blocks "every signal" in its workers
 * (xz, most thread pools: block all, pthread_create, restore, so that
 * signals go to the main thread) would otherwise never be sampled there
 * (profiler/preload/sigmask.c).  The runtime itself blocks SIGPROF on
 * purpose — on the forking thread around fork, on its helper threads from
 * birth — and those calls must not be filtered.  They go through
 * prt_sigmask_own, which marks the calling thread for the duration of the
 * call; prt_link_in_own_mask_call (runtime_link.h) is what the filter
 * asks.  prt_own_mask_enter/leave bracket a longer stretch (a helper
 * thread's creation: the new thread is born with the runtime's mask and is
 * not one of the program's).
 *
 * Invariant: the mark is per thread and nests; a program's signal handler
 * that runs inside a marked stretch on the same thread has its own mask
 * calls passed through unfiltered (a window of a few instructions, and
 * only a missed sample, never a wrong one).  Nothing here runs in a
 * signal handler of the runtime. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>

#include "internal.h"

static __thread unsigned prt_tls_own_mask PRT_IE;

void prt_own_mask_enter(void) { prt_tls_own_mask++; }
void prt_own_mask_leave(void) { prt_tls_own_mask--; }

int prt_sigmask_own(int how, const sigset_t *set, sigset_t *old) {
    prt_own_mask_enter();
    int r = pthread_sigmask(how, set, old);
    prt_own_mask_leave();
    return r;
}

PROFCORE_SIGNAL_SAFE bool prt_link_in_own_mask_call(void) { return prt_tls_own_mask != 0; }
