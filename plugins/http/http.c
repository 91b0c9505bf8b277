/*
 * plugins/http/http.c - the shared HTTP mechanism of the API drivers: see
 * http.h.  One libcurl easy handle per channel instance; the core
 * serializes calls on an instance (the drivers are not thread-safe), so
 * the handle needs no lock and its connection is reused between sends.
 *
 * A send is on the hot path (bench/http): the handle's transport options
 * are set once, the URL and header list only when they change, the answer
 * lands in buffers reused from send to send, and JSON bodies are written
 * by json_out() rather than json_dumps().
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "http.h"
#include "redact.h"

#define HH_MAX_BODY (1024 * 1024)      /* of an answer: a longer one is cut off */
#define HH_CONNECT_TIMEOUT_MS 10000L

/* ---------------------------------------------------------------- buffers */

struct hh_buf {
    char *data;
    size_t len, cap;
    int oom;
};

/* Room for @need bytes in all (0 or -1 with b->oom set). */
static int buf_reserve(struct hh_buf *b, size_t need)
{
    if (b->oom)
        return -1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *grown = realloc(b->data, cap);
    if (!grown) {
        b->oom = 1;
        return -1;
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

static void buf_add(struct hh_buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, b->len + n + 1) != 0)
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_adds(struct hh_buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
}

static void buf_addc(struct hh_buf *b, char ch)
{
    if (b->oom || b->len + 2 > b->cap) {
        buf_add(b, &ch, 1);
        return;
    }
    b->data[b->len++] = ch;
    b->data[b->len] = '\0';
}

static void buf_printf(struct hh_buf *b, const char *fmt, ...)
    HERALD_PRINTF(2, 3);
static void buf_printf(struct hh_buf *b, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    buf_add(b, s, (size_t)n);
    free(s);
}

static void buf_free(struct hh_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- state */

struct hh_header {
    char *name, *value;   /* name owns one block that holds value and shown */
    char *shown;          /* rendered value when secret, else NULL */
};

struct hh_part {
    char *name, *filename, *type;
    const unsigned char *data;  /* files: the message's bytes */
    char *value;                /* fields: a copy */
    size_t len;
};

struct hh_request {
    hh_client *c;
    char *method, *path;
    char *origin;         /* hh_set_origin(), or NULL: the base URL's */
    struct hh_header *h;
    size_t n_h;
    char *body;
    size_t body_len;
    struct hh_part *parts;
    size_t n_parts;
    int form;
    herald_class fail_cls;
    char *fail_why;
};

/* Where an answer is received; kept in the client and reused. */
struct sink {
    struct hh_buf body, headers;
    int over_cap;          /* the body went past HH_MAX_BODY: transfer stopped */
};

struct hh_client {
    const herald_host *host;
    herald_channel *ch;
    const hh_provider *prov;
    void *priv;
    CURL *easy;
    char *base, *authority, *base_path;
    char *origin;          /* scheme://authority */
    char *host_name;       /* the host, without [] around an IPv6 address */
    long port;
    int https;
    int loopback;          /* base_url's host is a loopback one: no proxy */
    int custom_base;
    long timeout_ms;
    const char *ca_file, *proxy;
    int tls_verify;
    int drop_unsupported;
    /* What is set on the handle, so that a send sets only what changed. */
    char *url;
    struct curl_slist *hl;
    int custom_method;
    struct sink sink;
    struct hh_secrets secrets;   /* redacted from all the helper reports */
    int sent;              /* the last transfer sent the whole request */
    char errbuf[CURL_ERROR_SIZE];
};

const herald_host *hh_host(const hh_client *c) { return c->host; }
herald_channel *hh_channel(const hh_client *c) { return c->ch; }
const char *hh_base(const hh_client *c) { return c->base; }
const char *hh_authority(const hh_client *c) { return c->authority; }
int hh_custom_base(const hh_client *c) { return c->custom_base; }

static const char *chan(const hh_client *c)
{
    return c->host->channel_name(c->ch);
}

herald_class hh_error(hh_client *c, herald_error **err_r, herald_class cls,
                      const char *code, const char *provider_text, long retry_after,
                      const char *fmt, ...)
{
    char *msg = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        msg = NULL;
    va_end(ap);
    char *m = hh_secrets_apply(&c->secrets, msg);
    char *cd = hh_secrets_apply(&c->secrets, code);
    char *t = hh_secrets_apply(&c->secrets, provider_text);
    herald_class rc = c->host->error(err_r, cls, cd, t, retry_after, "%s",
                                     m ? m : "out of memory (while reporting an error)");
    free(msg);
    free(m);
    free(cd);
    free(t);
    return rc;
}

void hh_log(hh_client *c, herald_log_level level, const char *fmt, ...)
{
    char *line = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&line, fmt, ap) < 0)
        line = NULL;
    va_end(ap);
    char *r = hh_secrets_apply(&c->secrets, line);
    if (r)
        c->host->log(c->ch, level, "%s", r);
    free(line);
    free(r);
}

void hh_set_id(hh_client *c, herald_result *res, const char *id)
{
    char *r = hh_secrets_apply(&c->secrets, id);
    if (r)
        c->host->result_set_id(res, r);
    free(r);
}

static void set_transport(const hh_client *c, CURL *e);
static size_t on_body(char *p, size_t size, size_t n, void *user);
static size_t on_header(char *p, size_t size, size_t n, void *user);

/* ---------------------------------------------------------------- encoding */

char *hh_base64(const unsigned char *data, size_t len, size_t *out_len_r)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = (len + 2) / 3 * 4;
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = tbl[(v >> 6) & 63];
        *o++ = tbl[v & 63];
    }
    if (i < len) {
        unsigned v = (unsigned)data[i] << 16;
        if (i + 1 < len)
            v |= (unsigned)data[i + 1] << 8;
        *o++ = tbl[v >> 18];
        *o++ = tbl[(v >> 12) & 63];
        *o++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    if (out_len_r)
        *out_len_r = n;
    return out;
}


/* ---------------------------------------------------------------- JSON out */

/*
 * json_dumps() checks every container for a cycle (printing its address
 * into a hash table) and walks strings one code point at a time through a
 * callback: for a small message that was a quarter of a send.  This writes
 * the same compact text directly.  Strings are valid UTF-8 already (jansson
 * checks them), so only '"', '\' and control characters are escaped, as
 * jansson does without JSON_ENSURE_ASCII.
 */
/* Write the escape of @ch into @esc (a backslash, then one of the short
 * forms or u00XX); returns its length. */
static size_t json_escape(unsigned char ch, char esc[6])
{
    static const char hex[] = "0123456789ABCDEF";
    char named = 0;
    switch (ch) {
    case '"': named = '"'; break;
    case '\\': named = '\\'; break;
    case '\b': named = 'b'; break;
    case '\f': named = 'f'; break;
    case '\n': named = 'n'; break;
    case '\r': named = 'r'; break;
    case '\t': named = 't'; break;
    }
    esc[0] = '\\';
    esc[1] = named ? named : 'u';
    if (named)
        return 2;
    esc[2] = esc[3] = '0';
    esc[4] = hex[ch >> 4];
    esc[5] = hex[ch & 15];
    return 6;
}

static void json_out_string(struct hh_buf *b, const char *s, size_t n)
{
    size_t start = 0;
    char esc[6];
    buf_addc(b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        buf_add(b, s + start, i - start);
        buf_add(b, esc, json_escape(ch, esc));
        start = i + 1;
    }
    buf_add(b, s + start, n - start);
    buf_addc(b, '"');
}

static void json_out(struct hh_buf *b, const json_t *v)
{
    const char *key;
    json_t *item;
    size_t i;
    int first = 1;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        buf_addc(b, '{');
        json_object_foreach((json_t *)v, key, item) {
            if (!first)
                buf_addc(b, ',');
            first = 0;
            json_out_string(b, key, strlen(key));
            buf_addc(b, ':');
            json_out(b, item);
        }
        buf_addc(b, '}');
        break;
    case JSON_ARRAY:
        buf_addc(b, '[');
        json_array_foreach(v, i, item) {
            if (i)
                buf_addc(b, ',');
            json_out(b, item);
        }
        buf_addc(b, ']');
        break;
    case JSON_STRING:
        json_out_string(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_TRUE:
        buf_adds(b, "true");
        break;
    case JSON_FALSE:
        buf_adds(b, "false");
        break;
    case JSON_NULL:
        buf_adds(b, "null");
        break;
    default: {   /* reals: jansson's own formatting */
        char *r = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (r)
            buf_adds(b, r);
        else
            b->oom = 1;
        free(r);
    }
    }
}

char *hh_json_compact(const json_t *v, size_t *len_r)
{
    struct hh_buf b = {0};
    if (!v)
        return NULL;
    buf_reserve(&b, 1024);   /* a typical message in one allocation */
    json_out(&b, v);
    if (b.oom) {
        buf_free(&b);
        return NULL;
    }
    if (len_r)
        *len_r = b.len;
    return b.data;
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
    return hh_error(c, err_r, HERALD_ERR_CONFIG, NULL, NULL, -1,
                          "base_url = %s: %s; write it as https://host[:port][/path]"
                          " (or remove it to use the provider's own address)",
                          base, why);
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
    buf_free(&c->sink.body);
    buf_free(&c->sink.headers);
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
    set_transport(c, c->easy);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, &c->sink);
    curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
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

