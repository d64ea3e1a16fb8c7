/* dummy_preload.c — a stand-in for libprofcore.so in the record tests.
 * It runs the real environment parser (envconfig.c, linked in, as the real
 * preload library will) and, when asked to profile, writes a tiny collapsed
 * profile at exit, atomically (temporary file + rename).
 * PROFCORE_DUMMY_SKIP=1 makes it write nothing (the "no profile" case).
 * Under `profcore record` (PROFCORE_RECORD set) it sends the same bytes
 * through the real channel (profiler/preload/record_channel.c) instead. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "envconfig.h"
#include "record_channel.h"

static pcenv_result dummy_config;

static const char dummy_profile[] = "main;work;helper 3\nmain;work 1\n[lost: contended] 1\n";

static void dummy_write_profile(void) {
    if (pl_record_active()) {
        char err[256];
        if (pl_record_send(PCREC_PROFILE, PCPROF_FORMAT_COLLAPSED, "at exit", dummy_profile, sizeof dummy_profile - 1,
                           err, sizeof err) != 0)
            fprintf(stderr, "dummy: %s\n", err);
        return;
    }
    char tmp[PATH_MAX + 16];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%d", dummy_config.config.out, (int)getpid()) >= (int)sizeof tmp) return;
    FILE *f = fopen(tmp, "w");
    if (f == NULL) return;
    fputs(dummy_profile, f);
    if (fclose(f) == 0) rename(tmp, dummy_config.config.out);
}

__attribute__((constructor)) static void dummy_start(void) {
    pcenv_parse_environ(&dummy_config);
    if (dummy_config.status == PCENV_REFUSED) fputs(dummy_config.messages, stderr);
    if (dummy_config.status != PCENV_PROFILE) return;
    const char *skip = getenv("PROFCORE_DUMMY_SKIP");
    if (skip != NULL && strcmp(skip, "1") == 0) return;
    if (pl_record_configure(getenv(PCREC_ENV)) != 0) return;
    pl_record_image_began();
    atexit(dummy_write_profile);
}
