/* tests/libherald/test_spool_format.c - the spool's record format and its
 * directory: every field of a message survives the round trip (NUL bytes
 * in attachments too, and an attached file deleted after queueing), a
 * future version, every truncation, corrupt and huge records are refused
 * with an error naming the file, and a bad spool_dir is a config error
 * with a fix. */
#include "config.h"
#include <criterion/criterion.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "spool/spool.h"
#include "testutil.h"
#include "spoolutil.h"

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

TestSuite(spool_format, .init = setup, .fini = teardown, .timeout = 60);

static herald_ctx *open_maildir(void)
{
    char *ch = tu_printf("[channel box]\ndriver = maildir\npath = %s/Maildir\n"
                         "[channel p]\ndriver = probe\nretries = 0\nsend_log = %s/sent\n",
                         tmp, tmp);
    herald_ctx *ctx = su_open(tmp, NULL, ch);
    free(ch);
    cr_assert(ctx);
    return ctx;
}

static const char *queue_one(herald_ctx *ctx, const char *channel,
                             herald_msg *m, char *id, size_t n)
{
    herald_result *res = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_queue_add(ctx, channel, m, &res, &err), HERALD_QUEUED,
                 "%s", herald_error_message(err));
    cr_assert_null(err);
    cr_assert(herald_result_queue_id(res));
    snprintf(id, n, "%s", herald_result_queue_id(res));
    herald_result_free(res);
    return id;
}

struct got {
    hs_item *copy;     /* decoded again from the file */
    int calls;
};

static int keep(const herald_queue_item *item, void *user)
{
    struct got *g = user;
    g->calls++;
    cr_assert(herald_queue_item_message(item));
    return 0;
}

static char *record_path(const char *id)
{
    return tu_printf("%s/spool/queue/%s", tmp, id);
}

