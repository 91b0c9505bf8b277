/*
 * plugins/ses/sigv4.h - AWS Signature Version 4 on GnuTLS's SHA-256/HMAC.
 *
 * herald signs SES requests itself rather than with CURLOPT_AWS_SIGV4 so
 * that `herald send --dry-run` can print the exact signed request (libcurl
 * computes its signature inside the transfer, out of reach) and the
 * signature can be checked against AWS's published example values.
 */
#ifndef HERALD_SES_SIGV4_H
#define HERALD_SES_SIGV4_H

#include <stddef.h>

struct sigv4_header {
    const char *name;   /* lower case, e.g. "x-amz-date" */
    const char *value;
};

struct sigv4_request {
    const char *method;          /* "POST" */
    const char *path;            /* as sent, e.g. "/v2/email/outbound-emails" */
    const char *query;           /* as sent, without '?'; "" when none */
    const struct sigv4_header *headers;  /* every header to sign */
    size_t n_headers;
    const void *payload;
    size_t payload_len;
    const char *access_key_id;
    const char *secret;
    const char *region;          /* "us-east-1" */
    const char *service;         /* "ses" */
    const char *amz_date;        /* "20150830T123600Z" (UTC) */
};

/* The signing key: HMAC chain over "AWS4"+secret, date (YYYYMMDD), region,
 * service and "aws4_request".  Returns 0, or -1 on failure. */
int sigv4_signing_key(const char *secret, const char *date8, const char *region,
                      const char *service, unsigned char key_r[32]);

/* The canonical request and the string to sign (malloc'd; NULL on OOM). */
char *sigv4_canonical_request(const struct sigv4_request *r);
char *sigv4_string_to_sign(const struct sigv4_request *r);

/* The Authorization header value:
 * "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
 *  SignedHeaders=a;b;c, Signature=HEX" (malloc'd; NULL on failure). */
char *sigv4_authorization(const struct sigv4_request *r);

/* Lower-case hex of @len bytes into @out (2*len+1 bytes). */
void sigv4_hex(const unsigned char *p, size_t len, char *out);

#endif
