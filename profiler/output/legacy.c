/* legacy.c — gperftools' CPU profile format (what `google-pprof` and
 * `go tool pprof` read as a "legacy" profile).
 *
 * Layout (machine words, native byte order, uintptr_t wide):
 *   header   0, 3, 0, period in microseconds, 0
 *   records  count, depth, pc[0] (leaf) ... pc[depth-1]
 *   trailer  0, 1, 0
 *   text     the executable mappings, one /proc/self/maps line each
 *
 * Addresses are written raw: both readers move return addresses onto the
 * call instruction themselves and symbolize from the files named in the
 * maps text.  Synthetic frames (losses, truncation) have no name in this
 * format, and their reserved values (0x1, 0x10..) would be symbolized
 * against whatever lies at the bottom of the address space (google-pprof
 * printed "__abi_tag").  So, as the Go runtime does with lostProfileEvent,
 * each synthetic frame is written as the address of a real function of
 * ours named after it (profcore_lost_contended, profcore_truncated, ...):
 * the readers then name it from the symbol table like any other frame.
 *
 * Build IDs: the maps text is what the readers parse, and they disagree.
 * Perl google-pprof accepts a mapping only as an exact /proc/self/maps line
 * whose last field is the file name; any suffix makes it skip the line (and
 * then it cannot place a PIE executable at all).  pprof's Go reader takes a
 * build ID only from its own "start-end perm file (@offset) buildid" form.
 * So every mapping is written as a plain /proc/self/maps line, which both
 * read, and its build ID goes on a following line of the form
 *   build_id=<file>:<hex>
 * which neither reader mistakes for a mapping (Go treats "a=b" lines as
 * substitution variables, perl ignores unrecognised lines).  This keeps the
 * build IDs in the file without breaking either reader.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include "output_internal.h"

/* Stand-ins for synthetic frames.  Each body differs so identical-code
 * folding cannot give two of them one address. */
static volatile int synthetic_sink;
#define SYNTHETIC_STANDIN(fn, k)                                                      \
    static void fn(void);                                                         \
    __attribute__((noinline, used)) static void fn(void) { synthetic_sink = (k); }
SYNTHETIC_STANDIN(profcore_truncated, 1)
SYNTHETIC_STANDIN(profcore_lost_contended, 16)
SYNTHETIC_STANDIN(profcore_lost_log_full, 17)
SYNTHETIC_STANDIN(profcore_lost_nohandoff_full, 18)
SYNTHETIC_STANDIN(profcore_lost_invalid, 19)
SYNTHETIC_STANDIN(profcore_lost_critical_section, 20)
SYNTHETIC_STANDIN(profcore_lost_unwind_failed, 21)
SYNTHETIC_STANDIN(profcore_lost_other, 22)
SYNTHETIC_STANDIN(profcore_no_answer, 41)
SYNTHETIC_STANDIN(profcore_unsampled_thread_tail, 42)
SYNTHETIC_STANDIN(profcore_reserved_frame, 63)

/* One stand-in per entry of pcprof_synthetics (vocab.h), by frame; each
 * function is named as that entry's `standin` says.  The output-unit
 * suite walks the whole vocabulary and checks both. */
static const struct {
    uint64_t frame;
    void (*fn)(void);
} standins[] = {
    {PROFCORE_FRAME_TRUNCATED, profcore_truncated},
    {PROFCORE_FRAME_LOST(PROFCORE_LOSS_CONTENDED), profcore_lost_contended},
    {PROFCORE_FRAME_LOST(PROFCORE_LOSS_LOG_FULL), profcore_lost_log_full},
    {PROFCORE_FRAME_LOST(PROFCORE_LOSS_NOHANDOFF_FULL), profcore_lost_nohandoff_full},
    {PROFCORE_FRAME_LOST(PROFCORE_LOSS_INVALID), profcore_lost_invalid},
    {PROFCORE_FRAME_LOST(PROFCORE_LOSS_CRITICAL), profcore_lost_critical_section},
    {PROFCORE_FRAME_LOST(PROFCORE_LOSS_UNWIND), profcore_lost_unwind_failed},
    {PROFCORE_FRAME_LOST(PROFCORE_LOSS_OTHER), profcore_lost_other},
    {PCPROF_FRAME_NO_ANSWER, profcore_no_answer},
    {PCPROF_FRAME_UNSAMPLED_TAIL, profcore_unsampled_thread_tail},
};

