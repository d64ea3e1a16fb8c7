/* runtime.c — start/stop/flush, the writer thread, aggregation, labels,
 * statistics: everything of the profiler that runs outside signal handlers.
 *
 * Locks (never taken in a handler):
 *   pcp_api_mu     serializes the public calls that change the session;
 *   pcp_reader_mu  the core's single reader (writer thread, flush, write)
 *                  and the aggregate it fills;
 *   pcp_label_mu   the label table.
 * Order: api -> reader -> label; the registry's own mutex (threads.c) is
 * taken alone or after api.
 *
 * Session teardown order (pcp_session_end) is what keeps the handler safe:
 * timers off, writer joined, core stopped and finally drained, core
 * unpublished, wait for handlers in flight to leave, only then read the
 * final counters and unmap the core's memory.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "profile.h"
#include "unwind_tables.h"

enum { PCP_FORMAT_PPROF = 1, PCP_FORMAT_LEGACY = 2, PCP_FORMAT_COLLAPSED = 3 };

void pcp_set_error(char *err, size_t errlen, const char *fmt, ...) {
    if (err == NULL || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static uint64_t pcp_clock_ns(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pcp_sleep_us(long us) {
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
}

/* ---- aggregation: one entry per distinct (tag, frames), weights summed -- */

typedef struct pcp_agg_entry {
    uint64_t weight, tag, hash;
    uint32_t depth;
    size_t frames_at; /* index into frames */
} pcp_agg_entry;

typedef struct pcp_agg {
    pcp_agg_entry *entries;
    size_t n, cap;
    uint32_t *slots; /* entry index + 1, 0 empty; power-of-two size */
    size_t nslots;
    uint64_t *frames;
    size_t nframes, frames_cap;
    uint64_t total_weight;
    uint64_t dropped_weight; /* records lost to allocation failure */
} pcp_agg;

