/* unwind_tables.c — one ELF object's call-frame information compiled into
 * the walker's table (core/profcore_unwind.h).  Runs outside signal
 * handlers only: libdw allocates and parses.
 *
 * How a table is made:
 *   1. the FDE ranges of the object (cfi_fde.c), sorted;
 *   2. within each range, row by row, libdw computes the frame state at
 *      the row's first address (dwarf_cfi_addrframe) and says where the
 *      row ends (dwarf_frame_info); every row is classified into one
 *      pcu_rule (classify_frame) and the rule interned;
 *   3. adjacent rows with the same rule are merged; the space between two
 *      FDEs is a GAP row; a page index bounds the walker's search.
 * Invariants of the result (what the walker relies on): row_pc[0] == 0 and
 * strictly increasing, every row_rule < nrules or PCU_RULE_GAP, npages ==
 * (size >> PCU_PAGE_SHIFT) + 2, and the row covering any offset in page p
 * has an index in [page_first[p], page_first[p + 1]].
 */
#define _GNU_SOURCE
#include "unwind_tables.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfi_fde.h"

/* DWARF register numbers of the stack pointer, frame pointer and return
 * address column. */
#if defined(__aarch64__)
enum { DREG_SP = 31, DREG_FP = 29, DREG_RA = 30 };
#else
enum { DREG_SP = 7, DREG_FP = 6, DREG_RA = 16 };
#endif

const char *prt_ut_source_name(int source) {
    switch (source) {
    case PRT_UT_SRC_EH_FRAME: return "eh_frame";
    case PRT_UT_SRC_DEBUG_FRAME: return "debug_frame";
    case PRT_UT_SRC_DEBUG_FILE: return "debug file";
    default: return "none";
    }
}

/* ---- classifying one frame state ------------------------------------------ */

static bool op_breg(const Dwarf_Op *op, int *reg, int64_t *off) {
    if (op->atom >= DW_OP_breg0 && op->atom <= DW_OP_breg31) {
        *reg = op->atom - DW_OP_breg0;
        *off = (int64_t)op->number;
        return true;
    }
    if (op->atom == DW_OP_bregx) {
        *reg = (int)op->number;
        *off = (int64_t)op->number2;
        return true;
    }
    return false;
}

static bool cfa_base(int dreg, uint8_t *out) {
    if (dreg == DREG_SP) *out = PCU_REG_SP;
    else if (dreg == DREG_FP) *out = PCU_REG_FP;
    else return false;
    return true;
}

#if defined(__x86_64__)
/* The PLT's CFA: rsp + 8 + ((rip & 15) >= 11 ? 8 : 0), as binutils emits it:
 * breg7 8; breg16 0; lit15; and; lit11; ge; lit3; shl; plus. */
static bool is_plt_expression(const Dwarf_Op *o, size_t n) {
    static const uint8_t atoms[9] = {DW_OP_breg7, DW_OP_breg16, DW_OP_lit15, DW_OP_and, DW_OP_lit11,
                                     DW_OP_ge, DW_OP_lit3, DW_OP_shl, DW_OP_plus};
    if (n != 9) return false;
    for (size_t i = 0; i < 9; i++)
        if (o[i].atom != atoms[i]) return false;
    return o[0].number == 8 && o[1].number == 0;
}
#endif

/* The CFA part of a rule; false when the walker cannot compute it. */
static bool classify_cfa(Dwarf_Frame *f, pcu_rule *r) {
    Dwarf_Op *ops;
    size_t n;
    if (dwarf_frame_cfa(f, &ops, &n) != 0 || n == 0) return false;
    int reg;
    int64_t off;
    if (!op_breg(&ops[0], &reg, &off)) return false;
#if defined(__x86_64__)
    if (is_plt_expression(ops, n)) {
        r->kind = PCU_KIND_PLT;
        r->cfa_reg = PCU_REG_SP;
        r->cfa_off = 8;
        return true;
    }
#endif
    if (!cfa_base(reg, &r->cfa_reg) || off < INT32_MIN || off > INT32_MAX) return false;
    r->cfa_off = (int32_t)off;
    if (n == 1) r->kind = PCU_KIND_CFA;
    else if (n == 2 && ops[1].atom == DW_OP_deref) r->kind = PCU_KIND_CFA_DEREF;
    else return false;
    return true;
}

