/* record_proto.h — the channel between `profcore record` (the recorder,
 * profiler/cli/recorder*.c) and the processes it profiles (the sender,
 * profiler/preload/record_channel.c).
 *
 * Why this channel.  A server's worker drops privileges, may chroot, may
 * close every descriptor it did not open, and runs in a directory it cannot
 * write: nothing that writes a file or keeps a descriptor from start to exit
 * survives all of that.  The recorder listens on a unix socket in the
 * *abstract* namespace (a name, not a file): a sender connects by name at
 * send time, so a chroot, a setuid and closed descriptors do not matter, and
 * there is no file permission to get wrong.  The name travels in
 * PCREC_ENV; the preload library copies it into its memory when it loads, so
 * a fork child of a program that clears its environment (nginx does for its
 * workers) still has it.  Who may send is decided by the recorder from the
 * kernel's SO_PEERCRED pid, never from anything in the message: only a
 * descendant of the recorder (which is PR_SET_CHILD_SUBREAPER, so orphans
 * stay its descendants) is accepted.  The sender waits for the one-byte
 * answer, so it is alive (and its /proc entry readable) while it is checked.
 *
 * Wire format (one message per connection, same machine, host byte order):
 * a pcrec_header, then `len` bytes of payload, then the recorder answers
 * one byte (PCREC_ACK_*) and closes.
 */
#ifndef PROFCORE_PROFILER_RECORD_PROTO_H
#define PROFCORE_PROFILER_RECORD_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* The abstract socket's name, without the leading NUL: only
 * [A-Za-z0-9._-], at most PCREC_NAME_MAX bytes. */
#define PCREC_ENV "PROFCORE_RECORD"
#define PCREC_NAME_MAX 100

#define PCREC_MAGIC 0x31524350u /* "PCR1" */
/* A profile larger than this is refused (the readers' own input limit). */
#define PCREC_MAX_PAYLOAD (256u << 20)

enum pcrec_kind {
    PCREC_HELLO = 1,   /* a session started in this process image (no payload) */
    PCREC_PROFILE = 2, /* the image's final profile (payload: the encoded profile) */
    PCREC_FLUSH = 3,   /* the profile so far (before exec, ProfilerFlush); a later one replaces it */
    PCREC_NOTE = 4,    /* no payload; `note` says why what follows will not be profiled */
};

/* The note of a hello from a fork child's session, whose profile counts
 * the CPU from the fork (its cpu_ns is start-up the profile covers); any
 * other hello's profile counts from cpu_ns on. */
#define PCREC_HELLO_FORKED "forked"

enum pcrec_ack {
    PCREC_ACK_OK = 'A',      /* stored */
    PCREC_ACK_REFUSED = 'R', /* not a process of the recorded tree */
    PCREC_ACK_BAD = 'E',     /* malformed message */
};

typedef struct pcrec_header {
    uint32_t magic;
    uint32_t kind;     /* enum pcrec_kind */
    uint32_t format;   /* pcprof_format of the payload */
    uint32_t reserved; /* 0 */
    uint64_t image_id; /* CLOCK_MONOTONIC ns when the image's session started: its hello, flushes and final share it */
    uint64_t cpu_ns;   /* the sender's CLOCK_PROCESS_CPUTIME_ID when it sent */
    uint64_t encode_cpu_ns; /* of which spent building the payload (symbolizing, encoding) */
    uint64_t helpers_cpu_ns; /* of which the profiler's own threads (writer, ticker, rotator): not the program's */
    uint64_t len;      /* payload bytes */
    char comm[16];     /* the sender's name (prctl PR_GET_NAME), NUL-terminated */
    char note[96];     /* NUL-terminated: when it was sent ("at exit") or, for a note, why */
} pcrec_header;

/* The abstract address of `name` (n bytes, n <= PCREC_NAME_MAX): a NUL,
 * then the name, no terminator; returns the address length. */
static inline socklen_t pcrec_address(struct sockaddr_un *a, const char *name, size_t n) {
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

#endif
