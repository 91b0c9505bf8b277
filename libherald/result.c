/* libherald/result.c - what a send reports: the channel and driver that
 * took the message, the provider's id, the spool id of a queued message,
 * attempts, per-recipient outcomes. */
#include "internal.h"

#include <stdlib.h>

herald_result *hx_result_new(const char *channel, const char *driver)
{
    herald_result *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->channel = hx_strdup(channel);
    r->driver = hx_strdup(driver);
    r->attempts = 1;
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

void herald_result_free(herald_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->n_rcpt; i++) {
        free(res->rcpt[i].address);
        free(res->rcpt[i].text);
    }
    free(res->rcpt);
    free(res->channel);
    free(res->driver);
    free(res->message_id);
    free(res->queue_id);
    free(res);
}
