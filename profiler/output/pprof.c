/* pprof.c — the profile.proto writer (gzip-compressed, as `go tool pprof`
 * and every pprof-speaking tool read it).
 *
 * The protobuf encoding is written by hand: a profile only needs varints,
 * packed repeated varints and length-delimited sub-messages.  Field numbers
 * follow github.com/google/pprof/proto/profile.proto.
 *
 * Shape of what we write:
 *   sample_type   [samples/count, cpu/nanoseconds]   (wall/nanoseconds for
 *                 the wall-clock engine: there the time is not CPU time;
 *                 threads/count for a thread snapshot)
 *   sample        one per aggregated stack: location ids leaf first, values
 *                 [weight, weight * period_ns], labels tid (num),
 *                 thread_label, unregistered="true", state (str)
 *   mapping       executable mappings of /proc/self/maps, main binary first,
 *                 ids 1..n in that order, with GNU build IDs
 *   location      one per distinct symbolized address (return addresses
 *                 already moved onto the call instruction), its Line
 *                 entries innermost-inline first; synthetic frames get a
 *                 location of their own with no mapping and address 0
 *   function      one per distinct (name, file)
 *   string_table  index 0 is ""
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "output_internal.h"

/* profile.proto field numbers. */
enum {
    PROFILE_SAMPLE_TYPE = 1,
    PROFILE_SAMPLE = 2,
    PROFILE_MAPPING = 3,
    PROFILE_LOCATION = 4,
    PROFILE_FUNCTION = 5,
    PROFILE_STRING_TABLE = 6,
    PROFILE_TIME_NANOS = 9,
    PROFILE_DURATION_NANOS = 10,
    PROFILE_PERIOD_TYPE = 11,
    PROFILE_PERIOD = 12,
    PROFILE_COMMENT = 13,
    VALUETYPE_TYPE = 1,
    VALUETYPE_UNIT = 2,
    SAMPLE_LOCATION_ID = 1,
    SAMPLE_VALUE = 2,
    SAMPLE_LABEL = 3,
    LABEL_KEY = 1,
    LABEL_STR = 2,
    LABEL_NUM = 3,
    MAPPING_ID = 1,
    MAPPING_START = 2,
    MAPPING_LIMIT = 3,
    MAPPING_OFFSET = 4,
    MAPPING_FILENAME = 5,
    MAPPING_BUILD_ID = 6,
    MAPPING_HAS_FUNCTIONS = 7,
    MAPPING_HAS_FILENAMES = 8,
    MAPPING_HAS_LINE_NUMBERS = 9,
    MAPPING_HAS_INLINE_FRAMES = 10,
    LOCATION_ID = 1,
    LOCATION_MAPPING_ID = 2,
    LOCATION_ADDRESS = 3,
    LOCATION_LINE = 4,
    LINE_FUNCTION_ID = 1,
    LINE_LINE = 2,
    FUNCTION_ID = 1,
    FUNCTION_NAME = 2,
    FUNCTION_SYSTEM_NAME = 3,
    FUNCTION_FILENAME = 4,
};

enum { WIRE_VARINT = 0, WIRE_BYTES = 2 };

/* ---- encoder ---------------------------------------------------------------- */
static void pb_varint(pcout_buf *b, uint64_t v) {
    unsigned char tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    pcout_buf_append(b, tmp, n);
}

static void pb_key(pcout_buf *b, unsigned field, unsigned wire) {
    pb_varint(b, ((uint64_t)field << 3) | wire);
}

/* Zero is the proto3 default: omitting it is the canonical encoding. */
static void pb_uint(pcout_buf *b, unsigned field, uint64_t v) {
    if (v == 0) return;
    pb_key(b, field, WIRE_VARINT);
    pb_varint(b, v);
}

static void pb_int(pcout_buf *b, unsigned field, int64_t v) { pb_uint(b, field, (uint64_t)v); }

