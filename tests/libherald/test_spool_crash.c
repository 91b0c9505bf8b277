/* tests/libherald/test_spool_crash.c - the spool under SIGKILL and
 * concurrency, with real processes (fork) and the probe driver:
 *  (a) a process queueing messages is killed at random points: every
 *      message it was told was queued is in the spool and whole, and no
 *      partial record is visible;
 *  (b) a runner is killed mid-delivery at random points, then a new
 *      runner runs: every message is delivered at least once, and the
 *      duplicates are at most the messages in flight (one per kill);
 *  (c) two runners at once on 1,000 messages: each delivered exactly once.
 * The counts are printed for the record. */
#include "config.h"
#include <criterion/criterion.h>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
}

static void teardown(void)
{
    tu_rmrf(tmp);
    free(tmp);
}

TestSuite(spool_crash, .init = setup, .fini = teardown, .timeout = 240);

static herald_ctx *open_round(const char *dir, const char *opts)
{
    char *ch = tu_printf("[channel p]\ndriver = probe\nfrom = a@example.com\nretries = 0\n"
                         "spool = always\nsend_log = %s/sent\n%s", dir, opts);
    herald_ctx *ctx = su_open(dir, NULL, ch);
    free(ch);
    return ctx;
}

static herald_msg *numbered(const char *prefix, int i, size_t body)
{
    char subj[32];
    snprintf(subj, sizeof subj, "%s%d", prefix, i);
    herald_msg *m = su_msg(subj);
    if (body) {
        char *text = malloc(body + 1);
        memset(text, 'q', body);
        text[body] = 0;
        herald_msg_set_text(m, text);
        free(text);
    }
    return m;
}

static void queue_n(herald_ctx *ctx, const char *prefix, int n)
{
    for (int i = 0; i < n; i++) {
        herald_msg *m = numbered(prefix, i, 0);
        herald_error *err = NULL;
        cr_assert_eq(herald_queue_add(ctx, "p", m, NULL, &err), HERALD_QUEUED, "%s",
                     herald_error_message(err));
        herald_msg_free(m);
    }
}

/* ---------------------------------------------------------------- (a) */

/* Queue messages forever; after each QUEUED, append its id to @told in
 * one write. */
static void enqueue_forever(const char *dir, const char *told)
{
    herald_ctx *ctx = open_round(dir, "");
    if (!ctx)
        _exit(3);
    int fd = open(told, O_WRONLY | O_APPEND | O_CREAT, 0600);
    for (int i = 0;; i++) {
        herald_msg *m = numbered("e", i, 2000 + (size_t)(i % 7) * 3000);
        herald_result *res = NULL;
        if (herald_queue_add(ctx, "p", m, &res, NULL) != HERALD_QUEUED)
            _exit(4);
        char line[80];
        int len = snprintf(line, sizeof line, "%s\n", herald_result_queue_id(res));
        if (write(fd, line, (size_t)len) != len)
            _exit(5);
        herald_result_free(res);
        herald_msg_free(m);
    }
}

static int count_whole(const herald_queue_item *item, void *user)
{
    (void)item;
    (*(int *)user)++;
    return 0;
}

Test(spool_crash, killed_while_queueing_loses_nothing_it_confirmed)
{
    int rounds = su_valgrind() ? 4 : 25;
    long told_total = 0, present_total = 0, unconfirmed = 0, partial_tmp = 0;
    for (int r = 0; r < rounds; r++) {
        char *dir = tu_printf("%s/a%d", tmp, r);
        cr_assert_eq(mkdir(dir, 0700), 0);
        herald_ctx *ctx = open_round(dir, "");   /* creates the spool */
        cr_assert(ctx);
        char *told = tu_printf("%s/told", dir);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0)
            enqueue_forever(dir, told);
        usleep((useconds_t)(20000 + rand() % (su_valgrind() ? 400000 : 150000)));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        cr_assert(WIFSIGNALED(status), "the child stopped on its own: %d", status);
        /* Every confirmed id is there and reads back whole. */
        char *ids = tu_read_file(told, NULL);
        long n_told = 0;
        for (char *line = ids ? strtok(ids, "\n") : NULL; line; line = strtok(NULL, "\n")) {
            int whole = 0;
            herald_error *err = NULL;
            cr_assert_eq(herald_queue_get(ctx, line, count_whole, &whole, &err), HERALD_OK,
                         "round %d: confirmed message %s: %s", r, line,
                         herald_error_message(err));
            n_told++;
        }
        free(ids);
        /* Every visible record is whole (list logs and skips broken ones:
         * compare its count with the directory's). */
        int listed = 0;
        cr_assert_eq(herald_queue_list(ctx, 0, count_whole, &listed, NULL), HERALD_OK);
        int present = su_count(dir, "queue");
        cr_assert_eq(listed, present, "round %d: %d files, %d whole", r, present, listed);
        cr_assert(present >= n_told);
        told_total += n_told;
        present_total += present;
        unconfirmed += present - n_told;
        partial_tmp += su_count(dir, "tmp");
        herald_close(ctx);
        free(told);
        free(dir);
    }
    fprintf(stderr, "spool crash (a): %d kills while queueing; %ld messages "
            "confirmed queued, %ld in the spool, all whole; %ld written but "
            "killed before the caller heard (also whole); %ld partial files "
            "left in tmp/ (never visible)\n", rounds, told_total, present_total,
            unconfirmed, partial_tmp);
    cr_assert(told_total > 0);
}

