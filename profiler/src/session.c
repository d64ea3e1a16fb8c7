/* session.c — the one session of the process: pcp_start, pcp_stop and the
 * public calls that read or write its profile.
 *
 * The handler's view (prt_view, internal.h) has exactly one writer pair:
 *   prt_view_publish    the only store of a non-NULL prt_g_view: one
 *                       seq_cst store of a view filled completely before;
 *   prt_view_unpublish  the only store of NULL while the process runs (the
 *                       fork child's reset is the other, with no handler
 *                       possible), then waits for prt_g_inflight to reach 0.
 * So a handler sees no session or a complete one, and nothing of a view is
 * freed or rewritten while a handler may still hold it.
 *
 * pcp_start builds everything of a session while unpublished (options,
 * handler, core, eventfd, view fields), publishes, then starts what sends
 * signals (writer, timers, ticker).  A failure before the publish releases
 * what was made through prt_session_release_live; after it, through
 * prt_session_end like a stop.  prt_session_end's order is what keeps the
 * handler safe: timers off, writer joined, core stopped and finally drained,
 * view unpublished and handlers out, only then the final counters read and
 * the core's memory unmapped.  See docs/ARCHITECTURE.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "profile.h"
#include "unwind_tables.h"

pthread_mutex_t prt_api_mu = PTHREAD_MUTEX_INITIALIZER;
pthread_mutex_t prt_reader_mu = PTHREAD_MUTEX_INITIALIZER;
int prt_g_signal = SIGPROF;
prt_session prt_g_session = {.live = {.view = {.wake_fd = -1}}};

/* ---- the handler's view: the single publish/unpublish pair ---------------- */

static void prt_view_publish(const prt_view *v) {
    /* Release (seq_cst) store: every field of *v, written before, is visible
     * to a handler whose load of prt_g_view sees v -- its acquire pair is
     * the seq_cst load in prt_handler_entry (handler.c). */
    __atomic_store_n(&prt_g_view, v, __ATOMIC_SEQ_CST);
}

static void prt_view_unpublish(void) {
    /* Seq_cst store then seq_cst loads of the in-flight count: with the
     * handler's seq_cst increment-then-load (prt_handler_entry), either the
     * handler sees NULL or this loop sees it in flight (a store-load
     * handshake), so after the loop no handler holds the view. */
    __atomic_store_n(&prt_g_view, NULL, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&prt_g_inflight, __ATOMIC_SEQ_CST) != 0) prt_sleep_us(50);
}

/* ---- the two resets ---------------------------------------------------------- */

void prt_session_release_live(void) {
    prt_live *l = &prt_g_session.live;
    if (l->mem != NULL) munmap(l->mem, l->mem_size);
    if (l->view.wake_fd >= 0) close(l->view.wake_fd);
    if (l->rotator_fd > 0) close(l->rotator_fd); /* a fork child's copy; a stop closed its own */
    memset(l, 0, sizeof *l);
    l->view.wake_fd = -1;
    memset(&prt_g_counters, 0, sizeof prt_g_counters);
}

void prt_session_forget_result(void) {
    prt_result *r = &prt_g_session.result;
    free(r->output_path);
    memset(r, 0, sizeof *r);
    prt_agg_free(&prt_g_session.agg);
}

/* ---- the SIGPROF handler's installation -------------------------------------- */

/* The program's own handler of the sampling signal is never replaced: only
 * the default action, "ignore", or our own handler (a previous session)
 * may be there. */
static int prt_install_handler(char *err, size_t errlen) {
    struct sigaction old, sa;
    int sig = __atomic_load_n(&prt_g_signal, __ATOMIC_RELAXED);
    if (sigaction(sig, NULL, &old) != 0) return PCP_E_SYSTEM;
    bool ours = (old.sa_flags & SA_SIGINFO) && old.sa_sigaction == prt_handler_entry;
    bool free_slot = !(old.sa_flags & SA_SIGINFO) &&
                     (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN);
    if (!ours && !free_slot) {
        if (sig == SIGPROF)
            prt_set_error(err, errlen, "profcore: the program already has a SIGPROF handler; "
                                       "not replacing it, not profiling (a free signal for the timers: "
                                       "CPUPROFILE_TIMER_SIGNAL / pcp_options.signal)");
        else
            prt_set_error(err, errlen, "profcore: the program already has a handler of signal %d, the sampling "
                                       "signal asked for; not replacing it, not profiling", sig);
        return PCP_E_SIGNAL;
    }
    if (ours) return PCP_OK;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = prt_handler_entry;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) return PCP_E_SYSTEM;
    return PCP_OK;
}

