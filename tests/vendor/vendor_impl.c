/* tests/vendor/vendor_impl.c — the one file that instantiates the core
 * (see vendor_c.c; compiled as C, or as C++ by tests/vendor/run). */
#define PROFCORE_IMPLEMENTATION
#include "profcore.h"
