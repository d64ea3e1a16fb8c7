/* internal.h — shared state of the profiler runtime (profiler/src/).
 *
 * Who touches what:
 *   - the signal handler (handler.c) reads the view session.c publishes
 *     (pcp_view), its own thread's TLS, and bumps the atomic counters;
 *   - the thread registry (threads.c) is guarded by a mutex and is only
 *     used outside signal handlers;
 *   - the writer thread (writer.c) and the API calls (session.c) are the
 *     core's only readers, serialized by the reader mutex.
 * Everything the handler reaches carries PROFCORE_SIGNAL_SAFE.
 * The layers and rules of this folder: docs/ARCHITECTURE.md.
 */
#ifndef PROFCORE_PROFILER_INTERNAL_H
#define PROFCORE_PROFILER_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "profcore.h"
#include "profcore_profiler.h"
#include "runtime_link.h"

#define PCP_IE __attribute__((tls_model("initial-exec")))
#define PCP_HIDDEN __attribute__((visibility("hidden")))
/* For the unwinder's direct stack reads only.  An interrupted function may
 * use rbp as a plain register, so a "frame record" can land anywhere in
 * [sp, stack base): mapped, hence safe to read, but possibly inside another
 * frame's ASan redzone.  Such a read is a wrong guess that the walk's
 * checks reject, not a memory error, so ASan must not instrument it. */
#define PCP_NO_ASAN __attribute__((no_sanitize("address")))


/* A wall-clock tick is a SIGPROF queued by the profiler's ticker thread
 * (rt_tgsigqueueinfo, si_code SI_QUEUE, si_pid our pid) whose 64-bit
 * si_value carries everything the handler needs, so no per-thread slot is
 * shared between the ticker and the handler:
 *   bits  0..31  the session token (rules out other sessions and sigqueue
 *                calls of the program: a tick is never confused with a
 *                ctimer expiry, whose si_code is SI_TIMER)
 *   bits 32..39  the thread's state read by the ticker (PCPROF_STATE_*)
 *   bits 40..63  the weight: 1 + the ticks the ticker missed */
#define PCP_WALL_VALUE(token, state, weight)                                                        \
    ((uint64_t)(uint32_t)(token) | ((uint64_t)((state) & 0xffu) << 32) |                            \
     ((uint64_t)((weight) & 0xffffffu) << 40))
#define PCP_WALL_TOKEN(v) ((uint32_t)((v) & 0xffffffffu))
#define PCP_WALL_STATE(v) ((uint32_t)(((v) >> 32) & 0xffu))
#define PCP_WALL_WEIGHT(v) ((uint32_t)(((v) >> 40) & 0xffffffu))
#define PCP_WALL_MAX_WEIGHT 0xffffffu

/* Highest fd whose perf-event owner the handler can check (fds above it are
 * refused at arm time, so every accepted signal is validated). */
#define PCP_PERF_FD_LIMIT 4096

/* One thread the profiler knows: registered (it called
 * pcp_register_thread; its TLS points here and its stack bounds are
 * cached) or discovered (found in /proc/self/task; no TLS, no bounds). */
typedef struct pcp_thread {
    pid_t tid;
    uint64_t starttime; /* /proc/self/task/TID/stat field 22: detects tid reuse */
    uintptr_t stack_lo, stack_hi;
    bool registered;
    bool armed;
    bool seen; /* mark of the current /proc scan */
    timer_t timer;
    int perf_fd;
    struct pcp_thread *next;
} pcp_thread;

/* The calling thread's state, set only outside signal handlers. */
extern __thread pcp_thread *pcp_tls_self PCP_IE;
extern __thread uint32_t pcp_tls_label PCP_IE;
extern __thread uint32_t pcp_tls_critical PCP_IE;

/* ---- the handler's view of the running session (session.c publishes) ----
 * Everything the sampling handler reads of a session, filled completely
 * while unpublished, then published by ONE seq_cst (hence release) store of
 * its address into pcp_g_view (pcp_view_publish, session.c); the handler's
 * seq_cst load of pcp_g_view (pcp_handler_entry, handler.c) is its acquire
 * pair.  A view is never written while published, nor after its unpublish
 * until pcp_view_unpublish has seen pcp_g_inflight at 0.  So a handler sees
 * either NULL (no session) or a complete view of one session.
 * See docs/ARCHITECTURE.md, "The handler's view". */
