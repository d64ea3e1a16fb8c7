/* core_bench — microbenchmark of the profiling core (core/profcore.h).
 *
 *   core-bench time  [--smoke]   ns/op for every path, plus contention; CSV on stdout
 *   core-bench count [--smoke]   the same path scenarios with few ops, for callgrind
 *
 * Each path scenario is built so that every timed op really takes that path,
 * and checks it with profcore_stats_read and a reader pass (collect/drain):
 * a row whose check fails says so in its `check` column and the smoke suite
 * fails.  Nothing here asserts a time: times are only reported.
 *
 * Timing: ops run in batches; one batch is timed with two clock_gettime
 * (CLOCK_MONOTONIC) calls, and per-op time is batch time / batch ops.  The
 * median and p99 are taken over the batches.  Threads are not pinned (the
 * machine has two shared cores), so p99 includes preemption by neighbours.
 *
 * Instruction counts: in `count` mode the measured ops go through the
 * noinline wrappers measured_*(), which callgrind toggles collection on
 * (--toggle-collect='measured_*'); each scenario zeroes the counters first
 * and dumps them under its own name after, and bench/core-run.sh reads the
 * inclusive Ir of the core function itself (profcore_add, ...) from each
 * dump, so neither setup nor the wrapper's own instructions are counted.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
/* Instruction counts need callgrind's client requests (package valgrind);
 * without the header the timing still builds and count mode dumps nothing,
 * which bench/core-smoke.sh reports as a failure. */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#endif
#endif
#ifndef CALLGRIND_ZERO_STATS
#define CALLGRIND_ZERO_STATS ((void)0)
#define CALLGRIND_DUMP_STATS_AT(name) ((void)(name))
#endif

#include "profcore.h"

#define BENCH_TAG 0x5eed5eed5eedull
#define BENCH_MAX_DEPTH 64u /* every scenario keeps the default max_depth */
#define RECORD_WORDS(depth) (PROFCORE_RECORD_HEADER_WORDS + (depth))

/* ---- settings and results ------------------------------------------------ */

typedef struct bench_settings {
    bool counting;             /* under callgrind: measured ops go through measured_*() */
    uint32_t batch_divisor;    /* 1 for a full run; smoke and count runs divide batches */
    uint32_t contention_adds;  /* adds per thread in each contention run */
} bench_settings;

typedef struct bench_result {
    const char *scenario;
    const char *api; /* the core function whose cost callgrind reports */
    uint32_t depth, shards, threads;
    uint64_t ops; /* measured ops (records, for the drain) */
    double *per_op_ns;
    uint32_t nbatches, cap;
    double lost_per_million; /* contention rows only; -1 elsewhere */
    bool ok;
    char why[200];
} bench_result;

static void result_init(bench_result *r, const char *scenario, const char *api, uint32_t depth,
                        uint32_t shards, uint32_t threads, uint32_t max_batches) {
    memset(r, 0, sizeof *r);
    r->scenario = scenario;
    r->api = api;
    r->depth = depth;
    r->shards = shards;
    r->threads = threads;
    r->cap = max_batches;
    r->per_op_ns = calloc(max_batches, sizeof(double));
    r->lost_per_million = -1.0;
    r->ok = r->per_op_ns != NULL;
    if (!r->ok) snprintf(r->why, sizeof r->why, "out of memory");
}

/* Records the first failed check; later ones would only repeat its cause. */
static void result_fail(bench_result *r, const char *fmt, ...) {
    if (!r->ok) return;
    r->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->why, sizeof r->why, fmt, ap);
    va_end(ap);
}

