/* tests/libherald/test_mime.c - the RFC 5322 / MIME renderer: line endings and
 * lengths, no Bcc, encoded words, structure, transfer encodings. */
#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "testutil.h"

/* Grüße aus München 😀 */
#define SUBJECT_UTF8 "Gr\xc3\xbc\xc3\x9f" "e aus M\xc3\xbcnchen \xf0\x9f\x98\x80"
/* Jörg Müller */
#define NAME_UTF8 "J\xc3\xb6rg M\xc3\xbcller"

/* ---- helpers --------------------------------------------------------- */

static char *render(const herald_msg *m, unsigned flags, size_t *len_r)
{
    char *out = NULL;
    size_t len = 0;
    herald_error *err = NULL;
    herald_class rc = hmime_render(m, flags, &out, &len, &err);
    cr_assert_eq(rc, HERALD_OK, "render failed: %s", herald_error_message(err));
    cr_assert_not_null(out);
    cr_assert_eq(strlen(out), len, "rendered message has a NUL");
    if (len_r)
        *len_r = len;
    return out;
}

/* CRLF only and no line longer than @max octets. */
static void assert_lines(const char *s, size_t n, size_t max)
{
    size_t line = 0, lineno = 1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\r') {
            cr_assert(i + 1 < n && s[i + 1] == '\n', "bare CR at %zu", i);
            i++;
            line = 0;
            lineno++;
            continue;
        }
        cr_assert_neq(s[i], '\n', "bare LF at %zu", i);
        line++;
        cr_assert_leq(line, max, "line %zu is longer than %zu", lineno, max);
    }
}

/* Length of the header section including its final blank line. */
static size_t header_len(const char *s)
{
    const char *e = strstr(s, "\r\n\r\n");
    cr_assert_not_null(e);
    return (size_t)(e - s) + 4;
}

/* The value of header @name in the header block starting at @s (up to
 * its blank line), unfolded, without the space after the colon; malloc'd,
 * or NULL when absent. */
static char *header(const char *s, const char *name)
{
    size_t hl = header_len(s), nl = strlen(name);
    const char *p = s;
    while (p < s + hl - 2) {
        const char *eol = strstr(p, "\r\n");
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            struct hbuf b = {0};
            const char *v = p + nl + 1;
            if (*v == ' ')
                v++;
            for (;;) {
                hbuf_add(&b, v, (size_t)(eol - v));
                if (eol[2] != ' ' && eol[2] != '\t')
                    break;
                v = eol + 2;
                eol = strstr(v, "\r\n");
            }
            return hbuf_steal(&b, NULL);
        }
        p = eol + 2;
    }
    return NULL;
}

/* Offset of header @name in the top-level header block, or -1. */
static long header_pos(const char *s, const char *name)
{
    size_t hl = header_len(s), nl = strlen(name);
    for (const char *p = s; p < s + hl; p = strstr(p, "\r\n") + 2)
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':')
            return p - s;
    return -1;
}

static int b64_value(char c)
{
    const char *a =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(a, c) : NULL;
    return p ? (int)(p - a) : -1;
}

/* Decode base64 in @s (length @n), skipping CR, LF and spaces; stops at
 * the first '='.  Returns malloc'd bytes (NUL-terminated) and the length. */
static unsigned char *b64_decode(const char *s, size_t n, size_t *len_r)
{
    unsigned char *out = malloc(n / 4 * 3 + 4);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    cr_assert_not_null(out);
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        if (s[i] == '\r' || s[i] == '\n' || s[i] == ' ')
            continue;
        int v = b64_value(s[i]);
        cr_assert_geq(v, 0, "bad base64 character '%c'", s[i]);
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    out[o] = '\0';
    *len_r = o;
    return out;
}

/* Decode a header value made of RFC 2047 B encoded words (and plain
 * words); asserts every encoded word is at most 75 characters and decodes
 * to whole UTF-8 characters. */
static char *decode_words(const char *v)
{
    struct hbuf b = {0};
    int prev_ew = 0;
    while (*v) {
        while (*v == ' ' || *v == '\t')
            v++;
        if (!*v)
            break;
        const char *end = v;
        while (*end && *end != ' ' && *end != '\t')
            end++;
        size_t n = (size_t)(end - v);
        if (n > 12 && strncmp(v, "=?UTF-8?B?", 10) == 0 &&
            strncmp(end - 2, "?=", 2) == 0) {
            cr_assert_leq(n, 75, "encoded word of %zu characters", n);
            size_t len;
            unsigned char *raw = b64_decode(v + 10, n - 12, &len);
            cr_assert(len > 0 && (raw[0] & 0xC0) != 0x80,
                      "encoded word starts inside a UTF-8 character");
            hbuf_add(&b, raw, len);
            free(raw);
            prev_ew = 1;
        } else {
            if (b.len && !prev_ew)
                hbuf_addc(&b, ' ');
            hbuf_add(&b, v, n);
            prev_ew = 0;
        }
        v = end;
    }
    return hbuf_steal(&b, NULL);
}

static int hexval(char c)
{
    return isdigit((unsigned char)c) ? c - '0' : c - 'A' + 10;
}

/* Decode quoted-printable; asserts every encoded line is at most 76. */
static char *qp_decode(const char *s, size_t n)
{
    assert_lines(s, n, 76);
    struct hbuf b = {0};
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=' && s[i + 1] == '\r' && s[i + 2] == '\n') {
            i += 2;
        } else if (s[i] == '=') {
            cr_assert(isxdigit((unsigned char)s[i + 1]) &&
                      isxdigit((unsigned char)s[i + 2]));
            hbuf_addc(&b, (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2])));
            i += 2;
        } else {
            hbuf_addc(&b, s[i]);
        }
    }
    hbuf_add(&b, "", 0);
    return hbuf_steal(&b, NULL);
}

/* The body of the first part whose headers contain @marker: from the
 * blank line after the marker up to the next "\r\n--". */
