#!/usr/bin/env bash
# run_fuzz.sh SECONDS SCRATCH HARNESS:CORPUS... — a short libFuzzer run of
# each harness on its committed seed corpus.  New inputs go to a scratch
# copy (the committed corpus is only read).  A crash leaves its reproducer
# in SCRATCH/artifacts/; replay it with the replay_* driver.
set -u
secs=$1 scratch=$2; shift 2
passed=0 failed=0
mkdir -p "$scratch/artifacts"
for pair in "$@"; do
    harness=${pair%%:*} corpus=${pair#*:}
    name=$(basename "$harness")
    work="$scratch/$name"
    rm -rf "$work" && mkdir -p "$work"
    echo "--- $name: ${secs}s on $corpus"
    if nice "$harness" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$scratch/artifacts/$name-" "$work" "$corpus" 2>"$scratch/$name.log"; then
        grep -E '^(stat::number_of_executed_units|#[0-9]+ +DONE)' "$scratch/$name.log" | tail -n 2
        passed=$((passed + 1))
    else
        tail -n 40 "$scratch/$name.log"
        echo "FAIL: $name (reproducer in $scratch/artifacts/)"
        failed=$((failed + 1))
    fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
