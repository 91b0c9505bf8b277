/*
 * herald/plugin.h - the herald driver ABI.
 *
 * A driver is one shared object that defines one descriptor with
 * HERALD_PLUGIN_DEFINE().  The core finds it by file name (<name>.so on the
 * plugin path), checks the descriptor, and calls:
 *
 *   init(host, channel, &state, &err)   once per configured channel
 *   send(state, msg, result, &err)      once per message (maybe from many
 *                                       threads; serialized by the core
 *                                       unless HERALD_CAP_THREAD_SAFE)
 *   teardown(state)                     when the context closes
 *
 * plus the optional render() (the exact payload, for --dry-run) and check()
 * (diagnosis, for `herald doctor`).  Everything a driver needs from the core
 * comes through the host table passed to init(): typed option values, the
 * message accessors, the MIME renderer, logging with secrets redacted, and
 * the error and result setters.  A driver includes only this header and
 * links nothing of herald's.
 *
 * Minimal driver:
 *
 *     #include <herald/plugin.h>
 *     static const herald_option opts[] = {
 *         { "path", HERALD_OPT_STRING, HERALD_OPT_REQUIRED, NULL, NULL,
 *           "directory to write to" },
 *         { NULL }
 *     };
 *     static herald_class my_init(const herald_host *host, herald_channel *ch,
 *                                 void **state_r, herald_error **err_r);
 *     static herald_class my_send(void *state, const herald_msg *msg,
 *                                 herald_result *res, herald_error **err_r);
 *     static void my_teardown(void *state);
 *     HERALD_PLUGIN_DEFINE(mydriver,
 *         .version = "1.0", .description = "writes files",
 *         .caps = HERALD_CAP_EMAIL, .options = opts,
 *         .init = my_init, .send = my_send, .teardown = my_teardown);
 *
 * Compatibility rule (the loader's, in one place: libherald/loader.c):
 * a driver loads when its abi_major equals the core's and its abi_minor is
 * not newer than the core's.  A driver built against minor N therefore runs
 * only in cores of minor >= N, and may use every host entry and descriptor
 * field that minor N defines without checking host->abi_minor; a core never
 * loads a driver newer than itself.
 *
 * Growing the ABI: a new host entry or descriptor field takes the place of
 * the first slots of `reserved[]` (the array shrinks by as many slots, so
 * struct sizes and the offsets of everything before stay the same) and
 * HERALD_ABI_MINOR is bumped.  Anything else (a removed, reordered or
 * retyped member, a changed meaning) bumps HERALD_ABI_MAJOR.
 *
 * ABI history:
 *   1.0  first version: descriptor with init/send/teardown/render/check,
 *        host table with options, message accessors, MIME, log, errors,
 *        results, check steps and check parameters.
 *   1.1  host->error_fix (the fix of an error, apart from its message) and
 *        host->render_mime_id (the MIME rendering and its Message-ID);
 *        host reserved[] 16 -> 14 slots.
 */
#ifndef HERALD_PLUGIN_H
#define HERALD_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <herald/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HERALD_ABI_MAJOR 1
#define HERALD_ABI_MINOR 1



/* ---- opaque handles the core passes to drivers ------------------ */
typedef struct herald_channel herald_channel;  /* a configured channel */
typedef struct herald_checker herald_checker;  /* a running diagnosis */

/* Single-valued message fields, for host->msg_get(). */
typedef enum herald_field {
    HERALD_FIELD_FROM = 0,        /* full mailbox, "Name <a@b>" */
    HERALD_FIELD_FROM_ADDRESS,    /* bare address "a@b" */
    HERALD_FIELD_FROM_NAME,       /* display name, decoded; NULL if none */
    HERALD_FIELD_REPLY_TO,        /* full mailbox */
    HERALD_FIELD_SUBJECT,
    HERALD_FIELD_TEXT,
    HERALD_FIELD_HTML,
    HERALD_FIELD_IDEMPOTENCY_KEY
} herald_field;

