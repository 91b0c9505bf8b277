/* tests/plugins/sendgrid/test_sendgrid.c - the sendgrid driver against the provider
 * test server, and (through it) the shared HTTP helper's transport: TLS
 * verification, base_url rules, refused connections. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_testutil.h"

static struct ht h;

static void setup(void)
{
    ht_start(&h);
    ht_open(&h, "sendgrid", "api_key = SG.test");
}

static void teardown(void)
{
    ht_stop(&h);
}

TestSuite(sendgrid, .init = setup, .fini = teardown, .timeout = 30);

static void assert_address(json_t *o, const char *email, const char *name)
{
    cr_assert_str_eq(json_string_value(json_object_get(o, "email")), email);
    if (name)
        cr_assert_str_eq(json_string_value(json_object_get(o, "name")), name);
    else
        cr_assert_null(json_object_get(o, "name"), "unexpected name for %s", email);
}

static void assert_attachment(json_t *a, const char *filename, const char *type,
                              const void *data, size_t len)
{
    cr_assert_str_eq(json_string_value(json_object_get(a, "filename")), filename);
    cr_assert_str_eq(json_string_value(json_object_get(a, "type")), type);
    cr_assert_str_eq(json_string_value(json_object_get(a, "disposition")), "attachment");
    size_t got_len = 0;
    unsigned char *got = ht_unbase64(json_string_value(json_object_get(a, "content")),
                                     &got_len);
    cr_assert(got);
    cr_assert_eq(got_len, len);
    cr_assert_eq(memcmp(got, data, len), 0, "%s differs after decoding", filename);
    free(got);
}

Test(sendgrid, maps_every_field)
{
    herald_msg *m = ht_full_message();
    char *id = NULL;
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, &id, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert(id && strlen(id) == 22, "id from X-Message-Id: %s", id ? id : "(none)");

    json_t *rec = ht_last(&h);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "verdict")), "ok");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "method")), "POST");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "path")), "/v3/mail/send");
    cr_assert_str_eq(ht_header(rec, "authorization"), "Bearer SG.test");
    cr_assert_str_eq(ht_header(rec, "content-type"), "application/json");
    cr_assert_str_eq(ht_header(rec, "user-agent"), "herald/" PACKAGE_VERSION);

    json_t *b = ht_body_json(rec);
    json_t *p = json_array_get(json_object_get(b, "personalizations"), 0);
    cr_assert_eq(json_array_size(json_object_get(b, "personalizations")), 1);
    json_t *to = json_object_get(p, "to");
    cr_assert_eq(json_array_size(to), 2);
    assert_address(json_array_get(to, 0), "ops@example.com", "Ops Team");
    assert_address(json_array_get(to, 1), "zoe@example.com", "Zoë Ünal");
    cr_assert_eq(json_array_size(json_object_get(p, "cc")), 1);
    assert_address(json_array_get(json_object_get(p, "cc"), 0), "carol@example.com", "Carol");
    cr_assert_eq(json_array_size(json_object_get(p, "bcc")), 1);
    assert_address(json_array_get(json_object_get(p, "bcc"), 0), "dave@example.com", NULL);
    assert_address(json_object_get(b, "from"), HT_FROM_ADDR, HT_FROM_NAME);
    assert_address(json_object_get(b, "reply_to"), "support@example.com", "Support, Team");
    cr_assert_str_eq(json_string_value(json_object_get(b, "subject")), HT_SUBJECT);

    json_t *content = json_object_get(b, "content");
    cr_assert_eq(json_array_size(content), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(content, 0), "type")),
                     "text/plain");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(content, 0), "value")),
                     HT_TEXT);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(content, 1), "type")),
                     "text/html");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(content, 1), "value")),
                     HT_HTML);

    json_t *atts = json_object_get(b, "attachments");
    cr_assert_eq(json_array_size(atts), 2);
    assert_attachment(json_array_get(atts, 0), "data.bin", "application/octet-stream",
                      ht_bin(), HT_BIN_LEN);
    assert_attachment(json_array_get(atts, 1), "report.csv", "text/csv", HT_CSV,
                      strlen(HT_CSV));

    json_t *cats = json_object_get(b, "categories");
    cr_assert_eq(json_array_size(cats), 2);
    cr_assert_str_eq(json_string_value(json_array_get(cats, 0)), "billing");
    cr_assert_str_eq(json_string_value(json_array_get(cats, 1)), "alerts");
    json_t *args = json_object_get(b, "custom_args");
    cr_assert_eq(json_object_size(args), 2);
    cr_assert_str_eq(json_string_value(json_object_get(args, "order_id")), "42");
    cr_assert_str_eq(json_string_value(json_object_get(args, "customer")), "acme");
    json_t *hdrs = json_object_get(b, "headers");
    cr_assert_eq(json_object_size(hdrs), 1);
    cr_assert_str_eq(json_string_value(json_object_get(hdrs, "X-Ticket")), "T-1234");
    cr_assert_null(json_object_get(b, "mail_settings"));

    json_decref(b);
    json_decref(rec);
    free(id);
    herald_msg_free(m);
}

Test(sendgrid, wrong_key_is_auth_error_with_provider_text)
{
    ht_open(&h, "sendgrid", "api_key = SG.wrong");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_AUTH);
    cr_assert_str_eq(herald_error_code(err), "401");
    cr_assert(ht_has(herald_error_provider_text(err), "authorization grant is invalid"),
              "%s", herald_error_provider_text(err));
    cr_assert(ht_has(herald_error_fix(err), "api_key"), "%s", herald_error_message(err));
    cr_assert(!ht_has(herald_error_message(err), "SG.wrong"));
    cr_assert(!herald_class_retryable(HERALD_ERR_AUTH));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(sendgrid, status_faults_map_to_classes)
{
    char *future = NULL;
    time_t t = time(NULL) + 120;
    char date[64];
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime(&t));
    future = tu_printf("{\"status\": 503, \"headers\": {\"Retry-After\": \"%s\"}}", date);
    const struct ht_fault_case cases[] = {
        {"{\"status\": 400, \"body\": \"{\\\"errors\\\":[{\\\"message\\\":\\\"The from "
         "email does not contain a valid address.\\\",\\\"field\\\":\\\"from.email\\\","
         "\\\"help\\\":null}]}\"}",
         HERALD_ERR_INVALID_MESSAGE, "400", "from email does not contain a valid address",
         -1, "field from.email", NULL},
        {"{\"status\": 413}", HERALD_ERR_INVALID_MESSAGE, "413", NULL, -1, NULL, "too large"},
        {"{\"status\": 401}", HERALD_ERR_AUTH, "401", "injected fault 401", -1, NULL, "api_key"},
        {"{\"status\": 404}", HERALD_ERR_CONFIG, "404", NULL, -1, NULL, "base_url"},
        {"{\"status\": 429, \"headers\": {\"Retry-After\": \"7\"}}",
         HERALD_ERR_RATE_LIMITED, "429", NULL, 7, NULL, "wait 7 s"},
        {"{\"status\": 500}", HERALD_ERR_TEMPORARY, "500", "injected fault 500", -1, NULL, NULL},
        {future, HERALD_ERR_TEMPORARY, "503", NULL, HT_ANY, NULL, NULL},
    };
    ht_check_faults(&h, cases, sizeof cases / sizeof cases[0]);

    /* The HTTP-date came out as about 120 seconds. */
    ht_fault(&h, "%s", future);
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_TEMPORARY);
    long ra = herald_error_retry_after(err);
    cr_assert(ra >= 100 && ra <= 121, "retry_after from an HTTP-date: %ld", ra);
    herald_error_free(err);
    herald_msg_free(m);
    free(future);
}

