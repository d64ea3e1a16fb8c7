/* profcore_unwind.h — a signal-safe stack walker over compiled unwind tables.
 *
 * ===========================================================================
 *  MANUAL
 * ===========================================================================
 *
 * This file walks a thread's stack from inside a signal handler without
 * frame pointers.  It does not read DWARF: a builder outside the handler
 * (profcore uses libdw) compiles each object's call-frame information into a
 * small immutable table of rows (this file's format, below), and the walker
 * only binary-searches those tables and applies one of a handful of rules
 * per frame.  No lock, no allocation, no libc, no system call, no loop
 * without a bound you can read off the code.  Vendor it on its own.
 *
 * Use
 * ---
 *   In exactly one C file:
 *       #define PROFCORE_UNWIND_IMPLEMENTATION
 *       #include "profcore_unwind.h"
 *   Everywhere else, include it plainly.
 *
 *   In the signal handler:
 *       const pcu_snapshot *snap = load-acquire of the published snapshot;
 *       pcu_regs regs = { pc, sp, fp, lr };      // from the ucontext
 *       pcu_memory mem = { {stack_lo, altstack_lo}, {stack_hi, altstack_hi},
 *                          read_word_or_NULL, ctx };
 *       pcu_walk_result res;
 *       uint32_t n = pcu_walk(snap, &regs, &mem, frames, max, &res);
 *   frames[0] is the interrupted pc; frames[1..n-1] are return addresses,
 *   leaf first, exactly as they were pushed (not minus one).  res.end says
 *   why the walk stopped (pcu_end_name() names it); res.fp_steps how many
 *   frames came from the frame-pointer fallback.
 *
 * Table format (the contract with the builder)
 * ------------
 *   A snapshot is an array of tables sorted by base, non-overlapping.  A
 *   table covers [base, base + size) of one object.  Row i covers offsets
 *   [row_pc[i], row_pc[i+1]) (the last row: up to size); row_pc strictly
 *   increases.  row_rule[i] indexes the interned rules, or is PCU_RULE_GAP
 *   (no CFI there: the frame-pointer step).  page_first[p] is the row that
 *   covers offset p << PCU_PAGE_SHIFT (0 if none starts before it), for
 *   p in [0, npages) with npages = (size >> PCU_PAGE_SHIFT) + 2, so the row
 *   of an offset in page p lies in [page_first[p], page_first[p + 1]].
 *   A rule says where the CFA is (SP or FP plus an offset, optionally
 *   dereferenced; the x86_64 PLT expression; a signal frame; the clean end)
 *   and where the caller's FP and return address were saved, relative to
 *   the CFA.  See pcu_rule below.
 *
 *   Nothing in a table is trusted.  A table that breaks these rules (rows
 *   out of order, a wrong page index, a rule index past nrules) makes the
 *   walk stop early or fall back, never read outside the table's arrays:
 *   every index is clamped to nrows / npages / nrules before use, and a
 *   row is returned only after checking that its range contains the pc.
 *   The arrays themselves must be readable for the counts the table states.
 *
 * A walk step, and why it terminates
 * ---------------------------------
 *   1. Lookup pc: the interrupted pc itself, and the pc right after a
 *      signal frame (the kernel interrupted that instruction, it did not
 *      call anything); every other frame's pc is a return address, looked
 *      up as pc - 1 so a call that is the last instruction of a function
 *      (noreturn callee) is attributed to the caller's row, not the next
 *      function's.
 *   2. One binary search over the tables (<= 33 steps), one over the rows
 *      of one page (<= log2(rows in the page) + 1 steps).
 *   3. The rule gives the CFA; it must be word-aligned and strictly above
 *      the current SP (equal only for an aarch64 frame whose return address
 *      is still in LR: the interrupted leaf or the frame after a signal
 *      frame).  So the CFA strictly increases from frame to frame, except
 *      across a signal frame (which may switch stacks: sigaltstack).  The
 *      caller's SP is this CFA.
 *   4. The return address and the caller's FP are read at CFA + offset.
 *      On aarch64 pointer-authentication bits are stripped (PCU_VA_BITS).
 *      A return address below PCU_MIN_PC or above the VA mask ends the walk.
 *   The walk writes at most `max` frames and does at most `max - 1` steps,
 *   each with a fixed number of reads (at most 4, signal frames), so it
 *   always terminates; the depth cap is what bounds a walk that crosses
 *   many signal frames.
 *
 *   Frame-pointer step (GAP rows, and pcs in no table): the frame record at
 *   FP holds the caller's FP and the return address (x86_64: rbp, return
 *   address at rbp + 8; aarch64: x29, x30 at x29 + 8); the caller's SP is
 *   FP + 16.  FP must be word-aligned and at or above SP.  FP == 0 is the
 *   ABI's mark of the outermost frame (x86_64 psABI, AAPCS64): the walk ends
 *   cleanly (PCU_END_OUTERMOST).  These frames are counted in fp_steps.
 *
 * Memory: every read is a word read at a word-aligned address.  It is a
 *   direct load only if the whole word lies inside one of pcu_memory's two
 *   ranges (the thread's stack and its sigaltstack, as the caller cached
 *   them); anything else goes through read_word (a fault-proof read the
 *   caller supplies, e.g. process_vm_readv on its own pid), or fails with
 *   PCU_END_BAD_READ when read_word is NULL.  read_word is called from the
 *   signal handler: it must be async-signal-safe and wait-free.
 *
 * Signal frames: a rule of kind PCU_KIND_SIGNAL marks the kernel's signal
 *   trampoline (__restore_rt on x86_64, __kernel_rt_sigreturn on aarch64).
 *   The builder sets cfa_off = PCU_SIGFRAME_UC_OFFSET (where the kernel's
 *   ucontext lies above SP when the trampoline runs); the caller's pc, sp,
 *   fp (and lr on aarch64) are read from that ucontext at the PCU_UC_*
 *   offsets.  tests/unwind_walker checks those offsets against <ucontext.h>.
 *
 * Configuration (define before including)
 * -------------
 *   PCU_API               storage class of the public functions (default
 *                         extern; `static` for a private copy).
 *   PCU_VA_BITS           aarch64: user virtual-address bits; return
 *                         addresses are masked to them (default 48).
 *   PCU_MIN_PC            smallest plausible code address (default 4096).
 *   PCU_DIRECT_READ_ATTR  attribute of the one function that loads a word
 *                         directly.  Default: not ASan-instrumented when
 *                         ASan is on (a garbage address inside the stack
 *                         may point at a redzone of sanitized code, and the
 *                         walker has already checked it is inside the
 *                         stack); tests define it empty so ASan checks them.
 *   PCU_DIRECT_READ_HOOK(mem, addr)  called before every direct load;
 *                         empty by default.  The fuzzer defines it to check
 *                         that the word lies inside the given ranges.
 *   PCU_STEP_HOOK(old_sp, new_sp, across_signal)  called when a step
 *                         commits a frame; empty by default (the fuzzer
 *                         checks monotonicity with it).
 *   PROFCORE_SIGNAL_SAFE  the signal-safety annotation (annotations/),
 *                         defined as core/profcore.h does if not yet.
 *
 * What is checked (in profcore's tree)
 * ---------------
 *   proofs/unwind/   Frama-C WP with -wp-rte on every function here: no
 *                    runtime error, every loop variant; pcu_lookup returns a
 *                    row whose range contains the pc or -1, and (rows sorted,
 *                    page index as defined) never -1 when one does;
 *                    pcu_find_table likewise; every direct load's address
 *                    lies inside the given ranges (pcu_load_word's
 *                    precondition); each step's SP strictly increases except
 *                    across a signal frame or for an aarch64 LR leaf;
 *                    pcu_walk writes at most max frames.  Assumed, not
 *                    proved: the one load itself, and read_word's contract.
 *   fuzz/unwind/     libFuzzer (ASan+UBSan) and AFL++ over random tables,
 *                    registers and stacks, against a reference walk; 17
 *                    mutants of this file it must kill.
 *   tests/unwind_walker/  unit tests (x86_64, aarch64 under qemu-user), the
 *                    freestanding links, the ucontext offsets.
 *
 * Version, licence
 * ----------------
 *   PCU_VERSION 1 (format and API).  MIT licence: permission is granted,
 *   free of charge, to deal in this file without restriction, provided this
 *   notice is kept; it is provided "as is", without warranty of any kind.
 *
 * Format changes since the interface was agreed
 * ---------------------------------------------
 *   - pcu_memory.read_word is declared with the typedef pcu_read_word_fn
 *     (same signature), so the signal-safety gate can name it as a hook.
 *   - PCU_END_BAD_ARGUMENT (NULL regs/mem/frames) added after the agreed
 *     end reasons.
 */
