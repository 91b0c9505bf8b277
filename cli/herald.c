/*
 * cli/herald.c - the herald command: send a message, list and describe
 * drivers, check a config file.  Uses only the public API of libherald
 * (<herald/herald.h>, plus the option-table types of <herald/plugin.h> for
 * `herald drivers show`).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <herald/herald.h>
#include "base/base.h"
#include <herald/plugin.h>

#include "base/base.h"

#ifndef HERALD_SYSCONFDIR
#define HERALD_SYSCONFDIR "/etc"
#endif
#ifndef HERALD_PLUGINDIR
#define HERALD_PLUGINDIR "/usr/lib/herald"
#endif

/* Options every command accepts, before or after the command name. */
struct cli {
    const char *config;  /* --config FILE */
    int verbose;         /* -v count */
    int quiet;           /* -q */
    int json;            /* --json (commands that have it) */
    const char *cmd;     /* "send", "drivers", ... for hints */
};

/* A command's parser returns this to mean "keep going". */
#define CONTINUE (-1)

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static void die_oom(void)
{
    fputs("herald: out of memory\n", stderr);
    exit(EX_SOFTWARE);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        die_oom();
    return p;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        die_oom();
    return d;
}

static char *xstrndup(const char *s, size_t n)
{
    char *d = strndup(s, n);
    if (!d)
        die_oom();
    return d;
}

static char *xasprintf(const char *fmt, ...) HERALD_PRINTF(1, 2);
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        die_oom();
    return s;
}

/* Append to a malloc'd string (NULL starts a new one). */
static char *str_append(char *s, const char *fmt, ...) HERALD_PRINTF(2, 3);
static char *str_append(char *s, const char *fmt, ...)
{
    va_list ap;
    char *add = NULL;
    va_start(ap, fmt);
    int n = vasprintf(&add, fmt, ap);
    va_end(ap);
    if (n < 0)
        die_oom();
    if (!s)
        return add;
    char *r = xasprintf("%s%s", s, add);
    free(s);
    free(add);
    return r;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ------------------------------------------------------------------ */
/* JSON output (escaped by hand: the CLI links nothing but libherald)  */
/* ------------------------------------------------------------------ */

/* The code point of the valid @n-byte UTF-8 sequence at @p when it is a C1
 * control (U+0080..U+009F, which terminals act on like ESC), else 0. */
static unsigned c1_control(const unsigned char *p, size_t n)
{
    return n == 2 && p[0] == 0xc2 && p[1] <= 0x9f ? p[1] : 0;
}

/* How put_escaped() writes a control character. */
enum esc_style {
    ESC_JSON,       /* \u00HH, quotes and backslash escaped, U+FFFD for
                       bytes that are not UTF-8 */
    ESC_TEXT,       /* \e \r \n \t \xHH, C1 as \u00HH, \xHH for bytes
                       that are not UTF-8 */
    ESC_TEXT_NL     /* ESC_TEXT, but a newline stays */
};

/* Write @len bytes of @s with every control character (C0, DEL, C1)
 * escaped as @style says; other valid UTF-8 passes.  Text that came from
 * outside (a provider's answer, a message id) cannot then move the cursor,
 * retitle the terminal or forge a line. */
static void put_escaped(FILE *f, const char *s, size_t len,
                        enum esc_style style)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        size_t n = hb_utf8_seq_len(p, (size_t)(end - p));
        unsigned c1 = n ? c1_control(p, n) : 0;
        if (n == 0 && style == ESC_JSON) {
            fputs("\\ufffd", f);
            p++;
        } else if (n == 0) {
            fprintf(f, "\\x%02x", *p++);
        } else if (c1) {
            fprintf(f, "\\u%04x", c1);
            p += n;
        } else if (n > 1) {
            fwrite(p, 1, n, f);
            p += n;
        } else if (style == ESC_JSON && (*p == '"' || *p == '\\')) {
            putc('\\', f);
            putc(*p++, f);
        } else if (*p == '\n' && style == ESC_TEXT_NL) {
            putc(*p++, f);
        } else if ((*p < 0x20 || *p == 0x7f) && style == ESC_JSON) {
            fprintf(f, "\\u%04x", *p++);
        } else if (*p < 0x20 || *p == 0x7f) {
            const char *named = *p == 0x1b ? "\\e" : *p == '\r' ? "\\r" :
                                *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : NULL;
            if (named)
                fputs(named, f);
            else
                fprintf(f, "\\x%02x", *p);
            p++;
        } else {
            putc(*p++, f);
        }
    }
}

/* A JSON string of @len bytes. */
static void json_strn(FILE *f, const char *s, size_t len)
{
    putc('"', f);
    put_escaped(f, s, len, ESC_JSON);
    putc('"', f);
}

/* A JSON string, or null for NULL. */
static void json_str(FILE *f, const char *s)
{
    if (s)
        json_strn(f, s, strlen(s));
    else
        fputs("null", f);
}

/* `"key":` followed by a string value. */
static void json_kv(FILE *f, const char *key, const char *value)
{
    json_str(f, key);
    putc(':', f);
    json_str(f, value);
}

/* Outside text for a terminal (see put_escaped); with @keep_nl newlines
 * stay (the CLI's own multi-line messages).  NULL prints nothing. */
static void put_text(FILE *f, const char *s, int keep_nl)
{
    if (s)
        put_escaped(f, s, strlen(s), keep_nl ? ESC_TEXT_NL : ESC_TEXT);
}

/* "herald: " + @msg (escaped, newlines kept) + "\n" on stderr. */
static void say_err(const char *msg)
{
    fputs("herald: ", stderr);
    put_text(stderr, msg, 1);
    putc('\n', stderr);
}

/* {"error":{...}} on stdout, one line. */
static void json_error(herald_class cls, const char *message, const char *code,
                       const char *provider_text, long retry_after,
                       const char *channel, int retryable)
{
    printf("{\"error\":{");
    json_kv(stdout, "class", herald_class_name(cls));
    putchar(',');
    json_kv(stdout, "code", code);
    putchar(',');
    json_kv(stdout, "message", message);
    putchar(',');
    json_kv(stdout, "provider_text", provider_text);
    putchar(',');
    json_kv(stdout, "channel", channel);
    printf(",\"retryable\":%s,\"exit_status\":%d,\"retry_after\":",
           retryable ? "true" : "false",
           herald_sysexit(cls));
    if (retry_after >= 0)
        printf("%ld", retry_after);
    else
        fputs("null", stdout);
    puts("}}");
}

