/* writer.c — the core's reader: the writer thread that drains the core into
 * the aggregate, and the profile built from the aggregate for the output
 * side (profile.h).  Every read of the core here holds prt_reader_mu (the
 * core has exactly one reader at a time).  Nothing here runs in a handler.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "profile.h"
#include "unwind_tables.h"

static void *prt_writer_main(void *arg) {
    (void)arg;
    prt_live *l = &prt_g_session.live;
    prt_helper_running(&l->writer);
    uint64_t last_scan = prt_clock_ns(CLOCK_MONOTONIC);
    struct pollfd pfd = {l->view.wake_fd, POLLIN, 0};
    while (!prt_helper_stopping(&l->writer)) {
        /* A handoff wakes us; otherwise every 100 ms.  A program that closed
         * every descriptor (daemons do) closed the eventfd too: poll then
         * returns at once (POLLNVAL), and the wait becomes a plain 100 ms
         * sleep instead of a busy loop. */
        if (poll(&pfd, 1, 100) > 0 && (pfd.revents & POLLNVAL)) prt_sleep_us(100000);
        uint64_t junk;
        ssize_t r = read(l->view.wake_fd, &junk, sizeof junk);
        (void)r;
        if (l->writer_delay_us > 0) prt_sleep_us(l->writer_delay_us);
        pthread_mutex_lock(&prt_reader_mu);
        profcore_drain(l->view.pc, prt_agg_emit, &prt_g_session.agg);
        pthread_mutex_unlock(&prt_reader_mu);
        prt_unwind_tables_refresh(); /* objects loaded or unloaded since */
        uint64_t now = prt_clock_ns(CLOCK_MONOTONIC);
        if (now - last_scan >= 100000000u) { /* threads the program did not tell us about */
            prt_threads_rescan();
            last_scan = now;
        }
    }
    return NULL;
}

int prt_writer_start(char *err, size_t errlen) {
    sigset_t all;
    /* Never sampled, and no signal of the program lands on it: a process-
     * directed signal the program's threads block for a moment (nginx's
     * master blocks SIGCHLD between its sigsuspend calls) would otherwise
     * run the program's handler here, and the thread waiting in sigsuspend
     * for it would wait forever. */
    sigfillset(&all);
    return prt_helper_start(&prt_g_session.live.writer, prt_writer_main, &all, "writer", err, errlen);
}

void prt_writer_stop(void) {
    prt_helper *w = &prt_g_session.live.writer;
    if (w->tid == 0) return;
    prt_helper_ask_stop(w);
    uint64_t one = 1; /* wakes its poll */
    ssize_t r = write(prt_g_session.live.view.wake_fd, &one, sizeof one);
    (void)r;
    prt_helper_join(w);
}

void prt_collect(void) {
    pthread_mutex_lock(&prt_reader_mu);
    uint32_t busy = 0;
    if (prt_g_session.running)
        profcore_collect(prt_g_session.live.view.pc, prt_agg_emit, &prt_g_session.agg, &busy);
    pthread_mutex_unlock(&prt_reader_mu);
}

/* ---- the profile handed to the output side ---------------------------------- */

/* A private copy of the aggregate, its labels and its statistics, so the
 * output side can take its time without holding the reader lock. */
typedef struct prt_profile_copy {
    pcprof_profile p;
    pcprof_stack *stacks;
    uint64_t *frames;
    const char **labels;
} prt_profile_copy;

static void prt_profile_copy_free(prt_profile_copy *s);

/* The stacks of `a` into s (the caller keeps `a` still: lock or ownership). */
static int prt_copy_agg(prt_profile_copy *s, const prt_agg *a) {
    s->stacks = calloc(a->n ? a->n : 1, sizeof *s->stacks);
    s->frames = malloc((a->nframes ? a->nframes : 1) * sizeof *s->frames);
    if (s->stacks == NULL || s->frames == NULL) return -1;
    if (a->nframes > 0) memcpy(s->frames, a->frames, a->nframes * sizeof *s->frames); /* NULL when empty */
    for (size_t i = 0; i < a->n; i++) {
        s->stacks[i].weight = a->entries[i].weight;
        s->stacks[i].tag = a->entries[i].tag;
        s->stacks[i].depth = a->entries[i].depth;
        s->stacks[i].frames = s->frames + a->entries[i].frames_at;
    }
    s->p.nstacks = a->n;
    s->p.stacks = s->stacks;
    return 0;
}

