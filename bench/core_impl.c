/* The core's implementation in its own translation unit, so that the
 * benchmark calls profcore_add through a real (non-inlined) call, exactly
 * as the profiler's signal handler does. */
#define PROFCORE_IMPLEMENTATION
#include "profcore.h"
