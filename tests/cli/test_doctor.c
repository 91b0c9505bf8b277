/* tests/cli/test_doctor.c - `herald doctor`, run as a separate process: the
 * probe test driver (a check hook that reports dns OK and connect FAIL and
 * echoes send_test), maildir (no hook), broken and unknown channels, and,
 * when the smtp driver is built, a real aiosmtpd and a refused port.
 * With the same servers: `herald send` exit statuses (68, 69, 75, 76, 77)
 * from real failures, and the escaping of what hostile servers answer
 * (tests/support/servers/rude_smtp.py, providers.py). */
#include "config.h"
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <herald/herald.h>

#include "testutil.h"

static char *tmp;     /* private directory of this test */
static char *conf;    /* tmp/h.conf: "m" (maildir), then "p" (probe) */

static const char conf_fmt[] =
    "[channel m]\n"
    "driver = maildir\n"
    "path = %s/Maildir\n"
    "fsync = no\n"
    "from = Bot <bot@example.com>\n"
    "\n"
    "[channel p]\n"
    "driver = probe\n";

static void setup(void)
{
    tmp = tu_mkdtemp();
    cr_assert_not_null(tmp);
    char *text = tu_printf(conf_fmt, tmp);
    conf = tu_write_file(tmp, "h.conf", text);
    free(text);
    cr_assert_not_null(conf);
    /* Running the binary by hand: find the built drivers anyway. */
    char *path = tu_printf("%s:%s/tests/support/drivers/.libs",
                           tu_plugin_dir(), tu_builddir());
    setenv("HERALD_PLUGIN_PATH", path, 0);
    free(path);
    setenv("HERALD_CONFIG", "/nonexistent", 1);
    char *xdg = tu_printf("%s/xdg-empty", tmp);
    setenv("XDG_CONFIG_HOME", xdg, 1);
    free(xdg);
}

static void teardown(void)
{
    tu_rmrf(tmp);
    free(tmp);
    free(conf);
}

TestSuite(doctor, .init = setup, .fini = teardown, .timeout = 20);

/* Run `herald -c CONFIG doctor ARGS`; stdout and stderr land in *out_r. */
static int doctor(char **out_r, const char *config, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int doctor(char **out_r, const char *config, const char *fmt, ...)
{
    va_list ap;
    char *args = NULL;
    va_start(ap, fmt);
    if (vasprintf(&args, fmt, ap) < 0)
        args = NULL;
    va_end(ap);
    cr_assert_not_null(args);
    int rc = tu_run(out_r, "'%s' -c '%s' doctor %s", tu_cli(), config, args);
    free(args);
    return rc;
}

/* The output line reporting STEP of CHANNEL with STATUS (the text output
 * is "CHANNEL  STEP ....  N ms  STATUS  detail"), as a malloc'd string
 * without its newline; NULL when there is none. */
static char *step_line(const char *out, const char *channel, const char *step,
                       const char *status)
{
    char *word = tu_printf("  %-4s  ", status);
    char *found = NULL;
    size_t cn = strlen(channel), sn = strlen(step);
    for (const char *l = out; l && *l && !found; l = strchr(l, '\n'),
         l = l ? l + 1 : NULL) {
        size_t len = strcspn(l, "\n");
        const char *p = l + cn;
        if (strncmp(l, channel, cn) != 0 || *p != ' ')
            continue;
        p += strspn(p, " ");
        if (strncmp(p, step, sn) != 0 || p[sn] != ' ')
            continue;
        char *line = strndup(l, len);
        if (strstr(line, word))
            found = line;
        else
            free(line);
    }
    free(word);
    return found;
}

/* The line after the first line of @out that contains @needle. */
static char *line_after(const char *out, const char *needle)
{
    const char *p = strstr(out, needle);
    p = p ? strchr(p, '\n') : NULL;
    return p ? strndup(p + 1, strcspn(p + 1, "\n")) : NULL;
}

/* Run a Python snippet on the JSON file @file; its output in *out_r. */
static int json_check(char **out_r, const char *file, const char *py)
{
    return tu_run(out_r, "'%s' -c '%s' < '%s'", tu_python(), py, file);
}

/* ---------------------------------------------------------------- help */

Test(doctor, help_names_the_options_and_exit_status)
{
    static const char *const ways[] = {"doctor --help", "help doctor",
                                       "doctor -h"};
    for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
        char *out;
        cr_expect_eq(tu_run(&out, "'%s' %s", tu_cli(), ways[i]), 0, "%s",
                     ways[i]);
        cr_expect(strstr(out, "Usage: herald doctor [CHANNEL...]"), "%s", out);
        cr_expect(strstr(out, "--send-test ADDR"), "%s", out);
        cr_expect(strstr(out, "--json"), "%s", out);
        cr_expect(strstr(out, "69"), "%s", out);
        free(out);
    }
    char *out;
    cr_expect_eq(tu_run(&out, "'%s' --help", tu_cli()), 0);
    cr_expect(strstr(out, "doctor [CHANNEL...]"), "top-level help: %s", out);
    cr_expect(strstr(out, "doctor: a channel is not healthy"), "%s", out);
    free(out);
}

