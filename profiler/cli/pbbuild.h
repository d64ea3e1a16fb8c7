/* pbbuild.h — hand-built profile bytes for the unit tests and the fuzz seed
 * generator (never linked into the tool).  Writes protobuf by hand so the
 * tests do not trust the decoder they test, and legacy/collapsed bytes.
 * Aborts on allocation failure: this is test support only.
 */
#ifndef PROFCORE_CLI_PBBUILD_H
#define PROFCORE_CLI_PBBUILD_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

typedef struct pbbuf {
    uint8_t *d;
    size_t n, cap;
} pbbuf;

static void pbb_put(pbbuf *b, const void *p, size_t n) {
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n) cap *= 2;
        b->d = realloc(b->d, cap);
        if (b->d == NULL) abort();
        b->cap = cap;
    }
    if (n) memcpy(b->d + b->n, p, n);
    b->n += n;
}
static void pbb_byte(pbbuf *b, uint8_t v) { pbb_put(b, &v, 1); }
static void pbb_varint(pbbuf *b, uint64_t v) {
    while (v >= 0x80) {
        pbb_byte(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    pbb_byte(b, (uint8_t)v);
}
static void pbb_key(pbbuf *b, uint32_t field, uint32_t wt) { pbb_varint(b, (uint64_t)field << 3 | wt); }
static void pbb_int(pbbuf *b, uint32_t field, uint64_t v) {
    pbb_key(b, field, 0);
    pbb_varint(b, v);
}
static void pbb_bytes(pbbuf *b, uint32_t field, const void *p, size_t n) {
    pbb_key(b, field, 2);
    pbb_varint(b, n);
    pbb_put(b, p, n);
}
static void pbb_str(pbbuf *b, uint32_t field, const char *s) { pbb_bytes(b, field, s, strlen(s)); }
/* Appends `sub` as a length-delimited field and empties it. */
static void pbb_msg(pbbuf *b, uint32_t field, pbbuf *sub) {
    pbb_bytes(b, field, sub->d, sub->n);
    sub->n = 0;
}
static void pbb_free(pbbuf *b) {
    free(b->d);
    memset(b, 0, sizeof *b);
}
static void pbb_le(pbbuf *b, uint64_t v, unsigned width) {
    for (unsigned i = 0; i < width; i++) pbb_byte(b, (uint8_t)(v >> (8 * i)));
}

static void pbb_gzip(const pbbuf *in, pbbuf *out) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) abort();
    out->n = 0;
    size_t bound = deflateBound(&z, (uLong)in->n) + 32;
    pbbuf tmp = {0};
    pbb_put(&tmp, NULL, 0);
    tmp.d = malloc(bound);
    if (tmp.d == NULL) abort();
    z.next_in = in->d;
    z.avail_in = (uInt)in->n;
    z.next_out = tmp.d;
    z.avail_out = (uInt)bound;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) abort();
    pbb_put(out, tmp.d, bound - z.avail_out);
    deflateEnd(&z);
    free(tmp.d);
}

/* The demo profile (raw protobuf), what the tests expect of it:
 *   strings: "", samples, count, cpu, nanoseconds, main, work, helper,
 *            [lost: contended], profcore.handler_ns_mean=812, thread,
 *            worker-1, other comment, bytes
 *   functions 1 main, 2 work, 3 helper, 4 [lost: contended]
 *   locations 10: helper inlined into work; 20: main; 30: lost; 40: 0x401000
 *   samples (leaf first)            count  ns        labels
 *     [10, 20] helper work main      3    30000000   thread=worker-1
 *     [20]     main                  1    10000000
 *     [30]     [lost: contended]     2    20000000
 *     [40, 20] 0x401000 main         1    10000000   bytes=512 bytes (num)
 *   period_type cpu/nanoseconds, period 10000000, comments 9 and 12
 * `packed` chooses packed or unpacked repeated ints (both are valid). */
