/* tests/plugins/mailgun/test_mailgun.c - the mailgun driver against the provider test
 * server: the multipart form it sends, Basic auth, regions, errors. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_testutil.h"

static struct ht h;

static void setup(void)
{
    ht_start(&h);
    ht_open(&h, "mailgun", "api_key = key-test\ndomain = mg.example.com");
}

static void teardown(void)
{
    ht_stop(&h);
}

TestSuite(mailgun, .init = setup, .fini = teardown, .timeout = 30);

/* ---- a small multipart/form-data reader for the recorded body ---------- */

struct part {
    char *name, *filename, *type;
    char *data;
    size_t len;
};

struct form {
    struct part p[64];
    size_t n;
    char *body;
};

static char *param(const char *head, const char *key)
{
    char *pat = tu_printf("%s=\"", key);
    const char *s = strstr(head, pat);
    char *v = NULL;
    if (s) {
        s += strlen(pat);
        v = strndup(s, strcspn(s, "\""));
    }
    free(pat);
    return v;
}

static void parse_form(json_t *rec, struct form *f)
{
    const char *ct = ht_header(rec, "content-type");
    cr_assert(ct && strncmp(ct, "multipart/form-data;", 20) == 0, "content-type %s", ct);
    const char *b = strstr(ct, "boundary=");
    cr_assert(b);
    char *delim = tu_printf("\r\n--%s", b + 9);
    size_t dl = strlen(delim), len;
    char *raw = ht_body(rec, &len);
    /* Prepend CRLF so every delimiter looks alike. */
    f->body = malloc(len + 3);
    memcpy(f->body, "\r\n", 2);
    memcpy(f->body + 2, raw, len + 1);
    len += 2;
    free(raw);
    memset(f->p, 0, sizeof f->p);
    f->n = 0;
    char *end = f->body + len;
    char *cur = memmem(f->body, len, delim, dl);
    cr_assert(cur, "no boundary in the body");
    while (cur && cur + dl + 2 <= end && strncmp(cur + dl, "--", 2) != 0) {
        char *head = cur + dl + 2;  /* after the CRLF */
        char *sep = memmem(head, (size_t)(end - head), "\r\n\r\n", 4);
        cr_assert(sep);
        *sep = '\0';
        char *data = sep + 4;
        char *next = memmem(data, (size_t)(end - data), delim, dl);
        cr_assert(next, "unterminated part");
        cr_assert_lt(f->n, 64);
        struct part *p = &f->p[f->n++];
        p->name = param(head, "name");
        p->filename = param(head, "filename");
        const char *t = strcasestr(head, "Content-Type: ");
        p->type = t ? strndup(t + 14, strcspn(t + 14, "\r\n")) : NULL;
        p->data = data;
        p->len = (size_t)(next - data);
        cur = next;
    }
    free(delim);
}

static void free_form(struct form *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->p[i].name);
        free(f->p[i].filename);
        free(f->p[i].type);
    }
    free(f->body);
}

/* The @nth field called @name as a string (NULL when absent). */
static char *field(struct form *f, const char *name, int nth)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->p[i].name && strcmp(f->p[i].name, name) == 0 && nth-- == 0)
            return strndup(f->p[i].data, f->p[i].len);
    return NULL;
}

static int count(struct form *f, const char *name)
{
    int n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += f->p[i].name && strcmp(f->p[i].name, name) == 0;
    return n;
}

static void assert_field(struct form *f, const char *name, int nth, const char *want)
{
    char *v = field(f, name, nth);
    cr_assert(v, "no field %s #%d", name, nth);
    cr_assert_str_eq(v, want, "field %s #%d", name, nth);
    free(v);
}

