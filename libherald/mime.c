/* libherald/mime.c - RFC 5322 / MIME rendering of a herald_msg: CRLF only,
 * folded headers, RFC 2047 encoded words, RFC 2231 file names, 7bit or
 * quoted-printable bodies, base64 attachments.  No external libraries. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define FOLD_AT 78        /* aim for header lines this long at most */
#define MAX_LINE 998      /* RFC 5322 hard limit, without CRLF */
#define LONG_WORD 900     /* a word this long cannot be folded: encode it */
#define EW_RAW_MAX 45     /* bytes per encoded word: 60 base64 chars, 75 in all */
#define EW_OVERHEAD 12    /* "=?UTF-8?B?" + "?=" */
#define QP_LINE 76

/* ---- random ids and boundaries ----------------------------------------- */

static int random_hex(char *out, size_t nbytes)
{
    unsigned char raw[32];
    size_t got = 0;
    if (nbytes > sizeof raw)
        return -1;
    while (got < nbytes) {
        ssize_t r = getrandom(raw + got, nbytes - got, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = "0123456789abcdef"[raw[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
    return 0;
}

/* ---- header writing with folding ---------------------------------------- */

/* Writes one header field, folding before a space when a line would pass
 * FOLD_AT.  has_text: the current line holds something besides
 * whitespace, so folding here would not leave a blank line. */
struct hw {
    struct hbuf *b;
    size_t line_start;
    int has_text;
};

static size_t hw_col(const struct hw *w)
{
    return w->b->len - w->line_start;
}

static void hw_begin(struct hw *w, struct hbuf *b, const char *name)
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

static void hw_tokens(struct hw *w, const char *s, int sp)
{
    hw_token(w, s, strlen(s), sp);
}

static void hw_end(struct hw *w)
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
        hbuf_addc(&q, '"');
        for (const char *p = name; *p; p++) {
            if (*p == '"' || *p == '\\')
                hbuf_addc(&q, '\\');
            hbuf_addc(&q, *p);
        }
        hbuf_addc(&q, '"');
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
        hw_tokens(w, mb->addr, sp);
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

static void add_mailbox_list(struct hbuf *b, const char *name,
                             const struct hm_mailbox *v, size_t n)
{
    if (!n)
        return;
    struct hw w;
    hw_begin(&w, b, name);
    for (size_t i = 0; i < n; i++) {
        if (i)
            hw_token(&w, ",", 1, 0);
        hw_mailbox(&w, &v[i], 1);
    }
    hw_end(&w);
}

static void add_text_header(struct hbuf *b, const char *name,
                            const char *value)
{
    struct hw w;
    hw_begin(&w, b, name);
    hw_text(&w, value, 1);
    hw_end(&w);
}

/* ---- the top-level headers --------------------------------------------- */

static void add_date(struct hbuf *b)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu",
                                       "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May",
                                         "Jun", "Jul", "Aug", "Sep", "Oct",
                                         "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    long off = 0;
    if (localtime_r(&now, &tm))
        off = tm.tm_gmtoff / 60;
    else
        gmtime_r(&now, &tm);
    char sign = off < 0 ? '-' : '+';
    if (off < 0)
        off = -off;
    hbuf_printf(b, "Date: %s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld\r\n",
                days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
                off / 60, off % 60);
}

/* The right-hand side of Message-ID: the sender's domain when it is plain
 * ASCII, else herald.invalid. */
static const char *id_domain(const herald_msg *msg)
{
    const char *at = msg->from ? strrchr(msg->from->addr, '@') : NULL;
    if (!at || !at[1])
        return "herald.invalid";
    for (const unsigned char *p = (const unsigned char *)at + 1; *p; p++)
        if (*p >= 0x80 || *p <= 32 || *p == '\\')
            return "herald.invalid";
    return at + 1;
}

/* Like random_hex, but only the length matters when measuring. */
static int fresh_hex(char *out, size_t nbytes, int count)
{
    if (!count)
        return random_hex(out, nbytes);
    memset(out, '0', 2 * nbytes);
    out[2 * nbytes] = '\0';
    return 0;
}

static herald_class add_headers(struct hbuf *b, const herald_msg *msg,
                                unsigned flags, char **message_id_r,
                                herald_error **err_r)
{
    char id[33];
    if (fresh_hex(id, 16, b->count) < 0)
        return hx_error(err_r, HERALD_ERR_INTERNAL,
                        "cannot make a Message-ID: getrandom failed: %s",
                        strerror(errno));
    add_date(b);
    if (msg->from)
        add_mailbox_list(b, "From", msg->from, 1);
    add_mailbox_list(b, "To", msg->rcpt[HM_TO], msg->n_rcpt[HM_TO]);
    add_mailbox_list(b, "Cc", msg->rcpt[HM_CC], msg->n_rcpt[HM_CC]);
    if (msg->reply_to)
        add_mailbox_list(b, "Reply-To", msg->reply_to, 1);
    if (msg->subject)
        add_text_header(b, "Subject", msg->subject);
    hbuf_printf(b, "Message-ID: <%s@%s>\r\n", id, id_domain(msg));
    if (message_id_r && !(*message_id_r = hx_printf("%s@%s", id, id_domain(msg))))
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    hbuf_adds(b, "MIME-Version: 1.0\r\n");
    if (!(flags & HERALD_MIME_NO_HERALD_HEADERS)) {
        if (msg->n_tags) {
            struct hbuf tags = {0};
            for (size_t i = 0; i < msg->n_tags; i++)
                hbuf_printf(&tags, "%s%s", i ? ", " : "", msg->tags[i]);
            if (tags.data)
                add_text_header(b, "X-Herald-Tags", tags.data);
            else
                b->oom = 1;
            hbuf_free(&tags);
        }
        for (size_t i = 0; i < msg->n_metadata; i++) {
            char *name = hx_printf("X-Herald-Meta-%s", msg->metadata[i].key);
            if (!name) {
                b->oom = 1;
                break;
            }
            add_text_header(b, name, msg->metadata[i].value);
            free(name);
        }
    }
    for (size_t i = 0; i < msg->n_headers; i++)
        add_text_header(b, msg->headers[i].key, msg->headers[i].value);
    return HERALD_OK;
}

/* ---- bodies -------------------------------------------------------------- */

/* A MIME entity: its Content-* header lines and its (encoded) body. */
struct part {
    struct hbuf head, body;
};

/* An empty part; with @count set it only measures. */
static void part_init(struct part *p, int count)
{
    memset(p, 0, sizeof *p);
    p->head.count = p->body.count = count;
}

static void part_free(struct part *p)
{
    hbuf_free(&p->head);
    hbuf_free(&p->body);
}

/* Bodies are taken line by line: a line ends at CRLF, a bare LF or a bare
 * CR, and each is written with CRLF (a final one too; an empty body stays
 * empty).  Returns the length of the line at *pos and moves *pos past
 * its line break. */
static size_t next_line(const char *s, size_t *pos)
{
    const char *line = s + *pos;
    size_t n = strcspn(line, "\r\n");
    *pos += n;
    if (s[*pos] == '\r' && s[*pos + 1] == '\n')
        *pos += 2;
    else if (s[*pos])
        *pos += 1;
    return n;
}

/* 1 when @s can go as 7bit: ASCII only and every line at most 998
 * octets. */
static int is_7bit(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p >= 0x80)
            return 0;
    for (size_t pos = 0; s[pos];)
        if (next_line(s, &pos) > MAX_LINE)
            return 0;
    return 1;
}

/* @s with CRLF line breaks. */
static void add_crlf_lines(struct hbuf *b, const char *s)
{
    for (size_t pos = 0; s[pos];) {
        size_t start = pos, n = next_line(s, &pos);
        hbuf_add(b, s + start, n);
        hbuf_adds(b, "\r\n");
    }
}

/* RFC 2045 quoted-printable of @s: each line break is a hard CRLF, encoded
 * lines are at most 76 characters with '=' soft breaks. */
static void qp_encode(struct hbuf *b, const char *s)
{
    for (size_t pos = 0; s[pos];) {
        size_t start = pos, end = start + next_line(s, &pos), col = 0;
        for (size_t j = start; j < end; j++) {
            unsigned char c = (unsigned char)s[j];
            int last = j + 1 == end;
            char tok[3];
            size_t tl = 1;
            if ((c >= 33 && c <= 126 && c != '=') ||
                ((c == ' ' || c == '\t') && !last)) {
                tok[0] = (char)c;
            } else {
                tok[0] = '=';
                tok[1] = "0123456789ABCDEF"[c >> 4];
                tok[2] = "0123456789ABCDEF"[c & 15];
                tl = 3;
            }
            if (col + tl > (last ? QP_LINE : QP_LINE - 1)) {
                hbuf_adds(b, "=\r\n");
                col = 0;
            }
            hbuf_add(b, tok, tl);
            col += tl;
        }
        hbuf_adds(b, "\r\n");
    }
}

static void text_part(struct part *p, const char *text, const char *type)
{
    hbuf_printf(&p->head, "Content-Type: %s; charset=utf-8\r\n", type);
    if (is_7bit(text)) {
        hbuf_adds(&p->head, "Content-Transfer-Encoding: 7bit\r\n");
        add_crlf_lines(&p->body, text);
    } else {
        hbuf_adds(&p->head,
                  "Content-Transfer-Encoding: quoted-printable\r\n");
        qp_encode(&p->body, text);
    }
    hbuf_add(&p->body, "", 0);
}

/* RFC 2231 attribute-char. */
static int is_attr_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (c && strchr("!#$&+-.^_`|~", c));
}

/* A parameter: attr="value", or attr*=utf-8''pct-encoded when the value
 * is not plain printable ASCII without quotes and backslashes. */
static void add_param(struct hw *w, const char *attr, const char *value)
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

/* message/ and multipart/ entities may not be base64-encoded (RFC 2046);
 * such attachments go as application/octet-stream. */
static const char *attachment_type(const char *type)
{
    if (strncasecmp(type, "message/", 8) == 0 ||
        strncasecmp(type, "multipart/", 10) == 0)
        return "application/octet-stream";
    return type;
}

static void attachment_part(struct part *p, const struct hm_attachment *a)
{
    struct hw w;
    char *ct = hx_printf("%s;", attachment_type(a->type));
    hw_begin(&w, &p->head, "Content-Type");
    if (ct)
        hw_tokens(&w, ct, 1);
    else
        p->head.oom = 1;
    free(ct);
    add_param(&w, "name", a->filename);
    hw_end(&w);
    hw_begin(&w, &p->head, "Content-Disposition");
    hw_tokens(&w, "attachment;", 1);
    add_param(&w, "filename", a->filename);
    hw_end(&w);
    hbuf_adds(&p->head, "Content-Transfer-Encoding: base64\r\n");
    hb_base64(&p->body, a->data, a->len, 1);
    hbuf_add(&p->body, "", 0);
}

static int part_contains(const struct part *p, const char *s)
{
    size_t n = strlen(s);
    return (p->head.data && memmem(p->head.data, p->head.len, s, n)) ||
           (p->body.data && memmem(p->body.data, p->body.len, s, n));
}

/* Wrap @n parts into a multipart/@sub entity with a fresh boundary that
 * occurs in none of them.  The parts are freed. */
static herald_class multipart(struct part *out, const char *sub,
                              struct part *parts, size_t n,
                              herald_error **err_r)
{
    char boundary[64], hex[33];
    int found = 0;
    for (int tries = 0; tries < 8 && !found; tries++) {
        if (fresh_hex(hex, 16, out->body.count) < 0)
            break;
        snprintf(boundary, sizeof boundary, "=_herald_%s", hex);
        found = 1;
        for (size_t i = 0; i < n; i++)
            if (part_contains(&parts[i], boundary))
                found = 0;
    }
    if (!found) {
        for (size_t i = 0; i < n; i++)
            part_free(&parts[i]);
        return hx_error(err_r, HERALD_ERR_INTERNAL,
                        "cannot make a MIME boundary: getrandom failed: %s",
                        strerror(errno));
    }
    struct hw w;
    char *ct = hx_printf("multipart/%s;", sub);
    char *bd = hx_printf("boundary=\"%s\"", boundary);
    hw_begin(&w, &out->head, "Content-Type");
    if (ct && bd) {
        hw_tokens(&w, ct, 1);
        hw_tokens(&w, bd, 1);
    } else {
        out->head.oom = 1;
    }
    free(ct);
    free(bd);
    hw_end(&w);
    for (size_t i = 0; i < n; i++) {
        hbuf_printf(&out->body, "%s--%s\r\n", i ? "\r\n" : "", boundary);
        hbuf_add(&out->body, parts[i].head.data, parts[i].head.len);
        hbuf_adds(&out->body, "\r\n");
        hbuf_add(&out->body, parts[i].body.data, parts[i].body.len);
        if (parts[i].head.oom || parts[i].body.oom)
            out->body.oom = 1;
        part_free(&parts[i]);
    }
    hbuf_printf(&out->body, "\r\n--%s--\r\n", boundary);
    return HERALD_OK;
}

/* The body entity: text, HTML, or multipart/alternative of both. */
static herald_class body_part(const herald_msg *msg, struct part *out,
                              herald_error **err_r)
{
    if (msg->text && msg->html) {
        struct part alt[2];
        part_init(&alt[0], out->body.count);
        part_init(&alt[1], out->body.count);
        text_part(&alt[0], msg->text, "text/plain");
        text_part(&alt[1], msg->html, "text/html");
        return multipart(out, "alternative", alt, 2, err_r);
    }
    if (msg->html)
        text_part(out, msg->html, "text/html");
    else
        text_part(out, msg->text ? msg->text : "", "text/plain");
    return HERALD_OK;
}

/* The whole entity under the top-level headers. */
static herald_class root_part(const herald_msg *msg, struct part *out,
                              herald_error **err_r)
{
    if (!msg->n_att)
        return body_part(msg, out, err_r);
    int has_body = msg->text || msg->html;
    size_t n = msg->n_att + (has_body ? 1 : 0);
    struct part *parts = calloc(n, sizeof *parts);
    if (!parts)
        return hx_error(err_r, HERALD_ERR_INTERNAL,
                        "out of memory rendering the message");
    for (size_t i = 0; i < n; i++)
        part_init(&parts[i], out->body.count);
    herald_class rc = HERALD_OK;
    if (has_body)
        rc = body_part(msg, &parts[0], err_r);
    if (rc != HERALD_OK) {
        free(parts);
        return rc;
    }
    for (size_t i = 0; i < msg->n_att; i++)
        attachment_part(&parts[i + (has_body ? 1 : 0)], &msg->att[i]);
    rc = multipart(out, "mixed", parts, n, err_r);
    free(parts);
    return rc;
}

/* Self-check: CRLF only and no line over 998 octets. */
static int output_ok(const char *s, size_t n)
{
    size_t line = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            if (i + 1 >= n || s[i + 1] != '\n')
                return 0;
            i++;
            line = 0;
        } else if (s[i] == '\n' || s[i] == '\0' || ++line > MAX_LINE) {
            return 0;
        }
    }
    return 1;
}

