/* fuzz/fuzz_mailbox.c - libFuzzer harness for hm_parse_mailbox.
 *
 * Arbitrary bytes (NUL-terminated; an embedded NUL ends the string as it
 * would for any caller).  When a mailbox is accepted: addr, name and full
 * hold no CR, LF or NUL, addr contains '@', full contains addr, and parsing
 * full again accepts it with the same addr.  When it is refused, a reason
 * is given and the mailbox is left empty. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, const char *input, const char *detail)
{
    fprintf(stderr, "fuzz_mailbox: %s\n  input:  '%s'\n  detail: '%s'\n",
            what, input, detail ? detail : "");
    abort();
}

static int has_line_break(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    struct hm_mailbox mb;
    const char *why = NULL;
    if (hm_parse_mailbox(s, &mb, &why) != 0) {
        if (!why || !*why)
            fail("refused without a reason", s, NULL);
        if (mb.addr || mb.name || mb.full)
            fail("refused but the mailbox is not empty", s, NULL);
        free(s);
        return 0;
    }
    if (!mb.addr || !mb.full)
        fail("accepted without addr or full", s, NULL);
    if (has_line_break(mb.addr) || has_line_break(mb.name) ||
        has_line_break(mb.full))
        fail("result contains CR or LF", s, mb.full);
    if (!strchr(mb.addr, '@'))
        fail("addr has no '@'", s, mb.addr);
    if (!strstr(mb.full, mb.addr))
        fail("full does not contain addr", s, mb.full);
    if (mb.name && !*mb.name)
        fail("empty display name instead of NULL", s, mb.full);

    struct hm_mailbox again;
    const char *why2 = NULL;
    if (hm_parse_mailbox(mb.full, &again, &why2) != 0)
        fail("full does not parse again", s, why2);
    if (strcmp(again.addr, mb.addr) != 0)
        fail("addr changes when full is parsed again", s, again.addr);
    hm_mailbox_clear(&again);
    hm_mailbox_clear(&mb);
    free(s);
    return 0;
}
