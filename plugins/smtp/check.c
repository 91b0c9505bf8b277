/*
 * plugins/smtp/check.c - the smtp driver's diagnosis (`herald doctor`):
 * each step of reaching the server, timed, with its cause and its fix.
 *
 *   resolve          DNS (A/AAAA), within connect_timeout (the lookup runs
 *                    in a thread of its own, left behind when it hangs)
 *   connect          TCP, told apart: connected, refused (a reset),
 *                    unreachable (no route) or filtered (no answer within
 *                    connect_timeout)
 *   port probe       only when filtered: ports 25, 465 and 587 on the same
 *                    address and probe_host (443) at once, to tell a blocked
 *                    port from a dead server or network
 *   tls              what the port speaks (a 220 greeting, or a TLS
 *                    handshake) against the `tls` setting
 *   greeting, ehlo, starttls, certificate, ehlo after tls, auth
 *   sender, recipient  with send_test: MAIL FROM and RCPT TO, then RSET (no
 *                    DATA: nothing is delivered)
 *   quit
 *
 * The first failure ends the check (with QUIT when the session is sane).
 * TLS handshakes here do not verify the certificate themselves
 * (conn.defer_verify): the certificate step does, so that a wrong host name
 * or an expired certificate is named as such; nothing follows a rejected
 * certificate, so credentials only go out over a verified session (or one
 * the config chose not to verify).
 */
#include "smtp.h"
#include "net_diag.h"
#include "base/base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPIRY_WARN_DAYS 14
static const int smtp_ports[] = {25, 465, 587};

/* A running check. */
struct ck {
    struct smtp *s;
    herald_checker *chk;
    struct smtp_conn *c;
    double t0;                     /* when the current step began */
    struct sockaddr_storage peer;  /* the address connected to */
    socklen_t peer_len;
    int peer_family;
};

/* ---- reporting --------------------------------------------------------- */

static void begin(struct ck *k)
{
    k->t0 = hn_now_ms();
}

static void report(struct ck *k, const char *step, herald_check_status st,
                   const char *detail, const char *fix)
{
    double ms = hn_now_ms() - k->t0;
    k->s->host->report_step(k->chk, step, st, ms < 0 ? 0 : ms, detail, fix);
}

/* Report a step with a printf-formatted detail. */
static void say(struct ck *k, const char *step, herald_check_status st,
                const char *fix, const char *fmt, ...) HERALD_PRINTF(5, 6);
