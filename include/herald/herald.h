/*
 * herald/herald.h - the herald application API.
 *
 * An application opens a context from a config file that names channels,
 * builds a message, and sends it to a channel by name.  Which driver
 * delivers the message (maildir, smtp, mailgun, ...) is chosen by the
 * config file alone.
 *
 *     herald_ctx *ctx;
 *     herald_error *err = NULL;
 *     if (herald_open("/etc/herald/herald.conf", 0, &ctx, &err) != HERALD_OK) {
 *         fprintf(stderr, "%s\n", herald_error_message(err));
 *         herald_error_free(err);
 *         return 1;
 *     }
 *     herald_msg *m = herald_msg_new();
 *     herald_msg_add_to(m, "Ops <ops@example.com>");
 *     herald_msg_set_subject(m, "disk full");
 *     herald_msg_set_text(m, "/var is at 99%\n");
 *     if (herald_send(ctx, "alerts", m, NULL, &err) != HERALD_OK) { ... }
 *     herald_msg_free(m);
 *     herald_close(ctx);
 *
 * Conventions used on every function below:
 *  - Out-parameters end in `_r`.  They may be NULL when the caller does not
 *    want the value.  On failure, `*err_r` receives a new herald_error that
 *    the caller frees with herald_error_free(); on success it is untouched.
 *  - Functions that can fail return a herald_class: HERALD_OK (0) on success.
 *  - Strings are UTF-8 and NUL-terminated.  Strings returned by accessors
 *    belong to the object they were read from and live as long as it does.
 *  - Objects are not thread-safe unless the function says so.  A context is
 *    safe to share between threads for herald_send() and herald_render().
 *
 * The driver ABI is in <herald/plugin.h>; applications never need it.  What
 * both share (outcome classes, opaque types, option tables, capability
 * flags) is in <herald/types.h>, which this header includes.
 */
#ifndef HERALD_HERALD_H
#define HERALD_HERALD_H

#include <signal.h>
#include <stddef.h>
#include <herald/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HERALD_VERSION_MAJOR 0
#define HERALD_VERSION_MINOR 1
#define HERALD_VERSION_PATCH 0



/* ------------------------------------------------------------------ */
/* Library version                                                     */
/* ------------------------------------------------------------------ */

/**
 * herald_version - the run-time library version as "MAJOR.MINOR.PATCH".
 * Returns a static string.  Thread-safe.
 */
const char *herald_version(void);

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/**
 * herald_strerror - a short English description of an error class,
 * e.g. "connection timed out".  Returns a static string (never NULL; an
 * unknown value gives "unknown error").  Thread-safe.
 */
const char *herald_strerror(herald_class cls);

/**
 * herald_class_name - the class's machine name, as the CLI's --json output
 * writes it: "ok", "config", "timeout", "delivery_unknown", ...  Returns a
 * static string ("unknown" for a value outside the enum).  Thread-safe.
 */
const char *herald_class_name(herald_class cls);

/**
 * herald_class_retryable - 1 when a failure of this class may succeed if
 * the same message is sent again later (timeout, refused connection, rate
 * limit, temporary provider failure), 0 otherwise.  Thread-safe.
 */
int herald_class_retryable(herald_class cls);

/**
 * herald_sysexit - the sysexits.h exit status the herald command uses for
 * this class: 0 for HERALD_OK, 64 usage, 65 invalid message, 68 host not
 * found, 69 permanent failure or rejection, 70 internal, 75 retryable,
 * 76 TLS, protocol or delivery unknown, 77 auth, 78 config.  Thread-safe.
 */
int herald_sysexit(herald_class cls);

/**
 * herald_error_class - the class of @err (HERALD_ERR_INTERNAL for NULL).
 */
herald_class herald_error_class(const herald_error *err);

/**
 * herald_error_retryable - 1 when sending the same message again is safe and
 * may succeed: the class is retryable, or it is HERALD_ERR_DELIVERY_UNKNOWN
 * and the failed request carried an idempotency key the provider honours
 * (so a repeat cannot deliver twice).  0 otherwise, and for NULL.
 */
int herald_error_retryable(const herald_error *err);

/**
 * herald_error_message - what went wrong, and on which channel, in one
 * sentence ("channel 'alerts': smtp.example.com:465 sent no greeting").
 * Never contains a secret.  What to do about it is herald_error_fix().
 * Owned by @err.  Returns "" for NULL.
 */
const char *herald_error_message(const herald_error *err);

/**
 * herald_error_fix - what the user should do about @err ("set tls = implicit
 * for port 465"), kept apart from the message so a program can show it as
 * advice; NULL when herald has no advice.  Never contains a secret.  Owned
 * by @err.
 */
const char *herald_error_fix(const herald_error *err);

