/*
 * tests/support/drivers/probe.c - a test driver for the core's own behaviour:
 * serialization of non-thread-safe drivers, error propagation, log
 * redaction, unsupported fields, the check hook and lazy init.  It is not
 * thread-safe on purpose and records the most concurrent send() calls it
 * ever saw.  With `init_log = FILE` each init appends "init CHANNEL\n" to
 * FILE (so a test counts inits from outside); `init_fail = CLASS` makes
 * init fail with that class.  For the reliability layer: `fail_first = N`
 * fails the first N sends of each driver instance with `fail_class`
 * (default temporary) and then succeeds; `retry_after = S` is the hint on
 * every failure (-1: none); `send_log = FILE` appends "CHANNEL<TAB>SUBJECT"
 * and a newline for every successful send (one write, O_APPEND, so
 * processes can share it); `post_delay` sleeps after that line is written,
 * before send returns (the window where a killed runner has delivered but
 * not yet recorded it).
 */
#include "config.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <herald/plugin.h>

struct probe {
    const herald_host *host;
    herald_channel *ch;
    atomic_int inflight, max_inflight;
    atomic_int sent;
    atomic_int attempts;
};

static const herald_option probe_options[] = {
    {"token", HERALD_OPT_STRING, HERALD_OPT_SECRET, NULL, NULL, "a secret the driver logs", 0, 0},
    {"log_token", HERALD_OPT_BOOL, 0, "no", NULL, "log the token (to test redaction)", 0, 0},
    {"fail", HERALD_OPT_INT, 0, "0", NULL, "fail every send with this herald_class", 0, 15},
    {"delay", HERALD_OPT_DURATION, 0, "0", NULL, "time spent in send", 0, 0},
    {"log_text", HERALD_OPT_BOOL, 0, "no", NULL, "log the message's text body (to test escaping)", 0, 0},
    {"init_log", HERALD_OPT_PATH, 0, NULL, NULL, "append \"init CHANNEL\" here on each init", 0, 0},
    {"init_delay", HERALD_OPT_DURATION, 0, "0", NULL, "time spent in init", 0, 0},
    {"init_fail", HERALD_OPT_INT, 0, "0", NULL, "fail init with this herald_class", 0, 16},
    {"fail_first", HERALD_OPT_INT, 0, "0", NULL, "fail the first N sends, then succeed", 0, 1000000},
    {"fail_class", HERALD_OPT_INT, 0, "13", NULL, "the herald_class of the fail_first failures", 1, 16},
    {"retry_after", HERALD_OPT_INT, 0, "30", NULL, "retry-after hint on failures, seconds (-1: none)", -1, 1000000},
    {"send_log", HERALD_OPT_PATH, 0, NULL, NULL, "append \"CHANNEL\tSUBJECT\" here per successful send", 0, 0},
    {"post_delay", HERALD_OPT_DURATION, 0, "0", NULL, "time spent in send after a success is logged (a window for crash tests)", 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

static herald_class probe_init(const herald_host *host, herald_channel *ch,
                               void **state_r, herald_error **err_r)
{
    const char *log = host->opt_str(ch, "init_log");
    if (log && *log) {
        FILE *f = fopen(log, "a");
        if (!f)
            return host->error(err_r, HERALD_ERR_CONFIG, NULL, NULL, -1,
                               "cannot open init_log %s", log);
        fprintf(f, "init %s\n", host->channel_name(ch));
        fclose(f);
    }
    long long ms = host->opt_int(ch, "init_delay");
    if (ms > 0)
        usleep((useconds_t)(ms * 1000));
    int fail = (int)host->opt_int(ch, "init_fail");
    if (fail)
        return host->error(err_r, (herald_class)fail, NULL, NULL, -1,
                           "the probe's init failed as configured");
    struct probe *p = calloc(1, sizeof *p);
    if (!p)
        return host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1, "oom");
    p->host = host;
    p->ch = ch;
    if (host->opt_bool(ch, "log_token"))
        host->log(ch, HERALD_LOG_WARNING, "token is %s (len %zu)",
                  host->opt_str(ch, "token"), strlen(host->opt_str(ch, "token")));
    *state_r = p;
    return HERALD_OK;
}

static herald_class probe_send(void *state, const herald_msg *msg,
                               herald_result *res, herald_error **err_r)
{
    struct probe *p = state;
    int now = atomic_fetch_add(&p->inflight, 1) + 1;
    int seen = atomic_load(&p->max_inflight);
    while (now > seen && !atomic_compare_exchange_weak(&p->max_inflight, &seen, now))
        ;
    long long ms = p->host->opt_int(p->ch, "delay");
    if (ms > 0)
        usleep((useconds_t)(ms * 1000));
    atomic_fetch_sub(&p->inflight, 1);
    if (p->host->opt_bool(p->ch, "log_token"))
        p->host->log(p->ch, HERALD_LOG_INFO, "sending with token %s",
                     p->host->opt_str(p->ch, "token"));
    if (p->host->opt_bool(p->ch, "log_text"))
        p->host->log(p->ch, HERALD_LOG_WARNING, "text: %s",
                     p->host->msg_get(msg, HERALD_FIELD_TEXT));
    int fail = (int)p->host->opt_int(p->ch, "fail");
    for (size_t i = 0; i < p->host->msg_count(msg, HERALD_LIST_TO); i++) {
        const char *a = p->host->msg_address(msg, HERALD_LIST_TO, i, NULL);
        int ok = strncmp(a, "reject", 6) != 0;
        p->host->result_add_recipient(res, a, ok, ok ? "250 ok" : "550 no such user");
    }
    long hint = (long)p->host->opt_int(p->ch, "retry_after");
    if (fail)
        return p->host->error(err_r, (herald_class)fail, "503", "provider says no", hint,
                              "the probe failed as configured; set fail = 0");
    int n = atomic_fetch_add(&p->attempts, 1);
    if (n < p->host->opt_int(p->ch, "fail_first"))
        return p->host->error(err_r, (herald_class)p->host->opt_int(p->ch, "fail_class"),
                              "451", "try again later", hint,
                              "the probe fails its first %lld sends (attempt %d)",
                              p->host->opt_int(p->ch, "fail_first"), n + 1);
    const char *log = p->host->opt_str(p->ch, "send_log");
    if (log && *log) {
        char line[512];
        const char *subj = p->host->msg_get(msg, HERALD_FIELD_SUBJECT);
        int len = snprintf(line, sizeof line, "%s\t%s\n", p->host->channel_name(p->ch),
                           subj ? subj : "");
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0 || write(fd, line, (size_t)len) != len) {
            if (fd >= 0)
                close(fd);
            return p->host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                                  "cannot append to send_log %s", log);
        }
        close(fd);
    }
    long long post = p->host->opt_int(p->ch, "post_delay");
    if (post > 0)
        usleep((useconds_t)(post * 1000));
    char id[64];
    snprintf(id, sizeof id, "probe-%d", atomic_fetch_add(&p->sent, 1) + 1);
    p->host->result_set_id(res, id);
    return HERALD_OK;
}

