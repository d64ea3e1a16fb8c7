/* unwind_core.c — the library's single copy of the table walker
 * (core/profcore_unwind.h).  Built with -fvisibility=hidden, so the shared
 * library does not export it. */
#define PROFCORE_UNWIND_IMPLEMENTATION
#include "profcore_unwind.h"
