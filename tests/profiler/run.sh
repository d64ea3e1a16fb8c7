#!/usr/bin/env bash
# tests/profiler/run.sh MODE BUILD_PROFILER_DIR [VARIANT]
#   integration  the demo's three files read back by go tool pprof and
#                google-pprof: validity, shares vs in-process truth, total
#                CPU, unregistered tag, hook frames, critical-section count,
#                labels; then the demo linked with libprofcore.so.
#   accuracy     ctimer at 100/1000/10000 Hz x 1/4 threads, 1.5 CPU-s each
#                (totals), and 6 CPU-s at 1 kHz x 1/4 threads (shares):
#                total within +-5 %, shares within 3 points.
#   sanitized    stress + badinput built with VARIANT (asan|tsan); with
#                asan also wall_clock and snapshot.
#   snapshot     thread snapshots: one thread with SIGPROF blocked, the
#                snapshot returns after its timeout with a '[no answer]'
#                entry; late answers; during a profile; read by go tool pprof.
#   wall         the wall-clock engine: a spinning, a read-blocked and a
#                nanosleep-blocked thread, 2 s at 100 Hz, each thread's
#                weight within 10 % of its wall time, state labels.
#   exports      libprofcore.so exports the API, gperftools' API and the
#                interposed libc functions, nothing else (INTERPOSED_RE).
# Prints "N passed, N failed" last; exits non-zero on any failure.
set -u
mode=$1
bdir=$2
variant=${3:-}
tmp=$(mktemp -d /tmp/profcore-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
. "${BASH_SOURCE[0]%/*}/../check.sh" # passed, failed, ok, bad, check

# truth FILE NAME -> ns
truth() { awk -F'\t' -v n="$2" '$1=="truth" && $2==n {print $3}' "$1"; }
stat_of() { awk -F'\t' -v n="$2" '$1=="stat" && $2==n {print $3}' "$1"; }

# flat_ms TOPFILE FUNCTION -> flat milliseconds (0 if absent) from pprof -top -unit=ms
flat_ms() {
    awk -v f="$2" '{ name=$0; sub(/^ *[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +/, "", name) }
        name==f { v=$1; sub(/ms$/, "", v); print v; found=1; exit } END { if (!found) print 0 }' "$1"
}
# total weight of a pprof file: sum of the first value column of -raw
raw_total() { go tool pprof -raw "$1" 2>/dev/null | awk '/^Samples:/ {s=1; next} s && /^ *[0-9]+ +[0-9]+:/ {t+=$1} /^Locations/ {s=0} END {print t+0}'; }
# within A B TOL: |A-B| <= TOL (floats)
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d=a-b; if (d<0) d=-d; exit !(d<=t) }'; }

share_check() { # share_check TOP TRUTHFILE FUNCTION PROFILE_TOTAL_MS TRUTH_TOTAL_NS LABEL
    local fl tr ps ts
    fl=$(flat_ms "$1" "$3")
    tr=$(truth "$2" "$3")
    ps=$(awk -v a="$fl" -v b="$4" 'BEGIN {printf "%.2f", 100*a/b}')
    ts=$(awk -v a="$tr" -v b="$5" 'BEGIN {printf "%.2f", 100*a/b}')
    check "$6 $3 share ${ps}% vs truth ${ts}% (3 points)" within "$ps" "$ts" 3
}

