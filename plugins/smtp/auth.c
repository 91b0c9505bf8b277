/*
 * plugins/smtp/auth.c - SMTP AUTH (RFC 4954) for the smtp driver:
 * PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195) and XOAUTH2 (Google's and
 * Microsoft's OAuth 2.0 bearer mechanism).
 *
 * AUTH runs only over TLS (the caller guarantees it and we check again),
 * never pipelined, and no AUTH payload reaches a log line: the log shows
 * "AUTH PLAIN ***".  Buffers that held a secret are wiped before freeing.
 *
 * auth = auto picks XOAUTH2 when xoauth2_token is set; otherwise the first
 * the server offers of CRAM-MD5 (the password itself never crosses the
 * wire), PLAIN, LOGIN.
 */
#include "smtp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>

const char *smtp_mech_name(unsigned mech)
{
    switch (mech) {
    case SMTP_MECH_PLAIN: return "PLAIN";
    case SMTP_MECH_LOGIN: return "LOGIN";
    case SMTP_MECH_CRAM_MD5: return "CRAM-MD5";
    case SMTP_MECH_XOAUTH2: return "XOAUTH2";
    default: return "?";
    }
}

const char *smtp_auth_pick(const struct smtp *s, unsigned offered,
                           unsigned *mech_r)
{
    static const unsigned order[] = {SMTP_MECH_CRAM_MD5, SMTP_MECH_PLAIN,
                                     SMTP_MECH_LOGIN};
    unsigned m = 0;
    if (s->cfg.auth)
        m = offered & s->cfg.auth;
    else if (s->cfg.token)
        m = offered & SMTP_MECH_XOAUTH2;
    else
        for (size_t i = 0; i < sizeof order / sizeof order[0] && !m; i++)
            m = offered & order[i];
    *mech_r = m;
    return m ? smtp_mech_name(m) : NULL;
}

/* Free a string that held a secret. */
static void wipe_free(char *p)
{
    if (p)
        explicit_bzero(p, strlen(p));
    free(p);
}

/* "VERB base64(data)" (or just base64 when @verb is NULL), sent with the
 * log showing "VERB ***". */
static herald_class send_b64(struct smtp *s, struct smtp_conn *c,
                             const char *verb, const void *data, size_t n,
                             struct smtp_reply *r)
{
    /* sized up front, so that no realloc leaves a copy of the secret behind */
    struct hbuf b = {0}, count = {0};
    count.count = 1;
    hb_base64(&count, data, n, 0);
    size_t vlen = verb ? strlen(verb) + 1 : 0;
    b.cap = vlen + count.len + 1;
    b.data = malloc(b.cap);
    b.oom = !b.data;
    if (verb) {
        hbuf_adds(&b, verb);
        hbuf_addc(&b, ' ');
    }
    hb_base64(&b, data, n, 0);
    char *line = hbuf_steal(&b, NULL);
    if (!line)
        return smtp_fail(s, HERALD_ERR_INTERNAL, NULL, "out of memory");
    char shown[64];
    snprintf(shown, sizeof shown, "%s%s***", verb ? verb : "", verb ? " " : "");
    herald_class rc = smtp_command(s, c, line, shown, r);
    wipe_free(line);
    return rc;
}

static herald_class auth_plain(struct smtp *s, struct smtp_conn *c,
                               struct smtp_reply *r)
{
    size_t u = strlen(s->cfg.username), p = strlen(s->cfg.password);
    char *blob = malloc(u + p + 2);
    if (!blob)
        return smtp_fail(s, HERALD_ERR_INTERNAL, NULL, "out of memory");
    blob[0] = '\0';
    memcpy(blob + 1, s->cfg.username, u);
    blob[1 + u] = '\0';
    memcpy(blob + 2 + u, s->cfg.password, p);
    herald_class rc = send_b64(s, c, "AUTH PLAIN", blob, u + p + 2, r);
    explicit_bzero(blob, u + p + 2);
    free(blob);
    return rc;
}

/* Expect a 334 challenge; anything else ends the exchange. */
static int challenged(const struct smtp_reply *r)
{
    return r->code == 334;
}

static herald_class auth_login(struct smtp *s, struct smtp_conn *c,
                               struct smtp_reply *r)
{
    herald_class rc = smtp_command(s, c, "AUTH LOGIN", NULL, r);
    if (rc == HERALD_OK && challenged(r))
        rc = send_b64(s, c, NULL, s->cfg.username, strlen(s->cfg.username), r);
    if (rc == HERALD_OK && challenged(r))
        rc = send_b64(s, c, NULL, s->cfg.password, strlen(s->cfg.password), r);
    return rc;
}

