/* walker_test.c — unit tests of core/profcore_unwind.h over hand-built
 * tables and fake stacks (x86_64; the aarch64 build is compile-checked).
 * Run under ASan+UBSan: direct reads are instrumented here
 * (PCU_DIRECT_READ_ATTR empty), so a read outside the test's stack buffer
 * is a sanitizer report, and the read hook below checks every direct read
 * against the given ranges as well. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <ucontext.h>

#include "../check.h"

static int hook_out_of_range; /* direct reads outside the ranges */
static unsigned hook_direct_reads;
#define PCU_DIRECT_READ_ATTR
#define PCU_DIRECT_READ_HOOK(mem, addr) walker_test_direct_read((mem), (addr))
struct pcu_memory;
static void walker_test_direct_read(const struct pcu_memory *m, uintptr_t addr);
#define PROFCORE_UNWIND_IMPLEMENTATION
#include "profcore_unwind.h"

static void walker_test_direct_read(const struct pcu_memory *m, uintptr_t addr) {
    hook_direct_reads++;
    for (int i = 0; i < 2; i++)
        if (addr >= m->lo[i] && addr + 8 <= m->hi[i]) return;
    hook_out_of_range++;
}

/* The ucontext offsets the walker uses are those of <ucontext.h>
 * (tests/unwind_walker/ucontext_layout.c checks both architectures). */
#if defined(__x86_64__)
_Static_assert(offsetof(ucontext_t, uc_mcontext.gregs) + 8 * REG_RIP == PCU_UC_PC, "rip");
_Static_assert(offsetof(ucontext_t, uc_mcontext.gregs) + 8 * REG_RSP == PCU_UC_SP, "rsp");
_Static_assert(offsetof(ucontext_t, uc_mcontext.gregs) + 8 * REG_RBP == PCU_UC_FP, "rbp");
#define UC_PC(u) ((u).uc_mcontext.gregs[REG_RIP])
#define UC_SP(u) ((u).uc_mcontext.gregs[REG_RSP])
#define UC_FP(u) ((u).uc_mcontext.gregs[REG_RBP])
#else
_Static_assert(offsetof(ucontext_t, uc_mcontext.pc) == PCU_UC_PC, "pc");
#define UC_PC(u) ((u).uc_mcontext.pc)
#define UC_SP(u) ((u).uc_mcontext.sp)
#define UC_FP(u) ((u).uc_mcontext.regs[29])
#define UC_LR(u) ((u).uc_mcontext.regs[30])
#endif

/* ---- a fake stack ---------------------------------------------------------- */
#define STACK_WORDS 1024 /* an aarch64 ucontext is 4.5 KiB */
static uintptr_t stack[STACK_WORDS];
static uintptr_t altstack[256];
#define S(i) ((uintptr_t)&stack[(i)])     /* address of stack word i */
#define A(i) ((uintptr_t)&altstack[(i)])  /* address of altstack word i */

/* The stack only (the arrays may be adjacent in memory: a second range
 * would make a read past the stack's end look valid). */
static pcu_memory mem_stack(void) {
    pcu_memory m = {{S(0), 0}, {S(STACK_WORDS), 0}, NULL, NULL};
    return m;
}
static pcu_memory mem_stack_and_alt(void) {
    pcu_memory m = {{S(0), A(0)}, {S(STACK_WORDS), A(256)}, NULL, NULL};
    return m;
}

/* ---- hand-built tables ------------------------------------------------------ */
#define MAXROWS 64
typedef struct test_table {
    uint32_t row_pc[MAXROWS];
    uint16_t row_rule[MAXROWS];
    uint32_t page_first[MAXROWS];
    pcu_rule rules[16];
    pcu_table t;
} test_table;

/* Fill page_first the way the manual says (the row covering each page start). */
static void finish(test_table *tt, uintptr_t base, uint32_t size, uint32_t nrows, uint32_t nrules) {
    tt->t.base = base;
    tt->t.size = size;
    tt->t.nrows = nrows;
    tt->t.row_pc = tt->row_pc;
    tt->t.row_rule = tt->row_rule;
    tt->t.rules = tt->rules;
    tt->t.nrules = nrules;
    tt->t.npages = (size >> PCU_PAGE_SHIFT) + 2;
    tt->t.page_first = tt->page_first;
    for (uint32_t p = 0; p < tt->t.npages; p++) {
        uint32_t first = 0;
        for (uint32_t i = 0; i < nrows; i++)
            if (tt->row_pc[i] <= (uint64_t)p << PCU_PAGE_SHIFT) first = i;
        tt->page_first[p] = first;
    }
}

static pcu_rule rule(uint8_t kind, uint8_t reg, int32_t cfa_off, int16_t ra_off, int16_t fp_off) {
    pcu_rule r = {kind, reg, fp_off, ra_off, 0, cfa_off};
    return r;
}

/* Three "functions", each one row: f0 at 0x1000, f1 at 0x2000, f2 at 0x3000
 * (offsets from base 0x400000), with rules 0, 1, 2. */
#define BASE 0x400000u
#define PAC_BITS ((uintptr_t)0x002d << 48) /* a pointer-authentication code */
#define PC(off) ((uintptr_t)BASE + (off))
static test_table T1;
static pcu_snapshot snap1 = {1, &T1.t};

