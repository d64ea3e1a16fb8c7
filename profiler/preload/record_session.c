/* record_session.c — what a profiled process sends in `profcore record`
 * mode (the channel is record_channel.c): a hello when its session starts,
 * so the recorder knows to expect it and can name it if its profile never
 * arrives; the profile so far before exec and on ProfilerFlush; the final
 * profile when the session ends.  In this mode the session is started with
 * no output path, so pcp_stop writes nothing: the bytes go to the recorder.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "binkind.h"
#include "preload_internal.h"
#include "profile.h"
#include "record_channel.h"

static uint32_t pl_record_format(const char *name) {
    pcprof_format f = PCPROF_FORMAT_PPROF;
    if (name != NULL) pcenv_parse_format(name, &f);
    return (uint32_t)f;
}

/* The running session's format (set at its start, under the preload lock). */
static uint32_t pl_record_session_format;
/* PROFCORE_OUT when the session started (nginx clears its workers'
 * environment later): where a profile goes if the recorder is gone. */
static char pl_record_fallback_base[PATH_MAX];

void pl_record_hello(const char *format) {
    char err[256];
    const char *out = getenv("PROFCORE_OUT");
    snprintf(pl_record_fallback_base, sizeof pl_record_fallback_base, "%s", out ? out : "");
    pl_record_session_format = pl_record_format(format);
    pl_record_image_began();
    const char *how = pl_record_in_fork_child() ? PCREC_HELLO_FORKED : "started";
    if (pl_record_send(PCREC_HELLO, pl_record_session_format, how, NULL, 0, err, sizeof err) != 0)
        pl_say("record: %s", err);
}

/* The recorder could not take the profile (it was killed, or stopped
 * answering): written where it would have written this process's file
 * with --per-process, OUT.<pid>, so it is not lost; either way one line
 * says what happened. */
static void pl_record_fallback(const char *why, const char *reason) {
    char path[PATH_MAX + 16], err[512];
    int n = snprintf(path, sizeof path, "%s.%d", pl_record_fallback_base, (int)getpid());
    if (pl_record_fallback_base[0] == '\0' || n >= (int)sizeof path) {
        pl_say("record: the profile %s was not delivered (%s) and there is no output path to write it to", why, reason);
        return;
    }
    if (pcp_write(path, pcprof_format_name((pcprof_format)pl_record_session_format), err, sizeof err) == PCP_OK)
        pl_say("record: the profile %s was not delivered (%s); written to %s instead", why, reason, path);
    else
        pl_say("record: the profile %s was not delivered (%s), and writing %s failed: %s", why, reason, path,
               strncmp(err, "profcore: ", 10) == 0 ? err + 10 : err);
}

int pl_record_ship(uint32_t kind, const char *why) {
    char err[512];
    pcprof_bytes b = {0};
    uint32_t f = pl_record_session_format;
    pcp_stats st; /* the profiler's own threads, so the recorder counts the program's CPU only */
    uint64_t helpers = pcp_get_stats(&st) == PCP_OK ? st.helpers_cpu_ns : 0;
    uint64_t cpu0 = pl_record_cpu_ns();
    if (prt_link_encode_profile((int)f, &b, err, sizeof err) != PCP_OK) {
        pl_say("record: building the profile %s failed: %s", why, strncmp(err, "profcore: ", 10) == 0 ? err + 10 : err);
        return -1;
    }
    int rc = pl_record_send_costed(kind, f, why, b.data, b.len, pl_record_cpu_ns() - cpu0, helpers, err,
                                   sizeof err);
    pcprof_bytes_free(&b);
    if (rc != 0) pl_record_fallback(why, err);
    return rc;
}

static int pl_record_flush_as(uint32_t kind, const char *why, char *err, size_t errlen) {
    if (!pl_record_active() || !pcp_is_running()) return pcp_flush(err, errlen); /* or its "not running" error */
    if (pl_record_ship(kind, why) == 0) return PCP_OK;
    snprintf(err, errlen, "profcore: the profile so far was not delivered to the recorder");
    return PCP_E_WRITE;
}

int pl_flush_profile(char *err, size_t errlen) { return pl_record_flush_as(PCREC_FLUSH, "flushed", err, errlen); }

/* A program the preload library cannot follow into: the recorder is told
 * before the exec, so its summary says why nothing of the new image
 * comes (the loader ignores LD_PRELOAD for it). */
static void pl_record_exec_note(const char *file, bool search) {
    char path[PATH_MAX], note[sizeof ((pcrec_header *)0)->note], err[256];
    if (file == NULL) return;
    if (search ? pcbin_find_command(file, path) != 0 : snprintf(path, sizeof path, "%s", file) >= (int)sizeof path)
        return;
    const char *why = NULL;
    pcbin_kind k = pcbin_inspect(path);
    if (k == PCBIN_STATIC) why = "statically linked";
    else if (k == PCBIN_OTHER_CLASS) why = "not a 64-bit program";
    else if (pcbin_runs_setuid(path)) why = "setuid/setgid";
    if (why == NULL) return;
    const char *base = strrchr(path, '/');
    snprintf(note, sizeof note, "exec'd %.40s (%s): not profiled after it", base ? base + 1 : path, why);
    if (pl_record_send(PCREC_NOTE, 0, note, NULL, 0, err, sizeof err) != 0) pl_say("record: %s", err);
}

/* The image's last word if exec succeeds: sent as its final profile (a
 * failed exec goes on profiling, and its final at exit replaces this). */
int pl_flush_before_exec(const char *file, bool search, char *err, size_t errlen) {
    int rc = pl_record_flush_as(PCREC_PROFILE, "before exec", err, errlen);
    if (pl_record_active()) pl_record_exec_note(file, search);
    return rc;
}
