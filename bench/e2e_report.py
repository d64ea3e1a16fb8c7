#!/usr/bin/env python3
"""e2e_report.py - turn the end-to-end runs into RESULTS.md, CSVs and plots.

    e2e_report.py --runs DIR [--core-csv CSV] --results-md FILE --plots DIR

DIR holds runs.csv and meta.json from e2e_run.py.  Writes, beside FILE's
plots directory: summary.csv (one row per profiler x frequency x threads),
handler.csv, rate.csv, threads.csv, a copy of runs.csv and of the core CSV,
and three PNGs made by gnuplot.  FILE is rewritten except for the block
between <!-- notes:begin --> and <!-- notes:end -->, which holds the
written conclusions and is carried over from the previous FILE.

Definitions (also printed in FILE):
  captured CPU   profiled CPU (samples x period, loss records excluded) /
                 the process's CPU time (getrusage at the end of the work);
  attribution    max over work_a..work_d of |profiled share - true share|,
  error          shares of the four functions' total, in percentage points,
                 on the repetitions pooled; "noise" is 2 sigma of a binomial
                 share for that many independent samples (signals);
  overhead       process CPU with the profiler / without, per repetition
                 (same repetition's unprofiled run), median and min..max.
"""
import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys

FUNCTIONS = ["work_a", "work_b", "work_c", "work_d"]
PROFILERS = ["profcore-ctimer", "profcore-itimer", "profcore-perf",
             "gperftools", "gperftools-ptt", "perf"]
LABELS = {
    "none": "no profiler",
    "profcore-ctimer": "profcore ctimer",
    "profcore-itimer": "profcore itimer",
    "profcore-perf": "profcore perf",
    "gperftools": "gperftools (setitimer)",
    "gperftools-ptt": "gperftools per-thread timers",
    "perf": "perf record -e cpu-clock",
}
GOAL_CAPTURED = 0.02   # within +-2 %
GOAL_ATTR_PP = 1.0     # <= 1 percentage point
GOAL_OVERHEAD = 0.01   # <= 1 % at 1 kHz
GOAL_ADD_HIT_NS = 40.0  # 32-frame add-hit


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec="%.1f", none="-"):
    return none if x is None else spec % x


def pct(x, none="-", digits=1):
    return none if x is None else "%.*f %%" % (digits, 100 * x)


