/* profcore.h — a signal-safe, wait-free profiling core in one file.
 * Version 0.1.0 (PROFCORE_VERSION).  SPDX-License-Identifier: MIT; the
 * licence text is at the end of this file.
 *
 * ===========================================================================
 *  MANUAL
 * ===========================================================================
 *
 * profcore records stack samples from signal handlers.  It is the part of a
 * sampling profiler that runs *inside* the handler: it counts repeated stacks
 * in a small hash table, evicts cold stacks into a log, and hands full log
 * halves to a reader thread, all without locks, allocation, system calls or
 * libc.  The hosted profiler around it (timers, unwinding, output files) is
 * someone else's job; this file is meant to be vendored.
 *
 * Use
 * ---
 *   In exactly one C file:
 *       #define PROFCORE_IMPLEMENTATION
 *       #include "profcore.h"
 *   Everywhere else, include it plainly.
 *
 *   static _Alignas(64) unsigned char mem[8u << 20];
 *   profcore_config cfg = PROFCORE_CONFIG_DEFAULT;
 *   profcore *pc;
 *   if (profcore_size(&cfg) > sizeof mem || profcore_init(mem, sizeof mem, &cfg, &pc) != PROFCORE_OK)
 *       ...refuse to profile...      // cfg and pc must not live inside mem
 *
 *   In the signal handler (any thread, any nesting depth):
 *       int r = profcore_add(pc, tag, frames, depth, weight, hint);
 *       if (r == PROFCORE_RECORDED_HANDOFF) wake_reader();   // e.g. write(2) to an eventfd
 *   On a thread the embedder does not know (no per-thread state):
 *       profcore_add_nohandoff(pc, tag, frames, depth, weight, hint);
 *   When the caller itself must drop a sample (unwinder failed, a critical
 *   section was active), it still reports it so nothing goes uncounted:
 *       profcore_add_loss(pc, PROFCORE_LOSS_UNWIND, weight);
 *
 *   On one reader thread:
 *       profcore_drain(pc, emit, ctx);           // published log halves + loss records
 *       profcore_collect(pc, emit, ctx, &busy);  // also harvest tables (flush)
 *       while (profcore_stop(pc) == PROFCORE_BUSY) sleep a little;
 *       while (profcore_final_drain(pc, emit, ctx) == PROFCORE_BUSY) sleep a little;
 *   `emit` is called once per record: a stack (leaf first), its tag and its
 *   weight.  The same stack may arrive in several records; the reader sums.
 *
 * The protocol (the concurrency is model-checked in proofs/profcore.pml)
 * ------------
 *   Memory.  The caller gives one block; profcore_size() says how many bytes
 *   a configuration needs.  Nothing is allocated later.
 *
 *   Shards.  The table is split into `shards` independent shards.  An add
 *   starts at shard (hint mod shards) and takes the shard's owner word with a
 *   single compare-and-swap; if that fails it moves to the next shard, at
 *   most `shards` tries.  If every shard is busy the sample is counted lost
 *   (reason CONTENDED).  Nothing ever spins: a nested signal on a thread that
 *   already holds a shard simply uses another one.
 *
 *   Table.  Inside a shard, a 32-bit hash of (tag, frames) picks a bucket of
 *   `ways` entries.  A hit compares the whole stack and tag, never the hash
 *   alone, and adds the weight.  A miss takes a free way, or evicts the way
 *   with the smallest count into the shard's active log half.
 *
 *   Log and handoff.  Each shard has two log halves.  When the active half
 *   cannot take a record, the writer publishes it with
 *   CAS(handoff, 0, words<<1 | half) and switches to the other half.  The
 *   reader copies the published half out and stores handoff = 0.  If the
 *   reader still holds the other half, the CAS fails and the *new* sample is
 *   counted lost (reason LOG_FULL); nothing already recorded is touched.
 *
 *   No-handoff path.  profcore_add_nohandoff() never publishes: it evicts
 *   only into room the active half already has, else the sample is counted
 *   lost (reason NOHANDOFF_FULL).  Use it where waking a reader is not
 *   possible (threads with no state; Go's lesson in its non-Go SIGPROF path).
 *
 *   Reader harvest.  The reader may itself take a shard's owner word (with
 *   the same single CAS: a busy shard is skipped and reported, never waited
 *   for) and copy out the active half and the table counts.  That is how
 *   profcore_collect() flushes a running profile and how the final drain
 *   empties everything after stop.
 *
 *   Stop.  profcore_stop() refuses new samples (they are counted REJECTED)
 *   and reports PROFCORE_BUSY while adds are still in flight; it never waits.
 *   When it reports PROFCORE_OK, profcore_final_drain() walks every table and
 *   log.  Both are polled by the caller.  Every add first loads `state` and
 *   rejects at once when stopped, before it takes a shard or opens the loss
 *   bracket: so the polls complete even if adds never stop coming (a timer
 *   still armed after stop).  Only adds that started before the stop can
 *   still make a poll report BUSY, and there are finitely many.
 *
 * Invariants (checked by tests/, fuzz/ and proofs/)
 * ----------
 *   I1 Conservation.  Every sample offered ends in exactly one place: a
 *      table count, a log record, a loss counter (by reason) or the rejected
 *      counter.  offered == recorded + lost + rejected, in samples and in
 *      weight, exactly, whenever no add is in flight.
 *   I2 Integrity.  A record the reader sees is a stack and tag that was
 *      offered (or a reserved synthetic frame), never torn or merged, and
 *      each recorded weight is emitted exactly once.
 *   I3 Wait-freedom.  Every function a signal handler may call finishes in
 *      a bounded number of its own steps: every loop is bounded by the
 *      configuration, no loop waits on another thread.  The reader side
 *      does not wait either; it reports PROFCORE_BUSY.
 *   I4 Exclusive shards.  A shard's table and active half are written only
 *      by the holder of its owner word.  A published half is read only by
 *      the reader, and written again only after the reader released it.
 *
 * Losses and synthetic frames
 * ---------------------------
 *   Every loss reason has a reserved frame value, PROFCORE_FRAME_LOST(reason).
 *   The reader emits losses as one-frame records under that frame, so a
 *   profile shows them next to real stacks.  A stack deeper than max_depth is
 *   kept: its first max_depth-1 frames followed by PROFCORE_FRAME_TRUNCATED.
 *   Frame values below PROFCORE_FRAME_RESERVED_END are reserved; a sample
 *   carrying one among the frames it keeps (or NULL frames, depth 0, weight
 *   0) is counted INVALID.  Frames past the truncation point are never read,
 *   so a reserved value there is simply cut off with them.  Reserved values
 *   are looked for only when the stack misses the table (a stack that holds
 *   one can never hit: entries are filled from checked stacks only), with a
 *   shard held: a sample that finds every shard busy, or the core stopped,
 *   is counted CONTENDED or REJECTED before its frames are looked at.
 *   For a weight-0 sample the loss is counted as one sample of weight 0.
 *
 * Configuration (all sizes checked by profcore_init, distinct error each)
 * -------------
 *   shards     power of two, 1..256          (default 8)
 *   buckets    power of two per shard, 1..2^20 (default 256)
 *   ways       entries per bucket, 1..64     (default 4)
 *   max_depth  frames per stack, 2..1024     (default 64)
 *   log_words  64-bit words per log half, at least one record of max_depth
 *              frames (3 + max_depth), at most 2^28 (default 8192)
 *   The default uses 5.4 MiB: 8 shards x 256 buckets x 4 ways x 67 words
 *   of table (4.2 MiB) plus 8 x 2 x 8192 words of log (1 MiB).  The memory
 *   must be 8-byte aligned; 64-byte alignment avoids false sharing.
 *
 * Freestanding
 * ------------
 *   Includes only <stddef.h>, <stdint.h>, <stdbool.h>.  Calls no function
 *   outside this file, and keeps the compiler from inventing memcpy/memset
 *   calls by passing copied values through an empty asm (PROFCORE_OPAQUE).
 *   Atomics use the __atomic builtins on types that are always lock-free
 *   (checked at compile time); where 64-bit atomics are not lock-free the
 *   statistics counters are 32 bits wide and wrap.
 *
 * Knobs a build may define before including this file
 * ---------------------------------------------------
 *   PROFCORE_API           storage class of the public functions (default
 *                          extern; define as `static` for a private copy).
 *   PROFCORE_YIELD_POINT() called before every shared-memory access of the
 *                          atomics layer; empty by default.  The fuzzer's
 *                          scheduler defines it (fuzz/).  Shipped builds
 *                          leave it alone.
 *   PROFCORE_SIGNAL_SAFE   the annotation that marks functions which may run
 *                          in a signal handler (see annotations/); defined
 *                          here so the file stays self-contained.
 */
#ifndef PROFCORE_H
#define PROFCORE_H

/* The version of this file: a string, and a number for #if comparisons
 * (major * 10000 + minor * 100 + patch). */
#define PROFCORE_VERSION_MAJOR 0
#define PROFCORE_VERSION_MINOR 1
#define PROFCORE_VERSION_PATCH 0
#define PROFCORE_VERSION "0.1.0"
#define PROFCORE_VERSION_NUMBER                                                     \
    (PROFCORE_VERSION_MAJOR * 10000 + PROFCORE_VERSION_MINOR * 100 + PROFCORE_VERSION_PATCH)

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef PROFCORE_API
#define PROFCORE_API extern
#endif

/* Marks a function that may run in a signal handler.  The signal-safety gate
 * (annotations/) checks that everything such a function reaches is either
 * annotated too or on the async-signal-safe allowlist.  When the gate
 * compiles (clang with PROFCORE_SIGCHECK defined) the mark is an IR
 * annotation it reads.  Ordinary builds leave the attribute out: it puts
 * the function's address in llvm.global.annotations, and clang then stops
 * inlining it (measured: a 32-frame add-hit 824 instructions with the
 * attribute, 758 without; see bench/README.md). */
#ifndef PROFCORE_SIGNAL_SAFE
#if defined(__clang__) && defined(PROFCORE_SIGCHECK)
#define PROFCORE_SIGNAL_SAFE __attribute__((annotate("profcore_signal_safe")))
#else
#define PROFCORE_SIGNAL_SAFE
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- configuration ------------------------------------------------------ */

typedef struct profcore_config {
    uint32_t shards;    /* power of two, 1..PROFCORE_MAX_SHARDS */
    uint32_t buckets;   /* per shard, power of two, 1..PROFCORE_MAX_BUCKETS */
    uint32_t ways;      /* entries per bucket, 1..PROFCORE_MAX_WAYS */
    uint32_t max_depth; /* frames kept per stack, 2..PROFCORE_MAX_DEPTH */
    uint32_t log_words; /* words per log half, 3+max_depth..PROFCORE_MAX_LOG_WORDS */
} profcore_config;

#define PROFCORE_MAX_SHARDS 256u
#define PROFCORE_MAX_BUCKETS (1u << 20)
#define PROFCORE_MAX_WAYS 64u
#define PROFCORE_MAX_DEPTH 1024u
#define PROFCORE_MAX_LOG_WORDS (1u << 28)
#define PROFCORE_RECORD_HEADER_WORDS 3u

#define PROFCORE_CONFIG_DEFAULT {8u, 256u, 4u, 64u, 8192u}

/* ---- status codes --------------------------------------------------------
 * Reader-side and setup calls return PROFCORE_OK, PROFCORE_BUSY (nothing is
 * wrong, call again later) or a negative error.  Every error is distinct. */
#define PROFCORE_OK 0
#define PROFCORE_BUSY 1
#define PROFCORE_E_NULL (-1)         /* a required pointer is NULL */
#define PROFCORE_E_ALIGN (-2)        /* memory not 8-byte aligned */
#define PROFCORE_E_SIZE (-3)         /* memory smaller than profcore_size() */
#define PROFCORE_E_SHARDS (-4)       /* shards 0, not a power of two, too many */
#define PROFCORE_E_BUCKETS (-5)      /* buckets 0, not a power of two, too many */
#define PROFCORE_E_WAYS (-6)         /* ways 0 or too many */
#define PROFCORE_E_DEPTH (-7)        /* max_depth < 2 or too large */
#define PROFCORE_E_LOG (-8)          /* log half cannot hold one full record, or too large */
#define PROFCORE_E_STATE (-9)        /* call out of order (drain after final drain, ...) */
#define PROFCORE_E_NOT_INIT (-10)    /* not a profcore handle (bad magic) */
#define PROFCORE_E_READER_BUSY (-11) /* another thread is in a reader call */

/* ---- outcomes of the add calls (never negative unless the handle is bad) */
#define PROFCORE_RECORDED 0         /* counted in a table or appended to a log */
#define PROFCORE_RECORDED_HANDOFF 1 /* recorded, and a log half was published: wake the reader */
#define PROFCORE_LOST 2             /* counted under a loss reason */
#define PROFCORE_REJECTED 3         /* the core is stopped; counted as rejected */

/* ---- loss reasons -------------------------------------------------------- */
#define PROFCORE_LOSS_CONTENDED 0      /* every shard was held (nesting, contention) */
#define PROFCORE_LOSS_LOG_FULL 1       /* eviction needed, reader still holds the other half */
#define PROFCORE_LOSS_NOHANDOFF_FULL 2 /* no-handoff path, no room left in the active half */
#define PROFCORE_LOSS_INVALID 3        /* depth 0, NULL or reserved frames, weight 0, bad reason */
#define PROFCORE_LOSS_CRITICAL 4       /* caller: sample taken inside a critical section */
#define PROFCORE_LOSS_UNWIND 5         /* caller: the unwinder failed */
#define PROFCORE_LOSS_OTHER 6          /* caller: any other reason of the embedder's */
#define PROFCORE_LOSS_REASONS 7

/* Reserved frame values.  Real code addresses are never this small. */
#define PROFCORE_FRAME_TRUNCATED ((uint64_t)1)
#define PROFCORE_FRAME_LOST(reason) ((uint64_t)16 + (uint64_t)(reason))
#define PROFCORE_FRAME_RESERVED_END ((uint64_t)64)

/* ---- statistics ---------------------------------------------------------- */
typedef struct profcore_stats {
    uint64_t offered_samples, offered_weight; /* = recorded + lost + rejected */
    uint64_t recorded_samples, recorded_weight;
    uint64_t lost_samples[PROFCORE_LOSS_REASONS];
    uint64_t lost_weight[PROFCORE_LOSS_REASONS];
    uint64_t rejected_samples, rejected_weight;
    uint64_t evictions;  /* table entries moved to a log */
    uint64_t handoffs;   /* log halves published by writers */
    uint64_t truncated;  /* samples whose stack was cut at max_depth */
} profcore_stats;

/* One record handed to the reader's callback.  `frames` is valid only for
 * the duration of the call; copy what you keep. */
typedef struct profcore_record {
    uint64_t tag;
    uint64_t weight;
    uint32_t depth;
    const uint64_t *frames; /* leaf first */
} profcore_record;

typedef void (*profcore_emit_fn)(void *ctx, const profcore_record *rec);

typedef struct profcore profcore; /* lives at the start of the caller's memory */

/* ---- setup (not signal-safe w.r.t. the same handle: call before sampling) */
PROFCORE_API int profcore_check_config(const profcore_config *cfg);
PROFCORE_API size_t profcore_size(const profcore_config *cfg); /* 0 if invalid */
PROFCORE_API int profcore_init(void *mem, size_t size, const profcore_config *cfg, profcore **out);

/* ---- signal path: any thread, any nesting, wait-free --------------------- */
PROFCORE_API int profcore_add(profcore *pc, uint64_t tag, const uintptr_t *frames, uint32_t depth,
                              uint32_t weight, uint32_t hint);
PROFCORE_API int profcore_add_nohandoff(profcore *pc, uint64_t tag, const uintptr_t *frames,
                                        uint32_t depth, uint32_t weight, uint32_t hint);
PROFCORE_API int profcore_add_loss(profcore *pc, uint32_t reason, uint32_t weight);
PROFCORE_API int profcore_stats_read(const profcore *pc, profcore_stats *out);
/* A short lower-case name for a loss reason ("contended", "log full", ...),
 * the same for every build; "unknown" for a value >= PROFCORE_LOSS_REASONS.
 * Never NULL; a string literal, valid for the life of the program. */
