/* libherald/context.h - what context.c (open/close, channels, send,
 * render, check) and host.c (logging and the host table drivers call)
 * share.  Private to the core. */
#ifndef HERALD_CORE_CONTEXT_H
#define HERALD_CORE_CONTEXT_H

#include "internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <time.h>

/* A configured channel.  Drivers see it as the opaque herald_channel. */
struct herald_channel {
    herald_ctx *ctx;
    char *name;
    unsigned line;               /* of the [channel NAME] header */
    struct hl_driver *drv;       /* shared, owned by ctx->drivers */
    struct hopts opts;
    struct hm_mailbox from;
    int has_from;
    int drop_unsupported;        /* unsupported = drop */
    void *state;
    /* Lazy init: the driver's init runs on first use (send, render, check)
     * or at open with HERALD_OPEN_INIT_ALL, exactly once.  init_state is
     * CH_NEW, CH_READY or CH_FAILED; it leaves CH_NEW only under init_lock,
     * and readers that see CH_READY/CH_FAILED (acquire) see state/init_err. */
    atomic_int init_state;
    pthread_mutex_t init_lock;
    herald_error *init_err;      /* CH_FAILED: returned on every use */
    int serialize;               /* driver is not thread-safe */
    pthread_mutex_t lock;
    herald_error *broken;        /* HERALD_OPEN_KEEP_BROKEN */
    char *driver_name;
    struct hd_chan *dl;          /* deliver/: retry, route, breaker, rate */
    int spool_mode;              /* HCTX_SPOOL_*: the channel's `spool` */
};

enum { HCTX_SPOOL_AUTO = 0, HCTX_SPOOL_ALWAYS = 1, HCTX_SPOOL_NEVER = 2 };

enum { CH_NEW = 0, CH_READY = 1, CH_FAILED = 2 };

struct herald_ctx {
    struct hconf *conf;
    struct hopts globals;
    char *plugin_dir;            /* absolute or NULL */
    struct hm_limits limits;
    struct herald_channel **ch;
    size_t n_ch;
    struct hl_driver **drivers;
    size_t n_drivers;
    herald_log_level log_level;
    herald_log_fn log_fn;
    void *log_user;
    struct hs_backend *spool;    /* [herald] spool_dir, or NULL (spool/) */
    long long spool_max_age;     /* seconds */
};

struct herald_checker {
    const char *channel;
    const char *const *params;
    herald_check_fn fn;
    void *user;
    int failed;
};

struct hd_chan;

/* ---- context.c ---- */

/* Run @ch's driver init once (thread-safe); a failed init is handed back
 * (a copy) on every later use. */
herald_class hctx_channel_init(struct herald_channel *ch, herald_error **err_r);

/* ---- send.c ---- */

/* The channel named @name, its driver initialised; a config error listing
 * the channels when there is none. */
herald_class hctx_find_channel(herald_ctx *ctx, const char *name,
                               struct herald_channel **ch_r, herald_error **err_r);
/* Serialize calls into a driver that is not thread-safe. */
void hctx_lock_channel(struct herald_channel *ch);
void hctx_unlock_channel(struct herald_channel *ch);
/* Give @err (labelled with @channel) to the caller, or free it; returns @rc. */
herald_class hctx_hand_back(herald_class rc, herald_error *err,
                            const char *channel, herald_error **err_r);
/* One attempt through @ch's driver (no retry): *err_r labelled with the
 * channel on failure, a lost answer marked idempotent when the key was
 * sent to a provider that honours it. */
herald_class hctx_attempt(struct herald_channel *ch, const struct herald_msg *view,
                          herald_result *res, herald_error **err_r);
/* Deliver @msg through @channel without spooling: herald_send's core and
 * the queue runner's entry.  *retry_at_r (may be NULL) gets the earliest
 * time a later try could succeed (0 when nothing says).  A result comes
 * back on success, and on failure when the driver reported recipients. */
herald_class hctx_deliver(herald_ctx *ctx, const char *channel,
                          const herald_msg *msg, herald_result **result_r,
                          herald_error **err_r, time_t *retry_at_r);

/* The configured channel named @name (not initialised), or NULL. */
struct herald_channel *hctx_channel_named(herald_ctx *ctx, const char *name);
/* The checks herald_send() makes before a driver sees @msg (channel
 * found, driver initialised, sender, hm_validate, fields the driver
 * cannot carry), without sending: herald_queue_add()'s. */
herald_class hctx_check_message(herald_ctx *ctx, const char *channel,
                                const herald_msg *msg, herald_error **err_r);

/* ---- host.c ---- */

/* "error", "warning", "info", "debug" by herald_log_level. */
extern const char *const hctx_level_names[4];
/* The table every driver gets in init. */
extern const herald_host hctx_host_table;
/* A log line through the context's handler (or stderr, escaped), with
 * every channel's secrets replaced by "***". */
void hctx_vlog(const herald_ctx *ctx, herald_log_level level,
               const char *channel, const char *fmt, va_list ap);
void hctx_log(const herald_ctx *ctx, herald_log_level level,
              const char *channel, const char *fmt, ...) HERALD_PRINTF(4, 5);
void hctx_chan_log(const herald_channel *ch, herald_log_level level,
                   const char *fmt, ...) HERALD_PRINTF(3, 4);
void hctx_report_step(herald_checker *chk, const char *step,
                      herald_check_status status, double elapsed_ms,
                      const char *detail, const char *fix);

#endif
