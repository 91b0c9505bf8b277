/* tests/plugins/kit/http/test_http_doctor.c - `herald doctor` for the HTTP API drivers (the
 * check hook of plugins/kit/http): resolve, connect, tls and auth against the
 * provider test server, each failure named with its fix, and the CLI's
 * --json.  HT_<DRIVER> says which drivers are built. */
#include "config.h"
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_testutil.h"

static struct ht h;

/* ---- what herald_check() reported ---------------------------------- */

struct step {
    char *name, *detail, *fix;
    herald_check_status status;
};

static struct step steps[16];
static size_t n_steps;

static void forget_steps(void)
{
    for (size_t i = 0; i < n_steps; i++) {
        free(steps[i].name);
        free(steps[i].detail);
        free(steps[i].fix);
    }
    n_steps = 0;
}

static void setup(void)
{
    ht_start(&h);
}

static void teardown(void)
{
    forget_steps();
    ht_stop(&h);
}

TestSuite(http_doctor, .init = setup, .fini = teardown, .timeout = 30);

static void collect(const char *channel, const char *step, herald_check_status st,
                    double ms, const char *detail, const char *fix, void *user)
{
    (void)channel;
    (void)user;
    cr_assert_lt(n_steps, sizeof steps / sizeof steps[0]);
    cr_assert(ms >= 0 && ms < 60000, "%s took %f ms", step, ms);
    steps[n_steps++] = (struct step){strdup(step), detail ? strdup(detail) : NULL,
                                     fix ? strdup(fix) : NULL, st};
}

/* Run the check of channel "c"; returns its class. */
static herald_class check(void)
{
    herald_error *err = NULL;
    forget_steps();
    herald_class rc = herald_check(h.ctx, "c", NULL, collect, NULL, &err);
    cr_assert_eq(rc == HERALD_OK, err == NULL, "class %d, error %s", rc,
                 herald_error_message(err));
    herald_error_free(err);
    return rc;
}

static const char *status_name(herald_check_status st)
{
    static const char *const names[] = {"OK", "WARN", "FAIL", "INFO"};
    return (unsigned)st < 4 ? names[st] : "?";
}

/* Every step reported, for assertion messages (static buffer). */
static const char *all_steps(void)
{
    static char buf[4096];
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n_steps && used < sizeof buf; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "\n  %s %s: %s%s%s",
                                 steps[i].name, status_name(steps[i].status),
                                 steps[i].detail ? steps[i].detail : "",
                                 steps[i].fix ? " | fix: " : "",
                                 steps[i].fix ? steps[i].fix : "");
    return buf;
}

/* The steps must be exactly @names (comma-separated) in order, the last
 * with status @last and every other OK; a step not OK must say the fix. */
static void expect_steps(const char *names, herald_check_status last)
{
    char *copy = strdup(names), *save = NULL;
    size_t i = 0;
    for (char *n = strtok_r(copy, ",", &save); n; n = strtok_r(NULL, ",", &save), i++) {
        cr_assert_lt(i, n_steps, "step %s missing:%s", n, all_steps());
        cr_assert_str_eq(steps[i].name, n, "step %zu:%s", i, all_steps());
        herald_check_status want = i + 1 == n_steps ? last : HERALD_CHECK_OK;
        cr_assert_eq(steps[i].status, want, "step %s is %s, want %s:%s", n,
                     status_name(steps[i].status), status_name(want), all_steps());
        if (steps[i].status != HERALD_CHECK_OK)
            cr_assert(steps[i].fix && *steps[i].fix, "%s without a fix:%s", n,
                      all_steps());
    }
    cr_assert_eq(i, n_steps, "more steps than %s:%s", names, all_steps());
    free(copy);
}

static const struct step *step_named(const char *name)
{
    for (size_t i = 0; i < n_steps; i++)
        if (strcmp(steps[i].name, name) == 0)
            return &steps[i];
    cr_assert_fail("no step %s:%s", name, all_steps());
    return NULL;
}

/* The server's record of the check call, which must have passed its rules. */
static void expect_check_call(const char *method, const char *path)
{
    json_t *rec = ht_last(&h);
    const char *verdict = json_string_value(json_object_get(rec, "verdict"));
    cr_assert_str_eq(json_string_value(json_object_get(rec, "method")), method);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "path")), path);
    cr_assert(verdict && (strcmp(verdict, "ok") == 0 || strncmp(verdict, "fault", 5) == 0),
              "the server refused the check call: %s", verdict);
    cr_assert_str_eq(ht_header(rec, "user-agent"), "herald/" PACKAGE_VERSION);
    size_t len = 0;
    free(ht_body(rec, &len));
    cr_assert_eq(len, 0, "the check call sent a body");
    json_decref(rec);
}

