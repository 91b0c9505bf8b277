/*
 * plugins/kit/net/resolve.c - getaddrinfo bounded by a timeout (a thread of
 * its own per lookup), and address text.  See net_diag.h.
 */
#include "config.h"

#include "net_diag.h"
#include "base/base.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One lookup, run by its own thread so that it can be given up on: the
 * caller and the thread each hold a reference and the last one frees it. */
struct lookup {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs, done;
    char *name;
    char port[8];
    struct addrinfo *ai;
    int err, sys_errno;
};

static void lookup_unref(struct lookup *l)
{
    pthread_mutex_lock(&l->mu);
    int last = --l->refs == 0;
    pthread_mutex_unlock(&l->mu);
    if (!last)
        return;
    if (l->ai)
        freeaddrinfo(l->ai);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l->name);
    free(l);
}

static void lookup_now(struct lookup *l)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int r = getaddrinfo(l->name, l->port, &hints, &ai);
    int e = errno;
    pthread_mutex_lock(&l->mu);
    l->err = r;
    l->sys_errno = e;
    l->ai = r == 0 ? ai : NULL;
    l->done = 1;
    pthread_cond_signal(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void *lookup_thread(void *arg)
{
    lookup_now(arg);
    lookup_unref(arg);
    return NULL;
}

static struct lookup *lookup_new(const char *host, int port)
{
    struct lookup *l = calloc(1, sizeof *l);
    pthread_condattr_t ca;
    if (!l || !(l->name = strdup(host))) {
        free(l);
        return NULL;
    }
    snprintf(l->port, sizeof l->port, "%d", port);
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);
    l->refs = 1;
    return l;
}

/* A lookup left running keeps the module holding this code mapped even
 * after the core unloads it (the thread still has to return into it). */
static void stay_loaded(void)
{
    Dl_info info;
    if (dladdr((void *)stay_loaded, &info) && info.dli_fname)
        (void)dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE); /* kept */
}

int hn_resolve(const char *host, int port, long timeout_ms,
               struct addrinfo **ai_r, int *timed_out_r)
{
    int timed_out_dummy;
    if (!timed_out_r)
        timed_out_r = &timed_out_dummy;
    *ai_r = NULL;
    *timed_out_r = 0;
    struct lookup *l = lookup_new(host, port);
    if (!l)
        return EAI_MEMORY;
    /* Joinable: a lookup that answers in time is joined, so the thread has
     * left this module's code before the driver can be unloaded; one that
     * does not is detached and pins the module (stay_loaded). */
    pthread_t t;
    int threaded = 1;
    l->refs = 2;
    if (pthread_create(&t, NULL, lookup_thread, l) != 0) {
        threaded = 0;
        l->refs = 1;
        lookup_now(l); /* no thread: wait as long as it takes */
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int r = EAI_AGAIN, e = 0;
    pthread_mutex_lock(&l->mu);
    while (!l->done && pthread_cond_timedwait(&l->cv, &l->mu, &until) != ETIMEDOUT)
        ;
    if (l->done) {
        r = l->err;
        e = l->sys_errno;
        *ai_r = l->ai;
        l->ai = NULL;
    } else {
        *timed_out_r = 1;
        stay_loaded();
    }
    int answered = l->done;
    pthread_mutex_unlock(&l->mu);
    if (threaded && answered)
        pthread_join(t, NULL);
    else if (threaded)
        pthread_detach(t);
    lookup_unref(l);
    errno = e;
    return r;
}

void hn_addr_text(const struct sockaddr *sa, socklen_t len, char *out,
                  size_t size)
{
    if (getnameinfo(sa, len, out, (socklen_t)size, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(out, size, "?");
}

const char *hn_family_name(int family)
{
    return family == AF_INET6 ? "AAAA" : "A";
}

void hn_addrs_text(const struct addrinfo *ai, struct hbuf *b)
{
    size_t start = b->len;
    for (const struct addrinfo *a = ai; a; a = a->ai_next) {
        char ip[NI_MAXHOST];
        hn_addr_text(a->ai_addr, a->ai_addrlen, ip, sizeof ip);
        hbuf_printf(b, "%s%s (%s)", b->len > start ? ", " : "", ip,
                    hn_family_name(a->ai_family));
    }
}
