#!/usr/bin/env python3
"""traces.py — what `go tool pprof -traces` says about a profile's stacks.

    traces.py stats PROFILE [BINARY]
        prints: samples, % reaching a root (main, or start_thread for
        threads), mean depth (frames, inline frames included), and the
        % of samples in the given function (--in NAME, repeatable)
    traces.py same A.pb.gz B.pb.gz BINARY
        prints a_in_b: the % of A's samples whose stack (leaf to main) is a
        subsequence of a stack of B (B has every frame A has), and b_in_a:
        the % of B's samples whose stack equals one of A's

The reader is pprof itself (go tool pprof), not our own decoder, so what is
checked is what a user sees.  Sample counts come from -sample_index=samples.
"""
import subprocess
import sys

# A stack is complete when it reaches main, or (for a stripped main, as in
# Debian's python3 and xz) main's caller in libc, or a thread's start.
ROOTS = ("main", "__libc_start_call_main", "__libc_start_main", "start_thread")


def traces(profile, binary=None):
    cmd = ["go", "tool", "pprof", "-traces", "-sample_index=samples"]
    cmd += [binary, profile] if binary else [profile]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    stacks = []  # (count, [frames leaf first])
    cur = None
    for line in out.splitlines():
        if line.startswith("-----------+"):
            if cur and cur[1]:
                stacks.append(cur)
            cur = [0, []]
            continue
        if cur is None:
            continue
        s = line.strip()
        if not s or s.startswith("bytes:") or s.startswith("tid:") or ":" in s.split()[0]:
            continue  # label lines ("tid:  123", "label: x")
        parts = line.split()
        if not cur[1] and parts and parts[0].isdigit():
            cur[0] = int(parts[0])
            name = line.split(None, 1)[1].strip() if len(parts) > 1 else ""
        else:
            name = s
        if name:
            cur[1].append(name)
    if cur and cur[1]:
        stacks.append(cur)
    return stacks


def is_root(f):
    return any(f == r or f.startswith(r + " ") or f.startswith(r + "@") for r in ROOTS)


def reaches_root(frames):
    return any(is_root(f) for f in frames)


def up_to_root(frames):
    """The stack from the leaf to its first root frame (what the program owns)."""
    for i, f in enumerate(frames):
        if is_root(f):
            return tuple(frames[:i + 1])
    return tuple(frames)


def stats(profile, binary=None, inside=()):
    st = traces(profile, binary)
    total = sum(c for c, _ in st)
    rooted = sum(c for c, f in st if reaches_root(f))
    depth = sum(c * len(f) for c, f in st)
    res = {"samples": total, "rooted_pct": 100.0 * rooted / total if total else 0.0,
           "mean_depth": depth / total if total else 0.0}
    for name in inside:
        n = sum(c for c, f in st if any(x.startswith(name) for x in f))
        res["in_" + name] = 100.0 * n / total if total else 0.0
    return res


def is_subsequence(small, big):
    it = iter(big)
    return all(any(x == y for y in it) for x in small)


def same(a, b, binary):
    """% of A's samples whose stack (leaf to root) is a subsequence of some
    stack of B (B found every frame A found, maybe more), and the % of B's
    samples whose stack equals one of A's."""
    sa, sb = traces(a, binary), traces(b, binary)
    ka = {up_to_root(f) for _, f in sa}
    kb = {up_to_root(f) for _, f in sb}
    ta, tb = sum(c for c, _ in sa), sum(c for c, _ in sb)
    a_in_b = 100.0 * sum(c for c, f in sa
                         if any(is_subsequence(up_to_root(f), k) for k in kb)) / ta if ta else 0.0
    b_in_a = 100.0 * sum(c for c, f in sb if up_to_root(f) in ka) / tb if tb else 0.0
    return a_in_b, b_in_a


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "stats":
        args = sys.argv[2:]
        inside = []
        while "--in" in args:
            i = args.index("--in")
            inside.append(args[i + 1])
            del args[i:i + 2]
        r = stats(args[0], args[1] if len(args) > 1 else None, inside)
        print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))
    elif len(sys.argv) == 5 and sys.argv[1] == "same":
        x, y = same(sys.argv[2], sys.argv[3], sys.argv[4])
        print(f"a_in_b={x:.2f} b_in_a={y:.2f}")
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
