/* profcore — the command-line tool.
 *
 *   profcore record [-F hz] [-e engine] [-o file] [--format f] [--no-children]
 *                   [--per-process] -- command args...
 *   profcore record -p PID [-d seconds] [-o file]
 *   profcore top [-n N] FILE
 *
 * `record` runs the command with the preload library (libprofcore.so next
 * to this binary, or $PROFCORE_LIB) and the PROFCORE_* variables, forwards
 * termination signals, exits with the command's status (128+signal when it
 * was killed, as shells do), then prints a summary on stderr (stdout stays
 * the command's).
 *
 * `record` owns the output (recorder.h): no profiled process writes a file;
 * each sends its profile to the recorder, which writes one profile for the
 * whole tree (every sample labelled pid and comm) or, with --per-process,
 * one file per process.  The whole tree is profiled unless --no-children.
 *
 * `record -p PID` profiles a running process for -d seconds through the
 * pprof endpoint it serves (PROFCORE_HTTP, pcp_http_start; fetch.c) and
 * prints the same summary.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "binkind.h"
#include "envconfig.h"
#include "fetch.h"
#include "readers.h"
#include "recorder.h"

#define EXIT_USAGE 2

static void usage(FILE *out) {
    fprintf(out,
            "usage: profcore record [-F hz] [-e ctimer|itimer|perf|wall] [-o file]\n"
            "                       [--format pprof|legacy|collapsed] [--unwind auto|tables|fp]\n"
            "                       [--no-children] [--per-process] -- command [args...]\n"
            "       profcore record -p PID [-d seconds] [-o file]   (a process serving PROFCORE_HTTP)\n"
            "       profcore top [-n N] FILE\n");
}

/* ---- top -------------------------------------------------------------- */

static void format_weight(char *buf, size_t n, const rd_profile *p, int64_t w) {
    if (p->has_value_ns) snprintf(buf, n, "%.2fs", (double)w / 1e9);
    else snprintf(buf, n, "%" PRId64, w);
}

static int print_top(FILE *out, const rd_profile *p, int n) {
    rd_func_stat *st;
    size_t nst;
    int64_t total;
    if (rd_top(p, &st, &nst, &total) != 0) {
        fprintf(stderr, "profcore: out of memory\n");
        return -1;
    }
    fprintf(out, "%10s %6s %6s %10s %6s  %s\n", "flat", "flat%", "sum%", "cum", "cum%", "function");
    double sum = 0;
    for (size_t i = 0; i < nst && (int)i < n; i++) {
        char flat[32], cum[32];
        double fp = total ? 100.0 * (double)st[i].flat / (double)total : 0;
        double cp = total ? 100.0 * (double)st[i].cum / (double)total : 0;
        sum += fp;
        format_weight(flat, sizeof flat, p, st[i].flat);
        format_weight(cum, sizeof cum, p, st[i].cum);
        fprintf(out, "%10s %5.1f%% %5.1f%% %10s %5.1f%%  %s\n", flat, fp, sum, cum, cp, rd_name(p, st[i].name));
    }
    free(st);
    return 0;
}

static int parse_count(const char *s, int *out) {
    unsigned hz; /* same strict decimal rules as PROFCORE_HZ, range 1..100000 */
    if (pcenv_parse_hz(s, &hz) != 0) return -1;
    *out = (int)hz;
    return 0;
}

