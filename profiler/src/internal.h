/* internal.h — shared state of the profiler runtime (profiler/src/).
 *
 * Who touches what:
 *   - the signal handler (handler.c) reads the view session.c publishes
 *     (prt_view), its own thread's TLS, and bumps the atomic counters;
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

#define PRT_IE __attribute__((tls_model("initial-exec")))
#define PRT_HIDDEN __attribute__((visibility("hidden")))
/* For the unwinder's direct stack reads only.  An interrupted function may
 * use rbp as a plain register, so a "frame record" can land anywhere in
 * [sp, stack base): mapped, hence safe to read, but possibly inside another
 * frame's ASan redzone.  Such a read is a wrong guess that the walk's
 * checks reject, not a memory error, so ASan must not instrument it. */
#define PRT_NO_ASAN __attribute__((no_sanitize("address")))


/* A wall-clock tick is a SIGPROF queued by the profiler's ticker thread
 * (rt_tgsigqueueinfo, si_code SI_QUEUE, si_pid our pid) whose 64-bit
 * si_value carries everything the handler needs, so no per-thread slot is
 * shared between the ticker and the handler:
 *   bits  0..31  the session token (rules out other sessions and sigqueue
 *                calls of the program: a tick is never confused with a
 *                ctimer expiry, whose si_code is SI_TIMER)
 *   bits 32..39  the thread's state read by the ticker (PCPROF_STATE_*)
 *   bits 40..63  the weight: 1 + the ticks the ticker missed */
#define PRT_WALL_VALUE(token, state, weight)                                                        \
    ((uint64_t)(uint32_t)(token) | ((uint64_t)((state) & 0xffu) << 32) |                            \
     ((uint64_t)((weight) & 0xffffffu) << 40))
#define PRT_WALL_TOKEN(v) ((uint32_t)((v) & 0xffffffffu))
#define PRT_WALL_STATE(v) ((uint32_t)(((v) >> 32) & 0xffu))
#define PRT_WALL_WEIGHT(v) ((uint32_t)(((v) >> 40) & 0xffffffu))
#define PRT_WALL_MAX_WEIGHT 0xffffffu

/* Highest fd whose perf-event owner the handler can check (fds above it are
 * refused at arm time, so every accepted signal is validated). */
#define PRT_PERF_FD_LIMIT 4096

/* One thread the profiler knows: registered (it called
 * pcp_register_thread; its TLS points here and its stack bounds are
 * cached) or discovered (found in /proc/self/task; no TLS, no bounds). */
typedef struct prt_thread {
    pid_t tid;
    uint64_t starttime; /* /proc/self/task/TID/stat field 22: detects tid reuse */
    uintptr_t stack_lo, stack_hi;
    bool registered;
    bool armed;
    bool seen; /* mark of the current /proc scan */
    timer_t timer;
    int perf_fd;
    /* Thread tails (threads.c, prt_thread_tail): the weight of this
     * thread's own timer deliveries offered so far (the handler adds it,
     * relaxed: only its value at the close matters), and the thread's CPU
     * clock when the timer was armed.  PRT_TAIL_CLOSED set by the tail:
     * a delivery that sees it was already counted in the tail and is not
     * offered again (prt_handler_entry). */
    uint64_t delivered; /* atomic */
    uint64_t cpu_armed_ns;
    bool tail_from_start; /* registered as it began, inside the session: its whole CPU clock counts */
    bool count_since_fork; /* a fork child's thread whose timer counts its CPU from the fork (fork.c):
                            * kept when the entry is re-armed in the same session (registration) */
    /* Wall-clock engine: the weight of ticks not sent because one was
     * still pending on the thread (threads.c, prt_threads_wall_tick);
     * ticker and tail only, under the registry lock. */
    uint32_t wall_carry;
    struct prt_thread *next;
} prt_thread;
#define PRT_TAIL_CLOSED (UINT64_C(1) << 63)

/* The calling thread's state, set only outside signal handlers. */
extern __thread prt_thread *prt_tls_self PRT_IE;
extern __thread uint32_t prt_tls_label PRT_IE;
extern __thread uint32_t prt_tls_critical PRT_IE;

