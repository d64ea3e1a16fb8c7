/* proofs/profcore.pml -- the concurrent protocol of core/profcore.h, in SPIN.
 *
 * What is modelled, as the code implements it (names are the code's):
 *   - W writer threads, each doing ADDS calls of pc_add (profcore_add);
 *     every add first loads state and rejects at once when stopped (step
 *     "precheck"), before it takes a shard or opens the loss bracket;
 *   - a signal handler nested on writer 0: it may fire at any step of
 *     writer 0 and runs a complete pc_add (with or without handoff) while
 *     writer 0 makes no progress (`provided` clause below);
 *   - S shards taken by one CAS each (pc_shard_try_acquire), at most S tries,
 *     else the loss bracket (pc_count_loss_unowned, reason CONTENDED);
 *   - a one-entry table per shard (a hit adds the weight, a miss evicts the
 *     entry into the active log half: pc_table_put, pc_evict), log halves of LOGCAP
 *     records, the publishing CAS (pc_log_reserve) and LOG_FULL /
 *     NOHANDOFF_FULL losses;
 *   - one reader: ROUNDS rounds, each a profcore_drain (pc_drain_published:
 *     take, read, release) or a profcore_collect (pc_collect_all while the
 *     writers run: every shard it can take as READER is harvested, its
 *     published half, active half and table, then released), then
 *     profcore_stop polled until quiescent, then profcore_final_drain
 *     polled (pc_collect_all / pc_harvest_owned, pc_emit_losses) until
 *     DRAINED.
 * Each labelled step is one atomic access of the code's atomics layer;
 * owned (plain) accesses are separate steps where a race would matter.
 * Memory is sequentially consistent here: weak-memory orderings are what
 * the code's acquire/release/seq_cst choices and TSan (tests/) cover.
 *
 * Checked (make suite-proofs-spin, proofs/run-spin; every run exhaustive,
 * lossless COLLAPSE compression only, never bitstate or hash-compact):
 *   safety (S=2 W=2 ADDS=1 ROUNDS=1), and safety-logfull (the same with
 *     PREFILL_TAB=1: every table entry starts full, so evictions publish and
 *     LOG_FULL / NOHANDOFF_FULL are taken): assertions -- conservation
 *     (offered = emitted + rejected once everything is drained), no record
 *     read twice or torn, no reader read of a half a writer may still be
 *     writing -- and no invalid end state (nothing deadlocks);
 *   reach-log-full (COVER): the LOG_FULL step asserts, and pan must report
 *     it: the step is reachable (run-spin also prints, from the exhaustive
 *     runs' "unreached" reports, in which proctypes it is reached);
 *   live-stops (LIVE, ROUNDS=0, weak fairness -f, acceptance cycles -a):
 *     the LTL formula `stops` -- profcore_stop and the final drain
 *     eventually complete, on every weakly fair run;
 *   live-endless (LIVE, ENDLESS, ADDS=0, ROUNDS=0, weak fairness): the same
 *     formula `stops` while writer 1 adds forever (a timer still armed
 *     after stop): stop and the final drain complete even then, because an
 *     add that starts after the stop rejects at "precheck" and takes no
 *     shard.  Table counts saturate at 2 under ENDLESS (only zero/nonzero
 *     steers the protocol), so the state space is finite;
 *   handler-alone (SOLO, LIVE, ROUNDS=0, acceptance cycles, no fairness):
 *     no state where a handler waits.  The process `freezer` may, at any
 *     step of the handler and from any reachable state, set `solo`, after
 *     which every other thread (provided clauses) stops for good.  The LTL
 *     formula `handler_alone` requires the handler to finish anyway: a
 *     handler blocked on anything (a stutter-extended acceptance cycle) or
 *     spinning until another thread acts (a cycle) violates it.  This is
 *     stronger than `[] (in_handler -> <> !in_handler)` under fairness,
 *     which a handler waiting for another thread (not writer 0) satisfies.
 *   Mutants (run-spin builds them from this file with sed): a handler that
 *     retries a shard the reader holds instead of moving on (caught only by
 *     handler-alone), a reader that does not release the half (safety),
 *     a stop that spins until the halves are drained (live-stops), an add
 *     without its precheck (live-endless: this is the bug the model found
 *     in the code before the precheck existed; a shard is then busy at
 *     every poll on some fair run), a profcore_collect that harvests a
 *     shard without taking it (safety: it reads a half being written).
 * LIVE hides the ghost and data-only variables (see GHOST below): the same
 * steps and guards, fewer distinct states.  ROUNDS=0 in the liveness runs:
 * the reader's drain-before-stop rounds are covered by the safety runs only.
 * The formula `live` (stops and every handler ends, under fairness) also
 * holds for LIVE ROUNDS=0 (about 22 M states, 3 min); it is not in CI.
 * Not checked: W=3 (more than 70 M states even with ROUNDS=0), more than
 * one finite add per writer, an endless stream together with finite adds
 * on writer 0 (ADDS=1 with ENDLESS: 8 min of search here, too long for
 * CI), endless streams on two writers.
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
#ifndef PREFILL_TAB
#define PREFILL_TAB 0 /* 1: each shard's table entry already holds stack 3 */
#endif
#define NREC 16      /* ghost: record serials */

