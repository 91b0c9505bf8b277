/*
 * plugins/smtp/util.c - small helpers of the smtp driver: a growable
 * buffer, the recorded error, the clock, base64 and dot-stuffing.
 */
#include "smtp.h"
#include "net_diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- buffer ------------------------------------------------------------ */

static int sbuf_grow(struct sbuf *b, size_t n)
{
    if (b->oom)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) {
        if (cap > ((size_t)-1) / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

void sbuf_add(struct sbuf *b, const void *p, size_t n)
{
    if (sbuf_grow(b, n) != 0)
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void sbuf_adds(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || sbuf_grow(b, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void sbuf_free(struct sbuf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- errors ------------------------------------------------------------ */

herald_class smtp_fail(struct smtp *s, herald_class cls,
                       const struct smtp_reply *r, const char *fmt, ...)
{
    if (s->err.cls != HERALD_OK)
        return cls;
    s->err.cls = cls;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s->err.msg, fmt, ap) < 0)
        s->err.msg = NULL;
    va_end(ap);
    if (r && r->code > 0) {
        snprintf(s->err.code, sizeof s->err.code, "%d", r->code);
        s->err.text = smtp_reply_flat(r);
    }
    return cls;
}

void smtp_err_clear(struct smtp *s)
{
    free(s->err.msg);
    free(s->err.text);
    memset(&s->err, 0, sizeof s->err);
}

herald_class smtp_err_report(struct smtp *s, herald_class rc,
                             herald_error **err_r)
{
    if (rc == HERALD_OK) {
        smtp_err_clear(s);
        return rc;
    }
    herald_class cls = s->err.cls != HERALD_OK ? s->err.cls : rc;
    s->host->error(err_r, cls, s->err.code[0] ? s->err.code : NULL,
                   s->err.text, -1, "%s",
                   s->err.msg ? s->err.msg : "the smtp driver failed (out of memory)");
    smtp_err_clear(s);
    return cls;
}

/* ---- misc -------------------------------------------------------------- */

long long smtp_now_ms(void)
{
    return (long long)hn_now_ms();
}

const char *smtp_secs(long ms, char buf[32])
{
    snprintf(buf, 32, "%g", (double)ms / 1000.0);
    return buf;
}

char *smtp_reply_flat(const struct smtp_reply *r)
{
    const char *t = r->text.data ? r->text.data : "";
    char *s = strdup(t);
    for (char *p = s; p && *p; p++)
        if (*p == '\n')
            *p = ' ';
    return s;
}

char *smtp_b64_encode(const void *p, size_t n)
{
    gnutls_datum_t in = {(unsigned char *)p, (unsigned)n}, out = {NULL, 0};
    if (gnutls_base64_encode2(&in, &out) < 0)
        return NULL;
    char *s = malloc(out.size + 1);
    if (s) {
        memcpy(s, out.data, out.size);
        s[out.size] = '\0';
    }
    gnutls_free(out.data);
    return s;
}

unsigned char *smtp_b64_decode(const char *s, size_t *len_r)
{
    gnutls_datum_t in = {(unsigned char *)s, (unsigned)strlen(s)}, out = {NULL, 0};
    if (in.size == 0) {
        *len_r = 0;
        return (unsigned char *)calloc(1, 1);
    }
    if (gnutls_base64_decode2(&in, &out) < 0)
        return NULL;
    unsigned char *d = malloc(out.size + 1);
    if (d) {
        memcpy(d, out.data, out.size);
        d[out.size] = '\0';
        *len_r = out.size;
    }
    gnutls_free(out.data);
    return d;
}

/* ---- dot-stuffing ------------------------------------------------------ */

size_t smtp_dot_stuff(const char *in, size_t n, struct sbuf *out, int *eight_r)
{
    size_t longest = 0, i = 0;
    int eight = 0;
    if (sbuf_grow(out, n + n / 64 + 8) != 0)
        return (size_t)-1;
    while (i < n) {
        size_t start = i;
        while (i < n && in[i] != '\r' && in[i] != '\n') {
            eight |= (unsigned char)in[i] >= 0x80;
            i++;
        }
        size_t len = i - start;
        if (len > 0 && in[start] == '.')
            sbuf_add(out, ".", 1);
        sbuf_add(out, in + start, len);
        sbuf_add(out, "\r\n", 2);
        if (len > longest)
            longest = len;
        /* one line break: CRLF, or a bare CR or LF (normalised to CRLF) */
        if (i < n && in[i] == '\r') {
            if (++i < n && in[i] == '\n')
                i++;
        } else if (i < n) {
            i++;
        }
    }
    sbuf_add(out, ".\r\n", 3);
    *eight_r = eight;
    return out->oom ? (size_t)-1 : longest;
}
