/*
 * plugins/kit/net/connect.c - TCP connects told apart (connected, refused,
 * unreachable, filtered), timed, one address after another or many at
 * once.  See net_diag.h.
 */
#include "config.h"

#include "net_diag.h"
#include "base/base.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

double hn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

enum hn_outcome hn_classify(int e)
{
    switch (e) {
    case 0: return HN_CONNECTED;
    case ETIMEDOUT: return HN_FILTERED;
    case ECONNREFUSED: return HN_REFUSED;
    case ENETUNREACH: case EHOSTUNREACH: return HN_UNREACHABLE;
    default: return HN_OTHER;
    }
}

const char *hn_outcome_text(int e)
{
    switch (hn_classify(e)) {
    case HN_CONNECTED: return "connected";
    case HN_FILTERED: return "no answer";
    case HN_REFUSED: return "refused";
    case HN_UNREACHABLE: return "unreachable";
    default: return strerror(e);
    }
}

int hn_errno_rank(int e)
{
    switch (hn_classify(e)) {
    case HN_FILTERED: return 4;
    case HN_REFUSED: return 3;
    case HN_UNREACHABLE: return 1;
    default: return 2;
    }
}

int hn_wait_fd(int fd, short events, double deadline_ms)
{
    for (;;) {
        double left = deadline_ms - hn_now_ms();
        if (left < 0)
            left = 0;
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left + (left > 0));
        if (r > 0)
            return 1;
        if (r == 0 && hn_now_ms() >= deadline_ms)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

int hn_connect_addr(const struct addrinfo *a, double deadline_ms, int *errno_r)
{
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    a->ai_protocol);
    if (fd < 0) {
        *errno_r = errno;
        return -1;
    }
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
        return fd;
    int e = errno;
    if (e == EINPROGRESS) {
        int w = hn_wait_fd(fd, POLLOUT, deadline_ms);
        socklen_t l = sizeof e;
        if (w == 0)
            e = ETIMEDOUT;
        else if (w < 0)
            e = errno;
        else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0)
            e = errno;
        if (e == 0)
            return fd;
    }
    close(fd);
    *errno_r = e;
    return -1;
}

int hn_connect(const struct addrinfo *ai, long timeout_ms, struct hn_connect *r,
               struct hbuf *tried)
{
    double t0 = hn_now_ms(), deadline = t0 + (double)timeout_ms;
    memset(r, 0, sizeof *r);
    r->fd = -1;
    for (const struct addrinfo *a = ai; a; a = a->ai_next) {
        int e = 0;
        r->n_tried++;
        int fd = hn_connect_addr(a, deadline, &e);
        if (fd >= 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            r->fd = fd;
            r->addr = a;
            r->err = 0;
            break;
        }
        if (tried) {
            char ip[NI_MAXHOST];
            hn_addr_text(a->ai_addr, a->ai_addrlen, ip, sizeof ip);
            hbuf_printf(tried, "%s%s %s", tried->len ? ", " : "", ip,
                        hn_outcome_text(e));
        }
        if (!r->addr || hn_errno_rank(e) > hn_errno_rank(r->err)) {
            r->err = e;
            r->addr = a;
        }
        if (e == ETIMEDOUT)
            break; /* the whole timeout is spent */
    }
    r->outcome = hn_classify(r->err);
    r->ms = hn_now_ms() - t0;
    return r->fd;
}

int hn_probe_set(struct hn_probe *p, const struct sockaddr *sa, socklen_t len,
                 int port)
{
    memset(p, 0, sizeof *p);
    p->fd = -1;
    if (len > sizeof p->sa)
        return -1;
    memcpy(&p->sa, sa, len);
    p->len = len;
    p->port = port;
    if (p->sa.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&p->sa)->sin6_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in *)&p->sa)->sin_port = htons((uint16_t)port);
    return 0;
}

static void probe_start(struct hn_probe *p, double t0)
{
    p->fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->fd < 0) {
        p->err = errno;
        return;
    }
    p->err = connect(p->fd, (struct sockaddr *)&p->sa, p->len) == 0 ? 0
             : errno == EINPROGRESS ? -1 : errno;
    p->ms = hn_now_ms() - t0;
}

