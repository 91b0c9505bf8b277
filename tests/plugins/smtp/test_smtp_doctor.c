/* tests/plugins/smtp/test_smtp_doctor.c - the smtp driver's check hook (`herald doctor`)
 * against real servers on 127.0.0.1: a filtered port (a listener whose
 * accept backlog is full, so the kernel drops further SYNs) with and
 * without probe_host, a refused port, an unresolvable host, the wrong TLS
 * mode both ways, STARTTLS missing, bad credentials, expired, wrong-host,
 * self-signed and soon-expiring certificates, a rejected sender, and a
 * healthy aiosmtpd (tests/support/servers/smtpd.py); the CLI's --json output.
 *
 * Each test diagnoses channel "mail" with herald_check() and keeps every
 * reported step (name, status, elapsed time, detail, fix) to assert on. */
#include "config.h"
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <herald/herald.h>
#include "testutil.h"

static char *tmp, *certs, *msgs;
static struct tu_server srv;
static herald_ctx *ctx;

/* A filtered port: a listener with a full accept backlog, and the
 * connections that fill it.  Also a listener standing in for probe_host. */
static int backlog_fd = -1, probe_fd = -1;
static int held[8], n_held;

/* The steps of the last check. */
struct step {
    char *name, *detail, *fix;
    herald_check_status status;
    double ms;
};
static struct step steps[32];
static int n_steps;

static void clear_steps(void)
{
    for (int i = 0; i < n_steps; i++) {
        free(steps[i].name);
        free(steps[i].detail);
        free(steps[i].fix);
    }
    n_steps = 0;
}

static void setup(void)
{
    tmp = tu_mkdtemp();
    cr_assert(tmp);
    certs = tu_printf("%s/certs", tmp);
    msgs = tu_printf("%s/msgs", tmp);
    cr_assert_eq(mkdir(msgs, 0700), 0);
}

static void teardown(void)
{
    clear_steps();
    herald_close(ctx);
    ctx = NULL;
    tu_server_stop(&srv);
    for (int i = 0; i < n_held; i++)
        close(held[i]);
    n_held = 0;
    if (backlog_fd >= 0)
        close(backlog_fd);
    if (probe_fd >= 0)
        close(probe_fd);
    backlog_fd = probe_fd = -1;
    tu_rmrf(tmp);
    free(tmp);
    free(certs);
    free(msgs);
}

TestSuite(smtp_doctor, .init = setup, .fini = teardown, .timeout = 20);

/* ---- helpers ------------------------------------------------------------ */

static const char *const status_name[] = {"OK", "WARN", "FAIL", "INFO"};

static void collect(const char *channel, const char *step,
                    herald_check_status status, double ms, const char *detail,
                    const char *fix, void *user)
{
    (void)channel, (void)user;
    cr_assert_lt(n_steps, 32, "too many steps");
    struct step *s = &steps[n_steps++];
    s->name = strdup(step);
    s->detail = strdup(detail ? detail : "");
    s->fix = fix ? strdup(fix) : NULL;
    s->status = status;
    s->ms = ms;
}

/* Every step as text, for assertion messages (static buffer). */
static const char *dump(void)
{
    static char buf[16384];
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < n_steps && o < sizeof buf - 1; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "\n  %s %s %.0fms: %s%s%s",
                              steps[i].name, status_name[steps[i].status],
                              steps[i].ms, steps[i].detail,
                              steps[i].fix ? " | fix: " : "",
                              steps[i].fix ? steps[i].fix : "");
    return buf;
}

static const struct step *find(const char *name)
{
    for (int i = 0; i < n_steps; i++)
        if (strcmp(steps[i].name, name) == 0)
            return &steps[i];
    return NULL;
}

/* The step @name, which must have been reported with @status. */
static const struct step *expect_step(const char *name, herald_check_status status)
{
    const struct step *s = find(name);
    cr_assert_not_null(s, "no step '%s':%s", name, dump());
    cr_assert_eq(s->status, status, "step '%s' is %s, expected %s:%s", name,
                 status_name[s->status], status_name[status], dump());
    return s;
}

/* No step mentions @text, in its detail or its fix. */
static void never_says(const char *text)
{
    for (int i = 0; i < n_steps; i++) {
        cr_assert_null(strstr(steps[i].detail, text), "'%s' in %s:%s", text,
                       steps[i].name, dump());
        cr_assert(!steps[i].fix || !strstr(steps[i].fix, text), "'%s' in the "
                  "fix of %s:%s", text, steps[i].name, dump());
    }
}

static int under_valgrind(void)
{
    const char *v = getenv("HERALD_TEST_VALGRIND");
    return v && *v && strcmp(v, "0") != 0;
}

/* A step that had to wait out @timeout_ms (its configured timeout) took
 * @ms: not less, and not unreasonably more (a loose bound, for two busy
 * cores; none under valgrind). */