/* ---- the handler's view of the running session (session.c publishes) ----
 * Everything the sampling handler reads of a session, filled completely
 * while unpublished, then published by ONE seq_cst (hence release) store of
 * its address into prt_g_view (prt_view_publish, session.c); the handler's
 * seq_cst load of prt_g_view (prt_handler_entry, handler.c) is its acquire
 * pair.  A view is never written while published, nor after its unpublish
 * until prt_view_unpublish has seen prt_g_inflight at 0.  So a handler sees
 * either NULL (no session) or a complete view of one session.
 * See docs/ARCHITECTURE.md, "The handler's view". */
typedef struct prt_view {
    profcore *pc;         /* the session's core, initialised */
    int engine;           /* PCPROF_ENGINE_*, never 0 in a published view */
    int token;            /* PRT_SESSION_TOKEN(generation): sival_int of its timers */
    uint32_t generation;  /* 1, 2, ...: one per pcp_start that got this far */
    uint32_t max_depth;
    int wake_fd;          /* eventfd the handler writes after a handoff */
    uint64_t period_ns;
} prt_view;

/* The token of a session: never 0, never a snapshot request's magic
 * (0x534e....), and distinct for 65536 sessions in a row. */
#define PRT_SESSION_TOKEN(generation) ((int)(0x50430000u | ((uint32_t)(generation) & 0xffffu)))

/* Counters the handler bumps (relaxed atomics). */
typedef struct prt_counters {
    uint64_t signals, signals_foreign;
    uint64_t offered_samples, offered_weight;
    uint64_t unregistered_samples, critical_weight, unwind_failures;
    uint64_t handler_ns_total, handler_ns_max;
    uint64_t tail_samples, tail_weight; /* thread tails offered (prt_offer_tail) */
    uint64_t signals_after_tail;        /* deliveries already covered by their thread's tail */
} prt_counters;

extern const prt_view *prt_g_view PRT_HIDDEN; /* atomic: NULL when no session */
/* The sampling signal (SIGPROF unless pcp_options.signal said otherwise):
 * what the timers, the ticker and thread snapshots send and what our
 * handler is installed on.  Atomic; set by pcp_start before the handler is
 * installed and the timers armed, kept after the session (snapshots). */
extern int prt_g_signal PRT_HIDDEN;
extern prt_counters prt_g_counters PRT_HIDDEN;
extern uint32_t prt_g_inflight PRT_HIDDEN; /* atomic: handlers between entry and exit */
/* Owner tid of each perf fd of the session (0: none); atomic. */
extern uint32_t prt_g_perf_fd_owner[PRT_PERF_FD_LIMIT] PRT_HIDDEN;
/* Periods each perf fd's counter had advanced at its last accepted
 * signal (the handler's weight is the difference); set to 0 before the
 * event is enabled, then written only by the owner thread's handler. */
extern uint64_t prt_g_perf_periods[PRT_PERF_FD_LIMIT] PRT_HIDDEN;
/* itimer: the process CPU (CLOCK_PROCESS_CPUTIME_ID) the delivered
 * samples cover so far; set before setitimer, advanced by the handler in
 * whole periods (atomic). */
extern uint64_t prt_g_itimer_covered_ns PRT_HIDDEN;
/* The traceback hook and its argument; atomic. */
extern profcore_traceback_fn prt_g_hook PRT_HIDDEN;
extern void *prt_g_hook_user PRT_HIDDEN;

/* ---- handler.c ---- */
PRT_HIDDEN void prt_handler_entry(int sig, siginfo_t *si, void *uc);
PRT_HIDDEN pid_t prt_gettid(void);
/* Offers a thread's tail (CPU no delivered expiry covered) to the core as
 * one sample of `weight` under PCPROF_FRAME_UNSAMPLED_TAIL, counted like a
 * delivery (offered_weight), so handler offered == core offered (I1).
 * Called outside handlers, while the view's core runs (threads.c holds the
 * registry lock with the session armed); the thread's own SIGPROF may
 * nest into it, which the core allows. */
PRT_HIDDEN void prt_offer_tail(const prt_view *v, uint32_t tid, uint32_t label, uint32_t weight);
/* The frame value a tail carries through the core (a data address, never
 * a code address nor reserved); aggregate.c turns it into
 * PCPROF_FRAME_UNSAMPLED_TAIL. */
PRT_HIDDEN uintptr_t prt_tail_core_frame(void);