Test(doctor, usage_errors_exit_64)
{
    char *out;
    cr_expect_eq(doctor(&out, conf, "--bogus"), 64, "%s", out);
    cr_expect(strstr(out, "unknown option '--bogus'"), "%s", out);
    cr_expect(strstr(out, "try 'herald doctor --help'"), "%s", out);
    free(out);
    cr_expect_eq(doctor(&out, conf, "--send-test"), 64, "%s", out);
    cr_expect(strstr(out, "'--send-test' needs an argument"), "%s", out);
    free(out);
    cr_expect_eq(doctor(&out, conf, "m --send-test nobody"), 64, "%s", out);
    cr_expect(strstr(out, "expected an email address"), "%s", out);
    free(out);
}

Test(doctor, missing_config_exits_78)
{
    char *out;
    int rc = tu_run(&out, "'%s' doctor", tu_cli());
    cr_expect_eq(rc, 78, "%s", out);
    cr_expect(strstr(out, "no config file found"), "%s", out);
    free(out);
}

Test(doctor, config_without_channels_exits_78)
{
    char *path = tu_write_file(tmp, "empty.conf", "[herald]\n");
    char *out;
    cr_expect_eq(doctor(&out, path, " "), 78, "%s", out);
    cr_expect(strstr(out, "defines no channels"), "%s", out);
    free(out);
    free(path);
}

/* ---------------------------------------------------------------- text */

Test(doctor, maildir_without_hook_is_healthy)
{
    char *out;
    int rc = doctor(&out, conf, "m");
    cr_expect_eq(rc, 0, "%s", out);
    /* The whole line, to pin the format. */
    cr_expect(strstr(out, "m  config .............      0 ms  OK    "
                          "config valid, driver loads\n"), "%s", out);
    cr_expect(strstr(out, "m  healthy: 1 check passed in "), "%s", out);
    cr_expect_null(strstr(out, "FAIL"), "%s", out);
    free(out);
}

Test(doctor, probe_failure_shows_time_cause_and_fix_and_exits_69)
{
    char *out;
    int rc = doctor(&out, conf, "p");
    cr_expect_eq(rc, 69, "%s", out);
    char *dns = step_line(out, "p", "dns", "OK");
    cr_expect_not_null(dns, "dns OK line: %s", out);
    cr_expect(dns && strstr(dns, "resolves to 127.0.0.1"), "%s", dns);
    char *conn = step_line(out, "p", "connect", "FAIL");
    cr_expect_not_null(conn, "connect FAIL line: %s", out);
    cr_expect(conn && strstr(conn, " 3000 ms  FAIL  no answer in 3s"), "%s",
              conn);
    /* The fix comes right under the failed step, indented. */
    char *next = line_after(out, "no answer in 3s");
    cr_expect_str_eq(next ? next : "", "     fix: use an HTTP API driver");
    cr_expect(strstr(out, "p  NOT HEALTHY: 1 of 2 checks failed (connect)\n"),
              "%s", out);
    /* dns is reported before connect, in the driver's order. */
    cr_expect(strstr(out, "dns") < strstr(out, "connect"), "%s", out);
    cr_expect_null(strstr(out, "send_test"), "no --send-test: %s", out);
    free(next);
    free(conn);
    free(dns);
    free(out);
}

Test(doctor, all_channels_in_config_order_by_default)
{
    char *out;
    int rc = doctor(&out, conf, " ");
    cr_expect_eq(rc, 69, "the probe channel is not healthy: %s", out);
    char *m = step_line(out, "m", "config", "OK");
    char *p = step_line(out, "p", "connect", "FAIL");
    cr_expect_not_null(m, "%s", out);
    cr_expect_not_null(p, "%s", out);
    cr_expect(strstr(out, "m  healthy") < strstr(out, "p  dns"),
              "m is checked before p: %s", out);
    cr_expect(strstr(out, "\n1 of 2 channels healthy; not healthy: p\n"),
              "%s", out);
    free(m);
    free(p);
    free(out);
}

Test(doctor, exit_status_follows_the_channels_named)
{
    char *out;
    cr_expect_eq(doctor(&out, conf, "m"), 0, "%s", out);
    free(out);
    cr_expect_eq(doctor(&out, conf, "m p"), 69, "%s", out);
    free(out);
    cr_expect_eq(doctor(&out, conf, "p m"), 69, "%s", out);
    cr_expect(strstr(out, "p  dns") < strstr(out, "m  config"),
              "named order: %s", out);
    free(out);
}