static void assert_waited(const char *what, double ms, double timeout_ms)
{
    cr_assert(ms >= timeout_ms * 0.95, "%s: %.0f ms, before its %.0f ms timeout",
              what, ms, timeout_ms);
    cr_assert(under_valgrind() || ms < timeout_ms * 5 + 5000,
              "%s: %.0f ms for a %.0f ms timeout", what, ms, timeout_ms);
}

static char *vfmt(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    return s;
}

/* Start smtpd.py with extra arguments. */
static void start_server(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void start_server(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *extra = vfmt(fmt, ap);
    va_end(ap);
    int rc = tu_server_start(&srv, "exec %s %s/tests/support/servers/smtpd.py --dir %s "
                             "--certs %s %s", tu_python(), tu_srcdir(), msgs,
                             certs, extra);
    free(extra);
    cr_assert_eq(rc, 0, "smtpd.py did not start");
}

/* Start tests/support/servers/hostile_smtp.py in @mode (no TLS, no capture). */
static void start_hostile(const char *mode)
{
    int rc = tu_server_start(&srv, "exec %s %s/tests/support/servers/hostile_smtp.py "
                             "--mode %s", tu_python(), tu_srcdir(), mode);
    cr_assert_eq(rc, 0, "hostile_smtp.py did not start");
}

/* 1 when the config lines @text set @key. */
static int sets(const char *text, const char *key)
{
    size_t n = strlen(key);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
        if (strncmp(l, key, n) == 0 && (l[n] == ' ' || l[n] == '='))
            return 1;
    return 0;
}

/* The text of a config with channel "mail" (host 127.0.0.1, the server's
 * port, short timeouts) plus @extra lines, which may override any key. */
static char *conf_text(const char *extra)
{
    char *port = tu_printf("port = %d\n", srv.port ? srv.port : 1);
    char *conf = tu_printf("[channel mail]\ndriver = smtp\n%s%s"
                           "from = Bot <bot@example.com>\n%s%s"
                           "command_timeout = 5s\n%s",
                           sets(extra, "host") ? "" : "host = 127.0.0.1\n",
                           sets(extra, "port") ? "" : port,
                           sets(extra, "connect_timeout") ? "" : "connect_timeout = 1s\n",
                           sets(extra, "greeting_timeout") ? "" : "greeting_timeout = 5s\n",
                           extra);
    free(port);
    return conf;
}

static void open_channel(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void open_channel(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *extra = vfmt(fmt, ap);
    va_end(ap);
    char *conf = conf_text(extra);
    herald_error *err = NULL;
    herald_close(ctx);
    ctx = NULL;
    herald_class rc = herald_open_string(conf, "t.conf", 0, &ctx, &err);
    cr_assert_eq(rc, HERALD_OK, "open: %s", herald_error_message(err));
    free(conf);
    free(extra);
}

/* Diagnose "mail" (send_test = @send_test unless NULL); the steps land in
 * steps[].  Returns the class; the error's message must name its cause. */
static herald_class check(const char *send_test, herald_error **err_r)
{
    const char *params[] = {"send_test", send_test, NULL};
    clear_steps();
    herald_error *err = NULL;
    herald_class rc = herald_check(ctx, "mail", send_test ? params : NULL,
                                   collect, NULL, &err);
    cr_assert_eq(rc == HERALD_OK, err == NULL, "class %d, error %s", rc,
                 herald_error_message(err));
    if (err_r)
        *err_r = err;
    else
        herald_error_free(err);
    return rc;
}

static void make_certs(void)
{
    cr_assert_eq(mkdir(certs, 0700), 0);
    cr_assert_eq(tu_make_certs(certs), 0);
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    return a;
}

/* A listener on 127.0.0.1 with @backlog; its port in *port_r. */
static int listener(int backlog, int *port_r)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a = loopback(0);
    socklen_t len = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(fd, backlog), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port_r = ntohs(a.sin_port);
    return fd;
}

/* A filtered port: listen(fd, 0), never accept, and connect to it until a
 * connection does not complete; from then on the kernel drops SYNs to it,
 * so a connect gets no answer at all, like a port behind a DROP rule. */
static int filtered_port(int *fd_r)
{
    int port;
    *fd_r = listener(0, &port);
    struct sockaddr_in a = loopback(port);
    for (int i = 0; i < 8; i++) {
        int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        cr_assert(c >= 0);
        int r = connect(c, (struct sockaddr *)&a, sizeof a);
        cr_assert(r == 0 || errno == EINPROGRESS, "%s", strerror(errno));
        struct pollfd p = {c, POLLOUT, 0};
        int e = 0;
        socklen_t len = sizeof e;
        if (poll(&p, 1, 200) == 1 &&
            getsockopt(c, SOL_SOCKET, SO_ERROR, &e, &len) == 0 && e == 0) {
            cr_assert_lt(n_held, 8);
            held[n_held++] = c;
            continue;
        }
        close(c); /* this one hung: the backlog is full */
        cr_assert_gt(n_held, 0, "not even one connection completed");
        return port;
    }
    cr_assert_fail("the backlog of a listen(fd, 0) socket never filled");
    return -1;
}

/* A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
static int closed_port(void)
{
    int port;
    int fd = listener(1, &port);
    close(fd);
    return port;
}

/* 1 when listener @fd has a connection waiting (the probe reached it). */
static int was_reached(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
}

/* ---- healthy servers ---------------------------------------------------- */

Test(smtp_doctor, healthy_starttls_server_every_step_ok)
{
    make_certs();
    start_server("--mode starttls --auth bob:s3cret");
    open_channel("tls = starttls\nca_file = %s/ca.pem\nusername = bob\n"
                 "password = s3cret\n", certs);
    herald_error *err = NULL;
    cr_assert_eq(check("ops@example.com", &err), HERALD_OK, "%s:%s",
                 herald_error_message(err), dump());
    static const char *const want[] = {"resolve", "connect", "greeting", "ehlo",
                                       "starttls", "certificate",
                                       "ehlo after tls", "auth", "sender",
                                       "recipient", "quit"};
    cr_assert_eq(n_steps, (int)(sizeof want / sizeof want[0]), "%s", dump());
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_assert_str_eq(steps[i].name, want[i], "%s", dump());
        cr_assert_eq(steps[i].status, HERALD_CHECK_OK, "%s", dump());
        cr_assert(steps[i].ms >= 0, "%s", dump()); /* order and status, not speed */
        cr_assert_null(steps[i].fix, "%s", dump());
    }
    never_says("blocked");
    never_says("s3cret");
    cr_assert(strstr(find("resolve")->detail, "127.0.0.1 (A)"), "%s", dump());
    cr_assert(strstr(find("greeting")->detail, "220 "), "%s", dump());
    cr_assert(strstr(find("ehlo")->detail, "STARTTLS"), "%s", dump());
    cr_assert(strstr(find("ehlo")->detail, "SIZE 10485760"), "%s", dump());
    /* AUTH is offered only after TLS, and the check says so */
    cr_assert_null(strstr(find("ehlo")->detail, "AUTH"), "%s", dump());
    cr_assert(strstr(find("ehlo after tls")->detail, "AUTH PLAIN LOGIN"), "%s", dump());
    cr_assert(strstr(find("certificate")->detail, "valid for 127.0.0.1 until "),
              "%s", dump());
    cr_assert(strstr(find("auth")->detail, "authenticated as bob with AUTH PLAIN"),
              "%s", dump());
    cr_assert(strstr(find("sender")->detail, "MAIL FROM:<bot@example.com> "
                                             "accepted: 250"), "%s", dump());
    cr_assert_eq(tu_count_files(msgs), 0, "the check delivered something");
}

