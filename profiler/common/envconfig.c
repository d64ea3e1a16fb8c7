/* envconfig.c — see envconfig.h for the variables and the policy. */
#define _GNU_SOURCE
#include "envconfig.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Strict unsigned decimal: digits only, at least one, value <= max.  The
 * overflow check happens before the multiplication, so any length of input
 * is safe. */
static int parse_decimal(const char *s, unsigned long max, unsigned long *out) {
    unsigned long v = 0;
    if (s == NULL || *s == '\0') return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        unsigned d = (unsigned)(*p - '0');
        if (v > (max - d) / 10) return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int pcenv_parse_hz(const char *s, unsigned *out) {
    unsigned long v;
    if (parse_decimal(s, PCENV_HZ_MAX, &v) != 0 || v < PCENV_HZ_MIN) return -1;
    *out = (unsigned)v;
    return 0;
}

/* A name of the vocabulary (vocab.h), nothing else. */
int pcenv_parse_engine(const char *s, pcprof_engine *out) {
    int code = pcprof_engine_code(s);
    if (code == 0) return -1;
    *out = (pcprof_engine)code;
    return 0;
}

int pcenv_parse_format(const char *s, pcprof_format *out) {
    int code = pcprof_format_code(s);
    if (code == 0) return -1;
    *out = (pcprof_format)code;
    return 0;
}

int pcenv_parse_unwind(const char *s, pcprof_unwind *out) {
    int code = pcprof_unwind_code(s);
    if (code == 0) return -1;
    *out = (pcprof_unwind)code;
    return 0;
}

int pcenv_parse_bool(const char *s, int *out) {
    if (s == NULL) return -1;
    if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes")) {
        *out = 1;
        return 0;
    }
    if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no")) {
        *out = 0;
        return 0;
    }
    return -1;
}

/* Linux signal names (without the SIG prefix). */
static const struct {
    const char *name;
    int num;
} signal_names[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},       {"QUIT", SIGQUIT},     {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT},     {"IOT", SIGIOT},       {"BUS", SIGBUS},
    {"FPE", SIGFPE},       {"KILL", SIGKILL},     {"USR1", SIGUSR1},     {"SEGV", SIGSEGV},
    {"USR2", SIGUSR2},     {"PIPE", SIGPIPE},     {"ALRM", SIGALRM},     {"TERM", SIGTERM},
    {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD},     {"CONT", SIGCONT},     {"STOP", SIGSTOP},
    {"TSTP", SIGTSTP},     {"TTIN", SIGTTIN},     {"TTOU", SIGTTOU},     {"URG", SIGURG},
    {"XCPU", SIGXCPU},     {"XFSZ", SIGXFSZ},     {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF},
    {"WINCH", SIGWINCH},   {"IO", SIGIO},         {"POLL", SIGPOLL},     {"PWR", SIGPWR},
    {"SYS", SIGSYS},
};

/* Signals the profiler cannot or must not take over (snapshots, the
 * CPUPROFILESIGNAL switch). */
static int signal_usable_for_snapshot(int sig) {
    return sig != SIGKILL && sig != SIGSTOP && sig != SIGPROF && sig != SIGSEGV && sig != SIGBUS &&
           sig != SIGILL && sig != SIGFPE && sig != SIGTRAP;
}

/* "RTMIN", "RTMIN+3", "RTMAX-2" (already without the SIG prefix). */
static int parse_realtime_signal(const char *s, int *out) {
    int base;
    const char *rest;
    if (strncmp(s, "RTMIN", 5) == 0) base = SIGRTMIN;
    else if (strncmp(s, "RTMAX", 5) == 0) base = SIGRTMAX;
    else return -1;
    rest = s + 5;
    int sig = base;
    if (*rest == '+' || *rest == '-') {
        unsigned long off;
        if (parse_decimal(rest + 1, (unsigned long)(SIGRTMAX - SIGRTMIN), &off) != 0) return -1;
        sig = *rest == '+' ? base + (int)off : base - (int)off;
    } else if (*rest != '\0') {
        return -1;
    }
    if (sig < SIGRTMIN || sig > SIGRTMAX) return -1;
    *out = sig;
    return 0;
}

