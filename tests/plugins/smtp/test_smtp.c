/* tests/plugins/smtp/test_smtp.c - the smtp driver against a real SMTP server
 * (tests/support/servers/smtpd.py, Debian's aiosmtpd) on 127.0.0.1: STARTTLS and
 * implicit TLS with AUTH, what the server received compared with what was
 * sent, certificate checks and pins, per-recipient results, error classes
 * with the server's code and text, connection reuse, render and check.
 *
 * Debugging aids: HERALD_TEST_SMTP_DEBUG=1 prints the SMTP dialogue,
 * HERALD_TEST_SMTPD_LOG=1 the server's log after each test; --verbose
 * shows every error message the tests provoke. */
#include "config.h"
#include <criterion/criterion.h>

#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <herald/herald.h>
#include "testutil.h"
#include "base/base.h"

static char *tmp, *certs, *msgs;
static struct tu_server srv;
static herald_ctx *ctx;

static void setup(void)
{
    tmp = tu_mkdtemp();
    cr_assert(tmp);
    certs = tu_printf("%s/certs", tmp);
    msgs = tu_printf("%s/msgs", tmp);
    cr_assert_eq(mkdir(certs, 0700), 0);
    cr_assert_eq(mkdir(msgs, 0700), 0);
    cr_assert_eq(tu_make_certs(certs), 0);
}

static void teardown(void)
{
    if (getenv("HERALD_TEST_SMTPD_LOG")) { /* debugging aid: the server's log */
        char *log = tu_server_log(&srv);
        fprintf(stderr, "--- smtpd.py log ---\n%s\n", log ? log : "");
        free(log);
    }
    herald_close(ctx);
    ctx = NULL;
    tu_server_stop(&srv);
    tu_rmrf(tmp);
    free(tmp);
    free(certs);
    free(msgs);
}

TestSuite(smtp, .init = setup, .fini = teardown, .timeout = 20);

/* ---- helpers ------------------------------------------------------------ */

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
                             "--certs %s --count %s/count %s", tu_python(),
                             tu_srcdir(), msgs, certs, tmp, extra);
    free(extra);
    cr_assert_eq(rc, 0, "smtpd.py did not start");
}

/* Open a context with channel "mail" on the test server plus @fmt lines. */
static herald_class try_open(herald_error **err_r, const char *fmt, va_list ap)
{
    char *extra = vfmt(fmt, ap);
    /* defaults for keys @fmt does not set; timeouts leave room for valgrind */
    char *port = tu_printf("port = %d\n", srv.port ? srv.port : 1);
    char *conf = tu_printf("[channel mail]\ndriver = smtp\n%s%s%s"
                           "connect_timeout = 2s\ncommand_timeout = 5s\n"
                           "data_timeout = 5s\nfrom = Bot <bot@example.com>\n%s",
                           strstr(extra, "host =") ? "" : "host = localhost\n",
                           strstr(extra, "port =") ? "" : port,
                           strstr(extra, "greeting_timeout =") ? "" : "greeting_timeout = 5s\n",
                           extra);
    free(port);
    herald_class rc = herald_open_string(conf, "t.conf", HERALD_OPEN_INIT_ALL, &ctx, err_r);
    if (rc == HERALD_OK && getenv("HERALD_TEST_SMTP_DEBUG")) /* the dialogue on stderr */
        herald_set_log_handler(ctx, HERALD_LOG_DEBUG, NULL, NULL);
    free(conf);
    free(extra);
    return rc;
}