static hs_item *decode_file(const char *id)
{
    char *path = record_path(id);
    size_t len = 0;
    char *data = tu_read_file(path, &len);
    cr_assert(data, "%s", path);
    hs_item *it = NULL;
    herald_error *err = NULL;
    cr_assert_eq(hs_decode(data, len, path, &it, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    free(data);
    free(path);
    return it;
}

static void same_mailboxes(const struct hm_mailbox *a, const struct hm_mailbox *b,
                           size_t n)
{
    for (size_t i = 0; i < n; i++) {
        cr_assert_str_eq(a[i].addr, b[i].addr);
        cr_assert_str_eq(a[i].full, b[i].full);
        if (a[i].name)
            cr_assert_str_eq(a[i].name, b[i].name);
        else
            cr_assert_null(b[i].name);
    }
}

Test(spool_format, every_field_round_trips_and_reencodes_byte_for_byte)
{
    herald_ctx *ctx = open_maildir();
    herald_msg *m = herald_msg_new();
    unsigned char bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 7);   /* NUL bytes at 0, 256... */
    bin[10] = 0;
    herald_msg_set_from(m, "\"Q, N\\\" x\" <q@example.com>");
    herald_msg_set_reply_to(m, "Reply Here <r@example.com>");
    herald_msg_add_to(m, "T1 <t1@example.com>");
    herald_msg_add_to(m, "t2@example.com");
    herald_msg_add_cc(m, "Čeněk <c@example.com>");
    herald_msg_add_bcc(m, "hidden@example.com");
    herald_msg_set_subject(m, "Grüße: 100% \"quoted\"");
    herald_msg_set_text(m, "line 1\r\nline 2\nend 0\n\nherald-spool 1\n");
    herald_msg_set_html(m, "<p>hi</p>\n");
    herald_msg_add_header(m, "X-Build", "42: yes");
    herald_msg_add_header(m, "X-Empty", "");
    herald_msg_add_tag(m, "billing");
    herald_msg_add_tag(m, "eu");
    herald_msg_set_metadata(m, "user_id", "17=x");
    herald_msg_set_metadata(m, "k-2", "");
    herald_msg_set_idempotency_key(m, "order-17-receipt");
    herald_msg_attach_data(m, bin, sizeof bin, "blob.bin", NULL);
    herald_msg_attach_data(m, "", 0, "empty.txt", "text/plain");
    herald_error *err = NULL;
    cr_assert_eq(herald_msg_validate(m, &err), HERALD_OK, "%s", herald_error_message(err));
    char id[64];
    queue_one(ctx, "box", m, id, sizeof id);

    hs_item *it = decode_file(id);
    const herald_msg *g = it->msg;
    cr_assert_str_eq(it->id, id);
    cr_assert_str_eq(it->channel, "box");
    cr_assert_str_eq(it->key, "order-17-receipt");
    cr_assert_eq(it->key_generated, 0);
    cr_assert_eq(g->idem_generated, 0);
    cr_assert_str_eq(g->idempotency_key, "order-17-receipt");
    cr_assert_eq(it->attempts, 0);
    cr_assert_eq(it->n_att, 0);
    cr_assert_null(it->reason);
    cr_assert(it->created > 0 && it->next == it->created && it->age_from == it->created);
    same_mailboxes(m->from, g->from, 1);
    same_mailboxes(m->reply_to, g->reply_to, 1);
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(m->n_rcpt[k], g->n_rcpt[k]);
        same_mailboxes(m->rcpt[k], g->rcpt[k], m->n_rcpt[k]);
    }
    cr_assert_str_eq(g->subject, m->subject);
    cr_assert_str_eq(g->text, m->text);
    cr_assert_str_eq(g->html, m->html);
    cr_assert_eq(g->n_headers, 2);
    cr_assert_str_eq(g->headers[0].key, "X-Build");
    cr_assert_str_eq(g->headers[0].value, "42: yes");
    cr_assert_str_eq(g->headers[1].value, "");
    cr_assert_eq(g->n_tags, 2);
    cr_assert_str_eq(g->tags[1], "eu");
    cr_assert_eq(g->n_metadata, 2);
    cr_assert_str_eq(g->metadata[0].value, "17=x");
    cr_assert_str_eq(g->metadata[1].key, "k-2");
    cr_assert_eq(g->n_att, 2);
    cr_assert_eq(g->att[0].len, sizeof bin);
    cr_assert_eq(memcmp(g->att[0].data, bin, sizeof bin), 0);
    cr_assert_str_eq(g->att[0].type, m->att[0].type);
    cr_assert_str_eq(g->att[1].filename, "empty.txt");
    cr_assert_eq(g->att[1].len, 0);
    cr_assert_eq(herald_msg_validate(g, &err), HERALD_OK);

    /* Encoding what was read gives the file again, byte for byte. */
    struct hbuf b = {0};
    hs_encode(it, &b);
    char *path = record_path(id);
    size_t len = 0;
    char *data = tu_read_file(path, &len);
    cr_assert_eq(b.len, len);
    cr_assert_eq(memcmp(b.data, data, len), 0);
    cr_assert_eq(strncmp(data, "herald-spool 1\n", 15), 0);
    free(data);
    free(path);
    hbuf_free(&b);
    hs_item_free(it);

    /* The public accessors see the same. */
    struct got got = {0};
    cr_assert_eq(herald_queue_get(ctx, id, keep, &got, &err), HERALD_OK);
    cr_assert_eq(got.calls, 1);
    herald_msg_free(m);
    herald_close(ctx);
}

