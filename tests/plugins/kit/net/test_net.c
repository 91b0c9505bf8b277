/*
 * tests/plugins/kit/net/test_net.c - the network diagnosis kit (plugins/kit/net) on
 * its own: resolve, connect classification, probes; and the base library's
 * base64 decoder the smtp driver uses for AUTH.  Loopback only.
 */
#include "config.h"
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "net_diag.h"

/* A loopback port nothing listens on (bound, then closed). */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &l) == 0);
    close(fd);
    return ntohs(a.sin_port);
}

TestSuite(net_diag, .timeout = 20);

Test(net_diag, resolve_a_literal_and_name_its_family)
{
    struct addrinfo *ai = NULL;
    int timed_out = -1;
    cr_assert_eq(hn_resolve("127.0.0.1", 25, 5000, &ai, &timed_out), 0);
    cr_assert_eq(timed_out, 0);
    struct hbuf b = {0};
    hn_addrs_text(ai, &b);
    cr_assert_str_eq(b.data, "127.0.0.1 (A)");
    hbuf_free(&b);
    freeaddrinfo(ai);
}

Test(net_diag, unresolvable_name_is_a_getaddrinfo_error)
{
    struct addrinfo *ai = NULL;
    int r = hn_resolve("nonexistent.invalid", 25, 5000, &ai, NULL);
    cr_assert_neq(r, 0);
    cr_assert_null(ai);
}

Test(net_diag, connect_to_a_closed_port_is_refused_and_a_listener_connects)
{
    char port[16];
    snprintf(port, sizeof port, "%d", closed_port());
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai;
    cr_assert_eq(getaddrinfo("127.0.0.1", port, &hints, &ai), 0);
    struct hn_connect r;
    struct hbuf tried = {0};
    cr_assert_lt(hn_connect(ai, 2000, &r, &tried), 0);
    cr_assert_eq(r.outcome, HN_REFUSED);
    cr_assert_eq(r.err, ECONNREFUSED);
    cr_assert_eq(r.n_tried, 1);
    cr_assert(strstr(tried.data, "refused"), "%s", tried.data);
    cr_assert_str_eq(hn_outcome_text(r.err), "refused");
    hbuf_free(&tried);
    freeaddrinfo(ai);

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    cr_assert(bind(lfd, (struct sockaddr *)&a, sizeof a) == 0 && listen(lfd, 4) == 0);
    getsockname(lfd, (struct sockaddr *)&a, &l);
    snprintf(port, sizeof port, "%d", ntohs(a.sin_port));
    cr_assert_eq(getaddrinfo("127.0.0.1", port, &hints, &ai), 0);
    cr_assert_geq(hn_connect(ai, 2000, &r, NULL), 0);
    cr_assert_eq(r.outcome, HN_CONNECTED);
    close(r.fd);
    /* the probe: the listener's port connects, the closed one is refused */
    struct hn_probe p[2];
    cr_assert_eq(hn_probe_set(&p[0], ai->ai_addr, ai->ai_addrlen, ntohs(a.sin_port)), 0);
    cr_assert_eq(hn_probe_set(&p[1], ai->ai_addr, ai->ai_addrlen, closed_port()), 0);
    hn_probe_run(p, 2, 2000);
    cr_assert_eq(p[0].err, 0);
    cr_assert_eq(p[1].err, ECONNREFUSED);
    freeaddrinfo(ai);
    close(lfd);
}

Test(net_diag, classification_of_errnos)
{
    cr_assert_eq(hn_classify(0), HN_CONNECTED);
    cr_assert_eq(hn_classify(ETIMEDOUT), HN_FILTERED);
    cr_assert_eq(hn_classify(EHOSTUNREACH), HN_UNREACHABLE);
    cr_assert_eq(hn_classify(ENETUNREACH), HN_UNREACHABLE);
    cr_assert_gt(hn_errno_rank(ETIMEDOUT), hn_errno_rank(ECONNREFUSED));
    cr_assert_gt(hn_errno_rank(ECONNREFUSED), hn_errno_rank(EHOSTUNREACH));
}

Test(net_diag, base64_decode_round_trips_and_refuses_garbage)
{
    static const unsigned char bytes[] = {0, 1, 2, 0xfe, 0xff, 'a', 'b'};
    for (size_t n = 0; n <= sizeof bytes; n++) {
        struct hbuf enc = {0}, dec = {0};
        hb_base64(&enc, bytes, n, 0);
        hbuf_adds(&enc, "");
        cr_assert_eq(hb_base64_decode(&dec, enc.data, enc.len), 0, "%s", enc.data);
        cr_assert_eq(dec.len, n);
        cr_assert(n == 0 || memcmp(dec.data, bytes, n) == 0);
        hbuf_free(&enc);
        hbuf_free(&dec);
    }
    struct hbuf d = {0};
    cr_assert_eq(hb_base64_decode(&d, "PDQxOTY0ODAwMDAuMTIzQGV4YW1wbGU+", 32), 0);
    cr_assert_str_eq(d.data, "<4196480000.123@example>");
    hbuf_free(&d);
    cr_assert_eq(hb_base64_decode(&d, "a*bc", 4), -1);
    hbuf_free(&d);
    cr_assert_eq(hb_base64_decode(&d, "YQ==YQ==", 8), -1);
    hbuf_free(&d);
    cr_assert_eq(hb_base64_decode(&d, "Y", 1), -1);
    hbuf_free(&d);
}
