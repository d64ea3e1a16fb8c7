/* recorder.c — `profcore record`'s receiving side: the channel's socket,
 * who may send, the messages, and the tree's processes.
 *
 * The tree.  The recorder is PR_SET_CHILD_SUBREAPER before it starts the
 * program, so a process whose parent exits (a daemon's double fork) is
 * re-parented to the recorder, not to init: every process of the tree stays
 * a descendant, the peer check below holds for it, and the recorder reaps
 * it.  Hence "the tree is done" is exactly "wait reports no child left": the
 * recorder serves until then (a daemon that outlives the program keeps
 * `record` waiting, and it says so).
 *
 * Who may send.  The kernel's SO_PEERCRED pid of the connecting process,
 * never a field of the message: accepted only if the ppid chain in /proc
 * leads to the recorder.  The sender waits for the answer, so it is alive
 * (its /proc entry readable) while it is checked.  A refused peer gets
 * PCREC_ACK_REFUSED, one line on stderr, and touches nothing.
 *
 * One poll loop, no threads: the listening socket, every half-read
 * connection (non-blocking, so one slow or stuck sender never holds up the
 * others), and a pipe the SIGCHLD handler writes to.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "readers.h"
#include "recorder.h"

struct rec_conn {
    int fd;
    pid_t pid;
    unsigned char *buf;
    size_t len, cap;
};

/* ---- /proc ------------------------------------------------------------------ */

/* Fields 3.. of /proc/PID/stat (after the comm, which may hold spaces and
 * parentheses: the last ')' ends it).  0, or -1 when the process is gone. */
static int proc_stat_fields(pid_t pid, char *buf, size_t n, const char **after_comm) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t got = read(fd, buf, n - 1);
    close(fd);
    if (got <= 0) return -1;
    buf[got] = '\0';
    char *rp = strrchr(buf, ')');
    if (rp == NULL || rp[1] != ' ') return -1;
    *after_comm = rp + 2;
    return 0;
}

/* Field k (1-based as in proc(5)) of /proc/PID/stat, k >= 3. */
static int proc_stat_field(const char *after_comm, int k, unsigned long long *v) {
    const char *p = after_comm;
    for (int i = 3; i < k; i++) {
        p = strchr(p, ' ');
        if (p == NULL) return -1;
        p++;
    }
    char *end;
    errno = 0;
    *v = strtoull(p, &end, 10);
    return (end == p || errno) ? -1 : 0;
}

static pid_t proc_parent(pid_t pid) {
    char buf[1024];
    const char *f;
    unsigned long long ppid;
    if (proc_stat_fields(pid, buf, sizeof buf, &f) != 0 || proc_stat_field(f, 4, &ppid) != 0) return -1;
    return (pid_t)ppid;
}

/* utime + stime (fields 14, 15) in ns; 0 when unknown. */
static uint64_t proc_cpu_ns(pid_t pid) {
    char buf[1024];
    const char *f;
    unsigned long long ut, st;
    if (proc_stat_fields(pid, buf, sizeof buf, &f) != 0 || proc_stat_field(f, 14, &ut) != 0 ||
        proc_stat_field(f, 15, &st) != 0)
        return 0;
    long hz = sysconf(_SC_CLK_TCK);
    return (uint64_t)(ut + st) * (1000000000u / (uint64_t)(hz > 0 ? hz : 100));
}

static void proc_comm(pid_t pid, char out[17]) {
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    out[0] = '\0';
    if (fd < 0) return;
    ssize_t n = read(fd, out, 16);
    close(fd);
    if (n <= 0) return;
    out[n] = '\0';
    char *nl = strchr(out, '\n');
    if (nl) *nl = '\0';
}

/* Is pid a descendant of the recorder?  The chain of parents ends at the
 * recorder, or at init / a process that is gone (not ours). */
static int is_descendant(pid_t self, pid_t pid) {
    for (int steps = 0; pid > 1 && steps < 65536; steps++) {
        pid = proc_parent(pid);
        if (pid == self) return 1;
    }
    return 0;
}

/* ---- the table of images ----------------------------------------------------------- */

static int grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need) n *= 2;
    void *p = realloc(*arr, n * elem);
    if (p == NULL) return -1;
    *arr = p;
    *cap = n;
    return 0;
}

static rec_image *find_image(recorder *r, pid_t pid, uint64_t image_id) {
    for (size_t i = 0; i < r->nimages; i++)
        if (r->images[i].pid == pid && r->images[i].image_id == image_id) return &r->images[i];
    if (grow((void **)&r->images, &r->images_cap, r->nimages + 1, sizeof *r->images) != 0) return NULL;
    rec_image *im = &r->images[r->nimages++];
    memset(im, 0, sizeof *im);
    im->pid = pid;
    im->image_id = image_id;
    return im;
}

/* ---- the channel ------------------------------------------------------------------------ */

static volatile sig_atomic_t rec_sigchld_fd = -1;

static void on_sigchld(int sig) {
    (void)sig;
    int saved = errno;
    char b = 1;
    if (rec_sigchld_fd >= 0) {
        ssize_t w = write(rec_sigchld_fd, &b, 1); /* non-blocking: a full pipe is already a wake-up */
        (void)w;
    }
    errno = saved;
}

static int rec_wake_pipe[2] = {-1, -1};

int rec_open(recorder *r, char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->listen_fd = -1;
    r->self = getpid();
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
        snprintf(err, errlen, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
        return -1;
    }
    unsigned char rnd[8] = {0};
    int ufd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (ufd >= 0) {
        ssize_t n = read(ufd, rnd, sizeof rnd);
        (void)n;
        close(ufd);
    }
    uint64_t tag = 0;
    for (int i = 0; i < 8; i++) tag = tag << 8 | rnd[i];
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    tag ^= (uint64_t)ts.tv_nsec; /* distinct names even without /dev/urandom */
    snprintf(r->name, sizeof r->name, "profcore-record.%d.%016" PRIx64, (int)r->self, tag);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un a;
    socklen_t alen = pcrec_address(&a, r->name, strlen(r->name));
    if (bind(fd, (struct sockaddr *)&a, alen) != 0 ||
        listen(fd, 128) != 0) {
        snprintf(err, errlen, "the recorder's socket @%s: %s", r->name, strerror(errno));
        close(fd);
        return -1;
    }
    r->listen_fd = fd;
    if (pipe2(rec_wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        close(fd);
        return -1;
    }
    rec_sigchld_fd = rec_wake_pipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
    return 0;
}

static void conn_close(recorder *r, size_t i, int ack) {
    rec_conn *c = &r->conns[i];
    if (ack) {
        unsigned char b = (unsigned char)ack;
        ssize_t w = send(c->fd, &b, 1, MSG_NOSIGNAL);
        (void)w;
    }
    close(c->fd);
    free(c->buf);
    r->conns[i] = r->conns[--r->nconns];
}

static void say_refused(pid_t pid, const char *why) {
    char comm[17];
    proc_comm(pid, comm);
    fprintf(stderr, "profcore: refused a connection to the recorder from pid %d (%s): %s; the recording is unharmed\n",
            (int)pid, comm[0] ? comm : "?", why);
}

static void accept_all(recorder *r) {
    for (;;) {
        int fd = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) return; /* EAGAIN: none left; anything else: try again at the next wake-up */
        struct ucred cred;
        socklen_t cl = sizeof cred;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cred.pid <= 0) {
            r->refused++;
            fprintf(stderr, "profcore: refused a connection to the recorder whose sender is unknown\n");
            close(fd);
            continue;
        }
        if (!is_descendant(r->self, cred.pid)) {
            r->refused++;
            say_refused(cred.pid, "not a process of the recorded tree");
            unsigned char b = PCREC_ACK_REFUSED;
            ssize_t w = send(fd, &b, 1, MSG_NOSIGNAL);
            (void)w;
            close(fd);
            continue;
        }
        if (grow((void **)&r->conns, &r->conns_cap, r->nconns + 1, sizeof *r->conns) != 0) {
            fprintf(stderr, "profcore: out of memory: a message from pid %d is lost\n", (int)cred.pid);
            close(fd);
            continue;
        }
        r->conns[r->nconns++] = (rec_conn){fd, cred.pid, NULL, 0, 0};
    }
}

static const char *kind_name(uint32_t k) {
    switch (k) {
    case PCREC_HELLO: return "hello";
    case PCREC_PROFILE: return "profile";
    case PCREC_FLUSH: return "flush";
    case PCREC_NOTE: return "note";
    }
    return "?";
}

