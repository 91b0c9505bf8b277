/*
 * plugins/kit/http/internal.h - what the files of the HTTP kit share and no
 * driver sees: the client, request and answer state, and the functions one
 * file of the kit calls in another (prefix hhi_).  Drivers include http.h
 * only.
 *
 *   client.c    instance, options, base_url, transport options, proxy
 *   request.c   method, path, headers, credentials, bodies, build()
 *   json.c      the compact JSON writer and the body helpers
 *   transfer.c  one request on the wire, its failures, hh_plugin_send
 *   response.c  status and CURLcode mapping, error answers, success shapes
 *   diagnose.c  hh_plugin_check (herald doctor)
 *   render.c    hh_plugin_render (dry run)
 *   redact.c    the channel's secrets out of everything reported
 */
#ifndef HERALD_PLUGINS_HTTP_INTERNAL_H
#define HERALD_PLUGINS_HTTP_INTERNAL_H

#include <curl/curl.h>

#include "base/base.h"
#include "http.h"
#include "redact.h"

#define HH_MAX_BODY (1024 * 1024)      /* of an answer: a longer one is cut off */
#define HH_CONNECT_TIMEOUT_MS 10000L

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
    char *fail_fix;       /* hh_fail_fix(), or NULL */
    int fail_last;        /* the last hh_fail_request() was the one kept */
};

/* Where an answer is received; kept in the client and reused. */
struct sink {
    struct hbuf body, headers;
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

/* client.c */
const char *hhi_chan(const hh_client *c);
/* What every request of this client shares (set once per handle). */
void hhi_set_transport(const hh_client *c, CURL *e);
/* The setting that sends this client's requests through a proxy: "proxy"
 * or the environment variable libcurl reads; NULL when none does. */
const char *hhi_proxy_source(const hh_client *c);

/* request.c */
void hhi_oom(hh_request *req);
int hhi_has_header(const hh_request *req, const char *name);
/* Zero @req, let the driver fill it for @msg, then make a form body. */
herald_class hhi_build(hh_client *c, const herald_msg *msg, hh_request *req,
                       herald_error **err_r);
void hhi_request_free(hh_request *req);

/* transfer.c */
size_t hhi_on_body(char *p, size_t size, size_t n, void *user);
size_t hhi_on_header(char *p, size_t size, size_t n, void *user);
char *hhi_full_url(const hh_client *c, const hh_request *req);
/* Send @req and point @resp at the answer (the client's buffers, valid
 * until the next request).  CURLE_OUT_OF_MEMORY also stands for an
 * allocation of ours that failed. */
CURLcode hhi_transfer(hh_client *c, const hh_request *req, hh_response *resp);
/* What a transport failure of class @cls means and what to do about it. */
const char *hhi_transport_fix(herald_class cls);
/* What to do about a failed TLS handshake, from libcurl's words. */
const char *hhi_tls_fix(CURLcode code, const char *why);

/* response.c */
void hhi_response_clear(hh_response *resp);
void hhi_read_answer(hh_client *c, const hh_response *resp, struct answer *a);
/* Map an error answer to a herald error, keeping the provider's words. */
herald_class hhi_answer_error(hh_client *c, const hh_response *resp,
                              herald_error **err_r);
/* A 2xx answer: the provider's success answer (its id becomes the
 * result's), or delivery unknown. */
herald_class hhi_accept_shape(hh_client *c, const hh_response *resp,
                              herald_result *res, herald_error **err_r);

#endif /* HERALD_PLUGINS_HTTP_INTERNAL_H */
