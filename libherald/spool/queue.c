/*
 * libherald/spool/queue.c - the queue API over the spool backend: item
 * accessors, list, get, retry, drop, purge, next_due, dir, and
 * herald_queue_add / hs_submit (writing a message into the spool).
 */
#include "spool.h"
#include "../context.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- items */

const char *herald_queue_item_id(const herald_queue_item *item)
{
    return item ? item->id : NULL;
}

const char *herald_queue_item_channel(const herald_queue_item *item)
{
    return item ? item->channel : NULL;
}

size_t herald_queue_item_recipient_count(const herald_queue_item *item)
{
    if (!item)
        return 0;
    const herald_msg *m = item->msg;
    return m->n_rcpt[HM_TO] + m->n_rcpt[HM_CC] + m->n_rcpt[HM_BCC];
}

const char *herald_queue_item_recipient(const herald_queue_item *item, size_t i)
{
    if (!item)
        return NULL;
    for (int k = 0; k < 3; k++) {
        if (i < item->msg->n_rcpt[k])
            return item->msg->rcpt[k][i].addr;
        i -= item->msg->n_rcpt[k];
    }
    return NULL;
}

const char *herald_queue_item_subject(const herald_queue_item *item)
{
    return item ? item->msg->subject : NULL;
}

unsigned herald_queue_item_attempts(const herald_queue_item *item)
{
    return item ? item->attempts : 0;
}

long long herald_queue_item_created(const herald_queue_item *item)
{
    return item ? item->created : 0;
}

long long herald_queue_item_next_attempt(const herald_queue_item *item)
{
    return item && !item->reason ? item->next : 0;
}

const char *herald_queue_item_last_error(const herald_queue_item *item)
{
    return item && item->n_att ? item->att[item->n_att - 1].message : NULL;
}

herald_class herald_queue_item_last_class(const herald_queue_item *item)
{
    return item && item->n_att ? item->att[item->n_att - 1].cls : HERALD_OK;
}

const char *herald_queue_item_reason(const herald_queue_item *item)
{
    return item ? item->reason : NULL;
}

const char *herald_queue_item_idempotency_key(const herald_queue_item *item)
{
    return item ? item->key : NULL;
}

size_t herald_queue_item_attempt_count(const herald_queue_item *item)
{
    return item ? item->n_att : 0;
}

const char *herald_queue_item_attempt(const herald_queue_item *item, size_t i,
                                      long long *when_r, herald_class *cls_r,
                                      const char **code_r)
{
    if (!item || i >= item->n_att)
        return NULL;
    const struct hs_attempt *a = &item->att[i];
    if (when_r)
        *when_r = a->when;
    if (cls_r)
        *cls_r = a->cls;
    if (code_r)
        *code_r = a->code;
    return a->message;
}

const herald_msg *herald_queue_item_message(const herald_queue_item *item)
{
    return item ? item->msg : NULL;
}

/* ---------------------------------------------------------------- helpers */

herald_class hs_need_spool(herald_ctx *ctx, const char *fn,
                               herald_error **err_r)
{
    if (!ctx)
        return hx_error(err_r, HERALD_ERR_USAGE, "%s: ctx must not be NULL", fn);
    if (ctx->spool)
        return HERALD_OK;
    return hx_fix(err_r, hx_error(err_r, HERALD_ERR_CONFIG,
                                  "%s has no spool (no spool_dir in [herald])",
                                  ctx->conf->file),
                  "set spool_dir = /var/spool/herald (a directory the user "
                  "running herald owns) in [herald]; see herald.conf(5)");
}

