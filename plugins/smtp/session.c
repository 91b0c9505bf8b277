/*
 * plugins/smtp/session.c - the SMTP dialogue (RFC 5321) of the smtp driver:
 * replies, greeting, EHLO with HELO fallback, STARTTLS (RFC 3207), the
 * MAIL/RCPT/DATA transaction with PIPELINING (RFC 2920), QUIT.
 *
 * Security rules kept here: STARTTLS is sent alone and nothing follows it
 * until the handshake is done; any byte received after its 220 and before
 * the handshake aborts the session (command injection); everything learned
 * from the clear-text EHLO is forgotten after TLS and rebuilt from the
 * second EHLO only.
 */
#include "smtp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

enum { NET_BADREPLY = 100, NET_MANYLINES };
#define SMTP_WINDOW 50          /* most commands in flight when pipelining */
#define SMTP_MAX_REPLY_LINES 500

/* ---- replies ----------------------------------------------------------- */

/* Replace control characters so server text is safe in messages and logs. */
static void add_clean(struct hbuf *b, const char *p, size_t n)
{
    size_t start = b->len;
    hbuf_add(b, p, n);
    for (size_t i = start; !b->oom && i < b->len; i++) {
        unsigned char u = (unsigned char)b->data[i];
        if (u < 0x20 || u == 0x7f)
            b->data[i] = '?';
    }
}

static int is_reply_line(const char *line, size_t len)
{
    return len >= 3 && isdigit((unsigned char)line[0]) &&
           isdigit((unsigned char)line[1]) && isdigit((unsigned char)line[2]) &&
           (len == 3 || line[3] == ' ' || line[3] == '-');
}

/* After SMTP_MAX_REPLY_LINES lines: read on to the reply's last line
 * (within @deadline and as many lines again as SMTP_COUNT_LINES), only to
 * say how long it was; r->lines is the count, r->cut set when the end was
 * not seen. */
#define SMTP_COUNT_LINES 100000
static void count_rest(struct smtp_conn *c, long long deadline, struct smtp_reply *r)
{
    for (;;) {
        char *line;
        size_t len;
        if (r->lines >= SMTP_COUNT_LINES ||
            net_read_line(c, deadline, &line, &len) != NET_OK ||
            !is_reply_line(line, len)) {
            r->cut = 1;
            return;
        }
        r->lines++;
        if (len == 3 || line[3] == ' ')
            return;
    }
}

/* Read one reply, however many lines: NET_*, NET_BADREPLY (*bad_r is the
 * offending line) or NET_MANYLINES (r->lines says how many). */
static int read_reply(struct smtp_conn *c, long long deadline,
                      struct smtp_reply *r, const char **bad_r)
{
    r->code = 0;
    r->lines = 0;
    r->cut = 0;
    r->text.len = 0;
    if (r->text.data)
        r->text.data[0] = '\0';
    for (int n = 0;; n++) {
        char *line;
        size_t len;
        int rc = net_read_line(c, deadline, &line, &len);
        if (rc != NET_OK)
            return rc;
        int code = is_reply_line(line, len) ? atoi(line) : 0;
        if (code == 0 || (n > 0 && code != r->code)) {
            *bad_r = line;
            return NET_BADREPLY;
        }
        r->lines++;
        if (n >= SMTP_MAX_REPLY_LINES) {
            if (len > 3 && line[3] == '-')
                count_rest(c, deadline, r);
            return NET_MANYLINES;
        }
        r->code = code;
        if (n > 0)
            hbuf_add(&r->text, "\n", 1);
        if (len > 4)
            add_clean(&r->text, line + 4, len - 4);
        else if (!r->text.data)
            hbuf_add(&r->text, "", 0);
        if (len == 3 || line[3] == ' ')
            return NET_OK;
    }
}

/* "a line" as it can be shown: control and non-ASCII bytes as '?', cut. */
static void shown_line(const char *bad, char shown[81])
{
    size_t i = 0;
    for (; bad && bad[i] && i < 80; i++)
        shown[i] = (unsigned char)bad[i] < 0x20 || (unsigned char)bad[i] >= 0x7f
                       ? '?' : bad[i];
    shown[i] = '\0';
}

/* The reply's first line at debug level. */
static void log_reply(struct smtp *s, const struct smtp_reply *r)
{
    const char *t = r->text.data ? r->text.data : "";
    size_t n = strcspn(t, "\n");
    s->host->log(s->ch, HERALD_LOG_DEBUG, "S: %d %.*s%s", r->code,
                 (int)(n > 200 ? 200 : n), t, t[n] ? " ..." : "");
}

