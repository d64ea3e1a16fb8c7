/* unwind_agree.c — the fast frame-pointer walk and the slow DWARF
 * unwinders give the same stacks on code built with frame pointers
 * (seed 003's lesson: the fast one is only trusted where a test shows it
 * agrees with the full one).
 *
 *   1. pcp_capture_stack (FP) vs pcp_capture_stack_slow (libgcc) at every
 *      depth of a recursion through several functions, on the main thread
 *      and on a second thread, registered and not (fault-proof reads);
 *   2. in a signal handler: pcp_unwind_context (FP from the ucontext) vs
 *      libunwind's unw_init_local2(UNW_INIT_SIGNAL_FRAME) from the same
 *      ucontext, for signals landing anywhere in a busy recursion,
 *      including function prologues and epilogues.
 * Stacks are compared frame by frame down to (and including) the first
 * frame in `agree_bottom`, the test's own outermost function: below it is
 * libc, which has no frame pointers.
 */
#define _GNU_SOURCE
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "profcore_profiler.h"

#define MAXF 128
static int passed, failed;
static volatile uint64_t sink;

/* Address range of agree_bottom: [start, end). */
static uintptr_t bottom_lo, bottom_hi;

static int frames_to_bottom(const uintptr_t *f, int n) {
    for (int i = 0; i < n; i++)
        if (f[i] > bottom_lo && f[i] <= bottom_hi) return i + 1; /* return address into it */
    return -1;
}

static void compare(const char *what, const uintptr_t *fast, int nf, const uintptr_t *slow, int ns,
                    int skip_first) {
    int kf = frames_to_bottom(fast, nf), ks = frames_to_bottom(slow, ns);
    int ok = kf > 0 && kf == ks;
    for (int i = skip_first; ok && i < kf; i++) ok = fast[i] == slow[i];
    if (ok) {
        passed++;
        return;
    }
    failed++;
    printf("FAIL %s: fast %d frames (to bottom %d), slow %d (to bottom %d)\n", what, nf, kf, ns, ks);
    for (int i = 0; i < (nf > ns ? nf : ns) && i < 24; i++)
        printf("   %2d  %#18lx  %#18lx\n", i, i < nf ? (unsigned long)fast[i] : 0ul,
               i < ns ? (unsigned long)slow[i] : 0ul);
}

/* ---- part 1: capture at every depth ---- */
__attribute__((noinline)) void agree_leaf(const char *what, int depth) {
    uintptr_t fast[MAXF], slow[MAXF];
    int nf = pcp_capture_stack(fast, MAXF);
    int ns = pcp_capture_stack_slow(slow, MAXF);
    char label[96];
    snprintf(label, sizeof label, "%s depth %d", what, depth);
    /* frames[0] are two different call sites in this function: compare
     * them by function (both inside agree_leaf), the rest exactly. */
    compare(label, fast, nf, slow, ns, 1);
    if (nf > 0 && ns > 0 && (fast[0] < (uintptr_t)agree_leaf || slow[0] < (uintptr_t)agree_leaf)) {
        failed++;
        printf("FAIL %s: frame 0 not in agree_leaf\n", label);
    }
}

__attribute__((noinline)) void agree_even(const char *what, int depth, int left);
__attribute__((noinline)) void agree_odd(const char *what, int depth, int left) {
    if (left == 0) agree_leaf(what, depth);
    else agree_even(what, depth, left - 1);
    sink++;
}
__attribute__((noinline)) void agree_even(const char *what, int depth, int left) {
    if (left == 0) agree_leaf(what, depth);
    else agree_odd(what, depth, left - 1);
    sink++;
}

/* ---- part 2: in a signal handler ---- */
static volatile int sig_samples;
static volatile int sig_compared;

static void on_sigusr1(int sig, siginfo_t *si, void *uc) {
    (void)sig;
    (void)si;
    uintptr_t fast[MAXF], slow[MAXF];
    int nf = pcp_unwind_context(uc, fast, MAXF);
    unw_cursor_t cur;
    int ns = 0;
    if (unw_init_local2(&cur, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) == 0) {
        do {
            unw_word_t ip;
            unw_get_reg(&cur, UNW_REG_IP, &ip);
            slow[ns++] = (uintptr_t)ip;
        } while (ns < MAXF && unw_step(&cur) > 0);
    }
    sig_samples++;
    if (sig_samples == 100) printf("     signal sample 100: fast %d frames, slow %d\n", nf, ns);
    /* Only samples taken inside the test's own code are comparable. */
    if (frames_to_bottom(slow, ns) > 0) {
        sig_compared++;
        compare("signal", fast, nf, slow, ns, 0);
    }
}

__attribute__((noinline)) uint64_t agree_busy(int left) {
    uint64_t x = (uint64_t)left;
    for (int i = 0; i < 200; i++) x = x * 31 + (uint64_t)i;
    if (left > 0) x += agree_busy(left - 1);
    return x;
}

static volatile int spin_stop;
static void *sig_spinner(void *arg) {
    (void)arg;
    while (!spin_stop) sink += agree_busy(12);
    return NULL;
}

__attribute__((noinline)) void agree_bottom(int part, const char *what) {
    if (part == 1) {
        for (int d = 0; d < 40; d++) agree_odd(what, d, d);
    } else {
        sink += 0;
        sig_spinner(NULL);
    }
    sink++;
}
__attribute__((noinline)) void agree_bottom_end(void) { sink++; }

static void *thread_part1(void *arg) {
    if (arg != NULL) pcp_register_thread();
    agree_bottom(1, arg != NULL ? "registered thread" : "unregistered thread");
    return NULL;
}

static void *thread_part2(void *arg) {
    (void)arg;
    agree_bottom(2, "signal");
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    bottom_lo = (uintptr_t)agree_bottom;
    bottom_hi = (uintptr_t)agree_bottom_end;
    if (bottom_hi <= bottom_lo) bottom_hi = bottom_lo + 256; /* layout fallback */
    pcp_register_thread();
    agree_bottom(1, "main thread");
    pthread_t t;
    pthread_create(&t, NULL, thread_part1, (void *)1);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, thread_part1, NULL);
    pthread_join(t, NULL);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigusr1;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    pthread_create(&t, NULL, thread_part2, NULL);
    pid_t tid = 0;
    for (int i = 0; i < 3000; i++) {
        struct timespec nap = {0, 200000};
        nanosleep(&nap, NULL);
        /* Any thread of ours but main: the spinner is the only busy one. */
        pthread_kill(t, SIGUSR1);
    }
    spin_stop = 1;
    pthread_join(t, NULL);
    (void)tid;
    printf("     signal samples %d, compared in test code %d\n", sig_samples, sig_compared);
    if (sig_compared < 1000) {
        failed++;
        printf("FAIL too few signal samples compared: %d\n", sig_compared);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