static const char *part_body(const char *msg, const char *marker,
                             size_t *len_r)
{
    const char *m = strstr(msg, marker);
    cr_assert_not_null(m, "no part with '%s'", marker);
    const char *b = strstr(m, "\r\n\r\n");
    cr_assert_not_null(b);
    b += 4;
    const char *e = strstr(b, "\r\n--");
    *len_r = e ? (size_t)(e - b) : strlen(b);
    return b;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* The boundary parameter of the Content-Type in @ct. */
static char *boundary_of(const char *ct)
{
    const char *p = strstr(ct, "boundary=\"");
    cr_assert_not_null(p, "no boundary in '%s'", ct);
    p += 10;
    return hx_strndup(p, strcspn(p, "\""));
}

static herald_msg *simple_msg(const char *text)
{
    herald_msg *m = herald_msg_new();
    cr_assert_eq(herald_msg_set_from(m, "Sender <sender@mail.example.org>"),
                 HERALD_OK);
    cr_assert_eq(herald_msg_add_to(m, "to@example.com"), HERALD_OK);
    cr_assert_eq(herald_msg_set_subject(m, "hello"), HERALD_OK);
    if (text)
        cr_assert_eq(herald_msg_set_text(m, text), HERALD_OK);
    return m;
}

/* The message of the assignment: non-ASCII subject and display name,
 * text + HTML, two attachments (one with every byte value), a Bcc. */
static herald_msg *full_msg(unsigned char *bytes)
{
    herald_msg *m = herald_msg_new();
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)i;
    cr_assert_eq(herald_msg_set_from(m, NAME_UTF8 " <joerg@example.org>"),
                 HERALD_OK);
    cr_assert_eq(herald_msg_add_to(m, "\"Doe, John\" <john@example.com>"),
                 HERALD_OK);
    cr_assert_eq(herald_msg_add_cc(m, "cc@example.com"), HERALD_OK);
    cr_assert_eq(herald_msg_add_bcc(m, "Hidden <hidden@example.net>"),
                 HERALD_OK);
    cr_assert_eq(herald_msg_set_subject(m, SUBJECT_UTF8), HERALD_OK);
    cr_assert_eq(herald_msg_set_text(m, "Hallo Welt\n\xc3\xa9t\xc3\xa9\n"),
                 HERALD_OK);
    cr_assert_eq(herald_msg_set_html(m, "<p>Hallo</p>\n"), HERALD_OK);
    cr_assert_eq(herald_msg_attach_data(m, bytes, 256, "bytes.bin", NULL),
                 HERALD_OK);
    cr_assert_eq(herald_msg_attach_data(m, "a,b\n1,2\n", 8, "data.csv",
                                        NULL), HERALD_OK);
    cr_assert_eq(herald_msg_add_tag(m, "billing"), HERALD_OK);
    cr_assert_eq(herald_msg_add_tag(m, "urgent"), HERALD_OK);
    cr_assert_eq(herald_msg_set_metadata(m, "order_id", "42"), HERALD_OK);
    return m;
}

/* ---- the full message ---------------------------------------------- */

Test(render, full_message_is_well_formed)
{
    unsigned char bytes[256];
    herald_msg *m = full_msg(bytes);
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    assert_lines(out, header_len(out), 78);
    cr_assert_eq(strcmp(out + len - 2, "\r\n"), 0, "does not end in CRLF");
    free(out);
    herald_msg_free(m);
}

Test(render, never_a_bcc_header)
{
    unsigned char bytes[256];
    herald_msg *m = full_msg(bytes);
    cr_assert_eq(herald_msg_add_bcc(m, "second@example.net"), HERALD_OK);
    char *out = render(m, 0, NULL);
    cr_assert_null(strstr(out, "hidden@example.net"));
    cr_assert_null(strstr(out, "second@example.net"));
    cr_assert_null(strstr(out, "Hidden"));
    /* no line anywhere starts with Bcc: */
    cr_assert_neq(strncasecmp(out, "Bcc:", 4), 0);
    for (const char *p = out; (p = strstr(p, "\r\n")) != NULL; p += 2)
        cr_assert_neq(strncasecmp(p + 2, "Bcc:", 4), 0);
    free(out);
    herald_msg_free(m);
}

Test(render, encoded_subject_and_display_name)
{
    unsigned char bytes[256];
    herald_msg *m = full_msg(bytes);
    char *out = render(m, 0, NULL);
    char *subj = header(out, "Subject");
    cr_assert_not_null(subj);
    cr_assert_not_null(strstr(subj, "=?UTF-8?B?"));
    char *dec = decode_words(subj);
    cr_assert_str_eq(dec, SUBJECT_UTF8);
    free(dec);
    free(subj);

    char *from = header(out, "From");
    cr_assert_not_null(strstr(from, "=?UTF-8?B?"), "From: %s", from);
    char *addr = strstr(from, " <joerg@example.org>");
    cr_assert_not_null(addr, "From: %s", from);
    *addr = '\0';
    dec = decode_words(from);
    cr_assert_str_eq(dec, NAME_UTF8);
    free(dec);
    free(from);

    char *to = header(out, "To");
    cr_assert_str_eq(to, "\"Doe, John\" <john@example.com>");
    free(to);
    free(out);
    herald_msg_free(m);
}

Test(render, mixed_wraps_alternative)
{
    unsigned char bytes[256];
    herald_msg *m = full_msg(bytes);
    char *out = render(m, 0, NULL);
    char *ct = header(out, "Content-Type");
    cr_assert_eq(strncmp(ct, "multipart/mixed;", 16), 0, "%s", ct);
    char *mixed = boundary_of(ct);
    const char *alt_at = strstr(out, "Content-Type: multipart/alternative;");
    cr_assert_not_null(alt_at);
    char *alt_ct = header(alt_at, "Content-Type");
    char *alt = boundary_of(alt_ct);
    cr_assert_str_neq(mixed, alt);

    /* the alternative is the first part of the mixed, text before HTML */
    char *first = tu_printf("--%s\r\nContent-Type: multipart/alternative;",
                            mixed);
    cr_assert_not_null(strstr(out, first));
    const char *plain = strstr(alt_at, "Content-Type: text/plain");
    const char *html = strstr(alt_at, "Content-Type: text/html");
    cr_assert(plain && html && plain < html);
    /* delimiters: 3 parts + close for mixed, 2 parts + close for alt */
    char *mb = tu_printf("--%s", mixed), *ab = tu_printf("--%s", alt);
    cr_assert_eq(count(out, mb), 4);
    cr_assert_eq(count(out, ab), 3);
    char *mclose = tu_printf("\r\n--%s--\r\n", mixed);
    cr_assert_eq(strcmp(out + strlen(out) - strlen(mclose), mclose), 0);
    free(mclose);
    free(first);
    free(mb);
    free(ab);
    free(alt);
    free(alt_ct);
    free(mixed);
    free(ct);
    free(out);
    herald_msg_free(m);
}

