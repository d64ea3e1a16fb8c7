/* fuzz/unwind/harness.c — one fuzz input is a snapshot of tables, the
 * interrupted registers, a stack, a sigaltstack and a region reachable only
 * through read_word; the harness walks it and checks:
 *   - depth <= max (the frames array is exactly max words on the heap: a
 *     write past it is an ASan report), depth == res.depth, end is a known
 *     reason, fp_steps <= depth, frames[0] is the pc, every later frame a
 *     plausible address;
 *   - every direct read is word-aligned and lies wholly inside one of the
 *     given ranges (PCU_DIRECT_READ_HOOK; the ranges' ends are not always
 *     word-aligned, and the buffers are exactly as large as the ranges, so
 *     ASan sees a read past them too);
 *   - every read_word address is word-aligned, and the walk's reads in
 *     total stay within 4 per frame (bounded work, it terminates);
 *   - the SP strictly increases at every step that is not a signal frame
 *     (PCU_STEP_HOOK);
 *   - pcu_find_table and pcu_lookup agree with a linear scan for the pcs
 *     the walk looked up and for pcs taken from the input (exactly when the
 *     table's page index is the one the manual defines; when the input
 *     corrupts it, the answer is "none" or the right row, never another);
 *   - table arrays are exactly as long as their counts (heap), so an index
 *     the walker failed to clamp is an ASan report.
 *   - the frames and fp_steps equal those of a reference walk (the manual's
 *     rules with linear scans, below) whenever the page indexes are exact.
 * A failure prints what broke and returns non-zero; the entry points abort. */
#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pcu_memory;
static void uf_direct_read(const struct pcu_memory *m, uintptr_t addr);
static void uf_step(uintptr_t old_sp, uintptr_t new_sp, int across_signal);
#define PCU_DIRECT_READ_ATTR
#define PCU_DIRECT_READ_HOOK(mem, addr) uf_direct_read((mem), (addr))
#define PCU_STEP_HOOK(old_sp, new_sp, across_signal) uf_step((old_sp), (new_sp), (across_signal))
#define PROFCORE_UNWIND_IMPLEMENTATION
#include "profcore_unwind.h"

#define UF_MAX_TABLES 3
#define UF_MAX_ROWS 40
#define UF_MAX_RULES 8
#define UF_STACK_WORDS 256
#define UF_ALT_WORDS 160
#define UF_REMOTE_WORDS 64
#define UF_REMOTE_BASE ((uintptr_t)0x10000000u)
#define UF_CODE_BASE ((uintptr_t)0x400000u)

static char report[512];
static int failed;

static void fail(const char *fmt, ...) {
    if (failed++) return; /* keep the first */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(report, sizeof report, fmt, ap);
    va_end(ap);
}

void uf_print_report(FILE *out) { fprintf(out, "FAILURE: %s\n", report); }

/* ---- the input reader: zeros once exhausted ---------------------------- */
typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;
static uint8_t u8(reader *r) {
    if (r->n == 0) return 0;
    r->n--;
    return *r->p++;
}
static uint16_t u16(reader *r) { return (uint16_t)(u8(r) | (u8(r) << 8)); }
static uint32_t u32(reader *r) { return (uint32_t)u16(r) | ((uint32_t)u16(r) << 16); }

/* ---- hooks --------------------------------------------------------------- */
static const pcu_memory *walk_mem;
static unsigned direct_reads, indirect_reads;

static void uf_direct_read(const struct pcu_memory *m, uintptr_t addr) {
    direct_reads++;
    if (addr % 8 != 0) fail("direct read at %#lx is not word-aligned", (unsigned long)addr);
    for (int i = 0; i < 2; i++)
        if (addr >= m->lo[i] && addr < m->hi[i] && m->hi[i] - addr >= 8) return;
    fail("direct read at %#lx outside [%#lx,%#lx) and [%#lx,%#lx)", (unsigned long)addr,
         (unsigned long)m->lo[0], (unsigned long)m->hi[0], (unsigned long)m->lo[1],
         (unsigned long)m->hi[1]);
}

static void uf_step(uintptr_t old_sp, uintptr_t new_sp, int across_signal) {
    if (!across_signal && new_sp <= old_sp)
        fail("SP did not increase: %#lx -> %#lx", (unsigned long)old_sp, (unsigned long)new_sp);
}

