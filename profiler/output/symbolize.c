/* symbolize.c — addresses to functions, files and lines with elfutils'
 * libdwfl, and the executable mappings of the current process.
 *
 * Runs in the writer thread (never in a signal handler): libdwfl allocates,
 * opens files and may take milliseconds per module.  Every address is looked
 * up once and cached for the lifetime of the symbolizer.
 *
 * Inline frames: an address inside inlined code yields several source
 * frames, innermost first, found the way eu-addr2line -i does it: the
 * DWARF scopes at the address (dwarf_getscopes), each
 * DW_TAG_inlined_subroutine contributing one frame whose caller's position
 * is its DW_AT_call_file / DW_AT_call_line.
 */
#define _GNU_SOURCE
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfi_fde.h"
#include "output_internal.h"

/* ---- build IDs --------------------------------------------------------------- */
static char *hex_string(const unsigned char *bytes, size_t n) {
    char *s = malloc(2 * n + 1);
    if (!s) return NULL;
    for (size_t i = 0; i < n; i++) snprintf(s + 2 * i, 3, "%02x", bytes[i]);
    s[2 * n] = '\0';
    return s;
}

char *pcout_file_build_id(const char *path) {
    char *none = strdup("");
    if (!none || path[0] != '/') return none;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return none;
    elf_version(EV_CURRENT);
    Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
    char *result = none;
    if (elf) {
        const void *id = NULL;
        ssize_t n = dwelf_elf_gnu_build_id(elf, &id);
        if (n > 0 && id) {
            char *hex = hex_string(id, (size_t)n);
            if (hex) {
                free(none);
                result = hex;
            }
        }
        elf_end(elf);
    }
    close(fd);
    return result;
}

/* ---- /proc/self/maps ---------------------------------------------------------- */
static void trim_deleted(char *path) {
    static const char suffix[] = " (deleted)";
    size_t n = strlen(path), k = sizeof suffix - 1;
    if (n >= k && strcmp(path + n - k, suffix) == 0) path[n - k] = '\0';
}

/* Parses one maps line; returns 1 for an executable mapping with a name. */
static int parse_maps_line(const char *line, pcout_mapping *m) {
    unsigned long long start, limit, offset, inode;
    char perms[8];
    int pathpos = -1;
    if (sscanf(line, "%llx-%llx %7s %llx %*s %llu %n", &start, &limit, perms, &offset, &inode,
               &pathpos) < 5 ||
        pathpos < 0)
        return 0;
    if (strlen(perms) < 3 || perms[2] != 'x') return 0;
    const char *path = line + pathpos;
    if (*path == '\0') return 0; /* anonymous executable memory (JITs): nothing to name it by */
    m->start = start;
    m->limit = limit;
    m->offset = offset;
    m->path = strdup(path);
    if (!m->path) return 0;
    m->path[strcspn(m->path, "\n")] = '\0';
    trim_deleted(m->path);
    return 1;
}

static int cmp_mapping(const void *a, const void *b) {
    const pcout_mapping *x = a, *y = b;
    if (x->is_main != y->is_main) return x->is_main ? -1 : 1;
    return x->start < y->start ? -1 : x->start > y->start;
}

size_t pcout_read_mappings(pcout_mapping **out) {
    *out = NULL;
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f) return 0;
    char exe[PATH_MAX];
    ssize_t elen = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[elen > 0 ? elen : 0] = '\0';
    trim_deleted(exe);

    pcout_mapping *maps = NULL;
    size_t n = 0, cap = 0;
    char *line = NULL;
    size_t linecap = 0;
    while (getline(&line, &linecap, f) > 0) {
        pcout_mapping m;
        memset(&m, 0, sizeof m);
        if (!parse_maps_line(line, &m)) continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            pcout_mapping *grown = realloc(maps, ncap * sizeof *grown);
            if (!grown) {
                free(m.path);
                break;
            }
            maps = grown;
            cap = ncap;
        }
        m.is_main = exe[0] && strcmp(m.path, exe) == 0;
        m.build_id = pcout_file_build_id(m.path);
        if (!m.build_id) {
            free(m.path);
            break;
        }
        maps[n++] = m;
    }
    free(line);
    fclose(f);
    qsort(maps, n, sizeof *maps, cmp_mapping);
    *out = maps;
    return n;
}

void pcout_free_mappings(pcout_mapping *m, size_t n) {
    for (size_t i = 0; i < n; i++) {
        free(m[i].path);
        free(m[i].build_id);
    }
    free(m);
}