static int prt_copy_aggregate(prt_profile_copy *s) {
    pthread_mutex_lock(&prt_reader_mu);
    int r = prt_copy_agg(s, &prt_g_session.agg);
    pthread_mutex_unlock(&prt_reader_mu);
    return r;
}

/* What every profile of the session says about its sampling. */
static void prt_copy_identity(pcprof_profile *p) {
    const prt_result *res = &prt_g_session.result;
    p->period_ns = 1000000000u / (uint64_t)(res->hz > 0 ? res->hz : 1);
    p->engine = res->engine_name;
    p->hz = (uint32_t)res->hz;
}

/* The statistics: live while running, the final ones once stopped. */
static void prt_copy_stats(pcprof_profile *p) {
    const prt_session *ss = &prt_g_session;
    const prt_result *res = &ss->result;
    prt_copy_identity(p);
    p->start_unix_ns = res->start_unix_ns;
    const prt_counters *c = &res->counters;
    if (ss->running) {
        profcore_stats_read(ss->live.view.pc, &p->core);
        c = &prt_g_counters;
        p->duration_ns = (int64_t)(prt_clock_ns(CLOCK_MONOTONIC) - ss->live.start_mono_ns);
        p->cpu_measured_ns = prt_clock_ns(CLOCK_PROCESS_CPUTIME_ID) - ss->live.start_cpu_ns;
    } else {
        p->core = res->core;
        p->duration_ns = res->duration_ns;
        p->cpu_measured_ns = res->cpu_measured_ns;
    }
    p->startup_cpu_ns = res->startup_cpu_ns;
    p->helpers_cpu_ns = prt_helpers_cpu_ns();
    p->write_cpu_ns = res->write_cpu_ns;
    p->handler_samples = __atomic_load_n(&c->offered_samples, __ATOMIC_RELAXED);
    p->handler_ns_total = __atomic_load_n(&c->handler_ns_total, __ATOMIC_RELAXED);
    p->handler_ns_max = __atomic_load_n(&c->handler_ns_max, __ATOMIC_RELAXED);
    prt_unwind_report_read(&p->unwind);
}

/* ---- periods (rotation): a cut, and the profile between two marks ----------- */

void prt_counters_read(prt_counters *out, const prt_counters *c) {
    out->signals = __atomic_load_n(&c->signals, __ATOMIC_RELAXED);
    out->signals_foreign = __atomic_load_n(&c->signals_foreign, __ATOMIC_RELAXED);
    out->offered_samples = __atomic_load_n(&c->offered_samples, __ATOMIC_RELAXED);
    out->offered_weight = __atomic_load_n(&c->offered_weight, __ATOMIC_RELAXED);
    out->unregistered_samples = __atomic_load_n(&c->unregistered_samples, __ATOMIC_RELAXED);
    out->critical_weight = __atomic_load_n(&c->critical_weight, __ATOMIC_RELAXED);
    out->unwind_failures = __atomic_load_n(&c->unwind_failures, __ATOMIC_RELAXED);
    out->handler_ns_total = __atomic_load_n(&c->handler_ns_total, __ATOMIC_RELAXED);
    out->handler_ns_max = __atomic_load_n(&c->handler_ns_max, __ATOMIC_RELAXED);
    out->tail_samples = __atomic_load_n(&c->tail_samples, __ATOMIC_RELAXED);
    out->tail_weight = __atomic_load_n(&c->tail_weight, __ATOMIC_RELAXED);
    out->signals_after_tail = __atomic_load_n(&c->signals_after_tail, __ATOMIC_RELAXED);
}

void prt_mark_now(prt_mark *m) {
    memset(m, 0, sizeof *m);
    m->mono_ns = prt_clock_ns(CLOCK_MONOTONIC);
    m->cpu_ns = prt_clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    m->unix_ns = (int64_t)prt_clock_ns(CLOCK_REALTIME);
    if (prt_g_session.running) {
        profcore_stats_read(prt_g_session.live.view.pc, &m->core);
        prt_counters_read(&m->counters, &prt_g_counters);
    } else { /* the session has ended: its final counters */
        m->core = prt_g_session.result.core;
        m->counters = prt_g_session.result.counters;
    }
}

void prt_cut(prt_agg *out, prt_mark *end) {
    pthread_mutex_lock(&prt_reader_mu);
    uint32_t busy = 0;
    profcore_collect(prt_g_session.live.view.pc, prt_agg_emit, &prt_g_session.agg, &busy);
    prt_agg_move(out, &prt_g_session.agg);
    prt_mark_now(end);
    pthread_mutex_unlock(&prt_reader_mu);
}