static uintptr_t remote[UF_REMOTE_WORDS];
static bool remote_read(void *ctx, uintptr_t addr, uintptr_t *out) {
    (void)ctx;
    indirect_reads++;
    if (addr % 8 != 0) fail("read_word at %#lx is not word-aligned", (unsigned long)addr);
    if (addr < UF_REMOTE_BASE || addr - UF_REMOTE_BASE >= 8 * UF_REMOTE_WORDS) return false;
    *out = remote[(addr - UF_REMOTE_BASE) / 8];
    return true;
}

/* ---- building the snapshot ---------------------------------------------- */
typedef struct uf_table {
    uint32_t *row_pc, *page_first;
    uint16_t *row_rule;
    pcu_rule *rules;
    bool page_index_exact;
} uf_table;

static pcu_table tables[UF_MAX_TABLES];
static uf_table owned[UF_MAX_TABLES];
static uint32_t ntables;

/* An interned rule from 6 bytes; offsets are small multiples of 8 mostly,
 * sometimes odd, so misalignment and every kind are reachable. */
static pcu_rule read_rule(reader *r) {
    uint8_t k = u8(r), reg = u8(r);
    int8_t cfa = (int8_t)u8(r), ra = (int8_t)u8(r), fp = (int8_t)u8(r);
    uint8_t flags = u8(r);
    pcu_rule rule;
    rule.kind = (uint8_t)(k % 8); /* 6, 7: unknown kinds */
    rule.cfa_reg = (uint8_t)(reg % 3);
    rule.cfa_off = (flags & 1) ? cfa : (int32_t)cfa * 8;
    rule.ra_off = (flags & 2) ? (int16_t)ra : (int16_t)(ra * 8);
    rule.fp_off = (flags & 4) ? (int16_t)PCU_OFF_SAME : (flags & 8) ? (int16_t)fp : (int16_t)(fp * 8);
    if (flags & 16) rule.ra_off = (flags & 32) ? PCU_OFF_IN_LR : PCU_OFF_SAME;
    rule.reserved = 0;
    if (rule.kind == PCU_KIND_SIGNAL && !(flags & 64)) rule.cfa_off = PCU_SIGFRAME_UC_OFFSET;
    return rule;
}

static void build_table(reader *r, uint32_t i, uintptr_t base) {
    pcu_table *t = &tables[i];
    uf_table *o = &owned[i];
    uint32_t nrows = 1 + u8(r) % UF_MAX_ROWS, nrules = 1 + u8(r) % UF_MAX_RULES;
    uint8_t shape = u8(r);
    o->row_pc = malloc(nrows * sizeof *o->row_pc);
    o->row_rule = malloc(nrows * sizeof *o->row_rule);
    o->rules = malloc(nrules * sizeof *o->rules);
    uint32_t off = (shape & 1) ? u8(r) : 0;
    for (uint32_t j = 0; j < nrows; j++) {
        o->row_pc[j] = off;
        /* small steps, or page-sized ones so the page index matters */
        off += 1 + ((shape & 2) ? u16(r) % 6000 : u8(r));
        uint8_t rr = u8(r);
        o->row_rule[j] = rr >= 250 ? PCU_RULE_GAP : (uint16_t)(rr % (nrules + 1)); /* == nrules: bad index */
    }
    for (uint32_t j = 0; j < nrules; j++) o->rules[j] = read_rule(r);
    uint32_t size = off + ((shape & 4) ? u8(r) : 0);
    uint32_t npages = (size >> PCU_PAGE_SHIFT) + 2;
    o->page_first = malloc(npages * sizeof *o->page_first);
    for (uint32_t p = 0; p < npages; p++) {
        uint32_t first = 0;
        for (uint32_t j = 0; j < nrows; j++)
            if (o->row_pc[j] <= (uint64_t)p << PCU_PAGE_SHIFT) first = j;
        o->page_first[p] = first;
    }
    o->page_index_exact = true;
    if (shape & 8) { /* corrupt the page index: any value, past nrows too */
        o->page_first[u8(r) % npages] = u8(r);
        o->page_index_exact = false;
    }
    t->base = base;
    t->size = size;
    t->nrows = nrows;
    t->row_pc = o->row_pc;
    t->row_rule = o->row_rule;
    t->rules = o->rules;
    t->nrules = nrules;
    t->npages = npages;
    t->page_first = o->page_first;
    if (shape & 16) { /* a wrong npages: the array is exactly that long */
        uint32_t wrong = u8(r) % (npages + 1);
        uint32_t *shorter = malloc(wrong ? wrong * sizeof *shorter : 1);
        memcpy(shorter, o->page_first, wrong * sizeof *shorter);
        free(o->page_first);
        o->page_first = shorter;
        t->page_first = shorter;
        t->npages = wrong;
        o->page_index_exact = false;
    }
}

