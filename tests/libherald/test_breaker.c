/* tests/libherald/test_breaker.c - the circuit breaker through the probe
 * driver: it opens after breaker_threshold failed attempts, then skips
 * the channel without calling the driver (no connect timeout) with a
 * "circuit open" error and the trial time, or straight to the fallback;
 * after the cool-down one trial closes it (or opens it again); with
 * spool_dir the state is shared by separate processes (the CLI), and
 * `herald status` shows it. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "deliver_util.h"
#include "deliver/deliver.h"

static char *tmp;

static void setup(void)
{
    tmp = tu_mkdtemp();
    cr_assert(tmp);
}

static void teardown(void)
{
    tu_rmrf(tmp);
    free(tmp);
}

TestSuite(breaker, .init = setup, .fini = teardown, .timeout = 60);

/* The probe stands for a blocked SMTP port: every send takes 300 ms (the
 * "connect timeout") and fails with a connect error. */
#define FAILING "driver = probe\nfail_first = 1000000\nfail_class = 5\n" \
                "retry_after = -1\n"
#define BLOCKED FAILING "delay = 300ms\nretries = 0\n"

static herald_class send_one(herald_ctx *ctx, const char *channel,
                             herald_result **res_r, herald_error **err_r,
                             long long *ms_r)
{
    herald_msg *m = dt_msg("b");
    long long t0 = dt_ms();
    herald_class rc = herald_send(ctx, channel, m, res_r, err_r);
    if (ms_r)
        *ms_r = dt_ms() - t0;
    herald_msg_free(m);
    return rc;
}

