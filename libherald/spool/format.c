/*
 * libherald/spool/format.c - the on-disk record of one queued message.
 *
 * A record is self-describing text with raw bytes where needed:
 *
 *     herald-spool 1\n                 format name and version
 *     KEY SP LENGTH LF BYTES LF        repeated: one field per record
 *     ...
 *     end 0 LF LF                      last: a record without it is cut short
 *
 * KEY is [a-z-]+, LENGTH the decimal count of BYTES, which are copied as
 * they are (so a text body, an attachment with NUL bytes or a header value
 * needs no escaping) and followed by one LF.  A reader never trusts a
 * LENGTH beyond the bytes it has read (the file is read whole, bounded),
 * refuses a key it does not know, a missing required record and anything
 * after `end`.  A version above
 * HS_FORMAT_VERSION is refused with an error saying to upgrade herald:
 * never guessed at.  Required: id, channel, created, key and end.
 *
 * Keys, in the order written (1 = at most once, n = any number):
 *   id 1, channel 1            the queue id and the channel
 *   created 1, age-from 1      Unix times: queued, and where spool_max_age
 *                              counts from
 *   next 1, attempts 1         next attempt time (0: dead letter), count
 *   key 1, key-generated 1     the stable idempotency key ("1": made by
 *                              herald, sent only where the driver can)
 *   reason 1                   dead letters: why it was given up
 *   attempt n                  time of a failed attempt, then its
 *   attempt-class 1, attempt-code 1, attempt-error 1   (per attempt)
 *   from, reply-to 1           mailboxes as written ("Name <a@b>")
 *   to, cc, bcc n              recipients
 *   subject, text, html 1
 *   header n                   "Name:value"
 *   tag n
 *   meta n                     "key=value"
 *   attach-name, attach-type, attach-data n   one attachment per
 *                              attach-data, named by the records before it
 *   end 1
 *
 * The message is rebuilt through the herald_msg setters, so a record
 * holding a value the builder refuses is corrupt, and validation stays in
 * one place.
 */
#include "spool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>

static const char magic[] = "herald-spool ";

/* ---------------------------------------------------------------- ids */

int hs_new_id(char id[HS_ID_MAX])
{
    unsigned char rnd[6];
    size_t got = 0;
    while (got < sizeof rnd) {
        ssize_t n = getrandom(rnd + got, sizeof rnd - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    struct timeval tv;
    gettimeofday(&tv, NULL);
    snprintf(id, HS_ID_MAX, "%08llx%05lx-%02x%02x%02x%02x%02x%02x",
             (unsigned long long)tv.tv_sec & 0xffffffffull,
             (unsigned long)tv.tv_usec & 0xfffffUL, rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5]);
    return 0;
}

int hs_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n >= HS_ID_MAX || id[0] == '-')
        return 0;
    return strspn(id, "0123456789abcdef-") == n;
}

/* ---------------------------------------------------------------- items */

void hs_item_free(hs_item *it)
{
    if (!it)
        return;
    for (size_t i = 0; i < it->n_att; i++) {
        free(it->att[i].code);
        free(it->att[i].message);
    }
    free(it->att);
    free(it->id);
    free(it->channel);
    free(it->reason);
    free(it->key);
    herald_msg_free(it->msg);
    free(it);
}

static int push_attempt(hs_item *it, long long when, herald_class cls,
                        char *code, char *message)
{
    if (it->n_att == HS_MAX_ATTEMPTS_KEPT) {
        free(it->att[0].code);
        free(it->att[0].message);
        memmove(it->att, it->att + 1, (it->n_att - 1) * sizeof *it->att);
        it->n_att--;
    }
    struct hs_attempt *a = hx_grow(it->att, it->n_att, sizeof *a);
    if (!a) {
        free(code);
        free(message);
        return -1;
    }
    it->att = a;
    a[it->n_att++] = (struct hs_attempt){when, cls, code, message};
    return 0;
}

