/* test_output_unit.c — the output side without external tools: synthetic
 * names, symbolization (names, absolute files, lines, inline frames),
 * mappings and build IDs (checked against binutils' readelf), the three
 * file formats decoded by hand, the summary, and the atomic writer's
 * failure paths (missing directory, unwritable directory, a write that
 * fails half-way).  Built twice: plain and with ASan/UBSan. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "fixture.h"
#include "output_internal.h"

static fixture fx;
static char dir[256]; /* short: paths built from it must fit PATH_MAX */
static char exe[PATH_MAX];

static void path_in_dir(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", dir, name);
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Entries of dir other than . and .., or -1. */
static int count_entries(const char *d) {
    DIR *dd = opendir(d);
    if (!dd) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dd)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(dd);
    return n;
}

static void test_synthetic_names(void) {
    CHECK(strcmp(pcprof_synthetic_name(PROFCORE_FRAME_TRUNCATED), "[truncated]") == 0, "truncated");
    CHECK(strcmp(pcprof_synthetic_name(PROFCORE_FRAME_LOST(PROFCORE_LOSS_CONTENDED)),
                 "[lost: contended]") == 0, "contended");
    CHECK(strcmp(pcprof_synthetic_name(PROFCORE_FRAME_LOST(PROFCORE_LOSS_UNWIND)),
                 "[lost: unwind failed]") == 0, "unwind");
    CHECK(strcmp(pcprof_synthetic_name(PCPROF_FRAME_NO_ANSWER), "[no answer: signals blocked or stopped]") == 0,
          "no answer");
    for (uint64_t r = 0; r < PROFCORE_LOSS_REASONS; r++) {
        const char *n = pcprof_synthetic_name(PROFCORE_FRAME_LOST(r));
        CHECK(n && strncmp(n, "[lost: ", 7) == 0, "reason %llu named %s", (unsigned long long)r,
              n ? n : "(null)");
    }
    CHECK(pcprof_synthetic_name(PROFCORE_FRAME_RESERVED_END) == NULL, "64 is a real frame");
    CHECK(pcprof_synthetic_name((uint64_t)(uintptr_t)&fixture_leaf) == NULL, "code address");
    CHECK(pcprof_synthetic_name(5) != NULL, "unassigned reserved value still named");
}

static void check_frame(const pcout_srcframe *f, const char *fn, int line, const char *what) {
    CHECK(strcmp(f->function, fn) == 0, "%s: function %s, want %s", what, f->function, fn);
    CHECK(f->file[0] == '/' && ends_with(f->file, "tests/output/" FIXTURE_SOURCE),
          "%s: file %s is not the absolute fixture source", what, f->file);
    if (line) CHECK(f->line == line, "%s: line %lld, want %d", what, (long long)f->line, line);
}

/* The whole vocabulary (vocab.h): every synthetic frame is named, and the
 * legacy writer has its own stand-in for it, a function named as the
 * vocabulary says (what google-pprof will print), never the reserved one. */
static void test_legacy_standins(void) {
    pcout_symbolizer *s = pcout_symbolizer_open();
    CHECK(s != NULL, "symbolizer");
    if (!s) return;
    uint64_t reserved = pcout_legacy_standin(PROFCORE_FRAME_RESERVED_END - 1);
    const pcout_symbol *rs = pcout_symbolize(s, reserved);
    CHECK(rs && rs->has_function && strcmp(rs->frames[0].function, PCPROF_RESERVED_FRAME_STANDIN) == 0,
          "an unassigned reserved value: %s", rs && rs->has_function ? rs->frames[0].function : "?");
    CHECK(pcprof_nsynthetics >= 1u + PROFCORE_LOSS_REASONS, "%zu synthetic frames", pcprof_nsynthetics);
    for (size_t i = 0; i < pcprof_nsynthetics; i++) {
        const pcprof_synthetic *v = &pcprof_synthetics[i];
        CHECK(v->frame < PROFCORE_FRAME_RESERVED_END && strcmp(pcprof_synthetic_name(v->frame), v->name) == 0,
              "%s: a reserved value, named", v->name);
        uint64_t a = pcout_legacy_standin(v->frame);
        CHECK(a != reserved, "%s: legacy has its own stand-in", v->name);
        for (size_t j = 0; j < i; j++)
            CHECK(pcout_legacy_standin(pcprof_synthetics[j].frame) != a, "%s: stand-in shared with %s", v->name,
                  pcprof_synthetics[j].name);
        const pcout_symbol *sym = pcout_symbolize(s, a);
        CHECK(sym && sym->has_function && strcmp(sym->frames[0].function, v->standin) == 0,
              "%s: stand-in symbolizes as %s (got %s)", v->name, v->standin,
              sym && sym->has_function ? sym->frames[0].function : "?");
    }
    for (uint32_t r = 0; r < PROFCORE_LOSS_REASONS; r++)
        CHECK(pcprof_synthetic_find(PROFCORE_FRAME_LOST(r)) != NULL, "loss reason %u has its frame", r);
    pcout_symbolizer_close(s);
}