def load_runs(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ---- summaries ---------------------------------------------------------------------

def pooled_attribution(rows):
    """(error pp, 2-sigma noise pp, independent samples) over pooled runs."""
    truth = [sum(num(r["truth_" + f]) or 0 for r in rows) for f in FUNCTIONS]
    prof = [sum(num(r["prof_" + f]) or 0 for r in rows) for f in FUNCTIONS]
    tt, pt = sum(truth), sum(prof)
    if tt == 0 or pt == 0:
        return None, None, 0
    err = max(abs(p / pt - t / tt) for t, p in zip(truth, prof)) * 100
    # Independent draws: signals landing in the four functions (a ctimer
    # signal carries weight 1 + overrun but is still one draw).
    n = 0.0
    for r in rows:
        sig, total = num(r["signals"]) or 0, num(r["prof_total_ns"]) or 0
        in4 = sum(num(r["prof_" + f]) or 0 for f in FUNCTIONS)
        n += sig * (in4 / total if total else 0)
    noise = max(2 * math.sqrt(t / tt * (1 - t / tt) / n) * 100 for t in truth) if n > 0 else None
    return err, noise, int(n)


def ratio_stats(rows, base_by_rep, key):
    ratios = []
    for r in rows:
        b = base_by_rep.get(r["rep"])
        v = num(r[key])
        if b and v:
            ratios.append(v / b[key])
    if not ratios:
        return None, None, None
    return statistics.median(ratios), min(ratios), max(ratios)


def summarize_matrix(runs):
    ok = [r for r in runs if r["experiment"] == "matrix" and r["status"] == "ok"]
    base = {}
    for r in ok:
        if r["profiler"] == "none":
            base.setdefault(r["threads"], {})[r["rep"]] = {
                "process_cpu_ns": num(r["process_cpu_ns"]), "threads_cpu_ns": num(r["threads_cpu_ns"]),
                "tree_cpu_ns": num(r["tree_cpu_ns"]), "maxrss_kb": num(r["maxrss_kb"])}
    keys = []
    for r in runs:
        if r["experiment"] == "matrix" and r["profiler"] != "none":
            k = (r["profiler"], int(r["hz_nominal"]), int(r["threads"]))
            if k not in keys:
                keys.append(k)
    summary = []
    for prof, hz, threads in sorted(keys, key=lambda k: (k[2], k[1], PROFILERS.index(k[0]))):
        group = [r for r in runs if r["experiment"] == "matrix" and r["profiler"] == prof
                 and int(r["hz_nominal"]) == hz and int(r["threads"]) == threads]
        good = [r for r in group if r["status"] == "ok"]
        s = {"profiler": prof, "hz": hz, "threads": threads, "runs": len(good)}
        if not good:
            s["status"] = group[0]["status"] if group else "no runs"
            summary.append(s)
            continue
        s["status"] = "ok" if len(good) == len(group) else "%d of %d failed: %s" % (
            len(group) - len(good), len(group), next(r["status"] for r in group if r["status"] != "ok"))
        caps = [num(r["captured"]) for r in good]
        s["captured_workers"] = med([num(r["prof_total_ns"]) / num(r["threads_cpu_ns"]) for r in good
                                     if num(r["prof_total_ns"]) is not None and num(r["threads_cpu_ns"])])
        # CPU outside the worker threads beyond what the unprofiled run spends
        # there: the profiler's startup, its own threads, its timers' upkeep.
        base_outside = med([v["process_cpu_ns"] - v["threads_cpu_ns"] for v in base.get(str(threads), {}).values()])
        outside = med([num(r["process_cpu_ns"]) - num(r["threads_cpu_ns"]) for r in good])
        s["extra_outside_ms"] = (outside - base_outside) / 1e6 if base_outside is not None else None
        hs = [num(r["handler_ns_total"]) / num(r["process_cpu_ns"]) for r in good
              if num(r["handler_ns_total"]) is not None and num(r["process_cpu_ns"])]
        s["handler_share"] = med(hs) if hs else None
        s["hz_effective"] = med([num(r["hz_effective"]) for r in good])
        s["captured"], s["captured_min"], s["captured_max"] = med(caps), min(caps), max(caps)
        s["attr_err_pp"], s["attr_noise_pp"], s["attr_samples"] = pooled_attribution(good)
        b = base.get(str(threads), {})
        s["overhead"], s["overhead_min"], s["overhead_max"] = ratio_stats(good, b, "process_cpu_ns")
        s["workers_ratio"] = ratio_stats(good, b, "threads_cpu_ns")[0]
        s["tree_ratio"] = ratio_stats(good, b, "tree_cpu_ns")[0]
        s["samples"] = med([num(r["samples"]) for r in good])
        s["signals"] = med([num(r["signals"]) for r in good])
        s["lost_ns"] = med([num(r["lost_ns"]) for r in good])
        s["lost_events"] = med([num(r["lost_events"]) for r in good])
        details = sorted(set(r["lost_detail"] for r in good if r["lost_detail"]))
        s["lost_detail"] = "; ".join(details)
        s["output_bytes"] = med([num(r["output_bytes"]) for r in good])
        s["maxrss_kb"] = med([num(r["maxrss_kb"]) for r in good])
        s["base_maxrss_kb"] = med([v["maxrss_kb"] for v in b.values()])
        summary.append(s)
    return summary


SUMMARY_COLUMNS = ["profiler", "hz", "threads", "runs", "status", "hz_effective", "captured",
                   "captured_min", "captured_max", "captured_workers", "extra_outside_ms", "handler_share", "attr_err_pp", "attr_noise_pp", "attr_samples",
                   "overhead", "overhead_min", "overhead_max", "workers_ratio", "tree_ratio",
                   "samples", "signals", "lost_ns", "lost_events", "lost_detail", "output_bytes",
                   "maxrss_kb", "base_maxrss_kb"]


def write_csv(path, rows, columns):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow(dict((c, ("%.6g" % r[c]) if isinstance(r.get(c), float) else r.get(c, ""))
                            for c in columns))


def handler_rows(runs):
    out = []
    for r in runs:
        if r["experiment"] != "handler":
            continue
        sig, tot = num(r["handler_signals"]), num(r["handler_ns_total"])
        out.append({"depth": int(r["depth"]), "status": r["status"], "signals": sig,
                    "handler_ns_per_signal": tot / sig if sig and tot is not None else None,
                    "captured": num(r["captured"])})
    return out


def rate_rows(runs):
    out = []
    for r in runs:
        if r["experiment"] != "rate":
            continue
        cpu = num(r["process_cpu_ns"])
        sig = num(r["signals"])
        lost = num(r["lost_ns"])
        out.append({"profiler": r["profiler"], "hz": int(r["hz_nominal"]), "status": r["status"],
                    "signals_per_cpu_s": sig / (cpu / 1e9) if sig and cpu else None,
                    "weight_per_cpu_s": (num(r["samples"]) or 0) / (cpu / 1e9) if cpu else None,
                    "lost_ns": lost, "lost_detail": r["lost_detail"], "captured": num(r["captured"]),
                    "distinct_spread": int(r["spread"])})
    return out


def thread_rows(runs):
    base = {}
    for r in runs:
        if r["experiment"] == "threads" and r["profiler"] == "none" and r["status"] == "ok":
            base[r["threads"]] = num(r["process_cpu_ns"])
    out = []
    for r in runs:
        if r["experiment"] != "threads" or r["profiler"] == "none":
            continue
        cpu = num(r["process_cpu_ns"])
        b = base.get(r["threads"])
        out.append({"profiler": r["profiler"], "threads": int(r["threads"]), "status": r["status"],
                    "captured": num(r["captured"]), "attr_err_pp": num(r["attr_err_pp"]),
                    "overhead": cpu / b if cpu and b else None, "lost_ns": num(r["lost_ns"]),
                    "lost_detail": r["lost_detail"], "lost_events": num(r["lost_events"]),
                    "maxrss_kb": num(r["maxrss_kb"])})
    return out


def core_rows(core_csv):
    if not core_csv or not os.path.exists(core_csv):
        return []
    with open(core_csv, newline="") as f:
        return [r for r in csv.DictReader(f)]


# ---- plots -------------------------------------------------------------------------

def gnuplot(script, plots_dir):
    if shutil.which("gnuplot") is None:
        return "gnuplot not installed"
    p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, cwd=plots_dir)
    return None if p.returncode == 0 else p.stderr.strip()[:300]


