/* libherald/spool/stub.c - placeholder bodies of the queue API so callers
 * build while the spool is written; replaced by queue.c and run.c. */
#include "../internal.h"

static herald_class not_yet(herald_error **err_r, const char *fn)
{
    return hx_fix(err_r, hx_error(err_r, HERALD_ERR_CONFIG,
                                  "%s: the spool is not built yet", fn),
                  "wait for the spool branch");
}

const char *herald_queue_item_id(const herald_queue_item *item) { (void)item; return NULL; }
const char *herald_queue_item_channel(const herald_queue_item *item) { (void)item; return NULL; }
size_t herald_queue_item_recipient_count(const herald_queue_item *item) { (void)item; return 0; }
const char *herald_queue_item_recipient(const herald_queue_item *item, size_t i) { (void)item; (void)i; return NULL; }
const char *herald_queue_item_subject(const herald_queue_item *item) { (void)item; return NULL; }
unsigned herald_queue_item_attempts(const herald_queue_item *item) { (void)item; return 0; }
long long herald_queue_item_created(const herald_queue_item *item) { (void)item; return 0; }
long long herald_queue_item_next_attempt(const herald_queue_item *item) { (void)item; return 0; }
const char *herald_queue_item_last_error(const herald_queue_item *item) { (void)item; return NULL; }
herald_class herald_queue_item_last_class(const herald_queue_item *item) { (void)item; return HERALD_OK; }
const char *herald_queue_item_reason(const herald_queue_item *item) { (void)item; return NULL; }
const char *herald_queue_item_idempotency_key(const herald_queue_item *item) { (void)item; return NULL; }
const char *herald_queue_item_attempt(const herald_queue_item *item, size_t i,
                                      long long *when_r, herald_class *cls_r,
                                      const char **code_r)
{ (void)item; (void)i; (void)when_r; (void)cls_r; (void)code_r; return NULL; }
size_t herald_queue_item_attempt_count(const herald_queue_item *item) { (void)item; return 0; }
const herald_msg *herald_queue_item_message(const herald_queue_item *item) { (void)item; return NULL; }

herald_class herald_queue_list(herald_ctx *ctx, unsigned flags, herald_queue_fn fn,
                               void *user_data, herald_error **err_r)
{ (void)ctx; (void)flags; (void)fn; (void)user_data; return not_yet(err_r, "herald_queue_list"); }
herald_class herald_queue_get(herald_ctx *ctx, const char *id, herald_queue_fn fn,
                              void *user_data, herald_error **err_r)
{ (void)ctx; (void)id; (void)fn; (void)user_data; return not_yet(err_r, "herald_queue_get"); }
herald_class herald_queue_retry(herald_ctx *ctx, const char *id, unsigned flags,
                                size_t *count_r, herald_error **err_r)
{ (void)ctx; (void)id; (void)flags; (void)count_r; return not_yet(err_r, "herald_queue_retry"); }
herald_class herald_queue_drop(herald_ctx *ctx, const char *id, herald_error **err_r)
{ (void)ctx; (void)id; return not_yet(err_r, "herald_queue_drop"); }
herald_class herald_queue_purge(herald_ctx *ctx, unsigned flags, long long older_than_s,
                                size_t *count_r, herald_error **err_r)
{ (void)ctx; (void)flags; (void)older_than_s; (void)count_r; return not_yet(err_r, "herald_queue_purge"); }
herald_class herald_queue_run(herald_ctx *ctx, const herald_queue_run_opts *opts,
                              herald_queue_stats *stats_r, herald_error **err_r)
{ (void)ctx; (void)opts; (void)stats_r; return not_yet(err_r, "herald_queue_run"); }
herald_class herald_queue_next_due(herald_ctx *ctx, long long *when_r, herald_error **err_r)
{ (void)ctx; (void)when_r; return not_yet(err_r, "herald_queue_next_due"); }
const char *herald_queue_dir(const herald_ctx *ctx) { (void)ctx; return NULL; }
herald_class herald_queue_add(herald_ctx *ctx, const char *channel, const herald_msg *msg,
                              herald_result **result_r, herald_error **err_r)
{ (void)ctx; (void)channel; (void)msg; (void)result_r; return not_yet(err_r, "herald_queue_add"); }