/* For thread snapshots without a running profile: our handler, unless the
 * program has its own (same refusal as pcp_start).  Serialized by the api
 * lock with pcp_start. */
int prt_ensure_handler(char *err, size_t errlen) {
    pthread_mutex_lock(&prt_api_mu);
    int rc = prt_install_handler(err, errlen);
    pthread_mutex_unlock(&prt_api_mu);
    return rc;
}

/* ---- building a session (unpublished) ---------------------------------------- */

/* Maps and initialises the core into live.mem; the view gets it later. */
static int prt_core_create(const pcp_options *o, profcore **out, char *err, size_t errlen) {
    profcore_config cfg = PROFCORE_CONFIG_DEFAULT;
    cfg.shards = o->shards > 0 ? (uint32_t)o->shards : prt_default_shards();
    cfg.max_depth = (uint32_t)o->max_depth;
    /* Keep the table near the default size whatever the depth. */
    cfg.buckets = o->max_depth > 128 ? 64u : o->max_depth > 64 ? 128u : 256u;
    size_t size = profcore_size(&cfg);
    void *mem = size ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                     : MAP_FAILED;
    if (mem == MAP_FAILED) {
        prt_set_error(err, errlen, "profcore: cannot map %zu bytes for the core", size);
        return PCP_E_SYSTEM;
    }
    prt_g_session.live.mem = mem; /* from here on, prt_session_release_live unmaps it */
    prt_g_session.live.mem_size = size;
    int r = profcore_init(mem, size, &cfg, out);
    if (r != PROFCORE_OK) {
        prt_set_error(err, errlen, "profcore: core init failed (%d)", r);
        return PCP_E_SYSTEM;
    }
    return PCP_OK;
}

/* Everything of a session that exists before it is published: the view
 * complete, the core mapped, the eventfd open.  On failure the caller
 * releases what was made (prt_session_release_live). */
static int prt_session_build(const pcp_options *o, int engine, char *err, size_t errlen) {
    prt_live *l = &prt_g_session.live;
    profcore *pc = NULL;
    int rc = prt_core_create(o, &pc, err, errlen);
    if (rc != PCP_OK) return rc;
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0) {
        prt_set_error(err, errlen, "profcore: eventfd: %s", strerror(errno));
        return PCP_E_SYSTEM;
    }
    fd = prt_fd_move_high(fd); /* the handler writes it: never a number the program reuses */
    uint32_t gen = ++prt_g_session.generation;
    l->view.pc = pc;
    l->view.engine = engine;
    l->view.generation = gen;
    l->view.token = PRT_SESSION_TOKEN(gen);
    l->view.max_depth = (uint32_t)o->max_depth;
    l->view.wake_fd = fd;
    l->view.period_ns = 1000000000u / (uint64_t)o->hz;
    const char *delay = getenv("PCP_TEST_WRITER_DELAY_MS");
    l->writer_delay_us = delay ? atol(delay) * 1000 : 0;
    return PCP_OK;
}

/* The result part of a new session: it replaces the previous profile. */
static void prt_result_begin(const pcp_options *o, int engine) {
    pthread_mutex_lock(&prt_reader_mu);
    prt_session_forget_result();
    pthread_mutex_unlock(&prt_reader_mu);
    prt_result *r = &prt_g_session.result;
    r->output_path = o->output_path ? strdup(o->output_path) : NULL;
    /* Opened now, while the process surely may: the profile still arrives
     * after a setuid or chroot (profiler/output/reserved.c). */
    if (r->output_path != NULL && o->period_ms <= 0) pcprof_output_reserve(r->output_path); /* rotation: files of their own */
    r->format = prt_format_code(o->format);
    r->engine_name = pcprof_engine_name(engine);
    r->hz = o->hz;
    /* Before the clocks start and the timers are armed: the build is not
     * the program's CPU, and no sample sees a half-built set. */
    prt_unwind_tables_start(prt_unwind_parse_mode(o->unwind));
    r->start_unix_ns = (int64_t)prt_clock_ns(CLOCK_REALTIME);
    prt_g_session.live.start_mono_ns = prt_clock_ns(CLOCK_MONOTONIC);
    prt_g_session.live.start_cpu_ns = prt_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    prt_period_begin(o->period_ms > 0 ? (uint64_t)o->period_ms * 1000000u : 0);
}

