/*
 * plugins/kit/http/response.c - reading a provider's answer (see http.h): the
 * class of an HTTP status and of a failed transfer, headers and
 * Retry-After, the body's JSON (jansson), an error answer mapped to a
 * herald error with the provider's words and the fix, and whether a 2xx
 * answer is the provider's success answer (hh_shape).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "internal.h"

void hh_escape_bytes(const char *p, size_t n, size_t max, char *out, size_t size)
{
    size_t o = 0;
    int cut = n > max;
    if (cut)
        n = max;
    for (size_t i = 0; i < n && o + 5 < size; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (ch >= 0x20 && ch < 0x7f) {
            out[o++] = (char)ch;
        } else {
            o += (size_t)snprintf(out + o, size - o, "\\x%02X", ch);
        }
    }
    if (cut && o + 4 < size)
        memcpy(out + o, "...", 3), o += 3;
    out[o] = '\0';
}

/* The ids of array member @key joined by ",", or a reason why not. */
static const char *joined_ids(const hh_response *resp, const char *key, char *id,
                              size_t size)
{
    json_t *arr = json_object_get(hh_response_json(resp), key);
    size_t i, used = 0;
    json_t *v;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return "no message ids";
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        if (!s || !*s)
            return "a message id that is not a string";
        if (used + strlen(s) + 2 > size)
            continue;   /* too many to keep: the first ones */
        used += (size_t)snprintf(id + used, size - used, "%s%s", used ? "," : "", s);
    }
    return NULL;
}

const char *hh_shape_problem(const hh_shape *shape, const hh_response *resp,
                             char *id, size_t size)
{
    id[0] = '\0';
    int blank = strspn(resp->body, " \t\r\n") == resp->len;
    if (shape->empty_body && !blank)
        return "a body where none belongs";
    if (!shape->empty_body) {
        json_t *json = resp->len ? hh_response_json(resp) : NULL;
        if (blank)
            return "an empty body";
        if (!json_is_object(json))
            return "a body that is not a JSON object";
        if (shape->true_member && !json_is_true(json_object_get(json, shape->true_member)))
            return "no \"success\": true";
        json_t *zero = shape->zero_member ? json_object_get(json, shape->zero_member)
                                          : NULL;
        if (shape->zero_member && !(json_is_integer(zero) && json_integer_value(zero) == 0))
            return "no error code 0";
    }
    if (shape->id_member) {
        const char *s = hh_json_string(hh_response_json(resp), shape->id_member);
        if (!s || !*s)
            return "no message id";
        snprintf(id, size, "%s", s);
    }
    if (shape->ids_member)
        return joined_ids(resp, shape->ids_member, id, size);
    if (shape->id_header && !hh_response_header(resp, shape->id_header, id, size) &&
        !shape->id_optional)
        return "no message id header";
    return NULL;
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

/* ---- the answer's JSON: parsed on first use */

json_t *hh_response_json(const hh_response *resp)
{
    hh_response *r = (hh_response *)resp;   /* the cache is the helper's */
    size_t lead = r->body ? strspn(r->body, " \t\r\n") : 0;  /* JSON whitespace */
    if (!r->parsed && r->len > lead && (r->body[lead] == '{' || r->body[lead] == '['))
        r->json = json_loadb(r->body, r->len, 0, NULL);
    r->parsed = 1;
    return r->json;
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

/* Read through jansson: the kit's own reader of single members is gone,
 * since no success answer needs it (hh_shape_problem parses the body with
 * jansson anyway) and an error answer is not the hot path. */
const char *hh_response_member(const hh_response *resp, const char *key,
                               char *buf, size_t size)
{
    json_t *m = json_object_get(hh_response_json(resp), key);
    if (json_is_string(m))
        return copy_cut(json_string_value(m), json_string_length(m), buf, size);
    if (json_is_integer(m)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(m));
        return buf;
    }
    return NULL;
}

void hhi_response_clear(hh_response *resp)
{
    json_decref(resp->json);   /* body and headers are the client's sink */
    memset(resp, 0, sizeof *resp);
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
                 hhi_chan(c));
        return buf;
    case HERALD_ERR_INVALID_MESSAGE:
        return status == 413 ? "the message is too large for the provider; "
                               "send smaller or fewer attachments"
                             : "fix the part of the message the provider names";
    case HERALD_ERR_CONFIG:
        snprintf(buf, size, "check base_url and the provider settings in "
                 "[channel %s]", hhi_chan(c));
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

void hhi_read_answer(hh_client *c, const hh_response *resp, struct answer *a)
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
herald_class hhi_answer_error(hh_client *c, const hh_response *resp,
                                 herald_error **err_r)
{
    struct answer a;
    hhi_read_answer(c, resp, &a);
    const char *code = a.p.code;
    herald_class rc = hh_error(c,
        err_r, a.cls, code ? code : a.status, a.text, a.retry,
        "%s answered HTTP %ld%s%s%s: %s", c->prov->name, resp->status,
        code ? " (" : "", code ? code : "", code ? ")" : "",
        a.line && *a.line ? a.line : "(no text)");
    hh_error_fix(c, err_r, "%s", a.advice);
    free(a.line);
    return rc;
}

herald_class hh_unexpected_answer(hh_client *c, const hh_response *resp,
                                  const char *what, herald_error **err_r)
{
    char excerpt[512], ctype[96];
    hh_escape_bytes(resp->body, resp->len, 120, excerpt, sizeof excerpt);
    if (!hh_response_header(resp, "Content-Type", ctype, sizeof ctype))
        snprintf(ctype, sizeof ctype, "no Content-Type");
    herald_class rc = hh_error(c, err_r, HERALD_ERR_DELIVERY_UNKNOWN, NULL, excerpt, -1,
                               "%s answered HTTP %ld but not with its success answer "
                               "(%s; %s, %zu bytes: \"%s\"): the message may or may "
                               "not have been delivered; something else may have "
                               "answered (a captive portal or proxy)", c->prov->name,
                               resp->status, what, ctype, resp->len, excerpt);
    hh_error_fix(c, err_r, "do not resend blindly: check base_url and proxy, and look "
                 "the message up in the provider's log before sending it again");
    return rc;
}

/* A 2xx answer: the provider's success answer (its id becomes the
 * result's), or delivery unknown. */
herald_class hhi_accept_shape(hh_client *c, const hh_response *resp,
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