Test(doctor, a_channel_named_twice_is_checked_once)
{
    char *out;
    cr_expect_eq(doctor(&out, conf, "m m"), 0, "%s", out);
    const char *first = strstr(out, "m  config");
    cr_expect_not_null(first, "%s", out);
    cr_expect_null(first ? strstr(first + 1, "m  config") : NULL, "%s", out);
    free(out);
}

Test(send, send_test_reaches_the_driver)
{
    char *out;
    int rc = doctor(&out, conf, "p --send-test ann@example.com");
    cr_expect_eq(rc, 69, "%s", out);
    char *line = step_line(out, "p", "send_test", "OK");
    cr_expect_not_null(line, "%s", out);
    cr_expect(line && strstr(line, "ann@example.com"), "%s", line);
    free(line);
    free(out);
}

Test(doctor, quiet_prints_only_problems)
{
    char *out;
    int rc = doctor(&out, conf, "-q");
    cr_expect_eq(rc, 69, "%s", out);
    cr_expect_null(strstr(out, "  OK  "), "no OK lines with -q: %s", out);
    cr_expect_null(strstr(out, "passed"), "%s", out);
    cr_expect(strstr(out, "p  NOT HEALTHY"), "%s", out);
    cr_expect(strstr(out, "FAIL  no answer in 3s"), "%s", out);
    cr_expect(strstr(out, "fix: use an HTTP API driver"), "%s", out);
    free(out);
    cr_expect_eq(doctor(&out, conf, "-q m"), 0);
    cr_expect_str_eq(out, "");
    free(out);
}

/* ---------------------------------------------------------------- broken */

Test(doctor, broken_channel_fails_config_with_file_line_and_fix)
{
    char *text = tu_printf(conf_fmt, tmp);
    char *more = tu_printf("%s\n[channel bad]\ndriver = maildir\n"
                           "path = %s/M2\ncolour = blue\n", text, tmp);
    char *path = tu_write_file(tmp, "broken.conf", more);
    char *out;
    int rc = doctor(&out, path, "bad");
    cr_expect_eq(rc, 69, "%s", out);
    char *line = step_line(out, "bad", "config", "FAIL");
    cr_expect_not_null(line, "%s", out);
    char *where = tu_printf("FAIL  %s:13: unknown key 'colour'", path);
    cr_expect(line && strstr(line, where), "%s", line);
    /* The valid keys: on the fix line when the core sets the fix apart,
     * else still in the message (library_fix_is_taken_as_given pins
     * which). */
    char *fix = line_after(out, "unknown key 'colour'");
    cr_expect((fix && strstr(fix, "  fix: ") && strstr(fix, "path, fsync")) ||
              (line && strstr(line, "path, fsync")),
              "the valid keys are listed: %s", out);
    free(fix);
    free(where);
    free(line);
    free(out);

    /* The broken channel does not stop the healthy ones. */
    cr_expect_eq(doctor(&out, path, "m"), 0, "%s", out);
    free(out);
    cr_expect_eq(doctor(&out, path, " "), 69, "%s", out);
    cr_expect(strstr(out, "1 of 3 channels healthy; not healthy: p, bad\n"),
              "%s", out);
    free(out);
    free(path);
    free(more);
    free(text);
}

Test(doctor, missing_driver_is_a_config_failure)
{
    char *path = tu_write_file(tmp, "nodrv.conf",
                               "[channel x]\ndriver = nosuchdriver\n");
    char *out;
    int rc = doctor(&out, path, "x");
    cr_expect_eq(rc, 69, "%s", out);
    char *line = step_line(out, "x", "config", "FAIL");
    cr_expect(line && strstr(line, "nosuchdriver"), "%s", out);
    free(line);
    free(out);
    free(path);
}

Test(doctor, unknown_channel_fails_and_names_the_real_ones)
{
    char *out;
    int rc = doctor(&out, conf, "nosuch m");
    cr_expect_eq(rc, 69, "%s", out);
    char *line = step_line(out, "nosuch", "config", "FAIL");
    cr_expect_not_null(line, "%s", out);
    char *what = tu_printf("no channel named 'nosuch' in %s", conf);
    cr_expect(line && strstr(line, what), "%s", line);
    cr_expect(strstr(out, "fix: name one of the channels of the config "
                          "(m, p)"), "%s", out);
    /* The others named are still checked. */
    char *m = step_line(out, "m", "config", "OK");
    cr_expect_not_null(m, "%s", out);
    free(m);
    free(what);
    free(line);
    free(out);
}

/* ---------------------------------------------------------------- json */

