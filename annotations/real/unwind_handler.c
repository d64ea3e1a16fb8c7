/* The walker as the gate checks it: core/profcore_unwind.h instantiated
 * with a real SIGPROF handler that takes the registers from the ucontext
 * and walks the interrupted stack, with process_vm_readv as the
 * fault-proof read for anything outside the cached stack range.  It is
 * also a small working program: a short ITIMER_PROF run over a
 * frame-pointer build (no tables: every step is the frame-pointer
 * fallback), which checks that every walk stayed within its cap and
 * that walks got past the leaf. */
#define _GNU_SOURCE
#define PROFCORE_UNWIND_IMPLEMENTATION
#include "profcore_unwind.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <ucontext.h>
#include <unistd.h>

#define MAX_FRAMES 64
static uintptr_t stack_lo, stack_hi; /* cached before the timer starts */
static pid_t self_pid;
static volatile unsigned samples, deep_samples, over_cap;
static uintptr_t frames[MAX_FRAMES];

/* The fault-proof read: the kernel copies the word or says EFAULT. */
PROFCORE_SIGNAL_SAFE static bool read_own_word(void *ctx, uintptr_t addr, uintptr_t *out) {
    (void)ctx;
    int saved = errno;
    struct iovec local = {out, sizeof *out}, remote = {(void *)addr, sizeof *out};
    ssize_t n = process_vm_readv(self_pid, &local, 1, &remote, 1, 0);
    errno = saved;
    return n == (ssize_t)sizeof *out;
}

PROFCORE_SIGNAL_SAFE static void on_sigprof(int sig, siginfo_t *info, void *context) {
    (void)sig;
    (void)info;
    const ucontext_t *uc = context;
#if defined(__x86_64__)
    pcu_regs regs = {(uintptr_t)uc->uc_mcontext.gregs[REG_RIP], (uintptr_t)uc->uc_mcontext.gregs[REG_RSP],
                     (uintptr_t)uc->uc_mcontext.gregs[REG_RBP], 0};
#else
    pcu_regs regs = {(uintptr_t)uc->uc_mcontext.pc, (uintptr_t)uc->uc_mcontext.sp,
                     (uintptr_t)uc->uc_mcontext.regs[29], (uintptr_t)uc->uc_mcontext.regs[30]};
#endif
    pcu_memory mem = {{stack_lo, 0}, {stack_hi, 0}, read_own_word, NULL};
    pcu_walk_result res;
    uint32_t n = pcu_walk(NULL, &regs, &mem, frames, MAX_FRAMES, &res);
    samples++;
    if (n > MAX_FRAMES) over_cap++;
    if (n >= 3) deep_samples++;
}

/* ---- the program (not signal-safe, never runs in the handler) ----------- */
static volatile uint64_t sink;
__attribute__((noinline)) static void spin3(void) { for (int i = 0; i < 1000; i++) sink += (uint64_t)i; }
__attribute__((noinline)) static void spin2(void) { spin3(); sink++; }
__attribute__((noinline)) static void spin1(void) { spin2(); sink++; }

int main(void) {
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) != 0 || pthread_attr_getstack(&attr, &addr, &size) != 0) {
        fprintf(stderr, "cannot read the stack bounds\n");
        return 1;
    }
    pthread_attr_destroy(&attr);
    stack_lo = (uintptr_t)addr;
    stack_hi = (uintptr_t)addr + size;
    self_pid = getpid();
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGPROF, &sa, NULL) != 0) return 1;
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_PROF, &it, NULL);
    /* Until 200 samples, or at most ~10 s of CPU: no timing luck in the
     * checks, only in how long it takes. */
    for (long round = 0; samples < 200 && round < 20000000L; round++) spin1();
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, NULL);
    int checks[3] = {samples >= 200, over_cap == 0, deep_samples > 0};
    int passed = checks[0] + checks[1] + checks[2];
    printf("unwind_handler: %u samples, %u with >= 3 frames, %u over the cap\n", samples, deep_samples,
           over_cap);
    printf("%d passed, %d failed\n", passed, 3 - passed);
    return passed == 3 ? 0 : 1;
}
