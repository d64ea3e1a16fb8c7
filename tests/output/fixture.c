/* fixture.c — see fixture.h.  Keep the call lines as they are: the tests
 * compare symbolized lines against the __LINE__ recorded beside each call. */
#include <string.h>

#include "fixture.h"

#define NOINLINE __attribute__((noinline))

volatile int fixture_sink; /* used after each call so no call becomes a tail call */

NOINLINE static uint64_t fixture_return_address(void) {
    return (uint64_t)(uintptr_t)__builtin_return_address(0);
}

NOINLINE void fixture_leaf(uint64_t *out) {
    *out = fixture_return_address();
    fixture_sink++;
}

NOINLINE void fixture_level_b(fixture *fx) {
    fx->ra_b = fixture_return_address(); fx->line_b = __LINE__;
    fixture_sink++;
}

NOINLINE void fixture_level_c(fixture *fx) {
    fx->ra_c = fixture_return_address(); fx->line_c = __LINE__;
    fixture_sink++;
}

static inline __attribute__((always_inline)) uint64_t fixture_inlined(int *line) {
    uint64_t r = fixture_return_address(); *line = __LINE__;
    fixture_sink++;
    return r;
}

NOINLINE void fixture_level_d(fixture *fx) {
    fx->ra_d = fixture_inlined(&fx->line_inlined); fx->line_d_call = __LINE__;
    fixture_sink++;
}

static void set_stack(fixture *fx, int i, uint64_t weight, uint64_t tag, uint32_t depth) {
    fx->stacks[i].weight = weight;
    fx->stacks[i].tag = tag;
    fx->stacks[i].depth = depth;
    fx->stacks[i].frames = fx->frames[i];
}

void fixture_build(fixture *fx) {
    memset(fx, 0, sizeof *fx);
    fixture_leaf(&fx->ra_leaf);
    fixture_level_b(fx);
    fixture_level_c(fx);
    fixture_level_d(fx);
    uint64_t *f;
    f = fx->frames[0], f[0] = fx->ra_leaf, f[1] = fx->ra_b, f[2] = fx->ra_c;
    set_stack(fx, 0, 5, PCPROF_TAG_MAKE(1234, 1, PCPROF_STATE_RUNNING, 0), 3);
    f = fx->frames[1], f[0] = fx->ra_leaf, f[1] = fx->ra_b, f[2] = fx->ra_c;
    set_stack(fx, 1, 4, PCPROF_TAG_MAKE(999, 0, 0, 0), 3);
    f = fx->frames[2], f[0] = fx->ra_leaf, f[1] = fx->ra_d, f[2] = fx->ra_c;
    set_stack(fx, 2, 3, PCPROF_TAG_MAKE(1235, 0, 0, 1), 3);
    fx->frames[3][0] = PROFCORE_FRAME_LOST(PROFCORE_LOSS_CONTENDED);
    set_stack(fx, 3, 7, 0, 1);
    fx->frames[4][0] = PROFCORE_FRAME_LOST(PROFCORE_LOSS_LOG_FULL);
    set_stack(fx, 4, 2, 0, 1);
    f = fx->frames[5], f[0] = fx->ra_leaf, f[1] = fx->ra_b, f[2] = PROFCORE_FRAME_TRUNCATED;
    set_stack(fx, 5, 1, PCPROF_TAG_MAKE(1234, 0, PCPROF_STATE_SLEEPING, 0), 3);

    fx->labels[0] = NULL;
    fx->labels[1] = "worker";
    pcprof_profile *p = &fx->profile;
    p->stacks = fx->stacks;
    p->nstacks = 6;
    p->period_ns = FIXTURE_PERIOD_NS;
    p->start_unix_ns = 1700000000000000000ll;
    p->duration_ns = 2000000000ll;
    p->engine = "ctimer";
    p->hz = 100;
    p->labels = fx->labels;
    p->nlabels = 2;
    p->core.offered_samples = 25;
    p->core.offered_weight = 25;
    p->core.recorded_samples = 14;
    p->core.recorded_weight = 13;
    p->core.lost_samples[PROFCORE_LOSS_CONTENDED] = 6;
    p->core.lost_weight[PROFCORE_LOSS_CONTENDED] = 7;
    p->core.lost_samples[PROFCORE_LOSS_LOG_FULL] = 2;
    p->core.lost_weight[PROFCORE_LOSS_LOG_FULL] = 2;
    p->core.rejected_samples = 3;
    p->core.rejected_weight = 3;
    p->cpu_measured_ns = 260000000ull;
    p->handler_samples = 25;
    p->handler_ns_total = 50000;
    p->handler_ns_max = 9000;
}