Test(render, attachment_base64_round_trip)
{
    unsigned char bytes[256];
    herald_msg *m = full_msg(bytes);
    char *out = render(m, 0, NULL);
    size_t n, len;
    const char *b = part_body(out, "filename=\"bytes.bin\"", &n);
    assert_lines(b, n, 76);
    unsigned char *raw = b64_decode(b, n, &len);
    cr_assert_eq(len, 256);
    cr_assert_eq(memcmp(raw, bytes, 256), 0);
    free(raw);

    b = part_body(out, "filename=\"data.csv\"", &n);
    raw = b64_decode(b, n, &len);
    cr_assert_eq(len, 8);
    cr_assert_eq(memcmp(raw, "a,b\n1,2\n", 8), 0);
    free(raw);

    const char *ct = strstr(out, "Content-Type: application/octet-stream");
    cr_assert_not_null(ct);
    cr_assert_eq(strncmp(ct + 38, "; name=\"bytes.bin\"\r\n", 20), 0);
    cr_assert_not_null(strstr(out, "Content-Type: text/csv; name=\"data.csv\""));
    cr_assert_eq(count(out, "Content-Disposition: attachment;"), 2);
    cr_assert_eq(count(out, "Content-Transfer-Encoding: base64\r\n"), 2);
    free(out);
    herald_msg_free(m);
}

Test(render, large_attachment_lines)
{
    herald_msg *m = simple_msg("see attached\n");
    size_t big = 100000;
    unsigned char *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)(i * 7 + (i >> 8));
    cr_assert_eq(herald_msg_attach_data(m, data, big, "big.bin", NULL),
                 HERALD_OK);
    size_t len, n, dlen;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    const char *b = part_body(out, "filename=\"big.bin\"", &n);
    /* full 76-character lines except the last */
    cr_assert_eq(b[76], '\r');
    cr_assert_eq(b[78 + 76], '\r');
    unsigned char *raw = b64_decode(b, n, &dlen);
    cr_assert_eq(dlen, big);
    cr_assert_eq(memcmp(raw, data, big), 0);
    free(raw);
    free(data);
    free(out);
    herald_msg_free(m);
}

/* ---- bodies ---------------------------------------------------------- */

Test(body, ascii_text_is_7bit_single_part)
{
    herald_msg *m = simple_msg("just ascii\nsecond line");
    char *out = render(m, 0, NULL);
    char *ct = header(out, "Content-Type");
    char *cte = header(out, "Content-Transfer-Encoding");
    cr_assert_str_eq(ct, "text/plain; charset=utf-8");
    cr_assert_str_eq(cte, "7bit");
    const char *body = out + header_len(out);
    cr_assert_str_eq(body, "just ascii\r\nsecond line\r\n");
    free(ct);
    free(cte);
    free(out);
    herald_msg_free(m);
}

Test(body, html_only)
{
    herald_msg *m = simple_msg(NULL);
    cr_assert_eq(herald_msg_set_html(m, "<p>hi</p>"), HERALD_OK);
    char *out = render(m, 0, NULL);
    char *ct = header(out, "Content-Type");
    cr_assert_str_eq(ct, "text/html; charset=utf-8");
    cr_assert_str_eq(out + header_len(out), "<p>hi</p>\r\n");
    free(ct);
    free(out);
    herald_msg_free(m);
}

Test(body, text_and_html_alternative)
{
    herald_msg *m = simple_msg("plain");
    cr_assert_eq(herald_msg_set_html(m, "<b>rich</b>"), HERALD_OK);
    char *out = render(m, 0, NULL);
    char *ct = header(out, "Content-Type");
    cr_assert_eq(strncmp(ct, "multipart/alternative;", 22), 0, "%s", ct);
    cr_assert_null(strstr(out, "multipart/mixed"));
    size_t n;
    const char *b = part_body(out, "text/plain", &n);
    cr_assert_eq(n, 7);
    cr_assert_eq(strncmp(b, "plain\r\n", 7), 0);
    b = part_body(out, "text/html", &n);
    cr_assert_eq(strncmp(b, "<b>rich</b>\r\n", n), 0);
    free(ct);
    free(out);
    herald_msg_free(m);
}

Test(body, bare_lf_and_cr_become_crlf)
{
    herald_msg *m = simple_msg("a\nb\rc\r\nd\n\ne\r\r");
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    cr_assert_str_eq(out + header_len(out),
                     "a\r\nb\r\nc\r\nd\r\n\r\ne\r\n\r\n");
    free(out);
    herald_msg_free(m);
}

Test(body, long_line_quoted_printable)
{
    char text[2002];
    memset(text, 'x', 2000);
    text[1000] = ' ';
    text[2000] = '\n';
    text[2001] = '\0';
    herald_msg *m = simple_msg(text);
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    char *cte = header(out, "Content-Transfer-Encoding");
    cr_assert_str_eq(cte, "quoted-printable");
    const char *body = out + header_len(out);
    cr_assert_gt(count(body, "=\r\n"), 25, "expected soft line breaks");
    char *dec = qp_decode(body, strlen(body));
    text[2000] = '\0';
    char *want = tu_printf("%s\r\n", text);
    cr_assert_str_eq(dec, want);
    free(want);
    free(dec);
    free(cte);
    free(out);
    herald_msg_free(m);
}

Test(body, utf8_quoted_printable_round_trip)
{
    /* a 2000-byte line of é and € with '=' and trailing whitespace */
    struct hbuf t = {0};
    for (int i = 0; i < 400; i++)
        hbuf_adds(&t, i % 2 ? "\xc3\xa9=" : "\xe2\x82\xac ");
    hbuf_adds(&t, "end \nnext\t\nlast");
    herald_msg *m = simple_msg(t.data);
    size_t len;
    char *out = render(m, 0, &len);
    char *cte = header(out, "Content-Transfer-Encoding");
    cr_assert_str_eq(cte, "quoted-printable");
    const char *body = out + header_len(out);
    cr_assert_not_null(strstr(body, "=3D"));
    cr_assert_not_null(strstr(body, "end=20\r\n"));
    cr_assert_not_null(strstr(body, "next=09\r\n"));
    char *dec = qp_decode(body, strlen(body));
    char *src = hbuf_steal(&t, NULL);
    struct hbuf want = {0};
    for (const char *p = src; *p; p++)
        if (*p == '\n')
            hbuf_adds(&want, "\r\n");
        else
            hbuf_addc(&want, *p);
    hbuf_adds(&want, "\r\n");
    cr_assert_str_eq(dec, want.data);
    hbuf_free(&want);
    free(src);
    free(dec);
    free(cte);
    free(out);
    herald_msg_free(m);
}

Test(body, empty_text)
{
    herald_msg *m = simple_msg("");
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    cr_assert_eq(header_len(out), len, "empty body should be empty");
    free(out);
    herald_msg_free(m);
}

/* ---- headers --------------------------------------------------------- */

