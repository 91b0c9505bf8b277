/*
 * plugins/smtp/smtp.h - what the files of the smtp driver share.
 *
 *   util.c         error recording, clocks, dot-stuffing (buffers and
 *                  base64: the base library, libherald/base/base.h)
 *   net.c          sockets and GnuTLS: resolve, connect, handshake, verify,
 *                  buffered line reading and writing with deadlines; the
 *                  EHLO name (host name or the local address literal)
 *   reply.c        SMTP replies (bounded), single commands, and the errors
 *                  an I/O failure or an unwelcome reply becomes
 *   session.c      opening a session: greeting, EHLO, STARTTLS, AUTH; QUIT
 *   transaction.c  MAIL/RCPT/DATA (pipelined when offered), the message
 *                  dot-stuffed, the verdict
 *   auth.c         AUTH PLAIN, LOGIN, CRAM-MD5 and XOAUTH2
 *   config.c       the option table and reading a channel's options, TLS
 *                  trust
 *   message.c      envelope, rendered message and Message-ID of a send
 *   smtp.c         the descriptor: init, send (connection reuse), render,
 *                  teardown
 *   check.c        the diagnosis (`herald doctor`), with check_reach.c,
 *                  check_tls.c and check_session.c (see check.h): each
 *                  step timed and reported with its cause and fix;
 *                  resolving, connect classification and certificate
 *                  inspection come from the network kit,
 *                  plugins/kit/net/net_diag.h (hn_*)
 *
 * Errors are recorded in struct smtp's `err` (the first one wins) and handed
 * to the core only when send/check returns, so that a send on a reused
 * connection the server had closed can be retried once on a fresh one
 * without leaking the first attempt's error.
 */
#ifndef HERALD_SMTP_H
#define HERALD_SMTP_H

#include "config.h"

#include <netdb.h>
#include <stddef.h>
#include <gnutls/gnutls.h>
#include <herald/plugin.h>
#include "base/base.h"

/* ---- configuration ---------------------------------------------------- */

enum smtp_tls { SMTP_TLS_IMPLICIT, SMTP_TLS_STARTTLS, SMTP_TLS_NONE };

/* AUTH mechanisms, as bits so a server's offer is a set. */
enum smtp_mech {
    SMTP_MECH_PLAIN = 1u << 0,
    SMTP_MECH_LOGIN = 1u << 1,
    SMTP_MECH_CRAM_MD5 = 1u << 2,
    SMTP_MECH_XOAUTH2 = 1u << 3
};

struct smtp_cfg {
    char *host;
    int port;
    enum smtp_tls tls;
    int tls_explicit;          /* the config named tls */
    char *username, *password, *token;
    unsigned auth;             /* 0 = auto, else one SMTP_MECH_* */
    char *helo;                /* NULL: computed on first use */
    char *ca_file;
    unsigned char pin[32];
    int has_pin;
    int verify;
    long connect_ms, greeting_ms, command_ms, data_ms, idle_ms;
    long max_messages;
    char *probe_host;          /* check only: tried when the port is filtered */
    int probe_port;
};

/* ---- buffers and errors ------------------------------------------------ */

struct smtp_err {
    herald_class cls;          /* HERALD_OK: no error recorded */
    char code[12];             /* SMTP reply code, "" when none */
    char *text;                /* the server's reply text or NULL */
    char *msg;                 /* what happened */
    char *fix;                 /* what to do, or NULL */
    int just_set;              /* the last smtp_fail recorded this one */
};

/* One SMTP reply: code and its text lines joined with '\n' (control
 * characters replaced by '?'). */
struct smtp_reply {
    int code;
    struct hbuf text;
    size_t lines;              /* lines read */
    int cut;                   /* a too long reply whose end was not seen */
};

/* ---- connection -------------------------------------------------------- */

/* Extensions from the last EHLO. */
#define SMTP_EXT_STARTTLS   (1u << 0)
#define SMTP_EXT_PIPELINING (1u << 1)
#define SMTP_EXT_8BITMIME   (1u << 2)
#define SMTP_EXT_SMTPUTF8   (1u << 3)
#define SMTP_EXT_SIZE       (1u << 4)
#define SMTP_EXT_AUTH       (1u << 5)

