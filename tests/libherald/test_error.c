/* tests/libherald/test_error.c - libherald/error.c: the class table, errors
 * (message, fix, channel, retryability, copies) and NULL handling. */
#include "internal.h"
#include <criterion/criterion.h>
#include <string.h>

/* The whole table, written out here on purpose: a changed name, text,
 * retryability or exit status is an API change and must show up. */
static const struct {
    herald_class cls;
    const char *name, *text;
    int retryable, sysexit;
} table[] = {
    {HERALD_OK, "ok", "success", 0, 0},
    {HERALD_ERR_USAGE, "usage", "invalid use of the API", 0, 64},
    {HERALD_ERR_CONFIG, "config", "configuration error", 0, 78},
    {HERALD_ERR_INVALID_MESSAGE, "invalid_message", "invalid message", 0, 65},
    {HERALD_ERR_HOST_NOT_FOUND, "host_not_found", "host not found", 0, 68},
    {HERALD_ERR_CONNECT, "connect", "connection failed", 1, 75},
    {HERALD_ERR_TIMEOUT, "timeout", "connection timed out", 1, 75},
    {HERALD_ERR_TLS, "tls", "TLS failure", 0, 76},
    {HERALD_ERR_PROTOCOL, "protocol", "protocol error", 0, 76},
    {HERALD_ERR_AUTH, "auth", "authentication failed", 0, 77},
    {HERALD_ERR_SENDER_REJECTED, "sender_rejected", "sender rejected", 0, 69},
    {HERALD_ERR_RECIPIENT_REJECTED, "recipient_rejected", "recipient rejected", 0, 69},
    {HERALD_ERR_RATE_LIMITED, "rate_limited", "rate limited", 1, 75},
    {HERALD_ERR_TEMPORARY, "temporary", "temporary failure", 1, 75},
    {HERALD_ERR_PERMANENT, "permanent", "permanent failure", 0, 69},
    {HERALD_ERR_INTERNAL, "internal", "internal error", 0, 70},
    {HERALD_ERR_DELIVERY_UNKNOWN, "delivery_unknown", "delivery unknown", 0, 76},
    {HERALD_QUEUED, "queued", "queued for later delivery", 0, 0},
};

Test(error, class_table_names_texts_retryable_sysexit)
{
    cr_assert_eq(sizeof table / sizeof table[0], 18, "a class was added: list it here");
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        herald_class c = table[i].cls;
        cr_assert_eq((size_t)c, i);
        cr_assert_str_eq(herald_class_name(c), table[i].name);
        cr_assert_str_eq(herald_strerror(c), table[i].text);
        cr_assert_eq(herald_class_retryable(c), table[i].retryable, "%s", table[i].name);
        cr_assert_eq(herald_sysexit(c), table[i].sysexit, "%s", table[i].name);
    }
    /* Outside the table: no crash, a safe answer. */
    cr_assert_str_eq(herald_class_name((herald_class)18), "unknown");
    cr_assert_str_eq(herald_strerror((herald_class)-1), "unknown error");
    cr_assert_eq(herald_class_retryable((herald_class)99), 0);
}

