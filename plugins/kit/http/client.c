/*
 * plugins/kit/http/client.c - one HTTP client per channel instance (see http.h):
 * its options, base_url, the libcurl handle and its transport options
 * (TLS, timeouts, proxy / no proxy), and the reports that pass the
 * redaction of redact.c.  One easy handle per instance; the core
 * serializes calls on an instance (the drivers are not thread-safe), so
 * the handle needs no lock and its connection is reused between sends.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

const herald_host *hh_host(const hh_client *c) { return c->host; }
herald_channel *hh_channel(const hh_client *c) { return c->ch; }
const char *hh_base(const hh_client *c) { return c->base; }
const char *hh_authority(const hh_client *c) { return c->authority; }
int hh_custom_base(const hh_client *c) { return c->custom_base; }

const char *hhi_chan(const hh_client *c)
{
    return c->host->channel_name(c->ch);
}

/* @fmt formatted, with the channel's secrets redacted (malloc'd; NULL on OOM). */
static char *vredacted(const hh_client *c, const char *fmt, va_list ap)
{
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        return NULL;
    char *r = hh_secrets_apply(&c->secrets, text);
    free(text);
    return r;
}

herald_class hh_error(hh_client *c, herald_error **err_r, herald_class cls,
                      const char *code, const char *provider_text, long retry_after,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = vredacted(c, fmt, ap);
    va_end(ap);
    char *cd = hh_secrets_apply(&c->secrets, code);
    char *t = hh_secrets_apply(&c->secrets, provider_text);
    herald_class rc = c->host->error(err_r, cls, cd, t, retry_after, "%s",
                                     m ? m : "out of memory (while reporting an error)");
    free(m);
    free(cd);
    free(t);
    return rc;
}

void hh_log(hh_client *c, herald_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *r = vredacted(c, fmt, ap);
    va_end(ap);
    if (r)
        c->host->log(c->ch, level, "%s", r);
    free(r);
}

void hh_error_fix(hh_client *c, herald_error **err_r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *r = vredacted(c, fmt, ap);
    va_end(ap);
    if (r && err_r && *err_r)
        c->host->error_fix(*err_r, "%s", r);
    free(r);
}

void hh_set_id(hh_client *c, herald_result *res, const char *id)
{
    char *r = hh_secrets_apply(&c->secrets, id);
    if (r)
        c->host->result_set_id(res, r);
    free(r);
}

/* ---------------------------------------------------------------- base_url */

/* 127.0.0.0/8 as a dotted quad, [::1], or localhost. */
static int is_loopback(const char *host)
{
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) == 1)
        return (ntohl(a.s_addr) >> 24) == 127;
    return strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0;
}

static herald_class base_error(hh_client *c, herald_error **err_r,
                               const char *base, const char *why)
{
    herald_class rc = hh_error(c, err_r, HERALD_ERR_CONFIG, NULL, NULL, -1,
                               "base_url = %s: %s", base, why);
    hh_error_fix(c, err_r, "write it as https://host[:port][/path] (or remove it "
                 "to use the provider's own address)");
    return rc;
}

struct url_parts {
    char *scheme, *host, *port, *path, *query, *fragment, *user;
};

static void url_parts_free(struct url_parts *p)
{
    curl_free(p->scheme);
    curl_free(p->host);
    curl_free(p->port);
    curl_free(p->path);
    curl_free(p->query);
    curl_free(p->fragment);
    curl_free(p->user);
}

/* Why @p cannot be a base URL, or NULL when it can. */
static const char *base_problem(const struct url_parts *p, int https)
{
    if (!https && strcmp(p->scheme, "http") != 0)
        return "the scheme must be https";
    if (!https && !is_loopback(p->host))
        return "plain http:// is only allowed to a loopback address (127.0.0.1, "
               "::1, localhost), since the API key would travel unencrypted";
    if (p->query || p->fragment)
        return "a query or fragment is not allowed";
    if (p->user)
        return "credentials in the URL are not supported (the driver's own "
               "options carry them)";
    return NULL;
}

/* Split @base into the parts a request needs; http:// only to loopback. */
static herald_class parse_base(hh_client *c, const char *base,
                               herald_error **err_r)
{
    struct url_parts p = {0};
    CURLU *u = curl_url();
    if (!u)
        return hh_error(c, err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                              "out of memory");
    herald_class rc = HERALD_OK;
    if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &p.scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &p.host, 0) != CURLUE_OK) {
        rc = base_error(c, err_r, base, "not a URL");
        goto out;
    }
    curl_url_get(u, CURLUPART_PORT, &p.port, 0);
    curl_url_get(u, CURLUPART_PATH, &p.path, 0);
    curl_url_get(u, CURLUPART_QUERY, &p.query, 0);
    curl_url_get(u, CURLUPART_FRAGMENT, &p.fragment, 0);
    curl_url_get(u, CURLUPART_USER, &p.user, 0);
    int https = strcmp(p.scheme, "https") == 0;
    const char *why = base_problem(&p, https);
    if (why) {
        rc = base_error(c, err_r, base, why);
        goto out;
    }
    /* The Host header omits the scheme's default port, as libcurl does. */
    int own_port = p.port && strtol(p.port, NULL, 10) != (https ? 443 : 80);
    size_t pl = p.path ? strlen(p.path) : 0;
    while (pl > 0 && p.path[pl - 1] == '/')
        pl--;
    if (asprintf(&c->authority, "%s%s%s", p.host, own_port ? ":" : "",
                 own_port ? p.port : "") < 0)
        c->authority = NULL;
    c->base_path = strndup(p.path ? p.path : "", pl);
    c->https = https;
    c->loopback = is_loopback(p.host);
    c->port = p.port ? strtol(p.port, NULL, 10) : https ? 443 : 80;
    size_t hl = strlen(p.host);
    c->host_name = p.host[0] == '[' && hl > 1 ? strndup(p.host + 1, hl - 2)
                                              : strdup(p.host);
    if (!c->authority || !c->base_path || !c->host_name ||
        asprintf(&c->origin, "%s://%s", p.scheme, c->authority) < 0)
        c->origin = NULL;
    if (!c->origin ||
        asprintf(&c->base, "%s%s", c->origin, c->base_path) < 0) {
        c->base = NULL;
        rc = hh_error(c, err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                            "out of memory");
    }