static herald_channel_state state_of(herald_ctx *ctx, const char *channel)
{
    herald_channel_state st;
    herald_error *err = NULL;
    cr_assert_eq(herald_channel_status(ctx, channel, &st, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    return st;
}

Test(breaker, opens_after_the_threshold_and_skips_without_waiting)
{
    herald_ctx *ctx = dt_open("[channel p]\n" BLOCKED "breaker_threshold = 3\n"
                              "breaker_cooldown = 60s\n");
    for (int i = 0; i < 3; i++) {
        long long ms = 0;
        herald_result *res = NULL;
        cr_assert_eq(send_one(ctx, "p", &res, NULL, &ms), HERALD_ERR_CONNECT);
        cr_assert_eq(herald_result_attempts(res), 1);
        cr_assert(ms >= 290, "send %d did not reach the driver (%lld ms)", i, ms);
        herald_result_free(res);
        herald_channel_state st = state_of(ctx, "p");
        cr_assert_eq(st.failures, (unsigned)i + 1);
        cr_assert_eq(st.breaker, i < 2 ? HERALD_BREAKER_CLOSED : HERALD_BREAKER_OPEN);
    }
    herald_result *res = NULL;
    herald_error *err = NULL;
    long long ms = 0;
    time_t retry_at = 0;
    long long before = (long long)time(NULL);
    herald_msg *m = dt_msg("b");
    long long t0 = dt_ms();
    cr_assert_eq(hctx_deliver(ctx, "p", m, &res, &err, &retry_at), HERALD_ERR_TEMPORARY);
    ms = dt_ms() - t0;
    herald_msg_free(m);
    cr_assert(ms < 290, "an open breaker still waited for the driver: %lld ms", ms);
    cr_assert_eq(herald_result_attempts(res), 0, "the driver was called");
    char *tried = dt_tried(res);
    cr_assert_str_eq(tried, "p:temporary:circuit_open");
    free(tried);
    cr_assert_str_eq(herald_error_code(err), "circuit_open");
    cr_assert(herald_error_retryable(err));
    cr_assert(strstr(herald_error_message(err), "circuit open for p after 3 failures; "
                     "next trial at 20"), "%s", herald_error_message(err));
    cr_assert(strstr(herald_error_fix(err), "fallback"), "%s", herald_error_fix(err));
    cr_assert(retry_at >= before + 58 && retry_at <= time(NULL) + 61,
              "retry_at is the trial time: %lld", (long long)retry_at);
    herald_channel_state st = state_of(ctx, "p");
    cr_assert_eq(st.breaker, HERALD_BREAKER_OPEN);
    cr_assert_eq(st.threshold, 3);
    cr_assert_eq(st.shared, 0);
    cr_assert(st.next_trial_ms / 1000 >= before + 58);
    herald_result_free(res);
    herald_error_free(err);
    herald_close(ctx);
}

Test(breaker, one_good_trial_after_the_cooldown_closes_it)
{
    herald_ctx *ctx = dt_open("[channel p]\ndriver = probe\nfail_first = 2\n"
                              "retry_after = -1\nretries = 0\nbreaker_threshold = 2\n"
                              "breaker_cooldown = 300ms\n");
    cr_assert_eq(send_one(ctx, "p", NULL, NULL, NULL), HERALD_ERR_TEMPORARY);
    cr_assert_eq(send_one(ctx, "p", NULL, NULL, NULL), HERALD_ERR_TEMPORARY);
    herald_error *err = NULL;
    cr_assert_eq(send_one(ctx, "p", NULL, &err, NULL), HERALD_ERR_TEMPORARY);
    cr_assert_str_eq(herald_error_code(err), "circuit_open");
    herald_error_free(err);
    usleep(400 * 1000);
    cr_assert_eq(state_of(ctx, "p").breaker, HERALD_BREAKER_HALF_OPEN);
    herald_result *res = NULL;
    cr_assert_eq(send_one(ctx, "p", &res, NULL, NULL), HERALD_OK);
    cr_assert_eq(herald_result_attempts(res), 1);
    herald_result_free(res);
    herald_channel_state st = state_of(ctx, "p");
    cr_assert_eq(st.breaker, HERALD_BREAKER_CLOSED);
    cr_assert_eq(st.failures, 0);
    cr_assert_eq(st.next_trial_ms, 0);
    herald_close(ctx);
}

Test(breaker, a_failed_trial_opens_it_again_and_the_trial_is_not_retried)
{
    herald_ctx *ctx = dt_open("[channel p]\n" FAILING "delay = 300ms\nretries = 3\nretry_delay = 10ms\n"
                              "breaker_threshold = 1\nbreaker_cooldown = 200ms\n");
    herald_result *res = NULL;
    /* no fallback: a connect error is retried, and every attempt counts */
    cr_assert_eq(send_one(ctx, "p", &res, NULL, NULL), HERALD_ERR_CONNECT);
    herald_result_free(res);
    res = NULL;
    usleep(300 * 1000);
    cr_assert_eq(send_one(ctx, "p", &res, NULL, NULL), HERALD_ERR_CONNECT);
    cr_assert_eq(herald_result_attempts(res), 1, "the trial was retried");
    herald_result_free(res);
    herald_error *err = NULL;
    cr_assert_eq(send_one(ctx, "p", NULL, &err, NULL), HERALD_ERR_TEMPORARY);
    cr_assert_str_eq(herald_error_code(err), "circuit_open");
    herald_error_free(err);
    herald_close(ctx);
}

Test(breaker, an_open_breaker_goes_straight_to_the_fallback)
{
    char *log = tu_printf("%s/sent", tmp);
    herald_ctx *ctx = dt_open("[channel smtp]\n" BLOCKED "breaker_threshold = 1\n"
                              "fallback = api\n"
                              "[channel api]\ndriver = probe\nsend_log = %s\n", log);
    herald_result *res = NULL;
    long long ms = 0;
    cr_assert_eq(send_one(ctx, "smtp", &res, NULL, &ms), HERALD_OK);
    char *tried = dt_tried(res);
    cr_assert_str_eq(tried, "smtp:connect:451, api:ok:-");
    free(tried);
    herald_result_free(res);
    res = NULL;
    cr_assert_eq(send_one(ctx, "smtp", &res, NULL, &ms), HERALD_OK);
    tried = dt_tried(res);
    cr_assert_str_eq(tried, "smtp:temporary:circuit_open, api:ok:-");
    cr_assert_str_eq(herald_result_channel(res), "api");
    cr_assert_eq(herald_result_attempts(res), 1);
    cr_assert(ms < 290, "the open breaker still cost a timeout: %lld ms", ms);
    cr_assert_eq(dt_count_lines(log, "api\tb"), 2);
    free(tried);
    herald_result_free(res);
    herald_close(ctx);
    free(log);
}

Test(breaker, threshold_zero_turns_it_off)
{
    herald_ctx *ctx = dt_open("[channel p]\n" FAILING "retries = 0\nbreaker_threshold = 0\n");
    for (int i = 0; i < 8; i++)
        cr_assert_eq(send_one(ctx, "p", NULL, NULL, NULL), HERALD_ERR_CONNECT);
    herald_channel_state st = state_of(ctx, "p");
    cr_assert_eq(st.breaker, HERALD_BREAKER_OFF);
    herald_close(ctx);
}

/* Message errors say nothing about the channel: they never open it. */
Test(breaker, message_errors_do_not_count)
{
    herald_ctx *ctx = dt_open("[channel p]\ndriver = probe\nfail = 11\nretries = 0\n"
                              "breaker_threshold = 1\n");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(send_one(ctx, "p", NULL, NULL, NULL), HERALD_ERR_RECIPIENT_REJECTED);
    cr_assert_eq(state_of(ctx, "p").failures, 0);
    herald_close(ctx);
}

/* Processes with one spool_dir share the breaker: two `herald send` open it,
 * this process (its own context) skips at once; `herald status` sees it. */
Test(breaker, shared_across_processes_through_the_spool_dir)
{
    char *conf = tu_printf("[herald]\nspool_dir = %s/spool\n[channel p]\n" BLOCKED
                           "breaker_threshold = 2\nbreaker_cooldown = 60s\nspool = never\n", tmp);
    /* two `herald send` processes fail and open it */
    char *path = tu_write_file(tmp, "herald.conf", conf);
    for (int i = 0; i < 2; i++) {
        char *out = NULL;
        int rc = tu_run(&out, "'%s' -c '%s' send --channel p --from a@example.com "
                        "--to ops@example.com --text x", tu_cli(), path);
        cr_assert_eq(rc, 75, "send %d: exit %d: %s", i, rc, out);
        cr_assert(strstr(out, "fails its first"), "%s", out);
        free(out);
    }
    char *state = tu_printf("%s/spool/state/p.breaker", tmp);
    struct stat sb;
    cr_assert_eq(stat(state, &sb), 0, "no state file %s", state);
    cr_assert_eq(sb.st_mode & 0077, 0, "state file mode %o", sb.st_mode & 0777);
    herald_ctx *ctx = dt_open("%s", conf);
    herald_channel_state st = state_of(ctx, "p");
    cr_assert_eq(st.breaker, HERALD_BREAKER_OPEN);
    cr_assert_eq(st.failures, 2);
    cr_assert_eq(st.shared, 1);
    herald_error *err = NULL;
    long long ms = 0;
    cr_assert_eq(send_one(ctx, "p", NULL, &err, &ms), HERALD_ERR_TEMPORARY);
    cr_assert_str_eq(herald_error_code(err), "circuit_open");
    cr_assert(ms < 290, "%lld ms", ms);
    herald_error_free(err);
    herald_close(ctx);

    /* and a fourth process sees it */
    char *out = NULL;
    int rc = tu_run(&out, "'%s' -c '%s' status p", tu_cli(), path);
    cr_assert_eq(rc, 69, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "p  breaker open  failures 2/2  next trial 20"), "%s", out);
    free(out);
    rc = tu_run(&out, "'%s' -c '%s' status --json", tu_cli(), path);
    cr_assert_eq(rc, 69, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "[{\"channel\":\"p\",\"breaker\":\"open\",\"failures\":2,"
                     "\"threshold\":2,\"next_trial\":\"20"), "%s", out);
    cr_assert(strstr(out, "\"shared\":true"), "%s", out);
    free(out);
    free(path);
    free(state);
    free(conf);
}

