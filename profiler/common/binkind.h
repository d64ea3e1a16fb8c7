/* binkind.h — can LD_PRELOAD reach this program?  (binkind.c) */
#ifndef PROFCORE_PROFILER_BINKIND_H
#define PROFCORE_PROFILER_BINKIND_H

#include <limits.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

typedef enum { PCBIN_DYNAMIC, PCBIN_STATIC, PCBIN_NOT_ELF, PCBIN_OTHER_CLASS, PCBIN_UNREADABLE } pcbin_kind;

/* Resolves `name` like execvp would: as a path if it has a slash, else the
 * first executable regular file on $PATH.  0, or -1 when not found. */
int pcbin_find_command(const char *name, char out[PATH_MAX]);
/* Static (no PT_INTERP: the loader never runs, LD_PRELOAD cannot work),
 * dynamic, not ELF (a script: its interpreter runs), not 64-bit ELF. */
pcbin_kind pcbin_inspect(const char *path);
/* Exec would change the effective user or group: the loader ignores
 * LD_PRELOAD (secure-execution mode). */
int pcbin_runs_setuid(const char *path);

#endif
