/* core_test.c — unit tests of core/profcore.h: every path, every bad input.
 *
 * Every test drives the core through a harness that keeps an independent
 * model of what the core must hold:
 *   - each add's outcome is checked against the exact change it made to the
 *     statistics (one sample and its weight in exactly one place);
 *   - each record the reader emits must be a stack the test offered, in the
 *     stored form the test computes itself (integrity, I2);
 *   - at the end of every test the harness stops the core, final-drains it,
 *     and checks conservation (I1): offered == recorded + lost + rejected in
 *     samples and weight, the statistics equal the model's, the emitted
 *     weight of every stack equals the weight recorded for it, and the loss
 *     records equal the loss counters.
 *
 * PROFCORE_YIELD_POINT is defined so a test can run an action (a nested add,
 * as a signal would; or a reader call, as another thread would) at the k-th
 * shared-memory access of an operation: the tests walk k over every point.
 * The tests include the implementation, so a few white-box tests poke the
 * core's memory (a count near 2^64) where no API call can reach a state. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"

static void yield_point_hook(void);
#define PROFCORE_YIELD_POINT() yield_point_hook()
#define PROFCORE_IMPLEMENTATION
#include "profcore.h"

/* ---- yield-point injection ------------------------------------------------ */

typedef void (*inject_fn)(void *arg);
static struct {
    unsigned target;  /* fire at this yield point of the window; 0 = off */
    unsigned seen;    /* yield points seen in the current window */
    bool window;      /* an outermost operation under test is running */
    bool inside;      /* the action is running: its own points do not count */
    bool fired;
    inject_fn action;
    void *arg;
} yp;

static void yield_point_hook(void) {
    if (!yp.window || yp.inside || yp.fired) return;
    if (++yp.seen != yp.target) return;
    yp.inside = true;
    yp.action(yp.arg);
    yp.inside = false;
    yp.fired = true;
}

static void yp_arm(unsigned k, inject_fn action, void *arg) {
    yp.target = k;
    yp.seen = 0;
    yp.fired = false;
    yp.action = action;
    yp.arg = arg;
}

static void yp_disarm(void) { yp.target = 0; }

/* Opens the window around one core call, if armed and not already inside. */
static bool yp_open(void) {
    if (yp.target == 0 || yp.inside || yp.window) return false;
    yp.window = true;
    return true;
}
static void yp_close(bool opened) {
    if (opened) yp.window = false;
}

/* ---- the harness and its model ---------------------------------------------- */

#define MAX_KEYS 2048
#define MODEL_MAX_DEPTH 16 /* the tests' configurations stay below this */
#define MAX_CAPTURE 64

/* A stack in the form the core stores it (truncated if need be). */
typedef struct model_key {
    uint64_t tag;
    uint32_t depth;
    uint64_t frames[MODEL_MAX_DEPTH];
    uint64_t expected; /* weight the core said it recorded */
    uint64_t emitted;  /* weight the reader emitted */
} model_key;

typedef struct captured {
    uint64_t tag, weight;
    uint32_t depth;
    uint64_t frames[8];
} captured;

typedef struct harness {
    profcore_config cfg;
    void *mem;
    size_t size;
    profcore *pc;
    model_key *keys;
    size_t nkeys;
    profcore_stats model; /* what the statistics must say */
    uint64_t emitted_loss[PROFCORE_LOSS_REASONS];
    uint64_t handoff_returns;
    uint64_t integrity_errors;
    bool drained;
    captured cap[MAX_CAPTURE];
    size_t ncap;
} harness;

static profcore_config make_cfg(uint32_t shards, uint32_t buckets, uint32_t ways, uint32_t depth,
                                uint32_t log_words) {
    profcore_config c = {shards, buckets, ways, depth, log_words};
    return c;
}

static void h_init(harness *h, profcore_config cfg) {
    memset(h, 0, sizeof *h);
    h->cfg = cfg;
    h->size = profcore_size(&cfg);
    if (h->size == 0 || cfg.max_depth > MODEL_MAX_DEPTH) abort(); /* a test bug */
    h->mem = aligned_alloc(64, (h->size + 63u) & ~(size_t)63u);
    h->keys = calloc(MAX_KEYS, sizeof *h->keys);
    if (h->mem == NULL || h->keys == NULL) abort();
    memset(h->mem, 0xA5, h->size); /* init must clear what it uses */
    CHECK_RC(profcore_init(h->mem, h->size, &cfg, &h->pc), PROFCORE_OK);
}

/* The stored form of a caller's stack: the test's own rule, from the manual. */
static void stored_form(const harness *h, uint64_t tag, const uintptr_t *frames, uint32_t depth,
                        model_key *k) {
    uint32_t md = h->cfg.max_depth;
    k->tag = tag;
    if (depth > md) {
        k->depth = md;
        for (uint32_t i = 0; i + 1 < md; i++) k->frames[i] = frames[i];
        k->frames[md - 1] = PROFCORE_FRAME_TRUNCATED;
    } else {
        k->depth = depth;
        for (uint32_t i = 0; i < depth; i++) k->frames[i] = frames[i];
    }
}

static model_key *find_key(harness *h, uint64_t tag, uint32_t depth, const uint64_t *frames) {
    for (size_t i = 0; i < h->nkeys; i++) {
        model_key *k = &h->keys[i];
        if (k->tag == tag && k->depth == depth &&
            memcmp(k->frames, frames, depth * sizeof(uint64_t)) == 0)
            return k;
    }
    return NULL;
}

static model_key *intern_key(harness *h, uint64_t tag, const uintptr_t *frames, uint32_t depth) {
    static model_key probe;
    stored_form(h, tag, frames, depth, &probe);
    model_key *k = find_key(h, probe.tag, probe.depth, probe.frames);
    if (k != NULL) return k;
    if (h->nkeys == MAX_KEYS) abort();
    k = &h->keys[h->nkeys++];
    *k = probe;
    k->expected = k->emitted = 0;
    return k;
}

static bool is_loss_frame(uint64_t f) {
    return f >= PROFCORE_FRAME_LOST(0) && f < PROFCORE_FRAME_LOST(PROFCORE_LOSS_REASONS);
}

/* The emit callback: checks integrity and feeds the model. */
static void h_emit(void *ctx, const profcore_record *rec) {
    harness *h = ctx;
    if (h->ncap < MAX_CAPTURE) {
        captured *c = &h->cap[h->ncap++];
        c->tag = rec->tag;
        c->weight = rec->weight;
        c->depth = rec->depth;
        for (uint32_t i = 0; i < rec->depth && i < 8; i++) c->frames[i] = rec->frames[i];
    }
    if (rec->depth == 1 && is_loss_frame(rec->frames[0])) {
        CHECK_EQ(rec->tag, 0);
        CHECK(rec->weight > 0);
        h->emitted_loss[rec->frames[0] - PROFCORE_FRAME_LOST(0)] += rec->weight;
        return;
    }
    bool sane = rec->depth >= 1 && rec->depth <= h->cfg.max_depth && rec->weight > 0;
    for (uint32_t i = 0; sane && i < rec->depth; i++) {
        bool marker = i + 1 == rec->depth && rec->frames[i] == PROFCORE_FRAME_TRUNCATED;
        if (rec->frames[i] < PROFCORE_FRAME_RESERVED_END && !marker) sane = false;
    }
    model_key *k = sane ? find_key(h, rec->tag, rec->depth, rec->frames) : NULL;
    if (k == NULL) {
        h->integrity_errors++;
        check_report(__FILE__, __LINE__, "emitted a record that was never offered (I2)");
        return;
    }
    k->emitted += rec->weight;
}

/* Statistics difference after - before, field by field (mod 2^64). */
static profcore_stats stats_sub(profcore_stats a, profcore_stats b) {
    profcore_stats d;
    uint64_t *pd = (uint64_t *)&d;
    const uint64_t *pa = (const uint64_t *)&a, *pb = (const uint64_t *)&b;
    for (size_t i = 0; i < sizeof d / sizeof(uint64_t); i++) pd[i] = pa[i] - pb[i];
    return d;
}
static void stats_accumulate(profcore_stats *acc, profcore_stats d) {
    uint64_t *pa = (uint64_t *)acc;
    const uint64_t *pd = (const uint64_t *)&d;
    for (size_t i = 0; i < sizeof d / sizeof(uint64_t); i++) pa[i] += pd[i];
}

static profcore_stats h_stats(const harness *h) {
    profcore_stats s;
    memset(&s, 0, sizeof s);
    CHECK_RC(profcore_stats_read(h->pc, &s), PROFCORE_OK);
    return s;
}

typedef struct add_result {
    int outcome;
    int reason; /* loss reason when outcome == LOST, else -1 */
} add_result;

enum add_kind { ADD_HANDOFF, ADD_NOHANDOFF, ADD_LOSS };

/* Nested adds (from an injected action) change the statistics while an
 * outer add runs; each level subtracts what its nested adds accounted for. */
#define MAX_NEST 8
static int nest_level;
static profcore_stats nested_delta[MAX_NEST];

/* Runs one add and checks that its outcome matches the one place its sample
 * went, then records that in the model. */