/* The whole message, headers then body, into @b (a counting buffer when
 * only measuring). */
static herald_class render(const herald_msg *msg, unsigned flags,
                           struct hbuf *b, char **message_id_r,
                           herald_error **err_r)
{
    if (msg->bad_what)
        return hx_error(err_r, msg->bad_cls, "invalid message: %s",
                        msg->bad_what);
    struct part root;
    part_init(&root, b->count);
    herald_class rc = add_headers(b, msg, flags, message_id_r, err_r);
    if (rc == HERALD_OK)
        rc = root_part(msg, &root, err_r);
    if (rc == HERALD_OK) {
        hbuf_add(b, root.head.data, root.head.len);
        hbuf_adds(b, "\r\n");
        hbuf_add(b, root.body.data, root.body.len);
        if (root.head.oom || root.body.oom)
            b->oom = 1;
    }
    part_free(&root);
    return rc;
}

/* The whole message; see herald_host.render_mime. */
herald_class hmime_render(const herald_msg *msg, unsigned flags,
                          char **out_r, size_t *len_r, herald_error **err_r)
{
    return hmime_render_id(msg, flags, out_r, len_r, NULL, err_r);
}

/* The whole message and the Message-ID it carries (without <>); see
 * herald_host.render_mime_id. */
herald_class hmime_render_id(const herald_msg *msg, unsigned flags,
                             char **out_r, size_t *len_r, char **message_id_r,
                             herald_error **err_r)
{
    if (message_id_r)
        *message_id_r = NULL;
    if (out_r)
        *out_r = NULL;
    if (len_r)
        *len_r = 0;
    if (!msg || !out_r)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "hmime_render: no message or no output pointer");
    struct hbuf b = {0};
    char *id = NULL;
    herald_class rc = render(msg, flags, &b, message_id_r ? &id : NULL, err_r);
    if (rc != HERALD_OK) {
        hbuf_free(&b);
        free(id);
        return rc;
    }
    size_t len = 0;
    char *out = hbuf_steal(&b, &len);
    if (!out) {
        free(id);
        return hx_error(err_r, HERALD_ERR_INTERNAL,
                        "out of memory rendering the message");
    }
    if (!output_ok(out, len)) {
        free(out);
        free(id);
        return hx_error(err_r, HERALD_ERR_INTERNAL,
                        "bug: the rendered message has a bare CR or LF or a "
                        "line over 998 octets; please report it");
    }
    *out_r = out;
    if (len_r)
        *len_r = len;
    if (message_id_r)
        *message_id_r = id;
    return HERALD_OK;
}

/* The length hmime_render would give; see internal.h. */
herald_class hmime_size(const herald_msg *msg, unsigned flags, size_t *size_r,
                        herald_error **err_r)
{
    *size_r = 0;
    if (!msg)
        return hx_error(err_r, HERALD_ERR_USAGE, "hmime_size: no message");
    struct hbuf b = {0};
    b.count = 1;
    herald_class rc = render(msg, flags, &b, NULL, err_r);
    if (rc == HERALD_OK && b.oom)
        rc = hx_error(err_r, HERALD_ERR_INTERNAL,
                      "out of memory measuring the message");
    if (rc == HERALD_OK)
        *size_r = b.len;
    return rc;
}
