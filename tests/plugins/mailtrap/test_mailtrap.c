/* tests/plugins/mailtrap/test_mailtrap.c - the mailtrap driver against the provider
 * test server: production and sandbox modes, JSON mapping, errors. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_testutil.h"

static struct ht h;

static void setup(void)
{
    ht_start(&h);
    ht_open(&h, "mailtrap", "api_token = mt-test");
}

static void teardown(void)
{
    ht_stop(&h);
}

TestSuite(mailtrap, .init = setup, .fini = teardown, .timeout = 30);

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void assert_address(json_t *o, const char *email, const char *name)
{
    cr_assert_str_eq(str(o, "email"), email);
    if (name)
        cr_assert_str_eq(str(o, "name"), name);
    else
        cr_assert_null(json_object_get(o, "name"));
}

Test(mailtrap, maps_every_field_in_production_mode)
{
    ht_open(&h, "mailtrap", "api_token = mt-test\nunsupported = drop");
    herald_msg *m = ht_full_message();   /* two tags: one category only */
    char *id = NULL;
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, &id, &err), HERALD_OK, "%s", herald_error_message(err));
    /* one id per recipient (2 to, 1 cc, 1 bcc), joined by commas */
    cr_assert(id && strlen(id) == 4 * 36 + 3, "ids %s", id ? id : "(none)");

    json_t *rec = ht_last(&h);
    cr_assert_str_eq(str(rec, "verdict"), "ok");
    cr_assert_str_eq(str(rec, "path"), "/api/send");
    cr_assert_str_eq(ht_header(rec, "authorization"), "Bearer mt-test");

    json_t *b = ht_body_json(rec);
    assert_address(json_object_get(b, "from"), HT_FROM_ADDR, HT_FROM_NAME);
    json_t *to = json_object_get(b, "to");
    cr_assert_eq(json_array_size(to), 2);
    assert_address(json_array_get(to, 0), "ops@example.com", "Ops Team");
    assert_address(json_array_get(to, 1), "zoe@example.com", "Zoë Ünal");
    assert_address(json_array_get(json_object_get(b, "cc"), 0), "carol@example.com", "Carol");
    assert_address(json_array_get(json_object_get(b, "bcc"), 0), "dave@example.com", NULL);
    assert_address(json_object_get(b, "reply_to"), "support@example.com", "Support, Team");
    cr_assert_str_eq(str(b, "subject"), HT_SUBJECT);
    cr_assert_str_eq(str(b, "text"), HT_TEXT);
    cr_assert_str_eq(str(b, "html"), HT_HTML);
    cr_assert_str_eq(str(b, "category"), "billing");
    json_t *vars = json_object_get(b, "custom_variables");
    cr_assert_eq(json_object_size(vars), 2);
    cr_assert_str_eq(str(vars, "order_id"), "42");
    cr_assert_str_eq(str(vars, "customer"), "acme");
    cr_assert_str_eq(str(json_object_get(b, "headers"), "X-Ticket"), "T-1234");
    json_t *atts = json_object_get(b, "attachments");
    cr_assert_eq(json_array_size(atts), 2);
    json_t *a0 = json_array_get(atts, 0);
    cr_assert_str_eq(str(a0, "filename"), "data.bin");
    cr_assert_str_eq(str(a0, "type"), "application/octet-stream");
    cr_assert_str_eq(str(a0, "disposition"), "attachment");
    size_t len = 0;
    unsigned char *raw = ht_unbase64(str(a0, "content"), &len);
    cr_assert_eq(len, HT_BIN_LEN);
    cr_assert_eq(memcmp(raw, ht_bin(), len), 0, "data.bin differs");
    free(raw);
    raw = ht_unbase64(str(json_array_get(atts, 1), "content"), &len);
    cr_assert_eq(len, strlen(HT_CSV));
    cr_assert_eq(memcmp(raw, HT_CSV, len), 0);
    free(raw);

    json_decref(b);
    json_decref(rec);
    free(id);
    herald_msg_free(m);
}

Test(mailtrap, sandbox_mode_posts_to_the_inbox)
{
    ht_open(&h, "mailtrap", "api_token = mt-test\nmode = sandbox\ninbox_id = 1234");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    json_t *rec = ht_last(&h);
    cr_assert_str_eq(str(rec, "path"), "/api/send/1234");
    cr_assert_str_eq(str(rec, "verdict"), "ok");
    json_decref(rec);
    herald_msg_free(m);
}

