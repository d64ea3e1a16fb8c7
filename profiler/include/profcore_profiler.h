/* profcore_profiler.h — the public API of the hosted profcore profiler
 * (libprofcore.a / libprofcore.so, Linux x86_64; aarch64 compiles).
 *
 *   pcp_options o = PCP_OPTIONS_INIT;       // ctimer engine, 100 Hz, pprof
 *   o.output_path = "out/prof.pb.gz";
 *   char err[256];
 *   if (pcp_start(&o, err, sizeof err) != 0) fprintf(stderr, "%s\n", err);  // runs unprofiled
 *   ...
 *   pcp_stop(err, sizeof err);               // writes output_path atomically
 *
 * Every call returns 0 or a negative PCP_E_* code with one line in `err`
 * (err may be NULL).  A failing call never stops a running profile and never
 * discards what was already recorded.
 *
 * Threads.  The thread that calls pcp_start is registered.  Other threads
 * call pcp_register_thread() (stack bounds are cached then, outside any
 * signal handler).  Threads that never register are still sampled: the
 * profiler finds them in /proc/self/task (at start and every 100 ms) and
 * gives them a timer; their samples take the core's no-handoff path and
 * carry the "unregistered" bit in their tag.  A registered thread that exits
 * is unregistered automatically (its timer is deleted).
 *
 * Wall-clock mode (engine "wall").  A profiler thread wakes hz times per
 * second (absolute CLOCK_MONOTONIC deadlines) and queues a SIGPROF to every
 * known thread, running or blocked; the thread's state, read from
 * /proc/self/task/TID/stat just before, becomes the pprof label "state"
 * (running / sleeping / other).  A tick that comes late weighs 1 + the
 * ticks it missed, so a thread's weight is its wall time x hz.  A thread
 * that blocks SIGPROF is not sampled (its tick stays pending).
 *
 * Signals.  SIGPROF below stands for the sampling signal: SIGPROF unless
 * pcp_options.signal names another one.
 *
 * fork.  The runtime's pthread_atfork handlers make a fork child a process
 * with no session: the parent's profile, writer thread, timers and
 * registry are forgotten there (nothing is joined or deleted), pcp_stop in
 * the child returns PCP_E_NOT_RUNNING, and pcp_start starts a fresh
 * session of the child.  The parent's session is not disturbed.
 */
#ifndef PROFCORE_PROFILER_H
#define PROFCORE_PROFILER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PCP_EXPORT __attribute__((visibility("default")))
#else
#define PCP_EXPORT
#endif

/* ---- errors ---------------------------------------------------------------- */
#define PCP_OK 0
#define PCP_E_INVAL (-1)       /* a bad option value (frequency, depth, shards, NULL) */
#define PCP_E_ENGINE (-2)      /* unknown engine, or the engine is not available here */
#define PCP_E_FORMAT (-3)      /* unknown output format */
#define PCP_E_PATH (-4)        /* the output path cannot be written */
#define PCP_E_RUNNING (-5)     /* start while a profile is running */
#define PCP_E_NOT_RUNNING (-6) /* stop/flush without a running profile */
#define PCP_E_SIGNAL (-7)      /* the program has its own handler of the sampling signal: not stolen */
#define PCP_E_SYSTEM (-8)      /* a system call failed (timer, thread, memory) */
#define PCP_E_WRITE (-9)       /* the profile could not be written (it is kept) */
#define PCP_E_NO_PROFILE (-10) /* pcp_write with nothing recorded yet */

/* ---- start options ------------------------------------------------------------ */
typedef struct pcp_options {
    const char *engine;      /* "ctimer" (per-thread CPU timers), "itimer", "perf", "wall"; NULL: ctimer */
    int hz;                  /* samples per CPU-second (wall: per second of wall time), 1..100000 */
    const char *output_path; /* written at stop and flush; NULL: only pcp_write */
    const char *format;      /* "pprof", "legacy", "collapsed"; NULL: pprof */
    int max_depth;           /* frames per sample, 2..PCP_MAX_DEPTH */
    int shards;              /* core shards, power of two 1..256; 0: chosen from the CPU count */
    const char *unwind;      /* "auto" (tables from each object's call-frame information where it
                                has them, frame pointers elsewhere), "tables" (stacks end where no
                                table covers a frame), "fp" (frame pointers only); NULL: auto */
    int period_ms;           /* rotation: 0 (one profile, written at stop), or a complete profile
                                every period_ms (PCP_MIN_PERIOD_MS..PCP_MAX_PERIOD_MS) into
                                output_path.<n>, n = 0, 1, ... (before a ".pb.gz" ending:
                                prof.pb.gz -> prof.0.pb.gz; n goes on after the highest one already
                                there, never overwriting), each with its own time and duration,
                                while sampling goes on; pcp_flush ends the period so far, pcp_stop
                                writes the last one; output_path itself is not written */
    int signal;              /* the sampling signal: 0 (SIGPROF), or SIGVTALRM, SIGALRM, SIGUSR1,
                                SIGUSR2, SIGRTMIN..SIGRTMAX, so that a program that owns SIGPROF can
                                be profiled (gperftools' CPUPROFILE_TIMER_SIGNAL); not with the
                                itimer engine, whose kernel timer sends SIGPROF */
} pcp_options;