Test(error, error_fields_and_fix)
{
    herald_error *err = NULL;
    cr_assert_eq(hx_error(&err, HERALD_ERR_CONFIG, "t.conf:%d: bad key", 3),
                 HERALD_ERR_CONFIG);
    cr_assert_str_eq(herald_error_message(err), "t.conf:3: bad key");
    cr_assert_null(herald_error_fix(err));
    cr_assert_null(herald_error_code(err));
    cr_assert_null(herald_error_provider_text(err));
    cr_assert_null(herald_error_channel(err));
    cr_assert_eq(herald_error_retry_after(err), -1);
    hx_error_set_fix(err, "write '%s'", "key = value");
    cr_assert_str_eq(herald_error_fix(err), "write 'key = value'");
    hx_error_set_fix(err, "another");
    cr_assert_str_eq(herald_error_fix(err), "another");
    /* A second error does not replace the first. */
    cr_assert_eq(hx_error(&err, HERALD_ERR_USAGE, "later"), HERALD_ERR_USAGE);
    cr_assert_str_eq(herald_error_message(err), "t.conf:3: bad key");
    /* hx_fix sets the fix and passes the class through. */
    cr_assert_eq(hx_fix(&err, HERALD_ERR_CONFIG, "fix %d", 2), HERALD_ERR_CONFIG);
    cr_assert_str_eq(herald_error_fix(err), "fix 2");
    hx_error_set_channel(err, "alerts");
    cr_assert_str_eq(herald_error_message(err), "channel 'alerts': t.conf:3: bad key");
    hx_error_set_channel(err, "other");   /* once only */
    cr_assert_str_eq(herald_error_channel(err), "alerts");
    cr_assert_str_eq(herald_error_message(err), "channel 'alerts': t.conf:3: bad key");
    herald_error_free(err);
    /* hx_fix with nothing to set is harmless. */
    err = NULL;
    cr_assert_eq(hx_fix(&err, HERALD_ERR_CONFIG, "x"), HERALD_ERR_CONFIG);
    cr_assert_null(err);
    cr_assert_eq(hx_fix(NULL, HERALD_ERR_AUTH, "x"), HERALD_ERR_AUTH);
    cr_assert_eq(hx_error(NULL, HERALD_ERR_AUTH, "nobody wants this"), HERALD_ERR_AUTH);
}

static herald_error *full(herald_class cls)
{
    herald_error *err = NULL;
    hx_error(&err, cls, "what");
    free(err->code);
    free(err->provider_text);
    err->code = hx_strdup("503");
    err->provider_text = hx_strdup("provider says no");
    err->retry_after = 30;
    return err;
}

Test(error, retryable_follows_class_and_idempotent_mark)
{
    herald_error *t = full(HERALD_ERR_TEMPORARY);
    cr_assert_eq(herald_error_retryable(t), 1);
    herald_error *p = full(HERALD_ERR_PERMANENT);
    cr_assert_eq(herald_error_retryable(p), 0);
    hx_error_set_idempotent(p);     /* only DELIVERY_UNKNOWN looks at it */
    cr_assert_eq(herald_error_retryable(p), 0);
    herald_error *u = full(HERALD_ERR_DELIVERY_UNKNOWN);
    cr_assert_eq(herald_error_retryable(u), 0, "may have been delivered");
    hx_error_set_idempotent(u);
    cr_assert_eq(herald_error_retryable(u), 1, "idempotency key makes it safe");
    herald_error_free(t);
    herald_error_free(p);
    herald_error_free(u);
}

Test(error, copy_keeps_every_field)
{
    herald_error *e = full(HERALD_ERR_DELIVERY_UNKNOWN);
    hx_error_set_fix(e, "check the provider's log");
    hx_error_set_channel(e, "mg");
    hx_error_set_idempotent(e);
    herald_error *c = hx_error_copy(e);
    cr_assert_neq(c, e);
    herald_error_free(e);
    cr_assert_eq(herald_error_class(c), HERALD_ERR_DELIVERY_UNKNOWN);
    cr_assert_str_eq(herald_error_message(c), "channel 'mg': what");
    cr_assert_str_eq(herald_error_fix(c), "check the provider's log");
    cr_assert_str_eq(herald_error_code(c), "503");
    cr_assert_str_eq(herald_error_provider_text(c), "provider says no");
    cr_assert_str_eq(herald_error_channel(c), "mg");
    cr_assert_eq(herald_error_retry_after(c), 30);
    cr_assert_eq(herald_error_retryable(c), 1, "idempotent mark copied");
    herald_error_free(c);
    cr_assert_null(hx_error_copy(NULL));
}

Test(error, null_error_is_handled)
{
    cr_assert_eq(herald_error_class(NULL), HERALD_ERR_INTERNAL);
    cr_assert_str_eq(herald_error_message(NULL), "");
    cr_assert_null(herald_error_fix(NULL));
    cr_assert_null(herald_error_code(NULL));
    cr_assert_null(herald_error_provider_text(NULL));
    cr_assert_null(herald_error_channel(NULL));
    cr_assert_eq(herald_error_retry_after(NULL), -1);
    cr_assert_eq(herald_error_retryable(NULL), 0);
    herald_error_free(NULL);
    hx_error_set_fix(NULL, "x");
    hx_error_set_channel(NULL, "x");
    hx_error_set_idempotent(NULL);
}
