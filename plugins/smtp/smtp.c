/*
 * plugins/smtp/smtp.c - the smtp driver: delivers email to an SMTP
 * submission server over TLS (implicit or STARTTLS) with AUTH, keeping one
 * connection per channel across sends.
 *
 * This file holds the descriptor and what the core calls: option reading
 * (init), send (envelope, rendering, connection reuse), render (the exact
 * dialogue, secrets hidden) and teardown.  The protocol is in session.c and
 * auth.c, sockets and TLS in net.c, the diagnosis (check) in check.c.
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

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const herald_option smtp_options[] = {
    {"host", HERALD_OPT_STRING, HERALD_OPT_REQUIRED, NULL, NULL,
     "SMTP server name or address, e.g. smtp.example.com", 0, 0},
    {"port", HERALD_OPT_INT, 0, "587", NULL,
     "TCP port: 587 (submission with STARTTLS) unless set; 465 when tls = implicit",
     1, 65535},
    {"tls", HERALD_OPT_ENUM, 0, NULL, "implicit|starttls|none",
     "implicit (TLS from the first byte), starttls (required upgrade) or none "
     "(clear text, no credentials); default: implicit on port 465, else starttls",
     0, 0},
    {"username", HERALD_OPT_STRING, 0, NULL, NULL,
     "login for SMTP AUTH, often the full address", 0, 0},
    {"password", HERALD_OPT_STRING, HERALD_OPT_SECRET, NULL, NULL,
     "password for AUTH PLAIN, LOGIN or CRAM-MD5",
     0, 0},
    {"xoauth2_token", HERALD_OPT_STRING, HERALD_OPT_SECRET, NULL, NULL,
     "OAuth 2.0 access token for AUTH XOAUTH2 (Gmail, Microsoft 365)", 0, 0},
    {"auth", HERALD_OPT_ENUM, 0, "auto", "auto|plain|login|cram-md5|xoauth2",
     "AUTH mechanism; auto: xoauth2 when a token is set, else the first the "
     "server offers of cram-md5, plain, login", 0, 0},
    {"helo", HERALD_OPT_STRING, 0, NULL, NULL,
     "name sent with EHLO (default: this machine's fully qualified name, "
     "else the address literal of this end of the connection, e.g. [192.0.2.1])", 0, 0},
    {"ca_file", HERALD_OPT_PATH, 0, NULL, NULL,
     "PEM file of CA certificates to trust instead of the system's", 0, 0},
    {"tls_fingerprint", HERALD_OPT_STRING, 0, NULL, NULL,
     "sha256 of the server's certificate (hex, colons optional); when set, "
     "only that certificate is trusted", 0, 0},
    {"tls_verify", HERALD_OPT_BOOL, 0, "yes", NULL,
     "verify the server's certificate and host name (no: encrypt without "
     "knowing who the server is)", 0, 0},
    {"connect_timeout", HERALD_OPT_DURATION, 0, "10s", NULL,
     "time allowed to open the TCP connection", 1, 3600000},
    {"greeting_timeout", HERALD_OPT_DURATION, 0, "10s", NULL,
     "time allowed for the server's greeting (and an implicit TLS handshake)",
     1, 3600000},
    {"command_timeout", HERALD_OPT_DURATION, 0, "30s", NULL,
     "time allowed for the reply to each command", 1, 3600000},
    {"data_timeout", HERALD_OPT_DURATION, 0, "60s", NULL,
     "time allowed to send the message and get the server's verdict", 1, 3600000},
    {"max_messages", HERALD_OPT_INT, 0, "100", NULL,
     "messages sent over one connection before a new one is opened", 1, 1000000},
    {"idle_timeout", HERALD_OPT_DURATION, 0, "30s", NULL,
     "a kept connection idle longer than this is closed before the next send",
     1, 86400000},
    {"probe_host", HERALD_OPT_STRING, 0, NULL, NULL,
     "host:port tried on 443 when the SMTP port looks filtered, to tell a "
     "blocked port from a dead network", 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

/* ---- configuration ----------------------------------------------------- */

static herald_class config_error(const herald_host *h, herald_error **err_r,
                                 const char *fmt, ...) HERALD_PRINTF(3, 4);
static herald_class config_error(const herald_host *h, herald_error **err_r,
                                 const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return h->error(err_r, HERALD_ERR_CONFIG, NULL, NULL, -1, "%s", buf);
}

/* Give the error config_error just set its fix (what to do); returns @cls. */
static herald_class config_fix(const herald_host *h, herald_error **err_r,
                               herald_class cls, const char *fmt, ...)
    HERALD_PRINTF(4, 5);
