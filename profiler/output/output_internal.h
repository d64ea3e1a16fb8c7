/* output_internal.h — shared pieces of the output side (profiler/output/):
 * a growable byte buffer, string interning, the symbolizer (libdwfl on the
 * current process) with the executable mappings of /proc/self/maps, the
 * atomic file writer, and the per-stack naming used by collapsed output and
 * the summary.  Nothing here runs in a signal handler: everything is called
 * from the writer thread (or at exit), so it may allocate and take its time.
 */
#ifndef PROFCORE_PROFILER_OUTPUT_INTERNAL_H
#define PROFCORE_PROFILER_OUTPUT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profile.h"

/* ---- growable byte buffer ------------------------------------------------
 * Appends never fail visibly: on allocation failure `failed` is set and
 * later appends are ignored, so a writer checks once at the end. */
typedef struct pcout_buf {
    unsigned char *data;
    size_t len, cap;
    int failed;
} pcout_buf;

void pcout_buf_append(pcout_buf *b, const void *data, size_t len);
void pcout_buf_byte(pcout_buf *b, unsigned char c);
void pcout_buf_printf(pcout_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pcout_buf_free(pcout_buf *b);
/* Moves b's bytes into out (b is left empty); 0, or -1 if b had failed. */
int pcout_buf_give(pcout_buf *b, pcprof_bytes *out);

/* One format's encoder, then pcout_write_file_atomic of its bytes. */
typedef int (*pcout_encoder_fn)(const pcprof_profile *p, pcprof_bytes *out, char *err, size_t errlen);
int pcout_encode_and_write(pcout_encoder_fn encode, const pcprof_profile *p, const char *path,
                           char *err, size_t errlen);

/* ---- uint64 -> uint32 open-addressing map (key 0 is allowed) ------------ */
typedef struct pcout_u64map {
    uint64_t *keys;
    uint32_t *vals; /* value + 1; 0 marks an empty slot */
    size_t cap, count;
    int failed;
} pcout_u64map;

/* Returns 1 and sets *val if present. */
int pcout_u64map_get(const pcout_u64map *m, uint64_t key, uint32_t *val);
/* Inserts or overwrites; returns 0, or -1 on allocation failure. */
int pcout_u64map_put(pcout_u64map *m, uint64_t key, uint32_t val);
void pcout_u64map_free(pcout_u64map *m);

/* ---- string table: interned, indexed from 0 in insertion order ----------- */
typedef struct pcout_strtab {
    char **strs;
    size_t count, cap;
    uint32_t *slots; /* hash slots holding index + 1 */
    size_t nslots;
    int failed;
} pcout_strtab;

/* Index of s (interning a copy if new); on allocation failure returns 0 and
 * sets `failed`. */
uint32_t pcout_strtab_intern(pcout_strtab *t, const char *s);
void pcout_strtab_free(pcout_strtab *t);

/* ---- executable mappings of the current process ------------------------- */
typedef struct pcout_mapping {
    uint64_t start, limit, offset;
    char *path;     /* as in /proc/self/maps, " (deleted)" trimmed */
    char *build_id; /* lowercase hex of the GNU build ID, "" if none */
    int is_main;    /* the mapping belongs to /proc/self/exe */
} pcout_mapping;

/* Executable, file-backed (or [vdso]-style named) mappings, main binary
 * first, then the rest in address order.  Returns the count (0 if
 * /proc/self/maps cannot be read) and stores a malloc'd array in *out. */
size_t pcout_read_mappings(pcout_mapping **out);
void pcout_free_mappings(pcout_mapping *m, size_t n);
/* Index of the mapping containing addr, or -1. */
int pcout_mapping_find(const pcout_mapping *m, size_t n, uint64_t addr);
/* Lowercase hex GNU build ID of an ELF file, "" when it has none or cannot
 * be read.  Returns a malloc'd string or NULL on allocation failure. */
char *pcout_file_build_id(const char *path);

/* ---- symbolizer ----------------------------------------------------------- */
/* One source-level frame of an address; an address inside inlined code has
 * several, innermost first. */
typedef struct pcout_srcframe {
    const char *function; /* never NULL: symbol, DWARF name, or module+0xOFF / 0xADDR */
    const char *file;     /* "" when unknown */
    int64_t line;         /* 0 when unknown */
} pcout_srcframe;

typedef struct pcout_symbol {
    uint64_t address;  /* the symbolized (already adjusted) address */
    int mapping;       /* index into the mappings, or -1 */
    int has_function;  /* a real symbol or DWARF name was found */
    int has_line;      /* file and line from DWARF */
    uint32_t nframes;  /* >= 1 */
    pcout_srcframe *frames;
} pcout_symbol;

typedef struct pcout_symbolizer pcout_symbolizer;

/* Opens libdwfl on the current process and reads the mappings.  Never
 * returns NULL unless out of memory: without libdwfl every address falls
 * back to module+0xOFF or 0xADDR. */
pcout_symbolizer *pcout_symbolizer_open(void);
void pcout_symbolizer_close(pcout_symbolizer *s);
const pcout_mapping *pcout_symbolizer_mappings(const pcout_symbolizer *s, size_t *n);
/* The symbol of one address (cached; the pointer stays valid until close).
 * `address` must already be adjusted onto the call instruction for
 * non-leaf frames.  NULL only when out of memory. */
const pcout_symbol *pcout_symbolize(pcout_symbolizer *s, uint64_t address);

/* The address to symbolize for frame `index` of a leaf-first stack: a
 * return address (index > 0) moves back onto its call instruction. */
static inline uint64_t pcout_frame_address(uint64_t frame, uint32_t index) {
    return index > 0 ? frame - 1 : frame;
}
static inline int pcout_frame_is_synthetic(uint64_t frame) {
    return frame < PROFCORE_FRAME_RESERVED_END;
}

/* ---- thread state names for labels ---------------------------------------- */
const char *pcout_state_name(uint32_t state); /* NULL for PCPROF_STATE_NONE */

/* ---- atomic file write -----------------------------------------------------
 * Writes data to a temporary file in path's directory, fsyncs it, renames
 * it over path and fsyncs the directory.  On any failure the temporary file
 * is removed, path is untouched, and err gets one line naming the step,
 * the file and strerror.  Returns 0 or -1.  A path reserved at the start of
 * its session (reserved.c) is written in place through the descriptor
 * opened then when the path no longer names that file or the atomic write
 * fails (a privilege drop, a chroot). */
int pcout_write_file_atomic(const char *path, const void *data, size_t len, char *err,
                            size_t errlen);

/* ---- reserved outputs (reserved.c) ---- */
#define PCOUT_RESERVED_NOT_USED 1
/* When `path` is reserved, its descriptor still the reserved file, and
 * either the process sees another file tree (chroot, chdir for a relative
 * path) or atomic_failed while the path still names the file: writes data
 * in place through the descriptor and returns 0 (or -1, reason in err).
 * Otherwise PCOUT_RESERVED_NOT_USED, err untouched. */
int pcout_reserved_write_if_needed(const char *path, const void *data, size_t len, bool atomic_failed,
                                   char *err, size_t errlen);
/* An atomic write renamed a new file onto `path`: the reservation follows it. */
void pcout_reserved_replaced(const char *path);

/* Formats a one-line error into err (if err and errlen are usable). */
void pcout_set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Builds the uncompressed profile.proto message (exposed for the tests). */
int pcout_build_pprof(const pcprof_profile *p, pcout_symbolizer *sym, pcout_buf *out);
/* The legacy (gperftools) file's bytes for the given mappings. */
int pcout_build_legacy(const pcprof_profile *p, const pcout_mapping *maps, size_t nmaps,
                       pcout_buf *out);
/* The word the legacy file holds for frame k of a stack (synthetic frames
 * become the address of a named stand-in function). */
uint64_t pcout_legacy_frame_word(uint64_t frame, uint32_t k);
/* The address of the function the legacy writer writes for synthetic frame
 * `frame` (profcore_reserved_frame for a reserved value no one assigned). */
uint64_t pcout_legacy_standin(uint64_t frame);
/* Appends one stack's names root first, ';'-separated (inline frames
 * expanded, "[unregistered]" root for unregistered samples). */
int pcout_collapse_stack(pcout_symbolizer *sym, const pcprof_stack *st, pcout_buf *line);
/* The collapsed file's text: one sorted line per distinct stack. */
int pcout_build_collapsed(const pcprof_profile *p, pcout_symbolizer *sym, pcout_buf *out);
/* Gzip-compresses in into out (zlib, gzip wrapper). Returns 0 or -1. */
int pcout_gzip(const unsigned char *in, size_t len, pcout_buf *out);

#endif
