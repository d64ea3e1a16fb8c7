/* readers.h — read our three profile formats back into one in-memory form.
 *
 * Formats: pprof (gzip-compressed or raw profile.proto), gperftools' legacy
 * CPU profile (64-bit or 32-bit little-endian slots), and collapsed stacks
 * (`root;...;leaf N` per line).  All three become a list of samples, each a
 * stack of interned names (leaf first), a count, an optional CPU time in
 * nanoseconds, and labels (key/value name pairs).
 *
 * Untrusted input: every length is checked against the bytes that remain,
 * every index against its table, nothing recurses, and every allocation is
 * bounded by rd_limits (or by the input size).  Malformed input returns -1
 * with a one-line reason naming the format and the byte offset or line
 * ("pprof: truncated varint at byte 123"); it never crashes.
 */
#ifndef PROFCORE_CLI_READERS_H
#define PROFCORE_CLI_READERS_H

#include <stddef.h>
#include <stdint.h>

#include "vocab.h"


typedef struct rd_limits {
    size_t max_input;        /* bytes of file (compressed) */
    size_t max_decompressed; /* bytes after gunzip (gzip bombs) */
    size_t max_frames;       /* frames over all samples, after inline expansion */
    uint32_t max_depth;      /* frames in one sample */
} rd_limits;

#define RD_LIMITS_DEFAULT {256u << 20, 512u << 20, 64u << 20, 65536u}

typedef struct rd_label {
    uint32_t key, value; /* name ids */
} rd_label;

typedef struct rd_sample {
    int64_t count;     /* samples (timer periods) */
    int64_t value_ns;  /* CPU (or wall) nanoseconds; -1 when the format has none */
    size_t first_frame; /* into rd_profile.frames */
    uint32_t depth;
    uint32_t nlabels;
    size_t first_label; /* into rd_profile.labels */
} rd_sample;

typedef struct rd_profile {
    pcprof_format format;
    rd_sample *samples;
    size_t nsamples, samples_cap;
    uint32_t *frames; /* name ids, each sample's frames leaf first */
    size_t nframes, frames_cap;
    rd_label *labels;
    size_t nlabels, labels_cap;
    uint32_t *comments; /* name ids (pprof comment strings) */
    size_t ncomments, comments_cap;
    /* Interned names: id -> NUL-terminated string in `pool`. */
    char *pool;
    size_t pool_len, pool_cap;
    size_t *name_off;
    size_t nnames, names_cap;
    uint32_t *hash; /* open addressing, name id + 1, 0 = empty */
    size_t hash_cap;
    int64_t period_ns; /* time one count stands for; 0 when unknown */
    int64_t time_nanos, duration_nanos;
    int has_value_ns; /* every sample carries value_ns */
} rd_profile;

/* Each returns 0, or -1 with a reason in err; on -1 the profile is empty
 * (rd_free is still safe to call). */
int rd_read_pprof(const uint8_t *data, size_t len, const rd_limits *lim, rd_profile *out, char *err,
                  size_t errlen);
int rd_read_legacy(const uint8_t *data, size_t len, const rd_limits *lim, rd_profile *out, char *err,
                   size_t errlen);
int rd_read_collapsed(const uint8_t *data, size_t len, const rd_limits *lim, rd_profile *out, char *err,
                      size_t errlen);
/* Detects the format by content: gzip magic -> pprof, a legacy header ->
 * legacy, otherwise collapsed. */
pcprof_format rd_detect(const uint8_t *data, size_t len);
int rd_read_any(const uint8_t *data, size_t len, const rd_limits *lim, rd_profile *out, char *err,
                size_t errlen);
int rd_read_file(const char *path, const rd_limits *lim, rd_profile *out, char *err, size_t errlen);
void rd_free(rd_profile *p);
/* gunzip (one or more gzip members) into a malloc'd *out of at most `cap`
 * bytes; 0, or -1 with a reason in err. */
int rd_gunzip(const uint8_t *in, size_t len, size_t cap, uint8_t **out, size_t *outlen, char *err, size_t errlen);

const char *rd_name(const rd_profile *p, uint32_t id);
/* The weight a sample counts for in percentages: value_ns when every
 * sample has it, else count. */
int64_t rd_weight(const rd_profile *p, const rd_sample *s);

/* Flat (leaf) and cumulative (anywhere in the stack, once per sample)
 * weight per function, sorted by flat, then cumulative, descending. */
typedef struct rd_func_stat {
    uint32_t name;
    int64_t flat, cum;
} rd_func_stat;
int rd_top(const rd_profile *p, rd_func_stat **out, size_t *nout, int64_t *total);

/* Synthetic frame values read from a file are named by pcprof_synthetic_name
 * (profiler/common/vocab.h), as the writers name them. */

#endif
