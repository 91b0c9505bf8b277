/* libherald/message.c - herald_msg: setters that validate and copy, message
 * validation before a driver sees it, and the host-table accessors. */
#include "internal.h"
#include "base/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SHOWN 60
#define MAX_HEADER_NAME 76
#define MAX_TAG 128
#define MAX_META_KEY 64
#define MAX_FILENAME 255
#define MAX_TYPE_NAME 127   /* type or subtype of a media type, RFC 6838 */
#define MAX_IDEMPOTENCY_KEY 256

static const char one_line[] =
    "contains CR, LF or NUL; a header value must be one line";

/* ---- small helpers ---------------------------------------------------- */

static int utf8_valid(const char *s)
{
    return hb_utf8_valid(s, strlen(s));
}

static int has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 32 && *p != '\t') || *p == 127)
            return 1;
    return 0;
}

/* Why a one-line value is unacceptable, or NULL. */
static const char *line_problem(const char *s)
{
    if (hx_has_crlf(s))
        return one_line;
    if (!utf8_valid(s))
        return "is not valid UTF-8; convert it to UTF-8 first";
    return NULL;
}

/* A copy of @s fit for an error message: control characters escaped
 * (\r, \n, \t, \xHH) and long values cut short with "...". */
static char *show(const char *s)
{
    struct hbuf b = {0};
    size_t n = strlen(s), cut = n;
    if (n > MAX_SHOWN) {
        cut = MAX_SHOWN;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r')
            hbuf_adds(&b, "\\r");
        else if (c == '\n')
            hbuf_adds(&b, "\\n");
        else if (c == '\t')
            hbuf_adds(&b, "\\t");
        else if (c < 32 || c == 127)
            hbuf_printf(&b, "\\x%02x", c);
        else
            hbuf_addc(&b, (char)c);
    }
    if (cut < n)
        hbuf_adds(&b, "...");
    return hbuf_steal(&b, NULL);
}

/* Record a setter failure (keeping only the first) and return @cls. */
static herald_class fail(herald_msg *msg, herald_class cls,
                         const char *fmt, ...) HERALD_PRINTF(3, 4);
static herald_class fail(herald_msg *msg, herald_class cls,
                         const char *fmt, ...)
{
    if (!msg || msg->bad_what)
        return cls;
    va_list ap;
    va_start(ap, fmt);
    char *what = hx_vprintf(fmt, ap);
    va_end(ap);
    if (what) {
        msg->bad_cls = cls;
        msg->bad_what = what;
    }
    return cls;
}

/* fail() with a value shown escaped: "<label> '<value>': <why>". */
static herald_class fail_value(herald_msg *msg, herald_class cls,
                               const char *label, const char *value,
                               const char *why)
{
    char *v = show(value);
    fail(msg, cls, "%s '%s': %s", label, v ? v : "?", why);
    free(v);
    return cls;
}

static herald_class oom(herald_msg *msg, const char *label)
{
    return fail(msg, HERALD_ERR_INTERNAL, "%s: out of memory", label);
}

static herald_class usage(herald_msg *msg, const char *label)
{
    return fail(msg, HERALD_ERR_USAGE, "%s: NULL argument", label);
}

/* ---- mailboxes -------------------------------------------------------- */

/* Parse @mailbox into a new hm_mailbox, or record why it is bad. */
static herald_class new_mailbox(herald_msg *msg, const char *label,
                                const char *mailbox, struct hm_mailbox *mb)
{
    const char *why = "invalid mailbox";
    if (!mailbox)
        return usage(msg, label);
    if (hm_parse_mailbox(mailbox, mb, &why) == 0)
        return HERALD_OK;
    if (strcmp(why, "out of memory") == 0)
        return oom(msg, label);
    char lab[64];
    const char *crlf = strpbrk(mailbox, "\r\n");
    /* A CR or LF before the '<' is in the display name. */
    if (crlf && strchr(crlf, '<'))
        snprintf(lab, sizeof lab, "%s display name", label);
    else
        snprintf(lab, sizeof lab, "%s", label);
    return fail_value(msg, HERALD_ERR_INVALID_MESSAGE, lab, mailbox, why);
}