/* ---------------------------------------------------------------- requests */

void hh_fail_request(hh_request *req, herald_class cls, const char *fmt, ...)
{
    if (req->fail_cls != HERALD_OK)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&req->fail_why, fmt, ap) < 0)
        req->fail_why = NULL;
    va_end(ap);
    req->fail_cls = cls;
}

static void oom(hh_request *req)
{
    hh_fail_request(req, HERALD_ERR_INTERNAL, "out of memory");
}

char *hh_escape(hh_request *req, const char *s)
{
    char *e = curl_easy_escape(req->c->easy, s, 0);
    char *copy = e ? strdup(e) : NULL;
    curl_free(e);
    if (!copy)
        oom(req);
    return copy;
}

void hh_set_path(hh_request *req, const char *method, const char *fmt, ...)
{
    va_list ap;
    char *p = NULL;
    va_start(ap, fmt);
    if (!strchr(fmt, '%'))   /* a constant path: no printf on every send */
        p = strdup(fmt);
    else if (vasprintf(&p, fmt, ap) < 0)
        p = NULL;
    va_end(ap);
    free(req->path);
    free(req->method);
    size_t bl = strlen(req->c->base_path), pl = p ? strlen(p) : 0;
    req->path = p ? malloc(bl + pl + 1) : NULL;
    req->method = strdup(method);
    if (req->path) {
        memcpy(req->path, req->c->base_path, bl);
        memcpy(req->path + bl, p, pl + 1);
    }
    free(p);
    if (!req->path || !req->method)
        oom(req);
}

const char *hh_method(const hh_request *req) { return req->method ? req->method : "GET"; }
const char *hh_path(const hh_request *req) { return req->path ? req->path : "/"; }

void hh_set_origin(hh_request *req, const char *origin)
{
    free(req->origin);
    if (!(req->origin = strdup(origin)))
        oom(req);
}

/* Add header @name with the value @lead followed by @secret (NULL: none).
 * With a secret, the rendered value is @lead followed by "***".  One
 * allocation holds name, value and rendering (h->name owns it). */
static void add_header(hh_request *req, const char *name, const char *lead,
                       const char *secret)
{
    size_t nl = strlen(name) + 1, ll = strlen(lead), sl = secret ? strlen(secret) : 0;
    struct hh_header *grown = realloc(req->h, (req->n_h + 1) * sizeof *grown);
    char *block = grown ? malloc(nl + ll + sl + 1 + (secret ? ll + 4 : 0)) : NULL;
    if (grown)
        req->h = grown;
    if (!block) {
        oom(req);
        return;
    }
    struct hh_header *h = &req->h[req->n_h++];
    h->name = memcpy(block, name, nl);
    h->value = block + nl;
    memcpy(h->value, lead, ll);
    memcpy(h->value + ll, secret ? secret : "", sl + 1);
    h->shown = NULL;
    if (secret) {
        h->shown = h->value + ll + sl + 1;
        memcpy(h->shown, lead, ll);
        memcpy(h->shown + ll, "***", 4);
    }
}

void hh_header(hh_request *req, const char *name, const char *value)
{
    if (strpbrk(value, "\r\n")) {
        hh_fail_request(req, HERALD_ERR_INVALID_MESSAGE,
                        "header %s contains a line break; remove it", name);
        return;
    }
    add_header(req, name, value, NULL);
}

void hh_secret_header(hh_request *req, const char *name, const char *shown,
                      const char *secret)
{
    if (!secret || strpbrk(secret, "\r\n")) {
        hh_fail_request(req, HERALD_ERR_CONFIG,
                        "the credential for header %s is empty or contains a "
                        "line break; check the secret's value", name);
        return;
    }
    add_header(req, name, shown, secret);
}

void hh_bearer(hh_request *req, const char *token)
{
    hh_secret_header(req, "Authorization", "Bearer ", token);
}

void hh_basic(hh_request *req, const char *user, const char *password)
{
    char *pair = NULL;
    if (asprintf(&pair, "%s:%s", user, password ? password : "") < 0) {
        oom(req);
        return;
    }
    char *b64 = hh_base64((const unsigned char *)pair, strlen(pair), NULL);
    /* a provider may echo what it got: the encoded pair is a secret too */
    if (b64 && hh_secrets_add_exact(&req->c->secrets, b64) == 0)
        hh_secret_header(req, "Authorization", "Basic ", b64);
    else
        oom(req);
    free(b64);
    free(pair);
}

void hh_body_json(hh_request *req, json_t *root)
{
    if (!root) {
        oom(req);
        return;
    }
    free(req->body);
    req->body = hh_json_compact(root, &req->body_len);
    json_decref(root);
    if (!req->body) {
        oom(req);
        return;
    }
    hh_header(req, "Content-Type", "application/json");
}

const char *hh_body(const hh_request *req, size_t *len_r)
{
    if (len_r)
        *len_r = req->body ? req->body_len : 0;
    return req->body ? req->body : "";
}

static struct hh_part *new_part(hh_request *req, const char *name)
{
    struct hh_part *grown = realloc(req->parts, (req->n_parts + 1) * sizeof *grown);
    if (!grown) {
        oom(req);
        return NULL;
    }
    req->parts = grown;
    struct hh_part *p = &req->parts[req->n_parts];
    memset(p, 0, sizeof *p);
    if (!(p->name = strdup(name))) {
        oom(req);
        return NULL;
    }
    req->n_parts++;
    req->form = 1;
    return p;
}

void hh_form_field(hh_request *req, const char *name, const char *value)
{
    if (!value)
        return;
    struct hh_part *p = new_part(req, name);
    if (p && !(p->value = strdup(value)))
        oom(req);
    if (p)
        p->len = strlen(value);
}

void hh_form_file(hh_request *req, const char *name, const char *filename,
                  const char *type, const unsigned char *data, size_t len)
{
    struct hh_part *p = new_part(req, name);
    if (!p)
        return;
    p->filename = strdup(filename ? filename : "attachment");
    p->type = strdup(type ? type : "application/octet-stream");
    p->data = data;
    p->len = len;
    if (!p->filename || !p->type)
        oom(req);
}

size_t hh_fit(hh_request *req, const char *field, size_t n, size_t max)
{
    if (n <= max)
        return n;
    hh_client *c = req->c;
    if (c->drop_unsupported) {
        hh_log(c, HERALD_LOG_WARNING,
                     "dropping %zu of the message's %zu %s: %s takes at most %zu "
                     "(unsupported = drop)", n - max, n, field, c->prov->name, max);
        return max;
    }
    hh_fail_request(req, HERALD_ERR_INVALID_MESSAGE,
                    "the message has %zu %s and %s takes at most %zu; send fewer, "
                    "or set `unsupported = drop` in [channel %s] to drop the rest",
                    n, field, c->prov->name, max, chan(c));
    return 0;
}

static void request_free(hh_request *req)
{
    for (size_t i = 0; i < req->n_h; i++)
        free(req->h[i].name);   /* value and shown live in the same block */
    for (size_t i = 0; i < req->n_parts; i++) {
        free(req->parts[i].name);
        free(req->parts[i].filename);
        free(req->parts[i].type);
        free(req->parts[i].value);
    }
    free(req->h);
    free(req->parts);
    free(req->method);
    free(req->path);
    free(req->origin);
    free(req->body);
    free(req->fail_why);
}

/* ---------------------------------------------------------------- JSON */

void hh_jset(hh_request *req, json_t *obj, const char *key, json_t *value)
{
    if (!value) {
        oom(req);
        return;
    }
    if (json_object_set_new(obj, key, value) != 0)
        oom(req);
}

void hh_jstr(hh_request *req, json_t *obj, const char *key, const char *value)
{
    if (!value)
        return;
    json_t *s = json_string(value);
    if (!s) {
        hh_fail_request(req, HERALD_ERR_INVALID_MESSAGE,
                        "the value for %s is not valid UTF-8; fix its encoding", key);
        return;
    }
    hh_jset(req, obj, key, s);
}

void hh_jpush(hh_request *req, json_t *arr, json_t *value)
{
    if (!value || json_array_append_new(arr, value) != 0)
        oom(req);
}

void hh_jpush_str(hh_request *req, json_t *arr, const char *value)
{
    json_t *s = json_string(value);
    if (!s) {
        hh_fail_request(req, HERALD_ERR_INVALID_MESSAGE,
                        "\"%s\" is not valid UTF-8; fix its encoding", value);
        return;
    }
    hh_jpush(req, arr, s);
}

void hh_jbase64(hh_request *req, json_t *obj, const char *key,
                const unsigned char *data, size_t len)
{
    size_t n = 0;
    char *b64 = hh_base64(data, len, &n);
    if (!b64) {
        oom(req);
        return;
    }
    hh_jset(req, obj, key, json_stringn_nocheck(b64, n));
    free(b64);
}

json_t *hh_jaddress(hh_request *req, const char *addr, const char *name)
{
    json_t *o = json_object();
    if (!o) {
        oom(req);
        return NULL;
    }
    hh_jstr(req, o, "email", addr);
    hh_jstr(req, o, "name", name);
    return o;
}

