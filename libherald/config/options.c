/* libherald/config/options.c - typed option values: resolve a section
 * against option tables (core keys, then the driver's): unknown keys with
 * the nearest known one, required options, types, ranges and choices, and
 * secrets from X, X_env or X_file (a line break, NUL or empty secret is an
 * error, and no message quotes one). */
#include "conf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---- typed options --------------------------------------------------- */

enum source { SRC_DIRECT, SRC_ENV, SRC_FILE };

struct resolver {
    const char *file;
    const struct hconf_section *sec;
    const herald_option *const *tables;
    const char *const *skip;
    struct hopts *out;
    const struct hconf_kv **from;   /* which entry set each option */
    herald_error **err_r;
};

#define RERR(r, line, ...) hconf_error_at((r)->err_r, (r)->file, (line), __VA_ARGS__)

static unsigned sec_line(const struct resolver *r)
{
    return r->sec ? r->sec->line : 0;
}

static int in_list(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

/* "NAME" when @key is NAME + @suffix, else NULL (malloc'd). */
static char *strip_suffix(const char *key, const char *suffix)
{
    size_t k = strlen(key), n = strlen(suffix);
    if (k <= n || strcmp(key + k - n, suffix) != 0)
        return NULL;
    return hx_strndup(key, k - n);
}

static struct hopt_value *find_value(const struct hopts *o, const char *name)
{
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->v[i].opt->name, name) == 0)
            return &o->v[i];
    return NULL;
}

/* The option @key names, and how (X, X_env or X_file). */
static struct hopt_value *match_key(struct resolver *r, const char *key,
                                    enum source *how)
{
    struct hopt_value *v = find_value(r->out, key);
    *how = SRC_DIRECT;
    if (v)
        return v;
    static const char *const sfx[] = { "_env", "_file" };
    for (int i = 0; i < 2 && !v; i++) {
        char *base = strip_suffix(key, sfx[i]);
        if (base && (v = find_value(r->out, base)) &&
            !(v->opt->flags & HERALD_OPT_SECRET))
            v = NULL;
        *how = i ? SRC_FILE : SRC_ENV;
        free(base);
    }
    return v;
}

/* Append @key (owned) to the known keys and to @list, unless present. */
static void add_key(struct hbuf *list, const char ***keys, size_t *n,
                    char *key)
{
    if (!key)
        return;
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*keys)[i], key) == 0) {
            free(key);
            return;
        }
    void *arr = hx_grow(*keys, *n, sizeof **keys);
    if (!arr) {
        free(key);
        return;
    }
    *keys = arr;
    (*keys)[(*n)++] = key;
    hbuf_printf(list, "%s%s", list->len ? ", " : "", key);
}

static herald_class unknown_key(struct resolver *r, const struct hconf_kv *kv)
{
    static const char *const sfx[] = { "_env", "_file" };
    for (int i = 0; i < 2; i++) {
        char *base = strip_suffix(kv->key, sfx[i]);
        struct hopt_value *v = base ? find_value(r->out, base) : NULL;
        free(base);
        if (v)
            return hx_fix(r->err_r, RERR(r, kv->line, "unknown key '%s' in "
                        LABEL_FMT ": '%s' is not a secret, so it has no _env "
                        "or _file form", kv->key, LABEL(r->sec), v->opt->name),
                        "write %s = VALUE", v->opt->name);
    }
    const char **keys = NULL;
    size_t n = 0;
    struct hbuf list = {0};
    for (size_t i = 0; i < r->out->n; i++) {
        const herald_option *opt = r->out->v[i].opt;
        add_key(&list, &keys, &n, hx_strdup(opt->name));
        if (opt->flags & HERALD_OPT_SECRET) {
            add_key(&list, &keys, &n, hx_printf("%s_env", opt->name));
            add_key(&list, &keys, &n, hx_printf("%s_file", opt->name));
        }
    }
    for (const char *const *s = r->skip; s && *s; s++)
        add_key(&list, &keys, &n, hx_strdup(*s));
    const char *best = NULL;
    unsigned best_d = 255, len = (unsigned)strlen(kv->key);
    for (size_t i = 0; i < n; i++) {
        unsigned d = hx_edit_distance(kv->key, keys[i]);
        if (d < best_d) {
            best_d = d;
            best = keys[i];
        }
    }
    herald_class rc;
    if (best && best_d < len && (best_d <= 2 || best_d * 3 <= len))
        rc = hx_fix(r->err_r, RERR(r, kv->line, "unknown key '%.*s%s' in "
                    LABEL_FMT, ECHO(kv->key), LABEL(r->sec)),
                    "did you mean '%s'?", best);
    else
        rc = hx_fix(r->err_r, RERR(r, kv->line, "unknown key '%.*s%s' in "
                    LABEL_FMT, ECHO(kv->key), LABEL(r->sec)),
                    "valid keys are: %s", list.data ? list.data : "(none)");
    for (size_t i = 0; i < n; i++)
        free((char *)keys[i]);
    free(keys);
    hbuf_free(&list);
    return rc;
}