def datablock(name, rows):
    return "$%s << EOD\n%s\nEOD\n" % (name, "\n".join(" ".join(str(v) for v in r) for r in rows) or "0 0")


def plot_vs_hz(summary, key, ylabel, title, fname, plots_dir, scale=100.0, key_pos="right center"):
    threads = sorted(set(s["threads"] for s in summary))
    profs = [p for p in PROFILERS if any(s["profiler"] == p and s.get(key) is not None for s in summary)]
    if not threads or not profs:
        return "no data"
    script = ["set terminal pngcairo size %d,420 font ',9'" % (380 * len(threads) + 40),
              "set output '%s'" % fname, "set logscale x", "set grid",
              "set key %s font ',8'" % key_pos, "set xlabel 'nominal frequency (Hz)'",
              "set ylabel '%s'" % ylabel, "set multiplot layout 1,%d title '%s'" % (len(threads), title)]
    for t in threads:
        blocks, plots = [], []
        for i, p in enumerate(profs):
            pts = sorted((s["hz"], s[key] * scale) for s in summary
                         if s["profiler"] == p and s["threads"] == t and s.get(key) is not None)
            if not pts:
                continue
            name = "d%d_%d" % (t, i)
            blocks.append(datablock(name, pts))
            plots.append("$%s using 1:2 with linespoints lw 2 title '%s'" % (name, LABELS[p]))
        script += blocks
        script.append("set title '%d thread%s'" % (t, "s" if t > 1 else ""))
        script.append("plot " + ", ".join(plots) if plots else "plot 0 notitle")
    script.append("unset multiplot")
    return gnuplot("\n".join(script) + "\n", plots_dir)


def plot_depth(core, handler, fname, plots_dir):
    script = ["set terminal pngcairo size 760,420 font ',9'", "set output '%s'" % fname,
              "set grid", "set key bottom right", "set xlabel 'stack depth (frames)'",
              "set ylabel 'ns per operation (median)'", "set logscale y",
              "set title 'core add cost (core-bench) and handler cost per sample (profcore ctimer)'"]
    plots = []
    for i, sc in enumerate(["add-hit", "add-miss", "add-evict", "add-handoff"]):
        pts = sorted((int(r["depth"]), float(r["median_ns"])) for r in core if r["scenario"] == sc)
        if pts:
            script.append(datablock("c%d" % i, pts))
            plots.append("$c%d using 1:2 with linespoints lw 2 title 'core %s'" % (i, sc))
    pts = sorted((h["depth"], h["handler_ns_per_signal"]) for h in handler
                 if h["handler_ns_per_signal"] is not None)
    if pts:
        script.append(datablock("h", pts))
        plots.append("$h using 1:2 with linespoints lw 2 dt 2 title 'handler (unwind + add), extra frames'")
    if not plots:
        return "no data"
    script.append("plot " + ", ".join(plots))
    return gnuplot("\n".join(script) + "\n", plots_dir)


