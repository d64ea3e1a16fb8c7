"""e2e_profiles.py - read the three profilers' outputs into one shape.

Every reader returns a Profile: the CPU time per leaf function (the function
the sampled program counter was in), the number of samples, the sampling
period, and whatever the format says about losses.  The benchmark's work
functions (work_a..work_d) are leaves, so "leaf function" is exactly "time
in that function", and it does not depend on how well each profiler walks
the rest of the stack.

  read_gperftools(path, binary)  gperftools' legacy binary format: header,
                                 records (count, depth, pcs), then the text of
                                 /proc/self/maps; pcs are symbolized here
                                 against `nm` of the binary.
  read_pprof(path)               profile.proto (gzip), as profcore writes it;
                                 function names come from the profile itself.
  read_perf(path)                `perf script` of a perf.data file.

Stdlib only.
"""
import bisect
import gzip
import struct
import subprocess
from collections import defaultdict


class Profile:
    def __init__(self):
        self.ns_by_function = defaultdict(int)  # leaf function -> CPU ns
        self.samples = 0          # sample records x their count (weight)
        self.signals = None       # deliveries, when the format knows them
        self.period_ns = 0
        self.lost_ns = 0          # time the profiler knows it could not attribute
        self.lost_by_reason = {}  # reason -> ns
        self.lost_events = 0      # perf: lost sample events

    @property
    def total_ns(self):
        """Attributed CPU time: everything but the profiler's own loss records."""
        return sum(self.ns_by_function.values())


# ---- symbols of the workload binary -------------------------------------------

class Symbols:
    """Function address ranges of one ELF file (by `nm -S --defined-only`)."""

    def __init__(self, binary):
        out = subprocess.run(["nm", "-S", "--defined-only", binary], check=True,
                             capture_output=True, text=True).stdout
        ranges = []
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[2] in "tTwW":
                start, size = int(parts[0], 16), int(parts[1], 16)
                if size > 0:
                    ranges.append((start, start + size, parts[3]))
        ranges.sort()
        self.starts = [r[0] for r in ranges]
        self.ranges = ranges

    def lookup(self, vaddr):
        i = bisect.bisect_right(self.starts, vaddr) - 1
        if i >= 0 and self.ranges[i][0] <= vaddr < self.ranges[i][1]:
            return self.ranges[i][2]
        return None


def _parse_maps(text):
    """Executable mappings of a /proc/self/maps text: (start, end, offset, path)."""
    maps = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5 or "-" not in parts[0]:
            continue
        start, end = (int(x, 16) for x in parts[0].split("-"))
        path = parts[5].strip() if len(parts) == 6 else ""
        if "x" in parts[1]:
            maps.append((start, end, int(parts[2], 16), path))
    return maps


# ---- gperftools ---------------------------------------------------------------

def read_gperftools(path, binary):
    """gperftools' CPU profile (64-bit legacy format).

    Header: 0, 3, 0, sampling period in microseconds, 0.  Records: count,
    depth, depth pcs (the first is the interrupted pc, the others return
    addresses).  Trailer record: 0, 1, 0.  Then /proc/self/maps as text.
    """
    data = open(path, "rb").read()
    words = len(data) // 8
    if words < 5:
        raise ValueError("%s: too short for a gperftools profile" % path)
    w = struct.unpack_from("<%dQ" % words, data)
    if w[0] != 0 or w[1] != 3 or w[2] != 0:
        raise ValueError("%s: not a gperftools CPU profile (header %r)" % (path, w[:5]))
    prof = Profile()
    prof.period_ns = w[3] * 1000
    i = 5
    leaf_counts = defaultdict(int)
    while i + 2 < words:
        count, depth = w[i], w[i + 1]
        if count == 0 and depth == 1 and w[i + 2] == 0:
            i += 3
            break
        if depth == 0 or i + 2 + depth > words:
            raise ValueError("%s: bad record at word %d" % (path, i))
        leaf_counts[w[i + 2]] += count
        prof.samples += count
        i += 2 + depth
    maps = _parse_maps(data[i * 8:].decode("utf-8", "replace"))
    syms = Symbols(binary)
    binary_name = binary.rsplit("/", 1)[-1]
    for pc, count in leaf_counts.items():
        name = "[unknown]"
        for start, end, offset, mpath in maps:
            if start <= pc < end:
                if mpath.rsplit("/", 1)[-1] == binary_name:
                    # Default PIE layout: a segment's file offset equals its vaddr.
                    name = syms.lookup(pc - start + offset) or "[%s]" % binary_name
                else:
                    name = "[%s]" % (mpath.rsplit("/", 1)[-1] or "anon")
                break
        prof.ns_by_function[name] += count * prof.period_ns
    prof.signals = prof.samples
    return prof


