/* vocab.h — the profiler's one vocabulary: engines, output formats, loss
 * reasons and synthetic frames with their names.  Every part of the
 * profiler that names one of these (the runtime, the environment parser,
 * the writers, the summary, the file readers, the CLI) asks here, so a
 * new reason, frame, engine or format is added in exactly one place.
 * Limits of the options are the public header's (PCP_MAX_HZ, ...).
 * Nothing here runs in a signal handler; no allocation, no state.
 * See docs/ARCHITECTURE.md, "Vocabulary".
 */
#ifndef PROFCORE_PROFILER_VOCAB_H
#define PROFCORE_PROFILER_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "profcore.h"

/* ---- engines: what sends the sampling signals ---- */
typedef enum {
    PCPROF_ENGINE_CTIMER = 1, /* a POSIX CPU-time timer per thread (the default) */
    PCPROF_ENGINE_ITIMER = 2, /* the process's ITIMER_PROF */
    PCPROF_ENGINE_PERF = 3,   /* a perf task-clock event per thread */
    PCPROF_ENGINE_WALL = 4    /* wall-clock ticks from the ticker thread */
} pcprof_engine;
#define PCPROF_ENGINES_ACCEPTED "ctimer, itimer, perf or wall"

/* ---- output formats ---- */
typedef enum {
    PCPROF_FORMAT_PPROF = 1,    /* gzip'd protobuf (the default) */
    PCPROF_FORMAT_LEGACY = 2,   /* gperftools' binary CPU profile */
    PCPROF_FORMAT_COLLAPSED = 3 /* "a;b;c N" lines */
} pcprof_format;
#define PCPROF_FORMATS_ACCEPTED "pprof, legacy or collapsed"

/* ---- how stacks are walked ---- */
typedef enum {
    PCPROF_UNWIND_FP = 1,     /* frame pointers only */
    PCPROF_UNWIND_TABLES = 2, /* unwind tables; the stack ends where none covers a frame */
    PCPROF_UNWIND_AUTO = 3    /* tables where an object has them, frame pointers elsewhere (the default) */
} pcprof_unwind;

/* The code of a name, 0 when unknown (NULL is unknown too: callers decide
 * their default); the name of a code, "?" when unknown. */
int pcprof_engine_code(const char *name);
const char *pcprof_engine_name(int engine);
int pcprof_format_code(const char *name);
const char *pcprof_format_name(int format);
int pcprof_unwind_code(const char *name);
const char *pcprof_unwind_name(int unwind);

/* ---- loss reasons (the core's PROFCORE_LOSS_*) ---- */
/* "contended", "log full", ...; "unknown" past the last reason. */
const char *pcprof_loss_name(uint32_t reason);

/* May `sig` be the sampling signal (pcp_options.signal,
 * CPUPROFILE_TIMER_SIGNAL)?  SIGPROF, SIGVTALRM, SIGALRM, SIGUSR1, SIGUSR2
 * or a real-time signal: signals whose default action nobody relies on to
 * end or stop the process (a sampling handler on SIGTERM would make the
 * process unkillable by it) and that the kernel never sends for a fault. */
int pcprof_sampling_signal_ok(int sig);

/* ---- synthetic frames ----
 * Frame values below PROFCORE_FRAME_RESERVED_END are never code
 * addresses: the core's (PROFCORE_FRAME_TRUNCATED, PROFCORE_FRAME_LOST(r))
 * and the profiler's own below.  Each has the name outputs print and the
 * name of the function the legacy writer points at instead (gperftools'
 * readers symbolize every address; profiler/output/legacy.c). */
/* A thread snapshot's entry for a thread that did not answer in time. */
#define PCPROF_FRAME_NO_ANSWER ((uint64_t)41)
/* CPU a thread spent that no delivered timer expiry covered (after its
 * last expiry, up to its exit, unregistration or the stop): offered as one
 * weighted sample so a profile's total is its threads' measured CPU. */
#define PCPROF_FRAME_UNSAMPLED_TAIL ((uint64_t)42)

typedef struct pcprof_synthetic {
    uint64_t frame;
    const char *name;    /* "[lost: contended]" */
    const char *standin; /* "profcore_lost_contended" */
} pcprof_synthetic;

/* Every synthetic frame, in frame order. */
extern const pcprof_synthetic pcprof_synthetics[];
extern const size_t pcprof_nsynthetics;
/* The entry of a frame; NULL for a frame that is not synthetic, and for a
 * reserved value no one assigned (then pcprof_synthetic_name says
 * "[reserved frame]"). */
const pcprof_synthetic *pcprof_synthetic_find(uint64_t frame);
/* "[truncated]", "[lost: contended]", ..., "[reserved frame]" for an
 * unassigned reserved value; NULL for a frame that is not synthetic. */
const char *pcprof_synthetic_name(uint64_t frame);
#define PCPROF_RESERVED_FRAME_NAME "[reserved frame]"
#define PCPROF_RESERVED_FRAME_STANDIN "profcore_reserved_frame"

#endif
