/* proofs/eva_atomics.h -- the atomics layer of core/profcore.h as EVA sees it.
 *
 * core/profcore.h includes the file named by PROFCORE_FRAMAC_STUBS instead
 * of its __atomic layer when Frama-C analyses it; proofs/run-eva passes this
 * file.  Same names and signatures as the core's layer, implemented as
 * plain sequential C: a load returns the stored value, a store writes it, a
 * CAS writes exactly when the value equals `expected`, the adds wrap like
 * the instructions.  This is exactly the sequential effect that the
 * contracts of proofs/atomics_stubs.h state, but with bodies, so that EVA
 * computes it instead of relying on contracts (EVA reads the memory through
 * the body and reports an invalid access as an alarm).
 *
 * Not modelled: memory ordering and other threads.  The driver
 * (proofs/eva_driver.c) plays the other threads' visible effects between
 * API calls instead (a shard held by a writer, a reader in its call, a
 * loss-only add in flight).  The interleavings inside a call are the SPIN
 * model's job (proofs/profcore.pml), weak memory TSan's (tests/, fuzz/). */
#ifndef PROFCORE_EVA_ATOMICS_H
#define PROFCORE_EVA_ATOMICS_H

/* Case analysis for Eva, no effect on any value (defined in
 * proofs/eva_driver.c, after the core, where struct profcore_shard is
 * complete): see there. */
static void pc_eva_before_cas(uint32_t *p, uint32_t desired);
static void pc_eva_split_word(const uint32_t *p);

static uint32_t pc_load_acquire_u32(const uint32_t *p) {
    pc_eva_split_word(p);
    return *p;
}
static uint32_t pc_load_seqcst_u32(const uint32_t *p) { return *p; }
static void pc_store_release_u32(uint32_t *p, uint32_t v) { *p = v; }
static void pc_store_seqcst_u32(uint32_t *p, uint32_t v) { *p = v; }
static bool pc_cas_seqcst_u32(uint32_t *p, uint32_t expected, uint32_t desired) {
    pc_eva_before_cas(p, desired);
    if (*p != expected) return false;
    *p = desired;
    return true;
}
static bool pc_cas_acqrel_u32(uint32_t *p, uint32_t expected, uint32_t desired) {
    if (*p != expected) return false;
    *p = desired;
    return true;
}
/* Modular adds written so that no C operation wraps: run-eva passes
 * -warn-unsigned-overflow, which then reports only the core's own wraps. */
static uint32_t pc_eva_add32(uint32_t a, uint32_t b) {
    return b <= UINT32_MAX - a ? a + b : b - (UINT32_MAX - a) - 1u;
}
static uint32_t pc_add_seqcst_u32(uint32_t *p, uint32_t v) {
    *p = pc_eva_add32(*p, v);
    return *p;
}
static uint32_t pc_sub_release_u32(uint32_t *p, uint32_t v) {
    *p = v <= *p ? *p - v : pc_eva_add32(*p, (uint32_t)(UINT32_MAX - v) + 1u);
    return *p;
}
static void pc_counter_add(profcore_counter *p, uint64_t v) {
    profcore_counter a = *p, b = (profcore_counter)v;
    *p = b <= (profcore_counter)~(profcore_counter)0 - a ? a + b
                                                        : b - ((profcore_counter)~(profcore_counter)0 - a) - 1u;
}
static uint64_t pc_counter_load(const profcore_counter *p) { return *p; }
static void pc_counter_bump_owned(profcore_counter *p, uint64_t v) { pc_counter_add(p, v); }

/* The reader callback the proofs name (proofs/atomics_stubs.h declares it
 * with its contract); the EVA driver defines it. */
void pc_emit_contract(void *ctx, const profcore_record *rec);

#endif
