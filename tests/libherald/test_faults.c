/* tests/libherald/test_faults.c - the fault matrix of issue 10 through
 * real servers, each with its expected class, number of attempts and
 * outcome: the smtp driver against tests/support/servers/hostile_smtp.py (refused,
 * filtered, no greeting, drop during DATA, 421, 451 then 250, 550, TLS
 * failure) and the resend driver against tests/support/servers/providers.py (429
 * with Retry-After in seconds and as an HTTP date, the wait measured; 500
 * then 200; 503 until the retries run out; 401; reset mid-response and
 * a truncated answer, resent only with an idempotency key). */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deliver_util.h"
#include "http_testutil.h"

static char *tmp, *capture;
static struct tu_server srv;

static void smtp_setup(void)
{
    tmp = tu_mkdtemp();
    cr_assert(tmp);
    capture = tu_printf("%s/capture", tmp);
}

static void smtp_teardown(void)
{
    tu_server_stop(&srv);
    tu_rmrf(tmp);
    free(tmp);
    free(capture);
}

TestSuite(smtp_faults, .init = smtp_setup, .fini = smtp_teardown, .timeout = 60);

static void hostile(const char *args)
{
    cr_assert_eq(tu_server_start(&srv, "exec '%s' '%s/tests/support/servers/hostile_smtp.py' "
                                 "--capture '%s' %s", tu_python(), tu_srcdir(),
                                 capture, args), 0, "hostile_smtp.py %s did not start",
                 args);
}

struct outcome {
    herald_class rc;
    unsigned attempts;
    long long ms;
    char *tried;
    char *message;
};

static void outcome_free(struct outcome *o)
{
    free(o->tried);
    free(o->message);
}

/* One message through an smtp channel to @port with @extra settings;
 * retries = 1 after 50 ms unless @extra says otherwise. */
static struct outcome smtp_send(int port, const char *extra)
{
    herald_ctx *ctx = dt_open("[channel smtp]\ndriver = smtp\nhost = 127.0.0.1\n"
                              "port = %d\nconnect_timeout = 1s\n"
                              "greeting_timeout = 1s\ncommand_timeout = 2s\n"
                              "data_timeout = 2s\nretry_delay = 50ms\n"
                              "retry_jitter = 0\n%s%s%s", port,
                              strstr(extra, "tls =") ? "" : "tls = none\n",
                              strstr(extra, "retries") ? "" : "retries = 1\n", extra);
    herald_msg *m = dt_msg("fault");
    herald_result *res = NULL;
    herald_error *err = NULL;
    struct outcome o;
    long long t0 = dt_ms();
    o.rc = herald_send(ctx, "smtp", m, &res, &err);
    o.ms = dt_ms() - t0;
    o.attempts = herald_result_attempts(res);
    o.tried = dt_tried(res);
    o.message = strdup(err ? herald_error_message(err) : "");
    herald_result_free(res);
    herald_error_free(err);
    herald_msg_free(m);
    herald_close(ctx);
    return o;
}

#define EXPECT(o, cls, n) do { \
        cr_assert_eq((o).rc, (cls), "class %s, expected %s: %s [%s]", \
                     herald_class_name((o).rc), herald_class_name(cls), \
                     (o).message, (o).tried); \
        cr_assert_eq((o).attempts, (n), "%u attempts, expected %u [%s]", \
                     (o).attempts, (unsigned)(n), (o).tried); \
    } while (0)

/* Start the server with @args (none: no server, a refused port), send,
 * and check the class, the number of attempts and (when not NULL) the
 * attempt list.  Returns the outcome for more checks (free it). */
static struct outcome smtp_case(const char *args, const char *extra, herald_class cls,
                                unsigned attempts, const char *tried)
{
    if (args)
        hostile(args);
    struct outcome o = smtp_send(args ? srv.port : dt_closed_port(), extra);
    EXPECT(o, cls, attempts);
    if (tried)
        cr_assert_str_eq(o.tried, tried);
    return o;
}

Test(smtp_faults, refused_is_retried_then_returned)
{
    struct outcome o = smtp_case(NULL, "", HERALD_ERR_CONNECT, 2, NULL);
    cr_assert(strstr(o.tried, "smtp:connect"), "%s", o.tried);
    outcome_free(&o);
}

