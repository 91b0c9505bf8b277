/* fuzz/fuzz_mime.c - libFuzzer harness for the MIME renderer.
 *
 * The input builds a message through the public setters (so invalid values
 * are refused exactly as for an application), which hmime_render renders.
 * Input layout: one flag byte, then NUL-separated fields
 *
 *   subject, text, html, display name, header name, header value, tag,
 *   metadata key, metadata value, content type, attachment filename,
 *   attachment bytes (the rest of the input, NULs included)
 *
 * A missing or empty field is not set (an attachment needs a filename).
 * Flag bits: 0 HERALD_MIME_NO_HERALD_HEADERS; 1 display name written
 * without quotes; 2 add a Cc with the name; 3 Reply-To with the name;
 * 4 add a Bcc.
 *
 * Checks: rendering never fails with HERALD_ERR_INTERNAL; a message that
 * herald_msg_validate accepts always renders; and the output has no bare CR
 * or LF, no NUL, no line over 998 octets, no Bcc header (nor the Bcc
 * address in the header block), and ends with CRLF. */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define N_FIELDS 12
#define BCC_ADDR "hidden-bcc@example.net"
#define MAX_LINE 998

enum { F_SUBJECT, F_TEXT, F_HTML, F_NAME, F_HNAME, F_HVALUE, F_TAG,
       F_MKEY, F_MVALUE, F_CTYPE, F_FILENAME, F_ATTACH };

struct input {
    const uint8_t *data;
    size_t size;
};

static void fail(const char *what, const char *out, size_t len)
{
    fprintf(stderr, "fuzz_mime: %s\n", what);
    if (out)
        fprintf(stderr, "---- output (%zu bytes) ----\n%.*s\n----\n", len,
                (int)(len > 4000 ? 4000 : len), out);
    abort();
}

/* Split after the flag byte; fields[i] is NULL when the input ran out. */
static void split(const uint8_t *p, size_t n, char **fields,
                  const uint8_t **att_r, size_t *att_len_r)
{
    for (int i = 0; i < N_FIELDS; i++)
        fields[i] = NULL;
    *att_r = NULL;
    *att_len_r = 0;
    for (int i = 0; i < N_FIELDS - 1 && n; i++) {
        const uint8_t *nul = memchr(p, '\0', n);
        size_t len = nul ? (size_t)(nul - p) : n;
        fields[i] = strndup((const char *)p, len);
        p += len;
        n -= len;
        if (!nul)
            return;
        p++;
        n--;
    }
    *att_r = p;
    *att_len_r = n;
}

static int given(const char *s)
{
    return s && *s;
}

/* "NAME <addr>" with NAME raw or quoted (escaping " and \), or "addr". */
static char *mailbox(const char *name, int raw, const char *addr)
{
    if (!given(name))
        return strdup(addr);
    struct hbuf b = {0};
    if (raw) {
        hbuf_adds(&b, name);
    } else {
        hbuf_addc(&b, '"');
        for (const char *c = name; *c; c++) {
            if (*c == '"' || *c == '\\')
                hbuf_addc(&b, '\\');
            hbuf_addc(&b, *c);
        }
        hbuf_addc(&b, '"');
    }
    hbuf_printf(&b, " <%s>", addr);
    return hbuf_steal(&b, NULL);
}

static herald_msg *build(char **f, unsigned flags, const uint8_t *att,
                         size_t att_len)
{
    herald_msg *m = herald_msg_new();
    if (!m)
        return NULL;
    int raw = (flags & 2) != 0;
    char *from = mailbox(f[F_NAME], raw, "sender@example.com");
    char *to = mailbox(f[F_NAME], raw, "to2@example.org");
    if (from)
        herald_msg_set_from(m, from);
    herald_msg_add_to(m, "rcpt@example.org");
    if (to && given(f[F_NAME]))
        herald_msg_add_to(m, to);
    if ((flags & 4) && to)
        herald_msg_add_cc(m, to);
    if ((flags & 8) && from)
        herald_msg_set_reply_to(m, from);
    if (flags & 16)
        herald_msg_add_bcc(m, BCC_ADDR);
    free(from);
    free(to);
    if (given(f[F_SUBJECT]))
        herald_msg_set_subject(m, f[F_SUBJECT]);
    if (given(f[F_TEXT]))
        herald_msg_set_text(m, f[F_TEXT]);
    if (given(f[F_HTML]))
        herald_msg_set_html(m, f[F_HTML]);
    if (given(f[F_HNAME]) && f[F_HVALUE])
        herald_msg_add_header(m, f[F_HNAME], f[F_HVALUE]);
    if (given(f[F_TAG]))
        herald_msg_add_tag(m, f[F_TAG]);
    if (given(f[F_MKEY]) && f[F_MVALUE])
        herald_msg_set_metadata(m, f[F_MKEY], f[F_MVALUE]);
    if (given(f[F_FILENAME]))
        herald_msg_attach_data(m, att, att_len, f[F_FILENAME],
                               given(f[F_CTYPE]) ? f[F_CTYPE] : NULL);
    return m;
}

