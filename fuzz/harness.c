/* fuzz/harness.c — deterministic signal-interleaving scheduler for profcore.
 *
 * The core is compiled with PROFCORE_YIELD_POINT() = fz_yield(), so every
 * shared-memory access of its atomics layer is a point where the fuzz input
 * decides what happens next:
 *   - keep going;
 *   - switch to another simulated thread (cooperative, ucontext);
 *   - deliver a nested "signal": run one more complete add on top of the
 *     interrupted operation, on the same stack, exactly as a handler runs
 *     (the interrupted operation makes no progress until it returns; two
 *     nesting levels above the base operation).
 * Cooperative threads are sequentially consistent: memory ordering is not
 * what this checks (TSan in tests/ does that); atomicity, protocol and
 * accounting are.
 *
 * Oracles (after every run, some also online):
 *   conservation  offered = recorded + lost(by reason) + rejected, exactly,
 *                 against the harness's own ledger of every call's outcome;
 *   integrity     every drained record is an offered (tag, stored stack) and
 *                 its total weight equals what the adds that returned
 *                 RECORDED put in; never more at any moment (nothing twice);
 *   wait-freedom  every operation finishes within a bound of its own yield
 *                 points, whatever the schedule, else "hang";
 *   protocol      return codes: the no-handoff path never hands off, an add
 *                 that starts after stop returned is rejected, a quiescent
 *                 core stops and final-drains at once.
 * ASan and UBSan do the rest (the drivers are built with them). */
#define _GNU_SOURCE
#include "harness.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

static void fz_yield(void);
#define PROFCORE_YIELD_POINT() fz_yield()
#define PROFCORE_API static
#define PROFCORE_IMPLEMENTATION
#include "profcore.h"

#if defined(__SANITIZE_ADDRESS__)
#define FZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FZ_ASAN 1
#endif
#endif
#ifndef FZ_ASAN
#define FZ_ASAN 0
#endif
#if FZ_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* ---- limits of one input ------------------------------------------------ */
#define FZ_MAX_WRITERS 3
#define FZ_MAX_THREADS (FZ_MAX_WRITERS + 1) /* writers, then the reader */
#define FZ_MAX_OPS 24                       /* per script */
#define FZ_MAX_NEST 2                       /* signal levels above the base op */
#define FZ_MAX_IN_DEPTH 8                   /* frames an input stack may have */
#define FZ_MAX_KEYS (FZ_MAX_OPS * FZ_MAX_THREADS + FZ_MAX_OPS)
#define FZ_STACK_SIZE (256u * 1024u)
#define FZ_TRACE_MAX 8192

enum fz_kind { OP_ADD, OP_ADD_NH, OP_LOSS, OP_DRAIN, OP_COLLECT, OP_STOP, OP_FINAL };
static const char *const fz_kind_name[] = {"add", "add_nohandoff", "add_loss", "drain",
                                           "collect", "stop", "final_drain"};
enum fz_invalid { INV_NONE, INV_NULL_FRAMES, INV_DEPTH0, INV_WEIGHT0, INV_RESERVED_FRAME };

typedef struct fz_op {
    uint8_t kind, invalid;
    uint32_t reason; /* add_loss */
    uint64_t tag;
    uint32_t depth, weight, hint;
    uintptr_t frames[FZ_MAX_IN_DEPTH];
} fz_op;

typedef struct fz_thread {
    ucontext_t ctx;
    unsigned char *stack;
    int nops, next_op;
    fz_op ops[FZ_MAX_OPS];
    bool started, done;
    int nest;                                   /* ops on this stack: 1 base, up to 1+FZ_MAX_NEST */
    const fz_op *running[FZ_MAX_NEST + 1];      /* the op at each level */
    uint32_t yields[FZ_MAX_NEST + 1];           /* its own yield points so far */
    bool in_emit[FZ_MAX_NEST + 1];              /* inside the reader's emit callback */
} fz_thread;

/* One distinct stored stack: what the core must give back for it. */
typedef struct fz_key {
    uint64_t tag;
    uint32_t depth;
    uint64_t frames[FZ_MAX_IN_DEPTH];
    uint64_t expected; /* weight of adds that returned RECORDED(_HANDOFF) */
    uint64_t emitted;  /* weight the reader has emitted for it */
} fz_key;

typedef struct fz_event {
    uint8_t what, thread, nest, arg;
    uint16_t op, yields;
    int32_t result;
} fz_event;
enum { EV_START, EV_END, EV_SWITCH, EV_SIGNAL, EV_EMIT, EV_FINISH };

static struct {
    /* input */
    profcore_config cfg;
    int nthreads; /* writers + 1 reader */
    fz_op sig_ops[FZ_MAX_OPS];
    int nsig, next_sig;
    const uint8_t *sched;
    size_t sched_len, sched_pos;
    /* scheduler */
    bool scheduling;
    int cur;
    ucontext_t main_ctx;
    const void *main_stack_bottom;
    size_t main_stack_size;
    fz_thread th[FZ_MAX_THREADS];
    /* core */
    void *mem;
    profcore *pc;
    /* protocol state as the harness saw it return */
    bool stop_returned, drained;
    /* ledger */
    uint64_t offered_n, offered_w, recorded_n, recorded_w, rejected_n, rejected_w;
    uint64_t lost_n, lost_w, handoff_returns, truncated_recorded;
    uint64_t caller_lost_n[PROFCORE_LOSS_REASONS], caller_lost_w[PROFCORE_LOSS_REASONS];
    /* Reserved-frame adds returned LOST: INVALID when they reached a shard
     * (the core looks at the frames on a miss, with a shard held),
     * CONTENDED when every shard was busy.  The split is not visible per
     * call, only in the totals. */
    uint64_t reserved_lost_n, reserved_lost_w;
    uint64_t lost_add_w, lost_nh_w; /* valid adds lost, by path */
    uint64_t emitted_loss_w[PROFCORE_LOSS_REASONS];
    fz_key keys[FZ_MAX_KEYS];
    int nkeys;
    /* API misuse checks before the run; a re-entrant reader call from emit */
    bool misuse, reenter;
    /* result */
    bool failed, hang;
    char msg[512];
    fz_event trace[FZ_TRACE_MAX];
    uint32_t ntrace;
    uint64_t nevents;
} G;

