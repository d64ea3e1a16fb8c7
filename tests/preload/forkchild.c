/* forkchild.c — fork under the profiler's API (libprofcore.a, no preload):
 * the runtime's atfork handler makes the child a process with no session.
 *
 *   forkchild DIR
 * The parent profiles itself (a registered worker thread spins meanwhile),
 * forks, and in the child:
 *   - nothing runs: pcp_is_running() is 0, pcp_stop says "not running"
 *     at once (it must not join the parent's writer thread, which does not
 *     exist here), pcp_write and pcp_get_stats see no profile;
 *   - a fresh pcp_start works, samples the child's own work (child_work)
 *     and pcp_stop writes DIR/child.pb.gz without any of the parent's
 *     samples;
 * an alarm kills a child that hangs.  The parent then checks the child's
 * status and stops its own profile (DIR/parent.pb.gz), which must not have
 * been disturbed.  Prints "N passed, N failed". */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "profcore_profiler.h"


#include "../check.h"

static volatile uint64_t sink;
static volatile int worker_stop;

static double thread_cpu_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

__attribute__((always_inline)) static inline void spin_for(double s, uint64_t salt) {
    double t0 = thread_cpu_s();
    while (thread_cpu_s() - t0 < s)
        for (int i = 0; i < 20000; i++) sink = sink * 6364136223846793005ull + salt;
}

__attribute__((noinline)) static void parent_work(double s) { spin_for(s, 1); }
__attribute__((noinline)) static void child_work(double s) { spin_for(s, 3); }

static void *worker_main(void *arg) {
    (void)arg;
    pcp_register_thread();
    while (!worker_stop) spin_for(0.01, 5);
    return NULL;
}

/* While running: what the handler offered; once stopped: the profile. */
static uint64_t stats_weight(void) {
    pcp_stats st;
    if (pcp_get_stats(&st) != PCP_OK) return 0;
    return pcp_is_running() ? st.offered_weight : st.profile_weight;
}

/* Everything the child checks; its exit status is its failure count. */
static int child_main(const char *dir) {
    passed = failed = 0;
    alarm(20);
    char err[512] = "", path[600];
    CHECK(!pcp_is_running(), "child: no session after fork");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int r = pcp_stop(err, sizeof err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    CHECK(r == PCP_E_NOT_RUNNING, "child: pcp_stop returns %d (%s), want not running", r, err);
    CHECK(ms < 100, "child: pcp_stop returned in %.1f ms", ms);
    snprintf(path, sizeof path, "%s/child-never.pb.gz", dir);
    CHECK(pcp_write(path, "pprof", err, sizeof err) == PCP_E_NO_PROFILE, "child: no profile to write");
    pcp_stats st;
    CHECK(pcp_get_stats(&st) == PCP_E_NO_PROFILE, "child: no statistics of the parent's session");

    pcp_options o = PCP_OPTIONS_INIT;
    snprintf(path, sizeof path, "%s/child.pb.gz", dir);
    o.output_path = path;
    o.hz = 1000;
    r = pcp_start(&o, err, sizeof err);
    CHECK(r == PCP_OK, "child: a fresh pcp_start: %d %s", r, err);
    child_work(0.2);
    r = pcp_stop(err, sizeof err);
    CHECK(r == PCP_OK, "child: pcp_stop writes its profile: %d %s", r, err);
    uint64_t w = stats_weight();
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size > 0, "child: %s written", path);
    /* ~200 samples of the child's own 200 ms at 1 kHz; the parent had
     * recorded far more before the fork, none of which may appear. */
    CHECK(w >= 120 && w <= 260, "child: profile weight %llu of ~200", (unsigned long long)w);
    printf("child: %d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fprintf(stderr, "usage: forkchild DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char err[512] = "", path[600];
    pcp_options o = PCP_OPTIONS_INIT;
    snprintf(path, sizeof path, "%s/parent.pb.gz", dir);
    o.output_path = path;
    o.hz = 1000;
    CHECK(pcp_start(&o, err, sizeof err) == PCP_OK, "parent: start: %s", err);
    pthread_t worker;
    pthread_create(&worker, NULL, worker_main, NULL);
    parent_work(0.4);
    uint64_t before = stats_weight();

    pid_t pid = fork();
    if (pid == 0) _exit(child_main(dir));
    CHECK(pid > 0, "fork");
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child: exit status %#x (non-zero: its failures; signal: hung)", st);
    if (WIFEXITED(st)) failed += WEXITSTATUS(st);

    parent_work(0.2);
    worker_stop = 1;
    pthread_join(worker, NULL);
    CHECK(pcp_is_running(), "parent: still profiling after the fork");
    uint64_t after = stats_weight();
    CHECK(after > before, "parent: still sampling after the fork (%llu -> %llu)", (unsigned long long)before,
          (unsigned long long)after);
    CHECK(pcp_stop(err, sizeof err) == PCP_OK, "parent: stop: %s", err);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size > 0, "parent: %s written", path);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
