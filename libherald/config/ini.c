/* libherald/config/ini.c - the herald.conf INI reader (hconf_parse) and
 * the helpers the option resolver (options.c) shares with it.
 *
 * Our own small reader: no line-length limit, a line number on every error,
 * LF or CRLF, an optional UTF-8 BOM.  The file is text: a NUL or another
 * control character other than TAB anywhere (comments too) is an error.
 * Every error's message reads "FILE:LINE: what is wrong", with how to fix
 * it apart in herald_error_fix(), and never quotes a secret. */
#include "conf.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* Longest piece of user text echoed back in a message. */
#define ECHO_MAX 64
#define ECHO(s) hconf_echo_len(s), (s), hconf_echo_more(s)

/* "[herald]" or "[channel NAME]" for a section. */
#define LABEL_FMT "[%s%s]"
#define LABEL(sec) ((sec) && (sec)->name ? "channel " : "herald"), \
                   ((sec) && (sec)->name ? (sec)->name : "")

int hconf_echo_len(const char *s)
{
    return (int)strnlen(s, ECHO_MAX);
}

const char *hconf_echo_more(const char *s)
{
    return strnlen(s, ECHO_MAX + 1) > ECHO_MAX ? "..." : "";
}

/* A HERALD_ERR_CONFIG error prefixed with "FILE:LINE: ". */
herald_class hconf_error_at(herald_error **err_r, const char *file,
                               unsigned line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = hx_vprintf(fmt, ap);
    va_end(ap);
    if (!m)
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    hx_error(err_r, HERALD_ERR_CONFIG, "%s:%u: %s", file, line, m);
    free(m);
    return HERALD_ERR_CONFIG;
}

herald_class hconf_oom(herald_error **err_r)
{
    return hx_error(err_r, HERALD_ERR_INTERNAL,
                    "out of memory while reading the configuration");
}

/* Overwrite @n bytes before freeing them: they may hold a secret. */
void hconf_wipe_free_n(char *s, size_t n)
{
    if (!s)
        return;
    for (volatile char *p = s; n--; p++)
        *p = '\0';
    free(s);
}