int pcout_mapping_find(const pcout_mapping *m, size_t n, uint64_t addr) {
    for (size_t i = 0; i < n; i++)
        if (addr >= m[i].start && addr < m[i].limit) return (int)i;
    return -1;
}

/* ---- the symbolizer --------------------------------------------------------------- */
struct pcout_symbolizer {
    Dwfl *dwfl; /* NULL when libdwfl could not report the process */
    Dwfl_Callbacks callbacks; /* dwfl keeps a pointer to these: they live in s */
    char *debuginfo_path;
    pcout_mapping *maps;
    size_t nmaps;
    pcout_u64map index;     /* address -> symbols[] index */
    pcout_symbol **symbols; /* stable pointers: the array of pointers grows, entries do not move */
    size_t nsymbols, capsymbols;
    pcout_strtab names; /* owns every string the frames point to */
    /* FDE ranges per module, for naming addresses no symbol covers. */
    struct fde_cache {
        Dwfl_Module *mod;
        pcout_fde_range *ranges;
        long n;
    } *fdes;
    size_t nfdes;
};

static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
};

pcout_symbolizer *pcout_symbolizer_open(void) {
    pcout_symbolizer *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->nmaps = pcout_read_mappings(&s->maps);
    s->callbacks = proc_callbacks;
    s->callbacks.debuginfo_path = &s->debuginfo_path;
    s->dwfl = dwfl_begin(&s->callbacks);
    if (s->dwfl && (dwfl_linux_proc_report(s->dwfl, getpid()) != 0 ||
                    dwfl_report_end(s->dwfl, NULL, NULL) != 0)) {
        dwfl_end(s->dwfl);
        s->dwfl = NULL;
    }
    return s;
}

void pcout_symbolizer_close(pcout_symbolizer *s) {
    if (!s) return;
    if (s->dwfl) dwfl_end(s->dwfl);
    pcout_free_mappings(s->maps, s->nmaps);
    for (size_t i = 0; i < s->nsymbols; i++) {
        free(s->symbols[i]->frames);
        free(s->symbols[i]);
    }
    free(s->symbols);
    for (size_t i = 0; i < s->nfdes; i++) free(s->fdes[i].ranges);
    free(s->fdes);
    pcout_u64map_free(&s->index);
    pcout_strtab_free(&s->names);
    free(s);
}

const pcout_mapping *pcout_symbolizer_mappings(const pcout_symbolizer *s, size_t *n) {
    *n = s->nmaps;
    return s->maps;
}

static const char *intern(pcout_symbolizer *s, const char *str) {
    uint32_t i = pcout_strtab_intern(&s->names, str ? str : "");
    return s->names.failed ? "" : s->names.strs[i];
}

/* Name of a function DIE: the linkage (mangled) name when there is one, as
 * the ELF symbol table would give, else DW_AT_name; both looked up through
 * DW_AT_abstract_origin / DW_AT_specification. */
static const char *die_function_name(Dwarf_Die *die) {
    Dwarf_Attribute attr;
    const char *name = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) ||
        dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr))
        name = dwarf_formstring(&attr);
    if (!name) name = dwarf_diename(die);
    /* A clone (foo.constprop.0, foo.part.0) names itself only through its
     * abstract origin. */
    if (!name && dwarf_attr_integrate(die, DW_AT_name, &attr)) name = dwarf_formstring(&attr);
    return name;
}

static int is_function_scope(Dwarf_Die *die) {
    int tag = dwarf_tag(die);
    return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine;
}

static int add_frame(pcout_symbolizer *s, pcout_symbol *sym, uint32_t *cap, const char *fn,
                     const char *file, int64_t line) {
    if (sym->nframes == *cap) {
        uint32_t ncap = *cap ? *cap * 2 : 4;
        pcout_srcframe *f = realloc(sym->frames, ncap * sizeof *f);
        if (!f) return -1;
        sym->frames = f;
        *cap = ncap;
    }
    pcout_srcframe *fr = &sym->frames[sym->nframes++];
    fr->function = intern(s, fn);
    fr->file = intern(s, file);
    fr->line = line;
    return 0;
}

/* DWARF file names may be relative to the CU's compilation directory;
 * tools downstream (pprof -list, editors) need them absolute. */
static const char *absolute_source(pcout_symbolizer *s, Dwarf_Die *cudie, const char *file) {
    if (!file || !*file || file[0] == '/' || !cudie) return file ? file : "";
    Dwarf_Attribute attr;
    const char *dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &attr));
    if (!dir || !*dir) return file;
    char joined[PATH_MAX];
    if (snprintf(joined, sizeof joined, "%s/%s", dir, file) >= (int)sizeof joined) return file;
    return intern(s, joined);
}

