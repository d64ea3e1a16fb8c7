/* unwind_objects.c — the process's unwind tables: one per loaded object,
 * published to the signal handler as an immutable snapshot.
 *
 * Who runs what:
 *   - prt_unwind_tables_start (pcp_start, before the timers are armed),
 *     prt_unwind_tables_refresh (the writer thread) and
 *     prt_unwind_tables_stop (session end) build, publish and retire, under
 *     prt_ut_mu; they allocate, open files and may sleep;
 *   - the handler only brackets its walk with prt_unwind_snapshot_enter /
 *     leave and bumps the walk counters: a few atomic operations, no wait.
 *
 * Publication: a snapshot (the pcu_snapshot and its table array) and the
 * object tables it points to are never written after the pointer store
 * that publishes it.  Retiring one: the new snapshot replaces it with one
 * exchange; the old one and the tables that left with it (unloaded
 * objects) are freed only after a grace period in which every handler that
 * could have loaded the old pointer has left.  Handlers count themselves in
 * one of two reader counters chosen by the epoch's parity (the scheme of
 * sleepable RCU): the retiring side flips the epoch and waits for the
 * counter of the old parity to drain, twice, so a handler that read the
 * epoch just before a flip is waited for too.  The handler never waits;
 * the writer's wait ends because each handler leaves after one walk.
 *
 * New objects: dl_iterate_phdr's adds/subs counters (glibc) change with
 * every dlopen/dlclose; the writer thread compares them on each wake-up
 * and rebuilds the snapshot when they moved (tables of objects still
 * loaded are reused).  Until then a sample in a new library has no table
 * there and falls back to frame pointers (counted).  A sample during
 * dlclose reads only tables that are still published or in their grace
 * period: the unmapped library's table is freed after the next refresh's
 * grace period, never before.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "unwind_tables.h"

/* Total table memory before objects fall back to frame pointers. */
#define PRT_UT_DEFAULT_CAP ((size_t)64 << 20)

typedef struct ut_entry {
    char *name;      /* file path, or "[vdso]" */
    uintptr_t bias;  /* load bias (dlpi_addr) */
    bool has_table;
    bool over_cap;   /* not built: the memory cap was reached */
    bool seen;       /* mark of the current dl_iterate_phdr pass */
    prt_ut_object obj;
} ut_entry;

/* The published snapshot with its table array, one allocation. */
typedef struct ut_snap {
    pcu_snapshot snap;
    pcu_table tables[];
} ut_snap;

static pthread_mutex_t prt_ut_mu = PTHREAD_MUTEX_INITIALIZER;
static ut_entry *prt_ut_entries; /* under prt_ut_mu */
static size_t prt_ut_n, prt_ut_cap;
static unsigned long long prt_ut_adds, prt_ut_subs; /* last seen, under prt_ut_mu */
static size_t prt_ut_bytes, prt_ut_limit;
static int prt_ut_mode = PCPROF_UNWIND_AUTO;
/* The object part of the report, kept when a session's tables are freed. */
static pcprof_unwind_info prt_ut_final;
static bool prt_ut_have_final;

/* Handler-visible: the snapshot (atomic), the epoch and reader counters. */
static ut_snap *prt_ut_current;
static unsigned prt_ut_epoch;
static unsigned prt_ut_readers[2];
/* 0: nothing asked; 1: a handler asked for a refresh; 2: the writer was woken. */
static unsigned prt_ut_refresh_state;

/* Counters (relaxed atomics; the report reads them). */
static struct {
    uint64_t walks_tables, walks_fp, fp_steps, depth_sum;
    uint64_t depth_hist[PRT_UNWIND_DEPTH_BUCKETS];
    uint64_t ends[PRT_UNWIND_END_REASONS];
    uint64_t snapshots_published, snapshots_retired, build_ns;
} prt_ut_stats;

/* The vocabulary's names (vocab.h); NULL picks the default. */
int prt_unwind_parse_mode(const char *s) { return s == NULL ? PCPROF_UNWIND_AUTO : pcprof_unwind_code(s); }

