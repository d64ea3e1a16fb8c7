/* window_cpu.c PID [TIMEOUT_S] — the process CPU time of PID during one
 * profile window of its pprof endpoint, for the http-endpoint suite.
 *
 * A window's timers exist exactly while it samples (armed at its start,
 * deleted at its end), so the window is the time /proc/PID/timers is not
 * empty.  Waits for that event (polling every 0.5 ms, at most TIMEOUT_S,
 * default 30), reads the process's CPU clock, waits for the timers to go,
 * reads it again, and prints "cpu_ns=N wall_ns=N".  Exit 1 when no window
 * began or ended in time.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int timers_present(const char *path) {
    char buf[64];
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    return n > 0;
}

static uint64_t ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int wait_for(const char *path, int want, uint64_t deadline) {
    const struct timespec tick = {0, 500000};
    while (ns(CLOCK_MONOTONIC) < deadline) {
        int r = timers_present(path);
        if (r < 0) return -1;
        if (r == want) return 0;
        nanosleep(&tick, NULL);
    }
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    pid_t pid = (pid_t)atoi(argv[1]);
    uint64_t limit = (uint64_t)(argc > 2 ? atoi(argv[2]) : 30) * 1000000000u;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/timers", (int)pid);
    clockid_t cpu;
    if (clock_getcpuclockid(pid, &cpu) != 0) return 1;
    if (wait_for(path, 1, ns(CLOCK_MONOTONIC) + limit) != 0) return 1;
    uint64_t c0 = ns(cpu), w0 = ns(CLOCK_MONOTONIC);
    if (wait_for(path, 0, w0 + limit) != 0) return 1;
    uint64_t c1 = ns(cpu), w1 = ns(CLOCK_MONOTONIC);
    printf("cpu_ns=%llu wall_ns=%llu\n", (unsigned long long)(c1 - c0), (unsigned long long)(w1 - w0));
    return 0;
}
