#!/usr/bin/env bash
# run.sh MODE PROFCORE BINDIR SCRATCH — `profcore record` owning the output
# (PROFCORE may be an ASan build; PROFCORE_LIB then names the preload library;
# RECORD_KIDS: how many children at once, 50 unless set; tree-asan: the cases
# that exercise the recorder's own code, for its ASan build)
# of a whole process tree (profiler/cli/recorder.h).  MODE:
#   nginx   Debian's nginx, a master and 2 workers running as nobody, under
#           ab; shut down by SIGQUIT (graceful) and by SIGTERM (fast): one
#           profile with the three pids, each worker's profiled CPU within
#           10 % of its CPU, record's exit status nginx's
#   tree    a daemon (double fork, setsid, every fd closed, chroot, setuid
#           nobody); 50 children at once, each hot function only under its
#           own pid; a foreign process refused; a truncated and a garbage
#           message; a process killed by SIGKILL; --per-process; exec of a
#           static and of a setuid binary named; a full disk
# Every check waits for events (a pid file, a name file, the end of ab),
# never for a length of time.  Ends with "N passed, N failed".
set -u
mode=$1 pc=$(realpath "$2") bin=$(realpath "$3") tmp=$4
rm -rf "$tmp" && mkdir -p "$tmp" && tmp=$(realpath "$tmp")
passed=0 failed=0
check() { # check DESCRIPTION command...
    local what=$1; shift
    if "$@"; then passed=$((passed + 1)); echo "ok   $what"; else failed=$((failed + 1)); echo "FAIL $what"; fi
}
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
within() { awk -v a="$1" -v b="$2" -v pct="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= b * pct / 100) }'; }

# pid_funcs PROFILE: "PID FUNCTION" for every function of every sample (go tool pprof -traces).
pid_funcs() {
    go tool pprof -traces "$1" 2>/dev/null | awk '
        /^-----/ { pid = "" }
        $1 == "pid:" { pid = $2 }
        /^ +[0-9.]+[mun]?s +[^ ]/ { if (pid != "") print pid, $2; next }
        /^ {13}[^ ]/ { if (pid != "") print pid, $1 }' | sort -u
}
# pids_of PROFILE: the pid label's values.
pids_of() { go tool pprof -tags "$1" 2>/dev/null | awk '/^ pid:/ { on = 1; next } /^ [a-z_]+:/ { on = 0 } on && $NF ~ /^[0-9]+$/ { print $NF }' | sort -u; }
# report_field ERR PID FIELD: from record's per-process line of PID: samples, profiled, session, proc, start, writing.
report_field() {
    awk -v pid="$2" -v f="$3" '$2 == "pid" && $3 == pid {
        for (i = 1; i <= NF; i++) {
            if ($i == "samples,") v["samples"] = $(i - 1)
            if ($i == "profiled") v["profiled"] = $(i + 1)
            if ($i == "session") v["session"] = $(i - 4)
            if ($i == "/proc:") v["proc"] = $(i + 1)
            if ($i == "start-up") v["start"] = $(i + 1)
            if ($i == "writing") v["writing"] = $(i + 1)
        }
        print v[f]; exit }' "$1"
}

