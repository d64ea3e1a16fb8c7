/* http_server.c — the pprof endpoint: pcp_http_start, pcp_http_stop,
 * pcp_http_address (profcore_profiler.h).  See http.h for the parts and
 * docs/ARCHITECTURE.md ("The pprof endpoint") for how a window relates
 * to the program's own session.
 *
 * Threads.  libmicrohttpd runs one listening thread (asleep in poll while
 * no one connects) and one thread per connection, all created with every
 * signal blocked: never sampled, never chosen for a process signal.  A
 * profile request's thread starts a window (prt_window_start, the same
 * session pcp_start builds), sleeps in poll until the window's end, the
 * client hanging up (Go's handler stops early too) or shutdown, stops it
 * (prt_window_stop) and sends the bytes.  Nothing here runs in a signal
 * handler.
 *
 * Locks.  prt_http.mu guards the state machine and the server's fields;
 * it is a leaf: nothing else is taken while it is held (the window's
 * start and stop take the API lock without it), so the fork handlers can
 * take it last.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"
#include "http.h"
#include "http_mhd.h"
#include "internal.h"
#include "profile.h"

#define PRT_HTTP_CONNECTIONS 16      /* more at once are refused by the daemon */
#define PRT_HTTP_HEADER_BYTES 32768  /* a request's headers beyond this get 431 from the daemon */
#define PRT_HTTP_IDLE_SECONDS 15     /* an idle or stalled connection is closed */
#define PRT_HTTP_DRAIN_MS 3000       /* shutdown waits this long for the last responses */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t idle;  /* signalled when a request completes */
    prt_http_state st;
    bool serving;
    pid_t owner;          /* the process that started it (a fork child does not serve) */
    struct MHD_Daemon *daemon;
    int listen_fd;
    int stop_pipe[2];     /* readable once shutdown began: wakes every window */
    pcprof_endpoint ep;   /* with the real port */
    char address[160];
    char advert[PATH_MAX];
    pcp_options window;   /* each window's options; strings below */
    char engine[16], unwind[16];
} prt_http = {.mu = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER,
              .listen_fd = -1, .stop_pipe = {-1, -1}};

/* ---- the listening socket ---------------------------------------------------- */

static int prt_http_unix_socket(pcprof_endpoint *ep, char *err, size_t errlen) {
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, ep->path, strlen(ep->path) + 1);
    struct stat st;
    if (lstat(ep->path, &st) == 0) {
        /* A socket no one listens on is a dead server's (SIGKILL): reuse
         * the path.  Anything else there is not ours to remove. */
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool stale = S_ISSOCK(st.st_mode) && probe >= 0 &&
                     connect(probe, (struct sockaddr *)&sa, sizeof sa) != 0 && errno == ECONNREFUSED;
        if (probe >= 0) close(probe);
        if (!stale) {
            prt_set_error(err, errlen, "profcore: %s exists and is not a dead socket; not serving there",
                          ep->path);
            return -1;
        }
        unlink(ep->path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || chmod(ep->path, 0600) != 0) {
        prt_set_error(err, errlen, "profcore: cannot listen on unix:%s: %s", ep->path, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

static int prt_http_tcp_socket(pcprof_endpoint *ep, char *err, size_t errlen) {
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    if (ep->kind == PCPROF_ENDPOINT_TCP4) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)ep->port);
        memcpy(&a->sin_addr, ep->addr, 4);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)ep->port);
        memcpy(&a->sin6_addr, ep->addr, 16);
        len = sizeof *a;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* restart after a crash */
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) != 0 || getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        char want[160];
        pcprof_endpoint_format(ep, want, sizeof want);
        prt_set_error(err, errlen, "profcore: cannot listen on %s: %s", want, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    ep->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                             : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static int prt_http_listen(pcprof_endpoint *ep, char *err, size_t errlen) {
    int fd = ep->kind == PCPROF_ENDPOINT_UNIX ? prt_http_unix_socket(ep, err, errlen)
                                              : prt_http_tcp_socket(ep, err, errlen);
    if (fd >= 0 && listen(fd, PRT_HTTP_CONNECTIONS) != 0) {
        prt_set_error(err, errlen, "profcore: listen: %s", strerror(errno));
        close(fd);
        if (ep->kind == PCPROF_ENDPOINT_UNIX) unlink(ep->path);
        return -1;
    }
    return fd;
}

/* ---- the advertisement (endpoint.h) -------------------------------------------- */

/* Our directory only: made 0700, or already there as a directory of ours
 * that no one else can write or read. */
static int prt_http_advert_dir(const char *dir) {
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) return -1;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() || (st.st_mode & 077) != 0)
        return -1;
    return 0;
}