static int cmd_top(int argc, char **argv) {
    int n = 20, c;
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    while ((c = getopt_long(argc, argv, "+n:h", opts, NULL)) != -1) {
        if (c == 'n' && parse_count(optarg, &n) == 0) continue;
        if (c == 'n') fprintf(stderr, "profcore top: -n '%s': expected an integer 1..100000\n", optarg);
        if (c == 'h') {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return EXIT_USAGE;
    }
    if (argc - optind != 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    rd_limits lim = RD_LIMITS_DEFAULT;
    rd_profile p;
    char err[256];
    const char *path = argv[optind];
    if (rd_read_file(path, &lim, &p, err, sizeof err) != 0) {
        fprintf(stderr, "profcore top: %s: %s\n", path, err);
        return 1;
    }
    int64_t total = 0;
    for (size_t i = 0; i < p.nsamples; i++) total += p.samples[i].count;
    printf("%s: %s profile, %zu stacks, %" PRId64 " samples\n", path, pcprof_format_name(p.format), p.nsamples, total);
    int rc = print_top(stdout, &p, n) == 0 ? 0 : 1;
    rd_free(&p);
    return rc;
}

/* ---- record: the command and its binary ------------------------------ */

static int find_library(char out[PATH_MAX]) {
    const char *env = getenv("PROFCORE_LIB");
    if (env != NULL) {
        if (*env == '\0' || strlen(env) >= PATH_MAX) return -1;
        strcpy(out, env);
    } else {
        char self[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) return -1;
        self[n] = '\0';
        if (snprintf(out, PATH_MAX, "%s/libprofcore.so", dirname(self)) >= PATH_MAX) return -1;
    }
    /* Absolute, so LD_PRELOAD stays meaningful in descendants that chdir. */
    char real[PATH_MAX];
    if (realpath(out, real) == NULL || access(real, R_OK) != 0) return -1;
    strcpy(out, real);
    return 0;
}

/* Makes the output path absolute (the program may chdir before it writes). */
static int absolute_output(const char *path, char out[PATH_MAX]) {
    char dir[PATH_MAX], base[PATH_MAX], realdir[PATH_MAX];
    if (strlen(path) >= PATH_MAX) return -1;
    strcpy(dir, path);
    strcpy(base, path);
    if (realpath(dirname(dir), realdir) == NULL) return -1;
    const char *b = basename(base);
    if (strcmp(b, "/") == 0 || strcmp(b, ".") == 0 || strcmp(b, "..") == 0) {
        errno = EISDIR;
        return -1;
    }
    if (snprintf(out, PATH_MAX, "%s/%s", strcmp(realdir, "/") ? realdir : "", b) >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

/* ---- record: signals ----------------------------------------------------- */

static volatile sig_atomic_t child_pid;
/* A signal that came after the program exited: the recorder forwards it to
 * the processes the program left running. */
static volatile sig_atomic_t pending_forward;
static const int forwarded_signals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

/* A terminal's ^C/^\ (si_code > 0, from the kernel) already reached the
 * child, which is in our process group: forwarding it would deliver it
 * twice.  A kill(2) from another process (si_code <= 0) reached only us. */
static void forward_signal(int sig, siginfo_t *info, void *uc) {
    (void)uc;
    if (info->si_code > 0) return;
    if (child_pid > 0) kill((pid_t)child_pid, sig);
    else pending_forward = sig;
}

static void ignore_signal(int sig) { (void)sig; }

static void set_forwarding(sigset_t *blocked) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = forward_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(blocked);
    for (size_t i = 0; i < sizeof forwarded_signals / sizeof forwarded_signals[0]; i++) {
        sigaction(forwarded_signals[i], &sa, NULL);
        sigaddset(blocked, forwarded_signals[i]);
    }
    /* The recorder must outlive a closed stderr (`record ... 2>&1 | head`):
     * SIGPIPE would end it while the tree still sends.  A handler, not
     * SIG_IGN, so the program's exec resets it to the default. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ignore_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGPIPE, &sa, NULL);
}

static void reset_signals_in_child(const sigset_t *blocked) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    for (size_t i = 0; i < sizeof forwarded_signals / sizeof forwarded_signals[0]; i++)
        sigaction(forwarded_signals[i], &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL); /* the recorder's */
    sigprocmask(SIG_UNBLOCK, blocked, NULL);
}

/* ---- record: the summary ------------------------------------------------- */

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

static int is_lost_frame(const char *name) { return strncmp(name, "[lost", 5) == 0; }

static void print_losses(const rd_profile *p, int64_t total) {
    int64_t lost = 0;
    for (size_t i = 0; i < p->nsamples; i++) {
        const rd_sample *s = &p->samples[i];
        if (s->depth > 0 && is_lost_frame(rd_name(p, p->frames[s->first_frame]))) lost += s->count;
    }
    if (lost == 0) {
        fprintf(stderr, "profcore: no samples lost\n");
        return;
    }
    fprintf(stderr, "profcore: %" PRId64 " samples lost (%.2f%%):", lost, total ? 100.0 * (double)lost / (double)total : 0);
    /* Group by reason: the distinct [lost: ...] names, each summed once. */
    for (uint32_t id = 0; id < p->nnames; id++) {
        if (!is_lost_frame(rd_name(p, id))) continue;
        int64_t n = 0;
        for (size_t i = 0; i < p->nsamples; i++) {
            const rd_sample *s = &p->samples[i];
            if (s->depth > 0 && p->frames[s->first_frame] == id) n += s->count;
        }
        if (n > 0) fprintf(stderr, " %s %" PRId64, rd_name(p, id), n);
    }
    fputc('\n', stderr);
}

static void summarize(const char *out, const pcenv_config *cfg, const struct rusage *ru, double wall_s) {
    rd_limits lim = RD_LIMITS_DEFAULT;
    rd_profile p;
    char err[256];
    if (rd_read_file(out, &lim, &p, err, sizeof err) != 0) {
        fprintf(stderr, "profcore: cannot read the profile back: %s\n", err);
        return;
    }
    int64_t count = 0, ns = 0;
    for (size_t i = 0; i < p.nsamples; i++) {
        count += p.samples[i].count;
        if (p.has_value_ns) ns += p.samples[i].value_ns;
    }
    double profiled_s;
    if (p.has_value_ns) profiled_s = (double)ns / 1e9;
    else if (p.period_ns > 0) profiled_s = (double)count * (double)p.period_ns / 1e9;
    else profiled_s = (double)count / (double)cfg->hz; /* collapsed: one count = one period */
    double measured_s = seconds(ru->ru_utime) + seconds(ru->ru_stime);
    fprintf(stderr, "profcore: profile %s (%s), %" PRId64 " samples at %u Hz, engine %s\n", out,
            pcprof_format_name(p.format), count, cfg->hz, pcprof_engine_name(cfg->engine));
    if (cfg->engine == PCPROF_ENGINE_WALL)
        fprintf(stderr, "profcore: %.3f s sampled (wall clock, all threads) over %.3f s elapsed\n", profiled_s, wall_s);
    else
        fprintf(stderr, "profcore: CPU profiled %.3f s of %.3f s measured (%.1f%%), %.3f s elapsed\n", profiled_s,
                measured_s, measured_s > 0 ? 100.0 * profiled_s / measured_s : 0.0, wall_s);
    print_losses(&p, count);
    for (size_t i = 0; i < p.ncomments; i++) {
        const char *c = rd_name(&p, p.comments[i]);
        /* "profcore.handler_ns_mean=..." and the writer's "profcore engine=..." */
        if (strncmp(c, "profcore.", 9) == 0 || strncmp(c, "profcore ", 9) == 0) fprintf(stderr, "profcore: %s\n", c);
    }
    print_top(stderr, &p, 10);
    rd_free(&p);
}

/* ---- record -------------------------------------------------------------- */

typedef struct record_opts {
    pcenv_config cfg;
    const char *out_arg;
    char **command;
    int per_process;
    pid_t pid;        /* -p: a running process, through its pprof endpoint */
    unsigned seconds; /* -d */
    int set_by_user;  /* an option that -p does not take was given */
} record_opts;

/* -p PID and -d SECONDS: strict decimals (1..2^31-1; 1..3599, the endpoint's limit). */
static int parse_pid(const char *s, pid_t *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v < 1 || v > 0x7fffffff) return -1;
    *out = (pid_t)v;
    return 0;
}

static int parse_seconds(const char *s, unsigned *out) {
    unsigned v;
    if (pcenv_parse_hz(s, &v) != 0 || v > 3599) return -1; /* the same strict digits */
    *out = v;
    return 0;
}

static const char *default_output(pcprof_format f) {
    switch (f) {
    case PCPROF_FORMAT_PPROF: return "profcore.pb.gz";
    case PCPROF_FORMAT_LEGACY: return "profcore.prof";
    case PCPROF_FORMAT_COLLAPSED: return "profcore.collapsed";
    }
    return "profcore.out";
}

static int parse_record_args(int argc, char **argv, record_opts *o) {
    static const struct option opts[] = {{"format", required_argument, 0, 'f'},
                                         {"children", no_argument, 0, 'c'},
                                         {"no-children", no_argument, 0, 'C'},
                                         {"per-process", no_argument, 0, 'P'},
                                         {"unwind", required_argument, 0, 'u'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    memset(o, 0, sizeof *o);
    o->cfg.hz = PCENV_DEFAULT_HZ;
    o->cfg.engine = PCPROF_ENGINE_CTIMER;
    o->cfg.unwind = PCPROF_UNWIND_AUTO;
    o->cfg.format = PCPROF_FORMAT_PPROF;
    o->cfg.children = 1; /* record follows the whole tree, as perf record does */
    optind = 1;
    opterr = 1;
    /* '+': stop at the command's name so its own options stay its own. */
    o->seconds = 30; /* Go's default window */
    while ((c = getopt_long(argc, argv, "+F:e:o:p:d:h", opts, NULL)) != -1) {
        if (c == 'F' || c == 'e' || c == 'f' || c == 'u' || c == 'c' || c == 'C' || c == 'P') o->set_by_user = 1;
        switch (c) {
        case 'p':
            if (parse_pid(optarg, &o->pid) != 0) {
                fprintf(stderr, "profcore record: -p '%s': expected a process id\n", optarg);
                return -1;
            }
            break;
        case 'd':
            if (parse_seconds(optarg, &o->seconds) != 0) {
                fprintf(stderr, "profcore record: -d '%s': expected seconds 1..3599\n", optarg);
                return -1;
            }
            break;
        case 'F':
            if (pcenv_parse_hz(optarg, &o->cfg.hz) != 0) {
                fprintf(stderr, "profcore record: -F '%s': expected %s\n", optarg, PCENV_ACCEPT_HZ);
                return -1;
            }
            break;
        case 'e':
            if (pcenv_parse_engine(optarg, &o->cfg.engine) != 0) {
                fprintf(stderr, "profcore record: -e '%s': expected %s\n", optarg, PCENV_ACCEPT_ENGINE);
                return -1;
            }
            break;
        case 'f':
            if (pcenv_parse_format(optarg, &o->cfg.format) != 0) {
                fprintf(stderr, "profcore record: --format '%s': expected %s\n", optarg, PCENV_ACCEPT_FORMAT);
                return -1;
            }
            break;
        case 'o':
            if (*optarg == '\0') {
                fprintf(stderr, "profcore record: -o: expected %s\n", PCENV_ACCEPT_PATH);
                return -1;
            }
            o->out_arg = optarg;
            break;
        case 'u':
            if (pcenv_parse_unwind(optarg, &o->cfg.unwind) != 0) {
                fprintf(stderr, "profcore record: --unwind '%s': expected %s\n", optarg, PCENV_ACCEPT_UNWIND);
                return -1;
            }
            break;
        case 'c': o->cfg.children = 1; break;
        case 'C': o->cfg.children = 0; break;
        case 'P': o->per_process = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (o->pid != 0) {
        if (optind < argc || o->set_by_user) {
            fprintf(stderr, "profcore record -p: takes only -d and -o: the process samples with its own "
                            "PROFCORE_HZ, PROFCORE_ENGINE and PROFCORE_UNWIND, and serves pprof\n");
            return -1;
        }
        return 0;
    }
    if (optind >= argc) {
        fprintf(stderr, "profcore record: no command given (profcore record [options] -- command args...)\n");
        return -1;
    }
    o->command = argv + optind;
    return 0;
}

/* Puts the configuration in the environment the command will inherit, and
 * checks it with the very parser the preload library will run. */
static int export_environment(const record_opts *o, const char *lib, const char *channel) {
    char hz[16], ld[2 * PATH_MAX + 2];
    const char *old = getenv("LD_PRELOAD");
    snprintf(hz, sizeof hz, "%u", o->cfg.hz);
    if (old != NULL && *old != '\0') {
        if (snprintf(ld, sizeof ld, "%s:%s", lib, old) >= (int)sizeof ld) {
            fprintf(stderr, "profcore record: LD_PRELOAD is too long\n");
            return -1;
        }
    } else {
        snprintf(ld, sizeof ld, "%s", lib);
    }
    /* gperftools, if linked into the program, must not profile too. */
    unsetenv("CPUPROFILE");
    if (setenv("LD_PRELOAD", ld, 1) || setenv("PROFCORE_OUT", o->cfg.out, 1) || setenv("PROFCORE_HZ", hz, 1) ||
        setenv("PROFCORE_ENGINE", pcprof_engine_name(o->cfg.engine), 1) ||
        setenv("PROFCORE_FORMAT", pcprof_format_name(o->cfg.format), 1) ||
        setenv("PROFCORE_UNWIND", pcprof_unwind_name(o->cfg.unwind), 1) ||
        setenv("PROFCORE_CHILDREN", o->cfg.children ? "1" : "0", 1) || setenv(PCREC_ENV, channel, 1)) {
        fprintf(stderr, "profcore record: setenv: %s\n", strerror(errno));
        return -1;
    }
    pcenv_result r;
    pcenv_parse_environ(&r);
    if (r.status != PCENV_PROFILE) {
        fputs(r.messages, stderr);
        return -1;
    }
    return 0;
}

/* 0: profile it; 1: run it unprofiled (preload cannot reach it: static or
 * not a 64-bit program).  The program always runs: profcore never changes
 * what it does or its exit status, it only says why there is no profile. */
static int check_command(const char *path) {
    switch (pcbin_inspect(path)) {
    case PCBIN_STATIC:
        fprintf(stderr,
                "profcore record: %s is statically linked: LD_PRELOAD cannot work there; it will run unprofiled.\n"
                "profcore record: to profile it, link the profiler into it (libprofcore.a, see profiler/include/).\n",
                path);
        return 1;
    case PCBIN_OTHER_CLASS:
        fprintf(stderr,
                "profcore record: %s is not a 64-bit ELF program: the preload library cannot load into it; "
                "it will run unprofiled.\n",
                path);
        return 1;
    case PCBIN_UNREADABLE: /* execute-only, perhaps: exec decides, and says why if it cannot */
    case PCBIN_DYNAMIC:
    case PCBIN_NOT_ELF: /* a script: its interpreter is what runs */
        break;
    }
    if (pcbin_runs_setuid(path))
        fprintf(stderr, "profcore record: %s is setuid/setgid: the loader ignores LD_PRELOAD, it will run unprofiled.\n", path);
    return 0;
}

static int exit_status_of(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 1;
}

static int same_format(const rec_image **v, size_t n) {
    for (size_t i = 1; i < n; i++)
        if (v[i]->format != v[0]->format) return 0;
    return 1;
}

/* One process's images (one per exec) as one file: merged when their
 * format allows, else the last image (the earlier ones are named). */
static int write_process(const char *path, const rec_image **imgs, size_t n) {
    char err[PATH_MAX + 128];
    unsigned char *data = NULL;
    size_t len = 0;
    const rec_image *last = imgs[n - 1];
    int merged = n > 1 && same_format(imgs, n) && last->format != PCPROF_FORMAT_LEGACY &&
                 rec_merge(imgs, n, last->format, &data, &len, err, sizeof err) == 0;
    if (n > 1 && !merged)
        fprintf(stderr, "profcore: pid %d: only its last image (%s) is in %s; %zu earlier one%s could not be merged\n",
                (int)last->pid, last->comm, path, n - 1, n == 2 ? "" : "s");
    int rc = rec_write_file(path, merged ? data : last->data, merged ? len : last->len, err, sizeof err);
    free(data);
    if (rc != 0) fprintf(stderr, "profcore: pid %d (%s): %s; its profile is lost\n", (int)last->pid, last->comm, err);
    return rc;
}

/* --per-process (or a format with no labels): one file per pid, the root's
 * OUT, every other OUT.<pid>.  Returns the path the summary reads (OUT, or
 * the first written), or NULL. */
static const char *write_per_process(const char *out, pid_t root, const rec_image **v, size_t n, char *first,
                                     size_t firstlen) {
    const char *summary_path = NULL;
    const rec_image **group = malloc((n ? n : 1) * sizeof *group);
    if (group == NULL) {
        fprintf(stderr, "profcore: out of memory: no profile written\n");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        int seen = 0;
        for (size_t k = 0; k < i && !seen; k++) seen = v[k]->pid == v[i]->pid;
        if (seen) continue;
        size_t g = 0;
        for (size_t k = i; k < n; k++)
            if (v[k]->pid == v[i]->pid) group[g++] = v[k];
        char path[PATH_MAX + 48];
        int len = v[i]->pid == root ? snprintf(path, sizeof path, "%s", out)
                                    : snprintf(path, sizeof path, "%s.%d", out, (int)v[i]->pid);
        if (len >= (int)sizeof path) {
            fprintf(stderr, "profcore: output path too long for pid %d; its profile is lost\n", (int)v[i]->pid);
            continue;
        }
        if (write_process(path, group, g) != 0) continue;
        if (summary_path == NULL || v[i]->pid == root) {
            snprintf(first, firstlen, "%s", path);
            summary_path = first;
        }
    }
    free(group);
    return summary_path;
}

/* One profile for the tree.  Returns the path written, or NULL. */
static const char *write_merged(const char *out, const rec_image **v, size_t n) {
    unsigned char *data;
    size_t len;
    char err[PATH_MAX + 128];
    if (rec_merge(v, n, v[0]->format, &data, &len, err, sizeof err) != 0) {
        fprintf(stderr, "profcore: cannot merge the tree's profiles: %s\n", err);
        return NULL;
    }
    int rc = rec_write_file(out, data, len, err, sizeof err);
    free(data);
    if (rc != 0) {
        fprintf(stderr, "profcore: %s: the tree's profile is lost\n", err);
        return NULL;
    }
    return out;
}

/* Writes what arrived and prints the summary. */
static void finish_record(const record_opts *o, recorder *r, pid_t root, int status, double wall) {
    size_t n;
    const rec_image **v = rec_profiles(r, &n);
    if (v == NULL) {
        fprintf(stderr, "profcore: out of memory: no profile written\n");
        return;
    }
    int several = r->nimages > 1 || n != r->nimages;
    for (size_t i = 0; i < r->nimages; i++) several |= r->images[i].exec_note[0] != '\0';
    if (several) fprintf(stderr, "profcore: processes of the tree:\n");
    if (several || r->refused) rec_report(r, stderr);
    char first[PATH_MAX + 48];
    const char *written = NULL;
    int per_file = 0;
    if (n == 0) {
        fprintf(stderr, "profcore: no profile was written to %s (no process of the tree sent one%s)\n", o->cfg.out,
                WIFSIGNALED(status) ? "; the program was killed before the profiler could send it" : "");
    } else if ((per_file = o->per_process || !same_format(v, n) || v[0]->format == PCPROF_FORMAT_LEGACY)) {
        if (!o->per_process && n > 1)
            fprintf(stderr, "profcore: %s: one file per process (%s)\n", o->cfg.out,
                    same_format(v, n) ? "the legacy format has no labels to tell processes apart"
                                      : "the processes sent different formats");
        written = write_per_process(o->cfg.out, root, v, n, first, sizeof first);
    } else {
        written = write_merged(o->cfg.out, v, n);
    }
    struct rusage ru = r->tree_ru;
    if (written != NULL && per_file && n > 1) {
        /* One process's file: measured is that process's CPU (its clock
         * spans its execs: the last image's word), not the tree's. */
        uint64_t ns = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i]->pid == root && v[i]->sender_cpu_ns > ns) ns = v[i]->sender_cpu_ns;
        memset(&ru, 0, sizeof ru);
        ru.ru_utime.tv_sec = (time_t)(ns / 1000000000u);
        ru.ru_utime.tv_usec = (suseconds_t)(ns % 1000000000u / 1000u);
        fprintf(stderr, "profcore: one file per process; below, %s alone (pid %d)\n", written, (int)root);
    }
    free(v);
    if (written != NULL) summarize(written, &o->cfg, &ru, wall);
}

/* fork + exec of the command, signals reset in the child; -1 if fork failed. */
static pid_t spawn(const char *cmd, char **argv, const sigset_t *blocked) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "profcore record: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        reset_signals_in_child(blocked);
        execv(cmd, argv);
        int e = errno;
        fprintf(stderr, "profcore record: cannot run %s: %s\n", cmd, strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    child_pid = pid;
    sigprocmask(SIG_UNBLOCK, blocked, NULL);
    return pid;
}

static int run_unprofiled(const char *cmd, char **argv, const sigset_t *blocked) {
    sigprocmask(SIG_BLOCK, blocked, NULL); /* until child_pid is known */
    pid_t pid = spawn(cmd, argv, blocked);
    if (pid < 0) return 1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return 1;
    child_pid = 0;
    return exit_status_of(status);
}

/* The frequency and engine the process sampled with, from the profile's
 * "profcore engine=E hz=N" comment (the summary names them). */
static void config_from_profile(const char *path, pcenv_config *cfg) {
    rd_limits lim = RD_LIMITS_DEFAULT;
    rd_profile p;
    char err[256], engine[16];
    unsigned hz;
    if (rd_read_file(path, &lim, &p, err, sizeof err) != 0) return;
    for (size_t i = 0; i < p.ncomments; i++)
        if (sscanf(rd_name(&p, p.comments[i]), "profcore engine=%15s hz=%u", engine, &hz) == 2) {
            cfg->hz = hz;
            pcenv_parse_engine(engine, &cfg->engine);
        }
    rd_free(&p);
}

/* User plus system CPU of a process so far (/proc/PID/stat), in seconds. */
static double process_cpu_s(pid_t pid) {
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* record -p: one window of a running process, then the summary. */
static int record_attached(record_opts *o) {
    const char *out = o->out_arg ? o->out_arg : default_output(PCPROF_FORMAT_PPROF);
    if (absolute_output(out, o->cfg.out) != 0) {
        fprintf(stderr, "profcore record: output '%s': %s\n", out, strerror(errno));
        return EXIT_USAGE;
    }
    cli_window w;
    char err[700];
    double cpu0 = process_cpu_s(o->pid);
    int rc = cli_fetch_window(o->pid, o->seconds, o->cfg.out, &w, err, sizeof err);
    double cpu1 = process_cpu_s(o->pid);
    if (rc != 0) {
        fprintf(stderr, "profcore record -p: %s\n", err);
        return rc;
    }
    fprintf(stderr, "profcore: %u s of process %d through its pprof endpoint %s\n", o->seconds, (int)o->pid,
            w.address);
    /* The window's own CPU clock when the endpoint sent it; else the
     * process's CPU over the whole request (a little more than the window). */
    double cpu = w.cpu_ns > 0 ? (double)w.cpu_ns / 1e9 : cpu1 - cpu0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    ru.ru_utime.tv_sec = (time_t)cpu;
    ru.ru_utime.tv_usec = (suseconds_t)((cpu - (double)(time_t)cpu) * 1e6);
    config_from_profile(o->cfg.out, &o->cfg);
    summarize(o->cfg.out, &o->cfg, &ru, w.wall_s);
    return 0;
}

static int cmd_record(int argc, char **argv) {
    record_opts o;
    char lib[PATH_MAX], cmd[PATH_MAX], err[256];
    if (parse_record_args(argc, argv, &o) != 0) return EXIT_USAGE;
    if (o.pid != 0) return record_attached(&o);
    const char *out = o.out_arg ? o.out_arg : default_output(o.cfg.format);
    if (absolute_output(out, o.cfg.out) != 0) {
        fprintf(stderr, "profcore record: output '%s': %s\n", out, strerror(errno));
        return EXIT_USAGE;
    }
    if (find_library(lib) != 0) {
        fprintf(stderr, "profcore record: preload library %s not found or unreadable (build it with make, or set PROFCORE_LIB)\n",
                getenv("PROFCORE_LIB") ? getenv("PROFCORE_LIB") : "libprofcore.so next to profcore");
        return EXIT_USAGE;
    }
    if (pcbin_find_command(o.command[0], cmd) != 0) {
        fprintf(stderr, "profcore record: command not found: %s\n", o.command[0]);
        return 127;
    }
    sigset_t blocked;
    set_forwarding(&blocked);
    if (check_command(cmd) != 0) return run_unprofiled(cmd, o.command, &blocked);
    recorder r;
    if (rec_open(&r, err, sizeof err) != 0) {
        fprintf(stderr, "profcore record: cannot start the recorder: %s\n", err);
        return 1;
    }
    r.hz = o.cfg.hz;
    if (export_environment(&o, lib, r.name) != 0) return EXIT_USAGE;
    sigprocmask(SIG_BLOCK, &blocked, NULL); /* until child_pid is known */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = spawn(cmd, o.command, &blocked);
    if (pid < 0) return 1;
    int status;
    rec_serve(&r, pid, &status, &pending_forward, &child_pid);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int code = exit_status_of(status);
    if (WIFSIGNALED(status))
        fprintf(stderr, "profcore: %s was killed by signal %d (%s)\n", o.command[0], WTERMSIG(status), strsignal(WTERMSIG(status)));
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    finish_record(&o, &r, pid, status, wall);
    rec_close(&r);
    return code;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "record") == 0) return cmd_record(argc - 1, argv + 1);
    if (strcmp(argv[1], "top") == 0) return cmd_top(argc - 1, argv + 1);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "profcore: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
