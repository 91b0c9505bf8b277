/*
 * plugins/smtp/check.h - what the files of the smtp driver's diagnosis
 * (`herald doctor`, the descriptor's check hook) share:
 *
 *   check.c          the order of the steps (smtp_check) and reporting them
 *   check_reach.c    resolve, connect, and the port probe after a filtered
 *                    connect (through the network kit, net_diag.h)
 *   check_tls.c      what the port speaks against the `tls` setting,
 *                    STARTTLS, and the certificate
 *   check_session.c  EHLO, AUTH, and send_test's MAIL FROM / RCPT TO
 *
 * Each step reports itself (ck_say, ck_report) with its time since
 * ck_begin; a failed step is also recorded as the check's error (ck_fail,
 * or ck_fail_recorded for an error the session code recorded), and the
 * first failure ends the check.  Private to the driver; prefix ck_.
 */
#ifndef HERALD_SMTP_CHECK_H
#define HERALD_SMTP_CHECK_H

#include "smtp.h"
#include "net_diag.h"

#include <sys/socket.h>

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

/* ---- reporting (check.c) ------------------------------------------------ */

/* A step begins now: ck_report times it from here. */
void ck_begin(struct ck *k);
/* Report @step with its @detail and @fix (NULL for none). */
void ck_report(struct ck *k, const char *step, herald_check_status st,
               const char *detail, const char *fix);
/* Report a step with a printf-formatted detail. */
void ck_say(struct ck *k, const char *step, herald_check_status st,
            const char *fix, const char *fmt, ...) HERALD_PRINTF(5, 6);
/* A failed step with its own what (@fmt) and @fix; recorded as the
 * check's error too (class @cls), the two kept apart.  Returns @cls. */
herald_class ck_fail(struct ck *k, const char *step, herald_class cls,
                     const char *fix, const char *fmt, ...) HERALD_PRINTF(5, 6);
/* A failed step whose error the session code recorded: its what and its
 * fix, as recorded.  Returns @rc. */
herald_class ck_fail_recorded(struct ck *k, const char *step, herald_class rc);

/* ---- the steps ---------------------------------------------------------- */

/* check_reach.c: resolve, then connect k->c (the port probe when filtered). */
herald_class ck_reach(struct ck *k);

/* check_tls.c */
/* tls = implicit: the handshake tells whether the port speaks TLS. */
herald_class ck_implicit_tls_step(struct ck *k);
/* tls = starttls or none: the port must greet in plain text; without a
 * greeting, a TLS handshake on the same connection tells implicit TLS. */
herald_class ck_plain_greeting_step(struct ck *k, struct smtp_reply *r);
herald_class ck_starttls_step(struct ck *k, struct smtp_reply *r);
/* The peer's certificate: the pin, or verification against the trust and
 * the host name, and its expiry (a warning when under 14 days). */
herald_class ck_cert_step(struct ck *k);

/* check_session.c */
/* EHLO as @step ("ehlo", "ehlo after tls"), reporting what is offered. */
herald_class ck_ehlo_step(struct ck *k, const char *step, struct smtp_reply *r);
herald_class ck_auth_step(struct ck *k);
/* send_test: MAIL FROM the channel's `from`, RCPT TO @to, then RSET (no
 * DATA: nothing is delivered). */
herald_class ck_envelope_steps(struct ck *k, const char *to);

#endif /* HERALD_SMTP_CHECK_H */