static herald_class set_mailbox(herald_msg *msg, const char *label,
                                const char *mailbox, struct hm_mailbox **slot)
{
    if (!msg)
        return HERALD_ERR_USAGE;
    struct hm_mailbox mb;
    herald_class rc = new_mailbox(msg, label, mailbox, &mb);
    if (rc != HERALD_OK)
        return rc;
    struct hm_mailbox *p = malloc(sizeof *p);
    if (!p) {
        hm_mailbox_clear(&mb);
        return oom(msg, label);
    }
    *p = mb;
    if (*slot) {
        hm_mailbox_clear(*slot);
        free(*slot);
    }
    *slot = p;
    return HERALD_OK;
}

static herald_class add_rcpt(herald_msg *msg, int kind, const char *label,
                             const char *mailbox)
{
    if (!msg)
        return HERALD_ERR_USAGE;
    struct hm_mailbox mb;
    herald_class rc = new_mailbox(msg, label, mailbox, &mb);
    if (rc != HERALD_OK)
        return rc;
    struct hm_mailbox *v = hx_grow(msg->rcpt[kind], msg->n_rcpt[kind],
                                   sizeof *v);
    if (!v) {
        hm_mailbox_clear(&mb);
        return oom(msg, label);
    }
    msg->rcpt[kind] = v;
    v[msg->n_rcpt[kind]++] = mb;
    return HERALD_OK;
}

/* ---- life cycle ------------------------------------------------------- */

herald_msg *herald_msg_new(void)
{
    return calloc(1, sizeof(herald_msg));
}

static void free_mailbox(struct hm_mailbox *mb)
{
    if (mb) {
        hm_mailbox_clear(mb);
        free(mb);
    }
}

static void free_pairs(struct hm_pair *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].key);
        free(p[i].value);
    }
    free(p);
}

void herald_msg_free(herald_msg *msg)
{
    if (!msg)
        return;
    free_mailbox(msg->from);
    free_mailbox(msg->reply_to);
    for (int k = 0; k < 3; k++) {
        for (size_t i = 0; i < msg->n_rcpt[k]; i++)
            hm_mailbox_clear(&msg->rcpt[k][i]);
        free(msg->rcpt[k]);
    }
    free(msg->subject);
    free(msg->text);
    free(msg->html);
    free(msg->idempotency_key);
    free_pairs(msg->headers, msg->n_headers);
    free_pairs(msg->metadata, msg->n_metadata);
    free(msg->meta_index);
    for (size_t i = 0; i < msg->n_tags; i++)
        free(msg->tags[i]);
    free(msg->tags);
    for (size_t i = 0; i < msg->n_att; i++) {
        free(msg->att[i].filename);
        free(msg->att[i].type);
        free(msg->att[i].data);
    }
    free(msg->att);
    free(msg->bad_what);
    free(msg);
}

/* ---- setters ---------------------------------------------------------- */

herald_class herald_msg_set_from(herald_msg *msg, const char *mailbox)
{
    return set_mailbox(msg, "from", mailbox, msg ? &msg->from : NULL);
}

herald_class herald_msg_set_reply_to(herald_msg *msg, const char *mailbox)
{
    return set_mailbox(msg, "reply-to", mailbox,
                       msg ? &msg->reply_to : NULL);
}

herald_class herald_msg_add_to(herald_msg *msg, const char *mailbox)
{
    return add_rcpt(msg, HM_TO, "to", mailbox);
}

herald_class herald_msg_add_cc(herald_msg *msg, const char *mailbox)
{
    return add_rcpt(msg, HM_CC, "cc", mailbox);
}

herald_class herald_msg_add_bcc(herald_msg *msg, const char *mailbox)
{
    return add_rcpt(msg, HM_BCC, "bcc", mailbox);
}

