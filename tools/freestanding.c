/* The freestanding check: the whole core, compiled with -ffreestanding and
 * linked with -nostdlib and no libc start files.  Any call the compiler
 * emitted to memcpy/memset or any other outside function fails the link. */
#define PROFCORE_IMPLEMENTATION
#include "profcore.h"

void _start(void);
void _start(void) {
    for (;;) {
    }
}
