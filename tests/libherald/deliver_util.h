/* tests/libherald/deliver_util.h - what the delivery tests (retry,
 * failover, breaker, rate limit, fault matrix) share: opening a config
 * from text, a small message, clocks, a refused port, the attempt list. */
#ifndef HERALD_DELIVER_UTIL_H
#define HERALD_DELIVER_UTIL_H

#include <herald/herald.h>
/* testutil.h is included by the tests themselves (once: its server
 * section has no include guard). */

/* Open a context from config text (printf format); fails the test when it
 * does not open. */
herald_ctx *dt_open(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A message from a@example.com to ops@example.com, subject @subject. */
herald_msg *dt_msg(const char *subject);
/* Monotonic milliseconds. */
long long dt_ms(void);
/* A loopback TCP port nothing listens on (connect is refused). */
int dt_closed_port(void);
/* "ch:class:code" for every attempt of @res, ", "-separated (malloc'd),
 * for assertions and their messages. */
char *dt_tried(const herald_result *res);
/* Lines of the file @path that contain @needle (0 when it is missing). */
int dt_count_lines(const char *path, const char *needle);
/* 1 under `make check-valgrind` (tests use fewer rounds there). */
int dt_valgrind(void);

#endif
