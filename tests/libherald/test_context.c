/* tests/libherald/test_context.c - contexts, channels, send, threads, errors, logging,
 * the check hook, and what libherald.so exports and links. */
#include "config.h"
#include <criterion/criterion.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <herald/herald.h>
#include "testutil.h"
#include "base/base.h"

static char *tmp;

static void setup(void)
{
    tmp = tu_mkdtemp();
    cr_assert(tmp);
}

static void teardown(void)
{
    tu_rmrf(tmp);
    free(tmp);
}

TestSuite(context, .init = setup, .fini = teardown, .timeout = 60);

static herald_ctx *open_conf(const char *extra)
{
    char *conf = tu_printf("[channel box]\ndriver = maildir\npath = %s/Maildir\n"
                           "from = Bot <bot@example.com>\n%s", tmp, extra ? extra : "");
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    herald_class rc = herald_open_string(conf, "test.conf", 0, &ctx, &err);
    cr_assert_eq(rc, HERALD_OK, "open failed: %s", herald_error_message(err));
    free(conf);
    return ctx;
}

static herald_msg *simple_msg(const char *subject)
{
    herald_msg *m = herald_msg_new();
    cr_assert(m);
    cr_assert_eq(herald_msg_add_to(m, "Ops <ops@example.com>"), HERALD_OK);
    cr_assert_eq(herald_msg_set_subject(m, subject), HERALD_OK);
    cr_assert_eq(herald_msg_set_text(m, "hello\n"), HERALD_OK);
    return m;
}

static char *maildir_new(void)
{
    return tu_printf("%s/Maildir/new", tmp);
}

