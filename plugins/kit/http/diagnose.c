/*
 * plugins/kit/http/diagnose.c - `herald doctor` for an HTTP driver: steps resolve,
 * connect, tls and auth (see hh_plugin_check in http.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "kit/net/net_diag.h"

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
    if (st == HERALD_CHECK_FAIL && d->rc == HERALD_OK) {
        d->rc = hh_error(d->c, d->err_r, cls, NULL, NULL, -1, "%s: %s", name, detail);
        hh_error_fix(d->c, d->err_r, "%s", fix ? fix : "see the step above");
    }
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

/* "ADDRESS (A|AAAA), ..." for the host's addresses, into @buf: the net
 * kit's lookup, bounded by the connect timeout (a hung resolver cannot
 * hold the check); NULL when it fails. */
static const char *addresses(const hh_client *c, char *buf, size_t size)
{
    long ms = c->timeout_ms < HH_CONNECT_TIMEOUT_MS ? c->timeout_ms
                                                    : HH_CONNECT_TIMEOUT_MS;
    struct addrinfo *ai = NULL;
    if (hn_resolve(c->host_name, (int)c->port, ms, &ai, NULL) != 0)
        return NULL;
    struct hbuf b = {0};
    hn_addrs_text(ai, &b);
    freeaddrinfo(ai);
    snprintf(buf, size, "%s", b.data && !b.oom ? b.data : "");
    hbuf_free(&b);
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
        const char *found = addresses(c, list, sizeof list);
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
    /* the net kit's classification of the connect's errno */
    enum hn_outcome o = code == CURLE_COULDNT_CONNECT ? hn_classify((int)err) : HN_OTHER;
    if (o == HN_REFUSED)
        report(d, "connect", HERALD_CHECK_FAIL, ms, HERALD_ERR_CONNECT,
               "check the port in base_url; if it is right, a firewall rejects "
               "outbound connections to it here: open it or set proxy",
               "refused: nothing listens on %s port %ld, or a firewall rejects the "
               "connection", where, c->port);
    else if (code == CURLE_COULDNT_CONNECT &&
             (o == HN_UNREACHABLE || err == ENETDOWN))
        report(d, "connect", HERALD_CHECK_FAIL, ms, HERALD_ERR_CONNECT,
               "this machine has no route there: check its network and "
               "firewall, or set proxy",
               "unreachable: no route to %s (%s)", where, why);
    else if (code == CURLE_OPERATION_TIMEDOUT ||
             o == HN_FILTERED)
        report(d, "connect", HERALD_CHECK_FAIL, ms, HERALD_ERR_TIMEOUT,
               "outbound HTTPS seems blocked (filtered) from this machine: set "
               "proxy, or have the firewall let it through",
               "no answer from %s port %ld within %.0f ms: filtered (a firewall "
               "drops the packets)", where, c->port, ms);
    else
        report(d, "connect", HERALD_CHECK_FAIL, ms, HERALD_ERR_CONNECT,
               hhi_transport_fix(HERALD_ERR_CONNECT), "cannot connect to %s port %ld: %s",
               where, c->port, why);
    return 1;
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
        report(d, "tls", HERALD_CHECK_FAIL, ms, HERALD_ERR_TLS, hhi_tls_fix(code, why),
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
    hhi_set_transport(c, e);
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
    hhi_read_answer(c, resp, &a);
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
    CURLcode code = req.fail_cls == HERALD_OK ? hhi_transfer(c, &req, &resp)
                                              : CURLE_OUT_OF_MEMORY;
    double ms = ms_of(c->easy, CURLINFO_TOTAL_TIME);
    if (req.fail_cls != HERALD_OK) {
        report(d, "auth", HERALD_CHECK_FAIL, 0, req.fail_cls, NULL,
               "cannot make the check call: %s", req.fail_why ? req.fail_why
                                                              : "out of memory");
    } else if (code != CURLE_OK) {
        const char *why = c->errbuf[0] ? c->errbuf : curl_easy_strerror(code);
        herald_class cls = hh_curl_class((int)code, why);
        report(d, "auth", HERALD_CHECK_FAIL, ms, cls, hhi_transport_fix(cls),
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
    hhi_response_clear(&resp);
    hhi_request_free(&req);
}

herald_class hh_plugin_check(void *state, herald_checker *chk,
                             herald_error **err_r)
{
    struct diag d = {state, chk, err_r, HERALD_OK};
    if (check_transport(&d) == 0)
        check_auth(&d);
    return d.rc;
}

