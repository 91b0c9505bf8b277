/*
 * plugins/maildir/maildir.c - the maildir driver: each message becomes one
 * RFC 5322 file in a Maildir (written to tmp/, fsync'd, renamed into new/),
 * readable by any mail client.  It needs no network and no library, which
 * makes it the embedded default and the driver for tests and local setups.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <herald/plugin.h>

struct maildir {
    const herald_host *host;
    herald_channel *ch;
    char *path;
    char hostname[256];
    int fsync;
    atomic_ulong counter;
};

static const herald_option maildir_options[] = {
    {"path", HERALD_OPT_PATH, HERALD_OPT_REQUIRED, NULL, NULL,
     "the Maildir directory (its tmp/, new/ and cur/ are created when missing)", 0, 0},
    {"fsync", HERALD_OPT_BOOL, 0, "yes", NULL,
     "fsync each file and new/ before reporting success (durable across power loss)", 0, 0},
    {"create", HERALD_OPT_BOOL, 0, "yes", NULL,
     "create the Maildir and its subdirectories when missing", 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

/* mkdir -p: create @path and any missing parents. */
static int make_dir(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

static herald_class prepare_dirs(struct maildir *md, int create,
                                 herald_error **err_r)
{
    static const char *const sub[] = {"", "/tmp", "/new", "/cur"};
    for (size_t i = 0; i < 4; i++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s%s", md->path, sub[i]);
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            continue;
        if (!create)
            return md->host->error(err_r, HERALD_ERR_CONFIG, NULL, NULL, -1,
                                   "%s is not a directory; create the Maildir "
                                   "(mkdir -p %s/{tmp,new,cur}) or set create = yes",
                                   dir, md->path);
        if (make_dir(dir) != 0)
            return md->host->error(err_r, HERALD_ERR_CONFIG, NULL, NULL, -1,
                                   "cannot create %s: %s; check the path and "
                                   "its permissions", dir, strerror(errno));
    }
    return HERALD_OK;
}

/* Maildir's rule: '/' and ':' in the host part are written as octal. */
static void safe_hostname(char *out, size_t size)
{
    char raw[200];
    if (gethostname(raw, sizeof raw) != 0)
        strcpy(raw, "localhost");
    raw[sizeof raw - 1] = '\0';
    size_t o = 0;
    for (const char *p = raw; *p && o + 5 < size; p++) {
        if (*p == '/')
            o += (size_t)snprintf(out + o, size - o, "\\057");
        else if (*p == ':')
            o += (size_t)snprintf(out + o, size - o, "\\072");
        else
            out[o++] = *p;
    }
    out[o] = '\0';
}

static herald_class maildir_init(const herald_host *host, herald_channel *ch,
                                 void **state_r, herald_error **err_r)
{
    struct maildir *md = calloc(1, sizeof *md);
    if (!md)
        return host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                           "out of memory");
    md->host = host;
    md->ch = ch;
    md->fsync = host->opt_bool(ch, "fsync");
    md->path = strdup(host->opt_str(ch, "path"));
    atomic_init(&md->counter, 0);
    safe_hostname(md->hostname, sizeof md->hostname);
    herald_class rc = md->path ? prepare_dirs(md, host->opt_bool(ch, "create"), err_r)
                               : host->error(err_r, HERALD_ERR_INTERNAL, NULL,
                                             NULL, -1, "out of memory");
    if (rc != HERALD_OK) {
        free(md->path);
        free(md);
        return rc;
    }
    *state_r = md;
    return HERALD_OK;
}

static void maildir_teardown(void *state)
{
    struct maildir *md = state;
    if (!md)
        return;
    free(md->path);
    free(md);
}

/* A unique name: time, microseconds, pid, a per-instance counter. */
static void unique_name(struct maildir *md, char *out, size_t size)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    unsigned long n = atomic_fetch_add(&md->counter, 1);
    snprintf(out, size, "%lld.M%06ldP%ldQ%lu.%s", (long long)tv.tv_sec,
             (long)tv.tv_usec, (long)getpid(), n, md->hostname);
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w == 0)
            errno = EIO;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* A full disk or an exhausted quota clears by itself or by an admin: a
 * temporary failure, worth sending again later.  Anything else (no
 * permission, no such directory) needs someone to fix the setup. */
