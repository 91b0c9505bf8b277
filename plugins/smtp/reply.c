/*
 * plugins/smtp/reply.c - SMTP replies (RFC 5321 4.2) and single commands
 * for the smtp driver: reading a reply of any number of lines (bounded in
 * lines, line length and time), making server text safe for messages and
 * logs, turning an I/O failure or an unwelcome reply into an error with
 * its fix, and smtp_command (one command, one reply).  The dialogue that
 * uses them is in session.c (greeting, EHLO, STARTTLS, QUIT) and
 * transaction.c (MAIL, RCPT, DATA).
 */
#include "smtp.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

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
int smtp_read_reply(struct smtp_conn *c, long long deadline,
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
void smtp_shown_line(const char *bad, char shown[81])
{
    size_t i = 0;
    for (; bad && bad[i] && i < 80; i++)
        shown[i] = (unsigned char)bad[i] < 0x20 || (unsigned char)bad[i] >= 0x7f
                       ? '?' : bad[i];
    shown[i] = '\0';
}

/* The reply's first line at debug level. */
void smtp_log_reply(struct smtp *s, const struct smtp_reply *r)
{
    const char *t = r->text.data ? r->text.data : "";
    size_t n = strcspn(t, "\n");
    s->host->log(s->ch, HERALD_LOG_DEBUG, "S: %d %.*s%s", r->code,
                 (int)(n > 200 ? 200 : n), t, t[n] ? " ..." : "");
}

herald_class smtp_io_failed(struct smtp *s, struct smtp_conn *c, int rc,
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
        smtp_shown_line(bad, shown);
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

herald_class smtp_get_reply(struct smtp *s, struct smtp_conn *c,
                              struct smtp_reply *r, long ms, const char *opt,
                              const char *what)
{
    const char *bad = NULL;
    int rc = smtp_read_reply(c, smtp_now_ms() + ms, r, &bad);
    if (rc != NET_OK)
        return smtp_io_failed(s, c, rc, what, bad, r, ms, opt);
    smtp_log_reply(s, r);
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
        return smtp_io_failed(s, c, rc, what, NULL, NULL, s->cfg.command_ms,
                         "command_timeout");
    return smtp_get_reply(s, c, r, s->cfg.command_ms, "command_timeout", what);
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
