/* tests/libherald/deliver_util.c - see deliver_util.h. */
#include "config.h"
#include <criterion/criterion.h>

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "deliver_util.h"

herald_ctx *dt_open(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    cr_assert(text);
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    herald_class rc = herald_open_string(text, "deliver-test.conf", 0, &ctx, &err);
    cr_assert_eq(rc, HERALD_OK, "open failed: %s\n%s", herald_error_message(err), text);
    free(text);
    return ctx;
}

herald_msg *dt_msg(const char *subject)
{
    herald_msg *m = herald_msg_new();
    cr_assert(m);
    cr_assert_eq(herald_msg_set_from(m, "a@example.com"), HERALD_OK);
    cr_assert_eq(herald_msg_add_to(m, "ops@example.com"), HERALD_OK);
    cr_assert_eq(herald_msg_set_subject(m, subject), HERALD_OK);
    cr_assert_eq(herald_msg_set_text(m, "hello\n"), HERALD_OK);
    return m;
}

long long dt_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int dt_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sa;
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);   /* bound, never listened: a connect is refused */
    return ntohs(sa.sin_port);
}

char *dt_tried(const herald_result *res)
{
    size_t n = herald_result_tried_count(res), cap = 64 + n * 96;
    char *s = calloc(1, cap);
    cr_assert(s);
    for (size_t i = 0; i < n; i++) {
        const char *code = herald_result_tried_code(res, i);
        size_t len = strlen(s);
        snprintf(s + len, cap - len, "%s%s:%s:%s", i ? ", " : "",
                 herald_result_tried_channel(res, i),
                 herald_class_name(herald_result_tried_class(res, i)),
                 code ? code : "-");
    }
    return s;
}

int dt_count_lines(const char *path, const char *needle)
{
    char *text = tu_read_file(path, NULL);
    int n = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        n += strstr(line, needle) != NULL;
        line = nl ? nl + 1 : line + strlen(line);
    }
    free(text);
    return n;
}

int dt_valgrind(void)
{
    return getenv("HERALD_TEST_VALGRIND") != NULL;
}
