/*
 * libherald/spool/spool.h - the spool: one record per queued message
 * (format.c reads and writes it), behind a small backend interface
 * (struct hs_ops) so a shared backend (Redis Streams) can be added next to
 * the directory backend (dir.c) without touching the callers (queue.c,
 * run.c, send.c).  Prefix: hs_.  Private to the core.
 */
#ifndef HERALD_SPOOL_H
#define HERALD_SPOOL_H

#include "../internal.h"

/* The format version this herald writes and reads (see format.c). */
#define HS_FORMAT_VERSION 1
/* Attempts kept in a record (the count goes on; the oldest are dropped). */
#define HS_MAX_ATTEMPTS_KEPT 32

struct hs_attempt {
    long long when;       /* Unix time */
    herald_class cls;
    char *code;           /* provider code or NULL */
    char *message;
};

/* A queued message: what a record holds.  Also the public
 * herald_queue_item. */
struct herald_queue_item {
    char *id;             /* [0-9a-f-], also the record's name */
    char *channel;
    long long created;    /* when it was queued */
    long long age_from;   /* spool_max_age counts from here (a dead letter
                             sent back by herald_queue_retry restarts it) */
    long long next;       /* next attempt time; 0 for a dead letter */
    unsigned attempts;    /* made so far */
    struct hs_attempt *att;
    size_t n_att;
    char *reason;         /* dead letters: why; NULL otherwise */
    char *key;            /* the stable idempotency key */
    int key_generated;    /* herald made @key (the message had none): sent
                             only to drivers with HERALD_CAP_IDEMPOTENCY */
    herald_msg *msg;      /* the message; after hs_decode its idempotency
                             key is @key (marked idem_generated likewise) */
};
typedef struct herald_queue_item hs_item;

void hs_item_free(hs_item *it);
/* Record an attempt that failed with @err at @when (keeps the newest
 * HS_MAX_ATTEMPTS_KEPT).  -1 on OOM. */
int hs_item_add_attempt(hs_item *it, long long when, const herald_error *err);

/* ---- format.c ---- */

/* Append the record for @it to @out. */
void hs_encode(const hs_item *it, struct hbuf *out);
/* Parse the @len bytes at @data read from @file (named in errors).  An
 * unknown version, a truncated or corrupt record, or a value the
 * herald_msg setters refuse is HERALD_ERR_INTERNAL naming @file, with a
 * fix.  Never trusts a length in the file beyond @len. */
herald_class hs_decode(const char *data, size_t len, const char *file,
                       hs_item **it_r, herald_error **err_r);
/* A new queue id: time-ordered hex, then 64 random bits (getrandom).
 * Writes at most HS_ID_MAX bytes with the NUL; -1 when getrandom fails. */
#define HS_ID_MAX 40
int hs_new_id(char id[HS_ID_MAX]);
/* 1 when @id has the shape of a queue id (so it is safe as a file name). */
int hs_id_valid(const char *id);

/* ---- the backend interface ---- */

/* Where a message is: waiting, or a dead letter. */
enum hs_area { HS_QUEUE = 0, HS_FAILED = 1 };

struct hs_backend;
struct hs_claim;          /* a message this runner holds (a lease) */

/* herald_queue_list order: ids with their backend's due hint. */
typedef int (*hs_list_fn)(const char *id, long long due_hint, void *user);

/* The operations a backend provides.  drop, retry and purge (queue.c)
 * are built from these: claim (or claim_failed) then ack or defer, so a
 * backend gets them right by getting the lease right. */
