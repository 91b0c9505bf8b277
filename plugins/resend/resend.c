/*
 * plugins/resend/resend.c - the Resend driver: POST /emails (JSON, Bearer
 * API key), the message's idempotency key as Idempotency-Key.  Everything
 * but the translation lives in plugins/kit/http.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <herald/plugin.h>
#include "../kit/http/http.h"

#define RESEND_MAX_TO 50
#define RESEND_MAX_TAGS 75

struct resend {
    const char *api_key;
};

static const herald_option resend_options[] = {
    {"api_key", HERALD_OPT_STRING, HERALD_OPT_REQUIRED | HERALD_OPT_SECRET, NULL, NULL,
     "a Resend API key with sending access (re_...)", 0, 0},
    HERALD_HTTP_OPTIONS,
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

static herald_class resend_build(hh_client *c, void *priv, const herald_msg *msg,
                                 hh_request *req, herald_error **err_r)
{
    (void)err_r;
    struct resend *rs = priv;
    const herald_host *host = hh_host(c);
    hh_set_path(req, "POST", "/emails");
    hh_bearer(req, rs->api_key);
    const char *key = host->msg_get(msg, HERALD_FIELD_IDEMPOTENCY_KEY);
    if (key && strlen(key) > 256) {
        hh_fail_request(req, HERALD_ERR_INVALID_MESSAGE,
                        "the idempotency key is %zu characters and Resend takes at "
                        "most 256", strlen(key));
        hh_fail_fix(req, "use a shorter key");
    }
    if (key)
        hh_header(req, "Idempotency-Key", key);
    if (host->msg_count(msg, HERALD_LIST_TO) == 0) {
        hh_fail_request(req, HERALD_ERR_INVALID_MESSAGE,
                        "Resend needs at least one To recipient");
        hh_fail_fix(req, "add one");
    }
    if (host->msg_count(msg, HERALD_LIST_TO) > RESEND_MAX_TO) {
        hh_fail_request(req, HERALD_ERR_INVALID_MESSAGE,
                        "the message has %zu To recipients and Resend takes at most %d",
                        host->msg_count(msg, HERALD_LIST_TO), RESEND_MAX_TO);
        hh_fail_fix(req, "split it into several messages");
    }

    json_t *root = json_object();
    hh_jstr(req, root, "from", host->msg_get(msg, HERALD_FIELD_FROM));
    static const char *const lists[3] = {"to", "cc", "bcc"};
    hh_jrecipients(req, root, msg, lists, hh_mailbox);
    hh_jstr(req, root, "reply_to", host->msg_get(msg, HERALD_FIELD_REPLY_TO));
    hh_jstr(req, root, "subject", host->msg_get(msg, HERALD_FIELD_SUBJECT));
    hh_jstr(req, root, "text", host->msg_get(msg, HERALD_FIELD_TEXT));
    hh_jstr(req, root, "html", host->msg_get(msg, HERALD_FIELD_HTML));
    hh_jpairs(req, root, "headers", msg, HERALD_LIST_HEADERS);
    static const struct hh_attachment_keys att = {"filename", "content", "content_type",
                                                  NULL, NULL};
    hh_jattachments(req, root, "attachments", msg, &att);
    hh_jnamed_tags(req, root, "tags", msg, RESEND_MAX_TAGS, "Resend", "name", "value");
    hh_body_json(req, root);
    return HERALD_OK;
}

static void resend_problem(hh_client *c, void *priv, const hh_response *resp,
                           hh_problem *p)
{
    (void)c;
    (void)priv;
    json_t *json = hh_response_json(resp);
    p->code = hh_json_string(json, "name");
    p->text = hh_json_string(json, "message");
    if (resp->status != 409 || !p->code)
        return;
    if (strcmp(p->code, "concurrent_idempotent_requests") == 0) {
        p->cls = HERALD_ERR_TEMPORARY;
        p->hint = "a request with the same idempotency key is still in progress; "
                  "retry shortly";
    } else {
        p->cls = HERALD_ERR_INVALID_MESSAGE;
        p->hint = "the idempotency key was already used for a different message; "
                  "give this message a new key";
    }
}

/* `herald doctor`: the account's domains, which also proves the key. */
static void resend_check_request(hh_client *c, void *priv, hh_request *req)
{
    (void)c;
    hh_set_path(req, "GET", "/domains");
    hh_bearer(req, ((struct resend *)priv)->api_key);
}

/* The domain of the channel's `from`, into @buf; NULL when it has none. */
static const char *from_domain(hh_client *c, char *buf, size_t size)
{
    const char *from = hh_host(c)->opt_str(hh_channel(c), "from");
    const char *at = from ? strrchr(from, '@') : NULL;
    if (!at)
        return NULL;
    snprintf(buf, size, "%.*s", (int)strcspn(at + 1, "> "), at + 1);
    return buf;
}

