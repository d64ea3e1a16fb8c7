/* interpose.c — the libc calls libprofcore.so takes over, so that an
 * unmodified program is profiled correctly and never dies because of it:
 *
 *   pthread_create  the new thread registers itself (stack bounds cached
 *                   outside any handler) before running the program's code,
 *                   with SIGPROF opened if it was born blocked (sigmask.c);
 *   pthread_sigmask, sigprocmask  (sigmask.c) never block SIGPROF in the
 *                   program's threads while a session runs;
 *   pthread_exit    unregisters first (its timer is deleted while the thread
 *                   still exists);
 *   fork            SIGPROF blocked around it; the child forgets the
 *                   session (the runtime's atfork handler and
 *                   pl_after_fork_child) and runs unprofiled, or with
 *                   PROFCORE_CHILDREN=1 profiles itself into its own file;
 *   exec family     ITIMER_PROF survives execve and the handler does not:
 *                   before exec the profile so far is written, the process
 *                   timer is disarmed, the calling thread's own timer is
 *                   deleted and pending SIGPROFs are discarded, so the new
 *                   image never receives a SIGPROF it has no handler for;
 *                   if exec fails, everything is re-armed;
 *   _exit/_Exit     the running profile is written first (by the helper
 *                   thread, the caller waits; see preload.c);
 *   sigaction/signal  a program that installs its own SIGPROF action while
 *                   we profile gets it: our session stops first (profile
 *                   written), with a message; one that installs its own
 *                   action for CPUPROFILESIGNAL's signal gets it too (the
 *                   switch is gone, with a message; gperftools.c).
 *
 * Every wrapper calls the real function found with dlsym(RTLD_NEXT), resolved
 * in the constructor so a wrapper running in a fork child (where only
 * async-signal-safe calls are allowed) never enters the dynamic loader.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "preload_internal.h"

typedef int (*pl_pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
typedef void (*pl_pthread_exit_fn)(void *) __attribute__((noreturn));
typedef pid_t (*pl_fork_fn)(void);
typedef void (*pl_exit_fn)(int) __attribute__((noreturn));
typedef int (*pl_execve_fn)(const char *, char *const[], char *const[]);
typedef int (*pl_execvp_fn)(const char *, char *const[]);
typedef int (*pl_execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*pl_fexecve_fn)(int, char *const[], char *const[]);
typedef int (*pl_sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef sighandler_t (*pl_signal_fn)(int, sighandler_t);

static struct {
    pl_pthread_create_fn pthread_create;
    pl_pthread_exit_fn pthread_exit;
    pl_fork_fn fork;
    pl_exit_fn _exit;
    pl_exit_fn _Exit;
    pl_execve_fn execve;
    pl_execvp_fn execvp;
    pl_execvpe_fn execvpe;
    pl_fexecve_fn fexecve;
    pl_sigaction_fn sigaction;
    pl_signal_fn signal;
} pl_real;

/* dlsym returns void *; POSIX guarantees it converts to a function pointer. */
#define PL_RESOLVE(name)                                                                           \
    do {                                                                                           \
        if (pl_real.name == NULL) {                                                                \
            void *p = dlsym(RTLD_NEXT, #name);                                                     \
            memcpy(&pl_real.name, &p, sizeof p);                                                   \
        }                                                                                          \
    } while (0)

void pl_resolve_real(void) {
    PL_RESOLVE(pthread_create);
    PL_RESOLVE(pthread_exit);
    PL_RESOLVE(fork);
    PL_RESOLVE(_exit);
    PL_RESOLVE(_Exit);
    PL_RESOLVE(execve);
    PL_RESOLVE(execvp);
    PL_RESOLVE(execvpe);
    PL_RESOLVE(fexecve);
    PL_RESOLVE(sigaction);
    PL_RESOLVE(signal);
    pl_resolve_sigmask();
}

/* Before the constructor ran (another library's constructor), resolve now;
 * afterwards the pointers are set and this is a load. */
#define PL_REAL(name) (pl_real.name != NULL ? pl_real.name : (pl_resolve_real(), pl_real.name))

int pl_real_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    return pl_real.sigaction(sig, act, old);
}

int pl_real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
    return PL_REAL(pthread_create)(t, attr, fn, arg);
}

/* ---- threads ------------------------------------------------------------------ */

typedef struct pl_thread_start {
    void *(*fn)(void *);
    void *arg;
    bool runtime_own; /* created by the runtime (its writer, its ticker) */
    bool born_believing_blocked; /* the creator's view of SIGPROF (inherited) */
} pl_thread_start;

static bool pl_sigprof_blocked_here(void) {
    sigset_t cur;
    return pl_real_pthread_sigmask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, prt_link_sampling_signal()) == 1;
}

/* Registration is for the program's threads, while a session of this
 * process runs or while its pprof endpoint serves (its windows then sample
 * every thread on the registered path).  The runtime's own threads are
 * created inside its own mask change (prt_link_in_own_mask_call at
 * creation) and are neither registered (registering the writer would wait
 * on the start that is creating it) nor opened to SIGPROF.  A program
 * thread born with SIGPROF blocked (block-all, create, restore) gets it
 * unblocked first (sigmask.c); if that fails it stays unregistered, as it
 * could not be sampled. */
