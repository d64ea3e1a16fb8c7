/* encode.c — a profile's bytes, in memory or in a file.
 *
 * Every format has one encoder (pcprof_encode_pprof / _legacy / _collapsed)
 * that produces the exact bytes of its file in memory; writing a file is
 * that encoder followed by pcout_write_file_atomic.  Keeping the two apart
 * lets the same bytes go to a socket (the recorder), an HTTP response or a
 * rotated file without a second encoder and without a temporary file. */
#include <stdlib.h>

#include "output_internal.h"

void pcprof_bytes_free(pcprof_bytes *b) {
    if (!b) return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
}

int pcout_buf_give(pcout_buf *b, pcprof_bytes *out) {
    if (b->failed) return -1;
    out->data = b->data;
    out->len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return 0;
}

int pcout_encode_and_write(pcout_encoder_fn encode, const pcprof_profile *p, const char *path,
                           char *err, size_t errlen) {
    pcprof_bytes bytes;
    if (encode(p, &bytes, err, errlen) != 0) return -1;
    int rc = pcout_write_file_atomic(path, bytes.data, bytes.len, err, errlen);
    pcprof_bytes_free(&bytes);
    return rc;
}

static pcout_encoder_fn pcout_encoder_of(int format) {
    if (format == PCPROF_FORMAT_LEGACY) return pcprof_encode_legacy;
    if (format == PCPROF_FORMAT_COLLAPSED) return pcprof_encode_collapsed;
    return pcprof_encode_pprof;
}

int pcprof_encode(const pcprof_profile *p, int format, pcprof_bytes *out, char *err, size_t errlen) {
    return pcout_encoder_of(format)(p, out, err, errlen);
}

int pcprof_write(const pcprof_profile *p, int format, const char *path, char *err, size_t errlen) {
    return pcout_encode_and_write(pcout_encoder_of(format), p, path, err, errlen);
}