static void prt_http_advertise(char *err, size_t errlen) {
    char dir[64], tmp[PATH_MAX + 8];
    snprintf(dir, sizeof dir, PCPROF_ADVERT_DIR_FMT, (unsigned)getuid());
    prt_http.advert[0] = '\0';
    if (prt_http_advert_dir(dir) != 0 ||
        pcprof_advert_path(getpid(), getuid(), 0, prt_http.advert, sizeof prt_http.advert) != 0) {
        prt_set_error(err, errlen, "profcore: %s is not a private directory of this user: "
                                   "`profcore record -p` will not find the endpoint", dir);
        prt_http.advert[0] = '\0';
        return;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp", prt_http.advert);
    FILE *f = NULL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) f = fdopen(fd, "w");
    bool ok = f != NULL && fprintf(f, "%s\n%llu\n", prt_http.address,
                                   (unsigned long long)pcprof_process_starttime(getpid())) > 0;
    if (f != NULL && fclose(f) != 0) ok = false;
    else if (f == NULL && fd >= 0) close(fd);
    if (!ok || rename(tmp, prt_http.advert) != 0) {
        unlink(tmp);
        prt_set_error(err, errlen, "profcore: cannot write %s: %s", prt_http.advert, strerror(errno));
        prt_http.advert[0] = '\0';
    }
}

/* ---- responses ---------------------------------------------------------------- */

/* Queues one response; the body is copied (MUST_COPY) or handed over
 * (MUST_FREE: malloc'd, freed by the daemon). */
static enum MHD_Result prt_http_send(struct MHD_Connection *c, unsigned status, const char *type, void *body,
                                     size_t len, enum MHD_ResponseMemoryMode mode) {
    struct MHD_Response *r = prt_mhd.create_response_from_buffer(len, body, mode);
    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(body);
        return MHD_NO;
    }
    prt_mhd.add_response_header(r, "X-Content-Type-Options", "nosniff");
    prt_mhd.add_response_header(r, "Content-Type", type);
    if (status >= 400) prt_mhd.add_response_header(r, "X-Go-Pprof", "1"); /* Go's serveError */
    if (status == 301) prt_mhd.add_response_header(r, "Location", "/debug/pprof/");
    if (status == 405) prt_mhd.add_response_header(r, "Allow", "GET, HEAD");
    enum MHD_Result q = prt_mhd.queue_response(c, status, r);
    prt_mhd.destroy_response(r);
    return q;
}