static int fz_verbose;
static _Alignas(64) unsigned char fz_stacks[FZ_MAX_THREADS][FZ_STACK_SIZE];

static const uintptr_t fz_alphabet[4] = {
    0x401000u,
    0x402000u,
    /* folds (lo ^ hi) to the same 32 bits as 0x401000: same hash, different stack */
    (uintptr_t)0x100401001ull,
    0x403000u,
};
/* 1 and 1<<32 fold to the same hash input: different tags, same hash. */
static const uint64_t fz_tags[4] = {1u, 2u, 0x100000000ull, 0u};

/* ---- trace ------------------------------------------------------------- */
static void fz_trace(uint8_t what, int thread, int nest, int op, uint32_t yields, int32_t result,
                     uint8_t arg) {
    fz_event *e = &G.trace[G.ntrace % FZ_TRACE_MAX];
    e->what = what;
    e->thread = (uint8_t)thread;
    e->nest = (uint8_t)nest;
    e->op = (uint16_t)op;
    e->yields = (uint16_t)(yields > 0xffffu ? 0xffffu : yields);
    e->result = result;
    e->arg = arg;
    G.ntrace++;
    G.nevents++;
}

/* ---- switching (with ASan fiber annotations so it knows which stack is live) */
#if FZ_ASAN
static const void *fz_stack_bottom(int t) {
    return t < 0 ? G.main_stack_bottom : (const void *)G.th[t].stack;
}
static size_t fz_stack_size(int t) { return t < 0 ? G.main_stack_size : FZ_STACK_SIZE; }
#endif

static void fz_swap(ucontext_t *from, ucontext_t *to, int to_thread) {
#if FZ_ASAN
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, fz_stack_bottom(to_thread), fz_stack_size(to_thread));
    swapcontext(from, to);
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#else
    (void)to_thread;
    swapcontext(from, to);
#endif
}

/* Ends the run from inside a simulated thread: control goes back to fz_run
 * and this stack is abandoned. */
static void fz_abandon_thread(void) {
    fz_swap(&G.th[G.cur].ctx, &G.main_ctx, -1);
    abort(); /* never resumed */
}

static void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fz_fail(const char *fmt, ...) {
    if (!G.failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(G.msg, sizeof G.msg, fmt, ap);
        va_end(ap);
        G.failed = true;
    }
    if (G.scheduling) fz_abandon_thread();
}

/* ---- the yield point ------------------------------------------------------ */
static void fz_run_op(fz_thread *t, int thread, const fz_op *op, int opno);

/* Yield points an operation may pass, by construction of the core: an add
 * tries each shard once (one CAS each) and then does a constant number of
 * accesses; a reader call does a constant number per shard.  Generous, so
 * that only a loop that waits (a spin, a retry) can exceed it.  Yields taken
 * inside the reader's emit callback are the harness's, not the core's. */
static uint32_t fz_yield_bound(const fz_op *op) {
    if (op->kind == OP_ADD || op->kind == OP_ADD_NH || op->kind == OP_LOSS)
        return 2u * G.cfg.shards + 32u;
    return 8u * G.cfg.shards + 64u;
}

static uint8_t fz_next_decision(void) {
    if (G.sched_pos >= G.sched_len) return 0; /* schedule exhausted: run on */
    return G.sched[G.sched_pos++];
}

static void fz_switch_to(int target) {
    int from = G.cur;
    fz_trace(EV_SWITCH, from, G.th[from].nest, 0, 0, target, 0);
    G.cur = target;
    fz_swap(&G.th[from].ctx, &G.th[target].ctx, target);
    /* Resumed: whoever switched back set G.cur to us. */
}

static void fz_yield(void) {
    if (!G.scheduling) return; /* setup and final checks run unscheduled */
    fz_thread *t = &G.th[G.cur];
    int level = t->nest - 1;
    if (level < 0) return;
    if (!t->in_emit[level] && ++t->yields[level] > fz_yield_bound(t->running[level])) {
        G.hang = true;
        fz_fail("HANG: thread %d level %d: %s exceeded its bound of %u yield points "
                "(it waits on something: not wait-free)",
                G.cur, level, fz_kind_name[t->running[level]->kind],
                fz_yield_bound(t->running[level]));
    }
    uint8_t d = fz_next_decision();
    switch (d >> 6) {
    case 2: { /* switch to thread (d & 63) mod n, if it can run */
        int target = (d & 63) % G.nthreads;
        if (target != G.cur && !G.th[target].done) fz_switch_to(target);
        break;
    }
    case 3: /* deliver a nested signal: one complete add on this stack */
        if (t->nest <= FZ_MAX_NEST && G.next_sig < G.nsig) {
            int n = G.next_sig++;
            fz_trace(EV_SIGNAL, G.cur, t->nest, n, t->yields[level], 0, 0);
            fz_run_op(t, G.cur, &G.sig_ops[n], 1000 + n);
        }
        break;
    default: /* keep going */
        break;
    }
}

/* ---- the ledger ----------------------------------------------------------- */
/* The stack as the core stores it: at most max_depth frames, the last one
 * replaced by the truncation marker when the input was deeper. */
