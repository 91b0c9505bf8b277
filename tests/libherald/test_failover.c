/* tests/libherald/test_failover.c - fallback chains: an unknown fallback
 * or a cycle is a config error (exit 78) that prints the chain; an SMTP
 * channel on a refused or blackholed port hands the message to its API
 * fallback (the resend driver against tests/support/servers/providers.py) at once,
 * without spending retries, and the result and `herald send --json` name
 * both channels; what does not fail over; each channel's own
 * `unsupported`; a longer chain. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deliver_util.h"
#include "http_testutil.h"

static char *tmp;
static struct ht h;
static struct tu_server srv;

static void setup(void)
{
    tmp = tu_mkdtemp();
    cr_assert(tmp);
}

static void teardown(void)
{
    ht_stop(&h);
    tu_server_stop(&srv);
    tu_rmrf(tmp);
    free(tmp);
}

TestSuite(failover, .init = setup, .fini = teardown, .timeout = 60);

static herald_error *open_error(const char *text)
{
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(text, "f.conf", 0, &ctx, &err), HERALD_ERR_CONFIG,
                 "opened: %s", text);
    cr_assert_null(ctx);
    return err;
}

Test(failover, an_unknown_fallback_is_a_config_error_naming_it)
{
    herald_error *err = open_error("[channel smtp]\ndriver = probe\n"
                                   "fallback = apii\n[channel api]\ndriver = probe\n");
    cr_assert_str_eq(herald_error_message(err), "f.conf:3: [channel smtp] fallback = "
                     "'apii': there is no channel named 'apii' (chain: smtp \u2192 apii)");
    cr_assert(strstr(herald_error_fix(err), "smtp, api"), "%s", herald_error_fix(err));
    cr_assert_eq(herald_sysexit(herald_error_class(err)), 78);
    herald_error_free(err);
}

Test(failover, a_cycle_is_a_config_error_printing_the_chain)
{
    herald_error *err = open_error("[channel a]\ndriver = probe\nfallback = b\n"
                                   "[channel b]\ndriver = probe\nfallback = c\n"
                                   "[channel c]\ndriver = probe\nfallback = a\n");
    cr_assert(strstr(herald_error_message(err), "f.conf:3: [channel a] fallback: the "
                     "chain is a cycle: a \u2192 b \u2192 c \u2192 a"), "%s",
              herald_error_message(err));
    cr_assert_not_null(herald_error_fix(err));
    herald_error_free(err);
    err = open_error("[channel a]\ndriver = probe\nfallback = a\n");
    cr_assert(strstr(herald_error_message(err), "cycle: a \u2192 a"), "%s",
              herald_error_message(err));
    herald_error_free(err);
    /* a chain that ends is fine, and so is a channel leading into it */
    herald_close(dt_open("[channel a]\ndriver = probe\nfallback = b\n"
                         "[channel b]\ndriver = probe\nfallback = c\n"
                         "[channel c]\ndriver = probe\n"
                         "[channel d]\ndriver = probe\nfallback = b\n"));
}

Test(failover, the_cli_exits_78_with_the_chain)
{
    char *path = tu_write_file(tmp, "herald.conf", "[channel a]\ndriver = probe\n"
                               "fallback = b\n[channel b]\ndriver = probe\n"
                               "fallback = a\n");
    char *out = NULL;
    int rc = tu_run(&out, "'%s' -c '%s' config check", tu_cli(), path);
    cr_assert_eq(rc, 78, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "cycle: a \u2192 b \u2192 a"), "%s", out);
    free(out);
    rc = tu_run(&out, "'%s' -c '%s' send --channel a --from x@example.com "
                "--to y@example.com --text hi", tu_cli(), path);
    cr_assert_eq(rc, 78, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "cycle: a \u2192 b \u2192 a"), "%s", out);
    cr_assert(strstr(out, "fix: remove one `fallback` line"), "%s", out);
    free(out);
    free(path);
}

/* The config of the seed's case: SMTP on @port, fallback to the API. */
static char *smtp_then_api(int port, const char *smtp_extra, const char *api_extra)
{
    return tu_printf("[channel smtp]\ndriver = smtp\nhost = 127.0.0.1\nport = %d\n"
                     "tls = none\nconnect_timeout = 1s\nfrom = a@example.com\n"
                     "retries = 2\nretry_delay = 50ms\nfallback = api\n%s"
                     "[channel api]\ndriver = resend\nbase_url = %s\nca_file = %s\n"
                     "api_key = re_test\ntimeout = 5s\nretries = 0\nfrom = a@example.com\n%s",
                     port, smtp_extra, h.base, h.ca, api_extra);
}

