/* tests/plugins/ses/test_ses.c - AWS Signature Version 4 against AWS's published
 * example, and the ses driver against the provider test server (which
 * verifies every signature independently). */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sigv4.h"
#include "http_testutil.h"

/* ---- SigV4 with AWS's example values ------------------------------------
 * AWS General Reference, "Signature Version 4 signing process": secret
 * wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, 20150830, us-east-1, iam. */

#define AWS_SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

Test(sigv4, signing_key_matches_aws_example)
{
    unsigned char key[32];
    char hex[65];
    cr_assert_eq(sigv4_signing_key(AWS_SECRET, "20150830", "us-east-1", "iam", key), 0);
    sigv4_hex(key, 32, hex);
    cr_assert_str_eq(hex, "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9");
}

static const struct sigv4_header iam_headers[] = {
    {"x-amz-date", "20150830T123600Z"},   /* unsorted on purpose */
    {"host", "iam.amazonaws.com"},
    {"content-type", "application/x-www-form-urlencoded; charset=utf-8"},
};

static const struct sigv4_request iam_request = {
    .method = "GET", .path = "/", .query = "Version=2010-05-08&Action=ListUsers",
    .headers = iam_headers, .n_headers = 3, .payload = "", .payload_len = 0,
    .access_key_id = "AKIDEXAMPLE", .secret = AWS_SECRET,
    .region = "us-east-1", .service = "iam", .amz_date = "20150830T123600Z",
};

Test(sigv4, canonical_request_and_signature_match_aws_example)
{
    char *canon = sigv4_canonical_request(&iam_request);
    cr_assert_str_eq(canon,
        "GET\n/\nAction=ListUsers&Version=2010-05-08\n"
        "content-type:application/x-www-form-urlencoded; charset=utf-8\n"
        "host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
        "content-type;host;x-amz-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    char *sts = sigv4_string_to_sign(&iam_request);
    cr_assert_str_eq(sts, "AWS4-HMAC-SHA256\n20150830T123600Z\n"
                          "20150830/us-east-1/iam/aws4_request\n"
                          "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    char *auth = sigv4_authorization(&iam_request);
    cr_assert_str_eq(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/"
                           "aws4_request, SignedHeaders=content-type;host;x-amz-date, "
                           "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b"
                           "5924a6f2b5d7");
    free(canon);
    free(sts);
    free(auth);
}

Test(sigv4, header_values_are_trimmed_and_paths_encoded)
{
    const struct sigv4_header hs[] = {{"host", "  a.example   b  "}};
    struct sigv4_request r = iam_request;
    r.headers = hs;
    r.n_headers = 1;
    r.path = "/a b/c@d";
    r.query = "";
    char *canon = sigv4_canonical_request(&r);
    cr_assert(strstr(canon, "GET\n/a%20b/c%40d\n\nhost:a.example b\n\nhost\n"), "%s", canon);
    free(canon);
}

/* ---- the driver ---------------------------------------------------------- */

static struct ht h;
#define SES_CREDS "access_key_id = AKIDTEST\nsecret_access_key = secret-test\n" \
                  "region = us-east-1"

static void setup(void)
{
    ht_start(&h);
    ht_open(&h, "ses", SES_CREDS);
}

static void teardown(void)
{
    ht_stop(&h);
}

TestSuite(ses, .init = setup, .fini = teardown, .timeout = 30);

static char *encoded_word(const char *name, const char *addr)
{
    /* what RFC 2047 B-encoding of a short UTF-8 name gives */
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(name);
    char b64[256];
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)name;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        b64[o++] = tbl[v >> 18];
        b64[o++] = tbl[(v >> 12) & 63];
        b64[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
        b64[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    b64[o] = '\0';
    return tu_printf("=?UTF-8?B?%s?= <%s>", b64, addr);
}

static const char *str_at(json_t *arr, size_t i)
{
    return json_string_value(json_array_get(arr, i));
}

Test(ses, maps_every_field_and_signs)
{
    ht_open(&h, "ses", SES_CREDS "\nunsupported = drop\nconfiguration_set = tracking");
    herald_msg *m = ht_full_message();   /* its metadata is dropped: SES has none */
    char *id = NULL;
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, &id, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert(id && strncmp(id, "0100", 4) == 0, "MessageId %s", id);

    json_t *rec = ht_last(&h);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "verdict")), "ok");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "path")),
                     "/v2/email/outbound-emails");
    const char *auth = ht_header(rec, "authorization");
    cr_assert(strncmp(auth, "AWS4-HMAC-SHA256 Credential=AKIDTEST/", 37) == 0, "%s", auth);
    cr_assert(ht_has(auth, "/us-east-1/ses/aws4_request, SignedHeaders=content-type;host;"
                           "x-amz-date, Signature="), "%s", auth);
    cr_assert(ht_header(rec, "x-amz-date"));
    cr_assert_null(ht_header(rec, "x-amz-security-token"));

    json_t *b = ht_body_json(rec);
    char *from = encoded_word(HT_FROM_NAME, HT_FROM_ADDR);
    cr_assert_str_eq(json_string_value(json_object_get(b, "FromEmailAddress")), from);
    json_t *dest = json_object_get(b, "Destination");
    json_t *to = json_object_get(dest, "ToAddresses");
    cr_assert_eq(json_array_size(to), 2);
    cr_assert_str_eq(str_at(to, 0), "Ops Team <ops@example.com>");
    char *zoe = encoded_word("Zoë Ünal", "zoe@example.com");
    cr_assert_str_eq(str_at(to, 1), zoe);
    cr_assert_str_eq(str_at(json_object_get(dest, "CcAddresses"), 0),
                     "Carol <carol@example.com>");
    cr_assert_str_eq(str_at(json_object_get(dest, "BccAddresses"), 0), "dave@example.com");
    cr_assert_str_eq(str_at(json_object_get(b, "ReplyToAddresses"), 0),
                     "\"Support, Team\" <support@example.com>");
    cr_assert_str_eq(json_string_value(json_object_get(b, "ConfigurationSetName")),
                     "tracking");

    json_t *simple = json_object_get(json_object_get(b, "Content"), "Simple");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(simple, "Subject"),
                                                       "Data")), HT_SUBJECT);
    json_t *body = json_object_get(simple, "Body");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(body, "Text"), "Data")),
                     HT_TEXT);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(body, "Html"), "Data")),
                     HT_HTML);
    json_t *hdr = json_array_get(json_object_get(simple, "Headers"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(hdr, "Name")), "X-Ticket");
    cr_assert_str_eq(json_string_value(json_object_get(hdr, "Value")), "T-1234");
    json_t *atts = json_object_get(simple, "Attachments");
    cr_assert_eq(json_array_size(atts), 2);
    json_t *a0 = json_array_get(atts, 0);
    cr_assert_str_eq(json_string_value(json_object_get(a0, "FileName")), "data.bin");
    cr_assert_str_eq(json_string_value(json_object_get(a0, "ContentType")),
                     "application/octet-stream");
    size_t len = 0;
    unsigned char *raw = ht_unbase64(json_string_value(json_object_get(a0, "RawContent")), &len);
    cr_assert_eq(len, HT_BIN_LEN);
    cr_assert_eq(memcmp(raw, ht_bin(), len), 0, "data.bin differs");
    free(raw);
    raw = ht_unbase64(json_string_value(json_object_get(json_array_get(atts, 1), "RawContent")),
                      &len);
    cr_assert_eq(len, strlen(HT_CSV));
    cr_assert_eq(memcmp(raw, HT_CSV, len), 0);
    free(raw);

    json_t *tags = json_object_get(b, "EmailTags");
    cr_assert_eq(json_array_size(tags), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tags, 0), "Name")),
                     "billing");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tags, 0), "Value")),
                     "true");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(tags, 1), "Name")),
                     "alerts");
    cr_assert_null(json_object_get(b, "Metadata"));
    char *dump = json_dumps(b, 0);
    cr_assert(!ht_has(dump, "order_id"), "the dropped metadata was sent: %s", dump);
    free(dump);

    free(from);
    free(zoe);
    json_decref(b);
    json_decref(rec);
    free(id);
    herald_msg_free(m);
}