static void fz_stored_form(const fz_op *op, uint32_t *depth, uint64_t *frames) {
    uint32_t d = op->depth;
    bool trunc = d > G.cfg.max_depth;
    if (trunc) d = G.cfg.max_depth;
    for (uint32_t i = 0; i < d; i++) frames[i] = (uint64_t)op->frames[i];
    if (trunc) frames[d - 1] = PROFCORE_FRAME_TRUNCATED;
    *depth = d;
}

static fz_key *fz_find_key(uint64_t tag, uint32_t depth, const uint64_t *frames) {
    for (int i = 0; i < G.nkeys; i++) {
        fz_key *k = &G.keys[i];
        if (k->tag == tag && k->depth == depth &&
            memcmp(k->frames, frames, depth * sizeof frames[0]) == 0)
            return k;
    }
    return NULL;
}

static fz_key *fz_key_for(const fz_op *op) {
    uint32_t depth;
    uint64_t frames[FZ_MAX_IN_DEPTH];
    fz_stored_form(op, &depth, frames);
    fz_key *k = fz_find_key(op->tag, depth, frames);
    if (k != NULL) return k;
    k = &G.keys[G.nkeys++];
    memset(k, 0, sizeof *k);
    k->tag = op->tag;
    k->depth = depth;
    memcpy(k->frames, frames, depth * sizeof frames[0]);
    return k;
}

static bool fz_is_add(const fz_op *op) { return op->kind == OP_ADD || op->kind == OP_ADD_NH; }

/* The reason the core must count for an add_loss call (manual: a core-only
 * reason or weight 0 is API misuse, counted INVALID). */
static uint32_t fz_loss_reason(const fz_op *op) {
    bool caller = op->reason == PROFCORE_LOSS_CRITICAL || op->reason == PROFCORE_LOSS_UNWIND ||
                  op->reason == PROFCORE_LOSS_OTHER;
    return caller && op->weight != 0 ? op->reason : PROFCORE_LOSS_INVALID;
}

static void fz_account_signal_op(const fz_op *op, int r, bool started_after_stop) {
    G.offered_n++;
    G.offered_w += op->weight;
    if (r < PROFCORE_RECORDED || r > PROFCORE_REJECTED)
        fz_fail("%s returned %d, not an add outcome", fz_kind_name[op->kind], r);
    if (started_after_stop && r != PROFCORE_REJECTED)
        fz_fail("%s started after profcore_stop returned but was not rejected (returned %d)",
                fz_kind_name[op->kind], r);
    if (r == PROFCORE_REJECTED) {
        G.rejected_n++;
        G.rejected_w += op->weight;
        return;
    }
    bool invalid = op->kind == OP_LOSS || op->invalid != INV_NONE;
    if (invalid && r != PROFCORE_LOST)
        fz_fail("%s of an invalid or caller-lost sample returned %d, not LOST",
                fz_kind_name[op->kind], r);
    if (r == PROFCORE_LOST) {
        G.lost_n++;
        G.lost_w += op->weight;
        if (op->kind == OP_LOSS) {
            uint32_t reason = fz_loss_reason(op);
            G.caller_lost_n[reason]++;
            G.caller_lost_w[reason] += op->weight;
        } else if (op->invalid == INV_RESERVED_FRAME) {
            G.reserved_lost_n++;
            G.reserved_lost_w += op->weight;
        } else if (op->invalid != INV_NONE) {
            G.caller_lost_n[PROFCORE_LOSS_INVALID]++;
            G.caller_lost_w[PROFCORE_LOSS_INVALID] += op->weight;
        } else if (op->kind == OP_ADD) {
            G.lost_add_w += op->weight;
        } else {
            G.lost_nh_w += op->weight;
        }
        return;
    }
    /* RECORDED or RECORDED_HANDOFF */
    if (r == PROFCORE_RECORDED_HANDOFF) {
        if (op->kind == OP_ADD_NH) fz_fail("the no-handoff path returned RECORDED_HANDOFF");
        G.handoff_returns++;
    }
    G.recorded_n++;
    G.recorded_w += op->weight;
    if (op->depth > G.cfg.max_depth) G.truncated_recorded++;
    fz_key_for(op)->expected += op->weight;
}

/* Return codes a reader call may give, given what the harness saw before. */
static void fz_account_reader_op(const fz_op *op, int r) {
    bool ok;
    switch (op->kind) {
    case OP_DRAIN:
        ok = G.drained ? r == PROFCORE_E_STATE : r == PROFCORE_OK;
        break;
    case OP_COLLECT:
        ok = G.drained ? r == PROFCORE_E_STATE : (r == PROFCORE_OK || r == PROFCORE_BUSY);
        break;
    case OP_STOP:
        ok = G.drained ? r == PROFCORE_E_STATE : (r == PROFCORE_OK || r == PROFCORE_BUSY);
        if (!G.drained) G.stop_returned = true;
        break;
    default: /* OP_FINAL */
        if (G.drained || !G.stop_returned)
            ok = r == PROFCORE_E_STATE;
        else
            ok = r == PROFCORE_OK || r == PROFCORE_BUSY;
        if (ok && r == PROFCORE_OK) G.drained = true;
        break;
    }
    if (!ok)
        fz_fail("%s returned %d (stopped=%d drained=%d)", fz_kind_name[op->kind], r,
                G.stop_returned, G.drained);
}

/* ---- the reader's callback -------------------------------------------------- */
static bool fz_loss_record(const profcore_record *rec, uint32_t *reason) {
    if (rec->depth != 1 || rec->frames[0] < PROFCORE_FRAME_LOST(0) ||
        rec->frames[0] >= PROFCORE_FRAME_LOST(PROFCORE_LOSS_REASONS))
        return false;
    *reason = (uint32_t)(rec->frames[0] - PROFCORE_FRAME_LOST(0));
    return true;
}

