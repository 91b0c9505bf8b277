/* tests/libherald/test_config.c - the INI reader (hconf_*) and typed options (hopts_*). */
#include "internal.h"
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------- */

static struct hconf *parse_ok(const char *text)
{
    struct hconf *conf = NULL;
    herald_error *err = NULL;
    herald_class rc = hconf_parse(text, strlen(text), "test.conf", &conf, &err);
    cr_assert_eq(rc, HERALD_OK, "parse failed: %s",
                 err ? herald_error_message(err) : "(no error)");
    cr_assert_null(err);
    cr_assert_not_null(conf);
    return conf;
}

/* "WHAT" or "WHAT\n  fix: HOW" (as the CLI shows an error), malloc'd. */
static char *what_and_fix(const herald_error *err)
{
    const char *fix = herald_error_fix(err);
    return tu_printf("%s%s%s", herald_error_message(err), fix ? "\n  fix: " : "",
                     fix ? fix : "");
}

/* Parse @text expecting a config error; returns what_and_fix (malloc'd). */
static char *parse_err(const char *text)
{
    struct hconf *conf = (struct hconf *)1;
    herald_error *err = NULL;
    herald_class rc = hconf_parse(text, strlen(text), "test.conf", &conf, &err);
    cr_assert_eq(rc, HERALD_ERR_CONFIG, "expected a config error, got %d", rc);
    cr_assert_null(conf, "conf must be NULL after an error");
    cr_assert_not_null(err);
    cr_assert_eq(herald_error_class(err), HERALD_ERR_CONFIG);
    char *msg = what_and_fix(err);
    herald_error_free(err);
    return msg;
}

static void assert_prefix(const char *msg, const char *prefix)
{
    cr_assert_eq(strncmp(msg, prefix, strlen(prefix)), 0,
                 "message '%s' does not start with '%s'", msg, prefix);
}

static void assert_has(const char *msg, const char *part)
{
    cr_assert_not_null(strstr(msg, part), "message '%s' lacks '%s'", msg, part);
}

static void assert_lacks(const char *msg, const char *part)
{
    cr_assert_null(strstr(msg, part), "message '%s' contains '%s'", msg, part);
}

/* Check an error message's exact FILE:LINE: prefix and some content. */
static void expect_parse_error(const char *text, const char *prefix,
                               const char *part)
{
    char *msg = parse_err(text);
    assert_prefix(msg, prefix);
    if (part)
        assert_has(msg, part);
    free(msg);
}

static const struct hconf_section *section(const struct hconf *c,
                                           const char *name)
{
    for (size_t i = 0; i < c->n_sec; i++) {
        const struct hconf_section *s = &c->sec[i];
        if (name ? (s->name && strcmp(s->name, name) == 0) : !s->name)
            return s;
    }
    cr_assert_fail("no section %s", name ? name : "[herald]");
    return NULL;
}

/* The value of @key in channel @chan (NULL: [herald]); must exist. */
static const char *val(const struct hconf *c, const char *chan, const char *key)
{
    const struct hconf_kv *kv = hconf_find(section(c, chan), key);
    cr_assert_not_null(kv, "key %s missing", key);
    return kv->value;
}

/* Option tables: a core table and a driver table, as the context uses. */
static const herald_option core_opts[] = {
    { "driver", HERALD_OPT_STRING, HERALD_OPT_REQUIRED, NULL, NULL,
      "driver name", 0, 0 },
    { "from", HERALD_OPT_STRING, 0, NULL, NULL, "default sender", 0, 0 },
    { NULL, 0, 0, NULL, NULL, NULL, 0, 0 }
};
static const herald_option drv_opts[] = {
    { "host", HERALD_OPT_STRING, HERALD_OPT_REQUIRED, NULL, NULL,
      "SMTP server name", 0, 0 },
    { "port", HERALD_OPT_INT, 0, "587", NULL, "TCP port", 1, 65535 },
    { "retries", HERALD_OPT_INT, 0, NULL, NULL, "retry count", 0, 0 },
    { "password", HERALD_OPT_STRING, HERALD_OPT_SECRET, NULL, NULL,
      "SMTP password", 0, 0 },
    { "tls", HERALD_OPT_ENUM, 0, "starttls", "implicit|starttls|none",
      "TLS mode", 0, 0 },
    { "tls_verify", HERALD_OPT_BOOL, 0, "yes", NULL, "check certificates",
      0, 0 },
    { "timeout", HERALD_OPT_DURATION, 0, "30s", NULL, "I/O timeout",
      100, 600000 },
    { "interval", HERALD_OPT_DURATION, 0, NULL, NULL, "poll interval", 0, 0 },
    { "ca_file", HERALD_OPT_PATH, 0, NULL, NULL, "CA bundle", 0, 0 },
    { "pin", HERALD_OPT_INT, HERALD_OPT_SECRET, NULL, NULL, "numeric pin",
      0, 0 },
    { NULL, 0, 0, NULL, NULL, NULL, 0, 0 }
};
static const herald_option *const tables[] = { core_opts, drv_opts, NULL };
static const char *const skip[] = { "fallback", NULL };

/* Parse @text and resolve [channel alerts]; *msg_r gets the error text. */
static herald_class resolve(const char *text, struct hopts *o, char **msg_r)
{
    struct hconf *conf = parse_ok(text);
    herald_error *err = NULL;
    memset(o, 0xA5, sizeof *o);
    herald_class rc = hopts_resolve(conf, section(conf, "alerts"), tables,
                                    skip, o, &err);
    if (msg_r)
        *msg_r = err ? what_and_fix(err) : NULL;
    if (rc) {
        cr_assert_not_null(err);
        cr_assert_eq(herald_error_class(err), rc);
        cr_assert_null(o->v, "out must be empty after an error");
        cr_assert_eq(o->n, 0);
    } else {
        cr_assert_null(err);
    }
    herald_error_free(err);
    hconf_free(conf);
    return rc;
}

static void resolve_ok(const char *text, struct hopts *o)
{
    char *msg = NULL;
    herald_class rc = resolve(text, o, &msg);
    cr_assert_eq(rc, HERALD_OK, "resolve failed: %s", msg ? msg : "?");
    free(msg);
}

