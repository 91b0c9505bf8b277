/* libherald/context.c - contexts (open/close), channels (lazy driver
 * init), drivers and check.  The message path is in send.c, logging and
 * the host table in host.c. */
#include "context.h"
#include "base/base.h"
#include "deliver/deliver.h"
#include "spool/spool.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const herald_option global_options[] = {
    {"plugin_dir", HERALD_OPT_PATH, 0, NULL, NULL,
     "directory searched first for drivers (relative to the config file)", 0, 0},
    {"spool_dir", HERALD_OPT_PATH, 0, NULL, NULL,
     "directory of the on-disk spool: messages that cannot be delivered now "
     "wait there for `herald queue run` (relative to the config file)", 0, 0},
    {"max_message_size", HERALD_OPT_INT, 0, "26214400", NULL,
     "largest message accepted, in bytes", 1, (long long)1 << 40},
    {"max_recipients", HERALD_OPT_INT, 0, "1000", NULL,
     "most recipients (to + cc + bcc) in one message", 1, 1000000},
    {"log_level", HERALD_OPT_ENUM, 0, "warning", "error|warning|info|debug",
     "lowest level of log lines the default handler prints", 0, 0},
    {"spool_max_age", HERALD_OPT_DURATION, 0, "120h", NULL,
     "a queued message not delivered this long after it was queued goes to "
     "the dead letters (120h = 5 days)", 1000, 3650LL * 86400000LL},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

