/* fuzz/unwind/replay.c — runs every file under the given directories (or
 * the given files) through the harness once, in name order: the committed
 * corpus as a deterministic test.  Closes with "N passed, N failed". */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

static int passed, failed;

static void run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { printf("cannot open %s\n", path); failed++; return; }
    static uint8_t buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (uf_run(buf, n) != 0) {
        printf("FAIL %s: ", path);
        uf_print_report(stdout);
        failed++;
    } else {
        passed++;
    }
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) { printf("missing %s\n", argv[i]); failed++; continue; }
        if (!S_ISDIR(sb.st_mode)) { run_file(argv[i]); continue; }
        struct dirent **names;
        int k = scandir(argv[i], &names, NULL, by_name);
        for (int j = 0; j < k; j++) {
            if (names[j]->d_name[0] != '.') {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", argv[i], names[j]->d_name);
                run_file(path);
            }
            free(names[j]);
        }
        free(names);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
