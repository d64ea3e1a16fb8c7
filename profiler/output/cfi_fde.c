/* cfi_fde.c — FDE ranges of an ELF object (see cfi_fde.h).
 *
 * libdw walks the entries (dwarf_next_cfi) and computes every frame state
 * (dwarf_cfi_addrframe), but it does not expose where each FDE begins and
 * ends.  That is two encoded pointers at the head of each FDE, in the
 * encoding its CIE's 'R' augmentation names, so this file decodes exactly
 * those (the DW_EH_PE value formats, absolute or pc-relative); everything
 * else about the CFI stays libdw's.
 */
#define _GNU_SOURCE
#include "cfi_fde.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

Elf_Scn *pcout_elf_section(Elf *elf, const char *name, GElf_Shdr *shdr) {
    size_t shstrndx;
    if (elf_getshdrstrndx(elf, &shstrndx) != 0) return NULL;
    for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn != NULL; scn = elf_nextscn(elf, scn)) {
        if (gelf_getshdr(scn, shdr) == NULL) continue;
        const char *n = elf_strptr(elf, shstrndx, shdr->sh_name);
        if (n != NULL && strcmp(n, name) == 0) return shdr->sh_type == SHT_NOBITS ? NULL : scn;
    }
    return NULL;
}

/* One CIE's pointer encoding for FDE addresses (DW_EH_PE_*). */
typedef struct cie_enc {
    Dwarf_Off offset;
    uint8_t enc;
    bool ok;
} cie_enc;

static bool read_uleb(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    uint64_t r = 0;
    for (unsigned shift = 0; *p < end && shift < 64; shift += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        if ((b & 0x80) == 0) {
            *v = r;
            return true;
        }
    }
    return false;
}

static bool read_sleb(const uint8_t **p, const uint8_t *end, int64_t *v) {
    uint64_t r = 0;
    unsigned shift = 0;
    while (*p < end && shift < 64) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
        if ((b & 0x80) == 0) {
            if (shift < 64 && (b & 0x40)) r |= ~(uint64_t)0 << shift;
            *v = (int64_t)r;
            return true;
        }
    }
    return false;
}

/* Reads one value in the low nibble's format (absptr is `addr_size` bytes). */
static bool read_value(const uint8_t **p, const uint8_t *end, uint8_t enc, int addr_size,
                       uint64_t *v) {
    size_t n;
    bool is_signed = false;
    switch (enc & 0x0f) {
    case DW_EH_PE_absptr: n = (size_t)addr_size; break;
    case DW_EH_PE_uleb128: return read_uleb(p, end, v);
    case DW_EH_PE_sleb128: {
        int64_t s;
        if (!read_sleb(p, end, &s)) return false;
        *v = (uint64_t)s;
        return true;
    }
    case DW_EH_PE_udata2: n = 2; break;
    case DW_EH_PE_udata4: n = 4; break;
    case DW_EH_PE_udata8: n = 8; break;
    case DW_EH_PE_sdata2: n = 2; is_signed = true; break;
    case DW_EH_PE_sdata4: n = 4; is_signed = true; break;
    case DW_EH_PE_sdata8: n = 8; is_signed = true; break;
    default: return false;
    }
    if ((size_t)(end - *p) < n) return false;
    uint64_t r = 0;
    memcpy(&r, *p, n); /* the object's byte order is the host's (checked by the caller) */
    if (is_signed && n < 8 && (r >> (8 * n - 1)) & 1) r |= ~(uint64_t)0 << (8 * n);
    *p += n;
    *v = r;
    return true;
}

/* The FDE pointer encoding of one CIE: its 'R' augmentation, absptr when
 * it has none (.debug_frame).  'P' carries a pointer that must be skipped. */
static bool cie_fde_encoding(const Dwarf_CIE *cie, int addr_size, uint8_t *enc) {
    *enc = DW_EH_PE_absptr;
    const char *aug = cie->augmentation;
    if (aug == NULL || aug[0] != 'z') return aug == NULL || aug[0] == '\0';
    const uint8_t *p = cie->augmentation_data;
    const uint8_t *end = p + cie->augmentation_data_size;
    for (const char *a = aug + 1; *a != '\0'; a++) {
        switch (*a) {
        case 'R':
            if (p >= end) return false;
            *enc = *p++;
            break;
        case 'L':
            if (p >= end) return false;
            p++;
            break;
        case 'P': {
            if (p >= end) return false;
            uint8_t penc = *p++;
            uint64_t ignored;
            if (!read_value(&p, end, penc, addr_size, &ignored)) return false;
            break;
        }
        case 'S': case 'B': case 'G': break; /* signal frame, aarch64 PAC key B, MTE */
        default: return false;
        }
    }
    return true;
}

