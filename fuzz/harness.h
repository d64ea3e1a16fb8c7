/* fuzz/harness.h — the one entry point every driver (libFuzzer, AFL++,
 * replay) shares: decode an input into a configuration, thread scripts and
 * a schedule, run it under the cooperative scheduler, check the oracles. */
#ifndef FUZZ_HARNESS_H
#define FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Runs one input.  Returns 0 when every oracle held, 1 when one failed
 * (an oracle violation, or a hang: an operation exceeded its yield bound).
 * Deterministic: the same bytes give the same schedule and the same result. */
int fz_run(const uint8_t *data, size_t size);

/* After a failing fz_run: the violated oracle, the decoded input and the
 * schedule that led to it (see fuzz/README.md, "Reading a failing schedule"). */
void fz_print_report(FILE *out);

/* 1 when the last failure was a hang (wait-freedom oracle), else 0. */
int fz_last_was_hang(void);

/* Print the whole schedule trace of every run, not only of failing ones. */
void fz_set_verbose(int on);

#endif
