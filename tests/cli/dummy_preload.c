/* dummy_preload.c — a stand-in for libprofcore.so in the record tests.
 * It runs the real environment parser (envconfig.c, linked in, as the real
 * preload library will) and, when asked to profile, writes a tiny collapsed
 * profile at exit, atomically (temporary file + rename).
 * PROFCORE_DUMMY_SKIP=1 makes it write nothing (the "no profile" case). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envconfig.h"

static pcenv_result dummy_config;

static void dummy_write_profile(void) {
    char tmp[PATH_MAX + 16];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%d", dummy_config.config.out, (int)getpid()) >= (int)sizeof tmp) return;
    FILE *f = fopen(tmp, "w");
    if (f == NULL) return;
    fputs("main;work;helper 3\nmain;work 1\n[lost: contended] 1\n", f);
    if (fclose(f) == 0) rename(tmp, dummy_config.config.out);
}

__attribute__((constructor)) static void dummy_start(void) {
    pcenv_parse_environ(&dummy_config);
    if (dummy_config.status == PCENV_REFUSED) fputs(dummy_config.messages, stderr);
    if (dummy_config.status != PCENV_PROFILE) return;
    const char *skip = getenv("PROFCORE_DUMMY_SKIP");
    if (skip != NULL && strcmp(skip, "1") == 0) return;
    atexit(dummy_write_profile);
}
