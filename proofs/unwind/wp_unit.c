/* proofs/unwind/wp_unit.c — the translation unit WP analyses: the walker
 * (core/profcore_unwind.h), x86_64.  Under __FRAMAC__ the header replaces
 * the direct load and the read_word call by contract-only declarations
 * (see pcu_load_word). */
#define PROFCORE_UNWIND_IMPLEMENTATION
#include "profcore_unwind.h"
