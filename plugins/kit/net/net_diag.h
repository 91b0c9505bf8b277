/*
 * plugins/kit/net/net_diag.h - the network diagnosis kit shared by the
 * drivers' checks (`herald doctor`): name resolution bounded by a timeout,
 * connect classification with timing, and certificate inspection.
 * Prefix: hn_.
 *
 * A static convenience library compiled into each driver that uses it
 * (drivers link nothing of libherald.so):
 *   libherald-net.la      resolve.c, connect.c     libc + pthreads
 *   libherald-netcert.la  cert.c                   GnuTLS (built when
 *                                                  configure found it)
 * Text goes into the base library's struct hbuf, so a driver using the kit
 * links libherald/base/libherald-base.la too.  Nothing here keeps state
 * between calls, and nothing here knows a driver's option names, except
 * that hn_cert_problems' fixes name `ca_file` and `tls_fingerprint`, which
 * every TLS-speaking driver spells the same.
 */
#ifndef HERALD_NET_DIAG_H
#define HERALD_NET_DIAG_H

#include <netdb.h>
#include <stddef.h>
#include <sys/socket.h>
#include <time.h>

struct hbuf;

/* ---- clock (connect.c) -------------------------------------------------- */

/* Milliseconds on the monotonic clock, for timing steps and deadlines. */
double hn_now_ms(void);

/* ---- resolve (resolve.c) ------------------------------------------------ */

/*
 * hn_resolve - getaddrinfo(@host, @port) (any family, SOCK_STREAM) within
 * @timeout_ms.
 *
 * The lookup runs in a detached thread of its own, so that a resolver that
 * hangs cannot hold the caller past the timeout.  The caller and the thread
 * each hold a reference to the lookup and the last one frees it, so giving
 * up is safe at any moment.  When the caller gives up, the thread still has
 * to return into this code: the module holding it (the driver .so) is then
 * pinned with dlopen(RTLD_NODELETE), so that the core unloading the driver
 * never unmaps code a thread is running.  If no thread can be started, the
 * lookup runs in the caller, unbounded.
 *
 * Returns 0 with *ai_r (freeaddrinfo() it), or a getaddrinfo error code
 * (EAI_SYSTEM with errno set; EAI_AGAIN with *timed_out_r = 1 when no
 * answer came within @timeout_ms; EAI_MEMORY).  @timed_out_r may be NULL.
 */
int hn_resolve(const char *host, int port, long timeout_ms,
               struct addrinfo **ai_r, int *timed_out_r);

/* The numeric text of @sa ("192.0.2.1", "2001:db8::1"); "?" when none. */
void hn_addr_text(const struct sockaddr *sa, socklen_t len, char *out,
                  size_t size);

/* "A" or "AAAA" for an address family. */
const char *hn_family_name(int family);

/* ", "-separated "ADDRESS (A|AAAA)" of every address in @ai, appended to @b. */
void hn_addrs_text(const struct addrinfo *ai, struct hbuf *b);

/* ---- connect (connect.c) ------------------------------------------------ */

/* What a TCP connect attempt found. */
enum hn_outcome {
    HN_CONNECTED,    /* the handshake completed */
    HN_REFUSED,      /* a reset: nothing listens, or a firewall rejects */
    HN_UNREACHABLE,  /* no route (ENETUNREACH, EHOSTUNREACH) */
    HN_FILTERED,     /* no answer at all within the timeout (ETIMEDOUT) */
    HN_OTHER         /* any other errno */
};

/* The outcome for errno @e of a connect (0 = connected). */
enum hn_outcome hn_classify(int e);

/* Short text for errno @e of a connect: "connected", "no answer", "refused",
 * "unreachable", else strerror(). */
const char *hn_outcome_text(int e);

/* How much errno @e says about why no address worked (higher = more): a
 * timeout beats a refusal beats anything else beats no route. */
int hn_errno_rank(int e);

/* Wait for @events on @fd until @deadline_ms (hn_now_ms() scale): 1 ready,
 * 0 timed out, -1 error (errno set).  EINTR is retried. */
int hn_wait_fd(int fd, short events, double deadline_ms);

/* Connect a non-blocking, close-on-exec socket to @a before @deadline_ms:
 * the connected socket, or -1 with *errno_r set (ETIMEDOUT when the
 * deadline passed first). */
int hn_connect_addr(const struct addrinfo *a, double deadline_ms, int *errno_r);

/* The result of hn_connect. */
struct hn_connect {
    int fd;                          /* the connected socket, or -1 */
    const struct addrinfo *addr;     /* connected to, or the most telling
                                        failure (NULL when @ai was empty) */
    int err;                         /* 0, or that failure's errno */
    enum hn_outcome outcome;         /* hn_classify(err) */
    double ms;                       /* how long it all took */
    int n_tried;                     /* addresses tried */
};

