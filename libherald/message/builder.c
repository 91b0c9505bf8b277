/* libherald/message/builder.c - herald_msg life cycle and the setters:
 * each checks its value once, copies it, or records the first failure
 * (what and fix) for hm_validate to report. */
#include "../internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HEADER_NAME 76
#define MAX_TAG 128
#define MAX_META_KEY 64
#define MAX_IDEMPOTENCY_KEY 256

static const char mailbox_fix[] =
    "write it as user@example.com or Name <user@example.com>";

/* ---- mailboxes -------------------------------------------------------- */

/* Parse @mailbox into a new hm_mailbox, or record why it is bad. */
static herald_class new_mailbox(herald_msg *msg, const char *label,
                                const char *mailbox, struct hm_mailbox *mb)
{
    const char *why = "invalid mailbox", *fix = NULL;
    if (!mailbox)
        return hm_usage(msg, label);
    if (hm_parse_mailbox_fix(mailbox, mb, &why, &fix) == 0)
        return HERALD_OK;
    if (strcmp(why, "out of memory") == 0)
        return hm_oom(msg, label);
    char lab[64];
    const char *crlf = strpbrk(mailbox, "\r\n");
    /* A CR or LF before the '<' is in the display name. */
    if (crlf && strchr(crlf, '<'))
        snprintf(lab, sizeof lab, "%s display name", label);
    else
        snprintf(lab, sizeof lab, "%s", label);
    return hm_fail_value(msg, HERALD_ERR_INVALID_MESSAGE, lab, mailbox, why,
                         fix ? fix : mailbox_fix);
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
        return hm_oom(msg, label);
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
        return hm_oom(msg, label);
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
    free(msg->bad_fix);
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
        return hm_usage(msg, label);
    const char *fix = NULL, *why = line ? hm_line_problem(value, &fix)
                                        : NULL;
    if (!line && !hb_utf8_valid(value, strlen(value))) {
        why = hm_not_utf8;
        fix = hm_fix_utf8;
    }
    if (why)
        return hm_fail(msg, HERALD_ERR_INVALID_MESSAGE, fix, "%s: %s", label,
                       why);
    char *copy = hx_strdup(value);
    if (!copy)
        return hm_oom(msg, label);
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
        return hm_fail(msg, HERALD_ERR_INVALID_MESSAGE, NULL,
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
    /* Only the headers herald writes are its own: X-Herald-Build is the
     * caller's business. */
    if (strcasecmp(name, "X-Herald-Tags") == 0)
        return "use herald_msg_add_tag";
    if (strncasecmp(name, "X-Herald-Meta-", 14) == 0)
        return "use herald_msg_set_metadata";
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
        return hm_usage(msg, "header");
    const char *why = header_name_problem(name);
    if (why)
        return hm_fail_value(msg, HERALD_ERR_INVALID_MESSAGE, "header", name,
                             why, NULL);
    const char *fix = reserved_fix(name);
    if (fix)
        return hm_fail_value(msg, HERALD_ERR_INVALID_MESSAGE, "header", name,
                             "herald writes this header itself", fix);
    if ((why = hm_line_problem(value, &fix)) != NULL) {
        char *v = hm_show(name);
        hm_fail(msg, HERALD_ERR_INVALID_MESSAGE, fix, "header '%s': value %s",
                v ? v : "?", why);
        free(v);
        return HERALD_ERR_INVALID_MESSAGE;
    }
    if (push_pair(&msg->headers, &msg->n_headers, name, value) < 0)
        return hm_oom(msg, "header");
    return HERALD_OK;
}

herald_class herald_msg_add_tag(herald_msg *msg, const char *tag)
{
    if (!msg)
        return HERALD_ERR_USAGE;
    if (!tag)
        return hm_usage(msg, "tag");
    const char *fix = NULL, *why = hm_line_problem(tag, &fix);
    size_t n = strlen(tag);
    if (!why && (n == 0 || n > MAX_TAG))
        why = "must be 1 to 128 bytes";
    if (!why && (hm_has_control(tag) || strchr(tag, '\t')))
        why = "contains a control character";
    if (!why && strchr(tag, ',')) {
        why = "contains a comma (tags are listed comma-separated)";
        fix = "use one herald_msg_add_tag call per tag";
    }
    if (why)
        return hm_fail_value(msg, HERALD_ERR_INVALID_MESSAGE, "tag", tag, why,
                             fix);
    char *copy = hx_strdup(tag);
    char **v = copy ? hx_grow(msg->tags, msg->n_tags, sizeof *v) : NULL;
    if (!v) {
        free(copy);
        return hm_oom(msg, "tag");
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
        return hm_usage(msg, "metadata");
    if (!meta_key_ok(key))
        return hm_fail_value(msg, HERALD_ERR_INVALID_MESSAGE, "metadata key",
                             key, "must be 1 to 64 characters from A-Z a-z "
                                  "0-9 _ -", NULL);
    const char *fix = NULL, *why = hm_line_problem(value, &fix);
    if (why)
        return hm_fail(msg, HERALD_ERR_INVALID_MESSAGE, fix,
                       "metadata '%s': value %s", key, why);
    if (msg->meta_slots <= 2 * (msg->n_metadata + 1) &&
        meta_reindex(msg, msg->meta_slots ? msg->meta_slots * 2 : 16) < 0)
        return hm_oom(msg, "metadata");
    size_t slot = meta_slot(msg, key);
    if (msg->meta_index[slot]) {
        struct hm_pair *p = &msg->metadata[msg->meta_index[slot] - 1];
        char *copy = hx_strdup(value);
        if (!copy)
            return hm_oom(msg, "metadata");
        free(p->value);
        p->value = copy;
        return HERALD_OK;
    }
    if (push_pair(&msg->metadata, &msg->n_metadata, key, value) < 0)
        return hm_oom(msg, "metadata");
    msg->meta_index[slot] = msg->n_metadata;
    return HERALD_OK;
}
