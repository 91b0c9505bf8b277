/*
 * plugins/smtp/message.c - from a herald message to an SMTP transaction
 * (struct smtp_txn) for the smtp driver: the envelope (MAIL FROM from the
 * message's From, RCPT TO for every To, Cc and Bcc; CR, LF, other control
 * characters and angle brackets refused), the rendered MIME message and
 * the Message-ID the core's renderer wrote, its size and whether it needs
 * 8BITMIME or SMTPUTF8, and what a server must offer to take it.  Sending
 * it is transaction.c's.
 */
#include "smtp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *smtp_bad_address(const char *a)
{
    if (!a || !*a)
        return "is empty";
    for (const char *p = a; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return "contains CR, LF or another control character";
        if (*p == '<' || *p == '>')
            return "contains < or >";
    }
    return NULL;
}

static int non_ascii(const char *a)
{
    for (; *a; a++)
        if ((unsigned char)*a >= 0x80)
            return 1;
    return 0;
}

/* @in for a message: control characters as \r, \n or \xNN, cut short. */
static void printable(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; in && *in && o + 8 < size; in++) {
        unsigned char u = (unsigned char)*in;
        if (u == '\r' || u == '\n')
            o += (size_t)snprintf(out + o, size - o, "\\%c", u == '\r' ? 'r' : 'n');
        else if (u < 0x20 || u == 0x7f)
            o += (size_t)snprintf(out + o, size - o, "\\x%02X", u);
        else
            out[o++] = (char)u;
    }
    out[o] = '\0';
}

static herald_class add_address(struct smtp *s, struct smtp_txn *t,
                                const char *addr, const char *role)
{
    const char *why = smtp_bad_address(addr);
    char shown[300];
    printable(addr ? addr : "(none)", shown, sizeof shown);
    if (why)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_INVALID_MESSAGE, NULL,
                                  "the %s address %s %s",
                                  role, shown, why),
                        "nothing was sent: fix the address");
    if (!t->utf8_addr && non_ascii(addr))
        t->utf8_addr = addr;
    if (strcmp(role, "sender") != 0)
        t->rcpt[t->n_rcpt++].addr = addr;
    return HERALD_OK;
}

static herald_class envelope_of(struct smtp *s, const herald_msg *msg,
                                struct smtp_txn *t)
{
    const herald_host *h = s->host;
    static const herald_list lists[] = {HERALD_LIST_TO, HERALD_LIST_CC, HERALD_LIST_BCC};
    static const char *const roles[] = {"To", "Cc", "Bcc"};
    size_t n = 0;
    for (size_t l = 0; l < 3; l++)
        n += h->msg_count(msg, lists[l]);
    if (n == 0)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_INVALID_MESSAGE, NULL,
                                  "the message has no recipient"),
                        "add a To, Cc or Bcc address");
    if (!(t->rcpt = calloc(n, sizeof *t->rcpt)))
        return smtp_fail(s, HERALD_ERR_INTERNAL, NULL, "out of memory");
    t->from = h->msg_get(msg, HERALD_FIELD_FROM_ADDRESS);
    if (!t->from)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_INVALID_MESSAGE, NULL,
                                  "the message has no sender"),
                        "set its From or the channel's `from`");
    herald_class rc = add_address(s, t, t->from, "sender");
    for (size_t l = 0; l < 3 && rc == HERALD_OK; l++)
        for (size_t i = 0; i < h->msg_count(msg, lists[l]) && rc == HERALD_OK; i++)
            rc = add_address(s, t, h->msg_address(msg, lists[l], i, NULL), roles[l]);
    return rc;
}

/* Envelope, rendered message and the Message-ID the renderer wrote.  A
 * render failure comes with the core's own error in *err_r. */
herald_class smtp_txn_build(struct smtp *s, const herald_msg *msg,
                            struct smtp_txn *t, herald_error **err_r)
{
    herald_class rc = envelope_of(s, msg, t);
    if (rc != HERALD_OK)
        return rc;
    if (s->host->abi_minor < 1 || !s->host->render_mime_id)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_INTERNAL, NULL,
                                     "this smtp driver needs herald's driver "
                                     "ABI 1.1 (render_mime_id)"),
                        "install the smtp driver that came with this libherald");
    char *id = NULL;
    t->mime_free = s->host->free;
    rc = s->host->render_mime_id(msg, 0, &t->mime, &t->mime_len, &id, err_r);
    if (rc != HERALD_OK)
        return rc;
    /* the result's id is the header's value, with its angle brackets */
    if (id && asprintf(&t->message_id, "<%s>", id) < 0)
        t->message_id = NULL;
    s->host->free(id);
    t->size = t->mime_len;
    /* one pass to learn the longest line and whether it is 8-bit, without
     * storing anything: the bytes are dot-stuffed when DATA goes out */
    struct hbuf measure = {0};
    size_t longest = 0;
    measure.count = 1;
    smtp_dot_stuff(t->mime, t->mime_len, 0, &measure, (size_t)-1, &longest,
                   &t->eight_bit);
    if (longest > 998)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_INTERNAL, NULL,
                                  "the rendered message has a line of %zu octets and SMTP "
                                  "allows 998",
                                  longest),
                        "this is a bug in herald's MIME renderer: please report it");
    return HERALD_OK;
}

void smtp_txn_reset(struct smtp_txn *t)
{
    for (size_t i = 0; i < t->n_rcpt; i++) {
        free(t->rcpt[i].text);
        t->rcpt[i].text = NULL;
        t->rcpt[i].accepted = t->rcpt[i].code = 0;
    }
    free(t->queue_id);
    t->queue_id = NULL;
    t->after_dot = t->all_rejected = t->accepted_any = 0;
    t->n_accepted = 0;
}

void smtp_txn_free(struct smtp_txn *t)
{
    smtp_txn_reset(t);
    free(t->rcpt);
    if (t->mime_free)
        t->mime_free(t->mime);
    free(t->message_id);
}

/* What the server must offer for this message. */
herald_class smtp_txn_fits(struct smtp *s, const struct smtp_conn *c,
                           const struct smtp_txn *t)
{
    if (t->utf8_addr && !(c->ext & SMTP_EXT_SMTPUTF8))
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_PERMANENT, NULL,
                                  "the address %s is not ASCII and %s does not offer SMTPUTF8 "
                                  "(RFC 6531), so it cannot carry it",
                                  t->utf8_addr, s->where),
                        "use an ASCII address or a server that supports SMTPUTF8");
    if ((c->ext & SMTP_EXT_SIZE) && c->size_max && t->size > c->size_max)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_PERMANENT, NULL,
                                  "the message is %zu bytes and %s accepts at most %lu (SIZE)",
                                  t->size, s->where, c->size_max),
                        "make it smaller: shrink or drop attachments, or link to "
                        "large files");
    return HERALD_OK;
}