/* ---- the process-wide itimer (engine itimer) ----------------------------------- */

static int prt_arm_itimer(uint64_t period_ns) {
    struct itimerval it;
    it.it_interval.tv_sec = (time_t)(period_ns / 1000000000u);
    it.it_interval.tv_usec = (suseconds_t)((period_ns % 1000000000u) / 1000u);
    if (it.it_interval.tv_sec == 0 && it.it_interval.tv_usec == 0) it.it_interval.tv_usec = 1;
    it.it_value = it.it_interval;
    /* The handler weighs each signal from here (prt_itimer_weight); the
     * setitimer system call orders this store before any of its signals. */
    __atomic_store_n(&prt_g_itimer_covered_ns, prt_clock_ns(CLOCK_PROCESS_CPUTIME_ID), __ATOMIC_RELAXED);
    return setitimer(ITIMER_PROF, &it, NULL);
}

/* Disarms the itimer and offers the process's tail: the CPU since what
 * the delivered signals covered, as one sample under [unsampled: thread
 * tail] with tid 0 (the itimer knows no thread).  The exchange closes the
 * count first: a signal already on its way then sees PRT_TAIL_CLOSED and
 * is not offered (counted foreign; its CPU is in this tail). */
static void prt_disarm_itimer(const prt_view *v) {
    struct itimerval it;
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_PROF, &it, NULL);
    uint64_t covered = __atomic_exchange_n(&prt_g_itimer_covered_ns, PRT_TAIL_CLOSED, __ATOMIC_RELAXED);
    uint64_t now = prt_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    if ((covered & PRT_TAIL_CLOSED) || now <= covered) return;
    uint64_t w = (now - covered) / v->period_ns;
    if (w > UINT32_MAX) w = UINT32_MAX;
    if (w > 0) prt_offer_tail(v, 0, 0, (uint32_t)w);
}

/* ---- starting what sends signals, and ending ------------------------------------- */

/* The writer, the timers of every thread, the caller's registration, the
 * itimer or the ticker; the view is published. */
static int prt_session_arm(char *err, size_t errlen) {
    const prt_view *v = &prt_g_session.live.view;
    int rc = prt_writer_start(err, errlen);
    if (rc == PCP_OK && prt_threads_arm_all(v, prt_g_session.live.writer.tid, err, errlen) != 0)
        rc = PCP_E_SYSTEM;
    if (rc == PCP_OK && pcp_register_thread() != PCP_OK) {
        prt_set_error(err, errlen, "profcore: cannot register the calling thread: %s", strerror(errno));
        rc = PCP_E_SYSTEM;
    }
    if (rc == PCP_OK && v->engine == PCPROF_ENGINE_ITIMER && prt_arm_itimer(v->period_ns) != 0) {
        prt_set_error(err, errlen, "profcore: setitimer: %s", strerror(errno));
        rc = PCP_E_SYSTEM;
    }
    if (rc == PCP_OK && v->engine == PCPROF_ENGINE_WALL) rc = prt_ticker_start(err, errlen);
    if (rc == PCP_OK && prt_g_session.result.period.period_ns > 0) rc = prt_rotator_start(err, errlen);
    return rc;
}

/* The final statistics, read once quiescent (rejected adds after the
 * drain included). */
static void prt_result_finish(const profcore *pc) {
    prt_result *r = &prt_g_session.result;
    profcore_stats_read(pc, &r->core);
    memcpy(&r->counters, &prt_g_counters, sizeof r->counters);
    prt_threads_counts(&r->threads_registered, &r->threads_discovered, &r->timers_created,
                       &r->timers_deleted);
    r->duration_ns = (int64_t)(prt_clock_ns(CLOCK_MONOTONIC) - prt_g_session.live.start_mono_ns);
    r->cpu_measured_ns = prt_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - prt_g_session.live.start_cpu_ns;
    const prt_live *l = &prt_g_session.live; /* every helper joined: their last clocks are final */
    r->helpers_cpu_ns = l->writer.cpu_ns + l->ticker.cpu_ns + l->rotator.cpu_ns;
    r->have_profile = true;
}

/* Ends the running session: see the order in the file comment.  Leaves the
 * aggregate and the final statistics in place. */