/* Go's serveError: text/plain, the message and a newline. */
static enum MHD_Result prt_http_send_error(struct MHD_Connection *c, unsigned status, const char *msg) {
    char line[600];
    int n = snprintf(line, sizeof line, "%s\n", msg);
    size_t len = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    return prt_http_send(c, status, "text/plain; charset=utf-8", line, len, MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result prt_http_send_index(struct MHD_Connection *c) {
    static const char page[] =
        "<html>\n<head>\n<title>/debug/pprof/</title>\n</head>\n<body>\n/debug/pprof/<br>\n<br>\n"
        "Types of profiles available:\n<table>\n<thead><td>Count</td><td>Profile</td></thead>\n"
        "<tr><td>0</td><td><a href='cmdline'>cmdline</a></td></tr>\n"
        "<tr><td>0</td><td><a href='profile?seconds=30'>profile</a></td></tr>\n"
        "</table>\n<p>\nProfile Descriptions:\n<ul>\n"
        "<li><div class=profile-name>cmdline: </div> The command line of the program, arguments "
        "separated by NUL bytes</li>\n"
        "<li><div class=profile-name>profile: </div> CPU profile of the next N seconds "
        "(?seconds=N, default 30), by profcore. Read it with go tool pprof.</li>\n"
        "</ul>\n</p>\n</body>\n</html>";
    return prt_http_send(c, 200, "text/html; charset=utf-8", (void *)page, sizeof page - 1,
                         MHD_RESPMEM_PERSISTENT);
}

/* argv joined by NUL bytes, as Go's Cmdline (no trailing NUL). */
static enum MHD_Result prt_http_send_cmdline(struct MHD_Connection *c) {
    char *buf = malloc(65536);
    ssize_t n = 0;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (buf != NULL && fd >= 0) n = read(fd, buf, 65536);
    if (fd >= 0) close(fd);
    if (buf == NULL || n < 0) {
        free(buf);
        return prt_http_send_error(c, 500, "profcore: cannot read /proc/self/cmdline");
    }
    if (n > 0 && buf[n - 1] == '\0') n--;
    return prt_http_send(c, 200, "text/plain; charset=utf-8", buf, (size_t)n, MHD_RESPMEM_MUST_FREE);
}

/* ---- a profile window ------------------------------------------------------------ */

static uint64_t prt_http_now_ms(void) { return prt_clock_ns(CLOCK_MONOTONIC) / 1000000u; }

/* Sleeps until the window's end; true when the client hung up first. */
static bool prt_http_wait_window(struct MHD_Connection *c, uint32_t seconds) {
    const union MHD_ConnectionInfo *ci = prt_mhd.get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    uint64_t end = prt_http_now_ms() + (uint64_t)seconds * 1000u;
    struct pollfd p[2] = {{prt_http.stop_pipe[0], POLLIN, 0}, {ci ? ci->connect_fd : -1, POLLRDHUP, 0}};
    for (;;) {
        uint64_t now = prt_http_now_ms();
        if (now >= end) return false;
        int r = poll(p, 2, (int)(end - now));
        if (r < 0 && errno != EINTR) return false;
        if (r > 0 && p[0].revents) return false; /* shutdown: the client gets the window so far */
        if (r > 0 && (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR))) return true;
    }
}

/* 200 with Go's headers, and one of ours: the process CPU time the
 * window measured (its own clock, start to stop), which `profcore record
 * -p` compares the profile with; Go's clients ignore it. */
static enum MHD_Result prt_http_send_profile(struct MHD_Connection *c, pcprof_bytes *b, uint64_t cpu_ns) {
    struct MHD_Response *r = prt_mhd.create_response_from_buffer(b->len, b->data, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        pcprof_bytes_free(b);
        return MHD_NO;
    }
    char cpu[32];
    snprintf(cpu, sizeof cpu, "%llu", (unsigned long long)cpu_ns);
    prt_mhd.add_response_header(r, "X-Content-Type-Options", "nosniff");
    prt_mhd.add_response_header(r, "Content-Type", "application/octet-stream");
    prt_mhd.add_response_header(r, "Content-Disposition", "attachment; filename=\"profile\"");
    prt_mhd.add_response_header(r, PRT_HTTP_CPU_HEADER, cpu);
    enum MHD_Result q = prt_mhd.queue_response(c, 200, r);
    prt_mhd.destroy_response(r);
    return q;
}

static void prt_http_window_done(uint64_t id) {
    pthread_mutex_lock(&prt_http.mu);
    prt_http_window_end(&prt_http.st, id);
    pthread_mutex_unlock(&prt_http.mu);
}

static const char *prt_http_reason(const char *err) { return strncmp(err, "profcore: ", 10) == 0 ? err + 10 : err; }

static enum MHD_Result prt_http_serve_profile(struct MHD_Connection *c, uint32_t seconds) {
    bool program = prt_program_profiling(); /* before the leaf lock: it takes the API lock */
    uint64_t id = 0;
    pthread_mutex_lock(&prt_http.mu);
    prt_http_begin b = prt_http_window_begin(&prt_http.st, program, &id);
    pthread_mutex_unlock(&prt_http.mu);
    prt_http_route refused;
    if (b != PRT_HTTP_BEGIN_OK) {
        prt_http_refusal(b, &refused);
        return prt_http_send_error(c, refused.status, refused.message);
    }
    char err[400], msg[512];
    int rc = prt_window_start(&prt_http.window, err, sizeof err);
    if (rc != PCP_OK) {
        prt_http_window_done(id);
        if (rc == PCP_E_RUNNING) return prt_http_send_error(c, 500, PRT_HTTP_MSG_IN_USE); /* the program won the race */
        snprintf(msg, sizeof msg, "Could not enable CPU profiling: %s", prt_http_reason(err));
        return prt_http_send_error(c, 500, msg);
    }
    bool gone = prt_http_wait_window(c, seconds);
    pcprof_bytes bytes;
    uint64_t cpu_ns = 0;
    rc = prt_window_stop(&bytes, &cpu_ns, err, sizeof err);
    prt_http_window_done(id);
    if (gone) { /* no one to send it to: close the connection */
        pcprof_bytes_free(&bytes);
        return MHD_NO;
    }
    if (rc != PCP_OK) {
        snprintf(msg, sizeof msg, "profcore: the profile could not be encoded: %s", prt_http_reason(err));
        return prt_http_send_error(c, 500, msg);
    }
    return prt_http_send_profile(c, &bytes, cpu_ns);
}

/* The daemon's threads are the runtime's own (own_sigmask.c): the preload
 * library must neither register them nor open SIGPROF in them.  Its
 * listener is created here, inside an own-mask stretch; it creates the
 * connection threads, so it is marked for good by the first connection
 * notice, which libmicrohttpd gives on the listener before it creates that
 * connection's thread; each connection thread marks itself in the handler. */
static __thread bool prt_http_tls_own PRT_IE;
static void prt_http_mark_own_thread(void) {
    if (prt_http_tls_own) return;
    prt_own_mask_enter(); /* never left: the thread is ours until it ends */
    prt_http_tls_own = true;
}

static void prt_http_connection_notice(void *cls, struct MHD_Connection *c, void **sock,
                                       enum MHD_ConnectionNotificationCode code) {
    (void)cls;
    (void)c;
    (void)sock;
    (void)code;
    prt_http_mark_own_thread();
}

/* ---- the daemon's callbacks ------------------------------------------------------- */

static int prt_http_request_marker;

static enum MHD_Result prt_http_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                       const char *version, const char *upload_data, size_t *upload_size,
                                       void **req) {
    (void)cls;
    (void)version;
    (void)upload_data;
    if (*req == NULL) { /* the headers are in; a body, if any, comes next */
        prt_http_mark_own_thread();
        *req = &prt_http_request_marker;
        pthread_mutex_lock(&prt_http.mu);
        prt_http_request_enter(&prt_http.st);
        pthread_mutex_unlock(&prt_http.mu);
        return MHD_YES;
    }
    if (*upload_size != 0) { /* a body is never ours to read: drop it */
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&prt_http.mu);
    bool stopping = prt_http.st.phase == PRT_HTTP_STOPPING;
    pthread_mutex_unlock(&prt_http.mu);
    if (stopping) return prt_http_send_error(c, 503, PRT_HTTP_MSG_STOPPING);
    prt_http_route r;
    const char *seconds = prt_mhd.lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "seconds");
    prt_http_route_request(method, url, seconds, PRT_HTTP_MAX_SECONDS, &r);
    switch (r.kind) {
    case PRT_HTTP_INDEX: return prt_http_send_index(c);
    case PRT_HTTP_CMDLINE: return prt_http_send_cmdline(c);
    case PRT_HTTP_PROFILE: return prt_http_serve_profile(c, r.seconds);
    case PRT_HTTP_REDIRECT: {
        static const char moved[] = "<a href=\"/debug/pprof/\">Moved Permanently</a>.\n\n";
        return prt_http_send(c, 301, "text/html; charset=utf-8", (void *)moved, sizeof moved - 1,
                             MHD_RESPMEM_PERSISTENT);
    }
    case PRT_HTTP_ERROR: break;
    }
    return prt_http_send_error(c, r.status, r.message);
}