static uint64_t pcp_agg_hash(uint64_t tag, const uint64_t *f, uint32_t depth) {
    uint64_t h = 0xcbf29ce484222325ull ^ tag;
    h *= 0x100000001b3ull;
    for (uint32_t i = 0; i < depth; i++) {
        h ^= f[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h ^ depth;
}

static void pcp_agg_free(pcp_agg *a) {
    free(a->entries);
    free(a->slots);
    free(a->frames);
    memset(a, 0, sizeof *a);
}

static int pcp_agg_grow_slots(pcp_agg *a) {
    size_t ns = a->nslots ? a->nslots * 2 : 1024;
    uint32_t *s = calloc(ns, sizeof *s);
    if (s == NULL) return -1;
    for (size_t i = 0; i < a->n; i++) {
        size_t j = (size_t)a->entries[i].hash & (ns - 1);
        while (s[j] != 0) j = (j + 1) & (ns - 1);
        s[j] = (uint32_t)(i + 1);
    }
    free(a->slots);
    a->slots = s;
    a->nslots = ns;
    return 0;
}

static bool pcp_agg_same(const pcp_agg *a, const pcp_agg_entry *e, uint64_t hash, uint64_t tag,
                         const uint64_t *f, uint32_t depth) {
    return e->hash == hash && e->tag == tag && e->depth == depth &&
           memcmp(a->frames + e->frames_at, f, depth * sizeof *f) == 0;
}

static int pcp_agg_add(pcp_agg *a, uint64_t tag, const uint64_t *f, uint32_t depth,
                       uint64_t weight) {
    if ((a->n + 1) * 2 > a->nslots && pcp_agg_grow_slots(a) != 0) return -1;
    uint64_t hash = pcp_agg_hash(tag, f, depth);
    size_t j = (size_t)hash & (a->nslots - 1);
    for (; a->slots[j] != 0; j = (j + 1) & (a->nslots - 1)) {
        pcp_agg_entry *e = &a->entries[a->slots[j] - 1];
        if (pcp_agg_same(a, e, hash, tag, f, depth)) {
            e->weight += weight;
            a->total_weight += weight;
            return 0;
        }
    }
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 256;
        pcp_agg_entry *ne = realloc(a->entries, nc * sizeof *ne);
        if (ne == NULL) return -1;
        a->entries = ne;
        a->cap = nc;
    }
    if (a->nframes + depth > a->frames_cap) {
        size_t nc = a->frames_cap ? a->frames_cap * 2 : 4096;
        while (nc < a->nframes + depth) nc *= 2;
        uint64_t *nf = realloc(a->frames, nc * sizeof *nf);
        if (nf == NULL) return -1;
        a->frames = nf;
        a->frames_cap = nc;
    }
    memcpy(a->frames + a->nframes, f, depth * sizeof *f);
    pcp_agg_entry *e = &a->entries[a->n];
    e->weight = weight;
    e->tag = tag;
    e->hash = hash;
    e->depth = depth;
    e->frames_at = a->nframes;
    a->nframes += depth;
    a->slots[j] = (uint32_t)(++a->n);
    a->total_weight += weight;
    return 0;
}

static void pcp_agg_emit(void *ctx, const profcore_record *rec) {
    pcp_agg *a = (pcp_agg *)ctx;
    if (pcp_agg_add(a, rec->tag, rec->frames, rec->depth, rec->weight) != 0)
        a->dropped_weight += rec->weight;
}

/* ---- labels ---------------------------------------------------------------- */

static pthread_mutex_t pcp_label_mu = PTHREAD_MUTEX_INITIALIZER;
static char **pcp_labels; /* [0] unused; strings live until exit */
static size_t pcp_nlabels = 1, pcp_labels_cap;

PCP_EXPORT int pcp_set_label(const char *label) {
    if (label == NULL) {
        pcp_tls_label = 0;
        return PCP_OK;
    }
    pthread_mutex_lock(&pcp_label_mu);
    size_t i;
    for (i = 1; i < pcp_nlabels; i++)
        if (strcmp(pcp_labels[i], label) == 0) break;
    int rc = PCP_OK;
    if (i == pcp_nlabels) {
        if (pcp_nlabels > 0xffff) rc = PCP_E_INVAL;
        if (rc == PCP_OK && pcp_nlabels >= pcp_labels_cap) {
            size_t nc = pcp_labels_cap ? pcp_labels_cap * 2 : 16;
            char **nl = realloc(pcp_labels, nc * sizeof *nl);
            if (nl == NULL) rc = PCP_E_SYSTEM;
            else {
                pcp_labels = nl;
                pcp_labels[0] = NULL;
                pcp_labels_cap = nc;
            }
        }
        char *copy = rc == PCP_OK ? strdup(label) : NULL;
        if (rc == PCP_OK && copy == NULL) rc = PCP_E_SYSTEM;
        if (rc == PCP_OK) pcp_labels[pcp_nlabels++] = copy;
    }
    pthread_mutex_unlock(&pcp_label_mu);
    if (rc == PCP_OK) pcp_tls_label = (uint32_t)i;
    return rc;
}

/* A copy of the label pointer array (the strings are never freed). */
static const char **pcp_labels_snapshot(size_t *n) {
    pthread_mutex_lock(&pcp_label_mu);
    const char **copy = calloc(pcp_nlabels, sizeof *copy);
    size_t count = copy ? pcp_nlabels : 0;
    for (size_t i = 1; i < count; i++) copy[i] = pcp_labels[i];
    pthread_mutex_unlock(&pcp_label_mu);
    *n = count;
    return copy;
}

/* ---- the session ---------------------------------------------------------------- */

static pthread_mutex_t pcp_api_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t pcp_reader_mu = PTHREAD_MUTEX_INITIALIZER;

static struct {
    bool running;
    bool have_profile;
    char *output_path;
    int format;
    const char *engine_name;
    int hz;
    void *mem;
    size_t mem_size;
    pthread_t writer;
    int writer_stop; /* atomic */
    pid_t writer_tid; /* atomic: set by the writer when it starts */
    pthread_t ticker; /* the wall-clock engine's timer thread */
    int ticker_stop;  /* atomic */
    pid_t ticker_tid; /* atomic: set by the ticker when it starts */
    long writer_delay_us; /* test knob PCP_TEST_WRITER_DELAY_MS: a slow writer */
    int64_t start_unix_ns;
    uint64_t start_mono_ns, start_cpu_ns;
    /* Final values, once stopped. */
    int64_t duration_ns;
    uint64_t cpu_measured_ns;
    profcore_stats core;
    pcp_counters counters;
    uint64_t threads_registered, threads_discovered, timers_created, timers_deleted;
} pcp_s;

static pcp_agg pcp_g_agg; /* under pcp_reader_mu */
static int pcp_generation;

static int pcp_parse_engine(const char *s) {
    if (s == NULL || strcmp(s, "ctimer") == 0) return PCP_ENGINE_CTIMER;
    if (strcmp(s, "itimer") == 0) return PCP_ENGINE_ITIMER;
    if (strcmp(s, "perf") == 0) return PCP_ENGINE_PERF;
    if (strcmp(s, "wall") == 0) return PCP_ENGINE_WALL;
    return 0;
}

static const char *pcp_engine_name(int e) {
    return e == PCP_ENGINE_ITIMER ? "itimer" : e == PCP_ENGINE_PERF ? "perf" : e == PCP_ENGINE_WALL ? "wall" : "ctimer";
}

static int pcp_parse_format(const char *s) {
    if (s == NULL || strcmp(s, "pprof") == 0) return PCP_FORMAT_PPROF;
    if (strcmp(s, "legacy") == 0) return PCP_FORMAT_LEGACY;
    if (strcmp(s, "collapsed") == 0) return PCP_FORMAT_COLLAPSED;
    return 0;
}

/* Can we create a file next to `path` (where the atomic writer puts its
 * temporary file) and is `path` itself not a directory? */
static int pcp_check_path(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (path[0] == '\0') {
        pcp_set_error(err, errlen, "profcore: empty output path");
        return -1;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        pcp_set_error(err, errlen, "profcore: output path '%s' is a directory", path);
        return -1;
    }
    size_t len = strlen(path);
    char *probe = malloc(len + 64);
    if (probe == NULL) return -1;
    snprintf(probe, len + 64, "%s.pcp-probe-%d", path, (int)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int e = errno;
    if (fd >= 0) {
        close(fd);
        unlink(probe);
    }
    free(probe);
    if (fd < 0) {
        pcp_set_error(err, errlen, "profcore: output path '%s' is not writable: %s", path,
                      strerror(e));
        return -1;
    }
    return 0;
}

static int pcp_validate(const pcp_options *o, char *err, size_t errlen) {
    if (o == NULL) {
        pcp_set_error(err, errlen, "profcore: no options");
        return PCP_E_INVAL;
    }
    if (pcp_parse_engine(o->engine) == 0) {
        pcp_set_error(err, errlen, "profcore: unknown engine '%s' (expected ctimer, itimer, perf or wall)", o->engine);
        return PCP_E_ENGINE;
    }
    if (o->hz < 1 || o->hz > PCP_MAX_HZ) {
        pcp_set_error(err, errlen, "profcore: frequency %d Hz out of range 1..%d", o->hz, PCP_MAX_HZ);
        return PCP_E_INVAL;
    }
    /* The perf engine takes one high-resolution timer interrupt per sample,
     * about 30 us of CPU each on the VMs we measured (DESIGN.md): at 50 kHz
     * a thread spent all its time in signals and never progressed
     * (bench/RESULTS.md).  The tick-driven engines have no such cost: the
     * kernel coalesces their expiries into overruns. */
    if (pcp_parse_engine(o->engine) == PCP_ENGINE_PERF && o->hz > PCP_MAX_HZ_PERF) {
        pcp_set_error(err, errlen,
                      "profcore: the perf engine is limited to %d Hz (one timer interrupt per sample, "
                      "~30 us each here); use ctimer for higher nominal rates",
                      PCP_MAX_HZ_PERF);
        return PCP_E_INVAL;
    }
    if (pcp_parse_format(o->format) == 0) {
        pcp_set_error(err, errlen, "profcore: unknown format '%s' (expected pprof, legacy or collapsed)", o->format);
        return PCP_E_FORMAT;
    }
    if (o->max_depth < 2 || o->max_depth > PCP_MAX_DEPTH) {
        pcp_set_error(err, errlen, "profcore: max_depth %d out of range 2..%d", o->max_depth, PCP_MAX_DEPTH);
        return PCP_E_INVAL;
    }
    if (o->shards < 0 || o->shards > 256 || (o->shards & (o->shards - 1)) != 0) {
        pcp_set_error(err, errlen, "profcore: shards %d is not 0 or a power of two up to 256", o->shards);
        return PCP_E_INVAL;
    }
    if (pcp_unwind_parse_mode(o->unwind) == 0) {
        pcp_set_error(err, errlen, "profcore: unknown unwinder '%s' (expected fp, tables or auto)", o->unwind);
        return PCP_E_INVAL;
    }
    if (o->output_path != NULL && pcp_check_path(o->output_path, err, errlen) != 0) return PCP_E_PATH;
    return PCP_OK;
}

/* The program's own SIGPROF handler is never replaced: only the default
 * action, "ignore", or our own handler (a previous session) may be there. */
static int pcp_install_handler(char *err, size_t errlen) {
    struct sigaction old, sa;
    if (sigaction(SIGPROF, NULL, &old) != 0) return PCP_E_SYSTEM;
    bool ours = (old.sa_flags & SA_SIGINFO) && old.sa_sigaction == pcp_handler_entry;
    bool free_slot = !(old.sa_flags & SA_SIGINFO) &&
                     (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN);
    if (!ours && !free_slot) {
        pcp_set_error(err, errlen, "profcore: the program already has a SIGPROF handler; "
                                   "not replacing it, not profiling");
        return PCP_E_SIGNAL;
    }
    if (ours) return PCP_OK;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = pcp_handler_entry;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPROF, &sa, NULL) != 0) return PCP_E_SYSTEM;
    return PCP_OK;
}

