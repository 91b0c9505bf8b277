/* tests/plugins/resend/test_resend.c - the resend driver against the provider test
 * server: JSON mapping, Bearer auth, Idempotency-Key and 409s, errors. */
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
    ht_open(&h, "resend", "api_key = re_test");
}

static void teardown(void)
{
    ht_stop(&h);
}

TestSuite(resend, .init = setup, .fini = teardown, .timeout = 30);

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

Test(resend, maps_every_field)
{
    ht_open(&h, "resend", "api_key = re_test\nunsupported = drop");
    herald_msg *m = ht_full_message();   /* metadata dropped: Resend has none */
    char *id = NULL;
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, &id, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert(id && strlen(id) == 36, "id %s", id ? id : "(none)");

    json_t *rec = ht_last(&h);
    cr_assert_str_eq(str(rec, "verdict"), "ok");
    cr_assert_str_eq(str(rec, "path"), "/emails");
    cr_assert_str_eq(ht_header(rec, "authorization"), "Bearer re_test");
    cr_assert_str_eq(ht_header(rec, "user-agent"), "herald/" PACKAGE_VERSION);
    cr_assert_null(ht_header(rec, "idempotency-key"));

    json_t *b = ht_body_json(rec);
    cr_assert_str_eq(str(b, "from"), HT_FROM_NAME " <" HT_FROM_ADDR ">");
    json_t *to = json_object_get(b, "to");
    cr_assert_eq(json_array_size(to), 2);
    cr_assert_str_eq(json_string_value(json_array_get(to, 0)), "Ops Team <ops@example.com>");
    cr_assert_str_eq(json_string_value(json_array_get(to, 1)), "Zoë Ünal <zoe@example.com>");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(b, "cc"), 0)),
                     "Carol <carol@example.com>");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(b, "bcc"), 0)),
                     "dave@example.com");
    cr_assert_str_eq(str(b, "reply_to"), "\"Support, Team\" <support@example.com>");
    cr_assert_str_eq(str(b, "subject"), HT_SUBJECT);
    cr_assert_str_eq(str(b, "text"), HT_TEXT);
    cr_assert_str_eq(str(b, "html"), HT_HTML);
    cr_assert_str_eq(str(json_object_get(b, "headers"), "X-Ticket"), "T-1234");
    json_t *atts = json_object_get(b, "attachments");
    cr_assert_eq(json_array_size(atts), 2);
    json_t *a0 = json_array_get(atts, 0);
    cr_assert_str_eq(str(a0, "filename"), "data.bin");
    cr_assert_str_eq(str(a0, "content_type"), "application/octet-stream");
    size_t len = 0;
    unsigned char *raw = ht_unbase64(str(a0, "content"), &len);
    cr_assert_eq(len, HT_BIN_LEN);
    cr_assert_eq(memcmp(raw, ht_bin(), len), 0, "data.bin differs");
    free(raw);
    raw = ht_unbase64(str(json_array_get(atts, 1), "content"), &len);
    cr_assert_eq(len, strlen(HT_CSV));
    cr_assert_eq(memcmp(raw, HT_CSV, len), 0);
    free(raw);
    json_t *tags = json_object_get(b, "tags");
    cr_assert_eq(json_array_size(tags), 2);
    cr_assert_str_eq(str(json_array_get(tags, 0), "name"), "billing");
    cr_assert_str_eq(str(json_array_get(tags, 0), "value"), "true");
    cr_assert_str_eq(str(json_array_get(tags, 1), "name"), "alerts");
    cr_assert_null(json_object_get(b, "metadata"));

    json_decref(b);
    json_decref(rec);
    free(id);
    herald_msg_free(m);
}

