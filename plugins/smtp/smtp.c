/*
 * plugins/smtp/smtp.c - the smtp driver: delivers email to an SMTP
 * submission server over TLS (implicit or STARTTLS) with AUTH, keeping one
 * connection per channel across sends.
 *
 * This file holds the descriptor and what the core calls: init and
 * teardown, send (the kept connection's reuse and its one transport
 * reconnect) and render (the exact dialogue, secrets hidden).  The options
 * and reading them are in config.c, the envelope and rendered message in
 * message.c, the protocol in reply.c, session.c, transaction.c and auth.c,
 * sockets and TLS in net.c, the diagnosis (check) in check.c.
 *
 * Connection reuse: a kept session is closed with QUIT before the next send
 * when it has carried max_messages messages or sat idle longer than
 * idle_timeout.  A kept session the server has closed is noticed before the
 * send (EOF on the socket) or during it.  Retrying is the core's: the
 * driver reconnects once only when the kept connection turns out to be
 * closed before the server accepted anything of the transaction (no
 * positive reply to MAIL, RCPT or DATA), which is transport, like libcurl's
 * dead-connection check.  Any other loss before the final dot is returned
 * as CONNECT or TIMEOUT (retryable, for the core to decide), and a loss
 * after the dot is HERALD_ERR_DELIVERY_UNKNOWN.
 */
#include "smtp.h"

#include <stdlib.h>
#include <string.h>

/* ---- init and teardown ------------------------------------------------- */

static void smtp_teardown(void *state);

static herald_class smtp_init(const herald_host *host, herald_channel *ch,
                              void **state_r, herald_error **err_r)
{
    struct smtp *s = calloc(1, sizeof *s);
    if (!s)
        return host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1, "out of memory");
    s->host = host;
    s->ch = ch;
    herald_class rc = smtp_configure(s, err_r);
    if (rc != HERALD_OK) {
        smtp_teardown(s);
        return rc;
    }
    *state_r = s;
    return HERALD_OK;
}

static void drop_session(struct smtp *s, int polite)
{
    if (!s->conn)
        return;
    if (polite)
        smtp_quit(s, s->conn);
    else
        net_close(s->conn, 0);
    free(s->conn);
    s->conn = NULL;
}

static void smtp_teardown(void *state)
{
    struct smtp *s = state;
    if (!s)
        return;
    drop_session(s, 1);
    if (s->cred)
        gnutls_certificate_free_credentials(s->cred);
    smtp_cfg_free(&s->cfg);
    smtp_err_clear(s);
    free(s);
}

/* ---- sending ----------------------------------------------------------- */

/* A usable session: the kept one when fresh enough and still open, else a
 * new one.  *reused_r tells which. */
static herald_class ensure_session(struct smtp *s, int *reused_r)
{
    *reused_r = 0;
    if (s->conn) {
        struct smtp_conn *c = s->conn;
        long long idle = smtp_now_ms() - c->last_used;
        if (c->messages >= s->cfg.max_messages || idle > s->cfg.idle_ms) {
            s->host->log(s->ch, HERALD_LOG_DEBUG, "closing the connection to %s "
                         "after %ld messages, idle %lld ms", s->where,
                         c->messages, idle);
            drop_session(s, 1);
        } else if (!net_alive(c)) {
            s->host->log(s->ch, HERALD_LOG_INFO, "%s closed the kept "
                         "connection; opening a new one", s->where);
            drop_session(s, 0);
        } else {
            *reused_r = 1;
            return HERALD_OK;
        }
    }
    struct smtp_conn *c = malloc(sizeof *c);
    if (!c)
        return smtp_fail(s, HERALD_ERR_INTERNAL, NULL, "out of memory");
    net_init(c);
    herald_class rc = smtp_open(s, c);
    if (rc != HERALD_OK) {
        /* QUIT when the session is still in step (after a 535, a refused
         * EHLO or STARTTLS), so that the server logs no lost connection */
        smtp_quit(s, c);
        free(c);
        return rc;
    }
    s->conn = c;
    return HERALD_OK;
}

static void report_recipients(struct smtp *s, herald_result *res,
                              const struct smtp_txn *t)
{
    for (size_t i = 0; i < t->n_rcpt; i++)
        s->host->result_add_recipient(res, t->rcpt[i].addr, t->rcpt[i].accepted,
                                      t->rcpt[i].text);
}