void hconf_wipe_free(char *s)
{
    hconf_wipe_free_n(s, s ? strlen(s) : 0);
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static char *skip_blank(char *s)
{
    while (is_blank(*s))
        s++;
    return s;
}

static char *trim(char *s)
{
    s = skip_blank(s);
    size_t n = strlen(s);
    while (n && is_blank(s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* ---- the INI reader -------------------------------------------------- */

struct parser {
    struct hconf *conf;
    unsigned line;
    herald_error **err_r;
};

#define PERR(p, ...) hconf_error_at((p)->err_r, (p)->conf->file, (p)->line, __VA_ARGS__)

static int key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static int name_char(char c)
{
    return key_char(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-';
}

static int valid_channel_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!name_char(*s))
            return 0;
    return 1;
}

/* Scan a value: the text after '=' up to the end of the line.  Handles
 * whole-value quotes with \" and \\ escapes and inline comments (" ;" or
 * " #" outside quotes).  Returns 0, -1 for an unterminated quote, -2 on
 * OOM. */
int hconf_scan_value(const char *s, char **out_r)
{
    const char *v = s;
    while (is_blank(*v))
        v++;
    *out_r = NULL;
    if (*v == '"') {
        struct hbuf b = {0};
        const char *q = v + 1;
        for (; *q && *q != '"'; q++) {
            if (*q == '\\' && (q[1] == '"' || q[1] == '\\'))
                q++;
            hbuf_addc(&b, *q);
        }
        if (!*q) {
            hconf_wipe_free(b.data);
            return -1;
        }
        const char *rest = q + 1;
        while (is_blank(*rest))
            rest++;
        if (!*rest || (rest > q + 1 && (*rest == ';' || *rest == '#'))) {
            *out_r = hbuf_steal(&b, NULL);
            return *out_r ? 0 : -2;
        }
        /* Quotes around only part of the value ("Name" <a@b>): keep the
         * text as written. */
        hconf_wipe_free(b.data);
    }
    int inq = 0;
    const char *c = s;
    for (; *c; c++) {
        if (inq) {
            if (*c == '\\' && c[1])
                c++;
            else if (*c == '"')
                inq = 0;
        } else if (*c == '"') {
            inq = 1;
        } else if ((*c == ';' || *c == '#') && c > s && is_blank(c[-1])) {
            break;
        }
    }
    if (inq)
        return -1;
    while (c > v && is_blank(c[-1]))
        c--;
    *out_r = hx_strndup(v, (size_t)(c - v));
    return *out_r ? 0 : -2;
}

/* The offset of the first byte in [s, s+n) a config file may not hold (a
 * C0 control other than TAB, NUL included, or DEL), or n when none. */
static size_t control_at(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7F)
            return i;
    }
    return n;
}

/* The error for the control byte at offset @at of line [s, s+n): about the
 * value of KEY when it is in one, else about the line.  Never echoes the
 * line (it may hold a secret). */
static herald_class control_error(struct parser *p, const char *s, size_t n,
                                  size_t at)
{
    unsigned char c = (unsigned char)s[at];
    const char *eq = memchr(s, '=', at);
    size_t k = 0;
    while (k < n && is_blank(s[k]))
        k++;
    char *key = NULL;
    if (eq && s[k] != '[' && s[k] != ';' && s[k] != '#') {
        key = hx_strndup(s + k, (size_t)(eq - s) - k);
        if (!key)
            return hconf_oom(p->err_r);
        char *t = trim(key);
        memmove(key, t, strlen(t) + 1);
    }
    char *what = key && *key ? hx_printf("the value of '%.*s%s'", ECHO(key))
                             : hx_printf("the line");
    free(key);
    if (!what)
        return hconf_oom(p->err_r);
    herald_class rc;
    if (c == '\r')
        rc = hx_fix(p->err_r, PERR(p, "%s contains a carriage return (\\r) "
                  "at column %zu", what, at + 1), "remove it: a config line "
                  "is one line of text (the file may mix line endings; save "
                  "it with LF or CRLF line endings)");
    else if (c == 0)
        rc = hx_fix(p->err_r, PERR(p, "%s contains a NUL byte at column %zu",
                  what, at + 1), "remove it: a config file is text, and "
                  "nothing after a NUL would be read");
    else
        rc = hx_fix(p->err_r, PERR(p, "%s contains the control character "
                  "0x%02X at column %zu", what, (unsigned)c, at + 1),
                  "remove it: a config file is text (TAB is the only "
                  "control character allowed)");
    free(what);
    return rc;
}

static herald_class add_section(struct parser *p, const char *kind,
                                const char *name)
{
    struct hconf *conf = p->conf;
    for (size_t i = 0; i < conf->n_sec; i++) {
        struct hconf_section *s = &conf->sec[i];
        if (strcmp(s->kind, kind) != 0)
            continue;
        if (!name)
            return hx_fix(p->err_r, PERR(p, "[herald] appears twice (first "
                                         "at line %u)", s->line),
                          "merge the two into one [herald] section");
        if (s->name && strcmp(s->name, name) == 0)
            return hx_fix(p->err_r, PERR(p, "[channel %s] is defined twice "
                                         "(first at line %u)", name, s->line),
                          "merge the two sections or rename one");
    }
    void *arr = hx_grow(conf->sec, conf->n_sec, sizeof *conf->sec);
    if (!arr)
        return hconf_oom(p->err_r);
    conf->sec = arr;
    struct hconf_section *s = &conf->sec[conf->n_sec];
    memset(s, 0, sizeof *s);
    s->kind = hx_strdup(kind);
    s->name = hx_strdup(name);
    s->line = p->line;
    conf->n_sec++;
    if (!s->kind || (name && !s->name))
        return hconf_oom(p->err_r);
    return HERALD_OK;
}

static herald_class parse_header(struct parser *p, char *t)
{
    static const char forms[] = "the accepted forms are [herald] and "
        "[channel NAME] (NAME: letters, digits, '_', '.', '-')";
    char *close = strchr(t, ']');
    if (!close)
        return hx_fix(p->err_r, PERR(p, "section header '%.*s%s' has no "
                                     "closing ']'", ECHO(t)), "%s", forms);
    char *after = skip_blank(close + 1);
    if (*after && *after != ';' && *after != '#')
        return hx_fix(p->err_r, PERR(p, "unexpected text '%.*s%s' after the "
                                     "section header", ECHO(after)),
                      "remove it or start a comment with ';' or '#'");
    *close = '\0';
    char *inner = trim(t + 1);
    if (strcmp(inner, "herald") == 0)
        return add_section(p, "herald", NULL);
    if (strcmp(inner, "channel") == 0)
        return hx_fix(p->err_r, PERR(p, "section [channel] needs a name"),
                      "%s", forms);
    if (strncmp(inner, "channel", 7) == 0 && is_blank(inner[7])) {
        char *name = skip_blank(inner + 7);
        if (!valid_channel_name(name))
            return hx_fix(p->err_r, PERR(p, "bad channel name '%.*s%s'",
                                         ECHO(name)), "%s", forms);
        return add_section(p, "channel", name);
    }
    return hx_fix(p->err_r, PERR(p, "unknown section header '[%.*s%s]'",
                                 ECHO(inner)), "%s", forms);
}

static herald_class check_key(struct parser *p, const char *key)
{
    if (!*key)
        return hx_fix(p->err_r, PERR(p, "missing key before '='"),
                      "write 'key = value'");
    int upper = 0, bad = 0;
    for (const char *c = key; *c; c++) {
        if (*c >= 'A' && *c <= 'Z')
            upper = 1;
        else if (!key_char(*c))
            bad = 1;
    }
    if (!upper && !bad)
        return HERALD_OK;
    if (upper && !bad) {
        char *lower = hx_strdup(key);
        if (!lower)
            return hconf_oom(p->err_r);
        for (char *c = lower; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        hx_fix(p->err_r, PERR(p, "key '%.*s%s' has uppercase letters",
                              ECHO(key)),
               "keys are lowercase: write '%.*s%s'", ECHO(lower));
        free(lower);
        return HERALD_ERR_CONFIG;
    }
    return hx_fix(p->err_r, PERR(p, "bad key '%.*s%s'", ECHO(key)),
                  "keys use only lowercase letters, digits and '_' (check "
                  "for a missing '=' or a stray character)");
}

static herald_class parse_pair(struct parser *p, char *t)
{
    char *eq = strchr(t, '=');
    if (!eq)
        return hx_fix(p->err_r, PERR(p, "line has no '='"), "write 'key = "
                      "value', a section header such as [channel NAME], or a "
                      "comment starting with ';' or '#'");
    *eq = '\0';
    char *key = trim(t);
    herald_class rc = check_key(p, key);
    if (rc)
        return rc;
    if (!p->conf->n_sec)
        return hx_fix(p->err_r, PERR(p, "key '%s' comes before any section",
                                     key),
                      "put it under [herald] or a [channel NAME] section");
    struct hconf_section *sec = &p->conf->sec[p->conf->n_sec - 1];
    const struct hconf_kv *dup = hconf_find(sec, key);
    if (dup)
        return hx_fix(p->err_r, PERR(p, "key '%s' appears twice in " LABEL_FMT
                                     " (lines %u and %u)", key, LABEL(sec),
                                     dup->line, p->line), "keep only one");
    char *value;
    int r = hconf_scan_value(eq + 1, &value);
    if (r == -1)
        return hx_fix(p->err_r, PERR(p, "the value of '%s' has an opening "
                                     "'\"' without a closing one", key),
                      "close the quote (write \\\" for a quote inside quotes)");
    void *arr = r < 0 ? NULL : hx_grow(sec->kv, sec->n_kv, sizeof *sec->kv);
    if (!arr) {
        hconf_wipe_free(value);
        return hconf_oom(p->err_r);
    }
    sec->kv = arr;
    struct hconf_kv *kv = &sec->kv[sec->n_kv];
    kv->key = hx_strdup(key);
    kv->value = value;
    kv->line = p->line;
    sec->n_kv++;
    return kv->key ? HERALD_OK : hconf_oom(p->err_r);
}

static herald_class parse_line(struct parser *p, char *ln)
{
    char *t = skip_blank(ln);
    if (!*t || *t == ';' || *t == '#')
        return HERALD_OK;
    if (*t == '[')
        return parse_header(p, t);
    return parse_pair(p, t);
}

/* Parse INI text into sections; see internal.h. */
herald_class hconf_parse(const char *text, size_t len, const char *file,
                         struct hconf **conf_r, herald_error **err_r)
{
    if (conf_r)
        *conf_r = NULL;
    if (!text || !conf_r)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "hconf_parse: text and conf_r must not be NULL");
    struct hconf *conf = calloc(1, sizeof *conf);
    if (!conf || !(conf->file = hx_strdup(file ? file : "<string>"))) {
        free(conf);
        return hconf_oom(err_r);
    }
    struct parser p = { conf, 0, err_r };
    const char *s = text, *end = text + len;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;
    herald_class rc = HERALD_OK;
    while (s < end && rc == HERALD_OK) {
        p.line++;
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl ? (size_t)(nl - s) : (size_t)(end - s);
        size_t body = n;
        if (body && s[body - 1] == '\r')
            body--;
        size_t at = control_at(s, body);
        if (at < body) {
            rc = control_error(&p, s, body, at);
            break;
        }
        char *ln = hx_strndup(s, body);
        rc = ln ? parse_line(&p, ln) : hconf_oom(err_r);
        hconf_wipe_free_n(ln, body);
        s += n + (nl ? 1 : 0);
    }
    if (rc) {
        hconf_free(conf);
        return rc;
    }
    *conf_r = conf;
    return HERALD_OK;
}

/* Free a parsed configuration (values are wiped: they may be secrets). */
void hconf_free(struct hconf *conf)
{
    if (!conf)
        return;
    for (size_t i = 0; i < conf->n_sec; i++) {
        struct hconf_section *s = &conf->sec[i];
        for (size_t j = 0; j < s->n_kv; j++) {
            free(s->kv[j].key);
            hconf_wipe_free(s->kv[j].value);
        }
        free(s->kv);
        free(s->kind);
        free(s->name);
    }
    free(conf->sec);
    free(conf->file);
    free(conf);
}

/* The last entry of @sec with @key, or NULL. */
const struct hconf_kv *hconf_find(const struct hconf_section *sec,
                                  const char *key)
{
    if (!sec || !key)
        return NULL;
    for (size_t i = sec->n_kv; i-- > 0;)
        if (strcmp(sec->kv[i].key, key) == 0)
            return &sec->kv[i];
    return NULL;
}
