/* summary.c — the human summary printed at the end of a run.
 *
 *   samples   the core's counters: offered = recorded + lost + rejected
 *   CPU       weight x period (what the profile accounts for) against the
 *             process CPU time measured by the clock over the run
 *   losses    every reason, zero ones too, so a reader sees all were checked
 *   handler   the signal handler's own cost
 *   top N     functions by flat share (leaf, innermost inline frame) with
 *             their cumulative share (anywhere on the stack, once per stack);
 *             percentages are of the profile's total weight, losses included
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "output_internal.h"

typedef struct function_weights {
    pcout_strtab names;
    uint64_t *flat, *cum;
    size_t *last_stack; /* stack index + 1 that last added to cum: counts once per stack */
    size_t cap;
    int failed;
} function_weights;

static uint32_t fw_index(function_weights *fw, const char *name) {
    uint32_t i = pcout_strtab_intern(&fw->names, name);
    if (fw->names.failed) {
        fw->failed = 1;
        return 0;
    }
    if (i >= fw->cap) {
        size_t cap = fw->cap ? fw->cap * 2 : 256;
        uint64_t *flat = realloc(fw->flat, cap * sizeof *flat);
        if (flat) fw->flat = flat;
        uint64_t *cum = realloc(fw->cum, cap * sizeof *cum);
        if (cum) fw->cum = cum;
        size_t *last = realloc(fw->last_stack, cap * sizeof *last);
        if (last) fw->last_stack = last;
        if (!flat || !cum || !last) {
            fw->failed = 1;
            return 0;
        }
        memset(fw->flat + fw->cap, 0, (cap - fw->cap) * sizeof *flat);
        memset(fw->cum + fw->cap, 0, (cap - fw->cap) * sizeof *cum);
        memset(fw->last_stack + fw->cap, 0, (cap - fw->cap) * sizeof *last);
        fw->cap = cap;
    }
    return i;
}

static void fw_add(function_weights *fw, const char *name, size_t stack, uint64_t w, int leaf) {
    uint32_t i = fw_index(fw, name);
    if (fw->failed) return;
    if (leaf) fw->flat[i] += w;
    if (fw->last_stack[i] != stack + 1) {
        fw->last_stack[i] = stack + 1;
        fw->cum[i] += w;
    }
}

static void fw_add_stack(function_weights *fw, pcout_symbolizer *sym, const pcprof_stack *st,
                         size_t index) {
    for (uint32_t k = 0; k < st->depth && !fw->failed; k++) {
        uint64_t f = st->frames[k];
        if (pcout_frame_is_synthetic(f)) {
            fw_add(fw, pcprof_synthetic_name(f), index, st->weight, k == 0);
            continue;
        }
        const pcout_symbol *s = pcout_symbolize(sym, pcout_frame_address(f, k));
        if (!s) {
            fw->failed = 1;
            return;
        }
        for (uint32_t j = 0; j < s->nframes; j++)
            fw_add(fw, s->frames[j].function, index, st->weight, k == 0 && j == 0);
    }
}

static void fw_free(function_weights *fw) {
    pcout_strtab_free(&fw->names);
    free(fw->flat);
    free(fw->cum);
    free(fw->last_stack);
}

static const function_weights *sort_fw;
static int cmp_by_flat(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (sort_fw->flat[x] != sort_fw->flat[y]) return sort_fw->flat[x] > sort_fw->flat[y] ? -1 : 1;
    if (sort_fw->cum[x] != sort_fw->cum[y]) return sort_fw->cum[x] > sort_fw->cum[y] ? -1 : 1;
    return strcmp(sort_fw->names.strs[x], sort_fw->names.strs[y]);
}

