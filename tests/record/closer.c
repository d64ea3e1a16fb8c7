/* closer.c FILE [term] — what daemons do: close every descriptor up to the
 * limit, then open their own (the lowest free numbers: 3, 4, ...), here
 * FILE eight times, and work 300 ms of CPU.  Prints "FILE has N bytes": a
 * profiler whose descriptor had one of those numbers would have written
 * into it.  With "term": prints "ready PID" instead and works until a
 * SIGTERM (default action) ends it: the profiler's termination path runs
 * with the program's files at its old numbers. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2 && !(argc == 3 && argv[2][0] == 't')) return 2;
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = 3; fd < (max > 0 && max < 1 << 20 ? max : 1 << 20); fd++) close((int)fd);
    int fds[8];
    for (int i = 0; i < 8; i++) fds[i] = open(argv[1], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    struct timespec t0, t;
    volatile double x = 0;
    if (argc == 3) { /* term */
        printf("ready %d\n", (int)getpid());
        fflush(stdout);
        for (;;) x += 1;
    }
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    do {
        for (int i = 0; i < 100000; i++) x += i;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 300);
    struct stat st;
    if (fds[0] < 0 || fstat(fds[0], &st) != 0) return 3;
    printf("%s has %lld bytes\n", argv[1], (long long)st.st_size);
    return x < 0; /* uses x: never true */
}
