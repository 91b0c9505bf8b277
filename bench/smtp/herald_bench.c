/* bench/smtp/herald_bench.c - send N messages with a ~1 KiB body through
 * herald's smtp driver over one channel (so one reused connection) and
 * print the rate.
 *
 *   herald_bench HOST PORT [COUNT [BODY_BYTES]]
 *
 * max_messages = 1000000 keeps one connection for the whole run.
 * Prints one line: "herald: N messages in S s = R msg/s".  Exits non-zero
 * at the first failed send, with herald's error.  The plugin path comes
 * from HERALD_PLUGIN_PATH (run.sh points it at the build directory). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <herald/herald.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A text body of @n bytes in lines of 72 characters plus a newline. */
static char *make_body(size_t n)
{
    char *b = malloc(n + 1);
    if (!b)
        return NULL;
    for (size_t i = 0; i < n; i++)
        b[i] = (i % 73 == 72) ? '\n' : (char)('a' + (i % 26));
    if (n)
        b[n - 1] = '\n';
    b[n] = '\0';
    return b;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s HOST PORT [COUNT [BODY_BYTES]]\n", argv[0]);
        return 64;
    }
    long count = argc > 3 ? atol(argv[3]) : 20000;
    size_t body_len = argc > 4 ? (size_t)atol(argv[4]) : 1024;
    char conf[1024];
    snprintf(conf, sizeof conf,
             "[channel sink]\ndriver = smtp\nhost = %s\nport = %s\ntls = none\n"
             "from = bench@example.com\nmax_messages = 1000000\n", argv[1], argv[2]);
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    if (herald_open_string(conf, "herald_bench", 0, &ctx, &err) != HERALD_OK) {
        fprintf(stderr, "herald_bench: %s\n", herald_error_message(err));
        herald_error_free(err);
        return 1;
    }
    char *body = make_body(body_len);
    herald_msg *m = herald_msg_new();
    if (!body || !m || herald_msg_add_to(m, "sink@example.com") != HERALD_OK ||
        herald_msg_set_subject(m, "herald benchmark") != HERALD_OK ||
        herald_msg_set_text(m, body) != HERALD_OK) {
        fprintf(stderr, "herald_bench: could not build the message\n");
        return 1;
    }
    int rc = 0;
    double t0 = now_s();
    for (long i = 0; i < count; i++) {
        if (herald_send(ctx, "sink", m, NULL, &err) != HERALD_OK) {
            fprintf(stderr, "herald_bench: message %ld: %s\n", i + 1,
                    herald_error_message(err));
            herald_error_free(err);
            rc = 1;
            count = i;
            break;
        }
    }
    herald_close(ctx); /* QUIT: part of the work */
    double took = now_s() - t0;
    printf("herald: %ld messages in %.3f s = %.0f msg/s\n", count, took,
           took > 0 ? (double)count / took : 0.0);
    herald_msg_free(m);
    free(body);
    return rc;
}