PROFCORE_SIGNAL_SAFE int prt_unwind_mode(void) { return __atomic_load_n(&prt_ut_mode, __ATOMIC_RELAXED); }

/* ---- the handler's side ---------------------------------------------------- */

PROFCORE_SIGNAL_SAFE const pcu_snapshot *prt_unwind_snapshot_enter(unsigned *token) {
    unsigned i = __atomic_load_n(&prt_ut_epoch, __ATOMIC_SEQ_CST) & 1u;
    /* Seq_cst: this increment is ordered before the pointer load, so a
     * retiring writer that does not see it has already exchanged the
     * pointer, and this load sees the new snapshot (see the file comment;
     * the pair is prt_ut_wait_readers' load). */
    __atomic_add_fetch(&prt_ut_readers[i], 1u, __ATOMIC_SEQ_CST);
    *token = i;
    ut_snap *s = __atomic_load_n(&prt_ut_current, __ATOMIC_SEQ_CST);
    return s != NULL ? &s->snap : NULL;
}

PROFCORE_SIGNAL_SAFE void prt_unwind_snapshot_leave(unsigned token) {
    /* Release: every read of the snapshot happens before the count drops;
     * acquire pair: the load in prt_ut_wait_readers. */
    __atomic_sub_fetch(&prt_ut_readers[token & 1u], 1u, __ATOMIC_RELEASE);
}

