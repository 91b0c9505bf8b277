/*
 * plugins/smtp/net.c - sockets and TLS for the smtp driver.
 *
 * Every socket is non-blocking and every wait is a poll() against a
 * deadline, so each phase (connect, greeting, command, data) has its own
 * timeout.  Writes use MSG_NOSIGNAL (also under GnuTLS, through our own
 * push function), so a closed peer never raises SIGPIPE.  GnuTLS reads
 * through our pull function, which keeps the first bytes it sees: when an
 * implicit-TLS handshake fails on "220", the server speaks plain SMTP.
 * Also here: the EHLO name, from the host name or the socket's address.
 */
#include "smtp.h"
#include "net_diag.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>

void net_init(struct smtp_conn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* ---- resolve and connect ----------------------------------------------- */

herald_class net_resolve(struct smtp *s, struct addrinfo **ai_r)
{
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof port, "%d", s->cfg.port);
    int r = getaddrinfo(s->cfg.host, port, &hints, ai_r);
    if (r == 0)
        return HERALD_OK;
    *ai_r = NULL;
    const char *why = r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r);
    if (r == EAI_AGAIN)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_TEMPORARY, NULL,
                                  "DNS lookup of %s failed for now (%s)",
                                  s->cfg.host, why),
                        "the resolver is unreachable or slow: check this machine's "
                        "DNS (/etc/resolv.conf) and try again");
    return smtp_fix(s, smtp_fail(s, HERALD_ERR_HOST_NOT_FOUND, NULL,
                              "cannot resolve the SMTP server %s (%s)",
                              s->cfg.host, why),
                    "check `host = %s` for a typo and that this machine's DNS "
                    "works",
                    s->cfg.host);
}

static herald_class connect_failed(struct smtp *s, int e)
{
    char t[32];
    switch (e) {
    case ETIMEDOUT:
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_TIMEOUT, NULL,
                                  "no answer from %s in %ss; outbound SMTP is often blocked by "
                                  "cloud providers (GCP, AWS, Azure, DigitalOcean)",
                                  s->where, smtp_secs(s->cfg.connect_ms, t)),
                        "try port 587/465 or an HTTP API driver such as mailgun");
    case ECONNREFUSED:
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_CONNECT, NULL,
                                  "connection to %s refused: nothing listens on port %d there",
                                  s->where, s->cfg.port),
                        "check host and port (587 for STARTTLS, 465 for implicit "
                        "TLS) and that the mail server is running");
    case ENETUNREACH:
    case EHOSTUNREACH:
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_CONNECT, NULL,
                                  "network unreachable: this machine has no route to %s (%s)",
                                  s->where, strerror(e)),
                        "check its network connection, IPv6 setup and firewall");
    default:
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_CONNECT, NULL,
                                  "cannot connect to %s: %s",
                                  s->where, strerror(e)),
                        "check host, port and the firewall");
    }
}

herald_class net_connect(struct smtp *s, struct smtp_conn *c,
                         const struct addrinfo *ai)
{
    struct hn_connect r;
    if (hn_connect(ai, s->cfg.connect_ms, &r, NULL) >= 0) {
        c->fd = r.fd;
        return HERALD_OK;
    }
    return connect_failed(s, r.err ? r.err : EHOSTUNREACH);
}

/* ---- TLS --------------------------------------------------------------- */

static ssize_t tls_push(gnutls_transport_ptr_t p, const void *buf, size_t n)
{
    struct smtp_conn *c = p;
    ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            c->sys_errno = errno;
        gnutls_transport_set_errno(c->tls, errno);
    }
    return r;
}

static ssize_t tls_pull(gnutls_transport_ptr_t p, void *buf, size_t n)
{
    struct smtp_conn *c = p;
    ssize_t r = recv(c->fd, buf, n, MSG_DONTWAIT);
    if (r < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            c->sys_errno = errno;
        gnutls_transport_set_errno(c->tls, errno);
        return r;
    }
    for (ssize_t i = 0; i < r && c->n_first < sizeof c->first; i++)
        c->first[c->n_first++] = ((unsigned char *)buf)[i];
    return r;
}

