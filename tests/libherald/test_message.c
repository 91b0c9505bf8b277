/* tests/libherald/test_message.c - message setters, header injection, validation and
 * the host accessors (mailbox parsing is in test_address.c). */
#include "config.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "testutil.h"

#define INJECT "x\r\nBcc: evil@example.com"

/* ---- helpers ------------------------------------------------------------ */

/* A message with a recipient and a body, so only what a test adds can make
 * validation fail. */
static herald_msg *valid_msg(void)
{
    herald_msg *m = herald_msg_new();
    cr_assert_not_null(m);
    cr_assert_eq(herald_msg_add_to(m, "to@example.com"), HERALD_OK);
    cr_assert_eq(herald_msg_set_text(m, "hello\n"), HERALD_OK);
    return m;
}

/* Validate @m and assert the error has class @cls and mentions every
 * NULL-terminated string after it. */
static void expect_invalid(const herald_msg *m, const struct hm_limits *lim,
                           int need_from, herald_class cls, ...)
{
    herald_error *err = NULL;
    herald_class rc = hm_validate(m, lim, need_from, &err);
    cr_assert_eq(rc, cls, "hm_validate gave %d, want %d (%s)", rc, cls,
                 herald_error_message(err));
    cr_assert_not_null(err);
    cr_assert_eq(herald_error_class(err), cls);
    va_list ap;
    va_start(ap, cls);
    const char *want;
    while ((want = va_arg(ap, const char *)) != NULL)
        cr_assert_not_null(strstr(herald_error_message(err), want),
                           "error '%s' lacks '%s'",
                           herald_error_message(err), want);
    va_end(ap);
    herald_error_free(err);
}

/* Validate @m and assert the error's fix (herald_error_fix) mentions
 * every NULL-terminated string after @need_from, and its message none of
 * the first. */
static void expect_fix(const herald_msg *m, const struct hm_limits *lim,
                       int need_from, ...)
{
    herald_error *err = NULL;
    cr_assert_neq(hm_validate(m, lim, need_from, &err), HERALD_OK);
    const char *fix = herald_error_fix(err);
    cr_assert_not_null(fix, "no fix for '%s'", herald_error_message(err));
    va_list ap;
    va_start(ap, need_from);
    const char *want;
    int first = 1;
    while ((want = va_arg(ap, const char *)) != NULL) {
        cr_assert_not_null(strstr(fix, want), "fix '%s' lacks '%s'", fix,
                           want);
        if (first)
            cr_assert_null(strstr(herald_error_message(err), want),
                           "the message '%s' still carries the fix",
                           herald_error_message(err));
        first = 0;
    }
    va_end(ap);
    herald_error_free(err);
}

/* ---- setters and injection ---------------------------------------------- */

Test(inject, subject)
{
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_set_subject(m, "fine"), HERALD_OK);
    cr_assert_eq(herald_msg_set_subject(m, INJECT),
                 HERALD_ERR_INVALID_MESSAGE);
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_SUBJECT), "fine");
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "subject",
                   "CR, LF or NUL", "one line", NULL);
    herald_error *err = NULL;
    cr_assert_eq(herald_msg_validate(m, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert_not_null(strstr(herald_error_message(err), "subject"));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(inject, display_name)
{
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_add_to(m, INJECT " <bob@example.com>"),
                 HERALD_ERR_INVALID_MESSAGE);
    cr_assert_eq(hm_count(m, HERALD_LIST_TO), 1);
    cr_assert_str_eq(hm_address(m, HERALD_LIST_TO, 0, NULL),
                     "to@example.com");
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE,
                   "to display name", "\\r\\nBcc", "CR, LF or NUL", NULL);
    herald_msg_free(m);

    m = valid_msg();
    cr_assert_eq(herald_msg_set_from(m, INJECT " <bob@example.com>"),
                 HERALD_ERR_INVALID_MESSAGE);
    cr_assert_null(hm_get(m, HERALD_FIELD_FROM));
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE,
                   "from display name", NULL);
    herald_msg_free(m);
}

Test(inject, address)
{
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_add_cc(m, INJECT), HERALD_ERR_INVALID_MESSAGE);
    cr_assert_eq(herald_msg_add_bcc(m, "ok@example.com"), HERALD_OK);
    cr_assert_eq(hm_count(m, HERALD_LIST_CC), 0);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "cc 'x\\r\\nBcc",
                   NULL);
    herald_msg_free(m);

    /* a bad mailbox: the message says what, the fix how to write one */
    m = valid_msg();
    cr_assert_eq(herald_msg_add_to(m, "bob@"), HERALD_ERR_INVALID_MESSAGE);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE,
                   "invalid message: to 'bob@': empty domain after @", NULL);
    expect_fix(m, NULL, 0, "user@example.com or Name <user@example.com>",
               NULL);
    herald_msg_free(m);
    /* a reason with its own fix gives that one */
    m = valid_msg();
    cr_assert_eq(herald_msg_add_cc(m, "a@example.com, b@example.com"),
                 HERALD_ERR_INVALID_MESSAGE);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE,
                   "cc 'a@example.com, b@example.com': contains a comma", NULL);
    expect_fix(m, NULL, 0, "add one mailbox per call", NULL);
    herald_msg_free(m);
}

Test(inject, header_value_and_name)
{
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_add_header(m, "X-Note", INJECT),
                 HERALD_ERR_INVALID_MESSAGE);
    cr_assert_eq(hm_count(m, HERALD_LIST_HEADERS), 0);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "header 'X-Note'",
                   "CR, LF or NUL", NULL);
    herald_msg_free(m);

    m = valid_msg();
    cr_assert_eq(herald_msg_add_header(m, INJECT, "v"),
                 HERALD_ERR_INVALID_MESSAGE);
    cr_assert_eq(hm_count(m, HERALD_LIST_HEADERS), 0);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "header",
                   "name contains CR, LF or NUL", NULL);
    herald_msg_free(m);
}

