/* forker.c — fork and exec under the preload library.
 *
 *   forker workers N       forks N workers; each prints "worker I pid P",
 *                          burns ~200 ms in child_work and exit(10 + i)
 *                          (atexit handlers run in the child); the parent burns in
 *                          parent_work, checks every status, exits 0
 *   forker exec-clean      burns, then execs itself ("burn") with an
 *                          environment WITHOUT LD_PRELOAD: the new image has
 *                          no SIGPROF handler, so a timer that survived exec
 *                          would kill it (status 128+SIGPROF)
 *   forker exec-fail       burns, execv of a missing file fails, burns more
 *                          in after_failed_exec (must still be profiled)
 *   forker burn            burns ~300 ms in exec_image_work, exits 0
 * Exit status 0 when everything went as expected.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static volatile unsigned long sink;

static double proc_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* `salt` keeps the four callers distinct: gcc -O2 folds identical functions
 * (-fipa-icf), which would merge their names in the profile. */
__attribute__((always_inline)) static inline void spin_for(double s, unsigned long salt) {
    double t0 = proc_cpu();
    while (proc_cpu() - t0 < s)
        for (int i = 0; i < 20000; i++) sink = sink * 6364136223846793005ul + salt;
}

__attribute__((noinline)) static void parent_work(double s) { spin_for(s, 1); }
__attribute__((noinline)) static void child_work(double s) { spin_for(s, 3); }
__attribute__((noinline)) static void exec_image_work(double s) { spin_for(s, 5); }
__attribute__((noinline)) static void after_failed_exec(double s) { spin_for(s, 7); }

static int workers(int n) {
    pid_t pids[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0) return perror("fork"), 1;
        if (pids[i] == 0) {
            printf("worker %d pid %d\n", i, (int)getpid());
            fflush(stdout);
            child_work(0.2);
            exit(10 + i);
        }
    }
    parent_work(0.3);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int st;
        if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 10 + i) {
            fprintf(stderr, "worker %d: status %#x\n", i, st);
            bad = 1;
        }
    }
    return bad;
}

/* The environment minus LD_PRELOAD. */
static char **env_without_preload(void) {
    size_t n = 0;
    while (environ[n]) n++;
    char **e = calloc(n + 1, sizeof *e);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0) e[k++] = environ[i];
    return e;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "workers") == 0) return workers(argc > 2 ? atoi(argv[2]) : 3);
    if (strcmp(mode, "burn") == 0) {
        exec_image_work(0.3);
        return 0;
    }
    if (strcmp(mode, "exec-clean") == 0) {
        parent_work(0.3);
        char *args[] = {argv[0], "burn", NULL};
        execve("/proc/self/exe", args, env_without_preload());
        perror("execve");
        return 1;
    }
    if (strcmp(mode, "exec-fail") == 0) {
        parent_work(0.2);
        char *args[] = {"missing", NULL};
        int r = execv("/nonexistent/program", args);
        if (r != -1 || errno != ENOENT) return 1;
        after_failed_exec(0.3);
        return 0;
    }
    fprintf(stderr, "usage: forker workers N | exec-clean | exec-fail | burn\n");
    return 2;
}