static void prt_session_end(void) {
    prt_live *l = &prt_g_session.live;
    profcore *pc = l->view.pc;
    if (l->view.engine == PCPROF_ENGINE_ITIMER) prt_disarm_itimer(&l->view);
    prt_ticker_stop(); /* ticks already queued arrive after the unpublish: ignored */
    prt_threads_disarm_all();
    prt_rotator_stop(); /* before the final drain: the last period is everything after its cut */
    prt_writer_stop();
    pthread_mutex_lock(&prt_reader_mu);
    while (profcore_stop(pc) == PROFCORE_BUSY) prt_sleep_us(100);
    while (profcore_final_drain(pc, prt_agg_emit, &prt_g_session.agg) == PROFCORE_BUSY) prt_sleep_us(100);
    pthread_mutex_unlock(&prt_reader_mu);
    prt_view_unpublish();
    prt_unwind_tables_stop();
    prt_result_finish(pc);
    prt_session_release_live();
    prt_g_session.running = false;
    prt_g_session.window = false;
}

/* ---- the public calls ----------------------------------------------------------- */

/* Everything that can refuse before a session exists. */
static int prt_start_checks(const pcp_options *o, char *err, size_t errlen) {
    if (prt_g_session.running && prt_g_session.window) {
        prt_set_error(err, errlen, "profcore: a window of the pprof endpoint is profiling; start after it ends");
        return PCP_E_RUNNING;
    }
    if (prt_g_session.running) {
        prt_set_error(err, errlen, "profcore: already profiling; stop first");
        return PCP_E_RUNNING;
    }
    int rc = prt_validate(o, err, errlen);
    /* Not running: no timer sends the old signal any more, and the handler
     * is installed on the new one next. */
    if (rc == PCP_OK) __atomic_store_n(&prt_g_signal, o->signal != 0 ? o->signal : SIGPROF, __ATOMIC_RELAXED);
    if (rc == PCP_OK && prt_parse_engine(o->engine) == PCPROF_ENGINE_PERF && prt_perf_probe(err, errlen) != 0)
        rc = PCP_E_ENGINE;
    if (rc == PCP_OK) rc = prt_install_handler(err, errlen);
    return rc;
}

/* pcp_start and a window's start (api lock held). */
static int prt_start_locked(const pcp_options *o, bool window, char *err, size_t errlen) {
    uint64_t cpu0 = prt_clock_ns(CLOCK_THREAD_CPUTIME_ID); /* the profiler's start-up, measured */
    int rc = prt_start_checks(o, err, errlen);
    if (rc != PCP_OK) return rc; /* a running session (start twice) is left exactly as it was */
    int engine = prt_parse_engine(o->engine);
    prt_faultproof_init(); /* without it, unregistered stacks are 1 frame deep */
    rc = prt_session_build(o, engine, err, errlen);
    if (rc != PCP_OK) {
        prt_session_release_live(); /* never published: no handler can hold it */
        return rc;
    }
    prt_result_begin(o, engine);
    prt_view_publish(&prt_g_session.live.view);
    prt_g_session.running = true;
    prt_g_session.window = window;
    rc = prt_session_arm(err, errlen);
    prt_fork_drop_count_since_fork(); /* the start it was asked for is this one */
    if (rc != PCP_OK) {
        prt_session_end();
        prt_g_session.result.have_profile = false;
        pcprof_output_release(prt_g_session.result.output_path);
    }
    prt_g_session.result.startup_cpu_ns = prt_clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    return rc;
}

PCP_EXPORT int pcp_start(const pcp_options *o, char *err, size_t errlen) {
    prt_install_atfork();
    pthread_mutex_lock(&prt_api_mu);
    int rc = prt_start_locked(o, false, err, errlen);
    pthread_mutex_unlock(&prt_api_mu);
    return rc;
}

/* ---- windows of the pprof endpoint (http_server.c) ----------------------------- */

/* The process CPU clock when the window's timers were armed (api lock).
 * Read by the window's own thread right after the arming and right before
 * the disarming, so the window's CPU is what its timers could sample, not
 * the start's or the teardown's time (which a loaded machine stretches). */
static uint64_t prt_window_cpu0;

bool prt_program_profiling(void) {
    pthread_mutex_lock(&prt_api_mu);
    bool r = prt_g_session.running && !prt_g_session.window;
    pthread_mutex_unlock(&prt_api_mu);
    return r;
}

int prt_window_start(const pcp_options *o, char *err, size_t errlen) {
    pcp_options w = *o;
    w.output_path = NULL; /* the bytes go to the HTTP client only */
    w.format = "pprof";
    w.period_ms = 0; /* one window, one profile: no rotation */
    prt_install_atfork();
    pthread_mutex_lock(&prt_api_mu);
    int rc = prt_start_locked(&w, true, err, errlen);
    prt_window_cpu0 = prt_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    pthread_mutex_unlock(&prt_api_mu);
    return rc;
}

