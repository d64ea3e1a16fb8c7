/* fixture.h — a synthetic profile built from real addresses of this test
 * binary (compiled with -g), shared by the unit and the tools tests.
 *
 * The stacks are made of genuine return addresses captured with
 * __builtin_return_address, so symbolization, the call-site adjustment
 * (address - 1) and inline expansion are exercised exactly as on a real
 * unwound stack; the expected source lines come from __LINE__ written on
 * the same line as each call. */
#ifndef PROFCORE_TESTS_OUTPUT_FIXTURE_H
#define PROFCORE_TESTS_OUTPUT_FIXTURE_H

#include <stdint.h>

#include "profile.h"

typedef struct fixture {
    uint64_t ra_leaf;    /* inside fixture_leaf */
    uint64_t ra_b;       /* inside fixture_level_b, at line_b */
    uint64_t ra_c;       /* inside fixture_level_c, at line_c */
    uint64_t ra_d;       /* inside fixture_inlined (inlined into fixture_level_d) */
    int line_b, line_c;  /* the lines of the calls that ra_b / ra_c return from */
    int line_inlined;    /* the call inside fixture_inlined */
    int line_d_call;     /* where fixture_level_d calls fixture_inlined */
    uint64_t frames[6][4];
    pcprof_stack stacks[6];
    const char *labels[2];
    pcprof_profile profile;
} fixture;

#define FIXTURE_PERIOD_NS 10000000ull /* 100 Hz */
#define FIXTURE_TOTAL_WEIGHT 22u
#define FIXTURE_SOURCE "fixture.c"

/* Fills fx with 6 stacks:
 *   w5  leaf<-b<-c        tid 1234, label "worker", running
 *   w4  leaf<-b<-c        tid 999 (same collapsed stack: sums to 9)
 *   w3  leaf<-d(inlined)<-c  tid 1235, unregistered
 *   w7  [lost: contended]     w2 [lost: log full]
 *   w1  leaf<-b<-[truncated]  tid 1234, sleeping                    */
void fixture_build(fixture *fx);

/* Functions whose names the tests look for. */
void fixture_leaf(uint64_t *out);
void fixture_level_b(fixture *fx);
void fixture_level_c(fixture *fx);
void fixture_level_d(fixture *fx);

#endif
