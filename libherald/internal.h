/*
 * libherald/internal.h - what the pieces of libherald share with each other.
 * Nothing here is installed or exported; only herald_* symbols leave
 * libherald.so.  Tests link the convenience library and may use these.
 *
 * Prefixes: hx_ utilities and errors (util.c, error.c), hm_ messages
 * (message/, address.c), hmime_ MIME (mime/), hconf_/hopts_ config
 * (config/ini.c, config/options.c), hl_ loader (loader.c, scan.c,
 * trust.c; loader.c lends scan.c what loader.h declares); the
 * context (context.c, host.c) shares context.h.
 */
#ifndef HERALD_CORE_INTERNAL_H
#define HERALD_CORE_INTERNAL_H

#include "config.h"
#include <stdarg.h>
#include <stddef.h>
#include <herald/herald.h>
#include <herald/plugin.h>
#include "base/base.h"

/* ---- util.c: growable buffer and string helpers ------------------- */

/* Make room for entry @n of an array that only grows one entry at a time
 * (its capacity follows from its count: 4, 8, 16, ...).  Returns the
 * (maybe moved) array, or NULL on overflow or OOM (@arr is still valid). */
void *hx_grow(void *arr, size_t n, size_t size);
char *hx_strdup(const char *s);            /* NULL in -> NULL out */
char *hx_strndup(const char *s, size_t n);
char *hx_printf(const char *fmt, ...) HERALD_PRINTF(1, 2);
char *hx_vprintf(const char *fmt, va_list ap);
/* Environment lookup that ignores the environment in setuid programs. */
const char *hx_getenv(const char *name);
/* Levenshtein distance, capped at 255. */
unsigned hx_edit_distance(const char *a, const char *b);
/* 1 when s contains CR, LF or NUL within its first n bytes (n = strlen). */
int hx_has_crlf(const char *s);

/* ---- error.c: errors and results ------------------------------------ */

struct herald_error {
    herald_class cls;
    char *message;        /* what happened (the fix is apart, in fix) */
    char *code;           /* provider's code or NULL */
    char *provider_text;  /* provider's text or NULL */
    char *fix;            /* what to do about it, or NULL */
    char *channel;        /* NULL when not about a channel */
    long retry_after;     /* seconds or -1 */
    int idempotent;       /* DELIVERY_UNKNOWN only: the request carried an
                             idempotency key the provider honours */
};

/* Set *err_r (when err_r is not NULL and *err_r is NULL) to a new error;
 * returns cls.  Never fails loudly: on OOM *err_r gets a static OOM error. */
herald_class hx_error(herald_error **err_r, herald_class cls,
                      const char *fmt, ...) HERALD_PRINTF(3, 4);
herald_class hx_error_full(herald_error **err_r, herald_class cls,
                           const char *code, const char *provider_text,
                           long retry_after, const char *fmt, va_list ap);
/* Prefix the message with "channel NAME: " and record the channel. */
void hx_error_set_channel(herald_error *err, const char *channel);
/* Record the channel without touching the message. */
void hx_error_tag_channel(herald_error *err, const char *channel);
herald_error *hx_error_copy(const herald_error *err);
/* Set the fix of @err (replacing any); see herald_error_fix(). */
void hx_error_set_fix(herald_error *err, const char *fmt, ...) HERALD_PRINTF(2, 3);
void hx_error_vset_fix(herald_error *err, const char *fmt, va_list ap);
/* Set the fix of *err_r (when there is one) and return @cls, so a call
 * reads `return hx_fix(err_r, hx_error(err_r, cls, WHAT), FIX)`. */
herald_class hx_fix(herald_error **err_r, herald_class cls, const char *fmt, ...)
    HERALD_PRINTF(3, 4);
/* Mark a DELIVERY_UNKNOWN error safe to retry (see herald_error_retryable). */
void hx_error_set_idempotent(herald_error *err);

struct hx_rcpt {
    char *address;
    int accepted;
    char *text;
};
/* One try of a send: a driver call, or a channel its breaker skipped
 * (code "circuit_open"). */
struct hx_attempt {
    char *channel;
    herald_class cls;            /* HERALD_OK for the one that delivered */
    char *code, *message;        /* provider code, error message (or NULL) */
    long long delay_ms;          /* waited before it (retry delay, rate) */
};
struct herald_result {
    char *channel, *driver, *message_id;
    char *queue_id;              /* HERALD_QUEUED: the spool's id */
    unsigned attempts;           /* driver calls made */
    struct hx_rcpt *rcpt;
    size_t n_rcpt;
    struct hx_attempt *tried;    /* every attempt, in order */
    size_t n_tried;
};
herald_result *hx_result_new(const char *channel, const char *driver);
void hx_result_set_id(herald_result *res, const char *id);
void hx_result_set_queue_id(herald_result *res, const char *id);
void hx_result_add_recipient(herald_result *res, const char *address,
                             int accepted, const char *text);
/* Forget the recipients a failed attempt reported (before the next one). */
void hx_result_clear_recipients(herald_result *res);
/* The channel and driver the result is about (the delivering one). */
void hx_result_set_channel(herald_result *res, const char *channel,
                           const char *driver);