/* ---- fork ------------------------------------------------------------------------
 * A fork child has a copy of the session (the core's memory, the aggregate,
 * the registry, the "running" flag) but none of its threads (writer,
 * wall-clock ticker) and none of its timers (POSIX timers and itimers are
 * not inherited; perf fds are, but their signals go to the parent's
 * threads).  The atfork handlers make the child a process with no session:
 *   prepare  takes every runtime lock in the documented order (api ->
 *            reader -> label -> registry), so the child's copy of every
 *            structure they guard is consistent, and blocks SIGPROF on the
 *            forking thread;
 *   parent   restores the mask and releases the locks;
 *   child    re-initialises the locks (their owners do not exist there),
 *            forgets the session without stopping it (no join of a writer
 *            that is not there, no timer_delete of the parent's timer ids),
 *            unmaps the core, empties the registry.
 * After that pcp_stop in the child says "not running" and pcp_start starts
 * a fresh session of the child (the preload library does that with
 * PROFCORE_CHILDREN=1).  The handlers live in the runtime, not in the
 * preload library, so a program linked with libprofcore.a gets them too.
 * glibc's own fork handling (malloc, stdio) has run before the child
 * handler, so free() and close() are usable in it. */
static sigset_t pcp_fork_saved_mask; /* under pcp_api_mu from prepare to parent/child */

static void pcp_fork_prepare(void) {
    pthread_mutex_lock(&pcp_api_mu);
    pthread_mutex_lock(&pcp_reader_mu);
    pthread_mutex_lock(&pcp_label_mu);
    pcp_threads_fork_prepare();
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, &pcp_fork_saved_mask);
}

static void pcp_fork_parent(void) {
    pthread_sigmask(SIG_SETMASK, &pcp_fork_saved_mask, NULL);
    pcp_threads_fork_parent();
    pthread_mutex_unlock(&pcp_label_mu);
    pthread_mutex_unlock(&pcp_reader_mu);
    pthread_mutex_unlock(&pcp_api_mu);
}

