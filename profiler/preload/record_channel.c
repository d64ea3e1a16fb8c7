/* record_channel.c — the sending side of `profcore record`'s channel
 * (profiler/common/record_proto.h says why a named abstract socket): in
 * record mode a profiled process writes no file; it hands its profile to
 * the recorder.  Nothing here runs in a signal handler: it is called from
 * the session's start and finish paths (preload.c), which run on ordinary
 * threads (the exit helper, atexit, the destructor, before exec).
 *
 * Every call opens a fresh connection: a daemon may have closed every
 * descriptor since the last one, chrooted or changed its user, and a fork
 * child must not share a connection with its parent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "record_channel.h"

/* How long a sender waits for the recorder's answer.  The recorder answers
 * as soon as it has the whole message; this bound only keeps a process from
 * hanging at exit when the recorder itself is stopped (^Z, SIGSTOP). */
#define PL_RECORD_ACK_TIMEOUT_MS 30000

/* Copied from the environment when the library loads (the environment may
 * be gone by the time the profile is sent), inherited by fork children. */
static char pl_record_name[PCREC_NAME_MAX + 1];
static size_t pl_record_name_len;
static uint64_t pl_record_image;
static pid_t pl_record_loaded_pid; /* the pid when the library loaded (its constructor) */

static bool pl_record_name_ok(const char *s, size_t n) {
    if (n == 0 || n > PCREC_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-'))
            return false;
    }
    return true;
}

int pl_record_configure(const char *value) {
    pl_record_name_len = 0;
    pl_record_loaded_pid = getpid();
    if (value == NULL) return 0;
    size_t n = strlen(value);
    if (!pl_record_name_ok(value, n)) return -1;
    memcpy(pl_record_name, value, n + 1);
    pl_record_name_len = n;
    return 0;
}

bool pl_record_active(void) { return pl_record_name_len > 0; }

static uint64_t pl_record_clock(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void pl_record_image_began(void) { pl_record_image = pl_record_clock(CLOCK_MONOTONIC); }

/* A session that starts in a pid other than the one the library loaded in
 * is a fork child's: its profile counts the CPU from the fork (fork.c's
 * count since fork), not from this moment. */
bool pl_record_in_fork_child(void) { return getpid() != pl_record_loaded_pid; }

static int pl_record_connect(char *err, size_t errlen) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un a;
    socklen_t alen = pcrec_address(&a, pl_record_name, pl_record_name_len);
    int r;
    do r = connect(fd, (struct sockaddr *)&a, alen);
    while (r != 0 && errno == EINTR);
    if (r != 0) {
        snprintf(err, errlen, "cannot reach the recorder (@%s): %s", pl_record_name, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int pl_record_write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n > 0) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The recorder's one-byte answer; -1 on timeout or a closed connection. */
static int pl_record_read_ack(int fd) {
    struct pollfd p = {fd, POLLIN, 0};
    uint64_t deadline = pl_record_clock(CLOCK_MONOTONIC) + (uint64_t)PL_RECORD_ACK_TIMEOUT_MS * 1000000u;
    for (;;) {
        uint64_t now = pl_record_clock(CLOCK_MONOTONIC);
        if (now >= deadline) return -1;
        int r = poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        unsigned char b;
        ssize_t n = read(fd, &b, 1);
        if (n < 0 && errno == EINTR) continue;
        return n == 1 ? b : -1;
    }
}

uint64_t pl_record_cpu_ns(void) { return pl_record_clock(CLOCK_PROCESS_CPUTIME_ID); }

int pl_record_send(uint32_t kind, uint32_t format, const char *note, const void *data, size_t len, char *err,
                   size_t errlen) {
    return pl_record_send_costed(kind, format, note, data, len, 0, 0, err, errlen);
}

int pl_record_send_costed(uint32_t kind, uint32_t format, const char *note, const void *data, size_t len,
                          uint64_t encode_cpu_ns, uint64_t helpers_cpu_ns, char *err, size_t errlen) {
    if (!pl_record_active()) {
        snprintf(err, errlen, "no recorder");
        return -1;
    }
    pcrec_header h;
    memset(&h, 0, sizeof h);
    h.magic = PCREC_MAGIC;
    h.kind = kind;
    h.format = format;
    h.image_id = pl_record_image;
    h.cpu_ns = pl_record_clock(CLOCK_PROCESS_CPUTIME_ID);
    h.encode_cpu_ns = encode_cpu_ns;
    h.helpers_cpu_ns = helpers_cpu_ns;
    h.len = len;
    if (prctl(PR_GET_NAME, h.comm) != 0) h.comm[0] = '\0';
    h.comm[sizeof h.comm - 1] = '\0';
    snprintf(h.note, sizeof h.note, "%s", note ? note : "");
    int fd = pl_record_connect(err, errlen);
    if (fd < 0) return -1;
    int rc = -1;
    if (pl_record_write_all(fd, &h, sizeof h) != 0 || (len > 0 && pl_record_write_all(fd, data, len) != 0)) {
        snprintf(err, errlen, "sending to the recorder failed: %s", strerror(errno));
    } else {
        int ack = pl_record_read_ack(fd);
        if (ack == PCREC_ACK_OK) rc = 0;
        else if (ack == PCREC_ACK_REFUSED) snprintf(err, errlen, "the recorder refused this process (not of its tree)");
        else if (ack == PCREC_ACK_BAD) snprintf(err, errlen, "the recorder could not read the message");
        else snprintf(err, errlen, "the recorder did not answer within %d s", PL_RECORD_ACK_TIMEOUT_MS / 1000);
    }
    close(fd);
    return rc;
}
