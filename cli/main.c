/*
 * cli/main.c - the herald command: parse the global options (accepted
 * before and after the command name), --help and --version, and hand the
 * rest to the command.
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"

/* The driver ABI this build loads: configure's HERALD_ABI, in step with
 * <herald/plugin.h> (tests/cli/test_cli.c compares the two). */
#ifndef HERALD_DRIVER_ABI
#define HERALD_DRIVER_ABI "?"
#endif

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
    "  status [CHANNEL...]\n"
    "                     show each channel's circuit breaker and rate limit\n"
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

static const char help_help[] =
    "Usage: herald help [COMMAND]\n"
    "\n"
    "Show the help of COMMAND (send, drivers, config, doctor), or the\n"
    "overview.\n";

static void print_version(void)
{
    printf("herald %s (libherald %s, driver ABI %s)\n", PACKAGE_VERSION,
           herald_version(), HERALD_DRIVER_ABI);
    printf("plugin directory: %s\n", HERALD_PLUGINDIR);
    printf("system config:    %s/herald/herald.conf\n", HERALD_SYSCONFDIR);
}

/* ------------------------------------------------------------------ */
/* Options every command accepts                                       */
/* ------------------------------------------------------------------ */

int global_option(struct cli *cli, int c, char **argv, const char *help)
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
        if (c == ':') {
            char *fix = xasprintf("give its value after it: %.*s VALUE",
                                  (int)n, word);
            int rc = fail(cli, HERALD_ERR_USAGE, fix, "option '%.*s' needs "
                          "an argument", (int)n, word);
            free(fix);
            return rc;
        }
        return fail(cli, HERALD_ERR_USAGE, NULL, "unknown option '%s'%s",
                    word, word[n] ? " (or it takes no argument)" : "");
    }
    default:
        return -2;
    }
}

void getopt_reset(void)
{
    optind = 0;
    opterr = 0;
}

int parse_json_only(struct cli *cli, int argc, char **argv, const char *help)
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
    {"status", cmd_status, status_help},
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
        return fail(cli, HERALD_ERR_USAGE, "ask for one of the commands: "
                    "send, drivers, config, doctor", "no help for '%s'",
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
    if (optind >= argc)
        return fail(&cli, HERALD_ERR_USAGE, "give one of send, drivers, "
                    "config, doctor, help", "missing command");
    const struct command *cmd = find_command(argv[optind]);
    if (!cmd)
        return fail(&cli, HERALD_ERR_USAGE, "use one of send, drivers, "
                    "config, doctor, help", "unknown command '%s'",
                    argv[optind]);
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
