#!/usr/bin/env bash
# run_all.sh CMD... — runs each command (a quoted string), shows its output,
# and adds up their closing "N passed, N failed" lines into one.  A command
# that exits non-zero without reporting a failure counts one failure.
set -u
passed=0 failed=0
for cmd in "$@"; do
    echo "--- $cmd"
    out=$(bash -c "$cmd" 2>&1)
    status=$?
    echo "$out"
    line=$(echo "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    p=0 f=0
    if [ -n "$line" ]; then p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}; fi
    [ "$status" -ne 0 ] && [ "$f" -eq 0 ] && f=1
    passed=$((passed + p)) failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