static add_result h_call(harness *h, enum add_kind kind, uint64_t tag, const uintptr_t *frames,
                         uint32_t depth, uint32_t weight, uint32_t hint) {
    add_result r = {0, -1};
    int lvl = nest_level++;
    if (lvl >= MAX_NEST) abort();
    memset(&nested_delta[lvl], 0, sizeof nested_delta[lvl]);
    model_key *key = NULL;
    if (kind != ADD_LOSS && frames != NULL && depth > 0) key = intern_key(h, tag, frames, depth);
    profcore_stats before = h_stats(h);
    bool opened = yp_open();
    if (kind == ADD_HANDOFF)
        r.outcome = profcore_add(h->pc, tag, frames, depth, weight, hint);
    else if (kind == ADD_NOHANDOFF)
        r.outcome = profcore_add_nohandoff(h->pc, tag, frames, depth, weight, hint);
    else
        r.outcome = profcore_add_loss(h->pc, (uint32_t)tag, weight);
    yp_close(opened);
    profcore_stats after = h_stats(h);
    nest_level--;
    profcore_stats total = stats_sub(after, before);
    if (lvl > 0) stats_accumulate(&nested_delta[lvl - 1], total);
    profcore_stats d = stats_sub(total, nested_delta[lvl]);

    CHECK_EQ(d.offered_samples, 1);
    CHECK_EQ(d.offered_weight, weight);
    uint64_t places = 0;
    if (d.recorded_samples) places++;
    if (d.rejected_samples) places++;
    for (int i = 0; i < (int)PROFCORE_LOSS_REASONS; i++)
        if (d.lost_samples[i]) {
            places++;
            r.reason = i;
            CHECK_EQ(d.lost_weight[i], weight);
        }
    CHECK_EQ(places, 1);
    switch (r.outcome) {
    case PROFCORE_RECORDED:
    case PROFCORE_RECORDED_HANDOFF:
        CHECK(kind != ADD_LOSS);
        CHECK_EQ(d.recorded_samples, 1);
        CHECK_EQ(d.recorded_weight, weight);
        CHECK_EQ(d.handoffs, r.outcome == PROFCORE_RECORDED_HANDOFF ? 1 : 0);
        CHECK_EQ(d.truncated, depth > h->cfg.max_depth ? 1 : 0);
        if (r.outcome == PROFCORE_RECORDED_HANDOFF) h->handoff_returns++;
        CHECK(kind != ADD_NOHANDOFF || r.outcome == PROFCORE_RECORDED);
        if (key != NULL) key->expected += weight;
        h->model.recorded_samples++;
        h->model.recorded_weight += weight;
        break;
    case PROFCORE_LOST:
        CHECK(r.reason >= 0);
        CHECK_EQ(d.recorded_samples + d.recorded_weight + d.handoffs, 0);
        if (r.reason >= 0) {
            h->model.lost_samples[r.reason]++;
            h->model.lost_weight[r.reason] += weight;
        }
        break;
    case PROFCORE_REJECTED:
        CHECK_EQ(d.rejected_samples, 1);
        CHECK_EQ(d.rejected_weight, weight);
        h->model.rejected_samples++;
        h->model.rejected_weight += weight;
        break;
    default:
        check_report(__FILE__, __LINE__, "add returned an unknown outcome");
    }
    h->model.offered_samples++;
    h->model.offered_weight += weight;
    return r;
}

static add_result h_add(harness *h, uint64_t tag, const uintptr_t *frames, uint32_t depth,
                        uint32_t weight, uint32_t hint) {
    return h_call(h, ADD_HANDOFF, tag, frames, depth, weight, hint);
}
static add_result h_add_nh(harness *h, uint64_t tag, const uintptr_t *frames, uint32_t depth,
                           uint32_t weight, uint32_t hint) {
    return h_call(h, ADD_NOHANDOFF, tag, frames, depth, weight, hint);
}
static add_result h_loss(harness *h, uint32_t reason, uint32_t weight) {
    return h_call(h, ADD_LOSS, reason, NULL, 0, weight, 0);
}

static int h_drain(harness *h) {
    bool opened = yp_open();
    int rc = profcore_drain(h->pc, h_emit, h);
    yp_close(opened);
    return rc;
}
static int h_collect(harness *h, uint32_t *busy) {
    bool opened = yp_open();
    int rc = profcore_collect(h->pc, h_emit, h, busy);
    yp_close(opened);
    return rc;
}
static int h_stop(harness *h) {
    bool opened = yp_open();
    int rc = profcore_stop(h->pc);
    yp_close(opened);
    return rc;
}
static int h_final(harness *h) {
    bool opened = yp_open();
    int rc = profcore_final_drain(h->pc, h_emit, h);
    yp_close(opened);
    if (rc == PROFCORE_OK) h->drained = true;
    return rc;
}

/* Conservation and integrity, then frees the harness.  Run at the end of
 * every test.  Nothing is in flight here (single thread), so stop and the
 * final drain must succeed at once. */
static void h_finish(harness *h) {
    yp_disarm();
    if (!h->drained) {
        CHECK_RC(profcore_stop(h->pc), PROFCORE_OK);
        CHECK_RC(profcore_final_drain(h->pc, h_emit, h), PROFCORE_OK);
    }
    CHECK_RC(profcore_final_drain(h->pc, h_emit, h), PROFCORE_E_STATE);
    profcore_stats s = h_stats(h);
    uint64_t lost_s = 0, lost_w = 0;
    for (int i = 0; i < (int)PROFCORE_LOSS_REASONS; i++) {
        lost_s += s.lost_samples[i];
        lost_w += s.lost_weight[i];
        CHECK_EQ(s.lost_samples[i], h->model.lost_samples[i]);
        CHECK_EQ(s.lost_weight[i], h->model.lost_weight[i]);
        CHECK_EQ(h->emitted_loss[i], s.lost_weight[i]); /* loss records = loss counters */
    }
    CHECK_EQ(s.offered_samples, s.recorded_samples + lost_s + s.rejected_samples);
    CHECK_EQ(s.offered_weight, s.recorded_weight + lost_w + s.rejected_weight);
    CHECK_EQ(s.offered_samples, h->model.offered_samples);
    CHECK_EQ(s.offered_weight, h->model.offered_weight);
    CHECK_EQ(s.recorded_samples, h->model.recorded_samples);
    CHECK_EQ(s.recorded_weight, h->model.recorded_weight);
    CHECK_EQ(s.rejected_samples, h->model.rejected_samples);
    CHECK_EQ(s.rejected_weight, h->model.rejected_weight);
    CHECK_EQ(s.handoffs, h->handoff_returns);
    uint64_t emitted = 0;
    for (size_t i = 0; i < h->nkeys; i++) {
        model_key *k = &h->keys[i];
        if (k->emitted != k->expected) {
            char msg[160];
            snprintf(msg, sizeof msg, "stack #%zu (tag %" PRIu64 ", depth %u): emitted %" PRIu64
                     " != recorded %" PRIu64, i, k->tag, k->depth, k->emitted, k->expected);
            check_report(__FILE__, __LINE__, msg);
        }
        emitted += k->emitted;
    }
    CHECK_EQ(emitted, s.recorded_weight);
    CHECK_EQ(h->integrity_errors, 0);
    free(h->mem);
    free(h->keys);
    h->mem = NULL;
}

/* Stacks used by the tests: frames >= PROFCORE_FRAME_RESERVED_END. */
static const uintptr_t A[] = {0x1000, 0x1001, 0x1002, 0x1003, 0x1004, 0x1005, 0x1006, 0x1007};
static const uintptr_t B[] = {0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007};
static const uintptr_t C[] = {0x3000, 0x3001, 0x3002, 0x3003, 0x3004, 0x3005, 0x3006, 0x3007};
static const uintptr_t D[] = {0x4000, 0x4001, 0x4002, 0x4003, 0x4004, 0x4005, 0x4006, 0x4007};

/* One record per log half: one shard, one bucket, one way, depth 2, 5 words. */
static profcore_config tiny_cfg(void) { return make_cfg(1, 1, 1, 2, 5); }

/* ---- configuration and init ---------------------------------------------------- */

static bool all_bytes(const unsigned char *p, size_t n, unsigned char v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return false;
    return true;
}

/* init on a refused config/memory must return `want` and write nothing. */
static void expect_init_refused(profcore_config cfg, size_t offset, size_t size, int want) {
    size_t cap = 1u << 16;
    unsigned char *buf = aligned_alloc(64, cap);
    if (buf == NULL) abort();
    memset(buf, 0x5A, cap);
    profcore *out = (profcore *)(uintptr_t)0x1234;
    CHECK_RC(profcore_init(buf + offset, size, &cfg, &out), want);
    CHECK(out == (profcore *)(uintptr_t)0x1234);
    CHECK(all_bytes(buf, cap, 0x5A));
    free(buf);
}

static void test_config_errors_are_distinct(void) {
    const int codes[] = {PROFCORE_E_NULL,   PROFCORE_E_ALIGN,   PROFCORE_E_SIZE,  PROFCORE_E_SHARDS,
                         PROFCORE_E_BUCKETS, PROFCORE_E_WAYS,   PROFCORE_E_DEPTH, PROFCORE_E_LOG,
                         PROFCORE_E_STATE,   PROFCORE_E_NOT_INIT, PROFCORE_E_READER_BUSY};
    size_t n = sizeof codes / sizeof codes[0];
    for (size_t i = 0; i < n; i++) {
        CHECK(codes[i] < 0);
        for (size_t j = i + 1; j < n; j++) CHECK(codes[i] != codes[j]);
    }
}

/* Every loss reason has its own non-empty name, and a value out of range
 * gets "unknown" (never NULL), so a profile can always print a reason. */
static void test_loss_names(void) {
    static const char *const want[PROFCORE_LOSS_REASONS] = {
        "contended", "log full", "no-handoff full", "invalid", "critical section", "unwind failed",
        "other"};
    for (uint32_t r = 0; r < PROFCORE_LOSS_REASONS; r++) {
        const char *name = profcore_loss_name(r);
        REQUIRE(name != NULL);
        CHECK(strcmp(name, want[r]) == 0);
        CHECK(strcmp(name, "unknown") != 0);
        for (uint32_t q = 0; q < r; q++) CHECK(strcmp(name, profcore_loss_name(q)) != 0);
    }
    const uint32_t out_of_range[] = {PROFCORE_LOSS_REASONS, 100u, UINT32_MAX};
    for (size_t i = 0; i < sizeof out_of_range / sizeof out_of_range[0]; i++) {
        const char *name = profcore_loss_name(out_of_range[i]);
        REQUIRE(name != NULL);
        CHECK(strcmp(name, "unknown") == 0);
    }
}

/* The version macros agree with each other. */
static void test_version(void) {
    char v[32];
    snprintf(v, sizeof v, "%d.%d.%d", PROFCORE_VERSION_MAJOR, PROFCORE_VERSION_MINOR,
             PROFCORE_VERSION_PATCH);
    CHECK(strcmp(v, PROFCORE_VERSION) == 0);
    CHECK_EQ(PROFCORE_VERSION_NUMBER, PROFCORE_VERSION_MAJOR * 10000 + PROFCORE_VERSION_MINOR * 100 +
                                          PROFCORE_VERSION_PATCH);
}

