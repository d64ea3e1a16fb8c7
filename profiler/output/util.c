/* util.c — buffers, maps, the string table and the atomic file writer
 * shared by every output format. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output_internal.h"

/* ---- errors ---------------------------------------------------------------- */
void pcout_set_error(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- buffer ---------------------------------------------------------------- */
static int buf_reserve(pcout_buf *b, size_t extra) {
    if (b->failed) return -1;
    if (extra > SIZE_MAX - b->len) {
        b->failed = 1;
        return -1;
    }
    size_t need = b->len + extra;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    unsigned char *d = realloc(b->data, cap);
    if (!d) {
        b->failed = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void pcout_buf_append(pcout_buf *b, const void *data, size_t len) {
    if (len == 0 || buf_reserve(b, len) != 0) return;
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

void pcout_buf_byte(pcout_buf *b, unsigned char c) { pcout_buf_append(b, &c, 1); }

void pcout_buf_printf(pcout_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (buf_reserve(b, (size_t)n + 1) != 0) return;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n; /* the terminating NUL is scratch, not content */
}

void pcout_buf_free(pcout_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- u64 map ---------------------------------------------------------------- */
static size_t hash_u64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return (size_t)k;
}

int pcout_u64map_get(const pcout_u64map *m, uint64_t key, uint32_t *val) {
    if (m->cap == 0) return 0;
    for (size_t i = hash_u64(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->vals[i] == 0) return 0;
        if (m->keys[i] == key) {
            *val = m->vals[i] - 1;
            return 1;
        }
    }
}

/* Keeps the load at most 1/2 so probes stay short and an empty slot exists. */
static int u64map_grow(pcout_u64map *m) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    uint64_t *keys = calloc(cap, sizeof *keys);
    uint32_t *vals = calloc(cap, sizeof *vals);
    if (!keys || !vals) {
        free(keys);
        free(vals);
        m->failed = 1;
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (m->vals[i] == 0) continue;
        size_t j = hash_u64(m->keys[i]) & (cap - 1);
        while (vals[j] != 0) j = (j + 1) & (cap - 1);
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

int pcout_u64map_put(pcout_u64map *m, uint64_t key, uint32_t val) {
    if (val == UINT32_MAX) return -1;
    if ((m->count + 1) * 2 > m->cap && u64map_grow(m) != 0) return -1;
    size_t i = hash_u64(key) & (m->cap - 1);
    while (m->vals[i] != 0 && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
    if (m->vals[i] == 0) m->count++;
    m->keys[i] = key;
    m->vals[i] = val + 1;
    return 0;
}

void pcout_u64map_free(pcout_u64map *m) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- string table ------------------------------------------------------------ */
static size_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (size_t)hash_u64(h);
}

static int strtab_grow_slots(pcout_strtab *t) {
    size_t n = t->nslots ? t->nslots * 2 : 256;
    uint32_t *slots = calloc(n, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < t->count; i++) {
        size_t j = hash_str(t->strs[i]) & (n - 1);
        while (slots[j] != 0) j = (j + 1) & (n - 1);
        slots[j] = (uint32_t)i + 1;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    return 0;
}

uint32_t pcout_strtab_intern(pcout_strtab *t, const char *s) {
    if (t->failed) return 0;
    if (!s) s = "";
    if ((t->count + 1) * 2 > t->nslots && strtab_grow_slots(t) != 0) goto fail;
    size_t j = hash_str(s) & (t->nslots - 1);
    while (t->slots[j] != 0) {
        uint32_t idx = t->slots[j] - 1;
        if (strcmp(t->strs[idx], s) == 0) return idx;
        j = (j + 1) & (t->nslots - 1);
    }
    if (t->count == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char **strs = realloc(t->strs, cap * sizeof *strs);
        if (!strs) goto fail;
        t->strs = strs;
        t->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy) goto fail;
    t->strs[t->count] = copy;
    t->slots[j] = (uint32_t)t->count + 1;
    return (uint32_t)t->count++;
fail:
    t->failed = 1;
    return 0;
}

void pcout_strtab_free(pcout_strtab *t) {
    for (size_t i = 0; i < t->count; i++) free(t->strs[i]);
    free(t->strs);
    free(t->slots);
    memset(t, 0, sizeof *t);
}


const char *pcout_state_name(uint32_t state) {
    switch (state) {
    case PCPROF_STATE_NONE: return NULL;
    case PCPROF_STATE_RUNNING: return "running";
    case PCPROF_STATE_SLEEPING: return "sleeping";
    default: return "other";
    }
}

/* ---- atomic write -------------------------------------------------------------- */
static void split_dir(const char *path, char *dir, size_t dirlen) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dirlen, ".");
    } else if (slash == path) {
        snprintf(dir, dirlen, "/");
    } else {
        snprintf(dir, dirlen, "%.*s", (int)(slash - path), path);
    }
}

static int write_all(int fd, const unsigned char *p, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The directory entry of the rename is only durable once the directory
 * itself is synced; failure here is not an error of the write (the file is
 * complete and in place), so it is ignored. */
static void sync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

int pcout_write_file_atomic(const char *path, const void *data, size_t len, char *err,
                            size_t errlen) {
    if (!path || !*path) {
        pcout_set_error(err, errlen, "no output path given");
        return -1;
    }
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
        pcout_set_error(err, errlen, "output path too long: %s", path);
        return -1;
    }
    char dir[PATH_MAX];
    split_dir(path, dir, sizeof dir);
    /* The path no longer names the file reserved at the start (chroot,
     * chdir): that file, in place. */
    int in_place = pcout_reserved_write_if_needed(path, data, len, false, err, errlen);
    if (in_place != PCOUT_RESERVED_NOT_USED) return in_place;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        pcout_set_error(err, errlen, "cannot create a temporary file in directory '%s' for '%s': %s",
                        dir, path, strerror(errno));
        in_place = pcout_reserved_write_if_needed(path, data, len, true, err, errlen);
        return in_place == PCOUT_RESERVED_NOT_USED ? -1 : in_place;
    }
    const char *step = NULL;
    if (fchmod(fd, 0644) != 0) step = "chmod";
    else if (write_all(fd, data, len) != 0) step = "write";
    else if (fsync(fd) != 0) step = "fsync";
    int saved = errno;
    if (close(fd) != 0 && !step) {
        step = "close";
        saved = errno;
    }
    if (!step && rename(tmp, path) != 0) {
        step = "rename";
        saved = errno;
    }
    if (step) {
        unlink(tmp);
        pcout_set_error(err, errlen, "cannot write '%s' (%s failed): %s", path, step,
                        strerror(saved));
        in_place = pcout_reserved_write_if_needed(path, data, len, true, err, errlen);
        return in_place == PCOUT_RESERVED_NOT_USED ? -1 : in_place;
    }
    pcout_reserved_replaced(path);
    sync_dir(dir);
    return 0;
}