Test(sendgrid, rate_limit_reset_header_gives_retry_after)
{
    long long at = (long long)time(NULL) + 30;
    ht_fault(&h, "{\"status\": 429, \"headers\": {\"X-RateLimit-Reset\": \"%lld\"}}", at);
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_RATE_LIMITED);
    long ra = herald_error_retry_after(err);
    cr_assert(ra >= 20 && ra <= 30, "retry_after %ld", ra);
    herald_error_free(err);
    herald_msg_free(m);
}

Test(sendgrid, dry_run_shows_the_request_with_the_key_redacted)
{
    herald_msg *m = ht_small_message();
    char *out = ht_render(&h, m);
    char *line = tu_printf("POST %s/v3/mail/send\n", h.base);
    cr_assert(strncmp(out, line, strlen(line)) == 0, "%s", out);
    cr_assert(ht_has(out, "\nAuthorization: Bearer ***\n"), "%s", out);
    cr_assert(ht_has(out, "\nContent-Type: application/json\n"), "%s", out);
    cr_assert(ht_has(out, "\nUser-Agent: herald/" PACKAGE_VERSION "\n"), "%s", out);
    cr_assert(ht_has(out, "\n\n{\"personalizations\":[{\"to\":[{\"email\":\"a@example.com\"}]}]"),
              "%s", out);
    cr_assert(!ht_has(out, "SG.test"), "the key leaked: %s", out);
    json_t *arr = ht_requests(&h);
    cr_assert_eq(json_array_size(arr), 0, "a dry run must not send");
    json_decref(arr);
    free(line);
    free(out);
    herald_msg_free(m);
}