Test(inject, attachment_filename)
{
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_attach_data(m, "abc", 3, "a\r\nb", NULL),
                 HERALD_ERR_INVALID_MESSAGE);
    cr_assert_eq(hm_count(m, HERALD_LIST_ATTACHMENTS), 0);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE,
                   "attachment filename 'a\\r\\nb'", "CR, LF or NUL", NULL);
    herald_msg_free(m);

    m = valid_msg();
    cr_assert_eq(herald_msg_attach_data(m, "abc", 3, "a.txt",
                                        "text/plain\r\nBcc: x@example.com"),
                 HERALD_ERR_INVALID_MESSAGE);
    cr_assert_eq(hm_count(m, HERALD_LIST_ATTACHMENTS), 0);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE,
                   "attachment 'a.txt': content type", NULL);
    herald_msg_free(m);
}

/* Every other one-line field refuses CR/LF and names itself. */
Test(inject, every_other_field)
{
    static const char *const labels[] = {"reply-to", "bcc", "tag",
                                         "metadata 'k'", "metadata key",
                                         "idempotency key"};
    for (int i = 0; i < 6; i++) {
        herald_msg *m = valid_msg();
        herald_class rc = HERALD_OK;
        switch (i) {
        case 0: rc = herald_msg_set_reply_to(m, INJECT); break;
        case 1: rc = herald_msg_add_bcc(m, INJECT); break;
        case 2: rc = herald_msg_add_tag(m, INJECT); break;
        case 3: rc = herald_msg_set_metadata(m, "k", INJECT); break;
        case 4: rc = herald_msg_set_metadata(m, INJECT, "v"); break;
        case 5: rc = herald_msg_set_idempotency_key(m, INJECT); break;
        }
        cr_assert_eq(rc, HERALD_ERR_INVALID_MESSAGE, "case %s", labels[i]);
        cr_assert_eq(hm_count(m, HERALD_LIST_TAGS) +
                     hm_count(m, HERALD_LIST_METADATA) +
                     hm_count(m, HERALD_LIST_BCC), 0);
        cr_assert_null(hm_get(m, HERALD_FIELD_REPLY_TO));
        cr_assert_null(hm_get(m, HERALD_FIELD_IDEMPOTENCY_KEY));
        expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, labels[i],
                       NULL);
        herald_msg_free(m);
    }
}

/* A snapshot of every field and list a setter can change. */
struct snap {
    const char *from, *reply_to, *subject, *idem;
    size_t n[7];
};

static struct snap snap_of(const herald_msg *m)
{
    struct snap sn = { hm_get(m, HERALD_FIELD_FROM),
                       hm_get(m, HERALD_FIELD_REPLY_TO),
                       hm_get(m, HERALD_FIELD_SUBJECT),
                       hm_get(m, HERALD_FIELD_IDEMPOTENCY_KEY), {0} };
    for (int l = 0; l < 7; l++)
        sn.n[l] = hm_count(m, (herald_list)l);
    return sn;
}

/* Every one-line setter refuses a bare LF, a bare CR and CRLF itself
 * (not only later in validation) and leaves the message as it was. */
Test(inject, every_setter_refuses_bare_lf_bare_cr_and_crlf)
{
    static const char *const breaks[] = { "\n", "\r", "\r\n" };
    char *dir = tu_mkdtemp();
    char *file = tu_write_file(dir, "a.txt", "attached");
    for (size_t b = 0; b < 3; b++) {
        const char *br = breaks[b];
        char *addr = tu_printf("evil%s@example.com", br);
        char *named = tu_printf("Eve%sBcc: x <eve@example.com>", br);
        char *text = tu_printf("one%stwo", br);
        char *type = tu_printf("text/plain%s", br);
        char *hname = tu_printf("X-A%sB", br);
        for (int i = 0; i < 17; i++) {
            herald_msg *m = valid_msg();
            cr_assert_eq(herald_msg_set_from(m, "a@example.com"), HERALD_OK);
            cr_assert_eq(herald_msg_set_reply_to(m, "r@example.com"),
                         HERALD_OK);
            cr_assert_eq(herald_msg_set_subject(m, "subject"), HERALD_OK);
            cr_assert_eq(herald_msg_set_idempotency_key(m, "k1"), HERALD_OK);
            struct snap before = snap_of(m);
            herald_class rc = HERALD_OK;
            switch (i) {
            case 0: rc = herald_msg_set_from(m, addr); break;
            case 1: rc = herald_msg_set_from(m, named); break;
            case 2: rc = herald_msg_set_reply_to(m, named); break;
            case 3: rc = herald_msg_add_to(m, addr); break;
            case 4: rc = herald_msg_add_cc(m, named); break;
            case 5: rc = herald_msg_add_bcc(m, addr); break;
            case 6: rc = herald_msg_set_subject(m, text); break;
            case 7: rc = herald_msg_add_header(m, "X-Note", text); break;
            case 8: rc = herald_msg_add_header(m, hname, "v"); break;
            case 9: rc = herald_msg_add_tag(m, text); break;
            case 10: rc = herald_msg_set_metadata(m, "k", text); break;
            case 11: rc = herald_msg_set_metadata(m, text, "v"); break;
            case 12: rc = herald_msg_set_idempotency_key(m, text); break;
            case 13: rc = herald_msg_attach_data(m, "x", 1, text, NULL); break;
            case 14: rc = herald_msg_attach_data(m, "x", 1, "a.txt", type);
                     break;
            case 15: rc = herald_msg_attach_file(m, file, text, NULL); break;
            case 16: rc = herald_msg_attach_file(m, file, NULL, type); break;
            }
            cr_assert_eq(rc, HERALD_ERR_INVALID_MESSAGE,
                         "setter %d accepted a line break (%zu)", i, b);
            struct snap after = snap_of(m);
            cr_assert_str_eq(after.from, before.from, "setter %d", i);
            cr_assert_str_eq(after.reply_to, before.reply_to, "setter %d", i);
            cr_assert_str_eq(after.subject, before.subject, "setter %d", i);
            cr_assert_str_eq(after.idem, before.idem, "setter %d", i);
            for (int l = 0; l < 7; l++)
                cr_assert_eq(after.n[l], before.n[l], "setter %d list %d",
                             i, l);
            /* ... and the failure is remembered for herald_send. */
            cr_assert_eq(herald_msg_validate(m, NULL),
                         HERALD_ERR_INVALID_MESSAGE, "setter %d", i);
            herald_msg_free(m);
        }
        free(addr);
        free(named);
        free(text);
        free(type);
        free(hname);
    }
    tu_rmrf(dir);
    free(file);
    free(dir);
}