/*
 * hn_connect - try each address of @ai in turn within @timeout_ms in all,
 * stopping at the first that connects or at a timeout (the whole budget is
 * spent then).  Each failed attempt is appended to @tried (may be NULL) as
 * "ADDRESS OUTCOME", ", "-separated.  TCP_NODELAY is set on success.
 * Returns r->fd.
 */
int hn_connect(const struct addrinfo *ai, long timeout_ms, struct hn_connect *r,
               struct hbuf *tried);

/* One attempt of hn_probe_run: fill sa/len (and port, for the caller's
 * report); the rest is the result. */
struct hn_probe {
    struct sockaddr_storage sa;
    socklen_t len;
    int port;                  /* the caller's: hn_probe_set_port sets it */
    int tag;                   /* the caller's */
    int fd;
    int err;                   /* 0 connected, else errno (ETIMEDOUT: none) */
    double ms;                 /* how long it took */
};

/* Copy @sa (of @len bytes; ignored when larger than sockaddr_storage) into
 * @p with @port; returns 0, or -1 when it does not fit. */
int hn_probe_set(struct hn_probe *p, const struct sockaddr *sa, socklen_t len,
                 int port);

/* Start every probe at once and wait until all are done or @timeout_ms
 * passed; each gets its outcome and time, and no socket stays open.  At
 * most 16 probes are waited for. */
void hn_probe_run(struct hn_probe *p, size_t n, long timeout_ms);

/* What hn_port_probe found. */
struct hn_port_probe {
    int open_port;             /* the first of @ports that connected, or 0 */
    int ref_result;            /* the reference host: 0 connected, else the
                                  most telling errno; -1 not tried (no
                                  reference, or it has no address) */
    double ref_ms;             /* how long its connect took */
    int ref_gai;               /* its getaddrinfo error (EAI_NONAME when it
                                  gave no address to try), 0 when resolved */
    int ref_timed_out;         /* its lookup got no answer in time */
};

/*
 * hn_port_probe - after a connect to @addr timed out (filtered), try the
 * other @ports (skipping @skip_port) on the same address and, when
 * @ref_host is set, @ref_host:@ref_port (a host known to answer, e.g. an
 * HTTPS API), all at once within @timeout_ms, to tell a blocked port from
 * a dead server or network.  The evidence goes to @evidence as "; port 25
 * no answer, 465 connected; probe_host HOST:PORT connected in 12 ms" (each
 * port, then the reference named @ref_name).  At most 8 probes.
 */
void hn_port_probe(const struct addrinfo *addr, const int *ports, size_t n_ports,
                   int skip_port, const char *ref_host, int ref_port,
                   const char *ref_name, long timeout_ms,
                   struct hn_port_probe *r, struct hbuf *evidence);

/* ---- certificate (cert.c, needs GnuTLS) ---------------------------------- */

#ifdef HN_WITH_GNUTLS
#include <gnutls/gnutls.h>

/* What the peer's certificate says. */
struct hn_cert {
    char subject[300], issuer[300];
    char names[300];           /* SAN DNS names and IPs, else the CN */
    char fp[100];              /* sha256 of the DER, colon-separated hex */
    unsigned char sha256[32];
    char until[16], from[16];  /* YYYY-MM-DD, UTC */
    time_t expires, activates;
    long days_left;            /* whole days until it expires (may be < 0) */
    int self_signed;
};

/* Read the leaf certificate of @der into @ci; 0, or -1 when unreadable. */
int hn_cert_read_der(const gnutls_datum_t *der, struct hn_cert *ci);

/* The peer's leaf certificate of the handshaken @session into @ci; 0, or
 * -1 when it sent none or it is unreadable. */
int hn_cert_read(gnutls_session_t session, struct hn_cert *ci);

/* "AA:BB:..." of @n bytes at @p into @out (3 * n bytes). */
void hn_hex_colons(const unsigned char *p, size_t n, char *out);

/*
 * hn_cert_verify - verify the peer of @session against its credentials'
 * trust list and @host (subject/SAN names vs host, expiry, issuer trust).
 * Returns 0 with *status_r (0 = trusted, else GNUTLS_CERT_* bits), or a
 * negative GnuTLS error (gnutls_strerror names it).
 */
int hn_cert_verify(gnutls_session_t session, const char *host,
                   unsigned *status_r);

/*
 * hn_cert_problems - why GnuTLS refused @ci (@status bits from
 * hn_cert_verify), appended to @why, and what to do, appended to @fix;
 * each reason is "; "-separated from the one before.  @host is the name
 * that was checked; @ca_file the configured CA file (NULL: the system's
 * CAs), named in the issuer-trust reason.
 */
void hn_cert_problems(const struct hn_cert *ci, unsigned status,
                      const char *host, const char *ca_file,
                      struct hbuf *why, struct hbuf *fix);
#endif /* HN_WITH_GNUTLS */

#endif /* HERALD_NET_DIAG_H */
