/* libherald/mime/encode.c - the encoders the MIME renderer writes with:
 * header fields folded at spaces, RFC 2047 encoded words, display names,
 * RFC 2231 parameters, and bodies as 7bit or quoted-printable with CRLF
 * line breaks.  No external libraries. */
#include "mime.h"

#include <stdint.h>
#include <string.h>

#define FOLD_AT 78        /* aim for header lines this long at most */
#define MAX_LINE HMIME_MAX_LINE
#define LONG_WORD 900     /* a word this long cannot be folded: encode it */
#define EW_RAW_MAX 45     /* bytes per encoded word: 60 base64 chars, 75 in all */
#define EW_OVERHEAD 12    /* "=?UTF-8?B?" + "?=" */
#define QP_LINE 76

/* ---- header writing with folding ---------------------------------------- */

static size_t hw_col(const struct hw *w)
{
    return w->b->len - w->line_start;
}

void hmime_hw_begin(struct hw *w, struct hbuf *b, const char *name)
{
    w->b = b;
    w->line_start = b->len;
    w->has_text = 0;
    hbuf_adds(b, name);
    hbuf_addc(b, ':');
}

/* Append @n bytes of @s, after one space when @sp (a place to fold). */
static void hw_token(struct hw *w, const char *s, size_t n, int sp)
{
    if (sp) {
        if (w->has_text && hw_col(w) + 1 + n > FOLD_AT) {
            hbuf_adds(w->b, "\r\n");
            w->line_start = w->b->len;
            w->has_text = 0;
        }
        hbuf_addc(w->b, ' ');
    }
    hbuf_add(w->b, s, n);
    if (n)
        w->has_text = 1;
}

void hmime_hw_tokens(struct hw *w, const char *s, int sp)
{
    hw_token(w, s, strlen(s), sp);
}

void hmime_hw_end(struct hw *w)
{
    hbuf_adds(w->b, "\r\n");
}

/* 1 when @s cannot go into a header as it is: non-ASCII, control
 * characters, something that looks like an encoded word, or a run of
 * spaces plus the word after it too long to fold.  (Folding never leaves
 * a line of only spaces, so such a run and its word can end up on one
 * line; encoded words fold anywhere.) */
static int text_needs_encoding(const char *s)
{
    size_t run = 0;   /* spaces, then the word after them */
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= 0x80 || *p == 0x7F || (*p < 0x20 && *p != '\t'))
            return 1;
        if (p[0] == '=' && p[1] == '?')
            return 1;
        if (*p == ' ' && p != (const unsigned char *)s && p[-1] != ' ')
            run = 0;
        if (++run > LONG_WORD)
            return 1;
    }
    return 0;
}

/* Bytes of @s (length @n) to put in the next encoded word, at most @max,
 * ending on a UTF-8 character boundary, and at least one character. */
static size_t ew_chunk(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    size_t end = max;
    while (end > 0 && ((unsigned char)s[end] & 0xC0) == 0x80)
        end--;
    if (end == 0) {
        end = 1;
        while (end < n && ((unsigned char)s[end] & 0xC0) == 0x80)
            end++;
    }
    return end;
}

/* @n bytes of @s as RFC 2047 B encoded words of at most 75 characters,
 * each a place to fold.  The first goes after a space when @sp; with
 * @fill it is cut to what is left of the current line. */
static void hw_encoded_words(struct hw *w, const char *s, size_t n, int sp,
                             int fill)
{
    int first = 1;
    do {
        size_t max = EW_RAW_MAX;
        if (first && fill) {
            size_t col = hw_col(w) + (sp ? 1 : 0) + EW_OVERHEAD;
            size_t room = col < FOLD_AT ? (FOLD_AT - col) / 4 * 3 : 0;
            if (room < max)
                max = room;
        }
        size_t take = ew_chunk(s, n, max);
        struct hbuf word = {0};
        hbuf_adds(&word, "=?UTF-8?B?");
        hb_base64(&word, (const unsigned char *)s, take, 0);
        hbuf_adds(&word, "?=");
        if (word.data)
            hw_token(w, word.data, word.len, first ? sp : 1);
        else
            w->b->oom = 1;
        hbuf_free(&word);
        s += take;
        n -= take;
        first = 0;
    } while (n > 0);
}

/* Unstructured text: as it is, folded at spaces, or as encoded words. */
static void hw_text(struct hw *w, const char *s, int sp)
{
    if (text_needs_encoding(s)) {
        hw_encoded_words(w, s, strlen(s), sp, 1);
        return;
    }
    for (;;) {
        const char *space = strchr(s, ' ');
        size_t n = space ? (size_t)(space - s) : strlen(s);
        hw_token(w, s, n, sp);
        sp = 1;
        if (!space)
            break;
        s = space + 1;
    }
}