#define SMTP_RBUF 16384
#define SMTP_MAX_LINE 8192     /* longest reply line we accept */

struct smtp_conn {
    int fd;
    gnutls_session_t tls;      /* NULL while in plain text */
    char rbuf[SMTP_RBUF + 1];
    size_t rpos, rlen;
    struct hbuf out;           /* queued commands, sent by net_flush */
    unsigned char first[4];    /* first bytes received through TLS pull */
    size_t n_first;
    int sys_errno;             /* last socket error seen by the TLS layer */
    int tls_err;               /* last fatal GnuTLS error */
    unsigned ext;              /* SMTP_EXT_* */
    unsigned mechs;            /* SMTP_MECH_* offered */
    unsigned long size_max;    /* SIZE parameter, 0 = none */
    long messages;             /* delivered over this connection */
    long long last_used;       /* smtp_now_ms() */
    int dirty;                 /* a transaction did not complete: RSET */
    int lost;                  /* the server closed it (EOF, reset, 421) */
    int broken;                /* state unknown: close, never reuse */
    int defer_verify;          /* check: handshake without verifying; the
                                  caller verifies and reports afterwards */
};

struct smtp {
    const herald_host *host;
    herald_channel *ch;
    struct smtp_cfg cfg;
    gnutls_certificate_credentials_t cred;
    struct smtp_conn *conn;    /* the kept session, or NULL */
    struct smtp_err err;
    char where[300];           /* "host:port" for messages */
    char host_name[256];       /* this machine's name, as found */
    int host_name_done;        /* host_name was looked up */
    char helo[256];            /* the last EHLO name computed */
};

/* util.c */
long long smtp_now_ms(void);
/* Record an error (only the first sticks); returns @cls.  @r may be NULL. */
herald_class smtp_fail(struct smtp *s, herald_class cls,
                       const struct smtp_reply *r, const char *fmt, ...)
    HERALD_PRINTF(4, 5);
/* Set the fix (what to do) of the error the smtp_fail just before recorded
 * (nothing when that one did not stick); returns @cls, so that it wraps:
 * return smtp_fix(s, smtp_fail(s, CLS, r, "what", ...), "fix", ...); */
herald_class smtp_fix(struct smtp *s, herald_class cls, const char *fmt, ...)
    HERALD_PRINTF(3, 4);
void smtp_err_clear(struct smtp *s);
/* Hand the recorded error to the core; returns its class (@rc when none). */
herald_class smtp_err_report(struct smtp *s, herald_class rc,
                             herald_error **err_r);
/* Seconds as short text: "10", "0.5". */
const char *smtp_secs(long ms, char buf[32]);
/* Decode base64 into a malloc'd NUL-terminated buffer; NULL when invalid. */
unsigned char *smtp_b64_decode(const char *s, size_t *len_r);
/* The reply text on one line (newlines as spaces), malloc'd. */
char *smtp_reply_flat(const struct smtp_reply *r);
/* Dot-stuff the lines of @in (any line ending) from offset @from (a line
 * start) into @out with CRLF line endings, whole lines, until @out holds
 * @max bytes or more or @in ends; returns the offset reached, so that a
 * message streams into the output queue a piece at a time.  A counting
 * @out (out->count) measures without storing.  *longest_r (may be NULL)
 * is raised to the longest line seen, *eight_r (may be NULL) is set when
 * a byte >= 0x80 occurs.  The final ".\r\n" is the caller's. */
size_t smtp_dot_stuff(const char *in, size_t n, size_t from, struct hbuf *out,
                      size_t max, size_t *longest_r, int *eight_r);
/* How much of the message goes into the output queue between flushes. */
#define SMTP_DATA_CHUNK (64u * 1024u)

/* net.c */
enum { NET_OK = 0, NET_TIMEOUT, NET_CLOSED, NET_ERROR, NET_TOO_LONG };
void net_init(struct smtp_conn *c);
herald_class net_resolve(struct smtp *s, struct addrinfo **ai_r);
herald_class net_connect(struct smtp *s, struct smtp_conn *c,
                         const struct addrinfo *ai);
/* Handshake within @timeout_ms, then verify (CA + host name, or the pin),
 * unless c->defer_verify. */
