/* tests/libherald/test_retry.c - the core's retry policy through the probe
 * driver (fail_first, fail_class, retry_after): which classes are retried
 * and how often, the delays (backoff, jitter, cap, the provider's hint),
 * a hint too long to sleep, every attempt in the result and the log, the
 * [herald] defaults and a channel's own values, bad values refused. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "deliver_util.h"
#include "deliver/deliver.h"

TestSuite(retry, .timeout = 60);

#define PROBE "[channel p]\ndriver = probe\nretry_jitter = 0\nretry_after = -1\n"

Test(retry, transient_failures_are_retried_with_backoff_until_delivered)
{
    herald_ctx *ctx = dt_open(PROBE "fail_first = 2\nretries = 2\nretry_delay = 50ms\n"
                              "retry_backoff = 2\n");
    herald_msg *m = dt_msg("s");
    herald_result *res = NULL;
    herald_error *err = NULL;
    long long t0 = dt_ms();
    cr_assert_eq(herald_send(ctx, "p", m, &res, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    long long elapsed = dt_ms() - t0;
    char *tried = dt_tried(res);
    cr_assert_str_eq(tried, "p:temporary:451, p:temporary:451, p:ok:-");
    cr_assert_eq(herald_result_attempts(res), 3);
    cr_assert_str_eq(herald_result_channel(res), "p");
    cr_assert_str_eq(herald_result_message_id(res), "probe-1");
    /* 50 ms, then 100 ms (backoff 2, no jitter) */
    cr_assert_eq(herald_result_tried_delay_ms(res, 0), 0);
    cr_assert_eq(herald_result_tried_delay_ms(res, 1), 50);
    cr_assert_eq(herald_result_tried_delay_ms(res, 2), 100);
    cr_assert(elapsed >= 145, "the delays were not slept: %lld ms", elapsed);
    cr_assert(strstr(herald_result_tried_message(res, 0), "fails its first 2"), "%s",
              herald_result_tried_message(res, 0));
    cr_assert_null(herald_result_tried_message(res, 2));
    cr_assert_null(herald_result_tried_channel(res, 3));
    free(tried);
    herald_result_free(res);
    herald_msg_free(m);
    herald_close(ctx);
}

Test(retry, retries_exhausted_return_the_error_with_every_attempt)
{
    herald_ctx *ctx = dt_open(PROBE "fail_first = 100\nretries = 2\nretry_delay = 10ms\n");
    herald_msg *m = dt_msg("s");
    herald_result *res = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_send(ctx, "p", m, &res, &err), HERALD_ERR_TEMPORARY);
    cr_assert(herald_error_retryable(err));
    cr_assert(strstr(herald_error_message(err), "attempt 3"), "the last attempt's "
              "error: %s", herald_error_message(err));
    cr_assert_not_null(res, "a failed send hands back its attempts");
    char *tried = dt_tried(res);
    cr_assert_str_eq(tried, "p:temporary:451, p:temporary:451, p:temporary:451");
    cr_assert_eq(herald_result_attempts(res), 3);
    free(tried);
    herald_result_free(res);
    herald_error_free(err);
    herald_msg_free(m);
    herald_close(ctx);
}

/* Classes a retry cannot fix are tried once; delivery unknown too (the
 * probe sends no idempotency key its provider honours). */
Test(retry, non_transient_classes_are_tried_once)
{
    const herald_class once[] = {
        HERALD_ERR_INVALID_MESSAGE, HERALD_ERR_SENDER_REJECTED,
        HERALD_ERR_RECIPIENT_REJECTED, HERALD_ERR_PERMANENT, HERALD_ERR_AUTH,
        HERALD_ERR_TLS, HERALD_ERR_DELIVERY_UNKNOWN, HERALD_ERR_CONFIG,
    };
    for (size_t i = 0; i < sizeof once / sizeof once[0]; i++) {
        herald_ctx *ctx = dt_open(PROBE "fail_first = 5\nfail_class = %d\n"
                                  "retries = 3\nretry_delay = 10ms\n", (int)once[i]);
        herald_msg *m = dt_msg("s");
        herald_result *res = NULL;
        herald_error *err = NULL;
        cr_assert_eq(herald_send(ctx, "p", m, &res, &err), once[i]);
        cr_assert_eq(herald_result_attempts(res), 1, "%s was retried (%u attempts)",
                     herald_class_name(once[i]), herald_result_attempts(res));
        herald_result_free(res);
        herald_error_free(err);
        herald_msg_free(m);
        herald_close(ctx);
    }
}

/* Without a fallback a refused or timed-out connection is retried: there
 * is nowhere else to go. */
Test(retry, connect_failures_are_retried_without_a_fallback)
{
    herald_ctx *ctx = dt_open(PROBE "fail_first = 1\nfail_class = %d\nretries = 1\n"
                              "retry_delay = 10ms\n", (int)HERALD_ERR_CONNECT);
    herald_msg *m = dt_msg("s");
    herald_result *res = NULL;
    cr_assert_eq(herald_send(ctx, "p", m, &res, NULL), HERALD_OK);
    cr_assert_eq(herald_result_attempts(res), 2);
    herald_result_free(res);
    herald_msg_free(m);
    herald_close(ctx);
}

