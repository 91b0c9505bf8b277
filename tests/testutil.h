/* tests/testutil.h - small helpers shared by the Criterion tests. */
#ifndef HERALD_TESTUTIL_H
#define HERALD_TESTUTIL_H
#include <stddef.h>

/* A fresh private directory under $TMPDIR (or /tmp); malloc'd path. */
char *tu_mkdtemp(void);
/* Remove a tree (like rm -rf).  NULL is ignored. */
void tu_rmrf(const char *path);
/* Run `sh -c CMD` with stdout+stderr captured into *out_r (malloc'd, may be
 * NULL).  Returns the exit status, or 128+signal. */
int tu_run(char **out_r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Write @content to DIR/NAME (mode 0644); returns the malloc'd path. */
char *tu_write_file(const char *dir, const char *name, const char *content);
/* Read a whole file, NUL-terminated; NULL when it cannot be read. */
char *tu_read_file(const char *path, size_t *len_r);
/* Count regular files in a directory (-1 when it cannot be opened). */
int tu_count_files(const char *dir);
/* Top source and build directories, the test python, the herald CLI. */
const char *tu_srcdir(void);
const char *tu_builddir(void);
const char *tu_python(void);
const char *tu_cli(void);
/* Directory holding the built maildir.so. */
const char *tu_maildir_plugin_dir(void);
/* malloc'd sprintf. */
char *tu_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif
