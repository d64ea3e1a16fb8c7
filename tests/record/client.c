/* client.c NAME MODE — talks to a recorder's channel the way no profiled
 * process does, for the recorder's bad-input and security tests.  NAME is
 * the channel's name, or "-" for $PROFCORE_RECORD.  Prints the recorder's
 * one-byte answer ("answer A|R|E") or "answer none" when it closed without
 * one.
 *   forge       a well-formed header and a payload that is not a profile
 *   truncated   a header announcing 1000 bytes, 10 of them, then exit
 *   garbage     64 bytes that are not a header
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "record_proto.h"

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    signal(SIGPIPE, SIG_IGN); /* a refusing recorder closes at once: the answer is still there to read */
    const char *name = strcmp(argv[1], "-") == 0 ? getenv(PCREC_ENV) : argv[1];
    if (name == NULL || strlen(name) > PCREC_NAME_MAX) return 2;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a;
    socklen_t alen = pcrec_address(&a, name, strlen(name));
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, alen) != 0) {
        perror("connect");
        return 1;
    }
    pcrec_header h;
    memset(&h, 0, sizeof h);
    h.magic = PCREC_MAGIC;
    h.kind = PCREC_PROFILE;
    h.format = 0; /* pprof */
    h.image_id = 1;
    snprintf(h.comm, sizeof h.comm, "client");
    char payload[1000];
    memset(payload, 'x', sizeof payload);
    if (strcmp(argv[2], "forge") == 0) {
        h.len = 100;
        if (write(fd, &h, sizeof h) == (ssize_t)sizeof h) {
            ssize_t w = write(fd, payload, 100);
            (void)w;
        }
    } else if (strcmp(argv[2], "truncated") == 0) {
        h.len = 1000;
        if (write(fd, &h, sizeof h) != (ssize_t)sizeof h || write(fd, payload, 10) != 10) return 1;
        printf("answer none\n");
        return 0; /* dies in the middle of sending */
    } else if (strcmp(argv[2], "garbage") == 0) {
        ssize_t w = write(fd, payload, 64 + sizeof h);
        (void)w;
    } else {
        return 2;
    }
    struct pollfd p = {fd, POLLIN, 0};
    char b = 0;
    if (poll(&p, 1, 30000) == 1 && read(fd, &b, 1) == 1) printf("answer %c\n", b);
    else printf("answer none\n");
    return 0;
}
