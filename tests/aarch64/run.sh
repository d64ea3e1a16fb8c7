#!/usr/bin/env bash
# tests/aarch64/run.sh MODE BUILD_DIR
# Runs aarch64 builds under qemu-user ($AARCH64_RUN, e.g.
# "qemu-aarch64 -L /usr/aarch64-linux-gnu") and adds up their results.
#   core      core unit tests (plain, and ASan+UBSan), the real-signal stress
#             test, the core demo and the gate's real handler
#   profiler  the profiler's unwind_agree part 1 (frame pointers against
#             libgcc's unwinder) and the demo (see tests/aarch64/aarch64.mk)
# Each program is one check (it ran, exit 0, and its own closing line has
# no failure); its own passed/failed counts are added.  What cannot run
# under qemu-user is printed as "n/a  WHAT: WHY" and counted on the line
# before the closing line, never left out silently.
# qemu's TCG gives the guest the host's (x86_64) strong memory order: this
# checks the code's aarch64 paths (instructions, atomics, frame layout,
# signal frames), not its behaviour under weak memory ordering.
set -u
mode=$1 bdir=$2
run=${AARCH64_RUN:?set AARCH64_RUN to the qemu-user command}
tmp=$(mktemp -d /tmp/profcore-aarch64.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
passed=0 failed=0 na=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
na() { na=$((na + 1)); echo "n/a  $*"; }

# prog NAME [ENV=VAL...] -- BINARY ARGS...: one program under qemu.
prog() {
    local name=$1; shift
    local envs=()
    while [ "$1" != -- ]; do envs+=("$1"); shift; done
    shift
    local out=$tmp/$name.out st
    env "${envs[@]}" ${pre:-} $run "$@" >"$out" 2>&1
    st=$?
    sed 's/^/     /' "$out" | grep -E '^     (FAIL|[0-9]+ passed|conservation|.*: ok$)' | head -20
    local line p=0 f=0
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [ -n "$line" ]; then p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$st" -eq 0 ] && [ "$f" -eq 0 ]; then ok "$name under qemu-aarch64 (exit 0; its own: $p passed, $f failed)"
    else bad "$name under qemu-aarch64: exit $st, its own $p passed, $f failed"; tail -n 15 "$out"; fi
}

core() {
    prog core_test -- "$bdir/core_test"
    # LeakSanitizer stops the thread it checks with ptrace-like suspension,
    # which qemu-user does not emulate ("LeakSanitizer has encountered a
    # fatal error"): ASan and UBSan run, leak checking is off.
    prog core_test-asan ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1 -- "$bdir/core_test-asan"
    na "LeakSanitizer on aarch64: its StopTheWorld ptrace()s its own threads, which fails under qemu-user ("LeakSanitizer has encountered a fatal error"); ASan and UBSan do run"
    prog core_stress -- "$bdir/core_stress" "${STRESS_SECONDS:-2}"
    # TSan re-executes the program with ASLR off unless it already is, and
    # an execve of an aarch64 binary from inside qemu-user fails (ENOEXEC,
    # no binfmt_misc here): setarch -R turns ASLR off before qemu starts.
    pre="setarch -R" prog core_stress-tsan TSAN_OPTIONS=halt_on_error=1 -- "$bdir/core_stress-tsan" "${STRESS_SECONDS:-2}"
    prog core_handler -- "$bdir/core_handler"
    local st
    $run "$bdir/core_demo" >"$tmp/demo.out" 2>&1
    st=$?
    grep -E '^conservation' "$tmp/demo.out" | sed 's/^/     /'
    if [ "$st" -eq 0 ] && grep -qE '^conservation: .*: OK$' "$tmp/demo.out"; then ok "core_demo under qemu-aarch64: exit 0, conservation OK"
    else bad "core_demo under qemu-aarch64: exit $st"; tail -n 15 "$tmp/demo.out"; fi
}

profiler() {
    # unwind_agree: the frame-pointer walk against libgcc's unwinder (part 1)
    # and libunwind's from the signal's ucontext (part 2).  Its unregistered-
    # thread walks read the stack through process_vm_readv (fault-proof);
    # qemu-user does not implement that syscall, so those walks stop after
    # one frame.  Only when the probe shows the syscall missing are exactly
    # those checks counted as n/a; every other check must pass.
    local probe st
    probe=$($run "$bdir/vm_readv_probe" 2>&1); st=$?
    echo "     $probe"
    local out=$tmp/ua.out
    $run "$bdir/unwind_agree" >"$out" 2>&1
    local ua=$?
    local line p=0 f=0 unreg other
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
    if [ -n "$line" ]; then p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}; fi
    unreg=$(grep -c '^FAIL unregistered thread ' "$out")
    other=$(grep '^FAIL ' "$out" | grep -vc '^FAIL unregistered thread ')
    grep -E '^ +(signal samples|registered)' "$out" | head -5
    passed=$((passed + p))
    if [ "$st" -ne 0 ] && [ "$unreg" -gt 0 ]; then
        na "unwind_agree: $unreg unregistered-thread walks: process_vm_readv under qemu-user ($probe), the walker's fault-proof reads need it"
        failed=$((failed + f - unreg))
    else
        failed=$((failed + f))
    fi
    if [ -n "$line" ] && [ "$other" -eq 0 ] && { [ "$ua" -eq 0 ] || { [ "$f" -eq "$unreg" ] && [ "$st" -ne 0 ]; }; }; then
        ok "unwind_agree under qemu-aarch64 ($p passed; frame pointers == libgcc and libunwind)"
    else
        bad "unwind_agree under qemu-aarch64: exit $ua, $other failures besides unregistered threads"
        grep -A6 '^FAIL' "$out" | grep -v '^FAIL unregistered' | head -30
    fi
    # The demo: the profiler end to end, its files read back by go tool pprof.
    $run "$bdir/demo" "$tmp/demo" >"$tmp/demo.txt" 2>&1; st=$?
    check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
    check "demo under qemu-aarch64: exit $st" test "$st" -eq 0
    check "demo: conservation ok" grep -qx $'stat\tconservation\tok' "$tmp/demo.txt"
    go tool pprof -top -nodecount=50 "$tmp/demo.pb.gz" >"$tmp/demo.top" 2>"$tmp/demo.err"; st=$?
    check "demo: go tool pprof reads the aarch64 profile (exit $st)" test "$st" -eq 0
    check "demo: the profile names demo_hot_mix and demo_hot_sort (symbolized on aarch64)" \
        bash -c "grep -q demo_hot_mix '$tmp/demo.top' && grep -q demo_hot_sort '$tmp/demo.top'"
    check "demo: collapsed stacks written" test -s "$tmp/demo.collapsed"
    # The preload library: a program profiled through LD_PRELOAD (passed to
    # the guest with -E, not to qemu itself).
    $run -E LD_PRELOAD="$(cd "$bdir" && pwd)/libprofcore.so" -E PROFCORE_OUT="$tmp/pre.pb.gz" \
        "$bdir/exit_paths" exit 300 >"$tmp/pre.out" 2>&1; st=$?
    check "LD_PRELOAD=libprofcore.so under qemu-aarch64: the program's own status ($st == 3)" test "$st" -eq 3
    go tool pprof -top "$tmp/pre.pb.gz" >"$tmp/pre.top" 2>&1
    check "LD_PRELOAD: go tool pprof reads the profile and names burn_cpu" grep -q burn_cpu "$tmp/pre.top"
}

case $mode in
core) core ;;
profiler) profiler ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac
echo "$na not under qemu-user (n/a above, with why)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