static int cmp_range(const void *a, const void *b) {
    const pcout_fde_range *x = a, *y = b;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static const cie_enc *find_cie(const cie_enc *c, size_t n, Dwarf_Off off) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c[mid].offset == off) return &c[mid];
        if (c[mid].offset < off) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* Pass 1: every CIE's encoding, in section order (offsets increase). */
static long collect_cies(const unsigned char *ident, Elf_Data *d, bool eh, int addr_size,
                         cie_enc **out) {
    cie_enc *c = NULL;
    size_t n = 0, cap = 0;
    Dwarf_Off off = 0, next;
    Dwarf_CFI_Entry e;
    for (int r; (r = dwarf_next_cfi(ident, d, eh, off, &next, &e)) != 1; off = next) {
        if (r != 0) {
            if (next == off || next == (Dwarf_Off)-1) break; /* cannot skip: stop here */
            continue;
        }
        if (!dwarf_cfi_cie_p(&e)) continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            cie_enc *g = realloc(c, nc * sizeof *g);
            if (g == NULL) {
                free(c);
                return -1;
            }
            c = g;
            cap = nc;
        }
        c[n].offset = off;
        c[n].ok = cie_fde_encoding(&e.cie, addr_size, &c[n].enc);
        n++;
    }
    *out = c;
    return (long)n;
}

/* The start and end of one FDE, or false when its encoding is unsupported. */
static bool fde_range(const Dwarf_FDE *f, const cie_enc *cie, const Elf_Data *d, uint64_t sh_addr,
                      int addr_size, pcout_fde_range *r) {
    if (cie == NULL || !cie->ok || (cie->enc & DW_EH_PE_indirect)) return false;
    const uint8_t *p = f->start, *end = f->end;
    uint64_t field_addr = sh_addr + (uint64_t)(p - (const uint8_t *)d->d_buf);
    uint64_t start, len;
    if (!read_value(&p, end, cie->enc, addr_size, &start)) return false;
    switch (cie->enc & 0x70) {
    case DW_EH_PE_absptr: break;
    case DW_EH_PE_pcrel: start += field_addr; break;
    default: return false; /* textrel/datarel/funcrel: not used for FDE addresses on Linux */
    }
    if (!read_value(&p, end, cie->enc & 0x0f, addr_size, &len)) return false;
    r->start = start;
    r->end = start + len;
    return len > 0 && r->end > start;
}

long pcout_cfi_fde_ranges(Elf *elf, int which, pcout_fde_range **out) {
    *out = NULL;
    bool eh = which == PCOUT_CFI_EH_FRAME;
    GElf_Shdr sh;
    Elf_Scn *scn = pcout_elf_section(elf, eh ? ".eh_frame" : ".debug_frame", &sh);
    if (scn == NULL) return 0;
    if ((sh.sh_flags & SHF_COMPRESSED) && elf_compress(scn, 0, 0) < 0) return 0;
    Elf_Data *d = elf_getdata(scn, NULL);
    size_t identsz;
    const unsigned char *ident = (const unsigned char *)elf_getident(elf, &identsz);
    if (d == NULL || d->d_buf == NULL || ident == NULL || identsz < EI_NIDENT) return 0;
    bool host_le = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
    if ((ident[EI_DATA] == ELFDATA2LSB) != host_le) return 0; /* foreign byte order: not ours */
    int addr_size = ident[EI_CLASS] == ELFCLASS64 ? 8 : 4;

    cie_enc *cies = NULL;
    long ncie = collect_cies(ident, d, eh, addr_size, &cies);
    if (ncie < 0) return -1;
    pcout_fde_range *r = NULL;
    size_t n = 0, cap = 0;
    Dwarf_Off off = 0, next;
    Dwarf_CFI_Entry e;
    long result = 0;
    for (int rc; (rc = dwarf_next_cfi(ident, d, eh, off, &next, &e)) != 1; off = next) {
        if (rc != 0) {
            if (next == off || next == (Dwarf_Off)-1) break;
            continue;
        }
        if (dwarf_cfi_cie_p(&e)) continue;
        pcout_fde_range one;
        if (!fde_range(&e.fde, find_cie(cies, (size_t)ncie, e.fde.CIE_pointer), d, sh.sh_addr,
                       addr_size, &one))
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 256;
            pcout_fde_range *g = realloc(r, nc * sizeof *g);
            if (g == NULL) {
                result = -1;
                break;
            }
            r = g;
            cap = nc;
        }
        r[n++] = one;
    }
    free(cies);
    if (result < 0) {
        free(r);
        return -1;
    }
    if (n > 1) qsort(r, n, sizeof *r, cmp_range);
    *out = r;
    return (long)n;
}

long pcout_fde_find(const pcout_fde_range *r, size_t n, uint64_t addr) {
    size_t lo = 0, hi = n; /* the last range starting at or before addr */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].start <= addr) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return -1;
    return addr < r[lo - 1].end ? (long)(lo - 1) : -1;
}
