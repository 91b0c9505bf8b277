/* tests/plugins/postmark/test_postmark.c - the postmark driver against the provider
 * test server: JSON mapping, server token, MessageStream, ErrorCodes. */
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
    ht_open(&h, "postmark", "server_token = pm-test");
}

static void teardown(void)
{
    ht_stop(&h);
}

TestSuite(postmark, .init = setup, .fini = teardown, .timeout = 30);

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Log lines, to see what `unsupported = drop` reports. */
static char logged[4096];

static void capture(herald_log_level level, const char *channel, const char *line,
                    void *user)
{
    (void)level;
    (void)channel;
    (void)user;
    strncat(logged, line, sizeof logged - strlen(logged) - 2);
    strcat(logged, "\n");
}

Test(postmark, maps_every_field)
{
    ht_open(&h, "postmark", "server_token = pm-test\nmessage_stream = broadcast\n"
                            "unsupported = drop");
    herald_set_log_handler(h.ctx, HERALD_LOG_WARNING, capture, NULL);
    herald_msg *m = ht_full_message();   /* two tags: Postmark takes one */
    char *id = NULL;
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, &id, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert(id && strlen(id) == 36, "MessageID %s", id ? id : "(none)");
    cr_assert(ht_has(logged, "dropping 1 of the message's 2 tags"), "log: %s", logged);

    json_t *rec = ht_last(&h);
    cr_assert_str_eq(str(rec, "verdict"), "ok");
    cr_assert_str_eq(str(rec, "path"), "/email");
    cr_assert_str_eq(ht_header(rec, "x-postmark-server-token"), "pm-test");
    cr_assert_str_eq(ht_header(rec, "accept"), "application/json");
    cr_assert_null(ht_header(rec, "authorization"));

    json_t *b = ht_body_json(rec);
    cr_assert_str_eq(str(b, "From"), HT_FROM_NAME " <" HT_FROM_ADDR ">");
    cr_assert_str_eq(str(b, "To"), "Ops Team <ops@example.com>, Zoë Ünal <zoe@example.com>");
    cr_assert_str_eq(str(b, "Cc"), "Carol <carol@example.com>");
    cr_assert_str_eq(str(b, "Bcc"), "dave@example.com");
    cr_assert_str_eq(str(b, "ReplyTo"), "\"Support, Team\" <support@example.com>");
    cr_assert_str_eq(str(b, "Subject"), HT_SUBJECT);
    cr_assert_str_eq(str(b, "TextBody"), HT_TEXT);
    cr_assert_str_eq(str(b, "HtmlBody"), HT_HTML);
    json_t *hdr = json_array_get(json_object_get(b, "Headers"), 0);
    cr_assert_str_eq(str(hdr, "Name"), "X-Ticket");
    cr_assert_str_eq(str(hdr, "Value"), "T-1234");
    cr_assert_str_eq(str(b, "Tag"), "billing");
    json_t *meta = json_object_get(b, "Metadata");
    cr_assert_eq(json_object_size(meta), 2);
    cr_assert_str_eq(str(meta, "order_id"), "42");
    cr_assert_str_eq(str(meta, "customer"), "acme");
    cr_assert_str_eq(str(b, "MessageStream"), "broadcast");
    json_t *atts = json_object_get(b, "Attachments");
    cr_assert_eq(json_array_size(atts), 2);
    json_t *a0 = json_array_get(atts, 0);
    cr_assert_str_eq(str(a0, "Name"), "data.bin");
    cr_assert_str_eq(str(a0, "ContentType"), "application/octet-stream");
    size_t len = 0;
    unsigned char *raw = ht_unbase64(str(a0, "Content"), &len);
    cr_assert_eq(len, HT_BIN_LEN);
    cr_assert_eq(memcmp(raw, ht_bin(), len), 0, "data.bin differs");
    free(raw);
    raw = ht_unbase64(str(json_array_get(atts, 1), "Content"), &len);
    cr_assert_eq(len, strlen(HT_CSV));
    cr_assert_eq(memcmp(raw, HT_CSV, len), 0);
    free(raw);

    json_decref(b);
    json_decref(rec);
    free(id);
    herald_msg_free(m);
}