/* The session of the parent, forgotten (see above).  Nothing here waits. */
static void pcp_fork_forget_session(void) {
    __atomic_store_n(&pcp_g_session.pc, NULL, __ATOMIC_SEQ_CST);
    __atomic_store_n(&pcp_g_inflight, 0u, __ATOMIC_SEQ_CST); /* its handlers ran on other threads */
    if (pcp_s.mem != NULL) munmap(pcp_s.mem, pcp_s.mem_size);
    pcp_s.mem = NULL;
    if (pcp_s.running && pcp_g_session.wake_fd >= 0) close(pcp_g_session.wake_fd);
    pcp_g_session.wake_fd = -1;
    pcp_g_session.engine = 0;
    pcp_s.writer_tid = 0;
    pcp_s.writer_stop = 0;
    pcp_s.ticker_tid = 0;
    pcp_s.ticker_stop = 0;
    pcp_s.running = false;
    pcp_s.have_profile = false; /* the parent's samples are not the child's profile */
    free(pcp_s.output_path);
    pcp_s.output_path = NULL;
    pcp_agg_free(&pcp_g_agg);
    memset(&pcp_g_counters, 0, sizeof pcp_g_counters);
}

static void pcp_fork_child(void) {
    pthread_mutex_init(&pcp_api_mu, NULL);
    pthread_mutex_init(&pcp_reader_mu, NULL);
    pthread_mutex_init(&pcp_label_mu, NULL);
    pcp_fork_forget_session();
    pcp_threads_fork_child();
    pcp_snapshot_fork_child();
    pthread_sigmask(SIG_SETMASK, &pcp_fork_saved_mask, NULL);
}

static pthread_once_t pcp_atfork_once = PTHREAD_ONCE_INIT;
static void pcp_atfork_register(void) { pthread_atfork(pcp_fork_prepare, pcp_fork_parent, pcp_fork_child); }
/* Once per process, at the first start or registration (what creates state
 * a child must forget). */
void pcp_install_atfork(void) { pthread_once(&pcp_atfork_once, pcp_atfork_register); }

/* For thread snapshots without a running profile: our handler, unless the
 * program has its own (same refusal as pcp_start).  Serialized by the api
 * lock with pcp_start. */
int pcp_ensure_handler(char *err, size_t errlen) {
    pthread_mutex_lock(&pcp_api_mu);
    int rc = pcp_install_handler(err, errlen);
    pthread_mutex_unlock(&pcp_api_mu);
    return rc;
}

static void pcp_drain_locked(void) {
    profcore *pc = pcp_g_session.pc;
    if (pc != NULL) profcore_drain(pc, pcp_agg_emit, &pcp_g_agg);
}

static void *pcp_writer_main(void *arg) {
    (void)arg;
    __atomic_store_n(&pcp_s.writer_tid, pcp_gettid(), __ATOMIC_RELEASE);
    uint64_t last_scan = pcp_clock_ns(CLOCK_MONOTONIC);
    struct pollfd pfd = {pcp_g_session.wake_fd, POLLIN, 0};
    while (!__atomic_load_n(&pcp_s.writer_stop, __ATOMIC_ACQUIRE)) {
        poll(&pfd, 1, 100); /* a handoff wakes us; otherwise every 100 ms */
        uint64_t junk;
        ssize_t r = read(pcp_g_session.wake_fd, &junk, sizeof junk);
        (void)r;
        if (pcp_s.writer_delay_us > 0) pcp_sleep_us(pcp_s.writer_delay_us);
        pthread_mutex_lock(&pcp_reader_mu);
        pcp_drain_locked();
        pthread_mutex_unlock(&pcp_reader_mu);
        pcp_unwind_tables_refresh(); /* objects loaded or unloaded since */
        uint64_t now = pcp_clock_ns(CLOCK_MONOTONIC);
        if (now - last_scan >= 100000000u) { /* threads the program did not tell us about */
            pcp_threads_rescan();
            last_scan = now;
        }
    }
    return NULL;
}

static int pcp_start_writer(char *err, size_t errlen) {
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &block, &old); /* the writer inherits a blocked SIGPROF */
    __atomic_store_n(&pcp_s.writer_stop, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&pcp_s.writer_tid, 0, __ATOMIC_RELEASE);
    int r = pthread_create(&pcp_s.writer, NULL, pcp_writer_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        pcp_set_error(err, errlen, "profcore: cannot start the writer thread: %s", strerror(r));
        return PCP_E_SYSTEM;
    }
    while (__atomic_load_n(&pcp_s.writer_tid, __ATOMIC_ACQUIRE) == 0) pcp_sleep_us(100);
    return PCP_OK;
}

/* ---- the wall-clock engine's ticker ------------------------------------------
 * One thread, SIGPROF blocked (it is never sampled, and it is told to the
 * registry as a profiler thread), sleeping to absolute CLOCK_MONOTONIC
 * deadlines one period apart: a late wake-up does not shift later ticks.
 * Each wake-up sends every known thread, running or blocked, one tick
 * whose weight is 1 + the deadlines that passed unserved (deadline
 * arithmetic: missed ticks are counted, not lost), so a thread's weight
 * over a run is its wall time x hz whatever the ticker's scheduling. */
static struct timespec pcp_ns_ts(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    return ts;
}

/* Sleeps until `deadline`; returns the weight of the tick that is due:
 * 1 + the later deadlines already passed, and moves `deadline` past them. */