static void free_tables(void) {
    for (uint32_t i = 0; i < ntables; i++) {
        free(owned[i].row_pc);
        free(owned[i].row_rule);
        free(owned[i].rules);
        free(owned[i].page_first);
    }
    ntables = 0;
}

/* ---- the oracles of the searches ---------------------------------------- */
static void check_find(const pcu_snapshot *s, uintptr_t pc) {
    const pcu_table *want = NULL;
    for (uint32_t i = 0; i < s->ntables; i++)
        if (pc >= s->tables[i].base && pc - s->tables[i].base < s->tables[i].size) want = &s->tables[i];
    const pcu_table *got = pcu_find_table(s, pc);
    if (got != want) fail("find_table(%#lx) = %p, a linear scan says %p", (unsigned long)pc, (void *)got, (void *)want);
}

static void check_lookup(uint32_t i, uintptr_t pc) {
    const pcu_table *t = &tables[i];
    int64_t want = -1;
    if (pc >= t->base && pc - t->base < t->size)
        for (uint32_t j = 0; j < t->nrows; j++)
            if (t->row_pc[j] <= pc - t->base) want = j;
    int64_t got = pcu_lookup(t, pc);
    if (got == want) return;
    if (got == -1 && !owned[i].page_index_exact) return; /* corrupt index: "none" is allowed */
    fail("lookup(table %u, off %#lx) = %lld, a linear scan says %lld (page index %s)", i,
         (unsigned long)(pc - t->base), (long long)got, (long long)want,
         owned[i].page_index_exact ? "exact" : "corrupt");
}

/* ---- a reference walk ----------------------------------------------------
 * The manual's walk written the plain way: linear scans instead of the
 * searches, one function, x86_64.  The walker must produce the same frames
 * and the same number of frame-pointer steps (the end reason is not
 * compared: which of two failing checks fires first is the walker's choice).
 * Only when every page index is exact: with a corrupt one the walker may
 * answer "none" where the scan finds the row. */
static const pcu_memory *ref_mem;
static bool ref_read(uintptr_t base, int64_t off, uintptr_t *out) {
    uintptr_t a = base + (uintptr_t)off;
    if ((off >= 0 && a < base) || (off < 0 && a > base) || a % 8 != 0) return false;
    for (int i = 0; i < 2; i++)
        if (a >= ref_mem->lo[i] && a < ref_mem->hi[i] && ref_mem->hi[i] - a >= 8) {
            memcpy(out, (const void *)a, sizeof *out);
            return true;
        }
    if (ref_mem->read_word == NULL) return false;
    unsigned saved = indirect_reads;
    bool ok = remote_read(NULL, a, out);
    indirect_reads = saved;
    return ok;
}
static bool ref_plausible(uintptr_t pc) { return pc >= PCU_MIN_PC && pc <= PCU_PC_MASK; }