/* A signal number or name, any signal the kernel has (no policy). */
static int parse_signal_name_or_number(const char *s, int *out) {
    int sig = -1;
    unsigned long num;
    if (s == NULL || *s == '\0') return -1;
    if (parse_decimal(s, (unsigned long)SIGRTMAX, &num) == 0) {
        sig = (int)num;
    } else {
        const char *name = strncmp(s, "SIG", 3) == 0 ? s + 3 : s;
        for (size_t i = 0; i < sizeof signal_names / sizeof signal_names[0]; i++)
            if (strcmp(name, signal_names[i].name) == 0) sig = signal_names[i].num;
        if (sig < 0 && parse_realtime_signal(name, &sig) != 0) return -1;
    }
    /* Numbers 32..SIGRTMIN-1 are reserved by glibc for its own threads. */
    if (sig < 1 || sig > SIGRTMAX || (sig > SIGSYS && sig < SIGRTMIN)) return -1;
    *out = sig;
    return 0;
}

int pcenv_parse_signal(const char *s, int *out) {
    int sig;
    if (parse_signal_name_or_number(s, &sig) != 0 || !signal_usable_for_snapshot(sig)) return -1;
    *out = sig;
    return 0;
}

/* "<digits><unit>", unit ms, s, m or h; the whole value in [PCENV_PERIOD_MIN_MS,
 * PCENV_PERIOD_MAX_MS].  A bare number is refused: seconds or milliseconds
 * would be a guess. */
int pcenv_parse_period(const char *s, unsigned *out_ms) {
    static const struct {
        const char *unit;
        unsigned long ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    if (s == NULL) return -1;
    size_t digits = strspn(s, "0123456789");
    if (digits == 0 || digits > 9) return -1;
    char num[10];
    memcpy(num, s, digits);
    num[digits] = '\0';
    unsigned long v;
    if (parse_decimal(num, 999999999ul, &v) != 0) return -1;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(s + digits, units[i].unit) != 0) continue;
        if (v > PCENV_PERIOD_MAX_MS / units[i].ms) return -1;
        unsigned long ms = v * units[i].ms;
        if (ms < PCENV_PERIOD_MIN_MS) return -1;
        *out_ms = (unsigned)ms;
        return 0;
    }
    return -1;
}

int pcenv_parse_path(const char *s, char out[PATH_MAX]) {
    if (s == NULL) return -1;
    size_t n = strlen(s);
    if (n == 0 || n >= PATH_MAX) return -1;
    memcpy(out, s, n + 1);
    return 0;
}

/* ---- the whole environment ------------------------------------------- */

/* Appends one whole line or nothing: a message that does not fit is
 * counted (nerrors) but not cut, so every line kept still starts with
 * "profcore: " (a cut line once left a stub such as "p\n"; fuzz_env). */
static void add_message(pcenv_result *r, const char *fmt, ...) {
    char line[PCENV_MESSAGES_MAX];
    r->nerrors++;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    size_t len = strlen(line); /* a line longer than the buffer is cut here, whole */
    size_t used = strlen(r->messages);
    if (used + len + 2 > sizeof r->messages) return;
    memcpy(r->messages + used, line, len);
    r->messages[used + len] = '\n';
    r->messages[used + len + 1] = '\0';
}

/* Values are quoted in messages: control bytes (a newline would break the
 * one-line rule) and quotes are escaped as \xNN, and a long value is cut
 * at 80 bytes so the line stays short. */
static const char *quote_value(const char *val, char out[4 * 80 + 4]) {
    size_t n = 0, i = 0;
    for (; val[i] && i < 80; i++) {
        unsigned char c = (unsigned char)val[i];
        if (c < 0x20 || c == 0x7f || c == '\'' || c == '\\') n += (size_t)snprintf(out + n, 5, "\\x%02x", c);
        else out[n++] = (char)c;
    }
    if (val[i]) out[n++] = '.', out[n++] = '.', out[n++] = '.';
    out[n] = '\0';
    return out;
}

static void report_bad(pcenv_result *r, const char *var, const char *val, const char *accepted) {
    char quoted[4 * 80 + 4];
    add_message(r, "profcore: %s='%s': expected %s; profiling disabled", var, quote_value(val, quoted), accepted);
}

/* A gperftools switch variable: set means on; empty/1/true/yes accepted. */
static int parse_gperftools_switch(pcenv_result *r, const char *var, const char *val) {
    int on;
    char quoted[4 * 80 + 4];
    if (*val == '\0') return 1;
    if (pcenv_parse_bool(val, &on) == 0 && on) return 1;
    add_message(r,
                "profcore: %s='%s': gperftools treats any value as set; use 1 to enable or unset it "
                "to disable; profiling disabled",
                var, quote_value(val, quoted));
    return 0;
}

