#!/usr/bin/env python3
"""pprof_sums.py FILE... — for each gzip'd profile.proto file, one line:
   FILE time_nanos duration_nanos samples lost
samples: the sum of every sample's first value (samples/count); lost: the
part of it under a "[lost: ...]" synthetic frame.  Exits 1 (and says why)
on a file that is not a complete gzip'd profile: a cut-off file fails the
gzip check or the protobuf walk, which is what the SIGKILL check needs.
A hand decoder of the few fields we need, so the test depends on nothing
but python3."""
import gzip
import sys


def varint(b, i):
    v = s = 0
    while True:
        if i >= len(b):
            raise ValueError("truncated varint")
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, i


def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(b, i)
        elif wire == 2:
            n, i = varint(b, i)
            if i + n > len(b):
                raise ValueError("truncated field %d" % num)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("unexpected wire type %d" % wire)
        yield num, wire, v


def packed(wire, v):
    if wire == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = varint(v, i)
        out.append(x)
    return out


def summarize(path):
    data = gzip.open(path).read()
    t = d = 0
    samples, strings, functions, locations = [], [], {}, {}
    for num, wire, v in fields(data):
        if num == 9:
            t = v
        elif num == 10:
            d = v
        elif num == 6:
            strings.append(v.decode("utf-8", "replace"))
        elif num == 2:
            locs, vals = [], []
            for n2, w2, v2 in fields(v):
                if n2 == 1:
                    locs += packed(w2, v2)
                elif n2 == 2:
                    vals += packed(w2, v2)
            samples.append((locs, vals[0] if vals else 0))
        elif num == 4:
            lid, fid = 0, 0
            for n2, w2, v2 in fields(v):
                if n2 == 1:
                    lid = v2
                elif n2 == 4:
                    for n3, w3, v3 in fields(v2):
                        if n3 == 1:
                            fid = v3
            locations[lid] = fid
        elif num == 5:
            fid, name = 0, 0
            for n2, w2, v2 in fields(v):
                if n2 == 1:
                    fid = v2
                elif n2 == 2:
                    name = v2
            functions[fid] = name
    total = sum(w for _, w in samples)
    lost = 0
    for locs, w in samples:
        if locs and strings[functions.get(locations.get(locs[0], 0), 0)].startswith("[lost"):
            lost += w
    return t, d, total, lost


def main():
    status = 0
    for path in sys.argv[1:]:
        try:
            t, d, total, lost = summarize(path)
            print(path, t, d, total, lost)
        except Exception as e:  # a cut-off or foreign file
            print(path, "unreadable:", e, file=sys.stderr)
            status = 1
    sys.exit(status)


if __name__ == "__main__":
    main()