int hs_item_add_attempt(hs_item *it, long long when, const herald_error *err)
{
    char *code = err && err->code ? hx_strdup(err->code) : NULL;
    char *message = hx_strdup(err ? herald_error_message(err) : "");
    if (!message) {
        free(code);
        return -1;
    }
    return push_attempt(it, when, err ? err->cls : HERALD_ERR_INTERNAL, code,
                        message);
}

/* ---------------------------------------------------------------- writing */

static void rec(struct hbuf *b, const char *key, const void *p, size_t n)
{
    hbuf_printf(b, "%s %zu\n", key, n);
    hbuf_add(b, p, n);
    hbuf_addc(b, '\n');
}

static void rec_s(struct hbuf *b, const char *key, const char *s)
{
    if (s)
        rec(b, key, s, strlen(s));
}

static void rec_n(struct hbuf *b, const char *key, long long v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%lld", v);
    rec(b, key, t, (size_t)n);
}

static void rec_pair(struct hbuf *b, const char *key, const struct hm_pair *p,
                     char sep)
{
    struct hbuf v = {0};
    hbuf_printf(&v, "%s%c%s", p->key, sep, p->value);
    if (v.oom)
        b->oom = 1;
    else
        rec(b, key, v.data, v.len);
    hbuf_free(&v);
}

void hs_encode(const hs_item *it, struct hbuf *b)
{
    const herald_msg *m = it->msg;
    hbuf_printf(b, "%s%d\n", magic, HS_FORMAT_VERSION);
    rec_s(b, "id", it->id);
    rec_s(b, "channel", it->channel);
    rec_n(b, "created", it->created);
    rec_n(b, "age-from", it->age_from);
    rec_n(b, "next", it->next);
    rec_n(b, "attempts", it->attempts);
    rec_s(b, "key", it->key);
    if (it->key_generated)
        rec_s(b, "key-generated", "1");
    rec_s(b, "reason", it->reason);
    for (size_t i = 0; i < it->n_att; i++) {
        rec_n(b, "attempt", it->att[i].when);
        rec_n(b, "attempt-class", it->att[i].cls);
        rec_s(b, "attempt-code", it->att[i].code);
        rec_s(b, "attempt-error", it->att[i].message);
    }
    if (m->from)
        rec_s(b, "from", m->from->full);
    if (m->reply_to)
        rec_s(b, "reply-to", m->reply_to->full);
    static const char *const kinds[3] = {"to", "cc", "bcc"};
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < m->n_rcpt[k]; i++)
            rec_s(b, kinds[k], m->rcpt[k][i].full);
    rec_s(b, "subject", m->subject);
    rec_s(b, "text", m->text);
    rec_s(b, "html", m->html);
    for (size_t i = 0; i < m->n_headers; i++)
        rec_pair(b, "header", &m->headers[i], ':');
    for (size_t i = 0; i < m->n_tags; i++)
        rec_s(b, "tag", m->tags[i]);
    for (size_t i = 0; i < m->n_metadata; i++)
        rec_pair(b, "meta", &m->metadata[i], '=');
    for (size_t i = 0; i < m->n_att; i++) {
        rec_s(b, "attach-name", m->att[i].filename);
        rec_s(b, "attach-type", m->att[i].type);
        rec(b, "attach-data", m->att[i].data, m->att[i].len);
    }
    rec(b, "end", "", 0);
}

/* ---------------------------------------------------------------- reading */

struct reader {
    const char *p, *end;
    const char *file;
    herald_error **err_r;
    /* the attachment being described */
    char *att_name, *att_type;
    int seen_end;
};

static const char corrupt_fix[] =
    "move the file out of the spool to keep it (it cannot be delivered) or "
    "remove it with `herald queue drop ID`";

static herald_class corrupt(struct reader *r, const char *fmt, ...)
    HERALD_PRINTF(2, 3);
static herald_class corrupt(struct reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *why = hx_vprintf(fmt, ap);
    va_end(ap);
    hx_error(r->err_r, HERALD_ERR_INTERNAL, "%s: not a valid spool record: %s",
             r->file, why ? why : "out of memory");
    free(why);
    return hx_fix(r->err_r, HERALD_ERR_INTERNAL, "%s", corrupt_fix);
}