static void three_functions(pcu_rule r0, pcu_rule r1, pcu_rule r2) {
    memset(&T1, 0, sizeof T1);
    T1.row_pc[0] = 0x0;    T1.row_rule[0] = PCU_RULE_GAP;
    T1.row_pc[1] = 0x1000; T1.row_rule[1] = 0;
    T1.row_pc[2] = 0x2000; T1.row_rule[2] = 1;
    T1.row_pc[3] = 0x3000; T1.row_rule[3] = 2;
    T1.rules[0] = r0;
    T1.rules[1] = r1;
    T1.rules[2] = r2;
    T1.rules[3] = rule(PCU_KIND_END, 0, 0, 0, 0);
    finish(&T1, BASE, 0x4000, 4, 4);
}

static uint32_t walk(const pcu_snapshot *s, uintptr_t pc, uintptr_t sp, uintptr_t fp,
                     const pcu_memory *m, uintptr_t *frames, uint32_t max, pcu_walk_result *res) {
    pcu_regs regs = {pc, sp, fp, 0};
    hook_out_of_range = 0;
    return pcu_walk(s, &regs, m, frames, max, res);
}

/* ---- pcu_find_table --------------------------------------------------------- */
static void test_find_table(void) {
    pcu_table t[3];
    memset(t, 0, sizeof t);
    t[0].base = 0x1000; t[0].size = 0x100;
    t[1].base = 0x2000; t[1].size = 0x1000;
    t[2].base = 0x9000; t[2].size = 0x10;
    pcu_snapshot s = {3, t};
    CHECK(pcu_find_table(&s, 0xfff) == NULL, "below the first table");
    CHECK(pcu_find_table(&s, 0x1000) == &t[0], "first byte of t0");
    CHECK(pcu_find_table(&s, 0x10ff) == &t[0], "last byte of t0");
    CHECK(pcu_find_table(&s, 0x1100) == NULL, "just past t0 (size is exclusive)");
    CHECK(pcu_find_table(&s, 0x1fff) == NULL, "between tables");
    CHECK(pcu_find_table(&s, 0x2000) == &t[1], "t1 start");
    CHECK(pcu_find_table(&s, 0x2fff) == &t[1], "t1 end");
    CHECK(pcu_find_table(&s, 0x9008) == &t[2], "t2");
    CHECK(pcu_find_table(&s, 0x9010) == NULL, "past the last table");
    CHECK(pcu_find_table(&s, UINTPTR_MAX) == NULL, "top of the address space");
    pcu_snapshot empty = {0, t};
    CHECK(pcu_find_table(&empty, 0x1000) == NULL, "no tables");
    CHECK(pcu_find_table(NULL, 0x1000) == NULL, "NULL snapshot");
    /* Every address in a range against a linear scan. */
    int bad = 0;
    for (uintptr_t pc = 0xf00; pc < 0xa000; pc += 7) {
        const pcu_table *want = NULL;
        for (int i = 0; i < 3; i++)
            if (pc >= t[i].base && pc - t[i].base < t[i].size) want = &t[i];
        bad += pcu_find_table(&s, pc) != want;
    }
    CHECK(bad == 0, "find_table disagrees with a linear scan %d times", bad);
}

/* ---- pcu_lookup ------------------------------------------------------------- */
static uint32_t rng = 12345;
static uint32_t next_rand(void) {
    rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5;
    return rng;
}

