/* server.c — a pre-forking server in miniature, for the fork-without-exec
 * and privilege-drop tests of the preload library.
 *
 *   server WORKERS SECONDS [DROP]
 * The master forks WORKERS workers (no exec).  Each worker optionally drops
 * privileges (DROP: "setuid" = setgid/setuid to nobody; "chroot" = chroot
 * into the empty directory $SERVER_CHROOT, then setuid; "closefds" = close
 * every descriptor above 2, then setuid; "chdir" = chdir("/") only), burns
 * SECONDS of CPU in
 * worker_work, reads its own process CPU time and prints
 *   worker I pid P cpu_ns C fork_cpu_ns F
 * (C: CPU from fork to just before exit(); F: CPU spent inside fork() in
 * the child, i.e. before the program's code ran again) and exits with
 * status 0.  The master burns SECONDS/2 in master_work before it forks and
 * SECONDS while the workers run, waits for
 * every worker, prints "master pid P cpu_ns C" and exits 0, or 1 if a
 * worker failed.  A worker that cannot drop privileges exits 3.
 */
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile uint64_t sink;

static uint64_t cpu_ns(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Few system calls per unit of work (clock_gettime is a vDSO call): the
 * tick-driven CPU timers under-sample code right after a system call. */
__attribute__((always_inline)) static inline void spin_for(double s, uint64_t salt) {
    uint64_t t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID), want = (uint64_t)(s * 1e9);
    while (cpu_ns(CLOCK_THREAD_CPUTIME_ID) - t0 < want)
        for (int i = 0; i < 20000; i++) sink = sink * 6364136223846793005ull + salt;
}

__attribute__((noinline)) static void master_work(double s) { spin_for(s, 1); }
__attribute__((noinline)) static void worker_work(double s) { spin_for(s, 3); }

static int drop_privileges(const char *how) {
    struct passwd *pw = getpwnam("nobody");
    if (pw == NULL) return -1;
    if (strcmp(how, "chroot") == 0) {
        const char *dir = getenv("SERVER_CHROOT"); /* an empty directory the caller made */
        if (dir == NULL || chroot(dir) != 0 || chdir("/") != 0) return -1;
    }
    if (strcmp(how, "closefds") == 0) /* as daemons do: every descriptor but 0-2 */
        for (int fd = 3; fd < 1024; fd++) close(fd);
    if (strcmp(how, "chdir") == 0) return chdir("/"); /* no privilege drop: a daemon's chdir("/") */
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) return -1;
    return 0;
}

static int worker(int i, double s, const char *drop, uint64_t fork_cpu) {
    if (drop != NULL && drop_privileges(drop) != 0) {
        perror("drop privileges");
        return 3;
    }
    worker_work(s);
    printf("worker %d pid %d cpu_ns %llu fork_cpu_ns %llu\n", i, (int)getpid(),
           (unsigned long long)cpu_ns(CLOCK_PROCESS_CPUTIME_ID), (unsigned long long)fork_cpu);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: server WORKERS SECONDS [setuid|chroot|closefds|chdir]\n");
        return 2;
    }
    int n = atoi(argv[1]);
    double s = atof(argv[2]);
    const char *drop = argc > 3 ? argv[3] : NULL;
    pid_t pids[16];
    if (n < 0 || n > 16) return 2;
    master_work(s / 2); /* samples before the fork: the master's only */
    for (int i = 0; i < n; i++) {
        pids[i] = fork();
        if (pids[i] < 0) return perror("fork"), 1;
        if (pids[i] == 0) exit(worker(i, s, drop, cpu_ns(CLOCK_PROCESS_CPUTIME_ID)));
    }
    master_work(s);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        int st;
        if (waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "worker %d: status %#x\n", i, st);
            bad = 1;
        }
    }
    printf("master pid %d cpu_ns %llu\n", (int)getpid(), (unsigned long long)cpu_ns(CLOCK_PROCESS_CPUTIME_ID));
    return bad;
}