/* The message's header, checked; NULL (and why) when it is not one. */
static const pcrec_header *conn_header(const rec_conn *c, const char **why) {
    if (c->len < sizeof(pcrec_header)) return NULL;
    const pcrec_header *h = (const pcrec_header *)c->buf;
    *why = NULL;
    if (h->magic != PCREC_MAGIC) *why = "not a profcore message (bad magic)";
    else if (h->kind < PCREC_HELLO || h->kind > PCREC_NOTE) *why = "unknown message kind";
    else if (h->len > PCREC_MAX_PAYLOAD) *why = "payload larger than the limit";
    else if ((h->kind == PCREC_HELLO || h->kind == PCREC_NOTE) && h->len != 0) *why = "unexpected payload";
    else if ((h->kind == PCREC_PROFILE || h->kind == PCREC_FLUSH) &&
             h->format > (uint32_t)PCPROF_FORMAT_COLLAPSED)
        *why = "unknown profile format";
    return h;
}

/* Reads the profile back with the readers: a sender's bytes are untrusted
 * until they parse (the merge relies on it). */
static int check_profile(rec_image *im, unsigned hz, const pcrec_header *h, const unsigned char *data, char *why,
                         size_t n) {
    rd_limits lim = RD_LIMITS_DEFAULT;
    rd_profile p;
    char err[256];
    int rc = h->format == PCPROF_FORMAT_PPROF     ? rd_read_pprof(data, h->len, &lim, &p, err, sizeof err)
             : h->format == PCPROF_FORMAT_LEGACY ? rd_read_legacy(data, h->len, &lim, &p, err, sizeof err)
                                                 : rd_read_collapsed(data, h->len, &lim, &p, err, sizeof err);
    if (rc != 0) {
        snprintf(why, n, "its profile is unreadable (%.150s)", err);
        return -1;
    }
    int64_t count = 0, ns = 0;
    for (size_t i = 0; i < p.nsamples; i++) {
        count += p.samples[i].count;
        if (p.has_value_ns) ns += p.samples[i].value_ns;
    }
    im->samples = count;
    im->profiled_s = p.has_value_ns       ? (double)ns / 1e9
                     : p.period_ns > 0    ? (double)count * (double)p.period_ns / 1e9
                     : hz > 0             ? (double)count / hz
                                          : 0;
    rd_free(&p);
    return 0;
}

/* A whole message from a checked peer: store it; the answer to send. */
static int take_message(recorder *r, rec_conn *c, const pcrec_header *h) {
    rec_image *im = find_image(r, c->pid, h->image_id);
    if (im == NULL) {
        fprintf(stderr, "profcore: out of memory: the %s of pid %d is lost\n", kind_name(h->kind), (int)c->pid);
        return PCREC_ACK_BAD;
    }
    char comm[17];
    proc_comm(c->pid, comm); /* the kernel's name: the sender's may be a thread's */
    snprintf(im->comm, sizeof im->comm, "%s", comm[0] ? comm : h->comm);
    if (h->kind == PCREC_HELLO) {
        im->said_hello = 1;
        im->hello_cpu_ns = h->cpu_ns;
        im->forked = strncmp(h->note, PCREC_HELLO_FORKED, sizeof h->note) == 0;
        /* The CPU clock is the process's, across exec: an earlier image of the
         * same pid ended where this one's start-up began. */
        for (size_t i = 0; i < r->nimages; i++)
            if (&r->images[i] != im && r->images[i].pid == im->pid && r->images[i].sender_cpu_ns > im->exec_cpu_ns &&
                r->images[i].sender_cpu_ns <= h->cpu_ns)
                im->exec_cpu_ns = r->images[i].sender_cpu_ns;
        return PCREC_ACK_OK;
    }
    if (h->kind == PCREC_NOTE) {
        snprintf(im->exec_note, sizeof im->exec_note, "%.*s", (int)sizeof h->note, h->note);
        return PCREC_ACK_OK;
    }
    const unsigned char *data = c->buf + sizeof *h;
    char why[200];
    if (check_profile(im, r->hz, h, data, why, sizeof why) != 0) {
        snprintf(im->problem, sizeof im->problem, "%s", why);
        fprintf(stderr, "profcore: pid %d (%s): %s\n", (int)c->pid, im->comm, why);
        return PCREC_ACK_BAD;
    }
    unsigned char *copy = NULL;
    size_t clen = 0;
    if (h->format != PCPROF_FORMAT_PPROF || rec_attach_mappings(c->pid, data, h->len, &copy, &clen) != 0) {
        copy = malloc(h->len ? h->len : 1);
        clen = h->len;
        if (copy != NULL) memcpy(copy, data, h->len);
    }
    if (copy == NULL) {
        snprintf(im->problem, sizeof im->problem, "out of memory in the recorder");
        return PCREC_ACK_BAD;
    }
    free(im->data);
    im->data = copy;
    im->len = clen;
    im->format = h->format;
    im->final = h->kind == PCREC_PROFILE;
    im->problem[0] = '\0';
    snprintf(im->when, sizeof im->when, "%.*s", (int)sizeof h->note - 1, h->note);
    im->sender_cpu_ns = h->cpu_ns;
    im->encode_cpu_ns = h->encode_cpu_ns;
    im->helpers_cpu_ns = h->helpers_cpu_ns;
    im->proc_cpu_ns = proc_cpu_ns(c->pid);
    return PCREC_ACK_OK;
}