static const herald_option channel_options[] = {
    {"driver", HERALD_OPT_STRING, HERALD_OPT_REQUIRED, NULL, NULL,
     "driver that delivers this channel's messages (see `herald drivers`)", 0, 0},
    {"from", HERALD_OPT_STRING, 0, NULL, NULL,
     "sender used when a message sets none, e.g. Alerts <bot@example.com>", 0, 0},
    {"unsupported", HERALD_OPT_ENUM, 0, "error", "error|drop",
     "a message field the driver cannot carry: fail (error) or drop it with a log line",
     0, 0},
    {"spool", HERALD_OPT_ENUM, 0, "auto", "auto|always|never",
     "with a spool_dir: queue a message a retryable failure stops (auto), "
     "queue every message without trying (always), or never queue", 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

/* ---------------------------------------------------------------- version */

const char *herald_version(void)
{
#define HX_STR2(x) #x
#define HX_STR(x) HX_STR2(x)
    return HX_STR(HERALD_VERSION_MAJOR) "." HX_STR(HERALD_VERSION_MINOR) "."
        HX_STR(HERALD_VERSION_PATCH);
}

void herald_free(void *p)
{
    free(p);
}

/* ---------------------------------------------------------------- opening */

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return hx_strdup(".");
    if (slash == path)
        return hx_strdup("/");
    return hx_strndup(path, (size_t)(slash - path));
}

/* plugin_dir relative to the config file's directory (or the cwd). */
static char *absolute_dir(const char *dir, const char *conf_path)
{
    if (dir[0] == '/')
        return hx_strdup(dir);
    char *base = conf_path ? dir_of(conf_path) : hx_strdup(".");
    char *joined = base ? hx_printf("%s/%s", base, dir) : NULL;
    free(base);
    if (!joined)
        return NULL;
    char *real = realpath(joined, NULL);
    if (real) {
        free(joined);
        return real;
    }
    return joined; /* the loader reports a missing directory by name */
}

/* The spool at [herald] spool_dir (relative to the config file), checked
 * and created now so a bad spool is a config error at open. */
static herald_class open_spool(herald_ctx *ctx, const char *conf_path,
                               herald_error **err_r)
{
    const struct hopt_value *sd = hopts_find(&ctx->globals, "spool_dir");
    ctx->spool_max_age = hopts_find(&ctx->globals, "spool_max_age")->num / 1000;
    if (!sd || !sd->str || !*sd->str)
        return HERALD_OK;
    char *dir = absolute_dir(sd->str, conf_path);
    if (!dir)
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    /* A record holds the message unencoded: at most max_message_size
     * plus its attempts and names. */
    size_t max_record = ctx->limits.max_size * 2 + ((size_t)1 << 20);
    herald_class rc = hs_dir_open(dir, max_record, &ctx->spool, err_r);
    free(dir);
    if (rc != HERALD_OK && err_r && *err_r && sd->line) {
        char *m = hx_printf("%s:%u: %s", ctx->conf->file, sd->line,
                            (*err_r)->message);
        if (m) {
            free((*err_r)->message);
            (*err_r)->message = m;
        }
    }
    return rc;
}

static herald_class read_globals(herald_ctx *ctx, const char *conf_path,
                                 herald_error **err_r)
{
    const struct hconf_section *g = NULL;
    for (size_t i = 0; i < ctx->conf->n_sec; i++)
        if (!ctx->conf->sec[i].name)
            g = &ctx->conf->sec[i];
    static const struct hconf_section empty = {(char *)"herald", NULL, 0, NULL, 0};
    const herald_option *tables[] = {global_options, hd_global_options, NULL};
    herald_class rc = hopts_resolve(ctx->conf, g ? g : &empty, tables, NULL,
                                    &ctx->globals, err_r);
    if (rc != HERALD_OK)
        return rc;
    const char *pd = hopts_find(&ctx->globals, "plugin_dir")->str;
    if (pd && *pd && conf_path && hl_trust_config(conf_path, err_r) != HERALD_OK)
        return HERALD_ERR_CONFIG;
    if (pd && *pd && !(ctx->plugin_dir = absolute_dir(pd, conf_path)))
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    ctx->limits.max_size = (size_t)hopts_find(&ctx->globals, "max_message_size")->num;
    ctx->limits.max_recipients = (size_t)hopts_find(&ctx->globals, "max_recipients")->num;
    const char *lvl = hopts_find(&ctx->globals, "log_level")->str;
    for (unsigned i = 0; i < 4; i++)
        if (lvl && strcmp(lvl, hctx_level_names[i]) == 0)
            ctx->log_level = (herald_log_level)i;
    return open_spool(ctx, conf_path, err_r);
}

/* One loaded driver per name per context, shared by its channels. */
static herald_class get_driver(herald_ctx *ctx, const char *name,
                               struct hl_driver **drv_r, herald_error **err_r)
{
    for (size_t i = 0; i < ctx->n_drivers; i++)
        if (strcmp(ctx->drivers[i]->name, name) == 0) {
            *drv_r = ctx->drivers[i];
            return HERALD_OK;
        }
    struct hl_driver **grown =
        realloc(ctx->drivers, (ctx->n_drivers + 1) * sizeof *grown);
    if (!grown)
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    ctx->drivers = grown;
    char *warning = NULL;
    herald_class rc = hl_open(ctx->plugin_dir, name, drv_r, &warning, err_r);
    if (warning) {
        hctx_log(ctx, HERALD_LOG_WARNING, NULL, "%s", warning);
        free(warning);
    }
    if (rc == HERALD_OK)
        ctx->drivers[ctx->n_drivers++] = *drv_r;
    return rc;
}

static herald_class setup_channel(herald_ctx *ctx, struct herald_channel *ch,
                                  const struct hconf_section *sec,
                                  herald_error **err_r)
{
    const char *file = ctx->conf->file;
    const struct hconf_kv *d = hconf_find(sec, "driver");
    if (!d || !*d->value)
        return hx_fix(err_r, hx_error(err_r, HERALD_ERR_CONFIG,
                                      "%s:%u: [channel %s] has no driver", file,
                                      sec->line, sec->name),
                      "add a line such as `driver = maildir` (`herald "
                      "drivers` lists the installed ones)");
    if (!(ch->driver_name = hx_strdup(d->value)))
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    herald_class rc = get_driver(ctx, d->value, &ch->drv, err_r);
    if (rc != HERALD_OK) {
        if (err_r && *err_r) {
            char *m = hx_printf("%s:%u: [channel %s] %s", file, d->line,
                                sec->name, (*err_r)->message);
            if (m) {
                free((*err_r)->message);
                (*err_r)->message = m;
            }
        }
        return rc;
    }
    const herald_plugin *desc = ch->drv->desc;
    const herald_option *tables[] = {channel_options, hd_channel_options,
                                     desc->options, NULL};
    rc = hopts_resolve(ctx->conf, sec, tables, NULL, &ch->opts, err_r);
    if (rc != HERALD_OK)
        return rc;
    for (size_t i = 0; i < ch->opts.n_warnings; i++)
        hctx_log(ctx, HERALD_LOG_WARNING, ch->name, "%s", ch->opts.warnings[i]);
    const struct hopt_value *from = hopts_find(&ch->opts, "from");
    if (from && from->set) {
        const char *why = NULL;
        if (hm_parse_mailbox(from->str, &ch->from, &why) != 0)
            return hx_fix(err_r, hx_error(err_r, HERALD_ERR_CONFIG,
                                          "%s:%u: [channel %s] from = %s: %s",
                                          file, from->line, sec->name,
                                          from->str, why ? why : "invalid"),
                          "write it as `addr@example.com` or "
                          "`Name <addr@example.com>`");
        ch->has_from = 1;
    }
    const char *uns = hopts_find(&ch->opts, "unsupported")->str;
    ch->drop_unsupported = uns && strcmp(uns, "drop") == 0;
    const char *spool = hopts_find(&ch->opts, "spool")->str;
    ch->spool_mode = !spool || strcmp(spool, "auto") == 0 ? HCTX_SPOOL_AUTO
        : strcmp(spool, "always") == 0 ? HCTX_SPOOL_ALWAYS : HCTX_SPOOL_NEVER;
    ch->serialize = !(desc->caps & HERALD_CAP_THREAD_SAFE);
    return hd_setup(ctx, ch, err_r);
}

/* Run the driver's init for @ch once (thread-safe).  A failed init is kept
 * and handed back (a copy) on every later use: init reads only the
 * channel's options, which do not change while the context lives. */
herald_class hctx_channel_init(struct herald_channel *ch, herald_error **err_r)
{
    int st = atomic_load_explicit(&ch->init_state, memory_order_acquire);
    if (st == CH_NEW) {
        pthread_mutex_lock(&ch->init_lock);
        st = atomic_load_explicit(&ch->init_state, memory_order_relaxed);
        if (st == CH_NEW) {
            const herald_plugin *desc = ch->drv->desc;
            herald_error *err = NULL;
            herald_class rc = desc->init(&hctx_host_table, ch, &ch->state, &err);
            if (rc != HERALD_OK) {
                if (!err)
                    hx_error(&err, rc, "driver '%s' failed to initialise (%s)",
                             desc->name, herald_strerror(rc));
                hx_error_set_channel(err, ch->name);
                ch->init_err = err;
                st = CH_FAILED;
            } else {
                st = CH_READY;
            }
            atomic_store_explicit(&ch->init_state, st, memory_order_release);
        }
        pthread_mutex_unlock(&ch->init_lock);
    }
    if (st == CH_READY)
        return HERALD_OK;
    if (err_r && !*err_r)
        *err_r = hx_error_copy(ch->init_err);
    return ch->init_err->cls;
}

static void channel_free(struct herald_channel *ch)
{
    if (!ch)
        return;
    if (atomic_load(&ch->init_state) == CH_READY && ch->drv->desc->teardown)
        ch->drv->desc->teardown(ch->state);
    herald_error_free(ch->init_err);
    pthread_mutex_destroy(&ch->init_lock);
    hopts_free(&ch->opts);
    hm_mailbox_clear(&ch->from);
    herald_error_free(ch->broken);
    hd_free(ch->dl);
    pthread_mutex_destroy(&ch->lock);
    free(ch->name);
    free(ch->driver_name);
    free(ch);
}

static herald_class open_channels(herald_ctx *ctx, unsigned flags,
                                  herald_error **err_r)
{
    size_t n = 0;
    for (size_t i = 0; i < ctx->conf->n_sec; i++)
        n += ctx->conf->sec[i].name != NULL;
    ctx->ch = calloc(n ? n : 1, sizeof *ctx->ch);
    if (!ctx->ch)
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < ctx->conf->n_sec; i++) {
        const struct hconf_section *sec = &ctx->conf->sec[i];
        if (!sec->name)
            continue;
        struct herald_channel *ch = calloc(1, sizeof *ch);
        if (!ch || !(ch->name = hx_strdup(sec->name))) {
            free(ch);
            return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
        }
        ch->ctx = ctx;
        ch->line = sec->line;
        pthread_mutex_init(&ch->lock, NULL);
        pthread_mutex_init(&ch->init_lock, NULL);
        atomic_init(&ch->init_state, CH_NEW);
        ctx->ch[ctx->n_ch++] = ch;
        herald_error *err = NULL;
        herald_class rc = setup_channel(ctx, ch, sec, &err);
        if (rc == HERALD_OK && (flags & HERALD_OPEN_INIT_ALL)) {
            rc = hctx_channel_init(ch, &err);
            if (rc != HERALD_OK) {
                /* Already labelled with the channel. */
                if (!(flags & HERALD_OPEN_KEEP_BROKEN)) {
                    if (err_r)
                        *err_r = err;
                    else
                        herald_error_free(err);
                    return rc;
                }
                ch->broken = err;
                continue;
            }
        }
        if (rc == HERALD_OK)
            continue;
        /* Config errors already say "file:line: [channel NAME]". */
        if (err && strncmp(err->message, ctx->conf->file,
                           strlen(ctx->conf->file)) == 0)
            hx_error_tag_channel(err, ch->name);
        else
            hx_error_set_channel(err, ch->name);
        if (!(flags & HERALD_OPEN_KEEP_BROKEN)) {
            if (err_r)
                *err_r = err;
            else
                herald_error_free(err);
            return rc;
        }
        ch->broken = err;
    }
    return HERALD_OK;
}