static double pct(uint64_t part, uint64_t whole) {
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void print_top(FILE *out, const pcprof_profile *p, int top, uint64_t total) {
    if (top <= 0) return;
    pcout_symbolizer *sym = pcout_symbolizer_open();
    function_weights fw;
    memset(&fw, 0, sizeof fw);
    for (size_t i = 0; sym && i < p->nstacks && !fw.failed; i++) {
        const pcprof_stack *st = &p->stacks[i];
        if (st->depth && st->frames) fw_add_stack(&fw, sym, st, i);
    }
    uint32_t *order = fw.names.count ? malloc(fw.names.count * sizeof *order) : NULL;
    if (!sym || fw.failed || (fw.names.count && !order)) {
        fprintf(out, "  top functions: unavailable (out of memory)\n");
    } else {
        for (uint32_t i = 0; i < fw.names.count; i++) order[i] = i;
        sort_fw = &fw; /* the summary runs on one thread; qsort has no context argument */
        qsort(order, fw.names.count, sizeof *order, cmp_by_flat);
        size_t shown = fw.names.count < (size_t)top ? fw.names.count : (size_t)top;
        fprintf(out, "  top %zu functions by flat weight:\n", shown);
        fprintf(out, "  %10s %7s %7s  %s\n", "flat", "flat%", "cum%", "function");
        for (size_t r = 0; r < shown; r++) {
            uint32_t i = order[r];
            fprintf(out, "  %10llu %6.2f%% %6.2f%%  %s\n", (unsigned long long)fw.flat[i],
                    pct(fw.flat[i], total), pct(fw.cum[i], total), fw.names.strs[i]);
        }
    }
    free(order);
    fw_free(&fw);
    pcout_symbolizer_close(sym);
}

static void print_losses(FILE *out, const profcore_stats *c) {
    uint64_t samples = 0, weight = 0;
    for (int r = 0; r < PROFCORE_LOSS_REASONS; r++) {
        samples += c->lost_samples[r];
        weight += c->lost_weight[r];
    }
    fprintf(out, "  losses    %llu samples (weight %llu):", (unsigned long long)samples,
            (unsigned long long)weight);
    for (int r = 0; r < PROFCORE_LOSS_REASONS; r++)
        fprintf(out, "%s %s %llu/%llu", r ? "," : "", pcprof_loss_name((uint32_t)r),
                (unsigned long long)c->lost_samples[r], (unsigned long long)c->lost_weight[r]);
    fprintf(out, "  (samples/weight)\n");
}

void pcprof_print_summary(FILE *out, const pcprof_profile *p, int top) {
    if (!out || !p) return;
    const profcore_stats *c = &p->core;
    uint64_t total = 0, recorded = 0, tails = 0;
    for (size_t i = 0; i < p->nstacks; i++) {
        const pcprof_stack *st = &p->stacks[i];
        total += st->weight;
        int loss = st->depth == 1 && st->frames && st->frames[0] >= PROFCORE_FRAME_LOST(0) &&
                   st->frames[0] < PROFCORE_FRAME_LOST(PROFCORE_LOSS_REASONS);
        if (!loss) recorded += st->weight;
        if (st->depth == 1 && st->frames && st->frames[0] == PCPROF_FRAME_UNSAMPLED_TAIL) tails += st->weight;
    }
    uint64_t lost_w = 0, lost_samples = 0;
    for (int r = 0; r < PROFCORE_LOSS_REASONS; r++) {
        lost_w += c->lost_weight[r];
        lost_samples += c->lost_samples[r];
    }
    double period_s = (double)p->period_ns * 1e-9;
    double profiled = (double)recorded * period_s, lost = (double)lost_w * period_s;
    double measured = (double)p->cpu_measured_ns * 1e-9;

    fprintf(out, "profcore: engine %s at %u Hz, period %llu ns, %.3f s wall, %zu distinct stacks\n",
            p->engine ? p->engine : "?", p->hz, (unsigned long long)p->period_ns,
            (double)p->duration_ns * 1e-9, p->nstacks);
    fprintf(out,
            "  samples   offered %llu (weight %llu): recorded %llu (weight %llu), lost %llu, "
            "rejected %llu, truncated %llu\n",
            (unsigned long long)c->offered_samples, (unsigned long long)c->offered_weight,
            (unsigned long long)c->recorded_samples, (unsigned long long)c->recorded_weight,
            (unsigned long long)lost_samples,
            (unsigned long long)c->rejected_samples, (unsigned long long)c->truncated);
    fprintf(out, "  CPU       profiled %.3f s + lost %.3f s vs measured %.3f s: %.1f %% (%.1f %% with losses)\n",
            profiled, lost, measured, measured > 0 ? 100.0 * profiled / measured : 0.0,
            measured > 0 ? 100.0 * (profiled + lost) / measured : 0.0);
    /* Part of "profiled": CPU after each thread's last delivered expiry,
     * counted at its exit and at the stop, with no stack. */
    if (tails > 0)
        fprintf(out, "            of which %.3f s unsampled thread tails (%.1f %%): CPU no timer expiry reached\n",
                (double)tails * period_s, recorded ? 100.0 * (double)tails / (double)recorded : 0.0);
    /* Captured over the program's threads: the profiler's own threads run
     * inside the measured window but are never sampled. */
    if (p->helpers_cpu_ns > 0 && p->helpers_cpu_ns < p->cpu_measured_ns) {
        double program = (double)(p->cpu_measured_ns - p->helpers_cpu_ns) * 1e-9;
        fprintf(out, "  program   CPU of its threads %.3f s (measured less the profiler's threads): profiled %.1f %%\n",
                program, 100.0 * profiled / program);
    }
    if (p->startup_cpu_ns > 0 || p->helpers_cpu_ns > 0) {
        fprintf(out, "  profiler  own CPU: start-up %.1f ms (unwind tables included; before the measured window), "
                     "its threads %.1f ms",
                (double)p->startup_cpu_ns * 1e-6, (double)p->helpers_cpu_ns * 1e-6);
        if (p->write_cpu_ns > 0) fprintf(out, ", writing at stop %.1f ms", (double)p->write_cpu_ns * 1e-6);
        fprintf(out, "\n");
    }
    print_losses(out, c);
    double mean_us = p->handler_samples
                         ? (double)p->handler_ns_total / (double)p->handler_samples / 1000.0
                         : 0.0;
    fprintf(out, "  handler   %llu signals, mean %.2f us, max %.2f us, total %.3f s\n",
            (unsigned long long)p->handler_samples, mean_us, (double)p->handler_ns_max / 1000.0,
            (double)p->handler_ns_total * 1e-9);
    char lines[3][512];
    int n = pcprof_unwind_lines(p, lines);
    for (int i = 0; i < n; i++) fprintf(out, "  %s\n", lines[i]);
    print_top(out, p, top, total);
}
