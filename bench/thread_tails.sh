#!/bin/bash
# bench/thread_tails.sh — per-thread profiled vs measured CPU of short
# threads, across thread counts, lengths and frequencies (ctimer engine).
#
# Usage: bench/thread_tails.sh BUILD/profiler/tests/thread_tails [ENGINE]
# Prints a markdown table: for each case the workers' measured CPU
# (CLOCK_THREAD_CPUTIME_ID), the sampled part of the profile, the
# `[unsampled: thread tail]` part, what is still missing, and the missing
# CPU per thread with its spread (median and max of the threads).  Numbers
# only: nothing here is asserted (tests/profiler/thread_tails.sh checks).
set -u
bin=$1 engine=${2:-ctimer}
echo "| threads x ms | Hz | measured ms | sampled | with tail | missing per thread ms (median / max) |"
echo "|---|---:|---:|---:|---:|---:|"
for c in "1 400" "8 50" "8 400" "16 50" "32 50" "64 50" "64 200"; do
    set -- $c
    for hz in 100 1000 10000; do
        out=$("$bin" "$engine" "$hz" "$1" "$2" table | grep -v '^#' | awk 'NF == 5')
        miss=$(echo "$out" | awk '{print $5}' | sort -g)
        med=$(echo "$miss" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
        max=$(echo "$miss" | tail -1)
        echo "$out" | awk -v c="$1 x $2" -v hz="$hz" -v med="$med" -v max="$max" '
            {m += $2; s += $3; t += $4}
            END {printf "| %s | %d | %.0f | %.1f %% | %.1f %% | %.2f / %.2f |\n", c, hz, m, 100*s/m, 100*(s+t)/m, med, max}'
    done
done