integration() {
    local demo=$bdir/demo out=$tmp/demo
    if ! "$demo" "$out" 1000 >"$tmp/demo.txt" 2>"$tmp/demo.err"; then
        bad "demo runs"; cat "$tmp/demo.err"; return
    fi
    ok "demo runs"
    local period_ms total_ms truth_total
    period_ms=$(awk -v p="$(stat_of "$tmp/demo.txt" period_ns)" 'BEGIN {print p/1e6}')
    go tool pprof -top -nodecount=1000 -unit=ms "$demo" "$out.pb.gz" >"$tmp/top.txt" 2>"$tmp/top.err"
    check "go tool pprof -top reads the file" test -s "$tmp/top.txt"
    check "pprof's own checks: no warnings on stderr" test ! -s "$tmp/top.err"
    [ -s "$tmp/top.err" ] && cat "$tmp/top.err"
    total_ms=$(( $(raw_total "$out.pb.gz") ))
    total_ms=$(awk -v w="$total_ms" -v p="$period_ms" 'BEGIN {print w*p}')
    truth_total=$(truth "$tmp/demo.txt" all_threads)
    local ratio
    ratio=$(awk -v a="$total_ms" -v b="$truth_total" 'BEGIN {printf "%.2f", 100*a*1e6/b}')
    check "demo: profiled CPU ${ratio}% of measured (95..105)" within "$ratio" 100 5
    for f in demo_hot_mix demo_hot_hash demo_hot_sort demo_stranger_spin demo_script_outer \
        demo_script_inner "[lost: critical section]"; do
        share_check "$tmp/top.txt" "$tmp/demo.txt" "$f" "$total_ms" "$truth_total" demo
    done
    # Critical section: exactly the handler's count, under its synthetic frame.
    local crit_ms crit_w
    crit_ms=$(flat_ms "$tmp/top.txt" "[lost: critical section]")
    crit_w=$(stat_of "$tmp/demo.txt" critical_weight)
    check "critical section: ${crit_ms} ms in pprof == ${crit_w} samples x period, > 0" \
        awk -v a="$crit_ms" -v w="$crit_w" -v p="$period_ms" 'BEGIN {exit !(w>0 && a==w*p)}'
    # Unregistered thread: its function only under unregistered=true, and present there.
    # pprof's status is checked: a pprof that fails prints nothing, and an
    # empty listing would read as "absent" (0 ms) and pass the second check.
    if go tool pprof -top -unit=ms -tagfocus=unregistered=true "$demo" "$out.pb.gz" >"$tmp/unreg.txt" 2>"$tmp/unreg.err" &&
        go tool pprof -top -unit=ms -tagignore=unregistered=true "$demo" "$out.pb.gz" >"$tmp/reg.txt" 2>"$tmp/reg.err"; then
        ok "go tool pprof -tagfocus / -tagignore unregistered=true"
    else
        bad "go tool pprof -tagfocus / -tagignore unregistered=true"; cat "$tmp/unreg.err" "$tmp/reg.err"
    fi
    check "unregistered thread sampled and tagged unregistered=true" \
        awk -v v="$(flat_ms "$tmp/unreg.txt" demo_stranger_spin)" 'BEGIN {exit !(v>0)}'
    # The registered listing must be a real one: it holds the registered
    # threads' hot function, and not the unregistered thread's.
    local reg_hot
    reg_hot=$(flat_ms "$tmp/reg.txt" demo_hot_mix)
    check "no registered sample of the unregistered thread's function (registered demo_hot_mix: ${reg_hot} ms)" \
        awk -v s="$(flat_ms "$tmp/reg.txt" demo_stranger_spin)" -v h="$reg_hot" 'BEGIN {exit !(s == 0 && h > 0)}'
    # Labels.
    go tool pprof -tags "$out.pb.gz" >"$tmp/tags.txt" 2>/dev/null
    for l in alpha beta interp; do check "label $l present" grep -q ": $l\$" "$tmp/tags.txt"; done
    # Hook frames: every trace holding a script frame has it directly under
    # the native dispatch (inner under outer under dispatch).
    go tool pprof -traces "$out.pb.gz" >"$tmp/traces.txt" 2>/dev/null
    check "hook frames present and under their caller" awk '
        function flush() { for (i = 1; i <= n; i++) {
                if (f[i] == "demo_script_inner") { seen++; if (f[i+1] != "demo_script_outer") badc++ }
                if (f[i] == "demo_script_outer") { if (f[i+1] != "demo_interp_dispatch") badc++ } }
            n = 0 }
        /^-----/ { flush(); next }
        /^ +[0-9.]+[a-z]*s +/ { n++; f[n] = $2; next }
        /^             +[^ ]/ { n++; f[n] = $1; next }
        END { flush(); exit !(seen > 0 && badc == 0) }' "$tmp/traces.txt"
    check "conservation (handler = core = profile + rejected)" \
        test "$(stat_of "$tmp/demo.txt" conservation)" = ok
    # Legacy format through gperftools' own reader.
    google-pprof --text "$demo" "$out.prof" >"$tmp/legacy.txt" 2>"$tmp/legacy.err"
    local legacy_total raw_w
    legacy_total=$(awk '/^Total: / {print $2}' "$tmp/legacy.txt")
    raw_w=$(raw_total "$out.pb.gz")
    check "google-pprof reads the legacy file: $legacy_total samples == pprof $raw_w" \
        test "${legacy_total:-x}" = "$raw_w"
    check "google-pprof names demo_hot_sort" grep -q "demo_hot_sort" "$tmp/legacy.txt"
    # Collapsed: counts sum to the same weight.
    local coll_w
    coll_w=$(awk '{s+=$NF} END {print s+0}' "$out.collapsed")
    check "collapsed weights sum to $coll_w == $raw_w" test "$coll_w" = "$raw_w"
    check "collapsed has the hook frames in order" \
        grep -q "demo_interp_dispatch;demo_script_outer;demo_script_inner " "$out.collapsed"
    # The same program against the shared library.
    if "$bdir/demo-shared" "$tmp/shared" 250 >"$tmp/shared.txt" 2>&1; then ok "demo linked with libprofcore.so runs"
    else bad "demo linked with libprofcore.so runs"; cat "$tmp/shared.txt"; fi
    check "libprofcore.so: conservation" test "$(stat_of "$tmp/shared.txt" conservation)" = ok
    check "libprofcore.so: pprof file valid" go tool pprof -top "$tmp/shared.pb.gz" >/dev/null 2>&1
}