/* Replace *slot with a copy of @value after checking it. */
static herald_class set_string(herald_msg *msg, const char *label,
                               char **slot, const char *value, int line)
{
    if (!msg)
        return HERALD_ERR_USAGE;
    if (!value)
        return usage(msg, label);
    const char *why = line ? line_problem(value)
                      : !utf8_valid(value)
                          ? "is not valid UTF-8; convert it to UTF-8 first"
                          : NULL;
    if (why)
        return fail(msg, HERALD_ERR_INVALID_MESSAGE, "%s: %s", label, why);
    char *copy = hx_strdup(value);
    if (!copy)
        return oom(msg, label);
    free(*slot);
    *slot = copy;
    return HERALD_OK;
}

herald_class herald_msg_set_subject(herald_msg *msg, const char *subject)
{
    return set_string(msg, "subject", msg ? &msg->subject : NULL, subject, 1);
}

herald_class herald_msg_set_text(herald_msg *msg, const char *text)
{
    return set_string(msg, "text body", msg ? &msg->text : NULL, text, 0);
}

herald_class herald_msg_set_html(herald_msg *msg, const char *html)
{
    return set_string(msg, "html body", msg ? &msg->html : NULL, html, 0);
}

herald_class herald_msg_set_idempotency_key(herald_msg *msg, const char *key)
{
    if (msg && key && (!*key || strlen(key) > MAX_IDEMPOTENCY_KEY))
        return fail(msg, HERALD_ERR_INVALID_MESSAGE,
                    "idempotency key: must be 1 to %d bytes",
                    MAX_IDEMPOTENCY_KEY);
    return set_string(msg, "idempotency key",
                      msg ? &msg->idempotency_key : NULL, key, 1);
}

/* Append a key/value pair (both copied). */
static int push_pair(struct hm_pair **v, size_t *n, const char *key,
                     const char *value)
{
    char *k = hx_strdup(key), *val = hx_strdup(value);
    struct hm_pair *nv = k && val ? hx_grow(*v, *n, sizeof **v) : NULL;
    if (!nv) {
        free(k);
        free(val);
        return -1;
    }
    *v = nv;
    nv[*n].key = k;
    nv[*n].value = val;
    (*n)++;
    return 0;
}

static const struct {
    const char *name;
    const char *fix;
} reserved_headers[] = {
    {"From", "use herald_msg_set_from (or `from` in the channel section)"},
    {"To", "use herald_msg_add_to"},
    {"Cc", "use herald_msg_add_cc"},
    {"Bcc", "use herald_msg_add_bcc"},
    {"Reply-To", "use herald_msg_set_reply_to"},
    {"Subject", "use herald_msg_set_subject"},
    {"Date", "herald sets it when the message is rendered"},
    {"Message-ID", "herald sets it when the message is rendered"},
    {"MIME-Version", "herald sets it when the message is rendered"},
};

/* Why @name cannot be an extra header, or NULL. */
static const char *reserved_fix(const char *name)
{
    for (size_t i = 0; i < sizeof reserved_headers / sizeof *reserved_headers;
         i++)
        if (strcasecmp(name, reserved_headers[i].name) == 0)
            return reserved_headers[i].fix;
    if (strncasecmp(name, "Content-", 8) == 0)
        return "herald writes the Content-* headers from the bodies and "
               "attachments (herald_msg_set_text, herald_msg_set_html, "
               "herald_msg_attach_data)";
    if (strncasecmp(name, "X-Herald-", 9) == 0)
        return "the X-Herald- prefix is herald's own; use herald_msg_add_tag "
               "or herald_msg_set_metadata";
    return NULL;
}

static const char *header_name_problem(const char *name)
{
    if (!*name)
        return "header name is empty";
    if (hx_has_crlf(name))
        return "header name contains CR, LF or NUL; a header name must be "
               "one line";
    if (strlen(name) > MAX_HEADER_NAME)
        return "header name is longer than 76 characters";
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (*p < 33 || *p > 126 || *p == ':')
            return "header name may contain only printable ASCII, without "
                   "spaces or ':'";
    return NULL;
}

