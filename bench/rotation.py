#!/usr/bin/env python3
"""bench/rotation.py LIBPROFCORE [HZ] [SECONDS] — does rotation stall sampling?

Profiles the same CPU-bound python3 workload (many distinct native stacks,
so each period has real symbolization and encoding work) twice through the
preload library: once into one profile, once with PROFCORE_PERIOD=1s.  For
each run: the process CPU (rusage), the samples in the profile(s), the
capture (samples / (CPU x HZ)), and the samples lost by the core.  For the
rotating run, per period: the samples, and the write latency = the file's
mtime minus the end of its period (time + duration), i.e. how long the
rotator took to encode and rename it while sampling went on.  Numbers
only, nothing asserted (tests/rotation/run.sh period checks)."""
import glob
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "rotation"))
from pprof_sums import summarize  # noqa: E402

WORKLOAD = r"""
import sys, time
def f(n, k):
    if n == 0:
        s = 0
        for i in range(200 + k % 50):
            s += i * i
        return s
    return f(n - 1, k) if k % 3 else g(n - 1, k)
def g(n, k):
    return sum(f(n - 1, k + j) for j in range(1)) if n else k
end = time.time() + float(sys.argv[1])
k = 0
while time.time() < end:
    f(k % 40, k)
    k += 1
"""


def run(lib, hz, seconds, period):
    d = tempfile.mkdtemp(prefix="profcore-rotbench.")
    env = dict(os.environ, LD_PRELOAD=lib, PROFCORE_OUT=os.path.join(d, "p.pb.gz"), PROFCORE_HZ=str(hz))
    if period:
        env["PROFCORE_PERIOD"] = period
    p = subprocess.Popen(["/usr/bin/python3", "-c", WORKLOAD, str(seconds)], env=env)
    _, status, ru = os.wait4(p.pid, 0)
    cpu = ru.ru_utime + ru.ru_stime
    files = sorted(glob.glob(os.path.join(d, "p*.pb.gz")), key=lambda f: (len(f), f))
    rows = []
    for f in files:
        t, dur, samples, lost = summarize(f)
        rows.append((os.path.basename(f), t, dur, samples, lost, os.stat(f).st_mtime_ns - (t + dur)))
    return cpu, rows


def main():
    lib, hz, seconds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1000, \
        float(sys.argv[3]) if len(sys.argv) > 3 else 6
    print("workload: python3, %.0f s wall, %d Hz (ctimer)" % (seconds, hz))
    print("| run | files | CPU s | samples | capture | lost |")
    print("|---|---:|---:|---:|---:|---:|")
    per = None
    for name, period in (("one profile", None), ("PROFCORE_PERIOD=1s", "1s")):
        cpu, rows = run(lib, hz, seconds, period)
        samples = sum(r[3] for r in rows)
        lost = sum(r[4] for r in rows)
        print("| %s | %d | %.2f | %d | %.1f %% | %d |" % (name, len(rows), cpu, samples,
                                                         100.0 * samples / (cpu * hz), lost))
        if period:
            per = rows
    print()
    print("| period file | duration s | samples | lost | write latency ms |")
    print("|---|---:|---:|---:|---:|")
    for name, t, dur, samples, lost, lat in per:
        print("| %s | %.3f | %d | %d | %.1f |" % (name, dur / 1e9, samples, lost, lat / 1e6))


main()