static uint32_t pcp_ticker_wait(uint64_t *deadline, uint64_t period) {
    struct timespec d = pcp_ns_ts(*deadline);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &d, NULL) == EINTR) {
    }
    uint64_t now = pcp_clock_ns(CLOCK_MONOTONIC);
    uint64_t missed = now > *deadline ? (now - *deadline) / period : 0;
    *deadline += (missed + 1) * period;
    return missed >= PCP_WALL_MAX_WEIGHT ? PCP_WALL_MAX_WEIGHT : (uint32_t)missed + 1u;
}

static void *pcp_ticker_main(void *arg) {
    (void)arg;
    pid_t self = pcp_gettid();
    pcp_threads_skip(self);
    __atomic_store_n(&pcp_s.ticker_tid, self, __ATOMIC_RELEASE);
    uint64_t period = pcp_g_session.period_ns;
    uint64_t deadline = pcp_clock_ns(CLOCK_MONOTONIC) + period;
    int token = pcp_g_session.token;
    for (;;) {
        uint32_t weight = pcp_ticker_wait(&deadline, period);
        if (__atomic_load_n(&pcp_s.ticker_stop, __ATOMIC_ACQUIRE)) break;
        pcp_threads_wall_tick(token, weight);
    }
    return NULL;
}

static int pcp_start_ticker(char *err, size_t errlen) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* no signal of the program lands on it */
    __atomic_store_n(&pcp_s.ticker_stop, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&pcp_s.ticker_tid, 0, __ATOMIC_RELEASE);
    int r = pthread_create(&pcp_s.ticker, NULL, pcp_ticker_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (r != 0) {
        pcp_set_error(err, errlen, "profcore: cannot start the wall-clock ticker thread: %s", strerror(r));
        return PCP_E_SYSTEM;
    }
    while (__atomic_load_n(&pcp_s.ticker_tid, __ATOMIC_ACQUIRE) == 0) pcp_sleep_us(100);
    return PCP_OK;
}

/* The ticker wakes at most one period after the flag is set. */
static void pcp_stop_ticker(void) {
    if (pcp_s.ticker_tid == 0) return;
    __atomic_store_n(&pcp_s.ticker_stop, 1, __ATOMIC_RELEASE);
    pthread_join(pcp_s.ticker, NULL);
    pcp_s.ticker_tid = 0;
}

static uint32_t pcp_default_shards(void) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t s = 4;
    while (s < 256 && (long)s < 2 * ncpu) s *= 2;
    return s;
}

static int pcp_core_create(const pcp_options *o, char *err, size_t errlen) {
    profcore_config cfg = PROFCORE_CONFIG_DEFAULT;
    cfg.shards = o->shards > 0 ? (uint32_t)o->shards : pcp_default_shards();
    cfg.max_depth = (uint32_t)o->max_depth;
    /* Keep the table near the default size whatever the depth. */
    cfg.buckets = o->max_depth > 128 ? 64u : o->max_depth > 64 ? 128u : 256u;
    size_t size = profcore_size(&cfg);
    void *mem = size ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                     : MAP_FAILED;
    if (mem == MAP_FAILED) {
        pcp_set_error(err, errlen, "profcore: cannot map %zu bytes for the core", size);
        return PCP_E_SYSTEM;
    }
    profcore *pc;
    int r = profcore_init(mem, size, &cfg, &pc);
    if (r != PROFCORE_OK) {
        munmap(mem, size);
        pcp_set_error(err, errlen, "profcore: core init failed (%d)", r);
        return PCP_E_SYSTEM;
    }
    pcp_s.mem = mem;
    pcp_s.mem_size = size;
    pcp_g_session.pc = pc; /* published later, by pcp_publish */
    return PCP_OK;
}

static int pcp_arm_itimer(uint64_t period_ns) {
    struct itimerval it;
    it.it_interval.tv_sec = (time_t)(period_ns / 1000000000u);
    it.it_interval.tv_usec = (suseconds_t)((period_ns % 1000000000u) / 1000u);
    if (it.it_interval.tv_sec == 0 && it.it_interval.tv_usec == 0) it.it_interval.tv_usec = 1;
    it.it_value = it.it_interval;
    return setitimer(ITIMER_PROF, &it, NULL);
}

static void pcp_disarm_itimer(void) {
    struct itimerval it;
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_PROF, &it, NULL);
}

/* Ends the running session: see the order in the file comment.  Leaves the
 * aggregate and the final statistics in place. */
static void pcp_session_end(void) {
    profcore *pc = pcp_g_session.pc;
    if (pcp_g_session.engine == PCP_ENGINE_ITIMER) pcp_disarm_itimer();
    pcp_stop_ticker(); /* ticks already queued arrive after the unpublish: ignored */
    pcp_threads_disarm_all();
    if (pcp_s.writer_tid != 0) {
        __atomic_store_n(&pcp_s.writer_stop, 1, __ATOMIC_RELEASE);
        uint64_t one = 1;
        ssize_t w = write(pcp_g_session.wake_fd, &one, sizeof one);
        (void)w;
        pthread_join(pcp_s.writer, NULL);
        pcp_s.writer_tid = 0;
    }
    pthread_mutex_lock(&pcp_reader_mu);
    while (profcore_stop(pc) == PROFCORE_BUSY) pcp_sleep_us(100);
    while (profcore_final_drain(pc, pcp_agg_emit, &pcp_g_agg) == PROFCORE_BUSY) pcp_sleep_us(100);
    pthread_mutex_unlock(&pcp_reader_mu);
    __atomic_store_n(&pcp_g_session.pc, NULL, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&pcp_g_inflight, __ATOMIC_SEQ_CST) != 0) pcp_sleep_us(50);
    pcp_unwind_tables_stop();
    /* Quiescent: these are final (rejected adds after the drain included). */
    profcore_stats_read(pc, &pcp_s.core);
    memcpy(&pcp_s.counters, &pcp_g_counters, sizeof pcp_s.counters);
    pcp_threads_counts(&pcp_s.threads_registered, &pcp_s.threads_discovered, &pcp_s.timers_created,
                       &pcp_s.timers_deleted);
    pcp_s.duration_ns = (int64_t)(pcp_clock_ns(CLOCK_MONOTONIC) - pcp_s.start_mono_ns);
    pcp_s.cpu_measured_ns = pcp_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - pcp_s.start_cpu_ns;
    munmap(pcp_s.mem, pcp_s.mem_size);
    pcp_s.mem = NULL;
    close(pcp_g_session.wake_fd);
    pcp_g_session.wake_fd = -1;
    pcp_s.running = false;
    pcp_s.have_profile = true;
}