/* ------------------------------------------------------------------ */
/* Reporting failures                                                  */
/* ------------------------------------------------------------------ */

/* Report a library error: "herald: MESSAGE" on stderr and, with --json, the
 * error object on stdout.  Frees @err.  Returns the exit status. */
static int fail_err(const struct cli *cli, herald_class cls, herald_error *err)
{
    if (err)
        cls = herald_error_class(err);
    const char *msg = err ? herald_error_message(err) : herald_strerror(cls);
    say_err(msg);
    if (err && herald_error_fix(err))
        fprintf(stderr, "  fix: %s\n", herald_error_fix(err));
    if (cli->json)
        json_error(cls, msg, herald_error_code(err),
                   herald_error_provider_text(err),
                   herald_error_retry_after(err), herald_error_channel(err),
                   err ? herald_error_retryable(err) : herald_class_retryable(cls));
    herald_error_free(err);
    return herald_sysexit(cls);
}

/* Report an error the CLI found itself.  Usage errors add a hint. */
static int fail(const struct cli *cli, herald_class cls, const char *fmt, ...)
    HERALD_PRINTF(3, 4);
static int fail(const struct cli *cli, herald_class cls, const char *fmt, ...)
{
    va_list ap;
    char *msg = NULL;
    va_start(ap, fmt);
    if (vasprintf(&msg, fmt, ap) < 0)
        die_oom();
    va_end(ap);
    say_err(msg);
    if (cls == HERALD_ERR_USAGE)
        fprintf(stderr, "try 'herald %s%s--help'\n", cli->cmd ? cli->cmd : "",
                cli->cmd ? " " : "");
    if (cli->json)
        json_error(cls, msg, NULL, NULL, -1, NULL, herald_class_retryable(cls));
    free(msg);
    return herald_sysexit(cls);
}

/* ------------------------------------------------------------------ */
/* Help texts                                                          */
/* ------------------------------------------------------------------ */

static const char main_help[] =
    "Usage: herald [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Send notifications through the channels named in herald.conf; list and\n"
    "describe the channel drivers; check a config file; diagnose a channel.\n"
    "\n"
    "Commands:\n"
    "  send --channel NAME --to ADDR [...]\n"
    "                     send one message through a channel\n"
    "  drivers            list the drivers found on the plugin path\n"
    "  drivers show NAME  describe a driver and every option it accepts\n"
    "  config check       load the config file and check every channel\n"
    "  doctor [CHANNEL...]\n"
    "                     diagnose channels (DNS, connect, TLS, auth, ...)\n"
    "                     and say how to fix what fails\n"
    "  help [COMMAND]     show help for a command\n"
    "\n"
    "Options (accepted before or after the command):\n"
    "  -c, --config FILE  use FILE instead of looking for herald.conf\n"
    "  -v, --verbose      log more: once for info, twice for debug\n"
    "  -q, --quiet        log errors only\n"
    "  -h, --help         show this help, or a command's help\n"
    "  -V, --version      show versions and built-in paths\n"
    "\n"
    "Config file: --config, else $HERALD_CONFIG, else\n"
    "$XDG_CONFIG_HOME/herald/herald.conf (~/.config/herald/herald.conf),\n"
    "else " HERALD_SYSCONFDIR "/herald/herald.conf.\n"
    "\n"
    "Exit status:\n"
    "   0  success\n"
    "  64  usage error: unknown option, missing argument\n"
    "  65  invalid message: bad address, CR/LF in a header, no body\n"
    "  68  host not found\n"
    "  69  rejected by the provider, or a permanent failure;\n"
    "      doctor: a channel is not healthy\n"
    "  70  internal error\n"
    "  74  cannot write the output; send: the message WAS sent, do not\n"
    "      send it again\n"
    "  75  temporary failure: try again later\n"
    "  76  TLS or protocol error, or delivery unknown: the message may\n"
    "      have been delivered; do not resend blindly\n"
    "  77  authentication failed\n"
    "  78  config file or driver error\n"
    "\n"
    "See herald(1) and herald.conf(5).\n";

static const char send_help[] =
    "Usage: herald send --channel NAME --to ADDR [OPTIONS]\n"
    "\n"
    "Send one message through channel NAME of the config file and print the\n"
    "provider's message id.\n"
    "\n"
    "Message:\n"
    "  --channel NAME        channel from the config file (required)\n"
    "  --to ADDR             recipient; repeat for more (at least one of\n"
    "                        --to, --cc, --bcc is required)\n"
    "  --cc ADDR             carbon-copy recipient; repeat for more\n"
    "  --bcc ADDR            blind-copy recipient; repeat for more\n"
    "  --from ADDR           sender (default: the channel's 'from')\n"
    "  --reply-to ADDR       Reply-To address\n"
    "  --subject TEXT        subject\n"
    "  --text TEXT           plain-text body\n"
    "  --text-file FILE      plain-text body read from FILE ('-': stdin)\n"
    "  --html HTML           HTML body\n"
    "  --html-file FILE      HTML body read from FILE ('-': stdin)\n"
    "                        (at least one body is required)\n"
    "                        FILEs must be regular files; at most 25 MiB\n"
    "                        is read from each (and from stdin)\n"
    "  --attach FILE[;name=NAME][;type=TYPE]\n"
    "                        attach FILE ('-': stdin), optionally under\n"
    "                        another name and content type; repeatable\n"
    "  --header 'NAME: VALUE' extra header; repeatable\n"
    "  --tag TAG             provider-side tag; repeatable\n"
    "  --metadata KEY=VALUE  provider-side metadata; repeatable\n"
    "  --idempotency-key KEY lets the provider drop a duplicate submission\n"
    "\n"
    "Output:\n"
    "  --dry-run             print the exact payload the driver would send\n"
    "                        (secrets shown as ***) and send nothing\n"
    "  --json                print the result, or the error, as JSON\n"
    "\n"
    "Addresses are 'user@example.com' or 'Name <user@example.com>'.\n"
    "Global options (-c FILE, -v, -q) are accepted here too.\n"
    "\n"
    "Example:\n"
    "  herald send --channel alerts --to ops@example.com \\\n"
    "      --subject 'disk full' --text-file - < report.txt\n";

static const char drivers_help[] =
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

static const char config_help[] =
    "Usage: herald config check [--json]\n"
    "\n"
    "Read the config file, load the driver of every channel and initialise\n"
    "it, then print one line per channel:\n"
    "  OK   NAME (DRIVER)\n"
    "  FAIL NAME (DRIVER): what is wrong and how to fix it\n"
    "Exits 0 when every channel is OK, 78 otherwise.\n"
    "\n"
    "  --json  print JSON instead of text\n";

