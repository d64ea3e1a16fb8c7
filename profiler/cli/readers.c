/* readers.c — pprof, legacy and collapsed readers; see readers.h.
 *
 * Every reader works on a byte range [pos, end) and checks each length
 * against end - pos before touching the bytes.  Counts taken from the input
 * only size arrays after they were checked against the input length (each
 * element needs at least one byte), so memory stays proportional to the
 * input, plus the frame cap of rd_limits for pprof's inline expansion.
 */
#define _GNU_SOURCE
#include "readers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "profcore.h"
#include "vocab.h"

/* ---- errors ------------------------------------------------------------- */

typedef struct rd_err {
    char *buf;
    size_t len;
} rd_err;

static int fail(rd_err *e, const char *fmt, ...) {
    if (e->buf != NULL && e->len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->buf, e->len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- growable arrays with overflow checks --------------------------------- */

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2) return -1;
        ncap *= 2;
    }
    if (ncap > SIZE_MAX / elem) return -1;
    void *p = realloc(*arr, ncap * elem);
    if (p == NULL) return -1;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* ---- names ------------------------------------------------------------ */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int rehash(rd_profile *p, size_t ncap) {
    uint32_t *h = calloc(ncap, sizeof *h);
    if (h == NULL) return -1;
    for (size_t id = 0; id < p->nnames; id++) {
        const char *s = p->pool + p->name_off[id];
        size_t i = hash_bytes(s, strlen(s)) & (ncap - 1);
        while (h[i] != 0) i = (i + 1) & (ncap - 1);
        h[i] = (uint32_t)id + 1;
    }
    free(p->hash);
    p->hash = h;
    p->hash_cap = ncap;
    return 0;
}

/* Interns s[0..n) (no NUL inside; callers check) and returns its id. */
static int intern(rd_profile *p, const char *s, size_t n, uint32_t *id, rd_err *e) {
    if (p->nnames >= UINT32_MAX - 1) return fail(e, "too many distinct names");
    if ((p->nnames + 1) * 2 > p->hash_cap && rehash(p, p->hash_cap ? p->hash_cap * 2 : 64) != 0)
        return fail(e, "out of memory");
    size_t i = hash_bytes(s, n) & (p->hash_cap - 1);
    while (p->hash[i] != 0) {
        const char *t = p->pool + p->name_off[p->hash[i] - 1];
        if (strncmp(t, s, n) == 0 && t[n] == '\0') {
            *id = p->hash[i] - 1;
            return 0;
        }
        i = (i + 1) & (p->hash_cap - 1);
    }
    if (n > SIZE_MAX - p->pool_len - 1 || grow((void **)&p->pool, &p->pool_cap, p->pool_len + n + 1, 1) != 0 ||
        grow((void **)&p->name_off, &p->names_cap, p->nnames + 1, sizeof *p->name_off) != 0)
        return fail(e, "out of memory");
    memcpy(p->pool + p->pool_len, s, n);
    p->pool[p->pool_len + n] = '\0';
    p->name_off[p->nnames] = p->pool_len;
    p->pool_len += n + 1;
    p->hash[i] = (uint32_t)p->nnames + 1;
    *id = (uint32_t)p->nnames++;
    return 0;
}

static int intern_str(rd_profile *p, const char *s, uint32_t *id, rd_err *e) {
    return intern(p, s, strlen(s), id, e);
}

const char *rd_name(const rd_profile *p, uint32_t id) {
    return id < p->nnames ? p->pool + p->name_off[id] : "?";
}

/* ---- building samples ---------------------------------------------------- */

static int push_frame(rd_profile *p, uint32_t name, const rd_limits *lim, rd_err *e, const char *fmt) {
    if (p->nframes >= lim->max_frames) return fail(e, "%s: more than %zu frames in total", fmt, lim->max_frames);
    if (grow((void **)&p->frames, &p->frames_cap, p->nframes + 1, sizeof *p->frames) != 0)
        return fail(e, "%s: out of memory", fmt);
    p->frames[p->nframes++] = name;
    return 0;
}

static int push_label(rd_profile *p, uint32_t key, uint32_t value, rd_err *e) {
    if (grow((void **)&p->labels, &p->labels_cap, p->nlabels + 1, sizeof *p->labels) != 0)
        return fail(e, "out of memory");
    p->labels[p->nlabels].key = key;
    p->labels[p->nlabels].value = value;
    p->nlabels++;
    return 0;
}

/* Starts a sample whose frames and labels are the ones pushed from now on. */
static rd_sample *begin_sample(rd_profile *p, rd_err *e) {
    if (grow((void **)&p->samples, &p->samples_cap, p->nsamples + 1, sizeof *p->samples) != 0) {
        fail(e, "out of memory");
        return NULL;
    }
    rd_sample *s = &p->samples[p->nsamples++];
    memset(s, 0, sizeof *s);
    s->value_ns = -1;
    s->first_frame = p->nframes;
    s->first_label = p->nlabels;
    return s;
}

static void end_sample(rd_profile *p, rd_sample *s) {
    s->depth = (uint32_t)(p->nframes - s->first_frame);
    s->nlabels = (uint32_t)(p->nlabels - s->first_label);
}

void rd_free(rd_profile *p) {
    free(p->samples);
    free(p->frames);
    free(p->labels);
    free(p->comments);
    free(p->pool);
    free(p->name_off);
    free(p->hash);
    memset(p, 0, sizeof *p);
}