Test(smtp_doctor, healthy_implicit_tls_server_every_step_ok)
{
    make_certs();
    start_server("--mode implicit --auth bob:s3cret");
    open_channel("tls = implicit\nca_file = %s/ca.pem\nusername = bob\n"
                 "password = s3cret\n", certs);
    cr_assert_eq(check(NULL, NULL), HERALD_OK, "%s", dump());
    static const char *const want[] = {"resolve", "connect", "tls", "certificate",
                                       "greeting", "ehlo", "auth", "quit"};
    cr_assert_eq(n_steps, (int)(sizeof want / sizeof want[0]), "%s", dump());
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_assert_str_eq(steps[i].name, want[i], "%s", dump());
        cr_assert_eq(steps[i].status, HERALD_CHECK_OK, "%s", dump());
    }
    char *speaks = tu_printf("port %d speaks implicit TLS, as tls = implicit "
                             "expects", srv.port);
    cr_assert(strstr(find("tls")->detail, speaks), "%s", dump());
    free(speaks);
    never_says("blocked");
}

/* ---- reaching the server ------------------------------------------------ */

Test(smtp_doctor, filtered_port_without_probe_host_is_inconclusive)
{
    int port = filtered_port(&backlog_fd);
    open_channel("port = %d\ntls = starttls\n", port);
    herald_error *err = NULL;
    cr_assert_eq(check(NULL, &err), HERALD_ERR_TIMEOUT, "%s", dump());
    const struct step *c = expect_step("connect", HERALD_CHECK_FAIL);
    cr_assert(strncmp(c->detail, "filtered: no answer from 127.0.0.1 port ", 40) == 0,
              "%s", dump());
    /* the real time spent: connect_timeout = 1s */
    assert_waited("connect", c->ms, 1000);
    const struct step *p = expect_step("port probe", HERALD_CHECK_WARN);
    cr_assert(strncmp(p->detail, "inconclusive: ", 14) == 0, "%s", dump());
    cr_assert(strstr(p->detail, "port 25 ") && strstr(p->detail, "465 ") &&
              strstr(p->detail, "587 "), "the SMTP ports were tried:%s", dump());
    cr_assert(p->fix && strstr(p->fix, "set probe_host"), "%s", dump());
    /* the probes share one connect_timeout */
    cr_assert(under_valgrind() || p->ms < 1000 * 5 + 5000, "%s", dump());
    never_says("refused: ");
    never_says("outbound SMTP is blocked");
    cr_assert_null(find("greeting"), "nothing after a failed connect:%s", dump());
    cr_assert(strstr(herald_error_message(err), "filtered"), "%s",
              herald_error_message(err));
    herald_error_free(err);
}