Test(doctor, json_is_one_array_with_one_object_per_step)
{
    char *json = tu_printf("%s/d.json", tmp);
    int rc = doctor(NULL, conf, "--json --send-test ann@example.com "
                    "m p nosuch > '%s'", json);
    cr_expect_eq(rc, 69);
    char *out;
    rc = json_check(&out, json,
        "import json,sys\n"
        "d = json.load(sys.stdin)\n"
        "assert isinstance(d, list), d\n"
        "keys = {\"channel\",\"step\",\"status\",\"elapsed_ms\",\"detail\",\"fix\"}\n"
        "for o in d:\n"
        "    assert set(o) == keys, o\n"
        "    assert o[\"status\"] in (\"ok\",\"warn\",\"fail\",\"info\"), o\n"
        "    assert isinstance(o[\"elapsed_ms\"], (int, float)), o\n"
        "for o in d:\n"
        "    print(o[\"channel\"], o[\"step\"], o[\"status\"], o[\"elapsed_ms\"],"
        " o[\"detail\"], o[\"fix\"], sep=\"|\")\n");
    cr_expect_eq(rc, 0, "%s", out);
    char *want = tu_printf(
        "m|config|ok|0.0|config valid, driver loads|None\n"
        "p|dns|ok|1.5|resolves to 127.0.0.1|None\n"
        "p|connect|fail|3000.0|no answer in 3s|use an HTTP API driver\n"
        "p|send_test|ok|0.0|ann@example.com|None\n"
        "nosuch|config|fail|0.0|no channel named 'nosuch' in %s|"
        "name one of the channels of the config (m, p), or give no name to "
        "check them all\n", conf);
    cr_expect_str_eq(out, want);
    free(want);
    free(out);
    free(json);
}

Test(doctor, json_of_a_healthy_channel_exits_0)
{
    char *json = tu_printf("%s/d.json", tmp);
    cr_expect_eq(doctor(NULL, conf, "m --json > '%s'", json), 0);
    char *out;
    int rc = json_check(&out, json,
                        "import json,sys; d=json.load(sys.stdin); "
                        "print(len(d), d[0][\"status\"], d[0][\"step\"])");
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect_str_eq(out, "1 ok config\n");
    free(out);
    free(json);
}

Test(doctor, json_keeps_the_file_line_of_a_broken_channel)
{
    char *path = tu_write_file(tmp, "b.conf", "[channel b]\ndriver = maildir\n"
                               "path = /tmp/x\nhots = 1\n");
    char *json = tu_printf("%s/d.json", tmp);
    cr_expect_eq(doctor(NULL, path, "--json > '%s'", json), 69);
    char *out;
    int rc = json_check(&out, json,
                        "import json,sys; d=json.load(sys.stdin); "
                        "print(len(d), d[0][\"status\"], d[0][\"detail\"]);"
                        "print(\"hots\" not in (d[0][\"fix\"] or \"\") and "
                        "\"path\" in (d[0][\"fix\"] or d[0][\"detail\"]))");
    cr_expect_eq(rc, 0, "%s", out);
    char *want = tu_printf("1 fail %s:4: unknown key 'hots'", path);
    cr_expect(strncmp(out, want, strlen(want)) == 0, "%s", out);
    cr_expect(strstr(out, "\nTrue\n"), "%s", out);
    free(want);
    free(out);
    free(json);
    free(path);
}

/* ---------------------------------------------------------------- smtp */
#ifdef HERALD_TEST_SMTP

static struct tu_server srv;

/* Test-level fini (runs before the suite's teardown). */
static void stop_server(void)
{
    tu_server_stop(&srv);
}

/* These tests are compiled only when configure built the smtp driver
 * (tests/doctor.am defines HERALD_TEST_SMTP), so they never skip: a
 * missing smtp.so here is a failure. */
static void need_smtp(void)
{
    char *so = tu_printf("%s/plugins/smtp/.libs/smtp.so", tu_builddir());
    int have = access(so, R_OK) == 0;
    cr_assert(have, "%s is missing although configure enabled the smtp driver", so);
    free(so);
}

/* Start tests/support/servers/smtpd.py (aiosmtpd) with extra arguments. */
static void start_smtpd(const char *extra)
{
    char *msgs = tu_printf("%s/msgs", tmp);
    cr_assert_eq(tu_run(NULL, "mkdir -p '%s'", msgs), 0);
    int rc = tu_server_start(&srv, "exec %s %s/tests/support/servers/smtpd.py "
                             "--dir '%s' %s", tu_python(), tu_srcdir(), msgs,
                             extra);
    free(msgs);
    cr_assert_eq(rc, 0, "smtpd.py did not start");
}

/* A config with channel "mail" on 127.0.0.1:@port plus @extra lines. */
static char *smtp_conf(int port, const char *extra)
{
    char *text = tu_printf("[channel mail]\ndriver = smtp\nhost = 127.0.0.1\n"
                           "port = %d\nfrom = Bot <bot@example.com>\n"
                           "connect_timeout = 2s\ngreeting_timeout = 2s\n"
                           "command_timeout = 2s\n%s", port, extra);
    char *path = tu_write_file(tmp, "smtp.conf", text);
    free(text);
    return path;
}