static herald_class io_failed(struct smtp *s, struct smtp_conn *c, int rc,
                              const char *what, const char *bad,
                              const struct smtp_reply *r, long ms, const char *opt)
{
    char t[32], shown[81];
    c->broken = 1;
    switch (rc) {
    case NET_TIMEOUT:
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_TIMEOUT, NULL,
                                  "%s did not answer %s within %ss (%s)",
                                  s->where, what, smtp_secs(ms, t), opt),
                        "the server or the network is slow or stuck: try again later "
                        "or raise %s",
                        opt);
    case NET_CLOSED:
        c->lost = 1;
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_CONNECT, NULL,
                                  "%s closed the connection during %s",
                                  s->where, what),
                        "try again later, and check the server's log if it keeps "
                        "happening");
    case NET_TOO_LONG:
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_PROTOCOL, NULL,
                                  "%s sent a line longer than %d octets in answer to %s",
                                  s->where, SMTP_MAX_LINE, what),
                        "this is not an SMTP server: check host and port");
    case NET_MANYLINES:
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_PROTOCOL, NULL,
                                  "%s answered %s with a reply too long (%s%zu lines, limit %d)",
                                  s->where, what, r->cut ? "over " : "", r->lines, SMTP_MAX_REPLY_LINES),
                        "this is not a standard SMTP server: check host and port");
    case NET_BADREPLY:
        shown_line(bad, shown);
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_PROTOCOL, NULL,
                                  "%s sent something that is not an SMTP reply in answer to "
                                  "%s: \"%s\"",
                                  s->where, what, shown),
                        "check host, port and tls");
    default:
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_CONNECT, NULL,
                                  "the connection to %s failed during %s: %s",
                                  s->where, what, net_strerror(c)),
                        "check the network and try again");
    }
}

static herald_class get_reply(struct smtp *s, struct smtp_conn *c,
                              struct smtp_reply *r, long ms, const char *opt,
                              const char *what)
{
    const char *bad = NULL;
    int rc = read_reply(c, smtp_now_ms() + ms, r, &bad);
    if (rc != NET_OK)
        return io_failed(s, c, rc, what, bad, r, ms, opt);
    log_reply(s, r);
    if (r->code == 421) {
        c->lost = 1;
        c->broken = 1;
    }
    return HERALD_OK;
}

/* "MAIL FROM:<a@b>" -> "MAIL FROM"; "EHLO x" -> "EHLO". */
static void verb_of(const char *line, char *out, size_t size)
{
    const char *colon = strchr(line, ':');
    const char *space = strchr(line, ' ');
    size_t n = colon && colon - line < 10 ? (size_t)(colon - line)
               : space ? (size_t)(space - line) : strlen(line);
    if (n >= size)
        n = size - 1;
    memcpy(out, line, n);
    out[n] = '\0';
}

herald_class smtp_command(struct smtp *s, struct smtp_conn *c,
                          const char *line, const char *shown,
                          struct smtp_reply *r)
{
    char what[32];
    verb_of(shown ? shown : line, what, sizeof what);
    s->host->log(s->ch, HERALD_LOG_DEBUG, "C: %s", shown ? shown : line);
    hbuf_adds(&c->out, line);
    hbuf_add(&c->out, "\r\n", 2);
    if (c->out.oom)
        return smtp_fail(s, HERALD_ERR_INTERNAL, NULL, "out of memory");
    int rc = net_flush(c, smtp_now_ms() + s->cfg.command_ms);
    if (rc != NET_OK)
        return io_failed(s, c, rc, what, NULL, NULL, s->cfg.command_ms,
                         "command_timeout");
    return get_reply(s, c, r, s->cfg.command_ms, "command_timeout", what);
}

herald_class smtp_reply_error(struct smtp *s, const struct smtp_reply *r,
                              const char *what)
{
    char *t = smtp_reply_flat(r);
    const char *text = t ? t : "";
    herald_class cls;
    if (r->code == 421)
        cls = smtp_fix(s, smtp_fail(s, HERALD_ERR_TEMPORARY, r,
                                 "%s is closing the connection (421 %s) at %s",
                                 s->where, text, what),
                       "try again later");
    else if (r->code >= 400 && r->code < 500)
        cls = smtp_fix(s, smtp_fail(s, HERALD_ERR_TEMPORARY, r,
                                 "%s refused %s for now: %d %s",
                                 s->where, what, r->code, text),
                       "this is temporary: try again later");
    else if (r->code >= 500)
        cls = smtp_fix(s, smtp_fail(s, HERALD_ERR_PERMANENT, r,
                                 "%s refused %s: %d %s",
                                 s->where, what, r->code, text),
                       "sending it again will not help: see the server's text for "
                       "the reason");
    else
        cls = smtp_fix(s, smtp_fail(s, HERALD_ERR_PROTOCOL, r,
                                 "%s answered %s with an unexpected %d %s",
                                 s->where, what, r->code, text),
                       "check host and port");
    free(t);
    return cls;
}

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
        shown_line(c->rbuf + c->rpos, shown);
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
    int rc = read_reply(c, smtp_now_ms() + s->cfg.greeting_ms, r, &bad);
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
        return io_failed(s, c, rc, "the greeting", bad, r, s->cfg.greeting_ms,
                         "greeting_timeout");
    log_reply(s, r);
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
            read_reply(c, smtp_now_ms() + ms, &r, &bad);
        hbuf_free(&r.text);
    }
    net_close(c, 1);
}

/* ---- the transaction --------------------------------------------------- */

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
            return io_failed(s, c, w, cmd_name(e->kind[i]), NULL, NULL,
                             s->cfg.command_ms, "command_timeout");
        for (size_t k = i; k < j; k++) {
            herald_class rc = get_reply(s, c, r, s->cfg.command_ms,
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
        return io_failed(s, c, w, "the message data", NULL, NULL, s->cfg.data_ms,
                         "data_timeout");
    t->after_dot = 1;
    const char *bad = NULL;
    w = read_reply(c, smtp_now_ms() + s->cfg.data_ms, r, &bad);
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
        shown_line(bad, shown);
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
    log_reply(s, r);
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
            read_reply(c, smtp_now_ms() + s->cfg.command_ms, &r, &bad) != NET_OK)
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
