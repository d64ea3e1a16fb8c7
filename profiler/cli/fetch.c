/* fetch.c — see fetch.h.  The advertisement is read through /proc/PID/root
 * (the process's own view of /tmp, so a private /tmp works; the kernel
 * allows it only to the process's user and root), checked against the
 * process's start time (a reused pid's stale file is refused), and a Unix
 * socket path is reached through the same /proc/PID/root.
 */
#define _GNU_SOURCE
#include "fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"

#define CLI_CPU_HEADER "X-Profcore-Cpu-Ns:"
#define CLI_MAX_BODY (256u << 20) /* a profile larger than this is refused */

typedef struct body {
    char *data;
    size_t len, cap;
    int too_big;
} body;

static size_t on_body(char *p, size_t size, size_t n, void *ctx) {
    body *b = ctx;
    size_t add = size * n;
    if (b->len + add > CLI_MAX_BODY) {
        b->too_big = 1;
        return 0;
    }
    if (b->len + add + 1 > b->cap) {
        size_t cap = (b->len + add + 1) * 2;
        char *nd = realloc(b->data, cap);
        if (nd == NULL) return 0;
        b->data = nd;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

static size_t on_header(char *p, size_t size, size_t n, void *ctx) {
    cli_window *w = ctx;
    size_t len = size * n, hl = strlen(CLI_CPU_HEADER);
    if (len > hl && strncasecmp(p, CLI_CPU_HEADER, hl) == 0) w->cpu_ns = strtoull(p + hl, NULL, 10);
    return len;
}

/* The advertised address of `pid`, checked; 0 or an exit code. */
static int read_advert(pid_t pid, cli_window *w, char *err, size_t errlen) {
    char proc[64], path[PATH_MAX];
    struct stat st;
    snprintf(proc, sizeof proc, "/proc/%d", (int)pid);
    if (kill(pid, 0) != 0 && errno == ESRCH) {
        snprintf(err, errlen, "no process %d", (int)pid);
        return CLI_FETCH_USAGE;
    }
    if (stat(proc, &st) != 0 || pcprof_advert_path(pid, st.st_uid, 1, path, sizeof path) != 0) {
        snprintf(err, errlen, "cannot look at process %d: %s", (int)pid, strerror(errno));
        return CLI_FETCH_USAGE;
    }
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        if (errno == EACCES || errno == EPERM)
            snprintf(err, errlen, "process %d belongs to another user: its endpoint is not readable", (int)pid);
        else
            snprintf(err, errlen,
                     "process %d serves no pprof endpoint (start it with the preload library and "
                     "PROFCORE_HTTP=127.0.0.1:0, or call pcp_http_start)", (int)pid);
        return CLI_FETCH_USAGE;
    }
    unsigned long long started = 0;
    int ok = fscanf(f, "%159s %llu", w->address, &started) == 2;
    fclose(f);
    if (!ok || started != pcprof_process_starttime(pid)) {
        snprintf(err, errlen, "%s is stale or damaged (not written by the process now running as %d)", path,
                 (int)pid);
        return CLI_FETCH_USAGE;
    }
    return 0;
}

/* The URL (and, for a Unix socket, its path as seen from here). */
static int target_of(pid_t pid, const cli_window *w, unsigned seconds, char *url, size_t n, char *sock,
                     size_t sn, char *err, size_t errlen) {
    pcprof_endpoint ep;
    if (pcprof_endpoint_parse(w->address, &ep) != 0) {
        snprintf(err, errlen, "process %d advertises a bad address '%s'", (int)pid, w->address);
        return CLI_FETCH_USAGE;
    }
    sock[0] = '\0';
    if (ep.kind == PCPROF_ENDPOINT_UNIX) {
        snprintf(sock, sn, "/proc/%d/root%s", (int)pid, ep.path);
        snprintf(url, n, "http://localhost/debug/pprof/profile?seconds=%u", seconds);
    } else {
        snprintf(url, n, "http://%s/debug/pprof/profile?seconds=%u", w->address, seconds);
    }
    return 0;
}

static int save(const body *b, const char *out, char *err, size_t errlen) {
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", out, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    int ok = f != NULL && fwrite(b->data, 1, b->len, f) == b->len;
    if (f != NULL && fclose(f) != 0) ok = 0;
    if (!ok || rename(tmp, out) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", out, strerror(errno));
        unlink(tmp);
        return CLI_FETCH_FAILED;
    }
    return 0;
}

/* The error body's first line (Go's text), for the message. */
static void first_line(const body *b, char *line, size_t n) {
    size_t i = 0;
    for (; b->data != NULL && i < b->len && i + 1 < n && b->data[i] != '\n'; i++) line[i] = b->data[i];
    line[i] = '\0';
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int cli_fetch_window(pid_t pid, unsigned seconds, const char *out, cli_window *w, char *err, size_t errlen) {
    memset(w, 0, sizeof *w);
    char url[256], sock[PATH_MAX];
    int rc = read_advert(pid, w, err, errlen);
    if (rc == 0) rc = target_of(pid, w, seconds, url, sizeof url, sock, sizeof sock, err, errlen);
    if (rc != 0) return rc;
    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, errlen, "libcurl could not start");
        return CLI_FETCH_FAILED;
    }
    body b = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (sock[0] != '\0') curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, w);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*"); /* loopback or a socket: never through a proxy */
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)seconds + 60); /* the window, then its encoding */
    double t0 = now_s();
    CURLcode cr = curl_easy_perform(c);
    w->wall_s = now_s() - t0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &w->http_status);
    curl_easy_cleanup(c);
    if (cr != CURLE_OK) {
        snprintf(err, errlen, "%s%s: %s", sock[0] ? "unix:" : "", sock[0] ? sock : url,
                 b.too_big ? "the profile is larger than 256 MiB" : curl_easy_strerror(cr));
        rc = CLI_FETCH_FAILED;
    } else if (w->http_status != 200) {
        char line[300];
        first_line(&b, line, sizeof line);
        snprintf(err, errlen, "the endpoint of process %d answered %ld: %s", (int)pid, w->http_status, line);
        rc = CLI_FETCH_FAILED;
    } else {
        rc = save(&b, out, err, errlen);
    }
    free(b.data);
    return rc;
}