static uint32_t ref_walk(const pcu_regs *regs, uintptr_t *out, uint32_t max, uint32_t *fp_steps) {
    uintptr_t pc = regs->pc, sp = regs->sp, fp = regs->fp;
    bool exact = true;
    uint32_t n = 0;
    *fp_steps = 0;
    out[n++] = pc;
    if (!ref_plausible(pc)) return n;
    while (n < max) {
        uintptr_t look = exact ? pc : pc - 1;
        const pcu_table *t = NULL;
        for (uint32_t i = 0; i < ntables; i++)
            if (look >= tables[i].base && look - tables[i].base < tables[i].size) t = &tables[i];
        int64_t row = -1;
        if (t)
            for (uint32_t j = 0; j < t->nrows; j++)
                if (t->row_pc[j] <= look - t->base) row = j;
        uintptr_t cfa, ra, nfp = fp;
        if (row < 0 || t->row_rule[row] == PCU_RULE_GAP) { /* the frame record at fp */
            if (fp == 0 || fp % 8 || fp < sp || !ref_read(fp, 0, &nfp) || !ref_read(fp, 8, &ra)) return n;
            if (fp > UINTPTR_MAX - 16 || !ref_plausible(ra)) return n;
            sp = fp + 16, fp = nfp, pc = ra, exact = false;
            (*fp_steps)++;
            out[n++] = pc;
            continue;
        }
        if (t->row_rule[row] >= t->nrules) return n;
        pcu_rule r = t->rules[t->row_rule[row]];
        if (r.kind == PCU_KIND_SIGNAL) {
            uintptr_t uc = sp + (uintptr_t)(int64_t)r.cfa_off, npc, nsp;
            if ((r.cfa_off >= 0) != (uc >= sp)) return n;
            if (!ref_read(uc, PCU_UC_PC, &npc) || !ref_read(uc, PCU_UC_SP, &nsp) || !ref_read(uc, PCU_UC_FP, &nfp))
                return n;
            if (!ref_plausible(npc) || nsp % 8) return n;
            pc = npc, sp = nsp, fp = nfp, exact = true;
            out[n++] = pc;
            continue;
        }
        if (r.cfa_reg > PCU_REG_FP) return n;
        uintptr_t reg = r.cfa_reg == PCU_REG_SP ? sp : fp;
        int64_t off = r.cfa_off;
        if (r.kind == PCU_KIND_PLT) reg = sp, off += (pc & 15) >= 11 ? 8 : 0;
        else if (r.kind != PCU_KIND_CFA && r.kind != PCU_KIND_CFA_DEREF) return n;
        cfa = reg + (uintptr_t)off;
        if ((off >= 0) != (cfa >= reg) && off != 0) return n;
        if (r.kind == PCU_KIND_CFA_DEREF && !ref_read(reg, off, &cfa)) return n;
        if (cfa % 8 || cfa <= sp) return n;
        if (r.ra_off == PCU_OFF_SAME || r.ra_off == PCU_OFF_IN_LR || r.fp_off == PCU_OFF_IN_LR) return n;
        if (!ref_read(cfa, r.ra_off, &ra)) return n;
        if (r.fp_off != PCU_OFF_SAME && !ref_read(cfa, r.fp_off, &nfp)) return n;
        if (!ref_plausible(ra)) return n;
        pc = ra, sp = cfa, fp = nfp, exact = false;
        out[n++] = pc;
    }
    return n;
}

static void check_against_reference(const pcu_regs *regs, const pcu_memory *m, const uintptr_t *frames,
                                    uint32_t n, uint32_t max, uint32_t fp_steps) {
    for (uint32_t i = 0; i < ntables; i++)
        if (!owned[i].page_index_exact) return;
    uintptr_t *want = malloc(max * sizeof *want);
    uint32_t want_fp;
    ref_mem = m;
    uint32_t wn = ref_walk(regs, want, max, &want_fp);
    if (wn != n) fail("depth %u, the reference walk says %u", n, wn);
    for (uint32_t k = 0; k < n && k < wn; k++)
        if (frames[k] != want[k]) {
            fail("frame %u = %#lx, the reference walk says %#lx", k, (unsigned long)frames[k], (unsigned long)want[k]);
            break;
        }
    if (wn == n && want_fp != fp_steps) fail("fp_steps %u, the reference walk says %u", fp_steps, want_fp);
    free(want);
}

/* A word for the stack or the remote region: a pointer into one of the
 * areas, a code address, or raw bytes. */
static uintptr_t read_value(reader *r, uintptr_t *st, uintptr_t *alt) {
    uint8_t sel = u8(r), x = u8(r);
    switch (sel % 8) {
    case 0:
    case 1: return (uintptr_t)&st[x % UF_STACK_WORDS];
    case 2: return (uintptr_t)&alt[x % UF_ALT_WORDS];
    case 3: return UF_REMOTE_BASE + 8u * (x % (UF_REMOTE_WORDS + 4));
    case 4: {
        if (ntables == 0) return x;
        const pcu_table *t = &tables[x % ntables];
        return t->base + (t->size ? u16(r) % (t->size + 2) : 0);
    }
    case 5: { /* a row's first byte, or a few bytes into it (pc - 1 and the PLT's rip & 15 matter there) */
        if (ntables == 0) return x;
        const pcu_table *t = &tables[x % ntables];
        return t->base + t->row_pc[u8(r) % t->nrows] + ((sel & 8) ? (sel >> 4) : 0);
    }
    case 6: return (uintptr_t)&st[x % UF_STACK_WORDS] + (sel >> 3); /* maybe misaligned */
    default: return (uintptr_t)u32(r) | ((uintptr_t)u16(r) << 32);
    }
}