/* ---- unwind.c ---- */
typedef struct prt_bounds {
    uintptr_t lo, hi; /* the stack [lo, hi); 0,0 when unknown */
} prt_bounds;
/* Interrupted registers from a ucontext; false if the architecture is not
 * supported. */
PRT_HIDDEN bool prt_context_regs(const void *uc, uintptr_t *pc, uintptr_t *sp, uintptr_t *fp);
/* Hook frames first (when a hook is set), then the native frame-pointer
 * walk from (pc, sp, fp).  leaf_fixup: pc is an interrupted instruction
 * (not a return address), so a function prologue or epilogue may be
 * recognized.  Returns the depth (>= 1), or -1 when nothing usable was
 * found (the caller counts an unwind loss). */
PRT_HIDDEN int prt_unwind(const void *uc, uintptr_t pc, uintptr_t sp, uintptr_t fp,
                          bool leaf_fixup, const prt_bounds *b, uintptr_t *frames, uint32_t max);
/* The interrupted thread's stack from its signal context, by the sampling
 * rules: prt_unwind within the cached stack bounds of a registered thread
 * (`self`), or with fault-proof reads for a thread with no state (self ==
 * NULL).  -1 when the context has no registers or nothing usable was found.
 * Shared by the sampling handler and the snapshot handler. */
PRT_HIDDEN int prt_unwind_interrupted(const void *uc, const prt_thread *self, uintptr_t *frames,
                                      uint32_t max);
PRT_HIDDEN int prt_faultproof_init(void);

/* ---- threads.c ---- */
/* Arms every known thread for the session `v` (kept until disarm_all;
 * the writer `skip_tid` is never sampled). */
PRT_HIDDEN int prt_threads_arm_all(const prt_view *v, pid_t skip_tid, char *err, size_t errlen);
PRT_HIDDEN void prt_threads_disarm_all(void);
PRT_HIDDEN void prt_threads_rescan(void); /* writer thread: new and dead threads */
PRT_HIDDEN void prt_threads_counts(uint64_t *registered, uint64_t *discovered,
                                   uint64_t *timers_created, uint64_t *timers_deleted);
PRT_HIDDEN int prt_perf_probe(char *err, size_t errlen);
/* The wall-clock ticker: one tick of `weight` to every known thread (but
 * the profiler's own), each with its state read from /proc. */
PRT_HIDDEN void prt_threads_wall_tick(int token, uint32_t weight);
/* Another profiler thread that is never sampled (the ticker, the rotator;
 * at most these two). */
PRT_HIDDEN void prt_threads_skip(pid_t tid);
/* Is tid one of the profiler's own threads (writer, ticker, or marked
 * internal)? */
PRT_HIDDEN bool prt_threads_is_profiler(pid_t tid);
/* Fork: prepare locks the registry, parent unlocks it, child re-creates
 * the lock and forgets every entry (fork.c's atfork handlers call them). */
PRT_HIDDEN void prt_threads_fork_prepare(void);
PRT_HIDDEN void prt_threads_fork_parent(void);
PRT_HIDDEN void prt_threads_fork_child(void);
/* fork.c: is tid the fork child's thread whose CPU since the fork is to be
 * counted (prt_link_count_since_fork)?  True once, then forgotten. */
PRT_HIDDEN bool prt_fork_take_count_since_fork(pid_t tid);
/* fork.c: the request ends with the session start that consumed it or not. */
PRT_HIDDEN void prt_fork_drop_count_since_fork(void);

/* ---- aggregate.c: one entry per distinct (tag, frames), weights summed ---- */
typedef struct prt_agg_entry {
    uint64_t weight, tag, hash;
    uint32_t depth;
    size_t frames_at; /* index into frames */
} prt_agg_entry;

typedef struct prt_agg {
    prt_agg_entry *entries;
    size_t n, cap;
    uint32_t *slots; /* entry index + 1, 0 empty; power-of-two size */
    size_t nslots;
    uint64_t *frames;
    size_t nframes, frames_cap;
    uint64_t total_weight;
    uint64_t dropped_weight; /* records lost to allocation failure */
} prt_agg;

PRT_HIDDEN void prt_agg_free(prt_agg *a);
/* Moves *from into *to (which must be empty) and leaves *from empty. */
PRT_HIDDEN void prt_agg_move(prt_agg *to, prt_agg *from);
/* Adds every entry of src into dst (a period whose write failed goes back
 * into the aggregate); weights that find no memory are counted in
 * dst->dropped_weight. */