Test(mailgun, maps_every_field_to_the_form)
{
    herald_msg *m = ht_full_message();
    char *id = NULL;
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, &id, &err), HERALD_OK, "%s", herald_error_message(err));
    cr_assert(id && id[0] == '<' && ht_has(id, "@mg.example.com>"), "id %s", id);

    json_t *rec = ht_last(&h);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "verdict")), "ok");
    cr_assert_str_eq(json_string_value(json_object_get(rec, "path")),
                     "/v3/mg.example.com/messages");
    /* base64("api:key-test") */
    cr_assert_str_eq(ht_header(rec, "authorization"), "Basic YXBpOmtleS10ZXN0");

    struct form f;
    parse_form(rec, &f);
    assert_field(&f, "from", 0, HT_FROM_NAME " <" HT_FROM_ADDR ">");
    cr_assert_eq(count(&f, "to"), 2);
    assert_field(&f, "to", 0, "Ops Team <ops@example.com>");
    assert_field(&f, "to", 1, "Zoë Ünal <zoe@example.com>");
    assert_field(&f, "cc", 0, "Carol <carol@example.com>");
    assert_field(&f, "bcc", 0, "dave@example.com");
    assert_field(&f, "subject", 0, HT_SUBJECT);
    assert_field(&f, "text", 0, HT_TEXT);
    assert_field(&f, "html", 0, HT_HTML);
    assert_field(&f, "h:Reply-To", 0, "\"Support, Team\" <support@example.com>");
    assert_field(&f, "h:X-Ticket", 0, "T-1234");
    cr_assert_eq(count(&f, "o:tag"), 2);
    assert_field(&f, "o:tag", 0, "billing");
    assert_field(&f, "o:tag", 1, "alerts");
    assert_field(&f, "v:order_id", 0, "42");
    assert_field(&f, "v:customer", 0, "acme");

    cr_assert_eq(count(&f, "attachment"), 2);
    int seen = 0;
    for (size_t i = 0; i < f.n; i++) {
        struct part *p = &f.p[i];
        if (strcmp(p->name, "attachment") != 0)
            continue;
        if (strcmp(p->filename, "data.bin") == 0) {
            cr_assert_str_eq(p->type, "application/octet-stream");
            cr_assert_eq(p->len, HT_BIN_LEN);
            cr_assert_eq(memcmp(p->data, ht_bin(), HT_BIN_LEN), 0, "data.bin differs");
            seen |= 1;
        } else {
            cr_assert_str_eq(p->filename, "report.csv");
            cr_assert_str_eq(p->type, "text/csv");
            cr_assert_eq(p->len, strlen(HT_CSV));
            cr_assert_eq(memcmp(p->data, HT_CSV, p->len), 0);
            seen |= 2;
        }
    }
    cr_assert_eq(seen, 3);
    free_form(&f);
    json_decref(rec);
    free(id);
    herald_msg_free(m);
}

