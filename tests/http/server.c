/* server.c — the program the http-endpoint suite profiles through its pprof
 * endpoint (run with the preload library and PROFCORE_HTTP).
 *
 *   server hot    the main thread spends its CPU in hot_loop
 *   server idle   the main thread sleeps in sigsuspend
 *
 * Either way SIGUSR1 makes it call exit(7) (the atexit path stops the
 * endpoint while a window may be in flight); the suite checks the 7.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>

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
    if (argc > 1 && strcmp(argv[1], "idle") == 0) {
        sigset_t none;
        sigemptyset(&none);
        while (!quit) sigsuspend(&none);
    } else {
        while (!quit) hot_loop();
    }
    exit(7);
}