/* A connection whose sender hung up before its message was whole. */
static void conn_lost(recorder *r, rec_conn *c) {
    const char *why = NULL;
    const pcrec_header *h = conn_header(c, &why);
    if (h == NULL || why != NULL) {
        if (c->len > 0)
            fprintf(stderr, "profcore: pid %d closed the recorder's channel after %zu bytes, not a whole message\n",
                    (int)c->pid, c->len);
        return;
    }
    rec_image *im = find_image(r, c->pid, h->image_id);
    if (im == NULL) return;
    snprintf(im->comm, sizeof im->comm, "%s", h->comm);
    snprintf(im->problem, sizeof im->problem, "its %s was cut off after %zu of %" PRIu64 " bytes (it died while sending)",
             kind_name(h->kind), c->len - sizeof *h, h->len);
    fprintf(stderr, "profcore: pid %d (%s): %s\n", (int)c->pid, im->comm, im->problem);
}

/* Reads what is there; 1 when the connection is finished (closed). */
static int conn_read(recorder *r, size_t i) {
    rec_conn *c = &r->conns[i];
    for (;;) {
        size_t want = sizeof(pcrec_header);
        const char *why = NULL;
        const pcrec_header *h = conn_header(c, &why);
        if (h != NULL && why != NULL) {
            fprintf(stderr, "profcore: pid %d sent a malformed message (%s); ignored\n", (int)c->pid, why);
            conn_close(r, i, PCREC_ACK_BAD);
            return 1;
        }
        if (h != NULL) want += h->len;
        if (h != NULL && c->len == want) {
            int ack = take_message(r, c, h);
            conn_close(r, i, ack);
            return 1;
        }
        if (grow((void **)&c->buf, &c->cap, want, 1) != 0) {
            fprintf(stderr, "profcore: out of memory reading a message of pid %d\n", (int)c->pid);
            conn_close(r, i, PCREC_ACK_BAD);
            return 1;
        }
        ssize_t n = read(c->fd, c->buf + c->len, want - c->len);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
        conn_lost(r, c); /* EOF or error before the message was whole */
        conn_close(r, i, 0);
        return 1;
    }
}

/* ---- reaping ----------------------------------------------------------------------------------- */

static void add_rusage(struct rusage *sum, const struct rusage *ru) {
    sum->ru_utime.tv_sec += ru->ru_utime.tv_sec;
    sum->ru_utime.tv_usec += ru->ru_utime.tv_usec;
    sum->ru_stime.tv_sec += ru->ru_stime.tv_sec;
    sum->ru_stime.tv_usec += ru->ru_stime.tv_usec;
    for (struct timeval *t = &sum->ru_utime; t; t = t == &sum->ru_utime ? &sum->ru_stime : NULL)
        while (t->tv_usec >= 1000000) {
            t->tv_usec -= 1000000;
            t->tv_sec++;
        }
}

/* Reaps every exited child; returns 1 when no child is left at all. */
static int reap(recorder *r, pid_t root, int *root_status, int *root_done, volatile sig_atomic_t *root_var) {
    for (;;) {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        /* WNOWAIT first: the zombie's /proc entry still has its own CPU and name. */
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0) return errno == ECHILD;
        if (si.si_pid == 0) return 0;
        pid_t pid = si.si_pid;
        rec_exit e;
        memset(&e, 0, sizeof e);
        e.pid = pid;
        e.cpu_ns = proc_cpu_ns(pid);
        proc_comm(pid, e.comm);
        struct rusage ru;
        int status;
        if (pid == root) *root_var = 0; /* before the pid can be reused */
        if (wait4(pid, &status, WNOHANG, &ru) != pid) continue;
        e.status = status;
        add_rusage(&r->tree_ru, &ru);
        if (grow((void **)&r->exits, &r->exits_cap, r->nexits + 1, sizeof *r->exits) == 0) r->exits[r->nexits++] = e;
        if (pid == root) {
            *root_status = status;
            *root_done = 1;
        }
    }
}