out:
    url_parts_free(&p);
    curl_url_cleanup(u);
    return rc;
}

/* ---------------------------------------------------------------- instance */

static void client_free(hh_client *c)
{
    if (!c)
        return;
    if (c->priv) {
        if (c->prov && c->prov->free_priv)
            c->prov->free_priv(c->priv);
        else
            free(c->priv);
    }
    if (c->easy) {
        curl_easy_cleanup(c->easy);
        curl_global_cleanup();
    }
    curl_slist_free_all(c->hl);
    hh_secrets_free(&c->secrets);
    hbuf_free(&c->sink.body);
    hbuf_free(&c->sink.headers);
    free(c->url);
    free(c->base);
    free(c->authority);
    free(c->base_path);
    free(c->origin);
    free(c->host_name);
    free(c);
}

herald_class hh_client_new(const herald_host *host, herald_channel *ch,
                           const hh_provider *prov, const char *default_base,
                           void *priv, void **state_r, herald_error **err_r)
{
    hh_client *c = calloc(1, sizeof *c);
    if (!c || !priv) {
        if (prov->free_priv && priv)
            prov->free_priv(priv);
        else
            free(priv);
        free(c);
        return host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                           "out of memory");
    }
    c->host = host;
    c->ch = ch;
    c->prov = prov;
    c->priv = priv;
    c->custom_base = host->opt_isset(ch, "base_url");
    const char *base = c->custom_base ? host->opt_str(ch, "base_url") : default_base;
    herald_class rc = parse_base(c, base, err_r);
    if (rc != HERALD_OK) {
        client_free(c);
        return rc;
    }
    for (const herald_option *o = prov->options; o && o->name; o++)
        if ((o->flags & HERALD_OPT_SECRET) &&
            hh_secrets_add(&c->secrets, host->opt_str(ch, o->name)) != 0) {
            client_free(c);
            return host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                               "out of memory");
        }
    c->timeout_ms = (long)host->opt_int(ch, "timeout");
    c->ca_file = host->opt_str(ch, "ca_file");
    c->proxy = host->opt_str(ch, "proxy");
    c->tls_verify = host->opt_bool(ch, "tls_verify");
    const char *uns = host->opt_str(ch, "unsupported");
    c->drop_unsupported = uns && strcmp(uns, "drop") == 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
        !(c->easy = curl_easy_init())) {
        if (!c->easy)
            curl_global_cleanup();
        client_free(c);
        return host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                           "cannot initialise libcurl (out of memory?)");
    }
    hhi_set_transport(c, c->easy);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, hhi_on_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &c->sink);
    curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, hhi_on_header);
    curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, &c->sink);
    if (!c->tls_verify)
        host->log(ch, HERALD_LOG_WARNING,
                  "tls_verify = no: the %s server's certificate is not checked, "
                  "so anyone on the path can read the API key; use ca_file instead",
                  prov->name);
    *state_r = c;
    return HERALD_OK;
}

void hh_plugin_teardown(void *state)
{
    client_free(state);
}

/* What every request of this client shares (set once per handle). */
void hhi_set_transport(const hh_client *c, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "herald/" PACKAGE_VERSION);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https,http");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTPS | CURLPROTO_HTTP));
#endif
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     c->timeout_ms < HH_CONNECT_TIMEOUT_MS ? c->timeout_ms
                                                           : HH_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2L : 0L);
    if (c->ca_file) {   /* instead of the system's CAs, not in addition */
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
        curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    }
    if (c->proxy)
        curl_easy_setopt(e, CURLOPT_PROXY,
                         strcmp(c->proxy, "none") == 0 ? "" : c->proxy);
    /* A loopback address is never reached through a proxy (set or from the
     * environment), and plain http:// (allowed to loopback only) never
     * goes to one: the API key would cross the proxy's network in clear. */
    if (c->loopback || !c->https)
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
}


/* The setting that sends this client's requests through a proxy: "proxy"
 * or the environment variable libcurl reads; NULL when none does. */
const char *hhi_proxy_source(const hh_client *c)
{
    static const char *const https_env[] = {"https_proxy", "HTTPS_PROXY",
                                            "all_proxy", "ALL_PROXY"};
    if (c->loopback || !c->https)
        return NULL;
    if (c->proxy)
        return *c->proxy && strcmp(c->proxy, "none") != 0 ? "proxy" : NULL;
    for (size_t i = 0; i < sizeof https_env / sizeof https_env[0]; i++) {
        const char *v = getenv(https_env[i]);
        if (v && *v)
            return https_env[i];
    }
    return NULL;
}

