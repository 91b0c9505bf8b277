/*
 * libherald/base/base.h - the small base library: helpers that the core,
 * the CLI and the driver kits share.  It is a static convenience library
 * compiled into each of them (drivers link nothing of libherald.so), so it
 * holds no state and depends on libc only.  Prefix: hb_.
 */
#ifndef HERALD_BASE_H
#define HERALD_BASE_H

#include <stddef.h>

/* ---- buf.c ------------------------------------------------------------ */

/* A growable byte buffer, always NUL-terminated when data != NULL.  After an
 * allocation failure `oom` is set and further appends do nothing.  A buffer
 * with `count` set stores nothing: appends only add to `len` (to measure
 * what would be written). */
struct hbuf {
    char *data;
    size_t len, cap;
    int oom;
    int count;
};
void hbuf_add(struct hbuf *b, const void *p, size_t n);
/* Room for @extra more bytes (and a NUL) at b->data + b->len, for a
 * writer that fills them itself and then adds to b->len (keeping
 * b->data[b->len] a NUL).  0, or -1 when out of memory (b->oom set).  A
 * counting buffer (b->count) has no data: its writers only add to len. */
int hbuf_reserve(struct hbuf *b, size_t extra);
void hbuf_adds(struct hbuf *b, const char *s);
void hbuf_addc(struct hbuf *b, char c);
void hbuf_printf(struct hbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hand the data to the caller (NULL on oom, also frees); resets @b. */
char *hbuf_steal(struct hbuf *b, size_t *len_r);
void hbuf_free(struct hbuf *b);

/* ---- utf8.c ----------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at @p (at most @avail bytes, avail >= 1),
 * or 0 when it is not valid (overlong, surrogate, > U+10FFFF, truncated). */
size_t hb_utf8_seq_len(const unsigned char *p, size_t avail);
/* 1 when the @n bytes at @s are valid UTF-8 (NUL counts as a valid byte). */
int hb_utf8_valid(const char *s, size_t n);

/* ---- escape.c --------------------------------------------------------- */

/* Append @len bytes of @s to @b with every control character escaped for a
 * terminal: ESC, CR, LF, TAB as \e \r \n \t, other C0 and DEL as \xHH, C1
 * (U+0080..U+009F) as \u00HH, bytes that are not UTF-8 as \xHH; other
 * UTF-8 passes.  HB_ESC_KEEP_TAB / HB_ESC_KEEP_NL let TAB / LF through. */
#define HB_ESC_KEEP_TAB 1u
#define HB_ESC_KEEP_NL 2u
void hb_escape_text(struct hbuf *b, const char *s, size_t len, unsigned flags);
/* Append @s in double quotes with each '"' and '\\' escaped by a
 * backslash: an RFC 5322 quoted-string (a display name) and an RFC 7578 /
 * RFC 2045 multipart parameter value alike.  Other bytes (UTF-8 too) pass
 * as they are; refusing CR, LF and NUL is the caller's. */
void hb_quote_string(struct hbuf *b, const char *s);

/* ---- base64.c ---------------------------------------------------------- */

/* Append the base64 (RFC 4648, with padding) of @n bytes at @p to @b; with
 * @wrap76 in lines of 76 characters, each ending in CRLF (the last one too).
 * A counting buffer gets only the length. */
void hb_base64(struct hbuf *b, const unsigned char *p, size_t n, int wrap76);
/* Append the bytes that the base64 text @s (@n chars; padding optional,
 * line breaks and blanks skipped) stands for to @b.  0, or -1 when @s is
 * not base64 (or on OOM; @b may then hold part of the data). */
int hb_base64_decode(struct hbuf *b, const char *s, size_t n);

/* ---- readfile.c -------------------------------------------------------- */

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

/* ---- json.c ------------------------------------------------------------ */

/* Append the @n bytes at @s to @b escaped for the inside of a JSON string
 * (no quotes added), exactly as jansson's json_dumps() writes them without
 * JSON_ENSURE_ASCII or JSON_ESCAPE_SLASH: '"' and '\\' as \" and \\, the
 * controls \b \f \n \r \t by name, the other bytes below 0x20 (NUL too) as
 * \u00XX with upper-case hex; everything else, UTF-8 and DEL included, as
 * is.  The bytes are not checked: give valid UTF-8 (a json_t string is). */
void hb_json_escape(struct hbuf *b, const char *s, size_t n);

#endif /* HERALD_BASE_H */