Test(mailtrap, sandbox_defaults_and_errors)
{
    herald_error *err = NULL;
    /* Without base_url, the mode picks the host (seen in a dry run). */
    herald_close(h.ctx);
    h.ctx = NULL;
    cr_assert_eq(herald_open_string("[channel c]\ndriver = mailtrap\napi_token = t\n"
                                    "mode = sandbox\ninbox_id = 77\n", "t.conf", 0, &h.ctx,
                                    &err), HERALD_OK, "%s", herald_error_message(err));
    herald_msg *m = ht_small_message();
    char *out = ht_render(&h, m);
    cr_assert(strncmp(out, "POST https://sandbox.api.mailtrap.io/api/send/77\n", 49) == 0,
              "%s", out);
    free(out);
    herald_close(h.ctx);
    h.ctx = NULL;
    cr_assert_eq(herald_open_string("[channel c]\ndriver = mailtrap\napi_token = t\n",
                                    "t.conf", 0, &h.ctx, &err), HERALD_OK);
    out = ht_render(&h, m);
    cr_assert(strncmp(out, "POST https://send.api.mailtrap.io/api/send\n", 43) == 0, "%s", out);
    free(out);
    herald_close(h.ctx);
    h.ctx = NULL;
    /* sandbox without an inbox */
    cr_assert_eq(herald_open_string("[channel c]\ndriver = mailtrap\napi_token = t\n"
                                    "mode = sandbox\n", "t.conf", HERALD_OPEN_INIT_ALL, &h.ctx, &err),
                 HERALD_ERR_CONFIG);
    cr_assert(ht_has(herald_error_message(err), "inbox_id"), "%s", herald_error_message(err));
    cr_assert(ht_has(herald_error_fix(err), "numeric id"), "fix: %s",
              herald_error_fix(err) ? herald_error_fix(err) : "(none)");
    herald_error_free(err);
    err = NULL;
    /* an inbox the server does not know */
    ht_open(&h, "mailtrap", "api_token = mt-test\nmode = sandbox\ninbox_id = 99");
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_CONFIG);
    cr_assert(ht_has(herald_error_fix(err), "inbox_id = 99"), "%s",
              herald_error_message(err));
    cr_assert(ht_has(herald_error_provider_text(err), "inbox 99 does not exist"), "%s",
              herald_error_provider_text(err));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(mailtrap, wrong_token_is_auth)
{
    ht_open(&h, "mailtrap", "api_token = mt-wrong");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_AUTH);
    cr_assert_str_eq(herald_error_code(err), "401");
    cr_assert_str_eq(herald_error_provider_text(err), "Unauthorized");
    cr_assert(ht_has(herald_error_fix(err), "api_token"), "%s", herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(mailtrap, status_faults_map_to_classes)
{
    const struct ht_fault_case cases[] = {
        {"{\"status\": 400, \"body\": \"{\\\"success\\\": false, \\\"errors\\\": [\\\"'from' "
         "address is invalid\\\", \\\"'subject' is required\\\"]}\"}",
         HERALD_ERR_INVALID_MESSAGE, "400",
         "'from' address is invalid; 'subject' is required", -1, NULL, NULL},
        {"{\"status\": 429, \"headers\": {\"Retry-After\": \"7\"}}", HERALD_ERR_RATE_LIMITED,
         "429", NULL, 7, NULL, NULL},
        {"{\"status\": 500}", HERALD_ERR_TEMPORARY, "500", "injected fault 500", -1, NULL, NULL},
    };
    ht_check_faults(&h, cases, sizeof cases / sizeof cases[0]);
}

Test(mailtrap, dry_run_redacts_the_token)
{
    herald_msg *m = ht_small_message();
    char *out = ht_render(&h, m);
    char *line = tu_printf("POST %s/api/send\n", h.base);
    cr_assert(strncmp(out, line, strlen(line)) == 0, "%s", out);
    cr_assert(ht_has(out, "\nAuthorization: Bearer ***\n"), "%s", out);
    cr_assert(!ht_has(out, "mt-test"), "%s", out);
    free(line);
    free(out);
    herald_msg_free(m);
}

Test(mailtrap, two_tags_is_an_error_naming_tags)
{
    herald_msg *m = ht_small_message();
    herald_msg_add_tag(m, "a");
    herald_msg_add_tag(m, "b");
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(ht_has(herald_error_message(err), "tags"), "%s", herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

/* ---- answers that do not say the message was accepted ----------------- */

#define MT_OK "{\"success\":true,\"message_ids\":[\"0c7fd939-02cf-11ed-88c2-0a58a9feac02\"]}"

Test(mailtrap, only_its_success_answer_counts)
{
    /* (the shared shapes: tests/plugins/kit/http/test_http_conformance.c) */
    /* "success": false with 200 is not a success either */
    char *no = ht_answer_fault("status", 200, "{\"success\":false,\"message_ids\":[\"x\"]}",
                               NULL, NULL, 0);
    ht_fault(&h, "%s", no);
    free(no);
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_DELIVERY_UNKNOWN, "%s",
                 herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

