/* test_readers.c — the profile readers on valid, truncated, corrupted,
 * random and hostile input.  Built with ASan+UBSan: "no crash" is checked
 * by the sanitizers, the rest by the assertions below. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pbbuild.h"
#include "readers.h"

#include "../check.h"

static const rd_limits lim_default = RD_LIMITS_DEFAULT;

/* The frames of sample i joined leaf first with ';'. */
static const char *stack_str(const rd_profile *p, size_t i) {
    static char buf[1024];
    size_t n = 0;
    buf[0] = '\0';
    const rd_sample *s = &p->samples[i];
    for (uint32_t k = 0; k < s->depth && n < sizeof buf - 1; k++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", k ? ";" : "", rd_name(p, p->frames[s->first_frame + k]));
    return buf;
}

static int64_t flat_of(const rd_profile *p, const char *name, int64_t *cum) {
    rd_func_stat *st;
    size_t n;
    int64_t total, flat = -1;
    if (rd_top(p, &st, &n, &total) != 0) return -2;
    for (size_t i = 0; i < n; i++)
        if (strcmp(rd_name(p, st[i].name), name) == 0) {
            flat = st[i].flat;
            if (cum) *cum = st[i].cum;
        }
    free(st);
    return flat;
}

static void check_demo_pprof(const rd_profile *p, const char *what) {
    CHECK(p->nsamples == 4, "%s: %zu samples", what, p->nsamples);
    if (p->nsamples != 4) return;
    CHECK(strcmp(stack_str(p, 0), "helper;work;main") == 0, "%s: stack 0 = %s", what, stack_str(p, 0));
    CHECK(strcmp(stack_str(p, 2), "[lost: contended]") == 0, "%s: stack 2 = %s", what, stack_str(p, 2));
    CHECK(strcmp(stack_str(p, 3), "0x401000;main") == 0, "%s: stack 3 = %s", what, stack_str(p, 3));
    CHECK(p->samples[0].count == 3 && p->samples[0].value_ns == 30000000, "%s: sample 0 values", what);
    CHECK(p->has_value_ns == 1 && p->period_ns == 10000000, "%s: period %" PRId64, what, p->period_ns);
    CHECK(p->duration_nanos == 2000000000 && p->time_nanos == 1700000000000000000ll, "%s: times", what);
    CHECK(p->samples[0].nlabels == 1 && strcmp(rd_name(p, p->labels[p->samples[0].first_label].key), "thread") == 0 &&
              strcmp(rd_name(p, p->labels[p->samples[0].first_label].value), "worker-1") == 0,
          "%s: string label", what);
    CHECK(p->samples[3].nlabels == 1 && strcmp(rd_name(p, p->labels[p->samples[3].first_label].value), "512 bytes") == 0,
          "%s: numeric label", what);
    CHECK(p->ncomments == 2 && strcmp(rd_name(p, p->comments[0]), "profcore.handler_ns_mean=812") == 0 &&
              strcmp(rd_name(p, p->comments[1]), "other comment") == 0,
          "%s: comments", what);
    int64_t cum = 0;
    CHECK(flat_of(p, "helper", &cum) == 30000000 && cum == 30000000, "%s: helper flat", what);
    CHECK(flat_of(p, "main", &cum) == 10000000 && cum == 50000000, "%s: main flat/cum %" PRId64, what, cum);
    CHECK(flat_of(p, "work", &cum) == 0 && cum == 30000000, "%s: inlined work has cum only", what);
}

static void test_pprof_valid(void) {
    pbbuf raw = {0}, gz = {0};
    rd_profile p;
    char err[256];
    for (int packed = 0; packed <= 1; packed++) {
        pbb_demo_pprof(&raw, packed);
        pbb_gzip(&raw, &gz);
        CHECK(rd_detect(gz.d, gz.n) == PCPROF_FORMAT_PPROF, "gzip detected as pprof");
        int rc = rd_read_pprof(gz.d, gz.n, &lim_default, &p, err, sizeof err);
        CHECK(rc == 0, "gz packed=%d: %s", packed, err);
        if (rc == 0) check_demo_pprof(&p, packed ? "gz packed" : "gz unpacked");
        rd_free(&p);
        rc = rd_read_pprof(raw.d, raw.n, &lim_default, &p, err, sizeof err);
        CHECK(rc == 0, "raw packed=%d: %s", packed, err);
        if (rc == 0) check_demo_pprof(&p, "raw");
        rd_free(&p);
    }
    pbb_free(&raw), pbb_free(&gz);
}

/* Every strict prefix of a gzip file must fail (the trailer has the CRC and
 * length); every prefix of the raw message must parse or fail cleanly. */
static void test_pprof_truncated(void) {
    pbbuf raw = {0}, gz = {0};
    rd_profile p;
    char err[256];
    pbb_demo_pprof(&raw, 1);
    pbb_gzip(&raw, &gz);
    int all_fail = 1, messages_ok = 1;
    for (size_t n = 0; n < gz.n; n++) {
        err[0] = '\0';
        if (rd_read_pprof(gz.d, n, &lim_default, &p, err, sizeof err) == 0) all_fail = 0;
        else if (strncmp(err, "pprof: ", 7) != 0) messages_ok = 0;
        rd_free(&p);
    }
    CHECK(all_fail, "every truncated gzip fails");
    CHECK(messages_ok, "truncated gzip errors start with 'pprof: '");
    int raw_ok = 1, raw_failures = 0;
    for (size_t n = 1; n < raw.n; n++) {
        err[0] = '\0';
        if (rd_read_pprof(raw.d, n, &lim_default, &p, err, sizeof err) != 0) {
            raw_failures++;
            if (strncmp(err, "pprof: ", 7) != 0) raw_ok = 0;
        }
        rd_free(&p);
    }
    CHECK(raw_ok && raw_failures > (int)raw.n / 2, "raw truncations fail cleanly (%d of %zu)", raw_failures, raw.n);
    /* The exact message of a varint cut in the middle. */
    uint8_t cut[] = {0x08, 0x96};
    rd_read_pprof(cut, sizeof cut, &lim_default, &p, err, sizeof err);
    CHECK(strcmp(err, "pprof: truncated varint at byte 1") == 0, "%s", err);
    rd_free(&p);
    pbb_free(&raw), pbb_free(&gz);
}

/* Flip each byte of the raw message (three patterns): parse or clean error. */
static void test_pprof_corrupted(void) {
    pbbuf raw = {0};
    rd_profile p;
    char err[256];
    pbb_demo_pprof(&raw, 1);
    int ok = 1, errors = 0;
    static const uint8_t xors[] = {0xff, 0x80, 0x01};
    for (size_t i = 0; i < raw.n; i++)
        for (size_t k = 0; k < sizeof xors; k++) {
            raw.d[i] ^= xors[k];
            err[0] = '\0';
            if (rd_read_pprof(raw.d, raw.n, &lim_default, &p, err, sizeof err) != 0) {
                errors++;
                if (strncmp(err, "pprof: ", 7) != 0) ok = 0;
            }
            rd_free(&p);
            raw.d[i] ^= xors[k];
        }
    CHECK(ok && errors > 0, "corruptions fail cleanly (%d errors)", errors);
    pbb_free(&raw);
}

static int pprof_error(const uint8_t *d, size_t n, const char *expect) {
    rd_profile p;
    char err[256] = "";
    int rc = rd_read_pprof(d, n, &lim_default, &p, err, sizeof err);
    rd_free(&p);
    if (rc == 0 || strstr(err, expect) == NULL) {
        printf("  expected '%s', got rc=%d '%s'\n", expect, rc, err);
        return 0;
    }
    return 1;
}

static void test_pprof_hostile(void) {
    pbbuf b = {0}, m = {0};
    /* A length far beyond the buffer. */
    pbb_key(&b, 6, 2), pbb_varint(&b, 1ull << 40);
    CHECK(pprof_error(b.d, b.n, "exceeds the"), "huge length");
    b.n = 0;
    uint8_t overlong[12] = {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0};
    CHECK(pprof_error(overlong, 11, "overflows 64 bits"), "11-byte varint");
    uint8_t group[] = {0x0b};
    CHECK(pprof_error(group, 1, "unsupported wire type 3"), "group wire type");
    uint8_t field0[] = {0x00, 0x01};
    CHECK(pprof_error(field0, 2, "invalid field number"), "field 0");
    pbb_str(&b, 6, "x");
    CHECK(pprof_error(b.d, b.n, "string table must start with the empty string"), "bad string 0");
    b.n = 0;
    pbb_str(&b, 6, "");
    pbb_int(&m, 1, 99), pbb_msg(&b, 2, &m);
    CHECK(pprof_error(b.d, b.n, "unknown location 99"), "unknown location");
    b.n = 0;
    pbb_str(&b, 6, "");
    pbb_int(&m, 1, 1), pbb_int(&m, 2, 7), pbb_msg(&b, 5, &m);
    CHECK(pprof_error(b.d, b.n, "name index 7 out of range"), "function name index");
    b.n = 0;
    pbb_str(&b, 6, "");
    pbb_int(&m, 1, 5), pbb_msg(&b, 4, &m);
    pbb_int(&m, 1, 5), pbb_msg(&b, 4, &m);
    CHECK(pprof_error(b.d, b.n, "duplicate location id 5"), "duplicate location");
    b.n = 0;
    pbb_str(&b, 6, "");
    pbb_int(&m, 1, 5), pbb_int(&m, 4, 1), pbb_msg(&b, 4, &m); /* line as a varint */
    CHECK(pprof_error(b.d, b.n, "expected a length-delimited"), "line wire type");
    b.n = 0;
    pbb_str(&b, 6, "");
    pbb_int(&b, 13, 4);
    CHECK(pprof_error(b.d, b.n, "comment string index 4 out of range"), "comment index");
    b.n = 0;
    pbb_str(&b, 6, "");
    pbb_bytes(&b, 6, "a\0b", 3);
    pbb_int(&m, 1, 1), pbb_int(&m, 2, 1), pbb_msg(&b, 5, &m);
    pbb_int(&m, 1, 2), pbb_bytes(&m, 4, "", 0), pbb_msg(&b, 4, &m); /* line with function 0 */
    CHECK(pprof_error(b.d, b.n, "line without a function id"), "line function 0");
    b.n = 0;
    pbb_str(&b, 6, "");
    pbb_bytes(&b, 6, "a\0b", 3);
    pbb_int(&m, 1, 1), pbb_int(&m, 2, 1), pbb_msg(&b, 5, &m);
    pbbuf l = {0};
    pbb_int(&l, 1, 1), pbb_msg(&m, 4, &l);
    pbb_int(&m, 1, 2), pbb_msg(&b, 4, &m);
    pbb_int(&m, 1, 2), pbb_msg(&b, 2, &m);
    CHECK(pprof_error(b.d, b.n, "contains a NUL byte"), "NUL in a name");
    /* Sample values must match the sample types. */
    b.n = 0;
    pbb_str(&b, 6, "");
    pbb_int(&m, 2, 5), pbb_msg(&b, 2, &m);
    CHECK(pprof_error(b.d, b.n, "has 1 values for 0 sample types"), "value count");
    /* A mapping's file name must be in the string table. */
    b.n = 0;
    pbb_str(&b, 6, "");
    pbb_int(&m, 1, 1), pbb_int(&m, 5, 9), pbb_msg(&b, 3, &m);
    CHECK(pprof_error(b.d, b.n, "file name index 9 out of range"), "mapping file name index");
    pbb_free(&b), pbb_free(&m), pbb_free(&l);
}

/* An address with no symbol is named module+offset from its mapping (the
 * offset in the file: address - start + file offset), so a stripped
 * library's hot spot can be found again with objdump. */
static void test_pprof_unsymbolized_names(void) {
    pbbuf b = {0}, m = {0};
    pbb_str(&b, 6, "");
    pbb_str(&b, 6, "/usr/lib/x86_64-linux-gnu/libfoo.so.1");
    pbb_int(&m, 1, 2), pbb_int(&m, 2, 0x7000), pbb_int(&m, 3, 0x9000), pbb_int(&m, 4, 0x1000),
        pbb_int(&m, 5, 1), pbb_msg(&b, 3, &m);
    pbb_int(&m, 1, 7), pbb_int(&m, 2, 2), pbb_int(&m, 3, 0x7abc), pbb_msg(&b, 4, &m); /* mapped */
    pbb_int(&m, 1, 8), pbb_int(&m, 3, 0x5555), pbb_msg(&b, 4, &m);                  /* no mapping */
    pbb_int(&m, 1, 7), pbb_int(&m, 1, 8), pbb_msg(&b, 2, &m);
    rd_profile p;
    char err[256];
    int rc = rd_read_pprof(b.d, b.n, &lim_default, &p, err, sizeof err);
    CHECK(rc == 0 && p.nframes == 2, "reads: %s", rc == 0 ? "" : err);
    if (rc == 0 && p.nframes == 2) {
        CHECK(strcmp(rd_name(&p, p.frames[0]), "libfoo.so.1+0x1abc") == 0, "mapped: %s", rd_name(&p, p.frames[0]));
        CHECK(strcmp(rd_name(&p, p.frames[1]), "0x5555") == 0, "unmapped: %s", rd_name(&p, p.frames[1]));
    }
    rd_free(&p);
    pbb_free(&b), pbb_free(&m);
}

/* Depth and frame caps: a location with 50 inlined lines, referenced 10
 * times by one sample. */
static void test_pprof_limits(void) {
    pbbuf b = {0}, m = {0}, l = {0}, s = {0};
    rd_profile p;
    char err[256];
    pbb_str(&b, 6, "");
    pbb_str(&b, 6, "f");
    pbb_int(&m, 1, 1), pbb_int(&m, 2, 1), pbb_msg(&b, 5, &m);
    pbb_int(&m, 1, 1);
    for (int i = 0; i < 50; i++) pbb_int(&l, 1, 1), pbb_msg(&m, 4, &l);
    pbb_msg(&b, 4, &m);
    for (int i = 0; i < 10; i++) pbb_varint(&s, 1);
    pbb_msg(&m, 1, &s), pbb_msg(&b, 2, &m);
    rd_limits lim = lim_default;
    CHECK(rd_read_pprof(b.d, b.n, &lim, &p, err, sizeof err) == 0 && p.nframes == 500, "500 frames: %s", err);
    rd_free(&p);
    lim.max_depth = 499;
    CHECK(rd_read_pprof(b.d, b.n, &lim, &p, err, sizeof err) != 0 && strstr(err, "deeper than 499"), "%s", err);
    rd_free(&p);
    lim = lim_default;
    lim.max_frames = 100;
    CHECK(rd_read_pprof(b.d, b.n, &lim, &p, err, sizeof err) != 0 && strstr(err, "more than 100 frames"), "%s", err);
    rd_free(&p);
    pbb_free(&b), pbb_free(&m), pbb_free(&l), pbb_free(&s);
}

static void test_gzip_bomb(void) {
    pbbuf zeros = {0}, gz = {0};
    rd_profile p;
    char err[256];
    zeros.d = calloc(64u << 20, 1);
    zeros.n = zeros.cap = 64u << 20;
    pbb_gzip(&zeros, &gz);
    rd_limits lim = lim_default;
    lim.max_decompressed = 1u << 20;
    CHECK(rd_read_pprof(gz.d, gz.n, &lim, &p, err, sizeof err) != 0 && strstr(err, "exceeds the limit"),
          "bomb of %zu bytes: %s", gz.n, err);
    rd_free(&p);
    /* Garbage after a valid member is refused, not ignored. */
    pbbuf raw = {0};
    pbb_demo_pprof(&raw, 1);
    pbb_gzip(&raw, &gz);
    pbb_put(&gz, "junk", 4);
    CHECK(rd_read_pprof(gz.d, gz.n, &lim_default, &p, err, sizeof err) != 0 && strstr(err, "trailing garbage"), "%s", err);
    rd_free(&p);
    /* Corrupt deflate data. */
    pbb_gzip(&raw, &gz);
    memset(gz.d + 12, 0xff, 8);
    CHECK(rd_read_pprof(gz.d, gz.n, &lim_default, &p, err, sizeof err) != 0 && strncmp(err, "pprof: ", 7) == 0, "%s", err);
    rd_free(&p);
    pbb_free(&zeros), pbb_free(&gz), pbb_free(&raw);
}

static void test_legacy(void) {
    pbbuf b = {0};
    rd_profile p;
    char err[256];
    for (unsigned width = 8; width >= 4; width /= 2) {
        pbb_demo_legacy(&b, width);
        CHECK(rd_detect(b.d, b.n) == PCPROF_FORMAT_LEGACY, "legacy %u detected", width);
        int rc = rd_read_legacy(b.d, b.n, &lim_default, &p, err, sizeof err);
        CHECK(rc == 0, "legacy %u: %s", width, err);
        if (rc == 0) {
            CHECK(p.nsamples == 3 && p.period_ns == 10000000, "legacy %u: %zu samples", width, p.nsamples);
            CHECK(p.nsamples == 3 && strcmp(stack_str(&p, 0), "0x401234;0x400100") == 0, "%s", stack_str(&p, 0));
            CHECK(p.nsamples == 3 && strcmp(stack_str(&p, 1), "[lost: contended]") == 0, "%s", stack_str(&p, 1));
            CHECK(p.nsamples == 3 && strcmp(stack_str(&p, 2), "0x400100;[truncated]") == 0, "%s", stack_str(&p, 2));
            CHECK(p.nsamples == 3 && p.samples[0].value_ns == 30000000, "value_ns");
        }
        rd_free(&p);
        /* Every truncation before the end of the trailer fails. */
        size_t trailer_end = b.n - strlen("00400000-00500000 r-xp 00000000 08:01 1234 /usr/bin/demo\n");
        int all_fail = 1;
        for (size_t n = 0; n < trailer_end; n++) {
            if (rd_read_legacy(b.d, n, &lim_default, &p, err, sizeof err) == 0) all_fail = 0;
            rd_free(&p);
        }
        CHECK(all_fail, "legacy %u: truncations fail", width);
    }
    /* A record claiming 2^64-1 frames. */
    pbb_demo_legacy(&b, 8);
    memset(b.d + 6 * 8, 0xff, 8);
    CHECK(rd_read_legacy(b.d, b.n, &lim_default, &p, err, sizeof err) != 0 && strstr(err, "slots left"), "%s", err);
    rd_free(&p);
    /* A bad trailer. */
    pbb_demo_legacy(&b, 8);
    b.d[(5 + 4 + 3 + 4 + 1) * 8] = 2; /* trailer's depth slot: 1 -> 2 */
    CHECK(rd_read_legacy(b.d, b.n, &lim_default, &p, err, sizeof err) != 0 && strncmp(err, "legacy: ", 8) == 0, "%s", err);
    rd_free(&p);
    /* Not a header. */
    CHECK(rd_read_legacy((const uint8_t *)"hello world, this is text", 25, &lim_default, &p, err, sizeof err) != 0 &&
              strstr(err, "no header"),
          "%s", err);
    rd_free(&p);
    /* Zero period. */
    pbb_demo_legacy(&b, 8);
    memset(b.d + 3 * 8, 0, 8);
    CHECK(rd_read_legacy(b.d, b.n, &lim_default, &p, err, sizeof err) != 0 && strstr(err, "sampling period"), "%s", err);
    rd_free(&p);
    pbb_free(&b);
}

static int collapsed_error(const char *text, const char *expect) {
    rd_profile p;
    char err[256] = "";
    int rc = rd_read_collapsed((const uint8_t *)text, strlen(text), &lim_default, &p, err, sizeof err);
    rd_free(&p);
    if (rc == 0 || strstr(err, expect) == NULL) {
        printf("  '%s': expected '%s', got rc=%d '%s'\n", text, expect, rc, err);
        return 0;
    }
    return 1;
}

static void test_collapsed(void) {
    rd_profile p;
    char err[256];
    const uint8_t *d = (const uint8_t *)pbb_demo_collapsed;
    size_t n = strlen(pbb_demo_collapsed);
    CHECK(rd_detect(d, n) == PCPROF_FORMAT_COLLAPSED, "collapsed detected");
    int rc = rd_read_collapsed(d, n, &lim_default, &p, err, sizeof err);
    CHECK(rc == 0 && p.nsamples == 4, "collapsed: %s", err);
    if (rc == 0 && p.nsamples == 4) {
        CHECK(strcmp(stack_str(&p, 0), "helper;work;main") == 0 && p.samples[0].count == 5, "%s", stack_str(&p, 0));
        CHECK(strcmp(stack_str(&p, 1), "work;main") == 0 && p.samples[1].count == 2, "CRLF line: %s", stack_str(&p, 1));
        CHECK(strcmp(stack_str(&p, 3), "[lost: contended]") == 0, "%s", stack_str(&p, 3));
        int64_t cum = 0;
        CHECK(flat_of(&p, "main", &cum) == 1 && cum == 8, "main flat 1 cum 8 (%" PRId64 ")", cum);
        CHECK(p.has_value_ns == 0 && p.samples[0].value_ns == -1, "no ns in collapsed");
    }
    rd_free(&p);
    /* Recursion counts once per sample in cum. */
    const char *rec = "a;b;a 4\n";
    rd_read_collapsed((const uint8_t *)rec, strlen(rec), &lim_default, &p, err, sizeof err);
    int64_t cum = 0;
    CHECK(flat_of(&p, "a", &cum) == 4 && cum == 4, "recursive cum %" PRId64, cum);
    rd_free(&p);
    /* Frame names may contain spaces; the count is after the last one. */
    const char *sp = "main;operator new(unsigned long) 7\n";
    CHECK(rd_read_collapsed((const uint8_t *)sp, strlen(sp), &lim_default, &p, err, sizeof err) == 0 &&
              strcmp(stack_str(&p, 0), "operator new(unsigned long);main") == 0 && p.samples[0].count == 7,
          "spaces in names: %s", err);
    rd_free(&p);
    CHECK(collapsed_error("main;;work 3\n", "line 1: empty frame name"), "empty middle frame");
    CHECK(collapsed_error("ok 1\n;work 3\n", "line 2: empty frame name"), "empty root frame");
    CHECK(collapsed_error("main; 3\n", "empty frame name"), "empty leaf frame");
    CHECK(collapsed_error("main x3\n", "is not a decimal integer"), "junk count");
    CHECK(collapsed_error("main -3\n", "is not a decimal integer"), "negative count");
    CHECK(collapsed_error("main\n", "expected 'frame;frame;... COUNT'"), "no count");
    CHECK(collapsed_error("main \n", "missing count"), "empty count");
    CHECK(collapsed_error("main 99999999999999999999\n", "count overflows"), "overflow");
    static const char nul[] = "main 1\nwo\0rk 2\n";
    rc = rd_read_collapsed((const uint8_t *)nul, sizeof nul - 1, &lim_default, &p, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "line 2: NUL byte"), "%s", err);
    rd_free(&p);
    rd_limits lim = lim_default;
    lim.max_depth = 2;
    rc = rd_read_collapsed((const uint8_t *)"a;b;c 1\n", 8, &lim, &p, err, sizeof err);
    CHECK(rc != 0 && strstr(err, "deeper than 2"), "%s", err);
    rd_free(&p);
    rc = rd_read_collapsed((const uint8_t *)"", 0, &lim_default, &p, err, sizeof err);
    CHECK(rc == 0 && p.nsamples == 0, "empty collapsed is an empty profile");
    rd_free(&p);
}