/* RFC 5322 atext plus space: a display name that needs no quoting. */
static int plain_name(const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x80 || ch == ' ' || (ch >= 'A' && ch <= 'Z') ||
            (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            strchr("!#$%&'*+-/=?^_`{|}~", ch))
            continue;
        return 0;
    }
    return 1;
}

char *hh_mailbox(hh_request *req, const char *addr, const char *name)
{
    struct hh_buf b = {0};
    if (name && plain_name(name)) {
        buf_printf(&b, "%s <%s>", name, addr);
    } else if (name) {
        buf_adds(&b, "\"");
        for (const char *p = name; *p; p++) {
            if (*p == '"' || *p == '\\')
                buf_adds(&b, "\\");
            buf_add(&b, p, 1);
        }
        buf_printf(&b, "\" <%s>", addr);
    } else {
        buf_adds(&b, addr);
    }
    if (b.oom) {
        buf_free(&b);
        oom(req);
        return NULL;
    }
    return b.data;
}

int hh_split_mailbox(hh_request *req, const char *mailbox, char **addr_r,
                     char **name_r)
{
    const char *lt = strrchr(mailbox, '<');
    const char *end = lt;
    *name_r = NULL;
    if (!lt) {
        *addr_r = strdup(mailbox);
        return *addr_r ? 0 : (oom(req), -1);
    }
    *addr_r = strndup(lt + 1, strcspn(lt + 1, ">"));
    while (end > mailbox && end[-1] == ' ')
        end--;
    int failed = !*addr_r;
    if (end > mailbox && mailbox[0] == '"') {
        /* a quoted-string: drop the quotes, undo the backslash escapes */
        char *n = *name_r = malloc((size_t)(end - mailbox));
        for (const char *q = mailbox + 1; n && q < end && *q != '"'; q++)
            *n++ = *q == '\\' && q + 1 < end ? *++q : *q;
        if (n)
            *n = '\0';
        failed |= !*name_r;
    } else if (end > mailbox) {
        failed |= !(*name_r = strndup(mailbox, (size_t)(end - mailbox)));
    }
    if (failed) {
        free(*addr_r);
        free(*name_r);
        *addr_r = *name_r = NULL;
        oom(req);
        return -1;
    }
    return 0;
}

char *hh_mailbox_list(hh_request *req, const herald_msg *msg, herald_list list)
{
    const herald_host *host = req->c->host;
    size_t n = host->msg_count(msg, list);
    struct hh_buf b = {0};
    for (size_t i = 0; i < n; i++) {
        const char *name = NULL;
        const char *addr = host->msg_address(msg, list, i, &name);
        char *mb = hh_mailbox(req, addr, name);
        if (i)
            buf_adds(&b, ", ");
        if (mb)
            buf_adds(&b, mb);
        free(mb);
    }
    if (b.oom)
        oom(req);
    if (b.oom || !n) {
        buf_free(&b);
        return NULL;
    }
    return b.data;
}

void hh_jmailbox(hh_request *req, json_t *obj, const char *key, const char *mailbox)
{
    char *addr, *name;
    if (!mailbox || hh_split_mailbox(req, mailbox, &addr, &name) != 0)
        return;
    hh_jset(req, obj, key, hh_jaddress(req, addr, name));
    free(addr);
    free(name);
}

json_t *hh_jaddresses(hh_request *req, const herald_msg *msg, herald_list list,
                      hh_mailbox_fn fmt)
{
    const herald_host *host = req->c->host;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < host->msg_count(msg, list); i++) {
        const char *name = NULL;
        const char *addr = host->msg_address(msg, list, i, &name);
        if (!fmt) {
            hh_jpush(req, arr, hh_jaddress(req, addr, name));
            continue;
        }
        char *mb = fmt(req, addr, name);
        if (mb)
            hh_jpush_str(req, arr, mb);
        free(mb);
    }
    return arr;
}

void hh_jrecipients(hh_request *req, json_t *obj, const herald_msg *msg,
                    const char *const keys[3], hh_mailbox_fn fmt)
{
    static const herald_list lists[] = {HERALD_LIST_TO, HERALD_LIST_CC,
                                        HERALD_LIST_BCC};
    for (size_t i = 0; i < 3; i++)
        if (req->c->host->msg_count(msg, lists[i]))
            hh_jset(req, obj, keys[i], hh_jaddresses(req, msg, lists[i], fmt));
}

/* Each pair of @list into @obj (as its own member when @name_key is NULL,
 * else appended to the array @obj as {name_key, value_key}). */
static void put_pairs(hh_request *req, json_t *obj, const herald_msg *msg,
                      herald_list list, const char *name_key, const char *value_key)
{
    const herald_host *host = req->c->host;
    for (size_t i = 0; obj && i < host->msg_count(msg, list); i++) {
        const char *k, *v;
        host->msg_pair(msg, list, i, &k, &v);
        if (!name_key) {
            hh_jstr(req, obj, k, v);
            continue;
        }
        json_t *o = json_object();
        hh_jstr(req, o, name_key, k);
        hh_jstr(req, o, value_key, v);
        hh_jpush(req, obj, o);
    }
}

void hh_jpairs(hh_request *req, json_t *obj, const char *key,
               const herald_msg *msg, herald_list list)
{
    if (!req->c->host->msg_count(msg, list))
        return;
    json_t *o = json_object();
    put_pairs(req, o, msg, list, NULL, NULL);
    hh_jset(req, obj, key, o);
}

void hh_jpairs_array(hh_request *req, json_t *obj, const char *key,
                     const herald_msg *msg, herald_list list,
                     const char *name_key, const char *value_key)
{
    if (!req->c->host->msg_count(msg, list))
        return;
    json_t *arr = json_array();
    put_pairs(req, arr, msg, list, name_key, value_key);
    hh_jset(req, obj, key, arr);
}

void hh_jattachments(hh_request *req, json_t *obj, const char *key,
                     const herald_msg *msg, const struct hh_attachment_keys *k)
{
    const herald_host *host = req->c->host;
    size_t n = host->msg_count(msg, HERALD_LIST_ATTACHMENTS);
    json_t *arr = n ? json_array() : NULL;
    for (size_t i = 0; arr && i < n; i++) {
        const char *name, *type;
        const unsigned char *data;
        size_t len;
        host->msg_attachment(msg, i, &name, &type, &data, &len);
        json_t *a = json_object();
        if (a) {
            hh_jstr(req, a, k->name, name);
            hh_jbase64(req, a, k->content, data, len);
            hh_jstr(req, a, k->type, type);
            if (k->disposition_key)
                hh_jstr(req, a, k->disposition_key, k->disposition);
        }
        hh_jpush(req, arr, a);
    }
    if (n)
        hh_jset(req, obj, key, arr);
}

void hh_jnamed_tags(hh_request *req, json_t *obj, const char *key,
                    const herald_msg *msg, size_t max, const char *provider,
                    const char *name_key, const char *value_key)
{
    const herald_host *host = req->c->host;
    if (!host->msg_count(msg, HERALD_LIST_TAGS))
        return;
    size_t n = hh_fit(req, "tags", host->msg_count(msg, HERALD_LIST_TAGS), max);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        const char *t = host->msg_item(msg, HERALD_LIST_TAGS, i);
        if (strlen(t) > 256 || strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789_-") != strlen(t))
            hh_fail_request(req, HERALD_ERR_INVALID_MESSAGE,
                            "tag \"%s\": %s tags may hold only ASCII letters, digits, "
                            "'_' and '-' (at most 256); rename the tag", t, provider);
        json_t *o = json_object();
        hh_jstr(req, o, name_key, t);
        hh_jstr(req, o, value_key, "true");
        hh_jpush(req, arr, o);
    }
    hh_jset(req, obj, key, arr);
}

const char *hh_json_string(const json_t *obj, const char *key)
{
    return json_is_object(obj) ? json_string_value(json_object_get(obj, key)) : NULL;
}

/* ---------------------------------------------------------------- responses */

const char *hh_response_header(const hh_response *resp, const char *name,
                               char *buf, size_t size)
{
    size_t nl = strlen(name);
    for (const char *line = resp->headers; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        if (ll > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            const char *ve = line + ll;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            size_t vl = (size_t)(ve - v) < size - 1 ? (size_t)(ve - v) : size - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        line = end ? end + 1 : NULL;
    }
    return NULL;
}

long hh_parse_retry_after(const char *value, time_t now)
{
    if (!value || !*value)
        return -1;
    const char *p = value;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '\0') {
        if (p - value > 9)
            return -1;
        return strtol(value, NULL, 10);
    }
    time_t t = curl_getdate(value, NULL);
    if (t == (time_t)-1)
        return -1;
    return t > now ? (long)(t - now) : 0;
}