/* A TCP port on 127.0.0.1 that nothing listens on (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

Test(doctor, smtp_healthy_plain_server, .fini = stop_server)
{
    need_smtp();
    start_smtpd("--mode plain");
    char *path = smtp_conf(srv.port, "tls = none\n");
    char *out;
    int rc = doctor(&out, path, "mail");
    cr_expect_eq(rc, 0, "a healthy server: %s", out);
    static const char *const ok[] = {"resolve", "connect", "greeting", "ehlo",
                                     "quit"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *line = step_line(out, "mail", ok[i], "OK");
        cr_expect_not_null(line, "%s OK: %s", ok[i], out);
        free(line);
    }
    /* Clear text works but is worth a warning with its fix. */
    char *warn = step_line(out, "mail", "tls", "WARN");
    cr_expect_not_null(warn, "%s", out);
    cr_expect(strstr(out, "fix: use tls = starttls"), "%s", out);
    cr_expect(strstr(out, "mail  healthy: "), "%s", out);
    cr_expect(strstr(out, "1 with a warning"), "%s", out);
    cr_expect_null(strstr(out, "blocked"), "never 'blocked': %s", out);
    cr_expect_null(strstr(out, "FAIL"), "%s", out);
    free(warn);
    free(out);
    free(path);
}

/* tu_make_certs() under tmp/certs; returns the dir. */
static char *make_server_cert(void)
{
    char *dir = tu_printf("%s/certs", tmp);
    cr_assert_eq(tu_run(NULL, "mkdir -p '%s'", dir), 0);
    cr_assert_eq(tu_make_certs(dir), 0);
    return dir;
}

/* Start smtpd.py with STARTTLS and AUTH for bob:s3cret; returns the
 * certificate directory (for auth_conf). */
static char *start_auth_smtpd(void)
{
    char *certs = make_server_cert();
    char *args = tu_printf("--mode starttls --certs '%s' --auth bob:s3cret",
                           certs);
    start_smtpd(args);
    free(args);
    return certs;
}

/* A config for that server, logging in as bob with @password. */
static char *auth_conf(const char *certs, const char *password)
{
    char *extra = tu_printf("tls = starttls\nca_file = %s/ca.pem\n"
                            "username = bob\npassword = %s\n", certs,
                            password);
    char *path = smtp_conf(srv.port, extra);
    free(extra);
    return path;
}

Test(doctor, smtp_healthy_starttls_with_auth, .fini = stop_server)
{
    need_smtp();
    char *certs = start_auth_smtpd();
    char *path = auth_conf(certs, "s3cret");
    char *out;
    int rc = doctor(&out, path, "mail");
    cr_expect_eq(rc, 0, "a healthy server: %s", out);
    static const char *const ok[] = {"resolve", "connect", "greeting", "ehlo",
                                     "starttls", "certificate",
                                     "ehlo after tls", "auth", "quit"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *line = step_line(out, "mail", ok[i], "OK");
        cr_expect_not_null(line, "%s OK: %s", ok[i], out);
        free(line);
    }
    cr_expect(strstr(out, "authenticated as bob"), "%s", out);
    cr_expect_null(strstr(out, "s3cret"), "no secret in the output: %s", out);
    cr_expect_null(strstr(out, "blocked"), "%s", out);
    cr_expect(strstr(out, "mail  healthy: 9 checks passed in "), "%s", out);
    free(out);

    /* The same server with the wrong password: auth fails, with a fix. */
    free(path);
    path = auth_conf(certs, "wrong");
    rc = doctor(&out, path, "mail");
    cr_expect_eq(rc, 69, "%s", out);
    char *line = step_line(out, "mail", "auth", "FAIL");
    cr_expect_not_null(line, "%s", out);
    cr_expect(strstr(out, "  fix: "), "%s", out);
    cr_expect_null(strstr(out, "wrong\n"), "%s", out);
    free(line);
    free(out);
    free(path);
    free(certs);
}

Test(doctor, smtp_refused_port)
{
    need_smtp();
    char *path = smtp_conf(closed_port(), "tls = none\n");
    char *out;
    int rc = doctor(&out, path, "mail");
    cr_expect_eq(rc, 69, "%s", out);
    char *line = step_line(out, "mail", "connect", "FAIL");
    cr_expect_not_null(line, "%s", out);
    cr_expect(line && strstr(line, "refused"), "%s", line);
    cr_expect(strstr(out, "  fix: "), "a fix follows: %s", out);
    cr_expect_null(strstr(out, "blocked"), "refused is not blocked: %s", out);
    cr_expect(strstr(out, "mail  NOT HEALTHY: "), "%s", out);
    free(line);
    free(out);
    free(path);
}

