/* maskworkers.c — a program whose workers block SIGPROF, the way real
 * programs do without meaning to (xz, thread pools): the main thread blocks
 * every signal, creates the workers, restores its mask, so each worker is
 * born with SIGPROF blocked; each worker then also blocks SIGPROF on its
 * own and unblocks it again, checking at every step that the mask it reads
 * back is the one it asked for.
 *
 *   maskworkers THREADS MS   each worker burns MS ms of its own CPU in
 *                            masked_worker_burn; exit 0 when every mask the
 *                            program read back was what it asked for, 1
 *                            otherwise (the line on stderr says which)
 *
 * Under the preload library the profile must hold the workers' CPU in
 * masked_worker_burn; without it the program is its own check that the
 * masks read back are the kernel's. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long burn_ms;
static int mask_errors; /* atomic */

static void mask_expect(int line, int want_blocked) {
    sigset_t cur;
    pthread_sigmask(SIG_BLOCK, NULL, &cur);
    int got = sigismember(&cur, SIGPROF);
    if (got != want_blocked) {
        fprintf(stderr, "maskworkers: line %d: SIGPROF reads %s, the program asked %s\n", line,
                got ? "blocked" : "unblocked", want_blocked ? "blocked" : "unblocked");
        __atomic_add_fetch(&mask_errors, 1, __ATOMIC_RELAXED);
    }
    sigset_t via_proc;
    sigprocmask(SIG_BLOCK, NULL, &via_proc);
    if (sigismember(&via_proc, SIGPROF) != want_blocked) {
        fprintf(stderr, "maskworkers: line %d: sigprocmask disagrees\n", line);
        __atomic_add_fetch(&mask_errors, 1, __ATOMIC_RELAXED);
    }
}

static double thread_cpu_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((noinline)) static void masked_worker_burn(long ms) {
    volatile unsigned long x = 1;
    double until = thread_cpu_ms() + (double)ms;
    while (thread_cpu_ms() < until)
        for (int i = 0; i < 20000; i++) x = x * 2862933555777941757ul + 3037000493ul;
}

static void *worker(void *arg) {
    (void)arg;
    mask_expect(__LINE__, 1); /* born with every signal blocked */
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    sigset_t old;
    pthread_sigmask(SIG_BLOCK, &prof, &old); /* blocked again, on purpose */
    if (!sigismember(&old, SIGPROF)) {
        fprintf(stderr, "maskworkers: the old mask lost SIGPROF\n");
        __atomic_add_fetch(&mask_errors, 1, __ATOMIC_RELAXED);
    }
    mask_expect(__LINE__, 1);
    masked_worker_burn(burn_ms / 2);
    pthread_sigmask(SIG_UNBLOCK, &prof, NULL);
    mask_expect(__LINE__, 0);
    sigprocmask(SIG_SETMASK, &old, NULL); /* back to "everything blocked" */
    mask_expect(__LINE__, 1);
    masked_worker_burn(burn_ms - burn_ms / 2);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: maskworkers THREADS MS\n");
        return 2;
    }
    int n = atoi(argv[1]);
    burn_ms = atol(argv[2]);
    if (n < 1 || n > 64 || burn_ms < 1) return 2;
    pthread_t t[64];
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, worker, NULL) != 0) return 3;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    mask_expect(__LINE__, 0);
    for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
    return __atomic_load_n(&mask_errors, __ATOMIC_RELAXED) == 0 ? 0 : 1;
}