int prt_window_stop(pcprof_bytes *out, uint64_t *cpu_ns, char *err, size_t errlen) {
    *out = (pcprof_bytes){0};
    *cpu_ns = 0;
    pthread_mutex_lock(&prt_api_mu);
    int rc = PCP_E_NOT_RUNNING;
    if (prt_g_session.running && prt_g_session.window) {
        *cpu_ns = prt_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - prt_window_cpu0;
        prt_session_end();
        rc = prt_encode_session(PCPROF_FORMAT_PPROF, out, err, errlen);
    } else {
        prt_set_error(err, errlen, "profcore: the window's session is gone");
    }
    pthread_mutex_unlock(&prt_api_mu);
    return rc;
}

PCP_EXPORT int pcp_stop(char *err, size_t errlen) {
    pthread_mutex_lock(&prt_api_mu);
    if (!prt_g_session.running || prt_g_session.window) { /* a window ends by itself */
        pthread_mutex_unlock(&prt_api_mu);
        prt_set_error(err, errlen, "profcore: stop without a running profile");
        return PCP_E_NOT_RUNNING;
    }
    prt_session_end();
    prt_result *r = &prt_g_session.result;
    int rc = PCP_OK;
    uint64_t cpu0 = prt_clock_ns(CLOCK_THREAD_CPUTIME_ID); /* writing: symbolizing, encoding, the file */
    if (r->output_path != NULL && r->period.period_ns > 0) rc = prt_period_write_last(err, errlen);
    else if (r->output_path != NULL) rc = prt_write_session(r->output_path, r->format, err, errlen);
    r->write_cpu_ns = prt_clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    pcprof_output_release(r->output_path);
    pthread_mutex_unlock(&prt_api_mu);
    return rc;
}

PCP_EXPORT int pcp_is_running(void) {
    pthread_mutex_lock(&prt_api_mu);
    int r = prt_g_session.running && !prt_g_session.window;
    pthread_mutex_unlock(&prt_api_mu);
    return r;
}

PCP_EXPORT int pcp_objects_changed(void) { return prt_unwind_tables_sync() ? PCP_OK : PCP_E_NOT_RUNNING; }

PCP_EXPORT int pcp_flush(char *err, size_t errlen) {
    pthread_mutex_lock(&prt_api_mu);
    const prt_result *r = &prt_g_session.result;
    int rc;
    if (!prt_g_session.running || prt_g_session.window) {
        prt_set_error(err, errlen, "profcore: flush without a running profile");
        rc = PCP_E_NOT_RUNNING;
    } else if (r->output_path == NULL) {
        prt_set_error(err, errlen, "profcore: flush: no output path was given at start");
        rc = PCP_E_PATH;
    } else if (r->period.period_ns > 0) { /* rotating: the period so far becomes the next file */
        rc = prt_period_cut_now(err, errlen);
    } else {
        prt_collect();
        rc = prt_write_session(r->output_path, r->format, err, errlen);
    }
    pthread_mutex_unlock(&prt_api_mu);
    return rc;
}

static bool prt_has_profile(void) { return prt_g_session.running || prt_g_session.result.have_profile; }

PCP_EXPORT int pcp_write(const char *path, const char *format, char *err, size_t errlen) {
    int f;
    int rc = prt_check_destination(path, format, "", &f, err, errlen);
    if (rc != PCP_OK) return rc;
    pthread_mutex_lock(&prt_api_mu);
    if (!prt_has_profile()) {
        prt_set_error(err, errlen, "profcore: nothing recorded yet");
        rc = PCP_E_NO_PROFILE;
    } else {
        prt_collect();
        rc = prt_write_session(path, f, err, errlen);
    }
    pthread_mutex_unlock(&prt_api_mu);
    return rc;
}

PCP_EXPORT int pcp_print_summary(FILE *out, int top) {
    pthread_mutex_lock(&prt_api_mu);
    int rc = PCP_E_NO_PROFILE;
    if (prt_has_profile()) {
        prt_collect();
        rc = prt_summarize_session(out, top);
    }
    pthread_mutex_unlock(&prt_api_mu);
    return rc;
}

