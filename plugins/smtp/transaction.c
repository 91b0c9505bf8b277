/*
 * plugins/smtp/transaction.c - one mail transaction on an open SMTP session
 * for the smtp driver: RSET (on a reused session), MAIL FROM, RCPT TO for
 * each recipient and DATA, sent in windows with PIPELINING (RFC 2920) when
 * the server offers it, one at a time otherwise; every reply read in
 * order; then the message, dot-stuffed a chunk at a time straight into the
 * output queue, and the server's verdict on it.  What the server accepted
 * is recorded in struct smtp_txn, so the caller can tell "nothing was
 * accepted" (safe to try again) from a loss after the final dot
 * (HERALD_ERR_DELIVERY_UNKNOWN).
 */
#include "smtp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SMTP_WINDOW 50          /* most commands in flight when pipelining */

enum cmd_kind { CMD_RSET, CMD_MAIL, CMD_RCPT, CMD_DATA };

static const char *cmd_name(enum cmd_kind k)
{
    static const char *const names[] = {"RSET", "MAIL FROM", "RCPT TO", "DATA"};
    return names[k];
}

static void queue_cmd(struct smtp *s, struct smtp_conn *c,
                      const struct smtp_txn *t, enum cmd_kind k, size_t rcpt)
{
    size_t start = c->out.len;
    switch (k) {
    case CMD_RSET:
        hbuf_adds(&c->out, "RSET");
        break;
    case CMD_MAIL:
        hbuf_printf(&c->out, "MAIL FROM:<%s>", t->from);
        if (c->ext & SMTP_EXT_SIZE)
            hbuf_printf(&c->out, " SIZE=%zu", t->size);
        if (t->eight_bit && (c->ext & SMTP_EXT_8BITMIME))
            hbuf_adds(&c->out, " BODY=8BITMIME");
        if (t->utf8_addr)
            hbuf_adds(&c->out, " SMTPUTF8");
        break;
    case CMD_RCPT:
        hbuf_printf(&c->out, "RCPT TO:<%s>", t->rcpt[rcpt].addr);
        break;
    case CMD_DATA:
        hbuf_adds(&c->out, "DATA");
        break;
    }
    if (!c->out.oom)
        s->host->log(s->ch, HERALD_LOG_DEBUG, "C: %s", c->out.data + start);
    hbuf_add(&c->out, "\r\n", 2);
}

herald_class smtp_sender_refused(struct smtp *s, const struct smtp_txn *t,
                                 const struct smtp_reply *r)
{
    char *txt = smtp_reply_flat(r);
    const char *text = txt ? txt : "";
    herald_class cls;
    if (r->code == 530)
        cls = smtp_fix(s, smtp_fail(s, HERALD_ERR_AUTH, r,
                                    "%s wants authentication before accepting "
                                    "mail (%d %s)", s->where, r->code, text),
                       "the server wants AUTH first: set username and password");
    else if (r->code >= 500) {
        cls = smtp_fail(s, HERALD_ERR_SENDER_REJECTED, r,
                        "%s rejected the sender %s: %d %s", s->where, t->from,
                        r->code, text);
        if (s->cfg.username)
            smtp_fix(s, cls, "the account %s may not send as %s (a sender that "
                     "does not match the authenticated domain is refused): send "
                     "from an address this account may use (the message's From "
                     "or the channel's `from`), or allow this sender on the "
                     "server", s->cfg.username, t->from);
        else
            smtp_fix(s, cls, "send from an address this server accepts as "
                     "sender (often one of its own domains; the message's From "
                     "or the channel's `from`), or authenticate with username "
                     "and password");
    } else {
        cls = smtp_reply_error(s, r, "the sender");
    }
    free(txt);
    return cls;
}

static herald_class all_rejected(struct smtp *s, struct smtp_txn *t)
{
    t->all_rejected = 1;
    struct hbuf list = {0};
    int temporary = 0;
    for (size_t i = 0; i < t->n_rcpt; i++) {
        temporary |= t->rcpt[i].code >= 400 && t->rcpt[i].code < 500;
        if (i < 5)
            hbuf_printf(&list, "%s%s (%s)", i ? ", " : "", t->rcpt[i].addr,
                        t->rcpt[i].text ? t->rcpt[i].text : "no reply");
    }
    if (t->n_rcpt > 5)
        hbuf_printf(&list, " and %zu more", t->n_rcpt - 5);
    struct smtp_reply first = {.code = t->n_rcpt ? t->rcpt[0].code : 0};
    const char *ft = t->n_rcpt && t->rcpt[0].text ? t->rcpt[0].text : "";
    hbuf_adds(&first.text, strlen(ft) > 4 ? ft + 4 : "");
    herald_class cls = smtp_fix(s, smtp_fail(s, temporary ? HERALD_ERR_TEMPORARY
                                              : HERALD_ERR_RECIPIENT_REJECTED, &first,
                                          "%s rejected every recipient: %s",
                                          s->where, list.data ? list.data : ""),
                                "%s",
                                temporary ? "some were refused for now: try again later"
                                           : "check the addresses");
    hbuf_free(&first.text);
    hbuf_free(&list);
    return cls;
}