Test(sendgrid, sandbox_mode)
{
    ht_open(&h, "sendgrid", "api_key = SG.test\nsandbox_mode = yes");
    herald_msg *m = ht_small_message();
    char *id = NULL;
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, &id, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert_null(id, "sandbox mode answers 200 without an id");
    json_t *rec = ht_last(&h);
    json_t *b = ht_body_json(rec);
    cr_assert(json_is_true(json_object_get(json_object_get(json_object_get(b,
              "mail_settings"), "sandbox_mode"), "enable")));
    json_decref(b);
    json_decref(rec);
    herald_msg_free(m);
}

static herald_msg *many_tags(int n)
{
    herald_msg *m = ht_small_message();
    for (int i = 0; i < n; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "t%d", i);
        cr_assert_eq(herald_msg_add_tag(m, tag), HERALD_OK);
    }
    return m;
}

Test(sendgrid, more_than_ten_categories_is_an_error_naming_tags)
{
    herald_msg *m = many_tags(11);
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(ht_has(herald_error_message(err), "11 tags"), "%s", herald_error_message(err));
    cr_assert(ht_has(herald_error_message(err), "at most 10"), "%s", herald_error_message(err));
    cr_assert(ht_has(herald_error_fix(err), "unsupported = drop"));
    json_t *arr = ht_requests(&h);
    cr_assert_eq(json_array_size(arr), 0);
    json_decref(arr);
    herald_error_free(err);
    herald_msg_free(m);
}

Test(sendgrid, unsupported_drop_keeps_the_first_ten_categories)
{
    ht_open(&h, "sendgrid", "api_key = SG.test\nunsupported = drop");
    herald_msg *m = many_tags(12);
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    json_t *rec = ht_last(&h);
    json_t *b = ht_body_json(rec);
    json_t *cats = json_object_get(b, "categories");
    cr_assert_eq(json_array_size(cats), 10);
    cr_assert_str_eq(json_string_value(json_array_get(cats, 9)), "t9");
    json_decref(b);
    json_decref(rec);
    herald_msg_free(m);
}