static void test_lookup(void) {
    three_functions(rule(0, 0, 8, -8, PCU_OFF_SAME), rule(0, 0, 8, -8, PCU_OFF_SAME),
                    rule(0, 0, 8, -8, PCU_OFF_SAME));
    CHECK(pcu_lookup(&T1.t, PC(0)) == 0, "row 0 at its start");
    CHECK(pcu_lookup(&T1.t, PC(0xfff)) == 0, "row 0 at its end");
    CHECK(pcu_lookup(&T1.t, PC(0x1000)) == 1, "row 1 start");
    CHECK(pcu_lookup(&T1.t, PC(0x3fff)) == 3, "last row up to size");
    CHECK(pcu_lookup(&T1.t, PC(0x4000)) == -1, "size is exclusive");
    CHECK(pcu_lookup(&T1.t, BASE - 1) == -1, "below base");
    /* A table whose first row starts after offset 0. */
    test_table tt;
    memset(&tt, 0, sizeof tt);
    tt.row_pc[0] = 0x10; tt.row_pc[1] = 0x20;
    finish(&tt, BASE, 0x30, 2, 0);
    CHECK(pcu_lookup(&tt.t, PC(0xf)) == -1, "before the first row");
    CHECK(pcu_lookup(&tt.t, PC(0x10)) == 0, "first row");
    CHECK(pcu_lookup(&tt.t, PC(0x2f)) == 1, "last row");

    /* Random tables over several pages, every offset against a linear scan. */
    int bad = 0, rounds = 0;
    for (int round = 0; round < 200; round++) {
        uint32_t nrows = 1 + next_rand() % MAXROWS, off = next_rand() % 64;
        memset(&tt, 0, sizeof tt);
        for (uint32_t i = 0; i < nrows; i++) {
            tt.row_pc[i] = off;
            off += 1 + next_rand() % (round % 2 ? 40 : 3000);
        }
        finish(&tt, BASE, off, nrows, 0);
        for (uint32_t o = 0; o < off + 8; o++) {
            int64_t want = -1;
            for (uint32_t i = 0; i < nrows; i++)
                if (tt.row_pc[i] <= o && o < off) want = i;
            bad += pcu_lookup(&tt.t, PC(o)) != want;
        }
        rounds++;
    }
    CHECK(bad == 0, "lookup disagrees with a linear scan %d times (%d tables)", bad, rounds);

    /* A corrupt page index never yields a wrong row, and never reads past the arrays. */
    memset(&tt, 0, sizeof tt);
    for (uint32_t i = 0; i < 8; i++) tt.row_pc[i] = i * 0x800;
    finish(&tt, BASE, 0x4000, 8, 0);
    tt.page_first[1] = 7; tt.page_first[2] = 1000; tt.page_first[3] = 0;
    int wrong = 0;
    for (uint32_t o = 0; o < 0x4000; o += 0x10) {
        int64_t got = pcu_lookup(&tt.t, PC(o));
        if (got != -1 && got != (int64_t)(o / 0x800)) wrong++;
    }
    CHECK(wrong == 0, "corrupt page index gave %d wrong rows", wrong);
    tt.t.npages = 1;
    CHECK(pcu_lookup(&tt.t, PC(0)) == -1, "npages too small for the size");
    tt.t.npages = 0;
    CHECK(pcu_lookup(&tt.t, PC(0)) == -1, "npages 0");
}

/* ---- walks ------------------------------------------------------------------ */

/* CFA = SP + k everywhere: f0 (leaf, CFA = SP+16, RA at -8), f1 (CFA = SP+32,
 * RA at -8, FP saved at -16), f2 (END: the outermost frame). */
static void test_cfa_sp(void) {
    three_functions(rule(PCU_KIND_CFA, PCU_REG_SP, 16, -8, PCU_OFF_SAME),
                    rule(PCU_KIND_CFA, PCU_REG_SP, 32, -8, -16),
                    rule(PCU_KIND_END, 0, 0, 0, 0));
    memset(stack, 0, sizeof stack);
    /* leaf sp = S(10); CFA0 = S(12); RA at S(11) -> f1 */
    stack[11] = PC(0x2010);
    /* f1: sp = S(12), CFA1 = S(16); RA at S(15) -> f2, FP at S(14) */
    stack[15] = PC(0x3020);
    stack[14] = 0x1234;
    pcu_memory m = mem_stack();
    uintptr_t f[8];
    pcu_walk_result res;
    uint32_t n = walk(&snap1, PC(0x1004), S(10), 0, &m, f, 8, &res);
    CHECK(n == 3 && res.depth == 3, "depth %u", n);
    CHECK(f[0] == PC(0x1004) && f[1] == PC(0x2010) && f[2] == PC(0x3020), "frames");
    CHECK(res.end == PCU_END_OUTERMOST, "end %s", pcu_end_name(res.end));
    CHECK(res.fp_steps == 0, "no fp steps");
    CHECK(hook_out_of_range == 0, "direct reads in range");
}

/* CFA = FP + 16 (rbp-based frames): the FP chain is restored from CFA - 16. */
static void test_cfa_fp(void) {
    three_functions(rule(PCU_KIND_CFA, PCU_REG_FP, 16, -8, -16),
                    rule(PCU_KIND_CFA, PCU_REG_FP, 16, -8, -16),
                    rule(PCU_KIND_END, 0, 0, 0, 0));
    memset(stack, 0, sizeof stack);
    /* f0: fp = S(20): saved fp at S(20) = S(30), RA at S(21) -> f1 */
    stack[20] = S(30); stack[21] = PC(0x1800 + 0x1000);
    /* f1: fp = S(30): saved fp S(40), RA -> f2 */
    stack[30] = S(40); stack[31] = PC(0x3000 + 0x10);
    pcu_memory m = mem_stack();
    uintptr_t f[8];
    pcu_walk_result res;
    uint32_t n = walk(&snap1, PC(0x1100), S(5), S(20), &m, f, 8, &res);
    CHECK(n == 3 && f[1] == PC(0x2800) && f[2] == PC(0x3010), "fp frames, depth %u", n);
    CHECK(res.end == PCU_END_OUTERMOST, "end %s", pcu_end_name(res.end));
}

