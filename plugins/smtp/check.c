/*
 * plugins/smtp/check.c - the smtp driver's diagnosis (`herald doctor`):
 * each step of reaching the server, timed, with its cause and its fix.
 * This file holds the order of the steps (smtp_check) and their reporting;
 * the steps themselves are in check_reach.c, check_tls.c and
 * check_session.c (see check.h).
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
#include "check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reporting --------------------------------------------------------- */

void ck_begin(struct ck *k)
{
    k->t0 = hn_now_ms();
}

void ck_report(struct ck *k, const char *step, herald_check_status st,
                  const char *detail, const char *fix)
{
    double ms = hn_now_ms() - k->t0;
    k->s->host->report_step(k->chk, step, st, ms < 0 ? 0 : ms, detail, fix);
}

/* Format @fmt into @detail and report the step with it. */
static void vsay(struct ck *k, const char *step, herald_check_status st,
                 const char *fix, char *detail, size_t size, const char *fmt,
                 va_list ap)
{
    vsnprintf(detail, size, fmt, ap);
    ck_report(k, step, st, detail, fix);
}

void ck_say(struct ck *k, const char *step, herald_check_status st,
               const char *fix, const char *fmt, ...)
{
    char detail[1400];
    va_list ap;
    va_start(ap, fmt);
    vsay(k, step, st, fix, detail, sizeof detail, fmt, ap);
    va_end(ap);
}

herald_class ck_fail(struct ck *k, const char *step, herald_class cls,
                        const char *fix, const char *fmt, ...)
{
    char detail[1400];
    va_list ap;
    va_start(ap, fmt);
    vsay(k, step, HERALD_CHECK_FAIL, fix, detail, sizeof detail, fmt, ap);
    va_end(ap);
    return smtp_fix(k->s, smtp_fail(k->s, cls, NULL, "%s", detail), "%s", fix);
}

herald_class ck_fail_recorded(struct ck *k, const char *step, herald_class rc)
{
    ck_report(k, step, HERALD_CHECK_FAIL,
                 k->s->err.msg ? k->s->err.msg : "failed (out of memory)",
                 k->s->err.fix);
    return rc;
}

/* ---- the whole check --------------------------------------------------- */

/* what the port speaks, greeting, EHLO, STARTTLS, certificate, AUTH */
static herald_class talk(struct ck *k, struct smtp_reply *r)
{
    struct smtp *s = k->s;
    herald_class rc;
    if (s->cfg.tls == SMTP_TLS_IMPLICIT) {
        rc = ck_implicit_tls_step(k);
        if (rc == HERALD_OK)
            rc = ck_cert_step(k);
        if (rc == HERALD_OK) {
            ck_begin(k);
            rc = smtp_greet(s, k->c, r);
            if (rc != HERALD_OK)
                return ck_fail_recorded(k, "greeting", rc);
            ck_say(k, "greeting", HERALD_CHECK_OK, NULL, "%d %.400s", r->code,
                   r->text.data ? r->text.data : "");
        }
        if (rc == HERALD_OK)
            rc = ck_ehlo_step(k, "ehlo", r);
    } else {
        rc = ck_plain_greeting_step(k, r);
        if (rc == HERALD_OK)
            rc = ck_ehlo_step(k, "ehlo", r);
        if (rc == HERALD_OK && s->cfg.tls == SMTP_TLS_NONE) {
            ck_begin(k);
            if (k->c->ext & SMTP_EXT_STARTTLS)
                ck_report(k, "tls", HERALD_CHECK_WARN, "tls = none: mail travels "
                          "in clear text, although the server offers STARTTLS",
                          "use tls = starttls: the server offers it");
            else
                ck_report(k, "tls", HERALD_CHECK_WARN, "tls = none: mail travels "
                          "in clear text (the server offers no STARTTLS)",
                          "use tls = starttls (port 587) or tls = implicit (465) "
                          "with a server that offers TLS");
        }
        if (rc == HERALD_OK && s->cfg.tls == SMTP_TLS_STARTTLS) {
            rc = ck_starttls_step(k, r);
            if (rc == HERALD_OK)
                rc = ck_cert_step(k);
            if (rc == HERALD_OK)
                rc = ck_ehlo_step(k, "ehlo after tls", r);
        }
    }
    if (rc == HERALD_OK)
        rc = ck_auth_step(k);
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
    herald_class rc = ck_reach(&k);
    if (rc == HERALD_OK)
        rc = talk(&k, &r);
    hbuf_free(&r.text);
    const char *to = s->host->check_param(chk, "send_test");
    if (rc == HERALD_OK && to)
        rc = ck_envelope_steps(&k, to);
    ck_begin(&k);
    smtp_quit(s, k.c); /* QUIT when the session is still sane, then close */
    if (rc == HERALD_OK)
        ck_report(&k, "quit", HERALD_CHECK_OK, "closed the session with QUIT", NULL);
    free(k.c);
    return smtp_err_report(s, rc, err_r);
}
