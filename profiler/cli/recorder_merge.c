/* recorder_merge.c — the tree's profiles as one, the way `perf record`
 * keeps a whole tree in one file.
 *
 * pprof: every profile is re-encoded field by field into one Profile; its
 * mapping, location and function ids move past the ids of the profiles
 * before it, its strings are interned into one string table, and each of
 * its samples gets two more labels, pid (num) and comm (str), so
 * `go tool pprof -tags`, `-tagfocus pid=N` and `-tagshow comm` work.
 * Nothing is symbolized again or dropped: addresses, mappings, build IDs,
 * lines and inline frames stay as each process wrote them.  The sample
 * types and the period come from the first profile; a profile whose sample
 * types differ cannot be summed with it and makes the merge fail, named.
 * time_nanos is the earliest start, duration_nanos spans to the latest end.
 * Comments are the first profile's (the root's: it says hello first);
 * the others repeat them with their own timings.
 *
 * collapsed: every stack gets a root frame "comm-pid" (as
 * stackcollapse-perf.pl --pid does), so a flame graph splits by process.
 *
 * Input has been read by the readers (recorder.c, check_profile) before it
 * gets here, so a malformed field is a bug, but it is still checked: every
 * length against what remains, never a crash.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "readers.h"
#include "recorder.h"

/* ---- a growable byte buffer --------------------------------------------------- */

typedef struct mbuf {
    unsigned char *d;
    size_t n, cap;
    int failed;
} mbuf;

static void mb_put(mbuf *b, const void *p, size_t n) {
    if (b->failed) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        unsigned char *d = realloc(b->d, cap);
        if (d == NULL) {
            b->failed = 1;
            return;
        }
        b->d = d;
        b->cap = cap;
    }
    if (n) memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void mb_varint(mbuf *b, uint64_t v) {
    unsigned char t[10];
    size_t n = 0;
    for (; v >= 0x80; v >>= 7) t[n++] = (unsigned char)(v | 0x80);
    t[n++] = (unsigned char)v;
    mb_put(b, t, n);
}

static void mb_field_varint(mbuf *b, unsigned field, uint64_t v) {
    mb_varint(b, (uint64_t)field << 3);
    mb_varint(b, v);
}

static void mb_field_bytes(mbuf *b, unsigned field, const void *p, size_t n) {
    mb_varint(b, (uint64_t)field << 3 | 2);
    mb_varint(b, n);
    mb_put(b, p, n);
}

/* ---- reading fields --------------------------------------------------------------- */

typedef struct pfield {
    unsigned num, wire;
    uint64_t v;               /* varint value */
    const unsigned char *p;   /* wire 2: the bytes; 1/5: the fixed bytes */
    size_t n;
    const unsigned char *raw; /* the whole field, key included */
    size_t rawn;
} pfield;

