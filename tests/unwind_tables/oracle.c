/* unwind_oracle.c — the table builder against binutils.
 *
 * For each object (python3, libc, libm, libz, liblzma, the vDSO), the table
 * compiled from libdw's CFI (profiler/src/unwind_tables.c) is compared row
 * by row with what `readelf --debug-dump=frames-interp` says (binutils has
 * its own DWARF reader, independent of libdw): for every row readelf
 * prints, the rule the table gives at the row's first and last byte must be
 * the rule readelf's columns describe.  CFA expressions, which
 * frames-interp prints only as "exp", are read from the raw dump
 * (`--debug-dump=frames`) of the same FDE.  Rows the walker does not
 * support must be compiled as PCU_KIND_INVALID; their fraction is printed
 * per object.  A FDE readelf lists with no rows has its CIE's initial row.
 *
 * Bad input: a file that is not ELF, and 40 copies of libz whose .eh_frame
 * is corrupted (random bytes overwritten, or the section zeroed): the
 * builder never crashes (this also runs under ASan + UBSan) and every table
 * it still produces keeps the format's invariants (table_invariants).
 *
 * Usage: unwind_oracle [OBJECT...]   (default: the six objects above)
 */
#define _GNU_SOURCE
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "../check.h"
#include "unwind_tables.h"

#define MAX_FDES 200000

/* What the raw dump says about one CIE or FDE (keyed by section offset). */
typedef struct raw_entry {
    unsigned long off;
    char aug[16];       /* CIE augmentation */
    unsigned long cie;  /* FDE: its CIE */
    char expr[256];     /* the FDE's (last) DW_CFA_def_cfa_expression */
    int nexpr;          /* how many distinct ones it has */
    int undefined_fp;   /* DW_CFA_undefined of the frame pointer register */
} raw_entry;

static raw_entry *raw;
static size_t nraw;

static raw_entry *raw_find(unsigned long off) {
    size_t lo = 0, hi = nraw;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (raw[mid].off == off) return &raw[mid];
        if (raw[mid].off < off) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static FILE *readelf(const char *mode, const char *path) {
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "readelf --debug-dump=%s '%s' 2>/dev/null", mode, path);
    return popen(cmd, "r");
}

/* Only the .eh_frame section's entries are read (what the builder used). */
static int in_section(const char *line, int *inside) {
    if (strncmp(line, "Contents of the ", 16) == 0) {
        *inside = strstr(line, ".eh_frame section") != NULL;
        return 1;
    }
    return 0;
}

static void read_raw(const char *path) {
    FILE *f = readelf("frames", path);
    char line[4096];
    int inside = 0;
    raw_entry *cur = NULL;
    nraw = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (in_section(line, &inside) || !inside) continue;
        unsigned long off, len, id;
        char kind[8];
        if (sscanf(line, "%lx %lx %lx %7s", &off, &len, &id, kind) == 4 &&
            (strcmp(kind, "CIE") == 0 || strcmp(kind, "FDE") == 0)) {
            if (nraw == MAX_FDES) break;
            cur = &raw[nraw++];
            memset(cur, 0, sizeof *cur);
            cur->off = off;
            char *c = strstr(line, "cie=");
            if (c) cur->cie = strtoul(c + 4, NULL, 16);
            continue;
        }
        if (cur == NULL) continue;
        char *a = strstr(line, "Augmentation:");
        if (a && (a = strchr(a, '"')) != NULL) {
            char *e = strchr(a + 1, '"');
            size_t n = e ? (size_t)(e - a - 1) : 0;
            if (n >= sizeof cur->aug) n = sizeof cur->aug - 1;
            memcpy(cur->aug, a + 1, n);
        }
        char *x = strstr(line, "DW_CFA_def_cfa_expression (");
        if (x) {
            x += strlen("DW_CFA_def_cfa_expression (");
            char *e = strrchr(x, ')');
            if (e) *e = '\0';
            if (cur->nexpr == 0 || strcmp(cur->expr, x) != 0) cur->nexpr++;
            snprintf(cur->expr, sizeof cur->expr, "%s", x);
        }
#if defined(__x86_64__)
        if (strstr(line, "DW_CFA_undefined: r6 ")) cur->undefined_fp = 1;
#endif
    }
    if (f) pclose(f);
}

/* ---- the expected rule of one readelf row ---- */
typedef struct oracle_stats {
    unsigned long rows, unsupported, mismatches, fdes;
} oracle_stats;