static const char doctor_help[] =
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
    "Timeouts are each channel's own (its driver's timeout options).\n"
    "Exits 0 when every channel checked is healthy (no check failed), 69\n"
    "when one is not (a failed check, a broken or unknown channel), 78 when\n"
    "the config file cannot be read.\n"
    "\n"
    "Example:\n"
    "  herald doctor alerts --send-test ops@example.com\n";

static const char help_help[] =
    "Usage: herald help [COMMAND]\n"
    "\n"
    "Show the help of COMMAND (send, drivers, config, doctor), or the\n"
    "overview.\n";

static void print_version(void)
{
    printf("herald %s (libherald %s, driver ABI %d.%d)\n", PACKAGE_VERSION,
           herald_version(), HERALD_ABI_MAJOR, HERALD_ABI_MINOR);
    printf("plugin directory: %s\n", HERALD_PLUGINDIR);
    printf("system config:    %s/herald/herald.conf\n", HERALD_SYSCONFDIR);
}

/* ------------------------------------------------------------------ */
/* Option parsing shared by every command                              */
/* ------------------------------------------------------------------ */

#define GLOBAL_SHORTOPTS "c:vqhV"
#define GLOBAL_LONGOPTS                                   \
    {"config", required_argument, NULL, 'c'},             \
    {"verbose", no_argument, NULL, 'v'},                  \
    {"quiet", no_argument, NULL, 'q'},                    \
    {"help", no_argument, NULL, 'h'},                     \
    {"version", no_argument, NULL, 'V'}

/* Handle a global option or a getopt error.  Returns CONTINUE when handled,
 * an exit status to stop with, or -2 when @c is not a global option. */
static int global_option(struct cli *cli, int c, char **argv,
                         const char *help)
{
    switch (c) {
    case 'c':
        cli->config = optarg;
        return CONTINUE;
    case 'v':
        cli->verbose++;
        cli->quiet = 0;
        return CONTINUE;
    case 'q':
        cli->quiet = 1;
        cli->verbose = 0;
        return CONTINUE;
    case 'h':
        fputs(help, stdout);
        return EX_OK;
    case 'V':
        print_version();
        return EX_OK;
    case ':':
    case '?': {
        /* A long option is named by its argv word, a short one by optopt
         * (for long options glibc puts the option's value there). */
        const char *word = argv[optind - 1];
        char shortopt[3] = {'-', (char)optopt, '\0'};
        size_t n = strcspn(word, "=");
        if (strncmp(word, "--", 2) != 0 && optopt > 0 && optopt < 128)
            word = shortopt, n = 2;
        if (c == ':')
            return fail(cli, HERALD_ERR_USAGE, "option '%.*s' needs an "
                        "argument", (int)n, word);
        return fail(cli, HERALD_ERR_USAGE, "unknown option '%s'%s", word,
                    word[n] ? " (or it takes no argument)" : "");
    }
    default:
        return -2;
    }
}

/* Set up getopt for a fresh parse of @argv. */
static void getopt_reset(void)
{
    optind = 0;
    opterr = 0;
}

/* ------------------------------------------------------------------ */
/* Config lookup and opening                                           */
/* ------------------------------------------------------------------ */

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h && *h)
        return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir ? pw->pw_dir : NULL;
}

/* The config file to use: --config, $HERALD_CONFIG, the XDG user file, the
 * system file; the first that exists.  NULL when none does, with *tried_r a
 * malloc'd list of the places tried, one per line. */
static char *find_config(const struct cli *cli, char **tried_r)
{
    char *tried = NULL;
    if (cli->config)
        return xstrdup(cli->config);

    const char *env = getenv("HERALD_CONFIG");
    if (env && *env) {
        if (file_exists(env))
            return xstrdup(env);
        tried = str_append(tried, "  %s (from $HERALD_CONFIG)\n", env);
    } else {
        tried = str_append(tried, "  $HERALD_CONFIG (not set)\n");
    }

    const char *xdg = getenv("XDG_CONFIG_HOME");
    char *user = NULL;
    if (xdg && xdg[0] == '/') {
        user = xasprintf("%s/herald/herald.conf", xdg);
    } else {
        const char *home = home_dir();
        if (home)
            user = xasprintf("%s/.config/herald/herald.conf", home);
    }
    if (user) {
        if (file_exists(user)) {
            free(tried);
            return user;
        }
        tried = str_append(tried, "  %s (%s)\n", user,
                           xdg && xdg[0] == '/' ? "from $XDG_CONFIG_HOME"
                                                : "$XDG_CONFIG_HOME not set");
        free(user);
    }

    const char *sys = HERALD_SYSCONFDIR "/herald/herald.conf";
    if (file_exists(sys)) {
        free(tried);
        return xstrdup(sys);
    }
    tried = str_append(tried, "  %s (system config)\n", sys);
    *tried_r = tried;
    return NULL;
}

/* The message for "no config file found", naming every place tried. */
static int fail_no_config(const struct cli *cli, char *tried)
{
    int rc = fail(cli, HERALD_ERR_CONFIG,
                  "no config file found; looked for:\n%s"
                  "Create one (see herald.conf(5)) or pass --config FILE.",
                  tried);
    free(tried);
    return rc;
}

static herald_log_level log_level(const struct cli *cli)
{
    if (cli->quiet)
        return HERALD_LOG_ERROR;
    if (cli->verbose >= 2)
        return HERALD_LOG_DEBUG;
    if (cli->verbose == 1)
        return HERALD_LOG_INFO;
    return HERALD_LOG_WARNING;
}

/* -v / -q override the config's log_level; without them it stands. */
static void apply_log_level(const struct cli *cli, herald_ctx *ctx)
{
    if (cli->verbose || cli->quiet)
        herald_set_log_handler(ctx, log_level(cli), NULL, NULL);
}

/* Why the config file @path cannot be used, before herald_open() reads it
 * (malloc'd), or NULL.  A FIFO would block and /dev/zero would never end;
 * a file over HB_CONFIG_LIMIT is refused whole.  herald_open() reads with
 * the same bounds; a missing file is left to it to report. */
static char *config_file_problem(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return NULL;
    if (!S_ISREG(st.st_mode))
        return xasprintf("config file %s: is a %s, not a regular file; give "
                         "the path of a regular file", path,
                         hb_file_kind(st.st_mode));
    if ((unsigned long long)st.st_size > HB_CONFIG_LIMIT)
        return xasprintf("config file %s: is %lld bytes, larger than the "
                         "config size limit (%u bytes); name the right file",
                         path, (long long)st.st_size, HB_CONFIG_LIMIT);
    return NULL;
}