static int pcp_write_locked(const char *path, int format, char *err, size_t errlen);

PCP_EXPORT int pcp_start(const pcp_options *o, char *err, size_t errlen) {
    pcp_install_atfork();
    pthread_mutex_lock(&pcp_api_mu);
    int rc = PCP_OK;
    if (pcp_s.running) {
        pcp_set_error(err, errlen, "profcore: already profiling; stop first");
        rc = PCP_E_RUNNING;
    }
    if (rc == PCP_OK) rc = pcp_validate(o, err, errlen);
    int engine = rc == PCP_OK ? pcp_parse_engine(o->engine) : 0;
    if (rc == PCP_OK && engine == PCP_ENGINE_PERF && pcp_perf_probe(err, errlen) != 0)
        rc = PCP_E_ENGINE;
    if (rc == PCP_OK) rc = pcp_install_handler(err, errlen);
    if (rc == PCP_OK) {
        pcp_faultproof_init(); /* without it, unregistered stacks are 1 frame deep */
        rc = pcp_core_create(o, err, errlen);
    }
    if (rc == PCP_OK) {
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (fd < 0) {
            pcp_set_error(err, errlen, "profcore: eventfd: %s", strerror(errno));
            munmap(pcp_s.mem, pcp_s.mem_size);
            rc = PCP_E_SYSTEM;
        }
        pcp_g_session.wake_fd = fd;
    }
    if (rc != PCP_OK) {
        /* Refused: a running session (start twice) is left exactly as it was. */
        if (!pcp_s.running) pcp_g_session.pc = NULL;
        pthread_mutex_unlock(&pcp_api_mu);
        return rc;
    }
    /* A new session replaces the previous profile. */
    pthread_mutex_lock(&pcp_reader_mu);
    pcp_agg_free(&pcp_g_agg);
    pthread_mutex_unlock(&pcp_reader_mu);
    free(pcp_s.output_path);
    pcp_s.output_path = o->output_path ? strdup(o->output_path) : NULL;
    pcp_s.format = pcp_parse_format(o->format);
    pcp_s.engine_name = pcp_engine_name(engine);
    pcp_s.hz = o->hz;
    /* Before the clocks start and the timers are armed: the build is not
     * the program's CPU, and no sample sees a half-built set. */
    pcp_unwind_tables_start(pcp_unwind_parse_mode(o->unwind));
    const char *delay = getenv("PCP_TEST_WRITER_DELAY_MS");
    pcp_s.writer_delay_us = delay ? atol(delay) * 1000 : 0;
    pcp_s.start_unix_ns = (int64_t)pcp_clock_ns(CLOCK_REALTIME);
    pcp_s.start_mono_ns = pcp_clock_ns(CLOCK_MONOTONIC);
    pcp_s.start_cpu_ns = pcp_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    memset(&pcp_g_counters, 0, sizeof pcp_g_counters);

    profcore *pc = pcp_g_session.pc;
    pcp_g_session.pc = NULL;
    pcp_g_session.engine = engine;
    pcp_g_session.token = 0x50430000 | (++pcp_generation & 0xffff);
    pcp_g_session.max_depth = (uint32_t)o->max_depth;
    pcp_g_session.period_ns = 1000000000u / (uint64_t)o->hz;
    /* Publish: every field above is visible to a handler that sees pc. */
    __atomic_store_n(&pcp_g_session.pc, pc, __ATOMIC_SEQ_CST);
    pcp_s.running = true;

    rc = pcp_start_writer(err, errlen);
    if (rc == PCP_OK && pcp_threads_arm_all(engine, pcp_g_session.period_ns, pcp_g_session.token,
                                            pcp_s.writer_tid, err, errlen) != 0)
        rc = PCP_E_SYSTEM;
    if (rc == PCP_OK && pcp_register_thread() != PCP_OK) {
        pcp_set_error(err, errlen, "profcore: cannot register the calling thread: %s", strerror(errno));
        rc = PCP_E_SYSTEM;
    }
    if (rc == PCP_OK && engine == PCP_ENGINE_ITIMER && pcp_arm_itimer(pcp_g_session.period_ns) != 0) {
        pcp_set_error(err, errlen, "profcore: setitimer: %s", strerror(errno));
        rc = PCP_E_SYSTEM;
    }
    if (rc == PCP_OK && engine == PCP_ENGINE_WALL) rc = pcp_start_ticker(err, errlen);
    if (rc != PCP_OK) {
        pcp_session_end();
        pcp_s.have_profile = false;
    }
    pthread_mutex_unlock(&pcp_api_mu);
    return rc;
}

