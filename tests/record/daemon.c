/* daemon.c DIR — a classic daemon: fork, setsid, fork again (the parents
 * exit at once), close every descriptor, chroot(DIR), setuid(nobody), then
 * burn about 300 ms of CPU in daemon_work and exit.  Nothing of it can
 * write a file outside DIR, and it holds no descriptor it did not open:
 * its profile can only reach `profcore record` by the recorder's name. */
#define _GNU_SOURCE
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) static double daemon_work(double ms) {
    struct timespec t0, t;
    volatile double x = 0;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
    do {
        for (int i = 0; i < 100000; i++) x += i * 0.5;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    } while ((double)(t.tv_sec - t0.tv_sec) * 1e3 + (double)(t.tv_nsec - t0.tv_nsec) / 1e6 < ms);
    return x;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    struct passwd *pw = getpwnam("nobody");
    if (pw == NULL) return 3;
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (fork() != 0) return 0; /* the first parent: the program `record` started */
    setsid();
    if (fork() != 0) _exit(0); /* the session leader: the daemon is re-parented */
    for (int fd = 0; fd < 65536; fd++) close(fd);
    if (chroot(argv[1]) != 0 || chdir("/") != 0) _exit(4);
    if (setgid(gid) != 0 || setuid(uid) != 0) _exit(5);
    daemon_work(300);
    return 0;
}