PRT_HIDDEN void prt_agg_merge(prt_agg *dst, const prt_agg *src);
/* The core's record callback (ctx: a prt_agg). */
PRT_HIDDEN void prt_agg_emit(void *ctx, const profcore_record *rec);

/* ---- session.c: the one session of the process ----
 * Locks (never taken in a handler):
 *   prt_api_mu     serializes the public calls that change the session;
 *   prt_reader_mu  the core's single reader (writer thread, flush, write)
 *                  and the aggregate it fills;
 *   prt_period_mu  cuts and period writes of a rotating session (rotate.c);
 *   label lock     (labels.c) the label table.
 * Order: api -> period -> reader -> label; the registry's own mutex (threads.c) is
 * taken alone or after api.  fork.c takes them all in this order. */
extern pthread_mutex_t prt_api_mu PRT_HIDDEN;
extern pthread_mutex_t prt_reader_mu PRT_HIDDEN;

/* A helper thread of a session (the writer, the wall-clock ticker). */
typedef struct prt_helper {
    pthread_t thread;
    int stop;  /* atomic: set by the session to end the thread */
    pid_t tid; /* atomic: set by the thread when it runs; 0: no thread */
    uint64_t cpu_ns; /* the thread's CPU clock when it saw its stop (read after the join) */
} prt_helper;

/* What exists only while a session runs.  prt_session_release_live is the
 * one reset of it, used by the end of a session and by the fork child. */
typedef struct prt_live {
    prt_view view;  /* published while running (see prt_view above) */
    void *mem;      /* the core's memory (mmap), NULL when none */
    size_t mem_size;
    prt_helper writer;
    prt_helper ticker;
    prt_helper rotator;  /* rotation only (rotate.c) */
    int rotator_fd;      /* eventfd that wakes the rotator to stop; 0: none */
    long writer_delay_us; /* test knob PCP_TEST_WRITER_DELAY_MS: a slow writer */
    uint64_t start_mono_ns, start_cpu_ns;
} prt_live;

/* The session's clocks and counters at one instant: a period runs from one
 * mark to the next (rotate.c). */
typedef struct prt_mark {
    uint64_t mono_ns, cpu_ns;
    int64_t unix_ns;
    profcore_stats core;
    prt_counters counters;
} prt_mark;

/* Rotation (pcp_options.period_ms): the period being recorded.  Under
 * prt_period_mu; `start` is also written by a cut under prt_reader_mu. */
typedef struct prt_period {
    uint64_t period_ns; /* 0: no rotation */
    uint32_t seq;       /* of the period being recorded: OUT.<seq> */
    prt_mark start;
} prt_period;

/* What a stopped session leaves: the profile and its final statistics. */
typedef struct prt_result {
    bool have_profile;
    char *output_path; /* the path given at start, NULL when none */
    int format;        /* PCPROF_FORMAT_* */
    const char *engine_name;
    int hz;
    int64_t start_unix_ns;
    int64_t duration_ns;
    uint64_t cpu_measured_ns;
    /* The profiler's own CPU, apart from the program's: pcp_start on the
     * calling thread (the unwind tables' build included; before the
     * measured window), its helper threads over the session (inside it),
     * and the last write of the profile (after it, on the caller). */
    uint64_t startup_cpu_ns, helpers_cpu_ns, write_cpu_ns;
    profcore_stats core;
    prt_counters counters;
    uint64_t threads_registered, threads_discovered, timers_created, timers_deleted;
    prt_period period; /* the last period is written by pcp_stop, after the session ended */
} prt_result;

typedef struct prt_session {
    bool running;
    /* The running session is a window of the pprof endpoint (http_server.c):
     * the program's calls see no profile running (pcp_is_running 0,
     * pcp_stop/pcp_flush refuse) and pcp_start refuses until it ends. */
    bool window;
    uint32_t generation; /* of the last session started (never reset) */
    prt_live live;
    prt_result result;
    prt_agg agg; /* under prt_reader_mu */
} prt_session;

/* The session; prt_api_mu guards it except where a field says otherwise. */
extern prt_session prt_g_session PRT_HIDDEN;

/* Frees what the running part holds (core memory, eventfd) and zeroes it.
 * Requires: unpublished, no handler in flight, no helper thread alive (or
 * in a fork child, where none of them exist). */
