/* tests/libherald/test_spool_run.c - herald_send queues what a retryable
 * failure stops and herald_queue_run delivers it later; permanent failures
 * and messages older than spool_max_age go to the dead letters with the
 * reason; `spool = always` and `never`; retry, drop, purge, list, get; a
 * spool that cannot be written (RLIMIT_FSIZE) is an error, never QUEUED,
 * with nothing half-written left visible. */
#include "config.h"
#include <criterion/criterion.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <herald/herald.h>
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

TestSuite(spool_run, .init = setup, .fini = teardown, .timeout = 60);

/* One probe channel "p" with @opts, logging sends to tmp/sent. */
static herald_ctx *open_probe(const char *globals, const char *opts)
{
    char *ch = tu_printf("[channel p]\ndriver = probe\nfrom = a@example.com\nretries = 0\n"
                         "send_log = %s/sent\n%s", tmp, opts);
    herald_ctx *ctx = su_open(tmp, globals, ch);
    free(ch);
    cr_assert(ctx);
    return ctx;
}

static int sends(const char *subject)
{
    char *path = tu_printf("%s/sent", tmp);
    char *log = tu_read_file(path, NULL);
    free(path);
    int n = 0;
    char *want = tu_printf("p\t%s\n", subject);
    for (const char *p = log; p && (p = strstr(p, want)); p += strlen(want))
        n++;
    free(want);
    free(log);
    return n;
}

struct seen {
    int n;
    char id[64];
    unsigned attempts;
    long long next, created;
    char last[256];
    char reason[256];
    herald_class last_cls;
    size_t rcpts;
};

static int remember(const herald_queue_item *it, void *user)
{
    struct seen *s = user;
    s->n++;
    snprintf(s->id, sizeof s->id, "%s", herald_queue_item_id(it));
    s->attempts = herald_queue_item_attempts(it);
    s->next = herald_queue_item_next_attempt(it);
    s->created = herald_queue_item_created(it);
    s->last_cls = herald_queue_item_last_class(it);
    s->rcpts = herald_queue_item_recipient_count(it);
    snprintf(s->last, sizeof s->last, "%s", herald_queue_item_last_error(it)
             ? herald_queue_item_last_error(it) : "");
    snprintf(s->reason, sizeof s->reason, "%s", herald_queue_item_reason(it)
             ? herald_queue_item_reason(it) : "");
    return 0;
}

static herald_class send_one(herald_ctx *ctx, const char *subject, char *id,
                             herald_error **err)
{
    herald_msg *m = su_msg(subject);
    herald_result *res = NULL;
    herald_class rc = herald_send(ctx, "p", m, &res, err);
    if (id)
        snprintf(id, 64, "%s", herald_result_queue_id(res) ? herald_result_queue_id(res) : "");
    herald_result_free(res);
    herald_msg_free(m);
    return rc;
}