/* Resolve expecting a config error starting with @prefix; returns it. */
static char *resolve_err(const char *text, const char *prefix)
{
    struct hopts o;
    char *msg = NULL;
    herald_class rc = resolve(text, &o, &msg);
    cr_assert_eq(rc, HERALD_ERR_CONFIG, "expected a config error, got %d", rc);
    cr_assert_not_null(msg);
    assert_prefix(msg, prefix);
    return msg;
}

static void expect_resolve_error(const char *text, const char *prefix,
                                 const char *part)
{
    char *msg = resolve_err(text, prefix);
    if (part)
        assert_has(msg, part);
    free(msg);
}

static const struct hopt_value *opt(const struct hopts *o, const char *name)
{
    const struct hopt_value *v = hopts_find(o, name);
    cr_assert_not_null(v, "option %s missing", name);
    return v;
}

#define HEAD "[channel alerts]\ndriver = smtp\nhost = mx.example.com\n"

/* ---- the INI reader --------------------------------------------------- */

Test(config_parse, sections_keys_and_lines)
{
    struct hconf *c = parse_ok(
        "[herald]\n"
        "plugin_dir = /usr/lib/herald\n"
        "\n"
        "[channel alerts]\n"
        "driver=smtp\n"
        "  host   =   smtp.example.com   \n"
        "[channel alerts-api.v2_x]\n"
        "driver = mailgun\n");
    cr_assert_str_eq(c->file, "test.conf");
    cr_assert_eq(c->n_sec, 3);
    cr_assert_str_eq(c->sec[0].kind, "herald");
    cr_assert_null(c->sec[0].name);
    cr_assert_eq(c->sec[0].line, 1);
    cr_assert_str_eq(c->sec[1].kind, "channel");
    cr_assert_str_eq(c->sec[1].name, "alerts");
    cr_assert_eq(c->sec[1].line, 4);
    cr_assert_str_eq(c->sec[2].name, "alerts-api.v2_x");
    cr_assert_eq(c->sec[1].n_kv, 2);
    cr_assert_str_eq(val(c, "alerts", "driver"), "smtp");
    cr_assert_str_eq(val(c, "alerts", "host"), "smtp.example.com");
    cr_assert_eq(hconf_find(&c->sec[1], "host")->line, 6);
    cr_assert_str_eq(val(c, NULL, "plugin_dir"), "/usr/lib/herald");
    cr_assert_str_eq(val(c, "alerts-api.v2_x", "driver"), "mailgun");
    hconf_free(c);
}

Test(config_parse, file_name_defaults_to_string)
{
    struct hconf *c = NULL;
    cr_assert_eq(hconf_parse("[herald]\n", 9, NULL, &c, NULL), HERALD_OK);
    cr_assert_str_eq(c->file, "<string>");
    hconf_free(c);
    herald_error *err = NULL;
    cr_assert_eq(hconf_parse("junk\n", 5, NULL, &c, &err), HERALD_ERR_CONFIG);
    assert_prefix(herald_error_message(err), "<string>:1:");
    herald_error_free(err);
}

Test(config_parse, comment_lines_both_kinds)
{
    struct hconf *c = parse_ok(
        "; a comment\n"
        "# another one\n"
        "   ; indented\n"
        "\t# indented with a tab\n"
        "[herald]\n"
        "; key = not a key\n"
        "#key = not a key either\n"
        "real = 1\n");
    cr_assert_eq(c->n_sec, 1);
    cr_assert_eq(c->sec[0].n_kv, 1);
    cr_assert_str_eq(c->sec[0].kv[0].key, "real");
    cr_assert_eq(c->sec[0].kv[0].line, 8);
    hconf_free(c);
}

Test(config_parse, inline_comments_both_kinds)
{
    struct hconf *c = parse_ok(
        "[herald] ; the main section\n"
        "a = one ; a comment\n"
        "b = two\t# another\n"
        "c = ; only a comment, empty value\n"
        "[channel x] # comment after header\n"
        "d = four   ;\n");
    cr_assert_str_eq(val(c, NULL, "a"), "one");
    cr_assert_str_eq(val(c, NULL, "b"), "two");
    cr_assert_str_eq(val(c, NULL, "c"), "");
    cr_assert_str_eq(val(c, "x", "d"), "four");
    hconf_free(c);
}

Test(config_parse, comment_chars_without_blank_are_literal)
{
    struct hconf *c = parse_ok(
        "[herald]\n"
        "url = https://example.com/a#frag\n"
        "list = a;b;c\n"
        "q = \"x\";y\n");
    cr_assert_str_eq(val(c, NULL, "url"), "https://example.com/a#frag");
    cr_assert_str_eq(val(c, NULL, "list"), "a;b;c");
    /* Not a comment, so the quotes do not surround the whole value. */
    cr_assert_str_eq(val(c, NULL, "q"), "\"x\";y");
    hconf_free(c);
}

Test(config_parse, comment_chars_inside_quotes_kept)
{
    struct hconf *c = parse_ok(
        "[herald]\n"
        "a = \"x ; y # z\"   ; real comment\n"
        "from = \"Ops ; Alerts\" <bot@example.com> ; comment\n");
    cr_assert_str_eq(val(c, NULL, "a"), "x ; y # z");
    /* Quotes around part of the value are kept as written. */
    cr_assert_str_eq(val(c, NULL, "from"),
                     "\"Ops ; Alerts\" <bot@example.com>");
    hconf_free(c);
}

Test(config_parse, quotes_and_escapes)
{
    struct hconf *c = parse_ok(
        "[herald]\n"
        "a = \"  padded  \"\n"
        "b = \"say \\\"hi\\\"\"\n"
        "c = \"back\\\\slash\"\n"
        "d = \"C:\\dir\"\n"
        "e = \"\"\n"
        "f = plain \"inner\" text\n");
    cr_assert_str_eq(val(c, NULL, "a"), "  padded  ");
    cr_assert_str_eq(val(c, NULL, "b"), "say \"hi\"");
    cr_assert_str_eq(val(c, NULL, "c"), "back\\slash");
    cr_assert_str_eq(val(c, NULL, "d"), "C:\\dir");
    cr_assert_str_eq(val(c, NULL, "e"), "");
    cr_assert_str_eq(val(c, NULL, "f"), "plain \"inner\" text");
    hconf_free(c);
}

Test(config_parse, unterminated_quote_is_an_error)
{
    expect_parse_error("[herald]\n\na = \"open\n", "test.conf:3:",
                       "closing");
    expect_parse_error("[herald]\na = \"escaped at end\\\"\n", "test.conf:2:",
                       "'a'");
    expect_parse_error("[herald]\nb = x \"half ; open\n", "test.conf:2:",
                       "'b'");
}

