/* tests/plugins/kit/http/test_http_helper.c - plugins/kit/http's pure parts: base64, Retry-After,
 * the one status -> class mapping, the transport-failure mapping, response
 * headers; and that every HTTP driver carries the shared options. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <herald/plugin.h>

#include "base/base.h"
#include "http.h"
#include "redact.h"
#include "http_testutil.h"

Test(http_helper, base64_matches_rfc4648)
{
    static const char *const vec[][2] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        size_t n = 0;
        char *b = hh_base64((const unsigned char *)vec[i][0], strlen(vec[i][0]), &n);
        cr_assert_str_eq(b, vec[i][1]);
        cr_assert_eq(n, strlen(vec[i][1]));
        free(b);
    }
}

Test(http_helper, base64_round_trips_every_byte)
{
    unsigned char all[256 * 3 + 1];
    for (size_t i = 0; i < sizeof all; i++)
        all[i] = (unsigned char)(255 - i % 256);
    for (size_t len = sizeof all - 3; len <= sizeof all; len++) {
        char *b = hh_base64(all, len, NULL);
        size_t back_len = 0;
        unsigned char *back = ht_unbase64(b, &back_len);
        cr_assert_eq(back_len, len);
        cr_assert_eq(memcmp(back, all, len), 0);
        free(back);
        free(b);
    }
}

Test(http_helper, retry_after_seconds_and_http_dates)
{
    time_t now = curl_getdate("Wed, 21 Oct 2015 07:26:00 GMT", NULL);
    cr_assert_neq(now, (time_t)-1);
    cr_assert_eq(hh_parse_retry_after("7", now), 7);
    cr_assert_eq(hh_parse_retry_after("0", now), 0);
    cr_assert_eq(hh_parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now), 120);
    cr_assert_eq(hh_parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), 0,
                 "a date in the past means now");
    cr_assert_eq(hh_parse_retry_after(NULL, now), -1);
    cr_assert_eq(hh_parse_retry_after("", now), -1);
    cr_assert_eq(hh_parse_retry_after("soon", now), -1);
    cr_assert_eq(hh_parse_retry_after("-5", now), -1);
    cr_assert_eq(hh_parse_retry_after("99999999999999", now), -1);
}

Test(http_helper, one_status_mapping)
{
    static const struct { long status; herald_class cls; } table[] = {
        {200, HERALD_OK}, {202, HERALD_OK},
        {400, HERALD_ERR_INVALID_MESSAGE}, {422, HERALD_ERR_INVALID_MESSAGE},
        {413, HERALD_ERR_INVALID_MESSAGE},
        {401, HERALD_ERR_AUTH}, {403, HERALD_ERR_AUTH},
        {404, HERALD_ERR_CONFIG},
        {429, HERALD_ERR_RATE_LIMITED},
        {408, HERALD_ERR_TEMPORARY},
        {500, HERALD_ERR_TEMPORARY}, {502, HERALD_ERR_TEMPORARY},
        {503, HERALD_ERR_TEMPORARY}, {504, HERALD_ERR_TEMPORARY},
        {409, HERALD_ERR_PERMANENT}, {410, HERALD_ERR_PERMANENT},
        {301, HERALD_ERR_PROTOCOL}, {101, HERALD_ERR_PROTOCOL},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        cr_assert_eq(hh_status_class(table[i].status), table[i].cls, "HTTP %ld",
                     table[i].status);
    cr_assert(herald_class_retryable(hh_status_class(429)));
    cr_assert(herald_class_retryable(hh_status_class(503)));
    cr_assert(!herald_class_retryable(hh_status_class(422)));
}

Test(http_helper, transport_failures_map_to_classes)
{
    cr_assert_eq(hh_curl_class(CURLE_OPERATION_TIMEDOUT, "Operation timed out"),
                 HERALD_ERR_TIMEOUT);
    cr_assert_eq(hh_curl_class(CURLE_COULDNT_CONNECT, "Connection refused"),
                 HERALD_ERR_CONNECT);
    cr_assert_eq(hh_curl_class(CURLE_RECV_ERROR, "Connection reset by peer"),
                 HERALD_ERR_CONNECT);
    cr_assert_eq(hh_curl_class(CURLE_GOT_NOTHING, NULL), HERALD_ERR_CONNECT);
    cr_assert_eq(hh_curl_class(CURLE_COULDNT_RESOLVE_HOST, NULL), HERALD_ERR_HOST_NOT_FOUND);
    cr_assert_eq(hh_curl_class(CURLE_PEER_FAILED_VERIFICATION, NULL), HERALD_ERR_TLS);
    cr_assert_eq(hh_curl_class(CURLE_SSL_CACERT_BADFILE, NULL), HERALD_ERR_TLS);
    cr_assert_eq(hh_curl_class(CURLE_SSL_CONNECT_ERROR,
                               "gnutls_handshake() failed: Handshake failed"),
                 HERALD_ERR_TLS);
    cr_assert_eq(hh_curl_class(CURLE_SSL_CONNECT_ERROR,
                               "gnutls_handshake() failed: Error in the pull function."),
                 HERALD_ERR_CONNECT, "a peer that hangs up mid-handshake");
    cr_assert_eq(hh_curl_class(CURLE_WEIRD_SERVER_REPLY, NULL), HERALD_ERR_PROTOCOL);
    cr_assert_eq(hh_curl_class(CURLE_OUT_OF_MEMORY, NULL), HERALD_ERR_INTERNAL);
}

Test(http_helper, response_headers_by_name)
{
    char headers[] = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                     "retry-after:   7  \r\nX-Message-Id: abc\r\n\r\n";
    hh_response r = {.status = 429, .headers = headers};
    char buf[32];
    cr_assert_str_eq(hh_response_header(&r, "Retry-After", buf, sizeof buf), "7");
    cr_assert_str_eq(hh_response_header(&r, "x-message-id", buf, sizeof buf), "abc");
    cr_assert_null(hh_response_header(&r, "X-Message", buf, sizeof buf));
    char tiny[3];
    cr_assert_str_eq(hh_response_header(&r, "content-type", tiny, sizeof tiny), "ap");
}

/* hh_json_compact writes exactly what json_dumps(JSON_COMPACT) does. */
Test(http_helper, json_compact_matches_jansson)
{
    static const char *const docs[] = {
        "{}", "[]", "\"\"", "0", "-42", "true", "false", "null", "1.5", "[1e300, -0.25]",
        "{\"a\":{\"b\":[1,{\"c\":[]},\"x\"]},\"d\":null}",
        "{\"q\":\"\\\"quoted\\\" and \\\\ back\\/slash\"}",
        "[\"tab\\there\\nnew\\r\\u0001\\u001f\\b\\f\\u0000end\"]",
        "{\"Grüße\":\"Zoë — ✓ 😀\", \"del\":\"\x7f\"}",
        "{\"k\": \"v\", \"k2\": 2, \"k3\": [true, false]}",
    };
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        json_error_t jerr;
        json_t *v = json_loads(docs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        cr_assert(v, "%s: %s", docs[i], jerr.text);
        char *want = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t len = 0;
        char *got = hh_json_compact(v, &len);
        cr_assert_str_eq(got, want, "doc %zu", i);
        cr_assert_eq(len, strlen(want));
        free(got);
        free(want);
        json_decref(v);
    }
    json_t *bin = json_stringn("a\0b", 3);   /* an embedded NUL */
    char *got = hh_json_compact(bin, NULL);
    cr_assert_str_eq(got, "\"a\\u0000b\"");
    free(got);
    json_decref(bin);
}

