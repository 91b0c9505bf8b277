/* tests/plugins/kit/http/test_http_transport.c - what the shared HTTP helper does on the way
 * to the provider, shown with the resend driver: loopback requests never go
 * through a proxy (a stand-in proxy that logs every connection proves it),
 * a proxy that cannot be reached is named as the fix, and a trusted
 * certificate for another host name is refused. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_testutil.h"

static struct tu_server trap;   /* a proxy stand-in: logs and closes */

static void start_trap(void)
{
    cr_assert_eq(tu_server_start(&trap, "exec %s '%s/tests/support/servers/providers.py' --trap",
                                 tu_python(), tu_srcdir()),
                 0, "the proxy stand-in did not start");
}

/* Every proxy variable libcurl reads, pointing at the stand-in. */
static void proxy_env(void)
{
    static const char *const names[] = {"http_proxy", "HTTP_PROXY", "https_proxy",
                                        "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    char *url = tu_printf("http://127.0.0.1:%d", trap.port);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        setenv(names[i], url, 1);
    unsetenv("no_proxy");
    unsetenv("NO_PROXY");
    free(url);
}

static int trap_connections(void)
{
    char *log = tu_server_log(&trap);
    int n = 0;
    for (const char *p = log; p && (p = strstr(p, "trap: connection")); p++)
        n++;
    free(log);
    return n;
}

static void teardown(void)
{
    tu_server_stop(&trap);
}

TestSuite(http_transport, .fini = teardown, .timeout = 60);

/* Send a small message through channel "c" of @h opened on @base with the
 * extra config @extra; the provider server must have got it. */
static void send_ok(struct ht *h, const char *base, const char *extra)
{
    char *copy = strdup(base);   /* @base may be h->base */
    free(h->base);
    h->base = copy;
    ht_open(h, "resend", "api_key = re_test\n%s", extra);
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(h, m, NULL, &err), HERALD_OK, "%s: %s", h->base,
                 herald_error_message(err));
    herald_msg_free(m);
    /* (the control requests verify the certificate, which has no ::1; the
     * Resend success answer came from the provider server all the same) */
    if (!strstr(extra, "tls_verify = no")) {
        json_t *rec = ht_last(h);
        cr_assert_str_eq(json_string_value(json_object_get(rec, "path")), "/emails");
        cr_assert_str_eq(ht_header(rec, "authorization"), "Bearer re_test");
        json_decref(rec);
    }
    cr_assert_eq(trap_connections(), 0, "%s went through the proxy", h->base);
}

Test(http_transport, loopback_never_goes_through_a_proxy)
{
    start_trap();
    proxy_env();
    struct ht h;
    /* https on 127.0.0.1 and localhost (the certificate names both) */
    ht_start(&h);
    char *port = strrchr(h.base, ':') + 1;
    char *url = tu_printf("https://localhost:%s", port);
    char *ip = tu_printf("https://127.0.0.1:%s", port);
    send_ok(&h, ip, "");
    send_ok(&h, url, "");
    free(ip);
    free(url);
    ht_stop(&h);
    /* plain http on 127.0.0.1 and localhost: the key would be in clear */
    ht_start_at(&h, "server", "--plain", "127.0.0.1");
    port = strrchr(h.base, ':') + 1;
    url = tu_printf("http://localhost:%s", port);
    send_ok(&h, h.base, "");
    send_ok(&h, url, "");
    /* a proxy set in the config is not used for a loopback address either */
    char *proxy = tu_printf("proxy = http://127.0.0.1:%d", trap.port);
    send_ok(&h, url, proxy);
    free(url);
    ht_stop(&h);
    /* [::1], plain and https (the certificate has no ::1: not verified) */
    ht_start_at(&h, "server", "--plain --bind ::1", "[::1]");
    send_ok(&h, h.base, proxy);
    ht_stop(&h);
    ht_start_at(&h, "server", "--bind ::1", "[::1]");
    send_ok(&h, h.base, "tls_verify = no");
    ht_stop(&h);
    free(proxy);
}

