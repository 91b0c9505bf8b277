/* libherald/base/base64.c - the one base64 encoder and decoder. */
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

/* The value of base64 character @c, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int hb_base64_decode(struct hbuf *b, const char *s, size_t n)
{
    unsigned long v = 0;
    size_t bits = 0, pad = 0, chars = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int d = b64_value(c);
        if (d < 0 || pad)
            return -1; /* not base64, or data after the padding */
        chars++;
        v = (v << 6) | (unsigned long)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            hbuf_addc(b, (char)((v >> bits) & 0xff));
        }
    }
    if (chars % 4 == 1 || pad > 2 || (pad && (chars + pad) % 4 != 0))
        return -1;
    return b->oom ? -1 : 0;
}
