/* tests/libherald/test_base.c - the base library: hb_read_file reads only
 * regular files (or standard input when asked), bounded, and says why it
 * refuses; hb_quote_string escapes exactly '"' and '\'. */
#include "config.h"
#include "base/base.h"
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char *tmp;

static void setup(void)
{
    tmp = tu_mkdtemp();
    cr_assert(tmp);
}

static void teardown(void)
{
    tu_rmrf(tmp);
    free(tmp);
}

/* A FIFO or a device must be refused at once: the timeout catches a read
 * that blocks or runs on. */
TestSuite(base, .init = setup, .fini = teardown, .timeout = 20);

/* DIR/NAME holding @n bytes of @c; malloc'd path. */
static char *file_of(const char *name, size_t n, char c)
{
    char *path = tu_printf("%s/%s", tmp, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(fputc(c, f), c);
    cr_assert_eq(fclose(f), 0);
    return path;
}

/* Expect a refusal with errno @e and a reason holding each of @parts. */
static void refused(const char *path, size_t limit, int allow_stdin, int e,
                    const char *const *parts)
{
    char *data = (char *)1, *why = NULL;
    size_t len = 7;
    errno = 0;
    cr_assert_eq(hb_read_file(path, limit, "test_limit", allow_stdin, &data,
                              &len, &why), -1, "%s was read", path);
    cr_assert_eq(errno, e, "%s: errno %d, want %d", path, errno, e);
    cr_assert_null(data);
    cr_assert_not_null(why);
    for (; *parts; parts++)
        cr_assert(strstr(why, *parts), "'%s' lacks '%s'", why, *parts);
    free(why);
}

static char *read_ok(const char *path, size_t limit, int allow_stdin,
                     size_t *len_r)
{
    char *data = NULL, *why = NULL;
    cr_assert_eq(hb_read_file(path, limit, "test_limit", allow_stdin, &data,
                              len_r, &why), 0, "%s: %s", path,
                 why ? why : "?");
    cr_assert_null(why);
    cr_assert_not_null(data);
    return data;
}

Test(base, regular_file_read_whole_and_nul_terminated)
{
    char *path = tu_write_file(tmp, "f", "hello\nworld\n");
    size_t len = 0;
    char *data = read_ok(path, 100, 0, &len);
    cr_assert_eq(len, 12);
    cr_assert_str_eq(data, "hello\nworld\n");
    free(data);
    /* len_r may be NULL */
    data = read_ok(path, 100, 0, NULL);
    free(data);
    free(path);
}

Test(base, empty_file_gives_empty_string)
{
    char *path = file_of("empty", 0, 'x');
    size_t len = 9;
    char *data = read_ok(path, 10, 0, &len);
    cr_assert_eq(len, 0);
    cr_assert_eq(data[0], '\0');
    free(data);
    free(path);
}

/* Found while writing this test: the reader gave up after its first 8 KiB
 * buffer, so any file over 8191 bytes was "larger than" a 4 MiB limit. */
Test(base, larger_than_first_buffer_is_read)
{
    static const size_t sizes[] = { 8191, 8192, 8193, 100000, 1000001 };
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        char name[32];
        snprintf(name, sizeof name, "big%zu", i);
        char *path = file_of(name, sizes[i], 'b');
        size_t len = 0;
        char *data = read_ok(path, HB_CONFIG_LIMIT, 0, &len);
        cr_assert_eq(len, sizes[i]);
        cr_assert_eq(strlen(data), sizes[i]);
        free(data);
        free(path);
    }
}

Test(base, exactly_the_limit_is_read)
{
    static const size_t limits[] = { 1, 8192, 70000 };
    for (size_t i = 0; i < sizeof limits / sizeof *limits; i++) {
        char name[32];
        snprintf(name, sizeof name, "lim%zu", i);
        char *path = file_of(name, limits[i], 'q');
        size_t len = 0;
        char *data = read_ok(path, limits[i], 0, &len);
        cr_assert_eq(len, limits[i]);
        free(data);
        free(path);
    }
}

Test(base, one_byte_over_the_limit_is_refused_naming_it)
{
    char *path = file_of("over", 70001, 'o');
    const char *parts[] = { path, "test_limit", "70000 bytes", NULL };
    refused(path, 70000, 0, EFBIG, parts);
    free(path);
}

Test(base, fifo_is_refused_at_once)
{
    char *path = tu_printf("%s/fifo", tmp);
    cr_assert_eq(mkfifo(path, 0600), 0);
    const char *parts[] = { path, "is a FIFO", "regular file", NULL };
    /* Without O_NONBLOCK the open itself would wait for a writer. */
    refused(path, 1000, 0, EINVAL, parts);
    free(path);
}

Test(base, dev_zero_is_refused_at_once)
{
    const char *parts[] = { "/dev/zero", "character device", NULL };
    refused("/dev/zero", HB_SECRET_LIMIT, 0, EINVAL, parts);
}

Test(base, directory_is_refused)
{
    const char *parts[] = { tmp, "is a directory", NULL };
    refused(tmp, 1000, 0, EINVAL, parts);
}

Test(base, missing_file_names_path_and_errno_text)
{
    char *path = tu_printf("%s/no/such", tmp);
    const char *parts[] = { path, "No such file or directory", NULL };
    refused(path, 1000, 0, ENOENT, parts);
    free(path);
}