static void check_smtp_then_api(herald_ctx *ctx, long long min_ms)
{
    herald_msg *m = ht_small_message();
    herald_result *res = NULL;
    herald_error *err = NULL;
    long long t0 = dt_ms();
    cr_assert_eq(herald_send(ctx, "smtp", m, &res, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    long long ms = dt_ms() - t0;
    cr_assert_str_eq(herald_result_channel(res), "api");
    cr_assert_str_eq(herald_result_driver(res), "resend");
    cr_assert_eq(herald_result_attempts(res), 2, "retries were spent on a blocked port");
    cr_assert_eq(herald_result_tried_count(res), 2);
    cr_assert_str_eq(herald_result_tried_channel(res, 0), "smtp");
    cr_assert_str_eq(herald_result_tried_channel(res, 1), "api");
    cr_assert_eq(herald_result_tried_class(res, 1), HERALD_OK);
    cr_assert(herald_result_message_id(res));
    cr_assert(ms >= min_ms, "%lld ms", ms);
    json_t *rec = ht_last(&h);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "verdict")), "ok");
    json_decref(rec);
    herald_result_free(res);
    herald_msg_free(m);
}

Test(failover, smtp_refused_goes_to_the_api_at_once)
{
    ht_start(&h);
    char *conf = smtp_then_api(dt_closed_port(), "", "");
    herald_ctx *ctx = dt_open("%s", conf);
    check_smtp_then_api(ctx, 0);
    herald_close(ctx);
    free(conf);
}

Test(failover, smtp_blackholed_costs_one_connect_timeout_then_the_api)
{
    ht_start(&h);
    cr_assert_eq(tu_server_start(&srv, "exec '%s' '%s/tests/support/servers/hostile_smtp.py' "
                                 "--mode backlog-full", tu_python(), tu_srcdir()), 0);
    char *conf = smtp_then_api(srv.port, "", "");
    herald_ctx *ctx = dt_open("%s", conf);
    check_smtp_then_api(ctx, 950);
    herald_close(ctx);
    free(conf);
}

Test(failover, herald_send_json_and_text_name_both_channels)
{
    ht_start(&h);
    char *conf = smtp_then_api(dt_closed_port(), "", "");
    char *path = tu_write_file(tmp, "herald.conf", conf);
    char *json = tu_printf("%s/out.json", tmp);
    int rc = tu_run(NULL, "'%s' -c '%s' send --channel smtp --to ops@example.com "
                    "--subject s --text hi --json > '%s'", tu_cli(), path, json);
    cr_assert_eq(rc, 0);
    char *out = NULL;
    rc = tu_run(&out, "'%s' -c 'import json,sys; d=json.load(open(sys.argv[1])); "
                "print(d[\"status\"], d[\"channel\"], d[\"attempts\"], "
                "[(t[\"channel\"], t[\"class\"]) for t in d[\"tried\"]], "
                "bool(d[\"message_id\"]))' '%s'", tu_python(), json);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_str_eq(out, "sent api 2 [('smtp', 'connect'), ('api', 'ok')] True\n");
    free(out);
    rc = tu_run(&out, "'%s' -c '%s' send --channel smtp --to ops@example.com "
                "--subject s --text hi 2>&1 >/dev/null", tu_cli(), path);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "herald: sent through channel 'api', the fallback of 'smtp' "
                     "(2 attempts)\n  tried: smtp: connect"), "%s", out);
    free(out);

    /* the API refuses too: exit with its class, every attempt listed */
    ht_fault(&h, "{\"status\": 401}");
    rc = tu_run(NULL, "'%s' -c '%s' send --channel smtp --to ops@example.com "
                "--subject s --text hi --json > '%s' 2>/dev/null", tu_cli(), path, json);
    cr_assert_eq(rc, 77);
    rc = tu_run(&out, "'%s' -c 'import json,sys; d=json.load(open(sys.argv[1])); "
                "print(d[\"status\"], d[\"channel\"], d[\"attempts\"], "
                "[(t[\"channel\"], t[\"class\"], t[\"code\"]) for t in d[\"tried\"]], "
                "d[\"error\"][\"class\"])' '%s'", tu_python(), json);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strncmp(out, "failed api 2 [('smtp', 'connect', ", 34) == 0, "%s", out);
    cr_assert(strstr(out, "('api', 'auth', 'missing_api_key')] auth\n"), "%s", out);
    free(out);
    ht_fault(&h, "{\"status\": 401}");
    rc = tu_run(&out, "'%s' -c '%s' send --channel smtp --to ops@example.com "
                "--subject s --text hi 2>&1", tu_cli(), path);
    cr_assert_eq(rc, 77, "%s", out);
    cr_assert(strstr(out, "  tried: smtp: connect"), "%s", out);
    cr_assert(strstr(out, "  tried: api: auth (missing_api_key)"), "%s", out);
    free(out);
    free(json);
    free(path);
    free(conf);
}