/* The "payload" is the concurrency record, so tests can read it. */
static herald_class probe_render(void *state, const herald_msg *msg,
                                 char **payload_r, size_t *len_r,
                                 herald_error **err_r)
{
    struct probe *p = state;
    char *s = p->host->alloc(64);
    if (!s)
        return p->host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1, "oom");
    int n = snprintf(s, 64, "max_inflight=%d subject=%s", atomic_load(&p->max_inflight),
                     p->host->msg_get(msg, HERALD_FIELD_SUBJECT));
    *payload_r = s;
    *len_r = (size_t)(n < 64 ? n : 63);
    return HERALD_OK;
}

static herald_class probe_check(void *state, herald_checker *chk,
                                herald_error **err_r)
{
    struct probe *p = state;
    p->host->report_step(chk, "dns", HERALD_CHECK_OK, 1.5, "resolves to 127.0.0.1", NULL);
    p->host->report_step(chk, "connect", HERALD_CHECK_FAIL, 3000.0,
                         "no answer in 3s", "use an HTTP API driver");
    const char *to = p->host->check_param(chk, "send_test");
    if (to)
        p->host->report_step(chk, "send_test", HERALD_CHECK_OK, 0, to, NULL);
    return HERALD_OK;
}

static void probe_teardown(void *state)
{
    free(state);
}

HERALD_PLUGIN_DEFINE(probe,
    .version = "0.0.1",
    .description = "test driver for the core (not thread-safe)",
    .caps = HERALD_CAP_EMAIL | HERALD_CAP_TEXT,
    .options = probe_options,
    .init = probe_init,
    .send = probe_send,
    .teardown = probe_teardown,
    .render = probe_render,
    .check = probe_check)
