/* recorder.h — the receiving side of `profcore record` (the channel and
 * why: profiler/common/record_proto.h).
 *
 *   recorder.c         the socket, the peer check, the messages, reaping
 *                      (the recorder is the tree's subreaper), the
 *                      per-process report
 *   recorder_merge.c   the tree's profiles into one: pprof with pid and comm
 *                      labels on every sample, collapsed with a comm-pid
 *                      root frame
 *   recorder_out.c     writing the outputs atomically (one file, or one per
 *                      process)
 */
#ifndef PROFCORE_CLI_RECORDER_H
#define PROFCORE_CLI_RECORDER_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "record_proto.h"
#include "vocab.h"

/* One process image that said hello or sent a profile: a pid has one image
 * per exec (image_id: when its session started). */
typedef struct rec_image {
    pid_t pid;
    uint64_t image_id;
    char comm[17];
    int said_hello;
    int final;          /* the data is the image's final profile (else its last flush) */
    uint32_t format;    /* pcprof_format of data */
    unsigned char *data; /* the profile as sent; NULL: none arrived */
    size_t len;
    char when[96];      /* the sender's note ("at exit") */
    uint64_t sender_cpu_ns; /* the sender's own CPU clock when it sent */
    uint64_t proc_cpu_ns;   /* /proc/PID/stat utime+stime when it arrived (0: unknown) */
    uint64_t encode_cpu_ns; /* the sender's CPU building the profile it sent (after its session stopped) */
    uint64_t hello_cpu_ns;  /* the sender's CPU when its session had started (0: no hello) */
    uint64_t helpers_cpu_ns; /* the profiler's own threads' CPU inside the session (not the program's) */
    int forked;             /* a fork child's session: its profile counts from the fork, start-up included */
    uint64_t exec_cpu_ns;   /* the process's CPU when this image began (its earlier images' last word), 0: first */
    int64_t samples;
    double profiled_s;
    char problem[200];  /* why its data is missing or incomplete ("" when none) */
    char exec_note[96]; /* a note it sent before exec (what follows is not profiled) */
} rec_image;

/* A process the recorder reaped (its child, or an orphan re-parented to it). */
typedef struct rec_exit {
    pid_t pid;
    int status;        /* wait status */
    char comm[17];
    uint64_t cpu_ns;   /* its own utime+stime (zombie's /proc/PID/stat), 0: unknown */
} rec_exit;

typedef struct rec_conn rec_conn;

typedef struct recorder {
    int listen_fd;
    char name[PCREC_NAME_MAX + 1];
    pid_t self;
    rec_image *images;
    size_t nimages, images_cap;
    rec_exit *exits;
    size_t nexits, exits_cap;
    rec_conn *conns;
    size_t nconns, conns_cap;
    struct rusage tree_ru; /* the sum over every process it reaped */
    unsigned refused;
    int waiting_said;
    unsigned hz; /* what one sample stands for when a profile does not say (collapsed) */
} recorder;

/* Makes this process the subreaper of its future descendants and opens the
 * channel; 0, or -1 with a reason in err. */
int rec_open(recorder *r, char *err, size_t errlen);
/* Serves the channel and reaps until `root` has exited, no descendant is
 * left and no message is half-read.  *root_status: root's wait status.
 * *root_var (a signal handler's copy of root's pid) is set to 0 as root is
 * reaped, so the pid is never signalled once it may be reused; *forward_sig
 * (set by a signal handler after that) is forwarded to the processes still
 * running, then cleared. */
int rec_serve(recorder *r, pid_t root, int *root_status, volatile sig_atomic_t *forward_sig,
              volatile sig_atomic_t *root_var);
void rec_close(recorder *r);

/* Per-process lines and every process whose profile did not arrive, with
 * the reason; the number of images with data. */
size_t rec_report(const recorder *r, FILE *out);

/* The images with data, in arrival order (malloc'd; *n may be 0). */
const rec_image **rec_profiles(const recorder *r, size_t *n);

/* recorder_merge.c: the profiles of `n` images (all pprof, or all
 * collapsed) as one profile in that format: *out malloc'd.  0, or -1 with a
 * reason (a profile that cannot be merged is named). */
int rec_merge(const rec_image *const *imgs, size_t n, uint32_t format, unsigned char **out, size_t *outlen,
              char *err, size_t errlen);

/* recorder_merge.c: a pprof profile (gz) of the live process `pid` whose
 * locations have addresses but no mapping (it could not read /proc in its
 * chroot) with mappings from /proc/PID/maps attached, so pprof can name
 * them from the files.  0 and *out malloc'd, or -1: nothing to attach. */
int rec_attach_mappings(pid_t pid, const unsigned char *gz, size_t len, unsigned char **out, size_t *outlen);

/* recorder_out.c: writes `path` atomically (temporary file in the same
 * directory, fsync, rename); 0, or -1 with a reason. */
int rec_write_file(const char *path, const void *data, size_t len, char *err, size_t errlen);

#endif