/* The compile unit covering addr.  dwfl_module_addrdie needs
 * .debug_aranges, which clang does not emit by default and which libdw
 * 0.188 does not synthesize: without this fallback every clang-built
 * binary would lose its files and lines.  The fallback walks the CUs and
 * asks each whether it covers the address (cost: one walk per new
 * address, cached by the caller). */
static Dwarf_Die *find_cu(Dwfl_Module *mod, uint64_t addr, Dwarf_Die *storage, Dwarf_Addr *bias) {
    Dwarf_Die *cu = dwfl_module_addrdie(mod, addr, bias);
    if (cu) return cu;
    for (cu = dwfl_module_nextcu(mod, NULL, bias); cu; cu = dwfl_module_nextcu(mod, cu, bias)) {
        if (dwarf_haspc(cu, addr - *bias) > 0) {
            *storage = *cu;
            return storage;
        }
    }
    return NULL;
}

/* Fills the inline chain from DWARF scopes.  Returns the number of frames
 * added (0 when the CU has no usable scopes for the address). */
static uint32_t add_inline_frames(pcout_symbolizer *s, Dwarf_Die *cudie, Dwarf_Addr bias,
                                  pcout_symbol *sym, uint32_t *cap, uint64_t addr,
                                  const char *elf_name, const char *leaf_file, int64_t leaf_line) {
    /* dwarf_getscopes continues past an inlined instance into the scopes of
     * its abstract definition, which loses the caller; so take only its
     * innermost scope and walk that DIE's physical parents instead. */
    Dwarf_Die *scopes = NULL;
    int nscopes = dwarf_getscopes(cudie, addr - bias, &scopes);
    Dwarf_Die innermost;
    int have_innermost = nscopes > 0;
    if (have_innermost) innermost = scopes[0];
    free(scopes);
    scopes = NULL;
    nscopes = have_innermost ? dwarf_getscopes_die(&innermost, &scopes) : 0;
    if (nscopes <= 0) {
        free(scopes);
        return 0;
    }
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    if (dwarf_getsrcfiles(cudie, &files, &nfiles) != 0) files = NULL;

    uint32_t added = 0;
    const char *file = leaf_file;
    int64_t line = leaf_line;
    for (int i = 0; i < nscopes; i++) {
        Dwarf_Die *die = &scopes[i];
        if (!is_function_scope(die)) continue;
        int inlined = dwarf_tag(die) == DW_TAG_inlined_subroutine;
        const char *name = die_function_name(die);
        /* The outermost (real) function: prefer the ELF symbol so the name
         * matches what non-DWARF tools show. */
        if (!inlined && elf_name) name = elf_name;
        if (add_frame(s, sym, cap, name ? name : "??", file, line) != 0) break;
        added++;
        if (!inlined) break;
        /* The caller's position is where this inlined call was made. */
        Dwarf_Attribute attr;
        Dwarf_Word call_file = 0, call_line = 0;
        file = "";
        line = 0;
        if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &call_file) == 0 && files) {
            const char *f = dwarf_filesrc(files, call_file, NULL, NULL);
            if (f) file = absolute_source(s, cudie, f);
        }
        if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &call_line) == 0)
            line = (int64_t)call_line;
    }
    free(scopes);
    return added;
}

/* Fallback name for an address no symbol covers: module+0xOFF, or 0xADDR. */
static void fallback_name(pcout_symbolizer *s, Dwfl_Module *mod, uint64_t addr, char *out,
                          size_t outlen) {
    const char *modname = NULL;
    Dwarf_Addr base = 0;
    if (mod) modname = dwfl_module_info(mod, NULL, &base, NULL, NULL, NULL, NULL, NULL);
    if (!modname) {
        int mi = pcout_mapping_find(s->maps, s->nmaps, addr);
        if (mi >= 0) {
            modname = s->maps[mi].path;
            base = s->maps[mi].start - s->maps[mi].offset;
        }
    }
    if (modname) {
        const char *slash = strrchr(modname, '/');
        snprintf(out, outlen, "%s+0x%" PRIx64, slash ? slash + 1 : modname, addr - (uint64_t)base);
    } else {
        snprintf(out, outlen, "0x%" PRIx64, addr);
    }
}

