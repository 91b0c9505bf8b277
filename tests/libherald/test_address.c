/* tests/libherald/test_address.c - libherald/address.c: parsing mailboxes ("a@b",
 * "Name <a@b>", quoted names and local parts, address literals, UTF-8 per
 * RFC 6531), the length limits, and what is refused with which reason. */
#include "config.h"
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* ---- mailbox parsing ----------------------------------------------------- */

static void expect_mailbox(const char *in, const char *addr, const char *name,
                           const char *full)
{
    struct hm_mailbox mb;
    const char *why = NULL;
    cr_assert_eq(hm_parse_mailbox(in, &mb, &why), 0, "'%s' refused: %s", in,
                 why);
    cr_assert_str_eq(mb.addr, addr, "addr of '%s'", in);
    if (name)
        cr_assert_str_eq(mb.name, name, "name of '%s'", in);
    else
        cr_assert_null(mb.name, "name of '%s' should be NULL", in);
    cr_assert_str_eq(mb.full, full, "full of '%s'", in);
    hm_mailbox_clear(&mb);
    cr_assert_null(mb.addr);
    cr_assert_null(mb.name);
    cr_assert_null(mb.full);
}

Test(mailbox, bare_address)
{
    expect_mailbox("bob@example.com", "bob@example.com", NULL,
                   "bob@example.com");
    expect_mailbox("  bob@example.com\t", "bob@example.com", NULL,
                   "bob@example.com");
    expect_mailbox("<bob@example.com>", "bob@example.com", NULL,
                   "bob@example.com");
    expect_mailbox("first.last+tag@mail.example.co.uk",
                   "first.last+tag@mail.example.co.uk", NULL,
                   "first.last+tag@mail.example.co.uk");
    expect_mailbox("root@localhost", "root@localhost", NULL,
                   "root@localhost");
}

Test(mailbox, display_name)
{
    expect_mailbox("Ann Example <ann@example.com>", "ann@example.com",
                   "Ann Example", "Ann Example <ann@example.com>");
    expect_mailbox("  Ann   <  ann@example.com >  ", "ann@example.com",
                   "Ann", "Ann <ann@example.com>");
    expect_mailbox("Ann<ann@example.com>", "ann@example.com", "Ann",
                   "Ann <ann@example.com>");
}

Test(mailbox, quoted_display_name)
{
    /* full keeps the quotes a name with specials needs, so it still reads
     * as one mailbox; names of atoms and spaces stay unquoted */
    expect_mailbox("\"Quoted, Name\" <q@example.com>", "q@example.com",
                   "Quoted, Name", "\"Quoted, Name\" <q@example.com>");
    expect_mailbox("\"Doe, \\\"JD\\\" \\\\ Jr\" <jd@example.com>",
                   "jd@example.com", "Doe, \"JD\" \\ Jr",
                   "\"Doe, \\\"JD\\\" \\\\ Jr\" <jd@example.com>");
    expect_mailbox("\"A <b> c\" <a@example.com>", "a@example.com",
                   "A <b> c", "\"A <b> c\" <a@example.com>");
    expect_mailbox("\"Plain Name\" <p@example.com>", "p@example.com",
                   "Plain Name", "Plain Name <p@example.com>");
    expect_mailbox("J. Smith <j@example.com>", "j@example.com", "J. Smith",
                   "\"J. Smith\" <j@example.com>");
    expect_mailbox("\"\" <e@example.com>", "e@example.com", NULL,
                   "e@example.com");
}

/* full of @in parses again to the same addr and name, and is @full. */
static void expect_round_trip(const char *in, const char *name,
                              const char *full)
{
    struct hm_mailbox mb, again;
    const char *why = NULL;
    cr_assert_eq(hm_parse_mailbox(in, &mb, &why), 0, "'%s' refused: %s", in,
                 why);
    cr_assert_str_eq(mb.name, name, "name of '%s'", in);
    cr_assert_str_eq(mb.full, full, "full of '%s'", in);
    cr_assert_eq(hm_parse_mailbox(mb.full, &again, &why), 0,
                 "full '%s' of '%s' refused: %s", mb.full, in, why);
    cr_assert_str_eq(again.addr, mb.addr, "addr of full '%s'", mb.full);
    cr_assert_str_eq(again.name, mb.name, "name of full '%s'", mb.full);
    cr_assert_str_eq(again.full, mb.full, "full of full '%s'", mb.full);
    hm_mailbox_clear(&again);
    hm_mailbox_clear(&mb);
}