/* CPUPROFILE_TIMER_SIGNAL: gperftools' per-thread timers then deliver that
 * signal, so a program that owns SIGPROF can be profiled; the runtime's
 * timers, ticker, thread snapshots and handler, and the preload library's
 * signal guards, all follow it (pcp_options.signal).  Returns 1 when
 * accepted (a signal is set: per-thread timers, as in gperftools). */
static int accept_timer_signal(pcenv_result *r, const char *val) {
    if (val == NULL) return 0;
    int sig = 0;
    if (parse_signal_name_or_number(val, &sig) == 0 && pcprof_sampling_signal_ok(sig)) {
        r->config.timer_signal = sig == SIGPROF ? 0 : sig;
        return 1;
    }
    report_bad(r, "CPUPROFILE_TIMER_SIGNAL", val, PCENV_ACCEPT_TIMER_SIGNAL);
    return 0;
}

static void choose_output(pcenv_lookup_fn lookup, void *ctx, pcenv_result *r) {
    const char *mine = lookup(ctx, "PROFCORE_OUT");
    const char *theirs = lookup(ctx, "CPUPROFILE");
    if (mine != NULL) {
        r->config.out_from = "PROFCORE_OUT";
        if (pcenv_parse_path(mine, r->config.out) != 0)
            report_bad(r, "PROFCORE_OUT", mine, PCENV_ACCEPT_PATH);
        r->status = PCENV_PROFILE;
    } else if (theirs != NULL && *theirs != '\0') {
        r->config.out_from = "CPUPROFILE";
        if (pcenv_parse_path(theirs, r->config.out) != 0)
            report_bad(r, "CPUPROFILE", theirs, PCENV_ACCEPT_PATH);
        r->status = PCENV_PROFILE;
    }
}

/* PROFCORE_HTTP alone turns the library on (an endpoint, no whole-run
 * profile: config.out stays ""). */
static void choose_http(pcenv_lookup_fn lookup, void *ctx, pcenv_result *r) {
    const char *val = lookup(ctx, "PROFCORE_HTTP");
    if (val == NULL) return;
    r->status = PCENV_PROFILE;
    if (pcprof_endpoint_parse(val, &r->config.http_endpoint) == 0) r->config.http = 1;
    else report_bad(r, "PROFCORE_HTTP", val, PCPROF_ACCEPT_ENDPOINT);
}

static void choose_hz(pcenv_lookup_fn lookup, void *ctx, pcenv_result *r) {
    const char *var = "PROFCORE_HZ";
    const char *val = lookup(ctx, var);
    if (val == NULL) {
        var = "CPUPROFILE_FREQUENCY";
        val = lookup(ctx, var);
    }
    if (val == NULL) return;
    r->config.hz_from = var;
    if (pcenv_parse_hz(val, &r->config.hz) != 0) report_bad(r, var, val, PCENV_ACCEPT_HZ);
}

static void choose_engine(pcenv_lookup_fn lookup, void *ctx, pcenv_result *r) {
    /* The signal is read whatever decides the engine: it is not overridden
     * by PROFCORE_ENGINE, only combined with it. */
    int timer_signal_set = accept_timer_signal(r, lookup(ctx, "CPUPROFILE_TIMER_SIGNAL"));
    const char *val = lookup(ctx, "PROFCORE_ENGINE");
    if (val != NULL) {
        r->config.engine_from = "PROFCORE_ENGINE";
        if (pcenv_parse_engine(val, &r->config.engine) != 0)
            report_bad(r, "PROFCORE_ENGINE", val, PCENV_ACCEPT_ENGINE);
        return;
    }
    const char *realtime = lookup(ctx, "CPUPROFILE_REALTIME");
    const char *per_thread = lookup(ctx, "CPUPROFILE_PER_THREAD_TIMERS");
    /* Both are validated, even when REALTIME decides the engine. */
    int rt_ok = realtime != NULL && parse_gperftools_switch(r, "CPUPROFILE_REALTIME", realtime);
    int pt_ok = per_thread != NULL && parse_gperftools_switch(r, "CPUPROFILE_PER_THREAD_TIMERS", per_thread);
    /* gperftools turns per-thread timers on when a timer signal is named. */
    pt_ok |= timer_signal_set;
    if (rt_ok) {
        r->config.engine = PCPROF_ENGINE_WALL;
        r->config.engine_from = "CPUPROFILE_REALTIME";
    } else if (pt_ok) {
        r->config.engine = PCPROF_ENGINE_CTIMER;
        r->config.engine_from = per_thread != NULL ? "CPUPROFILE_PER_THREAD_TIMERS" : "CPUPROFILE_TIMER_SIGNAL";
    }
}