# ---- nginx --------------------------------------------------------------------
nginx_conf() { # nginx_conf DIR PORT
    mkdir -p "$1/logs"
    cat >"$1/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
user nobody nogroup;
pid $1/nginx.pid;
error_log $1/logs/error.log notice;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $1/tmp_body;
    proxy_temp_path $1/tmp_proxy;
    fastcgi_temp_path $1/tmp_fcgi;
    uwsgi_temp_path $1/tmp_uwsgi;
    scgi_temp_path $1/tmp_scgi;
    server { listen 127.0.0.1:$2; location / { return 200 "hello\n"; } }
}
EOF
    chmod 755 "$1"
}

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# nginx_run NAME SIGNAL: nginx under record and ab, then SIGNAL to record
# (forwarded to the master, which stops its workers).
nginx_run() {
    local name=$1 sig=$2 d="$tmp/$1" port
    port=$(free_port)
    nginx_conf "$d" "$port"
    "$pc" record -F 1000 -o "$d/ngx.pb.gz" -- nginx -p "$d" -c "$d/nginx.conf" >"$d/out" 2>"$d/err" &
    local rec=$!
    # Ready when the master wrote its pid and both workers answer.
    for _ in $(seq 400); do
        [ -s "$d/nginx.pid" ] && [ "$(grep -c 'start worker process' "$d/logs/error.log" 2>/dev/null)" -ge 2 ] && break
        kill -0 "$rec" 2>/dev/null || break
        sleep 0.025
    done
    ab -q -n 20000 -c 16 "http://127.0.0.1:$port/" >"$d/ab" 2>&1
    check "$name: ab completed 20000 requests, none failed" grep -qE '^Failed requests: +0$' "$d/ab"
    local users master workers
    master=$(cat "$d/nginx.pid") # nginx removes it at exit
    users=$(ps -o user= --ppid "$master" | sort -u | tr -d ' ')
    check "$name: the workers run as nobody ($users)" test "$users" = nobody
    kill -s "$sig" "$rec"
    wait "$rec"
    local st=$?
    check "$name: record exits with nginx's status (0 after SIG$sig; got $st)" test "$st" -eq 0
    workers=$(sed -n 's/.*start worker process \([0-9]*\).*/\1/p' "$d/logs/error.log" | sort -u)
    check "$name: one profile, no per-process files" bash -c "test -s '$d/ngx.pb.gz' && ! ls '$d'/ngx.pb.gz.* >/dev/null 2>&1"
    local pids want=2 msamples
    pids=$(pids_of "$d/ngx.pb.gz" | tr '\n' ' ')
    # The master's few ms of CPU may round to no sample at all; then pprof has no
    # tag to show for it (the report below names it either way).
    msamples=$(report_field "$d/err" "$master" samples)
    [ "${msamples:-0}" -gt 0 ] && want=3
    check "$name: the report names the master and both workers" \
        test "$(awk '$2 == "pid" { print $3 }' "$d/err" | grep -cxF -f <(echo "$master"; echo "$workers"))" -eq 3
    check "$name: go tool pprof -tags shows both workers and the master if it has samples ($pids; master $master: ${msamples:-0})" \
        test "$(pids_of "$d/ngx.pb.gz" | grep -cxF -f <(echo "$master"; echo "$workers"))" -eq "$want"
    check "$name: every process of the tree sent its profile" bash -c "! grep -q 'no profile:' '$d/err'"
    local w n=0
    for w in $workers; do
        n=$((n + 1))
        local prof sess procs start writing
        prof=$(report_field "$d/err" "$w" profiled) sess=$(report_field "$d/err" "$w" session)
        procs=$(report_field "$d/err" "$w" proc) start=$(report_field "$d/err" "$w" start)
        writing=$(report_field "$d/err" "$w" writing)
        check "$name: worker $n has samples (${prof:-none} s profiled)" ge "${prof:-0}" 0.05
        check "$name: worker $n: profiled ${prof:-?} s within 10 % of its session's ${sess:-?} s" within "${prof:-0}" "${sess:-0}" 10
        # /proc, counted independently, agrees: what was not profiled is the profiler's named cost.
        # (A worker's start-up, $start s, is in its profile: counted from the fork.)
        check "$name: worker $n: profiled + writing ($prof + $writing s) within 10 % of /proc's ${procs:-?} s" \
            within "$(awk -v a="${prof:-0}" -v b="${writing:-0}" 'BEGIN { print a + b }')" "${procs:-0}" 10
    done
    # Nothing of a worker under the master's pid: its event loop is only in workers.
    check "$name: ngx_worker_process_cycle only under worker pids" \
        bash -c "! pid_funcs '$d/ngx.pb.gz' | awk '\$2 == \"ngx_worker_process_cycle\" { print \$1 }' | grep -qxF '$master'"
}

nginx_bad_config() {
    local d="$tmp/badconf"
    mkdir -p "$d/logs"
    echo "events { worker_connections 16; } this_is_not_a_directive;" >"$d/nginx.conf"
    "$pc" record -o "$d/ngx.pb.gz" -- nginx -p "$d" -c "$d/nginx.conf" >"$d/out" 2>"$d/err"
    local st=$? own
    nginx -p "$d" -c "$d/nginx.conf" >/dev/null 2>&1
    own=$?
    check "bad config: record exits with nginx's own status ($st = $own, not 0)" test "$st" -eq "$own" -a "$own" -ne 0
}

