/* tests/plugins/smtp/test_smtp_security.c - the smtp driver against a hostile server
 * (tests/support/servers/hostile_smtp.py): the STARTTLS rules R1-R4, what reaches
 * the wire (R5, R6), credentials never in clear, and the diagnoses for a
 * wrong TLS mode and a blocked port.
 *
 * The server writes every line it receives to a capture file ("C: ..."),
 * every line it sends ("S: ..."), and events ("-- TLS handshake done --",
 * "-- VIOLATION ... --"); bytes outside printable ASCII appear as \xNN, so
 * a bare CR is "\x0d" and a bare LF "\x0a".  See the server's header.
 *
 * R6 is checked at every layer a CR, LF or NUL could come through: the
 * message setters, the config reader (helo, secrets from _file/_env), and
 * the driver's own guard, reached through a small host table below that
 * hands the driver option values and addresses no config file or setter
 * would let through.  (A NUL cannot reach the wire this way: every value
 * crosses the driver ABI as a NUL-terminated string, so it can only cut a
 * value short; secret files holding a NUL are refused by the config
 * reader.)
 *
 * The driver's session code is also linked into this test (the module
 * exports only its descriptor): with the same host table, a session is
 * opened on a configuration the driver's init refuses (credentials with
 * tls = none), so that the runtime guard behind that check is reached
 * too; and the EHLO name is picked for given host names and sockets.
 *
 * Also here: QUIT after a failure that leaves the session in step (535,
 * refused EHLO, 554 greeting, refused STARTTLS or MAIL FROM) and none after
 * a protocol or TLS desync; every loss after the final dot is
 * delivery_unknown; a truncated greeting and an over-long reply named as
 * such.
 *
 * HERALD_TEST_SHOW_WIRE=1 prints each test's capture to stderr. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <herald/herald.h>
#include <herald/plugin.h>
#include "internal.h"
#include "smtp.h"        /* the driver's session code, linked in */
#include "testutil.h"

static char *tmp;        /* private dir: certs and the capture file */
static char *capture;    /* the server's wire capture */
static struct tu_server srv;
static herald_ctx *ctx;

static void setup(void)
{
    tmp = tu_mkdtemp();
    cr_assert(tmp);
    capture = tu_printf("%s/capture", tmp);
}

static void teardown(void)
{
    herald_close(ctx);
    ctx = NULL;
    tu_server_stop(&srv);
    tu_rmrf(tmp);
    free(tmp);
    free(capture);
}

TestSuite(smtp_security, .init = setup, .fini = teardown, .timeout = 30);

/* ---- helpers --------------------------------------------------------- */

static int under_valgrind(void)
{
    const char *v = getenv("HERALD_TEST_VALGRIND");
    return v && *v && strcmp(v, "0") != 0;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* One P-256 key and certificate, NAME.key and NAME.pem in @dir, signed by
 * ca.pem/ca.key there (or self-signed when @ca is 0). */
static int make_cert(const char *dir, const char *name, const char *tmpl, int ca)
{
    char *t = tu_printf("%s.tmpl", name);
    char *path = tu_write_file(dir, t, tmpl);
    char *out = NULL;
    int rc = tu_run(&out,
        "cd '%s' && certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 "
        "--outfile %s.key && certtool %s --load-privkey %s.key --template %s.tmpl "
        "--outfile %s.pem", dir, name,
        ca ? "--generate-certificate --load-ca-certificate ca.pem --load-ca-privkey ca.key"
           : "--generate-self-signed", name, name, name);
    if (rc != 0)
        fprintf(stderr, "certtool failed for %s:\n%s\n", name, out ? out : "");
    free(out);
    free(path);
    free(t);
    return rc;
}

/* A test CA and a server certificate for localhost / 127.0.0.1 in @dir.
 * Not tu_make_certs(): its --sec-param=medium gives SECP224R1 keys, which
 * Python's ssl (OpenSSL 3) will not negotiate ("no shared cipher"). */
static int make_certs(const char *dir)
{
    int rc = make_cert(dir, "ca", "cn = herald test CA\nca\ncert_signing_key\n"
                       "expiration_days = 30\n", 0);
    return rc | make_cert(dir, "server", "cn = localhost\ndns_name = localhost\n"
                          "ip_address = 127.0.0.1\ntls_www_server\n"
                          "expiration_days = 30\n", 1);
}

/* Start the hostile server in @mode on @listen ("127.0.0.1", "::1");
 * with certificates when @tls. */
static void start_server_on(const char *listen, const char *mode, int tls)
{
    if (tls)
        cr_assert_eq(make_certs(tmp), 0, "certtool could not make certificates");
    char *certs = tls ? tu_printf("--cert '%s/server.pem' --key '%s/server.key'",
                                  tmp, tmp)
                      : tu_printf("%s", "");
    int rc = tu_server_start(&srv, "exec '%s' '%s/tests/support/servers/hostile_smtp.py' "
                             "--mode %s --listen %s --capture '%s' %s", tu_python(),
                             tu_srcdir(), mode, listen, capture, certs);
    free(certs);
    cr_assert_eq(rc, 0, "hostile_smtp.py --mode %s did not start", mode);
}

static void start_server(const char *mode, int tls)
{
    start_server_on("127.0.0.1", mode, tls);
}

/* Open a context with one smtp channel "mail" pointing at the server.
 * @extra is more "key = value" lines.  Returns herald_open_string()'s
 * class; *err_r gets its error. */
static herald_class open_channel(const char *extra, herald_error **err_r)
{
    char *conf = tu_printf(
        "[channel mail]\ndriver = smtp\nhost = 127.0.0.1\nport = %d\n"
        "from = Bot <bot@example.com>\nconnect_timeout = 1s\n"
        "greeting_timeout = 1s\ncommand_timeout = 2s\ndata_timeout = 2s\n%s",
        srv.port, extra ? extra : "");
    herald_class rc = herald_open_string(conf, "security.conf", 0, &ctx, err_r);
    free(conf);
    return rc;
}

/* The same, with ca_file set to the test CA. */
static herald_class open_tls_channel(const char *extra, herald_error **err_r)
{
    char *more = tu_printf("ca_file = %s/ca.pem\n%s", tmp, extra ? extra : "");
    herald_class rc = open_channel(more, err_r);
    free(more);
    return rc;
}

static herald_msg *simple_msg(const char *text)
{
    herald_msg *m = herald_msg_new();
    cr_assert(m);
    cr_assert_eq(herald_msg_add_to(m, "ops@example.com"), HERALD_OK);
    cr_assert_eq(herald_msg_set_subject(m, "security test"), HERALD_OK);
    cr_assert_eq(herald_msg_set_text(m, text), HERALD_OK);
    return m;
}

/* Send a one-line message on channel "mail". */
static herald_class send_text(const char *text, herald_error **err_r)
{
    herald_msg *m = simple_msg(text);
    herald_class rc = herald_send(ctx, "mail", m, NULL, err_r);
    herald_msg_free(m);
    return rc;
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    size_t len = strlen(needle);
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += len)
        n++;
    return n;
}

