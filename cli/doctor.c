/*
 * cli/doctor.c - herald doctor: run each channel driver's checks and print
 * every step as it comes, with its fix, then a summary per channel.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cli.h"

const char doctor_help[] =
    "Usage: herald doctor [CHANNEL...] [--send-test ADDR] [--json]\n"
    "\n"
    "Diagnose each CHANNEL (default: every channel of the config file, in\n"
    "file order) without delivering anything.  The channel's driver runs its\n"
    "own checks; the SMTP driver resolves the host, connects, checks the TLS\n"
    "mode, the certificate and the credentials.  A driver without checks is\n"
    "reported as 'config valid, driver loads'.  One line per check:\n"
    "  CHANNEL  STEP .......   123 ms  OK|WARN|FAIL|INFO  what was found\n"
    "                 fix: what to do (after a failure or warning)\n"
    "then one summary line per channel.\n"
    "\n"
    "  --send-test ADDR  also try the envelope (sender and recipient ADDR)\n"
    "                    where the driver can, to catch a rejected sender;\n"
    "                    no message is sent\n"
    "  --json            print one JSON array with one object per check:\n"
    "                    channel, step, status (ok, warn, fail, info),\n"
    "                    elapsed_ms, detail, fix\n"
    "\n"
    "A channel that fails a check and has a `fallback` gets one more step,\n"
    "'fallback': the fallback's own checks (an HTTP driver: its API host),\n"
    "summed up, e.g. \"SMTP blocked, HTTPS works: your fallback `api` will\n"
    "carry the mail\".\n"
    "Timeouts are each channel's own (its driver's timeout options).\n"
    "Exits 0 when every channel checked is healthy (no check failed), 69\n"
    "when one is not (a failed check, a broken or unknown channel), 78 when\n"
    "the config file cannot be read.\n"
    "\n"
    "Example:\n"
    "  herald doctor alerts --send-test ops@example.com\n";


/* Width of the step column in text output, dot leader included. */
#define STEP_WIDTH 20

enum { OPT_SEND_TEST = OPT_COMMAND };

static const char *const status_word[] = {"OK", "WARN", "FAIL", "INFO"};
static const char *const status_json[] = {"ok", "warn", "fail", "info"};

/* One `herald doctor` run: output state and the tally of the channel
 * being checked. */
struct doctor {
    const struct cli *cli;
    int width;              /* channel column of text output */
    size_t printed;         /* JSON objects written so far */
    size_t steps, failed, warned;   /* this channel */
    char *failed_names;     /* this channel's failed steps, ", "-separated */
};

static double ms_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* "STEP ......" padded to STEP_WIDTH (at least one space after STEP). */
static void print_step_leader(const char *step)
{
    size_t n = strlen(step);
    fputs(step, stdout);
    if (n + 3 > STEP_WIDTH) {
        putchar(' ');
        return;
    }
    putchar(' ');
    for (size_t i = n + 1; i < STEP_WIDTH; i++)
        putchar('.');
}

static void print_step_json(struct doctor *d, const char *channel,
                            const char *step, herald_check_status status,
                            double ms, const char *detail, const char *fix)
{
    fputs(d->printed++ ? ",\n{" : "\n{", stdout);
    json_kv(stdout, "channel", channel);
    putchar(',');
    json_kv(stdout, "step", step);
    putchar(',');
    json_kv(stdout, "status", status_json[status]);
    printf(",\"elapsed_ms\":%.1f,", ms);
    json_kv(stdout, "detail", detail);
    putchar(',');
    json_kv(stdout, "fix", fix);
    putchar('}');
}

static void print_step_text(const struct doctor *d, const char *channel,
                            const char *step, herald_check_status status,
                            double ms, const char *detail, const char *fix)
{
    printf("%-*s  ", d->width, channel);
    print_step_leader(step);
    printf(" %6.0f ms  %-4s  ", ms, status_word[status]);
    put_text(stdout, detail, 0);
    putchar('\n');
    if (fix) {
        printf("%-*s    fix: ", d->width, "");
        put_text(stdout, fix, 0);
        putchar('\n');
    }
}

/* herald_check_fn: print one step as it comes, with its detail and its
 * fix as the driver gave them, and count it. */
static void on_check_step(const char *channel, const char *step,
                          herald_check_status status, double elapsed_ms,
                          const char *detail, const char *fix,
                          void *user_data)
{
    struct doctor *d = user_data;
    if ((unsigned)status > HERALD_CHECK_INFO)
        status = HERALD_CHECK_FAIL;
    if (!(elapsed_ms >= 0 && elapsed_ms < 1e12)) /* NaN, negative, absurd */
        elapsed_ms = 0;
    if (!step || !*step)
        step = "check";
    d->steps++;
    d->warned += status == HERALD_CHECK_WARN;
    if (status == HERALD_CHECK_FAIL) {
        d->failed++;
        d->failed_names = str_append(d->failed_names, "%s%s",
                                     d->failed_names ? ", " : "", step);
    }
    if (d->cli->json)
        print_step_json(d, channel, step, status, elapsed_ms, detail, fix);
    else if (!d->cli->quiet || status == HERALD_CHECK_FAIL ||
             status == HERALD_CHECK_WARN)
        print_step_text(d, channel, step, status, elapsed_ms, detail, fix);
    fflush(stdout);
}