static void pb_bytes(pcout_buf *b, unsigned field, const void *data, size_t len) {
    pb_key(b, field, WIRE_BYTES);
    pb_varint(b, len);
    pcout_buf_append(b, data, len);
}

/* Appends a finished sub-message and empties the scratch buffer for reuse. */
static void pb_message(pcout_buf *b, unsigned field, pcout_buf *msg) {
    if (msg->failed) b->failed = 1;
    pb_bytes(b, field, msg->data, msg->len);
    msg->len = 0;
}

static void pb_packed(pcout_buf *b, unsigned field, const uint64_t *v, size_t n, pcout_buf *scratch) {
    if (n == 0) return;
    for (size_t i = 0; i < n; i++) pb_varint(scratch, v[i]);
    pb_message(b, field, scratch);
}

/* ---- the builder's state ------------------------------------------------------ */
typedef struct location_info {
    int mapping; /* -1 for none */
    int has_function, has_line;
} location_info;

typedef struct builder {
    const pcprof_profile *p;
    pcout_symbolizer *sym;
    pcout_strtab strings;
    pcout_buf locations, functions; /* encoded Location / Function messages */
    pcout_buf msg, sub;             /* scratch */
    pcout_u64map location_of_address, location_of_synthetic;
    pcout_u64map function_of_key; /* name index << 32 | file index */
    uint64_t nlocations, nfunctions;
    location_info *locinfo; /* by location id - 1 */
    size_t locinfo_cap;
    int failed;
} builder;

static uint64_t str_index(builder *b, const char *s) { return pcout_strtab_intern(&b->strings, s); }

static uint64_t function_id(builder *b, const char *name, const char *file) {
    uint64_t ni = str_index(b, name), fi = str_index(b, file);
    uint64_t key = ni << 32 | fi;
    uint32_t id;
    if (pcout_u64map_get(&b->function_of_key, key, &id)) return id;
    id = (uint32_t)++b->nfunctions;
    if (pcout_u64map_put(&b->function_of_key, key, id) != 0) b->failed = 1;
    pb_uint(&b->msg, FUNCTION_ID, id);
    pb_uint(&b->msg, FUNCTION_NAME, ni);
    pb_uint(&b->msg, FUNCTION_SYSTEM_NAME, ni);
    pb_uint(&b->msg, FUNCTION_FILENAME, fi);
    pb_message(&b->functions, PROFILE_FUNCTION, &b->msg);
    return id;
}

static uint64_t new_location_id(builder *b, int mapping, int has_function, int has_line) {
    uint64_t id = ++b->nlocations;
    if (id > b->locinfo_cap) {
        size_t cap = b->locinfo_cap ? b->locinfo_cap * 2 : 256;
        location_info *li = realloc(b->locinfo, cap * sizeof *li);
        if (!li) {
            b->failed = 1;
            return id;
        }
        b->locinfo = li;
        b->locinfo_cap = cap;
    }
    b->locinfo[id - 1] = (location_info){mapping, has_function, has_line};
    return id;
}

/* Function ids must be known before the Location message is encoded, and
 * function_id() itself uses b->msg, so the Line entries go to b->sub. */
static uint64_t synthetic_location(builder *b, uint64_t frame) {
    uint32_t id;
    if (pcout_u64map_get(&b->location_of_synthetic, frame, &id)) return id;
    uint64_t fid = function_id(b, pcprof_synthetic_name(frame), "");
    id = (uint32_t)new_location_id(b, -1, 1, 0);
    if (pcout_u64map_put(&b->location_of_synthetic, frame, id) != 0) b->failed = 1;
    pb_uint(&b->msg, LOCATION_ID, id);
    pb_uint(&b->sub, LINE_FUNCTION_ID, fid);
    pb_message(&b->msg, LOCATION_LINE, &b->sub);
    pb_message(&b->locations, PROFILE_LOCATION, &b->msg);
    return id;
}

