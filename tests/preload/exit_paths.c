/* exit_paths.c — a program that leaves by the path named in argv[1], after
 * burning about argv[2] ms of CPU in burn_cpu (so its profile has a known
 * dominant function).  Used by tests/preload/run.sh (exit paths, bad input)
 * and, linked statically, as the "static program" of the bad-input suite.
 *
 *   return | exit | exit-thread | quick-exit (_exit(4)) | sigterm | sigint | sighup | abort | segv |
 *   flush-then-kill | block-sigprof | block-sigprof-raw | own-sigprof | sigprof-state
 * sigprof-state prints "sigprof: installed" or "sigprof: default" (whether
 * anything put a SIGPROF handler in place before main, i.e. whether the
 * preloaded profiler is on), then exits like exit.
 * Exit status: 0 for return, 3 for exit/exit-thread (so the test sees that
 * the status is the program's own), death by the signal otherwise.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;
static volatile int stop_workers;

/* Burns ms of this thread's own CPU: the process clock would also count a
 * spinning worker, so on a loaded machine burn_cpu could get only a small
 * share of it and the test's lower bound would depend on scheduling. */
__attribute__((noinline)) static void burn_cpu(long ms) {
    struct timespec t0, t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    for (;;) {
        for (int i = 0; i < 100000; i++) sink = sink * 6364136223846793005ul + 1442695040888963407ul;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >= ms) return;
    }
}

/* block-sigprof-raw: every thread blocks SIGPROF itself, around libc. */
static int raw_block;
static void block_sigprof_raw(void) {
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPROF);
    syscall(SYS_rt_sigprocmask, SIG_BLOCK, &s, NULL, _NSIG / 8);
}

__attribute__((noinline)) static void *worker_spin(void *arg) {
    (void)arg;
    if (raw_block) block_sigprof_raw(); /* a thread born blocked is opened for it: block again */
    while (!stop_workers) sink++;
    return NULL;
}

static long burn_ms = 400;
/* A null pointer the compiler cannot see through: the segv mode's target. */
volatile int *volatile null_target;

static void *exit_from_thread(void *arg) {
    (void)arg;
    burn_cpu(burn_ms);
    exit(3); /* while main is blocked in pthread_join and a worker spins */
}

static int sigprof_seen;
static void own_sigprof_handler(int sig) {
    (void)sig;
    sigprof_seen++;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "return";
    if (argc > 2) burn_ms = atol(argv[2]);
    if (strcmp(mode, "block-sigprof") == 0 || strcmp(mode, "block-sigprof-raw") == 0) {
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGPROF);
        /* Before any thread: all inherit it.  Through libc the preload
         * library keeps SIGPROF open (the program is still sampled); the
         * raw system call goes around it (nothing can be sampled). */
        raw_block = strcmp(mode, "block-sigprof-raw") == 0;
        if (raw_block) block_sigprof_raw();
        else pthread_sigmask(SIG_BLOCK, &s, NULL);
        mode = "block-sigprof";
    }
    if (strcmp(mode, "own-sigprof") == 0) {
        /* The program's own profiling: a handler and ITIMER_PROF.  It must
         * see its own ticks and survive. */
        signal(SIGPROF, own_sigprof_handler);
        struct itimerval it = {{0, 10000}, {0, 10000}};
        setitimer(ITIMER_PROF, &it, NULL);
        burn_cpu(burn_ms);
        printf("own sigprof ticks: %d\n", sigprof_seen);
        return sigprof_seen > 0 ? 0 : 1;
    }
    pthread_t worker;
    pthread_create(&worker, NULL, worker_spin, NULL);
    if (strcmp(mode, "exit-thread") == 0) {
        pthread_t t;
        pthread_create(&t, NULL, exit_from_thread, NULL);
        pthread_join(t, NULL);
        return 99; /* never reached */
    }
    burn_cpu(burn_ms);
    if (strcmp(mode, "sigprof-state") == 0) {
        struct sigaction old;
        sigaction(SIGPROF, NULL, &old);
        int on = (old.sa_flags & SA_SIGINFO) ? old.sa_sigaction != NULL
                                             : old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN;
        printf("sigprof: %s\n", on ? "installed" : "default");
        fflush(stdout);
        exit(3);
    }
    if (strcmp(mode, "exit") == 0) exit(3);
    if (strcmp(mode, "quick-exit") == 0) _exit(4); /* no atexit handlers */
    if (strcmp(mode, "sigterm") == 0) kill(getpid(), SIGTERM);
    if (strcmp(mode, "sigint") == 0) kill(getpid(), SIGINT);
    if (strcmp(mode, "sighup") == 0) kill(getpid(), SIGHUP);
    if (strcmp(mode, "abort") == 0) abort();
    if (strcmp(mode, "segv") == 0) *null_target = 1;
    if (strncmp(mode, "sig", 3) == 0) {
        for (;;) pause(); /* the signal ends us (after the profiler wrote) */
    }
    stop_workers = 1;
    pthread_join(worker, NULL);
    return 0;
}
