/* profile.h — the aggregated profile, as the writer thread hands it to the
 * output formats (profiler/output/).  This is the one interface between the
 * profiler's runtime (profiler/src/: signals, timers, unwinding, the core)
 * and its output (profiler/output/: symbolization, pprof, legacy,
 * collapsed, the summary).  Nothing here runs in a signal handler.
 *
 * Stacks are already aggregated: one entry per distinct (tag, frames), the
 * weights of every record of it summed.  Frames are leaf first and raw, as
 * the unwinder produced them: frames[0] is the interrupted PC, every later
 * frame is a return address (the output side moves those onto the call
 * instruction, address - 1, before symbolizing).  Frame values below
 * PROFCORE_FRAME_RESERVED_END are the core's synthetic frames
 * (PROFCORE_FRAME_TRUNCATED, PROFCORE_FRAME_LOST(reason)) and the
 * profiler's own (vocab.h); outputs render them by name with
 * pcprof_synthetic_name() (vocab.h).
 */
#ifndef PROFCORE_PROFILER_PROFILE_H
#define PROFCORE_PROFILER_PROFILE_H

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

#include "profcore.h"
#include "vocab.h"

/* Tag layout (one 64-bit word per sample, part of the core's key):
 *   bits  0..31  thread id (gettid), 0 when unknown
 *   bits 32..47  label index into pcprof_profile.labels (0: no label)
 *   bits 48..55  thread state in wall-clock mode (PCPROF_STATE_*), else 0
 *   bit  63      the sample came from a thread the profiler did not know
 *                (unregistered path of the core)                          */
#define PCPROF_TAG_TID(t) ((uint32_t)((t) & 0xffffffffu))
#define PCPROF_TAG_LABEL(t) ((uint32_t)(((t) >> 32) & 0xffffu))
#define PCPROF_TAG_STATE(t) ((uint32_t)(((t) >> 48) & 0xffu))
#define PCPROF_TAG_UNREGISTERED(t) ((int)(((t) >> 63) & 1u))
#define PCPROF_TAG_MAKE(tid, label, state, unreg)                                   \
    ((uint64_t)(uint32_t)(tid) | ((uint64_t)((label) & 0xffffu) << 32) |           \
     ((uint64_t)((state) & 0xffu) << 48) | ((uint64_t)((unreg) ? 1u : 0u) << 63))

#define PCPROF_STATE_NONE 0u
#define PCPROF_STATE_RUNNING 1u
#define PCPROF_STATE_SLEEPING 2u
#define PCPROF_STATE_OTHER 3u


typedef struct pcprof_stack {
    uint64_t weight; /* timer periods (1 + overruns, summed) */
    uint64_t tag;
    uint32_t depth;
    const uint64_t *frames; /* leaf first */
} pcprof_stack;

/* How the stacks were walked (the summary's unwind lines, the pprof
 * comment).  mode NULL: not recorded (thread snapshots). */
#define PCPROF_UNWIND_DEPTH_BUCKETS 8 /* depth 1, 2-3, 4-7, 8-15, 16-31, 32-63, 64-127, 128+ */
#define PCPROF_UNWIND_END_REASONS 16
typedef struct pcprof_unwind_info {
    const char *mode; /* "fp", "tables", "auto" */
    uint64_t objects_with_tables, objects_without, objects_over_cap;
    uint64_t table_bytes, table_rows, rows_cfi, rows_invalid, build_ns;
    uint64_t snapshots_published, snapshots_retired;
    uint64_t walks_tables, walks_fp, fp_steps, depth_sum;
    uint64_t depth_hist[PCPROF_UNWIND_DEPTH_BUCKETS];
    uint64_t ends[PCPROF_UNWIND_END_REASONS]; /* table walks by end reason */
    const char *end_names[PCPROF_UNWIND_END_REASONS];
    char unreadable[256]; /* objects with no usable CFI (comma-separated, truncated) */
    char over_cap[256];   /* objects past the table memory cap */
} pcprof_unwind_info;