static herald_class smtp_send(void *state, const herald_msg *msg,
                              herald_result *res, herald_error **err_r)
{
    struct smtp *s = state;
    struct smtp_txn t;
    memset(&t, 0, sizeof t);
    smtp_err_clear(s);
    herald_class rc = smtp_txn_build(s, msg, &t, err_r);
    for (int attempt = 0; rc == HERALD_OK; attempt++) {
        int reused = 0;
        rc = ensure_session(s, &reused);
        if (rc == HERALD_OK)
            rc = smtp_txn_fits(s, s->conn, &t);
        if (rc == HERALD_OK)
            rc = smtp_transaction(s, s->conn, &t);
        if (rc == HERALD_OK || !s->conn)
            break;
        /* Retrying is the core's (it sees the class: CONNECT or TIMEOUT
         * before the final dot, DELIVERY_UNKNOWN after it).  This one
         * reconnect is transport, like libcurl's dead-connection check: a
         * kept connection that turns out to be closed before the server
         * accepted anything of this transaction (no positive reply to
         * MAIL, RCPT or DATA) never carried the message, so it is opened
         * again once.  Any other loss goes back to the core as it is. */
        if (!(reused && attempt == 0 && s->conn->lost && !t.accepted_any &&
              !t.after_dot))
            break;
        s->host->log(s->ch, HERALD_LOG_INFO, "%s had closed the kept connection "
                     "before accepting anything; sending on a new one",
                     s->where);
        drop_session(s, 0);
        smtp_err_clear(s);
        smtp_txn_reset(&t);
        rc = HERALD_OK;
    }
    if (s->conn && (s->conn->broken || s->conn->lost))
        drop_session(s, 0);
    if (rc == HERALD_OK) {
        report_recipients(s, res, &t);
        s->host->result_set_id(res, t.queue_id ? t.queue_id : t.message_id);
        s->conn->messages++;
        s->conn->last_used = smtp_now_ms();
    } else if (t.all_rejected) {
        report_recipients(s, res, &t);
    }
    if (s->conn && rc != HERALD_OK)
        s->conn->last_used = smtp_now_ms();
    smtp_txn_free(&t);
    return smtp_err_report(s, rc, err_r);
}

/* ---- render ------------------------------------------------------------ */

static herald_class smtp_render(void *state, const herald_msg *msg,
                                char **payload_r, size_t *len_r,
                                herald_error **err_r)
{
    struct smtp *s = state;
    struct smtp_txn t;
    memset(&t, 0, sizeof t);
    smtp_err_clear(s);
    herald_class rc = smtp_txn_build(s, msg, &t, err_r);
    struct hbuf b = {0};
    if (rc == HERALD_OK) {
        const char *helo = smtp_helo(s, NULL);
        hbuf_printf(&b, "EHLO %s\r\n", helo);
        if (s->cfg.tls == SMTP_TLS_STARTTLS)
            hbuf_printf(&b, "STARTTLS\r\nEHLO %s\r\n", helo);
        unsigned mech;
        if (s->cfg.username && smtp_auth_pick(s, SMTP_MECH_PLAIN | SMTP_MECH_XOAUTH2 |
                                              s->cfg.auth, &mech))
            hbuf_printf(&b, "AUTH %s ***\r\n", smtp_mech_name(mech));
        hbuf_printf(&b, "MAIL FROM:<%s> SIZE=%zu%s%s\r\n", t.from, t.size,
                    t.eight_bit ? " BODY=8BITMIME" : "", t.utf8_addr ? " SMTPUTF8" : "");
        for (size_t i = 0; i < t.n_rcpt; i++)
            hbuf_printf(&b, "RCPT TO:<%s>\r\n", t.rcpt[i].addr);
        hbuf_adds(&b, "DATA\r\n");
        smtp_dot_stuff(t.mime, t.mime_len, 0, &b, (size_t)-1, NULL, NULL);
        hbuf_adds(&b, ".\r\n");
        hbuf_adds(&b, "QUIT\r\n");
        if (b.oom || !(*payload_r = s->host->alloc(b.len + 1)))
            rc = smtp_fail(s, HERALD_ERR_INTERNAL, NULL, "out of memory");
        else {
            memcpy(*payload_r, b.data, b.len + 1);
            *len_r = b.len;
        }
    }
    hbuf_free(&b);
    smtp_txn_free(&t);
    return smtp_err_report(s, rc, err_r);
}

HERALD_PLUGIN_DEFINE(smtp,
    .version = PACKAGE_VERSION,
    .description = "sends email to an SMTP server over TLS (STARTTLS or "
                   "implicit) with AUTH, pipelining and connection reuse",
    .caps = HERALD_CAP_EMAIL | HERALD_CAP_TEXT | HERALD_CAP_HTML |
            HERALD_CAP_ATTACHMENTS | HERALD_CAP_CC_BCC | HERALD_CAP_REPLY_TO |
            HERALD_CAP_HEADERS | HERALD_CAP_TAGS | HERALD_CAP_METADATA |
            HERALD_CAP_UTF8_ADDRESS,
    .options = smtp_options,
    .init = smtp_init,
    .send = smtp_send,
    .teardown = smtp_teardown,
    .render = smtp_render,
    .check = smtp_check)

