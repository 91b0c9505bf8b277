/* libherald/message/validate.c - the one place that decides whether a
 * message may go to a driver.  The setters have already checked every
 * value they took (syntax, CR/LF/NUL, UTF-8) and recorded the first
 * failure; this reports that failure, then checks only what depends on
 * the channel and the limits: recipients, a body, a sender, the
 * recipient count and the size on the wire.  Drivers trust the result. */
#include "../internal.h"

#include <string.h>

static size_t mailbox_size(const struct hm_mailbox *mb)
{
    return mb ? strlen(mb->full) : 0;
}

static size_t slen(const char *s)
{
    return s ? strlen(s) : 0;
}

/* Everything that ends up in the message before encoding: header values,
 * bodies, attachments (only named in the too-large error). */
static size_t raw_size(const herald_msg *msg)
{
    size_t n = slen(msg->subject) + slen(msg->text) + slen(msg->html) +
               mailbox_size(msg->from) + mailbox_size(msg->reply_to);
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < msg->n_rcpt[k]; i++)
            n += mailbox_size(&msg->rcpt[k][i]);
    for (size_t i = 0; i < msg->n_headers; i++)
        n += strlen(msg->headers[i].key) + strlen(msg->headers[i].value);
    for (size_t i = 0; i < msg->n_metadata; i++)
        n += strlen(msg->metadata[i].key) + strlen(msg->metadata[i].value);
    for (size_t i = 0; i < msg->n_tags; i++)
        n += strlen(msg->tags[i]);
    for (size_t i = 0; i < msg->n_att; i++)
        n += msg->att[i].len + strlen(msg->att[i].filename);
    return n;
}

/* An error of class @cls: the formatted what as its message, @fix (may
 * be NULL) as its fix.  Returns @cls. */
static herald_class report(herald_error **err_r, herald_class cls,
                           const char *fix, const char *fmt, ...)
    HERALD_PRINTF(4, 5);
static herald_class report(herald_error **err_r, herald_class cls,
                           const char *fix, const char *fmt, ...)
{
    if (!err_r || *err_r)
        return cls;
    va_list ap;
    va_start(ap, fmt);
    hx_error_full(err_r, cls, NULL, NULL, -1, fmt, ap);
    va_end(ap);
    if (fix)
        hx_error_set_fix(*err_r, "%s", fix);
    return cls;
}

#define invalid(err_r, fix, ...) \
    report(err_r, HERALD_ERR_INVALID_MESSAGE, fix, __VA_ARGS__)

/* Checks in order: a recorded setter failure, recipients, body, sender,
 * then the limits (a NULL @lim or a 0 field means the default). */
herald_class hm_validate(const herald_msg *msg, const struct hm_limits *lim,
                         int need_from, herald_error **err_r)
{
    if (!msg)
        return report(err_r, HERALD_ERR_USAGE, "create one with "
                      "herald_msg_new", "no message given");
    if (msg->bad_what)
        return report(err_r, msg->bad_cls, msg->bad_fix,
                      "invalid message: %s", msg->bad_what);
    size_t max_rcpt = lim && lim->max_recipients ? lim->max_recipients
                                                 : HM_DEFAULT_MAX_RECIPIENTS;
    size_t max_size = lim && lim->max_size ? lim->max_size
                                           : HM_DEFAULT_MAX_SIZE;
    size_t n_rcpt = msg->n_rcpt[HM_TO] + msg->n_rcpt[HM_CC] +
                    msg->n_rcpt[HM_BCC];
    if (n_rcpt == 0)
        return invalid(err_r, "add one with herald_msg_add_to or --to",
                       "the message has no recipient");
    if (!msg->text && !msg->html)
        return invalid(err_r, "set one with herald_msg_set_text or "
                       "herald_msg_set_html", "the message has no body");
    if (need_from && !msg->from)
        return invalid(err_r, "set From on the message or `from = ...` in "
                       "the channel section", "the message has no sender");
    if (n_rcpt > max_rcpt)
        return invalid(err_r, "split it into several messages or raise "
                       "`max_recipients` in the [herald] section",
                       "the message has %zu recipients, more than the limit "
                       "of %zu", n_rcpt, max_rcpt);
    /* The size on the wire: base64 attachments and quoted-printable
     * bodies grow by a third or more, so the raw size is not enough. */
    size_t size = 0;
    herald_class rc = hmime_size(msg, 0, &size, err_r);
    if (rc != HERALD_OK)
        return rc;
    if (size > max_size)
        return invalid(err_r, "send smaller attachments or raise "
                       "`max_message_size` in the [herald] section",
                       "the message is %zu bytes as sent (encoded: "
                       "attachments in base64, bodies in quoted-printable "
                       "where needed; %zu bytes before encoding), more than "
                       "the limit of %zu bytes (max_message_size)", size,
                       raw_size(msg), max_size);
    return HERALD_OK;
}

herald_class herald_msg_validate(const herald_msg *msg, herald_error **err_r)
{
    return hm_validate(msg, NULL, 0, err_r);
}
