/* proofs/profcore_acsl.h — the ACSL vocabulary the proofs of
 * core/profcore.h share: the shape of a valid handle, the lemmas, the
 * logic names of the carved block, and the contracts common to several
 * functions.  Read only by Frama-C: core/profcore.h includes it after its
 * types when PROFCORE_FRAMAC_LOGIC names this file (proofs/run-wp does).
 * Each function's own contract stays beside the function in the core.
 * What is assumed here (the axioms) is listed in proofs/README.md. */
#ifndef PROFCORE_ACSL_H
#define PROFCORE_ACSL_H

/* ---- the shape of a valid handle -----------------------------------------
 * The layout is what profcore_init builds; pc_valid is the precondition of
 * every public function on an initialised handle. */
/*@ axiomatic PcBits {
      // ASSUMED (WP's provers do not reason about bitwise and): masking a
      // non-negative integer with a non-negative mask stays within both.
      axiom pc_land_bounds: \forall integer a, m; 0 <= a && 0 <= m ==>
          0 <= (a & m) && (a & m) <= m && (a & m) <= a;
      axiom pc_xor1: \forall integer x; 0 <= x <= 1 ==> (x ^ 1) == 1 - x;
      // ASSUMED: left shifts of non-negative integers are multiplications.
      axiom pc_lsl: \forall integer a; 0 <= a ==>
          (a << 1) == a * 2 && (a << 5) == a * 32 && (a << 32) == a * 4294967296;
    }
    // Products of the layout (shard * table words, way * entry words, ...)
    // go through pc_mul: an uninterpreted wrapper the provers can trigger
    // lemmas on (SMT solvers neither find nonlinear bounds by themselves nor
    // instantiate lemmas on a bare `*`).  Each lemma is a proved WP goal.
    // pc_mul is declared with its defining axiom rather than as a plain
    // definition, because Why3 inlines a one-operator definition back into
    // `*` and the lemmas below would lose their triggers.
    axiomatic PcMul {
      logic integer pc_mul(integer a, integer b);
      axiom pc_mul_def: \forall integer a, b; pc_mul(a, b) == a * b;
    }
    lemma pc_mul_nonneg: \forall integer a, b; 0 <= a && 0 <= b ==> 0 <= pc_mul(a, b);
    lemma pc_mul_mono: \forall integer a, b, c, d; 0 <= a <= c && 0 <= b <= d ==>
      pc_mul(a, b) <= pc_mul(c, d);
    lemma pc_mul_step: \forall integer a, b, c; 0 <= a < b && 0 <= c ==>
      pc_mul(a, c) + c <= pc_mul(b, c);
    // The loss_inflight bracket: +1 then -1 in 32-bit arithmetic is no change.
    lemma pc_u32_inc_dec: \forall integer x; 0 <= x < 4294967295 ==>
      (uint32_t)((uint32_t)(x + 1) - 1) == x;
    predicate pc_cfg_valid(profcore_config c) =
      1 <= c.shards <= PROFCORE_MAX_SHARDS && (c.shards & (c.shards - 1)) == 0 &&
      1 <= c.buckets <= PROFCORE_MAX_BUCKETS && (c.buckets & (c.buckets - 1)) == 0 &&
      1 <= c.ways <= PROFCORE_MAX_WAYS &&
      2 <= c.max_depth <= PROFCORE_MAX_DEPTH &&
      PROFCORE_RECORD_HEADER_WORDS + c.max_depth <= c.log_words <= PROFCORE_MAX_LOG_WORDS;
    // Words of an entry, of a bucket, of a shard's table (flat entries x
    // entry words), of all tables, of all logs.
    logic integer pc_ew(profcore_config c) = PROFCORE_RECORD_HEADER_WORDS + c.max_depth;
    logic integer pc_entries(profcore_config c) = pc_mul(c.buckets, c.ways);
    logic integer pc_bw(profcore_config c) = pc_mul(c.ways, pc_ew(c));
    logic integer pc_tw(profcore_config c) = pc_mul(pc_entries(c), pc_ew(c));
    logic integer pc_log_total(profcore_config c) = pc_mul(c.shards * 2, c.log_words);
    lemma pc_sizes: \forall profcore_config c; pc_cfg_valid(c) ==>
      5 <= pc_ew(c) <= 1027 && 1 <= pc_entries(c) <= 67108864 &&
      5 <= pc_bw(c) <= 65728 && pc_bw(c) == pc_mul(c.ways, pc_ew(c)) &&
      pc_tw(c) == pc_mul(c.buckets, pc_bw(c)) &&
      5 <= pc_tw(c) <= 68920803328 && pc_mul(c.shards, pc_tw(c)) <= 17643725651968 &&
      1 <= pc_log_total(c) <= 137438953472;
    // Entry i of shard t lies inside the tables (pc_tables_ok's addresses).
    lemma pc_entry_in_tables: \forall profcore_config c, integer t, i;
      pc_cfg_valid(c) && 0 <= t < c.shards && 0 <= i < pc_entries(c) ==>
        0 <= pc_mul(t, pc_tw(c)) + pc_mul(i, pc_ew(c)) &&
        pc_mul(t, pc_tw(c)) + pc_mul(i, pc_ew(c)) + pc_ew(c) <= pc_mul(c.shards, pc_tw(c));
    // A used table entry records a depth the log and the reader can copy.
    // The table predicates take the header values (max_depth, the table
    // pointer, the entry size) as arguments, so their bodies read table
    // words only: a write to a 32-bit word (an owner CAS, a log index)
    // leaves them intact given a few header equalities, with no argument
    // over every entry (WP keeps one memory per integer type).
    predicate pc_entry_ok{L}(integer max_depth, uint64_t *e) =
      e[PC_ENTRY_COUNT] != 0 ==> 1 <= (e[PC_ENTRY_META] & 0xffffffff) <= max_depth;
    predicate pc_table_ok_at{L}(profcore_config c, uint64_t *tables, integer ew, integer s) =
      \forall integer i; 0 <= i < pc_entries(c) ==>
        pc_entry_ok(c.max_depth, tables + pc_mul(s, pc_tw(c)) + pc_mul(i, ew));
    predicate pc_shard_table_ok{L}(profcore *pc, integer s) =
      pc_table_ok_at(pc->cfg, pc->tables, pc->entry_words, s);
    predicate pc_tables_ok{L}(profcore *pc) =
      \forall integer s; 0 <= s < pc->cfg.shards ==>
        pc_table_ok_at(pc->cfg, pc->tables, pc->entry_words, s);
    predicate pc_shards_ok{L}(profcore *pc) =
      \forall integer s; 0 <= s < pc->cfg.shards ==>
        pc->shards[s].active <= 1 && pc->shards[s].used <= pc->cfg.log_words;
    predicate pc_layout{L}(profcore *pc) =
      \valid(pc) && pc_cfg_valid(pc->cfg) &&
      pc->entry_words == PROFCORE_RECORD_HEADER_WORDS + pc->cfg.max_depth &&
      \valid(pc->shards + (0 .. pc->cfg.shards - 1)) &&
      \valid(pc->tables + (0 .. pc_mul(pc->cfg.shards, pc_tw(pc->cfg)) - 1)) &&
      \valid(pc->logs + (0 .. pc_log_total(pc->cfg) - 1)) &&
      \separated(pc, pc->shards + (0 .. pc->cfg.shards - 1),
                 pc->tables + (0 .. pc_mul(pc->cfg.shards, pc_tw(pc->cfg)) - 1),
                 pc->logs + (0 .. pc_log_total(pc->cfg) - 1));
    predicate pc_valid{L}(profcore *pc) = pc_layout(pc) && pc_shards_ok(pc) && pc_tables_ok(pc);
    // pc_tables_ok from its unfolded form: proved here in an empty context,
    // it saves a large function context two nested unfoldings.
    lemma pc_tables_ok_intro{L}: \forall profcore *pc;
      (\forall integer t, i; 0 <= t < pc->cfg.shards && 0 <= i < pc_entries(pc->cfg) ==>
         pc_entry_ok(pc->cfg.max_depth,
                     pc->tables + pc_mul(t, pc_tw(pc->cfg)) + pc_mul(i, pc->entry_words))) ==>
      pc_tables_ok(pc);
    // The frame of a harvest (pc_harvest_shard), in small steps: a word of
    // entry i lies inside its shard's table; two shards' tables are apart
    // and inside the tables; so a write to shard s's table words only
    // leaves every other shard's entries unchanged, and they keep their
    // predicate.  Stated once here, in an empty context: in a function
    // context the same argument times out (see proofs/README.md).
    lemma pc_entry_word_in_table: \forall profcore_config c, integer i, w;
      pc_cfg_valid(c) && 0 <= i < pc_entries(c) && 0 <= w < pc_ew(c) ==>
        0 <= pc_mul(i, pc_ew(c)) + w < pc_tw(c);
    lemma pc_shard_tables_apart: \forall profcore_config c, integer s, t;
      pc_cfg_valid(c) && 0 <= s < c.shards && 0 <= t < c.shards && s != t ==>
        pc_mul(t, pc_tw(c)) + pc_tw(c) <= pc_mul(s, pc_tw(c)) ||
        pc_mul(s, pc_tw(c)) + pc_tw(c) <= pc_mul(t, pc_tw(c));
    lemma pc_shard_table_in: \forall profcore_config c, integer t;
      pc_cfg_valid(c) && 0 <= t < c.shards ==>
        0 <= pc_mul(t, pc_tw(c)) && pc_mul(t, pc_tw(c)) + pc_tw(c) <= pc_mul(c.shards, pc_tw(c));
    lemma pc_entry_frame{L1,L2}: \forall integer md, uint64_t *e;
      pc_entry_ok{L1}(md, e) &&
      \at(e[PC_ENTRY_COUNT], L1) == \at(e[PC_ENTRY_COUNT], L2) &&
      \at(e[PC_ENTRY_META], L1) == \at(e[PC_ENTRY_META], L2) ==>
      pc_entry_ok{L2}(md, e);
    lemma pc_table_frame{L1,L2}: \forall profcore_config c, uint64_t *tables, integer ew, t;
      pc_table_ok_at{L1}(c, tables, ew, t) &&
      (\forall integer i; 0 <= i < pc_entries(c) ==>
         \at((tables + pc_mul(t, pc_tw(c)) + pc_mul(i, ew))[PC_ENTRY_COUNT], L1) ==
         \at((tables + pc_mul(t, pc_tw(c)) + pc_mul(i, ew))[PC_ENTRY_COUNT], L2) &&
         \at((tables + pc_mul(t, pc_tw(c)) + pc_mul(i, ew))[PC_ENTRY_META], L1) ==
         \at((tables + pc_mul(t, pc_tw(c)) + pc_mul(i, ew))[PC_ENTRY_META], L2)) ==>
      pc_table_ok_at{L2}(c, tables, ew, t);
    lemma pc_other_entries_kept{L1,L2}: \forall profcore_config c, uint64_t *tables, integer s, t;
      pc_cfg_valid(c) && 0 <= s < c.shards && 0 <= t < c.shards && t != s &&
      (\forall integer k; 0 <= k < pc_mul(c.shards, pc_tw(c)) &&
         (k < pc_mul(s, pc_tw(c)) || pc_mul(s, pc_tw(c)) + pc_tw(c) <= k) ==>
         \at(tables[k], L1) == \at(tables[k], L2)) ==>
      \forall integer i; 0 <= i < pc_entries(c) ==>
         \at((tables + pc_mul(t, pc_tw(c)) + pc_mul(i, pc_ew(c)))[PC_ENTRY_COUNT], L1) ==
         \at((tables + pc_mul(t, pc_tw(c)) + pc_mul(i, pc_ew(c)))[PC_ENTRY_COUNT], L2) &&
         \at((tables + pc_mul(t, pc_tw(c)) + pc_mul(i, pc_ew(c)))[PC_ENTRY_META], L1) ==
         \at((tables + pc_mul(t, pc_tw(c)) + pc_mul(i, pc_ew(c)))[PC_ENTRY_META], L2);
    // The header words the table predicates depend on, equal in two states.
    // Field by field: a struct equality is a predicate to the provers, from
    // which they do not conclude that pc_tw() of both sides is equal.
    predicate pc_same_header{L1,L2}(profcore *pc) =
      \at(pc->cfg.shards, L1) == \at(pc->cfg.shards, L2) &&
      \at(pc->cfg.buckets, L1) == \at(pc->cfg.buckets, L2) &&
      \at(pc->cfg.ways, L1) == \at(pc->cfg.ways, L2) &&
      \at(pc->cfg.max_depth, L1) == \at(pc->cfg.max_depth, L2) &&
      \at(pc->cfg.log_words, L1) == \at(pc->cfg.log_words, L2) &&
      \at(pc->entry_words, L1) == \at(pc->entry_words, L2) &&
      \at(pc->tables, L1) == \at(pc->tables, L2);
    // A handle argument: NULL, or readable magic; with the magic, valid.
    predicate pc_handle_arg{L}(profcore *pc) =
      pc == \null || (\valid_read(&pc->magic) &&
                      (pc->magic == PROFCORE_MAGIC ==> pc_valid(pc)));
    // The core's memory, which caller buffers must not overlap.
    predicate pc_apart{L}(profcore *pc, uint64_t *a, integer n) =
      \separated(a + (0 .. n - 1), pc, pc->shards + (0 .. pc->cfg.shards - 1),
                 pc->tables + (0 .. pc_mul(pc->cfg.shards, pc_tw(pc->cfg)) - 1),
                 pc->logs + (0 .. pc_log_total(pc->cfg) - 1));
*/