herald_class herald_msg_add_header(herald_msg *msg, const char *name,
                                   const char *value)
{
    if (!msg)
        return HERALD_ERR_USAGE;
    if (!name || !value)
        return usage(msg, "header");
    const char *why = header_name_problem(name);
    if (why)
        return fail_value(msg, HERALD_ERR_INVALID_MESSAGE, "header", name,
                          why);
    const char *fix = reserved_fix(name);
    if (fix) {
        char *v = show(name);
        fail(msg, HERALD_ERR_INVALID_MESSAGE,
             "header '%s': herald writes this header itself; %s",
             v ? v : "?", fix);
        free(v);
        return HERALD_ERR_INVALID_MESSAGE;
    }
    if ((why = line_problem(value)) != NULL) {
        char *v = show(name);
        fail(msg, HERALD_ERR_INVALID_MESSAGE, "header '%s': value %s",
             v ? v : "?", why);
        free(v);
        return HERALD_ERR_INVALID_MESSAGE;
    }
    if (push_pair(&msg->headers, &msg->n_headers, name, value) < 0)
        return oom(msg, "header");
    return HERALD_OK;
}

herald_class herald_msg_add_tag(herald_msg *msg, const char *tag)
{
    if (!msg)
        return HERALD_ERR_USAGE;
    if (!tag)
        return usage(msg, "tag");
    const char *why = line_problem(tag);
    size_t n = strlen(tag);
    if (!why && (n == 0 || n > MAX_TAG))
        why = "must be 1 to 128 bytes";
    if (!why && (has_control(tag) || strchr(tag, '\t')))
        why = "contains a control character";
    if (!why && strchr(tag, ','))
        why = "contains a comma; tags are listed comma-separated, so use "
              "one herald_msg_add_tag call per tag";
    if (why)
        return fail_value(msg, HERALD_ERR_INVALID_MESSAGE, "tag", tag, why);
    char *copy = hx_strdup(tag);
    char **v = copy ? hx_grow(msg->tags, msg->n_tags, sizeof *v) : NULL;
    if (!v) {
        free(copy);
        return oom(msg, "tag");
    }
    msg->tags = v;
    v[msg->n_tags++] = copy;
    return HERALD_OK;
}

static int meta_key_ok(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || n > MAX_META_KEY)
        return 0;
    for (; *k; k++)
        if (!((*k >= 'a' && *k <= 'z') || (*k >= 'A' && *k <= 'Z') ||
              (*k >= '0' && *k <= '9') || *k == '_' || *k == '-'))
            return 0;
    return 1;
}

/* FNV-1a of a metadata key. */
static size_t meta_hash(const char *k)
{
    unsigned long long h = 14695981039346656037ull;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return (size_t)(h ^ (h >> 32));
}

/* The index slot holding @key, or the empty slot where it would go. */
static size_t meta_slot(const herald_msg *msg, const char *key)
{
    size_t mask = msg->meta_slots - 1;
    for (size_t i = meta_hash(key) & mask;; i = (i + 1) & mask) {
        size_t e = msg->meta_index[i];
        if (!e || strcmp(msg->metadata[e - 1].key, key) == 0)
            return i;
    }
}

/* Rebuild the key index with @slots slots (a power of two). */
static int meta_reindex(herald_msg *msg, size_t slots)
{
    size_t *idx = slots < ((size_t)-1) / sizeof *idx
        ? calloc(slots, sizeof *idx) : NULL;
    if (!idx)
        return -1;
    free(msg->meta_index);
    msg->meta_index = idx;
    msg->meta_slots = slots;
    for (size_t i = 0; i < msg->n_metadata; i++)
        idx[meta_slot(msg, msg->metadata[i].key)] = i + 1;
    return 0;
}

