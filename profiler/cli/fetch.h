/* fetch.h — `profcore record -p PID`: find the pprof endpoint a running
 * process advertises (profiler/common/endpoint.h) and fetch one window
 * from it with libcurl. */
#ifndef PROFCORE_CLI_FETCH_H
#define PROFCORE_CLI_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* What a fetch found out. */
typedef struct cli_window {
    char address[160];   /* as advertised: "127.0.0.1:40123", "unix:/path" */
    long http_status;    /* 0: no answer */
    uint64_t cpu_ns;     /* the process CPU the window measured (X-Profcore-Cpu-Ns), 0 if absent */
    double wall_s;       /* the request, start to end */
} cli_window;

/* Exit codes of a failed fetch, for `record -p`: 2 the process or its
 * advertisement is not usable (nothing was asked of it), 1 the endpoint
 * answered with an error or the profile could not be written. */
#define CLI_FETCH_USAGE 2
#define CLI_FETCH_FAILED 1

/* Profiles process `pid` for `seconds` through its endpoint and writes the
 * profile to `out` atomically (a temporary file next to it, then rename).
 * 0, or an exit code with one line in err ("process 123 serves no pprof
 * endpoint: ..."). */
int cli_fetch_window(pid_t pid, unsigned seconds, const char *out, cli_window *w, char *err, size_t errlen);

#endif
