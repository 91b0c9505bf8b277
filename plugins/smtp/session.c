/*
 * plugins/smtp/session.c - opening and closing an SMTP session (RFC 5321)
 * for the smtp driver: resolve and connect (net.c), implicit TLS, the
 * greeting, EHLO with HELO fallback and its extensions, STARTTLS (RFC
 * 3207), AUTH (auth.c), QUIT.  Replies are read by reply.c; the mail
 * transaction on an open session is in transaction.c.
 *
 * Security rules kept here: STARTTLS is sent alone and nothing follows it
 * until the handshake is done; any byte received after its 220 and before
 * the handshake aborts the session (command injection); everything learned
 * from the clear-text EHLO is forgotten after TLS and rebuilt from the
 * second EHLO only.
 */
#include "smtp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- greeting, EHLO, STARTTLS ------------------------------------------ */

/* The greeting timed out after part of it came: a line without its CRLF,
 * or the first lines of a multi-line reply.  Some bytes arrived, so this
 * is no implicit-TLS port (that waits for the client's hello). */
static herald_class greeting_cut(struct smtp *s, struct smtp_conn *c,
                                 const struct smtp_reply *r)
{
    char t[32], shown[81];
    const unsigned char *p = (const unsigned char *)c->rbuf + c->rpos;
    size_t n = c->rlen - c->rpos;
    smtp_secs(s->cfg.greeting_ms, t);
    if (n >= 2 && (p[0] == 0x15 || p[0] == 0x16) && p[1] == 0x03)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_TLS, NULL,
                                     "%s sent TLS records instead of an SMTP "
                                     "greeting: this port speaks implicit TLS",
                                     s->where),
                        "set tls = implicit");
    if (n > 0) {
        c->rbuf[c->rlen] = '\0';
        smtp_shown_line(c->rbuf + c->rpos, shown);
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_PROTOCOL, NULL,
                                  "%s sent a truncated greeting \"%s\" without a line end "
                                  "(CRLF) and nothing more within %ss (greeting_timeout)",
                                  s->where, shown, t),
                        "this is not a standard SMTP server, or it is stuck: check "
                        "host and port");
    }
    return smtp_fix(s, smtp_fail(s, HERALD_ERR_PROTOCOL, NULL,
                              "%s sent %zu line%s of a greeting (%d ...) but not its last "
                              "line within %ss (greeting_timeout)",
                              s->where, r->lines, r->lines == 1 ? "" : "s", r->code, t),
                    "this is not a standard SMTP server, or it is stuck: check "
                    "host and port");
}

herald_class smtp_greet(struct smtp *s, struct smtp_conn *c, struct smtp_reply *r)
{
    const char *bad = NULL;
    char t[32];
    int rc = smtp_read_reply(c, smtp_now_ms() + s->cfg.greeting_ms, r, &bad);
    if (rc == NET_TIMEOUT && (r->lines > 0 || c->rpos < c->rlen)) {
        c->broken = 1;
        return greeting_cut(s, c, r);
    }
    if (rc == NET_TIMEOUT && s->cfg.tls != SMTP_TLS_IMPLICIT) {
        c->broken = 1;
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_TIMEOUT, NULL,
                                  "%s accepted the connection but the server sent no greeting "
                                  "within %ss (greeting_timeout)",
                                  s->where, smtp_secs(s->cfg.greeting_ms, t)),
                        "this port probably expects implicit TLS: set tls = implicit");
    }
    if (rc != NET_OK)
        return smtp_io_failed(s, c, rc, "the greeting", bad, r, s->cfg.greeting_ms,
                         "greeting_timeout");
    smtp_log_reply(s, r);
    if (r->code == 220)
        return HERALD_OK;
    /* a 554 greeting still waits for our QUIT (RFC 5321 3.1); 421 closes */
    if (r->code == 421)
        c->lost = c->broken = 1;
    if (r->code >= 500) {
        char *txt = smtp_reply_flat(r);
        smtp_fix(s, smtp_fail(s, HERALD_ERR_PERMANENT, r,
                           "%s refuses to talk to this machine: %d %s",
                           s->where, r->code, txt ? txt : ""),
                 "the server does not accept mail from this address (see its "
                 "text: access rules or a blocklist)");
        free(txt);
        return HERALD_ERR_PERMANENT;
    }
    return smtp_reply_error(s, r, "the connection");
}