Test(smtp_doctor, filtered_port_with_a_reachable_probe_host_is_blocked_smtp)
{
    int port = filtered_port(&backlog_fd);
    int pport;
    probe_fd = listener(16, &pport);
    open_channel("port = %d\nprobe_host = 127.0.0.1:%d\n", port, pport);
    cr_assert_eq(check(NULL, NULL), HERALD_ERR_TIMEOUT, "%s", dump());
    const struct step *c = expect_step("connect", HERALD_CHECK_FAIL);
    cr_assert(strstr(c->detail, "filtered"), "%s", dump());
    assert_waited("connect", c->ms, 1000);
    const struct step *p = expect_step("port probe", HERALD_CHECK_FAIL);
    cr_assert(strncmp(p->detail, "outbound SMTP is blocked from this machine "
                      "(typical of GCP, AWS, Azure, DigitalOcean): ", 87) == 0,
              "%s", dump());
    char *reached = tu_printf("probe_host 127.0.0.1:%d connected in ", pport);
    cr_assert(strstr(p->detail, reached), "%s", dump());
    free(reached);
    cr_assert(p->fix && strstr(p->fix, "use an HTTP API driver (mailgun, "
                               "sendgrid, ses, resend, postmark) or ask the "
                               "provider to lift the block"), "%s", dump());
    cr_assert(was_reached(probe_fd), "probe_host was never connected to");
    never_says("refused: ");
    never_says("inconclusive");
}

Test(smtp_doctor, filtered_port_and_filtered_probe_host_is_not_blocked_smtp)
{
    int port = filtered_port(&backlog_fd);
    /* a second full backlog for the probe host: everything is silent */
    int saved[8], n_saved = n_held;
    memcpy(saved, held, sizeof saved);
    n_held = 0;
    int pport = filtered_port(&probe_fd);
    for (int i = 0; i < n_saved && n_held < 8; i++)
        held[n_held++] = saved[i];
    open_channel("port = %d\nprobe_host = 127.0.0.1:%d\n", port, pport);
    cr_assert_eq(check(NULL, NULL), HERALD_ERR_TIMEOUT, "%s", dump());
    const struct step *p = expect_step("port probe", HERALD_CHECK_FAIL);
    cr_assert(strstr(p->detail, "outbound network looks down"), "%s", dump());
    cr_assert(strstr(p->detail, "no answer"), "%s", dump());
    /* the probes share one connect_timeout */
    assert_waited("port probe", p->ms, 1000);
    never_says("blocked");
}

Test(smtp_doctor, filtered_port_and_refusing_probe_host_is_inconclusive)
{
    int port = filtered_port(&backlog_fd);
    open_channel("port = %d\nprobe_host = 127.0.0.1:%d\n", port, closed_port());
    cr_assert_eq(check(NULL, NULL), HERALD_ERR_TIMEOUT, "%s", dump());
    const struct step *p = expect_step("port probe", HERALD_CHECK_WARN);
    cr_assert(strncmp(p->detail, "inconclusive: ", 14) == 0, "%s", dump());
    cr_assert(strstr(p->detail, "probe_host refused"), "%s", dump());
    never_says("outbound SMTP is blocked");
}

Test(smtp_doctor, refused_port_says_refused_and_never_blocked)
{
    int port = closed_port();
    open_channel("port = %d\nconnect_timeout = 10s\n", port);
    herald_error *err = NULL;
    cr_assert_eq(check(NULL, &err), HERALD_ERR_CONNECT, "%s", dump());
    const struct step *c = expect_step("connect", HERALD_CHECK_FAIL);
    char *want = tu_printf("refused: 127.0.0.1 answered port %d with a reset", port);
    cr_assert(strstr(c->detail, want), "%s", dump());
    free(want);
    cr_assert(c->fix && strstr(c->fix, "check host and port"), "%s", dump());
    /* a refusal does not wait out connect_timeout (10s) */
    cr_assert(c->ms < 5000, "a refusal took %.0f ms", c->ms);
    cr_assert_null(find("port probe"), "no probe for a refused port:%s", dump());
    cr_assert_eq(n_steps, 2, "%s", dump());
    never_says("blocked");
    never_says("filtered");
    herald_error_free(err);
}