static void prt_http_completed(void *cls, struct MHD_Connection *c, void **req, enum MHD_RequestTerminationCode t) {
    (void)cls;
    (void)c;
    (void)t;
    if (*req == NULL) return;
    *req = NULL;
    pthread_mutex_lock(&prt_http.mu);
    prt_http_request_leave(&prt_http.st);
    pthread_cond_broadcast(&prt_http.idle);
    pthread_mutex_unlock(&prt_http.mu);
}

/* ---- start and stop ------------------------------------------------------------------ */

static void prt_http_fork_prepare(void) { pthread_mutex_lock(&prt_http.mu); }
static void prt_http_fork_parent(void) { pthread_mutex_unlock(&prt_http.mu); }
/* The child has none of the daemon's threads: it does not serve.  It
 * closes its copies of the sockets, so the port or path is free once the
 * parent stops, and never touches the daemon or the advertisement. */
static void prt_http_fork_child(void) {
    pthread_mutex_init(&prt_http.mu, NULL);
    pthread_cond_init(&prt_http.idle, NULL);
    if (prt_http.serving) {
        close(prt_http.listen_fd);
        close(prt_http.stop_pipe[0]);
        close(prt_http.stop_pipe[1]);
    }
    prt_http.serving = false;
    prt_http.daemon = NULL;
    prt_http.listen_fd = prt_http.stop_pipe[0] = prt_http.stop_pipe[1] = -1;
    prt_http_state_init(&prt_http.st);
}