static void say(struct ck *k, const char *step, herald_check_status st,
                const char *fix, const char *fmt, ...)
{
    char detail[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    report(k, step, st, detail, fix);
}

/* A failed step with its own what (@fmt) and @fix; recorded as the
 * check's error too, the two kept apart. */
static herald_class fail(struct ck *k, const char *step, herald_class cls,
                         const char *fix, const char *fmt, ...) HERALD_PRINTF(5, 6);
static herald_class fail(struct ck *k, const char *step, herald_class cls,
                         const char *fix, const char *fmt, ...)
{
    char detail[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    report(k, step, HERALD_CHECK_FAIL, detail, fix);
    return smtp_fix(k->s, smtp_fail(k->s, cls, NULL, "%s", detail), "%s", fix);
}

/* A failed step whose error the session code recorded: its what and its
 * fix, as recorded. */
static herald_class fail_recorded(struct ck *k, const char *step, herald_class rc)
{
    report(k, step, HERALD_CHECK_FAIL,
           k->s->err.msg ? k->s->err.msg : "failed (out of memory)", k->s->err.fix);
    return rc;
}

/* ---- resolve ----------------------------------------------------------- */

static herald_class resolve_step(struct ck *k, struct addrinfo **ai_r)
{
    struct smtp *s = k->s;
    char secs[32];
    int timed_out;
    begin(k);
    int r = hn_resolve(s->cfg.host, s->cfg.port, s->cfg.connect_ms, ai_r, &timed_out);
    if (timed_out)
        return fail(k, "resolve", HERALD_ERR_TEMPORARY,
                    "check this machine's DNS resolver (/etc/resolv.conf) and "
                    "try again",
                    "no DNS answer for %s within %ss (connect_timeout)",
                    s->cfg.host, smtp_secs(s->cfg.connect_ms, secs));
    if (r == EAI_AGAIN)
        return fail(k, "resolve", HERALD_ERR_TEMPORARY,
                    "check this machine's DNS resolver (/etc/resolv.conf) and "
                    "try again",
                    "the DNS lookup of %s failed for now (%s)", s->cfg.host,
                    gai_strerror(r));
    if (r != 0) {
        char fix[400];
        snprintf(fix, sizeof fix, "check host = %s for a typo, and that this "
                 "machine's DNS works", s->cfg.host);
        return fail(k, "resolve", HERALD_ERR_HOST_NOT_FOUND, fix,
                    "cannot resolve %s: %s", s->cfg.host,
                    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
    }
    struct hbuf b = {0};
    hn_addrs_text(*ai_r, &b);
    say(k, "resolve", HERALD_CHECK_OK, NULL, "%s resolves to %s", s->cfg.host,
        b.data ? b.data : "?");
    hbuf_free(&b);
    return HERALD_OK;
}

/* ---- connect and the port probe ---------------------------------------- */

/* The port probe after a filtered connect to @filtered: the verdict. */
static void port_probe(struct ck *k, const struct addrinfo *filtered)
{
    struct smtp *s = k->s;
    char secs[32], host[INET6_ADDRSTRLEN + 8];
    struct hn_port_probe pr;
    struct hbuf ev = {0};
    begin(k);
    hn_addr_text(filtered->ai_addr, filtered->ai_addrlen, host, sizeof host);
    hbuf_printf(&ev, "port %d of %s gave no answer in %ss", s->cfg.port, host,
                smtp_secs(s->cfg.connect_ms, secs));
    hn_port_probe(filtered, smtp_ports, sizeof smtp_ports / sizeof smtp_ports[0],
                  s->cfg.port, s->cfg.probe_host, s->cfg.probe_port, "probe_host",
                  s->cfg.connect_ms, &pr, &ev);
    const char *evidence = ev.data ? ev.data : "";
    int other_open = pr.open_port, perr = pr.ref_gai, presult = pr.ref_result;
    int ptimeout = pr.ref_timed_out;

    char alt[300] = "";
    if (other_open)
        snprintf(alt, sizeof alt, "port %d of %s answers: try port = %d with "
                 "tls = %s; or ", other_open, host, other_open,
                 other_open == 465 ? "implicit" : "starttls");
    char fix[700];
    if (!s->cfg.probe_host) {
        snprintf(fix, sizeof fix, "%sset probe_host to a host that answers "
                 "HTTPS (e.g. probe_host = api.mailgun.net) and run the check "
                 "again to tell the cause apart", alt);
        say(k, "port probe", HERALD_CHECK_WARN, fix,
            "inconclusive: %s; with no probe_host to compare with, herald "
            "cannot tell whether this machine's outbound SMTP is filtered or "
            "the server or network is down", evidence);
    } else if (perr != 0) {
        snprintf(fix, sizeof fix, "%scheck probe_host = %s and this machine's "
                 "DNS", alt, s->cfg.probe_host);
        say(k, "port probe", HERALD_CHECK_WARN, fix,
            "inconclusive: %s; probe_host %s cannot be resolved (%s)", evidence,
            s->cfg.probe_host, ptimeout ? "no DNS answer in time" : gai_strerror(perr));
    } else if (presult == 0) {
        snprintf(fix, sizeof fix, "%suse an HTTP API driver (mailgun, sendgrid, "
                 "ses, resend, postmark) or ask the provider to lift the block", alt);
        say(k, "port probe", HERALD_CHECK_FAIL, fix,
            "outbound SMTP is blocked from this machine (typical of GCP, AWS, "
            "Azure, DigitalOcean): %s", evidence);
    } else if (presult == ECONNREFUSED) {
        snprintf(fix, sizeof fix, "%sset probe_host to a host that answers on "
                 "that port (e.g. api.mailgun.net, port 443)", alt);
        say(k, "port probe", HERALD_CHECK_WARN, fix,
            "inconclusive: %s; probe_host refused the connection, so it cannot "
            "serve as a reference", evidence);
    } else {
        snprintf(fix, sizeof fix, "%scheck this machine's network connection, "
                 "routes, firewall and proxy settings", alt);
        say(k, "port probe", HERALD_CHECK_FAIL, fix,
            "this machine's outbound network looks down: %s, so neither the "
            "SMTP server nor probe_host can be reached", evidence);
    }
    hbuf_free(&ev);
}

static herald_class connect_failed(struct ck *k, int e, const struct addrinfo *a,
                                   const char *tried)
{
    struct smtp *s = k->s;
    char ip[INET6_ADDRSTRLEN + 8], secs[32], fix[400];
    hn_addr_text(a->ai_addr, a->ai_addrlen, ip, sizeof ip);
    switch (e) {
    case ETIMEDOUT: {
        herald_class rc = fail(k, "connect", HERALD_ERR_TIMEOUT,
                               "check host and port; the port probe below "
                               "tells whether this machine can reach SMTP "
                               "ports at all",
                               "filtered: no answer from %s port %d in %ss "
                               "(connect_timeout), neither a reset nor an ICMP "
                               "error: a firewall here, on the way or at the "
                               "server drops the packets, or the host is down%s",
                               ip, s->cfg.port,
                               smtp_secs(s->cfg.connect_ms, secs), tried);
        port_probe(k, a);
        return rc;
    }
    case ECONNREFUSED:
        snprintf(fix, sizeof fix, "check host and port (587 for STARTTLS, 465 "
                 "for implicit TLS) and that the mail server is running on %s",
                 s->cfg.host);
        return fail(k, "connect", HERALD_ERR_CONNECT, fix,
                    "refused: %s answered port %d with a reset (nothing listens "
                    "there, or a firewall rejects the connection)%s", ip,
                    s->cfg.port, tried);
    case ENETUNREACH:
    case EHOSTUNREACH:
        return fail(k, "connect", HERALD_ERR_CONNECT,
                    "check this machine's network connection, routes, IPv6 "
                    "setup and firewall",
                    "unreachable: this machine has no route to %s (%s)%s", ip,
                    strerror(e), tried);
    default:
        return fail(k, "connect", HERALD_ERR_CONNECT,
                    "check host, port and the firewall",
                    "cannot connect to %s port %d: %s%s", ip, s->cfg.port,
                    strerror(e), tried);
    }
}

static herald_class connect_step(struct ck *k, const struct addrinfo *ai)
{
    struct smtp *s = k->s;
    struct hbuf tried = {0};
    struct hn_connect r;
    begin(k);
    if (hn_connect(ai, s->cfg.connect_ms, &r, &tried) >= 0) {
        char ip[NI_MAXHOST];
        const struct addrinfo *a = r.addr;
        k->c->fd = r.fd;
        if (a->ai_addrlen <= sizeof k->peer) {
            memcpy(&k->peer, a->ai_addr, a->ai_addrlen);
            k->peer_len = a->ai_addrlen;
            k->peer_family = a->ai_family;
        }
        hn_addr_text(a->ai_addr, a->ai_addrlen, ip, sizeof ip);
        say(k, "connect", HERALD_CHECK_OK, NULL, "connected to %s port %d%s%s%s",
            ip, s->cfg.port, tried.len ? " (before: " : "",
            tried.data ? tried.data : "", tried.len ? ")" : "");
        hbuf_free(&tried);
        return HERALD_OK;
    }
    char more[600] = "";
    if (ai && ai->ai_next && tried.data)
        snprintf(more, sizeof more, " (tried %s)", tried.data);
    hbuf_free(&tried);
    if (!r.addr)
        return fail(k, "connect", HERALD_ERR_CONNECT, "check host",
                    "%s has no address to connect to", s->cfg.host);
    return connect_failed(k, r.err, r.addr, more);
}

/* ---- what the port speaks ---------------------------------------------- */

static char *tls_desc(const struct smtp_conn *c)
{
    char *d = gnutls_session_get_desc(c->tls);
    char *copy = strdup(d ? d : "TLS");
    gnutls_free(d);
    return copy;
}

static int starts_with_220(const struct smtp_conn *c)
{
    return c->n_first >= 3 && memcmp(c->first, "220", 3) == 0;
}

/* A second, plain connection to the server: greeting and EHLO, then QUIT.
 * 1 when it offers STARTTLS, 0 when not, -1 when that could not be told.
 * Records no error. */
static int offers_starttls(struct ck *k)
{
    struct smtp *s = k->s;
    struct smtp_conn *c = malloc(sizeof *c);
    if (!c || !k->peer_len) {
        free(c);
        return -1;
    }
    net_init(c);
    struct addrinfo a;
    memset(&a, 0, sizeof a);
    a.ai_family = k->peer_family;
    a.ai_socktype = SOCK_STREAM;
    a.ai_addr = (struct sockaddr *)&k->peer;
    a.ai_addrlen = k->peer_len;
    int e, offered = -1;
    struct smtp_reply r = {0};
    c->fd = hn_connect_addr(&a, hn_now_ms() + (double)s->cfg.connect_ms, &e);
    if (c->fd >= 0 && smtp_greet(s, c, &r) == HERALD_OK &&
        smtp_hello(s, c, &r) == HERALD_OK)
        offered = (c->ext & SMTP_EXT_STARTTLS) != 0;
    hbuf_free(&r.text);
    smtp_quit(s, c);
    free(c);
    smtp_err_clear(s);
    return offered;
}

/* tls = implicit: the handshake tells whether the port speaks TLS. */
static herald_class implicit_tls_step(struct ck *k)
{
    struct smtp *s = k->s;
    struct smtp_conn *c = k->c;
    char secs[32];
    begin(k);
    herald_class rc = net_tls_start(s, c, s->cfg.greeting_ms, 1);
    if (rc == HERALD_OK) {
        char *d = tls_desc(c);
        say(k, "tls", HERALD_CHECK_OK, NULL, "port %d speaks implicit TLS, as "
            "tls = implicit expects: %s", s->cfg.port, d ? d : "TLS");
        free(d);
        return HERALD_OK;
    }
    if (starts_with_220(c)) {
        smtp_err_clear(s);
        int offered = offers_starttls(k);
        if (offered == 0)
            return fail(k, "tls", HERALD_ERR_CONFIG,
                        "use the server's TLS port (465 for implicit TLS, 587 "
                        "for STARTTLS), or tls = none only on a trusted "
                        "network and without credentials",
                        "port %d speaks plain SMTP without STARTTLS, not "
                        "implicit TLS: it answered the TLS handshake with a "
                        "\"220\" greeting", s->cfg.port);
        return fail(k, "tls", HERALD_ERR_CONFIG, "set tls = starttls",
                    "port %d speaks plain SMTP%s, not implicit TLS: it "
                    "answered the TLS handshake with a \"220\" greeting",
                    s->cfg.port, offered == 1 ? " with STARTTLS" : "");
    }
    if (rc == HERALD_ERR_TIMEOUT && c->n_first == 0) {
        smtp_err_clear(s);
        return fail(k, "tls", HERALD_ERR_TIMEOUT,
                    "check host and port (465 speaks implicit TLS, 587 "
                    "STARTTLS), or raise greeting_timeout for a slow server",
                    "%s accepted the connection but answered neither the TLS "
                    "handshake nor with an SMTP greeting within %ss "
                    "(greeting_timeout)", s->where,
                    smtp_secs(s->cfg.greeting_ms, secs));
    }
    return fail_recorded(k, "tls", rc);
}

/* tls = starttls or none: the port must greet in plain text.  No greeting
 * at all: try a TLS handshake on the same connection. */
static herald_class plain_greeting_step(struct ck *k, struct smtp_reply *r)
{
    struct smtp *s = k->s;
    struct smtp_conn *c = k->c;
    char secs[32];
    begin(k);
    herald_class rc = smtp_greet(s, c, r);
    if (rc == HERALD_OK) {
        say(k, "greeting", HERALD_CHECK_OK, NULL, "%d %.400s (plain SMTP, as "
            "tls = %s expects)", r->code, r->text.data ? r->text.data : "",
            s->cfg.tls == SMTP_TLS_NONE ? "none" : "starttls");
        return HERALD_OK;
    }
    if (rc != HERALD_ERR_TIMEOUT || c->rlen > 0)
        return fail_recorded(k, "greeting", rc);
    smtp_err_clear(s);
    smtp_secs(s->cfg.greeting_ms, secs);
    rc = net_tls_start(s, c, s->cfg.greeting_ms, 1);
    c->broken = 1; /* whatever it speaks, this session ends here */
    if (rc == HERALD_OK)
        return fail(k, "tls", HERALD_ERR_CONFIG, "set tls = implicit",
                    "port %d speaks implicit TLS, not plain SMTP: no greeting "
                    "came in %ss (greeting_timeout), but a TLS handshake "
                    "succeeded (%s), so tls = %s cannot work here", s->cfg.port,
                    secs, gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls)),
                    s->cfg.tls == SMTP_TLS_NONE ? "none" : "starttls");
    int plain = starts_with_220(c);
    smtp_err_clear(s);
    if (plain)
        return fail(k, "greeting", HERALD_ERR_TIMEOUT,
                    "raise greeting_timeout",
                    "%s sent its 220 greeting only after greeting_timeout "
                    "(%ss)", s->where, secs);
    return fail(k, "greeting", HERALD_ERR_TIMEOUT,
                "check host and port (587 speaks STARTTLS, 465 implicit TLS)",
                "%s accepted the connection but sent no SMTP greeting in %ss "
                "(greeting_timeout) and did not answer a TLS handshake either",
                s->where, secs);
}

/* ---- EHLO, STARTTLS, certificate, AUTH --------------------------------- */

/* " PLAIN LOGIN" for a set of mechanisms, appended to @b. */
static void mech_list(unsigned mechs, struct hbuf *b)
{
    for (unsigned m = SMTP_MECH_PLAIN; m <= SMTP_MECH_XOAUTH2; m <<= 1)
        if (mechs & m)
            hbuf_printf(b, " %s", smtp_mech_name(m));
}

static void describe_caps(const struct smtp_conn *c, const struct smtp_reply *r,
                          struct hbuf *b)
{
    const char *t = r->text.data ? r->text.data : "";
    hbuf_printf(b, "%.*s offers", (int)strcspn(t, " \n"), t);
    size_t start = b->len;
    static const struct { unsigned bit; const char *name; } ext[] = {
        {SMTP_EXT_STARTTLS, "STARTTLS"}, {SMTP_EXT_PIPELINING, "PIPELINING"},
        {SMTP_EXT_8BITMIME, "8BITMIME"}, {SMTP_EXT_SMTPUTF8, "SMTPUTF8"}};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (c->ext & ext[i].bit)
            hbuf_printf(b, "%s%s", b->len > start ? ", " : " ", ext[i].name);
    if ((c->ext & SMTP_EXT_SIZE) && c->size_max)
        hbuf_printf(b, "%sSIZE %lu (%.1f MiB)", b->len > start ? ", " : " ",
                    c->size_max, (double)c->size_max / 1048576.0);
    else if (c->ext & SMTP_EXT_SIZE)
        hbuf_printf(b, "%sSIZE (no limit given)", b->len > start ? ", " : " ");
    if (c->ext & SMTP_EXT_AUTH) {
        hbuf_printf(b, "%sAUTH", b->len > start ? ", " : " ");
        mech_list(c->mechs, b);
    }
    if (b->len == start)
        hbuf_adds(b, " no extensions");
}

static herald_class ehlo_step(struct ck *k, const char *step, struct smtp_reply *r)
{
    begin(k);
    herald_class rc = smtp_hello(k->s, k->c, r);
    if (rc != HERALD_OK)
        return fail_recorded(k, step, rc);
    struct hbuf b = {0};
    describe_caps(k->c, r, &b);
    report(k, step, HERALD_CHECK_OK, b.data ? b.data : "", NULL);
    hbuf_free(&b);
    return HERALD_OK;
}

static herald_class starttls_step(struct ck *k, struct smtp_reply *r)
{
    begin(k);
    herald_class rc = smtp_starttls(k->s, k->c, r);
    if (rc != HERALD_OK)
        return fail_recorded(k, "starttls", rc);
    char *d = tls_desc(k->c);
    say(k, "starttls", HERALD_CHECK_OK, NULL, "TLS after STARTTLS: %s",
        d ? d : "TLS");
    free(d);
    return HERALD_OK;
}

static herald_class cert_step(struct ck *k)
{
    struct smtp *s = k->s;
    struct smtp_conn *c = k->c;
    struct hn_cert ci;
    char fix[600];
    begin(k);
    if (hn_cert_read(c->tls, &ci) != 0)
        return fail(k, "certificate", HERALD_ERR_TLS, "check host and port",
                    "%s sent no readable certificate", s->where);
    long days = ci.days_left;
    if (s->cfg.has_pin) {
        herald_class rc = net_check_pin(s, c);
        if (rc != HERALD_OK)
            return fail_recorded(k, "certificate", rc);
        if (days < EXPIRY_WARN_DAYS) {
            snprintf(fix, sizeof fix, "when the server renews it, set "
                     "tls_fingerprint to the new certificate's sha256");
            say(k, "certificate", HERALD_CHECK_WARN, fix, "matches "
                "tls_fingerprint, but expires on %s (in %ld days): %s",
                ci.until, days, ci.subject);
            return HERALD_OK;
        }
        say(k, "certificate", HERALD_CHECK_OK, NULL, "matches tls_fingerprint: "
            "%s, expires %s", ci.subject, ci.until);
        return HERALD_OK;
    }
    if (!s->cfg.verify) {
        snprintf(fix, sizeof fix, "set tls_verify = yes (with ca_file for a "
                 "private CA) or pin it with tls_fingerprint = %s", ci.fp);
        say(k, "certificate", HERALD_CHECK_WARN, fix, "NOT verified (tls_verify "
            "= no): %s, for %s, issued by %s, expires %s", ci.subject, ci.names,
            ci.issuer, ci.until);
        return HERALD_OK;
    }
    unsigned status = 0;
    int r = hn_cert_verify(c->tls, s->cfg.host, &status);
    if (r < 0)
        return fail(k, "certificate", HERALD_ERR_TLS,
                    "fix the server's certificate, or set ca_file or "
                    "tls_fingerprint", "the certificate of %s could not be "
                    "verified: %s", s->where, gnutls_strerror(r));
    if (status != 0) {
        struct hbuf why = {0}, todo = {0};
        hn_cert_problems(&ci, status, s->cfg.host, s->cfg.ca_file, &why, &todo);
        herald_class cls = fail(k, "certificate", HERALD_ERR_TLS,
                                todo.data ? todo.data : "fix the server's certificate",
                                "the certificate of %s is rejected: %s. It is "
                                "%s, issued by %s, valid %s to %s", s->where,
                                why.data ? why.data : "verification failed",
                                ci.subject, ci.issuer, ci.from, ci.until);
        hbuf_free(&why);
        hbuf_free(&todo);
        return cls;
    }
    const char *trust = s->cfg.ca_file ? "ca_file" : "the system's CAs";
    if (days < EXPIRY_WARN_DAYS) {
        snprintf(fix, sizeof fix, "the server's certificate must be renewed "
                 "before %s, or every send fails from then on", ci.until);
        say(k, "certificate", HERALD_CHECK_WARN, fix, "valid for %s, but it "
            "expires on %s (in %ld day%s): %s, issued by %s", s->cfg.host,
            ci.until, days, days == 1 ? "" : "s", ci.subject, ci.issuer);
        return HERALD_OK;
    }
    say(k, "certificate", HERALD_CHECK_OK, NULL, "valid for %s until %s (%ld "
        "days), trusted through %s: %s, issued by %s", s->cfg.host, ci.until,
        days, trust, ci.subject, ci.issuer);
    return HERALD_OK;
}

static herald_class auth_step(struct ck *k)
{
    struct smtp *s = k->s;
    struct hbuf offered = {0};
    mech_list(k->c->mechs, &offered);
    const char *o = offered.data ? offered.data : "";
    herald_class rc = HERALD_OK;
    begin(k);
    if (!s->cfg.username) {
        say(k, "auth", HERALD_CHECK_INFO, NULL, "no credentials configured%s%s",
            o[0] ? "; the server offers AUTH" : "", o);
    } else {
        unsigned mech;
        const char *name = smtp_auth_pick(s, k->c->mechs, &mech);
        if ((rc = smtp_auth(s, k->c)) != HERALD_OK)
            fail_recorded(k, "auth", rc);
        else
            say(k, "auth", HERALD_CHECK_OK, NULL, "authenticated as %s with AUTH "
                "%s (offered:%s)", s->cfg.username, name ? name : "?", o);
    }
    hbuf_free(&offered);
    return rc;
}

/* ---- send_test: the envelope without DATA ------------------------------ */

/* The bare address of the channel's `from` ("Name <a@b>" -> "a@b"). */
static void channel_sender(struct smtp *s, char *out, size_t size)
{
    const char *from = s->host->opt_str(s->ch, "from");
    const char *lt = from ? strrchr(from, '<') : NULL;
    const char *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt)
        snprintf(out, size, "%.*s", (int)(gt - lt - 1), lt + 1);
    else
        snprintf(out, size, "%s", from ? from : "");
}