Test(spool_format, attached_file_deleted_after_queueing_is_still_delivered)
{
    herald_ctx *ctx = open_maildir();
    char *src = tu_write_file(tmp, "report.csv", "a,b\n1,2\n");
    herald_msg *m = su_msg("with attachment");
    cr_assert_eq(herald_msg_attach_file(m, src, NULL, NULL), HERALD_OK);
    char id[64];
    queue_one(ctx, "box", m, id, sizeof id);
    herald_msg_free(m);
    cr_assert_eq(unlink(src), 0);
    herald_queue_stats st;
    herald_error *err = NULL;
    cr_assert_eq(herald_queue_run(ctx, NULL, &st, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    cr_assert_eq(st.delivered, 1);
    cr_assert_eq(su_count(tmp, "queue"), 0);
    char *cmd = tu_printf("cat %s/Maildir/new/*", tmp);
    char *out = NULL;
    cr_assert_eq(tu_run(&out, "%s", cmd), 0);
    cr_assert(strstr(out, "report.csv"), "%s", out);
    cr_assert(strstr(out, "YSxiCjEsMgo="), "the attachment's base64: %s", out);
    free(out);
    free(cmd);
    free(src);
    herald_close(ctx);
}

Test(spool_format, generated_key_is_marked_and_a_driver_without_keys_still_sends)
{
    herald_ctx *ctx = open_maildir();
    herald_msg *m = su_msg("no key");
    char id[64];
    queue_one(ctx, "p", m, id, sizeof id);
    herald_msg_free(m);
    hs_item *it = decode_file(id);
    cr_assert_eq(it->key_generated, 1);
    cr_assert_eq(it->msg->idem_generated, 1);
    char *want = tu_printf("herald-%s", id);
    cr_assert_str_eq(it->key, want);
    free(want);
    hs_item_free(it);
    /* The probe cannot carry keys: the generated one is left out, not an
     * "unsupported field" error. */
    herald_queue_stats st;
    cr_assert_eq(herald_queue_run(ctx, NULL, &st, NULL), HERALD_OK);
    cr_assert_eq(st.delivered, 1, "failed %zu deferred %zu", st.failed, st.deferred);
    char *sent = tu_printf("%s/sent", tmp);
    char *log = tu_read_file(sent, NULL);
    cr_assert(log && strstr(log, "p\tno key\n"));
    free(log);
    free(sent);
    herald_close(ctx);
}

/* A valid record's bytes (queued through the API), and its path. */
static char *valid_record(herald_ctx *ctx, char *id, size_t n, size_t *len_r)
{
    herald_msg *m = su_msg("valid");
    herald_msg_attach_data(m, "x\0y", 3, "n.bin", NULL);
    queue_one(ctx, "box", m, id, n);
    herald_msg_free(m);
    char *path = record_path(id);
    char *data = tu_read_file(path, len_r);
    free(path);
    cr_assert(data);
    return data;
}

static void replace_record(const char *id, const char *data, size_t len)
{
    char *path = record_path(id);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    free(path);
}

static int noop(const herald_queue_item *item, void *user)
{
    (void)item;
    (*(int *)user)++;
    return 0;
}

Test(spool_format, future_version_is_refused_and_left_alone)
{
    herald_ctx *ctx = open_maildir();
    char id[64];
    size_t len = 0;
    char *data = valid_record(ctx, id, sizeof id, &len);
    data[13] = '2';                       /* "herald-spool 2" */
    replace_record(id, data, len);
    herald_error *err = NULL;
    int calls = 0;
    cr_assert_eq(herald_queue_get(ctx, id, noop, &calls, &err), HERALD_ERR_INTERNAL);
    cr_assert_eq(calls, 0);
    cr_assert(strstr(herald_error_message(err), "version 2 is newer than this herald"),
              "%s", herald_error_message(err));
    cr_assert(strstr(herald_error_message(err), id), "names the file: %s",
              herald_error_message(err));
    cr_assert(herald_error_fix(err) && strstr(herald_error_fix(err), "upgrade"));
    herald_error_free(err);
    herald_queue_stats st;
    cr_assert_eq(herald_queue_run(ctx, NULL, &st, NULL), HERALD_OK);
    cr_assert_eq(st.unreadable, 1);
    cr_assert_eq(st.delivered, 0);
    cr_assert_eq(su_count(tmp, "queue"), 1, "the file stays");
    free(data);
    herald_close(ctx);
}

Test(spool_format, every_truncation_is_refused_naming_the_file)
{
    herald_ctx *ctx = open_maildir();
    char id[64];
    size_t len = 0;
    char *data = valid_record(ctx, id, sizeof id, &len);
    for (size_t cut = 0; cut < len; cut++) {
        hs_item *it = NULL;
        herald_error *err = NULL;
        cr_assert_eq(hs_decode(data, cut, "/spool/queue/x", &it, &err),
                     HERALD_ERR_INTERNAL, "a record cut at %zu of %zu was accepted",
                     cut, len);
        cr_assert_null(it);
        cr_assert(strstr(herald_error_message(err), "/spool/queue/x"));
        cr_assert(herald_error_fix(err));
        herald_error_free(err);
    }
    /* And through the spool: a cut file is reported by name. */
    replace_record(id, data, len / 2);
    herald_error *err = NULL;
    int calls = 0;
    cr_assert_eq(herald_queue_get(ctx, id, noop, &calls, &err), HERALD_ERR_INTERNAL);
    cr_assert(strstr(herald_error_message(err), id));
    cr_assert(strstr(herald_error_message(err), "not a valid spool record"),
              "%s", herald_error_message(err));
    herald_error_free(err);
    free(data);
    herald_close(ctx);
}

Test(spool_format, corrupt_records_are_refused_and_mutations_never_crash)
{
#define HDR "herald-spool 1\nid 3\nabc\nchannel 1\nc\nkey 1\nk\ncreated 1\n7\n"
    static const struct { const char *rec, *why; } bad[] = {
        {"", "does not start with"},
        {"hello\n", "does not start with"},
        {"herald-spool x\n", "first line"},
        {"herald-spool 0\nend 0\n\n", "first line"},
        {"herald-spool 1\nend 0\n\n", "id record is missing"},
        {"herald-spool 1\nid 3\nabc\nchannel 1\nc\nkey 1\nk\nend 0\n\n",
         "created record is missing"},
        {HDR "bogus 0\n\nend 0\n\n", "unknown record 'bogus'"},
        {HDR "to 99999999\nx\nend 0\n\n", "file ends first"},
        {HDR "to -1\nx\nend 0\n\n", "malformed record line"},
        {HDR "to 1\nxx\nend 0\n\n", "not followed by a line end"},
        {"herald-spool 1\nid 3\nab/\nend 0\n\n", "not a queue id"},
        {HDR "to 3\na\nb\nend 0\n\n", "value herald refuses"},
        {HDR "subject 3\na\rb\nend 0\n\n", "value herald refuses"},
        {HDR "text 3\na\0b\nend 0\n\n", "NUL byte"},
        {HDR "attach-data 1\nx\nend 0\n\n", "without attach-name"},
        {HDR "attach-name 1\nx\nend 0\n\n", "without attach-data"},
        {HDR "attempt-class 1\n5\nend 0\n\n", "before its attempt"},
        {HDR "attempt 1\n5\nend 0\n\n", "no attempt-error"},
        {HDR "end 0\n\nto 1\nx\n", "after the end record"},
        {HDR "id 3\nabc\nend 0\n\n", "appears twice"},
        {HDR "next 2\n1x\nend 0\n\n", "not a number"},
        {HDR "to 1\nx\n", "no end record"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hs_item *it = NULL;
        herald_error *err = NULL;
        size_t len = strlen(bad[i].rec);
        if (strstr(bad[i].why, "NUL"))
            len = sizeof HDR - 1 + 18;   /* the record holds a NUL */
        cr_assert_eq(hs_decode(bad[i].rec, len, "f.rec", &it, &err),
                     HERALD_ERR_INTERNAL, "accepted case %zu", i);
        cr_assert(strstr(herald_error_message(err), "f.rec"), "%s",
                  herald_error_message(err));
        cr_assert(strstr(herald_error_message(err), bad[i].why), "case %zu: want "
                  "'%s' in: %s", i, bad[i].why, herald_error_message(err));
        herald_error_free(err);
    }
    const char *ok = HDR "end 0\n\n";
    hs_item *it = NULL;
    cr_assert_eq(hs_decode(ok, strlen(ok), "f.rec", &it, NULL), HERALD_OK);
    hs_item_free(it);

    herald_ctx *ctx = open_maildir();
    char id[64];
    size_t len = 0;
    char *data = valid_record(ctx, id, sizeof id, &len);
    srand(1234);
    int rounds = su_valgrind() ? 300 : 5000, accepted = 0;
    char *copy = malloc(len);
    for (int r = 0; r < rounds; r++) {
        memcpy(copy, data, len);
        for (int k = 0; k < 1 + r % 4; k++)
            copy[(size_t)rand() % len] = (char)rand();
        herald_error *err = NULL;
        it = NULL;
        herald_class rc = hs_decode(copy, len, "m.rec", &it, &err);
        if (rc == HERALD_OK) {
            accepted++;
            cr_assert(it && it->id && it->channel && it->msg);
        } else {
            cr_assert(strstr(herald_error_message(err), "m.rec"));
        }
        hs_item_free(it);
        herald_error_free(err);
    }
    cr_log_info("spool record mutations: %d of %d still parse (changed bytes "
                "inside values)", accepted, rounds);
    free(copy);
    free(data);
    herald_close(ctx);
}

Test(spool_format, huge_record_is_refused_without_reading_it_whole)
{
    char *ch = tu_printf("[channel box]\ndriver = maildir\npath = %s/Maildir\n", tmp);
    herald_ctx *ctx = su_open(tmp, "max_message_size = 1000\n", ch);
    free(ch);
    cr_assert(ctx);
    const char *id = "0000000100000-aaaaaaaaaaaa";
    char *path = record_path(id);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    char block[65536];
    memset(block, 'x', sizeof block);
    memcpy(block, "herald-spool 1\ntext 99999999\n", 29);
    for (int i = 0; i < 64; i++)   /* 4 MiB, over the 1 MiB + 2000 limit */
        cr_assert_eq(fwrite(block, 1, sizeof block, f), sizeof block);
    fclose(f);
    herald_error *err = NULL;
    int calls = 0;
    cr_assert_eq(herald_queue_get(ctx, id, noop, &calls, &err), HERALD_ERR_INTERNAL);
    cr_assert(strstr(herald_error_message(err), "larger than the spool record size limit"),
              "%s", herald_error_message(err));
    cr_assert(strstr(herald_error_message(err), id));
    herald_error_free(err);
    herald_queue_stats st;
    cr_assert_eq(herald_queue_run(ctx, NULL, &st, NULL), HERALD_OK);
    cr_assert_eq(st.unreadable, 1);
    free(path);
    herald_close(ctx);
}

static herald_class open_on(const char *spool, herald_error **err)
{
    char *conf = tu_printf("[herald]\nspool_dir = %s\n[channel p]\ndriver = probe\nretries = 0\n",
                           spool);
    herald_ctx *ctx = NULL;
    herald_class rc = herald_open_string(conf, "s.conf", 0, &ctx, err);
    herald_close(ctx);
    free(conf);
    return rc;
}

Test(spool_format, spool_dir_is_created_private_or_refused_with_a_fix)
{
    herald_error *err = NULL;
    char *dir = tu_printf("%s/new-spool", tmp);
    cr_assert_eq(open_on(dir, &err), HERALD_OK, "%s", herald_error_message(err));
    struct stat st;
    const char *subs[] = {"", "/tmp", "/queue", "/failed"};
    for (int i = 0; i < 4; i++) {
        char *p = tu_printf("%s%s", dir, subs[i]);
        cr_assert_eq(stat(p, &st), 0, "%s", p);
        cr_assert(S_ISDIR(st.st_mode));
        cr_assert_eq(st.st_mode & 0777, 0700, "%s is %o", p, st.st_mode & 0777);
        free(p);
    }
    /* A file where the directory should be. */
    char *file = tu_write_file(tmp, "afile", "x");
    cr_assert_eq(open_on(file, &err), HERALD_ERR_CONFIG);
    cr_assert(strstr(herald_error_message(err), "is a regular file, not a directory"),
              "%s", herald_error_message(err));
    cr_assert(strstr(herald_error_message(err), "s.conf:2:"), "names the line: %s",
              herald_error_message(err));
    cr_assert(herald_error_fix(err));
    herald_error_free(err);
    err = NULL;
    /* A parent that does not exist. */
    char *deep = tu_printf("%s/no/such/spool", tmp);
    cr_assert_eq(open_on(deep, &err), HERALD_ERR_CONFIG);
    cr_assert(strstr(herald_error_message(err), "cannot create"), "%s",
              herald_error_message(err));
    herald_error_free(err);
    err = NULL;
    /* Owned by someone else (the tests run as root, so chown works). */
    if (geteuid() == 0) {
        char *other = tu_printf("%s/other", tmp);
        cr_assert_eq(mkdir(other, 0700), 0);
        cr_assert_eq(chown(other, 65534, 65534), 0);
        cr_assert_eq(open_on(other, &err), HERALD_ERR_CONFIG);
        cr_assert(strstr(herald_error_message(err), "is owned by uid 65534"), "%s",
                  herald_error_message(err));
        cr_assert(strstr(herald_error_fix(err), "chown"), "%s", herald_error_fix(err));
        herald_error_free(err);
        free(other);
    }
    /* A file where a subdirectory should be. */
    char *partial = tu_printf("%s/partial", tmp);
    cr_assert_eq(mkdir(partial, 0700), 0);
    free(tu_write_file(partial, "queue", "x"));
    err = NULL;
    cr_assert_eq(open_on(partial, &err), HERALD_ERR_CONFIG);
    cr_assert(strstr(herald_error_message(err), "/partial/queue is a regular file"),
              "%s", herald_error_message(err));
    herald_error_free(err);
    free(partial);
    free(deep);
    free(file);
    free(dir);
}