Test(resend, idempotency_key_goes_in_the_header)
{
    herald_msg *m = ht_small_message();
    herald_msg_set_idempotency_key(m, "order-42/confirmation");
    char *id1 = NULL, *id2 = NULL;
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, &id1, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert_eq(ht_send(&h, m, &id2, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert_str_eq(id1, id2, "the same key and body must give the same id");
    json_t *rec = ht_last(&h);
    cr_assert_str_eq(ht_header(rec, "idempotency-key"), "order-42/confirmation");
    json_decref(rec);

    /* The same key with another message: 409, the caller's mistake. */
    herald_msg_set_subject(m, "another subject");
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert_str_eq(herald_error_code(err), "invalid_idempotent_request");
    cr_assert(ht_has(herald_error_provider_text(err), "different request payload"));
    cr_assert(ht_has(herald_error_fix(err), "new key"), "%s", herald_error_message(err));
    herald_error_free(err);
    free(id1);
    free(id2);
    herald_msg_free(m);
}

Test(resend, concurrent_idempotent_request_is_temporary)
{
    const struct ht_fault_case cases[] = {
        {"{\"status\": 409, \"body\": \"{\\\"statusCode\\\": 409, \\\"name\\\": "
         "\\\"concurrent_idempotent_requests\\\", \\\"message\\\": \\\"Same idempotency key "
         "used while original request is still in progress.\\\"}\"}",
         HERALD_ERR_TEMPORARY, "concurrent_idempotent_requests", "still in progress", -1,
         NULL, "retry"},
    };
    ht_check_faults(&h, cases, 1);
}

Test(resend, wrong_key_is_auth)
{
    ht_open(&h, "resend", "api_key = re_wrong");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_AUTH);
    cr_assert_str_eq(herald_error_code(err), "invalid_api_key");
    cr_assert_str_eq(herald_error_provider_text(err), "API key is invalid");
    cr_assert(ht_has(herald_error_message(err), "api_key"), "%s", herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(resend, status_faults_map_to_classes)
{
    const struct ht_fault_case cases[] = {
        {"{\"status\": 422, \"body\": \"{\\\"statusCode\\\": 422, \\\"name\\\": "
         "\\\"validation_error\\\", \\\"message\\\": \\\"Invalid `to` field.\\\"}\"}",
         HERALD_ERR_INVALID_MESSAGE, "validation_error", "Invalid `to` field.", -1, NULL, NULL},
        {"{\"status\": 429, \"headers\": {\"Retry-After\": \"7\"}}", HERALD_ERR_RATE_LIMITED,
         "rate_limit_exceeded", NULL, 7, NULL, NULL},
        {"{\"status\": 500}", HERALD_ERR_TEMPORARY, "application_error", "injected fault 500",
         -1, NULL, NULL},
    };
    ht_check_faults(&h, cases, sizeof cases / sizeof cases[0]);
}

Test(resend, dry_run_redacts_the_key)
{
    herald_msg *m = ht_small_message();
    herald_msg_set_idempotency_key(m, "k-1");
    char *out = ht_render(&h, m);
    char *line = tu_printf("POST %s/emails\n", h.base);
    cr_assert(strncmp(out, line, strlen(line)) == 0, "%s", out);
    cr_assert(ht_has(out, "\nAuthorization: Bearer ***\n"), "%s", out);
    cr_assert(ht_has(out, "\nIdempotency-Key: k-1\n"), "%s", out);
    cr_assert(ht_has(out, "\n\n{\"from\":\"Bot <bot@example.com>\",\"to\":[\"a@example.com\"]"),
              "%s", out);
    cr_assert(!ht_has(out, "re_test"), "%s", out);
    free(line);
    free(out);
    herald_msg_free(m);
}

Test(resend, metadata_is_refused_naming_the_field)
{
    herald_msg *m = ht_small_message();
    herald_msg_set_metadata(m, "k", "v");
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(ht_has(herald_error_message(err), "metadata"), "%s", herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(resend, more_than_fifty_to_is_refused)
{
    herald_msg *m = ht_small_message();
    for (int i = 0; i < 50; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "u%d@example.com", i);
        herald_msg_add_to(m, addr);
    }
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(ht_has(herald_error_message(err), "51 To recipients"), "%s",
              herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

/* ---- answers that do not say the message was accepted ----------------- */

#define RS_OK "{\"id\":\"4ef9a417-02e9-4d39-ad75-9611e0fcc33c\"}"