static void test_invalid_config_refused_untouched(void) {
    struct {
        profcore_config cfg;
        int want;
    } bad[] = {
        {{0, 4, 2, 4, 64}, PROFCORE_E_SHARDS},
        {{3, 4, 2, 4, 64}, PROFCORE_E_SHARDS},
        {{512, 4, 2, 4, 64}, PROFCORE_E_SHARDS},
        {{1, 0, 2, 4, 64}, PROFCORE_E_BUCKETS},
        {{1, 6, 2, 4, 64}, PROFCORE_E_BUCKETS},
        {{1, 1u << 21, 2, 4, 64}, PROFCORE_E_BUCKETS},
        {{1, 4, 0, 4, 64}, PROFCORE_E_WAYS},
        {{1, 4, 65, 4, 64}, PROFCORE_E_WAYS},
        {{1, 4, 2, 0, 64}, PROFCORE_E_DEPTH},
        {{1, 4, 2, 1, 64}, PROFCORE_E_DEPTH},
        {{1, 4, 2, 1025, 2000}, PROFCORE_E_DEPTH},
        {{1, 4, 2, 4, 0}, PROFCORE_E_LOG},
        {{1, 4, 2, 4, 6}, PROFCORE_E_LOG}, /* one word short of a full record */
        {{1, 4, 2, 4, (1u << 28) + 1}, PROFCORE_E_LOG},
        {{0xffffffffu, 0xffffffffu, 0, 0, 0}, PROFCORE_E_SHARDS},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_RC(profcore_check_config(&bad[i].cfg), bad[i].want);
        CHECK_EQ(profcore_size(&bad[i].cfg), 0);
        expect_init_refused(bad[i].cfg, 0, 1u << 16, bad[i].want);
    }
    /* The boundaries themselves are accepted. */
    profcore_config edge[] = {{256, 1, 1, 2, 5},        {1, 1u << 20, 1, 2, 5}, {1, 1, 64, 2, 5},
                              {1, 1, 1, 1024, 1027},    {1, 1, 1, 2, 1u << 28}, {1, 1, 1, 2, 5}};
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        CHECK_RC(profcore_check_config(&edge[i]), PROFCORE_OK);
        CHECK(profcore_size(&edge[i]) > 0);
    }
    CHECK_RC(profcore_check_config(NULL), PROFCORE_E_NULL);
    CHECK_EQ(profcore_size(NULL), 0);
}

static void test_bad_memory_refused_untouched(void) {
    profcore_config cfg = make_cfg(2, 4, 2, 4, 64);
    size_t need = profcore_size(&cfg);
    REQUIRE(need > 0 && need + 64 <= (1u << 16));
    expect_init_refused(cfg, 4, need + 8, PROFCORE_E_ALIGN);
    expect_init_refused(cfg, 1, need + 8, PROFCORE_E_ALIGN);
    expect_init_refused(cfg, 0, need - 1, PROFCORE_E_SIZE);
    expect_init_refused(cfg, 0, need - 8, PROFCORE_E_SIZE);
    expect_init_refused(cfg, 0, 0, PROFCORE_E_SIZE);
    /* NULL pointers. */
    unsigned char *buf = aligned_alloc(64, need + 64);
    REQUIRE(buf != NULL);
    memset(buf, 0x5A, need + 64);
    profcore *pc = NULL;
    CHECK_RC(profcore_init(NULL, need, &cfg, &pc), PROFCORE_E_NULL);
    CHECK_RC(profcore_init(buf, need, NULL, &pc), PROFCORE_E_NULL);
    CHECK_RC(profcore_init(buf, need, &cfg, NULL), PROFCORE_E_NULL);
    CHECK(pc == NULL);
    CHECK(all_bytes(buf, need + 64, 0x5A));
    /* 8-byte alignment is enough; exact size is enough; bytes past it untouched. */
    CHECK_RC(profcore_init(buf + 8, need, &cfg, &pc), PROFCORE_OK);
    CHECK(pc == (profcore *)(void *)(buf + 8));
    CHECK(all_bytes(buf, 8, 0x5A));
    CHECK(all_bytes(buf + 8 + need, 56, 0x5A));
    CHECK(profcore_add(pc, 7, A, 3, 1, 0) == PROFCORE_RECORDED);
    free(buf);
}

static void noop_emit(void *ctx, const profcore_record *rec) {
    (void)ctx;
    (void)rec;
}

static void test_bad_handle(void) {
    uint64_t zero[64] = {0};
    profcore *fake = (profcore *)(void *)zero;
    profcore_stats st;
    uint32_t busy;
    CHECK_RC(profcore_add(NULL, 1, A, 2, 1, 0), PROFCORE_E_NULL);
    CHECK_RC(profcore_add_nohandoff(NULL, 1, A, 2, 1, 0), PROFCORE_E_NULL);
    CHECK_RC(profcore_add_loss(NULL, PROFCORE_LOSS_UNWIND, 1), PROFCORE_E_NULL);
    CHECK_RC(profcore_stats_read(NULL, &st), PROFCORE_E_NULL);
    CHECK_RC(profcore_drain(NULL, noop_emit, NULL), PROFCORE_E_NULL);
    CHECK_RC(profcore_collect(NULL, noop_emit, NULL, &busy), PROFCORE_E_NULL);
    CHECK_RC(profcore_stop(NULL), PROFCORE_E_NULL);
    CHECK_RC(profcore_final_drain(NULL, noop_emit, NULL), PROFCORE_E_NULL);
    CHECK_RC(profcore_add(fake, 1, A, 2, 1, 0), PROFCORE_E_NOT_INIT);
    CHECK_RC(profcore_add_nohandoff(fake, 1, A, 2, 1, 0), PROFCORE_E_NOT_INIT);
    CHECK_RC(profcore_add_loss(fake, PROFCORE_LOSS_UNWIND, 1), PROFCORE_E_NOT_INIT);
    CHECK_RC(profcore_stats_read(fake, &st), PROFCORE_E_NOT_INIT);
    CHECK_RC(profcore_drain(fake, noop_emit, NULL), PROFCORE_E_NOT_INIT);
    CHECK_RC(profcore_collect(fake, noop_emit, NULL, &busy), PROFCORE_E_NOT_INIT);
    CHECK_RC(profcore_stop(fake), PROFCORE_E_NOT_INIT);
    CHECK_RC(profcore_final_drain(fake, noop_emit, NULL), PROFCORE_E_NOT_INIT);
    for (size_t i = 0; i < 64; i++) CHECK_EQ(zero[i], 0); /* nothing written */

    harness h;
    h_init(&h, make_cfg(2, 4, 2, 4, 64));
    CHECK_RC(profcore_stats_read(h.pc, NULL), PROFCORE_E_NULL);
    CHECK_RC(profcore_drain(h.pc, NULL, NULL), PROFCORE_E_NULL);
    CHECK_RC(profcore_collect(h.pc, NULL, NULL, &busy), PROFCORE_E_NULL);
    CHECK_RC(profcore_final_drain(h.pc, NULL, NULL), PROFCORE_E_NULL);
    CHECK_RC(profcore_collect(h.pc, h_emit, &h, NULL), PROFCORE_OK); /* busy out is optional */
    h_finish(&h);
}

/* ---- invalid samples ----------------------------------------------------------- */

static void expect_invalid(add_result r) {
    CHECK_RC(r.outcome, PROFCORE_LOST);
    CHECK_RC(r.reason, PROFCORE_LOSS_INVALID);
}

static void test_invalid_samples_counted(void) {
    harness h;
    h_init(&h, make_cfg(2, 4, 2, 4, 64));
    uintptr_t f[4] = {0x1000, 0x1001, 0x1002, 0x1003};
    for (int nh = 0; nh < 2; nh++) {
        enum add_kind kind = nh ? ADD_NOHANDOFF : ADD_HANDOFF;
        expect_invalid(h_call(&h, kind, 1, f, 0, 5, 0));    /* depth 0 */
        expect_invalid(h_call(&h, kind, 1, NULL, 3, 5, 0)); /* NULL frames */
        expect_invalid(h_call(&h, kind, 1, NULL, 0, 5, 0));
        expect_invalid(h_call(&h, kind, 1, f, 3, 0, 0)); /* weight 0: 1 sample, weight 0 */
        const uintptr_t reserved[] = {0, PROFCORE_FRAME_TRUNCATED, PROFCORE_FRAME_LOST(0),
                                      PROFCORE_FRAME_LOST(6), PROFCORE_FRAME_RESERVED_END - 1};
        for (size_t v = 0; v < sizeof reserved / sizeof reserved[0]; v++)
            for (uint32_t pos = 0; pos < 4; pos++) {
                uintptr_t g[4] = {0x1000, 0x1001, 0x1002, 0x1003};
                g[pos] = reserved[v];
                expect_invalid(h_call(&h, kind, 9, g, 4, 3, pos));
            }
    }
    /* The first value that is not reserved is a frame like any other. */
    uintptr_t edge[2] = {PROFCORE_FRAME_RESERVED_END, 0x1000};
    CHECK_RC(h_add(&h, 1, edge, 2, 1, 0).outcome, PROFCORE_RECORDED);
    /* add_loss: only the caller's reasons are accepted, weight 0 is invalid. */
    CHECK_RC(h_loss(&h, PROFCORE_LOSS_CRITICAL, 2).reason, PROFCORE_LOSS_CRITICAL);
    CHECK_RC(h_loss(&h, PROFCORE_LOSS_UNWIND, 3).reason, PROFCORE_LOSS_UNWIND);
    CHECK_RC(h_loss(&h, PROFCORE_LOSS_OTHER, 4).reason, PROFCORE_LOSS_OTHER);
    const uint32_t core_reasons[] = {PROFCORE_LOSS_CONTENDED, PROFCORE_LOSS_LOG_FULL,
                                     PROFCORE_LOSS_NOHANDOFF_FULL, PROFCORE_LOSS_INVALID,
                                     PROFCORE_LOSS_REASONS, 1000, UINT32_MAX};
    for (size_t i = 0; i < sizeof core_reasons / sizeof core_reasons[0]; i++)
        expect_invalid(h_loss(&h, core_reasons[i], 6));
    expect_invalid(h_loss(&h, PROFCORE_LOSS_UNWIND, 0));
    profcore_stats s = h_stats(&h);
    CHECK_EQ(s.lost_samples[PROFCORE_LOSS_INVALID], 2 * (4 + 5 * 4) + 7 + 1);
    CHECK_EQ(s.lost_weight[PROFCORE_LOSS_INVALID], 2 * (3 * 5 + 5 * 4 * 3) + 7 * 6);
    CHECK_EQ(s.recorded_samples, 1);
    h_finish(&h);
}