PROFCORE_API const char *profcore_loss_name(uint32_t reason);

/* ---- reader side: one thread at a time (others get E_READER_BUSY) ------- */
PROFCORE_API int profcore_drain(profcore *pc, profcore_emit_fn emit, void *ctx);
PROFCORE_API int profcore_collect(profcore *pc, profcore_emit_fn emit, void *ctx,
                                  uint32_t *busy_shards);
PROFCORE_API int profcore_stop(profcore *pc);
PROFCORE_API int profcore_final_drain(profcore *pc, profcore_emit_fn emit, void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* PROFCORE_H */

/* ===========================================================================
 *  IMPLEMENTATION
 * ======================================================================== */
#if defined(PROFCORE_IMPLEMENTATION) && !defined(PROFCORE_IMPLEMENTED)
#define PROFCORE_IMPLEMENTED

/* ---- compiler helpers ----------------------------------------------------
 * PROFCORE_OPAQUE(v) hides a value from the optimizer so that a copy or
 * clear loop is not turned into a call to memcpy/memset, which a
 * freestanding build may not have and a signal handler must not call. */
#if defined(__FRAMAC__)
#define PROFCORE_OPAQUE(v) ((void)0)
#else
#define PROFCORE_OPAQUE(v) __asm__("" : "+r"(v))
#endif

#ifndef PROFCORE_YIELD_POINT
#define PROFCORE_YIELD_POINT() ((void)0)
#endif

/* On every public definition: a private copy (PROFCORE_API static) that
 * leaves some functions unused still builds under -Wall -Werror. */
#if defined(__GNUC__) || defined(__clang__)
#define PC_PUBLIC_UNUSED_OK __attribute__((unused))
#else
#define PC_PUBLIC_UNUSED_OK
#endif

/* A compile-time check in either language: the implementation compiles as
 * C11 and as C++11 or later, for runtimes that vendor it into C++. */
#ifdef __cplusplus
#define PC_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#else
#define PC_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* ---- the atomics layer ---------------------------------------------------
 * Every access to memory that two threads (or a thread and its own nested
 * signal handler) may touch at once goes through these functions and nothing
 * else.  It is the one place where fuzz builds insert yield points and where
 * the proofs substitute contract-only stubs (proofs/atomics_stubs.h).
 *
 * Only always-lock-free widths are used.  Where the hardware has no atomic
 * instruction of a width, the compiler falls back to a lock; a signal that
 * interrupts the lock's holder on the same thread and reaches the same
 * atomic would then wait for a lock that cannot be released until the
 * handler returns: a deadlock. */
/* 2 means "always lock-free" (the compiler's own constant, usable in a
 * static assertion; __atomic_always_lock_free is not, under -pedantic). */
PC_STATIC_ASSERT(__GCC_ATOMIC_INT_LOCK_FREE == 2 && sizeof(int) == sizeof(uint32_t),
               "32-bit atomics must be always lock-free");
#if defined(__GCC_ATOMIC_LLONG_LOCK_FREE) && __GCC_ATOMIC_LLONG_LOCK_FREE == 2
typedef uint64_t profcore_counter;
#define PROFCORE_COUNTER_BITS 64
#else
typedef uint32_t profcore_counter; /* 32-bit targets: counters wrap at 2^32 */
#define PROFCORE_COUNTER_BITS 32
#endif

#if defined(__FRAMAC__) && defined(PROFCORE_FRAMAC_STUBS)
#include PROFCORE_FRAMAC_STUBS
#else
PROFCORE_SIGNAL_SAFE static inline uint32_t pc_load_acquire_u32(const uint32_t *p) {
    PROFCORE_YIELD_POINT();
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
PROFCORE_SIGNAL_SAFE static inline uint32_t pc_load_seqcst_u32(const uint32_t *p) {
    PROFCORE_YIELD_POINT();
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}
PROFCORE_SIGNAL_SAFE static inline void pc_store_release_u32(uint32_t *p, uint32_t v) {
    PROFCORE_YIELD_POINT();
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
PROFCORE_SIGNAL_SAFE static inline void pc_store_seqcst_u32(uint32_t *p, uint32_t v) {
    PROFCORE_YIELD_POINT();
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}
/* Strong CAS, sequentially consistent on success (it takes part in the
 * store-load handshake with stop, see pc_shard_try_acquire), acquire on
 * failure (the failed value is only inspected, never relied on). */
PROFCORE_SIGNAL_SAFE static inline bool pc_cas_seqcst_u32(uint32_t *p, uint32_t expected,
                                                          uint32_t desired) {
    PROFCORE_YIELD_POINT();
    return __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_ACQUIRE);
}
/* Strong CAS, acquire+release on success, relaxed on failure. */
PROFCORE_SIGNAL_SAFE static inline bool pc_cas_acqrel_u32(uint32_t *p, uint32_t expected,
                                                          uint32_t desired) {
    PROFCORE_YIELD_POINT();
    return __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_ACQ_REL,
                                       __ATOMIC_RELAXED);
}
PROFCORE_SIGNAL_SAFE static inline uint32_t pc_add_seqcst_u32(uint32_t *p, uint32_t v) {
    PROFCORE_YIELD_POINT();
    return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST);
}
PROFCORE_SIGNAL_SAFE static inline uint32_t pc_sub_release_u32(uint32_t *p, uint32_t v) {
    PROFCORE_YIELD_POINT();
    return __atomic_sub_fetch(p, v, __ATOMIC_RELEASE);
}
/* Statistics counters: relaxed.  They order nothing; readers only need each
 * counter to be untorn.  Exactness at quiescence comes from the shard owner
 * handshake (release on owner store, acquire on the next CAS). */
PROFCORE_SIGNAL_SAFE static inline void pc_counter_add(profcore_counter *p, uint64_t v) {
    PROFCORE_YIELD_POINT();
    (void)__atomic_fetch_add(p, (profcore_counter)v, __ATOMIC_RELAXED);
}
PROFCORE_SIGNAL_SAFE static inline uint64_t pc_counter_load(const profcore_counter *p) {
    PROFCORE_YIELD_POINT();
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}
/* For counters with a single writer (the shard owner): a relaxed load and
 * store, no read-modify-write, so no locked instruction on the hot path. */
PROFCORE_SIGNAL_SAFE static inline void pc_counter_bump_owned(profcore_counter *p, uint64_t v) {
    PROFCORE_YIELD_POINT();
    profcore_counter old = __atomic_load_n(p, __ATOMIC_RELAXED);
    __atomic_store_n(p, (profcore_counter)(old + (profcore_counter)v), __ATOMIC_RELAXED);
}
#endif /* atomics layer */

/* ---- layout ----------------------------------------------------------------
 * [struct profcore][S shard headers, 64 bytes each][S tables][S logs]
 * A table entry:  count, tag, hash<<32 | depth, frames[max_depth]
 * A log record:   depth, tag, weight, frames[depth]            */
#define PROFCORE_MAGIC 0x70726f66636f7265ull /* "profcore" */
#define PC_OWNER_FREE 0u
#define PC_OWNER_WRITER 1u
#define PC_OWNER_READER 2u
#define PC_STATE_RUNNING 0u
#define PC_STATE_STOPPED 1u
#define PC_STATE_DRAINED 2u
#define PC_ENTRY_COUNT 0u
#define PC_ENTRY_TAG 1u
#define PC_ENTRY_META 2u

struct profcore_shard {
    uint32_t owner;   /* atomic: FREE, WRITER or READER (I4) */
    uint32_t handoff; /* atomic: 0, or words<<1 | half of the published half */
    uint32_t active;  /* owned: index of the half writers append to */
    uint32_t used;    /* owned: words used in the active half */
    profcore_counter recorded_samples, recorded_weight; /* owned writer, relaxed */
    profcore_counter evictions, handoffs, truncated;    /* owned writer, relaxed */
    uint64_t pad[8 - 2 - 5 * sizeof(profcore_counter) / 8];
};
PC_STATIC_ASSERT(sizeof(struct profcore_shard) == 64 || sizeof(profcore_counter) != 8,
               "one shard header per cache line");

struct profcore {
    uint64_t magic;
    profcore_config cfg;
    uint32_t entry_words;   /* 3 + max_depth */
    uint32_t state;         /* atomic: RUNNING, STOPPED, DRAINED */
    uint32_t reader;        /* atomic: 1 while a reader call runs */
    uint32_t loss_inflight; /* atomic: loss-only adds between their stop check and their count */
    struct profcore_shard *shards;
    uint64_t *tables; /* shard s: tables + s * buckets * ways * entry_words */
    uint64_t *logs;   /* shard s: logs + s * 2 * log_words */
    profcore_counter lost_samples[PROFCORE_LOSS_REASONS];
    profcore_counter lost_weight[PROFCORE_LOSS_REASONS];
    profcore_counter rejected_samples, rejected_weight;
    uint64_t reported_loss[PROFCORE_LOSS_REASONS]; /* reader-private: weight already emitted */
};

/* The stack as stored: the first `kept` caller frames, plus the truncated
 * marker in the last slot when the caller's stack was deeper than max_depth. */
typedef struct pc_stack {
    uint64_t tag;
    const uintptr_t *frames;
    uint32_t depth;    /* stored depth, <= max_depth */
    uint32_t kept;     /* frames taken from the caller: depth, or depth-1 when truncated */
    bool truncated;
    uint32_t hash;
} pc_stack;

/* ---- proofs ----------------------------------------------------------------
 * Each function below carries its own ACSL contract (the comments that
 * start with an @), read only by Frama-C.  The vocabulary they share -- the
 * shape of a valid handle (pc_valid, the precondition of every public
 * function on an initialised handle), the lemmas, and the contracts common
 * to several functions (PC_ADD_CONTRACT, PC_OWNED_OUTCOME) -- is in the
 * proofs' own header, proofs/profcore_acsl.h, which Frama-C includes here
 * (proofs/run-wp defines PROFCORE_FRAMAC_LOGIC).  Compilers never see it. */
#if defined(__FRAMAC__) && defined(PROFCORE_FRAMAC_LOGIC)
#include PROFCORE_FRAMAC_LOGIC
#endif

/*@ requires n <= SIZE_MAX - 63;
    assigns \nothing;
    ensures \result <= n + 63; */
static size_t pc_round_up64(size_t n) { return (n + 63u) & ~(size_t)63u; }

/*@ assigns \nothing;
    ensures \result != 0 <==> (x != 0 && (x & (x - 1)) == 0); */
static bool pc_is_pow2(uint32_t x) { return x != 0 && (x & (x - 1u)) == 0; }

/*@ requires cfg == \null || \valid_read(cfg);
    assigns \nothing;
    ensures cfg == \null ==> \result == PROFCORE_E_NULL;
    ensures cfg != \null ==> (\result == PROFCORE_OK <==> pc_cfg_valid(*cfg));
    ensures \result <= PROFCORE_OK; */
PROFCORE_API PC_PUBLIC_UNUSED_OK int profcore_check_config(const profcore_config *cfg) {
    if (cfg == NULL) return PROFCORE_E_NULL;
    if (!pc_is_pow2(cfg->shards) || cfg->shards > PROFCORE_MAX_SHARDS) return PROFCORE_E_SHARDS;
    if (!pc_is_pow2(cfg->buckets) || cfg->buckets > PROFCORE_MAX_BUCKETS) return PROFCORE_E_BUCKETS;
    if (cfg->ways == 0 || cfg->ways > PROFCORE_MAX_WAYS) return PROFCORE_E_WAYS;
    if (cfg->max_depth < 2 || cfg->max_depth > PROFCORE_MAX_DEPTH) return PROFCORE_E_DEPTH;
    if (cfg->log_words < PROFCORE_RECORD_HEADER_WORDS + cfg->max_depth ||
        cfg->log_words > PROFCORE_MAX_LOG_WORDS)
        return PROFCORE_E_LOG;
    return PROFCORE_OK;
}

/* Word counts fit in 64 bits by the limits above: 2^8 * 2^20 * 2^6 * 1027 < 2^45. */
PROFCORE_SIGNAL_SAFE /*@ requires \valid_read(cfg) && pc_cfg_valid(*cfg);
    assigns \nothing;
    ensures \result == pc_tw(*cfg);
    ensures \result <= PROFCORE_MAX_BUCKETS * PROFCORE_MAX_WAYS * (PROFCORE_RECORD_HEADER_WORDS + PROFCORE_MAX_DEPTH); */
static uint64_t pc_table_words(const profcore_config *cfg) {
    uint64_t entries = (uint64_t)cfg->buckets * cfg->ways;
    uint64_t entry_words = PROFCORE_RECORD_HEADER_WORDS + (uint64_t)cfg->max_depth;
    /*@ assert entries == pc_entries(*cfg) <= 67108864 && entry_words == pc_ew(*cfg) <= 1027; */
    uint64_t words = entries * entry_words;
    /*@ assert words == pc_mul(entries, entry_words) == pc_tw(*cfg); */
    return words;
}

/*@ requires cfg == \null || \valid_read(cfg);
    assigns \nothing;
    ensures cfg == \null || !pc_cfg_valid(*cfg) ==> \result == 0; */
PROFCORE_API PC_PUBLIC_UNUSED_OK size_t profcore_size(const profcore_config *cfg) {
    if (profcore_check_config(cfg) != PROFCORE_OK) return 0;
    uint64_t bytes = pc_round_up64(sizeof(struct profcore));
    bytes += (uint64_t)cfg->shards * sizeof(struct profcore_shard);
    bytes += (uint64_t)cfg->shards * pc_table_words(cfg) * 8u;
    bytes += (uint64_t)cfg->shards * 2u * cfg->log_words * 8u;
    if (bytes > (uint64_t)SIZE_MAX) return 0;
    return (size_t)bytes;
}

/*@ requires \valid(dst + (0 .. n - 1));
    assigns dst[0 .. n - 1];
    ensures \forall integer k; 0 <= k < n ==> dst[k] == 0; */
static void pc_zero_words(uint64_t *dst, uint64_t n) {
    /*@ loop invariant 0 <= i <= n;
        loop invariant \forall integer k; 0 <= k < i ==> dst[k] == 0;
        loop assigns i, dst[0 .. n - 1];
        loop variant n - i; */
    for (uint64_t i = 0; i < n; i++) {
        uint64_t z = 0;
        PROFCORE_OPAQUE(z);
        dst[i] = z;
    }
}

/* Carves the caller's block into the handle, the shard headers, the tables
 * and the logs, at the byte offsets profcore_size() adds up.  This is the
 * only place bytes become typed objects.  WP's typed memory model cannot
 * follow a byte block cast to structs, so the proofs take the contract below
 * as an assumption (ASSUMED, listed in proofs/README.md, compiled in with
 * PROFCORE_FRAMAC_ASSUME_CARVE); EVA, whose memory model is byte-precise,
 * runs the real body, and the unit tests run it under ASan.  The contract
 * also assumes what the manual asks of the caller: `cfg` and `out` do not
 * point into the block. */
#if defined(__FRAMAC__) && defined(PROFCORE_FRAMAC_ASSUME_CARVE)
/*@ requires \valid_read(cfg) && pc_cfg_valid(*cfg);
    requires \valid(shards) && \valid(tables) && \valid(logs);
    requires \separated(shards, tables, logs, cfg);
    assigns *shards, *tables, *logs;
    ensures \valid(\result) && \valid(*shards + (0 .. cfg->shards - 1)) &&
            \valid(*tables + (0 .. pc_mul(cfg->shards, pc_tw(*cfg)) - 1)) &&
            \valid(*logs + (0 .. pc_log_total(*cfg) - 1));
    ensures \separated(\result, *shards + (0 .. cfg->shards - 1),
                       *tables + (0 .. pc_mul(cfg->shards, pc_tw(*cfg)) - 1),
                       *logs + (0 .. pc_log_total(*cfg) - 1), cfg, out, shards, tables, logs);
    ensures \result == pc_block_handle(mem) && *shards == pc_block_shards(mem) &&
            *tables == pc_block_tables(mem, *cfg) && *logs == pc_block_logs(mem, *cfg); */