#if defined(__x86_64__)
#define FP_NAME "rbp"
#define SP_NAME "rsp"
#else
#define FP_NAME "x29"
#define SP_NAME "sp"
#endif

static pcu_rule invalid_rule(void) {
    pcu_rule r;
    memset(&r, 0, sizeof r);
    r.kind = PCU_KIND_INVALID;
    return r;
}

/* A register column: "u" (unset or undefined), "cN" (saved at CFA+N), anything else. */
enum { COL_UNSET, COL_OFFSET, COL_OTHER };
static int column(const char *v, long *off) {
    if (strcmp(v, "u") == 0) return COL_UNSET;
    if (v[0] == 'c' && (v[1] == '-' || v[1] == '+' || (v[1] >= '0' && v[1] <= '9'))) {
        *off = strtol(v + 1, NULL, 10);
        return COL_OFFSET;
    }
    return COL_OTHER;
}

static pcu_rule expected_rule(const char *cfa, const char *fp, const char *ra, const raw_entry *fde,
                              const raw_entry *cie) {
    pcu_rule r;
    memset(&r, 0, sizeof r);
    if (cie && strchr(cie->aug, 'S')) {
        r.kind = PCU_KIND_SIGNAL;
        r.cfa_reg = PCU_REG_SP;
        r.cfa_off = PCU_SIGFRAME_UC_OFFSET;
        return r;
    }
    long off;
    int rac = column(ra, &off);
    if (rac == COL_UNSET) {
        r.kind = PCU_KIND_END;
        return r;
    }
    if (rac != COL_OFFSET) return invalid_rule();
    r.ra_off = (int16_t)off;
    if (strcmp(cfa, "exp") == 0) {
        if (fde == NULL || fde->nexpr != 1) return invalid_rule();
#if defined(__x86_64__)
        if (strcmp(fde->expr, "DW_OP_breg7 (rsp): 8; DW_OP_breg16 (rip): 0; DW_OP_lit15; DW_OP_and; "
                              "DW_OP_lit11; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus") == 0) {
            r.kind = PCU_KIND_PLT;
            r.cfa_reg = PCU_REG_SP;
            r.cfa_off = 8;
        } else
#endif
        {
            char reg[16];
            long k;
            char tail[64];
            if (sscanf(fde->expr, "DW_OP_breg%*d (%15[^)]): %ld; %63[^\n]", reg, &k, tail) != 3 ||
                strcmp(tail, "DW_OP_deref") != 0)
                return invalid_rule();
            if (strcmp(reg, SP_NAME) == 0) r.cfa_reg = PCU_REG_SP;
            else if (strcmp(reg, FP_NAME) == 0) r.cfa_reg = PCU_REG_FP;
            else return invalid_rule();
            r.kind = PCU_KIND_CFA_DEREF;
            r.cfa_off = (int32_t)k;
        }
    } else {
        char reg[16];
        long k;
        if (sscanf(cfa, "%15[a-z0-9]%ld", reg, &k) != 2) return invalid_rule();
        if (strcmp(reg, SP_NAME) == 0) r.cfa_reg = PCU_REG_SP;
        else if (strcmp(reg, FP_NAME) == 0) r.cfa_reg = PCU_REG_FP;
        else return invalid_rule();
        r.kind = PCU_KIND_CFA;
        r.cfa_off = (int32_t)k;
    }
    /* An unset frame-pointer column is the ABI's "same value" (callee-saved)
     * unless the FDE explicitly made it undefined. */
    int fpc = fp ? column(fp, &off) : COL_UNSET;
    if (fpc == COL_UNSET && !(fde && fde->undefined_fp)) r.fp_off = PCU_OFF_SAME;
    else if (fpc == COL_OFFSET) r.fp_off = (int16_t)off;
    else return invalid_rule();
    /* The builder's one deliberate change (unwind_tables.c, classify_frame):
     * a frame-pointer slot below SP (an epilogue after the pop) means the
     * register is already restored. */
    if (r.kind == PCU_KIND_CFA && r.cfa_reg == PCU_REG_SP && r.fp_off != PCU_OFF_SAME &&
        (long)r.cfa_off + r.fp_off < 0)
        r.fp_off = PCU_OFF_SAME;
    return r;
}

static bool table_invariants(const pcu_table *t);