/* Index of channel @name in @ctx, or -1. */
static long channel_index(const herald_ctx *ctx, const char *name)
{
    size_t n = herald_channel_count(ctx);
    for (size_t i = 0; i < n; i++)
        if (strcmp(herald_channel_name(ctx, i), name) == 0)
            return (long)i;
    return -1;
}

/* The names of every channel, ", "-separated (malloc'd; NULL for none). */
static char *channel_names(const herald_ctx *ctx)
{
    char *names = NULL;
    size_t n = herald_channel_count(ctx);
    for (size_t i = 0; i < n; i++)
        names = str_append(names, "%s%s", i ? ", " : "",
                           herald_channel_name(ctx, i));
    return names;
}

/* A channel that the config does not define: one failed "config" step. */
static void doctor_unknown(struct doctor *d, herald_ctx *ctx,
                           const char *path, const char *name)
{
    char *names = channel_names(ctx);
    char *detail = xasprintf("no channel named '%s' in %s", name, path);
    char *fix = names ? xasprintf("name one of the channels of the config (%s),"
                                  " or give no name to check them all", names)
                      : xstrdup("add a [channel NAME] section (see "
                                "herald.conf(5))");
    on_check_step(name, "config", HERALD_CHECK_FAIL, 0, detail, fix, d);
    free(fix);
    free(detail);
    free(names);
}

/* Summary of the channel just checked (text output). */
static void doctor_summary(const struct doctor *d, const char *name,
                           double ms)
{
    if (d->cli->json || (d->cli->quiet && !d->failed))
        return;
    if (d->failed) {
        printf("%-*s  NOT HEALTHY: %zu of %zu check%s failed (%s)\n",
               d->width, name, d->failed, d->steps, d->steps == 1 ? "" : "s",
               d->failed_names);
        return;
    }
    printf("%-*s  healthy: %zu check%s passed", d->width, name, d->steps,
           d->steps == 1 ? "" : "s");
    if (d->warned)
        printf(", %zu with a warning", d->warned);
    printf(" in %.0f ms\n", ms);
}

/* What a fallback's own checks came to (counted, not printed). */
struct quiet_tally {
    size_t steps, failed;
    int tls_ok;             /* a "tls" step passed: HTTPS reaches it */
    char *failed_names;
};

static void count_step(const char *channel, const char *step,
                       herald_check_status status, double elapsed_ms,
                       const char *detail, const char *fix, void *user)
{
    (void)channel; (void)elapsed_ms; (void)detail; (void)fix;
    struct quiet_tally *t = user;
    t->steps++;
    if (strcmp(step, "tls") == 0 && status != HERALD_CHECK_FAIL)
        t->tls_ok = 1;
    if (status == HERALD_CHECK_FAIL) {
        t->failed++;
        t->failed_names = str_append(t->failed_names, "%s%s",
                                     t->failed_names ? ", " : "", step);
    }
}

/* A channel that failed a check and has a fallback: check the fallback
 * (its driver's own checks, e.g. the HTTPS API host) and say in one step
 * whether it will carry the mail. */
static void doctor_fallback(struct doctor *d, herald_ctx *ctx, const char *name,
                            const char *const *params)
{
    herald_channel_state st;
    if (herald_channel_status(ctx, name, &st, NULL) != HERALD_OK || !st.fallback)
        return;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct quiet_tally t = {0, 0, 0, NULL};
    herald_error *err = NULL;
    herald_class cls = herald_check(ctx, st.fallback, params, count_step, &t, &err);
    herald_error_free(err);
    long i = channel_index(ctx, name);
    const char *drv = i >= 0 ? herald_channel_driver(ctx, (size_t)i) : NULL;
    int blocked = d->failed_names && strstr(d->failed_names, "connect") &&
                  drv && strcmp(drv, "smtp") == 0 && t.tls_ok;
    char *detail, *fix = NULL;
    if (cls == HERALD_OK && !t.failed) {
        detail = blocked
            ? xasprintf("SMTP blocked, HTTPS works: your fallback `%s` will "
                        "carry the mail", st.fallback)
            : xasprintf("your fallback `%s` is healthy (%zu check%s passed): "
                        "it will carry the mail", st.fallback, t.steps,
                        t.steps == 1 ? "" : "s");
    } else {
        detail = xasprintf("your fallback `%s` is not healthy either%s%s%s",
                           st.fallback, t.failed_names ? " (failed: " : "",
                           t.failed_names ? t.failed_names : "",
                           t.failed_names ? ")" : "");
        fix = xasprintf("run `herald doctor %s` for its checks and fixes",
                        st.fallback);
    }
    on_check_step(name, "fallback", cls == HERALD_OK && !t.failed
                  ? HERALD_CHECK_OK : HERALD_CHECK_FAIL, ms_since(&t0), detail,
                  fix, d);
    free(detail);
    free(fix);
    free(t.failed_names);
}