PCP_EXPORT int pcp_stop(char *err, size_t errlen) {
    pthread_mutex_lock(&pcp_api_mu);
    if (!pcp_s.running) {
        pthread_mutex_unlock(&pcp_api_mu);
        pcp_set_error(err, errlen, "profcore: stop without a running profile");
        return PCP_E_NOT_RUNNING;
    }
    pcp_session_end();
    int rc = PCP_OK;
    if (pcp_s.output_path != NULL) rc = pcp_write_locked(pcp_s.output_path, pcp_s.format, err, errlen);
    pthread_mutex_unlock(&pcp_api_mu);
    return rc;
}

PCP_EXPORT int pcp_is_running(void) {
    pthread_mutex_lock(&pcp_api_mu);
    int r = pcp_s.running;
    pthread_mutex_unlock(&pcp_api_mu);
    return r;
}

/* Moves everything recorded so far (tables included) into the aggregate. */
static void pcp_collect_locked(void) {
    pthread_mutex_lock(&pcp_reader_mu);
    uint32_t busy = 0;
    if (pcp_g_session.pc != NULL) profcore_collect(pcp_g_session.pc, pcp_agg_emit, &pcp_g_agg, &busy);
    pthread_mutex_unlock(&pcp_reader_mu);
}

PCP_EXPORT int pcp_flush(char *err, size_t errlen) {
    pthread_mutex_lock(&pcp_api_mu);
    int rc;
    if (!pcp_s.running) {
        pcp_set_error(err, errlen, "profcore: flush without a running profile");
        rc = PCP_E_NOT_RUNNING;
    } else if (pcp_s.output_path == NULL) {
        pcp_set_error(err, errlen, "profcore: flush: no output path was given at start");
        rc = PCP_E_PATH;
    } else {
        pcp_collect_locked();
        rc = pcp_write_locked(pcp_s.output_path, pcp_s.format, err, errlen);
    }
    pthread_mutex_unlock(&pcp_api_mu);
    return rc;
}

/* ---- building the profile handed to the output side ---------------------- */

typedef struct pcp_profile_copy {
    pcprof_profile p;
    pcprof_stack *stacks;
    uint64_t *frames;
    const char **labels;
} pcp_profile_copy;

/* Copies the aggregate and the statistics (api lock held), so the output
 * side can take its time without holding the reader lock. */
static int pcp_snapshot_take(pcp_profile_copy *s) {
    memset(s, 0, sizeof *s);
    pthread_mutex_lock(&pcp_reader_mu);
    const pcp_agg *a = &pcp_g_agg;
    s->stacks = calloc(a->n ? a->n : 1, sizeof *s->stacks);
    s->frames = malloc((a->nframes ? a->nframes : 1) * sizeof *s->frames);
    if (s->stacks == NULL || s->frames == NULL) {
        pthread_mutex_unlock(&pcp_reader_mu);
        free(s->stacks);
        free(s->frames);
        return -1;
    }
    if (a->nframes > 0) memcpy(s->frames, a->frames, a->nframes * sizeof *s->frames); /* NULL when empty */
    for (size_t i = 0; i < a->n; i++) {
        s->stacks[i].weight = a->entries[i].weight;
        s->stacks[i].tag = a->entries[i].tag;
        s->stacks[i].depth = a->entries[i].depth;
        s->stacks[i].frames = s->frames + a->entries[i].frames_at;
    }
    s->p.nstacks = a->n;
    pthread_mutex_unlock(&pcp_reader_mu);
    s->p.stacks = s->stacks;
    size_t nl;
    s->labels = pcp_labels_snapshot(&nl);
    s->p.labels = (const char *const *)s->labels;
    s->p.nlabels = nl;
    s->p.period_ns = 1000000000u / (uint64_t)(pcp_s.hz > 0 ? pcp_s.hz : 1);
    s->p.start_unix_ns = pcp_s.start_unix_ns;
    s->p.engine = pcp_s.engine_name;
    s->p.hz = (uint32_t)pcp_s.hz;
    const pcp_counters *c = &pcp_s.counters;
    if (pcp_s.running) {
        profcore_stats_read(pcp_g_session.pc, &s->p.core);
        c = &pcp_g_counters;
        s->p.duration_ns = (int64_t)(pcp_clock_ns(CLOCK_MONOTONIC) - pcp_s.start_mono_ns);
        s->p.cpu_measured_ns = pcp_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - pcp_s.start_cpu_ns;
    } else {
        s->p.core = pcp_s.core;
        s->p.duration_ns = pcp_s.duration_ns;
        s->p.cpu_measured_ns = pcp_s.cpu_measured_ns;
    }
    s->p.handler_samples = __atomic_load_n(&c->offered_samples, __ATOMIC_RELAXED);
    s->p.handler_ns_total = __atomic_load_n(&c->handler_ns_total, __ATOMIC_RELAXED);
    s->p.handler_ns_max = __atomic_load_n(&c->handler_ns_max, __ATOMIC_RELAXED);
    pcp_unwind_report_read(&s->p.unwind);
    return 0;
}

static void pcp_snapshot_free(pcp_profile_copy *s) {
    free(s->stacks);
    free(s->frames);
    free(s->labels);
}

