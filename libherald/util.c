/* libherald/util.c - buffers and small string helpers used across the core. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