/* Where a register of the caller is, as an offset from the CFA. */
enum { REG_AT_OFFSET, REG_SAME, REG_UNDEFINED, REG_OTHER };
static int classify_register(Dwarf_Frame *f, int dreg, int64_t *off) {
    Dwarf_Op mem[3], *ops;
    size_t n;
    if (dwarf_frame_register(f, dreg, mem, &ops, &n) != 0) return REG_OTHER;
    if (n == 0) return ops == NULL ? REG_SAME : REG_UNDEFINED;
    if (ops[0].atom != DW_OP_call_frame_cfa) return REG_OTHER;
    if (n == 1) {
        *off = 0;
        return REG_AT_OFFSET;
    }
    if (n == 2 && ops[1].atom == DW_OP_plus_uconst) {
        *off = (int64_t)ops[1].number;
        return REG_AT_OFFSET;
    }
    if (n == 3 && ops[1].atom == DW_OP_consts && ops[2].atom == DW_OP_plus) {
        *off = (int64_t)ops[1].number;
        return REG_AT_OFFSET;
    }
    return REG_OTHER;
}

static bool fits_offset(int64_t off) {
    return off > PCU_OFF_IN_LR && off <= INT16_MAX; /* the two sentinels stay distinct */
}

/* One frame state as a rule; PCU_KIND_INVALID when the walker cannot follow it. */
static pcu_rule classify_frame(Dwarf_Frame *f, bool signal_frame) {
    pcu_rule r;
    memset(&r, 0, sizeof r);
    if (signal_frame) { /* the kernel's ucontext has every register */
        r.kind = PCU_KIND_SIGNAL;
        r.cfa_reg = PCU_REG_SP;
        r.cfa_off = PCU_SIGFRAME_UC_OFFSET;
        return r;
    }
    int64_t off = 0;
    int ra = classify_register(f, DREG_RA, &off);
    if (ra == REG_UNDEFINED) {
        r.kind = PCU_KIND_END;
        return r;
    }
    pcu_rule bad;
    memset(&bad, 0, sizeof bad);
    bad.kind = PCU_KIND_INVALID;
    if (!classify_cfa(f, &r)) return bad;
    if (ra == REG_AT_OFFSET && fits_offset(off)) r.ra_off = (int16_t)off;
#if defined(__aarch64__)
    else if (ra == REG_SAME) r.ra_off = PCU_OFF_IN_LR;
#endif
    else return bad;
    int fp = classify_register(f, DREG_FP, &off);
    if (fp == REG_SAME) r.fp_off = PCU_OFF_SAME;
    else if (fp == REG_AT_OFFSET && fits_offset(off)) r.fp_off = (int16_t)off;
    else return bad;
    /* In an epilogue gcc pops the saved registers but emits no restore, so
     * the rule still points at a slot that is now below SP: dead memory (a
     * signal frame may already have overwritten it), and the register
     * holds the caller's value again.  The rule the walker needs there is
     * "unchanged". */
    if (r.kind == PCU_KIND_CFA && r.cfa_reg == PCU_REG_SP && r.fp_off != PCU_OFF_SAME &&
        (int64_t)r.cfa_off + r.fp_off < 0)
        r.fp_off = PCU_OFF_SAME;
    return r;
}

/* ---- building the table --------------------------------------------------- */

typedef struct builder {
    uint32_t *row_pc;
    uint16_t *row_rule;
    size_t nrows, rows_cap;
    pcu_rule *rules;
    size_t nrules, rules_cap;
    uint32_t *slots; /* rule index + 1, open addressing */
    size_t nslots;
    bool failed;
} builder;