static herald_class config_fix(const herald_host *h, herald_error **err_r,
                               herald_class cls, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (err_r && *err_r && h->abi_minor >= 1 && h->error_fix)
        h->error_fix(*err_r, "%s", buf);
    return cls;
}

static char *opt_dup(const herald_host *h, herald_channel *ch, const char *name)
{
    const char *v = h->opt_str(ch, name);
    return v && *v ? strdup(v) : NULL;
}

static int has_control(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

static int parse_pin(const char *text, unsigned char pin[32])
{
    size_t n = 0;
    if (strncasecmp(text, "sha256:", 7) == 0)
        text += 7;
    for (const char *p = text; *p; p++) {
        if (*p == ':' || *p == ' ')
            continue;
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) || n == 32)
            return -1;
        char hex[3] = {p[0], p[1], '\0'};
        pin[n++] = (unsigned char)strtoul(hex, NULL, 16);
        p++;
    }
    return n == 32 ? 0 : -1;
}

static unsigned mech_named(const char *name)
{
    if (!name || strcmp(name, "auto") == 0)
        return 0;
    if (strcmp(name, "plain") == 0)
        return SMTP_MECH_PLAIN;
    if (strcmp(name, "login") == 0)
        return SMTP_MECH_LOGIN;
    if (strcmp(name, "cram-md5") == 0)
        return SMTP_MECH_CRAM_MD5;
    return SMTP_MECH_XOAUTH2;
}

static void read_tls_mode(struct smtp_cfg *cfg, const herald_host *h,
                          herald_channel *ch)
{
    const char *tls = h->opt_str(ch, "tls");
    int port_set = h->opt_isset(ch, "port");
    cfg->tls_explicit = tls != NULL && h->opt_isset(ch, "tls");
    if (!cfg->tls_explicit)
        cfg->tls = port_set && h->opt_int(ch, "port") == 465 ? SMTP_TLS_IMPLICIT
                                                              : SMTP_TLS_STARTTLS;
    else if (strcmp(tls, "implicit") == 0)
        cfg->tls = SMTP_TLS_IMPLICIT;
    else if (strcmp(tls, "none") == 0)
        cfg->tls = SMTP_TLS_NONE;
    else
        cfg->tls = SMTP_TLS_STARTTLS;
    cfg->port = port_set ? (int)h->opt_int(ch, "port")
                         : cfg->tls == SMTP_TLS_IMPLICIT ? 465 : 587;
}

/* The rules about credentials: complete, safe to send, and only over TLS. */
static herald_class check_credentials(const struct smtp_cfg *cfg,
                                      const char *auth_name,
                                      const herald_host *h, herald_error **err_r)
{
    const char *bad = has_control(cfg->username) ? "username"
                      : has_control(cfg->password) ? "password"
                      : has_control(cfg->token) ? "xoauth2_token" : NULL;
    if (bad)
        return config_fix(h, err_r, config_error(h, err_r,
                                       "%s contains a line break or another control character",
                                       bad),
                          "such values are refused so that nothing can be injected "
                          "into the SMTP session: fix %s",
                          bad);
    int creds = cfg->username || cfg->password || cfg->token;
    if (creds && cfg->tls == SMTP_TLS_NONE)
        return config_fix(h, err_r, config_error(h, err_r,
                                       "credentials are never sent without TLS, and this channel "
                                       "sets them with tls = none"),
                          "use tls = starttls (port 587) or tls = implicit (port 465), "
                          "or remove username/password/xoauth2_token");
    if ((cfg->password || cfg->token) && !cfg->username)
        return config_fix(h, err_r, config_error(h, err_r,
                                       "%s is set but username is not",
                                       cfg->password ? "password" : "xoauth2_token"),
                          "set username (usually the full email address)");
    if (cfg->username && !cfg->password && !cfg->token)
        return config_fix(h, err_r, config_error(h, err_r,
                                       "username is set but neither password nor xoauth2_token is"),
                          "set password (or password_file / password_env)");
    if (cfg->auth == SMTP_MECH_XOAUTH2 && !cfg->token)
        return config_fix(h, err_r, config_error(h, err_r,
                                       "auth = xoauth2 needs xoauth2_token (and username)"),
                          "set them or choose auth = auto");
    if (cfg->auth && cfg->auth != SMTP_MECH_XOAUTH2 && !cfg->password)
        return config_fix(h, err_r, config_error(h, err_r,
                                       "auth = %s needs username and password",
                                       auth_name),
                          "set them or choose auth = auto");
    return HERALD_OK;
}

