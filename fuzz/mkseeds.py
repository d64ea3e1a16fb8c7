#!/usr/bin/env python3
"""fuzz/mkseeds.py — writes the hand-made seeds of fuzz/corpus (seed-*).

Each seed aims at one path of the core; the rest of the corpus was found by
libFuzzer and minimised with `make fuzz-merge`.  The input format is the
decoder's in fuzz/harness.c (fz_decode):
  5 header bytes: shards, buckets|ways, max_depth, log_words, writers
  per writer: op count, 4 bytes per op; reader: op count, 1 byte per op;
  signal ops: count, 4 bytes each; then one schedule byte per yield point:
  0x00-0x7f keep going, 0x80|t switch to thread t, 0xc0 nested signal."""
import os, sys

ADD, ADD_NH, LOSS, INVALID = 0, 4, 6, 7
DRAIN, COLLECT, STOP, FINAL = 0, 1, 2, 3
GO, SIG = 0x00, 0xC0
def SW(t): return 0x80 | t

def op(kind=ADD, aux=0, depth=1, tag=0, weight=1, frames=(0,)):
    choice = 0
    for i, f in enumerate(frames): choice |= (f & 3) << (2 * i)
    return bytes([kind | aux << 3, (depth - 1) | tag << 3 | (weight - 1) << 5,
                  choice & 0xFF, choice >> 8])

def seed(shards=0, buckets=0, ways=1, max_depth=0, log_extra=0, writers=(), reader=(),
         signals=(), schedule=(), flags=0):
    # flags: 1 = API misuse checks first, 2 = a re-entrant drain from the callback
    out = bytes([shards, buckets | (ways - 1) << 1, max_depth, log_extra, len(writers) - 1 + 3 * flags])
    for w in writers: out += bytes([len(w)]) + b''.join(w)
    out += bytes([len(reader)]) + bytes(reader)
    out += bytes([len(signals)]) + b''.join(signals)
    return out + bytes(schedule)

S = {}
stacks = [op(depth=2, frames=(a, b)) for a in range(4) for b in range(4)]
# Evictions into a one-record log: every miss evicts, every eviction hands off or is LOG_FULL.
S['evict-handoff-logfull'] = seed(writers=[stacks[:10]], reader=[DRAIN, COLLECT, DRAIN])
S['api-misuse-reentrant'] = seed(writers=[stacks[:3]], reader=[DRAIN, COLLECT], flags=3)
S['evict-drain-interleaved'] = seed(writers=[stacks[:12]], reader=[DRAIN] * 8,
                                    schedule=[GO] * 20 + [SW(1)] + [GO] * 10 + [SW(0)] + [SW(1)] * 40)
# No-handoff path fills the active half and then drops.
S['nohandoff-full'] = seed(writers=[[op(ADD_NH, depth=2, frames=(i % 4, i // 4)) for i in range(10)]])
# Nested signals: two levels on a one-shard core (CONTENDED), then on two shards.
S['nested-contended'] = seed(writers=[[op(depth=1)] * 2], signals=[op(depth=2, frames=(1, 2))] * 4,
                             schedule=[GO, SIG, SIG, GO, GO, SIG])
S['nested-two-shards'] = seed(shards=1, writers=[[op(depth=1)] * 3], signals=[op(ADD, aux=1, depth=1)] * 6,
                              schedule=[SIG, SIG, SIG, GO, SIG, SIG])
# Stop while a writer is mid-add; final drain polled; adds after stop rejected.
S['stop-busy-final'] = seed(writers=[[op(depth=1, frames=(i,)) for i in range(4)]],
                            reader=[STOP, FINAL, STOP, FINAL, FINAL, DRAIN, COLLECT],
                            schedule=[GO, SW(1), GO, GO, GO, GO, SW(0), GO, GO, GO, GO, GO, GO, SW(1)])
S['final-before-stop'] = seed(writers=[[op()]], reader=[FINAL, STOP, FINAL, DRAIN, COLLECT, STOP])
# Collect while a writer holds the shard (busy), and a signal on the reader while it copies.
S['collect-busy'] = seed(writers=[stacks[:4]], reader=[COLLECT, COLLECT, COLLECT],
                         signals=[op(depth=2, frames=(3, 3))] * 3,
                         schedule=[GO] * 5 + [SW(1)] + [GO] * 3 + [SW(0)] + [GO] * 30 + [SIG, SIG])
# Invalid input on both paths and every caller loss reason (and misused ones).
inv = [op(INVALID, aux=a, depth=3) for a in range(8)] + [op(INVALID, aux=8 * 3 + 3, depth=3)]
loss = [op(LOSS, aux=a, weight=w) for a in (0, 1, 2, 3, 7, 11, 15, 19, 23, 27, 31) for w in (1, 2)]
loss += [bytes([LOSS, 0, 0, 0])]  # weight 0
S['invalid-and-losses'] = seed(writers=[inv, loss], reader=[DRAIN, COLLECT])
# Truncation (depth > max_depth) and hash twins (same 32-bit hash, different stacks/tags).
S['truncated'] = seed(max_depth=0, writers=[[op(depth=8, frames=(0, 1, 2, 3, 0, 1, 2, 3)),
                                              op(depth=5, frames=(0, 1, 2, 3, 3)), op(depth=3)]])
S['hash-twins'] = seed(buckets=0, ways=3, writers=[[op(depth=1, tag=0, frames=(0,)),
                                                     op(depth=1, tag=0, frames=(2,)),
                                                     op(depth=1, tag=2, frames=(0,)),
                                                     op(depth=1, tag=0, frames=(0,))]])
# Three writers and a reader on four shards, switching often.
S['three-writers'] = seed(shards=2, buckets=1, ways=2, writers=[stacks[:6], stacks[6:12], stacks[10:16]],
                          reader=[DRAIN, COLLECT, DRAIN, STOP, FINAL, FINAL],
                          schedule=[SW(i % 4) for i in range(200)])

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'corpus')
os.makedirs(out, exist_ok=True)
for name, data in S.items():
    with open(os.path.join(out, 'seed-' + name), 'wb') as f: f.write(data)
print(f'{len(S)} seeds written to {out}')