/* @s as it is when it can go into a header unchanged, else as encoded
 * words folded onto continuation lines (CRLF SP) after the current line. */
void hmime_encode_phrase(struct hbuf *b, const char *s)
{
    struct hw w = {b, b->len, 0};
    while (w.line_start > 0 && b->data[w.line_start - 1] != '\n')
        w.line_start--;
    w.has_text = b->len > w.line_start;
    if (text_needs_encoding(s))
        hw_encoded_words(&w, s, strlen(s), 0, 1);
    else
        hbuf_adds(b, s);
}

static int is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* 1 when the space-delimited word [s, s+n) can be a plain atom. */
static int is_atom(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_atext((unsigned char)s[i]) ||
            (s[i] == '=' && i + 1 < n && s[i + 1] == '?'))
            return 0;
    return n > 0 && n <= LONG_WORD;
}

/* A display name that needs encoding: words that are plain atoms stay as
 * they are; each run of other words becomes encoded words holding the
 * spaces inside the run (whitespace between encoded words is dropped by
 * decoders).  A run of at most 45 bytes is a single encoded word. */
static void hw_phrase_encoded(struct hw *w, const char *name, int sp)
{
    const char *p = name;
    while (*p) {
        const char *end = p + strcspn(p, " ");
        if (is_atom(p, (size_t)(end - p))) {
            hw_token(w, p, (size_t)(end - p), sp);
        } else {
            /* extend the run over following words that are not atoms */
            for (;;) {
                const char *next = end;
                while (*next == ' ')
                    next++;
                const char *nend = next + strcspn(next, " ");
                if (!*next || is_atom(next, (size_t)(nend - next)))
                    break;
                end = nend;
            }
            hw_encoded_words(w, p, (size_t)(end - p), sp, 0);
        }
        sp = 1;
        p = end;
        while (*p == ' ')
            p++;
    }
}

/* A display name: atoms, a quoted string, or encoded words. */
static void hw_phrase(struct hw *w, const char *name, int sp)
{
    size_t quoted = 2;
    int plain = 1;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        quoted += (*p == '"' || *p == '\\') ? 2 : 1;
        if (!is_atext(*p) && *p != ' ')
            plain = 0;
    }
    if (text_needs_encoding(name) || strchr(name, '\t') ||
        quoted > LONG_WORD) {
        hw_phrase_encoded(w, name, sp);
    } else if (plain) {
        hw_text(w, name, sp);
    } else {
        struct hbuf q = {0};
        hb_quote_string(&q, name);
        if (q.data)
            hw_token(w, q.data, q.len, sp);
        else
            w->b->oom = 1;
        hbuf_free(&q);
    }
}

static void hw_mailbox(struct hw *w, const struct hm_mailbox *mb, int sp)
{
    if (!mb->name) {
        hmime_hw_tokens(w, mb->addr, sp);
        return;
    }
    hw_phrase(w, mb->name, sp);
    struct hbuf a = {0};
    hbuf_printf(&a, "<%s>", mb->addr);
    if (a.data)
        hw_token(w, a.data, a.len, 1);
    else
        w->b->oom = 1;
    hbuf_free(&a);
}

void hmime_mailbox_list(struct hbuf *b, const char *name,
                             const struct hm_mailbox *v, size_t n)
{
    if (!n)
        return;
    struct hw w;
    hmime_hw_begin(&w, b, name);
    for (size_t i = 0; i < n; i++) {
        if (i)
            hw_token(&w, ",", 1, 0);
        hw_mailbox(&w, &v[i], 1);
    }
    hmime_hw_end(&w);
}

void hmime_text_header(struct hbuf *b, const char *name,
                            const char *value)
{
    struct hw w;
    hmime_hw_begin(&w, b, name);
    hw_text(&w, value, 1);
    hmime_hw_end(&w);
}

/* Bodies are taken line by line: a line ends at CRLF, a bare LF or a bare
 * CR, and each is written with CRLF (a final one too; an empty body stays
 * empty).  Returns the length of the line at *pos and moves *pos past
 * its line break.  @has_cr: the body holds a CR somewhere; without one a
 * line ends only at LF, found with memchr (the common case, several times
 * faster than a scan for either byte). */
static size_t next_line(const char *s, size_t len, size_t *pos, int has_cr)
{
    const char *line = s + *pos;
    size_t n;
    if (!has_cr) {
        const char *nl = memchr(line, '\n', len - *pos);
        n = nl ? (size_t)(nl - line) : len - *pos;
        *pos += n + (nl ? 1 : 0);
        return n;
    }
    n = strcspn(line, "\r\n");
    *pos += n;
    if (s[*pos] == '\r' && s[*pos + 1] == '\n')
        *pos += 2;
    else if (s[*pos])
        *pos += 1;
    return n;
}

