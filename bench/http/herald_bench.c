/* bench/http/herald_bench.c - send N messages through herald's sendgrid or
 * postmark driver to BASE_URL (nginx on loopback, see run.sh), one at a
 * time on one context, and print "herald DRIVER N SECONDS MSG/S".
 *
 *   herald_bench sendgrid|postmark BASE_URL N
 *
 * HERALD_PLUGIN_PATH must name the directories holding the built drivers.
 * Any failed send stops the run with the error herald reported. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <herald/herald.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "sendgrid") && strcmp(argv[1], "postmark"))) {
        fprintf(stderr, "usage: herald_bench sendgrid|postmark BASE_URL N\n");
        return 64;
    }
    const char *driver = argv[1], *base = argv[2];
    long n = atol(argv[3]);
    char conf[1024];
    snprintf(conf, sizeof conf,
             "[channel bench]\n"
             "driver = %s\n"
             "%s\n"
             "base_url = %s\n"
             "from = Bench <bench@example.com>\n",
             driver, strcmp(driver, "sendgrid") ? "server_token = pm-test"
                                                : "api_key = SG.test", base);
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    if (herald_open_string(conf, "bench.conf", 0, &ctx, &err) != HERALD_OK) {
        fprintf(stderr, "herald_bench: %s\n", herald_error_message(err));
        herald_error_free(err);
        return 1;
    }
    herald_msg *m = herald_msg_new();
    herald_msg_add_to(m, "Ann <ann@example.com>");
    herald_msg_set_subject(m, "bench: disk almost full on db-1");
    herald_msg_set_text(m, "/var on db-1 is at 91%; the nightly cleanup did not run.\n"
                           "This is a benchmark message from bench/http.\n");

    int rc = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        herald_result *res = NULL;
        if (herald_send(ctx, "bench", m, &res, &err) != HERALD_OK) {
            fprintf(stderr, "herald_bench: send %ld: %s\n", i + 1, herald_error_message(err));
            herald_error_free(err);
            herald_result_free(res);
            rc = 1;
            break;
        }
        herald_result_free(res);
    }
    double secs = now() - t0;
    if (rc == 0)
        printf("herald %s %ld %.3f %.0f\n", driver, n, secs, (double)n / secs);
    herald_msg_free(m);
    herald_close(ctx);
    return rc;
}