/* Settings that are each valid but not together. */
static void check_combinations(pcenv_result *r) {
    const pcenv_config *c = &r->config;
    if (c->toggle_signal != 0 && c->toggle_signal == c->snapshot_signal)
        add_message(r, "profcore: CPUPROFILESIGNAL and PROFCORE_SNAPSHOT_SIGNAL name the same signal (%d); "
                       "profiling disabled", c->toggle_signal);
    if (c->timer_signal != 0 && (c->timer_signal == c->toggle_signal || c->timer_signal == c->snapshot_signal))
        add_message(r, "profcore: CPUPROFILE_TIMER_SIGNAL is also the CPUPROFILESIGNAL or "
                       "PROFCORE_SNAPSHOT_SIGNAL signal (%d); profiling disabled", c->timer_signal);
    if (c->timer_signal != 0 && c->engine == PCPROF_ENGINE_ITIMER)
        add_message(r, "profcore: CPUPROFILE_TIMER_SIGNAL with the itimer engine: its kernel timer sends "
                       "SIGPROF only; profiling disabled");
    if (c->toggle_signal != 0 && c->period_ms != 0)
        add_message(r, "profcore: CPUPROFILESIGNAL and PROFCORE_PERIOD together: a signal-switched profile "
                       "is not rotated; choose one; profiling disabled");
}

static void choose_rest(pcenv_lookup_fn lookup, void *ctx, pcenv_result *r) {
    const char *val;
    if ((val = lookup(ctx, "PROFCORE_FORMAT")) != NULL && pcenv_parse_format(val, &r->config.format) != 0)
        report_bad(r, "PROFCORE_FORMAT", val, PCENV_ACCEPT_FORMAT);
    if ((val = lookup(ctx, "PROFCORE_UNWIND")) != NULL && pcenv_parse_unwind(val, &r->config.unwind) != 0)
        report_bad(r, "PROFCORE_UNWIND", val, PCENV_ACCEPT_UNWIND);
    if ((val = lookup(ctx, "PROFCORE_CHILDREN")) != NULL && pcenv_parse_bool(val, &r->config.children) != 0)
        report_bad(r, "PROFCORE_CHILDREN", val, PCENV_ACCEPT_BOOL);
    if ((val = lookup(ctx, "PROFCORE_SNAPSHOT_SIGNAL")) != NULL &&
        pcenv_parse_signal(val, &r->config.snapshot_signal) != 0)
        report_bad(r, "PROFCORE_SNAPSHOT_SIGNAL", val, PCENV_ACCEPT_SIGNAL);
    if ((val = lookup(ctx, "CPUPROFILESIGNAL")) != NULL && pcenv_parse_signal(val, &r->config.toggle_signal) != 0)
        report_bad(r, "CPUPROFILESIGNAL", val, PCENV_ACCEPT_SIGNAL);
    if ((val = lookup(ctx, "PROFCORE_PERIOD")) != NULL && pcenv_parse_period(val, &r->config.period_ms) != 0)
        report_bad(r, "PROFCORE_PERIOD", val, PCENV_ACCEPT_PERIOD);
    check_combinations(r);
}

void pcenv_parse(pcenv_lookup_fn lookup, void *ctx, pcenv_result *r) {
    memset(r, 0, sizeof *r);
    r->status = PCENV_OFF;
    r->config.hz = PCENV_DEFAULT_HZ;
    r->config.engine = PCPROF_ENGINE_CTIMER;
    r->config.unwind = PCPROF_UNWIND_AUTO;
    r->config.format = PCPROF_FORMAT_PPROF;
    r->config.out_from = r->config.hz_from = r->config.engine_from = "default";
    choose_output(lookup, ctx, r);
    choose_http(lookup, ctx, r);
    if (r->status == PCENV_OFF) return; /* not asked to profile: nothing else matters */
    choose_hz(lookup, ctx, r);
    choose_engine(lookup, ctx, r);
    choose_rest(lookup, ctx, r);
    if (r->nerrors > 0) r->status = PCENV_REFUSED;
}

static const char *lookup_getenv(void *ctx, const char *name) {
    (void)ctx;
    return getenv(name);
}

void pcenv_parse_environ(pcenv_result *out) { pcenv_parse(lookup_getenv, NULL, out); }
