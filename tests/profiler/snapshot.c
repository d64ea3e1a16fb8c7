/* snapshot.c — thread snapshots (pcp_snapshot) never hang and report
 * every thread.
 *
 *   snapshot DIR
 * Three threads besides main: spin_thread (running), block_thread (blocked
 * in read(2)), deaf_thread (spinning with SIGPROF blocked).  Checks:
 *   1. without a running profile: the snapshot returns after the timeout
 *      (deaf_thread cannot answer) plus the write; the collapsed file
 *      has spin_thread's and block_thread's stacks and exactly one
 *      "[no answer: signals blocked or stopped]" entry; one line per thread;
 *   2. the late answer: deaf_thread unblocks SIGPROF, its pending request
 *      is delivered to a disarmed slot and writes nothing; a second
 *      snapshot then has all four threads answering (deaf_thread included);
 *   3. while a ctimer profile runs: the same threads answer, the requests
 *      are not counted as foreign signals of the profile, the profile
 *      still stops and writes;
 *   4. bad arguments are refused with their codes.
 * Writes DIR/snap1.pb.gz (pprof, for run.sh) and prints "N passed, N failed". */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "profcore_profiler.h"


#include "../check.h"

static volatile uint64_t sink_spin, sink_deaf; /* one per thread: no race */
static int stop_all, deaf_unblock, deaf_unblocked; /* atomics */
#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
static int pipe_fds[2];
static const char *dir;

static double mono_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* The frame-pointer walk from an interrupted leaf that keeps no frame
 * (gcc omits it in leaves, as libc's syscall wrappers do) skips the leaf's
 * caller.  So the spinning threads spin in their own body (the leaf is the
 * thread function, always the first frame) and block_thread calls read
 * through a helper (the helper is skipped, block_thread is not). */
__attribute__((noinline)) static void *spin_thread(void *arg) {
    (void)arg;
    while (!LOAD(stop_all))
        for (int i = 0; i < 100000; i++) sink_spin = sink_spin * 6364136223846793005ull + 1;
    return NULL;
}

__attribute__((noinline)) static void blocked_in_read(void) {
    char b;
    while (read(pipe_fds[0], &b, 1) < 0) {
    }
}

__attribute__((noinline)) static void *block_thread(void *arg) {
    (void)arg;
    blocked_in_read();
    return NULL;
}

__attribute__((noinline)) static void *deaf_thread(void *arg) {
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    while (!LOAD(stop_all)) {
        for (int i = 0; i < 100000; i++) sink_deaf = sink_deaf * 6364136223846793005ull + 2;
        if (LOAD(deaf_unblock) && !LOAD(deaf_unblocked)) {
            sigset_t u;
            sigemptyset(&u);
            sigaddset(&u, SIGPROF);
            pthread_sigmask(SIG_UNBLOCK, &u, NULL); /* the pending request arrives now */
            STORE(deaf_unblocked, 1);
        }
    }
    return NULL;
}

/* Lines of the collapsed file: how many, how many contain `needle`. */
static void count_lines(const char *path, const char *needle, int *lines, int *hits, long *weight_sum) {
    *lines = *hits = 0;
    *weight_sum = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) return;
    char line[16384];
    while (fgets(line, sizeof line, f) != NULL) {
        (*lines)++;
        char *sp = strrchr(line, ' ');
        if (sp != NULL) *weight_sum += atol(sp + 1);
        if (needle != NULL && strstr(line, needle) != NULL) (*hits)++;
    }
    fclose(f);
}

static int hits_of(const char *path, const char *needle) {
    int lines, hits;
    long w;
    count_lines(path, needle, &lines, &hits, &w);
    return hits;
}

/* One snapshot into DIR/NAME (collapsed); returns its duration in ms. */
static double take(const char *name, int timeout_ms, int *rc) {
    char path[600], err[512] = "";
    snprintf(path, sizeof path, "%s/%s", dir, name);
    double t0 = mono_ms();
    *rc = pcp_snapshot(path, "collapsed", timeout_ms, err, sizeof err);
    double ms = mono_ms() - t0;
    if (*rc != PCP_OK) printf("     snapshot %s: %s\n", name, err);
    return ms;
}

