/*
 * cli/mem.c - allocation for the herald command: out of memory ends the
 * command with a message and EX_SOFTWARE (70).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"

void die_oom(void)
{
    fputs("herald: out of memory\n", stderr);
    exit(EX_SOFTWARE);
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die_oom();
    return p;
}

char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        die_oom();
    return d;
}

char *xstrndup(const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (!d)
        die_oom();
    return d;
}

char *xvasprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        die_oom();
    return s;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

char *str_append(char *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *add = xvasprintf(fmt, ap);
    va_end(ap);
    if (!s)
        return add;
    char *r = xasprintf("%s%s", s, add);
    free(s);
    free(add);
    return r;
}
