/* proofs/eva_driver.c -- the EVA driver: main() calls the whole public API
 * of core/profcore.h; proofs/run-eva runs Eva over it (options there) and
 * fails on any alarm (proofs/baseline/eva-alarms.txt says 0).
 *
 * What is analysed
 *   main() runs, one after the other:
 *   - invalid(): profcore_check_config / profcore_size / profcore_init on a
 *     configuration whose five fields are each any 32-bit value (every
 *     error code, and the size arithmetic at the limits), every NULL
 *     argument, a misaligned block, a block too small, and every API call
 *     on a NULL handle and on a block that is not a handle (bad magic).
 *   - scenario(S, B, W, D, L) for each configuration of EVA_CONFIGS (the
 *     default list is below; -DEVA_S=.. -DEVA_B=.. -DEVA_W=.. -DEVA_D=..
 *     -DEVA_L=.. runs one other configuration).  The block is malloc'ed with
 *     exactly profcore_size() bytes, so any access past the size the core
 *     declared is an alarm.  init is also called with a block 8 bytes too
 *     small and NULL arguments.  Then calls() is an unbounded loop where
 *     each iteration does any one of: add / add_nohandoff of any stack,
 *     add_loss with any reason (valid or not) and any weight, drain, collect
 *     (with and without busy_shards), stop, final_drain, stats_read, drain
 *     with a NULL callback, stats_read with a NULL output, or an action of
 *     another thread (below).  Eva computes an invariant of that loop (it
 *     does not unroll it), so every sequence of these calls, of any length
 *     and in any order, is covered, including calls after stop and after
 *     the final drain.  After the loop: stop, final_drain, then add / drain
 *     / final_drain again (refused).
 *
 * Configurations: a configuration fixes the layout (where the shards,
 * tables and logs start), so each one is its own Eva state: with the
 * fields nondeterministic in one state every pointer into the block is a
 * range and Eva smashes the block (the previous attempt: 93 alarms).  The
 * default list (EVA_CONFIGS below) is shards 1, max_depth 2, log_words 5
 * (one record) with buckets x ways 1x1, 2x2 and 4x3: each takes 10-20 s.
 * Larger ones end with imprecision alarms, not bugs (triaged in
 * proofs/README.md): shards 2 (9 alarms), max_depth 3 (7), log_words of
 * two or three records (3-5), and shards 4 x buckets 4 x ways 3 does not
 * finish in 4 minutes.  Run one with -DEVA_S=.. etc. to see.
 *
 * Inputs of an add
 *   tag in {0, 1, 2^64-1}; weight in {0, 1, 2^32-1}, one Eva state per
 *   weight (the hit path adds the weight to a count after checking
 *   count <= UINT64_MAX - weight: with the weight an interval, Eva cannot
 *   carry that relation to the addition); hint any uint32_t; depth 0 ..
 *   max_depth + 2 (0, within, and deeper than max_depth: truncated), one
 *   state per depth; frames NULL, or a pointer such that exactly the frames
 *   the core may read are readable (depth of them, max_depth - 1 when
 *   truncated): reading one more is an alarm.  Each frame is one of
 *   {0, 1, 63} (reserved: the sample is INVALID) or {64, 2^64-1} (real).
 *   Frames and tags come from small sets on purpose: Eva keeps a set of up
 *   to -eva-ilevel values exactly, and a table entry stores
 *   hash<<32 | depth in one word; from an interval of hashes Eva cannot get
 *   the depth back (`meta & 0xffffffff` becomes [0..2^32-1]) and every read
 *   of the entry's frames would be an imprecision alarm.  Frame values
 *   matter to the core only through the reserved-frame check (both sides
 *   of the bound 64 are covered) and through the hash, whose bucket index
 *   is masked into range whatever the value.
 *
 * Other threads
 *   The atomics are sequential (proofs/eva_atomics.h: plain C bodies, same
 *   names as the core's layer).  The driver plays what other threads can
 *   leave visible between two calls of this thread, through the words they
 *   would write, as their CAS would: a writer holding a shard (owner FREE
 *   -> WRITER, later back to FREE without writing: a writer preempted right
 *   after its CAS), another reader inside a reader call (reader 0 -> 1 ->
 *   0), a loss-only add in flight (loss_inflight +1, later -1).  That
 *   reaches the CONTENDED loss, E_READER_BUSY, and the BUSY answers of
 *   collect, stop and final_drain.  Interleavings inside a call are the
 *   SPIN model's job (proofs/profcore.pml).
 *
 * Why -no-annot (run-eva): with the ACSL of profcore.h loaded, Frama-C 25's
 * Eva crashes (Eval_terms.LogicEvalError) on pc_add_owned's precondition;
 * -eva-reduce-on-logic-alarms avoids the crash, but then Eva evaluates
 * every contract, loop invariant and assertion of the core (about 150 end
 * "unknown": quantified properties are WP's job) and reduces its states by
 * them, i.e. assumes them, so 0 alarms would only hold under those
 * assumptions.  With -no-annot Eva checks the C code alone and assumes
 * nothing from the ACSL; the atomics having bodies, nothing is lost from
 * the stubs.  -no-annot also drops the ACSL specifications of Frama-C's
 * own Frama_C_interval / Frama_C_nondet (they are not Eva builtins: their
 * result becomes unconstrained, which the previous driver suffered from),
 * so nondeterminism here is a volatile read clamped in C, and
 * Frama_C_interval_split (a builtin) where one state per value is wanted.
 * The reader callback is pc_emit_contract (the name the contracts use),
 * defined below: it reads every field and frame of the record.
 */
