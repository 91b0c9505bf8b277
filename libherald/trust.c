/*
 * libherald/trust.c - may herald run this file?  The StrictModes-style
 * checks on a driver file (and the directories above it) and on a config
 * file that sets plugin_dir.  No lt_dl* here: loader.c opens only what
 * these checks passed.
 */
#include "internal.h"

#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- checks on one candidate file ----------------------------------- */

static const char *file_kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a named pipe";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m) || S_ISBLK(m))
        return "a device";
    return "not a regular file";
}

/* ---- trust: nobody but root and the caller may change what we run ----
 *
 * A driver runs with the caller's privileges, so, as OpenSSH's StrictModes
 * and sudo do, every entry on the way to it must be owned by root or the
 * effective user, the file must not be group- or world-writable, and no
 * directory on the way may be writable by others -- except a sticky one
 * such as /tmp, as a parent of a directory owned by root or the caller
 * (others cannot rename or replace that entry).  The directory holding
 * the file itself may not be writable by others even when sticky: others
 * could add files there (a hard link to any file, say).  The path is
 * walked as given (its symbolic links are entries others might repoint)
 * and as realpath() resolves it; the resolved path is what gets opened, so
 * nothing that was checked can be swapped before dlopen(). */

static int owner_ok(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

/* "uid 65534 (nobody)" */
static char *user_desc(uid_t uid)
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) == 0 && res)
        return hx_printf("uid %u (%s)", (unsigned)uid, res->pw_name);
    return hx_printf("uid %u", (unsigned)uid);
}

/* What is wrong; *fix_r = "run chown NAME PATH" with the caller's name
 * (root when running as root). */
static char *owner_problem(const char *kind, const char *path, uid_t uid,
                           const char *flag, char **fix_r)
{
    char *who = user_desc(uid);
    struct passwd pw, *res = NULL;
    char buf[1024];
    char *me = getpwuid_r(geteuid(), &pw, buf, sizeof buf, &res) == 0 && res
                   ? hx_strdup(res->pw_name)
                   : hx_printf("%u", (unsigned)geteuid());
    char *why = hx_printf("%s %s is owned by %s, not by root or you, so that "
                          "user can change it", kind, path,
                          who ? who : "another user");
    *fix_r = hx_printf("run chown %s%s %s", flag, me ? me : "root", path);
    free(who);
    free(me);
    return why;
}

static char *writable_problem(const char *kind, const char *path, mode_t m,
                              char **fix_r)
{
    int g = (m & S_IWGRP) != 0, o = (m & S_IWOTH) != 0;
    *fix_r = hx_printf("run chmod %s %s", g && o ? "go-w" : g ? "g-w" : "o-w",
                       path);
    return hx_printf("%s %s is %s-writable", kind, path,
                     g && o ? "group- and world" : g ? "group" : "world");
}

/* One entry of the walk; *shared says the directory above it is writable
 * by others (sticky) and is updated for the next entry.  NULL when fine,
 * else what is wrong, with the fix (when there is one) in *fix_r. */
static char *check_entry(const char *p, int last, const char *what,
                         int *shared, char **fix_r)
{
    struct stat l, st;
    if (lstat(p, &l) != 0)
        return hx_printf("cannot check %s: %s", p, strerror(errno));
    st = l;
    if (S_ISLNK(l.st_mode)) {
        if (*shared && !owner_ok(l.st_uid))
            return owner_problem("symbolic link", p, l.st_uid, "-h ", fix_r);
        if (stat(p, &st) != 0)
            return hx_printf("cannot follow the symbolic link %s: %s", p,
                             strerror(errno));
    }
    const char *kind = last ? what : "directory";
    if (last && *shared) {
        const char *slash = strrchr(p, '/');
        int n = slash && slash != p ? (int)(slash - p) : 1;
        *fix_r = hx_strdup("move it into a directory only root or you can "
                           "write");
        return hx_printf("%s %s is in %.*s, which others can write to (it "
                         "is sticky, so they cannot replace the file, but "
                         "they can add their own)", kind, p, n, p);
    }
    if (!owner_ok(st.st_uid))
        return owner_problem(kind, p, st.st_uid, "", fix_r);
    mode_t others = st.st_mode & (S_IWGRP | S_IWOTH);
    if (last)
        return others ? writable_problem(kind, p, st.st_mode, fix_r) : NULL;
    if (!S_ISDIR(st.st_mode))
        return hx_printf("%s is not a directory", p);
    if (others && !(st.st_mode & S_ISVTX))
        return writable_problem(kind, p, st.st_mode, fix_r);
    *shared = others != 0;
    return NULL;
}

