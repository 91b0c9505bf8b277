/* libherald/send.c - the message path: find the channel (its driver
 * initialised on first use), build the driver's view of the message
 * (sender, validation, fields the driver cannot carry), one attempt under
 * the channel's lock, herald_send and herald_render. */
#include "context.h"
#include "base/base.h"
#include "spool/spool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

herald_class hctx_find_channel(herald_ctx *ctx, const char *name,
                                 struct herald_channel **ch_r,
                                 herald_error **err_r)
{
    for (size_t i = 0; i < ctx->n_ch; i++)
        if (strcmp(ctx->ch[i]->name, name) == 0) {
            *ch_r = ctx->ch[i];
            if (ctx->ch[i]->broken) {
                if (err_r && !*err_r)
                    *err_r = hx_error_copy(ctx->ch[i]->broken);
                return ctx->ch[i]->broken->cls;
            }
            return hctx_channel_init(ctx->ch[i], err_r);
        }
    struct hbuf names = {0};
    for (size_t i = 0; i < ctx->n_ch; i++)
        hbuf_printf(&names, "%s%s", i ? ", " : "", ctx->ch[i]->name);
    hx_error(err_r, HERALD_ERR_CONFIG, "no channel named '%s' in %s", name,
             ctx->conf->file);
    hx_fix(err_r, HERALD_ERR_CONFIG, "%s%s", ctx->n_ch ? "the channels are: "
           : "add a [channel NAME] section", names.data ? names.data : "");
    hbuf_free(&names);
    return HERALD_ERR_CONFIG;
}

/* ---------------------------------------------------------------- sending */

struct field_cap {
    unsigned long long cap;
    const char *what;
};

/* Fields the driver cannot carry: error naming the field, or (with
 * `unsupported = drop`) removed from the view with a log line. */
static herald_class fit_to_driver(const struct herald_channel *ch,
                                  struct herald_msg *view, herald_error **err_r)
{
    unsigned long long caps = ch->drv->desc->caps;
    struct {
        unsigned long long cap;
        int present;
        const char *field;
    } need[] = {
        {HERALD_CAP_HTML, view->html != NULL, "html body"},
        {HERALD_CAP_ATTACHMENTS, view->n_att > 0, "attachments"},
        {HERALD_CAP_CC_BCC, view->n_rcpt[HM_CC] + view->n_rcpt[HM_BCC] > 0, "cc/bcc"},
        {HERALD_CAP_REPLY_TO, view->reply_to != NULL, "reply-to"},
        {HERALD_CAP_HEADERS, view->n_headers > 0, "extra headers"},
        {HERALD_CAP_TAGS, view->n_tags > 0, "tags"},
        {HERALD_CAP_METADATA, view->n_metadata > 0, "metadata"},
        {HERALD_CAP_IDEMPOTENCY, view->idempotency_key != NULL &&
         !view->idem_generated, "idempotency key"},
    };
    /* A key the spool generated goes only where the driver sends keys. */
    if (view->idem_generated && !(caps & HERALD_CAP_IDEMPOTENCY))
        view->idempotency_key = NULL;
    for (size_t i = 0; i < sizeof need / sizeof need[0]; i++) {
        if (!need[i].present || (caps & need[i].cap))
            continue;
        if (!ch->drop_unsupported)
            return hx_fix(err_r, hx_error(err_r, HERALD_ERR_INVALID_MESSAGE,
                                          "the %s driver cannot carry the "
                                          "message's %s", ch->drv->desc->name,
                                          need[i].field),
                          "remove them or set `unsupported = drop` in "
                          "[channel %s]", ch->name);
        hctx_chan_log(ch, HERALD_LOG_WARNING, "dropping the message's %s: the %s "
                 "driver cannot carry them (unsupported = drop)",
                 need[i].field, ch->drv->desc->name);
        switch (need[i].cap) {
        case HERALD_CAP_HTML: view->html = NULL; break;
        case HERALD_CAP_ATTACHMENTS: view->n_att = 0; break;
        case HERALD_CAP_CC_BCC: view->n_rcpt[HM_CC] = view->n_rcpt[HM_BCC] = 0; break;
        case HERALD_CAP_REPLY_TO: view->reply_to = NULL; break;
        case HERALD_CAP_HEADERS: view->n_headers = 0; break;
        case HERALD_CAP_TAGS: view->n_tags = 0; break;
        case HERALD_CAP_METADATA: view->n_metadata = 0; break;
        case HERALD_CAP_IDEMPOTENCY: view->idempotency_key = NULL; break;
        }
    }
    if (!view->text && !view->html)
        return hx_fix(err_r, hx_error(err_r, HERALD_ERR_INVALID_MESSAGE,
                                      "the message has only an HTML body and "
                                      "the %s driver cannot carry HTML",
                                      ch->drv->desc->name), "add a text body");
    if (view->n_rcpt[HM_TO] == 0 && !(caps & HERALD_CAP_CC_BCC))
        return hx_error(err_r, HERALD_ERR_INVALID_MESSAGE,
                        "the message has no To recipient and the %s driver "
                        "cannot carry cc/bcc", ch->drv->desc->name);
    return HERALD_OK;
}

