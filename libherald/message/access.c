/* libherald/message/access.c - the host-table accessors (see herald_host
 * in plugin.h).  Drivers get messages hm_validate accepted, so these only
 * read: no check is repeated here. */
#include "../internal.h"

const char *hm_get(const herald_msg *msg, herald_field field)
{
    if (!msg)
        return NULL;
    switch (field) {
    case HERALD_FIELD_FROM:
        return msg->from ? msg->from->full : NULL;
    case HERALD_FIELD_FROM_ADDRESS:
        return msg->from ? msg->from->addr : NULL;
    case HERALD_FIELD_FROM_NAME:
        return msg->from ? msg->from->name : NULL;
    case HERALD_FIELD_REPLY_TO:
        return msg->reply_to ? msg->reply_to->full : NULL;
    case HERALD_FIELD_SUBJECT:
        return msg->subject;
    case HERALD_FIELD_TEXT:
        return msg->text;
    case HERALD_FIELD_HTML:
        return msg->html;
    case HERALD_FIELD_IDEMPOTENCY_KEY:
        return msg->idempotency_key;
    }
    return NULL;
}

size_t hm_count(const herald_msg *msg, herald_list list)
{
    if (!msg)
        return 0;
    switch (list) {
    case HERALD_LIST_TO:
        return msg->n_rcpt[HM_TO];
    case HERALD_LIST_CC:
        return msg->n_rcpt[HM_CC];
    case HERALD_LIST_BCC:
        return msg->n_rcpt[HM_BCC];
    case HERALD_LIST_HEADERS:
        return msg->n_headers;
    case HERALD_LIST_METADATA:
        return msg->n_metadata;
    case HERALD_LIST_TAGS:
        return msg->n_tags;
    case HERALD_LIST_ATTACHMENTS:
        return msg->n_att;
    }
    return 0;
}

const char *hm_address(const herald_msg *msg, herald_list list, size_t i,
                       const char **name_r)
{
    if (name_r)
        *name_r = NULL;
    if (!msg || (unsigned)list > HERALD_LIST_BCC)
        return NULL;
    /* HERALD_LIST_TO/CC/BCC have the values of HM_TO/CC/BCC. */
    if (i >= msg->n_rcpt[list])
        return NULL;
    const struct hm_mailbox *mb = &msg->rcpt[list][i];
    if (name_r)
        *name_r = mb->name;
    return mb->addr;
}

int hm_pair(const herald_msg *msg, herald_list list, size_t i,
            const char **key_r, const char **value_r)
{
    const struct hm_pair *p = NULL;
    if (msg && list == HERALD_LIST_HEADERS && i < msg->n_headers)
        p = &msg->headers[i];
    else if (msg && list == HERALD_LIST_METADATA && i < msg->n_metadata)
        p = &msg->metadata[i];
    if (key_r)
        *key_r = p ? p->key : NULL;
    if (value_r)
        *value_r = p ? p->value : NULL;
    return p ? 0 : -1;
}

const char *hm_item(const herald_msg *msg, herald_list list, size_t i)
{
    if (!msg || list != HERALD_LIST_TAGS || i >= msg->n_tags)
        return NULL;
    return msg->tags[i];
}

int hm_attachment(const herald_msg *msg, size_t i, const char **filename_r,
                  const char **type_r, const unsigned char **data_r,
                  size_t *len_r)
{
    const struct hm_attachment *a = msg && i < msg->n_att ? &msg->att[i]
                                                          : NULL;
    if (filename_r)
        *filename_r = a ? a->filename : NULL;
    if (type_r)
        *type_r = a ? a->type : NULL;
    if (data_r)
        *data_r = a ? a->data : NULL;
    if (len_r)
        *len_r = a ? a->len : 0;
    return a ? 0 : -1;
}
