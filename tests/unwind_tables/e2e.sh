#!/usr/bin/env bash
# tests/unwind_tables/e2e.sh BUILD_DIR — the table unwinder end to end.
#
# Each workload is profiled by `profcore record` (the preload library, the
# default unwinder `auto`) and the written profile is read back by
# `go tool pprof -traces` (tests/unwind_tables/traces.py): at least 99 % of
# samples must reach main (threads: start_thread).
#   omitfp     a C program built -O2 -fomit-frame-pointer (main -> 8 levels
#              -> qsort -> comparator, zlib, liblzma), 2 extra threads
#   python3    Debian's python3.11: Python recursion into json and zlib
#   xz         Debian's xz compressing (-T1: xz's worker threads block all signals)
#   fp-same    the same C program built with frame pointers and no library
#              callbacks ("pure"): --unwind fp and --unwind tables both reach
#              main on >= 99 %, and on >= 98 % of the fp samples the tables
#              profile has a stack with every frame fp found.  (Not equal:
#              gcc gives the frameless leaf do_arith no frame record even
#              with -mno-omit-leaf-frame-pointer, so fp loses its caller
#              level8, which the tables find; b_in_a is printed.)
#   fp-mode    --unwind fp on the -fomit-frame-pointer build does NOT reach
#              main (so the checks above can fail: the tables do the work)
#   comment    the profile says which unwinder produced it
#   stripped   libz (no symbol table): its frames are named by the start of
#              the FDE that contains them, each a function entry readelf lists
# "main": main itself, or for a stripped main (python3, xz) its caller
# __libc_start_call_main.  With UNWIND_E2E_PERF=1, perf --call-graph dwarf's
# mean depth on the same workloads is printed (reported, not asserted).
set -u
B=$1
PROFCORE=$B/profiler/profcore
W=$B/unwind_tables
TRACES="/usr/bin/python3 tests/unwind_tables/traces.py"
tmp=$(mktemp -d /tmp/pcp-unwind-e2e.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

# rooted NAME PROFILE BINARY MIN_PCT MIN_DEPTH
rooted() {
    local s pct depth
    s=$($TRACES stats "$2" "$3" 2>&1)
    pct=$(echo "$s" | field rooted_pct)
    depth=$(echo "$s" | field mean_depth)
    echo "     $1: $s"
    if [ -n "$pct" ] && ge "$pct" "$4" && ge "$depth" "$5"; then
        ok "$1: $pct % of samples reach main/start_thread (>= $4), mean depth $depth (>= $5)"
    else
        bad "$1: ${pct:-?} % reach main/start_thread (want >= $4), mean depth ${depth:-?} (want >= $5)"
    fi
}

record() { # record OUT ARGS... -- command
    local out=$1; shift
    "$PROFCORE" record -F 997 -o "$out" "$@" >"$out.log" 2>&1
}

perf_depth() { # perf_depth COMMAND...: mean frames per sample by perf --call-graph dwarf
    perf record -q -e cpu-clock -F 997 --call-graph dwarf,16384 -o "$tmp/perf.data" -- "$@" \
        >/dev/null 2>"$tmp/perf.err" || { echo "n/a ($(head -c 120 "$tmp/perf.err"))"; return; }
    perf script -i "$tmp/perf.data" -F ip,sym 2>/dev/null |
        awk 'NF == 0 { if (n) { s++; t += n; if (r) m++ } n = 0; r = 0; next }
             { n++; if ($2 == "main" || $2 == "start_thread") r = 1 }
             END { if (n) { s++; t += n; if (r) m++ } if (s) printf "%.1f (%.1f %% reach main)", t / s, 100 * m / s; else print "n/a" }'
}

# ---- the -fomit-frame-pointer program
record "$tmp/omitfp.pb.gz" -- "$W/omitfp_workload" 1.2 2
rooted omitfp "$tmp/omitfp.pb.gz" "$W/omitfp_workload" 99 12
if grep -q "profcore unwind: auto: tables for" "$tmp/omitfp.pb.gz.log"; then
    ok "comment: the profile says the unwinder (auto, tables)"
else
    bad "comment: no 'unwind: auto' line in record's output"; cat "$tmp/omitfp.pb.gz.log"
fi
# ---- a library without a symbol table (Debian's libz): frames are named by
# the start of their FDE, so each name is a function entry readelf lists
libz=$(readlink -f /usr/lib/x86_64-linux-gnu/libz.so.1)
names=$(go tool pprof -top -nodecount=100000 "$tmp/omitfp.pb.gz" 2>/dev/null |
    grep -o "$(basename "$libz")+0x[0-9a-f]*" | sort -u)
starts=$(readelf --debug-dump=frames "$libz" 2>/dev/null | sed -n 's/.* FDE cie=.* pc=0*\([0-9a-f]*\)\.\..*/\1/p' | sort -u)
nn=$(echo "$names" | grep -c . || true)
notfde=0
for n in $names; do echo "$starts" | grep -qx "${n##*+0x}" || notfde=$((notfde + 1)); done
if [ "$nn" -ge 1 ] && [ "$notfde" -eq 0 ]; then
    ok "stripped: $nn distinct libz functions named $(basename "$libz")+0xFDE-start, all FDE starts per readelf"
else
    bad "stripped: $nn libz names, $notfde not an FDE start ($(echo $names | head -c 200))"
fi

if [ "${UNWIND_E2E_PERF:-0}" = 1 ]; then echo "     perf --call-graph dwarf on omitfp: mean depth $(perf_depth "$W/omitfp_workload" 1.2 2)"; fi

# ---- frame pointers only on it: the stacks break in libc/libz (the point of tables)
record "$tmp/omitfp-fp.pb.gz" --unwind fp -- "$W/omitfp_workload" 0.6
s=$($TRACES stats "$tmp/omitfp-fp.pb.gz" "$W/omitfp_workload")
pct=$(echo "$s" | field rooted_pct)
if [ -n "$pct" ] && ! ge "$pct" 50; then ok "fp-mode: --unwind fp on the omit-fp build reaches main on only $pct %"
else bad "fp-mode: --unwind fp reached main on ${pct:-?} % (the check would not catch a broken table walk)"; fi

# ---- Debian's python3: recursion into json and zlib.  Known gap: the
# first samples in a just-imported extension (_json, zlib) can come before
# the writer has noticed the dlopen; such a walk ends in "no-table" (checked
# below: at most the samples of the imports themselves).  The workload
# imports, then calls pcp_objects_changed (exported by the preloaded
# library, through ctypes), which returns once the tables cover every object
# loaded so far — a certain path, where a sleep for the writer's poll was
# timing luck under load — then works: what is asserted at 99 % is the walk
# with the tables in place.
cat >"$tmp/work.py" <<'EOF'
import ctypes, json, time, zlib
if ctypes.CDLL(None).pcp_objects_changed() != 0:
    raise SystemExit("pcp_objects_changed: no session uses unwind tables")
def rec(n, data):
    if n == 0:
        s = json.dumps(data)
        return len(zlib.compress(s.encode(), 6)) + len(json.loads(s))
    return rec(n - 1, data) + 1
data = [{"k%d" % i: list(range(i % 50))} for i in range(300)]
end = time.time() + 2.0
while time.time() < end:
    rec(10, data)
EOF
record "$tmp/py.pb.gz" -- /usr/bin/python3.11 "$tmp/work.py"
rooted python3 "$tmp/py.pb.gz" /usr/bin/python3.11 99 10
nt=$(sed -n 's/.*walks ended by:.* no-table \([0-9]*\).*/\1/p' "$tmp/py.pb.gz.log")
if [ "${nt:-0}" -le 3 ]; then ok "python3: ${nt:-0} walks ended in a library not yet in the tables (<= 3 late imports)"
else bad "python3: $nt walks ended in no table (more than the late imports)"; fi
if [ "${UNWIND_E2E_PERF:-0}" = 1 ]; then echo "     perf --call-graph dwarf on python3: mean depth $(perf_depth /usr/bin/python3.11 "$tmp/work.py")"; fi

# ---- Debian's xz, one thread (its -T2 workers block every signal: no samples)
head -c 400000 /dev/urandom | od -An -tx1 >"$tmp/input.txt"
record "$tmp/xz.pb.gz" -- /usr/bin/xz -T1 -6 -c -k "$tmp/input.txt"
rooted xz "$tmp/xz.pb.gz" /usr/bin/xz 99 5
if [ "${UNWIND_E2E_PERF:-0}" = 1 ]; then echo "     perf --call-graph dwarf on xz: mean depth $(perf_depth /usr/bin/xz -T1 -6 -c -k "$tmp/input.txt")"; fi

# ---- a frame-pointer build: both unwinders give the same stacks
record "$tmp/pure-fp.pb.gz" --unwind fp -- "$W/fp_workload" 0.8 0 pure
record "$tmp/pure-tables.pb.gz" --unwind tables -- "$W/fp_workload" 0.8 0 pure
rooted fp-same/fp "$tmp/pure-fp.pb.gz" "$W/fp_workload" 99 10
rooted fp-same/tables "$tmp/pure-tables.pb.gz" "$W/fp_workload" 99 10
s=$($TRACES same "$tmp/pure-fp.pb.gz" "$tmp/pure-tables.pb.gz" "$W/fp_workload")
a=$(echo "$s" | field a_in_b)
b=$(echo "$s" | field b_in_a)
if [ -n "$a" ] && ge "$a" 98; then
    ok "fp-same: on $a % of fp samples the tables profile has every frame fp found (tables stacks equal to fp ones: $b %)"
else
    bad "fp-same: stacks differ ($s)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
