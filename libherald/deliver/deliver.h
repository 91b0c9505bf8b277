/* libherald/deliver/deliver.h - the delivery layer the message path
 * (send.c: hctx_deliver) runs on: each channel's retry policy (policy.c),
 * its fallback route checked at open (route.c), its circuit breaker
 * (breaker.c: in memory, or a locked file under SPOOL_DIR/state/) and its
 * token-bucket rate limit (rate.c).  Private to the core; hd_ prefix. */
#ifndef HERALD_DELIVER_H
#define HERALD_DELIVER_H

#include "../context.h"

#include <pthread.h>

/* Everything the delivery layer keeps per channel (ch->dl). */
struct hd_chan {
    /* policy.c: retry settings (the channel's own value, else [herald]) */
    unsigned retries;             /* extra attempts after the first */
    long long delay_ms;           /* first retry's delay */
    double backoff;               /* factor per retry, >= 1 */
    long long max_delay_ms;       /* cap; a longer hint is not slept */
    double jitter;                /* 0..1: +- this fraction of the delay */
    /* route.c */
    char *fallback_name;          /* NULL: none */
    struct herald_channel *fallback;
    /* breaker.c */
    unsigned threshold;           /* consecutive failed attempts; 0 = off */
    long long cooldown_ms;
    char *state_path;             /* SPOOL_DIR/state/NAME.breaker or NULL */
    pthread_mutex_t lock;         /* breaker (in memory) and rate bucket */
    unsigned failures;            /* in-memory breaker */
    long long open_until_ms;      /* wall clock ms; 0 = closed */
    /* rate.c */
    double rate_per_ms;           /* tokens per millisecond; 0 = unlimited */
    double burst;                 /* bucket size */
    double tokens;                /* may go negative: reserved by waiters */
    long long refill_ms;          /* monotonic ms of the last refill */
    char *rate_text;              /* "10/s" as configured, or NULL */
};

/* ---- policy.c ---- */

/* The channel and [herald] option tables' reliability keys, spliced into
 * context.c's tables (NULL-terminated lists of single entries). */
extern const herald_option hd_channel_options[];
extern const herald_option hd_global_options[];
/* Read @ch's reliability keys (channel value, else the [herald] default)
 * into a new ch->dl.  Bad values are config errors "FILE:LINE: ..." with
 * the fix. */
herald_class hd_setup(herald_ctx *ctx, struct herald_channel *ch,
                      herald_error **err_r);
void hd_free(struct hd_chan *dl);
/* Wall-clock and monotonic milliseconds; sleep @ms (restarted on EINTR). */
long long hd_now_ms(void);
long long hd_mono_ms(void);
void hd_sleep_ms(long long ms);
/* The delay before retry number @n (1 = the first retry) of @dl: the
 * driver's hint (@hint_s >= 0) when it gave one, else retry_delay *
 * backoff^(n-1) capped at retry_max_delay, +- jitter. */
long long hd_retry_delay(const struct hd_chan *dl, unsigned n, long hint_s);
/* 1 when a failure of class @cls (error @err) may be retried on the same
 * channel, 0 when not.  With a fallback, connect/timeout/host failures are
 * not retried (they move on at once). */
int hd_retry_worth(const herald_error *err, int has_fallback);
/* 1 when another channel could deliver after a failure @err. */
int hd_failover_worth(const herald_error *err);
/* 1 when a failure says the channel (not the message) is in trouble:
 * counted by the breaker. */
int hd_counts_for_breaker(herald_class cls);

/* ---- route.c ---- */

/* Resolve every channel's fallback; an unknown name or a cycle is a
 * config error that prints the chain (exit 78).  With
 * HERALD_OPEN_KEEP_BROKEN in @flags the channel is kept broken instead. */
herald_class hd_route_check(herald_ctx *ctx, unsigned flags, herald_error **err_r);

/* ---- breaker.c ---- */

enum hd_admit { HD_PASS, HD_TRIAL, HD_SKIP };
/* May a send try @ch now?  HD_SKIP with *trial_ms_r (wall ms) and
 * *failures_r when the breaker is open; HD_TRIAL for the one trial after
 * the cool-down (other senders see it open until the trial reports). */
enum hd_admit hd_breaker_admit(struct herald_channel *ch, long long *trial_ms_r,
                               unsigned *failures_r);
/* Report an attempt's outcome (@ok, else a failure counted when
 * hd_counts_for_breaker). */
void hd_breaker_report(struct herald_channel *ch, int ok, herald_class cls);
/* The breaker's state for herald_channel_status(). */
void hd_breaker_peek(struct herald_channel *ch, unsigned *failures_r,
                     long long *open_until_ms_r);

/* ---- rate.c ---- */

/* Parse "N/s" or "N/min" into tokens per millisecond; 0, or -1 when bad. */
int hd_parse_rate(const char *s, double *per_ms_r);
/* Take a token from @ch's bucket, sleeping until there is one.  Returns
 * the milliseconds waited. */
long long hd_rate_take(struct herald_channel *ch);
/* Tokens in the bucket now (may be negative while senders wait). */
double hd_rate_peek(struct herald_channel *ch);

#endif