uint64_t pcout_legacy_standin(uint64_t frame) {
    for (size_t i = 0; i < sizeof standins / sizeof *standins; i++)
        if (standins[i].frame == frame) return (uint64_t)(uintptr_t)standins[i].fn;
    return (uint64_t)(uintptr_t)profcore_reserved_frame; /* PCPROF_RESERVED_FRAME_STANDIN */
}

/* The word written for frame k: readers subtract 1 from every non-leaf
 * address, so a stand-in there is written one past its function's start. */
uint64_t pcout_legacy_frame_word(uint64_t frame, uint32_t k) {
    if (!pcout_frame_is_synthetic(frame)) return frame;
    return pcout_legacy_standin(frame) + (k > 0 ? 1 : 0);
}

static void put_word(pcout_buf *b, uint64_t v) {
    uintptr_t w = (uintptr_t)v;
    pcout_buf_append(b, &w, sizeof w);
}

static void put_maps_text(pcout_buf *b, const pcout_mapping *maps, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const pcout_mapping *m = &maps[i];
        pcout_buf_printf(b, "%08" PRIx64 "-%08" PRIx64 " r-xp %08" PRIx64 " 00:00 0 %s\n", m->start,
                         m->limit, m->offset, m->path);
    }
    for (size_t i = 0; i < n; i++) {
        if (maps[i].build_id[0] == '\0') continue;
        /* Each file once, even when it has several executable segments. */
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++) seen = strcmp(maps[j].path, maps[i].path) == 0;
        if (!seen) pcout_buf_printf(b, "build_id=%s:%s\n", maps[i].path, maps[i].build_id);
    }
}

int pcout_build_legacy(const pcprof_profile *p, const pcout_mapping *maps, size_t nmaps,
                       pcout_buf *out) {
    uint64_t period_us = p->period_ns / 1000u;
    if (period_us == 0) period_us = 1; /* the readers require a positive period */
    put_word(out, 0);
    put_word(out, 3);
    put_word(out, 0);
    put_word(out, period_us);
    put_word(out, 0);
    for (size_t i = 0; i < p->nstacks; i++) {
        const pcprof_stack *st = &p->stacks[i];
        if (st->depth == 0 || !st->frames || st->weight == 0) continue;
        put_word(out, st->weight);
        put_word(out, st->depth);
        for (uint32_t k = 0; k < st->depth; k++) put_word(out, pcout_legacy_frame_word(st->frames[k], k));
    }
    put_word(out, 0);
    put_word(out, 1);
    put_word(out, 0);
    put_maps_text(out, maps, nmaps);
    return out->failed ? -1 : 0;
}

int pcprof_encode_legacy(const pcprof_profile *p, pcprof_bytes *out, char *err, size_t errlen) {
    *out = (pcprof_bytes){0};
    if (!p) {
        pcout_set_error(err, errlen, "no profile given");
        return -1;
    }
    pcout_mapping *maps = NULL;
    size_t nmaps = pcout_read_mappings(&maps);
    pcout_buf buf = {0};
    int rc;
    if (pcout_build_legacy(p, maps, nmaps, &buf) != 0) {
        pcout_set_error(err, errlen, "out of memory encoding the legacy profile");
        rc = -1;
    } else {
        rc = pcout_buf_give(&buf, out);
    }
    pcout_buf_free(&buf);
    pcout_free_mappings(maps, nmaps);
    return rc;
}

int pcprof_write_legacy(const pcprof_profile *p, const char *path, char *err, size_t errlen) {
    return pcout_encode_and_write(pcprof_encode_legacy, p, path, err, errlen);
}