/* probe_host: "host" (port 443), "host:port", "[v6]:port" or a bare IPv6
 * address.  0, or -1 when malformed. */
static int read_probe_host(struct smtp_cfg *cfg, const char *v)
{
    cfg->probe_port = 443;
    if (!v || !*v)
        return 0;
    if (has_control(v) || strchr(v, ' '))
        return -1;
    const char *colon = strrchr(v, ':');
    size_t n = strlen(v);
    if (v[0] == '[') {
        const char *end = strchr(v, ']');
        if (!end || end == v + 1 || (end[1] && end[1] != ':'))
            return -1;
        colon = end[1] ? end + 1 : NULL;
        v++;
        n = (size_t)(end - v);
    } else if (colon && strchr(v, ':') != colon) {
        colon = NULL; /* a bare IPv6 address */
    } else if (colon) {
        n = (size_t)(colon - v);
    }
    if (colon) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (!colon[1] || *end || port < 1 || port > 65535)
            return -1;
        cfg->probe_port = (int)port;
    }
    if (n == 0 || !(cfg->probe_host = strndup(v, n)))
        return -1;
    return 0;
}

static herald_class read_config(struct smtp *s, herald_error **err_r)
{
    const herald_host *h = s->host;
    herald_channel *ch = s->ch;
    struct smtp_cfg *cfg = &s->cfg;
    cfg->host = opt_dup(h, ch, "host");
    read_tls_mode(cfg, h, ch);
    cfg->username = opt_dup(h, ch, "username");
    cfg->password = opt_dup(h, ch, "password");
    cfg->token = opt_dup(h, ch, "xoauth2_token");
    cfg->auth = mech_named(h->opt_str(ch, "auth"));
    cfg->helo = opt_dup(h, ch, "helo");
    cfg->ca_file = opt_dup(h, ch, "ca_file");
    cfg->verify = h->opt_bool(ch, "tls_verify");
    cfg->connect_ms = (long)h->opt_int(ch, "connect_timeout");
    cfg->greeting_ms = (long)h->opt_int(ch, "greeting_timeout");
    cfg->command_ms = (long)h->opt_int(ch, "command_timeout");
    cfg->data_ms = (long)h->opt_int(ch, "data_timeout");
    cfg->idle_ms = (long)h->opt_int(ch, "idle_timeout");
    cfg->max_messages = (long)h->opt_int(ch, "max_messages");
    if (!cfg->host || has_control(cfg->host) || strchr(cfg->host, ' '))
        return config_error(h, err_r, "host must be a server name or address "
                            "without spaces or control characters, e.g. "
                            "host = smtp.example.com");
    snprintf(s->where, sizeof s->where, strchr(cfg->host, ':') ? "[%s]:%d" : "%s:%d",
             cfg->host, cfg->port);
    if (cfg->helo && (has_control(cfg->helo) || strchr(cfg->helo, ' ') ||
                      strlen(cfg->helo) > 250))
        return config_error(h, err_r, "helo must be one host name without "
                            "spaces, line breaks or control characters, e.g. "
                            "helo = mail.example.com");
    const char *pin = h->opt_str(ch, "tls_fingerprint");
    if (pin && *pin) {
        if (parse_pin(pin, cfg->pin) != 0)
            return config_fix(h, err_r, config_error(h, err_r,
                                           "tls_fingerprint = %s is not a sha256 fingerprint",
                                           pin),
                              "write the 64 hex digits (colons allowed), as printed by "
                              "`certtool -i` (\"sha256\" of the certificate) or `openssl "
                              "x509 -noout -fingerprint -sha256`");
        cfg->has_pin = 1;
    }
    if (read_probe_host(cfg, h->opt_str(ch, "probe_host")) != 0)
        return config_fix(h, err_r, config_error(h, err_r,
                                       "probe_host = %s is not a host or host:port",
                                       h->opt_str(ch, "probe_host")),
                          "write e.g. probe_host = api.mailgun.net (port 443) or "
                          "probe_host = 192.0.2.7:8443 ([v6 address]:port for IPv6)");
    return check_credentials(cfg, h->opt_str(ch, "auth"), h, err_r);
}