static void test_symbolize(void) {
    pcout_symbolizer *s = pcout_symbolizer_open();
    CHECK(s != NULL, "symbolizer");
    if (!s) return;
    const pcout_symbol *leaf = pcout_symbolize(s, pcout_frame_address(fx.ra_leaf, 0));
    CHECK(leaf && leaf->has_function && leaf->has_line && leaf->nframes == 1, "leaf symbol");
    if (leaf) check_frame(&leaf->frames[0], "fixture_leaf", 0, "leaf");
    const pcout_symbol *b = pcout_symbolize(s, pcout_frame_address(fx.ra_b, 1));
    CHECK(b && b->nframes == 1, "b symbol");
    if (b) check_frame(&b->frames[0], "fixture_level_b", fx.line_b, "b");
    const pcout_symbol *c = pcout_symbolize(s, pcout_frame_address(fx.ra_c, 2));
    if (c) check_frame(&c->frames[0], "fixture_level_c", fx.line_c, "c");
    const pcout_symbol *d = pcout_symbolize(s, pcout_frame_address(fx.ra_d, 1));
    CHECK(d && d->nframes == 2, "inlined address has 2 frames, got %u", d ? d->nframes : 0);
    if (d && d->nframes == 2) {
        check_frame(&d->frames[0], "fixture_inlined", fx.line_inlined, "inline callee");
        check_frame(&d->frames[1], "fixture_level_d", fx.line_d_call, "inline caller");
    }
    CHECK(pcout_symbolize(s, pcout_frame_address(fx.ra_b, 1)) == b, "cached per address");
    /* Return addresses (not the leaf) move onto the call instruction. */
    CHECK(pcout_frame_address(fx.ra_b, 0) == fx.ra_b && pcout_frame_address(fx.ra_b, 1) == fx.ra_b - 1 &&
              pcout_frame_address(fx.ra_b, 7) == fx.ra_b - 1, "call-site adjustment");
    CHECK(b && b->mapping == 0, "main binary is mapping 0 (main first)");
    /* An address nothing maps: a hex fallback, no function claimed. */
    const pcout_symbol *none = pcout_symbolize(s, 0x1000);
    CHECK(none && !none->has_function && strcmp(none->frames[0].function, "0x1000") == 0,
          "unmapped address falls back to 0xADDR, got %s", none ? none->frames[0].function : "-");
    pcout_symbolizer_close(s);
}

/* The build ID as binutils' readelf prints it: an independent reader. */
static void readelf_build_id(char *out, size_t n) {
    out[0] = '\0';
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "readelf -n '%s' 2>/dev/null", exe);
    FILE *f = popen(cmd, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *p = strstr(line, "Build ID: ");
        if (p) {
            snprintf(out, n, "%s", p + 10);
            out[strcspn(out, " \n")] = '\0';
        }
    }
    pclose(f);
}

