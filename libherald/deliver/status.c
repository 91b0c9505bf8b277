/* libherald/deliver/status.c - herald_channel_status: a channel's breaker
 * and rate-limit state, for `herald status`. */
#include "deliver.h"

#include <string.h>

herald_class herald_channel_status(herald_ctx *ctx, const char *channel,
                                   herald_channel_state *st,
                                   herald_error **err_r)
{
    if (!ctx || !channel || !st)
        return hx_error(err_r, HERALD_ERR_USAGE, "herald_channel_status: ctx, "
                        "channel and st must not be NULL");
    memset(st, 0, sizeof *st);
    struct herald_channel *ch = NULL;
    for (size_t i = 0; i < ctx->n_ch && !ch; i++)
        if (strcmp(ctx->ch[i]->name, channel) == 0)
            ch = ctx->ch[i];
    if (!ch) {
        struct hbuf names = {0};
        for (size_t i = 0; i < ctx->n_ch; i++)
            hbuf_printf(&names, "%s%s", i ? ", " : "", ctx->ch[i]->name);
        herald_class rc = hx_fix(err_r, hx_error(err_r, HERALD_ERR_CONFIG,
                                 "no channel named '%s' in %s", channel,
                                 ctx->conf->file),
                                 "the channels are: %s",
                                 names.data ? names.data : "(none)");
        hbuf_free(&names);
        return rc;
    }
    if (ch->broken || !ch->dl) {
        if (err_r && !*err_r && ch->broken)
            *err_r = hx_error_copy(ch->broken);
        return ch->broken ? ch->broken->cls : HERALD_ERR_CONFIG;
    }
    struct hd_chan *dl = ch->dl;
    st->threshold = dl->threshold;
    st->shared = dl->state_path != NULL;
    st->fallback = dl->fallback ? dl->fallback->name : NULL;
    st->breaker = HERALD_BREAKER_OFF;
    if (dl->threshold) {
        long long until = 0;
        hd_breaker_peek(ch, &st->failures, &until);
        st->breaker = st->failures < dl->threshold ? HERALD_BREAKER_CLOSED
                      : hd_now_ms() < until ? HERALD_BREAKER_OPEN
                      : HERALD_BREAKER_HALF_OPEN;
        if (st->breaker != HERALD_BREAKER_CLOSED)
            st->next_trial_ms = until;
    }
    st->rate_per_s = dl->rate_per_ms * 1000.0;
    st->rate_burst = dl->rate_per_ms > 0 ? dl->burst : 0;
    st->rate_tokens = hd_rate_peek(ch);
    return HERALD_OK;
}
