#!/usr/bin/env python3
"""gate.py — runs the signal-safety gate's suites (stdlib only).

    gate.py sigcheck --group G...                   real code passes sigcheck
    gate.py fixtures --group G... FIXTURE.c...      every fixture rejected with its
                                                    expected chains; real code passes
    gate.py tidy     --work DIR --group G... FIXTURE.c...   clang-tidy bugprone-signal-handler
    gate.py analyzer --work DIR --group G... FIXTURE.c...   gcc -fanalyzer

A group G is 'LABEL|CFLAGS|FILE FILE ...': files analysed together as one
program.  Fixtures state what must be found in comments:
    expect: KIND: CHAIN            a sigcheck REJECT line (all of them, exactly)
    tidy-expect: NAME              clang-tidy must report NAME as not async-safe
    analyzer-expect: NAME          gcc -fanalyzer must report a call to NAME
Every command prints one line per test and closes with "N passed, N failed".
"""

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SIGCHECK = [sys.executable, os.path.join(HERE, "sigcheck.py")]
FIXTURE_CFLAGS = "-std=c11 -Icore"


class Tally:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def record(self, ok, what, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {what}")
        else:
            self.failed += 1
            print(f"FAIL {what}")
            if detail:
                print("     " + detail.rstrip().replace("\n", "\n     "))

    def close(self):
        print(f"{self.passed} passed, {self.failed} failed")
        return 0 if self.failed == 0 else 1


def parse_group(text):
    label, cflags, files = text.split("|", 2)
    return label, cflags, files.split()


def run(argv, env=None):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    return proc.returncode, proc.stdout


def fixture_expectations(path, key):
    with open(path, encoding="utf-8") as f:
        return [m.group(1).strip() for m in re.finditer(rf"(?<![-\w]){key}:\s*(.+)", f.read())]


def allowlisted():
    names = set()
    with open(os.path.join(HERE, "allowlist.txt"), encoding="utf-8") as f:
        for line in f:
            text = line.split("#", 1)[0].split()
            if text:
                names.add(text[0])
    return names


# ---------------------------------------------------------------- sigcheck ----

def sigcheck_group(tally, label, cflags, files):
    if not files:
        print(f"note {label}: no sources yet, nothing to check (not counted)")
        return
    status, out = run(SIGCHECK + ["--cflags", cflags] + files)
    summary = out.strip().splitlines()[-1] if out.strip() else ""
    tally.record(status == 0, f"{label}: {summary}", out if status != 0 else "")
    if status == 0:
        for line in out.splitlines():
            if line.startswith("stack:"):
                print(f"     {line}")


def sigcheck_fixture(tally, path):
    expected = fixture_expectations(path, "expect")
    status, out = run(SIGCHECK + ["--quiet", "--cflags", FIXTURE_CFLAGS, path])
    got = [l[len("REJECT "):] for l in out.splitlines() if l.startswith("REJECT ")]
    name = os.path.basename(path)
    if not expected:
        tally.record(False, f"fixture {name}: states no expected rejection")
    elif status != 1:
        tally.record(False, f"fixture {name}: sigcheck exit {status}, wanted 1 (rejected)", out)
    elif sorted(got) != sorted(expected):
        detail = "expected:\n  " + "\n  ".join(expected) + "\ngot:\n  " + "\n  ".join(got)
        tally.record(False, f"fixture {name}: wrong rejections", detail)
    else:
        tally.record(True, f"fixture {name}: rejected: {'; '.join(got)}")


# ------------------------------------------------------------- lint tools ----

def lint_units(work, label, cflags, files):
    """Writes the signal()-registering lint units of a group; returns them
    and the program's function names (calls the linters cannot follow)."""
    directory = os.path.join(work, label)
    shutil.rmtree(directory, ignore_errors=True)  # no stale units from an earlier run
    status, out = run(SIGCHECK + ["--lint-only", "--emit-lint", directory, "--cflags", cflags] + files)
    if status != 0:
        return None, out, set()
    with open(os.path.join(directory, "program-functions.txt"), encoding="utf-8") as f:
        program = set(f.read().split())
    return [l for l in out.splitlines() if l.endswith(".c")], out, program


def tidy_findings(unit, cflags):
    status, out = run(["clang-tidy", "--quiet", "-checks=-*,bugprone-signal-handler", unit,
                       "--"] + shlex.split(cflags))
    findings = []
    for line in out.splitlines():
        m = re.search(r"(warning|error): (.*)$", line)
        if m:
            name = re.match(r"'([^']+)' may not be asynchronous-safe", m.group(2))
            findings.append((name.group(1) if name else None, line))
    if status != 0 and not findings:
        findings.append((None, out.strip() or f"clang-tidy exit {status}"))
    return findings


def analyzer_findings(unit, cflags):
    env = dict(os.environ, LC_ALL="C")
    status, out = run(["gcc"] + shlex.split(cflags) +
                      ["-fanalyzer", "-fdiagnostics-plain-output", "-fno-diagnostics-show-caret",
                       "-c", unit, "-o", os.devnull], env=env)
    findings = []
    for line in out.splitlines():
        m = re.search(r"(warning|error): (.*)$", line)
        if m and ("[-Wanalyzer-" in line or m.group(1) == "error"):
            name = re.match(r"call to '([^']+)' from within signal handler", m.group(2))
            findings.append((name.group(1) if name else None, line))
    if status != 0 and not findings:
        findings.append((None, out.strip() or f"gcc exit {status}"))
    return findings


def lint_group(tally, tool, findings_of, work, label, cflags, files, accepted):
    if not files:
        print(f"note {tool} {label}: no sources yet, nothing to lint (not counted)")
        return
    units, out, program = lint_units(work, label, cflags, files)
    if units is None:
        tally.record(False, f"{tool} {label}: cannot find the handlers", out)
        return
    if not units:
        tally.record(False, f"{tool} {label}: no signal handler found, nothing for {tool} to follow")
        return
    for unit in units:
        bad, fine = [], set()
        for name, line in findings_of(unit, cflags):
            if name and (name in accepted or name in program):
                fine.add(name)
            else:
                bad.append(line)
        note = (f" (accepted, allowlisted or checked whole-program by sigcheck: {', '.join(sorted(fine))})"
                if fine else "")
        tally.record(not bad, f"{tool} {label}: {os.path.basename(unit)} clean{note}",
                     "\n".join(bad))


def lint_fixture(tally, tool, findings_of, key, work, path):
    wanted = fixture_expectations(path, key)
    if not wanted:
        return
    name = os.path.basename(path)
    units, out, _ = lint_units(work, "fixture-" + name[:-2], FIXTURE_CFLAGS, [path])
    if not units:
        tally.record(False, f"{tool} fixture {name}: no lint unit", out)
        return
    reported = {n for unit in units for n, _ in findings_of(unit, FIXTURE_CFLAGS) if n}
    missing = [w for w in wanted if w not in reported]
    tally.record(not missing, f"{tool} fixture {name}: reports {', '.join(wanted)}",
                 f"missing {missing}; reported {sorted(reported)}" if missing else "")


# -------------------------------------------------------------------- main ----

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("command", choices=["sigcheck", "fixtures", "tidy", "analyzer"])
    ap.add_argument("--group", action="append", default=[], type=parse_group)
    ap.add_argument("--work", default="/tmp/profcore-gate")
    ap.add_argument("fixtures", nargs="*")
    args = ap.parse_intermixed_args(argv)
    tally = Tally()
    if args.command in ("sigcheck", "fixtures"):
        for fixture in args.fixtures:
            sigcheck_fixture(tally, fixture)
        for label, cflags, files in args.group:
            sigcheck_group(tally, label, cflags, files)
    else:
        tool, findings_of, key = (("clang-tidy", tidy_findings, "tidy-expect")
                                  if args.command == "tidy" else
                                  ("gcc-analyzer", analyzer_findings, "analyzer-expect"))
        accepted = allowlisted()
        for label, cflags, files in args.group:
            lint_group(tally, tool, findings_of, args.work, label, cflags, files, accepted)
        for fixture in args.fixtures:
            lint_fixture(tally, tool, findings_of, key, args.work, fixture)
    return tally.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
