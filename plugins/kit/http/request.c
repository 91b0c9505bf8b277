/*
 * plugins/kit/http/request.c - building a request: method and path, headers and
 * credentials (Bearer, Basic), JSON and multipart bodies, and the
 * problems a driver records on it (see http.h).
 */
#include "config.h"

#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* ---------------------------------------------------------------- requests */

void hh_fail_request(hh_request *req, herald_class cls, const char *fmt, ...)
{
    req->fail_last = req->fail_cls == HERALD_OK;
    if (!req->fail_last)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&req->fail_why, fmt, ap) < 0)
        req->fail_why = NULL;
    va_end(ap);
    req->fail_cls = cls;
}

void hh_fail_fix(hh_request *req, const char *fmt, ...)
{
    if (!req->fail_last || req->fail_fix)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&req->fail_fix, fmt, ap) < 0)
        req->fail_fix = NULL;
    va_end(ap);
}

void hhi_oom(hh_request *req)
{
    hh_fail_request(req, HERALD_ERR_INTERNAL, "out of memory");
}

char *hh_escape(hh_request *req, const char *s)
{
    char *e = curl_easy_escape(req->c->easy, s, 0);
    char *copy = e ? strdup(e) : NULL;
    curl_free(e);
    if (!copy)
        hhi_oom(req);
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
        hhi_oom(req);
}

const char *hh_method(const hh_request *req) { return req->method ? req->method : "GET"; }
const char *hh_path(const hh_request *req) { return req->path ? req->path : "/"; }

void hh_set_origin(hh_request *req, const char *origin)
{
    free(req->origin);
    if (!(req->origin = strdup(origin)))
        hhi_oom(req);
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
        hhi_oom(req);
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
                        "header %s contains a line break", name);
        hh_fail_fix(req, "remove it");
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
                        "line break", name);
        hh_fail_fix(req, "check the secret's value");
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
        hhi_oom(req);
        return;
    }
    char *b64 = hh_base64((const unsigned char *)pair, strlen(pair), NULL);
    /* a provider may echo what it got: the encoded pair is a secret too */
    if (b64 && hh_secrets_add_exact(&req->c->secrets, b64) == 0)
        hh_secret_header(req, "Authorization", "Basic ", b64);
    else
        hhi_oom(req);
    free(b64);
    free(pair);
}

void hh_body_json(hh_request *req, json_t *root)
{
    if (!root) {
        hhi_oom(req);
        return;
    }
    free(req->body);
    req->body = hh_json_compact(root, &req->body_len);
    json_decref(root);
    if (!req->body) {
        hhi_oom(req);
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
        hhi_oom(req);
        return NULL;
    }
    req->parts = grown;
    struct hh_part *p = &req->parts[req->n_parts];
    memset(p, 0, sizeof *p);
    if (!(p->name = strdup(name))) {
        hhi_oom(req);
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
        hhi_oom(req);
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
        hhi_oom(req);
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
                    "the message has %zu %s and %s takes at most %zu", n, field,
                    c->prov->name, max);
    hh_fail_fix(req, "send fewer, or set `unsupported = drop` in [channel %s] to drop "
                "the rest", hhi_chan(c));
    return 0;
}

void hhi_request_free(hh_request *req)
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
    free(req->fail_fix);
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
        if (p->filename && strpbrk(p->filename, "\r\n")) {
            hh_fail_request(req, HERALD_ERR_INVALID_MESSAGE, "attachment file name "
                            "\"%s\" contains a line break", p->filename);
            hh_fail_fix(req, "rename it");
        }
    }
    char boundary[64];
    do
        snprintf(boundary, sizeof boundary, "------------------------herald%016llx",
                 (unsigned long long)hash++);
    while (form_contains(req, boundary));
    struct hbuf b = {0};
    for (size_t i = 0; i < req->n_parts; i++) {
        const struct hh_part *p = &req->parts[i];
        hbuf_printf(&b, "--%s\r\nContent-Disposition: form-data; name=", boundary);
        /* a name or file name as a multipart quoted-string (RFC 7578,
         * RFC 2045): '"' and '\\' escaped with a backslash, UTF-8 as it is */
        hb_quote_string(&b, p->name);
        if (p->filename) {
            hbuf_adds(&b, "; filename=");
            hb_quote_string(&b, p->filename);
            hbuf_printf(&b, "\r\nContent-Type: %s", p->type);
        }
        hbuf_adds(&b, "\r\n\r\n");
        hbuf_add(&b, p->filename ? (const void *)p->data : p->value, p->len);
        hbuf_adds(&b, "\r\n");
    }
    hbuf_printf(&b, "--%s--\r\n", boundary);
    char ctype[128];
    snprintf(ctype, sizeof ctype, "multipart/form-data; boundary=%s", boundary);
    if (b.oom) {
        hbuf_free(&b);
        hhi_oom(req);
        return;
    }
    free(req->body);
    req->body = b.data;
    req->body_len = b.len;
    hh_header(req, "Content-Type", ctype);
}

herald_class hhi_build(hh_client *c, const herald_msg *msg, hh_request *req,
                          herald_error **err_r)
{
    memset(req, 0, sizeof *req);
    req->c = c;
    herald_class rc = c->prov->build(c, c->priv, msg, req, err_r);
    if (rc == HERALD_OK && req->form && req->fail_cls == HERALD_OK)
        form_body(req);
    if (rc == HERALD_OK && req->fail_cls != HERALD_OK) {
        rc = hh_error(c, err_r, req->fail_cls, NULL, NULL, -1, "%s: %s",
                      c->prov->name, req->fail_why ? req->fail_why : "out of memory");
        if (req->fail_fix)
            hh_error_fix(c, err_r, "%s", req->fail_fix);
    }
    return rc;
}