PROFCORE_SIGNAL_SAFE void prt_unwind_request_refresh(void) {
    unsigned none = 0;
    __atomic_compare_exchange_n(&prt_ut_refresh_state, &none, 1u, false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
}

PROFCORE_SIGNAL_SAFE bool prt_unwind_refresh_wake(void) {
    unsigned asked = 1;
    return __atomic_compare_exchange_n(&prt_ut_refresh_state, &asked, 2u, false, __ATOMIC_RELAXED,
                                       __ATOMIC_RELAXED);
}

PROFCORE_SIGNAL_SAFE static void prt_ut_count(uint64_t *c, uint64_t v) {
    __atomic_fetch_add(c, v, __ATOMIC_RELAXED);
}

PROFCORE_SIGNAL_SAFE void prt_unwind_count_walk(bool tables, uint32_t depth, unsigned end,
                                                uint32_t fp_steps) {
    prt_ut_count(tables ? &prt_ut_stats.walks_tables : &prt_ut_stats.walks_fp, 1);
    prt_ut_count(&prt_ut_stats.fp_steps, fp_steps);
    prt_ut_count(&prt_ut_stats.depth_sum, depth);
    unsigned b = 0;
    while (b + 1 < PRT_UNWIND_DEPTH_BUCKETS && depth >= (2u << b)) b++;
    prt_ut_count(&prt_ut_stats.depth_hist[b], 1);
    if (end < PRT_UNWIND_END_REASONS) prt_ut_count(&prt_ut_stats.ends[end], 1);
}

/* ---- grace period ------------------------------------------------------------ */

static void prt_ut_sleep_us(long us) {
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

static void prt_ut_wait_readers(void) {
    for (int flip = 0; flip < 2; flip++) {
        unsigned old = __atomic_fetch_add(&prt_ut_epoch, 1u, __ATOMIC_SEQ_CST) & 1u;
        /* Acquire pair: prt_unwind_snapshot_leave's release. */
        while (__atomic_load_n(&prt_ut_readers[old], __ATOMIC_ACQUIRE) != 0) prt_ut_sleep_us(20);
    }
}

/* Publishes `next` (may be NULL) and returns once no handler can still
 * read the snapshot it replaced, which the caller then frees. */
static ut_snap *prt_ut_publish(ut_snap *next) {
    /* Seq_cst exchange: the pair of the handler's seq_cst pointer load. */
    ut_snap *old = __atomic_exchange_n(&prt_ut_current, next, __ATOMIC_SEQ_CST);
    if (next != NULL) prt_ut_count(&prt_ut_stats.snapshots_published, 1);
    prt_ut_wait_readers();
    if (old != NULL) prt_ut_count(&prt_ut_stats.snapshots_retired, 1);
    return old;
}

/* ---- the objects --------------------------------------------------------------- */

static uint64_t prt_ut_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The vDSO has no file: its image is copied out of memory (libelf may not
 * be given the live mapping) and compiled from the copy. */
static int prt_ut_build_vdso(uintptr_t bias, prt_ut_object *o, char *err, size_t errlen) {
    const unsigned char *img = (const unsigned char *)getauxval(AT_SYSINFO_EHDR);
    if (img == NULL) {
        snprintf(err, errlen, "no vDSO");
        return -1;
    }
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)img;
    size_t size = (size_t)eh->e_shoff + (size_t)eh->e_shnum * eh->e_shentsize;
    if (size == 0 || size > ((size_t)1 << 20)) {
        snprintf(err, errlen, "implausible vDSO size %zu", size);
        return -1;
    }
    char *copy = malloc(size);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(copy, img, size);
    elf_version(EV_CURRENT);
    Elf *elf = elf_memory(copy, size);
    int rc = -1;
    if (elf == NULL) snprintf(err, errlen, "libelf cannot read the vDSO");
    else rc = prt_ut_build_elf(elf, bias, o, err, errlen);
    if (elf != NULL) elf_end(elf);
    free(copy);
    return rc;
}

static ut_entry *prt_ut_find(const char *name, uintptr_t bias) {
    for (size_t i = 0; i < prt_ut_n; i++)
        if (prt_ut_entries[i].bias == bias && strcmp(prt_ut_entries[i].name, name) == 0)
            return &prt_ut_entries[i];
    return NULL;
}

/* A new entry, its table built unless the cap is reached. */
static void prt_ut_add(const char *name, uintptr_t bias, bool is_vdso) {
    if (prt_ut_n == prt_ut_cap) {
        size_t nc = prt_ut_cap ? 2 * prt_ut_cap : 32;
        ut_entry *g = realloc(prt_ut_entries, nc * sizeof *g);
        if (g == NULL) return; /* not tracked: frame pointers there */
        prt_ut_entries = g;
        prt_ut_cap = nc;
    }
    ut_entry *e = &prt_ut_entries[prt_ut_n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    if (e->name == NULL) return;
    e->bias = bias;
    e->seen = true;
    prt_ut_n++;
    if (prt_ut_bytes >= prt_ut_limit) {
        e->over_cap = true;
        return;
    }
    char err[160];
    int rc = is_vdso ? prt_ut_build_vdso(bias, &e->obj, err, sizeof err)
                     : prt_ut_build_path(name, bias, &e->obj, err, sizeof err);
    if (rc != 0) return;
    if (prt_ut_bytes + e->obj.bytes > prt_ut_limit) { /* this one crosses the cap */
        prt_ut_object_free(&e->obj);
        e->over_cap = true;
        prt_ut_bytes = prt_ut_limit;
        return;
    }
    prt_ut_bytes += e->obj.bytes;
    e->has_table = true;
}

typedef struct ut_scan {
    unsigned long long adds, subs;
    bool counters_only; /* stop after reading the counters */
    char exe[PATH_MAX];
} ut_scan;

static bool prt_ut_is_vdso(const struct dl_phdr_info *info) {
    uintptr_t vdso = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    return vdso != 0 && (uintptr_t)info->dlpi_phdr >= vdso && (uintptr_t)info->dlpi_phdr < vdso + 4096;
}

static int prt_ut_visit(struct dl_phdr_info *info, size_t size, void *arg) {
    ut_scan *s = arg;
    if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) return 1;
    s->adds = info->dlpi_adds;
    s->subs = info->dlpi_subs;
    if (s->counters_only) return 1;
    bool vdso = prt_ut_is_vdso(info);
    const char *name = vdso ? "[vdso]" : info->dlpi_name[0] != '\0' ? info->dlpi_name : s->exe;
    if (name[0] == '\0') return 0;
    ut_entry *e = prt_ut_find(name, (uintptr_t)info->dlpi_addr);
    if (e != NULL) e->seen = true;
    else prt_ut_add(name, (uintptr_t)info->dlpi_addr, vdso);
    return 0;
}

static int prt_ut_cmp_table(const void *a, const void *b) {
    const pcu_table *x = a, *y = b;
    return x->base < y->base ? -1 : x->base > y->base;
}

/* A snapshot of the entries that have a table, sorted, overlaps dropped. */
static ut_snap *prt_ut_snapshot_make(void) {
    size_t n = 0;
    for (size_t i = 0; i < prt_ut_n; i++) n += prt_ut_entries[i].has_table && prt_ut_entries[i].seen;
    ut_snap *s = malloc(sizeof *s + (n ? n : 1) * sizeof(pcu_table));
    if (s == NULL) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < prt_ut_n; i++)
        if (prt_ut_entries[i].has_table && prt_ut_entries[i].seen) s->tables[k++] = prt_ut_entries[i].obj.table;
    qsort(s->tables, k, sizeof s->tables[0], prt_ut_cmp_table);
    size_t out = 0;
    for (size_t i = 0; i < k; i++) {
        if (out > 0 && s->tables[out - 1].base + s->tables[out - 1].size > s->tables[i].base)
            continue; /* overlapping CFI of two objects: the lower one wins */
        s->tables[out++] = s->tables[i];
    }
    s->snap.ntables = (uint32_t)out;
    s->snap.tables = s->tables;
    return s;
}

