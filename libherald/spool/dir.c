/*
 * libherald/spool/dir.c - the directory backend of the spool.
 *
 *   SPOOL/tmp/      records being written (never read; stale ones removed)
 *   SPOOL/queue/ID  messages waiting; the file's mtime is its next attempt
 *                   time (a hint for listing: the record decides)
 *   SPOOL/failed/ID dead letters, with their reason
 *   SPOOL/state/    not ours (the deliver layer's breaker files)
 *
 * Every write goes to a new file in tmp/, is fsynced, renamed into place
 * (replacing the old record atomically) and the directory fsynced, so a
 * crash leaves the old record or the new one, never a part.  A claim (the
 * lease of one runner on one message) is flock(LOCK_EX|LOCK_NB) on the
 * open record: held while the runner delivers, released by the kernel
 * when the runner dies, so a SIGKILLed runner's message is free at once.
 * Whoever writes or removes a record holds its lock first, and a claim
 * checks after locking that the path still names the file it locked.
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct dir_backend {
    struct hs_backend base;
    char *root;
    char *area[2];        /* queue, failed */
    char *tmp;
};

struct hs_claim {
    int fd;
    enum hs_area area;
    char *id;
};

#define STALE_TMP_SECONDS 3600

/* ---------------------------------------------------------------- errors */

static const char *errno_hint(int e)
{
    switch (e) {
    case ENOSPC: return " (the disk is full)";
    case EDQUOT: return " (the disk quota is used up)";
    case EFBIG: return " (over the file size limit, RLIMIT_FSIZE / ulimit -f)";
    case EROFS: return " (the file system is read-only)";
    case EACCES: case EPERM: return " (permission denied)";
    default: return "";
    }
}

static herald_class io_error(herald_error **err_r, const char *what,
                             const char *path, int e)
{
    hx_error(err_r, HERALD_ERR_INTERNAL, "spool: cannot %s %s: %s%s", what,
             path, strerror(e), errno_hint(e));
    const char *fix =
        e == ENOSPC || e == EDQUOT ? "free space on the spool's file system"
        : e == EFBIG ? "raise the file size limit (ulimit -f) or send a "
                       "smaller message"
        : e == EROFS ? "remount the file system read-write or set spool_dir "
                       "to a writable directory"
        : e == EACCES || e == EPERM ? "give the user running herald write "
                                      "access to the spool (chown/chmod)"
        : "check the spool directory and its file system";
    return hx_fix(err_r, HERALD_ERR_INTERNAL, "%s; nothing was queued", fix);
}

/* @id echoed with its control characters escaped, cut short. */
static herald_class not_an_id(const char *id, herald_error **err_r)
{
    char *shown = hm_show(id);
    hx_error(err_r, HERALD_ERR_USAGE, "'%s' is not a queue id",
             shown ? shown : "?");
    free(shown);
    return hx_fix(err_r, HERALD_ERR_USAGE, "`herald queue list` (and `herald "
                  "queue list --failed`) shows the ids");
}

static herald_class oom(herald_error **err_r)
{
    return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
}

/* ---------------------------------------------------------------- files */

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Write @rec as @area/@id: tmp file, fsync, mtime = @mtime, rename,
 * directory fsync.  On failure nothing new is visible in @area. */
static herald_class write_record(struct dir_backend *d, enum hs_area area,
                                 const char *id, const struct hbuf *rec,
                                 long long mtime, herald_error **err_r)
{
    if (rec->oom || !rec->data)
        return oom(err_r);
    char *tmp = hx_printf("%s/%s.XXXXXX", d->tmp, id);
    char *dest = hx_printf("%s/%s", d->area[area], id);
    herald_class rc = HERALD_OK;
    if (!tmp || !dest) {
        rc = oom(err_r);
        goto out;
    }
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        rc = io_error(err_r, "create a file in", d->tmp, errno);
        goto out;
    }
    struct timespec ts[2] = {{(time_t)mtime, 0}, {(time_t)mtime, 0}};
    int bad = write_all(fd, rec->data, rec->len) != 0 || fsync(fd) != 0;
    int e = errno;
    if (!bad)
        futimens(fd, ts);
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (!bad && rename(tmp, dest) != 0) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlink(tmp);
        rc = io_error(err_r, "write", tmp, e);
        goto out;
    }
    if (fsync_dir(d->area[area]) != 0)
        rc = io_error(err_r, "sync the directory", d->area[area], errno);
