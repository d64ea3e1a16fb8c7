/* fuzz/unwind/libfuzzer.c — libFuzzer entry: a failing input prints what
 * broke and aborts (libFuzzer saves it as crash-<sha1>). */
#include <stdlib.h>

#include "harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (uf_run(data, size) != 0) {
        uf_print_report(stderr);
        abort();
    }
    return 0;
}
