/* proofs/profcore.pml -- the concurrent protocol of core/profcore.h, in SPIN.
 *
 * What is modelled, as the code implements it (names are the code's):
 *   - W writer threads, each doing ADDS calls of pc_add (profcore_add);
 *   - a signal handler nested on writer 0: it may fire at any step of
 *     writer 0 and runs a complete pc_add (with or without handoff) while
 *     writer 0 makes no progress (`provided` clause below);
 *   - S shards taken by one CAS each (pc_shard_try_acquire), at most S tries,
 *     else the loss bracket (pc_count_loss_unowned, reason CONTENDED);
 *   - a one-entry table per shard (a hit adds the weight, a miss evicts the
 *     entry into the active log half: pc_add_owned), log halves of LOGCAP
 *     records, the publishing CAS (pc_log_reserve) and LOG_FULL /
 *     NOHANDOFF_FULL losses;
 *   - one reader: profcore_drain rounds (pc_drain_published: take, read,
 *     release), then profcore_stop polled until quiescent, then
 *     profcore_final_drain polled (pc_collect_all / pc_harvest_owned,
 *     pc_emit_losses) until DRAINED.
 * Each labelled step is one atomic access of the code's atomics layer;
 * owned (plain) accesses are separate steps where a race would matter.
 * Memory is sequentially consistent here: weak-memory orderings are what
 * the code's acquire/release/seq_cst choices and TSan (tests/) cover.
 *
 * Checked (make suite-proofs-spin):
 *   safety run: assertions -- conservation (offered = emitted + rejected once
 *     everything is drained), no record read twice or torn, no reader read of
 *     a half a writer may still be writing -- and no invalid end state;
 *   liveness run (weak fairness): the LTL formula `live` -- stop and the
 *     final drain eventually complete, and every handler that starts ends.
 *     Since the interrupted thread cannot run while its handler does, a
 *     handler that waited for anything would violate it: no handler waits.
 */

#ifndef S
#define S 2          /* shards */
#endif
#ifndef W
#define W 2          /* writer threads */
#endif
#ifndef ADDS
#define ADDS 1       /* adds per writer thread */
#endif
#define LOGCAP 1     /* records per log half */
#ifndef ROUNDS
#define ROUNDS 1     /* profcore_drain calls before stop */
#endif
#define NREC 16      /* ghost: record serials */

#define FREE 0
#define WRITER 1
#define READER 2
#define RUNNING 0
#define STOPPED 1
#define DRAINED 2

byte owner[S];            /* atomic: FREE, WRITER, READER */
byte handoff[S];          /* atomic: 0, or used*2 + half + 1 (never 0 when published) */
byte act[S];           /* owned */
byte used[S];             /* owned: records in the active half */
byte tab_stack[S];        /* owned: the one table entry: stack id, count */
byte tab_count[S];
/* log: index (s*2 + half)*LOGCAP + k */
byte log_stack[S*2*LOGCAP];
byte log_weight[S*2*LOGCAP];
byte log_serial[S*2*LOGCAP];
bit  writing[S*2];        /* ghost: a writer is inside pc_log_append on this half */
byte state = RUNNING;     /* atomic */
byte loss_inflight;       /* atomic */
byte lost_weight;         /* atomic counter (all reasons) */
byte rejected_weight;     /* atomic counter */
byte reported_loss;       /* reader-private */

/* ghost bookkeeping */
byte offered;             /* weight offered */
byte emitted;             /* weight the reader emitted (records + loss records) */
byte next_serial = 1;
byte ghost_stack[NREC];
byte ghost_weight[NREC];
int  seen;                /* bit per serial: already read */
bit  in_handler;          /* writer 0 is interrupted */
bit  handler_started;
byte writers_done;
bit  stop_ok;             /* profcore_stop returned OK */
bit  drained;             /* profcore_final_drain returned OK */

/* pc_count_loss_unowned: the loss bracket (no shard held). */
inline count_loss_unowned() {
    loss_inflight++;                                   /* pc_add_seqcst_u32 */
    if
    :: state != RUNNING -> rejected_weight++           /* pc_count_rejected */
    :: else -> lost_weight++                           /* pc_count_loss_owned */
    fi;
    loss_inflight--                                    /* pc_sub_release_u32 */
}

/* pc_log_append: a record in two owned steps; the ghost `writing` flag lets
 * the reader assert it never reads a half while this runs. */