# ---- pprof (profile.proto) ------------------------------------------------------

def _varint(buf, i):
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def _fields(buf):
    """(field number, wire type, value) of one message; value is an int or bytes."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            ln, i = _varint(buf, i)
            v = buf[i:i + ln]
            i += ln
        elif wt == 1:
            v = struct.unpack_from("<Q", buf, i)[0]
            i += 8
        elif wt == 5:
            v = struct.unpack_from("<I", buf, i)[0]
            i += 4
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield field, wt, v


def _ints(wt, v):
    """A repeated integer field, packed (bytes) or not (int)."""
    if wt == 0:
        return [v]
    out, i = [], 0
    while i < len(v):
        x, i = _varint(v, i)
        out.append(x)
    return out


def read_pprof(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    strings, samples, locations, functions = [], [], {}, {}
    sample_types, period = [], 0
    for field, wt, v in _fields(raw):
        if field == 6:
            strings.append(v.decode("utf-8", "replace"))
        elif field == 1:
            vt = dict((f, x) for f, _, x in _fields(v))
            sample_types.append(vt.get(1, 0))
        elif field == 2:
            locs, vals = [], []
            for f, w2, x in _fields(v):
                if f == 1:
                    locs += _ints(w2, x)
                elif f == 2:
                    vals += _ints(w2, x)
            samples.append((locs, vals))
        elif field == 4:
            loc_id, func_ids = 0, []
            for f, _, x in _fields(v):
                if f == 1:
                    loc_id = x
                elif f == 4:  # Line: function_id (1), line (2)
                    func_ids.append(dict((g, y) for g, _, y in _fields(x)).get(1, 0))
            locations[loc_id] = func_ids
        elif field == 5:
            fn = dict((f, x) for f, _, x in _fields(v))
            functions[fn.get(1, 0)] = fn.get(2, 0)
        elif field == 12:
            period = v
    names = [strings[i] if i < len(strings) else "" for i in sample_types]
    if "samples" not in names:
        raise ValueError("%s: no samples/count sample type (types %r)" % (path, names))
    count_index = names.index("samples")
    prof = Profile()
    prof.period_ns = period
    for locs, vals in samples:
        weight = vals[count_index] if count_index < len(vals) else 0
        name = "[unknown]"
        if locs:
            funcs = locations.get(locs[0], [])
            if funcs:  # innermost inline frame first
                name = strings[functions.get(funcs[0], 0)] or "[unknown]"
        prof.samples += weight
        if name.startswith("[lost"):
            prof.lost_ns += weight * period
            prof.lost_by_reason[name] = prof.lost_by_reason.get(name, 0) + weight * period
        else:
            prof.ns_by_function[name] += weight * period
    return prof


# ---- perf ---------------------------------------------------------------------------

def read_perf(path):
    """perf.data of `perf record -e cpu-clock`: each sample's period is in ns."""
    proc = subprocess.run(["perf", "script", "-i", path, "-F", "period,ip,sym", "-G"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise ValueError("perf script failed: %s" % proc.stderr.strip()[:300])
    prof = Profile()
    periods = []
    for line in proc.stdout.splitlines():
        parts = line.split(None, 2)  # period, ip, symbol
        if len(parts) < 2 or not parts[0].isdigit():
            continue
        period = int(parts[0])
        name = parts[2].strip() if len(parts) > 2 else "[unknown]"
        prof.ns_by_function[name] += period
        prof.samples += 1
        periods.append(period)
    prof.signals = prof.samples
    prof.period_ns = int(sorted(periods)[len(periods) // 2]) if periods else 0
    rep = subprocess.run(["perf", "report", "-i", path, "--stdio", "--header-only"],
                         capture_output=True, text=True).stdout
    rep += subprocess.run(["perf", "report", "-i", path, "--stdio", "--sort", "sym", "-g", "none"],
                          capture_output=True, text=True).stdout[:4000]
    for line in rep.splitlines():
        if line.startswith("# Total Lost Samples:"):
            prof.lost_events = int(line.split(":")[1])
            break
    return prof