# ---- the tree -------------------------------------------------------------------
daemon_case() {
    local d="$tmp/daemon"
    mkdir -p "$d/jail" && chmod 555 "$d/jail"
    "$pc" record -F 1000 -o "$d/d.pb.gz" -- "$bin/daemon" "$d/jail" >"$d/out" 2>"$d/err"
    check "daemon: record exits 0 (the program's status) after the daemon finished" test $? -eq 0
    check "daemon: record waited for the process the program left running" grep -q "waiting for the processes it left running" "$d/err"
    local dpid
    dpid=$(awk '$2 == "pid" && $6 == "samples," { last = $3 } END { print last }' "$d/err") # the last to arrive
    local n
    n=$(report_field "$d/err" "$dpid" samples)
    check "daemon: its profile arrived after fork, setsid, close-all, chroot, setuid ($n samples)" ge "${n:-0}" 100
    check "daemon: no process of the tree was lost" bash -c "! grep -q 'no profile:' '$d/err'"
    check "daemon: its pid is in the one profile" bash -c "pids_of '$d/d.pb.gz' | grep -qxF '$dpid'"
    # In its chroot it could name nothing; the recorder attached its mappings from /proc.
    check "daemon: daemon_work is named under its pid" bash -c "pid_funcs '$d/d.pb.gz' | grep -qx '$dpid daemon_work'"
}
export -f pids_of pid_funcs

kids_case() {
    local d="$tmp/kids" n=${RECORD_KIDS:-50}
    mkdir -p "$d"
    "$pc" record -F 1000 -o "$d/k.pb.gz" -- "$bin/kids" "$n" >"$d/map" 2>"$d/err"
    check "$n children: record exits 0" test $? -eq 0
    check "$n children: each told its pid" test "$(wc -l <"$d/map")" -eq "$n"
    check "$n children: $((n + 1)) processes in the profile" test "$(pids_of "$d/k.pb.gz" | wc -l)" -eq $((n + 1))
    pid_funcs "$d/k.pb.gz" | awk '$2 ~ /^hot_[0-9]+$/' >"$d/hot"
    local wrong missing
    wrong=$(awk 'NR == FNR { want[$1] = "hot_" $2; next } $2 != want[$1] { print }' "$d/map" "$d/hot" | wc -l)
    missing=$(awk 'NR == FNR { seen[$1 " " $2] = 1; next } !(($1 " hot_" $2) in seen) { print }' "$d/hot" "$d/map" | wc -l)
    check "$n children: no hot function under another child's pid ($wrong wrong)" test "$wrong" -eq 0
    check "$n children: every child's own hot function under its pid ($missing missing)" test "$missing" -eq 0
}

foreign_case() {
    local d="$tmp/foreign"
    mkdir -p "$d"
    "$pc" record -F 1000 -o "$d/f.pb.gz" -- sh -c "echo \"\$PROFCORE_RECORD\" >'$d/name.tmp'; mv '$d/name.tmp' '$d/name';
        while [ ! -e '$d/go' ]; do sleep 0.01; done; exec '$bin/kids' 2" >"$d/out" 2>"$d/err" &
    local rec=$!
    for _ in $(seq 1000); do [ -s "$d/name" ] && break; sleep 0.01; done
    # This shell is not a descendant of the recorder.
    "$bin/client" "$(cat "$d/name")" forge >"$d/answer" 2>&1
    touch "$d/go"
    wait "$rec"
    check "foreign: record exits 0" test $? -eq 0
    check "foreign: the outsider was answered 'refused' ($(cat "$d/answer"))" grep -qx "answer R" "$d/answer"
    check "foreign: record said so" grep -q "refused a connection to the recorder from pid .*not a process of the recorded tree" "$d/err"
    check "foreign: the recording is unharmed (the 2 children's hot functions)" \
        test "$(pid_funcs "$d/f.pb.gz" | awk '$2 ~ /^hot_[01]$/' | wc -l)" -eq 2
    check "foreign: nothing of the forged message in the profile" bash -c "! pids_of '$d/f.pb.gz' | grep -qx 0"
}

badmsg_case() {
    local d="$tmp/badmsg"
    mkdir -p "$d"
    "$pc" record -F 1000 -o "$d/b.pb.gz" -- sh -c "'$bin/client' - truncated; '$bin/client' - garbage; '$bin/client' - forge; exec '$bin/kids' 2" \
        >"$d/out" 2>"$d/err"
    check "bad messages: record exits 0" test $? -eq 0
    check "bad messages: a message cut off is named" grep -q "cut off after 10 of 1000 bytes" "$d/err"
    check "bad messages: garbage is named and answered 'bad'" bash -c "grep -q 'malformed message' '$d/err' && grep -qx 'answer E' '$d/out'"
    check "bad messages: a payload that is no profile is named" grep -q "its profile is unreadable" "$d/err"
    check "bad messages: the rest of the tree is kept (2 children's hot functions)" \
        test "$(pid_funcs "$d/b.pb.gz" | awk '$2 ~ /^hot_[01]$/' | wc -l)" -eq 2
}