/* to - from, counter by counter (all of them only grow). */
static void prt_core_between(profcore_stats *d, const profcore_stats *a, const profcore_stats *b) {
    d->offered_samples = b->offered_samples - a->offered_samples;
    d->offered_weight = b->offered_weight - a->offered_weight;
    d->recorded_samples = b->recorded_samples - a->recorded_samples;
    d->recorded_weight = b->recorded_weight - a->recorded_weight;
    for (int i = 0; i < PROFCORE_LOSS_REASONS; i++) {
        d->lost_samples[i] = b->lost_samples[i] - a->lost_samples[i];
        d->lost_weight[i] = b->lost_weight[i] - a->lost_weight[i];
    }
    d->rejected_samples = b->rejected_samples - a->rejected_samples;
    d->rejected_weight = b->rejected_weight - a->rejected_weight;
    d->evictions = b->evictions - a->evictions;
    d->handoffs = b->handoffs - a->handoffs;
    d->truncated = b->truncated - a->truncated;
}

int prt_write_period(const prt_agg *a, const prt_mark *from, const prt_mark *to, const char *path, int format,
                     char *err, size_t errlen) {
    prt_profile_copy s;
    memset(&s, 0, sizeof s);
    if (prt_copy_agg(&s, a) != 0) {
        prt_profile_copy_free(&s);
        prt_set_error(err, errlen, "profcore: out of memory building the profile");
        return PCP_E_SYSTEM;
    }
    size_t nl;
    s.labels = prt_labels_copy(&nl);
    s.p.labels = (const char *const *)s.labels;
    s.p.nlabels = nl;
    prt_copy_identity(&s.p);
    s.p.start_unix_ns = from->unix_ns;
    s.p.duration_ns = (int64_t)(to->mono_ns - from->mono_ns);
    s.p.cpu_measured_ns = to->cpu_ns - from->cpu_ns;
    prt_core_between(&s.p.core, &from->core, &to->core);
    s.p.handler_samples = to->counters.offered_samples - from->counters.offered_samples;
    s.p.handler_ns_total = to->counters.handler_ns_total - from->counters.handler_ns_total;
    s.p.handler_ns_max = to->counters.handler_ns_max; /* a maximum has no difference: the session's so far */
    prt_unwind_report_read(&s.p.unwind);
    int r = prt_write_profile(&s.p, path, format, err, errlen);
    prt_profile_copy_free(&s);
    return r;
}

static void prt_profile_copy_free(prt_profile_copy *s) {
    free(s->stacks);
    free(s->frames);
    free(s->labels);
}

/* api lock held. */
static int prt_profile_copy_take(prt_profile_copy *s) {
    memset(s, 0, sizeof *s);
    if (prt_copy_aggregate(s) != 0) {
        prt_profile_copy_free(s);
        return -1;
    }
    size_t nl;
    s->labels = prt_labels_copy(&nl);
    s->p.labels = (const char *const *)s->labels;
    s->p.nlabels = nl;
    prt_copy_stats(&s->p);
    return 0;
}

int prt_write_profile(const pcprof_profile *p, const char *path, int format, char *err, size_t errlen) {
    return pcprof_write(p, format, path, err, errlen) == 0 ? PCP_OK : PCP_E_WRITE;
}

int prt_write_session(const char *path, int format, char *err, size_t errlen) {
    prt_profile_copy s;
    if (prt_profile_copy_take(&s) != 0) {
        prt_set_error(err, errlen, "profcore: out of memory building the profile");
        return PCP_E_SYSTEM;
    }
    int r = prt_write_profile(&s.p, path, format, err, errlen);
    prt_profile_copy_free(&s);
    return r;
}

int prt_encode_session(int format, pcprof_bytes *out, char *err, size_t errlen) {
    *out = (pcprof_bytes){0};
    prt_profile_copy s;
    if (prt_profile_copy_take(&s) != 0) {
        prt_set_error(err, errlen, "profcore: out of memory building the profile");
        return PCP_E_SYSTEM;
    }
    int r = pcprof_encode(&s.p, format, out, err, errlen) == 0 ? PCP_OK : PCP_E_WRITE;
    prt_profile_copy_free(&s);
    return r;
}

int prt_summarize_session(FILE *out, int top) {
    prt_profile_copy s;
    if (prt_profile_copy_take(&s) != 0) return PCP_E_SYSTEM;
    pcprof_print_summary(out, &s.p, top);
    prt_profile_copy_free(&s);
    return PCP_OK;
}
