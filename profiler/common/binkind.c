/* binkind.c — what a program file is, for `profcore record` (before it
 * runs the command) and for the preload library (before an exec in record
 * mode): whether LD_PRELOAD can reach it.  Only open, pread, stat and
 * access: usable in a fork child before exec. */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binkind.h"

/* Resolves `name` like execvp would: as a path if it has a slash, else the
 * first executable regular file on $PATH. */
int pcbin_find_command(const char *name, char out[PATH_MAX]) {
    struct stat st;
    if (strchr(name, '/') != NULL) {
        if (strlen(name) >= PATH_MAX) return -1;
        strcpy(out, name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (path == NULL || *path == '\0') path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t n = colon ? (size_t)(colon - path) : strlen(path);
        int len = snprintf(out, PATH_MAX, "%.*s%s%s", (int)n, path, n ? "/" : "", name);
        if (len > 0 && len < PATH_MAX && stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return 0;
        path += n + (colon != NULL);
    }
    return -1;
}

/* A program can take LD_PRELOAD only if the dynamic loader runs it, which
 * is what PT_INTERP asks for.  Static and static-pie binaries have none. */
pcbin_kind pcbin_inspect(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PCBIN_UNREADABLE;
    Elf64_Ehdr eh;
    pcbin_kind kind = PCBIN_NOT_ELF;
    if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh && memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0) {
        if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr)) {
            kind = PCBIN_OTHER_CLASS;
        } else {
            kind = PCBIN_STATIC;
            for (unsigned i = 0; i < eh.e_phnum && i < 4096; i++) {
                Elf64_Phdr ph;
                if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + (uint64_t)i * sizeof ph)) != (ssize_t)sizeof ph) break;
                if (ph.p_type == PT_INTERP) kind = PCBIN_DYNAMIC;
            }
        }
    }
    close(fd);
    return kind;
}

/* The loader ignores LD_PRELOAD (with a path) in secure-execution mode,
 * i.e. when exec changes the effective user or group. */
int pcbin_runs_setuid(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return 0;
    return ((st.st_mode & S_ISUID) && st.st_uid != geteuid()) || ((st.st_mode & S_ISGID) && st.st_gid != getegid());
}

