/* unwind.c — the signal-safe frame-pointer unwinder and its fault-proof
 * reads, plus the slow DWARF unwinder (libgcc) used outside handlers.
 *
 * Rules of the fast walk (what makes it safe in a signal handler):
 *   - every frame record read is 16 bytes at fp: [fp] = caller's fp,
 *     [fp + 8] = return address (x86_64 and aarch64 alike);
 *   - fp must be 8-aligned and strictly increase: the walk moves toward the
 *     stack's base and cannot loop;
 *   - a read cannot fault: when the stack bounds are known and the
 *     interrupted sp lies inside them, a record is read directly only if it
 *     lies in [sp, hi) (everything between sp and the base is mapped);
 *     otherwise (unregistered thread, foreign stack) each record is read by
 *     process_vm_readv on our own pid, which returns EFAULT instead of
 *     faulting;
 *   - a return address below PROFCORE_FRAME_RESERVED_END, or zero, ends the
 *     walk (it is not code, and the core would refuse it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>
#include <unwind.h>

#include "internal.h"
#include "unwind_tables.h"

/* 1: process_vm_readv works on our own pid (checked at start). */
static int prt_g_vm_readv_ok;

/* Also run at load: pcp_capture_stack and pcp_unwind_context may be used
 * without a profile ever being started. */
__attribute__((constructor)) static void prt_faultproof_at_load(void) { prt_faultproof_init(); }

int prt_faultproof_init(void) {
    uintptr_t probe[2] = {0x1234, 0x5678}, got[2] = {0, 0};
    struct iovec local = {got, sizeof got}, remote = {probe, sizeof probe};
    long n = syscall(SYS_process_vm_readv, (long)getpid(), &local, 1L, &remote, 1L, 0L);
    prt_g_vm_readv_ok = n == (long)sizeof got && got[0] == 0x1234 && got[1] == 0x5678;
    return prt_g_vm_readv_ok ? 0 : -1;
}

/* Reads 16 bytes at addr without faulting; false if unreadable. */
PROFCORE_SIGNAL_SAFE static bool prt_read_pair_faultproof(uintptr_t addr, uintptr_t out[2]) {
    if (!prt_g_vm_readv_ok) return false;
    struct iovec local = {out, 2 * sizeof(uintptr_t)};
    struct iovec remote = {(void *)addr, 2 * sizeof(uintptr_t)};
    long n = syscall(SYS_process_vm_readv, (long)getpid(), &local, 1L, &remote, 1L, 0L);
    return n == (long)(2 * sizeof(uintptr_t));
}

/* The table walker's fault-proof word read (pcu_memory.read_word): used for
 * every address outside the cached stack. */
PROFCORE_SIGNAL_SAFE static bool prt_read_word_faultproof(void *ctx, uintptr_t addr, uintptr_t *out) {
    (void)ctx;
    if (!prt_g_vm_readv_ok) return false;
    struct iovec local = {out, sizeof(uintptr_t)};
    struct iovec remote = {(void *)addr, sizeof(uintptr_t)};
    long n = syscall(SYS_process_vm_readv, (long)getpid(), &local, 1L, &remote, 1L, 0L);
    return n == (long)sizeof(uintptr_t);
}

/* The walk's read policy for one sample. */
typedef struct prt_read_policy {
    uintptr_t lo, hi; /* direct reads allowed in [lo, hi); lo == hi: none */
} prt_read_policy;

PROFCORE_SIGNAL_SAFE PRT_NO_ASAN static bool prt_read_pair(const prt_read_policy *r, uintptr_t addr,
                                                           uintptr_t out[2]) {
    if (addr >= r->lo && addr < r->hi && r->hi - addr >= 2 * sizeof(uintptr_t)) {
        const volatile uintptr_t *p = (const volatile uintptr_t *)addr;
        out[0] = p[0];
        out[1] = p[1];
        return true;
    }
    return prt_read_pair_faultproof(addr, out);
}

