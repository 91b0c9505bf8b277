/*
 * libherald/base/base.h - the small base library: helpers that the core,
 * the CLI and the driver kits share.  It is a static convenience library
 * compiled into each of them (drivers link nothing of libherald.so), so it
 * holds no state and depends on libc only.  Prefix: hb_.
 */
#ifndef HERALD_BASE_H
#define HERALD_BASE_H

#include <stddef.h>

/* Limits herald applies to files it reads (see herald.conf(5)). */
#define HB_SECRET_LIMIT (64u * 1024u)          /* a secret from X_file */
#define HB_CONFIG_LIMIT (4u * 1024u * 1024u)   /* a config file */

/*
 * hb_read_file - read the regular file at @path, at most @limit bytes.
 *
 * The file is opened with O_NONBLOCK and checked with fstat before any read,
 * so a FIFO, a device (/dev/zero), a directory or a socket is refused at once
 * and never blocks; symlinks are followed to what they name.  When
 * @allow_stdin is set, "-" reads standard input, bounded the same way.
 * @limit_name names the limit in the message, e.g. "max_message_size".
 *
 * Returns 0 with *data_r (malloc'd, NUL-terminated; the caller frees it) and
 * *len_r (may be NULL).  Returns -1 with *why_r set to a malloc'd sentence
 * that names the path and says what is wrong and what to do, e.g.
 * "/dev/zero: is a character device, not a regular file; give the path of a
 * regular file", or "big.bin: larger than max_message_size (26214400
 * bytes)"; *why_r may be NULL after an allocation failure.  errno is set
 * (ENOENT, EINVAL for a non-regular file, EFBIG for a file over the limit).
 */
int hb_read_file(const char *path, size_t limit, const char *limit_name,
                 int allow_stdin, char **data_r, size_t *len_r, char **why_r);

/* hb_read_file, and *mode_r (may be NULL) gets the file's st_mode (0 for
 * standard input), e.g. to warn about a secret others may read. */
int hb_read_file_mode(const char *path, size_t limit, const char *limit_name,
                      int allow_stdin, char **data_r, size_t *len_r,
                      char **why_r, unsigned *mode_r);

/* "FIFO", "character device", ... for an st_mode; "special file" else. */
const char *hb_file_kind(unsigned mode);

#endif /* HERALD_BASE_H */