Test(smtp_doctor, unresolvable_host_fails_at_resolve)
{
    open_channel("host = nonexistent.invalid\n");
    herald_error *err = NULL;
    herald_class rc = check(NULL, &err);
    cr_assert(rc == HERALD_ERR_HOST_NOT_FOUND || rc == HERALD_ERR_TEMPORARY,
              "%d:%s", rc, dump());
    cr_assert_eq(n_steps, 1, "nothing after DNS:%s", dump());
    const struct step *r = expect_step("resolve", HERALD_CHECK_FAIL);
    cr_assert(strstr(r->detail, "nonexistent.invalid"), "%s", dump());
    cr_assert(r->fix && strstr(r->fix, "DNS"), "%s", dump());
    cr_assert(strstr(herald_error_message(err), "nonexistent.invalid"), "%s",
              herald_error_message(err));
    never_says("blocked");
    herald_error_free(err);
}

Test(smtp_doctor, probe_host_is_validated_when_the_channel_opens)
{
    static const char *const bad[] = {"127.0.0.1:99999", "host:", "[::1",
                                      "a b", "[::1]x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *conf = conf_text("");
        char *more = tu_printf("%sprobe_host = %s\n", conf, bad[i]);
        herald_error *err = NULL;
        herald_ctx *c = NULL;
        herald_class rc = herald_open_string(more, "t.conf", HERALD_OPEN_INIT_ALL, &c, &err);
        if (rc == HERALD_OK) { /* a broken channel is reported by name */
            cr_assert_eq(herald_channel_count(c), 1);
            const herald_error *e = herald_channel_error(c, 0);
            cr_assert_not_null(e, "probe_host = %s accepted", bad[i]);
            cr_assert(strstr(herald_error_message(e), "probe_host"), "%s",
                      herald_error_message(e));
        } else {
            cr_assert(strstr(herald_error_message(err), "probe_host"), "%s",
                      herald_error_message(err));
        }
        herald_error_free(err);
        herald_close(c);
        free(more);
        free(conf);
    }
    static const char *const good[] = {"api.mailgun.net", "127.0.0.1:8443",
                                       "[::1]:443", "::1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        open_channel("probe_host = %s\n", good[i]);
        cr_assert_null(herald_channel_error(ctx, 0), "probe_host = %s: %s",
                       good[i], herald_error_message(herald_channel_error(ctx, 0)));
    }
}

/* ---- what the port speaks ----------------------------------------------- */

Test(smtp_doctor, implicit_tls_port_with_tls_starttls_says_set_tls_implicit)
{
    make_certs();
    start_server("--mode implicit");
    open_channel("tls = starttls\nca_file = %s/ca.pem\ngreeting_timeout = 500ms\n",
                 certs);
    herald_error *err = NULL;
    cr_assert_eq(check(NULL, &err), HERALD_ERR_CONFIG, "%s", dump());
    const struct step *t = expect_step("tls", HERALD_CHECK_FAIL);
    char *want = tu_printf("port %d speaks implicit TLS", srv.port);
    cr_assert(strncmp(t->detail, want, strlen(want)) == 0, "%s", dump());
    cr_assert_str_eq(t->fix ? t->fix : "", "set tls = implicit");
    /* it waited for a greeting (greeting_timeout), then tried TLS */
    assert_waited("tls", t->ms, 500);
    cr_assert_null(find("greeting"), "%s", dump());
    cr_assert_str_eq(herald_error_fix(err) ? herald_error_fix(err) : "",
                     "set tls = implicit", "%s", herald_error_message(err));
    free(want);
    herald_error_free(err);
}

Test(smtp_doctor, starttls_port_with_tls_implicit_says_set_tls_starttls)
{
    make_certs();
    start_server("--mode starttls");
    open_channel("tls = implicit\nca_file = %s/ca.pem\n", certs);
    cr_assert_eq(check(NULL, NULL), HERALD_ERR_CONFIG, "%s", dump());
    const struct step *t = expect_step("tls", HERALD_CHECK_FAIL);
    char *want = tu_printf("port %d speaks plain SMTP with STARTTLS", srv.port);
    cr_assert(strncmp(t->detail, want, strlen(want)) == 0, "%s", dump());
    cr_assert_str_eq(t->fix ? t->fix : "", "set tls = starttls");
    cr_assert_null(find("certificate"), "%s", dump());
    free(want);
}

