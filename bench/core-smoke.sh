#!/usr/bin/env bash
# core-smoke.sh BIN OUT.csv — the bench-core-smoke suite.
# Runs the core microbenchmark with tiny settings (timing and callgrind) and
# checks that it ran: every scenario x depth and every contention row is
# present, passed its own path verification (check = ok), and has sane,
# non-zero numbers.  It never asserts a time.
set -u
bin=$1 out=$2
rm -f "$out"
bench/core-run.sh "$bin" smoke "$out" --smoke
status=$?
[ -s "$out" ] || { echo "core-smoke: no CSV (core-run exit $status)"; echo "0 passed, 1 failed"; exit 1; }

awk -F, -v status="$status" '
    function check(name, cond) { if (cond) pass++; else { fail++; print "FAIL: " name } }
    NR == 1 { next }
    { row[$2 "-" $4 "-" $5 "-" $6] = $0; ir[$2 "-" $4] = $11 + 0 }
    END {
        check("core-run.sh exit status 0", status == 0)
        split("add-hit add-miss add-evict add-handoff nohandoff-evict nohandoff-drop drain-record", sc, " ")
        split("8 32 64", dp, " ")
        for (i = 1; i <= 7; i++) {
            for (j = 1; j <= 3; j++) {
                found = ""
                for (k in row) if (index(k, sc[i] "-" dp[j] "-") == 1) found = row[k]
                name = sc[i] " depth " dp[j]
                check(name ": row present", found != "")
                if (found == "") continue
                split(found, f, ",")
                check(name ": path verified (" f[13] ")", f[13] == "ok")
                check(name ": ops > 0", f[7] + 0 > 0)
                check(name ": median > 0", f[9] + 0 > 0)
                check(name ": p99 >= median", f[10] + 0 >= f[9] + 0)
                check(name ": instructions/op > 0", f[11] + 0 > 0)
            }
            # Every path but the drain copies or compares each frame, so a
            # deeper stack must cost more instructions: counts that did not
            # move with depth were not measured.
            if (sc[i] != "drain-record")
                check(sc[i] ": instructions grow with depth", ir[sc[i] "-64"] > ir[sc[i] "-8"])
        }
        split("1 2 4 8", sh, " ")
        split("1 2 4", th, " ")
        for (i = 1; i <= 4; i++)
            for (j = 1; j <= 3; j++) {
                key = "contention-32-" sh[i] "-" th[j]
                name = "contention shards " sh[i] " threads " th[j]
                check(name ": row present", key in row)
                if (!(key in row)) continue
                split(row[key], f, ",")
                check(name ": conservation (" f[13] ")", f[13] == "ok")
                check(name ": median > 0", f[9] + 0 > 0)
                check(name ": losses per million in [0, 1e6]", f[12] != "" && f[12] + 0 >= 0 && f[12] + 0 <= 1000000)
            }
        # One thread never contends with itself.
        check("one thread: no contention loss", row["contention-32-1-1"] ~ /,0.0,ok$/)
        printf "%d passed, %d failed\n", pass, fail
        exit fail > 0
    }' "$out"