Test(headers, herald_headers_present_and_optional)
{
    herald_msg *m = simple_msg("x");
    herald_msg_add_tag(m, "billing");
    herald_msg_add_tag(m, "r\xc3\xa9sum\xc3\xa9");
    herald_msg_set_metadata(m, "order_id", "42");
    herald_msg_set_metadata(m, "note", "caf\xc3\xa9");
    char *out = render(m, 0, NULL);
    char *tags = header(out, "X-Herald-Tags");
    cr_assert_not_null(tags);
    char *dec = decode_words(tags);
    cr_assert_str_eq(dec, "billing, r\xc3\xa9sum\xc3\xa9");
    free(dec);
    free(tags);
    char *v = header(out, "X-Herald-Meta-order_id");
    cr_assert_str_eq(v, "42");
    free(v);
    v = header(out, "X-Herald-Meta-note");
    dec = decode_words(v);
    cr_assert_str_eq(dec, "caf\xc3\xa9");
    free(dec);
    free(v);
    free(out);

    out = render(m, HERALD_MIME_NO_HERALD_HEADERS, NULL);
    cr_assert_null(strstr(out, "X-Herald"));
    free(out);
    herald_msg_free(m);
}

Test(headers, message_id_domain)
{
    herald_msg *m = simple_msg("x");
    char *a = render(m, 0, NULL), *b = render(m, 0, NULL);
    char *ida = header(a, "Message-ID"), *idb = header(b, "Message-ID");
    cr_assert_eq(strlen(ida), 1 + 32 + 1 + strlen("mail.example.org") + 1);
    cr_assert_eq(ida[0], '<');
    for (int i = 1; i <= 32; i++)
        cr_assert(isxdigit((unsigned char)ida[i]), "%s", ida);
    cr_assert_str_eq(ida + 33, "@mail.example.org>");
    cr_assert_str_neq(ida, idb, "Message-IDs must differ");
    free(ida);
    free(idb);
    free(a);
    free(b);
    herald_msg_free(m);

    m = herald_msg_new();
    herald_msg_add_to(m, "to@example.com");
    herald_msg_set_text(m, "x");
    a = render(m, 0, NULL);
    ida = header(a, "Message-ID");
    cr_assert_not_null(strstr(ida, "@herald.invalid>"), "%s", ida);
    cr_assert_null(header(a, "From"));
    free(ida);
    free(a);
    herald_msg_free(m);
}

Test(headers, date_format)
{
    herald_msg *m = simple_msg("x");
    char *out = render(m, 0, NULL);
    cr_assert_eq(strncmp(out, "Date: ", 6), 0);
    char *d = header(out, "Date");
    char day[4], mon[4], sign;
    int dd, yy, h, mi, s, zone, used = 0;
    cr_assert_eq(sscanf(d, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d "
                           "%c%4d%n", day, &dd, mon, &yy, &h, &mi, &s, &sign,
                        &zone, &used), 9, "Date: %s", d);
    cr_assert_eq((size_t)used, strlen(d), "trailing junk in %s", d);
    cr_assert_not_null(strstr("Sun Mon Tue Wed Thu Fri Sat", day));
    cr_assert_not_null(strstr("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov "
                              "Dec", mon));
    cr_assert(sign == '+' || sign == '-');
    cr_assert_eq(strlen(strchr(d, sign)), 5);
    cr_assert_geq(yy, 2024);
    free(d);
    free(out);
    herald_msg_free(m);
}

Test(headers, order)
{
    herald_msg *m = simple_msg("x");
    herald_msg_add_cc(m, "cc@example.com");
    herald_msg_set_reply_to(m, "reply@example.com");
    herald_msg_add_tag(m, "t");
    herald_msg_set_metadata(m, "k", "v");
    herald_msg_add_header(m, "X-Extra-One", "1");
    herald_msg_add_header(m, "X-Extra-Two", "2");
    char *out = render(m, 0, NULL);
    static const char *const order[] = {
        "Date", "From", "To", "Cc", "Reply-To", "Subject", "Message-ID",
        "MIME-Version", "X-Herald-Tags", "X-Herald-Meta-k", "X-Extra-One",
        "X-Extra-Two", "Content-Type", "Content-Transfer-Encoding"};
    long prev = -1;
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        long pos = header_pos(out, order[i]);
        cr_assert_gt(pos, prev, "%s out of order", order[i]);
        prev = pos;
    }
    char *v = header(out, "MIME-Version");
    cr_assert_str_eq(v, "1.0");
    free(v);
    free(out);
    herald_msg_free(m);
}

Test(headers, display_names_quoted_or_plain)
{
    herald_msg *m = simple_msg("x");
    herald_msg_add_to(m, "\"Doe, \\\"JD\\\"\" <jd@example.com>");
    herald_msg_add_to(m, "Plain Name <p@example.com>");
    herald_msg_add_to(m, "J. R. Smith <s@example.com>");
    char *out = render(m, 0, NULL);
    char *to = header(out, "To");
    cr_assert_str_eq(to, "to@example.com, \"Doe, \\\"JD\\\"\" <jd@example.com>,"
                         " Plain Name <p@example.com>, \"J. R. Smith\" "
                         "<s@example.com>");
    free(to);
    free(out);
    herald_msg_free(m);
}

Test(headers, utf8_display_name_keeps_plain_words)
{
    herald_msg *m = simple_msg("x");
    /* "Müller, Hans": the non-atom word is encoded, "Hans" stays plain, so
     * decoders agree on the space between them */
    herald_msg_add_to(m, "M\xc3\xbcller, Hans <h@example.com>");
    herald_msg_add_cc(m, NAME_UTF8 " <j@example.com>");
    char *out = render(m, 0, NULL);
    char *to = header(out, "To"), *cc = header(out, "Cc");
    cr_assert_not_null(strstr(to, ", =?UTF-8?B?TcO8bGxlciw=?= Hans "
                                  "<h@example.com>"), "To: %s", to);
    /* a short name is one encoded word, space inside it */
    cr_assert_eq(count(cc, "=?UTF-8?B?"), 1, "Cc: %s", cc);
    *strstr(cc, " <j@example.com>") = '\0';
    char *dec = decode_words(cc);
    cr_assert_str_eq(dec, NAME_UTF8);
    free(dec);
    free(to);
    free(cc);
    free(out);
    herald_msg_free(m);
}

Test(headers, long_lists_fold_at_78)
{
    herald_msg *m = simple_msg("x");
    char addr[64];
    for (int i = 0; i < 40; i++) {
        snprintf(addr, sizeof addr, "Person Number %d <person%d@example.com>",
                 i, i);
        cr_assert_eq(herald_msg_add_to(m, addr), HERALD_OK);
    }
    herald_msg_set_subject(m, "a fairly long plain ASCII subject that goes on "
                              "and on well past the seventy-eight column "
                              "mark so that it has to be folded");
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, header_len(out), 78);
    char *to = header(out, "To");
    cr_assert_not_null(strstr(to, "Person Number 39 <person39@example.com>"));
    cr_assert_eq(count(to, ", "), 40);
    char *subj = header(out, "Subject");
    cr_assert_str_eq(subj, "a fairly long plain ASCII subject that goes on "
                           "and on well past the seventy-eight column mark "
                           "so that it has to be folded");
    free(subj);
    free(to);
    free(out);
    herald_msg_free(m);
}