/**
 * herald_error_code - the provider's own code as text: an SMTP reply code
 * ("550", "5.7.1"), an HTTP status ("429"), or a provider error name
 * ("InvalidParameterValue").  NULL when there is none.  Owned by @err.
 */
const char *herald_error_code(const herald_error *err);

/**
 * herald_error_provider_text - the provider's own error text, verbatim
 * (e.g. the SMTP reply line or the API's error message).  NULL when there
 * is none.  Owned by @err.
 */
const char *herald_error_provider_text(const herald_error *err);

/**
 * herald_error_retry_after - seconds the provider asked us to wait before
 * retrying, or -1 when it gave no hint.
 */
long herald_error_retry_after(const herald_error *err);

/**
 * herald_error_channel - the channel the error came from, or NULL when it
 * did not come from a channel (e.g. a config syntax error).
 */
const char *herald_error_channel(const herald_error *err);

/**
 * herald_error_free - free an error.  NULL is ignored.
 */
void herald_error_free(herald_error *err);

/* ------------------------------------------------------------------ */
/* Context                                                             */
/* ------------------------------------------------------------------ */

/** Flags for herald_open() and herald_open_string(). */
enum {
    /* Keep channels whose config is broken, whose driver failed to load or
     * (with HERALD_OPEN_INIT_ALL) whose driver failed to initialise: the
     * context opens, herald_channel_error() reports each broken channel, and
     * sending to one returns its error.  Used by `herald config check`.
     * Without this flag the first broken channel makes the open fail. */
    HERALD_OPEN_KEEP_BROKEN = 1u << 0,
    /* Initialise every channel's driver while opening instead of on each
     * channel's first use, so init errors show at open (with
     * KEEP_BROKEN: in herald_channel_error()).  Used by `herald config
     * check` and `herald doctor`. */
    HERALD_OPEN_INIT_ALL = 1u << 1
};

/**
 * herald_open - read the config file at @path and check all of it: every
 * channel's driver is loaded and its options are resolved against the
 * driver's option table, so every config error shows here.
 *
 * A channel's driver instance is initialised lazily, on the channel's first
 * herald_send(), herald_render() or herald_check(), exactly once even when
 * many threads use the channel at the same time; channels never used are
 * never initialised (and herald_close() tears down only initialised ones).
 * When that first init fails, the use fails with the init error (naming the
 * channel), and every later use of the channel returns the same error
 * without trying again: init depends only on the channel's config, which
 * does not change while @ctx lives.  Open a new context to retry.
 * HERALD_OPEN_INIT_ALL initialises every channel here instead.
 *
 * @flags: 0 or an OR of HERALD_OPEN_KEEP_BROKEN and HERALD_OPEN_INIT_ALL.
 * On success *ctx_r receives a context to release with herald_close().
 * Config errors name the file and line.  Diagnostics raised while opening
 * go to stderr at warning level and above; see herald_set_log_handler().
 */
herald_class herald_open(const char *path, unsigned flags,
                         herald_ctx **ctx_r, herald_error **err_r);

/**
 * herald_open_string - like herald_open(), from config text in memory.
 * @text ends at its first NUL byte (herald_open() reads a file whole, so a
 * NUL there is an error naming the line).  @name is used in error messages
 * in place of a file name (NULL gives "<string>").  Relative paths in the
 * text are relative to the working directory.
 */
herald_class herald_open_string(const char *text, const char *name,
                                unsigned flags, herald_ctx **ctx_r,
                                herald_error **err_r);

/**
 * herald_close - tear down every initialised channel instance, unload the drivers and
 * free @ctx.  No call on @ctx may be running.  NULL is ignored.
 */
void herald_close(herald_ctx *ctx);


/**
 * herald_log_fn - receives one log line (no trailing newline) with secrets
 * already replaced by "***".  @channel is NULL for lines not about a
 * channel.  May be called from any thread that calls into herald.
 */
typedef void (*herald_log_fn)(herald_log_level level, const char *channel,
                              const char *line, void *user_data);

/**
 * herald_set_log_handler - send log lines up to and including @max_level to
 * @fn.  @fn NULL restores the default: lines to stderr as
 * "herald: LEVEL: [channel] text".  The default level is HERALD_LOG_WARNING.
 * Call it before sharing @ctx between threads.
 */
void herald_set_log_handler(herald_ctx *ctx, herald_log_level max_level,
                            herald_log_fn fn, void *user_data);

/**
 * herald_channel_count - number of channels in the config (including broken
 * ones kept by HERALD_OPEN_KEEP_BROKEN), in file order.
 */
size_t herald_channel_count(const herald_ctx *ctx);

/**
 * herald_channel_name / herald_channel_driver - name and driver name of
 * channel @i (0-based), or NULL when @i is out of range.  Owned by @ctx.
 */
const char *herald_channel_name(const herald_ctx *ctx, size_t i);
const char *herald_channel_driver(const herald_ctx *ctx, size_t i);