/* The capture once every connection the server saw is closed and fully
 * logged (waits up to 5 s; closes the context first, so the driver QUITs
 * and drops any kept connection).  Never NULL. */
static char *final_capture(void)
{
    herald_close(ctx);
    ctx = NULL;
    char *cap = NULL;
    for (int i = 0; i < 500; i++) {
        free(cap);
        cap = tu_read_file(capture, NULL);
        if (!cap)
            cap = tu_printf("%s", "");
        if (count_of(cap, "-- connect ") == count_of(cap, "-- close "))
            break;
        sleep_ms(10);
    }
    if (getenv("HERALD_TEST_SHOW_WIRE"))
        fprintf(stderr, "---- wire capture ----\n%s---- end ----\n", cap);
    return cap;
}

/* The capture once connection @n is closed and fully logged, with the
 * context left open: what the client did by itself (waits up to 5 s). */
static char *capture_when_closed(int n)
{
    char *mark = tu_printf("-- close %d --", n);
    char *cap = NULL;
    for (int i = 0; i < 500; i++) {
        free(cap);
        cap = tu_read_file(capture, NULL);
        if (!cap)
            cap = tu_printf("%s", "");
        if (strstr(cap, mark))
            break;
        sleep_ms(10);
    }
    free(mark);
    if (getenv("HERALD_TEST_SHOW_WIRE"))
        fprintf(stderr, "---- wire capture ----\n%s---- end ----\n", cap);
    return cap;
}

/* A wait that had to last @timeout_s (the configured timeout) took @took
 * seconds: not before it, and not unreasonably long after (a loose bound,
 * for two busy cores; none under valgrind). */
static void assert_waited(double took, double timeout_s)
{
    cr_assert(took >= timeout_s * 0.9, "gave up after %.2fs, before the %.1fs "
              "timeout", took, timeout_s);
    cr_assert(under_valgrind() || took < timeout_s * 5 + 5,
              "took %.2fs for a %.1fs timeout", took, timeout_s);
}

/* The part of @cap before the first TLS handshake (all of it when there
 * was none), as a new string. */
static char *before_tls(const char *cap)
{
    const char *m = strstr(cap, "-- TLS handshake done --");
    return m ? hx_strndup(cap, (size_t)(m - cap)) : hx_strdup(cap);
}

/* 1 when the capture has a client line starting with @prefix. */
static int client_sent(const char *cap, const char *prefix)
{
    char *needle = tu_printf("C: %s", prefix);
    int found = 0;
    for (const char *p = cap; !found && (p = strstr(p, needle)) != NULL; p++)
        found = p == cap || p[-1] == '\n';
    free(needle);
    return found;
}

static void assert_has(const char *text, const char *needle)
{
    cr_assert(text && strstr(text, needle), "expected \"%s\" in:\n%s", needle,
              text ? text : "(null)");
}

/* @needle in the error's message (what happened) or its fix. */
static void assert_has_err(const herald_error *err, const char *needle)
{
    const char *msg = herald_error_message(err), *fix = herald_error_fix(err);
    cr_assert((msg && strstr(msg, needle)) || (fix && strstr(fix, needle)),
              "expected \"%s\" in:\n%s\nfix: %s", needle, msg ? msg : "(null)",
              fix ? fix : "(none)");
}

static void assert_lacks(const char *text, const char *needle)
{
    cr_assert(!text || !strstr(text, needle), "did not expect \"%s\" in:\n%s",
              needle, text);
}

/* Nothing of an SMTP transaction or authentication in @part. */
static void assert_no_auth_or_mail(const char *part)
{
    cr_assert(!client_sent(part, "AUTH"), "AUTH went out:\n%s", part);
    cr_assert(!client_sent(part, "MAIL"), "MAIL went out:\n%s", part);
    cr_assert(!client_sent(part, "RCPT"), "RCPT went out:\n%s", part);
    cr_assert(!client_sent(part, "DATA"), "DATA went out:\n%s", part);
}

static void assert_class_in(herald_class got, herald_class a, herald_class b,
                            const herald_error *err)
{
    cr_assert(got == a || got == b, "class %d (%s), expected %s or %s: %s",
              got, herald_strerror(got), herald_strerror(a), herald_strerror(b),
              herald_error_message(err));
}

/* ---- R1: nothing buffered after the STARTTLS 220 ---------------------- */

/* The session must end right after the poisoned 220: no handshake and no
 * command at all after STARTTLS. */
static void check_r1(const char *mode)
{
    start_server(mode, 1);
    herald_error *err = NULL;
    cr_assert_eq(open_tls_channel("tls = starttls\nusername = bot\npassword = s3cret\n",
                                  &err), HERALD_OK, "%s", herald_error_message(err));
    herald_class rc = send_text("hello\n", &err);
    cr_assert_neq(rc, HERALD_OK, "the send succeeded after an injected reply");
    assert_class_in(rc, HERALD_ERR_PROTOCOL, HERALD_ERR_TLS, err);
    assert_has_err(err, "STARTTLS");
    char *cap = final_capture();
    assert_lacks(cap, "-- TLS handshake done --");
    const char *after = strstr(cap, "C: STARTTLS\n");
    cr_assert(after, "the client never sent STARTTLS:\n%s", cap);
    after += strlen("C: STARTTLS\n");
    /* out of step: not even a QUIT (its answer could never be trusted) */
    cr_assert_null(strstr(after, "C: "),
                   "the client went on after the poisoned 220:\n%s", cap);
    assert_no_auth_or_mail(cap);
    herald_error_free(err);
    free(cap);
}

Test(smtp_security, r1_injected_line_after_starttls_aborts_before_handshake)
{
    check_r1("r1-inject-line");
}

Test(smtp_security, r1_injected_fragment_after_starttls_aborts_before_handshake)
{
    check_r1("r1-inject-fragment");
}

/* ---- R2: capabilities from the post-TLS EHLO alone --------------------- */

Test(smtp_security, r2_auth_mechanism_comes_from_post_tls_ehlo)
{
    start_server("r2-auth-change", 1);
    herald_error *err = NULL;
    cr_assert_eq(open_tls_channel("username = bot\npassword = s3cret\n", &err),
                 HERALD_OK, "%s", herald_error_message(err));
    cr_assert_eq(send_text("hello\n", &err), HERALD_OK, "%s",
                 herald_error_message(err));
    char *cap = final_capture();
    char *clear = before_tls(cap);
    const char *tls = strstr(cap, "-- TLS handshake done --");
    cr_assert(tls, "no TLS handshake:\n%s", cap);
    cr_assert(client_sent(tls, "EHLO"), "no EHLO after STARTTLS:\n%s", cap);
    cr_assert(client_sent(tls, "AUTH LOGIN"),
              "the post-TLS list offers only LOGIN, yet:\n%s", cap);
    cr_assert(!client_sent(cap, "AUTH PLAIN"),
              "PLAIN came from the pre-TLS EHLO:\n%s", cap);
    assert_lacks(cap, "mechanism not offered");
    cr_assert(!client_sent(clear, "AUTH"), "AUTH before TLS:\n%s", cap);
    free(clear);
    free(cap);
}