static int collect(const char *id, long long due, void *user)
{
    struct hs_ids *ids = user;
    if (ids->due_before && due > ids->due_before)
        return 0;
    char **v = hx_grow(ids->v, ids->n, sizeof *v);
    char *copy = hx_strdup(id);
    if (!v || !copy) {
        free(copy);
        if (v)
            ids->v = v;
        ids->oom = 1;
        return 1;
    }
    ids->v = v;
    ids->v[ids->n++] = copy;
    return 0;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void hs_ids_free(struct hs_ids *ids)
{
    for (size_t i = 0; i < ids->n; i++)
        free(ids->v[i]);
    free(ids->v);
    ids->v = NULL;
    ids->n = 0;
}

herald_class hs_ids(struct hs_backend *b, enum hs_area area,
                    long long due_before, struct hs_ids *ids, herald_error **err_r)
{
    *ids = (struct hs_ids){NULL, 0, due_before, 0};
    herald_class rc = b->ops->list(b, area, collect, ids, err_r);
    if (rc == HERALD_OK && ids->oom)
        rc = hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    if (rc != HERALD_OK) {
        hs_ids_free(ids);
        return rc;
    }
    if (ids->n > 1)
        qsort(ids->v, ids->n, sizeof *ids->v, by_id);
    return HERALD_OK;
}

/* ---------------------------------------------------------------- list, get */

herald_class herald_queue_list(herald_ctx *ctx, unsigned flags,
                               herald_queue_fn fn, void *user_data,
                               herald_error **err_r)
{
    herald_class rc = hs_need_spool(ctx, "herald_queue_list", err_r);
    if (rc != HERALD_OK)
        return rc;
    if (!fn || (flags & ~(unsigned)HERALD_QUEUE_FAILED))
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "herald_queue_list: fn is NULL or flags unknown");
    enum hs_area area = flags & HERALD_QUEUE_FAILED ? HS_FAILED : HS_QUEUE;
    struct hs_ids ids;
    if ((rc = hs_ids(ctx->spool, area, 0, &ids, err_r)) != HERALD_OK)
        return rc;
    for (size_t i = 0; i < ids.n; i++) {
        hs_item *it = NULL;
        herald_error *err = NULL;
        herald_class r = ctx->spool->ops->get(ctx->spool, area, ids.v[i], &it, &err);
        if (r == HERALD_ERR_USAGE) {          /* delivered meanwhile */
            herald_error_free(err);
            continue;
        }
        if (r != HERALD_OK) {
            hctx_log(ctx, HERALD_LOG_WARNING, NULL, "%s", herald_error_message(err));
            herald_error_free(err);
            continue;
        }
        int stop = fn(it, user_data);
        hs_item_free(it);
        if (stop)
            break;
    }
    hs_ids_free(&ids);
    return HERALD_OK;
}

herald_class herald_queue_get(herald_ctx *ctx, const char *id,
                              herald_queue_fn fn, void *user_data,
                              herald_error **err_r)
{
    herald_class rc = hs_need_spool(ctx, "herald_queue_get", err_r);
    if (rc != HERALD_OK)
        return rc;
    if (!id || !fn)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "herald_queue_get: id and fn must not be NULL");
    hs_item *it = NULL;
    herald_error *err = NULL;
    rc = ctx->spool->ops->get(ctx->spool, HS_QUEUE, id, &it, &err);
    if (rc == HERALD_ERR_USAGE && hs_id_valid(id)) {
        herald_error_free(err);
        err = NULL;
        rc = ctx->spool->ops->get(ctx->spool, HS_FAILED, id, &it, &err);
        if (rc == HERALD_ERR_USAGE) {
            herald_error_free(err);
            err = NULL;
            rc = hx_fix(&err, hx_error(&err, HERALD_ERR_USAGE, "no message "
                                       "with queue id %s in the spool", id),
                        "`herald queue list` (and `--failed`) shows the ids");
        }
    }
    if (rc != HERALD_OK)
        return hctx_hand_back(rc, err, NULL, err_r);
    fn(it, user_data);
    hs_item_free(it);
    return HERALD_OK;
}

/* ---------------------------------------------------------------- retry, drop, purge */

/* Claim @id in @area: the busy case as an error for the callers that
 * name one message. */
static herald_class claim_one(struct hs_backend *b, enum hs_area area,
                              const char *id, struct hs_claim **c_r,
                              hs_item **it_r, herald_error **err_r)
{
    herald_class rc = area == HS_QUEUE ? b->ops->claim(b, id, c_r, it_r, err_r)
                                       : b->ops->claim_failed(b, id, c_r, it_r, err_r);
    return rc;
}

/* Retry one claimed message: due now, back in the queue. */
static herald_class retry_claimed(struct hs_backend *b, struct hs_claim *c,
                                  hs_item *it, herald_error **err_r)
{
    long long now = (long long)time(NULL);
    it->next = now;
    if (it->reason) {
        free(it->reason);
        it->reason = NULL;
        it->age_from = now;
    }
    return b->ops->defer(b, c, it, err_r);
}

/* Find @id (waiting first, then dead) and claim it.  HERALD_QUEUED: it is
 * held by a runner. */