#define PROFCORE_IMPLEMENTATION
#include "profcore.h"
#include "__fc_builtin.h"
#include <stdlib.h>

/* Case analysis for Eva, no effect on any value.  When the reader takes a
 * shard (CAS of its owner word to READER, in pc_collect_all), split Eva's
 * state on the value of the shard's `used` word, through the global
 * eva_split_key that run-eva names in -eva-partition-value (the split is
 * kept through the returns by -eva-interprocedural-splits).  The reader
 * then walks the active half (pc_emit_half) with an exact `n`.  From an
 * interval of `used`, Eva cannot keep the invariant at <= n of that walk
 * (a relation between two variables, over iterations whose record sizes
 * are read from memory) and reports n - at as a possible wrap, then the
 * reads that follow.  Values above the enumeration bound are simply not
 * split (sound, only less precise). */
uint32_t eva_split_key;
static void pc_eva_before_cas(uint32_t *p, uint32_t desired) {
    if (desired != PC_OWNER_READER) return;
    struct profcore_shard *sh = (struct profcore_shard *)(void *)p;
    for (uint32_t k = 0; k <= 64u; k++)
        if (sh->used == k) {
            eva_split_key = k;
            break;
        }
}

/* The same for the words the reader loads with acquire (the shard's
 * handoff word in pc_drain_published, which gives the published half's
 * length `n`; the state word). */
static void pc_eva_split_word(const uint32_t *p) {
    for (uint32_t k = 0; k <= 2u * 64u + 1u; k++)
        if (*p == k) {
            eva_split_key = k;
            break;
        }
}

static uint64_t emitted_weight;
static uint64_t emitted_frames;
static uint64_t emitted_tags;

/* Reads the whole record: an out-of-bounds frame or a record pointing
 * outside the core's memory is an alarm here. */
void pc_emit_contract(void *ctx, const profcore_record *rec) {
    (void)ctx;
    emitted_weight ^= rec->weight;
    emitted_tags ^= rec->tag;
    for (uint32_t i = 0; i < rec->depth; i++) emitted_frames ^= rec->frames[i];
}

/* Nondeterminism.  Not Frama_C_unsigned_int_interval & co: those are
 * specified in ACSL only (no Eva builtin), and -no-annot drops their
 * contracts, leaving the result unconstrained.  A volatile read is any
 * value for Eva; the clamps bound it. */
static volatile uint32_t eva_entropy;
static uint32_t any_u32(uint32_t lo, uint32_t hi) {
    uint32_t v = eva_entropy;
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    return v;
}
static int any_bool(void) { return any_u32(0, 1) != 0; }

/* Frame values: reserved (below PROFCORE_FRAME_RESERVED_END) or real.
 * Picked from a table, so that Eva gets one state holding the set of
 * values rather than one state per value. */
static const uintptr_t frame_values[5] = {
    0u, (uintptr_t)PROFCORE_FRAME_TRUNCATED, (uintptr_t)PROFCORE_FRAME_RESERVED_END - 1u,
    (uintptr_t)PROFCORE_FRAME_RESERVED_END, UINTPTR_MAX};
static const uint64_t tag_values[3] = {0u, 1u, UINT64_MAX};
/* Weights: one Eva state per value (see the header). */
static const uint32_t weight_values[3] = {0u, 1u, UINT32_MAX};

