/* tests/libherald/test_rate.c - `rate_limit` and `rate_burst`: a token
 * bucket per channel that every thread of a context shares.  50 messages
 * from 5 threads at 10/s take at least 4.5 s, and no one-second window
 * sees more than rate + burst sends; a burst goes at once, the message
 * after it waits (the wait is in the attempt's delay). */
#include "config.h"
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "deliver_util.h"

TestSuite(rate, .timeout = 90);

#define THREADS 5

struct sender {
    herald_ctx *ctx;
    int n;
    long long *at;      /* when each send returned */
    int failed;
};

static void *send_loop(void *arg)
{
    struct sender *s = arg;
    for (int i = 0; i < s->n; i++) {
        herald_msg *m = dt_msg("r");
        if (herald_send(s->ctx, "p", m, NULL, NULL) != HERALD_OK)
            s->failed++;
        s->at[i] = dt_ms();
        herald_msg_free(m);
    }
    return NULL;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

Test(rate, fifty_messages_at_ten_per_second_from_five_threads)
{
    int per = dt_valgrind() ? 3 : 10, total = per * THREADS;
    herald_ctx *ctx = dt_open("[channel p]\ndriver = probe\nrate_limit = 10/s\n");
    long long *at = calloc((size_t)total, sizeof *at);
    struct sender s[THREADS];
    pthread_t t[THREADS];
    long long t0 = dt_ms();
    for (int i = 0; i < THREADS; i++) {
        s[i] = (struct sender){ctx, per, at + i * per, 0};
        cr_assert_eq(pthread_create(&t[i], NULL, send_loop, &s[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(s[i].failed, 0);
    }
    long long elapsed = dt_ms() - t0;
    /* burst 1: the first goes at once, each later one 100 ms after */
    long long floor_ms = (long long)(total - 1) * 100 - 400;
    cr_assert(elapsed >= floor_ms, "%d messages took %lld ms (at least %lld expected)",
              total, elapsed, floor_ms);
    qsort(at, (size_t)total, sizeof *at, cmp_ll);
    int most = 0;
    for (int i = 0; i < total; i++) {
        int n = 0;
        for (int j = i; j < total && at[j] - at[i] < 1000; j++)
            n++;
        most = n > most ? n : most;
    }
    cr_assert(most <= 11, "%d sends in one second at 10/s with burst 1", most);
    fprintf(stderr, "rate: %d messages at 10/s in %lld ms, at most %d in any second\n",
            total, elapsed, most);
    free(at);
    herald_close(ctx);
}

Test(rate, a_burst_goes_at_once_and_the_next_waits_for_a_token)
{
    herald_ctx *ctx = dt_open("[channel p]\ndriver = probe\nrate_limit = 2/s\n"
                              "rate_burst = 4\n");
    herald_msg *m = dt_msg("r");
    for (int i = 0; i < 4; i++) {
        herald_result *res = NULL;
        cr_assert_eq(herald_send(ctx, "p", m, &res, NULL), HERALD_OK);
        cr_assert_eq(herald_result_tried_delay_ms(res, 0), 0, "message %d waited", i);
        herald_result_free(res);
    }
    herald_result *res = NULL;
    long long t0 = dt_ms();
    cr_assert_eq(herald_send(ctx, "p", m, &res, NULL), HERALD_OK);
    long long ms = dt_ms() - t0;
    cr_assert(ms >= 400, "the fifth message did not wait: %lld ms", ms);
    cr_assert(herald_result_tried_delay_ms(res, 0) >= 400, "%lld",
              herald_result_tried_delay_ms(res, 0));
    herald_result_free(res);
    herald_channel_state st;
    cr_assert_eq(herald_channel_status(ctx, "p", &st, NULL), HERALD_OK);
    cr_assert_float_eq(st.rate_per_s, 2.0, 1e-9);
    cr_assert_float_eq(st.rate_burst, 4.0, 1e-9);
    cr_assert(st.rate_tokens < 1.0, "tokens %f", st.rate_tokens);
    herald_msg_free(m);
    herald_close(ctx);
}

Test(rate, per_minute_and_per_channel)
{
    herald_ctx *ctx = dt_open("[channel slow]\ndriver = probe\nrate_limit = 60/min\n"
                              "[channel free]\ndriver = probe\n");
    herald_channel_state st;
    cr_assert_eq(herald_channel_status(ctx, "slow", &st, NULL), HERALD_OK);
    cr_assert_float_eq(st.rate_per_s, 1.0, 1e-9);
    cr_assert_eq(herald_channel_status(ctx, "free", &st, NULL), HERALD_OK);
    cr_assert_float_eq(st.rate_per_s, 0.0, 1e-12);
    /* the slow channel's bucket does not hold the other back */
    herald_msg *m = dt_msg("r");
    cr_assert_eq(herald_send(ctx, "slow", m, NULL, NULL), HERALD_OK);
    long long t0 = dt_ms();
    for (int i = 0; i < 5; i++)
        cr_assert_eq(herald_send(ctx, "free", m, NULL, NULL), HERALD_OK);
    cr_assert(dt_ms() - t0 < 900, "an unlimited channel waited");
    herald_msg_free(m);
    herald_close(ctx);
}