static void test_mappings(void) {
    pcout_mapping *m = NULL;
    size_t n = pcout_read_mappings(&m);
    CHECK(n >= 2, "at least the executable and libc mapped, got %zu", n);
    if (n == 0) return;
    CHECK(m[0].is_main && strcmp(m[0].path, exe) == 0, "first mapping %s is the main binary %s",
          m[0].path, exe);
    char want[256];
    readelf_build_id(want, sizeof want);
    CHECK(want[0] != '\0', "readelf found a build ID (the test links with --build-id)");
    CHECK(strcmp(m[0].build_id, want) == 0, "build id %s, readelf says %s", m[0].build_id, want);
    int libc = 0, sorted = 1;
    for (size_t i = 1; i < n; i++) {
        if (strstr(m[i].path, "libc.so")) libc = m[i].build_id[0] != '\0';
        if (!m[i].is_main && i > 1 && !m[i - 1].is_main && m[i - 1].start > m[i].start) sorted = 0;
        CHECK(m[i].start < m[i].limit, "mapping %zu non-empty", i);
    }
    CHECK(libc, "libc mapped with a build ID");
    CHECK(sorted, "non-main mappings in address order");
    CHECK(pcout_mapping_find(m, n, fx.ra_leaf) == 0, "fixture address in mapping 0");
    pcout_free_mappings(m, n);
}

static void test_collapsed(void) {
    char path[PATH_MAX], err[256] = "";
    path_in_dir(path, sizeof path, "stacks.txt");
    CHECK(pcprof_write_collapsed(&fx.profile, path, err, sizeof err) == 0, "write: %s", err);
    char *text = slurp(path, NULL);
    CHECK(text != NULL, "collapsed file exists");
    if (!text) return;
    const char *want =
        "[lost: contended] 7\n"
        "[lost: log full] 2\n"
        "[truncated];fixture_level_b;fixture_leaf 1\n"
        "[unregistered];fixture_level_c;fixture_level_d;fixture_inlined;fixture_leaf 3\n"
        "fixture_level_c;fixture_level_b;fixture_leaf 9\n";
    CHECK(strcmp(text, want) == 0, "collapsed root-to-leaf, duplicates summed:\n%s", text);
    /* Every line parses as "frames weight" and the weights add up. */
    unsigned long long total = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *sp = strrchr(line, ' ');
        CHECK(sp && sp[1] >= '1' && sp[1] <= '9', "line '%s' ends in a weight", line);
        if (sp) total += strtoull(sp + 1, NULL, 10);
    }
    CHECK(total == FIXTURE_TOTAL_WEIGHT, "collapsed weights sum to %llu", total);
    free(text);
}

static uint64_t word_at(const unsigned char *data, size_t i) {
    uintptr_t w;
    memcpy(&w, data + i * sizeof w, sizeof w);
    return w;
}

static void test_legacy(void) {
    char path[PATH_MAX], err[256] = "";
    path_in_dir(path, sizeof path, "cpu.prof");
    CHECK(pcprof_write_legacy(&fx.profile, path, err, sizeof err) == 0, "write: %s", err);
    size_t len = 0;
    unsigned char *data = (unsigned char *)slurp(path, &len);
    CHECK(data && len > 8 * sizeof(uintptr_t), "legacy file has content");
    if (!data) return;
    size_t nwords = len / sizeof(uintptr_t), i = 0;
    CHECK(word_at(data, 0) == 0 && word_at(data, 1) == 3 && word_at(data, 2) == 0 &&
              word_at(data, 3) == FIXTURE_PERIOD_NS / 1000 && word_at(data, 4) == 0,
          "header 0,3,0,period_us,0");
    i = 5;
    uint64_t total = 0;
    size_t records = 0;
    int frames_ok = 1;
    while (i + 2 < nwords && !(word_at(data, i) == 0 && word_at(data, i + 1) == 1)) {
        uint64_t count = word_at(data, i), depth = word_at(data, i + 1);
        const pcprof_stack *st = &fx.stacks[records < 6 ? records : 5];
        if (count != st->weight || depth != st->depth) frames_ok = 0;
        for (uint64_t k = 0; k < depth && i + 2 + k < nwords && frames_ok; k++) {
            uint64_t want = pcout_legacy_frame_word(st->frames[k], (uint32_t)k);
            if (word_at(data, i + 2 + k) != want) frames_ok = 0;
            if (k > 0 && pcout_frame_is_synthetic(st->frames[k]) && want < 4096) frames_ok = 0;
        }
        total += count;
        records++;
        i += 2 + depth;
    }
    CHECK(records == 6 && frames_ok, "6 records with the stacks' weights and frames (%zu)", records);
    CHECK(total == FIXTURE_TOTAL_WEIGHT, "legacy counts sum to %llu", (unsigned long long)total);
    CHECK(i + 2 < nwords && word_at(data, i) == 0 && word_at(data, i + 1) == 1 &&
              word_at(data, i + 2) == 0, "trailer 0,1,0");
    const char *maps = (const char *)data + (i + 3) * sizeof(uintptr_t);
    char first[PATH_MAX + 128];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(maps, "\n"), maps);
    CHECK(ends_with(first, exe) && strstr(first, " r-xp "), "first maps line is the main binary: %s",
          first);
    char want_id[256], line[PATH_MAX + 300];
    readelf_build_id(want_id, sizeof want_id);
    snprintf(line, sizeof line, "\nbuild_id=%s:%s\n", exe, want_id);
    CHECK(strstr(maps, line) != NULL, "maps text carries the main binary's build ID");
    free(data);
}

