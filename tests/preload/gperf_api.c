/* gperf_api.c — a program written against gperftools' own header
 * (/usr/include/gperftools/profiler.h from libgoogle-perftools-dev) and
 * linked against libprofcore.so instead of libprofiler.  It checks what the
 * API promises and leaves files for run.sh to read back with pprof tools.
 *
 *   gperf_api api OUT         start/flush/stop/state/restart; writes OUT,
 *                             OUT.flushed (a copy taken right after the
 *                             flush) and OUT.second (a restarted profile)
 *   gperf_api filter OUT      ProfilerStartWithOptions with a thread filter:
 *                             kept_thread runs in the profile, dropped_thread
 *                             is filtered out
 *   gperf_api env             CPUPROFILE set by the caller: profiling must
 *                             already be on at main, and a ProfilerStart
 *                             must fail (gperftools: one profile at a time)
 *   gperf_api noop            does nothing (the setuid test)
 * Prints "ok ..." / "FAIL ..." lines; exits 1 if any failed.
 */
#include <gperftools/profiler.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int failures;
#define CHECK(cond, what)                                                                          \
    do {                                                                                           \
        if (cond) printf("ok   %s\n", what);                                                       \
        else {                                                                                     \
            printf("FAIL %s\n", what);                                                             \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static volatile unsigned long sink;

static double thread_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Inlined into each caller: a tail call would hide the caller's frame. */
__attribute__((always_inline)) static inline void spin_for(double seconds) {
    double t0 = thread_cpu();
    while (thread_cpu() - t0 < seconds)
        for (int i = 0; i < 20000; i++) sink = sink * 6364136223846793005ul + 1;
}

__attribute__((noinline)) static void main_work(double s) { spin_for(s); }
__attribute__((noinline)) static void *registered_worker(void *arg) {
    ProfilerRegisterThread();
    spin_for(*(double *)arg);
    return NULL;
}

static __thread int keep_this_thread;
static int filter_in(void *arg) { return arg == (void *)&failures && keep_this_thread; }
__attribute__((noinline)) static void *kept_thread(void *arg) {
    keep_this_thread = 1;
    spin_for(*(double *)arg);
    return NULL;
}
__attribute__((noinline)) static void *dropped_thread(void *arg) {
    keep_this_thread = 0;
    spin_for(*(double *)arg);
    return NULL;
}

static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    if (in == NULL || out == NULL) {
        if (in) fclose(in);
        return -1;
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    fclose(in);
    return fclose(out);
}

static void api(const char *out) {
    struct ProfilerState st;
    char path[4096];
    ProfilerGetCurrentState(&st);
    CHECK(!ProfilingIsEnabledForAllThreads() && st.enabled == 0 && st.profile_name[0] == '\0',
          "not enabled before ProfilerStart");
    time_t before = time(NULL);
    CHECK(ProfilerStart(out) == 1, "ProfilerStart returns 1");
    CHECK(ProfilerStart(out) == 0, "a second ProfilerStart returns 0");
    CHECK(ProfilingIsEnabledForAllThreads() != 0, "ProfilingIsEnabledForAllThreads while running");
    double secs = 0.4;
    pthread_t w;
    pthread_create(&w, NULL, registered_worker, &secs);
    main_work(0.4);
    pthread_join(w, NULL);
    ProfilerGetCurrentState(&st);
    CHECK(st.enabled == 1 && strcmp(st.profile_name, out) == 0, "state: enabled, profile_name");
    CHECK(st.start_time >= before && st.start_time <= time(NULL), "state: start_time");
    CHECK(st.samples_gathered >= 40, "state: samples_gathered counts the ticks (>= 40 of ~80)");
    ProfilerFlush();
    snprintf(path, sizeof path, "%s.flushed", out);
    CHECK(access(out, R_OK) == 0 && copy_file(out, path) == 0, "ProfilerFlush wrote the file");
    main_work(0.2);
    ProfilerStop();
    ProfilerGetCurrentState(&st);
    CHECK(!ProfilingIsEnabledForAllThreads() && st.enabled == 0 && st.samples_gathered == 0,
          "not enabled after ProfilerStop");
    ProfilerStop(); /* a second stop is a no-op */
    ProfilerFlush(); /* flush while stopped: no effect */
    snprintf(path, sizeof path, "%s.second", out);
    CHECK(ProfilerStart(path) == 1, "ProfilerStart again after ProfilerStop");
    main_work(0.2);
    ProfilerStop();
    ProfilerEnable(); /* deprecated no-ops, still linkable */
    ProfilerDisable();
    void *frames[16];
    CHECK(ProfilerGetStackTrace(frames, 16, 0, NULL) >= 1, "ProfilerGetStackTrace returns frames");
}

static void filter(const char *out) {
    struct ProfilerOptions o;
    memset(&o, 0, sizeof o);
    o.filter_in_thread = filter_in;
    o.filter_in_thread_arg = &failures;
    CHECK(ProfilerStartWithOptions(out, &o) == 1, "ProfilerStartWithOptions returns 1");
    double secs = 0.4;
    pthread_t a, b;
    pthread_create(&a, NULL, kept_thread, &secs);
    pthread_create(&b, NULL, dropped_thread, &secs);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    ProfilerStop();
}

static void env_started(void) {
    CHECK(ProfilingIsEnabledForAllThreads() != 0, "CPUPROFILE: profiling on before main");
    CHECK(ProfilerStart("/tmp/never-written.prof") == 0, "CPUPROFILE: ProfilerStart refused while running");
    main_work(0.3);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "noop";
    if (strcmp(mode, "api") == 0 && argc > 2) api(argv[2]);
    else if (strcmp(mode, "filter") == 0 && argc > 2) filter(argv[2]);
    else if (strcmp(mode, "env") == 0) env_started();
    else if (strcmp(mode, "noop") != 0) {
        fprintf(stderr, "usage: gperf_api api|filter OUT | env | noop\n");
        return 2;
    }
    return failures ? 1 : 0;
}
