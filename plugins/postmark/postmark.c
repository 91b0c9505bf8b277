/*
 * plugins/postmark/postmark.c - the Postmark driver: POST /email (JSON,
 * X-Postmark-Server-Token), comma-joined recipients, one Tag, Metadata,
 * MessageStream.  Everything but the translation lives in plugins/kit/http.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/plugin.h>
#include "../kit/http/http.h"

#define POSTMARK_MAX_TAGS 1
#define POSTMARK_MAX_RECIPIENTS 50

struct postmark {
    const char *token, *stream;
};

static const herald_option postmark_options[] = {
    {"server_token", HERALD_OPT_STRING, HERALD_OPT_REQUIRED | HERALD_OPT_SECRET, NULL,
     NULL, "the server's API token (Servers > API Tokens)", 0, 0},
    {"message_stream", HERALD_OPT_STRING, 0, NULL, NULL,
     "message stream ID, e.g. outbound or broadcast (default: the server's "
     "transactional stream)", 0, 0},
    HERALD_HTTP_OPTIONS,
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

static herald_class postmark_build(hh_client *c, void *priv, const herald_msg *msg,
                                   hh_request *req, herald_error **err_r)
{
    (void)err_r;
    struct postmark *pm = priv;
    const herald_host *host = hh_host(c);
    hh_set_path(req, "POST", "/email");
    hh_secret_header(req, "X-Postmark-Server-Token", "", pm->token);
    size_t total = host->msg_count(msg, HERALD_LIST_TO) +
                   host->msg_count(msg, HERALD_LIST_CC) +
                   host->msg_count(msg, HERALD_LIST_BCC);
    if (total > POSTMARK_MAX_RECIPIENTS) {
        hh_fail_request(req, HERALD_ERR_INVALID_MESSAGE,
                        "the message has %zu recipients (to, cc and bcc) and Postmark "
                        "takes at most %d", total, POSTMARK_MAX_RECIPIENTS);
        hh_fail_fix(req, "split it into several messages");
    }

    json_t *root = json_object();
    hh_jstr(req, root, "From", host->msg_get(msg, HERALD_FIELD_FROM));
    static const struct { herald_list list; const char *key; } lists[] = {
        {HERALD_LIST_TO, "To"}, {HERALD_LIST_CC, "Cc"}, {HERALD_LIST_BCC, "Bcc"}};
    for (size_t i = 0; i < 3; i++) {
        char *joined = hh_mailbox_list(req, msg, lists[i].list);
        hh_jstr(req, root, lists[i].key, joined);
        free(joined);
    }
    hh_jstr(req, root, "ReplyTo", host->msg_get(msg, HERALD_FIELD_REPLY_TO));
    hh_jstr(req, root, "Subject", host->msg_get(msg, HERALD_FIELD_SUBJECT));
    hh_jstr(req, root, "TextBody", host->msg_get(msg, HERALD_FIELD_TEXT));
    hh_jstr(req, root, "HtmlBody", host->msg_get(msg, HERALD_FIELD_HTML));
    hh_jpairs_array(req, root, "Headers", msg, HERALD_LIST_HEADERS, "Name", "Value");
    if (hh_fit(req, "tags", host->msg_count(msg, HERALD_LIST_TAGS), POSTMARK_MAX_TAGS))
        hh_jstr(req, root, "Tag", host->msg_item(msg, HERALD_LIST_TAGS, 0));
    hh_jpairs(req, root, "Metadata", msg, HERALD_LIST_METADATA);
    static const struct hh_attachment_keys att = {"Name", "Content", "ContentType",
                                                  NULL, NULL};
    hh_jattachments(req, root, "Attachments", msg, &att);
    hh_jstr(req, root, "MessageStream", pm->stream);
    hh_body_json(req, root);
    return HERALD_OK;
}

static herald_class postmark_accepted(hh_client *c, void *priv,
                                      const hh_response *resp, herald_result *res,
                                      herald_error **err_r)
{
    (void)priv;
    char num[32];
    const char *code = hh_response_member(resp, "ErrorCode", num, sizeof num);
    if (code && strtoll(code, NULL, 10) != 0) {
        const char *m = hh_json_string(hh_response_json(resp), "Message");
        herald_class rc = hh_error(c, err_r, HERALD_ERR_PERMANENT, code, m, -1,
                                   "postmark answered HTTP %ld with ErrorCode %s: %s",
                                   resp->status, code, m ? m : "(no message)");
        hh_error_fix(c, err_r, "see Postmark's API error codes");
        return rc;
    }
    (void)res;
    return HERALD_OK;   /* the rest is the shape's */
}

