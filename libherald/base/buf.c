/* libherald/base/buf.c - the one growable byte buffer. */
#include "config.h"
#include "base.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hbuf_reserve(struct hbuf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (b->cap - b->len > extra)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= extra) {
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

void hbuf_add(struct hbuf *b, const void *p, size_t n)
{
    if (b->count) {
        b->len += n;
        return;
    }
    if (hbuf_reserve(b, n) < 0)
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void hbuf_adds(struct hbuf *b, const char *s)
{
    hbuf_add(b, s, strlen(s));
}

void hbuf_addc(struct hbuf *b, char c)
{
    hbuf_add(b, &c, 1);
}

void hbuf_printf(struct hbuf *b, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && b->count) {
        b->len += (size_t)n;
    } else if (n >= 0 && hbuf_reserve(b, (size_t)n) == 0) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
}

char *hbuf_steal(struct hbuf *b, size_t *len_r)
{
    if (b->oom) {
        hbuf_free(b);
        return NULL;
    }
    if (!b->data)
        hbuf_add(b, "", 0);
    char *d = b->data;
    if (len_r)
        *len_r = b->len;
    if (b->oom)
        d = NULL;
    b->data = NULL;
    b->len = b->cap = 0;
    return d;
}

void hbuf_free(struct hbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