static void prt_stats_from_counters(pcp_stats *out, const prt_counters *live, const profcore_stats *core) {
    prt_counters c;
    prt_counters_read(&c, live);
    out->signals = c.signals;
    out->signals_foreign = c.signals_foreign;
    out->offered_weight = c.offered_weight;
    out->offered_samples = c.offered_samples;
    out->unregistered_samples = c.unregistered_samples;
    out->critical_weight = c.critical_weight;
    out->unwind_failures = c.unwind_failures;
    out->handler_ns_total = c.handler_ns_total;
    out->handler_ns_max = c.handler_ns_max;
    out->tail_samples = c.tail_samples;
    out->tail_weight = c.tail_weight;
    out->signals_after_tail = c.signals_after_tail;
    out->startup_cpu_ns = prt_g_session.result.startup_cpu_ns;
    out->helpers_cpu_ns = prt_helpers_cpu_ns();
    out->write_cpu_ns = prt_g_session.result.write_cpu_ns;
    out->core_offered_weight = core->offered_weight;
    out->core_recorded_weight = core->recorded_weight;
    out->core_rejected_weight = core->rejected_weight;
    for (int r = 0; r < PROFCORE_LOSS_REASONS && r < 8; r++) out->core_lost_weight[r] = core->lost_weight[r];
}

PCP_EXPORT int pcp_get_stats(pcp_stats *out) {
    if (out == NULL) return PCP_E_INVAL;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&prt_api_mu);
    if (!prt_has_profile()) {
        pthread_mutex_unlock(&prt_api_mu);
        return PCP_E_NO_PROFILE;
    }
    const prt_result *r = &prt_g_session.result;
    if (prt_g_session.running) {
        profcore_stats core;
        profcore_stats_read(prt_g_session.live.view.pc, &core);
        prt_stats_from_counters(out, &prt_g_counters, &core);
        prt_threads_counts(&out->threads_registered, &out->threads_discovered, &out->timers_created,
                           &out->timers_deleted);
    } else {
        prt_stats_from_counters(out, &r->counters, &r->core);
        out->threads_registered = r->threads_registered;
        out->threads_discovered = r->threads_discovered;
        out->timers_created = r->timers_created;
        out->timers_deleted = r->timers_deleted;
    }
    pthread_mutex_lock(&prt_reader_mu);
    out->profile_weight = prt_g_session.agg.total_weight;
    out->profile_stacks = prt_g_session.agg.n;
    pthread_mutex_unlock(&prt_reader_mu);
    pthread_mutex_unlock(&prt_api_mu);
    return PCP_OK;
}

PCP_EXPORT int pcp_set_traceback_hook(profcore_traceback_fn hook, void *user) {
    /* The argument first: a handler that sees the new hook sees its
     * argument (acquire pair: the loads in prt_unwind, unwind.c). */
    __atomic_store_n(&prt_g_hook_user, user, __ATOMIC_RELEASE);
    __atomic_store_n(&prt_g_hook, hook, __ATOMIC_RELEASE);
    return PCP_OK;
}

/* ---- the preload library's questions (runtime_link.h) ----------------------------- */

PROFCORE_SIGNAL_SAFE int prt_link_session_engine(void) {
    /* The handler's bracket (prt_handler_entry): the view read here is not
     * released before the decrement. */
    __atomic_add_fetch(&prt_g_inflight, 1u, __ATOMIC_SEQ_CST);
    const prt_view *v = __atomic_load_n(&prt_g_view, __ATOMIC_SEQ_CST); /* pairs: prt_view_publish */
    int engine = v != NULL ? v->engine : 0;
    __atomic_sub_fetch(&prt_g_inflight, 1u, __ATOMIC_RELEASE); /* pairs: prt_view_unpublish */
    return engine;
}

PROFCORE_SIGNAL_SAFE int prt_link_sampling_signal(void) { return __atomic_load_n(&prt_g_signal, __ATOMIC_RELAXED); }

/* pcp_write into memory, for the preload library's record mode: the
 * running session's profile so far, or the stopped one's. */
int prt_link_encode_profile(int format, struct pcprof_bytes *out, char *err, size_t errlen) {
    pthread_mutex_lock(&prt_api_mu);
    int rc = PCP_E_NO_PROFILE;
    if (prt_has_profile()) {
        prt_collect();
        rc = prt_encode_session(format, out, err, errlen);
    } else {
        prt_set_error(err, errlen, "profcore: nothing recorded yet");
    }
    pthread_mutex_unlock(&prt_api_mu);
    return rc;
}

bool prt_link_is_runtime_handler(const struct sigaction *act) {
    return (act->sa_flags & SA_SIGINFO) && act->sa_sigaction == prt_handler_entry;
}
