/* rotate.c — rotation (pcp_options.period_ms, PROFCORE_PERIOD): a complete
 * profile every period, written while sampling goes on, so a process killed
 * by SIGKILL or the OOM killer loses at most the period under way.
 *
 * Files.  Period k goes to OUT.<k> (k = 0, 1, ...), the number before a
 * ".pb.gz" ending (prof.pb.gz -> prof.0.pb.gz).  A session starts its
 * numbering after the highest OUT.<k> already in the directory, so an
 * image exec'd by the process (whose flush before exec wrote OUT.<k>), a
 * second session of the process or a restarted program never overwrites
 * a file a shipping agent may not have taken yet.  Each is written atomically
 * (temporary file, rename) with its own start time, duration, measured CPU
 * and core counters (the difference of the marks that bound it).  A period
 * ends at each deadline start + n x period (a late cut does not shift the
 * later ones; one that comes a whole period late covers both), at
 * pcp_flush (ProfilerFlush), and at pcp_stop, which writes the last,
 * shorter period.  OUT itself is not written.
 *
 * The cut (prt_cut, writer.c) is the only step under the reader lock: the
 * core's tables harvested, the aggregate moved out, the mark taken.  The
 * rotator thread then encodes and writes the period from its private
 * aggregate while the writer thread keeps draining the core into the next
 * one, so the handlers never wait on a write and the core's log is drained
 * as usual (measured in tests/rotation/run.sh period: handoffs and losses
 * per period).  Conservation: every record the reader emits lands in
 * exactly one period (the core emits each once, I2), so the weights of all
 * the files sum to the session's offered weight minus its rejected.
 *
 * A write that fails (disk full, directory gone) loses nothing: the
 * period's aggregate is merged back and goes into the next file, whose
 * start is then the failed period's; the reason is said on stderr.
 *
 * Threads and locks.  The rotator blocks every signal and is never sampled
 * (prt_threads_skip).  prt_period_mu serializes the cuts and period writes
 * of the rotator, pcp_flush and pcp_stop (api -> period -> reader ->
 * label).  It is stopped (woken by its eventfd, joined) before the final
 * drain, so the last period holds everything after the last cut.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

pthread_mutex_t prt_period_mu = PTHREAD_MUTEX_INITIALIZER;

int prt_period_path(const char *out, uint32_t seq, char *path, size_t size) {
    static const char gz[] = ".pb.gz";
    size_t n = strlen(out), g = sizeof gz - 1;
    int w;
    if (n > g && strcmp(out + n - g, gz) == 0) w = snprintf(path, size, "%.*s.%u%s", (int)(n - g), out, seq, gz);
    else w = snprintf(path, size, "%s.%u", out, seq);
    return w < 0 || (size_t)w >= size ? -1 : 0;
}

/* "<prefix>.<digits><suffix>" -> digits + 1, else 0. */
static uint32_t prt_period_after(const char *name, const char *prefix, size_t plen, const char *suffix) {
    if (strncmp(name, prefix, plen) != 0 || name[plen] != '.') return 0;
    const char *d = name + plen + 1;
    size_t nd = strspn(d, "0123456789");
    if (nd == 0 || nd > 9 || strcmp(d + nd, suffix) != 0) return 0;
    return (uint32_t)strtoul(d, NULL, 10) + 1u;
}

/* The first sequence number after every OUT.<n> of `out`'s directory (0
 * when there is none or the directory cannot be read: the write will say
 * why then). */
static uint32_t prt_period_next_free(const char *out) {
    static const char gz[] = ".pb.gz";
    char dir[PATH_MAX], prefix[PATH_MAX];
    const char *slash = strrchr(out, '/');
    const char *base = slash != NULL ? slash + 1 : out;
    if (slash == NULL) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == out ? 1 : (int)(slash - out), out);
    size_t blen = strlen(base), g = sizeof gz - 1;
    const char *suffix = blen > g && strcmp(base + blen - g, gz) == 0 ? gz : "";
    size_t plen = blen - strlen(suffix);
    snprintf(prefix, sizeof prefix, "%.*s", (int)plen, base);
    DIR *d = opendir(dir);
    if (d == NULL) return 0;
    uint32_t next = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        uint32_t after = prt_period_after(e->d_name, prefix, plen, suffix);
        if (after > next) next = after;
    }
    closedir(d);
    return next;
}

void prt_period_begin(uint64_t period_ns) {
    prt_period *p = &prt_g_session.result.period;
    memset(p, 0, sizeof *p);
    p->period_ns = period_ns;
    if (period_ns == 0) return;
    const char *out = prt_g_session.result.output_path;
    p->seq = out != NULL ? prt_period_next_free(out) : 0;
    /* The session's own clocks: its first period starts with it; the
     * counters start at 0 with the fresh core. */
    p->start.mono_ns = prt_g_session.live.start_mono_ns;
    p->start.cpu_ns = prt_g_session.live.start_cpu_ns;
    p->start.unix_ns = prt_g_session.result.start_unix_ns;
}