/* One pass over the loaded objects; publishes a new snapshot when the set
 * changed; frees what left after the grace period.  prt_ut_mu held. */
static void prt_ut_rescan_locked(bool force) {
    ut_scan scan;
    memset(&scan, 0, sizeof scan);
    scan.counters_only = true;
    dl_iterate_phdr(prt_ut_visit, &scan);
    if (!force && scan.adds == prt_ut_adds && scan.subs == prt_ut_subs) return;
    uint64_t t0 = prt_ut_now_ns();
    scan.counters_only = false;
    ssize_t len = readlink("/proc/self/exe", scan.exe, sizeof scan.exe - 1);
    scan.exe[len > 0 ? len : 0] = '\0';
    for (size_t i = 0; i < prt_ut_n; i++) prt_ut_entries[i].seen = false;
    dl_iterate_phdr(prt_ut_visit, &scan);
    prt_ut_adds = scan.adds;
    prt_ut_subs = scan.subs;
    ut_snap *next = prt_ut_snapshot_make();
    if (next == NULL) return; /* out of memory: the old snapshot stays (still valid) */
    free(prt_ut_publish(next));
    /* Past the grace period: objects that left are no longer reachable. */
    size_t keep = 0;
    for (size_t i = 0; i < prt_ut_n; i++) {
        ut_entry *e = &prt_ut_entries[i];
        if (e->seen) {
            prt_ut_entries[keep++] = *e;
            continue;
        }
        prt_ut_bytes -= e->has_table ? e->obj.bytes : 0;
        prt_ut_object_free(&e->obj);
        free(e->name);
    }
    prt_ut_n = keep;
    __atomic_fetch_add(&prt_ut_stats.build_ns, prt_ut_now_ns() - t0, __ATOMIC_RELAXED);
}

static void prt_ut_free_all_locked(void) {
    free(prt_ut_publish(NULL));
    for (size_t i = 0; i < prt_ut_n; i++) {
        prt_ut_object_free(&prt_ut_entries[i].obj);
        free(prt_ut_entries[i].name);
    }
    free(prt_ut_entries);
    prt_ut_entries = NULL;
    prt_ut_n = prt_ut_cap = 0;
    prt_ut_bytes = 0;
    prt_ut_adds = prt_ut_subs = 0;
}

