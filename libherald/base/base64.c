/* libherald/base/base64.c - the one base64 encoder. */
#include "config.h"
#include "base.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Base64 of @n bytes; with @wrap76 in lines of 76 characters, each ending
 * in CRLF (the last one too). */
void hb_base64(struct hbuf *b, const unsigned char *p, size_t n,
                  int wrap76)
{
    if (b->count) {
        size_t chars = (n / 3 + (n % 3 != 0)) * 4;
        b->len += chars + (wrap76 ? (chars + 75) / 76 * 2 : 0);
        return;
    }
    char line[80];
    size_t col = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned long v = (unsigned long)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned long)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        line[col++] = b64_alphabet[(v >> 18) & 63];
        line[col++] = b64_alphabet[(v >> 12) & 63];
        line[col++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        line[col++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
        if (col == 76 || i + 3 >= n) {
            if (wrap76) {
                line[col++] = '\r';
                line[col++] = '\n';
            }
            hbuf_add(b, line, col);
            col = 0;
        }
    }
}