static void *pl_thread_trampoline(void *p) {
    pl_thread_start st = *(pl_thread_start *)p;
    free(p);
    if (!st.runtime_own && pl_owns_runtime() && (prt_link_session_engine() != 0 || pl_endpoint_serving)) {
        pl_keep_sampling_signal_open(st.born_believing_blocked);
        if (!pl_sigprof_blocked_here()) pcp_register_thread();
    }
    return st.fn(st.arg);
}

PL_EXPORT int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg) {
    pl_pthread_create_fn real = PL_REAL(pthread_create);
    pl_thread_start *st = malloc(sizeof *st);
    if (st == NULL) return real(t, attr, fn, arg); /* unregistered: found by the /proc scan */
    st->fn = fn;
    st->arg = arg;
    st->runtime_own = prt_link_in_own_mask_call();
    st->born_believing_blocked = pl_program_believes_sampling_blocked();
    int r = real(t, attr, pl_thread_trampoline, st);
    if (r != 0) free(st);
    return r;
}

PL_EXPORT __attribute__((noreturn)) void pthread_exit(void *ret) {
    if (pl_owns_runtime()) pcp_unregister_thread();
    PL_REAL(pthread_exit)(ret);
}

/* ---- fork ----------------------------------------------------------------------- */

static void pl_block_sigprof(sigset_t *old) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, prt_link_sampling_signal());
    pl_real_pthread_sigmask(SIG_BLOCK, &s, old);
}

/* The child of a profiled process has the runtime's memory but no writer
 * thread and no timers (POSIX timers and itimers are not inherited); the
 * runtime's atfork child handler (profiler/src/fork.c) has already made its copy a
 * process with no session and re-initialised the runtime's locks.  Then:
 *   - without PROFCORE_CHILDREN=1 the child runs unprofiled:
 *     pl_owns_runtime() is false in it (its pid differs), so its exit paths
 *     and wrappers never call into the runtime, and it writes nothing;
 *   - with PROFCORE_CHILDREN=1 it starts its own session, same settings as
 *     the parent's, into its own file (OUT.<pid>, or gperftools' NAME_<pid>
 *     under CPUPROFILE), before fork returns: its CPU is counted from the
 *     fork, and the file is created while the child still has the
 *     parent's privileges (pl_start_forked_child).
 * SIGPROF is blocked around the real fork so the forking thread is never
 * interrupted by our handler half-way through it. */
PL_EXPORT pid_t fork(void) {
    pl_fork_fn real = PL_REAL(fork);
    bool profiling = pl_owns_runtime() && prt_link_session_engine() != 0;
    sigset_t old;
    pl_block_sigprof(&old);
    pid_t pid = real();
    if (pid == 0) {
        pl_after_fork_child();
        if (profiling && pl_follow_forks()) pl_start_forked_child();
    }
    pl_real_pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pid;
}

/* ---- _exit ------------------------------------------------------------------------ */

PL_EXPORT __attribute__((noreturn)) void _exit(int status) {
    pl_write_before_quick_exit();
    PL_REAL(_exit)(status);
}

PL_EXPORT __attribute__((noreturn)) void _Exit(int status) {
    pl_write_before_quick_exit();
    PL_REAL(_Exit)(status);
}

/* ---- exec ------------------------------------------------------------------------- */

typedef struct pl_exec_state {
    bool prepared;
    bool itimer_saved;
    struct itimerval itimer;
    struct sigaction prof_action;
} pl_exec_state;

/* Only the process that owns the runtime prepares: a fork or vfork child has
 * no session (and a vfork child shares the parent's memory: it must not
 * touch it). */
static void pl_before_exec(pl_exec_state *s, const char *file, bool search) {
    memset(s, 0, sizeof *s);
    if (!pl_owns_runtime() || prt_link_session_engine() == 0) return;
    char err[512];
    if (pl_flush_before_exec(file, search, err, sizeof err) != PCP_OK && pcp_is_running()) pl_say("before exec: %s", err);
    s->prepared = true;
    struct itimerval off;
    memset(&off, 0, sizeof off);
    if (prt_link_session_engine() == PCPROF_ENGINE_ITIMER && setitimer(ITIMER_PROF, &off, &s->itimer) == 0)
        s->itimer_saved = true;
    /* Register then unregister: deletes this thread's timer whether it
     * registered or was only discovered. */
    pcp_register_thread();
    pcp_unregister_thread();
    /* Setting SIGPROF to "ignore" discards the pending ones; then ours again
     * (other threads keep sampling until the kernel ends them at exec). */
    struct sigaction ign;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    int sig = prt_link_sampling_signal();
    if (pl_real_sigaction(sig, &ign, &s->prof_action) == 0) pl_real_sigaction(sig, &s->prof_action, NULL);
}

