/* session_race.c — a handler running between any two steps of pcp_start or
 * pcp_stop sees no session or a complete one, and a failed start leaves
 * nothing behind (docs/ARCHITECTURE.md, "The handler's view").
 *
 * White-box: linked with the runtime's objects, its handler compiled with
 * PRT_TEST_VIEW_PROBE, so prt_test_view_probe below sees every non-NULL
 * view a handler acts on, and with --wrap=mmap,munmap so the test knows
 * which mappings of the runtime are live.  A second thread sends SIGPROF to
 * the starting/stopping thread in a loop while it starts and stops
 * thousands of sessions (ctimer, itimer and wall in turn); every view a
 * probe sees must be the current session's, complete, its core inside a
 * live mapping.  Then the eventfd failure path: with the fd table full,
 * pcp_start fails, the core it mapped is unmapped exactly once, and a fork
 * child (whose atfork reset releases the session again) unmaps nothing
 * twice.  Run plain and under TSan (tests/profiler/profiler.mk suites
 * profiler-session-race and profiler-session-race-tsan).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "internal.h"

/* ---- the mappings of the runtime (--wrap) ---- */
#define MAPS 256
static struct {
    uintptr_t addr; /* atomic */
    size_t len;     /* atomic */
    int live;       /* atomic */
} maps[MAPS];
static unsigned double_unmaps; /* atomic */

void *__real_mmap(void *, size_t, int, int, int, off_t);
int __real_munmap(void *, size_t);

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    void *p = __real_mmap(addr, len, prot, flags, fd, off);
    if (p == MAP_FAILED) return p;
    for (int i = 0; i < MAPS; i++) {
        if (__atomic_load_n(&maps[i].live, __ATOMIC_ACQUIRE)) continue;
        __atomic_store_n(&maps[i].addr, (uintptr_t)p, __ATOMIC_RELAXED);
        __atomic_store_n(&maps[i].len, len, __ATOMIC_RELAXED);
        __atomic_store_n(&maps[i].live, 1, __ATOMIC_RELEASE);
        break;
    }
    return p;
}

int __wrap_munmap(void *addr, size_t len) {
    bool found = false;
    for (int i = 0; i < MAPS && !found; i++)
        if (__atomic_load_n(&maps[i].live, __ATOMIC_ACQUIRE) &&
            __atomic_load_n(&maps[i].addr, __ATOMIC_RELAXED) == (uintptr_t)addr) {
            __atomic_store_n(&maps[i].live, 0, __ATOMIC_RELEASE);
            found = true;
        }
    /* Every mapping the runtime unmaps is one it mapped: anything else is an
     * unmap of memory it no longer owns (the defect: twice the same core). */
    if (!found) __atomic_add_fetch(&double_unmaps, 1u, __ATOMIC_RELAXED);
    return __real_munmap(addr, len);
}

PROFCORE_SIGNAL_SAFE static bool in_live_mapping(const void *p) {
    for (int i = 0; i < MAPS; i++) {
        if (!__atomic_load_n(&maps[i].live, __ATOMIC_ACQUIRE)) continue;
        uintptr_t a = __atomic_load_n(&maps[i].addr, __ATOMIC_RELAXED);
        size_t l = __atomic_load_n(&maps[i].len, __ATOMIC_RELAXED);
        if ((uintptr_t)p >= a && (uintptr_t)p < a + l) return true;
    }
    return false;
}

/* ---- the probe: what every handler checks ---- */
static uint32_t expect_gen;    /* atomic: the generation pcp_start is building */
static int expect_engine;      /* atomic */
static uint64_t expect_period; /* atomic */
static unsigned probes, bad_views; /* atomic */
static char first_bad[160];    /* written once, by the first bad probe */
static unsigned first_bad_taken; /* atomic */

PROFCORE_SIGNAL_SAFE static void note_bad(const char *what) {
    __atomic_add_fetch(&bad_views, 1u, __ATOMIC_RELAXED);
    if (__atomic_exchange_n(&first_bad_taken, 1u, __ATOMIC_ACQ_REL) != 0) return;
    size_t i = 0;
    for (; what[i] != '\0' && i + 1 < sizeof first_bad; i++) first_bad[i] = what[i];
    first_bad[i] = '\0';
}

PROFCORE_SIGNAL_SAFE void prt_test_view_probe(const prt_view *v) {
    __atomic_add_fetch(&probes, 1u, __ATOMIC_RELAXED);
    uint32_t gen = __atomic_load_n(&expect_gen, __ATOMIC_ACQUIRE);
    if (v->generation != gen) note_bad("a view of another session's generation");
    else if (v->token != PRT_SESSION_TOKEN(v->generation)) note_bad("token not of its generation");
    else if (v->engine != __atomic_load_n(&expect_engine, __ATOMIC_RELAXED)) note_bad("engine not the session's");
    else if (v->period_ns != __atomic_load_n(&expect_period, __ATOMIC_RELAXED)) note_bad("period not the session's");
    else if (v->wake_fd < 0) note_bad("no wake fd");
    else if (v->max_depth != 16) note_bad("max_depth not the session's");
    else if (v->pc == NULL || !in_live_mapping(v->pc)) note_bad("core not inside a live mapping");
}

/* ---- the signal sender ---- */
static pid_t target_tid;
static int sending = 1; /* atomic */
static unsigned sent;   /* atomic */