Test(config_parse, empty_values_allowed)
{
    struct hconf *c = parse_ok("[herald]\na =\nb=\nc =    \n");
    cr_assert_str_eq(val(c, NULL, "a"), "");
    cr_assert_str_eq(val(c, NULL, "b"), "");
    cr_assert_str_eq(val(c, NULL, "c"), "");
    hconf_free(c);
}

Test(config_parse, crlf_line_endings)
{
    struct hconf *c = parse_ok("[herald]\r\na = one\r\n\r\nb = \"two\"\r\n"
                               "[channel x]\r\nc = three ; note\r\n");
    cr_assert_str_eq(val(c, NULL, "a"), "one");
    cr_assert_str_eq(val(c, NULL, "b"), "two");
    cr_assert_eq(hconf_find(section(c, NULL), "b")->line, 4);
    cr_assert_str_eq(val(c, "x", "c"), "three");
    cr_assert_eq(section(c, "x")->line, 5);
    hconf_free(c);
    expect_parse_error("[herald]\r\nok = 1\r\noops\r\n", "test.conf:3:", NULL);
}

Test(config_parse, utf8_bom_skipped)
{
    struct hconf *c = parse_ok("\xEF\xBB\xBF[herald]\nname = caf\xC3\xA9\n");
    cr_assert_eq(c->n_sec, 1);
    cr_assert_eq(c->sec[0].line, 1);
    cr_assert_str_eq(val(c, NULL, "name"), "caf\xC3\xA9");
    hconf_free(c);
}

Test(config_parse, last_line_without_newline)
{
    struct hconf *c = parse_ok("[herald]\na = 1\nb = 2");
    cr_assert_str_eq(val(c, NULL, "b"), "2");
    hconf_free(c);
}

Test(config_parse, long_value_100000_chars)
{
    size_t n = 100000;
    char *big = malloc(n + 1);
    memset(big, 'v', n);
    big[n] = '\0';
    char *text = tu_printf("[herald]\nbig = %s\nquoted = \"%s\"\nafter = x\n",
                           big, big);
    struct hconf *c = parse_ok(text);
    cr_assert_eq(strlen(val(c, NULL, "big")), n);
    cr_assert_str_eq(val(c, NULL, "big"), big);
    cr_assert_str_eq(val(c, NULL, "quoted"), big);
    cr_assert_eq(hconf_find(section(c, NULL), "after")->line, 4);
    hconf_free(c);
    free(text);
    free(big);
}

Test(config_parse, one_megabyte_value)
{
    size_t n = 1024 * 1024;
    char *text = malloc(n + 64);
    strcpy(text, "[herald]\nkey = ");
    size_t h = strlen(text);
    memset(text + h, 'k', n);
    strcpy(text + h + n, "\n");
    struct hconf *c = parse_ok(text);
    cr_assert_eq(strlen(val(c, NULL, "key")), n);
    hconf_free(c);
    free(text);
}

Test(config_parse, many_keys_and_sections)
{
    struct hbuf b = {0};
    for (int s = 0; s < 50; s++) {
        hbuf_printf(&b, "[channel c%d]\n", s);
        for (int k = 0; k < 40; k++)
            hbuf_printf(&b, "k%d = v%d_%d\n", k, s, k);
    }
    struct hconf *c = parse_ok(b.data);
    cr_assert_eq(c->n_sec, 50);
    cr_assert_eq(c->sec[49].n_kv, 40);
    cr_assert_str_eq(val(c, "c49", "k39"), "v49_39");
    cr_assert_str_eq(val(c, "c0", "k0"), "v0_0");
    hconf_free(c);
    hbuf_free(&b);
}

Test(config_parse, duplicate_channel)
{
    char *msg = parse_err("[channel alerts]\na = 1\n[herald]\n"
                          "[channel alerts]\nb = 2\n");
    assert_prefix(msg, "test.conf:4:");
    assert_has(msg, "[channel alerts]");
    assert_has(msg, "line 1");
    free(msg);
}

Test(config_parse, duplicate_herald)
{
    expect_parse_error("[herald]\n[channel a]\n[herald]\n", "test.conf:3:",
                       "line 1");
}

Test(config_parse, bad_headers_list_accepted_forms)
{
    static const char *const bad[] = {
        "[heralds]\n", "[Herald]\n", "[channel]\n", "[channel my alerts]\n",
        "[channel al/erts]\n", "[channelx]\n", "[]\n", "[server x]\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *text = tu_printf("[herald]\n%s", bad[i]);
        char *msg = parse_err(text);
        assert_prefix(msg, "test.conf:2:");
        assert_has(msg, "[herald]");
        assert_has(msg, "[channel NAME]");
        free(msg);
        free(text);
    }
}

Test(config_parse, header_syntax_errors)
{
    expect_parse_error("[herald\n", "test.conf:1:", "']'");
    expect_parse_error("\n[herald] extra\n", "test.conf:2:", "extra");
}

Test(config_parse, key_before_section)
{
    expect_parse_error("; header comment\nhost = x\n[herald]\n",
                       "test.conf:2:", "before any section");
}

Test(config_parse, line_without_equals)
{
    char *msg = parse_err("[herald]\na = 1\nhunter2secret\n");
    assert_prefix(msg, "test.conf:3:");
    assert_has(msg, "'='");
    /* The line itself may be a misplaced secret: never echoed. */
    assert_lacks(msg, "hunter2secret");
    free(msg);
}

Test(config_parse, duplicate_key_names_both_lines)
{
    char *msg = parse_err("[channel alerts]\nhost = a\n\nport = 1\n"
                          "host = b\n");
    assert_prefix(msg, "test.conf:5:");
    assert_has(msg, "'host'");
    assert_has(msg, "[channel alerts]");
    assert_has(msg, "lines 2 and 5");
    free(msg);
}

Test(config_parse, same_key_in_two_sections_is_fine)
{
    struct hconf *c = parse_ok("[channel a]\nhost = 1\n[channel b]\nhost = 2\n");
    cr_assert_str_eq(val(c, "a", "host"), "1");
    cr_assert_str_eq(val(c, "b", "host"), "2");
    hconf_free(c);
}

