/* http_route.c — what a request to the pprof endpoint asks for, and the
 * window state machine (http.h).  Pure functions of their arguments: no
 * runtime, no sockets, no locks, so the fuzzer can drive them alone.
 */
#include <string.h>

#include "http.h"

#define PRT_HTTP_PREFIX "/debug/pprof/"

static void prt_http_error(prt_http_route *out, unsigned status, const char *message) {
    out->kind = PRT_HTTP_ERROR;
    out->status = status;
    out->message = message;
    out->seconds = 0;
}

/* 0: a window length; -1: not a positive integer (400, Go's text); -2: a
 * positive integer at or past the write timeout (400, Go's text).  Digits
 * only: no sign, no spaces, no exponent ("1e9" is not an integer for Go
 * either).  A number too long to hold is "too long", not "invalid". */
static int prt_http_parse_seconds(const char *s, uint32_t max_seconds, uint32_t *out) {
    if (s == NULL || *s == '\0') { /* Go: FormValue("") -> the 30 s default */
        *out = PRT_HTTP_DEFAULT_SECONDS < max_seconds ? PRT_HTTP_DEFAULT_SECONDS : max_seconds - 1;
        return *out > 0 ? 0 : -2;
    }
    uint64_t v = 0;
    bool overflow = false;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        if (!overflow) v = v * 10 + (uint64_t)(*p - '0');
        if (v > UINT32_MAX) overflow = true;
    }
    if (!overflow && v == 0) return -1;
    /* Go refuses seconds >= WriteTimeout. */
    if (overflow || v >= max_seconds) return -2;
    *out = (uint32_t)v;
    return 0;
}

static void prt_http_route_profile(const char *seconds, uint32_t max_seconds, prt_http_route *out) {
    uint32_t sec = 0;
    int r = prt_http_parse_seconds(seconds, max_seconds, &sec);
    if (r == -1) {
        prt_http_error(out, 400, PRT_HTTP_MSG_BAD_SECONDS);
        return;
    }
    if (r == -2) {
        prt_http_error(out, 400, PRT_HTTP_MSG_TOO_LONG);
        return;
    }
    out->kind = PRT_HTTP_PROFILE;
    out->status = 200;
    out->message = NULL;
    out->seconds = sec;
}

void prt_http_route_request(const char *method, const char *path, const char *seconds,
                            uint32_t max_seconds, prt_http_route *out) {
    memset(out, 0, sizeof *out);
    if (method == NULL || path == NULL) {
        prt_http_error(out, 400, PRT_HTTP_MSG_NOT_FOUND);
        return;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        {
        prt_http_error(out, 405, PRT_HTTP_MSG_METHOD);
        return;
    }
    if (strcmp(path, "/debug/pprof") == 0) {
        out->kind = PRT_HTTP_REDIRECT;
        out->status = 301;
        return;
    }
    if (strncmp(path, PRT_HTTP_PREFIX, sizeof PRT_HTTP_PREFIX - 1) != 0)
        {
        prt_http_error(out, 404, PRT_HTTP_MSG_NOT_FOUND);
        return;
    }
    const char *name = path + sizeof PRT_HTTP_PREFIX - 1;
    if (*name == '\0') {
        out->kind = PRT_HTTP_INDEX;
        out->status = 200;
    } else if (strcmp(name, "profile") == 0) {
        prt_http_route_profile(seconds, max_seconds, out);
    } else if (strcmp(name, "cmdline") == 0) {
        out->kind = PRT_HTTP_CMDLINE;
        out->status = 200;
    } else {
        prt_http_error(out, 404, PRT_HTTP_MSG_UNKNOWN); /* heap, goroutine, trace, ...: Go's answer */
    }
}

/* ---- the window state machine ------------------------------------------------ */

void prt_http_state_init(prt_http_state *s) {
    memset(s, 0, sizeof *s);
    s->phase = PRT_HTTP_SERVING;
}

void prt_http_request_enter(prt_http_state *s) { s->requests++; }

void prt_http_request_leave(prt_http_state *s) {
    if (s->requests > 0) s->requests--;
}

prt_http_begin prt_http_window_begin(prt_http_state *s, bool program_profiling, uint64_t *id) {
    if (s->phase != PRT_HTTP_SERVING) return PRT_HTTP_BEGIN_STOPPING;
    if (s->window) return PRT_HTTP_BEGIN_BUSY;
    if (program_profiling) return PRT_HTTP_BEGIN_IN_USE;
    s->window = true;
    s->window_id++;
    s->windows++;
    *id = s->window_id;
    return PRT_HTTP_BEGIN_OK;
}

void prt_http_window_end(prt_http_state *s, uint64_t id) {
    if (s->window && id == s->window_id) s->window = false;
}

void prt_http_shutdown_begin(prt_http_state *s) { s->phase = PRT_HTTP_STOPPING; }

int prt_http_state_ok(const prt_http_state *s) {
    if (s->phase != PRT_HTTP_SERVING && s->phase != PRT_HTTP_STOPPING) return 0;
    if (s->window_id != s->windows) return 0; /* ids are handed out once each */
    if (s->window && s->window_id == 0) return 0;
    return 1;
}

void prt_http_refusal(prt_http_begin why, prt_http_route *out) {
    memset(out, 0, sizeof *out);
    if (why == PRT_HTTP_BEGIN_STOPPING) prt_http_error(out, 503, PRT_HTTP_MSG_STOPPING);
    else prt_http_error(out, 500, PRT_HTTP_MSG_IN_USE); /* Go's status and text for both */
}