Test(context, send_through_maildir_returns_result_and_writes_file)
{
    herald_ctx *ctx = open_conf(NULL);
    herald_msg *m = simple_msg("one");
    herald_result *res = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_send(ctx, "box", m, &res, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    cr_assert_str_eq(herald_result_channel(res), "box");
    cr_assert_str_eq(herald_result_driver(res), "maildir");
    cr_assert_eq(herald_result_attempts(res), 1);
    const char *id = herald_result_message_id(res);
    cr_assert(id && *id);
    char *path = tu_printf("%s/Maildir/new/%s", tmp, id);
    char *content = tu_read_file(path, NULL);
    cr_assert(content, "no file at %s", path);
    cr_assert(strstr(content, "Subject: one\r\n"));
    cr_assert(strstr(content, "From: Bot <bot@example.com>\r\n"),
              "channel `from` not used:\n%s", content);
    free(content);
    free(path);
    herald_result_free(res);
    herald_msg_free(m);
    herald_close(ctx);
}

Test(context, open_from_file_resolves_relative_plugin_dir)
{
    char *conf = tu_printf("[herald]\nplugin_dir = plugins\n[channel box]\ndriver = maildir\n"
                           "path = %s/Maildir\n", tmp);
    char *cmd = tu_printf("mkdir -p %s/etc/plugins && cp %s/maildir.so %s/etc/plugins/",
                          tmp, tu_plugin_dir(), tmp);
    cr_assert_eq(system(cmd), 0);
    char *etc = tu_printf("%s/etc", tmp);
    char *path = tu_write_file(etc, "herald.conf", conf);
    unsetenv("HERALD_PLUGIN_PATH");
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open(path, 0, &ctx, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    cr_assert_eq(herald_channel_count(ctx), 1);
    cr_assert_str_eq(herald_channel_name(ctx, 0), "box");
    cr_assert_str_eq(herald_channel_driver(ctx, 0), "maildir");
    cr_assert_null(herald_channel_name(ctx, 1));
    herald_close(ctx);
    free(conf);
    free(cmd);
    free(etc);
    free(path);
}

Test(context, missing_config_file_names_path)
{
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    char *path = tu_printf("%s/nope.conf", tmp);
    cr_assert_eq(herald_open(path, 0, &ctx, &err), HERALD_ERR_CONFIG);
    cr_assert_null(ctx);
    cr_assert(strstr(herald_error_message(err), path));
    cr_assert(strstr(herald_error_message(err), "No such file"));
    herald_error_free(err);
    free(path);
}

Test(context, unknown_channel_lists_channels)
{
    char *other = tu_printf("[channel other]\ndriver = maildir\npath = %s/Other\n", tmp);
    herald_ctx *ctx = open_conf(other);
    free(other);
    herald_msg *m = simple_msg("x");
    herald_error *err = NULL;
    cr_assert_eq(herald_send(ctx, "alerts", m, NULL, &err), HERALD_ERR_CONFIG);
    const char *msg = herald_error_message(err);
    cr_assert(strstr(msg, "no channel named 'alerts'"), "%s", msg);
    cr_assert_str_eq(herald_error_fix(err), "the channels are: box, other");
    herald_error_free(err);
    herald_msg_free(m);
    herald_close(ctx);
}

Test(context, invalid_message_writes_nothing)
{
    herald_ctx *ctx = open_conf(NULL);
    herald_msg *m = simple_msg("x");
    cr_assert_eq(herald_msg_set_subject(m, "x\r\nBcc: evil@example.com"),
                 HERALD_ERR_INVALID_MESSAGE);
    herald_error *err = NULL;
    cr_assert_eq(herald_send(ctx, "box", m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(strstr(herald_error_message(err), "subject"), "%s", herald_error_message(err));
    cr_assert_str_eq(herald_error_channel(err), "box");
    char *dir = maildir_new();
    cr_assert_eq(tu_count_files(dir), 0);
    free(dir);
    herald_error_free(err);
    herald_msg_free(m);
    herald_close(ctx);
}

Test(context, missing_sender_names_from_option)
{
    char *conf = tu_printf("[channel box]\ndriver = maildir\npath = %s/Maildir\n", tmp);
    herald_ctx *ctx = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", 0, &ctx, NULL), HERALD_OK);
    herald_msg *m = simple_msg("x");
    herald_error *err = NULL;
    cr_assert_eq(herald_send(ctx, "box", m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(strstr(herald_error_message(err), "no sender"), "%s", herald_error_message(err));
    cr_assert(herald_error_fix(err) && strstr(herald_error_fix(err), "from ="),
              "%s", herald_error_fix(err));
    herald_error_free(err);
    herald_msg_set_from(m, "me@example.com");
    cr_assert_eq(herald_send(ctx, "box", m, NULL, NULL), HERALD_OK);
    herald_msg_free(m);
    herald_close(ctx);
    free(conf);
}

Test(context, bad_channel_from_is_config_error_with_line)
{
    char *conf = tu_printf("[channel box]\ndriver = maildir\npath = %s/M\nfrom = not an address\n", tmp);
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", 0, &ctx, &err), HERALD_ERR_CONFIG);
    cr_assert(strstr(herald_error_message(err), "t.conf:4:"), "%s", herald_error_message(err));
    herald_error_free(err);
    free(conf);
}

Test(context, missing_driver_key_and_unknown_driver)
{
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string("[channel a]\npath = /x\n", "t.conf", 0, &ctx, &err),
                 HERALD_ERR_CONFIG);
    cr_assert(strstr(herald_error_message(err), "t.conf:1:"), "%s", herald_error_message(err));
    cr_assert(strstr(herald_error_fix(err), "driver ="), "%s", herald_error_fix(err));
    herald_error_free(err);
    err = NULL;
    cr_assert_eq(herald_open_string("[channel a]\ndriver = nosuchdriver\n", "t.conf", 0,
                                    &ctx, &err), HERALD_ERR_CONFIG);
    cr_assert(strstr(herald_error_message(err), "t.conf:2:"), "%s", herald_error_message(err));
    cr_assert(strstr(herald_error_message(err), "nosuchdriver"), "%s", herald_error_message(err));
    cr_assert_str_eq(herald_error_channel(err), "a");
    herald_error_free(err);
}

/* ---- threads ---------------------------------------------------------- */

struct worker {
    herald_ctx *ctx;
    const char *channel;
    int id, count, failures;
};

static void *send_many(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < w->count; i++) {
        char subject[64];
        snprintf(subject, sizeof subject, "t%d-m%d", w->id, i);
        herald_msg *m = herald_msg_new();
        herald_msg_add_to(m, "ops@example.com");
        herald_msg_set_subject(m, subject);
        herald_msg_set_text(m, "x");
        if (herald_send(w->ctx, w->channel, m, NULL, NULL) != HERALD_OK)
            w->failures++;
        herald_msg_free(m);
    }
    return NULL;
}

static void run_threads(herald_ctx *ctx, const char *channel, int threads, int count)
{
    pthread_t t[16];
    struct worker w[16];
    for (int i = 0; i < threads; i++) {
        w[i] = (struct worker){ctx, channel, i, count, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, send_many, &w[i]), 0);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(w[i].failures, 0, "thread %d had %d failures", i, w[i].failures);
    }
}

Test(context, eight_threads_thousand_messages_each_arrive_once, .timeout = 120)
{
    int threads = 8, count = getenv("HERALD_TEST_VALGRIND") ? 50 : 1000;
    herald_ctx *ctx = open_conf(NULL);
    run_threads(ctx, "box", threads, count);
    herald_close(ctx);

    /* Every subject exactly once. */
    char *dir = maildir_new();
    char *seen = calloc((size_t)(threads * count), 1);
    DIR *d = opendir(dir);
    cr_assert(d);
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        files++;
        char *p = tu_printf("%s/%s", dir, e->d_name);
        char *c = tu_read_file(p, NULL);
        int t, i;
        char *s = c ? strstr(c, "\r\nSubject: t") : NULL;
        cr_assert(s && sscanf(s, "\r\nSubject: t%d-m%d", &t, &i) == 2, "bad file %s", p);
        cr_assert(t >= 0 && t < threads && i >= 0 && i < count);
        cr_assert_eq(seen[t * count + i], 0, "t%d-m%d delivered twice", t, i);
        seen[t * count + i] = 1;
        free(c);
        free(p);
    }
    closedir(d);
    cr_assert_eq(files, threads * count);
    for (int k = 0; k < threads * count; k++)
        cr_assert_eq(seen[k], 1, "message %d missing", k);
    free(seen);
    free(dir);
}

Test(context, non_thread_safe_driver_is_serialized)
{
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string("[channel p]\ndriver = probe\nfrom = a@example.com\n"
                                    "delay = 2ms\n", "t.conf", 0, &ctx, &err),
                 HERALD_OK, "%s", herald_error_message(err));
    run_threads(ctx, "p", 4, 25);
    herald_msg *m = simple_msg("s");
    char *payload = NULL;
    size_t len = 0;
    cr_assert_eq(herald_render(ctx, "p", m, &payload, &len, NULL), HERALD_OK);
    cr_assert(strstr(payload, "max_inflight=1 "), "driver entered concurrently: %s", payload);
    cr_assert_eq(len, strlen(payload));
    herald_free(payload);
    herald_msg_free(m);
    herald_close(ctx);
}

/* ---- errors, results ---------------------------------------------------- */

Test(context, driver_error_carries_class_code_text_retry_after)
{
    herald_ctx *ctx = NULL;
    cr_assert_eq(herald_open_string("[channel p]\ndriver = probe\nfrom = a@example.com\n"
                                    "fail = 12\nretries = 0\n", "t.conf", 0, &ctx, NULL),
                 HERALD_OK);
    herald_msg *m = simple_msg("s");
    herald_msg_add_to(m, "reject@example.com");
    herald_result *res = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_send(ctx, "p", m, &res, &err), HERALD_ERR_RATE_LIMITED);
    cr_assert_eq(herald_error_class(err), HERALD_ERR_RATE_LIMITED);
    cr_assert_str_eq(herald_error_code(err), "503");
    cr_assert_str_eq(herald_error_provider_text(err), "provider says no");
    cr_assert_eq(herald_error_retry_after(err), 30);
    cr_assert_str_eq(herald_error_channel(err), "p");
    cr_assert(strstr(herald_error_message(err), "channel 'p': "), "%s", herald_error_message(err));
    cr_assert(strstr(herald_error_message(err), "set fail = 0"));
    cr_assert(herald_class_retryable(herald_error_class(err)));
    /* per-recipient outcomes survive a failed send */
    cr_assert_not_null(res);
    cr_assert_eq(herald_result_recipient_count(res), 2);
    cr_assert_str_eq(herald_result_recipient(res, 0), "ops@example.com");
    cr_assert_eq(herald_result_recipient_accepted(res, 0), 1);
    cr_assert_str_eq(herald_result_recipient(res, 1), "reject@example.com");
    cr_assert_eq(herald_result_recipient_accepted(res, 1), 0);
    cr_assert_str_eq(herald_result_recipient_text(res, 1), "550 no such user");
    cr_assert_null(herald_result_recipient(res, 2));
    herald_result_free(res);
    herald_error_free(err);
    herald_msg_free(m);
    herald_close(ctx);
}