static void pl_after_failed_exec(const pl_exec_state *s) {
    if (!s->prepared) return;
    int saved = errno;
    pcp_register_thread();
    if (s->itimer_saved) setitimer(ITIMER_PROF, &s->itimer, NULL);
    errno = saved;
}

PL_EXPORT int execve(const char *path, char *const argv[], char *const envp[]) {
    pl_exec_state s;
    pl_before_exec(&s, path, false);
    int r = PL_REAL(execve)(path, argv, envp);
    pl_after_failed_exec(&s);
    return r;
}

PL_EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, environ); }

PL_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[]) {
    pl_exec_state s;
    pl_before_exec(&s, file, true);
    int r = PL_REAL(execvpe)(file, argv, envp);
    pl_after_failed_exec(&s);
    return r;
}

PL_EXPORT int execvp(const char *file, char *const argv[]) {
    pl_exec_state s;
    pl_before_exec(&s, file, true);
    int r = PL_REAL(execvp)(file, argv);
    pl_after_failed_exec(&s);
    return r;
}

PL_EXPORT int fexecve(int fd, char *const argv[], char *const envp[]) {
    pl_exec_state s;
    pl_before_exec(&s, NULL, false);
    int r = PL_REAL(fexecve)(fd, argv, envp);
    pl_after_failed_exec(&s);
    return r;
}

/* The execl family: the arguments into an array on the stack (no malloc:
 * exec is async-signal-safe and may be called in a fork child of a
 * multi-threaded program). */
static size_t pl_count_args(const char *arg0, va_list ap) {
    size_t n = 1;
    if (arg0 == NULL) return 1;
    while (va_arg(ap, const char *) != NULL) n++;
    return n + 1;
}

#define PL_COLLECT_ARGS(argv, n, arg0, ap_src)                                                     \
    do {                                                                                           \
        va_list ap2;                                                                               \
        va_copy(ap2, ap_src);                                                                      \
        argv[0] = (char *)arg0;                                                                    \
        for (size_t i_ = 1; i_ < n; i_++) argv[i_] = va_arg(ap2, char *);                          \
        va_end(ap2);                                                                               \
    } while (0)

PL_EXPORT int execl(const char *path, const char *arg, ...) {
    va_list ap, count;
    va_start(ap, arg);
    va_copy(count, ap);
    size_t n = pl_count_args(arg, count);
    va_end(count);
    char *argv[n];
    PL_COLLECT_ARGS(argv, n, arg, ap);
    va_end(ap);
    return execve(path, argv, environ);
}

PL_EXPORT int execlp(const char *file, const char *arg, ...) {
    va_list ap, count;
    va_start(ap, arg);
    va_copy(count, ap);
    size_t n = pl_count_args(arg, count);
    va_end(count);
    char *argv[n];
    PL_COLLECT_ARGS(argv, n, arg, ap);
    va_end(ap);
    return execvp(file, argv);
}

PL_EXPORT int execle(const char *path, const char *arg, ...) {
    va_list ap, count;
    va_start(ap, arg);
    va_copy(count, ap);
    size_t n = pl_count_args(arg, count);
    va_end(count);
    char *argv[n];
    PL_COLLECT_ARGS(argv, n, arg, ap);
    char *const *envp = va_arg(ap, char *const *); /* after the NULL that ends the arguments */
    va_end(ap);
    return execve(path, argv, envp);
}

/* ---- SIGPROF belongs to the program if it wants it ---------------------------------- */

static bool pl_is_our_prof_action(const struct sigaction *act) {
    return prt_link_is_runtime_handler(act);
}

/* The program sets SIGPROF's action while we profile: stop (the profile so
 * far is written) before its action takes effect, so our timers never reach
 * its handler and its SIG_DFL never kills it. */
static void pl_yield_sigprof(void) {
    if (!pl_owns_runtime() || prt_link_session_engine() == 0) return;
    int sig = prt_link_sampling_signal();
    if (sig == SIGPROF)
        pl_say("the program sets its own SIGPROF action: profiling stops here (profile so far written; "
               "CPUPROFILE_TIMER_SIGNAL can give the timers another signal)");
    else
        pl_say("the program sets its own action for signal %d, the sampling signal: profiling stops here "
               "(profile so far written)",
               sig);
    pl_session_finish("when the program took SIGPROF");
}

PL_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    if (sig == prt_link_sampling_signal() && act != NULL && !pl_is_our_prof_action(act)) pl_yield_sigprof();
    if (sig != 0 && sig == pl_gperf_toggle_signal()) pl_gperf_toggle_taken(act);
    return PL_REAL(sigaction)(sig, act, old);
}

PL_EXPORT sighandler_t signal(int sig, sighandler_t handler) {
    if (sig == prt_link_sampling_signal()) pl_yield_sigprof();
    if (sig != 0 && sig == pl_gperf_toggle_signal()) {
        struct sigaction as_action;
        memset(&as_action, 0, sizeof as_action);
        as_action.sa_handler = handler;
        pl_gperf_toggle_taken(&as_action);
    }
    return PL_REAL(signal)(sig, handler);
}