Test(config_parse, uppercase_key)
{
    char *msg = parse_err("[herald]\nPlugin_Dir = /x\n");
    assert_prefix(msg, "test.conf:2:");
    assert_has(msg, "lowercase");
    assert_has(msg, "'plugin_dir'");
    free(msg);
}

Test(config_parse, bad_key_characters)
{
    expect_parse_error("[herald]\nplugin-dir = /x\n", "test.conf:2:",
                       "'plugin-dir'");
    expect_parse_error("[herald]\n = value\n", "test.conf:2:", "missing key");
}

Test(config_parse, find_returns_entry_or_null)
{
    struct hconf *c = parse_ok("[herald]\na = 1\nb = 2\n");
    const struct hconf_kv *kv = hconf_find(&c->sec[0], "b");
    cr_assert_not_null(kv);
    cr_assert_str_eq(kv->value, "2");
    cr_assert_eq(kv->line, 3);
    cr_assert_null(hconf_find(&c->sec[0], "c"));
    cr_assert_null(hconf_find(NULL, "a"));
    hconf_free(c);
    hconf_free(NULL);
}

Test(config_parse, empty_text_has_no_sections)
{
    struct hconf *c = parse_ok("");
    cr_assert_eq(c->n_sec, 0);
    hconf_free(c);
    c = parse_ok("\xEF\xBB\xBF\n; only comments\n\n");
    cr_assert_eq(c->n_sec, 0);
    hconf_free(c);
}

/* ---- typed options ---------------------------------------------------- */

Test(config_opts, defaults_applied)
{
    struct hopts o;
    resolve_ok(HEAD, &o);
    cr_assert_eq(o.n, 12, "one value per option of every table");
    cr_assert_str_eq(o.v[0].opt->name, "driver", "core table first");
    cr_assert_str_eq(o.v[2].opt->name, "host");
    const struct hopt_value *port = opt(&o, "port");
    cr_assert_eq(port->set, 0);
    cr_assert_eq(port->line, 0);
    cr_assert_eq(port->num, 587);
    cr_assert_str_eq(port->str, "587");
    cr_assert_str_eq(opt(&o, "tls")->str, "starttls");
    cr_assert_eq(opt(&o, "tls_verify")->num, 1);
    cr_assert_str_eq(opt(&o, "tls_verify")->str, "yes");
    cr_assert_eq(opt(&o, "timeout")->num, 30000);
    cr_assert_null(opt(&o, "password")->str);
    cr_assert_eq(opt(&o, "password")->set, 0);
    cr_assert_null(opt(&o, "ca_file")->str);
    cr_assert_null(hopts_find(&o, "nope"));
    hopts_free(&o);
    cr_assert_null(o.v);
    hopts_free(&o);
}

Test(config_opts, values_applied_with_lines)
{
    struct hopts o;
    resolve_ok(HEAD "port = 465\ntls = implicit\nfrom = \"Ops\" <o@x.org>\n",
               &o);
    const struct hopt_value *port = opt(&o, "port");
    cr_assert_eq(port->set, 1);
    cr_assert_eq(port->line, 4);
    cr_assert_eq(port->num, 465);
    cr_assert_str_eq(opt(&o, "tls")->str, "implicit");
    cr_assert_eq(opt(&o, "host")->line, 3);
    cr_assert_str_eq(opt(&o, "host")->str, "mx.example.com");
    cr_assert_str_eq(opt(&o, "from")->str, "\"Ops\" <o@x.org>");
    cr_assert_str_eq(opt(&o, "driver")->str, "smtp");
    hopts_free(&o);
}

Test(config_opts, skip_keys_ignored)
{
    struct hopts o;
    resolve_ok(HEAD "fallback = other\n", &o);
    cr_assert_null(hopts_find(&o, "fallback"));
    hopts_free(&o);
}

Test(config_opts, int_good_values)
{
    struct hopts o;
    resolve_ok(HEAD "port = +25\nretries = -3\n", &o);
    cr_assert_eq(opt(&o, "port")->num, 25);
    cr_assert_str_eq(opt(&o, "port")->str, "+25", "text as written");
    cr_assert_eq(opt(&o, "retries")->num, -3);
    hopts_free(&o);
    resolve_ok(HEAD "port = 65535\nretries = 9223372036854775807\n", &o);
    cr_assert_eq(opt(&o, "port")->num, 65535);
    cr_assert_eq(opt(&o, "retries")->num, 9223372036854775807LL);
    hopts_free(&o);
}

Test(config_opts, int_not_a_number)
{
    static const char *const bad[] = { "58x7", "abc", "", "5 5", "0x10",
                                       "+", "1.5" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *text = tu_printf(HEAD "port = \"%s\"\n", bad[i]);
        char *msg = resolve_err(text, "test.conf:4:");
        assert_has(msg, "port");
        assert_has(msg, "whole number");
        free(msg);
        free(text);
    }
}

Test(config_opts, int_range_error_states_range)
{
    char *msg = resolve_err(HEAD "\nport = 70000\n", "test.conf:5:");
    assert_has(msg, "'70000'");
    assert_has(msg, "[channel alerts]");
    assert_has(msg, "from 1 to 65535");
    free(msg);
    expect_resolve_error(HEAD "port = 0\n", "test.conf:4:", "from 1 to 65535");
}

Test(config_opts, int_overflow)
{
    expect_resolve_error(HEAD "retries = 9223372036854775808\n",
                         "test.conf:4:", "64 bits");
}

Test(config_opts, bool_values)
{
    static const char *const yes[] = { "yes", "TRUE", "On", "1" };
    static const char *const no[] = { "NO", "false", "off", "0" };
    for (int i = 0; i < 4; i++) {
        struct hopts o;
        char *t1 = tu_printf(HEAD "tls_verify = %s\n", yes[i]);
        resolve_ok(t1, &o);
        cr_assert_eq(opt(&o, "tls_verify")->num, 1, "%s", yes[i]);
        cr_assert_str_eq(opt(&o, "tls_verify")->str, "yes");
        hopts_free(&o);
        char *t2 = tu_printf(HEAD "tls_verify = %s\n", no[i]);
        resolve_ok(t2, &o);
        cr_assert_eq(opt(&o, "tls_verify")->num, 0, "%s", no[i]);
        cr_assert_str_eq(opt(&o, "tls_verify")->str, "no");
        hopts_free(&o);
        free(t1);
        free(t2);
    }
}