/* Every process of the tree still running (the root is gone): what a
 * forwarded signal goes to.  Found in /proc, not from the hellos, so a
 * process that has not said hello yet (just exec'd) or is not profiled
 * gets it too; a pid is signalled only while its ppid chain leads here. */
static void forward_to_remaining(recorder *r, int sig) {
    DIR *d = opendir("/proc");
    if (d == NULL) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 1 || pid == (long)r->self) continue;
        if (is_descendant(r->self, (pid_t)pid)) kill((pid_t)pid, sig);
    }
    closedir(d);
}

int rec_serve(recorder *r, pid_t root, int *root_status, volatile sig_atomic_t *forward_sig,
              volatile sig_atomic_t *root_var) {
    int root_done = 0, empty = 0;
    *root_status = 0;
    for (;;) {
        empty = reap(r, root, root_status, &root_done, root_var);
        accept_all(r);
        if (root_done && empty && r->nconns == 0) return 0;
        if (root_done && !empty && !r->waiting_said) {
            r->waiting_said = 1;
            fprintf(stderr, "profcore: the program exited; waiting for the processes it left running "
                            "(a signal to profcore is forwarded to them)\n");
        }
        if (root_done && *forward_sig != 0) {
            int sig = (int)*forward_sig;
            *forward_sig = 0;
            forward_to_remaining(r, sig);
        }
        size_t nfds = 2 + r->nconns;
        struct pollfd stackfds[66], *fds = nfds <= 66 ? stackfds : malloc(nfds * sizeof *fds);
        if (fds == NULL) fds = stackfds, nfds = 66;
        fds[0] = (struct pollfd){r->listen_fd, POLLIN, 0};
        fds[1] = (struct pollfd){rec_wake_pipe[0], POLLIN, 0};
        for (size_t i = 2; i < nfds; i++) fds[i] = (struct pollfd){r->conns[i - 2].fd, POLLIN, 0};
        /* The timeout is only a safety net: SIGCHLD and every message wake the poll. */
        int n = poll(fds, nfds, 500);
        if (n > 0 && (fds[1].revents & POLLIN)) {
            char junk[64];
            while (read(rec_wake_pipe[0], junk, sizeof junk) > 0) {
            }
        }
        /* Connections are served from the end (conn_close moves the last one into a closed slot). */
        for (size_t i = nfds; n > 0 && i-- > 2;)
            if (fds[i].revents != 0 && i - 2 < r->nconns && r->conns[i - 2].fd == fds[i].fd) conn_read(r, i - 2);
        if (fds != stackfds) free(fds);
    }
}

void rec_close(recorder *r) {
    if (r->listen_fd >= 0) close(r->listen_fd);
    r->listen_fd = -1;
    while (r->nconns > 0) conn_close(r, r->nconns - 1, 0);
    for (size_t i = 0; i < r->nimages; i++) free(r->images[i].data);
    free(r->images);
    free(r->exits);
    free(r->conns);
    memset(r, 0, sizeof *r);
    r->listen_fd = -1;
}

/* ---- the report -------------------------------------------------------------------------------- */

const rec_image **rec_profiles(const recorder *r, size_t *n) {
    const rec_image **v = malloc((r->nimages ? r->nimages : 1) * sizeof *v);
    *n = 0;
    if (v == NULL) return NULL;
    for (size_t i = 0; i < r->nimages; i++)
        if (r->images[i].data != NULL) v[(*n)++] = &r->images[i];
    return v;
}

static const rec_exit *exit_of(const recorder *r, pid_t pid) {
    for (size_t k = r->nexits; k-- > 0;)
        if (r->exits[k].pid == pid) return &r->exits[k];
    return NULL;
}