static unsigned mech_of(const char *w, size_t n)
{
    static const struct { const char *name; unsigned mech; } m[] = {
        {"PLAIN", SMTP_MECH_PLAIN}, {"LOGIN", SMTP_MECH_LOGIN},
        {"CRAM-MD5", SMTP_MECH_CRAM_MD5}, {"XOAUTH2", SMTP_MECH_XOAUTH2}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (strlen(m[i].name) == n && strncasecmp(w, m[i].name, n) == 0)
            return m[i].mech;
    return 0;
}

/* One EHLO keyword line: "PIPELINING", "SIZE 1000", "AUTH PLAIN LOGIN". */
static void parse_ext(struct smtp_conn *c, const char *line, size_t len)
{
    size_t k = 0;
    while (k < len && line[k] != ' ' && line[k] != '=')
        k++;
    static const struct { const char *kw; unsigned bit; } ext[] = {
        {"STARTTLS", SMTP_EXT_STARTTLS}, {"PIPELINING", SMTP_EXT_PIPELINING},
        {"8BITMIME", SMTP_EXT_8BITMIME}, {"SMTPUTF8", SMTP_EXT_SMTPUTF8},
        {"SIZE", SMTP_EXT_SIZE}, {"AUTH", SMTP_EXT_AUTH}};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (strlen(ext[i].kw) == k && strncasecmp(line, ext[i].kw, k) == 0)
            c->ext |= ext[i].bit;
    if (k == 4 && strncasecmp(line, "SIZE", 4) == 0 && k < len)
        c->size_max = strtoul(line + k + 1, NULL, 10);
    if (k == 4 && strncasecmp(line, "AUTH", 4) == 0) {
        for (size_t i = k; i < len;) {
            while (i < len && (line[i] == ' ' || line[i] == '='))
                i++;
            size_t w = i;
            while (i < len && line[i] != ' ')
                i++;
            c->mechs |= mech_of(line + w, i - w);
        }
    }
}

static void parse_ehlo(struct smtp_conn *c, const char *text)
{
    const char *p = strchr(text, '\n'); /* the first line names the server */
    while (p) {
        const char *line = p + 1;
        p = strchr(line, '\n');
        parse_ext(c, line, p ? (size_t)(p - line) : strlen(line));
    }
}

herald_class smtp_hello(struct smtp *s, struct smtp_conn *c, struct smtp_reply *r)
{
    char line[300];
    c->ext = c->mechs = 0;
    c->size_max = 0;
    snprintf(line, sizeof line, "EHLO %s", smtp_helo(s, c));
    herald_class rc = smtp_command(s, c, line, NULL, r);
    if (rc != HERALD_OK)
        return rc;
    if (r->code == 250) {
        parse_ehlo(c, r->text.data ? r->text.data : "");
        return HERALD_OK;
    }
    if (r->code < 500 || r->code == 554)
        return smtp_reply_error(s, r, "EHLO");
    snprintf(line, sizeof line, "HELO %s", smtp_helo(s, c));
    rc = smtp_command(s, c, line, NULL, r);
    if (rc == HERALD_OK && r->code != 250)
        rc = smtp_reply_error(s, r, "HELO");
    return rc;
}

herald_class smtp_starttls(struct smtp *s, struct smtp_conn *c, struct smtp_reply *r)
{
    char why[64] = "";
    if (!s->cfg.tls_explicit)
        snprintf(why, sizeof why, " (the default for port %d)", s->cfg.port);
    if (!(c->ext & SMTP_EXT_STARTTLS))
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_TLS, NULL,
                                  "%s does not offer STARTTLS, and tls = starttls%s requires "
                                  "it, so nothing was sent in clear text",
                                  s->where, why),
                        "use tls = implicit (port 465) if the server offers it, or "
                        "tls = none only on a trusted network and without credentials");
    herald_class rc = smtp_command(s, c, "STARTTLS", NULL, r);
    if (rc != HERALD_OK)
        return rc;
    if (r->code != 220) {
        char *txt = smtp_reply_flat(r);
        smtp_fix(s, smtp_fail(s, HERALD_ERR_TLS, r,
                           "%s refused STARTTLS: %d %s; tls = starttls%s requires it, "
                           "so nothing was sent in clear text",
                           s->where, r->code, txt ? txt : "", why),
                 "ask the server's operator, or use tls = implicit (port 465) "
                 "if it offers that");
        free(txt);
        return HERALD_ERR_TLS; /* still in step, in clear text: QUIT is fine */
    }
    if (net_input_pending(c)) {
        c->broken = 1;
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_TLS, NULL,
                                  "%s sent data after its STARTTLS reply, before the TLS "
                                  "handshake; that is how STARTTLS command injection works (a "
                                  "man-in-the-middle or a broken server), so the session was "
                                  "aborted and nothing else was sent",
                                  s->where),
                        "check the network path to the server");
    }
    rc = net_tls_start(s, c, s->cfg.command_ms, 0);
    /* forget everything the clear-text EHLO said */
    c->ext = c->mechs = 0;
    c->size_max = 0;
    return rc;
}

