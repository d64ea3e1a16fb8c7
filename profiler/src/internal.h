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

enum { PCP_ENGINE_CTIMER = 1, PCP_ENGINE_ITIMER = 2, PCP_ENGINE_PERF = 3 };

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
PCP_HIDDEN int pcp_faultproof_init(void);

/* ---- threads.c ---- */
PCP_HIDDEN int pcp_threads_arm_all(int engine, uint64_t period_ns, int token, pid_t skip_tid,
                                   char *err, size_t errlen);
PCP_HIDDEN void pcp_threads_disarm_all(void);
PCP_HIDDEN void pcp_threads_rescan(void); /* writer thread: new and dead threads */
PCP_HIDDEN void pcp_threads_counts(uint64_t *registered, uint64_t *discovered,
                                   uint64_t *timers_created, uint64_t *timers_deleted);
PCP_HIDDEN int pcp_perf_probe(char *err, size_t errlen);

/* ---- runtime.c ---- */
PCP_HIDDEN void pcp_set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