/* MAIL FROM:<@addr> (@mail) or RCPT TO:<@addr> of send_test, as @step. */
static herald_class envelope_step(struct ck *k, const char *step, int mail,
                                  const char *addr, struct smtp_reply *r)
{
    struct smtp *s = k->s;
    char line[600];
    begin(k);
    snprintf(line, sizeof line, "%s:<%s>", mail ? "MAIL FROM" : "RCPT TO", addr);
    herald_class rc = smtp_command(s, k->c, line, NULL, r);
    if (rc != HERALD_OK)
        return fail_recorded(k, step, rc);
    char *txt = smtp_reply_flat(r);
    const char *text = txt ? txt : "";
    if (r->code >= 200 && r->code < 300) {
        say(k, step, HERALD_CHECK_OK, NULL, "%s accepted: %d %.300s%s", line,
            r->code, text, mail ? "" : " (no DATA: nothing is delivered)");
        free(txt);
        return HERALD_OK;
    }
    if (mail) {
        struct smtp_txn t;
        memset(&t, 0, sizeof t);
        t.from = addr;
        rc = smtp_sender_refused(s, &t, r); /* the check's error, with its fix */
    } else {
        rc = smtp_fix(s, smtp_fail(s, r->code >= 500 ? HERALD_ERR_RECIPIENT_REJECTED
                                                     : HERALD_ERR_TEMPORARY, r,
                                   "%s rejected the recipient %s: %d %s",
                                   s->where, addr, r->code, text),
                      "%s", r->code >= 500 ? "check the address; a relay "
                      "refusal (\"relay access denied\") means this account "
                      "may not send there" : "this refusal is temporary: try "
                      "again later");
    }
    say(k, step, HERALD_CHECK_FAIL, s->err.fix, "%s refused: %d %.300s", line,
        r->code, text);
    free(txt);
    return rc;
}