accuracy() {
    local w=$bdir/tests/accuracy_workload
    for threads in 1 4; do
        for hz in 100 1000 10000; do
            local name="ctimer ${hz}Hz ${threads}t" f=$tmp/acc-$hz-$threads
            if ! "$w" ctimer "$hz" "$threads" 1.5 "$f.pb.gz" >"$f.txt" 2>"$f.err"; then
                bad "$name runs"; cat "$f.err"; continue
            fi
            local period_ms total_ms truth_total ratio
            period_ms=$(awk -v h="$hz" 'BEGIN {print 1000/h}')
            total_ms=$(awk -v w="$(raw_total "$f.pb.gz")" -v p="$period_ms" 'BEGIN {print w*p}')
            truth_total=$(truth "$f.txt" all_threads)
            ratio=$(awk -v a="$total_ms" -v b="$truth_total" 'BEGIN {printf "%.2f", 100*a*1e6/b}')
            check "$name: profiled CPU ${ratio}% of measured (95..105)" within "$ratio" 100 5
            check "$name: conservation" test "$(stat_of "$f.txt" conservation)" = ok
            echo "     $name: handler mean $(stat_of "$f.txt" handler_ns_mean) ns, signals $(stat_of "$f.txt" signals)"
        done
    done
    # Shares need enough signals.  The kernel checks CPU timers at its tick,
    # so a thread gets about 250 signals per CPU-second whatever the nominal
    # rate (overruns carry the rest as weight): 1.5 CPU-s is ~375
    # observations, and a 25 % share then has a sampling sigma of 2.2
    # points, too close to the 3-point limit (it failed now and then).
    # 6 CPU-s gives ~1500 signals, sigma ~1.1 points.  1 kHz only: 10 kHz
    # gets no more signals, only larger weights.
    local threads
    for threads in 1 4; do
        local name="ctimer 1000Hz ${threads}t shares" f=$tmp/share-$threads
        if ! "$w" ctimer 1000 "$threads" 6 "$f.pb.gz" >"$f.txt" 2>"$f.err"; then
            bad "$name runs"; cat "$f.err"; continue
        fi
        local total_ms truth_total signals
        total_ms=$(awk -v w="$(raw_total "$f.pb.gz")" 'BEGIN {print w*1}')
        truth_total=$(truth "$f.txt" all_threads)
        signals=$(stat_of "$f.txt" signals)
        go tool pprof -top -nodecount=100 -unit=ms "$f.pb.gz" >"$f.top" 2>/dev/null
        share_check "$f.top" "$f.txt" acc_hot_major "$total_ms" "$truth_total" "$name"
        share_check "$f.top" "$f.txt" acc_hot_minor "$total_ms" "$truth_total" "$name"
        echo "     $name: $signals signals (sampling sigma of a 25 % share:" \
            "$(awk -v n="$signals" 'BEGIN {printf "%.2f", (n > 0 ? 100*sqrt(0.25*0.75/n) : 0)}') points)"
    done
}

