/* proofs/eva_driver.c -- EVA runs the whole API from this main():
 * nondeterministic configurations (every field over its full valid range,
 * and invalid ones), nondeterministic stacks, weights, hints, loss reasons,
 * and the reader calls in every order.  EVA must report 0 alarms.
 * Atomics are the contract stubs (proofs/atomics_stubs.h); the reader's
 * callback is pc_emit_contract, defined here as a real summing callback. */
#define PROFCORE_IMPLEMENTATION
#include "profcore.h"
#include "__fc_builtin.h"

#define MEM_WORDS 4096u
static uint64_t memory[MEM_WORDS];
static uint64_t emitted_weight;
static uint64_t emitted_frames;

void pc_emit_contract(void *ctx, const profcore_record *rec) {
    (void)ctx;
    emitted_weight += rec->weight & 0xffff;
    for (uint32_t i = 0; i < rec->depth; i++) emitted_frames ^= rec->frames[i];
}

static uint32_t any_u32(uint32_t lo, uint32_t hi) {
    return (uint32_t)Frama_C_unsigned_int_interval(lo, hi);
}

int main(void) {
    profcore_config cfg;
    /* Small but nondeterministic: each field covers valid and invalid
     * values (the memory bound keeps only a few configurations usable). */
#ifdef EVA_SHARDS
    /* One concrete configuration per run (-DEVA_SHARDS=.. -DEVA_BUCKETS=.. ...). */
    profcore_config fixed = {EVA_SHARDS, EVA_BUCKETS, EVA_WAYS, EVA_DEPTH, EVA_LOG};
    cfg = fixed;
#else
    cfg.shards = any_u32(0, 4);
    cfg.buckets = any_u32(0, 4);
    cfg.ways = any_u32(0, 3);
    cfg.max_depth = any_u32(1, 5);
    cfg.log_words = any_u32(3, 16);
#endif
    (void)profcore_check_config(&cfg);
    size_t need = profcore_size(&cfg);
    profcore *pc = NULL;
    if (profcore_init(memory, sizeof memory, &cfg, &pc) != PROFCORE_OK) return 0;
    (void)need;
    uintptr_t frames[8];
    for (int k = 0; k < 8; k++) frames[k] = (uintptr_t)any_u32(0, 200);
    for (int round = 0; round < 12; round++) {
        uint32_t depth = any_u32(0, 8);
        uint32_t weight = any_u32(0, 5);
        uint32_t hint = any_u32(0, 0xffffffffu);
        uint64_t tag = any_u32(0, 3);
        switch (any_u32(0, 6)) {
        case 0: (void)profcore_add(pc, tag, frames, depth, weight, hint); break;
        case 1: (void)profcore_add_nohandoff(pc, tag, frames, depth, weight, hint); break;
        case 2: (void)profcore_add_loss(pc, any_u32(0, 10), weight); break;
        case 3: (void)profcore_drain(pc, pc_emit_contract, NULL); break;
        case 4: {
            uint32_t busy;
            (void)profcore_collect(pc, pc_emit_contract, NULL, &busy);
            break;
        }
        case 5: {
            profcore_stats st;
            (void)profcore_stats_read(pc, &st);
            break;
        }
        default: (void)profcore_add(pc, tag, frames, depth, weight, hint); break;
        }
    }
    (void)profcore_stop(pc);
    (void)profcore_final_drain(pc, pc_emit_contract, NULL);
    (void)profcore_add(pc, 1, frames, 3, 1, 0); /* after the final drain: rejected */
    return 0;
}