/* hb_json_escape (libherald/base/json.c) escapes every byte as json_dumps
 * does inside a string: each single byte 0x01..0x7f, NUL, and UTF-8. */
Test(http_helper, json_escape_matches_jansson_byte_for_byte)
{
    for (int ch = 0; ch < 0x80; ch++) {
        char in[3] = {'a', (char)ch, 'z'};
        json_t *s = json_stringn(in, 3);
        cr_assert(s);
        char *want = json_dumps(s, JSON_ENCODE_ANY);
        struct hbuf b = {0};
        hbuf_addc(&b, '"');
        hb_json_escape(&b, in, 3);
        hbuf_addc(&b, '"');
        cr_assert_str_eq(b.data, want, "byte 0x%02x", ch);
        hbuf_free(&b);
        free(want);
        json_decref(s);
    }
    struct hbuf b = {0};
    hb_json_escape(&b, "Zo\xc3\xab \xe2\x9c\x93 \x7f", 10);
    cr_assert_str_eq(b.data, "Zo\xc3\xab \xe2\x9c\x93 \x7f", "UTF-8 and DEL as they are");
    cr_assert_eq(b.len, 10);
    hbuf_free(&b);
}

static const char *member(const char *body, const char *key, char *buf, size_t size)
{
    static char copy[512];
    hh_response r = {.status = 200, .body = copy, .len = strlen(body)};
    snprintf(copy, sizeof copy, "%s", body);
    const char *v = hh_response_member(&r, key, buf, size);
    json_decref(r.json);
    return v;
}

