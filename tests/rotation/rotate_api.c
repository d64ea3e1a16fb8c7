/* rotate_api.c — rotation through the C API, with everything that can cut
 * at once: two worker threads burn CPU under the profiler, the rotator
 * cuts every second, a third thread calls pcp_flush (a cut too) five
 * times, and pcp_stop writes the last period.  Built plain, with
 * ASan+UBSan and with TSan (the cut, the rotator and the writer thread
 * share the aggregate under the reader lock).  Checks: the files are
 * OUT.0 .. OUT.K with no gap, at least 5 flushes + 2 rotator cuts + the
 * last, and the weights over all of them (collapsed format: "stack N"
 * lines) equal the session's offered minus rejected weight.  The main
 * thread waits for files, not for time.
 * Usage: rotate_api DIR */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "profcore_profiler.h"

#include "../check.h"

#define FLUSHES 5

static int stop_workers; /* atomic */

__attribute__((noinline)) static uint64_t rotate_hot(uint64_t x) {
    for (int i = 0; i < 100000; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    __asm__ volatile("" : "+r"(x)); /* the loop is not folded away */
    return x;
}

static void *worker(void *arg) {
    uint64_t x = (uint64_t)(uintptr_t)arg;
    pcp_register_thread();
    while (!__atomic_load_n(&stop_workers, __ATOMIC_RELAXED)) x = rotate_hot(x);
    pcp_unregister_thread();
    return (void *)(uintptr_t)(x & 1);
}

static int flush_errors;
static void *flusher(void *arg) {
    (void)arg;
    char err[256];
    for (int i = 0; i < FLUSHES; i++) {
        struct timespec t = {0, 50 * 1000 * 1000};
        nanosleep(&t, NULL);
        if (pcp_flush(err, sizeof err) != PCP_OK) {
            printf("pcp_flush: %s\n", err);
            flush_errors++;
        }
    }
    return NULL;
}

static void file_name(char *buf, size_t n, const char *dir, int k) { snprintf(buf, n, "%s/p.txt.%d", dir, k); }

/* The weight of one collapsed file (-1: unreadable). */
static long long file_weight(const char *path) {
    FILE *f = fopen(path, "r");
    if (f == NULL) return -1;
    long long sum = 0;
    char line[8192];
    while (fgets(line, sizeof line, f) != NULL) {
        char *sp = strrchr(line, ' ');
        if (sp != NULL) sum += atoll(sp + 1);
    }
    fclose(f);
    return sum;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc != 2) return 2;
    const char *dir = argv[1];
    char out[1024], path[1100], err[512];
    snprintf(out, sizeof out, "%s/p.txt", dir);
    pcp_options o = PCP_OPTIONS_INIT;
    o.output_path = out;
    o.format = "collapsed";
    o.hz = 1000;
    o.period_ms = 1000;
    CHECK(pcp_start(&o, err, sizeof err) == PCP_OK, "start: %s", err);
    pthread_t w[2], fl;
    for (int i = 0; i < 2; i++) pthread_create(&w[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    pthread_create(&fl, NULL, flusher, NULL);
    pthread_join(fl, NULL);
    CHECK(flush_errors == 0, "every flush cut and wrote a period");
    /* 5 flush files, then two more that only the rotator can make. */
    file_name(path, sizeof path, dir, FLUSHES + 1);
    int waited = 0;
    while (access(path, F_OK) != 0 && waited < 120000) {
        usleep(10000);
        waited += 10;
    }
    CHECK(access(path, F_OK) == 0, "the rotator cut twice after the flushes (%s)", path);
    __atomic_store_n(&stop_workers, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < 2; i++) pthread_join(w[i], NULL);
    CHECK(pcp_stop(err, sizeof err) == PCP_OK, "stop: %s", err);
    CHECK(access(out, F_OK) != 0, "OUT itself is not written");
    pcp_stats st;
    CHECK(pcp_get_stats(&st) == PCP_OK, "stats");
    int n = 0;
    long long total = 0;
    for (;; n++) {
        file_name(path, sizeof path, dir, n);
        long long w8 = file_weight(path);
        if (w8 < 0) break;
        total += w8;
    }
    CHECK(n >= FLUSHES + 3, "%d files: 5 flushes, 2 or more cuts, the last period", n);
    long long expect = (long long)(st.core_offered_weight - st.core_rejected_weight);
    CHECK(total == expect && total > 0, "conservation over %d files: %lld == offered - rejected %lld", n, total,
          expect);
    file_name(path, sizeof path, dir, n + 1);
    CHECK(access(path, F_OK) != 0, "no file past a gap");
    /* A second session starts its sequence afresh. */
    o.period_ms = 0;
    snprintf(out, sizeof out, "%s/q.txt", dir);
    CHECK(pcp_start(&o, err, sizeof err) == PCP_OK && pcp_stop(err, sizeof err) == PCP_OK &&
              access(out, F_OK) == 0,
          "a session without a period after one with: OUT written as usual");
    return check_finish();
}
