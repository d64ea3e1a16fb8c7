#!/usr/bin/env bash
# test_record.sh PROFCORE DUMMY_LIB TESTPROG TESTPROG_STATIC SCRATCH
# `profcore record` end to end with a dummy preload library (the real one
# does not exist yet): option validation, library lookup, static and setuid
# programs, exit-status propagation, signal forwarding, the summary, and
# the "no profile was written" cases.  Ends with "N passed, N failed".
set -u
dir=$5
rm -rf "$dir" && mkdir -p "$dir"
pc=$(realpath "$1") lib=$(realpath "$2") prog=$(realpath "$3") static_prog=$(realpath "$4") dir=$(realpath "$dir")
passed=0 failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; sed 's/^/    /' "$dir/err" | head -n 20; }

# run EXPECTED_STATUS GREP_PATTERN_ON_STDERR DESCRIPTION -- cmd...
run() {
    local want=$1 pattern=$2 what=$3; shift 4
    "$@" >"$dir/out" 2>"$dir/err" </dev/null
    local got=$?
    if [ "$got" -ne "$want" ]; then bad "$what: exit $got, want $want"; return; fi
    if [ -n "$pattern" ] && ! grep -qE -- "$pattern" "$dir/err"; then bad "$what: stderr lacks /$pattern/"; return; fi
    ok
}

export PROFCORE_LIB=$lib
out=$dir/p.collapsed

# ---- option validation ---------------------------------------------------
run 2 "no command given" "no command" -- "$pc" record
run 2 "no command given" "only --" -- "$pc" record --
run 2 "-F '0': expected an integer 1..100000" "-F 0" -- "$pc" record -F 0 -- "$prog" exit 0
run 2 "-F '10x': expected an integer" "-F 10x" -- "$pc" record -F 10x -- "$prog" exit 0
run 2 "-F '100001'" "-F too high" -- "$pc" record -F 100001 -- "$prog" exit 0
run 2 "-e 'cycles': expected one of ctimer, itimer, perf, wall" "-e bad" -- "$pc" record -e cycles -- "$prog" exit 0
run 2 "--format 'json': expected one of pprof, legacy, collapsed" "--format bad" -- "$pc" record --format json -- "$prog" exit 0
run 2 "unrecognized option" "unknown option" -- "$pc" record --bogus -- "$prog" exit 0
run 2 "-o: expected" "empty -o" -- "$pc" record -o "" -- "$prog" exit 0
run 2 "output '/nonexistent/dir/p': No such file" "output dir missing" -- "$pc" record -o /nonexistent/dir/p -- "$prog" exit 0
run 2 "unknown command 'recrod'" "unknown subcommand" -- "$pc" recrod
run 2 "usage" "no subcommand" -- "$pc"
run 0 "" "--help" -- "$pc" --help
run 2 "SNAPSHOT_SIGNAL='SIGKILL'" "bad inherited variable caught by the same parser" -- \
    env PROFCORE_SNAPSHOT_SIGNAL=SIGKILL "$pc" record -o "$out" -- "$prog" exit 0

# ---- library and command lookup ------------------------------------------
run 2 "preload library /nonexistent/libprofcore.so not found" "PROFCORE_LIB missing" -- \
    env PROFCORE_LIB=/nonexistent/libprofcore.so "$pc" record -o "$out" -- "$prog" exit 0
mkdir -p "$dir/bin" && cp "$pc" "$dir/bin/profcore"
run 2 "libprofcore.so next to profcore" "no library next to the binary" -- \
    env -u PROFCORE_LIB "$dir/bin/profcore" record -o "$out" -- "$prog" exit 0
cp "$lib" "$dir/bin/libprofcore.so"
run 0 "5 samples" "library found next to the binary" -- \
    env -u PROFCORE_LIB "$dir/bin/profcore" record -o "$out" -- "$prog" exit 0
run 127 "command not found: no-such-command-xyz" "command not found" -- "$pc" record -o "$out" -- no-such-command-xyz
run 0 "is statically linked: LD_PRELOAD cannot work there; it will run unprofiled" "static binary runs unprofiled" -- \
    "$pc" record -o "$out" -- "$static_prog" exit 0
run 7 "link the profiler into it" "static binary keeps its exit status" -- "$pc" record -o "$out" -- "$static_prog" exit 7

# ---- exit status and the summary -------------------------------------------
run 3 "5 samples" "exit 3 propagated, summary printed" -- "$pc" record -F 250 -o "$out" --format collapsed -- "$prog" exit 3
if grep -q "at 250 Hz" "$dir/err" && grep -q "\[lost: contended\] 1" "$dir/err" && grep -qE "CPU profiled 0\.020 s" "$dir/err" &&
    grep -qE "^ +3 +60\.0% +60\.0% +3 +60\.0%  helper$" "$dir/err"; then ok; else bad "summary content"; fi