static int tls_pull_timeout(gnutls_transport_ptr_t p, unsigned ms)
{
    struct smtp_conn *c = p;
    struct pollfd pfd = {c->fd, POLLIN, 0};
    int r = poll(&pfd, 1, ms > INT_MAX ? INT_MAX : (int)ms);
    return r < 0 ? -1 : r;
}

/* Wait for the direction GnuTLS is blocked on. */
static int tls_wait(struct smtp_conn *c, long long deadline)
{
    short ev = gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN;
    return hn_wait_fd(c->fd, ev, deadline);
}

static int is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static herald_class tls_session_new(struct smtp *s, struct smtp_conn *c)
{
    int r = gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK);
    if (r >= 0)
        r = gnutls_set_default_priority(c->tls);
    if (r >= 0)
        r = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, s->cred);
    if (r >= 0 && !is_ip_literal(s->cfg.host))
        r = gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, s->cfg.host,
                                   strlen(s->cfg.host));
    if (r >= 0 && s->cfg.verify && !s->cfg.has_pin && !c->defer_verify)
        gnutls_session_set_verify_cert(c->tls, s->cfg.host, 0);
    if (r < 0)
        return smtp_fail(s, HERALD_ERR_INTERNAL, NULL,
                         "cannot set up a TLS session for %s: %s", s->where,
                         gnutls_strerror(r));
    gnutls_transport_set_ptr(c->tls, c);
    gnutls_transport_set_push_function(c->tls, tls_push);
    gnutls_transport_set_pull_function(c->tls, tls_pull);
    gnutls_transport_set_pull_timeout_function(c->tls, tls_pull_timeout);
    gnutls_handshake_set_timeout(c->tls, 0);
    c->n_first = 0;
    return HERALD_OK;
}

/* What to do about a certificate GnuTLS refused, from its status bits. */
static const char *cert_fix(unsigned status)
{
    if (status & GNUTLS_CERT_UNEXPECTED_OWNER)
        return "the certificate was issued for another name: set host to a "
               "name the certificate lists (not an alias or address)";
    if (status & GNUTLS_CERT_EXPIRED)
        return "the server's certificate has expired: it must be renewed on "
               "the server (check this machine's clock too)";
    if (status & GNUTLS_CERT_NOT_ACTIVATED)
        return "the certificate is not valid yet: check this machine's clock";
    if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA))
        return "it is not signed by a CA this machine trusts: set ca_file to "
               "the CA certificate that signed it, or pin the certificate "
               "with tls_fingerprint";
    if (status & GNUTLS_CERT_REVOKED)
        return "the certificate was revoked: the server must get a new one";
    return "fix the server's certificate, or set ca_file / tls_fingerprint";
}

static herald_class cert_rejected(struct smtp *s, struct smtp_conn *c)
{
    unsigned status = gnutls_session_get_verify_cert_status(c->tls);
    gnutls_datum_t out = {NULL, 0};
    const char *reason = "verification failed";
    if (gnutls_certificate_verification_status_print(
            status, gnutls_certificate_type_get(c->tls), &out, 0) >= 0 && out.data) {
        reason = (const char *)out.data;
        for (size_t n = strlen(reason); n > 0 && out.data[n - 1] == ' '; n--)
            out.data[n - 1] = '\0';
    }
    smtp_fix(s, smtp_fail(s, HERALD_ERR_TLS, NULL,
                       "the TLS certificate of %s was rejected: %s",
                       s->where, reason),
             "%s",
             cert_fix(status));
    gnutls_free(out.data);
    return HERALD_ERR_TLS;
}

int net_peer_cert(const struct smtp_conn *c, gnutls_datum_t *der)
{
    unsigned n = 0;
    const gnutls_datum_t *list = gnutls_certificate_get_peers(c->tls, &n);
    if (!list || n == 0)
        return -1;
    *der = list[0];
    return 0;
}

