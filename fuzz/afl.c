/* fuzz/afl.c — AFL++ persistent-mode entry (build with afl-clang-fast).
 * A failing input prints its schedule and aborts (AFL saves it as a crash;
 * a harness-detected hang is a crash too, its report says HANG). */
#include <stdlib.h>
#include <unistd.h>

#include "harness.h"

__AFL_FUZZ_INIT();

int main(void) {
    __AFL_INIT();
    unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(100000)) {
        size_t len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
        if (fz_run(buf, len) != 0) {
            fz_print_report(stderr);
            abort();
        }
    }
    return 0;
}
