/* envconfig.h — the strict parser of the profiler's environment variables.
 *
 * The LD_PRELOAD library calls pcenv_parse() once, in its constructor, and
 * `profcore record` uses the per-value parsers to validate its options with
 * exactly the same rules.  No allocation; the result lives in one struct.
 *
 * Variables (PROFCORE_* take precedence over gperftools' CPUPROFILE*; a
 * variable that is overridden is not examined at all):
 *   PROFCORE_OUT / CPUPROFILE   output path; setting either turns profiling
 *                               on.  An empty CPUPROFILE counts as unset
 *                               (gperftools does the same); an empty
 *                               PROFCORE_OUT is an error.
 *   PROFCORE_HZ / CPUPROFILE_FREQUENCY   decimal integer 1..100000, nothing
 *                               else: no sign, no spaces, no junk, no overflow.
 *   PROFCORE_ENGINE             ctimer | itimer | perf | wall
 *   CPUPROFILE_REALTIME         gperftools samples real (wall) time when this
 *                               is set, whatever its value: we map it to the
 *                               `wall` engine.  Accepted values: empty, 1,
 *                               true, yes.  0/false/no are refused, because
 *                               gperftools would treat them as "on" and we
 *                               will not guess which meaning was intended.
 *   CPUPROFILE_PER_THREAD_TIMERS  same values; maps to `ctimer`.  If both
 *                               gperftools variables are set, REALTIME wins
 *                               (it decides *what* is measured; per-thread
 *                               timers only decide *how*).
 *   PROFCORE_FORMAT             pprof | legacy | collapsed
 *   PROFCORE_CHILDREN           0 | 1 | true | false | yes | no
 *   PROFCORE_UNWIND             auto | tables | fp (how stacks are walked)
 *   PROFCORE_SNAPSHOT_SIGNAL    a number (1..SIGRTMAX) or a name: SIGUSR2,
 *                               USR2, SIGRTMIN+3, RTMAX-1.  Refused: SIGKILL,
 *                               SIGSTOP (cannot be caught), SIGPROF (the
 *                               timer engines use it), and the synchronous
 *                               fault signals SEGV/BUS/ILL/FPE/TRAP.
 *   CPUPROFILESIGNAL            gperftools' profiling switch: the same
 *                               values as PROFCORE_SNAPSHOT_SIGNAL (a
 *                               different signal).  Profiling does not start
 *                               at load; each delivery of the signal starts
 *                               a profile into OUT.0, OUT.1, ... or stops
 *                               and writes the running one (preload.c).
 *   CPUPROFILE_TIMER_SIGNAL     gperftools' signal for per-thread timers, so
 *                               a program that owns SIGPROF can be profiled:
 *                               a number or name (SIGRTMIN+4, 38, USR1) of
 *                               SIGPROF, SIGVTALRM, SIGALRM, SIGUSR1, SIGUSR2
 *                               or a real-time signal (pcprof_sampling_signal_ok);
 *                               selects ctimer as PER_THREAD_TIMERS does
 *                               (REALTIME still wins: wall).  Refused with
 *                               PROFCORE_ENGINE=itimer (its kernel timer
 *                               sends SIGPROF) and when it is also the
 *                               snapshot or CPUPROFILESIGNAL signal.
 *   PROFCORE_PERIOD             rotation: <digits><unit>, unit ms, s, m or h,
 *                               1 s .. 24 h ("60s", "1500ms", "5m").  A
 *                               complete profile every period, into
 *                               OUT.<seq> (before a ".pb.gz" ending:
 *                               prof.pb.gz -> prof.0.pb.gz, prof.1.pb.gz ...).
 *                               A bare number is refused (seconds or
 *                               milliseconds would be a guess).  Not with
 *                               CPUPROFILESIGNAL.
 *   PERFTOOLS_VERBOSE, PERFTOOLS_UNITTEST  gperftools' own log verbosity
 *                               and test switch: they change no profile
 *                               and are not read.
 *   PROFCORE_HTTP               the pprof endpoint's address (endpoint.h:
 *                               127.0.0.1:PORT, :PORT, unix:/path, ...).
 *                               Turns the library on by itself: with no
 *                               output path, nothing samples until a client
 *                               asks for a window (config.out is "").
 *
 * Policy: profiling is off unless an output path or PROFCORE_HTTP is given
 * (then nothing else is examined).  With either, any invalid value refuses
 * profiling and the endpoint: the
 * program still runs, unprofiled, and the reason is one line per bad
 * variable in `messages` ("profcore: PROFCORE_HZ='10x': expected an integer
 * 1..100000").  We never substitute a default for a value the user wrote.
 * Values the user did not set take the defaults below.
 */