/* ---- a minimal profile.proto reader, enough to check what we wrote ---- */
typedef struct pb {
    const unsigned char *p, *end;
} pb;

static int pb_varint(pb *b, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64 && b->p < b->end; shift += 7) {
        unsigned char c = *b->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return 1;
    }
    return 0;
}

/* Next field: returns 0 at the end; for length-delimited fields sub is set. */
static int pb_next(pb *b, unsigned *field, uint64_t *v, pb *sub) {
    uint64_t key;
    if (b->p >= b->end || !pb_varint(b, &key)) return 0;
    *field = (unsigned)(key >> 3);
    if ((key & 7) == 0) return pb_varint(b, v);
    if ((key & 7) != 2 || !pb_varint(b, v) || *v > (uint64_t)(b->end - b->p)) return 0;
    sub->p = b->p;
    sub->end = b->p + *v;
    b->p += *v;
    return 1;
}

typedef struct decoded {
    char strings[512][160];
    size_t nstrings;
    size_t nsamples, nmappings, nlocations, nfunctions;
    uint64_t weight_sum, value1_sum, period, label_keys[16];
    size_t nlabel_keys;
    int values_consistent;
    uint64_t first_mapping_file, first_mapping_build_id;
} decoded;

static void decode_sample(decoded *d, pb s) {
    unsigned f;
    uint64_t v;
    pb sub;
    uint64_t values[2] = {0, 0};
    while (pb_next(&s, &f, &v, &sub)) {
        if (f == 2) {
            for (int k = 0; k < 2 && pb_varint(&sub, &values[k]); k++) {}
        } else if (f == 3) {
            unsigned lf;
            uint64_t lv;
            pb lsub;
            while (pb_next(&sub, &lf, &lv, &lsub))
                if (lf == 1 && d->nlabel_keys < 16) d->label_keys[d->nlabel_keys++] = lv;
        }
    }
    d->weight_sum += values[0];
    d->value1_sum += values[1];
    if (values[1] != values[0] * FIXTURE_PERIOD_NS) d->values_consistent = 0;
}

static void decode_profile(decoded *d, const unsigned char *data, size_t len) {
    pb b = {data, data + len}, sub;
    unsigned f;
    uint64_t v;
    d->values_consistent = 1;
    while (pb_next(&b, &f, &v, &sub)) {
        if (f == 2) {
            d->nsamples++;
            decode_sample(d, sub);
        } else if (f == 3) {
            if (d->nmappings++ == 0) {
                unsigned mf;
                uint64_t mv;
                pb msub;
                while (pb_next(&sub, &mf, &mv, &msub)) {
                    if (mf == 5) d->first_mapping_file = mv;
                    if (mf == 6) d->first_mapping_build_id = mv;
                }
            }
        } else if (f == 4) {
            d->nlocations++;
        } else if (f == 5) {
            d->nfunctions++;
        } else if (f == 6 && d->nstrings < 512) {
            snprintf(d->strings[d->nstrings++], 160, "%.*s", (int)(sub.end - sub.p),
                     (const char *)sub.p);
        } else if (f == 12) {
            d->period = v;
        }
    }
}

