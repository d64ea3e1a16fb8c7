/* vocab.c — the tables behind vocab.h. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>

#include "vocab.h"

static const char *const pcprof_engine_names[] = {NULL, "ctimer", "itimer", "perf", "wall"};
static const char *const pcprof_format_names[] = {NULL, "pprof", "legacy", "collapsed"};
static const char *const pcprof_unwind_names[] = {NULL, "fp", "tables", "auto"};

static int pcprof_code_of(const char *const *names, int n, const char *name) {
    if (name == NULL) return 0;
    for (int i = 1; i < n; i++)
        if (strcmp(names[i], name) == 0) return i;
    return 0;
}

int pcprof_engine_code(const char *name) {
    return pcprof_code_of(pcprof_engine_names, (int)(sizeof pcprof_engine_names / sizeof *pcprof_engine_names), name);
}

const char *pcprof_engine_name(int engine) {
    return engine >= PCPROF_ENGINE_CTIMER && engine <= PCPROF_ENGINE_WALL ? pcprof_engine_names[engine] : "?";
}

int pcprof_format_code(const char *name) {
    return pcprof_code_of(pcprof_format_names, (int)(sizeof pcprof_format_names / sizeof *pcprof_format_names), name);
}

const char *pcprof_format_name(int format) {
    return format >= PCPROF_FORMAT_PPROF && format <= PCPROF_FORMAT_COLLAPSED ? pcprof_format_names[format] : "?";
}

int pcprof_unwind_code(const char *name) {
    return pcprof_code_of(pcprof_unwind_names, (int)(sizeof pcprof_unwind_names / sizeof *pcprof_unwind_names), name);
}

const char *pcprof_unwind_name(int unwind) {
    return unwind >= PCPROF_UNWIND_FP && unwind <= PCPROF_UNWIND_AUTO ? pcprof_unwind_names[unwind] : "?";
}

/* The core's names (profcore_loss_name() once the core exports it). */
const char *pcprof_loss_name(uint32_t reason) {
    static const char *const names[PROFCORE_LOSS_REASONS] = {
        [PROFCORE_LOSS_CONTENDED] = "contended",
        [PROFCORE_LOSS_LOG_FULL] = "log full",
        [PROFCORE_LOSS_NOHANDOFF_FULL] = "no-handoff full",
        [PROFCORE_LOSS_INVALID] = "invalid",
        [PROFCORE_LOSS_CRITICAL] = "critical section",
        [PROFCORE_LOSS_UNWIND] = "unwind failed",
        [PROFCORE_LOSS_OTHER] = "other",
    };
    return reason < PROFCORE_LOSS_REASONS ? names[reason] : "unknown";
}

#define PCPROF_LOST(r, text, fn) {PROFCORE_FRAME_LOST(r), "[lost: " text "]", fn}
const pcprof_synthetic pcprof_synthetics[] = {
    {PROFCORE_FRAME_TRUNCATED, "[truncated]", "profcore_truncated"},
    PCPROF_LOST(PROFCORE_LOSS_CONTENDED, "contended", "profcore_lost_contended"),
    PCPROF_LOST(PROFCORE_LOSS_LOG_FULL, "log full", "profcore_lost_log_full"),
    PCPROF_LOST(PROFCORE_LOSS_NOHANDOFF_FULL, "no-handoff full", "profcore_lost_nohandoff_full"),
    PCPROF_LOST(PROFCORE_LOSS_INVALID, "invalid", "profcore_lost_invalid"),
    PCPROF_LOST(PROFCORE_LOSS_CRITICAL, "critical section", "profcore_lost_critical_section"),
    PCPROF_LOST(PROFCORE_LOSS_UNWIND, "unwind failed", "profcore_lost_unwind_failed"),
    PCPROF_LOST(PROFCORE_LOSS_OTHER, "other", "profcore_lost_other"),
    {PCPROF_FRAME_NO_ANSWER, "[no answer: signals blocked or stopped]", "profcore_no_answer"},
    {PCPROF_FRAME_UNSAMPLED_TAIL, "[unsampled: thread tail]", "profcore_unsampled_thread_tail"},
};
const size_t pcprof_nsynthetics = sizeof pcprof_synthetics / sizeof *pcprof_synthetics;
_Static_assert(PROFCORE_LOSS_REASONS == 7, "a new loss reason needs its entry in pcprof_synthetics");

const pcprof_synthetic *pcprof_synthetic_find(uint64_t frame) {
    for (size_t i = 0; i < pcprof_nsynthetics; i++)
        if (pcprof_synthetics[i].frame == frame) return &pcprof_synthetics[i];
    return NULL;
}

const char *pcprof_synthetic_name(uint64_t frame) {
    if (frame >= PROFCORE_FRAME_RESERVED_END) return NULL;
    const pcprof_synthetic *s = pcprof_synthetic_find(frame);
    /* Reserved but not assigned: still never a code address, so it must not
     * be symbolized; named generically rather than dropped. */
    return s != NULL ? s->name : PCPROF_RESERVED_FRAME_NAME;
}

int pcprof_sampling_signal_ok(int sig) {
    return sig == SIGPROF || sig == SIGVTALRM || sig == SIGALRM || sig == SIGUSR1 || sig == SIGUSR2 ||
           (sig >= SIGRTMIN && sig <= SIGRTMAX);
}
