/* preload_internal.h — shared state of the preload half of libprofcore.so
 * (profiler/preload/): the session the environment or gperftools' API
 * started, the exit paths that write it, and the interposed libc calls.
 *
 * Who owns the runtime.  Exactly one process "owns" a running session: the
 * one whose pid is pl_owner_pid.  A process created by fork() inherits a copy
 * of the runtime's memory but not its writer thread or its timers; the
 * runtime's atfork handler makes the child's copy a process with no session.
 * Every path that calls into the runtime first checks pl_owns_runtime(): a
 * forked child owns it only when PROFCORE_CHILDREN=1 made it start its own
 * session (interpose.c's fork); an exec'd image starts from scratch in its
 * own constructor.
 */
#ifndef PROFCORE_PRELOAD_INTERNAL_H
#define PROFCORE_PRELOAD_INTERNAL_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "envconfig.h"
#include "profcore_profiler.h"
#include "runtime_link.h"

#define PL_EXPORT __attribute__((visibility("default")))
#define PL_HIDDEN __attribute__((visibility("hidden")))

/* What a session is started with (from the environment or ProfilerStart). */
typedef struct pl_request {
    char out[PATH_MAX];
    char base_out[PATH_MAX]; /* the run's path: a child writes pl_child_output's name of it */
    bool gperftools_names;   /* CPUPROFILE or ProfilerStart: children write base_out_<pid> */
    const char *engine; /* "ctimer", "itimer", "perf" */
    const char *format; /* "pprof", "legacy", "collapsed" */
    const char *unwind; /* "auto", "tables", "fp" */
    int hz;
    unsigned period_ms; /* PROFCORE_PERIOD: rotation, 0 for none */
    int signal;         /* CPUPROFILE_TIMER_SIGNAL: the sampling signal, 0 for SIGPROF */
} pl_request;

/* ---- preload.c ---- */
/* The pid whose runtime state is real (0 before the constructor ran). */
extern pid_t pl_owner_pid PL_HIDDEN;
/* PROFCORE_CHILDREN as the environment gave it (0 when unset). */
extern int pl_children PL_HIDDEN;
PL_HIDDEN bool pl_owns_runtime(void);
/* Starts a session and arms the exit paths; on failure prints nothing and
 * leaves the reason in err. */
PL_HIDDEN int pl_session_start(const pl_request *rq, char *err, size_t errlen);
/* Stops the running session of this process and writes it, once, whatever
 * path gets here first (atexit, destructor, signal helper, ProfilerStop).
 * `why` prefixes a failure message on stderr. */
PL_HIDDEN void pl_session_finish(const char *why);
/* The request the environment describes, with the gperftools defaults
 * (legacy format when the path came from CPUPROFILE).  Returns the parser's
 * status; messages are printed by the caller. */
PL_HIDDEN pcenv_status pl_request_from_env(pcenv_lookup_fn lookup, void *ctx, pl_request *rq,
                                           pcenv_result *res);
/* _exit(): has the helper write the running profile, waits (bounded). */
PL_HIDDEN void pl_write_before_quick_exit(void);
/* The fork child's reset: our signal handlers back to SIG_DFL, no helper.
 * The runtime's own atfork handler has already forgotten the session. */
PL_HIDDEN void pl_after_fork_child(void);
/* Does a fork child of a profiling process get a session of its own
 * (PROFCORE_CHILDREN=1: `profcore record` sets it unless --no-children)?  Otherwise it runs unprofiled and
 * writes nothing. */
PL_HIDDEN bool pl_follow_forks(void);
/* In a fork child of a profiling process, when pl_follow_forks(): this
 * process becomes the runtime's owner and starts a fresh session like the
 * parent's into its own file (pl_child_output), counting its CPU from the
 * fork. */
PL_HIDDEN void pl_start_forked_child(void);
/* rq->out := the file of child process `pid` of the run whose path is
 * rq->base_out: gperftools' BASE_<pid> with gperftools_names, else
 * BASE.<pid>.  -1 (rq->out unchanged) if it does not fit. */