static herald_class store_failure_class(int err)
{
#ifdef EDQUOT
    if (err == EDQUOT)
        return HERALD_ERR_TEMPORARY;
#endif
    return err == ENOSPC ? HERALD_ERR_TEMPORARY : HERALD_ERR_INTERNAL;
}

static herald_class store_failed(struct maildir *md, herald_error **err_r,
                                 const char *what, const char *path, int err)
{
    herald_class cls = store_failure_class(err);
    return md->host->error(err_r, cls, NULL, NULL, -1,
                           "cannot %s %s: %s; the message was not stored (%s)",
                           what, path, strerror(err),
                           cls == HERALD_ERR_TEMPORARY
                               ? "free space on the Maildir's filesystem or "
                                 "raise the quota, then send it again"
                               : "check that the Maildir is writable");
}

/* The file is in new/ but new/ could not be fsync'd: the message is
 * delivered (a mail reader sees it now) and only its survival of a power
 * loss is in doubt.  That is success, with a warning; an error here would
 * invite a resend and a duplicate. */
static herald_class stored_unsynced(struct maildir *md, const char *dst,
                                    const char *newdir, int err)
{
    md->host->log(md->ch, HERALD_LOG_WARNING,
                  "stored %s, but fsync of %s failed: %s; the message is "
                  "delivered (do not send it again) but may not survive a "
                  "power loss; check the filesystem", dst, newdir,
                  strerror(err));
    return HERALD_OK;
}

static herald_class store(struct maildir *md, const char *data, size_t len,
                          char *name, size_t name_size, herald_error **err_r)
{
    char tmp[4096 + 300], dst[4096 + 300], newdir[4096 + 8];
    unique_name(md, name, name_size);
    snprintf(tmp, sizeof tmp, "%s/tmp/%s", md->path, name);
    snprintf(dst, sizeof dst, "%s/new/%s", md->path, name);
    snprintf(newdir, sizeof newdir, "%s/new", md->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return store_failed(md, err_r, "create", tmp, errno);
    int failed = write_all(fd, data, len) != 0 || (md->fsync && fsync(fd) != 0);
    int saved = errno;
    if (close(fd) != 0 && !failed) {
        failed = 1;
        saved = errno;
    }
    if (!failed && rename(tmp, dst) != 0) {
        failed = 1;
        saved = errno;
    }
    if (failed) {
        unlink(tmp);
        return store_failed(md, err_r, "write", dst, saved);
    }
    if (md->fsync && sync_dir(newdir) != 0)
        return stored_unsynced(md, dst, newdir, errno);
    return HERALD_OK;
}

static herald_class maildir_send(void *state, const herald_msg *msg,
                                 herald_result *res, herald_error **err_r)
{
    struct maildir *md = state;
    char *data = NULL;
    size_t len = 0;
    herald_class rc = md->host->render_mime(msg, 0, &data, &len, err_r);
    if (rc != HERALD_OK)
        return rc;
    char name[512];
    rc = store(md, data, len, name, sizeof name, err_r);
    md->host->free(data);
    if (rc == HERALD_OK) {
        md->host->result_set_id(res, name);
        md->host->log(md->ch, HERALD_LOG_DEBUG, "stored %s/new/%s", md->path, name);
    }
    return rc;
}

static herald_class maildir_render(void *state, const herald_msg *msg,
                                   char **payload_r, size_t *len_r,
                                   herald_error **err_r)
{
    struct maildir *md = state;
    return md->host->render_mime(msg, 0, payload_r, len_r, err_r);
}

HERALD_PLUGIN_DEFINE(maildir,
    .version = PACKAGE_VERSION,
    .description = "writes each message as a file into a Maildir (no network)",
    .caps = HERALD_CAP_EMAIL | HERALD_CAP_TEXT | HERALD_CAP_HTML |
            HERALD_CAP_ATTACHMENTS | HERALD_CAP_CC_BCC | HERALD_CAP_REPLY_TO |
            HERALD_CAP_HEADERS | HERALD_CAP_TAGS | HERALD_CAP_METADATA |
            HERALD_CAP_IDEMPOTENCY | HERALD_CAP_UTF8_ADDRESS |
            HERALD_CAP_THREAD_SAFE,
    .options = maildir_options,
    .init = maildir_init,
    .send = maildir_send,
    .teardown = maildir_teardown,
    .render = maildir_render)