#ifndef PROFCORE_UNWIND_H
#define PROFCORE_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCU_VERSION 1

#ifndef PCU_API
#define PCU_API extern
#endif

/* Same definition as core/profcore.h (whichever file comes first wins). */
#ifndef PROFCORE_SIGNAL_SAFE
#if defined(__clang__) && defined(PROFCORE_SIGCHECK)
#define PROFCORE_SIGNAL_SAFE __attribute__((annotate("profcore_signal_safe")))
#else
#define PROFCORE_SIGNAL_SAFE
#endif
#endif

#ifndef PCU_VA_BITS
#define PCU_VA_BITS 48
#endif
#ifndef PCU_MIN_PC
#define PCU_MIN_PC 4096u
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- the table format ---------------------------------------------------- */
#define PCU_KIND_CFA 0       /* CFA = reg + cfa_off */
#define PCU_KIND_CFA_DEREF 1 /* CFA = *(reg + cfa_off) (stack-realigning prologues) */
#define PCU_KIND_PLT 2       /* x86_64 PLT: CFA = rsp + cfa_off + ((rip & 15) >= 11 ? 8 : 0) */
#define PCU_KIND_SIGNAL 3    /* signal trampoline: registers from the ucontext at sp + cfa_off */
#define PCU_KIND_END 4       /* return address undefined: clean end of the stack */
#define PCU_KIND_INVALID 5   /* not supported: the walk stops */

#define PCU_REG_SP 0
#define PCU_REG_FP 1 /* rbp / x29 */

#define PCU_OFF_SAME INT16_MIN        /* fp_off: the caller's FP is this frame's FP */
#define PCU_OFF_IN_LR (INT16_MIN + 1) /* ra_off: still in LR (aarch64 leaf / after a signal frame) */

#define PCU_RULE_GAP 0xFFFFu /* row_rule value: no CFI here, frame-pointer step */
#define PCU_PAGE_SHIFT 12