static void result_batch(bench_result *r, uint64_t ns, uint64_t ops) {
    if (r->nbatches < r->cap) r->per_op_ns[r->nbatches++] = (double)ns / (double)ops;
    r->ops += ops;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile (q in (0,1]) of the batch times. */
static double result_percentile(const bench_result *r, double q) {
    if (r->nbatches == 0) return 0.0;
    double *sorted = malloc(r->nbatches * sizeof(double));
    if (sorted == NULL) return 0.0;
    memcpy(sorted, r->per_op_ns, r->nbatches * sizeof(double));
    qsort(sorted, r->nbatches, sizeof(double), cmp_double);
    uint32_t rank = (uint32_t)(q * r->nbatches + 0.999999);
    if (rank < 1) rank = 1;
    double v = sorted[rank - 1];
    free(sorted);
    return v;
}

static void result_print_header(void) {
    printf("scenario,api,depth,shards,threads,ops,batches,median_ns,p99_ns,lost_per_million,check\n");
}

static void result_print(const bench_result *r) {
    printf("%s,%s,%u,%u,%u,%llu,%u,%.2f,%.2f,%.1f,%s\n", r->scenario, r->api, r->depth, r->shards,
           r->threads, (unsigned long long)r->ops, r->nbatches, result_percentile(r, 0.5),
           result_percentile(r, 0.99), r->lost_per_million, r->ok ? "ok" : r->why);
    fflush(stdout);
}

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* `count` distinct stacks of `depth` frames that look like user-space code
 * addresses (never in the reserved range below PROFCORE_FRAME_RESERVED_END). */
typedef struct stack_pool {
    uintptr_t *frames;
    uint32_t count, depth;
} stack_pool;

static stack_pool pool_make(uint32_t count, uint32_t depth, uint64_t seed) {
    stack_pool p = {calloc((size_t)count * depth, sizeof(uintptr_t)), count, depth};
    if (p.frames == NULL) {
        fprintf(stderr, "core-bench: out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < (size_t)count * depth; i++)
        p.frames[i] = (uintptr_t)(0x400000u + (splitmix64(&seed) & 0x7fffffffffull));
    return p;
}

static const uintptr_t *pool_stack(const stack_pool *p, uint32_t i) {
    return p->frames + (size_t)(i % p->count) * p->depth;
}

static void pool_free(stack_pool *p) { free(p->frames); }

typedef struct bench_core {
    profcore *pc;
    void *mem;
    size_t size;
    profcore_config cfg;
} bench_core;

static void core_reset(bench_core *c) {
    if (profcore_init(c->mem, c->size, &c->cfg, &c->pc) != PROFCORE_OK) {
        fprintf(stderr, "core-bench: profcore_init refused the configuration\n");
        exit(2);
    }
}

static bench_core core_new(uint32_t shards, uint32_t buckets, uint32_t ways, uint32_t log_words) {
    bench_core c;
    profcore_config cfg = {shards, buckets, ways, BENCH_MAX_DEPTH, log_words};
    c.cfg = cfg;
    c.size = (profcore_size(&cfg) + 63u) & ~(size_t)63u;
    c.mem = c.size ? aligned_alloc(64, c.size) : NULL;
    if (c.mem == NULL) {
        fprintf(stderr, "core-bench: bad configuration or out of memory\n");
        exit(2);
    }
    core_reset(&c);
    return c;
}

static void core_free(bench_core *c) { free(c->mem); }

static profcore_stats stats_now(const profcore *pc) {
    profcore_stats s;
    profcore_stats_read(pc, &s);
    return s;
}

static uint64_t lost_total(const profcore_stats *s) {
    uint64_t n = 0;
    for (uint32_t r = 0; r < PROFCORE_LOSS_REASONS; r++) n += s->lost_samples[r];
    return n;
}

/* A reader callback that counts what it is given: the core's own cost of a
 * record plus one indirect call, nothing a real reader would add. */
typedef struct emit_count {
    uint64_t records, weight, loss_records;
} emit_count;

static void emit_counter(void *ctx, const profcore_record *rec) {
    emit_count *c = ctx;
    if (rec->depth == 1 && rec->frames[0] < PROFCORE_FRAME_RESERVED_END) {
        c->loss_records++;
        return;
    }
    c->records++;
    c->weight += rec->weight;
}

static emit_count collect_counts(profcore *pc) {
    emit_count c = {0, 0, 0};
    uint32_t busy = 0;
    profcore_collect(pc, emit_counter, &c, &busy);
    return c;
}

/* ---- the measured ops -------------------------------------------------------
 * Under callgrind (count mode) timed ops go through these noinline wrappers
 * and collection is toggled on them; untimed setup calls the core directly
 * and is never counted.  The empty asm keeps the call from becoming a tail
 * jump, which would blur where the toggled function ends. */
static bool g_counting;

__attribute__((noinline)) int measured_add(profcore *pc, const uintptr_t *f, uint32_t depth,
                                           uint32_t hint);
__attribute__((noinline)) int measured_add_nohandoff(profcore *pc, const uintptr_t *f,
                                                     uint32_t depth, uint32_t hint);
__attribute__((noinline)) int measured_drain(profcore *pc, emit_count *c);

int measured_add(profcore *pc, const uintptr_t *f, uint32_t depth, uint32_t hint) {
    int r = profcore_add(pc, BENCH_TAG, f, depth, 1u, hint);
    __asm__ volatile("" ::: "memory");
    return r;
}

int measured_add_nohandoff(profcore *pc, const uintptr_t *f, uint32_t depth, uint32_t hint) {
    int r = profcore_add_nohandoff(pc, BENCH_TAG, f, depth, 1u, hint);
    __asm__ volatile("" ::: "memory");
    return r;
}

int measured_drain(profcore *pc, emit_count *c) {
    int r = profcore_drain(pc, emit_counter, c);
    __asm__ volatile("" ::: "memory");
    return r;
}

static inline int op_add(profcore *pc, const uintptr_t *f, uint32_t depth, uint32_t hint) {
    if (g_counting) return measured_add(pc, f, depth, hint);
    return profcore_add(pc, BENCH_TAG, f, depth, 1u, hint);
}

static inline int op_add_nohandoff(profcore *pc, const uintptr_t *f, uint32_t depth,
                                   uint32_t hint) {
    if (g_counting) return measured_add_nohandoff(pc, f, depth, hint);
    return profcore_add_nohandoff(pc, BENCH_TAG, f, depth, 1u, hint);
}

static inline int op_drain(profcore *pc, emit_count *c) {
    if (g_counting) return measured_drain(pc, c);
    return profcore_drain(pc, emit_counter, c);
}

/* ---- path scenarios ---------------------------------------------------------- */

/* add-hit: a hot set of HIT_STACKS stacks already in the default table; every
 * timed add finds its stack.  Check: no eviction, no loss, and the final
 * collect returns exactly HIT_STACKS entries holding all the weight (a miss
 * would have made a second entry). */
#define HIT_STACKS 64u
#define HIT_BATCH 1024u
static void scenario_hit(uint32_t depth, uint32_t batches, bench_result *r) {
    bench_core c = core_new(8, 256, 4, 8192);
    r->shards = c.cfg.shards;
    stack_pool pool = pool_make(HIT_STACKS, depth, 1000 + depth);
    for (uint32_t i = 0; i < HIT_STACKS; i++) profcore_add(c.pc, BENCH_TAG, pool_stack(&pool, i), depth, 1, 0);
    profcore_stats s0 = stats_now(c.pc);
    uint32_t k = 0, not_recorded = 0;
    for (uint32_t b = 0; b < batches; b++) {
        uint64_t t0 = now_ns();
        for (uint32_t j = 0; j < HIT_BATCH; j++) {
            not_recorded += op_add(c.pc, pool.frames + (size_t)k * depth, depth, 0) != PROFCORE_RECORDED;
            k = k + 1 == HIT_STACKS ? 0 : k + 1;
        }
        result_batch(r, now_ns() - t0, HIT_BATCH);
    }
    profcore_stats s1 = stats_now(c.pc);
    emit_count got = collect_counts(c.pc);
    if (not_recorded) result_fail(r, "%u adds not RECORDED", not_recorded);
    if (s1.evictions != 0 || lost_total(&s1) != 0) result_fail(r, "evictions or losses");
    if (s1.recorded_samples - s0.recorded_samples != r->ops) result_fail(r, "recorded delta");
    if (got.records != HIT_STACKS || got.weight != HIT_STACKS + r->ops)
        result_fail(r, "collect: %llu entries (want %u): some adds missed",
                    (unsigned long long)got.records, HIT_STACKS);
    pool_free(&pool);
    core_free(&c);
}

/* add-miss: MISS_BATCH fresh stacks into an empty table with room (1024
 * buckets x 4 ways); a collect between batches (untimed) empties it again.
 * Check: no eviction, and each collect returns MISS_BATCH entries of weight 1
 * (every add made its own entry). */
#define MISS_BATCH 256u
static void scenario_miss(uint32_t depth, uint32_t batches, bench_result *r) {
    bench_core c = core_new(1, 1024, 4, 8192);
    r->shards = c.cfg.shards;
    stack_pool pool = pool_make(MISS_BATCH, depth, 2000 + depth);
    uint32_t not_recorded = 0;
    for (uint32_t b = 0; b < batches; b++) {
        uint64_t t0 = now_ns();
        for (uint32_t j = 0; j < MISS_BATCH; j++)
            not_recorded += op_add(c.pc, pool.frames + (size_t)j * depth, depth, 0) != PROFCORE_RECORDED;
        result_batch(r, now_ns() - t0, MISS_BATCH);
        emit_count got = collect_counts(c.pc);
        if (got.records != MISS_BATCH || got.weight != MISS_BATCH)
            result_fail(r, "batch %u: %llu entries, want %u", b, (unsigned long long)got.records, MISS_BATCH);
    }
    profcore_stats s = stats_now(c.pc);
    if (not_recorded) result_fail(r, "%u adds not RECORDED", not_recorded);
    if (s.evictions != 0 || lost_total(&s) != 0) result_fail(r, "evictions or losses");
    pool_free(&pool);
    core_free(&c);
}

/* add-evict / nohandoff-evict: one bucket of 4 ways, filled (untimed) with 4
 * stacks, then EVICT_BATCH fresh stacks: each misses and evicts the victim
 * into a log half big enough for the whole batch (no handoff).  A collect
 * between batches (untimed) empties table and log.  Check: evictions grew by
 * exactly the batch, no handoff, no loss. */
#define EVICT_BATCH 1024u
#define FILL_WAYS 4u
static void scenario_evict_with(uint32_t depth, uint32_t batches, bool nohandoff,
                                bench_result *r) {
    bench_core c = core_new(1, 1, FILL_WAYS, EVICT_BATCH * RECORD_WORDS(BENCH_MAX_DEPTH));
    r->shards = c.cfg.shards;
    stack_pool pool = pool_make(FILL_WAYS + EVICT_BATCH, depth, 3000 + depth);
    uint32_t not_recorded = 0;
    for (uint32_t b = 0; b < batches; b++) {
        collect_counts(c.pc);
        for (uint32_t i = 0; i < FILL_WAYS; i++) profcore_add(c.pc, BENCH_TAG, pool_stack(&pool, i), depth, 1, 0);
        profcore_stats s0 = stats_now(c.pc);
        const uintptr_t *f = pool_stack(&pool, FILL_WAYS);
        uint64_t t0 = now_ns();
        for (uint32_t j = 0; j < EVICT_BATCH; j++, f += depth)
            not_recorded += (nohandoff ? op_add_nohandoff(c.pc, f, depth, 0)
                                       : op_add(c.pc, f, depth, 0)) != PROFCORE_RECORDED;
        result_batch(r, now_ns() - t0, EVICT_BATCH);
        profcore_stats s1 = stats_now(c.pc);
        if (s1.evictions - s0.evictions != EVICT_BATCH) result_fail(r, "batch %u: not every add evicted", b);
    }
    profcore_stats s = stats_now(c.pc);
    if (not_recorded) result_fail(r, "%u adds not RECORDED", not_recorded);
    if (s.handoffs != 0 || lost_total(&s) != 0) result_fail(r, "handoffs or losses");
    pool_free(&pool);
    core_free(&c);
}

static void scenario_evict(uint32_t depth, uint32_t batches, bench_result *r) {
    scenario_evict_with(depth, batches, false, r);
}

static void scenario_nohandoff_evict(uint32_t depth, uint32_t batches, bench_result *r) {
    scenario_evict_with(depth, batches, true, r);
}

/* A shard whose one bucket is full and whose active half has no room for
 * another record of `depth` frames: the next add of a new stack must evict
 * and therefore publish (or, without handoff, drop).  Each shard's bucket
 * holds fillers in ways 1..3 forever (the victim is the first way with the
 * smallest count, always way 0), so evictors cycling through EVICTORS >= 2
 * stacks always miss. */
#define EVICTORS 8u
typedef struct full_shards {
    bench_core c;
    stack_pool fillers, evictors;
    uint32_t next[PROFCORE_MAX_SHARDS];
    uint32_t depth, per_half; /* records of `depth` frames a minimal half holds */
} full_shards;

static void full_shards_evict(full_shards *fs, uint32_t s, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        profcore_add(fs->c.pc, BENCH_TAG, pool_stack(&fs->evictors, fs->next[s]), fs->depth, 1, s);
        fs->next[s] = (fs->next[s] + 1) % EVICTORS;
    }
}

static void full_shards_init(full_shards *fs, uint32_t shards, uint32_t depth) {
    fs->c = core_new(shards, 1, FILL_WAYS, RECORD_WORDS(BENCH_MAX_DEPTH));
    fs->fillers = pool_make(FILL_WAYS, depth, 4000 + depth);
    fs->evictors = pool_make(EVICTORS, depth, 5000 + depth);
    fs->depth = depth;
    fs->per_half = RECORD_WORDS(BENCH_MAX_DEPTH) / RECORD_WORDS(depth);
    memset(fs->next, 0, sizeof fs->next);
    for (uint32_t s = 0; s < shards; s++) {
        for (uint32_t i = 0; i < FILL_WAYS; i++)
            profcore_add(fs->c.pc, BENCH_TAG, pool_stack(&fs->fillers, i), depth, 1, s);
        full_shards_evict(fs, s, fs->per_half);
    }
}

static void full_shards_free(full_shards *fs) {
    pool_free(&fs->fillers);
    pool_free(&fs->evictors);
    core_free(&fs->c);
}

/* add-handoff: 256 shards, each with a full bucket and a full active half
 * of the smallest legal size; one timed add per shard evicts, publishes the
 * half (CAS on handoff) and switches halves.  Untimed between batches: a
 * drain releases the published halves and each shard is refilled.  Check:
 * every timed add returned RECORDED_HANDOFF and handoffs grew by the batch.
 * The reader runs on the same thread here, so the cache-line transfer of the
 * handoff word to and from a reader on another core is not in the number. */
#define HANDOFF_SHARDS 256u
static void scenario_handoff(uint32_t depth, uint32_t batches, bench_result *r) {
    full_shards fs;
    full_shards_init(&fs, HANDOFF_SHARDS, depth);
    r->shards = fs.c.cfg.shards;
    uint32_t not_handoff = 0;
    for (uint32_t b = 0; b < batches; b++) {
        if (b > 0)
            for (uint32_t s = 0; s < HANDOFF_SHARDS; s++) full_shards_evict(&fs, s, fs.per_half - 1u);
        profcore_stats s0 = stats_now(fs.c.pc);
        uint64_t t0 = now_ns();
        for (uint32_t s = 0; s < HANDOFF_SHARDS; s++) {
            const uintptr_t *f = pool_stack(&fs.evictors, fs.next[s]);
            not_handoff += op_add(fs.c.pc, f, depth, s) != PROFCORE_RECORDED_HANDOFF;
            fs.next[s] = (fs.next[s] + 1) % EVICTORS;
        }
        result_batch(r, now_ns() - t0, HANDOFF_SHARDS);
        profcore_stats s1 = stats_now(fs.c.pc);
        emit_count got = {0, 0, 0};
        profcore_drain(fs.c.pc, emit_counter, &got);
        if (s1.handoffs - s0.handoffs != HANDOFF_SHARDS) result_fail(r, "batch %u: handoffs delta", b);
        if (got.records != (uint64_t)HANDOFF_SHARDS * fs.per_half) result_fail(r, "batch %u: drained %llu", b, (unsigned long long)got.records);
    }
    if (not_handoff) result_fail(r, "%u adds did not hand off", not_handoff);
    profcore_stats s = stats_now(fs.c.pc);
    if (lost_total(&s) != 0) result_fail(r, "losses");
    full_shards_free(&fs);
}

/* nohandoff-drop: the same full shard, but the no-handoff path may not
 * publish, so every add of a new stack is dropped and counted
 * (NOHANDOFF_FULL).  Droppers are stacks never inserted, so none can hit. */
#define DROP_BATCH 1024u
static void scenario_nohandoff_drop(uint32_t depth, uint32_t batches, bench_result *r) {
    full_shards fs;
    full_shards_init(&fs, 1, depth);
    r->shards = fs.c.cfg.shards;
    stack_pool droppers = pool_make(EVICTORS, depth, 6000 + depth);
    profcore_stats s0 = stats_now(fs.c.pc);
    uint32_t k = 0, not_lost = 0;
    for (uint32_t b = 0; b < batches; b++) {
        uint64_t t0 = now_ns();
        for (uint32_t j = 0; j < DROP_BATCH; j++) {
            not_lost += op_add_nohandoff(fs.c.pc, droppers.frames + (size_t)k * depth, depth, 0) != PROFCORE_LOST;
            k = k + 1 == EVICTORS ? 0 : k + 1;
        }
        result_batch(r, now_ns() - t0, DROP_BATCH);
    }
    profcore_stats s1 = stats_now(fs.c.pc);
    if (not_lost) result_fail(r, "%u adds not LOST", not_lost);
    if (s1.lost_samples[PROFCORE_LOSS_NOHANDOFF_FULL] - s0.lost_samples[PROFCORE_LOSS_NOHANDOFF_FULL] != r->ops)
        result_fail(r, "NOHANDOFF_FULL delta");
    if (s1.recorded_samples != s0.recorded_samples || s1.evictions != s0.evictions)
        result_fail(r, "something was recorded");
    pool_free(&droppers);
    full_shards_free(&fs);
}

/* drain-record: 8 shards, each with one published half of exactly R records
 * of `depth` frames (R = 8192 / record size, the default half's worth), made
 * by a one-way table where each add evicts the previous stack.  One timed
 * profcore_drain; per-op time is per record.  The halves were just written by
 * this thread, so they are warm in its cache (a reader on another core would
 * pay the transfer).  Check: exactly 8 R records, no loss records. */
#define DRAIN_SHARDS 8u
static void scenario_drain(uint32_t depth, uint32_t batches, bench_result *r) {
    uint32_t per_half = 8192u / RECORD_WORDS(depth);
    bench_core c = core_new(DRAIN_SHARDS, 1, 1, per_half * RECORD_WORDS(depth));
    r->shards = c.cfg.shards;
    stack_pool pool = pool_make(2, depth, 7000 + depth);
    uint32_t no_handoff = 0;
    for (uint32_t b = 0; b < batches; b++) {
        core_reset(&c);
        for (uint32_t s = 0; s < DRAIN_SHARDS; s++) {
            int last = 0;
            for (uint32_t i = 0; i < per_half + 2u; i++)
                last = profcore_add(c.pc, BENCH_TAG, pool_stack(&pool, i), depth, 1, s);
            no_handoff += last != PROFCORE_RECORDED_HANDOFF;
        }
        emit_count got = {0, 0, 0};
        uint64_t t0 = now_ns();
        op_drain(c.pc, &got);
        uint64_t t = now_ns() - t0;
        result_batch(r, t, (uint64_t)DRAIN_SHARDS * per_half);
        if (got.records != (uint64_t)DRAIN_SHARDS * per_half || got.loss_records != 0)
            result_fail(r, "batch %u: drained %llu records", b, (unsigned long long)got.records);
    }
    if (no_handoff) result_fail(r, "%u shards did not publish", no_handoff);
    pool_free(&pool);
    core_free(&c);
}

typedef void (*scenario_fn)(uint32_t depth, uint32_t batches, bench_result *r);
static const struct scenario {
    const char *name, *api;
    scenario_fn run;
    uint32_t batches; /* in a full run */
} SCENARIOS[] = {
    {"add-hit", "profcore_add", scenario_hit, 2000},
    {"add-miss", "profcore_add", scenario_miss, 1000},
    {"add-evict", "profcore_add", scenario_evict, 500},
    {"add-handoff", "profcore_add", scenario_handoff, 2000},
    {"nohandoff-evict", "profcore_add_nohandoff", scenario_nohandoff_evict, 500},
    {"nohandoff-drop", "profcore_add_nohandoff", scenario_nohandoff_drop, 1000},
    {"drain-record", "profcore_drain", scenario_drain, 300},
};
static const uint32_t DEPTHS[] = {8, 32, 64};

static void run_paths(const bench_settings *set) {
    for (size_t i = 0; i < sizeof SCENARIOS / sizeof SCENARIOS[0]; i++) {
        for (size_t d = 0; d < sizeof DEPTHS / sizeof DEPTHS[0]; d++) {
            const struct scenario *sc = &SCENARIOS[i];
            uint32_t batches = sc->batches / set->batch_divisor;
            if (batches < 3) batches = 3;
            bench_result r;
            result_init(&r, sc->name, sc->api, DEPTHS[d], 0, 1, batches);
            char dump_name[64];
            snprintf(dump_name, sizeof dump_name, "%s-%u", sc->name, DEPTHS[d]);
            CALLGRIND_ZERO_STATS;
            if (r.ok) sc->run(DEPTHS[d], batches, &r);
            CALLGRIND_DUMP_STATS_AT(dump_name);
            result_print(&r);
            free(r.per_op_ns);
        }
    }
}

/* ---- contention ----------------------------------------------------------------
 * T threads add at once (after a barrier) into a core of S shards, each from
 * its own hot set of CONT_STACKS stacks of CONT_DEPTH frames, hint = thread
 * index.  An add loses (CONTENDED) only when all S owner CASes fail; with
 * more threads than cores, a thread preempted while holding a shard makes
 * that more likely.  This is a worst case: a real handler adds once per
 * timer tick, not back to back. */
#define CONT_STACKS 16u
#define CONT_DEPTH 32u
#define CONT_BATCH 1000u

/* One cache line each: the threads must not share a written line (false
 * sharing would be charged to the core). */
typedef struct cont_thread {
    _Alignas(64) pthread_t tid;
    profcore *pc;
    pthread_barrier_t *start;
    uint32_t index, adds;
    bench_result *r; /* shared; each thread writes its own slice of batches */
    uint32_t first_batch;
    uint64_t not_recorded;
} cont_thread;

static void *cont_run(void *arg) {
    cont_thread *t = arg;
    stack_pool pool = pool_make(CONT_STACKS, CONT_DEPTH, 8000 + t->index);
    pthread_barrier_wait(t->start);
    uint32_t k = 0;
    uint64_t not_recorded = 0;
    for (uint32_t b = 0; b < t->adds / CONT_BATCH; b++) {
        uint64_t t0 = now_ns();
        for (uint32_t j = 0; j < CONT_BATCH; j++) {
            not_recorded += profcore_add(t->pc, BENCH_TAG, pool.frames + (size_t)k * CONT_DEPTH,
                                            CONT_DEPTH, 1, t->index) != PROFCORE_RECORDED;
            k = k + 1 == CONT_STACKS ? 0 : k + 1;
        }
        t->r->per_op_ns[t->first_batch + b] = (double)(now_ns() - t0) / CONT_BATCH;
    }
    t->not_recorded = not_recorded;
    pool_free(&pool);
    return NULL;
}

static void contention_one(uint32_t shards, uint32_t threads, uint32_t adds) {
    uint32_t per_thread_batches = adds / CONT_BATCH;
    bench_result r;
    result_init(&r, "contention", "profcore_add", CONT_DEPTH, shards, threads,
                per_thread_batches * threads);
    bench_core c = core_new(shards, 256, 4, 8192);
    cont_thread t[4];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, threads);
    for (uint32_t i = 0; i < threads; i++) {
        t[i] = (cont_thread){.pc = c.pc, .start = &start, .index = i, .adds = per_thread_batches * CONT_BATCH,
                             .r = &r, .first_batch = i * per_thread_batches};
        if (pthread_create(&t[i].tid, NULL, cont_run, &t[i]) != 0) {
            fprintf(stderr, "core-bench: pthread_create failed\n");
            exit(2);
        }
    }
    uint64_t not_recorded = 0;
    for (uint32_t i = 0; i < threads; i++) {
        pthread_join(t[i].tid, NULL);
        not_recorded += t[i].not_recorded;
    }
    pthread_barrier_destroy(&start);
    r.nbatches = per_thread_batches * threads;
    r.ops = (uint64_t)r.nbatches * CONT_BATCH;
    profcore_stats s = stats_now(c.pc);
    uint64_t contended = s.lost_samples[PROFCORE_LOSS_CONTENDED];
    r.lost_per_million = 1e6 * (double)contended / (double)r.ops;
    if (s.offered_samples != r.ops) result_fail(&r, "offered %llu != %llu", (unsigned long long)s.offered_samples, (unsigned long long)r.ops);
    if (s.recorded_samples + contended != r.ops) result_fail(&r, "losses other than CONTENDED");
    if (not_recorded != contended) result_fail(&r, "outcomes disagree with the counters");
    result_print(&r);
    free(r.per_op_ns);
    core_free(&c);
}

static void run_contention(const bench_settings *set) {
    static const uint32_t shards[] = {1, 2, 4, 8}, threads[] = {1, 2, 4};
    for (size_t s = 0; s < 4; s++)
        for (size_t t = 0; t < 3; t++) contention_one(shards[s], threads[t], set->contention_adds);
}

int main(int argc, char **argv) {
    bench_settings set = {false, 1, 2000000};
    bool smoke = false;
    if (argc < 2 || (strcmp(argv[1], "time") != 0 && strcmp(argv[1], "count") != 0)) {
        fprintf(stderr, "usage: %s time|count [--smoke]\n", argv[0]);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--smoke") == 0) smoke = true;
        else {
            fprintf(stderr, "core-bench: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    set.counting = strcmp(argv[1], "count") == 0;
    g_counting = set.counting;
    if (smoke) {
        set.batch_divisor = 100;
        set.contention_adds = 20000;
    }
    if (set.counting) set.batch_divisor = smoke ? 500 : 50;
    result_print_header();
    run_paths(&set);
    if (!set.counting) run_contention(&set);
    return 0;
}