Test(headers, long_utf8_subject_split_on_characters)
{
    struct hbuf s = {0};
    for (int i = 0; i < 120; i++)
        hbuf_adds(&s, i % 3 ? "\xc3\xa9" : "\xf0\x9f\x98\x80");
    herald_msg *m = simple_msg("x");
    cr_assert_eq(herald_msg_set_subject(m, s.data), HERALD_OK);
    char *out = render(m, 0, NULL);
    assert_lines(out, header_len(out), 78);
    char *subj = header(out, "Subject");
    cr_assert_gt(count(subj, "=?UTF-8?B?"), 5);
    char *dec = decode_words(subj); /* checks each word <= 75 chars */
    cr_assert_str_eq(dec, s.data);
    free(dec);
    free(subj);
    free(out);
    hbuf_free(&s);
    herald_msg_free(m);
}

Test(headers, unfoldable_word_is_encoded)
{
    char word[1200];
    memset(word, 'w', 1199);
    word[1199] = '\0';
    herald_msg *m = simple_msg("x");
    cr_assert_eq(herald_msg_set_subject(m, word), HERALD_OK);
    cr_assert_eq(herald_msg_add_header(m, "X-Long", word), HERALD_OK);
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    char *subj = header(out, "Subject"), *xl = header(out, "X-Long");
    char *d1 = decode_words(subj), *d2 = decode_words(xl);
    cr_assert_str_eq(d1, word);
    cr_assert_str_eq(d2, word);
    free(d1);
    free(d2);
    free(subj);
    free(xl);
    free(out);
    herald_msg_free(m);
}

Test(headers, ascii_lookalike_encoded_word_is_encoded)
{
    herald_msg *m = simple_msg("x");
    herald_msg_set_subject(m, "=?UTF-8?B?aGk=?= literally");
    char *out = render(m, 0, NULL);
    char *subj = header(out, "Subject");
    char *dec = decode_words(subj);
    cr_assert_str_eq(dec, "=?UTF-8?B?aGk=?= literally");
    free(dec);
    free(subj);
    free(out);
    herald_msg_free(m);
}

Test(headers, custom_header_utf8_value)
{
    herald_msg *m = simple_msg("x");
    herald_msg_add_header(m, "X-Greeting", "gr\xc3\xbc\xc3\x9f gott");
    herald_msg_add_header(m, "List-Unsubscribe", "<mailto:u@example.com>");
    char *out = render(m, 0, NULL);
    char *v = header(out, "X-Greeting");
    cr_assert_eq(strncmp(v, "=?UTF-8?B?", 10), 0, "%s", v);
    char *dec = decode_words(v);
    cr_assert_str_eq(dec, "gr\xc3\xbc\xc3\x9f gott");
    char *lu = header(out, "List-Unsubscribe");
    cr_assert_str_eq(lu, "<mailto:u@example.com>");
    free(lu);
    free(dec);
    free(v);
    free(out);
    herald_msg_free(m);
}

Test(headers, utf8_filename_rfc2231)
{
    herald_msg *m = simple_msg("x");
    herald_msg_attach_data(m, "1", 1, "r\xc3\xa9sum\xc3\xa9.pdf", NULL);
    herald_msg_attach_data(m, "2", 1, "say \"hi\".txt", NULL);
    herald_msg_attach_data(m, "3", 1, "plain name.txt", NULL);
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    cr_assert_not_null(strstr(out, "filename*=utf-8''r%C3%A9sum%C3%A9.pdf"));
    cr_assert_not_null(strstr(out, "name*=utf-8''r%C3%A9sum%C3%A9.pdf"));
    cr_assert_not_null(strstr(out, "filename*=utf-8''say%20%22hi%22.txt"));
    cr_assert_not_null(strstr(out, "filename=\"plain name.txt\""));
    free(out);
    herald_msg_free(m);
}

Test(headers, rfc822_attachment_not_base64_as_message)
{
    herald_msg *m = simple_msg("x");
    herald_msg_attach_data(m, "Subject: x\r\n\r\nbody\r\n", 19, "fwd.eml",
                           NULL);
    char *out = render(m, 0, NULL);
    /* RFC 2046 forbids base64 for message/rfc822 */
    cr_assert_null(strstr(out, "message/rfc822"));
    cr_assert_not_null(strstr(out, "Content-Type: application/octet-stream;"
                                   " name=\"fwd.eml\""));
    free(out);
    herald_msg_free(m);
}

/* A setter that says no keeps nothing of the value, so what it refused
 * can never reach the rendered bytes; the decision is hm_validate's alone
 * and the renderer (which drivers call on validated messages) does not
 * check again. */