/* The core checks reserved values eight frames a step, then one at a time
 * for the rest: a reserved value at every position of stacks of every
 * depth up to 16 (two full steps, and every tail length from 9 on) is INVALID and
 * stores nothing; with none, the same stacks are recorded. */
static void test_reserved_frame_every_position(void) {
    harness h;
    h_init(&h, make_cfg(1, 64, 4, 16, 256));
    uint64_t invalid = 0;
    for (uint32_t depth = 1; depth <= 16; depth++)
        for (uint32_t pos = 0; pos < depth; pos++) {
            uintptr_t g[16];
            for (uint32_t k = 0; k < depth; k++) g[k] = 0x5000 + 16 * k + depth;
            g[pos] = PROFCORE_FRAME_RESERVED_END - 1 - (pos % 3);
            expect_invalid(h_add(&h, 2, g, depth, 1, 0));
            invalid++;
        }
    profcore_stats s = h_stats(&h);
    CHECK_EQ(s.lost_samples[PROFCORE_LOSS_INVALID], invalid);
    CHECK_EQ(s.recorded_samples, 0);
    for (uint32_t depth = 1; depth <= 16; depth++) {
        uintptr_t g[16];
        for (uint32_t k = 0; k < depth; k++) g[k] = 0x5000 + 16 * k + depth;
        CHECK_RC(h_add(&h, 2, g, depth, 1, 0).outcome, PROFCORE_RECORDED);
    }
    h.ncap = 0;
    CHECK_RC(h_collect(&h, NULL), PROFCORE_OK);
    CHECK_EQ(h.ncap, 16 + 1); /* the stacks, and the INVALID loss record */
    h_finish(&h);
}

/* The reserved-frame check runs on a miss only, before anything is stored:
 * a stack equal to a stored one but for one reserved frame does not hit it
 * (the entry's count stays), and in a full bucket it evicts nothing. */
static void test_reserved_frame_checked_on_miss(void) {
    harness h;
    h_init(&h, make_cfg(1, 1, 1, 16, 64));
    for (uint32_t depth = 1; depth <= 16; depth++)
        for (uint32_t pos = 0; pos < depth; pos++) {
            uintptr_t g[16];
            for (uint32_t k = 0; k < depth; k++) g[k] = 0x6000 + 16 * k;
            CHECK_RC(h_add(&h, 4, g, depth, 1, 0).outcome, PROFCORE_RECORDED); /* fills the one way */
            uint64_t evictions = h_stats(&h).evictions;
            g[pos] = PROFCORE_FRAME_RESERVED_END - 1;
            expect_invalid(h_add(&h, 4, g, depth, 5, 0));
            CHECK_EQ(h_stats(&h).evictions, evictions); /* the stored stack stayed */
            g[pos] = 0x6000 + 16 * pos;
            CHECK_RC(h_add(&h, 4, g, depth, 2, 0).outcome, PROFCORE_RECORDED); /* still a hit */
            CHECK_EQ(h_stats(&h).evictions, evictions);
            h.ncap = 0;
            CHECK_RC(h_collect(&h, NULL), PROFCORE_OK);
            bool found = false;
            for (size_t i = 0; i < h.ncap; i++)
                if (h.cap[i].depth == depth && h.cap[i].frames[0] == 0x6000) {
                    CHECK_EQ(h.cap[i].weight, 3); /* 1 + 2: the INVALID add's 5 is not in it */
                    found = true;
                }
            CHECK(found);
        }
    h_finish(&h);
}

/* The hash spreads a realistic stack set evenly over the buckets: stacks
 * of a synthetic call tree (return addresses a few bytes into functions
 * 0x40-0x400 bytes apart, every stack from the same few outer frames,
 * depths 2 to 64), plus stacks that differ in one deep frame only, or only
 * in their order.  For each bucket count the per-bucket counts must pass
 * a chi-square bound far above a uniform hash's (expected B - 1, standard
 * deviation sqrt(2B)) and no bucket may hold more than three times its
 * share; a hash that ignored the frames past the eighth, or took the
 * bucket from low address bits alone, fails both. */
static void test_hash_spreads_over_buckets(void) {
    enum { N = 4096, MAXD = 64 };
    /* A handle of its own: the harness's model stops at MODEL_MAX_DEPTH. */
    profcore_config cfg = make_cfg(1, 4, 1, MAXD, 256);
    size_t size = profcore_size(&cfg);
    void *mem = aligned_alloc(64, (size + 63u) & ~(size_t)63u);
    profcore *pc = NULL;
    REQUIRE(mem != NULL);
    CHECK_RC(profcore_init(mem, size, &cfg, &pc), PROFCORE_OK);
    static uintptr_t stacks[N][MAXD];
    static uint32_t depths[N];
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (uint32_t n = 0; n < N; n++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        uint32_t d = 2 + (uint32_t)(x % (MAXD - 1));
        depths[n] = d;
        for (uint32_t k = 0; k < d; k++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            uint32_t outer = d - 1 - k; /* 0 = the outermost frame */
            uintptr_t fn = outer < 4 ? outer : 4 + (uintptr_t)(x % 600);
            stacks[n][k] = 0x401000 + fn * 0x140 + 5 + 8 * (uintptr_t)((x >> 20) % 6);
        }
        if (n % 4 == 1) { /* a sibling of the stack before: one deep frame differs */
            depths[n] = depths[n - 1];
            for (uint32_t k = 0; k < depths[n]; k++) stacks[n][k] = stacks[n - 1][k];
            stacks[n][depths[n] * 3 / 4] += 0x140 * (1 + n % 7);
        } else if (n % 4 == 2 && depths[n - 2] >= 3) { /* the stack two before, two frames swapped */
            depths[n] = depths[n - 2];
            for (uint32_t k = 0; k < depths[n]; k++) stacks[n][k] = stacks[n - 2][k];
            uint32_t a = (uint32_t)(x % (depths[n] - 1));
            uintptr_t t = stacks[n][a];
            stacks[n][a] = stacks[n][a + 1];
            stacks[n][a + 1] = t;
        }
    }
    const uint32_t buckets[] = {64, 256, 1024};
    /* (B - 1) + 8 sqrt(2B): eight standard deviations above a uniform
     * hash's mean chi-square. */
    const double bound[] = {153.5, 436.0, 1385.0};
    for (size_t b = 0; b < sizeof buckets / sizeof buckets[0]; b++) {
        static uint32_t count[1024];
        uint32_t B = buckets[b];
        for (uint32_t i = 0; i < B; i++) count[i] = 0;
        static uint32_t bucket_of[N];
        uint32_t twins = 0, pairs = 0; /* a sibling or a swap in its original's bucket */
        for (uint32_t n = 0; n < N; n++) {
            pc_stack st = pc_stack_make(pc, 0, stacks[n], depths[n]);
            bucket_of[n] = st.hash & (B - 1);
            count[bucket_of[n]]++;
            if (n % 4 == 1 || (n % 4 == 2 && depths[n - 2] >= 3)) {
                pairs++;
                twins += bucket_of[n] == bucket_of[n - n % 4];
            }
        }
        /* Each pair shares a bucket with chance 1/B under a uniform hash. */
        CHECK(twins <= 3 * pairs / B + 3);
        double expect = (double)N / B, chi2 = 0;
        uint32_t most = 0;
        for (uint32_t i = 0; i < B; i++) {
            double dlt = count[i] - expect;
            chi2 += dlt * dlt / expect;
            if (count[i] > most) most = count[i];
        }
        if (getenv("CORE_TEST_HASH_VERBOSE"))
            fprintf(stderr, "buckets %u: chi2 %.1f (bound %.1f), fullest %u (mean %.1f), %u of %u pairs in one bucket\n",
                    B, chi2, bound[b], most, expect, twins, pairs);
        CHECK(chi2 < bound[b]);
        CHECK(most <= 3 * expect + 3);
    }
    free(mem);
}

/* The reader emits each loss reason's new weight once, as a one-frame record. */
static void test_loss_records_emitted_once(void) {
    harness h;
    h_init(&h, make_cfg(1, 4, 2, 4, 64));
    h_add(&h, 1, A, 0, 7, 0); /* invalid, weight 7 */
    h_loss(&h, PROFCORE_LOSS_UNWIND, 3);
    h_loss(&h, PROFCORE_LOSS_UNWIND, 2);
    h_add(&h, 1, A, 2, 0, 0); /* invalid, weight 0: nothing to emit */
    h.ncap = 0;
    CHECK_RC(h_drain(&h), PROFCORE_OK);
    REQUIRE(h.ncap == 2);
    CHECK_EQ(h.cap[0].depth, 1);
    CHECK_EQ(h.cap[0].frames[0], PROFCORE_FRAME_LOST(PROFCORE_LOSS_INVALID));
    CHECK_EQ(h.cap[0].weight, 7);
    CHECK_EQ(h.cap[0].tag, 0);
    CHECK_EQ(h.cap[1].frames[0], PROFCORE_FRAME_LOST(PROFCORE_LOSS_UNWIND));
    CHECK_EQ(h.cap[1].weight, 5);
    h.ncap = 0;
    CHECK_RC(h_drain(&h), PROFCORE_OK);
    CHECK_EQ(h.ncap, 0); /* already reported */
    h_loss(&h, PROFCORE_LOSS_OTHER, 4);
    CHECK_RC(h_collect(&h, NULL), PROFCORE_OK);
    REQUIRE(h.ncap == 1);
    CHECK_EQ(h.cap[0].frames[0], PROFCORE_FRAME_LOST(PROFCORE_LOSS_OTHER));
    CHECK_EQ(h.cap[0].weight, 4);
    h_finish(&h);
}