/* A fork child inherits the parent's tables: the same objects at the same
 * addresses, so they stay valid, and keeping them spares the child's
 * session the rebuild (about 10 of the ~12 ms a forked worker's start
 * costs here).  fork.c's prepare handler takes prt_ut_mu last (it is the
 * innermost lock: taken under prt_api_mu by start and stop, alone by the
 * writer's refresh), so no parent thread is half-way through changing the
 * entries when the child's copy is made.  What the child does not keep:
 * the published snapshot and the reader counts, which belong to handlers
 * of the parent's threads (none runs in the child: one thread, SIGPROF
 * blocked); the child's next start publishes a snapshot of its own. */
void prt_unwind_tables_fork_prepare(void) { pthread_mutex_lock(&prt_ut_mu); }
void prt_unwind_tables_fork_parent(void) { pthread_mutex_unlock(&prt_ut_mu); }
void prt_unwind_tables_fork_child(void) {
    pthread_mutex_init(&prt_ut_mu, NULL);
    ut_snap *parents = __atomic_exchange_n(&prt_ut_current, NULL, __ATOMIC_SEQ_CST);
    free(parents); /* its tables are the entries' own, kept */
    prt_ut_readers[0] = prt_ut_readers[1] = 0;
    prt_ut_refresh_state = 0;
}

void prt_unwind_tables_start(int mode) {
    pthread_mutex_lock(&prt_ut_mu);
    const char *cap = getenv("PCP_TEST_UNWIND_CAP_BYTES"); /* test knob: a small cap */
    size_t limit = cap != NULL ? (size_t)strtoull(cap, NULL, 10) : PRT_UT_DEFAULT_CAP;
    /* The tables of the previous session are kept (same objects, same
     * address space): a new session rebuilds only what was loaded since.
     * A different cap or no tables at all start from nothing. */
    if (mode == PCPROF_UNWIND_FP || limit != prt_ut_limit) prt_ut_free_all_locked();
    prt_ut_limit = limit;
    prt_ut_have_final = false;
    memset(&prt_ut_stats, 0, sizeof prt_ut_stats);
    __atomic_store_n(&prt_ut_mode, mode, __ATOMIC_RELAXED);
    if (mode != PCPROF_UNWIND_FP) prt_ut_rescan_locked(true);
    pthread_mutex_unlock(&prt_ut_mu);
}

void prt_unwind_tables_refresh(void) {
    if (prt_unwind_mode() == PCPROF_UNWIND_FP) return;
    /* trylock: a start or stop in progress does this work itself */
    if (pthread_mutex_trylock(&prt_ut_mu) != 0) return;
    /* Cleared before the scan: a request made during it wakes us again. */
    __atomic_store_n(&prt_ut_refresh_state, 0u, __ATOMIC_RELAXED);
    if (__atomic_load_n(&prt_ut_current, __ATOMIC_RELAXED) != NULL) prt_ut_rescan_locked(false);
    pthread_mutex_unlock(&prt_ut_mu);
}

/* pcp_objects_changed: the same rescan as the writer's, on the calling
 * thread and waiting for the lock, so that when it returns every object
 * loaded before the call is in the published snapshot.  The writer's poll
 * (every 100 ms, or woken by a walk that found no table) leaves a window
 * after a dlopen in which samples in the new object end "no-table"; a
 * program that knows when it loads code closes that window with this call.
 * Returns false when no snapshot is published (no session, or --unwind fp):
 * then there is nothing to bring up to date. */
bool prt_unwind_tables_sync(void) {
    if (prt_unwind_mode() == PCPROF_UNWIND_FP) return false;
    pthread_mutex_lock(&prt_ut_mu);
    bool live = __atomic_load_n(&prt_ut_current, __ATOMIC_RELAXED) != NULL;
    if (live) prt_ut_rescan_locked(false);
    pthread_mutex_unlock(&prt_ut_mu);
    return live;
}

static void prt_ut_objects_report_locked(pcprof_unwind_info *r);

