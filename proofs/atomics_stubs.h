/* proofs/atomics_stubs.h — contract-only atomics for Frama-C.
 *
 * core/profcore.h includes this file instead of its __atomic layer when it
 * is analysed by Frama-C (__FRAMAC__ and -DPROFCORE_FRAMAC_STUBS="...").
 * Each function has the same name and signature as the real one and a
 * contract stating its *sequential* effect: a load returns the stored value,
 * a CAS writes exactly when the value equals `expected`, a counter add wraps
 * modulo 2^64 like the hardware instruction.  Memory ordering and other
 * threads are NOT modelled here: the concurrent protocol is the SPIN model's
 * job (proofs/profcore.pml) and weak memory is TSan's (tests/, fuzz/).
 *
 * The stubs are declarations only; WP uses the contracts as axioms (they are
 * "assumed", and proofs/README.md lists them as such).  EVA uses them too:
 * it interprets the assigns/ensures clauses of an undefined function.
 */
#ifndef PROFCORE_ATOMICS_STUBS_H
#define PROFCORE_ATOMICS_STUBS_H

/*@ requires \valid_read(p);
    assigns \nothing;
    ensures \result == *p; */
static uint32_t pc_load_relaxed_u32(const uint32_t *p);

/*@ requires \valid_read(p);
    assigns \nothing;
    ensures \result == *p; */
static uint32_t pc_load_acquire_u32(const uint32_t *p);

/*@ requires \valid_read(p);
    assigns \nothing;
    ensures \result == *p; */
static uint32_t pc_load_seqcst_u32(const uint32_t *p);

/*@ requires \valid(p);
    assigns *p \from v;
    ensures *p == v; */
static void pc_store_release_u32(uint32_t *p, uint32_t v);

/*@ requires \valid(p);
    assigns *p \from v;
    ensures *p == v; */
static void pc_store_seqcst_u32(uint32_t *p, uint32_t v);

/*@ requires \valid(p);
    assigns *p \from *p, expected, desired;
    behavior success:
      assumes *p == expected;
      ensures *p == desired;
      ensures \result == 1;
    behavior failure:
      assumes *p != expected;
      ensures *p == \old(*p);
      ensures \result == 0;
    complete behaviors;
    disjoint behaviors; */
static bool pc_cas_seqcst_u32(uint32_t *p, uint32_t expected, uint32_t desired);

/*@ requires \valid(p);
    assigns *p \from *p, expected, desired;
    behavior success:
      assumes *p == expected;
      ensures *p == desired;
      ensures \result == 1;
    behavior failure:
      assumes *p != expected;
      ensures *p == \old(*p);
      ensures \result == 0;
    complete behaviors;
    disjoint behaviors; */
static bool pc_cas_acqrel_u32(uint32_t *p, uint32_t expected, uint32_t desired);

/* The loss_inflight bracket: +1 then -1 by the same add.  Modular like the
 * instruction. */
/*@ requires \valid(p);
    assigns *p \from *p, v;
    ensures *p == (uint32_t)(\old(*p) + v);
    ensures \result == *p; */
static uint32_t pc_add_seqcst_u32(uint32_t *p, uint32_t v);

/*@ requires \valid(p);
    assigns *p \from *p, v;
    ensures *p == (uint32_t)(\old(*p) - v);
    ensures \result == *p; */
static uint32_t pc_sub_release_u32(uint32_t *p, uint32_t v);

/*@ requires \valid(p);
    assigns *p \from *p, v;
    ensures *p == (profcore_counter)(\old(*p) + v); */
static void pc_counter_add(profcore_counter *p, uint64_t v);

/*@ requires \valid_read(p);
    assigns \nothing;
    ensures \result == *p; */
static uint64_t pc_counter_load(const profcore_counter *p);

/*@ requires \valid(p);
    assigns *p \from *p, v;
    ensures *p == (profcore_counter)(\old(*p) + v); */
static void pc_counter_bump_owned(profcore_counter *p, uint64_t v);

/* The reader's callback, as the proofs see it: it may read the record it is
 * given and touches nothing of the core's memory (it is called with no
 * shard or reader state half-updated, but a callback that re-entered the
 * core would break the single-reader rule the manual states).  The reader
 * functions require emit == &pc_emit_contract, i.e. "some function with
 * this contract"; the EVA driver defines it as a real summing callback. */
/*@ requires \valid_read(rec) && \valid_read(rec->frames + (0 .. rec->depth - 1));
    assigns \nothing; */
void pc_emit_contract(void *ctx, const profcore_record *rec);

#endif