/* Open channel "c" without ht_open's base_url/ca_file (printf format). */
static void open_raw(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void open_raw(const char *fmt, ...)
{
    char *conf = NULL;
    va_list ap;
    va_start(ap, fmt);
    cr_assert_geq(vasprintf(&conf, fmt, ap), 0);
    va_end(ap);
    herald_error *err = NULL;
    herald_close(h.ctx);
    h.ctx = NULL;
    cr_assert_eq(herald_open_string(conf, "doctor-test.conf", 0, &h.ctx, &err),
                 HERALD_OK, "open: %s", herald_error_message(err));
    free(conf);
}

static int has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

/* ---- a healthy channel of each driver: every step OK ------------------ */

struct provider {
    const char *driver, *good, *bad, *credential, *method, *path;
};

static const struct provider providers[] = {
    {"mailgun", "api_key = key-test\ndomain = mg.example.com",
     "api_key = key-wrong\ndomain = mg.example.com", "api_key", "GET",
     "/v3/domains/mg.example.com"},
    {"sendgrid", "api_key = SG.test", "api_key = SG.wrong", "api_key", "GET",
     "/v3/scopes"},
    {"ses", "access_key_id = AKIDTEST\nsecret_access_key = secret-test",
     "access_key_id = AKIDTEST\nsecret_access_key = not-the-secret",
     "secret_access_key", "GET", "/v2/email/account"},
    {"resend", "api_key = re_test\nfrom = Bot <bot@example.com>",
     "api_key = re_wrong\nfrom = Bot <bot@example.com>", "api_key", "GET", "/domains"},
    {"postmark", "server_token = pm-test", "server_token = pm-wrong", "server_token",
     "GET", "/server"},
    {"mailtrap", "api_token = mt-test", "api_token = mt-wrong", "api_token", "GET",
     "/api/accounts"},
};

static const struct provider *provider(const char *driver)
{
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++)
        if (strcmp(providers[i].driver, driver) == 0)
            return &providers[i];
    cr_assert_fail("no provider %s", driver);
    return NULL;
}

static void healthy(const char *driver)
{
    const struct provider *p = provider(driver);
    ht_open(&h, driver, "%s", p->good);
    cr_assert_eq(check(), HERALD_OK, "%s", all_steps());
    expect_steps("resolve,connect,tls,auth", HERALD_CHECK_OK);
    cr_assert(has(step_named("resolve")->detail, "127.0.0.1"), "%s", all_steps());
    cr_assert(has(step_named("connect")->detail, "connected"), "%s", all_steps());
    cr_assert(has(step_named("tls")->detail, "verified"), "%s", all_steps());
    expect_check_call(p->method, p->path);
}

static void bad_credential(const char *driver)
{
    const struct provider *p = provider(driver);
    ht_open(&h, driver, "%s", p->bad);
    cr_assert_eq(check(), HERALD_ERR_AUTH, "%s", all_steps());
    expect_steps("resolve,connect,tls,auth", HERALD_CHECK_FAIL);
    const struct step *auth = step_named("auth");
    cr_assert(has(auth->detail, "HTTP 40"), "%s", all_steps());
    cr_assert(has(auth->fix, p->credential), "the fix names %s:%s", p->credential,
              all_steps());
}

#ifdef HT_MAILGUN
Test(http_doctor, mailgun_healthy) { healthy("mailgun"); }
Test(http_doctor, mailgun_bad_key_names_api_key_and_region)
{
    bad_credential("mailgun");
    cr_assert(has(step_named("auth")->fix, "region"), "%s", all_steps());
}

Test(http_doctor, mailgun_unknown_domain)
{
    ht_open(&h, "mailgun", "api_key = key-test\ndomain = mg.nosuch.example");
    cr_assert_eq(check(), HERALD_ERR_CONFIG, "%s", all_steps());
    expect_steps("resolve,connect,tls,auth", HERALD_CHECK_FAIL);
    const struct step *auth = step_named("auth");
    cr_assert(has(auth->detail, "domain not found"), "%s", all_steps());
    cr_assert(has(auth->detail, "mg.nosuch.example"), "%s", all_steps());
    cr_assert(has(auth->fix, "check domain") && has(auth->fix, "region"), "%s",
              all_steps());
}