/* Remember a warning about the section for the caller to log. */
static void add_warning(struct resolver *r, char *w)
{
    struct hopts *o = r->out;
    void *arr = w ? hx_grow(o->warnings, o->n_warnings, sizeof *o->warnings)
                  : NULL;
    if (!arr) {
        free(w);
        return;
    }
    o->warnings = arr;
    o->warnings[o->n_warnings++] = w;
}

/* The text of secret @opt from the file named by @kv (X_file). */
static herald_class read_secret_file(struct resolver *r,
                                     const struct hconf_kv *kv,
                                     const herald_option *opt, char **text_r)
{
    size_t len = 0;
    char *data = NULL, *why = NULL;
    unsigned mode = 0;
    if (hb_read_file_mode(kv->value, HB_SECRET_LIMIT, "the secret size limit",
                          0, &data, &len, &why, &mode) != 0) {
        int e = errno;
        herald_class rc = !why ? hconf_oom(r->err_r)
            : RERR(r, kv->line, "cannot read %s in " LABEL_FMT ": %s",
                   kv->key, LABEL(r->sec), why);
        if (why && (e == ENOENT || e == EACCES))
            hx_fix(r->err_r, rc, "check the path and that this user may read "
                   "the file");
        else if (why && e == EFBIG)
            hx_fix(r->err_r, rc, "a secret file holds the secret alone");
        free(why);
        return rc;
    }
    size_t size = len;
    if (len && data[len - 1] == '\n') {
        data[--len] = '\0';
        if (len && data[len - 1] == '\r')
            data[--len] = '\0';
    }
    const char *bad = !len ? "is empty"
                      : memchr(data, '\0', len) ? "contains a NUL byte"
                      : memchr(data, '\n', len) || memchr(data, '\r', len)
                      ? "has more than one line" : NULL;
    if (bad) {
        hconf_wipe_free_n(data, size);
        return hx_fix(r->err_r, RERR(r, kv->line, "%s '%s' in " LABEL_FMT
                                     " %s", kv->key, kv->value, LABEL(r->sec),
                                     bad),
                      "a secret file holds the secret '%s' alone as text on "
                      "one line (one final newline is fine)", opt->name);
    }
    if (mode & (S_IRGRP | S_IROTH))
        add_warning(r, hx_printf("%s:%u: secret file '%s' (%s in "
                                 LABEL_FMT ") is readable by %s (mode %04o); "
                                 "run chmod 600 '%s'", r->file, kv->line,
                                 kv->value, kv->key, LABEL(r->sec),
                                 (mode & S_IROTH) && (mode & S_IRGRP)
                                     ? "its group and by others"
                                     : mode & S_IROTH ? "others"
                                                      : "its group",
                                 mode & 07777, kv->value));
    *text_r = data;
    return HERALD_OK;
}

/* The text of a secret given as X_env or X_file, or of a plain X. */
static herald_class fetch_text(struct resolver *r, const struct hconf_kv *kv,
                               const herald_option *opt, enum source how,
                               char **text_r)
{
    *text_r = NULL;
    if (how == SRC_DIRECT) {
        if (!*kv->value && (opt->flags & HERALD_OPT_SECRET))
            return hx_fix(r->err_r, RERR(r, kv->line, "%s in " LABEL_FMT
                                         " is empty", kv->key, LABEL(r->sec)),
                          "give the secret, use %s_env or %s_file, or remove "
                          "the line", opt->name, opt->name);
        *text_r = hx_strdup(kv->value);
        return *text_r ? HERALD_OK : hconf_oom(r->err_r);
    }
    const char *other = how == SRC_ENV ? "_file" : "_env";
    if (!*kv->value)
        return hx_fix(r->err_r, RERR(r, kv->line, "%s in " LABEL_FMT
                                     " is empty", kv->key, LABEL(r->sec)),
                      "give the %s that holds '%s', or use %s%s or %s "
                      "instead", how == SRC_ENV ? "name of an environment "
                      "variable" : "path of a file", opt->name, opt->name,
                      other, opt->name);
    if (how == SRC_FILE)
        return read_secret_file(r, kv, opt, text_r);
    const char *val = hx_getenv(kv->value);
    if (!val || !*val)
        return hx_fix(r->err_r, RERR(r, kv->line, "environment variable "
                                     "'%.*s%s' named by %s in " LABEL_FMT
                                     " is %s", ECHO(kv->value), kv->key,
                                     LABEL(r->sec), val ? "empty" : "not set"),
                      "set it in the environment that runs herald, or use "
                      "%s_file instead", opt->name);
    if (strpbrk(val, "\r\n"))
        return hx_fix(r->err_r, RERR(r, kv->line, "environment variable "
                                     "'%.*s%s' named by %s in " LABEL_FMT
                                     " contains a line break", ECHO(kv->value),
                                     kv->key, LABEL(r->sec)),
                      "set it to the secret alone, on one line");
    *text_r = hx_strdup(val);
    return *text_r ? HERALD_OK : hconf_oom(r->err_r);
}