typedef struct pcp_view {
    profcore *pc;         /* the session's core, initialised */
    int engine;           /* PCP_ENGINE_*, never 0 in a published view */
    int token;            /* PCP_SESSION_TOKEN(generation): sival_int of its timers */
    uint32_t generation;  /* 1, 2, ...: one per pcp_start that got this far */
    uint32_t max_depth;
    int wake_fd;          /* eventfd the handler writes after a handoff */
    uint64_t period_ns;
} pcp_view;

/* The token of a session: never 0, never a snapshot request's magic
 * (0x534e....), and distinct for 65536 sessions in a row. */
#define PCP_SESSION_TOKEN(generation) ((int)(0x50430000u | ((uint32_t)(generation) & 0xffffu)))

/* Counters the handler bumps (relaxed atomics). */
typedef struct pcp_counters {
    uint64_t signals, signals_foreign;
    uint64_t offered_samples, offered_weight;
    uint64_t unregistered_samples, critical_weight, unwind_failures;
    uint64_t handler_ns_total, handler_ns_max;
} pcp_counters;

extern const pcp_view *pcp_g_view PCP_HIDDEN; /* atomic: NULL when no session */
extern pcp_counters pcp_g_counters PCP_HIDDEN;
extern uint32_t pcp_g_inflight PCP_HIDDEN; /* atomic: handlers between entry and exit */
/* Owner tid of each perf fd of the session (0: none); atomic. */
extern uint32_t pcp_g_perf_fd_owner[PCP_PERF_FD_LIMIT] PCP_HIDDEN;
/* The traceback hook and its argument; atomic. */
extern profcore_traceback_fn pcp_g_hook PCP_HIDDEN;
extern void *pcp_g_hook_user PCP_HIDDEN;

/* ---- handler.c ---- */
PCP_HIDDEN void pcp_handler_entry(int sig, siginfo_t *si, void *uc);
PCP_HIDDEN pid_t pcp_gettid(void);

/* ---- unwind.c ---- */
typedef struct pcp_bounds {
    uintptr_t lo, hi; /* the stack [lo, hi); 0,0 when unknown */
} pcp_bounds;
/* Interrupted registers from a ucontext; false if the architecture is not
 * supported. */
PCP_HIDDEN bool pcp_context_regs(const void *uc, uintptr_t *pc, uintptr_t *sp, uintptr_t *fp);
/* Hook frames first (when a hook is set), then the native frame-pointer
 * walk from (pc, sp, fp).  leaf_fixup: pc is an interrupted instruction
 * (not a return address), so a function prologue or epilogue may be
 * recognized.  Returns the depth (>= 1), or -1 when nothing usable was
 * found (the caller counts an unwind loss). */
PCP_HIDDEN int pcp_unwind(const void *uc, uintptr_t pc, uintptr_t sp, uintptr_t fp,
                          bool leaf_fixup, const pcp_bounds *b, uintptr_t *frames, uint32_t max);
/* The interrupted thread's stack from its signal context, by the sampling
 * rules: pcp_unwind within the cached stack bounds of a registered thread
 * (`self`), or with fault-proof reads for a thread with no state (self ==
 * NULL).  -1 when the context has no registers or nothing usable was found.
 * Shared by the sampling handler and the snapshot handler. */
PCP_HIDDEN int pcp_unwind_interrupted(const void *uc, const pcp_thread *self, uintptr_t *frames,
                                      uint32_t max);
PCP_HIDDEN int pcp_faultproof_init(void);

/* ---- threads.c ---- */
/* Arms every known thread for the session `v` (kept until disarm_all;
 * the writer `skip_tid` is never sampled). */
PCP_HIDDEN int pcp_threads_arm_all(const pcp_view *v, pid_t skip_tid, char *err, size_t errlen);
PCP_HIDDEN void pcp_threads_disarm_all(void);
PCP_HIDDEN void pcp_threads_rescan(void); /* writer thread: new and dead threads */
PCP_HIDDEN void pcp_threads_counts(uint64_t *registered, uint64_t *discovered,
                                   uint64_t *timers_created, uint64_t *timers_deleted);
PCP_HIDDEN int pcp_perf_probe(char *err, size_t errlen);
/* The wall-clock ticker: one tick of `weight` to every known thread (but
 * the profiler's own), each with its state read from /proc. */
PCP_HIDDEN void pcp_threads_wall_tick(int token, uint32_t weight);
/* A second profiler thread that is never sampled (the ticker). */
PCP_HIDDEN void pcp_threads_skip(pid_t tid);
/* Is tid one of the profiler's own threads (writer, ticker, or marked
 * internal)? */