/* ---- table ---------------------------------------------------------------------- */

static void test_hits_merge_and_collect_flushes(void) {
    harness h;
    h_init(&h, make_cfg(2, 1, 4, 8, 64));
    for (uint32_t i = 1; i <= 10; i++) CHECK_RC(h_add(&h, 5, A, 4, i, 0).outcome, PROFCORE_RECORDED);
    CHECK_RC(h_add(&h, 6, A, 4, 1, 0).outcome, PROFCORE_RECORDED); /* other tag */
    CHECK_RC(h_add(&h, 5, A, 3, 1, 0).outcome, PROFCORE_RECORDED); /* prefix */
    profcore_stats s = h_stats(&h);
    CHECK_EQ(s.evictions, 0);
    h.ncap = 0;
    uint32_t busy = 99;
    CHECK_RC(h_collect(&h, &busy), PROFCORE_OK);
    CHECK_EQ(busy, 0);
    CHECK_EQ(h.ncap, 3); /* one record per distinct stack: hits merged */
    for (size_t i = 0; i < h.ncap; i++)
        if (h.cap[i].tag == 5 && h.cap[i].depth == 4) CHECK_EQ(h.cap[i].weight, 55);
    h.ncap = 0;
    CHECK_RC(h_collect(&h, &busy), PROFCORE_OK);
    CHECK_EQ(h.ncap, 0); /* the flush emptied the tables */
    CHECK_RC(h_add(&h, 5, A, 4, 2, 0).outcome, PROFCORE_RECORDED);
    h_finish(&h);
}

static void test_truncation_marker(void) {
    harness h;
    h_init(&h, make_cfg(1, 4, 4, 4, 64));
    uintptr_t deep[100];
    for (int i = 0; i < 100; i++) deep[i] = 0x9000 + (uintptr_t)i;
    CHECK_RC(h_add(&h, 1, deep, 5, 1, 0).outcome, PROFCORE_RECORDED);
    CHECK_RC(h_add(&h, 1, deep, 100, 2, 0).outcome, PROFCORE_RECORDED);
    CHECK_RC(h_add(&h, 1, deep, 4, 4, 0).outcome, PROFCORE_RECORDED); /* exactly max: kept whole */
    profcore_stats s = h_stats(&h);
    CHECK_EQ(s.truncated, 2);
    h.ncap = 0;
    CHECK_RC(h_collect(&h, NULL), PROFCORE_OK);
    REQUIRE(h.ncap == 2); /* both deep stacks store as the same truncated stack */
    int seen_truncated = 0;
    for (size_t i = 0; i < h.ncap; i++) {
        CHECK_EQ(h.cap[i].depth, 4);
        CHECK_EQ(h.cap[i].frames[0], 0x9000);
        CHECK_EQ(h.cap[i].frames[2], 0x9002);
        if (h.cap[i].frames[3] == PROFCORE_FRAME_TRUNCATED) {
            seen_truncated++;
            CHECK_EQ(h.cap[i].weight, 3);
        } else {
            CHECK_EQ(h.cap[i].frames[3], 0x9003);
            CHECK_EQ(h.cap[i].weight, 4);
        }
    }
    CHECK_EQ(seen_truncated, 1);
    /* Evicted truncated stacks keep the marker in the log record too. */
    profcore_config cfg = make_cfg(1, 1, 1, 3, 6);
    harness g;
    h_init(&g, cfg);
    CHECK_RC(h_add(&g, 2, deep, 50, 3, 0).outcome, PROFCORE_RECORDED);
    CHECK_RC(h_add(&g, 2, A, 2, 1, 0).outcome, PROFCORE_RECORDED); /* evicts the deep one */
    CHECK_RC(h_add(&g, 2, B, 2, 1, 0).outcome, PROFCORE_RECORDED_HANDOFF);
    g.ncap = 0;
    CHECK_RC(h_drain(&g), PROFCORE_OK);
    REQUIRE(g.ncap == 1);
    CHECK_EQ(g.cap[0].depth, 3);
    CHECK_EQ(g.cap[0].frames[1], 0x9001);
    CHECK_EQ(g.cap[0].frames[2], PROFCORE_FRAME_TRUNCATED);
    CHECK_EQ(g.cap[0].weight, 3);
    h_finish(&g);
    h_finish(&h);
}

/* Two depth-2 stacks with the same 32-bit hash: (f0, f1) and
 * (f0 ^ x, f1 ^ rotl5(x)) fold to the same pre-finish value. */
static void test_hash_collisions_compare_whole_stack(void) {
    harness h;
    h_init(&h, make_cfg(1, 1, 4, 4, 64));
    uint32_t x = 0x00010203u;
    uintptr_t s1[2] = {0x10000, 0x20000};
    uintptr_t s2[2] = {0x10000 ^ x, 0x20000 ^ pc_rotl5(x)};
    uintptr_t s3[2] = {0x10000 ^ (x << 1), 0x20000 ^ pc_rotl5(x << 1)};
    pc_stack a, b, c, t1, t2;
    a = pc_stack_make(h.pc, 7, s1, 2);
    CHECK(a.depth != 0);
    b = pc_stack_make(h.pc, 7, s2, 2);
    CHECK(b.depth != 0);
    c = pc_stack_make(h.pc, 7, s3, 2);
    CHECK(c.depth != 0);
    CHECK_EQ(a.hash, b.hash); /* the premise: a real collision */
    CHECK_EQ(a.hash, c.hash);
    /* Tags that fold alike: swapped halves. */
    uint64_t tag1 = 0x0000000100000002ull, tag2 = 0x0000000200000001ull;
    t1 = pc_stack_make(h.pc, tag1, s1, 2);
    CHECK(t1.depth != 0);
    t2 = pc_stack_make(h.pc, tag2, s1, 2);
    CHECK(t2.depth != 0);
    CHECK_EQ(t1.hash, t2.hash);
    for (uint32_t round = 0; round < 3; round++) {
        CHECK_RC(h_add(&h, 7, s1, 2, 1, 0).outcome, PROFCORE_RECORDED);
        CHECK_RC(h_add(&h, 7, s2, 2, 10, 0).outcome, PROFCORE_RECORDED);
        CHECK_RC(h_add(&h, tag1, s1, 2, 100, 0).outcome, PROFCORE_RECORDED);
        CHECK_RC(h_add(&h, tag2, s1, 2, 1000, 0).outcome, PROFCORE_RECORDED);
    }
    CHECK_EQ(h_stats(&h).evictions, 0);
    h.ncap = 0;
    CHECK_RC(h_collect(&h, NULL), PROFCORE_OK);
    CHECK_EQ(h.ncap, 4);
    h_finish(&h);

    /* One way: colliding stacks evict each other and keep exact weights. */
    harness g;
    h_init(&g, make_cfg(1, 1, 1, 2, 64));
    for (uint32_t i = 0; i < 9; i++) {
        const uintptr_t *pick = i % 3 == 0 ? s1 : i % 3 == 1 ? s2 : s3;
        CHECK(h_add(&g, 7, pick, 2, i + 1, 0).outcome <= PROFCORE_RECORDED_HANDOFF);
    }
    CHECK_EQ(h_stats(&g).evictions, 8);
    h_finish(&g);
}

/* The victim is the way with the smallest count (first such on ties);
 * log halves of one record show which stack left the table, in order. */
static void test_eviction_takes_smallest(void) {
    harness h;
    h_init(&h, make_cfg(1, 1, 3, 2, 5));
    CHECK_RC(h_add(&h, 1, A, 2, 5, 0).outcome, PROFCORE_RECORDED);
    CHECK_RC(h_add(&h, 1, B, 2, 3, 0).outcome, PROFCORE_RECORDED);
    CHECK_RC(h_add(&h, 1, C, 2, 4, 0).outcome, PROFCORE_RECORDED);
    CHECK_RC(h_add(&h, 1, D, 2, 9, 0).outcome, PROFCORE_RECORDED); /* evicts B (3) */
    CHECK_RC(h_add(&h, 1, B, 2, 4, 0).outcome, PROFCORE_RECORDED_HANDOFF); /* evicts C (4, first of 4,4) */
    h.ncap = 0;
    CHECK_RC(h_drain(&h), PROFCORE_OK);
    REQUIRE(h.ncap == 1);
    CHECK_EQ(h.cap[0].frames[0], B[0]);
    CHECK_EQ(h.cap[0].weight, 3);
    CHECK_RC(h_add(&h, 1, C, 2, 1, 0).outcome, PROFCORE_RECORDED_HANDOFF); /* evicts B (4) */
    h.ncap = 0;
    CHECK_RC(h_drain(&h), PROFCORE_OK);
    REQUIRE(h.ncap == 1);
    CHECK_EQ(h.cap[0].frames[0], C[0]);
    CHECK_EQ(h.cap[0].weight, 4);
    CHECK_EQ(h_stats(&h).evictions, 3);
    h_finish(&h);
}

/* ---- log, handoff, no-handoff ------------------------------------------------------ */

static void test_log_full_while_reader_holds_half(void) {
    harness h;
    h_init(&h, tiny_cfg());
    CHECK_RC(h_add(&h, 1, A, 2, 1, 0).outcome, PROFCORE_RECORDED);
    CHECK_RC(h_add(&h, 1, B, 2, 2, 0).outcome, PROFCORE_RECORDED);         /* A -> half 0 */
    CHECK_RC(h_add(&h, 1, C, 2, 3, 0).outcome, PROFCORE_RECORDED_HANDOFF); /* publish 0, B -> half 1 */
    add_result r = h_add(&h, 1, D, 2, 4, 0); /* needs half 1 published: the reader holds half 0 */
    CHECK_RC(r.outcome, PROFCORE_LOST);
    CHECK_RC(r.reason, PROFCORE_LOSS_LOG_FULL);
    CHECK_RC(h_add(&h, 1, C, 2, 5, 0).outcome, PROFCORE_RECORDED); /* C untouched: still a hit */
    h.ncap = 0;
    CHECK_RC(h_drain(&h), PROFCORE_OK);
    REQUIRE(h.ncap == 2);
    CHECK_EQ(h.cap[0].frames[0], A[0]);
    CHECK_EQ(h.cap[1].frames[0], PROFCORE_FRAME_LOST(PROFCORE_LOSS_LOG_FULL));
    CHECK_EQ(h.cap[1].weight, 4);
    CHECK_RC(h_add(&h, 1, D, 2, 4, 0).outcome, PROFCORE_RECORDED_HANDOFF); /* room again */
    h_finish(&h);
}

