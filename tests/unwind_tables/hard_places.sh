#!/usr/bin/env bash
# tests/unwind_tables/hard_places.sh BUILD_DIR — the table walk where it is
# hard (tests/unwind_tables/hard_places.c runs each scenario under the C API
# with unwind "auto"; this script reads the profile back with go tool pprof
# through tests/unwind_tables/traces.py).  Prints "N passed, N failed".
set -u
B=$1
H=$B/unwind_tables/hard_places
LIB=$B/unwind_tables/libut_dl.so
tmp=$(mktemp -d /tmp/pcp-unwind-hard.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# share PROFILE EXPR: a python expression over (frames) -> bool, evaluated
# on the samples that satisfy WHERE; prints "matching_pct count".
share() {
    /usr/bin/python3 - "$1" "$2" "$3" <<'EOF'
import sys
sys.path.insert(0, "tests/unwind_tables")
import traces
prof, where, want = sys.argv[1:4]
st = traces.traces(prof)
has = lambda f, name: any(x == name or x.startswith(name + " ") or x.startswith(name + ".") for x in f)
rooted = traces.reaches_root
sel = [(c, f) for c, f in st if eval(where)]
n = sum(c for c, _ in sel)
m = sum(c for c, f in sel if eval(want))
print("%.2f %d" % (100.0 * m / n if n else 0.0, n))
EOF
}
# expect NAME PROFILE WHERE WANT MIN_PCT MIN_COUNT
expect() {
    local r pct n
    r=$(share "$2" "$3" "$4")
    pct=${r% *}
    n=${r#* }
    if [ "$n" -ge "$6" ] && awk -v a="$pct" -v b="$5" 'BEGIN { exit !(a >= b) }'; then
        ok "$1: $pct % of $n samples where [$3] have [$4] (>= $5 %)"
    else
        bad "$1: $pct % of $n samples where [$3] have [$4] (want >= $5 % of >= $6)"
    fi
}
run() { # run SCENARIO: the program's own checks (conservation) and its exit status
    if "$H" "$1" "$tmp/$1.pb.gz" "$LIB" >"$tmp/$1.out" 2>&1 && grep -q "conservation ok" "$tmp/$1.out"; then
        ok "$1: ran, exact conservation"
    else
        bad "$1: exit or conservation"; tail -5 "$tmp/$1.out"
    fi
}

run sighandler
expect sighandler "$tmp/sighandler.pb.gz" 'has(f, "spin_in_handler")' \
    'has(f, "interrupted_loop") and has(f, "raise") and rooted(f)' 99 20
run altstack
expect altstack "$tmp/altstack.pb.gz" 'has(f, "spin_in_handler")' \
    'has(f, "interrupted_loop") and rooted(f)' 99 20
run plt
# PLT stubs have no symbol: named by their FDE (hard_places+0x...)
expect plt "$tmp/plt.pb.gz" 'f[0].startswith("hard_places+0x")' 'has(f, "plt_loop") and rooted(f)' 99 3
expect plt-all "$tmp/plt.pb.gz" 'True' 'rooted(f)' 99 50
run vdso
expect vdso "$tmp/vdso.pb.gz" 'f[0].startswith("__vdso_")' 'has(f, "vdso_loop") and rooted(f)' 99 20
run blocked
expect blocked "$tmp/blocked.pb.gz" 'has(f, "start_thread")' 'has(f, "blocked_reader") and has(f, "read")' 99 20
run unregistered
if grep -Eq "stat unregistered_samples [1-9]" "$tmp/unregistered.out"; then ok "unregistered: samples taken on the unregistered path"
else bad "unregistered: no unregistered samples"; fi
expect unregistered "$tmp/unregistered.pb.gz" 'has(f, "unreg_main")' 'has(f, "unreg_level1") and rooted(f)' 99 20
if "$H" nocfi "$tmp/nocfi.pb.gz" "$B/unwind_tables/libut_nocfi.so" >"$tmp/nocfi.out" 2>&1 &&
    grep -q "conservation ok" "$tmp/nocfi.out" && grep -Eq "frame pointers for [1-9][0-9]* without CFI: .*libut_nocfi.so" "$tmp/nocfi.out"; then
    ok "nocfi: the summary names the library without CFI (frame pointers there)"
else
    bad "nocfi: not named or broken run"; grep -E "unwind|conserv" "$tmp/nocfi.out"
fi
expect nocfi "$tmp/nocfi.pb.gz" 'has(f, "ut_nocfi_spin")' 'has(f, "nocfi_loop") and rooted(f)' 99 20
# --unwind tables (pcp_options.unwind = "tables"): the stack ends at the
# first frame no table covers, so the no-CFI leaf is all there is
HARD_UNWIND=tables "$H" nocfi "$tmp/nocfi-t.pb.gz" "$B/unwind_tables/libut_nocfi.so" >"$tmp/nocfi-t.out" 2>&1
if grep -q "unwind: tables:" "$tmp/nocfi-t.out"; then ok "tables mode: the summary says 'unwind: tables'"
else bad "tables mode: no 'unwind: tables' line"; fi
expect tables-mode "$tmp/nocfi-t.pb.gz" 'has(f, "ut_nocfi_spin")' 'len(f) == 1' 99 20
HARD_UNWIND=fp "$H" vdso "$tmp/vdso-fp.pb.gz" >"$tmp/vdso-fp.out" 2>&1
if grep -q "unwind: fp" "$tmp/vdso-fp.out" && grep -q "0 by tables" "$tmp/vdso-fp.out"; then
    ok "fp mode: no table walk, the summary says 'unwind: fp'"
else bad "fp mode: $(grep -E 'unwind:|depth:' "$tmp/vdso-fp.out" | tr '\n' ' ')"; fi
if HARD_UNWIND=bogus "$H" vdso "$tmp/bogus.pb.gz" >"$tmp/bogus.out" 2>&1; then bad "a bad unwind value was accepted"
elif grep -q "unknown unwinder 'bogus' (expected fp, tables or auto)" "$tmp/bogus.out"; then ok "a bad unwind value: a clear error"
else bad "bad unwind value: $(head -2 "$tmp/bogus.out")"; fi
run dlstorm
cycles=$(sed -n 's/^stat dl_cycles //p' "$tmp/dlstorm.out")
snaps=$(sed -n 's/.*; \([0-9]*\) snapshots published.*/\1/p' "$tmp/dlstorm.out")
if [ "${cycles:-0}" -ge 100 ] && [ "${snaps:-0}" -ge 3 ]; then
    ok "dlstorm: $cycles dlopen/dlclose cycles at 10 kHz, $snaps snapshots published"
else
    bad "dlstorm: cycles ${cycles:-?}, snapshots ${snaps:-?}"
fi
# the table memory cap: past it, objects fall back to frame pointers, named
# in one summary line; the profile is still complete and conserved
if PCP_TEST_UNWIND_CAP_BYTES=60000 "$H" vdso "$tmp/cap.pb.gz" >"$tmp/cap.out" 2>&1 &&
    grep -q "conservation ok" "$tmp/cap.out" &&
    grep -Eq "frame pointers for [1-9][0-9]* past the table memory cap: .*libc" "$tmp/cap.out"; then
    ok "cap: $(grep -o 'tables for [0-9]* objects' "$tmp/cap.out"), $(grep -o 'frame pointers for [0-9]* past the table memory cap' "$tmp/cap.out")"
else
    bad "cap: no cap line or broken run"; grep unwind "$tmp/cap.out"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
