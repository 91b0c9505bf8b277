/* tests/support/http_testutil.c - see http_testutil.h. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "http_testutil.h"

void ht_start_at(struct ht *h, const char *cert, const char *args, const char *url_host)
{
    memset(h, 0, sizeof *h);
    h->certs = tu_mkdtemp();
    cr_assert(h->certs);
    cr_assert_eq(tu_make_certs(h->certs), 0, "certtool failed");
    h->ca = tu_printf("%s/ca.pem", h->certs);
    cr_assert_eq(tu_server_start(&h->srv,
                                 "exec %s '%s/tests/support/servers/providers.py' --cert "
                                 "'%s/%s.pem' --key '%s/%s.key' %s",
                                 tu_python(), tu_srcdir(), h->certs, cert, h->certs,
                                 cert, args),
                 0, "the provider test server did not start");
    h->base = tu_printf("%s://%s:%d", strstr(args, "--plain") ? "http" : "https",
                        url_host, h->srv.port);
}

void ht_start(struct ht *h)
{
    ht_start_at(h, "server", "", "127.0.0.1");
}

void ht_stop(struct ht *h)
{
    herald_close(h->ctx);
    tu_server_stop(&h->srv);
    tu_rmrf(h->certs);
    free(h->certs);
    free(h->ca);
    free(h->base);
    memset(h, 0, sizeof *h);
}

static herald_class vopen(struct ht *h, herald_error **err_r, const char *driver,
                          const char *fmt, va_list ap)
{
    char *extra = NULL;
    if (vasprintf(&extra, fmt, ap) < 0)
        extra = NULL;
    cr_assert(extra);
    /* One attempt per send (the core's retries are tested apart, in
     * tests/libherald/test_retry.c), unless the test sets retries. */
    char *conf = tu_printf("[channel c]\ndriver = %s\nbase_url = %s\nca_file = %s\n"
                           "%s%s%s\n", driver, h->base, h->ca,
                           strstr(extra, "timeout =") ? "" : "timeout = 5s\n",
                           strstr(extra, "retries =") ? "" : "retries = 0\n", extra);
    herald_close(h->ctx);
    h->ctx = NULL;
    herald_class rc = herald_open_string(conf, "http-test.conf", 0, &h->ctx, err_r);
    free(conf);
    free(extra);
    return rc;
}

void ht_open(struct ht *h, const char *driver, const char *extra_fmt, ...)
{
    herald_error *err = NULL;
    va_list ap;
    va_start(ap, extra_fmt);
    herald_class rc = vopen(h, &err, driver, extra_fmt, ap);
    va_end(ap);
    cr_assert_eq(rc, HERALD_OK, "open: %s", herald_error_message(err));
}

herald_class ht_try_open(struct ht *h, herald_error **err_r, const char *driver,
                         const char *extra_fmt, ...)
{
    va_list ap;
    va_start(ap, extra_fmt);
    herald_class rc = vopen(h, err_r, driver, extra_fmt, ap);
    va_end(ap);
    return rc;
}

struct grow {
    char *data;
    size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *user)
{
    struct grow *g = user;
    char *d = realloc(g->data, g->len + size * n + 1);
    if (!d)
        return 0;
    memcpy(d + g->len, p, size * n);
    g->len += size * n;
    d[g->len] = '\0';
    g->data = d;
    return size * n;
}

/* One control request to the server; returns the answer body (malloc'd). */
static char *control(struct ht *h, const char *path, const char *post)
{
    CURL *e = curl_easy_init();
    cr_assert(e);
    struct grow g = {NULL, 0};
    char *url = tu_printf("%s%s", h->base, path);
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CAINFO, h->ca);
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");   /* tests may set *_proxy */
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &g);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    if (post)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, post);
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(e);
    free(url);
    cr_assert_eq(rc, CURLE_OK, "control %s: %s", path, curl_easy_strerror(rc));
    cr_assert_eq(status, 200, "control %s: HTTP %ld %s", path, status,
                 g.data ? g.data : "");
    return g.data;
}

void ht_fault(struct ht *h, const char *json_fmt, ...)
{
    char *json = NULL;
    va_list ap;
    va_start(ap, json_fmt);
    if (vasprintf(&json, json_fmt, ap) < 0)
        json = NULL;
    va_end(ap);
    cr_assert(json);
    free(control(h, "/_test/fault", json));
    free(json);
}

json_t *ht_requests(struct ht *h)
{
    char *body = control(h, "/_test/requests", NULL);
    json_error_t jerr;
    json_t *arr = json_loads(body, 0, &jerr);
    cr_assert(json_is_array(arr), "requests: %s", jerr.text);
    free(body);
    return arr;
}