/* One interned rule: how to find this frame's CFA and the caller's registers. */
typedef struct pcu_rule {
    uint8_t kind;     /* PCU_KIND_* */
    uint8_t cfa_reg;  /* PCU_REG_SP or PCU_REG_FP: the base of the CFA */
    int16_t fp_off;   /* caller's FP saved at CFA + fp_off; PCU_OFF_SAME: FP unchanged */
    int16_t ra_off;   /* return address saved at CFA + ra_off; PCU_OFF_IN_LR (aarch64) */
    int16_t reserved; /* 0 */
    int32_t cfa_off;  /* CFA = reg + cfa_off (CFA_DEREF: CFA = *(reg + cfa_off)) */
} pcu_rule;           /* 12 bytes */

/* One object's table (main executable, a shared library, the vDSO). Immutable. */
typedef struct pcu_table {
    uintptr_t base;             /* runtime address row offsets are relative to */
    uint32_t size;              /* the table covers [base, base + size) */
    uint32_t nrows;             /* >= 1 */
    const uint32_t *row_pc;     /* nrows offsets, strictly increasing */
    const uint16_t *row_rule;   /* nrows rule indices, or PCU_RULE_GAP */
    const pcu_rule *rules;      /* nrules interned rules */
    uint32_t nrules;
    uint32_t npages;            /* (size >> PCU_PAGE_SHIFT) + 2 */
    const uint32_t *page_first; /* npages row indices, see the manual */
} pcu_table;

/* All tables, sorted by base, non-overlapping.  Immutable; the profiler
 * replaces it as a whole with one atomic pointer store. */
typedef struct pcu_snapshot {
    uint32_t ntables;
    const pcu_table *tables;
} pcu_snapshot;

/* Registers at the interrupted instruction.  lr is used on aarch64 only. */
typedef struct pcu_regs {
    uintptr_t pc, sp, fp, lr;
} pcu_regs;

/* A fault-proof word read: true and *out set, or false.  Runs in the signal
 * handler: async-signal-safe, wait-free. */
typedef bool (*pcu_read_word_fn)(void *ctx, uintptr_t addr, uintptr_t *out);

/* Where the walk may read: directly only inside [lo[i], hi[i]) (lo == hi:
 * unused), anything else through read_word, or not at all if it is NULL. */
typedef struct pcu_memory {
    uintptr_t lo[2], hi[2];
    pcu_read_word_fn read_word;
    void *ctx;
} pcu_memory;

/* Why a walk ended. */
#define PCU_END_OUTERMOST 0     /* clean: return address undefined, or FP == 0 */
#define PCU_END_DEPTH 1         /* the cap was reached */
#define PCU_END_NO_TABLE 2      /* pc in no table and the FP fallback could not continue */
#define PCU_END_BAD_READ 3      /* a read failed (outside the ranges, read_word said no) */
#define PCU_END_NOT_MONOTONIC 4 /* CFA / FP did not strictly increase */
#define PCU_END_INVALID_RULE 5  /* PCU_KIND_INVALID, unknown kind/register/offset, bad index */
#define PCU_END_BAD_PC 6        /* zero or implausible return address */
#define PCU_END_MISALIGNED 7    /* CFA, FP or a read address not word-aligned */
#define PCU_END_BAD_ARGUMENT 8  /* NULL regs, mem or frames */
#define PCU_END_REASONS 9

typedef struct pcu_walk_result {
    uint32_t depth;    /* frames written */
    uint8_t end;       /* PCU_END_* */
    uint32_t fp_steps; /* frames recovered by the frame-pointer fallback */
} pcu_walk_result;

/* Architecture constants: where the kernel's ucontext lies above SP when
 * the signal trampoline runs, and where the registers lie in it.
 * x86_64: rt_sigframe = { pretcode; ucontext; siginfo }, and the handler's
 *   `ret` popped pretcode, so the ucontext is at rsp; uc_mcontext.gregs
 *   starts at 40 (uc_flags, uc_link, uc_stack), REG_RBP 10, REG_RSP 15,
 *   REG_RIP 16.
 * aarch64: rt_sigframe = { siginfo (128); ucontext }; uc_mcontext at 176
 *   (uc_flags, uc_link, uc_stack, a 128-byte sigset, 16-byte alignment),
 *   then fault_address, regs[31], sp, pc. */
#if defined(__x86_64__)
#define PCU_SIGFRAME_UC_OFFSET 0
#define PCU_UC_PC 168 /* gregs[REG_RIP] */
#define PCU_UC_SP 160 /* gregs[REG_RSP] */
#define PCU_UC_FP 120 /* gregs[REG_RBP] */
#elif defined(__aarch64__)
#define PCU_SIGFRAME_UC_OFFSET 128
#define PCU_UC_PC 440 /* uc_mcontext.pc */
#define PCU_UC_SP 432 /* uc_mcontext.sp */
#define PCU_UC_FP 416 /* uc_mcontext.regs[29] */
#define PCU_UC_LR 424 /* uc_mcontext.regs[30] */
#else
#error "profcore_unwind.h supports x86_64 and aarch64"
#endif

/* The walk: frames[0] = regs->pc, then each caller's return address; at
 * most max frames.  Returns the depth (also in res->depth when res is not
 * NULL).  snap may be NULL (no tables: frame pointers only). */
PCU_API uint32_t pcu_walk(const pcu_snapshot *snap, const pcu_regs *regs, const pcu_memory *mem,
                          uintptr_t *frames, uint32_t max, pcu_walk_result *res);

/* The row of t whose range contains pc, or -1. */
PCU_API int64_t pcu_lookup(const pcu_table *t, uintptr_t pc);

/* The table of s that covers pc, or NULL. */
PCU_API const pcu_table *pcu_find_table(const pcu_snapshot *s, uintptr_t pc);