/* CFA = *(SP + 8) (a realigned stack: the prologue saved the real CFA). */
static void test_deref(void) {
    three_functions(rule(PCU_KIND_CFA_DEREF, PCU_REG_SP, 8, -8, PCU_OFF_SAME),
                    rule(PCU_KIND_END, 0, 0, 0, 0), rule(PCU_KIND_END, 0, 0, 0, 0));
    memset(stack, 0, sizeof stack);
    stack[11] = S(40);          /* *(sp + 8) = CFA */
    stack[39] = PC(0x2004);     /* RA at CFA - 8 */
    pcu_memory m = mem_stack();
    uintptr_t f[8];
    pcu_walk_result res;
    uint32_t n = walk(&snap1, PC(0x1000), S(10), 0, &m, f, 8, &res);
    CHECK(n == 2 && f[1] == PC(0x2004) && res.end == PCU_END_OUTERMOST, "deref: depth %u end %s", n,
          pcu_end_name(res.end));
    stack[11] = S(40) + 4; /* a misaligned loaded CFA */
    walk(&snap1, PC(0x1000), S(10), 0, &m, f, 8, &res);
    CHECK(res.end == PCU_END_MISALIGNED, "deref misaligned: %s", pcu_end_name(res.end));
    stack[11] = S(5); /* a CFA below SP */
    walk(&snap1, PC(0x1000), S(10), 0, &m, f, 8, &res);
    CHECK(res.end == PCU_END_NOT_MONOTONIC, "deref below sp: %s", pcu_end_name(res.end));
}

#if defined(__x86_64__)
/* PLT: CFA = rsp + 8, plus 8 once the stub pushed (rip & 15 >= 11). */
static void test_plt(void) {
    three_functions(rule(PCU_KIND_PLT, PCU_REG_SP, 8, -8, PCU_OFF_SAME),
                    rule(PCU_KIND_END, 0, 0, 0, 0), rule(PCU_KIND_END, 0, 0, 0, 0));
    memset(stack, 0, sizeof stack);
    stack[10] = PC(0x2001); /* RA at rsp when rip & 15 < 11 */
    stack[11] = PC(0x2002); /* RA at rsp + 8 after the push */
    pcu_memory m = mem_stack();
    uintptr_t f[4];
    pcu_walk_result res;
    walk(&snap1, PC(0x1000 + 10), S(10), 0, &m, f, 4, &res);
    CHECK(res.depth == 2 && f[1] == PC(0x2001), "plt rip&15=10: %lx", (unsigned long)f[1]);
    walk(&snap1, PC(0x1000 + 11), S(10), 0, &m, f, 4, &res);
    CHECK(res.depth == 2 && f[1] == PC(0x2002), "plt rip&15=11: %lx", (unsigned long)f[1]);
    walk(&snap1, PC(0x1000 + 0x1f), S(10), 0, &m, f, 4, &res);
    CHECK(res.depth == 2 && f[1] == PC(0x2002), "plt rip&15=15: %lx", (unsigned long)f[1]);
}
#endif

/* A signal frame with a real ucontext: copied from a real handler's third
 * argument into the fake stack where the trampoline's SP points. */
static ucontext_t captured;
static void capture(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)si;
    memcpy(&captured, uc, sizeof captured);
}

/* A real handler's ucontext, through a real SIGUSR1. */
static void capture_real_ucontext(void) {
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = capture;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, &old);
    raise(SIGUSR1);
    sigaction(SIGUSR1, &old, NULL);
}

static void test_signal_frame(void) {
    capture_real_ucontext();
    CHECK(UC_PC(captured) != 0, "captured a ucontext");

    /* f0: the trampoline (SIGNAL); the interrupted pc lands at the start of
     * f2's row, and the row before (f1) is INVALID: the lookup must use the
     * pc itself, not pc - 1.  f2 is END. */
    three_functions(rule(PCU_KIND_SIGNAL, PCU_REG_SP, PCU_SIGFRAME_UC_OFFSET, 0, 0),
                    rule(PCU_KIND_INVALID, 0, 0, 0, 0), rule(PCU_KIND_END, 0, 0, 0, 0));
    ucontext_t uc = captured;
    UC_PC(uc) = PC(0x3000);
    /* The interrupted code ran on the other range (a sigaltstack case the
     * other way round): its SP is below the trampoline's, which is allowed
     * across a signal frame. */
    UC_SP(uc) = A(8);
    UC_FP(uc) = A(16);
    memset(stack, 0, sizeof stack);
    memcpy((char *)&stack[100] + PCU_SIGFRAME_UC_OFFSET, &uc, sizeof uc);
    pcu_memory m = mem_stack_and_alt();
    uintptr_t f[8];
    pcu_walk_result res;
    uint32_t n = walk(&snap1, PC(0x1000), S(100), 0, &m, f, 8, &res);
    CHECK(n == 2 && f[1] == PC(0x3000), "signal frame: depth %u f1 %lx", n, (unsigned long)f[1]);
    CHECK(res.end == PCU_END_OUTERMOST, "after the signal frame, exact pc: %s", pcu_end_name(res.end));

    /* The real captured values come through unchanged. */
    uc = captured;
    memcpy((char *)&stack[100] + PCU_SIGFRAME_UC_OFFSET, &uc, sizeof uc);
    n = walk(&snap1, PC(0x1000), S(100), 0, &m, f, 2, &res);
    CHECK(n == 2 && f[1] == (uintptr_t)UC_PC(captured), "real interrupted pc");

    /* The ucontext outside the ranges, no read_word: a bad read. */
    m = mem_stack();
    n = walk(&snap1, PC(0x1000), S(STACK_WORDS - 4), 0, &m, f, 8, &res);
    CHECK(n == 1 && res.end == PCU_END_BAD_READ, "ucontext out of range: %s", pcu_end_name(res.end));
    CHECK(hook_out_of_range == 0, "direct reads in range");
}