Test(spool_run, retryable_failure_is_queued_and_a_later_run_delivers_it)
{
    herald_ctx *ctx = open_probe(NULL, "fail_first = 1\nretry_after = -1\n");
    char id[64];
    herald_error *err = NULL;
    long long before = (long long)time(NULL);
    cr_assert_eq(send_one(ctx, "first", id, &err), HERALD_QUEUED, "%s",
                 herald_error_message(err));
    cr_assert_null(err, "QUEUED hands back no error");
    cr_assert(id[0], "the result carries the queue id");
    cr_assert_eq(sends("first"), 0);
    cr_assert_eq(su_count(tmp, "queue"), 1);
    cr_assert_eq(su_count(tmp, "tmp"), 0, "nothing left in tmp/");

    struct seen s = {0};
    cr_assert_eq(herald_queue_list(ctx, 0, remember, &s, &err), HERALD_OK);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.id, id);
    cr_assert_eq(s.attempts, 1);
    cr_assert_eq(s.rcpts, 1);
    cr_assert_eq(s.last_cls, HERALD_ERR_TEMPORARY);
    cr_assert(strstr(s.last, "fails its first"), "%s", s.last);
    cr_assert(s.next >= before + 60, "first delay 60 s: next %lld, now %lld", s.next, before);
    long long due = 0;
    cr_assert_eq(herald_queue_next_due(ctx, &due, NULL), HERALD_OK);
    cr_assert_eq(due, s.next);
    cr_assert(herald_queue_dir(ctx) && strstr(herald_queue_dir(ctx), "/spool/queue"));

    /* Not due yet: a plain run leaves it. */
    herald_queue_stats st;
    cr_assert_eq(herald_queue_run(ctx, NULL, &st, &err), HERALD_OK);
    cr_assert_eq(st.delivered + st.deferred + st.failed, 0);
    /* Made due now, the next run delivers it once and removes it. */
    size_t n = 0;
    cr_assert_eq(herald_queue_retry(ctx, id, 0, &n, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    cr_assert_eq(n, 1);
    cr_assert_eq(herald_queue_run(ctx, NULL, &st, &err), HERALD_OK);
    cr_assert_eq(st.delivered, 1);
    cr_assert_eq(sends("first"), 1);
    cr_assert_eq(su_count(tmp, "queue"), 0);
    cr_assert_eq(herald_queue_next_due(ctx, &due, NULL), HERALD_OK);
    cr_assert_eq(due, 0);
    herald_close(ctx);
}

Test(spool_run, retry_after_hint_sets_the_due_time_and_runs_defer_with_backoff)
{
    herald_ctx *ctx = open_probe(NULL, "fail = 12\nretry_after = 900\n");
    long long before = (long long)time(NULL);
    herald_error *err = NULL;
    cr_assert_eq(send_one(ctx, "limited", NULL, &err), HERALD_QUEUED);
    struct seen s = {0};
    herald_queue_list(ctx, 0, remember, &s, NULL);
    cr_assert(s.next >= before + 900, "due at the hint: %lld vs %lld", s.next, before);
    /* A forced run fails again: deferred, attempt recorded, still queued. */
    herald_queue_run_opts o = {HERALD_QUEUE_RUN_ALL, NULL, 0, NULL};
    herald_queue_stats st;
    cr_assert_eq(herald_queue_run(ctx, &o, &st, &err), HERALD_OK);
    cr_assert_eq(st.deferred, 1);
    memset(&s, 0, sizeof s);
    herald_queue_list(ctx, 0, remember, &s, NULL);
    cr_assert_eq(s.attempts, 2);
    cr_assert_eq(s.last_cls, HERALD_ERR_RATE_LIMITED);
    herald_close(ctx);
}

Test(spool_run, permanent_failure_in_a_run_goes_to_failed_with_the_reason)
{
    herald_ctx *ctx = open_probe(NULL, "spool = always\nfail = 14\n");
    char id[64];
    herald_error *err = NULL;
    cr_assert_eq(send_one(ctx, "doomed", id, &err), HERALD_QUEUED);
    herald_queue_stats st;
    cr_assert_eq(herald_queue_run(ctx, NULL, &st, &err), HERALD_OK);
    cr_assert_eq(st.failed, 1);
    cr_assert_eq(su_count(tmp, "queue"), 0);
    cr_assert_eq(su_count(tmp, "failed"), 1);
    struct seen s = {0};
    cr_assert_eq(herald_queue_list(ctx, HERALD_QUEUE_FAILED, remember, &s, NULL), HERALD_OK);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.id, id);
    cr_assert(strstr(s.reason, "permanent:") && strstr(s.reason, "the probe failed"),
              "%s", s.reason);
    cr_assert_eq(s.next, 0);
    /* A plain run never retries a dead letter. */
    cr_assert_eq(herald_queue_run(ctx, NULL, &st, &err), HERALD_OK);
    cr_assert_eq(st.failed + st.delivered + st.deferred, 0);
    /* get finds it among the dead; drop removes it. */
    memset(&s, 0, sizeof s);
    cr_assert_eq(herald_queue_get(ctx, id, remember, &s, &err), HERALD_OK);
    cr_assert(s.reason[0]);
    cr_assert_eq(herald_queue_drop(ctx, id, &err), HERALD_OK);
    cr_assert_eq(su_count(tmp, "failed"), 0);
    cr_assert_eq(herald_queue_get(ctx, id, remember, &s, &err), HERALD_ERR_USAGE);
    cr_assert(strstr(herald_error_message(err), id));
    cr_assert(strstr(herald_error_fix(err), "herald queue list"));
    herald_error_free(err);
    herald_close(ctx);
}

Test(spool_run, permanent_failure_in_send_is_handed_back_not_queued)
{
    herald_ctx *ctx = open_probe(NULL, "fail = 14\n");
    herald_error *err = NULL;
    cr_assert_eq(send_one(ctx, "x", NULL, &err), HERALD_ERR_PERMANENT);
    cr_assert(err);
    herald_error_free(err);
    cr_assert_eq(su_count(tmp, "queue"), 0);
    herald_close(ctx);
}

