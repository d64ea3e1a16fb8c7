/* fuzz_env.c — libFuzzer harness for the environment parser.  The input is
 * a NUL-separated list of NAME=VALUE entries (the names are mostly ours, so
 * the fuzzer spends its time on values).  Checks: the status agrees with
 * the error count, a profiling config is in range, every message is one
 * "profcore: ..." line, and the whole-environment result agrees with the
 * per-value parsers. */
#include <stdint.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "envconfig.h"

#define REQUIRE(c) \
    do {           \
        if (!(c)) __builtin_trap(); \
    } while (0)

#define MAX_ENTRIES 32

typedef struct env {
    const char *entries[MAX_ENTRIES];
    int n;
} env;

static const char *lookup(void *ctx, const char *name) {
    const env *e = ctx;
    size_t n = strlen(name);
    for (int i = 0; i < e->n; i++)
        if (strncmp(e->entries[i], name, n) == 0 && e->entries[i][n] == '=') return e->entries[i] + n + 1;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *copy = malloc(size + 1);
    if (copy == NULL) return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    env e = {{0}, 0};
    for (char *p = copy; p < copy + size && e.n < MAX_ENTRIES; p += strlen(p) + 1) e.entries[e.n++] = p;

    pcenv_result r;
    pcenv_parse(lookup, &e, &r);
    REQUIRE((r.status == PCENV_REFUSED) == (r.nerrors > 0));
    REQUIRE(memchr(r.messages, '\0', sizeof r.messages) != NULL);
    for (const char *l = r.messages; *l;) {
        REQUIRE(strncmp(l, "profcore: ", 10) == 0);
        const char *nl = strchr(l, '\n');
        REQUIRE(nl != NULL);
        l = nl + 1;
    }
    if (r.status == PCENV_PROFILE) {
        const pcenv_config *c = &r.config;
        /* A whole-run path, or the endpoint alone (PROFCORE_HTTP, out ""). */
        REQUIRE(memchr(c->out, '\0', sizeof c->out) != NULL);
        REQUIRE(c->out[0] != '\0' || c->http);
        pcprof_endpoint ep;
        const char *http = lookup(&e, "PROFCORE_HTTP");
        REQUIRE(c->http == (http != NULL));
        if (http != NULL) REQUIRE(pcprof_endpoint_parse(http, &ep) == 0 && ep.port == c->http_endpoint.port);
        REQUIRE(c->hz >= PCENV_HZ_MIN && c->hz <= PCENV_HZ_MAX);
        REQUIRE(c->children == 0 || c->children == 1);
        const char *hz = lookup(&e, "PROFCORE_HZ");
        unsigned v;
        if (hz != NULL) REQUIRE(pcenv_parse_hz(hz, &v) == 0 && v == c->hz);
        const char *sig = lookup(&e, "PROFCORE_SNAPSHOT_SIGNAL");
        int s;
        if (sig != NULL) REQUIRE(pcenv_parse_signal(sig, &s) == 0 && s == c->snapshot_signal);
        const char *per = lookup(&e, "PROFCORE_PERIOD");
        unsigned ms;
        if (per != NULL) REQUIRE(pcenv_parse_period(per, &ms) == 0 && ms == c->period_ms);
        REQUIRE(c->period_ms == 0 || (c->period_ms >= PCENV_PERIOD_MIN_MS && c->period_ms <= PCENV_PERIOD_MAX_MS));
        REQUIRE(c->toggle_signal == 0 || (c->toggle_signal != c->snapshot_signal && c->period_ms == 0));
        REQUIRE(c->timer_signal == 0 || (pcprof_sampling_signal_ok(c->timer_signal) && c->timer_signal != SIGPROF &&
                                          c->engine != PCPROF_ENGINE_ITIMER));
    }
    if (r.status == PCENV_OFF) REQUIRE(lookup(&e, "PROFCORE_OUT") == NULL && lookup(&e, "PROFCORE_HTTP") == NULL);
    free(copy);
    return 0;
}