static herald_class claim_named(herald_ctx *ctx, const char *id,
                                struct hs_claim **c_r, hs_item **it_r,
                                herald_error **err_r)
{
    herald_error *err = NULL;
    hs_item *probe = NULL;
    enum hs_area area = HS_QUEUE;
    herald_class rc = ctx->spool->ops->get(ctx->spool, HS_QUEUE, id, &probe, &err);
    if (rc == HERALD_ERR_USAGE && hs_id_valid(id)) {
        herald_error_free(err);
        err = NULL;
        area = HS_FAILED;
        rc = ctx->spool->ops->get(ctx->spool, HS_FAILED, id, &probe, &err);
        if (rc == HERALD_ERR_USAGE) {
            herald_error_free(err);
            err = NULL;
            rc = hx_fix(&err, hx_error(&err, HERALD_ERR_USAGE, "no message "
                                       "with queue id %s in the spool", id),
                        "`herald queue list` (and `--failed`) shows the ids");
        }
    }
    hs_item_free(probe);
    if (rc != HERALD_OK)
        return hctx_hand_back(rc, err, NULL, err_r);
    rc = claim_one(ctx->spool, area, id, c_r, it_r, err_r);
    if (rc == HERALD_QUEUED)
        return hx_fix(err_r, hx_error(err_r, HERALD_ERR_TEMPORARY,
                                      "queued message %s is being delivered "
                                      "right now", id),
                      "try again in a moment");
    return rc;
}

herald_class herald_queue_retry(herald_ctx *ctx, const char *id,
                                unsigned flags, size_t *count_r,
                                herald_error **err_r)
{
    if (count_r)
        *count_r = 0;
    herald_class rc = hs_need_spool(ctx, "herald_queue_retry", err_r);
    if (rc != HERALD_OK)
        return rc;
    struct hs_backend *b = ctx->spool;
    struct hs_claim *c = NULL;
    hs_item *it = NULL;
    if (id) {
        if ((rc = claim_named(ctx, id, &c, &it, err_r)) != HERALD_OK)
            return rc;
        rc = retry_claimed(b, c, it, err_r);
        hs_item_free(it);
        if (rc == HERALD_OK && count_r)
            *count_r = 1;
        return rc;
    }
    enum hs_area area = flags & HERALD_QUEUE_FAILED ? HS_FAILED : HS_QUEUE;
    struct hs_ids ids;
    if ((rc = hs_ids(b, area, 0, &ids, err_r)) != HERALD_OK)
        return rc;
    for (size_t i = 0; i < ids.n && rc == HERALD_OK; i++) {
        herald_error *err = NULL;
        herald_class r = claim_one(b, area, ids.v[i], &c, &it, &err);
        if (r == HERALD_OK) {
            rc = retry_claimed(b, c, it, err_r);
            hs_item_free(it);
            if (rc == HERALD_OK && count_r)
                (*count_r)++;
        } else if (r != HERALD_QUEUED) {
            hctx_log(ctx, HERALD_LOG_WARNING, NULL, "%s", herald_error_message(err));
        }
        herald_error_free(err);
    }
    hs_ids_free(&ids);
    return rc;
}

herald_class herald_queue_drop(herald_ctx *ctx, const char *id,
                               herald_error **err_r)
{
    herald_class rc = hs_need_spool(ctx, "herald_queue_drop", err_r);
    if (rc != HERALD_OK)
        return rc;
    if (!id)
        return hx_error(err_r, HERALD_ERR_USAGE, "herald_queue_drop: id is NULL");
    struct hs_claim *c = NULL;
    hs_item *it = NULL;
    if ((rc = claim_named(ctx, id, &c, &it, err_r)) != HERALD_OK)
        return rc;
    hs_item_free(it);
    rc = ctx->spool->ops->ack(ctx->spool, c, err_r);
    if (rc == HERALD_OK)
        hctx_log(ctx, HERALD_LOG_INFO, NULL, "dropped queued message %s", id);
    return rc;
}

herald_class herald_queue_purge(herald_ctx *ctx, unsigned flags,
                                long long older_than_s, size_t *count_r,
                                herald_error **err_r)
{
    if (count_r)
        *count_r = 0;
    herald_class rc = hs_need_spool(ctx, "herald_queue_purge", err_r);
    if (rc != HERALD_OK)
        return rc;
    struct hs_backend *b = ctx->spool;
    enum hs_area area = flags & HERALD_QUEUE_FAILED ? HS_FAILED : HS_QUEUE;
    struct hs_ids ids;
    if ((rc = hs_ids(b, area, 0, &ids, err_r)) != HERALD_OK)
        return rc;
    long long cutoff = (long long)time(NULL) - (older_than_s > 0 ? older_than_s : 0);
    for (size_t i = 0; i < ids.n && rc == HERALD_OK; i++) {
        struct hs_claim *c = NULL;
        hs_item *it = NULL;
        herald_error *err = NULL;
        herald_class r = claim_one(b, area, ids.v[i], &c, &it, &err);
        if (r == HERALD_OK && (older_than_s <= 0 || it->created <= cutoff)) {
            rc = b->ops->ack(b, c, err_r);
            if (rc == HERALD_OK && count_r)
                (*count_r)++;
        } else if (r == HERALD_OK) {
            b->ops->release(b, c);
        } else if (r != HERALD_QUEUED) {
            hctx_log(ctx, HERALD_LOG_WARNING, NULL, "%s", herald_error_message(err));
        }
        hs_item_free(it);
        herald_error_free(err);
    }
    hs_ids_free(&ids);
    return rc;
}