/* 1 when none of the @n bytes of @s has the high bit set (eight bytes at
 * a time; the compiler vectorises the OR). */
static int all_ascii(const char *s, size_t n)
{
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < n; i++)
        acc |= (unsigned char)s[i];
    return (acc & 0x8080808080808080ull) == 0;
}

/* Append @n bytes of @s and CRLF. */
static void add_crlf_line(struct hbuf *b, const char *s, size_t n)
{
    if (b->count) {
        b->len += n + 2;
        return;
    }
    if (hbuf_reserve(b, n + 2) < 0)
        return;
    char *d = b->data + b->len;
    memcpy(d, s, n);
    d[n] = '\r';
    d[n + 1] = '\n';
    d[n + 2] = '\0';
    b->len += n + 2;
}

/* @s as a 7bit body with CRLF line breaks, in one pass: 1, or 0 (and @b
 * as it was) when @s cannot go as 7bit: a byte over 127 or a line over
 * 998 octets.  About 1.5 instructions per byte for an ASCII body of
 * 72-character lines (bench/mime). */
int hmime_body_7bit(struct hbuf *b, const char *s)
{
    size_t len = strlen(s);
    if (!all_ascii(s, len))
        return 0;
    int has_cr = memchr(s, '\r', len) != NULL;
    size_t mark = b->len;
    /* Room for the body with CRLFs for lines of 32 bytes or more, so the
     * buffer is not regrown (and copied) as it fills. */
    if (!b->count && hbuf_reserve(b, len + len / 32 + 2) < 0)
        return 1;
    for (size_t pos = 0; pos < len;) {
        size_t start = pos, n = next_line(s, len, &pos, has_cr);
        if (n > MAX_LINE) {
            b->len = mark;
            if (b->data)
                b->data[mark] = '\0';
            return 0;
        }
        add_crlf_line(b, s + start, n);
    }
    return 1;
}

/* RFC 2045 quoted-printable of @s: each line break is a hard CRLF, encoded
 * lines are at most 76 characters with '=' soft breaks.  Encoded bytes are
 * gathered in a local block and appended a block at a time. */
void hmime_qp_encode(struct hbuf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char out[4096];
    size_t o = 0, len = strlen(s);
    int has_cr = memchr(s, '\r', len) != NULL;
    for (size_t pos = 0; pos < len;) {
        size_t start = pos, end = start + next_line(s, len, &pos, has_cr), col = 0;
        for (size_t j = start; j < end; j++) {
            unsigned char c = (unsigned char)s[j];
            int last = j + 1 == end;
            int plain = (c >= 33 && c <= 126 && c != '=') ||
                        ((c == ' ' || c == '\t') && !last);
            size_t tl = plain ? 1 : 3;
            if (col + tl > (last ? QP_LINE : QP_LINE - 1)) {
                out[o++] = '=';
                out[o++] = '\r';
                out[o++] = '\n';
                col = 0;
            }
            if (plain) {
                out[o++] = (char)c;
            } else {
                out[o++] = '=';
                out[o++] = hex[c >> 4];
                out[o++] = hex[c & 15];
            }
            col += tl;
            if (o > sizeof out - 16) {
                hbuf_add(b, out, o);
                o = 0;
            }
        }
        out[o++] = '\r';
        out[o++] = '\n';
        if (o > sizeof out - 16) {
            hbuf_add(b, out, o);
            o = 0;
        }
    }
    hbuf_add(b, out, o);
}

/* RFC 2231 attribute-char. */
static int is_attr_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$&+-.^_`|~", c));
}

/* A parameter: attr="value", or attr*=utf-8''pct-encoded when the value
 * is not plain printable ASCII without quotes and backslashes. */
void hmime_param(struct hw *w, const char *attr, const char *value)
{
    int ext = 0;
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p >= 0x7F || *p < 0x20 || *p == '"' || *p == '\\')
            ext = 1;
    struct hbuf t = {0};
    if (ext) {
        hbuf_printf(&t, "%s*=utf-8''", attr);
        for (const unsigned char *p = (const unsigned char *)value; *p; p++)
            if (is_attr_char(*p))
                hbuf_addc(&t, (char)*p);
            else
                hbuf_printf(&t, "%%%02X", *p);
    } else {
        hbuf_printf(&t, "%s=\"%s\"", attr, value);
    }
    if (t.data)
        hw_token(w, t.data, t.len, 1);
    else
        w->b->oom = 1;
    hbuf_free(&t);
}