herald_class net_check_pin(struct smtp *s, struct smtp_conn *c)
{
    gnutls_datum_t der;
    unsigned char got[32];
    if (net_peer_cert(c, &der) != 0 ||
        gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, got) < 0)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_TLS, NULL,
                                  "%s sent no certificate to check against tls_fingerprint",
                                  s->where),
                        "check host and port");
    if (memcmp(got, s->cfg.pin, sizeof got) == 0)
        return HERALD_OK;
    char g[100], w[100];
    hn_hex_colons(got, sizeof got, g);
    hn_hex_colons(s->cfg.pin, sizeof s->cfg.pin, w);
    return smtp_fix(s, smtp_fail(s, HERALD_ERR_TLS, NULL,
                              "the certificate of %s does not match tls_fingerprint: the "
                              "server's sha256 fingerprint is %s, the pin is %s",
                              s->where, g, w),
                    "if the server's certificate was replaced on purpose, update "
                    "tls_fingerprint, otherwise someone may be intercepting the "
                    "connection");
}

static herald_class handshake_failed(struct smtp *s, struct smtp_conn *c,
                                     int r, int implicit)
{
    if (r == GNUTLS_E_CERTIFICATE_VERIFICATION_ERROR)
        return cert_rejected(s, c);
    if (implicit && c->n_first >= 3 && memcmp(c->first, "220", 3) == 0)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_TLS, NULL,
                                     "%s answered the TLS handshake with a "
                                     "plain-text SMTP greeting (\"220 ...\"): "
                                     "this server speaks plain SMTP on this "
                                     "port", s->where),
                        "use tls = starttls");
    if (c->sys_errno == ECONNRESET || c->sys_errno == EPIPE ||
        r == GNUTLS_E_PREMATURE_TERMINATION)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_TLS, NULL,
                                  "%s closed the connection during the TLS handshake",
                                  s->where),
                        "check tls (implicit for port 465, starttls for 587) and "
                        "that the server supports TLS 1.2 or newer");
    return smtp_fix(s, smtp_fail(s, HERALD_ERR_TLS, NULL,
                              "TLS handshake with %s failed: %s",
                              s->where, gnutls_strerror(r)),
                    "check tls (implicit for port 465, starttls for 587) and "
                    "that the server supports TLS 1.2 or newer");
}

herald_class net_tls_start(struct smtp *s, struct smtp_conn *c,
                           long timeout_ms, int implicit)
{
    herald_class rc = tls_session_new(s, c);
    if (rc != HERALD_OK)
        return rc;
    long long deadline = smtp_now_ms() + timeout_ms;
    for (;;) {
        int r = gnutls_handshake(c->tls);
        if (r == GNUTLS_E_SUCCESS)
            break;
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED ||
            !gnutls_error_is_fatal(r)) {
            if (tls_wait(c, deadline) != 1) {
                char t[32];
                c->broken = 1;
                return smtp_fix(s, smtp_fail(s, HERALD_ERR_TIMEOUT, NULL,
                                          "the TLS handshake with %s did not finish in %ss",
                                          s->where, smtp_secs(timeout_ms, t)),
                                "check tls (implicit for port 465, starttls for 587)");
            }
            continue;
        }
        c->broken = 1;
        return handshake_failed(s, c, r, implicit);
    }
    if (s->cfg.has_pin && !c->defer_verify) {
        rc = net_check_pin(s, c);
        if (rc != HERALD_OK)
            c->broken = 1; /* nothing more to a server we do not trust */
        return rc;
    }
    char *desc = gnutls_session_get_desc(c->tls);
    s->host->log(s->ch, HERALD_LOG_DEBUG, "TLS with %s: %s", s->where,
                 desc ? desc : "?");
    gnutls_free(desc);
    return HERALD_OK;
}

/* ---- the EHLO name ---------------------------------------------------- */

static int good_helo(const char *h)
{
    if (!*h || strlen(h) > 250)
        return 0;
    for (const char *p = h; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(".-_:[]", *p))
            return 0;
    return 1;
}

/* A fully qualified name: a dot inside, not "localhost" or a name of it
 * ("localhost.localdomain"), only host-name characters. */