Test(context, classes_map_to_sysexits_and_retryability)
{
    struct { herald_class c; int code, retry; } t[] = {
        {HERALD_OK, 0, 0}, {HERALD_ERR_USAGE, 64, 0}, {HERALD_ERR_CONFIG, 78, 0},
        {HERALD_ERR_INVALID_MESSAGE, 65, 0}, {HERALD_ERR_HOST_NOT_FOUND, 68, 0},
        {HERALD_ERR_CONNECT, 75, 1}, {HERALD_ERR_TIMEOUT, 75, 1}, {HERALD_ERR_TLS, 76, 0},
        {HERALD_ERR_PROTOCOL, 76, 0}, {HERALD_ERR_AUTH, 77, 0},
        {HERALD_ERR_SENDER_REJECTED, 69, 0}, {HERALD_ERR_RECIPIENT_REJECTED, 69, 0},
        {HERALD_ERR_RATE_LIMITED, 75, 1}, {HERALD_ERR_TEMPORARY, 75, 1},
        {HERALD_ERR_PERMANENT, 69, 0}, {HERALD_ERR_INTERNAL, 70, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        cr_assert_eq(herald_sysexit(t[i].c), t[i].code, "class %d", t[i].c);
        cr_assert_eq(herald_class_retryable(t[i].c), t[i].retry, "class %d", t[i].c);
        cr_assert(strcmp(herald_strerror(t[i].c), "unknown error") != 0);
    }
    cr_assert_str_eq(herald_strerror((herald_class)99), "unknown error");
}

Test(context, version_matches_macros)
{
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", HERALD_VERSION_MAJOR, HERALD_VERSION_MINOR,
             HERALD_VERSION_PATCH);
    cr_assert_str_eq(herald_version(), want);
}