Test(mailgun, wrong_key_is_auth_with_a_region_hint)
{
    ht_open(&h, "mailgun", "api_key = key-wrong\ndomain = mg.example.com");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_AUTH);
    cr_assert_str_eq(herald_error_code(err), "401");
    cr_assert_str_eq(herald_error_provider_text(err), "Forbidden");
    cr_assert(ht_has(herald_error_fix(err), "region"), "%s", herald_error_message(err));
    cr_assert(!ht_has(herald_error_message(err), "region"), "the fix is apart: %s",
              herald_error_message(err));
    cr_assert(ht_has(herald_error_fix(err), "api_key"), "%s", herald_error_message(err));
    cr_assert(!ht_has(herald_error_message(err), "key-wrong"));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(mailgun, unknown_domain_is_config_naming_the_domain)
{
    ht_open(&h, "mailgun", "api_key = key-test\ndomain = other.example.com");
    herald_msg *m = ht_small_message();
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_CONFIG);
    cr_assert_str_eq(herald_error_code(err), "404");
    cr_assert(ht_has(herald_error_provider_text(err), "Domain not found: other.example.com"),
              "%s", herald_error_provider_text(err));
    cr_assert(ht_has(herald_error_fix(err), "domain = other.example.com"), "%s",
              herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(mailgun, status_faults_map_to_classes)
{
    const struct ht_fault_case cases[] = {
        {"{\"status\": 400, \"body\": \"{\\\"message\\\": \\\"to parameter is not a valid "
         "address. please check documentation\\\"}\"}",
         HERALD_ERR_INVALID_MESSAGE, "400", "to parameter is not a valid address", -1, NULL, NULL},
        {"{\"status\": 429, \"headers\": {\"Retry-After\": \"7\"}}",
         HERALD_ERR_RATE_LIMITED, "429", NULL, 7, NULL, NULL},
        {"{\"status\": 500}", HERALD_ERR_TEMPORARY, "500", "injected fault 500", -1, NULL, NULL},
        {"{\"status\": 413}", HERALD_ERR_INVALID_MESSAGE, "413", NULL, -1, NULL, "too large"},
    };
    ht_check_faults(&h, cases, sizeof cases / sizeof cases[0]);
}

Test(mailgun, dry_run_redacts_the_key)
{
    herald_msg *m = ht_full_message();
    size_t len = 0;
    char *out = ht_render_n(&h, m, &len);
    char *line = tu_printf("POST %s/v3/mg.example.com/messages\n", h.base);
    cr_assert(strncmp(out, line, strlen(line)) == 0, "%s", out);
    cr_assert(ht_has(out, "\nAuthorization: Basic ***\n"), "%s", out);
    cr_assert(!ht_has(out, "key-test") && !ht_has(out, "YXBpOmtleS10ZXN0"), "%s", out);
    cr_assert(ht_has(out, "Content-Disposition: form-data; name=\"o:tag\"\r\n\r\nbilling\r\n"),
              "%s", out);
    /* the attachment's own bytes, as sent (see dry_run_is_the_wire_body) */
    const char *att = "name=\"attachment\"; filename=\"data.bin\"\r\n"
                      "Content-Type: application/octet-stream\r\n\r\n";
    char *at = memmem(out, len, att, strlen(att));
    cr_assert(at, "%s", out);
    at += strlen(att);
    cr_assert((size_t)(out + len - at) > HT_BIN_LEN && memcmp(at, ht_bin(), HT_BIN_LEN) == 0);
    json_t *arr = ht_requests(&h);
    cr_assert_eq(json_array_size(arr), 0);
    json_decref(arr);
    free(line);
    free(out);
    herald_msg_free(m);
}

/* Without base_url the region picks the API host (seen in a dry run). */
static void assert_region_url(const char *region_line, const char *url)
{
    char *conf = tu_printf("[channel c]\ndriver = mailgun\napi_key = k\n"
                           "domain = mg.example.com\n%s\n", region_line);
    herald_close(h.ctx);
    h.ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open_string(conf, "t.conf", 0, &h.ctx, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    herald_msg *m = ht_small_message();
    char *out = ht_render(&h, m);
    cr_assert(strncmp(out, url, strlen(url)) == 0, "%s", out);
    free(out);
    free(conf);
    herald_msg_free(m);
}

Test(mailgun, region_picks_the_api_host)
{
    assert_region_url("", "POST https://api.mailgun.net/v3/mg.example.com/messages\n"
                          "Host: api.mailgun.net\n");
    assert_region_url("region = us", "POST https://api.mailgun.net/v3/");
    assert_region_url("region = eu", "POST https://api.eu.mailgun.net/v3/mg.example.com/"
                                     "messages\nHost: api.eu.mailgun.net\n");
    herald_error *err = NULL;
    herald_close(h.ctx);
    h.ctx = NULL;
    cr_assert_eq(herald_open_string("[channel c]\ndriver = mailgun\napi_key = k\n"
                                    "domain = d\nregion = asia\n", "t.conf", 0, &h.ctx, &err),
                 HERALD_ERR_CONFIG);
    cr_assert(ht_has(herald_error_message(err), "region"), "%s", herald_error_message(err));
    herald_error_free(err);
}

Test(mailgun, more_than_three_tags_is_an_error_naming_tags)
{
    herald_msg *m = ht_small_message();
    for (int i = 0; i < 4; i++) {
        char tag[8];
        snprintf(tag, sizeof tag, "t%d", i);
        herald_msg_add_tag(m, tag);
    }
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(ht_has(herald_error_message(err), "4 tags"), "%s", herald_error_message(err));
    cr_assert(ht_has(herald_error_fix(err), "unsupported = drop"), "fix: %s",
              herald_error_fix(err) ? herald_error_fix(err) : "(none)");
    cr_assert(!ht_has(herald_error_message(err), "unsupported = drop"), "%s",
              herald_error_message(err));
    cr_assert(ht_has(herald_error_message(err), "at most 3"), "%s", herald_error_message(err));
    herald_error_free(err);
    herald_msg_free(m);
}

Test(mailgun, an_idempotency_key_is_refused_or_dropped)
{
    herald_msg *m = ht_small_message();
    herald_msg_set_idempotency_key(m, "order-42");
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert(ht_has(herald_error_message(err), "idempotency key"), "%s",
              herald_error_message(err));
    herald_error_free(err);
    err = NULL;
    ht_open(&h, "mailgun", "api_key = key-test\ndomain = mg.example.com\nunsupported = drop");
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    herald_msg_free(m);
}

/* ---- answers that do not say the message was accepted ----------------- */

#define MG_OK "{\"id\":\"<20260101.1@mg.example.com>\",\"message\":\"Queued. Thank you.\"}"

/* The dry run shows the very body a send puts on the wire: the same
 * boundary, the same quoting of an awkward file name, the same bytes. */
Test(mailgun, dry_run_is_the_wire_body)
{
    herald_msg *m = ht_full_message();
    static const char name[] = "Q3 \"final\" C:\\reports\\übersicht ✓.csv";
    cr_assert_eq(herald_msg_attach_data(m, HT_CSV, strlen(HT_CSV), name, "text/csv"),
                 HERALD_OK);
    size_t len = 0;
    char *out = ht_render_n(&h, m, &len);
    char *body = memmem(out, len, "\n\n", 2);
    cr_assert(body, "%s", out);
    body += 2;
    size_t blen = (size_t)(out + len - body);
    herald_error *err = NULL;
    cr_assert_eq(ht_send(&h, m, NULL, &err), HERALD_OK, "%s", herald_error_message(err));
    json_t *rec = ht_last(&h);
    size_t wlen = 0;
    char *wire = ht_body(rec, &wlen);
    cr_assert_eq(blen, wlen, "dry run %zu bytes, wire %zu bytes", blen, wlen);
    cr_assert(memcmp(body, wire, wlen) == 0, "dry run:\n%.*s\nwire:\n%.*s", (int)blen,
              body, (int)wlen, wire);
    /* the Content-Type (and so the boundary) too */
    char *ct = tu_printf("\nContent-Type: %s\n", ht_header(rec, "content-type"));
    cr_assert(memmem(out, len, ct, strlen(ct)), "%s lacks %s", out, ct);
    /* the name is quoted as RFC 7578 says, and the server reads it back */
    cr_assert(memmem(wire, wlen, "filename=\"Q3 \\\"final\\\" C:\\\\reports\\\\übersicht ✓.csv\"",
                     strlen("filename=\"Q3 \\\"final\\\" C:\\\\reports\\\\übersicht ✓.csv\"")),
              "%.*s", (int)wlen, wire);
    cr_assert_str_eq(json_string_value(json_object_get(rec, "verdict")), "ok");
    free(ct);
    free(wire);
    json_decref(rec);
    free(out);
    herald_msg_free(m);
}
