/* libherald/base/readfile.c - bounded reading of regular files. */
#include "config.h"
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *why(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *why(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

const char *hb_file_kind(unsigned mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return "regular file";
    case S_IFDIR: return "directory";
    case S_IFIFO: return "FIFO";
    case S_IFCHR: return "character device";
    case S_IFBLK: return "block device";
    case S_IFSOCK: return "socket";
    default: return "special file";
    }
}

/* Read from @fd until end of file, keeping at most @limit bytes: reading
 * byte limit + 1 is what shows the input is over the limit. */
static int read_bounded(int fd, size_t limit, char **data_r, size_t *len_r)
{
    size_t cap = 0, len = 0;
    char *buf = NULL;
    for (;;) {
        /* Room for one byte past the limit and the final NUL. */
        if (cap - len < 2) {
            size_t most = limit < (size_t)-1 - 2 ? limit + 2 : (size_t)-1;
            size_t ncap = cap ? cap * 2 : 8192;
            if (ncap < cap || ncap > most)
                ncap = most;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                errno = ENOMEM;
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            free(buf);
            errno = e;
            return -1;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > limit) {
            free(buf);
            errno = EFBIG;
            return -1;
        }
    }
    if (!buf && !(buf = malloc(1))) {
        errno = ENOMEM;
        return -1;
    }
    buf[len] = '\0';
    *data_r = buf;
    if (len_r)
        *len_r = len;
    return 0;
}

int hb_read_file(const char *path, size_t limit, const char *limit_name,
                 int allow_stdin, char **data_r, size_t *len_r, char **why_r)
{
    return hb_read_file_mode(path, limit, limit_name, allow_stdin, data_r,
                             len_r, why_r, NULL);
}

int hb_read_file_mode(const char *path, size_t limit, const char *limit_name,
                      int allow_stdin, char **data_r, size_t *len_r,
                      char **why_r, unsigned *mode_r)
{
    if (mode_r)
        *mode_r = 0;
    *data_r = NULL;
    if (why_r)
        *why_r = NULL;
    int from_stdin = allow_stdin && strcmp(path, "-") == 0;
    const char *label = from_stdin ? "standard input" : path;
    int fd = from_stdin ? STDIN_FILENO
                        : open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (why_r)
            *why_r = why("%s: cannot open: %s", path, strerror(e));
        errno = e;
        return -1;
    }
    struct stat st;
    if (!from_stdin) {
        if (fstat(fd, &st) != 0) {
            int e = errno;
            close(fd);
            if (why_r)
                *why_r = why("%s: cannot stat: %s", path, strerror(e));
            errno = e;
            return -1;
        }
        if (!S_ISREG(st.st_mode)) {
            close(fd);
            if (why_r)
                *why_r = why("%s: is a %s, not a regular file; give the path "
                             "of a regular file", path, hb_file_kind(st.st_mode));
            errno = EINVAL;
            return -1;
        }
        if ((unsigned long long)st.st_size > limit) {
            close(fd);
            if (why_r)
                *why_r = why("%s: is %lld bytes, larger than %s (%zu bytes)",
                             path, (long long)st.st_size, limit_name, limit);
            errno = EFBIG;
            return -1;
        }
        if (mode_r)
            *mode_r = (unsigned)st.st_mode;
        /* Regular files never block; reads below are ordinary. */
        int fl = fcntl(fd, F_GETFL);
        if (fl >= 0)
            (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    }
    int rc = read_bounded(fd, limit, data_r, len_r);
    int e = errno;
    if (!from_stdin)
        close(fd);
    if (rc != 0) {
        if (why_r) {
            if (e == EFBIG)
                *why_r = why("%s: larger than %s (%zu bytes)", label,
                             limit_name, limit);
            else
                *why_r = why("%s: cannot read: %s", label, strerror(e));
        }
        errno = e;
        return -1;
    }
    return 0;
}
