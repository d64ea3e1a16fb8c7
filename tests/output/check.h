/* check.h — the output tests' helpers, on top of the shared harness
 * (tests/check.h). */
#ifndef PROFCORE_TESTS_OUTPUT_CHECK_H
#define PROFCORE_TESTS_OUTPUT_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../check.h" /* CHECK, passed/failed, check_finish() */

/* Reads a whole file into a NUL-terminated malloc'd buffer (NULL if absent). */
static inline char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *g = realloc(buf, 2 * cap + 1);
            if (!g) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = g;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

#endif