/* The table's rule at link-time address a (the oracle's own search). */
static int table_rule(const pcu_table *t, uint64_t a, pcu_rule *out) {
    if (a < t->base || a - t->base >= t->size) return -1;
    uint32_t off = (uint32_t)(a - t->base);
    uint32_t lo = 0, hi = t->nrows;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (t->row_pc[mid] <= off) lo = mid + 1;
        else hi = mid;
    }
    if (lo == 0) return -1;
    uint16_t i = t->row_rule[lo - 1];
    if (i == PCU_RULE_GAP) return 0;
    if (i >= t->nrules) return -1;
    *out = t->rules[i];
    return 1;
}

static const char *kind_name(int k) {
    static const char *n[] = {"CFA", "CFA_DEREF", "PLT", "SIGNAL", "END", "INVALID"};
    return k >= 0 && k <= PCU_KIND_INVALID ? n[k] : "?";
}

static void compare_row(const pcu_table *t, uint64_t lo, uint64_t hi, pcu_rule want,
                        oracle_stats *st, const char *name) {
    st->rows++;
    if (want.kind == PCU_KIND_INVALID) st->unsupported++;
    uint64_t probes[2] = {lo, hi - 1};
    for (int i = 0; i < 2; i++) {
        pcu_rule got;
        int r = table_rule(t, probes[i], &got);
        bool same = r == 1 && memcmp(&got, &want, sizeof got) == 0;
        if (!same) {
            if (st->mismatches++ < 5)
                printf("  %s %#lx: readelf %s cfa %d%+d fp %d ra %d; table %s\n", name,
                       (unsigned long)probes[i], kind_name(want.kind), want.cfa_reg, want.cfa_off,
                       want.fp_off, want.ra_off,
                       r == 1 ? kind_name(got.kind) : r == 0 ? "GAP" : "none");
            return;
        }
    }
}

