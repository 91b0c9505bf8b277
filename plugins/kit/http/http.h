/*
 * plugins/kit/http/http.h - the mechanism every HTTP API driver shares.
 *
 * A provider driver is a translation table: it fills an hh_provider with
 * three functions (message -> request, 2xx answer -> result, error answer ->
 * provider code and text) and the authenticated call `herald doctor` makes,
 * and lets this helper do the rest: one libcurl easy handle per channel
 * instance (kept alive between sends), TLS verification, timeouts, proxy,
 * User-Agent, JSON and multipart bodies, base64, the one mapping from HTTP
 * status to herald error class, the dry-run rendering with secrets as
 * "***", the diagnosis, and the driver descriptor's send/render/check/
 * teardown.
 *
 *     static const herald_option opts[] = {
 *         {"api_key", HERALD_OPT_STRING, HERALD_OPT_REQUIRED | HERALD_OPT_SECRET,
 *          NULL, NULL, "API key", 0, 0},
 *         HERALD_HTTP_OPTIONS,
 *         {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
 *     };
 *     static const hh_provider ex_provider = {HH_PROVIDER_FIELDS(ex),
 *                                             .credential = "api_key"};
 *     HH_PLUGIN_DEFINE(example, "Example API", caps, opts, ex_init);
 *
 * What the helper guarantees every driver:
 *  - A loopback base_url (127.0.0.0/8, [::1], localhost) never goes through
 *    a proxy, configured or from the environment (libcurl's NOPROXY "*"),
 *    and a plain http:// request (allowed to loopback only) never does:
 *    the credential would cross the proxy's network in clear.  A proxy
 *    option with such a base_url is bypassed, not refused.  A proxy that
 *    cannot be resolved or reached is reported naming the proxy option or
 *    the environment variable as the fix.
 *  - Request sent vs answer lost: a failure before the whole request was
 *    written (refused, reset in the handshake) keeps its retryable class;
 *    after it (reset, truncated or endless answer, timeout waiting) it is
 *    HERALD_ERR_DELIVERY_UNKNOWN: the provider may have the message.  An
 *    answer body is read up to 1 MiB (HH_MAX_BODY): a longer 2xx answer is
 *    delivery unknown too; a longer error answer is judged by its status.
 *  - A 2xx answer counts only in the provider's success shape (hh_shape);
 *    anything else is delivery unknown, quoting its first bytes escaped.
 *  - Every secret option value of the channel and its base64 forms (and
 *    the Basic credentials sent) are redacted from every error, provider
 *    text, message id, log and doctor line the helper reports (redact.c).
 *  - A multipart form body is built here, not by libcurl, so the dry run
 *    shows the bytes sent; names are RFC 7578 quoted-strings ('"' and '\\'
 *    escaped with a backslash, UTF-8 as is), the boundary a hash of the
 *    parts.
 *
 * Linked (as a libtool convenience library) into each HTTP driver only;
 * libherald never links libcurl.  Nothing here is exported from a driver.
 */
#ifndef HERALD_PLUGINS_HTTP_H
#define HERALD_PLUGINS_HTTP_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <herald/plugin.h>

/* The options every HTTP driver accepts, declared once: put this macro in
 * the driver's option table, before its { NULL } terminator. */
#define HERALD_HTTP_OPTIONS                                                    \
    {"base_url", HERALD_OPT_STRING, 0, NULL, NULL,                             \
     "API base URL instead of the provider's (tests, regions, gateways); "     \
     "https://, or http:// to a loopback address only", 0, 0},                 \
    {"proxy", HERALD_OPT_STRING, HERALD_OPT_SECRET, NULL, NULL,                \
     "proxy URL, e.g. http://proxy.example.com:3128; \"none\" ignores the "    \
     "https_proxy environment variable; a loopback base_url never uses one",  \
     0, 0},                                                                    \
    {"timeout", HERALD_OPT_DURATION, 0, "30s", NULL,                           \
     "longest a whole request may take (connecting takes at most 10s of it)",  \
     100, 600000},                                                             \
    {"ca_file", HERALD_OPT_PATH, 0, NULL, NULL,                                \
     "PEM file of CA certificates to trust instead of the system's", 0, 0},    \
    {"tls_verify", HERALD_OPT_BOOL, 0, "yes", NULL,                            \
     "verify the server's certificate and name (only ever turn off for tests)",\
     0, 0}