PROFCORE_SIGNAL_SAFE static bool prt_is_code_address(uintptr_t a) {
    return a >= PROFCORE_FRAME_RESERVED_END;
}

PROFCORE_SIGNAL_SAFE bool prt_context_regs(const void *ucv, uintptr_t *pc, uintptr_t *sp, uintptr_t *fp) {
    const ucontext_t *uc = (const ucontext_t *)ucv;
#if defined(__x86_64__)
    *pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
    *sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
    *fp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
    return true;
#elif defined(__aarch64__)
    *pc = (uintptr_t)uc->uc_mcontext.pc;
    *sp = (uintptr_t)uc->uc_mcontext.sp;
    *fp = (uintptr_t)uc->uc_mcontext.regs[29];
    return true;
#else
    (void)uc;
    *pc = *sp = *fp = 0;
    return false;
#endif
}

#if defined(__x86_64__)
/* Where the caller's return address is when pc sits at a point of its
 * function where rbp still holds the caller's frame pointer: at the first
 * instruction (endbr64 / push %rbp), right after the push (mov %rsp,%rbp),
 * or at the final ret.  Returns the stack offset of the return address, or
 * -1 when pc is in the function body (rbp is this function's frame).
 * Reading the code bytes at pc cannot fault: the CPU was executing them and
 * x86_64 has no execute-only pages without protection keys. */
PROFCORE_SIGNAL_SAFE static int prt_x86_leaf_ra_offset(uintptr_t pc) {
    const volatile unsigned char *c = (const volatile unsigned char *)pc;
    if (c[0] == 0x55 || c[0] == 0xc3) return 0; /* push %rbp / ret */
    if (c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa) return 0; /* endbr64 */
    if (c[0] == 0x48 && c[1] == 0x89 && c[2] == 0xe5) return 8; /* mov %rsp,%rbp */
    return -1;
}
#endif

/* The frame-pointer walk; appends to frames[n..max) and returns the new n. */
PROFCORE_SIGNAL_SAFE static uint32_t prt_fp_walk(const prt_read_policy *r, uintptr_t fp,
                                                 uintptr_t floor, uintptr_t *frames, uint32_t n,
                                                 uint32_t max) {
    while (n < max && fp != 0) {
        if ((fp & (sizeof(uintptr_t) - 1)) != 0 || fp < floor) break;
        uintptr_t rec[2];
        if (!prt_read_pair(r, fp, rec)) break;
        if (!prt_is_code_address(rec[1])) break;
        frames[n++] = rec[1];
        if (rec[0] <= fp) break; /* frames must move toward the base */
        floor = fp + 2 * sizeof(uintptr_t);
        fp = rec[0];
    }
    return n;
}

PROFCORE_SIGNAL_SAFE static void prt_read_policy_for(const prt_bounds *b, uintptr_t sp, prt_read_policy *r) {
    r->lo = r->hi = 0;
    /* Direct reads only when the interrupted sp is on the cached stack:
     * then [sp, hi) is mapped. */
    if (b != NULL && b->hi > b->lo && sp >= b->lo && sp < b->hi) {
        r->lo = sp;
        r->hi = b->hi;
    }
}

/* aarch64's link register at the interrupted instruction (a leaf's return
 * address may still be there); 0 elsewhere. */
PROFCORE_SIGNAL_SAFE static uintptr_t prt_context_lr(const void *ucv) {
#if defined(__aarch64__)
    return ucv != NULL ? (uintptr_t)((const ucontext_t *)ucv)->uc_mcontext.regs[30] : 0;
#else
    (void)ucv;
    return 0;
#endif
}

/* "tables" mode: the stack ends at the first frame no table covers (the
 * step from it would be a frame-pointer guess).  Return addresses are
 * looked up at ra - 1, as the walker does. */
PROFCORE_SIGNAL_SAFE static uint32_t prt_cut_at_untabled(const pcu_snapshot *snap,
                                                         const uintptr_t *frames, uint32_t n) {
    for (uint32_t i = 0; i < n; i++) {
        uintptr_t at = i == 0 ? frames[0] : frames[i] - 1u;
        if (pcu_find_table(snap, at) == NULL) return i + 1u;
    }
    return n;
}

