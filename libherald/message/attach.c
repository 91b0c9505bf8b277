/* libherald/message/attach.c - attachments: file name and media type
 * checks, herald_msg_attach_data / _file, and the type guessed from a
 * file name. */
#include "../internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FILENAME 255
#define MAX_TYPE_NAME 127   /* type or subtype of a media type, RFC 6838 */

/* tspecials of RFC 2045 plus space and controls end a token. */
static size_t token_len(const char *s)
{
    size_t n = 0;
    while (s[n] > 32 && s[n] < 127 && !strchr("()<>@,;:\\\"/[]?=", s[n]))
        n++;
    return n;
}

/* Why @t is not a usable MIME type "type/subtype", or NULL; *fix_r gets
 * what to do when there is something to say. */
static const char *content_type_problem(const char *t, const char **fix_r)
{
    static const char registered[] =
        "use a registered type such as application/octet-stream";
    if (hx_has_crlf(t))
        return hm_one_line;
    size_t a = token_len(t);
    size_t b = a && t[a] == '/' ? token_len(t + a + 1) : 0;
    if (b == 0 || t[a + 1 + b] != '\0') {
        *fix_r = "leave it NULL to guess from the file name";
        return "is not type/subtype (e.g. application/pdf)";
    }
    if (a > MAX_TYPE_NAME) {
        *fix_r = registered;
        return "has a type (before the /) longer than 127 characters, the "
               "limit of RFC 6838";
    }
    if (b > MAX_TYPE_NAME) {
        *fix_r = registered;
        return "has a subtype (after the /) longer than 127 characters, the "
               "limit of RFC 6838";
    }
    return NULL;
}

static const char *filename_problem(const char *name, const char **fix_r)
{
    const char *why = hm_line_problem(name, fix_r);
    if (why)
        return why;
    if (!*name) {
        *fix_r = "give the attachment a file name";
        return "is empty";
    }
    if (strlen(name) > MAX_FILENAME)
        return "is longer than 255 bytes";
    if (hm_has_control(name))
        return "contains a control character";
    return NULL;
}

herald_class herald_msg_attach_data(herald_msg *msg, const void *data,
                                    size_t len, const char *filename,
                                    const char *content_type)
{
    if (!msg)
        return HERALD_ERR_USAGE;
    if (!filename || (!data && len))
        return hm_usage(msg, "attachment");
    const char *fix = NULL, *why = filename_problem(filename, &fix);
    if (why)
        return hm_fail_value(msg, HERALD_ERR_INVALID_MESSAGE,
                             "attachment filename", filename, why, fix);
    if (!content_type)
        content_type = hm_guess_type(filename);
    if ((why = content_type_problem(content_type, &fix)) != NULL) {
        char *f = hm_show(filename), *t = hm_show(content_type);
        hm_fail(msg, HERALD_ERR_INVALID_MESSAGE, fix,
                "attachment '%s': content type '%s' %s", f ? f : "?",
                t ? t : "?", why);
        free(f);
        free(t);
        return HERALD_ERR_INVALID_MESSAGE;
    }
    struct hm_attachment a = {0};
    a.filename = hx_strdup(filename);
    a.type = hx_strdup(content_type);
    a.data = malloc(len ? len : 1);
    struct hm_attachment *v = a.filename && a.type && a.data
        ? hx_grow(msg->att, msg->n_att, sizeof *v) : NULL;
    if (!v) {
        free(a.filename);
        free(a.type);
        free(a.data);
        return hm_oom(msg, "attachment");
    }
    if (len)
        memcpy(a.data, data, len);
    a.len = len;
    msg->att = v;
    v[msg->n_att++] = a;
    return HERALD_OK;
}

herald_class herald_msg_attach_file(herald_msg *msg, const char *path,
                                    const char *filename,
                                    const char *content_type)
{
    if (!msg)
        return HERALD_ERR_USAGE;
    if (!path)
        return hm_usage(msg, "attachment");
    if (!filename) {
        const char *slash = strrchr(path, '/');
        filename = slash ? slash + 1 : path;
    }
    size_t len = 0;
    char *data = NULL, *why = NULL;
    /* A message has no context, so the limit is the default
     * max_message_size; herald_send checks the context's own limit. */
    if (hb_read_file(path, HM_DEFAULT_MAX_SIZE, "the default "
                     "max_message_size", 0, &data, &len, &why) != 0) {
        int e = errno;
        herald_class cls = e == ENOMEM || !why ? HERALD_ERR_INTERNAL
                                               : HERALD_ERR_INVALID_MESSAGE;
        char *p = why && hm_has_control(why) ? hm_show(why) : NULL;
        hm_fail(msg, cls, e == ENOENT || e == EACCES
                              ? "check the path and its permissions"
                              : e == EFBIG ? "send a smaller file" : NULL,
                "attachment: %s", p ? p : why ? why : "out of memory");
        free(p);
        free(why);
        return cls;
    }
    herald_class rc = herald_msg_attach_data(msg, data, len, filename,
                                             content_type);
    free(data);
    return rc;
}

static const struct {
    const char *ext, *type;
} known_types[] = {
    {"txt", "text/plain"},       {"log", "text/plain"},
    {"html", "text/html"},       {"htm", "text/html"},
    {"csv", "text/csv"},         {"json", "application/json"},
    {"xml", "application/xml"},  {"pdf", "application/pdf"},
    {"png", "image/png"},        {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},      {"gif", "image/gif"},
    {"svg", "image/svg+xml"},    {"zip", "application/zip"},
    {"gz", "application/gzip"},  {"tar", "application/x-tar"},
    {"ics", "text/calendar"},    {"eml", "message/rfc822"},
};

const char *hm_guess_type(const char *filename)
{
    const char *dot = filename ? strrchr(filename, '.') : NULL;
    if (dot && !strchr(dot, '/'))
        for (size_t i = 0; i < sizeof known_types / sizeof *known_types; i++)
            if (strcasecmp(dot + 1, known_types[i].ext) == 0)
                return known_types[i].type;
    return "application/octet-stream";
}