/* The FDE ranges of a module (.eh_frame, else .debug_frame), computed once. */
static const struct fde_cache *module_fdes(pcout_symbolizer *s, Dwfl_Module *mod) {
    for (size_t i = 0; i < s->nfdes; i++)
        if (s->fdes[i].mod == mod) return &s->fdes[i];
    struct fde_cache *g = realloc(s->fdes, (s->nfdes + 1) * sizeof *g);
    if (!g) return NULL;
    s->fdes = g;
    struct fde_cache *c = &s->fdes[s->nfdes++];
    c->mod = mod;
    c->ranges = NULL;
    c->n = 0;
    GElf_Addr bias;
    Elf *elf = dwfl_module_getelf(mod, &bias);
    if (elf) {
        c->n = pcout_cfi_fde_ranges(elf, PCOUT_CFI_EH_FRAME, &c->ranges);
        if (c->n <= 0) c->n = pcout_cfi_fde_ranges(elf, PCOUT_CFI_DEBUG_FRAME, &c->ranges);
        if (c->n < 0) c->n = 0;
    }
    return c;
}

/* An address no symbol covers (a stripped library such as Debian's libz, a
 * PLT stub) named by the start of the FDE that contains it, at its
 * link-time address: "libz.so.1.2.13+0x3a40".  Every address of one
 * function gets the same name, so samples aggregate per function and the
 * name is the same in every run.  0 when no FDE covers it. */
static int fde_name(pcout_symbolizer *s, Dwfl_Module *mod, uint64_t addr, char *out, size_t outlen) {
    const struct fde_cache *c = mod ? module_fdes(s, mod) : NULL;
    GElf_Addr bias = 0;
    if (!c || c->n <= 0 || !dwfl_module_getelf(mod, &bias)) return 0;
    long i = pcout_fde_find(c->ranges, (size_t)c->n, addr - bias);
    if (i < 0) return 0;
    const char *modname = dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    if (!modname) return 0;
    const char *slash = strrchr(modname, '/');
    snprintf(out, outlen, "%s+0x%" PRIx64, slash ? slash + 1 : modname, c->ranges[i].start);
    return 1;
}

static void symbolize_into(pcout_symbolizer *s, pcout_symbol *sym) {
    uint64_t addr = sym->address;
    uint32_t cap = 0;
    Dwfl_Module *mod = s->dwfl ? dwfl_addrmodule(s->dwfl, addr) : NULL;
    const char *elf_name = NULL;
    const char *file = "";
    int64_t line = 0;
    if (mod) {
        GElf_Off off = 0;
        GElf_Sym esym;
        elf_name = dwfl_module_addrinfo(mod, addr, &off, &esym, NULL, NULL, NULL);
        Dwarf_Die cu_storage;
        Dwarf_Addr bias = 0;
        Dwarf_Die *cudie = find_cu(mod, addr, &cu_storage, &bias);
        Dwarf_Line *l = cudie ? dwarf_getsrc_die(cudie, addr - bias) : NULL;
        int lineno = 0;
        const char *src = l ? dwarf_linesrc(l, NULL, NULL) : NULL;
        if (src && dwarf_lineno(l, &lineno) == 0) {
            file = absolute_source(s, cudie, src);
            line = lineno;
            sym->has_line = 1;
        }
        if (cudie && add_inline_frames(s, cudie, bias, sym, &cap, addr, elf_name, file, line) > 0) {
            sym->has_function = 1;
            return;
        }
    }
    if (elf_name) {
        sym->has_function = 1;
        add_frame(s, sym, &cap, elf_name, file, line);
        return;
    }
    char name[PATH_MAX + 32];
    if (fde_name(s, mod, addr, name, sizeof name)) {
        sym->has_function = 1; /* a stable function entry: pprof keeps it */
        add_frame(s, sym, &cap, name, file, line);
        return;
    }
    fallback_name(s, mod, addr, name, sizeof name);
    sym->has_line = 0;
    add_frame(s, sym, &cap, name, "", 0);
}

const pcout_symbol *pcout_symbolize(pcout_symbolizer *s, uint64_t address) {
    uint32_t idx;
    if (pcout_u64map_get(&s->index, address, &idx)) return s->symbols[idx];
    if (s->nsymbols == s->capsymbols) {
        size_t ncap = s->capsymbols ? s->capsymbols * 2 : 256;
        pcout_symbol **grown = realloc(s->symbols, ncap * sizeof *grown);
        if (!grown) return NULL;
        s->symbols = grown;
        s->capsymbols = ncap;
    }
    pcout_symbol *sym = calloc(1, sizeof *sym);
    if (!sym) return NULL;
    sym->address = address;
    sym->mapping = pcout_mapping_find(s->maps, s->nmaps, address);
    symbolize_into(s, sym);
    if (sym->nframes == 0 || pcout_u64map_put(&s->index, address, (uint32_t)s->nsymbols) != 0) {
        free(sym->frames);
        free(sym);
        return NULL;
    }
    s->symbols[s->nsymbols++] = sym;
    return sym;
}
