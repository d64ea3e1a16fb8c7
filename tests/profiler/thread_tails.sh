#!/bin/bash
# tests/profiler/thread_tails.sh BUILD_DIR VARIANT — the thread-tail suite.
#
# VARIANT plain: 1, 8 and 64 threads of 50-400 ms (CPU kept to ~13 s) at 100 Hz, 1 kHz and
#   10 kHz (ctimer), a churn of 2000 short threads, a thread across two
#   sessions, the itimer engine's
#   weighting, and the perf engine where perf_event_open is permitted;
# VARIANT asan: the same program under ASan+UBSan, a smaller matrix (64
#   threads at 10 kHz is here only);
# VARIANT tsan: under TSan (the tails are offered from thread exit while
#   other threads' signals run), 8 threads and a churn; not the itimer,
#   whose attribution to threads TSan's deferred signals skew.
# Each run prints "N passed, N failed"; this script sums them into its own
# closing line.
set -u
bdir=$1 variant=${2:-plain}
bin=$bdir/tests/thread_tails
[ "$variant" != plain ] && bin=$bin-$variant
case $variant in
plain) runs=("ctimer 100 1 400" "ctimer 1000 1 100" "ctimer 10000 1 100"
             "ctimer 100 8 100" "ctimer 1000 8 100" "ctimer 10000 8 100"
             "ctimer 100 64 50" "ctimer 1000 64 50"
             "ctimer 1000 churn 2000" "ctimer 1000 two-sessions"
             "itimer 1000 8 100" "itimer 10000 1 100" "perf 10000 8 100") ;;
asan) runs=("ctimer 1000 8 100" "ctimer 10000 64 50" "ctimer 1000 churn 500" "ctimer 1000 two-sessions" "itimer 1000 8 100" "perf 10000 8 100") ;;
tsan) runs=("ctimer 1000 8 100" "ctimer 1000 churn 300") ;;
*) echo "unknown variant $variant"; echo "0 passed, 1 failed"; exit 1 ;;
esac
p=0 f=0
for r in "${runs[@]}"; do
    out=$("$bin" $r 2>&1); rc=$?
    if [ "$rc" -eq 2 ] && echo "$out" | grep -q "engine 'perf' not permitted"; then
        echo "  [$r] not run: $(echo "$out" | head -1)"; continue
    fi
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -1)
    echo "$out" | grep -E '^(FAIL|#|  thread)' | sed "s/^/  [$r] /"
    if [ -z "$line" ]; then
        echo "  [$r] no closing line (exit $rc):"; echo "$out" | tail -20
        f=$((f + 1)); continue
    fi
    set -- $line
    p=$((p + $1)) f=$((f + $3))
    [ "$rc" -ne 0 ] && [ "$3" -eq 0 ] && { echo "  [$r] exit $rc"; f=$((f + 1)); }
done
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