Test(config_opts, bool_bad)
{
    char *msg = resolve_err(HEAD "tls_verify = maybe\n", "test.conf:4:");
    assert_has(msg, "'maybe'");
    assert_has(msg, "yes, no");
    free(msg);
}

Test(config_opts, enum_good_and_bad)
{
    struct hopts o;
    resolve_ok(HEAD "tls = none\n", &o);
    cr_assert_str_eq(opt(&o, "tls")->str, "none");
    hopts_free(&o);
    char *msg = resolve_err(HEAD "tls = ssl\n", "test.conf:4:");
    assert_has(msg, "'ssl'");
    assert_has(msg, "implicit, starttls, none");
    free(msg);
    expect_resolve_error(HEAD "tls = STARTTLS\n", "test.conf:4:",
                         "implicit, starttls, none");
}

Test(config_opts, duration_units)
{
    static const struct { const char *text; long long ms; } cases[] = {
        { "30", 30000 }, { "30s", 30000 }, { "500ms", 500 },
        { "2m", 120000 }, { "1h", 3600000 }, { "0", 0 }, { "48h", 172800000 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct hopts o;
        char *text = tu_printf(HEAD "interval = %s\n", cases[i].text);
        resolve_ok(text, &o);
        const struct hopt_value *v = opt(&o, "interval");
        cr_assert_eq(v->num, cases[i].ms, "%s", cases[i].text);
        cr_assert_str_eq(v->str, cases[i].text, "text as written");
        cr_assert_eq(v->set, 1);
        hopts_free(&o);
        free(text);
    }
}

Test(config_opts, duration_bad_and_range)
{
    static const char *const bad[] = { "5x", "ms", "-5s", "1.5s", "5 s",
                                       "10d", "" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *text = tu_printf(HEAD "interval = \"%s\"\n", bad[i]);
        char *msg = resolve_err(text, "test.conf:4:");
        assert_has(msg, "not a duration");
        assert_has(msg, "500ms");
        free(msg);
        free(text);
    }
    char *msg = resolve_err(HEAD "timeout = 2h\n", "test.conf:4:");
    assert_has(msg, "from 100ms to 10m");
    free(msg);
    expect_resolve_error(HEAD "timeout = 50ms\n", "test.conf:4:",
                         "out of range");
    expect_resolve_error(HEAD "interval = 9999999999999999h\n",
                         "test.conf:4:", "too long");
    struct hopts o;
    resolve_ok(HEAD "timeout = 10m\n", &o);
    cr_assert_eq(opt(&o, "timeout")->num, 600000);
    hopts_free(&o);
}

Test(config_opts, path_must_not_be_empty)
{
    struct hopts o;
    resolve_ok(HEAD "ca_file = /etc/ssl/ca.pem\n", &o);
    cr_assert_str_eq(opt(&o, "ca_file")->str, "/etc/ssl/ca.pem");
    hopts_free(&o);
    expect_resolve_error(HEAD "ca_file =\n", "test.conf:4:", "empty");
}

Test(config_opts, unknown_key_with_suggestion)
{
    char *msg = resolve_err(HEAD "passwrd = x\n", "test.conf:4:");
    cr_assert_str_eq(msg, "test.conf:4: unknown key 'passwrd' in [channel "
                     "alerts]\n  fix: did you mean 'password'?");
    free(msg);
    msg = resolve_err(HEAD "\npasword_file = /x\n", "test.conf:5:");
    assert_has(msg, "did you mean 'password_file'?");
    free(msg);
    expect_resolve_error(HEAD "passwd = x\n", "test.conf:4:",
                         "did you mean 'password'?");
    expect_resolve_error(HEAD "hots = x\n", "test.conf:4:",
                         "did you mean 'host'?");
    expect_resolve_error(HEAD "fallbak = b\n", "test.conf:4:",
                         "did you mean 'fallback'?");
}

Test(config_opts, unknown_key_lists_valid_keys)
{
    char *msg = resolve_err(HEAD "colour = blue\n", "test.conf:4:");
    assert_has(msg, "unknown key 'colour' in [channel alerts]");
    assert_lacks(msg, "did you mean");
    assert_has(msg, "driver, from, host, port, retries, password, "
               "password_env, password_file, tls");
    assert_has(msg, "fallback");
    free(msg);
}

Test(config_opts, env_file_forms_only_for_secrets)
{
    char *msg = resolve_err(HEAD "port_env = PORT\n", "test.conf:4:");
    assert_has(msg, "'port' is not a secret");
    free(msg);
}

Test(config_opts, missing_required_names_section_line)
{
    char *msg = NULL;
    struct hopts o;
    herald_class rc = resolve("[herald]\n\n[channel alerts]\ndriver = smtp\n",
                              &o, &msg);
    cr_assert_eq(rc, HERALD_ERR_CONFIG);
    cr_assert_str_eq(msg, "test.conf:3: [channel alerts] needs 'host' (SMTP "
                     "server name)\n  fix: add host = ...");
    free(msg);
}

Test(config_opts, missing_required_secret_mentions_forms)
{
    static const herald_option sec_opts[] = {
        { "api_key", HERALD_OPT_STRING,
          HERALD_OPT_SECRET | HERALD_OPT_REQUIRED, NULL, NULL, "API key", 0, 0 },
        { NULL, 0, 0, NULL, NULL, NULL, 0, 0 }
    };
    const herald_option *const t[] = { sec_opts, NULL };
    struct hconf *c = parse_ok("[herald]\n[channel mg]\n");
    struct hopts o;
    herald_error *err = NULL;
    cr_assert_eq(hopts_resolve(c, section(c, "mg"), t, NULL, &o, &err),
                 HERALD_ERR_CONFIG);
    const char *msg = herald_error_message(err);
    assert_prefix(msg, "test.conf:2: [channel mg] needs 'api_key' (API key)");
    assert_has(herald_error_fix(err), "api_key_env");
    assert_has(herald_error_fix(err), "api_key_file");
    herald_error_free(err);
    hconf_free(c);
}

Test(config_opts, herald_section_label)
{
    static const herald_option h_opts[] = {
        { "plugin_dir", HERALD_OPT_PATH, 0, NULL, NULL, "drivers", 0, 0 },
        { NULL, 0, 0, NULL, NULL, NULL, 0, 0 }
    };
    const herald_option *const t[] = { h_opts, NULL };
    struct hconf *c = parse_ok("[herald]\nplugin_dri = /x\n");
    struct hopts o;
    herald_error *err = NULL;
    cr_assert_eq(hopts_resolve(c, section(c, NULL), t, NULL, &o, &err),
                 HERALD_ERR_CONFIG);
    cr_assert_str_eq(herald_error_message(err), "test.conf:2: unknown key "
                     "'plugin_dri' in [herald]");
    cr_assert_str_eq(herald_error_fix(err), "did you mean 'plugin_dir'?");
    herald_error_free(err);
    hconf_free(c);
}

Test(config_opts, secret_direct)
{
    struct hopts o;
    resolve_ok(HEAD "password = \"s3cr;t #x\"\n", &o);
    const struct hopt_value *v = opt(&o, "password");
    cr_assert_str_eq(v->str, "s3cr;t #x");
    cr_assert_eq(v->set, 1);
    cr_assert_eq(v->line, 4);
    hopts_free(&o);
}

Test(config_opts, secret_from_env)
{
    setenv("HERALD_TEST_PW", "from-the-env", 1);
    struct hopts o;
    resolve_ok(HEAD "password_env = HERALD_TEST_PW\n", &o);
    const struct hopt_value *v = opt(&o, "password");
    cr_assert_str_eq(v->str, "from-the-env");
    cr_assert_eq(v->set, 1);
    cr_assert_eq(v->line, 4);
    hopts_free(&o);
}

Test(config_opts, secret_env_unset_or_empty)
{
    unsetenv("HERALD_TEST_NOPE");
    char *msg = resolve_err(HEAD "password_env = HERALD_TEST_NOPE\n",
                            "test.conf:4:");
    assert_has(msg, "'HERALD_TEST_NOPE'");
    assert_has(msg, "password_env");
    assert_has(msg, "not set");
    free(msg);
    setenv("HERALD_TEST_EMPTY", "", 1);
    expect_resolve_error(HEAD "password_env = HERALD_TEST_EMPTY\n",
                         "test.conf:4:", "empty");
    expect_resolve_error(HEAD "password_env =\n", "test.conf:4:", "empty");
}

Test(config_opts, secret_from_file_strips_one_newline)
{
    char *dir = tu_mkdtemp();
    char *lf = tu_write_file(dir, "lf", "file-secret\n");
    char *crlf = tu_write_file(dir, "crlf", "crlf-secret\r\n");
    char *two = tu_write_file(dir, "two", "two-lines\n\n");
    struct hopts o;
    char *text = tu_printf(HEAD "password_file = %s\n", lf);
    resolve_ok(text, &o);
    cr_assert_str_eq(opt(&o, "password")->str, "file-secret");
    cr_assert_eq(opt(&o, "password")->line, 4);
    hopts_free(&o);
    free(text);
    text = tu_printf(HEAD "password_file = %s\n", crlf);
    resolve_ok(text, &o);
    cr_assert_str_eq(opt(&o, "password")->str, "crlf-secret");
    hopts_free(&o);
    free(text);
    /* A second newline is not stripped: it is an error (see
     * secret_file_with_line_break_or_nul). */
    text = tu_printf(HEAD "password_file = %s\n", two);
    expect_resolve_error(text, "test.conf:4:", "more than one line");
    free(text);
    tu_rmrf(dir);
    free(lf);
    free(crlf);
    free(two);
    free(dir);
}

/* Found by fuzz/fuzz_config: a CR (or another control character) inside a
 * value used to be kept, and reached SMTP commands and HTTP headers. */
Test(config_parse, control_character_in_value_is_an_error)
{
    expect_parse_error("[channel x]\nhost = smtp\r.example.com\n",
                       "test.conf:2:", "'host' contains a carriage return");
    /* A doubled CR before LF: only the line ending's CR is stripped. */
    char *msg = parse_err("[herald]\r\nplugin_dir = /x\r\r\n");
    assert_prefix(msg, "test.conf:2:");
    assert_has(msg, "carriage return");
    assert_has(msg, "line endings");
    free(msg);
    expect_parse_error("[herald]\na = 1\nb = x\033[31my\n", "test.conf:3:",
                       "'b' contains the control character 0x1B");
    expect_parse_error("[herald]\nc = \"quoted\x7f\"\n", "test.conf:2:",
                       "0x7F");
    /* The secret itself is never echoed. */
    msg = parse_err("[channel x]\npassword = hunter2\rhunter3\n");
    assert_lacks(msg, "hunter");
    free(msg);
    /* TAB stays allowed. */
    struct hconf *c = parse_ok("[herald]\na = x\ty\n;\tnote\n");
    cr_assert_str_eq(val(c, NULL, "a"), "x\ty");
    hconf_free(c);
}

/* Found by fuzz/fuzz_config: a secret from X_file or X_env could hold a
 * line break (or, from a file, be cut short at a NUL byte). */
Test(config_opts, secret_file_with_line_break_or_nul)
{
    char *dir = tu_mkdtemp();
    char *mid = tu_write_file(dir, "mid", "first-line\nsecond-line\n");
    char *cr = tu_write_file(dir, "cr", "abc\rdef");
    char *nul = tu_printf("%s/nul", dir);
    FILE *f = fopen(nul, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite("pa\0ss-tail\n", 1, 11, f), 11);
    fclose(f);
    const char *files[] = { mid, cr, nul };
    const char *why[] = { "more than one line", "more than one line",
                          "contains a NUL byte" };
    for (size_t i = 0; i < 3; i++) {
        char *text = tu_printf(HEAD "password_file = %s\n", files[i]);
        char *msg = resolve_err(text, "test.conf:4:");
        assert_has(msg, why[i]);
        assert_has(msg, files[i]);
        assert_lacks(msg, "first-line");
        assert_lacks(msg, "abc");
        assert_lacks(msg, "ss-tail");
        free(msg);
        free(text);
    }
    tu_rmrf(dir);
    free(mid);
    free(cr);
    free(nul);
    free(dir);
}

Test(config_opts, secret_env_with_line_break)
{
    setenv("HERALD_TEST_NL", "env-secret\n", 1);
    char *msg = resolve_err(HEAD "password_env = HERALD_TEST_NL\n",
                            "test.conf:4:");
    assert_has(msg, "'HERALD_TEST_NL'");
    assert_has(msg, "line break");
    assert_lacks(msg, "env-secret");
    free(msg);
    setenv("HERALD_TEST_NL", "a\rb", 1);
    expect_resolve_error(HEAD "pin_env = HERALD_TEST_NL\n", "test.conf:4:",
                         "line break");
}

Test(config_opts, secret_file_missing_names_path)
{
    char *msg = resolve_err(HEAD "password_file = /nonexistent/herald/pw\n",
                            "test.conf:4:");
    assert_has(msg, "password_file in [channel alerts]: "
               "/nonexistent/herald/pw: cannot open: No such file or "
               "directory\n  fix: check the path");
    free(msg);
}

Test(config_opts, two_secret_sources)
{
    setenv("HERALD_TEST_PW", "env-value-123", 1);
    char *msg = resolve_err(HEAD "password = direct-value-123\n"
                            "password_env = HERALD_TEST_PW\n", "test.conf:5:");
    assert_has(msg, "line 4");
    assert_has(msg, "line 5");
    assert_has(msg, "keep only one");
    assert_lacks(msg, "direct-value-123");
    assert_lacks(msg, "env-value-123");
    free(msg);
}

Test(config_opts, secret_never_in_error_text)
{
    const char *secret = "Tr0ub4dor&3-very-secret";
    setenv("HERALD_TEST_SECRET", secret, 1);
    char *dir = tu_mkdtemp();
    char *file = tu_write_file(dir, "pw", "Tr0ub4dor&3-very-secret\n");
    char *texts[] = {
        /* a wrongly-typed neighbour after the secret */
        tu_printf(HEAD "password = %s\nport = 99999\n", secret),
        tu_printf(HEAD "password_env = HERALD_TEST_SECRET\nport = bad\n"),
        /* duplicate sources, each way round */
        tu_printf(HEAD "password = %s\npassword_file = %s\n", secret, file),
        tu_printf(HEAD "password_file = %s\npassword = %s\n", file, secret),
        /* a secret of the wrong type, from each source */
        tu_printf(HEAD "pin = %s\n", secret),
        tu_printf(HEAD "pin_env = HERALD_TEST_SECRET\n"),
        tu_printf(HEAD "pin_file = %s\n", file),
        /* a misspelt secret key */
        tu_printf(HEAD "pasword = %s\n", secret),
        /* a missing required option after a secret */
        tu_printf("[channel alerts]\ndriver = x\npassword = %s\n", secret),
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        struct hopts o;
        char *msg = NULL;
        herald_class rc = resolve(texts[i], &o, &msg);
        cr_assert_eq(rc, HERALD_ERR_CONFIG, "case %zu should fail", i);
        assert_prefix(msg, "test.conf:");
        assert_lacks(msg, "Tr0ub4dor");
        free(msg);
        free(texts[i]);
    }
    /* The typed-secret error still says what is wrong. */
    char *msg = resolve_err(HEAD "pin = 12a\n", "test.conf:4:");
    assert_has(msg, "'pin'");
    assert_has(msg, "secret");
    assert_has(msg, "whole number");
    assert_lacks(msg, "12a");
    free(msg);
    tu_rmrf(dir);
    free(file);
    free(dir);
}

Test(config_opts, secret_int_from_env)
{
    setenv("HERALD_TEST_PIN", "4711", 1);
    struct hopts o;
    resolve_ok(HEAD "pin_env = HERALD_TEST_PIN\n", &o);
    cr_assert_eq(opt(&o, "pin")->num, 4711);
    cr_assert_str_eq(opt(&o, "pin")->str, "4711");
    hopts_free(&o);
}

Test(config_opts, bad_default_is_reported)
{
    static const herald_option bad_opts[] = {
        { "retries", HERALD_OPT_INT, 0, "many", NULL, "count", 0, 0 },
        { NULL, 0, 0, NULL, NULL, NULL, 0, 0 }
    };
    const herald_option *const t[] = { bad_opts, NULL };
    struct hconf *c = parse_ok("[herald]\n[channel x]\n");
    struct hopts o;
    herald_error *err = NULL;
    cr_assert_eq(hopts_resolve(c, section(c, "x"), t, NULL, &o, &err),
                 HERALD_ERR_CONFIG);
    assert_prefix(herald_error_message(err), "test.conf:2:");
    assert_has(herald_error_message(err), "default");
    herald_error_free(err);
    hconf_free(c);
}

Test(config_opts, quoted_default_follows_config_rules)
{
    static const herald_option q_opts[] = {
        { "greeting", HERALD_OPT_STRING, 0, "\"hello ; world\"", NULL, "", 0, 0 },
        { "mode", HERALD_OPT_BOOL, 0, "Off", NULL, "", 0, 0 },
        { NULL, 0, 0, NULL, NULL, NULL, 0, 0 }
    };
    const herald_option *const t[] = { q_opts, NULL };
    struct hconf *c = parse_ok("[channel x]\n");
    struct hopts o;
    cr_assert_eq(hopts_resolve(c, section(c, "x"), t, NULL, &o, NULL),
                 HERALD_OK);
    cr_assert_str_eq(opt(&o, "greeting")->str, "hello ; world");
    cr_assert_str_eq(opt(&o, "mode")->str, "no");
    cr_assert_eq(opt(&o, "mode")->set, 0);
    hopts_free(&o);
    hconf_free(c);
}

/* ---- hardening: whole-file text, empty and unreadable secrets -------- */

/* Parse @len bytes (NULs included). */
static char *parse_err_n(const char *text, size_t len)
{
    struct hconf *conf = NULL;
    herald_error *err = NULL;
    cr_assert_eq(hconf_parse(text, len, "test.conf", &conf, &err),
                 HERALD_ERR_CONFIG);
    cr_assert_null(conf);
    char *msg = what_and_fix(err);
    herald_error_free(err);
    return msg;
}

/* A NUL used to end the text: the channels after it vanished silently. */
Test(config_parse, nul_byte_is_an_error_naming_the_line)
{
    static const char text[] = "[channel a]\ndriver = x\n\n; more\0"
                               "\n[channel b]\ndriver = y\n";
    char *msg = parse_err_n(text, sizeof text - 1);
    assert_prefix(msg, "test.conf:4:");
    assert_has(msg, "NUL byte at column 7");
    free(msg);
    static const char in_value[] = "[herald]\nlog_level = in\0fo\n";
    msg = parse_err_n(in_value, sizeof in_value - 1);
    assert_prefix(msg, "test.conf:2:");
    assert_has(msg, "the value of 'log_level' contains a NUL byte");
    free(msg);
    /* The same text without the NUL parses, both channels present. */
    struct hconf *c = parse_ok("[channel a]\ndriver = x\n\n; more\n"
                               "[channel b]\ndriver = y\n");
    cr_assert_eq(c->n_sec, 2);
    hconf_free(c);
}

Test(config_parse, control_byte_anywhere_is_an_error)
{
    /* In a comment, a section header, a key, after a value. */
    expect_parse_error("[herald]\n; note \001 here\n", "test.conf:2:",
                       "the line contains the control character 0x01 at "
                       "column 8");
    expect_parse_error("[herald]\n\n[channel \033x]\n", "test.conf:3:",
                       "0x1B");
    expect_parse_error("[herald]\nlog\010_level = info\n", "test.conf:2:",
                       "the line contains the control character 0x08");
    expect_parse_error("[herald]\n# a\rb\n", "test.conf:2:",
                       "carriage return (\\r) at column 4");
    expect_parse_error("[herald]\n;\x7f\n", "test.conf:2:", "0x7F");
    expect_parse_error("\xEF\xBB\xBF\f[herald]\n", "test.conf:1:", "0x0C");
}

Test(config_parse, crlf_and_final_cr_stay_accepted)
{
    struct hconf *c = parse_ok("; comment\r\n[herald]\r\na = 1\r\n"
                               "[channel x]\r\nb = \"two\"\r");
    cr_assert_str_eq(val(c, NULL, "a"), "1");
    cr_assert_str_eq(val(c, "x", "b"), "two");
    hconf_free(c);
}

static char *secret_file(const char *dir, const char *name,
                         const char *content, mode_t mode)
{
    char *path = tu_write_file(dir, name, content);
    cr_assert_eq(chmod(path, mode), 0);
    return path;
}

/* Empty secrets used to be accepted and sent as empty credentials. */
Test(config_opts, empty_secret_is_refused_naming_the_option)
{
    expect_resolve_error(HEAD "password =\n", "test.conf:4:",
                         "password in [channel alerts] is empty");
    expect_resolve_error(HEAD "password = \"\"\n", "test.conf:4:",
                         "password in [channel alerts] is empty");
    expect_resolve_error(HEAD "pin = \n", "test.conf:4:", "pin in");
    char *dir = tu_mkdtemp();
    const char *contents[] = { "", "\n", "\r\n" };
    for (size_t i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "empty%zu", i);
        char *path = secret_file(dir, name, contents[i], 0600);
        char *text = tu_printf(HEAD "password_file = %s\n", path);
        char *msg = resolve_err(text, "test.conf:4:");
        assert_has(msg, path);
        assert_has(msg, "is empty");
        assert_has(msg, "'password'");
        free(msg);
        free(text);
        free(path);
    }
    /* A non-secret may still be empty. */
    struct hopts o;
    resolve_ok(HEAD "from =\n", &o);
    hopts_free(&o);
    tu_rmrf(dir);
    free(dir);
}

