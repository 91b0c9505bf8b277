/* tests/plugins/kit/http/test_http_conformance.c - the cases every HTTP driver shares, run
 * for each provider of one table against the provider test server: faults
 * and their classes, lost and cut answers, success shapes, keep-alive,
 * redaction of echoed secrets, the dry run's "***", and the idempotency
 * rule.  A provider's own test file keeps only what is its own (its field
 * mapping, its special errors).  Each driver is in the table when it is
 * built (-DHT_<NAME>, see plugins/kit/http/http.am). */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_testutil.h"

/* One provider: how to open it and what its answers look like. */
struct prov {
    const char *driver;
    const char *creds;          /* the channel's credential lines */
    const char *secret;         /* a credential value that must never show */
    const char *forms[3];       /* its encoded forms, NULL-terminated */
    const char *secret_line;    /* the dry run's line for it */
    /* its success answer */
    int ok_status;
    const char *ok_body, *ok_header, *ok_value, *ok_id;
    int has_body;
    /* an error answer and a success answer that echo the credential */
    int echo_status;
    const char *echo_body, *echo_header, *echo_value;
    int echo_id_status;
    const char *echo_id_body, *echo_id_header, *echo_id_value;
    int idempotent;             /* HERALD_CAP_IDEMPOTENCY */
};

#define SES_CREDS "access_key_id = AKIDTEST\nsecret_access_key = secret-test\n" \
                  "region = us-east-1\nsession_token = tok-SESSION-123"

static struct prov provs[] = {
#ifdef HT_MAILGUN
    {"mailgun", "api_key = key-test\ndomain = mg.example.com", "key-test",
     {"YXBpOmtleS10ZXN0", "a2V5LXRlc3Q", NULL}, "\nAuthorization: Basic ***\n",
     200, "{\"id\":\"<20260101.1@mg.example.com>\",\"message\":\"Queued. Thank you.\"}",
     NULL, NULL, "<20260101.1@mg.example.com>", 1,
     401, "{\"message\":\"Invalid private key key-test (a2V5LXRlc3Q=); got "
          "{header:authorization}\"}", NULL, NULL,
     200, "{\"id\":\"<{header:authorization}.key-test@mg.example.com>\",\"message\":"
          "\"Queued. Thank you.\"}", NULL, NULL, 0},
#endif
#ifdef HT_SENDGRID
    {"sendgrid", "api_key = SG.test", "SG.test", {"U0cudGVzdA", NULL, NULL},
     "\nAuthorization: Bearer ***\n",
     202, "", "X-Message-Id", "W9mZkZ2sQ0C8cR7gqkzY1A", "W9mZkZ2sQ0C8cR7gqkzY1A", 0,
     401, "{\"errors\":[{\"message\":\"The provided authorization grant is invalid: "
          "{header:authorization} (U0cudGVzdA==)\",\"field\":null}]}", NULL, NULL,
     202, "", "X-Message-Id", "{header:authorization}", 0},
#endif
#ifdef HT_SES
    {"ses", SES_CREDS, "secret-test", {"tok-SESSION-123", "c2VjcmV0LXRlc3Q", NULL},
     "\nX-Amz-Security-Token: ***\n",
     200, "{\"MessageId\":\"010001890a1b2c3d-aaaa-bbbb-cccc-000000000000-000000\"}", NULL,
     NULL, "010001890a1b2c3d-aaaa-bbbb-cccc-000000000000-000000", 1,
     403, "{\"message\":\"The security token {header:x-amz-security-token} or key "
          "secret-test (c2VjcmV0LXRlc3Q=) is invalid.\"}",
     "x-amzn-ErrorType", "UnrecognizedClientException",
     200, "{\"MessageId\":\"{header:x-amz-security-token}\"}", NULL, NULL, 0},
#endif
#ifdef HT_RESEND
    {"resend", "api_key = re_test", "re_test", {"cmVfdGVzdA", NULL, NULL},
     "\nAuthorization: Bearer ***\n",
     200, "{\"id\":\"4ef9a417-02e9-4d39-ad75-9611e0fcc33c\"}", NULL, NULL,
     "4ef9a417-02e9-4d39-ad75-9611e0fcc33c", 1,
     401, "{\"statusCode\":401,\"name\":\"validation_error\",\"message\":\"API key is "
          "invalid: {header:authorization} (cmVfdGVzdA==)\"}", NULL, NULL,
     200, "{\"id\":\"{header:authorization}\"}", NULL, NULL, 1},
#endif
#ifdef HT_POSTMARK
    {"postmark", "server_token = pm-test", "pm-test", {"cG0tdGVzdA", NULL, NULL},
     "\nX-Postmark-Server-Token: ***\n",
     200, "{\"To\":\"a@example.com\",\"SubmittedAt\":\"2026-01-01T00:00:00.0000000Z\","
          "\"MessageID\":\"b7bc2f4a-e38e-4336-af7d-e6c392c2f817\",\"ErrorCode\":0,"
          "\"Message\":\"OK\"}", NULL, NULL, "b7bc2f4a-e38e-4336-af7d-e6c392c2f817", 1,
     401, "{\"ErrorCode\":10,\"Message\":\"Bad or missing server token "
          "{header:x-postmark-server-token} (cG0tdGVzdA==)\"}", NULL, NULL,
     200, "{\"To\":\"a@example.com\",\"MessageID\":\"{header:x-postmark-server-token}\","
          "\"ErrorCode\":0,\"Message\":\"OK\"}", NULL, NULL, 0},
#endif
#ifdef HT_MAILTRAP
    {"mailtrap", "api_token = mt-test", "mt-test", {"bXQtdGVzdA", NULL, NULL},
     "\nAuthorization: Bearer ***\n",
     200, "{\"success\":true,\"message_ids\":[\"0c7fd939-02cf-11ed-88c2-0a58a9feac02\"]}",
     NULL, NULL, "0c7fd939-02cf-11ed-88c2-0a58a9feac02", 1,
     401, "{\"errors\":[\"Unauthorized: {header:authorization} (bXQtdGVzdA==)\"]}",
     NULL, NULL,
     200, "{\"success\":true,\"message_ids\":[\"{header:authorization}\"]}", NULL, NULL, 0},
#endif
};
#define N_PROVS (sizeof provs / sizeof provs[0])