static uint64_t address_location(builder *b, uint64_t address) {
    uint32_t id;
    if (pcout_u64map_get(&b->location_of_address, address, &id)) return id;
    const pcout_symbol *s = pcout_symbolize(b->sym, address);
    if (!s) {
        b->failed = 1;
        return 0;
    }
    /* Functions first (they use b->msg); remember their ids. */
    uint64_t fids[64];
    uint32_t nf = s->nframes < 64 ? s->nframes : 64;
    for (uint32_t i = 0; i < nf; i++)
        fids[i] = s->has_function ? function_id(b, s->frames[i].function, s->frames[i].file) : 0;
    id = (uint32_t)new_location_id(b, s->mapping, s->has_function, s->has_line);
    if (pcout_u64map_put(&b->location_of_address, address, id) != 0) b->failed = 1;
    pb_uint(&b->msg, LOCATION_ID, id);
    pb_uint(&b->msg, LOCATION_MAPPING_ID, s->mapping >= 0 ? (uint64_t)s->mapping + 1 : 0);
    pb_uint(&b->msg, LOCATION_ADDRESS, address);
    /* An address with no symbol gets no Line: pprof then shows the raw
     * address and may symbolize it itself from the mapping's file. */
    for (uint32_t i = 0; s->has_function && i < nf; i++) {
        pb_uint(&b->sub, LINE_FUNCTION_ID, fids[i]);
        pb_int(&b->sub, LINE_LINE, s->frames[i].line);
        pb_message(&b->msg, LOCATION_LINE, &b->sub);
    }
    pb_message(&b->locations, PROFILE_LOCATION, &b->msg);
    return id;
}

static void value_type(builder *b, pcout_buf *out, unsigned field, const char *type, const char *unit) {
    pb_uint(&b->sub, VALUETYPE_TYPE, str_index(b, type));
    pb_uint(&b->sub, VALUETYPE_UNIT, str_index(b, unit));
    pb_message(out, field, &b->sub);
}

static void str_label(builder *b, pcout_buf *sample, const char *key, const char *value) {
    pb_uint(&b->sub, LABEL_KEY, str_index(b, key));
    pb_uint(&b->sub, LABEL_STR, str_index(b, value));
    pb_message(sample, SAMPLE_LABEL, &b->sub);
}

static void num_label(builder *b, pcout_buf *sample, const char *key, int64_t value) {
    pb_uint(&b->sub, LABEL_KEY, str_index(b, key));
    pb_int(&b->sub, LABEL_NUM, value);
    pb_message(sample, SAMPLE_LABEL, &b->sub);
}

static void sample_labels(builder *b, pcout_buf *sample, uint64_t tag) {
    const pcprof_profile *p = b->p;
    uint32_t tid = PCPROF_TAG_TID(tag), label = PCPROF_TAG_LABEL(tag);
    if (tid) num_label(b, sample, "tid", tid);
    if (label && label < p->nlabels && p->labels && p->labels[label])
        str_label(b, sample, "thread_label", p->labels[label]);
    if (PCPROF_TAG_UNREGISTERED(tag)) str_label(b, sample, "unregistered", "true");
    const char *state = pcout_state_name(PCPROF_TAG_STATE(tag));
    if (state) str_label(b, sample, "state", state);
}

