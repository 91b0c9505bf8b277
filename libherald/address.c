/* libherald/address.c - parsing mailboxes: "a@b", "Name <a@b>",
 * "\"Quoted, Name\" <a@b>", with UTF-8 per RFC 6531. */
#include "internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LOCAL 64
#define MAX_ADDRESS 254
#define MAX_LABEL 63

static int is_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 5322 atext, plus any non-ASCII byte (RFC 6531 UTF8-non-ascii). */
static int is_atext(unsigned char c)
{
    if (c >= 0x80)
        return 1;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return 1;
    return c && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* Each check returns why the text is refused (the what) or NULL, and
 * sets *fix_r when there is something specific to do about it. */

/* Check a dot-atom local part. */
static const char *check_dot_atom(const char *s, size_t n, const char **fix_r)
{
    if (s[0] == '.' || s[n - 1] == '.')
        return "local part starts or ends with a dot";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (s[i + 1] == '.')
                return "local part has two dots in a row";
        } else if (!is_atext(c)) {
            if (c == ' ' || c == '\t') {
                *fix_r = "write a display name as \"Name "
                         "<user@example.com>\"";
                return "local part contains a space";
            }
            return "local part contains a character that is only allowed "
                   "inside quotes (such as ( ) , : ; < > @ [ ] \\ \")";
        }
    }
    return NULL;
}

/* Length of the quoted string starting at s[0] == '"' including both
 * quotes, or 0 when it is unterminated or holds a forbidden character. */
static size_t quoted_len(const char *s, size_t n, const char **why_r)
{
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            return i + 1;
        if (c == '\\') {
            if (i + 1 >= n || (unsigned char)s[i + 1] < 32 ||
                (unsigned char)s[i + 1] > 126) {
                *why_r = "quoted local part has a bad backslash escape";
                return 0;
            }
            i++;
        } else if (c < 32 || c == 127) {
            *why_r = "quoted local part contains a control character";
            return 0;
        }
    }
    *why_r = "quoted local part has no closing quote";
    return 0;
}

static const char *check_address_literal(const char *s, size_t n,
                                         const char **fix_r)
{
    char buf[64];
    unsigned char bin[16];
    if (n >= 3 && s[n - 1] == ']' && n - 2 < sizeof buf) {
        memcpy(buf, s + 1, n - 2);
        buf[n - 2] = '\0';
        if (strncmp(buf, "IPv6:", 5) == 0
                ? inet_pton(AF_INET6, buf + 5, bin) == 1
                : inet_pton(AF_INET, buf, bin) == 1)
            return NULL;
    }
    *fix_r = "write it as [192.0.2.1] or [IPv6:2001:db8::1]";
    return "invalid address literal";
}

static const char *check_label(const char *s, size_t n, const char **fix_r)
{
    if (n == 0)
        return "domain has an empty label (a dot at the start or end, or "
               "two dots in a row)";
    if (n > MAX_LABEL)
        return "a domain label is longer than 63 octets";
    if (s[0] == '-' || s[n - 1] == '-')
        return "a domain label starts or ends with a hyphen";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '@') {
            *fix_r = "quote the local part if it really contains @";
            return "more than one @";
        }
        if (!(c >= 0x80 || c == '-' || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return "domain contains a character other than letters, digits, "
                   "hyphens and dots";
    }
    return NULL;
}

static const char *check_domain(const char *s, size_t n, const char **fix_r)
{
    if (s[0] == '[')
        return check_address_literal(s, n, fix_r);
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            const char *why = check_label(s + start, i - start, fix_r);
            if (why)
                return why;
            start = i + 1;
        }
    }
    return NULL;
}

/* Validate a bare address "local@domain" of @n bytes. */
static const char *check_address(const char *s, size_t n, const char **fix_r)
{
    const char *why = NULL;
    size_t local_len;
    if (n == 0)
        return "empty address";
    if (s[0] == '"') {
        local_len = quoted_len(s, n, &why);
        if (!local_len)
            return why;
        if (local_len == 2)
            return "empty local part before @";
        if (local_len == n || s[local_len] != '@')
            return local_len == n ? "missing @" : "text after the quoted "
                                    "local part: expected @ right after it";
    } else {
        if (memchr(s, ',', n)) {
            *fix_r = "add one mailbox per call";
            return "contains a comma";
        }
        const char *at = memchr(s, '@', n);
        if (!at)
            return "missing @";
        local_len = (size_t)(at - s);
        if (local_len == 0)
            return "empty local part before @";
        if ((why = check_dot_atom(s, local_len, fix_r)) != NULL)
            return why;
    }
    if (local_len > MAX_LOCAL)
        return "local part longer than 64 octets";
    if (local_len + 1 == n)
        return "empty domain after @";
    if (n > MAX_ADDRESS)
        return "address longer than 254 octets";
    return check_domain(s + local_len + 1, n - local_len - 1, fix_r);
}

/* Find the first @c at or after @s that is outside a quoted string; sets
 * *open_r when a quote is still open at the end. */
static const char *find_unquoted(const char *s, char c, int *open_r)
{
    int q = 0;
    for (; *s; s++) {
        if (q && *s == '\\' && s[1])
            s++;
        else if (*s == '"')
            q = !q;
        else if (!q && *s == c)
            return s;
    }
    if (open_r)
        *open_r = q;
    return NULL;
}