inline log_append(sh, stk, wt) {
    atomic {
        idx = (sh*2 + act[sh])*LOGCAP + used[sh];
        writing[sh*2 + act[sh]] = 1;
        log_serial[idx] = next_serial;
        ghost_stack[next_serial] = stk; ghost_weight[next_serial] = wt;
        next_serial++;
        log_stack[idx] = stk
    };
    atomic {
        log_weight[idx] = wt;
        used[sh]++;
        writing[sh*2 + act[sh]] = 0
    }
}

/* pc_add: stk is the stack id, may_handoff false for add_nohandoff. */
inline pc_add(start, stk, may_handoff) {
    offered++;
    i = 0;
    got = 0;
    do
    :: i < S ->
        s = (start + i) % S;
acquire: atomic {                                       /* pc_shard_try_acquire */
            if
            :: owner[s] == FREE -> owner[s] = WRITER; got = 1
            :: else -> skip
            fi
        };
        if
        :: got -> break
        :: else -> i++
        fi
    :: else -> break
    od;
    if
    :: !got -> count_loss_unowned()                    /* CONTENDED */
    :: got ->
check_stop:
        if
        :: state != RUNNING ->
            rejected_weight++;
            owner[s] = FREE                            /* pc_shard_release */
        :: else ->
            /* pc_add_owned with shard s held (owned steps). */
            if
            :: tab_count[s] != 0 && tab_stack[s] == stk ->
                tab_count[s]++                          /* a hit: count += weight */
            :: else ->
                ok = 1;
                if
                :: tab_count[s] != 0 ->                 /* evict the victim */
                    if
                    :: used[s] < LOGCAP -> skip         /* pc_log_reserve: room */
                    :: else ->
                        if
                        :: !may_handoff -> ok = 0       /* NOHANDOFF_FULL */
                        :: else ->
publish:                    atomic {                    /* CAS(handoff, 0, used<<1|active) */
                                if
                                :: handoff[s] == 0 ->
                                    handoff[s] = used[s]*2 + act[s] + 1;
                                    act[s] = 1 - act[s];
                                    used[s] = 0
                                :: else -> ok = 0       /* LOG_FULL */
                                fi
                            }
                        fi
                    fi;
                    if
                    :: ok -> log_append(s, tab_stack[s], tab_count[s])
                    :: else -> lost_weight++            /* pc_count_loss_owned */
                    fi
                :: else -> skip
                fi;
                if
                :: ok -> tab_stack[s] = stk; tab_count[s] = 1   /* pc_entry_fill */
                :: else -> skip
                fi
            fi;
            owner[s] = FREE                            /* pc_shard_release */
        fi
    fi
}

/* The reader's read of one record of half hh at slot k: never a half a
 * writer is appending to, never a record twice, never torn. */
inline read_record(hh, k) {
    idx = hh*LOGCAP + k;
    assert(!writing[hh]);
    ser = log_serial[idx];
    assert(ser > 0 && ser < NREC);
    assert((seen & (1 << ser)) == 0);
    seen = seen | (1 << ser);
    assert(log_stack[idx] == ghost_stack[ser]);
    assert(!writing[hh]);
    assert(log_weight[idx] == ghost_weight[ser]);
    emitted = emitted + log_weight[idx]
}

/* pc_drain_published for shard sh. */
inline drain_published(sh) {
    h = 0;
take: h = handoff[sh];                                   /* acquire load */
    if
    :: h != 0 ->
        n = (h - 1) / 2;
        k = 0;
        do
        :: k < n -> read_record(sh*2 + (h - 1) % 2, k); k++
        :: else -> break
        od;
release:
        handoff[sh] = 0                                /* release store */
    :: else -> skip
    fi
}

/* pc_emit_losses: one load of the counter (total), delta since last report. */
inline emit_losses() {
    total = lost_weight;                               /* pc_counter_load */
    emitted = emitted + (total - reported_loss);
    reported_loss = total
}

/* pc_quiescent: no writer holds a shard and no loss bracket is open. */
inline pc_quiescent() {
    idle = 1;
    j = 0;
    do
    :: j < S -> if :: owner[j] == WRITER -> idle = 0 :: else -> skip fi; j++
    :: else -> break
    od;
    if :: loss_inflight != 0 -> idle = 0 :: else -> skip fi
}