#ifndef PROFCORE_CLI_ENVCONFIG_H
#define PROFCORE_CLI_ENVCONFIG_H

#include <limits.h>
#include <stddef.h>

#include "endpoint.h"
#include "profcore_profiler.h"
#include "vocab.h"

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

#define PCENV_HZ_MIN 1u
#define PCENV_HZ_MAX ((unsigned)PCP_MAX_HZ) /* the API's limit: one frequency range */
#define PCENV_DEFAULT_HZ 100u /* gperftools' default too */
#define PCENV_MESSAGES_MAX 1024


typedef enum {
    PCENV_OFF = 0,     /* no output path: do not profile, nothing to say */
    PCENV_PROFILE = 1, /* profile with `config` */
    PCENV_REFUSED = 2  /* a value was invalid: do not profile; see messages */
} pcenv_status;

typedef struct pcenv_config {
    char out[PATH_MAX];
    unsigned hz;
    pcprof_engine engine;
    pcprof_format format;
    int children;        /* 0 or 1 */
    int snapshot_signal; /* 0: none */
    int toggle_signal;   /* CPUPROFILESIGNAL, 0: none */
    unsigned period_ms;  /* PROFCORE_PERIOD, 0: one profile at the end */
    int timer_signal;    /* CPUPROFILE_TIMER_SIGNAL, 0: SIGPROF */
    pcprof_unwind unwind;
    int http;              /* 1: PROFCORE_HTTP asked for the endpoint */
    pcprof_endpoint http_endpoint;
    /* Which variable supplied each value ("default" if none): for the
     * summary and for messages. */
    const char *out_from, *hz_from, *engine_from;
} pcenv_config;

typedef struct pcenv_result {
    pcenv_status status;
    pcenv_config config;
    int nerrors;
    char messages[PCENV_MESSAGES_MAX]; /* one line per error, each ending in '\n' */
} pcenv_result;

/* Where values come from: getenv-like, returns NULL for unset.  Lets tests
 * and the fuzzer feed an environment without touching the real one. */
typedef const char *(*pcenv_lookup_fn)(void *ctx, const char *name);

void pcenv_parse(pcenv_lookup_fn lookup, void *ctx, pcenv_result *out);
/* The same, on the process environment (getenv). */
void pcenv_parse_environ(pcenv_result *out);

/* Per-value parsers: 0 on success, -1 on an invalid value (then *out is
 * untouched).  pcenv_describe_* give what is accepted, for messages. */
int pcenv_parse_hz(const char *s, unsigned *out);
int pcenv_parse_engine(const char *s, pcprof_engine *out);
int pcenv_parse_format(const char *s, pcprof_format *out);
int pcenv_parse_bool(const char *s, int *out);
int pcenv_parse_signal(const char *s, int *out);
int pcenv_parse_path(const char *s, char out[PATH_MAX]);
int pcenv_parse_unwind(const char *s, pcprof_unwind *out);
int pcenv_parse_period(const char *s, unsigned *out_ms);


#define PCENV_ACCEPT_HZ "an integer 1..100000"
#define PCENV_ACCEPT_ENGINE "one of ctimer, itimer, perf, wall"
#define PCENV_ACCEPT_FORMAT "one of pprof, legacy, collapsed"
#define PCENV_ACCEPT_UNWIND "one of auto, tables, fp"
#define PCENV_ACCEPT_BOOL "one of 0, 1, true, false, yes, no"
#define PCENV_ACCEPT_SIGNAL                                                                        \
    "a catchable signal number or name (SIGUSR2, USR2, SIGRTMIN+3), not KILL/STOP/PROF/SEGV/BUS/ILL/FPE/TRAP"
#define PCENV_PERIOD_MIN_MS ((unsigned long)PCP_MIN_PERIOD_MS) /* the API's limits */
#define PCENV_PERIOD_MAX_MS ((unsigned long)PCP_MAX_PERIOD_MS)
#define PCENV_ACCEPT_PERIOD "a duration 1s..24h with a unit: 60s, 1500ms, 5m, 1h"
#define PCENV_ACCEPT_TIMER_SIGNAL                                                                  \
    "a signal number or name among SIGPROF, SIGVTALRM, SIGALRM, SIGUSR1, SIGUSR2, SIGRTMIN..SIGRTMAX"
#define PCENV_ACCEPT_PATH "a non-empty path shorter than PATH_MAX"

#endif
