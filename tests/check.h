/* check.h — the assertion harness the C test programs share: every CHECK
 * counts, a failure prints where and why, and check_finish() prints the
 * closing line "N passed, N failed" and gives the exit status.
 * (tests/unit/check.h is the core tests' richer runner, with a test list.) */
#ifndef PROFCORE_TESTS_CHECK_H
#define PROFCORE_TESTS_CHECK_H

#include <stdio.h>

static int passed, failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                            \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
        }                                                                                          \
    } while (0)

static inline int check_finish(void) {
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

#endif