/* Strict decimal, optionally negative; -1 when not a number. */
static int parse_ll(const char *s, size_t n, long long *out)
{
    long long v = 0;
    size_t i = 0;
    int neg = n > 0 && s[0] == '-';
    i = (size_t)neg;
    if (i == n || n - i > 18)
        return -1;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = neg ? -v : v;
    return 0;
}

/* The next record: 1 with key/value, 0 at the end of the data, -1 on a
 * malformed record (error set). */
static int next_record(struct reader *r, char key[32], const char **val,
                       size_t *len)
{
    if (r->p == r->end)
        return 0;
    size_t avail = (size_t)(r->end - r->p);
    const char *nl = memchr(r->p, '\n', avail < 64 ? avail : 64);
    if (!nl) {
        corrupt(r, "a record line is cut short or too long at byte %zu",
                (size_t)(r->p - (r->end - avail)));
        return -1;
    }
    const char *sp = memchr(r->p, ' ', (size_t)(nl - r->p));
    size_t klen = sp ? (size_t)(sp - r->p) : 0;
    long long n = -1;
    if (!sp || klen == 0 || klen >= 32 || strspn(r->p, "abcdefghijklmnopqrstuvwxyz-") < klen
        || parse_ll(sp + 1, (size_t)(nl - sp - 1), &n) != 0 || n < 0) {
        corrupt(r, "malformed record line '%.*s'", (int)(nl - r->p), r->p);
        return -1;
    }
    memcpy(key, r->p, klen);
    key[klen] = 0;
    const char *v = nl + 1;
    if ((unsigned long long)n >= (unsigned long long)(r->end - v)) {
        corrupt(r, "the %s record says %lld bytes but the file ends first "
                "(cut short)", key, n);
        return -1;
    }
    if (v[n] != '\n') {
        corrupt(r, "the %s record is not followed by a line end", key);
        return -1;
    }
    *val = v;
    *len = (size_t)n;
    r->p = v + n + 1;
    return 1;
}

static herald_class take_str(struct reader *r, const char *key, const char *v,
                             size_t n, char **out)
{
    if (*out)
        return corrupt(r, "the %s record appears twice", key);
    if (memchr(v, 0, n))
        return corrupt(r, "the %s record holds a NUL byte", key);
    if (!(*out = hx_strndup(v, n)))
        return hx_error(r->err_r, HERALD_ERR_INTERNAL, "out of memory");
    return HERALD_OK;
}

static herald_class take_num(struct reader *r, const char *key, const char *v,
                             size_t n, long long *out)
{
    if (parse_ll(v, n, out) != 0 || *out < 0)
        return corrupt(r, "the %s record is not a number", key);
    return HERALD_OK;
}

/* Hand a NUL-terminated copy of the value to a herald_msg setter. */
typedef herald_class (*setter_fn)(herald_msg *, const char *);

static herald_class call_setter(struct reader *r, herald_msg *m, const char *key,
                                const char *v, size_t n, setter_fn fn)
{
    char *s = NULL;
    herald_class rc = take_str(r, key, v, n, &s);
    if (rc == HERALD_OK && fn(m, s) != HERALD_OK && m->bad_cls == HERALD_OK)
        rc = hx_error(r->err_r, HERALD_ERR_INTERNAL, "out of memory");
    free(s);
    return rc;
}

static herald_class take_pair(struct reader *r, herald_msg *m, const char *key,
                              const char *v, size_t n, char sep)
{
    char *s = NULL;
    herald_class rc = take_str(r, key, v, n, &s);
    if (rc != HERALD_OK)
        return rc;
    char *at = strchr(s, sep);
    if (!at) {
        free(s);
        return corrupt(r, "the %s record has no '%c'", key, sep);
    }
    *at = 0;
    if (sep == ':')
        herald_msg_add_header(m, s, at + 1);
    else
        herald_msg_set_metadata(m, s, at + 1);
    free(s);
    return HERALD_OK;
}

