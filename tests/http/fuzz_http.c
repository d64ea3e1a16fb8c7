/* fuzz_http.c — libFuzzer harness for the request handling of the pprof
 * endpoint that is ours (profiler/src/http_route.c) and its address parser
 * (profiler/common/endpoint.c); libmicrohttpd parses HTTP itself.
 *
 * Input: "METHOD\nPATH\nSECONDS\nOPS"; fewer fields mean absent ones (no
 * third field: no "seconds" argument).  Checks, each against a model
 * written here independently of the code under test:
 *   - the route: a window's length is exactly the decimal the client sent
 *     (or 30 s when it sent none or an empty one) and below the write
 *     timeout; everything else is an error with a status and a message;
 *   - the address: what parses formats back to itself;
 *   - the state machine, driven by OPS (one step a byte): at most one
 *     window, none begun once stopping, ids handed out once each, and the
 *     same answers as the model at every step.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "http.h"

#define REQUIRE(c) \
    do {           \
        if (!(c)) __builtin_trap(); \
    } while (0)

/* The model of the "seconds" rule: 0 and the length, or -1 (invalid) / -2 (too long). */
static int model_seconds(const char *s, uint32_t max, uint32_t *out) {
    if (s == NULL || *s == '\0') {
        *out = PRT_HTTP_DEFAULT_SECONDS;
        return 0;
    }
    size_t n = strlen(s), first = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return -1;
    while (first < n && s[first] == '0') first++;
    if (first == n) return -1;                 /* all zeros */
    if (n - first > 10) return -2;             /* more digits than any 32-bit value */
    unsigned long long v = strtoull(s + first, NULL, 10);
    if (v >= max) return -2;
    *out = (uint32_t)v;
    return 0;
}

static void check_route(const char *method, const char *path, const char *seconds) {
    const uint32_t max = PRT_HTTP_MAX_SECONDS;
    prt_http_route r;
    prt_http_route_request(method, path, seconds, max, &r);
    REQUIRE(r.status == 200 || r.status == 301 || r.status == 400 || r.status == 404 || r.status == 405);
    bool get = method != NULL && (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0);
    bool profile = path != NULL && strcmp(path, "/debug/pprof/profile") == 0;
    if (r.kind == PRT_HTTP_ERROR) REQUIRE(r.message != NULL && r.status >= 400);
    else REQUIRE(get);
    if (!get && method != NULL && path != NULL) REQUIRE(r.status == 405);
    if (get && profile) {
        uint32_t want = 0;
        int m = model_seconds(seconds, max, &want);
        if (m == 0) REQUIRE(r.kind == PRT_HTTP_PROFILE && r.seconds == want && r.seconds >= 1 && r.seconds < max);
        else REQUIRE(r.kind == PRT_HTTP_ERROR && r.status == 400 &&
                     strcmp(r.message, m == -1 ? PRT_HTTP_MSG_BAD_SECONDS : PRT_HTTP_MSG_TOO_LONG) == 0);
    } else {
        REQUIRE(r.kind != PRT_HTTP_PROFILE);
    }
}

static void check_endpoint(const char *s) {
    pcprof_endpoint e, again;
    char buf[200];
    if (pcprof_endpoint_parse(s, &e) != 0) return;
    REQUIRE(e.kind == PCPROF_ENDPOINT_TCP4 || e.kind == PCPROF_ENDPOINT_TCP6 || e.kind == PCPROF_ENDPOINT_UNIX);
    REQUIRE(e.port <= 65535);
    REQUIRE(pcprof_endpoint_format(&e, buf, sizeof buf) == 0);
    REQUIRE(pcprof_endpoint_parse(buf, &again) == 0);
    REQUIRE(memcmp(&e, &again, sizeof e) == 0);
    if (e.kind == PCPROF_ENDPOINT_TCP4) REQUIRE(e.loopback == (e.addr[0] == 127));
    if (e.kind == PCPROF_ENDPOINT_UNIX) REQUIRE(e.path[0] == '/' && e.loopback);
}

static void check_states(const uint8_t *ops, size_t n) {
    prt_http_state s;
    prt_http_state_init(&s);
    bool window = false, stopping = false;
    uint64_t last_id = 0, ids = 0;
    uint32_t requests = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t op = ops[i];
        switch (op % 5) {
        case 0:
            prt_http_request_enter(&s);
            requests++;
            break;
        case 1:
            prt_http_request_leave(&s);
            if (requests > 0) requests--;
            break;
        case 2: {
            bool program = (op >> 3) & 1;
            uint64_t id = 0;
            prt_http_begin b = prt_http_window_begin(&s, program, &id);
            prt_http_begin want = stopping ? PRT_HTTP_BEGIN_STOPPING
                                  : window ? PRT_HTTP_BEGIN_BUSY
                                  : program ? PRT_HTTP_BEGIN_IN_USE
                                            : PRT_HTTP_BEGIN_OK;
            REQUIRE(b == want);
            if (b == PRT_HTTP_BEGIN_OK) {
                REQUIRE(id == ++ids);
                window = true;
                last_id = id;
            } else {
                prt_http_route r;
                prt_http_refusal(b, &r);
                REQUIRE(r.kind == PRT_HTTP_ERROR && r.message != NULL);
                REQUIRE(r.status == (b == PRT_HTTP_BEGIN_STOPPING ? 503u : 500u));
            }
            break;
        }
        case 3: { /* the running window's end, or a stale one's */
            uint64_t id = (op >> 3) & 1 ? last_id : last_id - 1;
            prt_http_window_end(&s, id);
            if (id == last_id) window = false;
            break;
        }
        case 4:
            prt_http_shutdown_begin(&s);
            stopping = true;
            break;
        }
        REQUIRE(prt_http_state_ok(&s));
        REQUIRE(s.window == window && s.requests == requests && s.windows == ids);
        REQUIRE(s.phase == (stopping ? PRT_HTTP_STOPPING : PRT_HTTP_SERVING));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (buf == NULL) return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *field[3] = {NULL, NULL, NULL};
    char *p = buf;
    size_t nf = 0;
    while (nf < 3 && p != NULL) {
        field[nf++] = p;
        p = memchr(p, '\n', (size_t)(buf + size - p));
        if (p != NULL) *p++ = '\0';
    }
    check_route(field[0], field[1], field[2]);
    if (field[1] != NULL) check_endpoint(field[1]);
    if (field[0] != NULL) check_endpoint(field[0]);
    if (p != NULL) check_states((const uint8_t *)p, (size_t)(buf + size - p));
    free(buf);
    return 0;
}