out:
    free(tmp);
    free(dest);
    return rc;
}

static herald_class read_record(struct dir_backend *d, enum hs_area area,
                                const char *id, hs_item **it_r,
                                herald_error **err_r)
{
    char *path = hx_printf("%s/%s", d->area[area], id);
    if (!path)
        return oom(err_r);
    char *data = NULL, *why = NULL;
    size_t len = 0;
    herald_class rc;
    if (hb_read_file(path, d->base.max_record, "the spool record size limit",
                     0, &data, &len, &why) != 0) {
        if (errno == ENOENT)
            rc = hx_fix(err_r, hx_error(err_r, HERALD_ERR_USAGE,
                                        "no %s message with queue id %s",
                                        area == HS_QUEUE ? "waiting" : "dead",
                                        id),
                        "`herald queue list` (and `herald queue list "
                        "--failed`) shows the ids");
        else
            rc = hx_fix(err_r, hx_error(err_r, HERALD_ERR_INTERNAL,
                                        "spool: %s", why ? why : "out of memory"),
                        "%s", "move the file out of the spool; it cannot be "
                        "delivered");
        free(why);
        free(path);
        return rc;
    }
    rc = hs_decode(data, len, path, it_r, err_r);
    free(data);
    if (rc == HERALD_OK && strcmp((*it_r)->id, id) != 0) {
        rc = hx_fix(err_r, hx_error(err_r, HERALD_ERR_INTERNAL,
                                    "spool: %s holds message %s, not %s", path,
                                    (*it_r)->id, id),
                    "a record was renamed by hand: move it out of the spool");
        hs_item_free(*it_r);
        *it_r = NULL;
    }
    free(path);
    return rc;
}

/* ---------------------------------------------------------------- opening */

static herald_class check_dir(const char *path, int create, herald_error **err_r)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        int e = errno;
        if (e != ENOENT || !create || mkdir(path, 0700) != 0) {
            e = e == ENOENT && create ? errno : e;
            return hx_fix(err_r, hx_error(err_r, HERALD_ERR_CONFIG,
                                          "spool_dir: cannot create %s: %s",
                                          path, strerror(e)),
                          "create the directory (mode 0700, owned by the user "
                          "running herald) or set spool_dir in [herald] to "
                          "one that can be created");
        }
        if (stat(path, &st) != 0)
            return io_error(err_r, "read", path, errno);
    }
    if (!S_ISDIR(st.st_mode))
        return hx_fix(err_r, hx_error(err_r, HERALD_ERR_CONFIG,
                                      "spool_dir: %s is a %s, not a directory",
                                      path, hb_file_kind(st.st_mode)),
                      "set spool_dir in [herald] to a directory, or move %s "
                      "away so herald can create it", path);
    if (st.st_uid != geteuid())
        return hx_fix(err_r, hx_error(err_r, HERALD_ERR_CONFIG,
                                      "spool_dir: %s is owned by uid %ld, not "
                                      "by this user (uid %ld)", path,
                                      (long)st.st_uid, (long)geteuid()),
                      "run herald as the spool's owner, or `chown %ld %s`",
                      (long)geteuid(), path);
    if (access(path, W_OK | X_OK) != 0) {
        int e = errno;
        return hx_fix(err_r, hx_error(err_r, HERALD_ERR_CONFIG,
                                      "spool_dir: %s is not writable: %s%s",
                                      path, strerror(e), errno_hint(e)),
                      e == EROFS ? "remount it read-write or set spool_dir to "
                                   "a writable directory"
                                 : "`chmod u+rwx %s`", path);
    }
    return HERALD_OK;
}

