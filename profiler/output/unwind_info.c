/* unwind_info.c — the words a profile says about how its stacks were
 * walked (profile.h, pcprof_unwind_info): shared by the summary and the
 * pprof comments, so both say the same thing. */
#include <stdio.h>
#include <string.h>

#include "profile.h"

static int append(char *buf, size_t n, size_t *at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#include <stdarg.h>
static int append(char *buf, size_t n, size_t *at, const char *fmt, ...) {
    if (*at + 1 >= n) return -1;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *at, n - *at, fmt, ap);
    va_end(ap);
    if (w < 0) return -1;
    *at += (size_t)w < n - *at ? (size_t)w : n - *at - 1;
    return 0;
}

int pcprof_unwind_lines(const pcprof_profile *p, char lines[3][512]) {
    const pcprof_unwind_info *u = &p->unwind;
    if (u->mode == NULL) return 0;
    size_t at = 0;
    char *l = lines[0];
    append(l, 512, &at, "unwind: %s", u->mode);
    if (strcmp(u->mode, "fp") != 0) {
        append(l, 512, &at, ": tables for %llu objects (%.1f KiB, %llu rows, %.2f bytes/row, built in %.1f ms",
               (unsigned long long)u->objects_with_tables, (double)u->table_bytes / 1024.0,
               (unsigned long long)u->table_rows,
               u->table_rows ? (double)u->table_bytes / (double)u->table_rows : 0.0,
               (double)u->build_ns / 1e6);
        if (u->rows_cfi > 0)
            append(l, 512, &at, ", %.3f %% of CFI rows unsupported",
                   100.0 * (double)u->rows_invalid / (double)u->rows_cfi);
        append(l, 512, &at, "; %llu snapshots published)", (unsigned long long)u->snapshots_published);
        if (u->objects_without > 0)
            append(l, 512, &at, "; frame pointers for %llu without CFI: %s",
                   (unsigned long long)u->objects_without, u->unreadable);
        if (u->objects_over_cap > 0)
            append(l, 512, &at, "; frame pointers for %llu past the table memory cap: %s",
                   (unsigned long long)u->objects_over_cap, u->over_cap);
    }
    uint64_t walks = u->walks_tables + u->walks_fp;
    at = 0;
    l = lines[1];
    static const char *const bucket[PCPROF_UNWIND_DEPTH_BUCKETS] = {"1",     "2-3",   "4-7",    "8-15",
                                                                     "16-31", "32-63", "64-127", "128+"};
    append(l, 512, &at, "depth: mean %.1f over %llu walks (%llu by tables, %llu frames by the frame-pointer fallback):",
           walks ? (double)u->depth_sum / (double)walks : 0.0, (unsigned long long)walks,
           (unsigned long long)u->walks_tables, (unsigned long long)u->fp_steps);
    for (int i = 0; i < PCPROF_UNWIND_DEPTH_BUCKETS; i++)
        if (u->depth_hist[i] > 0) append(l, 512, &at, " %s:%llu", bucket[i], (unsigned long long)u->depth_hist[i]);
    at = 0;
    l = lines[2];
    append(l, 512, &at, "walks ended by:");
    for (int i = 0; i < PCPROF_UNWIND_END_REASONS; i++)
        if (u->ends[i] > 0)
            append(l, 512, &at, " %s %llu", u->end_names[i] ? u->end_names[i] : "?",
                   (unsigned long long)u->ends[i]);
    if (u->walks_tables == 0) append(l, 512, &at, " (no table walks)");
    return 3;
}