static uint32_t rule_hash(const pcu_rule *r) {
    uint32_t h = 2166136261u;
    const unsigned char *p = (const unsigned char *)r;
    for (size_t i = 0; i < sizeof *r; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

static bool rules_grow(builder *b) {
    size_t ns = b->nslots ? 2 * b->nslots : 256;
    uint32_t *s = calloc(ns, sizeof *s);
    if (s == NULL) return false;
    for (size_t i = 0; i < b->nrules; i++) {
        size_t j = rule_hash(&b->rules[i]) & (ns - 1);
        while (s[j] != 0) j = (j + 1) & (ns - 1);
        s[j] = (uint32_t)i + 1;
    }
    free(b->slots);
    b->slots = s;
    b->nslots = ns;
    return true;
}

/* The interned index of r; PCU_RULE_GAP when the table is full or out of memory. */
static uint16_t rule_intern(builder *b, const pcu_rule *r) {
    if ((b->nrules + 1) * 2 > b->nslots && !rules_grow(b)) return PCU_RULE_GAP;
    size_t j = rule_hash(r) & (b->nslots - 1);
    for (; b->slots[j] != 0; j = (j + 1) & (b->nslots - 1))
        if (memcmp(&b->rules[b->slots[j] - 1], r, sizeof *r) == 0) return (uint16_t)(b->slots[j] - 1);
    if (b->nrules >= PCU_RULE_GAP) return PCU_RULE_GAP; /* 0xFFFF is the gap marker */
    if (b->nrules == b->rules_cap) {
        size_t nc = b->rules_cap ? 2 * b->rules_cap : 64;
        pcu_rule *g = realloc(b->rules, nc * sizeof *g);
        if (g == NULL) return PCU_RULE_GAP;
        b->rules = g;
        b->rules_cap = nc;
    }
    b->rules[b->nrules] = *r;
    b->slots[j] = (uint32_t)b->nrules + 1;
    return (uint16_t)b->nrules++;
}

/* Appends a row at offset `at` (>= the last one), merging equal neighbours. */
static void row_add(builder *b, uint32_t at, uint16_t rule) {
    if (b->nrows > 0) {
        if (b->row_rule[b->nrows - 1] == rule) return;
        if (b->row_pc[b->nrows - 1] == at) { /* an empty row: replaced */
            b->row_rule[b->nrows - 1] = rule;
            if (b->nrows > 1 && b->row_rule[b->nrows - 2] == rule) b->nrows--;
            return;
        }
    }
    if (b->nrows == b->rows_cap) {
        size_t nc = b->rows_cap ? 2 * b->rows_cap : 1024;
        uint32_t *p = realloc(b->row_pc, nc * sizeof *p);
        if (p != NULL) b->row_pc = p;
        uint16_t *q = p ? realloc(b->row_rule, nc * sizeof *q) : NULL;
        if (q != NULL) b->row_rule = q;
        if (p == NULL || q == NULL) {
            b->failed = true;
            return;
        }
        b->rows_cap = nc;
    }
    b->row_pc[b->nrows] = at;
    b->row_rule[b->nrows] = rule;
    b->nrows++;
}

static void builder_free(builder *b) {
    free(b->row_pc);
    free(b->row_rule);
    free(b->rules);
    free(b->slots);
}

/* Rows of one FDE [lo, hi), from `from` (>= lo: an overlapping earlier FDE
 * already covered what precedes it). */
static void add_fde_rows(builder *b, Dwarf_CFI *cfi, uint64_t base, uint64_t from, uint64_t hi,
                         prt_ut_object *o) {
    for (uint64_t a = from; a < hi && !b->failed;) {
        Dwarf_Frame *f = NULL;
        Dwarf_Addr start, end;
        bool signal_frame = false;
        if (dwarf_cfi_addrframe(cfi, a, &f) != 0 ||
            dwarf_frame_info(f, &start, &end, &signal_frame) < 0) {
            free(f);
            pcu_rule bad;
            memset(&bad, 0, sizeof bad);
            bad.kind = PCU_KIND_INVALID;
            row_add(b, (uint32_t)(a - base), rule_intern(b, &bad));
            o->rows_cfi++;
            o->rows_invalid++;
            return; /* libdw cannot read this FDE: its rest is one invalid row */
        }
        pcu_rule r = classify_frame(f, signal_frame);
        free(f);
        o->rows_cfi++;
        if (r.kind == PCU_KIND_INVALID) o->rows_invalid++;
        uint16_t idx = rule_intern(b, &r);
        if (idx == PCU_RULE_GAP) b->failed = true; /* more distinct rules than indices */
        row_add(b, (uint32_t)(a - base), idx);
        a = end > a && end <= hi ? end : hi;
    }
}

/* Fills o->table from the builder's rows (one allocation, the page index
 * computed by one sweep). */
static int table_finish(builder *b, uint64_t base, uint64_t size, prt_ut_object *o) {
    size_t npages = (size >> PCU_PAGE_SHIFT) + 2;
    size_t bytes_pc = b->nrows * sizeof(uint32_t), bytes_rule = b->nrows * sizeof(uint16_t);
    size_t off_rule = bytes_pc, off_rules = (off_rule + bytes_rule + 7) & ~(size_t)7;
    size_t off_pages = off_rules + b->nrules * sizeof(pcu_rule);
    size_t total = off_pages + npages * sizeof(uint32_t);
    unsigned char *blk = malloc(total);
    if (blk == NULL) return -1;
    uint32_t *row_pc = (uint32_t *)blk;
    uint16_t *row_rule = (uint16_t *)(blk + off_rule);
    pcu_rule *rules = (pcu_rule *)(blk + off_rules);
    uint32_t *pages = (uint32_t *)(blk + off_pages);
    memcpy(row_pc, b->row_pc, bytes_pc);
    memcpy(row_rule, b->row_rule, bytes_rule);
    memcpy(rules, b->rules, b->nrules * sizeof(pcu_rule));
    size_t i = 0;
    for (size_t p = 0; p < npages; p++) {
        uint64_t at = (uint64_t)p << PCU_PAGE_SHIFT;
        while (i + 1 < b->nrows && row_pc[i + 1] <= at) i++;
        pages[p] = (uint32_t)i; /* the row covering `at` (row 0 starts at 0) */
    }
    o->block = blk;
    o->bytes = total;
    o->table.base = (uintptr_t)base;
    o->table.size = (uint32_t)size;
    o->table.nrows = (uint32_t)b->nrows;
    o->table.row_pc = row_pc;
    o->table.row_rule = row_rule;
    o->table.rules = rules;
    o->table.nrules = (uint32_t)b->nrules;
    o->table.npages = (uint32_t)npages;
    o->table.page_first = pages;
    return 0;
}

/* A table from one CFI and its FDE ranges (link-time addresses). */
static int compile(Dwarf_CFI *cfi, const pcout_fde_range *fde, size_t nfde, uintptr_t bias,
                   prt_ut_object *o, char *err, size_t errlen) {
    uint64_t lo = fde[0].start, hi = 0;
    for (size_t i = 0; i < nfde; i++)
        if (fde[i].end > hi) hi = fde[i].end;
    if (hi - lo > UINT32_MAX) {
        snprintf(err, errlen, "CFI spans %llu bytes (more than a 32-bit table)",
                 (unsigned long long)(hi - lo));
        return -1;
    }
    builder b;
    memset(&b, 0, sizeof b);
    uint64_t covered = lo; /* everything below is in the table already */
    for (size_t i = 0; i < nfde && !b.failed; i++) {
        if (fde[i].end <= covered) continue; /* a duplicate or nested FDE */
        uint64_t from = fde[i].start > covered ? fde[i].start : covered;
        if (from > covered) row_add(&b, (uint32_t)(covered - lo), PCU_RULE_GAP);
        add_fde_rows(&b, cfi, lo, from, fde[i].end, o);
        covered = fde[i].end;
    }
    o->fdes = nfde;
    int rc = -1;
    if (b.failed) snprintf(err, errlen, "out of memory or more than 65535 distinct rules");
    else if (b.nrows == 0) snprintf(err, errlen, "no rows");
    else if (table_finish(&b, lo + bias, hi - lo, o) != 0) snprintf(err, errlen, "out of memory");
    else rc = 0;
    builder_free(&b);
    return rc;
}

/* ---- choosing the CFI ------------------------------------------------------ */

/* Bytes of executable PT_LOAD segments (what CFI should cover). */
static uint64_t exec_bytes(Elf *elf) {
    size_t n;
    uint64_t total = 0;
    if (elf_getphdrnum(elf, &n) != 0) return 0;
    for (size_t i = 0; i < n; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) != NULL && ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
            total += ph.p_memsz;
    }
    return total;
}

static uint64_t covered_bytes(const pcout_fde_range *r, size_t n) {
    uint64_t total = 0, upto = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t s = r[i].start > upto ? r[i].start : upto;
        if (r[i].end > s) total += r[i].end - s;
        if (r[i].end > upto) upto = r[i].end;
    }
    return total;
}