static profcore *pc_carve(void *mem, const profcore_config *cfg, profcore **out,
                          struct profcore_shard **shards, uint64_t **tables, uint64_t **logs);
#else
static profcore *pc_carve(void *mem, const profcore_config *cfg, profcore **out,
                          struct profcore_shard **shards, uint64_t **tables, uint64_t **logs) {
    (void)out;
    unsigned char *base = (unsigned char *)mem;
    size_t off = pc_round_up64(sizeof(struct profcore));
    *shards = (struct profcore_shard *)(void *)(base + off);
    off += (size_t)cfg->shards * sizeof(struct profcore_shard);
    *tables = (uint64_t *)(void *)(base + off);
    off += (size_t)(cfg->shards * pc_table_words(cfg) * 8u);
    *logs = (uint64_t *)(void *)(base + off);
    return (profcore *)mem;
}
#endif

/* Writes every field the core reads, on typed memory: the handle, each
 * shard header, and the tables and logs (zero).  Establishes pc_valid, the
 * precondition of every other function. */
/*@ requires \valid_read(cfg) && pc_cfg_valid(*cfg) && \valid(pc);
    requires \valid(shards + (0 .. cfg->shards - 1)) &&
             \valid(tables + (0 .. pc_mul(cfg->shards, pc_tw(*cfg)) - 1)) &&
             \valid(logs + (0 .. pc_log_total(*cfg) - 1));
    requires \separated(pc, shards + (0 .. cfg->shards - 1),
                        tables + (0 .. pc_mul(cfg->shards, pc_tw(*cfg)) - 1),
                        logs + (0 .. pc_log_total(*cfg) - 1), cfg);
    assigns *pc, shards[0 .. cfg->shards - 1],
            tables[0 .. pc_mul(cfg->shards, pc_tw(*cfg)) - 1], logs[0 .. pc_log_total(*cfg) - 1];
    ensures pc_valid(pc) && pc->magic == PROFCORE_MAGIC;
    ensures pc->state == PC_STATE_RUNNING && pc->reader == 0 && pc->loss_inflight == 0; */
static void pc_init_typed(profcore *pc, const profcore_config *cfg, struct profcore_shard *shards,
                          uint64_t *tables, uint64_t *logs) {
    /* A local copy: the loops below write memory of the same types as the
     * caller's config, and a copy needs no separation argument. */
    const profcore_config c = *cfg;
    uint64_t table_words = pc_table_words(&c);
    /*@ assert pc_mul(c.shards, pc_tw(c)) <= 17643725651968 && pc_log_total(c) <= 137438953472; */
    /*@ assert (uint64_t)c.shards * table_words == pc_mul(c.shards, pc_tw(c)); */
    /*@ assert (uint64_t)c.shards * 2u * c.log_words == pc_log_total(c); */
    uint64_t tables_total = (uint64_t)c.shards * table_words;
    uint64_t logs_total = (uint64_t)c.shards * 2u * c.log_words;
    /*@ loop invariant 0 <= s <= c.shards;
        loop invariant \forall integer t; 0 <= t < s ==> shards[t].active == 0 && shards[t].used == 0;
        loop assigns s, shards[0 .. c.shards - 1];
        loop variant c.shards - s; */
    for (uint32_t s = 0; s < c.shards; s++) {
        struct profcore_shard *sh = &shards[s];
        sh->owner = PC_OWNER_FREE;
        sh->handoff = 0;
        sh->active = 0;
        sh->used = 0;
        sh->recorded_samples = 0;
        sh->recorded_weight = 0;
        sh->evictions = 0;
        sh->handoffs = 0;
        sh->truncated = 0;
    }
    /*@ loop invariant 0 <= r <= PROFCORE_LOSS_REASONS;
        loop assigns r, pc->lost_samples[0 .. PROFCORE_LOSS_REASONS - 1],
                     pc->lost_weight[0 .. PROFCORE_LOSS_REASONS - 1],
                     pc->reported_loss[0 .. PROFCORE_LOSS_REASONS - 1];
        loop variant PROFCORE_LOSS_REASONS - r; */
    for (uint32_t r = 0; r < PROFCORE_LOSS_REASONS; r++) {
        pc->lost_samples[r] = 0;
        pc->lost_weight[r] = 0;
        pc->reported_loss[r] = 0;
    }
    pc->rejected_samples = 0;
    pc->rejected_weight = 0;
    pc->cfg = c;
    pc->entry_words = PROFCORE_RECORD_HEADER_WORDS + c.max_depth;
    pc->shards = shards;
    pc->tables = tables;
    pc->logs = logs;
    pc->state = PC_STATE_RUNNING;
    pc->reader = 0;
    pc->loss_inflight = 0;
    /*@ assert pc_layout(pc) && pc_shards_ok(pc); */
    /* The tables and logs last: the zeroing writes 64-bit words only, which
     * pc_layout and pc_shards_ok do not read, so they need no argument that
     * it left them alone (WP keeps one memory per integer size). */
    pc_zero_words(tables, tables_total);
    pc_zero_words(logs, logs_total);
    pc->magic = PROFCORE_MAGIC; /* valid from here on */
    /*@ assert pc_layout(pc) && pc_shards_ok(pc); */
    /*@ assert pc->cfg == c && pc->entry_words == pc_ew(c) && pc->tables == tables; */
    /*@ assert \forall integer k; 0 <= k < pc_mul(c.shards, pc_tw(c)) ==> tables[k] == 0; */
    /*@ assert \forall integer t, i; 0 <= t < c.shards && 0 <= i < pc_entries(c) ==>
          0 <= pc_mul(t, pc_tw(c)) + pc_mul(i, pc_ew(c)) &&
          pc_mul(t, pc_tw(c)) + pc_mul(i, pc_ew(c)) + pc_ew(c) <= pc_mul(c.shards, pc_tw(c)); */
    /*@ assert \forall integer t, i; 0 <= t < c.shards && 0 <= i < pc_entries(c) ==>
          tables[pc_mul(t, pc_tw(c)) + pc_mul(i, pc_ew(c)) + PC_ENTRY_COUNT] == 0; */
    /*@ assert \forall integer t, i; 0 <= t < pc->cfg.shards && 0 <= i < pc_entries(pc->cfg) ==>
          pc_entry_ok(pc->cfg.max_depth, pc->tables + pc_mul(t, pc_tw(pc->cfg)) + pc_mul(i, pc->entry_words)); */
    /*@ assert init_tables_ok: pc_tables_ok(pc); */
}

/*@ requires cfg == \null || \valid_read(cfg);
    requires out == \null || \valid(out);
    requires cfg != \null && out != \null ==> \separated(cfg, out);
    assigns *out, *pc_block_handle(mem), pc_block_shards(mem)[0 .. cfg->shards - 1],
            pc_block_tables(mem, *cfg)[0 .. pc_mul(cfg->shards, pc_tw(*cfg)) - 1],
            pc_block_logs(mem, *cfg)[0 .. pc_log_total(*cfg) - 1];
    ensures mem == \null || out == \null ==> \result == PROFCORE_E_NULL;
    ensures \result == PROFCORE_OK ==> pc_valid(*out) && (*out)->magic == PROFCORE_MAGIC &&
                                       (*out)->state == PC_STATE_RUNNING;
    ensures \result != PROFCORE_OK ==> *out == \old(*out); */
PROFCORE_API PC_PUBLIC_UNUSED_OK int profcore_init(void *mem, size_t size, const profcore_config *cfg, profcore **out) {
    if (mem == NULL || out == NULL) return PROFCORE_E_NULL;
    int err = profcore_check_config(cfg);
    if (err != PROFCORE_OK) return err;
    if (((uintptr_t)mem & 7u) != 0) return PROFCORE_E_ALIGN;
    size_t need = profcore_size(cfg);
    if (need == 0 || size < need) return PROFCORE_E_SIZE;

    /* Validated: from here on, memory is written. */
    struct profcore_shard *shards;
    uint64_t *tables, *logs;
    profcore *pc = pc_carve(mem, cfg, out, &shards, &tables, &logs);
    pc_init_typed(pc, cfg, shards, tables, logs);
    /* The caller publishes `pc` to its signal handlers; that publication
     * (a release store, or installing the handler afterwards) orders these
     * plain writes before any add. */
    *out = pc;
    return PROFCORE_OK;
}

/* ---- hashing ---------------------------------------------------------------
 * A 32-bit hash.  Eight frames a loop step go through a 64-bit rotate-xor
 * that takes two frames to a rotate (h = rotl5(h ^ f0) ^ f1: three
 * instructions for two frames, each frame a memory operand), in two lanes
 * on alternate pairs (two independent dependency chains); the lanes are
 * then folded to 32 bits, and the last kept % 8 frames go through a 32-bit
 * rotate-xor of each frame folded to 32 bits; a one-multiply finalizer
 * spreads every input bit over the bucket index.  A stack of fewer than eight kept frames hashes
 * exactly as before this split (the Eva run, whose stacks are that short,
 * keeps its value sets small: see proofs/eva_driver.c).  Nothing wraps (the
 * proofs check unsigned overflow).  Quality only affects speed: a hit
 * always compares the whole stack.  What the eight-frame step gives up for
 * its speed: it is linear, and a frame's weight depends on its position
 * only through the rotations, so a few reorderings of the same frames
 * (the second frame of a pair swapped with the first of the lane's next
 * pair) hash alike; such stacks share a bucket and the compare tells them
 * apart.
 *
 * No reserved-frame check here (it was three instructions a frame on every
 * add): a stack holding a reserved value can never hit, since entries are
 * only filled from stacks that passed pc_stack_reserved, so the check runs
 * on a miss only, before anything is stored (pc_add_owned). */
/*@ assigns \nothing; */
PROFCORE_SIGNAL_SAFE static uint32_t pc_fold(uint64_t w) {
    return (uint32_t)w ^ (uint32_t)(w >> 32);
}

/*@ assigns \nothing; */
PROFCORE_SIGNAL_SAFE static uint32_t pc_rotl5(uint32_t h) {
    /* Widened before the shift so no bit is shifted out of the type (the
     * proofs check unsigned overflow); the cast keeps the low 32 bits. */
    return (uint32_t)((uint64_t)h << 5) | (h >> 27);
}

/*@ assigns \nothing; */
PROFCORE_SIGNAL_SAFE static uint64_t pc_rotl5_64(uint64_t h) {
    /* The mask drops the five bits the shift would push out of the type
     * (the proofs check unsigned overflow); compilers emit one rotate. */
    return ((h & 0x07ffffffffffffffu) << 5) | (h >> 59);
}

/* One multiply: the 64-bit product of two 32-bit values, its high half
 * xor-ed into the low half, so that every bit of h reaches the low bits
 * the bucket index takes (bits 32.. of the product depend on all of h).
 * Was two multiply-xorshift rounds; one keeps the spread (the unit test
 * test_hash_spreads_over_buckets) for four instructions fewer. */
/*@ assigns \nothing; */
PROFCORE_SIGNAL_SAFE static uint32_t pc_finish(uint32_t h) {
    uint64_t p = (uint64_t)h * 0x9E3779B1u;
    return (uint32_t)(p ^ (p >> 32));
}

/* Returns the caller's stack, by value: a stack the proofs see as a logic
 * value, not as memory that every table fact would need an argument to
 * survive the writes of.  The caller has rejected NULL frames and depth 0
 * (pc_add); reserved frame values are not looked at here (see above:
 * pc_stack_reserved, on a miss).  Eight frames a step: the loop's own
 * compare and branch once per eight frames, each frame a memory operand
 * of one xor. */
/*@ requires \valid_read(pc) && pc_cfg_valid(pc->cfg);
    requires frames != \null && depth >= 1 && \valid_read(frames + (0 .. depth - 1));
    assigns \nothing;
    ensures \result.frames == frames;
    ensures pc_stack_ok(\result, pc->cfg.max_depth);
    ensures \result.tag == tag && \result.kept <= depth;
    ensures \result.truncated != 0 <==> depth > pc->cfg.max_depth; */
PROFCORE_SIGNAL_SAFE static pc_stack pc_stack_make(const profcore *pc, uint64_t tag,
                                                   const uintptr_t *frames, uint32_t depth) {
    pc_stack st;
    bool truncated = depth > pc->cfg.max_depth;
    uint32_t stored = truncated ? pc->cfg.max_depth : depth;
    uint32_t kept = truncated ? stored - 1u : stored;
    uint64_t a = tag, b = 0;
    uint32_t i = 0;
    /*@ loop invariant 0 <= i <= kept;
        loop assigns i, a, b;
        loop variant kept - i; */
    for (; kept - i >= 8u; i += 8u) {
        const uintptr_t *f = frames + i;
        a = pc_rotl5_64(a ^ (uint64_t)f[0]) ^ (uint64_t)f[1];
        b = pc_rotl5_64(b ^ (uint64_t)f[2]) ^ (uint64_t)f[3];
        a = pc_rotl5_64(a ^ (uint64_t)f[4]) ^ (uint64_t)f[5];
        b = pc_rotl5_64(b ^ (uint64_t)f[6]) ^ (uint64_t)f[7];
    }
    /* With no eight-frame step, b is 0 and this is fold(tag): the hash of a
     * short stack is the one-frame-a-step hash below alone. */
    uint32_t h = pc_fold(a ^ pc_rotl5_64(b));
    /*@ loop invariant 0 <= i <= kept;
        loop assigns i, h;
        loop variant kept - i; */
    for (; i < kept; i++) h = pc_rotl5(h) ^ pc_fold((uint64_t)frames[i]);
    if (truncated) h = pc_rotl5(h) ^ pc_fold(PROFCORE_FRAME_TRUNCATED);
    st.tag = tag;
    st.frames = frames;
    st.depth = stored;
    st.kept = kept;
    st.truncated = truncated;
    st.hash = pc_finish(h ^ stored);
    return st;
}

/* Whether the stack holds a reserved frame value (below
 * PROFCORE_FRAME_RESERVED_END): such a sample is INVALID.  Called on a miss
 * only, before st is stored (pc_add_owned): a hit compares st with an entry
 * filled from a stack that passed this check, so it has none.  Eight frames
 * a step, one branch for the eight (| of the comparisons, not ||: with a
 * branch each, clang's eviction path ran 10 % slower). */
/*@ requires pc_stack_ok(st, st.depth);
    assigns \nothing;
    ensures \result == 0 ==>
      \forall integer k; 0 <= k < st.kept ==> (uint64_t)st.frames[k] >= PROFCORE_FRAME_RESERVED_END; */