static void record_rcpt(struct smtp_txn *t, size_t i, const struct smtp_reply *r)
{
    struct smtp_rcpt *rc = &t->rcpt[i];
    char *txt = smtp_reply_flat(r);
    free(rc->text);
    rc->text = NULL;
    if (asprintf(&rc->text, "%d %s", r->code, txt ? txt : "") < 0)
        rc->text = NULL;
    free(txt);
    rc->code = r->code;
    rc->accepted = r->code >= 200 && r->code < 300;
    if (rc->accepted)
        t->n_accepted++;
}

/* The queue id in a final 250: "queued as ID" (Postfix), "id=ID" (Exim). */
static char *queue_id_of(const char *text)
{
    const char *p = strcasestr(text, "queued as ");
    if (p) {
        p += 10;
    } else {
        for (p = text; (p = strcasestr(p, "id=")) != NULL; p++)
            if (p == text || p[-1] == ' ')
                break;
        if (!p)
            return NULL;
        p += 3;
    }
    size_t n = 0;
    while (p[n] && (isalnum((unsigned char)p[n]) || strchr("-._", p[n])))
        n++;
    return n ? strndup(p, n) : NULL;
}

/* State of the pipelined envelope exchange. */
struct envelope {
    enum cmd_kind *kind;
    size_t *rcpt;
    size_t n;
    int mail_ok;
    int got_354;
};

/* Handle the reply to command @k; returns 1 to stop sending more. */
static int on_reply(struct smtp *s, struct smtp_txn *t, struct envelope *e,
                    size_t k, const struct smtp_reply *r)
{
    switch (e->kind[k]) {
    case CMD_RSET:
        if (r->code == 250)
            return 0;
        smtp_reply_error(s, r, "RSET");
        return 1;
    case CMD_MAIL:
        if (r->code >= 200 && r->code < 300) {
            e->mail_ok = 1;
            return 0;
        }
        smtp_sender_refused(s, t, r);
        return 1;
    case CMD_RCPT:
        record_rcpt(t, e->rcpt[k], r);
        return r->code == 421;
    case CMD_DATA:
        if (r->code == 354)
            e->got_354 = 1;
        else if (e->mail_ok && t->n_accepted)
            smtp_reply_error(s, r, "DATA");
        return 1;
    }
    return 1;
}

/* Send the envelope in windows (one command each without PIPELINING) and
 * read every reply in order.  Returns an I/O failure only; rejections are
 * recorded in s->err and read from @e. */
static herald_class exchange(struct smtp *s, struct smtp_conn *c,
                             struct smtp_txn *t, struct envelope *e,
                             struct smtp_reply *r)
{
    size_t window = (c->ext & SMTP_EXT_PIPELINING) ? SMTP_WINDOW : 1;
    int stop = 0;
    for (size_t i = 0; i < e->n && !stop;) {
        if (window == 1 && e->kind[i] == CMD_DATA && !t->n_accepted)
            break; /* nothing to send the data to */
        size_t j = i;
        while (j < e->n && j - i < window) {
            queue_cmd(s, c, t, e->kind[j], e->rcpt[j]);
            j++;
        }
        if (c->out.oom)
            return smtp_fail(s, HERALD_ERR_INTERNAL, NULL, "out of memory");
        int w = net_flush(c, smtp_now_ms() + s->cfg.command_ms);
        if (w != NET_OK)
            return smtp_io_failed(s, c, w, cmd_name(e->kind[i]), NULL, NULL,
                             s->cfg.command_ms, "command_timeout");
        for (size_t k = i; k < j; k++) {
            herald_class rc = smtp_get_reply(s, c, r, s->cfg.command_ms,
                                        "command_timeout", cmd_name(e->kind[k]));
            if (rc != HERALD_OK)
                return rc;
            stop |= on_reply(s, t, e, k, r);
            if (c->lost) /* 421: the server is going away */
                return s->err.cls != HERALD_OK
                           ? s->err.cls
                           : smtp_reply_error(s, r, cmd_name(e->kind[k]));
        }
        i = j;
    }
    return HERALD_OK;
}

/* The final dot went out and no verdict came back that says what became
 * of the message (@why): it may or may not have been delivered. */
static herald_class delivery_unknown(struct smtp *s, struct smtp_conn *c,
                                     const struct smtp_reply *r, const char *why)
{
    c->broken = 1;
    return smtp_fix(s, smtp_fail(s, HERALD_ERR_DELIVERY_UNKNOWN, r,
                              "the message went out to %s but %s",
                              s->where, why),
                    "it may or may not have been delivered, and it is not sent "
                    "again automatically because that is how duplicates happen: "
                    "check the recipient's mailbox or the server's log before "
                    "resending");
}

