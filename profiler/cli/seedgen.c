/* seedgen.c — writes the fuzz seed corpus: seedgen DIR creates
 * DIR/readers/ (valid pprof gzip and raw, legacy 64/32-bit, collapsed, and
 * a few near-misses) and DIR/env/ (NUL-separated NAME=VALUE lists).
 * The files are committed under profiler/cli/corpus/; `make cli-corpus`
 * regenerates them. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pbbuild.h"

static void write_file(const char *dir, const char *name, const void *d, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(d, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: seedgen DIR\n");
        return 2;
    }
    char readers[4096], env[4096];
    snprintf(readers, sizeof readers, "%s/readers", argv[1]);
    snprintf(env, sizeof env, "%s/env", argv[1]);
    mkdir(argv[1], 0755), mkdir(readers, 0755), mkdir(env, 0755);

    pbbuf raw = {0}, gz = {0};
    pbb_demo_pprof(&raw, 1);
    write_file(readers, "demo-packed.pb", raw.d, raw.n);
    pbb_gzip(&raw, &gz);
    write_file(readers, "demo-packed.pb.gz", gz.d, gz.n);
    write_file(readers, "demo-truncated.pb.gz", gz.d, gz.n / 2);
    pbb_demo_pprof(&raw, 0);
    write_file(readers, "demo-unpacked.pb", raw.d, raw.n);
    pbb_demo_legacy(&raw, 8);
    write_file(readers, "demo64.prof", raw.d, raw.n);
    pbb_demo_legacy(&raw, 4);
    write_file(readers, "demo32.prof", raw.d, raw.n);
    write_file(readers, "demo.collapsed", pbb_demo_collapsed, strlen(pbb_demo_collapsed));
    static const char bad_collapsed[] = "main;;work 3\nmain x\n";
    write_file(readers, "bad.collapsed", bad_collapsed, strlen(bad_collapsed));
    pbb_free(&raw), pbb_free(&gz);

    static const char *const envs[][8] = {
        {"PROFCORE_OUT=/tmp/p.pb.gz", "PROFCORE_HZ=250", "PROFCORE_ENGINE=ctimer", "PROFCORE_FORMAT=pprof",
         "PROFCORE_CHILDREN=1", "PROFCORE_SNAPSHOT_SIGNAL=SIGUSR2", NULL},
        {"CPUPROFILE=/tmp/g.prof", "CPUPROFILE_FREQUENCY=1000", "CPUPROFILE_REALTIME=1",
         "CPUPROFILE_PER_THREAD_TIMERS=yes", NULL},
        {"PROFCORE_OUT=x", "PROFCORE_HZ=100001", "PROFCORE_ENGINE=Wall", "PROFCORE_SNAPSHOT_SIGNAL=RTMIN+2", NULL},
        {"PROFCORE_OUT=", "CPUPROFILE=/a", "PROFCORE_CHILDREN=no", "PROFCORE_FORMAT=collapsed", NULL},
        {"CPUPROFILE=/tmp/g.prof", "CPUPROFILESIGNAL=12", "CPUPROFILE_TIMER_SIGNAL=27", "PROFCORE_PERIOD=90s", NULL},
    };
    for (size_t i = 0; i < sizeof envs / sizeof envs[0]; i++) {
        pbbuf b = {0};
        for (int k = 0; envs[i][k]; k++) pbb_put(&b, envs[i][k], strlen(envs[i][k]) + 1);
        char name[32];
        snprintf(name, sizeof name, "env-%zu", i);
        write_file(env, name, b.d, b.n);
        pbb_free(&b);
    }
    return 0;
}