PRT_HIDDEN void prt_session_release_live(void);
/* Forgets the stopped session's profile (a new start, a fork child). */
PRT_HIDDEN void prt_session_forget_result(void);
/* A window of the pprof endpoint: starts a session with `o` (its output
 * path and format ignored; api lock taken), and stops it, leaving the
 * window's pprof bytes in *out (the caller frees them) and the process
 * CPU time from the arming of its timers to the stop in *cpu_ns.  A window never
 * replaces or touches a session the program started. */
struct pcprof_bytes;
PRT_HIDDEN int prt_window_start(const pcp_options *o, char *err, size_t errlen);
PRT_HIDDEN int prt_window_stop(struct pcprof_bytes *out, uint64_t *cpu_ns, char *err, size_t errlen);
/* The program runs its own session (not a window). */
PRT_HIDDEN bool prt_program_profiling(void);
/* Installs the SIGPROF handler if the slot is free (PCP_E_SIGNAL if the
 * program has its own). */
PRT_HIDDEN int prt_ensure_handler(char *err, size_t errlen);

/* ---- options.c ---- */
/* NULL -> the default; 0 when unknown. */
PRT_HIDDEN int prt_parse_engine(const char *s);
PRT_HIDDEN int prt_format_code(const char *format);
/* The path and format of pcp_write or pcp_snapshot (`what` prefixes the
 * path message): PCP_OK with the format code in *code, or PCP_E_PATH /
 * PCP_E_FORMAT with a message. */
PRT_HIDDEN int prt_check_destination(const char *path, const char *format, const char *what, int *code,
                                     char *err, size_t errlen);
/* Every option checked; PCP_OK or the error with a message in err. */
PRT_HIDDEN int prt_validate(const pcp_options *o, char *err, size_t errlen);
/* The shard count when the options leave it to us. */
PRT_HIDDEN uint32_t prt_default_shards(void);

/* ---- writer.c: the writer thread and the profile handed to the output ---- */
PRT_HIDDEN int prt_writer_start(char *err, size_t errlen);
/* Wakes the writer, joins it; nothing when there is none. */
PRT_HIDDEN void prt_writer_stop(void);
/* Moves everything recorded so far (tables included) into the aggregate;
 * takes prt_reader_mu. */
PRT_HIDDEN void prt_collect(void);
/* Builds the profile from the aggregate and statistics and writes it
 * (api lock held); PCP_OK, PCP_E_SYSTEM or PCP_E_WRITE. */
PRT_HIDDEN int prt_write_session(const char *path, int format, char *err, size_t errlen);
/* The same profile's bytes in memory (api lock held): *out is malloc'd,
 * the caller frees it with pcprof_bytes_free; PCP_OK, PCP_E_SYSTEM or
 * PCP_E_WRITE (then *out is empty). */
struct pcprof_bytes;
PRT_HIDDEN int prt_encode_session(int format, struct pcprof_bytes *out, char *err, size_t errlen);
/* Writes a built profile in a format code; PCP_OK or PCP_E_WRITE. */
struct pcprof_profile;
PRT_HIDDEN int prt_write_profile(const struct pcprof_profile *p, const char *path, int format, char *err,
                                 size_t errlen);
/* The human summary of the session (api lock held); PCP_OK or PCP_E_SYSTEM. */
PRT_HIDDEN int prt_summarize_session(FILE *out, int top);

/* ---- own_sigmask.c: the runtime's own mask changes (not filtered) ---- */
/* pthread_sigmask, marked as the runtime's own: the preload library's
 * filter (which keeps SIGPROF open in the program's threads) passes it
 * through.  Every mask change of the runtime goes through it. */
PRT_HIDDEN int prt_sigmask_own(int how, const sigset_t *set, sigset_t *old);
/* Bracket a stretch of the runtime's own mask business (nests). */
PRT_HIDDEN void prt_own_mask_enter(void);
PRT_HIDDEN void prt_own_mask_leave(void);
/* The cut of a period: under prt_reader_mu, harvests the core
 * (profcore_collect: a busy shard's records stay for the next period),
 * moves the aggregate into *out and leaves it empty, and takes the mark
 * that ends the period.  A record the reader emitted before the cut is in
 * *out, every later one in the next period; each record is emitted once
 * (the core's I2), so no sample is lost or counted twice at a boundary. */