struct hs_ops {
    const char *name;
    void (*close)(struct hs_backend *b);
    /* Store @it (id set) in the queue, durably, all or nothing. */
    herald_class (*enqueue)(struct hs_backend *b, const hs_item *it,
                            herald_error **err_r);
    /* Ids in @area, any order, with a due hint (may be stale; the record
     * decides).  @fn returning nonzero stops the walk. */
    herald_class (*list)(struct hs_backend *b, enum hs_area area,
                         hs_list_fn fn, void *user, herald_error **err_r);
    /* Take the lease on waiting message @id and read it.  HERALD_QUEUED
     * (not an error) when another runner holds it or it is gone; errors
     * for an unreadable record (the lease is then released). */
    herald_class (*claim)(struct hs_backend *b, const char *id,
                          struct hs_claim **claim_r, hs_item **it_r,
                          herald_error **err_r);
    /* Take the lease on dead letter @id (for retry / drop). */
    herald_class (*claim_failed)(struct hs_backend *b, const char *id,
                                 struct hs_claim **claim_r, hs_item **it_r,
                                 herald_error **err_r);
    /* Delivered (or dropped): remove it and end the lease. */
    herald_class (*ack)(struct hs_backend *b, struct hs_claim *c,
                        herald_error **err_r);
    /* Keep it waiting as @it says (attempts, next time), end the lease. */
    herald_class (*defer)(struct hs_backend *b, struct hs_claim *c,
                          const hs_item *it, herald_error **err_r);
    /* Move it to the dead letters (@it->reason set), end the lease. */
    herald_class (*fail)(struct hs_backend *b, struct hs_claim *c,
                         const hs_item *it, herald_error **err_r);
    /* End the lease, changing nothing. */
    void (*release)(struct hs_backend *b, struct hs_claim *c);
    /* Read @id in @area without a lease (HERALD_ERR_USAGE when absent). */
    herald_class (*get)(struct hs_backend *b, enum hs_area area,
                        const char *id, hs_item **it_r, herald_error **err_r);
    /* Earliest due hint of a waiting message (0: none). */
    herald_class (*next_due)(struct hs_backend *b, long long *when_r,
                             herald_error **err_r);
    /* Where new messages appear, for a daemon's watch (may be NULL). */
    const char *(*watch_dir)(const struct hs_backend *b);
};

struct hs_backend {
    const struct hs_ops *ops;
    size_t max_record;    /* largest record read (bounded reads) */
};

/* ---- dir.c: the directory backend (SPOOL/{tmp,queue,failed}) ---- */

/* Open (creating it 0700 when missing, and its subdirectories) the
 * spool at @dir.  Not a directory, owned by another user, not writable:
 * HERALD_ERR_CONFIG naming the path, with the fix. */
herald_class hs_dir_open(const char *dir, size_t max_record,
                         struct hs_backend **b_r, herald_error **err_r);

/* ---- queue.c, run.c ---- */

/* Ids in an area, oldest first (an id begins with its queue time). */
struct hs_ids {
    char **v;
    size_t n;
    long long due_before;   /* only ids whose due hint is at most this; 0: all */
    int oom;
};
herald_class hs_ids(struct hs_backend *b, enum hs_area area,
                    long long due_before, struct hs_ids *ids,
                    herald_error **err_r);
void hs_ids_free(struct hs_ids *ids);
/* HERALD_ERR_CONFIG with the fix when @ctx has no spool. */
herald_class hs_need_spool(herald_ctx *ctx, const char *fn, herald_error **err_r);

/* The first delay and the backoff of a deferred message: 60 s doubling
 * per attempt, at most an hour; or @retry_at, or now + @err's retry-after
 * hint (@err may be NULL), when later. */
long long hs_next_attempt(long long now, unsigned attempts, long long retry_at,
                          const herald_error *err);
/* Queue @msg for @channel (already validated) with the failed attempt
 * @err (may be NULL) due at hs_next_attempt(), or at once when
 * @due_now.  HERALD_QUEUED with the id in a new result in *result_r (may
 * be NULL), else the spool's error. */
herald_class hs_submit(herald_ctx *ctx, const char *channel,
                       const herald_msg *msg, const herald_error *err,
                       long long retry_at, int due_now,
                       herald_result **result_r, herald_error **err_r);

#endif