static void check_lines(const char *out, size_t len)
{
    size_t col = 0;
    for (size_t i = 0; i < len; i++) {
        if (out[i] == '\0')
            fail("NUL in the output", out, len);
        if (out[i] == '\r') {
            if (i + 1 >= len || out[i + 1] != '\n')
                fail("bare CR in the output", out, len);
            i++;
            col = 0;
        } else if (out[i] == '\n') {
            fail("bare LF in the output", out, len);
        } else if (++col > MAX_LINE) {
            fail("line longer than 998 octets", out, len);
        }
    }
    if (len < 2 || out[len - 2] != '\r' || out[len - 1] != '\n')
        fail("output does not end with CRLF", out, len);
}

static void check_headers(const char *out, size_t len, int bcc_in_input)
{
    const char *end = memmem(out, len, "\r\n\r\n", 4);
    if (!end)
        fail("no blank line after the headers", out, len);
    size_t hlen = (size_t)(end - out) + 2;
    for (const char *l = out; l < out + hlen;) {
        if (strncasecmp(l, "bcc:", 4) == 0)
            fail("Bcc header in the output", out, len);
        const char *nl = memchr(l, '\n', hlen - (size_t)(l - out));
        if (!nl)
            break;
        l = nl + 1;
    }
    if (!bcc_in_input && memmem(out, hlen, BCC_ADDR, strlen(BCC_ADDR)))
        fail("Bcc address in the headers", out, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0];
    char *f[N_FIELDS];
    const uint8_t *att;
    size_t att_len;
    split(data + 1, size - 1, f, &att, &att_len);

    herald_msg *m = build(f, flags, att, att_len);
    if (!m)
        abort();
    herald_error *verr = NULL;
    herald_class vrc = herald_msg_validate(m, &verr);
    if ((vrc == HERALD_OK) != (verr == NULL))
        fail("herald_msg_validate: result and error disagree", NULL, 0);
    if (vrc == HERALD_ERR_INTERNAL)
        fail(herald_error_message(verr), NULL, 0);

    char *out = NULL;
    size_t len = 0;
    herald_error *err = NULL;
    herald_class rc = hmime_render(m, flags & 1 ? HERALD_MIME_NO_HERALD_HEADERS
                                                : 0, &out, &len, &err);
    if (rc == HERALD_OK) {
        if (!out || err || strlen(out) != len)
            fail("render: bad output pointer, length or error", out, len);
        check_lines(out, len);
        check_headers(out, len, memmem(data, size, "hidden-bcc", 10) != NULL);
        size_t measured = 0;
        if (hmime_size(m, flags & 1 ? HERALD_MIME_NO_HERALD_HEADERS : 0,
                       &measured, NULL) != HERALD_OK || measured != len)
            fail("hmime_size differs from the rendered length", out, len);
    } else {
        if (out || !err)
            fail("render failed without an error, or with output", NULL, 0);
        if (rc == HERALD_ERR_INTERNAL)
            fail(herald_error_message(err), NULL, 0);
        if (vrc == HERALD_OK)
            fail("a validated message does not render",
                 herald_error_message(err), strlen(herald_error_message(err)));
    }
    free(out);
    herald_error_free(err);
    herald_error_free(verr);
    herald_msg_free(m);
    for (int i = 0; i < N_FIELDS; i++)
        free(f[i]);
    return 0;
}
