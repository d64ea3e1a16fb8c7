/* api_stress.c — the pprof endpoint through the C API (pcp_http_start,
 * pcp_http_address, pcp_http_stop), built against the runtime's ASan and
 * TSan objects (suites http-api-asan, http-api-tsan).
 *
 * A burner thread spends CPU in burn(); client threads fire concurrent
 * requests at the endpoint while the program calls the API around them:
 *   - bad addresses, a second start, the address before and after;
 *   - rounds of concurrent profile windows: each answer is a gzip'd
 *     profile (200) or Go's "in use" error (500), nothing else, and the
 *     windows of a round do not overlap (their 200s are one per round);
 *   - while a window runs, the program's pcp_start is refused, pcp_stop
 *     and pcp_is_running do not see it;
 *   - pcp_http_stop with a 30 s window in flight returns early, and that
 *     client still gets its profile; then no one listens;
 *   - a restart serves again.
 * "A window runs" is an event, not a guess: the window's CPU timers are in
 * /proc/self/timers exactly while it samples.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "profcore_profiler.h"

#include "../check.h"

#define IN_USE "Could not enable CPU profiling: cpu profiling already in use\n"

static char addr[160];
static int stop_burning; /* atomic */
static volatile double sink;

__attribute__((noinline)) static void burn(void) {
    for (int i = 0; i < 20000; i++) sink += i * 0.25;
}

static void *burner(void *arg) {
    (void)arg;
    pcp_register_thread();
    while (!__atomic_load_n(&stop_burning, __ATOMIC_ACQUIRE)) burn(); /* pairs: the store in main */
    return NULL;
}

typedef struct reply {
    int status;       /* 0: no connection or no status line */
    size_t body_len;
    unsigned char head[64]; /* the first body bytes */
    int has_cpu;      /* X-Profcore-Cpu-Ns present */
} reply;

/* One HTTP/1.0 GET to the endpoint; reads until the server closes. */
static reply get(const char *path) {
    reply r;
    memset(&r, 0, sizeof r);
    char host[64];
    unsigned port = 0;
    if (sscanf(addr, "%63[^:]:%u", host, &port) != 2) return r;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return r;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return r;
    }
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: test\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return r;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap) buf = realloc(buf, cap *= 2);
        ssize_t got = read(fd, buf + len, cap - len - 1);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/1.%*d %d", &r.status) == 1 && end != NULL) {
        *end = '\0';
        r.has_cpu = strcasestr(buf, "X-Profcore-Cpu-Ns:") != NULL;
        r.body_len = len - (size_t)(end + 4 - buf);
        memcpy(r.head, end + 4, r.body_len < sizeof r.head ? r.body_len : sizeof r.head);
    } else {
        r.status = 0;
    }
    free(buf);
    return r;
}

static int is_gzip(const reply *r) { return r->body_len > 2 && r->head[0] == 0x1f && r->head[1] == 0x8b; }

