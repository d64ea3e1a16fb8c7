/* fuzz/libfuzzer.c — libFuzzer entry: a failing input prints its schedule
 * and aborts, which libFuzzer saves as crash-<sha1>. */
#include <stdlib.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fz_run(data, size) != 0) {
        fz_print_report(stderr);
        abort();
    }
    return 0;
}
