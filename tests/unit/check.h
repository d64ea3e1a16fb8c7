/* check.h — a tiny test runner: CHECK macros, a test registry, and the
 * closing line "N passed, N failed".
 *
 * A test is a plain `static void name(void)`.  A failed CHECK prints where
 * and why and marks the running test failed; the test goes on (so one run
 * shows every broken expectation) unless it used REQUIRE, which returns.
 * main() runs the registered tests (or only those named on the command
 * line), prints one line per test and the closing line, and exits non-zero
 * if any test failed. */
#ifndef CHECK_H
#define CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int check_failed_in_test; /* failures in the running test */

static void check_report(const char *file, int line, const char *what) {
    fprintf(stderr, "  FAIL %s:%d: %s\n", file, line, what);
    check_failed_in_test++;
}

#define CHECK(cond)                                                      \
    do {                                                                 \
        if (!(cond)) check_report(__FILE__, __LINE__, #cond);            \
    } while (0)

/* Unsigned 64-bit equality, printing both values when they differ. */
#define CHECK_EQ(a, b)                                                              \
    do {                                                                            \
        uint64_t check_a_ = (uint64_t)(a), check_b_ = (uint64_t)(b);                \
        if (check_a_ != check_b_) {                                                 \
            char check_msg_[512];                                                   \
            snprintf(check_msg_, sizeof check_msg_, "%s == %s (%" PRIu64 " != %" PRIu64 ")", \
                     #a, #b, check_a_, check_b_);                                   \
            check_report(__FILE__, __LINE__, check_msg_);                           \
        }                                                                           \
    } while (0)

/* Signed equality for status codes. */
#define CHECK_RC(a, b)                                                              \
    do {                                                                            \
        long check_a_ = (long)(a), check_b_ = (long)(b);                            \
        if (check_a_ != check_b_) {                                                 \
            char check_msg_[512];                                                   \
            snprintf(check_msg_, sizeof check_msg_, "%s == %s (%ld != %ld)", #a, #b, \
                     check_a_, check_b_);                                           \
            check_report(__FILE__, __LINE__, check_msg_);                           \
        }                                                                           \
    } while (0)

/* Like CHECK, but stops the test: for preconditions later checks rely on. */
#define REQUIRE(cond)                                                    \
    do {                                                                 \
        if (!(cond)) {                                                   \
            check_report(__FILE__, __LINE__, "required: " #cond);        \
            return;                                                      \
        }                                                                \
    } while (0)

typedef struct check_test {
    const char *name;
    void (*fn)(void);
} check_test;

#define CHECK_TEST(fn) {#fn, fn}

/* Runs the tests selected by argv (all when none is named). */
static int check_main(const check_test *tests, size_t count, int argc, char **argv) {
    int passed = 0, failed = 0;
    for (size_t i = 0; i < count; i++) {
        int selected = argc <= 1;
        for (int a = 1; a < argc; a++)
            if (strcmp(argv[a], tests[i].name) == 0) selected = 1;
        if (!selected) continue;
        check_failed_in_test = 0;
        tests[i].fn();
        if (check_failed_in_test == 0) {
            passed++;
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            printf("FAIL %s (%d checks)\n", tests[i].name, check_failed_in_test);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 && passed > 0 ? 0 : 1;
}

#endif /* CHECK_H */
