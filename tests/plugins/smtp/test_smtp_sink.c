/* tests/plugins/smtp/test_smtp_sink.c - connection reuse and PIPELINING of the smtp
 * driver against Postfix's smtp-sink on 127.0.0.1.
 *
 * The driver (tls = none, no credentials) talks to smtp-sink through a
 * small pass-through TCP relay that runs in a thread of this process.
 * Connections are counted twice and the counts must agree:
 *  - by smtp-sink itself: -v logs one "connect (AF_INET ...)" line per
 *    accepted connection and -c keeps counters of ended sessions, QUITs and
 *    messages received ("sess=1 quit=1 mesg=200");
 *  - by the relay: one per accepted connection.
 * The relay also records every chunk the client wrote.  On loopback one
 * small send() arrives as one read, and a client that waits for each reply
 * cannot have two commands in one read, so a chunk holding "RSET MAIL RCPT
 * DATA" proves they went out in one write (pipelined), and chunks of one
 * command each prove they did not.
 *
 * smtp-sink runs with `-u nobody` when we are root (it refuses to keep root
 * privileges); its path comes from HERALD_TEST_SMTP_SINK (configure's
 * SMTP_SINK).  HERALD_TEST_SMTP_DEBUG=1 prints the dialogue on stderr. */
#include "config.h"
#include <criterion/criterion.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <herald/herald.h>
#include "testutil.h"

/* ---- small helpers ------------------------------------------------------ */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((unsigned short)port);
    return a;
}

/* A listening socket on 127.0.0.1 (port 0: any free one); *port_r its port. */
static int listen_on(int port, int backlog, int *port_r)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = loopback(port);
    socklen_t alen = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        (backlog > 0 && listen(fd, backlog) != 0) ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port_r = ntohs(a.sin_port);
    return fd;
}

/* A port that was free a moment ago (bound, read, closed). */
static int free_port(void)
{
    int port = 0;
    int fd = listen_on(0, 0, &port);
    if (fd < 0)
        return -1;
    close(fd);
    return port;
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = loopback(port);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the peer is gone: what it missed does not matter */
        p += w;
        n -= (size_t)w;
    }
}

/* ---- the relay: counts connections, records what the client wrote ------- */

#define RELAY_MAX_CONNS 8

struct relay_conn {
    int cfd, ufd;       /* client side, smtp-sink side (-1 once closed) */
    int c_done, u_done; /* that side sent EOF (or failed) */
    char **chunk;       /* each read from the client, NUL-terminated */
    size_t n_chunk, cap_chunk;
};

struct relay {
    int lfd, port, upstream;
    int wake[2];
    pthread_t thread;
    int started;
    size_t n_conn;      /* connections accepted */
    int lost;           /* accepts beyond RELAY_MAX_CONNS or upstream failures */
    struct relay_conn conn[RELAY_MAX_CONNS];
};

static void record_chunk(struct relay_conn *c, const char *p, size_t n)
{
    if (c->n_chunk == c->cap_chunk) {
        size_t cap = c->cap_chunk ? 2 * c->cap_chunk : 256;
        char **v = realloc(c->chunk, cap * sizeof *v);
        if (!v)
            abort();
        c->chunk = v;
        c->cap_chunk = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy)
        abort();
    memcpy(copy, p, n);
    copy[n] = '\0';
    c->chunk[c->n_chunk++] = copy;
}

