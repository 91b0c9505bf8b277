/*
 * plugins/smtp/config.c - the smtp driver's options: the option table the
 * descriptor publishes (smtp_options, checked by the core against every
 * [channel] that names this driver) and reading a channel's values into
 * struct smtp_cfg at init: the TLS mode and port defaults, credentials
 * (complete, free of control characters, never without TLS), the
 * certificate pin, probe_host, and the TLS trust (ca_file, the system's
 * CAs or none).  Secrets are wiped when the configuration is freed.
 */
#include "smtp.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const herald_option smtp_options[] = {
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

herald_class smtp_configure(struct smtp *s, herald_error **err_r)
{
    herald_class rc = read_config(s, err_r);
    return rc == HERALD_OK ? load_trust(s, err_r) : rc;
}

static void wipe(char *p)
{
    if (p)
        explicit_bzero(p, strlen(p));
    free(p);
}

void smtp_cfg_free(struct smtp_cfg *cfg)
{
    free(cfg->host);
    free(cfg->username);
    wipe(cfg->password);
    wipe(cfg->token);
    free(cfg->helo);
    free(cfg->ca_file);
    free(cfg->probe_host);
}
