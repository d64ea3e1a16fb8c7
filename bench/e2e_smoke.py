#!/usr/bin/env python3
"""e2e_smoke.py - the bench-e2e-smoke suite: the end-to-end scripts on a tiny
setting (1 thread, 100 Hz, 0.2 CPU-s per run), so they cannot rot.

    e2e_smoke.py --workload BIN --out DIR [--profcore-lib LIB] [--core-csv CSV]

Runs e2e_run.py (preset smoke, profiles kept) and e2e_report.py, then checks
what can be checked without trusting a timing:
  - the workload's ground truth is consistent (the four functions' truth fits
    inside the threads' CPU, which fits inside the process's; the mix is the
    designed 50/30/15/5 within 5 points);
  - every profiler ran, or says exactly why not; profcore's rows may be
    "not yet: runtime missing" only when its library does not exist;
  - each profile that ran was read, holds samples, and names work_a;
  - our readers agree with `go tool pprof` on a gperftools and a profcore
    profile (total and work_a, to the millisecond pprof prints);
  - RESULTS.md, the CSVs and the three PNGs were written.
Prints which profilers it exercised and the closing "N passed, N failed".
Times are never asserted.
"""
import argparse
import csv
import glob
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import e2e_profiles  # noqa: E402
import e2e_run  # noqa: E402

passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL: %s%s" % (name, (" (" + detail + ")") if detail else ""))


def pprof_top(binary, profile):
    """{function: flat ms} and the total ms from `go tool pprof -top`."""
    out = subprocess.run(["go", "tool", "pprof", "-top", "-nodecount=1000", "-unit=ms", binary, profile],
                         capture_output=True, text=True)
    flat, total = {}, None
    for line in out.stdout.splitlines():
        m = re.search(r"accounting for [\d.]+m?s, [\d.]+% of ([\d.]+)ms total", line)
        if m:
            total = float(m.group(1))
        parts = line.split()
        if len(parts) >= 6 and parts[0].endswith("ms") and parts[1].endswith("%"):
            flat[parts[5]] = float(parts[0][:-2])
    return flat, total, out.stderr.strip()