PRT_HIDDEN void prt_cut(prt_agg *out, prt_mark *end);
/* A copy of counters the handler bumps (each a relaxed atomic load). */
PRT_HIDDEN void prt_counters_read(prt_counters *out, const prt_counters *c);
/* The mark now (running session: live counters). */
PRT_HIDDEN void prt_mark_now(prt_mark *m);
/* Writes the profile of one period: aggregate `a` (private to the caller)
 * with the statistics from `from` to `to`; PCP_OK, PCP_E_SYSTEM or
 * PCP_E_WRITE. */
PRT_HIDDEN int prt_write_period(const prt_agg *a, const prt_mark *from, const prt_mark *to, const char *path,
                                int format, char *err, size_t errlen);

/* ---- rotate.c: a complete profile every period ---- */
/* Serializes cuts and period writes (rotator, flush, stop).  Order: api ->
 * period -> reader -> label. */
extern pthread_mutex_t prt_period_mu PRT_HIDDEN;
/* A new session's first period (prt_result_begin; clocks just read). */
PRT_HIDDEN void prt_period_begin(uint64_t period_ns);
PRT_HIDDEN int prt_rotator_start(char *err, size_t errlen);
/* Wakes the rotator and joins it (a write under way finishes first). */
PRT_HIDDEN void prt_rotator_stop(void);
/* pcp_flush while rotating: the period so far is cut now and written as
 * the next file. */
PRT_HIDDEN int prt_period_cut_now(char *err, size_t errlen);
/* pcp_stop while rotating (the session has ended): the last period. */
PRT_HIDDEN int prt_period_write_last(char *err, size_t errlen);
/* OUT.<seq>, the sequence number before a ".pb.gz" ending; -1 if too long. */
PRT_HIDDEN int prt_period_path(const char *out, uint32_t seq, char *path, size_t size);

/* ---- wall.c: the wall-clock engine's ticker thread ---- */
PRT_HIDDEN int prt_ticker_start(char *err, size_t errlen);
PRT_HIDDEN void prt_ticker_stop(void);

/* ---- labels.c ---- */
/* A copy of the label pointer array (free() it; the strings live until
 * exit); *n entries, [0] unused. */
PRT_HIDDEN const char **prt_labels_copy(size_t *n);
PRT_HIDDEN void prt_labels_lock(void);   /* fork.c: prepare */
PRT_HIDDEN void prt_labels_unlock(void); /* fork.c: parent */
PRT_HIDDEN void prt_labels_fork_child(void);

/* ---- fork.c ---- */
/* Registers the fork handlers (once per process); see fork.c. */
PRT_HIDDEN void prt_install_atfork(void);

/* ---- support.c ---- */
PRT_HIDDEN void prt_set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
PRT_HIDDEN uint64_t prt_clock_ns(clockid_t c);
PRT_HIDDEN void prt_sleep_us(long us);
/* fd moved to a number a program's next open() will not take (support.c);
 * the same fd when it cannot be moved. */
PRT_HIDDEN int prt_fd_move_high(int fd);
/* A helper thread: started with `blocked` signals blocked, returns once the
 * thread has called prt_helper_running (PCP_OK), or PCP_E_SYSTEM with
 * "cannot start the <what> thread". */
PRT_HIDDEN int prt_helper_start(prt_helper *h, void *(*main_fn)(void *), const sigset_t *blocked,
                                const char *what, char *err, size_t errlen);
PRT_HIDDEN void prt_helper_running(prt_helper *h);  /* the thread: first thing */
PRT_HIDDEN bool prt_helper_stopping(prt_helper *h); /* the thread: time to return? */
PRT_HIDDEN void prt_helper_ask_stop(prt_helper *h);
PRT_HIDDEN void prt_helper_join(prt_helper *h); /* then tid is 0 again */
/* CPU of the session's helper threads (writer, ticker, rotator) so far:
 * live clocks while running, their final ones once stopped. */
PRT_HIDDEN uint64_t prt_helpers_cpu_ns(void);

/* ---- snapshot.c ---- */
/* In the handler: a snapshot request is answered (true) and is not a
 * sample; false for any other signal. */
PRT_HIDDEN bool prt_snapshot_answer(const siginfo_t *si, void *uc);
/* Fork child: every slot free again. */
PRT_HIDDEN void prt_snapshot_fork_child(void);

#endif