Test(breaker, status_of_a_closed_channel_and_errors)
{
    char *path = tu_write_file(tmp, "herald.conf", "[channel p]\ndriver = probe\n"
                               "rate_limit = 5/s\nrate_burst = 3\nfallback = q\n"
                               "[channel q]\ndriver = probe\nbreaker_threshold = 0\n");
    char *out = NULL;
    int rc = tu_run(&out, "'%s' -c '%s' status", tu_cli(), path);
    cr_assert_eq(rc, 0, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "p  breaker closed  failures 0/5  rate 5/s burst 3 tokens 3.0"
                     "  fallback q\n"), "%s", out);
    cr_assert(strstr(out, "q  breaker off  rate unlimited\n"), "%s", out);
    free(out);
    rc = tu_run(&out, "'%s' -c '%s' status nosuch", tu_cli(), path);
    cr_assert_eq(rc, 78, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "no channel named 'nosuch'"), "%s", out);
    free(out);
    herald_ctx *ctx = dt_open("[channel p]\ndriver = probe\n");
    herald_channel_state st;
    cr_assert_eq(herald_channel_status(ctx, "p", NULL, NULL), HERALD_ERR_USAGE);
    cr_assert_eq(herald_channel_status(NULL, "p", &st, NULL), HERALD_ERR_USAGE);
    herald_close(ctx);
    free(path);
}