def cross_check(binary, work):
    """Our readers against go tool pprof, on one profile of each format."""
    if shutil.which("go") is None:
        check("go tool pprof available for the reader cross-check", False, "install golang-go")
        return
    pairs = []
    g = sorted(glob.glob(os.path.join(work, "matrix-gperftools-*.prof")))
    if g:
        pairs.append(("gperftools", g[0], e2e_profiles.read_gperftools(g[0], binary)))
    p = sorted(glob.glob(os.path.join(work, "matrix-profcore-ctimer-*.pb.gz")))
    if p:
        pairs.append(("profcore pprof", p[0], e2e_profiles.read_pprof(p[0])))
    check("a gperftools profile was kept for the cross-check", bool(g))
    for what, path, prof in pairs:
        flat, total, err = pprof_top(binary, path)
        check("%s: go tool pprof read it" % what, total is not None, err[:200])
        if total is None:
            continue
        ours_total = (prof.total_ns + prof.lost_ns) / 1e6
        check("%s: total agrees with go tool pprof" % what, abs(ours_total - total) < 0.01,
              "ours %.3f ms, pprof %.3f ms" % (ours_total, total))
        ours_a = prof.ns_by_function.get("work_a", 0) / 1e6
        check("%s: work_a agrees with go tool pprof" % what, abs(ours_a - flat.get("work_a", 0)) < 0.01,
              "ours %.3f ms, pprof %.3f ms" % (ours_a, flat.get("work_a", 0)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--profcore-lib", default="")
    ap.add_argument("--core-csv", default="")
    args = ap.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    run = subprocess.run([sys.executable, os.path.join(HERE, "e2e_run.py"), "--workload", args.workload,
                          "--out", args.out, "--preset", "smoke", "--keep", "--timeout", "120",
                          "--profcore-lib", args.profcore_lib])
    check("e2e_run.py exit status 0", run.returncode == 0)
    runs_csv = os.path.join(args.out, "runs.csv")
    if not os.path.exists(runs_csv):
        print("%d passed, %d failed" % (passed, failed + 1))
        return 1
    rows = list(csv.DictReader(open(runs_csv)))
    lib_exists = bool(args.profcore_lib) and os.path.exists(args.profcore_lib)

    # The ground truth.
    for r in rows:
        if r["profiler"] == "none" and r["status"] == "ok" and r["experiment"] == "matrix":
            truth = [float(r["truth_" + f]) for f in e2e_run.FUNCTIONS]
            tt = sum(truth)
            check("truth: functions inside the threads' CPU", tt <= float(r["threads_cpu_ns"]) * 1.001)
            check("truth: threads' CPU inside the process's",
                  float(r["threads_cpu_ns"]) <= float(r["process_cpu_ns"]) * 1.01 + 2e6)
            for f, t, want in zip(e2e_run.FUNCTIONS, truth, (50, 30, 15, 5)):
                check("truth: %s share %.1f %% near %d %%" % (f, 100 * t / tt, want), abs(100 * t / tt - want) < 5)

    # Every profiler, each row.
    exercised, missing = [], []
    for prof in e2e_run.PROFILERS:
        mine = [r for r in rows if r["profiler"] == prof and r["experiment"] == "matrix"]
        check("%s: has a matrix row" % prof, bool(mine))
        for r in mine:
            if r["status"].startswith("not yet: runtime missing") and prof.startswith("profcore"):
                check("%s: 'runtime missing' only when the library is missing" % prof, not lib_exists)
                missing.append(prof)
                continue
            check("%s: ran (%s)" % (prof, r["status"]), r["status"] == "ok")
            if r["status"] != "ok":
                continue
            exercised.append(prof)
            if prof == "none":
                continue
            check("%s: samples recorded" % prof, float(r["samples"] or 0) > 0)
            check("%s: work_a sampled" % prof, float(r["prof_work_a"] or 0) > 0)
            cap = float(r["captured"] or 0)
            check("%s: captured CPU is sane at 100 Hz (%.2f)" % (prof, cap), 0.25 < cap < 2.0)
            check("%s: output written (%s bytes)" % (prof, r["output_bytes"]), int(r["output_bytes"] or 0) > 0)
            check("%s: effective rate known" % prof, r["hz_effective"] != "")
    for exp in ("handler", "rate", "threads"):
        mine = [r for r in rows if r["experiment"] == exp]
        check("%s experiment has rows" % exp, bool(mine))
        for r in mine:
            ok = r["status"] == "ok" or (not lib_exists and r["status"].startswith("not yet"))
            check("%s %s: %s" % (exp, r["profiler"], r["status"]), ok)
    for r in rows:
        if r["experiment"] == "handler" and r["status"] == "ok":
            check("handler: time per signal measured", float(r["handler_ns_total"] or 0) > 0
                  and float(r["handler_signals"] or 0) > 0)

    cross_check(os.path.abspath(args.workload), os.path.join(args.out, "work"))

    # The report.
    md = os.path.join(args.out, "RESULTS.md")
    plots = os.path.join(args.out, "results")
    rep = subprocess.run([sys.executable, os.path.join(HERE, "e2e_report.py"), "--runs", args.out,
                          "--core-csv", args.core_csv, "--results-md", md, "--plots", plots])
    check("e2e_report.py exit status 0 (plots made)", rep.returncode == 0)
    text = open(md).read() if os.path.exists(md) else ""
    for heading in ("## Machine", "## Goals", "## Captured CPU", "## Attribution error", "## Overhead",
                    "## Against each peer", "## The handler", "## Scale"):
        check("RESULTS.md has %s" % heading, heading in text)
    for png in ("captured_vs_hz.png", "overhead_vs_hz.png", "add_cost_vs_depth.png"):
        p = os.path.join(plots, png)
        check("%s written" % png, os.path.exists(p) and open(p, "rb").read(8) == b"\x89PNG\r\n\x1a\n")
    summary = list(csv.DictReader(open(os.path.join(plots, "summary.csv")))) if os.path.exists(
        os.path.join(plots, "summary.csv")) else []
    check("summary.csv has one row per profiler", len(summary) == len(e2e_run.PROFILERS) - 1,
          "%d rows" % len(summary))
    meta = json.load(open(os.path.join(args.out, "meta.json")))
    print("e2e-smoke: exercised %s; not run: %s; %s s of runs" % (
        ", ".join(sorted(set(exercised))), ", ".join(sorted(set(missing))) or "none", meta["seconds"]))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
