/* preload.c — what libprofcore.so does when it is loaded: read the
 * environment, profile the program from its first instruction, and write the
 * profile on every way out of the process.
 *
 * Activation.  Nothing happens unless PROFCORE_OUT, CPUPROFILE or
 * PROFCORE_HTTP (the pprof endpoint, http_env.c) is set (envconfig.h has
 * the variables and the strict policy).  A setuid/setgid
 * process (AT_SECURE) is never profiled, as with gperftools.
 *
 * Processes.  With PROFCORE_OUT, the first profiled process of a run (the
 * "root") records PROFCORE_ROOT=<pid>:<out> in its environment, which its
 * descendants inherit.  A descendant image (another pid, same out) is
 * profiled only with PROFCORE_CHILDREN=1, into OUT.<pid>; an image exec'd
 * by the root itself (same pid) is the root and writes OUT.
 * With CPUPROFILE (drop-in for gperftools 2.10, whose own tests check it)
 * the marker is gperftools' own: the first image to read CPUPROFILE writes
 * NAME and sets the high bit of the variable's first byte in its
 * environment; every image that finds the bit set (an exec'd descendant,
 * or the same process after exec) strips it and writes NAME_<pid>, whatever
 * PROFCORE_CHILDREN says (unless it says 0).  A real libprofiler in the
 * same tree reads and sets the same bit, so the names agree.
 * A forked child that does not exec is profiled only when
 * pl_follow_forks() (PROFCORE_CHILDREN=1; record sets it unless --no-children): a fresh session into its own
 * file (OUT.<pid>, or NAME_<pid>), started by the fork wrapper before fork
 * returns, see interpose.c's fork; otherwise it runs unprofiled and
 * writes nothing.
 *
 * Ways out, and who writes:
 *   - return from main, exit() from any thread: the atexit handler
 *     registered at the first start (runs after the program's own atexit
 *     handlers and C++ static destructors), else the library destructor;
 *   - SIGINT/SIGTERM/SIGHUP with their default action: pl_on_terminate only
 *     records the signal and writes one byte to a pipe; the helper thread
 *     writes the profile, restores SIG_DFL and re-raises the signal on the
 *     thread that received it, so the process dies by that signal exactly
 *     as it would unprofiled (just later by the time of the write);
 *   - SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGABRT with their default action:
 *     pl_on_crash wakes the helper the same way and waits at most
 *     PL_CRASH_WAIT_MS for it (poll on a second pipe), then restores SIG_DFL
 *     and re-raises.  The crashed thread runs no unsafe code: the write
 *     (malloc, symbolization, file I/O) runs on the helper, a different
 *     thread, while the crashed one is parked in poll.  It is best effort: if
 *     the crash left a lock the writer needs held (a corrupted heap, a crash
 *     inside the profiler), the helper blocks, the wait times out and the
 *     process dies as it would have, without a profile.
 *   - _exit()/_Exit() (dash ends with it; also legal in signal handlers):
 *     interposed, the helper writes while the caller waits, as for a crash;
 *   - ProfilerFlush / ProfilerStop: gperftools.c.
 * gperftools' CPUPROFILESIGNAL=SIG: nothing starts at load; the switch's
 * handler (gperftools.c) only counts the delivery and wakes the helper,
 * which starts a profile into OUT.<n> or stops and writes the running one.
 * Thread snapshots: with PROFCORE_SNAPSHOT_SIGNAL=SIG (and SIG's action
 * still the default), pl_on_snapshot only wakes the helper, which writes
 * OUT.snapshot.<n> (n = 1, 2, ...) with pcp_snapshot and goes on waiting.
 * pl_session_finish serializes all of them: the first one stops and
 * writes, the later ones find nothing running.
 *
 * Signal handlers here (PROFCORE_SIGNAL_SAFE) use only async-signal-safe
 * calls: write, poll (bounded; the crash path only), clock_gettime,
 * sigaction, raise, getpid, syscall(gettid) and atomics.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "preload_internal.h"
#include "record_channel.h"

#define PL_CRASH_WAIT_MS 3000
#define PL_SNAPSHOT_TIMEOUT_MS 1000 /* how long a snapshot waits for the threads' answers */
#define PL_ROOT_VAR "PROFCORE_ROOT"

pid_t pl_owner_pid;
int pl_children;

