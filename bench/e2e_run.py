#!/usr/bin/env python3
"""e2e_run.py - run the end-to-end benchmark and write its raw CSVs.

    e2e_run.py --workload BIN --out DIR --preset smoke|quick|full
               [--profcore-lib LIB] [--gperftools-lib LIB]

Every run executes bench/workload.c's binary (the same binary for every
profiler) with a fixed amount of work, reads the workload's in-process
ground truth (JSON) and the profiler's output (e2e_profiles.py), and appends
one row to DIR/runs.csv.  Experiments:

  matrix   profilers x frequencies x thread counts x repetitions; the order
           of the runs is shuffled inside each repetition, so a slow phase
           of the shared machine is spread over all configurations, and
           overhead is a ratio against the unprofiled run of the same
           repetition.
  handler  profcore's handler time per sample by stack depth (its own
           accounting: handler_ns_total / signals).
  rate     profcore at rising nominal rates with many distinct stacks
           (--spread): the highest rate the writer keeps up with, no loss.
  threads  1..64 threads on this machine's cores (oversubscribed).

A profiler that is missing or refuses to run is recorded with status
"not available: <reason>", never skipped silently, never faked.
"""
import argparse
import csv
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_profiles  # noqa: E402

FUNCTIONS = ["work_a", "work_b", "work_c", "work_d"]
GPERFTOOLS_MAX_HZ = 4000  # profile-handler.cc: kMaxFrequency

PRESETS = {
    # cpu_s: CPU-seconds of work per run (split between the threads).
    "smoke": dict(cpu_s=0.2, reps=1, threads=[1], hz=[100],
                  depths=[8], rate_hz=[1000], rate_spread=64, scale_threads=[2]),
    "quick": dict(cpu_s=0.6, reps=2, threads=[1, 2], hz=[100, 1000, 10000],
                  depths=[8, 32], rate_hz=[1000, 10000], rate_spread=1024,
                  scale_threads=[1, 8, 32]),
    "full": dict(cpu_s=1.5, reps=3, threads=[1, 2, 8], hz=[100, 1000, 4000, 10000],
                 depths=[8, 32, 64, 128], rate_hz=[1000, 10000, 20000, 50000],
                 rate_spread=4096, scale_threads=[1, 2, 4, 8, 16, 32, 64]),
}

PROFILERS = ["none", "profcore-ctimer", "profcore-itimer", "profcore-perf",
             "gperftools", "gperftools-ptt", "perf"]

COLUMNS = ["experiment", "profiler", "hz_nominal", "hz_effective", "threads", "depth", "spread",
           "rep", "status", "process_cpu_ns", "threads_cpu_ns", "wall_ns", "tree_cpu_ns",
           "truth_total_ns"] + ["truth_" + f for f in FUNCTIONS] + \
          ["prof_" + f for f in FUNCTIONS] + \
          ["prof_total_ns", "samples", "signals", "period_ns", "lost_ns", "lost_detail",
           "lost_events", "output_bytes", "maxrss_kb", "handler_ns_total",
           "handler_signals", "stop_ns", "captured", "attr_err_pp"]


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def machine_info():
    cpu = ""
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
        "cc": sh("${CC:-gcc} --version | head -1"),
        "gperftools": sh("dpkg-query -W -f '${Version}' libgoogle-perftools4"),
        "perf": sh("perf version"),
        "perf_event_paranoid": sh("cat /proc/sys/kernel/perf_event_paranoid"),
        "perf_max_sample_rate": sh("cat /proc/sys/kernel/perf_event_max_sample_rate"),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