/* Every entry of absolute @path from / down; NULL when all are fine. */
static char *walk_path(const char *path, const char *what, char **fix_r)
{
    char *p = hx_strdup(path);
    if (!p)
        return NULL;
    int shared = 0;
    char *why = check_entry("/", 0, what, &shared, fix_r);
    for (char *q = p; !why;) {
        q += strspn(q, "/");
        if (!*q)
            break;
        char *slash = q + strcspn(q, "/");
        int last = slash[strspn(slash, "/")] == '\0';
        char save = *slash;
        *slash = '\0';
        why = check_entry(p, last, what, &shared, fix_r);
        *slash = save;
        q = slash;
    }
    free(p);
    return why;
}

/* 0 when nobody but root and the caller can change the file at @path
 * (@what names it in messages: "file", "config file"), with its resolved
 * path in *real_r (may be NULL); else -1, *why_r = what is wrong (NULL
 * when out of memory) and *fix_r = the fix (or NULL). */
static int untrusted(const char *path, const char *what, char **real_r,
                     char **why_r, char **fix_r)
{
    *fix_r = NULL;
    char *cwd = path[0] == '/' ? NULL : getcwd(NULL, 0);
    char *abs = path[0] == '/' ? hx_strdup(path)
                : cwd          ? hx_printf("%s/%s", cwd, path) : NULL;
    free(cwd);
    char *real = NULL, *why = abs ? walk_path(abs, what, fix_r) : NULL;
    if (abs && !why) {
        real = realpath(abs, NULL);
        if (!real)
            why = hx_printf("cannot resolve %s: %s", abs, strerror(errno));
        else if (strcmp(real, abs) != 0)
            why = walk_path(real, what, fix_r);
    }
    int bad = !abs || !real || why;
    free(abs);
    if (bad || !real_r)
        free(real);
    else
        *real_r = real;
    *why_r = why;
    return bad ? -1 : 0;
}

/* The candidate at @path (stat() in @st) must be a regular file that only
 * root and the caller can change; *real_r receives the path to open. */
herald_class hl_vet_driver(const char *name, const char *path,
                           const struct stat *st, char **real_r,
                           herald_error **err_r)
{
    if (!S_ISREG(st->st_mode))
        return hx_error(err_r, HERALD_ERR_CONFIG,
                        "cannot load driver '%s': %s is not a regular file "
                        "(it is %s); remove it or replace it with the "
                        "driver's shared object",
                        name, path, file_kind(st->st_mode));
    char *why = NULL, *fix = NULL;
    if (untrusted(path, "file", real_r, &why, &fix) == 0)
        return HERALD_OK;
    hx_error(err_r, HERALD_ERR_CONFIG, "refusing to load driver '%s' from "
             "%s: %s", name, path, why ? why : "out of memory");
    if (fix)
        hx_fix(err_r, HERALD_ERR_CONFIG, "%s", fix);
    free(why);
    free(fix);
    return HERALD_ERR_CONFIG;
}

herald_class hl_trust_config(const char *conf_path, herald_error **err_r)
{
    char *why = NULL, *fix = NULL;
    if (untrusted(conf_path, "config file", NULL, &why, &fix) == 0)
        return HERALD_OK;
    hx_error(err_r, HERALD_ERR_CONFIG, "refusing the plugin_dir set in %s "
             "(whoever can change the config can make herald run their own "
             "driver): %s", conf_path, why ? why : "out of memory");
    hx_fix(err_r, HERALD_ERR_CONFIG, "%s%sor remove plugin_dir",
           fix ? fix : "fix that", fix ? ", " : ", ");
    free(why);
    free(fix);
    return HERALD_ERR_CONFIG;
}