Test(ses, metadata_is_refused_naming_the_field)
{
    herald_msg *m = ht_small_message();
    herald_msg_set_metadata(m, "order_id", "42");
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(ht_has(herald_error_message(err), "metadata"), "%s", herald_error_message(err));
    cr_assert(ht_has(herald_error_fix(err), "unsupported = drop"));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(ses, raw_content_carries_herald_mime)
{
    ht_open(&h, "ses", SES_CREDS "\ncontent = raw");
    herald_msg *m = ht_small_message();
    herald_msg_add_bcc(m, "hidden@example.com");
    herald_msg_attach_data(m, ht_bin(), HT_BIN_LEN, "data.bin", "application/octet-stream");
    herald_msg_add_tag(m, "billing");
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    json_t *rec = ht_last(&h);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "verdict")), "ok");
    json_t *b = ht_body_json(rec);
    json_t *content = json_object_get(b, "Content");
    cr_assert_null(json_object_get(content, "Simple"));
    size_t len = 0;
    char *mime = (char *)ht_unbase64(json_string_value(json_object_get(
                     json_object_get(content, "Raw"), "Data")), &len);
    cr_assert(mime);
    cr_assert(ht_has(mime, "Subject: hi\r\n"), "%s", mime);
    cr_assert(ht_has(mime, "filename=\"data.bin\"") || ht_has(mime, "filename=data.bin"),
              "%s", mime);
    cr_assert(!ht_has(mime, "hidden@example.com"), "Bcc must not be in the MIME");
    cr_assert(!ht_has(mime, "X-Herald-Tags"), "tags go in EmailTags");
    cr_assert_str_eq(str_at(json_object_get(json_object_get(b, "Destination"),
                                            "BccAddresses"), 0), "hidden@example.com");
    cr_assert_eq(json_array_size(json_object_get(b, "EmailTags")), 1);
    free(mime);
    json_decref(b);
    json_decref(rec);
    herald_msg_free(m);
}

