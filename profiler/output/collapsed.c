/* collapsed.c — collapsed stacks ("root;...;leaf weight"), the input of
 * FlameGraph's flamegraph.pl and of speedscope.
 *
 * One line per distinct collapsed stack, duplicates summed (two different
 * address stacks can collapse to the same function names), lines sorted so
 * output is deterministic.  Inline frames are expanded: an inlined callee
 * appears as its own frame under its caller, as in pprof.  Samples of
 * threads the profiler did not know get a "[unregistered]" root frame.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "output_internal.h"

/* ';' separates frames and the line ends the record: neither may appear
 * inside a name (C++ names can contain spaces, which is fine: the weight
 * is the last field). */
static void append_sanitized(pcout_buf *b, const char *name) {
    for (const char *c = name; *c; c++) {
        char ch = *c;
        if (ch == ';') ch = ':';
        else if (ch == '\n' || ch == '\r') ch = ' ';
        pcout_buf_byte(b, (unsigned char)ch);
    }
}

/* Appends the names of one stack, root first, separated by ';'. */
int pcout_collapse_stack(pcout_symbolizer *sym, const pcprof_stack *st, pcout_buf *line) {
    int first = 1;
    if (PCPROF_TAG_UNREGISTERED(st->tag)) {
        append_sanitized(line, "[unregistered]");
        first = 0;
    }
    for (uint32_t k = st->depth; k-- > 0;) {
        uint64_t f = st->frames[k];
        if (pcout_frame_is_synthetic(f)) {
            if (!first) pcout_buf_byte(line, ';');
            append_sanitized(line, pcprof_synthetic_name(f));
            first = 0;
            continue;
        }
        const pcout_symbol *s = pcout_symbolize(sym, pcout_frame_address(f, k));
        if (!s) return -1;
        for (uint32_t j = s->nframes; j-- > 0;) { /* outermost inline frame first */
            if (!first) pcout_buf_byte(line, ';');
            append_sanitized(line, s->frames[j].function);
            first = 0;
        }
    }
    return line->failed ? -1 : 0;
}

typedef struct collapsed_line {
    char *text;
    uint64_t weight;
} collapsed_line;

static int cmp_line(const void *a, const void *b) {
    return strcmp(((const collapsed_line *)a)->text, ((const collapsed_line *)b)->text);
}

int pcout_build_collapsed(const pcprof_profile *p, pcout_symbolizer *sym, pcout_buf *out) {
    collapsed_line *lines = calloc(p->nstacks ? p->nstacks : 1, sizeof *lines);
    if (!lines) return -1;
    size_t n = 0;
    int rc = 0;
    pcout_buf line = {0};
    for (size_t i = 0; i < p->nstacks && rc == 0; i++) {
        const pcprof_stack *st = &p->stacks[i];
        if (st->depth == 0 || !st->frames || st->weight == 0) continue;
        line.len = 0;
        if (pcout_collapse_stack(sym, st, &line) != 0) {
            rc = -1;
            break;
        }
        pcout_buf_byte(&line, 0);
        if (line.failed || !(lines[n].text = strdup((char *)line.data))) {
            rc = -1;
            break;
        }
        lines[n++].weight = st->weight;
    }
    pcout_buf_free(&line);
    if (rc == 0) {
        qsort(lines, n, sizeof *lines, cmp_line);
        for (size_t i = 0; i < n;) {
            uint64_t w = 0;
            size_t j = i;
            for (; j < n && strcmp(lines[j].text, lines[i].text) == 0; j++) w += lines[j].weight;
            pcout_buf_printf(out, "%s %llu\n", lines[i].text, (unsigned long long)w);
            i = j;
        }
        if (out->failed) rc = -1;
    }
    for (size_t i = 0; i < n; i++) free(lines[i].text);
    free(lines);
    return rc;
}

int pcprof_encode_collapsed(const pcprof_profile *p, pcprof_bytes *out, char *err, size_t errlen) {
    *out = (pcprof_bytes){0};
    if (!p) {
        pcout_set_error(err, errlen, "no profile given");
        return -1;
    }
    pcout_symbolizer *sym = pcout_symbolizer_open();
    if (!sym) {
        pcout_set_error(err, errlen, "out of memory opening the symbolizer");
        return -1;
    }
    pcout_buf buf = {0};
    int rc;
    if (pcout_build_collapsed(p, sym, &buf) != 0) {
        pcout_set_error(err, errlen, "out of memory building collapsed stacks");
        rc = -1;
    } else {
        rc = pcout_buf_give(&buf, out);
    }
    pcout_buf_free(&buf);
    pcout_symbolizer_close(sym);
    return rc;
}

int pcprof_write_collapsed(const pcprof_profile *p, const char *path, char *err, size_t errlen) {
    return pcout_encode_and_write(pcprof_encode_collapsed, p, path, err, errlen);
}
