/*
 * cli/output.c - how the herald command writes: text and JSON output with
 * every control character of outside text escaped, failures as "herald:
 * WHAT" plus "  fix: HOW" (and a JSON error object with --json), exit
 * statuses from libherald (herald_sysexit), and flushing standard output.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "base/base.h"

/* ------------------------------------------------------------------ */
/* Escaping (JSON by hand: the CLI links nothing but libherald)        */
/* ------------------------------------------------------------------ */

/* The code point of the valid @n-byte UTF-8 sequence at @p when it is a C1
 * control (U+0080..U+009F, which terminals act on like ESC), else 0. */
static unsigned c1_control(const unsigned char *p, size_t n)
{
    return n == 2 && p[0] == 0xc2 && p[1] <= 0x9f ? p[1] : 0;
}

/* How put_escaped() writes a control character. */
enum esc_style {
    ESC_JSON,       /* \u00HH, quotes and backslash escaped, U+FFFD for
                       bytes that are not UTF-8 */
    ESC_TEXT,       /* \e \r \n \t \xHH, C1 as \u00HH, \xHH for bytes
                       that are not UTF-8 */
    ESC_TEXT_NL     /* ESC_TEXT, but a newline stays */
};

/* Write @len bytes of @s with every control character (C0, DEL, C1)
 * escaped as @style says; other valid UTF-8 passes.  Text that came from
 * outside (a provider's answer, a message id) cannot then move the cursor,
 * retitle the terminal or forge a line. */
static void put_escaped(FILE *f, const char *s, size_t len,
                        enum esc_style style)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        size_t n = hb_utf8_seq_len(p, (size_t)(end - p));
        unsigned c1 = n ? c1_control(p, n) : 0;
        if (n == 0 && style == ESC_JSON) {
            fputs("\\ufffd", f);
            p++;
        } else if (n == 0) {
            fprintf(f, "\\x%02x", *p++);
        } else if (c1) {
            fprintf(f, "\\u%04x", c1);
            p += n;
        } else if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
        } else if (style == ESC_JSON && (*p == '"' || *p == '\\')) {
            putc('\\', f);
            putc(*p++, f);
        } else if (*p == '\n' && style == ESC_TEXT_NL) {
            putc(*p++, f);
        } else if ((*p < 0x20 || *p == 0x7f) && style == ESC_JSON) {
            fprintf(f, "\\u%04x", *p++);
        } else if (*p < 0x20 || *p == 0x7f) {
            const char *named = *p == 0x1b ? "\\e" : *p == '\r' ? "\\r" :
                                *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : NULL;
            if (named)
                fputs(named, f);
            else
                fprintf(f, "\\x%02x", *p);
            p++;
        } else {
            putc(*p++, f);
        }
    }
}

void json_strn(FILE *f, const char *s, size_t len)
{
    putc('"', f);
    put_escaped(f, s, len, ESC_JSON);
    putc('"', f);
}

void json_str(FILE *f, const char *s)
{
    if (s)
        json_strn(f, s, strlen(s));
    else
        fputs("null", f);
}

void json_kv(FILE *f, const char *key, const char *value)
{
    json_str(f, key);
    putc(':', f);
    json_str(f, value);
}

void put_text(FILE *f, const char *s, int keep_nl)
{
    if (s)
        put_escaped(f, s, strlen(s), keep_nl ? ESC_TEXT_NL : ESC_TEXT);
}

/* ------------------------------------------------------------------ */
/* Reporting failures                                                  */
/* ------------------------------------------------------------------ */

void say_err(const char *what, const char *fix)
{
    fputs("herald: ", stderr);
    put_text(stderr, what, 1);
    putc('\n', stderr);
    if (fix) {
        fputs("  fix: ", stderr);
        put_text(stderr, fix, 1);
        putc('\n', stderr);
    }
}

/* {"error":{...}} on stdout, one line; @extra (may be NULL) prints more
 * members, each followed by a comma, before "error". */
static void json_error(herald_class cls, const char *message, const char *fix,
                       const char *code, const char *provider_text,
                       long retry_after, const char *channel, int retryable,
                       void (*extra)(void *), void *arg)
{
    putchar('{');
    if (extra)
        extra(arg);
    printf("\"error\":{");
    json_kv(stdout, "class", herald_class_name(cls));
    putchar(',');
    json_kv(stdout, "code", code);
    putchar(',');
    json_kv(stdout, "message", message);
    putchar(',');
    json_kv(stdout, "fix", fix);
    putchar(',');
    json_kv(stdout, "provider_text", provider_text);
    putchar(',');
    json_kv(stdout, "channel", channel);
    printf(",\"retryable\":%s,\"exit_status\":%d,\"retry_after\":",
           retryable ? "true" : "false",
           herald_sysexit(cls));
    if (retry_after >= 0)
        printf("%ld", retry_after);
    else
        fputs("null", stdout);
    puts("}}");
}

int fail_err(const struct cli *cli, herald_class cls, herald_error *err)
{
    return fail_err_extra(cli, cls, err, NULL, NULL);
}

int fail_err_extra(const struct cli *cli, herald_class cls, herald_error *err,
                   void (*extra)(void *), void *arg)
{
    if (err)
        cls = herald_error_class(err);
    const char *msg = err ? herald_error_message(err) : herald_strerror(cls);
    const char *fix = herald_error_fix(err);
    say_err(msg, fix);
    if (cli->json)
        json_error(cls, msg, fix, herald_error_code(err),
                   herald_error_provider_text(err),
                   herald_error_retry_after(err), herald_error_channel(err),
                   err ? herald_error_retryable(err) : herald_class_retryable(cls),
                   extra, arg);
    herald_error_free(err);
    return herald_sysexit(cls);
}

int fail(const struct cli *cli, herald_class cls, const char *fix,
         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvasprintf(fmt, ap);
    va_end(ap);
    say_err(msg, fix);
    if (cls == HERALD_ERR_USAGE)
        fprintf(stderr, "try 'herald %s%s--help'\n", cli->cmd ? cli->cmd : "",
                cli->cmd ? " " : "");
    if (cli->json)
        json_error(cls, msg, fix, NULL, NULL, -1, NULL,
                   herald_class_retryable(cls), NULL, NULL);
    free(msg);
    return herald_sysexit(cls);
}

const char *channel_error_text(const herald_error *err, const char *name)
{
    const char *msg = herald_error_message(err);
    size_t n = strlen(name);
    if (strncmp(msg, "channel '", 9) == 0 && strncmp(msg + 9, name, n) == 0 &&
        strncmp(msg + 9 + n, "': ", 3) == 0)
        return msg + 9 + n + 3;
    return msg;
}

/* ------------------------------------------------------------------ */
/* Standard output                                                     */
/* ------------------------------------------------------------------ */

/* 1 when standard output is a pipe whose reader has closed it (errno of the
 * failed write may be long gone by the time we look). */
static int stdout_reader_gone(void)
{
    struct pollfd p = {.fd = STDOUT_FILENO, .events = 0, .revents = 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

/* `herald drivers | head -1`: a reader that went away is not a failure,
 * there is no one to tell.  A failure is reported once: later calls
 * return 0. */
int flush_stdout(void)
{
    static int reported;
    errno = 0;
    if (reported || (fflush(stdout) == 0 && !ferror(stdout)))
        return 0;
    int e = errno ? errno : EIO;
    reported = 1;
    return e == EPIPE || stdout_reader_gone() ? 0 : e;
}
