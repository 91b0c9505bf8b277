/*
 * plugins/ses/ses.c - the Amazon SES (API v2) driver: POST
 * /v2/email/outbound-emails on email.REGION.amazonaws.com, signed with
 * AWS Signature Version 4 (sigv4.c), Simple content (with attachments) or
 * Raw MIME from the core's renderer.  Everything else is plugins/kit/http.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <herald/plugin.h>
#include "../kit/http/http.h"
#include "sigv4.h"

#define SES_MAX_TAGS 50

struct ses {
    const char *access_key_id, *secret, *session_token, *region;
    const char *configuration_set;
    int raw;
};

static const herald_option ses_options[] = {
    {"access_key_id", HERALD_OPT_STRING, HERALD_OPT_REQUIRED, NULL, NULL,
     "AWS access key id (AKIA... or ASIA...) allowed ses:SendEmail", 0, 0},
    {"secret_access_key", HERALD_OPT_STRING, HERALD_OPT_REQUIRED | HERALD_OPT_SECRET,
     NULL, NULL, "the secret access key that goes with access_key_id", 0, 0},
    {"session_token", HERALD_OPT_STRING, HERALD_OPT_SECRET, NULL, NULL,
     "session token, for temporary (STS) credentials", 0, 0},
    {"region", HERALD_OPT_STRING, 0, "us-east-1", NULL,
     "AWS region of the SES identity, e.g. eu-west-1", 0, 0},
    {"configuration_set", HERALD_OPT_STRING, 0, NULL, NULL,
     "SES configuration set to send with (event publishing, IP pools)", 0, 0},
    {"content", HERALD_OPT_ENUM, 0, "simple", "simple|raw",
     "simple: SES builds the MIME message; raw: herald's MIME renderer does", 0, 0},
    HERALD_HTTP_OPTIONS,
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

/* ---------------------------------------------------------------- addresses */

static int is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 0;
    return 1;
}

/* SES wants non-ASCII display names as RFC 2047 encoded words: "=?UTF-8?B?
 * ...?=" of at most 45 bytes each (75 characters), split between UTF-8
 * characters. */
static char *encoded_mailbox(hh_request *req, const char *addr, const char *name)
{
    if (!name || is_ascii(name))
        return hh_mailbox(req, addr, name);
    size_t len = strlen(name);
    /* chunks of 42..45 bytes; each word is at most 73 characters + a space */
    size_t cap = (len / 42 + 2) * 74 + strlen(addr) + 4, used = 0;
    char *out = malloc(cap);
    for (const char *p = name; out && *p;) {
        size_t n = strlen(p) < 45 ? strlen(p) : 45;
        while (n < strlen(p) && ((unsigned char)p[n] & 0xC0) == 0x80)
            n--;
        char *b64 = hh_base64((const unsigned char *)p, n, NULL);
        if (!b64) {
            free(out);
            out = NULL;
            break;
        }
        used += (size_t)snprintf(out + used, cap - used, "%s=?UTF-8?B?%s?=",
                                 used ? " " : "", b64);
        free(b64);
        p += n;
    }
    if (out)
        snprintf(out + used, cap - used, " <%s>", addr);
    else
        hh_fail_request(req, HERALD_ERR_INTERNAL, "out of memory");
    return out;
}

static void set_address(hh_request *req, json_t *obj, const char *key,
                        const char *mailbox, int as_list)
{
    char *addr, *name;
    if (!mailbox || hh_split_mailbox(req, mailbox, &addr, &name) != 0)
        return;
    char *mb = encoded_mailbox(req, addr, name);
    if (mb && as_list) {
        json_t *arr = json_array();
        hh_jpush_str(req, arr, mb);
        hh_jset(req, obj, key, arr);
    } else if (mb) {
        hh_jstr(req, obj, key, mb);
    }
    free(mb);
    free(addr);
    free(name);
}

/* ---------------------------------------------------------------- content */

static json_t *text_part(hh_request *req, const char *data)
{
    json_t *o = json_object();
    if (o) {
        hh_jstr(req, o, "Data", data);
        hh_jstr(req, o, "Charset", "UTF-8");
    }
    return o;
}

static json_t *simple_content(const herald_host *host, const herald_msg *msg,
                              hh_request *req)
{
    json_t *simple = json_object(), *body = json_object();
    const char *subject = host->msg_get(msg, HERALD_FIELD_SUBJECT);
    hh_jset(req, simple, "Subject", text_part(req, subject ? subject : ""));
    if (host->msg_get(msg, HERALD_FIELD_TEXT))
        hh_jset(req, body, "Text", text_part(req, host->msg_get(msg, HERALD_FIELD_TEXT)));
    if (host->msg_get(msg, HERALD_FIELD_HTML))
        hh_jset(req, body, "Html", text_part(req, host->msg_get(msg, HERALD_FIELD_HTML)));
    hh_jset(req, simple, "Body", body);
    hh_jpairs_array(req, simple, "Headers", msg, HERALD_LIST_HEADERS, "Name", "Value");
    static const struct hh_attachment_keys att = {"FileName", "RawContent",
                                                  "ContentType", "ContentDisposition",
                                                  "ATTACHMENT"};
    hh_jattachments(req, simple, "Attachments", msg, &att);
    return simple;
}