json_t *ht_last(struct ht *h)
{
    json_t *arr = ht_requests(h);
    size_t n = json_array_size(arr);
    cr_assert_gt(n, 0, "the server recorded no request");
    json_t *rec = json_incref(json_array_get(arr, n - 1));
    json_decref(arr);
    return rec;
}

const char *ht_header(json_t *rec, const char *name)
{
    return json_string_value(json_object_get(json_object_get(rec, "headers"), name));
}

unsigned char *ht_unbase64(const char *s, size_t *len_r)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s);
    if (n % 4)
        return NULL;
    unsigned char *out = malloc(n / 4 * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; out && i < n; i += 4) {
        unsigned v = 0;
        int pad = 0;
        for (size_t j = 0; j < 4; j++) {
            const char *p = s[i + j] == '=' ? NULL : strchr(tbl, s[i + j]);
            if (s[i + j] == '=')
                pad++;
            else if (!p || !s[i + j] || pad) {
                free(out);
                return NULL;
            }
            v = v << 6 | (unsigned)(p ? p - tbl : 0);
        }
        out[o++] = (unsigned char)(v >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(v >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)v;
    }
    if (out)
        out[o] = '\0';
    if (len_r)
        *len_r = o;
    return out;
}

char *ht_body(json_t *rec, size_t *len_r)
{
    const char *b64 = json_string_value(json_object_get(rec, "body_b64"));
    cr_assert(b64, "record without body_b64");
    char *body = (char *)ht_unbase64(b64, len_r);
    cr_assert(body, "body_b64 is not base64");
    return body;
}

json_t *ht_body_json(json_t *rec)
{
    size_t len;
    char *body = ht_body(rec, &len);
    json_error_t jerr;
    json_t *j = json_loadb(body, len, 0, &jerr);
    cr_assert(json_is_object(j), "body is not a JSON object (%s): %s", jerr.text, body);
    free(body);
    return j;
}

herald_class ht_send(struct ht *h, herald_msg *m, char **id_r, herald_error **err_r)
{
    herald_result *res = NULL;
    herald_class rc = herald_send(h->ctx, "c", m, &res, err_r);
    if (id_r) {
        const char *id = res ? herald_result_message_id(res) : NULL;
        *id_r = id ? strdup(id) : NULL;
    }
    herald_result_free(res);
    return rc;
}

char *ht_render_n(struct ht *h, herald_msg *m, size_t *len_r)
{
    char *payload = NULL;
    herald_error *err = NULL;
    herald_class rc = herald_render(h->ctx, "c", m, &payload, len_r, &err);
    cr_assert_eq(rc, HERALD_OK, "render: %s", herald_error_message(err));
    char *copy = malloc(*len_r + 1);
    cr_assert(copy);
    memcpy(copy, payload, *len_r + 1);
    herald_free(payload);
    return copy;
}

char *ht_render(struct ht *h, herald_msg *m)
{
    char *payload = NULL;
    size_t len = 0;
    herald_error *err = NULL;
    herald_class rc = herald_render(h->ctx, "c", m, &payload, &len, &err);
    cr_assert_eq(rc, HERALD_OK, "render: %s", herald_error_message(err));
    cr_assert_eq(strlen(payload), len);
    char *copy = strdup(payload);
    herald_free(payload);
    return copy;
}

const unsigned char *ht_bin(void)
{
    static unsigned char bin[HT_BIN_LEN];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)((i * 7 + i / 256) & 0xff);
    return bin;
}

herald_msg *ht_full_message(void)
{
    herald_msg *m = herald_msg_new();
    cr_assert_eq(herald_msg_set_from(m, HT_FROM_NAME " <" HT_FROM_ADDR ">"), HERALD_OK);
    cr_assert_eq(herald_msg_add_to(m, "Ops Team <ops@example.com>"), HERALD_OK);
    cr_assert_eq(herald_msg_add_to(m, "Zoë Ünal <zoe@example.com>"), HERALD_OK);
    cr_assert_eq(herald_msg_add_cc(m, "Carol <carol@example.com>"), HERALD_OK);
    cr_assert_eq(herald_msg_add_bcc(m, "dave@example.com"), HERALD_OK);
    cr_assert_eq(herald_msg_set_reply_to(m, "\"Support, Team\" <support@example.com>"),
                 HERALD_OK);
    cr_assert_eq(herald_msg_set_subject(m, HT_SUBJECT), HERALD_OK);
    cr_assert_eq(herald_msg_set_text(m, HT_TEXT), HERALD_OK);
    cr_assert_eq(herald_msg_set_html(m, HT_HTML), HERALD_OK);
    cr_assert_eq(herald_msg_add_header(m, "X-Ticket", "T-1234"), HERALD_OK);
    cr_assert_eq(herald_msg_add_tag(m, "billing"), HERALD_OK);
    cr_assert_eq(herald_msg_add_tag(m, "alerts"), HERALD_OK);
    cr_assert_eq(herald_msg_set_metadata(m, "order_id", "42"), HERALD_OK);
    cr_assert_eq(herald_msg_set_metadata(m, "customer", "acme"), HERALD_OK);
    cr_assert_eq(herald_msg_attach_data(m, ht_bin(), HT_BIN_LEN, "data.bin",
                                        "application/octet-stream"), HERALD_OK);
    cr_assert_eq(herald_msg_attach_data(m, HT_CSV, strlen(HT_CSV), "report.csv",
                                        "text/csv"), HERALD_OK);
    return m;
}

