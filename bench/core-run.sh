#!/usr/bin/env bash
# core-run.sh BIN LABEL OUT.csv [--smoke]
#
# Runs the core microbenchmark BIN twice:
#   1. `BIN time`  — ns/op (median, p99 over batches) and contention rows;
#   2. `BIN count` under callgrind with --toggle-collect='measured_*' —
#      one dump per scenario (the program zeroes and dumps the counters
#      around each); instructions per op = inclusive Ir of the core function
#      (profcore_add, profcore_add_nohandoff, profcore_drain) in that dump
#      divided by the scenario's measured ops (records, for the drain).
# Writes OUT.csv (LABEL in the compiler column) and prints it as a table.
set -euo pipefail
bin=$1 label=$2 out=$3 smoke=${4:-}
work="${out%.csv}.work"
rm -rf "$work" && mkdir -p "$work"

"$bin" time $smoke > "$work/time.csv"
if ! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='measured_*' \
    --callgrind-out-file="$work/cg.out" "$bin" count $smoke > "$work/count.csv" 2> "$work/valgrind.log"; then
    echo "core-run: callgrind failed, see $work/valgrind.log:" >&2
    tail -5 "$work/valgrind.log" >&2
    exit 1
fi

# One line per dump: NAME IR, NAME = scenario-depth, IR = the api's inclusive cost.
: > "$work/ir.txt"
while IFS=, read -r scenario api depth _ _ ops _ _ _ _ check; do
    [ "$scenario" = scenario ] && continue
    if [ "$check" != ok ]; then echo "core-run: count mode $scenario-$depth: $check" >&2; fi
    dump=$(grep -l -x "desc: Trigger: Client Request: $scenario-$depth" "$work"/cg.out.* || true)
    ir=0
    if [ -n "$dump" ]; then
        ir=$(callgrind_annotate --inclusive=yes --threshold=100 "$dump" |
             awk -v fn=":$api " '!done && index($0, fn) && $2 !~ /=>/ {gsub(",", "", $1); print $1; done = 1}')
    fi
    echo "$scenario-$depth ${ir:-0} $ops" >> "$work/ir.txt"
done < "$work/count.csv"

awk -F, -v OFS=, -v label="$label" '
    NR == FNR { split($0, a, " "); ir[a[1]] = (a[3] > 0 ? a[2] / a[3] : 0); next }
    FNR == 1 { print "compiler", "scenario", "api", "depth", "shards", "threads", "ops", "batches",
                     "median_ns", "p99_ns", "ir_per_op", "lost_per_million", "check"; next }
    { key = $1 "-" $3
      irop = ($1 == "contention") ? "" : sprintf("%.1f", ir[key])
      lpm = ($10 < 0) ? "" : $10
      print label, $1, $2, $3, $4, $5, $6, $7, $8, $9, irop, lpm, $11 }
' "$work/ir.txt" "$work/time.csv" > "$out"

# The CSV as an aligned table (two passes over the file: widths, then rows).
awk -F, 'NR == FNR { for (i = 1; i <= NF; i++) if (length($i) > w[i]) w[i] = length($i); next }
         { line = ""; for (i = 1; i <= NF; i++) line = line sprintf("%-" w[i] + 2 "s", $i); print line }' "$out" "$out"
