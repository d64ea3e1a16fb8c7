// tests/vendor/vendor_cxx.cc — a small C++ program that vendors the core.
// Built twice by tests/vendor/run, in an empty directory holding only
// profcore.h, this file and vendor_impl.c:
//   - linked with vendor_impl.c compiled as C++ (the implementation in C++);
//   - with -DVENDOR_PRIVATE: PROFCORE_API defined as `static` and the
//     implementation in this translation unit, a private copy.  The run
//     checks that the object then exports no profcore_ symbol.  This
//     program never calls profcore_collect, so a private copy with an
//     unused function must still build under -Wall -Wextra -Werror.
// Two std::threads spin under an ITIMER_PROF timer, the main thread also
// sends them SIGPROF; worker 2 uses the no-handoff path.  Then stop, final
// drain, and conservation against what the handlers offered.
#ifdef VENDOR_PRIVATE
#define PROFCORE_API static
#define PROFCORE_IMPLEMENTATION
#endif
#include "profcore.h"

#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

constexpr uint32_t kWorkers = 2;
constexpr uint32_t kSamples = 300;  // per worker, from real signals
constexpr uint32_t kMaxDepth = 8;

alignas(64) unsigned char memory[1u << 20];
profcore *core = nullptr;
thread_local uint32_t worker_id = 0;
thread_local std::atomic<uint32_t> worker_samples{0};
std::atomic<uint64_t> offered{0};
std::array<std::atomic<uint64_t>, kWorkers + 1> offered_by{};
std::atomic<bool> wake{false}, done{false};
static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the handler needs lock-free 64-bit atomics");

// Frame i of worker t: 0x200000 + t * 0x1000 + (n % 3) * 0x10 + i.
extern "C" void on_sigprof(int) {
    const uint32_t t = worker_id;
    const uint32_t n = worker_samples.fetch_add(1, std::memory_order_relaxed);
    const uint32_t depth = 1 + n % 10;
    uintptr_t frames[16];
    for (uint32_t i = 0; i < depth; i++) frames[i] = 0x200000u + t * 0x1000u + (n % 3) * 0x10u + i;
    const int r = t == 2 ? profcore_add_nohandoff(core, t, frames, depth, 2, t)
                         : profcore_add(core, t, frames, depth, 2, t);
    offered.fetch_add(2, std::memory_order_relaxed);
    offered_by[t].fetch_add(2, std::memory_order_relaxed);
    if (r == PROFCORE_RECORDED_HANDOFF) wake.store(true, std::memory_order_release);
}

struct Totals {
    uint64_t records = 0, bad = 0;
    std::array<uint64_t, PROFCORE_LOSS_REASONS> lost{};
};

extern "C" void on_record(void *ctx, const profcore_record *rec) {
    Totals &tot = *static_cast<Totals *>(ctx);
    const uint64_t f0 = rec->frames[0];
    if (rec->depth == 1 && f0 >= PROFCORE_FRAME_LOST(0) && f0 < PROFCORE_FRAME_LOST(PROFCORE_LOSS_REASONS)) {
        tot.lost[f0 - PROFCORE_FRAME_LOST(0)] += rec->weight;
        return;
    }
    tot.records += rec->weight;
    bool ok = rec->tag >= 1 && rec->tag <= kWorkers && rec->depth >= 1 && rec->depth <= kMaxDepth;
    for (uint32_t i = 0; ok && i < rec->depth; i++) {
        const uint64_t f = rec->frames[i];
        ok = (i + 1 == kMaxDepth && f == PROFCORE_FRAME_TRUNCATED) ||
             ((f & 0xfu) == i && (f >> 12) == 0x200u + rec->tag);
    }
    if (!ok && tot.bad++ == 0)
        std::printf("     bad record: tag %llu depth %u frame0 %#llx\n", (unsigned long long)rec->tag,
                    rec->depth, (unsigned long long)f0);
}

int passed = 0, failed = 0;
void check(bool ok, const char *what) {
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    (ok ? passed : failed)++;
}