Test(postmark, no_message_stream_option_sends_none)
{
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    json_t *rec = ht_last(&h);
    json_t *b = ht_body_json(rec);
    cr_assert_null(json_object_get(b, "MessageStream"));
    cr_assert_null(json_object_get(b, "Tag"));
    json_decref(b);
    json_decref(rec);
    herald_msg_free(m);
}

Test(postmark, two_tags_is_an_error_naming_tags)
{
    herald_msg *m = ht_small_message();
    herald_msg_add_tag(m, "a");
    herald_msg_add_tag(m, "b");
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(ht_has(herald_error_message(err), "2 tags and postmark takes at most 1"), "%s",
              herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(postmark, unknown_stream_is_config)
{
    ht_open(&h, "postmark", "server_token = pm-test\nmessage_stream = nosuch");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_CONFIG);
    cr_assert_str_eq(herald_error_code(err), "1235");
    cr_assert(ht_has(herald_error_fix(err), "message_stream"), "%s",
              herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(postmark, wrong_token_is_auth_with_error_code_10)
{
    ht_open(&h, "postmark", "server_token = pm-wrong");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_AUTH);
    cr_assert_str_eq(herald_error_code(err), "10");
    cr_assert(ht_has(herald_error_provider_text(err), "Server Token you provided"), "%s",
              herald_error_provider_text(err));
    cr_assert(ht_has(herald_error_fix(err), "server_token"), "%s",
              herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(postmark, status_faults_map_to_classes)
{
    const struct ht_fault_case cases[] = {
        {"{\"status\": 422, \"body\": \"{\\\"ErrorCode\\\": 300, \\\"Message\\\": \\\"Invalid "
         "'To' address: 'x'.\\\"}\"}",
         HERALD_ERR_INVALID_MESSAGE, "300", "Invalid 'To' address", -1, NULL, NULL},
        {"{\"status\": 422, \"body\": \"{\\\"ErrorCode\\\": 406, \\\"Message\\\": \\\"You tried "
         "to send to recipient(s) that have been marked as inactive.\\\"}\"}",
         HERALD_ERR_RECIPIENT_REJECTED, "406", "marked as inactive", -1, NULL, "reactivate"},
        {"{\"status\": 422, \"body\": \"{\\\"ErrorCode\\\": 400, \\\"Message\\\": \\\"The 'From'"
         " address you supplied is not a Sender Signature.\\\"}\"}",
         HERALD_ERR_SENDER_REJECTED, "400", "not a Sender Signature", -1, NULL, NULL},
        {"{\"status\": 429, \"headers\": {\"Retry-After\": \"7\"}}", HERALD_ERR_RATE_LIMITED,
         NULL, NULL, 7, NULL, NULL},
        {"{\"status\": 500}", HERALD_ERR_TEMPORARY, "100", "injected fault 500", -1, NULL, NULL},
    };
    ht_check_faults(&h, cases, sizeof cases / sizeof cases[0]);
}

Test(postmark, dry_run_redacts_the_token)
{
    herald_msg *m = ht_small_message();
    char *out = ht_render(&h, m);
    char *line = tu_printf("POST %s/email\n", h.base);
    cr_assert(strncmp(out, line, strlen(line)) == 0, "%s", out);
    cr_assert(ht_has(out, "\nX-Postmark-Server-Token: ***\n"), "%s", out);
    cr_assert(ht_has(out, "\n\n{\"From\":\"Bot <bot@example.com>\",\"To\":\"a@example.com\""),
              "%s", out);
    cr_assert(!ht_has(out, "pm-test"), "%s", out);
    free(line);
    free(out);
    herald_msg_free(m);
}

/* ---- answers that do not say the message was accepted ----------------- */

#define PM_OK "{\"To\":\"a@example.com\",\"SubmittedAt\":\"2026-01-01T00:00:00.0000000Z\"," \
              "\"MessageID\":\"b7bc2f4a-e38e-4336-af7d-e6c392c2f817\",\"ErrorCode\":0," \
              "\"Message\":\"OK\"}"