Test(mailbox, full_round_trips_names_with_specials)
{
    expect_round_trip("\"Ops, Team\" <ops@example.com>", "Ops, Team",
                      "\"Ops, Team\" <ops@example.com>");
    expect_round_trip("\"Say \\\"hi\\\"\" <q@example.com>", "Say \"hi\"",
                      "\"Say \\\"hi\\\"\" <q@example.com>");
    expect_round_trip("\"back\\\\slash\" <b@example.com>", "back\\slash",
                      "\"back\\\\slash\" <b@example.com>");
    /* the fuzzer's case: full was "< <a@b>", which herald refused */
    expect_round_trip("\"<\"<a@b>", "<", "\"<\" <a@b>");
    expect_round_trip("\"a>b\" <a@b>", "a>b",
                      "\"a>b\" <a@b>");
    expect_round_trip("\"x@y; (z) [w]: v\" <a@b>", "x@y; (z) [w]: v",
                      "\"x@y; (z) [w]: v\" <a@b>");
    /* spaces at the ends and a tab only survive inside quotes */
    expect_round_trip("\" padded \" <a@b>", " padded ",
                      "\" padded \" <a@b>");
    expect_round_trip("\"tab\there\" <a@b>", "tab\there",
                      "\"tab\there\" <a@b>");
    /* non-ASCII with a special: quoted, as UTF-8 */
    expect_round_trip("\"M\xc3\xbcller, J\xc3\xb6rg\" <j@example.com>",
                      "M\xc3\xbcller, J\xc3\xb6rg",
                      "\"M\xc3\xbcller, J\xc3\xb6rg\" <j@example.com>");
}

Test(mailbox, utf8_rfc6531)
{
    expect_mailbox("J\xc3\xb6rg M\xc3\xbcller <j\xc3\xb6rg@b\xc3\xbc"
                   "cher.example>",
                   "j\xc3\xb6rg@b\xc3\xbc" "cher.example",
                   "J\xc3\xb6rg M\xc3\xbcller",
                   "J\xc3\xb6rg M\xc3\xbcller <j\xc3\xb6rg@b\xc3\xbc"
                   "cher.example>");
    /* 用户@例子.广告 */
    expect_mailbox("\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
                   "\xe5\xb9\xbf\xe5\x91\x8a",
                   "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
                   "\xe5\xb9\xbf\xe5\x91\x8a", NULL,
                   "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90."
                   "\xe5\xb9\xbf\xe5\x91\x8a");
}

Test(mailbox, quoted_local_part_and_literals)
{
    expect_mailbox("\"john doe\"@example.com", "\"john doe\"@example.com",
                   NULL, "\"john doe\"@example.com");
    expect_mailbox("Q <\"a>b\"@example.com>", "\"a>b\"@example.com", "Q",
                   "Q <\"a>b\"@example.com>");
    expect_mailbox("x@[192.0.2.1]", "x@[192.0.2.1]", NULL, "x@[192.0.2.1]");
    expect_mailbox("x@[IPv6:2001:db8::1]", "x@[IPv6:2001:db8::1]", NULL,
                   "x@[IPv6:2001:db8::1]");
}

Test(mailbox, length_limits)
{
    char local[80], addr[300];
    memset(local, 'a', 64);
    local[64] = '\0';
    snprintf(addr, sizeof addr, "%s@example.com", local);
    expect_mailbox(addr, addr, NULL, addr);

    /* 254 octets exactly: 64 + 1 + 189 (three 62-char labels + dots) */
    char dom[200];
    memset(dom, 'd', 189);
    dom[62] = dom[125] = '.';
    dom[189] = '\0';
    snprintf(addr, sizeof addr, "%s@%s", local, dom);
    cr_assert_eq(strlen(addr), 254);
    expect_mailbox(addr, addr, NULL, addr);
}

static void expect_refused(const char *in, const char *reason)
{
    struct hm_mailbox mb;
    const char *why = NULL;
    cr_assert_eq(hm_parse_mailbox(in, &mb, &why), -1, "'%s' was accepted",
                 in);
    cr_assert_not_null(why, "no reason for '%s'", in);
    cr_assert_not_null(strstr(why, reason), "'%s': reason '%s' lacks '%s'",
                       in, why, reason);
    cr_assert_null(mb.addr);
    cr_assert_null(mb.full);
}