/**
 * herald_channel_error - for a context opened with HERALD_OPEN_KEEP_BROKEN:
 * the error that broke channel @i at open, or NULL when the channel is
 * healthy.  A channel not initialised yet (lazy init, see herald_open())
 * reports NULL: its config is valid and its driver loads, but its init has
 * not run.  After a first use whose init failed it reports that init error
 * (with any flags).  Open with HERALD_OPEN_INIT_ALL to have init errors
 * here at once.  Owned by @ctx.
 */
const herald_error *herald_channel_error(const herald_ctx *ctx, size_t i);

/** A channel's circuit breaker, see herald_send(). */
typedef enum herald_breaker {
    HERALD_BREAKER_OFF = 0,       /* breaker_threshold = 0 */
    HERALD_BREAKER_CLOSED = 1,    /* sends go through */
    HERALD_BREAKER_OPEN = 2,      /* sends skip the channel until next_trial_ms */
    HERALD_BREAKER_HALF_OPEN = 3  /* cool-down over: the next send is the trial */
} herald_breaker;

/** What herald_channel_status() reports. */
typedef struct herald_channel_state {
    herald_breaker breaker;
    unsigned failures;            /* consecutive failed attempts */
    unsigned threshold;           /* breaker_threshold */
    long long next_trial_ms;      /* open/half-open: Unix time in ms, else 0 */
    int shared;                   /* 1: kept in SPOOL_DIR/state (all
                                     processes), 0: this context only */
    double rate_per_s;            /* rate_limit in messages/s; 0 = none */
    double rate_burst;            /* rate_burst (0 without a rate limit) */
    double rate_tokens;           /* tokens now; below 0 while senders wait */
    const char *fallback;         /* fallback channel or NULL; owned by ctx */
} herald_channel_state;

/**
 * herald_channel_status - fill *@st with the breaker and rate-limit state
 * of channel @channel.  Does not initialise the channel's driver.  With
 * [herald] spool_dir the breaker is read from SPOOL_DIR/state (what every
 * process sees); without, it is this context's.  Returns HERALD_OK;
 * HERALD_ERR_CONFIG (listing the channels) for an unknown name; a broken
 * channel's error; HERALD_ERR_USAGE for NULL arguments.  Thread-safe.
 */
herald_class herald_channel_status(herald_ctx *ctx, const char *channel,
                                   herald_channel_state *st,
                                   herald_error **err_r);

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */
/*
 * A message is built with the setters below and may be sent any number of
 * times, to any channel.  Every setter copies its arguments.  Every setter
 * rejects a line break in header values, names and addresses, whether a
 * bare LF, a bare CR or CRLF (returning HERALD_ERR_INVALID_MESSAGE and
 * changing nothing); the message remembers
 * the first such failure and herald_send() then refuses it with an error that
 * names the field, so a caller may check each setter or only the send.
 *
 * Every list (recipients, headers, tags, metadata, attachments) grows in
 * amortized constant time, and setting metadata finds an existing key
 * through a hash index, so building a message is linear in its size.
 *
 * Mailboxes are "addr@example.com", "Display Name <addr@example.com>" or
 * "\"Quoted, Name\" <addr@example.com>"; UTF-8 is accepted in display names
 * and, per RFC 6531, in addresses.
 */

/** herald_msg_new - a new empty message, or NULL when out of memory. */
herald_msg *herald_msg_new(void);

/** herald_msg_free - free a message and everything it holds.  NULL is ignored. */
void herald_msg_free(herald_msg *msg);

/** herald_msg_set_from - the sender mailbox; overrides the channel's `from`. */
herald_class herald_msg_set_from(herald_msg *msg, const char *mailbox);

/** herald_msg_add_to / _cc / _bcc - add one recipient mailbox.  Bcc
 * recipients get the message but never appear in its headers. */
herald_class herald_msg_add_to(herald_msg *msg, const char *mailbox);
herald_class herald_msg_add_cc(herald_msg *msg, const char *mailbox);
herald_class herald_msg_add_bcc(herald_msg *msg, const char *mailbox);

/** herald_msg_set_reply_to - the Reply-To mailbox. */
herald_class herald_msg_set_reply_to(herald_msg *msg, const char *mailbox);

/** herald_msg_set_subject - the subject (UTF-8; encoded as needed). */
herald_class herald_msg_set_subject(herald_msg *msg, const char *subject);

/** herald_msg_set_text / _html - the plain text and HTML bodies (UTF-8,
 * any line endings; NUL is not allowed).  At least one is required. */
herald_class herald_msg_set_text(herald_msg *msg, const char *text);
herald_class herald_msg_set_html(herald_msg *msg, const char *html);