/*@ axiomatic PcBlock {
      // The objects the carve cuts out of block `mem` for configuration c.
      // Names only (no axiom): profcore_init's assigns clause lists them,
      // since typed memory cannot name them through `void *mem`.
      logic profcore *pc_block_handle(void *mem);
      logic struct profcore_shard *pc_block_shards(void *mem);
      logic uint64_t *pc_block_tables(void *mem, profcore_config c);
      logic uint64_t *pc_block_logs(void *mem, profcore_config c);
    } */

/*@ // A checked stack: depth within the configuration, the kept frames readable.
    predicate pc_stack_ok{L}(pc_stack st, integer max_depth) =
      1 <= st.depth <= max_depth &&
      (st.truncated != 0 ? st.kept == st.depth - 1 : st.kept == st.depth) &&
      \valid_read(st.frames + (0 .. st.kept - 1));
    // Entry e holds exactly the stack st (what pc_entry_matches decides).
    predicate pc_entry_equal{L}(uint64_t *e, pc_stack st) =
      e[PC_ENTRY_COUNT] != 0 &&
      e[PC_ENTRY_META] == (((uint64_t)st.hash << 32) | st.depth) &&
      e[PC_ENTRY_TAG] == st.tag &&
      (\forall integer i; 0 <= i < st.kept ==>
         e[PROFCORE_RECORD_HEADER_WORDS + i] == (uint64_t)st.frames[i]) &&
      (st.truncated == 0 || e[PROFCORE_RECORD_HEADER_WORDS + st.kept] == PROFCORE_FRAME_TRUNCATED);
*/

