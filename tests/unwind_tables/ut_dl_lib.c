/* ut_dl_lib.c — the library hard_places' dlstorm scenario loads and unloads
 * in a loop (built -O2 -fomit-frame-pointer, so only its table walks it). */
#include <stdint.h>

__attribute__((noinline)) static uint64_t ut_dl_inner(uint64_t n) {
    uint64_t x = n;
    for (uint64_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        __asm__ volatile("" : "+r"(x));
    }
    return x;
}

uint64_t ut_dl_spin(uint64_t n) {
    uint64_t r = ut_dl_inner(n);
    __asm__ volatile("" : "+r"(r));
    return r + 1;
}
