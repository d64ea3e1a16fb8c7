/* forkexec_self.c — gperftools' FORK test, in C: a program that forks and
 * execs itself, with CPUPROFILE in the environment.
 *
 *   forkexec_self N      burns in parent_burn, then forks N children one at
 *                        a time; each execs this program ("child") and the
 *                        parent waits for it; prints "child I pid P" for
 *                        each; burns again; exits 0 (1 if a child failed)
 *   forkexec_self child  burns in child_burn, exits 0
 * Built twice: plain (profiled through LD_PRELOAD) and linked against
 * libprofcore.so (profiled by the library's constructor, as a program
 * linked with gperftools' -lprofiler is).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static uint64_t thread_cpu_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

__attribute__((always_inline)) static inline void spin_for(double s, uint64_t salt) {
    uint64_t t0 = thread_cpu_ns(), want = (uint64_t)(s * 1e9);
    while (thread_cpu_ns() - t0 < want)
        for (int i = 0; i < 20000; i++) sink = sink * 6364136223846793005ull + salt;
}

__attribute__((noinline)) static void parent_burn(double s) { spin_for(s, 1); }
__attribute__((noinline)) static void child_burn(double s) { spin_for(s, 3); }

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: forkexec_self N | child\n");
        return 2;
    }
    if (strcmp(argv[1], "child") == 0) {
        child_burn(0.2);
        return 0;
    }
    int n = atoi(argv[1]), bad = 0;
    parent_burn(0.15);
    for (int i = 0; i < n; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid < 0) return perror("fork"), 1;
        if (pid == 0) {
            execl("/proc/self/exe", argv[0], "child", (char *)NULL);
            perror("execl");
            _exit(127);
        }
        int st;
        printf("child %d pid %d\n", i, (int)pid);
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad = 1;
    }
    parent_burn(0.15);
    return bad;
}
