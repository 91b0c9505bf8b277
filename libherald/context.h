/* libherald/context.h - what context.c (open/close, channels, send,
 * render, check) and host.c (logging and the host table drivers call)
 * share.  Private to the core. */
#ifndef HERALD_CORE_CONTEXT_H
#define HERALD_CORE_CONTEXT_H

#include "internal.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>

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
};

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
};

struct herald_checker {
    const char *channel;
    const char *const *params;
    herald_check_fn fn;
    void *user;
    int failed;
};

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