#define PCP_MAX_DEPTH 256
#define PCP_MAX_HZ 100000
#define PCP_MAX_HZ_PERF 10000 /* the perf engine: one timer interrupt per sample */
#define PCP_MIN_PERIOD_MS 1000
#define PCP_MAX_PERIOD_MS 86400000
#define PCP_OPTIONS_INIT {"ctimer", 100, NULL, "pprof", 64, 0, NULL, 0, 0}

PCP_EXPORT int pcp_start(const pcp_options *opts, char *err, size_t errlen);
/* Stops sampling, drains everything, writes output_path (if set).  If the
 * write fails the profile is kept: pcp_write can still save it. */
PCP_EXPORT int pcp_stop(char *err, size_t errlen);
/* Writes what was recorded so far to output_path without stopping. */
PCP_EXPORT int pcp_flush(char *err, size_t errlen);
/* Writes the current (running: collected now) or last (stopped) profile to
 * any path and format. */
PCP_EXPORT int pcp_write(const char *path, const char *format, char *err, size_t errlen);
/* The human summary of the current or last profile (top `top` functions). */
PCP_EXPORT int pcp_print_summary(FILE *out, int top);
PCP_EXPORT int pcp_is_running(void);
/* Objects were loaded or unloaded (after dlopen or dlclose of code that will
 * run): brings the unwind tables up to date on the calling thread before it
 * returns, so the next sample in the new code is walked by its tables.
 * Without it the writer thread notices within about 100 ms (sooner when a
 * walk finds no table) and samples in between end at the first frame of the
 * new object.  Costs a scan of the loaded objects when nothing changed, the
 * build of the new objects' tables when something did.  Not from a signal
 * handler, not inside a library constructor (the loader's lock is held).
 * PCP_OK, or PCP_E_NOT_RUNNING when no session uses tables. */
PCP_EXPORT int pcp_objects_changed(void);

/* ---- threads and labels ------------------------------------------------------- */
PCP_EXPORT int pcp_register_thread(void);
PCP_EXPORT int pcp_unregister_thread(void);
/* The calling thread's label (pprof label "label"), NULL to clear.  Labels
 * are interned (at most 65535 distinct); the call is not signal-safe. */
PCP_EXPORT int pcp_set_label(const char *label);

/* ---- traceback hook (like Go's SetCgoTraceback) ---------------------------------
 * Called in the signal handler (and by pcp_capture_stack) before the native
 * frame-pointer walk.  It must be async-signal-safe.  It appends the frames
 * the profiler cannot walk (interpreter, JIT, foreign code), leaf first,
 * to frames[0..max_frames) and sets nframes; those frames come first in the
 * sample, then the native walk from (pc, fp), which the hook may move (for
 * example past a region without frame pointers) or end (fp = 0 and pc = 0).
 * Returning non-zero means "could not": the sample is counted as an unwind
 * loss. */
typedef struct pcp_traceback_args {
    const void *ucontext; /* the signal's ucontext_t, NULL in pcp_capture_stack */
    uintptr_t pc, sp, fp; /* in: interrupted registers; out: where the native walk starts */
    uintptr_t *frames;    /* out: leaf first */
    uint32_t max_frames;
    uint32_t nframes; /* out */
} pcp_traceback_args;
typedef int (*profcore_traceback_fn)(pcp_traceback_args *args, void *user);
/* NULL removes the hook.  Safe to call while profiling. */
PCP_EXPORT int pcp_set_traceback_hook(profcore_traceback_fn hook, void *user);

/* ---- critical sections -----------------------------------------------------------
 * Samples taken between enter and leave (nesting counts) are not unwound;
 * they are counted exactly and reported under the synthetic frame
 * "[lost: critical section]".  Async-signal-safe, no registration needed. */
PCP_EXPORT void pcp_critical_enter(void);
PCP_EXPORT void pcp_critical_leave(void);

/* ---- stacks for the caller's own use --------------------------------------------
 * The caller's stack, leaf first (frames[0] is the return address into the
 * caller of pcp_capture_stack), by the hook and the frame-pointer walk, with
 * the handler's rules.  Async-signal-safe.  Returns the frame count. */
PCP_EXPORT int pcp_capture_stack(uintptr_t *frames, int max_frames);
/* The same stack by libgcc's DWARF unwinder: slow, NOT signal-safe; for
 * tests and for code built without frame pointers. */
PCP_EXPORT int pcp_capture_stack_slow(uintptr_t *frames, int max_frames);
/* The frame-pointer walk from a signal's ucontext (what the handler does,
 * without the hook).  Async-signal-safe; exposed for the unwinder tests. */
PCP_EXPORT int pcp_unwind_context(const void *ucontext, uintptr_t *frames, int max_frames);