# ---- RESULTS.md ----------------------------------------------------------------------

def pivot(summary, key, formatter):
    threads = sorted(set(s["threads"] for s in summary))
    hzs = sorted(set(s["hz"] for s in summary))
    profs = [p for p in PROFILERS if any(s["profiler"] == p for s in summary)]
    lines = ["| threads | Hz | " + " | ".join(LABELS[p] for p in profs) + " |",
             "|---:|---:|" + "---:|" * len(profs)]
    for t in threads:
        for hz in hzs:
            cells = []
            for p in profs:
                s = next((x for x in summary if x["profiler"] == p and x["hz"] == hz and x["threads"] == t), None)
                if s is None:
                    cells.append("")
                elif s.get("runs", 0) == 0:
                    cells.append(s["status"].split(":")[0])
                else:
                    cells.append(formatter(s))
            lines.append("| %d | %d | %s |" % (t, hz, " | ".join(cells)))
    return "\n".join(lines)


def unavailable(summary, runs):
    """One line per profiler and status that was not ok, with where it happened."""
    groups = {}
    for r in runs:
        if r["status"] != "ok":
            where = "%s %s Hz %s threads" % (r["experiment"], r["hz_nominal"], r["threads"])
            groups.setdefault((r["profiler"], r["status"]), []).append(where)
    return ["- **%s** (%s): %s" % (LABELS.get(p, p), ", ".join(w[:4]) + (", ..." if len(w) > 4 else ""), st)
            for (p, st), w in groups.items()]


def lost_cell(r):
    """Losses as each profiler can report them (gperftools cannot)."""
    if r["profiler"].startswith("gperftools"):
        return "not counted"
    if r["profiler"] == "perf":
        return "%s events" % fmt(r.get("lost_events"), "%.0f")
    return fmt(r["lost_ns"], "%.0f") + (" " + r["lost_detail"] if r["lost_detail"] else "")


def goal_lines(summary, core, handler):
    lines = []
    prof_rows = [s for s in summary if s["profiler"].startswith("profcore") and s.get("runs")]
    for engine in ["profcore-ctimer", "profcore-itimer", "profcore-perf"]:
        rows = [s for s in prof_rows if s["profiler"] == engine]
        if not rows:
            continue
        worst = max(rows, key=lambda s: abs(s["captured"] - 1))
        ok = abs(worst["captured"] - 1) <= GOAL_CAPTURED
        lines.append("- Captured CPU within +-2 %% (%s): %s; worst %s at %d Hz, %d threads "
                     "(%s of the worker threads' CPU)."
                     % (LABELS[engine], "met" if ok else "**MISSED**", pct(worst["captured"]),
                        worst["hz"], worst["threads"], pct(worst["captured_workers"])))
        worst = max(rows, key=lambda s: s["attr_err_pp"] or 0)
        ok = (worst["attr_err_pp"] or 0) <= GOAL_ATTR_PP
        below_noise = worst["attr_noise_pp"] is not None and worst["attr_err_pp"] <= worst["attr_noise_pp"]
        lines.append("- Attribution error <= 1 pp (%s): %s; worst %.2f pp at %d Hz, %d threads "
                     "(2-sigma sampling noise for its %d samples: %s pp%s)."
                     % (LABELS[engine], "met" if ok else "**MISSED**", worst["attr_err_pp"], worst["hz"],
                        worst["threads"], worst["attr_samples"], fmt(worst["attr_noise_pp"], "%.2f"),
                        "; the error is within that noise" if below_noise and not ok else ""))
        at1k = [s for s in rows if s["hz"] == 1000 and s.get("overhead") is not None]
        if at1k:
            worst = max(at1k, key=lambda s: s["overhead"])
            ok = worst["overhead"] - 1 <= GOAL_OVERHEAD
            lines.append("- Overhead <= 1 %% at 1 kHz (%s): %s; worst %+.1f %% (spread %+.1f..%+.1f %%) "
                         "at %d threads."
                         % (LABELS[engine], "met" if ok else "**MISSED**", 100 * (worst["overhead"] - 1),
                            100 * (worst["overhead_min"] - 1), 100 * (worst["overhead_max"] - 1),
                            worst["threads"]))
    hit = [r for r in core if r["scenario"] == "add-hit" and r["depth"] == "32"]
    for r in hit:
        v = float(r["median_ns"])
        lines.append("- 32-frame add-hit <= 40 ns (core-bench, %s): %s; %.1f ns median."
                     % (r["compiler"], "met" if v <= GOAL_ADD_HIT_NS else "**MISSED**", v))
    if not hit:
        lines.append("- 32-frame add-hit <= 40 ns: no core-bench CSV given (run `make bench-core`).")
    if not prof_rows:
        lines.append("- profcore rows: not yet: runtime missing.")
    return lines


