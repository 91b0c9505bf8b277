/* libherald/mime/render.c - RFC 5322 / MIME rendering of a herald_msg:
 * the top-level headers (Date, Message-ID handed back to the caller),
 * text and attachment parts, multipart wrapping and the CRLF self-check.
 * The encoders are in encode.c.  Messages come validated (hm_validate):
 * nothing is checked again here. */
#include "mime.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define MAX_LINE HMIME_MAX_LINE

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
        hmime_mailbox_list(b, "From", msg->from, 1);
    hmime_mailbox_list(b, "To", msg->rcpt[HM_TO], msg->n_rcpt[HM_TO]);
    hmime_mailbox_list(b, "Cc", msg->rcpt[HM_CC], msg->n_rcpt[HM_CC]);
    if (msg->reply_to)
        hmime_mailbox_list(b, "Reply-To", msg->reply_to, 1);
    if (msg->subject)
        hmime_text_header(b, "Subject", msg->subject);
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
                hmime_text_header(b, "X-Herald-Tags", tags.data);
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
            hmime_text_header(b, name, msg->metadata[i].value);
            free(name);
        }
    }
    for (size_t i = 0; i < msg->n_headers; i++)
        hmime_text_header(b, msg->headers[i].key, msg->headers[i].value);
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

static void text_part(struct part *p, const char *text, const char *type)
{
    hbuf_printf(&p->head, "Content-Type: %s; charset=utf-8\r\n", type);
    if (hmime_body_7bit(&p->body, text)) {
        hbuf_adds(&p->head, "Content-Transfer-Encoding: 7bit\r\n");
    } else {
        hbuf_adds(&p->head,
                  "Content-Transfer-Encoding: quoted-printable\r\n");
        hmime_qp_encode(&p->body, text);
    }
    hbuf_add(&p->body, "", 0);
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
    hmime_hw_begin(&w, &p->head, "Content-Type");
    if (ct)
        hmime_hw_tokens(&w, ct, 1);
    else
        p->head.oom = 1;
    free(ct);
    hmime_param(&w, "name", a->filename);
    hmime_hw_end(&w);
    hmime_hw_begin(&w, &p->head, "Content-Disposition");
    hmime_hw_tokens(&w, "attachment;", 1);
    hmime_param(&w, "filename", a->filename);
    hmime_hw_end(&w);
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
    hmime_hw_begin(&w, &out->head, "Content-Type");
    if (ct && bd) {
        hmime_hw_tokens(&w, ct, 1);
        hmime_hw_tokens(&w, bd, 1);
    } else {
        out->head.oom = 1;
    }
    free(ct);
    free(bd);
    hmime_hw_end(&w);
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

/* Self-check: no NUL, CRLF only and no line over 998 octets.  Jumps from
 * LF to LF with memchr (a fraction of an instruction per byte) and checks
 * each line holds no CR but its last byte. */
static int output_ok(const char *s, size_t n)
{
    if (memchr(s, '\0', n))
        return 0;
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return memchr(p, '\r', (size_t)(end - p)) == NULL &&
                   (size_t)(end - p) <= MAX_LINE;
        if (nl == p || nl[-1] != '\r')
            return 0;
        size_t line = (size_t)(nl - 1 - p);
        if (line > MAX_LINE || memchr(p, '\r', line))
            return 0;
        p = nl + 1;
    }
    return 1;
}

/* The whole message, headers then body, into @b (a counting buffer when
 * only measuring). */
static herald_class render(const herald_msg *msg, unsigned flags,
                           struct hbuf *b, char **message_id_r,
                           herald_error **err_r)
{
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
