/* tests/support/test_provider_server.c - the provider test server itself
 * (tests/support/servers/providers.py), driven with the curl command: each provider
 * accepts a request shaped the way its documentation says, and every rule
 * the server enforces refuses a deliberately wrong request with that
 * provider's real status and error body.  Also the fault injection and the
 * request log that the driver tests rely on. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static struct tu_server srv;
static char *tmp;       /* private directory of this test */
static char base[128];  /* http(s)://127.0.0.1:PORT */
static const char *tls_opt = "";   /* "--cacert DIR/ca.pem" in the TLS suite */

/* Start providers.py with @mode options; tmp must exist. */
static void start_server(const char *mode)
{
    cr_assert_eq(tu_server_start(&srv, "exec '%s' '%s/tests/support/servers/providers.py' %s",
                                 tu_python(), tu_srcdir(), mode), 0);
}

static void setup_plain(void)
{
    tmp = tu_mkdtemp();
    cr_assert_not_null(tmp);
    start_server("--plain");
    snprintf(base, sizeof base, "http://127.0.0.1:%d", srv.port);
}

static void teardown(void)
{
    tu_server_stop(&srv);
    tu_rmrf(tmp);
    free(tmp);
}

TestSuite(provider_server, .init = setup_plain, .fini = teardown, .timeout = 15);

/* ---------------------------------------------------------------- helpers */

struct resp {
    int curl_rc;    /* curl's exit status: 0, 28 timeout, 56 reset, 60 TLS ... */
    int status;     /* HTTP status, 0 when there was no answer */
    char *head;     /* response headers */
    char *body;     /* response body */
};