Test(inject, first_failure_is_reported)
{
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_add_to(m, "bob@"), HERALD_ERR_INVALID_MESSAGE);
    cr_assert_eq(herald_msg_set_subject(m, INJECT),
                 HERALD_ERR_INVALID_MESSAGE);
    cr_assert_str_eq(m->bad_what, "to 'bob@': empty domain after @");
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE,
                   "invalid message: to 'bob@': empty domain after @", NULL);
    herald_msg_free(m);
}

Test(headers, reserved_names_refused)
{
    static const char *const names[] = {
        "From", "to", "CC", "Bcc", "reply-to", "Subject", "DATE",
        "Message-Id", "MIME-Version", "Content-Type",
        "content-transfer-encoding", "Content-Disposition",
        "X-Herald-Tags", "x-herald-tags", "x-herald-meta-foo",
        "X-HERALD-META-Order"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        herald_msg *m = valid_msg();
        cr_assert_eq(herald_msg_add_header(m, names[i], "v"),
                     HERALD_ERR_INVALID_MESSAGE, "%s accepted", names[i]);
        cr_assert_eq(hm_count(m, HERALD_LIST_HEADERS), 0);
        expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, names[i],
                       "herald writes this header itself", NULL);
        herald_msg_free(m);
    }
    herald_msg *m = valid_msg();
    herald_msg_add_header(m, "subject", "v");
    expect_fix(m, NULL, 0, "use herald_msg_set_subject", NULL);
    herald_msg_free(m);
}

/* Only the headers herald writes (X-Herald-Tags, X-Herald-Meta-*) are
 * reserved: the rest of the X-Herald- prefix is the caller's. */
Test(headers, x_herald_prefix_only_what_herald_writes)
{
    static const char *const ok[] = {"X-Herald-Build", "x-herald-build",
                                     "X-Herald-", "X-Herald-Tagsx",
                                     "X-Herald-Meta", "X-Herald-Metadata"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        herald_msg *m = valid_msg();
        cr_assert_eq(herald_msg_add_header(m, ok[i], "42"), HERALD_OK,
                     "%s refused", ok[i]);
        cr_assert_eq(herald_msg_validate(m, NULL), HERALD_OK, "%s", ok[i]);
        herald_msg_free(m);
    }
    herald_msg *m = valid_msg();
    herald_msg_add_header(m, "X-Herald-Tags", "a");
    expect_fix(m, NULL, 0, "herald_msg_add_tag", NULL);
    herald_msg_free(m);
    m = valid_msg();
    herald_msg_add_header(m, "x-Herald-meta-k", "a");
    expect_fix(m, NULL, 0, "herald_msg_set_metadata", NULL);
    herald_msg_free(m);
}

Test(headers, name_syntax)
{
    static const char *const bad[] = {"", "X A", "X:A", "X-\xc3\xa9",
                                      "X-\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        herald_msg *m = valid_msg();
        cr_assert_eq(herald_msg_add_header(m, bad[i], "v"),
                     HERALD_ERR_INVALID_MESSAGE, "'%s' accepted", bad[i]);
        expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "header",
                       NULL);
        herald_msg_free(m);
    }
}

Test(headers, added_in_order)
{
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_add_header(m, "X-First", "1"), HERALD_OK);
    cr_assert_eq(herald_msg_add_header(m, "List-Unsubscribe",
                                       "<mailto:u@example.com>"), HERALD_OK);
    cr_assert_eq(herald_msg_add_header(m, "X-First", "again"), HERALD_OK);
    cr_assert_eq(hm_count(m, HERALD_LIST_HEADERS), 3);
    const char *k, *v;
    cr_assert_eq(hm_pair(m, HERALD_LIST_HEADERS, 1, &k, &v), 0);
    cr_assert_str_eq(k, "List-Unsubscribe");
    cr_assert_str_eq(v, "<mailto:u@example.com>");
    cr_assert_eq(hm_pair(m, HERALD_LIST_HEADERS, 2, &k, &v), 0);
    cr_assert_str_eq(v, "again");
    cr_assert_eq(hm_pair(m, HERALD_LIST_HEADERS, 3, &k, &v), -1);
    cr_assert_null(k);
    cr_assert_eq(herald_msg_validate(m, NULL), HERALD_OK);
    herald_msg_free(m);
}

