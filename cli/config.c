/*
 * cli/config.c - herald config check: load the config file, initialise
 * every channel and print one line per channel.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"

const char config_help[] =
    "Usage: herald config check [--json]\n"
    "\n"
    "Read the config file, load the driver of every channel and initialise\n"
    "it, then print one line per channel:\n"
    "  OK   NAME (DRIVER)\n"
    "  FAIL NAME (DRIVER): what is wrong\n"
    "       fix: how to fix it (when herald knows)\n"
    "Exits 0 when every channel is OK, 78 otherwise.\n"
    "\n"
    "  --json  print JSON instead of text\n";


static int config_check(struct cli *cli)
{
    herald_ctx *ctx = NULL;
    char *path = NULL;
    int rc = open_config(cli, HERALD_OPEN_KEEP_BROKEN | HERALD_OPEN_INIT_ALL, &ctx, &path);
    if (rc != EX_OK)
        return rc;
    size_t n = herald_channel_count(ctx), broken = 0;
    if (cli->json) {
        printf("{");
        json_kv(stdout, "config", path);
        fputs(",\"channels\":[", stdout);
    } else if (!cli->quiet) {
        printf("config %s\n", path);
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = herald_channel_name(ctx, i);
        const char *driver = herald_channel_driver(ctx, i);
        const herald_error *err = herald_channel_error(ctx, i);
        const char *why = err ? channel_error_text(err, name) : NULL;
        const char *fix = herald_error_fix(err);
        broken += err != NULL;
        if (cli->json) {
            printf("%s{", i ? "," : "");
            json_kv(stdout, "name", name);
            putchar(',');
            json_kv(stdout, "driver", driver);
            printf(",\"ok\":%s,", err ? "false" : "true");
            json_kv(stdout, "error", why);
            putchar(',');
            json_kv(stdout, "fix", fix);
            putchar('}');
        } else if (err) {
            printf("FAIL %s (%s): ", name, driver ? driver : "?");
            put_text(stdout, why, 1);
            putchar('\n');
            if (fix) {
                fputs("     fix: ", stdout);
                put_text(stdout, fix, 1);
                putchar('\n');
            }
        } else {
            printf("OK   %s (%s)\n", name, driver ? driver : "?");
        }
    }
    if (cli->json)
        printf("],\"ok\":%s}\n", n && !broken ? "true" : "false");
    if (n == 0) {
        char *what = xasprintf("%s defines no channels", path);
        say_err(what, "add a [channel NAME] section (see herald.conf(5))");
        free(what);
        rc = EX_CONFIG;
    } else if (broken) {
        fprintf(stderr, "herald: %zu of %zu channel%s broken in %s\n", broken,
                n, n == 1 ? "" : "s", path);
        rc = EX_CONFIG;
    }
    herald_close(ctx);
    free(path);
    return rc;
}

int cmd_config(struct cli *cli, int argc, char **argv)
{
    int rc = parse_json_only(cli, argc, argv, config_help);
    if (rc != CONTINUE)
        return rc;
    if (optind >= argc)
        return fail(cli, HERALD_ERR_USAGE, "use 'herald config check'",
                    "missing subcommand");
    if (strcmp(argv[optind], "check") != 0)
        return fail(cli, HERALD_ERR_USAGE, "use 'herald config check'",
                    "unknown config subcommand '%s'", argv[optind]);
    if (optind + 1 < argc)
        return fail(cli, HERALD_ERR_USAGE, "use 'herald config check'",
                    "unexpected argument '%s'", argv[optind + 1]);
    return config_check(cli);
}