/* ---- thread snapshots ------------------------------------------------------------
 * The current stack of every thread of the process (those the program did
 * not register too; the profiler's own threads excepted), written to `path`
 * as a profile with one sample of weight 1 per thread (pprof: the
 * samples/count value; tid label per thread), with or without a running
 * profile.  Each thread captures its own stack in its SIGPROF handler, by
 * the same rules as a sample (traceback hook, then the frame-pointer
 * walk; "[lost: critical section]" inside a critical section).  The caller
 * waits at most timeout_ms (1..60000); a thread that did not answer by
 * then (SIGPROF blocked, stopped, never scheduled) appears with the single
 * frame "[no answer: signals blocked or stopped]".  The calling thread is
 * included unless it blocks SIGPROF.  Never call it from a signal handler.
 * PCP_E_SIGNAL if the program has its own SIGPROF handler. */
PCP_EXPORT int pcp_snapshot(const char *path, const char *format, int timeout_ms, char *err, size_t errlen);

/* ---- the pprof endpoint ------------------------------------------------------------
 * Serves Go's net/http/pprof protocol, so `go tool pprof`, Parca and
 * Grafana Alloy's pyroscope.scrape can profile the program while it runs:
 *   GET /debug/pprof/profile?seconds=N   a CPU profile of the next N seconds
 *                                        (gzip'd pprof, Go's headers; N
 *                                        absent: 30; 1..3599)
 *   GET /debug/pprof/                    an HTML index;  /debug/pprof/cmdline
 * address: "127.0.0.1:PORT", "[::1]:PORT", "localhost:PORT", ":PORT" (all
 * loopback), an explicit other IP ("0.0.0.0:PORT": reachable from other
 * hosts, and said so on stderr; the endpoint reveals code addresses and
 * function names), or "unix:/absolute/path" (mode 0600).  PORT 0: the kernel
 * chooses; pcp_http_address tells.  window: each window's engine, hz, depth,
 * unwind mode and signal (its output path, format and period are ignored);
 * NULL: the defaults.
 * Between requests nothing samples: no timer is armed, no profiler thread
 * runs (the server's own threads block every signal and sleep in poll).
 * One window at a time: a second concurrent request, or any request while
 * the program runs its own profile (pcp_start, PROFCORE_OUT), gets Go's
 * 500 "Could not enable CPU profiling: cpu profiling already in use"; while
 * a window runs, pcp_start returns PCP_E_RUNNING, pcp_is_running() is 0
 * and pcp_stop/pcp_flush do not touch it.  libmicrohttpd (libmicrohttpd.so.12)
 * is loaded with dlopen here, never before: PCP_E_SYSTEM if it is missing.
 * The process advertises the endpoint for `profcore record -p PID` (see
 * docs); pcp_http_stop (also run at exit) ends a running window early, its
 * client still gets the profile of the time so far, and removes the
 * advertisement.  PCP_E_RUNNING: already serving. */
PCP_EXPORT int pcp_http_start(const char *address, const pcp_options *window, char *err, size_t errlen);
PCP_EXPORT int pcp_http_stop(void);
/* The address being served, with the real port ("127.0.0.1:40123");
 * PCP_E_NOT_RUNNING when not serving. */
PCP_EXPORT int pcp_http_address(char *buf, size_t len);

/* ---- statistics ------------------------------------------------------------------- */
typedef struct pcp_stats {
    uint64_t signals;          /* SIGPROF deliveries seen by the handler */
    uint64_t signals_foreign;  /* ignored: not from a timer of the running profile */
    uint64_t offered_weight;   /* weight the handler offered to the core */
    uint64_t offered_samples;
    uint64_t unregistered_samples;
    uint64_t critical_weight;  /* weight reported as critical-section losses */
    uint64_t unwind_failures;
    uint64_t handler_ns_total, handler_ns_max;
    /* The core's view (profcore_stats), flattened. */
    uint64_t core_offered_weight, core_recorded_weight, core_rejected_weight;
    uint64_t core_lost_weight[8];
    uint64_t profile_weight; /* sum of the aggregated profile's weights (incl. loss records) */
    uint64_t profile_stacks;
    uint64_t threads_registered, threads_discovered;
    uint64_t timers_created, timers_deleted;
    /* Thread tails (ctimer, perf): CPU of a registered thread that no
     * delivered expiry covered, offered when it exits or unregisters and
     * for every thread at stop, under "[unsampled: thread tail]"; included
     * in offered_weight. */
    uint64_t tail_samples, tail_weight;
    uint64_t signals_after_tail; /* deliveries already covered by their thread's tail, not offered */
    /* The profiler's own CPU (thread CPU clocks): pcp_start on the calling
     * thread (unwind tables included), the profiler's threads (writer,
     * ticker, rotator) during the session, and the last pcp_stop's writing
     * of the profile (symbolizing, encoding, the file). */
    uint64_t startup_cpu_ns, helpers_cpu_ns, write_cpu_ns;
} pcp_stats;
/* The running profile's (or the last stopped one's) counters. */
PCP_EXPORT int pcp_get_stats(pcp_stats *out);

#ifdef __cplusplus
}
#endif
#endif