class Runner:
    def __init__(self, args, preset):
        self.args = args
        self.preset = preset
        self.work = os.path.join(args.out, "work")
        os.makedirs(self.work, exist_ok=True)
        self.rows = []
        self.counter = 0
        self.commands = {}  # profiler -> an example command line

    # ---- one run -------------------------------------------------------------------
    def command(self, profiler, hz, threads, rounds, depth, spread, truth, out):
        wl = [self.args.workload, "--threads", str(threads), "--rounds", str(rounds),
              "--depth", str(depth), "--spread", str(spread), "--truth", truth]
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        for k in [k for k in env if k.startswith("CPUPROFILE")]:
            env.pop(k)
        if profiler.startswith("profcore-"):
            wl += ["--profcore", self.args.profcore_lib, "--engine", profiler.split("-", 1)[1],
                   "--hz", str(hz), "--out", out]
            return wl, env
        if profiler.startswith("gperftools"):
            env["LD_PRELOAD"] = self.args.gperftools_lib
            env["CPUPROFILE"] = out
            env["CPUPROFILE_FREQUENCY"] = str(hz)
            if profiler == "gperftools-ptt":
                env["CPUPROFILE_PER_THREAD_TIMERS"] = "1"
            return wl, env
        if profiler == "perf":
            return ["perf", "record", "-q", "-g", "-e", "cpu-clock", "-F", str(hz),
                    "-o", out, "--"] + wl, env
        return wl, env

    def availability(self, profiler):
        """None when the profiler can run here, else the reason it cannot."""
        if profiler.startswith("profcore-"):
            lib = self.args.profcore_lib
            if not lib or not os.path.exists(lib):
                return "not yet: runtime missing (%s)" % (lib or "no --profcore-lib")
        if profiler.startswith("gperftools"):
            if not os.path.exists(self.args.gperftools_lib):
                return "not available: %s missing" % self.args.gperftools_lib
        if profiler == "perf" and shutil.which("perf") is None:
            return "not available: perf not installed"
        return None

    def run(self, experiment, profiler, hz, threads, rounds, rep, depth=0, spread=1):
        self.counter += 1
        tag = "%s-%s-%d-%d-%d" % (experiment, profiler, hz, threads, self.counter)
        truth_path = os.path.join(self.work, tag + ".json")
        out = os.path.join(self.work, tag + (".pb.gz" if profiler.startswith("profcore") else
                                              ".data" if profiler == "perf" else ".prof"))
        row = dict((c, "") for c in COLUMNS)
        row.update(experiment=experiment, profiler=profiler, hz_nominal=hz if profiler != "none" else 0,
                   threads=threads, depth=depth, spread=spread, rep=rep)
        why = self.availability(profiler)
        if why:
            row["status"] = why
            self.rows.append(row)
            return row
        cmd, env = self.command(profiler, hz, threads, rounds, depth, spread, truth_path, out)
        if experiment == "matrix":
            self.commands.setdefault(profiler, " ".join(
                ["%s=%s" % (k, env[k]) for k in sorted(env) if k == "LD_PRELOAD" or k.startswith("CPUPROFILE")] +
                cmd))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        # A rate run that cannot finish is a result (the engine starves the
        # program), not a reason to stall the whole benchmark.
        timeout = min(self.args.timeout, 60) if experiment == "rate" else self.args.timeout
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            row["status"] = "failed: timeout after %d s" % timeout
            self.rows.append(row)
            return row
        # The whole process tree's CPU: the workload plus what the profiler does
        # outside the measured window (writing, symbolizing) and perf's own process.
        # (RUSAGE_CHILDREN: the run is the only child reaped in between.)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        row["tree_cpu_ns"] = int((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1e9)
        if proc.returncode != 0 or not os.path.exists(truth_path):
            msg = err.decode("utf-8", "replace").strip().replace("\n", " | ")[:300]
            row["status"] = "not available: %s" % (msg or "exit %d" % proc.returncode)
            self.rows.append(row)
            return row
        truth = json.load(open(truth_path))
        self.fill_truth(row, truth)
        if profiler != "none":
            try:
                prof = self.read_profile(profiler, out)
            except (ValueError, OSError, subprocess.SubprocessError) as e:
                row["status"] = "failed: cannot read profile: %s" % e
                self.rows.append(row)
                return row
            self.fill_profile(row, profiler, hz, prof, truth, out)
        row["status"] = "ok"
        for p in (truth_path, out):
            if os.path.exists(p) and not self.args.keep:
                os.remove(p)
        self.rows.append(row)
        return row

    def fill_truth(self, row, t):
        row["process_cpu_ns"] = t["process_cpu_ns"]
        row["threads_cpu_ns"] = t["threads_cpu_ns"]
        row["wall_ns"] = t["wall_ns"]
        row["maxrss_kb"] = t["maxrss_kb"]
        row["stop_ns"] = t.get("stop_ns", 0)
        for f in FUNCTIONS:
            row["truth_" + f] = t["truth_ns"][f]
        row["truth_total_ns"] = sum(t["truth_ns"].values())
        s = t.get("profcore")
        if s:
            row["handler_ns_total"] = s["handler_ns_total"]
            row["handler_signals"] = s["signals"]

    def read_profile(self, profiler, out):
        if profiler.startswith("profcore"):
            return e2e_profiles.read_pprof(out)
        if profiler.startswith("gperftools"):
            return e2e_profiles.read_gperftools(out, self.args.workload)
        return e2e_profiles.read_perf(out)

    def fill_profile(self, row, profiler, hz, prof, truth, out):
        row["output_bytes"] = os.path.getsize(out)
        row["samples"] = prof.samples
        row["period_ns"] = prof.period_ns
        row["hz_effective"] = round(1e9 / prof.period_ns) if prof.period_ns else ""
        for f in FUNCTIONS:
            row["prof_" + f] = prof.ns_by_function.get(f, 0)
        row["prof_total_ns"] = prof.total_ns
        row["lost_ns"] = prof.lost_ns
        row["lost_events"] = prof.lost_events
        s = truth.get("profcore")
        if s:
            names = ["contended", "log_full", "nohandoff_full", "invalid", "critical", "unwind", "other"]
            lw = s["core_lost_weight"]
            row["lost_detail"] = " ".join("%s=%d" % (n, lw[i]) for i, n in enumerate(names) if lw[i])
            row["signals"] = s["signals"]
        else:
            row["signals"] = prof.signals if prof.signals is not None else ""
        row["captured"] = "%.4f" % (prof.total_ns / truth["process_cpu_ns"]) if truth["process_cpu_ns"] else ""
        row["attr_err_pp"] = "%.3f" % attribution_error(
            [truth["truth_ns"][f] for f in FUNCTIONS], [row["prof_" + f] for f in FUNCTIONS])

    # ---- experiments -------------------------------------------------------------------
    def calibrate(self):
        """Rounds for preset cpu_s CPU-seconds, from a short unprofiled run."""
        probe = 60
        row = self.run("calibrate", "none", 0, 1, probe, 0)
        if row["status"] != "ok":
            raise SystemExit("e2e: the workload does not run: %s" % row["status"])
        per_round = row["process_cpu_ns"] / probe
        self.rounds = max(8, int(self.preset["cpu_s"] * 1e9 / per_round))
        self.ns_per_round = per_round
        print("e2e: %.3f ms CPU per round -> %d rounds per run (%.2f CPU-s)"
              % (per_round / 1e6, self.rounds, self.preset["cpu_s"]), flush=True)

    def matrix(self, profilers):
        p = self.preset
        configs = []
        for threads in p["threads"]:
            configs.append(("none", 0, threads))
            for prof in profilers:
                if prof != "none":
                    for hz in p["hz"]:
                        configs.append((prof, hz, threads))
        rng = random.Random(7)
        total = len(configs) * p["reps"]
        done = 0
        for rep in range(p["reps"]):
            order = configs[:]
            rng.shuffle(order)
            for prof, hz, threads in order:
                row = self.run("matrix", prof, hz, threads, self.rounds, rep)
                done += 1
                if done % 10 == 0 or row["status"] != "ok":
                    print("e2e: matrix %d/%d %s %d Hz %d threads: %s"
                          % (done, total, prof, hz, threads, row["status"]), flush=True)

    def handler_by_depth(self):
        for depth in self.preset["depths"]:
            self.run("handler", "profcore-ctimer", 1000, 1, self.rounds, 0, depth=depth)

    def rate(self):
        for engine in ("profcore-ctimer", "profcore-perf"):
            for hz in self.preset["rate_hz"]:
                self.run("rate", engine, hz, 2, self.rounds, 0, spread=self.preset["rate_spread"])

    def threads(self):
        for threads in self.preset["scale_threads"]:
            for prof in ("none", "profcore-ctimer", "gperftools", "perf"):
                self.run("threads", prof, 1000, threads, self.rounds, 0)

    def write(self):
        path = os.path.join(self.args.out, "runs.csv")
        with open(path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=COLUMNS)
            w.writeheader()
            for r in self.rows:
                w.writerow(r)
        return path