PROFCORE_SIGNAL_SAFE static bool pc_stack_reserved(pc_stack st) {
    const uintptr_t *g = st.frames;
    uint32_t i = 0;
    /*@ loop invariant 0 <= i <= st.kept;
        loop invariant \forall integer k; 0 <= k < i ==> (uint64_t)g[k] >= PROFCORE_FRAME_RESERVED_END;
        loop assigns i;
        loop variant st.kept - i; */
    for (; st.kept - i >= 8u; i += 8u) {
        if (((uint64_t)g[i] < PROFCORE_FRAME_RESERVED_END) | ((uint64_t)g[i + 1u] < PROFCORE_FRAME_RESERVED_END) |
            ((uint64_t)g[i + 2u] < PROFCORE_FRAME_RESERVED_END) | ((uint64_t)g[i + 3u] < PROFCORE_FRAME_RESERVED_END) |
            ((uint64_t)g[i + 4u] < PROFCORE_FRAME_RESERVED_END) | ((uint64_t)g[i + 5u] < PROFCORE_FRAME_RESERVED_END) |
            ((uint64_t)g[i + 6u] < PROFCORE_FRAME_RESERVED_END) | ((uint64_t)g[i + 7u] < PROFCORE_FRAME_RESERVED_END))
            return true;
        /* The invariant's step, one frame at a time (as in pc_entry_matches). */
        /*@ assert \forall integer k; 0 <= k < i + 1 ==> (uint64_t)g[k] >= PROFCORE_FRAME_RESERVED_END; */
        /*@ assert \forall integer k; 0 <= k < i + 2 ==> (uint64_t)g[k] >= PROFCORE_FRAME_RESERVED_END; */
        /*@ assert \forall integer k; 0 <= k < i + 3 ==> (uint64_t)g[k] >= PROFCORE_FRAME_RESERVED_END; */
        /*@ assert \forall integer k; 0 <= k < i + 4 ==> (uint64_t)g[k] >= PROFCORE_FRAME_RESERVED_END; */
        /*@ assert \forall integer k; 0 <= k < i + 5 ==> (uint64_t)g[k] >= PROFCORE_FRAME_RESERVED_END; */
        /*@ assert \forall integer k; 0 <= k < i + 6 ==> (uint64_t)g[k] >= PROFCORE_FRAME_RESERVED_END; */
        /*@ assert \forall integer k; 0 <= k < i + 7 ==> (uint64_t)g[k] >= PROFCORE_FRAME_RESERVED_END; */
        /*@ assert \forall integer k; 0 <= k < i + 8 ==> (uint64_t)g[k] >= PROFCORE_FRAME_RESERVED_END; */
    }
    /*@ loop invariant 0 <= i <= st.kept;
        loop invariant \forall integer k; 0 <= k < i ==> (uint64_t)g[k] >= PROFCORE_FRAME_RESERVED_END;
        loop assigns i;
        loop variant st.kept - i; */
    for (; i < st.kept; i++)
        if ((uint64_t)g[i] < PROFCORE_FRAME_RESERVED_END) return true;
    return false;
}

/* ---- shard ownership -------------------------------------------------------
 * Acquire: CAS(owner, FREE, who), seq_cst.  Pairs with the release store in
 * pc_shard_release by the previous owner, so the previous owner's table and
 * log writes are visible.  Seq_cst because it is one side of the store-load
 * handshake with profcore_stop: the add reads `state` after this CAS, stop
 * reads `owner` after storing `state`; in the single total order one of
 * them sees the other (model: proofs/profcore.pml, step "acquire"). */
/*@ requires \valid(sh);
    assigns sh->owner;
    ensures \result != 0 <==> \old(sh->owner) == PC_OWNER_FREE;
    ensures \result != 0 ==> sh->owner == who;
    ensures \result == 0 ==> sh->owner == \old(sh->owner); */
PROFCORE_SIGNAL_SAFE static bool pc_shard_try_acquire(struct profcore_shard *sh, uint32_t who) {
    return pc_cas_seqcst_u32(&sh->owner, PC_OWNER_FREE, who);
}

/* Release: pairs with the acquiring CAS of the next owner (writer or reader).
 * Model: proofs/profcore.pml, steps "owned_release", "stop_release" (a
 * writer) and "reader_release". */
/*@ requires \valid(sh);
    assigns sh->owner;
    ensures sh->owner == PC_OWNER_FREE; */
PROFCORE_SIGNAL_SAFE static void pc_shard_release(struct profcore_shard *sh) {
    pc_store_release_u32(&sh->owner, PC_OWNER_FREE);
}

/*@ requires pc_layout((profcore *)pc) && s < pc->cfg.shards;
    assigns \nothing;
    ensures \result == pc->tables + pc_mul(s, pc_tw(pc->cfg));
    ensures 0 <= pc_mul(s, pc_tw(pc->cfg)) &&
            pc_mul(s, pc_tw(pc->cfg)) + pc_tw(pc->cfg) <= pc_mul(pc->cfg.shards, pc_tw(pc->cfg));
    ensures \valid(\result + (0 .. pc_tw(pc->cfg) - 1)); */
PROFCORE_SIGNAL_SAFE static uint64_t *pc_shard_table(const profcore *pc, uint32_t s) {
    /*@ assert 0 <= pc_mul(s, pc_tw(pc->cfg)) &&
               pc_mul(s, pc_tw(pc->cfg)) + pc_tw(pc->cfg) <= pc_mul(pc->cfg.shards, pc_tw(pc->cfg)); */
    return pc->tables + (size_t)s * (size_t)pc_table_words(&pc->cfg);
}

/*@ requires pc_layout((profcore *)pc) && s < pc->cfg.shards && half <= 1;
    assigns \nothing;
    ensures \result == pc->logs + pc_mul(s * 2 + half, pc->cfg.log_words);
    ensures 0 <= pc_mul(s * 2 + half, pc->cfg.log_words) &&
            pc_mul(s * 2 + half, pc->cfg.log_words) + pc->cfg.log_words <= pc_log_total(pc->cfg);
    ensures \valid(\result + (0 .. pc->cfg.log_words - 1)); */
PROFCORE_SIGNAL_SAFE static uint64_t *pc_shard_half(const profcore *pc, uint32_t s, uint32_t half) {
    /*@ assert 0 <= pc_mul(s * 2 + half, pc->cfg.log_words) &&
               pc_mul(s * 2 + half, pc->cfg.log_words) + pc->cfg.log_words <= pc_log_total(pc->cfg); */
    return pc->logs + ((size_t)s * 2u + half) * (size_t)pc->cfg.log_words;
}

/* ---- losses ----------------------------------------------------------------
 * Counted while the caller holds a shard (so stop sees it busy), or inside
 * the loss_inflight bracket (pc_count_loss_unowned), so that a loss is never
 * counted after the final drain has emitted the loss records. */
/*@ requires \valid(pc) && reason < PROFCORE_LOSS_REASONS;
    assigns pc->lost_samples[reason], pc->lost_weight[reason];
    ensures pc->lost_samples[reason] == (profcore_counter)(\old(pc->lost_samples[reason]) + 1);
    ensures pc->lost_weight[reason] == (profcore_counter)(\old(pc->lost_weight[reason]) + weight); */
PROFCORE_SIGNAL_SAFE static void pc_count_loss_owned(profcore *pc, uint32_t reason, uint32_t weight) {
    pc_counter_add(&pc->lost_samples[reason], 1u);
    pc_counter_add(&pc->lost_weight[reason], weight);
}

/*@ requires \valid(pc);
    assigns pc->rejected_samples, pc->rejected_weight;
    ensures pc->rejected_samples == (profcore_counter)(\old(pc->rejected_samples) + 1);
    ensures pc->rejected_weight == (profcore_counter)(\old(pc->rejected_weight) + weight);
    ensures \result == PROFCORE_REJECTED; */
PROFCORE_SIGNAL_SAFE static int pc_count_rejected(profcore *pc, uint32_t weight) {
    pc_counter_add(&pc->rejected_samples, 1u);
    pc_counter_add(&pc->rejected_weight, weight);
    return PROFCORE_REJECTED;
}

/* A loss on a path that holds no shard.  The increment of loss_inflight and
 * the load of state form the same store-load handshake as the shard CAS:
 * seq_cst on both sides (stop stores state, then loads loss_inflight). */
/*@ requires \valid(pc) && reason < PROFCORE_LOSS_REASONS;
    // ASSUMED by the callers: fewer than 2^32 - 1 loss-only adds are in
    // flight at once (one per thread and nesting level).
    requires pc->loss_inflight < 4294967295;
    assigns pc->loss_inflight, pc->lost_samples[reason], pc->lost_weight[reason],
            pc->rejected_samples, pc->rejected_weight;
    ensures pc->loss_inflight == \old(pc->loss_inflight);
    behavior running:
      assumes pc->state == PC_STATE_RUNNING;
      ensures \result == PROFCORE_LOST;
      ensures pc->lost_weight[reason] == (profcore_counter)(\old(pc->lost_weight[reason]) + weight);
      ensures pc->rejected_weight == \old(pc->rejected_weight);
    behavior stopped:
      assumes pc->state != PC_STATE_RUNNING;
      ensures \result == PROFCORE_REJECTED;
      ensures pc->rejected_weight == (profcore_counter)(\old(pc->rejected_weight) + weight);
      ensures pc->lost_weight[reason] == \old(pc->lost_weight[reason]);
    complete behaviors;
    disjoint behaviors; */
PROFCORE_SIGNAL_SAFE static int pc_count_loss_unowned(profcore *pc, uint32_t reason, uint32_t weight) {
    /* Not even the bracket once stopped (model: count_loss_unowned, its first guard): a
     * stream of loss-only adds must not keep loss_inflight above 0 at every
     * stop poll.  Same seq_cst load as pc_add's. */
    if (pc_load_seqcst_u32(&pc->state) != PC_STATE_RUNNING) return pc_count_rejected(pc, weight);
    (void)pc_add_seqcst_u32(&pc->loss_inflight, 1u);
    int outcome;
    if (pc_load_seqcst_u32(&pc->state) != PC_STATE_RUNNING) {
        outcome = pc_count_rejected(pc, weight);
    } else {
        pc_count_loss_owned(pc, reason, weight);
        outcome = PROFCORE_LOST;
    }
    /* Release: pairs with the seq_cst load of loss_inflight in stop, so a
     * stop that sees 0 also sees the counts above (model: step
     * "loss_close"). */
    (void)pc_sub_release_u32(&pc->loss_inflight, 1u);
    return outcome;
}

/* ---- the log ----------------------------------------------------------------
 * Appends one record to the shard's active half.  The caller owns the shard
 * and has checked that the record fits. */
/* Contract: the record lands in the active half, at `used`, and nowhere else. */
/*@ requires pc_layout(pc) && pc_shards_ok(pc) && s < pc->cfg.shards;
    requires depth <= pc->cfg.max_depth;
    requires pc->shards[s].used + PROFCORE_RECORD_HEADER_WORDS + depth <= pc->cfg.log_words;
    requires \valid_read(frames + (0 .. depth - 1));
    requires \separated(frames + (0 .. depth - 1), pc->logs + (0 .. pc_log_total(pc->cfg) - 1),
                        pc->shards + (0 .. pc->cfg.shards - 1));
    assigns pc->logs[pc_active_at(pc, s) .. pc_active_at(pc, s) + PROFCORE_RECORD_HEADER_WORDS + depth - 1],
            pc->shards[s].used;
    ensures pc->shards[s].used == \old(pc->shards[s].used) + PROFCORE_RECORD_HEADER_WORDS + depth;
    ensures \let r = pc->logs + \old(pc_mul(s * 2 + pc->shards[s].active, pc->cfg.log_words) + pc->shards[s].used);
            r[0] == depth && r[1] == tag && r[2] == weight;
    ensures \let r = pc->logs + \old(pc_mul(s * 2 + pc->shards[s].active, pc->cfg.log_words) + pc->shards[s].used);
            \forall integer k; 0 <= k < depth ==> r[PROFCORE_RECORD_HEADER_WORDS + k] == \old(frames[k]); */
PROFCORE_SIGNAL_SAFE static void pc_log_append(profcore *pc, uint32_t s, uint64_t tag,
                                               uint64_t weight, uint32_t depth,
                                               const uint64_t *frames) {
    struct profcore_shard *sh = &pc->shards[s];
    uint64_t *rec = pc_shard_half(pc, s, sh->active) + sh->used;
    rec[0] = depth;
    rec[1] = tag;
    rec[2] = weight;
    /*@ loop invariant 0 <= i <= depth;
        loop invariant \forall integer k; 0 <= k < i ==> rec[PROFCORE_RECORD_HEADER_WORDS + k] == \at(frames[k], Pre);
        loop assigns i, rec[PROFCORE_RECORD_HEADER_WORDS .. PROFCORE_RECORD_HEADER_WORDS + depth - 1];
        loop variant depth - i; */
    for (uint32_t i = 0; i < depth; i++) {
        /*@ assert \forall integer j; j == i ==> frames[j] == \at(frames[j], Pre); */
        uint64_t v = frames[i];
        PROFCORE_OPAQUE(v);
        rec[PROFCORE_RECORD_HEADER_WORDS + i] = v;
    }
    sh->used += PROFCORE_RECORD_HEADER_WORDS + depth;
}

/* Makes room for `words` in the active half.  Returns true if there is room
 * (possibly after publishing the full half), false if the sample must be
 * dropped: LOG_FULL (the reader still holds the other half) or, on the
 * no-handoff path, NOHANDOFF_FULL.  *handed is set when a half was
 * published. */
/* Contract: handoff, active and used change only when the publishing CAS
 * succeeded; a failed reserve touches nothing of the log. */
/*@ requires pc_layout(pc) && pc_shards_ok(pc) && s < pc->cfg.shards;
    requires PROFCORE_RECORD_HEADER_WORDS <= words <= pc->cfg.log_words;
    requires \valid(reason) && \valid(handed);
    requires \separated(reason, handed, pc, pc->shards + (0 .. pc->cfg.shards - 1));
    assigns pc->shards[s].handoff, pc->shards[s].active, pc->shards[s].used,
            pc->shards[s].handoffs, *reason, *handed;
    ensures pc->shards[s].active <= 1 && pc->shards[s].used <= pc->cfg.log_words;
    ensures \result != 0 ==> pc->shards[s].used + words <= pc->cfg.log_words;
    behavior room:
      assumes pc->cfg.log_words - pc->shards[s].used >= words;
      ensures \result != 0 && *handed == \old(*handed);
      ensures pc->shards[s].handoff == \old(pc->shards[s].handoff);
      ensures pc->shards[s].active == \old(pc->shards[s].active);
      ensures pc->shards[s].used == \old(pc->shards[s].used);
    behavior no_handoff:
      assumes pc->cfg.log_words - pc->shards[s].used < words && !may_handoff;
      ensures \result == 0 && *reason == PROFCORE_LOSS_NOHANDOFF_FULL && *handed == \old(*handed);
      ensures pc->shards[s].handoff == \old(pc->shards[s].handoff);
      ensures pc->shards[s].active == \old(pc->shards[s].active);
      ensures pc->shards[s].used == \old(pc->shards[s].used);
    behavior publish:
      assumes pc->cfg.log_words - pc->shards[s].used < words && may_handoff;
      assumes pc->shards[s].handoff == 0;
      ensures \result != 0 && *handed == 1;
      ensures pc->shards[s].handoff == ((\old(pc->shards[s].used) << 1) | \old(pc->shards[s].active));
      ensures pc->shards[s].handoff != 0;
      ensures pc->shards[s].active == 1 - \old(pc->shards[s].active);
      ensures pc->shards[s].used == 0;
    behavior publish_refused:
      assumes pc->cfg.log_words - pc->shards[s].used < words && may_handoff;
      assumes pc->shards[s].handoff != 0;
      ensures \result == 0 && *reason == PROFCORE_LOSS_LOG_FULL && *handed == \old(*handed);
      ensures pc->shards[s].handoff == \old(pc->shards[s].handoff);
      ensures pc->shards[s].active == \old(pc->shards[s].active);
      ensures pc->shards[s].used == \old(pc->shards[s].used);
    complete behaviors;
    disjoint behaviors; */
PROFCORE_SIGNAL_SAFE static bool pc_log_reserve(profcore *pc, uint32_t s, uint32_t words,
                                                bool may_handoff, uint32_t *reason, bool *handed) {
    struct profcore_shard *sh = &pc->shards[s];
    if (pc->cfg.log_words - sh->used >= words) return true;
    if (!may_handoff) {
        *reason = PROFCORE_LOSS_NOHANDOFF_FULL;
        return false;
    }
    /* Publish: acq_rel.  Release pairs with the reader's acquire load of
     * handoff in pc_drain_published (the half's contents become visible);
     * acquire pairs with the reader's release store of 0 there (the reader
     * has finished reading the other half before we overwrite it).
     * Model: proofs/profcore.pml, step "publish". */
    if (!pc_cas_acqrel_u32(&sh->handoff, 0u, (sh->used << 1) | sh->active)) {
        /* Model: proofs/profcore.pml, step "log_full". */
        *reason = PROFCORE_LOSS_LOG_FULL;
        return false;
    }
    sh->active ^= 1u;
    sh->used = 0;
    pc_counter_bump_owned(&sh->handoffs, 1u);
    *handed = true;
    return true; /* log_words >= one full record, checked at init */
}