static void fz_emit(void *ctx, const profcore_record *rec) {
    (void)ctx;
    /* The reader can be preempted (or signalled) while it copies a record:
     * a yield before and one in the middle of the copy.  (At the end of a
     * run the harness drains from its own stack, unscheduled.) */
    static bool unscheduled_emit;
    fz_thread *t = G.scheduling ? &G.th[G.cur] : NULL;
    int level = t != NULL ? t->nest - 1 : 0;
    bool *in_emit = t != NULL ? &t->in_emit[level] : &unscheduled_emit;
    *in_emit = true;
    fz_yield();
    uint64_t tag = rec->tag, weight = rec->weight;
    uint32_t depth = rec->depth;
    uint64_t frames[FZ_MAX_IN_DEPTH];
    if (depth == 0 || depth > G.cfg.max_depth) {
        *in_emit = false;
        fz_fail("emitted a record of depth %u (max_depth %u)", depth, G.cfg.max_depth);
        return;
    }
    frames[0] = rec->frames[0];
    fz_yield();
    for (uint32_t i = 1; i < depth; i++) frames[i] = rec->frames[i];
    *in_emit = false;
    fz_trace(EV_EMIT, t != NULL ? G.cur : 255, t != NULL ? t->nest : 0, 0, 0, (int32_t)weight,
             (uint8_t)depth);

    if (G.reenter) {
        /* The callback calling back into the reader: one reader at a time. */
        G.reenter = false;
        int r = profcore_drain(G.pc, fz_emit, NULL);
        if (r != PROFCORE_E_READER_BUSY) fz_fail("re-entrant drain returned %d, not READER_BUSY", r);
    }
    profcore_record copy = {tag, weight, depth, frames};
    uint32_t reason;
    if (fz_loss_record(&copy, &reason)) {
        if (tag != 0 || weight == 0)
            fz_fail("loss record for reason %u has tag %llu weight %llu", reason,
                    (unsigned long long)tag, (unsigned long long)weight);
        G.emitted_loss_w[reason] += weight;
        return;
    }
    fz_key *k = fz_find_key(tag, depth, frames);
    if (k == NULL) {
        char buf[200];
        int n = 0;
        for (uint32_t i = 0; i < depth && n < 180; i++)
            n += snprintf(buf + n, sizeof buf - (size_t)n, " %#llx", (unsigned long long)frames[i]);
        fz_fail("INTEGRITY: emitted a stack never offered: tag %#llx depth %u frames%s weight %llu",
                (unsigned long long)tag, depth, buf, (unsigned long long)weight);
        return;
    }
    if (weight == 0) fz_fail("INTEGRITY: emitted a record of weight 0");
    k->emitted += weight;
    if (k->emitted > k->expected)
        fz_fail("INTEGRITY: stack (key %d, tag %#llx depth %u) emitted weight %llu > recorded %llu "
                "(read twice, merged or invented)",
                (int)(k - G.keys), (unsigned long long)tag, depth,
                (unsigned long long)k->emitted, (unsigned long long)k->expected);
}

/* ---- operations ------------------------------------------------------------- */
static int fz_call_add(const fz_op *op) {
    uintptr_t frames[FZ_MAX_IN_DEPTH];
    memcpy(frames, op->frames, sizeof frames);
    const uintptr_t *f = op->invalid == INV_NULL_FRAMES ? NULL : frames;
    if (op->kind == OP_ADD) return profcore_add(G.pc, op->tag, f, op->depth, op->weight, op->hint);
    return profcore_add_nohandoff(G.pc, op->tag, f, op->depth, op->weight, op->hint);
}

static void fz_run_op(fz_thread *t, int thread, const fz_op *op, int opno) {
    int level = t->nest++;
    t->running[level] = op;
    t->yields[level] = 0;
    t->in_emit[level] = false;
    bool after_stop = G.stop_returned;
    fz_trace(EV_START, thread, t->nest, opno, 0, 0, op->kind);
    int r;
    uint32_t busy = 0;
    switch (op->kind) {
    case OP_ADD:
    case OP_ADD_NH: r = fz_call_add(op); break;
    case OP_LOSS: r = profcore_add_loss(G.pc, op->reason, op->weight); break;
    case OP_DRAIN: r = profcore_drain(G.pc, fz_emit, NULL); break;
    case OP_COLLECT: r = profcore_collect(G.pc, fz_emit, NULL, &busy); break;
    case OP_STOP: r = profcore_stop(G.pc); break;
    default: r = profcore_final_drain(G.pc, fz_emit, NULL); break;
    }
    fz_trace(EV_END, thread, t->nest, opno, t->yields[level], r, op->kind);
    t->nest--;
    if (op->kind <= OP_LOSS)
        fz_account_signal_op(op, r, after_stop);
    else
        fz_account_reader_op(op, r);
}

static void fz_thread_main(int id) {
    fz_thread *t = &G.th[id];
#if FZ_ASAN
    /* Only the first thread is entered from fz_run's own stack. */
    const void *from_bottom;
    size_t from_size;
    __sanitizer_finish_switch_fiber(NULL, &from_bottom, &from_size);
    if (G.main_stack_bottom == NULL) {
        G.main_stack_bottom = from_bottom;
        G.main_stack_size = from_size;
    }
#endif
    while (t->next_op < t->nops) {
        int n = t->next_op++;
        fz_run_op(t, id, &t->ops[n], n);
    }
    t->done = true;
    fz_trace(EV_FINISH, id, 0, 0, 0, 0, 0);
    fz_swap(&t->ctx, &G.main_ctx, -1); /* never resumed: done */
    abort();
}

/* ---- decoding --------------------------------------------------------------- */
typedef struct fz_reader {
    const uint8_t *p;
    size_t n, at;
} fz_reader;