Test(metadata, replace_existing_key)
{
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_set_metadata(m, "order_id", "1"), HERALD_OK);
    cr_assert_eq(herald_msg_set_metadata(m, "user-id", "u"), HERALD_OK);
    cr_assert_eq(herald_msg_set_metadata(m, "order_id", "2"), HERALD_OK);
    cr_assert_eq(hm_count(m, HERALD_LIST_METADATA), 2);
    const char *k, *v;
    cr_assert_eq(hm_pair(m, HERALD_LIST_METADATA, 0, &k, &v), 0);
    cr_assert_str_eq(k, "order_id");
    cr_assert_str_eq(v, "2");
    cr_assert_eq(hm_pair(m, HERALD_LIST_METADATA, 1, &k, &v), 0);
    cr_assert_str_eq(k, "user-id");
    cr_assert_eq(hm_pair(m, HERALD_LIST_METADATA, 2, &k, &v), -1);
    cr_assert_eq(herald_msg_validate(m, NULL), HERALD_OK);
    herald_msg_free(m);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Every list setter used to grow its array by one and set_metadata to scan
 * every key: 100,000 set_metadata calls took 16.6 s.  Linear now (about
 * 0.1 s for all of this); the 2 s bound is generous for a loaded machine
 * and still far below the quadratic time. */
Test(metadata, many_setter_calls_are_linear, .timeout = 60)
{
    int slow = getenv("HERALD_TEST_VALGRIND") != NULL;
    size_t n_meta = slow ? 5000 : 100000, n_tags = n_meta;
    size_t n_hdr = n_meta / 10, n_rcpt = n_meta / 10;
    herald_msg *m = valid_msg();
    char key[32], val[32];
    double t0 = now_s();
    for (size_t i = 0; i < n_meta; i++) {
        snprintf(key, sizeof key, "key_%zu", i);
        snprintf(val, sizeof val, "v%zu", i);
        cr_assert_eq(herald_msg_set_metadata(m, key, val), HERALD_OK);
    }
    double t_meta = now_s() - t0;
    for (size_t i = 0; i < n_tags; i++) {
        snprintf(key, sizeof key, "tag%zu", i);
        cr_assert_eq(herald_msg_add_tag(m, key), HERALD_OK);
    }
    for (size_t i = 0; i < n_hdr; i++) {
        snprintf(key, sizeof key, "X-H%zu", i);
        cr_assert_eq(herald_msg_add_header(m, key, "v"), HERALD_OK);
    }
    for (size_t i = 0; i < n_rcpt; i++) {
        snprintf(key, sizeof key, "r%zu@example.com", i);
        cr_assert_eq(herald_msg_add_bcc(m, key), HERALD_OK);
        cr_assert_eq(herald_msg_attach_data(m, "x", 1, "a.txt", NULL),
                     HERALD_OK);
    }
    /* Replacing keeps one entry per key, in first-set order. */
    for (size_t i = 0; i < n_meta; i += 7) {
        snprintf(key, sizeof key, "key_%zu", i);
        snprintf(val, sizeof val, "new%zu", i);
        cr_assert_eq(herald_msg_set_metadata(m, key, val), HERALD_OK);
    }
    double total = now_s() - t0;
    cr_log_info("set_metadata x%zu: %.3f s; everything: %.3f s", n_meta,
                t_meta, total);
    if (!slow)
        cr_assert_lt(total, 2.0, "list setters took %.2f s (metadata "
                     "%.2f s): quadratic?", total, t_meta);
    cr_assert_eq(hm_count(m, HERALD_LIST_METADATA), n_meta);
    cr_assert_eq(hm_count(m, HERALD_LIST_TAGS), n_tags);
    cr_assert_eq(hm_count(m, HERALD_LIST_HEADERS), n_hdr);
    cr_assert_eq(hm_count(m, HERALD_LIST_BCC), n_rcpt);
    cr_assert_eq(hm_count(m, HERALD_LIST_ATTACHMENTS), n_rcpt);
    for (size_t i = 0; i < n_meta; i += 997) {
        const char *k, *v;
        cr_assert_eq(hm_pair(m, HERALD_LIST_METADATA, i, &k, &v), 0);
        snprintf(key, sizeof key, "key_%zu", i);
        snprintf(val, sizeof val, i % 7 ? "v%zu" : "new%zu", i);
        cr_assert_str_eq(k, key);
        cr_assert_str_eq(v, val);
        snprintf(key, sizeof key, "tag%zu", i);
        cr_assert_str_eq(hm_item(m, HERALD_LIST_TAGS, i), key);
    }
    herald_msg_free(m);
}

Test(metadata, key_syntax)
{
    char long_key[70];
    memset(long_key, 'k', 65);
    long_key[65] = '\0';
    const char *bad[] = {"", "has space", "a.b", "\xc3\xa9", long_key};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        herald_msg *m = valid_msg();
        cr_assert_eq(herald_msg_set_metadata(m, bad[i], "v"),
                     HERALD_ERR_INVALID_MESSAGE, "'%s' accepted", bad[i]);
        cr_assert_eq(hm_count(m, HERALD_LIST_METADATA), 0);
        expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE,
                       "metadata key", "A-Z a-z 0-9 _ -", NULL);
        herald_msg_free(m);
    }
    long_key[64] = '\0';
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_set_metadata(m, long_key, ""), HERALD_OK);
    herald_msg_free(m);
}

Test(tags, length_and_content)
{
    herald_msg *m = valid_msg();
    char tag[140];
    memset(tag, 't', 128);
    tag[128] = '\0';
    cr_assert_eq(herald_msg_add_tag(m, "billing"), HERALD_OK);
    cr_assert_eq(herald_msg_add_tag(m, "r\xc3\xa9sum\xc3\xa9 v2"), HERALD_OK);
    cr_assert_eq(herald_msg_add_tag(m, tag), HERALD_OK);
    cr_assert_eq(hm_count(m, HERALD_LIST_TAGS), 3);
    cr_assert_str_eq(hm_item(m, HERALD_LIST_TAGS, 0), "billing");
    cr_assert_null(hm_item(m, HERALD_LIST_TAGS, 3));
    cr_assert_null(hm_item(m, HERALD_LIST_HEADERS, 0));
    herald_msg_free(m);

    tag[128] = 't';
    tag[129] = '\0';
    const char *bad[] = {"", tag, "a\tb", "a,b", "\xff"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        m = valid_msg();
        cr_assert_eq(herald_msg_add_tag(m, bad[i]),
                     HERALD_ERR_INVALID_MESSAGE, "tag %zu accepted", i);
        cr_assert_eq(hm_count(m, HERALD_LIST_TAGS), 0);
        expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "tag", NULL);
        herald_msg_free(m);
    }
}