Test(smtp_security, r2_pipelining_and_size_come_from_post_tls_ehlo)
{
    /* Before TLS the server offers PIPELINING and SIZE 100; after it, no
     * PIPELINING and SIZE 10485760.  A client that kept the old list would
     * refuse this ~300-byte message or pipeline MAIL/RCPT. */
    start_server("r2-auth-change", 1);
    herald_error *err = NULL;
    cr_assert_eq(open_tls_channel(NULL, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    herald_msg *m = simple_msg("a body that is longer than one hundred octets once "
                               "the headers are added to it\n");
    cr_assert_eq(herald_msg_add_to(m, "dev@example.org"), HERALD_OK);
    cr_assert_eq(herald_send(ctx, "mail", m, NULL, &err), HERALD_OK,
                 "the pre-TLS SIZE 100 was kept? %s", herald_error_message(err));
    herald_msg_free(m);
    char *cap = final_capture();
    const char *tls = strstr(cap, "-- TLS handshake done --");
    cr_assert(tls && client_sent(tls, "DATA"), "no transaction over TLS:\n%s", cap);
    assert_lacks(cap, "VIOLATION");
    free(cap);
}

/* ---- R3: STARTTLS required ------------------------------------------- */

static void check_r3(const char *mode, const char *tls_line)
{
    start_server(mode, 1);
    herald_error *err = NULL;
    char *extra = tu_printf("%susername = bot\npassword = s3cret\n", tls_line);
    cr_assert_eq(open_tls_channel(extra, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    free(extra);
    herald_class rc = send_text("hello\n", &err);
    assert_class_in(rc, HERALD_ERR_TLS, HERALD_ERR_PROTOCOL, err);
    assert_has_err(err, "STARTTLS");
    char *cap = final_capture();
    assert_lacks(cap, "-- TLS handshake done --");
    assert_no_auth_or_mail(cap);
    assert_lacks(cap, "s3cret");
    assert_lacks(herald_error_message(err), "s3cret");
    herald_error_free(err);
    free(cap);
}

Test(smtp_security, r3_missing_starttls_is_an_error_and_nothing_goes_out_in_clear)
{
    check_r3("r3-no-starttls", "tls = starttls\n");
}

Test(smtp_security, r3_starttls_is_required_by_default_on_other_ports)
{
    /* No tls option and a port other than 465: STARTTLS is required. */
    check_r3("r3-no-starttls", "");
}

Test(smtp_security, r3_refused_starttls_is_an_error_and_nothing_goes_out_in_clear)
{
    check_r3("r3-refuse-starttls", "tls = starttls\n");
}

/* ---- R4: nothing pipelined after STARTTLS ------------------------------ */

Test(smtp_security, r4_no_command_is_pipelined_after_starttls)
{
    start_server("r4-pipelining", 1);
    herald_error *err = NULL;
    cr_assert_eq(open_tls_channel("username = bot\npassword = s3cret\n", &err),
                 HERALD_OK, "%s", herald_error_message(err));
    cr_assert_eq(send_text("hello\n", &err), HERALD_OK, "%s",
                 herald_error_message(err));
    char *cap = final_capture();
    assert_has(cap, "-- nothing arrived after STARTTLS before the 220 --");
    assert_lacks(cap, "VIOLATION");
    const char *tls = strstr(cap, "-- TLS handshake done --");
    cr_assert(tls && client_sent(tls, "EHLO") && client_sent(tls, "MAIL"),
              "the session did not go on over TLS:\n%s", cap);
    free(cap);
}

/* ---- R5: what the DATA phase puts on the wire -------------------------- */

Test(smtp_security, r5_body_is_dot_stuffed_with_crlf_and_terminated)
{
    start_server("normal", 1);
    herald_error *err = NULL;
    cr_assert_eq(open_tls_channel(NULL, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    cr_assert_eq(send_text("a\n.\nb", &err), HERALD_OK, "%s",
                 herald_error_message(err));
    char *cap = final_capture();
    /* "a\r\n..\r\nb\r\n.\r\n": the lines a, .., b and the terminator. */
    assert_has(cap, "\nC: a\nC: ..\nC: b\nC: .\nS: 250 2.0.0 Ok: queued");
    assert_lacks(cap, "VIOLATION");
    assert_lacks(cap, "\\x0d");
    assert_lacks(cap, "\\x0a");
    assert_lacks(cap, "C~ ");
    free(cap);
}

Test(smtp_security, r5_no_bare_cr_or_lf_and_no_line_over_998_octets)
{
    start_server("normal", 1);
    herald_error *err = NULL;
    cr_assert_eq(open_tls_channel(NULL, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    char longline[3001];
    memset(longline, 'x', 3000);
    longline[3000] = '\0';
    char *text = tu_printf("bare\rcr, bare\nlf, crlf\r\nlone dot next\r\n.\r\n"
                           "..two dots\n.\n%s\nend\r", longline);
    herald_msg *m = simple_msg(text);
    cr_assert_eq(herald_msg_set_html(m, "<p>one\rtwo\nthree</p>\n.\n"), HERALD_OK);
    unsigned char bin[600];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i % 3 == 0 ? '\r' : i % 3 == 1 ? '\n' : '.');
    cr_assert_eq(herald_msg_attach_data(m, bin, sizeof bin, "crlf.bin", NULL),
                 HERALD_OK);
    cr_assert_eq(herald_send(ctx, "mail", m, NULL, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    herald_msg_free(m);
    free(text);
    char *cap = final_capture();
    assert_has(cap, "S: 250 2.0.0 Ok: queued");
    /* every line starting with a dot got one more, in text and html */
    assert_has(cap, "\nC: lone dot next\nC: ..\nC: ...two dots\nC: ..\n");
    assert_has(cap, "\nC: three</p>\nC: ..\n");
    assert_lacks(cap, "VIOLATION");   /* the server's own length/CR/LF check */
    assert_lacks(cap, "\\x0d");
    assert_lacks(cap, "\\x0a");
    assert_lacks(cap, "\\x00");
    assert_lacks(cap, "C~ ");
    /* and again by hand: no client line over 998 octets (an escape only
     * makes a logged line longer than the wire line) */
    for (const char *p = cap; (p = strstr(p, "C: ")) != NULL; ) {
        p += 3;
        size_t n = strcspn(p, "\n");
        cr_assert_leq(n, 998, "a line of %zu octets went out", n);
        p += n;
    }
    free(cap);
}

/* ---- R6: CR, LF or NUL never reach the wire ---------------------------- */

/* The layers in front of the driver: message setters, the config reader
 * for `helo`, and secrets read from _file and _env.  Each refuses with an
 * error naming the field, and no connection is ever made. */
Test(smtp_security, r6_setters_and_config_refuse_crlf_naming_the_field)
{
    start_server("normal", 1);
    herald_error *err = NULL;

    herald_msg *m = herald_msg_new();
    cr_assert_eq(herald_msg_add_to(m, "ops@example.com\r\nRCPT TO:<evil@example.net>"),
                 HERALD_ERR_INVALID_MESSAGE);
    cr_assert_eq(herald_msg_set_from(m, "bot@example.com\nX"), HERALD_ERR_INVALID_MESSAGE);
    herald_msg_set_text(m, "x");

    cr_assert_eq(open_tls_channel("helo = client.example\rMAIL FROM:<x@example.net>\n",
                                  &err), HERALD_ERR_CONFIG);
    assert_has_err(err, "helo");
    assert_has_err(err, "security.conf:");
    herald_error_free(err);
    err = NULL;

    char *pw = tu_write_file(tmp, "pw", "s3cret\nAUTH PLAIN evil\n");
    char *extra = tu_printf("username = bot\npassword_file = %s\n", pw);
    cr_assert_eq(open_tls_channel(extra, &err), HERALD_ERR_CONFIG);
    assert_has_err(err, "password_file");
    assert_lacks(herald_error_message(err), "s3cret");
    herald_error_free(err);
    err = NULL;
    free(extra);
    free(pw);

    char *nul = tu_printf("%s/pw-nul", tmp);
    FILE *f = fopen(nul, "wb");
    cr_assert(f);
    fwrite("s3cret\0\r\nQUIT\n", 1, 14, f);
    fclose(f);
    extra = tu_printf("username = bot\npassword_file = %s\n", nul);
    cr_assert_eq(open_tls_channel(extra, &err), HERALD_ERR_CONFIG);
    assert_has_err(err, "password_file");
    assert_has_err(err, "NUL");
    herald_error_free(err);
    err = NULL;
    free(extra);
    free(nul);

    setenv("HERALD_SEC_TOKEN", "tok\nen", 1);
    cr_assert_eq(open_tls_channel("xoauth2_token_env = HERALD_SEC_TOKEN\n", &err),
                 HERALD_ERR_CONFIG);
    assert_has_err(err, "xoauth2_token_env");
    assert_has_err(err, "line break");
    herald_error_free(err);
    err = NULL;

    /* and a channel that opens cannot get the bad message through */
    cr_assert_eq(open_tls_channel(NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert_eq(herald_send(ctx, "mail", m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    assert_has_err(err, "to display name");
    assert_has_err(err, "contains CR, LF");
    herald_error_free(err);
    herald_msg_free(m);

    char *cap = final_capture();
    assert_lacks(cap, "-- connect");
    free(cap);
}

/* The driver's own guard.  A host table like the core's, except that
 * option values and addresses come from the test unfiltered. */

struct herald_channel {
    struct hopts opts;
};

static const char *fake_opt_str(const herald_channel *ch, const char *name)
{
    const struct hopt_value *v = hopts_find(&ch->opts, name);
    return v ? v->str : NULL;
}

static long long fake_opt_int(const herald_channel *ch, const char *name)
{
    const struct hopt_value *v = hopts_find(&ch->opts, name);
    return v && v->str ? v->num : 0;
}

static int fake_opt_bool(const herald_channel *ch, const char *name)
{
    return fake_opt_int(ch, name) != 0;
}

static int fake_opt_isset(const herald_channel *ch, const char *name)
{
    const struct hopt_value *v = hopts_find(&ch->opts, name);
    return v ? v->set : 0;
}

static const char *fake_channel_name(const herald_channel *ch)
{
    (void)ch;
    return "mail";
}

static void fake_log(const herald_channel *ch, herald_log_level level,
                     const char *fmt, ...) HERALD_PRINTF(3, 4);
static void fake_log(const herald_channel *ch, herald_log_level level,
                     const char *fmt, ...)
{
    (void)ch;
    (void)level;
    (void)fmt;
}

static herald_class fake_error(herald_error **err_r, herald_class cls,
                               const char *code, const char *provider_text,
                               long retry_after, const char *fmt, ...)
    HERALD_PRINTF(6, 7);
static herald_class fake_error(herald_error **err_r, herald_class cls,
                               const char *code, const char *provider_text,
                               long retry_after, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hx_error_full(err_r, cls, code, provider_text, retry_after, fmt, ap);
    va_end(ap);
    return cls;
}

static void fake_report_step(herald_checker *chk, const char *step,
                             herald_check_status status, double elapsed_ms,
                             const char *detail, const char *fix)
{
    (void)chk, (void)step, (void)status, (void)elapsed_ms, (void)detail, (void)fix;
}

static void *fake_alloc(size_t size)
{
    return malloc(size ? size : 1);
}

static const herald_host fake_host = {
    .abi_major = HERALD_ABI_MAJOR,
    .abi_minor = HERALD_ABI_MINOR,
    .struct_size = sizeof(herald_host),
    .log = fake_log,
    .channel_name = fake_channel_name,
    .opt_str = fake_opt_str,
    .opt_int = fake_opt_int,
    .opt_bool = fake_opt_bool,
    .opt_isset = fake_opt_isset,
    .msg_get = hm_get,
    .msg_count = hm_count,
    .msg_address = hm_address,
    .msg_pair = hm_pair,
    .msg_item = hm_item,
    .msg_attachment = hm_attachment,
    .render_mime = hmime_render,
    .error = fake_error,
    .error_fix = hx_error_set_fix,
    .result_set_id = hx_result_set_id,
    .result_add_recipient = hx_result_add_recipient,
    .report_step = fake_report_step,
    .alloc = fake_alloc,
    .free = free,
};

/* Run the driver directly with options @kv ("key", "value", ..., NULL)
 * on @msg.  Returns the class of init, or of send when init succeeded;
 * *err_r gets the error. */
static herald_class run_driver(const char *const *kv, const herald_msg *msg,
                               herald_error **err_r)
{
    struct hl_driver *drv = NULL;
    herald_class rc = hl_open(NULL, "smtp", &drv, NULL, err_r);
    cr_assert_eq(rc, HERALD_OK, "cannot load the smtp driver: %s",
                 herald_error_message(*err_r));
    struct hconf_kv pairs[32];
    size_t n = 0;
    for (; kv[2 * n]; n++) {
        cr_assert_lt(n, 32);
        pairs[n] = (struct hconf_kv){(char *)kv[2 * n], (char *)kv[2 * n + 1],
                                     (unsigned)n + 2};
    }
    struct hconf_section sec = {(char *)"channel", (char *)"mail", 1, pairs, n};
    struct hconf conf = {(char *)"direct.conf", &sec, 1};
    const herald_option *const tables[] = {drv->desc->options, NULL};
    struct herald_channel ch;
    rc = hopts_resolve(&conf, &sec, tables, NULL, &ch.opts, err_r);
    cr_assert_eq(rc, HERALD_OK, "the driver's option table refused the "
                 "options: %s", herald_error_message(*err_r));
    void *state = NULL;
    rc = drv->desc->init(&fake_host, &ch, &state, err_r);
    if (rc == HERALD_OK) {
        herald_result *res = hx_result_new("mail", "smtp");
        rc = drv->desc->send(state, msg, res, err_r);
        herald_result_free(res);
        drv->desc->teardown(state);
    }
    hopts_free(&ch.opts);
    hl_close(drv);
    return rc;
}

/* A valid message whose sender and first recipient are replaced by
 * @from and @to (NULL keeps them) without any check.  @store holds the
 * replacement mailboxes. */
static herald_msg *raw_envelope(herald_msg *base, struct hm_mailbox store[2],
                                const char *from, const char *to)
{
    herald_msg *view = malloc(sizeof *view);
    cr_assert(view);
    *view = *base;
    store[0] = (struct hm_mailbox){(char *)from, NULL, (char *)from};
    store[1] = (struct hm_mailbox){(char *)to, NULL, (char *)to};
    if (from)
        view->from = &store[0];
    if (to)
        view->rcpt[HM_TO] = &store[1];
    return view;
}

/* Options for the driver pointing at the server, then @more pairs. */
static const char *const *direct_opts(const char *const *more)
{
    static const char *kv[64];
    static char port[16], ca[4096];
    snprintf(port, sizeof port, "%d", srv.port);
    snprintf(ca, sizeof ca, "%s/ca.pem", tmp);
    const char *base[] = {"host", "127.0.0.1", "port", port, "ca_file", ca,
                          "connect_timeout", "1s", "command_timeout", "2s", NULL};
    size_t n = 0;
    for (size_t i = 0; base[i]; i++)
        kv[n++] = base[i];
    for (size_t i = 0; more && more[i]; i++)
        kv[n++] = more[i];
    kv[n] = NULL;
    return kv;
}

/* After the driver refused: not one byte from the client on the wire. */
static void assert_nothing_sent(const char *what)
{
    char *cap = final_capture();
    cr_assert(!strstr(cap, "\nC: ") && !strstr(cap, "\nC~ "),
              "%s: the client sent something before refusing:\n%s", what, cap);
    free(cap);
}

static void assert_refused_naming(herald_class rc, const herald_error *err,
                                  const char *field, const char *what)
{
    cr_assert(rc == HERALD_ERR_CONFIG || rc == HERALD_ERR_INVALID_MESSAGE ||
              rc == HERALD_ERR_USAGE,
              "%s: expected a config/invalid-message error, got %d (%s): %s",
              what, rc, herald_strerror(rc), herald_error_message(err));
    assert_has_err(err, field);
}

Test(smtp_security, r6_driver_refuses_crlf_in_envelope_addresses)
{
    start_server("normal", 1);
    herald_msg *base = simple_msg("hello\n");
    cr_assert_eq(herald_msg_set_from(base, "bot@example.com"), HERALD_OK);
    struct {
        const char *from, *to, *what;
    } cases[] = {
        {"bot@example.com\r\nRCPT TO:<evil@example.net>", NULL, "CRLF in MAIL FROM"},
        {"bot@example.com\rX", NULL, "CR in MAIL FROM"},
        {NULL, "ops@example.com\nRCPT TO:<evil@example.net>", "LF in RCPT TO"},
        {NULL, "ops@example.com\r\nDATA", "CRLF in RCPT TO"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct hm_mailbox store[2];
        herald_msg *view = raw_envelope(base, store, cases[i].from, cases[i].to);
        herald_error *err = NULL;
        herald_class rc = run_driver(direct_opts(NULL), view, &err);
        cr_assert_neq(rc, HERALD_OK, "%s was sent", cases[i].what);
        assert_refused_naming(rc, err, "address", cases[i].what);
        /* the bad value is not echoed raw: that would inject into logs */
        assert_lacks(herald_error_message(err), "\r");
        assert_lacks(herald_error_message(err), "\n");
        herald_error_free(err);
        free(view);
    }
    assert_nothing_sent("bad envelope");
    herald_msg_free(base);
}

Test(smtp_security, r6_driver_refuses_crlf_in_helo_and_auth_values)
{
    start_server("normal", 1);
    herald_msg *m = simple_msg("hello\n");
    cr_assert_eq(herald_msg_set_from(m, "bot@example.com"), HERALD_OK);
    struct {
        const char *kv[7];
        const char *field, *what;
    } cases[] = {
        {{"helo", "client.example\r\nMAIL FROM:<x@example.net>", NULL}, "helo",
         "CRLF in helo"},
        {{"helo", "client.example\nX", NULL}, "helo", "LF in helo"},
        {{"username", "bot\r\nMAIL FROM:<x@example.net>", "password", "pw", NULL},
         "username", "CRLF in username"},
        {{"username", "bot", "password", "s3cret\nQUIT", NULL}, "password",
         "LF in password"},
        {{"username", "bot", "password", "s3cret\rX", "auth", "login", NULL},
         "password", "CR in password (LOGIN)"},
        {{"username", "bot", "xoauth2_token", "T0KEN\r\nQUIT", "auth", "xoauth2", NULL},
         "xoauth2_token", "CRLF in xoauth2_token"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        herald_error *err = NULL;
        herald_class rc = run_driver(direct_opts(cases[i].kv), m, &err);
        cr_assert_neq(rc, HERALD_OK, "%s was accepted", cases[i].what);
        assert_refused_naming(rc, err, cases[i].field, cases[i].what);
        assert_lacks(herald_error_message(err), "s3cret");
        assert_lacks(herald_error_message(err), "T0KEN");
        herald_error_free(err);
    }
    assert_nothing_sent("bad helo or auth value");
    herald_msg_free(m);
}

/* ---- credentials never in clear ---------------------------------------- */

Test(smtp_security, tls_none_never_sends_credentials)
{
    start_server("normal", 1);
    herald_error *err = NULL;
    herald_class rc = open_channel("tls = none\nusername = bot\npassword = s3cret\n",
                                   &err);
    if (rc == HERALD_OK)
        rc = send_text("hello\n", &err);
    cr_assert_neq(rc, HERALD_OK, "credentials were accepted with tls = none");
    assert_has_err(err, "without TLS");
    assert_lacks(herald_error_message(err), "s3cret");
    char *cap = final_capture();
    cr_assert(!client_sent(cap, "AUTH"), "AUTH went out in clear:\n%s", cap);
    assert_lacks(cap, "s3cret");
    assert_lacks(cap, "czNjcmV0");     /* base64("s3cret") */
    assert_lacks(cap, "AGJvdABzM2NyZXQ"); /* base64("\0bot\0s3cret") */
    herald_error_free(err);
    free(cap);
}

/* ---- the wrong TLS mode, and a blocked port: hints ---------------------- */

Test(smtp_security, silent_server_hints_tls_implicit)
{
    start_server("greeting-silent", 0);
    herald_error *err = NULL;
    cr_assert_eq(open_channel("tls = starttls\n", &err), HERALD_OK, "%s",
                 herald_error_message(err));
    double t0 = now_s();
    herald_class rc = send_text("hello\n", &err);
    double took = now_s() - t0;
    cr_assert_neq(rc, HERALD_OK);
    assert_has_err(err, "no greeting");
    assert_has_err(err, "tls = implicit");
    assert_waited(took, 1.0); /* greeting_timeout */
    herald_error_free(err);
}

Test(smtp_security, starttls_against_implicit_tls_port_hints_tls_implicit)
{
    start_server("tls-implicit-only", 1);
    herald_error *err = NULL;
    cr_assert_eq(open_tls_channel("tls = starttls\n", &err), HERALD_OK, "%s",
                 herald_error_message(err));
    herald_class rc = send_text("hello\n", &err);
    cr_assert_neq(rc, HERALD_OK);
    assert_has_err(err, "no greeting");
    assert_has_err(err, "tls = implicit");
    herald_error_free(err);
    char *cap = final_capture();
    assert_lacks(cap, "-- TLS handshake done --");
    free(cap);
}

Test(smtp_security, implicit_tls_against_plain_server_hints_tls_starttls)
{
    start_server("implicit-vs-plain", 0);
    herald_error *err = NULL;
    cr_assert_eq(open_channel("tls = implicit\n", &err), HERALD_OK, "%s",
                 herald_error_message(err));
    herald_class rc = send_text("hello\n", &err);
    cr_assert_eq(rc, HERALD_ERR_TLS, "class %d: %s", rc, herald_error_message(err));
    assert_has_err(err, "plain SMTP");
    assert_has_err(err, "tls = starttls");
    herald_error_free(err);
    char *cap = final_capture();
    cr_assert(!client_sent(cap, "EHLO") && !client_sent(cap, "MAIL"),
              "plain commands after a failed handshake:\n%s", cap);
    free(cap);
}

Test(smtp_security, implicit_tls_against_implicit_server_works)
{
    /* The control for the two tests above: the right mode succeeds. */
    start_server("tls-implicit-only", 1);
    herald_error *err = NULL;
    cr_assert_eq(open_tls_channel("tls = implicit\nusername = bot\npassword = s3cret\n",
                                  &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert_eq(send_text("hello\n", &err), HERALD_OK, "%s",
                 herald_error_message(err));
    char *cap = final_capture();
    const char *tls = strstr(cap, "-- TLS handshake done --");
    cr_assert(tls && strstr(cap, "-- connect 1 --\n-- TLS handshake done --"),
              "TLS did not start with the first byte:\n%s", cap);
    cr_assert(client_sent(tls, "AUTH") && client_sent(tls, "DATA"), "%s", cap);
    free(cap);
}

Test(smtp_security, connect_timeout_names_blocked_port_and_alternatives)
{
    start_server("backlog-full", 0);
    herald_error *err = NULL;
    cr_assert_eq(open_channel(NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    double t0 = now_s();
    herald_class rc = send_text("hello\n", &err);
    double took = now_s() - t0;
    cr_assert_eq(rc, HERALD_ERR_TIMEOUT, "class %d: %s", rc, herald_error_message(err));
    const char *msg = herald_error_message(err);
    char *where = tu_printf("no answer from 127.0.0.1:%d", srv.port);
    assert_has(msg, where);
    assert_has(msg, "blocked by cloud providers");
    assert_has(herald_error_fix(err), "587/465");
    assert_has(herald_error_fix(err), "mailgun");
    cr_assert(herald_class_retryable(rc));
    assert_waited(took, 1.0); /* connect_timeout */
    free(where);
    herald_error_free(err);
}

/* ---- the runtime guard: no AUTH without TLS ---------------------------- */

/* The driver's init refuses credentials with tls = none; behind that
 * check, auth.c refuses again on a connection without TLS.  Here the
 * session code runs on the stand-in host table with exactly the
 * configuration init would refuse, against a server that offers AUTH in
 * clear text: the session stops at AUTH, nothing of it reaches the wire,
 * and the session still ends with QUIT. */
Test(smtp_security, runtime_guard_refuses_auth_without_tls)
{
    start_server("normal", 0);
    struct herald_channel ch;
    memset(&ch, 0, sizeof ch);
    struct smtp *s = calloc(1, sizeof *s);
    cr_assert(s);
    s->host = &fake_host;
    s->ch = &ch;
    s->cfg.host = (char *)"127.0.0.1";
    s->cfg.port = srv.port;
    s->cfg.tls = SMTP_TLS_NONE;
    s->cfg.tls_explicit = 1;
    s->cfg.username = (char *)"bot";
    s->cfg.password = (char *)"s3cret";
    s->cfg.connect_ms = s->cfg.greeting_ms = s->cfg.command_ms = 2000;
    s->cfg.data_ms = s->cfg.idle_ms = 2000;
    s->cfg.max_messages = 1;
    snprintf(s->where, sizeof s->where, "127.0.0.1:%d", srv.port);
    struct smtp_conn *c = malloc(sizeof *c);
    cr_assert(c);
    net_init(c);
    herald_class rc = smtp_open(s, c);
    cr_assert_eq(rc, HERALD_ERR_CONFIG, "class %d: %s", rc,
                 s->err.msg ? s->err.msg : "(no message)");
    assert_has(s->err.msg, "refusing to send credentials");
    assert_has(s->err.msg, "without TLS");
    assert_lacks(s->err.msg, "s3cret");
    smtp_quit(s, c);
    smtp_err_clear(s);
    free(c);
    free(s);
    char *cap = final_capture();
    cr_assert(client_sent(cap, "EHLO"), "the session never got to AUTH:\n%s", cap);
    assert_has(cap, "AUTH PLAIN LOGIN");   /* offered, in clear text */
    cr_assert(!client_sent(cap, "AUTH"), "AUTH went out in clear:\n%s", cap);
    assert_lacks(cap, "s3cret");
    assert_lacks(cap, "czNjcmV0");          /* base64("s3cret") */
    assert_lacks(cap, "AGJvdABzM2NyZXQ");   /* base64("\0bot\0s3cret") */
    assert_lacks(cap, "Ym90");              /* base64("bot"), AUTH LOGIN */
    cr_assert(client_sent(cap, "QUIT"), "%s", cap);
    free(cap);
}

/* ---- QUIT after a failure that leaves the session in step -------------- */

/* Send on a fresh channel (with @extra) against @mode; the class, and the
 * capture of connection 1 once the client closed it by itself. */
static herald_class fail_and_capture(const char *mode, int tls, const char *extra,
                                     herald_error **err_r, char **cap_r)
{
    start_server(mode, tls);
    herald_class rc = tls ? open_tls_channel(extra, err_r) : open_channel(extra, err_r);
    cr_assert_eq(rc, HERALD_OK, "%s", herald_error_message(*err_r));
    rc = send_text("hello\n", err_r);
    *cap_r = capture_when_closed(1);
    return rc;
}

/* @cap has the client's QUIT after @after, answered by the server's 221. */
static void assert_quit_after(const char *cap, const char *after)
{
    const char *p = strstr(cap, after);
    cr_assert(p, "no \"%s\" in:\n%s", after, cap);
    cr_assert(strstr(p, "\nC: QUIT\nS: 221 "), "no QUIT after \"%s\" (the server "
              "would log a lost connection):\n%s", after, cap);
}

/* Ready for the next server in the same test. */
static void reset_server(void)
{
    herald_close(ctx);
    ctx = NULL;
    tu_server_stop(&srv);
    unlink(capture);
}

Test(smtp_security, quit_after_failures_that_leave_the_session_in_step)
{
    static const char creds[] = "username = bot\npassword = s3cret\n";
    static const struct {
        const char *mode;
        int tls;
        const char *extra;
        herald_class cls;
        const char *after;     /* the failure, in the capture */
    } cases[] = {
        {"auth-reject", 1, creds, HERALD_ERR_AUTH, "S: 535 "},
        {"ehlo-reject", 0, "tls = none\n", HERALD_ERR_PERMANENT, "C: HELO "},
        /* RFC 5321 3.1: a server greeting with 554 waits for the QUIT */
        {"greeting-554", 0, "tls = none\n", HERALD_ERR_PERMANENT, "S: 554 "},
        {"r3-refuse-starttls", 1, creds, HERALD_ERR_TLS, "S: 454 "},
        {"r3-no-starttls", 1, creds, HERALD_ERR_TLS, "C: EHLO "},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        herald_error *err = NULL;
        char *cap = NULL;
        herald_class rc = fail_and_capture(cases[i].mode, cases[i].tls,
                                           cases[i].extra, &err, &cap);
        cr_assert_eq(rc, cases[i].cls, "%s: %d: %s", cases[i].mode, rc,
                     herald_error_message(err));
        assert_quit_after(cap, cases[i].after);
        assert_no_auth_or_mail(strstr(cap, cases[i].after));
        if (rc == HERALD_ERR_TLS) /* STARTTLS refused or missing: all in clear */
            assert_lacks(cap, "-- TLS handshake done --");
        herald_error_free(err);
        free(cap);
        reset_server();
    }
}

Test(smtp_security, quit_after_rejected_sender_on_the_kept_session)
{
    start_server("mail-reject", 0);
    herald_error *err = NULL;
    cr_assert_eq(open_channel("tls = none\n", &err), HERALD_OK, "%s",
                 herald_error_message(err));
    herald_class rc = send_text("hello\n", &err);
    cr_assert_eq(rc, HERALD_ERR_SENDER_REJECTED, "%d: %s", rc,
                 herald_error_message(err));
    cr_assert_str_eq(herald_error_code(err), "553");
    char *cap = final_capture(); /* closing the context ends the kept session */
    assert_quit_after(cap, "S: 553 ");
    cr_assert(!client_sent(strstr(cap, "S: 553 "), "C: ."), "%s", cap);
    herald_error_free(err);
    free(cap);
}

/* After a desync (a garbled reply, a failed TLS handshake) the client
 * closes without QUIT: its answer could not be trusted, and none may come. */
Test(smtp_security, no_quit_after_a_garbled_reply_or_a_broken_handshake)
{
    static const struct {
        const char *mode;
        int tls;
        const char *extra;
        herald_class cls;
    } cases[] = {
        {"garbage-ehlo", 0, "tls = none\n", HERALD_ERR_PROTOCOL},
        {"tls-garbage", 1, NULL, HERALD_ERR_TLS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        herald_error *err = NULL;
        char *cap = NULL;
        double t0 = now_s();
        herald_class rc = fail_and_capture(cases[i].mode, cases[i].tls,
                                           cases[i].extra, &err, &cap);
        double took = now_s() - t0;
        cr_assert_eq(rc, cases[i].cls, "%s: %d: %s", cases[i].mode, rc,
                     herald_error_message(err));
        const char *silent = strstr(cap, "-- silent from now on --");
        cr_assert(silent, "%s", cap);
        cr_assert_null(strstr(silent, "C: "), "the client went on after the "
                       "desync:\n%s", cap);
        assert_has(cap, "-- close 1 --");
        /* loose: nothing is waited for after the desync (command_timeout 2s) */
        cr_assert(under_valgrind() || took < 10, "it took %.1fs", took);
        herald_error_free(err);
        free(cap);
        reset_server();
    }
}

/* ---- after the final dot: delivery unknown ------------------------------ */

/* One message against @mode: its class; the server got it exactly once
 * and no second connection was made. */
static herald_class after_dot(const char *mode, herald_error **err_r)
{
    start_server(mode, 0);
    herald_class rc = open_channel("tls = none\n", err_r);
    cr_assert_eq(rc, HERALD_OK, "%s", herald_error_message(*err_r));
    rc = send_text("hello\n", err_r);
    char *cap = final_capture();
    cr_assert_eq(count_of(cap, "\nC: .\n"), 1, "%s", cap); /* final dots */
    cr_assert_eq(count_of(cap, "-- connect "), 1, "%s", cap);
    free(cap);
    return rc;
}

static void assert_delivery_unknown(herald_class rc, const herald_error *err,
                                    const char *why)
{
    cr_assert_eq(rc, HERALD_ERR_DELIVERY_UNKNOWN, "%d (%s): %s", rc,
                 herald_strerror(rc), herald_error_message(err));
    assert_has_err(err, "may or may not have been delivered");
    assert_has_err(err, why);
    cr_assert_not(herald_class_retryable(rc));
    cr_assert_not(herald_error_retryable(err));
}

Test(smtp_security, lost_or_odd_answer_to_the_final_dot_is_delivery_unknown)
{
    static const struct {
        const char *mode, *why;
    } cases[] = {
        {"dot-garbage", "thanks, got it"},   /* not an SMTP reply */
        {"dot-silent", "data_timeout"},      /* no reply */
        {"dot-354", "354"},                  /* neither accepted nor refused */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        herald_error *err = NULL;
        herald_class rc = after_dot(cases[i].mode, &err);
        assert_delivery_unknown(rc, err, cases[i].why);
        herald_error_free(err);
        reset_server();
    }
}

Test(smtp_security, connection_lost_before_the_dot_stays_retryable)
{
    start_server("data-drop", 0);
    herald_error *err = NULL;
    cr_assert_eq(open_channel("tls = none\n", &err), HERALD_OK, "%s",
                 herald_error_message(err));
    herald_class rc = send_text("hello\n", &err);
    cr_assert_eq(rc, HERALD_ERR_CONNECT, "%d: %s", rc, herald_error_message(err));
    cr_assert(herald_class_retryable(rc));
    assert_lacks(herald_error_message(err), "may or may not");
    herald_error_free(err);
}

/* ---- a truncated greeting, an over-long reply --------------------------- */

Test(smtp_security, greeting_without_crlf_is_no_implicit_tls_hint)
{
    herald_error *err = NULL;
    char *cap = NULL;
    herald_class rc = fail_and_capture("greeting-no-crlf", 0, "tls = starttls\n",
                                       &err, &cap);
    cr_assert_eq(rc, HERALD_ERR_PROTOCOL, "%d: %s", rc, herald_error_message(err));
    assert_has_err(err, "truncated greeting \"220 hostile.test "
               "ESMTP\" without a line end");
    assert_has_err(err, "greeting_timeout");
    assert_lacks(herald_error_message(err), "implicit");
    herald_error_free(err);
    free(cap);
}

Test(smtp_security, reply_over_500_lines_is_named_too_long)
{
    herald_error *err = NULL;
    char *cap = NULL;
    herald_class rc = fail_and_capture("ehlo-long", 0, "tls = none\n", &err, &cap);
    cr_assert_eq(rc, HERALD_ERR_PROTOCOL, "%d: %s", rc, herald_error_message(err));
    assert_has_err(err, "answered EHLO with a reply too long "
               "(600 lines, limit 500)");
    assert_lacks(herald_error_message(err), "not an SMTP reply");
    herald_error_free(err);
    free(cap);
}

/* ---- the EHLO name ------------------------------------------------------ */

/* A connected TCP socket to a listener on @ip (the listener is closed). */
static int connected_socket(const char *ip)
{
    struct sockaddr_storage sa;
    memset(&sa, 0, sizeof sa);
    socklen_t len;
    int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    if (family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
        a->sin6_family = AF_INET6;
        cr_assert_eq(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&sa;
        a->sin_family = AF_INET;
        cr_assert_eq(inet_pton(AF_INET, ip, &a->sin_addr), 1);
        len = sizeof *a;
    }
    int l = socket(family, SOCK_STREAM, 0);
    cr_assert(l >= 0);
    cr_assert_eq(bind(l, (struct sockaddr *)&sa, len), 0, "bind %s", ip);
    cr_assert_eq(listen(l, 1), 0);
    cr_assert_eq(getsockname(l, (struct sockaddr *)&sa, &len), 0);
    int c = socket(family, SOCK_STREAM, 0);
    cr_assert_eq(connect(c, (struct sockaddr *)&sa, len), 0, "connect %s", ip);
    close(l);
    return c;
}

static void expect_helo(const char *name, int fd, const char *want)
{
    char out[256];
    smtp_helo_pick(name, fd, out, sizeof out);
    cr_assert_str_eq(out, want, "host name \"%s\"", name ? name : "(null)");
}

Test(smtp_security, ehlo_name_is_the_fqdn_else_the_local_address_literal)
{
    int v4 = connected_socket("127.0.0.1");
    expect_helo("mail.example.org", v4, "mail.example.org");
    expect_helo("a.b", v4, "a.b");
    static const char *const not_fqdn[] = {
        "vm", "localhost", "localhost.localdomain", "LOCALHOST", "box.localdomain",
        "trailing.", ".leading", "", "bad name.example", NULL};
    for (size_t i = 0; not_fqdn[i]; i++)
        expect_helo(not_fqdn[i], v4, "[127.0.0.1]");
    expect_helo(NULL, v4, "[127.0.0.1]");
    int v6 = connected_socket("::1");
    expect_helo("vm", v6, "[IPv6:::1]");
    expect_helo("mail.example.org", v6, "mail.example.org");
    expect_helo("vm", -1, "[local-address]");
    close(v4);
    close(v6);
}

/* What the server saw after "EHLO "; the machine's own FQDN when it has
 * one, else the address literal @literal; never "localhost". */
static void check_default_ehlo(const char *listen, const char *host,
                               const char *literal)
{
    start_server_on(listen, "normal", 0);
    char *conf = tu_printf("[channel mail]\ndriver = smtp\nhost = %s\nport = %d\n"
                           "tls = none\nfrom = bot@example.com\n"
                           "command_timeout = 2s\n", host, srv.port);
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(conf, "helo.conf", 0, &ctx, &err), HERALD_OK,
                 "%s", herald_error_message(err));
    free(conf);
    cr_assert_eq(send_text("hello\n", &err), HERALD_OK, "%s",
                 herald_error_message(err));
    char *cap = final_capture();
    const char *p = strstr(cap, "\nC: EHLO ");
    cr_assert(p, "%s", cap);
    p += strlen("\nC: EHLO ");
    char *name = hx_strndup(p, strcspn(p, "\n"));
    char out[256];
    smtp_helo_pick(name, -1, out, sizeof out);
    int fqdn = strcmp(out, name) == 0; /* a name the rule keeps */
    cr_assert(fqdn || strcmp(name, literal) == 0, "EHLO %s: neither a fully "
              "qualified name nor %s:\n%s", name, literal, cap);
    free(name);
    free(cap);
}

Test(smtp_security, default_ehlo_is_not_localhost_over_ipv4)
{
    check_default_ehlo("127.0.0.1", "127.0.0.1", "[127.0.0.1]");
}

Test(smtp_security, default_ehlo_is_not_localhost_over_ipv6)
{
    check_default_ehlo("::1", "::1", "[IPv6:::1]");
}

/* The EHLO argument the CLI sends from a machine named @hostname: the CLI
 * runs in a user and UTS namespace of its own (unshare -Ur --uts), where
 * the host name can be set without privileges.  Malloc'd. */
static char *ehlo_from_host_named(const char *hostname)
{
    start_server("normal", 0);
    char *conf = tu_printf("[channel mail]\ndriver = smtp\nhost = 127.0.0.1\n"
                           "port = %d\ntls = none\nfrom = bot@example.com\n"
                           "command_timeout = 2s\n", srv.port);
    char *path = tu_write_file(tmp, "ns.conf", conf);
    char *out = NULL;
    int rc = tu_run(&out, "unshare -Ur --uts sh -c 'hostname %s && exec \"$0\" -c "
                    "\"$1\" send --channel mail --to ops@example.com --subject s "
                    "--text t' '%s' '%s' 2>&1", hostname, tu_cli(), path);
    cr_assert_eq(rc, 0, "herald send as %s failed:\n%s", hostname, out);
    char *cap = final_capture();
    const char *p = strstr(cap, "\nC: EHLO ");
    cr_assert(p, "%s", cap);
    p += strlen("\nC: EHLO ");
    char *name = hx_strndup(p, strcspn(p, "\n"));
    tu_server_stop(&srv);
    unlink(capture);
    free(cap);
    free(out);
    free(path);
    free(conf);
    return name;
}

Test(smtp_security, ehlo_name_follows_the_host_name)
{
    if (tu_run(NULL, "unshare -Ur --uts true 2>/dev/null") != 0)
        cr_skip_test("no unprivileged user namespaces here (unshare -Ur --uts)");
    char *name = ehlo_from_host_named("mail.example.org");
    cr_assert_str_eq(name, "mail.example.org");
    free(name);
    name = ehlo_from_host_named("localhost"); /* no FQDN: the address literal */
    cr_assert_str_eq(name, "[127.0.0.1]");
    free(name);
}
