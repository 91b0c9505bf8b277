/* libherald/mime/mime.h - what the MIME renderer (render.c) uses from the
 * encoders (encode.c).  Private to libherald/mime/. */
#ifndef HERALD_MIME_MIME_H
#define HERALD_MIME_MIME_H

#include "../internal.h"

#define HMIME_MAX_LINE 998   /* RFC 5322 hard limit, without CRLF */

/* Writes one header field, folding before a space when a line would pass
 * 78 columns.  has_text: the current line holds something besides
 * whitespace, so folding here would not leave a blank line. */
struct hw {
    struct hbuf *b;
    size_t line_start;
    int has_text;
};

/* "Name:" starts a field; tokens follow after a space (a place to fold);
 * hmime_hw_end ends it with CRLF. */
void hmime_hw_begin(struct hw *w, struct hbuf *b, const char *name);
void hmime_hw_tokens(struct hw *w, const char *s, int sp);
void hmime_hw_end(struct hw *w);
/* A parameter: attr="value", or attr*=utf-8''pct-encoded (RFC 2231). */
void hmime_param(struct hw *w, const char *attr, const char *value);

/* Whole header fields: a mailbox list (nothing when @n is 0) and
 * unstructured text (folded, or RFC 2047 encoded words). */
void hmime_mailbox_list(struct hbuf *b, const char *name,
                        const struct hm_mailbox *v, size_t n);
void hmime_text_header(struct hbuf *b, const char *name, const char *value);

/* Bodies: @s as 7bit with CRLF line breaks, returning 1 — or 0, writing
 * nothing, when it cannot go as 7bit (a byte over 127, a line over 998
 * octets); @s as quoted-printable (RFC 2045). */
int hmime_body_7bit(struct hbuf *b, const char *s);
void hmime_qp_encode(struct hbuf *b, const char *s);

#endif /* HERALD_MIME_MIME_H */