herald_class herald_msg_set_metadata(herald_msg *msg, const char *key,
                                     const char *value)
{
    if (!msg)
        return HERALD_ERR_USAGE;
    if (!key || !value)
        return usage(msg, "metadata");
    if (!meta_key_ok(key))
        return fail_value(msg, HERALD_ERR_INVALID_MESSAGE, "metadata key",
                          key, "must be 1 to 64 characters from A-Z a-z 0-9 "
                               "_ -");
    const char *why = line_problem(value);
    if (why) {
        fail(msg, HERALD_ERR_INVALID_MESSAGE, "metadata '%s': value %s", key,
             why);
        return HERALD_ERR_INVALID_MESSAGE;
    }
    if (msg->meta_slots <= 2 * (msg->n_metadata + 1) &&
        meta_reindex(msg, msg->meta_slots ? msg->meta_slots * 2 : 16) < 0)
        return oom(msg, "metadata");
    size_t slot = meta_slot(msg, key);
    if (msg->meta_index[slot]) {
        struct hm_pair *p = &msg->metadata[msg->meta_index[slot] - 1];
        char *copy = hx_strdup(value);
        if (!copy)
            return oom(msg, "metadata");
        free(p->value);
        p->value = copy;
        return HERALD_OK;
    }
    if (push_pair(&msg->metadata, &msg->n_metadata, key, value) < 0)
        return oom(msg, "metadata");
    msg->meta_index[slot] = msg->n_metadata;
    return HERALD_OK;
}

/* tspecials of RFC 2045 plus space and controls end a token. */
static size_t token_len(const char *s)
{
    size_t n = 0;
    while (s[n] > 32 && s[n] < 127 && !strchr("()<>@,;:\\\"/[]?=", s[n]))
        n++;
    return n;
}

/* Why @t is not a usable MIME type "type/subtype", or NULL. */
static const char *content_type_problem(const char *t)
{
    static const char not_type[] =
        "is not type/subtype (e.g. application/pdf); leave it NULL to "
        "guess from the file name";
    if (hx_has_crlf(t))
        return one_line;
    size_t a = token_len(t);
    if (a == 0 || t[a] != '/')
        return not_type;
    size_t b = token_len(t + a + 1);
    if (b == 0 || t[a + 1 + b] != '\0')
        return not_type;
    if (a > MAX_TYPE_NAME)
        return "has a type (before the /) longer than 127 characters, the "
               "limit of RFC 6838; use a registered type such as "
               "application/octet-stream";
    if (b > MAX_TYPE_NAME)
        return "has a subtype (after the /) longer than 127 characters, the "
               "limit of RFC 6838; use a registered type such as "
               "application/octet-stream";
    return NULL;
}

static const char *filename_problem(const char *name)
{
    const char *why = line_problem(name);
    if (why)
        return why;
    if (!*name)
        return "is empty; give the attachment a file name";
    if (strlen(name) > MAX_FILENAME)
        return "is longer than 255 bytes";
    if (has_control(name))
        return "contains a control character";
    return NULL;
}

herald_class herald_msg_attach_data(herald_msg *msg, const void *data,
                                    size_t len, const char *filename,
                                    const char *content_type)
{
    if (!msg)
        return HERALD_ERR_USAGE;
    if (!filename || (!data && len))
        return usage(msg, "attachment");
    const char *why = filename_problem(filename);
    if (why)
        return fail_value(msg, HERALD_ERR_INVALID_MESSAGE,
                          "attachment filename", filename, why);
    if (!content_type)
        content_type = hm_guess_type(filename);
    if ((why = content_type_problem(content_type)) != NULL) {
        char *f = show(filename), *t = show(content_type);
        fail(msg, HERALD_ERR_INVALID_MESSAGE,
             "attachment '%s': content type '%s' %s", f ? f : "?",
             t ? t : "?", why);
        free(f);
        free(t);
        return HERALD_ERR_INVALID_MESSAGE;
    }
    struct hm_attachment a = {0};
    a.filename = hx_strdup(filename);
    a.type = hx_strdup(content_type);
    a.data = malloc(len ? len : 1);
    struct hm_attachment *v = a.filename && a.type && a.data
        ? hx_grow(msg->att, msg->n_att, sizeof *v) : NULL;
    if (!v) {
        free(a.filename);
        free(a.type);
        free(a.data);
        return oom(msg, "attachment");
    }
    if (len)
        memcpy(a.data, data, len);
    a.len = len;
    msg->att = v;
    v[msg->n_att++] = a;
    return HERALD_OK;
}