/* A return address at the first byte of the next function: looked up as pc - 1. */
static void test_pc_minus_one(void) {
    three_functions(rule(PCU_KIND_CFA, PCU_REG_SP, 8, -8, PCU_OFF_SAME),
                    rule(PCU_KIND_END, 0, 0, 0, 0), rule(PCU_KIND_INVALID, 0, 0, 0, 0));
    memset(stack, 0, sizeof stack);
    stack[10] = PC(0x3000); /* the call was f1's last instruction */
    pcu_memory m = mem_stack();
    uintptr_t f[4];
    pcu_walk_result res;
    walk(&snap1, PC(0x1000), S(10), 0, &m, f, 4, &res);
    CHECK(res.depth == 2 && res.end == PCU_END_OUTERMOST, "pc-1 finds f1 (END), got %s",
          pcu_end_name(res.end));
    /* The interrupted pc itself at f2's first byte is looked up as is. */
    walk(&snap1, PC(0x3000), S(10), 0, &m, f, 4, &res);
    CHECK(res.depth == 1 && res.end == PCU_END_INVALID_RULE, "interrupted pc exact: %s",
          pcu_end_name(res.end));
}

static void test_end_invalid(void) {
    three_functions(rule(PCU_KIND_END, 0, 0, 0, 0), rule(PCU_KIND_INVALID, 0, 0, 0, 0),
                    rule(77, 0, 8, -8, PCU_OFF_SAME));
    pcu_memory m = mem_stack();
    uintptr_t f[4];
    pcu_walk_result res;
    walk(&snap1, PC(0x1000), S(10), 0, &m, f, 4, &res);
    CHECK(res.depth == 1 && res.end == PCU_END_OUTERMOST, "END");
    walk(&snap1, PC(0x2000), S(10), 0, &m, f, 4, &res);
    CHECK(res.depth == 1 && res.end == PCU_END_INVALID_RULE, "INVALID");
    walk(&snap1, PC(0x3000), S(10), 0, &m, f, 4, &res);
    CHECK(res.end == PCU_END_INVALID_RULE, "unknown kind");
    T1.rules[2] = rule(PCU_KIND_CFA, 7, 8, -8, PCU_OFF_SAME);
    walk(&snap1, PC(0x3000), S(10), 0, &m, f, 4, &res);
    CHECK(res.end == PCU_END_INVALID_RULE, "unknown cfa register");
#if defined(__x86_64__)
    T1.rules[2] = rule(PCU_KIND_CFA, PCU_REG_SP, 8, PCU_OFF_IN_LR, PCU_OFF_SAME);
    walk(&snap1, PC(0x3000), S(10), 0, &m, f, 4, &res);
    CHECK(res.end == PCU_END_INVALID_RULE, "RA in LR on x86_64");
#endif
    T1.rules[2] = rule(PCU_KIND_CFA, PCU_REG_SP, 8, PCU_OFF_SAME, PCU_OFF_SAME);
    walk(&snap1, PC(0x3000), S(10), 0, &m, f, 4, &res);
    CHECK(res.end == PCU_END_INVALID_RULE, "RA 'same'");
    T1.row_rule[3] = 9; /* past nrules = 4 */
    walk(&snap1, PC(0x3000), S(10), 0, &m, f, 4, &res);
    CHECK(res.end == PCU_END_INVALID_RULE, "rule index past nrules");
}

/* GAP rows and pcs in no table: the frame-pointer step, counted. */
static void test_gap_fp(void) {
    three_functions(rule(PCU_KIND_CFA, PCU_REG_SP, 8, -8, PCU_OFF_SAME),
                    rule(PCU_KIND_END, 0, 0, 0, 0), rule(PCU_KIND_END, 0, 0, 0, 0));
    memset(stack, 0, sizeof stack);
    /* pc in the GAP row 0; fp chain S(20) -> S(30) -> 0 */
    stack[20] = S(30); stack[21] = 0x7000;       /* no table there */
    stack[30] = 0;     stack[31] = PC(0x1004);   /* f0: CFA = SP + 8 */
    stack[32] = PC(0x2000 + 4);                  /* f0's RA at its CFA - 8; SP = S(32) */
    pcu_memory m = mem_stack();
    uintptr_t f[8];
    pcu_walk_result res;
    uint32_t n = walk(&snap1, PC(0x10), S(5), S(20), &m, f, 8, &res);
    CHECK(n == 4 && f[1] == 0x7000 && f[2] == PC(0x1004) && f[3] == PC(0x2004),
          "gap then no table then table: depth %u", n);
    CHECK(res.fp_steps == 2 && res.end == PCU_END_OUTERMOST, "fp_steps %u end %s", res.fp_steps,
          pcu_end_name(res.end));

    /* FP == 0 in a gap: the ABI's outermost frame. */
    n = walk(&snap1, PC(0x10), S(5), 0, &m, f, 8, &res);
    CHECK(n == 1 && res.end == PCU_END_OUTERMOST, "fp 0: %s", pcu_end_name(res.end));
    /* No table and the fp chain leaves the stack: NO_TABLE. */
    n = walk(&snap1, 0x7000, S(5), 0x10000, &m, f, 8, &res);
    CHECK(n == 1 && res.end == PCU_END_NO_TABLE, "no table, bad fp: %s", pcu_end_name(res.end));
    /* A GAP whose fp is misaligned / below sp / loops. */
    walk(&snap1, PC(0x10), S(5), S(20) + 1, &m, f, 8, &res);
    CHECK(res.end == PCU_END_MISALIGNED, "fp misaligned: %s", pcu_end_name(res.end));
    walk(&snap1, PC(0x10), S(25), S(20), &m, f, 8, &res);
    CHECK(res.end == PCU_END_NOT_MONOTONIC, "fp below sp: %s", pcu_end_name(res.end));
    stack[20] = S(20); stack[21] = PC(0x10); /* a frame record pointing at itself */
    n = walk(&snap1, PC(0x10), S(5), S(20), &m, f, 8, &res);
    CHECK(n == 2 && res.end == PCU_END_NOT_MONOTONIC, "fp loop: depth %u %s", n, pcu_end_name(res.end));
    /* No snapshot at all: frame pointers only. */
    stack[20] = S(30); stack[21] = 0x7000;
    stack[30] = 0;     stack[31] = 0x7100;
    n = walk(NULL, 0x6000, S(5), S(20), &m, f, 8, &res);
    CHECK(n == 3 && f[2] == 0x7100 && res.end == PCU_END_OUTERMOST && res.fp_steps == 2,
          "NULL snapshot: depth %u end %s", n, pcu_end_name(res.end));
}