static void trim(const char **b, const char **e)
{
    while (*b < *e && is_wsp(**b))
        (*b)++;
    while (*e > *b && is_wsp((*e)[-1]))
        (*e)--;
}

/* Turn the display-name text [b,e) into a malloc'd unquoted name, or NULL
 * for an empty one.  *why_r is set on error. */
static char *parse_name(const char *b, const char *e, const char **why_r,
                        const char **fix_r)
{
    trim(&b, &e);
    for (const char *p = b; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if ((c < 32 && c != '\t') || c == 127) {
            *why_r = "display name contains a control character";
            return NULL;
        }
    }
    if (b == e)
        return NULL;
    if (*b != '"') {
        if (memchr(b, '"', (size_t)(e - b))) {
            *why_r = "display name has a stray '\"'";
            *fix_r = "put the whole name in quotes and escape inner quotes "
                     "as \\\"";
            return NULL;
        }
        char *n = hx_strndup(b, (size_t)(e - b));
        if (!n)
            *why_r = "out of memory";
        return n;
    }
    struct hbuf out = {0};
    const char *p = b + 1;
    for (; p < e && *p != '"'; p++) {
        if (*p == '\\' && p + 1 < e)
            p++;
        hbuf_addc(&out, *p);
    }
    if (p >= e) {
        hbuf_free(&out);
        *why_r = "display name has no closing quote";
        return NULL;
    }
    if (p + 1 != e) {
        hbuf_free(&out);
        *why_r = "text after the quoted display name";
        *fix_r = "put the whole name inside the quotes";
        return NULL;
    }
    if (out.len == 0) {
        hbuf_free(&out);
        return NULL;
    }
    char *n = hbuf_steal(&out, NULL);
    if (!n)
        *why_r = "out of memory";
    return n;
}

/* 1 when @name can stand unquoted before "<addr>": only atext and inner
 * spaces, so a mail parser reads it back as the same single phrase. */
static int name_is_plain(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || name[0] == ' ' || name[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (name[i] != ' ' && !is_atext((unsigned char)name[i]))
            return 0;
    return 1;
}

/* "name <addr>", with the name as an RFC 5322 quoted-string (inner '"'
 * and '\' escaped) unless it is plain; "addr" when there is no name. */
static char *format_full(const char *name, const char *addr)
{
    if (!name)
        return hx_strdup(addr);
    if (name_is_plain(name))
        return hx_printf("%s <%s>", name, addr);
    struct hbuf b = {0};
    hb_quote_string(&b, name);
    hbuf_printf(&b, " <%s>", addr);
    return hbuf_steal(&b, NULL);
}

int hm_parse_mailbox(const char *s, struct hm_mailbox *mb, const char **why_r)
{
    return hm_parse_mailbox_fix(s, mb, why_r, NULL);
}

int hm_parse_mailbox_fix(const char *s, struct hm_mailbox *mb,
                         const char **why_r, const char **fix_r)
{
    const char *why = NULL, *fix = NULL, *ab, *ae;
    char *name = NULL;
    int open = 0;

    memset(mb, 0, sizeof *mb);
    if (!s) {
        why = "no mailbox given";
        goto fail;
    }
    if (hx_has_crlf(s)) {
        why = "contains CR, LF or NUL";
        goto fail;
    }
    if (!hb_utf8_valid(s, strlen(s))) {
        why = "is not valid UTF-8";
        goto fail;
    }
    const char *lt = find_unquoted(s, '<', &open);
    if (!lt) {
        if (open) {
            why = "has a quote (\") with no closing quote";
            goto fail;
        }
        if (find_unquoted(s, '>', NULL)) {
            why = "unbalanced < and >: '>' without '<'";
            goto fail;
        }
        ab = s;
        ae = s + strlen(s);
    } else {
        const char *gt = find_unquoted(lt + 1, '>', &open);
        if (!gt) {
            why = "unbalanced < and >: missing '>' after the address";
            goto fail;
        }
        if (find_unquoted(lt + 1, '<', NULL) &&
            find_unquoted(lt + 1, '<', NULL) < gt) {
            why = "unbalanced < and >: more than one '<'";
            goto fail;
        }
        for (const char *p = gt + 1; *p; p++)
            if (!is_wsp(*p)) {
                why = *p == '>' ? "unbalanced < and >: more than one '>'"
                                : "junk after '>': nothing may follow the "
                                  "address in angle brackets";
                goto fail;
            }
        name = parse_name(s, lt, &why, &fix);
        if (why)
            goto fail;
        ab = lt + 1;
        ae = gt;
        trim(&ab, &ae);
        if (ab == ae) {
            why = "empty address between < and >";
            goto fail;
        }
    }
    trim(&ab, &ae);
    if ((why = check_address(ab, (size_t)(ae - ab), &fix)) != NULL)
        goto fail;
    mb->addr = hx_strndup(ab, (size_t)(ae - ab));
    mb->name = name;
    name = NULL;
    mb->full = mb->addr ? format_full(mb->name, mb->addr) : NULL;
    if (!mb->addr || !mb->full) {
        why = "out of memory";
        goto fail;
    }
    return 0;

fail:
    free(name);
    hm_mailbox_clear(mb);
    if (why_r)
        *why_r = why;
    if (fix_r)
        *fix_r = fix;
    return -1;
}

void hm_mailbox_clear(struct hm_mailbox *mb)
{
    if (!mb)
        return;
    free(mb->addr);
    free(mb->name);
    free(mb->full);
    mb->addr = mb->name = mb->full = NULL;
}
