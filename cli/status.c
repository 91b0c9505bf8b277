/*
 * cli/status.c - herald status: each channel's circuit breaker (closed,
 * open, half-open, failures, next trial) and rate limit (rate, burst,
 * tokens), from herald_channel_status().
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cli.h"

const char status_help[] =
    "Usage: herald status [CHANNEL...] [--json]\n"
    "\n"
    "Show each CHANNEL's circuit breaker and rate limit (default: every\n"
    "channel of the config file, in file order), one line per channel:\n"
    "  CHANNEL  breaker closed|open|half-open|off  failures N/THRESHOLD\n"
    "           [next trial TIME]  rate N/s burst B tokens T  [fallback F]\n"
    "With [herald] spool_dir the breaker is the one every herald process\n"
    "shares (SPOOL_DIR/state); without, each process has its own, so this\n"
    "shows a fresh (closed) one.  Drivers are not started.\n"
    "\n"
    "  --json   print one JSON array, one object per channel: channel,\n"
    "           breaker, failures, threshold, next_trial (ISO 8601 UTC or\n"
    "           null), shared, rate_per_s, rate_burst, rate_tokens, fallback\n"
    "\n"
    "Exits 0, 69 when a breaker is open (or half-open), 78 when the config\n"
    "file or a channel named is broken.\n";

static const char *const breaker_word[] = {"off", "closed", "open", "half-open"};

static void format_time(char *buf, size_t n, long long ms)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "%lld", ms / 1000);
}

static void print_json(int first, const char *name, const herald_channel_state *st)
{
    char when[40];
    printf("%s{", first ? "" : ",");
    json_kv(stdout, "channel", name);
    printf(",\"breaker\":\"%s\",\"failures\":%u,\"threshold\":%u,"
           "\"next_trial\":", breaker_word[st->breaker], st->failures,
           st->threshold);
    if (st->next_trial_ms) {
        format_time(when, sizeof when, st->next_trial_ms);
        json_str(stdout, when);
    } else {
        fputs("null", stdout);
    }
    printf(",\"shared\":%s,\"rate_per_s\":%g,\"rate_burst\":%g,"
           "\"rate_tokens\":%.2f,", st->shared ? "true" : "false",
           st->rate_per_s, st->rate_burst, st->rate_tokens);
    json_kv(stdout, "fallback", st->fallback);
    putchar('}');
}

static void print_text(const char *name, const herald_channel_state *st)
{
    char when[40];
    put_text(stdout, name, 0);
    printf("  breaker %s", breaker_word[st->breaker]);
    if (st->breaker != HERALD_BREAKER_OFF)
        printf("  failures %u/%u", st->failures, st->threshold);
    if (st->next_trial_ms) {
        format_time(when, sizeof when, st->next_trial_ms);
        printf("  next trial %s", when);
    }
    if (st->rate_per_s > 0)
        printf("  rate %g/s burst %g tokens %.1f", st->rate_per_s,
               st->rate_burst, st->rate_tokens);
    else
        fputs("  rate unlimited", stdout);
    if (st->fallback) {
        fputs("  fallback ", stdout);
        put_text(stdout, st->fallback, 0);
    }
    putchar('\n');
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
    int rc = parse_json_only(cli, argc, argv, status_help);
    if (rc != CONTINUE)
        return rc;
    herald_ctx *ctx = NULL;
    if ((rc = open_config(cli, HERALD_OPEN_KEEP_BROKEN, &ctx, NULL)) != EX_OK)
        return rc;
    size_t n = optind < argc ? (size_t)(argc - optind)
                             : herald_channel_count(ctx);
    rc = EX_OK;
    if (cli->json)
        putchar('[');
    int first = 1;
    for (size_t i = 0; i < n; i++) {
        const char *name = optind < argc ? argv[optind + (int)i]
                                         : herald_channel_name(ctx, i);
        herald_channel_state st;
        herald_error *err = NULL;
        herald_class cls = herald_channel_status(ctx, name, &st, &err);
        if (cls != HERALD_OK) {
            say_err(herald_error_message(err), herald_error_fix(err));
            herald_error_free(err);
            rc = EX_CONFIG;
            continue;
        }
        if (cli->json)
            print_json(first, name, &st);
        else
            print_text(name, &st);
        first = 0;
        if (st.breaker == HERALD_BREAKER_OPEN ||
            st.breaker == HERALD_BREAKER_HALF_OPEN)
            rc = rc == EX_OK ? EX_UNAVAILABLE : rc;
    }
    if (cli->json)
        puts("]");
    herald_close(ctx);
    return rc;
}
