/*
 * herald/types.h - what the application API and the driver ABI share.
 *
 * <herald/herald.h> (applications) and <herald/plugin.h> (drivers) both
 * include this header and never each other: an application never sees the
 * driver ABI, a driver never the application API.  Here: the outcome
 * classes, the opaque handle types, log levels and check statuses, and the
 * option-table and capability types that `herald drivers show` reports.
 */
#ifndef HERALD_TYPES_H
#define HERALD_TYPES_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define HERALD_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define HERALD_PRINTF(fmt, args)
#endif

/*
 * Every outcome has one class.  Each class is either retryable (the same
 * message may succeed later, unchanged) or not; see herald_class_retryable().
 * The numbers are part of the ABI and never change.
 */
typedef enum herald_class {
    HERALD_OK = 0,
    HERALD_ERR_USAGE = 1,          /* API misuse: NULL argument, bad flag */
    HERALD_ERR_CONFIG = 2,         /* config file, option, or driver load */
    HERALD_ERR_INVALID_MESSAGE = 3,/* the message itself is unacceptable */
    HERALD_ERR_HOST_NOT_FOUND = 4, /* DNS lookup failed */
    HERALD_ERR_CONNECT = 5,        /* refused, unreachable, reset (retryable) */
    HERALD_ERR_TIMEOUT = 6,        /* no answer in time: often a blocked port (retryable) */
    HERALD_ERR_TLS = 7,            /* handshake, certificate, pin */
    HERALD_ERR_PROTOCOL = 8,       /* the peer spoke something unexpected */
    HERALD_ERR_AUTH = 9,           /* credentials rejected */
    HERALD_ERR_SENDER_REJECTED = 10,
    HERALD_ERR_RECIPIENT_REJECTED = 11,
    HERALD_ERR_RATE_LIMITED = 12,  /* retryable; see herald_error_retry_after() */
    HERALD_ERR_TEMPORARY = 13,     /* provider 4xx-style / 5xx: retryable */
    HERALD_ERR_PERMANENT = 14,     /* provider refused for good */
    HERALD_ERR_INTERNAL = 15,      /* out of memory, local I/O, a bug */
    HERALD_ERR_DELIVERY_UNKNOWN = 16,/* request sent, answer lost: maybe delivered */
    HERALD_QUEUED = 17             /* not an error: kept in the spool for later */
} herald_class;

/*
 * HERALD_ERR_DELIVERY_UNKNOWN: the whole message reached the provider (the
 * SMTP final dot was written, the HTTP request body was sent) but its answer
 * was lost, cut short, too long or not the provider's success shape.  The
 * message may or may not have been delivered.  It is not retryable
 * (herald_class_retryable() gives 0), because a retry may deliver it twice,
 * unless the message carried an idempotency key that the channel's driver
 * sends and the provider honours (see herald_error_retryable()).
 *
 * HERALD_QUEUED: not an error.  herald_send() could not deliver the
 * message now (a retryable failure, or the channel has `spool = always`)
 * and wrote it to the spool (`[herald] spool_dir`): it is on disk, fsynced,
 * and a queue run delivers it later.  herald_result_queue_id() names it.
 *
 * The delivery promise: a message handed to herald_send() is delivered,
 * queued on disk (HERALD_QUEUED, with a stable id that is sent as the
 * idempotency key wherever the provider honours one), or handed back to
 * the caller as an error whose class says whether sending it again is
 * safe; never lost silently, never sent twice where the provider lets us
 * prevent it.
 */

/** Opaque types.  Each has a matching _free / _close function. */
typedef struct herald_ctx herald_ctx;
typedef struct herald_msg herald_msg;
typedef struct herald_result herald_result;
typedef struct herald_error herald_error;

typedef enum herald_log_level {
    HERALD_LOG_ERROR = 0,
    HERALD_LOG_WARNING = 1,
    HERALD_LOG_INFO = 2,
    HERALD_LOG_DEBUG = 3
} herald_log_level;

typedef enum herald_check_status {
    HERALD_CHECK_OK = 0,
    HERALD_CHECK_WARN = 1,
    HERALD_CHECK_FAIL = 2,
    HERALD_CHECK_INFO = 3
} herald_check_status;

/* ---- capabilities: what a driver can carry ---------------------- */
#define HERALD_CAP_EMAIL        (1ull << 0)  /* delivers email */
#define HERALD_CAP_CHAT         (1ull << 1)  /* delivers chat/SMS/push text */
#define HERALD_CAP_TEXT         (1ull << 2)  /* plain text body */
#define HERALD_CAP_HTML         (1ull << 3)  /* HTML body */
#define HERALD_CAP_ATTACHMENTS  (1ull << 4)
#define HERALD_CAP_CC_BCC       (1ull << 5)
#define HERALD_CAP_REPLY_TO     (1ull << 6)
#define HERALD_CAP_HEADERS      (1ull << 7)  /* extra headers */
#define HERALD_CAP_TAGS         (1ull << 8)
#define HERALD_CAP_METADATA     (1ull << 9)
#define HERALD_CAP_IDEMPOTENCY  (1ull << 10)
#define HERALD_CAP_UTF8_ADDRESS (1ull << 11) /* RFC 6531 addresses */
#define HERALD_CAP_THREAD_SAFE  (1ull << 32) /* send() may run concurrently on one state */

/* ---- options ------------------------------------------------------ */
typedef enum herald_opt_type {
    HERALD_OPT_STRING = 0,
    HERALD_OPT_INT = 1,      /* decimal, checked against min/max when max > min */
    HERALD_OPT_BOOL = 2,     /* yes/no, true/false, on/off, 1/0 */
    HERALD_OPT_ENUM = 3,     /* one of `choices`, a '|'-separated list */
    HERALD_OPT_DURATION = 4, /* "30", "30s", "500ms", "2m": read as milliseconds */
    HERALD_OPT_PATH = 5      /* a file or directory path */
} herald_opt_type;

#define HERALD_OPT_REQUIRED (1u << 0)
/* A secret may also be given as NAME_env (environment variable) or NAME_file
 * (file contents, trailing newline stripped) and never appears in logs. */
#define HERALD_OPT_SECRET   (1u << 1)

/** One entry of a driver's option table; the table ends with { NULL }. */
typedef struct herald_option {
    const char *name;          /* [a-z0-9_]+ */
    herald_opt_type type;
    unsigned flags;            /* HERALD_OPT_REQUIRED | HERALD_OPT_SECRET */
    const char *default_value; /* as written in a config file; NULL = none */
    const char *choices;       /* ENUM: "implicit|starttls|none"; else NULL */
    const char *doc;           /* one line, for `herald drivers show` */
    long long min, max;        /* INT and DURATION(ms) bounds, used when max > min */
} herald_option;

#ifdef __cplusplus
}
#endif
#endif /* HERALD_TYPES_H */