/* A short name for a PCU_END_* reason ("outermost", "depth", ...). */
PCU_API const char *pcu_end_name(unsigned end);

#ifdef __cplusplus
}
#endif
#endif /* PROFCORE_UNWIND_H */

/* ===========================================================================
 *  IMPLEMENTATION
 * ======================================================================== */
#if defined(PROFCORE_UNWIND_IMPLEMENTATION) && !defined(PROFCORE_UNWIND_IMPLEMENTED)
#define PROFCORE_UNWIND_IMPLEMENTED

#ifndef PCU_DIRECT_READ_ATTR
#if defined(__SANITIZE_ADDRESS__)
#define PCU_DIRECT_READ_ATTR __attribute__((no_sanitize("address")))
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PCU_DIRECT_READ_ATTR __attribute__((no_sanitize("address")))
#endif
#endif
#endif
#ifndef PCU_DIRECT_READ_ATTR
#define PCU_DIRECT_READ_ATTR
#endif
#ifndef PCU_DIRECT_READ_HOOK
#define PCU_DIRECT_READ_HOOK(mem, addr) ((void)0)
#endif
#ifndef PCU_STEP_HOOK
#define PCU_STEP_HOOK(old_sp, new_sp, across_signal) ((void)0)
#endif

#define PCU_WORD ((uintptr_t)sizeof(uintptr_t))
#define PCU_PAGE_SIZE 4096u
#if defined(__aarch64__)
#define PCU_PC_MASK ((((uintptr_t)1) << PCU_VA_BITS) - 1u)
#else
#define PCU_PC_MASK ((uintptr_t)0x7FFFFFFFFFFFu) /* x86_64 user space: 47 bits */
#endif
/* Internal step outcome: not an end reason. */
#define PCU_STEP_CONTINUE 0xFFu

_Static_assert(sizeof(pcu_rule) == 12, "pcu_rule is 12 bytes");
_Static_assert(sizeof(uintptr_t) == 8, "64-bit targets only");
_Static_assert(PCU_PAGE_SIZE == 1u << PCU_PAGE_SHIFT, "page size");

/* Where the walk is: the registers of the frame being unwound. */
typedef struct pcu_cursor {
    uintptr_t pc, sp, fp, lr;
    bool exact_pc; /* pc is an interrupted instruction (look it up as is) */
    bool lr_valid; /* lr holds this frame's return address (aarch64) */
} pcu_cursor;

/* ---- the logic the proofs use (proofs/unwind/) ---------------------------
 * pcu_direct_ok: the word at a lies inside one of the memory's ranges.
 * pcu_table_ok / pcu_snapshot_ok: the arrays are readable for the counts
 * the tables state (nothing about their contents).
 * pcu_tables_sorted, pcu_rows_sorted, pcu_pages_ok: the contents the
 * manual promises; only the completeness of the searches assumes them. */
/*@ predicate pcu_in(integer lo, integer hi, integer a) = lo <= a && a < hi && hi - a >= 8;
    predicate pcu_direct_ok(pcu_memory *m, integer a) =
        pcu_in(m->lo[0], m->hi[0], a) || pcu_in(m->lo[1], m->hi[1], a);
    predicate pcu_table_ok(pcu_table *t) =
        \valid_read(t) &&
        (t->nrows > 0 ==> \valid_read(t->row_pc + (0 .. t->nrows - 1)) &&
                          \valid_read(t->row_rule + (0 .. t->nrows - 1))) &&
        (t->npages > 0 ==> \valid_read(t->page_first + (0 .. t->npages - 1))) &&
        (t->nrules > 0 ==> \valid_read(t->rules + (0 .. t->nrules - 1)));
    predicate pcu_snapshot_ok(pcu_snapshot *s) =
        s == \null || (\valid_read(s) &&
        (s->ntables > 0 ==> \valid_read(s->tables + (0 .. s->ntables - 1)) &&
                            \forall integer i; 0 <= i < s->ntables ==> pcu_table_ok(s->tables + i)));
    predicate pcu_tables_sorted(pcu_snapshot *s) =
        \forall integer i, j; 0 <= i < j < s->ntables ==>
            s->tables[i].base + s->tables[i].size <= s->tables[j].base;
    predicate pcu_covers(pcu_table *t, integer pc) = t->base <= pc && pc - t->base < t->size;
    predicate pcu_row_has(pcu_table *t, integer r, integer off) =
        0 <= r < t->nrows && t->row_pc[r] <= off && off < t->size &&
        (r == t->nrows - 1 || off < t->row_pc[r + 1]);
    predicate pcu_rows_sorted(pcu_table *t) =
        \forall integer i, j; 0 <= i < j < t->nrows ==> t->row_pc[i] < t->row_pc[j];
    predicate pcu_pages_ok(pcu_table *t) =
        t->npages == t->size / 4096 + 2 &&
        \forall integer p; 0 <= p < t->npages ==>
            t->page_first[p] < t->nrows &&
            (\forall integer i; 0 <= i < t->nrows && t->row_pc[i] <= p * 4096 ==> i <= t->page_first[p]) &&
            (t->page_first[p] == 0 || t->row_pc[t->page_first[p]] <= p * 4096);
    predicate pcu_plausible(integer pc) = PCU_MIN_PC <= pc <= PCU_PC_MASK;
*/

