/* runtime_link.h — what the preload library (profiler/preload/) may ask of
 * the runtime (profiler/src/) beyond the public API: nothing else of the
 * runtime's internals is visible to it.  See docs/ARCHITECTURE.md, "Folder
 * rules".
 */
#ifndef PROFCORE_PROFILER_RUNTIME_LINK_H
#define PROFCORE_PROFILER_RUNTIME_LINK_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "profcore.h"
#include "vocab.h"

/* The engine of the running session (PCPROF_ENGINE_*), 0 when none.  Reads the
 * handler's view inside the same in-flight bracket as the handler, so it is
 * safe in a signal handler and against a concurrent stop. */
PROFCORE_SIGNAL_SAFE int prt_link_session_engine(void) __attribute__((visibility("hidden")));
/* The sampling signal: SIGPROF, or the one the last pcp_start was given
 * (pcp_options.signal).  Async-signal-safe (one atomic load). */
PROFCORE_SIGNAL_SAFE int prt_link_sampling_signal(void) __attribute__((visibility("hidden")));
/* Is this SIGPROF action the runtime's own handler? */
bool prt_link_is_runtime_handler(const struct sigaction *act) __attribute__((visibility("hidden")));
/* Is the calling thread inside one of the runtime's own signal-mask changes
 * (own_sigmask.c)?  Then the preload library's mask filter passes the call
 * through, and a thread created now is the runtime's, not the program's. */
PROFCORE_SIGNAL_SAFE bool prt_link_in_own_mask_call(void) __attribute__((visibility("hidden")));
/* A helper thread of the embedding library that blocks every signal: left
 * out of thread snapshots (at most 4). */
void prt_link_mark_internal_thread(pid_t tid) __attribute__((visibility("hidden")));
/* The profile (running: so far; stopped: the last session's) encoded in
 * `format` (PCPROF_FORMAT_*) into *out, which the caller frees with
 * pcprof_bytes_free (profile.h); PCP_OK, else a PCP_E_* code and err. */
/* fd moved to a number a program's next open() will not take (the same fd
 * when it cannot be moved): for the preload library's own pipes. */
int prt_link_fd_move_high(int fd) __attribute__((visibility("hidden")));
struct pcprof_bytes;
int prt_link_encode_profile(int format, struct pcprof_bytes *out, char *err, size_t errlen)
    __attribute__((visibility("hidden")));

/* In a fork child, before the session that profiles it starts: the calling
 * thread's CPU since the fork is counted by that session (its first timer
 * expiry is one period after the fork, not after the start; engine ctimer;
 * see profiler/src/fork.c).  Applies to the next pcp_start only. */
void prt_link_count_since_fork(void) __attribute__((visibility("hidden")));

#endif