/*@ logic integer pc_active_at{L}(profcore *pc, integer s) =
      pc_mul(s * 2 + pc->shards[s].active, pc->cfg.log_words) + pc->shards[s].used; */

/*@ logic uint64_t pc_way_count{L}(uint64_t *bucket, integer ew, integer w) =
      bucket[pc_mul(w, ew) + PC_ENTRY_COUNT]; */

/* The outcome of work done with a shard held (pc_evict, pc_table_put,
 * pc_add_owned): the sample is recorded, or it is lost and exactly one of
 * the two owned loss counters (LOG_FULL, NOHANDOFF_FULL) grew by its
 * weight.  ACSL only, like PC_ADD_CONTRACT below. */
#define PC_OWNED_OUTCOME \
    ensures \result == PROFCORE_RECORDED || \result == PROFCORE_RECORDED_HANDOFF || \
            \result == PROFCORE_LOST; \
    PC_OWNED_LOSSES
/* PC_OWNED_OUTCOME without the list of results: pc_add_owned has one more,
 * PC_STACK_RESERVED (nothing written, the caller counts the loss). */
#define PC_OWNED_LOSSES \
    ensures \result == PROFCORE_RECORDED_HANDOFF ==> may_handoff; \
    ensures \result != PROFCORE_LOST ==> \
      pc->lost_weight[PROFCORE_LOSS_LOG_FULL] == \old(pc->lost_weight[PROFCORE_LOSS_LOG_FULL]) && \
      pc->lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL] == \old(pc->lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL]); \
    ensures \result == PROFCORE_LOST ==> \
      (pc->lost_weight[PROFCORE_LOSS_LOG_FULL] == (profcore_counter)(\old(pc->lost_weight[PROFCORE_LOSS_LOG_FULL]) + weight) && \
       pc->lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL] == \old(pc->lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL])) || \
      (pc->lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL] == (profcore_counter)(\old(pc->lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL]) + weight) && \
       pc->lost_weight[PROFCORE_LOSS_LOG_FULL] == \old(pc->lost_weight[PROFCORE_LOSS_LOG_FULL]));