static void encode_sample(builder *b, pcout_buf *out, const pcprof_stack *st, uint64_t **ids,
                          size_t *idcap) {
    if (st->depth > *idcap) {
        uint64_t *grown = realloc(*ids, st->depth * sizeof *grown);
        if (!grown) {
            b->failed = 1;
            return;
        }
        *ids = grown;
        *idcap = st->depth;
    }
    for (uint32_t i = 0; i < st->depth; i++) {
        uint64_t f = st->frames[i];
        (*ids)[i] = pcout_frame_is_synthetic(f) ? synthetic_location(b, f)
                                                : address_location(b, pcout_frame_address(f, i));
    }
    pcout_buf sample = {0};
    pcout_buf scratch = {0};
    pb_packed(&sample, SAMPLE_LOCATION_ID, *ids, st->depth, &scratch);
    uint64_t values[2] = {st->weight, st->weight * b->p->period_ns};
    pb_packed(&sample, SAMPLE_VALUE, values, 2, &scratch);
    sample_labels(b, &sample, st->tag);
    pb_message(out, PROFILE_SAMPLE, &sample);
    pcout_buf_free(&sample);
    pcout_buf_free(&scratch);
}

/* A mapping's flags claim symbolization only when every location in it got
 * it; otherwise pprof is free to symbolize the mapping itself. */
static void mapping_flags(const builder *b, size_t mi, int *fn, int *ln, int *used) {
    *fn = 1;
    *ln = 1;
    *used = 0;
    for (uint64_t i = 0; i < b->nlocations; i++) {
        const location_info *li = &b->locinfo[i];
        if (li->mapping != (int)mi) continue;
        *used = 1;
        if (!li->has_function) *fn = 0;
        if (!li->has_line) *ln = 0;
    }
}

static void encode_mappings(builder *b, pcout_buf *out) {
    size_t n;
    const pcout_mapping *maps = pcout_symbolizer_mappings(b->sym, &n);
    for (size_t i = 0; i < n; i++) {
        int fn, ln, used;
        mapping_flags(b, i, &fn, &ln, &used);
        pb_uint(&b->msg, MAPPING_ID, i + 1);
        pb_uint(&b->msg, MAPPING_START, maps[i].start);
        pb_uint(&b->msg, MAPPING_LIMIT, maps[i].limit);
        pb_uint(&b->msg, MAPPING_OFFSET, maps[i].offset);
        pb_uint(&b->msg, MAPPING_FILENAME, str_index(b, maps[i].path));
        pb_uint(&b->msg, MAPPING_BUILD_ID, str_index(b, maps[i].build_id));
        pb_uint(&b->msg, MAPPING_HAS_FUNCTIONS, (uint64_t)(used && fn));
        pb_uint(&b->msg, MAPPING_HAS_FILENAMES, (uint64_t)(used && fn && ln));
        pb_uint(&b->msg, MAPPING_HAS_LINE_NUMBERS, (uint64_t)(used && fn && ln));
        pb_uint(&b->msg, MAPPING_HAS_INLINE_FRAMES, (uint64_t)(used && fn && ln));
        pb_message(out, PROFILE_MAPPING, &b->msg);
    }
}

static void encode_header(builder *b, pcout_buf *out) {
    const pcprof_profile *p = b->p;
    /* What a unit of weight is: CPU time, wall time, or in a thread
     * snapshot one thread (its period is 1, so the second value counts
     * threads, and pprof must not call it time). */
    const char *kind = "cpu", *unit = "nanoseconds";
    if (p->engine && strcmp(p->engine, "wall") == 0) kind = "wall";
    if (p->engine && strcmp(p->engine, "snapshot") == 0) kind = "threads", unit = "count";
    value_type(b, out, PROFILE_SAMPLE_TYPE, "samples", "count");
    value_type(b, out, PROFILE_SAMPLE_TYPE, kind, unit);
    pb_int(out, PROFILE_TIME_NANOS, p->start_unix_ns);
    pb_int(out, PROFILE_DURATION_NANOS, p->duration_ns);
    value_type(b, out, PROFILE_PERIOD_TYPE, kind, unit);
    pb_uint(out, PROFILE_PERIOD, p->period_ns);
    char comment[128];
    snprintf(comment, sizeof comment, "profcore engine=%s hz=%u", p->engine ? p->engine : "?",
             p->hz);
    pb_uint(out, PROFILE_COMMENT, str_index(b, comment));
    char lines[3][512];
    int n = pcprof_unwind_lines(p, lines);
    for (int i = 0; i < n; i++) { /* "profcore ...": the comments `profcore record` prints */
        char c[600];
        snprintf(c, sizeof c, "profcore %.500s", lines[i]);
        pb_uint(out, PROFILE_COMMENT, str_index(b, c));
    }
}