/* Remove what a crashed writer left in tmp/ (older than an hour). */
static void clean_tmp(struct dir_backend *d)
{
    DIR *dir = opendir(d->tmp);
    if (!dir)
        return;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(dir))) {
        struct stat st;
        if (de->d_name[0] == '.' ||
            fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISREG(st.st_mode) && st.st_ctime + STALE_TMP_SECONDS < now)
            unlinkat(dirfd(dir), de->d_name, 0);
    }
    closedir(dir);
}

static const struct hs_ops dir_ops;

static void dir_close(struct hs_backend *b)
{
    struct dir_backend *d = (struct dir_backend *)b;
    if (!d)
        return;
    free(d->root);
    free(d->area[0]);
    free(d->area[1]);
    free(d->tmp);
    free(d);
}

herald_class hs_dir_open(const char *dir, size_t max_record,
                         struct hs_backend **b_r, herald_error **err_r)
{
    *b_r = NULL;
    struct dir_backend *d = calloc(1, sizeof *d);
    if (!d)
        return oom(err_r);
    d->base.ops = &dir_ops;
    d->base.max_record = max_record;
    d->root = hx_strdup(dir);
    d->tmp = hx_printf("%s/tmp", dir);
    d->area[HS_QUEUE] = hx_printf("%s/queue", dir);
    d->area[HS_FAILED] = hx_printf("%s/failed", dir);
    herald_class rc = !d->root || !d->tmp || !d->area[0] || !d->area[1]
        ? oom(err_r) : check_dir(d->root, 1, err_r);
    if (rc == HERALD_OK)
        rc = check_dir(d->tmp, 1, err_r);
    for (int a = 0; a < 2 && rc == HERALD_OK; a++)
        rc = check_dir(d->area[a], 1, err_r);
    if (rc != HERALD_OK) {
        dir_close(&d->base);
        return rc;
    }
    clean_tmp(d);
    *b_r = &d->base;
    return HERALD_OK;
}

/* ---------------------------------------------------------------- operations */

static herald_class dir_enqueue(struct hs_backend *b, const hs_item *it,
                                herald_error **err_r)
{
    struct hbuf rec = {0};
    hs_encode(it, &rec);
    herald_class rc = write_record((struct dir_backend *)b, HS_QUEUE, it->id,
                                   &rec, it->next, err_r);
    hbuf_free(&rec);
    return rc;
}

static herald_class dir_list(struct hs_backend *b, enum hs_area area,
                             hs_list_fn fn, void *user, herald_error **err_r)
{
    struct dir_backend *d = (struct dir_backend *)b;
    DIR *dir = opendir(d->area[area]);
    if (!dir)
        return io_error(err_r, "read", d->area[area], errno);
    struct dirent *de;
    while ((de = readdir(dir))) {
        struct stat st;
        if (!hs_id_valid(de->d_name) ||
            fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
            !S_ISREG(st.st_mode))
            continue;
        if (fn(de->d_name, (long long)st.st_mtime, user))
            break;
    }
    closedir(dir);
    return HERALD_OK;
}

static herald_class claim_in(struct hs_backend *b, enum hs_area area,
                             const char *id, struct hs_claim **claim_r,
                             hs_item **it_r, herald_error **err_r)
{
    struct dir_backend *d = (struct dir_backend *)b;
    *claim_r = NULL;
    *it_r = NULL;
    if (!hs_id_valid(id))
        return not_an_id(id, err_r);
    char *path = hx_printf("%s/%s", d->area[area], id);
    if (!path)
        return oom(err_r);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    herald_class rc = HERALD_QUEUED;   /* busy or gone */
    struct stat a, p;
    if (fd < 0) {
        if (errno != ENOENT)
            rc = io_error(err_r, "open", path, errno);
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK)
            rc = io_error(err_r, "lock", path, errno);
    } else if (fstat(fd, &a) == 0 && stat(path, &p) == 0 &&
               a.st_ino == p.st_ino && a.st_dev == p.st_dev) {
        rc = read_record(d, area, id, it_r, err_r);
        if (rc == HERALD_OK) {
            struct hs_claim *c = calloc(1, sizeof *c);
            if (!c || !(c->id = hx_strdup(id))) {
                free(c);
                hs_item_free(*it_r);
                *it_r = NULL;
                rc = oom(err_r);
            } else {
                c->fd = fd;
                c->area = area;
                *claim_r = c;
                fd = -1;
            }
        }
    }
    if (fd >= 0)
        close(fd);
    free(path);
    return rc;
}