herald_class herald_msg_attach_file(herald_msg *msg, const char *path,
                                    const char *filename,
                                    const char *content_type)
{
    if (!msg)
        return HERALD_ERR_USAGE;
    if (!path)
        return usage(msg, "attachment");
    if (!filename) {
        const char *slash = strrchr(path, '/');
        filename = slash ? slash + 1 : path;
    }
    size_t len = 0;
    char *data = NULL, *why = NULL;
    /* A message has no context, so the limit is the default
     * max_message_size; herald_send checks the context's own limit. */
    if (hb_read_file(path, HM_DEFAULT_MAX_SIZE, "the default "
                     "max_message_size", 0, &data, &len, &why) != 0) {
        int e = errno;
        herald_class cls = e == ENOMEM || !why ? HERALD_ERR_INTERNAL
                                               : HERALD_ERR_INVALID_MESSAGE;
        char *p = why && has_control(why) ? show(why) : NULL;
        /* The first failure wins in bad_what, but the caller always gets
         * this one. */
        fail(msg, cls, "attachment: %s%s", p ? p : why ? why : "out of memory",
             e == ENOENT || e == EACCES ? "; check the path and its "
             "permissions" : e == EFBIG ? "; send a smaller file" : "");
        free(p);
        free(why);
        return cls;
    }
    herald_class rc = herald_msg_attach_data(msg, data, len, filename,
                                             content_type);
    free(data);
    return rc;
}

/* ---- validation ------------------------------------------------------- */

static size_t mailbox_size(const struct hm_mailbox *mb)
{
    return mb ? strlen(mb->full) : 0;
}

static size_t slen(const char *s)
{
    return s ? strlen(s) : 0;
}

/* Everything that ends up in the message before encoding: header values,
 * bodies, attachments. */
static size_t message_size(const herald_msg *msg)
{
    size_t n = slen(msg->subject) + slen(msg->text) + slen(msg->html) +
               mailbox_size(msg->from) + mailbox_size(msg->reply_to);
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < msg->n_rcpt[k]; i++)
            n += mailbox_size(&msg->rcpt[k][i]);
    for (size_t i = 0; i < msg->n_headers; i++)
        n += strlen(msg->headers[i].key) + strlen(msg->headers[i].value);
    for (size_t i = 0; i < msg->n_metadata; i++)
        n += strlen(msg->metadata[i].key) + strlen(msg->metadata[i].value);
    for (size_t i = 0; i < msg->n_tags; i++)
        n += strlen(msg->tags[i]);
    for (size_t i = 0; i < msg->n_att; i++)
        n += msg->att[i].len + strlen(msg->att[i].filename);
    return n;
}

/* Defensive: the setters already refuse CR/LF, but a message may have been
 * put together another way.  Returns the field that has one, or NULL. */
static const char *field_with_crlf(const herald_msg *msg)
{
    if (msg->subject && hx_has_crlf(msg->subject))
        return "subject";
    if (msg->from && hx_has_crlf(msg->from->full))
        return "from";
    if (msg->reply_to && hx_has_crlf(msg->reply_to->full))
        return "reply-to";
    static const char *const rcpt_names[3] = {"to", "cc", "bcc"};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < msg->n_rcpt[k]; i++)
            if (hx_has_crlf(msg->rcpt[k][i].full))
                return rcpt_names[k];
    for (size_t i = 0; i < msg->n_headers; i++)
        if (hx_has_crlf(msg->headers[i].key) ||
            hx_has_crlf(msg->headers[i].value))
            return "header";
    for (size_t i = 0; i < msg->n_metadata; i++)
        if (hx_has_crlf(msg->metadata[i].value))
            return "metadata";
    for (size_t i = 0; i < msg->n_tags; i++)
        if (hx_has_crlf(msg->tags[i]))
            return "tag";
    for (size_t i = 0; i < msg->n_att; i++)
        if (hx_has_crlf(msg->att[i].filename) || hx_has_crlf(msg->att[i].type))
            return "attachment filename";
    if (msg->idempotency_key && hx_has_crlf(msg->idempotency_key))
        return "idempotency key";
    return NULL;
}