/* LIVE (liveness run): the ghost and data-only variables -- those no guard
 * and no control variable ever reads -- are `hidden`, i.e. kept out of the
 * state vector.  The control skeleton (every guard, every step) is the same
 * as in the safety run, so the LIVE state graph is the exact projection of
 * the full one on the control variables, and LTL over those is decided
 * exactly.  Ghost assertions are still evaluated along each path, but their
 * verdicts are claimed only by the safety run. */
/* COVER: the LOG_FULL step fails an assertion, so a run that reports it
 * proves the step reachable (run-spin, run "reach-log-full"). */
#ifdef COVER
bit log_full_reached;
#define COVER_LOG_FULL ; log_full_reached = 1; assert(!log_full_reached)
#else
#define COVER_LOG_FULL
#endif

#ifdef LIVE
#define GHOST hidden
#else
#define GHOST
#endif

/* A table count grows by the weight; with ENDLESS it saturates at 2 (only
 * zero / nonzero steers the protocol) so the state space stays finite. */
#ifdef ENDLESS
#define COUNT_UP(c) if :: c < 2 -> c++ :: else -> skip fi
#else
#define COUNT_UP(c) c++
#endif

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
GHOST byte log_stack[S*2*LOGCAP];
GHOST byte log_weight[S*2*LOGCAP];
GHOST byte log_serial[S*2*LOGCAP];
GHOST byte writing[S*2]; /* ghost: a writer is inside pc_log_append on this half */
byte state = RUNNING;     /* atomic */
byte loss_inflight;       /* atomic */
GHOST byte lost_weight;   /* atomic counter (all reasons) */
GHOST byte rejected_weight; /* atomic counter */
GHOST byte reported_loss; /* reader-private */
#ifdef LIVE
hidden byte r_ser;        /* reader scratch: a record's serial (read_record) */
hidden byte r_total;      /* reader scratch: the counter load (emit_losses) */
#endif

/* ghost bookkeeping */
GHOST byte offered;       /* weight offered */
GHOST byte emitted;       /* weight the reader emitted (records + loss records) */
GHOST byte next_serial = 1;
GHOST byte ghost_stack[NREC];
GHOST byte ghost_weight[NREC];
GHOST int  seen;          /* bit per serial: already read */
bit  in_handler;          /* writer 0 is interrupted */
GHOST byte handler_started;
byte writers_done;
#ifdef SOLO
bit  solo;                /* handler check: from here on only the handler runs */
#endif
bit  stop_ok;             /* profcore_stop returned OK */
bit  drained;             /* profcore_final_drain returned OK */

/* pc_count_loss_unowned: the loss bracket (no shard held), entered only
 * while the first load of state still reads RUNNING. */
