/* endpoint.c — see endpoint.h for the grammar and the security decision. */
#define _GNU_SOURCE
#include "endpoint.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Strict decimal port: digits only, at least one, at most 65535. */
static int parse_port(const char *s, unsigned *out) {
    unsigned v = 0;
    if (*s == '\0') return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return -1;
        v = v * 10 + (unsigned)(*s - '0');
        if (v > 65535) return -1;
    }
    *out = v;
    return 0;
}

static int parse_unix(const char *path, pcprof_endpoint *e) {
    size_t n = strlen(path);
    if (path[0] != '/' || n >= sizeof e->path) return -1;
    e->kind = PCPROF_ENDPOINT_UNIX;
    e->loopback = 1;
    memcpy(e->path, path, n + 1);
    return 0;
}

/* host is NUL-terminated, without brackets; "" means loopback. */
static int parse_host(const char *host, int bracketed, pcprof_endpoint *e) {
    if (bracketed) {
        if (inet_pton(AF_INET6, host, e->addr) != 1) return -1;
        e->kind = PCPROF_ENDPOINT_TCP6;
        static const unsigned char lo6[16] = {[15] = 1};
        e->loopback = memcmp(e->addr, lo6, 16) == 0;
        return 0;
    }
    if (*host == '\0' || strcmp(host, "localhost") == 0) host = "127.0.0.1";
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1) return -1; /* dotted quad only: no names, no DNS */
    e->kind = PCPROF_ENDPOINT_TCP4;
    memcpy(e->addr, &a, 4);
    e->loopback = e->addr[0] == 127;
    return 0;
}

int pcprof_endpoint_parse(const char *s, pcprof_endpoint *out) {
    pcprof_endpoint e;
    char host[64];
    memset(&e, 0, sizeof e);
    if (s == NULL || *s == '\0') return -1;
    if (strncmp(s, "unix:", 5) == 0) {
        if (parse_unix(s + 5, &e) != 0) return -1;
        *out = e;
        return 0;
    }
    const char *colon = strrchr(s, ':');
    const char *port = colon ? colon + 1 : s;
    size_t hl = colon ? (size_t)(colon - s) : 0;
    int bracketed = hl >= 2 && s[0] == '[' && s[hl - 1] == ']';
    if (bracketed) s++, hl -= 2;
    if (hl >= sizeof host || parse_port(port, &e.port) != 0) return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (!bracketed && strchr(host, ':') != NULL) return -1; /* IPv6 needs brackets */
    if (parse_host(host, bracketed, &e) != 0) return -1;
    *out = e;
    return 0;
}

int pcprof_endpoint_format(const pcprof_endpoint *e, char *buf, size_t n) {
    char ip[INET6_ADDRSTRLEN];
    int w;
    switch (e->kind) {
    case PCPROF_ENDPOINT_UNIX: w = snprintf(buf, n, "unix:%s", e->path); break;
    case PCPROF_ENDPOINT_TCP4:
        inet_ntop(AF_INET, e->addr, ip, sizeof ip);
        w = snprintf(buf, n, "%s:%u", ip, e->port);
        break;
    case PCPROF_ENDPOINT_TCP6:
        inet_ntop(AF_INET6, e->addr, ip, sizeof ip);
        w = snprintf(buf, n, "[%s]:%u", ip, e->port);
        break;
    default: return -1;
    }
    return w >= 0 && (size_t)w < n ? 0 : -1;
}

int pcprof_advert_path(pid_t pid, uid_t uid, int via_proc, char *buf, size_t n) {
    char dir[64];
    snprintf(dir, sizeof dir, PCPROF_ADVERT_DIR_FMT, (unsigned)uid);
    int w = via_proc ? snprintf(buf, n, "/proc/%d/root%s/%d.http", (int)pid, dir, (int)pid)
                     : snprintf(buf, n, "%s/%d.http", dir, (int)pid);
    return w >= 0 && (size_t)w < n ? 0 : -1;
}

uint64_t pcprof_process_starttime(pid_t pid) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    return pcprof_stat_starttime(path);
}

uint64_t pcprof_stat_starttime(const char *path) {
    char buf[1024];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r <= 0) return 0;
    buf[r] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: fields
     * are counted from the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL) return 0;
    unsigned long long v = 0;
    int field = 2;
    for (p++; *p && field < 22; p++)
        if (*p == ' ') field++;
    if (field != 22 || sscanf(p, "%llu", &v) != 1) return 0;
    return (uint64_t)v;
}