static uint8_t fz_byte(fz_reader *r) { return r->at < r->n ? r->p[r->at++] : 0; }

/* Four bytes: kind|aux, depth|tag|weight, frame choices (2 bits each). */
static void fz_decode_signal_op(fz_reader *r, fz_op *op) {
    uint8_t b0 = fz_byte(r), b1 = fz_byte(r), b2 = fz_byte(r), b3 = fz_byte(r);
    uint32_t aux = b0 >> 3, choice = (uint32_t)b2 | (uint32_t)b3 << 8;
    memset(op, 0, sizeof *op);
    op->depth = 1u + (b1 & 7u);
    op->tag = fz_tags[(b1 >> 3) & 3u];
    op->weight = 1u + (b1 >> 5);
    op->hint = aux;
    for (uint32_t i = 0; i < FZ_MAX_IN_DEPTH; i++) op->frames[i] = fz_alphabet[(choice >> (2 * i)) & 3u];
    switch (b0 & 7u) {
    case 0: case 1: case 2: case 3: op->kind = OP_ADD; break;
    case 4: case 5: op->kind = OP_ADD_NH; break;
    case 6: /* caller-side loss: critical section, unwind, other, or a misused reason */
        op->kind = OP_LOSS;
        op->reason = (aux & 3u) == 0   ? PROFCORE_LOSS_CRITICAL
                     : (aux & 3u) == 1 ? PROFCORE_LOSS_UNWIND
                     : (aux & 3u) == 2 ? PROFCORE_LOSS_OTHER
                                       : (aux >> 2) + 0u; /* 0..7: some invalid */
        op->weight = b1 >> 5;                          /* 0..7: 0 is invalid */
        break;
    default: /* an invalid add on either path */
        op->kind = (aux & 4u) ? OP_ADD_NH : OP_ADD;
        op->invalid = (uint8_t)(INV_NULL_FRAMES + (aux & 3u));
        if (op->invalid == INV_DEPTH0) op->depth = 0;
        if (op->invalid == INV_WEIGHT0) op->weight = 0;
        if (op->invalid == INV_RESERVED_FRAME) {
            /* Among the frames the core keeps: frames past max_depth are
             * never read, so a reserved value there is not "carried". */
            uint32_t kept = op->depth > G.cfg.max_depth ? G.cfg.max_depth - 1u : op->depth;
            uint32_t at = (op->depth - 1u) / 2u;
            if (at >= kept) at = kept - 1u;
            op->frames[at] = (aux >> 3) ? PROFCORE_FRAME_TRUNCATED : PROFCORE_FRAME_LOST(aux & 7u);
        }
        break;
    }
}

static void fz_decode(const uint8_t *data, size_t size) {
    fz_reader r = {data, size, 0};
    uint8_t b0 = fz_byte(&r), b1 = fz_byte(&r), b2 = fz_byte(&r), b3 = fz_byte(&r),
            b4 = fz_byte(&r);
    G.cfg.shards = 1u << (b0 % 3u);
    G.cfg.buckets = 1u << (b1 & 1u);
    G.cfg.ways = 1u + (b1 >> 1) % 3u;
    G.cfg.max_depth = 2u + b2 % 3u;
    uint32_t rec = PROFCORE_RECORD_HEADER_WORDS + G.cfg.max_depth;
    G.cfg.log_words = rec + b3 % (2u * rec + 1u); /* one to three records per half */
    int writers = 1 + b4 % FZ_MAX_WRITERS;
    G.misuse = (b4 / FZ_MAX_WRITERS) & 1u;
    G.reenter = (b4 / FZ_MAX_WRITERS) & 2u;
    G.nthreads = writers + 1;
    for (int w = 0; w < writers; w++) {
        fz_thread *t = &G.th[w];
        t->nops = fz_byte(&r) % (FZ_MAX_OPS + 1);
        for (int i = 0; i < t->nops; i++) fz_decode_signal_op(&r, &t->ops[i]);
    }
    fz_thread *reader = &G.th[writers];
    reader->nops = fz_byte(&r) % (FZ_MAX_OPS + 1);
    for (int i = 0; i < reader->nops; i++) {
        memset(&reader->ops[i], 0, sizeof reader->ops[i]);
        reader->ops[i].kind = (uint8_t)(OP_DRAIN + fz_byte(&r) % 4u);
    }
    G.nsig = fz_byte(&r) % (FZ_MAX_OPS + 1);
    for (int i = 0; i < G.nsig; i++) fz_decode_signal_op(&r, &G.sig_ops[i]);
    G.sched = data + r.at;
    G.sched_len = r.at < size ? size - r.at : 0;
}

/* ---- the final oracles ------------------------------------------------------- */
static void fz_check_eq(const char *what, uint64_t core, uint64_t ledger) {
    if (core != ledger)
        fz_fail("CONSERVATION: %s: core says %llu, the calls' outcomes say %llu", what,
                (unsigned long long)core, (unsigned long long)ledger);
}

/* With every thread finished nothing is in flight: stop must succeed at
 * once, the final drain too, and then every number must match exactly. */