typedef struct hh_client hh_client;
typedef struct hh_request hh_request;

/* A provider's answer.  The helper owns it (the buffers are reused from
 * one request to the next): read it during the callbacks only. */
typedef struct hh_response {
    long status;          /* HTTP status */
    char *body;           /* NUL-terminated (at most 1 MiB, HH_MAX_BODY) */
    size_t len;
    char *headers;        /* raw header block of the final response */
    json_t *json;         /* the helper's: read hh_response_json() */
    int parsed;           /* the helper's: json has been tried */
} hh_response;

/* A driver's verdict on the answer to its check call (`herald doctor`). */
typedef struct hh_verdict {
    herald_check_status status;  /* preset to HERALD_CHECK_OK */
    const char *detail;          /* what was found; NULL: the helper's words */
    const char *fix;             /* what to do (after WARN or FAIL) */
    char detail_buf[512];        /* scratch space for composing detail ... */
    char fix_buf[512];           /* ... and fix */
} hh_verdict;

/* What a driver reads out of an error answer; every field is optional. */
typedef struct hh_problem {
    const char *code;        /* provider's error name/number; NULL: the HTTP status */
    const char *text;        /* provider's message; NULL: the body */
    herald_class cls;        /* HERALD_OK: classify by HTTP status */
    long retry_after;        /* provider's own field, seconds; -1: none */
    const char *hint;        /* what to do; NULL: the class's default advice */
    char text_buf[1024];     /* scratch space for composing text ... */
    char hint_buf[512];      /* ... and hint */
} hh_problem;

/* What a provider's success answer (2xx) looks like, from its API
 * documentation.  A 2xx answer without it is HERALD_ERR_DELIVERY_UNKNOWN:
 * an HTML login page of a captive portal, invalid JSON, an empty body or
 * {"error": ...} with 200 may come from something else than the provider,
 * and say nothing about the message.  The id found becomes the result's
 * message id. */
typedef struct hh_shape {
    const char *id_member;    /* top-level string member holding the id */
    const char *ids_member;   /* or an array of string ids (joined by ",") */
    const char *id_header;    /* or a response header holding it */
    const char *true_member;  /* a member that must be true ("success") */
    const char *zero_member;  /* a member that must be 0 ("ErrorCode") */
    int empty_body;           /* the body must be empty (else: JSON object) */
    int id_optional;          /* a missing id is fine (id_header only) */
} hh_shape;

/* What a driver tells the helper about its provider. */
typedef struct hh_provider {
    const char *name;          /* "sendgrid" */
    const char *credential;    /* options to check on 401/403: "api_key" */
    /* Fill @req (method, path, headers, body) for @msg.  Errors about the
     * message go through hh_fail_request() or are returned directly. */
    herald_class (*build)(hh_client *c, void *priv, const herald_msg *msg,
                          hh_request *req, herald_error **err_r);
    /* The driver's option table: its HERALD_OPT_SECRET values (and their
     * base64 forms) are redacted from everything the helper reports. */
    const herald_option *options;
    hh_shape shape;            /* the success answer */
    /* Optional: more checks of a 2xx answer, before the shape's (which
     * sets the message id).  NULL: the shape alone. */
    herald_class (*accepted)(hh_client *c, void *priv, const hh_response *resp,
                             herald_result *res, herald_error **err_r);
    /* A non-2xx answer: fill @p from the provider's body and headers.  The
     * strings may point into @resp (or be static). */
    void (*problem)(hh_client *c, void *priv, const hh_response *resp,
                    hh_problem *p);
    void (*free_priv)(void *priv);  /* NULL: free() */
    /* For hh_plugin_check: fill @req with an authenticated call that sends
     * nothing (method, path, auth), as build() does for a message. */
    void (*check_request)(hh_client *c, void *priv, hh_request *req);
    /* Optional: judge the check call's answer (any status), e.g. a sending
     * domain that is not verified.  Return 1 with @v filled, or 0 to leave
     * it to the helper (2xx: OK; else the problem() text and hint). */
    int (*check_answer)(hh_client *c, void *priv, const hh_response *resp,
                        hh_verdict *v);
} hh_provider;

/* The members every driver fills by naming convention: .name = "p", the
 * option table p_options and the callbacks p_build, p_problem and
 * p_check_request. */