static int window_running(void) {
    char buf[16];
    int fd = open("/proc/self/timers", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n > 0;
}

static int wait_window(int want, int seconds) {
    for (int i = 0; i < seconds * 1000; i++) {
        if (window_running() == want) return 1;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return 0;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct job {
    const char *path;
    reply r;
} job;

static void *client(void *arg) {
    job *j = arg;
    j->r = get(j->path);
    return NULL;
}

static void test_api_errors(void) {
    char err[300], buf[160];
    CHECK(pcp_http_address(buf, sizeof buf) == PCP_E_NOT_RUNNING, "address before start");
    CHECK(pcp_http_start("example.com:80", NULL, err, sizeof err) == PCP_E_INVAL && strstr(err, "example.com"),
          "host name refused: %s", err);
    CHECK(pcp_http_start(NULL, NULL, err, sizeof err) == PCP_E_INVAL, "NULL address refused");
    pcp_options bad = PCP_OPTIONS_INIT;
    bad.hz = 0;
    CHECK(pcp_http_start("127.0.0.1:0", &bad, err, sizeof err) == PCP_E_INVAL, "bad window options refused: %s", err);
    CHECK(pcp_http_address(buf, sizeof buf) == PCP_E_NOT_RUNNING, "nothing serves after refusals");
}

static void test_concurrent_rounds(void) {
    for (int round = 0; round < 3; round++) {
        job jobs[4];
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
            jobs[i].path = "/debug/pprof/profile?seconds=1";
            pthread_create(&t[i], NULL, client, &jobs[i]);
        }
        int ok = 0, in_use = 0, other = 0;
        for (int i = 0; i < 4; i++) {
            pthread_join(t[i], NULL);
            if (jobs[i].r.status == 200 && is_gzip(&jobs[i].r) && jobs[i].r.has_cpu) ok++;
            else if (jobs[i].r.status == 500 && jobs[i].r.body_len == strlen(IN_USE) &&
                     memcmp(jobs[i].r.head, IN_USE, strlen(IN_USE)) == 0)
                in_use++;
            else other++;
        }
        /* Four requests at once, each 1 s: the first to get the window
         * holds it for 1 s while the others are refused, unless a refused
         * one retries after it (ours do not). */
        CHECK(ok >= 1 && other == 0 && ok + in_use == 4, "round %d: %d profiles, %d in use, %d other", round, ok,
              in_use, other);
        CHECK(!window_running(), "round %d: nothing armed after it", round);
    }
}

static void test_program_calls_during_window(void) {
    job j = {"/debug/pprof/profile?seconds=2", {0}};
    pthread_t t;
    pthread_create(&t, NULL, client, &j);
    CHECK(wait_window(1, 30), "the window began");
    char err[300];
    pcp_options o = PCP_OPTIONS_INIT;
    CHECK(pcp_start(&o, err, sizeof err) == PCP_E_RUNNING && strstr(err, "window"), "pcp_start refused: %s", err);
    CHECK(pcp_is_running() == 0, "pcp_is_running does not see the window");
    CHECK(pcp_stop(err, sizeof err) == PCP_E_NOT_RUNNING, "pcp_stop does not touch the window");
    CHECK(pcp_flush(err, sizeof err) == PCP_E_NOT_RUNNING, "pcp_flush does not touch the window");
    pthread_join(t, NULL);
    CHECK(j.r.status == 200 && is_gzip(&j.r), "the window still ends with its profile (%d)", j.r.status);
    /* The program's own session: windows are refused while it runs. */
    CHECK(pcp_start(&o, err, sizeof err) == PCP_OK, "the program's own start after the window: %s", err);
    reply r = get("/debug/pprof/profile?seconds=1");
    CHECK(r.status == 500, "a window while the program profiles: 500 (%d)", r.status);
    CHECK(pcp_stop(err, sizeof err) == PCP_OK, "the program's own stop");
}

static void test_stop_with_window_in_flight(void) {
    job j = {"/debug/pprof/profile?seconds=30", {0}};
    pthread_t t;
    pthread_create(&t, NULL, client, &j);
    CHECK(wait_window(1, 30), "the 30 s window began");
    double t0 = now_s();
    CHECK(pcp_http_stop() == PCP_OK, "stop");
    double took = now_s() - t0;
    pthread_join(t, NULL);
    CHECK(took < 10, "stop returned in %.2f s, not after the 30 s window", took);
    CHECK(j.r.status == 200 && is_gzip(&j.r), "the window in flight got its profile (%d)", j.r.status);
    CHECK(!window_running(), "nothing armed after the stop");
    char buf[160];
    CHECK(pcp_http_address(buf, sizeof buf) == PCP_E_NOT_RUNNING, "no address after the stop");
    CHECK(get("/debug/pprof/").status == 0, "no one listens after the stop");
    CHECK(pcp_http_stop() == PCP_E_NOT_RUNNING, "a second stop");
}

int main(void) {
    pthread_t b;
    pthread_create(&b, NULL, burner, NULL);
    test_api_errors();
    char err[300];
    CHECK(pcp_http_start("127.0.0.1:0", NULL, err, sizeof err) == PCP_OK, "start: %s", err);
    CHECK(pcp_http_address(addr, sizeof addr) == PCP_OK && strncmp(addr, "127.0.0.1:", 10) == 0 &&
              atoi(addr + 10) > 0,
          "address with the real port: %s", addr);
    CHECK(pcp_http_start("127.0.0.1:0", NULL, err, sizeof err) == PCP_E_RUNNING, "a second start: %s", err);
    CHECK(get("/debug/pprof/").status == 200, "the index");
    CHECK(get("/debug/pprof/profile?seconds=-1").status == 400, "seconds=-1");
    test_concurrent_rounds();
    test_program_calls_during_window();
    test_stop_with_window_in_flight();
    CHECK(pcp_http_start("127.0.0.1:0", NULL, err, sizeof err) == PCP_OK, "restart: %s", err);
    pcp_http_address(addr, sizeof addr);
    reply r = get("/debug/pprof/profile?seconds=1");
    CHECK(r.status == 200 && is_gzip(&r), "a window after the restart (%d)", r.status);
    CHECK(pcp_http_stop() == PCP_OK, "stop after the restart");
    __atomic_store_n(&stop_burning, 1, __ATOMIC_RELEASE); /* pairs: the load in burner */
    pthread_join(b, NULL);
    return check_finish();
}
