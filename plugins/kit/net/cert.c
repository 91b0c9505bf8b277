/*
 * plugins/kit/net/cert.c - what a peer's certificate says (names, dates,
 * issuer, sha256) and why GnuTLS refused it, with what to do.  GnuTLS
 * only; see net_diag.h.
 */
#include "config.h"

#define HN_WITH_GNUTLS 1
#include "net_diag.h"
#include "base/base.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/x509.h>

static void date_of(time_t t, char out[16])
{
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, 16, "%Y-%m-%d", &tm))
        snprintf(out, 16, "?");
}

static void dn_of(gnutls_x509_crt_t crt, int issuer, char *out, size_t size)
{
    gnutls_datum_t dn = {NULL, 0};
    int r = issuer ? gnutls_x509_crt_get_issuer_dn3(crt, &dn, 0)
                   : gnutls_x509_crt_get_dn3(crt, &dn, 0);
    snprintf(out, size, "%s", r >= 0 && dn.data ? (const char *)dn.data : "?");
    gnutls_free(dn.data);
}

/* The DNS names and IP addresses the certificate is for, else its CN. */
static void names_of(gnutls_x509_crt_t crt, char *out, size_t size)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < 16 && o + 4 < size; i++) {
        char buf[256], ip[INET6_ADDRSTRLEN];
        size_t len = sizeof buf - 1;
        int t = gnutls_x509_crt_get_subject_alt_name(crt, i, buf, &len, NULL);
        if (t < 0 && t != GNUTLS_E_SHORT_MEMORY_BUFFER)
            break;
        const char *name = NULL;
        if (t == GNUTLS_SAN_DNSNAME) {
            buf[len] = '\0';
            name = buf;
        } else if (t == GNUTLS_SAN_IPADDRESS && (len == 4 || len == 16)) {
            name = inet_ntop(len == 4 ? AF_INET : AF_INET6, buf, ip, sizeof ip);
        }
        if (name)
            o += (size_t)snprintf(out + o, size - o, "%s%s", o ? ", " : "", name);
    }
    if (!out[0]) {
        char cn[256];
        size_t len = sizeof cn;
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0,
                                          cn, &len) >= 0)
            snprintf(out, size, "%s", cn);
    }
}

void hn_hex_colons(const unsigned char *p, size_t n, char *out)
{
    out[0] = '\0';
    for (size_t i = 0; i < n; i++)
        sprintf(out + 3 * i, "%02X%s", p[i], i + 1 < n ? ":" : "");
}

int hn_cert_read_der(const gnutls_datum_t *der, struct hn_cert *ci)
{
    gnutls_x509_crt_t crt;
    memset(ci, 0, sizeof *ci);
    if (gnutls_x509_crt_init(&crt) < 0)
        return -1;
    int ok = gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) >= 0;
    if (ok) {
        dn_of(crt, 0, ci->subject, sizeof ci->subject);
        dn_of(crt, 1, ci->issuer, sizeof ci->issuer);
        names_of(crt, ci->names, sizeof ci->names);
        ci->expires = gnutls_x509_crt_get_expiration_time(crt);
        ci->activates = gnutls_x509_crt_get_activation_time(crt);
        ci->days_left = (long)((ci->expires - time(NULL)) / 86400);
        date_of(ci->expires, ci->until);
        date_of(ci->activates, ci->from);
        ci->self_signed = gnutls_x509_crt_check_issuer(crt, crt) == 1;
        if (gnutls_hash_fast(GNUTLS_DIG_SHA256, der->data, der->size,
                             ci->sha256) >= 0)
            hn_hex_colons(ci->sha256, sizeof ci->sha256, ci->fp);
    }
    gnutls_x509_crt_deinit(crt);
    return ok ? 0 : -1;
}

int hn_cert_read(gnutls_session_t session, struct hn_cert *ci)
{
    unsigned n = 0;
    const gnutls_datum_t *list = session ? gnutls_certificate_get_peers(session, &n)
                                         : NULL;
    if (!list || n == 0) {
        memset(ci, 0, sizeof *ci);
        return -1;
    }
    return hn_cert_read_der(&list[0], ci);
}

int hn_cert_verify(gnutls_session_t session, const char *host,
                   unsigned *status_r)
{
    *status_r = 0;
    return gnutls_certificate_verify_peers3(session, host, status_r);
}

/* Add one reason to @why and its remedy to @fix ("; "-separated). */
static void problem(struct hbuf *why, struct hbuf *fix, const char *w,
                    const char *f)
{
    hbuf_printf(why, "%s%s", why->len ? "; " : "", w);
    hbuf_printf(fix, "%s%s", fix->len ? "; " : "", f);
}

void hn_cert_problems(const struct hn_cert *ci, unsigned status,
                      const char *host, const char *ca_file,
                      struct hbuf *why, struct hbuf *fix)
{
    char w[700], f[900];
    unsigned known = GNUTLS_CERT_INVALID;
    if (status & (GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA)) {
        known |= GNUTLS_CERT_SIGNER_NOT_FOUND | GNUTLS_CERT_SIGNER_NOT_CA;
        snprintf(w, sizeof w, "%s%s%s, and this machine trusts only %s%s",
                 ci->self_signed ? "it is self-signed" : "its issuer (",
                 ci->self_signed ? "" : ci->issuer,
                 ci->self_signed ? "" : ") is not a trusted CA",
                 ca_file ? "ca_file = " : "the system's CA certificates",
                 ca_file ? ca_file : "");
        snprintf(f, sizeof f, "set ca_file to the CA certificate that signed "
                 "it, or pin this certificate with tls_fingerprint = %s", ci->fp);
        problem(why, fix, w, f);
    }
    if (status & GNUTLS_CERT_UNEXPECTED_OWNER) {
        known |= GNUTLS_CERT_UNEXPECTED_OWNER;
        snprintf(w, sizeof w, "it was issued for %s, not for %s (wrong host)",
                 ci->names, host);
        snprintf(f, sizeof f, "set host to a name it lists (%s) if that is the "
                 "same server, or fix the server's certificate so that it "
                 "covers %s", ci->names, host);
        problem(why, fix, w, f);
    }
    if (status & GNUTLS_CERT_EXPIRED) {
        known |= GNUTLS_CERT_EXPIRED;
        snprintf(w, sizeof w, "it expired on %s", ci->until);
        problem(why, fix, w, "the server must renew its certificate (if that "
                "date looks wrong, check this machine's clock)");
    }
    if (status & GNUTLS_CERT_NOT_ACTIVATED) {
        known |= GNUTLS_CERT_NOT_ACTIVATED;
        snprintf(w, sizeof w, "it is not valid before %s", ci->from);
        problem(why, fix, w, "check this machine's clock");
    }
    if (status & GNUTLS_CERT_REVOKED) {
        known |= GNUTLS_CERT_REVOKED;
        problem(why, fix, "it was revoked", "the server needs a new certificate");
    }
    if (status & ~known) {
        gnutls_datum_t out = {NULL, 0};
        if (gnutls_certificate_verification_status_print(status & ~known,
                GNUTLS_CRT_X509, &out, 0) >= 0 && out.data)
            problem(why, fix, (const char *)out.data, "fix the server's "
                    "certificate, or set ca_file or tls_fingerprint");
        gnutls_free(out.data);
    }
}