/* ---- the table -------------------------------------------------------------- */
/*@ requires pc_stack_ok(st, st.depth);
    requires \valid_read(e + (0 .. PROFCORE_RECORD_HEADER_WORDS + st.depth - 1));
    assigns \nothing;
    ensures \result != 0 <==> pc_entry_equal((uint64_t *)e, st); */
PROFCORE_SIGNAL_SAFE static bool pc_entry_matches(const uint64_t *e, pc_stack st) {
    if (e[PC_ENTRY_COUNT] == 0) return false;
    if (e[PC_ENTRY_META] != (((uint64_t)st.hash << 32) | st.depth)) return false;
    if (e[PC_ENTRY_TAG] != st.tag) return false;
    const uint64_t *f = e + PROFCORE_RECORD_HEADER_WORDS;
    const uintptr_t *g = st.frames;
    uint32_t i = 0;
    /* Eight frames a step: the loop's own compare and branch once per eight. */
    /*@ loop invariant 0 <= i <= st.kept;
        loop invariant \forall integer k; 0 <= k < i ==> f[k] == (uint64_t)g[k];
        loop assigns i;
        loop variant st.kept - i; */
    for (; st.kept - i >= 8u; i += 8u) {
        if (f[i] != (uint64_t)g[i] || f[i + 1u] != (uint64_t)g[i + 1u] ||
            f[i + 2u] != (uint64_t)g[i + 2u] || f[i + 3u] != (uint64_t)g[i + 3u] ||
            f[i + 4u] != (uint64_t)g[i + 4u] || f[i + 5u] != (uint64_t)g[i + 5u] ||
            f[i + 6u] != (uint64_t)g[i + 6u] || f[i + 7u] != (uint64_t)g[i + 7u])
            return false;
        /* The invariant's step, one frame at a time (a step of eight cases
         * at once, or of four, does not prove). */
        /*@ assert \forall integer k; 0 <= k < i + 1 ==> f[k] == (uint64_t)g[k]; */
        /*@ assert \forall integer k; 0 <= k < i + 2 ==> f[k] == (uint64_t)g[k]; */
        /*@ assert \forall integer k; 0 <= k < i + 3 ==> f[k] == (uint64_t)g[k]; */
        /*@ assert \forall integer k; 0 <= k < i + 4 ==> f[k] == (uint64_t)g[k]; */
        /*@ assert \forall integer k; 0 <= k < i + 5 ==> f[k] == (uint64_t)g[k]; */
        /*@ assert \forall integer k; 0 <= k < i + 6 ==> f[k] == (uint64_t)g[k]; */
        /*@ assert \forall integer k; 0 <= k < i + 7 ==> f[k] == (uint64_t)g[k]; */
        /*@ assert \forall integer k; 0 <= k < i + 8 ==> f[k] == (uint64_t)g[k]; */
    }
    /*@ loop invariant 0 <= i <= st.kept;
        loop invariant \forall integer k; 0 <= k < i ==> f[k] == (uint64_t)g[k];
        loop assigns i;
        loop variant st.kept - i; */
    for (; i < st.kept; i++)
        if (f[i] != (uint64_t)g[i]) return false;
    /* Equal metadata means equal depth, so a truncated entry's last slot
     * holds the marker exactly when st's does. */
    return !st.truncated || f[st.kept] == PROFCORE_FRAME_TRUNCATED;
}

/*@ requires pc_stack_ok(st, st.depth);
    requires \valid(e + (0 .. PROFCORE_RECORD_HEADER_WORDS + st.depth - 1));
    requires \separated(e + (0 .. PROFCORE_RECORD_HEADER_WORDS + st.depth - 1),
                        st.frames + (0 .. st.kept - 1));
    assigns e[0 .. PROFCORE_RECORD_HEADER_WORDS + st.depth - 1];
    ensures e[PC_ENTRY_COUNT] == weight;
    ensures weight != 0 ==> pc_entry_equal(e, st); */
PROFCORE_SIGNAL_SAFE static void pc_entry_fill(uint64_t *e, pc_stack st, uint32_t weight) {
    uint64_t *f = e + PROFCORE_RECORD_HEADER_WORDS;
    /*@ loop invariant 0 <= i <= st.kept;
        loop invariant \forall integer k; 0 <= k < i ==> f[k] == (uint64_t)st.frames[k];
        loop assigns i, f[0 .. st.kept - 1];
        loop variant st.kept - i; */
    for (uint32_t i = 0; i < st.kept; i++) {
        uint64_t v = (uint64_t)st.frames[i];
        PROFCORE_OPAQUE(v);
        f[i] = v;
    }
    if (st.truncated) f[st.kept] = PROFCORE_FRAME_TRUNCATED;
    e[PC_ENTRY_TAG] = st.tag;
    e[PC_ENTRY_META] = ((uint64_t)st.hash << 32) | st.depth;
    e[PC_ENTRY_COUNT] = weight;
}

/* Way holding `st`, or `ways` if none. */
/* Contract: finds the first way equal to st; `ways` iff no way is equal. */
/*@ requires \valid_read(pc) && pc_cfg_valid(pc->cfg);
    requires pc->entry_words == PROFCORE_RECORD_HEADER_WORDS + pc->cfg.max_depth;
    requires pc_stack_ok(st, pc->cfg.max_depth);
    requires \valid_read(bucket + (0 .. pc_bw(pc->cfg) - 1));
    assigns \nothing;
    ensures \result <= pc->cfg.ways;
    ensures \result < pc->cfg.ways ==>
              pc_entry_equal((uint64_t *)bucket + pc_mul(\result, pc->entry_words), st);
    ensures \forall integer w; 0 <= w < \result ==>
              !pc_entry_equal((uint64_t *)bucket + pc_mul(w, pc->entry_words), st); */
PROFCORE_SIGNAL_SAFE static uint32_t pc_bucket_find(const profcore *pc, const uint64_t *bucket,
                                                    pc_stack st) {
    uint32_t w = 0;
    /*@ loop invariant 0 <= w <= pc->cfg.ways;
        loop invariant \forall integer k; 0 <= k < w ==>
          !pc_entry_equal((uint64_t *)bucket + pc_mul(k, pc->entry_words), st);
        loop assigns w;
        loop variant pc->cfg.ways - w; */
    for (; w < pc->cfg.ways; w++) {
        /*@ assert 0 <= pc_mul(w, pc->entry_words) &&
                   pc_mul(w, pc->entry_words) + pc->entry_words <= pc_mul(pc->cfg.ways, pc->entry_words); */
        if (pc_entry_matches(bucket + (size_t)w * pc->entry_words, st)) break;
    }
    return w;
}

/* The way to fill on a miss: the first free way, else the first way with
 * the smallest count (the victim). */
/* Contract: the first free way if there is one, else the first way of
 * smallest count. */
/*@ requires \valid_read(pc) && pc_cfg_valid(pc->cfg);
    requires pc->entry_words == PROFCORE_RECORD_HEADER_WORDS + pc->cfg.max_depth;
    requires \valid_read(bucket + (0 .. pc_bw(pc->cfg) - 1));
    assigns \nothing;
    ensures \result < pc->cfg.ways;
    behavior has_free:
      assumes \exists integer w; 0 <= w < pc->cfg.ways && pc_way_count((uint64_t *)bucket, pc->entry_words, w) == 0;
      ensures pc_way_count((uint64_t *)bucket, pc->entry_words, \result) == 0;
      ensures \forall integer w; 0 <= w < \result ==> pc_way_count((uint64_t *)bucket, pc->entry_words, w) != 0;
    behavior full:
      assumes \forall integer w; 0 <= w < pc->cfg.ways ==> pc_way_count((uint64_t *)bucket, pc->entry_words, w) != 0;
      ensures \forall integer w; 0 <= w < pc->cfg.ways ==>
        pc_way_count((uint64_t *)bucket, pc->entry_words, \result) <= pc_way_count((uint64_t *)bucket, pc->entry_words, w);
      ensures \forall integer w; 0 <= w < \result ==>
        pc_way_count((uint64_t *)bucket, pc->entry_words, \result) < pc_way_count((uint64_t *)bucket, pc->entry_words, w);
    complete behaviors;
    disjoint behaviors; */
PROFCORE_SIGNAL_SAFE static uint32_t pc_bucket_victim(const profcore *pc, const uint64_t *bucket) {
    uint32_t best = 0;
    /*@ loop invariant 0 <= w <= pc->cfg.ways;
        loop invariant best == 0 || best < w;
        loop invariant \forall integer k; 0 <= k < w ==> pc_way_count((uint64_t *)bucket, pc->entry_words, k) != 0;
        loop invariant \forall integer k; 0 <= k < w ==>
          pc_way_count((uint64_t *)bucket, pc->entry_words, best) <= pc_way_count((uint64_t *)bucket, pc->entry_words, k);
        loop invariant \forall integer k; 0 <= k < best ==>
          pc_way_count((uint64_t *)bucket, pc->entry_words, best) < pc_way_count((uint64_t *)bucket, pc->entry_words, k);
        loop assigns w, best;
        loop variant pc->cfg.ways - w; */
    for (uint32_t w = 0; w < pc->cfg.ways; w++) {
        /*@ assert 0 <= pc_mul(best, pc->entry_words) && 0 <= pc_mul(w, pc->entry_words) &&
                   pc_mul(w, pc->entry_words) + pc->entry_words <= pc_mul(pc->cfg.ways, pc->entry_words) &&
                   pc_mul(best, pc->entry_words) + pc->entry_words <= pc_mul(pc->cfg.ways, pc->entry_words); */
        uint64_t c = bucket[(size_t)w * pc->entry_words + PC_ENTRY_COUNT];
        if (c == 0) return w;
        if (c < bucket[(size_t)best * pc->entry_words + PC_ENTRY_COUNT]) best = w;
    }
    return best;
}

/* Bucket b of shard s's table.  Its ways are entries b * ways + w of the
 * shard's table, so each inherits pc_entry_ok from the table predicate. */
/*@ requires pc_layout(pc) && s < pc->cfg.shards && b < pc->cfg.buckets;
    requires pc_shard_table_ok(pc, s);
    assigns \nothing;
    ensures \result == pc->tables + pc_mul(s, pc_tw(pc->cfg)) + pc_mul(b, pc_bw(pc->cfg));
    ensures 0 <= pc_mul(b, pc_bw(pc->cfg)) && pc_mul(b, pc_bw(pc->cfg)) + pc_bw(pc->cfg) <= pc_tw(pc->cfg);
    ensures \valid(\result + (0 .. pc_bw(pc->cfg) - 1));
    ensures \forall integer w; 0 <= w < pc->cfg.ways ==>
              pc_entry_ok(pc->cfg.max_depth, \result + pc_mul(w, pc->entry_words)); */
PROFCORE_SIGNAL_SAFE static uint64_t *pc_table_bucket(profcore *pc, uint32_t s, uint32_t b) {
    uint64_t *table = pc_shard_table(pc, s);
    size_t bucket_words = (size_t)pc->cfg.ways * pc->entry_words;
    /*@ assert bucket_words == pc_bw(pc->cfg) && pc_bw(pc->cfg) == pc_mul(pc->cfg.ways, pc->entry_words); */
    /*@ assert 0 <= pc_mul(b, pc_bw(pc->cfg)) &&
               pc_mul(b, pc_bw(pc->cfg)) + pc_bw(pc->cfg) <= pc_mul(pc->cfg.buckets, pc_bw(pc->cfg)) &&
               pc_mul(pc->cfg.buckets, pc_bw(pc->cfg)) == pc_tw(pc->cfg); */
    /* Way w of the bucket is flat entry b * ways + w. */
    /*@ assert pc_mul(b, pc->cfg.ways) + pc->cfg.ways <= pc_entries(pc->cfg); */
    /*@ assert pc_mul(pc_mul(b, pc->cfg.ways), pc->entry_words) == pc_mul(b, pc_bw(pc->cfg)); */
    /*@ assert \forall integer w; 0 <= w < pc->cfg.ways ==>
              pc_mul(pc_mul(b, pc->cfg.ways) + w, pc->entry_words) ==
                pc_mul(pc_mul(b, pc->cfg.ways), pc->entry_words) + pc_mul(w, pc->entry_words); */
    /*@ assert \forall integer w; 0 <= w < pc->cfg.ways ==>
              pc_entry_ok(pc->cfg.max_depth, pc->tables + pc_mul(s, pc_tw(pc->cfg)) +
                                             pc_mul(pc_mul(b, pc->cfg.ways) + w, pc->entry_words)); */
    return table + (size_t)b * bucket_words;
}

/* Eviction: appends the record of e, a used entry of shard s's table about
 * to be overwritten, to the shard's log.  Returns PROFCORE_RECORDED, or
 * PROFCORE_RECORDED_HANDOFF when a half was published to make room, or
 * PROFCORE_LOST with the loss counted (LOG_FULL or NOHANDOFF_FULL) when
 * there is no room: the new sample is then dropped and e stays. */
/*@ requires pc_layout(pc) && pc_shards_ok(pc) && s < pc->cfg.shards;
    requires \valid_read(e + (0 .. pc->entry_words - 1));
    requires pc_entry_ok(pc->cfg.max_depth, e) && e[PC_ENTRY_COUNT] != 0;
    requires \separated(e + (0 .. pc->entry_words - 1), pc, pc->shards + (0 .. pc->cfg.shards - 1),
                        pc->logs + (0 .. pc_log_total(pc->cfg) - 1));
    assigns pc->logs[pc_mul(s * 2, pc->cfg.log_words) .. pc_mul(s * 2 + 2, pc->cfg.log_words) - 1],
            pc->shards[s].handoff, pc->shards[s].active, pc->shards[s].used,
            pc->shards[s].evictions, pc->shards[s].handoffs,
            pc->lost_samples[PROFCORE_LOSS_LOG_FULL .. PROFCORE_LOSS_NOHANDOFF_FULL],
            pc->lost_weight[PROFCORE_LOSS_LOG_FULL .. PROFCORE_LOSS_NOHANDOFF_FULL];
    PC_OWNED_OUTCOME */
PROFCORE_SIGNAL_SAFE static int pc_evict(profcore *pc, uint32_t s, const uint64_t *e,
                                         uint32_t weight, bool may_handoff) {
    uint32_t depth = (uint32_t)(e[PC_ENTRY_META] & 0xffffffffu);
    uint32_t reason = PROFCORE_LOSS_LOG_FULL;
    bool handed = false;
    bool room = pc_log_reserve(pc, s, PROFCORE_RECORD_HEADER_WORDS + depth, may_handoff, &reason,
                               &handed);
    /*@ assert pc->lost_weight[PROFCORE_LOSS_LOG_FULL] == \at(pc->lost_weight[PROFCORE_LOSS_LOG_FULL], Pre) &&
               pc->lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL] == \at(pc->lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL], Pre); */
    if (!room) {
        /*@ assert reason == PROFCORE_LOSS_LOG_FULL || reason == PROFCORE_LOSS_NOHANDOFF_FULL; */
        pc_count_loss_owned(pc, reason, weight);
        /*@ assert reason == PROFCORE_LOSS_LOG_FULL ==>
              pc->lost_weight[PROFCORE_LOSS_LOG_FULL] ==
                (profcore_counter)(\at(pc->lost_weight[PROFCORE_LOSS_LOG_FULL], Pre) + weight) &&
              pc->lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL] == \at(pc->lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL], Pre); */
        /*@ assert reason == PROFCORE_LOSS_NOHANDOFF_FULL ==>
              pc->lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL] ==
                (profcore_counter)(\at(pc->lost_weight[PROFCORE_LOSS_NOHANDOFF_FULL], Pre) + weight) &&
              pc->lost_weight[PROFCORE_LOSS_LOG_FULL] == \at(pc->lost_weight[PROFCORE_LOSS_LOG_FULL], Pre); */
        return PROFCORE_LOST;
    }
    /* The record fits in the active half, which is one of shard s's two. */
    /*@ assert pc->shards[s].active <= 1 &&
               pc->shards[s].used + PROFCORE_RECORD_HEADER_WORDS + depth <= pc->cfg.log_words; */
    /*@ assert pc_mul(s * 2, pc->cfg.log_words) <= pc_active_at(pc, s) &&
               pc_active_at(pc, s) + PROFCORE_RECORD_HEADER_WORDS + depth <=
                 pc_mul(s * 2 + 2, pc->cfg.log_words); */
    pc_log_append(pc, s, e[PC_ENTRY_TAG], e[PC_ENTRY_COUNT], depth,
                  e + PROFCORE_RECORD_HEADER_WORDS);
    pc_counter_bump_owned(&pc->shards[s].evictions, 1u);
    return handed ? PROFCORE_RECORDED_HANDOFF : PROFCORE_RECORDED;
}