inline count_loss_unowned() {
    if
    :: state != RUNNING ->                             /* seq_cst load ("precheck") */
        rejected_weight++                              /* pc_count_rejected */
    :: else ->
        loss_inflight++;                               /* pc_add_seqcst_u32 */
        if
        :: state != RUNNING -> rejected_weight++       /* pc_count_rejected */
        :: else -> lost_weight++                       /* pc_count_loss_owned */
        fi;
loss_close:
        loss_inflight--                                /* pc_sub_release_u32 */
    fi
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

/* The rest of pc_add, after its first load of state read RUNNING. */
inline pc_add_running(start, stk, may_handoff) {
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
stop_release:
            owner[s] = FREE;                           /* pc_shard_release */
            rejected_weight++                          /* pc_count_rejected */
        :: else ->
            /* pc_add_owned with shard s held (owned steps: pc_table_put). */
            if
            :: tab_count[s] != 0 && tab_stack[s] == stk ->
                COUNT_UP(tab_count[s])                  /* a hit: count += weight */
            :: else ->
                ok = 1;
                if
                :: tab_count[s] != 0 ->                 /* pc_evict: the victim */
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
                                :: else ->              /* LOG_FULL */
log_full:                           ok = 0 COVER_LOG_FULL
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
owned_release:
            owner[s] = FREE                            /* pc_shard_release */
        fi
    fi
}

/* pc_add: stk is the stack id, may_handoff false for add_nohandoff. */
inline pc_add(start, stk, may_handoff) {
    offered++;
precheck:
    if
    :: state != RUNNING -> rejected_weight++           /* seq_cst load; pc_count_rejected */
    :: else -> pc_add_running(start, stk, may_handoff)
    fi
}

/* The reader's read of one record of half hh at slot k: never a half a
 * writer is appending to, never a record twice, never torn. */
inline read_record(hh, k) {
    idx = hh*LOGCAP + k;
    assert(!writing[hh]);
    r_ser = log_serial[idx];
    assert(r_ser > 0 && r_ser < NREC);
    assert((seen & (1 << r_ser)) == 0);
    seen = seen | (1 << r_ser);
    assert(log_stack[idx] == ghost_stack[r_ser]);
    assert(!writing[hh]);
    assert(log_weight[idx] == ghost_weight[r_ser]);
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
    r_total = lost_weight;                             /* pc_counter_load */
    emitted = emitted + (r_total - reported_loss);
    reported_loss = r_total
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

/* A writer thread: ADDS calls of profcore_add, alternating two stacks.
 * ENDLESS: writers other than writer 0 add forever (a timer still armed
 * after stop), each call with either stack. */
inline writer_body(t) {
#ifdef ENDLESS
    if
    :: t != 0 ->
        do
        :: pc_add(t, 1, 1)
        :: pc_add(t, 2, 1)
        od
    :: else -> skip
    fi;
#endif
    do
    :: n_add < ADDS -> pc_add(t, (t + n_add) % 2 + 1, 1); n_add++
    :: else -> break
    od;
    writers_done++
}

/* Writer 0 is the thread the handler interrupts: it makes no progress
 * while in_handler is set. */
#ifdef SOLO
proctype writer0() provided (!in_handler && !solo) {
#else
proctype writer0() provided (!in_handler) {
#endif
    byte i, s, idx, n_add;
    bit got, ok;
    writer_body(0)
}

#ifdef SOLO
proctype writer(byte t) provided (!solo) {
#else
proctype writer(byte t) {
#endif
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

#ifdef SOLO
/* The handler check: at any step of the handler (from any reachable state,
 * whatever the other threads did meanwhile) every other thread may stop
 * for good.  The handler must still finish alone. */
proctype freezer() {
    atomic { in_handler -> solo = 1 }
}
#endif

#define C_DRAIN 0   /* profcore_drain */
#define C_STOP 1    /* profcore_stop */
#define C_FINAL 2   /* profcore_final_drain */
#define C_COLLECT 3 /* profcore_collect: pc_collect_all while running */
/* One reader thread: a few profcore_drain calls, then profcore_stop polled
 * until OK, then profcore_final_drain polled until OK (DRAINED). */
#ifdef SOLO
proctype reader() provided (!solo) {
#else
proctype reader() {
#endif
    byte h, n, k, idx, j, busy, rounds, call;
#ifndef LIVE
    byte r_ser, r_total;  /* scratch (hidden globals in LIVE) */
#endif
    bit idle, mine;
    do
    :: drained -> break
    :: else ->
        if
        :: !stop_ok && rounds < ROUNDS -> call = C_DRAIN; rounds++
        :: !stop_ok && rounds < ROUNDS -> call = C_COLLECT; rounds++
        :: !stop_ok -> call = C_STOP
        :: stop_ok -> call = C_FINAL
        fi;
        if
        :: call == C_STOP ->
stop:       if :: state == RUNNING -> state = STOPPED :: else -> skip fi;   /* seq_cst store */
            idle = 0;
quiescent:  pc_quiescent();
            stop_ok = idle                                  /* OK, else BUSY: poll again */
        :: call == C_FINAL -> pc_quiescent()                /* BUSY if not idle */
        :: call == C_DRAIN || call == C_COLLECT -> idle = 1
        fi;
        if
        :: call != C_STOP && idle ->
            busy = 0;
            j = 0;
            do
            :: j < S ->
                mine = 1;
                if
                :: call == C_FINAL || call == C_COLLECT ->
reader_take:        atomic {                               /* pc_shard_try_acquire(READER) */
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
                    :: call == C_FINAL || call == C_COLLECT -> /* rest of pc_harvest_owned */
                        k = 0;
                        do
                        :: k < used[j] -> read_record(j*2 + act[j], k); k++
                        :: else -> break
                        od;
                        used[j] = 0;
                        emitted = emitted + tab_count[j];
                        tab_count[j] = 0;
reader_release:         owner[j] = FREE                    /* pc_shard_release */
                    :: else -> skip
                    fi
                :: else -> busy++
                fi;
                j++
            :: else -> break
            od;
            emit_losses();                                 /* pc_emit_losses */
            if
            :: call == C_FINAL && busy == 0 ->
set_drained:    state = DRAINED; drained = 1
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
            next_serial++; used[z] = 1; offered++;
#if PREFILL_TAB
            tab_stack[z] = 3; tab_count[z] = 1; offered++;  /* an older stack */
#endif
            z++
        :: else -> break
        od;
        byte t = 1;
        run writer0();
        do
        :: t < W -> run writer(t); t++
        :: else -> break
        od;
        run handler();
#ifdef SOLO
        run freezer();
#endif
        run reader()
    };
    /* Everything finished: conservation, exactly (I1). */
    (drained && writers_done == W + 1);
    assert(offered == emitted + rejected_weight)
}

/* Liveness runs (LIVE, weak fairness): stop and the final drain complete.
 * With finitely many adds: writers are wait-free, so under weak fairness
 * they finish and stop's poll then sees quiescence.  With a stream of adds
 * that never ends (ENDLESS): only adds that passed "precheck" before the
 * stop can still hold a shard, and each finishes; every later add rejects
 * without taking one.  (Without the precheck a late add takes a shard
 * before it reads STOPPED, and a stream of them can keep some shard
 * WRITER-owned at every poll: mutant no-precheck.) */
ltl stops { <> (stop_ok && drained) }
/* The same and every handler that starts ends (the formula of the issue). */
ltl live { <> (stop_ok && drained) && [] (in_handler -> <> !in_handler) }
#ifdef SOLO
/* Handler check (SOLO, no fairness needed: once `solo` is set nothing but
 * the handler can move): the handler finishes alone.  A handler that
 * blocks is a stutter-extended acceptance cycle, one that spins a cycle. */
ltl handler_alone { [] (solo -> <> !in_handler) }
#endif