/* How an error names the value: never the value itself for a secret. */
static char *describe(const struct resolver *r, const herald_option *opt,
                      const struct hconf_kv *kv, const char *text)
{
    if (opt->flags & HERALD_OPT_SECRET)
        return hx_printf("the value of '%s' in " LABEL_FMT " (not shown: it "
                         "is secret)", opt->name, LABEL(r->sec));
    if (!kv)
        return hx_printf("the default %s = '%.*s%s' (a bug in the driver's "
                         "option table)", opt->name, ECHO(text));
    return hx_printf("%s = '%.*s%s' in " LABEL_FMT, opt->name, ECHO(text),
                     LABEL(r->sec));
}

static void format_ms(char *buf, size_t n, long long ms)
{
    if (ms && ms % 3600000 == 0)
        snprintf(buf, n, "%lldh", ms / 3600000);
    else if (ms && ms % 60000 == 0)
        snprintf(buf, n, "%lldm", ms / 60000);
    else if (ms % 1000 == 0)
        snprintf(buf, n, "%llds", ms / 1000);
    else
        snprintf(buf, n, "%lldms", ms);
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* 0, -1 when not a decimal integer, -2 when it does not fit. */
static int parse_int(const char *s, long long *out)
{
    const char *p = s + (*s == '+' || *s == '-');
    if (!*p)
        return -1;
    for (const char *c = p; *c; c++)
        if (!is_digit(*c))
            return -1;
    errno = 0;
    *out = strtoll(s, NULL, 10);
    return errno == ERANGE ? -2 : 0;
}

/* Milliseconds; 0, -1 when not a duration, -2 when too long. */
static int parse_duration(const char *s, long long *out)
{
    long long n = 0;
    const char *c = s;
    if (!is_digit(*c))
        return -1;
    for (; is_digit(*c); c++) {
        if (n > (LLONG_MAX - (*c - '0')) / 10)
            return -2;
        n = n * 10 + (*c - '0');
    }
    long long mult;
    if (!*c || strcmp(c, "s") == 0)
        mult = 1000;
    else if (strcmp(c, "ms") == 0)
        mult = 1;
    else if (strcmp(c, "m") == 0)
        mult = 60000;
    else if (strcmp(c, "h") == 0)
        mult = 3600000;
    else
        return -1;
    if (n > LLONG_MAX / mult)
        return -2;
    *out = n * mult;
    return 0;
}

static int parse_bool(const char *s)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    }
    return -1;
}

/* Index of @s among the '|'-separated @choices, or -1. */
static int enum_index(const char *choices, const char *s)
{
    size_t n = strlen(s);
    int i = 0;
    if (!choices)
        return -1;
    for (const char *c = choices; c; i++) {
        const char *bar = strchr(c, '|');
        size_t len = bar ? (size_t)(bar - c) : strlen(c);
        if (len == n && strncmp(c, s, n) == 0)
            return i;
        c = bar ? bar + 1 : NULL;
    }
    return -1;
}

/* The fix for a value not among @choices: "use one of: a, b, c". */
static char *choice_fix(const char *choices)
{
    struct hbuf list = {0};
    for (const char *c = choices ? choices : ""; *c; c++) {
        if (*c == '|')
            hbuf_adds(&list, ", ");
        else
            hbuf_addc(&list, *c);
    }
    char *fix = hx_printf("use one of: %s", list.data ? list.data : "(none)");
    hbuf_free(&list);
    return fix;
}

/* Keep @why (what is wrong: static) and @fix (malloc'd, NULL on OOM);
 * returns -1. */
static int reason(const char **why_r, char **fix_r, const char *why, char *fix)
{
    *why_r = why;
    *fix_r = fix;
    return -1;
}

