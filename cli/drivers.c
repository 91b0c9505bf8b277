/*
 * cli/drivers.c - herald drivers [show NAME]: list the driver files on the
 * plugin path, or describe one driver and every option it accepts.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"

const char drivers_help[] =
    "Usage: herald drivers [--json]\n"
    "       herald drivers show NAME [--json]\n"
    "\n"
    "List every driver file on the plugin path (the config's plugin_dir,\n"
    "then $HERALD_PLUGIN_PATH, then " HERALD_PLUGINDIR "), with its\n"
    "version, ABI, capabilities and path, or why it was refused.\n"
    "A config file is used when one is found, but none is needed.\n"
    "\n"
    "'drivers show NAME' prints the driver's description and every option a\n"
    "channel using it accepts: type, whether required, default, whether\n"
    "secret, and what it does.\n"
    "\n"
    "  --json  print JSON instead of text\n";


static const struct {
    unsigned long long bit;
    const char *word;
} cap_words[] = {
    {HERALD_CAP_EMAIL, "email"},
    {HERALD_CAP_CHAT, "chat"},
    {HERALD_CAP_TEXT, "text"},
    {HERALD_CAP_HTML, "html"},
    {HERALD_CAP_ATTACHMENTS, "attachments"},
    {HERALD_CAP_CC_BCC, "cc-bcc"},
    {HERALD_CAP_REPLY_TO, "reply-to"},
    {HERALD_CAP_HEADERS, "headers"},
    {HERALD_CAP_TAGS, "tags"},
    {HERALD_CAP_METADATA, "metadata"},
    {HERALD_CAP_IDEMPOTENCY, "idempotency"},
    {HERALD_CAP_UTF8_ADDRESS, "utf8-address"},
    {HERALD_CAP_THREAD_SAFE, "thread-safe"},
};

/* Capabilities as words separated by @sep; each word quoted when @json. */
static void print_caps(unsigned long long caps, const char *sep, int json)
{
    int first = 1;
    for (size_t i = 0; i < sizeof cap_words / sizeof cap_words[0]; i++) {
        if (!(caps & cap_words[i].bit))
            continue;
        fputs(first ? "" : sep, stdout);
        if (json)
            json_str(stdout, cap_words[i].word);
        else
            fputs(cap_words[i].word, stdout);
        caps &= ~cap_words[i].bit;
        first = 0;
    }
    if (caps) {
        fputs(first ? "" : sep, stdout);
        printf(json ? "\"0x%llx\"" : "0x%llx", caps);
        first = 0;
    }
    if (first && !json)
        fputs("none", stdout);
}

static const char *opt_type_name(herald_opt_type t)
{
    switch (t) {
    case HERALD_OPT_STRING: return "string";
    case HERALD_OPT_INT: return "int";
    case HERALD_OPT_BOOL: return "bool";
    case HERALD_OPT_ENUM: return "enum";
    case HERALD_OPT_DURATION: return "duration";
    case HERALD_OPT_PATH: return "path";
    }
    return "unknown";
}

struct drivers_walk {
    struct cli *cli;
    const char *want;       /* NULL: list all; else `show` this name */
    size_t count;
    int found;              /* `show`: the driver was printed */
    char *refused;          /* `show`: why the wanted driver was refused */
    char *names;            /* every loadable name, for "unknown driver" */
};

static void list_driver_text(const herald_driver_info *d)
{
    if (d->refused) {
        printf("%-12s %-9s %-8s %s\n", d->name, "-", "-", d->path);
        fputs("    refused: ", stdout);
        put_text(stdout, d->refused, 0);
        putchar('\n');
        if (d->refused_fix) {
            fputs("    fix: ", stdout);
            put_text(stdout, d->refused_fix, 0);
            putchar('\n');
        }
        return;
    }
    char abi[32];
    snprintf(abi, sizeof abi, "abi %u.%u", d->abi_major, d->abi_minor);
    printf("%-12s %-9s %-8s %s\n", d->name, d->version ? d->version : "-",
           abi, d->path);
    if (d->description && *d->description)
        printf("    %s\n", d->description);
    fputs("    capabilities: ", stdout);
    print_caps(d->caps, " ", 0);
    putchar('\n');
}

