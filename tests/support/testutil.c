/* tests/support/testutil.c - see testutil.h. */
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
#include <sys/types.h>
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
const char *tu_cc(void) { return env_or("HERALD_TEST_CC", "cc"); }
const char *tu_cflags(void) { return env_or("HERALD_TEST_CFLAGS", ""); }
const char *tu_ldflags(void) { return env_or("HERALD_TEST_LDFLAGS", ""); }

const char *tu_cli(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/herald", tu_builddir());
    return path;
}

const char *tu_plugin_dir(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/plugins/built", tu_builddir());
    return path;
}

/* ---- real servers ------------------------------------------------------ */

#include <signal.h>
#include <time.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int tu_server_start(struct tu_server *s, const char *fmt, ...)
{
    memset(s, 0, sizeof *s);
    va_list ap;
    char *cmd = NULL;
    va_start(ap, fmt);
    if (vasprintf(&cmd, fmt, ap) < 0)
        cmd = NULL;
    va_end(ap);
    s->dir = tu_mkdtemp();
    if (!cmd || !s->dir) {
        free(cmd);
        return -1;
    }
    char *portfile = tu_printf("%s/port", s->dir);
    char *logfile = tu_printf("%s/log", s->dir);
    fflush(NULL); /* or the child repeats our buffered output */
    pid_t pid = fork();
    if (pid == 0) {
        setenv("TU_PORT_FILE", portfile, 1);
        freopen(logfile, "w", stdout);
        dup2(fileno(stdout), 2);
        setpgid(0, 0);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    s->pid = pid;
    int rc = -1;
    for (int i = 0; pid > 0 && i < 1500; i++) {
        char *txt = tu_read_file(portfile, NULL);
        if (txt && atoi(txt) > 0 && strchr(txt, '\n')) {
            s->port = atoi(txt);
            free(txt);
            rc = 0;
            break;
        }
        free(txt);
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            s->pid = 0;
            break;
        }
        sleep_ms(10);
    }
    if (rc != 0) {
        char *log = tu_read_file(logfile, NULL);
        fprintf(stderr, "tu_server_start: server did not start; its log:\n%s\n",
                log ? log : "(none)");
        free(log);
        tu_server_stop(s);
    }
    free(portfile);
    free(logfile);
    return rc;
}

void tu_server_stop(struct tu_server *s)
{
    if (s->pid > 0) {
        kill(-s->pid, SIGTERM);
        kill(s->pid, SIGTERM);
        int st, done = 0;
        for (int i = 0; i < 300 && !done; i++) {
            done = waitpid(s->pid, &st, WNOHANG) == s->pid;
            if (!done)
                sleep_ms(10);
        }
        if (!done) {
            kill(-s->pid, SIGKILL);
            kill(s->pid, SIGKILL);
            waitpid(s->pid, &st, 0);
        }
    }
    s->pid = 0;
    tu_rmrf(s->dir);
    free(s->dir);
    s->dir = NULL;
}

char *tu_server_log(const struct tu_server *s)
{
    if (!s->dir)
        return NULL;
    char *p = tu_printf("%s/log", s->dir);
    char *log = tu_read_file(p, NULL);
    free(p);
    return log;
}

static int certtool_make(const char *dir, const char *name, const char *tmpl,
                         const char *signer)
{
    char *t = tu_printf("%s.tmpl", name);
    char *path = tu_write_file(dir, t, tmpl);
    char *out = NULL;
    int rc = tu_run(&out,
        "cd '%s' && certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 "
        "--outfile %s.key && certtool %s --load-privkey %s.key --template %s.tmpl "
        "--outfile %s.pem",
        dir, name,
        signer ? "--generate-certificate --load-ca-certificate ca.pem --load-ca-privkey ca.key"
               : "--generate-self-signed",
        name, name, name);
    if (rc != 0)
        fprintf(stderr, "certtool failed for %s:\n%s\n", name, out ? out : "");
    free(out);
    free(path);
    free(t);
    return rc;
}

int tu_make_certs(const char *dir)
{
    int rc = certtool_make(dir, "ca",
        "cn = herald test CA\nca\ncert_signing_key\nexpiration_days = 30\n", NULL);
    rc |= certtool_make(dir, "server",
        "cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\n"
        "tls_www_server\nsigning_key\nexpiration_days = 30\n", "ca");
    rc |= certtool_make(dir, "wronghost",
        "cn = wrong.example.com\ndns_name = wrong.example.com\n"
        "tls_www_server\nsigning_key\nexpiration_days = 30\n", "ca");
    rc |= certtool_make(dir, "expired",
        "cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nsigning_key\n"
        "activation_date = \"2019-01-01 00:00:00 UTC\"\n"
        "expiration_date = \"2020-01-01 00:00:00 UTC\"\n", "ca");
    rc |= certtool_make(dir, "selfsigned",
        "cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\n"
        "tls_www_server\nsigning_key\nexpiration_days = 30\n", NULL);
    return rc;
}

/* ---- make check-asan ---------------------------------------------------- */

/* LeakSanitizer asks this at exit.  Criterion runs each test in a
 * re-executed worker (boxfort marks it with BXFI_MAP); the runner process
 * itself only runs Criterion and report hooks, and Criterion leaks a
 * bookkeeping block there when workers finish out of order (a 48-byte
 * calloc inside libcriterion, no symbols to suppress it by without also
 * suppressing every test, since every test stack passes through
 * libcriterion).  So the runner is not leak-checked; workers, where the
 * tests and the code under test run, are. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
    return getenv("BXFI_MAP") == NULL;
}