static void open_channel(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void open_channel(const char *fmt, ...)
{
    herald_error *err = NULL;
    va_list ap;
    va_start(ap, fmt);
    herald_class rc = try_open(&err, fmt, ap);
    va_end(ap);
    cr_assert_eq(rc, HERALD_OK, "open: %s", herald_error_message(err));
}

static herald_class open_fails(herald_error **err_r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static herald_class open_fails(herald_error **err_r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    herald_class rc = try_open(err_r, fmt, ap);
    va_end(ap);
    return rc;
}

static herald_msg *simple_msg(void)
{
    herald_msg *m = herald_msg_new();
    herald_msg_add_to(m, "ops@example.com");
    herald_msg_set_subject(m, "disk full");
    herald_msg_set_text(m, "/var is at 99%\n");
    return m;
}

/* Send @m on "mail"; returns the class, *err_r and *res_r optional. */
static herald_class send_msg(herald_msg *m, herald_result **res_r, herald_error **err_r)
{
    return herald_send(ctx, "mail", m, res_r, err_r);
}

static void send_ok(herald_msg *m)
{
    herald_error *err = NULL;
    herald_class rc = send_msg(m, NULL, &err);
    cr_assert_eq(rc, HERALD_OK, "send: %s", herald_error_message(err));
}

/* What the server stored for message @n (1-based). */
struct rx {
    char *raw;       /* whole file */
    char *head;      /* "key value" lines, NUL-terminated, with a leading \n */
    char *data;      /* the message as received */
    size_t data_len;
};

static void rx_read(int n, struct rx *rx)
{
    char *path = tu_printf("%s/%04d.msg", msgs, n);
    size_t len = 0;
    rx->raw = tu_read_file(path, &len);
    cr_assert(rx->raw, "the server stored no message %d", n);
    char *sep = strstr(rx->raw, "\n\n");
    cr_assert(sep);
    rx->head = tu_printf("\n%.*s\n", (int)(sep + 1 - rx->raw), rx->raw);
    rx->data = sep + 2;
    rx->data_len = len - (size_t)(rx->data - rx->raw);
    free(path);
}

static void rx_free(struct rx *rx)
{
    free(rx->raw);
    free(rx->head);
}

/* Does the stored envelope have the line "KEY VALUE"? */
static int rx_has(const struct rx *rx, const char *line)
{
    char *needle = tu_printf("\n%s\n", line);
    int found = strstr(rx->head, needle) != NULL;
    free(needle);
    return found;
}

static int stored(void)
{
    return tu_count_files(msgs);
}

/* The server's counters: connections accepted (@which 0), QUITs (1),
 * MAIL FROM accepted (2). */
static int server_count(int which)
{
    char *p = tu_printf("%s/count", tmp);
    char *t = tu_read_file(p, NULL);
    int n[3] = {-1, -1, -1};
    if (t)
        sscanf(t, "%d %d %d", &n[0], &n[1], &n[2]);
    free(t);
    free(p);
    return n[which];
}

static int connections(void)
{
    return server_count(0);
}

static char *write_bytes(const char *name, const void *data, size_t len)
{
    char *p = tu_printf("%s/%s", tmp, name);
    FILE *f = fopen(p, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return p;
}

/* sha256 of a PEM certificate's DER, as hex. */
static char *fingerprint(const char *pem)
{
    char *out = NULL;
    int rc = tu_run(&out, "%s -c 'import hashlib,ssl,sys; print(hashlib.sha256("
                    "ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())).hexdigest())' '%s'",
                    tu_python(), pem);
    cr_assert_eq(rc, 0, "%s", out);
    out[strcspn(out, "\n")] = '\0';
    return out;
}

static void expect_error(herald_class want, herald_error *err, herald_class got,
                         const char *phrase)
{
    cr_assert_eq(got, want, "class %d (%s), wanted %d: %s", got,
                 herald_strerror(got), want, herald_error_message(err));
    cr_log_info("%s", herald_error_message(err)); /* shown with --verbose */
    const char *fix = herald_error_fix(err);
    if (phrase)
        cr_assert(strstr(herald_error_message(err), phrase) ||
                  (fix && strstr(fix, phrase)),
                  "error lacks \"%s\": %s (fix: %s)", phrase,
                  herald_error_message(err), fix ? fix : "none");
}

/* The error's fix (herald_error_fix) names @phrase and the message (what
 * happened) does not: the two are kept apart. */
static void expect_fix(const herald_error *err, const char *phrase)
{
    const char *fix = herald_error_fix(err);
    cr_assert(fix && strstr(fix, phrase), "fix lacks \"%s\": %s (message: %s)",
              phrase, fix ? fix : "none", herald_error_message(err));
    cr_assert_null(strstr(herald_error_message(err), phrase),
                   "the fix is glued into the message: %s",
                   herald_error_message(err));
}

/* ---- delivery and round trip ------------------------------------------- */

/* A message using every field the driver carries; compared with what the
 * server received through Python's email package. */
static void full_round_trip(const char *expect_auth)
{
    const char *subject = "Überwachung: Festplatte voll ✓";
    const char *text = "Grüße.\n.a line starting with a dot\n.\n..two dots\nend\n";
    const char *html = "<p>Grüße — <b>voll</b></p>\n";
    unsigned char bin[3000];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 31 + 7);
    herald_msg *m = herald_msg_new();
    herald_msg_set_from(m, "Jürgen Müller <juergen@example.com>");
    herald_msg_add_to(m, "Ops <ops@example.com>");
    herald_msg_add_to(m, "dev@example.org");
    herald_msg_add_cc(m, "cc@example.net");
    herald_msg_add_bcc(m, "hidden@example.net");
    herald_msg_set_reply_to(m, "replies@example.com");
    herald_msg_set_subject(m, subject);
    herald_msg_set_text(m, text);
    herald_msg_set_html(m, html);
    herald_msg_attach_data(m, bin, sizeof bin, "blob.bin", NULL);
    herald_msg_add_header(m, "X-Priority", "1");

    herald_result *res = NULL;
    herald_error *err = NULL;
    cr_assert_eq(send_msg(m, &res, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert_str_eq(herald_result_message_id(res), "HRLD0001");
    cr_assert_eq(herald_result_recipient_count(res), 4);
    for (size_t i = 0; i < 4; i++)
        cr_assert(herald_result_recipient_accepted(res, i));

    struct rx rx;
    rx_read(1, &rx);
    cr_assert(rx_has(&rx, "mail_from juergen@example.com"), "%s", rx.head);
    cr_assert(rx_has(&rx, "rcpt_to ops@example.com"));
    cr_assert(rx_has(&rx, "rcpt_to dev@example.org"));
    cr_assert(rx_has(&rx, "rcpt_to cc@example.net"));
    cr_assert(rx_has(&rx, "rcpt_to hidden@example.net"));
    cr_assert(rx_has(&rx, "tls yes"));
    cr_assert(rx_has(&rx, expect_auth), "%s", rx.head);
    cr_assert_null(strstr(rx.data, "hidden@example.net"), "Bcc leaked into the data");

    char *eml = write_bytes("rx.eml", rx.data, rx.data_len);
    char *tf = write_bytes("text.txt", text, strlen(text));
    char *hf = write_bytes("body.html", html, strlen(html));
    char *bf = write_bytes("blob.bin", bin, sizeof bin);
    char *out = NULL;
    int rc = tu_run(&out, "%s %s/tests/support/email_roundtrip.py '%s' --subject '%s' "
                    "--from-name 'Jürgen Müller' --from-addr juergen@example.com "
                    "--to ops@example.com --to dev@example.org --text-file '%s' "
                    "--html-file '%s' --attach 'blob.bin=application/octet-stream=%s' "
                    "--header 'X-Priority=1' --header 'Cc=cc@example.net' "
                    "--header 'Reply-To=replies@example.com' --absent-header Bcc",
                    tu_python(), tu_srcdir(), eml, subject, tf, hf, bf);
    cr_assert_eq(rc, 0, "round trip failed:\n%s", out);
    cr_assert_str_eq(out, "OK\n");
    free(out);
    free(eml);
    free(tf);
    free(hf);
    free(bf);
    rx_free(&rx);
    herald_result_free(res);
    herald_msg_free(m);
}

Test(smtp, starttls_with_auth_delivers_exactly_what_was_sent)
{
    start_server("--mode starttls --auth bob:s3cret");
    open_channel("ca_file = %s/ca.pem\nusername = bob\npassword = s3cret\n", certs);
    full_round_trip("auth PLAIN bob");
}

Test(smtp, implicit_tls_with_auth_delivers_exactly_what_was_sent)
{
    start_server("--mode implicit --auth bob:s3cret");
    open_channel("tls = implicit\nca_file = %s/ca.pem\nusername = bob\n"
                 "password = s3cret\n", certs);
    full_round_trip("auth PLAIN bob");
}

Test(smtp, plain_text_with_tls_none_and_no_credentials_works)
{
    start_server("--mode plain");
    open_channel("tls = none\n");
    herald_msg *m = simple_msg();
    send_ok(m);
    struct rx rx;
    rx_read(1, &rx);
    cr_assert(rx_has(&rx, "tls no"));
    cr_assert(rx_has(&rx, "mail_from bot@example.com"));
    cr_assert(rx_has(&rx, "rcpt_to ops@example.com"));
    cr_assert(rx_has(&rx, "pipelined no"), "pipelined without PIPELINING: %s", rx.head);
    cr_assert(strstr(rx.data, "Subject: disk full\r\n"));
    cr_assert(strstr(rx.data, "/var is at 99%"));
    rx_free(&rx);
    herald_msg_free(m);
}

Test(smtp, helo_is_used_when_the_server_refuses_ehlo)
{
    start_server("--mode plain --no-ehlo");
    open_channel("tls = none\nhelo = client.example.com\n");
    herald_msg *m = simple_msg();
    send_ok(m);
    struct rx rx;
    rx_read(1, &rx);
    cr_assert(rx_has(&rx, "helo client.example.com"), "%s", rx.head);
    cr_assert_not(strstr(rx.head, "mail_option"), "ESMTP parameters after HELO: %s", rx.head);
    rx_free(&rx);
    herald_msg_free(m);
}

Test(smtp, dot_stuffing_keeps_lines_that_start_with_a_dot)
{
    start_server("--mode plain");
    open_channel("tls = none\n");
    herald_msg *m = herald_msg_new();
    herald_msg_add_to(m, "ops@example.com");
    herald_msg_set_subject(m, "dots");
    herald_msg_set_text(m, "a\n.\nb\n..c\n.d\n");
    send_ok(m);
    struct rx rx;
    rx_read(1, &rx);
    /* the server un-stuffs; without stuffing it would stop at the lone dot */
    cr_assert(strstr(rx.data, "\r\na\r\n.\r\nb\r\n..c\r\n.d\r\n"), "%s", rx.data);
    rx_free(&rx);
    herald_msg_free(m);
}

/* A message several times SMTP_DATA_CHUNK (64 KiB) long streams out
 * dot-stuffed a piece at a time: every line, dots included, arrives as it
 * was, whatever piece boundary it falls on. */
Test(smtp, large_message_streams_out_dot_stuffed_intact)
{
    start_server("--mode plain");
    open_channel("tls = none\n");
    struct hbuf text = {0}, want = {0};
    for (int i = 0; i < 30000; i++) {
        hbuf_printf(&text, "%sline %05d\n", i % 7 == 0 ? "." : "", i);
        hbuf_printf(&want, "%sline %05d\r\n", i % 7 == 0 ? "." : "", i);
    }
    cr_assert_gt(text.len, 3 * 64 * 1024);
    herald_msg *m = herald_msg_new();
    herald_msg_add_to(m, "ops@example.com");
    herald_msg_set_subject(m, "big");
    cr_assert_eq(herald_msg_set_text(m, text.data), HERALD_OK);
    send_ok(m);
    struct rx rx;
    rx_read(1, &rx);
    cr_assert(strstr(rx.data, want.data), "the body arrived changed (%zu bytes)",
              strlen(rx.data));
    rx_free(&rx);
    hbuf_free(&text);
    hbuf_free(&want);
    herald_msg_free(m);
}

Test(smtp, pipelining_is_used_when_offered)
{
    start_server("--mode starttls --pipelining");
    open_channel("ca_file = %s/ca.pem\n", certs);
    herald_msg *m = simple_msg();
    herald_msg_add_cc(m, "a@example.com");
    herald_msg_add_bcc(m, "b@example.com");
    send_ok(m);
    struct rx rx;
    rx_read(1, &rx);
    cr_assert(rx_has(&rx, "pipelined yes"), "%s", rx.head);
    cr_assert(rx_has(&rx, "rcpt_to b@example.com"));
    cr_assert(rx_has(&rx, "mail_option BODY=8BITMIME") == 0,
              "7-bit message declared 8BITMIME");
    rx_free(&rx);
    herald_msg_free(m);
}

Test(smtp, utf8_address_uses_smtputf8_when_offered)
{
    start_server("--mode plain --smtputf8");
    open_channel("tls = none\n");
    herald_msg *m = simple_msg();
    cr_assert_eq(herald_msg_add_to(m, "jürgen@example.com"), HERALD_OK);
    send_ok(m);
    struct rx rx;
    rx_read(1, &rx);
    cr_assert(rx_has(&rx, "mail_option SMTPUTF8"), "%s", rx.head);
    cr_assert(rx_has(&rx, "mail_option BODY=8BITMIME"), "%s", rx.head);
    cr_assert(rx_has(&rx, "rcpt_to jürgen@example.com"), "%s", rx.head);
    rx_free(&rx);
    herald_msg_free(m);
}

Test(smtp, utf8_address_without_smtputf8_is_refused_naming_it)
{
    start_server("--mode plain");
    open_channel("tls = none\n");
    herald_msg *m = simple_msg();
    herald_msg_add_to(m, "jürgen@example.com");
    herald_error *err = NULL;
    expect_error(HERALD_ERR_PERMANENT, err, send_msg(m, NULL, &err), "jürgen@example.com");
    cr_assert(strstr(herald_error_message(err), "SMTPUTF8"));
    cr_assert_eq(stored(), 0);
    herald_error_free(err);
    herald_msg_free(m);
}

Test(smtp, too_large_message_is_refused_before_data)
{
    start_server("--mode plain --size 2000");
    open_channel("tls = none\n");
    herald_msg *m = simple_msg();
    char big[6000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    herald_msg_set_text(m, big);
    herald_error *err = NULL;
    expect_error(HERALD_ERR_PERMANENT, err, send_msg(m, NULL, &err), "SIZE");
    cr_assert(strstr(herald_error_message(err), "at most 2000"));
    cr_assert_eq(stored(), 0);
    herald_error_free(err);
    herald_msg_free(m);
}

Test(smtp, message_id_is_the_header_when_the_server_gives_no_queue_id)
{
    start_server("--mode plain --no-queue-id");
    open_channel("tls = none\n");
    herald_msg *m = simple_msg();
    herald_result *res = NULL;
    cr_assert_eq(send_msg(m, &res, NULL), HERALD_OK);
    const char *id = herald_result_message_id(res);
    cr_assert(id && id[0] == '<', "id %s", id ? id : "(null)");
    struct rx rx;
    rx_read(1, &rx);
    char *hdr = tu_printf("Message-ID: %s\r\n", id);
    cr_assert(strstr(rx.data, hdr), "%s not in the message", hdr);
    free(hdr);
    rx_free(&rx);
    herald_result_free(res);
    herald_msg_free(m);
}

/* ---- credentials and AUTH mechanisms ------------------------------------ */

Test(smtp, tls_none_with_credentials_is_refused_before_connecting)
{
    start_server("--mode plain");
    herald_error *err = NULL;
    herald_class rc = open_fails(&err, "tls = none\nusername = bob\npassword = pw\n");
    expect_error(HERALD_ERR_CONFIG, err, rc, "never sent without TLS");
    cr_assert(strstr(herald_error_message(err), "tls = none"));
    cr_assert_eq(connections(), 0);
    herald_error_free(err);
}

Test(smtp, incomplete_or_unsafe_config_is_refused)
{
    herald_error *err = NULL;
    expect_error(HERALD_ERR_CONFIG, err, open_fails(&err, "username = bob\n"),
                 "password");
    herald_error_free(err);
    err = NULL;
    expect_error(HERALD_ERR_CONFIG, err,
                 open_fails(&err, "tls_fingerprint = 12:34\n"), "tls_fingerprint");
    herald_error_free(err);
    err = NULL;
    expect_error(HERALD_ERR_CONFIG, err,
                 open_fails(&err, "auth = xoauth2\nusername = bob\npassword = x\n"),
                 "xoauth2_token");
    herald_error_free(err);
    err = NULL;
    expect_error(HERALD_ERR_CONFIG, err,
                 open_fails(&err, "ca_file = %s/ca.key\n", certs), "ca_file");
    herald_error_free(err);
}

Test(smtp, wrong_password_is_an_auth_error_with_the_535_text)
{
    start_server("--mode starttls --auth bob:s3cret");
    open_channel("ca_file = %s/ca.pem\nusername = bob\npassword = wrong\n", certs);
    herald_msg *m = simple_msg();
    herald_error *err = NULL;
    expect_error(HERALD_ERR_AUTH, err, send_msg(m, NULL, &err), "bob");
    cr_assert_str_eq(herald_error_code(err), "535");
    cr_assert(strstr(herald_error_provider_text(err), "5.7.8"),
              "%s", herald_error_provider_text(err));
    cr_assert_null(strstr(herald_error_message(err), "wrong"), "password in the message");
    expect_fix(err, "check username and password");
    cr_assert_eq(stored(), 0);
    /* the session ended with QUIT, not a dropped connection after AUTH */
    cr_assert_eq(server_count(1), 1, "no QUIT after the 535");
    herald_error_free(err);
    herald_msg_free(m);
}

Test(smtp, auto_prefers_cram_md5_and_it_authenticates)
{
    start_server("--mode starttls --auth bob:s3cret --mechs PLAIN,LOGIN,CRAM-MD5");
    open_channel("ca_file = %s/ca.pem\nusername = bob\npassword = s3cret\n", certs);
    herald_msg *m = simple_msg();
    send_ok(m);
    struct rx rx;
    rx_read(1, &rx);
    cr_assert(rx_has(&rx, "auth CRAM-MD5 bob"), "%s", rx.head);
    rx_free(&rx);
    herald_msg_free(m);
}

Test(smtp, auth_login_when_asked_for)
{
    start_server("--mode implicit --auth bob:s3cret --mechs PLAIN,LOGIN,CRAM-MD5");
    open_channel("tls = implicit\nca_file = %s/ca.pem\nusername = bob\n"
                 "password = s3cret\nauth = login\n", certs);
    herald_msg *m = simple_msg();
    send_ok(m);
    struct rx rx;
    rx_read(1, &rx);
    cr_assert(rx_has(&rx, "auth LOGIN bob"), "%s", rx.head);
    rx_free(&rx);
    herald_msg_free(m);
}

Test(smtp, xoauth2_token_authenticates_and_a_bad_one_is_an_auth_error)
{
    start_server("--mode starttls --auth bob:unused --mechs PLAIN,XOAUTH2 --token tok-123");
    open_channel("host = localhost\nport = %d\nca_file = %s/ca.pem\nusername = bob\n"
                 "xoauth2_token = tok-123\n[channel bad]\ndriver = smtp\nhost = localhost\nport = %d\n"
                 "ca_file = %s/ca.pem\nusername = bob\nxoauth2_token = expired\n"
                 "from = bot@example.com\ncommand_timeout = 3s\n",
                 srv.port, certs, srv.port, certs);
    herald_msg *m = simple_msg();
    send_ok(m);
    struct rx rx;
    rx_read(1, &rx);
    cr_assert(rx_has(&rx, "auth XOAUTH2 bob"), "%s", rx.head);
    rx_free(&rx);
    herald_error *err = NULL;
    expect_error(HERALD_ERR_AUTH, err, herald_send(ctx, "bad", m, NULL, &err), "XOAUTH2");
    cr_assert_str_eq(herald_error_code(err), "535");
    cr_assert(strstr(herald_error_message(err), "401"), "server's JSON detail missing: %s",
              herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(smtp, server_requiring_auth_without_credentials_says_to_set_them)
{
    start_server("--mode starttls --auth bob:s3cret");
    open_channel("ca_file = %s/ca.pem\n", certs);
    herald_msg *m = simple_msg();
    herald_error *err = NULL;
    expect_error(HERALD_ERR_AUTH, err, send_msg(m, NULL, &err), "username and password");
    cr_assert_str_eq(herald_error_code(err), "530");
    herald_error_free(err);
    herald_msg_free(m);
}

/* ---- certificates ---------------------------------------------------------- */

/* ... and, with @fix, the error's fix names it. */
static void expect_tls_failure_fix(const char *phrase, const char *fix)
{
    herald_msg *m = simple_msg();
    herald_error *err = NULL;
    expect_error(HERALD_ERR_TLS, err, send_msg(m, NULL, &err), phrase);
    if (fix)
        expect_fix(err, fix);
    cr_assert_eq(stored(), 0);
    herald_error_free(err);
    herald_msg_free(m);
}

static void expect_tls_failure(const char *phrase)
{
    expect_tls_failure_fix(phrase, NULL);
}

Test(smtp, certificate_for_another_host_is_refused_with_the_reason)
{
    start_server("--mode starttls --cert wronghost");
    open_channel("ca_file = %s/ca.pem\n", certs);
    expect_tls_failure("does not match");
}

Test(smtp, self_signed_certificate_without_ca_file_is_refused)
{
    start_server("--mode implicit --cert selfsigned");
    open_channel("tls = implicit\n");
    expect_tls_failure("ca_file");
}

Test(smtp, expired_certificate_is_refused)
{
    start_server("--mode starttls --cert expired");
    open_channel("ca_file = %s/ca.pem\n", certs);
    expect_tls_failure("expired");
}

Test(smtp, matching_fingerprint_trusts_a_self_signed_certificate)
{
    start_server("--mode starttls --cert selfsigned");
    char *pem = tu_printf("%s/selfsigned.pem", certs);
    char *pin = fingerprint(pem);
    open_channel("tls_fingerprint = %s\n", pin);
    herald_msg *m = simple_msg();
    send_ok(m);
    cr_assert_eq(stored(), 1);
    free(pin);
    free(pem);
    herald_msg_free(m);
}

Test(smtp, fingerprint_mismatch_is_refused)
{
    start_server("--mode implicit --cert server");
    char *pem = tu_printf("%s/selfsigned.pem", certs);
    char *pin = fingerprint(pem);
    open_channel("tls = implicit\nca_file = %s/ca.pem\ntls_fingerprint = %s\n",
                 certs, pin);
    expect_tls_failure("does not match tls_fingerprint");
    free(pin);
    free(pem);
}

/* ---- wrong TLS mode, unreachable servers ------------------------------------ */

Test(smtp, starttls_required_but_not_offered_sends_nothing)
{
    start_server("--mode plain --auth bob:s3cret");
    open_channel("username = bob\npassword = s3cret\n");
    expect_tls_failure_fix("does not offer STARTTLS", "use tls = implicit");
}

Test(smtp, implicit_tls_against_a_plain_server_says_use_starttls)
{
    start_server("--mode plain");
    open_channel("tls = implicit\n");
    expect_tls_failure_fix("speaks plain SMTP", "use tls = starttls");
}

Test(smtp, no_greeting_on_an_implicit_tls_port_says_use_implicit)
{
    start_server("--mode implicit");
    open_channel("greeting_timeout = 300ms\nca_file = %s/ca.pem\n", certs);
    herald_msg *m = simple_msg();
    herald_error *err = NULL;
    expect_error(HERALD_ERR_TIMEOUT, err, send_msg(m, NULL, &err), "no greeting");
    expect_fix(err, "tls = implicit");
    herald_error_free(err);
    herald_msg_free(m);
}

Test(smtp, refused_port_is_a_connect_error)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd); /* nothing listens there now */
    char *conf = tu_printf("[channel mail]\ndriver = smtp\nhost = 127.0.0.1\nport = %d\n"
                           "tls = none\nfrom = bot@example.com\n", ntohs(a.sin_port));
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", 0, &ctx, &err), HERALD_OK);
    herald_msg *m = simple_msg();
    expect_error(HERALD_ERR_CONNECT, err, send_msg(m, NULL, &err), "refused");
    herald_error_free(err);
    herald_msg_free(m);
    free(conf);
}

Test(smtp, unresolvable_host_is_host_not_found)
{
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string("[channel mail]\ndriver = smtp\n"
                                    "host = nonexistent.invalid\nfrom = bot@example.com\n",
                                    "t.conf", 0, &ctx, &err), HERALD_OK);
    herald_msg *m = simple_msg();
    expect_error(HERALD_ERR_HOST_NOT_FOUND, err, send_msg(m, NULL, &err),
                 "nonexistent.invalid");
    herald_error_free(err);
    herald_msg_free(m);
}

/* ---- recipients and senders ------------------------------------------------ */

Test(smtp, one_rejected_recipient_among_two_is_reported_per_recipient)
{
    start_server("--mode plain --reject-rcpt nobody@example.com");
    open_channel("tls = none\n");
    herald_msg *m = simple_msg();
    herald_msg_add_to(m, "nobody@example.com");
    herald_result *res = NULL;
    herald_error *err = NULL;
    cr_assert_eq(send_msg(m, &res, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert_eq(herald_result_recipient_count(res), 2);
    cr_assert_str_eq(herald_result_recipient(res, 0), "ops@example.com");
    cr_assert(herald_result_recipient_accepted(res, 0));
    cr_assert_str_eq(herald_result_recipient(res, 1), "nobody@example.com");
    cr_assert_not(herald_result_recipient_accepted(res, 1));
    cr_assert(strstr(herald_result_recipient_text(res, 1), "550"),
              "%s", herald_result_recipient_text(res, 1));
    struct rx rx;
    rx_read(1, &rx);
    cr_assert(rx_has(&rx, "rcpt_to ops@example.com"));
    cr_assert_not(rx_has(&rx, "rcpt_to nobody@example.com"));
    rx_free(&rx);
    herald_result_free(res);
    herald_msg_free(m);
}

Test(smtp, all_recipients_rejected_is_recipient_rejected)
{
    start_server("--mode plain --pipelining --reject-rcpt a@example.com "
                 "--reject-rcpt b@example.com");
    open_channel("tls = none\n");
    herald_msg *m = herald_msg_new();
    herald_msg_add_to(m, "a@example.com");
    herald_msg_add_cc(m, "b@example.com");
    herald_msg_set_text(m, "x");
    herald_result *res = NULL;
    herald_error *err = NULL;
    expect_error(HERALD_ERR_RECIPIENT_REJECTED, err, send_msg(m, &res, &err),
                 "a@example.com");
    cr_assert_str_eq(herald_error_code(err), "550");
    cr_assert(strstr(herald_error_provider_text(err), "User unknown"));
    cr_assert(res, "no per-recipient result");
    cr_assert_eq(herald_result_recipient_count(res), 2);
    cr_assert_not(herald_result_recipient_accepted(res, 0));
    cr_assert_not(herald_result_recipient_accepted(res, 1));
    cr_assert_eq(stored(), 0);
    /* the session stays usable for the next message */
    herald_msg_free(m);
    m = simple_msg();
    send_ok(m);
    cr_assert_eq(connections(), 1);
    herald_error_free(err);
    herald_result_free(res);
    herald_msg_free(m);
}

Test(smtp, rejected_sender_carries_the_server_text)
{
    start_server("--mode starttls --auth bob:s3cret --reject-sender bot@example.com");
    open_channel("ca_file = %s/ca.pem\nusername = bob\npassword = s3cret\n", certs);
    herald_msg *m = simple_msg();
    herald_error *err = NULL;
    expect_error(HERALD_ERR_SENDER_REJECTED, err, send_msg(m, NULL, &err),
                 "bot@example.com");
    cr_assert_str_eq(herald_error_code(err), "553");
    cr_assert(strstr(herald_error_provider_text(err),
                     "5.7.1 <bot@example.com>: Sender address rejected: not owned by user"),
              "%s", herald_error_provider_text(err));
    expect_fix(err, "send from an address this account may use");
    cr_assert_eq(stored(), 0);
    herald_error_free(err);
    herald_msg_free(m);
}

/* ---- connection reuse ------------------------------------------------------- */

Test(smtp, five_sends_share_one_connection)
{
    start_server("--mode starttls --auth bob:s3cret");
    open_channel("ca_file = %s/ca.pem\nusername = bob\npassword = s3cret\n", certs);
    herald_msg *m = simple_msg();
    for (int i = 0; i < 5; i++)
        send_ok(m);
    cr_assert_eq(stored(), 5);
    cr_assert_eq(connections(), 1);
    for (int i = 1; i <= 5; i++) {
        struct rx rx;
        rx_read(i, &rx);
        cr_assert(rx_has(&rx, "connection 1"));
        rx_free(&rx);
    }
    herald_msg_free(m);
}

Test(smtp, max_messages_opens_a_new_connection)
{
    start_server("--mode plain --pipelining");
    open_channel("tls = none\nmax_messages = 2\n");
    herald_msg *m = simple_msg();
    for (int i = 0; i < 5; i++)
        send_ok(m);
    cr_assert_eq(stored(), 5);
    cr_assert_eq(connections(), 3);
    cr_assert_eq(server_count(1), 2, "the full connections were not closed with QUIT");
    herald_close(ctx); /* teardown QUITs the third */
    ctx = NULL;
    cr_assert_eq(server_count(1), 3);
    herald_msg_free(m);
}

Test(smtp, idle_connection_is_replaced_after_idle_timeout)
{
    start_server("--mode plain");
    /* idle_timeout leaves two back-to-back sends room on busy cores */
    open_channel("tls = none\nidle_timeout = 2s\n");
    herald_msg *m = simple_msg();
    send_ok(m);
    send_ok(m);
    cr_assert_eq(connections(), 1);
    nanosleep(&(struct timespec){2, 300 * 1000000L}, NULL);
    send_ok(m);
    cr_assert_eq(connections(), 2);
    cr_assert_eq(stored(), 3);
    herald_msg_free(m);
}

Test(smtp, kept_connection_closed_by_the_server_is_reopened_without_duplicates)
{
    start_server("--mode starttls --close-on-mail-after 1");
    open_channel("ca_file = %s/ca.pem\n", certs);
    herald_msg *m = simple_msg();
    send_ok(m);
    send_ok(m);
    cr_assert_eq(stored(), 2);
    cr_assert_eq(connections(), 2);
    struct rx rx;
    rx_read(2, &rx);
    cr_assert(rx_has(&rx, "connection 2"));
    rx_free(&rx);
    herald_msg_free(m);
}

Test(smtp, connection_lost_after_the_final_dot_is_not_resent)
{
    start_server("--mode plain --drop-after-data");
    open_channel("tls = none\n");
    herald_msg *m = simple_msg();
    herald_error *err = NULL;
    herald_class rc = send_msg(m, NULL, &err);
    expect_error(HERALD_ERR_DELIVERY_UNKNOWN, err, rc,
                 "may or may not have been delivered");
    cr_assert_not(herald_class_retryable(rc));
    cr_assert_not(herald_error_retryable(err));
    cr_assert_eq(stored(), 1);
    cr_assert_eq(connections(), 1);
    herald_error_free(err);
    herald_msg_free(m);
}

/* Found closed at the first command (RSET) of the next transaction:
 * nothing was accepted, so the driver reconnects once by itself (transport,
 * like libcurl's dead-connection check). */
Test(smtp, kept_connection_found_closed_at_the_first_command_is_reconnected)
{
    start_server("--mode plain --close-on-rset-after 1");
    open_channel("tls = none\n");
    herald_msg *m = simple_msg();
    send_ok(m);
    send_ok(m);
    cr_assert_eq(stored(), 2);
    cr_assert_eq(connections(), 2);
    cr_assert_eq(server_count(2), 2, "MAIL accepted %d times", server_count(2));
    struct rx rx;
    rx_read(2, &rx);
    cr_assert(rx_has(&rx, "connection 2"), "%s", rx.head);
    rx_free(&rx);
    herald_msg_free(m);
}

/* Dropped after MAIL was accepted: the transaction had started, so the
 * driver does not send again; it hands the core a retryable class. */
Test(smtp, kept_connection_dropped_after_mail_was_accepted_is_not_resent)
{
    start_server("--mode plain --close-on-rcpt-after 1");
    open_channel("tls = none\nretries = 0\n");   /* the driver's own call */
    herald_msg *m = simple_msg();
    send_ok(m);
    cr_assert_eq(server_count(2), 1);
    herald_error *err = NULL;
    herald_class rc = send_msg(m, NULL, &err);
    cr_assert_eq(rc, HERALD_ERR_CONNECT, "class %d: %s", rc,
                 herald_error_message(err));
    cr_assert(herald_class_retryable(rc));
    cr_assert(strstr(herald_error_message(err), "closed the connection"), "%s",
              herald_error_message(err));
    cr_assert_eq(server_count(2), 2, "the transaction started %d times, not "
                 "once more", server_count(2));
    cr_assert_eq(connections(), 1, "the driver opened a new connection to resend");
    cr_assert_eq(stored(), 1);
    herald_error_free(err);
    herald_msg_free(m);
}

/* The same on a kept connection: after the dot it must not be resent. */
Test(smtp, reused_connection_lost_after_the_final_dot_is_not_resent)
{
    start_server("--mode plain --pipelining --drop-after-data-on 2");
    open_channel("tls = none\n");
    herald_msg *m = simple_msg();
    send_ok(m);
    cr_assert_eq(connections(), 1);
    herald_error *err = NULL;
    herald_class rc = send_msg(m, NULL, &err);
    expect_error(HERALD_ERR_DELIVERY_UNKNOWN, err, rc,
                 "may or may not have been delivered");
    cr_assert(strstr(herald_error_message(err), "closed the connection"), "%s",
              herald_error_message(err));
    cr_assert_not(herald_error_retryable(err));
    cr_assert_eq(stored(), 2, "message 2 was sent again");
    cr_assert_eq(connections(), 1, "a new connection was opened for a resend");
    struct rx rx;
    rx_read(2, &rx);
    cr_assert(rx_has(&rx, "connection 1"), "%s", rx.head);
    rx_free(&rx);
    herald_error_free(err);
    /* the next message goes out on a new connection, once */
    send_ok(m);
    cr_assert_eq(stored(), 3);
    cr_assert_eq(connections(), 2);
    herald_msg_free(m);
}

/* ---- render and check ------------------------------------------------------ */

Test(smtp, render_shows_the_dialogue_with_the_secret_hidden)
{
    open_channel("host = 127.0.0.1\nport = 1\nusername = bob\npassword = hunter2\n"
                 "helo = client.example.com\n");
    herald_msg *m = simple_msg();
    herald_msg_add_bcc(m, "audit@example.com");
    herald_msg_set_text(m, "a\n.\nb\n");
    char *p = NULL;
    size_t len = 0;
    herald_error *err = NULL;
    cr_assert_eq(herald_render(ctx, "mail", m, &p, &len, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    cr_assert_eq(len, strlen(p));
    const char *expect_start = "EHLO client.example.com\r\nSTARTTLS\r\n"
                               "EHLO client.example.com\r\nAUTH PLAIN ***\r\n"
                               "MAIL FROM:<bot@example.com> SIZE=";
    cr_assert_eq(strncmp(p, expect_start, strlen(expect_start)), 0, "%s", p);
    cr_assert(strstr(p, "\r\nRCPT TO:<ops@example.com>\r\n"
                        "RCPT TO:<audit@example.com>\r\nDATA\r\n"), "%s", p);
    cr_assert(strstr(p, "\r\na\r\n..\r\nb\r\n"), "not dot-stuffed: %s", p);
    cr_assert(len > 11 && strcmp(p + len - 11, "\r\n.\r\nQUIT\r\n") == 0);
    cr_assert_null(strstr(p, "hunter2"));
    cr_assert_null(strstr(p, "aHVudGVyMg")); /* base64 of the password */
    cr_assert_null(strstr(p, "\nBcc:"), "Bcc header in the data");
    herald_free(p);
    herald_msg_free(m);
}

struct steps {
    char names[20][32];
    herald_check_status status[20];
    int n;
};

static void collect_step(const char *channel, const char *step, herald_check_status status,
                         double ms, const char *detail, const char *fix, void *user)
{
    (void)channel, (void)ms, (void)detail, (void)fix;
    struct steps *s = user;
    if (s->n < 20) {
        snprintf(s->names[s->n], sizeof s->names[0], "%s", step);
        s->status[s->n++] = status;
    }
}

static int step_status(const struct steps *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return (int)s->status[i];
    return -1;
}

Test(smtp, check_walks_every_step)
{
    start_server("--mode starttls --auth bob:s3cret");
    open_channel("ca_file = %s/ca.pem\nusername = bob\npassword = s3cret\n", certs);
    struct steps st = {0};
    herald_error *err = NULL;
    cr_assert_eq(herald_check(ctx, "mail", NULL, collect_step, &st, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    static const char *const want[] = {"resolve", "connect", "greeting", "ehlo",
                                       "starttls", "certificate", "ehlo after tls",
                                       "auth", "quit"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_eq(step_status(&st, want[i]), HERALD_CHECK_OK, "step %s: %d", want[i],
                     step_status(&st, want[i]));
    cr_assert_eq(stored(), 0);
}

Test(smtp, check_reports_the_failing_step)
{
    start_server("--mode starttls --auth bob:s3cret");
    open_channel("ca_file = %s/ca.pem\nusername = bob\npassword = nope\n", certs);
    struct steps st = {0};
    herald_error *err = NULL;
    expect_error(HERALD_ERR_AUTH, err, herald_check(ctx, "mail", NULL, collect_step, &st, &err),
                 "535");
    cr_assert_eq(step_status(&st, "starttls"), HERALD_CHECK_OK);
    cr_assert_eq(step_status(&st, "auth"), HERALD_CHECK_FAIL);
    cr_assert_eq(step_status(&st, "quit"), -1);
    cr_assert_eq(server_count(1), 1, "the check left without QUIT after the 535");
    herald_error_free(err);
}

Test(smtp, check_send_test_tries_the_envelope_without_delivering)
{
    start_server("--mode starttls --auth bob:s3cret --reject-rcpt nobody@example.com");
    open_channel("ca_file = %s/ca.pem\nusername = bob\npassword = s3cret\n", certs);
    struct steps st = {0};
    herald_error *err = NULL;
    const char *good[] = {"send_test", "ops@example.com", NULL};
    cr_assert_eq(herald_check(ctx, "mail", good, collect_step, &st, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    cr_assert_eq(step_status(&st, "sender"), HERALD_CHECK_OK);
    cr_assert_eq(step_status(&st, "recipient"), HERALD_CHECK_OK);
    cr_assert_eq(step_status(&st, "quit"), HERALD_CHECK_OK);

    struct steps st2 = {0};
    const char *bad[] = {"send_test", "nobody@example.com", NULL};
    expect_error(HERALD_ERR_RECIPIENT_REJECTED, err,
                 herald_check(ctx, "mail", bad, collect_step, &st2, &err), "nobody@example.com");
    cr_assert_eq(step_status(&st2, "sender"), HERALD_CHECK_OK);
    cr_assert_eq(step_status(&st2, "recipient"), HERALD_CHECK_FAIL);
    cr_assert_str_eq(herald_error_code(err), "550");
    cr_assert_eq(stored(), 0, "a check delivered something");
    herald_error_free(err);
}