#define HH_PROVIDER_FIELDS(p)                                                \
    .name = #p, .options = p##_options, .build = p##_build,                  \
    .problem = p##_problem, .check_request = p##_check_request

/* ---- the instance ------------------------------------------------ */

/*
 * hh_client_new - the driver's init(): read the shared options, check
 * base_url (or use @default_base), and create the per-instance state that
 * the descriptor's send/render/teardown take.  @priv is the driver's own
 * state, owned from here on (freed even on failure).
 */
herald_class hh_client_new(const herald_host *host, herald_channel *ch,
                           const hh_provider *prov, const char *default_base,
                           void *priv, void **state_r, herald_error **err_r);

/* For the descriptor: .send, .render, .check, .teardown. */
herald_class hh_plugin_send(void *state, const herald_msg *msg,
                            herald_result *res, herald_error **err_r);
herald_class hh_plugin_render(void *state, const herald_msg *msg,
                              char **payload_r, size_t *len_r,
                              herald_error **err_r);
/* `herald doctor`: reports "resolve" (the base URL's host and its
 * addresses), "connect" (TCP; refused, unreachable and no answer told
 * apart), "tls" (handshake and certificate) and "auth" (the provider's
 * check_request, judged by check_answer), stopping at the first failure. */
herald_class hh_plugin_check(void *state, herald_checker *chk,
                             herald_error **err_r);
void hh_plugin_teardown(void *state);

const herald_host *hh_host(const hh_client *c);
herald_channel *hh_channel(const hh_client *c);
/* The base URL in use, without a trailing '/'. */
const char *hh_base(const hh_client *c);
/* The authority as sent in the Host header: "host" or "host:port". */
const char *hh_authority(const hh_client *c);
/* 1 when base_url was set in the config. */
int hh_custom_base(const hh_client *c);

/* The host's error(), log() and result_set_id() with every secret of the
 * channel (see hh_provider.options; also Basic credentials sent) replaced
 * by "***" in the message, code, provider text, line and id.  Drivers use
 * these, never the host's own. */
herald_class hh_error(hh_client *c, herald_error **err_r, herald_class cls,
                      const char *code, const char *provider_text, long retry_after,
                      const char *fmt, ...) HERALD_PRINTF(7, 8);
void hh_log(hh_client *c, herald_log_level level, const char *fmt, ...)
    HERALD_PRINTF(3, 4);
void hh_set_id(hh_client *c, herald_result *res, const char *id);
/* The fix of the error just made by hh_error() (what to do about it, kept
 * apart from the message: herald_error_fix()), redacted the same way; the
 * host's error_fix().  Nothing when *err_r is NULL. */
void hh_error_fix(hh_client *c, herald_error **err_r, const char *fmt, ...)
    HERALD_PRINTF(3, 4);

/* ---- requests ---------------------------------------------------- */

/* Set method and path (appended to the base URL).  The path is printf'd;
 * escape variable parts with hh_escape(). */
void hh_set_path(hh_request *req, const char *method, const char *fmt, ...)
    HERALD_PRINTF(3, 4);
/* URL-escape @s for a path segment (malloc'd; NULL when out of memory,
 * which is recorded on @req). */
char *hh_escape(hh_request *req, const char *s);
const char *hh_method(const hh_request *req);
/* The path as sent, base_url's path prefix included. */
const char *hh_path(const hh_request *req);
/* Send the request to @origin ("https://host[:port]", no path) instead of
 * the base URL's: for a provider whose check call lives on another host.
 * The path is then the one given to hh_set_path, without base_url's. */
void hh_set_origin(hh_request *req, const char *origin);

void hh_header(hh_request *req, const char *name, const char *value);
/* A header whose value is @shown followed by @secret: sent in full,
 * rendered as @shown followed by "***". */
void hh_secret_header(hh_request *req, const char *name, const char *shown,
                      const char *secret);
/* Authorization: Bearer KEY / Basic base64(USER:KEY), secrets redacted. */
void hh_bearer(hh_request *req, const char *token);
void hh_basic(hh_request *req, const char *user, const char *password);

/* JSON body (takes @root, sends it compact, as application/json). */
void hh_body_json(hh_request *req, json_t *root);
/* The compact JSON text of @v, as json_dumps(v, JSON_COMPACT |
 * JSON_ENCODE_ANY) writes it, at a fraction of its cost (malloc'd; NULL on
 * OOM).  hh_body_json uses it. */