static void list_driver_json(const herald_driver_info *d, int first)
{
    printf("%s{", first ? "" : ",");
    json_kv(stdout, "name", d->name);
    putchar(',');
    json_kv(stdout, "path", d->path);
    putchar(',');
    json_kv(stdout, "version", d->version);
    putchar(',');
    json_kv(stdout, "description", d->description);
    if (d->refused) {
        fputs(",\"abi\":null,\"capabilities\":[],", stdout);
    } else {
        printf(",\"abi\":\"%u.%u\",\"capabilities\":[", d->abi_major,
               d->abi_minor);
        print_caps(d->caps, ",", 1);
        fputs("],", stdout);
    }
    json_kv(stdout, "refused", d->refused);
    putchar(',');
    json_kv(stdout, "refused_fix", d->refused_fix);
    putchar('}');
}

/* One option of `drivers show`, as text. */
static void show_option_text(const herald_option *o)
{
    printf("  %s\n    type: %s", o->name, opt_type_name(o->type));
    if (o->type == HERALD_OPT_ENUM && o->choices)
        printf(" (one of: %s)", o->choices);
    if ((o->type == HERALD_OPT_INT || o->type == HERALD_OPT_DURATION) &&
        o->max > o->min)
        printf(" (%lld..%lld%s)", o->min, o->max,
               o->type == HERALD_OPT_DURATION ? " ms" : "");
    putchar('\n');
    if (o->flags & HERALD_OPT_REQUIRED)
        puts("    required: yes");
    else if (o->default_value)
        printf("    default: %s\n", o->default_value);
    else
        puts("    required: no (no default)");
    if (o->flags & HERALD_OPT_SECRET)
        printf("    secret: yes; also accepted as %s_env = VARIABLE or "
               "%s_file = PATH\n", o->name, o->name);
    if (o->doc && *o->doc)
        printf("    %s\n", o->doc);
}

static void show_option_json(const herald_option *o, int first)
{
    printf("%s{", first ? "" : ",");
    json_kv(stdout, "name", o->name);
    putchar(',');
    json_kv(stdout, "type", opt_type_name(o->type));
    putchar(',');
    json_kv(stdout, "choices",
            o->type == HERALD_OPT_ENUM ? o->choices : NULL);
    printf(",\"required\":%s,",
           o->flags & HERALD_OPT_REQUIRED ? "true" : "false");
    json_kv(stdout, "default", o->default_value);
    printf(",\"secret\":%s,", o->flags & HERALD_OPT_SECRET ? "true" : "false");
    if ((o->type == HERALD_OPT_INT || o->type == HERALD_OPT_DURATION) &&
        o->max > o->min)
        printf("\"min\":%lld,\"max\":%lld,", o->min, o->max);
    json_kv(stdout, "doc", o->doc);
    putchar('}');
}

static void show_driver(const struct cli *cli, const herald_driver_info *d)
{
    const herald_option *o;
    if (cli->json) {
        printf("{");
        json_kv(stdout, "name", d->name);
        putchar(',');
        json_kv(stdout, "version", d->version);
        printf(",\"abi\":\"%u.%u\",", d->abi_major, d->abi_minor);
        json_kv(stdout, "path", d->path);
        putchar(',');
        json_kv(stdout, "description", d->description);
        fputs(",\"capabilities\":[", stdout);
        print_caps(d->caps, ",", 1);
        fputs("],\"options\":[", stdout);
        for (o = d->options; o && o->name; o++)
            show_option_json(o, o == d->options);
        puts("]}");
        return;
    }
    printf("%s %s (driver ABI %u.%u)\n", d->name, d->version ? d->version : "",
           d->abi_major, d->abi_minor);
    if (d->description && *d->description)
        printf("%s\n", d->description);
    printf("path: %s\ncapabilities: ", d->path);
    print_caps(d->caps, " ", 0);
    printf("\n\nOptions of a [channel NAME] section with driver = %s:\n",
           d->name);
    for (o = d->options; o && o->name; o++)
        show_option_text(o);
    if (!d->options || !d->options->name)
        puts("  (none)");
    puts("\nEvery channel also takes the core keys 'driver' (required), "
         "'from' (the\ndefault sender) and the others listed in herald.conf(5).");
}

