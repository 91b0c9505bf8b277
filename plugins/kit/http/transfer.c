/*
 * plugins/kit/http/transfer.c - one request on the wire and its failures (see
 * http.h).  A send is on the hot path (bench/http): the URL and header
 * list are set on the handle only when they change, and the answer lands
 * in buffers reused from send to send.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* ---------------------------------------------------------------- transfer */

size_t hhi_on_body(char *p, size_t size, size_t n, void *user)
{
    struct sink *s = user;
    size_t len = size * n;
    if (len > HH_MAX_BODY - s->body.len) {   /* keep the first MiB, then stop */
        hbuf_add(&s->body, p, HH_MAX_BODY - s->body.len);
        s->over_cap = 1;
        return 0;
    }
    hbuf_add(&s->body, p, len);
    return len;
}

size_t hhi_on_header(char *p, size_t size, size_t n, void *user)
{
    struct sink *s = user;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0)
        s->headers.len = 0;   /* a new response (after 100 or CONNECT) */
    if (s->headers.len < 64 * 1024)
        hbuf_add(&s->headers, p, len);
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

char *hhi_full_url(const hh_client *c, const hh_request *req)
{
    char *url = NULL;
    if (asprintf(&url, "%s%s", url_prefix(c, req), url_path(c, req)) < 0)
        return NULL;
    return url;
}

int hhi_has_header(const hh_request *req, const char *name)
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
    if (i == 1 && !hhi_has_header(req, "Accept"))
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


static int set_url(hh_client *c, const hh_request *req)
{
    const char *prefix = url_prefix(c, req);
    size_t n = strlen(prefix);
    if (c->url && strncmp(c->url, prefix, n) == 0 &&
        strcmp(c->url + n, url_path(c, req)) == 0)
        return 0;
    char *url = hhi_full_url(c, req);
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

const char *hhi_tls_fix(CURLcode code, const char *why);

/* What a transport failure means and what to do about it. */
const char *hhi_transport_fix(herald_class cls)
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


/* A failure to reach the proxy itself (resolving it, connecting to it,
 * or the tunnel it refused): the fix is the proxy setting, not base_url. */
static int proxy_failed(const hh_client *c, CURLcode code, const char *why)
{
    if (code == CURLE_COULDNT_RESOLVE_PROXY)
        return 1;
    if (!hhi_proxy_source(c))
        return 0;
    return code == CURLE_COULDNT_CONNECT || strstr(why, "CONNECT tunnel") ||
           strstr(why, "proxy") || strstr(why, "Proxy");
}

static herald_class transport_error(hh_client *c, CURLcode code,
                                    herald_error **err_r)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(code);
    herald_class cls = hh_curl_class((int)code, why);
    const char *src = hhi_proxy_source(c);
    if (proxy_failed(c, code, why)) {
        char fix[384];
        if (src && strcmp(src, "proxy") != 0)
            snprintf(fix, sizeof fix, "check the %s environment variable (its host "
                     "and port), or set proxy = none in [channel %s] to connect "
                     "directly", src, hhi_chan(c));
        else
            snprintf(fix, sizeof fix, "check the proxy setting in [channel %s] (its "
                     "host and port), or set proxy = none to connect directly",
                     hhi_chan(c));
        herald_class rc = hh_error(c, err_r, cls, NULL, why, -1,
                                   "%s request to %s failed at the proxy (from %s): %s",
                                   c->prov->name, c->authority, src ? src : "proxy",
                                   why);
        hh_error_fix(c, err_r, "%s", fix);
        return rc;
    }
    herald_class rc = hh_error(c, err_r, cls, NULL, why, -1,
                               "%s request to %s failed: %s", c->prov->name,
                               c->authority, why);
    hh_error_fix(c, err_r, "%s", cls == HERALD_ERR_TLS ? hhi_tls_fix(code, why)
                                                       : hhi_transport_fix(cls));
    return rc;
}

/* The whole request went out, then the answer was lost: the provider may
 * have accepted the message, so a retry may deliver it twice. */
static herald_class unknown_error(hh_client *c, CURLcode code, const char *what,
                                  herald_error **err_r)
{
    const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(code);
    herald_class rc = hh_error(c, err_r, HERALD_ERR_DELIVERY_UNKNOWN, NULL, why, -1,
                               "%s request to %s was sent in full, then %s (%s): the "
                               "message may or may not have been delivered",
                               c->prov->name, c->authority, what, why);
    hh_error_fix(c, err_r, "do not resend blindly: look it up in the provider's log "
                 "before sending it again (a retry may deliver it twice, unless it "
                 "has an idempotency key the provider honours)");
    return rc;
}

/* Send @req and point @resp at the answer (the client's buffers, valid
 * until the next request).  CURLE_OUT_OF_MEMORY also stands for an
 * allocation of ours that failed. */
CURLcode hhi_transfer(hh_client *c, const hh_request *req, hh_response *resp)
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
    CURLcode code = hhi_transfer(c, req, resp);
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

/* What to do about a failed TLS handshake, from libcurl's words. */
const char *hhi_tls_fix(CURLcode code, const char *why)
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

herald_class hh_plugin_send(void *state, const herald_msg *msg,
                            herald_result *res, herald_error **err_r)
{
    hh_client *c = state;
    hh_request req;
    hh_response resp = {0};
    herald_class rc = hhi_build(c, msg, &req, err_r);
    if (rc == HERALD_OK)
        rc = perform(c, &req, &resp, err_r);
    if (rc == HERALD_OK && resp.status >= 200 && resp.status < 300) {
        if (c->prov->accepted)
            rc = c->prov->accepted(c, c->priv, &resp, res, err_r);
        if (rc == HERALD_OK)
            rc = hhi_accept_shape(c, &resp, res, err_r);
    } else if (rc == HERALD_OK)
        rc = hhi_answer_error(c, &resp, err_r);
    hhi_response_clear(&resp);
    hhi_request_free(&req);
    return rc;
}