typedef struct pcprof_profile {
    const pcprof_stack *stacks;
    size_t nstacks;
    uint64_t period_ns;   /* nanoseconds of CPU (or wall) time one unit of weight stands for */
    int64_t start_unix_ns;
    int64_t duration_ns;
    const char *engine;   /* "ctimer", "itimer", "perf", "wall" */
    uint32_t hz;          /* nominal frequency */
    const char *const *labels; /* labels[i] for label index i; labels[0] unused */
    size_t nlabels;
    /* For the summary. */
    profcore_stats core;            /* the core's counters at the end */
    uint64_t cpu_measured_ns;       /* process CPU time over the run (clock) */
    /* The profiler's own CPU (0: not measured): its start-up on the calling
     * thread (unwind tables included; before the measured window) and its
     * threads (writer, ticker, rotator; inside cpu_measured_ns), and the
     * stop's writing of the profile (after the window; known once written,
     * so a profile file cannot carry its own). */
    uint64_t startup_cpu_ns, helpers_cpu_ns, write_cpu_ns;
    uint64_t handler_samples;       /* signals handled */
    uint64_t handler_ns_total, handler_ns_max; /* self-overhead of the handler */
    pcprof_unwind_info unwind;
} pcprof_profile;

/* The unwind lines of the summary and of the pprof comments: which
 * unwinder, the tables built, the depth distribution, table walks by end
 * reason.  Writes at most 3 lines (no trailing newline on the last) into
 * buf; returns the number of lines, 0 when p->unwind.mode is NULL. */
int pcprof_unwind_lines(const pcprof_profile *p, char lines[3][512]);


/* An encoded profile in memory: `data` is malloc'd and owned by whoever
 * holds the struct (pcprof_bytes_free); {NULL, 0} when empty. */
typedef struct pcprof_bytes {
    unsigned char *data;
    size_t len;
} pcprof_bytes;

void pcprof_bytes_free(pcprof_bytes *b);

/* Output formats (profiler/output/).  pcprof_encode_* put the file's exact
 * bytes into *out (for a socket, an HTTP response, a rotation); the
 * pcprof_write_* write `path` atomically (a temporary file in the same
 * directory, fsync, rename).  Each returns 0, or -1 with a one-line reason
 * in err and *out empty.  pcprof_encode / pcprof_write take a
 * PCPROF_FORMAT_* (anything else is pprof). */
int pcprof_encode_pprof(const pcprof_profile *p, pcprof_bytes *out, char *err, size_t errlen);
int pcprof_encode_legacy(const pcprof_profile *p, pcprof_bytes *out, char *err, size_t errlen);
int pcprof_encode_collapsed(const pcprof_profile *p, pcprof_bytes *out, char *err, size_t errlen);
int pcprof_encode(const pcprof_profile *p, int format, pcprof_bytes *out, char *err, size_t errlen);
int pcprof_write_pprof(const pcprof_profile *p, const char *path, char *err, size_t errlen);
int pcprof_write_legacy(const pcprof_profile *p, const char *path, char *err, size_t errlen);
int pcprof_write_collapsed(const pcprof_profile *p, const char *path, char *err, size_t errlen);
int pcprof_write(const pcprof_profile *p, int format, const char *path, char *err, size_t errlen);

/* Reserved outputs (profiler/output/reserved.c).  pcprof_output_reserve
 * opens `path` for writing now (creating it empty when missing), so the
 * profile can still be written there after the process has lost the right
 * to create files in its directory or to see it (setuid, chroot, chdir):
 * the pcprof_write_* fall back to the descriptor.  0, or -1 (no
 * reservation; the normal write is unaffected).  pcprof_output_release
 * closes it (and removes the file if it made it and nothing was written);
 * pcprof_output_fork_child forgets the parent's in a fork child. */
int pcprof_output_reserve(const char *path);
void pcprof_output_release(const char *path);
void pcprof_output_fork_child(void);

/* The human summary: samples, CPU profiled vs measured, losses by reason,
 * handler cost, the top `top` functions by flat and cumulative share. */
void pcprof_print_summary(FILE *out, const pcprof_profile *p, int top);

#endif