static herald_class take_attempt_field(struct reader *r, hs_item *it,
                                       const char *key, const char *v, size_t n)
{
    if (it->n_att == 0)
        return corrupt(r, "an %s record comes before its attempt record", key);
    struct hs_attempt *a = &it->att[it->n_att - 1];
    long long num = 0;
    if (strcmp(key, "attempt-class") == 0) {
        herald_class rc = take_num(r, key, v, n, &num);
        if (rc == HERALD_OK && num > HERALD_QUEUED)
            rc = corrupt(r, "attempt-class %lld is not a herald class", num);
        a->cls = (herald_class)num;
        return rc;
    }
    return take_str(r, key, v, n, strcmp(key, "attempt-code") == 0 ? &a->code
                    : &a->message);
}

static herald_class take_attachment(struct reader *r, herald_msg *m,
                                    const char *v, size_t n)
{
    if (!r->att_name)
        return corrupt(r, "an attach-data record without attach-name");
    herald_msg_attach_data(m, v, n, r->att_name, r->att_type);
    free(r->att_name);
    free(r->att_type);
    r->att_name = r->att_type = NULL;
    return HERALD_OK;
}

static herald_class take_record(struct reader *r, hs_item *it, const char *key,
                                const char *v, size_t n)
{
    herald_msg *m = it->msg;
    long long num = 0;
    herald_class rc;
    if (r->seen_end)
        return corrupt(r, "a %s record after the end record", key);
    if (strcmp(key, "end") == 0) {
        r->seen_end = 1;
        return HERALD_OK;
    }
    if (strcmp(key, "id") == 0) {
        if ((rc = take_str(r, key, v, n, &it->id)) == HERALD_OK && !hs_id_valid(it->id))
            rc = corrupt(r, "the id record is not a queue id");
        return rc;
    }
    if (strcmp(key, "channel") == 0)
        return take_str(r, key, v, n, &it->channel);
    if (strcmp(key, "key") == 0)
        return take_str(r, key, v, n, &it->key);
    if (strcmp(key, "reason") == 0)
        return take_str(r, key, v, n, &it->reason);
    if (strcmp(key, "key-generated") == 0) {
        it->key_generated = 1;
        return HERALD_OK;
    }
    if (strcmp(key, "created") == 0)
        return take_num(r, key, v, n, &it->created);
    if (strcmp(key, "age-from") == 0)
        return take_num(r, key, v, n, &it->age_from);
    if (strcmp(key, "next") == 0)
        return take_num(r, key, v, n, &it->next);
    if (strcmp(key, "attempts") == 0) {
        if ((rc = take_num(r, key, v, n, &num)) == HERALD_OK && num > 1000000000)
            rc = corrupt(r, "attempts %lld is out of range", num);
        it->attempts = (unsigned)num;
        return rc;
    }
    if (strcmp(key, "attempt") == 0) {
        if ((rc = take_num(r, key, v, n, &num)) != HERALD_OK)
            return rc;
        if (push_attempt(it, num, HERALD_ERR_INTERNAL, NULL, NULL) != 0)
            return hx_error(r->err_r, HERALD_ERR_INTERNAL, "out of memory");
        return HERALD_OK;
    }
    if (strncmp(key, "attempt-", 8) == 0 && (strcmp(key + 8, "class") == 0 ||
        strcmp(key + 8, "code") == 0 || strcmp(key + 8, "error") == 0))
        return take_attempt_field(r, it, key, v, n);
    static const struct { const char *key; setter_fn fn; } setters[] = {
        {"from", herald_msg_set_from}, {"reply-to", herald_msg_set_reply_to},
        {"to", herald_msg_add_to}, {"cc", herald_msg_add_cc},
        {"bcc", herald_msg_add_bcc}, {"subject", herald_msg_set_subject},
        {"text", herald_msg_set_text}, {"html", herald_msg_set_html},
        {"tag", herald_msg_add_tag},
    };
    for (size_t i = 0; i < sizeof setters / sizeof setters[0]; i++)
        if (strcmp(key, setters[i].key) == 0)
            return call_setter(r, m, key, v, n, setters[i].fn);
    if (strcmp(key, "header") == 0)
        return take_pair(r, m, key, v, n, ':');
    if (strcmp(key, "meta") == 0)
        return take_pair(r, m, key, v, n, '=');
    if (strcmp(key, "attach-name") == 0)
        return take_str(r, key, v, n, &r->att_name);
    if (strcmp(key, "attach-type") == 0)
        return take_str(r, key, v, n, &r->att_type);
    if (strcmp(key, "attach-data") == 0)
        return take_attachment(r, m, v, n);
    return corrupt(r, "unknown record '%s'", key);
}