/* Lists in a message, for host->msg_count() and friends. */
typedef enum herald_list {
    HERALD_LIST_TO = 0,
    HERALD_LIST_CC,
    HERALD_LIST_BCC,
    HERALD_LIST_HEADERS,      /* name/value pairs: msg_pair() */
    HERALD_LIST_METADATA,     /* key/value pairs: msg_pair() */
    HERALD_LIST_TAGS,         /* msg_item() */
    HERALD_LIST_ATTACHMENTS   /* msg_attachment() */
} herald_list;

/* Flags for host->render_mime(). */
#define HERALD_MIME_NO_HERALD_HEADERS (1u << 0) /* omit X-Herald-Tags / X-Herald-Meta-* */

/**
 * The host table: every service the core offers a driver.  Passed to init();
 * valid until teardown() returns.  New entries take reserved[] slots, with
 * HERALD_ABI_MINOR bumped (see the compatibility rule at the top): every
 * entry of the minor a driver was built against is present.
 */
typedef struct herald_host {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;

    /* Logging.  Secret option values are replaced by "***" in the line. */
    void (*log)(const herald_channel *ch, herald_log_level level,
                const char *fmt, ...) HERALD_PRINTF(3, 4);

    /* Channel identity. */
    const char *(*channel_name)(const herald_channel *ch);

    /* Options, already validated against the driver's table.  A missing
     * optional value reads as its default; with no default, opt_str gives
     * NULL and opt_int/opt_bool give 0.  DURATION reads as milliseconds.
     * ENUM reads as the chosen string.  opt_isset tells whether the config
     * named the option (directly, _env or _file). */
    const char *(*opt_str)(const herald_channel *ch, const char *name);
    long long (*opt_int)(const herald_channel *ch, const char *name);
    int (*opt_bool)(const herald_channel *ch, const char *name);
    int (*opt_isset)(const herald_channel *ch, const char *name);

    /* Message accessors.  Strings are owned by the message.  The sender is
     * already resolved (message From, else channel `from`).  Addresses are
     * bare ("a@b"); name_r receives the decoded display name or NULL. */
    const char *(*msg_get)(const herald_msg *msg, herald_field field);
    size_t (*msg_count)(const herald_msg *msg, herald_list list);
    const char *(*msg_address)(const herald_msg *msg, herald_list list,
                               size_t i, const char **name_r);
    int (*msg_pair)(const herald_msg *msg, herald_list list, size_t i,
                    const char **key_r, const char **value_r);
    const char *(*msg_item)(const herald_msg *msg, herald_list list, size_t i);
    int (*msg_attachment)(const herald_msg *msg, size_t i,
                          const char **filename_r, const char **type_r,
                          const unsigned char **data_r, size_t *len_r);

    /* The RFC 5322 rendering of @msg: CRLF line endings, lines <= 998
     * octets, no Bcc header, encoded words and transfer encodings applied.
     * *out_r is NUL-terminated and freed with host->free. */
    herald_class (*render_mime)(const herald_msg *msg, unsigned flags,
                                char **out_r, size_t *len_r,
                                herald_error **err_r);

    /* Errors.  @message says what happened and what to do next; @code and
     * @provider_text are the provider's own (may be NULL); @retry_after is
     * seconds or -1.  Returns @cls so a driver can `return host->error(...)`. */
    herald_class (*error)(herald_error **err_r, herald_class cls,
                          const char *code, const char *provider_text,
                          long retry_after, const char *fmt, ...)
        HERALD_PRINTF(6, 7);

    /* Results. */
    void (*result_set_id)(herald_result *res, const char *message_id);
    void (*result_add_recipient)(herald_result *res, const char *address,
                                 int accepted, const char *text);

    /* Diagnosis: report one step of check(). */
    void (*report_step)(herald_checker *chk, const char *step,
                        herald_check_status status, double elapsed_ms,
                        const char *detail, const char *fix);

    /* Diagnosis: a parameter of the running check ("send_test", ...), or
     * NULL when the caller gave none by that name. */
    const char *(*check_param)(const herald_checker *chk, const char *name);

    /* Memory handed between core and driver. */
    void *(*alloc)(size_t size);
    void (*free)(void *p);

    /* ---- 1.1 ---- */

    /* Set what the user should do about @err (an error made by host->error),
     * kept apart from its message; see herald_error_fix().  @err NULL is
     * ignored.  Like the message, it must not contain a secret. */
    void (*error_fix)(herald_error *err, const char *fmt, ...)
        HERALD_PRINTF(2, 3);

    /* render_mime, also handing back in *message_id_r the Message-ID the
     * rendering carries, without the angle brackets (freed with host->free;
     * may be NULL when not wanted). */
    herald_class (*render_mime_id)(const herald_msg *msg, unsigned flags,
                                   char **out_r, size_t *len_r,
                                   char **message_id_r, herald_error **err_r);

    void *reserved[14];
} herald_host;