/* Random bytes through every reader: no crash, no leak (ASan), and every
 * error names its format. */
static void test_random(void) {
    uint64_t x = 0x9e3779b97f4a7c15ull;
    uint8_t buf[512];
    rd_profile p;
    char err[256];
    int bad_messages = 0;
    pbbuf raw = {0};
    pbb_demo_pprof(&raw, 1);
    for (int iter = 0; iter < 20000; iter++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t n = x % sizeof buf;
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (uint8_t)x;
        }
        /* Half the time start from a valid message and splice random bytes
         * in, so the decoder gets past the first field. */
        if (iter & 1) {
            size_t keep = raw.n < n ? raw.n : n;
            memcpy(buf, raw.d, keep);
            if (keep) buf[x % keep] ^= (uint8_t)(x >> 8);
        }
        for (int r = 0; r < 4; r++) {
            err[0] = '\0';
            int rc = r == 0   ? rd_read_pprof(buf, n, &lim_default, &p, err, sizeof err)
                     : r == 1 ? rd_read_legacy(buf, n, &lim_default, &p, err, sizeof err)
                     : r == 2 ? rd_read_collapsed(buf, n, &lim_default, &p, err, sizeof err)
                              : rd_read_any(buf, n, &lim_default, &p, err, sizeof err);
            if (rc != 0 && err[0] == '\0') bad_messages++;
            if (rc == 0) {
                rd_func_stat *st;
                size_t ns;
                int64_t total;
                if (rd_top(&p, &st, &ns, &total) == 0) free(st);
            }
            rd_free(&p);
        }
    }
    CHECK(bad_messages == 0, "%d errors without a message", bad_messages);
    pbb_free(&raw);
}

static void test_file(void) {
    rd_profile p;
    char err[256];
    CHECK(rd_read_file("/nonexistent/x.pb.gz", &lim_default, &p, err, sizeof err) != 0 && strstr(err, "No such file"), "%s", err);
    rd_free(&p);
    CHECK(rd_read_file("/tmp", &lim_default, &p, err, sizeof err) != 0 && strstr(err, "not a regular file"), "%s", err);
    rd_free(&p);
}

int main(void) {
    test_pprof_valid();
    test_pprof_truncated();
    test_pprof_corrupted();
    test_pprof_hostile();
    test_pprof_limits();
    test_pprof_unsymbolized_names();
    test_gzip_bomb();
    test_legacy();
    test_collapsed();
    test_random();
    test_file();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