/* Find and open the config.  Returns EX_OK with *ctx_r set, or an exit
 * status after reporting the problem. */
static int open_config(const struct cli *cli, unsigned flags,
                       herald_ctx **ctx_r, char **path_r)
{
    char *tried = NULL;
    char *path = find_config(cli, &tried);
    if (!path)
        return fail_no_config(cli, tried);
    char *problem = config_file_problem(path);
    if (problem) {
        int rc = fail(cli, HERALD_ERR_CONFIG, "%s", problem);
        free(problem);
        free(path);
        return rc;
    }
    herald_error *err = NULL;
    herald_class cls = herald_open(path, flags, ctx_r, &err);
    if (cls != HERALD_OK) {
        free(path);
        return fail_err(cli, cls, err);
    }
    apply_log_level(cli, *ctx_r);
    if (cli->verbose)
        fprintf(stderr, "herald: using config %s\n", path);
    if (path_r)
        *path_r = path;
    else
        free(path);
    return EX_OK;
}

/* ------------------------------------------------------------------ */
/* herald send                                                         */
/* ------------------------------------------------------------------ */

enum {
    OPT_CHANNEL = 256, OPT_TO, OPT_CC, OPT_BCC, OPT_FROM, OPT_REPLY_TO,
    OPT_SUBJECT, OPT_TEXT, OPT_TEXT_FILE, OPT_HTML, OPT_HTML_FILE, OPT_ATTACH,
    OPT_HEADER, OPT_TAG, OPT_METADATA, OPT_IDEMPOTENCY, OPT_DRY_RUN, OPT_JSON,
    OPT_SEND_TEST
};

/* Repeatable options, in the order they were given. */
enum { L_TO, L_CC, L_BCC, L_ATTACH, L_HEADER, L_TAG, L_META, L_COUNT };

struct send_args {
    const char *channel, *from, *reply_to, *subject, *idempotency_key;
    const char *text, *text_file, *html, *html_file;
    const char **list[L_COUNT];
    size_t n[L_COUNT];
    int dry_run;
    const char *stdin_user;   /* option that reads standard input */
    /* First setter that refused its value. */
    herald_class bad_cls;
    const char *bad_opt, *bad_arg;
};

static void send_args_free(struct send_args *a)
{
    for (int i = 0; i < L_COUNT; i++)
        free(a->list[i]);
}

/* Parse `send` options into @a.  Returns CONTINUE or an exit status. */
static int parse_send(struct cli *cli, int argc, char **argv,
                      struct send_args *a)
{
    static const struct option longopts[] = {
        GLOBAL_LONGOPTS,
        {"channel", required_argument, NULL, OPT_CHANNEL},
        {"to", required_argument, NULL, OPT_TO},
        {"cc", required_argument, NULL, OPT_CC},
        {"bcc", required_argument, NULL, OPT_BCC},
        {"from", required_argument, NULL, OPT_FROM},
        {"reply-to", required_argument, NULL, OPT_REPLY_TO},
        {"subject", required_argument, NULL, OPT_SUBJECT},
        {"text", required_argument, NULL, OPT_TEXT},
        {"text-file", required_argument, NULL, OPT_TEXT_FILE},
        {"html", required_argument, NULL, OPT_HTML},
        {"html-file", required_argument, NULL, OPT_HTML_FILE},
        {"attach", required_argument, NULL, OPT_ATTACH},
        {"header", required_argument, NULL, OPT_HEADER},
        {"tag", required_argument, NULL, OPT_TAG},
        {"metadata", required_argument, NULL, OPT_METADATA},
        {"idempotency-key", required_argument, NULL, OPT_IDEMPOTENCY},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"json", no_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0}
    };
    for (int i = 0; i < L_COUNT; i++)
        a->list[i] = xcalloc((size_t)argc, sizeof *a->list[i]);

    getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":" GLOBAL_SHORTOPTS, longopts,
                            NULL)) != -1) {
        int rc = global_option(cli, c, argv, send_help);
        if (rc != -2) {
            if (rc != CONTINUE)
                return rc;
            continue;
        }
        switch (c) {
        case OPT_CHANNEL: a->channel = optarg; break;
        case OPT_FROM: a->from = optarg; break;
        case OPT_REPLY_TO: a->reply_to = optarg; break;
        case OPT_SUBJECT: a->subject = optarg; break;
        case OPT_TEXT: a->text = optarg; break;
        case OPT_TEXT_FILE: a->text_file = optarg; break;
        case OPT_HTML: a->html = optarg; break;
        case OPT_HTML_FILE: a->html_file = optarg; break;
        case OPT_IDEMPOTENCY: a->idempotency_key = optarg; break;
        case OPT_DRY_RUN: a->dry_run = 1; break;
        case OPT_JSON: cli->json = 1; break;
        case OPT_TO: a->list[L_TO][a->n[L_TO]++] = optarg; break;
        case OPT_CC: a->list[L_CC][a->n[L_CC]++] = optarg; break;
        case OPT_BCC: a->list[L_BCC][a->n[L_BCC]++] = optarg; break;
        case OPT_ATTACH: a->list[L_ATTACH][a->n[L_ATTACH]++] = optarg; break;
        case OPT_HEADER: a->list[L_HEADER][a->n[L_HEADER]++] = optarg; break;
        case OPT_TAG: a->list[L_TAG][a->n[L_TAG]++] = optarg; break;
        case OPT_METADATA: a->list[L_META][a->n[L_META]++] = optarg; break;
        default:
            return fail(cli, HERALD_ERR_USAGE, "unexpected option");
        }
    }
    if (optind < argc)
        return fail(cli, HERALD_ERR_USAGE,
                    "unexpected argument '%s' (quote the subject or text, "
                    "e.g. --subject 'two words')", argv[optind]);
    if (!a->channel)
        return fail(cli, HERALD_ERR_USAGE,
                    "missing --channel NAME: name a channel of the config file");
    if (!a->n[L_TO] && !a->n[L_CC] && !a->n[L_BCC])
        return fail(cli, HERALD_ERR_USAGE,
                    "missing recipient: give at least one --to ADDR");
    if (a->text && a->text_file)
        return fail(cli, HERALD_ERR_USAGE,
                    "--text and --text-file both given: use one of them");
    if (a->html && a->html_file)
        return fail(cli, HERALD_ERR_USAGE,
                    "--html and --html-file both given: use one of them");
    if (!a->text && !a->text_file && !a->html && !a->html_file)
        return fail(cli, HERALD_ERR_USAGE,
                    "missing body: give --text, --text-file, --html or "
                    "--html-file");
    return CONTINUE;
}

