/* libherald/util.c - buffers and small string helpers used across the core. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hbuf_grow(struct hbuf *b, size_t extra)
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
    if (hbuf_grow(b, n) < 0)
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
    } else if (n >= 0 && hbuf_grow(b, (size_t)n) == 0) {
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

void *hx_grow(void *arr, size_t n, size_t size)
{
    if (n && (n < 4 || (n & (n - 1))))
        return arr;
    size_t cap = n ? n * 2 : 4;
    if (cap < n || (size && cap > ((size_t)-1) / size))
        return NULL;
    return realloc(arr, cap * size);
}

char *hx_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

char *hx_strndup(const char *s, size_t n)
{
    return s ? strndup(s, n) : NULL;
}

char *hx_vprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return NULL;
    char *s = malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *hx_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = hx_vprintf(fmt, ap);
    va_end(ap);
    return s;
}

const char *hx_getenv(const char *name)
{
#ifdef HAVE_SECURE_GETENV
    return secure_getenv(name);
#else
    return getenv(name);
#endif
}

unsigned hx_edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return 255;
    unsigned row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (unsigned)j;
    for (size_t i = 1; i <= la; i++) {
        unsigned diag = row[0];
        row[0] = (unsigned)i;
        for (size_t j = 1; j <= lb; j++) {
            unsigned up = row[j];
            unsigned best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb] > 255 ? 255 : row[lb];
}

int hx_has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}
