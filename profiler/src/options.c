/* options.c — what pcp_start accepts: engines, formats, the limits of every
 * option, the output path's writability.  Runs before anything of a session
 * exists, so a refusal changes nothing. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "unwind_tables.h"

/* The API's names are the vocabulary's (vocab.h); NULL picks the default. */
int prt_parse_engine(const char *s) { return s == NULL ? PCPROF_ENGINE_CTIMER : pcprof_engine_code(s); }

int prt_format_code(const char *s) { return s == NULL ? PCPROF_FORMAT_PPROF : pcprof_format_code(s); }

/* Can we create a file next to `path` (where the atomic writer puts its
 * temporary file) and is `path` itself not a directory? */
static int prt_check_path(const char *path, char *err, size_t errlen) {
    struct stat st;
    if (path[0] == '\0') {
        prt_set_error(err, errlen, "profcore: empty output path");
        return -1;
    }
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        prt_set_error(err, errlen, "profcore: output path '%s' is a directory", path);
        return -1;
    }
    size_t len = strlen(path);
    char *probe = malloc(len + 64);
    if (probe == NULL) return -1;
    snprintf(probe, len + 64, "%s.pcp-probe-%d", path, (int)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int e = errno;
    if (fd >= 0) {
        close(fd);
        unlink(probe);
    }
    free(probe);
    if (fd < 0) {
        prt_set_error(err, errlen, "profcore: output path '%s' is not writable: %s", path,
                      strerror(e));
        return -1;
    }
    return 0;
}

int prt_check_destination(const char *path, const char *format, const char *what, int *code,
                          char *err, size_t errlen) {
    *code = prt_format_code(format);
    if (path == NULL || path[0] == '\0') {
        prt_set_error(err, errlen, "profcore: %sno output path", what);
        return PCP_E_PATH;
    }
    if (*code == 0) {
        prt_set_error(err, errlen, "profcore: unknown format '%s' (expected " PCPROF_FORMATS_ACCEPTED ")", format);
        return PCP_E_FORMAT;
    }
    return PCP_OK;
}

int prt_validate(const pcp_options *o, char *err, size_t errlen) {
    if (o == NULL) {
        prt_set_error(err, errlen, "profcore: no options");
        return PCP_E_INVAL;
    }
    if (prt_parse_engine(o->engine) == 0) {
        prt_set_error(err, errlen, "profcore: unknown engine '%s' (expected " PCPROF_ENGINES_ACCEPTED ")", o->engine);
        return PCP_E_ENGINE;
    }
    if (o->hz < 1 || o->hz > PCP_MAX_HZ) {
        prt_set_error(err, errlen, "profcore: frequency %d Hz out of range 1..%d", o->hz, PCP_MAX_HZ);
        return PCP_E_INVAL;
    }
    /* The perf engine takes one high-resolution timer interrupt per sample,
     * about 30 us of CPU each on the VMs we measured: at 50 kHz
     * a thread spent all its time in signals and never progressed
     * (bench/RESULTS.md).  The tick-driven engines have no such cost: the
     * kernel coalesces their expiries into overruns. */
    if (prt_parse_engine(o->engine) == PCPROF_ENGINE_PERF && o->hz > PCP_MAX_HZ_PERF) {
        prt_set_error(err, errlen,
                      "profcore: the perf engine is limited to %d Hz (one timer interrupt per sample, "
                      "~30 us each here); use ctimer for higher nominal rates",
                      PCP_MAX_HZ_PERF);
        return PCP_E_INVAL;
    }
    if (prt_format_code(o->format) == 0) {
        prt_set_error(err, errlen, "profcore: unknown format '%s' (expected pprof, legacy or collapsed)", o->format);
        return PCP_E_FORMAT;
    }
    if (o->max_depth < 2 || o->max_depth > PCP_MAX_DEPTH) {
        prt_set_error(err, errlen, "profcore: max_depth %d out of range 2..%d", o->max_depth, PCP_MAX_DEPTH);
        return PCP_E_INVAL;
    }
    if (o->shards < 0 || o->shards > 256 || (o->shards & (o->shards - 1)) != 0) {
        prt_set_error(err, errlen, "profcore: shards %d is not 0 or a power of two up to 256", o->shards);
        return PCP_E_INVAL;
    }
    if (prt_unwind_parse_mode(o->unwind) == 0) {
        prt_set_error(err, errlen, "profcore: unknown unwinder '%s' (expected fp, tables or auto)", o->unwind);
        return PCP_E_INVAL;
    }
    if (o->period_ms != 0 && (o->period_ms < PCP_MIN_PERIOD_MS || o->period_ms > PCP_MAX_PERIOD_MS)) {
        prt_set_error(err, errlen, "profcore: period %d ms out of range (0, or %d..%d)", o->period_ms,
                      PCP_MIN_PERIOD_MS, PCP_MAX_PERIOD_MS);
        return PCP_E_INVAL;
    }
    if (o->signal != 0 && !pcprof_sampling_signal_ok(o->signal)) {
        prt_set_error(err, errlen,
                      "profcore: signal %d cannot be the sampling signal (SIGPROF, SIGVTALRM, SIGALRM, SIGUSR1, "
                      "SIGUSR2 or a real-time signal)",
                      o->signal);
        return PCP_E_INVAL;
    }
    if (o->signal != 0 && o->signal != SIGPROF && prt_parse_engine(o->engine) == PCPROF_ENGINE_ITIMER) {
        prt_set_error(err, errlen, "profcore: the itimer engine's kernel timer sends SIGPROF only; "
                                   "another sampling signal needs ctimer, perf or wall");
        return PCP_E_INVAL;
    }
    if (o->period_ms != 0 && o->output_path == NULL) {
        prt_set_error(err, errlen, "profcore: a period (rotation) needs an output path");
        return PCP_E_PATH;
    }
    if (o->output_path != NULL && prt_check_path(o->output_path, err, errlen) != 0) return PCP_E_PATH;
    return PCP_OK;
}

uint32_t prt_default_shards(void) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    uint32_t s = 4;
    while (s < 256 && (long)s < 2 * ncpu) s *= 2;
    return s;
}
