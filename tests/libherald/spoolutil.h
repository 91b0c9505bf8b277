/* tests/libherald/spoolutil.h - what the spool tests share: a context on a
 * fresh spool, messages, counting what the probe's send_log saw. */
#ifndef HERALD_TEST_SPOOLUTIL_H
#define HERALD_TEST_SPOOLUTIL_H
#include <stddef.h>
#include <herald/herald.h>

/* Open a context whose [herald] has spool_dir = @dir/spool (plus the
 * lines @globals, may be NULL) followed by @channels (config text).
 * Returns NULL with the error on stderr when the open fails. */
herald_ctx *su_open(const char *dir, const char *globals, const char *channels);
/* A message from a@example.com to b@example.com with @subject and a text
 * body. */
herald_msg *su_msg(const char *subject);
/* Lines of @path that are exactly "CHANNEL\tSUBJECT" for each subject
 * "PREFIX<i>", i < n: counts[i] gets how often each was seen.  Returns
 * the total number of lines (-1 when the file is missing: 0 lines). */
long su_count_sends(const char *path, const char *prefix, int *counts, int n);
/* Number of entries (not . and ..) in @dir/spool/@area; -1 if missing. */
int su_count(const char *dir, const char *area);
/* 1 when running under valgrind (heavy tests scale down). */
int su_valgrind(void);
#endif
