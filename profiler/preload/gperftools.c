/* gperftools.c — gperftools' CPU profiler C API (gperftools/profiler.h),
 * same names, same signatures, same behaviour, on top of the profcore
 * runtime, so a program built against gperftools links against
 * libprofcore.so unchanged.
 *
 * Mapping (gperftools 2.10 semantics):
 *   ProfilerStart(f)              ProfilerStartWithOptions(f, NULL)
 *   ProfilerStartWithOptions      1 if a profile now runs into f, 0 if one was
 *                                 already running or it could not start (the
 *                                 reason on stderr).  Hz from
 *                                 CPUPROFILE_FREQUENCY (PROFCORE_HZ), engine
 *                                 from PROFCORE_ENGINE / CPUPROFILE_* as in
 *                                 envconfig.h; the format is gperftools'
 *                                 legacy one unless PROFCORE_FORMAT says.
 *   ProfilerStop                  stops and writes; the data is then gone
 *                                 for the API (a new start begins afresh).
 *   ProfilerFlush                 writes what was recorded so far; no-op when
 *                                 not running.
 *   ProfilerRegisterThread        pcp_register_thread (threads are also
 *                                 registered automatically by the preload).
 *   ProfilingIsEnabledForAllThreads   nonzero while a profile runs.
 *   ProfilerGetCurrentState       enabled, start time, file name, samples
 *                                 so far; zeros and "" when not running.
 *   ProfilerEnable/Disable        no-ops (deprecated in gperftools too).
 *   ProfilerGetStackTrace         the frame-pointer walk of a signal context.
 *
 * CPUPROFILESIGNAL (gperftools 2.10's profiling switch): with it set,
 * nothing is profiled at load.  The first delivery of the signal starts a
 * profile into OUT.0, the next stops it and writes OUT.0, the next starts
 * OUT.1, and so on; a profile still on at exit is written then.  As
 * gperftools, the switch is installed only if the signal's action is the
 * default one: a handler (or SIG_IGN) already there refuses it with a
 * message, and the program runs unprofiled -- gperftools aborts the
 * program there, we do not.  The handler only wakes the preload helper
 * thread (pl_helper_request_toggle); start, stop and the write run there.
 * A program that later installs its own action for the signal takes it
 * over (interpose.c calls pl_gperf_toggle_taken): the switch is gone, a
 * profile it started runs on and is written at exit.  A delivery while a
 * profile the program started itself (ProfilerStart) runs is reported and
 * changes nothing (gperftools aborts there too).
 *
 * The thread filter (ProfilerOptions.filter_in_thread) is called in the
 * SIGPROF handler on every tick, as in gperftools, through the runtime's
 * traceback hook.  A sample the filter rejects is not dropped silently: it
 * is recorded under the single synthetic frame
 * profcore_sample_filtered_out, so the profile still accounts for all CPU
 * (conservation) and the rejected threads' functions do not appear.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "preload_internal.h"

/* gperftools' header when it is installed (the compiler then checks our
 * definitions against its declarations); otherwise its two structs, copied
 * field for field, so the library builds without it. */
#if defined(__has_include) && __has_include(<gperftools/profiler.h>)
#include <gperftools/profiler.h>
#else
struct ProfilerOptions {
    int (*filter_in_thread)(void *arg);
    void *filter_in_thread_arg;
};
struct ProfilerState {
    int enabled;
    time_t start_time;
    char profile_name[1024];
    int samples_gathered;
};
#endif

/* The running API session's identity (under the runtime's own locking:
 * written only by start/stop, read by GetCurrentState). */
/* The type of gperftools' filter_in_thread: called in the SIGPROF handler,
 * async-signal-safe by gperftools' contract (the signal-safety gate needs it
 * declared as a hook type in annotations/policy.txt). */
typedef int (*pl_thread_filter_fn)(void *arg);

static struct {
    pl_thread_filter_fn filter;
    void *filter_arg;
    time_t start_time;
    char name[1024];
} pl_gp;

/* The synthetic leaf of filtered-out samples: a real code address of this
 * library, so every symbolizer names it. */
PROFCORE_SIGNAL_SAFE __attribute__((noinline, used)) PL_EXPORT void profcore_sample_filtered_out(void) {
    __asm__ volatile("");
}