/* ---------------------------------------------------------------- next due, dir */

herald_class herald_queue_next_due(herald_ctx *ctx, long long *when_r,
                                   herald_error **err_r)
{
    if (when_r)
        *when_r = 0;
    herald_class rc = hs_need_spool(ctx, "herald_queue_next_due", err_r);
    if (rc != HERALD_OK)
        return rc;
    long long when = 0;
    rc = ctx->spool->ops->next_due(ctx->spool, &when, err_r);
    if (rc == HERALD_OK && when_r)
        *when_r = when;
    return rc;
}

const char *herald_queue_dir(const herald_ctx *ctx)
{
    return ctx && ctx->spool && ctx->spool->ops->watch_dir
        ? ctx->spool->ops->watch_dir(ctx->spool) : NULL;
}

/* ---------------------------------------------------------------- adding */

long long hs_next_attempt(long long now, unsigned attempts, long long retry_at,
                          const herald_error *err)
{
    if (err && err->retry_after >= 0 && now + err->retry_after > retry_at)
        retry_at = now + err->retry_after;
    long long delay = 60;
    for (unsigned i = 1; i < attempts && delay < 3600; i++)
        delay *= 2;
    if (delay > 3600)
        delay = 3600;
    long long t = now + delay;
    return retry_at > t ? retry_at : t;
}

herald_class hs_submit(herald_ctx *ctx, const char *channel,
                       const herald_msg *msg, const herald_error *err,
                       long long retry_at, int due_now,
                       herald_result **result_r, herald_error **err_r)
{
    char id[HS_ID_MAX];
    if (hs_new_id(id) != 0)
        return hx_fix(err_r, hx_error(err_r, HERALD_ERR_INTERNAL, "spool: "
                                      "getrandom failed; nothing was queued"),
                      "check the kernel's random source");
    long long now = (long long)time(NULL);
    char *gen = msg->idempotency_key ? NULL : hx_printf("herald-%s", id);
    hs_item it = {0};
    it.id = id;
    it.channel = (char *)channel;
    it.created = it.age_from = now;
    it.msg = (herald_msg *)msg;
    it.key = msg->idempotency_key ? msg->idempotency_key : gen;
    it.key_generated = gen != NULL;
    herald_class rc = HERALD_OK;
    if (!it.key || (err && (it.attempts = 1, hs_item_add_attempt(&it, now, err) != 0)))
        rc = hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    it.next = due_now ? now : hs_next_attempt(now, it.attempts, retry_at, err);
    if (rc == HERALD_OK)
        rc = ctx->spool->ops->enqueue(ctx->spool, &it, err_r);
    for (size_t i = 0; i < it.n_att; i++) {
        free(it.att[i].code);
        free(it.att[i].message);
    }
    free(it.att);
    free(gen);
    if (rc != HERALD_OK)
        return rc;
    struct herald_channel *ch = hctx_channel_named(ctx, channel);
    hctx_log(ctx, HERALD_LOG_INFO, channel, "queued as %s, next attempt in %llds",
             id, it.next - now);
    if (result_r) {
        *result_r = hx_result_new(channel, ch ? ch->driver_name : "");
        if (*result_r) {
            hx_result_set_queue_id(*result_r, id);
            (*result_r)->attempts = it.attempts;
        }
    }
    return HERALD_QUEUED;
}

herald_class herald_queue_add(herald_ctx *ctx, const char *channel,
                              const herald_msg *msg, herald_result **result_r,
                              herald_error **err_r)
{
    if (result_r)
        *result_r = NULL;
    herald_class rc = hs_need_spool(ctx, "herald_queue_add", err_r);
    if (rc != HERALD_OK)
        return rc;
    if (!channel || !msg)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "herald_queue_add: channel and msg must not be NULL");
    if ((rc = hctx_check_message(ctx, channel, msg, err_r)) != HERALD_OK)
        return rc;
    return hs_submit(ctx, channel, msg, NULL, 0, 1, result_r, err_r);
}