/* The reader's emit callback adds (as a signal on the reader thread would)
 * while the published half is being read: the add needs a handoff, the CAS
 * fails, the new sample is LOG_FULL and nothing emitted is disturbed. */
static int reentrant_outcome[4];
static int reentrant_reason[4];
static size_t reentrant_calls;
static void reentrant_emit(void *ctx, const profcore_record *rec) {
    harness *h = ctx;
    h_emit(h, rec);
    if (reentrant_calls < 1) {
        const uintptr_t *pick = reentrant_calls % 2 ? C : D;
        add_result r = h_add(h, 1, pick, 2, 7, 0);
        reentrant_outcome[reentrant_calls] = r.outcome;
        reentrant_reason[reentrant_calls] = r.reason;
        reentrant_calls++;
    }
}

static void test_log_full_reentrant_add_in_emit(void) {
    harness h;
    h_init(&h, tiny_cfg());
    h_add(&h, 1, A, 2, 1, 0);
    h_add(&h, 1, B, 2, 2, 0);                                            /* A -> half 0 */
    CHECK_RC(h_add(&h, 1, C, 2, 3, 0).outcome, PROFCORE_RECORDED_HANDOFF); /* B -> half 1 (full) */
    reentrant_calls = 0;
    CHECK_RC(profcore_drain(h.pc, reentrant_emit, &h), PROFCORE_OK);
    REQUIRE(reentrant_calls == 1); /* only the A record; the loss record comes after */
    CHECK_RC(reentrant_outcome[0], PROFCORE_LOST);
    CHECK_RC(reentrant_reason[0], PROFCORE_LOSS_LOG_FULL);
    /* After the drain released half 0 the same add publishes half 1. */
    CHECK_RC(h_add(&h, 1, D, 2, 7, 0).outcome, PROFCORE_RECORDED_HANDOFF);
    h_finish(&h);
}

static void test_nohandoff_drops_when_no_room(void) {
    harness h;
    h_init(&h, tiny_cfg());
    CHECK_RC(h_add_nh(&h, 1, A, 2, 1, 0).outcome, PROFCORE_RECORDED);
    CHECK_RC(h_add_nh(&h, 1, B, 2, 2, 0).outcome, PROFCORE_RECORDED); /* room: A -> log */
    add_result r = h_add_nh(&h, 1, C, 2, 3, 0); /* no room, may not publish */
    CHECK_RC(r.outcome, PROFCORE_LOST);
    CHECK_RC(r.reason, PROFCORE_LOSS_NOHANDOFF_FULL);
    CHECK_RC(h_add_nh(&h, 1, B, 2, 4, 0).outcome, PROFCORE_RECORDED); /* a hit needs no room */
    CHECK_EQ(h_stats(&h).handoffs, 0);
    /* The handoff path publishes the same full half. */
    CHECK_RC(h_add(&h, 1, C, 2, 3, 0).outcome, PROFCORE_RECORDED_HANDOFF);
    r = h_add_nh(&h, 1, D, 2, 3, 0); /* active half full again, never publishes */
    CHECK_RC(r.reason, PROFCORE_LOSS_NOHANDOFF_FULL);
    h_finish(&h);
}

/* Many adds through small halves: every handoff is reported to its add and
 * the reader sees every half exactly once. */
static void test_handoff_stream(void) {
    harness h;
    h_init(&h, make_cfg(2, 2, 1, 4, 14));
    uintptr_t f[4] = {0x5000, 0x5001, 0x5002, 0x5003};
    for (uint32_t i = 0; i < 2000; i++) {
        f[0] = 0x5000 + (i % 37) * 8;
        add_result r = h_add(&h, i % 3, f, 1 + i % 4, 1 + i % 5, i);
        CHECK(r.outcome == PROFCORE_RECORDED || r.outcome == PROFCORE_RECORDED_HANDOFF ||
              (r.outcome == PROFCORE_LOST && r.reason == PROFCORE_LOSS_LOG_FULL));
        if (i % 3 == 0) CHECK_RC(h_drain(&h), PROFCORE_OK);
    }
    CHECK(h_stats(&h).handoffs > 100);
    h_finish(&h);
}

/* ---- stop, drain, reader ----------------------------------------------------------- */

static void test_adds_after_stop_rejected(void) {
    harness h;
    h_init(&h, make_cfg(2, 4, 2, 4, 64));
    h_add(&h, 1, A, 3, 2, 0);
    CHECK_RC(h_stop(&h), PROFCORE_OK);
    CHECK_RC(h_add(&h, 1, A, 3, 2, 0).outcome, PROFCORE_REJECTED);
    CHECK_RC(h_add_nh(&h, 1, B, 3, 3, 1).outcome, PROFCORE_REJECTED);
    CHECK_RC(h_loss(&h, PROFCORE_LOSS_UNWIND, 4).outcome, PROFCORE_REJECTED);
    CHECK_RC(h_add(&h, 1, A, 0, 5, 0).outcome, PROFCORE_REJECTED); /* invalid, but stopped */
    CHECK_RC(h_final(&h), PROFCORE_OK);
    CHECK_RC(h_add(&h, 1, C, 3, 6, 0).outcome, PROFCORE_REJECTED);
    CHECK_RC(h_loss(&h, PROFCORE_LOSS_OTHER, 7).outcome, PROFCORE_REJECTED);
    profcore_stats s = h_stats(&h);
    CHECK_EQ(s.rejected_samples, 6);
    CHECK_EQ(s.rejected_weight, 2 + 3 + 4 + 5 + 6 + 7);
    h_finish(&h);
}

/* An add that starts after stop takes no shard and opens no loss bracket:
 * at every one of its shared-memory accesses, no shard is writer-owned and
 * loss_inflight is 0.  This is what lets stop and the final drain complete
 * while adds keep coming (SPIN run live-endless).  Checked for the three
 * kinds of add, at every yield point k of the add. */
static bool after_stop_clean;
static void after_stop_probe(void *arg) {
    harness *h = arg;
    for (uint32_t s = 0; s < h->pc->cfg.shards; s++)
        if (h->pc->shards[s].owner == PC_OWNER_WRITER) after_stop_clean = false;
    if (h->pc->loss_inflight != 0) after_stop_clean = false;
}

static void test_add_after_stop_touches_nothing(void) {
    harness h;
    h_init(&h, make_cfg(2, 4, 2, 4, 64));
    h_add(&h, 1, A, 3, 2, 0);
    CHECK_RC(h_stop(&h), PROFCORE_OK);
    for (int kind = 0; kind < 3; kind++) {
        unsigned points = 0;
        for (unsigned k = 1; k <= 8; k++) {
            after_stop_clean = true;
            yp_arm(k, after_stop_probe, &h);
            int rc = kind == 0   ? h_add(&h, 1, A, 3, 2, 0).outcome
                     : kind == 1 ? h_add(&h, 1, A, 0, 2, 0).outcome /* invalid */
                                 : h_loss(&h, PROFCORE_LOSS_UNWIND, 2).outcome;
            CHECK_RC(rc, PROFCORE_REJECTED);
            if (yp.fired) points = k;
            yp_disarm();
            CHECK(after_stop_clean);
        }
        CHECK(points >= 1); /* the probe ran at least once */
    }
    CHECK_RC(h_final(&h), PROFCORE_OK);
    h_finish(&h);
}

static void test_call_order_errors(void) {
    harness h;
    h_init(&h, make_cfg(2, 4, 2, 4, 64));
    h_add(&h, 1, A, 3, 2, 0);
    CHECK_RC(h_final(&h), PROFCORE_E_STATE); /* before stop */
    CHECK_RC(h_drain(&h), PROFCORE_OK);
    CHECK_RC(h_collect(&h, NULL), PROFCORE_OK);
    CHECK_RC(h_add(&h, 1, A, 3, 2, 0).outcome, PROFCORE_RECORDED); /* still running */
    CHECK_RC(h_stop(&h), PROFCORE_OK);
    CHECK_RC(h_stop(&h), PROFCORE_OK); /* idempotent */
    CHECK_RC(h_drain(&h), PROFCORE_OK); /* draining between stop and final is fine */
    CHECK_RC(h_final(&h), PROFCORE_OK);
    CHECK_RC(h_final(&h), PROFCORE_E_STATE);
    CHECK_RC(h_drain(&h), PROFCORE_E_STATE);
    CHECK_RC(h_collect(&h, NULL), PROFCORE_E_STATE);
    CHECK_RC(h_stop(&h), PROFCORE_E_STATE);
    CHECK_RC(h_add(&h, 1, A, 3, 2, 0).outcome, PROFCORE_REJECTED);
    h_finish(&h); /* nothing emitted twice, nothing missing */
}

static int busy_rc[4];
static void reader_busy_emit(void *ctx, const profcore_record *rec) {
    harness *h = ctx;
    h_emit(h, rec);
    uint32_t busy;
    busy_rc[0] = profcore_drain(h->pc, noop_emit, NULL);
    busy_rc[1] = profcore_collect(h->pc, noop_emit, NULL, &busy);
    busy_rc[2] = profcore_stop(h->pc);
    busy_rc[3] = profcore_final_drain(h->pc, noop_emit, NULL);
}