Test(http_doctor, mailgun_unverified_domain_warns)
{
    ht_open(&h, "mailgun", "api_key = key-test\ndomain = mg.example.com");
    ht_fault(&h, "{\"path_prefix\": \"/v3/domains/\", \"status\": 200, \"body\": "
                 "\"{\\\"domain\\\": {\\\"name\\\": \\\"mg.example.com\\\", "
                 "\\\"state\\\": \\\"unverified\\\"}}\"}");
    cr_assert_eq(check(), HERALD_OK, "a warning is not a failure:%s", all_steps());
    expect_steps("resolve,connect,tls,auth", HERALD_CHECK_WARN);
    cr_assert(has(step_named("auth")->detail, "unverified"), "%s", all_steps());
    cr_assert(has(step_named("auth")->fix, "DNS"), "%s", all_steps());
}
#endif

#ifdef HT_SENDGRID
Test(http_doctor, sendgrid_healthy) { healthy("sendgrid"); }
Test(http_doctor, sendgrid_bad_key) { bad_credential("sendgrid"); }

Test(http_doctor, sendgrid_echoed_key_is_redacted_in_the_steps)
{
    ht_open(&h, "sendgrid", "api_key = SG.test");
    char *f = ht_answer_fault("status", 401, "{\"errors\":[{\"message\":\"bad "
                              "{header:authorization} U0cudGVzdA==\"}]}", NULL, NULL, 0);
    ht_fault(&h, "%s", f);
    free(f);
    cr_assert_eq(check(), HERALD_ERR_AUTH, "%s", all_steps());
    const char *all = all_steps();
    cr_assert(has(all, "***") && !has(all, "SG.test") && !has(all, "U0cudGVzdA"), "%s",
              all);
}

Test(http_doctor, sendgrid_key_without_mail_send)
{
    ht_open(&h, "sendgrid", "api_key = SG.test");
    ht_fault(&h, "{\"path_prefix\": \"/v3/scopes\", \"status\": 200, \"body\": "
                 "\"{\\\"scopes\\\": [\\\"stats.read\\\"]}\"}");
    cr_assert_eq(check(), HERALD_ERR_CONFIG, "%s", all_steps());
    expect_steps("resolve,connect,tls,auth", HERALD_CHECK_FAIL);
    cr_assert(has(step_named("auth")->detail, "Mail Send"), "%s", all_steps());
}
#endif

#ifdef HT_SES
Test(http_doctor, ses_healthy) { healthy("ses"); }
Test(http_doctor, ses_bad_secret) { bad_credential("ses"); }

Test(http_doctor, ses_sandbox_warns)
{
    ht_open(&h, "ses", "%s", provider("ses")->good);
    ht_fault(&h, "{\"path_prefix\": \"/v2/email/account\", \"status\": 200, \"body\": "
                 "\"{\\\"SendingEnabled\\\": true, \\\"ProductionAccessEnabled\\\": "
                 "false}\"}");
    cr_assert_eq(check(), HERALD_OK, "%s", all_steps());
    expect_steps("resolve,connect,tls,auth", HERALD_CHECK_WARN);
    cr_assert(has(step_named("auth")->detail, "sandbox"), "%s", all_steps());
}
#endif

#ifdef HT_RESEND
Test(http_doctor, resend_healthy)
{
    healthy("resend");
    cr_assert(has(step_named("auth")->detail, "example.com verified"), "%s", all_steps());
}

Test(http_doctor, resend_bad_key) { bad_credential("resend"); }

Test(http_doctor, resend_unverified_sender_domain)
{
    ht_open(&h, "resend", "api_key = re_test\nfrom = Bot <bot@example.com>");
    ht_fault(&h, "{\"path_prefix\": \"/domains\", \"status\": 200, \"body\": "
                 "\"{\\\"data\\\": [{\\\"name\\\": \\\"example.com\\\", "
                 "\\\"status\\\": \\\"pending\\\"}]}\"}");
    cr_assert_eq(check(), HERALD_ERR_CONFIG, "%s", all_steps());
    expect_steps("resolve,connect,tls,auth", HERALD_CHECK_FAIL);
    const struct step *auth = step_named("auth");
    cr_assert(has(auth->detail, "example.com is pending"), "%s", all_steps());
    cr_assert(has(auth->fix, "verifying example.com"), "%s", all_steps());
}

Test(http_doctor, resend_sender_domain_not_in_the_account)
{
    ht_open(&h, "resend", "api_key = re_test\nfrom = bot@other.example");
    cr_assert_eq(check(), HERALD_ERR_CONFIG, "%s", all_steps());
    cr_assert(has(step_named("auth")->detail, "other.example is not among"), "%s",
              all_steps());
}
#endif

