/* fuzz/fuzz_config.c - libFuzzer harness for the herald.conf reader.
 *
 * Input -> NUL-terminated text -> hconf_parse; when it parses, every section
 * is resolved with hopts_resolve against fixed option tables that use every
 * option type (STRING, INT with and without a range, BOOL, ENUM, DURATION
 * with and without a range, PATH, SECRET, REQUIRED; a channel with
 * driver = http gets a table with a required secret instead).  Checks: no crash, no
 * leak (ASan), errors are HERALD_ERR_CONFIG naming "FILE:LINE: ", resolved
 * values respect their type and range and hold no CR or LF (they end up in
 * protocol lines and headers), and no error quotes a secret. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_NAME "fuzz.conf"
/* Secret contents; '!' cannot appear in a key or a channel name. */
#define SECRET_TEXT "s3cr3t!fuzz"

static const herald_option herald_table[] = {
    { "plugin_dir", HERALD_OPT_PATH, 0, NULL, NULL, "driver directory", 0, 0 },
    { "spool_dir", HERALD_OPT_PATH, 0, NULL, NULL, "spool directory", 0, 0 },
    { NULL, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const herald_option core_table[] = {
    { "driver", HERALD_OPT_STRING, HERALD_OPT_REQUIRED, NULL, NULL,
      "driver name", 0, 0 },
    { "from", HERALD_OPT_STRING, 0, NULL, NULL, "sender", 0, 0 },
    { NULL, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const herald_option driver_table[] = {
    { "host", HERALD_OPT_STRING, HERALD_OPT_REQUIRED, NULL, NULL,
      "server name", 0, 0 },
    { "port", HERALD_OPT_INT, 0, "587", NULL, "TCP port", 1, 65535 },
    { "count", HERALD_OPT_INT, 0, NULL, NULL, "any integer", 0, 0 },
    { "tls_verify", HERALD_OPT_BOOL, 0, "yes", NULL, "check certs", 0, 0 },
    { "tls", HERALD_OPT_ENUM, 0, "starttls", "implicit|starttls|none",
      "TLS mode", 0, 0 },
    { "timeout", HERALD_OPT_DURATION, 0, "30s", NULL, "time limit",
      1, 3600000 },
    { "delay", HERALD_OPT_DURATION, 0, NULL, NULL, "any duration", 0, 0 },
    { "ca_file", HERALD_OPT_PATH, 0, NULL, NULL, "CA bundle", 0, 0 },
    { "password", HERALD_OPT_STRING, HERALD_OPT_SECRET, NULL, NULL,
      "password", 0, 0 },
    { "pin", HERALD_OPT_INT, HERALD_OPT_SECRET, NULL, NULL, "a secret number",
      0, 9999 },
    { NULL, 0, 0, NULL, NULL, NULL, 0, 0 }
};

/* For channels with driver = http: a required secret, and a ranged
 * duration whose bounds print in seconds and minutes. */
static const herald_option http_table[] = {
    { "api_key", HERALD_OPT_STRING, HERALD_OPT_REQUIRED | HERALD_OPT_SECRET,
      NULL, NULL, "the provider's API key", 0, 0 },
    { "base_url", HERALD_OPT_STRING, 0, "\"https://api.example.com/v3\"",
      NULL, "API base URL", 0, 0 },
    { "tls_verify", HERALD_OPT_BOOL, 0, "on", NULL, "check certs", 0, 0 },
    { "timeout", HERALD_OPT_DURATION, 0, "10", NULL, "time limit",
      1000, 300000 },
    { NULL, 0, 0, NULL, NULL, NULL, 0, 0 }
};

static const herald_option *const herald_tables[] = { herald_table, NULL };
static const herald_option *const channel_tables[] = { core_table,
                                                       driver_table, NULL };
static const herald_option *const http_tables[] = { core_table, http_table,
                                                    NULL };
static const char *const skip_keys[] = { "fallback", NULL };

/* A private directory holding a few secret files; X_file values are
 * confined to it (see confine_files), so a run never reads /dev/zero or a
 * FIFO.  The working directory is left alone (libFuzzer's paths are
 * relative to it). */
static char secret_dir[64];

static const char *const secret_files[][2] = {
    { "secret", SECRET_TEXT "\n" },
    { "secret_crlf", SECRET_TEXT "\r\n" },
    { "pin", "1234\n" },
    { "empty", "" },
    { "two_lines", SECRET_TEXT "\n\n" },
};
#define N_SECRET_FILES (sizeof secret_files / sizeof secret_files[0])

static void secret_path(char *buf, size_t n, size_t i)
{
    snprintf(buf, n, "%s/%s", secret_dir, secret_files[i][0]);
}

static void remove_secret_dir(void)
{
    char path[128];
    for (size_t i = 0; i < N_SECRET_FILES; i++) {
        secret_path(path, sizeof path, i);
        unlink(path);
    }
    rmdir(secret_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    strcpy(secret_dir, "/tmp/herald-fuzz-config-XXXXXX");
    if (!mkdtemp(secret_dir)) {
        perror("fuzz_config: private directory");
        abort();
    }
    atexit(remove_secret_dir);
    for (size_t i = 0; i < N_SECRET_FILES; i++) {
        char path[128];
        secret_path(path, sizeof path, i);
        FILE *f = fopen(path, "w");
        if (!f || fputs(secret_files[i][1], f) == EOF || fclose(f) != 0) {
            perror("fuzz_config: secret file");
            abort();
        }
    }
    setenv("SECRET", SECRET_TEXT, 1);
    setenv("PIN", "42", 1);
    setenv("EMPTY", "", 1);
    setenv("MULTILINE", SECRET_TEXT "\nline2", 1);
    return 0;
}

static void fail(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_config: %s: %s\n", what, detail ? detail : "");
    abort();
}

/* Keep X_file inside the private directory: "NAME" becomes DIR/NAME, and
 * a value with '/' becomes DIR/secret. */
static void confine_files(struct hconf *conf)
{
    for (size_t i = 0; i < conf->n_sec; i++) {
        struct hconf_section *s = &conf->sec[i];
        for (size_t j = 0; j < s->n_kv; j++) {
            struct hconf_kv *kv = &s->kv[j];
            size_t n = strlen(kv->key);
            if (n < 5 || strcmp(kv->key + n - 5, "_file") != 0 ||
                !*kv->value)
                continue;
            char *path = hx_printf("%s/%s", secret_dir,
                                   strchr(kv->value, '/') ? "secret"
                                                          : kv->value);
            free(kv->value);
            kv->value = path;
            if (!kv->value)
                abort();
        }
    }
}

/* Lines in the input as the parser counts them (at least 1). */
static unsigned n_lines;

static void check_error(herald_class rc, herald_error *err, int secret_ok)
{
    if (rc != HERALD_ERR_CONFIG)
        fail("unexpected error class", err ? herald_error_message(err) : NULL);
    if (!err || herald_error_class(err) != rc)
        fail("error class does not match the return code", NULL);
    const char *m = herald_error_message(err);
    if (!m || strncmp(m, FILE_NAME ":", strlen(FILE_NAME ":")) != 0)
        fail("error does not start with FILE:", m);
    char *end;
    unsigned long line = strtoul(m + strlen(FILE_NAME ":"), &end, 10);
    if (*end != ':' || line < 1 || line > n_lines)
        fail("error names no line, or a line past the end", m);
    if (!secret_ok && strstr(m, SECRET_TEXT))
        fail("error message quotes a secret", m);
}

/* Keys are [a-z0-9_]+, and every line number is in order and in range. */
static void check_conf(const struct hconf *conf)
{
    unsigned prev = 0;
    for (size_t i = 0; i < conf->n_sec; i++) {
        const struct hconf_section *s = &conf->sec[i];
        if (s->line <= prev || s->line > n_lines)
            fail("section line out of order", s->kind);
        prev = s->line;
        for (size_t j = 0; j < s->n_kv; j++) {
            const struct hconf_kv *kv = &s->kv[j];
            if (!*kv->key || strspn(kv->key, "abcdefghijklmnopqrstuvwxyz"
                                    "0123456789_") != strlen(kv->key))
                fail("bad key accepted", kv->key);
            if (kv->line <= prev || kv->line > n_lines)
                fail("key line out of order", kv->key);
            prev = kv->line;
        }
    }
}

static void check_value(const struct hopt_value *v)
{
    const herald_option *o = v->opt;
    if (v->set && !v->str)
        fail("option set but has no text", o->name);
    if (!v->str)
        return;
    if (strpbrk(v->str, "\r\n"))
        fail("resolved value contains CR or LF", o->name);
    int ranged = o->max > o->min;
    switch (o->type) {
    case HERALD_OPT_BOOL:
        if (v->num != 0 && v->num != 1)
            fail("bool out of 0/1", o->name);
        break;
    case HERALD_OPT_INT:
    case HERALD_OPT_DURATION:
        if (ranged && (v->num < o->min || v->num > o->max))
            fail("number out of range", o->name);
        if (o->type == HERALD_OPT_DURATION && v->num < 0)
            fail("negative duration", o->name);
        break;
    case HERALD_OPT_ENUM:
        if (v->num < 0 || v->num > 2)
            fail("enum index out of range", o->name);
        break;
    case HERALD_OPT_PATH:
        if (!*v->str)
            fail("empty path accepted", o->name);
        break;
    default:
        break;
    }
}

static void resolve(const struct hconf *conf, const struct hconf_section *sec,
                    int secret_ok)
{
    const struct hconf_kv *driver = hconf_find(sec, "driver");
    int http = driver && strcmp(driver->value, "http") == 0;
    const herald_option *const *tables = !sec->name ? herald_tables
                                         : http ? http_tables
                                                : channel_tables;
    struct hopts o;
    herald_error *err = NULL;
    herald_class rc = hopts_resolve(conf, sec, tables, skip_keys, &o, &err);
    if (rc != HERALD_OK) {
        check_error(rc, err, secret_ok);
        if (o.v || o.n)
            fail("hopts not emptied after an error", NULL);
        herald_error_free(err);
        return;
    }
    if (err)
        fail("error set on success", herald_error_message(err));
    for (size_t i = 0; i < o.n; i++)
        check_value(&o.v[i]);
    if (sec->name && !hopts_find(&o, http ? "api_key" : "host")->set)
        fail("required option missing but accepted", sec->name);
    hopts_free(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    int secret_ok = memmem(data, size, SECRET_TEXT, strlen(SECRET_TEXT)) != NULL;
    n_lines = 1;
    for (const char *c = text; *c; c++)
        n_lines += *c == '\n';

    struct hconf *conf = NULL;
    herald_error *err = NULL;
    herald_class rc = hconf_parse(text, size, FILE_NAME, &conf, &err);
    if (rc != HERALD_OK) {
        check_error(rc, err, 1);
        if (conf)
            fail("conf set after a parse error", NULL);
        herald_error_free(err);
        free(text);
        return 0;
    }
    if (!conf || err)
        fail("parse succeeded without a conf, or with an error", NULL);
    check_conf(conf);
    confine_files(conf);
    for (size_t i = 0; i < conf->n_sec; i++)
        resolve(conf, &conf->sec[i], secret_ok);
    hconf_free(conf);
    free(text);
    return 0;
}
