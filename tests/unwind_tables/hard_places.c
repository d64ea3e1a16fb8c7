/* hard_places.c — places where a table walk is hard, one scenario per run,
 * profiled through the C API (pcp_start with unwind "auto") and written to
 * a pprof file that tests/unwind_tables/hard_places.sh reads back with
 * go tool pprof.  Built -O2 -fomit-frame-pointer, like distribution code.
 *
 *   hard_places SCENARIO OUT.pb.gz
 *   sighandler    the program's own SIGUSR1 handler spins: samples inside
 *                 it must walk through the kernel's signal frame
 *                 (__restore_rt) into the interrupted function and main
 *   altstack      the same handler on a sigaltstack (reads outside the
 *                 thread's cached stack: the fault-proof path)
 *   plt           a loop calling libc through PLT stubs
 *   vdso          a loop of clock_gettime (vDSO leaves)
 *   blocked       wall-clock engine, a thread blocked in read(2): its
 *                 caller must be present under the libc wrapper
 *   unregistered  a thread that never registers (found in /proc, sampled
 *                 with fault-proof reads only)
 *   nocfi         a library without any CFI (frame pointers only), loaded
 *                 before the start: named in the summary, crossed by the
 *                 frame-pointer fallback
 *   dlstorm       10 kHz while a thread dlopens, calls and dlcloses a
 *                 library in a loop: no crash, exact conservation, and the
 *                 tables are republished as the library comes and goes
 * HARD_UNWIND=fp|tables|auto sets pcp_options.unwind (default auto).
 * Prints "stat NAME VALUE" lines for the driver and exits 0 when the
 * in-process checks (conservation) hold.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "profcore_profiler.h"

static volatile uint64_t sink;
static int stop_flag;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

#define NOINLINE __attribute__((noinline))
#define KEEP(x) __asm__ volatile("" : "+r"(x))

static NOINLINE void spin_for(double seconds) {
    double end = now() + seconds;
    uint64_t x = 1;
    while (now() < end)
        for (int i = 0; i < 1000; i++) {
            x = x * 6364136223846793005ull + 1;
            KEEP(x);
        }
    sink += x;
}

/* ---- signal handler / altstack --------------------------------------------- */
static NOINLINE void spin_in_handler(void) {
    uint64_t x = 3;
    for (int i = 0; i < 400000; i++) {
        x = x * 6364136223846793005ull + 7;
        KEEP(x);
    }
    sink += x;
}
static void on_signal(int sig) {
    (void)sig;
    spin_in_handler();
}
/* The signal is raised by the loop itself (no timer): about half the CPU
 * time is in the handler, deterministically, and the interrupted pc is in
 * libc's raise (the signal is delivered on return from its tgkill). */
static NOINLINE void interrupted_loop(double seconds) {
    double end = now() + seconds;
    uint64_t x = 5;
    while (now() < end) {
        for (int i = 0; i < 400000; i++) {
            x = x * 2862933555777941757ull + 3;
            KEEP(x);
        }
        raise(SIGUSR1);
    }
    sink += x;
}
static void run_signal(bool altstack) {
    if (altstack) {
        stack_t ss = {malloc(65536), 0, 65536};
        sigaltstack(&ss, NULL);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART | (altstack ? SA_ONSTACK : 0);
    sigaction(SIGUSR1, &sa, NULL);
    interrupted_loop(1.0);
}

/* ---- PLT and vDSO ------------------------------------------------------------ */
static NOINLINE void plt_loop(double seconds) {
    double end = now() + seconds;
    char buf[64] = "hard places";
    while (now() < end)
        for (int i = 0; i < 2000; i++) {
            /* calls through the PLT (built -fno-builtin) into small libc functions */
            sink += (uint64_t)strlen(buf) + (uint64_t)toupper(buf[i & 7]) + (uint64_t)labs(i);
        }
}
static NOINLINE void vdso_loop(double seconds) {
    double end = now() + seconds;
    struct timespec ts;
    while (now() < end)
        for (int i = 0; i < 100; i++) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            sink += (uint64_t)ts.tv_nsec;
        }
}

/* ---- a thread blocked in a syscall wrapper --------------------------------- */
static int pipefd[2];
static NOINLINE void blocked_reader(void) {
    char c;
    ssize_t r = read(pipefd[0], &c, 1);
    sink += (uint64_t)r;
}
static void *blocked_main(void *arg) {
    (void)arg;
    pcp_register_thread();
    blocked_reader();
    pcp_unregister_thread();
    return NULL;
}

/* ---- an unregistered thread ---------------------------------------------------- */
static NOINLINE void unreg_spin(void) { spin_for(1.2); }
static NOINLINE void unreg_level2(void) {
    unreg_spin();
    sink++;
}
static NOINLINE void unreg_level1(void) {
    unreg_level2();
    sink++;
}
static void *unreg_main(void *arg) {
    (void)arg;
    unreg_level1();
    return NULL;
}