/**
 * herald_msg_add_header - an extra header.  @name must be printable ASCII
 * without ':' or space; headers herald writes itself (From, To, Cc, Bcc,
 * Reply-To, Subject, Date, Message-ID, MIME-Version, Content-*, and
 * X-Herald-Tags and X-Herald-Meta-* (any case), which carry tags and
 * metadata) are refused, the error's fix naming the setter to use.  Any
 * other X-Herald- header, such as `X-Herald-Build: 42`, is the caller's
 * and is sent as given.
 */
herald_class herald_msg_add_header(herald_msg *msg, const char *name,
                                   const char *value);

/**
 * herald_msg_attach_data - attach @len bytes from @data (copied).
 * @filename is required; @content_type NULL means guess from the
 * filename's extension (application/octet-stream when unknown).
 */
herald_class herald_msg_attach_data(herald_msg *msg, const void *data,
                                    size_t len, const char *filename,
                                    const char *content_type);

/**
 * herald_msg_attach_file - read the file at @path now and attach its
 * contents (copied).  @filename NULL means the path's base name;
 * @content_type NULL means guess.  Only a regular file is read: a FIFO, a
 * device such as /dev/zero, a directory or a socket is refused at once
 * (it is never read, so this never blocks).  A message has no context, so
 * the file may be at most the default max_message_size (25 MiB, 26214400
 * bytes) before encoding; herald_send() then checks the context's own
 * max_message_size against the encoded message.  A file that cannot be
 * read, is not regular or is too large gives HERALD_ERR_INVALID_MESSAGE
 * naming the path and the reason (errno text, the kind of file, or the
 * limit and the file's size).
 */
herald_class herald_msg_attach_file(herald_msg *msg, const char *path,
                                    const char *filename,
                                    const char *content_type);

/** herald_msg_add_tag - a tag for provider-side grouping (e.g. "billing"). */
herald_class herald_msg_add_tag(herald_msg *msg, const char *tag);

/** herald_msg_set_metadata - a key/value carried with the message; setting
 * the same key again replaces the value.  Keys are [A-Za-z0-9_-]. */
herald_class herald_msg_set_metadata(herald_msg *msg, const char *key,
                                     const char *value);

/** herald_msg_set_idempotency_key - a key that lets providers that support
 * it drop a duplicate submission of the same message. */
herald_class herald_msg_set_idempotency_key(herald_msg *msg, const char *key);

/**
 * herald_msg_validate - run every check herald_send() runs before a driver
 * sees the message, with the default limits (25 MiB, 1,000 recipients).
 * Each setter checks its own value when called (address syntax, no
 * CR/LF/NUL, UTF-8), keeps nothing of a value it refuses and remembers the
 * first refusal: validation reports that one (class, message, and the fix
 * apart in herald_error_fix()), then checks what depends on the whole
 * message: at least one recipient and one body, the recipient count and
 * the size.  Drivers get only messages that passed.  The size limit is
 * compared with the message as sent: the whole MIME message as
 * herald_render() would give it for an email channel, headers included,
 * attachments in base64 (4/3 of their size plus CRLF every 76 characters)
 * and bodies in quoted-printable where needed; the error names that size,
 * the size before encoding and the limit.  The sender may be missing here,
 * since a channel may supply it.
 */
herald_class herald_msg_validate(const herald_msg *msg, herald_error **err_r);

/* ------------------------------------------------------------------ */
/* Sending                                                             */
/* ------------------------------------------------------------------ */

