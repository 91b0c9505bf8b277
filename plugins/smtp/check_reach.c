/*
 * plugins/smtp/check_reach.c - the first steps of the smtp driver's
 * diagnosis: resolve the host within connect_timeout, connect (connected,
 * refused, unreachable or filtered, by the network kit's classification),
 * and after a filtered connect the port probe: ports 25, 465 and 587 on
 * the same address and probe_host (443) at once, to tell a blocked port
 * from a dead server or network.  Resolving, connecting and probing are
 * the network kit's (net_diag.h); the verdicts and fixes are here.
 */
#include "check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const int smtp_ports[] = {25, 465, 587};

/* ---- resolve ----------------------------------------------------------- */

static herald_class resolve_step(struct ck *k, struct addrinfo **ai_r)
{
    struct smtp *s = k->s;
    char secs[32];
    int timed_out;
    ck_begin(k);
    int r = hn_resolve(s->cfg.host, s->cfg.port, s->cfg.connect_ms, ai_r, &timed_out);
    if (timed_out)
        return ck_fail(k, "resolve", HERALD_ERR_TEMPORARY,
                       "check this machine's DNS resolver (/etc/resolv.conf) and "
                       "try again",
                       "no DNS answer for %s within %ss (connect_timeout)",
                       s->cfg.host, smtp_secs(s->cfg.connect_ms, secs));
    if (r == EAI_AGAIN)
        return ck_fail(k, "resolve", HERALD_ERR_TEMPORARY,
                       "check this machine's DNS resolver (/etc/resolv.conf) and "
                       "try again",
                       "the DNS lookup of %s failed for now (%s)", s->cfg.host,
                       gai_strerror(r));
    if (r != 0) {
        char fix[400];
        snprintf(fix, sizeof fix, "check host = %s for a typo, and that this "
                 "machine's DNS works", s->cfg.host);
        return ck_fail(k, "resolve", HERALD_ERR_HOST_NOT_FOUND, fix,
                       "cannot resolve %s: %s", s->cfg.host,
                       r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
    }
    struct hbuf b = {0};
    hn_addrs_text(*ai_r, &b);
    ck_say(k, "resolve", HERALD_CHECK_OK, NULL, "%s resolves to %s", s->cfg.host,
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
    ck_begin(k);
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
        ck_say(k, "port probe", HERALD_CHECK_WARN, fix,
               "inconclusive: %s; with no probe_host to compare with, herald "
               "cannot tell whether this machine's outbound SMTP is filtered or "
               "the server or network is down", evidence);
    } else if (perr != 0) {
        snprintf(fix, sizeof fix, "%scheck probe_host = %s and this machine's "
                 "DNS", alt, s->cfg.probe_host);
        ck_say(k, "port probe", HERALD_CHECK_WARN, fix,
               "inconclusive: %s; probe_host %s cannot be resolved (%s)", evidence,
               s->cfg.probe_host, ptimeout ? "no DNS answer in time" : gai_strerror(perr));
    } else if (presult == 0) {
        snprintf(fix, sizeof fix, "%suse an HTTP API driver (mailgun, sendgrid, "
                 "ses, resend, postmark) or ask the provider to lift the block", alt);
        ck_say(k, "port probe", HERALD_CHECK_FAIL, fix,
               "outbound SMTP is blocked from this machine (typical of GCP, AWS, "
               "Azure, DigitalOcean): %s", evidence);
    } else if (presult == ECONNREFUSED) {
        snprintf(fix, sizeof fix, "%sset probe_host to a host that answers on "
                 "that port (e.g. api.mailgun.net, port 443)", alt);
        ck_say(k, "port probe", HERALD_CHECK_WARN, fix,
               "inconclusive: %s; probe_host refused the connection, so it cannot "
               "serve as a reference", evidence);
    } else {
        snprintf(fix, sizeof fix, "%scheck this machine's network connection, "
                 "routes, firewall and proxy settings", alt);
        ck_say(k, "port probe", HERALD_CHECK_FAIL, fix,
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
    switch (hn_classify(e)) { /* the kit's classification, as HTTP's check */
    case HN_FILTERED: {
        herald_class rc = ck_fail(k, "connect", HERALD_ERR_TIMEOUT,
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
    case HN_REFUSED:
        snprintf(fix, sizeof fix, "check host and port (587 for STARTTLS, 465 "
                 "for implicit TLS) and that the mail server is running on %s",
                 s->cfg.host);
        return ck_fail(k, "connect", HERALD_ERR_CONNECT, fix,
                       "refused: %s answered port %d with a reset (nothing listens "
                       "there, or a firewall rejects the connection)%s", ip,
                       s->cfg.port, tried);
    case HN_UNREACHABLE:
        return ck_fail(k, "connect", HERALD_ERR_CONNECT,
                       "check this machine's network connection, routes, IPv6 "
                       "setup and firewall",
                       "unreachable: this machine has no route to %s (%s)%s", ip,
                       strerror(e), tried);
    case HN_CONNECTED:
    case HN_OTHER:
    default:
        return ck_fail(k, "connect", HERALD_ERR_CONNECT,
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
    ck_begin(k);
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
        ck_say(k, "connect", HERALD_CHECK_OK, NULL, "connected to %s port %d%s%s%s",
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
        return ck_fail(k, "connect", HERALD_ERR_CONNECT, "check host",
                       "%s has no address to connect to", s->cfg.host);
    return connect_failed(k, r.err, r.addr, more);
}


/* resolve and connect */
herald_class ck_reach(struct ck *k)
{
    struct addrinfo *ai = NULL;
    herald_class rc = resolve_step(k, &ai);
    if (rc == HERALD_OK)
        rc = connect_step(k, ai);
    if (ai)
        freeaddrinfo(ai);
    return rc;
}