int uf_run(const uint8_t *data, size_t len) {
    reader r = {data, len};
    failed = 0;
    report[0] = 0;
    direct_reads = indirect_reads = 0;

    ntables = u8(&r) % (UF_MAX_TABLES + 1);
    uintptr_t base = UF_CODE_BASE;
    for (uint32_t i = 0; i < ntables; i++) {
        base += (uintptr_t)(u8(&r) % 4) * 0x1000u; /* adjacent or apart */
        build_table(&r, i, base);
        base += tables[i].size;
    }
    pcu_snapshot snap = {ntables, tables};

    /* Exactly-sized buffers; the ranges may end before the buffer end, at
     * an unaligned address. */
    uintptr_t *st = malloc(UF_STACK_WORDS * sizeof *st);
    uintptr_t *alt = malloc(UF_ALT_WORDS * sizeof *alt);
    for (int i = 0; i < UF_STACK_WORDS; i++) st[i] = read_value(&r, st, alt);
    for (int i = 0; i < UF_ALT_WORDS; i++) alt[i] = u8(&r) & 1 ? read_value(&r, st, alt) : 0;
    for (int i = 0; i < UF_REMOTE_WORDS; i++) remote[i] = u8(&r) & 1 ? read_value(&r, st, alt) : 0;
    uint8_t mflags = u8(&r);
    pcu_memory mem = {{(uintptr_t)st, (uintptr_t)alt},
                      {(uintptr_t)(st + UF_STACK_WORDS) - (mflags & 7),
                       (mflags & 8) ? (uintptr_t)alt : (uintptr_t)(alt + UF_ALT_WORDS)},
                      (mflags & 16) ? NULL : remote_read, NULL};

    pcu_regs regs;
    regs.pc = read_value(&r, st, alt);
    regs.sp = read_value(&r, st, alt);
    regs.fp = read_value(&r, st, alt);
    regs.lr = read_value(&r, st, alt);
    uint32_t max = 1 + u8(&r) % 64;
    uintptr_t *frames = malloc(max * sizeof *frames);

    walk_mem = &mem;
    pcu_walk_result res;
    uint32_t n = pcu_walk(&snap, &regs, &mem, frames, max, &res);
    if (n > max) fail("depth %u over the cap %u", n, max);
    if (n != res.depth) fail("returned %u, res.depth %u", n, res.depth);
    if (res.end >= PCU_END_REASONS) fail("unknown end reason %u", res.end);
    if (res.fp_steps > n) fail("fp_steps %u > depth %u", res.fp_steps, n);
    if (n < 1) fail("depth 0 with valid arguments");
    if (n >= 1 && frames[0] != regs.pc) fail("frames[0] is not the pc");
    if (n == max && res.end != PCU_END_DEPTH && n > 1) {
        /* fine: the walk may end for another reason on its last step only if
         * it did not write a frame then; a full array means the cap. */
        fail("full frames array but end %s", pcu_end_name(res.end));
    }
    for (uint32_t k = 1; k < n && k < max; k++)
        if (frames[k] < PCU_MIN_PC || frames[k] > PCU_PC_MASK)
            fail("frame %u = %#lx is not a plausible pc", k, (unsigned long)frames[k]);
    if (direct_reads + indirect_reads > 4u * max)
        fail("%u reads for a walk capped at %u frames", direct_reads + indirect_reads, max);

    if (n <= max) check_against_reference(&regs, &mem, frames, n, max, res.fp_steps);

    /* The searches against linear scans: the walk's frames and the pc-1 of
     * each, and a few pcs from the input. */
    for (uint32_t k = 0; k < n && k < max; k++) {
        check_find(&snap, frames[k]);
        check_find(&snap, frames[k] - 1);
        for (uint32_t i = 0; i < ntables; i++) check_lookup(i, frames[k] - (k > 0));
    }
    for (int q = 0; q < 8; q++) {
        uintptr_t pc = read_value(&r, st, alt);
        check_find(&snap, pc);
        for (uint32_t i = 0; i < ntables; i++) check_lookup(i, pc);
    }
    for (uint32_t i = 0; i < ntables; i++) /* every row start and the byte before it */
        for (uint32_t j = 0; j < tables[i].nrows; j++) {
            check_lookup(i, tables[i].base + owned[i].row_pc[j]);
            check_lookup(i, tables[i].base + owned[i].row_pc[j] - 1);
        }
    free(frames);
    free(st);
    free(alt);
    free_tables();
    return failed ? 1 : 0;
}