int pcout_build_pprof(const pcprof_profile *p, pcout_symbolizer *sym, pcout_buf *out) {
    builder b;
    memset(&b, 0, sizeof b);
    b.p = p;
    b.sym = sym;
    str_index(&b, ""); /* string_table[0] must be "" */
    encode_header(&b, out);
    uint64_t *ids = NULL;
    size_t idcap = 0;
    for (size_t i = 0; i < p->nstacks; i++) {
        const pcprof_stack *st = &p->stacks[i];
        if (st->depth == 0 || !st->frames) continue; /* nothing to attribute it to */
        encode_sample(&b, out, st, &ids, &idcap);
    }
    free(ids);
    encode_mappings(&b, out);
    pcout_buf_append(out, b.locations.data, b.locations.len);
    pcout_buf_append(out, b.functions.data, b.functions.len);
    for (size_t i = 0; i < b.strings.count; i++)
        pb_bytes(out, PROFILE_STRING_TABLE, b.strings.strs[i], strlen(b.strings.strs[i]));
    int failed = b.failed || b.strings.failed || b.locations.failed || b.functions.failed ||
                 b.msg.failed || b.sub.failed || b.location_of_address.failed ||
                 b.location_of_synthetic.failed || b.function_of_key.failed || out->failed;
    pcout_strtab_free(&b.strings);
    pcout_buf_free(&b.locations);
    pcout_buf_free(&b.functions);
    pcout_buf_free(&b.msg);
    pcout_buf_free(&b.sub);
    pcout_u64map_free(&b.location_of_address);
    pcout_u64map_free(&b.location_of_synthetic);
    pcout_u64map_free(&b.function_of_key);
    free(b.locinfo);
    return failed ? -1 : 0;
}

int pcout_gzip(const unsigned char *in, size_t len, pcout_buf *out) {
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip wrapper, which is what pprof expects. */
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong bound = deflateBound(&z, (uLong)len);
    unsigned char *dst = malloc(bound);
    if (!dst) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = dst;
    z.avail_out = (uInt)bound;
    int rc = deflate(&z, Z_FINISH);
    size_t produced = bound - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(dst);
        return -1;
    }
    pcout_buf_append(out, dst, produced);
    free(dst);
    return out->failed ? -1 : 0;
}

int pcprof_encode_pprof(const pcprof_profile *p, pcprof_bytes *out, char *err, size_t errlen) {
    *out = (pcprof_bytes){0};
    if (!p) {
        pcout_set_error(err, errlen, "no profile given");
        return -1;
    }
    pcout_symbolizer *sym = pcout_symbolizer_open();
    if (!sym) {
        pcout_set_error(err, errlen, "out of memory opening the symbolizer");
        return -1;
    }
    pcout_buf raw = {0}, gz = {0};
    int rc = -1;
    if (pcout_build_pprof(p, sym, &raw) != 0) {
        pcout_set_error(err, errlen, "out of memory encoding the pprof profile");
    } else if (raw.len > UINT32_MAX || pcout_gzip(raw.data, raw.len, &gz) != 0) {
        pcout_set_error(err, errlen, "gzip compression of the pprof profile failed");
    } else {
        rc = pcout_buf_give(&gz, out);
    }
    pcout_buf_free(&raw);
    pcout_buf_free(&gz);
    pcout_symbolizer_close(sym);
    return rc;
}

int pcprof_write_pprof(const pcprof_profile *p, const char *path, char *err, size_t errlen) {
    return pcout_encode_and_write(pcprof_encode_pprof, p, path, err, errlen);
}