/* Diagnose one channel; returns 1 when it is healthy (no step failed). */
static int doctor_channel(struct doctor *d, herald_ctx *ctx, const char *path,
                          const char *name, const char *const *params)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    d->steps = d->failed = d->warned = 0;
    free(d->failed_names);
    d->failed_names = NULL;

    long i = channel_index(ctx, name);
    const herald_error *broken = i >= 0 ? herald_channel_error(ctx, (size_t)i)
                                        : NULL;
    if (i < 0) {
        doctor_unknown(d, ctx, path, name);
    } else if (broken) {
        on_check_step(name, "config", HERALD_CHECK_FAIL, 0,
                      channel_error_text(broken, name),
                      herald_error_fix(broken), d);
    } else {
        herald_error *err = NULL;
        herald_class cls = herald_check(ctx, name, params, on_check_step, d,
                                        &err);
        /* A driver that failed without reporting a failed step. */
        if (cls != HERALD_OK && !d->failed)
            on_check_step(name, "check", HERALD_CHECK_FAIL, ms_since(&t0),
                          err ? channel_error_text(err, name)
                              : herald_strerror(cls), herald_error_fix(err),
                          d);
        herald_error_free(err);
        if (d->failed)
            doctor_fallback(d, ctx, name, params);
    }
    doctor_summary(d, name, ms_since(&t0));
    return d->failed == 0;
}

/* Parse `doctor` options.  Returns CONTINUE or an exit status. */
static int parse_doctor(struct cli *cli, int argc, char **argv,
                        const char **send_test_r)
{
    static const struct option longopts[] = {
        GLOBAL_LONGOPTS,
        {"json", no_argument, NULL, OPT_JSON},
        {"send-test", required_argument, NULL, OPT_SEND_TEST},
        {NULL, 0, NULL, 0}
    };
    getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":" GLOBAL_SHORTOPTS, longopts,
                            NULL)) != -1) {
        int rc = global_option(cli, c, argv, doctor_help);
        if (rc == -2 && c == OPT_JSON)
            cli->json = 1;
        else if (rc == -2 && c == OPT_SEND_TEST)
            *send_test_r = optarg;
        else if (rc != CONTINUE)
            return rc;
    }
    if (*send_test_r && !strchr(*send_test_r, '@'))
        return fail(cli, HERALD_ERR_USAGE, "give one, e.g. --send-test "
                    "ops@example.com", "--send-test '%s': expected an email "
                    "address", *send_test_r);
    return CONTINUE;
}

/* 1 when @name is among the first @n entries of @names. */
static int seen_before(char **names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

int cmd_doctor(struct cli *cli, int argc, char **argv)
{
    const char *send_test = NULL;
    int rc = parse_doctor(cli, argc, argv, &send_test);
    if (rc != CONTINUE)
        return rc;
    herald_ctx *ctx = NULL;
    char *path = NULL;
    if ((rc = open_config(cli, HERALD_OPEN_KEEP_BROKEN | HERALD_OPEN_INIT_ALL, &ctx, &path)) != EX_OK)
        return rc;

    /* The channels to check: those named, else all in config order. */
    int named = argc - optind;
    size_t n = named ? (size_t)named : herald_channel_count(ctx);
    const char **which = xcalloc(n, sizeof *which);
    for (size_t k = 0; k < n; k++)
        which[k] = named ? argv[optind + (int)k] : herald_channel_name(ctx, k);
    if (n == 0) {
        rc = fail(cli, HERALD_ERR_CONFIG, "add a [channel NAME] section "
                  "(see herald.conf(5))", "%s defines no channels", path);
        goto out;
    }

    const char *params[] = {"send_test", send_test, NULL};
    struct doctor d;
    memset(&d, 0, sizeof d);
    d.cli = cli;
    for (size_t k = 0; k < n; k++)
        if (strlen(which[k]) > (size_t)d.width && strlen(which[k]) < 40)
            d.width = (int)strlen(which[k]);

    size_t checked = 0, sick = 0;
    char *sick_names = NULL;
    if (cli->json)
        putchar('[');
    for (size_t k = 0; k < n; k++) {
        if (named && seen_before(argv + optind, (int)k, which[k]))
            continue;
        if (!cli->json && !cli->quiet && checked)
            putchar('\n');
        checked++;
        if (!doctor_channel(&d, ctx, path, which[k],
                            send_test ? params : NULL)) {
            sick++;
            sick_names = str_append(sick_names, "%s%s", sick_names ? ", " : "",
                                    which[k]);
        }
    }
    if (cli->json)
        puts(d.printed ? "\n]" : "]");
    else if (checked > 1 && (!cli->quiet || sick))
        printf("\n%zu of %zu channels healthy%s%s\n", checked - sick, checked,
               sick ? "; not healthy: " : "", sick ? sick_names : "");
    rc = sick ? EX_UNAVAILABLE : EX_OK;
    free(sick_names);
    free(d.failed_names);
out:
    free(which);
    herald_close(ctx);
    free(path);
    return rc;
}
