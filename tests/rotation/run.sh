#!/usr/bin/env bash
# tests/rotation/run.sh MODE PROFILER_DIR BUILD_DIR
#   PROFILER_DIR holds libprofcore.so; BUILD_DIR the test program spin.
# Modes (one suite each):
#   signal   gperftools' CPUPROFILESIGNAL toggled three times: three
#            readable profiles NAME.0..2 and no fourth; its refusal when the
#            signal is already taken (ignored at exec); a program that takes
#            the signal later keeps it; CPUPROFILE_TIMER_SIGNAL: a program
#            that owns SIGPROF (its handler, its ITIMER_PROF) is profiled on
#            another signal (ctimer and wall), bad values refused
#   api      rotate_api (plain, ASan+UBSan, TSan): flushes and rotator cuts
#            at once from the C API, conservation over the files
#   period   PROFCORE_PERIOD=1s: the test waits for the 10th cut file
#            (NAME.9.pb.gz), then the program stops its profile, which
#            writes the last, shorter period: files NAME.0..K, K >= 10 (10
#            cut periods, more if the machine was slow to notice the 10th,
#            and the last one), contiguous in time, the K cut periods ending
#            at or after their deadlines, every file read by go tool pprof,
#            the sum of their samples equal to the session's offered minus
#            rejected weight (no sample lost or counted twice at a cut);
#            SIGKILL after the 3rd cut leaves every file written complete;
#            bad values refused with a message
# Every wait is for an event (a file, a line) with a generous bound that only
# a hang reaches; nothing assumes the machine's speed.
# Prints "N passed, N failed" last; exits non-zero on any failure.
set -u
mode=$1
pdir=$(cd "$2" && pwd)
bdir=$(cd "$3" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
lib=$pdir/libprofcore.so
spin=$bdir/spin
tmp=$(mktemp -d /tmp/profcore-rotation.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
. "${BASH_SOURCE[0]%/*}/../check.sh" # passed, failed, ok, bad, check
PY=/usr/bin/python3
# wait_for COMMAND...: polls COMMAND until it succeeds; fails after 120 s
# (a hang, not a slow machine: every wait here is for an event).
wait_for() {
    local i
    for ((i = 0; i < 2400; i++)); do
        "$@" && return 0
        sleep 0.05
    done
    return 1
}
# go_readable FILE: go tool pprof reads it and it has samples
go_readable() { go tool pprof -top "$1" 2>/dev/null | grep -q 'Showing nodes accounting for [1-9]'; }
# go_has FILE NAME: NAME is among go tool pprof's functions
go_has() { go tool pprof -top -nodecount=50 "$1" 2>/dev/null | grep -q " $2\$"; }

signal_mode() {
    # ---- three toggles: NAME.0, NAME.1, NAME.2 --------------------------------
    local d=$tmp/t
    mkdir -p "$d"
    CPUPROFILE=$d/prof CPUPROFILESIGNAL=12 LD_PRELOAD=$lib "$spin" toggle "$d" >"$d/out" 2>"$d/err" &
    local pid=$!
    pids+=("$pid")
    check "CPUPROFILESIGNAL=12: the switch is announced at load" \
        wait_for grep -q 'signal 12 (CPUPROFILESIGNAL) starts and stops profiling' "$d/err"
    check "CPUPROFILESIGNAL: nothing profiled before the first signal" test ! -e "$d/prof"
    local i
    for i in 1 2 3; do
        kill -USR2 "$pid"
        check "toggle $i: a profile starts (the program sees it enabled)" wait_for test -e "$d/on.$i"
        kill -USR2 "$pid"
        check "toggle $i: it stops and NAME.$((i - 1)) is written" \
            wait_for test -e "$d/off.$i" -a -e "$d/prof.$((i - 1))"
    done
    touch "$d/stop"
    wait "$pid"
    local st=$?
    check "the toggled program exits 0 ($st)" test "$st" -eq 0
    for i in 0 1 2; do
        check "NAME.$i read by go tool pprof, with samples" go_readable "$d/prof.$i"
        check "NAME.$i: spin_hot is in it" go_has "$d/prof.$i" spin_hot
    done
    check "no NAME.3 and no NAME (gperftools names only NAME.<n>)" test ! -e "$d/prof.3" -a ! -e "$d/prof"
    check "no message but the announcement" test "$(grep -vc 'starts and stops profiling' "$d/err")" -eq 0

    # ---- on at exit: the running period is written then ----------------------
    d=$tmp/x
    mkdir -p "$d"
    CPUPROFILE=$d/prof CPUPROFILESIGNAL=SIGUSR1 LD_PRELOAD=$lib "$spin" toggle "$d" >/dev/null 2>"$d/err" &
    pid=$!
    pids+=("$pid")
    wait_for grep -q 'starts and stops' "$d/err"
    kill -USR1 "$pid"
    wait_for test -e "$d/on.1"
    touch "$d/stop"
    wait "$pid"
    st=$?
    check "switched on at exit: exit 0 ($st) and NAME.0 written at exit" test "$st" -eq 0 -a -s "$d/prof.0"
    check "switched on at exit: NAME.0 readable" go_readable "$d/prof.0"

    # ---- refusal: the signal is ignored at exec (gperftools refuses too) ------
    d=$tmp/r
    mkdir -p "$d"
    st=$(bash -c "trap '' USR2; exec env CPUPROFILE=$d/prof CPUPROFILESIGNAL=12 LD_PRELOAD=$lib $spin burn 0.3" \
        2>"$d/err" >/dev/null; echo $?)
    check "signal already taken: the program runs and exits 0 ($st)" test "$st" -eq 0
    check "signal already taken: refused with its message ($(head -c 200 "$d/err"))" \
        grep -q 'CPUPROFILESIGNAL=12: signal 12 already has a handler or is ignored; not taking it over' "$d/err"
    check "signal already taken: no profile" test -z "$(ls "$d" | grep prof)"

    # ---- the program takes the signal later: its handler runs -----------------
    d=$tmp/k
    mkdir -p "$d"
    st=$(CPUPROFILE=$d/prof CPUPROFILESIGNAL=12 LD_PRELOAD=$lib "$spin" takeover 2>"$d/err" >/dev/null; echo $?)
    check "the program's own SIGUSR2 handler ran (exit $st)" test "$st" -eq 0
    check "the switch is gone, with a message" grep -q 'own action for signal 12 (CPUPROFILESIGNAL): the profiling switch is gone' "$d/err"
    check "no profile started by the program's signal" test -z "$(ls "$d" | grep prof)"

    # ---- bad values -----------------------------------------------------------
    for v in 0 65 junk 27 9; do
        st=$(CPUPROFILE=$tmp/bad.$v CPUPROFILESIGNAL=$v LD_PRELOAD=$lib "$spin" burn 0.05 2>"$tmp/bad.err" >/dev/null; echo $?)
        check "CPUPROFILESIGNAL=$v: refused with a message, exit 0 ($st), no profile" \
            bash -c "test $st -eq 0 && grep -q \"CPUPROFILESIGNAL='$v': expected\" '$tmp/bad.err' && ! ls '$tmp'/bad.$v* >/dev/null 2>&1"
    done

    # ---- CPUPROFILE_TIMER_SIGNAL: a program that owns SIGPROF is profiled ------
    st=$(CPUPROFILE=$tmp/ts27 CPUPROFILE_TIMER_SIGNAL=27 LD_PRELOAD=$lib "$spin" burn 0.3 2>"$tmp/ts27.err" >/dev/null; echo $?)
    check "CPUPROFILE_TIMER_SIGNAL=27 (SIGPROF): profiled, exit 0 ($st), no message" \
        bash -c "test $st -eq 0 && test ! -s '$tmp/ts27.err'" && go_readable "$tmp/ts27"
    st=$(PROFCORE_OUT=$tmp/own0.pb.gz LD_PRELOAD=$lib "$spin" ownprof 2>"$tmp/own0.err" >"$tmp/own0.out"; echo $?)
    check "without it, a program that takes SIGPROF keeps it (exit $st) and our session stops, pointing to CPUPROFILE_TIMER_SIGNAL" \
        bash -c "test $st -eq 0 && grep -q 'sets its own SIGPROF action: profiling stops here.*CPUPROFILE_TIMER_SIGNAL' '$tmp/own0.err'"
    local v
    for v in SIGRTMIN+4 USR1; do
        st=$(PROFCORE_OUT=$tmp/own.pb.gz CPUPROFILE_TIMER_SIGNAL=$v LD_PRELOAD=$lib "$spin" ownprof 2>"$tmp/own.err" >"$tmp/own.out"; echo $?)
        check "CPUPROFILE_TIMER_SIGNAL=$v: the program's own SIGPROF handler and itimer work ($(cat "$tmp/own.out"), exit $st)" \
            test "$st" -eq 0
        check "CPUPROFILE_TIMER_SIGNAL=$v: no message, the profile is not stopped ($(head -c 160 "$tmp/own.err"))" test ! -s "$tmp/own.err"
        check "CPUPROFILE_TIMER_SIGNAL=$v: the program is profiled, spin_hot in it" go_has "$tmp/own.pb.gz" spin_hot
        rm -f "$tmp/own.pb.gz"
    done
    st=$(PROFCORE_OUT=$tmp/ownw.pb.gz CPUPROFILE_TIMER_SIGNAL=SIGRTMAX PROFCORE_ENGINE=wall LD_PRELOAD=$lib "$spin" ownprof 2>"$tmp/ownw.err" >/dev/null; echo $?)
    check "CPUPROFILE_TIMER_SIGNAL=SIGRTMAX with the wall engine: exit $st, profiled" \
        bash -c "test $st -eq 0 && test ! -s '$tmp/ownw.err'" && go_has "$tmp/ownw.pb.gz" spin_hot
    for v in 15 SIGINT 9 junk ''; do
        st=$(CPUPROFILE=$tmp/ts CPUPROFILE_TIMER_SIGNAL=$v LD_PRELOAD=$lib "$spin" burn 0.05 2>"$tmp/ts.err" >/dev/null; echo $?)
        check "CPUPROFILE_TIMER_SIGNAL='$v': refused with its message, runs unprofiled (exit $st)" \
            bash -c "test $st -eq 0 && grep -q \"CPUPROFILE_TIMER_SIGNAL='$v': expected a signal number or name among\" '$tmp/ts.err' && test ! -e '$tmp/ts'"
    done
    st=$(CPUPROFILE=$tmp/ts CPUPROFILE_TIMER_SIGNAL=USR2 PROFCORE_ENGINE=itimer LD_PRELOAD=$lib "$spin" burn 0.05 2>"$tmp/ts.err" >/dev/null; echo $?)
    check "CPUPROFILE_TIMER_SIGNAL with the itimer engine: refused (exit $st)" \
        bash -c "test $st -eq 0 && grep -q 'itimer engine' '$tmp/ts.err' && test ! -e '$tmp/ts'"
}

# sums FILE...: "FILE time duration samples lost" per file (pprof_sums.py)
sums() { "$PY" "$here/pprof_sums.py" "$@"; }
# go_parses FILE: go tool pprof reads it (a period may hold no sample)
go_parses() { go tool pprof -top "$1" 2>/dev/null | grep -q '^Showing nodes accounting for'; }
# files_upto DIR: the NAME.<k>.pb.gz of DIR in order of k, while contiguous from 0
files_upto() {
    local k=0
    while test -e "$1/p.$k.pb.gz"; do echo "$1/p.$k.pb.gz"; k=$((k + 1)); done
}

period_mode() {
    # ---- 1 s periods: 10 cuts, then the last period at stop -------------------
    local d=$tmp/p
    mkdir -p "$d"
    PROFCORE_OUT=$d/p.pb.gz PROFCORE_PERIOD=1s LD_PRELOAD=$lib "$spin" rotate "$d/stop" >"$d/out" 2>"$d/err" &
    local pid=$!
    pids+=("$pid")
    check "PROFCORE_PERIOD=1s: the 10th cut file NAME.9.pb.gz appears" wait_for test -e "$d/p.9.pb.gz"
    touch "$d/stop"
    wait "$pid"
    local st=$?
    check "the rotating program exits 0 ($st), nothing on stderr" test "$st" -eq 0 -a ! -s "$d/err"
    mapfile -t files < <(files_upto "$d")
    local n=${#files[@]}
    check "NAME.0 .. NAME.$((n - 1)): at least 11 files (10 cuts and the last period), contiguous" test "$n" -ge 11
    check "no other file: no NAME itself, no temporary left ($(ls "$d" | tr '\n' ' '))" \
        test "$(ls "$d" | grep -vc -e '^p\.[0-9]*\.pb\.gz$' -e '^stop$' -e '^out$' -e '^err$')" -eq 0
    local all_parse=1 f
    for f in "${files[@]}"; do go_parses "$f" || all_parse=0; done
    check "every file read by go tool pprof" test "$all_parse" -eq 1
    sums "${files[@]}" >"$d/sums"
    check "every file decodes completely" test "$(wc -l <"$d/sums")" -eq "$n"
    local offered rejected total
    offered=$(sed -n 's/^offered=\([0-9]*\) .*/\1/p' "$d/out")
    rejected=$(sed -n 's/.* rejected=\([0-9]*\)$/\1/p' "$d/out")
    total=$(awk '{ s += $4 } END { print s + 0 }' "$d/sums")
    check "conservation: samples over the $n files ($total) == offered - rejected (${offered:-?} - ${rejected:-?})" \
        test -n "$offered" -a "$total" -eq "$((offered - ${rejected:-0}))" -a "$total" -gt 0
    check "contiguous: each period starts where the one before ended (within 2 ms of the two clocks)" \
        awk 'NR > 1 { d = $2 - (t + dur); if (d < 0) d = -d; if (d > 2000000) bad = 1 } { t = $2; dur = $3 }
             END { exit bad }' "$d/sums"
    check "the cut periods end at or after their deadlines (k+1 s from the start)" \
        awk -v n="$n" 'NR < n { c += $3; if (c < NR * 1000000000) bad = 1 } END { exit bad }' "$d/sums"
    local hot=0
    for f in "${files[@]}"; do go_has "$f" spin_hot && hot=$((hot + 1)); done
    check "spin_hot found in the periods ($hot of $n)" test "$hot" -ge $((n / 2))
    echo "     periods (time duration samples lost):"
    awk '{ printf "       %s %.3f s %d samples, %d lost\n", $1, $3 / 1e9, $4, $5 }' "$d/sums"

    # ---- ProfilerFlush cuts: 3 flushes, then the stop: NAME.0..3 ----------------
    d=$tmp/f
    mkdir -p "$d"
    st=$(PROFCORE_OUT=$d/p.pb.gz PROFCORE_PERIOD=1h LD_PRELOAD=$lib "$spin" flushes 3 >"$d/out" 2>"$d/err"; echo $?)
    mapfile -t files < <(files_upto "$d")
    check "3 ProfilerFlush calls and the stop: exactly NAME.0..3 (exit $st)" \
        test "$st" -eq 0 -a "${#files[@]}" -eq 4 -a "$(ls "$d" | grep -c 'pb.gz$')" -eq 4
    sums "${files[@]}" >"$d/sums"
    total=$(awk '{ s += $4 } END { print s + 0 }' "$d/sums")
    offered=$(sed -n 's/^offered=\([0-9]*\) .*/\1/p' "$d/out")
    rejected=$(sed -n 's/.* rejected=\([0-9]*\)$/\1/p' "$d/out")
    check "flush cuts: samples over the files ($total) == offered - rejected (${offered:-?} - ${rejected:-?})" \
        test -n "$offered" -a "$total" -eq "$((offered - ${rejected:-0}))" -a "$total" -gt 0

    # ---- a second run into the same files: numbering goes on, nothing overwritten
    local before
    before=$(md5sum "${files[@]}")
    st=$(PROFCORE_OUT=$d/p.pb.gz PROFCORE_PERIOD=1h LD_PRELOAD=$lib "$spin" flushes 1 >/dev/null 2>&1; echo $?)
    check "a second run (exit $st) writes NAME.4 and NAME.5 after the first run's NAME.0..3" \
        test "$st" -eq 0 -a -e "$d/p.4.pb.gz" -a -e "$d/p.5.pb.gz" -a ! -e "$d/p.6.pb.gz"
    check "the first run's files are untouched" test "$(md5sum "${files[@]}")" = "$before"

    # ---- a write that fails loses nothing: the period goes into the next file -
    d=$tmp/w
    mkdir -p "$d"
    PROFCORE_OUT=$d/p.pb.gz PROFCORE_PERIOD=1s LD_PRELOAD=$lib "$spin" rotate "$tmp/w.stop" >"$tmp/w.out" 2>"$tmp/w.err" &
    pid=$!
    pids+=("$pid")
    wait_for test -e "$d/p.1.pb.gz"
    mv "$d" "$tmp/w.away" # the directory is gone: the next write fails
    check "a failed period write is reported, the period kept" \
        wait_for grep -q 'PROFCORE_PERIOD: the period is kept for the next file' "$tmp/w.err"
    mkdir "$d"
    check "the next write, into the directory back again, succeeds" \
        wait_for bash -c "ls '$d' | grep -q '^p\.[0-9]*\.pb\.gz\$'"
    touch "$tmp/w.stop"
    wait "$pid"
    mapfile -t files < <(ls "$tmp/w.away"/p.*.pb.gz "$d"/p.*.pb.gz 2>/dev/null)
    local seqs
    seqs=$(printf '%s\n' "${files[@]}" | sed 's/.*p\.\([0-9]*\)\.pb\.gz$/\1/' | sort -n | tr '\n' ' ')
    check "no number skipped or used twice across the failure ($seqs)" \
        test "$seqs" = "$(seq 0 $((${#files[@]} - 1)) | tr '\n' ' ')"
    total=$(sums "${files[@]}" | awk '{ s += $4 } END { print s + 0 }')
    offered=$(sed -n 's/^offered=\([0-9]*\) .*/\1/p' "$tmp/w.out")
    rejected=$(sed -n 's/.* rejected=\([0-9]*\)$/\1/p' "$tmp/w.out")
    check "nothing lost across the failed write: $total == offered - rejected (${offered:-?} - ${rejected:-?})" \
        test -n "$offered" -a "$total" -eq "$((offered - ${rejected:-0}))" -a "$total" -gt 0

    # ---- SIGKILL after the 3rd cut: every file written is complete ------------
    d=$tmp/k
    mkdir -p "$d"
    PROFCORE_OUT=$d/p.pb.gz PROFCORE_PERIOD=1s LD_PRELOAD=$lib "$spin" rotate "$d/stop" >/dev/null 2>&1 &
    pid=$!
    pids+=("$pid")
    wait_for test -e "$d/p.2.pb.gz"
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null
    mapfile -t files < <(files_upto "$d")
    n=${#files[@]}
    check "SIGKILL: NAME.0..$((n - 1)) left ($n >= 3)" test "$n" -ge 3
    all_parse=1
    for f in "${files[@]}"; do go_parses "$f" || all_parse=0; done
    check "SIGKILL: every file left is read by go tool pprof" test "$all_parse" -eq 1
    check "SIGKILL: every file left decodes completely" sums "${files[@]}"
    check "SIGKILL: no NAME.<k> beyond the contiguous ones" \
        test "$(ls "$d" | grep -c '^p\.[0-9]*\.pb\.gz$')" -eq "$n"

    # ---- bad values: refused with a message, the program runs unprofiled -------
    local v
    for v in 0 -1s junk 500ms 60 25h 1.5s; do
        st=$(PROFCORE_OUT=$tmp/bad.pb.gz PROFCORE_PERIOD=$v LD_PRELOAD=$lib "$spin" burn 0.05 2>"$tmp/bad.err" >/dev/null; echo $?)
        check "PROFCORE_PERIOD=$v: refused with a message, exit 0 ($st), nothing written" \
            bash -c "test $st -eq 0 && grep -q \"PROFCORE_PERIOD='$v': expected a duration 1s..24h\" '$tmp/bad.err' && ! ls '$tmp'/bad.*pb.gz >/dev/null 2>&1"
    done
}

api_mode() {
    local v out
    for v in rotate_api rotate_api-asan rotate_api-tsan; do
        mkdir -p "$tmp/$v"
        out=$(TSAN_OPTIONS="halt_on_error=1 exitcode=66 suppressions=$here/tsan.supp" "$bdir/$v" "$tmp/$v" 2>&1)
        local st=$?
        echo "$out" | sed "s/^/     $v: /"
        local line
        line=$(echo "$out" | tail -n 1)
        check "$v: exit 0 ($st), $line, no sanitizer report" \
            bash -c "test $st -eq 0 && ! grep -q 'WARNING: ThreadSanitizer\|ERROR: AddressSanitizer\|runtime error' <<<'$(echo "$out" | tr -d "'")' && grep -q ' 0 failed\$' <<<'$line'"
    done
}

case $mode in
signal) signal_mode ;;
period) period_mode ;;
api) api_mode ;;

*) echo "unknown mode $mode"; exit 2 ;;
esac
echo "$passed passed, $failed failed"
test "$failed" -eq 0