Test(smtp_faults, filtered_port_times_out_on_each_attempt)
{
    struct outcome o = smtp_case("--mode backlog-full", "", HERALD_ERR_TIMEOUT, 2, NULL);
    cr_assert(o.ms >= 1900, "two 1 s connect timeouts took %lld ms", o.ms);
    outcome_free(&o);
}

Test(smtp_faults, no_greeting_times_out)
{
    struct outcome o = smtp_case("--mode greeting-silent", "", HERALD_ERR_TIMEOUT, 2, NULL);
    outcome_free(&o);
}

/* Dropped at DATA, before the message: nothing was accepted, so it is a
 * connection failure and safe to try again. */
Test(smtp_faults, drop_during_data_is_retried)
{
    struct outcome o = smtp_case("--mode data-drop", "", HERALD_ERR_CONNECT, 2, NULL);
    cr_assert_eq(dt_count_lines(capture, "-- connect "), 2);
    outcome_free(&o);
}

Test(smtp_faults, greeting_421_is_retried_and_delivered)
{
    struct outcome o = smtp_case("--greetings '421 4.3.2 too busy, try later'", "",
                                 HERALD_OK, 2, "smtp:temporary:421, smtp:ok:-");
    outcome_free(&o);
}

Test(smtp_faults, reply_451_then_250_is_delivered_on_the_retry)
{
    struct outcome o = smtp_case("--dot-replies '451 4.3.0 try again later'", "",
                                 HERALD_OK, 2, "smtp:temporary:451, smtp:ok:-");
    outcome_free(&o);
}

Test(smtp_faults, reply_550_is_not_retried)
{
    struct outcome o = smtp_case("--dot-replies '550 5.7.1 message refused'",
                                 "retries = 3\n", HERALD_ERR_PERMANENT, 1,
                                 "smtp:permanent:550");
    cr_assert_eq(dt_count_lines(capture, "C: DATA"), 1);
    outcome_free(&o);
}

/* tls = starttls to a server that offers no STARTTLS: a TLS failure,
 * which another try at the same server cannot fix. */
Test(smtp_faults, tls_failure_is_not_retried)
{
    struct outcome o = smtp_case("--mode r3-no-starttls", "tls = starttls\nretries = 3\n",
                                 HERALD_ERR_TLS, 1, NULL);
    outcome_free(&o);
}

/* ---- HTTP: the resend driver against the provider test server ---------- */

static struct ht h;

static void http_setup(void)
{
    ht_start(&h);
    ht_open(&h, "resend", "api_key = re_test\nretries = 2\nretry_delay = 50ms\n"
            "retry_jitter = 0");
}

static void http_teardown(void)
{
    ht_stop(&h);
}

TestSuite(http_faults, .init = http_setup, .fini = http_teardown, .timeout = 60);

static struct outcome http_send(const char *idempotency_key)
{
    herald_msg *m = ht_small_message();
    if (idempotency_key)
        cr_assert_eq(herald_msg_set_idempotency_key(m, idempotency_key), HERALD_OK);
    herald_result *res = NULL;
    herald_error *err = NULL;
    struct outcome o;
    long long t0 = dt_ms();
    o.rc = herald_send(h.ctx, "c", m, &res, &err);
    o.ms = dt_ms() - t0;
    o.attempts = herald_result_attempts(res);
    o.tried = dt_tried(res);
    o.message = strdup(err ? herald_error_message(err) : "");
    herald_result_free(res);
    herald_error_free(err);
    herald_msg_free(m);
    return o;
}

static size_t requests(void)
{
    json_t *r = ht_requests(&h);
    size_t n = json_array_size(r);
    json_decref(r);
    return n;
}

/* Inject @fault, send (with @key as the idempotency key when not NULL),
 * check class, attempts, the attempt list (when not NULL) and how many
 * requests reached the server (when @reqs >= 0). */
static struct outcome http_case(const char *fault, const char *key, herald_class cls,
                                unsigned attempts, const char *tried, long reqs)
{
    ht_fault(&h, "%s", fault);
    struct outcome o = http_send(key);
    EXPECT(o, cls, attempts);
    if (tried)
        cr_assert_str_eq(o.tried, tried);
    if (reqs >= 0)
        cr_assert_eq(requests(), (size_t)reqs);
    return o;
}

