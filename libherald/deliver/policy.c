/* libherald/deliver/policy.c - each channel's delivery settings: the
 * reliability keys (retries, backoff, jitter, breaker, rate limit,
 * fallback) with their [herald] defaults, checked at open; the retry delay
 * a failure earns; which failures are retried, failed over, counted by the
 * breaker. */
#include "deliver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RETRY_DOC(what, dflt) what " (default: the [herald] value, " dflt ")"

/* Keys every channel has, after driver/from/unsupported.  No defaults
 * here: an unset key takes the [herald] value. */
const herald_option hd_channel_options[] = {
    {"retries", HERALD_OPT_INT, 0, NULL, NULL,
     RETRY_DOC("extra attempts after a retryable failure", "2"), 0, 100},
    {"retry_delay", HERALD_OPT_DURATION, 0, NULL, NULL,
     RETRY_DOC("wait before the first retry", "1s"), 0, 86400000},
    {"retry_backoff", HERALD_OPT_STRING, 0, NULL, NULL,
     RETRY_DOC("factor the wait grows by per retry, 1 to 100", "2"), 0, 0},
    {"retry_max_delay", HERALD_OPT_DURATION, 0, NULL, NULL,
     RETRY_DOC("longest wait slept in a send; a longer retry-after hint "
               "returns the error (or spools)", "5m"), 0, 86400000},
    {"retry_jitter", HERALD_OPT_STRING, 0, NULL, NULL,
     RETRY_DOC("random fraction (0 to 1) added to or taken from each wait",
               "0.2"), 0, 0},
    {"fallback", HERALD_OPT_STRING, 0, NULL, NULL,
     "channel that gets the message when this one fails (chains allowed)", 0, 0},
    {"breaker_threshold", HERALD_OPT_INT, 0, NULL, NULL,
     RETRY_DOC("consecutive failed attempts that open the circuit breaker; "
               "0 = off", "5"), 0, 1000000},
    {"breaker_cooldown", HERALD_OPT_DURATION, 0, NULL, NULL,
     RETRY_DOC("how long an open breaker skips the channel before one trial",
               "60s"), 0, 86400000},
    {"rate_limit", HERALD_OPT_STRING, 0, NULL, NULL,
     "most messages per second or minute, N/s or N/min (default: none)", 0, 0},
    {"rate_burst", HERALD_OPT_INT, 0, "1", NULL,
     "messages that may go at once before rate_limit spaces them", 1, 1000000},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

/* The same retry and breaker keys in [herald], with the defaults. */
const herald_option hd_global_options[] = {
    {"retries", HERALD_OPT_INT, 0, "2", NULL,
     "extra attempts after a retryable failure (a channel's own value wins)", 0, 100},
    {"retry_delay", HERALD_OPT_DURATION, 0, "1s", NULL,
     "wait before the first retry", 0, 86400000},
    {"retry_backoff", HERALD_OPT_STRING, 0, "2", NULL,
     "factor the wait grows by per retry, 1 to 100", 0, 0},
    {"retry_max_delay", HERALD_OPT_DURATION, 0, "5m", NULL,
     "longest wait slept in a send", 0, 86400000},
    {"retry_jitter", HERALD_OPT_STRING, 0, "0.2", NULL,
     "random fraction (0 to 1) added to or taken from each wait", 0, 0},
    {"breaker_threshold", HERALD_OPT_INT, 0, "5", NULL,
     "consecutive failed attempts that open a channel's breaker; 0 = off", 0, 1000000},
    {"breaker_cooldown", HERALD_OPT_DURATION, 0, "60s", NULL,
     "how long an open breaker skips its channel before one trial", 0, 86400000},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

/* ---------------------------------------------------------------- values */

/* The channel's own value, else the [herald] one (NULL for channel-only
 * keys that are unset). */
static const struct hopt_value *pick(const herald_ctx *ctx,
                                     const struct herald_channel *ch,
                                     const char *key, const char **where_r)
{
    const struct hopt_value *v = hopts_find(&ch->opts, key);
    *where_r = "channel";
    if (v && v->set)
        return v;
    const struct hopt_value *g = hopts_find(&ctx->globals, key);
    if (g) {
        *where_r = "herald";
        return g;
    }
    return v;
}

/* A decimal number "2", "1.5", "0.25" (no sign, no exponent); 0 or -1. */
static int parse_decimal(const char *s, double *out)
{
    double v = 0, scale = 1;
    int digits = 0, dot = 0;
    for (const char *c = s; *c; c++) {
        if (*c == '.' && !dot) {
            dot = 1;
            continue;
        }
        if (*c < '0' || *c > '9' || digits > 12)
            return -1;
        digits++;
        if (dot) {
            scale /= 10;
            v += (*c - '0') * scale;
        } else {
            v = v * 10 + (*c - '0');
        }
    }
    if (!digits)
        return -1;
    *out = v;
    return 0;
}

static herald_class bad_value(herald_error **err_r, const herald_ctx *ctx,
                              const struct herald_channel *ch, const char *where,
                              const struct hopt_value *v, const char *why,
                              const char *fix)
{
    int chan = strcmp(where, "channel") == 0;
    return hx_fix(err_r, hx_error(err_r, HERALD_ERR_CONFIG,
                                  "%s:%u: %s = '%.64s' in [%s%s] %s",
                                  ctx->conf->file, v->line, v->opt->name,
                                  v->str, chan ? "channel " : "herald",
                                  chan ? ch->name : "", why), "%s", fix);
}

static herald_class read_number(const herald_ctx *ctx,
                                const struct herald_channel *ch, const char *key,
                                double lo, double hi, const char *fix,
                                double *out, herald_error **err_r)
{
    const char *where;
    const struct hopt_value *v = pick(ctx, ch, key, &where);
    if (!v || !v->str)
        return HERALD_OK;
    if (parse_decimal(v->str, out) != 0)
        return bad_value(err_r, ctx, ch, where, v, "is not a decimal number", fix);
    if (*out < lo || *out > hi)
        return bad_value(err_r, ctx, ch, where, v, "is out of range", fix);
    return HERALD_OK;
}

static long long read_int(const herald_ctx *ctx, const struct herald_channel *ch,
                          const char *key, long long dflt)
{
    const char *where;
    const struct hopt_value *v = pick(ctx, ch, key, &where);
    return v && v->str ? v->num : dflt;
}

/* Where this channel's breaker lives when there is a spool. */
static char *state_path(const herald_ctx *ctx, const char *name)
{
    const struct hopt_value *sd = hopts_find(&ctx->globals, "spool_dir");
    if (!sd || !sd->str || !*sd->str)
        return NULL;
    struct hbuf b = {0};
    hbuf_printf(&b, "%s/state/", sd->str);
    for (const unsigned char *c = (const unsigned char *)name; *c; c++) {
        int keep = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                   (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' ||
                   (*c == '.' && c != (const unsigned char *)name);
        if (keep)
            hbuf_addc(&b, (char)*c);
        else
            hbuf_printf(&b, "%%%02X", *c);
    }
    hbuf_adds(&b, ".breaker");
    return hbuf_steal(&b, NULL);
}

herald_class hd_setup(herald_ctx *ctx, struct herald_channel *ch,
                      herald_error **err_r)
{
    struct hd_chan *dl = calloc(1, sizeof *dl);
    if (!dl)
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    pthread_mutex_init(&dl->lock, NULL);
    ch->dl = dl;
    dl->retries = (unsigned)read_int(ctx, ch, "retries", 2);
    dl->delay_ms = read_int(ctx, ch, "retry_delay", 1000);
    dl->max_delay_ms = read_int(ctx, ch, "retry_max_delay", 300000);
    dl->threshold = (unsigned)read_int(ctx, ch, "breaker_threshold", 5);
    dl->cooldown_ms = read_int(ctx, ch, "breaker_cooldown", 60000);
    dl->backoff = 2;
    dl->jitter = 0.2;
    herald_class rc = read_number(ctx, ch, "retry_backoff", 1, 100,
                                  "write a factor from 1 to 100, e.g. "
                                  "retry_backoff = 2 (1 keeps the wait fixed)",
                                  &dl->backoff, err_r);
    if (rc == HERALD_OK)
        rc = read_number(ctx, ch, "retry_jitter", 0, 1, "write a fraction "
                         "from 0 to 1, e.g. retry_jitter = 0.2 (0 = none)",
                         &dl->jitter, err_r);
    if (rc != HERALD_OK)
        return rc;
    const struct hopt_value *rl = hopts_find(&ch->opts, "rate_limit");
    if (rl && rl->set) {
        if (hd_parse_rate(rl->str, &dl->rate_per_ms) != 0)
            return bad_value(err_r, ctx, ch, "channel", rl, "is not a rate",
                             "write a positive whole number of messages per "
                             "second or minute, e.g. rate_limit = 10/s or "
                             "rate_limit = 600/min");
        if (!(dl->rate_text = hx_strdup(rl->str)))
            return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    }
    dl->burst = (double)read_int(ctx, ch, "rate_burst", 1);
    dl->tokens = dl->burst;
    dl->refill_ms = hd_mono_ms();
    const struct hopt_value *fb = hopts_find(&ch->opts, "fallback");
    if (fb && fb->set && !(dl->fallback_name = hx_strdup(fb->str)))
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    dl->state_path = state_path(ctx, ch->name);
    return HERALD_OK;
}

void hd_free(struct hd_chan *dl)
{
    if (!dl)
        return;
    pthread_mutex_destroy(&dl->lock);
    free(dl->fallback_name);
    free(dl->state_path);
    free(dl->rate_text);
    free(dl);
}

/* ---------------------------------------------------------------- time */

static long long clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long hd_now_ms(void)
{
    return clock_ms(CLOCK_REALTIME);
}

long long hd_mono_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

void hd_sleep_ms(long long ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* A uniform number in [0, 1) from a per-thread xorshift seeded by the
 * clock and the thread (jitter needs spread, not secrecy). */
static double unit_random(void)
{
    static _Thread_local unsigned long long s;
    if (!s) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        s = ((unsigned long long)ts.tv_nsec << 20) ^ (unsigned long long)ts.tv_sec ^
            (unsigned long long)(size_t)&s;
        s |= 1;
    }
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (double)(s >> 11) / 9007199254740992.0;
}

long long hd_retry_delay(const struct hd_chan *dl, unsigned n, long hint_s)
{
    if (hint_s >= 0)
        return (long long)hint_s * 1000;
    double d = (double)dl->delay_ms;
    for (unsigned i = 1; i < n && d < (double)dl->max_delay_ms; i++)
        d *= dl->backoff;
    if (d > (double)dl->max_delay_ms)
        d = (double)dl->max_delay_ms;
    d += d * dl->jitter * (2 * unit_random() - 1);
    return d < 0 ? 0 : (long long)d;
}

/* ---------------------------------------------------------------- classes */

/* Failures another channel could get past: the network path, TLS and
 * credentials belong to this channel, not to the message. */
static int path_failure(herald_class cls)
{
    return cls == HERALD_ERR_CONNECT || cls == HERALD_ERR_TIMEOUT ||
           cls == HERALD_ERR_HOST_NOT_FOUND || cls == HERALD_ERR_TLS ||
           cls == HERALD_ERR_AUTH;
}

int hd_retry_worth(const herald_error *err, int has_fallback)
{
    if (!herald_error_retryable(err))
        return 0;
    /* A blocked port does not unblock in a few seconds: with somewhere
     * else to go, spend the retries on transient answers only. */
    return !(has_fallback && path_failure(err->cls));
}

int hd_failover_worth(const herald_error *err)
{
    return herald_error_retryable(err) || path_failure(err->cls);
}

int hd_counts_for_breaker(herald_class cls)
{
    return path_failure(cls) || cls == HERALD_ERR_TEMPORARY ||
           cls == HERALD_ERR_RATE_LIMITED || cls == HERALD_ERR_PROTOCOL ||
           cls == HERALD_ERR_DELIVERY_UNKNOWN;
}