PCP_HIDDEN bool pcp_threads_is_profiler(pid_t tid);
/* A helper thread of the embedding library that blocks all signals: left
 * out of thread snapshots (at most 4). */
PCP_HIDDEN void pcp_threads_mark_internal(pid_t tid);
/* Fork: prepare locks the registry, parent unlocks it, child re-creates
 * the lock and forgets every entry (fork.c's atfork handlers call them). */
PCP_HIDDEN void pcp_threads_fork_prepare(void);
PCP_HIDDEN void pcp_threads_fork_parent(void);
PCP_HIDDEN void pcp_threads_fork_child(void);

/* ---- aggregate.c: one entry per distinct (tag, frames), weights summed ---- */
typedef struct pcp_agg_entry {
    uint64_t weight, tag, hash;
    uint32_t depth;
    size_t frames_at; /* index into frames */
} pcp_agg_entry;

typedef struct pcp_agg {
    pcp_agg_entry *entries;
    size_t n, cap;
    uint32_t *slots; /* entry index + 1, 0 empty; power-of-two size */
    size_t nslots;
    uint64_t *frames;
    size_t nframes, frames_cap;
    uint64_t total_weight;
    uint64_t dropped_weight; /* records lost to allocation failure */
} pcp_agg;

PCP_HIDDEN void pcp_agg_free(pcp_agg *a);
/* The core's record callback (ctx: a pcp_agg). */
PCP_HIDDEN void pcp_agg_emit(void *ctx, const profcore_record *rec);

/* ---- session.c: the one session of the process ----
 * Locks (never taken in a handler):
 *   pcp_api_mu     serializes the public calls that change the session;
 *   pcp_reader_mu  the core's single reader (writer thread, flush, write)
 *                  and the aggregate it fills;
 *   label lock     (labels.c) the label table.
 * Order: api -> reader -> label; the registry's own mutex (threads.c) is
 * taken alone or after api.  fork.c takes them all in this order. */
extern pthread_mutex_t pcp_api_mu PCP_HIDDEN;
extern pthread_mutex_t pcp_reader_mu PCP_HIDDEN;

/* A helper thread of a session (the writer, the wall-clock ticker). */
typedef struct pcp_helper {
    pthread_t thread;
    int stop;  /* atomic: set by the session to end the thread */
    pid_t tid; /* atomic: set by the thread when it runs; 0: no thread */
} pcp_helper;

/* What exists only while a session runs.  pcp_session_release_live is the
 * one reset of it, used by the end of a session and by the fork child. */
typedef struct pcp_live {
    pcp_view view;  /* published while running (see pcp_view above) */
    void *mem;      /* the core's memory (mmap), NULL when none */
    size_t mem_size;
    pcp_helper writer;
    pcp_helper ticker;
    long writer_delay_us; /* test knob PCP_TEST_WRITER_DELAY_MS: a slow writer */
    uint64_t start_mono_ns, start_cpu_ns;
} pcp_live;

/* What a stopped session leaves: the profile and its final statistics. */
typedef struct pcp_result {
    bool have_profile;
    char *output_path; /* the path given at start, NULL when none */
    int format;        /* PCP_FORMAT_* */
    const char *engine_name;
    int hz;
    int64_t start_unix_ns;
    int64_t duration_ns;
    uint64_t cpu_measured_ns;
    profcore_stats core;
    pcp_counters counters;
    uint64_t threads_registered, threads_discovered, timers_created, timers_deleted;
} pcp_result;

typedef struct pcp_session {
    bool running;
    uint32_t generation; /* of the last session started (never reset) */
    pcp_live live;
    pcp_result result;
    pcp_agg agg; /* under pcp_reader_mu */
} pcp_session;

/* The session; pcp_api_mu guards it except where a field says otherwise. */
extern pcp_session pcp_g_session PCP_HIDDEN;

/* Frees what the running part holds (core memory, eventfd) and zeroes it.
 * Requires: unpublished, no handler in flight, no helper thread alive (or
 * in a fork child, where none of them exist). */
PCP_HIDDEN void pcp_session_release_live(void);
/* Forgets the stopped session's profile (a new start, a fork child). */
PCP_HIDDEN void pcp_session_forget_result(void);
/* Installs the SIGPROF handler if the slot is free (PCP_E_SIGNAL if the
 * program has its own). */