/* Remember the first setter that refused its value. */
static void note_setter(struct send_args *a, herald_class cls,
                        const char *opt, const char *arg)
{
    if (cls != HERALD_OK && a->bad_cls == HERALD_OK) {
        a->bad_cls = cls;
        a->bad_opt = opt;
        a->bad_arg = arg;
    }
}

/* Claim standard input for option @opt; only one option may read it. */
static int claim_stdin(struct cli *cli, struct send_args *a, const char *opt)
{
    if (a->stdin_user)
        return fail(cli, HERALD_ERR_USAGE,
                    "both %s and %s read standard input ('-'): only one may",
                    a->stdin_user, opt);
    a->stdin_user = opt;
    return CONTINUE;
}

/* The most `herald send` reads from one file (a body or an attachment):
 * the default max_message_size.  herald_send() then holds the whole message
 * to the config's own max_message_size. */
#define SEND_FILE_LIMIT (25u * 1024u * 1024u)

/* Read the file @path that option @opt names ("-": standard input) with
 * hb_read_file(): a regular file only, at most SEND_FILE_LIMIT bytes.
 * Returns CONTINUE with *data_r (malloc'd) and *len_r, or an exit status
 * after reporting what the path is or which limit it exceeds. */
static int read_send_file(struct cli *cli, struct send_args *a,
                          const char *opt, const char *path, char **data_r,
                          size_t *len_r)
{
    if (strcmp(path, "-") == 0 && claim_stdin(cli, a, opt) != CONTINUE)
        return EX_USAGE;
    char *why = NULL;
    if (hb_read_file(path, SEND_FILE_LIMIT, "the default max_message_size",
                     1, data_r, len_r, &why) == 0)
        return CONTINUE;
    int e = errno;
    int rc = fail(cli, HERALD_ERR_INVALID_MESSAGE, "%s %s%s", opt,
                  why ? why : strerror(e),
                  e == EFBIG ? "; herald send reads no more from one file: "
                  "send a smaller one" : e == EINVAL ? "" :
                  "; check the path and its permissions");
    free(why);
    return rc;
}

/* Read a body from @path into a new string; NUL bytes are refused. */
static int read_body(struct cli *cli, struct send_args *a, const char *opt,
                     const char *path, char **body_r)
{
    size_t len;
    char *body;
    int rc = read_send_file(cli, a, opt, path, &body, &len);
    if (rc != CONTINUE)
        return rc;
    if (memchr(body, '\0', len)) {
        free(body);
        return fail(cli, HERALD_ERR_INVALID_MESSAGE,
                    "%s %s: contains a NUL byte; a body must be text "
                    "(send binary data with --attach)", opt, path);
    }
    *body_r = body;
    return CONTINUE;
}

/* Split "FILE[;name=N][;type=T]".  A ';' starts a parameter only when
 * "name=" or "type=" follows it, so other ';' stay in the value. */
static int parse_attach_spec(struct cli *cli, const char *spec, char **path_r,
                             char **name_r, char **type_r)
{
    const char *p = spec, *cut = NULL;
    char **dest = path_r;
    const char *start = spec;
    *path_r = *name_r = *type_r = NULL;
    for (;;) {
        cut = strchr(p, ';');
        while (cut && strncmp(cut + 1, "name=", 5) != 0 &&
               strncmp(cut + 1, "type=", 5) != 0)
            cut = strchr(cut + 1, ';');
        size_t n = cut ? (size_t)(cut - start) : strlen(start);
        if (*dest) {
            free(*path_r); free(*name_r); free(*type_r);
            return fail(cli, HERALD_ERR_USAGE,
                        "--attach '%s': a parameter is given twice", spec);
        }
        *dest = xstrndup(start, n);
        if (n == 0) {
            free(*path_r); free(*name_r); free(*type_r);
            return fail(cli, HERALD_ERR_USAGE,
                        "--attach '%s': empty %s; use "
                        "FILE[;name=NAME][;type=TYPE]", spec,
                        dest == path_r ? "file name" :
                        dest == name_r ? "name=" : "type=");
        }
        if (!cut)
            return CONTINUE;
        dest = strncmp(cut + 1, "name=", 5) == 0 ? name_r : type_r;
        start = p = cut + 6;
    }
}

static int add_attachment(struct cli *cli, struct send_args *a,
                          herald_msg *m, const char *spec)
{
    char *path, *name, *type;
    int rc = parse_attach_spec(cli, spec, &path, &name, &type);
    if (rc != CONTINUE)
        return rc;
    size_t len;
    char *data = NULL;
    if ((rc = read_send_file(cli, a, "--attach", path, &data, &len)) ==
        CONTINUE) {
        const char *slash = strrchr(path, '/');
        const char *base = strcmp(path, "-") == 0 ? "stdin"
                           : slash ? slash + 1 : path;
        note_setter(a, herald_msg_attach_data(m, data, len,
                                              name ? name : base, type),
                    "--attach", spec);
    }
    free(data);
    free(path);
    free(name);
    free(type);
    return rc;
}

/* "Name: value" -> add_header. */
static int add_header(struct cli *cli, struct send_args *a, herald_msg *m,
                      const char *spec)
{
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : 0;
    while (n > 0 && (spec[n - 1] == ' ' || spec[n - 1] == '\t'))
        n--;
    if (!colon || n == 0)
        return fail(cli, HERALD_ERR_USAGE,
                    "--header '%s': expected 'Name: value', e.g. "
                    "--header 'X-Ticket: 1234'", spec);
    char *name = xstrndup(spec, n);
    const char *value = colon + 1;
    value += strspn(value, " \t");
    note_setter(a, herald_msg_add_header(m, name, value), "--header", spec);
    free(name);
    return CONTINUE;
}

/* "KEY=VALUE" -> set_metadata. */
static int add_metadata(struct cli *cli, struct send_args *a, herald_msg *m,
                        const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec)
        return fail(cli, HERALD_ERR_USAGE,
                    "--metadata '%s': expected KEY=VALUE, e.g. "
                    "--metadata order=1234", spec);
    char *key = xstrndup(spec, (size_t)(eq - spec));
    note_setter(a, herald_msg_set_metadata(m, key, eq + 1), "--metadata",
                spec);
    free(key);
    return CONTINUE;
}