int pcp_write_profile(const pcprof_profile *p, const char *path, int format, char *err, size_t errlen) {
    int r;
    if (format == PCP_FORMAT_LEGACY) r = pcprof_write_legacy(p, path, err, errlen);
    else if (format == PCP_FORMAT_COLLAPSED) r = pcprof_write_collapsed(p, path, err, errlen);
    else r = pcprof_write_pprof(p, path, err, errlen);
    return r == 0 ? PCP_OK : PCP_E_WRITE;
}

int pcp_format_code(const char *format) { return pcp_parse_format(format); }

static int pcp_write_locked(const char *path, int format, char *err, size_t errlen) {
    pcp_profile_copy s;
    if (pcp_snapshot_take(&s) != 0) {
        pcp_set_error(err, errlen, "profcore: out of memory building the profile");
        return PCP_E_SYSTEM;
    }
    int r = pcp_write_profile(&s.p, path, format, err, errlen);
    pcp_snapshot_free(&s);
    return r;
}

PCP_EXPORT int pcp_write(const char *path, const char *format, char *err, size_t errlen) {
    int f = pcp_parse_format(format);
    if (path == NULL || path[0] == '\0') {
        pcp_set_error(err, errlen, "profcore: no output path");
        return PCP_E_PATH;
    }
    if (f == 0) {
        pcp_set_error(err, errlen, "profcore: unknown format '%s' (expected pprof, legacy or collapsed)", format);
        return PCP_E_FORMAT;
    }
    pthread_mutex_lock(&pcp_api_mu);
    int rc;
    if (!pcp_s.running && !pcp_s.have_profile) {
        pcp_set_error(err, errlen, "profcore: nothing recorded yet");
        rc = PCP_E_NO_PROFILE;
    } else {
        if (pcp_s.running) pcp_collect_locked();
        rc = pcp_write_locked(path, f, err, errlen);
    }
    pthread_mutex_unlock(&pcp_api_mu);
    return rc;
}

PCP_EXPORT int pcp_print_summary(FILE *out, int top) {
    pthread_mutex_lock(&pcp_api_mu);
    int rc = PCP_E_NO_PROFILE;
    if (pcp_s.running || pcp_s.have_profile) {
        if (pcp_s.running) pcp_collect_locked();
        pcp_profile_copy s;
        rc = PCP_E_SYSTEM;
        if (pcp_snapshot_take(&s) == 0) {
            pcprof_print_summary(out, &s.p, top);
            pcp_snapshot_free(&s);
            rc = PCP_OK;
        }
    }
    pthread_mutex_unlock(&pcp_api_mu);
    return rc;
}

PCP_EXPORT int pcp_get_stats(pcp_stats *out) {
    if (out == NULL) return PCP_E_INVAL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&pcp_api_mu);
    if (!pcp_s.running && !pcp_s.have_profile) {
        pthread_mutex_unlock(&pcp_api_mu);
        return PCP_E_NO_PROFILE;
    }
    profcore_stats core;
    const pcp_counters *c;
    if (pcp_s.running) {
        profcore_stats_read(pcp_g_session.pc, &core);
        c = &pcp_g_counters;
        pcp_threads_counts(&out->threads_registered, &out->threads_discovered, &out->timers_created,
                           &out->timers_deleted);
    } else {
        core = pcp_s.core;
        c = &pcp_s.counters;
        out->threads_registered = pcp_s.threads_registered;
        out->threads_discovered = pcp_s.threads_discovered;
        out->timers_created = pcp_s.timers_created;
        out->timers_deleted = pcp_s.timers_deleted;
    }
    out->signals = __atomic_load_n(&c->signals, __ATOMIC_RELAXED);
    out->signals_foreign = __atomic_load_n(&c->signals_foreign, __ATOMIC_RELAXED);
    out->offered_weight = __atomic_load_n(&c->offered_weight, __ATOMIC_RELAXED);
    out->offered_samples = __atomic_load_n(&c->offered_samples, __ATOMIC_RELAXED);
    out->unregistered_samples = __atomic_load_n(&c->unregistered_samples, __ATOMIC_RELAXED);
    out->critical_weight = __atomic_load_n(&c->critical_weight, __ATOMIC_RELAXED);
    out->unwind_failures = __atomic_load_n(&c->unwind_failures, __ATOMIC_RELAXED);
    out->handler_ns_total = __atomic_load_n(&c->handler_ns_total, __ATOMIC_RELAXED);
    out->handler_ns_max = __atomic_load_n(&c->handler_ns_max, __ATOMIC_RELAXED);
    out->core_offered_weight = core.offered_weight;
    out->core_recorded_weight = core.recorded_weight;
    out->core_rejected_weight = core.rejected_weight;
    for (int r = 0; r < PROFCORE_LOSS_REASONS && r < 8; r++) out->core_lost_weight[r] = core.lost_weight[r];
    pthread_mutex_lock(&pcp_reader_mu);
    out->profile_weight = pcp_g_agg.total_weight;
    out->profile_stacks = pcp_g_agg.n;
    pthread_mutex_unlock(&pcp_reader_mu);
    pthread_mutex_unlock(&pcp_api_mu);
    return PCP_OK;
}

PCP_EXPORT int pcp_set_traceback_hook(profcore_traceback_fn hook, void *user) {
    /* The argument first: a handler that sees the new hook sees its argument. */
    __atomic_store_n(&pcp_g_hook_user, user, __ATOMIC_RELEASE);
    __atomic_store_n(&pcp_g_hook, hook, __ATOMIC_RELEASE);
    return PCP_OK;
}