static void fz_check_end(void) {
    if (!G.drained) {
        int r = profcore_stop(G.pc);
        if (r != PROFCORE_OK) fz_fail("stop returned %d with no operation in flight", r);
        if (G.failed) return;
        r = profcore_final_drain(G.pc, fz_emit, NULL);
        if (r != PROFCORE_OK) fz_fail("final drain returned %d with no operation in flight", r);
        if (G.failed) return;
    }
    profcore_stats st;
    if (profcore_stats_read(G.pc, &st) != PROFCORE_OK) {
        fz_fail("stats_read failed");
        return;
    }
    fz_check_eq("offered samples", st.offered_samples, G.offered_n);
    fz_check_eq("offered weight", st.offered_weight, G.offered_w);
    fz_check_eq("recorded samples", st.recorded_samples, G.recorded_n);
    fz_check_eq("recorded weight", st.recorded_weight, G.recorded_w);
    fz_check_eq("rejected samples", st.rejected_samples, G.rejected_n);
    fz_check_eq("rejected weight", st.rejected_weight, G.rejected_w);
    fz_check_eq("handoffs", st.handoffs, G.handoff_returns);
    fz_check_eq("truncated", st.truncated, G.truncated_recorded);
    uint64_t lost_n = 0, lost_w = 0;
    for (uint32_t r = 0; r < PROFCORE_LOSS_REASONS; r++) {
        lost_n += st.lost_samples[r];
        lost_w += st.lost_weight[r];
        if (st.lost_weight[r] != G.emitted_loss_w[r])
            fz_fail("CONSERVATION: loss reason %u: counted weight %llu, emitted %llu", r,
                    (unsigned long long)st.lost_weight[r],
                    (unsigned long long)G.emitted_loss_w[r]);
    }
    fz_check_eq("lost samples", lost_n, G.lost_n);
    fz_check_eq("lost weight", lost_w, G.lost_w);
    /* Caller reasons and invalid input: the harness knows the reason. */
    static const uint32_t exact[] = {PROFCORE_LOSS_INVALID, PROFCORE_LOSS_CRITICAL,
                                     PROFCORE_LOSS_UNWIND, PROFCORE_LOSS_OTHER};
    /* INVALID beyond the other invalid inputs: reserved-frame adds that
     * reached a shard; the rest of them were counted CONTENDED. */
    uint64_t res_inv_n = st.lost_samples[PROFCORE_LOSS_INVALID] - G.caller_lost_n[PROFCORE_LOSS_INVALID];
    uint64_t res_inv_w = st.lost_weight[PROFCORE_LOSS_INVALID] - G.caller_lost_w[PROFCORE_LOSS_INVALID];
    if (st.lost_samples[PROFCORE_LOSS_INVALID] < G.caller_lost_n[PROFCORE_LOSS_INVALID] ||
        res_inv_n > G.reserved_lost_n || st.lost_weight[PROFCORE_LOSS_INVALID] < G.caller_lost_w[PROFCORE_LOSS_INVALID] ||
        res_inv_w > G.reserved_lost_w)
        fz_fail("CONSERVATION: INVALID %llu samples / %llu weight, other invalid input %llu / %llu, "
                "reserved-frame adds lost %llu / %llu",
                (unsigned long long)st.lost_samples[PROFCORE_LOSS_INVALID],
                (unsigned long long)st.lost_weight[PROFCORE_LOSS_INVALID],
                (unsigned long long)G.caller_lost_n[PROFCORE_LOSS_INVALID],
                (unsigned long long)G.caller_lost_w[PROFCORE_LOSS_INVALID],
                (unsigned long long)G.reserved_lost_n, (unsigned long long)G.reserved_lost_w);
    for (size_t i = 1; i < sizeof exact / sizeof exact[0]; i++) {
        fz_check_eq("lost samples of a caller/invalid reason", st.lost_samples[exact[i]],
                    G.caller_lost_n[exact[i]]);
        fz_check_eq("lost weight of a caller/invalid reason", st.lost_weight[exact[i]],
                    G.caller_lost_w[exact[i]]);
    }
    /* Core reasons: LOG_FULL only on the handoff path, NOHANDOFF_FULL only on
     * the other, CONTENDED on either (and for reserved-frame adds that found
     * every shard busy). */
    fz_check_eq("weight lost by valid adds (contended + log full + no-handoff full)",
                st.lost_weight[PROFCORE_LOSS_CONTENDED] + st.lost_weight[PROFCORE_LOSS_LOG_FULL] +
                    st.lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL],
                G.lost_add_w + G.lost_nh_w + (G.reserved_lost_w - res_inv_w));
    if (st.lost_weight[PROFCORE_LOSS_LOG_FULL] > G.lost_add_w)
        fz_fail("CONSERVATION: LOG_FULL weight %llu exceeds what profcore_add lost (%llu)",
                (unsigned long long)st.lost_weight[PROFCORE_LOSS_LOG_FULL],
                (unsigned long long)G.lost_add_w);
    if (st.lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL] > G.lost_nh_w)
        fz_fail("CONSERVATION: NOHANDOFF_FULL weight %llu exceeds what the no-handoff path lost "
                "(%llu)",
                (unsigned long long)st.lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL],
                (unsigned long long)G.lost_nh_w);
    for (int i = 0; i < G.nkeys && !G.failed; i++) {
        const fz_key *k = &G.keys[i];
        if (k->emitted != k->expected)
            fz_fail("INTEGRITY: stack (key %d, tag %#llx depth %u) recorded weight %llu but the "
                    "reader got %llu",
                    i, (unsigned long long)k->tag, k->depth, (unsigned long long)k->expected,
                    (unsigned long long)k->emitted);
    }
}

/* ---- one run ---------------------------------------------------------------- */
static void fz_reset(void) {
    free(G.mem);
    memset(&G, 0, sizeof G);
}

/* ---- API misuse: every error the manual lists, each with its own code ---- */
static void fz_expect(const char *what, int got, int want) {
    if (got != want) fz_fail("API: %s returned %d, expected %d", what, got, want);
}

