/*
 * plugins/sendgrid/sendgrid.c - the SendGrid driver: POST /v3/mail/send
 * (v3 Mail Send, JSON, Bearer API key); 202 with the id in X-Message-Id.
 * Everything but the translation lives in plugins/kit/http.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <herald/plugin.h>
#include "../kit/http/http.h"

#define SENDGRID_MAX_CATEGORIES 10

struct sendgrid {
    const char *api_key;
    int sandbox;
};

static const herald_option sendgrid_options[] = {
    {"api_key", HERALD_OPT_STRING, HERALD_OPT_REQUIRED | HERALD_OPT_SECRET, NULL, NULL,
     "an API key with the Mail Send permission (SG....)", 0, 0},
    {"sandbox_mode", HERALD_OPT_BOOL, 0, "no", NULL,
     "validate each message without delivering it (mail_settings.sandbox_mode)", 0, 0},
    HERALD_HTTP_OPTIONS,
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

static json_t *content(hh_client *c, const herald_msg *msg, hh_request *req)
{
    static const struct { herald_field field; const char *type; } parts[] = {
        {HERALD_FIELD_TEXT, "text/plain"}, {HERALD_FIELD_HTML, "text/html"}};
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < 2; i++) {
        const char *v = hh_host(c)->msg_get(msg, parts[i].field);
        if (!v || !*v)
            continue;
        json_t *o = json_object();
        hh_jstr(req, o, "type", parts[i].type);
        hh_jstr(req, o, "value", v);
        hh_jpush(req, arr, o);
    }
    return arr;
}

static herald_class sendgrid_build(hh_client *c, void *priv, const herald_msg *msg,
                                   hh_request *req, herald_error **err_r)
{
    (void)err_r;
    struct sendgrid *sg = priv;
    const herald_host *host = hh_host(c);
    hh_set_path(req, "POST", "/v3/mail/send");
    hh_bearer(req, sg->api_key);
    if (host->msg_count(msg, HERALD_LIST_TO) == 0) {
        hh_fail_request(req, HERALD_ERR_INVALID_MESSAGE,
                        "SendGrid needs at least one To recipient");
        hh_fail_fix(req, "add one");
    }

    json_t *root = json_object(), *pers = json_object(), *plist = json_array();
    static const char *const lists[3] = {"to", "cc", "bcc"};
    hh_jrecipients(req, pers, msg, lists, NULL);
    hh_jpush(req, plist, pers);
    hh_jset(req, root, "personalizations", plist);
    hh_jset(req, root, "from", hh_jaddress(req, host->msg_get(msg, HERALD_FIELD_FROM_ADDRESS),
                                           host->msg_get(msg, HERALD_FIELD_FROM_NAME)));
    hh_jmailbox(req, root, "reply_to", host->msg_get(msg, HERALD_FIELD_REPLY_TO));
    hh_jstr(req, root, "subject", host->msg_get(msg, HERALD_FIELD_SUBJECT));
    hh_jset(req, root, "content", content(c, msg, req));
    static const struct hh_attachment_keys att = {"filename", "content", "type",
                                                  "disposition", "attachment"};
    hh_jattachments(req, root, "attachments", msg, &att);
    size_t ntags = hh_fit(req, "tags", host->msg_count(msg, HERALD_LIST_TAGS),
                          SENDGRID_MAX_CATEGORIES);
    if (ntags) {
        json_t *cats = json_array();
        for (size_t i = 0; cats && i < ntags; i++)
            hh_jpush_str(req, cats, host->msg_item(msg, HERALD_LIST_TAGS, i));
        hh_jset(req, root, "categories", cats);
    }
    hh_jpairs(req, root, "custom_args", msg, HERALD_LIST_METADATA);
    hh_jpairs(req, root, "headers", msg, HERALD_LIST_HEADERS);
    if (sg->sandbox)
        hh_jset(req, root, "mail_settings",
                json_pack("{s:{s:b}}", "sandbox_mode", "enable", 1));
    hh_body_json(req, root);
    return HERALD_OK;
}

static herald_class sendgrid_accepted(hh_client *c, void *priv,
                                      const hh_response *resp, herald_result *res,
                                      herald_error **err_r)
{
    struct sendgrid *sg = priv;
    (void)res;
    char buf[256];
    const char *id = hh_response_header(resp, "X-Message-Id", buf, sizeof buf);
    if (!sg->sandbox && (!id || !*id))
        return hh_unexpected_answer(c, resp, "no X-Message-Id header", err_r);
    return HERALD_OK;   /* the shape sets the id */
}