static int rd_varint(const unsigned char **p, const unsigned char *end, uint64_t *v) {
    uint64_t r = 0;
    for (unsigned s = 0; s < 64 && *p < end; s += 7) {
        unsigned char c = *(*p)++;
        r |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* The next field of [*p, end); 1 at the end, -1 on malformed input. */
static int next_field(const unsigned char **p, const unsigned char *end, pfield *f) {
    if (*p >= end) return 1;
    f->raw = *p;
    uint64_t key;
    if (rd_varint(p, end, &key) != 0) return -1;
    f->num = (unsigned)(key >> 3);
    f->wire = (unsigned)(key & 7);
    f->p = NULL;
    f->n = 0;
    switch (f->wire) {
    case 0:
        if (rd_varint(p, end, &f->v) != 0) return -1;
        break;
    case 1:
    case 5: {
        size_t w = f->wire == 1 ? 8 : 4;
        if ((size_t)(end - *p) < w) return -1;
        f->p = *p;
        f->n = w;
        *p += w;
        break;
    }
    case 2:
        if (rd_varint(p, end, &f->v) != 0 || f->v > (uint64_t)(end - *p)) return -1;
        f->p = *p;
        f->n = (size_t)f->v;
        *p += f->n;
        break;
    default: return -1;
    }
    f->rawn = (size_t)(*p - f->raw);
    return 0;
}

/* ---- the merged string table ----------------------------------------------------------- */

typedef struct strtab {
    mbuf enc;          /* encoded string_table fields, in index order */
    char **strs;       /* index -> string */
    size_t n, cap;
    uint32_t *hash;    /* index + 1, 0 empty */
    size_t hcap;
} strtab;

static uint64_t str_hash(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int st_rehash(strtab *t, size_t cap) {
    uint32_t *h = calloc(cap, sizeof *h);
    if (h == NULL) return -1;
    for (size_t i = 0; i < t->n; i++) {
        size_t k = (size_t)str_hash(t->strs[i], strlen(t->strs[i])) & (cap - 1);
        while (h[k]) k = (k + 1) & (cap - 1);
        h[k] = (uint32_t)i + 1;
    }
    free(t->hash);
    t->hash = h;
    t->hcap = cap;
    return 0;
}

/* The merged index of (s, n); (uint64_t)-1 when out of memory.  Strings
 * hold no NUL in our profiles; one that does is cut there (pprof's own
 * reader treats them as Go strings, but nothing we write has one). */
static uint64_t st_intern(strtab *t, const char *s, size_t n) {
    if ((t->n + 1) * 2 > t->hcap && st_rehash(t, t->hcap ? t->hcap * 2 : 1024) != 0) return (uint64_t)-1;
    size_t k = (size_t)str_hash(s, n) & (t->hcap - 1);
    for (; t->hash[k]; k = (k + 1) & (t->hcap - 1)) {
        const char *o = t->strs[t->hash[k] - 1];
        if (strlen(o) == n && memcmp(o, s, n) == 0) return t->hash[k] - 1;
    }
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        char **v = realloc(t->strs, cap * sizeof *v);
        if (v == NULL) return (uint64_t)-1;
        t->strs = v;
        t->cap = cap;
    }
    char *c = strndup(s, n);
    if (c == NULL) return (uint64_t)-1;
    t->strs[t->n] = c;
    t->hash[k] = (uint32_t)t->n + 1;
    mb_field_bytes(&t->enc, 6, s, n);
    return t->n++;
}

static void st_free(strtab *t) {
    for (size_t i = 0; i < t->n; i++) free(t->strs[i]);
    free(t->strs);
    free(t->hash);
    free(t->enc.d);
}

/* ---- one profile's rewrite ---------------------------------------------------------------- */

typedef struct merge {
    strtab strings;
    mbuf body;             /* everything but the string table and the header fields */
    mbuf header;           /* sample_type, period_type, period, default_sample_type: the first profile's */
    uint64_t map_base, loc_base, func_base;
    int64_t start_ns, end_ns;
    uint64_t *comments;    /* merged string indices already written */
    size_t ncomments, comments_cap;
    char first_types[512]; /* the first profile's sample types, "type/unit,..." */
    int have_first;
    char err[256];
} merge;

/* What one profile contributes while it is rewritten. */
typedef struct source {
    uint64_t *str_map; /* local string index -> merged */
    size_t nstr;
    uint64_t max_map, max_loc, max_func;
    uint64_t pid_key, comm_key, comm_val; /* merged string indices */
    uint64_t pid;
} source;

enum field_kind { K_COPY, K_STR, K_MAP, K_LOC, K_FUNC, K_SUB_LABEL, K_SUB_LINE, K_SUB_VT };
typedef enum field_kind (*schema_fn)(unsigned field);

static enum field_kind schema_value_type(unsigned f) { return f == 1 || f == 2 ? K_STR : K_COPY; }
static enum field_kind schema_label(unsigned f) { return f == 1 || f == 2 || f == 4 ? K_STR : K_COPY; }
static enum field_kind schema_line(unsigned f) { return f == 1 ? K_FUNC : K_COPY; }
static enum field_kind schema_sample(unsigned f) { return f == 1 ? K_LOC : f == 3 ? K_SUB_LABEL : K_COPY; }
static enum field_kind schema_mapping(unsigned f) { return f == 1 ? K_MAP : f == 5 || f == 6 ? K_STR : K_COPY; }
static enum field_kind schema_location(unsigned f) {
    return f == 1 ? K_LOC : f == 2 ? K_MAP : f == 4 ? K_SUB_LINE : K_COPY;
}
static enum field_kind schema_function(unsigned f) { return f == 1 ? K_FUNC : f >= 2 && f <= 4 ? K_STR : K_COPY; }

static int fail(merge *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(merge *m, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err, sizeof m->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* One id or string index, moved into the merged space. */
static int map_value(merge *m, source *s, enum field_kind k, uint64_t v, uint64_t *out) {
    switch (k) {
    case K_STR:
        if (v >= s->nstr) return fail(m, "string index %" PRIu64 " out of range", v);
        *out = s->str_map[v];
        return 0;
    case K_MAP:
        if (v > s->max_map) s->max_map = v;
        *out = v ? v + m->map_base : 0;
        return 0;
    case K_LOC:
        if (v > s->max_loc) s->max_loc = v;
        *out = v ? v + m->loc_base : 0;
        return 0;
    case K_FUNC:
        if (v > s->max_func) s->max_func = v;
        *out = v ? v + m->func_base : 0;
        return 0;
    default: *out = v; return 0;
    }
}

static int rewrite(merge *m, source *s, schema_fn schema, const unsigned char *p, size_t n, mbuf *out);
static int rewrite_sub(merge *m, source *s, schema_fn schema, const pfield *f, mbuf *out);

static schema_fn sub_schema(enum field_kind k) {
    return k == K_SUB_LABEL ? schema_label : k == K_SUB_LINE ? schema_line : schema_value_type;
}

static int rewrite_field(merge *m, source *s, enum field_kind k, const pfield *f, mbuf *out) {
    if (k == K_COPY) {
        mb_put(out, f->raw, f->rawn);
        return 0;
    }
    if (k == K_SUB_LABEL || k == K_SUB_LINE || k == K_SUB_VT) return rewrite_sub(m, s, sub_schema(k), f, out);
    uint64_t v;
    if (f->wire == 0) {
        if (map_value(m, s, k, f->v, &v) != 0) return -1;
        mb_field_varint(out, f->num, v);
        return 0;
    }
    if (f->wire != 2) return fail(m, "field %u: unexpected wire type %u", f->num, f->wire);
    /* A packed repeated id or index. */
    mbuf packed = {0};
    const unsigned char *q = f->p, *end = f->p + f->n;
    int rc = 0;
    while (q < end && rc == 0) {
        uint64_t x;
        if (rd_varint(&q, end, &x) != 0) rc = fail(m, "field %u: truncated packed varint", f->num);
        else if ((rc = map_value(m, s, k, x, &v)) == 0) mb_varint(&packed, v);
    }
    mb_field_bytes(out, f->num, packed.d, packed.n);
    if (packed.failed) out->failed = 1;
    free(packed.d);
    return rc;
}

static int rewrite(merge *m, source *s, schema_fn schema, const unsigned char *p, size_t n, mbuf *out) {
    const unsigned char *end = p + n;
    pfield f;
    int r;
    while ((r = next_field(&p, end, &f)) == 0)
        if (rewrite_field(m, s, schema(f.num), &f, out) != 0) return -1;
    return r < 0 ? fail(m, "malformed message") : 0;
}

/* Pass 1: the string table, interned. */
static int collect_strings(merge *m, source *s, const unsigned char *p, size_t n) {
    const unsigned char *end = p + n;
    pfield f;
    int r;
    size_t cap = 0;
    while ((r = next_field(&p, end, &f)) == 0) {
        if (f.num != 6 || f.wire != 2) continue;
        if (s->nstr == cap) {
            cap = cap ? cap * 2 : 256;
            uint64_t *v = realloc(s->str_map, cap * sizeof *v);
            if (v == NULL) return fail(m, "out of memory");
            s->str_map = v;
        }
        uint64_t id = st_intern(&m->strings, (const char *)f.p, f.n);
        if (id == (uint64_t)-1) return fail(m, "out of memory");
        s->str_map[s->nstr++] = id;
    }
    if (r < 0) return fail(m, "malformed profile");
    if (s->nstr == 0 || m->strings.strs[s->str_map[0]][0] != '\0') return fail(m, "string_table[0] is not empty");
    return 0;
}

/* "type/unit,type/unit" of the sample_type fields, for the compatibility check. */
static int sample_types(merge *m, source *s, const unsigned char *p, size_t n, char *buf, size_t len) {
    const unsigned char *end = p + n;
    pfield f;
    size_t used = 0;
    buf[0] = '\0';
    while (next_field(&p, end, &f) == 0) {
        if (f.num != 1 || f.wire != 2) continue;
        const unsigned char *q = f.p, *qe = f.p + f.n;
        pfield g;
        uint64_t t = 0, u = 0;
        while (next_field(&q, qe, &g) == 0) {
            if (g.num == 1 && g.wire == 0) t = g.v;
            if (g.num == 2 && g.wire == 0) u = g.v;
        }
        if (t >= s->nstr || u >= s->nstr) return fail(m, "sample_type names a string out of range");
        int w = snprintf(buf + used, len - used, "%s%s/%s", used ? "," : "", m->strings.strs[s->str_map[t]],
                         m->strings.strs[s->str_map[u]]);
        if (w < 0 || (size_t)w >= len - used) break;
        used += (size_t)w;
    }
    return 0;
}

static int comment_seen(merge *m, uint64_t idx) {
    for (size_t i = 0; i < m->ncomments; i++)
        if (m->comments[i] == idx) return 1;
    if (m->ncomments == m->comments_cap) {
        size_t cap = m->comments_cap ? m->comments_cap * 2 : 32;
        uint64_t *v = realloc(m->comments, cap * sizeof *v);
        if (v == NULL) return 1;
        m->comments = v;
        m->comments_cap = cap;
    }
    m->comments[m->ncomments++] = idx;
    return 0;
}

static void keep_comment(merge *m, source *s, uint64_t local) {
    if (local >= s->nstr) return;
    uint64_t idx = s->str_map[local];
    if (!comment_seen(m, idx)) mb_field_varint(&m->body, 13, idx);
}

/* A sub-message field rewritten with `schema`, appended to out. */
static int rewrite_sub(merge *m, source *s, schema_fn schema, const pfield *f, mbuf *out) {
    if (f->wire != 2) return fail(m, "field %u: expected a message", f->num);
    mbuf sub = {0};
    int rc = rewrite(m, s, schema, f->p, f->n, &sub);
    mb_field_bytes(out, f->num, sub.d, sub.n);
    if (sub.failed) out->failed = 1;
    free(sub.d);
    return rc;
}

static void append_label(mbuf *sample, uint64_t key, unsigned value_field, uint64_t value) {
    mbuf l = {0};
    mb_field_varint(&l, 1, key);
    mb_field_varint(&l, value_field, value);
    mb_field_bytes(sample, 3, l.d, l.n);
    if (l.failed) sample->failed = 1;
    free(l.d);
}

static int rewrite_sample(merge *m, source *s, const pfield *f) {
    if (f->wire != 2) return fail(m, "sample is not a message");
    mbuf smp = {0};
    int rc = rewrite(m, s, schema_sample, f->p, f->n, &smp);
    append_label(&smp, s->pid_key, 3, s->pid);       /* Label.num */
    append_label(&smp, s->comm_key, 2, s->comm_val); /* Label.str */
    mb_field_bytes(&m->body, 2, smp.d, smp.n);
    if (smp.failed) m->body.failed = 1;
    free(smp.d);
    return rc;
}

/* Pass 2: everything else.  Header fields only from the first profile. */
static int rewrite_profile(merge *m, source *s, const unsigned char *p, size_t n) {
    const unsigned char *end = p + n;
    pfield f;
    int r;
    int64_t t0 = 0, dur = 0;
    int first = !m->have_first;
    while ((r = next_field(&p, end, &f)) == 0) {
        int rc = 0;
        switch (f.num) {
        case 1:  /* sample_type */
        case 11: /* period_type */
            if (first) rc = rewrite_field(m, s, K_SUB_VT, &f, &m->header);
            break;
        case 12: /* period */
            if (first) mb_put(&m->header, f.raw, f.rawn);
            break;
        case 7:  /* drop_frames */
        case 8:  /* keep_frames */
        case 14: /* default_sample_type */
            if (first) rc = rewrite_field(m, s, K_STR, &f, &m->header);
            break;
        case 2: /* sample: rewritten, then its pid and comm labels */
            rc = rewrite_sample(m, s, &f);
            break;
        case 3: rc = rewrite_sub(m, s, schema_mapping, &f, &m->body); break;
        case 4: rc = rewrite_sub(m, s, schema_location, &f, &m->body); break;
        case 5: rc = rewrite_sub(m, s, schema_function, &f, &m->body); break;
        case 6: break; /* the string table: interned in pass 1 */
        case 9: t0 = (int64_t)f.v; break;
        case 10: dur = (int64_t)f.v; break;
        case 13: /* the first profile's comments only: the others' repeat them with their own timings */
            if (!first) break;
            if (f.wire == 0) keep_comment(m, s, f.v);
            else if (f.wire == 2) {
                const unsigned char *q = f.p, *qe = f.p + f.n;
                uint64_t v;
                while (q < qe && rd_varint(&q, qe, &v) == 0) keep_comment(m, s, v);
            }
            break;
        default: mb_put(&m->body, f.raw, f.rawn); break; /* unknown: kept as is */
        }
        if (rc != 0) return -1;
    }
    if (r < 0) return fail(m, "malformed profile");
    if (t0 > 0 && (m->start_ns == 0 || t0 < m->start_ns)) m->start_ns = t0;
    if (t0 > 0 && t0 + dur > m->end_ns) m->end_ns = t0 + dur;
    return 0;
}

static int merge_one(merge *m, const rec_image *im) {
    uint8_t *plain = NULL;
    size_t plen = 0;
    char err[200];
    if (rd_gunzip(im->data, im->len, (size_t)512 << 20, &plain, &plen, err, sizeof err) != 0)
        return fail(m, "pid %d: %s", (int)im->pid, err);
    source s;
    memset(&s, 0, sizeof s);
    s.pid = (uint64_t)im->pid;
    char types[512];
    int rc = collect_strings(m, &s, plain, plen);
    if (rc == 0) rc = sample_types(m, &s, plain, plen, types, sizeof types);
    if (rc == 0 && m->have_first && strcmp(types, m->first_types) != 0)
        rc = fail(m, "pid %d (%s) has samples of %s, the first profile %s: they cannot be summed", (int)im->pid,
                  im->comm, types, m->first_types);
    if (rc == 0) {
        s.pid_key = st_intern(&m->strings, "pid", 3);
        s.comm_key = st_intern(&m->strings, "comm", 4);
        s.comm_val = st_intern(&m->strings, im->comm, strlen(im->comm));
        if (s.pid_key == (uint64_t)-1 || s.comm_key == (uint64_t)-1 || s.comm_val == (uint64_t)-1)
            rc = fail(m, "out of memory");
    }
    if (rc == 0 && rewrite_profile(m, &s, plain, plen) != 0) {
        char why[256];
        snprintf(why, sizeof why, "%s", m->err);
        rc = fail(m, "pid %d (%s): %s", (int)im->pid, im->comm, why);
    }
    if (rc == 0) {
        if (!m->have_first) snprintf(m->first_types, sizeof m->first_types, "%s", types);
        m->have_first = 1;
        m->map_base += s.max_map;
        m->loc_base += s.max_loc;
        m->func_base += s.max_func;
    }
    free(s.str_map);
    free(plain);
    return rc;
}

static int gzip_bytes(const mbuf *in, unsigned char **out, size_t *outlen) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    size_t cap = deflateBound(&z, (uLong)in->n) + 64;
    unsigned char *d = malloc(cap);
    if (d == NULL) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = in->d;
    z.avail_in = (uInt)in->n;
    z.next_out = d;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    deflateEnd(&z);
    if (r != Z_STREAM_END) {
        free(d);
        return -1;
    }
    *out = d;
    *outlen = cap - z.avail_out;
    return 0;
}

static int merge_pprof(const rec_image *const *imgs, size_t n, unsigned char **out, size_t *outlen, char *err,
                       size_t errlen) {
    merge m;
    memset(&m, 0, sizeof m);
    int rc = st_intern(&m.strings, "", 0) == 0 ? 0 : fail(&m, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) rc = merge_one(&m, imgs[i]);
    mbuf all = {0};
    if (rc == 0) {
        char note[96];
        snprintf(note, sizeof note, "profcore record: %zu process image%s, labels pid and comm", n, n == 1 ? "" : "s");
        uint64_t c = st_intern(&m.strings, note, strlen(note));
        if (c != (uint64_t)-1 && !comment_seen(&m, c)) mb_field_varint(&m.body, 13, c);
        mb_put(&all, m.header.d, m.header.n);
        mb_put(&all, m.strings.enc.d, m.strings.enc.n);
        mb_put(&all, m.body.d, m.body.n);
        if (m.start_ns > 0) {
            mb_field_varint(&all, 9, (uint64_t)m.start_ns);
            mb_field_varint(&all, 10, (uint64_t)(m.end_ns - m.start_ns));
        }
        if (all.failed || m.body.failed || m.header.failed || m.strings.enc.failed) rc = fail(&m, "out of memory");
    }
    if (rc == 0 && gzip_bytes(&all, out, outlen) != 0) rc = fail(&m, "compressing the merged profile failed");
    if (rc != 0) snprintf(err, errlen, "%s", m.err);
    free(all.d);
    free(m.body.d);
    free(m.header.d);
    free(m.comments);
    st_free(&m.strings);
    return rc;
}

/* ---- collapsed ------------------------------------------------------------------------------- */

static int merge_collapsed(const rec_image *const *imgs, size_t n, unsigned char **out, size_t *outlen, char *err,
                           size_t errlen) {
    mbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        char root[64];
        snprintf(root, sizeof root, "%s-%d;", imgs[i]->comm, (int)imgs[i]->pid);
        for (char *c = root; *c && c[1]; c++) /* a frame name holds no ';' and no blank */
            if (*c == ';' || *c == ' ' || *c == '\t') *c = '_';
        const char *p = (const char *)imgs[i]->data, *end = p + imgs[i]->len;
        while (p < end) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
            if (len > 0) {
                mb_put(&b, root, strlen(root));
                mb_put(&b, p, len);
                mb_put(&b, "\n", 1);
            }
            p += len + (nl != NULL);
        }
    }
    if (b.failed) {
        free(b.d);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *out = b.d ? b.d : malloc(1);
    *outlen = b.n;
    return *out ? 0 : -1;
}

int rec_merge(const rec_image *const *imgs, size_t n, uint32_t format, unsigned char **out, size_t *outlen,
              char *err, size_t errlen) {
    *out = NULL;
    *outlen = 0;
    if (format == PCPROF_FORMAT_PPROF) return merge_pprof(imgs, n, out, outlen, err, errlen);
    if (format == PCPROF_FORMAT_COLLAPSED) return merge_collapsed(imgs, n, out, outlen, err, errlen);
    snprintf(err, errlen, "profiles in %s format cannot be merged (it has no labels): use --per-process",
             pcprof_format_name((pcprof_format)format));
    return -1;
}

/* ---- mappings for a profile written where /proc was out of reach ------------------------------
 *
 * A process that chrooted cannot read /proc/self/maps nor its libraries at
 * exit: its locations come with addresses, no mapping and no name.  The
 * sender is alive while the recorder reads its message (it waits for the
 * answer), so the recorder reads /proc/PID/maps for it and gives each such
 * location the mapping that holds its address; `go tool pprof` then names
 * them from the files themselves. */

typedef struct exec_map {
    uint64_t start, limit, offset;
    char path[256];
} exec_map;

static size_t read_exec_maps(pid_t pid, exec_map *maps, size_t cap) {
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    size_t n = 0;
    if (f == NULL) return 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        unsigned long long s, e, off;
        char perms[8], file[256];
        file[0] = '\0';
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %255s", &s, &e, perms, &off, file) < 4) continue;
        if (perms[2] != 'x' || file[0] != '/') continue;
        maps[n] = (exec_map){s, e, off, ""};
        snprintf(maps[n].path, sizeof maps[n].path, "%s", file);
        n++;
    }
    fclose(f);
    return n;
}

/* The location's address and whether it has a mapping. */
static void location_facts(const unsigned char *p, size_t n, uint64_t *address, int *has_mapping) {
    const unsigned char *end = p + n;
    pfield f;
    *address = 0;
    *has_mapping = 0;
    while (next_field(&p, end, &f) == 0) {
        if (f.num == 3 && f.wire == 0) *address = f.v;
        if (f.num == 2 && f.wire == 0 && f.v != 0) *has_mapping = 1;
    }
}

int rec_attach_mappings(pid_t pid, const unsigned char *gz, size_t len, unsigned char **out, size_t *outlen) {
    uint8_t *plain = NULL;
    size_t plen = 0;
    char err[200];
    *out = NULL;
    if (rd_gunzip(gz, len, (size_t)512 << 20, &plain, &plen, err, sizeof err) != 0) return -1;
    /* What is there: the highest mapping id, the strings, locations that need one. */
    const unsigned char *p = plain, *end = plain + plen;
    pfield f;
    uint64_t max_map = 0, nstrings = 0;
    int orphans = 0;
    while (next_field(&p, end, &f) == 0) {
        if (f.num == 6) nstrings++;
        if (f.num == 3 && f.wire == 2) {
            const unsigned char *q = f.p, *qe = f.p + f.n;
            pfield g;
            while (next_field(&q, qe, &g) == 0)
                if (g.num == 1 && g.wire == 0 && g.v > max_map) max_map = g.v;
        }
        if (f.num == 4 && f.wire == 2) {
            uint64_t a;
            int has;
            location_facts(f.p, f.n, &a, &has);
            orphans += a != 0 && !has;
        }
    }
    exec_map maps[256];
    size_t nmaps = orphans ? read_exec_maps(pid, maps, 256) : 0;
    if (nmaps == 0) {
        free(plain);
        return -1; /* nothing to attach, or nothing to attach it to */
    }
    mbuf b = {0};
    unsigned used[256] = {0};
    for (p = plain; next_field(&p, end, &f) == 0;) {
        uint64_t a;
        int has;
        size_t k = nmaps;
        if (f.num == 4 && f.wire == 2) {
            location_facts(f.p, f.n, &a, &has);
            for (k = 0; !has && a != 0 && k < nmaps; k++)
                if (a >= maps[k].start && a < maps[k].limit) break;
            if (has || a == 0) k = nmaps;
        }
        if (k == nmaps) {
            mb_put(&b, f.raw, f.rawn);
            continue;
        }
        used[k] = 1;
        mbuf loc = {0};
        mb_put(&loc, f.p, f.n);
        mb_field_varint(&loc, 2, max_map + 1 + k);
        mb_field_bytes(&b, 4, loc.d, loc.n);
        if (loc.failed) b.failed = 1;
        free(loc.d);
    }
    uint64_t next_string = nstrings;
    for (size_t k = 0; k < nmaps; k++) {
        if (!used[k]) continue;
        mbuf m = {0};
        mb_field_varint(&m, 1, max_map + 1 + k);
        mb_field_varint(&m, 2, maps[k].start);
        mb_field_varint(&m, 3, maps[k].limit);
        mb_field_varint(&m, 4, maps[k].offset);
        mb_field_varint(&m, 5, next_string++);
        mb_field_bytes(&b, 3, m.d, m.n);
        mb_field_bytes(&b, 6, maps[k].path, strlen(maps[k].path));
        if (m.failed) b.failed = 1;
        free(m.d);
    }
    free(plain);
    int rc = b.failed ? -1 : gzip_bytes(&b, out, outlen);
    free(b.d);
    return rc;
}
