/* fuzz/replay.c — runs corpus files and named regression inputs as tests.
 *   replay [-v] [-q] FILE|DIR...
 * Each file is one input; a directory means every regular file in it, in
 * name order.  Prints a report for each failing input and closes with
 * "N passed, N failed"; exits 1 if anything failed. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static int passed, failed, quiet;

static void replay_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        printf("FAIL %s: cannot open\n", path);
        failed++;
        return;
    }
    static unsigned char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (fz_run(buf, n) == 0) {
        passed++;
        if (!quiet) printf("ok   %s\n", path);
        return;
    }
    failed++;
    printf("FAIL %s\n", path);
    fz_print_report(stdout);
}

static int by_name(const struct dirent **a, const struct dirent **b) {
    return strcmp((*a)->d_name, (*b)->d_name);
}

static void replay_path(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        struct dirent **names;
        int n = scandir(path, &names, NULL, by_name);
        for (int i = 0; i < n; i++) {
            char full[4096];
            snprintf(full, sizeof full, "%s/%s", path, names[i]->d_name);
            struct stat fs;
            if (names[i]->d_name[0] != '.' && stat(full, &fs) == 0 && S_ISREG(fs.st_mode))
                replay_file(full);
            free(names[i]);
        }
        if (n >= 0) free(names);
        if (n < 0) {
            printf("FAIL %s: cannot read directory\n", path);
            failed++;
        }
        return;
    }
    replay_file(path);
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0)
            fz_set_verbose(1);
        else if (strcmp(argv[i], "-q") == 0)
            quiet = 1;
        else
            replay_path(argv[i]);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0 || passed == 0;
}
