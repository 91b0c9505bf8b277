/*
 * plugins/mailtrap/mailtrap.c - the Mailtrap driver: the Email Sending API
 * (POST /api/send on send.api.mailtrap.io) or, in sandbox mode, the testing
 * API (POST /api/send/INBOX_ID on sandbox.api.mailtrap.io); JSON, Bearer
 * API token.  Everything but the translation lives in plugins/kit/http.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <herald/plugin.h>
#include "../kit/http/http.h"

#define MAILTRAP_MAX_TAGS 1   /* one "category" */

struct mailtrap {
    const char *token;
    long long inbox_id;
    int sandbox;
};

static const herald_option mailtrap_options[] = {
    {"api_token", HERALD_OPT_STRING, HERALD_OPT_REQUIRED | HERALD_OPT_SECRET, NULL, NULL,
     "a Mailtrap API token with sending (or sandbox inbox) access", 0, 0},
    {"mode", HERALD_OPT_ENUM, 0, "production", "production|sandbox",
     "production delivers (send.api.mailtrap.io); sandbox captures in an inbox", 0, 0},
    {"inbox_id", HERALD_OPT_INT, 0, NULL, NULL,
     "the sandbox inbox's numeric id (required with mode = sandbox)", 1,
     9007199254740991LL},
    HERALD_HTTP_OPTIONS,
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

static herald_class mailtrap_build(hh_client *c, void *priv, const herald_msg *msg,
                                   hh_request *req, herald_error **err_r)
{
    (void)err_r;
    struct mailtrap *mt = priv;
    const herald_host *host = hh_host(c);
    if (mt->sandbox)
        hh_set_path(req, "POST", "/api/send/%lld", mt->inbox_id);
    else
        hh_set_path(req, "POST", "/api/send");
    hh_bearer(req, mt->token);

    json_t *root = json_object();
    hh_jset(req, root, "from", hh_jaddress(req, host->msg_get(msg, HERALD_FIELD_FROM_ADDRESS),
                                           host->msg_get(msg, HERALD_FIELD_FROM_NAME)));
    static const char *const lists[3] = {"to", "cc", "bcc"};
    hh_jrecipients(req, root, msg, lists, NULL);
    hh_jmailbox(req, root, "reply_to", host->msg_get(msg, HERALD_FIELD_REPLY_TO));
    hh_jstr(req, root, "subject", host->msg_get(msg, HERALD_FIELD_SUBJECT));
    hh_jstr(req, root, "text", host->msg_get(msg, HERALD_FIELD_TEXT));
    hh_jstr(req, root, "html", host->msg_get(msg, HERALD_FIELD_HTML));
    static const struct hh_attachment_keys att = {"filename", "content", "type",
                                                  "disposition", "attachment"};
    hh_jattachments(req, root, "attachments", msg, &att);
    if (hh_fit(req, "tags", host->msg_count(msg, HERALD_LIST_TAGS), MAILTRAP_MAX_TAGS))
        hh_jstr(req, root, "category", host->msg_item(msg, HERALD_LIST_TAGS, 0));
    hh_jpairs(req, root, "custom_variables", msg, HERALD_LIST_METADATA);
    hh_jpairs(req, root, "headers", msg, HERALD_LIST_HEADERS);
    hh_body_json(req, root);
    return HERALD_OK;
}

/* message_ids: one per recipient; the result's id is them joined by ','. */
/* errors: ["...", ...] (or a single "error" string). */
static void mailtrap_problem(hh_client *c, void *priv, const hh_response *resp,
                             hh_problem *p)
{
    struct mailtrap *mt = priv;
    json_t *json = hh_response_json(resp);
    json_t *errors = json_is_object(json) ? json_object_get(json, "errors") : NULL;
    size_t i, used = 0;
    json_t *e;
    if (json_is_string(errors))
        p->text = json_string_value(errors);
    json_array_foreach(errors, i, e) {
        const char *s = json_string_value(e);
        if (!s)
            continue;
        int n = snprintf(p->text_buf + used, sizeof p->text_buf - used, "%s%s",
                         used ? "; " : "", s);
        if (n < 0 || (size_t)n >= sizeof p->text_buf - used)
            break;
        used += (size_t)n;
    }
    if (used)
        p->text = p->text_buf;
    if (!p->text)
        p->text = hh_json_string(json, "error");
    if (resp->status == 404 && mt->sandbox) {
        snprintf(p->hint_buf, sizeof p->hint_buf,
                 "check inbox_id = %lld in [channel %s]: Mailtrap does not know that "
                 "sandbox inbox", mt->inbox_id, hh_host(c)->channel_name(hh_channel(c)));
        p->hint = p->hint_buf;
    }
}

/* `herald doctor`: the token's accounts.  That lookup lives on Mailtrap's
 * general API host, not on the sending one (unless base_url is set). */
static void mailtrap_check_request(hh_client *c, void *priv, hh_request *req)
{
    if (!hh_custom_base(c))
        hh_set_origin(req, "https://mailtrap.io");
    hh_set_path(req, "GET", "/api/accounts");
    hh_bearer(req, ((struct mailtrap *)priv)->token);
}

static const hh_provider mailtrap_provider = {
    HH_PROVIDER_FIELDS(mailtrap),
    /* 200 {"success": true, "message_ids": ["..."]} */
    .shape = {.true_member = "success", .ids_member = "message_ids"},
    .credential = "api_token (and mode: sandbox and production tokens differ)",
};

static herald_class mailtrap_init(const herald_host *host, herald_channel *ch,
                                  void **state_r, herald_error **err_r)
{
    int sandbox = strcmp(host->opt_str(ch, "mode"), "sandbox") == 0;
    if (sandbox && !host->opt_isset(ch, "inbox_id")) {
        herald_class rc = host->error(err_r, HERALD_ERR_CONFIG, NULL, NULL, -1,
                                      "[channel %s] mode = sandbox needs inbox_id",
                                      host->channel_name(ch));
        host->error_fix(*err_r, "add the inbox's numeric id (in its URL in Mailtrap)");
        return rc;
    }
    if (!sandbox && host->opt_isset(ch, "inbox_id"))
        host->log(ch, HERALD_LOG_WARNING, "inbox_id is ignored with mode = production; "
                  "set mode = sandbox to send to the inbox");
    struct mailtrap *mt = calloc(1, sizeof *mt);
    if (mt) {
        mt->token = host->opt_str(ch, "api_token");
        mt->sandbox = sandbox;
        mt->inbox_id = host->opt_int(ch, "inbox_id");
    }
    return hh_client_new(host, ch, &mailtrap_provider,
                         sandbox ? "https://sandbox.api.mailtrap.io"
                                 : "https://send.api.mailtrap.io",
                         mt, state_r, err_r);
}

HH_PLUGIN_DEFINE(mailtrap, "Mailtrap email sending and sandbox API",
    HERALD_CAP_EMAIL | HERALD_CAP_TEXT | HERALD_CAP_HTML |
    HERALD_CAP_ATTACHMENTS | HERALD_CAP_CC_BCC | HERALD_CAP_REPLY_TO |
    HERALD_CAP_HEADERS | HERALD_CAP_TAGS | HERALD_CAP_METADATA,
    mailtrap_options, mailtrap_init)
