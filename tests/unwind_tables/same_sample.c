/* same_sample.c — the same-sample oracle: the table walker against libdw's
 * unwinder on the very same samples.
 *
 * The workload (omitfp_workload.c: main -> 8 levels -> qsort -> comparator,
 * zlib, liblzma; built -O2 -fomit-frame-pointer) runs under ITIMER_PROF.
 * Its SIGPROF handler (this file's, not the profiler's) copies the
 * interrupted registers and up to 64 KiB of stack from sp, and walks the
 * live stack with pcu_walk over the tables the profiler builds
 * (prt_unwind_tables_start).  Afterwards, offline, each copy is unwound by
 * libdwfl (dwfl_attach_state + dwfl_getthread_frames, the way perf does it
 * with --call-graph dwarf): registers from the copy, stack reads from the
 * copy only.  The frames must be identical on >= 99 % of the samples.
 * (Identical: the same number of frames and the same addresses; libdw
 * reports return addresses as they are, like pcu_walk.)
 */
#define _GNU_SOURCE
#define main workload_main
#include "omitfp_workload.c"
#undef main

#include <elfutils/libdwfl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#include "../check.h"
#include "profcore_unwind.h"
#include "unwind_tables.h"

#define SLOTS 600
#define COPY (64 * 1024)
#define MAXF 128

typedef struct slot {
    uint64_t regs[17]; /* DWARF order: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 */
    uint64_t rip;
    uintptr_t sp;
    size_t copied;
    unsigned char stack[COPY];
    uintptr_t walk[MAXF];
    uint32_t nwalk;
    uint8_t end;
} slot;

static slot *slots;
static volatile unsigned nslots;
static uintptr_t stack_hi;

static void on_prof(int sig, siginfo_t *si, void *ucv) {
    (void)sig;
    (void)si;
    unsigned i = nslots;
    if (i >= SLOTS) return;
    const ucontext_t *uc = ucv;
    const greg_t *g = uc->uc_mcontext.gregs;
    slot *s = &slots[i];
    static const int order[17] = {REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI,
                                  REG_RBP, REG_RSP, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                  REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP};
    for (int r = 0; r < 17; r++) s->regs[r] = (uint64_t)g[order[r]];
    s->rip = (uint64_t)g[REG_RIP];
    s->sp = (uintptr_t)g[REG_RSP];
    if (s->sp >= stack_hi || s->sp < stack_hi - (8u << 20)) return; /* not on the main stack */
    s->copied = stack_hi - s->sp < COPY ? stack_hi - s->sp : COPY;
    memcpy(s->stack, (const void *)s->sp, s->copied);
    unsigned token;
    const pcu_snapshot *snap = prt_unwind_snapshot_enter(&token);
    pcu_regs regs = {(uintptr_t)s->rip, s->sp, (uintptr_t)g[REG_RBP], 0};
    pcu_memory mem = {{s->sp, 0}, {stack_hi, 0}, NULL, NULL};
    pcu_walk_result res = {0, 0, 0};
    s->nwalk = pcu_walk(snap, &regs, &mem, s->walk, MAXF, &res);
    s->end = res.end;
    prt_unwind_snapshot_leave(token);
    nslots = i + 1;
}

/* ---- libdwfl on a copy ---------------------------------------------------- */
static const slot *cur;

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp) {
    (void)dwfl;
    (void)arg;
    if (*thread_argp != NULL) return 0;
    *thread_argp = (void *)1;
    return getpid();
}

static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg) {
    (void)dwfl;
    (void)arg;
    if (addr >= cur->sp && addr + 8 <= cur->sp + cur->copied) {
        memcpy(result, cur->stack + (addr - cur->sp), 8);
        return true;
    }
    if (addr >= cur->sp - 65536 && addr < stack_hi) return false; /* stack beyond the copy */
    struct iovec l = {result, 8}, r = {(void *)(uintptr_t)addr, 8};
    return syscall(SYS_process_vm_readv, (long)getpid(), &l, 1L, &r, 1L, 0L) == 8;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg) {
    (void)arg;
    Dwarf_Word r[17];
    for (int i = 0; i < 17; i++) r[i] = cur->regs[i];
    return dwfl_thread_state_registers(thread, 0, 17, r);
}