static void prt_http_at_exit(void) { pcp_http_stop(); }

static void prt_http_once(void) {
    pthread_atfork(prt_http_fork_prepare, prt_http_fork_parent, prt_http_fork_child);
    atexit(prt_http_at_exit); /* a window in flight at exit still gets its profile */
}
static pthread_once_t prt_http_once_flag = PTHREAD_ONCE_INIT;

static void prt_http_copy_window(const pcp_options *w) {
    pcp_options d = PCP_OPTIONS_INIT;
    prt_http.window = w != NULL ? *w : d;
    snprintf(prt_http.engine, sizeof prt_http.engine, "%s", prt_http.window.engine ? prt_http.window.engine : "ctimer");
    snprintf(prt_http.unwind, sizeof prt_http.unwind, "%s", prt_http.window.unwind ? prt_http.window.unwind : "auto");
    prt_http.window.engine = prt_http.engine;
    prt_http.window.unwind = prt_http.unwind;
    prt_http.window.output_path = NULL;
    prt_http.window.format = "pprof";
    prt_http.window.period_ms = 0;
}

/* The daemon, its threads born with every signal blocked. */
static struct MHD_Daemon *prt_http_daemon(int fd) {
    sigset_t all, old;
    sigfillset(&all);
    prt_own_mask_enter();
    prt_sigmask_own(SIG_SETMASK, &all, &old);
    struct MHD_Daemon *d = prt_mhd.start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC, 0, NULL,
        NULL, prt_http_access, NULL, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)PRT_HTTP_CONNECTIONS, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)PRT_HTTP_HEADER_BYTES,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)PRT_HTTP_IDLE_SECONDS, MHD_OPTION_NOTIFY_COMPLETED,
        prt_http_completed, NULL, MHD_OPTION_NOTIFY_CONNECTION, prt_http_connection_notice, NULL, MHD_OPTION_END);
    prt_sigmask_own(SIG_SETMASK, &old, NULL);
    prt_own_mask_leave();
    return d;
}