/**
 * herald_send - deliver @msg through the channel named @channel.
 *
 * The message is validated first (see herald_msg_validate(), with the
 * context's limits); the sender is the message's From, else the channel's
 * `from`.  *result_r (if not NULL) receives a result to free with
 * herald_result_free(), on success and on a delivery failure alike (it
 * lists every attempt, see herald_result_tried_count()); it stays NULL
 * when the send never reached a driver (usage, unknown channel, invalid
 * message).  On failure *err_r says what happened and what to do: the
 * last attempt's error.  @msg is not modified.
 *
 * Retries, failover, breaker and rate limit (herald.conf(5)), decided
 * here and never by a driver:
 *  - A failure of a retryable class (herald_error_retryable(): rate
 *    limited, temporary, connect, timeout, and delivery unknown only when
 *    the request carried an idempotency key the provider honours) is
 *    tried again up to `retries` times (default 2), after `retry_delay`
 *    (1s) times `retry_backoff` (2) per retry, capped at
 *    `retry_max_delay` (5m), +- `retry_jitter` (0.2).  A provider's
 *    retry-after hint replaces the computed delay; a hint longer than
 *    `retry_max_delay` is not slept: the error comes back at once (the
 *    hint in herald_error_retry_after()).  Delivery unknown without such a
 *    key is never resent.
 *  - A channel with `fallback = OTHER` hands the message to OTHER when it
 *    fails after its retries with a retryable class or with a class
 *    another channel could get past (connect, timeout, host not found,
 *    TLS, auth); connect, timeout and host failures move on at once,
 *    without retries.  Invalid message, rejected sender or recipient,
 *    permanent, config and usage errors stop the chain.  Each channel
 *    applies its own `from` and `unsupported`.  herald_result_channel()
 *    names the channel that delivered.
 *  - After `breaker_threshold` (5) consecutive failed attempts a channel's
 *    circuit breaker opens: sends skip it (to its fallback, or fail with a
 *    temporary error, code "circuit_open", saying when the next trial is)
 *    for `breaker_cooldown` (60s); then one send is the trial that closes
 *    or reopens it.  With [herald] spool_dir the breaker is shared by
 *    every process using that spool.
 *  - `rate_limit = N/s|N/min` (with `rate_burst`) makes a sender wait for
 *    a token; the bucket is shared by all threads of @ctx.
 * Each attempt is logged at info level (channel, class, code, delay).
 *
 * The delivery promise: the message is delivered (HERALD_OK), queued on
 * disk (HERALD_QUEUED), or handed back as an error; never lost silently.
 * With a spool (`[herald] spool_dir`) a failure that sending again may cure
 * (herald_error_retryable(), or a retry-after hint) queues the message
 * instead of failing, unless the channel has `spool = never`: the call
 * returns HERALD_QUEUED, which is not an error, *err_r is left untouched,
 * and *result_r holds the queue id (herald_result_queue_id()) and the
 * attempts made.  `spool = always` queues without trying (see
 * herald_queue_add()).  When the spool cannot be written (disk full, file
 * size limit, read-only) the call returns HERALD_ERR_INTERNAL whose message
 * gives the delivery error and the spool's, never HERALD_QUEUED, and no
 * partial record is left visible.  A queued message's idempotency key is
 * its own, or one generated at queueing time that is sent only to drivers
 * that carry keys (HERALD_CAP_IDEMPOTENCY) and ignored by the others.
 *
 * Thread-safe: many threads may send on one context; calls into a driver
 * instance that does not declare itself thread-safe are serialized.
 */
herald_class herald_send(herald_ctx *ctx, const char *channel,
                         const herald_msg *msg, herald_result **result_r,
                         herald_error **err_r);

/**
 * herald_render - produce the exact payload the channel's driver would
 * transmit for @msg (a MIME message, an HTTP request, ...) without sending
 * anything.  Secrets in the payload are replaced by "***".  *payload_r gets
 * a NUL-terminated buffer to free with herald_free(); *len_r its length.
 * Returns HERALD_ERR_CONFIG when the driver cannot render.  Thread-safe.
 */
herald_class herald_render(herald_ctx *ctx, const char *channel,
                           const herald_msg *msg, char **payload_r,
                           size_t *len_r, herald_error **err_r);

/** herald_free - free memory herald handed to the caller. */
void herald_free(void *p);

/** Results of a send (herald_send() returns one on failure too).
 * herald_result_channel: the channel that delivered (after failover, not
 * necessarily the one asked for), or on failure the last one tried;
 * herald_result_driver: its driver.  Owned by @res. */
const char *herald_result_channel(const herald_result *res);
const char *herald_result_driver(const herald_result *res);
/** The provider's message id (SMTP queue id, API message id, file name),
 * or NULL when the provider gave none. */
const char *herald_result_message_id(const herald_result *res);
/** The spool's id of a message herald_send() queued (it returned
 * HERALD_QUEUED), for `herald queue show ID`; NULL otherwise. */
const char *herald_result_queue_id(const herald_result *res);
/** Driver calls made for this send, over all channels and retries (a
 * channel skipped by its open breaker counts none). */
unsigned herald_result_attempts(const herald_result *res);
/**
 * herald_result_tried_count - entries in the attempt list of @res: one per
 * driver call, in order, plus one per channel skipped by its open circuit
 * breaker (code "circuit_open") or not usable as a fallback.  The last
 * entry of a delivered message has class HERALD_OK.  0 for NULL.
 */
size_t herald_result_tried_count(const herald_result *res);
/** Entry @i (0-based) of the attempt list: the channel tried (NULL when
 * @i is out of range; owned by @res). */
const char *herald_result_tried_channel(const herald_result *res, size_t i);
/** Entry @i's outcome: HERALD_OK for the delivery, else the error's class
 * (HERALD_ERR_USAGE when @i is out of range). */
herald_class herald_result_tried_class(const herald_result *res, size_t i);
/** Entry @i's provider code ("451", "429", "circuit_open", ...) or NULL
 * when there is none.  Owned by @res. */
const char *herald_result_tried_code(const herald_result *res, size_t i);
/** Entry @i's error message (what herald_error_message() said for it), or
 * NULL for the delivery.  Owned by @res. */
const char *herald_result_tried_message(const herald_result *res, size_t i);
/** Milliseconds waited before entry @i (retry delay or retry-after, plus
 * any wait for a rate-limit token); -1 when @i is out of range. */