Test(http_faults, status_429_with_retry_after_seconds_is_waited_for)
{
    struct outcome o = http_case("{\"status\": 429, \"headers\": {\"Retry-After\": \"1\"}}",
                                 NULL, HERALD_OK, 2,
                                 "c:rate_limited:rate_limit_exceeded, c:ok:-", 2);
    cr_assert(o.ms >= 950, "Retry-After: 1 not honoured: %lld ms", o.ms);
    fprintf(stderr, "http_faults: Retry-After 1 s: delivered after %lld ms\n", o.ms);
    outcome_free(&o);
}

Test(http_faults, status_429_with_retry_after_http_date_is_waited_for)
{
    char date[64];
    time_t when = time(NULL) + 2;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    ht_fault(&h, "{\"status\": 429, \"headers\": {\"Retry-After\": \"%s\"}}", date);
    herald_msg *m = ht_small_message();
    herald_result *res = NULL;
    long long t0 = dt_ms();
    cr_assert_eq(herald_send(h.ctx, "c", m, &res, NULL), HERALD_OK);
    long long ms = dt_ms() - t0;
    long long hint = herald_result_tried_delay_ms(res, 1);
    cr_assert(hint >= 1000 && hint <= 2000, "the date gave a %lld ms hint", hint);
    cr_assert(ms >= hint - 50, "waited %lld ms for a %lld ms hint", ms, hint);
    cr_assert_eq(herald_result_attempts(res), 2);
    fprintf(stderr, "http_faults: Retry-After date: hint %lld ms, delivered after "
            "%lld ms\n", hint, ms);
    herald_result_free(res);
    herald_msg_free(m);
}

Test(http_faults, status_500_then_200_is_delivered)
{
    struct outcome o = http_case("{\"status\": 500}", NULL, HERALD_OK, 2,
                                 "c:temporary:application_error, c:ok:-", 2);
    outcome_free(&o);
}

Test(http_faults, status_503_until_the_retries_run_out_lists_every_attempt)
{
    struct outcome o = http_case("{\"status\": 503, \"count\": 10}", NULL,
                                 HERALD_ERR_TEMPORARY, 3,
                                 "c:temporary:application_error, "
                                 "c:temporary:application_error, "
                                 "c:temporary:application_error", 3);
    outcome_free(&o);
}

Test(http_faults, status_401_is_not_retried)
{
    struct outcome o = http_case("{\"status\": 401}", NULL, HERALD_ERR_AUTH, 1, NULL, 1);
    outcome_free(&o);
}

/* A reset after the whole request went out: the provider may have taken
 * it, so it is delivery unknown, never resent without a key; with the
 * key (Resend honours Idempotency-Key) the core sends it again. */
Test(http_faults, reset_mid_response_is_resent_only_with_an_idempotency_key)
{
    struct outcome o = http_case("{\"mode\": \"reset\"}", NULL,
                                 HERALD_ERR_DELIVERY_UNKNOWN, 1, NULL, 1);
    cr_assert(strstr(o.message, "may or may not have been delivered"), "%s", o.message);
    outcome_free(&o);
    o = http_case("{\"mode\": \"reset\"}", "order-77", HERALD_OK, 2,
                  "c:delivery_unknown:-, c:ok:-", 3);
    json_t *r = ht_requests(&h);
    cr_assert_str_eq(ht_header(json_array_get(r, 2), "idempotency-key"), "order-77");
    json_decref(r);
    outcome_free(&o);
}

/* The answer is lost after the request went out (a truncated 200): with
 * an idempotency key Resend honours, the core may send it again (and the
 * provider answers the first id); without one it must not. */
#define TRUNCATED "{\"mode\": \"truncate\", \"status\": 200, \"body\": " \
    "\"{\\\"id\\\": \\\"4ef9a417-02e9-4d39-ad75-9611e0fcc33c\\\"}\"}"
Test(http_faults, a_lost_answer_is_resent_only_with_an_idempotency_key)
{
    struct outcome o = http_case(TRUNCATED, NULL, HERALD_ERR_DELIVERY_UNKNOWN, 1, NULL, 1);
    outcome_free(&o);
    o = http_case(TRUNCATED, "order-1234", HERALD_OK, 2, "c:delivery_unknown:-, c:ok:-", 3);
    outcome_free(&o);
}