herald_class hh_status_class(long status)
{
    if (status >= 200 && status < 300)
        return HERALD_OK;
    switch (status) {
    case 400: case 413: case 422: return HERALD_ERR_INVALID_MESSAGE;
    case 401: case 403: return HERALD_ERR_AUTH;
    case 404: return HERALD_ERR_CONFIG;
    case 408: return HERALD_ERR_TEMPORARY;
    case 429: return HERALD_ERR_RATE_LIMITED;
    }
    if (status >= 500 && status < 600)
        return HERALD_ERR_TEMPORARY;
    if (status >= 400 && status < 500)
        return HERALD_ERR_PERMANENT;
    return HERALD_ERR_PROTOCOL;
}

/* A peer that hangs up mid-handshake is a CURLE_SSL_CONNECT_ERROR to
 * libcurl; GnuTLS's words for a failed transport tell it from a refused
 * certificate or cipher. */
static int transport_failed(const char *detail)
{
    static const char *const words[] = {
        "pull function", "push function", "non-properly terminated",
        "Connection reset", "Broken pipe"};
    for (size_t i = 0; detail && i < sizeof words / sizeof words[0]; i++)
        if (strstr(detail, words[i]))
            return 1;
    return 0;
}

herald_class hh_curl_class(int curl_code, const char *detail)
{
    if (curl_code == CURLE_SSL_CONNECT_ERROR && transport_failed(detail))
        return HERALD_ERR_CONNECT;
    switch ((CURLcode)curl_code) {
    case CURLE_OK:
        return HERALD_OK;
    case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_RESOLVE_PROXY:
        return HERALD_ERR_HOST_NOT_FOUND;
    case CURLE_COULDNT_CONNECT: case CURLE_SEND_ERROR: case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE:
        return HERALD_ERR_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return HERALD_ERR_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR: case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM: case CURLE_SSL_CIPHER: case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR: case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS: case CURLE_SSL_CRL_BADFILE:
    case CURLE_USE_SSL_FAILED: case CURLE_SSL_SHUTDOWN_FAILED:
        return HERALD_ERR_TLS;
    case CURLE_WEIRD_SERVER_REPLY: case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
    case CURLE_BAD_CONTENT_ENCODING: case CURLE_UNSUPPORTED_PROTOCOL:
        return HERALD_ERR_PROTOCOL;
    case CURLE_URL_MALFORMAT:
        return HERALD_ERR_CONFIG;
    default:
        return HERALD_ERR_INTERNAL;
    }
}

/* ---- the answer's JSON: parsed on first use; single members without it */

json_t *hh_response_json(const hh_response *resp)
{
    hh_response *r = (hh_response *)resp;   /* the cache is the helper's */
    if (!r->parsed && r->len && (r->body[0] == '{' || r->body[0] == '['))
        r->json = json_loadb(r->body, r->len, 0, NULL);
    r->parsed = 1;
    return r->json;
}

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* Past the JSON string that starts at @p (its opening quote), or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Past the JSON value at @p, or NULL when it is not one. */
static const char *skip_value(const char *p, const char *end)
{
    if (p < end && *p == '"')
        return skip_string(p, end);
    if (p < end && (*p == '{' || *p == '[')) {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                if (!(p = skip_string(p, end)))
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if ((*p == '}' || *p == ']') && --depth == 0)
                return p + 1;
            p++;
        }
        return NULL;
    }
    const char *start = p;   /* number, true, false, null */
    while (p < end && ((*p && strchr("+-.eE", *p)) || (*p >= '0' && *p <= '9') ||
                       (*p >= 'a' && *p <= 'z')))
        p++;
    return p > start ? p : NULL;
}

/* Find top-level member @key of the JSON object in [p, end): 1 with its
 * value in [*v_r, *end_r) (the last one, as jansson keeps), 0 when there is
 * none, -1 when this reader cannot tell (escaped keys, malformed text). */
static int find_member(const char *p, const char *end, const char *key,
                       const char **v_r, const char **end_r)
{
    size_t kl = strlen(key);
    int found = 0;
    p = skip_space(p, end);
    if (p == end || *p != '{')
        return -1;
    p = skip_space(p + 1, end);
    if (p < end && *p == '}')
        return 0;
    while (p < end && *p == '"') {
        const char *k = p + 1, *ke = skip_string(p, end);
        if (!ke || memchr(k, '\\', (size_t)(ke - 1 - k)))
            return -1;
        int match = (size_t)(ke - 1 - k) == kl && memcmp(k, key, kl) == 0;
        p = skip_space(ke, end);
        if (p == end || *p != ':')
            return -1;
        const char *v = skip_space(p + 1, end), *ve = skip_value(v, end);
        if (!ve)
            return -1;
        if (match) {
            *v_r = v;
            *end_r = ve;
            found = 1;
        }
        p = skip_space(ve, end);
        if (p < end && *p == '}')
            return found;
        if (p == end || *p != ',')
            return -1;
        p = skip_space(p + 1, end);
    }
    return -1;
}

/* @n bytes of @s into @buf, cut to fit. */
static const char *copy_cut(const char *s, size_t n, char *buf, size_t size)
{
    if (n >= size)
        n = size - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return buf;
}

const char *hh_response_member(const hh_response *resp, const char *key,
                               char *buf, size_t size)
{
    const char *v = NULL, *ve = NULL;
    int r = resp->body ? find_member(resp->body, resp->body + resp->len, key, &v, &ve)
                       : 0;
    if (r == 0)
        return NULL;
    if (r == 1 && *v == '"' && !memchr(v, '\\', (size_t)(ve - v)))
        return copy_cut(v + 1, (size_t)(ve - v - 2), buf, size);
    if (r == 1 && (*v == '-' || (*v >= '0' && *v <= '9')))
        return copy_cut(v, (size_t)(ve - v), buf, size);
    if (r == 1 && *v != '"')
        return NULL;   /* true, false, null, an object or an array */
    /* an escaped string, or text this reader does not follow: jansson's */
    json_t *m = json_object_get(hh_response_json(resp), key);
    if (json_is_string(m))
        return copy_cut(json_string_value(m), strlen(json_string_value(m)), buf, size);
    if (json_is_integer(m)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(m));
        return buf;
    }
    return NULL;
}

static void response_clear(hh_response *resp)
{
    json_decref(resp->json);   /* body and headers are the client's sink */
    memset(resp, 0, sizeof *resp);
}

/* ---------------------------------------------------------------- transfer */

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    struct sink *s = user;
    size_t len = size * n;
    if (len > HH_MAX_BODY - s->body.len) {   /* keep the first MiB, then stop */
        buf_add(&s->body, p, HH_MAX_BODY - s->body.len);
        s->over_cap = 1;
        return 0;
    }
    buf_add(&s->body, p, len);
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *user)
{
    struct sink *s = user;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
        s->headers.len = 0;   /* a new response (after 100 or CONNECT) */
    if (s->headers.len < 64 * 1024)
        buf_add(&s->headers, p, len);
    return len;
}

/* Empty the sink for the next answer, keeping its memory. */
static void sink_clear(struct sink *s)
{
    s->body.len = s->headers.len = 0;
    s->body.oom = s->headers.oom = 0;
    s->over_cap = 0;
    if (s->body.data)
        s->body.data[0] = '\0';
    if (s->headers.data)
        s->headers.data[0] = '\0';
}

/* A request's URL is @prefix (the base URL, or the request's origin)
 * followed by its path without base_url's path. */
static const char *url_prefix(const hh_client *c, const hh_request *req)
{
    return req->origin ? req->origin : c->base;
}

static const char *url_path(const hh_client *c, const hh_request *req)
{
    return req->path ? req->path + strlen(c->base_path) : "/";
}

static char *full_url(const hh_client *c, const hh_request *req)
{
    char *url = NULL;
    if (asprintf(&url, "%s%s", url_prefix(c, req), url_path(c, req)) < 0)
        return NULL;
    return url;
}

static int has_header(const hh_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_h; i++)
        if (strcasecmp(req->h[i].name, name) == 0)
            return 1;
    return 0;
}

/* The header lines every request carries first: no "Expect: 100-continue"
 * round trip, and JSON answers unless the driver asks otherwise. */
static const char *fixed_header(const hh_request *req, size_t i)
{
    if (i == 0)
        return "Expect:";
    if (i == 1 && !has_header(req, "Accept"))
        return "Accept: application/json";
    return NULL;
}

/* Is @line "NAME: VALUE" of @h? */
static int is_line_of(const char *line, const struct hh_header *h)
{
    size_t n = strlen(h->name);
    return strncmp(line, h->name, n) == 0 && line[n] == ':' && line[n + 1] == ' ' &&
           strcmp(line + n + 2, h->value) == 0;
}

/* Does @l hold exactly the lines header_list() makes for @req?  Then the
 * handle keeps it: a driver's headers rarely change between sends. */
static int same_headers(const struct curl_slist *l, const hh_request *req)
{
    for (size_t i = 0; i < 2; i++) {
        const char *f = fixed_header(req, i);
        if (!f)
            continue;
        if (!l || strcmp(l->data, f) != 0)
            return 0;
        l = l->next;
    }
    for (size_t i = 0; i < req->n_h; i++, l = l->next)
        if (!l || !is_line_of(l->data, &req->h[i]))
            return 0;
    return l == NULL;
}