/* Serializes session start and finish (never taken in a signal handler). */
static pthread_mutex_t pl_mu = PTHREAD_MUTEX_INITIALIZER;
static bool pl_atexit_registered;
/* What this library started the running session with (under pl_mu): the
 * request, for a forked child and for snapshots, and the CPU clock at the
 * start, for the delivery check.  The session itself is the runtime's. */
static struct {
    pl_request request;
    uint64_t start_cpu_ns;
} pl_started;

/* The exit-path machinery (handlers read these; set before the handlers
 * are installed, reset in a fork child). */
static int pl_wake_pipe[2] = {-1, -1}; /* handler -> helper (write end non-blocking) */
static int pl_done_pipe[2] = {-1, -1}; /* helper -> crash handlers: the profile is written */
static pid_t pl_helper_tid;            /* atomic; 0: no helper in this process */
static int pl_term_sig, pl_term_tid;   /* atomic: the first termination signal, its thread */
static int pl_crash_sig;               /* atomic: the first crash signal */
static int pl_exit_request;            /* atomic: _exit() asked for the write */
static int pl_snapshot_request;        /* atomic: PROFCORE_SNAPSHOT_SIGNAL arrived */
static int pl_toggle_requests;         /* atomic: CPUPROFILESIGNAL deliveries not yet served */
static int pl_snapshot_signal;         /* PROFCORE_SNAPSHOT_SIGNAL, 0: none */
static unsigned pl_snapshot_count;     /* helper only: n of OUT.snapshot.<n> */
static bool pl_handlers_installed;

static const int pl_term_signals[] = {SIGINT, SIGTERM, SIGHUP};
static const int pl_crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
#define PL_COUNT(a) (sizeof(a) / sizeof((a)[0]))