/* The message as the driver sees it: a shallow copy with the sender
 * resolved and unsupported fields handled. */
static herald_class prepare_view(herald_ctx *ctx, struct herald_channel *ch,
                                 const herald_msg *msg, struct herald_msg *view,
                                 herald_error **err_r)
{
    *view = *msg;
    if (!view->from && ch->has_from)
        view->from = &ch->from;
    /* A sender is required by email drivers only; chat drivers have none. */
    int need_from = (ch->drv->desc->caps & HERALD_CAP_EMAIL) != 0;
    herald_class rc = hm_validate(view, &ctx->limits, need_from, err_r);
    if (rc == HERALD_OK)
        rc = fit_to_driver(ch, view, err_r);
    return rc;
}

void hctx_lock_channel(struct herald_channel *ch)
{
    if (ch->serialize)
        pthread_mutex_lock(&ch->lock);
}

void hctx_unlock_channel(struct herald_channel *ch)
{
    if (ch->serialize)
        pthread_mutex_unlock(&ch->lock);
}

/* Give @err (labelled with @channel) to the caller, or free it. */
herald_class hctx_hand_back(herald_class rc, herald_error *err,
                              const char *channel, herald_error **err_r)
{
    hx_error_set_channel(err, channel);
    if (err_r && !*err_r)
        *err_r = err;
    else
        herald_error_free(err);
    return rc;
}

/* Find the channel and build the driver's view of @msg. */
static herald_class resolve(herald_ctx *ctx, const char *channel,
                            const herald_msg *msg, struct herald_channel **ch_r,
                            struct herald_msg *view, herald_error **err_r)
{
    herald_class rc = hctx_find_channel(ctx, channel, ch_r, err_r);
    return rc == HERALD_OK ? prepare_view(ctx, *ch_r, msg, view, err_r) : rc;
}

/* One attempt: the driver's send under the channel's lock.  A failure
 * always comes back with an error labelled with the channel. */
herald_class hctx_attempt(struct herald_channel *ch, const struct herald_msg *view,
                          herald_result *res, herald_error **err_r)
{
    herald_error *err = NULL;
    hctx_lock_channel(ch);
    herald_class rc = ch->drv->desc->send(ch->state, view, res, &err);
    hctx_unlock_channel(ch);
    if (rc == HERALD_OK) {
        herald_error_free(err);
        hctx_chan_log(ch, HERALD_LOG_DEBUG, "sent, id %s",
                      res->message_id ? res->message_id : "(none)");
        return HERALD_OK;
    }
    if (!err)
        hx_error(&err, rc, "the %s driver failed (%s) without saying why",
                 ch->drv->desc->name, herald_strerror(rc));
    /* A lost answer is safe to repeat only when the request carried an
     * idempotency key that this driver sends and its provider honours. */
    if (rc == HERALD_ERR_DELIVERY_UNKNOWN && view->idempotency_key &&
        (ch->drv->desc->caps & HERALD_CAP_IDEMPOTENCY))
        hx_error_set_idempotent(err);
    hx_error_set_channel(err, ch->name);
    hctx_chan_log(ch, HERALD_LOG_INFO, "send failed: %s", err->message);
    return hctx_hand_back(rc, err, ch->name, err_r);
}

herald_class hctx_deliver(herald_ctx *ctx, const char *channel,
                          const herald_msg *msg, herald_result **result_r,
                          herald_error **err_r, time_t *retry_at_r)
{
    if (result_r)
        *result_r = NULL;
    if (retry_at_r)
        *retry_at_r = 0;
    struct herald_channel *ch = NULL;
    herald_error *err = NULL;
    struct herald_msg view;
    herald_class rc = resolve(ctx, channel, msg, &ch, &view, &err);
    if (rc != HERALD_OK)
        return hctx_hand_back(rc, err, channel, err_r);
    herald_result *res = hx_result_new(ch->name, ch->drv->desc->name);
    if (!res)
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    rc = hctx_attempt(ch, &view, res, err_r);
    if (rc != HERALD_OK && (res->n_rcpt == 0 || !result_r)) {
        herald_result_free(res);
        res = NULL;
    }
    if (result_r)
        *result_r = res;
    else
        herald_result_free(res);
    return rc;
}

