/* server.c — the program the http-endpoint suite profiles through its pprof
 * endpoint (run with the preload library and PROFCORE_HTTP).
 *
 *   server hot    the main thread spends its CPU in hot_loop
 *   server idle   the main thread sleeps in sigsuspend
 *   server fork   forks a child that sleeps (its pid on stdout), then as hot
 *
 * Either way SIGUSR1 makes it call exit(7) (the atexit path stops the
 * endpoint while a window may be in flight); the suite checks the 7.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t quit;
static volatile double sink;

static void on_usr1(int sig) {
    (void)sig;
    quit = 1;
}

__attribute__((noinline)) static void hot_loop(void) {
    for (int i = 0; i < 100000; i++) sink += i * 0.5;
}

int main(int argc, char **argv) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    int idle = argc > 1 && strcmp(argv[1], "idle") == 0;
    if (argc > 1 && strcmp(argv[1], "fork") == 0) {
        pid_t child = fork();
        if (child < 0) return 1;
        if (child == 0) {
            idle = 1; /* the child sleeps until SIGUSR1 */
        } else {
            printf("%d\n", (int)child);
            fflush(stdout);
        }
    }
    if (idle) {
        sigset_t none;
        sigemptyset(&none);
        while (!quit) sigsuspend(&none);
    } else {
        while (!quit) hot_loop();
    }
    exit(7);
}