/* 0 when @text is a valid @opt (filling *num_r), else -1 with *why_r
 * saying what is wrong and *fix_r (malloc'd; NULL on OOM) what to do. */
static int check_type(const herald_option *opt, const char *text,
                      long long *num_r, const char **why_r, char **fix_r)
{
    char lo[32], hi[32];
    int ranged = opt->max > opt->min, rc;
    *num_r = 0;
    switch (opt->type) {
    case HERALD_OPT_INT:
        rc = parse_int(text, num_r);
        if (rc == -1)
            return reason(why_r, fix_r, "is not a whole number", hx_printf(
                          "write a decimal integer such as %s = 10", opt->name));
        if (rc == 0 && (!ranged || (*num_r >= opt->min && *num_r <= opt->max)))
            return 0;
        if (!ranged)
            return reason(why_r, fix_r, "does not fit in 64 bits", hx_printf(
                          "use a value from %lld to %lld", LLONG_MIN, LLONG_MAX));
        return reason(why_r, fix_r, "is out of range", hx_printf(
                      "use a value from %lld to %lld", opt->min, opt->max));
    case HERALD_OPT_BOOL:
        if ((*num_r = parse_bool(text)) >= 0)
            return 0;
        *num_r = 0;
        return reason(why_r, fix_r, "is not a yes/no value", hx_strdup(
                      "use yes, no, true, false, on, off, 1 or 0"));
    case HERALD_OPT_ENUM:
        if ((*num_r = enum_index(opt->choices, text)) >= 0)
            return 0;
        *num_r = 0;
        return reason(why_r, fix_r, "is not one of the choices",
                      choice_fix(opt->choices));
    case HERALD_OPT_DURATION:
        rc = parse_duration(text, num_r);
        if (rc == -1)
            return reason(why_r, fix_r, "is not a duration", hx_strdup(
                          "write seconds (30) or a number with a unit: "
                          "500ms, 30s, 5m, 2h"));
        if (rc == 0 && (!ranged || (*num_r >= opt->min && *num_r <= opt->max)))
            return 0;
        if (!ranged)
            return reason(why_r, fix_r, "is too long",
                          hx_strdup("use a shorter duration"));
        format_ms(lo, sizeof lo, opt->min);
        format_ms(hi, sizeof hi, opt->max);
        return reason(why_r, fix_r, "is out of range", hx_printf(
                      "use a duration from %s to %s", lo, hi));
    case HERALD_OPT_PATH:
        if (*text)
            return 0;
        return reason(why_r, fix_r, "is empty", hx_strdup(
                      "give a path, or remove the line to use the default"));
    case HERALD_OPT_STRING:
    default:
        return 0;
    }
}

/* Check @text (owned; freed on error) against @v's type and store it. */
static herald_class set_typed(struct resolver *r, struct hopt_value *v,
                              char *text, const struct hconf_kv *kv)
{
    long long num;
    const char *why = NULL;
    char *fix = NULL;
    if (check_type(v->opt, text, &num, &why, &fix) < 0) {
        char *what = describe(r, v->opt, kv, text);
        herald_class rc = what && fix
            ? hx_fix(r->err_r, RERR(r, kv ? kv->line : sec_line(r), "%s %s",
                                    what, why), "%s", fix)
            : hconf_oom(r->err_r);
        free(what);
        free(fix);
        hconf_wipe_free(text);
        return rc;
    }
    if (v->opt->type == HERALD_OPT_BOOL) {
        hconf_wipe_free(text);
        text = hx_strdup(num ? "yes" : "no");
        if (!text)
            return hconf_oom(r->err_r);
    }
    hconf_wipe_free(v->str);
    v->str = text;
    v->num = num;
    return HERALD_OK;
}

static herald_class apply_defaults(struct resolver *r)
{
    for (size_t i = 0; i < r->out->n; i++) {
        struct hopt_value *v = &r->out->v[i];
        if (!v->opt->default_value)
            continue;
        char *text;
        int rc = hconf_scan_value(v->opt->default_value, &text);
        if (rc == -2)
            return hconf_oom(r->err_r);
        if (rc == -1)
            return hx_fix(r->err_r, RERR(r, sec_line(r), "the default of "
                                         "'%s' has an unterminated quote",
                                         v->opt->name),
                          "this is a bug in the driver's option table: "
                          "report it to the driver's authors");
        herald_class hc = set_typed(r, v, text, NULL);
        if (hc)
            return hc;
    }
    return HERALD_OK;
}