/* The one direct load.  Its only caller, pcu_read, has checked that the
 * whole word lies inside one of the caller's ranges: that precondition is
 * what the proofs establish at the call ("every direct read lies inside the
 * given bounds").  Its body is one load, which WP's typed memory model
 * cannot follow from an integer address, so the proofs see the contract
 * only. */
/*@ requires \valid_read(m) && pcu_direct_ok(m, addr);
    assigns \nothing; */
PROFCORE_SIGNAL_SAFE PCU_DIRECT_READ_ATTR static uintptr_t pcu_load_word(const pcu_memory *m,
                                                                         uintptr_t addr)
#if defined(__FRAMAC__)
    ;
#else
{
    (void)m;
    return *(const uintptr_t *)addr;
}
#endif

/* The caller's fault-proof read.  The proofs see a function with the
 * hook's contract (it may write *out, nothing else). */
#if defined(__FRAMAC__)
/*@ requires \valid(out);
    assigns *out; */
bool pcu_framac_read_word(void *ctx, uintptr_t addr, uintptr_t *out);
#define PCU_CALL_READ_WORD(m, addr, out) pcu_framac_read_word((m)->ctx, (addr), (out))
#else
#define PCU_CALL_READ_WORD(m, addr, out) (m)->read_word((m)->ctx, (addr), (out))
#endif

/*@ assigns \nothing;
    ensures \result <==> pcu_in(lo, hi, addr); */
PROFCORE_SIGNAL_SAFE static bool pcu_in_range(uintptr_t lo, uintptr_t hi, uintptr_t addr) {
    return lo <= addr && addr < hi && hi - addr >= PCU_WORD;
}

/* Read the word at addr: returns PCU_STEP_CONTINUE, PCU_END_MISALIGNED or
 * PCU_END_BAD_READ. */
/*@ requires \valid_read(m) && \valid(out) && \separated(m, out);
    assigns *out;
    ensures \result == PCU_STEP_CONTINUE || \result == PCU_END_MISALIGNED || \result == PCU_END_BAD_READ; */
PROFCORE_SIGNAL_SAFE static unsigned pcu_read(const pcu_memory *m, uintptr_t addr,
                                              uintptr_t *out) {
    if (addr % PCU_WORD != 0) return PCU_END_MISALIGNED;
    if (pcu_in_range(m->lo[0], m->hi[0], addr) || pcu_in_range(m->lo[1], m->hi[1], addr)) {
        PCU_DIRECT_READ_HOOK(m, addr);
        *out = pcu_load_word(m, addr);
        return PCU_STEP_CONTINUE;
    }
    if (m->read_word != NULL && PCU_CALL_READ_WORD(m, addr, out)) return PCU_STEP_CONTINUE;
    return PCU_END_BAD_READ;
}

/* base + off without wrapping around the address space. */
/*@ requires \valid(out) && -0x100000000 <= off <= 0x100000000;
    assigns *out;
    ensures \result <==> 0 <= base + off <= UINTPTR_MAX;
    ensures \result ==> *out == base + off; */
PROFCORE_SIGNAL_SAFE static bool pcu_offset(uintptr_t base, int64_t off, uintptr_t *out) {
    if (off >= 0) {
        if (base > UINTPTR_MAX - (uintptr_t)off) return false;
        *out = base + (uintptr_t)off;
    } else {
        uintptr_t down = (uintptr_t)(-off);
        if (base < down) return false;
        *out = base - down;
    }
    return true;
}

/* Read the word at base + off (see pcu_read). */
/*@ requires \valid_read(m) && \valid(out) && \separated(m, out);
    requires -0x100000000 <= off <= 0x100000000;
    assigns *out;
    ensures \result == PCU_STEP_CONTINUE || \result == PCU_END_MISALIGNED || \result == PCU_END_BAD_READ; */
PROFCORE_SIGNAL_SAFE static unsigned pcu_read_at(const pcu_memory *m, uintptr_t base, int64_t off,
                                                 uintptr_t *out) {
    uintptr_t addr;
    if (!pcu_offset(base, off, &addr)) return PCU_END_BAD_READ;
    return pcu_read(m, addr, out);
}

/* A return address as the walker outputs and looks it up: aarch64 strips
 * pointer-authentication bits (they live above the VA bits). */
/*@ assigns \nothing; */
PROFCORE_SIGNAL_SAFE static uintptr_t pcu_strip(uintptr_t ra) {
#if defined(__aarch64__)
    return ra & PCU_PC_MASK;
#else
    return ra;
#endif
}

/*@ assigns \nothing;
    ensures \result <==> pcu_plausible(pc); */
PROFCORE_SIGNAL_SAFE static bool pcu_plausible_pc(uintptr_t pc) {
    return pc >= PCU_MIN_PC && pc <= PCU_PC_MASK;
}

/*@ requires pcu_snapshot_ok(s);
    assigns \result \from s, pc, *s, s->tables[0 .. s->ntables - 1];
    ensures \result == \null || (pcu_table_ok(\result) && pcu_covers(\result, pc));
    ensures \result == \null ||
            (\exists integer i; 0 <= i < s->ntables && \result == s->tables + i &&
                                pcu_covers(s->tables + i, pc));
    ensures s != \null && pcu_tables_sorted(s) &&
            (\exists integer k; 0 <= k < s->ntables && pcu_covers(s->tables + k, pc))
            ==> \result != \null; */