/**
 * The descriptor: the only struct a driver defines, through
 * HERALD_PLUGIN_DEFINE().  The loader accepts it when abi_major equals the
 * core's, abi_minor is not newer, struct_size covers every field up to
 * `reserved`, name/version/description are non-empty, name equals the file
 * stem, and init/send/teardown are set.
 */
typedef struct herald_plugin {
    uint16_t abi_major;
    uint16_t abi_minor;
    uint32_t struct_size;
    const char *name;
    const char *version;
    const char *description;
    unsigned long long caps;        /* HERALD_CAP_* */
    const herald_option *options;   /* NULL or terminated by { NULL } */

    /* Required.  init() gets the channel's validated options through @host
     * and returns per-channel state in *state_r.  It should not connect to
     * anything (send does that, lazily).  */
    herald_class (*init)(const herald_host *host, herald_channel *ch,
                         void **state_r, herald_error **err_r);
    herald_class (*send)(void *state, const herald_msg *msg,
                         herald_result *res, herald_error **err_r);
    void (*teardown)(void *state);

    /* Optional: the exact payload send() would transmit, secrets replaced
     * by "***"; *payload_r allocated with host->alloc. */
    herald_class (*render)(void *state, const herald_msg *msg,
                           char **payload_r, size_t *len_r,
                           herald_error **err_r);
    /* Optional: diagnose the channel, reporting each step with
     * host->report_step(); returns HERALD_OK when nothing failed. */
    herald_class (*check)(void *state, herald_checker *chk,
                          herald_error **err_r);

    void *reserved[16];
} herald_plugin;

#if defined(__GNUC__)
#define HERALD_EXPORT __attribute__((visibility("default")))
#else
#define HERALD_EXPORT
#endif

/**
 * HERALD_PLUGIN_DEFINE(stem, fields...) - define the driver's descriptor and
 * its exported getter `stem_LTX_herald_plugin_get` (libltdl's prefix, so
 * several drivers can be preloaded into one binary).  @stem is the file stem
 * as a bare identifier; the fields are designated initializers.
 */
#define HERALD_PLUGIN_DEFINE(stem, ...)                                    \
    HERALD_EXPORT const herald_plugin *stem##_LTX_herald_plugin_get(void); \
    const herald_plugin *stem##_LTX_herald_plugin_get(void)                \
    {                                                                      \
        static const herald_plugin desc = {                                \
            .abi_major = HERALD_ABI_MAJOR,                                 \
            .abi_minor = HERALD_ABI_MINOR,                                 \
            .struct_size = sizeof(herald_plugin),                          \
            .name = #stem,                                                 \
            __VA_ARGS__                                                    \
        };                                                                 \
        return &desc;                                                      \
    }

/* The symbol the loader looks up (libltdl adds the NAME_LTX_ prefix). */
#define HERALD_PLUGIN_SYMBOL "herald_plugin_get"

#ifdef __cplusplus
}
#endif
#endif /* HERALD_PLUGIN_H */