[ -f "$out" ] && ok || bad "profile file exists"
run 0 "" "exit 0" -- "$pc" record -o "$out" -- "$prog" exit 0
run 255 "" "exit 255" -- "$pc" record -o "$out" -- "$prog" exit 255
run 137 "killed by signal 9" "SIGKILL -> 137" -- "$pc" record -o "$dir/k.collapsed" -- "$prog" kill 9
grep -q "no profile was written" "$dir/err" && ok || bad "killed: no profile message"
run 134 "killed by signal 6" "SIGABRT -> 134" -- "$pc" record -o "$dir/k.collapsed" -- "$prog" kill 6

# The stale file from an earlier run must not be mistaken for a new profile.
run 4 "no profile was written to $out" "stale file not taken for a profile" -- \
    env PROFCORE_DUMMY_SKIP=1 "$pc" record -o "$out" -- "$prog" exit 4
rm -f "$dir/none.collapsed"
run 0 "no profile was written" "no file at all" -- env PROFCORE_DUMMY_SKIP=1 "$pc" record -o "$dir/none.collapsed" -- "$prog" exit 0

# ---- what the command sees -------------------------------------------------
( cd "$dir" && env CPUPROFILE=/tmp/gp LD_PRELOAD= "$pc" record -F 1000 -e wall --format legacy --children -o rel.prof -- "$prog" env ) >"$dir/envout" 2>"$dir/err"
for want in "PROFCORE_HZ=1000" "PROFCORE_ENGINE=wall" "PROFCORE_FORMAT=legacy" "PROFCORE_CHILDREN=1" \
    "CPUPROFILE=(unset)" "PROFCORE_OUT=$(cd "$dir" && pwd -P)/rel.prof" "LD_PRELOAD=$(realpath "$lib")"; do
    grep -qxF -- "$want" "$dir/envout" && ok || bad "child environment lacks $want: $(tr '\n' ' ' <"$dir/envout")"
done
( env LD_PRELOAD=/lib/x86_64-linux-gnu/libm.so.6 "$pc" record -o "$out" -- "$prog" env ) >"$dir/envout" 2>"$dir/err"
grep -qxF "LD_PRELOAD=$(realpath "$lib"):/lib/x86_64-linux-gnu/libm.so.6" "$dir/envout" && ok || bad "existing LD_PRELOAD kept"

# The preload side refuses a bad value itself and the program still runs.
run 5 "PROFCORE_HZ='fast': expected an integer 1..100000; profiling disabled" "preload refuses bad env" -- \
    env LD_PRELOAD="$lib" PROFCORE_OUT="$dir/direct.collapsed" PROFCORE_HZ=fast "$prog" exit 5
[ ! -e "$dir/direct.collapsed" ] && ok || bad "refused config wrote a profile"

# ---- setuid and scripts ----------------------------------------------------
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
    cp "$prog" "$dir/suid" && chown nobody "$dir/suid" && chmod 4755 "$dir/suid"
    run 7 "setuid/setgid: the loader ignores LD_PRELOAD, it will run unprofiled" "setuid warning" -- \
        "$pc" record -o "$dir/suid.collapsed" -- "$dir/suid" exit 7
    rm -f "$dir/suid"
else
    # Not root: a setgid file of a group we are not in gives the same case.
    bad "setuid case needs root and the nobody user (run the suite as root)"
fi
printf '#!/bin/sh\nexit 9\n' >"$dir/script.sh" && chmod +x "$dir/script.sh"
run 9 "" "a shell script runs (its interpreter is dynamic)" -- "$pc" record -o "$dir/s.collapsed" -- "$dir/script.sh"

# ---- signal forwarding -------------------------------------------------------
for sig in INT TERM HUP QUIT; do
    rm -f "$dir/ready"
    "$pc" record -o "$dir/sig.collapsed" -- "$prog" wait "$dir/ready" >"$dir/out" 2>"$dir/err" &
    pid=$!
    for _ in $(seq 100); do [ -e "$dir/ready" ] && break; sleep 0.05; done
    kill -s "$sig" "$pid"
    wait "$pid"
    got=$?
    num=$(kill -l "$sig")
    [ "$got" -eq $((100 + num)) ] && ok || bad "SIG$sig forwarded: exit $got, want $((100 + num))"
done

# ---- top on what record wrote ------------------------------------------------
run 0 "" "top" -- "$pc" top -n 2 "$out"
if grep -q "collapsed profile, 3 stacks, 5 samples" "$dir/out" && [ "$(grep -cE '[0-9]%  ' "$dir/out")" -eq 2 ]; then ok; else bad "top output: $(cat "$dir/out")"; fi
run 1 "profcore top: $dir/nope: .*No such file" "top on a missing file" -- "$pc" top "$dir/nope"
printf 'main;;x 3\n' >"$dir/broken"
run 1 "collapsed: line 1: empty frame name" "top on a broken file" -- "$pc" top "$dir/broken"
run 2 "-n '0'" "top -n 0" -- "$pc" top -n 0 "$out"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
