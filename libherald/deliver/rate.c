/* libherald/deliver/rate.c - `rate_limit = N/s|N/min` with `rate_burst`:
 * a token bucket per channel, shared by every thread of the context.  A
 * sender takes a token, waiting for it when the bucket is empty; a taken
 * token may leave the bucket negative, so waiters queue up in order and
 * each sleeps only its own share. */
#include "deliver.h"

#include <stdlib.h>
#include <string.h>

int hd_parse_rate(const char *s, double *per_ms_r)
{
    if (!s)
        return -1;
    long long n = 0;
    const char *c = s;
    if (*c < '0' || *c > '9')
        return -1;
    for (; *c >= '0' && *c <= '9'; c++) {
        n = n * 10 + (*c - '0');
        if (n > 1000000000LL)
            return -1;
    }
    if (n <= 0)
        return -1;
    if (strcmp(c, "/s") == 0 || strcmp(c, "/sec") == 0)
        *per_ms_r = (double)n / 1000.0;
    else if (strcmp(c, "/min") == 0 || strcmp(c, "/m") == 0)
        *per_ms_r = (double)n / 60000.0;
    else
        return -1;
    return 0;
}

/* Refill by the time passed (caller holds the lock). */
static void refill(struct hd_chan *dl, long long now)
{
    if (now > dl->refill_ms) {
        dl->tokens += (double)(now - dl->refill_ms) * dl->rate_per_ms;
        if (dl->tokens > dl->burst)
            dl->tokens = dl->burst;
        dl->refill_ms = now;
    }
}

long long hd_rate_take(struct herald_channel *ch)
{
    struct hd_chan *dl = ch->dl;
    if (!dl || dl->rate_per_ms <= 0)
        return 0;
    pthread_mutex_lock(&dl->lock);
    refill(dl, hd_mono_ms());
    dl->tokens -= 1;
    long long wait = dl->tokens < 0
        ? (long long)(-dl->tokens / dl->rate_per_ms + 0.999) : 0;
    pthread_mutex_unlock(&dl->lock);
    if (wait > 0) {
        hctx_chan_log(ch, HERALD_LOG_DEBUG, "rate limit %s: waiting %lld ms "
                      "for a token", dl->rate_text ? dl->rate_text : "", wait);
        hd_sleep_ms(wait);
    }
    return wait;
}

double hd_rate_peek(struct herald_channel *ch)
{
    struct hd_chan *dl = ch->dl;
    if (!dl || dl->rate_per_ms <= 0)
        return 0;
    pthread_mutex_lock(&dl->lock);
    refill(dl, hd_mono_ms());
    double t = dl->tokens;
    pthread_mutex_unlock(&dl->lock);
    return t;
}