long long herald_result_tried_delay_ms(const herald_result *res, size_t i);
/** Per-recipient outcomes, for drivers that report them (0 otherwise). */
size_t herald_result_recipient_count(const herald_result *res);
/** Address of recipient @i, or NULL when out of range. */
const char *herald_result_recipient(const herald_result *res, size_t i);
/** 1 when recipient @i was accepted, 0 when rejected. */
int herald_result_recipient_accepted(const herald_result *res, size_t i);
/** The server's text about recipient @i (may be NULL). */
const char *herald_result_recipient_text(const herald_result *res, size_t i);
/** herald_result_free - free a result.  NULL is ignored. */
void herald_result_free(herald_result *res);

/* ------------------------------------------------------------------ */
/* The spool and the queue                                             */
/* ------------------------------------------------------------------ */
/*
 * With `[herald] spool_dir` set, a message that cannot be delivered now
 * (herald_send() met a retryable failure, or the channel has
 * `spool = always`) is written to the spool and herald_send() returns
 * HERALD_QUEUED: the message is on disk (fsynced, renamed into place) and
 * a queue runner (herald_queue_run(), `herald queue run`) delivers it
 * later.  Each queued message has a stable id (herald_result_queue_id())
 * and an idempotency key (the message's own, or one herald generates and
 * sends only to drivers that can carry it), so a resend after a crash is
 * not a duplicate wherever the provider honours the key.
 *
 * Every function below may be called from several threads and processes
 * on one spool at the same time: a message being delivered is locked
 * (a kernel lock on its file, released by the kernel when its holder
 * dies), so two runners never send the same message at once and a runner
 * killed with SIGKILL leaves its messages to the next run.  Without a
 * spool_dir each returns HERALD_ERR_CONFIG whose fix says to set one.
 */

/** Flags for herald_queue_list(), herald_queue_retry() and
 * herald_queue_purge(). */
enum {
    /* The dead letters (messages that failed for good, or were older than
     * spool_max_age) instead of the messages waiting for delivery. */
    HERALD_QUEUE_FAILED = 1u << 0
};

/** One spooled message, as herald_queue_list() and herald_queue_get()
 * report it.  Valid only during the callback. */
typedef struct herald_queue_item herald_queue_item;

/**
 * herald_queue_fn - called once per message.  Return 0 to go on, nonzero
 * to stop the walk (the walk then returns HERALD_OK).
 */
typedef int (*herald_queue_fn)(const herald_queue_item *item, void *user_data);

/** herald_queue_item_id - the queue id (what `herald queue show` takes).
 * Owned by @item. */
const char *herald_queue_item_id(const herald_queue_item *item);
/** herald_queue_item_channel - the channel the message was sent to. */
const char *herald_queue_item_channel(const herald_queue_item *item);
/** herald_queue_item_recipient_count - to + cc + bcc recipients. */
size_t herald_queue_item_recipient_count(const herald_queue_item *item);
/** herald_queue_item_recipient - bare address of recipient @i (to, then
 * cc, then bcc), or NULL when out of range.  Owned by @item. */
const char *herald_queue_item_recipient(const herald_queue_item *item, size_t i);
/** herald_queue_item_subject - the subject, or NULL when it has none. */
const char *herald_queue_item_subject(const herald_queue_item *item);
/** herald_queue_item_attempts - delivery attempts made so far (those of
 * the herald_send() that queued it included). */
unsigned herald_queue_item_attempts(const herald_queue_item *item);
/** herald_queue_item_created - when herald_send() queued it (Unix time). */
long long herald_queue_item_created(const herald_queue_item *item);
/** herald_queue_item_next_attempt - when a run may next try it (Unix
 * time; 0 for a dead letter). */
long long herald_queue_item_next_attempt(const herald_queue_item *item);
/** herald_queue_item_last_error - the error of the latest attempt, or
 * NULL when none failed yet (`spool = always`).  Owned by @item. */
const char *herald_queue_item_last_error(const herald_queue_item *item);
/** herald_queue_item_last_class - the class of the latest failed attempt
 * (HERALD_OK when none failed). */
herald_class herald_queue_item_last_class(const herald_queue_item *item);
/** herald_queue_item_reason - for a dead letter, why it was given up
 * (the class's machine name and the error, "permanent: channel 'x': ...",
 * or "older than spool_max_age (5d); last error: ...", or "channel 'x' is
 * no longer in FILE"); NULL for a message still waiting.  Owned by @item. */
const char *herald_queue_item_reason(const herald_queue_item *item);
/** herald_queue_item_idempotency_key - the stable key sent with every
 * attempt (the message's own, or the generated one). */