PROFCORE_SIGNAL_SAFE PCU_API const pcu_table *pcu_find_table(const pcu_snapshot *s,
                                                             uintptr_t pc) {
    if (s == NULL || s->tables == NULL || s->ntables == 0) return NULL;
    const pcu_table *t = s->tables;
    if (t[0].base > pc) return NULL;
    uint32_t lo = 0, hi = s->ntables - 1u;
    /* The last table in [lo, hi] whose base is at or below pc. */
    /*@ loop invariant 0 <= lo <= hi < s->ntables;
        loop invariant t[lo].base <= pc;
        loop invariant pcu_tables_sorted(s) ==> \forall integer j; hi < j < s->ntables ==> t[j].base > pc;
        loop assigns lo, hi;
        loop variant hi - lo; */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1u) / 2u;
        if (t[mid].base <= pc)
            lo = mid;
        else
            hi = mid - 1u;
    }
    /*@ assert pcu_tables_sorted(s) ==>
               \forall integer k; 0 <= k < lo ==> t[k].base + t[k].size <= t[lo].base; */
    /*@ assert pcu_table_ok(t + lo); */
    if (pc - t[lo].base < t[lo].size) return &t[lo];
    return NULL;
}

/*@ requires t == \null || pcu_table_ok(t);
    assigns \nothing;
    ensures \result == -1 || (t != \null && pcu_covers(t, pc) && pcu_row_has(t, \result, pc - t->base));
    ensures t != \null && pcu_rows_sorted(t) && pcu_pages_ok(t) && t->nrows > 0 &&
            pcu_covers(t, pc) && t->row_pc[0] <= pc - t->base
            ==> \result != -1; */
PROFCORE_SIGNAL_SAFE PCU_API int64_t pcu_lookup(const pcu_table *t, uintptr_t pc) {
    if (t == NULL || t->nrows == 0 || t->row_pc == NULL || t->page_first == NULL) return -1;
    if (pc < t->base || pc - t->base >= t->size) return -1;
    uint32_t off = (uint32_t)(pc - t->base);
    uint32_t page = off / PCU_PAGE_SIZE;
    if (t->npages < 2u || page > t->npages - 2u) return -1;
    uint32_t lo = t->page_first[page], hi = t->page_first[page + 1u];
    uint32_t last = t->nrows - 1u;
    if (hi > last) hi = last;
    if (lo > hi) return -1;
    const uint32_t *row = t->row_pc;
    if (row[lo] > off) return -1;
    /*@ assert pcu_pages_ok(t) ==> \forall integer j; hi < j < t->nrows ==> row[j] > off; */
    /* The last row in [lo, hi] that starts at or below off. */
    /*@ loop invariant 0 <= lo <= hi <= last;
        loop invariant row[lo] <= off;
        loop invariant pcu_pages_ok(t) && pcu_rows_sorted(t) ==>
                       \forall integer j; hi < j < t->nrows ==> row[j] > off;
        loop assigns lo, hi;
        loop variant hi - lo; */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo + 1u) / 2u;
        if (row[mid] <= off)
            lo = mid;
        else
            hi = mid - 1u;
    }
    /* Return the row only if its range really contains off: a wrong page
     * index then yields "none", never a wrong row. */
    if (lo < last && row[lo + 1u] <= off) return -1;
    return (int64_t)lo;
}

/* Commit a step: the caller's registers become the cursor. */
/*@ requires \valid(c);
    assigns *c;
    ensures c->pc == pc && c->sp == sp && c->fp == fp && c->lr == 0;
    ensures !c->exact_pc && !c->lr_valid; */
PROFCORE_SIGNAL_SAFE static void pcu_commit(pcu_cursor *c, uintptr_t pc, uintptr_t sp,
                                            uintptr_t fp, bool across_signal) {
    PCU_STEP_HOOK(c->sp, sp, across_signal);
    (void)across_signal;
    c->pc = pc;
    c->sp = sp;
    c->fp = fp;
    c->lr = 0;
    c->exact_pc = false;
    c->lr_valid = false;
}

/* The frame-pointer step (see the manual). */
/*@ requires \valid(c) && \valid_read(m) && \separated(c, m);
    assigns *c;
    ensures \result == PCU_STEP_CONTINUE || \result < PCU_END_REASONS;
    ensures \result == PCU_STEP_CONTINUE ==> pcu_plausible(c->pc) && c->sp > \old(c->sp); */
PROFCORE_SIGNAL_SAFE static unsigned pcu_step_fp(const pcu_memory *m, pcu_cursor *c) {
    if (c->fp == 0) return PCU_END_OUTERMOST;
    if (c->fp % PCU_WORD != 0) return PCU_END_MISALIGNED;
    if (c->fp < c->sp) return PCU_END_NOT_MONOTONIC;
    uintptr_t fp, ra, sp;
    unsigned r = pcu_read_at(m, c->fp, 0, &fp);
    if (r == PCU_STEP_CONTINUE) r = pcu_read_at(m, c->fp, (int64_t)PCU_WORD, &ra);
    if (r != PCU_STEP_CONTINUE) return r;
    if (!pcu_offset(c->fp, 2 * (int64_t)PCU_WORD, &sp)) return PCU_END_BAD_READ;
    ra = pcu_strip(ra);
    if (!pcu_plausible_pc(ra)) return PCU_END_BAD_PC;
    pcu_commit(c, ra, sp, fp, false);
    return PCU_STEP_CONTINUE;
}

/* The signal-frame step: the interrupted registers from the ucontext. */
/*@ requires \valid(c) && \valid_read(m) && \valid_read(rule) && \separated(c, m);
    assigns *c;
    ensures \result == PCU_STEP_CONTINUE || \result < PCU_END_REASONS;
    ensures \result == PCU_STEP_CONTINUE ==> pcu_plausible(c->pc) && c->exact_pc; */
