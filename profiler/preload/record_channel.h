/* record_channel.h — the sending side of `profcore record`'s channel
 * (record_channel.c; the protocol is profiler/common/record_proto.h).
 * Kept apart from preload_internal.h so a test's stand-in preload library
 * can link record_channel.c alone. */
#ifndef PROFCORE_PRELOAD_RECORD_CHANNEL_H
#define PROFCORE_PRELOAD_RECORD_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record_proto.h"

#define PL_RECORD_HIDDEN __attribute__((visibility("hidden")))

/* The value of PCREC_ENV (NULL: not recording).  Returns -1 when the value
 * is not a valid name (then not recording). */
PL_RECORD_HIDDEN int pl_record_configure(const char *value);
/* In record mode: this process sends its profiles, it writes no file. */
PL_RECORD_HIDDEN bool pl_record_active(void);
/* A session started in this image: the id its hello and profiles carry. */
PL_RECORD_HIDDEN void pl_record_image_began(void);
/* Is this a fork child of the process the library loaded in? */
PL_RECORD_HIDDEN bool pl_record_in_fork_child(void);
/* One message (kind: PCREC_*), waits for the answer.  0 when stored; -1
 * with a one-line reason in err. */
PL_RECORD_HIDDEN int pl_record_send(uint32_t kind, uint32_t format, const char *note, const void *data, size_t len,
                                    char *err, size_t errlen);
/* The same, saying how much of the process's CPU building `data` took and
 * how much the profiler's own threads used. */
PL_RECORD_HIDDEN int pl_record_send_costed(uint32_t kind, uint32_t format, const char *note, const void *data,
                                           size_t len, uint64_t encode_cpu_ns, uint64_t helpers_cpu_ns, char *err,
                                           size_t errlen);
/* This process's CPU time (CLOCK_PROCESS_CPUTIME_ID), ns. */
PL_RECORD_HIDDEN uint64_t pl_record_cpu_ns(void);

#endif