Test(smtp_doctor, plain_server_without_starttls)
{
    start_server("--mode plain --auth bob:s3cret");
    /* tls = starttls (required): the check stops before anything is sent */
    open_channel("tls = starttls\nusername = bob\npassword = s3cret\n");
    cr_assert_eq(check(NULL, NULL), HERALD_ERR_TLS, "%s", dump());
    expect_step("greeting", HERALD_CHECK_OK);
    const struct step *e = expect_step("ehlo", HERALD_CHECK_OK);
    cr_assert_null(strstr(e->detail, "STARTTLS"), "%s", dump());
    const struct step *s = expect_step("starttls", HERALD_CHECK_FAIL);
    cr_assert(strstr(s->detail, "does not offer STARTTLS"), "%s", dump());
    cr_assert(strstr(s->detail, "nothing was sent in clear text"), "%s", dump());
    cr_assert(s->fix && strstr(s->fix, "tls = implicit (port 465)"), "%s", dump());
    cr_assert_null(find("auth"), "no AUTH in clear text:%s", dump());

    /* tls = implicit against the same server: it speaks plain SMTP only */
    open_channel("tls = implicit\n");
    cr_assert_eq(check(NULL, NULL), HERALD_ERR_CONFIG, "%s", dump());
    const struct step *t = expect_step("tls", HERALD_CHECK_FAIL);
    char *want = tu_printf("port %d speaks plain SMTP without STARTTLS", srv.port);
    cr_assert(strncmp(t->detail, want, strlen(want)) == 0, "%s", dump());
    cr_assert(t->fix && strstr(t->fix, "use the server's TLS port"), "%s", dump());
    free(want);

    /* tls = none: healthy, with a warning and its fix */
    open_channel("tls = none\n");
    cr_assert_eq(check(NULL, NULL), HERALD_OK, "%s", dump());
    const struct step *w = expect_step("tls", HERALD_CHECK_WARN);
    cr_assert(strstr(w->detail, "clear text"), "%s", dump());
    cr_assert(w->fix && strncmp(w->fix, "use tls = starttls", 18) == 0, "%s", dump());
    expect_step("quit", HERALD_CHECK_OK);
    never_says("blocked");
}

/* ---- credentials, certificates, sender ----------------------------------- */

