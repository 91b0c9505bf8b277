/*
 * plugins/mailgun/mailgun.c - the Mailgun driver: POST /v3/DOMAIN/messages
 * as multipart/form-data with Basic auth api:KEY, in the US or EU region.
 * Everything but the translation lives in plugins/kit/http.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <herald/plugin.h>
#include "../kit/http/http.h"

#define MAILGUN_MAX_TAGS 3

struct mailgun {
    const char *domain, *api_key, *region;
};

static const herald_option mailgun_options[] = {
    {"domain", HERALD_OPT_STRING, HERALD_OPT_REQUIRED, NULL, NULL,
     "the sending domain as added in Mailgun, e.g. mg.example.com", 0, 0},
    {"api_key", HERALD_OPT_STRING, HERALD_OPT_REQUIRED | HERALD_OPT_SECRET, NULL, NULL,
     "the account's private API key (or a domain sending key)", 0, 0},
    {"region", HERALD_OPT_ENUM, 0, "us", "us|eu",
     "where the domain lives: us (api.mailgun.net) or eu (api.eu.mailgun.net)", 0, 0},
    HERALD_HTTP_OPTIONS,
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

/* to, cc, bcc: one form field per recipient, as a full mailbox. */
static void add_recipients(hh_client *c, const herald_msg *msg, hh_request *req,
                           herald_list list, const char *field)
{
    const herald_host *host = hh_host(c);
    for (size_t i = 0; i < host->msg_count(msg, list); i++) {
        const char *name = NULL;
        const char *addr = host->msg_address(msg, list, i, &name);
        char *mailbox = hh_mailbox(req, addr, name);
        hh_form_field(req, field, mailbox);
        free(mailbox);
    }
}

/* A "NAME:VALUE" field name such as "h:X-Ticket" or "v:order". */
static void add_prefixed(hh_request *req, const char *prefix, const char *key,
                         const char *value)
{
    char *field = NULL;
    if (asprintf(&field, "%s%s", prefix, key) < 0) {
        hh_fail_request(req, HERALD_ERR_INTERNAL, "out of memory");
        return;
    }
    hh_form_field(req, field, value);
    free(field);
}

static herald_class mailgun_build(hh_client *c, void *priv, const herald_msg *msg,
                                  hh_request *req, herald_error **err_r)
{
    (void)err_r;
    struct mailgun *mg = priv;
    const herald_host *host = hh_host(c);
    char *domain = hh_escape(req, mg->domain);
    if (!domain)
        return HERALD_OK;   /* the request carries the failure */
    hh_set_path(req, "POST", "/v3/%s/messages", domain);
    free(domain);
    hh_basic(req, "api", mg->api_key);

    hh_form_field(req, "from", host->msg_get(msg, HERALD_FIELD_FROM));
    add_recipients(c, msg, req, HERALD_LIST_TO, "to");
    add_recipients(c, msg, req, HERALD_LIST_CC, "cc");
    add_recipients(c, msg, req, HERALD_LIST_BCC, "bcc");
    hh_form_field(req, "subject", host->msg_get(msg, HERALD_FIELD_SUBJECT));
    hh_form_field(req, "text", host->msg_get(msg, HERALD_FIELD_TEXT));
    hh_form_field(req, "html", host->msg_get(msg, HERALD_FIELD_HTML));
    hh_form_field(req, "h:Reply-To", host->msg_get(msg, HERALD_FIELD_REPLY_TO));
    for (size_t i = 0; i < host->msg_count(msg, HERALD_LIST_HEADERS); i++) {
        const char *k, *v;
        host->msg_pair(msg, HERALD_LIST_HEADERS, i, &k, &v);
        add_prefixed(req, "h:", k, v);
    }
    size_t tags = hh_fit(req, "tags", host->msg_count(msg, HERALD_LIST_TAGS),
                         MAILGUN_MAX_TAGS);
    for (size_t i = 0; i < tags; i++)
        hh_form_field(req, "o:tag", host->msg_item(msg, HERALD_LIST_TAGS, i));
    for (size_t i = 0; i < host->msg_count(msg, HERALD_LIST_METADATA); i++) {
        const char *k, *v;
        host->msg_pair(msg, HERALD_LIST_METADATA, i, &k, &v);
        add_prefixed(req, "v:", k, v);
    }
    for (size_t i = 0; i < host->msg_count(msg, HERALD_LIST_ATTACHMENTS); i++) {
        const char *name, *type;
        const unsigned char *data;
        size_t len;
        host->msg_attachment(msg, i, &name, &type, &data, &len);
        hh_form_file(req, "attachment", name, type, data, len);
    }
    return HERALD_OK;
}