struct herald_channel *hctx_channel_named(herald_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->n_ch; i++)
        if (strcmp(ctx->ch[i]->name, name) == 0)
            return ctx->ch[i];
    return NULL;
}

herald_class hctx_check_message(herald_ctx *ctx, const char *channel,
                                const herald_msg *msg, herald_error **err_r)
{
    struct herald_channel *ch = NULL;
    herald_error *err = NULL;
    struct herald_msg view;
    herald_class rc = resolve(ctx, channel, msg, &ch, &view, &err);
    return rc == HERALD_OK ? rc : hctx_hand_back(rc, err, channel, err_r);
}

/* The delivery failed with @err and the spool could not keep the message
 * either: one error saying both, with the spool's fix. */
static herald_class spool_failed(herald_error *err, herald_error *serr,
                                 herald_error **err_r)
{
    herald_class rc = hx_error(err_r, serr->cls, "%s; and the spool could "
                               "not keep the message: %s", err->message,
                               serr->message);
    if (serr->fix)
        hx_fix(err_r, rc, "%s", serr->fix);
    if (err_r && *err_r && err->channel)
        hx_error_tag_channel(*err_r, err->channel);
    herald_error_free(err);
    herald_error_free(serr);
    return rc;
}

herald_class herald_send(herald_ctx *ctx, const char *channel,
                         const herald_msg *msg, herald_result **result_r,
                         herald_error **err_r)
{
    if (result_r)
        *result_r = NULL;
    if (!ctx || !channel || !msg)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "herald_send: ctx, channel and msg must not be NULL");
    struct herald_channel *ch = hctx_channel_named(ctx, channel);
    int mode = ctx->spool && ch ? ch->spool_mode : HCTX_SPOOL_NEVER;
    if (mode == HCTX_SPOOL_ALWAYS)
        return herald_queue_add(ctx, channel, msg, result_r, err_r);
    herald_error *err = NULL;
    time_t retry_at = 0;
    herald_class rc = hctx_deliver(ctx, channel, msg, result_r, &err, &retry_at);
    if (rc == HERALD_OK || mode == HCTX_SPOOL_NEVER ||
        !(herald_error_retryable(err) || retry_at)) {
        if (err_r && !*err_r)
            *err_r = err;
        else
            herald_error_free(err);
        return rc;
    }
    /* Not deliverable now: keep it on disk, due after the first delay
     * or when the provider said to come back. */
    if (result_r) {
        herald_result_free(*result_r);
        *result_r = NULL;
    }
    herald_error *serr = NULL;
    rc = hs_submit(ctx, channel, msg, err, (long long)retry_at, 0, result_r,
                   &serr);
    if (rc != HERALD_QUEUED)
        return spool_failed(err, serr, err_r);
    herald_error_free(err);
    return HERALD_QUEUED;
}

herald_class herald_render(herald_ctx *ctx, const char *channel,
                           const herald_msg *msg, char **payload_r,
                           size_t *len_r, herald_error **err_r)
{
    if (!ctx || !channel || !msg || !payload_r)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "herald_render: ctx, channel, msg and payload_r must not be NULL");
    *payload_r = NULL;
    struct herald_channel *ch = NULL;
    herald_error *err = NULL;
    struct herald_msg view;
    herald_class rc = resolve(ctx, channel, msg, &ch, &view, &err);
    if (rc == HERALD_OK && !ch->drv->desc->render)
        rc = hx_error(&err, HERALD_ERR_CONFIG,
                      "the %s driver cannot show its payload (it has no render "
                      "function)", ch->drv->desc->name);
    if (rc == HERALD_OK) {
        size_t len = 0;
        hctx_lock_channel(ch);
        rc = ch->drv->desc->render(ch->state, &view, payload_r, &len, &err);
        hctx_unlock_channel(ch);
        if (rc == HERALD_OK && len_r)
            *len_r = len;
        if (rc != HERALD_OK && !err)
            hx_error(&err, rc, "the %s driver could not render the message",
                     ch->drv->desc->name);
    }
    return rc == HERALD_OK ? rc : hctx_hand_back(rc, err, channel, err_r);
}