Test(mailbox, invalid_with_reasons)
{
    expect_refused("a\r\nb@example.com", "contains CR, LF or NUL");
    expect_refused("bob@example.com\n", "contains CR, LF or NUL");
    expect_refused("example.com", "missing @");
    expect_refused("", "empty address");
    expect_refused("@example.com", "empty local part");
    expect_refused("bob@", "empty domain after @");
    expect_refused("Bob <bob@example.com", "unbalanced");
    expect_refused("Bob bob@example.com>", "unbalanced");
    expect_refused("Bob <<bob@example.com>>", "unbalanced");
    expect_refused("Bob <bob@example.com> x", "junk after '>'");
    expect_refused("Bob <>", "empty address");
    expect_refused("\xff@example.com", "UTF-8");
    expect_refused("Bj\xc3\x28rn <b@example.com>", "UTF-8");
    expect_refused("\xed\xa0\x80@example.com", "UTF-8"); /* surrogate */
    expect_refused("\xc0\xaf@example.com", "UTF-8");     /* overlong */
    expect_refused("a..b@example.com", "two dots");
    expect_refused(".a@example.com", "dot");
    expect_refused("a.@example.com", "dot");
    expect_refused("a b@example.com", "space");
    expect_refused("a(b)@example.com", "quotes");
    expect_refused("a@b@example.com", "more than one @");
    expect_refused("a@example.com, b@example.com", "comma");
    expect_refused("a@-example.com", "hyphen");
    expect_refused("a@example-.com", "hyphen");
    expect_refused("a@example..com", "empty label");
    expect_refused("a@example.com.", "empty label");
    expect_refused("a@exa_mple.com", "letters, digits, hyphens");
    expect_refused("a@[192.0.2]", "address literal");
    expect_refused("a@[example.com]", "address literal");
    expect_refused("\"Bob <bob@example.com>", "closing quote");
    expect_refused("\"unterminated@example.com", "closing quote");
    expect_refused("Bob \"B\" <bob@example.com>", "stray");
    expect_refused("\"Bob\" Smith <bob@example.com>", "after the quoted");
    expect_refused("B\x01ob <bob@example.com>", "control character");
}

Test(mailbox, invalid_lengths)
{
    char local[80], addr[400];
    memset(local, 'a', 65);
    local[65] = '\0';
    snprintf(addr, sizeof addr, "%s@example.com", local);
    expect_refused(addr, "64 octets");

    char label[70];
    memset(label, 'l', 64);
    label[64] = '\0';
    snprintf(addr, sizeof addr, "a@%s.example.com", label);
    expect_refused(addr, "63 octets");

    char dom[300];
    memset(dom, 'd', 251);
    for (int i = 50; i < 251; i += 50)
        dom[i] = '.';
    dom[251] = '\0';
    snprintf(addr, sizeof addr, "abc@%s", dom);
    expect_refused(addr, "254 octets");
}


/* ---- edge cases ------------------------------------------------------------ */

Test(mailbox, quoted_local_part_edges)
{
    /* escapes and specials inside the quotes are kept as written */
    expect_mailbox("\"a\\\"b\"@example.com", "\"a\\\"b\"@example.com", NULL,
                   "\"a\\\"b\"@example.com");
    expect_mailbox("\"a,b@c\"@example.com", "\"a,b@c\"@example.com", NULL,
                   "\"a,b@c\"@example.com");
    expect_mailbox("Name <\"x y\"@example.com>", "\"x y\"@example.com",
                   "Name", "Name <\"x y\"@example.com>");
    expect_refused("\"\"@example.com", "empty local part");
    expect_refused("\"ab\"c@example.com", "expected @ right after it");
    expect_refused("\"ab\"", "missing @");
    expect_refused("\"a\\", "closing quote");
    expect_refused("\"a\tb\"@example.com", "control character");
    expect_refused("\"a\\\x01\"@example.com", "backslash escape");
}

Test(mailbox, address_literal_edges)
{
    expect_mailbox("x@[127.0.0.1]", "x@[127.0.0.1]", NULL, "x@[127.0.0.1]");
    expect_mailbox("x@[IPv6:::1]", "x@[IPv6:::1]", NULL, "x@[IPv6:::1]");
    expect_refused("x@[256.0.0.1]", "address literal");
    expect_refused("x@[IPv6:2001:db8::g]", "address literal");
    expect_refused("x@[2001:db8::1]", "address literal");   /* no IPv6: tag */
    expect_refused("x@[192.0.2.1", "address literal");
    expect_refused("x@[]", "address literal");
    char lit[100];
    memset(lit, '1', sizeof lit);
    snprintf(lit, sizeof lit, "x@[%070d]", 1);
    expect_refused(lit, "address literal");
}