Test(sendgrid, a_message_without_to_is_refused_before_sending)
{
    herald_msg *m = herald_msg_new();
    herald_msg_set_from(m, "bot@example.com");
    herald_msg_add_bcc(m, "b@example.com");
    herald_msg_set_text(m, "x");
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(ht_has(herald_error_message(err), "To recipient"), "%s",
              herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

/* ---- the shared transport, seen through this driver ------------------ */

static herald_class open_raw(const char *conf, herald_error **err_r)
{
    herald_close(h.ctx);
    h.ctx = NULL;
    return herald_open_string(conf, "t.conf", HERALD_OPEN_INIT_ALL, &h.ctx, err_r);
}

Test(sendgrid, untrusted_certificate_is_a_tls_error)
{
    char *conf = tu_printf("[channel c]\ndriver = sendgrid\napi_key = SG.test\n"
                           "base_url = %s\ntimeout = 5s\nca_file = %s/selfsigned.pem\n",
                           h.base, h.certs);
    herald_error *err = NULL;
    cr_assert_eq(open_raw(conf, &err), HERALD_OK, "%s", herald_error_message(err));
    herald_msg *m = ht_small_message();
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_TLS, "%s", herald_error_message(err));
    cr_assert(ht_has(herald_error_fix(err), "ca_file"), "%s", herald_error_message(err));
    herald_error_free(err);
    json_t *arr = ht_requests(&h);
    cr_assert_eq(json_array_size(arr), 0, "nothing may be sent over an unverified TLS");
    json_decref(arr);
    free(conf);
    herald_msg_free(m);
}

Test(sendgrid, tls_verify_no_accepts_any_certificate)
{
    char *conf = tu_printf("[channel c]\ndriver = sendgrid\napi_key = SG.test\n"
                           "base_url = %s\ntimeout = 5s\ntls_verify = no\n"
                           "ca_file = %s/selfsigned.pem\n", h.base, h.certs);
    herald_error *err = NULL;
    cr_assert_eq(open_raw(conf, &err), HERALD_OK, "%s", herald_error_message(err));
    herald_msg *m = ht_small_message();
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    free(conf);
    herald_msg_free(m);
}

Test(sendgrid, plain_http_only_to_loopback)
{
    herald_error *err = NULL;
    cr_assert_eq(open_raw("[channel c]\ndriver = sendgrid\napi_key = SG.test\n"
                          "base_url = http://api.example.com\n", &err),
                 HERALD_ERR_CONFIG);
    cr_assert(ht_has(herald_error_message(err), "base_url = http://api.example.com"),
              "%s", herald_error_message(err));
    cr_assert(ht_has(herald_error_message(err), "loopback"), "%s", herald_error_message(err));
    herald_error_free(err);
    err = NULL;
    static const char *const refused[] = {
        "ftp://127.0.0.1/", "http://127.evil.example/", "https://u:p@api.example.com",
        "https://api.example.com/?x=1", "api.example.com"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        char *conf = tu_printf("[channel c]\ndriver = sendgrid\napi_key = SG.test\n"
                               "base_url = %s\n", refused[i]);
        cr_assert_eq(open_raw(conf, &err), HERALD_ERR_CONFIG, "%s accepted", refused[i]);
        cr_assert(ht_has(herald_error_message(err), "base_url"), "%s",
                  herald_error_message(err));
        herald_error_free(err);
        err = NULL;
        free(conf);
    }
    cr_assert_eq(open_raw("[channel c]\ndriver = sendgrid\napi_key = SG.test\n"
                          "base_url = http://127.0.0.1:9/gateway/\n", &err), HERALD_OK,
                 "%s", herald_error_message(err));
    /* A path prefix in base_url is kept, its trailing slash is not doubled. */
    herald_msg *m = ht_small_message();
    char *out = ht_render(&h, m);
    cr_assert(ht_has(out, "POST http://127.0.0.1:9/gateway/v3/mail/send\n"), "%s", out);
    free(out);
    herald_msg_free(m);
}

Test(sendgrid, refused_connection_is_connect)
{
    herald_error *err = NULL;
    cr_assert_eq(open_raw("[channel c]\ndriver = sendgrid\napi_key = SG.test\n"
                          "base_url = https://127.0.0.1:1\ntimeout = 5s\n", &err), HERALD_OK);
    herald_msg *m = ht_small_message();
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_CONNECT, "%s",
                 herald_error_message(err));
    cr_assert(ht_has(herald_error_message(err), "127.0.0.1:1"), "%s", herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(sendgrid, plain_http_to_the_test_server)
{
    /* A second server in --plain mode, for the http:// loopback path. */
    struct tu_server plain;
    cr_assert_eq(tu_server_start(&plain, "exec %s '%s/tests/support/servers/providers.py' --plain",
                                 tu_python(), tu_srcdir()), 0);
    char *conf = tu_printf("[channel c]\ndriver = sendgrid\napi_key = SG.test\n"
                           "base_url = http://127.0.0.1:%d\ntimeout = 5s\n", plain.port);
    herald_error *err = NULL;
    cr_assert_eq(open_raw(conf, &err), HERALD_OK, "%s", herald_error_message(err));
    herald_msg *m = ht_small_message();
    herald_class rc = ht_send(&h, m, NULL, &err);
    tu_server_stop(&plain);
    cr_assert_eq(rc, HERALD_OK, "%s", herald_error_message(err));
    free(conf);
    herald_msg_free(m);
}

Test(sendgrid, proxy_option_is_used)
{
    /* Nothing listens on port 1: a request that honours the proxy fails to
     * connect there.  (A loopback base_url never goes through a proxy, so
     * the base is a name only the proxy could resolve.)  The fix named is
     * the proxy setting, not base_url. */
    char *conf = tu_printf("[channel c]\ndriver = sendgrid\napi_key = SG.test\n"
                           "base_url = https://api.example.invalid\nca_file = %s\n"
                           "timeout = 5s\nproxy = http://127.0.0.1:1\n", h.ca);
    herald_error *err = NULL;
    cr_assert_eq(open_raw(conf, &err), HERALD_OK, "%s", herald_error_message(err));
    herald_msg *m = ht_small_message();
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_CONNECT, "%s",
                 herald_error_message(err));
    const char *why = herald_error_message(err);
    cr_assert(ht_has(why, "failed at the proxy") &&
              ht_has(herald_error_fix(err), "check the proxy setting in [channel c]"),
              "%s", why);
    cr_assert(!ht_has(why, "base_url"), "a proxy failure is no base_url problem: %s", why);
    herald_error_free(err);
    err = NULL;
    json_t *arr = ht_requests(&h);
    cr_assert_eq(json_array_size(arr), 0);
    json_decref(arr);
    free(conf);
    /* proxy = none: straight to the server, whatever the environment says */
    setenv("https_proxy", "http://127.0.0.1:1", 1);
    setenv("HTTPS_PROXY", "http://127.0.0.1:1", 1);
    conf = tu_printf("[channel c]\ndriver = sendgrid\napi_key = SG.test\n"
                     "base_url = %s\nca_file = %s\ntimeout = 5s\nproxy = none\n",
                     h.base, h.ca);
    cr_assert_eq(open_raw(conf, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    free(conf);
    herald_msg_free(m);
}

/* ---- answers that do not say the message was accepted ----------------- */

Test(sendgrid, only_its_success_answer_counts)
{
    /* (the shared shapes: tests/plugins/kit/http/test_http_conformance.c) */
    /* an id header, but a login page for a body: a captive portal's */
    char *page = ht_answer_fault("status", 200, "<html>Sign in</html>", "X-Message-Id",
                                 "abc", 0);
    ht_fault(&h, "%s", page);
    free(page);
    herald_msg *p = ht_small_message();
    herald_error *perr = NULL;
    cr_assert_eq(ht_send(&h, p, NULL, &perr), HERALD_ERR_DELIVERY_UNKNOWN, "%s",
                 herald_error_message(perr));
    cr_assert(ht_has(herald_error_message(perr), "a body where none belongs"), "%s",
              herald_error_message(perr));
    herald_error_free(perr);
    herald_msg_free(p);
    /* 202 and an empty body, but no id: not SendGrid's answer */
    ht_fault(&h, "{\"status\": 202, \"body\": \"\"}");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_DELIVERY_UNKNOWN, "%s",
                 herald_error_message(err));
    cr_assert(ht_has(herald_error_message(err), "no X-Message-Id header"), "%s",
              herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