/* ---- opening a session ------------------------------------------------- */

static herald_class open_tls_and_hello(struct smtp *s, struct smtp_conn *c,
                                       struct smtp_reply *r)
{
    herald_class rc = HERALD_OK;
    if (s->cfg.tls == SMTP_TLS_IMPLICIT)
        rc = net_tls_start(s, c, s->cfg.greeting_ms, 1);
    if (rc == HERALD_OK)
        rc = smtp_greet(s, c, r);
    if (rc == HERALD_OK)
        rc = smtp_hello(s, c, r);
    if (rc != HERALD_OK || s->cfg.tls != SMTP_TLS_STARTTLS)
        return rc;
    rc = smtp_starttls(s, c, r);
    if (rc == HERALD_OK)
        rc = smtp_hello(s, c, r);
    return rc;
}

herald_class smtp_open(struct smtp *s, struct smtp_conn *c)
{
    struct addrinfo *ai = NULL;
    herald_class rc = net_resolve(s, &ai);
    if (rc != HERALD_OK)
        return rc;
    rc = net_connect(s, c, ai);
    freeaddrinfo(ai);
    if (rc != HERALD_OK)
        return rc;
    struct smtp_reply r = {0};
    rc = open_tls_and_hello(s, c, &r);
    hbuf_free(&r.text);
    if (rc == HERALD_OK && s->cfg.username)
        rc = smtp_auth(s, c);
    c->last_used = smtp_now_ms();
    return rc;
}

void smtp_quit(struct smtp *s, struct smtp_conn *c)
{
    if (c->fd >= 0 && !c->broken && !c->lost) {
        long ms = s->cfg.command_ms < 2000 ? s->cfg.command_ms : 2000;
        struct smtp_reply r = {0};
        const char *bad;
        s->host->log(s->ch, HERALD_LOG_DEBUG, "C: QUIT");
        hbuf_adds(&c->out, "QUIT\r\n");
        if (net_flush(c, smtp_now_ms() + ms) == NET_OK)
            smtp_read_reply(c, smtp_now_ms() + ms, &r, &bad);
        hbuf_free(&r.text);
    }
    net_close(c, 1);
}