Test(bodies, utf8_required_any_line_endings)
{
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_set_text(m, "a\r\nb\rc\nd"), HERALD_OK);
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_TEXT), "a\r\nb\rc\nd");
    cr_assert_eq(herald_msg_set_html(m, "<p>\xc3\xa9</p>\n"), HERALD_OK);
    cr_assert_eq(herald_msg_set_text(m, "bad \xff byte"),
                 HERALD_ERR_INVALID_MESSAGE);
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_TEXT), "a\r\nb\rc\nd");
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "text body",
                   "UTF-8", NULL);
    herald_msg_free(m);
}

Test(setters, null_arguments)
{
    cr_assert_eq(herald_msg_set_subject(NULL, "x"), HERALD_ERR_USAGE);
    cr_assert_eq(herald_msg_add_to(NULL, "a@example.com"), HERALD_ERR_USAGE);
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_set_subject(m, NULL), HERALD_ERR_USAGE);
    cr_assert_eq(herald_msg_add_header(m, "X-A", NULL), HERALD_ERR_USAGE);
    cr_assert_eq(herald_msg_attach_data(m, NULL, 3, "f", NULL),
                 HERALD_ERR_USAGE);
    expect_invalid(m, NULL, 0, HERALD_ERR_USAGE, "subject", NULL);
    herald_msg_free(m);
    herald_msg_free(NULL);
    cr_assert_eq(herald_msg_validate(NULL, NULL), HERALD_ERR_USAGE);
}

Test(setters, copies_and_replaces)
{
    herald_msg *m = valid_msg();
    char subj[] = "first";
    cr_assert_eq(herald_msg_set_subject(m, subj), HERALD_OK);
    subj[0] = 'X';
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_SUBJECT), "first");
    cr_assert_eq(herald_msg_set_subject(m, "second"), HERALD_OK);
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_SUBJECT), "second");
    cr_assert_eq(herald_msg_set_from(m, "A <a@example.com>"), HERALD_OK);
    cr_assert_eq(herald_msg_set_from(m, "B <b@example.com>"), HERALD_OK);
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_FROM), "B <b@example.com>");
    cr_assert_eq(herald_msg_set_from(m, "broken"), HERALD_ERR_INVALID_MESSAGE);
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_FROM), "B <b@example.com>");
    herald_msg_free(m);
}

/* ---- attachments ---------------------------------------------------------- */

Test(attach, data_copied_and_type_guessed)
{
    herald_msg *m = valid_msg();
    unsigned char buf[4] = {0, 1, 2, 255};
    cr_assert_eq(herald_msg_attach_data(m, buf, 4, "report.PDF", NULL),
                 HERALD_OK);
    buf[0] = 9;
    cr_assert_eq(herald_msg_attach_data(m, "", 0, "empty", "text/plain"),
                 HERALD_OK);
    const char *fn, *type;
    const unsigned char *data;
    size_t len;
    cr_assert_eq(hm_attachment(m, 0, &fn, &type, &data, &len), 0);
    cr_assert_str_eq(fn, "report.PDF");
    cr_assert_str_eq(type, "application/pdf");
    cr_assert_eq(len, 4);
    cr_assert_eq(data[0], 0);
    cr_assert_eq(data[3], 255);
    cr_assert_eq(hm_attachment(m, 1, &fn, &type, &data, &len), 0);
    cr_assert_eq(len, 0);
    cr_assert_str_eq(type, "text/plain");
    cr_assert_eq(hm_attachment(m, 2, &fn, &type, &data, &len), -1);
    cr_assert_null(fn);
    cr_assert_eq(hm_count(m, HERALD_LIST_ATTACHMENTS), 2);
    herald_msg_free(m);
}

Test(attach, bad_filename_and_type)
{
    static const char *const types[] = {"pdf", "text/", "/plain",
                                        "text/plain; charset=utf-8",
                                        "te xt/plain"};
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        herald_msg *m = valid_msg();
        cr_assert_eq(herald_msg_attach_data(m, "x", 1, "f.bin", types[i]),
                     HERALD_ERR_INVALID_MESSAGE, "'%s' accepted", types[i]);
        expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE,
                       "type/subtype", NULL);
        herald_msg_free(m);
    }
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_attach_data(m, "x", 1, "", NULL),
                 HERALD_ERR_INVALID_MESSAGE);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE,
                   "attachment filename", "empty", NULL);
    herald_msg_free(m);
}

/* "@a/@b" with @na and @nb letters in the two halves; malloc'd. */
static char *media_type(size_t na, size_t nb)
{
    char *t = malloc(na + nb + 2);
    cr_assert_not_null(t);
    memset(t, 'a', na);
    t[na] = '/';
    memset(t + na + 1, 'b', nb);
    t[na + 1 + nb] = '\0';
    return t;
}

