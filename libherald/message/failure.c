/* libherald/message/failure.c - how a setter says no: the first failure is
 * recorded on the message (what, and separately the fix) for
 * hm_validate to report; values in messages are shown escaped. */
#include "../internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHOWN 60

const char hm_one_line[] =
    "contains CR, LF or NUL; a header value must be one line";
const char hm_not_utf8[] = "is not valid UTF-8";
const char hm_fix_utf8[] = "convert it to UTF-8 first";

int hm_has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 32 && *p != '\t') || *p == 127)
            return 1;
    return 0;
}

const char *hm_line_problem(const char *s, const char **fix_r)
{
    if (hx_has_crlf(s))
        return hm_one_line;
    if (!hb_utf8_valid(s, strlen(s))) {
        *fix_r = hm_fix_utf8;
        return hm_not_utf8;
    }
    return NULL;
}

char *hm_show(const char *s)
{
    struct hbuf b = {0};
    size_t n = strlen(s), cut = n;
    if (n > MAX_SHOWN) {
        cut = MAX_SHOWN;
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80)
            cut--;
    }
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r')
            hbuf_adds(&b, "\\r");
        else if (c == '\n')
            hbuf_adds(&b, "\\n");
        else if (c == '\t')
            hbuf_adds(&b, "\\t");
        else if (c < 32 || c == 127)
            hbuf_printf(&b, "\\x%02x", c);
        else
            hbuf_addc(&b, (char)c);
    }
    if (cut < n)
        hbuf_adds(&b, "...");
    return hbuf_steal(&b, NULL);
}

herald_class hm_fail(herald_msg *msg, herald_class cls, const char *fix,
                     const char *fmt, ...)
{
    if (!msg || msg->bad_what)
        return cls;
    va_list ap;
    va_start(ap, fmt);
    char *what = hx_vprintf(fmt, ap);
    va_end(ap);
    char *f = hx_strdup(fix);
    if (!what || (fix && !f)) {
        free(what);
        free(f);
        return cls;
    }
    msg->bad_cls = cls;
    msg->bad_what = what;
    msg->bad_fix = f;
    return cls;
}

herald_class hm_fail_value(herald_msg *msg, herald_class cls,
                           const char *label, const char *value,
                           const char *why, const char *fix)
{
    char *v = hm_show(value);
    hm_fail(msg, cls, fix, "%s '%s': %s", label, v ? v : "?", why);
    free(v);
    return cls;
}

herald_class hm_oom(herald_msg *msg, const char *label)
{
    return hm_fail(msg, HERALD_ERR_INTERNAL, NULL, "%s: out of memory", label);
}

herald_class hm_usage(herald_msg *msg, const char *label)
{
    return hm_fail(msg, HERALD_ERR_USAGE, NULL, "%s: NULL argument", label);
}