static void test_concurrent_reader_busy(void) {
    harness h;
    h_init(&h, make_cfg(2, 4, 2, 4, 64));
    h_add(&h, 1, A, 3, 2, 0);
    for (int i = 0; i < 4; i++) busy_rc[i] = 0;
    CHECK_RC(profcore_collect(h.pc, reader_busy_emit, &h, NULL), PROFCORE_OK);
    for (int i = 0; i < 4; i++) CHECK_RC(busy_rc[i], PROFCORE_E_READER_BUSY);
    h_loss(&h, PROFCORE_LOSS_OTHER, 1);
    for (int i = 0; i < 4; i++) busy_rc[i] = 0;
    CHECK_RC(profcore_drain(h.pc, reader_busy_emit, &h), PROFCORE_OK);
    for (int i = 0; i < 4; i++) CHECK_RC(busy_rc[i], PROFCORE_E_READER_BUSY);
    CHECK_RC(h_add(&h, 1, A, 3, 2, 0).outcome, PROFCORE_RECORDED); /* the busy stop did nothing */
    CHECK_RC(h_drain(&h), PROFCORE_OK);                             /* the reader word was released */
    h_finish(&h);
}

/* While the reader holds the only shard (inside collect's callback) an add
 * finds every shard busy: CONTENDED, counted, never waits. */
static add_result contended_result;
static bool contended_done;
static void contended_emit(void *ctx, const profcore_record *rec) {
    harness *h = ctx;
    h_emit(h, rec);
    if (!contended_done) {
        contended_done = true;
        contended_result = h_add(h, 1, B, 2, 3, 0);
    }
}

static void test_contended_when_all_shards_held(void) {
    harness h;
    h_init(&h, make_cfg(1, 4, 2, 4, 64));
    h_add(&h, 1, A, 2, 1, 0);
    contended_done = false;
    CHECK_RC(profcore_collect(h.pc, contended_emit, &h, NULL), PROFCORE_OK);
    CHECK(contended_done);
    CHECK_RC(contended_result.outcome, PROFCORE_LOST);
    CHECK_RC(contended_result.reason, PROFCORE_LOSS_CONTENDED);
    h_finish(&h);
}

/* ---- the hit-count overflow path (white box: no test can add 2^64) ---------------- */

/* Raises the count of the only entry (one shard, one bucket, one way) to
 * `count`, and the recorded weight with it, so the statistics stay
 * conserved (mod 2^64) and the model agrees. */
static void poke_count(harness *h, const uintptr_t *frames, uint64_t count) {
    uint64_t *entry = h->pc->tables;
    uint64_t raise = count - entry[PC_ENTRY_COUNT];
    entry[PC_ENTRY_COUNT] = count;
    h->pc->shards[0].recorded_weight += raise;
    h->model.recorded_weight += raise;
    h->model.offered_weight += raise;
    find_key(h, 1, 2, (const uint64_t[]){frames[0], frames[1]})->expected += raise;
}

static void test_hit_count_overflow_evicts(void) {
    for (uint32_t exact = 0; exact < 2; exact++) {
        harness h;
        h_init(&h, make_cfg(1, 1, 1, 2, 64));
        uint64_t *entry = h.pc->tables;
        CHECK_RC(h_add(&h, 1, A, 2, 1, 0).outcome, PROFCORE_RECORDED);
        REQUIRE(entry[PC_ENTRY_COUNT] == 1);
        poke_count(&h, A, UINT64_MAX - 4);
        CHECK_RC(h_add(&h, 1, A, 2, 3, 0).outcome, PROFCORE_RECORDED); /* 2^64-1 - 1: a hit */
        CHECK_EQ(entry[PC_ENTRY_COUNT], UINT64_MAX - 1);
        if (exact) {
            /* Reaching 2^64-1 exactly still fits. */
            CHECK_RC(h_add(&h, 1, A, 2, 1, 0).outcome, PROFCORE_RECORDED);
            CHECK_EQ(entry[PC_ENTRY_COUNT], UINT64_MAX);
            CHECK_EQ(h_stats(&h).evictions, 0);
        }
        /* One that would wrap: the full count goes to the log, the entry restarts. */
        CHECK_RC(h_add(&h, 1, A, 2, 2, 0).outcome, PROFCORE_RECORDED);
        CHECK_EQ(entry[PC_ENTRY_COUNT], 2);
        CHECK_EQ(h_stats(&h).evictions, 1);
        h.ncap = 0;
        CHECK_RC(h_collect(&h, NULL), PROFCORE_OK);
        REQUIRE(h.ncap == 2);
        CHECK_EQ(h.cap[0].weight, exact ? UINT64_MAX : UINT64_MAX - 1);
        CHECK_EQ(h.cap[1].weight, 2);
        h_finish(&h);
    }
}

/* A truncated stack and a full-depth stack whose last frame folds to the
 * marker's value have the same hash and depth: still two stacks. */
static void test_truncated_vs_full_collision(void) {
    uintptr_t deep[6] = {0x9000, 0x9001, 0x9002, 0x9003, 0x9004, 0x9005};
    uintptr_t full[4] = {0x9000, 0x9001, 0x9002, (uintptr_t)1 << 32}; /* folds to 1 */
    for (int full_first = 0; full_first < 2; full_first++) { /* each order meets the other's entry */
        harness h;
        h_init(&h, make_cfg(1, 1, 2, 4, 64));
        pc_stack a, b;
        a = pc_stack_make(h.pc, 3, deep, 6);
        CHECK(a.depth != 0);
        b = pc_stack_make(h.pc, 3, full, 4);
        CHECK(b.depth != 0);
        CHECK_EQ(a.hash, b.hash); /* the premise */
        for (int i = 0; i < 3; i++) {
            if (full_first) CHECK_RC(h_add(&h, 3, full, 4, 10, 0).outcome, PROFCORE_RECORDED);
            CHECK_RC(h_add(&h, 3, deep, 6, 1, 0).outcome, PROFCORE_RECORDED);
            if (!full_first) CHECK_RC(h_add(&h, 3, full, 4, 10, 0).outcome, PROFCORE_RECORDED);
        }
        h.ncap = 0;
        CHECK_RC(h_collect(&h, NULL), PROFCORE_OK);
        CHECK_EQ(h.ncap, 2);
        h_finish(&h);
    }
}

/* ---- injection at every yield point ---------------------------------------------------
 * Each scenario builds a state, then runs one operation with an action
 * injected at its k-th shared-memory access, for every k until the
 * operation has fewer points.  The action is what a nested signal handler
 * (an add) or another thread (a reader call) could do at that instant;
 * conservation and integrity are checked after each k. */

typedef struct scenario {
    const char *name;
    profcore_config cfg;
    int prefill;     /* 0: empty; 1: one stack in the table; 2: table full and active half full */
    int op;          /* operation under test, see run_op */
    int action;      /* injected action, see run_action */
} scenario;

static harness *inj_h;
static int inj_action;
static int inj_rc;

enum { OP_ADD_HIT, OP_ADD_EVICT, OP_ADD_NOHANDOFF, OP_ADD_LOSS, OP_ADD_INVALID, OP_DRAIN,
       OP_COLLECT, OP_STOP_FINAL };
enum { ACT_ADD_SAME, ACT_ADD_OTHER, ACT_ADD_NOHANDOFF, ACT_ADD_LOSS, ACT_DRAIN, ACT_COLLECT,
       ACT_STOP_FINAL };

static void run_action(void *arg) {
    harness *h = arg;
    switch (inj_action) {
    case ACT_ADD_SAME: h_add(h, 1, A, 2, 11, 0); break;
    case ACT_ADD_OTHER: h_add(h, 1, D, 2, 13, 0); break;
    case ACT_ADD_NOHANDOFF: h_add_nh(h, 1, D, 2, 17, 0); break;
    case ACT_ADD_LOSS: h_loss(h, PROFCORE_LOSS_CRITICAL, 19); break;
    case ACT_DRAIN: inj_rc = h_drain(h); break;
    case ACT_COLLECT: inj_rc = h_collect(h, NULL); break;
    case ACT_STOP_FINAL:
        inj_rc = h_stop(h);
        if (inj_rc == PROFCORE_OK) {
            int f = h_final(h);
            /* The final drain may only finish when nothing is in flight. */
            CHECK(f == PROFCORE_OK || f == PROFCORE_BUSY);
        } else {
            CHECK_RC(inj_rc, PROFCORE_BUSY);
            CHECK_RC(h_final(h), PROFCORE_BUSY); /* not quiescent: must refuse */
        }
        break;
    }
}

static void prefill(harness *h, int how) {
    if (how >= 1) h_add(h, 1, A, 2, 1, 0);
    if (how >= 2) {
        h_add(h, 1, B, 2, 2, 0); /* A evicted into the active half */
        h_add(h, 1, C, 2, 3, 0); /* B evicted: publishes, B in the new half */
        CHECK_RC(h_drain(h), PROFCORE_OK);
    }
}

static void run_op(harness *h, int op) {
    switch (op) {
    case OP_ADD_HIT: h_add(h, 1, A, 2, 5, 0); break;
    case OP_ADD_EVICT: h_add(h, 1, B, 2, 7, 0); break;
    case OP_ADD_NOHANDOFF: h_add_nh(h, 1, B, 2, 7, 0); break;
    case OP_ADD_LOSS: h_loss(h, PROFCORE_LOSS_UNWIND, 23); break;
    case OP_ADD_INVALID: h_add(h, 1, A, 0, 29, 0); break;
    case OP_DRAIN: h_drain(h); break;
    case OP_COLLECT: h_collect(h, NULL); break;
    case OP_STOP_FINAL:
        if (h_stop(h) == PROFCORE_OK) h_final(h);
        break;
    }
}

static unsigned run_scenario(const scenario *sc) {
    unsigned points = 0;
    for (unsigned k = 1;; k++) {
        int before = check_failed_in_test;
        harness h;
        h_init(&h, sc->cfg);
        prefill(&h, sc->prefill);
        inj_h = &h;
        inj_action = sc->action;
        yp_arm(k, run_action, &h);
        run_op(&h, sc->op);
        bool fired = yp.fired;
        yp_disarm();
        /* After the operation, everything must be collectable again. */
        h_finish(&h);
        if (check_failed_in_test != before)
            fprintf(stderr, "  ^ in scenario %s, action at yield point %u\n", sc->name, k);
        if (!fired) break;
        points++;
        if (k > 10000) abort();
    }
    return points;
}

