/* testprog.c — the command the record tests run.
 *   exit N        exit with status N
 *   kill SIG      raise SIG with its default action
 *   wait FILE     catch INT/TERM/HUP/QUIT (exit 100+sig), create FILE, wait
 *   env           print the variables profcore record sets */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void on_signal(int sig) { _exit(100 + sig); }

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "exit") == 0) return atoi(argv[2]);
    if (argc == 3 && strcmp(argv[1], "kill") == 0) {
        signal(atoi(argv[2]), SIG_DFL);
        raise(atoi(argv[2]));
        return 1;
    }
    if (argc == 3 && strcmp(argv[1], "wait") == 0) {
        static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
        for (int i = 0; i < 4; i++) signal(sigs[i], on_signal);
        FILE *f = fopen(argv[2], "w");
        if (f == NULL) return 1;
        fclose(f);
        for (int i = 0; i < 100; i++) sleep(1); /* the test kills us long before */
        return 2;
    }
    if (argc == 2 && strcmp(argv[1], "env") == 0) {
        static const char *const vars[] = {"LD_PRELOAD", "PROFCORE_OUT", "PROFCORE_HZ", "PROFCORE_ENGINE",
                                           "PROFCORE_FORMAT", "PROFCORE_CHILDREN", "CPUPROFILE"};
        for (int i = 0; i < 7; i++) printf("%s=%s\n", vars[i], getenv(vars[i]) ? getenv(vars[i]) : "(unset)");
        return 0;
    }
    fprintf(stderr, "usage: testprog exit N | kill SIG | wait FILE | env\n");
    return 2;
}
