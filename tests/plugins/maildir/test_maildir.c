/* tests/plugins/maildir/test_maildir.c - the maildir driver end to end, and the acceptance
 * round trip: what herald writes parses back with Python's email package
 * into exactly what was sent. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include <herald/herald.h>
#include "testutil.h"

static char *tmp;
static herald_ctx *ctx;

static void setup(void)
{
    tmp = tu_mkdtemp();
    cr_assert(tmp);
    char *conf = tu_printf("[channel box]\ndriver = maildir\npath = %s/Maildir\n"
                           "from = Bot <bot@example.com>\n", tmp);
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", HERALD_OPEN_INIT_ALL, &ctx, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    free(conf);
}

static void teardown(void)
{
    herald_close(ctx);
    tu_rmrf(tmp);
    free(tmp);
}

TestSuite(maildir, .init = setup, .fini = teardown, .timeout = 30);

static int count_new(void)
{
    char *d = tu_printf("%s/Maildir/new", tmp);
    int n = tu_count_files(d);
    free(d);
    return n;
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

Test(maildir, acceptance_round_trip_through_python_email)
{
    const char *subject = "Überwachung: Festplatte voll — 日本語のテスト ✓ "
                          "and a rather long tail so the encoded words must fold";
    const char *name = "Jürgen Müller-Lüdenscheidt";
    struct { const char *text; } t = {
        "Grüße aus der Überwachung.\n"
        "A line that starts with a dot follows:\n"
        ".hidden\n"
        "From the start of a line\n"
    };
    char longline[3001];
    memset(longline, 'x', 3000);
    longline[3000] = '\0';
    char *text = tu_printf("%s%s\nend\n", t.text, longline);
    const char *html = "<html><body><p>Grüße — <b>voll</b></p></body></html>\n";
    unsigned char bin[4096];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)((i * 7 + i / 256) & 0xff);
    const char *csv = "host,use\r\nweb1,99%\r\n";

    herald_msg *m = herald_msg_new();
    char *from = tu_printf("%s <juergen@example.com>", name);
    cr_assert_eq(herald_msg_set_from(m, from), HERALD_OK);
    cr_assert_eq(herald_msg_add_to(m, "Ops Team <ops@example.com>"), HERALD_OK);
    cr_assert_eq(herald_msg_add_to(m, "dev@example.org"), HERALD_OK);
    cr_assert_eq(herald_msg_add_bcc(m, "secret-watcher@example.net"), HERALD_OK);
    cr_assert_eq(herald_msg_set_subject(m, subject), HERALD_OK);
    cr_assert_eq(herald_msg_set_text(m, text), HERALD_OK);
    cr_assert_eq(herald_msg_set_html(m, html), HERALD_OK);
    cr_assert_eq(herald_msg_attach_data(m, bin, sizeof bin, "blob.bin", NULL), HERALD_OK);
    cr_assert_eq(herald_msg_attach_data(m, csv, strlen(csv), "données.csv", "text/csv"),
                 HERALD_OK);
    cr_assert_eq(herald_msg_add_tag(m, "disk"), HERALD_OK);
    cr_assert_eq(herald_msg_add_tag(m, "ops"), HERALD_OK);
    cr_assert_eq(herald_msg_set_metadata(m, "host", "web1"), HERALD_OK);
    cr_assert_eq(herald_msg_add_header(m, "X-Priority", "1"), HERALD_OK);

    herald_result *res = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_send(ctx, "box", m, &res, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    char *file = tu_printf("%s/Maildir/new/%s", tmp, herald_result_message_id(res));
    char *text_path = write_bytes("text.txt", text, strlen(text));
    char *html_path = write_bytes("body.html", html, strlen(html));
    char *bin_path = write_bytes("blob.bin", bin, sizeof bin);
    char *csv_path = write_bytes("data.csv", csv, strlen(csv));
    char *out = NULL;
    int rc = tu_run(&out,
                    "%s %s/tests/support/email_roundtrip.py '%s' --subject '%s' --from-name '%s' "
                    "--from-addr juergen@example.com --to ops@example.com --to dev@example.org "
                    "--text-file '%s' --html-file '%s' "
                    "--attach 'blob.bin=application/octet-stream=%s' "
                    "--attach 'données.csv=text/csv=%s' "
                    "--header 'X-Herald-Tags=disk, ops' --header 'X-Herald-Meta-host=web1' "
                    "--header 'X-Priority=1' --absent-header Bcc",
                    tu_python(), tu_srcdir(), file, subject, name, text_path, html_path,
                    bin_path, csv_path);
    cr_assert_eq(rc, 0, "round trip failed:\n%s", out);
    cr_assert_str_eq(out, "OK\n");

    /* and the raw file never names the Bcc recipient */
    char *raw = tu_read_file(file, NULL);
    cr_assert_null(strstr(raw, "secret-watcher"), "Bcc leaked into the file");
    free(raw);
    free(out);
    free(file);
    free(text_path);
    free(html_path);
    free(bin_path);
    free(csv_path);
    free(from);
    free(text);
    herald_result_free(res);
    herald_msg_free(m);
}