/* Build the message from the parsed options. */
static int build_message(struct cli *cli, struct send_args *a, herald_msg *m)
{
    static herald_class (*const add_rcpt[3])(herald_msg *, const char *) = {
        herald_msg_add_to, herald_msg_add_cc, herald_msg_add_bcc
    };
    static const char *const rcpt_opt[3] = {"--to", "--cc", "--bcc"};
    int rc = CONTINUE;

    for (int l = L_TO; l <= L_BCC; l++)
        for (size_t i = 0; i < a->n[l]; i++)
            note_setter(a, add_rcpt[l](m, a->list[l][i]), rcpt_opt[l],
                        a->list[l][i]);
    if (a->from)
        note_setter(a, herald_msg_set_from(m, a->from), "--from", a->from);
    if (a->reply_to)
        note_setter(a, herald_msg_set_reply_to(m, a->reply_to), "--reply-to",
                    a->reply_to);
    if (a->subject)
        note_setter(a, herald_msg_set_subject(m, a->subject), "--subject",
                    a->subject);
    if (a->idempotency_key)
        note_setter(a, herald_msg_set_idempotency_key(m, a->idempotency_key),
                    "--idempotency-key", a->idempotency_key);

    const char *body_opt[2] = {"--text-file", "--html-file"};
    const char *body_file[2] = {a->text_file, a->html_file};
    const char *body_inline[2] = {a->text, a->html};
    herald_class (*const set_body[2])(herald_msg *, const char *) = {
        herald_msg_set_text, herald_msg_set_html
    };
    for (int k = 0; k < 2 && rc == CONTINUE; k++) {
        char *owned = NULL;
        if (body_file[k])
            rc = read_body(cli, a, body_opt[k], body_file[k], &owned);
        const char *body = owned ? owned : body_inline[k];
        if (rc == CONTINUE && body)
            note_setter(a, set_body[k](m, body),
                        body_file[k] ? body_opt[k] : k ? "--html" : "--text",
                        body_file[k] ? body_file[k] : "(body)");
        free(owned);
    }
    for (size_t i = 0; i < a->n[L_ATTACH] && rc == CONTINUE; i++)
        rc = add_attachment(cli, a, m, a->list[L_ATTACH][i]);
    for (size_t i = 0; i < a->n[L_HEADER] && rc == CONTINUE; i++)
        rc = add_header(cli, a, m, a->list[L_HEADER][i]);
    for (size_t i = 0; i < a->n[L_TAG] && rc == CONTINUE; i++)
        note_setter(a, herald_msg_add_tag(m, a->list[L_TAG][i]), "--tag",
                    a->list[L_TAG][i]);
    for (size_t i = 0; i < a->n[L_META] && rc == CONTINUE; i++)
        rc = add_metadata(cli, a, m, a->list[L_META][i]);
    return rc;
}

/* A setter refused a value: report the library's own account of it (which
 * names the field) or, failing that, the option and value. */
static int fail_setter(struct cli *cli, struct send_args *a, herald_msg *m)
{
    herald_error *err = NULL;
    if (herald_msg_validate(m, &err) != HERALD_OK && err)
        return fail_err(cli, a->bad_cls, err);
    herald_error_free(err);
    return fail(cli, a->bad_cls, "%s '%s': %s; fix the value", a->bad_opt,
                a->bad_arg, herald_strerror(a->bad_cls));
}

static void print_send_json(const herald_result *res)
{
    printf("{");
    json_kv(stdout, "channel", herald_result_channel(res));
    putchar(',');
    json_kv(stdout, "driver", herald_result_driver(res));
    putchar(',');
    json_kv(stdout, "message_id", herald_result_message_id(res));
    printf(",\"attempts\":%u,\"recipients\":[", herald_result_attempts(res));
    size_t n = herald_result_recipient_count(res);
    for (size_t i = 0; i < n; i++) {
        printf("%s{", i ? "," : "");
        json_kv(stdout, "address", herald_result_recipient(res, i));
        printf(",\"accepted\":%s,",
               herald_result_recipient_accepted(res, i) ? "true" : "false");
        json_kv(stdout, "text", herald_result_recipient_text(res, i));
        putchar('}');
    }
    puts("]}");
}

static int dry_run(struct cli *cli, herald_ctx *ctx, const char *channel,
                   herald_msg *m)
{
    char *payload = NULL;
    size_t len = 0;
    herald_error *err = NULL;
    herald_class cls = herald_render(ctx, channel, m, &payload, &len, &err);
    if (cls != HERALD_OK)
        return fail_err(cli, cls, err);
    if (cli->json) {
        printf("{");
        json_kv(stdout, "channel", channel);
        printf(",\"dry_run\":true,\"payload\":");
        json_strn(stdout, payload, len);
        puts("}");
    } else {
        fwrite(payload, 1, len, stdout);
    }
    herald_free(payload);
    return EX_OK;
}

/* 1 when standard output is a pipe whose reader has closed it (errno of the
 * failed write may be long gone by the time we look). */
static int stdout_reader_gone(void)
{
    struct pollfd p = {.fd = STDOUT_FILENO, .events = 0, .revents = 0};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLERR);
}

/* Flush standard output.  Returns 0, or the errno of a write that failed;
 * a reader that went away (`herald drivers | head -1`) is not a failure:
 * there is no one to tell.  A failure is reported once: later calls
 * return 0. */
static int flush_stdout(void)
{
    static int reported;
    errno = 0;
    if (reported || (fflush(stdout) == 0 && !ferror(stdout)))
        return 0;
    int e = errno ? errno : EIO;
    reported = 1;
    return e == EPIPE || stdout_reader_gone() ? 0 : e;
}

static int do_send(struct cli *cli, herald_ctx *ctx, const char *channel,
                   herald_msg *m)
{
    herald_result *res = NULL;
    herald_error *err = NULL;
    herald_class cls = herald_send(ctx, channel, m, &res, &err);
    if (cls != HERALD_OK) {
        herald_result_free(res);
        return fail_err(cli, cls, err);
    }
    const char *id = res ? herald_result_message_id(res) : NULL;
    if (cli->json && res)
        print_send_json(res);
    else if (id) {
        put_text(stdout, id, 0);
        putchar('\n');
    }
    int rc = EX_OK, e = flush_stdout();
    if (e) {
        /* Delivered: say so, with the id, so that no one sends it again. */
        fprintf(stderr, "herald: the message was sent through channel '%s' "
                        "(message id ", channel);
        put_text(stderr, id ? id : "unknown", 0);
        fprintf(stderr, "), but printing the result failed: %s; do not send "
                        "it again\n", strerror(e));
        rc = EX_IOERR;
    } else if (!id && !cli->quiet && !cli->json)
        fprintf(stderr, "herald: sent through channel '%s' (the driver "
                        "reported no message id)\n", channel);
    else if (cli->verbose && res)
        fprintf(stderr, "herald: sent through channel '%s' (driver %s, %u "
                        "attempt%s)\n", channel, herald_result_driver(res),
                herald_result_attempts(res),
                herald_result_attempts(res) == 1 ? "" : "s");
    herald_result_free(res);
    return rc;
}

