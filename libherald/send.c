/* libherald/send.c - the message path: find the channel (its driver
 * initialised on first use), build the driver's view of the message
 * (sender, validation, fields the driver cannot carry), one attempt under
 * the channel's lock, herald_send and herald_render. */
#include "context.h"
#include "base/base.h"
#include "deliver/deliver.h"
#include "spool/spool.h"

#include <stdarg.h>
#include <stdio.h>

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

/* ---------------------------------------------------------------- retry,
 * failover, breaker: the loop over hctx_attempt (rules in herald_send's
 * comment in herald.h; settings and decisions in deliver/). */

/* "2026-12-04T15:01:02Z" for wall-clock @ms. */
static void format_utc(char *buf, size_t n, long long ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "%lld", ms / 1000);
}

static herald_class circuit_open(herald_error **err_r, const char *fmt, ...)
    HERALD_PRINTF(2, 3);
static herald_class circuit_open(herald_error **err_r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    herald_class rc = hx_error_full(err_r, HERALD_ERR_TEMPORARY, "circuit_open",
                                    NULL, -1, fmt, ap);
    va_end(ap);
    return rc;
}

/* The earliest of two wall-clock times, 0 meaning "none". */
static long long earliest(long long a, long long b)
{
    return !a ? b : !b ? a : a < b ? a : b;
}

/* Every attempt @ch gets: the breaker's verdict, then the first try and
 * its retries (each after its delay and a rate-limit token).  On failure
 * *err_r holds the last error and *retry_at_ms_r (wall ms, 0 = nothing
 * says) when a later try could help. */
static herald_class try_channel(struct herald_channel *ch,
                                const struct herald_msg *view, herald_result *res,
                                herald_error **err_r, long long *retry_at_ms_r)
{
    struct hd_chan *dl = ch->dl;
    int has_fallback = dl && dl->fallback;
    long long trial_ms = 0;
    unsigned failures = 0;
    enum hd_admit admit = hd_breaker_admit(ch, &trial_ms, &failures);
    hx_result_set_channel(res, ch->name, ch->drv->desc->name);
    if (admit == HD_SKIP) {
        char when[40];
        format_utc(when, sizeof when, trial_ms);
        herald_error *err = NULL;
        hx_fix(&err, circuit_open(&err, "circuit open for %s after %u "
                                  "failures; next trial at %s", ch->name,
                                  failures, when),
               "%s; `herald status %s` shows the breaker (it closes after "
               "one good trial; see breaker_threshold and breaker_cooldown "
               "in herald.conf(5))", has_fallback ? "the fallback is tried"
               : "set `fallback = CHANNEL` to send elsewhere meanwhile, or "
               "wait for the trial", ch->name);
        hx_error_tag_channel(err, ch->name);
        hctx_chan_log(ch, HERALD_LOG_INFO, "skipped: circuit open after %u "
                      "failures, next trial at %s", failures, when);
        hx_result_add_attempt(res, ch->name, err, 0, 1);
        *retry_at_ms_r = trial_ms;
        *err_r = err;
        return HERALD_ERR_TEMPORARY;
    }
    unsigned retries = dl && admit == HD_PASS ? dl->retries : 0;
    long long delay = 0;
    for (unsigned n = 0;; n++) {
        long long waited = delay + hd_rate_take(ch);
        herald_error *err = NULL;
        hx_result_clear_recipients(res);
        herald_class rc = hctx_attempt(ch, view, res, &err);
        hd_breaker_report(ch, rc == HERALD_OK, rc);
        hx_result_add_attempt(res, ch->name, rc == HERALD_OK ? NULL : err,
                              waited, 0);
        if (rc == HERALD_OK) {
            hctx_chan_log(ch, HERALD_LOG_INFO, "attempt %u: delivered%s "
                          "(waited %lld ms before it)", n + 1,
                          admit == HD_TRIAL ? " (breaker trial: closed)" : "",
                          waited);
            return HERALD_OK;
        }
        const char *code = err->code ? err->code : "-";
        const char *cls = herald_class_name(rc);
        long long next = hd_retry_delay(dl, n + 1, err->retry_after);
        int worth = hd_retry_worth(err, has_fallback);
        if (worth && n < retries && next <= dl->max_delay_ms) {
            hctx_chan_log(ch, HERALD_LOG_INFO, "attempt %u: %s, code %s; "
                          "retrying in %lld ms%s", n + 1, cls, code, next,
                          err->retry_after >= 0 ? " (the provider's "
                          "retry-after)" : "");
            herald_error_free(err);
            hd_sleep_ms(next);
            delay = next;
            continue;
        }
        if (herald_error_retryable(err))
            *retry_at_ms_r = hd_now_ms() + next;
        hctx_chan_log(ch, HERALD_LOG_INFO, "attempt %u: %s, code %s; %s", n + 1,
                      cls, code, !worth ? "not retried (not a transient "
                      "failure here)" : n >= retries ? "no retries left"
                      : "the retry-after is longer than retry_max_delay, "
                      "not waiting for it");
        *err_r = err;
        return rc;
    }
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
    long long retry_at = 0;
    for (size_t hop = 0;; hop++) {
        long long at = 0;
        rc = try_channel(ch, &view, res, &err, &at);
        retry_at = earliest(retry_at, at);
        struct herald_channel *next = ch->dl ? ch->dl->fallback : NULL;
        if (rc == HERALD_OK || !next || !hd_failover_worth(err) ||
            hop >= ctx->n_ch)
            break;
        /* The fallback applies its own sender, checks and `unsupported`. */
        struct herald_channel *nch = NULL;
        struct herald_msg nview;
        herald_error *nerr = NULL;
        herald_class nrc = resolve(ctx, next->name, msg, &nch, &nview, &nerr);
        if (nrc != HERALD_OK) {
            hx_error_set_channel(nerr, next->name);
            hx_result_add_attempt(res, next->name, nerr, 0, 1);
            hctx_chan_log(ch, HERALD_LOG_WARNING, "cannot fail over to "
                          "channel '%s': %s", next->name, nerr->message);
            herald_error_free(nerr);
            break;
        }
        hctx_chan_log(ch, HERALD_LOG_INFO, "failed (%s); failing over to "
                      "channel '%s'", herald_class_name(rc), next->name);
        herald_error_free(err);
        err = NULL;
        ch = nch;
        view = nview;
    }
    if (rc != HERALD_OK && retry_at_r && retry_at)
        *retry_at_r = (time_t)((retry_at + 999) / 1000);
    if (result_r)
        *result_r = res;
    else
        herald_result_free(res);
    return rc == HERALD_OK ? rc : hctx_hand_back(rc, err, ch->name, err_r);
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

