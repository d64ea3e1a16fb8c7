/* The walker's freestanding check: compiled with -ffreestanding, linked
 * with -nostdlib and no start files, for x86_64 (gcc, clang) and aarch64
 * (aarch64-linux-gnu-gcc).  A call the compiler invents (memcpy, memset) or
 * any outside function fails the link or the `nm -u` check. */
#define PROFCORE_UNWIND_IMPLEMENTATION
#include "profcore_unwind.h"

void _start(void);
void _start(void) {
    for (;;) {
    }
}
