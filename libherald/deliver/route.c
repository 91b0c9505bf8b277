/* libherald/deliver/route.c - fallback chains, resolved once at open: a
 * fallback naming no channel, or a chain that comes back to itself, is a
 * config error that prints the chain. */
#include "deliver.h"

#include <stdlib.h>
#include <string.h>

static struct herald_channel *by_name(herald_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->n_ch; i++)
        if (strcmp(ctx->ch[i]->name, name) == 0)
            return ctx->ch[i];
    return NULL;
}

static unsigned fallback_line(const struct herald_channel *ch)
{
    const struct hopt_value *v = hopts_find(&ch->opts, "fallback");
    return v ? v->line : ch->line;
}

/* "a → b → a" from @start up to and including the first repeat. */
static char *chain_text(struct herald_channel *start, size_t limit)
{
    struct hbuf b = {0};
    struct herald_channel *c = start;
    for (size_t i = 0; c && i <= limit; i++) {
        hbuf_printf(&b, "%s%s", i ? " \u2192 " : "", c->name);
        if (i && c == start)
            break;
        c = c->dl ? c->dl->fallback : NULL;
    }
    return hbuf_steal(&b, NULL);
}

/* Keep @err on @ch (the context opens and sending to it fails with it),
 * or fail the open. */
static herald_class route_error(unsigned flags, struct herald_channel *ch,
                                herald_error *err, herald_error **err_r)
{
    hx_error_tag_channel(err, ch->name);
    if ((flags & HERALD_OPEN_KEEP_BROKEN) && !ch->broken) {
        ch->broken = err;
        return HERALD_OK;
    }
    if (err_r && !*err_r)
        *err_r = err;
    else
        herald_error_free(err);
    return HERALD_ERR_CONFIG;
}

herald_class hd_route_check(herald_ctx *ctx, unsigned flags, herald_error **err_r)
{
    for (size_t i = 0; i < ctx->n_ch; i++) {
        struct herald_channel *ch = ctx->ch[i];
        if (!ch->dl || !ch->dl->fallback_name)
            continue;
        ch->dl->fallback = by_name(ctx, ch->dl->fallback_name);
        if (ch->dl->fallback)
            continue;
        struct hbuf names = {0};
        for (size_t j = 0; j < ctx->n_ch; j++)
            hbuf_printf(&names, "%s%s", j ? ", " : "", ctx->ch[j]->name);
        herald_error *err = NULL;
        hx_fix(&err, hx_error(&err, HERALD_ERR_CONFIG, "%s:%u: [channel %s] "
                              "fallback = '%.64s': there is no channel "
                              "named '%.64s' (chain: %s \u2192 %.64s)",
                              ctx->conf->file, fallback_line(ch), ch->name,
                              ch->dl->fallback_name, ch->dl->fallback_name,
                              ch->name, ch->dl->fallback_name),
               "name one of the channels (%s) or add a [channel %.64s] "
               "section", names.data ? names.data : "none",
               ch->dl->fallback_name);
        hbuf_free(&names);
        if (route_error(flags, ch, err, err_r) != HERALD_OK)
            return HERALD_ERR_CONFIG;
    }
    /* A walk longer than the number of channels has met one twice. */
    for (size_t i = 0; i < ctx->n_ch; i++) {
        struct herald_channel *ch = ctx->ch[i];
        struct herald_channel *c = ch->dl ? ch->dl->fallback : NULL;
        size_t steps = 0;
        while (c && c != ch && steps++ <= ctx->n_ch)
            c = c->dl ? c->dl->fallback : NULL;
        if (c != ch)
            continue;
        char *chain = chain_text(ch, ctx->n_ch);
        herald_error *err = NULL;
        hx_fix(&err, hx_error(&err, HERALD_ERR_CONFIG, "%s:%u: [channel %s] "
                              "fallback: the chain is a cycle: %s",
                              ctx->conf->file, fallback_line(ch), ch->name,
                              chain ? chain : ch->name),
               "remove one `fallback` line so that the chain ends at a "
               "channel without a fallback");
        free(chain);
        if (route_error(flags, ch, err, err_r) != HERALD_OK)
            return HERALD_ERR_CONFIG;
    }
    return HERALD_OK;
}