static herald_class open_text(const char *text, size_t len, const char *name,
                              const char *path, unsigned flags,
                              herald_ctx **ctx_r, herald_error **err_r)
{
    if (!text || !ctx_r)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "herald_open: config text and ctx_r must not be NULL");
    if (flags & ~(unsigned)(HERALD_OPEN_KEEP_BROKEN | HERALD_OPEN_INIT_ALL))
        return hx_error(err_r, HERALD_ERR_USAGE, "herald_open: unknown flags 0x%x",
                        flags);
    *ctx_r = NULL;
    herald_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    ctx->log_level = HERALD_LOG_WARNING;
    herald_class rc = hconf_parse(text, len, name ? name : "<string>", &ctx->conf,
                                  err_r);
    if (rc == HERALD_OK)
        rc = read_globals(ctx, path, err_r);
    if (rc == HERALD_OK)
        rc = open_channels(ctx, flags, err_r);
    if (rc == HERALD_OK)
        rc = hd_route_check(ctx, flags, err_r);
    if (rc != HERALD_OK) {
        herald_close(ctx);
        return rc;
    }
    *ctx_r = ctx;
    return HERALD_OK;
}

herald_class herald_open(const char *path, unsigned flags, herald_ctx **ctx_r,
                         herald_error **err_r)
{
    if (!path)
        return hx_error(err_r, HERALD_ERR_USAGE, "herald_open: path is NULL");
    char *text = NULL, *why = NULL;
    size_t len = 0;
    if (hb_read_file(path, HB_CONFIG_LIMIT, "the config file size limit", 0,
                     &text, &len, &why) != 0) {
        int e = errno;
        herald_class rc = !why
            ? hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory")
            : hx_error(err_r, HERALD_ERR_CONFIG, "cannot read the config "
                       "file: %s", why);
        const char *fix = !why ? NULL
            : e == ENOENT ? "create it (see herald.conf(5)) or name another one"
            : e == EACCES ? "check its permissions"
            : e == EFBIG ? "a config file may be at most 4 MiB (see "
                           "herald.conf(5))" : NULL;
        if (fix)
            hx_fix(err_r, rc, "%s", fix);
        free(why);
        return rc;
    }
    herald_class rc = open_text(text, len, path, path, flags, ctx_r, err_r);
    free(text);
    return rc;
}

