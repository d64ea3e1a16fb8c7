/* endpoint.h — the pprof endpoint's address (PROFCORE_HTTP, pcp_http_start)
 * and where a serving process advertises it (`profcore record -p PID`).
 * Shared by the runtime's server (profiler/src/http_server.c), the
 * environment parser and the CLI, so all three read an address and find an
 * advertisement by the same rules.  No allocation, no state, no signals.
 *
 * Addresses:
 *   127.0.0.1:6060, [::1]:6060, localhost:6060   loopback (the default)
 *   :6060, 6060                                  loopback too: unlike Go's
 *                                                ":6060", never every interface
 *   0.0.0.0:6060, [::]:6060, 10.1.2.3:6060       another host can connect:
 *                                                only when written out like this
 *   unix:/run/app/pprof.sock                     a Unix socket (absolute path)
 * PORT is 0..65535; 0 lets the kernel choose (the advertisement says which).
 * Host names other than localhost are refused: resolving them would need
 * DNS inside a program's constructor.
 *
 * Security decision: the endpoint shows the program's code addresses,
 * function names, command line and where it spends its time, to anyone who
 * can connect.  It binds to loopback unless a non-loopback address is
 * written explicitly, and then the server says so on stderr.
 *
 * Advertisement: a serving process writes PCPROF_ADVERT_DIR_FMT/<pid>.http
 * (directory mode 0700, owned by the process's user; file mode 0600) with
 * two lines: the address it listens on (the real port when 0 was asked)
 * and its start time (/proc/PID/stat field 22, so a reused pid is told
 * apart).  The CLI reads it through /proc/PID/root, i.e. in the process's
 * own mount namespace (a private /tmp works), which the kernel lets only
 * the process's user (or root) do.  The file is removed when the server
 * stops; a stale one (SIGKILL) is recognised by the start time.
 */
#ifndef PROFCORE_PROFILER_ENDPOINT_H
#define PROFCORE_PROFILER_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum {
    PCPROF_ENDPOINT_TCP4 = 1,
    PCPROF_ENDPOINT_TCP6 = 2,
    PCPROF_ENDPOINT_UNIX = 3
} pcprof_endpoint_kind;

#define PCPROF_ENDPOINT_PATH_MAX 108 /* sizeof sockaddr_un.sun_path */

typedef struct pcprof_endpoint {
    pcprof_endpoint_kind kind;
    unsigned char addr[16];  /* network order: 4 bytes for TCP4, 16 for TCP6 */
    unsigned port;           /* 0: the kernel chooses */
    int loopback;            /* 1: only this host can connect (Unix sockets: 1) */
    char path[PCPROF_ENDPOINT_PATH_MAX]; /* UNIX */
} pcprof_endpoint;

#define PCPROF_ACCEPT_ENDPOINT                                                                     \
    "127.0.0.1:PORT, [::1]:PORT, localhost:PORT, :PORT (loopback), an explicit IP:PORT, or "      \
    "unix:/absolute/path"

/* 0 and *out filled, or -1 (then *out is untouched). */
int pcprof_endpoint_parse(const char *s, pcprof_endpoint *out);
/* "127.0.0.1:6060", "[::1]:6060", "unix:/path": what the parser reads back. */
int pcprof_endpoint_format(const pcprof_endpoint *e, char *buf, size_t n);

/* The advertisement of process `pid` of user `uid`, as seen from inside
 * that process ("/tmp/profcore-UID/PID.http"); with via_proc, as another
 * process of the same user reads it ("/proc/PID/root/tmp/profcore-UID/PID.http").
 * Returns 0, or -1 when it does not fit. */
#define PCPROF_ADVERT_DIR_FMT "/tmp/profcore-%u"
int pcprof_advert_path(pid_t pid, uid_t uid, int via_proc, char *buf, size_t n);
/* Field 22 (start time, clock ticks since boot) of a /proc .../stat file,
 * 0 when unreadable; of /proc/PID/stat.  The thread registry uses the
 * first for /proc/self/task/TID/stat (a reused tid is told apart too). */
uint64_t pcprof_stat_starttime(const char *stat_path);
uint64_t pcprof_process_starttime(pid_t pid);

#endif