static void fz_check_misuse(void) {
    static const struct { profcore_config cfg; int err; } bad[] = {
        {{0, 1, 1, 2, 5}, PROFCORE_E_SHARDS},      {{3, 1, 1, 2, 5}, PROFCORE_E_SHARDS},
        {{512, 1, 1, 2, 5}, PROFCORE_E_SHARDS},    {{1, 0, 1, 2, 5}, PROFCORE_E_BUCKETS},
        {{1, 6, 1, 2, 5}, PROFCORE_E_BUCKETS},     {{1, 1u << 21, 1, 2, 5}, PROFCORE_E_BUCKETS},
        {{1, 1, 0, 2, 5}, PROFCORE_E_WAYS},        {{1, 1, 65, 2, 5}, PROFCORE_E_WAYS},
        {{1, 1, 1, 1, 5}, PROFCORE_E_DEPTH},       {{1, 1, 1, 1025, 2000}, PROFCORE_E_DEPTH},
        {{1, 1, 1, 2, 4}, PROFCORE_E_LOG},         {{1, 1, 1, 2, (1u << 28) + 1}, PROFCORE_E_LOG},
    };
    static _Alignas(64) uint64_t scratch[512];
    profcore *h = NULL;
    fz_expect("check_config(NULL)", profcore_check_config(NULL), PROFCORE_E_NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fz_expect("check_config(bad)", profcore_check_config(&bad[i].cfg), bad[i].err);
        fz_expect("size(bad) != 0", (int)profcore_size(&bad[i].cfg), 0);
        fz_expect("init(bad)", profcore_init(scratch, sizeof scratch, &bad[i].cfg, &h), bad[i].err);
    }
    profcore_config ok = {1, 1, 1, 2, 5};
    fz_expect("init(NULL mem)", profcore_init(NULL, sizeof scratch, &ok, &h), PROFCORE_E_NULL);
    fz_expect("init(NULL out)", profcore_init(scratch, sizeof scratch, &ok, NULL), PROFCORE_E_NULL);
    fz_expect("init(NULL cfg)", profcore_init(scratch, sizeof scratch, NULL, &h), PROFCORE_E_NULL);
    fz_expect("init(misaligned)",
              profcore_init((unsigned char *)scratch + 4, sizeof scratch - 8, &ok, &h),
              PROFCORE_E_ALIGN);
    fz_expect("init(too small)", profcore_init(scratch, profcore_size(&ok) - 8, &ok, &h),
              PROFCORE_E_SIZE);
    /* A block that was never initialised is not a handle. */
    memset(scratch, 0, sizeof scratch);
    profcore *fake = (profcore *)(void *)scratch;
    uintptr_t frame = 0x401000u;
    profcore_stats st;
    fz_expect("add(NULL)", profcore_add(NULL, 0, &frame, 1, 1, 0), PROFCORE_E_NULL);
    fz_expect("add(fake)", profcore_add(fake, 0, &frame, 1, 1, 0), PROFCORE_E_NOT_INIT);
    fz_expect("add_nohandoff(fake)", profcore_add_nohandoff(fake, 0, &frame, 1, 1, 0),
              PROFCORE_E_NOT_INIT);
    fz_expect("add_loss(NULL)", profcore_add_loss(NULL, PROFCORE_LOSS_OTHER, 1), PROFCORE_E_NULL);
    fz_expect("add_loss(fake)", profcore_add_loss(fake, PROFCORE_LOSS_OTHER, 1), PROFCORE_E_NOT_INIT);
    fz_expect("stats_read(NULL)", profcore_stats_read(NULL, &st), PROFCORE_E_NULL);
    fz_expect("stats_read(out NULL)", profcore_stats_read(G.pc, NULL), PROFCORE_E_NULL);
    fz_expect("stats_read(fake)", profcore_stats_read(fake, &st), PROFCORE_E_NOT_INIT);
    fz_expect("drain(emit NULL)", profcore_drain(G.pc, NULL, NULL), PROFCORE_E_NULL);
    fz_expect("drain(NULL)", profcore_drain(NULL, fz_emit, NULL), PROFCORE_E_NULL);
    fz_expect("drain(fake)", profcore_drain(fake, fz_emit, NULL), PROFCORE_E_NOT_INIT);
    fz_expect("collect(emit NULL)", profcore_collect(G.pc, NULL, NULL, NULL), PROFCORE_E_NULL);
    fz_expect("collect(fake)", profcore_collect(fake, fz_emit, NULL, NULL), PROFCORE_E_NOT_INIT);
    fz_expect("stop(NULL)", profcore_stop(NULL), PROFCORE_E_NULL);
    fz_expect("stop(fake)", profcore_stop(fake), PROFCORE_E_NOT_INIT);
    fz_expect("final_drain(emit NULL)", profcore_final_drain(G.pc, NULL, NULL), PROFCORE_E_NULL);
    fz_expect("final_drain(fake)", profcore_final_drain(fake, fz_emit, NULL), PROFCORE_E_NOT_INIT);
}

/* getcontext returns twice; isolated so no caller's local lives across it
 * (gcc's -Wclobbered).  Only makecontext's fresh entry point is ever resumed. */
__attribute__((noinline)) static void fz_get_context(ucontext_t *ctx) {
    if (getcontext(ctx) != 0) abort();
}

static void fz_make_threads(void) {
    for (int i = 0; i < G.nthreads; i++) {
        fz_thread *t = &G.th[i];
        t->stack = fz_stacks[i];
#if FZ_ASAN
        /* A stack abandoned by an earlier failing run may still be poisoned. */
        __asan_unpoison_memory_region(t->stack, FZ_STACK_SIZE);
#endif
        fz_get_context(&t->ctx);
        t->ctx.uc_stack.ss_sp = t->stack;
        t->ctx.uc_stack.ss_size = FZ_STACK_SIZE;
        t->ctx.uc_link = NULL;
        makecontext(&t->ctx, (void (*)(void))fz_thread_main, 1, i);
    }
}