#ifdef HT_POSTMARK
Test(http_doctor, postmark_healthy) { healthy("postmark"); }
Test(http_doctor, postmark_bad_token) { bad_credential("postmark"); }

/* After a check, sends still work on the same instance. */
Test(http_doctor, postmark_sends_after_a_check)
{
    healthy("postmark");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    json_t *rec = ht_last(&h);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "path")), "/email");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "verdict")), "ok");
    json_decref(rec);
    herald_msg_free(m);
}
#endif

#ifdef HT_MAILTRAP
Test(http_doctor, mailtrap_healthy) { healthy("mailtrap"); }
Test(http_doctor, mailtrap_bad_token) { bad_credential("mailtrap"); }
#endif

/* ---- transport failures, each at its step ----------------------------- */

#ifdef HT_SENDGRID
/* A certificate that no configured CA vouches for (a self-signed one, and
 * the system's CAs since no ca_file is set): tls FAIL with the reason. */
Test(http_doctor, untrusted_certificate_fails_tls)
{
    struct tu_server self = {0};
    cr_assert_eq(tu_server_start(&self, "exec %s '%s/tests/support/servers/providers.py' "
                                 "--cert '%s/selfsigned.pem' --key '%s/selfsigned.key'",
                                 tu_python(), tu_srcdir(), h.certs, h.certs), 0);
    open_raw("[channel c]\ndriver = sendgrid\napi_key = SG.test\ntimeout = 5s\n"
             "base_url = https://127.0.0.1:%d\n", self.port);
    herald_class rc = check();
    tu_server_stop(&self);
    cr_assert_eq(rc, HERALD_ERR_TLS, "%s", all_steps());
    expect_steps("resolve,connect,tls", HERALD_CHECK_FAIL);
    const struct step *tls = step_named("tls");
    cr_assert(has(tls->detail, "handshake with 127.0.0.1 failed: ") &&
              strlen(strstr(tls->detail, "failed: ")) > 12, "no reason:%s", all_steps());
    cr_assert(has(tls->fix, "ca_file") && has(tls->fix, "proxy") &&
              has(tls->fix, "tls_verify"), "%s", all_steps());
}

Test(http_doctor, tls_verify_off_warns)
{
    ht_open(&h, "sendgrid", "api_key = SG.test\ntls_verify = no");
    cr_assert_eq(check(), HERALD_OK, "%s", all_steps());
    const struct step *tls = step_named("tls");
    cr_assert_eq(tls->status, HERALD_CHECK_WARN, "%s", all_steps());
    cr_assert(has(tls->detail, "NOT verified"), "%s", all_steps());
    cr_assert_eq(step_named("auth")->status, HERALD_CHECK_OK, "%s", all_steps());
}

/* A port nothing listens on: connect FAIL, told as refused. */
Test(http_doctor, refused_port_fails_connect)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
              getsockname(s, (struct sockaddr *)&a, &len) == 0);
    close(s);   /* bound, never listened: the port refuses */
    open_raw("[channel c]\ndriver = sendgrid\napi_key = SG.test\ntimeout = 5s\n"
             "base_url = https://127.0.0.1:%d\n", ntohs(a.sin_port));
    cr_assert_eq(check(), HERALD_ERR_CONNECT, "%s", all_steps());
    expect_steps("resolve,connect", HERALD_CHECK_FAIL);
    const struct step *c = step_named("connect");
    cr_assert(has(c->detail, "refused"), "%s", all_steps());
    cr_assert(!has(c->detail, "filtered"), "%s", all_steps());
}

/* A port that never answers: a listener with a full accept backlog, so
 * the kernel drops further SYNs, like a firewall's DROP rule.  Fills it
 * with connections held in @held; returns the port. */
static int filtered_port(int *listen_fd, int held[8])
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              listen(fd, 0) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    *listen_fd = fd;
    for (int i = 0; i < 8; i++) {
        held[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        cr_assert(held[i] >= 0);
        if (connect(held[i], (struct sockaddr *)&a, sizeof a) == 0)
            continue;
        struct pollfd p = {held[i], POLLOUT, 0};
        if (poll(&p, 1, 200) == 0)
            return ntohs(a.sin_port);   /* this one hangs: the backlog is full */
    }
    cr_assert_fail("the backlog of a listen(fd, 0) socket never filled");
    return -1;
}

