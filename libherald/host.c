/* libherald/host.c - logging (redaction, the default stderr handler) and
 * the host table: what a driver may call on its channel. */
#include "context.h"
#include "base/base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- logging */

const char *const hctx_level_names[4] = {"error", "warning", "info", "debug"};

/* Replace every secret of every channel in @line by "***". */
static char *redact(const herald_ctx *ctx, const char *line)
{
    struct hbuf b = {0};
    hbuf_adds(&b, line);
    for (size_t c = 0; ctx && c < ctx->n_ch && !b.oom; c++) {
        const struct hopts *o = &ctx->ch[c]->opts;
        for (size_t i = 0; i < o->n; i++) {
            const char *s = o->v[i].str;
            if (!(o->v[i].opt->flags & HERALD_OPT_SECRET) || !s || !*s)
                continue;
            size_t sl = strlen(s);
            char *hit;
            while ((hit = strstr(b.data, s)) != NULL) {
                struct hbuf n = {0};
                hbuf_add(&n, b.data, (size_t)(hit - b.data));
                hbuf_adds(&n, "***");
                hbuf_adds(&n, hit + sl);
                hbuf_free(&b);
                b = n;
                if (b.oom)
                    break;
            }
        }
    }
    return hbuf_steal(&b, NULL);
}

void hctx_vlog(const herald_ctx *ctx, herald_log_level level,
                     const char *channel, const char *fmt, va_list ap)
{
    herald_log_level max = ctx ? ctx->log_level : HERALD_LOG_WARNING;
    if (level > max)
        return;
    char *raw = hx_vprintf(fmt, ap);
    if (!raw)
        return;
    char *line = redact(ctx, raw);
    free(raw);
    if (!line)
        return;
    if (ctx && ctx->log_fn) {
        ctx->log_fn(level, channel, line, ctx->log_user);
    } else {
        /* Log lines carry outside text (provider answers, file names): a
         * control byte must not reach the terminal raw. */
        unsigned l = (unsigned)level < 4 ? (unsigned)level : 3;
        struct hbuf b = {0};
        hbuf_printf(&b, "herald: %s: ", hctx_level_names[l]);
        if (channel) {
            hbuf_addc(&b, '[');
            hb_escape_text(&b, channel, strlen(channel), HB_ESC_KEEP_TAB);
            hbuf_adds(&b, "] ");
        }
        hb_escape_text(&b, line, strlen(line), HB_ESC_KEEP_TAB);
        hbuf_addc(&b, '\n');
        if (!b.oom)
            fwrite(b.data, 1, b.len, stderr);
        hbuf_free(&b);
    }
    free(line);
}

void hctx_log(const herald_ctx *ctx, herald_log_level level,
                    const char *channel, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hctx_vlog(ctx, level, channel, fmt, ap);
    va_end(ap);
}

void herald_set_log_handler(herald_ctx *ctx, herald_log_level max_level,
                            herald_log_fn fn, void *user_data)
{
    if (!ctx)
        return;
    ctx->log_level = max_level;
    ctx->log_fn = fn;
    ctx->log_user = user_data;
}

/* ---------------------------------------------------------------- host table */

void hctx_chan_log(const herald_channel *ch, herald_log_level level,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hctx_vlog(ch ? ch->ctx : NULL, level, ch ? ch->name : NULL, fmt, ap);
    va_end(ap);
}

static const char *host_channel_name(const herald_channel *ch)
{
    return ch ? ch->name : NULL;
}

static const struct hopt_value *chan_opt(const herald_channel *ch,
                                         const char *name)
{
    return ch && name ? hopts_find(&ch->opts, name) : NULL;
}

static const char *host_opt_str(const herald_channel *ch, const char *name)
{
    const struct hopt_value *v = chan_opt(ch, name);
    return v ? v->str : NULL;
}

static long long host_opt_int(const herald_channel *ch, const char *name)
{
    const struct hopt_value *v = chan_opt(ch, name);
    return v && v->str ? v->num : 0;
}

static int host_opt_bool(const herald_channel *ch, const char *name)
{
    return host_opt_int(ch, name) != 0;
}

static int host_opt_isset(const herald_channel *ch, const char *name)
{
    const struct hopt_value *v = chan_opt(ch, name);
    return v ? v->set : 0;
}

static herald_class host_render_mime(const herald_msg *msg, unsigned flags,
                                     char **out_r, size_t *len_r,
                                     herald_error **err_r)
{
    return hmime_render(msg, flags, out_r, len_r, err_r);
}

static herald_class host_render_mime_id(const herald_msg *msg, unsigned flags,
                                        char **out_r, size_t *len_r,
                                        char **message_id_r,
                                        herald_error **err_r)
{
    return hmime_render_id(msg, flags, out_r, len_r, message_id_r, err_r);
}

static void host_error_fix(herald_error *err, const char *fmt, ...)
    HERALD_PRINTF(2, 3);
static void host_error_fix(herald_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hx_error_vset_fix(err, fmt, ap);
    va_end(ap);
}

static herald_class host_error(herald_error **err_r, herald_class cls,
                               const char *code, const char *provider_text,
                               long retry_after, const char *fmt, ...)
    HERALD_PRINTF(6, 7);
static herald_class host_error(herald_error **err_r, herald_class cls,
                               const char *code, const char *provider_text,
                               long retry_after, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hx_error_full(err_r, cls, code, provider_text, retry_after, fmt, ap);
    va_end(ap);
    return cls;
}


static const char *host_check_param(const herald_checker *chk, const char *name)
{
    for (const char *const *p = chk && name ? chk->params : NULL; p && p[0] && p[1]; p += 2)
        if (strcmp(p[0], name) == 0)
            return p[1];
    return NULL;
}

void hctx_report_step(herald_checker *chk, const char *step,
                             herald_check_status status, double elapsed_ms,
                             const char *detail, const char *fix)
{
    if (!chk)
        return;
    if (status == HERALD_CHECK_FAIL)
        chk->failed = 1;
    if (chk->fn)
        chk->fn(chk->channel, step ? step : "", status, elapsed_ms, detail,
                fix, chk->user);
}

static void *host_alloc(size_t size)
{
    return malloc(size ? size : 1);
}

const herald_host hctx_host_table = {
    .abi_major = HERALD_ABI_MAJOR,
    .abi_minor = HERALD_ABI_MINOR,
    .struct_size = sizeof(herald_host),
    .log = hctx_chan_log,
    .channel_name = host_channel_name,
    .opt_str = host_opt_str,
    .opt_int = host_opt_int,
    .opt_bool = host_opt_bool,
    .opt_isset = host_opt_isset,
    .msg_get = hm_get,
    .msg_count = hm_count,
    .msg_address = hm_address,
    .msg_pair = hm_pair,
    .msg_item = hm_item,
    .msg_attachment = hm_attachment,
    .render_mime = host_render_mime,
    .error = host_error,
    .result_set_id = hx_result_set_id,
    .result_add_recipient = hx_result_add_recipient,
    .report_step = hctx_report_step,
    .check_param = host_check_param,
    .alloc = host_alloc,
    .free = free,
    .error_fix = host_error_fix,
    .render_mime_id = host_render_mime_id,
};