/* Walks the frames-interp dump: a row lasts to the next row or its FDE's end. */
static void check_object(const char *name, const char *path) {
    prt_ut_object o;
    char err[256] = "";
    if (prt_ut_build_path(path, 0, &o, err, sizeof err) != 0) {
        CHECK(0, "%s: builder failed: %s", name, err);
        return;
    }
    CHECK(o.source == PRT_UT_SRC_EH_FRAME, "%s: built from %s", name, prt_ut_source_name(o.source));
    read_raw(path);
    FILE *f = readelf("frames-interp", path);
    char line[4096];
    int inside = 0;
    oracle_stats st = {0, 0, 0, 0};
    char cols[48][16];
    int ncols = 0, fp_col = -1, ra_col = -1;
    const raw_entry *fde = NULL, *cie = NULL;
    uint64_t fde_hi = 0;
    /* the pending row: [row_lo, next row) with its rule */
    int have_row = 0;
    uint64_t row_lo = 0;
    pcu_rule row_rule;
    /* the CIE's initial rule, for FDEs with no rows */
    pcu_rule cie_rules[64];
    unsigned long cie_offs[64];
    int ncie = 0, fde_rows = 0;
    uint64_t fde_lo = 0;
#define FLUSH_FDE()                                                                                \
    do {                                                                                           \
        if (have_row) compare_row(&o.table, row_lo, fde_hi, row_rule, &st, name);                  \
        else if (fde != NULL && fde_rows == 0 && fde_hi > fde_lo) {                                \
            for (int ci = 0; ci < ncie; ci++)                                                      \
                if (cie_offs[ci] == fde->cie)                                                      \
                    compare_row(&o.table, fde_lo, fde_hi, cie_rules[ci], &st, name);               \
        }                                                                                          \
        have_row = 0;                                                                              \
    } while (0)
    int in_cie = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (in_section(line, &inside) || !inside) continue;
        line[strcspn(line, "\n")] = '\0';
        unsigned long off, len, id;
        char kind[8];
        if (sscanf(line, "%lx %lx %lx %7s", &off, &len, &id, kind) == 4 &&
            (strcmp(kind, "CIE") == 0 || strcmp(kind, "FDE") == 0)) {
            FLUSH_FDE();
            ncols = 0;
            in_cie = strcmp(kind, "CIE") == 0;
            fde_rows = 0;
            if (in_cie) {
                fde = NULL;
                cie = NULL;
                if (ncie < 64) {
                    cie_offs[ncie] = off;
                    cie_rules[ncie] = invalid_rule();
                    ncie++;
                }
                continue;
            }
            fde = raw_find(off);
            cie = fde ? raw_find(fde->cie) : NULL;
            char *pc = strstr(line, "pc=");
            unsigned long long a = 0, b = 0;
            if (pc) sscanf(pc, "pc=%llx..%llx", &a, &b);
            fde_lo = a;
            fde_hi = b;
            st.fdes++;
            continue;
        }
        if (strstr(line, "ZERO terminator")) {
            FLUSH_FDE();
            fde = NULL;
            ncols = 0;
            continue;
        }
        char *t = line;
        while (*t == ' ') t++;
        if (strncmp(t, "LOC", 3) == 0) {
            ncols = 0;
            fp_col = ra_col = -1;
            for (char *tok = strtok(t, " "); tok && ncols < 48; tok = strtok(NULL, " ")) {
                snprintf(cols[ncols], sizeof cols[0], "%s", tok);
                if (strcmp(tok, FP_NAME) == 0) fp_col = ncols;
                if (strcmp(tok, "ra") == 0) ra_col = ncols;
                ncols++;
            }
            continue;
        }
        if (ncols < 2 || !((*t >= '0' && *t <= '9') || (*t >= 'a' && *t <= 'f'))) continue;
        char vals[48][32];
        int nv = 0;
        for (char *tok = strtok(t, " "); tok && nv < 48; tok = strtok(NULL, " ")) {
            if (tok[0] == '(' && nv > 0) continue; /* "r10 (r10)": one column */
            snprintf(vals[nv++], sizeof vals[0], "%s", tok);
        }
        if (nv < ncols || ra_col < 0) continue;
        const char *fpv = fp_col >= 0 ? vals[fp_col] : NULL;
        pcu_rule want = expected_rule(vals[1], fpv, vals[ra_col], fde, cie);
        if (in_cie) {
            if (ncie > 0) cie_rules[ncie - 1] = want;
            continue;
        }
        uint64_t loc = strtoull(vals[0], NULL, 16);
        if (have_row && loc > row_lo) compare_row(&o.table, row_lo, loc, row_rule, &st, name);
        have_row = 1;
        fde_rows++;
        row_lo = loc;
        row_rule = want;
    }
    FLUSH_FDE();
    if (f) pclose(f);
    printf("%-10s %7lu FDEs %8lu rows checked, %lu mismatches, unsupported %.3f %% (%lu rows); "
           "table %zu bytes, %u rows, %u rules, %.2f bytes/row\n",
           name, st.fdes, st.rows, st.mismatches,
           st.rows ? 100.0 * (double)st.unsupported / (double)st.rows : 0.0, st.unsupported,
           o.bytes, o.table.nrows, o.table.nrules,
           o.table.nrows ? (double)o.bytes / o.table.nrows : 0.0);
    CHECK(st.rows > 0, "%s: readelf printed no rows", name);
    CHECK(st.mismatches == 0, "%s: %lu rows differ from readelf", name, st.mismatches);
    CHECK(table_invariants(&o.table), "%s: the table breaks the format's invariants", name);
    CHECK(o.fdes == st.fdes, "%s: %lu FDEs in the table, readelf lists %lu", name,
          (unsigned long)o.fdes, st.fdes);
    prt_ut_object_free(&o);
}

