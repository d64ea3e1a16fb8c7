/* core.c — the library's single copy of the core (core/profcore.h).  Built
 * with -fvisibility=hidden, so the shared library does not export it. */
#define PROFCORE_IMPLEMENTATION
#include "profcore.h"