static void pbb_demo_pprof(pbbuf *out, int packed) {
    static const char *const strs[] = {"",     "samples", "count",  "cpu",
                                       "nanoseconds", "main", "work", "helper",
                                       "[lost: contended]", "profcore.handler_ns_mean=812",
                                       "thread", "worker-1", "other comment", "bytes"};
    pbbuf m = {0}, s = {0}, l = {0};
    out->n = 0;
    /* sample_type */
    pbb_int(&m, 1, 1), pbb_int(&m, 2, 2), pbb_msg(out, 1, &m);
    pbb_int(&m, 1, 3), pbb_int(&m, 2, 4), pbb_msg(out, 1, &m);
    /* samples */
    static const uint64_t locs[4][2] = {{10, 20}, {20, 0}, {30, 0}, {40, 20}};
    static const uint64_t vals[4][2] = {{3, 30000000}, {1, 10000000}, {2, 20000000}, {1, 10000000}};
    for (int i = 0; i < 4; i++) {
        int nl = locs[i][1] ? 2 : 1;
        if (packed) {
            for (int k = 0; k < nl; k++) pbb_varint(&s, locs[i][k]);
            pbb_msg(&m, 1, &s);
            pbb_varint(&s, vals[i][0]), pbb_varint(&s, vals[i][1]);
            pbb_msg(&m, 2, &s);
        } else {
            for (int k = 0; k < nl; k++) pbb_int(&m, 1, locs[i][k]);
            pbb_int(&m, 2, vals[i][0]), pbb_int(&m, 2, vals[i][1]);
        }
        if (i == 0) pbb_int(&l, 1, 10), pbb_int(&l, 2, 11), pbb_msg(&m, 3, &l);
        if (i == 3) pbb_int(&l, 1, 13), pbb_int(&l, 3, 512), pbb_int(&l, 4, 13), pbb_msg(&m, 3, &l);
        pbb_msg(out, 2, &m);
    }
    /* a mapping with no file name: addresses in it are still named 0x... */
    pbb_int(&m, 1, 1), pbb_int(&m, 2, 0x400000), pbb_int(&m, 3, 0x500000), pbb_msg(out, 3, &m);
    /* locations: 10 has two lines, innermost (helper) first */
    pbb_int(&m, 1, 10), pbb_int(&m, 2, 1), pbb_int(&m, 3, 0x401234);
    pbb_int(&l, 1, 3), pbb_int(&l, 2, 7), pbb_msg(&m, 4, &l);
    pbb_int(&l, 1, 2), pbb_int(&l, 2, 9), pbb_msg(&m, 4, &l);
    pbb_msg(out, 4, &m);
    pbb_int(&m, 1, 20), pbb_int(&l, 1, 1), pbb_msg(&m, 4, &l), pbb_msg(out, 4, &m);
    pbb_int(&m, 1, 30), pbb_int(&l, 1, 4), pbb_msg(&m, 4, &l), pbb_msg(out, 4, &m);
    pbb_int(&m, 1, 40), pbb_int(&m, 3, 0x401000), pbb_msg(out, 4, &m);
    /* functions */
    for (uint64_t f = 1; f <= 4; f++) pbb_int(&m, 1, f), pbb_int(&m, 2, f == 4 ? 8 : f + 4), pbb_msg(out, 5, &m);
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) pbb_str(out, 6, strs[i]);
    pbb_int(out, 9, 1700000000000000000ull);
    pbb_int(out, 10, 2000000000);
    pbb_int(&m, 1, 3), pbb_int(&m, 2, 4), pbb_msg(out, 11, &m);
    pbb_int(out, 12, 10000000);
    if (packed) {
        pbb_varint(&s, 9), pbb_varint(&s, 12);
        pbb_msg(out, 13, &s);
    } else {
        pbb_int(out, 13, 9), pbb_int(out, 13, 12);
    }
    pbb_free(&m), pbb_free(&s), pbb_free(&l);
}

/* A legacy profile: 64- or 32-bit little-endian slots, period 10000 us.
 *   3 x [0x401234, 0x400100]   1 x [16 = lost: contended]   2 x [0x400100, 1 = truncated]
 * then the trailer and a maps line. */
static void pbb_demo_legacy(pbbuf *out, unsigned width) {
    static const uint64_t recs[][4] = {{3, 2, 0x401234, 0x400100}, {1, 1, 16, 0}, {2, 2, 0x400100, 1}};
    out->n = 0;
    pbb_le(out, 0, width), pbb_le(out, 3, width), pbb_le(out, 0, width), pbb_le(out, 10000, width), pbb_le(out, 0, width);
    for (size_t i = 0; i < sizeof recs / sizeof recs[0]; i++)
        for (uint64_t k = 0; k < 2 + recs[i][1]; k++) pbb_le(out, recs[i][k], width);
    pbb_le(out, 0, width), pbb_le(out, 1, width), pbb_le(out, 0, width);
    const char *maps = "00400000-00500000 r-xp 00000000 08:01 1234 /usr/bin/demo\n";
    pbb_put(out, maps, strlen(maps));
}

static const char pbb_demo_collapsed[] = "main;work;helper 5\nmain;work 2\r\n\nmain 1\n[lost: contended] 1\n";

#endif