PROFCORE_SIGNAL_SAFE static unsigned pcu_step_signal(const pcu_memory *m, pcu_cursor *c,
                                                     const pcu_rule *rule) {
    uintptr_t uc, pc, sp, fp;
    if (!pcu_offset(c->sp, rule->cfa_off, &uc)) return PCU_END_BAD_READ;
    unsigned r = pcu_read_at(m, uc, PCU_UC_PC, &pc);
    if (r == PCU_STEP_CONTINUE) r = pcu_read_at(m, uc, PCU_UC_SP, &sp);
    if (r == PCU_STEP_CONTINUE) r = pcu_read_at(m, uc, PCU_UC_FP, &fp);
#if defined(__aarch64__)
    uintptr_t lr = 0;
    if (r == PCU_STEP_CONTINUE) r = pcu_read_at(m, uc, PCU_UC_LR, &lr);
#endif
    if (r != PCU_STEP_CONTINUE) return r;
    if (!pcu_plausible_pc(pc)) return PCU_END_BAD_PC;
    if (sp % PCU_WORD != 0) return PCU_END_MISALIGNED;
    pcu_commit(c, pc, sp, fp, true);
    c->exact_pc = true; /* the kernel interrupted pc; it did not call */
#if defined(__aarch64__)
    c->lr = pcu_strip(lr);
    c->lr_valid = true;
#endif
    return PCU_STEP_CONTINUE;
}

/* This frame's CFA under a rule of kind CFA, CFA_DEREF or PLT. */
/*@ requires \valid_read(c) && \valid_read(m) && \valid_read(rule) && \valid(cfa);
    requires \separated(cfa, m);
    assigns *cfa;
    ensures \result == PCU_STEP_CONTINUE || \result == PCU_END_BAD_READ ||
            \result == PCU_END_MISALIGNED || \result == PCU_END_INVALID_RULE; */
PROFCORE_SIGNAL_SAFE static unsigned pcu_rule_cfa(const pcu_memory *m, const pcu_cursor *c,
                                                  const pcu_rule *rule, uintptr_t *cfa) {
    uintptr_t base;
    if (rule->cfa_reg == PCU_REG_SP)
        base = c->sp;
    else if (rule->cfa_reg == PCU_REG_FP)
        base = c->fp;
    else
        return PCU_END_INVALID_RULE;
    switch (rule->kind) {
    case PCU_KIND_CFA:
        return pcu_offset(base, rule->cfa_off, cfa) ? PCU_STEP_CONTINUE : PCU_END_BAD_READ;
    case PCU_KIND_CFA_DEREF:
        return pcu_read_at(m, base, rule->cfa_off, cfa);
#if defined(__x86_64__)
    case PCU_KIND_PLT: {
        /* The lazy-binding stub pushes one word after its 11th byte. */
        int64_t off = (int64_t)rule->cfa_off + ((c->pc & 15u) >= 11u ? 8 : 0);
        return pcu_offset(c->sp, off, cfa) ? PCU_STEP_CONTINUE : PCU_END_BAD_READ;
    }
#endif
    default:
        return PCU_END_INVALID_RULE;
    }
}

/* One step under a table rule other than a signal frame. */
/*@ requires \valid(c) && \valid_read(m) && \valid_read(rule) && \separated(c, m);
    requires rule->kind != PCU_KIND_SIGNAL;
    assigns *c;
    ensures \result == PCU_STEP_CONTINUE || \result < PCU_END_REASONS;
    ensures \result == PCU_STEP_CONTINUE ==> pcu_plausible(c->pc) && !c->exact_pc &&
            (c->sp > \old(c->sp) || (c->sp == \old(c->sp) && \old(c->lr_valid))); */
PROFCORE_SIGNAL_SAFE static unsigned pcu_step_cfa(const pcu_memory *m, pcu_cursor *c,
                                                  const pcu_rule *rule) {
    if (rule->kind == PCU_KIND_END) return PCU_END_OUTERMOST;
    uintptr_t cfa, ra, fp = c->fp;
    unsigned r = pcu_rule_cfa(m, c, rule, &cfa);
    if (r != PCU_STEP_CONTINUE) return r;
    if (cfa % PCU_WORD != 0) return PCU_END_MISALIGNED;
    bool ra_in_lr = rule->ra_off == PCU_OFF_IN_LR;
    if (ra_in_lr && !c->lr_valid) return PCU_END_INVALID_RULE;
    if (rule->ra_off == PCU_OFF_SAME || rule->fp_off == PCU_OFF_IN_LR) return PCU_END_INVALID_RULE;
    /* The CFA strictly increases; it may equal SP only while the return
     * address is still in LR (nothing pushed yet). */
    if (cfa < c->sp || (cfa == c->sp && !ra_in_lr)) return PCU_END_NOT_MONOTONIC;
    if (ra_in_lr)
        ra = c->lr;
    else if ((r = pcu_read_at(m, cfa, rule->ra_off, &ra)) != PCU_STEP_CONTINUE)
        return r;
    if (rule->fp_off != PCU_OFF_SAME && (r = pcu_read_at(m, cfa, rule->fp_off, &fp)) != PCU_STEP_CONTINUE)
        return r;
    ra = pcu_strip(ra);
    if (!pcu_plausible_pc(ra)) return PCU_END_BAD_PC;
    pcu_commit(c, ra, cfa, fp, false);
    return PCU_STEP_CONTINUE;
}