Test(base, symlink_is_followed_to_what_it_names)
{
    char *link = tu_printf("%s/zero", tmp);
    cr_assert_eq(symlink("/dev/zero", link), 0);
    const char *parts[] = { link, "character device", NULL };
    refused(link, 1000, 0, EINVAL, parts);
    char *target = tu_write_file(tmp, "target", "via link");
    char *good = tu_printf("%s/good", tmp);
    cr_assert_eq(symlink(target, good), 0);
    char *data = read_ok(good, 100, 0, NULL);
    cr_assert_str_eq(data, "via link");
    free(data);
    free(target);
    free(good);
    free(link);
}

/* Make @fd the standard input; returns a copy of the old one. */
static int set_stdin(int fd)
{
    int saved = dup(STDIN_FILENO);
    cr_assert(saved >= 0);
    cr_assert_eq(dup2(fd, STDIN_FILENO), STDIN_FILENO);
    close(fd);
    return saved;
}

static void restore_stdin(int saved)
{
    cr_assert_eq(dup2(saved, STDIN_FILENO), STDIN_FILENO);
    close(saved);
}

/* A pipe holding @n bytes of @c, write end closed, as standard input. */
static int stdin_pipe(size_t n, char c)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    char buf[4096];
    memset(buf, c, sizeof buf);
    cr_assert(n <= 60000, "must fit in the pipe buffer");
    for (size_t done = 0; done < n;) {
        size_t k = n - done < sizeof buf ? n - done : sizeof buf;
        ssize_t w = write(p[1], buf, k);
        cr_assert(w > 0);
        done += (size_t)w;
    }
    close(p[1]);
    return set_stdin(p[0]);
}

Test(base, dash_reads_stdin_when_allowed)
{
    int saved = stdin_pipe(20000, 's');
    size_t len = 0;
    char *data = read_ok("-", 20000, 1, &len);
    cr_assert_eq(len, 20000);
    cr_assert_eq(data[19999], 's');
    free(data);
    restore_stdin(saved);
}

Test(base, stdin_is_bounded_too)
{
    int saved = stdin_pipe(5000, 's');
    const char *parts[] = { "standard input", "test_limit", "4096 bytes",
                            NULL };
    refused("-", 4096, 1, EFBIG, parts);
    restore_stdin(saved);
    /* Endless input stops at the limit instead of filling memory. */
    int z = open("/dev/zero", O_RDONLY);
    cr_assert(z >= 0);
    saved = set_stdin(z);
    const char *endless[] = { "standard input", "65536 bytes", NULL };
    refused("-", HB_SECRET_LIMIT, 1, EFBIG, endless);
    restore_stdin(saved);
}

Test(base, dash_is_a_file_name_when_stdin_not_allowed)
{
    int saved = stdin_pipe(3, 's');
    char *cwd = getcwd(NULL, 0);
    cr_assert(cwd);
    cr_assert_eq(chdir(tmp), 0);
    const char *parts[] = { "-: cannot open", NULL };
    refused("-", 100, 0, ENOENT, parts);
    char *dash = tu_write_file(tmp, "-", "a file named dash");
    char *data = read_ok("-", 100, 0, NULL);
    cr_assert_str_eq(data, "a file named dash");
    free(data);
    free(dash);
    cr_assert_eq(chdir(cwd), 0);
    free(cwd);
    restore_stdin(saved);
}

Test(base, mode_is_reported)
{
    char *path = tu_write_file(tmp, "m", "x");
    cr_assert_eq(chmod(path, 0640), 0);
    char *data = NULL;
    unsigned mode = 0;
    cr_assert_eq(hb_read_file_mode(path, 10, "test_limit", 0, &data, NULL,
                                   NULL, &mode), 0);
    cr_assert(S_ISREG(mode));
    cr_assert_eq(mode & 0777, 0640);
    free(data);
    free(path);
}

Test(base, file_kinds)
{
    cr_assert_str_eq(hb_file_kind(S_IFREG), "regular file");
    cr_assert_str_eq(hb_file_kind(S_IFDIR), "directory");
    cr_assert_str_eq(hb_file_kind(S_IFIFO), "FIFO");
    cr_assert_str_eq(hb_file_kind(S_IFCHR), "character device");
    cr_assert_str_eq(hb_file_kind(S_IFBLK), "block device");
    cr_assert_str_eq(hb_file_kind(S_IFSOCK), "socket");
}

/* hb_quote_string (escape.c): the one quoted-string of display names
 * (address.c, mime/encode.c) and multipart form parameters (plugins/kit/http). */
static char *quoted(const char *s)
{
    struct hbuf b = {0};
    hb_quote_string(&b, s);
    cr_assert(!b.oom);
    return hbuf_steal(&b, NULL);
}

Test(base, quote_string_escapes_quote_and_backslash_only)
{
    char *q = quoted("a \"b\" c\\d; e");
    cr_assert_str_eq(q, "\"a \\\"b\\\" c\\\\d; e\"");
    free(q);
    q = quoted("");
    cr_assert_str_eq(q, "\"\"");
    free(q);
    q = quoted("Zo\xc3\xab");   /* UTF-8 passes as it is */
    cr_assert_str_eq(q, "\"Zo\xc3\xab\"");
    free(q);
}
