/* kids.c — children for the recorder's tests.
 *
 *   kids N            forks N children (N <= 50) that start working at the
 *                     same moment (a pipe is the barrier) and end together:
 *                     child i burns at least 30 ms of CPU in hot_<i>, a
 *                     function no other process runs, then exits.  Prints
 *                     "PID i" per child, so a test can check that hot_<i>
 *                     appears under that pid only.  Under the preload
 *                     library, hot_<i> also runs until its own profile
 *                     has taken 3 SIGPROFs since it began (pcp_get_stats):
 *                     on a loaded machine a per-thread CPU timer may
 *                     deliver nothing in 30 ms (that CPU then shows as the
 *                     thread's unsampled tail), and the test must not
 *                     depend on the machine's load.
 *   kids orphan-kill  forks a child and exits; the child, re-parented to
 *                     the recorder (its subreaper), works 30 ms and then
 *                     kills itself with SIGKILL: nothing of it can run
 *                     after that, and the recorder must say so.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "profcore_profiler.h"

static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* SIGPROFs the running profile's handler has seen (0 without the preload
 * library: then hot_<i> only burns its time). */
static uint64_t signals_seen(void) {
    static int (*get)(pcp_stats *);
    static int looked;
    if (!looked) {
        void *p = dlsym(RTLD_DEFAULT, "pcp_get_stats");
        memcpy(&get, &p, sizeof p);
        looked = 1;
    }
    pcp_stats st;
    return get != NULL && get(&st) == 0 ? st.signals : 0;
}

/* Each hot_<i> is its own function (noinline, distinct body constant), so
 * a profile names exactly which child a sample came from. */
#define HOT(i)                                                                                     \
    __attribute__((noinline)) static double hot_##i(double ms) {                                  \
        volatile double x = i;                                                                     \
        double end = cpu_ms() + ms, give_up = end + 5000;                                          \
        uint64_t seen = signals_seen();                                                            \
        while (cpu_ms() < end || (signals_seen() < seen + 3 && cpu_ms() < give_up))                \
            for (int k = 0; k < 20000; k++) x += k * (double)(i + 1);                              \
        return x;                                                                                  \
    }
#define HOT10(d) HOT(d##0) HOT(d##1) HOT(d##2) HOT(d##3) HOT(d##4) HOT(d##5) HOT(d##6) HOT(d##7) HOT(d##8) HOT(d##9)
HOT(0) HOT(1) HOT(2) HOT(3) HOT(4) HOT(5) HOT(6) HOT(7) HOT(8) HOT(9)
HOT10(1) HOT10(2) HOT10(3) HOT10(4)
#define REF(i) hot_##i
#define REF10(d) REF(d##0), REF(d##1), REF(d##2), REF(d##3), REF(d##4), REF(d##5), REF(d##6), REF(d##7), REF(d##8), REF(d##9)
static double (*const hot[50])(double) = {REF(0), REF(1), REF(2), REF(3), REF(4), REF(5), REF(6), REF(7), REF(8), REF(9),
                                          REF10(1), REF10(2), REF10(3), REF10(4)};

static int many(int n) {
    int go[2];
    if (n < 1 || n > 50 || pipe(go) != 0) return 2;
    pid_t pids[50];
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0) return 3;
        if (pids[i] == 0) {
            close(go[1]);
            char b;
            while (read(go[0], &b, 1) < 0) {
            } /* EOF when the parent closes: all start together */
            hot[i](30);
            exit(0);
        }
        printf("%d %d\n", (int)pids[i], i);
        fflush(stdout); /* before the next fork: a child's exit() flushes its copy of the buffer */
    }
    close(go[1]);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int st;
        if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad++;
    }
    return bad ? 1 : 0;
}

static int orphan_kill(void) {
    pid_t parent = getpid();
    fflush(stdout);
    pid_t c = fork();
    if (c < 0) return 3;
    if (c > 0) {
        printf("%d victim\n", (int)c);
        return 0;
    }
    while (getppid() == parent) { /* until re-parented: the program has exited */
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    hot[0](30);
    raise(SIGKILL);
    return 9;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "orphan-kill") == 0) return orphan_kill();
    if (argc == 2) return many(atoi(argv[1]));
    fprintf(stderr, "usage: kids N | kids orphan-kill\n");
    return 2;
}