static herald_class auth_cram_md5(struct smtp *s, struct smtp_conn *c,
                                  struct smtp_reply *r)
{
    herald_class rc = smtp_command(s, c, "AUTH CRAM-MD5", NULL, r);
    if (rc != HERALD_OK || !challenged(r))
        return rc;
    size_t clen = 0;
    unsigned char *challenge = smtp_b64_decode(r->text.data ? r->text.data : "", &clen);
    if (!challenge)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_PROTOCOL, r,
                                  "%s sent a CRAM-MD5 challenge that is not base64",
                                  s->where),
                        "set auth = plain to use another mechanism");
    unsigned char digest[16];
    int hr = gnutls_hmac_fast(GNUTLS_MAC_MD5, s->cfg.password,
                              strlen(s->cfg.password), challenge, clen, digest);
    free(challenge);
    if (hr < 0)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_INTERNAL, NULL,
                                  "CRAM-MD5 is not available in this GnuTLS (%s)",
                                  gnutls_strerror(hr)),
                        "set auth = plain");
    size_t u = strlen(s->cfg.username);
    char *resp = malloc(u + 1 + 32 + 1);
    if (!resp)
        return smtp_fail(s, HERALD_ERR_INTERNAL, NULL, "out of memory");
    memcpy(resp, s->cfg.username, u);
    resp[u] = ' ';
    for (size_t i = 0; i < 16; i++)
        snprintf(resp + u + 1 + 2 * i, 3, "%02x", digest[i]);
    rc = send_b64(s, c, NULL, resp, u + 33, r);
    free(resp);
    return rc;
}

static herald_class auth_xoauth2(struct smtp *s, struct smtp_conn *c,
                                 struct smtp_reply *r, char **detail_r)
{
    char *blob = NULL;
    int n = asprintf(&blob, "user=%s\001auth=Bearer %s\001\001",
                     s->cfg.username, s->cfg.token);
    if (n < 0)
        return smtp_fail(s, HERALD_ERR_INTERNAL, NULL, "out of memory");
    herald_class rc = send_b64(s, c, "AUTH XOAUTH2", blob, (size_t)n, r);
    wipe_free(blob);
    if (rc == HERALD_OK && challenged(r)) {
        /* the error comes as a base64 JSON challenge; answer empty */
        size_t len = 0;
        *detail_r = (char *)smtp_b64_decode(r->text.data ? r->text.data : "", &len);
        for (char *p = *detail_r; p && *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = ' ';
        rc = smtp_command(s, c, "", "(empty XOAUTH2 response)", r);
    }
    return rc;
}

static int mech_is_token(const char *mech)
{
    return strcmp(mech, "XOAUTH2") == 0;
}

static herald_class auth_verdict(struct smtp *s, struct smtp_conn *c,
                                 const struct smtp_reply *r, const char *mech,
                                 const char *detail)
{
    if (r->code == 235)
        return HERALD_OK;
    if (r->code == 334) {
        /* more challenges than the mechanism has: cancel */
        struct smtp_reply rr = {0};
        if (smtp_command(s, c, "*", NULL, &rr) == HERALD_OK && rr.code == 334)
            c->broken = 1; /* still challenging: out of step, no QUIT */
        hbuf_free(&rr.text);
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_PROTOCOL, r,
                                  "%s sent an unexpected AUTH %s challenge",
                                  s->where, mech),
                        "set auth to another mechanism");
    }
    char *txt = smtp_reply_flat(r);
    char extra[300] = "";
    if (detail && *detail)
        snprintf(extra, sizeof extra, " (%.250s)", detail);
    herald_class cls;
    if (r->code >= 400 && r->code < 500)
        cls = smtp_fix(s, smtp_fail(s, HERALD_ERR_TEMPORARY, r,
                                 "%s could not check the credentials for now: %d %s",
                                 s->where, r->code, txt ? txt : ""),
                       "try again later");
    else
        cls = smtp_fix(s, smtp_fail(s, HERALD_ERR_AUTH, r,
                                 "%s rejected the credentials of %s (AUTH %s): %d %s%s",
                                 s->where, s->cfg.username, mech, r->code, txt ? txt : "", extra),
                       "check username and %s%s",
                       mech_is_token(mech) ? "xoauth2_token (access tokens "
                                              "expire: get a fresh one)"
                                            : "password", r->code == 534 ? " (the provider wants an app password "
                                         "or an OAuth token: see xoauth2_token)"
                                       : "");
    free(txt);
    return cls;
}

herald_class smtp_auth(struct smtp *s, struct smtp_conn *c)
{
    if (!c->tls)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_CONFIG, NULL,
                                  "refusing to send credentials to %s without TLS",
                                  s->where),
                        "use tls = starttls or tls = implicit");
    if (!(c->ext & SMTP_EXT_AUTH) || !c->mechs)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_AUTH, NULL,
                                  "%s offers no AUTH mechanism herald knows (PLAIN, LOGIN, "
                                  "CRAM-MD5, XOAUTH2) after TLS",
                                  s->where),
                        "remove username and password if this server needs none, or "
                        "check the port (587 is for authenticated submission)");
    unsigned mech;
    const char *name = smtp_auth_pick(s, c->mechs, &mech);
    if (!name)
        return smtp_fix(s, smtp_fail(s, HERALD_ERR_AUTH, NULL,
                                  "%s does not offer AUTH %s after TLS",
                                  s->where, s->cfg.auth ? smtp_mech_name(s->cfg.auth) : "XOAUTH2"),
                        "set auth = auto or a mechanism it offers");
    struct smtp_reply r = {0};
    char *detail = NULL;
    herald_class rc;
    switch (mech) {
    case SMTP_MECH_PLAIN: rc = auth_plain(s, c, &r); break;
    case SMTP_MECH_LOGIN: rc = auth_login(s, c, &r); break;
    case SMTP_MECH_CRAM_MD5: rc = auth_cram_md5(s, c, &r); break;
    default: rc = auth_xoauth2(s, c, &r, &detail); break;
    }
    if (rc == HERALD_OK)
        rc = auth_verdict(s, c, &r, name, detail);
    free(detail);
    hbuf_free(&r.text);
    return rc;
}