Test(attach, type_and_subtype_at_most_127)
{
    /* 127 each (RFC 6838) is fine and renders */
    char *t = media_type(127, 127);
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_set_from(m, "f@example.com"), HERALD_OK);
    cr_assert_eq(herald_msg_attach_data(m, "x", 1, "f.bin", t), HERALD_OK);
    char *out = NULL;
    cr_assert_eq(hmime_render(m, 0, &out, NULL, NULL), HERALD_OK);
    cr_assert_not_null(strstr(out, t));
    free(out);
    herald_msg_free(m);
    free(t);

    /* the fuzzer's case: application/ + 1000 characters */
    t = media_type(0, 1000);
    char *app = tu_printf("application%s", t);
    m = valid_msg();
    cr_assert_eq(herald_msg_attach_data(m, "x", 1, "f.bin", app),
                 HERALD_ERR_INVALID_MESSAGE);
    cr_assert_eq(hm_count(m, HERALD_LIST_ATTACHMENTS), 0);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "'f.bin'",
                   "content type", "subtype", "longer than 127",
                   "RFC 6838", NULL);
    herald_msg_free(m);
    free(app);
    free(t);

    t = media_type(128, 4);
    m = valid_msg();
    cr_assert_eq(herald_msg_attach_data(m, "x", 1, "f.bin", t),
                 HERALD_ERR_INVALID_MESSAGE);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "a type (before",
                   "longer than 127", NULL);
    herald_msg_free(m);
    free(t);

    /* attach_file checks the same way */
    char *dir = tu_mkdtemp();
    char *path = tu_write_file(dir, "f.bin", "x");
    t = media_type(4, 128);
    m = valid_msg();
    cr_assert_eq(herald_msg_attach_file(m, path, NULL, t),
                 HERALD_ERR_INVALID_MESSAGE);
    cr_assert_eq(hm_count(m, HERALD_LIST_ATTACHMENTS), 0);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "subtype (after",
                   "longer than 127", NULL);
    herald_msg_free(m);
    free(t);
    tu_rmrf(dir);
    free(path);
    free(dir);
}

Test(attach, file_read_and_basename)
{
    char *dir = tu_mkdtemp();
    cr_assert_not_null(dir);
    char *path = tu_write_file(dir, "notes.txt", "line one\nline two\n");
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_attach_file(m, path, NULL, NULL), HERALD_OK);
    cr_assert_eq(herald_msg_attach_file(m, path, "renamed.csv", NULL),
                 HERALD_OK);
    const char *fn, *type;
    const unsigned char *data;
    size_t len;
    cr_assert_eq(hm_attachment(m, 0, &fn, &type, &data, &len), 0);
    cr_assert_str_eq(fn, "notes.txt");
    cr_assert_str_eq(type, "text/plain");
    cr_assert_eq(len, 18);
    cr_assert_eq(memcmp(data, "line one\nline two\n", 18), 0);
    cr_assert_eq(hm_attachment(m, 1, &fn, &type, NULL, NULL), 0);
    cr_assert_str_eq(fn, "renamed.csv");
    cr_assert_str_eq(type, "text/csv");
    cr_assert_eq(herald_msg_validate(m, NULL), HERALD_OK);
    herald_msg_free(m);
    tu_rmrf(dir);
    free(path);
    free(dir);
}

Test(attach, unreadable_file)
{
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_attach_file(m, "/nonexistent/dir/file.pdf", NULL,
                                        NULL), HERALD_ERR_INVALID_MESSAGE);
    cr_assert_eq(hm_count(m, HERALD_LIST_ATTACHMENTS), 0);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE,
                   "/nonexistent/dir/file.pdf", strerror(ENOENT), NULL);
    herald_msg_free(m);
}

/* herald_msg_attach_file(@path) must fail at once, change nothing and
 * record a reason holding @part. */
static void attach_refused(const char *path, const char *part)
{
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_attach_file(m, path, "a.bin", NULL),
                 HERALD_ERR_INVALID_MESSAGE, "%s attached", path);
    cr_assert_eq(hm_count(m, HERALD_LIST_ATTACHMENTS), 0);
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "attachment: ",
                   path, part, NULL);
    herald_msg_free(m);
}

/* A FIFO used to block forever and /dev/zero to grow without bound (3.2 GB
 * in 7 s): the timeout catches both. */
Test(attach, file_must_be_a_regular_file_within_the_size_limit,
     .timeout = 30)
{
    char *dir = tu_mkdtemp();
    char *fifo = tu_printf("%s/fifo", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    attach_refused(fifo, "is a FIFO, not a regular file");
    attach_refused("/dev/zero", "is a character device, not a regular file");
    attach_refused(dir, "is a directory, not a regular file");
    /* One byte over the default max_message_size (a sparse file). */
    char *big = tu_write_file(dir, "big.bin", "");
    cr_assert_eq(truncate(big, HM_DEFAULT_MAX_SIZE + 1), 0);
    attach_refused(big, "is 26214401 bytes, larger than the default "
                   "max_message_size (26214400 bytes)");
    herald_msg *mb = valid_msg();
    herald_msg_attach_file(mb, big, NULL, NULL);
    expect_fix(mb, NULL, 0, "send a smaller file", NULL);
    herald_msg_free(mb);
    /* A small regular file still attaches. */
    char *small = tu_write_file(dir, "small.bin", "0123456789");
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_attach_file(m, small, NULL, NULL), HERALD_OK);
    cr_assert_eq(hm_count(m, HERALD_LIST_ATTACHMENTS), 1);
    herald_msg_free(m);
    tu_rmrf(dir);
    free(small);
    free(big);
    free(fifo);
    free(dir);
}

