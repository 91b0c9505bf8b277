/* tests/libherald/test_util.c - libherald/util.c (hx_grow, strings, edit distance,
 * hx_has_crlf) and the base library's buffer, base64 and UTF-8 check as
 * the core uses them. */
#include "internal.h"
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

Test(util, grow_doubles_from_four_and_keeps_contents)
{
    int *a = NULL;
    for (size_t n = 0; n < 100; n++) {
        int *g = hx_grow(a, n, sizeof *a);
        cr_assert_not_null(g, "grow to %zu", n + 1);
        a = g;
        a[n] = (int)n * 3;
    }
    for (size_t n = 0; n < 100; n++)
        cr_assert_eq(a[n], (int)n * 3);
    /* Room already there (count not a power of two >= 4): same array. */
    cr_assert_eq(hx_grow(a, 99, sizeof *a), a);
    /* Overflow is refused without touching the array. */
    cr_assert_null(hx_grow(a, (size_t)1 << 60, 16));
    cr_assert_null(hx_grow(a, (SIZE_MAX / 2) + 1, 1));
    cr_assert_eq(a[99], 297);
    free(a);
}

Test(util, strdup_and_printf)
{
    cr_assert_null(hx_strdup(NULL));
    char *s = hx_strdup("abc");
    cr_assert_str_eq(s, "abc");
    free(s);
    s = hx_strndup("abcdef", 3);
    cr_assert_str_eq(s, "abc");
    free(s);
    s = hx_strndup("ab", 10);
    cr_assert_str_eq(s, "ab");
    free(s);
    s = hx_printf("%s:%u: %c%%", "f", 12u, 'x');
    cr_assert_str_eq(s, "f:12: x%");
    free(s);
    s = hx_printf("%s", "");
    cr_assert_str_eq(s, "");
    free(s);
    /* Longer than any small internal buffer. */
    char big[5000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    s = hx_printf("<%s>", big);
    cr_assert_eq(strlen(s), sizeof big + 1);
    cr_assert_eq(s[0], '<');
    cr_assert_eq(s[sizeof big], '>');
    free(s);
}

Test(util, edit_distance)
{
    cr_assert_eq(hx_edit_distance("", ""), 0);
    cr_assert_eq(hx_edit_distance("abc", "abc"), 0);
    cr_assert_eq(hx_edit_distance("", "abc"), 3);
    cr_assert_eq(hx_edit_distance("passwrd", "password"), 1);
    cr_assert_eq(hx_edit_distance("kitten", "sitting"), 3);
    cr_assert_eq(hx_edit_distance("flaw", "lawn"), 2);
    cr_assert_eq(hx_edit_distance("lawn", "flaw"), 2);
    char longer[80];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    cr_assert_eq(hx_edit_distance(longer, "a"), 255, "over 64 bytes: capped");
}

Test(util, has_crlf)
{
    cr_assert_eq(hx_has_crlf("plain"), 0);
    cr_assert_eq(hx_has_crlf("a\rb"), 1);
    cr_assert_eq(hx_has_crlf("a\nb"), 1);
    cr_assert_eq(hx_has_crlf(""), 0);
}

Test(util, hbuf_appends_counts_and_flags_oom)
{
    struct hbuf b = {0};
    hbuf_adds(&b, "ab");
    hbuf_addc(&b, 'c');
    hbuf_printf(&b, "-%d-", 42);
    hbuf_add(&b, "xyz", 2);
    cr_assert_eq(b.len, 9);
    cr_assert_str_eq(b.data, "abc-42-xy");
    for (int i = 0; i < 1000; i++)
        hbuf_adds(&b, "0123456789");
    cr_assert_eq(b.len, 10009);
    cr_assert_eq(b.data[b.len], '\0');
    size_t len = 0;
    char *s = hbuf_steal(&b, &len);
    cr_assert_eq(len, 10009);
    cr_assert_null(b.data);
    free(s);
    /* Empty buffer steals as "". */
    s = hbuf_steal(&b, &len);
    cr_assert_str_eq(s, "");
    cr_assert_eq(len, 0);
    free(s);

    /* Counting mode: only the length. */
    struct hbuf c = {0};
    c.count = 1;
    hbuf_adds(&c, "hello");
    hbuf_printf(&c, "%05d", 7);
    hbuf_addc(&c, '!');
    cr_assert_eq(c.len, 11);
    cr_assert_null(c.data);

    /* An impossible size sets oom; later appends do nothing; steal fails. */
    struct hbuf o = {0};
    hbuf_adds(&o, "keep");
    hbuf_add(&o, "", SIZE_MAX - 8);
    cr_assert_eq(o.oom, 1);
    hbuf_adds(&o, "more");
    cr_assert_eq(o.len, 4);
    cr_assert_null(hbuf_steal(&o, NULL));
    cr_assert_null(o.data);
    hbuf_free(&o);
}

static char *b64(const char *in, int wrap)
{
    struct hbuf b = {0};
    hb_base64(&b, (const unsigned char *)in, strlen(in), wrap);
    return hbuf_steal(&b, NULL);
}

/* RFC 4648 section 10 test vectors. */
Test(util, base64_rfc4648_vectors)
{
    static const char *const v[][2] = {
        {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *s = b64(v[i][0], 0);
        cr_assert_str_eq(s, v[i][1], "base64(\"%s\")", v[i][0]);
        free(s);
    }
    /* Wrapped: 57 input bytes make one 76-character line, CRLF-terminated. */
    char in[115];
    memset(in, 'a', 114);
    in[114] = '\0';
    char *s = b64(in, 1);
    cr_assert_eq(strlen(s), 76 + 2 + 76 + 2);
    cr_assert_eq(strncmp(s + 76, "\r\n", 2), 0);
    cr_assert_eq(strcmp(s + 154, "\r\n"), 0);
    free(s);
    /* Counting mode gives the same length. */
    struct hbuf c = {0};
    c.count = 1;
    hb_base64(&c, (const unsigned char *)in, 114, 1);
    cr_assert_eq(c.len, 156);
}

Test(util, utf8_valid_edges)
{
    static const struct { const char *s; size_t n; int ok; } v[] = {
        {"", 0, 1},
        {"plain ascii", 11, 1},
        {"\xc3\xa9", 2, 1},                 /* é */
        {"\xe2\x82\xac", 3, 1},             /* € */
        {"\xf0\x9f\x98\x80", 4, 1},         /* U+1F600 */
        {"\xf4\x8f\xbf\xbf", 4, 1},         /* U+10FFFF, the last */
        {"a\0b", 3, 1},                     /* NUL counts as valid */
        {"\xc3", 1, 0},                     /* truncated */
        {"\xe2\x82", 2, 0},                 /* truncated */
        {"\xc0\xaf", 2, 0},                 /* overlong '/' */
        {"\xe0\x80\xaf", 3, 0},             /* overlong */
        {"\xed\xa0\x80", 3, 0},             /* surrogate U+D800 */
        {"\xf4\x90\x80\x80", 4, 0},         /* > U+10FFFF */
        {"\x80", 1, 0},                     /* lone continuation */
        {"\xff", 1, 0},
        {"ok\xc3\x28", 4, 0},               /* bad continuation */
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        cr_assert_eq(hb_utf8_valid(v[i].s, v[i].n), v[i].ok, "case %zu", i);
}