template <class Call> int poll(Call call) {
    int st = PROFCORE_BUSY;
    for (int i = 0; i < 1000 && st == PROFCORE_BUSY; i++) st = call();
    return st;
}

}  // namespace

int main() {
    const profcore_config cfg = {4, 16, 2, kMaxDepth, 64};
    check(profcore_init(memory, sizeof memory, &cfg, &core) == PROFCORE_OK, "init");
    if (failed) return 1;
    struct sigaction sa {};
    sa.sa_handler = on_sigprof;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPROF, &sa, nullptr);

    // SIGPROF blocked from here on, in the main and reader threads and in
    // each worker until it knows its id (a sample before would have none).
    sigset_t prof;
    sigemptyset(&prof);
    sigaddset(&prof, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &prof, nullptr);
    std::vector<std::thread> workers;
    for (uint32_t t = 1; t <= kWorkers; t++)
        workers.emplace_back([t, prof] {
            worker_id = t;
            pthread_sigmask(SIG_UNBLOCK, &prof, nullptr);
            volatile uint64_t spin = 0;
            while (worker_samples.load(std::memory_order_relaxed) < kSamples || !done.load())
                spin = spin + 1;
        });
    Totals tot;
    std::thread reader([&tot] {
        while (!done.load()) {
            if (!wake.exchange(false, std::memory_order_acquire)) usleep(500);
            const int st = profcore_drain(core, on_record, &tot);
            if (st != PROFCORE_OK && tot.bad++ == 0) std::printf("     drain: %d\n", st);
        }
    });
    itimerval it{{0, 500}, {0, 500}};
    setitimer(ITIMER_PROF, &it, nullptr);
    auto enough = [] { return offered_by[1].load() >= 2 * kSamples && offered_by[2].load() >= 2 * kSamples; };
    for (int round = 0; round < 20000 && !enough(); round++) {
        for (auto &w : workers) pthread_kill(w.native_handle(), SIGPROF);
        usleep(200);
    }
    itimerval off{{0, 0}, {0, 0}};
    setitimer(ITIMER_PROF, &off, nullptr);
    check(enough(), "each worker took its samples from real signals");
    done.store(true);
    for (auto &w : workers) w.join();
    reader.join();

    check(poll([] { return profcore_stop(core); }) == PROFCORE_OK, "stop");
    check(poll([&tot] { return profcore_final_drain(core, on_record, &tot); }) == PROFCORE_OK, "final drain");
    profcore_stats s{};
    check(profcore_stats_read(core, &s) == PROFCORE_OK, "stats");
    uint64_t lost = 0, emitted_lost = 0;
    for (uint32_t r = 0; r < PROFCORE_LOSS_REASONS; r++) {
        lost += s.lost_weight[r];
        emitted_lost += tot.lost[r];
        if (s.lost_weight[r] != tot.lost[r])
            std::printf("     loss %s: counted %llu, emitted %llu\n", profcore_loss_name(r),
                        (unsigned long long)s.lost_weight[r], (unsigned long long)tot.lost[r]);
    }
    check(s.offered_weight == offered.load(), "offered weight == what the handlers offered");
    check(s.recorded_weight + lost + s.rejected_weight == offered.load(), "recorded + lost + rejected == offered");
    check(tot.records == s.recorded_weight, "every recorded weight emitted once");
    check(emitted_lost == lost, "every lost weight emitted once, under its reason");
    check(tot.bad == 0, "every record is a stack a handler offered");
    check(s.evictions > 0 && s.handoffs > 0, "the run evicted and handed off");
    std::printf("     offered %llu, recorded %llu, lost %llu, evictions %llu, handoffs %llu (%s)\n",
                (unsigned long long)offered.load(), (unsigned long long)s.recorded_weight,
                (unsigned long long)lost, (unsigned long long)s.evictions, (unsigned long long)s.handoffs,
                PROFCORE_VERSION);
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