/* One line on stderr: the rotator runs on its own, nobody else can say it. */
static void prt_period_say(const char *what, const char *err) {
    char line[768];
    int n = snprintf(line, sizeof line, "profcore: %s: %s\n", what, strncmp(err, "profcore: ", 10) == 0 ? err + 10 : err);
    if (n > 0) {
        ssize_t w = write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
}

/* Writes period `seq` from `a` between the period's start and `end`. */
static int prt_period_write(const prt_agg *a, const prt_mark *end, char *err, size_t errlen) {
    const prt_result *r = &prt_g_session.result;
    char path[PATH_MAX + 32];
    if (prt_period_path(r->output_path, r->period.seq, path, sizeof path) != 0) {
        prt_set_error(err, errlen, "profcore: the period's file name is too long");
        return PCP_E_PATH;
    }
    return prt_write_period(a, &r->period.start, end, path, r->format, err, errlen);
}

/* The cut and the write of the period that ends now (running session,
 * prt_period_mu held). */
static int prt_period_rotate_locked(char *err, size_t errlen) {
    prt_period *p = &prt_g_session.result.period;
    prt_agg a;
    prt_mark end;
    prt_cut(&a, &end);
    int rc = prt_period_write(&a, &end, err, errlen);
    if (rc == PCP_OK) {
        p->seq++;
        p->start = end;
    } else { /* kept: into the next file, which starts where this one did */
        pthread_mutex_lock(&prt_reader_mu);
        prt_agg_merge(&prt_g_session.agg, &a);
        pthread_mutex_unlock(&prt_reader_mu);
    }
    prt_agg_free(&a);
    return rc;
}

static void *prt_rotator_main(void *arg) {
    (void)arg;
    prt_threads_skip(prt_gettid());
    prt_helper *h = &prt_g_session.live.rotator;
    prt_helper_running(h);
    /* Fixed while the session runs (set before the rotator starts). */
    const uint64_t period = prt_g_session.result.period.period_ns;
    uint64_t deadline = prt_g_session.live.start_mono_ns + period;
    struct pollfd pfd = {prt_g_session.live.rotator_fd, POLLIN, 0};
    while (!prt_helper_stopping(h)) {
        uint64_t now = prt_clock_ns(CLOCK_MONOTONIC);
        if (now < deadline) {
            poll(&pfd, 1, (int)((deadline - now + 999999u) / 1000000u)); /* the eventfd: stop */
            continue; /* early (EINTR, ms rounding) or asked to stop: look again */
        }
        char err[512];
        pthread_mutex_lock(&prt_period_mu);
        if (prt_period_rotate_locked(err, sizeof err) != PCP_OK)
            prt_period_say("PROFCORE_PERIOD: the period is kept for the next file", err);
        pthread_mutex_unlock(&prt_period_mu);
        now = prt_clock_ns(CLOCK_MONOTONIC);
        while (deadline <= now) deadline += period; /* a cut a whole period late covers both */
    }
    return NULL;
}

int prt_rotator_start(char *err, size_t errlen) {
    prt_live *l = &prt_g_session.live;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
        prt_set_error(err, errlen, "profcore: eventfd: %s", strerror(errno));
        return PCP_E_SYSTEM;
    }
    l->rotator_fd = fd;
    sigset_t all;
    sigfillset(&all); /* never sampled, no signal of the program lands on it */
    return prt_helper_start(&l->rotator, prt_rotator_main, &all, "rotation", err, errlen);
}

void prt_rotator_stop(void) {
    prt_live *l = &prt_g_session.live;
    if (l->rotator.tid != 0) {
        prt_helper_ask_stop(&l->rotator);
        uint64_t one = 1; /* wakes its poll */
        ssize_t w = write(l->rotator_fd, &one, sizeof one);
        (void)w;
        prt_helper_join(&l->rotator);
    }
    if (l->rotator_fd > 0) close(l->rotator_fd);
    l->rotator_fd = 0;
}

int prt_period_cut_now(char *err, size_t errlen) {
    pthread_mutex_lock(&prt_period_mu);
    int rc = prt_period_rotate_locked(err, errlen);
    pthread_mutex_unlock(&prt_period_mu);
    return rc;
}

int prt_period_write_last(char *err, size_t errlen) {
    pthread_mutex_lock(&prt_period_mu);
    prt_mark end;
    prt_mark_now(&end); /* not running: the final counters */
    pthread_mutex_lock(&prt_reader_mu);
    int rc = prt_period_write(&prt_g_session.agg, &end, err, errlen);
    pthread_mutex_unlock(&prt_reader_mu);
    if (rc == PCP_OK) {
        prt_g_session.result.period.seq++;
        prt_g_session.result.period.start = end;
    }
    pthread_mutex_unlock(&prt_period_mu);
    return rc;
}