Test(retry, the_providers_hint_replaces_the_computed_delay)
{
    herald_ctx *ctx = dt_open("[channel p]\ndriver = probe\nfail_first = 1\n"
                              "retry_after = 1\nretry_delay = 10ms\n");
    herald_msg *m = dt_msg("s");
    herald_result *res = NULL;
    long long t0 = dt_ms();
    cr_assert_eq(herald_send(ctx, "p", m, &res, NULL), HERALD_OK);
    long long elapsed = dt_ms() - t0;
    cr_assert(elapsed >= 950, "a 1 s retry-after was not honoured: %lld ms", elapsed);
    cr_assert_eq(herald_result_tried_delay_ms(res, 1), 1000);
    herald_result_free(res);
    herald_msg_free(m);
    herald_close(ctx);
}

/* A hint longer than retry_max_delay is not slept: the error comes back
 * at once, with the time a later try could work (for the spool). */
Test(retry, a_hint_longer_than_retry_max_delay_is_not_slept)
{
    herald_ctx *ctx = dt_open("[channel p]\ndriver = probe\nfail_first = 1\n"
                              "retry_after = 120\nretry_max_delay = 2s\n");
    herald_msg *m = dt_msg("s");
    herald_result *res = NULL;
    herald_error *err = NULL;
    time_t retry_at = 0, now = time(NULL);
    long long t0 = dt_ms();
    cr_assert_eq(hctx_deliver(ctx, "p", m, &res, &err, &retry_at), HERALD_ERR_TEMPORARY);
    cr_assert(dt_ms() - t0 < 60000, "the 120 s hint was slept");
    cr_assert_eq(herald_result_attempts(res), 1);
    cr_assert_eq(herald_error_retry_after(err), 120);
    cr_assert(retry_at >= now + 119 && retry_at <= time(NULL) + 121,
              "retry_at %lld, now %lld", (long long)retry_at, (long long)now);
    herald_result_free(res);
    herald_error_free(err);
    herald_msg_free(m);
    herald_close(ctx);
}

Test(retry, retries_exhausted_say_when_to_try_again)
{
    herald_ctx *ctx = dt_open(PROBE "fail_first = 100\nretries = 0\nretry_delay = 30s\n");
    herald_msg *m = dt_msg("s");
    time_t retry_at = 0, now = time(NULL);
    herald_error *err = NULL;
    cr_assert_eq(hctx_deliver(ctx, "p", m, NULL, &err, &retry_at), HERALD_ERR_TEMPORARY);
    cr_assert(retry_at >= now + 29 && retry_at <= time(NULL) + 31, "retry_at %lld",
              (long long)retry_at);
    herald_error_free(err);
    /* a permanent failure: nothing says a later try helps */
    herald_close(ctx);
    ctx = dt_open(PROBE "fail = 14\n");
    err = NULL;
    cr_assert_eq(hctx_deliver(ctx, "p", m, NULL, &err, &retry_at), HERALD_ERR_PERMANENT);
    cr_assert_eq(retry_at, 0);
    herald_error_free(err);
    herald_msg_free(m);
    herald_close(ctx);
}

Test(retry, delays_grow_by_the_backoff_with_bounded_jitter_and_a_cap)
{
    herald_ctx *ctx = dt_open("[channel p]\ndriver = probe\nretry_delay = 100ms\n"
                              "retry_backoff = 2\nretry_jitter = 0.2\n"
                              "retry_max_delay = 350ms\n");
    herald_channel *ch = NULL;
    cr_assert_eq(hctx_find_channel(ctx, "p", &ch, NULL), HERALD_OK);
    int spread = 0;
    for (int i = 0; i < 200; i++) {
        long long d1 = hd_retry_delay(ch->dl, 1, -1);
        long long d2 = hd_retry_delay(ch->dl, 2, -1);
        long long d3 = hd_retry_delay(ch->dl, 3, -1);
        cr_assert(d1 >= 80 && d1 <= 120, "first delay %lld", d1);
        cr_assert(d2 >= 160 && d2 <= 240, "second delay %lld", d2);
        cr_assert(d3 >= 280 && d3 <= 420, "third delay (capped at 350) %lld", d3);
        spread += d1 != 100;
    }
    cr_assert(spread > 100, "no jitter: %d of 200 delays moved", spread);
    cr_assert_eq(hd_retry_delay(ch->dl, 1, 7), 7000, "the hint wins");
    herald_close(ctx);
}