const char *herald_queue_item_idempotency_key(const herald_queue_item *item);
/**
 * herald_queue_item_attempt - attempt @i (0 = oldest kept; at most the
 * last 32 are kept): its time in *when_r, class in *cls_r and provider
 * code in *code_r (each may be NULL; the code may be NULL).  Returns the
 * error message, or NULL when @i is out of range (count them with
 * herald_queue_item_attempt_count()).  Owned by @item.
 */
const char *herald_queue_item_attempt(const herald_queue_item *item, size_t i,
                                      long long *when_r, herald_class *cls_r,
                                      const char **code_r);
/** herald_queue_item_attempt_count - attempts kept with the message. */
size_t herald_queue_item_attempt_count(const herald_queue_item *item);
/**
 * herald_queue_item_message - the whole message as it was queued, rebuilt
 * through the herald_msg setters (attachments included), in
 * herald_queue_list() and herald_queue_get() callbacks alike.  Owned by
 * @item.
 */
const herald_msg *herald_queue_item_message(const herald_queue_item *item);

/**
 * herald_queue_list - call @fn for every message waiting in the spool
 * (with HERALD_QUEUE_FAILED: every dead letter), oldest first.  A file
 * that cannot be read (corrupt, truncated, a future format version) is
 * reported through the log at warning level, naming the file, and
 * skipped.  Errors: HERALD_ERR_CONFIG without a spool, HERALD_ERR_INTERNAL
 * when the spool directory cannot be read.
 */
herald_class herald_queue_list(herald_ctx *ctx, unsigned flags,
                               herald_queue_fn fn, void *user_data,
                               herald_error **err_r);

/**
 * herald_queue_get - call @fn once for the message with queue id @id,
 * waiting or dead, with herald_queue_item_message() set.  Errors:
 * HERALD_ERR_USAGE naming the id when there is no such message (the fix
 * says to run `herald queue list`), HERALD_ERR_INTERNAL naming the file
 * when it is corrupt or of an unknown format version.
 */
herald_class herald_queue_get(herald_ctx *ctx, const char *id,
                              herald_queue_fn fn, void *user_data,
                              herald_error **err_r);

/**
 * herald_queue_retry - make message @id due now: a waiting message gets
 * its next attempt time set to now; a dead letter goes back to the queue,
 * due now, with its age counted afresh from now (so spool_max_age does
 * not fail it again at once).  @id NULL: every waiting message (with
 * HERALD_QUEUE_FAILED: every dead letter).  *count_r (may be NULL) gets the
 * number of messages changed.  A message being delivered right now is
 * left alone.  Errors as herald_queue_get().
 */
herald_class herald_queue_retry(herald_ctx *ctx, const char *id,
                                unsigned flags, size_t *count_r,
                                herald_error **err_r);

/**
 * herald_queue_drop - delete message @id (waiting or dead) for good.  A
 * message being delivered right now cannot be dropped: that is
 * HERALD_ERR_TEMPORARY, with the fix to try again.  Errors otherwise as
 * herald_queue_get().
 */
herald_class herald_queue_drop(herald_ctx *ctx, const char *id,
                               herald_error **err_r);

/**
 * herald_queue_purge - delete every dead letter (HERALD_QUEUE_FAILED) or
 * every waiting message (0) queued at least @older_than_s seconds ago
 * (0: all of them).  Messages being delivered are skipped.  *count_r (may
 * be NULL) gets the number deleted.
 */
herald_class herald_queue_purge(herald_ctx *ctx, unsigned flags,
                                long long older_than_s, size_t *count_r,
                                herald_error **err_r);

/** Flags for herald_queue_run_opts.flags. */
enum {
    /* Try every waiting message now, due or not (a flush). */
    HERALD_QUEUE_RUN_ALL = 1u << 0
};

/** What herald_queue_run() is to do.  Zero-initialise it. */
typedef struct herald_queue_run_opts {
    unsigned flags;                  /* HERALD_QUEUE_RUN_* */
    /* When not NULL and nonzero (e.g. set by a SIGTERM handler), the run
     * stops between messages: the message in flight is finished. */
    const volatile sig_atomic_t *stop;
    size_t max_messages;             /* stop after this many tries; 0: no limit */
    const char *channel;             /* only this channel's messages; NULL: all */
} herald_queue_run_opts;

/** What one herald_queue_run() did. */
typedef struct herald_queue_stats {
    size_t delivered;  /* sent, and removed from the spool */
    size_t deferred;   /* failed with a retryable error: kept, due later */
    size_t failed;     /* failed for good: moved to the dead letters */
    size_t expired;    /* older than spool_max_age: moved to the dead letters */
    size_t busy;       /* held (or just delivered) by another runner: skipped */
    size_t unreadable; /* corrupt or unknown-version files: left, logged */
} herald_queue_stats;

