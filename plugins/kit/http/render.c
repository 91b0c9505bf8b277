/*
 * plugins/kit/http/render.c - the dry run: the request as it goes on the wire,
 * secrets shown as "***" (see hh_plugin_render in http.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* ---------------------------------------------------------------- dry run */

/* The request as it goes on the wire: request line, headers with secrets
 * as "***", a blank line, the body (attachment bytes of a form elided). */
static int render_request(const hh_client *c, const hh_request *req,
                          struct hbuf *b)
{
    char *url = hhi_full_url(c, req);
    if (!url)
        return -1;
    hbuf_printf(b, "%s %s\n", hh_method(req), url);
    free(url);
    const char *host_value = c->authority;
    for (size_t i = 0; i < req->n_h; i++)
        if (strcasecmp(req->h[i].name, "Host") == 0)
            host_value = req->h[i].value;
    hbuf_printf(b, "Host: %s\n", host_value);
    hbuf_adds(b, "User-Agent: herald/" PACKAGE_VERSION "\n");
    if (!hhi_has_header(req, "Accept"))
        hbuf_adds(b, "Accept: application/json\n");
    for (size_t i = 0; i < req->n_h; i++)
        if (strcasecmp(req->h[i].name, "Host") != 0)
            hbuf_printf(b, "%s: %s\n", req->h[i].name,
                       req->h[i].shown ? req->h[i].shown : req->h[i].value);
    struct hbuf body = {0};
    if (req->body)   /* a multipart form too: form_body() made it */
        hbuf_add(&body, req->body, req->body_len);
    if (body.len || req->form)
        hbuf_printf(b, "Content-Length: %zu\n", body.len);
    hbuf_adds(b, "\n");
    if (body.len)
        hbuf_add(b, body.data, body.len);
    if (body.len && body.data[body.len - 1] != '\n')
        hbuf_adds(b, "\n");
    int bad = body.oom;
    hbuf_free(&body);
    return bad || b->oom ? -1 : 0;
}

herald_class hh_plugin_render(void *state, const herald_msg *msg,
                              char **payload_r, size_t *len_r,
                              herald_error **err_r)
{
    hh_client *c = state;
    hh_request req;
    struct hbuf b = {0};
    herald_class rc = hhi_build(c, msg, &req, err_r);
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
    hbuf_free(&b);
    hhi_request_free(&req);
    return rc;
}