/* The table walk from an interrupted context (registers pc, sp, fp, lr);
 * appends to frames[n..max).  Returns the new n, or 0 when there is no
 * snapshot (the caller walks frame pointers). */
PROFCORE_SIGNAL_SAFE static uint32_t prt_tables_walk(const void *uc, uintptr_t pc, uintptr_t sp,
                                                     uintptr_t fp, const prt_read_policy *r,
                                                     uintptr_t *frames, uint32_t n, uint32_t max) {
    unsigned token;
    const pcu_snapshot *snap = prt_unwind_snapshot_enter(&token);
    uint32_t got = 0;
    if (snap != NULL) {
        pcu_regs regs = {pc, sp, fp, prt_context_lr(uc)};
        pcu_memory mem = {{r->lo, 0}, {r->hi, 0}, prt_read_word_faultproof, NULL};
        pcu_walk_result res = {0, 0, 0};
        got = pcu_walk(snap, &regs, &mem, frames + n, max - n, &res);
        if (got > 0 && prt_unwind_mode() == PCPROF_UNWIND_TABLES)
            got = prt_cut_at_untabled(snap, frames + n, got);
        prt_unwind_count_walk(true, n + got, res.end, res.fp_steps);
        if (res.end == PCU_END_NO_TABLE) prt_unwind_request_refresh();
    }
    prt_unwind_snapshot_leave(token);
    return got > 0 ? n + got : 0;
}

PROFCORE_SIGNAL_SAFE int prt_unwind(const void *uc, uintptr_t pc, uintptr_t sp, uintptr_t fp, bool leaf_fixup,
               const prt_bounds *b, uintptr_t *frames, uint32_t max) {
    uint32_t n = 0;
    profcore_traceback_fn hook = __atomic_load_n(&prt_g_hook, __ATOMIC_ACQUIRE);
    if (hook != NULL) {
        pcp_traceback_args a;
        a.ucontext = uc;
        a.pc = pc;
        a.sp = sp;
        a.fp = fp;
        a.frames = frames;
        a.max_frames = max;
        a.nframes = 0;
        if (hook(&a, __atomic_load_n(&prt_g_hook_user, __ATOMIC_ACQUIRE)) != 0) return -1;
        n = a.nframes <= max ? a.nframes : max;
        for (uint32_t i = 0; i < n; i++)
            if (!prt_is_code_address(frames[i])) return -1;
        if (a.pc != pc || a.fp != fp) leaf_fixup = false; /* the hook moved the walk */
        pc = a.pc;
        sp = a.sp;
        fp = a.fp;
    }
    if (pc == 0 && fp == 0) return n > 0 ? (int)n : -1; /* the hook ended the walk */
    if (n >= max) return (int)n;
    if (!prt_is_code_address(pc)) return n > 0 ? (int)n : -1;
    prt_read_policy r;
    prt_read_policy_for(b, sp, &r);
    /* Tables for an interrupted context (leaf_fixup: pc is the interrupted
     * instruction and the hook did not move the walk). */
    if (leaf_fixup && prt_unwind_mode() != PCPROF_UNWIND_FP) {
        uint32_t t = prt_tables_walk(uc, pc, sp, fp, &r, frames, n, max);
        if (t > 0) return (int)t;
    }
    frames[n++] = pc;
    uintptr_t floor = sp;
#if defined(__x86_64__)
    if (leaf_fixup && n < max) {
        int off = prt_x86_leaf_ra_offset(pc);
        uintptr_t rec[2];
        if (off >= 0 && prt_read_pair(&r, sp + (uintptr_t)off, rec) && prt_is_code_address(rec[0]))
            frames[n++] = rec[0];
    }
#else
    (void)leaf_fixup;
#endif
    uint32_t depth = prt_fp_walk(&r, fp, floor, frames, n, max);
    if (leaf_fixup) prt_unwind_count_walk(false, depth, PRT_UNWIND_END_REASONS, 0);
    return (int)depth;
}

