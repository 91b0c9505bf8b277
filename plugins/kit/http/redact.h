/*
 * plugins/kit/http/redact.h - the secret values of one channel, and their
 * removal from text that leaves an HTTP driver (errors, provider text,
 * message ids, log and diagnosis lines).  Private to plugins/kit/http.
 */
#ifndef HERALD_PLUGINS_HTTP_REDACT_H
#define HERALD_PLUGINS_HTTP_REDACT_H

#include <stddef.h>

/* Values shorter than this are not redacted: replacing every "none" (the
 * proxy option's off switch) or "ab" in a provider's text would hide the
 * text and protect nothing. */
#define HH_SECRET_MIN 6

struct hh_secrets {
    char **v;
    size_t n;
};

/* Remember @value and its standard base64 form (no-op for NULL, short or
 * known values).  Returns 0, or -1 when out of memory. */
int hh_secrets_add(struct hh_secrets *s, const char *value);
/* Remember @value itself only (e.g. an Authorization header's base64). */
int hh_secrets_add_exact(struct hh_secrets *s, const char *value);
/* @text with every remembered value replaced by "***" (malloc'd; NULL
 * when @text is NULL or out of memory). */
char *hh_secrets_apply(const struct hh_secrets *s, const char *text);
void hh_secrets_free(struct hh_secrets *s);

#endif
