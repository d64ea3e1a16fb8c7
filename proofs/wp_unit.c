/* proofs/wp_unit.c — the translation unit WP analyses: the core itself,
 * with the contract-only atomics (proofs/atomics_stubs.h). */
#define PROFCORE_IMPLEMENTATION
#include "profcore.h"