static void mailgun_problem(hh_client *c, void *priv, const hh_response *resp,
                            hh_problem *p)
{
    struct mailgun *mg = priv;
    p->text = hh_json_string(hh_response_json(resp), "message");
    const char *ch = hh_host(c)->channel_name(hh_channel(c));
    int eu = strcmp(mg->region, "eu") == 0;
    if (resp->status == 401 && hh_custom_base(c)) {
        snprintf(p->hint_buf, sizeof p->hint_buf,
                 "check api_key in [channel %s], and that base_url points at the "
                 "Mailgun region the domain lives in (region is not used while "
                 "base_url is set)", ch);
        p->hint = p->hint_buf;
    } else if (resp->status == 401) {
        snprintf(p->hint_buf, sizeof p->hint_buf,
                 "check api_key in [channel %s], and region: this channel uses "
                 "region = %s, and a domain created in Mailgun's %s region needs "
                 "region = %s", ch, mg->region, eu ? "US" : "EU", eu ? "us" : "eu");
        p->hint = p->hint_buf;
    } else if (resp->status == 404) {
        snprintf(p->hint_buf, sizeof p->hint_buf,
                 "check domain = %s in [channel %s]: Mailgun does not know it "
                 "(in region %s)", mg->domain, ch, mg->region);
        p->hint = p->hint_buf;
    }
}

/* `herald doctor`: the sending domain, which also proves the key. */
static void mailgun_check_request(hh_client *c, void *priv, hh_request *req)
{
    struct mailgun *mg = priv;
    char *domain = hh_escape(req, mg->domain);
    if (domain)
        hh_set_path(req, "GET", "/v3/domains/%s", domain);
    free(domain);
    hh_basic(req, "api", mg->api_key);
    (void)c;
}

/* An unknown domain, or one Mailgun has not verified (its DNS records). */
static int mailgun_check_answer(hh_client *c, void *priv, const hh_response *resp,
                                hh_verdict *v)
{
    struct mailgun *mg = priv;
    const char *ch = hh_host(c)->channel_name(hh_channel(c));
    if (resp->status == 404) {
        snprintf(v->detail_buf, sizeof v->detail_buf, "domain not found: Mailgun "
                 "does not know %s%s%s", mg->domain, hh_custom_base(c) ? "" :
                 " in region ", hh_custom_base(c) ? "" : mg->region);
        snprintf(v->fix_buf, sizeof v->fix_buf, "check domain (and region: a domain "
                 "added in Mailgun's EU region needs region = eu) in [channel %s]", ch);
        v->status = HERALD_CHECK_FAIL;
    } else if (resp->status >= 200 && resp->status < 300) {
        json_t *d = json_object_get(hh_response_json(resp), "domain");
        const char *state = hh_json_string(d, "state");
        state = state ? state : "(unknown)";
        snprintf(v->detail_buf, sizeof v->detail_buf, "api_key accepted; domain %s "
                 "is %s", mg->domain, state);
        if (strcmp(state, "active") != 0) {
            snprintf(v->fix_buf, sizeof v->fix_buf, "verify %s in Mailgun (Sending > "
                     "Domains > DNS records): until then Mailgun %s", mg->domain,
                     strcmp(state, "disabled") == 0 ? "refuses its mail"
                     : "delivers only to authorized recipients");
            v->status = strcmp(state, "disabled") == 0 ? HERALD_CHECK_FAIL
                                                       : HERALD_CHECK_WARN;
        }
    } else {
        return 0;   /* 401 and the rest: the helper, with mailgun_problem's hint */
    }
    v->detail = v->detail_buf;
    v->fix = v->status == HERALD_CHECK_OK ? NULL : v->fix_buf;
    return 1;
}

static const hh_provider mailgun_provider = {
    HH_PROVIDER_FIELDS(mailgun),
    /* 200 {"id": "<...@domain>", "message": "Queued. Thank you."} */
    .shape = {.id_member = "id"},
    .credential = "api_key (and region)",
    .check_answer = mailgun_check_answer,
};

static herald_class mailgun_init(const herald_host *host, herald_channel *ch,
                                 void **state_r, herald_error **err_r)
{
    struct mailgun *mg = calloc(1, sizeof *mg);
    if (mg) {
        mg->domain = host->opt_str(ch, "domain");
        mg->api_key = host->opt_str(ch, "api_key");
        mg->region = host->opt_str(ch, "region");
    }
    const char *base = mg && strcmp(mg->region, "eu") == 0
                           ? "https://api.eu.mailgun.net" : "https://api.mailgun.net";
    return hh_client_new(host, ch, &mailgun_provider, base, mg, state_r, err_r);
}

HH_PLUGIN_DEFINE(mailgun, "Mailgun HTTP API (US and EU regions)",
    HERALD_CAP_EMAIL | HERALD_CAP_TEXT | HERALD_CAP_HTML |
    HERALD_CAP_ATTACHMENTS | HERALD_CAP_CC_BCC | HERALD_CAP_REPLY_TO |
    HERALD_CAP_HEADERS | HERALD_CAP_TAGS | HERALD_CAP_METADATA,
    mailgun_options, mailgun_init)