static int is_fqdn(const char *name)
{
    size_t n = strlen(name);
    if (n < 3 || !good_helo(name) || strchr(name, '[') || strchr(name, ':'))
        return 0;
    const char *dot = strchr(name, '.');
    if (!dot || dot == name || name[n - 1] == '.')
        return 0;
    if (strncasecmp(name, "localhost", 9) == 0 && (!name[9] || name[9] == '.'))
        return 0;
    return !(n > 12 && strcasecmp(name + n - 12, ".localdomain") == 0);
}

void smtp_helo_pick(const char *name, int fd, char *out, size_t size)
{
    if (name && is_fqdn(name)) {
        snprintf(out, size, "%s", name);
        return;
    }
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    char ip[INET6_ADDRSTRLEN];
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        snprintf(out, size, "[local-address]");
        return;
    }
    if (sa.ss_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)&sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a) && inet_ntop(AF_INET, a->s6_addr + 12, ip, sizeof ip))
            snprintf(out, size, "[%s]", ip);
        else if (inet_ntop(AF_INET6, a, ip, sizeof ip))
            snprintf(out, size, "[IPv6:%s]", ip);
        else
            snprintf(out, size, "[local-address]");
    } else if (sa.ss_family == AF_INET &&
               inet_ntop(AF_INET, &((const struct sockaddr_in *)&sa)->sin_addr,
                         ip, sizeof ip)) {
        snprintf(out, size, "[%s]", ip);
    } else {
        snprintf(out, size, "[local-address]");
    }
}

/* This machine's name, looked up once: gethostname(), or the canonical
 * name it resolves to when it has no dot. */
static const char *host_name(struct smtp *s)
{
    if (s->host_name_done)
        return s->host_name;
    s->host_name_done = 1;
    char name[256] = "";
    if (gethostname(name, sizeof name - 1) != 0)
        name[0] = '\0';
    name[sizeof name - 1] = '\0';
    if (name[0] && !strchr(name, '.')) {
        struct addrinfo hints, *ai = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_flags = AI_CANONNAME;
        if (getaddrinfo(name, NULL, &hints, &ai) == 0 && ai && ai->ai_canonname)
            snprintf(name, sizeof name, "%s", ai->ai_canonname);
        if (ai)
            freeaddrinfo(ai);
    }
    snprintf(s->host_name, sizeof s->host_name, "%s", name);
    return s->host_name;
}

const char *smtp_helo(struct smtp *s, const struct smtp_conn *c)
{
    if (s->cfg.helo)
        return s->cfg.helo;
    smtp_helo_pick(host_name(s), c ? c->fd : -1, s->helo, sizeof s->helo);
    return s->helo;
}

/* ---- reading and writing ----------------------------------------------- */

/* Is @e a socket error that means the peer went away? */
static int is_gone(int e)
{
    return e == ECONNRESET || e == EPIPE || e == ECONNABORTED || e == ENOTCONN;
}

static int tls_error_code(struct smtp_conn *c, ssize_t r)
{
    c->tls_err = (int)r;
    if (r == GNUTLS_E_PREMATURE_TERMINATION || is_gone(c->sys_errno))
        return NET_CLOSED;
    return NET_ERROR;
}

/* Read what is available into rbuf, waiting until @deadline. */
static int fill(struct smtp_conn *c, long long deadline)
{
    if (c->rpos > 0) {
        memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rlen -= c->rpos;
        c->rpos = 0;
    }
    size_t space = SMTP_RBUF - c->rlen;
    if (space == 0)
        return NET_TOO_LONG;
    for (;;) {
        ssize_t r;
        int w;
        if (c->tls) {
            r = gnutls_record_recv(c->tls, c->rbuf + c->rlen, space);
            if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
                if ((w = tls_wait(c, deadline)) != 1)
                    return w == 0 ? NET_TIMEOUT : NET_ERROR;
                continue;
            }
            if (r < 0 && !gnutls_error_is_fatal((int)r)) {
                if (smtp_now_ms() > deadline)
                    return NET_TIMEOUT;
                continue; /* a warning alert or a refused renegotiation */
            }
            if (r < 0)
                return tls_error_code(c, r);
        } else {
            r = recv(c->fd, c->rbuf + c->rlen, space, MSG_DONTWAIT);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                if ((w = hn_wait_fd(c->fd, POLLIN, deadline)) != 1)
                    return w == 0 ? NET_TIMEOUT : NET_ERROR;
                continue;
            }
            if (r < 0) {
                c->sys_errno = errno;
                return is_gone(errno) ? NET_CLOSED : NET_ERROR;
            }
        }
        if (r == 0)
            return NET_CLOSED;
        c->rlen += (size_t)r;
        return NET_OK;
    }
}