/* Checks in order: a recorded setter failure, CR/LF anywhere, recipients,
 * body, sender, then the limits (a NULL @lim or a 0 field means the
 * default). */
herald_class hm_validate(const herald_msg *msg, const struct hm_limits *lim,
                         int need_from, herald_error **err_r)
{
    if (!msg)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "no message given: create one with herald_msg_new");
    if (msg->bad_what)
        return hx_error(err_r, msg->bad_cls, "invalid message: %s",
                        msg->bad_what);
    const char *f = field_with_crlf(msg);
    if (f)
        return hx_error(err_r, HERALD_ERR_INVALID_MESSAGE,
                        "invalid message: %s: %s", f, one_line);
    size_t max_rcpt = lim && lim->max_recipients ? lim->max_recipients
                                                 : HM_DEFAULT_MAX_RECIPIENTS;
    size_t max_size = lim && lim->max_size ? lim->max_size
                                           : HM_DEFAULT_MAX_SIZE;
    size_t n_rcpt = msg->n_rcpt[HM_TO] + msg->n_rcpt[HM_CC] +
                    msg->n_rcpt[HM_BCC];
    if (n_rcpt == 0)
        return hx_error(err_r, HERALD_ERR_INVALID_MESSAGE,
                        "the message has no recipient: add one with "
                        "herald_msg_add_to or --to");
    if (!msg->text && !msg->html)
        return hx_error(err_r, HERALD_ERR_INVALID_MESSAGE,
                        "the message has no body: set one with "
                        "herald_msg_set_text or herald_msg_set_html");
    if (need_from && !msg->from)
        return hx_error(err_r, HERALD_ERR_INVALID_MESSAGE,
                        "the message has no sender: set From on the message "
                        "or `from = ...` in the channel section");
    if (n_rcpt > max_rcpt)
        return hx_error(err_r, HERALD_ERR_INVALID_MESSAGE,
                        "the message has %zu recipients, more than the limit "
                        "of %zu: split it into several messages or raise "
                        "`max_recipients` in the [herald] section",
                        n_rcpt, max_rcpt);
    /* The size on the wire: base64 attachments and quoted-printable
     * bodies grow by a third or more, so the raw size is not enough. */
    size_t raw = message_size(msg), size = 0;
    herald_class rc = hmime_size(msg, 0, &size, err_r);
    if (rc != HERALD_OK)
        return rc;
    if (size > max_size)
        return hx_error(err_r, HERALD_ERR_INVALID_MESSAGE,
                        "the message is %zu bytes as sent (encoded: "
                        "attachments in base64, bodies in quoted-printable "
                        "where needed; %zu bytes before encoding), more than "
                        "the limit of %zu bytes (max_message_size): send "
                        "smaller attachments or raise `max_message_size` in "
                        "the [herald] section", size, raw, max_size);
    return HERALD_OK;
}

herald_class herald_msg_validate(const herald_msg *msg, herald_error **err_r)
{
    return hm_validate(msg, NULL, 0, err_r);
}

/* ---- accessors -------------------------------------------------------- */

const char *hm_get(const herald_msg *msg, herald_field field)
{
    if (!msg)
        return NULL;
    switch (field) {
    case HERALD_FIELD_FROM:
        return msg->from ? msg->from->full : NULL;
    case HERALD_FIELD_FROM_ADDRESS:
        return msg->from ? msg->from->addr : NULL;
    case HERALD_FIELD_FROM_NAME:
        return msg->from ? msg->from->name : NULL;
    case HERALD_FIELD_REPLY_TO:
        return msg->reply_to ? msg->reply_to->full : NULL;
    case HERALD_FIELD_SUBJECT:
        return msg->subject;
    case HERALD_FIELD_TEXT:
        return msg->text;
    case HERALD_FIELD_HTML:
        return msg->html;
    case HERALD_FIELD_IDEMPOTENCY_KEY:
        return msg->idempotency_key;
    }
    return NULL;
}

