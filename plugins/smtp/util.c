/*
 * plugins/smtp/util.c - small helpers of the smtp driver: the recorded
 * error, the clock and dot-stuffing.  (The buffer and base64 are the base
 * library's: struct hbuf, hb_base64, hb_base64_decode.)
 */
#include "smtp.h"
#include "net_diag.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- errors ------------------------------------------------------------ */

herald_class smtp_fail(struct smtp *s, herald_class cls,
                       const struct smtp_reply *r, const char *fmt, ...)
{
    if (s->err.cls != HERALD_OK) {
        s->err.just_set = 0;
        return cls;
    }
    s->err.cls = cls;
    s->err.just_set = 1;
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

herald_class smtp_fix(struct smtp *s, herald_class cls, const char *fmt, ...)
{
    if (!s->err.just_set || s->err.fix)
        return cls;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s->err.fix, fmt, ap) < 0)
        s->err.fix = NULL;
    va_end(ap);
    return cls;
}

void smtp_err_clear(struct smtp *s)
{
    free(s->err.msg);
    free(s->err.fix);
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
    if (s->err.fix && err_r && *err_r && s->host->abi_minor >= 1 &&
        s->host->error_fix)
        s->host->error_fix(*err_r, "%s", s->err.fix);
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

unsigned char *smtp_b64_decode(const char *s, size_t *len_r)
{
    struct hbuf b = {0};
    if (hb_base64_decode(&b, s, strlen(s)) != 0) {
        hbuf_free(&b);
        return NULL;
    }
    return (unsigned char *)hbuf_steal(&b, len_r);
}

/* ---- dot-stuffing ------------------------------------------------------ */

size_t smtp_dot_stuff(const char *in, size_t n, size_t from, struct hbuf *out,
                      size_t max, size_t *longest_r, int *eight_r)
{
    size_t i = from, longest = longest_r ? *longest_r : 0;
    int eight = 0;
    while (i < n && out->len < max && !out->oom) {
        size_t start = i;
        while (i < n && in[i] != '\r' && in[i] != '\n') {
            eight |= (unsigned char)in[i] >= 0x80;
            i++;
        }
        size_t len = i - start;
        if (len > 0 && in[start] == '.')
            hbuf_add(out, ".", 1);
        hbuf_add(out, in + start, len);
        hbuf_add(out, "\r\n", 2);
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
    if (longest_r)
        *longest_r = longest;
    if (eight_r)
        *eight_r |= eight;
    return i;
}
