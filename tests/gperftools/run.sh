#!/usr/bin/env bash
# tests/gperftools/run.sh BUILD_DIR LIBPROFCORE SCRIPT
#   Runs gperftools 2.10's own src/tests/profiler_unittest.sh (SCRIPT, from
#   Debian's source package) on the four programs in BUILD_DIR, which are
#   linked against LIBPROFCORE under the name libprofiler.so, with Debian's
#   google-pprof.  The script counts its own failures (its exit status);
#   this wrapper adds that the programs really run on libprofcore, and
#   prints "N passed, N failed" last.
set -u
gb=$(cd "$1" && pwd)
lib=$(readlink -f "$2")
script=$3
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

for n in 1 2 3 4; do
    p=$gb/profiler${n}_unittest
    check "profiler${n}_unittest loads libprofiler.so from libprofcore ($(ldd "$p" | awk '/libprofiler/ {print $3}'))" \
        test "$(readlink -f "$(ldd "$p" | awk '/libprofiler/ {print $3}')")" = "$lib"
done
out=$(mktemp /tmp/profcore-gperftools.XXXXXX)
trap 'rm -f "$out"' EXIT
# The script's own working directory is /tmp/profile_info (fixed there).
timeout 300 sh "$script" "$gb" "$(command -v google-pprof)" >"$out" 2>&1
st=$?
sed 's/^/     /' "$out"
check "profiler_unittest.sh: exit status $st (its failure count) == 0" test "$st" -eq 0
check "profiler_unittest.sh: 'Tests finished with 0 failures'" grep -q '^Tests finished with 0 failures$' "$out"
check "profiler_unittest.sh: FORK test (3 profiles: main + 2 children)" bash -c "! grep -q 'FORK test FAILED' '$out'"
check "profiler_unittest.sh: every profile comparison passed (no '>>> profile' report)" \
    bash -c "! grep -q '^>>> profile' '$out'"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