/* Reads: only inside the ranges, else through read_word, else fail. */
static unsigned rw_calls;
static uintptr_t rw_last;
static bool read_word_fake(void *ctx, uintptr_t addr, uintptr_t *out) {
    rw_calls++;
    rw_last = addr;
    if (addr == 0x10008) { *out = *(uintptr_t *)ctx; return true; }
    if (addr == 0x10000) { *out = 0; return true; }
    return false;
}

static void test_bounds(void) {
    three_functions(rule(PCU_KIND_CFA, PCU_REG_SP, 16, -8, PCU_OFF_SAME),
                    rule(PCU_KIND_END, 0, 0, 0, 0), rule(PCU_KIND_END, 0, 0, 0, 0));
    memset(stack, 0, sizeof stack);
    stack[11] = PC(0x2000);
    pcu_memory m = mem_stack();
    uintptr_t f[8];
    pcu_walk_result res;
    /* The range ends 4 bytes into the RA's word: not a direct read. */
    m.hi[0] = S(11) + 4;
    hook_direct_reads = 0;
    walk(&snap1, PC(0x1000), S(10), 0, &m, f, 8, &res);
    CHECK(res.depth == 1 && res.end == PCU_END_BAD_READ && hook_direct_reads == 0,
          "word crossing hi: %s, %u direct", pcu_end_name(res.end), hook_direct_reads);
    m.hi[0] = S(12);
    walk(&snap1, PC(0x1000), S(10), 0, &m, f, 8, &res);
    CHECK(res.depth == 2 && hook_out_of_range == 0, "word ending at hi is direct");
    /* Outside every range: read_word is asked, with that address. */
    uintptr_t ra = PC(0x3000);
    m.read_word = read_word_fake;
    m.ctx = &ra;
    rw_calls = 0;
    hook_direct_reads = 0;
    walk(NULL, 0x7000, 0x8000, 0x10000, &m, f, 8, &res);
    CHECK(res.depth == 2 && f[1] == ra && res.end == PCU_END_OUTERMOST && rw_calls == 2 &&
              hook_direct_reads == 0,
          "through read_word: depth %u end %s calls %u", res.depth, pcu_end_name(res.end), rw_calls);
    rw_calls = 0;
    walk(NULL, 0x7000, 0x8000, 0x20000, &m, f, 8, &res);
    CHECK(res.end == PCU_END_NO_TABLE && rw_calls == 1 && rw_last == 0x20000,
          "read_word refuses: %s", pcu_end_name(res.end));
    /* An empty range (lo == hi) and an inverted one allow nothing. */
    m.read_word = NULL;
    m.lo[0] = m.hi[0] = S(10);
    m.lo[1] = S(20); m.hi[1] = S(0);
    walk(&snap1, PC(0x1000), S(10), 0, &m, f, 8, &res);
    CHECK(res.end == PCU_END_BAD_READ, "empty ranges: %s", pcu_end_name(res.end));
    /* An offset that would wrap around the address space. */
    m = mem_stack();
    T1.rules[0] = rule(PCU_KIND_CFA, PCU_REG_SP, 64, -8, PCU_OFF_SAME);
    walk(&snap1, PC(0x1000), UINTPTR_MAX - 15, 0, &m, f, 8, &res);
    CHECK(res.end == PCU_END_BAD_READ, "wrapping CFA: %s", pcu_end_name(res.end));
}