Test(attach, guess_type)
{
    static const char *const pairs[][2] = {
        {"a.txt", "text/plain"}, {"a.html", "text/html"},
        {"a.HTM", "text/html"}, {"a.csv", "text/csv"},
        {"a.json", "application/json"}, {"a.xml", "application/xml"},
        {"a.pdf", "application/pdf"}, {"a.png", "image/png"},
        {"a.jpg", "image/jpeg"}, {"a.jpeg", "image/jpeg"},
        {"a.gif", "image/gif"}, {"a.svg", "image/svg+xml"},
        {"a.zip", "application/zip"}, {"a.tar.gz", "application/gzip"},
        {"a.tar", "application/x-tar"}, {"a.ics", "text/calendar"},
        {"a.eml", "message/rfc822"}, {"a.exe", "application/octet-stream"},
        {"noext", "application/octet-stream"},
        {"dir.pdf/file", "application/octet-stream"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++)
        cr_assert_str_eq(hm_guess_type(pairs[i][0]), pairs[i][1], "%s",
                         pairs[i][0]);
}

/* ---- validation ----------------------------------------------------------- */

Test(validate, no_recipient)
{
    herald_msg *m = herald_msg_new();
    herald_msg_set_text(m, "x");
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE,
                   "the message has no recipient", NULL);
    expect_fix(m, NULL, 0, "add one with herald_msg_add_to or --to", NULL);
    cr_assert_eq(herald_msg_add_bcc(m, "hidden@example.com"), HERALD_OK);
    cr_assert_eq(herald_msg_validate(m, NULL), HERALD_OK);
    herald_msg_free(m);
}

Test(validate, no_body)
{
    herald_msg *m = herald_msg_new();
    herald_msg_add_to(m, "a@example.com");
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "no body", NULL);
    expect_fix(m, NULL, 0, "herald_msg_set_text or herald_msg_set_html",
               NULL);
    cr_assert_eq(herald_msg_set_html(m, "<p>hi</p>"), HERALD_OK);
    cr_assert_eq(herald_msg_validate(m, NULL), HERALD_OK);
    herald_msg_free(m);
}

Test(validate, sender_needed)
{
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_validate(m, NULL), HERALD_OK);
    cr_assert_eq(hm_validate(m, NULL, 0, NULL), HERALD_OK);
    expect_invalid(m, NULL, 1, HERALD_ERR_INVALID_MESSAGE, "no sender",
                   NULL);
    expect_fix(m, NULL, 1, "`from = ...`", "set From on the message", NULL);
    cr_assert_eq(herald_msg_set_from(m, "me@example.com"), HERALD_OK);
    cr_assert_eq(hm_validate(m, NULL, 1, NULL), HERALD_OK);
    herald_msg_free(m);
}

Test(validate, too_many_recipients)
{
    herald_msg *m = valid_msg();
    herald_msg_add_cc(m, "c@example.com");
    herald_msg_add_bcc(m, "b@example.com");
    struct hm_limits lim = {HM_DEFAULT_MAX_SIZE, 3};
    cr_assert_eq(hm_validate(m, &lim, 0, NULL), HERALD_OK);
    lim.max_recipients = 2;
    expect_invalid(m, &lim, 0, HERALD_ERR_INVALID_MESSAGE, "3 recipients",
                   "limit of 2", NULL);
    expect_fix(m, &lim, 0, "max_recipients", "[herald]", "split it", NULL);
    herald_msg_free(m);
}

Test(validate, default_recipient_limit)
{
    herald_msg *m = valid_msg();
    char addr[64];
    for (unsigned i = 1; i < HM_DEFAULT_MAX_RECIPIENTS; i++) {
        snprintf(addr, sizeof addr, "r%u@example.com", i);
        cr_assert_eq(herald_msg_add_bcc(m, addr), HERALD_OK);
    }
    cr_assert_eq(herald_msg_validate(m, NULL), HERALD_OK);
    herald_msg_add_bcc(m, "one-too-many@example.com");
    expect_invalid(m, NULL, 0, HERALD_ERR_INVALID_MESSAGE, "1001 recipients",
                   NULL);
    herald_msg_free(m);
}

/* The rendered length of @m (what the limit is compared with). */
static size_t rendered_len(const herald_msg *m)
{
    char *out = NULL;
    size_t len = 0;
    cr_assert_eq(hmime_render(m, 0, &out, &len, NULL), HERALD_OK);
    free(out);
    return len;
}

Test(validate, too_large)
{
    herald_msg *m = valid_msg();
    char big[300];
    memset(big, 'x', 299);
    big[299] = '\0';
    cr_assert_eq(herald_msg_attach_data(m, big, 299, "big.bin", NULL),
                 HERALD_OK);
    size_t real = rendered_len(m);
    struct hm_limits lim = {real, HM_DEFAULT_MAX_RECIPIENTS};
    cr_assert_eq(hm_validate(m, &lim, 0, NULL), HERALD_OK);
    lim.max_size = 200;
    expect_invalid(m, &lim, 0, HERALD_ERR_INVALID_MESSAGE, "bytes",
                   "limit of 200", "max_message_size", NULL);
    expect_fix(m, &lim, 0, "send smaller attachments",
               "raise `max_message_size` in the [herald] section", NULL);
    herald_msg_free(m);
}

/* max_message_size used to be compared with the raw bytes: a 20 MB
 * attachment passed a 25 MiB limit and became a 27.4 MB message. */