void hn_probe_run(struct hn_probe *p, size_t n, long timeout_ms)
{
    double t0 = hn_now_ms();
    for (size_t i = 0; i < n; i++)
        probe_start(&p[i], t0);
    for (;;) {
        struct pollfd pfd[16];
        size_t idx[16], m = 0;
        for (size_t i = 0; i < n && m < 16; i++)
            if (p[i].err == -1) {
                pfd[m] = (struct pollfd){p[i].fd, POLLOUT, 0};
                idx[m++] = i;
            }
        double left = t0 + (double)timeout_ms - hn_now_ms();
        if (m == 0 || left <= 0)
            break;
        int r = poll(pfd, m, (int)left + 1);
        if (r < 0 && errno != EINTR)
            break;
        for (size_t j = 0; r > 0 && j < m; j++) {
            if (!pfd[j].revents)
                continue;
            struct hn_probe *q = &p[idx[j]];
            int e = 0;
            socklen_t l = sizeof e;
            if (getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0)
                e = errno;
            q->err = e;
            q->ms = hn_now_ms() - t0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i].err == -1)
            p[i].err = ETIMEDOUT;
        if (p[i].fd >= 0)
            close(p[i].fd);
        p[i].fd = -1;
    }
}

/* What the probes of the reference host found: 0 connected, else the most
 * telling errno; *ms_r is how long the connection took. */
static int reference_result(const struct hn_probe *p, size_t n, double *ms_r)
{
    int best = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i].err == 0) {
            *ms_r = p[i].ms;
            return 0;
        }
        if (!best || hn_errno_rank(p[i].err) > hn_errno_rank(best))
            best = p[i].err;
    }
    return best;
}

void hn_port_probe(const struct addrinfo *addr, const int *ports, size_t n_ports,
                   int skip_port, const char *ref_host, int ref_port,
                   const char *ref_name, long timeout_ms,
                   struct hn_port_probe *r, struct hbuf *evidence)
{
    struct hn_probe p[8];
    size_t n = 0;
    memset(r, 0, sizeof *r);
    r->ref_result = -1;
    for (size_t i = 0; i < n_ports && n < 4; i++)
        if (ports[i] != skip_port &&
            hn_probe_set(&p[n], addr->ai_addr, addr->ai_addrlen, ports[i]) == 0)
            n++;
    size_t n_ports_tried = n;
    if (ref_host) {
        struct addrinfo *ai = NULL;
        r->ref_gai = hn_resolve(ref_host, ref_port, timeout_ms, &ai,
                                &r->ref_timed_out);
        for (const struct addrinfo *a = ai; a && n < 8; a = a->ai_next)
            if (hn_probe_set(&p[n], a->ai_addr, a->ai_addrlen, ref_port) == 0)
                n++;
        if (ai)
            freeaddrinfo(ai);
    }
    hn_probe_run(p, n, timeout_ms);
    for (size_t i = 0; i < n_ports_tried; i++) {
        hbuf_printf(evidence, "%s%d %s", i ? ", " : "; port ", p[i].port,
                    hn_outcome_text(p[i].err));
        if (p[i].err == 0 && !r->open_port)
            r->open_port = p[i].port;
    }
    if (n > n_ports_tried)
        r->ref_result = reference_result(p + n_ports_tried, n - n_ports_tried,
                                         &r->ref_ms);
    if (ref_host && !r->ref_gai && r->ref_result < 0)
        r->ref_gai = EAI_NONAME; /* no address it could try */
    if (ref_host && r->ref_result >= 0) {
        int v6 = strchr(ref_host, ':') != NULL;
        hbuf_printf(evidence, "; %s %s%s%s:%d", ref_name, v6 ? "[" : "",
                    ref_host, v6 ? "]" : "", ref_port);
        if (r->ref_result == 0)
            hbuf_printf(evidence, " connected in %.0f ms", r->ref_ms);
        else
            hbuf_printf(evidence, ": %s", hn_outcome_text(r->ref_result));
    }
}