static void resp_free(struct resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Run `curl ARGS` (ARGS printf-formatted shell words); any previous answer
 * in *r is freed first. */
static void curl(struct resp *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void curl(struct resp *r, const char *fmt, ...)
{
    resp_free(r);
    va_list ap;
    char *args = NULL;
    va_start(ap, fmt);
    if (vasprintf(&args, fmt, ap) < 0)
        args = NULL;
    va_end(ap);
    cr_assert_not_null(args);
    char *hfile = tu_printf("%s/resp.head", tmp), *bfile = tu_printf("%s/resp.body", tmp);
    remove(hfile);
    remove(bfile);
    char *out = NULL;
    r->curl_rc = tu_run(&out, "curl -s --max-time 5 %s -D '%s' -o '%s' -w '%%{http_code}' %s",
                        tls_opt, hfile, bfile, args);
    r->status = out ? atoi(out) : -1;
    r->head = tu_read_file(hfile, NULL);
    r->body = tu_read_file(bfile, NULL);
    if (!r->head)
        r->head = strdup("");
    if (!r->body)
        r->body = strdup("");
    free(out);
    free(args);
    free(hfile);
    free(bfile);
}

/* Write @text to tmp/NAME; returns the path (malloc'd). */
static char *file(const char *name, const char *text)
{
    char *p = tu_write_file(tmp, name, text);
    cr_assert_not_null(p);
    return p;
}

/* POST the JSON @json to PATH with the extra curl arguments @hdrs (which
 * may set another Content-Type). */
static void post_json(struct resp *r, const char *hdrs, const char *path, const char *json)
{
    char *p = file("req.json", json);
    curl(r, "%s %s --data-binary @'%s' '%s%s'", hdrs,
         strstr(hdrs, "Content-Type") ? "" : "-H 'Content-Type: application/json'",
         p, base, path);
    free(p);
}

/* A request that must be refused: curl options, path, JSON body, and the
 * expected status and a piece of the error body. */
struct refusal {
    const char *hdrs, *path, *json;
    int status;
    const char *needle;
};

static void expect_refusals(const struct refusal *cases, size_t n)
{
    struct resp r = {0};
    for (size_t i = 0; i < n; i++) {
        post_json(&r, cases[i].hdrs, cases[i].path, cases[i].json);
        cr_expect_eq(r.status, cases[i].status, "case %zu (%s): status %d: %s", i,
                     cases[i].json, r.status, r.body);
        cr_expect(strstr(r.body, cases[i].needle), "case %zu (%s): want [%s] in %s", i,
                  cases[i].json, cases[i].needle, r.body);
    }
    resp_free(&r);
}

#define N_OF(a) (sizeof (a) / sizeof *(a))

/* Expect status @status and @needle in the body. */
#define expect_answer(r, st, needle)                                              \
    do {                                                                          \
        cr_expect_eq((r)->status, (st), "status %d, want %d; body: %s",           \
                     (r)->status, (st), (r)->body);                               \
        cr_expect(strstr((r)->body, (needle)), "body lacks [%s]: %s", (needle),  \
                  (r)->body);                                                     \
    } while (0)

/* The server's request log, as JSON text (malloc'd). */
static char *requests(void)
{
    struct resp r = {0};
    curl(&r, "'%s/_test/requests'", base);
    cr_assert_eq(r.status, 200);
    char *log = r.body;
    r.body = NULL;
    resp_free(&r);
    return log;
}

static void fault(const char *json)
{
    struct resp r = {0};
    post_json(&r, "", "/_test/fault", json);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
}

/* The conn_id values in a request log, in order; returns how many. */
static int conn_ids(const char *log, int *ids, int max)
{
    int n = 0;
    for (const char *p = log; n < max && (p = strstr(p, "\"conn_id\": ")); p++)
        ids[n++] = atoi(p + strlen("\"conn_id\": "));
    return n;
}

/* The string value of the first "KEY": "..." after @from (malloc'd). */
static char *json_string(const char *from, const char *key)
{
    char *pat = tu_printf("\"%s\": \"", key);
    const char *p = strstr(from, pat);
    cr_assert_not_null(p, "no %s in %s", key, from);
    p += strlen(pat);
    free(pat);
    return strndup(p, strcspn(p, "\""));
}

/* ---------------------------------------------------------------- control */

#define SG_AUTH "-H 'Authorization: Bearer SG.test'"
#define SG_MIN "{\"personalizations\":[{\"to\":[{\"email\":\"ann@example.com\"}]}]," \
               "\"from\":{\"email\":\"bot@example.com\"},\"subject\":\"hi\","       \
               "\"content\":[{\"type\":\"text/plain\",\"value\":\"hello\"}]}"

Test(provider_server, fault_status_with_retry_after_then_recovers)
{
    struct resp r = {0};
    fault("{\"path_prefix\":\"/v3/mail/send\",\"status\":429,"
          "\"headers\":{\"Retry-After\":\"7\"}}");
    post_json(&r, SG_AUTH, "/v3/mail/send", SG_MIN);
    expect_answer(&r, 429, "\"errors\": [{\"message\"");
    cr_expect(strstr(r.head, "Retry-After: 7"), "%s", r.head);
    post_json(&r, SG_AUTH, "/v3/mail/send", SG_MIN);
    cr_expect_eq(r.status, 202, "a fault with count 1 applies once: %d", r.status);
    resp_free(&r);
    char *log = requests();
    cr_expect(strstr(log, "\"verdict\": \"fault: status 429\""), "%s", log);
    free(log);
}

Test(provider_server, fault_matches_path_prefix_and_count)
{
    struct resp r = {0};
    fault("{\"path_prefix\":\"/email\",\"status\":500,\"count\":2,"
          "\"body\":\"{\\\"ErrorCode\\\":100,\\\"Message\\\":\\\"Maintenance\\\"}\"}");
    post_json(&r, SG_AUTH, "/v3/mail/send", SG_MIN);
    cr_expect_eq(r.status, 202, "other paths are untouched");
    curl(&r, "'%s/email' -d x", base);
    expect_answer(&r, 500, "{\"ErrorCode\":100,\"Message\":\"Maintenance\"}");
    curl(&r, "'%s/email' -d x", base);
    cr_expect_eq(r.status, 500, "count 2 applies twice");
    curl(&r, "'%s/email' -d x", base);
    cr_expect_eq(r.status, 401, "then the real answer: %d %s", r.status, r.body);
    resp_free(&r);
}

Test(provider_server, fault_default_body_has_provider_shape)
{
    struct resp r = {0};
    fault("{\"path_prefix\":\"/email\",\"status\":500}");
    curl(&r, "'%s/email' -d x", base);
    expect_answer(&r, 500, "\"ErrorCode\": 100");
    fault("{\"path_prefix\":\"/v2/\",\"status\":429}");
    curl(&r, "'%s/v2/email/outbound-emails' -d x", base);
    cr_expect_eq(r.status, 429);
    cr_expect(strstr(r.head, "x-amzn-ErrorType: TooManyRequestsException"), "%s", r.head);
    fault("{\"status\":401}");
    curl(&r, "'%s/v3/mg.example.com/messages' -d x", base);
    expect_answer(&r, 401, "Forbidden");
    resp_free(&r);
}

Test(provider_server, fault_reset_closes_without_answer)
{
    struct resp r = {0};
    fault("{\"mode\":\"reset\"}");
    post_json(&r, SG_AUTH, "/v3/mail/send", SG_MIN);
    cr_expect_eq(r.status, 0, "no HTTP answer");
    cr_expect(r.curl_rc == 56 || r.curl_rc == 52, "curl saw a reset: exit %d", r.curl_rc);
    char *log = requests();
    cr_expect(strstr(log, "\"verdict\": \"fault: connection reset\""), "%s", log);
    free(log);
    post_json(&r, SG_AUTH, "/v3/mail/send", SG_MIN);
    cr_expect_eq(r.status, 202, "the next connection is served");
    resp_free(&r);
}

Test(provider_server, fault_slow_outlasts_client_timeout)
{
    struct resp r = {0};
    fault("{\"mode\":\"slow\",\"delay\":3}");
    curl(&r, "--max-time 1 '%s/server'", base);
    cr_expect_eq(r.curl_rc, 28, "curl timed out: exit %d", r.curl_rc);
    cr_expect_eq(r.status, 0);
    resp_free(&r);
}

Test(provider_server, fault_truncate_promises_more_than_it_sends)
{
    struct resp r = {0};
    fault("{\"mode\":\"truncate\",\"status\":200,\"body\":\"0123456789\"}");
    post_json(&r, SG_AUTH, "/v3/mail/send", SG_MIN);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.curl_rc, 18, "curl saw a partial body: exit %d", r.curl_rc);
    cr_expect_str_eq(r.body, "01234");
    cr_expect(strstr(r.head, "Content-Length: 20"), "%s", r.head);
    resp_free(&r);
}

Test(provider_server, fault_endless_streams_more_than_a_mebibyte)
{
    struct resp r = {0};
    fault("{\"mode\":\"endless\",\"status\":200}");
    post_json(&r, SG_AUTH, "/v3/mail/send", SG_MIN);
    size_t len = 0;
    char *bfile = tu_printf("%s/resp.body", tmp);
    char *out = tu_read_file(bfile, &len);
    cr_expect_eq(r.status, 200);
    /* no end: curl's 5 s run out, or the server stops at 64 MiB mid-stream */
    cr_expect(r.curl_rc != 0 && len > 1024 * 1024,
              "the stream did not end: exit %d after %zu bytes", r.curl_rc, len);
    cr_expect(strstr(r.head, "Transfer-Encoding: chunked"), "%s", r.head);
    free(out);
    free(bfile);
    resp_free(&r);
}

Test(provider_server, fault_reset_on_connect_reads_nothing)
{
    struct resp r = {0};
    fault("{\"mode\":\"reset_on_connect\"}");
    post_json(&r, SG_AUTH, "/v3/mail/send", SG_MIN);
    cr_expect_eq(r.status, 0, "no HTTP answer");
    cr_expect_neq(r.curl_rc, 0);
    char *log = requests();
    cr_expect(!strstr(log, "/v3/mail/send"), "the request was not read: %s", log);
    free(log);
    post_json(&r, SG_AUTH, "/v3/mail/send", SG_MIN);
    cr_expect_eq(r.status, 202, "the next connection is served");
    resp_free(&r);
}

Test(provider_server, fault_echoes_request_headers_and_pads)
{
    struct resp r = {0};
    fault("{\"status\":401,\"body\":\"got [{header:authorization}]\",\"pad\":3,"
          "\"headers\":{\"X-Echo\":\"{header:content-type}\"}}");
    post_json(&r, SG_AUTH, "/v3/mail/send", SG_MIN);
    cr_expect_eq(r.status, 401);
    cr_expect_str_eq(r.body, "got [Bearer SG.test]xxx");
    cr_expect(strstr(r.head, "X-Echo: application/json"), "%s", r.head);
    resp_free(&r);
}

Test(provider_server, fault_control_rejects_unknown_mode)
{
    struct resp r = {0};
    post_json(&r, "", "/_test/fault", "{\"mode\":\"explode\"}");
    cr_expect_eq(r.status, 400, "%s", r.body);
    post_json(&r, "", "/_test/fault", "[1]");
    cr_expect_eq(r.status, 400, "%s", r.body);
    post_json(&r, "", "/_test/fault", "{\"status\":\"soon\"}");
    cr_expect_eq(r.status, 400, "%s", r.body);
    post_json(&r, "", "/_test/fault", "{\"pad\":-1}");
    cr_expect_eq(r.status, 400, "%s", r.body);
    post_json(&r, "", "/_test/fault", "{\"body\":[1]}");
    cr_expect_eq(r.status, 400, "%s", r.body);
    curl(&r, "'%s/_test/nothing'", base);
    cr_expect_eq(r.status, 404, "%s", r.body);
    resp_free(&r);
}

Test(provider_server, requests_are_recorded_in_full)
{
    struct resp r = {0};
    curl(&r, "-H 'X-Postmark-Server-Token: pm-test' '%s/server?x=1'", base);
    cr_assert_eq(r.status, 200);
    post_json(&r, SG_AUTH, "/v3/mail/send", "{}");
    cr_assert_eq(r.status, 400);
    resp_free(&r);
    char *log = requests();
    cr_expect(strstr(log, "\"method\": \"GET\", \"path\": \"/server\", \"query\": \"x=1\""),
              "%s", log);
    cr_expect(strstr(log, "\"x-postmark-server-token\": \"pm-test\""), "%s", log);
    cr_expect(strstr(log, "\"body_b64\": \"e30=\""), "the body {} in base64: %s", log);
    cr_expect(strstr(log, "\"verdict\": \"ok\""), "%s", log);
    cr_expect(strstr(log, "\"verdict\": \"sendgrid: The personalizations field is required"),
              "a rejection records its reason: %s", log);
    cr_expect_null(strstr(log, "/_test/"), "control requests are not recorded");
    free(log);
}

Test(provider_server, reset_forgets_requests_and_faults)
{
    struct resp r = {0};
    fault("{\"status\":503}");
    curl(&r, "-X POST '%s/_test/reset'", base);
    cr_assert_eq(r.status, 200);
    char *log = requests();
    cr_expect_str_eq(log, "[]");
    free(log);
    post_json(&r, SG_AUTH, "/v3/mail/send", SG_MIN);
    cr_expect_eq(r.status, 202, "the fault is gone");
    resp_free(&r);
}

Test(provider_server, conn_id_follows_the_tcp_connection)
{
    struct resp r = {0};
    /* Two URLs in one curl run share one kept-alive connection. */
    curl(&r, "'%s/server' '%s/server'", base, base);
    curl(&r, "'%s/server'", base);
    resp_free(&r);
    char *log = requests();
    int ids[4];
    cr_assert_eq(conn_ids(log, ids, 4), 3, "%s", log);
    cr_expect_eq(ids[0], ids[1], "keep-alive: same connection");
    cr_expect_neq(ids[1], ids[2], "a new curl run: a new connection");
    free(log);
}

Test(provider_server, unknown_endpoint_and_wrong_method)
{
    struct resp r = {0};
    curl(&r, "'%s/v9/nothing'", base);
    expect_answer(&r, 404, "not found");
    curl(&r, "'%s/v3/mail/send'", base);
    expect_answer(&r, 405, "method not allowed");
    resp_free(&r);
}

/* ---------------------------------------------------------------- mailgun */

#define MG "-u api:key-test"
#define MG_URL "%s/v3/mg.example.com/messages"

Test(provider_server, mailgun_accepts_multipart_with_every_field)
{
    struct resp r = {0};
    char *att = file("report.bin", "attached \x01\x02 bytes\n");
    curl(&r, MG " " MG_URL " -F 'from=Bot <bot@example.com>' -F to=ann@example.com,"
         "bob@example.com -F cc=cc@example.com -F bcc=bcc@example.com -F subject=hi "
         "-F text=hello --form-string 'html=<b>hello</b>' -F 'h:X-Ticket=42' -F o:tag=alerts "
         "-F v:customer=7 -F attachment=@'%s'", base, att);
    expect_answer(&r, 200, "\"message\": \"Queued. Thank you.\"");
    char *id = json_string(r.body, "id");
    cr_expect(id[0] == '<' && strstr(id, "@mg.example.com>"), "%s", id);
    free(id);
    free(att);
    resp_free(&r);
}

Test(provider_server, mailgun_accepts_urlencoded)
{
    struct resp r = {0};
    curl(&r, MG " " MG_URL " --data-urlencode 'from=Bot <bot@example.com>' "
         "-d to=ann@example.com -d subject=hi -d text=hello", base);
    expect_answer(&r, 200, "Queued. Thank you.");
    resp_free(&r);
}

Test(provider_server, mailgun_rejects_bad_credentials)
{
    struct resp r = {0};
    curl(&r, "-u api:key-wrong " MG_URL " -d to=a@example.com", base);
    expect_answer(&r, 401, "Forbidden");
    curl(&r, "-u user:key-test " MG_URL " -d to=a@example.com", base);
    expect_answer(&r, 401, "Forbidden");
    curl(&r, "-H 'Authorization: Bearer key-test' " MG_URL " -d to=a@example.com", base);
    expect_answer(&r, 401, "Forbidden");
    resp_free(&r);
}

Test(provider_server, mailgun_unknown_domain_is_404)
{
    struct resp r = {0};
    curl(&r, MG " '%s/v3/other.example.com/messages' -d to=a@example.com", base);
    expect_answer(&r, 404, "{\"message\": \"Domain not found: other.example.com\"}");
    resp_free(&r);
}

Test(provider_server, mailgun_rejects_missing_fields)
{
    struct resp r = {0};
    curl(&r, MG " " MG_URL " -F from=bot@example.com -F subject=hi -F text=x", base);
    expect_answer(&r, 400, "{\"message\": \"'to' parameter is missing\"}");
    curl(&r, MG " " MG_URL " -F to=a@example.com -F subject=hi -F text=x", base);
    expect_answer(&r, 400, "'from' parameter is missing");
    curl(&r, MG " " MG_URL " -F from=bot@example.com -F to=a@example.com -F text=x", base);
    expect_answer(&r, 400, "'subject' parameter is missing");
    curl(&r, MG " " MG_URL " -F from=bot@example.com -F to=a@example.com -F subject=s", base);
    expect_answer(&r, 400, "Need at least one of 'text', 'html'");
    resp_free(&r);
}

Test(provider_server, mailgun_rejects_invalid_address)
{
    struct resp r = {0};
    curl(&r, MG " " MG_URL " -F from=bot@example.com -F 'to=ann, bob@example.com' "
         "-F subject=s -F text=x", base);
    expect_answer(&r, 400, "to parameter is not a valid address");
    resp_free(&r);
}

Test(provider_server, mailgun_rejects_json_and_non_file_attachment)
{
    struct resp r = {0};
    post_json(&r, MG, "/v3/mg.example.com/messages", "{\"from\":\"bot@example.com\"}");
    expect_answer(&r, 400, "Content-Type must be multipart/form-data");
    curl(&r, MG " " MG_URL " -d from=bot@example.com -d to=a@example.com -d subject=s "
         "-d text=x -d attachment=notafile", base);
    expect_answer(&r, 400, "attachment must be a file part");
    resp_free(&r);
}

Test(provider_server, mailgun_rejects_malformed_multipart)
{
    struct resp r = {0};
    char *p = file("form.txt", "--XYZ\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\n"
                   "bot@example.com\r\n--XYZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XYZ--\r\n");
    curl(&r, MG " -H 'Content-Type: multipart/form-data; boundary=XYZ' --data-binary @'%s' "
         MG_URL, p, base);
    expect_answer(&r, 400, "needs Content-Disposition: form-data; name=");
    free(p);
    p = file("form2.txt", "--XYZ\r\nContent-Disposition: form-data; name=\"from\"\r\n\r\nx");
    curl(&r, MG " -H 'Content-Type: multipart/form-data; boundary=XYZ' --data-binary @'%s' "
         MG_URL, p, base);
    expect_answer(&r, 400, "malformed multipart/form-data body");
    free(p);
    curl(&r, MG " " MG_URL " -F 'from=bot@example.com' -F to=a@example.com -F subject=s "
         "-F text=x -F 'cc=not-an-address'", base);
    expect_answer(&r, 400, "cc parameter is not a valid address");
    resp_free(&r);
}

Test(provider_server, mailgun_limits_options_to_16k)
{
    struct resp r = {0};
    char big[17 * 1024];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    char *val = file("big.txt", big);
    curl(&r, MG " " MG_URL " -F from=bot@example.com -F to=a@example.com -F subject=s "
         "-F text=x -F 'v:blob=<%s'", base, val);
    expect_answer(&r, 400, "limited to 16 kB total");
    free(val);
    resp_free(&r);
}

Test(provider_server, mailgun_domain_check)
{
    struct resp r = {0};
    curl(&r, MG " '%s/v3/domains/mg.example.com'", base);
    expect_answer(&r, 200, "\"name\": \"mg.example.com\"");
    curl(&r, MG " '%s/v3/domains/nope.example.com'", base);
    expect_answer(&r, 404, "Domain not found");
    curl(&r, "-u api:bad '%s/v3/domains/mg.example.com'", base);
    cr_expect_eq(r.status, 401);
    resp_free(&r);
}

/* ---------------------------------------------------------------- sendgrid */

/* SG_MIN with @field replaced by @value ("personalizations", "from",
 * "subject" or "content"), or a new top-level field added. */
static char *sg_with(const char *field, const char *value)
{
    const char *pers = "[{\"to\":[{\"email\":\"ann@example.com\"}]}]";
    const char *from = "{\"email\":\"bot@example.com\"}", *subject = "\"hi\"";
    const char *content = "[{\"type\":\"text/plain\",\"value\":\"hello\"}]";
    const char *extra = "";
    char *extra_s = NULL;
    if (!strcmp(field, "personalizations"))
        pers = value;
    else if (!strcmp(field, "from"))
        from = value;
    else if (!strcmp(field, "subject"))
        subject = value;
    else if (!strcmp(field, "content"))
        content = value;
    else
        extra = extra_s = tu_printf(",\"%s\":%s", field, value);
    char *s = tu_printf("{\"personalizations\":%s,\"from\":%s,\"subject\":%s,"
                        "\"content\":%s%s}", pers, from, subject, content, extra);
    free(extra_s);
    return s;
}

static void sg_expect_error(const char *field, const char *value, const char *err_field,
                            const char *message)
{
    struct resp r = {0};
    char *body = sg_with(field, value);
    post_json(&r, SG_AUTH, "/v3/mail/send", body);
    char *want = tu_printf("\"field\": \"%s\"", err_field);
    expect_answer(&r, 400, want);
    cr_expect(strstr(r.body, message), "message [%s] in %s", message, r.body);
    cr_expect(strstr(r.body, "\"help\": \"http"), "%s", r.body);
    free(want);
    free(body);
    resp_free(&r);
}

Test(provider_server, sendgrid_accepts_full_message)
{
    struct resp r = {0};
    post_json(&r, SG_AUTH, "/v3/mail/send",
        "{\"personalizations\":[{\"to\":[{\"email\":\"ann@example.com\",\"name\":\"Ann\"}],"
        "\"cc\":[{\"email\":\"cc@example.com\"}],\"bcc\":[{\"email\":\"bcc@example.com\"}]}],"
        "\"from\":{\"email\":\"bot@example.com\",\"name\":\"Bot\"},"
        "\"reply_to\":{\"email\":\"help@example.com\"},\"subject\":\"hi\","
        "\"content\":[{\"type\":\"text/plain\",\"value\":\"hello\"},"
        "{\"type\":\"text/html\",\"value\":\"<b>hello</b>\"}],"
        "\"attachments\":[{\"content\":\"aGVsbG8=\",\"filename\":\"a.txt\","
        "\"type\":\"text/plain\",\"disposition\":\"attachment\"}],"
        "\"categories\":[\"alerts\"],\"custom_args\":{\"customer\":\"7\"},"
        "\"headers\":{\"X-Ticket\":\"42\"}}");
    cr_expect_eq(r.status, 202, "%s", r.body);
    cr_expect_str_eq(r.body, "", "202 has an empty body");
    cr_expect(strstr(r.head, "X-Message-Id: "), "%s", r.head);
    resp_free(&r);
}

Test(provider_server, sendgrid_sandbox_mode_is_200_without_id)
{
    struct resp r = {0};
    char *body = sg_with("mail_settings", "{\"sandbox_mode\":{\"enable\":true}}");
    post_json(&r, SG_AUTH, "/v3/mail/send", body);
    cr_expect_eq(r.status, 200, "%s", r.body);
    cr_expect_null(strstr(r.head, "X-Message-Id"), "%s", r.head);
    free(body);
    resp_free(&r);
}

Test(provider_server, sendgrid_rejects_bad_auth_and_content_type)
{
    struct resp r = {0};
    post_json(&r, "", "/v3/mail/send", SG_MIN);
    expect_answer(&r, 401, "\"message\": \"authorization required\"");
    post_json(&r, "-H 'Authorization: Bearer SG.wrong'", "/v3/mail/send", SG_MIN);
    expect_answer(&r, 401, "authorization grant is invalid, expired, or revoked");
    post_json(&r, "-H 'Authorization: SG.test'", "/v3/mail/send", SG_MIN);
    cr_expect_eq(r.status, 401, "Bearer scheme required");
    char *p = file("req.json", SG_MIN);
    curl(&r, SG_AUTH " -H 'Content-Type: text/plain' --data-binary @'%s' '%s/v3/mail/send'",
         p, base);
    expect_answer(&r, 415, "Content-Type should be application/json.");
    free(p);
    post_json(&r, SG_AUTH, "/v3/mail/send", "{not json");
    expect_answer(&r, 400, "Bad Request");
    resp_free(&r);
}

Test(provider_server, sendgrid_rejects_bad_recipients)
{
    sg_expect_error("personalizations", "[{\"cc\":[{\"email\":\"c@example.com\"}]}]",
                    "personalizations.0.to", "The to array is required");
    sg_expect_error("personalizations", "[]", "personalizations",
                    "must have at least one personalization");
    sg_expect_error("personalizations", "[{\"to\":[{\"email\":\"Ann <ann@example.com>\"}]}]",
                    "personalizations.0.to.0.email", "Does not contain a valid address.");
    sg_expect_error("personalizations", "[{\"to\":[{\"email\":\"ann@example.com\"}],"
                    "\"bcc\":[{\"email\":\"ANN@example.com\"}]}]", "personalizations.0",
                    "should be unique between to, cc, and bcc");
    sg_expect_error("from", "\"bot@example.com\"", "from.email",
                    "The from object must be provided");
    sg_expect_error("reply_to", "{\"email\":\"nobody\"}", "reply_to.email",
                    "The reply_to email does not contain a valid address.");
}

Test(provider_server, sendgrid_rejects_bad_content)
{
    sg_expect_error("content", "[{\"type\":\"text/html\",\"value\":\"<b>x</b>\"},"
                    "{\"type\":\"text/plain\",\"value\":\"x\"}]", "content",
                    "text/plain must be first, followed by text/html");
    sg_expect_error("content", "[{\"type\":\"text/plain\",\"value\":\"\"}]",
                    "content.0.value", "at least one character in length");
    sg_expect_error("content", "[]", "content", "the content parameter is required");
    sg_expect_error("subject", "\"\"", "subject", "The subject is required.");
    sg_expect_error("content", "[{\"value\":\"x\"}]", "content.0.type",
                    "The content type must be a string");
    sg_expect_error("content", "[{\"type\":\"text/plain\",\"value\":\"x\"},"
                    "{\"type\":\"text/plain\",\"value\":\"y\"}]", "content",
                    "may only be provided once");
}

Test(provider_server, sendgrid_rejects_bad_attachments)
{
    sg_expect_error("attachments", "[{\"content\":\"not base64!\",\"filename\":\"a.txt\"}]",
                    "attachments.0.content", "must be base64 encoded");
    sg_expect_error("attachments", "[{\"content\":\"aGVsbG8=\"}]",
                    "attachments.0.filename", "filename parameter is required");
    sg_expect_error("attachments", "[{\"content\":\"aGVsbG8=\",\"filename\":\"a\","
                    "\"disposition\":\"sideways\"}]", "attachments.0.disposition",
                    "inline or attachment");
    sg_expect_error("attachments", "[{\"content\":\"aGVsbG8=\",\"filename\":\"a\","
                    "\"type\":\"\"}]", "attachments.0.type", "at least one character");
    sg_expect_error("attachments", "{}", "attachments", "must be an array");
}

Test(provider_server, sendgrid_rejects_bad_categories_args_headers)
{
    sg_expect_error("categories", "[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\","
                    "\"10\",\"11\"]", "categories", "Too many categories");
    sg_expect_error("categories", "[\"a\",\"a\"]", "categories", "unique");
    sg_expect_error("categories", "[1]", "categories", "must be an array of strings");
    char *long_cat = tu_printf("[\"%0300d\"]", 0);
    sg_expect_error("categories", long_cat, "categories", "more than 255 characters");
    free(long_cat);
    sg_expect_error("custom_args", "[\"k\"]", "custom_args", "Expected: object");
    sg_expect_error("custom_args", "{\"n\":7}", "custom_args.n", "Expected: string");
    sg_expect_error("headers", "{\"Subject\":\"x\"}", "headers", "cannot be overridden");
}

Test(provider_server, sendgrid_scopes_check)
{
    struct resp r = {0};
    curl(&r, SG_AUTH " '%s/v3/scopes'", base);
    expect_answer(&r, 200, "\"mail.send\"");
    curl(&r, "-H 'Authorization: Bearer nope' '%s/v3/scopes'", base);
    cr_expect_eq(r.status, 401);
    resp_free(&r);
}

/* ---------------------------------------------------------------- ses */

#define SES_PATH "/v2/email/outbound-emails"
#define SES_SIGN "--aws-sigv4 aws:amz:us-east-1:ses -u AKIDTEST:secret-test"
#define SES_MIN "{\"FromEmailAddress\":\"bot@example.com\",\"Destination\":" \
    "{\"ToAddresses\":[\"ann@example.com\"]},\"Content\":{\"Simple\":{\"Subject\":" \
    "{\"Data\":\"hi\"},\"Body\":{\"Text\":{\"Data\":\"hello\"}}}}}"

static void expect_aws_error(const struct resp *r, int status, const char *type,
                             const char *message)
{
    cr_expect_eq(r->status, status, "status %d: %s", r->status, r->body);
    char *h = tu_printf("x-amzn-ErrorType: %s\r\n", type);
    cr_expect(strstr(r->head, h), "want %s in %s", type, r->head);
    cr_expect(strstr(r->body, "{\"message\": \""), "%s", r->body);
    cr_expect(strstr(r->body, message), "want [%s] in %s", message, r->body);
    free(h);
}

/* An independent SigV4 signer (AWS General Reference, "Create a signed AWS
 * API request"), used where curl's --aws-sigv4 cannot produce the case:
 * argv: secret, x-amz-date ("now" for the current time), signed header
 * list, host, body file.  Prints the Authorization value, then the date. */
static const char signer_py[] =
    "import hashlib, hmac, sys, time\n"
    "secret, date, signed, host, body = sys.argv[1:6]\n"
    "if date == 'now': date = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())\n"
    "mac = lambda k, m: hmac.new(k, m.encode(), hashlib.sha256).digest()\n"
    "k = mac(('AWS4' + secret).encode(), date[:8])\n"
    "for part in ('us-east-1', 'ses', 'aws4_request'): k = mac(k, part)\n"
    "hdrs = {'host': host, 'x-amz-date': date, 'content-type': 'application/json'}\n"
    "payload = hashlib.sha256(open(body, 'rb').read()).hexdigest()\n"
    "canon = '\\n'.join(['POST', '/v2/email/outbound-emails', '',\n"
    "    ''.join('%s:%s\\n' % (n, hdrs[n]) for n in signed.split(';')), signed, payload])\n"
    "scope = date[:8] + '/us-east-1/ses/aws4_request'\n"
    "sts = '\\n'.join(['AWS4-HMAC-SHA256', date, scope,\n"
    "    hashlib.sha256(canon.encode()).hexdigest()])\n"
    "sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()\n"
    "print('AWS4-HMAC-SHA256 Credential=AKIDTEST/%s, SignedHeaders=%s, Signature=%s'\n"
    "      % (scope, signed, sig))\n"
    "print(date)\n";

/* POST SES_MIN signed by signer_py with @date and @signed headers. */
static void ses_post_signed_by_python(struct resp *r, const char *date, const char *signed_h)
{
    char *py = file("sign.py", signer_py), *body = file("req.json", SES_MIN);
    char *out = NULL;
    cr_assert_eq(tu_run(&out, "'%s' '%s' secret-test '%s' '%s' '127.0.0.1:%d' '%s'",
                        tu_python(), py, date, signed_h, srv.port, body), 0, "%s", out);
    char *nl = strchr(out, '\n');
    cr_assert_not_null(nl);
    *nl = '\0';
    char *amz_date = strndup(nl + 1, strcspn(nl + 1, "\n"));
    curl(r, "-H 'Authorization: %s' -H 'X-Amz-Date: %s' -H 'Content-Type: application/json' "
         "--data-binary @'%s' '%s" SES_PATH "'", out, amz_date, body, base);
    free(amz_date);
    free(out);
    free(py);
    free(body);
}

Test(provider_server, ses_accepts_simple_signed_by_curl)
{
    struct resp r = {0};
    post_json(&r, SES_SIGN, SES_PATH,
        "{\"FromEmailAddress\":\"Bot <bot@example.com>\",\"Destination\":{\"ToAddresses\":"
        "[\"ann@example.com\"],\"CcAddresses\":[\"cc@example.com\"],\"BccAddresses\":"
        "[\"bcc@example.com\"]},\"ReplyToAddresses\":[\"help@example.com\"],"
        "\"Content\":{\"Simple\":{\"Subject\":{\"Data\":\"hi\"},\"Body\":{\"Text\":"
        "{\"Data\":\"hello\"},\"Html\":{\"Data\":\"<b>hello</b>\"}},\"Headers\":[{\"Name\":"
        "\"X-Ticket\",\"Value\":\"42\"}],\"Attachments\":[{\"FileName\":\"a.txt\","
        "\"RawContent\":\"aGVsbG8=\",\"ContentType\":\"text/plain\"}]}},"
        "\"ConfigurationSetName\":\"herald\",\"EmailTags\":[{\"Name\":\"kind\","
        "\"Value\":\"alert_1\"}]}");
    expect_answer(&r, 200, "{\"MessageId\": \"");
    resp_free(&r);
}

Test(provider_server, ses_accepts_independent_signature)
{
    struct resp r = {0};
    ses_post_signed_by_python(&r, "now", "content-type;host;x-amz-date");
    expect_answer(&r, 200, "MessageId");
    resp_free(&r);
}

Test(provider_server, ses_accepts_raw_mime)
{
    struct resp r = {0};
    /* "From: bot@example.com\r\nTo: ann@example.com\r\nSubject: hi\r\n\r\nhello\r\n" */
    post_json(&r, SES_SIGN, SES_PATH, "{\"Content\":{\"Raw\":{\"Data\":\"RnJvbTogYm90QGV4"
              "YW1wbGUuY29tDQpUbzogYW5uQGV4YW1wbGUuY29tDQpTdWJqZWN0OiBoaQ0KDQpoZWxsbw0K\"}}}");
    expect_answer(&r, 200, "MessageId");
    post_json(&r, SES_SIGN, SES_PATH, "{\"Content\":{\"Raw\":{\"Data\":\"not base64!\"}}}");
    expect_aws_error(&r, 400, "SerializationException", "Content.Raw.Data must be base64");
    /* "Subject: hi\r\n\r\nhello\r\n": no From, no recipients */
    post_json(&r, SES_SIGN, SES_PATH, "{\"Content\":{\"Raw\":{\"Data\":"
              "\"U3ViamVjdDogaGkNCg0KaGVsbG8NCg==\"}}}");
    expect_aws_error(&r, 400, "BadRequestException", "no From header");
    resp_free(&r);
}

Test(provider_server, ses_rejects_missing_and_unknown_credentials)
{
    struct resp r = {0};
    post_json(&r, "", SES_PATH, SES_MIN);
    expect_aws_error(&r, 403, "MissingAuthenticationTokenException",
                     "Missing Authentication Token");
    post_json(&r, "--aws-sigv4 aws:amz:us-east-1:ses -u AKIDOTHER:secret-test", SES_PATH,
              SES_MIN);
    expect_aws_error(&r, 403, "UnrecognizedClientException",
                     "The security token included in the request is invalid.");
    post_json(&r, "-H 'Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20240101'",
              SES_PATH, SES_MIN);
    expect_aws_error(&r, 403, "IncompleteSignatureException", "requires 'SignedHeaders'");
    resp_free(&r);
}

Test(provider_server, ses_rejects_malformed_scope_and_date)
{
    struct resp r = {0};
    post_json(&r, "-H 'Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20240101, "
              "SignedHeaders=host, Signature=00'", SES_PATH, SES_MIN);
    expect_aws_error(&r, 403, "IncompleteSignatureException",
                     "Credential must have exactly 5 slash-delimited elements");
    post_json(&r, "-H 'Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20240101/"
              "us-east-1/ses/aws4_request, SignedHeaders=host, Signature=00'", SES_PATH, SES_MIN);
    expect_aws_error(&r, 403, "IncompleteSignatureException", "'X-Amz-Date'");
    post_json(&r, "-H 'X-Amz-Date: 20240102T000000Z' -H 'Authorization: AWS4-HMAC-SHA256 "
              "Credential=AKIDTEST/20240101/us-east-1/ses/aws4_request, SignedHeaders=host, "
              "Signature=00'", SES_PATH, SES_MIN);
    expect_aws_error(&r, 403, "SignatureDoesNotMatch",
                     "Date in Credential scope does not match YYYYMMDD");
    resp_free(&r);
}

Test(provider_server, ses_rejects_wrong_secret_region_service)
{
    struct resp r = {0};
    post_json(&r, "--aws-sigv4 aws:amz:us-east-1:ses -u AKIDTEST:not-the-secret", SES_PATH,
              SES_MIN);
    expect_aws_error(&r, 403, "SignatureDoesNotMatch",
                     "The request signature we calculated does not match");
    post_json(&r, "--aws-sigv4 aws:amz:eu-west-1:ses -u AKIDTEST:secret-test", SES_PATH,
              SES_MIN);
    expect_aws_error(&r, 403, "SignatureDoesNotMatch",
                     "Credential should be scoped to a valid region, not 'eu-west-1'.");
    post_json(&r, "--aws-sigv4 aws:amz:us-east-1:email -u AKIDTEST:secret-test", SES_PATH,
              SES_MIN);
    expect_aws_error(&r, 403, "SignatureDoesNotMatch",
                     "Credential should be scoped to correct service: 'ses'.");
    resp_free(&r);
}

Test(provider_server, ses_rejects_tampered_body)
{
    struct resp r = {0};
    post_json(&r, SES_SIGN, SES_PATH, SES_MIN);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char *log = requests();
    char *auth = json_string(log, "authorization"), *date = json_string(log, "x-amz-date");
    /* The same signature over another body. */
    char *p = file("req.json", "{\"FromEmailAddress\":\"eve@example.com\"}");
    curl(&r, "-H 'Authorization: %s' -H 'X-Amz-Date: %s' -H 'Content-Type: application/json' "
         "--data-binary @'%s' '%s" SES_PATH "'", auth, date, p, base);
    expect_aws_error(&r, 403, "SignatureDoesNotMatch", "does not match");
    /* A signed x-amz-content-sha256 that is not the body's hash. */
    post_json(&r, SES_SIGN " -H 'x-amz-content-sha256: 000000000000000000000000000000000"
              "0000000000000000000000000000000'", SES_PATH, SES_MIN);
    expect_aws_error(&r, 400, "XAmzContentSHA256Mismatch", "does not match what was computed");
    free(p);
    free(auth);
    free(date);
    free(log);
    resp_free(&r);
}

Test(provider_server, ses_rejects_expired_or_hostless_signature)
{
    struct resp r = {0};
    ses_post_signed_by_python(&r, "20200101T000000Z", "content-type;host;x-amz-date");
    expect_aws_error(&r, 403, "InvalidSignatureException", "Signature expired");
    ses_post_signed_by_python(&r, "now", "content-type;x-amz-date");
    expect_aws_error(&r, 403, "SignatureDoesNotMatch", "'Host' or ':authority' must be");
    resp_free(&r);
}

Test(provider_server, ses_rejects_bad_body)
{
    struct resp r = {0};
    post_json(&r, SES_SIGN, SES_PATH, "{\"FromEmailAddress\":\"bot@example.com\"}");
    expect_aws_error(&r, 400, "BadRequestException", "Value null at 'content'");
    post_json(&r, SES_SIGN, SES_PATH, "{\"Content\":{\"Simple\":{},\"Raw\":{}}}");
    expect_aws_error(&r, 400, "BadRequestException", "exactly one of Simple, Raw or Template");
    post_json(&r, SES_SIGN, SES_PATH, "{\"FromEmailAddress\":\"bot@example.com\","
              "\"Content\":{\"Simple\":{\"Subject\":{\"Data\":\"hi\"},\"Body\":{\"Text\":"
              "{\"Data\":\"x\"}}}}}");
    expect_aws_error(&r, 400, "BadRequestException", "at least one address in Destination");
    post_json(&r, SES_SIGN, SES_PATH, "{\"FromEmailAddress\":\"bot@example.com\","
              "\"Destination\":{\"ToAddresses\":[\"ann\"]},\"Content\":{\"Simple\":{"
              "\"Subject\":{\"Data\":\"hi\"},\"Body\":{\"Text\":{\"Data\":\"x\"}}}}}");
    expect_aws_error(&r, 400, "BadRequestException", "Missing final '@domain'");
    post_json(&r, SES_SIGN, SES_PATH, "{\"FromEmailAddress\":\"bot@example.com\","
              "\"Destination\":{\"ToAddresses\":[\"ann@example.com\"]},\"Content\":{\"Simple\""
              ":{\"Subject\":{\"Data\":\"hi\"},\"Body\":{\"Text\":{\"Data\":\"x\"}},"
              "\"Attachments\":[{\"FileName\":\"a\",\"RawContent\":\"!!!!\"}]}}}");
    expect_aws_error(&r, 400, "BadRequestException", "RawContent must be base64");
    resp_free(&r);
}

#define SES_DEST "\"Destination\":{\"ToAddresses\":[\"ann@example.com\"]}"
#define SES_SUBJ "\"Subject\":{\"Data\":\"hi\"}"
#define SES_BODY "\"Body\":{\"Text\":{\"Data\":\"x\"}}"
#define SES_FROM "\"FromEmailAddress\":\"bot@example.com\""

Test(provider_server, ses_rejects_bad_simple_content)
{
    static const struct refusal cases[] = {
        {SES_SIGN, SES_PATH, "{" SES_DEST ",\"Content\":{\"Simple\":{" SES_SUBJ ","
         SES_BODY "}}}", 400, "Missing required parameter FromEmailAddress"},
        {SES_SIGN, SES_PATH, "{" SES_FROM "," SES_DEST ",\"Content\":{\"Simple\":{"
         SES_BODY "}}}", 400, "Value null at 'content.simple.subject'"},
        {SES_SIGN, SES_PATH, "{" SES_FROM "," SES_DEST ",\"Content\":{\"Simple\":{"
         SES_SUBJ ",\"Body\":{}}}}", 400, "Simple.Body must contain Text or Html"},
        {SES_SIGN, SES_PATH, "{" SES_FROM "," SES_DEST ",\"Content\":{\"Simple\":{"
         SES_SUBJ "," SES_BODY ",\"Headers\":[{\"Name\":\"X-A\"}]}}}", 400,
         "Simple.Headers.0 needs Name and Value"},
        {SES_SIGN, SES_PATH, "{" SES_FROM "," SES_DEST ",\"Content\":{\"Simple\":{"
         SES_SUBJ "," SES_BODY ",\"Attachments\":[{\"RawContent\":\"aGVsbG8=\"}]}}}", 400,
         "FileName is required"},
        {SES_SIGN, SES_PATH, "{" SES_FROM "," SES_DEST ",\"Content\":{\"Simple\":{"
         SES_SUBJ "," SES_BODY ",\"Attachments\":[{\"FileName\":\"a\",\"RawContent\":"
         "\"aGVsbG8=\",\"ContentDisposition\":\"SIDEWAYS\"}]}}}", 400,
         "ContentDisposition must be ATTACHMENT or INLINE"},
        {SES_SIGN, SES_PATH, "{" SES_FROM ",\"Destination\":[],\"Content\":{\"Simple\":{"
         SES_SUBJ "," SES_BODY "}}}", 400, "Destination must be an object"},
        {SES_SIGN, SES_PATH, "{" SES_FROM ",\"Destination\":{\"ToAddresses\":\"a@example.com"
         "\"},\"Content\":{\"Simple\":{" SES_SUBJ "," SES_BODY "}}}", 400,
         "Destination.ToAddresses must be a list"},
        {SES_SIGN, SES_PATH, "{" SES_FROM "," SES_DEST ",\"ReplyToAddresses\":[\"nope\"],"
         "\"Content\":{\"Simple\":{" SES_SUBJ "," SES_BODY "}}}", 400,
         "Missing final '@domain' in ReplyToAddresses"},
        {SES_SIGN, SES_PATH, "{" SES_FROM "," SES_DEST ",\"ConfigurationSetName\":\"\","
         "\"Content\":{\"Simple\":{" SES_SUBJ "," SES_BODY "}}}", 400,
         "ConfigurationSetName must not be empty"},
        {SES_SIGN, SES_PATH, "{" SES_FROM "," SES_DEST ",\"Content\":{\"Template\":{}}}",
         400, "Template content is not supported"},
        /* "From: bot@example.com\r\nSubject: hi\r\n\r\nx\r\n": nobody to send to */
        {SES_SIGN, SES_PATH, "{\"Content\":{\"Raw\":{\"Data\":\"RnJvbTogYm90QGV4YW1wbGU"
         "uY29tDQpTdWJqZWN0OiBoaQ0KDQp4DQo=\"}}}", 400, "Raw message has no recipients"},
        {SES_SIGN " -H 'Content-Type: text/plain'", SES_PATH, SES_MIN, 400,
         "Content-Type must be application/json"},
        {SES_SIGN, SES_PATH, "[]", 400, "Request body is not a JSON object"},
    };
    expect_refusals(cases, N_OF(cases));
}

Test(provider_server, ses_rejects_bad_email_tags)
{
    struct resp r = {0};
    const char *bad[] = {"{\"Name\":\"has space\",\"Value\":\"v\"}",
                         "{\"Name\":\"k\",\"Value\":\"caf\\u00e9\"}",
                         "{\"Name\":\"k\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *body = tu_printf("{\"FromEmailAddress\":\"bot@example.com\",\"Destination\":"
                               "{\"ToAddresses\":[\"ann@example.com\"]},\"Content\":{\"Simple\""
                               ":{\"Subject\":{\"Data\":\"hi\"},\"Body\":{\"Text\":{\"Data\":"
                               "\"x\"}}}},\"EmailTags\":[%s]}", bad[i]);
        post_json(&r, SES_SIGN, SES_PATH, body);
        expect_aws_error(&r, 400, "BadRequestException", "can only contain ASCII letters");
        free(body);
    }
    resp_free(&r);
}

Test(provider_server, ses_account_check_is_signed)
{
    struct resp r = {0};
    curl(&r, SES_SIGN " '%s/v2/email/account'", base);
    expect_answer(&r, 200, "\"SendingEnabled\": true");
    curl(&r, "'%s/v2/email/account'", base);
    expect_aws_error(&r, 403, "MissingAuthenticationTokenException", "Missing");
    resp_free(&r);
}

/* ---------------------------------------------------------------- resend */

#define RS_AUTH "-H 'Authorization: Bearer re_test'"
#define RS_MIN "{\"from\":\"Bot <bot@example.com>\",\"to\":\"ann@example.com\"," \
               "\"subject\":\"hi\",\"text\":\"hello\"}"

Test(provider_server, resend_accepts_full_message)
{
    struct resp r = {0};
    post_json(&r, RS_AUTH " -H 'Idempotency-Key: order-1/welcome'", "/emails",
        "{\"from\":\"Bot <bot@example.com>\",\"to\":[\"ann@example.com\",\"bob@example.com\"],"
        "\"cc\":\"cc@example.com\",\"bcc\":[\"bcc@example.com\"],\"reply_to\":"
        "\"help@example.com\",\"subject\":\"hi\",\"text\":\"hello\",\"html\":\"<b>hello</b>\","
        "\"headers\":{\"X-Ticket\":\"42\"},\"attachments\":[{\"filename\":\"a.txt\","
        "\"content\":\"aGVsbG8=\"}],\"tags\":[{\"name\":\"category\",\"value\":"
        "\"confirm_email\"}]}");
    expect_answer(&r, 200, "{\"id\": \"");
    resp_free(&r);
}

Test(provider_server, resend_requires_user_agent_and_key)
{
    struct resp r = {0};
    post_json(&r, RS_AUTH " -H 'User-Agent:'", "/emails", RS_MIN);
    expect_answer(&r, 403, "error code: 1010");
    post_json(&r, "", "/emails", RS_MIN);
    expect_answer(&r, 401, "\"name\": \"missing_api_key\"");
    cr_expect(strstr(r.body, "\"statusCode\": 401"), "%s", r.body);
    post_json(&r, "-H 'Authorization: Bearer re_wrong'", "/emails", RS_MIN);
    expect_answer(&r, 403, "\"name\": \"invalid_api_key\"");
    resp_free(&r);
}

Test(provider_server, resend_rejects_missing_and_bad_fields)
{
    struct resp r = {0};
    post_json(&r, RS_AUTH, "/emails", "{\"from\":\"bot@example.com\",\"to\":\"a@example.com\","
              "\"text\":\"x\"}");
    expect_answer(&r, 422, "\"name\": \"missing_required_field\"");
    cr_expect(strstr(r.body, "Missing `subject` field."), "%s", r.body);
    post_json(&r, RS_AUTH, "/emails", "{\"from\":\"bot@example.com\",\"to\":\"a@example.com\","
              "\"subject\":\"s\"}");
    expect_answer(&r, 422, "Missing `html` or `text` field.");
    post_json(&r, RS_AUTH, "/emails", "{\"from\":\"bot\",\"to\":\"a@example.com\","
              "\"subject\":\"s\",\"text\":\"x\"}");
    expect_answer(&r, 422, "Invalid `from` field.");
    post_json(&r, RS_AUTH, "/emails", "{\"from\":\"bot@example.com\",\"to\":\"a@example.com\","
              "\"subject\":\"s\",\"text\":\"x\",\"attachments\":[{\"filename\":\"a\"}]}");
    expect_answer(&r, 422, "\"name\": \"invalid_attachment\"");
    resp_free(&r);
}

Test(provider_server, resend_rejects_bad_shapes)
{
    char many_to[64 * 51 + 16] = "[";
    for (int i = 0; i < 51; i++)
        sprintf(many_to + strlen(many_to), "%s\"u%d@example.com\"", i ? "," : "", i);
    strcat(many_to, "]");
    char *too_many = tu_printf("{\"from\":\"bot@example.com\",\"to\":%s,\"subject\":\"s\","
                               "\"text\":\"x\"}", many_to);
    char tags[76 * 32] = "";
    for (int i = 0; i < 76; i++)
        strcat(tags, i ? ",{\"name\":\"t\",\"value\":\"v\"}" : "{\"name\":\"t\",\"value\":\"v\"}");
    char *too_many_tags = tu_printf("{\"from\":\"bot@example.com\",\"to\":\"a@example.com\","
                                    "\"subject\":\"s\",\"text\":\"x\",\"tags\":[%s]}", tags);
#define RS_BASE "\"from\":\"bot@example.com\",\"to\":\"a@example.com\",\"subject\":\"s\"," \
                "\"text\":\"x\""
    const struct refusal cases[] = {
        {RS_AUTH " -H 'Content-Type: text/plain'", "/emails", RS_MIN, 400,
         "Invalid `Content-Type` header"},
        {RS_AUTH, "/emails", "{\"from\"", 400, "\"name\": \"validation_error\""},
        {RS_AUTH, "/emails", "{\"to\":\"a@example.com\",\"subject\":\"s\",\"text\":\"x\"}",
         422, "Missing `from` field."},
        {RS_AUTH, "/emails", "{\"from\":\"bot@example.com\",\"subject\":\"s\",\"text\":\"x\"}",
         422, "Missing `to` field."},
        {RS_AUTH, "/emails", "{" RS_BASE ",\"cc\":[\"nobody\"]}", 422, "Invalid `cc` field."},
        {RS_AUTH, "/emails", "{" RS_BASE ",\"bcc\":\"x y\"}", 422, "Invalid `bcc` field."},
        {RS_AUTH, "/emails", "{" RS_BASE ",\"reply_to\":7}", 422, "Invalid `reply_to` field."},
        {RS_AUTH, "/emails", too_many, 422, "Too many recipients in `to`: max 50."},
        {RS_AUTH, "/emails", "{" RS_BASE ",\"headers\":{\"X-N\":7}}", 422,
         "`headers` must be an object of strings."},
        {RS_AUTH, "/emails", "{" RS_BASE ",\"attachments\":[{\"filename\":\"a\","
         "\"content\":\"!!\"}]}", 422, "Attachment `content` must be base64."},
        {RS_AUTH, "/emails", too_many_tags, 422, "at most 75 tags"},
    };
    expect_refusals(cases, N_OF(cases));
    free(too_many);
    free(too_many_tags);
}

Test(provider_server, resend_enforces_tag_characters)
{
    struct resp r = {0};
    const char *bad[] = {"{\"name\":\"has space\",\"value\":\"v\"}",
                         "{\"name\":\"k\",\"value\":\"a.b\"}", "{\"name\":\"k\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *body = tu_printf("{\"from\":\"bot@example.com\",\"to\":\"a@example.com\","
                               "\"subject\":\"s\",\"text\":\"x\",\"tags\":[%s]}", bad[i]);
        post_json(&r, RS_AUTH, "/emails", body);
        expect_answer(&r, 422, "ASCII letters, numbers, underscores, or dashes");
        free(body);
    }
    resp_free(&r);
}

Test(provider_server, resend_idempotency_key)
{
    struct resp r = {0};
    post_json(&r, RS_AUTH " -H 'Idempotency-Key: k-1'", "/emails", RS_MIN);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char *first = json_string(r.body, "id");
    post_json(&r, RS_AUTH " -H 'Idempotency-Key: k-1'", "/emails", RS_MIN);
    cr_assert_eq(r.status, 200, "%s", r.body);
    char *again = json_string(r.body, "id");
    cr_expect_str_eq(first, again, "same key, same body: the same answer");
    post_json(&r, RS_AUTH " -H 'Idempotency-Key: k-1'", "/emails",
              "{\"from\":\"bot@example.com\",\"to\":\"a@example.com\",\"subject\":\"other\","
              "\"text\":\"x\"}");
    expect_answer(&r, 409, "\"name\": \"invalid_idempotent_request\"");
    char key[300];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    char *hdr = tu_printf(RS_AUTH " -H 'Idempotency-Key: %s'", key);
    post_json(&r, hdr, "/emails", RS_MIN);
    expect_answer(&r, 400, "The key must be between 1-256 chars.");
    free(hdr);
    free(first);
    free(again);
    resp_free(&r);
}

Test(provider_server, resend_domains_check)
{
    struct resp r = {0};
    curl(&r, RS_AUTH " '%s/domains'", base);
    expect_answer(&r, 200, "\"status\": \"verified\"");
    curl(&r, "'%s/domains'", base);
    cr_expect_eq(r.status, 401);
    resp_free(&r);
}

/* ---------------------------------------------------------------- postmark */

#define PM_AUTH "-H 'X-Postmark-Server-Token: pm-test' -H 'Accept: application/json'"
#define PM_MIN "{\"From\":\"bot@example.com\",\"To\":\"ann@example.com\"," \
               "\"Subject\":\"hi\",\"TextBody\":\"hello\"}"

/* PM_MIN plus @extra top-level members ("" for none). */
static void pm_post(struct resp *r, const char *extra)
{
    char *body = tu_printf("{\"From\":\"bot@example.com\",\"To\":\"ann@example.com\","
                           "\"Subject\":\"hi\",\"TextBody\":\"hello\"%s}", extra);
    post_json(r, PM_AUTH, "/email", body);
    free(body);
}

Test(provider_server, postmark_accepts_full_message)
{
    struct resp r = {0};
    post_json(&r, PM_AUTH, "/email",
        "{\"From\":\"Bot <bot@example.com>\",\"To\":\"ann@example.com, Bob <bob@example.com>\","
        "\"Cc\":\"cc@example.com\",\"Bcc\":\"bcc@example.com\",\"ReplyTo\":\"help@example.com\","
        "\"Subject\":\"hi\",\"TextBody\":\"hello\",\"HtmlBody\":\"<b>hello</b>\","
        "\"Headers\":[{\"Name\":\"X-Ticket\",\"Value\":\"42\"}],\"Tag\":\"alerts\","
        "\"Metadata\":{\"customer\":\"7\"},\"Attachments\":[{\"Name\":\"a.txt\","
        "\"Content\":\"aGVsbG8=\",\"ContentType\":\"text/plain\"}],"
        "\"MessageStream\":\"outbound\"}");
    expect_answer(&r, 200, "\"ErrorCode\": 0, \"Message\": \"OK\"");
    cr_expect(strstr(r.body, "\"To\": \"ann@example.com, Bob <bob@example.com>\""), "%s", r.body);
    cr_expect(strstr(r.body, "\"MessageID\": \""), "%s", r.body);
    cr_expect(strstr(r.body, "\"SubmittedAt\": \""), "%s", r.body);
    resp_free(&r);
}

Test(provider_server, postmark_rejects_bad_token_and_headers)
{
    struct resp r = {0};
    post_json(&r, "-H 'Accept: application/json'", "/email", PM_MIN);
    expect_answer(&r, 401, "\"ErrorCode\": 10");
    post_json(&r, "-H 'X-Postmark-Server-Token: wrong' -H 'Accept: application/json'",
              "/email", PM_MIN);
    expect_answer(&r, 401, "Server Token you provided");
    post_json(&r, "-H 'X-Postmark-Server-Token: pm-test'", "/email", PM_MIN);
    expect_answer(&r, 415, "\"ErrorCode\": 409");
    post_json(&r, PM_AUTH, "/email", "{\"From\": ");
    expect_answer(&r, 422, "\"ErrorCode\": 402");
    resp_free(&r);
}

Test(provider_server, postmark_rejects_bad_fields)
{
    struct resp r = {0};
    post_json(&r, PM_AUTH, "/email", "{\"From\":\"bot@example.com\",\"To\":[\"a@example.com\"],"
              "\"Subject\":\"hi\",\"TextBody\":\"x\"}");
    expect_answer(&r, 422, "\"ErrorCode\": 403, \"Message\": \"Invalid request field(s): To\"");
    post_json(&r, PM_AUTH, "/email", "{\"From\":\"bot@example.com\",\"To\":\"a@example.com\","
              "\"Subject\":\"hi\"}");
    expect_answer(&r, 422, "Provide either email TextBody or HtmlBody or both.");
    post_json(&r, PM_AUTH, "/email", "{\"From\":\"bot@example.com\",\"Subject\":\"hi\","
              "\"TextBody\":\"x\"}");
    expect_answer(&r, 422, "Zero recipients specified");
    post_json(&r, PM_AUTH, "/email", "{\"From\":\"bot@example.com\",\"To\":\"a@example.com, "
              "nobody\",\"Subject\":\"hi\",\"TextBody\":\"x\"}");
    expect_answer(&r, 422, "Illegal email address 'nobody'");
    pm_post(&r, ",\"Headers\":{\"X-A\":\"b\"}");
    expect_answer(&r, 422, "Invalid request field(s): Headers");
    pm_post(&r, ",\"Attachments\":[{\"Name\":\"a.txt\",\"Content\":\"aGVsbG8=\"}]");
    expect_answer(&r, 422, "ContentType are required");
    resp_free(&r);
}

Test(provider_server, postmark_rejects_bad_shapes)
{
    char many[40 * 51 + 1] = "";
    for (int i = 0; i < 51; i++)
        sprintf(many + strlen(many), "%su%d@example.com", i ? ", " : "", i);
    char *too_many = tu_printf("{\"From\":\"bot@example.com\",\"To\":\"%s\",\"Subject\":"
                               "\"s\",\"TextBody\":\"x\"}", many);
    char *long_tag = tu_printf("{\"From\":\"bot@example.com\",\"To\":\"a@example.com\","
                               "\"Subject\":\"s\",\"TextBody\":\"x\",\"Tag\":\"%01001d\"}", 0);
#define PM_BASE "\"To\":\"a@example.com\",\"Subject\":\"s\",\"TextBody\":\"x\""
    const struct refusal cases[] = {
        {PM_AUTH, "/email", "{" PM_BASE "}", 422, "Invalid 'From' address: ''."},
        {PM_AUTH, "/email", "{\"From\":\"bot\"," PM_BASE "}", 422,
         "Invalid 'From' address: 'bot'."},
        {PM_AUTH, "/email", "{\"From\":\"bot@example.com\"," PM_BASE ",\"Metadata\":[]}",
         422, "Invalid request field(s): Metadata"},
        {PM_AUTH, "/email", "{\"From\":\"bot@example.com\"," PM_BASE ",\"Headers\":"
         "[{\"Value\":\"v\"}]}", 422, "Headers (each needs Name and Value)"},
        {PM_AUTH, "/email", "{\"From\":\"bot@example.com\",\"To\":\"a@example.com\","
         "\"Cc\":\"c@\",\"Subject\":\"s\",\"TextBody\":\"x\"}", 422,
         "Error parsing 'Cc': Illegal email address 'c@'"},
        {PM_AUTH, "/email", too_many, 422, "Too many recipients: the limit is 50"},
        {PM_AUTH, "/email", long_tag, 422, "Tag is too long"},
    };
    expect_refusals(cases, N_OF(cases));
    free(too_many);
    free(long_tag);
}

Test(provider_server, postmark_limits_metadata_and_streams)
{
    struct resp r = {0};
    pm_post(&r, ",\"Metadata\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\",\"e\":\"5\","
            "\"f\":\"6\",\"g\":\"7\",\"h\":\"8\",\"i\":\"9\",\"j\":\"10\",\"k\":\"11\"}");
    expect_answer(&r, 422, "Invalid metadata");
    pm_post(&r, ",\"Metadata\":{\"a_name_longer_than_20\":\"1\"}");
    expect_answer(&r, 422, "Invalid metadata");
    pm_post(&r, ",\"Metadata\":{\"n\":7}");
    expect_answer(&r, 422, "Invalid metadata");
    pm_post(&r, ",\"MessageStream\":\"no-such-stream\"");
    expect_answer(&r, 422, "\"ErrorCode\": 1235");
    pm_post(&r, ",\"MessageStream\":\"broadcast\"");
    cr_expect_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
}

Test(provider_server, postmark_server_check)
{
    struct resp r = {0};
    curl(&r, PM_AUTH " '%s/server'", base);
    expect_answer(&r, 200, "\"Name\": \"herald-test\"");
    curl(&r, "'%s/server'", base);
    expect_answer(&r, 401, "\"ErrorCode\": 10");
    resp_free(&r);
}

/* ---------------------------------------------------------------- mailtrap */

#define MT_AUTH "-H 'Authorization: Bearer mt-test'"

Test(provider_server, mailtrap_accepts_production_send)
{
    struct resp r = {0};
    post_json(&r, MT_AUTH, "/api/send",
        "{\"from\":{\"email\":\"bot@example.com\",\"name\":\"Bot\"},\"to\":[{\"email\":"
        "\"ann@example.com\",\"name\":\"Ann\"}],\"cc\":[{\"email\":\"cc@example.com\"}],"
        "\"bcc\":[{\"email\":\"bcc@example.com\"}],\"reply_to\":{\"email\":\"help@example.com\"},"
        "\"subject\":\"hi\",\"text\":\"hello\",\"html\":\"<b>hello</b>\",\"attachments\":[{"
        "\"content\":\"aGVsbG8=\",\"filename\":\"a.txt\",\"type\":\"text/plain\","
        "\"disposition\":\"attachment\"}],\"category\":\"alerts\",\"custom_variables\":{"
        "\"customer\":\"7\"},\"headers\":{\"X-Ticket\":\"42\"}}");
    expect_answer(&r, 200, "{\"success\": true, \"message_ids\": [\"");
    int ids = 0;
    for (const char *p = r.body; (p = strchr(p, '-')); p += strcspn(p, "\""))
        ids++;
    cr_expect_eq(ids, 3, "one message id per recipient: %s", r.body);
    resp_free(&r);
}

Test(provider_server, mailtrap_sandbox_with_api_token_header)
{
    struct resp r = {0};
    const char *body = "{\"from\":{\"email\":\"bot@example.com\"},\"to\":[{\"email\":"
                       "\"ann@example.com\"}],\"subject\":\"hi\",\"html\":\"<b>x</b>\"}";
    post_json(&r, "-H 'Api-Token: mt-test'", "/api/send/1234", body);
    expect_answer(&r, 200, "\"success\": true");
    post_json(&r, "-H 'Api-Token: mt-test'", "/api/send/999", body);
    expect_answer(&r, 404, "\"success\": false");
    post_json(&r, "-H 'Api-Token: wrong'", "/api/send/1234", body);
    expect_answer(&r, 401, "{\"success\": false, \"errors\": [\"Unauthorized\"]}");
    post_json(&r, "-H 'Authorization: Bearer wrong'", "/api/send", body);
    expect_answer(&r, 401, "Unauthorized");
    resp_free(&r);
}

Test(provider_server, mailtrap_rejects_bad_fields)
{
    struct resp r = {0};
    post_json(&r, MT_AUTH, "/api/send", "{\"from\":\"bot@example.com\",\"to\":[{\"email\":"
              "\"a@example.com\"}],\"subject\":\"s\",\"text\":\"x\"}");
    expect_answer(&r, 400, "'from' address is invalid");
    post_json(&r, MT_AUTH, "/api/send", "{\"to\":[{\"email\":\"a@example.com\"}],"
              "\"subject\":\"s\",\"text\":\"x\"}");
    expect_answer(&r, 400, "'from' is required");
    post_json(&r, MT_AUTH, "/api/send", "{\"from\":{\"email\":\"bot@example.com\"},"
              "\"subject\":\"s\",\"text\":\"x\"}");
    expect_answer(&r, 400, "'to', 'cc' or 'bcc' address is required");
    post_json(&r, MT_AUTH, "/api/send", "{\"from\":{\"email\":\"bot@example.com\"},\"to\":"
              "[\"a@example.com\"],\"subject\":\"s\",\"text\":\"x\"}");
    expect_answer(&r, 400, "'to' address is invalid");
    post_json(&r, MT_AUTH, "/api/send", "{\"from\":{\"email\":\"bot@example.com\"},\"to\":"
              "[{\"email\":\"a@example.com\"}],\"subject\":\"s\"}");
    expect_answer(&r, 400, "must specify either text or html body");
    post_json(&r, MT_AUTH, "/api/send", "{\"from\":{\"email\":\"bot@example.com\"},\"to\":"
              "[{\"email\":\"a@example.com\"}],\"text\":\"x\"}");
    expect_answer(&r, 400, "'subject' is required");
    post_json(&r, MT_AUTH, "/api/send", "{\"from\":{\"email\":\"bot@example.com\"},\"to\":"
              "[{\"email\":\"a@example.com\"}],\"subject\":\"s\",\"text\":\"x\","
              "\"attachments\":[{\"filename\":\"a\",\"content\":\"!!\"}]}");
    expect_answer(&r, 400, "must be base64");
    post_json(&r, MT_AUTH, "/api/send", "{\"from\":{\"email\":\"bot@example.com\"},\"to\":"
              "[{\"email\":\"a@example.com\"}],\"subject\":\"s\",\"text\":\"x\","
              "\"custom_variables\":{\"n\":7}}");
    expect_answer(&r, 400, "'custom_variables' must be an object of strings");
    resp_free(&r);
}

Test(provider_server, mailtrap_rejects_bad_shapes)
{
    char *long_cat = tu_printf("{\"from\":{\"email\":\"bot@example.com\"},\"to\":[{\"email\":"
                               "\"a@example.com\"}],\"subject\":\"s\",\"text\":\"x\","
                               "\"category\":\"%0256d\"}", 0);
#define MT_BASE "\"from\":{\"email\":\"bot@example.com\"},\"to\":[{\"email\":" \
                "\"a@example.com\"}],\"subject\":\"s\",\"text\":\"x\""
    const struct refusal cases[] = {
        {MT_AUTH " -H 'Content-Type: text/plain'", "/api/send", "{" MT_BASE "}", 400,
         "Content-Type must be application/json"},
        {MT_AUTH, "/api/send", "{\"from\":", 400, "Invalid JSON"},
        {MT_AUTH, "/api/send", "{" MT_BASE ",\"reply_to\":{\"email\":\"x\"}}", 400,
         "'reply_to' address is invalid"},
        {MT_AUTH, "/api/send", "{" MT_BASE ",\"cc\":[{\"email\":\"c@example.com\","
         "\"name\":7}]}", 400, "'cc' address is invalid"},
        {MT_AUTH, "/api/send", "{" MT_BASE ",\"attachments\":[{\"content\":\"aGVsbG8=\"}]}",
         400, "'attachments[0].filename' is required"},
        {MT_AUTH, "/api/send", "{" MT_BASE ",\"attachments\":[{\"content\":\"aGVsbG8=\","
         "\"filename\":\"a\",\"disposition\":\"sideways\"}]}", 400,
         "'attachments[0].disposition' must be attachment or inline"},
        {MT_AUTH, "/api/send", long_cat, 400, "'category' is too long"},
        {MT_AUTH, "/api/send", "{" MT_BASE ",\"headers\":{\"X-N\":1}}", 400,
         "'headers' must be an object of strings"},
    };
    expect_refusals(cases, N_OF(cases));
    free(long_cat);
}

Test(provider_server, mailtrap_accounts_check)
{
    struct resp r = {0};
    curl(&r, MT_AUTH " '%s/api/accounts'", base);
    expect_answer(&r, 200, "\"name\": \"herald-test\"");
    curl(&r, "'%s/api/accounts'", base);
    expect_answer(&r, 401, "Incorrect API token");
    resp_free(&r);
}

/* ---------------------------------------------------------------- TLS */

static char *tls_opt_buf;

/* A test CA and a localhost/127.0.0.1 server certificate on P-256 in DIR
 * (ca.pem, server.pem, server.key).  Not tu_make_certs(): its keys use
 * certtool's --sec-param=medium, which is P-224 for ECDSA, and OpenSSL's
 * TLS (Python's ssl module) shares no cipher with such a certificate. */
static int make_p256_certs(const char *dir)
{
    char *ca = tu_write_file(dir, "ca.tmpl", "cn = provider test CA\nca\n"
                             "cert_signing_key\nexpiration_days = 30\n");
    char *srv_t = tu_write_file(dir, "server.tmpl", "cn = localhost\ndns_name = localhost\n"
                                "ip_address = 127.0.0.1\ntls_www_server\n"
                                "expiration_days = 30\n");
    char *out = NULL;
    int rc = tu_run(&out, "cd '%s' && certtool --generate-privkey --key-type=ecdsa "
                    "--curve=secp256r1 --outfile ca.key && certtool --generate-self-signed "
                    "--load-privkey ca.key --template ca.tmpl --outfile ca.pem && "
                    "certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 "
                    "--outfile server.key && certtool --generate-certificate "
                    "--load-privkey server.key --load-ca-certificate ca.pem "
                    "--load-ca-privkey ca.key --template server.tmpl --outfile server.pem",
                    dir);
    if (rc != 0)
        fprintf(stderr, "certtool failed:\n%s\n", out ? out : "");
    free(out);
    free(ca);
    free(srv_t);
    return rc;
}

static void setup_tls(void)
{
    tmp = tu_mkdtemp();
    cr_assert_not_null(tmp);
    cr_assert_eq(make_p256_certs(tmp), 0);
    char *mode = tu_printf("--cert '%s/server.pem' --key '%s/server.key'", tmp, tmp);
    start_server(mode);
    free(mode);
    snprintf(base, sizeof base, "https://127.0.0.1:%d", srv.port);
    tls_opt = tls_opt_buf = tu_printf("--cacert '%s/ca.pem'", tmp);
}

static void teardown_tls(void)
{
    teardown();
    free(tls_opt_buf);
    tls_opt = "";
}

TestSuite(provider_server_tls, .init = setup_tls, .fini = teardown_tls, .timeout = 20);

Test(provider_server_tls, https_with_the_test_ca)
{
    struct resp r = {0};
    post_json(&r, SG_AUTH, "/v3/mail/send", SG_MIN);
    cr_expect_eq(r.status, 202, "curl %d: %s", r.curl_rc, r.body);
    curl(&r, PM_AUTH " '%s/server' '%s/server'", base, base);
    cr_expect_eq(r.status, 200);
    char *log = requests();
    int ids[4];
    cr_assert_eq(conn_ids(log, ids, 4), 3, "%s", log);
    cr_expect_eq(ids[1], ids[2], "keep-alive over TLS");
    free(log);
    resp_free(&r);
}

Test(provider_server_tls, https_refused_without_the_test_ca)
{
    struct resp r = {0};
    tls_opt = "";
    curl(&r, "'%s/server'", base);
    cr_expect_eq(r.curl_rc, 60, "certificate not trusted: curl exit %d", r.curl_rc);
    cr_expect_eq(r.status, 0);
    resp_free(&r);
}