static const char *str_at(const decoded *d, uint64_t i) {
    return i < d->nstrings ? d->strings[i] : "(out of range)";
}

static int has_label_key(const decoded *d, const char *key) {
    for (size_t i = 0; i < d->nlabel_keys; i++)
        if (strcmp(str_at(d, d->label_keys[i]), key) == 0) return 1;
    return 0;
}

/* pcprof_encode gives exactly the bytes pcprof_write puts in the file, for
 * every format (the recorder, the HTTP endpoint and rotation send the
 * former and must be indistinguishable from the latter). */
static void test_encode_matches_write(void) {
    static const struct { int format; const char *file; } formats[] = {
        {PCPROF_FORMAT_PPROF, "enc.pb.gz"}, {PCPROF_FORMAT_LEGACY, "enc.prof"},
        {PCPROF_FORMAT_COLLAPSED, "enc.txt"}};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        char path[PATH_MAX], err[256] = "";
        path_in_dir(path, sizeof path, formats[i].file);
        pcprof_bytes bytes = {0};
        CHECK(pcprof_encode(&fx.profile, formats[i].format, &bytes, err, sizeof err) == 0, "%s: encode: %s",
              formats[i].file, err);
        CHECK(bytes.len > 0 && bytes.data != NULL, "%s: encoded %zu bytes", formats[i].file, bytes.len);
        CHECK(pcprof_write(&fx.profile, formats[i].format, path, err, sizeof err) == 0, "%s: write: %s",
              formats[i].file, err);
        size_t len = 0;
        char *file = slurp(path, &len);
        CHECK(file && len == bytes.len && memcmp(file, bytes.data, len) == 0,
              "%s: the file (%zu bytes) is the encoded bytes (%zu)", formats[i].file, len, bytes.len);
        free(file);
        pcprof_bytes_free(&bytes);
        CHECK(bytes.data == NULL && bytes.len == 0, "%s: freed bytes are empty", formats[i].file);
    }
    pcprof_bytes none = {(unsigned char *)1, 7};
    char err[256] = "";
    CHECK(pcprof_encode(NULL, PCPROF_FORMAT_PPROF, &none, err, sizeof err) == -1 && none.data == NULL &&
              none.len == 0 && strstr(err, "no profile") != NULL,
          "encoding no profile fails with empty bytes and a reason (%s)", err);
}

static void test_pprof(void) {
    char path[PATH_MAX], err[256] = "";
    path_in_dir(path, sizeof path, "cpu.pb.gz");
    CHECK(pcprof_write_pprof(&fx.profile, path, err, sizeof err) == 0, "write: %s", err);
    size_t len = 0;
    unsigned char *gz = (unsigned char *)slurp(path, &len);
    CHECK(gz && len > 18 && gz[0] == 0x1f && gz[1] == 0x8b, "gzip magic");
    if (!gz) return;
    /* Inflate with zlib's gzip decoder (windowBits 15 + 32: auto-detect). */
    size_t cap = 1 << 20;
    unsigned char *raw = malloc(cap);
    z_stream z;
    memset(&z, 0, sizeof z);
    int ok = raw && inflateInit2(&z, 15 + 32) == Z_OK;
    if (ok) {
        z.next_in = gz;
        z.avail_in = (uInt)len;
        z.next_out = raw;
        z.avail_out = (uInt)cap;
        ok = inflate(&z, Z_FINISH) == Z_STREAM_END;
        inflateEnd(&z);
    }
    CHECK(ok, "the file inflates as gzip");
    if (ok) {
        decoded *d = calloc(1, sizeof *d);
        decode_profile(d, raw, cap - z.avail_out);
        CHECK(d->nstrings > 0 && d->strings[0][0] == '\0', "string_table[0] is \"\"");
        CHECK(d->nsamples == 6, "6 samples, got %zu", d->nsamples);
        CHECK(d->weight_sum == FIXTURE_TOTAL_WEIGHT, "sample weights sum to %llu",
              (unsigned long long)d->weight_sum);
        CHECK(d->values_consistent, "value[1] = value[0] x period_ns for every sample");
        CHECK(d->period == FIXTURE_PERIOD_NS, "period %llu", (unsigned long long)d->period);
        CHECK(d->nlocations == 7, "7 locations (4 addresses, 3 synthetic), got %zu", d->nlocations);
        CHECK(d->nfunctions == 8, "8 functions (5 real, 3 synthetic), got %zu", d->nfunctions);
        CHECK(strcmp(str_at(d, d->first_mapping_file), exe) == 0, "mapping 1 is %s",
              str_at(d, d->first_mapping_file));
        char want_id[256];
        readelf_build_id(want_id, sizeof want_id);
        CHECK(strcmp(str_at(d, d->first_mapping_build_id), want_id) == 0, "mapping 1 build id %s",
              str_at(d, d->first_mapping_build_id));
        CHECK(has_label_key(d, "tid") && has_label_key(d, "thread_label") &&
                  has_label_key(d, "unregistered") && has_label_key(d, "state"),
              "all four label keys present");
        free(d);
    }
    free(raw);
    free(gz);
}