static herald_class raw_content(const herald_host *host, const herald_msg *msg,
                                hh_request *req, json_t **raw_r,
                                herald_error **err_r)
{
    char *mime = NULL;
    size_t len = 0;
    herald_class rc = host->render_mime(msg, HERALD_MIME_NO_HERALD_HEADERS, &mime,
                                        &len, err_r);
    if (rc != HERALD_OK)
        return rc;
    json_t *raw = json_object();
    hh_jbase64(req, raw, "Data", (const unsigned char *)mime, len);
    host->free(mime);
    *raw_r = raw;
    return HERALD_OK;
}

/* ---------------------------------------------------------------- signing */

static void sign(hh_client *c, struct ses *s, hh_request *req)
{
    char date[17];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y%m%dT%H%M%SZ", &tm);
    size_t blen, n = 0;
    const char *body = hh_body(req, &blen);
    struct sigv4_header h[4];
    if (blen)   /* a GET (the check) has no body and no Content-Type */
        h[n++] = (struct sigv4_header){"content-type", "application/json"};
    h[n++] = (struct sigv4_header){"host", hh_authority(c)};
    h[n++] = (struct sigv4_header){"x-amz-date", date};
    if (s->session_token)
        h[n++] = (struct sigv4_header){"x-amz-security-token", s->session_token};
    struct sigv4_request r = {
        .method = hh_method(req), .path = hh_path(req), .query = "",
        .headers = h, .n_headers = n,
        .payload = body, .payload_len = blen,
        .access_key_id = s->access_key_id, .secret = s->secret,
        .region = s->region, .service = "ses", .amz_date = date,
    };
    char *auth = sigv4_authorization(&r);
    if (!auth) {
        hh_fail_request(req, HERALD_ERR_INTERNAL, "cannot compute the SigV4 signature");
        return;
    }
    hh_header(req, "Host", hh_authority(c));
    hh_header(req, "X-Amz-Date", date);
    if (s->session_token)
        hh_secret_header(req, "X-Amz-Security-Token", "", s->session_token);
    hh_header(req, "Authorization", auth);
    free(auth);
}

static herald_class ses_build(hh_client *c, void *priv, const herald_msg *msg,
                              hh_request *req, herald_error **err_r)
{
    struct ses *s = priv;
    const herald_host *host = hh_host(c);
    hh_set_path(req, "POST", "/v2/email/outbound-emails");
    json_t *root = json_object(), *dest = json_object(), *content = NULL;
    set_address(req, root, "FromEmailAddress", host->msg_get(msg, HERALD_FIELD_FROM), 0);
    static const char *const lists[3] = {"ToAddresses", "CcAddresses", "BccAddresses"};
    hh_jrecipients(req, dest, msg, lists, encoded_mailbox);
    hh_jset(req, root, "Destination", dest);
    set_address(req, root, "ReplyToAddresses", host->msg_get(msg, HERALD_FIELD_REPLY_TO), 1);
    if (s->raw) {
        json_t *raw = NULL;
        herald_class rc = raw_content(host, msg, req, &raw, err_r);
        if (rc != HERALD_OK) {
            json_decref(root);
            return rc;
        }
        content = json_pack("{s:o}", "Raw", raw);
    } else {
        content = json_pack("{s:o}", "Simple", simple_content(host, msg, req));
    }
    hh_jset(req, root, "Content", content);
    hh_jstr(req, root, "ConfigurationSetName", s->configuration_set);
    /* EmailTags: each herald tag becomes {Name: tag, Value: "true"}. */
    hh_jnamed_tags(req, root, "EmailTags", msg, SES_MAX_TAGS, "SES", "Name", "Value");
    hh_body_json(req, root);
    sign(c, s, req);
    return HERALD_OK;
}

/* SES error types that say more than their HTTP status. */
static const struct {
    const char *type;
    herald_class cls;
    const char *hint;
} ses_errors[] = {
    {"MailFromDomainNotVerifiedException", HERALD_ERR_SENDER_REJECTED,
     "verify the sender's domain (or its MAIL FROM domain) in SES"},
    {"MessageRejected", HERALD_ERR_PERMANENT,
     "the SES text names the identity that failed; verify it in SES (in the sandbox, "
     "recipients must be verified too)"},
    {"AccountSuspendedException", HERALD_ERR_PERMANENT,
     "sending is suspended for this AWS account; see the SES console"},
    {"SendingPausedException", HERALD_ERR_PERMANENT,
     "sending is paused for the account or configuration set; resume it in SES"},
    {"TooManyRequestsException", HERALD_ERR_RATE_LIMITED, NULL},
    {"LimitExceededException", HERALD_ERR_RATE_LIMITED, NULL},
    {"NotFoundException", HERALD_ERR_CONFIG,
     "check configuration_set and region: SES does not know the resource"},
    {"InvalidSignatureException", HERALD_ERR_AUTH,
     "check secret_access_key and this machine's clock (AWS allows 15 minutes of skew)"},
    {"SignatureDoesNotMatch", HERALD_ERR_AUTH,
     "check secret_access_key (and region)"},
};