herald_class net_tls_start(struct smtp *s, struct smtp_conn *c,
                           long timeout_ms, int implicit);
/* The peer's certificate (DER, owned by the session); 0 or -1. */
int net_peer_cert(const struct smtp_conn *c, gnutls_datum_t *der);
/* The peer's certificate against tls_fingerprint. */
herald_class net_check_pin(struct smtp *s, struct smtp_conn *c);
int net_read_line(struct smtp_conn *c, long long deadline, char **line_r,
                  size_t *len_r);
int net_write(struct smtp_conn *c, const char *p, size_t n, long long deadline);
int net_flush(struct smtp_conn *c, long long deadline);
/* 1 when bytes are waiting (buffered, in TLS, or on the socket). */
int net_input_pending(struct smtp_conn *c);
/* 1 when an idle connection still looks usable (no EOF, nothing unsolicited). */
int net_alive(struct smtp_conn *c);
const char *net_strerror(const struct smtp_conn *c);
/* Close the socket (with a TLS close_notify when @polite) and free the
 * output queue; @c itself stays the caller's. */
void net_close(struct smtp_conn *c, int polite);
/* The EHLO argument on @c: the helo option, else this machine's fully
 * qualified name, else the address literal of @c's local end; with @c
 * NULL (render), "[local-address]" stands for that literal. */
const char *smtp_helo(struct smtp *s, const struct smtp_conn *c);
/* The EHLO argument for a machine named @name on the connected socket
 * @fd: @name when it is fully qualified (a dot inside, not "localhost" or
 * "localhost.*" or "*.localdomain"), else the address literal of the
 * socket's local end, "[192.0.2.1]" or "[IPv6:2001:db8::1]" (RFC 5321
 * 4.1.3); "[local-address]" when @fd is -1 or has no address. */
void smtp_helo_pick(const char *name, int fd, char *out, size_t size);

/* reply.c */
/* smtp_read_reply's failures besides NET_*: not an SMTP reply line, or a
 * reply of more than SMTP_MAX_REPLY_LINES lines. */
enum { NET_BADREPLY = 100, NET_MANYLINES };
#define SMTP_MAX_REPLY_LINES 500
/* Read one reply, however many lines, before @deadline (smtp_now_ms()):
 * NET_OK, a NET_* failure, NET_BADREPLY (*bad_r is the offending line) or
 * NET_MANYLINES (r->lines says how many, r->cut when the end was not
 * seen).  Server text in @r has control characters replaced by '?'. */
int smtp_read_reply(struct smtp_conn *c, long long deadline,
                    struct smtp_reply *r, const char **bad_r);
/* @bad as it can be shown: control and non-ASCII bytes as '?', cut at 80. */
void smtp_shown_line(const char *bad, char shown[81]);
/* The reply's first line at debug level. */
void smtp_log_reply(struct smtp *s, const struct smtp_reply *r);
/* Record the I/O failure @rc (NET_*, NET_BADREPLY with @bad, NET_MANYLINES
 * with @r) during @what, with its fix naming the timeout option @opt of
 * @ms; marks @c broken (and lost when the server closed it). */
herald_class smtp_io_failed(struct smtp *s, struct smtp_conn *c, int rc,
                            const char *what, const char *bad,
                            const struct smtp_reply *r, long ms,
                            const char *opt);
/* Read the reply to @what within @ms (timeout option @opt) and log it; a
 * 421 marks @c lost.  Only an I/O failure is an error here. */
herald_class smtp_get_reply(struct smtp *s, struct smtp_conn *c,
                            struct smtp_reply *r, long ms, const char *opt,
                            const char *what);
/* Queue @line + CRLF, flush, read the reply (command_timeout).  @shown is
 * what the log sees instead of @line (for AUTH), or NULL. */
herald_class smtp_command(struct smtp *s, struct smtp_conn *c,
                          const char *line, const char *shown,
                          struct smtp_reply *r);
/* Record the unwelcome reply @r to @what: 421 and 4xx temporary, 5xx
 * permanent, anything else a protocol error; returns its class. */
herald_class smtp_reply_error(struct smtp *s, const struct smtp_reply *r,
                              const char *what);