Test(ses, session_token_is_sent_signed_and_redacted)
{
    ht_open(&h, "ses", SES_CREDS "\nsession_token = tok-SESSION-123");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    json_t *rec = ht_last(&h);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "verdict")), "ok");
    cr_assert_str_eq(ht_header(rec, "x-amz-security-token"), "tok-SESSION-123");
    cr_assert(ht_has(ht_header(rec, "authorization"),
                     "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"));
    json_decref(rec);

    char *out = ht_render(&h, m);
    cr_assert(ht_has(out, "\nX-Amz-Security-Token: ***\n"), "%s", out);
    cr_assert(ht_has(out, "\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/"), "%s", out);
    cr_assert(!ht_has(out, "tok-SESSION-123") && !ht_has(out, "secret-test"), "%s", out);
    char *line = tu_printf("POST %s/v2/email/outbound-emails\nHost: 127.0.0.1:%d\n", h.base,
                           h.srv.port);
    cr_assert(strncmp(out, line, strlen(line)) == 0, "%s", out);
    free(line);
    free(out);
    herald_msg_free(m);
}

Test(ses, wrong_secret_is_auth_with_the_aws_error_type)
{
    ht_open(&h, "ses", "access_key_id = AKIDTEST\nsecret_access_key = wrong\n");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_AUTH);
    cr_assert_str_eq(herald_error_code(err), "SignatureDoesNotMatch");
    cr_assert(ht_has(herald_error_provider_text(err), "signature we calculated does not match"),
              "%s", herald_error_provider_text(err));
    cr_assert(ht_has(herald_error_fix(err), "secret_access_key"), "%s",
              herald_error_message(err));
    cr_assert(!ht_has(herald_error_message(err), "wrong\n"));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(ses, status_faults_map_to_classes)
{
    const struct ht_fault_case cases[] = {
        {"{\"status\": 400, \"headers\": {\"x-amzn-ErrorType\": \"MessageRejected:http://"
         "internal.amazon.com/coral/com.amazon.coral.service/\"}, \"body\": \"{\\\"message\\\":"
         " \\\"Email address is not verified.\\\"}\"}",
         HERALD_ERR_PERMANENT, "MessageRejected", "Email address is not verified", -1,
         NULL, "verify"},
        {"{\"status\": 400}", HERALD_ERR_INVALID_MESSAGE, "BadRequestException",
         "injected fault 400", -1, NULL, NULL},
        {"{\"status\": 429, \"headers\": {\"Retry-After\": \"7\"}}", HERALD_ERR_RATE_LIMITED,
         "TooManyRequestsException", NULL, 7, NULL, NULL},
        {"{\"status\": 500}", HERALD_ERR_TEMPORARY, "InternalFailure", NULL, -1, NULL, NULL},
        {"{\"status\": 404}", HERALD_ERR_CONFIG, "NotFoundException", NULL, -1,
         NULL, "configuration_set"},
    };
    ht_check_faults(&h, cases, sizeof cases / sizeof cases[0]);
}

Test(ses, tags_outside_the_ses_alphabet_are_refused)
{
    herald_msg *m = ht_small_message();
    herald_msg_add_tag(m, "bad.tag");
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(ht_has(herald_error_message(err), "tag \"bad.tag\""), "%s",
              herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(ses, region_picks_the_endpoint)
{
    herald_close(h.ctx);
    h.ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string("[channel c]\ndriver = ses\naccess_key_id = AKIDTEST\n"
                                    "secret_access_key = s\nregion = eu-west-1\n", "t.conf",
                                    0, &h.ctx, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    herald_msg *m = ht_small_message();
    char *out = ht_render(&h, m);
    const char *want = "POST https://email.eu-west-1.amazonaws.com/v2/email/"
                       "outbound-emails\nHost: email.eu-west-1.amazonaws.com\n";
    cr_assert(strncmp(out, want, strlen(want)) == 0, "%s", out);
    cr_assert(ht_has(out, "/eu-west-1/ses/aws4_request"), "%s", out);
    free(out);
    herald_msg_free(m);
    herald_close(h.ctx);
    h.ctx = NULL;
    cr_assert_eq(herald_open_string("[channel c]\ndriver = ses\naccess_key_id = A\n"
                                    "secret_access_key = s\nregion = eu west\n", "t.conf",
                                    HERALD_OPEN_INIT_ALL, &h.ctx, &err), HERALD_ERR_CONFIG);
    cr_assert(ht_has(herald_error_message(err), "region"), "%s", herald_error_message(err));
    herald_error_free(err);
}

/* ---- answers that do not say the message was accepted ----------------- */

#define SES_OK "{\"MessageId\":\"010001890a1b2c3d-aaaa-bbbb-cccc-000000000000-000000\"}"