/**
 * herald_queue_run - deliver what is due, once, and return.  Each due
 * message is claimed (locked; one held by another runner is skipped),
 * delivered through its channel (retries and fallbacks as for
 * herald_send(), but never queued again), and then: removed on success;
 * on a retryable failure kept with the attempt recorded, due again after a
 * backoff (1 min, doubling per attempt, at most 1 h) or at the provider's
 * retry-after time if later; on a permanent failure moved to the dead
 * letters with the reason.  A message queued more than spool_max_age ago
 * goes to the dead letters with that reason when a run reaches it,
 * without another attempt.  A message whose channel is no longer
 * in the config is moved to the dead letters.  @opts may be NULL; *stats_r
 * (may be NULL) gets the counts.  Returns HERALD_OK when the run went
 * through (whatever the messages' outcomes); an error only when the
 * spool itself failed (HERALD_ERR_INTERNAL, e.g. the disk is full).
 * Thread-safe; several runners may share a spool.
 */
herald_class herald_queue_run(herald_ctx *ctx, const herald_queue_run_opts *opts,
                              herald_queue_stats *stats_r, herald_error **err_r);

/**
 * herald_queue_next_due - *when_r gets the earliest next-attempt time of a
 * waiting message (Unix time; may be in the past), or 0 when the queue is
 * empty.  For a daemon's sleep between runs.
 */
herald_class herald_queue_next_due(herald_ctx *ctx, long long *when_r,
                                   herald_error **err_r);

/**
 * herald_queue_dir - the directory where queued messages appear (a new
 * message is renamed into it: watch it with inotify for IN_MOVED_TO), or
 * NULL when the context has no spool.  Owned by @ctx.
 */
const char *herald_queue_dir(const herald_ctx *ctx);

/**
 * herald_queue_add - queue @msg for @channel without trying to deliver it
 * (what `spool = always` does in herald_send()).  The message is validated
 * first, as herald_send() does.  Returns HERALD_QUEUED with *result_r (may
 * be NULL) holding the queue id, or an error: HERALD_ERR_CONFIG without a
 * spool, HERALD_ERR_INTERNAL when the spool cannot be written (disk full,
 * file size limit, read-only), saying so; nothing half-written is then
 * visible.  (Over RLIMIT_FSIZE the kernel sends SIGXFSZ, which kills a
 * process that does not ignore it; ignore it to get the error.)
 * Thread-safe.
 */
herald_class herald_queue_add(herald_ctx *ctx, const char *channel,
                              const herald_msg *msg, herald_result **result_r,
                              herald_error **err_r);

/* ------------------------------------------------------------------ */
/* Drivers and diagnosis                                               */
/* ------------------------------------------------------------------ */


/** What herald_drivers_foreach() reports about one driver file. */
typedef struct herald_driver_info {
    const char *name;        /* file stem, e.g. "smtp" */
    const char *path;        /* absolute path of the .so */
    const char *version;     /* NULL when refused */
    const char *description; /* NULL when refused */
    unsigned abi_major, abi_minor;
    unsigned long long caps; /* HERALD_CAP_* from <herald/types.h> */
    const struct herald_option *options; /* NULL-name terminated; NULL when refused */
    const char *refused;     /* NULL when loadable, else why it was refused */
    const char *refused_fix; /* what to do about it, or NULL */
} herald_driver_info;

typedef void (*herald_driver_fn)(const herald_driver_info *info, void *user_data);

/**
 * herald_drivers_foreach - call @fn for every driver file found on the
 * plugin search path (the context's plugin_dir, then HERALD_PLUGIN_PATH,
 * then the compiled-in directory), in search order.  A shadowed duplicate
 * is reported as refused, naming the file that shadows it.  @ctx may be
 * NULL (no config plugin_dir).  The info is valid only during the call.
 */
herald_class herald_drivers_foreach(herald_ctx *ctx, herald_driver_fn fn,
                                    void *user_data, herald_error **err_r);


/** One step of a diagnosis: what was tried, how it went, why, and the fix. */
typedef void (*herald_check_fn)(const char *channel, const char *step,
                                herald_check_status status,
                                double elapsed_ms, const char *detail,
                                const char *fix, void *user_data);

/**
 * herald_check - diagnose channel @channel: runs the driver's check hook
 * (DNS, connect, TLS, auth, ... as the driver sees fit), reporting each step
 * through @fn.  A driver without a check hook gets one step, "config valid,
 * driver loads".  Nothing is delivered.
 *
 * @params: NULL, or a NULL-terminated list of name/value pairs that tune
 * the diagnosis, e.g. { "send_test", "ops@example.com", NULL } asks an
 * email driver to also try the envelope (MAIL FROM/RCPT TO, no DATA) to
 * that address.  Drivers ignore names they do not know.
 * Returns HERALD_OK when no step failed.  Thread-safe.
 */
herald_class herald_check(herald_ctx *ctx, const char *channel,
                          const char *const *params, herald_check_fn fn,
                          void *user_data, herald_error **err_r);

#ifdef __cplusplus
}
#endif
#endif /* HERALD_HERALD_H */