Test(headers, refused_value_never_rendered)
{
    herald_msg *m = simple_msg("x");
    cr_assert_eq(herald_msg_set_subject(m, "a\r\nBcc: evil@example.com"),
                 HERALD_ERR_INVALID_MESSAGE);
    herald_error *err = NULL;
    cr_assert_eq(herald_msg_validate(m, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert_not_null(strstr(herald_error_message(err), "subject"));
    herald_error_free(err);
    char *out = render(m, 0, NULL);
    cr_assert_null(strstr(out, "evil"), "%s", out);
    char *subj = header(out, "Subject");
    cr_assert_str_eq(subj, "hello");
    free(subj);
    free(out);
    herald_msg_free(m);
}

/* X-Herald-Tags and X-Herald-Meta-* are herald's; any other X-Herald-
 * header is the caller's and goes out as given. */
Test(headers, x_herald_build_is_rendered)
{
    herald_msg *m = simple_msg("x");
    cr_assert_eq(herald_msg_add_header(m, "X-Herald-Build", "42"), HERALD_OK);
    cr_assert_eq(herald_msg_add_tag(m, "t1"), HERALD_OK);
    cr_assert_eq(herald_msg_add_header(m, "X-Herald-Tags", "forged"),
                 HERALD_ERR_INVALID_MESSAGE);
    char *out = render(m, 0, NULL);
    char *v = header(out, "X-Herald-Build");
    cr_assert_str_eq(v, "42");
    free(v);
    v = header(out, "X-Herald-Tags");
    cr_assert_str_eq(v, "t1");
    free(v);
    cr_assert_null(strstr(out, "forged"));
    free(out);
    herald_msg_free(m);
}

/* hmime_render_id hands back exactly the Message-ID it wrote (without the
 * angle brackets); hmime_render (no id wanted) still renders. */
Test(headers, render_id_matches_the_header)
{
    herald_msg *m = simple_msg("x");
    char *out = NULL, *id = NULL;
    size_t len = 0;
    herald_error *err = NULL;
    cr_assert_eq(hmime_render_id(m, 0, &out, &len, &id, &err), HERALD_OK,
                 "%s", herald_error_message(err));
    cr_assert_not_null(id);
    cr_assert_eq(strlen(out), len);
    char *hdr = header(out, "Message-ID");
    char *want = tu_printf("<%s>", id);
    cr_assert_str_eq(hdr, want, "header %s, id %s", hdr, id);
    cr_assert(strstr(id, "@mail.example.org"), "%s", id);
    free(want);
    free(hdr);
    free(out);
    free(id);
    /* without an id pointer */
    out = NULL;
    cr_assert_eq(hmime_render_id(m, 0, &out, &len, NULL, NULL), HERALD_OK);
    cr_assert_not_null(out);
    free(out);
    out = render(m, 0, &len);
    hdr = header(out, "Message-ID");
    cr_assert_not_null(hdr);
    free(hdr);
    free(out);
    herald_msg_free(m);
}

/* ---- boundaries ------------------------------------------------------ */

Test(boundary, unique_and_absent_from_content)
{
    /* content that mimics the boundary prefix must not confuse parsing */
    herald_msg *m = simple_msg("--=_herald_ looks like a boundary\n");
    herald_msg_set_html(m, "<p>=_herald_</p>");
    herald_msg_attach_data(m, "--=_herald_\r\n", 13, "x.txt", NULL);
    char *out = render(m, 0, NULL);
    char *ct = header(out, "Content-Type");
    char *mixed = boundary_of(ct);
    char *alt_ct = header(strstr(out, "Content-Type: multipart/alternative"),
                          "Content-Type");
    char *alt = boundary_of(alt_ct);
    cr_assert_str_neq(mixed, alt);
    cr_assert_leq(strlen(mixed), 70);
    /* each boundary appears exactly in its delimiters and its header */
    cr_assert_eq(count(out, mixed), 3 + 1);
    cr_assert_eq(count(out, alt), 3 + 1);
    free(alt);
    free(alt_ct);
    free(mixed);
    free(ct);
    free(out);
    herald_msg_free(m);
}

Test(boundary, attachments_only)
{
    herald_msg *m = herald_msg_new();
    herald_msg_add_to(m, "to@example.com");
    herald_msg_attach_data(m, "abc", 3, "a.txt", NULL);
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    char *ct = header(out, "Content-Type");
    cr_assert_eq(strncmp(ct, "multipart/mixed;", 16), 0);
    cr_assert_null(strstr(out, "text/plain; charset"));
    cr_assert_not_null(strstr(out, "filename=\"a.txt\""));
    free(ct);
    free(out);
    herald_msg_free(m);
}

/* ---- building blocks ---------------------------------------------------- */

Test(base64, known_vectors)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba",
                                      "foobar"};
    static const char *const want[] = {"", "Zg==", "Zm8=", "Zm9v",
                                       "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        struct hbuf b = {0};
        hb_base64(&b, (const unsigned char *)in[i], strlen(in[i]), 0);
        hbuf_add(&b, "", 0);
        cr_assert_str_eq(b.data, want[i]);
        hbuf_free(&b);
    }
}

Test(base64, wrapped_at_76)
{
    unsigned char data[200];
    for (int i = 0; i < 200; i++)
        data[i] = (unsigned char)(255 - i);
    struct hbuf b = {0};
    hb_base64(&b, data, sizeof data, 1);
    /* 200 bytes -> 268 chars -> 76 + 76 + 76 + 40, each with CRLF */
    cr_assert_eq(b.len, 268 + 4 * 2);
    assert_lines(b.data, b.len, 76);
    cr_assert_eq(strcmp(b.data + b.len - 2, "\r\n"), 0);
    size_t n;
    unsigned char *raw = b64_decode(b.data, b.len, &n);
    cr_assert_eq(n, 200);
    cr_assert_eq(memcmp(raw, data, 200), 0);
    free(raw);
    hbuf_free(&b);
}

Test(phrase, ascii_unchanged_utf8_encoded)
{
    struct hbuf b = {0};
    hmime_encode_phrase(&b, "plain text");
    cr_assert_str_eq(b.data, "plain text");
    hbuf_free(&b);

    hbuf_adds(&b, "Subject: ");
    hmime_encode_phrase(&b, SUBJECT_UTF8 " " SUBJECT_UTF8 " " SUBJECT_UTF8);
    assert_lines(b.data, b.len, 78);
    /* unfold, then decode */
    struct hbuf u = {0};
    for (size_t i = 9; i < b.len; i++)
        if (b.data[i] != '\r' && b.data[i] != '\n')
            hbuf_addc(&u, b.data[i]);
    char *dec = decode_words(u.data);
    cr_assert_str_eq(dec, SUBJECT_UTF8 " " SUBJECT_UTF8 " " SUBJECT_UTF8);
    free(dec);
    hbuf_free(&u);
    hbuf_free(&b);
}

Test(render, utf8_address_rfc6531)
{
    herald_msg *m = simple_msg("x");
    cr_assert_eq(herald_msg_set_from(m, "j\xc3\xb6rg@b\xc3\xbc" "cher.example"),
                 HERALD_OK);
    cr_assert_eq(herald_msg_add_to(m, "\xe7\x94\xa8@example.com"), HERALD_OK);
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    char *from = header(out, "From");
    cr_assert_str_eq(from, "j\xc3\xb6rg@b\xc3\xbc" "cher.example");
    char *id = header(out, "Message-ID");
    cr_assert_not_null(strstr(id, "@herald.invalid>"), "non-ASCII domain in "
                       "Message-ID: %s", id);
    free(id);
    free(from);
    free(out);
    herald_msg_free(m);
}

/* ---- found by the fuzzer (fuzz/crashes/) ----------------------------- */

/* Parse @msg (a rendered message) with Python's email package, policy
 * default, as m, and print @expr (no single quotes in it).  Returns the
 * output without its final newline; malloc'd. */
static char *py_email(const char *msg, const char *expr)
{
    char *dir = tu_mkdtemp();
    cr_assert_not_null(dir);
    char *file = tu_write_file(dir, "msg.eml", msg);
    cr_assert_not_null(file);
    char *res = NULL;
    int rc = tu_run(&res, "PYTHONIOENCODING=utf-8 '%s' -c 'import email, "
                    "email.policy, sys; m = email.message_from_bytes("
                    "sys.stdin.buffer.read(), policy=email.policy.default); "
                    "print(%s)' < '%s'", tu_python(), expr, file);
    cr_assert_eq(rc, 0, "python failed on %s: %s", expr, res ? res : "");
    cr_assert_not_null(res);
    size_t n = strlen(res);
    if (n && res[n - 1] == '\n')
        res[n - 1] = '\0';
    tu_rmrf(dir);
    free(file);
    free(dir);
    return res;
}