Test(maildir, file_lands_in_new_with_private_mode_and_tmp_is_empty)
{
    herald_msg *m = herald_msg_new();
    herald_msg_add_to(m, "ops@example.com");
    herald_msg_set_subject(m, "mode");
    herald_msg_set_text(m, "x");
    herald_result *res = NULL;
    cr_assert_eq(herald_send(ctx, "box", m, &res, NULL), HERALD_OK);
    char *file = tu_printf("%s/Maildir/new/%s", tmp, herald_result_message_id(res));
    struct stat st;
    cr_assert_eq(stat(file, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    char *tmpdir = tu_printf("%s/Maildir/tmp", tmp);
    cr_assert_eq(tu_count_files(tmpdir), 0);
    char *cur = tu_printf("%s/Maildir/cur", tmp);
    cr_assert_eq(tu_count_files(cur), 0);
    cr_assert_eq(count_new(), 1);
    free(cur);
    free(tmpdir);
    free(file);
    herald_result_free(res);
    herald_msg_free(m);
}

Test(maildir, render_shows_the_file_and_writes_nothing)
{
    herald_msg *m = herald_msg_new();
    herald_msg_add_to(m, "ops@example.com");
    herald_msg_set_subject(m, "dry run");
    herald_msg_set_text(m, "body text");
    char *payload = NULL;
    size_t len = 0;
    herald_error *err = NULL;
    cr_assert_eq(herald_render(ctx, "box", m, &payload, &len, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    cr_assert_eq(len, strlen(payload));
    cr_assert(strstr(payload, "Subject: dry run\r\n"));
    cr_assert(strstr(payload, "From: Bot <bot@example.com>\r\n"));
    cr_assert(strstr(payload, "body text"));
    cr_assert_eq(count_new(), 0);
    herald_free(payload);
    herald_msg_free(m);
}

static void expect_rejected(herald_msg *m, const char *field)
{
    herald_error *err = NULL;
    cr_assert_eq(herald_send(ctx, "box", m, NULL, &err), HERALD_ERR_INVALID_MESSAGE,
                 "injection via %s was not rejected", field);
    cr_assert(strstr(herald_error_message(err), field), "error does not name %s: %s", field,
              herald_error_message(err));
    herald_error_free(err);
    cr_assert_eq(count_new(), 0, "something was written for %s", field);
}

static herald_msg *base_msg(void)
{
    herald_msg *m = herald_msg_new();
    herald_msg_add_to(m, "ops@example.com");
    herald_msg_set_subject(m, "s");
    herald_msg_set_text(m, "x");
    return m;
}

#define EVIL "x\r\nBcc: evil@example.com"

Test(maildir, header_injection_in_every_field_is_rejected_and_nothing_written)
{
    herald_msg *m = base_msg();
    herald_msg_set_subject(m, EVIL);
    expect_rejected(m, "subject");
    herald_msg_free(m);

    m = base_msg();
    herald_msg_set_from(m, EVIL " <a@example.com>");
    expect_rejected(m, "from");
    herald_msg_free(m);

    m = base_msg();
    herald_msg_add_to(m, "a@example.com\r\nBcc: evil@example.com");
    expect_rejected(m, "to");
    herald_msg_free(m);

    m = base_msg();
    herald_msg_add_header(m, "X-Custom", EVIL);
    expect_rejected(m, "header");
    herald_msg_free(m);

    m = base_msg();
    herald_msg_attach_data(m, "abc", 3, EVIL ".txt", "text/plain");
    expect_rejected(m, "attachment");
    herald_msg_free(m);
}

Test(maildir, rename_failure_reports_error_and_leaves_no_temp_file)
{
    char *newdir = tu_printf("%s/Maildir/new", tmp);
    cr_assert_eq(rmdir(newdir), 0);
    char *blocker = tu_write_file(tmp, "Maildir/new", "not a directory");
    cr_assert(blocker);
    free(blocker);
    herald_msg *m = base_msg();
    herald_error *err = NULL;
    cr_assert_eq(herald_send(ctx, "box", m, NULL, &err), HERALD_ERR_INTERNAL);
    cr_assert(strstr(herald_error_message(err), "the message was not stored"), "%s",
              herald_error_message(err));
    char *tmpdir = tu_printf("%s/Maildir/tmp", tmp);
    cr_assert_eq(tu_count_files(tmpdir), 0);
    herald_error_free(err);
    herald_msg_free(m);
    free(tmpdir);
    free(newdir);
}

Test(maildir_config, create_no_with_missing_maildir_is_config_error)
{
    char *dir = tu_mkdtemp();
    char *conf = tu_printf("[channel box]\ndriver = maildir\npath = %s/none\ncreate = no\n", dir);
    herald_ctx *c = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", HERALD_OPEN_INIT_ALL, &c, &err), HERALD_ERR_CONFIG);
    cr_assert(strstr(herald_error_message(err), "is not a directory"), "%s",
              herald_error_message(err));
    cr_assert(strstr(herald_error_message(err), "create = yes"));
    herald_error_free(err);
    tu_rmrf(dir);
    free(dir);
    free(conf);
}

Test(maildir_config, fsync_and_create_are_typed_options)
{
    char *dir = tu_mkdtemp();
    char *conf = tu_printf("[channel box]\ndriver = maildir\npath = %s/M\nfsync = maybe\n", dir);
    herald_ctx *c = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", 0, &c, &err), HERALD_ERR_CONFIG);
    cr_assert(strstr(herald_error_message(err), "t.conf:4:"), "%s", herald_error_message(err));
    herald_error_free(err);
    tu_rmrf(dir);
    free(dir);
    free(conf);
}

Test(maildir_config, create_makes_missing_parent_directories)
{
    char *dir = tu_mkdtemp();
    char *conf = tu_printf("[channel box]\ndriver = maildir\npath = %s/a/b/Maildir\n"
                           "from = a@example.com\n", dir);
    herald_ctx *c = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", 0, &c, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    herald_msg *m = herald_msg_new();
    herald_msg_add_to(m, "ops@example.com");
    herald_msg_set_text(m, "x");
    cr_assert_eq(herald_send(c, "box", m, NULL, NULL), HERALD_OK);
    char *newdir = tu_printf("%s/a/b/Maildir/new", dir);
    cr_assert_eq(tu_count_files(newdir), 1);
    herald_msg_free(m);
    herald_close(c);
    tu_rmrf(dir);
    free(newdir);
    free(dir);
    free(conf);
}

/* ---------------------------------------------------------------- disk full */

static char *fs_dir;   /* a 64 KiB tmpfs mounted here, or NULL */

static void mount_tiny_fs(void)
{
    fs_dir = tu_mkdtemp();
    cr_assert(fs_dir);
    if (mount("tmpfs", fs_dir, "tmpfs", 0, "size=64k,mode=0700") != 0) {
        int e = errno;
        tu_rmrf(fs_dir);
        free(fs_dir);
        fs_dir = NULL;
        cr_skip("cannot mount a tmpfs (%s): the disk-full test needs root",
                strerror(e));
    }
}

static void unmount_tiny_fs(void)
{
    if (!fs_dir)
        return;
    umount2(fs_dir, MNT_DETACH);
    tu_rmrf(fs_dir);
    free(fs_dir);
    fs_dir = NULL;
}

/* Fill the filesystem of @dir with @dir/filler until it refuses more. */
static void fill_fs(const char *dir)
{
    char *path = tu_printf("%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert(fd >= 0);
    char block[4096];
    memset(block, 'f', sizeof block);
    ssize_t w;
    while ((w = write(fd, block, sizeof block)) > 0)
        ;
    cr_assert_eq(errno, ENOSPC, "filling stopped with %s", strerror(errno));
    close(fd);
    free(path);
}

Test(maildir_disk, full_disk_is_temporary_and_stores_nothing,
     .init = mount_tiny_fs, .fini = unmount_tiny_fs, .timeout = 30)
{
    char *conf = tu_printf("[channel box]\ndriver = maildir\npath = %s/Maildir\n"
                           "from = Bot <bot@example.com>\n", fs_dir);
    herald_ctx *c = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", 0, &c, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    fill_fs(fs_dir);
    herald_msg *m = base_msg();
    cr_expect_eq(herald_send(c, "box", m, NULL, &err), HERALD_ERR_TEMPORARY, "%s",
                 err ? herald_error_message(err) : "sent");
    cr_expect_eq(herald_sysexit(herald_error_class(err)), 75);
    cr_expect(herald_error_retryable(err));
    const char *msg = herald_error_message(err);
    cr_expect(strstr(msg, strerror(ENOSPC)), "%s", msg);
    cr_expect(strstr(msg, "the message was not stored"), "%s", msg);
    cr_expect(strstr(msg, "free space"), "says the fix: %s", msg);
    herald_error_free(err);
    char *tmpdir = tu_printf("%s/Maildir/tmp", fs_dir);
    char *newdir = tu_printf("%s/Maildir/new", fs_dir);
    cr_expect_eq(tu_count_files(tmpdir), 0, "no partial file left in tmp/");
    cr_expect_eq(tu_count_files(newdir), 0);
    /* Space again: the same message goes through (a resend was right). */
    char *filler = tu_printf("%s/filler", fs_dir);
    cr_assert_eq(unlink(filler), 0);
    cr_expect_eq(herald_send(c, "box", m, NULL, NULL), HERALD_OK);
    cr_expect_eq(tu_count_files(newdir), 1);
    free(filler);
    free(newdir);
    free(tmpdir);
    herald_msg_free(m);
    herald_close(c);
    free(conf);
}

/* ---------------------------------------------------------------- fsync of new/ */

static char logged[2048];

static void capture_log(herald_log_level level, const char *channel,
                        const char *line, void *user_data)
{
    (void)user_data;
    size_t n = strlen(logged);
    snprintf(logged + n, sizeof logged - n, "%s[%s] %s\n",
             level == HERALD_LOG_WARNING ? "warning " : "other ",
             channel ? channel : "-", line);
}

/* new/ writable but not readable (-wx): the rename into it works, opening
 * it to fsync does not.  Root ignores permissions, so when root the send
 * runs in a child that has become nobody (and owns the Maildir). */
Test(maildir, unsyncable_new_dir_is_success_with_a_warning)
{
    char *maildir = tu_printf("%s/Maildir", tmp);
    char *newdir = tu_printf("%s/new", maildir);
    int root = geteuid() == 0;
    if (root) {
        cr_assert_eq(chmod(tmp, 0711), 0);
        cr_assert_eq(tu_run(NULL, "chown -R 65534:65534 '%s'", maildir), 0);
    }
    cr_assert_eq(chmod(newdir, 0300), 0);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (root && (setgroups(0, NULL) != 0 || setgid(65534) != 0 ||
                     setuid(65534) != 0)) {
            dprintf(fds[1], "skip %s", strerror(errno));
            _exit(0);
        }
        herald_set_log_handler(ctx, HERALD_LOG_WARNING, capture_log, NULL);
        herald_msg *m = base_msg();
        herald_result *res = NULL;
        herald_error *err = NULL;
        herald_class cls = herald_send(ctx, "box", m, &res, &err);
        dprintf(fds[1], "%d %s\n%s%s", (int)cls,
                res ? herald_result_message_id(res) : "-", logged,
                err ? herald_error_message(err) : "");
        _exit(0);
    }
    close(fds[1]);
    char out[4096];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof out - 1 && (r = read(fds[0], out + n, sizeof out - 1 - n)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(fds[0]);
    waitpid(pid, NULL, 0);
    chmod(newdir, 0700);
    if (strncmp(out, "skip ", 5) == 0)
        cr_skip("cannot become nobody: %s", out + 5);
    int cls = -1;
    char id[512] = "";
    cr_assert_eq(sscanf(out, "%d %511s", &cls, id), 2, "%s", out);
    cr_expect_eq(cls, HERALD_OK, "an unsynced new/ is not an error: %s", out);
    cr_expect(strstr(out, "warning [box] stored "), "a warning is logged: %s", out);
    cr_expect(strstr(out, "fsync of"), "%s", out);
    cr_expect(strstr(out, "do not send it again"), "%s", out);
    cr_expect_eq(count_new(), 1, "the message is in new/ exactly once");
    char *file = tu_printf("%s/%s", newdir, id);
    cr_expect_eq(access(file, F_OK), 0, "the id names the file: %s", file);
    free(file);
    free(newdir);
    free(maildir);
}
