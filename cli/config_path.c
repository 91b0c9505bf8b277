/*
 * cli/config_path.c - which config file the herald command uses (--config,
 * $HERALD_CONFIG, the XDG user file, the system file), whether it can be
 * read at all, and opening it with the -v / -q log level.
 */
#include "config.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli.h"
#include "base/base.h"

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static const char *home_dir(void)
{
    const char *h = getenv("HOME");
    if (h && *h)
        return h;
    struct passwd *pw = getpwuid(getuid());
    return pw && pw->pw_dir ? pw->pw_dir : NULL;
}

/* The first of --config, $HERALD_CONFIG, the XDG user file and the system
 * file that exists; the places tried are listed "  PATH (why)\n" each. */
char *find_config(const struct cli *cli, char **tried_r)
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

/* "no config file found", naming every place tried (@tried, freed). */
static int fail_no_config(const struct cli *cli, char *tried)
{
    size_t n = strlen(tried);
    int rc = fail(cli, HERALD_ERR_CONFIG, "create one (see herald.conf(5)) or "
                  "pass --config FILE", "no config file found; looked for:\n"
                  "%.*s", (int)(n && tried[n - 1] == '\n' ? n - 1 : n), tried);
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

void apply_log_level(const struct cli *cli, herald_ctx *ctx)
{
    if (cli->verbose || cli->quiet)
        herald_set_log_handler(ctx, log_level(cli), NULL, NULL);
}

/* Checked before herald_open() reads @path: a FIFO would block and
 * /dev/zero would never end; a file over HB_CONFIG_LIMIT is refused whole.
 * herald_open() reads with the same bounds. */
int config_file_problem(const char *path, char **what_r, const char **fix_r)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    if (!S_ISREG(st.st_mode)) {
        *what_r = xasprintf("config file %s: is a %s, not a regular file",
                            path, hb_file_kind(st.st_mode));
        *fix_r = "give the path of a regular file";
        return 1;
    }
    if ((unsigned long long)st.st_size > HB_CONFIG_LIMIT) {
        *what_r = xasprintf("config file %s: is %lld bytes, larger than the "
                            "config size limit (%u bytes)", path,
                            (long long)st.st_size, HB_CONFIG_LIMIT);
        *fix_r = "name the right file";
        return 1;
    }
    return 0;
}

int open_config(const struct cli *cli, unsigned flags, herald_ctx **ctx_r,
                char **path_r)
{
    char *tried = NULL;
    char *path = find_config(cli, &tried);
    if (!path)
        return fail_no_config(cli, tried);
    char *what = NULL;
    const char *fix = NULL;
    if (config_file_problem(path, &what, &fix)) {
        int rc = fail(cli, HERALD_ERR_CONFIG, fix, "%s", what);
        free(what);
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
