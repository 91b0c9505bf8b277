/* tests/testutil.c - see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char *tu_printf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return s;
}

/* Everything left in @f, NUL-terminated; NULL when out of memory. */
static char *read_stream(FILE *f, size_t *len_r)
{
    size_t cap = 4096, len = 0, n;
    char *buf = malloc(cap);
    while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (!buf)
        return NULL;
    buf[len] = '\0';
    if (len_r)
        *len_r = len;
    return buf;
}

char *tu_mkdtemp(void)
{
    const char *t = getenv("TMPDIR");
    char *p = tu_printf("%s/herald-test-XXXXXX", t && *t ? t : "/tmp");
    if (p && !mkdtemp(p)) {
        free(p);
        return NULL;
    }
    return p;
}

void tu_rmrf(const char *path)
{
    if (!path)
        return;
    char *cmd = tu_printf("rm -rf '%s'", path);
    if (cmd && system(cmd) != 0)
        fprintf(stderr, "tu_rmrf: could not remove %s\n", path);
    free(cmd);
}

int tu_run(char **out_r, const char *fmt, ...)
{
    va_list ap;
    char *cmd = NULL;
    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0)
        cmd = NULL;
    va_end(ap);
    if (!cmd)
        return -1;
    char *full = tu_printf("( %s ) 2>&1", cmd);
    free(cmd);
    FILE *f = popen(full, "r");
    free(full);
    if (!f)
        return -1;
    char *buf = read_stream(f, NULL);
    int st = pclose(f);
    if (out_r)
        *out_r = buf;
    else
        free(buf);
    if (st == -1)
        return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

char *tu_write_file(const char *dir, const char *name, const char *content)
{
    char *p = tu_printf("%s/%s", dir, name);
    FILE *f = p ? fopen(p, "w") : NULL;
    if (!f) {
        free(p);
        return NULL;
    }
    fputs(content, f);
    fclose(f);
    return p;
}

char *tu_read_file(const char *path, size_t *len_r)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = read_stream(f, len_r);
    fclose(f);
    return buf;
}

int tu_count_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

const char *tu_srcdir(void) { return env_or("HERALD_TEST_SRCDIR", "."); }
const char *tu_builddir(void) { return env_or("HERALD_TEST_BUILDDIR", "."); }
const char *tu_python(void) { return env_or("HERALD_TEST_PYTHON", "/usr/bin/python3"); }

const char *tu_cli(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/herald", tu_builddir());
    return path;
}

const char *tu_maildir_plugin_dir(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/plugins/maildir/.libs", tu_builddir());
    return path;
}