/* Why an image that said hello left no final profile. */
static void missing_reason(const recorder *r, const rec_image *im, char *buf, size_t n) {
    const rec_exit *e = exit_of(r, im->pid);
    const char *extra = im->data ? " (only its profile up to a flush or exec is kept)" : "";
    if (im->problem[0]) {
        snprintf(buf, n, "%s%s", im->problem, extra);
    } else if (e != NULL && WIFSIGNALED(e->status) && WTERMSIG(e->status) == SIGKILL) {
        snprintf(buf, n, "killed by SIGKILL: nothing can run after it%s", extra);
    } else if (e != NULL && WIFSIGNALED(e->status)) {
        snprintf(buf, n, "killed by signal %d (%s) before its profile could be sent%s", WTERMSIG(e->status),
                 strsignal(WTERMSIG(e->status)), extra);
    } else if (im->exec_note[0]) {
        snprintf(buf, n, "%s", im->exec_note);
    } else if (e != NULL) {
        snprintf(buf, n, "exited with status %d without sending its profile%s", WEXITSTATUS(e->status), extra);
    } else {
        snprintf(buf, n, "ended without sending its profile (its parent reaped it: exit status unknown here)%s", extra);
    }
}

/* The CPU the profile covers, by the sender's own clock: from its
 * session's start (the hello; a fork child's from the fork, start-up
 * included) to the stop; the profiler's writing (after the stop) and an
 * unsampled start-up are named apart, and /proc's count of the whole
 * process is shown as the independent measure. */
static uint64_t session_cpu_ns(const rec_image *im) {
    uint64_t own = im->encode_cpu_ns + im->helpers_cpu_ns; /* the profiler's: writing, its threads */
    uint64_t used = im->sender_cpu_ns > own ? im->sender_cpu_ns - own : 0;
    return im->said_hello && !im->forked && used > im->hello_cpu_ns ? used - im->hello_cpu_ns : used;
}

static void print_image(FILE *out, const rec_image *im) {
    char measured[64] = "?";
    if (im->proc_cpu_ns) snprintf(measured, sizeof measured, "%.3f s", (double)im->proc_cpu_ns / 1e9);
    uint64_t session = session_cpu_ns(im);
    fprintf(out,
            "profcore:   pid %-7d %-16s %8" PRId64 " samples, CPU profiled %.3f s of %.3f s in its session "
            "(%.1f%%); /proc: %s in all, profiler start-up %.3f s%s, its threads %.3f s, writing %.3f s%s%s\n",
            (int)im->pid, im->comm, im->samples, im->profiled_s, (double)session / 1e9,
            session ? 100.0 * im->profiled_s * 1e9 / (double)session : 0.0, measured,
            (double)(im->hello_cpu_ns - im->exec_cpu_ns) / 1e9, im->forked ? " (sampled: counted from the fork)" : "",
            (double)im->helpers_cpu_ns / 1e9, (double)im->encode_cpu_ns / 1e9, im->exec_note[0] ? "; then " : "",
            im->exec_note);
}

size_t rec_report(const recorder *r, FILE *out) {
    size_t with = 0, missing = 0;
    for (size_t i = 0; i < r->nimages; i++) {
        const rec_image *im = &r->images[i];
        if (im->data != NULL && im->final) {
            with++;
            print_image(out, im);
            continue;
        }
        if (im->data != NULL) with++;
        missing++;
        char why[320];
        missing_reason(r, im, why, sizeof why);
        fprintf(out, "profcore:   pid %-7d %-16s no profile: %s\n", (int)im->pid, im->comm[0] ? im->comm : "?", why);
    }
    double prof = 0, sess = 0, start = 0, writing = 0;
    for (size_t i = 0; i < r->nimages; i++) {
        const rec_image *im = &r->images[i];
        if (im->data == NULL) continue;
        prof += im->profiled_s;
        sess += (double)session_cpu_ns(im) / 1e9;
        if (!im->forked) start += (double)(im->hello_cpu_ns - im->exec_cpu_ns) / 1e9;
        writing += (double)im->encode_cpu_ns / 1e9;
    }
    if (with > 1)
        fprintf(out,
                "profcore: the tree: CPU profiled %.3f s of %.3f s in the sessions (%.1f%%); the profiler's own: "
                "start-up %.3f s (not sampled), writing %.3f s\n",
                prof, sess, sess > 0 ? 100.0 * prof / sess : 0.0, start, writing);
    if (missing > 0)
        fprintf(out, "profcore: %zu process%s of the tree sent no final profile (above)\n", missing,
                missing == 1 ? "" : "es");
    if (r->refused > 0)
        fprintf(out, "profcore: %u connection%s from outside the tree refused\n", r->refused, r->refused == 1 ? "" : "s");
    return with;
}