size_t hm_count(const herald_msg *msg, herald_list list)
{
    if (!msg)
        return 0;
    switch (list) {
    case HERALD_LIST_TO:
        return msg->n_rcpt[HM_TO];
    case HERALD_LIST_CC:
        return msg->n_rcpt[HM_CC];
    case HERALD_LIST_BCC:
        return msg->n_rcpt[HM_BCC];
    case HERALD_LIST_HEADERS:
        return msg->n_headers;
    case HERALD_LIST_METADATA:
        return msg->n_metadata;
    case HERALD_LIST_TAGS:
        return msg->n_tags;
    case HERALD_LIST_ATTACHMENTS:
        return msg->n_att;
    }
    return 0;
}

const char *hm_address(const herald_msg *msg, herald_list list, size_t i,
                       const char **name_r)
{
    if (name_r)
        *name_r = NULL;
    if (!msg || (unsigned)list > HERALD_LIST_BCC)
        return NULL;
    /* HERALD_LIST_TO/CC/BCC have the values of HM_TO/CC/BCC. */
    if (i >= msg->n_rcpt[list])
        return NULL;
    const struct hm_mailbox *mb = &msg->rcpt[list][i];
    if (name_r)
        *name_r = mb->name;
    return mb->addr;
}

int hm_pair(const herald_msg *msg, herald_list list, size_t i,
            const char **key_r, const char **value_r)
{
    const struct hm_pair *p = NULL;
    if (msg && list == HERALD_LIST_HEADERS && i < msg->n_headers)
        p = &msg->headers[i];
    else if (msg && list == HERALD_LIST_METADATA && i < msg->n_metadata)
        p = &msg->metadata[i];
    if (key_r)
        *key_r = p ? p->key : NULL;
    if (value_r)
        *value_r = p ? p->value : NULL;
    return p ? 0 : -1;
}

const char *hm_item(const herald_msg *msg, herald_list list, size_t i)
{
    if (!msg || list != HERALD_LIST_TAGS || i >= msg->n_tags)
        return NULL;
    return msg->tags[i];
}

int hm_attachment(const herald_msg *msg, size_t i, const char **filename_r,
                  const char **type_r, const unsigned char **data_r,
                  size_t *len_r)
{
    const struct hm_attachment *a = msg && i < msg->n_att ? &msg->att[i]
                                                          : NULL;
    if (filename_r)
        *filename_r = a ? a->filename : NULL;
    if (type_r)
        *type_r = a ? a->type : NULL;
    if (data_r)
        *data_r = a ? a->data : NULL;
    if (len_r)
        *len_r = a ? a->len : 0;
    return a ? 0 : -1;
}

static const struct {
    const char *ext, *type;
} known_types[] = {
    {"txt", "text/plain"},       {"log", "text/plain"},
    {"html", "text/html"},       {"htm", "text/html"},
    {"csv", "text/csv"},         {"json", "application/json"},
    {"xml", "application/xml"},  {"pdf", "application/pdf"},
    {"png", "image/png"},        {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},      {"gif", "image/gif"},
    {"svg", "image/svg+xml"},    {"zip", "application/zip"},
    {"gz", "application/gzip"},  {"tar", "application/x-tar"},
    {"ics", "text/calendar"},    {"eml", "message/rfc822"},
};

const char *hm_guess_type(const char *filename)
{
    const char *dot = filename ? strrchr(filename, '.') : NULL;
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof known_types / sizeof *known_types; i++)
            if (strcasecmp(dot + 1, known_types[i].ext) == 0)
                return known_types[i].type;
    return "application/octet-stream";
}