#ifndef EVA_CONFIGS
#define EVA_CONFIGS                                                            \
    scenario(1, 1, 1, 2, 5);                                                   \
    scenario(1, 2, 2, 2, 5);                                                   \
    scenario(1, 4, 3, 2, 5);
#endif
#define EVA_MAX_D 4u                 /* largest max_depth a run may use */
#define EVA_FBUF (EVA_MAX_D + 2u)    /* deepest stack offered */
static uintptr_t fbuf[EVA_FBUF];

/* One add of any stack; frames point so that exactly the frames the core
 * may read (depth, or max_depth - 1 when truncated) are readable. */
static void any_add(profcore *pc, uint32_t max_depth, int nohandoff) {
    for (uint32_t k = 0; k < EVA_FBUF; k++) fbuf[k] = frame_values[any_u32(0, 4)];
    uint64_t tag = tag_values[any_u32(0, 2)];
    uint32_t weight = weight_values[Frama_C_interval_split(0, 2)];
    uint32_t hint = any_u32(0, UINT32_MAX);
    /* One Eva state per depth, so that `readable` stays exact. */
    uint32_t depth = (uint32_t)Frama_C_interval_split(0, (int)max_depth + 2);
    uint32_t readable = depth <= max_depth ? depth : max_depth - 1u;
    const uintptr_t *frames = any_bool() ? NULL : fbuf + (EVA_FBUF - readable);
    if (nohandoff)
        (void)profcore_add_nohandoff(pc, tag, frames, depth, weight, hint);
    else
        (void)profcore_add(pc, tag, frames, depth, weight, hint);
}

static void calls(profcore *pc, uint32_t shards, uint32_t max_depth);

static void scenario(uint32_t shards, uint32_t buckets, uint32_t ways, uint32_t max_depth,
                     uint32_t log_words) {
    profcore_config cfg = {shards, buckets, ways, max_depth, log_words};
    if (profcore_check_config(&cfg) != PROFCORE_OK) return;
    size_t need = profcore_size(&cfg);
    /* Exactly `need` bytes: an access past them is an alarm. */
    void *mem = malloc(need);
    if (mem == NULL) return;
    profcore *pc = NULL;
    /* Error paths of init on a valid configuration. */
    (void)profcore_init(mem, need - 8u, &cfg, &pc); /* E_SIZE */
    (void)profcore_init(mem, need, &cfg, NULL);     /* E_NULL */
    (void)profcore_init(NULL, need, &cfg, &pc);     /* E_NULL */
    if (profcore_init(mem, need, &cfg, &pc) != PROFCORE_OK) return;
    calls(pc, shards, max_depth);
    free(mem);
}

/* Any sequence of calls, of any length, on an initialised handle. */
static void calls(profcore *pc, uint32_t shards, uint32_t max_depth) {
    /* Other threads' words, driven as their CAS would. */
    uint32_t held = 0; /* shard the other writer holds */
    int holding = 0;
    int other_reader = 0;
    int loss_inflight = 0;
    while (any_bool()) {
        switch (any_u32(0, 13)) {
        case 0: any_add(pc, max_depth, 0); break;
        case 1: any_add(pc, max_depth, 1); break;
        case 2: (void)profcore_add_loss(pc, any_u32(0, UINT32_MAX), any_u32(0, UINT32_MAX)); break;
        case 3: (void)profcore_drain(pc, pc_emit_contract, NULL); break;
        case 4: {
            uint32_t busy;
            (void)profcore_collect(pc, pc_emit_contract, NULL, &busy);
            break;
        }
        case 5: (void)profcore_collect(pc, pc_emit_contract, NULL, NULL); break;
        case 6: (void)profcore_stop(pc); break;
        case 7: (void)profcore_final_drain(pc, pc_emit_contract, NULL); break;
        case 8: {
            profcore_stats st;
            (void)profcore_stats_read(pc, &st);
            break;
        }
        case 9: /* another writer takes a shard (its CAS) or releases it */
            if (!holding) {
                held = any_u32(0, shards - 1u);
                if (pc_cas_seqcst_u32(&pc->shards[held].owner, PC_OWNER_FREE, PC_OWNER_WRITER))
                    holding = 1;
            } else {
                pc_store_release_u32(&pc->shards[held].owner, PC_OWNER_FREE);
                holding = 0;
            }
            break;
        case 10: /* another reader enters or leaves its call */
            if (!other_reader) {
                if (pc_cas_acqrel_u32(&pc->reader, 0u, 1u)) other_reader = 1;
            } else {
                pc_store_release_u32(&pc->reader, 0u);
                other_reader = 0;
            }
            break;
        case 11: /* a loss-only add of another thread enters or leaves its bracket */
            if (!loss_inflight) {
                (void)pc_add_seqcst_u32(&pc->loss_inflight, 1u);
                loss_inflight = 1;
            } else {
                (void)pc_sub_release_u32(&pc->loss_inflight, 1u);
                loss_inflight = 0;
            }
            break;
        case 12: (void)profcore_drain(pc, NULL, NULL); break; /* E_NULL */
        default: {
            profcore_stats *none = NULL;
            (void)profcore_stats_read(pc, none); /* E_NULL */
            break;
        }
        }
        eva_split_key = 0; /* the case splits end with the call */
    }
    /* The end of a profile: stop, final drain, then every call is refused. */
    (void)profcore_stop(pc);
    (void)profcore_final_drain(pc, pc_emit_contract, NULL);
    any_add(pc, max_depth, 0);
    (void)profcore_drain(pc, pc_emit_contract, NULL);
    (void)profcore_final_drain(pc, pc_emit_contract, NULL);
}