def previous_notes(path):
    if not os.path.exists(path):
        return None
    text = open(path).read()
    a, b = text.find("<!-- notes:begin -->"), text.find("<!-- notes:end -->")
    if a < 0 or b < 0:
        return None
    return text[a:b + len("<!-- notes:end -->")]


def results_md(meta, summary, handler, rate, threads, core, runs, plot_errors, md_path, rel_plots):
    m0, m1 = meta["machine_start"], meta["machine_end"]
    st = meta["settings"]
    L = []
    L.append("# End-to-end benchmark: profcore against gperftools and perf")
    L.append("")
    L.append("Generated by `bench/e2e_report.py` from the runs of `bench/e2e_run.py --preset %s` "
             "(%s, %.0f s). Do not edit by hand except the notes block." % (meta["preset"], m0["date"], meta["seconds"]))
    L.append("")
    L.append("## Machine")
    L.append("")
    L.append("- CPU: %s, %s cores (virtual, shared with other jobs, nothing pinned)" % (m0["cpu"], m0["cores"]))
    L.append("- kernel %s; compiler `%s`; gperftools %s; `%s`" % (m0["kernel"], m0["cc"], m0["gperftools"], m0["perf"]))
    L.append("- perf_event_paranoid %s; perf_event_max_sample_rate %s at start, %s at end"
             % (m0["perf_event_paranoid"], m0["perf_max_sample_rate"], m1["perf_max_sample_rate"]))
    L.append("- load average at start %s, at end %s (2 cores: anything above 2 means the runs "
             "shared the CPUs with other work; ratios are taken inside one repetition to cancel "
             "slow phases, but the spread columns show what was left)"
             % (" ".join(m0["loadavg"]), " ".join(m1["loadavg"])))
    L.append("")
    L.append("## What ran")
    L.append("")
    L.append("`bench/workload.c`: the same binary for every profiler. %s CPU-seconds of work per run "
             "(%d rounds of %.2f ms on average: each round's length is scaled by a random 0.5-1.5 and "
             "its calls run in random order, so no fixed period aliases with the tick), split between "
             "the threads; a round calls the leaf functions "
             "work_a, work_b, work_c, work_d with 10:6:3:1 units of work (about 50/30/15/5 %%), each "
             "call bracketed by `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`: the ground truth per function. "
             "Threads %s; nominal frequencies %s Hz; %d repetitions, each in shuffled order."
             % (st["cpu_s"], meta["rounds"], meta["ns_per_round"] / 1e6,
                ", ".join(map(str, st["threads"])), ", ".join(map(str, st["hz"])), st["reps"]))
    L.append("")
    L.append("Commands (one example each; `--threads/--rounds/-F/--hz` vary):")
    L.append("")
    L.append("```")
    cwd = os.getcwd() + "/"
    for p, c in sorted(meta["commands"].items()):
        L.append("%-16s %s" % (p, c.replace(cwd, "")))
    L.append("```")
    L.append("")
    L.append("- **captured CPU** = profiled CPU (samples x period; profcore's loss records excluded) / "
             "the process's CPU time (`getrusage` right after the workers are joined, before any "
             "profiler writes its file).")
    L.append("- **attribution error** = the largest |profiled share - true share| over the four "
             "functions, shares of the four functions' total, repetitions pooled, in percentage points. "
             "*noise* is 2 sigma of a binomial share for that many independent samples (signals): "
             "an error below it is not evidence of bias.")
    L.append("- **overhead** = process CPU with the profiler / without, each repetition against the "
             "unprofiled run of the same repetition; median and min..max. *workers* is the same ratio "
             "of the worker threads' CPU only (the handler's cost, without the profiler's own threads "
             "and startup); *tree* includes everything the run spent, also after the measured window "
             "(writing and symbolizing the profile, and for perf its own process).")
    L.append("")
    bad = unavailable(summary, runs)
    if bad:
        L.append("Rows that did not run:")
        L.append("")
        L += bad
        L.append("")
    L.append("## Goals")
    L.append("")
    L += goal_lines(summary, core, handler)
    L.append("")
    L.append("## Captured CPU (profiled / measured)")
    L.append("")
    L.append(pivot(summary, "captured", lambda s: "%s (%s..%s)" % (
        pct(s["captured"]), fmt(100 * s["captured_min"], "%.0f"), fmt(100 * s["captured_max"], "%.0f"))))
    L.append("")
    L.append("The same profiled CPU divided by the worker threads' CPU only (what the profilers can "
             "sample; the difference is CPU spent outside the workers: loading the profiler, its "
             "start, its own threads, see *extra outside ms* below):")
    L.append("")
    L.append(pivot(summary, "captured_workers", lambda s: pct(s["captured_workers"])))
    L.append("")
    L.append("![captured CPU vs frequency](%s/captured_vs_hz.png)" % rel_plots)
    L.append("")
    L.append("## Attribution error (pp; 2-sigma sampling noise in brackets)")
    L.append("")
    L.append(pivot(summary, "attr", lambda s: "%s [%s]" % (fmt(s["attr_err_pp"], "%.2f"),
                                                          fmt(s["attr_noise_pp"], "%.2f"))))
    L.append("")
    L.append("## Overhead (process CPU ratio, median and min..max over repetitions)")
    L.append("")
    L.append(pivot(summary, "overhead", lambda s: "%s (%s..%s)" % (
        fmt(s["overhead"], "%.3f"), fmt(s["overhead_min"], "%.3f"), fmt(s["overhead_max"], "%.3f"))))
    L.append("")
    L.append("![overhead vs frequency](%s/overhead_vs_hz.png)" % rel_plots)
    L.append("")
    L.append("## Against each peer (ratios at the same frequency and thread count)")
    L.append("")
    L.append("profcore ctimer's captured CPU divided by the peer's (1.00 = same), and the peer's overhead "
             "minus profcore's (positive: profcore is cheaper), in percentage points of process CPU.")
    L.append("")
    L.append("| threads | Hz | peer | captured ratio | overhead difference (pp) | attribution error profcore / peer (pp) |")
    L.append("|---:|---:|---|---:|---:|---|")
    for s in summary:
        if s["profiler"] in ("gperftools", "gperftools-ptt", "perf") and s.get("runs"):
            pc = next((x for x in summary if x["profiler"] == "profcore-ctimer" and x["hz"] == s["hz"]
                       and x["threads"] == s["threads"] and x.get("runs")), None)
            if pc is None:
                L.append("| %d | %d | %s | not yet: profcore row missing | | |" % (s["threads"], s["hz"], LABELS[s["profiler"]]))
                continue
            cap = pc["captured"] / s["captured"] if s["captured"] else None
            ovh = (s["overhead"] - pc["overhead"]) * 100 if s.get("overhead") and pc.get("overhead") else None
            L.append("| %d | %d | %s | %s | %s | %s / %s |" % (
                s["threads"], s["hz"], LABELS[s["profiler"]], fmt(cap, "%.2f"), fmt(ovh, "%+.1f"),
                fmt(pc["attr_err_pp"], "%.2f"), fmt(s["attr_err_pp"], "%.2f")))
    L.append("")
    L.append("## Samples, losses, output size, memory")
    L.append("")
    L.append("Medians per run. *samples* = total weight (profcore: 1 + timer overrun per signal); "
             "*signals* = deliveries (gperftools and perf: one sample each). gperftools keeps no loss "
             "count (an itimer expiry the kernel coalesced is simply gone); perf counts lost events; "
             "profcore counts lost weight by reason.")
    L.append("")
    L.append("*extra outside ms*: process CPU outside the worker threads, minus the same for the "
             "unprofiled run (profiler load and start, its own threads). *handler share*: profcore's "
             "self-reported handler time / process CPU (a lower bound of its sampling cost: it omits "
             "the kernel's timer and signal delivery).")
    L.append("")
    L.append("| profiler | Hz (effective) | threads | samples | signals | lost | output bytes | peak RSS kB (none: %s) | workers ratio | tree ratio | extra outside ms | handler share |"
             % fmt(med([s.get("base_maxrss_kb") for s in summary]), "%.0f"))
    L.append("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for s in summary:
        if not s.get("runs"):
            continue
        if s["profiler"].startswith("profcore"):
            lost = "%s ns%s" % (fmt(s["lost_ns"], "%.0f"), (" (" + s["lost_detail"] + ")") if s["lost_detail"] else "")
        elif s["profiler"] == "perf":
            lost = "%s events" % fmt(s["lost_events"], "%.0f")
        else:
            lost = "not counted"
        L.append("| %s | %d (%s) | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            LABELS[s["profiler"]], s["hz"], fmt(s["hz_effective"], "%.0f"), s["threads"],
            fmt(s["samples"], "%.0f"), fmt(s["signals"], "%.0f"), lost, fmt(s["output_bytes"], "%.0f"),
            fmt(s["maxrss_kb"], "%.0f"), fmt(s["workers_ratio"], "%.3f"), fmt(s["tree_ratio"], "%.3f"),
            fmt(s["extra_outside_ms"], "%.1f"), pct(s["handler_share"], digits=3) if s["handler_share"] is not None else "-"))
    L.append("")
    L.append("## The handler: time per sample by stack depth")
    L.append("")
    L.append("profcore ctimer at 1 kHz, 1 thread, its own accounting (`handler_ns_total / signals`, "
             "measured with CLOCK_MONOTONIC inside the handler: unwind + add, not the kernel's signal "
             "delivery). Depth = extra frames under the thread's entry (the sampled stack has ~5 more; "
             "max_depth 64 truncates deeper stacks).")
    L.append("")
    L.append("| extra frames | signals | handler ns per signal | captured |")
    L.append("|---:|---:|---:|---:|")
    for h in handler:
        L.append("| %d | %s | %s | %s |" % (h["depth"], fmt(h["signals"], "%.0f"),
                                           fmt(h["handler_ns_per_signal"], "%.0f") if h["status"] == "ok" else h["status"],
                                           pct(h["captured"])))
    L.append("")
    if core:
        L.append("Core cost per add (from the core microbenchmark's CSV, `make bench-core`):")
        L.append("")
        L.append("| compiler | scenario | depth | median ns | p99 ns | instructions |")
        L.append("|---|---|---:|---:|---:|---:|")
        for r in core:
            if r["scenario"] in ("add-hit", "add-miss", "add-evict", "add-handoff"):
                L.append("| %s | %s | %s | %s | %s | %s |" % (r["compiler"], r["scenario"], r["depth"],
                                                           r["median_ns"], r["p99_ns"], r["ir_per_op"]))
        L.append("")
    L.append("![add cost vs depth](%s/add_cost_vs_depth.png)" % rel_plots)
    L.append("")
    L.append("## Scale")
    L.append("")
    L.append("### Sample rate the writer sustains (2 threads, %d distinct stacks per function so the "
             "table overflows and the writer must drain)" % (rate[0]["distinct_spread"] if rate else 0))
    L.append("")
    L.append("| engine | nominal Hz | signals per CPU-s | weight per CPU-s | lost | captured |")
    L.append("|---|---:|---:|---:|---|---:|")
    for r in rate:
        if r["status"] != "ok":
            L.append("| %s | %d | %s | | | |" % (LABELS[r["profiler"]], r["hz"], r["status"]))
            continue
        L.append("| %s | %d | %s | %s | %s | %s |" % (
            LABELS[r["profiler"]], r["hz"], fmt(r["signals_per_cpu_s"], "%.0f"), fmt(r["weight_per_cpu_s"], "%.0f"),
            ("%s ns %s" % (fmt(r["lost_ns"], "%.0f"), r["lost_detail"])) if r["lost_ns"] else "0",
            pct(r["captured"])))
    best = {}
    for r in rate:
        if r["status"] == "ok" and not r["lost_ns"]:
            best[r["profiler"]] = max(best.get(r["profiler"], 0), r["signals_per_cpu_s"] or 0)
    L.append("")
    for p, v in best.items():
        L.append("- %s: highest delivered rate with zero losses: %.0f signals per CPU-second "
                 "(the highest rate tried that lost nothing; not a measured ceiling if every rate passed)." % (LABELS[p], v))
    L.append("")
    L.append("### Threads (1 kHz; more threads than the %s cores are oversubscribed)" % m0["cores"])
    L.append("")
    L.append("| profiler | threads | captured | attribution error pp | overhead | lost | peak RSS kB |")
    L.append("|---|---:|---:|---:|---:|---|---:|")
    for r in sorted(threads, key=lambda x: (PROFILERS.index(x["profiler"]), x["threads"])):
        if r["status"] != "ok":
            L.append("| %s | %d | %s | | | | |" % (LABELS[r["profiler"]], r["threads"], r["status"]))
            continue
        L.append("| %s | %d | %s | %s | %s | %s | %s |" % (
            LABELS[r["profiler"]], r["threads"], pct(r["captured"]), fmt(r["attr_err_pp"], "%.2f"),
            fmt(r["overhead"], "%.3f"), lost_cell(r),
            fmt(r["maxrss_kb"], "%.0f")))
    L.append("")
    L.append("## Raw data")
    L.append("")
    L.append("`%s/`: runs.csv (every run), summary.csv, handler.csv, rate.csv, threads.csv, core.csv, "
             "meta.json, and the PNGs.%s" % (rel_plots, (" Plot errors: " + "; ".join(plot_errors)) if plot_errors else ""))
    L.append("")
    notes = previous_notes(md_path) or ("<!-- notes:begin -->\n## Conclusions\n\n"
                                        "(written by hand after a full run; kept across regenerations)\n"
                                        "<!-- notes:end -->")
    L.append(notes)
    L.append("")
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", required=True, help="directory with runs.csv and meta.json")
    ap.add_argument("--core-csv", default="")
    ap.add_argument("--results-md", required=True)
    ap.add_argument("--plots", required=True, help="directory for CSVs and PNGs")
    args = ap.parse_args()
    runs = load_runs(os.path.join(args.runs, "runs.csv"))
    meta = json.load(open(os.path.join(args.runs, "meta.json")))
    os.makedirs(args.plots, exist_ok=True)
    summary = summarize_matrix(runs)
    handler = handler_rows(runs)
    rate = rate_rows(runs)
    threads = thread_rows(runs)
    core = core_rows(args.core_csv)
    write_csv(os.path.join(args.plots, "summary.csv"), summary, SUMMARY_COLUMNS)
    write_csv(os.path.join(args.plots, "handler.csv"), handler,
              ["depth", "status", "signals", "handler_ns_per_signal", "captured"])
    write_csv(os.path.join(args.plots, "rate.csv"), rate,
              ["profiler", "hz", "status", "signals_per_cpu_s", "weight_per_cpu_s", "lost_ns",
               "lost_detail", "captured", "distinct_spread"])
    write_csv(os.path.join(args.plots, "threads.csv"), threads,
              ["profiler", "threads", "status", "captured", "attr_err_pp", "overhead", "lost_ns",
               "lost_detail", "maxrss_kb"])
    for src in (os.path.join(args.runs, "runs.csv"), os.path.join(args.runs, "meta.json")):
        if os.path.abspath(os.path.dirname(src)) != os.path.abspath(args.plots):
            shutil.copy(src, args.plots)
    if core:
        shutil.copy(args.core_csv, os.path.join(args.plots, "core.csv"))
    errors = []
    for what, err in [
        ("captured", plot_vs_hz(summary, "captured", "captured CPU (%)",
                                "captured CPU vs nominal frequency", "captured_vs_hz.png", args.plots)),
        ("overhead", plot_vs_hz([dict(s, ovh=(s["overhead"] - 1) if s.get("overhead") else None) for s in summary],
                                "ovh", "overhead (% of process CPU)",
                                "profiler overhead vs nominal frequency", "overhead_vs_hz.png", args.plots,
                                key_pos="top left")),
        ("depth", plot_depth(core, handler, "add_cost_vs_depth.png", args.plots)),
    ]:
        if err:
            errors.append("%s: %s" % (what, err))
    rel = os.path.relpath(args.plots, os.path.dirname(os.path.abspath(args.results_md)))
    text = results_md(meta, summary, handler, rate, threads, core, runs, errors, args.results_md, rel)
    with open(args.results_md + ".tmp", "w") as f:
        f.write(text)
    os.replace(args.results_md + ".tmp", args.results_md)
    print("e2e-report: %s, %d summary rows, plots in %s%s" % (
        args.results_md, len(summary), args.plots, (" (plot errors: %s)" % "; ".join(errors)) if errors else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
