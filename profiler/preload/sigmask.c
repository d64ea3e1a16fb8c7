/* sigmask.c — the sampling signal stays deliverable in the program's
 * threads.
 *
 * Why: a per-thread CPU timer (the ctimer and perf engines) sends its
 * signal to its own thread only.  A thread that blocks SIGPROF is never
 * sampled: its expiries stay pending and its CPU is simply missing from
 * the profile.  Programs block it without meaning to: the usual way to
 * keep signals on the main thread is "block every signal, pthread_create,
 * restore", so every worker is born with SIGPROF blocked — xz -T2 ran
 * 26.8 s of CPU and was profiled for 0.04 s.  perf and the kernel-side
 * profilers do not depend on signals; a signal-based profiler must keep
 * its signal open.
 *
 * What: while a session of this process runs (and only then), in the
 * program's threads
 *   - a thread born with SIGPROF blocked gets it unblocked before the
 *     program's code runs (pl_keep_sampling_signal_open, from the
 *     pthread_create trampoline; also the starting thread of a session,
 *     which may have inherited a blocked SIGPROF across exec);
 *   - pthread_sigmask and sigprocmask never block SIGPROF: it is taken out
 *     of a SIG_BLOCK or SIG_SETMASK set.
 * The program is not lied to: each thread keeps what the program asked for
 * SIGPROF (pl_tls_believes_blocked), and the old mask these calls return
 * has SIGPROF in it whenever the program believes it blocked.  Our
 * handler is async-signal-safe and never runs the program's code, so
 * letting it interrupt a section the program shielded from signals is
 * safe; that is the reason the runtime's handler is written that way.
 *
 * Not filtered: the runtime's and this library's own mask changes
 * (prt_link_in_own_mask_call, and the real functions called directly
 * here), calls while no session runs, calls in a fork child that does not
 * own the runtime.  Limits: threads that blocked SIGPROF before the
 * session started keep it blocked (nothing can change another thread's
 * mask); sigsuspend, ppoll, pselect and sigwait masks are not filtered (a
 * thread waiting in them uses no CPU).  If the program later installs its
 * own SIGPROF action, our session stops (interpose.c) and threads that
 * asked for SIGPROF blocked keep it open: the one case where the
 * program's request is not honoured in the real mask.
 *
 * Both wrappers may run in the program's signal handlers (they are
 * async-signal-safe functions): everything here is a TLS access, getpid,
 * the runtime's signal-safe session query and the real call. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "preload_internal.h"

typedef int (*pl_sigmask_fn)(int, const sigset_t *, sigset_t *);

static pl_sigmask_fn pl_real_pthread_sigmask_fn, pl_real_sigprocmask_fn;

/* What the program asked for SIGPROF in this thread, where the real mask
 * differs: true when it asked it blocked and we kept it open. */
static __thread bool pl_tls_believes_blocked __attribute__((tls_model("initial-exec")));

static pl_sigmask_fn pl_resolve_mask_fn(pl_sigmask_fn *slot, const char *name) {
    if (*slot == NULL) {
        void *p = dlsym(RTLD_NEXT, name);
        memcpy(slot, &p, sizeof p); /* POSIX: a dlsym result converts to a function pointer */
    }
    return *slot;
}

void pl_resolve_sigmask(void) {
    pl_resolve_mask_fn(&pl_real_pthread_sigmask_fn, "pthread_sigmask");
    pl_resolve_mask_fn(&pl_real_sigprocmask_fn, "sigprocmask");
}

int pl_real_pthread_sigmask(int how, const sigset_t *set, sigset_t *old) {
    return pl_resolve_mask_fn(&pl_real_pthread_sigmask_fn, "pthread_sigmask")(how, set, old);
}

/* The signal the session's timers send: SIGPROF unless
 * CPUPROFILE_TIMER_SIGNAL chose another (then the program's SIGPROF is
 * left as it asks). */
static int pl_sampling_signal(void) { return prt_link_sampling_signal(); }

/* Does the filter apply to a call made now on this thread? */
static bool pl_filter_applies(void) {
    return pl_owns_runtime() && !prt_link_in_own_mask_call() && prt_link_session_engine() != 0;
}

void pl_keep_sampling_signal_open(bool believed_at_birth) {
    sigset_t cur, open;
    int sig = pl_sampling_signal();
    if (pl_real_pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0) return;
    bool blocked = sigismember(&cur, sig) == 1;
    /* The program's view of a new thread is its creator's view (the mask
     * is inherited), which the creator's filter may already have kept open
     * in the real mask. */
    pl_tls_believes_blocked = believed_at_birth && !blocked;
    if (!blocked || !pl_filter_applies()) return;
    sigemptyset(&open);
    sigaddset(&open, sig);
    if (pl_real_pthread_sigmask(SIG_UNBLOCK, &open, NULL) == 0) pl_tls_believes_blocked = true;
}

bool pl_program_believes_sampling_blocked(void) {
    sigset_t cur;
    if (pl_tls_believes_blocked) return true;
    return pl_real_pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, pl_sampling_signal()) == 1;
}

/* One mask change of the program, through `real` (pthread_sigmask or
 * sigprocmask; both take the same arguments, and differ only in how they
 * report an error, which the callers translate).  Returns 0 or an errno. */
static int pl_filtered_mask_change(pl_sigmask_fn real, int how, const sigset_t *set, sigset_t *old,
                                   bool (*failed)(int rc, int *err)) {
    int sig = pl_sampling_signal();
    bool member = set != NULL && sigismember(set, sig) == 1;
    bool strip = member && (how == SIG_BLOCK || how == SIG_SETMASK) && pl_filter_applies();
    sigset_t adjusted, prev;
    const sigset_t *use = set;
    if (strip) {
        adjusted = *set;
        sigdelset(&adjusted, sig);
        use = &adjusted;
    }
    int e;
    if (failed(real(how, use, &prev), &e)) return e;
    bool real_before = sigismember(&prev, sig) == 1;
    bool believed_before = real_before || pl_tls_believes_blocked;
    bool believed_after = believed_before, real_after = real_before;
    if (set != NULL) {
        if (how == SIG_BLOCK) {
            believed_after = believed_before || member;
            real_after = real_before || (member && !strip);
        } else if (how == SIG_UNBLOCK) {
            believed_after = believed_before && !member;
            real_after = real_before && !member;
        } else { /* SIG_SETMASK (anything else failed above) */
            believed_after = member;
            real_after = member && !strip;
        }
    }
    pl_tls_believes_blocked = believed_after && !real_after;
    if (old != NULL) {
        *old = prev;
        if (believed_before) sigaddset(old, sig);
    }
    return 0;
}

/* pthread_sigmask returns the error number; sigprocmask returns -1 and
 * sets errno. */
static bool pl_failed_errno_return(int rc, int *err) {
    *err = rc;
    return rc != 0;
}
static bool pl_failed_minus_one(int rc, int *err) {
    *err = rc != 0 ? errno : 0;
    return rc != 0;
}

PL_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old) {
    pl_sigmask_fn real = pl_resolve_mask_fn(&pl_real_pthread_sigmask_fn, "pthread_sigmask");
    return pl_filtered_mask_change(real, how, set, old, pl_failed_errno_return);
}

PL_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old) {
    pl_sigmask_fn real = pl_resolve_mask_fn(&pl_real_sigprocmask_fn, "sigprocmask");
    int e = pl_filtered_mask_change(real, how, set, old, pl_failed_minus_one);
    if (e == 0) return 0;
    errno = e;
    return -1;
}