/* After the envelope: the body, the final dot and the server's verdict. */
static herald_class send_data(struct smtp *s, struct smtp_conn *c,
                              struct smtp_txn *t, struct smtp_reply *r)
{
    char why[200], secs[32], shown[81];
    long long deadline = smtp_now_ms() + s->cfg.data_ms;
    int w = NET_OK;
    /* dot-stuffed straight into the output queue, a chunk at a time: no
     * second full copy of the message */
    for (size_t at = 0; w == NET_OK;) {
        at = smtp_dot_stuff(t->mime, t->mime_len, at, &c->out, SMTP_DATA_CHUNK,
                            NULL, NULL);
        int last = at >= t->mime_len;
        if (last)
            hbuf_adds(&c->out, ".\r\n"); /* a small message: one write */
        w = c->out.oom ? NET_ERROR : net_flush(c, deadline);
        if (last)
            break;
    }
    if (w != NET_OK)
        return smtp_io_failed(s, c, w, "the message data", NULL, NULL, s->cfg.data_ms,
                         "data_timeout");
    t->after_dot = 1;
    const char *bad = NULL;
    w = smtp_read_reply(c, smtp_now_ms() + s->cfg.data_ms, r, &bad);
    switch (w) {
    case NET_OK:
        break;
    case NET_TIMEOUT:
        snprintf(why, sizeof why, "no reply came within %ss (data_timeout)",
                 smtp_secs(s->cfg.data_ms, secs));
        return delivery_unknown(s, c, NULL, why);
    case NET_CLOSED:
        c->lost = 1;
        return delivery_unknown(s, c, NULL, "the server closed the connection "
                                "before confirming it");
    case NET_BADREPLY:
        smtp_shown_line(bad, shown);
        snprintf(why, sizeof why, "its reply is not an SMTP reply (\"%s\")", shown);
        return delivery_unknown(s, c, NULL, why);
    case NET_TOO_LONG:
        snprintf(why, sizeof why, "its reply has a line longer than %d octets",
                 SMTP_MAX_LINE);
        return delivery_unknown(s, c, NULL, why);
    case NET_MANYLINES:
        snprintf(why, sizeof why, "its reply is too long (%s%zu lines, limit %d)",
                 r->cut ? "over " : "", r->lines, SMTP_MAX_REPLY_LINES);
        return delivery_unknown(s, c, NULL, why);
    default:
        snprintf(why, sizeof why, "its reply could not be read (%s)",
                 net_strerror(c));
        return delivery_unknown(s, c, NULL, why);
    }
    smtp_log_reply(s, r);
    if (r->code >= 200 && r->code < 300) {
        t->queue_id = queue_id_of(r->text.data ? r->text.data : "");
        c->dirty = 0;
        return HERALD_OK;
    }
    if (r->code == 421)
        c->lost = c->broken = 1;
    if (r->code >= 400 && r->code < 600)
        return smtp_reply_error(s, r, "the message");
    /* 1xx, 3xx: neither accepted nor refused */
    snprintf(why, sizeof why, "it answered the final dot with %d, which is "
             "neither acceptance (2xx) nor refusal (4xx, 5xx)", r->code);
    return delivery_unknown(s, c, r, why);
}

herald_class smtp_transaction(struct smtp *s, struct smtp_conn *c,
                              struct smtp_txn *t)
{
    struct envelope e = {0};
    size_t max = t->n_rcpt + 3;
    e.kind = calloc(max, sizeof *e.kind);
    e.rcpt = calloc(max, sizeof *e.rcpt);
    if (!e.kind || !e.rcpt) {
        free(e.kind);
        free(e.rcpt);
        return smtp_fail(s, HERALD_ERR_INTERNAL, NULL, "out of memory");
    }
    if (c->messages > 0 || c->dirty)
        e.kind[e.n++] = CMD_RSET;
    e.kind[e.n++] = CMD_MAIL;
    for (size_t i = 0; i < t->n_rcpt; i++) {
        e.rcpt[e.n] = i;
        e.kind[e.n++] = CMD_RCPT;
    }
    e.kind[e.n++] = CMD_DATA;
    c->dirty = 1;

    struct smtp_reply r = {0};
    herald_class rc = exchange(s, c, t, &e, &r);
    t->accepted_any = e.mail_ok || t->n_accepted > 0 || e.got_354;
    if (rc == HERALD_OK && e.got_354 && !(e.mail_ok && t->n_accepted)) {
        /* a server that said 354 with nothing to deliver: end it empty */
        const char *bad;
        hbuf_adds(&c->out, ".\r\n");
        if (net_flush(c, smtp_now_ms() + s->cfg.command_ms) != NET_OK ||
            smtp_read_reply(c, smtp_now_ms() + s->cfg.command_ms, &r, &bad) != NET_OK)
            c->broken = 1;
    }
    if (rc == HERALD_OK && s->err.cls != HERALD_OK)
        rc = s->err.cls;
    else if (rc == HERALD_OK && !t->n_accepted)
        rc = all_rejected(s, t);
    else if (rc == HERALD_OK && e.got_354)
        rc = send_data(s, c, t, &r);
    else if (rc == HERALD_OK)
        rc = smtp_fix(s, smtp_fail(s, HERALD_ERR_PROTOCOL, NULL,
                                "%s never answered DATA with 354",
                                s->where),
                      "check host and port");
    hbuf_free(&r.text);
    free(e.kind);
    free(e.rcpt);
    return rc;
}