herald_class herald_open_string(const char *text, const char *name,
                                unsigned flags, herald_ctx **ctx_r,
                                herald_error **err_r)
{
    return open_text(text, text ? strlen(text) : 0, name, NULL, flags, ctx_r,
                     err_r);
}

void herald_close(herald_ctx *ctx)
{
    if (!ctx)
        return;
    for (size_t i = 0; i < ctx->n_ch; i++)
        channel_free(ctx->ch[i]);
    free(ctx->ch);
    for (size_t i = 0; i < ctx->n_drivers; i++)
        hl_close(ctx->drivers[i]);
    free(ctx->drivers);
    hopts_free(&ctx->globals);
    hconf_free(ctx->conf);
    free(ctx->plugin_dir);
    if (ctx->spool)
        ctx->spool->ops->close(ctx->spool);
    free(ctx);
}

/* ---------------------------------------------------------------- channels */

size_t herald_channel_count(const herald_ctx *ctx)
{
    return ctx ? ctx->n_ch : 0;
}

const char *herald_channel_name(const herald_ctx *ctx, size_t i)
{
    return ctx && i < ctx->n_ch ? ctx->ch[i]->name : NULL;
}

const char *herald_channel_driver(const herald_ctx *ctx, size_t i)
{
    return ctx && i < ctx->n_ch ? ctx->ch[i]->driver_name : NULL;
}