def attribution_error(truth, prof):
    """Largest |profiled share - true share| over the four functions, in
    percentage points; shares are of the four functions' total."""
    tt, pt = sum(truth), sum(prof)
    if tt == 0 or pt == 0:
        return 100.0
    return max(abs(p / pt - t / tt) for t, p in zip(truth, prof)) * 100


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", choices=sorted(PRESETS), default="quick")
    ap.add_argument("--profcore-lib", default="")
    ap.add_argument("--gperftools-lib", default="/usr/lib/x86_64-linux-gnu/libprofiler.so")
    ap.add_argument("--timeout", type=int, default=300)
    ap.add_argument("--keep", action="store_true", help="keep profiles and truth files")
    ap.add_argument("--experiments", default="matrix,handler,rate,threads")
    args = ap.parse_args()
    args.workload = os.path.abspath(args.workload)
    if args.profcore_lib:
        args.profcore_lib = os.path.abspath(args.profcore_lib)
    os.makedirs(args.out, exist_ok=True)
    preset = PRESETS[args.preset]
    meta = {"machine_start": machine_info(), "preset": args.preset, "settings": preset}
    start = time.monotonic()
    r = Runner(args, preset)
    r.calibrate()
    exps = args.experiments.split(",")
    if "matrix" in exps:
        r.matrix(PROFILERS)
    if "handler" in exps:
        r.handler_by_depth()
    if "rate" in exps:
        r.rate()
    if "threads" in exps:
        r.threads()
    meta["machine_end"] = machine_info()
    meta["rounds"] = r.rounds
    meta["ns_per_round"] = r.ns_per_round
    meta["commands"] = r.commands
    meta["seconds"] = round(time.monotonic() - start, 1)
    json.dump(meta, open(os.path.join(args.out, "meta.json"), "w"), indent=1)
    path = r.write()
    print("e2e: %d runs in %.0f s -> %s" % (len(r.rows), meta["seconds"], path))


if __name__ == "__main__":
    main()
