/* aggregate.c — the profile as the runtime keeps it: one entry per distinct
 * (tag, frames), weights summed; filled from the core's records by the
 * core's single reader (prt_reader_mu held).  Never touched by a handler. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vocab.h"

static uint64_t prt_agg_hash(uint64_t tag, const uint64_t *f, uint32_t depth) {
    uint64_t h = 0xcbf29ce484222325ull ^ tag;
    h *= 0x100000001b3ull;
    for (uint32_t i = 0; i < depth; i++) {
        h ^= f[i];
        h *= 0x100000001b3ull;
        h ^= h >> 29;
    }
    return h ^ depth;
}

void prt_agg_free(prt_agg *a) {
    free(a->entries);
    free(a->slots);
    free(a->frames);
    memset(a, 0, sizeof *a);
}

static int prt_agg_grow_slots(prt_agg *a) {
    size_t ns = a->nslots ? a->nslots * 2 : 1024;
    uint32_t *s = calloc(ns, sizeof *s);
    if (s == NULL) return -1;
    for (size_t i = 0; i < a->n; i++) {
        size_t j = (size_t)a->entries[i].hash & (ns - 1);
        while (s[j] != 0) j = (j + 1) & (ns - 1);
        s[j] = (uint32_t)(i + 1);
    }
    free(a->slots);
    a->slots = s;
    a->nslots = ns;
    return 0;
}

static bool prt_agg_same(const prt_agg *a, const prt_agg_entry *e, uint64_t hash, uint64_t tag,
                         const uint64_t *f, uint32_t depth) {
    return e->hash == hash && e->tag == tag && e->depth == depth &&
           memcmp(a->frames + e->frames_at, f, depth * sizeof *f) == 0;
}

static int prt_agg_add(prt_agg *a, uint64_t tag, const uint64_t *f, uint32_t depth,
                       uint64_t weight) {
    if ((a->n + 1) * 2 > a->nslots && prt_agg_grow_slots(a) != 0) return -1;
    uint64_t hash = prt_agg_hash(tag, f, depth);
    size_t j = (size_t)hash & (a->nslots - 1);
    for (; a->slots[j] != 0; j = (j + 1) & (a->nslots - 1)) {
        prt_agg_entry *e = &a->entries[a->slots[j] - 1];
        if (prt_agg_same(a, e, hash, tag, f, depth)) {
            e->weight += weight;
            a->total_weight += weight;
            return 0;
        }
    }
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 256;
        prt_agg_entry *ne = realloc(a->entries, nc * sizeof *ne);
        if (ne == NULL) return -1;
        a->entries = ne;
        a->cap = nc;
    }
    if (a->nframes + depth > a->frames_cap) {
        size_t nc = a->frames_cap ? a->frames_cap * 2 : 4096;
        while (nc < a->nframes + depth) nc *= 2;
        uint64_t *nf = realloc(a->frames, nc * sizeof *nf);
        if (nf == NULL) return -1;
        a->frames = nf;
        a->frames_cap = nc;
    }
    memcpy(a->frames + a->nframes, f, depth * sizeof *f);
    prt_agg_entry *e = &a->entries[a->n];
    e->weight = weight;
    e->tag = tag;
    e->hash = hash;
    e->depth = depth;
    e->frames_at = a->nframes;
    a->nframes += depth;
    a->slots[j] = (uint32_t)(++a->n);
    a->total_weight += weight;
    return 0;
}

void prt_agg_emit(void *ctx, const profcore_record *rec) {
    prt_agg *a = (prt_agg *)ctx;
    const uint64_t *frames = rec->frames;
    /* A thread tail crossed the core under a stand-in frame (handler.c);
     * the profile names it with its synthetic frame. */
    static const uint64_t tail[1] = {PCPROF_FRAME_UNSAMPLED_TAIL};
    if (rec->depth == 1 && frames[0] == (uint64_t)prt_tail_core_frame()) frames = tail;
    if (prt_agg_add(a, rec->tag, frames, rec->depth, rec->weight) != 0)
        a->dropped_weight += rec->weight;
}


void prt_agg_move(prt_agg *to, prt_agg *from) {
    *to = *from;
    memset(from, 0, sizeof *from);
}

void prt_agg_merge(prt_agg *dst, const prt_agg *src) {
    for (size_t i = 0; i < src->n; i++) {
        const prt_agg_entry *e = &src->entries[i];
        if (prt_agg_add(dst, e->tag, src->frames + e->frames_at, e->depth, e->weight) != 0)
            dst->dropped_weight += e->weight;
    }
    dst->dropped_weight += src->dropped_weight;
}