static struct ht h;

TestSuite(conformance, .timeout = 120);

/* Each shared case, for every provider of the table, each on a fresh
 * server (its recorded requests and injected faults start empty). */
#define CASE(name)                                                           \
    static void name(const struct prov *p);                                  \
    Test(conformance, name)                                                  \
    {                                                                        \
        cr_assert_gt(N_PROVS, 0, "no HTTP driver is built");                 \
        for (size_t i = 0; i < N_PROVS; i++) {                               \
            ht_start(&h);                                                    \
            name(&provs[i]);                                                 \
            ht_stop(&h);                                                     \
        }                                                                    \
    }

CASE(faults)
CASE(bad_credentials)
CASE(keepalive)
CASE(reset_and_slow)
CASE(lost_answers)
CASE(shapes)
CASE(redaction)
CASE(dry_run)
CASE(idempotency)

static void open_prov(const struct prov *p)
{
    ht_open(&h, p->driver, "%s", p->creds);
}

static char *ok_fault(const struct prov *p)
{
    return ht_answer_fault("status", p->ok_status, p->ok_body, p->ok_header, p->ok_value, 0);
}

/* 429 with Retry-After, 5xx, and a 4xx the helper itself knows (413). */
static void faults(const struct prov *p)
{
    const struct ht_fault_case cases[] = {
        {"{\"status\": 429, \"headers\": {\"Retry-After\": \"7\"}}", HERALD_ERR_RATE_LIMITED,
         NULL, NULL, 7, NULL, "wait 7 s"},
        {"{\"status\": 500}", HERALD_ERR_TEMPORARY, NULL, NULL, HT_ANY, NULL, NULL},
        {"{\"status\": 503}", HERALD_ERR_TEMPORARY, NULL, NULL, HT_ANY, NULL, NULL},
        {"{\"status\": 413}", HERALD_ERR_INVALID_MESSAGE, NULL, NULL, HT_ANY, NULL,
         "too large"},
    };
    open_prov(p);
    ht_check_faults(&h, cases, sizeof cases / sizeof cases[0]);
}