static herald_class load_trust(struct smtp *s, herald_error **err_r)
{
    const herald_host *h = s->host;
    int r = gnutls_certificate_allocate_credentials(&s->cred);
    if (r < 0)
        return h->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                        "cannot set up TLS: %s", gnutls_strerror(r));
    if (s->cfg.tls == SMTP_TLS_NONE)
        return HERALD_OK;
    if (s->cfg.ca_file) {
        r = gnutls_certificate_set_x509_trust_file(s->cred, s->cfg.ca_file,
                                                   GNUTLS_X509_FMT_PEM);
        if (r <= 0)
            return config_fix(h, err_r, config_error(h, err_r,
                                           "ca_file = %s: no CA certificate could be read (%s)",
                                           s->cfg.ca_file, r < 0 ? gnutls_strerror(r) : "none in the file"),
                              "give a PEM file holding the CA certificate(s)");
    } else if (s->cfg.verify && !s->cfg.has_pin) {
        r = gnutls_certificate_set_x509_system_trust(s->cred);
        if (r <= 0)
            h->log(s->ch, HERALD_LOG_WARNING, "no system CA certificates found "
                   "(%s): certificates cannot be verified; install "
                   "ca-certificates or set ca_file",
                   r < 0 ? gnutls_strerror(r) : "none");
    }
    if (!s->cfg.verify && !s->cfg.has_pin)
        h->log(s->ch, HERALD_LOG_WARNING, "tls_verify = no: the server's "
               "certificate is not checked, so anyone on the path can read "
               "the mail and the credentials; set ca_file or tls_fingerprint "
               "instead");
    return HERALD_OK;
}

static void smtp_teardown(void *state);

static herald_class smtp_init(const herald_host *host, herald_channel *ch,
                              void **state_r, herald_error **err_r)
{
    struct smtp *s = calloc(1, sizeof *s);
    if (!s)
        return host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1, "out of memory");
    s->host = host;
    s->ch = ch;
    herald_class rc = read_config(s, err_r);
    if (rc == HERALD_OK)
        rc = load_trust(s, err_r);
    if (rc != HERALD_OK) {
        smtp_teardown(s);
        return rc;
    }
    *state_r = s;
    return HERALD_OK;
}

static void wipe(char *p)
{
    if (p)
        explicit_bzero(p, strlen(p));
    free(p);
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
    free(s->cfg.host);
    free(s->cfg.username);
    wipe(s->cfg.password);
    wipe(s->cfg.token);
    free(s->cfg.helo);
    free(s->cfg.ca_file);
    free(s->cfg.probe_host);
    smtp_err_clear(s);
    free(s);
}

/* ---- the message ------------------------------------------------------- */

const char *smtp_bad_address(const char *a)
{
    if (!a || !*a)
        return "is empty";
    for (const char *p = a; *p; p++) {
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return "contains CR, LF or another control character";
        if (*p == '<' || *p == '>')
            return "contains < or >";
    }
    return NULL;
}

static int non_ascii(const char *a)
{
    for (; *a; a++)
        if ((unsigned char)*a >= 0x80)
            return 1;
    return 0;
}

/* @in for a message: control characters as \r, \n or \xNN, cut short. */
static void printable(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (; in && *in && o + 8 < size; in++) {
        unsigned char u = (unsigned char)*in;
        if (u == '\r' || u == '\n')
            o += (size_t)snprintf(out + o, size - o, "\\%c", u == '\r' ? 'r' : 'n');
        else if (u < 0x20 || u == 0x7f)
            o += (size_t)snprintf(out + o, size - o, "\\x%02X", u);
        else
            out[o++] = (char)u;
    }
    out[o] = '\0';
}

static herald_class add_address(struct smtp *s, struct smtp_txn *t,
                                const char *addr, const char *role)
{
    const char *why = smtp_bad_address(addr);
    char shown[300];
    printable(addr ? addr : "(none)", shown, sizeof shown);
    if (why)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_INVALID_MESSAGE, NULL,
                                  "the %s address %s %s",
                                  role, shown, why),
                        "nothing was sent: fix the address");
    if (!t->utf8_addr && non_ascii(addr))
        t->utf8_addr = addr;
    if (strcmp(role, "sender") != 0)
        t->rcpt[t->n_rcpt++].addr = addr;
    return HERALD_OK;
}

