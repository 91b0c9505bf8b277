/* plugins/ses/sigv4.c - AWS Signature Version 4; see sigv4.h. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "sigv4.h"

struct sbuf {
    char *data;
    size_t len, cap;
    int oom;
};

static void sb_add(struct sbuf *b, const char *p, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *g = realloc(b->data, cap);
        if (!g) {
            b->oom = 1;
            return;
        }
        b->data = g;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void sb_adds(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

static char *sb_done(struct sbuf *b)
{
    if (b->oom || !b->data) {
        free(b->data);
        return NULL;
    }
    return b->data;
}

void sigv4_hex(const unsigned char *p, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

static int hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
    return gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, klen, msg, strlen(msg), out) == 0
               ? 0 : -1;
}

static int sha256_hex(const void *p, size_t len, char out[65])
{
    unsigned char d[32];
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, p, len, d) != 0)
        return -1;
    sigv4_hex(d, 32, out);
    return 0;
}

int sigv4_signing_key(const char *secret, const char *date8, const char *region,
                      const char *service, unsigned char key_r[32])
{
    size_t sl = strlen(secret);
    char *k = malloc(sl + 5);
    if (!k)
        return -1;
    memcpy(k, "AWS4", 4);
    memcpy(k + 4, secret, sl + 1);
    unsigned char a[32], b[32];
    int rc = hmac(k, sl + 4, date8, a) | hmac(a, 32, region, b) |
             hmac(b, 32, service, a) | hmac(a, 32, "aws4_request", key_r);
    memset(k, 0, sl + 4);
    free(k);
    return rc ? -1 : 0;
}

/* RFC 3986 unreserved characters stay; everything else is %XX (upper
 * case).  '/' stays when @keep_slash (paths). */
static void uri_encode(struct sbuf *b, const char *s, size_t n, int keep_slash)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
            (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' ||
            ch == '~' || (keep_slash && ch == '/')) {
            sb_add(b, (const char *)&ch, 1);
        } else {
            char pct[4];
            snprintf(pct, sizeof pct, "%%%02X", ch);
            sb_add(b, pct, 3);
        }
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The query's name=value pairs, sorted (they are already encoded as sent). */
static void canonical_query(struct sbuf *b, const char *query)
{
    if (!query || !*query)
        return;
    char *copy = strdup(query);
    size_t n = 1;
    for (const char *p = query; *p; p++)
        n += *p == '&';
    char **pairs = calloc(n, sizeof *pairs);
    if (!copy || !pairs) {
        b->oom = 1;
        free(copy);
        free(pairs);
        return;
    }
    size_t k = 0;
    for (char *save = NULL, *t = strtok_r(copy, "&", &save); t;
         t = strtok_r(NULL, "&", &save))
        pairs[k++] = t;
    qsort(pairs, k, sizeof *pairs, cmp_str);
    for (size_t i = 0; i < k; i++) {
        if (i)
            sb_adds(b, "&");
        sb_adds(b, pairs[i]);
        if (!strchr(pairs[i], '='))
            sb_adds(b, "=");
    }
    free(pairs);
    free(copy);
}

static int cmp_header(const void *a, const void *b)
{
    return strcmp(((const struct sigv4_header *)a)->name,
                  ((const struct sigv4_header *)b)->name);
}

/* The headers sorted by name (a malloc'd copy). */
static struct sigv4_header *sorted_headers(const struct sigv4_request *r)
{
    struct sigv4_header *h = malloc((r->n_headers ? r->n_headers : 1) * sizeof *h);
    if (!h)
        return NULL;
    memcpy(h, r->headers, r->n_headers * sizeof *h);
    qsort(h, r->n_headers, sizeof *h, cmp_header);
    return h;
}

/* A header value trimmed, with runs of spaces collapsed to one. */
static void header_value(struct sbuf *b, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    int space = 0;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            space = 1;
            continue;
        }
        if (space)
            sb_adds(b, " ");
        space = 0;
        sb_add(b, v, 1);
    }
}

static void signed_headers(struct sbuf *b, const struct sigv4_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i)
            sb_adds(b, ";");
        sb_adds(b, h[i].name);
    }
}

char *sigv4_canonical_request(const struct sigv4_request *r)
{
    struct sbuf b = {0};
    char hash[65];
    struct sigv4_header *h = sorted_headers(r);
    if (!h || sha256_hex(r->payload ? r->payload : "", r->payload_len, hash) != 0) {
        free(h);
        return NULL;
    }
    sb_adds(&b, r->method);
    sb_adds(&b, "\n");
    uri_encode(&b, r->path, strlen(r->path), 1);
    sb_adds(&b, "\n");
    canonical_query(&b, r->query);
    sb_adds(&b, "\n");
    for (size_t i = 0; i < r->n_headers; i++) {
        sb_adds(&b, h[i].name);
        sb_adds(&b, ":");
        header_value(&b, h[i].value);
        sb_adds(&b, "\n");
    }
    sb_adds(&b, "\n");
    signed_headers(&b, h, r->n_headers);
    sb_adds(&b, "\n");
    sb_adds(&b, hash);
    free(h);
    return sb_done(&b);
}

static void scope(struct sbuf *b, const struct sigv4_request *r)
{
    sb_add(b, r->amz_date, 8);
    sb_adds(b, "/");
    sb_adds(b, r->region);
    sb_adds(b, "/");
    sb_adds(b, r->service);
    sb_adds(b, "/aws4_request");
}

char *sigv4_string_to_sign(const struct sigv4_request *r)
{
    if (strlen(r->amz_date) != 16)
        return NULL;
    char *canon = sigv4_canonical_request(r);
    char hash[65];
    if (!canon || sha256_hex(canon, strlen(canon), hash) != 0) {
        free(canon);
        return NULL;
    }
    free(canon);
    struct sbuf b = {0};
    sb_adds(&b, "AWS4-HMAC-SHA256\n");
    sb_adds(&b, r->amz_date);
    sb_adds(&b, "\n");
    scope(&b, r);
    sb_adds(&b, "\n");
    sb_adds(&b, hash);
    return sb_done(&b);
}

char *sigv4_authorization(const struct sigv4_request *r)
{
    char *sts = sigv4_string_to_sign(r);
    char date8[9];
    unsigned char key[32], sig[32];
    if (!sts)
        return NULL;
    memcpy(date8, r->amz_date, 8);
    date8[8] = '\0';
    int rc = sigv4_signing_key(r->secret, date8, r->region, r->service, key);
    if (rc == 0)
        rc = hmac(key, 32, sts, sig);
    free(sts);
    memset(key, 0, sizeof key);
    struct sigv4_header *h = sorted_headers(r);
    if (rc != 0 || !h) {
        free(h);
        return NULL;
    }
    char hex[65];
    sigv4_hex(sig, 32, hex);
    struct sbuf b = {0};
    sb_adds(&b, "AWS4-HMAC-SHA256 Credential=");
    sb_adds(&b, r->access_key_id);
    sb_adds(&b, "/");
    scope(&b, r);
    sb_adds(&b, ", SignedHeaders=");
    signed_headers(&b, h, r->n_headers);
    sb_adds(&b, ", Signature=");
    sb_adds(&b, hex);
    free(h);
    return sb_done(&b);
}