static herald_class dir_claim(struct hs_backend *b, const char *id,
                              struct hs_claim **claim_r, hs_item **it_r,
                              herald_error **err_r)
{
    return claim_in(b, HS_QUEUE, id, claim_r, it_r, err_r);
}

static herald_class dir_claim_failed(struct hs_backend *b, const char *id,
                                     struct hs_claim **claim_r, hs_item **it_r,
                                     herald_error **err_r)
{
    return claim_in(b, HS_FAILED, id, claim_r, it_r, err_r);
}

static void dir_release(struct hs_backend *b, struct hs_claim *c)
{
    (void)b;
    if (!c)
        return;
    close(c->fd);
    free(c->id);
    free(c);
}

/* Remove the claimed record from its area (it is still locked). */
static herald_class unlink_claimed(struct dir_backend *d, struct hs_claim *c,
                                   herald_error **err_r)
{
    char *path = hx_printf("%s/%s", d->area[c->area], c->id);
    if (!path)
        return oom(err_r);
    herald_class rc = HERALD_OK;
    if (unlink(path) != 0 && errno != ENOENT)
        rc = io_error(err_r, "remove", path, errno);
    else if (fsync_dir(d->area[c->area]) != 0)
        rc = io_error(err_r, "sync the directory", d->area[c->area], errno);
    free(path);
    return rc;
}

static herald_class dir_ack(struct hs_backend *b, struct hs_claim *c,
                            herald_error **err_r)
{
    herald_class rc = unlink_claimed((struct dir_backend *)b, c, err_r);
    dir_release(b, c);
    return rc;
}

/* Write @it into @area for the claimed message, then remove the claimed
 * record when it was in another area; ends the lease. */
static herald_class move_to(struct hs_backend *b, struct hs_claim *c,
                            const hs_item *it, enum hs_area area,
                            long long mtime, herald_error **err_r)
{
    struct dir_backend *d = (struct dir_backend *)b;
    struct hbuf rec = {0};
    hs_encode(it, &rec);
    herald_class rc = write_record(d, area, c->id, &rec, mtime, err_r);
    hbuf_free(&rec);
    if (rc == HERALD_OK && c->area != area)
        rc = unlink_claimed(d, c, err_r);
    dir_release(b, c);
    return rc;
}

static herald_class dir_defer(struct hs_backend *b, struct hs_claim *c,
                              const hs_item *it, herald_error **err_r)
{
    return move_to(b, c, it, HS_QUEUE, it->next, err_r);
}

static herald_class dir_fail(struct hs_backend *b, struct hs_claim *c,
                             const hs_item *it, herald_error **err_r)
{
    return move_to(b, c, it, HS_FAILED, (long long)time(NULL), err_r);
}

static herald_class dir_get(struct hs_backend *b, enum hs_area area,
                            const char *id, hs_item **it_r, herald_error **err_r)
{
    *it_r = NULL;
    if (!hs_id_valid(id))
        return not_an_id(id, err_r);
    return read_record((struct dir_backend *)b, area, id, it_r, err_r);
}

static int min_due(const char *id, long long due, void *user)
{
    (void)id;
    long long *when = user;
    if (*when == 0 || due < *when)
        *when = due;
    return 0;
}

static herald_class dir_next_due(struct hs_backend *b, long long *when_r,
                                 herald_error **err_r)
{
    *when_r = 0;
    return dir_list(b, HS_QUEUE, min_due, when_r, err_r);
}

static const char *dir_watch_dir(const struct hs_backend *b)
{
    return ((const struct dir_backend *)b)->area[HS_QUEUE];
}

static const struct hs_ops dir_ops = {
    "dir", dir_close, dir_enqueue, dir_list, dir_claim, dir_claim_failed,
    dir_ack, dir_defer, dir_fail, dir_release, dir_get, dir_next_due,
    dir_watch_dir,
};