/* The file kinds hb_read_file refuses, through X_file.  A FIFO used to
 * block forever and /dev/zero to fill memory: the suite timeout catches
 * both. */
Test(config_opts, secret_file_must_be_a_small_regular_file, .timeout = 20)
{
    char *dir = tu_mkdtemp();
    char *fifo = tu_printf("%s/fifo", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    char *big = tu_printf("%s/big", dir);
    FILE *f = fopen(big, "w");
    cr_assert(f);
    for (int i = 0; i < 65537; i++)
        fputc('k', f);
    fclose(f);
    cr_assert_eq(chmod(big, 0600), 0);
    struct { const char *path, *why; } cases[] = {
        { fifo, "is a FIFO, not a regular file" },
        { "/dev/zero", "is a character device, not a regular file" },
        { dir, "is a directory, not a regular file" },
        { big, "is 65537 bytes, larger than the secret size limit "
               "(65536 bytes)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *text = tu_printf(HEAD "password_file = %s\n", cases[i].path);
        char *msg = resolve_err(text, "test.conf:4:");
        assert_has(msg, "cannot read password_file in [channel alerts]");
        assert_has(msg, cases[i].path);
        assert_has(msg, cases[i].why);
        assert_lacks(msg, "kkkk");
        free(msg);
        free(text);
    }
    /* Exactly the limit (the secret is one long line) is fine. */
    cr_assert_eq(truncate(big, 65536), 0);
    char *text = tu_printf(HEAD "password_file = %s\n", big);
    struct hopts o;
    resolve_ok(text, &o);
    cr_assert_eq(strlen(opt(&o, "password")->str), 65536);
    cr_assert_eq(o.n_warnings, 0);
    hopts_free(&o);
    free(text);
    tu_rmrf(dir);
    free(fifo);
    free(big);
    free(dir);
}

Test(config_opts, readable_secret_file_gives_a_warning)
{
    char *dir = tu_mkdtemp();
    static const struct { mode_t mode; const char *who; } cases[] = {
        { 0644, "readable by its group and by others (mode 0644)" },
        { 0640, "readable by its group (mode 0640)" },
        { 0604, "readable by others (mode 0604)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char name[16];
        snprintf(name, sizeof name, "pw%zu", i);
        char *path = secret_file(dir, name, "warned-secret\n", cases[i].mode);
        char *text = tu_printf(HEAD "password_file = %s\n", path);
        struct hopts o;
        resolve_ok(text, &o);
        cr_assert_str_eq(opt(&o, "password")->str, "warned-secret");
        cr_assert_eq(o.n_warnings, 1);
        const char *w = o.warnings[0];
        assert_prefix(w, "test.conf:4: secret file '");
        assert_has(w, path);
        assert_has(w, "(password_file in [channel alerts])");
        assert_has(w, cases[i].who);
        char *fix = tu_printf("run chmod 600 '%s'", path);
        assert_has(w, fix);
        assert_lacks(w, "warned-secret");
        free(fix);
        hopts_free(&o);
        free(text);
        free(path);
    }
    char *path = secret_file(dir, "private", "quiet-secret\n", 0600);
    char *text = tu_printf(HEAD "password_file = %s\n", path);
    struct hopts o;
    resolve_ok(text, &o);
    cr_assert_eq(o.n_warnings, 0);
    cr_assert_null(o.warnings);
    hopts_free(&o);
    free(text);
    free(path);
    tu_rmrf(dir);
    free(dir);
}