PROFCORE_SIGNAL_SAFE static int pl_filter_hook(pcp_traceback_args *a, void *user) {
    (void)user;
    pl_thread_filter_fn filter = __atomic_load_n(&pl_gp.filter, __ATOMIC_ACQUIRE);
    if (filter == NULL || filter(__atomic_load_n(&pl_gp.filter_arg, __ATOMIC_ACQUIRE)) != 0)
        return 0; /* keep: the native walk goes on from the interrupted registers */
    if (a->max_frames == 0) return 1;
    a->frames[0] = (uintptr_t)&profcore_sample_filtered_out;
    a->nframes = 1;
    a->pc = a->sp = a->fp = 0; /* end the walk */
    return 0;
}

void pl_gperf_session_started(const char *out) {
    pl_gp.start_time = time(NULL);
    snprintf(pl_gp.name, sizeof pl_gp.name, "%s", out);
}

void pl_gperf_session_ended(void) {
    if (__atomic_load_n(&pl_gp.filter, __ATOMIC_ACQUIRE) != NULL) {
        pcp_set_traceback_hook(NULL, NULL);
        __atomic_store_n(&pl_gp.filter, NULL, __ATOMIC_RELEASE);
    }
    pl_gp.name[0] = '\0';
    pl_gp.start_time = 0;
}

/* The environment, with the output path the caller gave. */
typedef struct pl_start_env {
    const char *fname;
} pl_start_env;

static const char *pl_lookup_with_fname(void *ctx, const char *name) {
    pl_start_env *e = (pl_start_env *)ctx;
    if (strcmp(name, "PROFCORE_OUT") == 0) return e->fname;
    if (strcmp(name, "CPUPROFILE") == 0) return NULL;
    return getenv(name);
}

PL_EXPORT int ProfilerStartWithOptions(const char *fname, const struct ProfilerOptions *options) {
    if (fname == NULL || fname[0] == '\0') return 0;
    if (pcp_is_running()) return 0; /* gperftools: a second start fails */
    pl_start_env e = {fname};
    pcenv_result res;
    pl_request rq;
    pcenv_status st = pl_request_from_env(pl_lookup_with_fname, &e, &rq, &res);
    if (st != PCENV_PROFILE) {
        fputs(res.messages, stderr);
        return 0;
    }
    if (getenv("PROFCORE_FORMAT") == NULL) rq.format = "legacy"; /* what gperftools writes */
    rq.gperftools_names = true; /* a forked child's file: fname_<pid> */
    if (options != NULL && options->filter_in_thread != NULL) {
        __atomic_store_n(&pl_gp.filter_arg, options->filter_in_thread_arg, __ATOMIC_RELEASE);
        __atomic_store_n(&pl_gp.filter, options->filter_in_thread, __ATOMIC_RELEASE);
        pcp_set_traceback_hook(pl_filter_hook, NULL);
    }
    char err[512];
    if (pl_session_start(&rq, err, sizeof err) != PCP_OK) {
        pl_gperf_session_ended();
        pl_say("ProfilerStart(%s): %s", fname, strncmp(err, "profcore: ", 10) == 0 ? err + 10 : err);
        return 0;
    }
    return 1;
}

PL_EXPORT int ProfilerStart(const char *fname) { return ProfilerStartWithOptions(fname, NULL); }

PL_EXPORT void ProfilerStop(void) { pl_session_finish("at ProfilerStop"); }

PL_EXPORT void ProfilerFlush(void) {
    if (!pl_owns_runtime() || !pcp_is_running()) return;
    char err[512];
    if (pl_flush_profile(err, sizeof err) != PCP_OK) pl_say("ProfilerFlush: %s", err);
}

PL_EXPORT void ProfilerRegisterThread(void) {
    if (pl_owns_runtime()) pcp_register_thread();
}

PL_EXPORT int ProfilingIsEnabledForAllThreads(void) { return pl_owns_runtime() && pcp_is_running(); }

PL_EXPORT void ProfilerEnable(void) {}
PL_EXPORT void ProfilerDisable(void) {}

PL_EXPORT void ProfilerGetCurrentState(struct ProfilerState *state) {
    memset(state, 0, sizeof *state);
    if (!ProfilingIsEnabledForAllThreads()) return;
    pcp_stats st;
    state->enabled = 1;
    state->start_time = pl_gp.start_time;
    snprintf(state->profile_name, sizeof state->profile_name, "%s", pl_gp.name);
    if (pcp_get_stats(&st) == PCP_OK) state->samples_gathered = (int)st.offered_samples;
}