static herald_class envelope_of(struct smtp *s, const herald_msg *msg,
                                struct smtp_txn *t)
{
    const herald_host *h = s->host;
    static const herald_list lists[] = {HERALD_LIST_TO, HERALD_LIST_CC, HERALD_LIST_BCC};
    static const char *const roles[] = {"To", "Cc", "Bcc"};
    size_t n = 0;
    for (size_t l = 0; l < 3; l++)
        n += h->msg_count(msg, lists[l]);
    if (n == 0)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_INVALID_MESSAGE, NULL,
                                  "the message has no recipient"),
                        "add a To, Cc or Bcc address");
    if (!(t->rcpt = calloc(n, sizeof *t->rcpt)))
        return smtp_fail(s, HERALD_ERR_INTERNAL, NULL, "out of memory");
    t->from = h->msg_get(msg, HERALD_FIELD_FROM_ADDRESS);
    if (!t->from)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_INVALID_MESSAGE, NULL,
                                  "the message has no sender"),
                        "set its From or the channel's `from`");
    herald_class rc = add_address(s, t, t->from, "sender");
    for (size_t l = 0; l < 3 && rc == HERALD_OK; l++)
        for (size_t i = 0; i < h->msg_count(msg, lists[l]) && rc == HERALD_OK; i++)
            rc = add_address(s, t, h->msg_address(msg, lists[l], i, NULL), roles[l]);
    return rc;
}

/* Envelope, rendered message and the Message-ID the renderer wrote.  A render failure
 * comes with the core's own error in *err_r. */
static herald_class build_txn(struct smtp *s, const herald_msg *msg,
                              struct smtp_txn *t, herald_error **err_r)
{
    herald_class rc = envelope_of(s, msg, t);
    if (rc != HERALD_OK)
        return rc;
    if (s->host->abi_minor < 1 || !s->host->render_mime_id)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_INTERNAL, NULL,
                                     "this smtp driver needs herald's driver "
                                     "ABI 1.1 (render_mime_id)"),
                        "install the smtp driver that came with this libherald");
    char *id = NULL;
    t->mime_free = s->host->free;
    rc = s->host->render_mime_id(msg, 0, &t->mime, &t->mime_len, &id, err_r);
    if (rc != HERALD_OK)
        return rc;
    /* the result's id is the header's value, with its angle brackets */
    if (id && asprintf(&t->message_id, "<%s>", id) < 0)
        t->message_id = NULL;
    s->host->free(id);
    t->size = t->mime_len;
    /* one pass to learn the longest line and whether it is 8-bit, without
     * storing anything: the bytes are dot-stuffed when DATA goes out */
    struct hbuf measure = {0};
    size_t longest = 0;
    measure.count = 1;
    smtp_dot_stuff(t->mime, t->mime_len, 0, &measure, (size_t)-1, &longest,
                   &t->eight_bit);
    if (longest > 998)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_INTERNAL, NULL,
                                  "the rendered message has a line of %zu octets and SMTP "
                                  "allows 998",
                                  longest),
                        "this is a bug in herald's MIME renderer: please report it");
    return HERALD_OK;
}

static void txn_reset(struct smtp_txn *t)
{
    for (size_t i = 0; i < t->n_rcpt; i++) {
        free(t->rcpt[i].text);
        t->rcpt[i].text = NULL;
        t->rcpt[i].accepted = t->rcpt[i].code = 0;
    }
    free(t->queue_id);
    t->queue_id = NULL;
    t->after_dot = t->all_rejected = t->accepted_any = 0;
    t->n_accepted = 0;
}

static void txn_free(struct smtp_txn *t)
{
    txn_reset(t);
    free(t->rcpt);
    if (t->mime_free)
        t->mime_free(t->mime);
    free(t->message_id);
}

/* What the server must offer for this message. */
static herald_class fits_server(struct smtp *s, const struct smtp_conn *c,
                                const struct smtp_txn *t)
{
    if (t->utf8_addr && !(c->ext & SMTP_EXT_SMTPUTF8))
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_PERMANENT, NULL,
                                  "the address %s is not ASCII and %s does not offer SMTPUTF8 "
                                  "(RFC 6531), so it cannot carry it",
                                  t->utf8_addr, s->where),
                        "use an ASCII address or a server that supports SMTPUTF8");
    if ((c->ext & SMTP_EXT_SIZE) && c->size_max && t->size > c->size_max)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_PERMANENT, NULL,
                                  "the message is %zu bytes and %s accepts at most %lu (SIZE)",
                                  t->size, s->where, c->size_max),
                        "make it smaller: shrink or drop attachments, or link to "
                        "large files");
    return HERALD_OK;
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
    herald_class rc = build_txn(s, msg, &t, err_r);
    for (int attempt = 0; rc == HERALD_OK; attempt++) {
        int reused = 0;
        rc = ensure_session(s, &reused);
        if (rc == HERALD_OK)
            rc = fits_server(s, s->conn, &t);
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
        txn_reset(&t);
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
    txn_free(&t);
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
    herald_class rc = build_txn(s, msg, &t, err_r);
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
    txn_free(&t);
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