/* session.c */
/* Resolve, connect, greet, EHLO, STARTTLS, AUTH. */
herald_class smtp_open(struct smtp *s, struct smtp_conn *c);
/* The pieces of smtp_open, for check.c: the 220 greeting (greeting_timeout),
 * EHLO (HELO fallback; fills c->ext, c->mechs, c->size_max), STARTTLS and
 * its handshake (capabilities forgotten: EHLO again). */
herald_class smtp_greet(struct smtp *s, struct smtp_conn *c, struct smtp_reply *r);
herald_class smtp_hello(struct smtp *s, struct smtp_conn *c, struct smtp_reply *r);
herald_class smtp_starttls(struct smtp *s, struct smtp_conn *c, struct smtp_reply *r);
/* QUIT when the session is still in step (briefly: at most 2 s), then
 * close; @c itself stays the caller's. */
void smtp_quit(struct smtp *s, struct smtp_conn *c);

/* transaction.c */

struct smtp_rcpt {
    const char *addr;
    int accepted;
    char *text;                /* "250 ..." or "550 ..." */
    int code;
};
struct smtp_txn {
    const char *from;
    struct smtp_rcpt *rcpt;
    size_t n_rcpt;
    char *mime;                /* the rendered message (host->free), sent
                                  dot-stuffed a piece at a time */
    size_t mime_len;
    void (*mime_free)(void *);
    size_t size;               /* rendered size, for SIZE= */
    int eight_bit;             /* needs BODY=8BITMIME */
    const char *utf8_addr;     /* first non-ASCII address, or NULL */
    char *message_id;          /* "<id>", the one the renderer wrote */
    /* outcome */
    int accepted_any;          /* a positive reply to MAIL, RCPT or DATA */
    int after_dot;             /* the final dot went out */
    size_t n_accepted;
    int all_rejected;          /* every recipient was refused */
    char *queue_id;
};
/* RSET (on a used or dirty session), MAIL, RCPT, DATA (pipelined when
 * offered), the message and the verdict; fills the outcome part of @t. */
herald_class smtp_transaction(struct smtp *s, struct smtp_conn *c,
                              struct smtp_txn *t);
/* Record the refusal @r of MAIL FROM:<t->from>; returns its class. */
herald_class smtp_sender_refused(struct smtp *s, const struct smtp_txn *t,
                                 const struct smtp_reply *r);

/* config.c */
/* The options the descriptor publishes. */
extern const herald_option smtp_options[];
/* Read the channel's options into s->cfg (and s->where) and set up the TLS
 * trust in s->cred; a config error with its fix when a value is unusable. */
herald_class smtp_configure(struct smtp *s, herald_error **err_r);
/* Free what smtp_configure read, secrets wiped first. */
void smtp_cfg_free(struct smtp_cfg *cfg);

/* message.c */
/* Why @a cannot go into MAIL FROM / RCPT TO, or NULL. */
const char *smtp_bad_address(const char *a);
/* The envelope of @msg, its rendering and Message-ID into @t (zeroed by the
 * caller; smtp_txn_free() it either way).  A render failure comes with the
 * core's own error in *err_r. */
herald_class smtp_txn_build(struct smtp *s, const herald_msg *msg,
                            struct smtp_txn *t, herald_error **err_r);
/* Forget the outcome of a transaction, to send @t again. */
void smtp_txn_reset(struct smtp_txn *t);
void smtp_txn_free(struct smtp_txn *t);
/* What the server on @c must offer for @t (SMTPUTF8, SIZE). */
herald_class smtp_txn_fits(struct smtp *s, const struct smtp_conn *c,
                           const struct smtp_txn *t);

/* check.c */
/* The descriptor's check hook. */
herald_class smtp_check(void *state, herald_checker *chk, herald_error **err_r);

/* auth.c */
herald_class smtp_auth(struct smtp *s, struct smtp_conn *c);
/* The mechanism smtp_auth() would use with the configured credentials when
 * the server offers @offered ("PLAIN"; NULL when none fits). */
const char *smtp_auth_pick(const struct smtp *s, unsigned offered,
                           unsigned *mech_r);
const char *smtp_mech_name(unsigned mech);

#endif /* HERALD_SMTP_H */