/* The entry an add of st uses in shard s's table: the way of its bucket
 * that holds st (*hit set), else the bucket's victim way (*hit cleared).
 * Its own function so that the add's proof sees only where the entry lies,
 * not the lookup's quantified facts (proved on pc_bucket_find and
 * pc_bucket_victim). */
/*@ requires pc_layout(pc) && s < pc->cfg.shards && pc_shard_table_ok(pc, s);
    requires pc_stack_ok(st, pc->cfg.max_depth);
    requires pc_apart(pc, (uint64_t *)st.frames, st.kept);
    requires \valid(hit) && \separated(hit, pc);
    assigns *hit;
    ensures 0 <= pc_mul(s, pc_tw(pc->cfg)) &&
            pc_mul(s, pc_tw(pc->cfg)) + pc_tw(pc->cfg) <= pc_mul(pc->cfg.shards, pc_tw(pc->cfg));
    ensures \subset(\result + (0 .. pc->entry_words - 1),
                    pc->tables + (pc_mul(s, pc_tw(pc->cfg)) .. pc_mul(s, pc_tw(pc->cfg)) + pc_tw(pc->cfg) - 1));
    ensures \valid(\result + (0 .. pc->entry_words - 1));
    ensures pc_entry_ok(pc->cfg.max_depth, \result);
    ensures *hit != 0 ==> pc_entry_equal(\result, st);
    ensures \separated(\result + (0 .. pc->entry_words - 1), st.frames + (0 .. st.kept - 1));
    ensures \separated(\result + (0 .. pc->entry_words - 1), pc, pc->shards + (0 .. pc->cfg.shards - 1),
                       pc->logs + (0 .. pc_log_total(pc->cfg) - 1)); */
PROFCORE_SIGNAL_SAFE static uint64_t *pc_table_slot(profcore *pc, uint32_t s, pc_stack st,
                                                    bool *hit) {
    uint32_t b = st.hash & (pc->cfg.buckets - 1u);
    /*@ assert b < pc->cfg.buckets; */
    uint64_t *bucket = pc_table_bucket(pc, s, b);
    uint32_t way = pc_bucket_find(pc, bucket, st);
    *hit = way < pc->cfg.ways;
    if (!*hit) way = pc_bucket_victim(pc, bucket);
    /*@ assert 0 <= pc_mul(way, pc->entry_words) &&
               pc_mul(way, pc->entry_words) + pc->entry_words <= pc_bw(pc->cfg); */
    /*@ assert pc_mul(b, pc_bw(pc->cfg)) + pc_mul(way, pc->entry_words) + pc->entry_words <= pc_tw(pc->cfg); */
    uint64_t *e = bucket + (size_t)way * pc->entry_words;
    /* e's words lie among all tables' words, which are apart from the rest. */
    /*@ assert \let o = pc_mul(s, pc_tw(pc->cfg)) + pc_mul(b, pc_bw(pc->cfg)) + pc_mul(way, pc->entry_words);
               e == pc->tables + o && 0 <= o &&
               o + pc->entry_words <= pc_mul(pc->cfg.shards, pc_tw(pc->cfg)); */
    return e;
}

/* Counts st into entry e of shard s's table (found by pc_table_slot): adds
 * the weight to e on a hit; on a miss, or a hit whose count would
 * overflow, evicts e if it is used and fills it with st.  Returns the
 * outcome; on PROFCORE_LOST (no log room for the eviction, loss counted)
 * e is left as it was. */
/*@ requires pc_layout(pc) && pc_shards_ok(pc) && s < pc->cfg.shards;
    requires pc_stack_ok(st, pc->cfg.max_depth);
    requires \valid(e + (0 .. pc->entry_words - 1)) && pc_entry_ok(pc->cfg.max_depth, e);
    requires \separated(e + (0 .. pc->entry_words - 1), st.frames + (0 .. st.kept - 1));
    requires \separated(e + (0 .. pc->entry_words - 1), pc, pc->shards + (0 .. pc->cfg.shards - 1),
                        pc->logs + (0 .. pc_log_total(pc->cfg) - 1));
    requires weight >= 1;
    assigns e[0 .. pc->entry_words - 1],
            pc->logs[pc_mul(s * 2, pc->cfg.log_words) .. pc_mul(s * 2 + 2, pc->cfg.log_words) - 1],
            pc->shards[s].handoff, pc->shards[s].active, pc->shards[s].used,
            pc->shards[s].evictions, pc->shards[s].handoffs,
            pc->lost_samples[PROFCORE_LOSS_LOG_FULL .. PROFCORE_LOSS_NOHANDOFF_FULL],
            pc->lost_weight[PROFCORE_LOSS_LOG_FULL .. PROFCORE_LOSS_NOHANDOFF_FULL];
    PC_OWNED_OUTCOME */
PROFCORE_SIGNAL_SAFE static int pc_table_put(profcore *pc, uint32_t s, uint64_t *e, bool hit,
                                             pc_stack st, uint32_t weight,
                                             bool may_handoff) {
    if (hit && e[PC_ENTRY_COUNT] <= UINT64_MAX - weight) {
        e[PC_ENTRY_COUNT] += weight; /* owned: plain (I4) */
        return PROFCORE_RECORDED;
    }
    int outcome = PROFCORE_RECORDED;
    if (e[PC_ENTRY_COUNT] != 0) {
        outcome = pc_evict(pc, s, e, weight, may_handoff);
        if (outcome == PROFCORE_LOST) return outcome;
    }
    pc_entry_fill(e, st, weight);
    return outcome;
}

/* The shard's recorded counters, once a sample is in its table. */
/*@ requires \valid(sh);
    assigns sh->recorded_samples, sh->recorded_weight, sh->truncated;
    ensures sh->recorded_weight == (profcore_counter)(\old(sh->recorded_weight) + weight); */
PROFCORE_SIGNAL_SAFE static void pc_count_recorded(struct profcore_shard *sh, uint32_t weight,
                                                   bool truncated) {
    pc_counter_bump_owned(&sh->recorded_samples, 1u);
    pc_counter_bump_owned(&sh->recorded_weight, weight);
    if (truncated) pc_counter_bump_owned(&sh->truncated, 1u);
}

/* pc_add_owned's outcome for a miss of a stack with a reserved frame value:
 * nothing was written; pc_add counts the INVALID loss, the shard still
 * held.  Private: never returned by a public function. */
#define PC_STACK_RESERVED 4

/* The body of an add, with shard `s` held.  Returns the outcome; a loss is
 * counted here, while the shard is still held (PC_STACK_RESERVED: by the
 * caller, before it releases the shard). */
/* Contract: the sample ends in exactly one place: the shard's recorded
 * counters grew by the weight (a count grew, or an entry was filled, after
 * appending the victim's record when it held one), or one loss counter
 * (LOG_FULL or NOHANDOFF_FULL) grew by the weight. */
/*@ requires pc_layout(pc) && pc_shards_ok(pc) && s < pc->cfg.shards && pc_shard_table_ok(pc, s);
    requires pc_stack_ok(st, pc->cfg.max_depth);
    requires pc_apart(pc, (uint64_t *)st.frames, st.kept);
    requires weight >= 1;
    assigns pc->tables[pc_mul(s, pc_tw(pc->cfg)) .. pc_mul(s, pc_tw(pc->cfg)) + pc_tw(pc->cfg) - 1],
            pc->logs[pc_mul(s * 2, pc->cfg.log_words) .. pc_mul(s * 2 + 2, pc->cfg.log_words) - 1],
            pc->shards[s].handoff, pc->shards[s].active, pc->shards[s].used,
            pc->shards[s].recorded_samples, pc->shards[s].recorded_weight,
            pc->shards[s].evictions, pc->shards[s].handoffs, pc->shards[s].truncated,
            pc->lost_samples[PROFCORE_LOSS_LOG_FULL .. PROFCORE_LOSS_NOHANDOFF_FULL],
            pc->lost_weight[PROFCORE_LOSS_LOG_FULL .. PROFCORE_LOSS_NOHANDOFF_FULL];
    ensures \result == PROFCORE_RECORDED || \result == PROFCORE_RECORDED_HANDOFF ||
            \result == PROFCORE_LOST || \result == PC_STACK_RESERVED;
    PC_OWNED_LOSSES
    ensures \result == PC_STACK_RESERVED ==>
      pc->lost_weight[PROFCORE_LOSS_INVALID] == \old(pc->lost_weight[PROFCORE_LOSS_INVALID]);
    ensures \result != PROFCORE_LOST && \result != PC_STACK_RESERVED ==>
      pc->shards[s].recorded_weight == (profcore_counter)(\old(pc->shards[s].recorded_weight) + weight);
    ensures \result == PROFCORE_LOST || \result == PC_STACK_RESERVED ==>
      pc->shards[s].recorded_weight == \old(pc->shards[s].recorded_weight); */
PROFCORE_SIGNAL_SAFE static int pc_add_owned(profcore *pc, uint32_t s, pc_stack st,
                                             uint32_t weight, bool may_handoff) {
    struct profcore_shard *sh = &pc->shards[s];
    /*@ assert \valid(sh) && \separated(sh, pc); */
    /* What pc_table_put may write (e, the shard's two log halves, the loss
     * counters) leaves the shard's recorded counters alone. */
    /*@ assert pc_mul(s * 2 + 2, pc->cfg.log_words) <= pc_log_total(pc->cfg); */
    /*@ assert \separated(&sh->recorded_weight,
                          pc->logs + (pc_mul(s * 2, pc->cfg.log_words) .. pc_mul(s * 2 + 2, pc->cfg.log_words) - 1)); */
    /*@ assert \separated(&sh->recorded_weight, &pc->lost_samples[0 .. PROFCORE_LOSS_REASONS - 1],
                          &pc->lost_weight[0 .. PROFCORE_LOSS_REASONS - 1]); */
    bool hit;
    uint64_t *e = pc_table_slot(pc, s, st, &hit);
    /* The reserved-frame check, on a miss only (a hit matched an entry
     * filled from a checked stack), before anything is stored. */
    if (!hit && pc_stack_reserved(st)) return PC_STACK_RESERVED;
    /*@ assert \separated(&sh->recorded_weight, e + (0 .. pc->entry_words - 1)); */
    int outcome = pc_table_put(pc, s, e, hit, st, weight, may_handoff);
    /*@ assert pc->shards[s].recorded_weight == \at(pc->shards[s].recorded_weight, Pre); */
    if (outcome == PROFCORE_LOST) return outcome;
    pc_count_recorded(sh, weight, st.truncated);
    return outcome;
}

/*@ requires pc == \null || \valid_read(&pc->magic);
    assigns \nothing;
    ensures \result != 0 <==> (pc != \null && pc->magic == PROFCORE_MAGIC); */
PROFCORE_SIGNAL_SAFE static bool pc_handle_ok(const profcore *pc) {
    return pc != NULL && pc->magic == PROFCORE_MAGIC;
}

/*@ PC_ADD_CONTRACT
    ensures \result == PROFCORE_RECORDED_HANDOFF ==> may_handoff; */
PROFCORE_SIGNAL_SAFE static int pc_add(profcore *pc, uint64_t tag, const uintptr_t *frames,
                                       uint32_t depth, uint32_t weight, uint32_t hint,
                                       bool may_handoff) {
    if (!pc_handle_ok(pc)) return pc == NULL ? PROFCORE_E_NULL : PROFCORE_E_NOT_INIT;
    /* Seq_cst load before anything else (model: step "precheck"): an add
     * that starts after stop's seq_cst store of STOPPED rejects without
     * taking a shard.  Without it, a stream of adds that never ends can
     * hold some shard at every final-drain poll, and the drain never
     * completes (SPIN found this: run-spin, mutant no-precheck).  The load
     * after the CAS below stays: it is the handshake for adds already past
     * this point. */
    if (pc_load_seqcst_u32(&pc->state) != PC_STATE_RUNNING) return pc_count_rejected(pc, weight);
    /* Invalid input.  The stack is only made from valid input, so that Eva
     * never joins a NULL-frames stack into a valid one (a struct return is
     * not split by -eva-split-return).  A reserved frame value is found
     * on a miss, with the shard held (PC_STACK_RESERVED below). */
    if (frames == NULL || depth == 0 || weight == 0)
        return pc_count_loss_unowned(pc, PROFCORE_LOSS_INVALID, weight);
    pc_stack st = pc_stack_make(pc, tag, frames, depth);
    /*@ assert stack_apart: pc_apart(pc, (uint64_t *)st.frames, st.kept); */
    uint32_t shards = pc->cfg.shards; /* a local bound, as in profcore_drain */
    uint32_t mask = shards - 1u;
    /*@ loop invariant 0 <= i <= shards;
        loop invariant add_header: pc_same_header{Pre, Here}(pc) && pc->cfg.shards == shards;
        loop invariant add_layout: pc_layout(pc);
        loop invariant add_shards: pc_shards_ok(pc);
        loop invariant add_tables: pc_tables_ok(pc);
        loop invariant add_apart: pc_apart(pc, (uint64_t *)st.frames, st.kept);
        loop invariant add_rejected: pc->rejected_weight == \at(pc->rejected_weight, Pre);
        loop assigns i, pc->shards[0 .. shards - 1].owner;
        loop variant shards - i; */
    for (uint32_t i = 0; i < shards; i++) {
        /* Widened so hint + i cannot wrap (the proofs check unsigned
         * overflow); the mask keeps the same low bits either way. */
        uint32_t s = (uint32_t)(((uint64_t)hint + i) & mask);
        /*@ assert s < pc->cfg.shards; */
        /* Shard s's table and log halves lie inside all tables and logs. */
        /*@ assert shard_table_in: 0 <= pc_mul(s, pc_tw(pc->cfg)) &&
              pc_mul(s, pc_tw(pc->cfg)) + pc_tw(pc->cfg) <= pc_mul(pc->cfg.shards, pc_tw(pc->cfg)); */
        /*@ assert shard_logs_in: 0 <= pc_mul(s * 2, pc->cfg.log_words) &&
              pc_mul(s * 2, pc->cfg.log_words) <= pc_mul(s * 2 + 2, pc->cfg.log_words) &&
              pc_mul(s * 2 + 2, pc->cfg.log_words) <= pc_log_total(pc->cfg); */
        /*@ assert rejected_apart: \separated(&pc->rejected_weight,
              pc->tables + (pc_mul(s, pc_tw(pc->cfg)) .. pc_mul(s, pc_tw(pc->cfg)) + pc_tw(pc->cfg) - 1),
              pc->logs + (pc_mul(s * 2, pc->cfg.log_words) .. pc_mul(s * 2 + 2, pc->cfg.log_words) - 1)); */
        struct profcore_shard *sh = &pc->shards[s];
        if (!pc_shard_try_acquire(sh, PC_OWNER_WRITER)) continue;
        int outcome;
        /* Seq_cst load after the seq_cst CAS: the add side of the stop
         * handshake (model: step "check_stop"). */
        if (pc_load_seqcst_u32(&pc->state) != PC_STATE_RUNNING) {
            pc_shard_release(sh);
            return pc_count_rejected(pc, weight);
        }
        outcome = pc_add_owned(pc, s, st, weight, may_handoff);
        /* rejected_weight lies outside what pc_add_owned wrote
         * (rejected_apart): stated on this path alone, where it is a small
         * goal, rather than left to the postcondition over every exit. */
        /*@ assert owned_rejected: pc->rejected_weight == \at(pc->rejected_weight, Pre); */
        if (outcome == PC_STACK_RESERVED) {
            /* Counted while the shard is held, so that stop sees this add
             * busy until the loss is in (as pc_evict's LOG_FULL). */
            pc_count_loss_owned(pc, PROFCORE_LOSS_INVALID, weight);
            /*@ assert reserved_lost: pc->lost_weight[PROFCORE_LOSS_INVALID] ==
                  (profcore_counter)(\at(pc->lost_weight[PROFCORE_LOSS_INVALID], Pre) + weight); */
            outcome = PROFCORE_LOST;
        }
        pc_shard_release(sh);
        return outcome;
    }
    return pc_count_loss_unowned(pc, PROFCORE_LOSS_CONTENDED, weight);
}

