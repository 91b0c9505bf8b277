/* libherald/base/escape.c - escaping text: outside text made safe for a
 * terminal (hb_escape_text), and the backslash-escaped quoted-string of
 * mail headers and multipart forms (hb_quote_string). */
#include "config.h"
#include "base.h"

void hb_escape_text(struct hbuf *b, const char *s, size_t len, unsigned flags)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        size_t n = hb_utf8_seq_len(p, (size_t)(end - p));
        if (n == 0) {                         /* not UTF-8 */
            hbuf_printf(b, "\\x%02x", *p++);
        } else if (n == 2 && p[0] == 0xc2 && p[1] <= 0x9f) {   /* C1 */
            hbuf_printf(b, "\\u%04x", p[1]);
            p += n;
        } else if (n > 1) {
            hbuf_add(b, p, n);
            p += n;
        } else if ((*p == '\t' && (flags & HB_ESC_KEEP_TAB)) ||
                   (*p == '\n' && (flags & HB_ESC_KEEP_NL))) {
            hbuf_addc(b, (char)*p++);
        } else if (*p < 0x20 || *p == 0x7f) {
            const char *named = *p == 0x1b ? "\\e" : *p == '\r' ? "\\r" :
                                *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : NULL;
            if (named)
                hbuf_adds(b, named);
            else
                hbuf_printf(b, "\\x%02x", *p);
            p++;
        } else {
            hbuf_addc(b, (char)*p++);
        }
    }
}

void hb_quote_string(struct hbuf *b, const char *s)
{
    hbuf_addc(b, '"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            hbuf_addc(b, '\\');
        hbuf_addc(b, *s);
    }
    hbuf_addc(b, '"');
}
