/*
 * cli/cli.h - what the files of the herald command share: the options every
 * command accepts, the memory helpers, output and failure reporting, and
 * finding the config file.  The command uses only the public API of
 * libherald (<herald/herald.h>, which brings <herald/types.h>) and the base
 * library (hb_*).
 *
 *   main.c         dispatch, global options anywhere, --help, --version
 *   mem.c          allocation that dies on out-of-memory
 *   output.c       text and JSON output, escaping, failures, exit codes
 *   config_path.c  finding, checking and opening the config file
 *   send.c drivers.c config.c doctor.c status.c   one file per command
 */
#ifndef HERALD_CLI_H
#define HERALD_CLI_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <herald/herald.h>

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

/* ---- main.c: options shared by every command ---------------------- */

#define GLOBAL_SHORTOPTS "c:vqhV"
#define GLOBAL_LONGOPTS                                   \
    {"config", required_argument, NULL, 'c'},             \
    {"verbose", no_argument, NULL, 'v'},                  \
    {"quiet", no_argument, NULL, 'q'},                    \
    {"help", no_argument, NULL, 'h'},                     \
    {"version", no_argument, NULL, 'V'}

/* getopt_long values of command options; a command's own start at
 * OPT_COMMAND. */
enum { OPT_JSON = 256, OPT_COMMAND };

/* Handle a global option or a getopt error.  Returns CONTINUE when handled,
 * an exit status to stop with, or -2 when @c is not a global option. */
int global_option(struct cli *cli, int c, char **argv, const char *help);
/* Set up getopt for a fresh parse of @argv. */
void getopt_reset(void);
/* Options of a command that takes only the global ones and --json.
 * Returns CONTINUE, or an exit status to stop with. */
int parse_json_only(struct cli *cli, int argc, char **argv, const char *help);

/* The commands, each in its own file, and their help texts. */
int cmd_send(struct cli *cli, int argc, char **argv);
int cmd_drivers(struct cli *cli, int argc, char **argv);
int cmd_config(struct cli *cli, int argc, char **argv);
int cmd_doctor(struct cli *cli, int argc, char **argv);
int cmd_status(struct cli *cli, int argc, char **argv);
extern const char send_help[], drivers_help[], config_help[], doctor_help[];
extern const char status_help[];

/* ---- mem.c --------------------------------------------------------- */

void die_oom(void) __attribute__((noreturn));
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) HERALD_PRINTF(1, 2);
char *xvasprintf(const char *fmt, va_list ap) HERALD_PRINTF(1, 0);
/* Append to a malloc'd string (NULL starts a new one). */
char *str_append(char *s, const char *fmt, ...) HERALD_PRINTF(2, 3);

/* ---- output.c ------------------------------------------------------ */

/* A JSON string of @len bytes; a JSON string or null (for NULL); and
 * `"key":` followed by such a value. */
void json_strn(FILE *f, const char *s, size_t len);
void json_str(FILE *f, const char *s);
void json_kv(FILE *f, const char *key, const char *value);
/* Outside text for a terminal, every control character escaped; with
 * @keep_nl newlines stay (the CLI's own multi-line messages).  NULL prints
 * nothing. */
void put_text(FILE *f, const char *s, int keep_nl);
/* "herald: WHAT" on stderr and, when @fix is not NULL, "  fix: HOW" under
 * it; both escaped, newlines kept. */
void say_err(const char *what, const char *fix);

/* Report a library error: what and fix on stderr (say_err) and, with
 * --json, the error object on stdout.  Frees @err.  Returns the exit
 * status. */
int fail_err(const struct cli *cli, herald_class cls, herald_error *err);
/* The same; with --json, @extra (may be NULL) first prints members of the
 * object, each followed by a comma, e.g. "status":"failed", (send). */
int fail_err_extra(const struct cli *cli, herald_class cls, herald_error *err,
                   void (*extra)(void *), void *arg);
/* Report an error the CLI found itself: what (@fmt), then @fix (NULL for
 * none).  Usage errors add a "try 'herald CMD --help'" hint. */
int fail(const struct cli *cli, herald_class cls, const char *fix,
         const char *fmt, ...) HERALD_PRINTF(4, 5);

/* The channel error message without the "channel 'NAME': " prefix the
 * library adds (the line already names the channel). */
const char *channel_error_text(const herald_error *err, const char *name);

/* Flush standard output.  Returns 0, or the errno of a write that failed;
 * a reader that went away is not a failure.  Reported once. */
int flush_stdout(void);

/* ---- config_path.c ------------------------------------------------- */

/* The config file to use (malloc'd), or NULL with *tried_r the places
 * tried, one per line (malloc'd). */
char *find_config(const struct cli *cli, char **tried_r);
/* 1 when @path cannot be used as a config file, with *what_r (malloc'd)
 * saying why and *fix_r what to do; 0 otherwise (a missing file is left
 * to herald_open() to report). */
int config_file_problem(const char *path, char **what_r, const char **fix_r);
/* -v / -q override the config's log_level; without them it stands. */
void apply_log_level(const struct cli *cli, herald_ctx *ctx);
/* Find and open the config.  Returns EX_OK with *ctx_r (and *path_r when
 * not NULL) set, or an exit status after reporting the problem. */
int open_config(const struct cli *cli, unsigned flags, herald_ctx **ctx_r,
                char **path_r);

#endif /* HERALD_CLI_H */