/* errors[]: every message, with its field, joined by "; ". */
static void sendgrid_problem(hh_client *c, void *priv, const hh_response *resp,
                             hh_problem *p)
{
    (void)c;
    (void)priv;
    json_t *json = hh_response_json(resp);
    json_t *errors = json_is_object(json) ? json_object_get(json, "errors") : NULL;
    size_t i, used = 0;
    json_t *e;
    json_array_foreach(errors, i, e) {
        const char *m = hh_json_string(e, "message");
        const char *f = hh_json_string(e, "field");
        if (!m)
            continue;
        int n = snprintf(p->text_buf + used, sizeof p->text_buf - used, "%s%s%s%s%s",
                         used ? "; " : "", m, f ? " (field " : "", f ? f : "",
                         f ? ")" : "");
        if (n < 0 || (size_t)n >= sizeof p->text_buf - used)
            break;
        used += (size_t)n;
    }
    if (used)
        p->text = p->text_buf;
    /* Rate limits: X-RateLimit-Reset is the epoch second the window resets. */
    char buf[64];
    const char *reset = hh_response_header(resp, "X-RateLimit-Reset", buf, sizeof buf);
    if (resp->status == 429 && reset) {
        long long at = strtoll(reset, NULL, 10);
        long long now = (long long)time(NULL);
        if (at > 0)
            p->retry_after = at > now ? (long)(at - now) : 0;
    }
}

/* `herald doctor`: the key's permissions. */
static void sendgrid_check_request(hh_client *c, void *priv, hh_request *req)
{
    (void)c;
    hh_set_path(req, "GET", "/v3/scopes");
    hh_bearer(req, ((struct sendgrid *)priv)->api_key);
}

/* A key that works but may not send. */
static int sendgrid_check_answer(hh_client *c, void *priv, const hh_response *resp,
                                 hh_verdict *v)
{
    (void)priv;
    if (resp->status < 200 || resp->status >= 300)
        return 0;
    json_t *scopes = json_object_get(hh_response_json(resp), "scopes"), *s;
    size_t i;
    json_array_foreach(scopes, i, s)
        if (json_is_string(s) && strcmp(json_string_value(s), "mail.send") == 0)
            return 0;   /* the helper's "accepted" */
    v->status = HERALD_CHECK_FAIL;
    v->detail = "api_key accepted, but it lacks the Mail Send permission "
                "(mail.send is not among its scopes)";
    snprintf(v->fix_buf, sizeof v->fix_buf, "give the key Mail Send access in "
             "SendGrid (Settings > API Keys), or set another api_key in [channel %s]",
             hh_host(c)->channel_name(hh_channel(c)));
    v->fix = v->fix_buf;
    return 1;
}

static const hh_provider sendgrid_provider = {
    HH_PROVIDER_FIELDS(sendgrid),
    .accepted = sendgrid_accepted,
    /* 202, an empty body and X-Message-Id (sandbox mode: 200, no id) */
    .shape = {.id_header = "X-Message-Id", .empty_body = 1, .id_optional = 1},
    .credential = "api_key (it needs the Mail Send permission)",
    .check_answer = sendgrid_check_answer,
};

static herald_class sendgrid_init(const herald_host *host, herald_channel *ch,
                                  void **state_r, herald_error **err_r)
{
    struct sendgrid *sg = calloc(1, sizeof *sg);
    if (sg) {
        sg->api_key = host->opt_str(ch, "api_key");
        sg->sandbox = host->opt_bool(ch, "sandbox_mode");
    }
    return hh_client_new(host, ch, &sendgrid_provider, "https://api.sendgrid.com",
                         sg, state_r, err_r);
}

HH_PLUGIN_DEFINE(sendgrid, "SendGrid v3 Mail Send API",
    HERALD_CAP_EMAIL | HERALD_CAP_TEXT | HERALD_CAP_HTML |
    HERALD_CAP_ATTACHMENTS | HERALD_CAP_CC_BCC | HERALD_CAP_REPLY_TO |
    HERALD_CAP_HEADERS | HERALD_CAP_TAGS | HERALD_CAP_METADATA,
    sendgrid_options, sendgrid_init)