PL_HIDDEN int pl_child_output(pl_request *rq, int pid);
/* Starts the helper thread (once; 0, or -1 when it cannot). */
PL_HIDDEN int pl_helper_start(void);
/* In a signal handler: one CPUPROFILESIGNAL toggle for the helper. */
PL_HIDDEN void pl_helper_request_toggle(void);
/* A one-line message on stderr, prefixed "profcore: ". */
PL_HIDDEN void pl_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- record_session.c (`profcore record` mode: record_channel.h) ---- */
/* A session started in this image (format: the session's): tells the
 * recorder to expect its profile. */
PL_HIDDEN void pl_record_hello(const char *format);
/* Encodes the session's profile and sends it as `kind` (PCREC_PROFILE at
 * the end, PCREC_FLUSH for the profile so far); 0 when the recorder has it,
 * else -1 after one line on stderr.  `why` says when ("at exit"). */
PL_HIDDEN int pl_record_ship(uint32_t kind, const char *why);
/* pcp_flush, or in record mode the profile so far to the recorder. */
PL_HIDDEN int pl_flush_profile(char *err, size_t errlen);
/* The same before exec of `file` (searched on $PATH when `search`; NULL:
 * unknown, fexecve): in record mode sent as the image's final profile,
 * and a program LD_PRELOAD cannot follow into is named to the recorder. */
PL_HIDDEN int pl_flush_before_exec(const char *file, bool search, char *err, size_t errlen);

/* ---- interpose.c ---- */
/* Resolves the real libc functions (constructor; lazily otherwise). */
PL_HIDDEN void pl_resolve_real(void);
/* The real sigaction, for our own handlers (bypasses the interposer). */
PL_HIDDEN int pl_real_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
/* sigmask.c: the sampling signal kept open in the program's threads. */
PL_HIDDEN void pl_resolve_sigmask(void);
/* libc's pthread_sigmask, unfiltered: this library's own mask changes. */
PL_HIDDEN int pl_real_pthread_sigmask(int how, const sigset_t *set, sigset_t *old);
/* While a session runs: unblock SIGPROF in the calling program thread if it
 * is blocked, remembering that the program asked it blocked.
 * believed_at_birth: the program's view of SIGPROF in the thread's creator
 * at pthread_create (a new thread inherits it); false for a session's
 * starting thread. */
PL_HIDDEN void pl_keep_sampling_signal_open(bool believed_at_birth);
/* Does the program believe SIGPROF blocked in this thread (its own request,
 * whether or not the real mask has it)? */
PL_HIDDEN bool pl_program_believes_sampling_blocked(void);
/* The real pthread_create, for the helper thread (not registered). */
PL_HIDDEN int pl_real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                                     void *arg);

/* ---- http_env.c ---- */
/* PROFCORE_HTTP: starts the pprof endpoint (root process only), windows
 * with rq's engine, frequency and unwind mode; a failure is said on stderr. */
PL_HIDDEN void pl_endpoint_start(const pcenv_config *cfg, const pl_request *rq);
/* The endpoint serves in this process: new threads register (interpose.c). */
extern bool pl_endpoint_serving PL_HIDDEN;

/* ---- gperftools.c ---- */
/* Records the running session's file and start time (GetCurrentState). */
PL_HIDDEN void pl_gperf_session_started(const char *out);
/* Forgets the thread filter of a stopped ProfilerStartWithOptions session. */
PL_HIDDEN void pl_gperf_session_ended(void);
/* CPUPROFILESIGNAL: installs the switch on `sig` for profiles like `rq`
 * into rq->out.<n>, unless the signal already has an action (then says
 * so and the program runs unprofiled, as gperftools refuses). */
PL_HIDDEN void pl_gperf_toggle_install(int sig, const pl_request *rq);
/* The helper thread: one delivery of the switch (start or stop). */
PL_HIDDEN void pl_gperf_toggle(void);
/* The switch's signal, 0 when none is installed (interpose.c). */
PL_HIDDEN int pl_gperf_toggle_signal(void);
/* The program sets its own action for the switch's signal (interpose.c). */
PL_HIDDEN void pl_gperf_toggle_taken(const struct sigaction *act);
/* Fork child: the switch back to SIG_DFL (the child is not profiled by it). */
PL_HIDDEN void pl_gperf_toggle_fork_child(void);

#endif
