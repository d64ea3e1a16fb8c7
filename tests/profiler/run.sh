#!/usr/bin/env bash
# tests/profiler/run.sh MODE BUILD_PROFILER_DIR [VARIANT]
#   integration  the demo's three files read back by go tool pprof and
#                google-pprof: validity, shares vs in-process truth, total
#                CPU, unregistered tag, hook frames, critical-section count,
#                labels; then the demo linked with libprofcore.so.
#   accuracy     ctimer at 100/1000/10000 Hz x 1/4 threads, 1.5 CPU-s each:
#                total within +-5 %, shares within 3 points (1 and 10 kHz).
#   sanitized    stress + badinput built with VARIANT (asan|tsan).
# Prints "N passed, N failed" last; exits non-zero on any failure.
set -u
mode=$1
bdir=$2
variant=${3:-}
tmp=$(mktemp -d /tmp/profcore-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
    local what=$1; shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}

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
    go tool pprof -top -unit=ms -tagfocus=unregistered=true "$demo" "$out.pb.gz" >"$tmp/unreg.txt" 2>/dev/null
    go tool pprof -top -unit=ms -tagignore=unregistered=true "$demo" "$out.pb.gz" >"$tmp/reg.txt" 2>/dev/null
    check "unregistered thread sampled and tagged unregistered=true" \
        awk -v v="$(flat_ms "$tmp/unreg.txt" demo_stranger_spin)" 'BEGIN {exit !(v>0)}'
    check "no registered sample of the unregistered thread's function" \
        test "$(flat_ms "$tmp/reg.txt" demo_stranger_spin)" = 0
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
            # Shares need enough samples: 3 points is below the sampling noise
            # of 150 samples (100 Hz x 1.5 s), so they are checked at 1 and 10 kHz.
            if [ "$hz" -ge 1000 ]; then
                go tool pprof -top -nodecount=100 -unit=ms "$f.pb.gz" >"$f.top" 2>/dev/null
                share_check "$f.top" "$f.txt" acc_hot_major "$total_ms" "$truth_total" "$name"
                share_check "$f.top" "$f.txt" acc_hot_minor "$total_ms" "$truth_total" "$name"
            fi
            echo "     $name: handler mean $(stat_of "$f.txt" handler_ns_mean) ns, signals $(stat_of "$f.txt" signals)"
        done
    done
}

sanitized() {
    local t
    for t in stress badinput; do
        if "$bdir/tests/$t-$variant" >"$tmp/$t.txt" 2>&1; then ok "$t-$variant"
        else bad "$t-$variant"; tail -40 "$tmp/$t.txt"; fi
        grep -E '^[0-9]+ passed' "$tmp/$t.txt" | sed "s/^/     $t-$variant: /"
    done
}

case $mode in
integration) integration ;;
accuracy) accuracy ;;
sanitized) sanitized ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
