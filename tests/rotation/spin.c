/* spin.c — the program tests/rotation/run.sh profiles through the preload
 * library.  It burns CPU in spin_hot() and tells the test, through files,
 * what the profiler did, so the test waits for events and never for time.
 *
 *   spin burn CPU_SECONDS      burns that much CPU, exits 0
 *   spin toggle DIR            burns until DIR/stop exists; each time a
 *                              profile starts (ProfilingIsEnabledForAllThreads
 *                              turns true) it burns 0.2 CPU-seconds more and
 *                              creates DIR/on.N, each time it ends DIR/off.N
 *                              (N = 1, 2, ...)
 *   spin takeover              installs its own SIGUSR2 handler, raises
 *                              SIGUSR2, exits 0 only if its handler ran
 *   spin rotate STOPFILE       burns until STOPFILE exists, then stops the
 *                              profile itself (pcp_stop) and prints the
 *                              counters: "offered=W rejected=W" (weights)
 *   spin ownprof               owns SIGPROF: its own handler and ITIMER_PROF;
 *                              burns 0.5 CPU-seconds, exits 0 only if its
 *                              handler ran at least 10 times
 *   spin flushes K             K times: burns 0.1 CPU-seconds, ProfilerFlush;
 *                              then stops and prints the counters as rotate
 * The profiler's functions are found with dlsym: the program is not linked
 * against the library, it is preloaded. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "profcore_profiler.h"

static volatile uint64_t sink;

__attribute__((noinline)) static void spin_hot(void) {
    uint64_t x = sink;
    for (int i = 0; i < 200000; i++) x = x * 6364136223846793005ull + 1442695040888963407ull;
    sink = x;
}

static double thread_cpu(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void burn(double seconds) {
    double end = thread_cpu() + seconds;
    while (thread_cpu() < end) spin_hot();
}

static int exists(const char *path) { return access(path, F_OK) == 0; }

static void touch(const char *dir, const char *name, int n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%d", dir, name, n);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) close(fd);
}

static void *must_find(const char *name) {
    void *p = dlsym(RTLD_DEFAULT, name);
    if (p == NULL) {
        fprintf(stderr, "spin: %s not found (is libprofcore.so preloaded?)\n", name);
        exit(2);
    }
    return p;
}

static int toggle(const char *dir) {
    int (*enabled)(void);
    *(void **)&enabled = must_find("ProfilingIsEnabledForAllThreads");
    char stop[4096];
    snprintf(stop, sizeof stop, "%s/stop", dir);
    int was = 0, ons = 0, offs = 0;
    while (!exists(stop)) {
        spin_hot();
        int now = enabled();
        if (now && !was) {
            burn(0.2);
            touch(dir, "on", ++ons);
        } else if (!now && was) {
            touch(dir, "off", ++offs);
        }
        was = now;
    }
    return 0;
}

static volatile sig_atomic_t own_handler_ran;
static void own_handler(int sig) {
    (void)sig;
    own_handler_ran = 1;
}

static int takeover(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = own_handler;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR2, &sa, NULL) != 0) return 3;
    raise(SIGUSR2);
    return own_handler_ran ? 0 : 4;
}

static int stop_and_report(void) {
    int (*stop)(char *, size_t);
    int (*stats)(pcp_stats *);
    *(void **)&stop = must_find("pcp_stop");
    *(void **)&stats = must_find("pcp_get_stats");
    char err[512];
    if (stop(err, sizeof err) != 0) {
        fprintf(stderr, "spin: pcp_stop: %s\n", err);
        return 5;
    }
    pcp_stats st;
    if (stats(&st) != 0) return 6;
    printf("offered=%llu rejected=%llu\n", (unsigned long long)st.core_offered_weight,
           (unsigned long long)st.core_rejected_weight);
    return 0;
}

static volatile sig_atomic_t own_prof_ticks;
static void own_prof(int sig) {
    (void)sig;
    own_prof_ticks++;
}

static int ownprof(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = own_prof;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPROF, &sa, NULL) != 0) return 3;
    struct itimerval it = {{0, 10000}, {0, 10000}};
    if (setitimer(ITIMER_PROF, &it, NULL) != 0) return 3;
    burn(0.5);
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_PROF, &it, NULL);
    printf("own SIGPROF ticks: %d\n", (int)own_prof_ticks);
    return own_prof_ticks >= 10 ? 0 : 7;
}

static int rotate(const char *stopfile) {
    while (!exists(stopfile)) burn(0.01);
    return stop_and_report();
}

static int flushes(int k) {
    void (*flush)(void);
    *(void **)&flush = must_find("ProfilerFlush");
    for (int i = 0; i < k; i++) {
        burn(0.1);
        flush();
    }
    return stop_and_report();
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "burn") == 0) {
        burn(atof(argv[2]));
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "toggle") == 0) return toggle(argv[2]);
    if (argc == 2 && strcmp(argv[1], "takeover") == 0) return takeover();
    if (argc == 2 && strcmp(argv[1], "ownprof") == 0) return ownprof();
    if (argc == 3 && strcmp(argv[1], "rotate") == 0) return rotate(argv[2]);
    if (argc == 3 && strcmp(argv[1], "flushes") == 0) return flushes(atoi(argv[2]));
    fprintf(stderr, "usage: spin burn SECONDS | toggle DIR | takeover | rotate STOPFILE | flushes K | ownprof\n");
    return 2;
}