void prt_unwind_tables_stop(void) {
    pthread_mutex_lock(&prt_ut_mu);
    /* The report adds up; this session's starts from nothing (a second
     * session once reported the first one's objects twice). */
    memset(&prt_ut_final, 0, sizeof prt_ut_final);
    prt_ut_objects_report_locked(&prt_ut_final);
    prt_ut_have_final = true;
    /* Unpublished and, after the grace period, the snapshot freed; the
     * object tables stay for the next session (prt_unwind_tables_start). */
    free(prt_ut_publish(NULL));
    pthread_mutex_unlock(&prt_ut_mu);
}

/* Names of the entries matching `pick`, comma-separated, truncated to fit. */
static void prt_ut_names(char *out, size_t n, bool over_cap) {
    out[0] = '\0';
    size_t at = 0;
    for (size_t i = 0; i < prt_ut_n && at + 1 < n; i++) {
        const ut_entry *e = &prt_ut_entries[i];
        if (e->has_table || e->over_cap != over_cap) continue;
        const char *base = strrchr(e->name, '/');
        int w = snprintf(out + at, n - at, "%s%s", at ? ", " : "", base ? base + 1 : e->name);
        if (w < 0) break;
        at += (size_t)w < n - at ? (size_t)w : n - at - 1;
    }
}

static void prt_ut_objects_report_locked(pcprof_unwind_info *r) {
    for (size_t i = 0; i < prt_ut_n; i++) {
        const ut_entry *e = &prt_ut_entries[i];
        if (e->has_table) {
            r->objects_with_tables++;
            r->table_bytes += e->obj.bytes;
            r->table_rows += e->obj.table.nrows;
            r->rows_cfi += e->obj.rows_cfi;
            r->rows_invalid += e->obj.rows_invalid;
        } else if (e->over_cap) {
            r->objects_over_cap++;
        } else {
            r->objects_without++;
        }
    }
    prt_ut_names(r->unreadable, sizeof r->unreadable, false);
    prt_ut_names(r->over_cap, sizeof r->over_cap, true);
}

void prt_unwind_report_read(pcprof_unwind_info *r) {
    memset(r, 0, sizeof *r);
    pthread_mutex_lock(&prt_ut_mu);
    if (prt_ut_have_final) *r = prt_ut_final;
    else prt_ut_objects_report_locked(r);
    pthread_mutex_unlock(&prt_ut_mu);
    r->mode = pcprof_unwind_name(prt_unwind_mode());
    r->depth_sum = __atomic_load_n(&prt_ut_stats.depth_sum, __ATOMIC_RELAXED);
    for (unsigned i = 0; i < PCU_END_REASONS && i < PRT_UNWIND_END_REASONS; i++)
        r->end_names[i] = pcu_end_name(i);
    r->build_ns = __atomic_load_n(&prt_ut_stats.build_ns, __ATOMIC_RELAXED);
    r->snapshots_published = __atomic_load_n(&prt_ut_stats.snapshots_published, __ATOMIC_RELAXED);
    r->snapshots_retired = __atomic_load_n(&prt_ut_stats.snapshots_retired, __ATOMIC_RELAXED);
    r->walks_tables = __atomic_load_n(&prt_ut_stats.walks_tables, __ATOMIC_RELAXED);
    r->walks_fp = __atomic_load_n(&prt_ut_stats.walks_fp, __ATOMIC_RELAXED);
    r->fp_steps = __atomic_load_n(&prt_ut_stats.fp_steps, __ATOMIC_RELAXED);
    for (int i = 0; i < PRT_UNWIND_DEPTH_BUCKETS; i++)
        r->depth_hist[i] = __atomic_load_n(&prt_ut_stats.depth_hist[i], __ATOMIC_RELAXED);
    for (int i = 0; i < PRT_UNWIND_END_REASONS; i++)
        r->ends[i] = __atomic_load_n(&prt_ut_stats.ends[i], __ATOMIC_RELAXED);
}
