/* unwind_tables.h — compiling one ELF object's call-frame information into
 * the walker's compact table (core/profcore_unwind.h), and the set of
 * tables the signal handler reads.  Everything declared here runs outside
 * signal handlers, except prt_unwind_snapshot_enter/leave.
 *
 * Two layers:
 *   unwind_tables.c   one object: libdw's CFI rows -> rules -> pcu_table;
 *   unwind_objects.c  the process: every loaded object (dl_iterate_phdr,
 *                     the vDSO), the memory cap, immutable snapshots
 *                     published with one atomic pointer store, retired
 *                     ones freed after a grace period, the counters.
 */
#ifndef PROFCORE_PROFILER_UNWIND_TABLES_H
#define PROFCORE_PROFILER_UNWIND_TABLES_H

#include <gelf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profcore_unwind.h"
#include "profile.h"

/* Which CFI a table came from. */
enum { PRT_UT_SRC_NONE = 0, PRT_UT_SRC_EH_FRAME, PRT_UT_SRC_DEBUG_FRAME, PRT_UT_SRC_DEBUG_FILE };

/* One compiled object.  table.base includes the load bias. */
typedef struct prt_ut_object {
    pcu_table table;
    void *block;     /* the one allocation holding every array of the table */
    size_t bytes;    /* its size */
    int source;      /* PRT_UT_SRC_* */
    uint64_t rows_cfi;     /* rows libdw produced (before merging) */
    uint64_t rows_invalid; /* of those, rows the walker cannot follow (PCU_KIND_INVALID) */
    uint64_t fdes;
} prt_ut_object;

/* Compiles an ELF object already opened with libelf (a file, or the vDSO
 * copied to memory).  `path` (may be NULL) is only used to look for a
 * debug file by build ID when the object's own CFI is absent or sparse.
 * Returns 0, or -1 with a one-line reason in err (the object then has no
 * table: frame pointers are used there). */
int prt_ut_build_elf(Elf *elf, uintptr_t bias, prt_ut_object *out, char *err, size_t errlen);
/* Opens `path` and compiles it. */
int prt_ut_build_path(const char *path, uintptr_t bias, prt_ut_object *out, char *err,
                      size_t errlen);
void prt_ut_object_free(prt_ut_object *o);
/* "eh_frame", "debug_frame", "debug file", "none". */
const char *prt_ut_source_name(int source);

/* ---- the process's tables (unwind_objects.c) ---- */
/* What the handler uses.  PCPROF_UNWIND_AUTO: tables where an object has
 * them, frame pointers elsewhere; PCPROF_UNWIND_TABLES: the same walk, but
 * the profile is labelled tables-only in intent (objects without tables
 * still fall back: there is nothing else to follow); PCPROF_UNWIND_FP: frame
 * pointers only, no tables built. */
/* "fp" | "tables" | "auto" | NULL (auto) -> PCPROF_UNWIND_* (vocab.h), 0 when unknown. */
int prt_unwind_parse_mode(const char *s);

/* Builds and publishes tables for every loaded object (mode != FP), and
 * resets the walk counters.  Never fails the session: an object that
 * cannot be read is counted and named in the summary. */
void prt_unwind_tables_start(int mode);
/* Writer thread: notices loaded and unloaded objects (dl_iterate_phdr's
 * adds/subs counters) and publishes a new snapshot when they changed. */
void prt_unwind_tables_refresh(void);
/* The rescan of pcp_objects_changed: blocking, on the calling thread; false
 * when no snapshot is published. */
bool prt_unwind_tables_sync(void);
/* Unpublishes the snapshot (freed after the grace period); the object
 * tables are kept for the next session, which rebuilds only new objects. */
void prt_unwind_tables_stop(void);
/* fork.c's atfork handlers: the tables' lock taken last before fork and
 * released after; the child keeps the tables (same address space) and
 * drops the parent's published snapshot and reader counts. */
void prt_unwind_tables_fork_prepare(void);
void prt_unwind_tables_fork_parent(void);
void prt_unwind_tables_fork_child(void);
/* The mode of the running (or last) session. */
int prt_unwind_mode(void);

/* Handler: the current snapshot (NULL: none), inside an enter/leave
 * bracket that keeps it alive; leave with the token enter returned. */
const pcu_snapshot *prt_unwind_snapshot_enter(unsigned *token);
void prt_unwind_snapshot_leave(unsigned token);

/* Handler: a walk met a pc no table covers (a library loaded since the
 * last refresh?).  prt_unwind_refresh_wake returns true once per request,
 * for the caller to wake the writer thread, which then refreshes. */
void prt_unwind_request_refresh(void);
bool prt_unwind_refresh_wake(void);

/* Handler: one walk's outcome for the summary (end: a PCU_END_* reason of
 * a table walk, PRT_UNWIND_END_REASONS for a frame-pointer walk). */
#define PRT_UNWIND_DEPTH_BUCKETS PCPROF_UNWIND_DEPTH_BUCKETS
#define PRT_UNWIND_END_REASONS PCPROF_UNWIND_END_REASONS
void prt_unwind_count_walk(bool tables, uint32_t depth, unsigned end, uint32_t fp_steps);

/* The unwind part of a profile: the running session's, or the last one's. */
void prt_unwind_report_read(pcprof_unwind_info *r);

#endif