/* The status Resend gives domain @want (NULL: not the account's), and the
 * account's domains that are not verified, into @bad. */
static const char *domain_status(json_t *data, const char *want, char *bad,
                                 size_t size, size_t *n_r)
{
    const char *found = NULL;
    size_t i, used = 0;
    json_t *d;
    bad[0] = '\0';
    *n_r = json_array_size(data);
    json_array_foreach(data, i, d) {
        const char *name = hh_json_string(d, "name");
        const char *status = hh_json_string(d, "status");
        status = status ? status : "(no status)";
        if (name && want && strcasecmp(name, want) == 0)
            found = status;
        if (name && strcmp(status, "verified") != 0 && used + strlen(name) + 3 < size)
            used += (size_t)snprintf(bad + used, size - used, "%s%s", used ? ", " : "",
                                     name);
    }
    return found;
}

/* A sending domain that Resend has not verified refuses mail. */
static int resend_check_answer(hh_client *c, void *priv, const hh_response *resp,
                               hh_verdict *v)
{
    (void)priv;
    const char *ch = hh_host(c)->channel_name(hh_channel(c));
    const char *name = hh_json_string(hh_response_json(resp), "name");
    if (name && strcmp(name, "restricted_api_key") == 0) {
        v->detail = "api_key accepted; it may only send, so the domains cannot be "
                    "checked";
        return 1;
    }
    if (resp->status < 200 || resp->status >= 300)
        return 0;
    char want[256], bad[256];
    size_t n = 0;
    const char *dom = from_domain(c, want, sizeof want);
    const char *status = domain_status(json_object_get(hh_response_json(resp), "data"),
                                       dom, bad, sizeof bad, &n);
    v->status = HERALD_CHECK_FAIL;
    if (dom && !status) {
        snprintf(v->detail_buf, sizeof v->detail_buf, "api_key accepted; the sender's "
                 "domain %s is not among the account's %zu domain%s", dom, n,
                 n == 1 ? "" : "s");
        snprintf(v->fix_buf, sizeof v->fix_buf, "add %s in Resend (Domains) and verify "
                 "it, or set a `from` on a verified domain in [channel %s]", dom, ch);
    } else if (dom && strcmp(status, "verified") != 0) {
        snprintf(v->detail_buf, sizeof v->detail_buf, "api_key accepted; the sender's "
                 "domain %s is %s, not verified", dom, status);
        snprintf(v->fix_buf, sizeof v->fix_buf, "finish verifying %s in Resend "
                 "(Domains: add its DNS records); until then Resend refuses its mail", dom);
    } else if (!dom && (bad[0] || n == 0)) {
        v->status = HERALD_CHECK_WARN;
        snprintf(v->detail_buf, sizeof v->detail_buf, "api_key accepted; %s%s",
                 n ? "domains not verified: " : "the account has no domains", bad);
        snprintf(v->fix_buf, sizeof v->fix_buf, "add and verify the sending domain in "
                 "Resend (Domains); a `from` in [channel %s] lets this check name it", ch);
    } else {
        v->status = HERALD_CHECK_OK;
        snprintf(v->detail_buf, sizeof v->detail_buf, "api_key accepted; %s%s verified",
                 dom ? "the sender's domain " : "every domain of the account",
                 dom ? dom : "");
    }
    v->detail = v->detail_buf;
    v->fix = v->status == HERALD_CHECK_OK ? NULL : v->fix_buf;
    return 1;
}

static const hh_provider resend_provider = {
    HH_PROVIDER_FIELDS(resend),
    /* 200 {"id": "..."} */
    .shape = {.id_member = "id"},
    .credential = "api_key",
    .check_answer = resend_check_answer,
};

static herald_class resend_init(const herald_host *host, herald_channel *ch,
                                void **state_r, herald_error **err_r)
{
    struct resend *rs = calloc(1, sizeof *rs);
    if (rs)
        rs->api_key = host->opt_str(ch, "api_key");
    return hh_client_new(host, ch, &resend_provider, "https://api.resend.com", rs,
                         state_r, err_r);
}

HH_PLUGIN_DEFINE(resend, "Resend email API",
    HERALD_CAP_EMAIL | HERALD_CAP_TEXT | HERALD_CAP_HTML |
    HERALD_CAP_ATTACHMENTS | HERALD_CAP_CC_BCC | HERALD_CAP_REPLY_TO |
    HERALD_CAP_HEADERS | HERALD_CAP_TAGS | HERALD_CAP_IDEMPOTENCY,
    resend_options, resend_init)