Test(http_transport, the_proxy_stand_in_sees_a_proxied_request)
{
    /* The control for the test above: a host that is not loopback goes to
     * the proxy from the environment, and the error names that variable. */
    start_trap();
    proxy_env();
    struct ht h;
    ht_start(&h);
    free(h.base);
    h.base = strdup("https://api.example.invalid");
    ht_open(&h, "resend", "api_key = re_test");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    herald_class rc = ht_send(&h, m, NULL, &err);
    const char *why = herald_error_message(err);
    cr_assert_neq(rc, HERALD_OK);
    cr_assert_eq(trap_connections(), 1, "the stand-in saw no proxied request: %s", why);
    cr_assert(herald_error_retryable(err), "nothing reached the provider: %s", why);
    const char *fix = herald_error_fix(err);
    cr_assert(ht_has(fix, "check the https_proxy environment variable"), "fix: %s", fix);
    cr_assert(!ht_has(why, "check the https_proxy"), "the fix is apart: %s", why);
    herald_error_free(err);
    herald_msg_free(m);
    ht_stop(&h);
}

Test(http_transport, an_unreachable_proxy_is_named_as_the_fix)
{
    /* curl goes to the proxy first: nothing listens on the closed port */
    struct ht h;
    ht_start(&h);
    start_trap();
    int port = trap.port;
    tu_server_stop(&trap);
    free(h.base);
    h.base = strdup("https://api.example.invalid");
    ht_open(&h, "resend", "api_key = re_test\nproxy = http://127.0.0.1:%d", port);
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_CONNECT, "%s",
                 herald_error_message(err));
    const char *why = herald_error_message(err);
    const char *fix = herald_error_fix(err);
    cr_assert(ht_has(why, "failed at the proxy") &&
              ht_has(fix, "check the proxy setting in [channel c]"), "%s / fix: %s", why, fix);
    cr_assert(!ht_has(why, "base_url") && !ht_has(fix, "base_url"), "%s", why);
    herald_error_free(err);
    err = NULL;
    /* a proxy host that does not resolve */
    ht_open(&h, "resend", "api_key = re_test\nproxy = http://proxy.example.invalid:3128");
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_HOST_NOT_FOUND, "%s",
                 herald_error_message(err));
    why = herald_error_message(err);
    fix = herald_error_fix(err);
    cr_assert(ht_has(fix, "check the proxy setting in [channel c]"), "fix: %s", fix);
    cr_assert(!ht_has(why, "base_url") && !ht_has(fix, "base_url"), "%s", why);
    herald_error_free(err);
    herald_msg_free(m);
    ht_stop(&h);
}

Test(http_transport, a_certificate_for_another_name_is_refused)
{
    /* wronghost.pem: signed by the trusted test CA, for wrong.example.com */
    struct ht h;
    ht_start_at(&h, "wronghost", "", "127.0.0.1");
    ht_open(&h, "resend", "api_key = re_test");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_TLS, "%s",
                 herald_error_message(err));
    const char *why = herald_error_message(err);
    cr_assert(ht_has(why, "wrong.example.com") && ht_has(why, "127.0.0.1"), "%s", why);
    const char *fix = herald_error_fix(err);
    cr_assert(ht_has(fix, "the certificate is for another name"), "fix: %s", fix);
    cr_assert(!ht_has(why, "the certificate is for another name"), "%s", why);
    herald_error_free(err);
    ht_stop(&h);
    /* the same CA, a certificate for the name in base_url: accepted */
    ht_start(&h);
    char *url = tu_printf("https://localhost:%s", strrchr(h.base, ':') + 1);
    free(h.base);
    h.base = url;
    ht_open(&h, "resend", "api_key = re_test");
    err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    herald_msg_free(m);
    ht_stop(&h);
}