herald_msg *ht_small_message(void)
{
    herald_msg *m = herald_msg_new();
    cr_assert_eq(herald_msg_set_from(m, "Bot <bot@example.com>"), HERALD_OK);
    cr_assert_eq(herald_msg_add_to(m, "a@example.com"), HERALD_OK);
    cr_assert_eq(herald_msg_set_subject(m, "hi"), HERALD_OK);
    cr_assert_eq(herald_msg_set_text(m, "hello"), HERALD_OK);
    return m;
}

int ht_has(const char *hay, const char *needle)
{
    return hay && needle && strstr(hay, needle) != NULL;
}

void ht_check_faults(struct ht *h, const struct ht_fault_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct ht_fault_case *fc = &cases[i];
        ht_fault(h, "%s", fc->fault);
        herald_msg *m = ht_small_message();
        herald_error *err = NULL;
        herald_class rc = ht_send(h, m, NULL, &err);
        const char *msg = herald_error_message(err);
        cr_assert_eq(rc, fc->cls, "fault %s: class %d (%s), want %d", fc->fault, rc,
                     msg, fc->cls);
        cr_assert_eq(herald_error_class(err), fc->cls);
        if (fc->code)
            cr_assert_str_eq(herald_error_code(err) ? herald_error_code(err) : "(null)",
                             fc->code, "fault %s: %s", fc->fault, msg);
        if (fc->text)
            cr_assert(ht_has(herald_error_provider_text(err), fc->text),
                      "fault %s: provider text '%s' lacks '%s'", fc->fault,
                      herald_error_provider_text(err), fc->text);
        if (fc->retry_after != HT_ANY)
            cr_assert_eq(herald_error_retry_after(err), fc->retry_after,
                         "fault %s: retry_after %ld", fc->fault,
                         herald_error_retry_after(err));
        if (fc->message)
            cr_assert(ht_has(msg, fc->message), "fault %s: message '%s' lacks '%s'",
                      fc->fault, msg, fc->message);
        if (fc->fix)
            cr_assert(ht_has(herald_error_fix(err), fc->fix), "fault %s: fix '%s' lacks '%s'",
                      fc->fault, herald_error_fix(err) ? herald_error_fix(err) : "(none)",
                      fc->fix);
        herald_error_free(err);
        herald_msg_free(m);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void ht_check_reset_and_slow(struct ht *h, const char *driver, const char *open_extra)
{
    /* Under valgrind a TLS handshake alone can take a second. */
    int slow = getenv("HERALD_TEST_VALGRIND") != NULL;
    int timeout = slow ? 5 : 1;
    ht_open(h, driver, "timeout = %ds\n%s", timeout, open_extra);
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;

    /* Reset before anything of the request was read: safe to retry. */
    ht_fault(h, "{\"mode\": \"reset_on_connect\"}");
    herald_class rc = ht_send(h, m, NULL, &err);
    cr_assert_eq(rc, HERALD_ERR_CONNECT, "reset on connect: %d %s", rc,
                 herald_error_message(err));
    cr_assert(herald_error_retryable(err));
    herald_error_free(err);
    err = NULL;

    /* Reset after the whole request was read: it may have been delivered. */
    ht_fault(h, "{\"mode\": \"reset\"}");
    rc = ht_send(h, m, NULL, &err);
    cr_assert_eq(rc, HERALD_ERR_DELIVERY_UNKNOWN, "reset: %d %s", rc,
                 herald_error_message(err));
    cr_assert(!herald_error_retryable(err));
    cr_assert(ht_has(herald_error_message(err), "may or may not have been delivered"),
              "%s", herald_error_message(err));
    herald_error_free(err);
    err = NULL;

    ht_fault(h, "{\"mode\": \"slow\", \"delay\": %d}", timeout + 3);
    double t0 = now_s();
    rc = ht_send(h, m, NULL, &err);
    double took = now_s() - t0;
    /* the request was sent in full: no answer in time may still mean delivered */
    cr_assert_eq(rc, HERALD_ERR_DELIVERY_UNKNOWN, "slow: %d %s", rc,
                 herald_error_message(err));
    cr_assert(!herald_error_retryable(err));
    cr_assert(took >= timeout - 0.1 && took < timeout + (slow ? 10 : 2),
              "the %d s timeout took %.2f s", timeout, took);
    cr_assert(ht_has(herald_error_message(err), "timeout"), "%s", herald_error_message(err));
    herald_error_free(err);
    err = NULL;

    /* The next send works again, on a new connection. */
    rc = ht_send(h, m, NULL, &err);
    cr_assert_eq(rc, HERALD_OK, "after the faults: %s", herald_error_message(err));
    herald_msg_free(m);
}

void ht_check_keepalive(struct ht *h, int n)
{
    herald_msg *m = ht_small_message();
    for (int i = 0; i < n; i++) {
        herald_error *err = NULL;
        cr_assert_eq(ht_send(h, m, NULL, &err), HERALD_OK, "send %d: %s", i,
                     herald_error_message(err));
    }
    herald_msg_free(m);
    json_t *arr = ht_requests(h);
    cr_assert_eq(json_array_size(arr), (size_t)n);
    json_int_t conn = json_integer_value(json_object_get(json_array_get(arr, 0), "conn_id"));
    cr_assert_gt(conn, 0);
    for (size_t i = 0; i < (size_t)n; i++) {
        json_t *rec = json_array_get(arr, i);
        cr_assert_str_eq(json_string_value(json_object_get(rec, "verdict")), "ok");
        cr_assert_eq(json_integer_value(json_object_get(rec, "conn_id")), conn,
                     "send %zu used another connection", i);
    }
    json_decref(arr);
}

char *ht_answer_fault(const char *mode, int status, const char *body,
                      const char *header, const char *value, long pad)
{
    json_t *f = json_pack("{s:s, s:i, s:s, s:I}", "mode", mode, "status", status,
                          "body", body, "pad", (json_int_t)pad);
    cr_assert(f);
    if (header)
        json_object_set_new(f, "headers", json_pack("{s:s}", header, value));
    char *text = json_dumps(f, JSON_COMPACT);
    json_decref(f);
    cr_assert(text);
    return text;
}

void ht_check_lost_answers(struct ht *h, const char *success_body)
{
    static const struct {
        const char *mode, *says;
        long pad;
    } cases[] = {
        /* 200, then half of the promised body and a close */
        {"truncate", "cut off", 0},
        /* a chunked body that does not end */
        {"endless", "1 MiB cap", 0},
        /* a complete answer, but past the cap */
        {"status", "1 MiB cap", 1100000},
    };
    herald_msg *m = ht_small_message();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *fault = ht_answer_fault(cases[i].mode, 200, success_body, NULL, NULL,
                                      cases[i].pad);
        ht_fault(h, "%s", fault);
        free(fault);
        herald_error *err = NULL;
        herald_class rc = ht_send(h, m, NULL, &err);
        const char *msg = herald_error_message(err);
        cr_assert_eq(rc, HERALD_ERR_DELIVERY_UNKNOWN, "%s: %d %s", cases[i].mode, rc, msg);
        cr_assert(!herald_error_retryable(err), "%s", cases[i].mode);
        cr_assert(ht_has(msg, cases[i].says), "%s: '%s' lacks '%s'", cases[i].mode, msg,
                  cases[i].says);
        cr_assert(ht_has(msg, "may or may not have been delivered"), "%s", msg);
        cr_assert(ht_has(herald_error_fix(err), "do not resend blindly"), "%s: fix %s",
                  cases[i].mode, herald_error_fix(err) ? herald_error_fix(err) : "(none)");
        herald_error_free(err);
    }
    /* an error status past the cap is still that error */
    ht_fault(h, "{\"status\": 503, \"body\": \"{}\", \"pad\": 1100000}");
    herald_error *err = NULL;
    cr_assert_eq(ht_send(h, m, NULL, &err), HERALD_ERR_TEMPORARY, "%s",
                 herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

void ht_check_shapes(struct ht *h, const char *success_fault, const char *id,
                     int has_body)
{
    static const struct {
        const char *body, *shown;   /* JSON-escaped for the fault; as escaped */
    } bad[] = {
        {"<html><head><title>Sign in \\\"Guest\\\"</title></head>\\n<body>\\u00fcber</body></html>",
         "<html><head><title>Sign in \\\"Guest\\\"</title></head>\\n<body>\\xC3\\xBCber</body></html>"},
        {"{\\\"id\\\": \\\"abc\\\"", "{\\\"id\\\": \\\"abc\\\""},
        {"", ""},
        {"{\\\"error\\\":\\\"x\\\"}", "{\\\"error\\\":\\\"x\\\"}"},
    };
    herald_msg *m = ht_small_message();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (!has_body && !*bad[i].body)
            continue;   /* an empty body is this provider's success */
        ht_fault(h, "{\"status\": 200, \"body\": \"%s\", \"headers\": {\"X-Message-Id\": "
                 "\"\"}}", bad[i].body);
        herald_error *err = NULL;
        char *got = NULL;
        herald_class rc = ht_send(h, m, &got, &err);
        const char *msg = herald_error_message(err);
        cr_assert_eq(rc, HERALD_ERR_DELIVERY_UNKNOWN, "body %s: %d %s", bad[i].body, rc,
                     msg ? msg : "(delivered)");
        cr_assert(ht_has(msg, "not with its success answer"), "%s", msg);
        char *quoted = tu_printf("bytes: \"%s\"", bad[i].shown);
        cr_assert(ht_has(msg, quoted), "'%s' lacks '%s'", msg, quoted);
        free(quoted);
        cr_assert(!herald_error_retryable(err));
        cr_assert(ht_has(herald_error_fix(err), "do not resend blindly"), "fix %s",
                  herald_error_fix(err) ? herald_error_fix(err) : "(none)");
        herald_error_free(err);
        free(got);
    }
    /* the provider's real success answer */
    ht_fault(h, "%s", success_fault);
    herald_error *err = NULL;
    char *got = NULL;
    cr_assert_eq(ht_send(h, m, &got, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert_str_eq(got ? got : "(none)", id);
    free(got);
    herald_msg_free(m);
}

/* Log lines of the context, gathered for ht_check_redaction. */
static void keep_log(herald_log_level level, const char *channel, const char *line,
                     void *user)
{
    (void)level;
    (void)channel;
    char **all = user;
    char *joined = tu_printf("%s%s\n", *all ? *all : "", line);
    free(*all);
    *all = joined;
}

void ht_check_redaction(struct ht *h, const char *secret, const char *const *forms,
                        const char *error_fault, const char *id_fault)
{
    char *log = NULL;
    herald_set_log_handler(h->ctx, HERALD_LOG_DEBUG, keep_log, &log);
    herald_msg *m = ht_small_message();
    ht_fault(h, "%s", error_fault);
    herald_error *err = NULL;
    char *id = NULL;
    cr_assert_neq(ht_send(h, m, &id, &err), HERALD_OK, "the echo fault was delivered");
    const char *texts[] = {herald_error_message(err), herald_error_provider_text(err),
                           herald_error_code(err), herald_error_fix(err)};
    cr_assert(ht_has(texts[0], "***") || ht_has(texts[1], "***"),
              "the echo did not come back: %s / %s", texts[0], texts[1]);
    for (size_t i = 0; i < 4; i++) {
        cr_assert(!ht_has(texts[i], secret), "error text %zu shows the secret: %s", i,
                  texts[i]);
        for (size_t f = 0; forms && forms[f]; f++)
            cr_assert(!ht_has(texts[i], forms[f]), "error text %zu shows %s: %s", i,
                      forms[f], texts[i]);
    }
    herald_error_free(err);
    err = NULL;
    ht_fault(h, "%s", id_fault);
    cr_assert_eq(ht_send(h, m, &id, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert(ht_has(id, "***"), "the id echo did not come back: %s", id);
    cr_assert(!ht_has(id, secret), "the message id shows the secret: %s", id);
    for (size_t f = 0; forms && forms[f]; f++)
        cr_assert(!ht_has(id, forms[f]), "the message id shows %s: %s", forms[f], id);
    free(id);
    cr_assert(log, "no log lines at debug level");
    cr_assert(!ht_has(log, secret), "a log line shows the secret: %s", log);
    for (size_t f = 0; forms && forms[f]; f++)
        cr_assert(!ht_has(log, forms[f]), "a log line shows %s: %s", forms[f], log);
    herald_set_log_handler(h->ctx, HERALD_LOG_WARNING, NULL, NULL);
    free(log);
    herald_msg_free(m);
}
