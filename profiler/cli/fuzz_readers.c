/* fuzz_readers.c — libFuzzer harness for the three profile readers.
 * Every input goes through each reader and through detection; a success
 * must yield a self-consistent profile (every index in range), a failure a
 * message naming the format.  Limits are small so a hostile input cannot
 * exhaust the fuzzer's memory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "readers.h"

#define REQUIRE(c) \
    do {           \
        if (!(c)) __builtin_trap(); \
    } while (0)

static void check_profile(const rd_profile *p) {
    for (size_t i = 0; i < p->nsamples; i++) {
        const rd_sample *s = &p->samples[i];
        REQUIRE(s->first_frame <= p->nframes && s->depth <= p->nframes - s->first_frame);
        REQUIRE(s->first_label <= p->nlabels && s->nlabels <= p->nlabels - s->first_label);
        REQUIRE(s->count >= 0);
    }
    for (size_t i = 0; i < p->nframes; i++) REQUIRE(p->frames[i] < p->nnames);
    for (size_t i = 0; i < p->nlabels; i++) REQUIRE(p->labels[i].key < p->nnames && p->labels[i].value < p->nnames);
    for (size_t i = 0; i < p->ncomments; i++) REQUIRE(p->comments[i] < p->nnames);
    rd_func_stat *st;
    size_t n;
    int64_t total;
    if (rd_top(p, &st, &n, &total) == 0) {
        for (size_t i = 0; i < n; i++) REQUIRE(st[i].flat <= st[i].cum && st[i].cum <= total);
        free(st);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const rd_limits lim = {1u << 20, 8u << 20, 1u << 20, 4096u};
    static const char *const prefix[] = {"pprof: ", "legacy: ", "collapsed: "};
    for (int r = 0; r < 4; r++) {
        rd_profile p;
        char err[256] = "";
        int rc = r == 0   ? rd_read_pprof(data, size, &lim, &p, err, sizeof err)
                 : r == 1 ? rd_read_legacy(data, size, &lim, &p, err, sizeof err)
                 : r == 2 ? rd_read_collapsed(data, size, &lim, &p, err, sizeof err)
                          : rd_read_any(data, size, &lim, &p, err, sizeof err);
        if (rc == 0) check_profile(&p);
        else if (r < 3) REQUIRE(strncmp(err, prefix[r], strlen(prefix[r])) == 0 || strcmp(err, "out of memory") == 0);
        else REQUIRE(err[0] != '\0');
        rd_free(&p);
    }
    return 0;
}