Test(http_doctor, filtered_port_fails_connect_as_filtered)
{
    int fd, held[8];
    memset(held, -1, sizeof held);
    int port = filtered_port(&fd, held);
    open_raw("[channel c]\ndriver = sendgrid\napi_key = SG.test\ntimeout = 1s\n"
             "base_url = https://127.0.0.1:%d\n", port);
    herald_class rc = check();
    for (int i = 0; i < 8; i++)
        if (held[i] >= 0)
            close(held[i]);
    close(fd);
    cr_assert_eq(rc, HERALD_ERR_TIMEOUT, "%s", all_steps());
    expect_steps("resolve,connect", HERALD_CHECK_FAIL);
    const struct step *c = step_named("connect");
    cr_assert(has(c->detail, "filtered") && !has(c->detail, "refused"), "%s", all_steps());
    cr_assert(has(c->fix, "proxy"), "%s", all_steps());
}

/* A name that cannot resolve (RFC 6761 .invalid): resolve FAIL. */
Test(http_doctor, unresolvable_host_fails_resolve)
{
    open_raw("[channel c]\ndriver = sendgrid\napi_key = SG.test\ntimeout = 5s\n"
             "base_url = https://herald-doctor-test.invalid\n");
    cr_assert_eq(check(), HERALD_ERR_HOST_NOT_FOUND, "%s", all_steps());
    expect_steps("resolve", HERALD_CHECK_FAIL);
    const struct step *r = step_named("resolve");
    cr_assert(has(r->detail, "cannot resolve herald-doctor-test.invalid"), "%s",
              all_steps());
    cr_assert(has(r->fix, "base_url") && has(r->fix, "DNS"), "%s", all_steps());
}

/* A host name (not an address) is resolved and its addresses listed. */
Test(http_doctor, resolve_lists_the_addresses)
{
    open_raw("[channel c]\ndriver = sendgrid\napi_key = SG.test\ntimeout = 5s\n"
             "base_url = https://localhost:%d\nca_file = %s\n", h.srv.port, h.ca);
    cr_assert_eq(check(), HERALD_OK, "%s", all_steps());
    expect_steps("resolve,connect,tls,auth", HERALD_CHECK_OK);
    cr_assert(has(step_named("resolve")->detail, "localhost has address"), "%s",
              all_steps());
    cr_assert(has(step_named("resolve")->detail, "127.0.0.1"), "%s", all_steps());
}

/* ---- the CLI: `herald doctor --json` ---------------------------------- */

Test(http_doctor, cli_json_has_one_object_per_step)
{
    char *conf = tu_printf("[channel good]\ndriver = sendgrid\napi_key = SG.test\n"
                           "base_url = %s\nca_file = %s\ntimeout = 5s\n\n"
                           "[channel bad]\ndriver = sendgrid\napi_key = SG.wrong\n"
                           "base_url = %s\nca_file = %s\ntimeout = 5s\n",
                           h.base, h.ca, h.base, h.ca);
    char *path = tu_write_file(h.certs, "doctor.conf", conf);
    char *json = tu_printf("%s/doctor.json", h.certs);
    char *out = NULL;
    int rc = tu_run(&out, "'%s' -c '%s' doctor --json > '%s'", tu_cli(), path, json);
    cr_assert_eq(rc, 69, "exit %d (the bad channel is not healthy): %s", rc, out);
    free(out);
    out = NULL;
    static const char py[] =
        "import json, sys\n"
        "d = json.load(open(sys.argv[1]))\n"
        "assert isinstance(d, list), d\n"
        "keys = {'channel', 'step', 'status', 'elapsed_ms', 'detail', 'fix'}\n"
        "assert all(isinstance(o, dict) and set(o) == keys for o in d), d\n"
        "steps = [(o['channel'], o['step'], o['status']) for o in d]\n"
        "want = [(c, s, 'ok') for c in ('good', 'bad')\n"
        "        for s in ('resolve', 'connect', 'tls', 'auth')]\n"
        "want[-1] = ('bad', 'auth', 'fail')\n"
        "assert steps == want, steps\n"
        "assert 'api_key' in d[-1]['fix'], d[-1]\n"
        "assert all(o['elapsed_ms'] >= 0 for o in d), d\n"
        "print('ok')\n";
    char *script = tu_write_file(h.certs, "check.py", py);
    rc = tu_run(&out, "'%s' '%s' '%s'", tu_python(), script, json);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(has(out, "ok"), "%s", out);
    free(out);
    free(script);
    free(json);
    free(path);
    free(conf);
}
#endif