/* /usr/lib/debug/.build-id/xx/yyyy.debug for elf's build ID, opened. */
static int open_debug_file(Elf *elf) {
    const void *id;
    ssize_t n = dwelf_elf_gnu_build_id(elf, &id);
    if (n < 2) return -1;
    const unsigned char *b = id;
    char path[512];
    int at = snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%02x/", b[0]);
    for (ssize_t i = 1; i < n && at < (int)sizeof path - 8; i++)
        at += snprintf(path + at, sizeof path - (size_t)at, "%02x", b[i]);
    snprintf(path + at, sizeof path - (size_t)at, ".debug");
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* A candidate CFI: the handles to release and its ranges. */
typedef struct cfi_source {
    int source;
    Dwarf_CFI *cfi;
    Dwarf *dw;  /* .debug_frame: owns cfi */
    Elf *elf;   /* a debug file's, owned */
    int fd;
    pcout_fde_range *fde;
    long nfde;
} cfi_source;

static void source_close(cfi_source *s) {
    if (s->dw != NULL) dwarf_end(s->dw);
    else if (s->cfi != NULL) dwarf_cfi_end(s->cfi);
    if (s->elf != NULL) elf_end(s->elf);
    if (s->fd >= 0) close(s->fd);
    free(s->fde);
    memset(s, 0, sizeof *s);
    s->fd = -1;
}

static bool source_eh_frame(Elf *elf, cfi_source *s) {
    s->nfde = pcout_cfi_fde_ranges(elf, PCOUT_CFI_EH_FRAME, &s->fde);
    if (s->nfde <= 0) return false;
    s->cfi = dwarf_getcfi_elf(elf);
    s->source = PRT_UT_SRC_EH_FRAME;
    return s->cfi != NULL;
}

/* .debug_frame of `elf` (the object itself, or its debug file). */
static bool source_debug_frame(Elf *elf, int source, cfi_source *s) {
    s->nfde = pcout_cfi_fde_ranges(elf, PCOUT_CFI_DEBUG_FRAME, &s->fde);
    if (s->nfde <= 0) return false;
    s->dw = dwarf_begin_elf(elf, DWARF_C_READ, NULL);
    s->cfi = s->dw != NULL ? dwarf_getcfi(s->dw) : NULL;
    s->source = source;
    return s->cfi != NULL;
}

static uint64_t source_coverage(const cfi_source *s) {
    return s->cfi != NULL && s->nfde > 0 ? covered_bytes(s->fde, (size_t)s->nfde) : 0;
}

/* Keeps the better of *best and *cand (more bytes covered), closing the other. */
static void keep_better(cfi_source *best, cfi_source *cand) {
    if (source_coverage(cand) > source_coverage(best)) {
        source_close(best);
        *best = *cand;
    } else {
        source_close(cand);
    }
    memset(cand, 0, sizeof *cand);
    cand->fd = -1;
}

int prt_ut_build_elf(Elf *elf, uintptr_t bias, prt_ut_object *o, char *err, size_t errlen) {
    memset(o, 0, sizeof *o);
    cfi_source best, cand;
    memset(&best, 0, sizeof best);
    memset(&cand, 0, sizeof cand);
    best.fd = cand.fd = -1;
    source_eh_frame(elf, &best);
    /* .debug_frame only where .eh_frame is absent or covers under half the code. */
    uint64_t code = exec_bytes(elf);
    if (source_coverage(&best) * 2 < code) {
        source_debug_frame(elf, PRT_UT_SRC_DEBUG_FRAME, &cand);
        keep_better(&best, &cand);
        cand.fd = open_debug_file(elf);
        if (cand.fd >= 0) {
            cand.elf = elf_begin(cand.fd, ELF_C_READ_MMAP, NULL);
            if (cand.elf != NULL) source_debug_frame(cand.elf, PRT_UT_SRC_DEBUG_FILE, &cand);
        }
        keep_better(&best, &cand);
    }
    int rc = -1;
    if (best.cfi == NULL || best.nfde <= 0) snprintf(err, errlen, "no call-frame information");
    else rc = compile(best.cfi, best.fde, (size_t)best.nfde, bias, o, err, errlen);
    if (rc == 0) o->source = best.source;
    source_close(&best);
    return rc;
}

int prt_ut_build_path(const char *path, uintptr_t bias, prt_ut_object *o, char *err,
                      size_t errlen) {
    memset(o, 0, sizeof *o);
    elf_version(EV_CURRENT);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open");
        return -1;
    }
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    int rc = -1;
    if (elf == NULL || elf_kind(elf) != ELF_K_ELF) snprintf(err, errlen, "not an ELF file");
    else rc = prt_ut_build_elf(elf, bias, o, err, errlen);
    if (elf != NULL) elf_end(elf);
    close(fd);
    return rc;
}

void prt_ut_object_free(prt_ut_object *o) {
    free(o->block);
    memset(o, 0, sizeof *o);
}