/* 1 when @name is an entry of the ", "-separated @list. */
static int name_listed(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; p && *p; p += strspn(p, ", ")) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, name, n) == 0)
            return 1;
        p += len;
    }
    return 0;
}

static void on_driver(const herald_driver_info *d, void *user_data)
{
    struct drivers_walk *w = user_data;
    if (!w->want) {
        if (w->cli->json)
            list_driver_json(d, w->count == 0);
        else
            list_driver_text(d);
        w->count++;
        return;
    }
    if (!d->refused && !name_listed(w->names, d->name))
        w->names = str_append(w->names, "%s%s", w->names ? ", " : "",
                              d->name);
    if (w->found || w->refused || strcmp(d->name, w->want) != 0)
        return;
    if (d->refused) {
        w->refused = d->refused_fix
            ? xasprintf("%s: %s\n  fix: %s", d->path, d->refused, d->refused_fix)
            : xasprintf("%s: %s", d->path, d->refused);
        return;
    }
    show_driver(w->cli, d);
    w->found = 1;
}

/* A context for the plugin_dir of the config, or NULL when there is no
 * config or it does not open (drivers need no config). */
static herald_ctx *drivers_context(const struct cli *cli)
{
    char *tried = NULL;
    char *path = find_config(cli, &tried);
    free(tried);
    if (!path)
        return NULL;
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    char *problem = NULL;
    const char *fix = NULL;
    if (config_file_problem(path, &problem, &fix) ||
        herald_open(path, HERALD_OPEN_KEEP_BROKEN, &ctx, &err) != HERALD_OK) {
        if (!cli->quiet) {
            char *what = xasprintf("note: listing without the config's "
                                   "plugin_dir: %s", problem ? problem :
                                   herald_error_message(err));
            say_err(what, problem ? fix : herald_error_fix(err));
            free(what);
        }
        herald_error_free(err);
        free(problem);
        ctx = NULL;
    } else {
        apply_log_level(cli, ctx);
    }
    free(path);
    return ctx;
}

int cmd_drivers(struct cli *cli, int argc, char **argv)
{
    int rc = parse_json_only(cli, argc, argv, drivers_help);
    if (rc != CONTINUE)
        return rc;
    struct drivers_walk w;
    memset(&w, 0, sizeof w);
    w.cli = cli;
    if (optind < argc) {
        if (strcmp(argv[optind], "show") != 0)
            return fail(cli, HERALD_ERR_USAGE, "use 'herald drivers' or "
                        "'herald drivers show NAME'", "unknown drivers "
                        "subcommand '%s'", argv[optind]);
        cli->cmd = "drivers show";
        if (optind + 1 >= argc)
            return fail(cli, HERALD_ERR_USAGE, "name the driver: 'herald "
                        "drivers show NAME'", "missing driver NAME");
        if (optind + 2 < argc)
            return fail(cli, HERALD_ERR_USAGE, "name one driver: 'herald "
                        "drivers show NAME'", "unexpected argument '%s'",
                        argv[optind + 2]);
        w.want = argv[optind + 1];
    }

    herald_ctx *ctx = drivers_context(cli);
    herald_error *err = NULL;
    if (!w.want && cli->json)
        fputs("{\"drivers\":[", stdout);
    herald_class cls = herald_drivers_foreach(ctx, on_driver, &w, &err);
    if (!w.want && cli->json)
        puts("]}");
    herald_close(ctx);
    rc = EX_OK;
    if (cls != HERALD_OK) {
        rc = fail_err(cli, cls, err);
    } else if (w.want && w.refused) {
        rc = fail(cli, HERALD_ERR_CONFIG, NULL,
                  "driver '%s' cannot be loaded: %s", w.want, w.refused);
    } else if (w.want && !w.found) {
        rc = fail(cli, HERALD_ERR_CONFIG, "install it, or add its directory "
                  "to plugin_dir or $HERALD_PLUGIN_PATH", "no driver named "
                  "'%s' on the plugin path (available: %s)", w.want,
                  w.names ? w.names : "none");
    } else if (!w.want && w.count == 0 && !cli->quiet) {
        fprintf(stderr, "herald: no drivers found on the plugin path "
                        "(plugin_dir, $HERALD_PLUGIN_PATH, %s)\n",
                HERALD_PLUGINDIR);
    }
    free(w.refused);
    free(w.names);
    return rc;
}