/* ---- dlopen / dlclose storm --------------------------------------------------- */
static const char *dl_path;
static uint64_t dl_cycles, dl_sink; /* the storm thread's own */
static void *storm_main(void *arg) {
    (void)arg;
    pcp_register_thread();
    while (!__atomic_load_n(&stop_flag, __ATOMIC_ACQUIRE)) {
        void *h = dlopen(dl_path, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "dlopen %s: %s\n", dl_path, dlerror());
            break;
        }
        uint64_t (*fn)(uint64_t) = (uint64_t (*)(uint64_t))dlsym(h, "ut_dl_spin");
        if (fn != NULL) dl_sink += fn(20000);
        dlclose(h);
        dl_cycles++;
    }
    pcp_unregister_thread();
    return NULL;
}

static NOINLINE void nocfi_loop(uint64_t (*fn)(uint64_t), double seconds) {
    double end = now() + seconds;
    while (now() < end) sink += fn(200000);
}

static int conservation(void) {
    pcp_stats s;
    if (pcp_get_stats(&s) != PCP_OK) return 0;
    printf("stat signals %llu\nstat offered_weight %llu\nstat core_offered %llu\nstat profile_weight %llu\n"
           "stat rejected %llu\nstat unregistered_samples %llu\n",
           (unsigned long long)s.signals, (unsigned long long)s.offered_weight,
           (unsigned long long)s.core_offered_weight, (unsigned long long)s.profile_weight,
           (unsigned long long)s.core_rejected_weight, (unsigned long long)s.unregistered_samples);
    return s.offered_weight == s.core_offered_weight &&
           s.profile_weight + s.core_rejected_weight == s.core_offered_weight;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: hard_places SCENARIO OUT.pb.gz [DLLIB]\n");
        return 2;
    }
    const char *sc = argv[1];
    pcp_options o = PCP_OPTIONS_INIT;
    o.hz = 997;
    o.output_path = argv[2];
    o.unwind = getenv("HARD_UNWIND") ? getenv("HARD_UNWIND") : "auto"; /* the C API option */
    if (strcmp(sc, "blocked") == 0) o.engine = "wall";
    if (strcmp(sc, "dlstorm") == 0) o.hz = 10000;
    char err[512];
    uint64_t (*nocfi)(uint64_t) = NULL;
    if (strcmp(sc, "nocfi") == 0) { /* loaded before the start: in the first table build */
        void *h = dlopen(argc > 3 ? argv[3] : "libut_nocfi.so", RTLD_NOW);
        nocfi = h ? (uint64_t (*)(uint64_t))dlsym(h, "ut_nocfi_spin") : NULL;
        if (nocfi == NULL) {
            fprintf(stderr, "nocfi: %s\n", dlerror());
            return 1;
        }
    }
    if (pcp_start(&o, err, sizeof err) != PCP_OK) {
        fprintf(stderr, "start: %s\n", err);
        return 1;
    }
    pthread_t t;
    if (strcmp(sc, "sighandler") == 0) run_signal(false);
    else if (strcmp(sc, "altstack") == 0) run_signal(true);
    else if (strcmp(sc, "plt") == 0) plt_loop(1.0);
    else if (strcmp(sc, "vdso") == 0) vdso_loop(1.0);
    else if (strcmp(sc, "nocfi") == 0) nocfi_loop(nocfi, 1.0);
    else if (strcmp(sc, "blocked") == 0) {
        if (pipe(pipefd) != 0) return 1;
        pthread_create(&t, NULL, blocked_main, NULL);
        spin_for(1.0);
        if (write(pipefd[1], "x", 1) != 1) return 1;
        pthread_join(t, NULL);
    } else if (strcmp(sc, "unregistered") == 0) {
        pthread_create(&t, NULL, unreg_main, NULL);
        pthread_join(t, NULL);
    } else if (strcmp(sc, "dlstorm") == 0) {
        dl_path = argc > 3 ? argv[3] : "libut_dl.so";
        pthread_create(&t, NULL, storm_main, NULL);
        spin_for(1.5);
        __atomic_store_n(&stop_flag, 1, __ATOMIC_RELEASE); /* acquire pair: storm_main's loop test */
        pthread_join(t, NULL);
        printf("stat dl_cycles %llu\n", (unsigned long long)dl_cycles);
    } else {
        fprintf(stderr, "unknown scenario %s\n", sc);
        return 2;
    }
    if (pcp_stop(err, sizeof err) != PCP_OK) {
        fprintf(stderr, "stop: %s\n", err);
        return 1;
    }
    pcp_print_summary(stdout, 0);
    int ok = conservation(); /* stopped: everything drained */
    printf("conservation %s\n", ok ? "ok" : "BROKEN");
    return ok ? 0 : 1;
}
