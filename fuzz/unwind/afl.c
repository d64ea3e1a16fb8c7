/* fuzz/unwind/afl.c — AFL++ persistent-mode entry (afl-clang-fast): a
 * failing input prints what broke and aborts (AFL saves it as a crash). */
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

__AFL_FUZZ_INIT();

int main(void) {
    __AFL_INIT();
    unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(100000)) {
        size_t len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
        if (uf_run(buf, len) != 0) {
            uf_print_report(stderr);
            abort();
        }
    }
    return 0;
}