Test(validate, limit_is_on_the_encoded_size)
{
    const size_t limit = 1u << 20, raw = 900000;
    unsigned char *data = malloc(raw);
    cr_assert(data);
    for (size_t i = 0; i < raw; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_attach_data(m, data, raw, "big.bin", NULL),
                 HERALD_OK);
    size_t real = rendered_len(m);
    cr_assert_gt(real, limit, "base64 of %zu bytes is %zu", raw, real);
    struct hm_limits lim = {limit, HM_DEFAULT_MAX_RECIPIENTS};
    char *size = tu_printf("the message is %zu bytes as sent", real);
    expect_invalid(m, &lim, 0, HERALD_ERR_INVALID_MESSAGE, size,
                   "base64", "bytes before encoding",
                   "more than the limit of 1048576 bytes (max_message_size)",
                   NULL);
    free(size);
    /* The measure is the rendered length itself: the limit at exactly
     * that length passes, one byte less does not. */
    lim.max_size = real;
    cr_assert_eq(hm_validate(m, &lim, 0, NULL), HERALD_OK);
    lim.max_size = real - 1;
    cr_assert_eq(hm_validate(m, &lim, 0, NULL), HERALD_ERR_INVALID_MESSAGE);
    herald_msg_free(m);
    /* An attachment whose encoding fits passes. */
    m = valid_msg();
    cr_assert_eq(herald_msg_attach_data(m, data, 700000, "ok.bin", NULL),
                 HERALD_OK);
    cr_assert_leq(rendered_len(m), limit);
    lim.max_size = limit;
    cr_assert_eq(hm_validate(m, &lim, 0, NULL), HERALD_OK);
    herald_msg_free(m);
    free(data);
}

/* Quoted-printable triples non-ASCII text; bare LF becomes CRLF. */
Test(validate, limit_counts_body_encoding)
{
    const size_t limit = 1u << 20;
    struct hm_limits lim = {limit, HM_DEFAULT_MAX_RECIPIENTS};
    struct hbuf t = {0};
    for (int i = 0; i < 200000; i++)
        hbuf_adds(&t, "\xc3\xa9");   /* 400,000 bytes, 1.2 MB as QP */
    herald_msg *m = valid_msg();
    cr_assert_eq(herald_msg_set_text(m, t.data), HERALD_OK);
    size_t real = rendered_len(m);
    cr_assert_gt(real, limit);
    char *size = tu_printf("the message is %zu bytes as sent", real);
    expect_invalid(m, &lim, 0, HERALD_ERR_INVALID_MESSAGE, size,
                   "quoted-printable", NULL);
    free(size);
    herald_msg_free(m);
    hbuf_free(&t);
    for (int i = 0; i < 400000; i++)
        hbuf_adds(&t, "\n");   /* 400,000 bytes, 800,000 with CRLF */
    m = valid_msg();
    cr_assert_eq(herald_msg_set_text(m, t.data), HERALD_OK);
    real = rendered_len(m);
    cr_assert_gt(real, 800000);
    lim.max_size = real - 1;
    cr_assert_eq(hm_validate(m, &lim, 0, NULL), HERALD_ERR_INVALID_MESSAGE);
    lim.max_size = real;
    cr_assert_eq(hm_validate(m, &lim, 0, NULL), HERALD_OK);
    herald_msg_free(m);
    hbuf_free(&t);
}

/* ---- accessors ------------------------------------------------------------ */

Test(accessors, fields_and_lists)
{
    herald_msg *m = herald_msg_new();
    cr_assert_null(hm_get(m, HERALD_FIELD_FROM));
    cr_assert_null(hm_get(m, HERALD_FIELD_SUBJECT));
    herald_msg_set_from(m, "\"Ops, Team\" <ops@example.com>");
    herald_msg_set_reply_to(m, "Help <help@example.com>");
    herald_msg_add_to(m, "Ann <ann@example.com>");
    herald_msg_add_to(m, "bob@example.com");
    herald_msg_add_cc(m, "Cy <cy@example.com>");
    herald_msg_add_bcc(m, "dee@example.com");
    herald_msg_set_subject(m, "s");
    herald_msg_set_text(m, "t");
    herald_msg_set_html(m, "h");
    herald_msg_set_idempotency_key(m, "key-1");
    cr_assert_null(m->bad_what);

    cr_assert_str_eq(hm_get(m, HERALD_FIELD_FROM),
                     "\"Ops, Team\" <ops@example.com>");
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_FROM_ADDRESS), "ops@example.com");
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_FROM_NAME), "Ops, Team");
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_REPLY_TO),
                     "Help <help@example.com>");
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_SUBJECT), "s");
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_TEXT), "t");
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_HTML), "h");
    cr_assert_str_eq(hm_get(m, HERALD_FIELD_IDEMPOTENCY_KEY), "key-1");
    cr_assert_null(hm_get(m, (herald_field)99));

    cr_assert_eq(hm_count(m, HERALD_LIST_TO), 2);
    cr_assert_eq(hm_count(m, HERALD_LIST_CC), 1);
    cr_assert_eq(hm_count(m, HERALD_LIST_BCC), 1);
    cr_assert_eq(hm_count(NULL, HERALD_LIST_TO), 0);
    const char *name = "sentinel";
    cr_assert_str_eq(hm_address(m, HERALD_LIST_TO, 0, &name),
                     "ann@example.com");
    cr_assert_str_eq(name, "Ann");
    cr_assert_str_eq(hm_address(m, HERALD_LIST_TO, 1, &name),
                     "bob@example.com");
    cr_assert_null(name);
    cr_assert_str_eq(hm_address(m, HERALD_LIST_CC, 0, &name),
                     "cy@example.com");
    cr_assert_str_eq(hm_address(m, HERALD_LIST_BCC, 0, NULL),
                     "dee@example.com");
    name = "sentinel";
    cr_assert_null(hm_address(m, HERALD_LIST_TO, 2, &name));
    cr_assert_null(name);
    cr_assert_null(hm_address(m, HERALD_LIST_TAGS, 0, NULL));
    cr_assert_eq(hm_pair(m, HERALD_LIST_TO, 0, NULL, NULL), -1);
    cr_assert_eq(hm_attachment(m, 0, NULL, NULL, NULL, NULL), -1);
    cr_assert_eq(hm_validate(m, NULL, 1, NULL), HERALD_OK);
    herald_msg_free(m);
}