/* Every display name with specials comes back from a mail parser as one
 * mailbox with the same name (fuzz_mailbox-full-unquoted-name). */
Test(fuzz, names_with_specials_are_one_mailbox)
{
    static const char *const in[] = {
        "\"Ops, Team\" <ops@example.com>",
        "\"Say \\\"hi\\\" \\\\ bye\" <q@example.com>",
        "\"<\"<lt@example.com>",
        "\"a; b: c@d\" <semi@example.com>",
        /* non-ASCII and a comma: encoded words, never inside quotes */
        "\"M\xc3\xbcller, J\xc3\xb6rg\" <j@example.com>",
    };
    static const char *const names =
        "Say \"hi\" \\ bye|<|a; b: c@d|M\xc3\xbcller, J\xc3\xb6rg";
    herald_msg *m = simple_msg("x");
    cr_assert_eq(herald_msg_set_from(m, in[0]), HERALD_OK);
    for (size_t i = 1; i < sizeof in / sizeof *in; i++)
        cr_assert_eq(herald_msg_add_to(m, in[i]), HERALD_OK, "%s", in[i]);
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    char *to = header(out, "To");
    /* RFC 2047 5(3): an encoded word may not appear in a quoted-string */
    cr_assert_null(strstr(to, "\"=?"), "To: %s", to);
    cr_assert_not_null(strstr(to, "=?UTF-8?B?"), "To: %s", to);

    char *got = py_email(out, "len(m[\"From\"].addresses), "
                              "m[\"From\"].addresses[0].display_name, "
                              "m[\"From\"].addresses[0].addr_spec");
    cr_assert_str_eq(got, "1 Ops, Team ops@example.com");
    free(got);
    got = py_email(out, "\"|\".join(a.display_name for a in "
                        "m[\"To\"].addresses[1:])");
    cr_assert_str_eq(got, names);
    free(got);
    got = py_email(out, "len(m[\"To\"].addresses), m[\"To\"].defects");
    cr_assert_str_eq(got, "5 ()");
    free(got);
    free(to);
    free(out);
    herald_msg_free(m);
}

/* A value with @n spaces in the middle; malloc'd. */
static char *space_run(size_t n)
{
    char *s = malloc(n + 16);
    cr_assert_not_null(s);
    strcpy(s, "start");
    memset(s + 5, ' ', n);
    strcpy(s + 5 + n, "end");
    return s;
}

/* 2000 spaces in the subject, a custom header and a metadata value
 * (fuzz_mime-subject-space-run): folding never leaves a line of only
 * spaces, so such a run cannot be folded and goes as encoded words.
 * What we assert: no line over 998 octets, and -- as RFC 2047 6.2 drops
 * only the white space between adjacent encoded words and RFC 5322
 * unfolding only removes CRLF -- a parser gets every value back exactly,
 * all 2000 spaces included. */
Test(fuzz, long_space_runs_stay_under_998)
{
    char *v = space_run(2000);
    herald_msg *m = simple_msg("x");
    cr_assert_eq(herald_msg_set_subject(m, v), HERALD_OK);
    cr_assert_eq(herald_msg_add_header(m, "X-Spaces", v), HERALD_OK);
    cr_assert_eq(herald_msg_set_metadata(m, "k", v), HERALD_OK);
    cr_assert_eq(herald_msg_validate(m, NULL), HERALD_OK);
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    static const char *const names[] = {"Subject", "X-Spaces",
                                        "X-Herald-Meta-k"};
    for (size_t i = 0; i < 3; i++) {
        char *h = header(out, names[i]);
        cr_assert_not_null(h, "no %s", names[i]);
        char *dec = decode_words(h);
        cr_assert_str_eq(dec, v, "%s", names[i]);
        free(dec);
        free(h);
    }
    char *got = py_email(out, "*(m[h] == \"start\" + \" \" * 2000 + \"end\" "
                              "for h in (\"Subject\", \"X-Spaces\", "
                              "\"X-Herald-Meta-k\"))");
    cr_assert_str_eq(got, "True True True");
    free(got);
    free(out);
    herald_msg_free(m);
    free(v);
}

/* A run of spaces short enough to fold but followed by a long word: the
 * run and the word can share a line, so together they must fit. */
Test(fuzz, space_run_then_long_word_stays_under_998)
{
    struct hbuf s = {0};
    hbuf_adds(&s, "a");
    for (int i = 0; i < 800; i++)
        hbuf_addc(&s, ' ');
    for (int i = 0; i < 800; i++)
        hbuf_addc(&s, 'w');
    herald_msg *m = simple_msg("x");
    cr_assert_eq(herald_msg_set_subject(m, s.data), HERALD_OK);
    cr_assert_eq(herald_msg_add_header(m, "X-Long", s.data + 1), HERALD_OK);
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    char *subj = header(out, "Subject"), *xl = header(out, "X-Long");
    char *d1 = decode_words(subj), *d2 = decode_words(xl);
    cr_assert_str_eq(d1, s.data);
    cr_assert_str_eq(d2, s.data + 1);
    free(d1);
    free(d2);
    free(subj);
    free(xl);
    free(out);
    hbuf_free(&s);
    herald_msg_free(m);
}

/* Short space runs still go as plain folded text. */
Test(fuzz, short_space_runs_stay_plain)
{
    char *v = space_run(100);
    herald_msg *m = simple_msg("x");
    cr_assert_eq(herald_msg_set_subject(m, v), HERALD_OK);
    size_t len;
    char *out = render(m, 0, &len);
    assert_lines(out, len, 998);
    char *subj = header(out, "Subject");
    cr_assert_null(strstr(subj, "=?"), "Subject: %s", subj);
    cr_assert_str_eq(subj, v);
    free(subj);
    free(out);
    herald_msg_free(m);
    free(v);
}

/* application/ + 1000 characters is refused when attached, so it never
 * reaches the renderer (fuzz_mime-long-content-type). */
Test(fuzz, long_content_type_refused_before_render)
{
    char t[1100];
    strcpy(t, "application/");
    memset(t + 12, 'x', 1000);
    t[1012] = '\0';
    herald_msg *m = simple_msg("x");
    cr_assert_eq(herald_msg_attach_data(m, "x", 1, "f.bin", t),
                 HERALD_ERR_INVALID_MESSAGE);
    herald_error *err = NULL;
    cr_assert_eq(herald_msg_validate(m, &err), HERALD_ERR_INVALID_MESSAGE);
    cr_assert_not_null(strstr(herald_error_message(err), "127"), "%s",
                       herald_error_message(err));
    herald_error_free(err);
    /* nothing of the refused attachment is left to render */
    char *out = render(m, 0, NULL);
    cr_assert_null(strstr(out, "xxxxxxxx"));
    cr_assert_null(strstr(out, "f.bin"));
    free(out);
    herald_msg_free(m);
}

