/*
 * plugins/http/http.c - the shared HTTP mechanism of the API drivers: see
 * http.h.  One libcurl easy handle per channel instance; the core
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
#include <time.h>

#include <curl/curl.h>

#include "http.h"

#define HH_MAX_BODY (1024 * 1024)      /* of an answer, kept for errors */
#define HH_CONNECT_TIMEOUT_MS 10000L
#define HH_DRY_RUN_BOUNDARY "------------------------herald-dry-run"

/* ---------------------------------------------------------------- buffers */

struct hh_buf {
    char *data;
    size_t len, cap;
    int oom;
};

static void buf_add(struct hh_buf *b, const void *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->oom = 1;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void buf_adds(struct hh_buf *b, const char *s)
{
    buf_add(b, s, strlen(s));
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
    char *name, *value;
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

struct hh_client {
    const herald_host *host;
    herald_channel *ch;
    const hh_provider *prov;
    void *priv;
    CURL *easy;
    char *base, *authority, *base_path;
    int custom_base;
    long timeout_ms;
    const char *ca_file, *proxy;
    int tls_verify;
    int drop_unsupported;
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
    return c->host->error(err_r, HERALD_ERR_CONFIG, NULL, NULL, -1,
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
        return c->host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
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
    if (!c->authority || !c->base_path ||
        asprintf(&c->base, "%s://%s%s", p.scheme, c->authority, c->base_path) < 0) {
        c->base = NULL;
        rc = c->host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
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
    free(c->base);
    free(c->authority);
    free(c->base_path);
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
    if (vasprintf(&p, fmt, ap) < 0)
        p = NULL;
    va_end(ap);
    free(req->path);
    free(req->method);
    req->path = p ? malloc(strlen(req->c->base_path) + strlen(p) + 1) : NULL;
    req->method = strdup(method);
    if (req->path)
        sprintf(req->path, "%s%s", req->c->base_path, p);
    free(p);
    if (!req->path || !req->method)
        oom(req);
}

const char *hh_method(const hh_request *req) { return req->method ? req->method : "GET"; }
const char *hh_path(const hh_request *req) { return req->path ? req->path : "/"; }

static void add_header(hh_request *req, const char *name, const char *value,
                       const char *shown)
{
    struct hh_header *grown = realloc(req->h, (req->n_h + 1) * sizeof *grown);
    if (!grown) {
        oom(req);
        return;
    }
    req->h = grown;
    struct hh_header *h = &req->h[req->n_h];
    h->name = strdup(name);
    h->value = strdup(value);
    h->shown = shown ? strdup(shown) : NULL;
    if (!h->name || !h->value || (shown && !h->shown)) {
        free(h->name);
        free(h->value);
        free(h->shown);
        oom(req);
        return;
    }
    req->n_h++;
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
    char *value = NULL, *redacted = NULL;
    if (asprintf(&value, "%s%s", shown, secret) < 0)
        value = NULL;
    if (asprintf(&redacted, "%s***", shown) < 0)
        redacted = NULL;
    if (value && redacted)
        add_header(req, name, value, redacted);
    else
        oom(req);
    free(value);
    free(redacted);
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
    if (b64)
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
    req->body = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    if (!req->body) {
        oom(req);
        return;
    }
    req->body_len = strlen(req->body);
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
        c->host->log(c->ch, HERALD_LOG_WARNING,
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
    for (size_t i = 0; i < req->n_h; i++) {
        free(req->h[i].name);
        free(req->h[i].value);
        free(req->h[i].shown);
    }
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

static void response_clear(hh_response *resp)
{
    free(resp->body);
    free(resp->headers);
    json_decref(resp->json);
    memset(resp, 0, sizeof *resp);
}

/* ---------------------------------------------------------------- transfer */

struct sink {
    struct hh_buf body, headers;
};

static size_t on_body(char *p, size_t size, size_t n, void *user)
{
    struct sink *s = user;
    size_t len = size * n;
    if (s->body.len < HH_MAX_BODY)
        buf_add(&s->body, p, len < HH_MAX_BODY - s->body.len ? len : HH_MAX_BODY - s->body.len);
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

static char *full_url(const hh_client *c, const hh_request *req)
{
    char *url = NULL;
    const char *path = req->path ? req->path + strlen(c->base_path) : "/";
    if (asprintf(&url, "%s%s", c->base, path) < 0)
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

static struct curl_slist *header_list(const hh_request *req, int *ok_r)
{
    struct curl_slist *l = NULL, *t;
    *ok_r = 1;
    const char *fixed[] = {"Expect:", "Accept: application/json"};
    for (size_t i = 0; i < 2; i++) {
        if (i == 1 && has_header(req, "Accept"))
            continue;
        if (!(t = curl_slist_append(l, fixed[i])))
            goto fail;
        l = t;
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

static curl_mime *build_mime(hh_client *c, const hh_request *req)
{
    curl_mime *mime = curl_mime_init(c->easy);
    for (size_t i = 0; mime && i < req->n_parts; i++) {
        const struct hh_part *p = &req->parts[i];
        curl_mimepart *part = curl_mime_addpart(mime);
        int bad = !part || curl_mime_name(part, p->name) != CURLE_OK;
        if (!bad && p->filename)
            bad = curl_mime_data(part, (const char *)p->data, p->len) != CURLE_OK ||
                  curl_mime_filename(part, p->filename) != CURLE_OK ||
                  curl_mime_type(part, p->type) != CURLE_OK;
        else if (!bad)
            bad = curl_mime_data(part, p->value, p->len) != CURLE_OK;
        if (bad) {
            curl_mime_free(mime);
            return NULL;
        }
    }
    return mime;
}

static void set_transport(hh_client *c, struct sink *s)
{
    CURL *e = c->easy;
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
    c->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
}

static void set_method(hh_client *c, const hh_request *req, curl_mime *mime)
{
    CURL *e = c->easy;
    const char *m = hh_method(req);
    if (mime) {
        curl_easy_setopt(e, CURLOPT_MIMEPOST, mime);
    } else if (req->body || strcmp(m, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body ? req->body_len : 0));
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    if (strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
}

/* What a transport failure means and what to do about it. */
static herald_class transport_error(hh_client *c, CURLcode code,
                                    herald_error **err_r)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(code);
    herald_class cls = hh_curl_class((int)code, why);
    const char *fix;
    switch (cls) {
    case HERALD_ERR_HOST_NOT_FOUND:
        fix = "check base_url and this machine's DNS (or set proxy)";
        break;
    case HERALD_ERR_CONNECT:
        fix = "the server refused or dropped the connection; check base_url, "
              "or whether outbound HTTPS is blocked here (then set proxy)";
        break;
    case HERALD_ERR_TIMEOUT:
        fix = "the server did not answer in time; raise timeout, or check "
              "whether outbound HTTPS is blocked here (then set proxy)";
        break;
    case HERALD_ERR_TLS:
        fix = "check the server's certificate and name, ca_file, and the "
              "system clock";
        break;
    case HERALD_ERR_PROTOCOL:
        fix = "the server does not speak the expected HTTP; check base_url";
        break;
    default:
        fix = "this is unexpected; report it with the text above";
    }
    return c->host->error(err_r, cls, NULL, why, -1,
                          "%s request to %s failed: %s; %s", c->prov->name,
                          c->authority, why, fix);
}

/* Send @req; any HTTP answer is HERALD_OK here (see answer_error). */
static herald_class perform(hh_client *c, const hh_request *req,
                            hh_response *resp, herald_error **err_r)
{
    struct sink s = {{0}, {0}};
    int ok = 1;
    char *url = full_url(c, req);
    struct curl_slist *hl = header_list(req, &ok);
    curl_mime *mime = req->form ? build_mime(c, req) : NULL;
    if (!url || !ok || (req->form && !mime)) {
        free(url);
        curl_slist_free_all(hl);
        curl_mime_free(mime);
        return c->host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                              "out of memory");
    }
    curl_easy_reset(c->easy);  /* keeps the live connection */
    set_transport(c, &s);
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hl);
    set_method(c, req, mime);
    CURLcode code = curl_easy_perform(c->easy);
    herald_class rc = HERALD_OK;
    if (code != CURLE_OK) {
        rc = transport_error(c, code, err_r);
    } else if (s.body.oom || s.headers.oom) {
        rc = c->host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                            "out of memory");
    } else {
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body = s.body.data ? s.body.data : strdup("");
        resp->len = s.body.len;
        resp->headers = s.headers.data;
        s.body.data = s.headers.data = NULL;
        if (resp->len && (resp->body[0] == '{' || resp->body[0] == '['))
            resp->json = json_loadb(resp->body, resp->len, 0, NULL);
        double secs = 0;
        long reused = 0;
        curl_easy_getinfo(c->easy, CURLINFO_TOTAL_TIME, &secs);
        curl_easy_getinfo(c->easy, CURLINFO_NUM_CONNECTS, &reused);
        c->host->log(c->ch, HERALD_LOG_DEBUG, "%s %s -> HTTP %ld in %.0f ms%s",
                     hh_method(req), url, resp->status, secs * 1000,
                     reused == 0 ? " (connection reused)" : "");
    }
    /* The handle must not keep pointers to what is freed here. */
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c->easy, CURLOPT_MIMEPOST, NULL);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, NULL);
    curl_mime_free(mime);
    curl_slist_free_all(hl);
    buf_free(&s.body);
    buf_free(&s.headers);
    free(url);
    return rc;
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

/* Map an error answer to a herald error, keeping the provider's words. */
static herald_class answer_error(hh_client *c, const hh_response *resp,
                                 herald_error **err_r)
{
    hh_problem p = {.cls = HERALD_OK, .retry_after = -1};
    if (c->prov->problem)
        c->prov->problem(c, c->priv, resp, &p);
    herald_class cls = p.cls != HERALD_OK ? p.cls : hh_status_class(resp->status);
    char hb[64];
    long retry = hh_parse_retry_after(
        hh_response_header(resp, "Retry-After", hb, sizeof hb), time(NULL));
    if (retry < 0)
        retry = p.retry_after;
    char status[24], hint[512];
    snprintf(status, sizeof status, "%ld", resp->status);
    if (p.code && strcmp(p.code, status) == 0)
        p.code = NULL;  /* says nothing the status does not */
    const char *text = p.text && *p.text ? p.text : resp->body;
    char *line = one_line(text ? text : "", 300);
    const char *advice = p.hint ? p.hint
                                : default_hint(c, cls, resp->status, retry, hint,
                                               sizeof hint);
    herald_class rc = c->host->error(
        err_r, cls, p.code ? p.code : status, text && *text ? text : NULL, retry,
        "%s answered HTTP %ld%s%s%s: %s; %s", c->prov->name, resp->status,
        p.code ? " (" : "", p.code ? p.code : "", p.code ? ")" : "",
        line && *line ? line : "(no text)", advice);
    free(line);
    return rc;
}

static herald_class build(hh_client *c, const herald_msg *msg, hh_request *req,
                          herald_error **err_r)
{
    memset(req, 0, sizeof *req);
    req->c = c;
    herald_class rc = c->prov->build(c, c->priv, msg, req, err_r);
    if (rc == HERALD_OK && req->fail_cls != HERALD_OK)
        rc = c->host->error(err_r, req->fail_cls, NULL, NULL, -1, "%s: %s",
                            c->prov->name,
                            req->fail_why ? req->fail_why : "out of memory");
    return rc;
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
    if (rc == HERALD_OK && resp.status >= 200 && resp.status < 300)
        rc = c->prov->accepted ? c->prov->accepted(c, c->priv, &resp, res, err_r)
                               : HERALD_OK;
    else if (rc == HERALD_OK)
        rc = answer_error(c, &resp, err_r);
    response_clear(&resp);
    request_free(&req);
    return rc;
}

/* ---------------------------------------------------------------- dry run */

static void render_form(const hh_request *req, struct hh_buf *b)
{
    for (size_t i = 0; i < req->n_parts; i++) {
        const struct hh_part *p = &req->parts[i];
        buf_printf(b, "--%s\r\nContent-Disposition: form-data; name=\"%s\"",
                   HH_DRY_RUN_BOUNDARY, p->name);
        if (p->filename)
            buf_printf(b, "; filename=\"%s\"\r\nContent-Type: %s\r\n\r\n"
                       "(%zu bytes of %s, not shown)\r\n",
                       p->filename, p->type, p->len, p->filename);
        else {
            buf_adds(b, "\r\n\r\n");
            buf_add(b, p->value, p->len);
            buf_adds(b, "\r\n");
        }
    }
    buf_printf(b, "--%s--\r\n", HH_DRY_RUN_BOUNDARY);
}

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
    if (req->form) {
        render_form(req, &body);
        buf_printf(b, "Content-Type: multipart/form-data; boundary=%s\n",
                   HH_DRY_RUN_BOUNDARY);
    } else if (req->body) {
        buf_add(&body, req->body, req->body_len);
    }
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
        rc = c->host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                            "out of memory");
    if (rc == HERALD_OK) {
        *payload_r = c->host->alloc(b.len + 1);
        if (!*payload_r)
            rc = c->host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
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