/*@ PC_ADD_CONTRACT */
PROFCORE_SIGNAL_SAFE PROFCORE_API PC_PUBLIC_UNUSED_OK int profcore_add(profcore *pc, uint64_t tag,
                                                   const uintptr_t *frames, uint32_t depth,
                                                   uint32_t weight, uint32_t hint) {
    return pc_add(pc, tag, frames, depth, weight, hint, true);
}

/*@ PC_ADD_CONTRACT
    ensures \result != PROFCORE_RECORDED_HANDOFF; */
PROFCORE_SIGNAL_SAFE PROFCORE_API PC_PUBLIC_UNUSED_OK int profcore_add_nohandoff(profcore *pc, uint64_t tag,
                                                             const uintptr_t *frames,
                                                             uint32_t depth, uint32_t weight,
                                                             uint32_t hint) {
    return pc_add(pc, tag, frames, depth, weight, hint, false);
}

/* Losses the caller decided on (critical section, unwind failure, other).
 * A core-only reason is API misuse and is counted as INVALID instead. */
/*@ requires pc_handle_arg(pc);
    requires pc != \null && pc->magic == PROFCORE_MAGIC ==> pc->loss_inflight < 4294967295;
    assigns pc->loss_inflight, pc->lost_samples[0 .. PROFCORE_LOSS_REASONS - 1],
            pc->lost_weight[0 .. PROFCORE_LOSS_REASONS - 1],
            pc->rejected_samples, pc->rejected_weight;
    ensures pc == \null ==> \result == PROFCORE_E_NULL;
    ensures \result == PROFCORE_E_NULL || \result == PROFCORE_E_NOT_INIT ||
            \result == PROFCORE_LOST || \result == PROFCORE_REJECTED; */
PROFCORE_SIGNAL_SAFE PROFCORE_API PC_PUBLIC_UNUSED_OK int profcore_add_loss(profcore *pc, uint32_t reason,
                                                        uint32_t weight) {
    if (!pc_handle_ok(pc)) return pc == NULL ? PROFCORE_E_NULL : PROFCORE_E_NOT_INIT;
    bool caller_reason = reason == PROFCORE_LOSS_CRITICAL || reason == PROFCORE_LOSS_UNWIND ||
                         reason == PROFCORE_LOSS_OTHER;
    if (!caller_reason || weight == 0) reason = PROFCORE_LOSS_INVALID;
    return pc_count_loss_unowned(pc, reason, weight);
}

/* The names are part of the interface: profilers print them and readers
 * match them, so a reason keeps its name. */
/*@ assigns \nothing;
    ensures \valid_read(\result); */
PROFCORE_SIGNAL_SAFE PROFCORE_API PC_PUBLIC_UNUSED_OK const char *profcore_loss_name(uint32_t reason) {
    switch (reason) {
    case PROFCORE_LOSS_CONTENDED: return "contended";
    case PROFCORE_LOSS_LOG_FULL: return "log full";
    case PROFCORE_LOSS_NOHANDOFF_FULL: return "no-handoff full";
    case PROFCORE_LOSS_INVALID: return "invalid";
    case PROFCORE_LOSS_CRITICAL: return "critical section";
    case PROFCORE_LOSS_UNWIND: return "unwind failed";
    case PROFCORE_LOSS_OTHER: return "other";
    default: return "unknown";
    }
}

/* a + b modulo 2^64, written so that no operation wraps (the proofs check
 * unsigned overflow); the statistics are modular sums by design. */
/*@ assigns \nothing;
    ensures \result == (a + b) % 18446744073709551616; */
PROFCORE_SIGNAL_SAFE static uint64_t pc_sum_wrap(uint64_t a, uint64_t b) {
    return b <= UINT64_MAX - a ? a + b : b - (UINT64_MAX - a) - 1u;
}

/*@ requires pc_handle_arg((profcore *)pc);
    requires out == \null || (\valid(out) && \separated(out, pc) &&
             (pc != \null && pc->magic == PROFCORE_MAGIC ==>
                \separated(out, pc->shards + (0 .. pc->cfg.shards - 1))));
    assigns *out;
    ensures \result == PROFCORE_OK || \result == PROFCORE_E_NULL || \result == PROFCORE_E_NOT_INIT; */
PROFCORE_SIGNAL_SAFE PROFCORE_API PC_PUBLIC_UNUSED_OK int profcore_stats_read(const profcore *pc, profcore_stats *out) {
    if (out == NULL || pc == NULL) return PROFCORE_E_NULL;
    if (!pc_handle_ok(pc)) return PROFCORE_E_NOT_INIT;
    uint64_t rs = 0, rw = 0, ev = 0, ho = 0, tr = 0;
    /*@ loop invariant 0 <= s <= pc->cfg.shards;
        loop assigns s, rs, rw, ev, ho, tr;
        loop variant pc->cfg.shards - s; */
    for (uint32_t s = 0; s < pc->cfg.shards; s++) {
        const struct profcore_shard *sh = &pc->shards[s];
        rs = pc_sum_wrap(rs, pc_counter_load(&sh->recorded_samples));
        rw = pc_sum_wrap(rw, pc_counter_load(&sh->recorded_weight));
        ev = pc_sum_wrap(ev, pc_counter_load(&sh->evictions));
        ho = pc_sum_wrap(ho, pc_counter_load(&sh->handoffs));
        tr = pc_sum_wrap(tr, pc_counter_load(&sh->truncated));
    }
    out->recorded_samples = rs;
    out->recorded_weight = rw;
    out->evictions = ev;
    out->handoffs = ho;
    out->truncated = tr;
    out->offered_samples = rs;
    out->offered_weight = rw;
    /*@ loop invariant 0 <= r <= PROFCORE_LOSS_REASONS;
        loop assigns r, out->lost_samples[0 .. PROFCORE_LOSS_REASONS - 1],
                     out->lost_weight[0 .. PROFCORE_LOSS_REASONS - 1],
                     out->offered_samples, out->offered_weight;
        loop variant PROFCORE_LOSS_REASONS - r; */
    for (uint32_t r = 0; r < PROFCORE_LOSS_REASONS; r++) {
        out->lost_samples[r] = pc_counter_load(&pc->lost_samples[r]);
        out->lost_weight[r] = pc_counter_load(&pc->lost_weight[r]);
        out->offered_samples = pc_sum_wrap(out->offered_samples, out->lost_samples[r]);
        out->offered_weight = pc_sum_wrap(out->offered_weight, out->lost_weight[r]);
    }
    out->rejected_samples = pc_counter_load(&pc->rejected_samples);
    out->rejected_weight = pc_counter_load(&pc->rejected_weight);
    out->offered_samples = pc_sum_wrap(out->offered_samples, out->rejected_samples);
    out->offered_weight = pc_sum_wrap(out->offered_weight, out->rejected_weight);
    return PROFCORE_OK;
}

/* ---- reader side -------------------------------------------------------------
 * One reader at a time: the reader word is taken with one CAS (acquire,
 * pairing with the previous reader's release) and a second concurrent
 * reader gets E_READER_BUSY.  The reader never waits on writers: a shard a
 * writer holds is skipped and reported. */
/*@ requires pc_handle_arg(pc);
    assigns pc->reader;
    ensures \result == PROFCORE_OK ==> pc != \null && pc->magic == PROFCORE_MAGIC && pc_valid(pc);
    ensures pc == \null ==> \result == PROFCORE_E_NULL;
    ensures \result == PROFCORE_OK || \result == PROFCORE_E_NULL ||
            \result == PROFCORE_E_NOT_INIT || \result == PROFCORE_E_READER_BUSY; */
static int pc_reader_enter(profcore *pc) {
    if (pc == NULL) return PROFCORE_E_NULL;
    if (!pc_handle_ok(pc)) return PROFCORE_E_NOT_INIT;
    /* Acquire: pairs with pc_reader_leave's release store, so a reader
     * sees what the previous one wrote.  Not a model step: the model has
     * one reader, and this CAS only turns a second one away. */
    if (!pc_cas_acqrel_u32(&pc->reader, 0u, 1u)) return PROFCORE_E_READER_BUSY;
    return PROFCORE_OK;
}

/* Release: pairs with the next reader's CAS in pc_reader_enter. */
/*@ requires \valid(pc);
    assigns pc->reader;
    ensures pc->reader == 0; */
static void pc_reader_leave(profcore *pc) { pc_store_release_u32(&pc->reader, 0u); }

/* Emits the records in words [0, n) of a half.  A record that would run
 * past n (impossible unless memory was corrupted) ends the walk. */
/*@ requires \valid_read(pc) && pc->cfg.max_depth <= PROFCORE_MAX_DEPTH;
    requires \valid_read(half + (0 .. n - 1));
    requires emit == &pc_emit_contract;
    assigns \nothing; */
static void pc_emit_half(const profcore *pc, const uint64_t *half, uint32_t n, profcore_emit_fn emit,
                         void *ctx) {
    uint32_t at = 0;
    /*@ loop invariant 0 <= at <= n;
        loop assigns at;
        loop variant n - at; */
    while (n - at >= PROFCORE_RECORD_HEADER_WORDS) {
        uint64_t depth = half[at];
        if (depth == 0 || depth > pc->cfg.max_depth ||
            depth > n - at - PROFCORE_RECORD_HEADER_WORDS)
            return;
        profcore_record rec;
        rec.depth = (uint32_t)depth;
        rec.tag = half[at + 1u];
        rec.weight = half[at + 2u];
        rec.frames = half + at + PROFCORE_RECORD_HEADER_WORDS;
        /*@ assert record_inside_half: half <= rec.frames && rec.frames + rec.depth <= half + n; */
        /*@ calls pc_emit_contract; */
        emit(ctx, &rec);
        at += PROFCORE_RECORD_HEADER_WORDS + (uint32_t)depth;
    }
}

/* Copies out the shard's published half, if any, then releases it.
 * Acquire load pairs with the writer's publishing CAS (pc_log_reserve);
 * the release store of 0 pairs with the acquire of the writer's next CAS.
 * Model: proofs/profcore.pml, steps "take" and "release". */
/* Contract: reads only the half the handoff word names, only when it is
 * published (nonzero), and only its first min(words, log_words) words. */
/*@ requires pc_layout(pc) && s < pc->cfg.shards && emit == &pc_emit_contract;
    assigns pc->shards[s].handoff;
    ensures pc->shards[s].handoff == 0; */
static void pc_drain_published(profcore *pc, uint32_t s, profcore_emit_fn emit, void *ctx) {
    struct profcore_shard *sh = &pc->shards[s];
    uint32_t h = pc_load_acquire_u32(&sh->handoff);
    if (h == 0) return;
    uint32_t n = h >> 1;
    if (n > pc->cfg.log_words) n = pc->cfg.log_words;
    /*@ assert reads_published: h != 0 && (h & 1) <= 1 && n <= pc->cfg.log_words; */
    pc_emit_half(pc, pc_shard_half(pc, s, h & 1u), n, emit, ctx);
    pc_store_release_u32(&sh->handoff, 0u);
}

/* now - before in the counter's modular arithmetic (counters wrap), written
 * so that no operation wraps (the proofs check unsigned overflow). */
/*@ assigns \nothing; */
static uint64_t pc_counter_delta(uint64_t now, uint64_t before) {
    profcore_counter a = (profcore_counter)now, b = (profcore_counter)before;
    if (a >= b) return (uint64_t)(a - b);
    return (uint64_t)(((profcore_counter)~(profcore_counter)0 - b) + a + 1u);
}

/* Emits, for each loss reason, the weight lost since the last report as one
 * record under the reason's reserved frame. */
/*@ requires \valid(pc) && emit == &pc_emit_contract;
    assigns pc->reported_loss[0 .. PROFCORE_LOSS_REASONS - 1]; */
static void pc_emit_losses(profcore *pc, profcore_emit_fn emit, void *ctx) {
    /*@ loop invariant 0 <= r <= PROFCORE_LOSS_REASONS;
        loop assigns r, pc->reported_loss[0 .. PROFCORE_LOSS_REASONS - 1];
        loop variant PROFCORE_LOSS_REASONS - r; */
    for (uint32_t r = 0; r < PROFCORE_LOSS_REASONS; r++) {
        uint64_t total = pc_counter_load(&pc->lost_weight[r]);
        uint64_t delta = pc_counter_delta(total, pc->reported_loss[r]);
        if (delta == 0) continue;
        uint64_t frame = PROFCORE_FRAME_LOST(r);
        profcore_record rec;
        rec.tag = 0;
        rec.weight = delta;
        rec.depth = 1;
        rec.frames = &frame;
        /*@ calls pc_emit_contract; */
        emit(ctx, &rec);
        pc->reported_loss[r] = total;
    }
}

/* Emits used table entry e as one record.  Its own function so that the
 * record, a local the callback reads, is written outside the harvest loop
 * (the loop's invariants then need no argument that it is not a table
 * word).  max_depth is a ghost parameter: only the contract reads it. */
/*@ requires pc_entry_ok(max_depth, (uint64_t *)e) && e[PC_ENTRY_COUNT] != 0;
    requires \valid_read(e + (0 .. PROFCORE_RECORD_HEADER_WORDS + max_depth - 1));
    requires emit == &pc_emit_contract;
    assigns \nothing; */
static void pc_emit_entry(const uint64_t *e, profcore_emit_fn emit, void *ctx)
    /*@ ghost (uint32_t max_depth) */ {
    profcore_record rec;
    rec.tag = e[PC_ENTRY_TAG];
    rec.weight = e[PC_ENTRY_COUNT];
    rec.depth = (uint32_t)(e[PC_ENTRY_META] & 0xffffffffu);
    rec.frames = e + PROFCORE_RECORD_HEADER_WORDS;
    /*@ calls pc_emit_contract; */
    emit(ctx, &rec);
}

/* With shard s held by the reader: emit and empty its published half, its
 * active half and its table. */
/*@ requires pc_layout(pc) && pc_shards_ok(pc) && s < pc->cfg.shards;
    requires pc_shard_table_ok(pc, s) && emit == &pc_emit_contract;
    assigns pc->shards[s].handoff, pc->shards[s].used,
            pc->tables[pc_mul(s, pc_tw(pc->cfg)) .. pc_mul(s, pc_tw(pc->cfg)) + pc_tw(pc->cfg) - 1];
    ensures pc->shards[s].used == 0 && pc->shards[s].handoff == 0;
    ensures \forall integer i; 0 <= i < pc_entries(pc->cfg) ==>
              pc->tables[pc_mul(s, pc_tw(pc->cfg)) + pc_mul(i, pc->entry_words) + PC_ENTRY_COUNT] == 0;
    ensures pc_shard_table_ok(pc, s); */
