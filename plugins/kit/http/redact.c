/*
 * plugins/kit/http/redact.c - see redact.h.  A provider that echoes the
 * credential it was given (in an error text, or even in a message id) must
 * not make herald print it: every text the helper hands to the core passes
 * through hh_secrets_apply() first.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "redact.h"

static int known(const struct hh_secrets *s, const char *value)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], value) == 0)
            return 1;
    return 0;
}

int hh_secrets_add_exact(struct hh_secrets *s, const char *value)
{
    if (!value || strlen(value) < HH_SECRET_MIN || known(s, value))
        return 0;
    char **grown = realloc(s->v, (s->n + 1) * sizeof *grown);
    if (!grown)
        return -1;
    s->v = grown;
    if (!(s->v[s->n] = strdup(value)))
        return -1;
    /* longest first, so that "Basic xyz" style forms go before parts */
    size_t i = s->n++;
    while (i > 0 && strlen(s->v[i - 1]) < strlen(s->v[i])) {
        char *t = s->v[i - 1];
        s->v[i - 1] = s->v[i];
        s->v[i] = t;
        i--;
    }
    return 0;
}

int hh_secrets_add(struct hh_secrets *s, const char *value)
{
    if (!value || strlen(value) < HH_SECRET_MIN)
        return 0;
    if (hh_secrets_add_exact(s, value) != 0)
        return -1;
    char *b64 = hh_base64((const unsigned char *)value, strlen(value), NULL);
    if (!b64)
        return -1;
    /* without its padding too: a provider may quote it either way */
    int rc = hh_secrets_add_exact(s, b64);
    char *pad = strchr(b64, '=');
    if (pad && rc == 0) {
        *pad = '\0';
        rc = hh_secrets_add_exact(s, b64);
    }
    free(b64);
    return rc;
}

char *hh_secrets_apply(const struct hh_secrets *s, const char *text)
{
    if (!text)
        return NULL;
    char *out = strdup(text);
    for (size_t i = 0; out && i < s->n; i++) {
        const char *v = s->v[i];
        size_t vl = strlen(v);
        char *hit = strstr(out, v);
        if (!hit)
            continue;
        /* "***" is never longer than a value (HH_SECRET_MIN > 3): in place */
        char *w = out, *r = out;
        while ((hit = strstr(r, v))) {
            memmove(w, r, (size_t)(hit - r));
            w += hit - r;
            memcpy(w, "***", 3);
            w += 3;
            r = hit + vl;
        }
        memmove(w, r, strlen(r) + 1);
    }
    return out;
}

void hh_secrets_free(struct hh_secrets *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}