/* One frame: find the rule for the cursor's pc and apply it.  The CFA
 * (the caller's SP) strictly increases, except across a signal frame
 * (exact_pc afterwards) and for an aarch64 frame whose return address is
 * still in LR. */
/*@ requires pcu_snapshot_ok(snap);
    requires \valid(c) && \valid_read(m) && \valid(fp_steps) && \separated(c, m, fp_steps);
    requires pcu_plausible(c->pc) && *fp_steps < 0xFFFFFFFF;
    assigns *c, *fp_steps;
    ensures \result == PCU_STEP_CONTINUE || \result < PCU_END_REASONS;
    ensures *fp_steps == \old(*fp_steps) || (*fp_steps == \old(*fp_steps) + 1 && \result == PCU_STEP_CONTINUE);
    ensures \result == PCU_STEP_CONTINUE ==> pcu_plausible(c->pc);
    ensures \result == PCU_STEP_CONTINUE ==>
            c->sp > \old(c->sp) || c->exact_pc || (c->sp == \old(c->sp) && \old(c->lr_valid)); */
PROFCORE_SIGNAL_SAFE static unsigned pcu_step(const pcu_snapshot *snap, const pcu_memory *m,
                                              pcu_cursor *c, uint32_t *fp_steps) {
    uintptr_t lookup = c->exact_pc ? c->pc : c->pc - 1u; /* pc >= PCU_MIN_PC */
    const pcu_table *t = pcu_find_table(snap, lookup);
    int64_t row = t != NULL ? pcu_lookup(t, lookup) : -1;
    if (t == NULL || row < 0 || t->row_rule == NULL || t->row_rule[row] == PCU_RULE_GAP) {
        unsigned r = pcu_step_fp(m, c);
        if (r == PCU_STEP_CONTINUE)
            (*fp_steps)++;
        else if (t == NULL && r != PCU_END_OUTERMOST)
            r = PCU_END_NO_TABLE;
        return r;
    }
    uint16_t ri = t->row_rule[row];
    if (t->rules == NULL || ri >= t->nrules) return PCU_END_INVALID_RULE;
    const pcu_rule *rule = &t->rules[ri];
    if (rule->kind == PCU_KIND_SIGNAL) return pcu_step_signal(m, c, rule);
    return pcu_step_cfa(m, c, rule);
}

/*@ requires pcu_snapshot_ok(snap);
    requires regs == \null || \valid_read(regs);
    requires mem == \null || \valid_read(mem);
    requires res == \null || \valid(res);
    requires frames == \null || max == 0 || \valid(frames + (0 .. max - 1));
    requires \separated(res, frames + (0 .. max - 1));
    assigns frames[0 .. max - 1], *res;
    ensures \result <= max;
    ensures res != \null ==> res->depth == \result && res->end < PCU_END_REASONS && res->fp_steps <= \result;
    ensures regs != \null && mem != \null && frames != \null && max > 0 ==> \result >= 1; */
PROFCORE_SIGNAL_SAFE PCU_API uint32_t pcu_walk(const pcu_snapshot *snap, const pcu_regs *regs,
                                               const pcu_memory *mem, uintptr_t *frames,
                                               uint32_t max, pcu_walk_result *res) {
    uint32_t depth = 0, fp_steps = 0;
    unsigned end = PCU_END_DEPTH;
    if (regs == NULL || mem == NULL || frames == NULL) {
        end = PCU_END_BAD_ARGUMENT;
    } else if (max > 0) {
        pcu_cursor c = {regs->pc, regs->sp, regs->fp, regs->lr, true, false};
#if defined(__aarch64__)
        c.lr = pcu_strip(regs->lr);
        c.lr_valid = true; /* the interrupted frame may be a leaf */
#endif
        frames[depth++] = c.pc;
        if (!pcu_plausible_pc(c.pc)) {
            end = PCU_END_BAD_PC;
        } else {
            /* At most max - 1 steps: depth grows by one per step. */
            /*@ loop invariant 1 <= depth <= max && fp_steps < depth;
                loop invariant pcu_plausible(c.pc);
                loop invariant end == PCU_END_DEPTH;
                loop assigns depth, fp_steps, c, frames[1 .. max - 1];
                loop variant max - depth; */
            while (depth < max) {
                unsigned r = pcu_step(snap, mem, &c, &fp_steps);
                if (r != PCU_STEP_CONTINUE) {
                    end = r;
                    break;
                }
                frames[depth++] = c.pc;
            }
        }
    }
    if (res != NULL) {
        res->depth = depth;
        res->end = (uint8_t)end;
        res->fp_steps = fp_steps;
    }
    return depth;
}

/*@ assigns \result \from end; */
PROFCORE_SIGNAL_SAFE PCU_API const char *pcu_end_name(unsigned end) {
    switch (end) {
    case PCU_END_OUTERMOST: return "outermost";
    case PCU_END_DEPTH: return "depth";
    case PCU_END_NO_TABLE: return "no-table";
    case PCU_END_BAD_READ: return "bad-read";
    case PCU_END_NOT_MONOTONIC: return "not-monotonic";
    case PCU_END_INVALID_RULE: return "invalid-rule";
    case PCU_END_BAD_PC: return "bad-pc";
    case PCU_END_MISALIGNED: return "misaligned";
    case PCU_END_BAD_ARGUMENT: return "bad-argument";
    default: return "unknown";
    }
}

#endif /* PROFCORE_UNWIND_IMPLEMENTATION */