char *hh_json_compact(const json_t *v, size_t *len_r);
/* The body as it will be sent (after hh_body_json). */
const char *hh_body(const hh_request *req, size_t *len_r);

/* multipart/form-data body, built by the helper once build() returns: the
 * same bytes for the send and the dry run (attachments included). */
void hh_form_field(hh_request *req, const char *name, const char *value);
void hh_form_file(hh_request *req, const char *name, const char *filename,
                  const char *type, const unsigned char *data, size_t len);

/* Record a problem with the message (first one wins); send and render then
 * fail with it.  Use for provider limits and unrepresentable values. */
void hh_fail_request(hh_request *req, herald_class cls, const char *fmt, ...)
    HERALD_PRINTF(3, 4);
/* What to do about the problem hh_fail_request() just recorded (kept
 * apart from it: herald_error_fix()); nothing when that call was not the
 * first problem, which is the one reported. */
void hh_fail_fix(hh_request *req, const char *fmt, ...) HERALD_PRINTF(2, 3);
/* How many of @n items a provider allowing @max takes: @n when it fits;
 * otherwise, with `unsupported = drop`, @max (with a log line), else the
 * request fails naming @field.  (Never use it for recipients: dropping
 * those would lose mail; fail instead.) */
size_t hh_fit(hh_request *req, const char *field, size_t n, size_t max);

/* ---- JSON helpers (failures are recorded on the request, naming the key) */
void hh_jstr(hh_request *req, json_t *obj, const char *key, const char *value);
void hh_jset(hh_request *req, json_t *obj, const char *key, json_t *value);
void hh_jpush(hh_request *req, json_t *arr, json_t *value);
void hh_jpush_str(hh_request *req, json_t *arr, const char *value);
void hh_jbase64(hh_request *req, json_t *obj, const char *key,
                const unsigned char *data, size_t len);
/* {"email": addr, "name": name} (name left out when NULL). */
json_t *hh_jaddress(hh_request *req, const char *addr, const char *name);
/* Set @key of @obj to @mailbox ("Name <addr>", as the core writes it) as
 * an {"email", "name"} object; nothing when @mailbox is NULL. */
void hh_jmailbox(hh_request *req, json_t *obj, const char *key, const char *mailbox);
/* "Name <addr>" (the name quoted when it is not plain), or "addr" when
 * @name is NULL: for providers that take a mailbox as one string.
 * Malloc'd; failures are recorded on @req and give NULL. */
char *hh_mailbox(hh_request *req, const char *addr, const char *name);
/* Split a mailbox as the core writes it ("addr", "Name <addr>" or
 * "\"Quoted\" <addr>") into a malloc'd address and name (NULL when none).
 * Returns 0, or -1 when out of memory (recorded on @req). */
int hh_split_mailbox(hh_request *req, const char *mailbox, char **addr_r,
                     char **name_r);
/* Every address of @list as mailboxes joined by ", " (Postmark style);
 * NULL when the list is empty.  Malloc'd. */
char *hh_mailbox_list(hh_request *req, const herald_msg *msg, herald_list list);
/* Mailbox formatter for hh_jaddresses: "Name <addr>" style strings. */
typedef char *(*hh_mailbox_fn)(hh_request *req, const char *addr, const char *name);
/* The addresses of @list as a JSON array: {"email", "name"} objects when
 * @fmt is NULL, else the strings @fmt gives (e.g. hh_mailbox). */
json_t *hh_jaddresses(hh_request *req, const herald_msg *msg, herald_list list,
                      hh_mailbox_fn fmt);
/* Set keys[0..2] of @obj to the To, Cc and Bcc addresses (hh_jaddresses),
 * each only when that list is not empty. */
void hh_jrecipients(hh_request *req, json_t *obj, const herald_msg *msg,
                    const char *const keys[3], hh_mailbox_fn fmt);
/* The name/value pairs of @list (headers, metadata) as one JSON object;
 * set as @key of @obj only when the list is not empty. */
void hh_jpairs(hh_request *req, json_t *obj, const char *key,
               const herald_msg *msg, herald_list list);
/* The same as an array of {name_key: name, value_key: value} objects. */
void hh_jpairs_array(hh_request *req, json_t *obj, const char *key,
                     const herald_msg *msg, herald_list list,
                     const char *name_key, const char *value_key);
