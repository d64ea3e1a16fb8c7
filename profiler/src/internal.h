/* internal.h — shared state of the profiler runtime (profiler/src/).
 *
 * Who touches what:
 *   - the signal handler (handler.c) reads the session fields published by
 *     pcp_start, its own thread's TLS, and bumps the atomic counters;
 *   - the thread registry (threads.c) is guarded by a mutex and is only
 *     used outside signal handlers;
 *   - the writer thread and the API calls (runtime.c) are the core's only
 *     readers, serialized by the reader mutex.
 * Everything the handler reaches carries PROFCORE_SIGNAL_SAFE.
 */
#ifndef PROFCORE_PROFILER_INTERNAL_H
#define PROFCORE_PROFILER_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "profcore.h"
#include "profcore_profiler.h"

#define PCP_IE __attribute__((tls_model("initial-exec")))
#define PCP_HIDDEN __attribute__((visibility("hidden")))
/* For the unwinder's direct stack reads only.  An interrupted function may
 * use rbp as a plain register, so a "frame record" can land anywhere in
 * [sp, stack base): mapped, hence safe to read, but possibly inside another
 * frame's ASan redzone.  Such a read is a wrong guess that the walk's
 * checks reject, not a memory error, so ASan must not instrument it. */
#define PCP_NO_ASAN __attribute__((no_sanitize("address")))

enum { PCP_ENGINE_CTIMER = 1, PCP_ENGINE_ITIMER = 2, PCP_ENGINE_PERF = 3, PCP_ENGINE_WALL = 4 };

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

/* What the handler needs of the running session.  Written by pcp_start
 * before `pc` is published (release) and not changed until it is
 * unpublished and no handler is in flight. */
typedef struct pcp_session {
    profcore *pc; /* atomic: NULL when no session */
    int engine;
    int token; /* sival_int of this session's timers */
    uint32_t max_depth;
    int wake_fd; /* eventfd the handler writes after a handoff */
    uint64_t period_ns;
} pcp_session;

/* Counters the handler bumps (relaxed atomics). */
typedef struct pcp_counters {
    uint64_t signals, signals_foreign;
    uint64_t offered_samples, offered_weight;
    uint64_t unregistered_samples, critical_weight, unwind_failures;
    uint64_t handler_ns_total, handler_ns_max;
} pcp_counters;

extern pcp_session pcp_g_session PCP_HIDDEN;
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
PCP_HIDDEN int pcp_threads_arm_all(int engine, uint64_t period_ns, int token, pid_t skip_tid,
                                   char *err, size_t errlen);
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
 * the lock and forgets every entry (runtime.c's atfork handlers call them). */
PCP_HIDDEN void pcp_threads_fork_prepare(void);
PCP_HIDDEN void pcp_threads_fork_parent(void);
PCP_HIDDEN void pcp_threads_fork_child(void);

/* ---- runtime.c ---- */
/* Registers the fork handlers (once per process); see runtime.c. */
PCP_HIDDEN void pcp_install_atfork(void);
/* "pprof"/"legacy"/"collapsed"/NULL -> a format code, 0 when unknown. */
PCP_HIDDEN int pcp_format_code(const char *format);
/* Writes a built profile in a format code; PCP_OK or PCP_E_WRITE. */
struct pcprof_profile;
PCP_HIDDEN int pcp_write_profile(const struct pcprof_profile *p, const char *path, int format, char *err,
                                 size_t errlen);
/* Installs the SIGPROF handler if the slot is free (PCP_E_SIGNAL if the
 * program has its own). */
PCP_HIDDEN int pcp_ensure_handler(char *err, size_t errlen);

/* ---- snapshot.c ---- */
/* In the handler: a snapshot request is answered (true) and is not a
 * sample; false for any other signal. */
PCP_HIDDEN bool pcp_snapshot_answer(const siginfo_t *si, void *uc);
/* Fork child: every slot free again. */
PCP_HIDDEN void pcp_snapshot_fork_child(void);
PCP_HIDDEN void pcp_set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