static struct curl_slist *header_list(const hh_request *req, int *ok_r)
{
    struct curl_slist *l = NULL, *t;
    *ok_r = 1;
    for (size_t i = 0; i < 2; i++) {
        const char *f = fixed_header(req, i);
        if (f && !(t = curl_slist_append(l, f)))
            goto fail;
        l = f ? t : l;
    }
    for (size_t i = 0; i < req->n_h; i++) {
        char *line = NULL;
        if (asprintf(&line, "%s: %s", req->h[i].name, req->h[i].value) < 0)
            goto fail;
        t = curl_slist_append(l, line);
        free(line);
        if (!t)
            goto fail;
        l = t;
    }
    return l;
fail:
    *ok_r = 0;
    curl_slist_free_all(l);
    return NULL;
}

/* What every request of this client shares (set once per handle). */
static void set_transport(const hh_client *c, CURL *e)
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

/* Point the handle at @req's URL, unless it is there already. */
static int set_url(hh_client *c, const hh_request *req)
{
    const char *prefix = url_prefix(c, req);
    size_t n = strlen(prefix);
    if (c->url && strncmp(c->url, prefix, n) == 0 &&
        strcmp(c->url + n, url_path(c, req)) == 0)
        return 0;
    char *url = full_url(c, req);
    if (!url)
        return -1;
    free(c->url);
    c->url = url;
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    return 0;
}

/* Give the handle @req's header list, unless it has an equal one. */
static int set_headers(hh_client *c, const hh_request *req)
{
    if (c->hl && same_headers(c->hl, req))
        return 0;
    int ok = 1;
    struct curl_slist *hl = header_list(req, &ok);
    if (!ok)
        return -1;
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hl);
    curl_slist_free_all(c->hl);
    c->hl = hl;
    return 0;
}

static void set_method(hh_client *c, const hh_request *req)
{
    CURL *e = c->easy;
    const char *m = hh_method(req);
    if (req->body || strcmp(m, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body ? req->body_len : 0));
    } else {
        /* drop the last send's body pointer, then back to GET */
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    int custom = strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0;
    if (custom || c->custom_method)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, custom ? m : NULL);
    c->custom_method = custom;
}

static const char *tls_fix(CURLcode code, const char *why);

/* What a transport failure means and what to do about it. */
static const char *transport_fix(herald_class cls)
{
    switch (cls) {
    case HERALD_ERR_HOST_NOT_FOUND:
        return "check base_url and this machine's DNS (or set proxy)";
    case HERALD_ERR_CONNECT:
        return "the server refused or dropped the connection; check base_url, "
               "or whether outbound HTTPS is blocked here (then set proxy)";
    case HERALD_ERR_TIMEOUT:
        return "the server did not answer in time; raise timeout, or check "
               "whether outbound HTTPS is blocked here (then set proxy)";
    case HERALD_ERR_TLS:
        return "check the server's certificate and name, ca_file, and the "
               "system clock";
    case HERALD_ERR_PROTOCOL:
        return "the server does not speak the expected HTTP; check base_url";
    default:
        return "this is unexpected; report it with the text above";
    }
}

/* The setting that sends this client's requests through a proxy: "proxy"
 * or the environment variable libcurl reads; NULL when none does. */
static const char *proxy_source(const hh_client *c)
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

/* A failure to reach the proxy itself (resolving it, connecting to it,
 * or the tunnel it refused): the fix is the proxy setting, not base_url. */
static int proxy_failed(const hh_client *c, CURLcode code, const char *why)
{
    if (code == CURLE_COULDNT_RESOLVE_PROXY)
        return 1;
    if (!proxy_source(c))
        return 0;
    return code == CURLE_COULDNT_CONNECT || strstr(why, "CONNECT tunnel") ||
           strstr(why, "proxy") || strstr(why, "Proxy");
}

static herald_class transport_error(hh_client *c, CURLcode code,
                                    herald_error **err_r)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(code);
    herald_class cls = hh_curl_class((int)code, why);
    const char *src = proxy_source(c);
    if (proxy_failed(c, code, why)) {
        char fix[384];
        if (src && strcmp(src, "proxy") != 0)
            snprintf(fix, sizeof fix, "check the %s environment variable (its host "
                     "and port), or set proxy = none in [channel %s] to connect "
                     "directly", src, chan(c));
        else
            snprintf(fix, sizeof fix, "check the proxy setting in [channel %s] (its "
                     "host and port), or set proxy = none to connect directly",
                     chan(c));
        return hh_error(c, err_r, cls, NULL, why, -1,
                        "%s request to %s failed at the proxy (from %s): %s; %s",
                        c->prov->name, c->authority, src ? src : "proxy", why, fix);
    }
    return hh_error(c, err_r, cls, NULL, why, -1,
                    "%s request to %s failed: %s; %s", c->prov->name,
                    c->authority, why,
                    cls == HERALD_ERR_TLS ? tls_fix(code, why) : transport_fix(cls));
}

/* The whole request went out, then the answer was lost: the provider may
 * have accepted the message, so a retry may deliver it twice. */
static herald_class unknown_error(hh_client *c, CURLcode code, const char *what,
                                  herald_error **err_r)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(code);
    return hh_error(c, err_r, HERALD_ERR_DELIVERY_UNKNOWN, NULL, why, -1,
                    "%s request to %s was sent in full, then %s (%s): the message "
                    "may or may not have been delivered; look it up in the "
                    "provider's log before sending it again (a retry may deliver it "
                    "twice, unless it has an idempotency key the provider honours)",
                    c->prov->name, c->authority, what, why);
}

/* Send @req and point @resp at the answer (the client's buffers, valid
 * until the next request).  CURLE_OUT_OF_MEMORY also stands for an
 * allocation of ours that failed. */
static CURLcode transfer(hh_client *c, const hh_request *req, hh_response *resp)
{
    c->errbuf[0] = '\0';
    if (set_url(c, req) != 0 || set_headers(c, req) != 0)
        return CURLE_OUT_OF_MEMORY;
    set_method(c, req);
    sink_clear(&c->sink);
    CURLcode code = curl_easy_perform(c->easy);
    /* Was all of it written?  The header bytes (with any body sent along)
     * and the body bytes libcurl counted. */
    long head = 0;
    curl_off_t up = 0;
    curl_easy_getinfo(c->easy, CURLINFO_REQUEST_SIZE, &head);
    curl_easy_getinfo(c->easy, CURLINFO_SIZE_UPLOAD_T, &up);
    c->sent = head > 0 && up >= (curl_off_t)(req->body ? req->body_len : 0);
    resp->status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &resp->status);
    /* An error status arrived, then the rest of the answer did not (cut
     * off, past the cap, too slow): the status says enough. */
    if (code != CURLE_OK && code != CURLE_OUT_OF_MEMORY && resp->status >= 300)
        code = CURLE_OK;
    if (code == CURLE_OK && (c->sink.body.oom || c->sink.headers.oom))
        code = CURLE_OUT_OF_MEMORY;
    if (code == CURLE_OK) {
        static char empty[1];
        resp->body = c->sink.body.data ? c->sink.body.data : empty;
        resp->len = c->sink.body.len;
        resp->headers = c->sink.headers.data ? c->sink.headers.data : empty;
        double secs = 0;
        long fresh = 0;
        curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME, &secs);
        curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &fresh);
        hh_log(c, HERALD_LOG_DEBUG, "%s %s -> HTTP %ld in %.0f ms%s",
                     hh_method(req), c->url, resp->status, secs * 1000,
                     fresh == 0 ? " (connection reused)" : "");
    }
    return code;
}

/* Send @req; any HTTP answer is HERALD_OK here (see answer_error). */
static herald_class perform(hh_client *c, const hh_request *req,
                            hh_response *resp, herald_error **err_r)
{
    CURLcode code = transfer(c, req, resp);
    if (code == CURLE_OUT_OF_MEMORY)
        return hh_error(c, err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                              "out of memory");
    if (code == CURLE_OK)
        return HERALD_OK;
    if (code == CURLE_WRITE_ERROR && c->sink.over_cap) {
        char what[128];
        snprintf(what, sizeof what, "HTTP %ld came with an answer longer than the "
                 "%d MiB cap, which was cut off there", resp->status,
                 HH_MAX_BODY / (1024 * 1024));
        return unknown_error(c, code, what, err_r);
    }
    if (!c->sent)
        return transport_error(c, code, err_r);
    if (code == CURLE_OPERATION_TIMEDOUT) {
        char what[128];
        snprintf(what, sizeof what, "no complete answer came within timeout (%ld ms)%s",
                 c->timeout_ms, resp->status ? " after the status line" : "");
        return unknown_error(c, code, what, err_r);
    }
    return unknown_error(c, code, resp->status ? "the answer was cut off"
                                               : "the connection failed before an answer",
                         err_r);
}

/* One line, at most @max bytes, of the provider's text for the message. */
static char *one_line(const char *text, size_t max)
{
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        n--;
    int cut = n > max;
    if (cut)
        n = max;
    char *s = malloc(n + 4);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i++)
        s[i] = text[i] == '\n' || text[i] == '\r' || text[i] == '\t' ? ' ' : text[i];
    strcpy(s + n, cut ? "..." : "");
    return s;
}