sanitized() {
    local t tests="stress badinput"
    # Under ASan also the wall-clock engine and thread snapshots.  Not under
    # TSan: it defers a signal to a thread until that thread enters its
    # runtime, so a thread spinning in plain code never answers or is never
    # sampled there (no race is reported in the runtime; the counts differ).
    [ "$variant" = asan ] && tests="$tests wall_clock snapshot"
    mkdir -p "$tmp/snapdir"
    for t in $tests; do
        local args=()
        [ "$t" = wall_clock ] && args=("$tmp/wall-$variant.pb.gz" 1 100)
        [ "$t" = snapshot ] && args=("$tmp/snapdir")
        if "$bdir/tests/$t-$variant" "${args[@]}" >"$tmp/$t.txt" 2>&1; then ok "$t-$variant"
        else bad "$t-$variant"; tail -40 "$tmp/$t.txt"; fi
        grep -E '^[0-9]+ passed' "$tmp/$t.txt" | sed "s/^/     $t-$variant: /"
    done
}

# ---- wall-clock engine ----------------------------------------------------------
# thread_ms FILE TID [FILTER...]: that thread's total in ms per go tool pprof
thread_ms() {
    local f=$1 tid=$2; shift 2
    go tool pprof -top -unit=ms -tagfocus="tid=$tid" "$@" "$f" 2>/dev/null |
        awk '/^Showing nodes accounting for/ {v=$5; sub(/ms,?$/, "", v); print v + 0; f=1; exit} END {if (!f) print 0}'
}
# state_pct FILE TID STATE: share (%) of that thread's samples labelled state=STATE
state_pct() {
    go tool pprof -tags -tagfocus="tid=$2" "$1" 2>/dev/null |
        awk -v s="$3" '/^ *state:/ {f=1; next} f && /^ *[a-z]+:/ {f=0} f && $NF==s {v=$0; sub(/^[^(]*\( */, "", v); sub(/%.*/, "", v); print v + 0; got=1; exit} END {if (!got) print 0}'
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
# cum_of TOPFILE NAME: cum ms of NAME (0 if absent)
cum_of() { awk -v n="$2" '{ name=$0; sub(/^ *[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +[^ ]+ +/, "", name) }
    name==n { v=$4; sub(/ms$/, "", v); print v; f=1; exit } END { if (!f) print 0 }' "$1"; }

wall() {
    local out=$tmp/wall.pb.gz secs=2 hz=100
    "$bdir/tests/wall_clock" "$out" $secs $hz >"$tmp/wall.txt" 2>&1
    local st=$?
    sed 's/^/     /' "$tmp/wall.txt"
    check "wall_clock runs and its own checks pass (exit $st)" test "$st" -eq 0
    passed=$((passed + $(sed -n 's/^\([0-9]*\) passed, [0-9]* failed$/\1/p' "$tmp/wall.txt" | tail -1)))
    check "go tool pprof reads it: sample type wall/nanoseconds" \
        bash -c "go tool pprof -raw '$out' 2>/dev/null | grep -q '^PeriodType: wall nanoseconds'"
    # Each thread: wall time x hz samples of 1e9/hz ns = ~secs s, within 10 %.
    local want_ms=$((secs * 1000)) name tid ms
    # blocker and muted had the tick signal blocked (half the run, all of
    # it): their time is whole only if undelivered ticks are carried.
    for name in spinner reader main blocker muted; do
        tid=$(awk -v n=$name '$1=="tid" && $2==n {print $3}' "$tmp/wall.txt")
        ms=$(thread_ms "$out" "${tid:-0}")
        check "wall: thread $name ($tid) has ${ms} ms of ${want_ms} (10 %)" within "$ms" "$want_ms" $((want_ms / 10))
        eval "tid_$name=\${tid:-0}"
    done
    local share
    share=$(state_pct "$out" "$tid_reader" sleeping)
    check "wall: the reader blocked in read(2) is labelled state=sleeping (${share}%)" ge "$share" 90
    share=$(state_pct "$out" "$tid_main" sleeping)
    check "wall: main blocked in nanosleep is labelled state=sleeping (${share}%)" ge "$share" 90
    share=$(state_pct "$out" "$tid_spinner" running)
    check "wall: the spinner is labelled state=running (${share}%)" ge "$share" 90
    # The frame-pointer walk from inside a libc syscall wrapper (no frame of
    # its own) skips the wrapper's direct caller (read_work, sleep_work):
    # the blocked stacks are checked at the thread's entry function.
    go tool pprof -top -nodecount=200 -unit=ms "$bdir/tests/wall_clock" "$out" >"$tmp/wall.top" 2>/dev/null
    check "wall: the thread function reader has the reader's blocked time ($(cum_of "$tmp/wall.top" reader) ms)" \
        ge "$(cum_of "$tmp/wall.top" reader)" $((want_ms * 9 / 10))
    check "wall: read (libc) has the reader's blocked time ($(cum_of "$tmp/wall.top" read) ms)" \
        ge "$(cum_of "$tmp/wall.top" read)" $((want_ms * 9 / 10))
    check "wall: spin_work has the spinner's time ($(cum_of "$tmp/wall.top" spin_work) ms)" \
        ge "$(cum_of "$tmp/wall.top" spin_work)" $((want_ms * 9 / 10))
}

# ---- thread snapshots --------------------------------------------------------------
snapshot() {
    mkdir -p "$tmp/snap"
    timeout 60 "$bdir/tests/snapshot" "$tmp/snap" >"$tmp/snap.txt" 2>&1
    local st=$?
    sed 's/^/     /' "$tmp/snap.txt"
    check "snapshot runs, never hangs, and its own checks pass (exit $st)" test "$st" -eq 0
    passed=$((passed + $(sed -n 's/^\([0-9]*\) passed, [0-9]* failed$/\1/p' "$tmp/snap.txt" | tail -1)))
    local f=$tmp/snap/snap1.pb.gz
    check "snapshot (pprof): go tool pprof reads it" bash -c "go tool pprof -raw '$f' 2>/dev/null | grep -q '^Samples:'"
    check "snapshot (pprof): its unit is threads, not CPU time" \
        bash -c "go tool pprof -raw '$f' 2>/dev/null | grep -q '^PeriodType: threads count'"
    check "snapshot (pprof): the silent thread's '[no answer: signals blocked or stopped]' frame" \
        bash -c "go tool pprof -top -sample_index=samples '$f' 2>/dev/null | grep -q 'no answer: signals blocked or stopped'"
    check "snapshot (pprof): 4 threads, one sample each, one tid label each" \
        bash -c "go tool pprof -tags -sample_index=samples '$f' 2>/dev/null | awk '/^ *tid:/ {f=1; next} f && /^ *[a-z]+:/ {f=0} f && /%\\):/ {n++} END {exit !(n == 4)}'"
}

# ---- the shared library's exports -------------------------------------------------
# exports: libprofcore.so exports the public API (every pcp_ function the
# header declares), gperftools' API, and the libc functions the preload half
# interposes, and nothing else.  INTERPOSED_RE is the fragment's anchored
# alternative of the interposed names.
exports() {
    local lib=$bdir/libprofcore.so hdr=profiler/include/profcore_profiler.h
    local defined
    if ! defined=$(nm -D --defined-only "$lib" 2>"$tmp/nm.err" | awk '$2 ~ /[TDBW]/ {print $3}'); then
        bad "nm -D reads $lib"; cat "$tmp/nm.err"; return
    fi
    check "nm -D reads $lib ($(echo "$defined" | grep -c .) defined symbols)" test -n "$defined"
    local unexpected
    unexpected=$(echo "$defined" | grep -v -E "^(pcp_|Profiler|ProfilingIsEnabledForAllThreads\$|profcore_sample_filtered_out\$|${INTERPOSED_RE:?})" | tr '\n' ' ' || true)
    unexpected=${unexpected% }
    check "no export outside the API and the interposed libc functions (${unexpected:-none})" test -z "$unexpected"
    local f missing=""
    for f in $(grep -oE '\bpcp_[a-z_]+ *\(' "$hdr" | tr -d '( ' | sort -u); do
        echo "$defined" | grep -qx "$f" || missing="$missing $f"
    done
    check "every pcp_ function of $hdr is exported (missing:${missing:- none})" test -z "$missing"
    missing=""
    for f in ProfilerStart ProfilerStop ProfilerFlush pthread_create fork execve sigaction; do
        echo "$defined" | grep -qx "$f" || missing="$missing $f"
    done
    check "gperftools' API and the interposed libc functions are exported (missing:${missing:- none})" test -z "$missing"
}

case $mode in
exports) exports ;;
snapshot) snapshot ;;
wall) wall ;;
integration) integration ;;
accuracy) accuracy ;;
sanitized) sanitized ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
