/* libherald/deliver/breaker.c - a circuit breaker per channel: after
 * breaker_threshold consecutive failed attempts the channel is skipped
 * (no connect timeout) for breaker_cooldown, then one trial decides.  The
 * state is in memory, or with [herald] spool_dir in a small file per
 * channel, SPOOL_DIR/state/NAME.breaker, read and written under flock so
 * that separate processes share it:
 *
 *     herald-breaker 1 failures=N open_until=UNIX_MS
 */
#include "deliver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE_MAX 128

struct bstate {
    unsigned failures;
    long long open_until_ms;
};

/* mkdir -p of the state file's directory (and the spool above it). */
static void make_dirs(const char *path)
{
    char dir[4096];
    size_t n = strlen(path);
    if (n >= sizeof dir)
        return;
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return;
    *slash = '\0';
    char *parent = strrchr(dir, '/');
    if (parent && parent != dir) {
        *parent = '\0';
        (void)mkdir(dir, 0700);
        *parent = '/';
    }
    (void)mkdir(dir, 0700);
}

static int open_locked(struct herald_channel *ch)
{
    const char *path = ch->dl->state_path;
    int flags = O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW;
    int fd = open(path, flags, 0600);
    if (fd < 0 && errno == ENOENT) {
        make_dirs(path);
        fd = open(path, flags, 0600);
    }
    if (fd < 0) {
        hctx_chan_log(ch, HERALD_LOG_WARNING, "cannot open the breaker state "
                      "%s (%s); keeping it in memory", path, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            close(fd);
            return -1;
        }
    }
    return fd;
}

static void read_state(int fd, struct bstate *st)
{
    char buf[STATE_MAX + 1];
    ssize_t n = pread(fd, buf, STATE_MAX, 0);
    st->failures = 0;
    st->open_until_ms = 0;
    if (n <= 0)
        return;
    buf[n] = '\0';
    unsigned f;
    long long until;
    if (sscanf(buf, "herald-breaker 1 failures=%u open_until=%lld", &f, &until) == 2) {
        st->failures = f;
        st->open_until_ms = until;
    }
}

static void write_state(int fd, const struct bstate *st)
{
    char buf[STATE_MAX];
    int n = snprintf(buf, sizeof buf, "herald-breaker 1 failures=%u "
                     "open_until=%lld\n", st->failures, st->open_until_ms);
    if (n > 0 && pwrite(fd, buf, (size_t)n, 0) == n)
        (void)ftruncate(fd, n);
}

/* Run @fn on the channel's state under its lock (the file's, else the
 * mutex); @fn returns 1 when the state changed. */
static void with_state(struct herald_channel *ch,
                       int (*fn)(struct herald_channel *, struct bstate *, void *),
                       void *arg)
{
    struct hd_chan *dl = ch->dl;
    int fd = dl->state_path ? open_locked(ch) : -1;
    if (fd >= 0) {
        struct bstate st;
        read_state(fd, &st);
        if (fn(ch, &st, arg))
            write_state(fd, &st);
        close(fd);   /* releases the lock */
        return;
    }
    pthread_mutex_lock(&dl->lock);
    struct bstate st = {dl->failures, dl->open_until_ms};
    if (fn(ch, &st, arg)) {
        dl->failures = st.failures;
        dl->open_until_ms = st.open_until_ms;
    }
    pthread_mutex_unlock(&dl->lock);
}

struct admit_arg {
    enum hd_admit verdict;
    long long trial_ms;
    unsigned failures;
};

static int admit_fn(struct herald_channel *ch, struct bstate *st, void *arg)
{
    struct admit_arg *a = arg;
    a->failures = st->failures;
    if (st->failures < ch->dl->threshold) {
        a->verdict = HD_PASS;
        return 0;
    }
    long long now = hd_now_ms();
    if (now < st->open_until_ms) {
        a->verdict = HD_SKIP;
        a->trial_ms = st->open_until_ms;
        return 0;
    }
    /* The one trial: everyone else sees the breaker open until it ends
     * (or, should this process die, until another cool-down passes). */
    a->verdict = HD_TRIAL;
    st->open_until_ms = now + ch->dl->cooldown_ms;
    return 1;
}

enum hd_admit hd_breaker_admit(struct herald_channel *ch, long long *trial_ms_r,
                               unsigned *failures_r)
{
    if (!ch->dl || ch->dl->threshold == 0)
        return HD_PASS;
    struct admit_arg a = {HD_PASS, 0, 0};
    with_state(ch, admit_fn, &a);
    *trial_ms_r = a.trial_ms;
    *failures_r = a.failures;
    return a.verdict;
}

struct report_arg {
    int ok;
    int opened;
};

static int report_fn(struct herald_channel *ch, struct bstate *st, void *arg)
{
    struct report_arg *a = arg;
    if (a->ok) {
        if (!st->failures && !st->open_until_ms)
            return 0;
        st->failures = 0;
        st->open_until_ms = 0;
        return 1;
    }
    st->failures++;
    if (st->failures >= ch->dl->threshold) {
        st->open_until_ms = hd_now_ms() + ch->dl->cooldown_ms;
        a->opened = st->failures == ch->dl->threshold;
    }
    return 1;
}

void hd_breaker_report(struct herald_channel *ch, int ok, herald_class cls)
{
    if (!ch->dl || ch->dl->threshold == 0 || (!ok && !hd_counts_for_breaker(cls)))
        return;
    struct report_arg a = {ok, 0};
    with_state(ch, report_fn, &a);
    if (a.opened)
        hctx_chan_log(ch, HERALD_LOG_WARNING, "circuit breaker open after %u "
                      "failed attempts; skipping the channel for %lld ms",
                      ch->dl->threshold, ch->dl->cooldown_ms);
}

struct peek_arg {
    struct bstate st;
};

static int peek_fn(struct herald_channel *ch, struct bstate *st, void *arg)
{
    (void)ch;
    ((struct peek_arg *)arg)->st = *st;
    return 0;
}

void hd_breaker_peek(struct herald_channel *ch, unsigned *failures_r,
                     long long *open_until_ms_r)
{
    struct peek_arg a = {{0, 0}};
    /* Looking creates nothing: no file yet means closed. */
    if (ch->dl && (!ch->dl->state_path || access(ch->dl->state_path, F_OK) == 0))
        with_state(ch, peek_fn, &a);
    *failures_r = a.st.failures;
    *open_until_ms_r = a.st.open_until_ms;
}