Test(smtp_doctor, bad_credentials_fail_auth_with_the_server_text)
{
    make_certs();
    start_server("--mode starttls --auth bob:s3cret");
    open_channel("tls = starttls\nca_file = %s/ca.pem\nusername = bob\n"
                 "password = wrong\n", certs);
    herald_error *err = NULL;
    cr_assert_eq(check(NULL, &err), HERALD_ERR_AUTH, "%s", dump());
    static const char *const ok[] = {"resolve", "connect", "greeting", "ehlo",
                                     "starttls", "certificate", "ehlo after tls"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        expect_step(ok[i], HERALD_CHECK_OK);
    const struct step *a = expect_step("auth", HERALD_CHECK_FAIL);
    cr_assert(strstr(a->detail, "rejected the credentials of bob (AUTH PLAIN): "
                                "535 5.7.8 "), "%s", dump());
    cr_assert(a->fix && strstr(a->fix, "password"), "%s", dump());
    cr_assert_null(find("quit"), "%s", dump());
    cr_assert_str_eq(herald_error_code(err), "535");
    never_says("wrong");
    herald_error_free(err);
}

/* A check against a server presenting certificate @name (tls_make_certs
 * names, or "soon"); username/password set, so that AUTH would follow. */
static herald_class check_cert(const char *mode, const char *name)
{
    start_server("--mode %s --cert %s --auth bob:s3cret", mode, name);
    open_channel("tls = %s\nca_file = %s/ca.pem\nusername = bob\n"
                 "password = s3cret\n", mode, certs);
    return check(NULL, NULL);
}

Test(smtp_doctor, expired_certificate_fails_and_nothing_follows)
{
    make_certs();
    cr_assert_eq(check_cert("starttls", "expired"), HERALD_ERR_TLS, "%s", dump());
    expect_step("starttls", HERALD_CHECK_OK);
    const struct step *c = expect_step("certificate", HERALD_CHECK_FAIL);
    cr_assert(strstr(c->detail, "is rejected: it expired on 2020-01-01"), "%s", dump());
    cr_assert(c->fix && strstr(c->fix, "the server must renew its certificate"),
              "%s", dump());
    cr_assert_null(find("auth"), "credentials after a rejected certificate:%s",
                   dump());
    cr_assert_null(find("ehlo after tls"), "%s", dump());
}

Test(smtp_doctor, wrong_host_certificate_names_both_names)
{
    make_certs();
    cr_assert_eq(check_cert("implicit", "wronghost"), HERALD_ERR_TLS, "%s", dump());
    expect_step("tls", HERALD_CHECK_OK);
    const struct step *c = expect_step("certificate", HERALD_CHECK_FAIL);
    cr_assert(strstr(c->detail, "it was issued for wrong.example.com, not for "
                                "127.0.0.1 (wrong host)"), "%s", dump());
    cr_assert_null(strstr(c->detail, "expired"), "%s", dump());
    cr_assert(c->fix && strstr(c->fix, "set host to a name it lists "
                               "(wrong.example.com)"), "%s", dump());
    cr_assert_null(find("greeting"), "%s", dump());
    cr_assert_null(find("auth"), "%s", dump());
}

Test(smtp_doctor, self_signed_certificate_offers_ca_file_or_the_pin)
{
    make_certs();
    cr_assert_eq(check_cert("implicit", "selfsigned"), HERALD_ERR_TLS, "%s", dump());
    const struct step *c = expect_step("certificate", HERALD_CHECK_FAIL);
    cr_assert(strstr(c->detail, "it is self-signed"), "%s", dump());
    cr_assert(c->fix && strstr(c->fix, "set ca_file"), "%s", dump());
    /* the pin offered is the certificate's real sha256 */
    char *out = NULL;
    cr_assert_eq(tu_run(&out, "certtool --certificate-info --infile '%s/selfsigned.pem' "
                        "--outder | sha256sum | cut -c1-64", certs), 0);
    cr_assert(out && strlen(out) >= 64, "%s", out);
    char pin[100];
    for (size_t i = 0; i < 32; i++) /* "AB:CD:..." as the check prints it */
        snprintf(pin + 3 * i, sizeof pin - 3 * i, "%c%c%s", toupper(out[2 * i]),
                 toupper(out[2 * i + 1]), i < 31 ? ":" : "");
    char *want = tu_printf("tls_fingerprint = %s", pin);
    cr_assert(strstr(c->fix, want), "want %s in %s", want, c->fix);
    free(want);
    free(out);

    /* ... and that pin makes the channel healthy */
    char *pinned = tu_printf("tls = implicit\ntls_fingerprint = %s\nusername = bob\n"
                             "password = s3cret\n", pin);
    open_channel("%s", pinned);
    free(pinned);
    cr_assert_eq(check(NULL, NULL), HERALD_OK, "%s", dump());
    const struct step *p = expect_step("certificate", HERALD_CHECK_OK);
    cr_assert(strstr(p->detail, "matches tls_fingerprint"), "%s", dump());
    expect_step("auth", HERALD_CHECK_OK);
}

Test(smtp_doctor, certificate_expiring_within_14_days_is_a_warning)
{
    make_certs();
    /* a certificate of the test CA valid for 5 more days */
    cr_assert_eq(tu_run(NULL, "cd '%s' && printf 'cn = localhost\\nip_address = "
                        "127.0.0.1\\ntls_www_server\\nsigning_key\\n"
                        "expiration_days = 5\\n' > soon.tmpl && certtool "
                        "--generate-privkey --key-type=ecdsa --curve=secp256r1 "
                        "--outfile soon.key && certtool --generate-certificate "
                        "--load-ca-certificate ca.pem --load-ca-privkey ca.key "
                        "--load-privkey soon.key --template soon.tmpl "
                        "--outfile soon.pem", certs), 0);
    cr_assert_eq(check_cert("starttls", "soon"), HERALD_OK, "%s", dump());
    const struct step *c = expect_step("certificate", HERALD_CHECK_WARN);
    /* certtool counts 5 days from its own start: 4 or 5 full days left */
    cr_assert(strstr(c->detail, "valid for 127.0.0.1, but it expires on ") &&
              (strstr(c->detail, "(in 4 days)") || strstr(c->detail, "(in 5 days)")),
              "%s", dump());
    cr_assert(c->fix && strstr(c->fix, "must be renewed before"), "%s", dump());
    expect_step("auth", HERALD_CHECK_OK);
    expect_step("quit", HERALD_CHECK_OK);
}

Test(smtp_doctor, send_test_rejected_sender_names_the_account)
{
    make_certs();
    start_server("--mode starttls --auth bob:s3cret --reject-sender bot@example.com");
    open_channel("tls = starttls\nca_file = %s/ca.pem\nusername = bob\n"
                 "password = s3cret\n", certs);
    herald_error *err = NULL;
    cr_assert_eq(check("ops@example.com", &err), HERALD_ERR_SENDER_REJECTED, "%s",
                 dump());
    expect_step("auth", HERALD_CHECK_OK);
    const struct step *s = expect_step("sender", HERALD_CHECK_FAIL);
    cr_assert(strstr(s->detail, "MAIL FROM:<bot@example.com> refused: 553 5.7.1 "
                                "<bot@example.com>: Sender address rejected: "
                                "not owned by user bob"), "%s", dump());
    cr_assert(s->fix && strstr(s->fix, "the account bob may not send as "
                               "bot@example.com"), "%s", dump());
    cr_assert_null(find("recipient"), "%s", dump());
    cr_assert_str_eq(herald_error_code(err), "553");
    cr_assert_eq(tu_count_files(msgs), 0);
    herald_error_free(err);
}

/* ---- servers that are not quite SMTP ------------------------------------ */

Test(smtp_doctor, greeting_without_crlf_is_a_truncated_greeting_not_implicit_tls)
{
    start_hostile("greeting-no-crlf");
    open_channel("tls = starttls\ngreeting_timeout = 1s\n");
    herald_error *err = NULL;
    cr_assert_eq(check(NULL, &err), HERALD_ERR_PROTOCOL, "%s", dump());
    const struct step *g = expect_step("greeting", HERALD_CHECK_FAIL);
    cr_assert(strstr(g->detail, "sent a truncated greeting \"220 hostile.test "
                                "ESMTP\" without a line end (CRLF)"), "%s", dump());
    cr_assert(g->fix && strstr(g->fix, "check host and port"), "%s", dump());
    cr_assert_null(find("tls"), "no TLS attempt after bytes came:%s", dump());
    never_says("implicit");
    cr_assert(strstr(herald_error_message(err), "truncated greeting"), "%s",
              herald_error_message(err));
    herald_error_free(err);
}

Test(smtp_doctor, reply_over_500_lines_is_too_long_naming_the_limit)
{
    start_hostile("ehlo-long");
    open_channel("tls = none\n");
    cr_assert_eq(check(NULL, NULL), HERALD_ERR_PROTOCOL, "%s", dump());
    expect_step("greeting", HERALD_CHECK_OK);
    const struct step *e = expect_step("ehlo", HERALD_CHECK_FAIL);
    cr_assert(strstr(e->detail, "answered EHLO with a reply too long (600 lines, "
                                "limit 500)"), "%s", dump());
    never_says("not an SMTP reply");
}

/* ---- the CLI ------------------------------------------------------------ */

/* `herald doctor --json` with @conf_extra; the python summary of the JSON
 * (one line per object: step=status) in *out_r; returns doctor's status. */
static int doctor_json(const char *conf_extra, const char *args, char **out_r)
{
    char *conf = conf_text(conf_extra);
    char *path = tu_write_file(tmp, "h.conf", conf);
    char *json = tu_printf("%s/d.json", tmp);
    int rc = tu_run(NULL, "'%s' -c '%s' doctor --json %s mail > '%s'", tu_cli(),
                    path, args, json);
    static const char py[] =
        "import json,sys\n"
        "d = json.load(sys.stdin)\n"
        "assert isinstance(d, list) and d, d\n"
        "keys = {'channel','step','status','elapsed_ms','detail','fix'}\n"
        "for o in d:\n"
        "    assert isinstance(o, dict) and set(o) == keys, o\n"
        "    assert o['channel'] == 'mail', o\n"
        "    assert o['status'] in ('ok','warn','fail','info'), o\n"
        "    assert isinstance(o['elapsed_ms'], (int, float)) and o['elapsed_ms'] >= 0, o\n"
        "    assert (o['fix'] is None) == (o['status'] in ('ok','info')), o\n"
        "    print(o['step'] + '=' + o['status'])\n";
    char *pyfile = tu_write_file(tmp, "j.py", py);
    int prc = tu_run(out_r, "'%s' '%s' < '%s'", tu_python(), pyfile, json);
    cr_assert_eq(prc, 0, "not valid JSON of one object per step: %s", *out_r);
    free(pyfile);
    free(json);
    free(path);
    free(conf);
    return rc;
}

Test(smtp_doctor, cli_json_has_one_object_per_step)
{
    make_certs();
    start_server("--mode starttls --auth bob:s3cret");
    char *extra = tu_printf("tls = starttls\nca_file = %s/ca.pem\nusername = bob\n"
                            "password = s3cret\n", certs);
    char *out = NULL;
    cr_assert_eq(doctor_json(extra, "--send-test ops@example.com", &out), 0, "%s", out);
    cr_assert_str_eq(out, "resolve=ok\nconnect=ok\ngreeting=ok\nehlo=ok\n"
                          "starttls=ok\ncertificate=ok\nehlo after tls=ok\n"
                          "auth=ok\nsender=ok\nrecipient=ok\nquit=ok\n");
    free(out);
    free(extra);

    /* a refused port: exit 69, the failure with its fix */
    extra = tu_printf("port = %d\n", closed_port());
    cr_assert_eq(doctor_json(extra, "", &out), 69, "%s", out);
    cr_assert_str_eq(out, "resolve=ok\nconnect=fail\n");
    free(out);
    free(extra);
}
