/* http_env.c — PROFCORE_HTTP: the preload library starts the pprof endpoint
 * (pcp_http_start) in the process that first sees the variable.
 *
 * Descendants inherit PROFCORE_HTTP but do not serve: a fixed port or
 * socket path would clash with the parent's, and every short-lived child
 * of a shell would load libmicrohttpd and start a thread.  PROFCORE_HTTP_PID
 * (set here) names the serving process; an image that process exec's (same
 * pid) serves again, since exec ended the old server.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload_internal.h"

#define PL_HTTP_PID_VAR "PROFCORE_HTTP_PID"

bool pl_endpoint_serving;

static bool pl_endpoint_is_ours(void) {
    const char *m = getenv(PL_HTTP_PID_VAR);
    if (m != NULL && atol(m) != (long)getpid()) return false;
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv(PL_HTTP_PID_VAR, pid, 1);
    return true;
}

void pl_endpoint_start(const pcenv_config *cfg, const pl_request *rq) {
    if (!cfg->http || !pl_endpoint_is_ours()) return;
    pcp_options o = PCP_OPTIONS_INIT;
    o.engine = rq->engine;
    o.hz = rq->hz;
    o.unwind = rq->unwind;
    o.signal = rq->signal; /* CPUPROFILE_TIMER_SIGNAL: a program that owns SIGPROF is profiled too */
    char err[512] = "", addr[160];
    /* The main thread (we run in the constructor, on it) and, through the
     * pthread_create wrapper, every later thread take the registered path
     * in a window, as they do in a whole-run profile. */
    pcp_register_thread();
    int rc = pcp_http_start(getenv("PROFCORE_HTTP"), &o, err, sizeof err);
    const char *why = strncmp(err, "profcore: ", 10) == 0 ? err + 10 : err;
    if (rc != PCP_OK) {
        pl_say("PROFCORE_HTTP: %s; no pprof endpoint", why);
        return;
    }
    pl_endpoint_serving = true; /* before the program's threads exist: no ordering needed */
    if (err[0] != '\0') pl_say("%s", why); /* serving, but not advertised */
    if (pcp_http_address(addr, sizeof addr) != PCP_OK) return;
    if (cfg->http_endpoint.kind == PCPROF_ENDPOINT_UNIX)
        pl_say("pprof endpoint on %s (pid %d)", addr, (int)getpid());
    else
        pl_say("pprof endpoint on http://%s/debug/pprof/ (pid %d)", addr, (int)getpid());
    if (!cfg->http_endpoint.loopback)
        pl_say("the pprof endpoint on %s accepts connections from other hosts: it shows them the "
               "program's code addresses, function names and command line",
               addr);
}