int net_read_line(struct smtp_conn *c, long long deadline, char **line_r,
                  size_t *len_r)
{
    for (;;) {
        char *start = c->rbuf + c->rpos;
        char *nl = memchr(start, '\n', c->rlen - c->rpos);
        if (nl) {
            size_t len = (size_t)(nl - start);
            if (len > 0 && start[len - 1] == '\r')
                len--;
            start[len] = '\0';
            c->rpos = (size_t)(nl + 1 - c->rbuf);
            *line_r = start;
            *len_r = len;
            return NET_OK;
        }
        if (c->rlen - c->rpos >= SMTP_MAX_LINE)
            return NET_TOO_LONG;
        int rc = fill(c, deadline);
        if (rc != NET_OK)
            return rc;
    }
}

int net_write(struct smtp_conn *c, const char *p, size_t n, long long deadline)
{
    while (n > 0) {
        ssize_t r;
        int w;
        if (c->tls) {
            r = gnutls_record_send(c->tls, p, n);
            if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
                if ((w = tls_wait(c, deadline)) != 1)
                    return w == 0 ? NET_TIMEOUT : NET_ERROR;
                continue; /* same arguments again, as GnuTLS requires */
            }
            if (r < 0)
                return tls_error_code(c, r);
        } else {
            r = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                if ((w = hn_wait_fd(c->fd, POLLOUT, deadline)) != 1)
                    return w == 0 ? NET_TIMEOUT : NET_ERROR;
                continue;
            }
            if (r < 0) {
                c->sys_errno = errno;
                return is_gone(errno) ? NET_CLOSED : NET_ERROR;
            }
        }
        p += r;
        n -= (size_t)r;
    }
    return NET_OK;
}

int net_flush(struct smtp_conn *c, long long deadline)
{
    int rc = c->out.len ? net_write(c, c->out.data, c->out.len, deadline) : NET_OK;
    c->out.len = 0;
    if (c->out.data)
        c->out.data[0] = '\0';
    return rc;
}

static int socket_readable(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

int net_input_pending(struct smtp_conn *c)
{
    if (c->rpos < c->rlen)
        return 1;
    if (c->tls && gnutls_record_check_pending(c->tls) > 0)
        return 1;
    char b;
    return recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

int net_alive(struct smtp_conn *c)
{
    if (c->fd < 0 || c->broken || c->lost || c->rpos < c->rlen)
        return 0;
    if (!socket_readable(c->fd))
        return 1;
    if (c->tls) {
        /* TLS 1.3 may deliver session tickets late: those are fine */
        ssize_t r = gnutls_record_recv(c->tls, c->rbuf + c->rlen, SMTP_RBUF - c->rlen);
        if (r > 0)
            c->rlen += (size_t)r;
        return r == GNUTLS_E_AGAIN;
    }
    char b;
    ssize_t r = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

const char *net_strerror(const struct smtp_conn *c)
{
    if (c->tls_err)
        return gnutls_strerror(c->tls_err);
    return c->sys_errno ? strerror(c->sys_errno) : "I/O error";
}

void net_close(struct smtp_conn *c, int polite)
{
    if (c->tls) {
        if (polite && !c->broken && !c->lost)
            gnutls_bye(c->tls, GNUTLS_SHUT_WR); /* non-blocking: best effort */
        gnutls_deinit(c->tls);
        c->tls = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    hbuf_free(&c->out);
    c->rpos = c->rlen = 0;
}
