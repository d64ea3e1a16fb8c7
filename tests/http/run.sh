#!/usr/bin/env bash
# tests/http/run.sh MODE PROFILER_DIR HTTP_BUILD_DIR — the pprof endpoint.
#   PROFILER_DIR holds libprofcore.so and the profcore CLI; HTTP_BUILD_DIR
#   the test programs (server, window_cpu).
# Modes (one suite each):
#   endpoint   go tool pprof -raw of two consecutive 2 s windows (totals
#              within 10 % of the process CPU in the window, measured from
#              the window's own timers; hot function), dormancy between
#              windows, no libmicrohttpd dependency, concurrent requests,
#              bad requests
#   lifecycle  shutdown with a window in flight, the program's own
#              profile, unix sockets, bad PROFCORE_HTTP values, forks
#   record-p   profcore record -p PID against a served process
# Every wait is for an event (an advertisement file, the window's timers,
# the process's exit), never a fixed sleep.  Prints "N passed, N failed".
set -u
mode=$1
pdir=$(cd "$2" && pwd)
bdir=$(cd "$3" && pwd)
lib=$pdir/libprofcore.so
cli=$pdir/profcore
server=$bdir/server
wcpu=$bdir/window_cpu
tmp=$(mktemp -d /tmp/profcore-http.XXXXXX)
export PPROF_TMPDIR=$tmp/pprof HOME=$tmp
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
. "${BASH_SOURCE[0]%/*}/../check.sh" # passed, failed, ok, bad, check
advert_of() { echo "/tmp/profcore-$(id -u)/$1.http"; }