Test(spool_run, spool_never_hands_the_error_back)
{
    herald_ctx *ctx = open_probe(NULL, "fail = 13\nspool = never\n");
    herald_error *err = NULL;
    cr_assert_eq(send_one(ctx, "x", NULL, &err), HERALD_ERR_TEMPORARY);
    herald_error_free(err);
    cr_assert_eq(su_count(tmp, "queue"), 0);
    herald_close(ctx);
}

Test(spool_run, spool_always_queues_without_trying_and_validates_first)
{
    herald_ctx *ctx = open_probe(NULL, "spool = always\n");
    char id[64];
    herald_error *err = NULL;
    cr_assert_eq(send_one(ctx, "later", id, &err), HERALD_QUEUED);
    cr_assert_eq(sends("later"), 0, "not tried");
    struct seen s = {0};
    herald_queue_list(ctx, 0, remember, &s, NULL);
    cr_assert_eq(s.attempts, 0);
    cr_assert_str_eq(s.last, "");
    /* An invalid message is refused at once, not queued. */
    herald_msg *m = herald_msg_new();
    herald_msg_set_text(m, "no recipient");
    cr_assert_eq(herald_send(ctx, "p", m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    herald_error_free(err);
    herald_msg_free(m);
    cr_assert_eq(su_count(tmp, "queue"), 1);
    herald_queue_stats st;
    cr_assert_eq(herald_queue_run(ctx, NULL, &st, NULL), HERALD_OK);
    cr_assert_eq(st.delivered, 1);
    cr_assert_eq(sends("later"), 1);
    herald_close(ctx);
}

Test(spool_run, message_older_than_spool_max_age_goes_to_failed)
{
    herald_ctx *ctx = open_probe("spool_max_age = 1s\n", "spool = always\n");
    herald_error *err = NULL;
    cr_assert_eq(send_one(ctx, "old", NULL, &err), HERALD_QUEUED);
    sleep(2);
    herald_queue_stats st;
    cr_assert_eq(herald_queue_run(ctx, NULL, &st, &err), HERALD_OK);
    cr_assert_eq(st.expired, 1);
    cr_assert_eq(sends("old"), 0, "expired messages are not sent");
    struct seen s = {0};
    herald_queue_list(ctx, HERALD_QUEUE_FAILED, remember, &s, NULL);
    cr_assert_eq(s.n, 1);
    cr_assert(strstr(s.reason, "older than spool_max_age (1s)"), "%s", s.reason);
    /* retry brings a dead letter back with its age counted afresh. */
    size_t n = 0;
    cr_assert_eq(herald_queue_retry(ctx, NULL, HERALD_QUEUE_FAILED, &n, &err), HERALD_OK);
    cr_assert_eq(n, 1);
    cr_assert_eq(herald_queue_run(ctx, NULL, &st, &err), HERALD_OK);
    cr_assert_eq(st.delivered, 1);
    cr_assert_eq(sends("old"), 1);
    herald_close(ctx);
}

Test(spool_run, purge_max_messages_stop_and_channel_filter)
{
    herald_ctx *ctx = open_probe(NULL, "spool = always\n");
    for (int i = 0; i < 5; i++) {
        char subj[16];
        snprintf(subj, sizeof subj, "m%d", i);
        cr_assert_eq(send_one(ctx, subj, NULL, NULL), HERALD_QUEUED);
    }
    herald_queue_run_opts o = {0, NULL, 2, NULL};
    herald_queue_stats st;
    cr_assert_eq(herald_queue_run(ctx, &o, &st, NULL), HERALD_OK);
    cr_assert_eq(st.delivered, 2);
    cr_assert_eq(sends("m0") + sends("m1"), 2, "oldest first");
    volatile sig_atomic_t stop = 1;
    herald_queue_run_opts o2 = {0, &stop, 0, NULL};
    cr_assert_eq(herald_queue_run(ctx, &o2, &st, NULL), HERALD_OK);
    cr_assert_eq(st.delivered, 0, "stop is checked before each message");
    herald_queue_run_opts o3 = {0, NULL, 0, "other"};
    cr_assert_eq(herald_queue_run(ctx, &o3, &st, NULL), HERALD_OK);
    cr_assert_eq(st.delivered, 0);
    size_t n = 0;
    cr_assert_eq(herald_queue_purge(ctx, 0, 3600, &n, NULL), HERALD_OK);
    cr_assert_eq(n, 0, "none is an hour old");
    cr_assert_eq(herald_queue_purge(ctx, 0, 0, &n, NULL), HERALD_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(su_count(tmp, "queue"), 0);
    herald_close(ctx);
}

Test(spool_run, no_spool_dir_is_a_config_error_with_the_fix)
{
    herald_ctx *ctx = NULL;
    cr_assert_eq(herald_open_string("[channel p]\ndriver = probe\n", "n.conf", 0,
                                    &ctx, NULL), HERALD_OK);
    herald_error *err = NULL;
    cr_assert_eq(herald_queue_run(ctx, NULL, NULL, &err), HERALD_ERR_CONFIG);
    cr_assert(strstr(herald_error_fix(err), "spool_dir"));
    herald_error_free(err);
    cr_assert_null(herald_queue_dir(ctx));
    herald_close(ctx);
}

/* In a child with a 16 KiB file size limit (SIGXFSZ ignored, so writes
 * fail with EFBIG), queue a 64 KiB message both ways.  Exit status: 0 when
 * both calls fail with an error naming the limit, else a code for what
 * went wrong. */
static int fsize_child(void)
{
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {16384, 16384};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
        return 10;
    herald_ctx *ctx = open_probe(NULL, "fail = 13\n");
    char *big = malloc(65536);
    memset(big, 'a', 65535);
    big[65535] = 0;
    herald_msg *m = su_msg("big");
    herald_msg_set_text(m, big);
    herald_error *err = NULL;
    herald_result *res = NULL;
    herald_class rc = herald_send(ctx, "p", m, &res, &err);
    if (rc == HERALD_QUEUED || res)
        return 11;
    if (rc != HERALD_ERR_INTERNAL || !strstr(herald_error_message(err), "file size limit")
        || !strstr(herald_error_message(err), "the probe failed") ||
        !herald_error_fix(err) || !strstr(herald_error_fix(err), "ulimit"))
        return (fprintf(stderr, "send: %d %s\n", rc, herald_error_message(err)), 12);
    herald_error_free(err);
    err = NULL;
    rc = herald_queue_add(ctx, "p", m, &res, &err);
    if (rc != HERALD_ERR_INTERNAL || res ||
        !strstr(herald_error_message(err), "file size limit") ||
        !strstr(herald_error_fix(err), "nothing was queued"))
        return (fprintf(stderr, "add: %d %s\n", rc, herald_error_message(err)), 13);
    herald_error_free(err);
    herald_msg_free(m);
    free(big);
    herald_close(ctx);
    return 0;
}

Test(spool_run, file_size_limit_is_an_error_never_queued_nothing_half_written)
{
    /* Make the spool first, so the child only writes records. */
    herald_ctx *ctx = open_probe(NULL, "");
    herald_close(ctx);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(fsize_child());
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "child died: %d", status);
    cr_assert_eq(WEXITSTATUS(status), 0, "child step %d failed", WEXITSTATUS(status));
    cr_assert_eq(su_count(tmp, "queue"), 0, "nothing visible in the queue");
    cr_assert_eq(su_count(tmp, "tmp"), 0, "the partial file was removed");
}

Test(spool_run, message_for_a_channel_gone_from_the_config_goes_to_failed)
{
    herald_ctx *ctx = open_probe(NULL, "spool = always\n");
    herald_msg *m = su_msg("orphan");
    herald_result *res = NULL;
    cr_assert_eq(herald_send(ctx, "p", m, &res, NULL), HERALD_QUEUED);
    cr_assert_str_eq(herald_result_channel(res), "p");
    cr_assert_eq(herald_result_attempts(res), 0, "queued without trying");
    herald_result_free(res);
    herald_msg_free(m);
    herald_close(ctx);
    /* The same spool, the channel renamed. */
    char *ch = tu_printf("[channel q]\ndriver = probe\nsend_log = %s/sent\n", tmp);
    ctx = su_open(tmp, NULL, ch);
    free(ch);
    cr_assert(ctx);
    herald_queue_stats st;
    cr_assert_eq(herald_queue_run(ctx, NULL, &st, NULL), HERALD_OK);
    cr_assert_eq(st.failed, 1);
    struct seen s = {0};
    herald_queue_list(ctx, HERALD_QUEUE_FAILED, remember, &s, NULL);
    cr_assert(strstr(s.reason, "channel 'p' is no longer in spool.conf"), "%s", s.reason);
    herald_close(ctx);
}