/* ---------------------------------------------------------------- (b) */

static void run_forever(const char *dir)
{
    /* Half the time before the send is recorded, half after: a kill in
     * the second half leaves a delivered message unacknowledged. */
    herald_ctx *ctx = open_round(dir, "delay = 4ms\npost_delay = 4ms\n");
    if (!ctx)
        _exit(3);
    herald_queue_run_opts o = {HERALD_QUEUE_RUN_ALL, NULL, 0, NULL};
    herald_queue_run(ctx, &o, NULL, NULL);
    herald_close(ctx);
    _exit(0);
}

Test(spool_crash, runner_killed_mid_delivery_then_a_new_runner_loses_nothing)
{
    int rounds = su_valgrind() ? 3 : 25, n = su_valgrind() ? 10 : 40;
    long before_kill = 0, dups = 0, kills = 0, finished_early = 0;
    int *counts = calloc((size_t)n, sizeof *counts);
    for (int r = 0; r < rounds; r++) {
        char *dir = tu_printf("%s/b%d", tmp, r);
        cr_assert_eq(mkdir(dir, 0700), 0);
        herald_ctx *ctx = open_round(dir, "");
        cr_assert(ctx);
        queue_n(ctx, "r", n);
        pid_t pid = fork();
        cr_assert(pid >= 0);
        if (pid == 0)
            run_forever(dir);
        usleep((useconds_t)(rand() % (n * 9000)));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status))
            kills++;
        else
            finished_early++;
        char *log = tu_printf("%s/sent", dir);
        before_kill += su_count_sends(log, "r", counts, n);
        /* A new runner: the dead one's lock is gone at once. */
        herald_queue_run_opts o = {HERALD_QUEUE_RUN_ALL, NULL, 0, NULL};
        herald_queue_stats st;
        herald_error *err = NULL;
        cr_assert_eq(herald_queue_run(ctx, &o, &st, &err), HERALD_OK, "%s",
                     herald_error_message(err));
        cr_assert_eq(st.busy, 0, "round %d: a dead runner's claim is free", r);
        long total = su_count_sends(log, "r", counts, n);
        int round_dups = 0;
        for (int i = 0; i < n; i++) {
            cr_assert(counts[i] >= 1, "round %d: message r%d never delivered", r, i);
            round_dups += counts[i] - 1;
        }
        cr_assert(round_dups <= 1, "round %d: %d duplicates, one message was in "
                  "flight", r, round_dups);
        cr_assert_eq(total, n + round_dups);
        cr_assert_eq(su_count(dir, "queue"), 0);
        dups += round_dups;
        free(log);
        herald_close(ctx);
        free(dir);
    }
    fprintf(stderr, "spool crash (b): %ld runners killed mid-run (%ld finished "
            "first), %d messages each; %ld sends before the kills; after a new "
            "runner every message delivered at least once; %ld duplicates "
            "(at most 1 in flight per kill)\n", kills, finished_early, n,
            before_kill, dups);
    free(counts);
}

/* ---------------------------------------------------------------- (c) */

Test(spool_crash, two_runners_at_once_deliver_each_message_exactly_once)
{
    int n = su_valgrind() ? 60 : 1000;
    herald_ctx *ctx = open_round(tmp, "");
    cr_assert(ctx);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    queue_n(ctx, "c", n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double enq = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    pid_t pids[2];
    for (int k = 0; k < 2; k++) {
        pids[k] = fork();
        cr_assert(pids[k] >= 0);
        if (pids[k] == 0) {
            herald_ctx *c = open_round(tmp, "");
            herald_queue_run_opts o = {HERALD_QUEUE_RUN_ALL, NULL, 0, NULL};
            herald_queue_stats st = {0};
            herald_class rc = c ? herald_queue_run(c, &o, &st, NULL) : HERALD_ERR_CONFIG;
            fprintf(stderr, "spool crash (c): runner %d delivered %zu, skipped %zu "
                    "held by the other\n", k, st.delivered, st.busy);
            herald_close(c);
            _exit(rc == HERALD_OK ? 0 : 1);
        }
    }
    for (int k = 0; k < 2; k++) {
        int status;
        cr_assert_eq(waitpid(pids[k], &status, 0), pids[k]);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    int *counts = calloc((size_t)n, sizeof *counts);
    char *log = tu_printf("%s/sent", tmp);
    long total = su_count_sends(log, "c", counts, n);
    for (int i = 0; i < n; i++)
        cr_assert_eq(counts[i], 1, "message c%d delivered %d times", i, counts[i]);
    cr_assert_eq(total, n);
    cr_assert_eq(su_count(tmp, "queue"), 0);
    fprintf(stderr, "spool crash (c): two runners at once, %d messages, each "
            "delivered exactly once (queued in %.2f s, %.0f/s with fsync)\n",
            n, enq, n / enq);
    free(log);
    free(counts);
    herald_close(ctx);
}
