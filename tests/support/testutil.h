/* tests/support/testutil.h - small helpers shared by the Criterion tests. */
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
/* The compiler, CFLAGS and LDFLAGS this tree was configured with (so code
 * the tests compile, such as the examples, gets the same sanitizers). */
const char *tu_cc(void);
const char *tu_cflags(void);
const char *tu_ldflags(void);
/* plugins/built: the build tree's one directory of every built driver. */
const char *tu_plugin_dir(void);
/* malloc'd sprintf. */
char *tu_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#endif

/* ---- real servers for tests ---------------------------------------- */
#include <sys/types.h>
struct tu_server {
    pid_t pid;
    int port;
    char *dir;   /* private dir: port file and log */
};
/* Start `sh -c CMD` in the background.  CMD must write its listening port
 * (decimal) to the file named by $TU_PORT_FILE once it accepts
 * connections; stdout/stderr go to $dir/log.  Waits up to 15 s.
 * Returns 0 on success, -1 (with the log on stderr) on failure. */
int tu_server_start(struct tu_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* SIGTERM, wait up to 3 s, then SIGKILL; frees s->dir.  Safe on a zeroed s. */
void tu_server_stop(struct tu_server *s);
/* The server's log so far (malloc'd, may be NULL). */
char *tu_server_log(const struct tu_server *s);

/* Make test certificates under DIR with certtool (ECDSA P-256):
 *   ca.pem ca.key            a test CA
 *   server.pem server.key    CN/SAN localhost + IP 127.0.0.1, signed by the CA
 *   wronghost.pem .key       SAN wrong.example.com only, signed by the CA
 *   expired.pem .key         localhost, expired in 2020, signed by the CA
 *   selfsigned.pem .key      localhost, self-signed (not by the CA)
 * Returns 0 on success. */
int tu_make_certs(const char *dir);