const herald_error *herald_channel_error(const herald_ctx *ctx, size_t i)
{
    if (!ctx || i >= ctx->n_ch)
        return NULL;
    struct herald_channel *ch = ctx->ch[i];
    if (ch->broken)
        return ch->broken;
    /* A lazy init that failed on an earlier use; NULL until then. */
    if (atomic_load_explicit(&ch->init_state, memory_order_acquire) == CH_FAILED)
        return ch->init_err;
    return NULL;
}

/* ---------------------------------------------------------------- drivers, check */

herald_class herald_drivers_foreach(herald_ctx *ctx, herald_driver_fn fn,
                                    void *user_data, herald_error **err_r)
{
    if (!fn)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "herald_drivers_foreach: fn must not be NULL");
    return hl_scan(ctx ? ctx->plugin_dir : NULL, fn, user_data, err_r);
}

herald_class herald_check(herald_ctx *ctx, const char *channel,
                          const char *const *params, herald_check_fn fn,
                          void *user_data, herald_error **err_r)
{
    if (!ctx || !channel)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "herald_check: ctx and channel must not be NULL");
    herald_checker chk = {channel, params, fn, user_data, 0};
    struct herald_channel *ch = NULL;
    herald_error *err = NULL;
    herald_class rc = hctx_find_channel(ctx, channel, &ch, &err);
    if (rc != HERALD_OK) {
        hctx_report_step(&chk, "config", HERALD_CHECK_FAIL, 0,
                         herald_error_message(err), NULL);
        return hctx_hand_back(rc, err, channel, err_r);
    }
    if (!ch->drv->desc->check) {
        hctx_report_step(&chk, "config", HERALD_CHECK_OK, 0,
                         "config valid, driver loads", NULL);
        return HERALD_OK;
    }
    hctx_lock_channel(ch);
    rc = ch->drv->desc->check(ch->state, &chk, &err);
    hctx_unlock_channel(ch);
    if (rc == HERALD_OK && chk.failed)
        rc = hx_error(&err, HERALD_ERR_PERMANENT, "a check step failed");
    return rc == HERALD_OK ? rc : hctx_hand_back(rc, err, channel, err_r);
}