/* The driver's credential refused (401/403): auth, the fix names the
 * option, and the message holds what happened only. */
static void bad_credentials(const struct prov *p)
{
    open_prov(p);
    ht_fault(&h, "{\"status\": 401}");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_AUTH, "%s: %s", p->driver,
                 herald_error_message(err));
    const char *fix = herald_error_fix(err);
    cr_assert(fix && ht_has(fix, "check "), "%s: fix %s", p->driver, fix ? fix : "(none)");
    cr_assert(!ht_has(herald_error_message(err), fix), "%s: the fix is apart: %s",
              p->driver, herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

static void keepalive(const struct prov *p)
{
    open_prov(p);
    ht_check_keepalive(&h, 3);
}

static void reset_and_slow(const struct prov *p)
{
    open_prov(p);
    ht_check_reset_and_slow(&h, p->driver, p->creds);
}

static void lost_answers(const struct prov *p)
{
    open_prov(p);
    ht_check_lost_answers(&h, p->ok_body);
}

static void shapes(const struct prov *p)
{
    open_prov(p);
    char *ok = ok_fault(p);
    ht_check_shapes(&h, ok, p->ok_id, p->has_body);
    free(ok);
}

static void redaction(const struct prov *p)
{
    open_prov(p);
    char *e = ht_answer_fault("status", p->echo_status, p->echo_body, p->echo_header,
                              p->echo_value, 0);
    char *i = ht_answer_fault("status", p->echo_id_status, p->echo_id_body,
                              p->echo_id_header, p->echo_id_value, 0);
    ht_check_redaction(&h, p->secret, p->forms, e, i);
    free(e);
    free(i);
}

/* The dry run shows the credential as ***, never its value or forms. */
static void dry_run(const struct prov *p)
{
    open_prov(p);
    herald_msg *m = ht_small_message();
    size_t len = 0;
    char *out = ht_render_n(&h, m, &len);
    cr_assert(ht_has(out, p->secret_line), "%s: %s", p->driver, out);
    cr_assert(!ht_has(out, p->secret), "%s shows its secret: %s", p->driver, out);
    for (size_t f = 0; p->forms[f]; f++)
        cr_assert(!ht_has(out, p->forms[f]), "%s shows %s: %s", p->driver, p->forms[f], out);
    json_t *arr = ht_requests(&h);
    cr_assert_eq(json_array_size(arr), 0, "%s: a dry run sent something", p->driver);
    json_decref(arr);
    free(out);
    herald_msg_free(m);
}

/* Delivery unknown is retryable only with an idempotency key that the
 * driver declares it honours (HERALD_CAP_IDEMPOTENCY). */
static void idempotency(const struct prov *p)
{
    ht_open(&h, p->driver, "%s\nunsupported = drop", p->creds);
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    ht_fault(&h, "{\"mode\": \"reset\"}");
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_DELIVERY_UNKNOWN, "%s: %s",
                 p->driver, herald_error_message(err));
    cr_assert_eq(herald_error_retryable(err), 0, "%s: no key, no retry", p->driver);
    cr_assert(ht_has(herald_error_fix(err), "do not resend blindly"), "%s", p->driver);
    herald_error_free(err);
    err = NULL;
    cr_assert_eq(herald_msg_set_idempotency_key(m, "order-42-shipped"), HERALD_OK);
    ht_fault(&h, "{\"mode\": \"reset\"}");
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_DELIVERY_UNKNOWN, "%s: %s",
                 p->driver, herald_error_message(err));
    cr_assert_eq(herald_error_retryable(err), p->idempotent,
                 "%s: retryable with a key only when the driver honours it", p->driver);
    herald_error_free(err);
    err = NULL;
    /* and the retry goes through */
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_OK, "%s: %s", p->driver,
                 herald_error_message(err));
    herald_msg_free(m);
}