/* Append an attempt (@err: its error, NULL when it delivered); counts a
 * driver call unless @skipped.  0, or -1 out of memory. */
int hx_result_add_attempt(herald_result *res, const char *channel,
                          const herald_error *err, long long delay_ms,
                          int skipped);

/* ---- message/ and address.c --------------------------------------- */

struct hm_mailbox {
    char *addr;   /* bare address, "user@domain" */
    char *name;   /* display name, unquoted/unescaped UTF-8, or NULL */
    char *full;   /* as it should appear in a header before encoding:
                     "name <addr>" or "addr" */
};
struct hm_pair { char *key, *value; };
struct hm_attachment {
    char *filename, *type;
    unsigned char *data;
    size_t len;
};

enum { HM_TO = 0, HM_CC = 1, HM_BCC = 2 };

struct herald_msg {
    struct hm_mailbox *from;      /* NULL when unset */
    struct hm_mailbox *reply_to;  /* NULL when unset */
    struct hm_mailbox *rcpt[3];   /* HM_TO, HM_CC, HM_BCC */
    size_t n_rcpt[3];
    char *subject, *text, *html, *idempotency_key;
    struct hm_pair *headers;  size_t n_headers;
    struct hm_pair *metadata; size_t n_metadata;
    size_t *meta_index;       /* hash of metadata keys: slot -> index + 1 */
    size_t meta_slots;        /* 0 or a power of two > 2 * n_metadata */
    char **tags;              size_t n_tags;
    struct hm_attachment *att; size_t n_att;
    /* First setter failure, reported by hm_validate. */
    herald_class bad_cls;
    char *bad_what;               /* "subject: contains CR or LF" */
    char *bad_fix;                /* what to do about it, or NULL */
    /* The idempotency key was generated by the spool (the caller set
     * none): sent only to drivers with HERALD_CAP_IDEMPOTENCY, dropped
     * silently for the others (send.c fit_to_driver). */
    int idem_generated;
};

/* message/failure.c: how a setter says no.  hm_fail records the first
 * failure on @msg (the formatted what, and @fix, which may be NULL) and
 * returns @cls; hm_fail_value formats "<label> '<value>': <why>" with the
 * value shown by hm_show (control characters escaped, cut at 60 bytes;
 * malloc'd).  hm_line_problem says why a one-line value is unacceptable
 * (CR/LF/NUL or bad UTF-8; *fix_r set when there is a fix), or NULL. */
extern const char hm_one_line[], hm_not_utf8[], hm_fix_utf8[];
herald_class hm_fail(herald_msg *msg, herald_class cls, const char *fix,
                     const char *fmt, ...) HERALD_PRINTF(4, 5);
herald_class hm_fail_value(herald_msg *msg, herald_class cls,
                           const char *label, const char *value,
                           const char *why, const char *fix);
herald_class hm_oom(herald_msg *msg, const char *label);
herald_class hm_usage(herald_msg *msg, const char *label);
char *hm_show(const char *s);
const char *hm_line_problem(const char *s, const char **fix_r);
int hm_has_control(const char *s);

/* Parse a mailbox ("a@b", "Name <a@b>", "\"Q, N\" <a@b>", UTF-8 allowed
 * per RFC 6531).  Returns 0 and fills @mb (free with hm_mailbox_clear), or
 * -1 with *why_r set to a static reason ("missing @", "contains CR or LF"). */
int hm_parse_mailbox(const char *s, struct hm_mailbox *mb, const char **why_r);
/* The same, with *fix_r (may be NULL) set on failure to what to do when
 * there is something specific ("add one mailbox per call"), else NULL. */
int hm_parse_mailbox_fix(const char *s, struct hm_mailbox *mb,
                         const char **why_r, const char **fix_r);
void hm_mailbox_clear(struct hm_mailbox *mb);
/* (An RFC 5322 quoted-string: hb_quote_string in base/base.h.) */

struct hm_limits {
    size_t max_size;        /* bytes of the message as rendered (hmime_size); default 25 MiB */
    size_t max_recipients;  /* to + cc + bcc; default 1000 */
};
#define HM_DEFAULT_MAX_SIZE (25u * 1024u * 1024u)
#define HM_DEFAULT_MAX_RECIPIENTS 1000u

/* The one decision before a driver sees @msg (message/validate.c): the
 * setters' recorded failure, then recipients, body, sender (when
 * @need_from; the error names the channel option `from`), recipient count
 * and the size as sent.  Errors carry the fix apart (herald_error_fix). */
herald_class hm_validate(const herald_msg *msg, const struct hm_limits *lim,
                         int need_from, herald_error **err_r);

/* Host-table accessors (message/access.c; see herald_host in plugin.h);
 * they only read what hm_validate accepted. */
const char *hm_get(const herald_msg *msg, herald_field field);
size_t hm_count(const herald_msg *msg, herald_list list);
const char *hm_address(const herald_msg *msg, herald_list list, size_t i,
                       const char **name_r);
int hm_pair(const herald_msg *msg, herald_list list, size_t i,
            const char **key_r, const char **value_r);