sigkill_case() {
    local d="$tmp/sigkill"
    mkdir -p "$d"
    "$pc" record -F 1000 -o "$d/s.pb.gz" -- "$bin/kids" orphan-kill >"$d/out" 2>"$d/err"
    check "SIGKILL: record exits with the program's status (0), not the victim's" test $? -eq 0
    local victim
    victim=$(awk '{ print $1 }' "$d/out")
    check "SIGKILL: the victim is named with the reason" grep -qE "pid $victim +kids +no profile: killed by SIGKILL" "$d/err"
    check "SIGKILL: the program's own profile is kept" test -s "$d/s.pb.gz"
}

per_process_case() {
    local d="$tmp/perproc"
    mkdir -p "$d"
    "$pc" record -F 1000 --per-process -o "$d/p.pb.gz" -- "$bin/kids" 3 >"$d/map" 2>"$d/err"
    check "--per-process: exits 0" test $? -eq 0
    local pid i ok=0
    while read -r pid i; do
        [ -s "$d/p.pb.gz.$pid" ] && go tool pprof -top "$d/p.pb.gz.$pid" 2>/dev/null | grep -q "hot_$i\$" && ok=$((ok + 1))
    done <"$d/map"
    check "--per-process: each child's OUT.<pid> has its own hot function ($ok of 3)" test "$ok" -eq 3
    check "--per-process: the root's profile is OUT" test -s "$d/p.pb.gz"
}

closer_case() {
    local d="$tmp/closer"
    mkdir -p "$d"
    "$pc" record -F 1000 -o "$d/c.pb.gz" -- "$bin/closer" "$d/own.log" >"$d/out" 2>"$d/err"
    check "close-all, then open: record exits 0" test $? -eq 0
    check "close-all, then open: nothing of the profiler in the program's file while it ran ($(cat "$d/out"))" \
        grep -qx "$d/own.log has 0 bytes" "$d/out"
    check "close-all, then open: nor at its exit ($(stat -c %s "$d/own.log") bytes)" test "$(stat -c %s "$d/own.log")" -eq 0
    check "close-all, then open: the profile arrived" test -s "$d/c.pb.gz"
    # The same, ended by SIGTERM: the preload library's termination path (its pipes).
    "$pc" record -F 1000 -o "$d/t.pb.gz" -- "$bin/closer" "$d/term.log" term >"$d/tout" 2>"$d/terr" &
    local rec=$!
    for _ in $(seq 1000); do grep -q '^ready' "$d/tout" 2>/dev/null && break; sleep 0.01; done
    kill -TERM "$(awk '{ print $2 }' "$d/tout")"
    wait "$rec"
    local st=$?
    check "close-all, then SIGTERM: record exits as the program did (143, got $st)" test "$st" -eq 143
    check "close-all, then SIGTERM: nothing of the profiler in the program's file ($(stat -c %s "$d/term.log") bytes)" \
        test "$(stat -c %s "$d/term.log")" -eq 0
    # Its exit helper went with its pipe: the termination is the default one, and the
    # recorder names what was lost (writing it needs a thread the program closed out).
    check "close-all, then SIGTERM: the lost profile is named" grep -q "killed by signal 15 (Terminated) before its profile could be sent" "$d/terr"
}

left_running_case() {
    local d="$tmp/left"
    mkdir -p "$d"
    # The program exits at once and leaves a worker that runs until told to stop.
    # (sleep's default SIGTERM is the preload library's: it sends the profile, then dies by it.)
    "$pc" record -F 1000 -o "$d/l.pb.gz" -- sh -c "sh -c 'echo \$\$ >\"$d/worker\"; exec sleep 1000' & exit 3" \
        >"$d/out" 2>"$d/err" &
    local rec=$!
    for _ in $(seq 1000); do [ -s "$d/worker" ] && grep -q "waiting for the processes it left running" "$d/err" && break; sleep 0.01; done
    kill -TERM "$rec"
    wait "$rec"
    local st=$?
    check "left running: record waited, forwarded SIGTERM to the worker, and exits with the program's status (3, got $st)" test "$st" -eq 3
    check "left running: the worker's profile arrived" bash -c "pids_of '$d/l.pb.gz' | grep -qxF '$(cat "$d/worker")' || grep -qE 'pid $(cat "$d/worker") .* samples' '$d/err'"
}

