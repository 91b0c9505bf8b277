/*
 * plugins/smtp/check_session.c - the SMTP steps of the smtp driver's
 * diagnosis on a connected (and, as configured, encrypted) session: EHLO
 * and what the server offers, AUTH with the configured credentials, and
 * with send_test the envelope without DATA: MAIL FROM the channel's
 * `from`, RCPT TO the test address, then RSET, so nothing is delivered.
 */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- EHLO and AUTH ------------------------------------------------------ */

/* " PLAIN LOGIN" for a set of mechanisms, appended to @b. */
static void mech_list(unsigned mechs, struct hbuf *b)
{
    for (unsigned m = SMTP_MECH_PLAIN; m <= SMTP_MECH_XOAUTH2; m <<= 1)
        if (mechs & m)
            hbuf_printf(b, " %s", smtp_mech_name(m));
}

static void describe_caps(const struct smtp_conn *c, const struct smtp_reply *r,
                          struct hbuf *b)
{
    const char *t = r->text.data ? r->text.data : "";
    hbuf_printf(b, "%.*s offers", (int)strcspn(t, " \n"), t);
    size_t start = b->len;
    static const struct { unsigned bit; const char *name; } ext[] = {
        {SMTP_EXT_STARTTLS, "STARTTLS"}, {SMTP_EXT_PIPELINING, "PIPELINING"},
        {SMTP_EXT_8BITMIME, "8BITMIME"}, {SMTP_EXT_SMTPUTF8, "SMTPUTF8"}};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (c->ext & ext[i].bit)
            hbuf_printf(b, "%s%s", b->len > start ? ", " : " ", ext[i].name);
    if ((c->ext & SMTP_EXT_SIZE) && c->size_max)
        hbuf_printf(b, "%sSIZE %lu (%.1f MiB)", b->len > start ? ", " : " ",
                    c->size_max, (double)c->size_max / 1048576.0);
    else if (c->ext & SMTP_EXT_SIZE)
        hbuf_printf(b, "%sSIZE (no limit given)", b->len > start ? ", " : " ");
    if (c->ext & SMTP_EXT_AUTH) {
        hbuf_printf(b, "%sAUTH", b->len > start ? ", " : " ");
        mech_list(c->mechs, b);
    }
    if (b->len == start)
        hbuf_adds(b, " no extensions");
}

herald_class ck_ehlo_step(struct ck *k, const char *step, struct smtp_reply *r)
{
    ck_begin(k);
    herald_class rc = smtp_hello(k->s, k->c, r);
    if (rc != HERALD_OK)
        return ck_fail_recorded(k, step, rc);
    struct hbuf b = {0};
    describe_caps(k->c, r, &b);
    ck_report(k, step, HERALD_CHECK_OK, b.data ? b.data : "", NULL);
    hbuf_free(&b);
    return HERALD_OK;
}

herald_class ck_auth_step(struct ck *k)
{
    struct smtp *s = k->s;
    struct hbuf offered = {0};
    mech_list(k->c->mechs, &offered);
    const char *o = offered.data ? offered.data : "";
    herald_class rc = HERALD_OK;
    ck_begin(k);
    if (!s->cfg.username) {
        ck_say(k, "auth", HERALD_CHECK_INFO, NULL, "no credentials configured%s%s",
               o[0] ? "; the server offers AUTH" : "", o);
    } else {
        unsigned mech;
        const char *name = smtp_auth_pick(s, k->c->mechs, &mech);
        if ((rc = smtp_auth(s, k->c)) != HERALD_OK)
            ck_fail_recorded(k, "auth", rc);
        else
            ck_say(k, "auth", HERALD_CHECK_OK, NULL, "authenticated as %s with AUTH "
                   "%s (offered:%s)", s->cfg.username, name ? name : "?", o);
    }
    hbuf_free(&offered);
    return rc;
}

/* ---- send_test: the envelope without DATA ------------------------------ */

/* The bare address of the channel's `from` ("Name <a@b>" -> "a@b"). */
static void channel_sender(struct smtp *s, char *out, size_t size)
{
    const char *from = s->host->opt_str(s->ch, "from");
    const char *lt = from ? strrchr(from, '<') : NULL;
    const char *gt = lt ? strchr(lt, '>') : NULL;
    if (lt && gt)
        snprintf(out, size, "%.*s", (int)(gt - lt - 1), lt + 1);
    else
        snprintf(out, size, "%s", from ? from : "");
}

/* MAIL FROM:<@addr> (@mail) or RCPT TO:<@addr> of send_test, as @step. */
static herald_class envelope_step(struct ck *k, const char *step, int mail,
                                  const char *addr, struct smtp_reply *r)
{
    struct smtp *s = k->s;
    char line[600];
    ck_begin(k);
    snprintf(line, sizeof line, "%s:<%s>", mail ? "MAIL FROM" : "RCPT TO", addr);
    herald_class rc = smtp_command(s, k->c, line, NULL, r);
    if (rc != HERALD_OK)
        return ck_fail_recorded(k, step, rc);
    char *txt = smtp_reply_flat(r);
    const char *text = txt ? txt : "";
    if (r->code >= 200 && r->code < 300) {
        ck_say(k, step, HERALD_CHECK_OK, NULL, "%s accepted: %d %.300s%s", line,
               r->code, text, mail ? "" : " (no DATA: nothing is delivered)");
        free(txt);
        return HERALD_OK;
    }
    if (mail) {
        struct smtp_txn t;
        memset(&t, 0, sizeof t);
        t.from = addr;
        rc = smtp_sender_refused(s, &t, r); /* the check's error, with its fix */
    } else {
        rc = smtp_fix(s, smtp_fail(s, r->code >= 500 ? HERALD_ERR_RECIPIENT_REJECTED
                                                     : HERALD_ERR_TEMPORARY, r,
                                   "%s rejected the recipient %s: %d %s",
                                   s->where, addr, r->code, text),
                      "%s", r->code >= 500 ? "check the address; a relay "
                      "refusal (\"relay access denied\") means this account "
                      "may not send there" : "this refusal is temporary: try "
                      "again later");
    }
    ck_say(k, step, HERALD_CHECK_FAIL, s->err.fix, "%s refused: %d %.300s", line,
           r->code, text);
    free(txt);
    return rc;
}

herald_class ck_envelope_steps(struct ck *k, const char *to)
{
    struct smtp *s = k->s;
    char from[400];
    channel_sender(s, from, sizeof from);
    const char *why = !from[0] ? "the channel has no `from` to try"
                      : smtp_bad_address(from) ? "the channel's `from` is unusable"
                      : smtp_bad_address(to) ? "the send_test address is unusable"
                      : NULL;
    ck_begin(k);
    if (why) {
        ck_report(k, "sender", HERALD_CHECK_WARN, why,
                  "set from = Name <address> and give a plain address to test");
        return HERALD_OK;
    }
    struct smtp_reply r = {0};
    herald_class rc = envelope_step(k, "sender", 1, from, &r);
    if (rc == HERALD_OK)
        rc = envelope_step(k, "recipient", 0, to, &r);
    if (!k->c->broken && !k->c->lost)
        smtp_command(s, k->c, "RSET", NULL, &r); /* no DATA: nothing delivered */
    hbuf_free(&r.text);
    return rc;
}
