/* cfi_fde.h — the function ranges an ELF object's call-frame information
 * describes: one [start, end) per FDE of .eh_frame or .debug_frame, sorted.
 *
 * Two users: the unwind-table builder (profiler/src/unwind_tables.c) walks
 * these ranges row by row with libdw's CFI API, and the symbolizer names an
 * address of an object without a symbol table by the start of the FDE that
 * contains it ("libz.so.1.2.13+0x3a40").  Nothing here runs in a signal
 * handler.
 */
#ifndef PROFCORE_PROFILER_CFI_FDE_H
#define PROFCORE_PROFILER_CFI_FDE_H

#include <gelf.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pcout_fde_range {
    uint64_t start, end; /* link-time addresses (add the load bias for runtime ones) */
} pcout_fde_range;

enum { PCOUT_CFI_EH_FRAME = 1, PCOUT_CFI_DEBUG_FRAME = 2 };

/* The FDE ranges of `which` section of elf, sorted by start, empty ranges
 * dropped.  Returns the count and a malloc'd array in *out (NULL, 0 when
 * the section is absent or unreadable; -1 on allocation failure).  A
 * malformed entry ends the list where it is (what precedes it is kept). */
long pcout_cfi_fde_ranges(Elf *elf, int which, pcout_fde_range **out);

/* Index of the range containing addr in a sorted array, or -1. */
long pcout_fde_find(const pcout_fde_range *r, size_t n, uint64_t addr);

/* The section `name` of elf (NULL when absent or SHT_NOBITS). */
Elf_Scn *pcout_elf_section(Elf *elf, const char *name, GElf_Shdr *shdr);

#endif
