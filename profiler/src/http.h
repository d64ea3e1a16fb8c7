/* http.h — the pprof endpoint's parts (profiler/src/http_*.c).
 *
 *   http_route.c   what a request asks for: path, method and the "seconds"
 *                  argument to a route with its status and text; and the
 *                  window state machine.  Pure (no runtime, no sockets, no
 *                  locks): the libFuzzer harness tests/http/fuzz_http.c
 *                  drives both.
 *   http_mhd.c     libmicrohttpd, loaded with dlopen only when an endpoint
 *                  is started (libprofcore.so has no NEEDED entry for it).
 *   http_server.c  pcp_http_start / pcp_http_stop: the listening socket,
 *                  the daemon, the handler, the profile windows, the
 *                  advertisement.
 *
 * Nothing here runs in a signal handler: the server's threads block every
 * signal and take the same API lock as pcp_start/pcp_stop.
 */
#ifndef PROFCORE_PROFILER_HTTP_H
#define PROFCORE_PROFILER_HTTP_H

#include <stdbool.h>
#include <stdint.h>

/* ---- routes ---------------------------------------------------------------- */

typedef enum {
    PRT_HTTP_INDEX = 1,   /* /debug/pprof/: the HTML index */
    PRT_HTTP_PROFILE = 2, /* /debug/pprof/profile: a CPU profile of the next `seconds` */
    PRT_HTTP_CMDLINE = 3, /* /debug/pprof/cmdline: argv joined by NUL bytes */
    PRT_HTTP_REDIRECT = 4, /* /debug/pprof: 301 to /debug/pprof/ (Go's ServeMux does) */
    PRT_HTTP_ERROR = 5    /* status and message say why */
} prt_http_kind;

/* Go's net/http/pprof default when "seconds" is absent or empty. */
#define PRT_HTTP_DEFAULT_SECONDS 30u
/* The server's write timeout: no window is longer (Go refuses seconds >=
 * WriteTimeout with the message below; ours is fixed at one hour). */
#define PRT_HTTP_MAX_SECONDS 3600u

typedef struct prt_http_route {
    prt_http_kind kind;
    unsigned status;     /* HTTP status: 200, 301, 400, 404, 405 */
    const char *message; /* PRT_HTTP_ERROR: the body's one line (Go's text where Go has one) */
    uint32_t seconds;    /* PRT_HTTP_PROFILE: 1..max_seconds */
} prt_http_route;

/* method and path as the server received them (path without the query);
 * seconds: the decoded "seconds" argument, NULL when absent.  Go accepts
 * any integer and falls back to 30 s for 0, negatives and junk; we answer
 * those with 400, since a scraper that asked for -1 s has a bug a silent
 * 30 s window would hide. */
void prt_http_route_request(const char *method, const char *path, const char *seconds,
                            uint32_t max_seconds, prt_http_route *out);

/* Go's texts (net/http/pprof, runtime/pprof), kept verbatim so tools that
 * know Go's endpoint recognise them. */
#define PRT_HTTP_MSG_BAD_SECONDS "invalid value for \"seconds\" - must be a positive integer"
#define PRT_HTTP_MSG_TOO_LONG "profile duration exceeds server's WriteTimeout"
#define PRT_HTTP_MSG_IN_USE "Could not enable CPU profiling: cpu profiling already in use"
#define PRT_HTTP_MSG_UNKNOWN "Unknown profile"
#define PRT_HTTP_MSG_NOT_FOUND "404 page not found"
/* Ours. */
#define PRT_HTTP_MSG_METHOD "profcore: only GET and HEAD are served here"
#define PRT_HTTP_MSG_STOPPING "profcore: the endpoint is shutting down (the program is exiting)"

/* The response header with the process CPU time of a window, in ns. */
#define PRT_HTTP_CPU_HEADER "X-Profcore-Cpu-Ns"

/* ---- the window state machine -------------------------------------------------
 * At most one profile window at a time (a second request gets Go's "in
 * use" error, never a share of another's window); none once the server is
 * stopping.  The server calls these under its own mutex; the fuzzer calls
 * them in any order and checks the invariants after each step. */
typedef enum {
    PRT_HTTP_SERVING = 1,
    PRT_HTTP_STOPPING = 2 /* shutdown began: new windows refused, the running one ends early */
} prt_http_phase;

typedef struct prt_http_state {
    prt_http_phase phase;
    bool window;          /* a window runs */
    uint64_t window_id;   /* the running (or last) window's number, from 1 */
    uint64_t windows;     /* windows begun, for the record */
    uint32_t requests;    /* requests in the handler now */
} prt_http_state;

typedef enum {
    PRT_HTTP_BEGIN_OK = 0,
    PRT_HTTP_BEGIN_BUSY = 1,     /* another window runs */
    PRT_HTTP_BEGIN_IN_USE = 2,   /* the program runs its own profile (pcp_start, PROFCORE_OUT) */
    PRT_HTTP_BEGIN_STOPPING = 3  /* shutdown began */
} prt_http_begin;

void prt_http_state_init(prt_http_state *s);
/* A request enters / leaves the handler (counted, for the shutdown's wait). */
void prt_http_request_enter(prt_http_state *s);
void prt_http_request_leave(prt_http_state *s);
/* A profile request asks for the window; program_profiling: the program's
 * own session runs.  On OK, *id is the new window's number. */
prt_http_begin prt_http_window_begin(prt_http_state *s, bool program_profiling, uint64_t *id);
/* The window `id` ended; another id (a stale end) changes nothing. */
void prt_http_window_end(prt_http_state *s, uint64_t id);
void prt_http_shutdown_begin(prt_http_state *s);
/* 1 when the invariants hold (used by the fuzzer and asserted by the server). */
int prt_http_state_ok(const prt_http_state *s);
/* The route of a refused window: status and Go's text. */
void prt_http_refusal(prt_http_begin why, prt_http_route *out);

#endif