/* The summary of p (top 3) as text; free() it. */
static char *summary_text(const pcprof_profile *p) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    pcprof_print_summary(f, p, 3);
    fclose(f);
    return text;
}

static void check_summary_has(const char *text, const char *const *want, size_t n) {
    for (size_t i = 0; i < n; i++)
        CHECK(text && strstr(text, want[i]), "summary has '%s':\n%s", want[i], text ? text : "");
}

static void test_summary(void) {
    char *text = summary_text(&fx.profile);
    const char *want[] = {
        "offered 25 (weight 25): recorded 14 (weight 13), lost 8, rejected 3",
        "profiled 0.130 s + lost 0.090 s vs measured 0.260 s: 50.0 %",
        "contended 6/7, log full 2/2, no-handoff full 0/0",
        "unwind failed 0/0",
        "25 signals, mean 2.00 us, max 9.00 us",
        "top 3 functions",
        "13  59.09%  59.09%  fixture_leaf",
        "7  31.82%  31.82%  [lost: contended]",
    };
    check_summary_has(text, want, sizeof want / sizeof *want);
    CHECK(text && !strstr(text, "fixture_level_c"), "only the top 3 are listed");
    free(text);
}

/* The fixture plus a thread tail and the profiler's own CPU: the summary
 * names the tail's share and counts captured CPU over the program's
 * threads (measured less the profiler's). */
static void test_summary_tail_and_own_cpu(void) {
    pcprof_profile p = fx.profile;
    pcprof_stack stacks[8];
    size_t n = p.nstacks < 7 ? p.nstacks : 7;
    memcpy(stacks, p.stacks, n * sizeof *stacks);
    static const uint64_t tail_frame[1] = {PCPROF_FRAME_UNSAMPLED_TAIL};
    stacks[n] = (pcprof_stack){5, 0, 1, tail_frame};
    p.stacks = stacks;
    p.nstacks = n + 1;
    p.startup_cpu_ns = 13000000u;
    p.helpers_cpu_ns = 60000000u; /* of the fixture's 0.260 s measured */
    p.write_cpu_ns = 50000000u;
    char *text = summary_text(&p);
    const char *want[] = {
        "profiled 0.180 s + lost 0.090 s vs measured 0.260 s",
        "of which 0.050 s unsampled thread tails (27.8 %)",
        "CPU of its threads 0.200 s (measured less the profiler's threads): profiled 90.0 %",
        "own CPU: start-up 13.0 ms",
        "its threads 60.0 ms, writing at stop 50.0 ms",
    };
    check_summary_has(text, want, sizeof want / sizeof *want);
    free(text);
}