static herald_class envelope_steps(struct ck *k, const char *to)
{
    struct smtp *s = k->s;
    char from[400];
    channel_sender(s, from, sizeof from);
    const char *why = !from[0] ? "the channel has no `from` to try"
                      : smtp_bad_address(from) ? "the channel's `from` is unusable"
                      : smtp_bad_address(to) ? "the send_test address is unusable"
                      : NULL;
    begin(k);
    if (why) {
        report(k, "sender", HERALD_CHECK_WARN, why,
               "set from = Name <address> and give a plain address to test");
        return HERALD_OK;
    }
    struct smtp_reply r = {0};
    herald_class rc = envelope_step(k, "sender", 1, from, &r);
    if (rc == HERALD_OK)
        rc = envelope_step(k, "recipient", 0, to, &r);
    if (!k->c->broken && !k->c->lost)
        smtp_command(s, k->c, "RSET", NULL, &r); /* no DATA: nothing delivered */
    hbuf_free(&r.text);
    return rc;
}

/* ---- the whole check --------------------------------------------------- */

/* resolve and connect */
static herald_class reach(struct ck *k)
{
    struct addrinfo *ai = NULL;
    herald_class rc = resolve_step(k, &ai);
    if (rc == HERALD_OK)
        rc = connect_step(k, ai);
    if (ai)
        freeaddrinfo(ai);
    return rc;
}