static void reset(rd_profile *p, pcprof_format f) {
    memset(p, 0, sizeof *p);
    p->format = f;
}

int64_t rd_weight(const rd_profile *p, const rd_sample *s) {
    return p->has_value_ns ? s->value_ns : s->count;
}

/* ===========================================================================
 *  pprof
 * ======================================================================== */

/* A cursor over the decompressed message; offsets in errors are from the
 * start of the decompressed buffer. */
typedef struct pb {
    const uint8_t *base;
    size_t pos, end;
} pb;

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

static int pb_varint(pb *c, uint64_t *v, rd_err *e) {
    uint64_t r = 0;
    size_t start = c->pos;
    for (unsigned i = 0; i < 10; i++) {
        if (c->pos >= c->end) return fail(e, "pprof: truncated varint at byte %zu", start);
        uint8_t b = c->base[c->pos++];
        if (i == 9 && b > 1) return fail(e, "pprof: varint overflows 64 bits at byte %zu", start);
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return fail(e, "pprof: varint longer than 10 bytes at byte %zu", start);
}

typedef struct pb_field {
    uint32_t num;
    uint32_t wt;
    uint64_t v;       /* varint / fixed value */
    pb sub;           /* WT_LEN: the payload */
    size_t at;        /* offset of the key */
} pb_field;

/* Reads one key and its payload.  Groups (3, 4) and unknown wire types are
 * errors: profile.proto has none. */
static int pb_next(pb *c, pb_field *f, rd_err *e) {
    uint64_t key;
    f->at = c->pos;
    if (pb_varint(c, &key, e) != 0) return -1;
    if ((key >> 3) == 0 || (key >> 3) > UINT32_MAX) return fail(e, "pprof: invalid field number at byte %zu", f->at);
    f->num = (uint32_t)(key >> 3);
    f->wt = (uint32_t)(key & 7);
    switch (f->wt) {
    case WT_VARINT: return pb_varint(c, &f->v, e);
    case WT_I64:
        if (c->end - c->pos < 8) return fail(e, "pprof: truncated fixed64 at byte %zu", c->pos);
        f->v = 0;
        for (int i = 7; i >= 0; i--) f->v = f->v << 8 | c->base[c->pos + (size_t)i];
        c->pos += 8;
        return 0;
    case WT_I32:
        if (c->end - c->pos < 4) return fail(e, "pprof: truncated fixed32 at byte %zu", c->pos);
        f->v = (uint64_t)c->base[c->pos] | (uint64_t)c->base[c->pos + 1] << 8 |
               (uint64_t)c->base[c->pos + 2] << 16 | (uint64_t)c->base[c->pos + 3] << 24;
        c->pos += 4;
        return 0;
    case WT_LEN: {
        uint64_t n;
        size_t at = c->pos;
        if (pb_varint(c, &n, e) != 0) return -1;
        if (n > c->end - c->pos)
            return fail(e, "pprof: length %" PRIu64 " at byte %zu exceeds the %zu bytes left", n, at,
                        c->end - c->pos);
        f->sub.base = c->base;
        f->sub.pos = c->pos;
        f->sub.end = c->pos + (size_t)n;
        c->pos += (size_t)n;
        return 0;
    }
    default: return fail(e, "pprof: unsupported wire type %u at byte %zu", f->wt, f->at);
    }
}

/* A repeated integer field, packed (WT_LEN) or not (WT_VARINT).  Calls
 * `each` per element; stops at the first error. */
typedef int (*pb_int_fn)(void *ctx, uint64_t v, rd_err *e);
static int pb_ints(const pb_field *f, pb_int_fn each, void *ctx, rd_err *e) {
    if (f->wt == WT_VARINT) return each(ctx, f->v, e);
    if (f->wt != WT_LEN) return fail(e, "pprof: field %u at byte %zu: expected an integer", f->num, f->at);
    pb c = f->sub;
    while (c.pos < c.end) {
        uint64_t v;
        if (pb_varint(&c, &v, e) != 0 || each(ctx, v, e) != 0) return -1;
    }
    return 0;
}

static int expect_varint(const pb_field *f, rd_err *e) {
    if (f->wt != WT_VARINT) return fail(e, "pprof: field %u at byte %zu: expected a varint", f->num, f->at);
    return 0;
}
static int expect_len(const pb_field *f, rd_err *e) {
    if (f->wt != WT_LEN) return fail(e, "pprof: field %u at byte %zu: expected a length-delimited field", f->num, f->at);
    return 0;
}

typedef struct pp_str {
    const uint8_t *s;
    size_t n;
    uint32_t id; /* interned name id, UINT32_MAX until first use */
} pp_str;

typedef struct pp_func {
    uint64_t id;
    uint64_t name; /* string index */
} pp_func;

/* A mapping, to name an address that has no symbol as module+offset. */
typedef struct pp_map {
    uint64_t id, start, offset;
    uint64_t filename; /* string index */
} pp_map;

typedef struct pp_loc {
    uint64_t id, address, mapping_id;
    size_t first_line, nlines; /* into lines (function ids) */
    uint32_t addr_name;        /* name id for a location without lines */
} pp_loc;

typedef struct pp {
    rd_profile *p;
    const rd_limits *lim;
    const uint8_t *buf;
    size_t len;
    pp_str *strs;
    size_t nstrs;
    pp_func *funcs;
    size_t nfuncs;
    pp_loc *locs;
    size_t nlocs;
    pp_map *maps;
    size_t nmaps;
    uint64_t *lines; /* function ids */
    size_t nlines, lines_cap;
    uint64_t (*types)[2]; /* sample_type: type, unit string indices */
    size_t ntypes;
    int idx_count, idx_ns; /* which value is the count, which nanoseconds; -1 none */
    /* Per-sample scratch while decoding. */
    rd_sample *cur;
    size_t nvalues;
    size_t sample_at;
} pp;

static int pp_string(pp *x, uint64_t idx, uint32_t *id, rd_err *e, const char *what) {
    if (idx >= x->nstrs) return fail(e, "pprof: %s string index %" PRIu64 " out of range (%zu strings)", what, idx, x->nstrs);
    pp_str *s = &x->strs[idx];
    if (s->id == UINT32_MAX) {
        if (memchr(s->s, '\0', s->n) != NULL) return fail(e, "pprof: string %" PRIu64 " contains a NUL byte", idx);
        if (intern(x->p, (const char *)s->s, s->n, &s->id, e) != 0) return -1;
    }
    *id = s->id;
    return 0;
}

static int pp_value_type(pp *x, pb m, uint64_t out[2], rd_err *e) {
    pb_field f;
    out[0] = out[1] = 0;
    while (m.pos < m.end) {
        if (pb_next(&m, &f, e) != 0) return -1;
        if (f.num == 1 || f.num == 2) {
            if (expect_varint(&f, e) != 0) return -1;
            if (f.v >= x->nstrs) return fail(e, "pprof: value type string index %" PRIu64 " out of range", f.v);
            out[f.num - 1] = f.v;
        }
    }
    return 0;
}

static int pp_function(pp *x, pb m, pp_func *fn, rd_err *e) {
    pb_field f;
    memset(fn, 0, sizeof *fn);
    while (m.pos < m.end) {
        if (pb_next(&m, &f, e) != 0) return -1;
        if (f.num >= 1 && f.num <= 5 && expect_varint(&f, e) != 0) return -1;
        if (f.num == 1) fn->id = f.v;
        if (f.num == 2) fn->name = f.v;
    }
    if (fn->id == 0) return fail(e, "pprof: function with id 0");
    if (fn->name >= x->nstrs) return fail(e, "pprof: function %" PRIu64 " name index %" PRIu64 " out of range", fn->id, fn->name);
    return 0;
}

static int pp_line(pp *x, pb m, rd_err *e) {
    pb_field f;
    uint64_t fid = 0;
    while (m.pos < m.end) {
        if (pb_next(&m, &f, e) != 0) return -1;
        if (f.num == 1) {
            if (expect_varint(&f, e) != 0) return -1;
            fid = f.v;
        }
    }
    if (fid == 0) return fail(e, "pprof: line without a function id at byte %zu", m.end);
    if (grow((void **)&x->lines, &x->lines_cap, x->nlines + 1, sizeof *x->lines) != 0) return fail(e, "out of memory");
    x->lines[x->nlines++] = fid;
    return 0;
}

static int pp_location(pp *x, pb m, pp_loc *loc, rd_err *e) {
    pb_field f;
    memset(loc, 0, sizeof *loc);
    loc->first_line = x->nlines;
    loc->addr_name = UINT32_MAX;
    while (m.pos < m.end) {
        if (pb_next(&m, &f, e) != 0) return -1;
        if ((f.num == 1 || f.num == 2 || f.num == 3 || f.num == 5) && expect_varint(&f, e) != 0) return -1;
        if (f.num == 1) loc->id = f.v;
        if (f.num == 2) loc->mapping_id = f.v;
        if (f.num == 3) loc->address = f.v;
        if (f.num == 4 && (expect_len(&f, e) != 0 || pp_line(x, f.sub, e) != 0)) return -1;
    }
    loc->nlines = x->nlines - loc->first_line;
    if (loc->id == 0) return fail(e, "pprof: location with id 0");
    return 0;
}

static int cmp_func(const void *a, const void *b) {
    uint64_t x = ((const pp_func *)a)->id, y = ((const pp_func *)b)->id;
    return x < y ? -1 : x > y;
}
static int pp_mapping(pp *x, pb m, pp_map *map, rd_err *e) {
    pb_field f;
    memset(map, 0, sizeof *map);
    while (m.pos < m.end) {
        if (pb_next(&m, &f, e) != 0) return -1;
        if (f.num >= 1 && f.num <= 10 && expect_varint(&f, e) != 0) return -1; /* all scalars */
        if (f.num == 1) map->id = f.v;
        if (f.num == 2) map->start = f.v;
        if (f.num == 4) map->offset = f.v;
        if (f.num == 5) map->filename = f.v;
    }
    if (map->id == 0) return fail(e, "pprof: mapping with id 0");
    if (map->filename >= x->nstrs)
        return fail(e, "pprof: mapping %" PRIu64 " file name index %" PRIu64 " out of range", map->id, map->filename);
    return 0;
}

static int cmp_map(const void *a, const void *b) {
    uint64_t x = ((const pp_map *)a)->id, y = ((const pp_map *)b)->id;
    return x < y ? -1 : x > y;
}
static int cmp_loc(const void *a, const void *b) {
    uint64_t x = ((const pp_loc *)a)->id, y = ((const pp_loc *)b)->id;
    return x < y ? -1 : x > y;
}

static const pp_func *find_func(const pp *x, uint64_t id) {
    size_t lo = 0, hi = x->nfuncs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->funcs[mid].id == id) return &x->funcs[mid];
        if (x->funcs[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
static const pp_map *find_map(const pp *x, uint64_t id) {
    size_t lo = 0, hi = x->nmaps;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->maps[mid].id == id) return &x->maps[mid];
        if (x->maps[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* "libfoo.so.1+0x1234" for an address without a symbol, the way a person
 * finds it again (objdump, addr2line on that file); "0x..." without a
 * mapping or file name. */
static void pp_address_name(const pp *x, const pp_loc *loc, char *buf, size_t size) {
    const pp_map *map = loc->mapping_id ? find_map(x, loc->mapping_id) : NULL;
    if (map != NULL && loc->address >= map->start) {
        const pp_str *file = &x->strs[map->filename];
        const uint8_t *base = file->s;
        size_t n = file->n;
        for (size_t i = 0; i < file->n; i++)
            if (file->s[i] == '/') base = file->s + i + 1, n = file->n - i - 1;
        if (n > 0 && n < 200 && memchr(base, '\0', n) == NULL) {
            snprintf(buf, size, "%.*s+0x%" PRIx64, (int)n, (const char *)base, loc->address - map->start + map->offset);
            return;
        }
    }
    snprintf(buf, size, "0x%" PRIx64, loc->address);
}

static pp_loc *find_loc(pp *x, uint64_t id) {
    size_t lo = 0, hi = x->nlocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (x->locs[mid].id == id) return &x->locs[mid];
        if (x->locs[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* One location id of a sample: its lines (innermost inlined first, which is
 * leaf-most), or its address when it has none. */
static int pp_sample_location(void *ctx, uint64_t id, rd_err *e) {
    pp *x = ctx;
    pp_loc *loc = find_loc(x, id);
    if (loc == NULL) return fail(e, "pprof: sample at byte %zu refers to unknown location %" PRIu64, x->sample_at, id);
    if (loc->nlines == 0) {
        if (loc->addr_name == UINT32_MAX) {
            char buf[256];
            pp_address_name(x, loc, buf, sizeof buf);
            const char *syn = pcprof_synthetic_name(loc->address);
            if (intern_str(x->p, syn && loc->address ? syn : buf, &loc->addr_name, e) != 0) return -1;
        }
        if (push_frame(x->p, loc->addr_name, x->lim, e, "pprof") != 0) return -1;
    }
    for (size_t i = 0; i < loc->nlines; i++) {
        const pp_func *fn = find_func(x, x->lines[loc->first_line + i]);
        uint32_t name;
        if (fn == NULL)
            return fail(e, "pprof: location %" PRIu64 " refers to unknown function %" PRIu64, id,
                        x->lines[loc->first_line + i]);
        if (pp_string(x, fn->name, &name, e, "function name") != 0) return -1;
        if (push_frame(x->p, name, x->lim, e, "pprof") != 0) return -1;
    }
    if (x->p->nframes - x->cur->first_frame > x->lim->max_depth)
        return fail(e, "pprof: sample at byte %zu is deeper than %u frames", x->sample_at, x->lim->max_depth);
    return 0;
}

static int pp_sample_value(void *ctx, uint64_t v, rd_err *e) {
    pp *x = ctx;
    (void)e;
    if ((int)x->nvalues == x->idx_count) x->cur->count = (int64_t)v;
    if ((int)x->nvalues == x->idx_ns) x->cur->value_ns = (int64_t)v;
    x->nvalues++;
    return 0;
}

static int pp_label(pp *x, pb m, rd_err *e) {
    pb_field f;
    uint64_t key = 0, str = 0, unit = 0;
    int64_t num = 0;
    int has_num = 0;
    while (m.pos < m.end) {
        if (pb_next(&m, &f, e) != 0) return -1;
        if (f.num >= 1 && f.num <= 4 && expect_varint(&f, e) != 0) return -1;
        if (f.num == 1) key = f.v;
        if (f.num == 2) str = f.v;
        if (f.num == 3) {
            num = (int64_t)f.v;
            has_num = 1;
        }
        if (f.num == 4) unit = f.v;
    }
    uint32_t kid, vid;
    if (key == 0) return fail(e, "pprof: label without a key at byte %zu", m.end);
    if (pp_string(x, key, &kid, e, "label key") != 0) return -1;
    if (has_num) {
        char buf[96];
        uint32_t uid = 0;
        if (unit != 0 && pp_string(x, unit, &uid, e, "label unit") != 0) return -1;
        snprintf(buf, sizeof buf, "%" PRId64 "%s%.60s", num, unit ? " " : "", unit ? rd_name(x->p, uid) : "");
        if (intern_str(x->p, buf, &vid, e) != 0) return -1;
    } else if (pp_string(x, str, &vid, e, "label value") != 0) {
        return -1;
    }
    return push_label(x->p, kid, vid, e);
}

static int pp_sample(pp *x, pb m, size_t at, rd_err *e) {
    pb_field f;
    x->cur = begin_sample(x->p, e);
    if (x->cur == NULL) return -1;
    x->cur->count = 0;
    x->nvalues = 0;
    x->sample_at = at;
    while (m.pos < m.end) {
        if (pb_next(&m, &f, e) != 0) return -1;
        if (f.num == 1 && pb_ints(&f, pp_sample_location, x, e) != 0) return -1;
        if (f.num == 2 && pb_ints(&f, pp_sample_value, x, e) != 0) return -1;
        if (f.num == 3 && (expect_len(&f, e) != 0 || pp_label(x, f.sub, e) != 0)) return -1;
    }
    if (x->nvalues != x->ntypes)
        return fail(e, "pprof: sample at byte %zu has %zu values for %zu sample types", at, x->nvalues, x->ntypes);
    if (x->cur->count < 0 || (x->idx_ns >= 0 && x->cur->value_ns < 0))
        return fail(e, "pprof: sample at byte %zu has a negative value", at);
    end_sample(x->p, x->cur);
    return 0;
}

static int pp_comment(void *ctx, uint64_t v, rd_err *e) {
    pp *x = ctx;
    uint32_t id;
    if (pp_string(x, v, &id, e, "comment") != 0) return -1;
    rd_profile *p = x->p;
    if (grow((void **)&p->comments, &p->comments_cap, p->ncomments + 1, sizeof *p->comments) != 0)
        return fail(e, "out of memory");
    p->comments[p->ncomments++] = id;
    return 0;
}

/* Which sample value is the count and which the nanoseconds.  Our writer
 * emits [samples/count, cpu/nanoseconds]; other producers vary, so go by
 * the units.  With no count unit the first value counts samples. */
static void pp_pick_values(pp *x) {
    x->idx_count = x->idx_ns = -1;
    for (size_t i = 0; i < x->ntypes; i++) {
        const pp_str *unit = &x->strs[x->types[i][1]];
        if (unit->n == 5 && memcmp(unit->s, "count", 5) == 0 && x->idx_count < 0) x->idx_count = (int)i;
        if (unit->n == 11 && memcmp(unit->s, "nanoseconds", 11) == 0 && x->idx_ns < 0) x->idx_ns = (int)i;
    }
    if (x->idx_count < 0 && x->ntypes > 0 && x->idx_ns != 0) x->idx_count = 0;
}

/* Pass 1: count the repeated fields, read the scalars, check framing. */
static int pp_count(pp *x, size_t n[16], rd_err *e) {
    pb c = {x->buf, 0, x->len};
    pb_field f;
    memset(n, 0, 16 * sizeof n[0]);
    while (c.pos < c.end) {
        if (pb_next(&c, &f, e) != 0) return -1;
        if (f.num <= 6 && expect_len(&f, e) != 0) return -1;
        if (f.num < 16) n[f.num]++;
        if ((f.num == 9 || f.num == 10 || f.num == 12) && expect_varint(&f, e) != 0) return -1;
        if (f.num == 9) x->p->time_nanos = (int64_t)f.v;
        if (f.num == 10) x->p->duration_nanos = (int64_t)f.v;
        if (f.num == 12) x->p->period_ns = (int64_t)f.v; /* unit checked after pass 2 */
    }
    return 0;
}

static int pp_alloc_tables(pp *x, const size_t n[16], rd_err *e) {
    /* Each counted element took at least two bytes of input, so these are
     * bounded by the input length. */
    x->strs = calloc(n[6] ? n[6] : 1, sizeof *x->strs);
    x->funcs = calloc(n[5] ? n[5] : 1, sizeof *x->funcs);
    x->locs = calloc(n[4] ? n[4] : 1, sizeof *x->locs);
    x->maps = calloc(n[3] ? n[3] : 1, sizeof *x->maps);
    x->types = calloc(n[1] ? n[1] : 1, sizeof *x->types);
    if (!x->strs || !x->funcs || !x->locs || !x->maps || !x->types) return fail(e, "pprof: out of memory");
    return 0;
}

/* Pass 2a: the tables that samples refer to. */
static int pp_tables(pp *x, rd_err *e) {
    pb c = {x->buf, 0, x->len};
    pb_field f;
    uint64_t period_type[2] = {0, 0};
    pb period_msg = {0};
    int has_period_type = 0;
    while (c.pos < c.end) {
        if (pb_next(&c, &f, e) != 0) return -1;
        if (f.num == 6) {
            x->strs[x->nstrs].s = f.sub.base + f.sub.pos;
            x->strs[x->nstrs].n = f.sub.end - f.sub.pos;
            x->strs[x->nstrs].id = UINT32_MAX;
            x->nstrs++;
        }
        if (f.num == 11) {
            if (expect_len(&f, e) != 0) return -1;
            period_msg = f.sub;
            has_period_type = 1;
        }
    }
    if (x->nstrs == 0 || x->strs[0].n != 0) return fail(e, "pprof: string table must start with the empty string");
    c.pos = 0;
    while (c.pos < c.end) {
        if (pb_next(&c, &f, e) != 0) return -1;
        if (f.num == 1 && pp_value_type(x, f.sub, x->types[x->ntypes++], e) != 0) return -1;
        if (f.num == 5 && pp_function(x, f.sub, &x->funcs[x->nfuncs++], e) != 0) return -1;
        if (f.num == 4 && pp_location(x, f.sub, &x->locs[x->nlocs++], e) != 0) return -1;
        if (f.num == 3 && pp_mapping(x, f.sub, &x->maps[x->nmaps++], e) != 0) return -1;
    }
    if (has_period_type && pp_value_type(x, period_msg, period_type, e) != 0) return -1;
    /* The period is in nanoseconds only if its unit says so. */
    const pp_str *unit = &x->strs[period_type[1]];
    if (!(unit->n == 11 && memcmp(unit->s, "nanoseconds", 11) == 0) || x->p->period_ns < 0) x->p->period_ns = 0;
    qsort(x->funcs, x->nfuncs, sizeof *x->funcs, cmp_func);
    qsort(x->locs, x->nlocs, sizeof *x->locs, cmp_loc);
    qsort(x->maps, x->nmaps, sizeof *x->maps, cmp_map);
    for (size_t i = 1; i < x->nfuncs; i++)
        if (x->funcs[i].id == x->funcs[i - 1].id) return fail(e, "pprof: duplicate function id %" PRIu64, x->funcs[i].id);
    for (size_t i = 1; i < x->nlocs; i++)
        if (x->locs[i].id == x->locs[i - 1].id) return fail(e, "pprof: duplicate location id %" PRIu64, x->locs[i].id);
    pp_pick_values(x);
    return 0;
}

/* Pass 2b: samples and comments. */
static int pp_samples(pp *x, rd_err *e) {
    pb c = {x->buf, 0, x->len};
    pb_field f;
    while (c.pos < c.end) {
        if (pb_next(&c, &f, e) != 0) return -1;
        if (f.num == 2 && pp_sample(x, f.sub, f.at, e) != 0) return -1;
        if (f.num == 13 && pb_ints(&f, pp_comment, x, e) != 0) return -1;
    }
    x->p->has_value_ns = x->idx_ns >= 0;
    return 0;
}

/* gunzip, possibly several concatenated members, at most `cap` bytes out. */
static int gunzip(const uint8_t *in, size_t len, size_t cap, uint8_t **out, size_t *outlen, rd_err *e) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK) return fail(e, "pprof: zlib init failed");
    size_t bufcap = len < cap / 4 ? len * 4 + 64 : cap;
    if (bufcap > cap) bufcap = cap;
    uint8_t *buf = malloc(bufcap ? bufcap : 1);
    size_t used = 0;
    int rc = 0;
    if (buf == NULL) {
        inflateEnd(&z);
        return fail(e, "pprof: out of memory");
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    for (;;) {
        /* zlib counts in uInt: feed at most 1 GiB at a time. */
        size_t in_left = len - (size_t)(z.next_in - (const Bytef *)in);
        z.avail_in = in_left > (1u << 30) ? (1u << 30) : (uInt)in_left;
        if (used == bufcap) {
            if (bufcap >= cap) {
                rc = fail(e, "pprof: decompressed size exceeds the limit of %zu bytes", cap);
                break;
            }
            size_t ncap = bufcap > cap / 2 ? cap : bufcap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (nb == NULL) {
                rc = fail(e, "pprof: out of memory");
                break;
            }
            buf = nb;
            bufcap = ncap;
        }
        size_t room = bufcap - used;
        z.next_out = buf + used;
        z.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        uInt before = z.avail_out;
        int r = inflate(&z, Z_NO_FLUSH);
        used += before - z.avail_out;
        if (r == Z_STREAM_END) {
            size_t consumed = (size_t)(z.next_in - (const Bytef *)in);
            if (consumed == len) break;
            /* Another gzip member follows (trailing zero padding is not one). */
            if (len - consumed < 2 || in[consumed] != 0x1f || in[consumed + 1] != 0x8b) {
                rc = fail(e, "pprof: %zu bytes of trailing garbage after the gzip stream", len - consumed);
                break;
            }
            inflateReset(&z);
            continue;
        }
        if (r == Z_BUF_ERROR && z.avail_in == 0 && (size_t)(z.next_in - (const Bytef *)in) == len) {
            rc = fail(e, "pprof: truncated gzip stream (%zu bytes in)", len);
            break;
        }
        if (r != Z_OK && r != Z_BUF_ERROR) {
            rc = fail(e, "pprof: corrupt gzip stream: %s", z.msg ? z.msg : "error");
            break;
        }
    }
    inflateEnd(&z);
    if (rc != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *outlen = used;
    return 0;
}

int rd_gunzip(const uint8_t *in, size_t len, size_t cap, uint8_t **out, size_t *outlen, char *err, size_t errlen) {
    rd_err e = {err, errlen};
    return gunzip(in, len, cap, out, outlen, &e);
}

int rd_read_pprof(const uint8_t *data, size_t len, const rd_limits *lim, rd_profile *out, char *err, size_t errlen) {
    rd_err e = {err, errlen};
    uint8_t *plain = NULL;
    size_t plain_len = len;
    pp x;
    size_t n[16];
    int rc = -1;
    reset(out, PCPROF_FORMAT_PPROF);
    if (len > lim->max_input) return fail(&e, "pprof: input larger than the limit of %zu bytes", lim->max_input);
    if (len >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        if (gunzip(data, len, lim->max_decompressed, &plain, &plain_len, &e) != 0) return -1;
        data = plain;
    }
    memset(&x, 0, sizeof x);
    x.p = out;
    x.lim = lim;
    x.buf = data;
    x.len = plain_len;
    if (pp_count(&x, n, &e) == 0 && pp_alloc_tables(&x, n, &e) == 0 && pp_tables(&x, &e) == 0 && pp_samples(&x, &e) == 0)
        rc = 0;
    free(x.strs);
    free(x.funcs);
    free(x.locs);
    free(x.maps);
    free(x.lines);
    free(x.types);
    free(plain);
    if (rc != 0) rd_free(out);
    return rc;
}

/* ===========================================================================
 *  legacy (gperftools CPU profile)
 * ======================================================================== */

typedef struct words {
    const uint8_t *b;
    size_t n;     /* whole slots */
    unsigned width; /* 4 or 8 */
} words;

static uint64_t word_at(const words *w, size_t i) {
    uint64_t v = 0;
    const uint8_t *p = w->b + i * w->width;
    for (unsigned k = w->width; k-- > 0;) v = v << 8 | p[k];
    return v;
}

/* Little-endian 64-bit or 32-bit slots: 0, >=3, 0, period, ...  The two
 * cannot both match: a 64-bit header read as 32-bit words has slot 1 = 0. */
static int legacy_width(const uint8_t *d, size_t len) {
    for (unsigned width = 8; width >= 4; width /= 2) {
        words w = {d, len / width, width};
        if (w.n >= 5 && word_at(&w, 0) == 0 && word_at(&w, 1) >= 3 && word_at(&w, 2) == 0) return (int)width;
    }
    return 0;
}

int rd_read_legacy(const uint8_t *data, size_t len, const rd_limits *lim, rd_profile *out, char *err, size_t errlen) {
    rd_err e = {err, errlen};
    reset(out, PCPROF_FORMAT_LEGACY);
    if (len > lim->max_input) return fail(&e, "legacy: input larger than the limit of %zu bytes", lim->max_input);
    int width = legacy_width(data, len);
    if (width == 0) return fail(&e, "legacy: no header (expected slots 0, 3, 0, period, 0)");
    words w = {data, len / (size_t)width, (unsigned)width};
    uint64_t hdr_words = word_at(&w, 1);
    if (hdr_words > w.n - 2) return fail(&e, "legacy: header claims %" PRIu64 " slots, file has %zu", hdr_words, w.n);
    uint64_t period_us = word_at(&w, 3);
    if (period_us == 0 || period_us > INT64_MAX / 1000) return fail(&e, "legacy: invalid sampling period %" PRIu64, period_us);
    out->period_ns = (int64_t)period_us * 1000;
    out->has_value_ns = 1;
    size_t i = 2 + (size_t)hdr_words;
    for (;;) {
        if (w.n - i < 2) return fail(&e, "legacy: truncated record at byte %zu (no trailer)", i * (size_t)width);
        uint64_t count = word_at(&w, i), depth = word_at(&w, i + 1);
        size_t at = i * (size_t)width;
        if (depth > w.n - i - 2) return fail(&e, "legacy: record at byte %zu has %" PRIu64 " frames, only %zu slots left", at, depth, w.n - i - 2);
        if (count == 0) {
            if (depth != 1 || word_at(&w, i + 2) != 0) return fail(&e, "legacy: bad trailer at byte %zu (expected 0, 1, 0)", at);
            i += 3;
            break;
        }
        if (depth == 0) return fail(&e, "legacy: record at byte %zu has no frames", at);
        if (depth > lim->max_depth) return fail(&e, "legacy: record at byte %zu is deeper than %u frames", at, lim->max_depth);
        if (count > (uint64_t)INT64_MAX / (uint64_t)out->period_ns)
            return fail(&e, "legacy: record at byte %zu: count %" PRIu64 " overflows", at, count);
        rd_sample *s = begin_sample(out, &e);
        if (s == NULL) goto bad;
        s->count = (int64_t)count;
        s->value_ns = (int64_t)count * out->period_ns;
        for (uint64_t k = 0; k < depth; k++) {
            uint64_t pc = word_at(&w, i + 2 + (size_t)k);
            const char *syn = pcprof_synthetic_name(pc);
            char buf[32];
            uint32_t id;
            snprintf(buf, sizeof buf, "0x%" PRIx64, pc);
            if (intern_str(out, syn ? syn : buf, &id, &e) != 0 || push_frame(out, id, lim, &e, "legacy") != 0) goto bad;
        }
        end_sample(out, s);
        i += 2 + (size_t)depth;
    }
    /* What follows the trailer is the text of /proc/self/maps: it must be
     * text (no NUL) to be a legacy profile; we do not use it yet. */
    size_t tail = i * (size_t)width;
    if (memchr(data + tail, '\0', len - tail) != NULL) return rd_free(out), fail(&e, "legacy: binary data after the trailer at byte %zu", tail);
    return 0;
bad:
    rd_free(out);
    return -1;
}

/* ===========================================================================
 *  collapsed
 * ======================================================================== */

static int collapsed_line(rd_profile *p, const char *line, size_t n, size_t lineno, const rd_limits *lim, rd_err *e) {
    if (n > 0 && line[n - 1] == '\r') n--;
    if (n == 0) return 0;
    const char *sp = NULL;
    for (size_t i = n; i-- > 0;)
        if (line[i] == ' ') {
            sp = line + i;
            break;
        }
    if (sp == NULL || sp == line) return fail(e, "collapsed: line %zu: expected 'frame;frame;... COUNT'", lineno);
    const char *num = sp + 1, *end = line + n;
    if (num == end) return fail(e, "collapsed: line %zu: missing count", lineno);
    uint64_t count = 0;
    for (const char *c = num; c < end; c++) {
        if (*c < '0' || *c > '9') return fail(e, "collapsed: line %zu: count '%.*s' is not a decimal integer", lineno, (int)(end - num > 40 ? 40 : end - num), num);
        if (count > ((uint64_t)INT64_MAX - (uint64_t)(*c - '0')) / 10) return fail(e, "collapsed: line %zu: count overflows", lineno);
        count = count * 10 + (uint64_t)(*c - '0');
    }
    rd_sample *s = begin_sample(p, e);
    if (s == NULL) return -1;
    s->count = (int64_t)count;
    /* Frames are root first in the file; store them leaf first. */
    const char *stop = sp;
    size_t nframes = 0;
    while (stop > line) {
        const char *start = stop;
        while (start > line && start[-1] != ';') start--;
        if (start == stop) return fail(e, "collapsed: line %zu: empty frame name", lineno);
        uint32_t id;
        if (++nframes > lim->max_depth) return fail(e, "collapsed: line %zu: deeper than %u frames", lineno, lim->max_depth);
        if (intern(p, start, (size_t)(stop - start), &id, e) != 0 || push_frame(p, id, lim, e, "collapsed") != 0) return -1;
        stop = start > line ? start - 1 : start;
        if (start > line && stop == line) return fail(e, "collapsed: line %zu: empty frame name", lineno);
    }
    end_sample(p, s);
    return 0;
}

int rd_read_collapsed(const uint8_t *data, size_t len, const rd_limits *lim, rd_profile *out, char *err, size_t errlen) {
    rd_err e = {err, errlen};
    reset(out, PCPROF_FORMAT_COLLAPSED);
    if (len > lim->max_input) return fail(&e, "collapsed: input larger than the limit of %zu bytes", lim->max_input);
    const char *s = (const char *)data;
    size_t lineno = 1, pos = 0;
    while (pos < len) {
        const char *nl = memchr(s + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (s + pos)) : len - pos;
        if (memchr(s + pos, '\0', n) != NULL) {
            rd_free(out);
            return fail(&e, "collapsed: line %zu: NUL byte (binary data?)", lineno);
        }
        if (collapsed_line(out, s + pos, n, lineno, lim, &e) != 0) {
            rd_free(out);
            return -1;
        }
        pos += n + 1;
        lineno++;
    }
    return 0;
}

/* ===========================================================================
 *  detection, files, top
 * ======================================================================== */

pcprof_format rd_detect(const uint8_t *data, size_t len) {
    if (len >= 2 && data[0] == 0x1f && data[1] == 0x8b) return PCPROF_FORMAT_PPROF;
    if (legacy_width(data, len) != 0) return PCPROF_FORMAT_LEGACY;
    return PCPROF_FORMAT_COLLAPSED;
}

int rd_read_any(const uint8_t *data, size_t len, const rd_limits *lim, rd_profile *out, char *err, size_t errlen) {
    switch (rd_detect(data, len)) {
    case PCPROF_FORMAT_PPROF: return rd_read_pprof(data, len, lim, out, err, errlen);
    case PCPROF_FORMAT_LEGACY: return rd_read_legacy(data, len, lim, out, err, errlen);
    case PCPROF_FORMAT_COLLAPSED: break;
    }
    return rd_read_collapsed(data, len, lim, out, err, errlen);
}

int rd_read_file(const char *path, const rd_limits *lim, rd_profile *out, char *err, size_t errlen) {
    rd_err e = {err, errlen};
    struct stat st;
    reset(out, PCPROF_FORMAT_COLLAPSED);
    FILE *f = fopen(path, "rb");
    if (f == NULL) return fail(&e, "%s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return fail(&e, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > lim->max_input) {
        fclose(f);
        return fail(&e, "%s: %lld bytes is larger than the limit of %zu", path, (long long)st.st_size, lim->max_input);
    }
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL || fread(buf, 1, n, f) != n) {
        free(buf);
        fclose(f);
        return fail(&e, "%s: read failed", path);
    }
    fclose(f);
    int rc = rd_read_any(buf, n, lim, out, err, errlen);
    free(buf);
    return rc;
}

static int cmp_stat(const void *a, const void *b) {
    const rd_func_stat *x = a, *y = b;
    if (x->flat != y->flat) return x->flat > y->flat ? -1 : 1;
    if (x->cum != y->cum) return x->cum > y->cum ? -1 : 1;
    return x->name < y->name ? -1 : x->name > y->name;
}

int rd_top(const rd_profile *p, rd_func_stat **out, size_t *nout, int64_t *total) {
    rd_func_stat *st = calloc(p->nnames ? p->nnames : 1, sizeof *st);
    size_t *seen = calloc(p->nnames ? p->nnames : 1, sizeof *seen); /* sample index + 1 */
    int64_t sum = 0;
    if (st == NULL || seen == NULL) {
        free(st);
        free(seen);
        return -1;
    }
    for (size_t i = 0; i < p->nnames; i++) st[i].name = (uint32_t)i;
    for (size_t i = 0; i < p->nsamples; i++) {
        const rd_sample *s = &p->samples[i];
        int64_t w = rd_weight(p, s);
        if (w <= 0 || s->depth == 0) continue;
        /* Saturate rather than overflow on hostile counts. */
        sum = sum > INT64_MAX - w ? INT64_MAX : sum + w;
        const uint32_t *f = p->frames + s->first_frame;
        st[f[0]].flat = st[f[0]].flat > INT64_MAX - w ? INT64_MAX : st[f[0]].flat + w;
        for (uint32_t k = 0; k < s->depth; k++) {
            if (seen[f[k]] == i + 1) continue; /* recursion: count once per sample */
            seen[f[k]] = i + 1;
            st[f[k]].cum = st[f[k]].cum > INT64_MAX - w ? INT64_MAX : st[f[k]].cum + w;
        }
    }
    free(seen);
    size_t n = 0;
    for (size_t i = 0; i < p->nnames; i++)
        if (st[i].cum > 0) st[n++] = st[i];
    qsort(st, n, sizeof *st, cmp_stat);
    *out = st;
    *nout = n;
    *total = sum;
    return 0;
}