Test(doctor, smtp_send_test_catches_a_rejected_sender,
     .fini = stop_server)
{
    need_smtp();
    start_smtpd("--mode plain --reject-sender bot@example.com");
    char *path = smtp_conf(srv.port, "tls = none\n");
    char *out;
    int rc = doctor(&out, path, "mail --send-test ops@example.com");
    cr_expect_eq(rc, 69, "%s", out);
    char *line = step_line(out, "mail", "sender", "FAIL");
    cr_expect_not_null(line, "%s", out);
    cr_expect(line && strstr(line, "553"), "the server's reply: %s", line);
    free(line);
    free(out);
    /* Without --send-test the envelope is not tried: healthy. */
    cr_expect_eq(doctor(&out, path, "mail"), 0, "%s", out);
    cr_expect_null(strstr(out, "sender"), "%s", out);
    free(out);
    free(path);
}

Test(doctor, smtp_send_test_accepted_delivers_nothing,
     .fini = stop_server)
{
    need_smtp();
    start_smtpd("--mode plain");
    char *path = smtp_conf(srv.port, "tls = none\n");
    char *json = tu_printf("%s/d.json", tmp);
    int rc = doctor(NULL, path, "mail --json --send-test ops@example.com "
                    "> '%s'", json);
    cr_expect_eq(rc, 0);
    char *out;
    rc = json_check(&out, json,
                    "import json,sys; d=json.load(sys.stdin)\n"
                    "assert all(o[\"channel\"] == \"mail\" for o in d)\n"
                    "print(\" \".join(o[\"step\"] + \"=\" + o[\"status\"] "
                    "for o in d))\n");
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect(strncmp(out, "resolve=ok connect=ok ", 22) == 0, "%s", out);
    cr_expect(strstr(out, " sender=ok recipient=ok "), "%s", out);
    cr_expect(strstr(out, "quit=ok\n"), "%s", out);
    char *msgs = tu_printf("%s/msgs", tmp);
    cr_expect_eq(tu_count_files(msgs), 0, "nothing is delivered");
    free(msgs);
    free(out);
    free(json);
    free(path);
}

/* ------------------------------------------------- herald send: exit status */
/* One real failure for each exit status a send can end with, through the
 * smtp driver and real servers; each message names its fix. */

/* The same private directory and environment as the doctor tests. */
TestSuite(send, .init = setup, .fini = teardown, .timeout = 20);

#define SEND_ARGS "send --channel mail --to ops@example.com --subject s --text x"

/* Run `herald -c @path SEND_ARGS @extra`; output in *out_r. */
static int send_mail(char **out_r, const char *path, const char *extra)
{
    return tu_run(out_r, "'%s' -c '%s' " SEND_ARGS " %s", tu_cli(), path,
                  extra);
}

/* The send fails with @status; the output names @fix; with --json the error
 * object has class @cls and retryable @retryable. */
static void expect_send_status(const char *path, int status, const char *fix,
                               const char *cls, const char *retryable)
{
    char *out;
    int rc = send_mail(&out, path, "");
    cr_expect_eq(rc, status, "%s", out);
    cr_expect(strstr(out, fix), "names the fix '%s': %s", fix, out);
    free(out);
    char *json = tu_printf("%s/err.json", tmp);
    char *redirect = tu_printf("--json > '%s' 2>/dev/null", json);
    cr_expect_eq(send_mail(NULL, path, redirect), status);
    rc = json_check(&out, json,
                    "import json,sys; e=json.load(sys.stdin)[\"error\"]; "
                    "print(e[\"class\"], e[\"retryable\"], e[\"exit_status\"])");
    char *want = tu_printf("%s %s %d\n", cls, retryable, status);
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect_str_eq(out, want);
    free(want);
    free(out);
    free(redirect);
    free(json);
}

Test(send, send_68_host_not_found)
{
    need_smtp();
    char *text = tu_printf("[channel mail]\ndriver = smtp\n"
                           "host = nonexistent.invalid\nport = 25\n"
                           "tls = none\nfrom = bot@example.com\n"
                           "connect_timeout = 2s\n");
    char *path = tu_write_file(tmp, "smtp.conf", text);
    expect_send_status(path, 68, "check `host = nonexistent.invalid` for a "
                       "typo", "host_not_found", "False");
    free(path);
    free(text);
}

Test(send, send_69_recipient_rejected, .fini = stop_server)
{
    need_smtp();
    start_smtpd("--mode plain --reject-rcpt ops@example.com");
    char *path = smtp_conf(srv.port, "tls = none\n");
    expect_send_status(path, 69, "check the addresses", "recipient_rejected",
                       "False");
    char *msgs = tu_printf("%s/msgs", tmp);
    cr_expect_eq(tu_count_files(msgs), 0);
    free(msgs);
    free(path);
}

Test(send, send_75_connection_refused)
{
    need_smtp();
    char *path = smtp_conf(closed_port(), "tls = none\n");
    expect_send_status(path, 75, "that the mail server is running", "connect",
                       "True");
    free(path);
}

