/*
 * tests/support/http_testutil.h - what the HTTP driver tests share: the provider
 * test server (tests/support/servers/providers.py over HTTPS with certtool
 * certificates), its fault and request-record endpoints, and a message
 * that uses every field.
 */
#ifndef HERALD_HTTP_TESTUTIL_H
#define HERALD_HTTP_TESTUTIL_H

#include <stddef.h>
#include <jansson.h>
#include <herald/herald.h>
#include "testutil.h"

struct ht {
    struct tu_server srv;
    char *certs;      /* directory of tu_make_certs() */
    char *ca;         /* certs/ca.pem */
    char *base;       /* https://127.0.0.1:PORT */
    herald_ctx *ctx;
};

/* Start the server (HTTPS with the test CA); fails the test on error. */
void ht_start(struct ht *h);
/* The same with the certificate @cert ("server", "wronghost", ... of
 * tu_make_certs), more server arguments (@args: "--plain", "--bind ::1")
 * and @url_host in h->base ("127.0.0.1", "localhost", "[::1]"). */
void ht_start_at(struct ht *h, const char *cert, const char *args, const char *url_host);
/* Close the context, stop the server, remove the certificates. */
void ht_stop(struct ht *h);

/* Open h->ctx with one channel "c": `driver = DRIVER`, base_url, ca_file,
 * a short timeout, then the extra lines (printf format).  Fails the test
 * when the config does not open. */
void ht_open(struct ht *h, const char *driver, const char *extra_fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like ht_open without asserting: returns the class, error in *err_r. */
herald_class ht_try_open(struct ht *h, herald_error **err_r, const char *driver,
                         const char *extra_fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* POST /_test/fault with this JSON (printf format). */
void ht_fault(struct ht *h, const char *json_fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* GET /_test/requests: the array of records (caller decrefs). */
json_t *ht_requests(struct ht *h);
/* The last record (a new reference; the test fails when there is none). */
json_t *ht_last(struct ht *h);
/* A record's header (names are lower case), or NULL. */
const char *ht_header(json_t *rec, const char *name);
/* A record's body, decoded (malloc'd, NUL-terminated). */
char *ht_body(json_t *rec, size_t *len_r);
/* A record's body parsed as JSON (caller decrefs; fails the test if not). */
json_t *ht_body_json(json_t *rec);
/* Decode standard base64 (malloc'd; NULL when invalid). */
unsigned char *ht_unbase64(const char *s, size_t *len_r);

/* Send @m on channel "c"; returns the class, fills *err_r / *id_r
 * (malloc'd id or NULL). */
herald_class ht_send(struct ht *h, herald_msg *m, char **id_r, herald_error **err_r);
/* herald_render on channel "c" of a payload that may hold NUL bytes (a
 * multipart form with binary attachments): malloc'd, length in *len_r. */
char *ht_render_n(struct ht *h, herald_msg *m, size_t *len_r);
/* herald_render on channel "c" (malloc'd payload; fails the test on error). */
char *ht_render(struct ht *h, herald_msg *m);

/* One injected fault and what the driver must make of it. */
struct ht_fault_case {
    const char *fault;       /* JSON for /_test/fault */
    herald_class cls;
    const char *code;        /* herald_error_code(), or NULL: not checked */
    const char *text;        /* substring of the provider text, or NULL */
    long retry_after;        /* expected, or HT_ANY */
    const char *message;     /* substring of the message, or NULL */
    const char *fix;         /* substring of herald_error_fix(), or NULL */
};
#define HT_ANY (-2)
/* Inject each fault, send a small message, check the error. */
void ht_check_faults(struct ht *h, const struct ht_fault_case *cases, size_t n);
/* A reset connection gives HERALD_ERR_CONNECT; a slow answer past a 1 s
 * timeout gives HERALD_ERR_TIMEOUT in about a second.  @open_extra: the
 * channel's own lines (credentials), used to reopen with timeout = 1s. */
void ht_check_reset_and_slow(struct ht *h, const char *driver, const char *open_extra);
/* A fault JSON for /_test/fault: @mode ("status", "truncate", "endless"),
 * @status, @body (as is: no escaping needed), one header (or NULL), and
 * @pad bytes of "x" after the body.  Malloc'd. */
char *ht_answer_fault(const char *mode, int status, const char *body,
                      const char *header, const char *value, long pad);
/* Answers lost after the whole request was sent, each HERALD_ERR_DELIVERY_
 * UNKNOWN (not retryable): 200 then a truncated body, an endless body, a
 * body past the 1 MiB cap; an error status past the cap stays that error.
 * @success_body: the provider's success answer. */
void ht_check_lost_answers(struct ht *h, const char *success_body);
/* 200 answers that are not the provider's success answer: an HTML page,
 * invalid JSON, an empty body (unless @has_body is 0: the provider answers
 * with none) and {"error": "x"}, each delivery unknown with the escaped
 * first bytes in the message; then @success_fault (a fault JSON with the
 * provider's real success answer) is OK with message id @id. */
void ht_check_shapes(struct ht *h, const char *success_fault, const char *id,
                     int has_body);
/* A provider that echoes the credential: @error_fault (a fault JSON whose
 * body holds it) fails without @secret or any of @forms (NULL-terminated,
 * e.g. its base64) in the message, provider text or code; @id_fault (a
 * 200 with it in the message id) gives an id with "***" instead; and no
 * log line (debug level) shows it. */
void ht_check_redaction(struct ht *h, const char *secret, const char *const *forms,
                        const char *error_fault, const char *id_fault);
/* @n sends over one kept-alive connection (one conn_id). */
void ht_check_keepalive(struct ht *h, int n);
/* Has @hay got @needle?  For assertion messages. */
int ht_has(const char *hay, const char *needle);

/* The bytes of the binary test attachment (every byte value). */
#define HT_BIN_LEN 3000
const unsigned char *ht_bin(void);
#define HT_CSV "host,use\r\nweb1,99%\r\n"

/* A message using every field (no idempotency key): from, two To (one
 * with a UTF-8 name), Cc, Bcc, a quoted Reply-To, UTF-8 subject, text,
 * HTML, header X-Ticket, tags billing and alerts, metadata order_id and
 * customer, attachments data.bin (binary) and report.csv. */
herald_msg *ht_full_message(void);
/* A small message: To a@example.com, subject "hi", text "hello". */
herald_msg *ht_small_message(void);

#define HT_FROM_NAME "Jürgen Müller"
#define HT_FROM_ADDR "juergen@example.com"
#define HT_SUBJECT "Disk full — 99% ✓"
#define HT_TEXT "Grüße,\n/var is at 99%.\n"
#define HT_HTML "<p>Grüße — <b>/var</b> is at 99%</p>"

#endif