static void check_snapshot(const char *name, int want_threads, int want_silent) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int lines, silent;
    long weight;
    count_lines(path, "[no answer: signals blocked or stopped]", &lines, &silent, &weight);
    CHECK(weight == want_threads, "%s: total weight %ld == %d threads (one each)", name, weight, want_threads);
    CHECK(silent == want_silent, "%s: %d '[no answer]' entries, want %d", name, silent, want_silent);
    CHECK(hits_of(path, "spin_thread") == 1, "%s: spin_thread's stack", name);
    CHECK(hits_of(path, "block_thread") == 1, "%s: block_thread's stack", name);
    CHECK(hits_of(path, "pcp_snapshot") == 1, "%s: the caller's own stack (in pcp_snapshot)", name);
    CHECK(hits_of(path, "deaf_thread") == (want_silent ? 0 : 1), "%s: deaf_thread's stack %s", name,
          want_silent ? "absent" : "present");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: snapshot DIR\n");
        return 2;
    }
    dir = argv[1];
    if (pipe(pipe_fds) != 0) return 1;
    pthread_t a, b, c;
    pthread_create(&a, NULL, spin_thread, NULL);
    pthread_create(&b, NULL, block_thread, NULL);
    pthread_create(&c, NULL, deaf_thread, NULL);
    struct timespec settle = {0, 50000000};
    nanosleep(&settle, NULL);

    /* 1. No profile running; deaf_thread cannot answer. */
    int rc;
    const int timeout = 300;
    double ms = take("snap1.txt", timeout, &rc);
    printf("     snapshot without a profile: %.1f ms (timeout %d ms)\n", ms, timeout);
    CHECK(rc == PCP_OK, "snapshot 1 returns PCP_OK (%d)", rc);
    /* The wait is the timeout; writing (symbolization) comes on top, a few
     * hundred ms on a loaded machine: the bound checks it returned. */
    CHECK(ms >= timeout - 5 && ms < timeout + 3000, "snapshot 1 took %.1f ms: the timeout plus the write", ms);
    check_snapshot("snap1.txt", 4, 1);
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/snap1.pb.gz", dir);
    CHECK(pcp_snapshot(path, "pprof", 100, err, sizeof err) == PCP_OK, "pprof snapshot: %s", err);

    /* 2. The late answer writes into a disarmed slot: nothing. */
    STORE(deaf_unblock, 1);
    while (!LOAD(deaf_unblocked)) nanosleep(&settle, NULL);
    nanosleep(&settle, NULL);
    ms = take("snap2.txt", 2000, &rc);
    printf("     snapshot with every thread answering: %.1f ms\n", ms);
    /* Every thread answered (check_snapshot: 0 silent), so it returned before
     * its timeout; how fast is the machine's load, not a property to assert. */
    CHECK(rc == PCP_OK, "snapshot 2: all answer (%.1f ms)", ms);
    check_snapshot("snap2.txt", 4, 0);

    /* 3. During a ctimer profile. */
    pcp_options o = PCP_OPTIONS_INIT;
    snprintf(path, sizeof path, "%s/profile.pb.gz", dir);
    o.output_path = path;
    o.hz = 1000;
    CHECK(pcp_start(&o, err, sizeof err) == PCP_OK, "start a profile: %s", err);
    nanosleep(&settle, NULL);
    pcp_stats before, after;
    pcp_get_stats(&before);
    ms = take("snap3.txt", 2000, &rc);
    pcp_get_stats(&after);
    CHECK(rc == PCP_OK, "snapshot 3 while profiling (%.1f ms)", ms);
    check_snapshot("snap3.txt", 4, 0);
    CHECK(after.signals_foreign == before.signals_foreign, "snapshot requests are not foreign signals (%llu -> %llu)",
          (unsigned long long)before.signals_foreign, (unsigned long long)after.signals_foreign);
    CHECK(pcp_stop(err, sizeof err) == PCP_OK, "the profile stops and writes: %s", err);

    /* 4. Bad arguments. */
    CHECK(pcp_snapshot(NULL, "pprof", 100, err, sizeof err) == PCP_E_PATH, "NULL path");
    CHECK(pcp_snapshot(path, "svg", 100, err, sizeof err) == PCP_E_FORMAT, "bad format");
    CHECK(pcp_snapshot(path, "pprof", 0, err, sizeof err) == PCP_E_INVAL, "timeout 0");
    CHECK(pcp_snapshot(path, "pprof", 600000, err, sizeof err) == PCP_E_INVAL, "timeout too long");

    STORE(stop_all, 1);
    if (write(pipe_fds[1], "x", 1) != 1) return 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_join(c, NULL);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