Test(send, send_76_implicit_tls_against_a_plain_server, .fini = stop_server)
{
    need_smtp();
    start_smtpd("--mode plain");
    char *path = smtp_conf(srv.port, "tls = implicit\n");
    expect_send_status(path, 76, "use tls = starttls", "tls", "False");
    free(path);
}

Test(send, send_77_wrong_password, .fini = stop_server)
{
    need_smtp();
    char *certs = start_auth_smtpd();
    char *path = auth_conf(certs, "wrong-one");
    expect_send_status(path, 77, "check username and password", "auth",
                       "False");
    char *out;
    send_mail(&out, path, "");
    cr_expect_null(strstr(out, "wrong-one"), "no secret: %s", out);
    free(out);
    free(path);
    free(certs);
}

/* ------------------------------------------- herald send: hostile answers */

/* @out (text or JSON that herald printed) is valid UTF-8 with no control
 * character but newline: no ESC, BEL, CR, DEL, C1, nor a stray 0x9b. */
static void expect_no_controls(const char *out, const char *what)
{
    char *file = tu_write_file(tmp, "printed.txt", out);
    char *res;
    int rc = tu_run(&res, "'%s' -c 'import sys\n"
                    "t = sys.stdin.buffer.read().decode(\"utf-8\")\n"
                    "bad = [hex(ord(c)) for c in t if c != \"\\n\" and "
                    "(ord(c) < 0x20 or 0x7f <= ord(c) <= 0x9f)]\n"
                    "print(bad or \"clean\")' < '%s'", tu_python(), file);
    cr_expect_eq(rc, 0, "%s: not UTF-8: %s", what, res);
    cr_expect_str_eq(res, "clean\n", "%s: %s", what, out);
    free(res);
    free(file);
}

Test(send, send_escapes_what_a_rude_smtp_server_says, .fini = stop_server)
{
    need_smtp();
    int rc = tu_server_start(&srv, "exec %s %s/tests/support/servers/rude_smtp.py "
                             "--reject-rcpt bad@example.com", tu_python(),
                             tu_srcdir());
    cr_assert_eq(rc, 0, "rude_smtp.py did not start");
    char *path = smtp_conf(srv.port, "tls = none\n");
    static const char *const runs[][2] = {
        {"", "0"}, {"--json", "0"},
        {"--to bad@example.com --cc bad@example.com", "69"},
        {"--to bad@example.com --cc bad@example.com --json", "69"},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char *out;
        char *extra = tu_printf("%s 2>&1", runs[i][0]);
        /* The bad recipients replace ops@example.com for the 69 runs. */
        rc = tu_run(&out, "'%s' -c '%s' send --channel mail %s --subject s "
                    "--text x %s", tu_cli(), path,
                    runs[i][1][0] == '0' ? "--to ops@example.com" : "",
                    extra);
        cr_expect_eq(rc, atoi(runs[i][1]), "%s: %s", runs[i][0], out);
        expect_no_controls(out, runs[i][0]);
        free(out);
        free(extra);
    }
    free(path);
}

/* A Resend-shaped success whose id, and an error whose message, carry
 * ESC, OSC, BEL, CR/LF and C1, from providers.py over loopback http. */