static const char *default_hint(hh_client *c, herald_class cls, long status,
                                long retry, char *buf, size_t size)
{
    switch (cls) {
    case HERALD_ERR_AUTH:
        snprintf(buf, size, "check %s in [channel %s]: the provider refused "
                 "the credentials or their permissions", c->prov->credential,
                 chan(c));
        return buf;
    case HERALD_ERR_INVALID_MESSAGE:
        return status == 413 ? "the message is too large for the provider; "
                               "send smaller or fewer attachments"
                             : "fix the part of the message the provider names";
    case HERALD_ERR_CONFIG:
        snprintf(buf, size, "check base_url and the provider settings in "
                 "[channel %s]", chan(c));
        return buf;
    case HERALD_ERR_RATE_LIMITED:
        if (retry >= 0) {
            snprintf(buf, size, "the provider asks to wait %ld s before "
                     "sending again", retry);
            return buf;
        }
        return "send more slowly and retry later";
    case HERALD_ERR_TEMPORARY:
        return "the provider failed for now; retry later";
    case HERALD_ERR_PROTOCOL:
        return "unexpected answer (redirects are not followed); check base_url";
    default:
        return "the provider refused the message; see its text";
    }
}

/* What an error answer says: the driver's problem() reading of it, its
 * class and retry-after, its text and one line of it, and the advice. */
struct answer {
    hh_problem p;
    herald_class cls;
    long retry;
    const char *text;     /* NULL when there is none */
    char *line;           /* malloc'd (NULL on OOM) */
    const char *advice;
    char status[24];
    char hint[512];
};

static void read_answer(hh_client *c, const hh_response *resp, struct answer *a)
{
    a->p = (hh_problem){.cls = HERALD_OK, .retry_after = -1};
    if (c->prov->problem)
        c->prov->problem(c, c->priv, resp, &a->p);
    a->cls = a->p.cls != HERALD_OK ? a->p.cls : hh_status_class(resp->status);
    char hb[64];
    a->retry = hh_parse_retry_after(
        hh_response_header(resp, "Retry-After", hb, sizeof hb), time(NULL));
    if (a->retry < 0)
        a->retry = a->p.retry_after;
    snprintf(a->status, sizeof a->status, "%ld", resp->status);
    if (a->p.code && strcmp(a->p.code, a->status) == 0)
        a->p.code = NULL;  /* says nothing the status does not */
    a->text = a->p.text && *a->p.text ? a->p.text : resp->body;
    a->text = a->text && *a->text ? a->text : NULL;
    a->line = one_line(a->text ? a->text : "", 300);
    a->advice = a->p.hint ? a->p.hint
                          : default_hint(c, a->cls, resp->status, a->retry, a->hint,
                                         sizeof a->hint);
}

/* Map an error answer to a herald error, keeping the provider's words. */
static herald_class answer_error(hh_client *c, const hh_response *resp,
                                 herald_error **err_r)
{
    struct answer a;
    read_answer(c, resp, &a);
    const char *code = a.p.code;
    herald_class rc = hh_error(c, 
        err_r, a.cls, code ? code : a.status, a.text, a.retry,
        "%s answered HTTP %ld%s%s%s: %s; %s", c->prov->name, resp->status,
        code ? " (" : "", code ? code : "", code ? ")" : "",
        a.line && *a.line ? a.line : "(no text)", a.advice);
    free(a.line);
    return rc;
}

/* A name or file name as a multipart quoted-string (RFC 7578, RFC 2045):
 * '"' and '\\' escaped with a backslash, UTF-8 as it is. */
static void form_quoted(struct hh_buf *b, const char *s)
{
    buf_addc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            buf_addc(b, '\\');
        buf_addc(b, *s);
    }
    buf_addc(b, '"');
}

static int form_contains(const hh_request *req, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i < req->n_parts; i++) {
        const struct hh_part *p = &req->parts[i];
        const void *data = p->filename ? (const void *)p->data : p->value;
        if ((data && memmem(data, p->len, needle, nl)) || strstr(p->name, needle) ||
            (p->filename && strstr(p->filename, needle)))
            return 1;
    }
    return 0;
}

/* The multipart/form-data body of the request's parts, made here (not by
 * libcurl) so that a dry run shows the very bytes a send puts on the wire.
 * The boundary is a hash of the parts (the same message, the same body),
 * changed until no part contains it. */
static void form_body(hh_request *req)
{
    uint64_t hash = 1469598103934665603ull;   /* FNV-1a */
    for (size_t i = 0; i < req->n_parts; i++) {
        const struct hh_part *p = &req->parts[i];
        const unsigned char *d = p->filename ? p->data : (const unsigned char *)p->value;
        for (size_t k = 0; k < p->len; k++)
            hash = (hash ^ d[k]) * 1099511628211ull;
        if (p->filename && strpbrk(p->filename, "\r\n"))
            hh_fail_request(req, HERALD_ERR_INVALID_MESSAGE, "attachment file name "
                            "\"%s\" contains a line break; rename it", p->filename);
    }
    char boundary[64];
    do
        snprintf(boundary, sizeof boundary, "------------------------herald%016llx",
                 (unsigned long long)hash++);
    while (form_contains(req, boundary));
    struct hh_buf b = {0};
    for (size_t i = 0; i < req->n_parts; i++) {
        const struct hh_part *p = &req->parts[i];
        buf_printf(&b, "--%s\r\nContent-Disposition: form-data; name=", boundary);
        form_quoted(&b, p->name);
        if (p->filename) {
            buf_adds(&b, "; filename=");
            form_quoted(&b, p->filename);
            buf_printf(&b, "\r\nContent-Type: %s", p->type);
        }
        buf_adds(&b, "\r\n\r\n");
        buf_add(&b, p->filename ? (const void *)p->data : p->value, p->len);
        buf_adds(&b, "\r\n");
    }
    buf_printf(&b, "--%s--\r\n", boundary);
    char ctype[128];
    snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", boundary);
    if (b.oom) {
        buf_free(&b);
        oom(req);
        return;
    }
    free(req->body);
    req->body = b.data;
    req->body_len = b.len;
    hh_header(req, "Content-Type", ctype);
}

static herald_class build(hh_client *c, const herald_msg *msg, hh_request *req,
                          herald_error **err_r)
{
    memset(req, 0, sizeof *req);
    req->c = c;
    herald_class rc = c->prov->build(c, c->priv, msg, req, err_r);
    if (rc == HERALD_OK && req->form && req->fail_cls == HERALD_OK)
        form_body(req);
    if (rc == HERALD_OK && req->fail_cls != HERALD_OK)
        rc = hh_error(c, err_r, req->fail_cls, NULL, NULL, -1, "%s: %s",
                            c->prov->name,
                            req->fail_why ? req->fail_why : "out of memory");
    return rc;
}

herald_class hh_unexpected_answer(hh_client *c, const hh_response *resp,
                                  const char *what, herald_error **err_r)
{
    char excerpt[512], ctype[96];
    hh_escape_bytes(resp->body, resp->len, 120, excerpt, sizeof excerpt);
    if (!hh_response_header(resp, "Content-Type", ctype, sizeof ctype))
        snprintf(ctype, sizeof ctype, "no Content-Type");
    return hh_error(c, err_r, HERALD_ERR_DELIVERY_UNKNOWN, NULL, excerpt, -1,
                    "%s answered HTTP %ld but not with its success answer (%s; %s, "
                    "%zu bytes: \"%s\"): the message may or may not have been "
                    "delivered; something else may have answered (a captive portal "
                    "or proxy: check base_url and proxy), so look the message up in "
                    "the provider's log before sending it again",
                    c->prov->name, resp->status, what, ctype, resp->len, excerpt);
}

/* A 2xx answer: the provider's success answer (its id becomes the
 * result's), or delivery unknown. */
static herald_class accept_shape(hh_client *c, const hh_response *resp,
                                 herald_result *res, herald_error **err_r)
{
    char id[1024];
    const char *why = hh_shape_problem(&c->prov->shape, resp, id, sizeof id);
    if (why)
        return hh_unexpected_answer(c, resp, why, err_r);
    if (*id)
        hh_set_id(c, res, id);
    return HERALD_OK;
}

herald_class hh_plugin_send(void *state, const herald_msg *msg,
                            herald_result *res, herald_error **err_r)
{
    hh_client *c = state;
    hh_request req;
    hh_response resp = {0};
    herald_class rc = build(c, msg, &req, err_r);
    if (rc == HERALD_OK)
        rc = perform(c, &req, &resp, err_r);
    if (rc == HERALD_OK && resp.status >= 200 && resp.status < 300) {
        if (c->prov->accepted)
            rc = c->prov->accepted(c, c->priv, &resp, res, err_r);
        if (rc == HERALD_OK)
            rc = accept_shape(c, &resp, res, err_r);
    } else if (rc == HERALD_OK)
        rc = answer_error(c, &resp, err_r);
    response_clear(&resp);
    request_free(&req);
    return rc;
}

/* ---------------------------------------------------------------- check */

/* A running diagnosis: report_step() with what failed kept for the error. */
struct diag {
    hh_client *c;
    herald_checker *chk;
    herald_error **err_r;
    herald_class rc;         /* the class of the failed step, else HERALD_OK */
};

