/* snapper.c — PROFCORE_SNAPSHOT_SIGNAL under the preload library.
 *
 *   snapper SIGNO OUT
 * Starts three threads: spinner (running), sleeper (blocked in read(2)),
 * deaf (spinning with SIGPROF blocked); sends itself signal SIGNO; waits
 * (at most 10 s) until OUT.snapshot.1 exists; sends it again and waits for
 * OUT.snapshot.2; then ends the threads and exits 0 (1 on a timeout).  The
 * snapshot handler must not kill the process (SIGUSR2's default action
 * would) nor disturb the running profile (OUT is written at exit).
 * The spinning threads spin in their own body and the sleeper calls read
 * through a helper: the frame-pointer walk from a frameless leaf skips the
 * leaf's caller, so the names checked are always in the stack. */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;
static volatile int stop_all;
static int pipe_fds[2];

__attribute__((noinline)) static void *snap_spinner(void *arg) {
    (void)arg;
    while (!stop_all)
        for (int i = 0; i < 100000; i++) sink = sink * 6364136223846793005ull + 1;
    return NULL;
}

__attribute__((noinline)) static void wait_in_read(void) {
    char b;
    while (read(pipe_fds[0], &b, 1) < 0) {
    }
}

__attribute__((noinline)) static void *snap_sleeper(void *arg) {
    (void)arg;
    wait_in_read();
    return NULL;
}

__attribute__((noinline)) static void *snap_deaf(void *arg) {
    (void)arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPROF);
    /* Straight to the kernel: the preload library keeps SIGPROF open for
     * pthread_sigmask and sigprocmask, so a thread that must stay deaf
     * goes around libc. */
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &s, NULL, _NSIG / 8);
    while (!stop_all)
        for (int i = 0; i < 100000; i++) sink = sink * 6364136223846793005ull + 2;
    return NULL;
}

static int wait_for(const char *path) {
    struct stat st;
    for (int i = 0; i < 1000; i++) {
        if (stat(path, &st) == 0 && st.st_size > 0) return 0;
        struct timespec ms = {0, 10000000};
        nanosleep(&ms, NULL);
    }
    fprintf(stderr, "snapper: %s never appeared\n", path);
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: snapper SIGNO OUT\n");
        return 2;
    }
    int sig = atoi(argv[1]);
    char path[4096];
    if (pipe(pipe_fds) != 0) return 1;
    pthread_t a, b, c;
    pthread_create(&a, NULL, snap_spinner, NULL);
    pthread_create(&b, NULL, snap_sleeper, NULL);
    pthread_create(&c, NULL, snap_deaf, NULL);
    struct timespec settle = {0, 100000000};
    nanosleep(&settle, NULL);
    int bad = 0;
    for (int n = 1; n <= 2 && !bad; n++) {
        kill(getpid(), sig);
        snprintf(path, sizeof path, "%s.snapshot.%d", argv[2], n);
        bad = wait_for(path);
    }
    stop_all = 1;
    if (write(pipe_fds[1], "x", 1) != 1) bad = 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_join(c, NULL);
    return bad;
}