static void pc_harvest_owned(profcore *pc, uint32_t s, profcore_emit_fn emit, void *ctx) {
    struct profcore_shard *sh = &pc->shards[s];
    uint64_t *table = pc_shard_table(pc, s);
    uint64_t entries = (uint64_t)pc->cfg.buckets * pc->cfg.ways;
    /* One step each: as one assert this was a proof Z3 found or missed
     * depending on the statement numbering of the code above. */
    /*@ assert entries_def: entries == pc_mul(pc->cfg.buckets, pc->cfg.ways); */
    /*@ assert ew_def: pc->entry_words == pc_ew(pc->cfg); */
    /*@ assert entries == pc_entries(pc->cfg) &&
               pc_mul(entries, pc->entry_words) == pc_tw(pc->cfg); */
    pc_drain_published(pc, s, emit, ctx);
    pc_emit_half(pc, pc_shard_half(pc, s, sh->active), sh->used, emit, ctx);
    sh->used = 0;
    /* Only shard-header words were written: the table predicate and the
     * configuration it reads are those of the entry state. */
    /*@ assert pc_same_header{Pre, Here}(pc); */
    /*@ assert pc_shard_table_ok(pc, s); */
    /*@ assert entries == pc_entries(pc->cfg) &&
               pc_mul(entries, pc->entry_words) == pc_tw(pc->cfg); */
    /*@ loop invariant 0 <= i <= entries;
        loop invariant \forall integer j; 0 <= j < i ==> table[pc_mul(j, pc->entry_words) + PC_ENTRY_COUNT] == 0;
        loop invariant \forall integer j; i <= j < entries ==> pc_entry_ok(pc->cfg.max_depth, table + pc_mul(j, pc->entry_words));
        loop assigns i, table[0 .. pc_tw(pc->cfg) - 1];
        loop variant entries - i; */
    for (uint64_t i = 0; i < entries; i++) {
        /*@ assert entry_fits: 0 <= pc_mul(i, pc->entry_words) &&
                     pc_mul(i, pc->entry_words) + pc->entry_words <= pc_tw(pc->cfg); */
        uint64_t *e = table + i * pc->entry_words;
        /*@ assert \forall integer j; i < j < entries ==>
                     pc_mul(i, pc->entry_words) + pc->entry_words <= pc_mul(j, pc->entry_words); */
        if (e[PC_ENTRY_COUNT] == 0) continue;
        pc_emit_entry(e, emit, ctx) /*@ ghost (pc->cfg.max_depth) */;
        e[PC_ENTRY_COUNT] = 0; /* the way is free again */
    }
    /*@ assert table == pc->tables + pc_mul(s, pc_tw(pc->cfg)) && entries == pc_entries(pc->cfg); */
}

/* pc_harvest_owned, plus the table invariant of every shard.  Its own
 * function so that the frame argument (the harvest wrote shard s's table
 * words only, so every other shard keeps its predicate) is made in a small
 * context, one assert per step of the frame lemmas (after pc_tables_ok_intro). */
/*@ requires pc_layout(pc) && pc_shards_ok(pc) && pc_tables_ok(pc);
    requires s < pc->cfg.shards && emit == &pc_emit_contract;
    assigns pc->shards[s].handoff, pc->shards[s].used,
            pc->tables[pc_mul(s, pc_tw(pc->cfg)) .. pc_mul(s, pc_tw(pc->cfg)) + pc_tw(pc->cfg) - 1];
    ensures pc_same_header{Pre, Post}(pc) && pc->cfg == \old(pc->cfg);
    ensures pc_layout(pc) && pc_shards_ok(pc) && pc_tables_ok(pc); */
static void pc_harvest_shard(profcore *pc, uint32_t s, profcore_emit_fn emit, void *ctx) {
    /*@ assert pc_cfg_valid(pc->cfg) && pc->entry_words == pc_ew(pc->cfg); */
    /*@ assert before: \forall integer t; 0 <= t < pc->cfg.shards ==>
          pc_table_ok_at(pc->cfg, pc->tables, pc_ew(pc->cfg), t); */
    /*@ assert pc_shard_table_ok(pc, s); */
    pc_harvest_owned(pc, s, emit, ctx);
    /*@ assert pc_same_header{Pre, Here}(pc) && pc->cfg == \at(pc->cfg, Pre); */
    /* The harvest wrote shard s's table words only ... */
    /*@ assert kept: \forall integer k; 0 <= k < pc_mul(pc->cfg.shards, pc_tw(\at(pc->cfg, Pre))) &&
          (k < pc_mul(s, pc_tw(\at(pc->cfg, Pre))) || pc_mul(s, pc_tw(\at(pc->cfg, Pre))) + pc_tw(\at(pc->cfg, Pre)) <= k) ==>
          \at(pc->tables[k], Pre) == pc->tables[k]; */
    /* ... so every other shard's entries are those of the entry state
     * (pc_other_entries_kept) and keep their predicate
     * (pc_entry_frame, pc_table_frame) ... */
    /*@ assert others_words: \forall integer t, i; 0 <= t < pc->cfg.shards && t != s && 0 <= i < pc_entries(\at(pc->cfg, Pre)) ==>
          \at((pc->tables + pc_mul(t, pc_tw(\at(pc->cfg, Pre))) + pc_mul(i, pc_ew(\at(pc->cfg, Pre))))[PC_ENTRY_COUNT], Pre) ==
          (pc->tables + pc_mul(t, pc_tw(\at(pc->cfg, Pre))) + pc_mul(i, pc_ew(\at(pc->cfg, Pre))))[PC_ENTRY_COUNT] &&
          \at((pc->tables + pc_mul(t, pc_tw(\at(pc->cfg, Pre))) + pc_mul(i, pc_ew(\at(pc->cfg, Pre))))[PC_ENTRY_META], Pre) ==
          (pc->tables + pc_mul(t, pc_tw(\at(pc->cfg, Pre))) + pc_mul(i, pc_ew(\at(pc->cfg, Pre))))[PC_ENTRY_META]; */
    /* The table predicate of the entry state over the table pointer of
     * this one: one small step of the frame (without it, `others` was a
     * proof Z3 found or missed depending on the code's statement numbering). */
    /*@ assert tables_same: pc->tables == \at(pc->tables, Pre); */
    /*@ assert others_pre: \forall integer t; 0 <= t < pc->cfg.shards && t != s ==>
          pc_table_ok_at{Pre}(\at(pc->cfg, Pre), pc->tables, pc_ew(\at(pc->cfg, Pre)), t); */
    /*@ assert others: \forall integer t; 0 <= t < pc->cfg.shards && t != s ==>
          pc_table_ok_at(\at(pc->cfg, Pre), pc->tables, pc_ew(\at(pc->cfg, Pre)), t); */
    /* ... and shard s's is the harvest's postcondition. */
    /*@ assert own: pc_table_ok_at(\at(pc->cfg, Pre), pc->tables, pc_ew(\at(pc->cfg, Pre)), s); */
    /* Together, in the terms pc_tables_ok unfolds to. */
    /*@ assert all: \forall integer t; 0 <= t < pc->cfg.shards ==>
          pc_table_ok_at(pc->cfg, pc->tables, pc->entry_words, t); */
}

/* Harvests every shard it can take; returns how many were busy. */
/*@ requires pc_valid(pc) && emit == &pc_emit_contract;
    assigns pc->shards[0 .. pc->cfg.shards - 1].owner, pc->shards[0 .. pc->cfg.shards - 1].handoff,
            pc->shards[0 .. pc->cfg.shards - 1].used,
            pc->tables[0 .. pc_mul(pc->cfg.shards, pc_tw(pc->cfg)) - 1];
    ensures \result <= pc->cfg.shards;
    ensures pc_valid(pc); */
static uint32_t pc_collect_all(profcore *pc, profcore_emit_fn emit, void *ctx) {
    uint32_t busy = 0;
    uint32_t shards = pc->cfg.shards; /* a local bound, as in profcore_drain */
    /*@ loop invariant 0 <= s <= shards && busy <= s;
        loop invariant pc_layout(pc) && pc_shards_ok(pc) && pc->cfg == \at(pc->cfg, Pre);
        loop invariant pc_tables_ok(pc);
        loop assigns s, busy, pc->shards[0 .. shards - 1].owner,
                     pc->shards[0 .. shards - 1].handoff,
                     pc->shards[0 .. shards - 1].used,
                     pc->tables[0 .. pc_mul(shards, pc_tw(\at(pc->cfg, Pre))) - 1];
        loop variant shards - s; */
    for (uint32_t s = 0; s < shards; s++) {
        struct profcore_shard *sh = &pc->shards[s];
        if (!pc_shard_try_acquire(sh, PC_OWNER_READER)) {
            busy++;
            continue;
        }
        /* The owner CAS wrote none of the table predicate's words. */
        /*@ assert pc_same_header{LoopCurrent, Here}(pc); */
        /*@ assert pc_tables_ok(pc); */
        pc_harvest_shard(pc, s, emit, ctx);
        pc_shard_release(sh);
    }
    return busy;
}

/*@ requires pc_handle_arg(pc) && (emit == \null || emit == &pc_emit_contract);
    assigns pc->reader, pc->state, pc->shards[0 .. pc->cfg.shards - 1].owner,
            pc->shards[0 .. pc->cfg.shards - 1].handoff, pc->shards[0 .. pc->cfg.shards - 1].used,
            pc->tables[0 .. pc_mul(pc->cfg.shards, pc_tw(pc->cfg)) - 1],
            pc->reported_loss[0 .. PROFCORE_LOSS_REASONS - 1];
    ensures \result == PROFCORE_OK || \result < 0; */
PROFCORE_API PC_PUBLIC_UNUSED_OK int profcore_drain(profcore *pc, profcore_emit_fn emit, void *ctx) {
    if (emit == NULL) return PROFCORE_E_NULL;
    int err = pc_reader_enter(pc);
    if (err != PROFCORE_OK) return err;
    if (pc_load_acquire_u32(&pc->state) == PC_STATE_DRAINED) {
        pc_reader_leave(pc);
        return PROFCORE_E_STATE;
    }
    /* The bound in a local: the loop's writes then need no argument that
     * they leave the configuration alone (see proofs/README.md). */
    uint32_t shards = pc->cfg.shards;
    /*@ assert shards == \at(pc->cfg.shards, Pre); */
    /*@ loop invariant 0 <= s <= shards;
        loop invariant pc_layout(pc) && pc->cfg.shards == shards;
        loop assigns s, pc->shards[0 .. shards - 1].handoff;
        loop variant shards - s; */
    for (uint32_t s = 0; s < shards; s++) pc_drain_published(pc, s, emit, ctx);
    pc_emit_losses(pc, emit, ctx);
    pc_reader_leave(pc);
    return PROFCORE_OK;
}

/*@ requires pc_handle_arg(pc) && (emit == \null || emit == &pc_emit_contract);
    requires busy_shards == \null || (\valid(busy_shards) && \separated(busy_shards, pc) &&
             (pc != \null && pc->magic == PROFCORE_MAGIC ==>
                \separated(busy_shards, pc->shards + (0 .. pc->cfg.shards - 1))));
    assigns pc->reader, pc->state, pc->shards[0 .. pc->cfg.shards - 1].owner,
            pc->shards[0 .. pc->cfg.shards - 1].handoff, pc->shards[0 .. pc->cfg.shards - 1].used,
            pc->tables[0 .. pc_mul(pc->cfg.shards, pc_tw(pc->cfg)) - 1],
            pc->reported_loss[0 .. PROFCORE_LOSS_REASONS - 1], *busy_shards;
    ensures \result == PROFCORE_OK || \result == PROFCORE_BUSY || \result < 0; */
PROFCORE_API PC_PUBLIC_UNUSED_OK int profcore_collect(profcore *pc, profcore_emit_fn emit, void *ctx,
                                  uint32_t *busy_shards) {
    if (emit == NULL) return PROFCORE_E_NULL;
    int err = pc_reader_enter(pc);
    if (err != PROFCORE_OK) return err;
    if (pc_load_acquire_u32(&pc->state) == PC_STATE_DRAINED) {
        pc_reader_leave(pc);
        return PROFCORE_E_STATE;
    }
    uint32_t busy = pc_collect_all(pc, emit, ctx);
    pc_emit_losses(pc, emit, ctx);
    pc_reader_leave(pc);
    if (busy_shards != NULL) *busy_shards = busy;
    return busy == 0 ? PROFCORE_OK : PROFCORE_BUSY;
}

/* True when no writer holds a shard and no loss-only add is in flight.
 * Seq_cst loads: the stop side of the handshake (see pc_shard_try_acquire
 * and pc_count_loss_unowned; model step "quiescent"). */
/*@ requires pc_layout(pc);
    assigns \nothing; */
static bool pc_quiescent(profcore *pc) {
    /*@ loop invariant 0 <= s <= pc->cfg.shards;
        loop assigns s;
        loop variant pc->cfg.shards - s; */
    for (uint32_t s = 0; s < pc->cfg.shards; s++)
        if (pc_load_seqcst_u32(&pc->shards[s].owner) == PC_OWNER_WRITER) return false;
    return pc_load_seqcst_u32(&pc->loss_inflight) == 0;
}

/*@ requires pc_handle_arg(pc);
    assigns pc->reader, pc->state;
    ensures \result == PROFCORE_OK || \result == PROFCORE_BUSY || \result < 0; */
PROFCORE_API PC_PUBLIC_UNUSED_OK int profcore_stop(profcore *pc) {
    int err = pc_reader_enter(pc);
    if (err != PROFCORE_OK) return err;
    uint32_t state = pc_load_acquire_u32(&pc->state);
    if (state == PC_STATE_DRAINED) {
        pc_reader_leave(pc);
        return PROFCORE_E_STATE;
    }
    /* Seq_cst store: the stop side of the handshake; from here on every add
     * that starts rejects at its first load of state, and every add that
     * takes a shard or enters the loss bracket sees STOPPED. */
    if (state == PC_STATE_RUNNING) /* model: step "stop" */
        pc_store_seqcst_u32(&pc->state, PC_STATE_STOPPED);
    bool idle = pc_quiescent(pc);
    pc_reader_leave(pc);
    return idle ? PROFCORE_OK : PROFCORE_BUSY;
}

/*@ requires pc_handle_arg(pc) && (emit == \null || emit == &pc_emit_contract);
    assigns pc->reader, pc->state, pc->shards[0 .. pc->cfg.shards - 1].owner,
            pc->shards[0 .. pc->cfg.shards - 1].handoff, pc->shards[0 .. pc->cfg.shards - 1].used,
            pc->tables[0 .. pc_mul(pc->cfg.shards, pc_tw(pc->cfg)) - 1],
            pc->reported_loss[0 .. PROFCORE_LOSS_REASONS - 1];
    ensures \result == PROFCORE_OK || \result == PROFCORE_BUSY || \result < 0; */
PROFCORE_API PC_PUBLIC_UNUSED_OK int profcore_final_drain(profcore *pc, profcore_emit_fn emit, void *ctx) {
    if (emit == NULL) return PROFCORE_E_NULL;
    int err = pc_reader_enter(pc);
    if (err != PROFCORE_OK) return err;
    if (pc_load_acquire_u32(&pc->state) != PC_STATE_STOPPED) {
        pc_reader_leave(pc);
        return PROFCORE_E_STATE;
    }
    if (!pc_quiescent(pc)) {
        pc_reader_leave(pc);
        return PROFCORE_BUSY;
    }
    /* An add that passed its first state check just before the stop may
     * still take a shard for a moment to find STOPPED; such a
     * shard is skipped now and harvested by the next call (records already
     * emitted were cleared, so nothing is emitted twice). */
    uint32_t busy = pc_collect_all(pc, emit, ctx);
    pc_emit_losses(pc, emit, ctx);
    /* Release: pairs with the acquire loads of state in the reader calls
     * (model: step "set_drained"). */
    if (busy == 0) pc_store_release_u32(&pc->state, PC_STATE_DRAINED);
    pc_reader_leave(pc);
    return busy == 0 ? PROFCORE_OK : PROFCORE_BUSY;
}

#endif /* PROFCORE_IMPLEMENTATION */

/* ---------------------------------------------------------------------------
 * MIT License
 *
 * Copyright (c) 2026 the profcore authors
 *
 * Permission is hereby granted, free of charge, to any person obtaining a copy
 * of this software and associated documentation files (the "Software"), to
 * deal in the Software without restriction, including without limitation the
 * rights to use, copy, modify, merge, publish, distribute, sublicense, and/or
 * sell copies of the Software, and to permit persons to whom the Software is
 * furnished to do so, subject to the following conditions:
 *
 * The above copyright notice and this permission notice shall be included in
 * all copies or substantial portions of the Software.
 *
 * THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 * IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 * FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
 * AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 * LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING
 * FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS
 * IN THE SOFTWARE.
 * ------------------------------------------------------------------------- */