Test(send, send_escapes_provider_ids_and_errors, .fini = stop_server)
{
    char *so = tu_printf("%s/plugins/resend/.libs/resend.so", tu_builddir());
    int have = access(so, R_OK) == 0;
    free(so);
    if (!have)
        cr_skip("the resend driver is not built (configure without libcurl)");
    int rc = tu_server_start(&srv, "exec %s %s/tests/support/servers/providers.py "
                             "--plain", tu_python(), tu_srcdir());
    cr_assert_eq(rc, 0, "providers.py did not start");
    char *text = tu_printf("[channel r]\ndriver = resend\n"
                           "base_url = http://127.0.0.1:%d\napi_key = re_test\n"
                           "from = bot@example.com\ntimeout = 5s\n", srv.port);
    char *path = tu_write_file(tmp, "resend.conf", text);
    static const char rude[] =
        "\\\\u001b]0;pwned\\\\u0007\\\\u001b[31m\\\\r\\\\nX\\\\u007f\\\\u009b2J";
    static const char ok[] = "{\\\"id\\\":\\\"";
    static const char bad[] = "{\\\"statusCode\\\":422,\\\"name\\\":"
                              "\\\"validation_error\\\",\\\"message\\\":\\\"bad ";
    /* status, body before the rude text, option, exit status */
    static const struct { const char *status, *head, *opt; int rc; } runs[] = {
        {"200", ok, "", 0}, {"200", ok, "--json", 0},
        {"422", bad, "", 65}, {"422", bad, "--json", 65},
    };
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char *body = tu_printf("%s%s\\\"}", runs[i].head, rude);
        char *fault = tu_printf("{\"path_prefix\":\"/emails\",\"status\":%s,"
                                "\"body\":\"%s\"}", runs[i].status, body);
        char *out;
        rc = tu_run(&out, "'%s' -c 'import sys,urllib.request as u; "
                    "u.urlopen(u.Request(sys.argv[1], sys.argv[2].encode(), "
                    "method=\"POST\"))' 'http://127.0.0.1:%d/_test/fault' '%s'",
                    tu_python(), srv.port, fault);
        cr_assert_eq(rc, 0, "fault not set: %s", out);
        free(out);
        rc = tu_run(&out, "'%s' -c '%s' send --channel r --to ops@example.com "
                    "--subject s --text x %s 2>&1", tu_cli(), path, runs[i].opt);
        cr_expect_eq(rc, runs[i].rc, "%s", out);
        cr_expect(strstr(out, "pwned"), "the text is shown: %s", out);
        expect_no_controls(out, runs[i].opt);
        if (i == 0)   /* the id, every control visible */
            cr_expect_str_eq(out, "\\e]0;pwned\\x07\\e[31m\\r\\nX\\x7f\\u009b2J\n");
        free(out);
        free(fault);
        free(body);
    }
    /* JSON stays valid and loses nothing: the id decodes to what was sent. */
    char *fault = tu_printf("{\"path_prefix\":\"/emails\",\"status\":200,"
                            "\"body\":\"%s%s\\\"}\"}", ok, rude);
    char *json = tu_printf("%s/id.json", tmp);
    char *out;
    rc = tu_run(&out, "'%s' -c 'import sys,urllib.request as u; "
                "u.urlopen(u.Request(sys.argv[1], sys.argv[2].encode(), "
                "method=\"POST\"))' 'http://127.0.0.1:%d/_test/fault' '%s' && "
                "'%s' -c '%s' send --channel r --to ops@example.com --subject s "
                "--text x --json > '%s'", tu_python(), srv.port, fault,
                tu_cli(), path, json);
    cr_expect_eq(rc, 0, "%s", out);
    free(out);
    rc = json_check(&out, json, "import json,sys; "
                    "print(json.load(sys.stdin)[\"message_id\"] == "
                    "\"\\x1b]0;pwned\\x07\\x1b[31m\\r\\nX\\x7f\\x9b2J\")");
    cr_expect_eq(rc, 0, "%s", out);
    cr_expect_str_eq(out, "True\n");
    free(out);
    free(json);
    free(fault);
    free(path);
    free(text);
}
#endif /* HERALD_TEST_SMTP */

/* ---------------------------------------------------------------- fix */

/* A broken channel's config step is the library's error as it is: the
 * message (without the "channel 'NAME': " prefix) as detail and
 * herald_error_fix() as fix, null when the library has none; the CLI cuts
 * nothing at "; ".  Text and JSON, whichever way the core words it. */
Test(doctor, library_fix_is_taken_as_given)
{
    char *path = tu_write_file(tmp, "b.conf", "[channel b]\ndriver = maildir\n"
                               "path = /tmp/x\nhots = 1\n");
    herald_ctx *ctx = NULL;
    herald_error *e = NULL;
    cr_assert_eq(herald_open(path, HERALD_OPEN_KEEP_BROKEN, &ctx, &e),
                 HERALD_OK);
    const herald_error *bad = herald_channel_error(ctx, 0);
    cr_assert_not_null(bad);
    const char *msg = herald_error_message(bad);
    if (strncmp(msg, "channel 'b': ", 13) == 0)
        msg += 13;
    const char *fix = herald_error_fix(bad);

    char *json = tu_printf("%s/d.json", tmp);
    cr_expect_eq(doctor(NULL, path, "--json > '%s'", json), 69);
    char *out;
    cr_expect_eq(json_check(&out, json,
                            "import json,sys; d=json.load(sys.stdin)\n"
                            "print(d[0][\"detail\"]); print(d[0][\"fix\"])\n"),
                 0, "%s", out);
    char *want = tu_printf("%s\n%s\n", msg, fix ? fix : "None");
    cr_expect_str_eq(out, want);
    free(want);
    free(out);

    cr_expect_eq(doctor(&out, path, "b"), 69);
    char *line = step_line(out, "b", "config", "FAIL");
    cr_assert_not_null(line, "%s", out);
    char *tail = tu_printf("FAIL  %s", msg);
    size_t ln = strlen(line), tn = strlen(tail);
    cr_expect(ln >= tn && strcmp(line + ln - tn, tail) == 0,
              "the whole message on the FAIL line: %s", out);
    char *next = line_after(out, msg);
    if (fix) {
        char *fixline = tu_printf("     fix: %s", fix);
        cr_expect_str_eq(next ? next : "", fixline);
        free(fixline);
    } else {
        cr_expect(next && !strstr(next, "fix:"), "no fix line: %s", out);
    }
    free(next);
    free(tail);
    free(line);
    free(out);
    free(json);
    herald_close(ctx);
    free(path);
}