/* A failure another channel cannot fix stops the chain. */
Test(failover, message_and_permanent_failures_do_not_fail_over)
{
    char *log = tu_printf("%s/sent", tmp);
    const int classes[] = {HERALD_ERR_PERMANENT, HERALD_ERR_RECIPIENT_REJECTED,
                           HERALD_ERR_SENDER_REJECTED, HERALD_ERR_INVALID_MESSAGE,
                           HERALD_ERR_DELIVERY_UNKNOWN};
    for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
        herald_ctx *ctx = dt_open("[channel a]\ndriver = probe\nfail_first = 9\n"
                                  "fail_class = %d\nretry_after = -1\n"
                                  "fallback = b\n[channel b]\ndriver = probe\n"
                                  "send_log = %s\n", classes[i], log);
        herald_msg *m = dt_msg("x");
        herald_result *res = NULL;
        cr_assert_eq(herald_send(ctx, "a", m, &res, NULL), (herald_class)classes[i]);
        cr_assert_eq(herald_result_tried_count(res), 1, "%s failed over",
                     herald_class_name(classes[i]));
        herald_result_free(res);
        herald_msg_free(m);
        herald_close(ctx);
    }
    cr_assert_eq(dt_count_lines(log, "b\t"), 0);
    free(log);
}

/* prepare_view runs per channel: the fallback's own `unsupported`. */
Test(failover, each_channel_applies_its_own_unsupported)
{
#define UNSUPPORTED_CONF "[channel a]\ndriver = probe\nfail_first = 9\nfail_class = 5\n" \
                         "unsupported = drop\nfallback = b\n" \
                         "[channel b]\ndriver = probe\nunsupported = %s\n"
    for (int drop = 0; drop < 2; drop++) {
        herald_ctx *ctx = dt_open(UNSUPPORTED_CONF, drop ? "drop" : "error");
        herald_msg *m = dt_msg("x");
        cr_assert_eq(herald_msg_add_tag(m, "billing"), HERALD_OK);
        herald_result *res = NULL;
        herald_error *err = NULL;
        herald_class rc = herald_send(ctx, "a", m, &res, &err);
        char *tried = dt_tried(res);
        if (drop) {
            cr_assert_eq(rc, HERALD_OK, "%s", herald_error_message(err));
            cr_assert_str_eq(tried, "a:connect:451, b:ok:-");
        } else {
            /* b cannot take it: the caller gets a's error, b's is listed */
            cr_assert_eq(rc, HERALD_ERR_CONNECT);
            cr_assert_str_eq(tried, "a:connect:451, b:invalid_message:-");
            cr_assert(strstr(herald_result_tried_message(res, 1), "tags"), "%s",
                      herald_result_tried_message(res, 1));
        }
        free(tried);
        herald_error_free(err);
        herald_result_free(res);
        herald_msg_free(m);
        herald_close(ctx);
    }
}

/* a (refused) -> b (503 after its retries) -> c delivers. */
Test(failover, a_longer_chain_walks_to_the_end)
{
    herald_ctx *ctx = dt_open("[herald]\nretry_delay = 10ms\nretry_jitter = 0\n"
                              "[channel a]\ndriver = probe\nfail_first = 9\n"
                              "fail_class = 5\nretry_after = -1\nfallback = b\n"
                              "[channel b]\ndriver = probe\nfail_first = 9\n"
                              "retry_after = -1\nretries = 1\nfallback = c\n"
                              "[channel c]\ndriver = probe\n");
    herald_msg *m = dt_msg("x");
    herald_result *res = NULL;
    cr_assert_eq(herald_send(ctx, "a", m, &res, NULL), HERALD_OK);
    char *tried = dt_tried(res);
    cr_assert_str_eq(tried, "a:connect:451, b:temporary:451, b:temporary:451, c:ok:-");
    cr_assert_str_eq(herald_result_channel(res), "c");
    cr_assert_eq(herald_result_attempts(res), 4);
    free(tried);
    herald_result_free(res);
    herald_msg_free(m);
    herald_close(ctx);
}

/* herald doctor on an SMTP channel whose port is refused checks its API
 * fallback too and says in one line that the mail will go that way. */
Test(failover, doctor_says_the_fallback_will_carry_the_mail)
{
    ht_start(&h);
    char *conf = smtp_then_api(dt_closed_port(), "", "");
    char *path = tu_write_file(tmp, "herald.conf", conf);
    char *out = NULL;
    int rc = tu_run(&out, "'%s' -c '%s' doctor smtp", tu_cli(), path);
    cr_assert_eq(rc, 69, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "FAIL"), "%s", out);
    cr_assert(strstr(out, "OK    SMTP blocked, HTTPS works: your fallback `api` will "
                     "carry the mail\n"), "%s", out);
    free(out);
    /* the API refuses the key: the fallback is not healthy either */
    ht_fault(&h, "{\"status\": 401, \"count\": 5}");
    rc = tu_run(&out, "'%s' -c '%s' doctor smtp", tu_cli(), path);
    cr_assert_eq(rc, 69, "exit %d: %s", rc, out);
    cr_assert(strstr(out, "your fallback `api` is not healthy either"), "%s", out);
    cr_assert(strstr(out, "fix: run `herald doctor api`"), "%s", out);
    free(out);
    free(path);
    free(conf);
}