/* ---- atomic writes ----------------------------------------------------------- */
static void test_missing_directory(void) {
    char path[PATH_MAX], err[256] = "";
    path_in_dir(path, sizeof path, "no-such-dir/cpu.pb.gz");
    CHECK(pcprof_write_pprof(&fx.profile, path, err, sizeof err) == -1, "missing dir fails");
    CHECK(strstr(err, "no-such-dir") && strstr(err, strerror(ENOENT)), "message: %s", err);
    CHECK(strchr(err, '\n') == NULL && strlen(err) > 20, "one clear line: %s", err);
    path_in_dir(path, sizeof path, "no-such-dir/stacks.txt");
    CHECK(pcprof_write_collapsed(&fx.profile, path, err, sizeof err) == -1, "collapsed too");
    path_in_dir(path, sizeof path, "no-such-dir/cpu.prof");
    CHECK(pcprof_write_legacy(&fx.profile, path, err, sizeof err) == -1, "legacy too");
}

/* Runs fn in a child and returns its exit status: the child may drop
 * privileges or lower limits without affecting the other tests. */
static int in_child(int (*fn)(const char *), const char *arg) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) _exit(fn(arg));
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Child: exit 0 if writing into the read-only directory d fails cleanly. */
static int write_into_readonly(const char *d) {
    /* root ignores directory permissions: become nobody first. */
    if (geteuid() == 0 && setuid(65534) != 0) return 2;
    char path[PATH_MAX], err[256] = "";
    snprintf(path, sizeof path, "%s/cpu.pb.gz", d);
    if (pcprof_write_pprof(&fx.profile, path, err, sizeof err) != -1) return 3;
    if (!strstr(err, strerror(EACCES)) || !strstr(err, d)) {
        fprintf(stderr, "unexpected message: %s\n", err);
        return 4;
    }
    return 0;
}

static void test_unwritable_directory(void) {
    char ro[512];
    path_in_dir(ro, sizeof ro, "readonly");
    CHECK(mkdir(ro, 0555) == 0 && chmod(ro, 0555) == 0, "mkdir %s", ro);
    CHECK(in_child(write_into_readonly, ro) == 0, "unwritable directory gives -1 and EACCES");
    CHECK(count_entries(ro) == 0, "nothing left in the unwritable directory");
}

/* Child: with a 64-byte file size limit the write fails half-way; the old
 * file must survive intact and the temporary file must be gone. */
static int write_too_big(const char *path) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {64, 64};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) return 2;
    char err[256] = "";
    if (pcprof_write_legacy(&fx.profile, path, err, sizeof err) != -1) return 3;
    if (!strstr(err, "write failed") || !strstr(err, strerror(EFBIG))) {
        fprintf(stderr, "unexpected message: %s\n", err);
        return 4;
    }
    return 0;
}

static void test_failed_write_keeps_old_file(void) {
    char sub[512], path[PATH_MAX];
    path_in_dir(sub, sizeof sub, "partial");
    CHECK(mkdir(sub, 0755) == 0, "mkdir");
    snprintf(path, sizeof path, "%s/cpu.prof", sub);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("old profile\n", f);
        fclose(f);
    }
    CHECK(in_child(write_too_big, path) == 0, "a failing write returns -1 with the reason");
    char *text = slurp(path, NULL);
    CHECK(text && strcmp(text, "old profile\n") == 0, "old file untouched: %s", text ? text : "-");
    free(text);
    CHECK(count_entries(sub) == 1, "no temporary file left (%d entries)", count_entries(sub));
}

static void test_successful_write_mode(void) {
    char path[PATH_MAX], err[256] = "";
    path_in_dir(path, sizeof path, "mode.txt");
    CHECK(pcprof_write_collapsed(&fx.profile, path, err, sizeof err) == 0, "write: %s", err);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0644, "mode 0644, not mkstemp's 0600");
}

int main(void) {
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n > 0 ? n : 0] = '\0';
    snprintf(dir, sizeof dir, "/tmp/profcore-output-unit.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    fixture_build(&fx);
    test_synthetic_names();
    test_legacy_standins();
    test_symbolize();
    test_mappings();
    test_collapsed();
    test_legacy();
    test_pprof();
    test_encode_matches_write();
    test_summary();
    test_summary_tail_and_own_cpu();
    test_missing_directory();
    test_unwritable_directory();
    test_failed_write_keeps_old_file();
    test_successful_write_mode();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (failed == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_finish();
}