static void test_monotonic(void) {
    /* CFA = SP + 0 on x86_64 never makes progress. */
    three_functions(rule(PCU_KIND_CFA, PCU_REG_SP, 0, 0, PCU_OFF_SAME),
                    rule(PCU_KIND_CFA, PCU_REG_SP, -16, 8, PCU_OFF_SAME),
                    rule(PCU_KIND_END, 0, 0, 0, 0));
    memset(stack, 0, sizeof stack);
    stack[10] = PC(0x1000);
    pcu_memory m = mem_stack();
    uintptr_t f[8];
    pcu_walk_result res;
    walk(&snap1, PC(0x1000), S(10), 0, &m, f, 8, &res);
    CHECK(res.depth == 1 && res.end == PCU_END_NOT_MONOTONIC, "CFA == SP: %s", pcu_end_name(res.end));
    walk(&snap1, PC(0x2000), S(10), 0, &m, f, 8, &res);
    CHECK(res.depth == 1 && res.end == PCU_END_NOT_MONOTONIC, "CFA below SP: %s", pcu_end_name(res.end));
    /* A recursion that really climbs is fine until the cap. */
    T1.rules[0] = rule(PCU_KIND_CFA, PCU_REG_SP, 8, -8, PCU_OFF_SAME);
    for (int i = 10; i < 40; i++) stack[i] = PC(0x1000 + 1);
    walk(&snap1, PC(0x1000), S(10), 0, &m, f, 8, &res);
    CHECK(res.depth == 8 && res.end == PCU_END_DEPTH, "climbing recursion hits the cap: %u %s",
          res.depth, pcu_end_name(res.end));
}

static void test_depth_cap(void) {
    three_functions(rule(PCU_KIND_CFA, PCU_REG_SP, 8, -8, PCU_OFF_SAME),
                    rule(PCU_KIND_END, 0, 0, 0, 0), rule(PCU_KIND_END, 0, 0, 0, 0));
    memset(stack, 0, sizeof stack);
    for (int i = 0; i < STACK_WORDS; i++) stack[i] = PC(0x1001);
    pcu_memory m = mem_stack();
    uintptr_t f[12];
    pcu_walk_result res;
    for (uint32_t max = 0; max <= 10; max++) {
        for (int i = 0; i < 12; i++) f[i] = 0xdead;
        uint32_t n = walk(&snap1, PC(0x1000), S(0), 0, &m, f, max, &res);
        CHECK(n == max && res.depth == max, "cap %u: depth %u", max, n);
        CHECK(f[max] == 0xdead && f[11] == 0xdead, "cap %u: nothing written past max", max);
        CHECK(max == 0 || res.end == PCU_END_DEPTH, "cap %u: end %s", max, pcu_end_name(res.end));
    }
    /* The stack runs out before the cap: the read past the range fails. */
    uint32_t n = walk(&snap1, PC(0x1000), S(STACK_WORDS - 3), 0, &m, f, 12, &res);
    CHECK(n == 4 && res.end == PCU_END_BAD_READ, "stack top: depth %u %s", n, pcu_end_name(res.end));
}

static void test_bad_pc_and_args(void) {
    three_functions(rule(PCU_KIND_CFA, PCU_REG_SP, 8, -8, PCU_OFF_SAME),
                    rule(PCU_KIND_END, 0, 0, 0, 0), rule(PCU_KIND_END, 0, 0, 0, 0));
    memset(stack, 0, sizeof stack);
    pcu_memory m = mem_stack();
    uintptr_t f[4];
    pcu_walk_result res;
    stack[10] = 0;
    walk(&snap1, PC(0x1000), S(10), 0, &m, f, 4, &res);
    CHECK(res.depth == 1 && res.end == PCU_END_BAD_PC, "zero RA: %s", pcu_end_name(res.end));
#if defined(__x86_64__)
    stack[10] = (uintptr_t)1 << 47;
#else
    stack[10] = PAC_BITS | 0x10; /* stripped: below PCU_MIN_PC */
#endif
    walk(&snap1, PC(0x1000), S(10), 0, &m, f, 4, &res);
    CHECK(res.end == PCU_END_BAD_PC, "implausible RA: %s", pcu_end_name(res.end));
    uint32_t n = walk(&snap1, 0x10, S(10), 0, &m, f, 4, &res);
    CHECK(n == 1 && f[0] == 0x10 && res.end == PCU_END_BAD_PC, "implausible interrupted pc kept, then stop");
    walk(&snap1, PC(0x1000), S(10) + 4, 0, &m, f, 4, &res);
    CHECK(res.end == PCU_END_MISALIGNED, "misaligned SP -> CFA: %s", pcu_end_name(res.end));
    pcu_regs regs = {PC(0x1000), S(10), 0, 0};
    CHECK(pcu_walk(&snap1, NULL, &m, f, 4, &res) == 0 && res.end == PCU_END_BAD_ARGUMENT, "NULL regs");
    CHECK(pcu_walk(&snap1, &regs, NULL, f, 4, &res) == 0 && res.end == PCU_END_BAD_ARGUMENT, "NULL mem");
    CHECK(pcu_walk(&snap1, &regs, &m, NULL, 4, &res) == 0 && res.end == PCU_END_BAD_ARGUMENT, "NULL frames");
    CHECK(pcu_walk(&snap1, &regs, &m, f, 4, NULL) == 1, "NULL result is allowed");
}