int fz_run(const uint8_t *data, size_t size) {
    fz_reset();
    fz_decode(data, size);
    /* Exactly the size asked for, so that a write past the end is an ASan
     * error and not a silent write into slack. */
    size_t need = profcore_size(&G.cfg);
    if (need == 0) {
        fz_fail("profcore_size rejected a valid configuration");
        return 1;
    }
    G.mem = aligned_alloc(64, (need + 63u) & ~(size_t)63u);
    if (G.mem == NULL) abort();
    if (profcore_init(G.mem, need, &G.cfg, &G.pc) != PROFCORE_OK) {
        fz_fail("profcore_init rejected a valid configuration");
        return 1;
    }
    if (G.misuse) fz_check_misuse();
    if (G.failed) return 1;
    fz_make_threads();
    /* Run until every thread is done: when the running thread finishes (or
     * the run fails) control comes back here; the first unfinished thread
     * goes next.  Threads switch among themselves at yield points. */
    G.scheduling = true;
    while (!G.failed) {
        int next = -1;
        for (int i = 0; i < G.nthreads && next < 0; i++)
            if (!G.th[i].done) next = i;
        if (next < 0) break;
        G.cur = next;
        fz_swap(&G.main_ctx, &G.th[next].ctx, next);
    }
    G.scheduling = false;
    if (!G.failed) fz_check_end();
    if (fz_verbose && !G.failed) fz_print_report(stderr);
    return G.failed ? 1 : 0;
}

int fz_last_was_hang(void) { return G.hang; }
void fz_set_verbose(int on) { fz_verbose = on; }

/* ---- the report ------------------------------------------------------------- */
static void fz_print_op(FILE *out, const fz_op *op) {
    fprintf(out, "%s", fz_kind_name[op->kind]);
    if (op->kind == OP_LOSS) {
        fprintf(out, "(reason %u, weight %u)", op->reason, op->weight);
    } else if (fz_is_add(op)) {
        static const char *const inv[] = {"", " INVALID:null-frames", " INVALID:depth0",
                                          " INVALID:weight0", " INVALID:reserved-frame"};
        fprintf(out, "(tag %#llx, weight %u, hint %u, depth %u:", (unsigned long long)op->tag,
                op->weight, op->hint, op->depth);
        for (uint32_t i = 0; i < op->depth && i < FZ_MAX_IN_DEPTH; i++)
            fprintf(out, " %#llx", (unsigned long long)op->frames[i]);
        fprintf(out, ")%s", inv[op->invalid]);
    }
}

static void fz_print_event(FILE *out, const fz_event *e) {
    static const char *const ind[] = {"", "", "  ", "    ", "      "};
    const char *pad = ind[e->nest < 5 ? e->nest : 4];
    char who[16];
    if (e->thread == 255)
        snprintf(who, sizeof who, "end");
    else
        snprintf(who, sizeof who, "T%u", e->thread);
    switch (e->what) {
    case EV_START:
        fprintf(out, "  %s %s%s %s#%u begins\n", who, pad, e->op >= 1000 ? "signal" : "op",
                fz_kind_name[e->arg], e->op >= 1000 ? e->op - 1000u : e->op);
        break;
    case EV_END:
        fprintf(out, "  %s %s%s %s#%u returns %d after %u yield points\n", who, pad,
                e->op >= 1000 ? "signal" : "op", fz_kind_name[e->arg],
                e->op >= 1000 ? e->op - 1000u : e->op, e->result, e->yields);
        break;
    case EV_SWITCH:
        fprintf(out, "  %s %s-- switch to T%d\n", who, pad, e->result);
        break;
    case EV_SIGNAL:
        fprintf(out, "  %s %s-- SIGNAL at yield point %u: nested signal#%u\n", who, pad, e->yields,
                e->op);
        break;
    case EV_EMIT:
        fprintf(out, "  %s %s   emit: depth %u weight %d\n", who, pad, e->arg, e->result);
        break;
    default:
        fprintf(out, "  %s finished its script\n", who);
        break;
    }
}

void fz_print_report(FILE *out) {
    if (G.failed) fprintf(out, "FAILURE: %s\n", G.msg);
    fprintf(out, "config: shards %u buckets %u ways %u max_depth %u log_words %u%s%s\n",
            G.cfg.shards, G.cfg.buckets, G.cfg.ways, G.cfg.max_depth, G.cfg.log_words,
            G.misuse ? " +api-misuse-checks" : "", G.reenter ? " +reentrant-drain" : "");
    for (int i = 0; i < G.nthreads; i++) {
        const fz_thread *t = &G.th[i];
        fprintf(out, "T%d (%s) script:\n", i, i == G.nthreads - 1 ? "reader" : "writer");
        for (int j = 0; j < t->nops; j++) {
            fprintf(out, "  op#%d ", j);
            fz_print_op(out, &t->ops[j]);
            fputc('\n', out);
        }
    }
    fprintf(out, "signals (delivered in this order, %d used):\n", G.next_sig);
    for (int j = 0; j < G.nsig; j++) {
        fprintf(out, "  signal#%d ", j);
        fz_print_op(out, &G.sig_ops[j]);
        fputc('\n', out);
    }
    fprintf(out, "schedule (%zu of %zu decision bytes used), %llu events:\n", G.sched_pos,
            G.sched_len, (unsigned long long)G.nevents);
    uint32_t first = G.ntrace > FZ_TRACE_MAX ? G.ntrace - FZ_TRACE_MAX : 0;
    if (first > 0) fprintf(out, "  ... %u earlier events not kept\n", first);
    for (uint32_t i = first; i < G.ntrace; i++) fz_print_event(out, &G.trace[i % FZ_TRACE_MAX]);
    if (G.failed) fprintf(out, "FAILURE: %s\n", G.msg);
}
