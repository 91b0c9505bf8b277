/*
 * libherald/spool/run.c - herald_queue_run: claim each due message,
 * deliver it through hctx_deliver (never spooled again), then ack, defer
 * with a backoff, or move it to the dead letters.
 */
#include "spool.h"
#include "../context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* "5d", "36h", "90m", "45s" for a spool_max_age in seconds. */
static void format_age(char *buf, size_t n, long long s)
{
    if (s && s % 86400 == 0)
        snprintf(buf, n, "%lldd", s / 86400);
    else if (s && s % 3600 == 0)
        snprintf(buf, n, "%lldh", s / 3600);
    else if (s && s % 60 == 0)
        snprintf(buf, n, "%lldm", s / 60);
    else
        snprintf(buf, n, "%llds", s);
}

/* Give up on @it: to the dead letters with @reason (malloc'd, taken). */
static herald_class give_up(herald_ctx *ctx, struct hs_claim *c, hs_item *it,
                            char *reason, herald_error **err_r)
{
    if (!reason) {
        ctx->spool->ops->release(ctx->spool, c);
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    }
    free(it->reason);
    it->reason = reason;
    it->next = 0;
    hctx_log(ctx, HERALD_LOG_WARNING, it->channel, "queued message %s moved to "
             "the dead letters: %s", it->id, reason);
    return ctx->spool->ops->fail(ctx->spool, c, it, err_r);
}

enum outcome { DELIVERED, DEFERRED, FAILED, EXPIRED };

/* Deliver one claimed message and settle it.  The claim ends here. */
static herald_class settle(herald_ctx *ctx, struct hs_claim *c, hs_item *it,
                           enum outcome *out, herald_error **err_r)
{
    struct hs_backend *b = ctx->spool;
    long long now = (long long)time(NULL);
    if (ctx->spool_max_age > 0 && now - it->age_from > ctx->spool_max_age) {
        char age[32];
        format_age(age, sizeof age, ctx->spool_max_age);
        const char *last = herald_queue_item_last_error(it);
        *out = EXPIRED;
        return give_up(ctx, c, it, hx_printf("older than spool_max_age (%s)%s%s",
                                             age, last ? "; last error: " : "",
                                             last ? last : ""), err_r);
    }
    if (!hctx_channel_named(ctx, it->channel)) {
        *out = FAILED;
        return give_up(ctx, c, it, hx_printf("channel '%s' is no longer in %s",
                                             it->channel, ctx->conf->file), err_r);
    }
    herald_result *res = NULL;
    herald_error *err = NULL;
    time_t retry_at = 0;
    herald_class rc = hctx_deliver(ctx, it->channel, it->msg, &res, &err, &retry_at);
    it->attempts += res ? res->attempts : 1;
    if (rc == HERALD_OK) {
        hctx_log(ctx, HERALD_LOG_INFO, it->channel, "queued message %s "
                 "delivered, id %s", it->id,
                 res && res->message_id ? res->message_id : "(none)");
        herald_result_free(res);
        *out = DELIVERED;
        return b->ops->ack(b, c, err_r);
    }
    herald_result_free(res);
    if (hs_item_add_attempt(it, now, err) != 0) {
        herald_error_free(err);
        b->ops->release(b, c);
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    }
    if (herald_error_retryable(err) || retry_at) {
        it->next = hs_next_attempt(now, it->attempts, (long long)retry_at, err);
        hctx_log(ctx, HERALD_LOG_INFO, it->channel, "queued message %s "
                 "deferred for %llds: %s", it->id, it->next - now, err->message);
        herald_error_free(err);
        *out = DEFERRED;
        return b->ops->defer(b, c, it, err_r);
    }
    char *reason = hx_printf("%s: %s", herald_class_name(err->cls), err->message);
    herald_error_free(err);
    *out = FAILED;
    return give_up(ctx, c, it, reason, err_r);
}

herald_class herald_queue_run(herald_ctx *ctx, const herald_queue_run_opts *opts,
                              herald_queue_stats *stats_r, herald_error **err_r)
{
    static const herald_queue_run_opts none = {0, NULL, 0, NULL};
    herald_queue_stats st = {0};
    if (stats_r)
        *stats_r = st;
    herald_class rc = hs_need_spool(ctx, "herald_queue_run", err_r);
    if (rc != HERALD_OK)
        return rc;
    if (!opts)
        opts = &none;
    if (opts->flags & ~(unsigned)HERALD_QUEUE_RUN_ALL)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "herald_queue_run: unknown flags 0x%x", opts->flags);
    struct hs_backend *b = ctx->spool;
    int all = (opts->flags & HERALD_QUEUE_RUN_ALL) != 0;
    struct hs_ids ids;
    if ((rc = hs_ids(b, HS_QUEUE, all ? 0 : (long long)time(NULL), &ids,
                     err_r)) != HERALD_OK)
        return rc;
    size_t tried = 0;
    for (size_t i = 0; i < ids.n && rc == HERALD_OK; i++) {
        if ((opts->stop && *opts->stop) ||
            (opts->max_messages && tried >= opts->max_messages))
            break;
        struct hs_claim *c = NULL;
        hs_item *it = NULL;
        herald_error *err = NULL;
        herald_class r = b->ops->claim(b, ids.v[i], &c, &it, &err);
        if (r == HERALD_QUEUED) {
            st.busy++;
            continue;
        }
        if (r != HERALD_OK) {
            hctx_log(ctx, HERALD_LOG_WARNING, NULL, "%s", herald_error_message(err));
            herald_error_free(err);
            st.unreadable++;
            continue;
        }
        if ((opts->channel && strcmp(opts->channel, it->channel) != 0) ||
            (!all && it->next > (long long)time(NULL))) {
            b->ops->release(b, c);
            hs_item_free(it);
            continue;
        }
        tried++;
        enum outcome out = DELIVERED;
        rc = settle(ctx, c, it, &out, err_r);
        hs_item_free(it);
        if (rc != HERALD_OK)
            break;
        switch (out) {
        case DELIVERED: st.delivered++; break;
        case DEFERRED: st.deferred++; break;
        case FAILED: st.failed++; break;
        case EXPIRED: st.expired++; break;
        }
    }
    hs_ids_free(&ids);
    if (stats_r)
        *stats_r = st;
    return rc;
}