Test(mailbox, utf8_edges)
{
    /* UTF-8 in a quoted display name is unquoted into the name */
    expect_mailbox("\"\xc3\x89milie\" <e@example.com>", "e@example.com",
                   "\xc3\x89milie", "\xc3\x89milie <e@example.com>");
    /* a four-byte character (U+1F600) in local part and domain */
    expect_mailbox("\xf0\x9f\x98\x80@\xf0\x9f\x98\x80.example",
                   "\xf0\x9f\x98\x80@\xf0\x9f\x98\x80.example", NULL,
                   "\xf0\x9f\x98\x80@\xf0\x9f\x98\x80.example");
    expect_refused("a@b\xc3", "UTF-8");                /* truncated */
    expect_refused("\xf4\x90\x80\x80@example.com", "UTF-8"); /* > U+10FFFF */
    expect_refused("N\xe2\x82 <n@example.com>", "UTF-8");
}

Test(mailbox, octet_limits_count_bytes_not_characters)
{
    /* 32 two-byte characters are 64 octets: fine; 33 are 66: refused */
    char local[80], addr[200];
    local[0] = '\0';
    for (int i = 0; i < 32; i++)
        strcat(local, "\xc3\xa9");
    snprintf(addr, sizeof addr, "%s@example.com", local);
    expect_mailbox(addr, addr, NULL, addr);
    strcat(local, "\xc3\xa9");
    snprintf(addr, sizeof addr, "%s@example.com", local);
    expect_refused(addr, "64 octets");
    /* a 63-octet label is fine */
    char label[70];
    memset(label, 'l', 63);
    label[63] = '\0';
    snprintf(addr, sizeof addr, "a@%s.example.com", label);
    expect_mailbox(addr, addr, NULL, addr);
}

Test(mailbox, cr_lf_nul_anywhere)
{
    static const char *const cases[] = {
        "a@example.com\r", "\ra@example.com", "a@exa\nmple.com",
        "Name\n <a@example.com>", "\"Na\r\nme\" <a@example.com>",
        "Name <a@example.com>\r\n", "\"a\nb\"@example.com",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        expect_refused(cases[i], "contains CR, LF or NUL");
    /* A NUL ends the C string: what follows it is never seen, so
     * "a@b\0junk" is the mailbox "a@b". */
    static const char nul[] = "a@example.com\0\r\nBcc: x@example.com";
    expect_mailbox(nul, "a@example.com", NULL, "a@example.com");
    expect_refused("", "empty address");
    expect_refused("   ", "empty address");
}

Test(mailbox, null_and_reason_pointer)
{
    struct hm_mailbox mb;
    const char *why = NULL;
    cr_assert_eq(hm_parse_mailbox(NULL, &mb, &why), -1);
    cr_assert_str_eq(why, "no mailbox given");
    /* why_r may be NULL */
    cr_assert_eq(hm_parse_mailbox("broken", &mb, NULL), -1);
    cr_assert_null(mb.addr);
    hm_mailbox_clear(NULL);
}

/* The reason says what is wrong; a fix, when there is one to give, comes
 * apart (never glued to the reason after ':' or ';'). */
Test(mailbox, reason_and_fix_apart)
{
    static const char *const cases[][3] = {
        {"a b@example.com", "local part contains a space",
         "write a display name as \"Name <user@example.com>\""},
        {"a@example.com, b@example.com", "contains a comma",
         "add one mailbox per call"},
        {"a@b@example.com", "more than one @",
         "quote the local part if it really contains @"},
        {"a@[192.0.2]", "invalid address literal",
         "write it as [192.0.2.1] or [IPv6:2001:db8::1]"},
        {"Bob \"B\" <bob@example.com>", "display name has a stray '\"'",
         "put the whole name in quotes and escape inner quotes as \\\""},
        {"\"Bob\" Smith <bob@example.com>", "text after the quoted display name",
         "put the whole name inside the quotes"},
        {"bob@", "empty domain after @", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct hm_mailbox mb;
        const char *why = NULL, *fix = "sentinel";
        cr_assert_eq(hm_parse_mailbox_fix(cases[i][0], &mb, &why, &fix), -1,
                     "'%s' accepted", cases[i][0]);
        cr_assert_str_eq(why, cases[i][1], "reason of '%s'", cases[i][0]);
        if (cases[i][2])
            cr_assert_str_eq(fix, cases[i][2], "fix of '%s'", cases[i][0]);
        else
            cr_assert_null(fix, "fix of '%s'", cases[i][0]);
    }
}