/* The attachments as an array of objects with the file name, base64
 * content and type under the given keys, plus @disposition_key:
 * @disposition when both are non-NULL; set as @key only when any. */
struct hh_attachment_keys {
    const char *name, *content, *type, *disposition_key, *disposition;
};
void hh_jattachments(hh_request *req, json_t *obj, const char *key,
                     const herald_msg *msg, const struct hh_attachment_keys *k);
/* The tags (at most @max, see hh_fit) as an array of {name_key: tag,
 * value_key: "true"}; a tag that is not ASCII letters, digits, '_' or '-'
 * (at most 256) fails the request naming @provider.  Set as @key when any. */
void hh_jnamed_tags(hh_request *req, json_t *obj, const char *key,
                    const herald_msg *msg, size_t max, const char *provider,
                    const char *name_key, const char *value_key);
/* A string member of a JSON object, or NULL. */
const char *hh_json_string(const json_t *obj, const char *key);

/* ---- responses and errors ---------------------------------------- */

/* The body parsed as JSON (on the first call), or NULL when it is not. */
json_t *hh_response_json(const hh_response *resp);
/* Top-level member @key of the body's JSON object as text, cut to fit
 * @buf: a string's value or an integer.  NULL when there is no such member
 * or it is of another type.  Read through hh_response_json() (jansson; the
 * parse is cached, so a shape check after it costs nothing more). */
const char *hh_response_member(const hh_response *resp, const char *key,
                               char *buf, size_t size);
/* A 2xx answer that is not the provider's success answer (@what: what is
 * wrong): HERALD_ERR_DELIVERY_UNKNOWN, with the first bytes of the body
 * (escaped) in the message and as the provider text. */
herald_class hh_unexpected_answer(hh_client *c, const hh_response *resp,
                                  const char *what, herald_error **err_r);
/* Why @resp does not fit @shape (a static string), or NULL when it does;
 * then the id (or "") is in @id, cut to fit. */
const char *hh_shape_problem(const hh_shape *shape, const hh_response *resp,
                             char *id, size_t size);
/* The first @max bytes of @p as printable ASCII: '"', '\\' and control or
 * non-ASCII bytes escaped (\" \\ \n \xNN), "..." when cut; into @out. */
void hh_escape_bytes(const char *p, size_t n, size_t max, char *out, size_t size);
/* The value of response header @name (case-insensitive), trimmed and cut
 * to fit @buf; NULL when absent, else @buf. */
const char *hh_response_header(const hh_response *resp, const char *name,
                               char *buf, size_t size);
/* Retry-After as seconds: delta-seconds or an HTTP-date relative to @now;
 * -1 when @value is NULL or unreadable. */
long hh_parse_retry_after(const char *value, time_t now);
/* The class of a failed transfer from its CURLcode and libcurl's error
 * text: refused/reset -> CONNECT (also a handshake cut off by the peer),
 * timeouts -> TIMEOUT, DNS -> HOST_NOT_FOUND, certificates and handshakes
 * -> TLS. */
herald_class hh_curl_class(int curl_code, const char *detail);
/* The class of an HTTP status: 2xx OK, 400/413/422 invalid message, 401/403
 * auth, 404 config, 408 and 5xx temporary, 429 rate limited, other 4xx
 * permanent, anything else (1xx, 3xx) protocol. */
herald_class hh_status_class(long status);

/* ---- encoding ----------------------------------------------------- */

/* Standard base64 with padding, NUL-terminated, malloc'd (NULL on OOM):
 * the base library's hb_base64 into a string of its own. */
char *hh_base64(const unsigned char *data, size_t len, size_t *out_len_r);

/* The plugin definition every HTTP driver shares: @name's getter with the
 * helper's send, render, check and teardown. */
#define HH_PLUGIN_DEFINE(name, desc, capabilities, opts, init_fn)            \
    HERALD_PLUGIN_DEFINE(name, .version = PACKAGE_VERSION,                   \
                         .description = (desc), .caps = (capabilities),      \
                         .options = (opts), .init = (init_fn),               \
                         .send = hh_plugin_send, .render = hh_plugin_render, \
                         .check = hh_plugin_check,                           \
                         .teardown = hh_plugin_teardown)

#endif /* HERALD_PLUGINS_HTTP_H */
