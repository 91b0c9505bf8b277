/* libherald/base/json.c - the one JSON string escaping (see base.h). */
#include "config.h"
#include "base.h"

/* The escape of @ch (a backslash, then one of the short forms or u00XX)
 * into @esc; returns its length. */
static size_t escape_of(unsigned char ch, char esc[6])
{
    static const char hex[] = "0123456789ABCDEF";
    char named = 0;
    switch (ch) {
    case '"': named = '"'; break;
    case '\\': named = '\\'; break;
    case '\b': named = 'b'; break;
    case '\f': named = 'f'; break;
    case '\n': named = 'n'; break;
    case '\r': named = 'r'; break;
    case '\t': named = 't'; break;
    }
    esc[0] = '\\';
    esc[1] = named ? named : 'u';
    if (named)
        return 2;
    esc[2] = esc[3] = '0';
    esc[4] = hex[ch >> 4];
    esc[5] = hex[ch & 15];
    return 6;
}

void hb_json_escape(struct hbuf *b, const char *s, size_t n)
{
    size_t start = 0;
    char esc[6];
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        hbuf_add(b, s + start, i - start);
        hbuf_add(b, esc, escape_of(ch, esc));
        start = i + 1;
    }
    hbuf_add(b, s + start, n - start);
}