PL_EXPORT int ProfilerGetStackTrace(void **result, int max_depth, int skip_count, const void *uc) {
    uintptr_t frames[PCP_MAX_DEPTH];
    if (result == NULL || max_depth <= 0 || skip_count < 0) return 0;
    int n = uc != NULL ? pcp_unwind_context(uc, frames, PCP_MAX_DEPTH) : pcp_capture_stack(frames, PCP_MAX_DEPTH);
    int out = 0;
    for (int i = skip_count; i < n && out < max_depth; i++) result[out++] = (void *)frames[i];
    return out;
}

/* ---- CPUPROFILESIGNAL: the profiling switch ------------------------------------ */

/* sig and request are written before the handler is installed and not
 * after; count and on only by the helper thread. */
static struct {
    int sig; /* atomic: 0 until installed, 0 again once the program took the signal */
    pl_request request;
    unsigned count; /* n of the next OUT.<n> */
    bool on;        /* the running session is the switch's */
} pl_toggle;

PROFCORE_SIGNAL_SAFE static void pl_on_toggle(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)si;
    (void)uc;
    int saved = errno;
    pl_helper_request_toggle();
    errno = saved;
}

static bool pl_is_toggle_action(const struct sigaction *a) {
    return (a->sa_flags & SA_SIGINFO) && a->sa_sigaction == pl_on_toggle;
}

void pl_gperf_toggle_install(int sig, const pl_request *rq) {
    struct sigaction old, sa;
    if (pl_real_sigaction(sig, NULL, &old) != 0 || (old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) {
        pl_say("CPUPROFILESIGNAL=%d: signal %d already has a handler or is ignored; not taking it over "
               "(gperftools refuses too): the program runs unprofiled",
               sig, sig);
        return;
    }
    if (pl_helper_start() != 0) {
        pl_say("CPUPROFILESIGNAL=%d: cannot start the helper thread: the program runs unprofiled", sig);
        return;
    }
    pl_toggle.request = *rq;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = pl_on_toggle;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    __atomic_store_n(&pl_toggle.sig, sig, __ATOMIC_RELEASE);
    if (pl_real_sigaction(sig, &sa, NULL) != 0) {
        __atomic_store_n(&pl_toggle.sig, 0, __ATOMIC_RELEASE);
        pl_say("CPUPROFILESIGNAL=%d: sigaction: %s: the program runs unprofiled", sig, strerror(errno));
        return;
    }
    pl_say("signal %d (CPUPROFILESIGNAL) starts and stops profiling into %s.0, %s.1, ...", sig, rq->out, rq->out);
}

void pl_gperf_toggle(void) {
    bool running = pcp_is_running();
    if (pl_toggle.on && running) { /* ours: stop and write OUT.<n> */
        pl_session_finish("at CPUPROFILESIGNAL");
        pl_toggle.on = false;
        return;
    }
    pl_toggle.on = false; /* ours was stopped by another path (ProfilerStop, exec) */
    if (running) {
        pl_say("CPUPROFILESIGNAL: the program's own profile (ProfilerStart) is running; the switch does nothing");
        return;
    }
    pl_request rq = pl_toggle.request;
    if (snprintf(rq.out, sizeof rq.out, "%s.%u", pl_toggle.request.out, pl_toggle.count) >= (int)sizeof rq.out) {
        pl_say("CPUPROFILESIGNAL: output path too long; not profiling");
        return;
    }
    char err[512];
    if (pl_session_start(&rq, err, sizeof err) != PCP_OK) {
        pl_say("CPUPROFILESIGNAL: cannot start profiling into %s: %s", rq.out,
               strncmp(err, "profcore: ", 10) == 0 ? err + 10 : err);
        return;
    }
    pl_toggle.count++;
    pl_toggle.on = true;
}

int pl_gperf_toggle_signal(void) { return __atomic_load_n(&pl_toggle.sig, __ATOMIC_ACQUIRE); }

void pl_gperf_toggle_taken(const struct sigaction *act) {
    int sig = pl_gperf_toggle_signal();
    if (sig == 0 || act == NULL || pl_is_toggle_action(act)) return;
    __atomic_store_n(&pl_toggle.sig, 0, __ATOMIC_RELEASE);
    pl_say("the program sets its own action for signal %d (CPUPROFILESIGNAL): the profiling switch is gone "
           "(a profile it started runs on and is written at exit)",
           sig);
}

void pl_gperf_toggle_fork_child(void) {
    int sig = pl_gperf_toggle_signal();
    struct sigaction cur;
    if (sig == 0 || pl_real_sigaction(sig, NULL, &cur) != 0 || !pl_is_toggle_action(&cur)) return;
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    pl_real_sigaction(sig, &dfl, NULL);
    __atomic_store_n(&pl_toggle.sig, 0, __ATOMIC_RELEASE);
}
