#!/usr/bin/env python3
"""bench/attribution_bias.py - is the 8-thread attribution error aliasing?

Runs bench/workload.c under profcore (ctimer) with fixed rounds
(--fixed-rounds: 0.75 ms, always work_a, b, c, d) and with the default
aperiodic rounds (random length 0.5-1.5x, random order), at 1 and 8
threads, REPS times each, and prints per case: the largest |profiled share
- true share| over the four functions, pooled over the repetitions, and the
2-sigma binomial noise for the number of signals (independent draws: the
weight of a signal is 1 + its overruns, one draw), and the dispersion: the
RMS of work_a's per-repetition error in units of that repetition's binomial
sigma (about 1 when the signals are independent draws; above 1 when they
are correlated, so the binomial noise understates the spread).  Numbers
only.

Usage: bench/attribution_bias.py WORKLOAD LIBPROFCORE [--reps N] [--hz HZ]
       [--cpu-s S] [--threads 1,8]
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_profiles import read_pprof  # noqa: E402

FUNCTIONS = ["work_a", "work_b", "work_c", "work_d"]
ROUND_S = 0.75e-3  # a round of the workload at its mean length


def run_one(args, threads, fixed, tmp, i):
    out, truth = os.path.join(tmp, "p%d.pb.gz" % i), os.path.join(tmp, "t%d.json" % i)
    cmd = [args.workload, "--threads", str(threads), "--rounds", str(int(args.cpu_s / ROUND_S)),
           "--profcore", args.lib, "--engine", "ctimer", "--hz", str(args.hz), "--out", out, "--truth", truth]
    if fixed:
        cmd.append("--fixed-rounds")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    t = json.load(open(truth))
    return read_pprof(out), t


def case(args, threads, fixed, tmp):
    prof_ns = dict.fromkeys(FUNCTIONS, 0.0)
    true_ns = dict.fromkeys(FUNCTIONS, 0.0)
    signals = 0
    z = []  # per repetition: work_a's share error over its binomial sigma
    for i in range(args.reps):
        p, t = run_one(args, threads, fixed, tmp, i)
        ptot_i = sum(p.ns_by_function.get(f, 0) for f in FUNCTIONS)
        ttot_i = sum(t["truth_ns"][f] for f in FUNCTIONS)
        share_i, n_i = t["truth_ns"]["work_a"] / ttot_i, max(t["profcore"]["signals"], 1)
        if ptot_i > 0:
            z.append((p.ns_by_function.get("work_a", 0) / ptot_i - share_i) / math.sqrt(share_i * (1 - share_i) / n_i))
        for f in FUNCTIONS:
            prof_ns[f] += p.ns_by_function.get(f, 0)
            true_ns[f] += t["truth_ns"][f]
        signals += t["profcore"]["signals"]
    ptot, ttot = sum(prof_ns.values()), sum(true_ns.values())
    errs = {f: 100.0 * (prof_ns[f] / ptot - true_ns[f] / ttot) for f in FUNCTIONS}
    worst = max(FUNCTIONS, key=lambda f: abs(errs[f]))
    share = true_ns[worst] / ttot
    noise = 200.0 * math.sqrt(share * (1 - share) / max(signals, 1))
    # Dispersion: the spread of the per-repetition errors in units of their
    # binomial sigma; about 1 when the signals are independent draws.
    disp = math.sqrt(sum(x * x for x in z) / len(z)) if z else 0.0
    return errs, worst, noise, signals, disp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("lib")
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--hz", type=int, default=1000)
    ap.add_argument("--cpu-s", type=float, default=1.5)
    ap.add_argument("--threads", default="1,8")
    args = ap.parse_args()
    print("| rounds | threads | signals | error a / b / c / d (pp) | worst | 2-sigma noise | dispersion of work_a |")
    print("|---|---:|---:|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for threads in [int(x) for x in args.threads.split(",")]:
            for fixed in (True, False):
                errs, worst, noise, signals, disp = case(args, threads, fixed, tmp)
                print("| %s | %d | %d | %s | %.2f (%s) | %.2f | %.2f |" % (
                    "fixed 0.75 ms" if fixed else "aperiodic", threads, signals,
                    " / ".join("%+.2f" % errs[f] for f in FUNCTIONS), abs(errs[worst]), worst, noise, disp))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