static herald_class apply_entry(struct resolver *r, size_t idx)
{
    const struct hconf_kv *kv = &r->sec->kv[idx];
    if (in_list(r->skip, kv->key))
        return HERALD_OK;
    enum source how;
    struct hopt_value *v = match_key(r, kv->key, &how);
    if (!v)
        return unknown_key(r, kv);
    const struct hconf_kv **from = &r->from[v - r->out->v];
    const char *name = v->opt->name;
    if (*from)
        return hx_fix(r->err_r, RERR(r, kv->line, "'%s' is given twice in "
                                     LABEL_FMT ": as %s (line %u) and as %s "
                                     "(line %u)", name, LABEL(r->sec),
                                     (*from)->key, (*from)->line, kv->key,
                                     kv->line),
                      "keep only one of %s, %s_env and %s_file", name, name,
                      name);
    char *text;
    herald_class rc = fetch_text(r, kv, v->opt, how, &text);
    if (!rc)
        rc = set_typed(r, v, text, kv);
    if (rc)
        return rc;
    *from = kv;
    v->set = 1;
    v->line = kv->line;
    return HERALD_OK;
}

static herald_class check_required(struct resolver *r)
{
    for (size_t i = 0; i < r->out->n; i++) {
        const struct hopt_value *v = &r->out->v[i];
        const herald_option *o = v->opt;
        if (!(o->flags & HERALD_OPT_REQUIRED) || v->set || o->default_value)
            continue;
        int has_doc = o->doc && *o->doc;
        if (o->flags & HERALD_OPT_SECRET)
            return hx_fix(r->err_r, RERR(r, sec_line(r), LABEL_FMT " needs "
                        "'%s'%s%s%s", LABEL(r->sec), o->name,
                        has_doc ? " (" : "", has_doc ? o->doc : "",
                        has_doc ? ")" : ""),
                        "add %s = ..., %s_env = VARIABLE or %s_file = PATH",
                        o->name, o->name, o->name);
        return hx_fix(r->err_r, RERR(r, sec_line(r), LABEL_FMT " needs "
                      "'%s'%s%s%s", LABEL(r->sec), o->name, has_doc ? " (" : "",
                      has_doc ? o->doc : "", has_doc ? ")" : ""),
                      "add %s = ...", o->name);
    }
    return HERALD_OK;
}

static herald_class alloc_values(struct resolver *r)
{
    size_t n = 0;
    for (const herald_option *const *t = r->tables; t && *t; t++)
        for (const herald_option *o = *t; o->name; o++)
            n++;
    r->out->v = calloc(n ? n : 1, sizeof *r->out->v);
    r->from = calloc(n ? n : 1, sizeof *r->from);
    if (!r->out->v || !r->from)
        return hconf_oom(r->err_r);
    for (const herald_option *const *t = r->tables; t && *t; t++)
        for (const herald_option *o = *t; o->name; o++)
            r->out->v[r->out->n++].opt = o;
    return HERALD_OK;
}

/* Resolve section @sec against @tables; see internal.h. */
herald_class hopts_resolve(const struct hconf *conf,
                           const struct hconf_section *sec,
                           const herald_option *const *tables,
                           const char *const *skip, struct hopts *out,
                           herald_error **err_r)
{
    if (!out)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "hopts_resolve: out must not be NULL");
    out->v = NULL;
    out->n = 0;
    out->warnings = NULL;
    out->n_warnings = 0;
    struct resolver r = { conf && conf->file ? conf->file : "<config>", sec,
                          tables, skip, out, NULL, err_r };
    herald_class rc = alloc_values(&r);
    if (!rc)
        rc = apply_defaults(&r);
    for (size_t i = 0; !rc && sec && i < sec->n_kv; i++)
        rc = apply_entry(&r, i);
    if (!rc)
        rc = check_required(&r);
    free(r.from);
    if (rc)
        hopts_free(out);
    return rc;
}

/* Free resolved options, wiping secret values first. */
void hopts_free(struct hopts *o)
{
    if (!o)
        return;
    for (size_t i = 0; i < o->n; i++) {
        if (o->v[i].opt && (o->v[i].opt->flags & HERALD_OPT_SECRET))
            hconf_wipe_free(o->v[i].str);
        else
            free(o->v[i].str);
    }
    free(o->v);
    o->v = NULL;
    o->n = 0;
    for (size_t i = 0; i < o->n_warnings; i++)
        free(o->warnings[i]);
    free(o->warnings);
    o->warnings = NULL;
    o->n_warnings = 0;
}

/* The resolved value of option @name, or NULL when no table has it. */
const struct hopt_value *hopts_find(const struct hopts *o, const char *name)
{
    if (!o || !name)
        return NULL;
    return find_value(o, name);
}