static void test_injection_every_yield_point(void) {
    profcore_config one = tiny_cfg();          /* nested add: CONTENDED */
    profcore_config two = make_cfg(2, 1, 1, 2, 5); /* nested add: other shard */
    const int ops[] = {OP_ADD_HIT, OP_ADD_EVICT, OP_ADD_NOHANDOFF, OP_ADD_LOSS, OP_ADD_INVALID};
    const int adds_actions[] = {ACT_ADD_SAME, ACT_ADD_OTHER, ACT_ADD_NOHANDOFF, ACT_ADD_LOSS,
                                ACT_DRAIN,    ACT_COLLECT,   ACT_STOP_FINAL};
    const int reader_ops[] = {OP_DRAIN, OP_COLLECT, OP_STOP_FINAL};
    const int reader_actions[] = {ACT_ADD_SAME, ACT_ADD_OTHER, ACT_ADD_NOHANDOFF, ACT_ADD_LOSS};
    unsigned total = 0, scenarios = 0;
    for (int c = 0; c < 2; c++)
        for (int p = 0; p <= 2; p++) {
            for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++)
                for (size_t a = 0; a < sizeof adds_actions / sizeof adds_actions[0]; a++) {
                    scenario sc = {"add+action", c ? two : one, p, ops[o], adds_actions[a]};
                    total += run_scenario(&sc);
                    scenarios++;
                }
            for (size_t o = 0; o < sizeof reader_ops / sizeof reader_ops[0]; o++)
                for (size_t a = 0; a < sizeof reader_actions / sizeof reader_actions[0]; a++) {
                    scenario sc = {"reader+add", c ? two : one, p, reader_ops[o], reader_actions[a]};
                    total += run_scenario(&sc);
                    scenarios++;
                }
        }
    printf("     (%u scenarios, %u injection points)\n", scenarios, total);
    CHECK(total > 1000);
}

/* A nested add at a yield point where the outer add holds the only shard
 * must come out CONTENDED; with two shards it is recorded. */
static add_result nested_result;
static void nested_add_action(void *arg) { nested_result = h_add(arg, 1, D, 2, 3, 0); }

static void test_nested_add_uses_other_shard(void) {
    for (uint32_t shards = 1; shards <= 2; shards++) {
        harness h;
        h_init(&h, make_cfg(shards, 4, 2, 4, 64));
        /* Point 3 is after the outer add's owner CAS (point 2; point 1 is
         * its first state load). */
        yp_arm(3, nested_add_action, &h);
        CHECK_RC(h_add(&h, 1, A, 2, 1, 0).outcome, PROFCORE_RECORDED);
        CHECK(yp.fired);
        yp_disarm();
        if (shards == 1) {
            CHECK_RC(nested_result.outcome, PROFCORE_LOST);
            CHECK_RC(nested_result.reason, PROFCORE_LOSS_CONTENDED);
        } else {
            CHECK_RC(nested_result.outcome, PROFCORE_RECORDED);
        }
        h_finish(&h);
    }
}

/* Stop while an add holds a shard reports BUSY and the final drain refuses;
 * once the add is done both succeed and the sample is emitted. */
static int stop_rc_inside, final_rc_inside;
static void stop_inside_action(void *arg) {
    harness *h = arg;
    stop_rc_inside = h_stop(h);
    final_rc_inside = h_final(h);
}

static void test_stop_while_add_in_flight(void) {
    harness h;
    h_init(&h, make_cfg(2, 4, 2, 4, 64));
    /* Yield points of an add: 1 = first state load, 2 = owner CAS,
     * 3 = state check after the CAS, 4.. = counters. */
    yp_arm(4, stop_inside_action, &h);
    CHECK_RC(h_add(&h, 1, A, 2, 1, 0).outcome, PROFCORE_RECORDED); /* state was RUNNING at its check */
    CHECK(yp.fired);
    yp_disarm();
    CHECK_RC(stop_rc_inside, PROFCORE_BUSY);
    CHECK_RC(final_rc_inside, PROFCORE_BUSY);
    CHECK_RC(h_stop(&h), PROFCORE_OK);
    CHECK_RC(h_final(&h), PROFCORE_OK);
    h_finish(&h);
    /* Stop between the owner CAS and the state check: the add is rejected. */
    h_init(&h, make_cfg(2, 4, 2, 4, 64));
    yp_arm(3, stop_inside_action, &h);
    CHECK_RC(h_add(&h, 1, A, 2, 1, 0).outcome, PROFCORE_REJECTED);
    yp_disarm();
    CHECK_RC(stop_rc_inside, PROFCORE_BUSY);
    h_finish(&h);
}

/* A reader call meeting a shard held by a writer reports it busy. */
static uint32_t collect_busy_inside;
static int collect_rc_inside;
static void collect_inside_action(void *arg) {
    harness *h = arg;
    collect_rc_inside = h_collect(h, &collect_busy_inside);
}

static void test_collect_skips_busy_shard(void) {
    harness h;
    h_init(&h, make_cfg(4, 4, 2, 4, 64));
    h_add(&h, 1, B, 2, 1, 1);
    yp_arm(4, collect_inside_action, &h);
    h_add(&h, 1, A, 2, 1, 2);
    yp_disarm();
    CHECK_RC(collect_rc_inside, PROFCORE_BUSY);
    CHECK_EQ(collect_busy_inside, 1);
    h_finish(&h);
}

/* ---- random operation sequences --------------------------------------------------------- */

static uint64_t rng_state;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void random_action(void *arg) {
    harness *h = arg;
    switch (rng() % 5) {
    case 0: h_drain(h); break;
    case 1: h_collect(h, NULL); break;
    case 2: h_loss(h, PROFCORE_LOSS_OTHER, 2); break;
    default: {
        uintptr_t f[3] = {0x7000 + (uintptr_t)(rng() % 5), 0x7100, 0x7200};
        if (rng() & 1) h_add(h, rng() % 2, f, 1 + (uint32_t)(rng() % 3), 1 + (uint32_t)(rng() % 9), (uint32_t)rng());
        else h_add_nh(h, rng() % 2, f, 1 + (uint32_t)(rng() % 3), 1 + (uint32_t)(rng() % 9), (uint32_t)rng());
    }
    }
}

static void test_random_sequences_conserve(void) {
    const uint32_t shards[] = {1, 2, 4}, buckets[] = {1, 2, 8}, ways[] = {1, 2, 3},
                   depths[] = {2, 3, 6};
    for (uint64_t seed = 1; seed <= 150; seed++) {
        rng_state = seed * 0x9E3779B97F4A7C15ull;
        uint32_t md = depths[rng() % 3];
        uint32_t lw = (uint32_t)(3 + md + rng() % (3 * (3 + md)));
        harness h;
        h_init(&h, make_cfg(shards[rng() % 3], buckets[rng() % 3], ways[rng() % 3], md, lw));
        uint32_t n = 400;
        uint32_t stop_at = (uint32_t)(rng() % (2 * n)); /* half of the runs stop midway */
        for (uint32_t i = 0; i < n; i++) {
            if (i == stop_at) h_stop(&h);
            if (rng() % 16 == 0) yp_arm(1 + (unsigned)(rng() % 12), random_action, &h);
            uintptr_t f[9];
            for (int j = 0; j < 9; j++) f[j] = 0x6000 + (uintptr_t)(rng() % 4) * 16 + (uintptr_t)j;
            uint32_t depth = 1 + (uint32_t)(rng() % 8);
            uint32_t weight = (uint32_t)(rng() % 6); /* sometimes 0: invalid */
            switch (rng() % 12) {
            case 0: h_drain(&h); break;
            case 1: h_collect(&h, NULL); break;
            case 2: h_loss(&h, (uint32_t)(rng() % 8), weight); break;
            case 3: h_add_nh(&h, rng() % 3, f, depth, weight, (uint32_t)rng()); break;
            case 4: f[rng() % depth] = (uintptr_t)(rng() % 64); /* a reserved frame */
                h_add(&h, 1, f, depth, weight, (uint32_t)rng());
                break;
            default: h_add(&h, rng() % 3, f, depth, weight, (uint32_t)rng());
            }
            yp_disarm();
        }
        int before = check_failed_in_test;
        h_finish(&h);
        if (check_failed_in_test != before) fprintf(stderr, "  ^ seed %" PRIu64 "\n", seed);
    }
}

int main(int argc, char **argv) {
    static const check_test tests[] = {
        CHECK_TEST(test_config_errors_are_distinct),
        CHECK_TEST(test_loss_names),
        CHECK_TEST(test_version),
        CHECK_TEST(test_invalid_config_refused_untouched),
        CHECK_TEST(test_bad_memory_refused_untouched),
        CHECK_TEST(test_bad_handle),
        CHECK_TEST(test_invalid_samples_counted),
        CHECK_TEST(test_reserved_frame_every_position),
        CHECK_TEST(test_reserved_frame_checked_on_miss),
        CHECK_TEST(test_hash_spreads_over_buckets),
        CHECK_TEST(test_loss_records_emitted_once),
        CHECK_TEST(test_hits_merge_and_collect_flushes),
        CHECK_TEST(test_truncation_marker),
        CHECK_TEST(test_hash_collisions_compare_whole_stack),
        CHECK_TEST(test_eviction_takes_smallest),
        CHECK_TEST(test_log_full_while_reader_holds_half),
        CHECK_TEST(test_log_full_reentrant_add_in_emit),
        CHECK_TEST(test_nohandoff_drops_when_no_room),
        CHECK_TEST(test_handoff_stream),
        CHECK_TEST(test_adds_after_stop_rejected),
        CHECK_TEST(test_add_after_stop_touches_nothing),
        CHECK_TEST(test_call_order_errors),
        CHECK_TEST(test_concurrent_reader_busy),
        CHECK_TEST(test_contended_when_all_shards_held),
        CHECK_TEST(test_hit_count_overflow_evicts),
        CHECK_TEST(test_truncated_vs_full_collision),
        CHECK_TEST(test_nested_add_uses_other_shard),
        CHECK_TEST(test_stop_while_add_in_flight),
        CHECK_TEST(test_collect_skips_busy_shard),
        CHECK_TEST(test_injection_every_yield_point),
        CHECK_TEST(test_random_sequences_conserve),
    };
    return check_main(tests, sizeof tests / sizeof tests[0], argc, argv);
}