const char *hm_item(const herald_msg *msg, herald_list list, size_t i);
int hm_attachment(const herald_msg *msg, size_t i, const char **filename_r,
                  const char **type_r, const unsigned char **data_r,
                  size_t *len_r);
/* Guess a content type from a file name's extension. */
const char *hm_guess_type(const char *filename);

/* ---- mime/ (render.c; the encoders in encode.c, see mime/mime.h) ---- */

/* RFC 5322 / MIME rendering; see herald_host.render_mime. */
herald_class hmime_render(const herald_msg *msg, unsigned flags,
                          char **out_r, size_t *len_r, herald_error **err_r);
/* The same, also handing back the Message-ID it wrote, without the angle
 * brackets (malloc'd); see herald_host.render_mime_id. */
herald_class hmime_render_id(const herald_msg *msg, unsigned flags,
                             char **out_r, size_t *len_r, char **message_id_r,
                             herald_error **err_r);
/* The length hmime_render would give (headers, encoded bodies and
 * attachments), computed without encoding anything: what
 * max_message_size is compared with. */
herald_class hmime_size(const herald_msg *msg, unsigned flags, size_t *size_r,
                        herald_error **err_r);
/* RFC 2047 encoded-word(s) for a header value when it is not plain ASCII. */
void hmime_encode_phrase(struct hbuf *b, const char *s);

/* ---- config/ini.c, config/options.c -------------------------------------------------------- */

struct hconf_kv {
    char *key, *value;
    unsigned line;
};
struct hconf_section {
    char *kind;           /* "herald" or "channel" */
    char *name;           /* channel name, NULL for [herald] */
    unsigned line;
    struct hconf_kv *kv;
    size_t n_kv;
};
struct hconf {
    char *file;           /* for messages: path or "<string>" */
    struct hconf_section *sec;
    size_t n_sec;
};

/* Parse @len bytes of INI text (a NUL or another control byte other than
 * TAB is an error, so @len must cover the whole file).  Errors are
 * HERALD_ERR_CONFIG naming "file:line". */
herald_class hconf_parse(const char *text, size_t len, const char *file,
                         struct hconf **conf_r, herald_error **err_r);
void hconf_free(struct hconf *conf);
const struct hconf_kv *hconf_find(const struct hconf_section *sec,
                                  const char *key);

/* Typed option values for one section, resolved against option tables. */
struct hopt_value {
    const herald_option *opt;
    int set;              /* named in the config (directly, _env, _file) */
    char *str;            /* resolved text (secret contents for secrets) */
    long long num;        /* INT, BOOL (0/1), DURATION (ms) */
    unsigned line;        /* 0 when from the default */
};
struct hopts {
    struct hopt_value *v;
    size_t n;
    char **warnings;      /* "FILE:LINE: ..." lines for the caller to log,
                             e.g. a secret file others may read */
    size_t n_warnings;
};

/* Resolve section @sec against @tables (a NULL-terminated list of option
 * tables: core keys first, then the driver's).  Unknown key -> error naming
 * the nearest known key; missing required; bad type/range/choice; secret X
 * from X, X_env or X_file (not two of them); every error "file:line: ...".
 * @skip lists keys to ignore entirely (NULL-terminated, may be NULL). */
herald_class hopts_resolve(const struct hconf *conf,
                           const struct hconf_section *sec,
                           const herald_option *const *tables,
                           const char *const *skip, struct hopts *out,
                           herald_error **err_r);
void hopts_free(struct hopts *o);
const struct hopt_value *hopts_find(const struct hopts *o, const char *name);

/* ---- loader.c (the only file that calls lt_dl*) --------------------- */

struct hl_driver {
    char *name;
    char *path;
    const herald_plugin *desc;
    void *handle;          /* lt_dlhandle */
};

/* Load driver @name from the search path (@config_dir may be NULL).
 * *warning_r (may be NULL) receives a malloc'd note about a shadowed
 * duplicate, or NULL.  Errors are HERALD_ERR_CONFIG with path and reason. */
herald_class hl_open(const char *config_dir, const char *name,
                     struct hl_driver **drv_r, char **warning_r,
                     herald_error **err_r);
void hl_close(struct hl_driver *drv);
/* trust.c: the config file @conf_path sets plugin_dir: HERALD_OK when only root and
 * the caller can change it (file and every directory above it), else a
 * config error naming the file, the problem and the chmod/chown fix. */
herald_class hl_trust_config(const char *conf_path, herald_error **err_r);
/* trust.c: the candidate at @path (stat() in @st) must be a regular file
 * that only root and the caller can change; *real_r receives the resolved
 * path to open.  Else a config error with the problem and its fix. */
struct stat;
herald_class hl_vet_driver(const char *name, const char *path,
                           const struct stat *st, char **real_r,
                           herald_error **err_r);
/* scan.c: see herald_drivers_foreach(). */
herald_class hl_scan(const char *config_dir, herald_driver_fn fn,
                     void *user_data, herald_error **err_r);

#endif /* HERALD_CORE_INTERNAL_H */
