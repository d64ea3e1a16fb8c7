/* reserved.c — output files opened while the process still could.
 *
 * A server forks workers that drop privileges (setuid to nobody, chroot)
 * right away; at exit such a worker can no longer create a file in the
 * output directory, or no longer even see it, and an atomic write (a
 * temporary file next to the profile, then rename) fails.  A directory
 * descriptor does not help: creating and renaming in a directory checks its
 * write permission against the process's credentials at that moment.  An
 * open file does: writing through a descriptor is checked when it was
 * opened, not on each write.  So a session with an output path reserves it
 * at its start (pcprof_output_reserve: the file opened for writing, created
 * empty when it did not exist), and the writer falls back to writing the
 * profile in place through that descriptor when the path can no longer be
 * used (pcout_reserved_write_if_needed, called by pcout_write_file_atomic):
 *   - the process sees another file tree than at the start (chroot; or a
 *     chdir, for a relative path): in place, at once, so the profile lands
 *     where the session was asked to write it, not inside the jail;
 *   - the atomic write failed while the path still names the reserved file
 *     (its directory is no longer writable for us: setuid): in place.
 * A file or directory someone else renamed or removed is not followed:
 * the write fails and says so, and the profile stays for pcp_write.
 * In place means not atomic (truncate, write, fsync): a reader at that
 * moment may see a partial file; the atomic write stays the normal path.
 * A descriptor the program closed or reused (daemons close every fd) is
 * detected (device and inode no longer those reserved) and never written.
 * Entries are few (one per running session, snapshots and pcp_write to
 * other paths have none) and found by the exact path string.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "output_internal.h"

#define PCOUT_RESERVED_MAX 8

typedef struct pcout_reserved {
    char *path; /* NULL: free slot */
    int fd;
    dev_t dev;
    ino_t ino;
    bool created; /* the reservation made the file: removed if never written */
    bool written;
    bool relative;           /* the path depends on the working directory */
    dev_t root_dev, cwd_dev; /* "/" and "." when it was reserved */
    ino_t root_ino, cwd_ino;
} pcout_reserved;

static pthread_mutex_t pcout_reserved_mu = PTHREAD_MUTEX_INITIALIZER;
static pcout_reserved pcout_reserved_tab[PCOUT_RESERVED_MAX];

static pcout_reserved *pcout_reserved_find_locked(const char *path) {
    for (size_t i = 0; i < PCOUT_RESERVED_MAX; i++)
        if (pcout_reserved_tab[i].path != NULL && strcmp(pcout_reserved_tab[i].path, path) == 0)
            return &pcout_reserved_tab[i];
    return NULL;
}