closed_stderr_case() {
    local d="$tmp/epipe"
    mkdir -p "$d"
    "$pc" record -F 1000 -o "$d/p.pb.gz" -- "$bin/kids" 2 2>&1 >/dev/null | head -c 1 >/dev/null
    check "stderr closed under record (| head): it outlives SIGPIPE and keeps the status (${PIPESTATUS[0]})" test "${PIPESTATUS[0]}" -eq 0
    check "stderr closed under record: the profile is written" test -s "$d/p.pb.gz"
    "$pc" record -o "$d/q.pb.gz" -- grep -E "^SigIgn" /proc/self/status >"$d/sig" 2>/dev/null
    check "the program itself does not inherit an ignored SIGPIPE ($(cat "$d/sig"))" bash -c "(( ($(awk '{ print "0x" $2 }' "$d/sig") >> 12) % 2 == 0 ))"
}

recorder_killed_case() {
    local d="$tmp/killed"
    mkdir -p "$d"
    "$pc" record -F 1000 -o "$d/k.pb.gz" -- sh -c "echo \$\$ >'$d/pid'; while [ ! -e '$d/go' ]; do :; done" >"$d/out" 2>"$d/err" &
    local rec=$!
    for _ in $(seq 1000); do [ -s "$d/pid" ] && break; sleep 0.01; done
    local p
    p=$(cat "$d/pid")
    kill -KILL "$rec"
    wait "$rec" 2>/dev/null
    touch "$d/go"
    for _ in $(seq 3000); do [ -e "/proc/$p" ] || break; sleep 0.01; done
    check "recorder killed: the program's profile is written to OUT.<pid> instead" test -s "$d/k.pb.gz.$p"
    check "recorder killed: and it says so" grep -q "not delivered (cannot reach the recorder.*written to $d/k.pb.gz.$p instead" "$d/err"
}

exec_note_case() {
    local d="$tmp/execnote"
    mkdir -p "$d"
    "$pc" record -F 1000 -o "$d/e.pb.gz" -- sh -c "exec '$bin/kids-static' 1" >"$d/out" 2>"$d/err"
    check "exec of a static binary: record exits with its status (0)" test $? -eq 0
    check "exec of a static binary: the summary says why nothing of it comes" \
        grep -q "then exec'd kids-static (statically linked): not profiled after it" "$d/err"
    cp "$bin/kids" "$d/suid-kids" && chown nobody "$d/suid-kids" && chmod 4755 "$d/suid-kids"
    "$pc" record -F 1000 -o "$d/u.pb.gz" -- sh -c "exec '$d/suid-kids' 1" >"$d/out" 2>"$d/err"
    check "exec of a setuid binary: record exits with its status (0)" test $? -eq 0
    check "exec of a setuid binary: the summary says why nothing of it comes" \
        grep -q "then exec'd suid-kids (setuid/setgid): not profiled after it" "$d/err"
}

full_disk_case() {
    local d="$tmp/full"
    mkdir -p "$d/mnt"
    if ! mount -t tmpfs -o size=8k tmpfs "$d/mnt" 2>/dev/null; then
        check "full disk: needs root and tmpfs mounts (run the suite as root)" false
        return
    fi
    cat /dev/zero >"$d/mnt/fill" 2>/dev/null # every block taken
    "$pc" record -F 1000 -o "$d/mnt/k.pb.gz" -- "$bin/kids" 4 >"$d/out" 2>"$d/err"
    local st=$?
    check "full disk: record keeps the program's status (0, got $st)" test "$st" -eq 0
    check "full disk: a clear message names the lost profile" grep -q "writing $d/mnt/k.pb.gz failed: No space left on device" "$d/err"
    check "full disk: no partial file left" test "$(ls -A "$d/mnt")" = fill
    umount "$d/mnt"
}

case "$mode" in
nginx)
    nginx_run quit QUIT
    nginx_run term TERM
    nginx_bad_config
    ;;
tree)
    daemon_case
    kids_case
    foreign_case
    badmsg_case
    sigkill_case
    per_process_case
    closer_case
    left_running_case
    closed_stderr_case
    recorder_killed_case
    exec_note_case
    full_disk_case
    ;;
tree-asan) # the recorder's own code paths (messages, refusals, reaping, merging, writing) under ASan
    kids_case
    foreign_case
    badmsg_case
    sigkill_case
    per_process_case
    full_disk_case
    ;;
*) echo "usage: run.sh nginx|tree|tree-asan PROFCORE BINDIR SCRATCH" >&2; exit 2 ;;
esac
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