PROFCORE_SIGNAL_SAFE int prt_unwind_interrupted(const void *uc, const prt_thread *self,
                                                uintptr_t *frames, uint32_t max) {
    uintptr_t pc, sp, fp;
    if (!prt_context_regs(uc, &pc, &sp, &fp)) return -1;
    prt_bounds b = {0, 0};
    if (self != NULL) {
        b.lo = self->stack_lo;
        b.hi = self->stack_hi;
    }
    return prt_unwind(uc, pc, sp, fp, true, &b, frames, max);
}

/* ---- public: walks for the caller's own use -------------------------------- */

PROFCORE_SIGNAL_SAFE PCP_EXPORT int pcp_unwind_context(const void *uc, uintptr_t *frames,
                                                       int max_frames) {
    uintptr_t pc, sp, fp;
    if (uc == NULL || frames == NULL || max_frames <= 0) return 0;
    if (!prt_context_regs(uc, &pc, &sp, &fp) || !prt_is_code_address(pc)) return 0;
    prt_thread *self = prt_tls_self;
    prt_bounds b = {0, 0};
    if (self != NULL) {
        b.lo = self->stack_lo;
        b.hi = self->stack_hi;
    }
    prt_read_policy r;
    prt_read_policy_for(&b, sp, &r);
    uint32_t n = 0;
    frames[n++] = pc;
#if defined(__x86_64__)
    int off = prt_x86_leaf_ra_offset(pc);
    uintptr_t rec[2];
    if (off >= 0 && n < (uint32_t)max_frames && prt_read_pair(&r, sp + (uintptr_t)off, rec) &&
        prt_is_code_address(rec[0]))
        frames[n++] = rec[0];
#endif
    return (int)prt_fp_walk(&r, fp, sp, frames, n, (uint32_t)max_frames);
}

/* noinline: the frame this reads must be pcp_capture_stack's own. */
PROFCORE_SIGNAL_SAFE PCP_EXPORT __attribute__((noinline)) int pcp_capture_stack(uintptr_t *frames,
                                                                                int max_frames) {
    if (frames == NULL || max_frames <= 0) return 0;
    uintptr_t *self_frame = (uintptr_t *)__builtin_frame_address(0);
    uintptr_t ret = (uintptr_t)__builtin_return_address(0);
    uintptr_t caller_fp = self_frame[0];
    uintptr_t sp = (uintptr_t)self_frame; /* our frame is on the stack: a safe floor */
    prt_thread *self = prt_tls_self;
    prt_bounds b = {0, 0};
    if (self != NULL) {
        b.lo = self->stack_lo;
        b.hi = self->stack_hi;
    }
    int n = prt_unwind(NULL, ret, sp, caller_fp, false, &b, frames, (uint32_t)max_frames);
    return n < 0 ? 0 : n;
}

/* ---- the slow unwinder (libgcc, DWARF CFI): never in a signal handler ---- */
typedef struct prt_slow_state {
    uintptr_t *frames;
    int max, n, skip;
} prt_slow_state;

static _Unwind_Reason_Code prt_slow_step(struct _Unwind_Context *ctx, void *arg) {
    prt_slow_state *s = (prt_slow_state *)arg;
    uintptr_t ip = (uintptr_t)_Unwind_GetIP(ctx);
    if (ip == 0) return _URC_END_OF_STACK;
    if (s->skip > 0) {
        s->skip--;
        return _URC_NO_REASON;
    }
    if (s->n >= s->max) return _URC_END_OF_STACK;
    s->frames[s->n++] = ip;
    return _URC_NO_REASON;
}

PCP_EXPORT __attribute__((noinline)) int pcp_capture_stack_slow(uintptr_t *frames, int max_frames) {
    if (frames == NULL || max_frames <= 0) return 0;
    /* The first frame libgcc reports is this function's own. */
    prt_slow_state s = {frames, max_frames, 0, 1};
    _Unwind_Backtrace(prt_slow_step, &s);
    return s.n;
}