/* The vDSO has no file: its image is written out for readelf and the builder. */
static int dump_vdso(char *path, size_t n) {
    const unsigned char *img = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    if (img == NULL) return -1;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
    size_t size = eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
    snprintf(path, n, "/tmp/pcp-oracle-vdso-%d.so", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (f == NULL) return -1;
    size_t w = fwrite(img, 1, size, f);
    fclose(f);
    return w == size ? 0 : -1;
}

/* The format's invariants (core/profcore_unwind.h's manual). */
static bool table_invariants(const pcu_table *t) {
    if (t->nrows == 0 || t->row_pc[0] != 0) return false;
    for (uint32_t i = 1; i < t->nrows; i++)
        if (t->row_pc[i] <= t->row_pc[i - 1] || t->row_pc[i] >= t->size) return false;
    for (uint32_t i = 0; i < t->nrows; i++)
        if (t->row_rule[i] != PCU_RULE_GAP && t->row_rule[i] >= t->nrules) return false;
    if (t->npages != (t->size >> PCU_PAGE_SHIFT) + 2) return false;
    for (uint32_t p = 0; p < t->npages; p++) {
        if (t->page_first[p] >= t->nrows) return false;
        if (p > 0 && t->page_first[p] < t->page_first[p - 1]) return false;
        uint64_t at = (uint64_t)p << PCU_PAGE_SHIFT; /* page_first[p] covers `at` */
        uint32_t r = t->page_first[p];
        if (t->row_pc[r] > at || (r + 1 < t->nrows && t->row_pc[r + 1] <= at)) return false;
    }
    return true;
}

static void check_bad_inputs(void) {
    prt_ut_object o;
    char err[256] = "";
    char path[128];
    snprintf(path, sizeof path, "/tmp/pcp-oracle-bad-%d", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("not an ELF file at all\n", f);
        fclose(f);
    }
    CHECK(prt_ut_build_path(path, 0, &o, err, sizeof err) != 0 && err[0] != '\0',
          "a non-ELF file is refused with a reason");
    CHECK(prt_ut_build_path("/nonexistent/lib.so", 0, &o, err, sizeof err) != 0,
          "a missing file is refused");
    /* libz with a corrupted .eh_frame */
    const char *src = "/usr/lib/x86_64-linux-gnu/libz.so.1";
    FILE *in = fopen(src, "rb");
    if (in == NULL) {
        CHECK(0, "cannot read %s", src);
        return;
    }
    fseek(in, 0, SEEK_END);
    long n = ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *img = malloc((size_t)n), *copy = malloc((size_t)n);
    size_t got = img ? fread(img, 1, (size_t)n, in) : 0;
    fclose(in);
    if (img == NULL || copy == NULL || got != (size_t)n) {
        CHECK(0, "cannot load %s", src);
        free(img);
        free(copy);
        return;
    }
    /* .eh_frame's file range, from the section headers */
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh->e_shoff);
    const char *names = (const char *)img + sh[eh->e_shstrndx].sh_offset;
    uint64_t off = 0, size = 0;
    for (int i = 0; i < eh->e_shnum; i++)
        if (strcmp(names + sh[i].sh_name, ".eh_frame") == 0) off = sh[i].sh_offset, size = sh[i].sh_size;
    CHECK(size > 0, "libz has no .eh_frame");
    unsigned crashed_never = 0, built = 0, refused = 0, broken = 0;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int seed = 0; seed < 40 && size > 0; seed++) {
        memcpy(copy, img, (size_t)n);
        if (seed % 10 == 9) {
            memset(copy + off, 0, size);
        } else {
            for (int k = 0; k < 1 + seed; k++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                copy[off + (rng >> 33) % size] = (unsigned char)(rng >> 17);
            }
        }
        FILE *out = fopen(path, "wb");
        if (out == NULL) break;
        fwrite(copy, 1, (size_t)n, out);
        fclose(out);
        if (prt_ut_build_path(path, 0, &o, err, sizeof err) == 0) {
            built++;
            if (!table_invariants(&o.table)) broken++;
            prt_ut_object_free(&o);
        } else {
            refused++;
        }
        crashed_never++;
    }
    unlink(path);
    printf("bad input: 40 corrupted copies of libz's .eh_frame: %u built (%u breaking an invariant), %u refused\n",
           built, broken, refused);
    CHECK(crashed_never == 40, "the builder returned on every corrupted copy");
    CHECK(broken == 0, "%u tables from corrupted CFI break the format's invariants", broken);
    free(img);
    free(copy);
}

int main(int argc, char **argv) {
    raw = calloc(MAX_FDES, sizeof *raw);
    if (raw == NULL) return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1) {
        for (int i = 1; i < argc; i++) check_object(argv[i], argv[i]);
        return check_finish();
    }
    static const char *const objs[][2] = {
        {"python3", "/usr/bin/python3.11"},
        {"libc", "/usr/lib/x86_64-linux-gnu/libc.so.6"},
        {"libm", "/usr/lib/x86_64-linux-gnu/libm.so.6"},
        {"libz", "/usr/lib/x86_64-linux-gnu/libz.so.1"},
        {"liblzma", "/usr/lib/x86_64-linux-gnu/liblzma.so.5"},
    };
    for (size_t i = 0; i < sizeof objs / sizeof objs[0]; i++) check_object(objs[i][0], objs[i][1]);
    char vdso[128];
    if (dump_vdso(vdso, sizeof vdso) == 0) {
        check_object("vdso", vdso);
        unlink(vdso);
    } else {
        CHECK(0, "cannot dump the vDSO");
    }
    check_bad_inputs();
    free(raw);
    return check_finish();
}