static uint64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One signal, then a pause of 1 to 32 us (a varying phase against the
 * steps of pcp_start and pcp_stop).  Sending back to back would let the
 * target run only a few instructions between two handlers: how long the
 * test then takes depends on the scheduler (it once ran past 120 s), and a
 * check must not depend on luck.  A round of start + stop takes a few ms,
 * so each round still gets on the order of a hundred handlers at random
 * points. */
static void *sender(void *arg) {
    (void)arg;
    uint32_t x = 2463534242u;
    while (__atomic_load_n(&sending, __ATOMIC_ACQUIRE)) {
        syscall(SYS_tgkill, getpid(), target_tid, SIGPROF);
        __atomic_add_fetch(&sent, 1u, __ATOMIC_RELAXED);
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        uint64_t until = mono_ns() + 1000u + (x % 32u) * 1000u;
        while (mono_ns() < until) {
        }
    }
    return NULL;
}

static const char *const engines[] = {"ctimer", "itimer", "wall"};

static int start_one(int i, char *err, size_t errlen) {
    pcp_options o = PCP_OPTIONS_INIT;
    o.engine = engines[i % 3];
    o.hz = 997;
    o.max_depth = 16;
    o.shards = 4;
    o.unwind = "fp"; /* no unwind tables to build per start: the session is under test */
    __atomic_store_n(&expect_engine, prt_parse_engine(o.engine), __ATOMIC_RELAXED);
    __atomic_store_n(&expect_period, 1000000000u / 997u, __ATOMIC_RELAXED);
    __atomic_store_n(&expect_gen, prt_g_session.generation + 1, __ATOMIC_RELEASE);
    return pcp_start(&o, err, errlen);
}

/* Fills the fd table (a lowered soft limit) so the next eventfd fails. */
static int fill_fds(int *fds, int max) {
    int n = 0;
    while (n < max) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0) break;
        fds[n++] = fd;
    }
    return n;
}

static void eventfd_failure(void) {
    char err[256] = "";
    struct rlimit old, low;
    getrlimit(RLIMIT_NOFILE, &old);
    low = old;
    low.rlim_cur = 256;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "lower RLIMIT_NOFILE: %s", strerror(errno));
    static int fds[256];
    unsigned unmaps_before = __atomic_load_n(&double_unmaps, __ATOMIC_RELAXED);
    int n = fill_fds(fds, 256);
    int rc = start_one(0, err, sizeof err);
    for (int i = 0; i < n; i++) close(fds[i]);
    setrlimit(RLIMIT_NOFILE, &old);
    CHECK(rc == PCP_E_SYSTEM && strstr(err, "eventfd") != NULL, "start with a full fd table: rc %d, '%s'", rc, err);
    CHECK(!pcp_is_running(), "a failed start leaves no session");
    CHECK(!in_live_mapping(prt_g_session.live.mem) && prt_g_session.live.mem == NULL,
          "the failed start's core is unmapped and forgotten");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) /* the atfork reset ran: did it unmap anything twice? */
        _exit(__atomic_load_n(&double_unmaps, __ATOMIC_RELAXED) == unmaps_before ? 0 : 3);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fork child after a failed start: status %#x", st);
    CHECK(__atomic_load_n(&double_unmaps, __ATOMIC_RELAXED) == unmaps_before, "no double unmap in the parent");
    rc = start_one(1, err, sizeof err);
    CHECK(rc == PCP_OK, "start after the failed one: %s", err);
    CHECK(pcp_stop(err, sizeof err) == PCP_OK, "stop: %s", err);
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 2000;
    char err[256] = "";
    target_tid = (pid_t)syscall(SYS_gettid);
    /* The first start installs the handler: only then may SIGPROF come. */
    CHECK(start_one(0, err, sizeof err) == PCP_OK, "first start: %s", err);
    CHECK(pcp_stop(err, sizeof err) == PCP_OK, "first stop: %s", err);
    pthread_t th;
    pthread_create(&th, NULL, sender, NULL);
    int start_fail = 0, stop_fail = 0, refused = 0;
    for (int i = 0; i < rounds; i++) {
        if (start_one(i, err, sizeof err) != PCP_OK) {
            if (start_fail++ == 0) printf("start %d: %s\n", i, err);
            continue;
        }
        if (i % 97 == 0) { /* a refused start of a running session changes nothing */
            pcp_options bad = PCP_OPTIONS_INIT;
            refused += pcp_start(&bad, err, sizeof err) == PCP_E_RUNNING;
        }
        if (pcp_stop(err, sizeof err) != PCP_OK && stop_fail++ == 0) printf("stop %d: %s\n", i, err);
    }
    __atomic_store_n(&sending, 0, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    unsigned p = __atomic_load_n(&probes, __ATOMIC_RELAXED);
    printf("rounds %d, signals sent %u, views probed %u, bad views %u\n", rounds,
           __atomic_load_n(&sent, __ATOMIC_RELAXED), p, __atomic_load_n(&bad_views, __ATOMIC_RELAXED));
    CHECK(start_fail == 0 && stop_fail == 0, "%d starts and %d stops failed", start_fail, stop_fail);
    CHECK(refused == (rounds + 96) / 97, "start while running refused %d times", refused);
    CHECK(p > (unsigned)rounds, "handlers saw published views (%u probes)", p);
    CHECK(__atomic_load_n(&bad_views, __ATOMIC_RELAXED) == 0, "every view complete: first bad: %s",
          first_bad);
    CHECK(__atomic_load_n(&double_unmaps, __ATOMIC_RELAXED) == 0, "no unmap of a mapping not live");
    eventfd_failure();
    return check_finish();
}