Test(retry, defaults_come_from_the_issue_and_herald_section_channel_wins)
{
    herald_ctx *ctx = dt_open("[channel p]\ndriver = probe\n");
    herald_channel *ch = NULL;
    cr_assert_eq(hctx_find_channel(ctx, "p", &ch, NULL), HERALD_OK);
    struct hd_chan *dl = ch->dl;
    cr_assert_eq(dl->retries, 2);
    cr_assert_eq(dl->delay_ms, 1000);
    cr_assert_float_eq(dl->backoff, 2.0, 1e-9);
    cr_assert_eq(dl->max_delay_ms, 300000);
    cr_assert_float_eq(dl->jitter, 0.2, 1e-9);
    cr_assert_eq(dl->threshold, 5);
    cr_assert_eq(dl->cooldown_ms, 60000);
    cr_assert_float_eq(dl->rate_per_ms, 0.0, 1e-12);
    herald_close(ctx);

    ctx = dt_open("[herald]\nretries = 0\nretry_delay = 10ms\nretry_jitter = 0\n"
                  "[channel own]\ndriver = probe\nretry_after = -1\nfail_first = 1\n"
                  "retries = 1\n"
                  "[channel dflt]\ndriver = probe\nretry_after = -1\nfail_first = 1\n");
    herald_msg *m = dt_msg("s");
    herald_result *res = NULL;
    cr_assert_eq(herald_send(ctx, "own", m, &res, NULL), HERALD_OK);
    cr_assert_eq(herald_result_attempts(res), 2);
    herald_result_free(res);
    res = NULL;
    cr_assert_eq(herald_send(ctx, "dflt", m, &res, NULL), HERALD_ERR_TEMPORARY);
    cr_assert_eq(herald_result_attempts(res), 1, "[herald] retries = 0 was ignored");
    herald_result_free(res);
    herald_msg_free(m);
    herald_close(ctx);
}

/* Each bad value is a config error naming file, line, key and the fix. */
Test(retry, bad_values_are_config_errors_with_a_fix)
{
    static const struct {
        const char *line, *what;
    } bad[] = {
        {"rate_limit = ten/s", "rate_limit = 'ten/s'"},
        {"rate_limit = 10/hour", "rate_limit = '10/hour'"},
        {"rate_limit = 0/s", "rate_limit = '0/s'"},
        {"retries = -1", "retries"},
        {"retry_delay = -5s", "retry_delay"},
        {"retry_jitter = 1.5", "retry_jitter = '1.5'"},
        {"retry_jitter = -0.1", "retry_jitter = '-0.1'"},
        {"retry_backoff = 0.5", "retry_backoff = '0.5'"},
        {"retry_backoff = fast", "retry_backoff = 'fast'"},
        {"breaker_threshold = -2", "breaker_threshold"},
        {"rate_burst = 0", "rate_burst"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *text = tu_printf("[channel p]\ndriver = probe\n%s\n", bad[i].line);
        herald_ctx *ctx = NULL;
        herald_error *err = NULL;
        cr_assert_eq(herald_open_string(text, "t.conf", 0, &ctx, &err),
                     HERALD_ERR_CONFIG, "%s was accepted", bad[i].line);
        const char *msg = herald_error_message(err);
        cr_assert(strstr(msg, "t.conf:3:") && strstr(msg, bad[i].what), "%s: %s",
                  bad[i].line, msg);
        cr_assert_not_null(herald_error_fix(err), "%s: no fix", bad[i].line);
        herald_error_free(err);
        free(text);
    }
    /* the [herald] defaults are checked too */
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string("[herald]\nretry_jitter = 2\n[channel p]\n"
                                    "driver = probe\n", "t.conf", 0, &ctx, &err),
                 HERALD_ERR_CONFIG);
    cr_assert(strstr(herald_error_message(err), "t.conf:2: retry_jitter = '2' in "
                     "[herald]"), "%s", herald_error_message(err));
    cr_assert(strstr(herald_error_fix(err), "from 0 to 1"), "%s", herald_error_fix(err));
    herald_error_free(err);
    /* and good ones open */
    herald_close(dt_open("[herald]\nretry_backoff = 1.5\nretry_jitter = 0\n"
                         "[channel p]\ndriver = probe\nrate_limit = 600/min\n"
                         "rate_burst = 5\nretry_jitter = 1\nretries = 0\n"));
}

struct logbuf {
    char text[8192];
    size_t len;
};

static void capture(herald_log_level level, const char *channel, const char *line,
                    void *user)
{
    struct logbuf *b = user;
    int n = snprintf(b->text + b->len, sizeof b->text - b->len, "%d|%s|%s\n",
                     (int)level, channel ? channel : "", line);
    if (n > 0 && b->len + (size_t)n < sizeof b->text)
        b->len += (size_t)n;
}

Test(retry, each_attempt_is_logged_with_class_code_and_delay)
{
    herald_ctx *ctx = dt_open(PROBE "fail_first = 1\nretries = 1\nretry_delay = 20ms\n");
    struct logbuf b = {{0}, 0};
    herald_set_log_handler(ctx, HERALD_LOG_INFO, capture, &b);
    herald_msg *m = dt_msg("s");
    cr_assert_eq(herald_send(ctx, "p", m, NULL, NULL), HERALD_OK);
    cr_assert(strstr(b.text, "2|p|attempt 1: temporary, code 451; retrying in 20 ms\n"),
              "%s", b.text);
    cr_assert(strstr(b.text, "2|p|attempt 2: delivered (waited 20 ms before it)\n"),
              "%s", b.text);
    herald_msg_free(m);
    herald_close(ctx);
}