/* Report step @name; a failure also becomes the check's error (class @cls). */
static void report(struct diag *d, const char *name, herald_check_status st,
                   double ms, herald_class cls, const char *fix,
                   const char *fmt, ...) HERALD_PRINTF(7, 8);
static void report(struct diag *d, const char *name, herald_check_status st,
                   double ms, herald_class cls, const char *fix,
                   const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    char *shown = hh_secrets_apply(&d->c->secrets, detail);
    char *fix_shown = hh_secrets_apply(&d->c->secrets, fix);
    d->c->host->report_step(d->chk, name, st, ms, shown ? shown : "(out of memory)",
                            fix_shown);
    free(shown);
    free(fix_shown);
    if (st == HERALD_CHECK_FAIL && d->rc == HERALD_OK)
        d->rc = hh_error(d->c, d->err_r, cls, NULL, NULL, -1, "%s: %s; %s",
                                  name, detail, fix ? fix : "see the step above");
}

static double ms_of(CURL *e, CURLINFO what)
{
    double secs = 0;
    curl_easy_getinfo(e, what, &secs);
    return secs * 1000;
}

static int via_proxy(const hh_client *c)
{
    return !c->loopback && c->proxy && *c->proxy && strcmp(c->proxy, "none") != 0;
}

/* "a.b.c.d, ..." for the host's addresses (at most 8), into @buf. */
static const char *addresses(const char *host, char *buf, size_t size)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;  /* once each */
    size_t used = 0, n = 0;
    buf[0] = '\0';
    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return NULL;
    for (struct addrinfo *a = res; a && used + 2 < size; a = a->ai_next) {
        char ip[INET6_ADDRSTRLEN];
        void *addr = a->ai_family == AF_INET
                         ? (void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
                         : (void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
        if (!inet_ntop(a->ai_family, addr, ip, sizeof ip))
            continue;
        if (n++ == 8) {
            snprintf(buf + used, size - used, ", ...");
            break;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "", ip);
    }
    freeaddrinfo(res);
    return buf;
}

static int is_address(const char *host)
{
    unsigned char a[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

/* Step "resolve": the base URL's host (or the proxy's). */
static int check_resolve(struct diag *d, CURL *e, CURLcode code, const char *why)
{
    hh_client *c = d->c;
    double ms = ms_of(e, CURLINFO_NAMELOOKUP_TIME);
    char list[512];
    if (code == CURLE_COULDNT_RESOLVE_PROXY) {
        report(d, "resolve", HERALD_CHECK_FAIL, ms, HERALD_ERR_HOST_NOT_FOUND,
               "check the host in proxy, and this machine's DNS",
               "cannot resolve the proxy's host: %s", why);
    } else if (code == CURLE_OPERATION_TIMEDOUT && strstr(why, "Resolving")) {
        report(d, "resolve", HERALD_CHECK_FAIL, ms_of(e, CURLINFO_TOTAL_TIME),
               HERALD_ERR_TIMEOUT, "check this machine's DNS servers "
               "(/etc/resolv.conf): they did not answer; or raise timeout",
               "no answer for %s from DNS: %s", c->host_name, why);
    } else if (code == CURLE_COULDNT_RESOLVE_HOST) {
        /* the host comes from base_url, or from the driver (and its region) */
        const char *region = c->custom_base ? NULL
                                            : c->host->opt_str(c->ch, "region");
        char fix[384];
        snprintf(fix, sizeof fix, "check %s DNS (/etc/resolv.conf); where only a "
                 "proxy reaches out, set proxy",
                 c->custom_base ? "the host in base_url, and this machine's"
                 : region ? "region (it names the host), and this machine's"
                          : "this machine's network and");
        report(d, "resolve", HERALD_CHECK_FAIL, ms, HERALD_ERR_HOST_NOT_FOUND, fix,
               "cannot resolve %s: %s", c->host_name, why);
    } else if (via_proxy(c)) {
        report(d, "resolve", HERALD_CHECK_INFO, ms, HERALD_OK, NULL,
               "%s is resolved by the proxy (proxy is set)", c->host_name);
    } else if (is_address(c->host_name)) {
        report(d, "resolve", HERALD_CHECK_OK, ms, HERALD_OK, NULL,
               "%s is an address: nothing to resolve", c->host_name);
    } else {
        const char *found = addresses(c->host_name, list, sizeof list);
        report(d, "resolve", HERALD_CHECK_OK, ms, HERALD_OK, NULL, "%s has %s %s",
               c->host_name, found && strchr(found, ',') ? "addresses" : "address",
               found ? found : "(resolved by libcurl)");
    }
    return code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY ||
           (code == CURLE_OPERATION_TIMEDOUT && strstr(why, "Resolving"));
}

/* Step "connect": TCP to the host's port (or the proxy's): connected,
 * refused, unreachable, or no answer at all (filtered). */
static int check_connect(struct diag *d, CURL *e, CURLcode code, const char *why)
{
    hh_client *c = d->c;
    long err = 0, port = c->port;
    char *ip = NULL;
    curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &err);
    curl_easy_getinfo(e, CURLINFO_PRIMARY_IP, &ip);
    curl_easy_getinfo(e, CURLINFO_PRIMARY_PORT, &port);
    const char *where = via_proxy(c) ? "the proxy" : c->host_name;
    double dns = ms_of(e, CURLINFO_NAMELOOKUP_TIME);
    if (code == CURLE_OK) {
        report(d, "connect", HERALD_CHECK_OK, ms_of(e, CURLINFO_CONNECT_TIME) - dns,
               HERALD_OK, NULL, "connected to %s (%s) port %ld", where,
               ip && *ip ? ip : "?", port);
        return 0;
    }
    double ms = ms_of(e, CURLINFO_TOTAL_TIME) - dns;
    if (code == CURLE_COULDNT_CONNECT && err == ECONNREFUSED)
        report(d, "connect", HERALD_CHECK_FAIL, ms, HERALD_ERR_CONNECT,
               "check the port in base_url; if it is right, a firewall rejects "
               "outbound connections to it here: open it or set proxy",
               "refused: nothing listens on %s port %ld, or a firewall rejects the "
               "connection", where, c->port);
    else if (code == CURLE_COULDNT_CONNECT &&
             (err == ENETUNREACH || err == EHOSTUNREACH || err == ENETDOWN))
        report(d, "connect", HERALD_CHECK_FAIL, ms, HERALD_ERR_CONNECT,
               "this machine has no route there: check its network and "
               "firewall, or set proxy",
               "unreachable: no route to %s (%s)", where, why);
    else if (code == CURLE_OPERATION_TIMEDOUT ||
             (code == CURLE_COULDNT_CONNECT && err == ETIMEDOUT))
        report(d, "connect", HERALD_CHECK_FAIL, ms, HERALD_ERR_TIMEOUT,
               "outbound HTTPS seems blocked (filtered) from this machine: set "
               "proxy, or have the firewall let it through",
               "no answer from %s port %ld within %.0f ms: filtered (a firewall "
               "drops the packets)", where, c->port, ms);
    else
        report(d, "connect", HERALD_CHECK_FAIL, ms, HERALD_ERR_CONNECT,
               transport_fix(HERALD_ERR_CONNECT), "cannot connect to %s port %ld: %s",
               where, c->port, why);
    return 1;
}

/* What to do about a failed TLS handshake, from libcurl's words. */
static const char *tls_fix(CURLcode code, const char *why)
{
    if (code == CURLE_SSL_CACERT_BADFILE)
        return "ca_file cannot be read as PEM certificates: check its path and "
               "contents";
    if (strstr(why, "name") || strstr(why, "host"))
        return "the certificate is for another name: check the host in base_url "
               "(a proxy that intercepts TLS answers with its own certificate)";
    if (strstr(why, "expire") || strstr(why, "not yet"))
        return "the certificate is out of its validity period: check this "
               "machine's clock";
    if (code == CURLE_PEER_FAILED_VERIFICATION || strstr(why, "certificate") ||
        strstr(why, "CA"))
        return "this machine does not trust the server's certificate: install or "
               "update the system's CA certificates (ca-certificates), set ca_file "
               "to the CA that signed it (e.g. a TLS-inspecting proxy's own CA), or "
               "set proxy if the network needs one; tls_verify = no only for tests";
    return "check that base_url points at an HTTPS port, and the proxy and "
           "ca_file settings";
}

/* Step "tls": the handshake and the certificate's verification, on a
 * connection of its own (@tcp_ms: what the connection took in "connect"). */
static void check_tls(struct diag *d, CURL *e, CURLcode code, const char *why,
                      double tcp_ms)
{
    hh_client *c = d->c;
    double ms = ms_of(e, CURLINFO_APPCONNECT_TIME) - ms_of(e, CURLINFO_CONNECT_TIME);
    if (code == CURLE_OK && !c->tls_verify) {
        report(d, "tls", HERALD_CHECK_WARN, ms, HERALD_OK,
               "remove tls_verify = no (for a private CA, set ca_file instead)",
               "handshake OK; the certificate is NOT verified (tls_verify = no)");
        return;
    }
    if (code == CURLE_OK) {
        report(d, "tls", HERALD_CHECK_OK, ms, HERALD_OK, NULL,
               "handshake OK; certificate of %s verified against %s%s", c->host_name,
               c->ca_file ? "ca_file " : "the system's CA certificates",
               c->ca_file ? c->ca_file : "");
        return;
    }
    /* libcurl keeps no connect time for a failed handshake */
    ms = ms_of(e, CURLINFO_TOTAL_TIME) - ms_of(e, CURLINFO_NAMELOOKUP_TIME) - tcp_ms;
    ms = ms < 0 ? 0 : ms;
    if (code == CURLE_OPERATION_TIMEDOUT)
        report(d, "tls", HERALD_CHECK_FAIL, ms, HERALD_ERR_TIMEOUT,
               "check that base_url's port speaks HTTPS; raise timeout on a slow link",
               "no TLS handshake with %s within %.0f ms", c->host_name, ms);
    else
        report(d, "tls", HERALD_CHECK_FAIL, ms, HERALD_ERR_TLS, tls_fix(code, why),
               "handshake with %s failed: %s", c->host_name, why);
}

/* Connect to @url and stop there (CURLOPT_CONNECT_ONLY) on a handle of its
 * own, with the client's transport options.  NULL when out of memory. */
static CURL *probe(const hh_client *c, const char *url, char *errbuf,
                   CURLcode *code_r)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    set_transport(c, e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    errbuf[0] = '\0';
    *code_r = curl_easy_perform(e);
    return e;
}

/* Steps resolve and connect (TCP only: an http:// URL to the same host and
 * port), then tls (an https:// one), each timed by libcurl, and each
 * failure told by its CURLcode.  Returns 0 when all went well. */
static int check_transport(struct diag *d)
{
    hh_client *c = d->c;
    char errbuf[CURL_ERROR_SIZE], url[1024];
    int v6 = strchr(c->host_name, ':') != NULL;
    CURLcode code = CURLE_OK;
    snprintf(url, sizeof url, "http://%s%s%s:%ld/", v6 ? "[" : "", c->host_name,
             v6 ? "]" : "", c->port);
    CURL *e = probe(c, url, errbuf, &code);
    if (!e) {
        report(d, "resolve", HERALD_CHECK_FAIL, 0, HERALD_ERR_INTERNAL, NULL,
               "cannot start libcurl: out of memory");
        return 1;
    }
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(code);
    int failed = check_resolve(d, e, code, why) || check_connect(d, e, code, why);
    double tcp_ms = ms_of(e, CURLINFO_CONNECT_TIME) - ms_of(e, CURLINFO_NAMELOOKUP_TIME);
    curl_easy_cleanup(e);
    if (failed)
        return 1;
    if (!c->https) {
        report(d, "tls", HERALD_CHECK_INFO, 0, HERALD_OK, NULL,
               "plain http:// to a loopback address: no TLS");
        return 0;
    }
    snprintf(url, sizeof url, "%s/", c->origin);
    if (!(e = probe(c, url, errbuf, &code))) {
        report(d, "tls", HERALD_CHECK_FAIL, 0, HERALD_ERR_INTERNAL, NULL,
               "cannot start libcurl: out of memory");
        return 1;
    }
    check_tls(d, e, code, errbuf[0] ? errbuf : curl_easy_strerror(code), tcp_ms);
    curl_easy_cleanup(e);
    return code != CURLE_OK;
}

/* The helper's verdict on the check call's answer, when the driver gives
 * none: 2xx authenticated; else the provider's words and the fix. */
static void default_verdict(hh_client *c, const hh_request *req,
                            const hh_response *resp, hh_verdict *v)
{
    if (resp->status >= 200 && resp->status < 300) {
        snprintf(v->detail_buf, sizeof v->detail_buf, "%s %s: HTTP %ld, the "
                 "credentials are accepted", hh_method(req), hh_path(req), resp->status);
        v->detail = v->detail_buf;
        return;
    }
    struct answer a;
    read_answer(c, resp, &a);
    const char *code = a.p.code;
    snprintf(v->detail_buf, sizeof v->detail_buf, "%s %s: HTTP %ld%s%s%s: %s",
             hh_method(req), hh_path(req), resp->status, code ? " (" : "",
             code ? code : "", code ? ")" : "", a.line && *a.line ? a.line : "(no text)");
    snprintf(v->fix_buf, sizeof v->fix_buf, "%s", a.advice);   /* a ends here */
    free(a.line);
    v->detail = v->detail_buf;
    v->fix = v->fix_buf;
    v->status = a.cls == HERALD_ERR_RATE_LIMITED ? HERALD_CHECK_WARN : HERALD_CHECK_FAIL;
}

/* Step "auth": the driver's authenticated call that sends nothing. */
static void check_auth(struct diag *d)
{
    hh_client *c = d->c;
    hh_request req;
    hh_response resp = {0};
    memset(&req, 0, sizeof req);
    req.c = c;
    if (!c->prov->check_request) {
        report(d, "auth", HERALD_CHECK_INFO, 0, HERALD_OK, NULL,
               "the %s driver has no call that checks the credentials", c->prov->name);
        return;
    }
    c->prov->check_request(c, c->priv, &req);
    CURLcode code = req.fail_cls == HERALD_OK ? transfer(c, &req, &resp)
                                              : CURLE_OUT_OF_MEMORY;
    double ms = ms_of(c->easy, CURLINFO_TOTAL_TIME);
    if (req.fail_cls != HERALD_OK) {
        report(d, "auth", HERALD_CHECK_FAIL, 0, req.fail_cls, NULL,
               "cannot make the check call: %s", req.fail_why ? req.fail_why
                                                              : "out of memory");
    } else if (code != CURLE_OK) {
        const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(code);
        herald_class cls = hh_curl_class((int)code, why);
        report(d, "auth", HERALD_CHECK_FAIL, ms, cls, transport_fix(cls),
               "%s %s failed: %s", hh_method(&req), hh_path(&req), why);
    } else {
        hh_verdict v = {.status = HERALD_CHECK_OK};
        if (!c->prov->check_answer || !c->prov->check_answer(c, c->priv, &resp, &v))
            default_verdict(c, &req, &resp, &v);
        if (!v.detail) {
            snprintf(v.detail_buf, sizeof v.detail_buf, "%s %s: HTTP %ld",
                     hh_method(&req), hh_path(&req), resp.status);
            v.detail = v.detail_buf;
        }
        herald_class cls = hh_status_class(resp.status);
        report(d, "auth", v.status, ms, cls != HERALD_OK ? cls : HERALD_ERR_CONFIG,
               v.fix, "%s", v.detail);
    }
    response_clear(&resp);
    request_free(&req);
}

herald_class hh_plugin_check(void *state, herald_checker *chk,
                             herald_error **err_r)
{
    struct diag d = {state, chk, err_r, HERALD_OK};
    if (check_transport(&d) == 0)
        check_auth(&d);
    return d.rc;
}

/* ---------------------------------------------------------------- dry run */

/* The request as it goes on the wire: request line, headers with secrets
 * as "***", a blank line, the body (attachment bytes of a form elided). */
static int render_request(const hh_client *c, const hh_request *req,
                          struct hh_buf *b)
{
    char *url = full_url(c, req);
    if (!url)
        return -1;
    buf_printf(b, "%s %s\n", hh_method(req), url);
    free(url);
    const char *host_value = c->authority;
    for (size_t i = 0; i < req->n_h; i++)
        if (strcasecmp(req->h[i].name, "Host") == 0)
            host_value = req->h[i].value;
    buf_printf(b, "Host: %s\n", host_value);
    buf_adds(b, "User-Agent: herald/" PACKAGE_VERSION "\n");
    if (!has_header(req, "Accept"))
        buf_adds(b, "Accept: application/json\n");
    for (size_t i = 0; i < req->n_h; i++)
        if (strcasecmp(req->h[i].name, "Host") != 0)
            buf_printf(b, "%s: %s\n", req->h[i].name,
                       req->h[i].shown ? req->h[i].shown : req->h[i].value);
    struct hh_buf body = {0};
    if (req->body)   /* a multipart form too: form_body() made it */
        buf_add(&body, req->body, req->body_len);
    if (body.len || req->form)
        buf_printf(b, "Content-Length: %zu\n", body.len);
    buf_adds(b, "\n");
    if (body.len)
        buf_add(b, body.data, body.len);
    if (body.len && body.data[body.len - 1] != '\n')
        buf_adds(b, "\n");
    int bad = body.oom;
    buf_free(&body);
    return bad || b->oom ? -1 : 0;
}

herald_class hh_plugin_render(void *state, const herald_msg *msg,
                              char **payload_r, size_t *len_r,
                              herald_error **err_r)
{
    hh_client *c = state;
    hh_request req;
    struct hh_buf b = {0};
    herald_class rc = build(c, msg, &req, err_r);
    if (rc == HERALD_OK && render_request(c, &req, &b) != 0)
        rc = hh_error(c, err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                            "out of memory");
    if (rc == HERALD_OK) {
        *payload_r = c->host->alloc(b.len + 1);
        if (!*payload_r)
            rc = hh_error(c, err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                                "out of memory");
        else {
            memcpy(*payload_r, b.data, b.len + 1);
            *len_r = b.len;
        }
    }
    buf_free(&b);
    request_free(&req);
    return rc;
}
