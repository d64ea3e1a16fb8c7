/* omitfp_workload.c — the end-to-end workload of the table unwinder, built
 * -O2 -fomit-frame-pointer: main -> level1 .. level8 -> qsort -> a
 * comparator, plus zlib's compress and liblzma's encoder, so samples land in
 * this program, in libc (qsort, memcpy), in libz and liblzma (no frame
 * pointers in any of them).  Each level does some work after its call so
 * nothing is a tail call.
 *
 * Usage: omitfp_workload SECONDS [THREADS [pure]]   (THREADS: the work also
 * runs on that many extra threads, whose stacks must reach start_thread;
 * pure: the leaf is arithmetic in this program, no library calls, so a
 * frame-pointer build has the same stacks under either unwinder)
 */
#define _GNU_SOURCE
#include <lzma.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

static volatile uint64_t sink;

static int compare_values(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    /* a little arithmetic so the comparator itself is sampled */
    for (int i = 0; i < 4; i++) x = x * 2654435761u + (uint32_t)i, y = y * 2654435761u + (uint32_t)i;
    return x < y ? -1 : x > y;
}

static __attribute__((noinline)) uint64_t do_sort(uint32_t seed) {
    enum { N = 4096 };
    uint32_t *v = malloc(N * sizeof *v);
    if (v == NULL) return 0;
    for (int i = 0; i < N; i++) v[i] = seed = seed * 1103515245u + 12345u;
    qsort(v, N, sizeof *v, compare_values);
    uint64_t r = v[N / 2];
    free(v);
    return r;
}

static __attribute__((noinline)) uint64_t do_zlib(uint32_t seed) {
    static unsigned char in[65536], out[70000];
    for (size_t i = 0; i < sizeof in; i++) in[i] = (unsigned char)((seed = seed * 1103515245u + 12345u) >> 28);
    uLongf n = sizeof out;
    compress2(out, &n, in, sizeof in, 6);
    return n;
}

static __attribute__((noinline)) uint64_t do_lzma(uint32_t seed) {
    static unsigned char in[32768], out[40000];
    for (size_t i = 0; i < sizeof in; i++) in[i] = (unsigned char)((seed = seed * 1103515245u + 12345u) >> 29);
    size_t pos = 0;
    lzma_easy_buffer_encode(1, LZMA_CHECK_CRC32, NULL, in, sizeof in, out, &pos, sizeof out);
    return pos;
}

static int g_pure;

static __attribute__((noinline)) uint64_t do_arith(uint32_t seed) {
    uint64_t r = seed;
    for (int i = 0; i < 200000; i++) r = r * 6364136223846793005ull + 1442695040888963407ull;
    return r;
}

static __attribute__((noinline)) uint64_t work(uint32_t seed) {
    if (g_pure) return do_arith(seed);
    uint64_t r = do_sort(seed);
    if ((seed & 3) == 0) r += do_zlib(seed);
    if ((seed & 7) == 1) r += do_lzma(seed);
    return r;
}

#define LEVEL(n, next)                                                                             \
    static __attribute__((noinline)) uint64_t level##n(uint32_t seed) {                           \
        uint64_t r = next(seed + n);                                                               \
        __asm__ volatile("" : "+r"(r));                                                            \
        return r ^ (uint64_t)n;                                                                    \
    }
LEVEL(8, work)
LEVEL(7, level8)
LEVEL(6, level7)
LEVEL(5, level6)
LEVEL(4, level5)
LEVEL(3, level4)
LEVEL(2, level3)
LEVEL(1, level2)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double g_seconds;

static void run(uint32_t seed) {
    double end = now() + g_seconds;
    while (now() < end) sink += level1(seed++);
}

static void *thread_main(void *arg) {
    run((uint32_t)(uintptr_t)arg);
    return NULL;
}

int main(int argc, char **argv) {
    g_seconds = argc > 1 ? atof(argv[1]) : 1.0;
    int nthreads = argc > 2 ? atoi(argv[2]) : 0;
    g_pure = argc > 3 && strcmp(argv[3], "pure") == 0;
    pthread_t t[8];
    if (nthreads > 8) nthreads = 8;
    for (int i = 0; i < nthreads; i++) pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)(i * 7919));
    run(1);
    for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
    printf("%llu\n", (unsigned long long)(sink & 1));
    return 0;
}