static void pcout_reserved_drop_locked(pcout_reserved *r) {
    if (r->fd >= 0) close(r->fd);
    free(r->path);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

/* Is r's descriptor still the file reserved (not closed, not reused)? */
static bool pcout_reserved_fd_ok(const pcout_reserved *r) {
    struct stat st;
    return r->fd >= 0 && fstat(r->fd, &st) == 0 && st.st_dev == r->dev && st.st_ino == r->ino;
}

static bool pcout_same_dir(const char *dir, dev_t dev, ino_t ino) {
    struct stat st;
    return stat(dir, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* Does the process see another file tree than when r was reserved? */
static bool pcout_reserved_view_moved(const pcout_reserved *r) {
    return !pcout_same_dir("/", r->root_dev, r->root_ino) ||
           (r->relative && !pcout_same_dir(".", r->cwd_dev, r->cwd_ino));
}

/* Does `path` still name the reserved file? */
static bool pcout_reserved_path_ok(const pcout_reserved *r) {
    struct stat st;
    return stat(r->path, &st) == 0 && st.st_dev == r->dev && st.st_ino == r->ino;
}

static int pcout_reserved_open(pcout_reserved *r, const char *path) {
    struct stat before;
    bool existed = stat(path, &before) == 0;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    r->fd = fd;
    r->dev = st.st_dev;
    r->ino = st.st_ino;
    r->created = !existed;
    r->relative = path[0] != '/';
    struct stat d;
    if (stat("/", &d) == 0) r->root_dev = d.st_dev, r->root_ino = d.st_ino;
    if (stat(".", &d) == 0) r->cwd_dev = d.st_dev, r->cwd_ino = d.st_ino;
    return 0;
}

int pcprof_output_reserve(const char *path) {
    if (path == NULL || *path == '\0') return -1;
    pthread_mutex_lock(&pcout_reserved_mu);
    pcout_reserved *r = pcout_reserved_find_locked(path);
    if (r != NULL) pcout_reserved_drop_locked(r); /* a new session: reserved afresh */
    for (size_t i = 0; r == NULL && i < PCOUT_RESERVED_MAX; i++)
        if (pcout_reserved_tab[i].path == NULL) r = &pcout_reserved_tab[i];
    int rc = -1;
    if (r != NULL && (r->path = strdup(path)) != NULL) {
        rc = pcout_reserved_open(r, path);
        if (rc != 0) {
            free(r->path);
            r->path = NULL;
        }
    }
    pthread_mutex_unlock(&pcout_reserved_mu);
    return rc;
}

void pcprof_output_release(const char *path) {
    if (path == NULL) return;
    pthread_mutex_lock(&pcout_reserved_mu);
    pcout_reserved *r = pcout_reserved_find_locked(path);
    if (r != NULL) {
        /* An empty file the reservation made and nothing wrote: not a
         * profile, removed (by path, where that still works). */
        struct stat st;
        if (r->created && !r->written && pcout_reserved_fd_ok(r) && fstat(r->fd, &st) == 0 && st.st_size == 0 &&
            pcout_reserved_path_ok(r))
            unlink(r->path);
        pcout_reserved_drop_locked(r);
    }
    pthread_mutex_unlock(&pcout_reserved_mu);
}

void pcprof_output_fork_child(void) {
    /* The parent's reservations are the parent's files; no lock (the child
     * has one thread, and the owner of the lock may not exist here). */
    pthread_mutex_init(&pcout_reserved_mu, NULL);
    for (size_t i = 0; i < PCOUT_RESERVED_MAX; i++)
        if (pcout_reserved_tab[i].path != NULL) pcout_reserved_drop_locked(&pcout_reserved_tab[i]);
}

static int pcout_write_in_place(pcout_reserved *r, const void *data, size_t len, char *err, size_t errlen) {
    const unsigned char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(r->fd, p + done, len - done, (off_t)done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += (size_t)n;
    }
    if (done < len || ftruncate(r->fd, (off_t)len) != 0 || fsync(r->fd) != 0) {
        pcout_set_error(err, errlen, "cannot write '%s' through the descriptor opened at start: %s", r->path,
                        strerror(errno));
        return -1;
    }
    r->written = true;
    return 0;
}

int pcout_reserved_write_if_needed(const char *path, const void *data, size_t len, bool atomic_failed,
                                   char *err, size_t errlen) {
    pthread_mutex_lock(&pcout_reserved_mu);
    pcout_reserved *r = pcout_reserved_find_locked(path);
    int rc = PCOUT_RESERVED_NOT_USED;
    if (r != NULL && pcout_reserved_fd_ok(r) &&
        (pcout_reserved_view_moved(r) || (atomic_failed && pcout_reserved_path_ok(r))))
        rc = pcout_write_in_place(r, data, len, err, errlen);
    pthread_mutex_unlock(&pcout_reserved_mu);
    return rc;
}

void pcout_reserved_replaced(const char *path) {
    pthread_mutex_lock(&pcout_reserved_mu);
    pcout_reserved *r = pcout_reserved_find_locked(path);
    if (r != NULL) {
        /* The rename put a new file at the path: reserve that one, so a
         * later write (a flush, then the final one) still has it. */
        close(r->fd);
        r->fd = -1;
        bool keep_created = r->created;
        if (pcout_reserved_open(r, path) != 0) r->fd = -1;
        r->created = keep_created;
        r->written = true;
    }
    pthread_mutex_unlock(&pcout_reserved_mu);
}