#if defined(__aarch64__)
/* aarch64: the interrupted leaf's return address is still in LR; return
 * addresses carry pointer-authentication bits above the VA bits; no PLT kind. */
static void test_aarch64_lr_pac(void) {
    three_functions(rule(PCU_KIND_CFA, PCU_REG_SP, 0, PCU_OFF_IN_LR, PCU_OFF_SAME),
                    rule(PCU_KIND_CFA, PCU_REG_SP, 16, -8, -16), rule(PCU_KIND_END, 0, 0, 0, 0));
    memset(stack, 0, sizeof stack);
    stack[11] = PAC_BITS | PC(0x3008); /* f1's saved x30, signed */
    stack[10] = 0;                     /* f1's saved x29 */
    pcu_memory m = mem_stack();
    uintptr_t f[8];
    pcu_walk_result res;
    pcu_regs regs = {PC(0x1000), S(10), S(40), PAC_BITS | PC(0x2004)};
    uint32_t n = pcu_walk(&snap1, &regs, &m, f, 8, &res);
    CHECK(n == 3 && f[1] == PC(0x2004) && f[2] == PC(0x3008) && res.end == PCU_END_OUTERMOST,
          "leaf in LR, PAC stripped: depth %u f1 %lx f2 %lx end %s", n, (unsigned long)f[1],
          (unsigned long)f[2], pcu_end_name(res.end));
    /* LR holds only the interrupted frame's return address. */
    T1.rules[1] = rule(PCU_KIND_CFA, PCU_REG_SP, 16, PCU_OFF_IN_LR, PCU_OFF_SAME);
    n = pcu_walk(&snap1, &regs, &m, f, 8, &res);
    CHECK(n == 2 && res.end == PCU_END_INVALID_RULE, "LR rule for a caller frame: depth %u %s", n,
          pcu_end_name(res.end));
    T1.rules[0] = rule(PCU_KIND_PLT, PCU_REG_SP, 8, -8, PCU_OFF_SAME);
    n = pcu_walk(&snap1, &regs, &m, f, 8, &res);
    CHECK(n == 1 && res.end == PCU_END_INVALID_RULE, "no PLT kind on aarch64: %s", pcu_end_name(res.end));
}

/* A signal frame from a real aarch64 ucontext (at sp + 128, after the
 * siginfo): pc, sp, x29 and x30 come from it, and the interrupted frame
 * may again be a leaf with its return address in x30. */
static void test_aarch64_signal_frame(void) {
    capture_real_ucontext();
    three_functions(rule(PCU_KIND_SIGNAL, PCU_REG_SP, PCU_SIGFRAME_UC_OFFSET, 0, 0),
                    rule(PCU_KIND_CFA, PCU_REG_SP, 0, PCU_OFF_IN_LR, PCU_OFF_SAME),
                    rule(PCU_KIND_END, 0, 0, 0, 0));
    ucontext_t uc = captured;
    UC_PC(uc) = PC(0x2000);
    UC_SP(uc) = A(8);
    UC_FP(uc) = A(16);
    UC_LR(uc) = PAC_BITS | PC(0x3004);
    memset(stack, 0, sizeof stack);
    memcpy((char *)&stack[100] + PCU_SIGFRAME_UC_OFFSET, &uc, sizeof uc);
    pcu_memory m = mem_stack_and_alt();
    uintptr_t f[8];
    pcu_walk_result res;
    pcu_regs regs = {PC(0x1000), S(100), 0, 0};
    hook_out_of_range = 0;
    uint32_t n = pcu_walk(&snap1, &regs, &m, f, 8, &res);
    CHECK(n == 3 && f[1] == PC(0x2000) && f[2] == PC(0x3004) && res.end == PCU_END_OUTERMOST,
          "aarch64 signal frame then leaf: depth %u f1 %lx f2 %lx %s", n, (unsigned long)f[1],
          (unsigned long)f[2], pcu_end_name(res.end));
    CHECK(hook_out_of_range == 0, "direct reads in range");
}
#endif

static void test_end_names(void) {
    const char *seen[PCU_END_REASONS];
    int distinct = 1;
    for (unsigned e = 0; e < PCU_END_REASONS; e++) {
        seen[e] = pcu_end_name(e);
        if (strcmp(seen[e], "unknown") == 0) distinct = 0;
        for (unsigned j = 0; j < e; j++)
            if (strcmp(seen[j], seen[e]) == 0) distinct = 0;
    }
    CHECK(distinct, "every end reason has its own name");
    CHECK(strcmp(pcu_end_name(PCU_END_REASONS), "unknown") == 0, "out of range");
}

int main(void) {
    test_find_table();
    test_lookup();
    test_cfa_sp();
    test_cfa_fp();
    test_deref();
#if defined(__x86_64__)
    test_plt();
#else
    test_aarch64_lr_pac();
    test_aarch64_signal_frame();
#endif
    test_signal_frame();
    test_pc_minus_one();
    test_end_invalid();
    test_gap_fp();
    test_bounds();
    test_monotonic();
    test_depth_cap();
    test_bad_pc_and_args();
    test_end_names();
    return check_finish();
}