/* ---- logging ------------------------------------------------------------ */

struct logbuf {
    char text[8192];
    int lines;
};

static void capture(herald_log_level level, const char *channel, const char *line,
                    void *user)
{
    struct logbuf *b = user;
    size_t used = strlen(b->text);
    snprintf(b->text + used, sizeof b->text - used, "%d|%s|%s\n", (int)level,
             channel ? channel : "-", line);
    b->lines++;
}

Test(context, secrets_never_reach_logs)
{
    const char *secret = "s3cr3t-Very-Long-Token";
    setenv("PROBE_TOKEN", secret, 1);
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string("[channel p]\ndriver = probe\nfrom = a@example.com\n"
                                    "token_env = PROBE_TOKEN\nlog_token = yes\nfail = 13\n"
                                    "retries = 0\n",
                                    "t.conf", 0, &ctx, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    struct logbuf b = {{0}, 0};
    herald_set_log_handler(ctx, HERALD_LOG_DEBUG, capture, &b);
    /* The driver logs its token on every send; the handler sees it redacted. */
    herald_msg *m = simple_msg(secret);
    cr_assert_eq(herald_send(ctx, "p", m, NULL, NULL), HERALD_ERR_TEMPORARY);
    herald_close(ctx);
    herald_msg_free(m);
    cr_assert(b.lines >= 1, "no log line captured");
    cr_assert_null(strstr(b.text, secret), "secret leaked into log:\n%s", b.text);
    cr_assert(strstr(b.text, "2|p|sending with token ***\n"), "got:\n%s", b.text);
}

Test(context, secrets_redacted_in_default_stderr_log)
{
    const char *secret = "another-s3cret-value";
    char *conf = tu_printf("[channel p]\ndriver = probe\ntoken = %s\nlog_token = yes\n", secret);
    /* Run the open in a child with stderr captured to a file. */
    char *errfile = tu_printf("%s/stderr", tmp);
    fflush(stderr);
    FILE *saved = freopen(errfile, "w", stderr);
    cr_assert(saved);
    herald_ctx *ctx = NULL;
    /* The probe logs its token in init: force it at open. */
    cr_assert_eq(herald_open_string(conf, "t.conf", HERALD_OPEN_INIT_ALL, &ctx, NULL),
                 HERALD_OK);
    herald_close(ctx);
    fflush(stderr);
    char *out = tu_read_file(errfile, NULL);
    cr_assert(out);
    cr_assert(strstr(out, "herald: warning: [p] token is *** (len 20)"), "got: %s", out);
    cr_assert_null(strstr(out, secret));
    free(out);
    free(errfile);
    free(conf);
}

Test(context, default_stderr_log_escapes_control_bytes)
{
    char *errfile = tu_printf("%s/stderr", tmp);
    fflush(stderr);
    FILE *saved = freopen(errfile, "w", stderr);
    cr_assert(saved);
    herald_ctx *ctx = NULL;
    cr_assert_eq(herald_open_string("[channel p]\ndriver = probe\nfrom = a@example.com\n"
                                    "log_text = yes\n", "t.conf", 0, &ctx, NULL), HERALD_OK);
    herald_msg *m = simple_msg("s");
    /* ESC sequence, CR LF forging a line, TAB, DEL, a C1 CSI, plain UTF-8. */
    cr_assert_eq(herald_msg_set_text(m, "a\x1b]0;x\x07\r\nherald: error: forged\t"
                                     "\x7f\xc2\x9b\xc3\xa9"), HERALD_OK);
    cr_assert_eq(herald_send(ctx, "p", m, NULL, NULL), HERALD_OK);
    herald_msg_free(m);
    herald_close(ctx);
    fflush(stderr);
    char *out = tu_read_file(errfile, NULL);
    cr_assert(out);
    cr_assert_str_eq(out, "herald: warning: [p] text: a\\e]0;x\\x07\\r\\nherald: error: "
                     "forged\t\\x7f\\u009b\xc3\xa9\n");
    free(out);
    free(errfile);
}

/* The message says what is wrong (with FILE:LINE:), the fix stands apart. */
Test(context, config_errors_carry_the_fix_apart)
{
    static const struct {
        const char *conf, *msg, *fix;
    } cases[] = {
        {"[channel p]\ndriver = probe\ntokn = x\n",
         "t.conf:3: unknown key 'tokn' in [channel p]", "did you mean 'token'?"},
        {"[channel s]\ndriver = smtp\n",
         "t.conf:1: [channel s] needs 'host' (SMTP server name", "add host = ..."},
        {"[channel p]\ndriver = nosuch\n", "t.conf:2: [channel p] driver 'nosuch' "
         "not found: no nosuch.so in ", "install the package that provides the "
         "nosuch driver, or point plugin_dir"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        herald_ctx *ctx = NULL;
        herald_error *err = NULL;
        cr_assert_eq(herald_open_string(cases[i].conf, "t.conf", 0, &ctx, &err),
                     HERALD_ERR_CONFIG);
        const char *msg = herald_error_message(err), *fix = herald_error_fix(err);
        cr_assert_eq(strncmp(msg, cases[i].msg, strlen(cases[i].msg)), 0, "%s", msg);
        cr_assert_null(strchr(msg, ';'), "fix glued into the message: %s", msg);
        cr_assert(fix && strncmp(fix, cases[i].fix, strlen(cases[i].fix)) == 0,
                  "fix: %s", fix ? fix : "(null)");
        herald_error_free(err);
    }
}

/* ---- unsupported fields -------------------------------------------------- */

Test(context, unsupported_field_is_error_naming_field_or_dropped)
{
    herald_ctx *ctx = NULL;
    cr_assert_eq(herald_open_string("[channel p]\ndriver = probe\nfrom = a@example.com\n"
                                    "[channel q]\ndriver = probe\nfrom = a@example.com\n"
                                    "unsupported = drop\n", "t.conf", 0, &ctx, NULL),
                 HERALD_OK);
    struct logbuf b = {{0}, 0};
    herald_set_log_handler(ctx, HERALD_LOG_WARNING, capture, &b);
    herald_msg *m = simple_msg("s");
    herald_msg_set_html(m, "<p>hi</p>");
    herald_msg_add_tag(m, "billing");
    herald_error *err = NULL;
    cr_assert_eq(herald_send(ctx, "p", m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(strstr(herald_error_message(err), "html body"), "%s", herald_error_message(err));
    cr_assert(strstr(herald_error_fix(err), "unsupported = drop"));
    herald_error_free(err);
    cr_assert_eq(herald_send(ctx, "q", m, NULL, NULL), HERALD_OK);
    cr_assert(strstr(b.text, "dropping the message's html body"), "%s", b.text);
    cr_assert(strstr(b.text, "dropping the message's tags"), "%s", b.text);
    herald_msg_free(m);
    herald_close(ctx);
}

/* ---- lazy channels -------------------------------------------------------- */

/* @n probe channels p1..pN, each appending "init pK" to tmp/inits when its
 * driver instance is initialised; @last is extra text for pN. */
static char *probe_conf(int n, const char *last)
{
    struct hbuf b = {0};
    for (int i = 1; i <= n; i++)
        hbuf_printf(&b, "[channel p%d]\ndriver = probe\nfrom = a@example.com\n"
                    "init_log = %s/inits\n%s", i, tmp, i == n && last ? last : "");
    return hbuf_steal(&b, NULL);
}

static char *inits(void)
{
    char *path = tu_printf("%s/inits", tmp);
    char *text = tu_read_file(path, NULL);
    free(path);
    return text ? text : strdup("");
}

Test(context, lazy_send_to_one_of_twenty_channels_inits_one)
{
    char *conf = probe_conf(20, NULL);
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", 0, &ctx, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    char *got = inits();
    cr_assert_str_eq(got, "", "open initialised drivers:\n%s", got);
    free(got);
    herald_msg *m = simple_msg("s");
    cr_assert_eq(herald_send(ctx, "p7", m, NULL, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    cr_assert_eq(herald_send(ctx, "p7", m, NULL, NULL), HERALD_OK);
    char *payload = NULL;
    cr_assert_eq(herald_render(ctx, "p7", m, &payload, NULL, NULL), HERALD_OK);
    herald_free(payload);
    got = inits();
    cr_assert_str_eq(got, "init p7\n");
    free(got);
    herald_close(ctx);
    /* HERALD_OPEN_INIT_ALL: every channel at open, as `config check` needs. */
    cr_assert_eq(herald_open_string(conf, "t.conf", HERALD_OPEN_INIT_ALL, &ctx, &err),
                 HERALD_OK, "%s", herald_error_message(err));
    got = inits();
    char *p = got;
    int lines = 0;
    while ((p = strstr(p, "init p")) != NULL) {
        lines++;
        p++;
    }
    cr_assert_eq(lines, 1 + 20, "got:\n%s", got);
    cr_assert(strstr(got, "init p20\n"), "%s", got);
    free(got);
    cr_assert_eq(herald_send(ctx, "p3", m, NULL, NULL), HERALD_OK);
    got = inits();
    cr_assert_eq(strlen(got), strlen("init p7\n") + 9 * strlen("init p1\n") +
                 11 * strlen("init p10\n"), "init ran again:\n%s", got);
    free(got);
    herald_close(ctx);
    herald_msg_free(m);
    free(conf);
}

Test(context, lazy_config_error_in_channel_twenty_still_fails_open)
{
    /* An unknown key and a bad value in the last channel's driver options. */
    const char *bad[] = {"bogus = 1\n", "fail = many\n", "init_delay = 5 parsecs\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *conf = probe_conf(20, bad[i]);
        herald_ctx *ctx = NULL;
        herald_error *err = NULL;
        cr_assert_eq(herald_open_string(conf, "t.conf", 0, &ctx, &err), HERALD_ERR_CONFIG,
                     "opened with %s", bad[i]);
        cr_assert_null(ctx);
        cr_assert_str_eq(herald_error_channel(err), "p20");
        cr_assert(strstr(herald_error_message(err), "t.conf:81:"), "%s",
                  herald_error_message(err));
        herald_error_free(err);
        char *got = inits();
        cr_assert_str_eq(got, "");
        free(got);
        free(conf);
    }
}

Test(context, lazy_init_failure_surfaces_at_first_send_naming_channel)
{
    char *conf = probe_conf(2, "init_fail = 9\n");
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", 0, &ctx, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    cr_assert_null(herald_channel_error(ctx, 1), "not initialised yet: no error");
    herald_msg *m = simple_msg("s");
    for (int round = 0; round < 2; round++) {
        cr_assert_eq(herald_send(ctx, "p2", m, NULL, &err), HERALD_ERR_AUTH);
        cr_assert_str_eq(herald_error_channel(err), "p2");
        cr_assert_str_eq(herald_error_message(err),
                         "channel 'p2': the probe's init failed as configured");
        herald_error_free(err);
        err = NULL;
    }
    cr_assert_eq(herald_check(ctx, "p2", NULL, NULL, NULL, NULL), HERALD_ERR_AUTH);
    /* Remembered, not retried; reported by herald_channel_error now. */
    char *got = inits();
    cr_assert_str_eq(got, "init p2\n");
    free(got);
    const herald_error *ce = herald_channel_error(ctx, 1);
    cr_assert_not_null(ce);
    cr_assert_eq(herald_error_class(ce), HERALD_ERR_AUTH);
    cr_assert_eq(herald_send(ctx, "p1", m, NULL, NULL), HERALD_OK);
    herald_close(ctx);
    /* INIT_ALL: the open fails; with KEEP_BROKEN too, the channel is broken. */
    cr_assert_eq(herald_open_string(conf, "t.conf", HERALD_OPEN_INIT_ALL, &ctx, &err),
                 HERALD_ERR_AUTH);
    cr_assert_str_eq(herald_error_channel(err), "p2");
    herald_error_free(err);
    err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf",
                                    HERALD_OPEN_INIT_ALL | HERALD_OPEN_KEEP_BROKEN,
                                    &ctx, &err), HERALD_OK);
    cr_assert_null(herald_channel_error(ctx, 0));
    cr_assert_not_null(herald_channel_error(ctx, 1));
    cr_assert_eq(herald_send(ctx, "p2", m, NULL, NULL), HERALD_ERR_AUTH);
    cr_assert_eq(herald_send(ctx, "p1", m, NULL, NULL), HERALD_OK);
    herald_close(ctx);
    herald_msg_free(m);
    free(conf);
}

struct lazy_arg {
    herald_ctx *ctx;
    pthread_barrier_t *start;
    herald_class rc;
};

static void *lazy_sender(void *p)
{
    struct lazy_arg *a = p;
    herald_msg *m = simple_msg("t");
    pthread_barrier_wait(a->start);
    a->rc = herald_send(a->ctx, "p1", m, NULL, NULL);
    herald_msg_free(m);
    return NULL;
}

Test(context, lazy_init_from_eight_threads_runs_once)
{
    /* A slow init widens the window in which the threads race. */
    char *conf = probe_conf(1, "init_delay = 50ms\n");
    herald_ctx *ctx = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", 0, &ctx, NULL), HERALD_OK);
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 8);
    pthread_t th[8];
    struct lazy_arg args[8];
    for (int i = 0; i < 8; i++) {
        args[i] = (struct lazy_arg){ctx, &start, -1};
        cr_assert_eq(pthread_create(&th[i], NULL, lazy_sender, &args[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(args[i].rc, HERALD_OK, "thread %d", i);
    }
    pthread_barrier_destroy(&start);
    char *got = inits();
    cr_assert_str_eq(got, "init p1\n");
    free(got);
    herald_close(ctx);
    free(conf);
}

/* ---- broken channels, check ---------------------------------------------- */

Test(context, keep_broken_reports_each_channel)
{
    char *conf = tu_printf("[channel good]\ndriver = maildir\npath = %s/M\n"
                           "[channel bad]\ndriver = maildir\npth = /x\n", tmp);
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", 0, &ctx, &err), HERALD_ERR_CONFIG);
    cr_assert_str_eq(herald_error_channel(err), "bad");
    herald_error_free(err);
    err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", HERALD_OPEN_KEEP_BROKEN, &ctx, &err),
                 HERALD_OK);
    cr_assert_eq(herald_channel_count(ctx), 2);
    cr_assert_null(herald_channel_error(ctx, 0));
    const herald_error *be = herald_channel_error(ctx, 1);
    cr_assert_not_null(be);
    cr_assert(strstr(herald_error_message(be), "t.conf:6:"), "%s", herald_error_message(be));
    cr_assert(strstr(herald_error_fix(be), "'path'"), "%s", herald_error_fix(be));
    herald_msg *m = simple_msg("s");
    herald_msg_set_from(m, "a@example.com");
    cr_assert_eq(herald_send(ctx, "bad", m, NULL, &err), HERALD_ERR_CONFIG);
    herald_error_free(err);
    cr_assert_eq(herald_send(ctx, "good", m, NULL, NULL), HERALD_OK);
    herald_msg_free(m);
    herald_close(ctx);
    free(conf);
}

struct steps {
    int n, failed;
    char text[2048];
};

static void on_step(const char *channel, const char *step, herald_check_status st,
                    double ms, const char *detail, const char *fix, void *user)
{
    struct steps *s = user;
    s->n++;
    if (st == HERALD_CHECK_FAIL)
        s->failed++;
    size_t used = strlen(s->text);
    snprintf(s->text + used, sizeof s->text - used, "%s:%s:%d:%s:%s\n", channel, step,
             (int)st, detail ? detail : "", fix ? fix : "");
}

Test(context, check_runs_driver_hook_or_reports_config_valid)
{
    char *conf = tu_printf("[channel box]\ndriver = maildir\npath = %s/M\n"
                           "[channel p]\ndriver = probe\n", tmp);
    herald_ctx *ctx = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", 0, &ctx, NULL), HERALD_OK);
    struct steps s = {0, 0, {0}};
    cr_assert_eq(herald_check(ctx, "box", NULL, on_step, &s, NULL), HERALD_OK);
    cr_assert_eq(s.n, 1);
    cr_assert(strstr(s.text, "box:config:0:config valid, driver loads"), "%s", s.text);
    memset(&s, 0, sizeof s);
    herald_error *err = NULL;
    const char *const params[] = {"send_test", "ops@example.com", NULL};
    cr_assert_neq(herald_check(ctx, "p", params, on_step, &s, &err), HERALD_OK);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.failed, 1);
    cr_assert(strstr(s.text, "p:connect:2:no answer in 3s:use an HTTP API driver"), "%s", s.text);
    cr_assert(strstr(s.text, "p:send_test:0:ops@example.com:"), "param not passed: %s", s.text);
    herald_error_free(err);
    herald_close(ctx);
    free(conf);
}

Test(context, api_misuse_is_usage_error_not_crash)
{
    herald_error *err = NULL;
    cr_assert_eq(herald_send(NULL, "x", NULL, NULL, &err), HERALD_ERR_USAGE);
    herald_error_free(err);
    cr_assert_eq(herald_open_string(NULL, NULL, 0, NULL, NULL), HERALD_ERR_USAGE);
    cr_assert_eq(herald_open_string("", NULL, 99, NULL, NULL), HERALD_ERR_USAGE);
    herald_close(NULL);
    herald_error_free(NULL);
    herald_result_free(NULL);
    herald_msg_free(NULL);
    cr_assert_str_eq(herald_error_message(NULL), "");
}

/* ---- reading the config file ------------------------------------------- */

static char *write_bytes(const char *name, const char *data, size_t len,
                         mode_t mode)
{
    char *path = tu_printf("%s/%s", tmp, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(path, mode), 0);
    return path;
}

/* herald_open(@path) must fail with a config error holding @part. */
static void open_fails(const char *path, const char *part)
{
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open(path, 0, &ctx, &err), HERALD_ERR_CONFIG,
                 "%s opened", path);
    cr_assert_null(ctx);
    const char *m = herald_error_message(err);
    cr_assert(strstr(m, path), "'%s' lacks the path %s", m, path);
    cr_assert(strstr(m, part), "'%s' lacks '%s'", m, part);
    herald_error_free(err);
}

/* A NUL used to end the file: the channels after it vanished and the
 * open (and `config check`) said OK. */
Test(context, nul_byte_in_config_file_is_an_error)
{
    char *head = tu_printf("[channel a]\ndriver = maildir\npath = %s/A\n", tmp);
    char *text = tu_printf("%s;\n[channel b]\ndriver = maildir\npath = %s/B\n",
                           head, tmp);
    size_t n = strlen(text), nul = strlen(head);
    text[nul] = '\0';   /* the ';' starting line 4 */
    char *path = write_bytes("nul.conf", text, n, 0600);
    char *where = tu_printf("%s:4:", path);
    open_fails(path, where);
    open_fails(path, "NUL byte at column 1");
    text[nul] = ';';
    char *good = write_bytes("good.conf", text, n, 0600);
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open(good, 0, &ctx, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    cr_assert_eq(herald_channel_count(ctx), 2);
    herald_close(ctx);
    free(good);
    free(where);
    free(path);
    free(text);
    free(head);
}

/* A FIFO used to block forever, /dev/zero to fill memory: the suite
 * timeout catches both. */
Test(context, config_file_must_be_a_regular_file_of_at_most_4_mib,
     .timeout = 30)
{
    char *fifo = tu_printf("%s/fifo.conf", tmp);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    open_fails(fifo, "is a FIFO, not a regular file");
    open_fails("/dev/zero", "is a character device, not a regular file");
    open_fails(tmp, "is a directory, not a regular file");
    /* 4 MiB of comment lines, then one byte more. */
    size_t limit = 4u * 1024u * 1024u;
    char *big = malloc(limit + 1);
    cr_assert(big);
    memset(big, '#', limit + 1);
    for (size_t i = 99; i < limit; i += 100)
        big[i] = '\n';
    char *over = write_bytes("over.conf", big, limit + 1, 0600);
    open_fails(over, "is 4194305 bytes, larger than the config file size "
               "limit (4194304 bytes)");
    char *at = write_bytes("at.conf", big, limit, 0600);
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open(at, 0, &ctx, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    herald_close(ctx);
    free(big);
    free(at);
    free(over);
    free(fifo);
}

/* Open @conf_text with stderr (where open-time log lines go) captured;
 * returns what was written there. */
static char *open_stderr(const char *conf_text)
{
    char *errfile = tu_printf("%s/stderr", tmp);
    fflush(stderr);
    int saved = dup(fileno(stderr));
    cr_assert(saved >= 0);
    cr_assert(freopen(errfile, "w", stderr));
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    herald_class rc = herald_open_string(conf_text, "t.conf", 0, &ctx, &err);
    fflush(stderr);
    cr_assert_eq(dup2(saved, fileno(stderr)), fileno(stderr));
    close(saved);
    cr_assert_eq(rc, HERALD_OK, "%s", herald_error_message(err));
    herald_close(ctx);
    char *out = tu_read_file(errfile, NULL);
    cr_assert(out);
    free(errfile);
    return out;
}

Test(context, readable_secret_file_is_warned_about_at_open)
{
    char *pw = write_bytes("token", "group-readable-token\n", 21, 0640);
    char *conf = tu_printf("[channel p]\ndriver = probe\ntoken_file = %s\n", pw);
    char *out = open_stderr(conf);
    char *want = tu_printf("herald: warning: [p] t.conf:3: secret file '%s' "
                           "(token_file in [channel p]) is readable by its "
                           "group (mode 0640); run chmod 600 '%s'\n", pw, pw);
    cr_assert(strstr(out, want), "got: %s", out);
    cr_assert_null(strstr(out, "group-readable-token"));
    free(out);
    /* Private again: no warning. */
    cr_assert_eq(chmod(pw, 0600), 0);
    out = open_stderr(conf);
    cr_assert_null(strstr(out, "secret file"), "got: %s", out);
    free(out);
    free(want);
    free(conf);
    free(pw);
}

/* ---- the shared library itself ------------------------------------------ */

Test(library, exports_only_herald_symbols)
{
    char *out = NULL;
    int rc = tu_run(&out, "nm -D --defined-only %s/.libs/libherald.so | awk '{print $3}'",
                    tu_builddir());
    cr_assert_eq(rc, 0, "%s", out);
    int n = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        n++;
        cr_assert(strncmp(line, "herald_", 7) == 0, "libherald.so exports %s", line);
    }
    cr_assert(n > 40, "only %d symbols exported", n);
    free(out);
}

Test(library, links_neither_curl_nor_gnutls)
{
    char *out = NULL;
    int rc = tu_run(&out, "ldd %s/.libs/libherald.so", tu_builddir());
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "libltdl"), "libherald should link libltdl:\n%s", out);
    cr_assert_null(strstr(out, "libcurl"), "%s", out);
    cr_assert_null(strstr(out, "gnutls"), "%s", out);
    free(out);
}

Test(library, drivers_export_only_their_getter)
{
    char *out = NULL;
    int rc = tu_run(&out, "nm -D --defined-only %s/maildir.so | awk '{print $3}'",
                    tu_plugin_dir());
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_str_eq(out, "maildir_LTX_herald_plugin_get\n");
    free(out);
}