static const Dwfl_Thread_Callbacks callbacks = {next_thread, NULL, memory_read, set_initial_registers,
                                                NULL, NULL};

typedef struct dw_frames {
    uintptr_t pc[MAXF];
    uint32_t n;
} dw_frames;

static int frame_cb(Dwfl_Frame *f, void *arg) {
    dw_frames *o = arg;
    Dwarf_Addr pc;
    bool activation;
    if (!dwfl_frame_pc(f, &pc, &activation) || o->n >= MAXF) return DWARF_CB_ABORT;
    o->pc[o->n++] = (uintptr_t)pc;
    return DWARF_CB_OK;
}

static char *debuginfo_path;
static const Dwfl_Callbacks proc_callbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 1.5;
    slots = calloc(SLOTS, sizeof *slots);
    if (slots == NULL) return 2;
    pthread_attr_t a;
    void *lo;
    size_t sz;
    pthread_getattr_np(pthread_self(), &a);
    pthread_attr_getstack(&a, &lo, &sz);
    pthread_attr_destroy(&a);
    stack_hi = (uintptr_t)lo + sz;
    prt_unwind_tables_start(PCPROF_UNWIND_AUTO);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_prof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGPROF, &sa, NULL);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_PROF, &it, NULL);
    g_seconds = seconds;
    run(1);
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_PROF, &it, NULL);

    Dwfl *dwfl = dwfl_begin(&proc_callbacks);
    CHECK(dwfl != NULL && dwfl_linux_proc_report(dwfl, getpid()) == 0 &&
              dwfl_report_end(dwfl, NULL, NULL) == 0,
          "libdwfl cannot report the process");
    CHECK(dwfl_attach_state(dwfl, NULL, getpid(), &callbacks, NULL), "dwfl_attach_state: %s",
          dwfl_errmsg(-1));
    unsigned n = nslots, same = 0, deep = 0;
    uint64_t depth_ours = 0, depth_dw = 0;
    for (unsigned i = 0; i < n; i++) {
        cur = &slots[i];
        dw_frames d;
        d.n = 0;
        dwfl_getthread_frames(dwfl, getpid(), frame_cb, &d);
        bool eq = d.n == cur->nwalk;
        for (uint32_t k = 0; eq && k < d.n; k++) eq = d.pc[k] == cur->walk[k];
        same += eq;
        deep += cur->nwalk >= 12;
        depth_ours += cur->nwalk;
        depth_dw += d.n;
        if (!eq && i - same < 3) {
            printf("  sample %u differs: walker %u frames (ended: %s), libdw %u\n", i, cur->nwalk, pcu_end_name(cur->end), d.n);
            for (uint32_t k = 0; k < (d.n > cur->nwalk ? d.n : cur->nwalk) && k < 40; k++)
                printf("    %2u %#18lx %#18lx\n", k, k < cur->nwalk ? (unsigned long)cur->walk[k] : 0ul,
                       k < d.n ? (unsigned long)d.pc[k] : 0ul);
        }
    }
    printf("%u samples: %u identical (%.2f %%), mean depth walker %.1f, libdw %.1f; %u walks >= 12 frames\n",
           n, same, n ? 100.0 * same / n : 0.0, n ? (double)depth_ours / n : 0.0,
           n ? (double)depth_dw / n : 0.0, deep);
    CHECK(n >= 50, "only %u samples", n);
    CHECK(n > 0 && same * 100 >= n * 99, "identical on %u of %u samples (want >= 99 %%)", same, n);
    CHECK(n > 0 && deep * 100 >= n * 99, "deep (>= 12 frames) on %u of %u samples", deep, n);
    if (dwfl) dwfl_end(dwfl);
    prt_unwind_tables_stop();
    free(slots);
    return check_finish();
}
