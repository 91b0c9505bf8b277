/*
 * plugins/smtp/check_tls.c - the TLS steps of the smtp driver's
 * diagnosis: what the port speaks (a 220 greeting, or a TLS handshake)
 * against the `tls` setting, with the fix when they disagree; STARTTLS;
 * and the certificate: the pin, or verification against ca_file or the
 * system's CAs and the host name, each problem named (through the network
 * kit's hn_cert_*), and an expiry warning.  Handshakes here do not verify
 * (conn.defer_verify): ck_cert_step does, so that nothing follows a
 * rejected certificate.
 */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPIRY_WARN_DAYS 14

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
herald_class ck_implicit_tls_step(struct ck *k)
{
    struct smtp *s = k->s;
    struct smtp_conn *c = k->c;
    char secs[32];
    ck_begin(k);
    herald_class rc = net_tls_start(s, c, s->cfg.greeting_ms, 1);
    if (rc == HERALD_OK) {
        char *d = tls_desc(c);
        ck_say(k, "tls", HERALD_CHECK_OK, NULL, "port %d speaks implicit TLS, as "
               "tls = implicit expects: %s", s->cfg.port, d ? d : "TLS");
        free(d);
        return HERALD_OK;
    }
    if (starts_with_220(c)) {
        smtp_err_clear(s);
        int offered = offers_starttls(k);
        if (offered == 0)
            return ck_fail(k, "tls", HERALD_ERR_CONFIG,
                           "use the server's TLS port (465 for implicit TLS, 587 "
                           "for STARTTLS), or tls = none only on a trusted "
                           "network and without credentials",
                           "port %d speaks plain SMTP without STARTTLS, not "
                           "implicit TLS: it answered the TLS handshake with a "
                           "\"220\" greeting", s->cfg.port);
        return ck_fail(k, "tls", HERALD_ERR_CONFIG, "set tls = starttls",
                       "port %d speaks plain SMTP%s, not implicit TLS: it "
                       "answered the TLS handshake with a \"220\" greeting",
                       s->cfg.port, offered == 1 ? " with STARTTLS" : "");
    }
    if (rc == HERALD_ERR_TIMEOUT && c->n_first == 0) {
        smtp_err_clear(s);
        return ck_fail(k, "tls", HERALD_ERR_TIMEOUT,
                       "check host and port (465 speaks implicit TLS, 587 "
                       "STARTTLS), or raise greeting_timeout for a slow server",
                       "%s accepted the connection but answered neither the TLS "
                       "handshake nor with an SMTP greeting within %ss "
                       "(greeting_timeout)", s->where,
                       smtp_secs(s->cfg.greeting_ms, secs));
    }
    return ck_fail_recorded(k, "tls", rc);
}

/* tls = starttls or none: the port must greet in plain text.  No greeting
 * at all: try a TLS handshake on the same connection. */
herald_class ck_plain_greeting_step(struct ck *k, struct smtp_reply *r)
{
    struct smtp *s = k->s;
    struct smtp_conn *c = k->c;
    char secs[32];
    ck_begin(k);
    herald_class rc = smtp_greet(s, c, r);
    if (rc == HERALD_OK) {
        ck_say(k, "greeting", HERALD_CHECK_OK, NULL, "%d %.400s (plain SMTP, as "
               "tls = %s expects)", r->code, r->text.data ? r->text.data : "",
               s->cfg.tls == SMTP_TLS_NONE ? "none" : "starttls");
        return HERALD_OK;
    }
    if (rc != HERALD_ERR_TIMEOUT || c->rlen > 0)
        return ck_fail_recorded(k, "greeting", rc);
    smtp_err_clear(s);
    smtp_secs(s->cfg.greeting_ms, secs);
    rc = net_tls_start(s, c, s->cfg.greeting_ms, 1);
    c->broken = 1; /* whatever it speaks, this session ends here */
    if (rc == HERALD_OK)
        return ck_fail(k, "tls", HERALD_ERR_CONFIG, "set tls = implicit",
                       "port %d speaks implicit TLS, not plain SMTP: no greeting "
                       "came in %ss (greeting_timeout), but a TLS handshake "
                       "succeeded (%s), so tls = %s cannot work here", s->cfg.port,
                       secs, gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls)),
                       s->cfg.tls == SMTP_TLS_NONE ? "none" : "starttls");
    int plain = starts_with_220(c);
    smtp_err_clear(s);
    if (plain)
        return ck_fail(k, "greeting", HERALD_ERR_TIMEOUT,
                       "raise greeting_timeout",
                       "%s sent its 220 greeting only after greeting_timeout "
                       "(%ss)", s->where, secs);
    return ck_fail(k, "greeting", HERALD_ERR_TIMEOUT,
                   "check host and port (587 speaks STARTTLS, 465 implicit TLS)",
                   "%s accepted the connection but sent no SMTP greeting in %ss "
                   "(greeting_timeout) and did not answer a TLS handshake either",
                   s->where, secs);
}

