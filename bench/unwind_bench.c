/* unwind_bench.c — the unwind tables, measured (reported, never asserted).
 *
 *   1. table size and build time per object (python3, libc, libm, libz):
 *      bytes, rows, bytes per row, milliseconds of prt_ut_build_path;
 *   2. the process's own tables as the profiler builds them at start
 *      (prt_unwind_tables_start): objects, bytes, milliseconds;
 *   3. one walk's cost inside a signal handler, frame pointers
 *      (pcp_unwind_context) vs tables (pcu_walk over the published
 *      snapshot), at 8, 32 and 64 frames: the handler is entered at the
 *      bottom of a recursion of that depth and repeats each walk N times.
 *      This file is built with frame pointers so both walkers see the same
 *      stack; the libraries below main have no frame pointers, so the
 *      recursion is deep enough that both walks are cut by the cap.
 * Output: one "name value" line per number (bench/unwind-run.sh formats it).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

#include "profcore_profiler.h"
#include "profcore_unwind.h"
#include "unwind_tables.h"

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void build_one(const char *name, const char *path, uint64_t *bytes, uint64_t *rows,
                      double *ms) {
    prt_ut_object o;
    char err[200];
    uint64_t t0 = now_ns();
    int rc = prt_ut_build_path(path, 0, &o, err, sizeof err);
    double dt = (double)(now_ns() - t0) / 1e6;
    if (rc != 0) {
        printf("object %s error %s\n", name, err);
        return;
    }
    printf("object %s bytes %zu rows %u rules %u bytes_per_row %.2f build_ms %.2f\n", name, o.bytes,
           o.table.nrows, o.table.nrules, (double)o.bytes / o.table.nrows, dt);
    *bytes += o.bytes;
    *rows += o.table.nrows;
    *ms += dt;
    prt_ut_object_free(&o);
}

static uintptr_t g_stack_lo, g_stack_hi;
static unsigned g_max, g_reps;
static double g_fp_ns, g_tables_ns;
static unsigned g_fp_depth, g_tables_depth;

static void on_signal(int sig, siginfo_t *si, void *ucv) {
    (void)sig;
    (void)si;
    const ucontext_t *uc = ucv;
    uintptr_t frames[PCP_MAX_DEPTH];
    uint64_t t0 = now_ns();
    int n = 0;
    for (unsigned i = 0; i < g_reps; i++) n = pcp_unwind_context(uc, frames, (int)g_max);
    g_fp_ns = (double)(now_ns() - t0) / g_reps;
    g_fp_depth = (unsigned)n;
    unsigned token;
    const pcu_snapshot *snap = prt_unwind_snapshot_enter(&token);
    pcu_regs regs = {(uintptr_t)uc->uc_mcontext.gregs[REG_RIP], (uintptr_t)uc->uc_mcontext.gregs[REG_RSP],
                     (uintptr_t)uc->uc_mcontext.gregs[REG_RBP], 0};
    pcu_memory mem = {{regs.sp, 0}, {g_stack_hi, 0}, NULL, NULL};
    uint32_t d = 0;
    t0 = now_ns();
    for (unsigned i = 0; i < g_reps; i++) d = pcu_walk(snap, &regs, &mem, frames, g_max, NULL);
    g_tables_ns = (double)(now_ns() - t0) / g_reps;
    g_tables_depth = d;
    prt_unwind_snapshot_leave(token);
}

static __attribute__((noinline)) int recurse(int n) {
    if (n == 0) {
        raise(SIGUSR1);
        return 0;
    }
    int r = recurse(n - 1);
    __asm__ volatile("" : "+r"(r));
    return r + 1;
}

int main(int argc, char **argv) {
    g_reps = argc > 1 ? (unsigned)atoi(argv[1]) : 20000;
    uint64_t bytes = 0, rows = 0;
    double ms = 0;
    build_one("python3", "/usr/bin/python3.11", &bytes, &rows, &ms);
    build_one("libc", "/usr/lib/x86_64-linux-gnu/libc.so.6", &bytes, &rows, &ms);
    build_one("libm", "/usr/lib/x86_64-linux-gnu/libm.so.6", &bytes, &rows, &ms);
    build_one("libz", "/usr/lib/x86_64-linux-gnu/libz.so.1", &bytes, &rows, &ms);
    printf("total python3+libc+libm+libz bytes %llu rows %llu bytes_per_row %.2f build_ms %.2f\n",
           (unsigned long long)bytes, (unsigned long long)rows, rows ? (double)bytes / rows : 0.0, ms);

    uint64_t t0 = now_ns();
    prt_unwind_tables_start(PCPROF_UNWIND_AUTO);
    double start_ms = (double)(now_ns() - t0) / 1e6;
    pcprof_unwind_info u;
    prt_unwind_report_read(&u);
    printf("process objects %llu bytes %llu rows %llu start_ms %.2f\n",
           (unsigned long long)u.objects_with_tables, (unsigned long long)u.table_bytes,
           (unsigned long long)u.table_rows, start_ms);

    /* Registered: the fp walk reads the cached stack directly, as in a profile. */
    if (pcp_register_thread() != PCP_OK) printf("note: not registered (fp walk uses process_vm_readv)\n");
    pthread_attr_t a;
    void *lo;
    size_t sz;
    pthread_getattr_np(pthread_self(), &a);
    pthread_attr_getstack(&a, &lo, &sz);
    pthread_attr_destroy(&a);
    g_stack_lo = (uintptr_t)lo;
    g_stack_hi = (uintptr_t)lo + sz;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR1, &sa, NULL);
    static const unsigned depths[] = {8, 32, 64};
    for (size_t i = 0; i < 3; i++) {
        g_max = depths[i];
        recurse((int)depths[i] + 4); /* deeper than the cap: both walks stop at it */
        printf("walk frames %u fp_ns %.1f fp_depth %u tables_ns %.1f tables_depth %u ratio %.2f\n",
               depths[i], g_fp_ns, g_fp_depth, g_tables_ns, g_tables_depth,
               g_fp_ns > 0 ? g_tables_ns / g_fp_ns : 0.0);
    }
    prt_unwind_tables_stop();
    return 0;
}