/* Postmark's ErrorCode numbers that say more than the HTTP status. */
static const struct {
    long code;
    herald_class cls;
    const char *hint;
} postmark_errors[] = {
    {400, HERALD_ERR_SENDER_REJECTED,
     "add and confirm the From address as a sender signature in Postmark"},
    {401, HERALD_ERR_SENDER_REJECTED,
     "confirm the sender signature (Postmark sent a confirmation email)"},
    {405, HERALD_ERR_PERMANENT, "the account is out of credits; add some in Postmark"},
    {406, HERALD_ERR_RECIPIENT_REJECTED,
     "the recipient is inactive (bounced or complained); reactivate it in Postmark"},
    {412, HERALD_ERR_PERMANENT,
     "the account is pending approval and may only send to its own domain"},
    {1235, HERALD_ERR_CONFIG, "check message_stream: Postmark does not know that stream"},
};

static void postmark_problem(hh_client *c, void *priv, const hh_response *resp,
                             hh_problem *p)
{
    (void)c;
    (void)priv;
    json_t *json = hh_response_json(resp);
    json_t *code = json_is_object(json) ? json_object_get(json, "ErrorCode") : NULL;
    p->text = hh_json_string(json, "Message");
    if (!json_is_integer(code))
        return;
    long n = (long)json_integer_value(code);
    snprintf(p->text_buf, sizeof p->text_buf, "%ld", n);
    p->code = p->text_buf;
    for (size_t i = 0; i < sizeof postmark_errors / sizeof postmark_errors[0]; i++)
        if (postmark_errors[i].code == n && resp->status == 422) {
            p->cls = postmark_errors[i].cls;
            p->hint = postmark_errors[i].hint;
        }
}

/* `herald doctor`: the server the token belongs to. */
static void postmark_check_request(hh_client *c, void *priv, hh_request *req)
{
    (void)c;
    hh_set_path(req, "GET", "/server");
    hh_secret_header(req, "X-Postmark-Server-Token", "",
                     ((struct postmark *)priv)->token);
}

static const hh_provider postmark_provider = {
    HH_PROVIDER_FIELDS(postmark),
    .accepted = postmark_accepted,
    /* 200 {"To": ..., "SubmittedAt": ..., "MessageID": "...", "ErrorCode": 0,
     * "Message": "OK"} */
    .shape = {.id_member = "MessageID", .zero_member = "ErrorCode"},
    .credential = "server_token",
};

static herald_class postmark_init(const herald_host *host, herald_channel *ch,
                                  void **state_r, herald_error **err_r)
{
    struct postmark *pm = calloc(1, sizeof *pm);
    if (pm) {
        pm->token = host->opt_str(ch, "server_token");
        pm->stream = host->opt_str(ch, "message_stream");
    }
    return hh_client_new(host, ch, &postmark_provider, "https://api.postmarkapp.com", pm,
                         state_r, err_r);
}

HH_PLUGIN_DEFINE(postmark, "Postmark email API",
    HERALD_CAP_EMAIL | HERALD_CAP_TEXT | HERALD_CAP_HTML |
    HERALD_CAP_ATTACHMENTS | HERALD_CAP_CC_BCC | HERALD_CAP_REPLY_TO |
    HERALD_CAP_HEADERS | HERALD_CAP_TAGS | HERALD_CAP_METADATA,
    postmark_options, postmark_init)
