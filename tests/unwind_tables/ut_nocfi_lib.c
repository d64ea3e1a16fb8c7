/* ut_nocfi_lib.c — a library with no call-frame information at all (built
 * -fno-asynchronous-unwind-tables -fno-unwind-tables, with frame pointers):
 * hard_places' nocfi scenario checks that the summary names it and that
 * the walk crosses it by the frame-pointer fallback. */
#include <stdint.h>

/* Called through a volatile pointer: ut_nocfi_spin is not a leaf, so gcc
 * keeps its frame record (it drops it in leaves even with
 * -mno-omit-leaf-frame-pointer), and the fallback has one to follow. */
static uint64_t ut_nocfi_finish(uint64_t x) { return x ^ 1u; }
static uint64_t (*volatile ut_nocfi_finish_ptr)(uint64_t) = ut_nocfi_finish;

uint64_t ut_nocfi_spin(uint64_t n) {
    uint64_t x = n;
    for (uint64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        __asm__ volatile("" : "+r"(x));
    }
    return ut_nocfi_finish_ptr(x) + 1u;
}