/* A writer thread: ADDS calls of profcore_add, alternating two stacks. */
inline writer_body(t) {
    do
    :: n_add < ADDS -> pc_add(t, (t + n_add) % 2 + 1, 1); n_add++
    :: else -> break
    od;
    writers_done++
}

/* Writer 0 is the thread the handler interrupts: it makes no progress
 * while in_handler is set. */
proctype writer0() provided (!in_handler) {
    byte i, s, idx, n_add;
    bit got, ok;
    writer_body(0)
}

proctype writer(byte t) {
    byte i, s, idx, n_add;
    bit got, ok;
    writer_body(t)
}

/* A SIGPROF on writer 0's thread: runs to completion while writer 0 is
 * frozen; it may come at any time, once, and uses either add flavour. */
proctype handler() {
    byte i, s, idx;
    bit got, ok, mh;
    if :: mh = 1 :: mh = 0 fi;
    atomic { in_handler = 1; handler_started = 1 };
    pc_add(0, 2, mh);
    in_handler = 0;
    writers_done++
}

#define C_DRAIN 0   /* profcore_drain */
#define C_STOP 1    /* profcore_stop */
#define C_FINAL 2   /* profcore_final_drain */
/* One reader thread: a few profcore_drain calls, then profcore_stop polled
 * until OK, then profcore_final_drain polled until OK (DRAINED). */
proctype reader() {
    byte h, n, k, idx, ser, j, busy, rounds, call, total;
    bit idle, mine;
    do
    :: drained -> break
    :: else ->
        if
        :: !stop_ok && rounds < ROUNDS -> call = C_DRAIN; rounds++
        :: !stop_ok -> call = C_STOP
        :: stop_ok -> call = C_FINAL
        fi;
        if
        :: call == C_STOP ->
            if :: state == RUNNING -> state = STOPPED :: else -> skip fi;   /* seq_cst store */
            idle = 0;
quiescent:  pc_quiescent();
            stop_ok = idle                                  /* OK, else BUSY: poll again */
        :: call == C_FINAL -> pc_quiescent()                /* BUSY if not idle */
        :: call == C_DRAIN -> idle = 1
        fi;
        if
        :: call != C_STOP && idle ->
            busy = 0;
            j = 0;
            do
            :: j < S ->
                mine = 1;
                if
                :: call == C_FINAL ->
                    atomic {                               /* pc_shard_try_acquire(READER) */
                        if
                        :: owner[j] == FREE -> owner[j] = READER
                        :: else -> mine = 0
                        fi
                    }
                :: else -> skip
                fi;
                if
                :: mine ->
                    drain_published(j);
                    if
                    :: call == C_FINAL ->                  /* rest of pc_harvest_owned */
                        k = 0;
                        do
                        :: k < used[j] -> read_record(j*2 + act[j], k); k++
                        :: else -> break
                        od;
                        used[j] = 0;
                        emitted = emitted + tab_count[j];
                        tab_count[j] = 0;
                        owner[j] = FREE                    /* pc_shard_release */
                    :: else -> skip
                    fi
                :: else -> busy++
                fi;
                j++
            :: else -> break
            od;
            emit_losses();                                 /* pc_emit_losses */
            if
            :: call == C_FINAL && busy == 0 -> state = DRAINED; drained = 1
            :: else -> skip
            fi
        :: else -> skip
        fi
    od
}

init {
    atomic {
        /* Earlier samples: each shard's active half already holds one
         * record, so the next eviction must publish (or lose on LOG_FULL):
         * the handoff is reached with few adds. */
        byte z = 0;
        do
        :: z < S ->
            log_serial[z*2*LOGCAP] = next_serial;
            ghost_stack[next_serial] = 1; ghost_weight[next_serial] = 1;
            log_stack[z*2*LOGCAP] = 1; log_weight[z*2*LOGCAP] = 1;
            next_serial++; used[z] = 1; offered++; z++
        :: else -> break
        od;
        byte t = 1;
        run writer0();
        do
        :: t < W -> run writer(t); t++
        :: else -> break
        od;
        run handler();
        run reader()
    };
    /* Everything finished: conservation, exactly (I1). */
    (drained && writers_done == W + 1);
    assert(offered == emitted + rejected_weight)
}

ltl live { <> (stop_ok && drained) && [] (in_handler -> <> !in_handler) }