static void ses_problem(hh_client *c, void *priv, const hh_response *resp,
                        hh_problem *p)
{
    (void)c;
    (void)priv;
    /* x-amzn-ErrorType: "MessageRejected:http://internal.amazon.com/..." */
    const char *type = hh_response_header(resp, "x-amzn-ErrorType", p->hint_buf,
                                          sizeof p->hint_buf);
    if (type) {
        size_t n = strcspn(type, ":");
        snprintf(p->text_buf, sizeof p->text_buf, "%.*s", (int)n, type);
        p->code = p->text_buf;
        for (size_t i = 0; i < sizeof ses_errors / sizeof ses_errors[0]; i++)
            if (strcmp(p->code, ses_errors[i].type) == 0) {
                p->cls = ses_errors[i].cls;
                p->hint = ses_errors[i].hint;
            }
    }
    json_t *json = hh_response_json(resp);
    p->text = hh_json_string(json, "message");
    if (!p->text)
        p->text = hh_json_string(json, "Message");
}

/* `herald doctor`: the account, with a signed GET (which sends nothing). */
static void ses_check_request(hh_client *c, void *priv, hh_request *req)
{
    hh_set_path(req, "GET", "/v2/email/account");
    sign(c, priv, req);
}

/* An account whose sending is off, or still in the SES sandbox. */
static int ses_check_answer(hh_client *c, void *priv, const hh_response *resp,
                            hh_verdict *v)
{
    struct ses *s = priv;
    (void)c;
    if (resp->status < 200 || resp->status >= 300)
        return 0;
    json_t *account = hh_response_json(resp);
    if (json_is_false(json_object_get(account, "SendingEnabled"))) {
        v->status = HERALD_CHECK_FAIL;
        v->fix = "see the SES console's account dashboard (EnforcementStatus) and "
                 "re-enable sending there";
        snprintf(v->detail_buf, sizeof v->detail_buf, "credentials accepted; sending "
                 "is disabled for this account in %s", s->region);
    } else if (json_is_false(json_object_get(account, "ProductionAccessEnabled"))) {
        v->status = HERALD_CHECK_WARN;
        v->fix = "request production access in the SES console (Account dashboard), "
                 "or verify each recipient while testing";
        snprintf(v->detail_buf, sizeof v->detail_buf, "credentials accepted; the "
                 "account is in the SES sandbox in %s: it sends only to verified "
                 "addresses", s->region);
    } else {
        snprintf(v->detail_buf, sizeof v->detail_buf, "credentials accepted; sending "
                 "enabled in %s", s->region);
    }
    v->detail = v->detail_buf;
    return 1;
}

static const hh_provider ses_provider = {
    HH_PROVIDER_FIELDS(ses),
    /* SendEmail (v2): 200 {"MessageId": "..."} */
    .shape = {.id_member = "MessageId"},
    .credential = "access_key_id, secret_access_key, session_token and region",
    .check_answer = ses_check_answer,
};

static herald_class ses_init(const herald_host *host, herald_channel *ch,
                             void **state_r, herald_error **err_r)
{
    struct ses *s = calloc(1, sizeof *s);
    char base[160];
    const char *region = host->opt_str(ch, "region");
    if (strlen(region) > 64 || !*region ||
        strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region)) {
        free(s);
        herald_class rc = host->error(err_r, HERALD_ERR_CONFIG, NULL, NULL, -1,
                                      "region = %s is not an AWS region name", region);
        host->error_fix(*err_r, "write it like us-east-1 or eu-west-1");
        return rc;
    }
    if (s) {
        s->access_key_id = host->opt_str(ch, "access_key_id");
        s->secret = host->opt_str(ch, "secret_access_key");
        s->session_token = host->opt_str(ch, "session_token");
        if (s->session_token && !*s->session_token)
            s->session_token = NULL;
        s->region = region;
        s->configuration_set = host->opt_str(ch, "configuration_set");
        s->raw = strcmp(host->opt_str(ch, "content"), "raw") == 0;
    }
    snprintf(base, sizeof base, "https://email.%s.amazonaws.com", region);
    return hh_client_new(host, ch, &ses_provider, base, s, state_r, err_r);
}

HH_PLUGIN_DEFINE(ses, "Amazon SES API v2 (SigV4-signed HTTPS)",
    HERALD_CAP_EMAIL | HERALD_CAP_TEXT | HERALD_CAP_HTML |
    HERALD_CAP_ATTACHMENTS | HERALD_CAP_CC_BCC | HERALD_CAP_REPLY_TO |
    HERALD_CAP_HEADERS | HERALD_CAP_TAGS,
    ses_options, ses_init)