PCP_HIDDEN int pcp_ensure_handler(char *err, size_t errlen);

/* ---- options.c ---- */
enum { PCP_FORMAT_PPROF = 1, PCP_FORMAT_LEGACY = 2, PCP_FORMAT_COLLAPSED = 3 };
/* NULL -> the default; 0 when unknown. */
PCP_HIDDEN int pcp_parse_engine(const char *s);
PCP_HIDDEN const char *pcp_engine_name(int engine);
PCP_HIDDEN int pcp_format_code(const char *format);
/* The path and format of pcp_write or pcp_snapshot (`what` prefixes the
 * path message): PCP_OK with the format code in *code, or PCP_E_PATH /
 * PCP_E_FORMAT with a message. */
PCP_HIDDEN int pcp_check_destination(const char *path, const char *format, const char *what, int *code,
                                     char *err, size_t errlen);
/* Every option checked; PCP_OK or the error with a message in err. */
PCP_HIDDEN int pcp_validate(const pcp_options *o, char *err, size_t errlen);
/* The shard count when the options leave it to us. */
PCP_HIDDEN uint32_t pcp_default_shards(void);

/* ---- writer.c: the writer thread and the profile handed to the output ---- */
PCP_HIDDEN int pcp_writer_start(char *err, size_t errlen);
/* Wakes the writer, joins it; nothing when there is none. */
PCP_HIDDEN void pcp_writer_stop(void);
/* Moves everything recorded so far (tables included) into the aggregate;
 * takes pcp_reader_mu. */
PCP_HIDDEN void pcp_collect(void);
/* Builds the profile from the aggregate and statistics and writes it
 * (api lock held); PCP_OK, PCP_E_SYSTEM or PCP_E_WRITE. */
PCP_HIDDEN int pcp_write_session(const char *path, int format, char *err, size_t errlen);
/* Writes a built profile in a format code; PCP_OK or PCP_E_WRITE. */
struct pcprof_profile;
PCP_HIDDEN int pcp_write_profile(const struct pcprof_profile *p, const char *path, int format, char *err,
                                 size_t errlen);
/* The human summary of the session (api lock held); PCP_OK or PCP_E_SYSTEM. */
PCP_HIDDEN int pcp_summarize_session(FILE *out, int top);

/* ---- wall.c: the wall-clock engine's ticker thread ---- */
PCP_HIDDEN int pcp_ticker_start(char *err, size_t errlen);
PCP_HIDDEN void pcp_ticker_stop(void);

/* ---- labels.c ---- */
/* A copy of the label pointer array (free() it; the strings live until
 * exit); *n entries, [0] unused. */
PCP_HIDDEN const char **pcp_labels_copy(size_t *n);
PCP_HIDDEN void pcp_labels_lock(void);   /* fork.c: prepare */
PCP_HIDDEN void pcp_labels_unlock(void); /* fork.c: parent */
PCP_HIDDEN void pcp_labels_fork_child(void);

/* ---- fork.c ---- */
/* Registers the fork handlers (once per process); see fork.c. */
PCP_HIDDEN void pcp_install_atfork(void);

/* ---- support.c ---- */
PCP_HIDDEN void pcp_set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
PCP_HIDDEN uint64_t pcp_clock_ns(clockid_t c);
PCP_HIDDEN void pcp_sleep_us(long us);
/* A helper thread: started with `blocked` signals blocked, returns once the
 * thread has called pcp_helper_running (PCP_OK), or PCP_E_SYSTEM with
 * "cannot start the <what> thread". */
PCP_HIDDEN int pcp_helper_start(pcp_helper *h, void *(*main_fn)(void *), const sigset_t *blocked,
                                const char *what, char *err, size_t errlen);
PCP_HIDDEN void pcp_helper_running(pcp_helper *h);  /* the thread: first thing */
PCP_HIDDEN bool pcp_helper_stopping(pcp_helper *h); /* the thread: time to return? */
PCP_HIDDEN void pcp_helper_ask_stop(pcp_helper *h);
PCP_HIDDEN void pcp_helper_join(pcp_helper *h); /* then tid is 0 again */

/* ---- snapshot.c ---- */
/* In the handler: a snapshot request is answered (true) and is not a
 * sample; false for any other signal. */
PCP_HIDDEN bool pcp_snapshot_answer(const siginfo_t *si, void *uc);
/* Fork child: every slot free again. */
PCP_HIDDEN void pcp_snapshot_fork_child(void);

#endif