static int cmd_send(struct cli *cli, int argc, char **argv)
{
    struct send_args a;
    memset(&a, 0, sizeof a);
    herald_msg *m = NULL;
    herald_ctx *ctx = NULL;
    int rc = parse_send(cli, argc, argv, &a);
    if (rc != CONTINUE)
        goto out;
    if (!(m = herald_msg_new()))
        die_oom();
    if ((rc = build_message(cli, &a, m)) != CONTINUE)
        goto out;
    if (a.bad_cls != HERALD_OK) {
        rc = fail_setter(cli, &a, m);
        goto out;
    }
    /* A broken channel elsewhere in the file must not stop this one; a
     * send to a broken channel still fails with its error. */
    if ((rc = open_config(cli, HERALD_OPEN_KEEP_BROKEN, &ctx, NULL)) != EX_OK)
        goto out;
    rc = a.dry_run ? dry_run(cli, ctx, a.channel, m)
                   : do_send(cli, ctx, a.channel, m);
out:
    herald_close(ctx);
    herald_msg_free(m);
    send_args_free(&a);
    return rc;
}

/* ------------------------------------------------------------------ */
/* herald drivers [show NAME]                                          */
/* ------------------------------------------------------------------ */

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
        w->refused = xasprintf("%s: %s", d->path, d->refused);
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
    char *problem = config_file_problem(path);
    if (problem || herald_open(path, HERALD_OPEN_KEEP_BROKEN, &ctx, &err) !=
                   HERALD_OK) {
        if (!cli->quiet) {
            fputs("herald: note: listing without the config's plugin_dir: ",
                  stderr);
            put_text(stderr, problem ? problem : herald_error_message(err), 1);
            putc('\n', stderr);
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

/* Options of a command that takes only the global ones and --json.
 * Returns CONTINUE, or an exit status to stop with. */
static int parse_json_only(struct cli *cli, int argc, char **argv,
                           const char *help)
{
    static const struct option longopts[] = {
        GLOBAL_LONGOPTS,
        {"json", no_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0}
    };
    getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":" GLOBAL_SHORTOPTS, longopts,
                            NULL)) != -1) {
        int rc = global_option(cli, c, argv, help);
        if (rc == -2 && c == OPT_JSON)
            cli->json = 1;
        else if (rc != CONTINUE)
            return rc;
    }
    return CONTINUE;
}