/* ---- STARTTLS and the certificate -------------------------------------- */

herald_class ck_starttls_step(struct ck *k, struct smtp_reply *r)
{
    ck_begin(k);
    herald_class rc = smtp_starttls(k->s, k->c, r);
    if (rc != HERALD_OK)
        return ck_fail_recorded(k, "starttls", rc);
    char *d = tls_desc(k->c);
    ck_say(k, "starttls", HERALD_CHECK_OK, NULL, "TLS after STARTTLS: %s",
           d ? d : "TLS");
    free(d);
    return HERALD_OK;
}

herald_class ck_cert_step(struct ck *k)
{
    struct smtp *s = k->s;
    struct smtp_conn *c = k->c;
    struct hn_cert ci;
    char fix[600];
    ck_begin(k);
    if (hn_cert_read(c->tls, &ci) != 0)
        return ck_fail(k, "certificate", HERALD_ERR_TLS, "check host and port",
                       "%s sent no readable certificate", s->where);
    long days = ci.days_left;
    if (s->cfg.has_pin) {
        herald_class rc = net_check_pin(s, c);
        if (rc != HERALD_OK)
            return ck_fail_recorded(k, "certificate", rc);
        if (days < EXPIRY_WARN_DAYS) {
            snprintf(fix, sizeof fix, "when the server renews it, set "
                     "tls_fingerprint to the new certificate's sha256");
            ck_say(k, "certificate", HERALD_CHECK_WARN, fix, "matches "
                   "tls_fingerprint, but expires on %s (in %ld days): %s",
                   ci.until, days, ci.subject);
            return HERALD_OK;
        }
        ck_say(k, "certificate", HERALD_CHECK_OK, NULL, "matches tls_fingerprint: "
               "%s, expires %s", ci.subject, ci.until);
        return HERALD_OK;
    }
    if (!s->cfg.verify) {
        snprintf(fix, sizeof fix, "set tls_verify = yes (with ca_file for a "
                 "private CA) or pin it with tls_fingerprint = %s", ci.fp);
        ck_say(k, "certificate", HERALD_CHECK_WARN, fix, "NOT verified (tls_verify "
               "= no): %s, for %s, issued by %s, expires %s", ci.subject, ci.names,
               ci.issuer, ci.until);
        return HERALD_OK;
    }
    unsigned status = 0;
    int r = hn_cert_verify(c->tls, s->cfg.host, &status);
    if (r < 0)
        return ck_fail(k, "certificate", HERALD_ERR_TLS,
                       "fix the server's certificate, or set ca_file or "
                       "tls_fingerprint", "the certificate of %s could not be "
                       "verified: %s", s->where, gnutls_strerror(r));
    if (status != 0) {
        struct hbuf why = {0}, todo = {0};
        hn_cert_problems(&ci, status, s->cfg.host, s->cfg.ca_file, &why, &todo);
        herald_class cls = ck_fail(k, "certificate", HERALD_ERR_TLS,
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
        ck_say(k, "certificate", HERALD_CHECK_WARN, fix, "valid for %s, but it "
               "expires on %s (in %ld day%s): %s, issued by %s", s->cfg.host,
               ci.until, days, days == 1 ? "" : "s", ci.subject, ci.issuer);
        return HERALD_OK;
    }
    ck_say(k, "certificate", HERALD_CHECK_OK, NULL, "valid for %s until %s (%ld "
           "days), trusted through %s: %s, issued by %s", s->cfg.host, ci.until,
           days, trust, ci.subject, ci.issuer);
    return HERALD_OK;
}
