/* fuzz/unwind/harness.h — the walker's fuzz harness (see harness.c). */
#ifndef PROFCORE_FUZZ_UNWIND_HARNESS_H
#define PROFCORE_FUZZ_UNWIND_HARNESS_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Walks the snapshot, registers and stacks the input describes and checks
 * the walker's promises; 0 when all hold, else 1 (uf_print_report says why). */
int uf_run(const uint8_t *data, size_t len);
void uf_print_report(FILE *out);
#endif