/* hh_response_member reads top-level strings and integers through jansson. */
Test(http_helper, response_member_reads_top_level_strings_and_numbers)
{
    char b[64];
    const char *pm = "{\"To\":\"ann@example.com\",\"SubmittedAt\":\"2024-01-01\","
                     "\"MessageID\":\"0a1b-2c\",\"ErrorCode\":0,\"Message\":\"OK\"}";
    cr_assert_str_eq(member(pm, "MessageID", b, sizeof b), "0a1b-2c");
    cr_assert_str_eq(member(pm, "ErrorCode", b, sizeof b), "0");
    cr_assert_null(member(pm, "Missing", b, sizeof b));
    cr_assert_null(member(pm, "message", b, sizeof b), "keys are case-sensitive");
    /* only the top level counts; nested values are skipped whole */
    const char *nest = " { \"a\" : {\"id\": \"inner\", \"x\": [1, \"]}\", {\"id\":2}]},"
                       "\n\"id\" :\t\"outer\" , \"n\": -125, \"r\": -12.5e3 }";
    cr_assert_str_eq(member(nest, "id", b, sizeof b), "outer");
    cr_assert_str_eq(member(nest, "n", b, sizeof b), "-125");
    cr_assert_null(member(nest, "r", b, sizeof b), "a real is not read (jansson)");
    cr_assert_null(member(nest, "a", b, sizeof b), "an object is not text");
    cr_assert_null(member("{\"id\": true}", "id", b, sizeof b));
    cr_assert_null(member("{\"id\": null}", "id", b, sizeof b));
    /* the last duplicate wins, as in jansson */
    cr_assert_str_eq(member("{\"id\":\"1\",\"id\":\"2\"}", "id", b, sizeof b), "2");
    /* escapes: decoded by the fallback to jansson */
    cr_assert_str_eq(member("{\"id\":\"<a\\\"b\\u00e9>\"}", "id", b, sizeof b),
                     "<a\"b\xc3\xa9>");
    cr_assert_str_eq(member("{\"\\u0069d\":\"esc-key\"}", "id", b, sizeof b), "esc-key");
    /* not an object, or broken: nothing */
    cr_assert_null(member("[{\"id\":\"x\"}]", "id", b, sizeof b));
    cr_assert_null(member("", "id", b, sizeof b));
    cr_assert_null(member("{\"id\":\"x\"", "id", b, sizeof b));
    cr_assert_null(member("<html>id</html>", "id", b, sizeof b));
    /* cut to fit */
    char tiny[4];
    cr_assert_str_eq(member(pm, "To", tiny, sizeof tiny), "ann");
}

/* Every HTTP driver that is built takes the shared options, once each. */
static int seen;

static void check_driver(const herald_driver_info *info, void *user)
{
    static const char *const http[] = {"mailgun", "sendgrid", "ses", "resend",
                                       "postmark", "mailtrap"};
    static const char *const shared[] = {"base_url", "proxy", "timeout", "ca_file",
                                         "tls_verify"};
    (void)user;
    int is_http = 0;
    for (size_t i = 0; i < 6; i++)
        is_http |= strcmp(info->name, http[i]) == 0;
    if (!is_http || info->refused)
        return;
    seen++;
    for (size_t s = 0; s < 5; s++) {
        int n = 0;
        for (const herald_option *o = info->options; o && o->name; o++)
            if (strcmp(o->name, shared[s]) == 0) {
                n++;
                if (strcmp(o->name, "proxy") == 0)
                    cr_assert(o->flags & HERALD_OPT_SECRET, "proxy may hold a password");
                if (strcmp(o->name, "tls_verify") == 0)
                    cr_assert_str_eq(o->default_value, "yes");
            }
        cr_assert_eq(n, 1, "%s: option %s appears %d times", info->name, shared[s], n);
    }
    cr_assert((info->caps & HERALD_CAP_EMAIL) && !(info->caps & HERALD_CAP_THREAD_SAFE));
}

Test(http_helper, every_http_driver_has_the_shared_options)
{
    herald_error *err = NULL;
    cr_assert_eq(herald_drivers_foreach(NULL, check_driver, NULL, &err), HERALD_OK);
    cr_assert_gt(seen, 0, "no HTTP driver on HERALD_PLUGIN_PATH");
}

Test(http_helper, secrets_are_redacted_in_every_form)
{
    struct hh_secrets s = {0};
    cr_assert_eq(hh_secrets_add(&s, "key-test"), 0);
    cr_assert_eq(hh_secrets_add_exact(&s, "YXBpOmtleS10ZXN0"), 0);
    cr_assert_eq(hh_secrets_add(&s, "abc"), 0);   /* too short: kept out */
    cr_assert_eq(hh_secrets_add(&s, "none"), 0);
    cr_assert_eq(hh_secrets_add(&s, "key-test"), 0);   /* known: once */
    char *r = hh_secrets_apply(&s, "key-test, a2V5LXRlc3Q= and a2V5LXRlc3Q, "
                                   "Basic YXBpOmtleS10ZXN0; key-testkey-test abc; proxy = none");
    cr_assert_str_eq(r, "***, *** and ***, Basic ***; ****** abc; proxy = none");
    free(r);
    cr_assert_null(hh_secrets_apply(&s, NULL));
    hh_secrets_free(&s);
}

Test(http_helper, escaped_excerpt_of_a_body)
{
    char out[64];
    hh_escape_bytes("<p a=\"1\">\\\n\x01\xc3\xbc", 14, 100, out, sizeof out);
    cr_assert_str_eq(out, "<p a=\\\"1\\\">\\\\\\n\\x01\\xC3\\xBC");
    hh_escape_bytes("abcdef", 6, 3, out, sizeof out);
    cr_assert_str_eq(out, "abc...");
}