/* The first line: "herald-spool N". */
static herald_class check_version(struct reader *r)
{
    size_t avail = (size_t)(r->end - r->p);
    const char *nl = memchr(r->p, '\n', avail < 32 ? avail : 32);
    if (avail < sizeof magic - 1 || memcmp(r->p, magic, sizeof magic - 1) != 0)
        return corrupt(r, "it does not start with \"herald-spool\"");
    long long v = 0;
    const char *num = r->p + sizeof magic - 1;
    if (!nl || parse_ll(num, (size_t)(nl - num), &v) != 0 || v < 1)
        return corrupt(r, "its first line is not \"herald-spool VERSION\"");
    if (v > HS_FORMAT_VERSION)
        return hx_fix(r->err_r, hx_error(r->err_r, HERALD_ERR_INTERNAL,
                                         "%s: spool format version %lld is "
                                         "newer than this herald reads (%d)",
                                         r->file, v, HS_FORMAT_VERSION),
                      "deliver it with the newer herald that wrote it, or "
                      "upgrade herald; the file is left as it is");
    r->p = nl + 1;
    return HERALD_OK;
}

herald_class hs_decode(const char *data, size_t len, const char *file,
                       hs_item **it_r, herald_error **err_r)
{
    *it_r = NULL;
    struct reader r = {data, data + len, file, err_r, NULL, NULL, 0};
    hs_item *it = calloc(1, sizeof *it);
    if (!it || !(it->msg = herald_msg_new())) {
        free(it);
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    }
    herald_class rc = check_version(&r);
    char key[32];
    const char *v = NULL;
    size_t n = 0;
    int got;
    while (rc == HERALD_OK && (got = next_record(&r, key, &v, &n)) != 0)
        rc = got < 0 ? HERALD_ERR_INTERNAL : take_record(&r, it, key, v, n);
    if (rc == HERALD_OK && !r.seen_end)
        rc = corrupt(&r, "it has no end record (cut short)");
    if (rc == HERALD_OK && (!it->id || !it->channel || !it->key || !it->created))
        rc = corrupt(&r, "the %s record is missing",
                     !it->id ? "id" : !it->channel ? "channel" : !it->key ? "key"
                     : "created");
    if (rc == HERALD_OK && r.att_name)
        rc = corrupt(&r, "an attach-name record without attach-data");
    for (size_t i = 0; rc == HERALD_OK && i < it->n_att; i++)
        if (!it->att[i].message)
            rc = corrupt(&r, "attempt %zu has no attempt-error record", i + 1);
    if (rc == HERALD_OK && it->msg->bad_cls != HERALD_OK)
        rc = corrupt(&r, "it holds a value herald refuses: %s",
                     it->msg->bad_what ? it->msg->bad_what : "?");
    if (rc == HERALD_OK &&
        herald_msg_set_idempotency_key(it->msg, it->key) != HERALD_OK)
        rc = corrupt(&r, "its key record is not a valid idempotency key");
    free(r.att_name);
    free(r.att_type);
    if (rc != HERALD_OK) {
        hs_item_free(it);
        return rc;
    }
    it->msg->idem_generated = it->key_generated;
    if (!it->age_from)
        it->age_from = it->created;
    *it_r = it;
    return HERALD_OK;
}