static int prt_http_start_locked(const char *address, const pcp_options *window, char *err, size_t errlen) {
    if (prt_http.serving) {
        prt_set_error(err, errlen, "profcore: the pprof endpoint is already serving on %s", prt_http.address);
        return PCP_E_RUNNING;
    }
    pcprof_endpoint ep;
    if (pcprof_endpoint_parse(address, &ep) != 0) {
        prt_set_error(err, errlen, "profcore: pprof endpoint '%s': expected %s", address ? address : "(null)",
                      PCPROF_ACCEPT_ENDPOINT);
        return PCP_E_INVAL;
    }
    int rc = window != NULL ? prt_validate(window, err, errlen) : PCP_OK;
    if (rc == PCP_OK) rc = prt_mhd_load(err, errlen);
    if (rc != PCP_OK) return rc;
    if (pipe2(prt_http.stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        prt_set_error(err, errlen, "profcore: pipe: %s", strerror(errno));
        return PCP_E_SYSTEM;
    }
    int fd = prt_http_listen(&ep, err, errlen);
    struct MHD_Daemon *d = fd >= 0 ? prt_http_daemon(fd) : NULL;
    if (d == NULL) {
        if (fd >= 0) {
            prt_set_error(err, errlen, "profcore: libmicrohttpd could not start its daemon");
            close(fd);
            if (ep.kind == PCPROF_ENDPOINT_UNIX) unlink(ep.path);
        }
        close(prt_http.stop_pipe[0]);
        close(prt_http.stop_pipe[1]);
        prt_http.stop_pipe[0] = prt_http.stop_pipe[1] = -1;
        return PCP_E_SYSTEM;
    }
    prt_http_copy_window(window);
    prt_http_state_init(&prt_http.st);
    prt_http.ep = ep;
    pcprof_endpoint_format(&ep, prt_http.address, sizeof prt_http.address);
    prt_http.daemon = d;
    prt_http.listen_fd = fd;
    prt_http.owner = getpid();
    prt_http.serving = true;
    char why[256] = "";
    prt_http_advertise(why, sizeof why); /* serving without it is still serving: said in err */
    if (why[0] != '\0') prt_set_error(err, errlen, "%s", why);
    return PCP_OK;
}

PCP_EXPORT int pcp_http_start(const char *address, const pcp_options *window, char *err, size_t errlen) {
    if (err != NULL && errlen > 0) err[0] = '\0';
    pthread_once(&prt_http_once_flag, prt_http_once);
    pthread_mutex_lock(&prt_http.mu);
    int rc = prt_http_start_locked(address, window, err, errlen);
    pthread_mutex_unlock(&prt_http.mu);
    return rc;
}

/* Waits (bounded) until no request is in the handler or sending. */
static void prt_http_drain_locked(void) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += PRT_HTTP_DRAIN_MS / 1000;
    while (prt_http.st.requests > 0)
        if (pthread_cond_timedwait(&prt_http.idle, &prt_http.mu, &until) == ETIMEDOUT) break;
}

PCP_EXPORT int pcp_http_stop(void) {
    pthread_mutex_lock(&prt_http.mu);
    if (!prt_http.serving || prt_http.owner != getpid() || prt_http.st.phase == PRT_HTTP_STOPPING) {
        pthread_mutex_unlock(&prt_http.mu);
        return PCP_E_NOT_RUNNING;
    }
    prt_http_shutdown_begin(&prt_http.st);
    ssize_t w = write(prt_http.stop_pipe[1], "x", 1); /* never read: stays readable for every window */
    (void)w;
    prt_http_drain_locked();
    struct MHD_Daemon *d = prt_http.daemon;
    pthread_mutex_unlock(&prt_http.mu);
    prt_mhd.stop_daemon(d); /* joins its threads (the leaf lock is free for them); closes listen_fd */
    pthread_mutex_lock(&prt_http.mu);
    if (prt_http.advert[0] != '\0') unlink(prt_http.advert);
    if (prt_http.ep.kind == PCPROF_ENDPOINT_UNIX) unlink(prt_http.ep.path);
    close(prt_http.stop_pipe[0]);
    close(prt_http.stop_pipe[1]);
    prt_http.stop_pipe[0] = prt_http.stop_pipe[1] = prt_http.listen_fd = -1;
    prt_http.daemon = NULL;
    prt_http.advert[0] = '\0';
    prt_http.serving = false;
    pthread_mutex_unlock(&prt_http.mu);
    return PCP_OK;
}

PCP_EXPORT int pcp_http_address(char *buf, size_t len) {
    pthread_mutex_lock(&prt_http.mu);
    int rc = PCP_E_NOT_RUNNING;
    if (prt_http.serving && prt_http.owner == getpid() && buf != NULL && len > 0) {
        snprintf(buf, len, "%s", prt_http.address);
        rc = PCP_OK;
    }
    pthread_mutex_unlock(&prt_http.mu);
    return rc;
}