static void relay_accept(struct relay *r)
{
    int cfd = accept4(r->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (cfd < 0)
        return;
    int ufd = r->n_conn < RELAY_MAX_CONNS ? connect_to(r->upstream) : -1;
    if (ufd < 0) {
        r->lost++;
        close(cfd);
        return;
    }
    struct relay_conn *c = &r->conn[r->n_conn++];
    c->cfd = cfd;
    c->ufd = ufd;
}

/* Move what one side sent to the other; EOF is passed on as a half-close,
 * and the pair is closed once both sides are done. */
static void relay_pump(struct relay_conn *c, int from_client)
{
    char buf[65536];
    ssize_t n = recv(from_client ? c->cfd : c->ufd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR)
        return;
    if (n > 0) {
        if (from_client)
            record_chunk(c, buf, (size_t)n);
        send_all(from_client ? c->ufd : c->cfd, buf, (size_t)n);
        return;
    }
    shutdown(from_client ? c->ufd : c->cfd, SHUT_WR);
    *(from_client ? &c->c_done : &c->u_done) = 1;
    if (c->c_done && c->u_done) {
        close(c->cfd);
        close(c->ufd);
        c->cfd = c->ufd = -1;
    }
}

static void *relay_run(void *arg)
{
    struct relay *r = arg;
    long long stop_at = 0;
    for (;;) {
        struct pollfd p[2 + 2 * RELAY_MAX_CONNS];
        struct relay_conn *who[2 + 2 * RELAY_MAX_CONNS];
        nfds_t n = 0;
        int open = 0;
        p[n++] = (struct pollfd){r->lfd, POLLIN, 0};
        p[n++] = (struct pollfd){r->wake[0], POLLIN, 0};
        for (size_t i = 0; i < r->n_conn; i++) {
            struct relay_conn *c = &r->conn[i];
            if (c->cfd < 0)
                continue;
            open = 1;
            if (!c->c_done) {
                who[n] = c;
                p[n++] = (struct pollfd){c->cfd, POLLIN, 0};
            }
            if (!c->u_done) {
                who[n] = c;
                p[n++] = (struct pollfd){c->ufd, POLLIN, 0};
            }
        }
        if (stop_at && (!open || now_ms() > stop_at))
            break;
        if (poll(p, n, 50) < 0 && errno != EINTR)
            break;
        if (p[0].revents)
            relay_accept(r);
        if (p[1].revents && !stop_at)
            stop_at = now_ms() + 3000; /* the client is done: drain and end */
        for (nfds_t i = 2; i < n; i++)
            if (p[i].revents && who[i]->cfd >= 0)
                relay_pump(who[i], p[i].fd == who[i]->cfd);
    }
    for (size_t i = 0; i < r->n_conn; i++)
        if (r->conn[i].cfd >= 0) {
            close(r->conn[i].cfd);
            close(r->conn[i].ufd);
            r->conn[i].cfd = r->conn[i].ufd = -1;
        }
    return NULL;
}

static void relay_start(struct relay *r, int upstream)
{
    memset(r, 0, sizeof *r);
    r->upstream = upstream;
    r->lfd = listen_on(0, 16, &r->port);
    cr_assert_geq(r->lfd, 0, "relay: cannot listen on 127.0.0.1: %s", strerror(errno));
    cr_assert_eq(pipe(r->wake), 0);
    cr_assert_eq(pthread_create(&r->thread, NULL, relay_run, r), 0);
    r->started = 1;
}

/* Let the relay finish the connections the client has closed, then end it.
 * Safe to call twice. */
static void relay_stop(struct relay *r)
{
    if (!r->started)
        return;
    r->started = 0;
    if (write(r->wake[1], "x", 1) != 1)
        abort();
    pthread_join(r->thread, NULL);
    close(r->lfd);
    close(r->wake[0]);
    close(r->wake[1]);
}

static void relay_free(struct relay *r)
{
    relay_stop(r);
    for (size_t i = 0; i < r->n_conn; i++) {
        for (size_t k = 0; k < r->conn[i].n_chunk; k++)
            free(r->conn[i].chunk[k]);
        free(r->conn[i].chunk);
    }
    memset(r, 0, sizeof *r);
}

/* The shape of one chunk: its commands' verbs with runs folded ("RSET MAIL
 * RCPT DATA", "MAIL RCPT*3 DATA"), "BODY" for message data ending in the
 * final dot, "+PART" after a command without its CRLF. */
static void chunk_shape(const char *p, char *out, size_t size)
{
    size_t len = strlen(p);
    out[0] = '\0';
    if (len >= 5 && strcmp(p + len - 5, "\r\n.\r\n") == 0) {
        snprintf(out, size, "BODY");
        return;
    }
    char prev[8] = "";
    int run = 0;
    size_t o = 0;
    for (const char *line = p; *line;) {
        const char *eol = strstr(line, "\r\n");
        char verb[8];
        size_t v = 0;
        while (v < sizeof verb - 1 && line[v] >= 'A' && line[v] <= 'Z')
            verb[v] = line[v], v++;
        verb[v] = '\0';
        if (!eol)
            snprintf(verb, sizeof verb, "+PART");
        if (run && strcmp(verb, prev) == 0) {
            run++;
        } else {
            if (run > 1)
                o += (size_t)snprintf(out + o, size - o, "*%d", run);
            o += (size_t)snprintf(out + o, size - o, "%s%s", o ? " " : "", verb);
            snprintf(prev, sizeof prev, "%s", verb);
            run = 1;
        }
        if (o >= size - 16 || !eol)
            break;
        line = eol + 2;
    }
    if (run > 1 && o < size - 16)
        snprintf(out + o, size - o, "*%d", run);
}

/* What the client wrote on connection @i, as "SHAPE xCOUNT" in order of
 * first appearance: "EHLO x1, MAIL RCPT DATA x1, BODY x200, ...".
 * malloc'd. */
static char *writes_of(const struct relay *r, size_t i)
{
    char shape[64][96];
    int count[64];
    size_t n = 0;
    const struct relay_conn *c = &r->conn[i];
    for (size_t k = 0; k < c->n_chunk; k++) {
        char s[96];
        chunk_shape(c->chunk[k], s, sizeof s);
        size_t j = 0;
        while (j < n && strcmp(shape[j], s) != 0)
            j++;
        if (j == n) {
            if (n == 64)
                continue;
            memcpy(shape[n], s, sizeof s);
            count[n++] = 0;
        }
        count[j]++;
    }
    char *out = tu_printf("%s", "");
    for (size_t j = 0; j < n; j++) {
        char *t = tu_printf("%s%s%s x%d", out, j ? ", " : "", shape[j], count[j]);
        free(out);
        out = t;
    }
    return out;
}

/* ---- smtp-sink ---------------------------------------------------------- */

static const char *sink_path(void)
{
    const char *p = getenv("HERALD_TEST_SMTP_SINK");
    return p && *p ? p : "/usr/sbin/smtp-sink";
}

/* Start smtp-sink (@flags: extra options such as "-p") on a free port.  The
 * wrapper waits until the port is in LISTEN state in /proc/net/tcp (a test
 * connection would show up in smtp-sink's counts), then writes the port
 * file; it gives up when smtp-sink exits, e.g. because the port was taken
 * meanwhile, and then we try another port. */
static void sink_start(struct tu_server *s, const char *flags)
{
    for (int attempt = 0; attempt < 5; attempt++) {
        int port = free_port();
        cr_assert_gt(port, 0, "no free port on 127.0.0.1");
        int rc = tu_server_start(
            s,
            "'%s' -v -c %s %s 127.0.0.1:%d 16 & pid=$!\n"
            "i=0\n"
            "until grep -q ':%04X 00000000:0000 0A' /proc/net/tcp; do\n"
            "  kill -0 $pid 2>/dev/null || exit 1\n"
            "  i=$((i+1)); test $i -lt 1000 || exit 1\n"
            "  sleep 0.01\n"
            "done\n"
            "echo %d > \"$TU_PORT_FILE\"\n"
            "wait $pid\n",
            sink_path(), geteuid() == 0 ? "-u nobody" : "", flags, port, port, port);
        if (rc == 0)
            return;
    }
    cr_assert_fail("smtp-sink (%s) did not start on 127.0.0.1; run it by hand "
                   "to see why", sink_path());
}

struct sink_counts {
    int connects;  /* "connect (AF_INET ...)" lines of -v */
    int sess, quit, mesg; /* the last -c counters */
};

static void sink_read(const struct tu_server *s, struct sink_counts *k)
{
    memset(k, 0, sizeof *k);
    char *log = tu_server_log(s);
    if (!log)
        return;
    for (const char *p = log; (p = strstr(p, ": connect (")) != NULL; p++)
        k->connects++;
    for (const char *p = log; (p = strstr(p, "sess=")) != NULL; p++)
        sscanf(p, "sess=%d quit=%d mesg=%d", &k->sess, &k->quit, &k->mesg);
    free(log);
}

/* The counts once smtp-sink has seen @sessions sessions end (or 5 s). */
static void sink_settle(const struct tu_server *s, int sessions, struct sink_counts *k)
{
    long long until = now_ms() + 5000;
    for (;;) {
        sink_read(s, k);
        if (k->sess >= sessions || now_ms() > until)
            return;
        sleep_ms(10);
    }
}

/* ---- the fixture -------------------------------------------------------- */

static struct tu_server sink;
static struct relay relay;
static herald_ctx *ctx;

static void teardown(void)
{
    herald_close(ctx);
    ctx = NULL;
    relay_free(&relay);
    tu_server_stop(&sink);
}

TestSuite(smtp_sink, .fini = teardown, .timeout = 60);

/* smtp-sink with @flags, the relay in front of it, and channel "sink" on
 * the relay carrying at most @max_messages per connection. */
static void start_all(const char *flags, int max_messages)
{
    sink_start(&sink, flags);
    relay_start(&relay, sink.port);
    char *conf = tu_printf("[channel sink]\ndriver = smtp\nhost = 127.0.0.1\n"
                           "port = %d\ntls = none\nfrom = bot@example.com\n"
                           "max_messages = %d\nidle_timeout = 5m\n"
                           "connect_timeout = 2s\ngreeting_timeout = 5s\n"
                           "command_timeout = 5s\ndata_timeout = 5s\n",
                           relay.port, max_messages);
    herald_error *err = NULL;
    herald_class rc = herald_open_string(conf, "sink.conf", 0, &ctx, &err);
    free(conf);
    cr_assert_eq(rc, HERALD_OK, "open: %s", herald_error_message(err));
    if (getenv("HERALD_TEST_SMTP_DEBUG"))
        herald_set_log_handler(ctx, HERALD_LOG_DEBUG, NULL, NULL);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Send @n messages to @rcpts recipients each; every send must return
 * HERALD_OK with a message id, and the ids must all differ. */
static void send_many(int n, int rcpts)
{
    char **ids = calloc((size_t)n, sizeof *ids);
    cr_assert(ids);
    for (int i = 0; i < n; i++) {
        herald_msg *m = herald_msg_new();
        for (int k = 0; k < rcpts; k++) {
            char *to = tu_printf("user%d@example.com", k);
            herald_msg_add_to(m, to);
            free(to);
        }
        char *subject = tu_printf("reuse %d", i);
        herald_msg_set_subject(m, subject);
        free(subject);
        herald_msg_set_text(m, "one of many\n");
        herald_result *res = NULL;
        herald_error *err = NULL;
        herald_class rc = herald_send(ctx, "sink", m, &res, &err);
        herald_msg_free(m);
        cr_assert_eq(rc, HERALD_OK, "send %d: %s", i, herald_error_message(err));
        const char *id = herald_result_message_id(res);
        cr_assert(id && *id, "send %d returned no message id", i);
        ids[i] = strdup(id);
        cr_assert_eq(herald_result_recipient_count(res), (size_t)rcpts);
        herald_result_free(res);
    }
    qsort(ids, (size_t)n, sizeof *ids, cmp_str);
    for (int i = 0; i < n; i++) {
        if (i > 0)
            cr_assert_str_neq(ids[i], ids[i - 1], "two sends returned the id %s", ids[i]);
    }
    for (int i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
}

/* Close the channel (QUIT), let the relay and smtp-sink see every session
 * end, and check both counted @conns connections and @n messages. */
static void finish(int conns, int n)
{
    herald_close(ctx);
    ctx = NULL;
    relay_stop(&relay);
    struct sink_counts k;
    sink_settle(&sink, conns, &k);
    cr_assert_eq(relay.lost, 0, "the relay dropped connections");
    cr_assert_eq(relay.n_conn, (size_t)conns,
                 "the relay saw %zu TCP connections, expected %d", relay.n_conn, conns);
    cr_assert_eq(k.connects, conns,
                 "smtp-sink logged %d connections, expected %d", k.connects, conns);
    cr_assert_eq(k.sess, conns, "smtp-sink ended %d sessions, expected %d", k.sess, conns);
    cr_assert_eq(k.quit, conns, "smtp-sink got %d QUITs, expected one per connection (%d)",
                 k.quit, conns);
    cr_assert_eq(k.mesg, n, "smtp-sink received %d messages, expected %d", k.mesg, n);
}

static void expect_writes(size_t conn, const char *want)
{
    char *got = writes_of(&relay, conn);
    cr_expect_str_eq(got, want, "client writes on connection %zu:\n  got  %s\n  want %s",
                     conn + 1, got, want);
    free(got);
}

/* ---- tests -------------------------------------------------------------- */

/* 200 messages, max_messages = 200: one TCP connection, one QUIT at close,
 * and every envelope (RSET after the first message, MAIL, RCPT, DATA)
 * leaves in a single write because smtp-sink offers PIPELINING. */
Test(smtp_sink, two_hundred_messages_one_connection_pipelined)
{
    start_all("", 200);
    send_many(200, 1);
    finish(1, 200);
    expect_writes(0, "EHLO x1, MAIL RCPT DATA x1, BODY x200, "
                     "RSET MAIL RCPT DATA x199, QUIT x1");
}

/* smtp-sink -p does not announce PIPELINING: the same kind of run still
 * uses one connection, but every command goes out alone and waits for its
 * reply. */
Test(smtp_sink, no_pipelining_when_not_offered)
{
    start_all("-p", 200);
    send_many(50, 1);
    finish(1, 50);
    expect_writes(0, "EHLO x1, MAIL x50, RCPT x50, DATA x50, BODY x50, "
                     "RSET x49, QUIT x1");
}

/* max_messages = 50 and 200 messages: exactly four connections, each
 * carrying 50 messages and ended with QUIT. */
Test(smtp_sink, max_messages_fifty_gives_four_connections)
{
    start_all("", 50);
    send_many(200, 1);
    finish(4, 200);
    for (size_t i = 0; i < 4; i++)
        expect_writes(i, "EHLO x1, MAIL RCPT DATA x1, BODY x50, "
                         "RSET MAIL RCPT DATA x49, QUIT x1");
}

/* Several recipients ride in the same write as MAIL and DATA; a long list
 * is sent in bounded windows (the driver keeps at most 50 commands in
 * flight), never all at once and never one by one. */
Test(smtp_sink, recipients_pipelined_in_bounded_windows)
{
    start_all("", 100);
    send_many(2, 3);
    send_many(1, 120);
    finish(1, 3);
    expect_writes(0, "EHLO x1, MAIL RCPT*3 DATA x1, BODY x3, "
                     "RSET MAIL RCPT*3 DATA x1, RSET MAIL RCPT*48 x1, "
                     "RCPT*50 x1, RCPT*22 DATA x1, QUIT x1");
    /* the same, stated as the rule: no write beyond the window */
    const struct relay_conn *c = &relay.conn[0];
    for (size_t k = 0; k < c->n_chunk; k++) {
        int cmds = 0;
        if (strstr(c->chunk[k], "\r\n.\r\n"))
            continue;
        for (const char *p = c->chunk[k]; (p = strstr(p, "\r\n")) != NULL; p += 2)
            cmds++;
        cr_expect_leq(cmds, 50, "one write carried %d commands", cmds);
    }
}