void pl_say(const char *fmt, ...) {
    char line[1200];
    int n = snprintf(line, sizeof line, "profcore: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len); /* unbuffered: stdio may be in any state */
    (void)w;
}

bool pl_owns_runtime(void) { return pl_owner_pid != 0 && getpid() == pl_owner_pid; }

static uint64_t pl_cpu_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

PROFCORE_SIGNAL_SAFE static pid_t pl_gettid(void) { return (pid_t)syscall(SYS_gettid); }

/* ---- configuration ------------------------------------------------------ */

static const char *pl_engine_string(pcprof_engine e) { return pcprof_engine_name(e); }

pcenv_status pl_request_from_env(pcenv_lookup_fn lookup, void *ctx, pl_request *rq, pcenv_result *res) {
    pcenv_parse(lookup, ctx, res);
    if (res->status != PCENV_PROFILE) return res->status;
    memset(rq, 0, sizeof *rq);
    memcpy(rq->out, res->config.out, sizeof rq->out);
    memcpy(rq->base_out, res->config.out, sizeof rq->base_out);
    rq->engine = pl_engine_string(res->config.engine);
    rq->hz = (int)res->config.hz;
    rq->period_ms = res->config.period_ms;
    rq->signal = res->config.timer_signal;
    rq->unwind = pcprof_unwind_name(res->config.unwind);
    /* gperftools writes its legacy format; a gperftools user who changes
     * only the library name keeps a file their pprof reads.  An explicit
     * PROFCORE_FORMAT always wins. */
    bool from_cpuprofile = strcmp(res->config.out_from, "CPUPROFILE") == 0;
    rq->gperftools_names = from_cpuprofile;
    if (lookup(ctx, "PROFCORE_FORMAT") == NULL && from_cpuprofile) rq->format = "legacy";
    else rq->format = pcprof_format_name(res->config.format);
    return PCENV_PROFILE;
}

static const char *pl_lookup_getenv(void *ctx, const char *name) {
    (void)ctx;
    return getenv(name);
}

/* Is this image a descendant of the run's root process (see the file
 * comment)?  A marker for another output path belongs to another run. */
static bool pl_is_descendant(const char *out) {
    const char *m = getenv(PL_ROOT_VAR);
    if (m == NULL) return false;
    char *colon = NULL;
    long pid = strtol(m, &colon, 10);
    if (colon == NULL || *colon != ':' || strcmp(colon + 1, out) != 0) return false;
    return pid != (long)getpid();
}

static void pl_mark_root(const char *out) {
    char value[PATH_MAX + 32];
    if (snprintf(value, sizeof value, "%d:%s", (int)getpid(), out) < (int)sizeof value)
        setenv(PL_ROOT_VAR, value, 1);
}

/* gperftools' marker (see the file comment): is this image a descendant
 * of the one that first read CPUPROFILE?  Strips the bit from the request's
 * paths; the first image sets it in the environment for its children. */
static bool pl_gperftools_descendant(pl_request *rq) {
    if (((unsigned char)rq->out[0] & 0x80u) != 0) {
        rq->out[0] = rq->base_out[0] = (char)((unsigned char)rq->out[0] & 0x7fu);
        return true;
    }
    char *v = getenv("CPUPROFILE"); /* the string the request was read from */
    if (v != NULL && *v != '\0') v[0] = (char)((unsigned char)v[0] | 0x80u);
    return false;
}

int pl_child_output(pl_request *rq, int pid) {
    char out[sizeof rq->out];
    if (snprintf(out, sizeof out, rq->gperftools_names ? "%s_%d" : "%s.%d", rq->base_out, pid) >= (int)sizeof out)
        return -1;
    memcpy(rq->out, out, sizeof out);
    return 0;
}

/* In record mode every process of the tree sends its profile to the
 * recorder, forked ones included (a server's workers are the point). */
/* `profcore record` exports PROFCORE_CHILDREN=1 unless --no-children: its
 * user's choice holds for forks as for execs. */
bool pl_follow_forks(void) { return pl_children != 0; }

/* ---- the helper thread and the exit-path signal handlers ------------------- */

/* False when the pipe is gone (a program that closed every descriptor):
 * then no helper will act on it. */
PROFCORE_SIGNAL_SAFE static bool pl_wake_helper(void) {
    char b = 1;
    ssize_t w = write(pl_wake_pipe[1], &b, 1); /* non-blocking: a full pipe is already a wake-up */
    return w == 1 || (w < 0 && errno == EAGAIN);
}

/* Back to the default action and deliver `sig` again: the signal is blocked
 * while its handler runs, so it is delivered (with SIG_DFL) when the handler
 * returns, or at once from a thread that does not block it. */
/* SIG_DFL through the raw system call: no indirect call and no interposer
 * on the handler path (the kernel's struct: handler, flags, restorer, mask;
 * SIG_DFL needs no restorer). */
PROFCORE_SIGNAL_SAFE static void pl_default_action(int sig) {
    struct {
        void (*handler)(int);
        unsigned long flags;
        void (*restorer)(void);
        unsigned long mask;
    } k = {SIG_DFL, 0, NULL, 0};
    syscall(SYS_rt_sigaction, sig, &k, NULL, sizeof k.mask);
}

PROFCORE_SIGNAL_SAFE static void pl_default_and_raise(int sig) {
    pl_default_action(sig);
    raise(sig);
}

/* Is the helper of this very process alive?  (A fork child has a copy of
 * our variables but no helper thread.) */
PROFCORE_SIGNAL_SAFE static bool pl_helper_here(void) {
    return __atomic_load_n(&pl_helper_tid, __ATOMIC_ACQUIRE) != 0 && getpid() == pl_owner_pid;
}

PROFCORE_SIGNAL_SAFE static void pl_on_terminate(int sig, siginfo_t *si, void *uc) {
    (void)si;
    (void)uc;
    int saved = errno;
    if (!pl_helper_here()) {
        pl_default_and_raise(sig);
    } else {
        int none = 0;
        if (__atomic_compare_exchange_n(&pl_term_sig, &none, sig, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
            __atomic_store_n(&pl_term_tid, (int)pl_gettid(), __ATOMIC_RELEASE);
            if (!pl_wake_helper()) pl_default_and_raise(sig); /* no helper to write: die as unprofiled */
        }
        /* A later termination signal: the first one will end the process. */
    }
    errno = saved;
}

/* Waits until the helper says the profile is written, at most `ms`. */
PROFCORE_SIGNAL_SAFE static void pl_wait_written(int ms) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        long spent = (long)(t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (spent >= ms) return;
        struct pollfd p = {pl_done_pipe[0], POLLIN, 0};
        int r = poll(&p, 1, (int)(ms - spent));
        if (r > 0 || (r < 0 && errno != EINTR)) return;
    }
}

PROFCORE_SIGNAL_SAFE static void pl_on_crash(int sig, siginfo_t *si, void *uc) {
    (void)si;
    (void)uc;
    if (pl_helper_here() && pl_gettid() != __atomic_load_n(&pl_helper_tid, __ATOMIC_ACQUIRE)) {
        int none = 0;
        if (__atomic_compare_exchange_n(&pl_crash_sig, &none, sig, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
            pl_wake_helper();
        pl_wait_written(PL_CRASH_WAIT_MS); /* every crashing thread waits for the one write */
    }
    pl_default_and_raise(sig);
}

/* _exit() runs no atexit handler and may be called from a signal handler
 * (dash ends every script with it): the helper writes, the caller waits a
 * bounded time, exactly like a crash. */
PROFCORE_SIGNAL_SAFE void pl_write_before_quick_exit(void) {
    if (!pl_helper_here() || pl_gettid() == __atomic_load_n(&pl_helper_tid, __ATOMIC_ACQUIRE)) return;
    if (prt_link_session_engine() == 0) return; /* nothing running */
    int none = 0;
    if (__atomic_compare_exchange_n(&pl_exit_request, &none, 1, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
        pl_wake_helper();
    pl_wait_written(PL_CRASH_WAIT_MS);
}

/* PROFCORE_SNAPSHOT_SIGNAL: only wakes the helper, which takes the thread
 * snapshot (pcp_snapshot waits for the other threads' answers: never in a
 * handler).  Several signals before the helper runs make one snapshot. */
PROFCORE_SIGNAL_SAFE static void pl_on_snapshot(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)si;
    (void)uc;
    int saved = errno;
    if (pl_helper_here()) {
        __atomic_store_n(&pl_snapshot_request, 1, __ATOMIC_RELEASE);
        pl_wake_helper();
    }
    errno = saved;
}

/* CPUPROFILESIGNAL's handler (gperftools.c) calls this: one toggle per
 * delivery, served in order by the helper (pl_gperf_toggle). */
PROFCORE_SIGNAL_SAFE void pl_helper_request_toggle(void) {
    if (!pl_helper_here()) return;
    __atomic_add_fetch(&pl_toggle_requests, 1, __ATOMIC_ACQ_REL);
    pl_wake_helper();
}

/* The helper's side: OUT.snapshot.<n>, in the session's format. */
static void pl_take_snapshot(void) {
    char path[PATH_MAX + 32], err[512];
    pthread_mutex_lock(&pl_mu);
    pl_request rq = pl_started.request;
    pthread_mutex_unlock(&pl_mu);
    if (snprintf(path, sizeof path, "%s.snapshot.%u", rq.out, ++pl_snapshot_count) >= (int)sizeof path) {
        pl_say("thread snapshot: output path too long");
        return;
    }
    if (pcp_snapshot(path, rq.format, PL_SNAPSHOT_TIMEOUT_MS, err, sizeof err) != PCP_OK)
        pl_say("thread snapshot %s failed: %s", path, strncmp(err, "profcore: ", 10) == 0 ? err + 10 : err);
}

/* Re-raises the termination signal on the thread that received it (it did
 * not block it then); if that thread is gone or blocks it now, any thread. */
static void pl_reraise_termination(int sig, pid_t tid) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    pl_real_sigaction(sig, &dfl, NULL);
    if (syscall(SYS_tgkill, getpid(), tid, sig) != 0) kill(getpid(), sig);
    struct timespec second = {1, 0};
    nanosleep(&second, NULL);
    kill(getpid(), sig);
}

static void *pl_helper_main(void *arg) {
    (void)arg;
    prt_link_mark_internal_thread(pl_gettid()); /* it blocks every signal: not in snapshots */
    __atomic_store_n(&pl_helper_tid, pl_gettid(), __ATOMIC_RELEASE);
    for (;;) {
        char b;
        ssize_t r = read(pl_wake_pipe[0], &b, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { /* the program closed our pipe (daemons close every descriptor): handlers
                       * must not count on this thread, they fall back to the default actions */
            __atomic_store_n(&pl_helper_tid, 0, __ATOMIC_RELEASE); /* pairs: pl_helper_here */
            return NULL;
        }
        int crash = __atomic_load_n(&pl_crash_sig, __ATOMIC_ACQUIRE);
        int term = __atomic_load_n(&pl_term_sig, __ATOMIC_ACQUIRE);
        int quick = __atomic_load_n(&pl_exit_request, __ATOMIC_ACQUIRE);
        if (__atomic_exchange_n(&pl_snapshot_request, 0, __ATOMIC_ACQ_REL)) pl_take_snapshot();
        for (int n = __atomic_exchange_n(&pl_toggle_requests, 0, __ATOMIC_ACQ_REL); n > 0; n--) pl_gperf_toggle();
        if (!crash && !term && !quick) continue; /* only a snapshot was asked for */
        pl_session_finish(crash ? "after a crash" : quick ? "at _exit" : "on a termination signal");
        if (crash || quick) {
            ssize_t w = write(pl_done_pipe[1], "w", 1);
            (void)w;
        } else if (term) {
            pl_reraise_termination(term, (pid_t)__atomic_load_n(&pl_term_tid, __ATOMIC_ACQUIRE));
        }
    }
}

static int pl_make_pipe(int p[2], int write_flags) {
    if (pipe2(p, O_CLOEXEC) != 0) return -1;
    /* Handlers write them: never at a number a daemon's open() reuses. */
    p[0] = prt_link_fd_move_high(p[0]);
    p[1] = prt_link_fd_move_high(p[1]);
    return fcntl(p[1], F_SETFL, write_flags) == 0 ? 0 : -1;
}

/* The helper blocks every signal: it is never chosen for a process-directed
 * signal and never sampled (its ctimer, if the runtime gives it one, cannot
 * deliver). */
int pl_helper_start(void) {
    if (__atomic_load_n(&pl_helper_tid, __ATOMIC_ACQUIRE) != 0) return 0;
    if (pl_make_pipe(pl_wake_pipe, O_NONBLOCK) != 0 || pl_make_pipe(pl_done_pipe, 0) != 0) return -1;
    sigset_t all, old;
    sigfillset(&all);
    pl_real_pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t t;
    int r = pl_real_pthread_create(&t, NULL, pl_helper_main, NULL);
    pl_real_pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) return -1;
    pthread_detach(t);
    while (__atomic_load_n(&pl_helper_tid, __ATOMIC_ACQUIRE) == 0) {
        struct timespec ms = {0, 100000};
        nanosleep(&ms, NULL);
    }
    return 0;
}

/* Installs `fn` for each signal whose action is still the default: a program
 * that handles a signal itself keeps its handler (its exit path, exit(),
 * reaches our atexit handler). */
static void pl_install_if_default(const int *sigs, size_t n, void (*fn)(int, siginfo_t *, void *), int flags) {
    for (size_t i = 0; i < n; i++) {
        struct sigaction old, sa;
        if (pl_real_sigaction(sigs[i], NULL, &old) != 0) continue;
        if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = fn;
        sa.sa_flags = SA_SIGINFO | flags;
        sigemptyset(&sa.sa_mask);
        pl_real_sigaction(sigs[i], &sa, NULL);
    }
}

static void pl_install_exit_paths(void) {
    if (pl_handlers_installed) return;
    if (pl_helper_start() != 0) {
        pl_say("cannot start the exit helper thread: a termination signal or crash will lose the profile");
        return;
    }
    pl_install_if_default(pl_term_signals, PL_COUNT(pl_term_signals), pl_on_terminate, SA_RESTART);
    pl_install_if_default(pl_crash_signals, PL_COUNT(pl_crash_signals), pl_on_crash, SA_ONSTACK);
    if (pl_snapshot_signal > 0) {
        int sig = pl_snapshot_signal;
        struct sigaction old;
        if (pl_real_sigaction(sig, NULL, &old) == 0 && ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL))
            pl_say("PROFCORE_SNAPSHOT_SIGNAL: the program handles signal %d itself; no snapshots", sig);
        else
            pl_install_if_default(&sig, 1, pl_on_snapshot, SA_RESTART);
    }
    pl_handlers_installed = true;
}

static void pl_reset_if_ours(const int *sigs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        struct sigaction old;
        if (pl_real_sigaction(sigs[i], NULL, &old) != 0 || !(old.sa_flags & SA_SIGINFO)) continue;
        if (old.sa_sigaction != pl_on_terminate && old.sa_sigaction != pl_on_crash &&
            old.sa_sigaction != pl_on_snapshot)
            continue;
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        pl_real_sigaction(sigs[i], &dfl, NULL);
    }
}

/* Runs in a fork child, possibly of a multi-threaded parent: only
 * async-signal-safe calls (and re-initialising pl_mu, whose owner may be a
 * parent thread that does not exist here). */
void pl_after_fork_child(void) {
    pthread_mutex_init(&pl_mu, NULL);
    __atomic_store_n(&pl_helper_tid, 0, __ATOMIC_RELEASE);
    pl_reset_if_ours(pl_term_signals, PL_COUNT(pl_term_signals));
    pl_reset_if_ours(pl_crash_signals, PL_COUNT(pl_crash_signals));
    if (pl_snapshot_signal > 0) pl_reset_if_ours(&pl_snapshot_signal, 1);
    __atomic_store_n(&pl_snapshot_request, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&pl_toggle_requests, 0, __ATOMIC_RELEASE);
    pl_gperf_toggle_fork_child();
    for (int i = 0; i < 2; i++) {
        if (pl_wake_pipe[i] >= 0) close(pl_wake_pipe[i]);
        if (pl_done_pipe[i] >= 0) close(pl_done_pipe[i]);
        pl_wake_pipe[i] = pl_done_pipe[i] = -1;
    }
    pl_handlers_installed = false;
}

/* ---- sessions ----------------------------------------------------------------- */

/* A fork child of a profiling process, pl_follow_forks().  It calls
 * malloc and pthread_create: glibc makes both usable in the child of a
 * multi-threaded process (its fork resets the malloc and stdio locks), and
 * the runtime's atfork handler has reset ours.  The atexit handler the
 * parent registered is inherited and writes the child's profile.  The
 * session starts before fork returns to the program: its file is created
 * while the child has the parent's privileges and root directory (a
 * server's worker drops them next), and the CPU since the fork is counted
 * (prt_link_count_since_fork). */
void pl_start_forked_child(void) {
    pl_request rq = pl_started.request;
    int pid = (int)getpid();
    if (pl_child_output(&rq, pid) != 0) {
        pl_say("output path too long for a child's profile; child %d runs unprofiled", pid);
        return;
    }
    pl_owner_pid = getpid();
    prt_link_count_since_fork();
    char err[512];
    if (pl_session_start(&rq, err, sizeof err) != PCP_OK)
        pl_say("forked child %d runs unprofiled: %s", pid, strncmp(err, "profcore: ", 10) == 0 ? err + 10 : err);
}

static void pl_atexit(void) { pl_session_finish("at exit"); }

int pl_session_start(const pl_request *rq, char *err, size_t errlen) {
    if (!pl_owns_runtime()) {
        snprintf(err, errlen, "profcore: a forked child profiles itself only with PROFCORE_CHILDREN=1");
        return PCP_E_SYSTEM;
    }
    pcp_options o = PCP_OPTIONS_INIT;
    o.engine = rq->engine;
    o.format = rq->format;
    o.hz = rq->hz;
    o.output_path = pl_record_active() ? NULL : rq->out; /* record mode: the recorder writes */
    o.period_ms = pl_record_active() ? 0 : (int)rq->period_ms;
    if (pl_record_active() && rq->period_ms > 0)
        pl_say("PROFCORE_PERIOD is not used under profcore record (the recorder writes one profile)");
    o.unwind = rq->unwind;
    o.signal = rq->signal;
    pthread_mutex_lock(&pl_mu);
    int rc = pcp_start(&o, err, errlen);
    if (rc == PCP_OK) {
        pl_started.start_cpu_ns = pl_cpu_ns();
        pl_started.request = *rq;
        pl_gperf_session_started(rq->out);
        if (pl_record_active()) pl_record_hello(rq->format);
        if (!pl_atexit_registered && atexit(pl_atexit) == 0) pl_atexit_registered = true;
        pl_install_exit_paths();
        /* a blocked SIGPROF may have come across exec; a restarted session
         * keeps what the program asked */
        pl_keep_sampling_signal_open(pl_program_believes_sampling_blocked());
    }
    pthread_mutex_unlock(&pl_mu);
    return rc;
}

/* A session that saw no SIGPROF at all while the process used CPU for many
 * periods: the program blocked SIGPROF (or took the handler).  Say so: the
 * empty profile is not a measurement. */
static void pl_check_delivery(void) {
    pcp_stats st;
    if (pcp_get_stats(&st) != PCP_OK || st.signals != 0 || pl_started.request.hz <= 0) return;
    uint64_t cpu = pl_cpu_ns() - pl_started.start_cpu_ns;
    uint64_t period = 1000000000u / (uint64_t)pl_started.request.hz;
    int sig = prt_link_sampling_signal();
    if (cpu >= 20 * period && sig == SIGPROF)
        pl_say("no SIGPROF was delivered in %.2f CPU-seconds (does the program block SIGPROF in all "
               "its threads?): the profile is empty",
               (double)cpu / 1e9);
    else if (cpu >= 20 * period)
        pl_say("no sampling signal (%d) was delivered in %.2f CPU-seconds (does the program block it in all "
               "its threads?): the profile is empty",
               sig, (double)cpu / 1e9);
}

/* The one line a profile that could not be written leaves: whose, how much
 * CPU it held, and why (the write's own reason, without its prefix). */
static void pl_say_lost(const char *why, const char *err) {
    pcp_stats st;
    uint64_t weight = pcp_get_stats(&st) == PCP_OK ? st.profile_weight : 0;
    int hz = pl_started.request.hz;
    pl_say("process %d: its profile (%.3f s of CPU, %llu samples) is lost: writing it %s failed: %s", (int)getpid(),
           hz > 0 ? (double)weight / (double)hz : 0.0, (unsigned long long)weight, why,
           strncmp(err, "profcore: ", 10) == 0 ? err + 10 : err);
}

void pl_session_finish(const char *why) {
    if (!pl_owns_runtime()) return;
    pthread_mutex_lock(&pl_mu);
    if (pcp_is_running()) {
        char err[512];
        if (pcp_stop(err, sizeof err) != PCP_OK) pl_say_lost(why, err);
        else if (pl_record_active()) pl_record_ship(PCREC_PROFILE, why);
        pl_check_delivery();
        pl_gperf_session_ended();
    }
    pthread_mutex_unlock(&pl_mu);
}

/* ---- load and unload -------------------------------------------------------------- */

static void pl_start_from_environment(void) {
    pcenv_result res;
    pl_request rq;
    pcenv_status st = pl_request_from_env(pl_lookup_getenv, NULL, &rq, &res);
    if (st == PCENV_OFF) return;
    if (st == PCENV_REFUSED) {
        ssize_t w = write(STDERR_FILENO, res.messages, strlen(res.messages));
        (void)w;
        return;
    }
    pl_endpoint_start(&res.config, &rq);
    if (rq.out[0] == '\0') return; /* PROFCORE_HTTP alone: only the endpoint's windows */
    pl_children = res.config.children;
    if (pl_record_configure(getenv(PCREC_ENV)) != 0) {
        pl_say("%s: not a recorder's channel name; the program runs unprofiled", PCREC_ENV);
        return;
    }
    pl_snapshot_signal = res.config.snapshot_signal;
    bool child;
    if (rq.gperftools_names) {
        child = pl_gperftools_descendant(&rq);
        if (child && !pl_children && getenv("PROFCORE_CHILDREN") != NULL) return; /* said 0 */
    } else {
        child = pl_is_descendant(rq.out);
        if (child && !pl_children) return; /* children are not profiled unless asked */
        if (!child) pl_mark_root(rq.out);
    }
    if (child && pl_child_output(&rq, (int)getpid()) != 0) {
        pl_say("output path too long for a child's profile; child %d runs unprofiled", (int)getpid());
        return;
    }
    if (res.config.toggle_signal != 0) { /* gperftools: the signal starts it, not the load */
        pl_gperf_toggle_install(res.config.toggle_signal, &rq);
        return;
    }
    char err[512];
    if (pl_session_start(&rq, err, sizeof err) != PCP_OK)
        pl_say("%s; the program runs unprofiled", strncmp(err, "profcore: ", 10) == 0 ? err + 10 : err);
}

__attribute__((constructor(101))) static void pl_constructor(void) {
    pl_owner_pid = getpid();
    pl_resolve_real();
    if (getauxval(AT_SECURE)) {
        const char *a = getenv("PROFCORE_OUT"), *b = getenv("CPUPROFILE");
        if (a != NULL || (b != NULL && *b != '\0'))
            pl_say("setuid/setgid program: not profiling it (as gperftools)");
        if (getenv("PROFCORE_HTTP") != NULL) pl_say("setuid/setgid program: no pprof endpoint (PROFCORE_HTTP)");
        return;
    }
    pl_start_from_environment();
}

__attribute__((destructor)) static void pl_destructor(void) { pl_session_finish("at unload"); }