# start_server NAME MODE [VAR=VALUE...]: runs the server under the preload
# library with the variables, stderr to $tmp/NAME.err; sets $spid.
start_server() {
    local name=$1 smode=$2; shift 2
    env LD_PRELOAD="$lib" "$@" "$server" "$smode" 2>"$tmp/$name.err" &
    spid=$!
    pids+=("$spid")
}
# handles_usr1 PID: main() has installed its SIGUSR1 handler (SigCgt bit 10).
handles_usr1() { local m; m=$(awk '/^SigCgt:/ {print $2}' "/proc/$1/status" 2>/dev/null); [ -n "$m" ] && (( (16#$m >> 9) & 1 )); }
# wait_advert PID: waits (at most 20 s) for its advertisement and for its
# SIGUSR1 handler (so stop_server cannot come before main ran); sets $addr.
wait_advert() {
    local f; f=$(advert_of "$1")
    for _ in $(seq 1 2000); do
        if [ -s "$f" ] && handles_usr1 "$1"; then addr=$(head -n 1 "$f"); return 0; fi
        kill -0 "$1" 2>/dev/null || return 1
        sleep 0.01
    done
    return 1
}
# stop_server PID: SIGUSR1 (the server exits 7), waits; its status in $sstatus.
stop_server() { kill -USR1 "$1"; wait "$1"; sstatus=$?; }
threads_of() { ls "/proc/$1/task" | wc -l; }
timers_of() { wc -c <"/proc/$1/timers"; }
# http_status URL [curl args]: the status code only
http_status() { local u=$1; shift; curl -s -o /dev/null -w '%{http_code}' "$@" "$u"; }
# raw_total FILE: the sum of the cpu/nanoseconds column of go tool pprof -raw
raw_total() { awk '/^Samples:/ {s=1; next} /^Locations/ {s=0} s && $2 ~ /^[0-9]+:?$/ {sub(":", "", $2); t += $2} END {print t + 0}' "$1"; }
# raw_leaf_share FILE FUNC: percent of the cpu whose leaf location is FUNC
raw_leaf_share() {
    awk -v fn="$2" '
        /^Samples:/ {s=1; next}
        /^Locations/ {s=0; l=1; next}
        /^Mappings/ {l=0}
        s && $2 ~ /^[0-9]+:$/ {sub(":", "", $2); w[NR] = $2; leaf[NR] = $3; tot += $2}
        l && $1 ~ /^[0-9]+:$/ {id = $1; sub(":", "", id); if ($0 ~ (" " fn " ")) hot[id] = 1}
        END {for (i in w) if (leaf[i] in hot) h += w[i]; printf "%d\n", tot ? 100 * h / tot : 0}' "$1"
}
# within PCT A B: |A - B| <= PCT % of B
within() { awk -v p="$1" -v a="$2" -v b="$3" 'BEGIN {d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= p / 100 * b)}'; }

# ---- endpoint ---------------------------------------------------------------------
endpoint_windows() {
    local rt=""
    chrt -f 10 true 2>/dev/null && rt="chrt -f 10"
    start_server hot hot PROFCORE_HTTP=127.0.0.1:0
    local pid=$spid
    check "the server advertises its endpoint" wait_advert "$pid"
    check "it listens on loopback ($addr)" test "${addr%%:*}" = 127.0.0.1
    check "the advertisement is private (0600, in a 0700 directory)" \
        test "$(stat -c %a "$(advert_of "$pid")")/$(stat -c %a "$(dirname "$(advert_of "$pid")")")" = 600/700
    check "dormant before a request: no timer" test "$(timers_of "$pid")" -eq 0
    local idle_threads; idle_threads=$(threads_of "$pid")
    check "dormant before a request: main thread + the server's listener ($idle_threads)" test "$idle_threads" -eq 2
    for w in 1 2; do
        # Real-time priority: on a loaded machine the watcher sees the
        # timers go at once, not a time slice later (chrt needs root; the
        # check may then be looser, never wrong in the profiler's favour).
        $rt "$wcpu" "$pid" 60 >"$tmp/w$w.cpu" &
        local wp=$!
        go tool pprof -raw "http://$addr/debug/pprof/profile?seconds=2" >"$tmp/w$w.raw" 2>"$tmp/w$w.err"
        local rc=$?
        wait "$wp"
        local wrc=$?
        check "window $w: go tool pprof -raw fetched and read it" test "$rc" -eq 0 -a -s "$tmp/w$w.raw"
        check "window $w: the window's timers came and went" test "$wrc" -eq 0
        local total cpu
        total=$(raw_total "$tmp/w$w.raw")
        cpu=$(sed -n 's/.*cpu_ns=\([0-9]*\).*/\1/p' "$tmp/w$w.cpu")
        echo "     window $w: profile ${total} ns, process CPU in the window ${cpu:-?} ns"
        check "window $w: total within 10 % of the process CPU in the window" within 10 "$total" "${cpu:-0}"
        check "window $w: duration 2 s" grep -q '^Duration: 2\.0' "$tmp/w$w.raw"
        local share; share=$(raw_leaf_share "$tmp/w$w.raw" hot_loop)
        check "window $w: hot_loop is the hot leaf ($share %)" test "$share" -ge 80
        check "window $w: dormant after it: no timer" test "$(timers_of "$pid")" -eq 0
    done
    # Each window reports its own unwind tables, not the sum of every
    # session so far (the tables are kept across sessions).
    local o1 o2
    o1=$(sed -n 's/.*tables for \([0-9]*\) objects.*/\1/p' "$tmp/w1.raw")
    o2=$(sed -n 's/.*tables for \([0-9]*\) objects.*/\1/p' "$tmp/w2.raw")
    check "window 2 reports the same unwind tables as window 1 ($o1, $o2 objects)" test -n "$o1" -a "$o1" = "$o2"
    # Threads end after the response is sent: wait for the count, bounded.
    for _ in $(seq 1 500); do [ "$(threads_of "$pid")" -eq "$idle_threads" ] && break; sleep 0.01; done
    check "dormant after the windows: the same $idle_threads threads" test "$(threads_of "$pid")" -eq "$idle_threads"
    stop_server "$pid"
    check "the program exits with its own status (7)" test "$sstatus" -eq 7
    check "its advertisement is removed at exit" test ! -e "$(advert_of "$pid")"
}

endpoint_idle_cost() {
    # The same idle program without and with the endpoint: CPU over the
    # same stretch (from the process's CPU clock), no timer, one thread more.
    local cpu_plain cpu_served
    start_server plain idle
    local p0=$spid
    start_server idle idle PROFCORE_HTTP=127.0.0.1:0
    local p1=$spid
    check "the idle server advertises" wait_advert "$p1"
    for _ in $(seq 1 2000); do handles_usr1 "$p0" && break; sleep 0.01; done # main() ran: no advert to wait for
    ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
    # Two idle stretches of 1 s (measurements, not waits): before any
    # request, and after a window (its own cost is not idle cost).
    local stretch c0 c1 d0 d1
    for stretch in "before any request" "after a window"; do
        [ "$stretch" = "after a window" ] && curl -s -o /dev/null "http://$addr/debug/pprof/profile?seconds=1"
        c0=$(ticks "$p0"); c1=$(ticks "$p1")
        sleep 1
        d0=$(( $(ticks "$p0") - c0 )); d1=$(( $(ticks "$p1") - c1 ))
        echo "     idle CPU over 1 s $stretch (clock ticks of 10 ms): plain $d0, with the endpoint $d1"
        check "idle $stretch: CPU with the endpoint within noise of the plain program (<= 1 tick more)" \
            test "$d1" -le $((d0 + 1))
    done
    check "idle with the endpoint: no timer after a window" test "$(timers_of "$p1")" -eq 0
    check "idle: plain program 1 thread, served 2 (the listener)" \
        test "$(threads_of "$p0")/$(threads_of "$p1")" = 1/2
    check "no libmicrohttpd in a preloaded program without PROFCORE_HTTP" \
        bash -c "! grep -q microhttpd /proc/$p0/maps"
    stop_server "$p0"
    stop_server "$p1"
    check "libprofcore.so has no NEEDED entry for libmicrohttpd" bash -c "! readelf -d '$lib' | grep -q microhttpd"
}

endpoint_requests() {
    start_server req hot PROFCORE_HTTP=127.0.0.1:0
    local pid=$spid
    wait_advert "$pid" || { bad "server for requests did not start"; return; }
    local base="http://$addr/debug/pprof"
    # Concurrent: the second request while the first one's window runs.
    "$wcpu" "$pid" 60 >/dev/null & local wp=$!
    curl -s -D "$tmp/c1.h" -o "$tmp/c1.pb.gz" "$base/profile?seconds=2" & local c1=$!
    # The window runs once its timers exist.
    for _ in $(seq 1 3000); do [ "$(timers_of "$pid")" -gt 0 ] && break; sleep 0.01; done
    curl -s -D "$tmp/c2.h" -o "$tmp/c2.body" "$base/profile?seconds=1"
    # While a window runs: every thread but the program's own main thread
    # (the server's, the writer) blocks SIGPROF: never sampled.
    local open_threads=0 t
    for t in /proc/"$pid"/task/*; do
        [ "${t##*/}" = "$pid" ] && continue
        local m; m=$(awk '/^SigBlk:/ {print $2}' "$t/status" 2>/dev/null) || continue
        [ -n "$m" ] && (( !((16#$m >> 26) & 1) )) && open_threads=$((open_threads + 1))
    done
    check "during a window: the server's and the profiler's threads block SIGPROF ($open_threads open)" \
        test "$open_threads" -eq 0
    wait "$c1"; wait "$wp"
    check "concurrent: the second request gets 500" grep -q '^HTTP/1.1 500' "$tmp/c2.h"
    check "concurrent: with Go's text" grep -qx 'Could not enable CPU profiling: cpu profiling already in use' "$tmp/c2.body"
    check "concurrent: with Go's X-Go-Pprof header" grep -qi '^X-Go-Pprof: 1' "$tmp/c2.h"
    check "concurrent: the first gets 200" grep -q '^HTTP/1.1 200' "$tmp/c1.h"
    check "concurrent: Go's headers (octet-stream, attachment)" \
        bash -c "grep -qi '^Content-Type: application/octet-stream' '$tmp/c1.h' && grep -qi '^Content-Disposition: attachment; filename=\"profile\"' '$tmp/c1.h' && grep -qi '^X-Content-Type-Options: nosniff' '$tmp/c1.h'"
    check "concurrent: the first is a whole 2 s profile" \
        bash -c "go tool pprof -raw '$tmp/c1.pb.gz' 2>/dev/null | grep -q '^Duration: 2\.0'"
    # Bad requests: each a clear error, and the server still serves.
    local what url want
    while read -r what url want; do
        check "bad request $what: HTTP $want" test "$(http_status "$base$url")" = "$want"
    done <<'EOF'
seconds=0 /profile?seconds=0 400
seconds=-1 /profile?seconds=-1 400
seconds=1e9 /profile?seconds=1e9 400
seconds=1000000000 /profile?seconds=1000000000 400
seconds=garbage /profile?seconds=garbage 400
seconds=99999999999999999999999 /profile?seconds=99999999999999999999999 400
unknown-profile /heap 404
EOF
    check "seconds=0: Go's text" test "$(curl -s "$base/profile?seconds=0")" = 'invalid value for "seconds" - must be a positive integer'
    check "seconds=1000000000: Go's write-timeout text" \
        test "$(curl -s "$base/profile?seconds=1000000000")" = "profile duration exceeds server's WriteTimeout"
    check "unknown path: 404" test "$(http_status "http://$addr/nothing/here")" = 404
    check "POST: 405" test "$(http_status "$base/profile?seconds=1" -X POST)" = 405
    check "/debug/pprof redirects to /debug/pprof/" test "$(http_status "http://$addr/debug/pprof")" = 301
    head -c 100000 /dev/zero | tr '\0' a >"$tmp/big"
    check "a 100 kB header: 431" test "$(http_status "$base/" -H "X-Big: $(cat "$tmp/big")")" = 431
    check "the index lists profile and cmdline" bash -c "curl -s '$base/' | grep -q \"href='profile\" && curl -s '$base/' | grep -q \"href='cmdline'\""
    check "cmdline is the program's argv" test "$(curl -s "$base/cmdline" | tr '\0' ' ')" = "$server hot"
    check "after all that: the program still runs" kill -0 "$pid"
    check "after all that: a window still works" \
        bash -c "go tool pprof -raw '$base/profile?seconds=1' 2>/dev/null | grep -q hot_loop"
    stop_server "$pid"
    check "after all that: the program exits with 7" test "$sstatus" -eq 7
}

endpoint_shutdown() {
    # exit() while a 30 s window runs: the client gets the window so far.
    start_server shut hot PROFCORE_HTTP=127.0.0.1:0
    local pid=$spid
    wait_advert "$pid" || { bad "server for shutdown did not start"; return; }
    curl -s -D "$tmp/s.h" -o "$tmp/s.pb.gz" -w '%{time_total}' "http://$addr/debug/pprof/profile?seconds=30" \
        >"$tmp/s.time" & local c=$!
    for _ in $(seq 1 3000); do [ "$(timers_of "$pid")" -gt 0 ] && break; sleep 0.01; done
    stop_server "$pid"
    check "shutdown: the exit status is the program's (7)" test "$sstatus" -eq 7
    wait "$c"
    check "shutdown: the window in flight gets 200" grep -q '^HTTP/1.1 200' "$tmp/s.h"
    # The window may have lasted a few ms only (the exit came as soon as it
    # began): a valid profile, maybe without samples.
    check "shutdown: its profile is valid" \
        bash -c "go tool pprof -raw '$tmp/s.pb.gz' 2>/dev/null | grep -q '^PeriodType: cpu nanoseconds'"
    check "shutdown: it came at the exit, not after the 30 s asked ($(cat "$tmp/s.time") s)" \
        awk -v t="$(cat "$tmp/s.time")" 'BEGIN {exit !(t > 0 && t < 25)}'
    check "shutdown: no one listens afterwards" test "$(http_status "http://$addr/debug/pprof/")" = 000
}

endpoint_program_session() {
    # The program's own whole-run profile: windows are refused, its file is written.
    start_server own hot PROFCORE_HTTP=127.0.0.1:0 PROFCORE_OUT="$tmp/own.pb.gz"
    local pid=$spid
    wait_advert "$pid" || { bad "server with its own profile did not start"; return; }
    check "own profile: a window request gets 500" \
        test "$(http_status "http://$addr/debug/pprof/profile?seconds=1")" = 500
    # Enough CPU for samples before the exit (an event: its CPU clock).
    for _ in $(seq 1 3000); do [ "$(awk '{print $14 + $15}' "/proc/$pid/stat")" -ge 30 ] && break; sleep 0.01; done
    stop_server "$pid"
    check "own profile: exit status 7" test "$sstatus" -eq 7
    check "own profile: written at exit and readable" \
        bash -c "go tool pprof -top '$tmp/own.pb.gz' 2>/dev/null | grep -q hot_loop"
}

endpoint_unix_and_env() {
    local sock=$tmp/pprof.sock
    start_server unix hot PROFCORE_HTTP="unix:$sock"
    local pid=$spid
    wait_advert "$pid"
    check "unix: advertised as unix:$sock" test "$addr" = "unix:$sock"
    check "unix: the socket is 0600" test "$(stat -c %a "$sock")" = 600
    check "unix: a window over the socket" \
        bash -c "curl -s --unix-socket '$sock' -o '$tmp/u.pb.gz' 'http://x/debug/pprof/profile?seconds=1' && go tool pprof -top '$tmp/u.pb.gz' 2>/dev/null | grep -q hot_loop"
    stop_server "$pid"
    check "unix: exit 7" test "$sstatus" -eq 7
    check "unix: the socket is removed" test ! -e "$sock"
    # Bad values: a message, no endpoint, the program runs and keeps its status.
    local v
    for v in example.com:80 127.0.0.1:99999 '::1:80' unix:relative ''; do
        start_server badenv idle PROFCORE_HTTP="$v"
        local bp=$spid
        for _ in $(seq 1 2000); do grep -q PROFCORE_HTTP "$tmp/badenv.err" && break; sleep 0.01; done
        check "PROFCORE_HTTP='$v': refused with a message" grep -q "PROFCORE_HTTP='$v': expected" "$tmp/badenv.err"
        stop_server "$bp"
    check "PROFCORE_HTTP='$v': the program runs, exit 7" test "$sstatus" -eq 7
    done
    start_server remote idle PROFCORE_HTTP=0.0.0.0:0
    local rp=$spid
    wait_advert "$rp"
    check "0.0.0.0 explicitly: served, with a warning on stderr" grep -q 'accepts connections from other hosts' "$tmp/remote.err"
    stop_server "$rp"
}

endpoint_fork() {
    # A forked child (a pre-forking server's worker) does not serve and
    # keeps no copy of the listening socket: once the parent is gone, no
    # one answers on its port although the child still runs.
    env LD_PRELOAD="$lib" PROFCORE_HTTP=127.0.0.1:0 "$server" fork >"$tmp/fork.out" 2>"$tmp/fork.err" &
    local pid=$!
    pids+=("$pid")
    wait_advert "$pid" || { bad "forking server did not start"; return; }
    local child=""
    for _ in $(seq 1 2000); do child=$(head -n 1 "$tmp/fork.out"); [ -n "$child" ] && handles_usr1 "$child" && break; sleep 0.01; done
    pids+=("$child")
    check "fork: the child has no server thread" test "$(threads_of "$child")" -eq 1
    check "fork: the child advertises nothing" test ! -e "$(advert_of "$child")"
    check "fork: the parent still serves a window" \
        bash -c "curl -s -o '$tmp/fork.pb.gz' 'http://$addr/debug/pprof/profile?seconds=1' && go tool pprof -top '$tmp/fork.pb.gz' 2>/dev/null | grep -q hot_loop"
    stop_server "$pid"
    check "fork: the parent exits with 7" test "$sstatus" -eq 7
    # Refused (curl's 7), not accepted into a backlog no one reads (a hang: 28).
    check "fork: with the parent gone the port refuses, though the child runs" \
        bash -c "kill -0 $child && { curl -s -o /dev/null --max-time 5 'http://$addr/debug/pprof/'; [ \$? -eq 7 ]; }"
    kill -USR1 "$child"
    for _ in $(seq 1 2000); do kill -0 "$child" 2>/dev/null || break; sleep 0.01; done
    check "fork: the child ends normally" bash -c "! kill -0 $child 2>/dev/null"
}

# ---- record -p --------------------------------------------------------------------
record_p() {
    start_server rec hot PROFCORE_HTTP=127.0.0.1:0
    local pid=$spid
    wait_advert "$pid" || { bad "server for record -p did not start"; return; }
    "$cli" record -p "$pid" -d 2 -o "$tmp/rec.pb.gz" 2>"$tmp/rec.err"
    check "record -p: exit 0" test $? -eq 0
    check "record -p: wrote a readable profile with hot_loop" \
        bash -c "go tool pprof -top '$tmp/rec.pb.gz' 2>/dev/null | grep -q hot_loop"
    check "record -p: the summary's CPU line" grep -q 'CPU profiled .* of .* measured' "$tmp/rec.err"
    check "record -p: the summary's top names hot_loop" grep -q 'hot_loop' "$tmp/rec.err"
    sed -n '1,6p' "$tmp/rec.err" | sed 's/^/     /'
    local pct; pct=$(sed -n 's/.*measured (\([0-9]*\)\.[0-9]%).*/\1/p' "$tmp/rec.err")
    check "record -p: profiled within 10 % of the measured CPU (${pct:-?} %)" test "${pct:-0}" -ge 90 -a "${pct:-0}" -le 110
    "$cli" record -p 999999 -d 1 -o "$tmp/none.pb.gz" 2>"$tmp/none.err"
    check "record -p of no such process: exit 2 with a message" test $? -eq 2 -a -s "$tmp/none.err"
    start_server plainrec idle
    local pp=$spid
    "$cli" record -p "$pp" -d 1 -o "$tmp/none.pb.gz" 2>"$tmp/plain.err"
    local prc=$?
    check "record -p of a process without the endpoint: exit 2, says how to enable it" \
        bash -c "[ $prc -eq 2 ] && grep -q PROFCORE_HTTP '$tmp/plain.err'"
    check "record -p: no file when nothing was recorded" test ! -e "$tmp/none.pb.gz"
    stop_server "$pp"
    check "record -p: the unserved process is unharmed" test "$sstatus" -eq 7
    check "record -p: bad -d refused" bash -c "! '$cli' record -p $pid -d 0 -o '$tmp/x.pb.gz' 2>/dev/null"
    stop_server "$pid"
    check "record -p: the served process exits with 7" test "$sstatus" -eq 7
}

case $mode in
endpoint)
    endpoint_windows
    endpoint_idle_cost
    endpoint_requests
    ;;
lifecycle)
    endpoint_shutdown
    endpoint_program_session
    endpoint_unix_and_env
    endpoint_fork
    ;;
record-p) record_p ;;
*) echo "unknown mode $mode"; exit 2 ;;
esac
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