/* The contract of an add, shared by pc_add, profcore_add and
 * profcore_add_nohandoff (ACSL only: Frama-C preprocesses annotations, the
 * compilers never expand it).  The shard words are listed field by field
 * (every field but the padding): the owner CAS loop's `assigns` then
 * matches them one to one, where an inclusion in whole structs left the
 * provers an arithmetic-only existential they do not instantiate. */
#define PC_ADD_CONTRACT \
    requires pc_handle_arg(pc); \
    requires pc != \null && pc->magic == PROFCORE_MAGIC ==> pc->loss_inflight < 4294967295; \
    requires frames == \null || \valid_read(frames + (0 .. depth - 1)); \
    requires pc != \null && pc->magic == PROFCORE_MAGIC && frames != \null ==> \
             pc_apart(pc, (uint64_t *)frames, depth); \
    assigns pc->shards[0 .. pc->cfg.shards - 1].owner, \
            pc->shards[0 .. pc->cfg.shards - 1].handoff, \
            pc->shards[0 .. pc->cfg.shards - 1].active, \
            pc->shards[0 .. pc->cfg.shards - 1].used, \
            pc->shards[0 .. pc->cfg.shards - 1].recorded_samples, \
            pc->shards[0 .. pc->cfg.shards - 1].recorded_weight, \
            pc->shards[0 .. pc->cfg.shards - 1].evictions, \
            pc->shards[0 .. pc->cfg.shards - 1].handoffs, \
            pc->shards[0 .. pc->cfg.shards - 1].truncated, \
            pc->tables[0 .. pc_mul(pc->cfg.shards, pc_tw(pc->cfg)) - 1], \
            pc->logs[0 .. pc_log_total(pc->cfg) - 1], \
            pc->loss_inflight, pc->lost_samples[0 .. PROFCORE_LOSS_REASONS - 1], \
            pc->lost_weight[0 .. PROFCORE_LOSS_REASONS - 1], \
            pc->rejected_samples, pc->rejected_weight; \
    ensures pc == \null ==> \result == PROFCORE_E_NULL; \
    ensures \result == PROFCORE_E_NULL || \result == PROFCORE_E_NOT_INIT || \
            \result == PROFCORE_RECORDED || \result == PROFCORE_RECORDED_HANDOFF || \
            \result == PROFCORE_LOST || \result == PROFCORE_REJECTED; \
    ensures \result == PROFCORE_REJECTED ==> \
      pc->rejected_weight == (profcore_counter)(\old(pc->rejected_weight) + weight); \
    ensures \result != PROFCORE_REJECTED ==> pc->rejected_weight == \old(pc->rejected_weight); \
    ensures \result == PROFCORE_LOST ==> \exists integer r; 0 <= r < PROFCORE_LOSS_REASONS && \
      pc->lost_weight[r] == (profcore_counter)(\old(pc->lost_weight[r]) + weight);

#endif /* PROFCORE_ACSL_H */