/* Every field any 32-bit value; every error path of the setup calls; every
 * call on a NULL handle and on memory that is not a handle. */
static void invalid(void) {
    profcore_config cfg;
    cfg.shards = any_u32(0, UINT32_MAX);
    cfg.buckets = any_u32(0, UINT32_MAX);
    cfg.ways = any_u32(0, UINT32_MAX);
    cfg.max_depth = any_u32(0, UINT32_MAX);
    cfg.log_words = any_u32(0, UINT32_MAX);
    (void)profcore_check_config(&cfg);
    (void)profcore_check_config(NULL);
    (void)profcore_size(&cfg);
    (void)profcore_size(NULL);
    /* A block smaller than any valid configuration needs: init fails with
     * the error of the first bad field, or E_SIZE, before writing. */
    static uint64_t small[8];
    profcore *pc = NULL;
    (void)profcore_init(small, sizeof small, &cfg, &pc);
    (void)profcore_init(small, sizeof small, NULL, &pc);
    /* Misaligned block (in a larger allocation, so that Eva, which does
     * not know addresses modulo 8, may follow the aligned path too). */
    profcore_config ok = {1u, 1u, 1u, 2u, 5u};
    size_t need = profcore_size(&ok);
    unsigned char *big = malloc(need + 8u);
    if (big != NULL) {
        profcore *tmp = NULL;
        (void)profcore_init(big + 1, need, &ok, &tmp);
        free(big);
    }
    /* A name for any reason, in range or not: the result is read. */
    const char *name = profcore_loss_name(any_u32(0, UINT32_MAX));
    emitted_tags ^= (uint64_t)(unsigned char)name[0];
    /* NULL handle and a block that is not a handle (bad magic). */
    static uint64_t not_a_handle[64];
    profcore *bad[2] = {NULL, (profcore *)(void *)not_a_handle};
    uintptr_t frames[2] = {0x1000u, 0x2000u};
    profcore_stats st;
    uint32_t busy;
    for (int k = 0; k < 2; k++) {
        profcore *h = bad[k];
        (void)profcore_add(h, 1u, frames, 2u, 1u, 0u);
        (void)profcore_add_nohandoff(h, 1u, frames, 2u, 1u, 0u);
        (void)profcore_add_loss(h, PROFCORE_LOSS_UNWIND, 1u);
        (void)profcore_stats_read(h, &st);
        (void)profcore_drain(h, pc_emit_contract, NULL);
        (void)profcore_collect(h, pc_emit_contract, NULL, &busy);
        (void)profcore_stop(h);
        (void)profcore_final_drain(h, pc_emit_contract, NULL);
    }
}

int main(void) {
#ifndef EVA_NO_INVALID
    invalid();
#endif
#ifdef EVA_S
    /* One configuration: -DEVA_S=.. -DEVA_B=.. -DEVA_W=.. -DEVA_D=.. -DEVA_L=.. */
    scenario(EVA_S, EVA_B, EVA_W, EVA_D, EVA_L);
#else
    /* shards, buckets, ways, max_depth, log_words: the list run-eva checks
     * (see the header for why it is this short). */
    EVA_CONFIGS
#endif
    return 0;
}
