/* libherald/result.c - what a send reports: the channel and driver that
 * took the message, the provider's id, the spool id of a queued message,
 * every attempt (channel, class, code, message, delay before it),
 * per-recipient outcomes. */
#include "internal.h"

#include <stdlib.h>

herald_result *hx_result_new(const char *channel, const char *driver)
{
    herald_result *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->channel = hx_strdup(channel);
    r->driver = hx_strdup(driver);
    r->attempts = 0;
    if (!r->channel || !r->driver) {
        herald_result_free(r);
        return NULL;
    }
    return r;
}

void hx_result_set_id(herald_result *res, const char *id)
{
    if (!res)
        return;
    free(res->message_id);
    res->message_id = hx_strdup(id);
}

void hx_result_add_recipient(herald_result *res, const char *address,
                             int accepted, const char *text)
{
    if (!res || !address)
        return;
    struct hx_rcpt *r = realloc(res->rcpt, (res->n_rcpt + 1) * sizeof *r);
    if (!r)
        return;
    res->rcpt = r;
    r += res->n_rcpt;
    r->address = hx_strdup(address);
    r->accepted = accepted ? 1 : 0;
    r->text = hx_strdup(text);
    if (r->address)
        res->n_rcpt++;
    else
        free(r->text);
}

const char *herald_result_channel(const herald_result *res)
{
    return res ? res->channel : NULL;
}

const char *herald_result_driver(const herald_result *res)
{
    return res ? res->driver : NULL;
}

const char *herald_result_message_id(const herald_result *res)
{
    return res ? res->message_id : NULL;
}

const char *herald_result_queue_id(const herald_result *res)
{
    return res ? res->queue_id : NULL;
}

void hx_result_set_queue_id(herald_result *res, const char *id)
{
    if (!res)
        return;
    free(res->queue_id);
    res->queue_id = hx_strdup(id);
}

unsigned herald_result_attempts(const herald_result *res)
{
    return res ? res->attempts : 0;
}

size_t herald_result_recipient_count(const herald_result *res)
{
    return res ? res->n_rcpt : 0;
}

const char *herald_result_recipient(const herald_result *res, size_t i)
{
    return res && i < res->n_rcpt ? res->rcpt[i].address : NULL;
}

int herald_result_recipient_accepted(const herald_result *res, size_t i)
{
    return res && i < res->n_rcpt ? res->rcpt[i].accepted : 0;
}

const char *herald_result_recipient_text(const herald_result *res, size_t i)
{
    return res && i < res->n_rcpt ? res->rcpt[i].text : NULL;
}

void hx_result_clear_recipients(herald_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->n_rcpt; i++) {
        free(res->rcpt[i].address);
        free(res->rcpt[i].text);
    }
    free(res->rcpt);
    res->rcpt = NULL;
    res->n_rcpt = 0;
}

void hx_result_set_channel(herald_result *res, const char *channel,
                           const char *driver)
{
    char *c = hx_strdup(channel), *d = hx_strdup(driver);
    if (!res || !c || !d) {
        free(c);
        free(d);
        return;
    }
    free(res->channel);
    free(res->driver);
    res->channel = c;
    res->driver = d;
}

int hx_result_add_attempt(herald_result *res, const char *channel,
                          const herald_error *err, long long delay_ms,
                          int skipped)
{
    if (!skipped)
        res->attempts++;
    void *arr = hx_grow(res->tried, res->n_tried, sizeof *res->tried);
    if (!arr)
        return -1;
    res->tried = arr;
    struct hx_attempt *a = &res->tried[res->n_tried];
    a->channel = hx_strdup(channel);
    a->cls = err ? err->cls : HERALD_OK;
    a->code = err ? hx_strdup(err->code) : NULL;
    a->message = err ? hx_strdup(err->message) : NULL;
    a->delay_ms = delay_ms;
    if (!a->channel) {
        free(a->code);
        free(a->message);
        return -1;
    }
    res->n_tried++;
    return 0;
}

static const struct hx_attempt *tried(const herald_result *res, size_t i)
{
    return res && i < res->n_tried ? &res->tried[i] : NULL;
}

size_t herald_result_tried_count(const herald_result *res)
{
    return res ? res->n_tried : 0;
}

const char *herald_result_tried_channel(const herald_result *res, size_t i)
{
    const struct hx_attempt *a = tried(res, i);
    return a ? a->channel : NULL;
}

herald_class herald_result_tried_class(const herald_result *res, size_t i)
{
    const struct hx_attempt *a = tried(res, i);
    return a ? a->cls : HERALD_ERR_USAGE;
}

const char *herald_result_tried_code(const herald_result *res, size_t i)
{
    const struct hx_attempt *a = tried(res, i);
    return a ? a->code : NULL;
}

const char *herald_result_tried_message(const herald_result *res, size_t i)
{
    const struct hx_attempt *a = tried(res, i);
    return a ? a->message : NULL;
}

long long herald_result_tried_delay_ms(const herald_result *res, size_t i)
{
    const struct hx_attempt *a = tried(res, i);
    return a ? a->delay_ms : -1;
}

void herald_result_free(herald_result *res)
{
    if (!res)
        return;
    hx_result_clear_recipients(res);
    for (size_t i = 0; i < res->n_tried; i++) {
        free(res->tried[i].channel);
        free(res->tried[i].code);
        free(res->tried[i].message);
    }
    free(res->tried);
    free(res->channel);
    free(res->driver);
    free(res->message_id);
    free(res->queue_id);
    free(res);
}