/* ---- the measured size (max_message_size) ------------------------------ */

/* hmime_size counts what hmime_render writes, without encoding: it must
 * give the rendered length exactly, whatever the message holds. */
static void assert_size_exact(const herald_msg *m, const char *what)
{
    static const unsigned flag_sets[] = { 0, HERALD_MIME_NO_HERALD_HEADERS };
    for (size_t f = 0; f < 2; f++) {
        size_t len = 0, size = 1;
        char *out = render(m, flag_sets[f], &len);
        cr_assert_eq(hmime_size(m, flag_sets[f], &size, NULL), HERALD_OK);
        cr_assert_eq(size, len, "%s (flags %u): measured %zu, rendered %zu",
                     what, flag_sets[f], size, len);
        free(out);
    }
}

Test(size, measured_size_is_the_rendered_length)
{
    unsigned char bytes[256];
    herald_msg *m = full_msg(bytes);
    assert_size_exact(m, "full message");
    herald_msg_free(m);

    static const char *const texts[] = {
        "", "x", "\n", "a\r\nb\rc\nd", "no final newline", "tab\t \n",
        "\xc3\xa9t\xc3\xa9 \n= =\n", "trailing space \n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        m = simple_msg(texts[i]);
        assert_size_exact(m, texts[i]);
        cr_assert_eq(herald_msg_set_html(m, texts[i]), HERALD_OK);
        assert_size_exact(m, texts[i]);
        herald_msg_free(m);
    }

    /* Long lines (QP soft breaks), every attachment size mod 3 and around
     * the 57-byte base64 line, folded headers, many metadata. */
    struct hbuf t = {0};
    for (int i = 0; i < 3000; i++)
        hbuf_adds(&t, i % 3 ? "word " : "\xe2\x82\xac=");
    m = simple_msg(t.data);
    hbuf_free(&t);
    unsigned char data[200];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 37);
    static const size_t att[] = { 0, 1, 2, 3, 56, 57, 58, 114, 200 };
    for (size_t i = 0; i < sizeof att / sizeof *att; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%zu \xc3\xa9.bin", att[i]);
        cr_assert_eq(herald_msg_attach_data(m, data, att[i], name, NULL),
                     HERALD_OK);
        assert_size_exact(m, name);
    }
    cr_assert_eq(herald_msg_set_subject(m, SUBJECT_UTF8 " " SUBJECT_UTF8
                                        " " SUBJECT_UTF8), HERALD_OK);
    for (int i = 0; i < 100; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i);
        cr_assert_eq(herald_msg_set_metadata(m, k, SUBJECT_UTF8), HERALD_OK);
        snprintf(k, sizeof k, "r%d@example.com", i);
        cr_assert_eq(herald_msg_add_cc(m, k), HERALD_OK);
    }
    cr_assert_eq(herald_msg_add_header(m, "X-Long", SUBJECT_UTF8 SUBJECT_UTF8
                                       SUBJECT_UTF8 SUBJECT_UTF8), HERALD_OK);
    assert_size_exact(m, "everything");
    herald_msg_free(m);
}

/* ---- the 998-octet line limit ------------------------------------------ */

/* A body line of @n octets of @unit (1 or 2 bytes each); returns the
 * rendered message and its Content-Transfer-Encoding. */
static char *render_line(size_t n, const char *unit, char **cte_r,
                         size_t *len_r)
{
    struct hbuf t = {0};
    size_t u = strlen(unit);
    for (size_t i = 0; i < n / u; i++)
        hbuf_adds(&t, unit);
    cr_assert_eq(t.len, n);
    hbuf_adds(&t, "\nshort\n");
    herald_msg *m = simple_msg(t.data);
    char *out = render(m, 0, len_r);
    *cte_r = header(out, "Content-Transfer-Encoding");
    herald_msg_free(m);
    hbuf_free(&t);
    return out;
}

Test(body, line_of_998_octets_is_7bit_999_is_encoded)
{
    size_t len;
    char *cte;
    char *out = render_line(998, "x", &cte, &len);
    cr_assert_str_eq(cte, "7bit");
    assert_lines(out, len, 998);
    const char *body = out + header_len(out);
    cr_assert_eq(strcspn(body, "\r"), 998, "the line is sent as it is");
    free(cte);
    free(out);

    out = render_line(999, "x", &cte, &len);
    cr_assert_str_eq(cte, "quoted-printable");
    assert_lines(out, len, 998);
    body = out + header_len(out);
    assert_lines(body, strlen(body), 76);
    char *dec = qp_decode(body, strlen(body));
    cr_assert_eq(strcspn(dec, "\r"), 999, "the line decodes whole");
    free(dec);
    free(cte);
    free(out);

    /* Non-ASCII text is always encoded, at 998 octets too. */
    out = render_line(998, "\xc3\xa9", &cte, &len);
    cr_assert_str_eq(cte, "quoted-printable");
    assert_lines(out, len, 998);
    free(cte);
    free(out);
}

/* The 7bit writer works in one pass and takes back what it wrote when a
 * later line turns out too long (or a byte 8-bit): the quoted-printable
 * body that replaces it holds each line once, and the measured size
 * agrees. */
Test(body, a_long_line_after_short_ones_is_encoded_whole)
{
    struct hbuf t = {0};
    hbuf_adds(&t, "first\nsecond\r\nthird\r");
    for (int i = 0; i < 999; i++)
        hbuf_addc(&t, 'y');
    hbuf_adds(&t, "\nlast");
    herald_msg *m = simple_msg(t.data);
    size_t len;
    char *out = render(m, 0, &len);
    char *cte = header(out, "Content-Transfer-Encoding");
    cr_assert_str_eq(cte, "quoted-printable");
    const char *body = out + header_len(out);
    char *dec = qp_decode(body, strlen(body));
    struct hbuf want = {0};
    hbuf_adds(&want, "first\r\nsecond\r\nthird\r\n");
    for (int i = 0; i < 999; i++)
        hbuf_addc(&want, 'y');
    hbuf_adds(&want, "\r\nlast\r\n");
    cr_assert_str_eq(dec, want.data);
    assert_size_exact(m, "short lines, then a long one");
    free(dec);
    free(cte);
    free(out);
    hbuf_free(&want);
    hbuf_free(&t);
    herald_msg_free(m);
}