/* what the port speaks, greeting, EHLO, STARTTLS, certificate, AUTH */
static herald_class talk(struct ck *k, struct smtp_reply *r)
{
    struct smtp *s = k->s;
    herald_class rc;
    if (s->cfg.tls == SMTP_TLS_IMPLICIT) {
        rc = implicit_tls_step(k);
        if (rc == HERALD_OK)
            rc = cert_step(k);
        if (rc == HERALD_OK) {
            begin(k);
            rc = smtp_greet(s, k->c, r);
            if (rc != HERALD_OK)
                return fail_recorded(k, "greeting", rc);
            say(k, "greeting", HERALD_CHECK_OK, NULL, "%d %.400s", r->code,
                r->text.data ? r->text.data : "");
        }
        if (rc == HERALD_OK)
            rc = ehlo_step(k, "ehlo", r);
    } else {
        rc = plain_greeting_step(k, r);
        if (rc == HERALD_OK)
            rc = ehlo_step(k, "ehlo", r);
        if (rc == HERALD_OK && s->cfg.tls == SMTP_TLS_NONE) {
            begin(k);
            if (k->c->ext & SMTP_EXT_STARTTLS)
                report(k, "tls", HERALD_CHECK_WARN, "tls = none: mail travels "
                       "in clear text, although the server offers STARTTLS",
                       "use tls = starttls: the server offers it");
            else
                report(k, "tls", HERALD_CHECK_WARN, "tls = none: mail travels "
                       "in clear text (the server offers no STARTTLS)",
                       "use tls = starttls (port 587) or tls = implicit (465) "
                       "with a server that offers TLS");
        }
        if (rc == HERALD_OK && s->cfg.tls == SMTP_TLS_STARTTLS) {
            rc = starttls_step(k, r);
            if (rc == HERALD_OK)
                rc = cert_step(k);
            if (rc == HERALD_OK)
                rc = ehlo_step(k, "ehlo after tls", r);
        }
    }
    if (rc == HERALD_OK)
        rc = auth_step(k);
    return rc;
}

herald_class smtp_check(void *state, herald_checker *chk, herald_error **err_r)
{
    struct smtp *s = state;
    struct ck k;
    memset(&k, 0, sizeof k);
    k.s = s;
    k.chk = chk;
    smtp_err_clear(s);
    if (!(k.c = malloc(sizeof *k.c)))
        return s->host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                              "out of memory");
    net_init(k.c);
    k.c->defer_verify = 1; /* cert_step verifies, and names the problem */
    struct smtp_reply r = {0};
    herald_class rc = reach(&k);
    if (rc == HERALD_OK)
        rc = talk(&k, &r);
    hbuf_free(&r.text);
    const char *to = s->host->check_param(chk, "send_test");
    if (rc == HERALD_OK && to)
        rc = envelope_steps(&k, to);
    begin(&k);
    smtp_quit(s, k.c); /* QUIT when the session is still sane, then close */
    if (rc == HERALD_OK)
        report(&k, "quit", HERALD_CHECK_OK, "closed the session with QUIT", NULL);
    free(k.c);
    return smtp_err_report(s, rc, err_r);
}