static int cmd_drivers(struct cli *cli, int argc, char **argv)
{
    int rc = parse_json_only(cli, argc, argv, drivers_help);
    if (rc != CONTINUE)
        return rc;
    struct drivers_walk w;
    memset(&w, 0, sizeof w);
    w.cli = cli;
    if (optind < argc) {
        if (strcmp(argv[optind], "show") != 0)
            return fail(cli, HERALD_ERR_USAGE,
                        "unknown drivers subcommand '%s'; use 'herald "
                        "drivers' or 'herald drivers show NAME'",
                        argv[optind]);
        cli->cmd = "drivers show";
        if (optind + 1 >= argc)
            return fail(cli, HERALD_ERR_USAGE,
                        "missing driver NAME: 'herald drivers show NAME'");
        if (optind + 2 < argc)
            return fail(cli, HERALD_ERR_USAGE, "unexpected argument '%s'",
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
        rc = fail(cli, HERALD_ERR_CONFIG,
                  "driver '%s' cannot be loaded: %s", w.want, w.refused);
    } else if (w.want && !w.found) {
        rc = fail(cli, HERALD_ERR_CONFIG,
                  "no driver named '%s' on the plugin path (available: %s); "
                  "install it, or add its directory to plugin_dir or "
                  "$HERALD_PLUGIN_PATH", w.want, w.names ? w.names : "none");
    } else if (!w.want && w.count == 0 && !cli->quiet) {
        fprintf(stderr, "herald: no drivers found on the plugin path "
                        "(plugin_dir, $HERALD_PLUGIN_PATH, %s)\n",
                HERALD_PLUGINDIR);
    }
    free(w.refused);
    free(w.names);
    return rc;
}

/* ------------------------------------------------------------------ */
/* herald config check                                                 */
/* ------------------------------------------------------------------ */

/* The channel error message without the "channel 'NAME': " prefix the
 * library adds (the line already names the channel). */
static const char *channel_error_text(const herald_error *err,
                                      const char *name)
{
    const char *msg = herald_error_message(err);
    size_t n = strlen(name);
    if (strncmp(msg, "channel '", 9) == 0 && strncmp(msg + 9, name, n) == 0 &&
        strncmp(msg + 9 + n, "': ", 3) == 0)
        return msg + 9 + n + 3;
    return msg;
}

static int config_check(struct cli *cli)
{
    herald_ctx *ctx = NULL;
    char *path = NULL;
    int rc = open_config(cli, HERALD_OPEN_KEEP_BROKEN, &ctx, &path);
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
        broken += err != NULL;
        if (cli->json) {
            printf("%s{", i ? "," : "");
            json_kv(stdout, "name", name);
            putchar(',');
            json_kv(stdout, "driver", driver);
            printf(",\"ok\":%s,", err ? "false" : "true");
            json_kv(stdout, "error", why);
            putchar('}');
        } else if (err) {
            printf("FAIL %s (%s): ", name, driver ? driver : "?");
            put_text(stdout, why, 1);
            putchar('\n');
        } else {
            printf("OK   %s (%s)\n", name, driver ? driver : "?");
        }
    }
    if (cli->json)
        printf("],\"ok\":%s}\n", n && !broken ? "true" : "false");
    if (n == 0) {
        fprintf(stderr, "herald: %s defines no channels; add a "
                        "[channel NAME] section (see herald.conf(5))\n", path);
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

static int cmd_config(struct cli *cli, int argc, char **argv)
{
    int rc = parse_json_only(cli, argc, argv, config_help);
    if (rc != CONTINUE)
        return rc;
    if (optind >= argc)
        return fail(cli, HERALD_ERR_USAGE,
                    "missing subcommand: 'herald config check'");
    if (strcmp(argv[optind], "check") != 0)
        return fail(cli, HERALD_ERR_USAGE,
                    "unknown config subcommand '%s'; use 'herald config "
                    "check'", argv[optind]);
    if (optind + 1 < argc)
        return fail(cli, HERALD_ERR_USAGE, "unexpected argument '%s'",
                    argv[optind + 1]);
    return config_check(cli);
}

/* ------------------------------------------------------------------ */
/* herald doctor                                                       */
/* ------------------------------------------------------------------ */

/* Width of the step column in text output, dot leader included. */
#define STEP_WIDTH 20

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

/* A failure reported without a separate fix says it in its message as
 * "what happened; what to do": when @split, split that at the last "; ".
 * *detail_r and *fix_r get malloc'd copies (or NULL). */
static void split_fix(const char *detail, const char *fix, int split,
                      char **detail_r, char **fix_r)
{
    const char *cut = NULL;
    if (split && !fix && detail)
        for (const char *p = strstr(detail, "; "); p; p = strstr(p + 2, "; "))
            cut = p;
    if (cut && cut > detail && cut[2]) {
        *detail_r = xstrndup(detail, (size_t)(cut - detail));
        *fix_r = xstrdup(cut + 2);
    } else {
        *detail_r = detail ? xstrdup(detail) : NULL;
        *fix_r = fix ? xstrdup(fix) : NULL;
    }
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

/* herald_check_fn: print one step as it comes and count it. */
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
    char *text, *todo;
    split_fix(detail, fix, status == HERALD_CHECK_FAIL ||
                           status == HERALD_CHECK_WARN, &text, &todo);
    d->steps++;
    d->warned += status == HERALD_CHECK_WARN;
    if (status == HERALD_CHECK_FAIL) {
        d->failed++;
        d->failed_names = str_append(d->failed_names, "%s%s",
                                     d->failed_names ? ", " : "", step);
    }
    if (d->cli->json)
        print_step_json(d, channel, step, status, elapsed_ms, text, todo);
    else if (!d->cli->quiet || status == HERALD_CHECK_FAIL ||
             status == HERALD_CHECK_WARN)
        print_step_text(d, channel, step, status, elapsed_ms, text, todo);
    fflush(stdout);
    free(text);
    free(todo);
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
                      channel_error_text(broken, name), NULL, d);
    } else {
        herald_error *err = NULL;
        herald_class cls = herald_check(ctx, name, params, on_check_step, d,
                                        &err);
        /* A driver that failed without reporting a failed step. */
        if (cls != HERALD_OK && !d->failed)
            on_check_step(name, "check", HERALD_CHECK_FAIL, ms_since(&t0),
                          err ? channel_error_text(err, name)
                              : herald_strerror(cls), NULL, d);
        herald_error_free(err);
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
        return fail(cli, HERALD_ERR_USAGE,
                    "--send-test '%s': expected an email address, e.g. "
                    "--send-test ops@example.com", *send_test_r);
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

static int cmd_doctor(struct cli *cli, int argc, char **argv)
{
    const char *send_test = NULL;
    int rc = parse_doctor(cli, argc, argv, &send_test);
    if (rc != CONTINUE)
        return rc;
    herald_ctx *ctx = NULL;
    char *path = NULL;
    if ((rc = open_config(cli, HERALD_OPEN_KEEP_BROKEN, &ctx, &path)) != EX_OK)
        return rc;

    /* The channels to check: those named, else all in config order. */
    int named = argc - optind;
    size_t n = named ? (size_t)named : herald_channel_count(ctx);
    const char **which = xcalloc(n, sizeof *which);
    for (size_t k = 0; k < n; k++)
        which[k] = named ? argv[optind + (int)k] : herald_channel_name(ctx, k);
    if (n == 0) {
        rc = fail(cli, HERALD_ERR_CONFIG, "%s defines no channels; add a "
                  "[channel NAME] section (see herald.conf(5))", path);
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

/* ------------------------------------------------------------------ */
/* Dispatch                                                            */
/* ------------------------------------------------------------------ */

static int cmd_help(struct cli *cli, int argc, char **argv);

static const struct command {
    const char *name;
    int (*run)(struct cli *cli, int argc, char **argv);
    const char *help;
} commands[] = {
    {"send", cmd_send, send_help},
    {"drivers", cmd_drivers, drivers_help},
    {"config", cmd_config, config_help},
    {"doctor", cmd_doctor, doctor_help},
    {"help", cmd_help, help_help},
};

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int cmd_help(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0}
    };
    getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":" GLOBAL_SHORTOPTS, longopts,
                            NULL)) != -1) {
        int rc = global_option(cli, c, argv, help_help);
        if (rc != CONTINUE)
            return rc;
    }
    if (optind >= argc) {
        fputs(main_help, stdout);
        return EX_OK;
    }
    const struct command *cmd = find_command(argv[optind]);
    if (!cmd)
        return fail(cli, HERALD_ERR_USAGE,
                    "no help for '%s': commands are send, drivers, config, "
                    "doctor", 
                    argv[optind]);
    fputs(cmd->help, stdout);
    return EX_OK;
}

/* Parse global options up to the command name and run it. */
static int run(int argc, char **argv)
{
    static const struct option longopts[] = {
        GLOBAL_LONGOPTS,
        {NULL, 0, NULL, 0}
    };
    struct cli cli;
    memset(&cli, 0, sizeof cli);
    getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, "+:" GLOBAL_SHORTOPTS, longopts,
                            NULL)) != -1) {
        int rc = global_option(&cli, c, argv, main_help);
        if (rc != CONTINUE)
            return rc;
    }
    if (optind >= argc) {
        fputs("herald: missing command (send, drivers, config, doctor, "
              "help)\n"
              "try 'herald --help'\n", stderr);
        return EX_USAGE;
    }
    const struct command *cmd = find_command(argv[optind]);
    if (!cmd)
        return fail(&cli, HERALD_ERR_USAGE,
                    "unknown command '%s'; commands are send, drivers, "
                    "config, doctor, help", argv[optind]);
    cli.cmd = cmd->name;
    return cmd->run(&cli, argc - optind, argv + optind);
}

int main(int argc, char **argv)
{
    /* A closed stdout must give an error we can report, not a signal. */
    signal(SIGPIPE, SIG_IGN);
    int rc = run(argc, argv);
    int e = flush_stdout();
    if (e) {
        fprintf(stderr, "herald: cannot write to standard output: %s\n",
                strerror(e));
        if (rc == EX_OK)
            rc = EX_IOERR;
    }
    return rc;
}
