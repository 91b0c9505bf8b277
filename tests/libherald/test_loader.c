/* tests/libherald/test_loader.c - libherald/loader.c: finding, checking and refusing
 * drivers, with real shared objects built from tests/support/fixtures/. */
#include "../libherald/internal.h"
#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *dir_a, *dir_b, *dir_good, *dir_keep;
static struct hl_driver *keeper;
static char fixtures[PATH_MAX]; /* absolute: some tests chdir */

static void setup(void)
{
    char *rel = tu_printf("%s/tests/support/fixtures/.libs", tu_builddir());
    cr_assert(realpath(rel, fixtures), "fixtures not built in %s (run make "
              "check, or set HERALD_TEST_BUILDDIR)", rel);
    free(rel);
    unsetenv("HERALD_PLUGIN_PATH");
    unsetenv("HERALD_FIXTURE_VARIANT");
    dir_a = tu_mkdtemp();
    dir_b = tu_mkdtemp();
    dir_good = tu_mkdtemp();
    cr_assert(dir_a && dir_b && dir_good, "cannot make temp dirs");
}

static void teardown(void)
{
    if (chdir("/") != 0) /* some tests chdir into the dirs removed here */
        cr_log_warn("chdir /: %s", strerror(errno));
    hl_close(keeper);
    tu_rmrf(dir_keep);
    free(dir_keep);
    tu_rmrf(dir_a);
    tu_rmrf(dir_b);
    tu_rmrf(dir_good);
    free(dir_a);
    free(dir_b);
    free(dir_good);
}

TestSuite(loader, .init = setup, .fini = teardown, .timeout = 10);

/* ---- helpers ----------------------------------------------------------- */

/* Copy the built fixture STEM.so into DIR/AS.so; returns the new path. */
static char *install(const char *dir, const char *stem, const char *as)
{
    char *src = tu_printf("%s/%s.so", fixtures, stem);
    char *dst = tu_printf("%s/%s.so", dir, as);
    size_t len = 0;
    char *data = tu_read_file(src, &len);
    cr_assert(data, "fixture %s not built (run make check)", src);
    int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    cr_assert(fd >= 0, "cannot create %s: %s", dst, strerror(errno));
    cr_assert_eq(write(fd, data, len), (ssize_t)len);
    close(fd);
    free(data);
    free(src);
    return dst;
}

/* Keep one unrelated driver open for the rest of the test.  The loader
 * shuts libltdl down (unloading everything) when its last driver closes;
 * with this one open, a handle the loader forgot to close stays mapped and
 * the is_mapped() checks catch it. */
static void keep_libltdl_busy(void)
{
    dir_keep = tu_mkdtemp();
    char *p = install(dir_keep, "good", "good");
    herald_error *err = NULL;
    cr_assert_eq(hl_open(dir_keep, "good", &keeper, NULL, &err), HERALD_OK,
                 "%s", herald_error_message(err));
    free(p);
}

/* Is the file at @path mapped into this process (is it loaded)? */
static int is_mapped(const char *path)
{
    char real[PATH_MAX];
    const char *want = realpath(path, real) ? real : path;
    char *maps = tu_read_file("/proc/self/maps", NULL);
    cr_assert(maps, "cannot read /proc/self/maps");
    int found = strstr(maps, want) != NULL;
    free(maps);
    return found;
}

/* hl_open must fail with a config error containing every given fragment;
 * returns the message for further checks (caller frees). */
static char *expect_open_error(const char *config_dir, const char *name,
                               const char *const *frags)
{
    struct hl_driver *drv = NULL;
    herald_error *err = NULL;
    char *warn = NULL;
    herald_class rc = hl_open(config_dir, name, &drv, &warn, &err);
    cr_assert_eq(rc, HERALD_ERR_CONFIG, "hl_open(%s) gave %d, want CONFIG",
                 name, rc);
    cr_assert_null(drv, "a failed open must not hand out a driver");
    cr_assert_null(warn);
    cr_assert_eq(herald_error_class(err), HERALD_ERR_CONFIG);
    /* What, then the fix on its own line, as the CLI shows them. */
    const char *fix = herald_error_fix(err);
    char *msg = tu_printf("%s%s%s", herald_error_message(err),
                          fix ? "\n  fix: " : "", fix ? fix : "");
    for (size_t i = 0; frags && frags[i]; i++)
        cr_assert(strstr(msg, frags[i]), "message lacks \"%s\":\n  %s",
                  frags[i], msg);
    herald_error_free(err);
    return msg;
}

/* After a failed load: the refused file is not mapped any more and a good
 * driver still loads and runs in this process. */
static void assert_recovers(const char *failed_path)
{
    cr_assert_not(is_mapped(failed_path), "%s still mapped after refusal",
                  failed_path);
    char *p = install(dir_good, "good", "good");
    struct hl_driver *drv = NULL;
    herald_error *err = NULL;
    cr_assert_eq(hl_open(dir_good, "good", &drv, NULL, &err), HERALD_OK,
                 "good driver no longer loads: %s", herald_error_message(err));
    void *state = NULL;
    cr_assert_eq(drv->desc->init(NULL, NULL, &state, &err), HERALD_OK);
    cr_assert_eq(drv->desc->send(state, NULL, NULL, &err), HERALD_OK);
    cr_assert_eq(*(int *)state, 1);
    hl_close(drv);
    free(p);
}

/* Install fixture @stem under its own name in dir_a, expect hl_open to
 * refuse it with all of @frags, then check recovery. */
static void expect_fixture_refused(const char *stem, const char *const *frags)
{
    if (!keeper)
        keep_libltdl_busy();
    char *path = install(dir_a, stem, stem);
    char *msg = expect_open_error(dir_a, stem, frags);
    cr_assert(strstr(msg, path), "message does not name %s:\n  %s", path,
              msg);
    assert_recovers(path);
    free(msg);
    free(path);
}

static void expect_variant_refused(const char *variant,
                                   const char *const *frags)
{
    setenv("HERALD_FIXTURE_VARIANT", variant, 1);
    expect_fixture_refused("variant", frags);
}

#define FRAGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* ---- a good driver ------------------------------------------------------ */

Test(loader, good_driver_loads_and_runs)
{
    char *path = install(dir_a, "good", "good");
    struct hl_driver *drv = NULL;
    herald_error *err = NULL;
    char *warn = (char *)"unset";
    cr_assert_eq(hl_open(dir_a, "good", &drv, &warn, &err), HERALD_OK,
                 "%s", herald_error_message(err));
    cr_assert_null(warn, "no duplicate, so no warning");
    cr_assert_str_eq(drv->name, "good");
    cr_assert_str_eq(drv->path, path);
    const herald_plugin *d = drv->desc;
    cr_assert_str_eq(d->name, "good");
    cr_assert_str_eq(d->version, "1.2.3");
    cr_assert_str_eq(d->description, "fixture driver that accepts everything");
    cr_assert_eq(d->caps, HERALD_CAP_EMAIL | HERALD_CAP_TEXT);
    cr_assert_str_eq(d->options[0].name, "path");
    cr_assert_str_eq(d->options[1].choices, "fast|slow");
    cr_assert_str_eq(d->options[2].name, "retries");
    cr_assert_null(d->options[3].name);

    void *state = NULL;
    cr_assert_eq(d->init(NULL, NULL, &state, &err), HERALD_OK);
    cr_assert_eq(d->send(state, NULL, NULL, &err), HERALD_OK);
    cr_assert_eq(d->send(state, NULL, NULL, &err), HERALD_OK);
    cr_assert_eq(*(int *)state, 2, "send() did not run");
    d->teardown(state);
    cr_assert_eq(*(int *)state, -1, "teardown() did not run");
    hl_close(drv);
    hl_close(NULL);
    free(path);
}

Test(loader, driver_is_mapped_until_closed)
{
    keep_libltdl_busy();
    char *path = install(dir_a, "good", "good");
    cr_assert_not(is_mapped(path));
    struct hl_driver *drv = NULL;
    cr_assert_eq(hl_open(dir_a, "good", &drv, NULL, NULL), HERALD_OK);
    cr_assert(is_mapped(path), "loaded driver not in /proc/self/maps");
    hl_close(drv);
    cr_assert_not(is_mapped(path), "closed driver still mapped");
    free(path);
}

Test(loader, two_opens_of_one_driver_are_independent)
{
    keep_libltdl_busy();
    char *path = install(dir_a, "good", "good");
    struct hl_driver *d1 = NULL, *d2 = NULL;
    cr_assert_eq(hl_open(dir_a, "good", &d1, NULL, NULL), HERALD_OK);
    cr_assert_eq(hl_open(dir_a, "good", &d2, NULL, NULL), HERALD_OK);
    hl_close(d1);
    cr_assert(is_mapped(path), "closing one open unloaded the other");
    void *state = NULL;
    cr_assert_eq(d2->desc->init(NULL, NULL, &state, NULL), HERALD_OK);
    cr_assert_eq(d2->desc->send(state, NULL, NULL, NULL), HERALD_OK);
    cr_assert_eq(*(int *)state, 1);
    hl_close(d2);
    cr_assert_not(is_mapped(path));
    free(path);
}

static void *open_close_loop(void *arg)
{
    const char *dir = arg;
    int rounds = getenv("HERALD_TEST_VALGRIND") ? 4 : 25;
    for (int i = 0; i < rounds; i++) {
        struct hl_driver *drv = NULL;
        herald_error *err = NULL;
        if (hl_open(dir, "good", &drv, NULL, &err) != HERALD_OK) {
            herald_error_free(err);
            return (void *)1;
        }
        hl_close(drv);
        /* a failing open in between exercises lt_dlerror under the lock */
        if (hl_open(dir, "nosend", &drv, NULL, &err) != HERALD_ERR_CONFIG ||
            !strstr(herald_error_message(err), "no send function")) {
            herald_error_free(err);
            return (void *)1;
        }
        herald_error_free(err);
    }
    return NULL;
}

Test(loader, concurrent_opens_from_threads)
{
    keep_libltdl_busy();
    char *p1 = install(dir_a, "good", "good");
    char *p2 = install(dir_a, "nosend", "nosend");
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, open_close_loop, dir_a), 0);
    for (int i = 0; i < 4; i++) {
        void *res = (void *)1;
        pthread_join(t[i], &res);
        cr_assert_null(res, "thread %d saw a failed or wrong load", i);
    }
    cr_assert_not(is_mapped(p1));
    free(p1);
    free(p2);
}

/* ---- each broken fixture --------------------------------------------- */

Test(loader, wrong_abi_major_refused)
{
    char *want = tu_printf("was built for driver ABI %d.0 but this herald "
                           "supports %d.0..%d.%d: rebuild it against this "
                           "herald", HERALD_ABI_MAJOR + 1, HERALD_ABI_MAJOR,
                           HERALD_ABI_MAJOR, HERALD_ABI_MINOR);
    expect_fixture_refused("badmajor", FRAGS("driver 'badmajor' (", want));
    free(want);
}

Test(loader, older_abi_major_zero_refused)
{
    char *want = tu_printf("was built for driver ABI 0.0 but this herald "
                           "supports %d.0..%d.%d: rebuild it against this "
                           "herald", HERALD_ABI_MAJOR, HERALD_ABI_MAJOR,
                           HERALD_ABI_MINOR);
    expect_fixture_refused("abizero", FRAGS("driver 'abizero' (", want));
    free(want);
}

Test(loader, newer_abi_minor_refused)
{
    char *want = tu_printf("was built for driver ABI %d.%d but this herald "
                           "supports %d.0..%d.%d: it needs a newer herald",
                           HERALD_ABI_MAJOR, HERALD_ABI_MINOR + 1,
                           HERALD_ABI_MAJOR, HERALD_ABI_MAJOR,
                           HERALD_ABI_MINOR);
    expect_fixture_refused("newminor", FRAGS(want));
    free(want);
}

Test(loader, missing_symbol_refused)
{
    char *path = install(dir_a, "nosym", "nosym");
    char *want = tu_printf("%s is not a herald driver: it does not export "
                           "nosym_LTX_herald_plugin_get (define it with "
                           "HERALD_PLUGIN_DEFINE(nosym, ...))", path);
    expect_fixture_refused("nosym", FRAGS(want));
    free(want);
    free(path);
}

Test(loader, missing_send_refused)
{
    expect_fixture_refused("nosend",
        FRAGS("driver 'nosend' (", "descriptor has no send function",
              "set .send in HERALD_PLUGIN_DEFINE"));
}

Test(loader, name_mismatch_refused)
{
    expect_fixture_refused("mismatch",
        FRAGS("descriptor name 'other' does not match the file name "
              "mismatch.so: rename the file or fix HERALD_PLUGIN_DEFINE"));
}

Test(loader, name_that_is_a_prefix_of_the_stem_refused)
{
    /* foobar.so exports foobar_LTX_herald_plugin_get, descriptor "foo" */
    expect_fixture_refused("foobar",
        FRAGS("driver 'foobar' (", "descriptor name 'foo' does not match "
              "the file name foobar.so"));
}

Test(loader, stem_that_is_a_prefix_of_the_name_refused)
{
    /* foo.so exports foo_LTX_herald_plugin_get, descriptor "foobar" */
    expect_fixture_refused("foo",
        FRAGS("driver 'foo' (", "descriptor name 'foobar' does not match "
              "the file name foo.so"));
}

Test(loader, empty_version_refused)
{
    expect_fixture_refused("noversion",
        FRAGS("descriptor field 'version' is empty", "set .version"));
}

Test(loader, too_small_struct_size_refused)
{
    char *want = tu_printf("struct_size is %zu but ABI %d.%d needs at least "
                           "%zu bytes", offsetof(herald_plugin, init),
                           HERALD_ABI_MAJOR, HERALD_ABI_MINOR,
                           offsetof(herald_plugin, reserved));
    expect_fixture_refused("smallsize",
                           FRAGS("descriptor too small", want));
    free(want);
}

Test(loader, getter_returning_null_refused)
{
    expect_variant_refused("null",
        FRAGS("variant_LTX_herald_plugin_get() returned NULL",
              "HERALD_PLUGIN_DEFINE(variant, ...)"));
}

Test(loader, missing_init_and_teardown_refused)
{
    expect_variant_refused("noinit", FRAGS("descriptor has no init function"));
    /* same process: the refused copy was unloaded, so the new variant's
     * getter runs again and sees the new setting */
    expect_variant_refused("noteardown",
                           FRAGS("descriptor has no teardown function"));
}

Test(loader, missing_description_refused)
{
    expect_variant_refused("nodescription",
                           FRAGS("descriptor field 'description' is empty"));
}

Test(loader, bad_option_tables_refused)
{
    expect_variant_refused("badoptname",
        FRAGS("options[1] has the invalid name 'Bad-Name'"));
    expect_variant_refused("enumnochoices",
        FRAGS("options[2] ('mode') is an ENUM without choices",
              "set .choices"));
    expect_variant_refused("badtype",
        FRAGS("options[0] ('weird') has unknown type 99"));
    expect_variant_refused("dupopt",
        FRAGS("options[1] repeats the option name 'host' of options[0]"));
}

Test(loader, variant_fixture_is_valid_by_default)
{
    /* proves the variant refusals above come from the variant, not from
     * the fixture being broken anyway */
    char *path = install(dir_a, "variant", "variant");
    struct hl_driver *drv = NULL;
    herald_error *err = NULL;
    cr_assert_eq(hl_open(dir_a, "variant", &drv, NULL, &err), HERALD_OK,
                 "%s", herald_error_message(err));
    hl_close(drv);
    free(path);
}

/* ---- files that are not drivers ------------------------------------------- */

Test(loader, text_file_refused_with_dlerror_and_ldd)
{
    keep_libltdl_busy();
    char *path = tu_write_file(dir_a, "x.so",
                               "#!/bin/sh\n# this is a shell script, not a "
                               "shared object; it is long enough to have an "
                               "ELF header's worth of bytes\n");
    char *head = tu_printf("cannot load driver 'x' from %s: ", path);
    char *ldd = tu_printf("\n  fix: check its dependencies with: ldd %s", path);
    /* the system's reason, and libltdl's own lt_dlerror() text */
    char *msg = expect_open_error(dir_a, "x",
        FRAGS(head, "invalid ELF header", "(libltdl: ", ldd));
    assert_recovers(path);
    free(msg);
    free(head);
    free(ldd);
    free(path);
}

Test(loader, truncated_elf_refused_with_reason)
{
    char *path = tu_write_file(dir_a, "x.so", "\177ELF\002\001\001");
    char *head = tu_printf("cannot load driver 'x' from %s: file too short",
                           path);
    free(expect_open_error(dir_a, "x", FRAGS(head, "ldd ")));
    assert_recovers(path);
    free(head);
    free(path);
}

Test(loader, non_regular_file_refused)
{
    char *path = tu_printf("%s/x.so", dir_a);
    cr_assert_eq(mkdir(path, 0755), 0);
    char *want = tu_printf("%s is not a regular file (it is a directory)",
                           path);
    free(expect_open_error(dir_a, "x", FRAGS(want, "remove it")));
    assert_recovers(path);
    free(want);
    free(path);
}

Test(loader, world_writable_directory_refused)
{
    char *path = install(dir_a, "good", "good");
    cr_assert_eq(chmod(dir_a, 0757), 0);
    char *want = tu_printf("refusing to load driver 'good' from %s: "
                           "directory %s is world-writable\n  fix: run chmod o-w %s",
                           path, dir_a, dir_a);
    free(expect_open_error(dir_a, "good", FRAGS(want)));
    cr_assert_not(is_mapped(path));
    cr_assert_eq(chmod(dir_a, 0755), 0);
    struct hl_driver *drv = NULL;
    cr_assert_eq(hl_open(dir_a, "good", &drv, NULL, NULL), HERALD_OK,
                 "after chmod o-w the driver should load");
    hl_close(drv);
    free(want);
    free(path);
}

/* ---- trust: only root and the caller may change what is loaded ------- */

#define NOBODY 65534

/* chown needs root: the "owned by another user" cases are skipped (and
 * counted as skipped, never as passed) when the suite runs unprivileged. */
static void need_root(void)
{
    if (geteuid() != 0)
        cr_skip("needs root to chown a fixture to uid %d", NOBODY);
}

/* hl_open(@config_dir, "good") is refused with "refusing to load driver
 * 'good' from @path: " and every fragment, nothing stays mapped, and after
 * @fix (a shell command) the same call loads the driver. */
static void expect_untrusted(const char *config_dir, const char *path,
                             const char *const *frags, const char *fix)
{
    if (!keeper)
        keep_libltdl_busy();
    char *head = tu_printf("refusing to load driver 'good' from %s: ", path);
    char *msg = expect_open_error(config_dir, "good", FRAGS(head));
    for (size_t i = 0; frags[i]; i++)
        cr_assert(strstr(msg, frags[i]), "message lacks \"%s\":\n  %s",
                  frags[i], msg);
    cr_assert_not(is_mapped(path), "refused driver %s is mapped", path);
    char *out = NULL;
    cr_assert_eq(tu_run(&out, "%s", fix), 0, "%s: %s", fix, out);
    struct hl_driver *drv = NULL;
    herald_error *err = NULL;
    cr_assert_eq(hl_open(config_dir, "good", &drv, NULL, &err), HERALD_OK,
                 "after '%s' the driver should load: %s", fix,
                 herald_error_message(err));
    hl_close(drv);
    free(out);
    free(msg);
    free(head);
}

Test(loader, world_writable_driver_file_refused)
{
    char *path = install(dir_a, "good", "good");
    cr_assert_eq(chmod(path, 0757), 0);
    char *want = tu_printf("file %s is world-writable\n  fix: run chmod o-w %s",
                           path, path);
    char *fix = tu_printf("chmod o-w '%s'", path);
    expect_untrusted(dir_a, path, FRAGS(want), fix);
    free(fix);
    free(want);
    free(path);
}

Test(loader, group_writable_driver_file_refused)
{
    char *path = install(dir_a, "good", "good");
    cr_assert_eq(chmod(path, 0775), 0);
    char *want = tu_printf("file %s is group-writable\n  fix: run chmod g-w %s",
                           path, path);
    char *fix = tu_printf("chmod g-w '%s'", path);
    expect_untrusted(dir_a, path, FRAGS(want), fix);
    free(fix);
    free(want);
    free(path);
}

Test(loader, driver_file_owned_by_another_user_refused)
{
    need_root();
    char *path = install(dir_a, "good", "good");
    cr_assert_eq(chown(path, NOBODY, (gid_t)-1), 0, "%s", strerror(errno));
    char *want = tu_printf("file %s is owned by uid %d", path, NOBODY);
    char *hint = tu_printf("not by root or you, so that user can change it\n  fix: "
                           "run chown root %s", path);
    char *fix = tu_printf("chown root '%s'", path);
    expect_untrusted(dir_a, path, FRAGS(want, hint), fix);
    free(fix);
    free(hint);
    free(want);
    free(path);
}

Test(loader, symlink_into_world_writable_directory_refused)
{
    /* dir_a is fine; the file it links to is in a directory anyone can
     * write, so anyone can replace what the link points at */
    char *target = install(dir_b, "good", "good");
    char *link = tu_printf("%s/good.so", dir_a);
    cr_assert_eq(symlink(target, link), 0);
    cr_assert_eq(chmod(dir_b, 0757), 0);
    char *want = tu_printf("directory %s is world-writable\n  fix: run chmod o-w %s",
                           dir_b, dir_b);
    char *fix = tu_printf("chmod o-w '%s'", dir_b);
    expect_untrusted(dir_a, link, FRAGS(want), fix);
    free(fix);
    free(want);
    free(link);
    free(target);
}

Test(loader, group_writable_directory_refused)
{
    char *path = install(dir_a, "good", "good");
    cr_assert_eq(chmod(dir_a, 0775), 0);
    char *want = tu_printf("directory %s is group-writable\n  fix: run chmod g-w %s",
                           dir_a, dir_a);
    char *fix = tu_printf("chmod g-w '%s'", dir_a);
    expect_untrusted(dir_a, path, FRAGS(want), fix);
    free(fix);
    free(want);
    free(path);
}

Test(loader, world_writable_parent_directory_refused)
{
    /* the plugin directory itself is fine, the one above it is not */
    char *sub = tu_printf("%s/plugins", dir_a);
    cr_assert_eq(mkdir(sub, 0755), 0);
    char *path = install(sub, "good", "good");
    cr_assert_eq(chmod(dir_a, 0757), 0);
    char *want = tu_printf("directory %s is world-writable\n  fix: run chmod o-w %s",
                           dir_a, dir_a);
    char *fix = tu_printf("chmod o-w '%s'", dir_a);
    expect_untrusted(sub, path, FRAGS(want), fix);
    free(fix);
    free(want);
    free(path);
    free(sub);
}

Test(loader, sticky_parent_with_own_entries_accepted)
{
    /* like /tmp: others can create entries but not replace ours, so a
     * directory of ours in it is fine ... */
    cr_assert_eq(chmod(dir_a, 01777), 0);
    char *sub = tu_printf("%s/plugins", dir_a);
    cr_assert_eq(mkdir(sub, 0755), 0);
    char *p1 = install(sub, "good", "good");
    struct hl_driver *drv = NULL;
    herald_error *err = NULL;
    cr_assert_eq(hl_open(sub, "good", &drv, NULL, &err), HERALD_OK,
                 "%s", herald_error_message(err));
    hl_close(drv);
    /* ... but not as the plugin directory: others could add drivers */
    char *p2 = install(dir_a, "variant", "variant");
    char *want = tu_printf("file %s is in %s, which others can write to (it "
                           "is sticky, so they cannot replace the file, but "
                           "they can add their own)\n  fix: move it into a "
                           "directory only root or you can write", p2, dir_a);
    free(expect_open_error(dir_a, "variant", FRAGS(want)));
    free(want);
    free(p1);
    free(p2);
    free(sub);
}

Test(loader, sticky_parent_with_another_users_entry_refused)
{
    need_root();
    cr_assert_eq(chmod(dir_a, 01777), 0);
    char *sub = tu_printf("%s/plugins", dir_a);
    cr_assert_eq(mkdir(sub, 0755), 0);
    char *path = install(sub, "good", "good");
    cr_assert_eq(chown(sub, NOBODY, (gid_t)-1), 0, "%s", strerror(errno));
    char *want = tu_printf("directory %s is owned by uid %d", sub, NOBODY);
    char *hint = tu_printf("run chown root %s", sub);
    char *fix = tu_printf("chown root '%s'", sub);
    expect_untrusted(sub, path, FRAGS(want, hint), fix);
    free(fix);
    free(hint);
    free(want);
    free(path);

    /* a symbolic link there that another user owns: they can point it
     * at any directory, even though the one it names now is trusted */
    char *target = install(dir_b, "good", "good");
    char *link = tu_printf("%s/linked", dir_a);
    cr_assert_eq(symlink(dir_b, link), 0);
    cr_assert_eq(lchown(link, NOBODY, (gid_t)-1), 0, "%s", strerror(errno));
    path = tu_printf("%s/good.so", link);
    want = tu_printf("symbolic link %s is owned by uid %d", link, NOBODY);
    hint = tu_printf("run chown -h root %s", link);
    fix = tu_printf("chown -h root '%s'", link);
    expect_untrusted(link, path, FRAGS(want, hint), fix);
    free(fix);
    free(hint);
    free(want);
    free(path);
    free(link);
    free(target);
    free(sub);
}

/* A config file in @dir that sets plugin_dir = @plugin_dir and has one
 * channel of the good driver; returns its path. */
static char *write_config(const char *dir, const char *plugin_dir)
{
    char *text = tu_printf("[herald]\nplugin_dir = %s\n\n[channel c]\n"
                           "driver = good\npath = /unused\n", plugin_dir);
    char *conf = tu_write_file(dir, "herald.conf", text);
    free(text);
    return conf;
}

/* herald_open(@conf) is refused with a message naming the config file,
 * every fragment and the fix; after @fix it opens. */
static void expect_config_refused(const char *conf, const char *const *frags,
                                  const char *fix)
{
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open(conf, 0, &ctx, &err), HERALD_ERR_CONFIG,
                 "an untrusted config's plugin_dir was used");
    cr_assert_null(ctx);
    const char *how = herald_error_fix(err);
    char *msg = tu_printf("%s%s%s", herald_error_message(err),
                          how ? "\n  fix: " : "", how ? how : "");
    char *head = tu_printf("refusing the plugin_dir set in %s (whoever can "
                           "change the config can make herald run their own "
                           "driver): ", conf);
    cr_assert(strstr(msg, head), "message lacks \"%s\":\n  %s", head, msg);
    for (size_t i = 0; frags[i]; i++)
        cr_assert(strstr(msg, frags[i]), "message lacks \"%s\":\n  %s",
                  frags[i], msg);
    free(msg);
    herald_error_free(err);
    err = NULL;
    char *out = NULL;
    cr_assert_eq(tu_run(&out, "%s", fix), 0, "%s: %s", fix, out);
    cr_assert_eq(herald_open(conf, 0, &ctx, &err), HERALD_OK,
                 "after '%s': %s", fix, herald_error_message(err));
    herald_close(ctx);
    free(out);
    free(head);
}

Test(loader, world_writable_config_setting_plugin_dir_refused)
{
    char *path = install(dir_a, "good", "good");
    char *conf = write_config(dir_b, dir_a);
    cr_assert_eq(chmod(conf, 0666), 0);
    char *want = tu_printf("config file %s is group- and world-writable\n  fix: "
                           "run chmod go-w %s", conf, conf);
    char *fix = tu_printf("chmod go-w '%s'", conf);
    expect_config_refused(conf, FRAGS(want, "or remove plugin_dir"), fix);
    free(fix);
    free(want);
    free(conf);
    free(path);
}

Test(loader, config_in_group_writable_directory_refused)
{
    char *path = install(dir_a, "good", "good");
    char *conf = write_config(dir_b, dir_a);
    cr_assert_eq(chmod(dir_b, 0775), 0);
    char *want = tu_printf("directory %s is group-writable\n  fix: run chmod g-w %s",
                           dir_b, dir_b);
    char *fix = tu_printf("chmod g-w '%s'", dir_b);
    expect_config_refused(conf, FRAGS(want), fix);
    free(fix);
    free(want);
    free(conf);
    free(path);
}

Test(loader, config_owned_by_another_user_refused)
{
    need_root();
    char *path = install(dir_a, "good", "good");
    char *conf = write_config(dir_b, dir_a);
    cr_assert_eq(chown(conf, NOBODY, (gid_t)-1), 0, "%s", strerror(errno));
    char *want = tu_printf("config file %s is owned by uid %d", conf, NOBODY);
    char *hint = tu_printf("run chown root %s", conf);
    char *fix = tu_printf("chown root '%s'", conf);
    expect_config_refused(conf, FRAGS(want, hint), fix);
    free(fix);
    free(hint);
    free(want);
    free(conf);
    free(path);
}

Test(loader, writable_config_without_plugin_dir_still_opens)
{
    /* only plugin_dir chooses code to run; the driver itself still comes
     * from the (checked) search path */
    char *path = install(dir_a, "good", "good");
    setenv("HERALD_PLUGIN_PATH", dir_a, 1);
    char *conf = tu_write_file(dir_b, "herald.conf", "[channel c]\n"
                               "driver = good\npath = /unused\n");
    cr_assert_eq(chmod(conf, 0666), 0);
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    cr_assert_eq(herald_open(conf, 0, &ctx, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    herald_close(ctx);
    free(conf);
    free(path);
}

Test(loader, invalid_names_refused)
{
    static const char *const bad[] = {
        "../x", "Foo", "a-b", "", "x.so", "a/b", "sp ace",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *head = tu_printf("invalid driver name '%s'", bad[i]);
        free(expect_open_error(dir_a, bad[i],
                               FRAGS(head, "1 to 64 characters",
                                     "lowercase letter a-z, a digit or '_'")));
        free(head);
    }
    free(expect_open_error(dir_a, NULL, FRAGS("invalid driver name")));
}

Test(loader, longest_valid_name_is_searched)
{
    /* 64 characters of [a-z0-9_] is a name: it is looked for, not refused */
    const char *name =
        "abcdefghijklmnopqrstuvwxyz_0123456789abcdefghijklmnopqrstuvwxyz_";
    cr_assert_eq(strlen(name), 64);
    free(expect_open_error(dir_a, name, FRAGS("not found")));
}

/* ---- the search path ----------------------------------------------------- */

Test(loader, not_found_lists_every_directory_and_the_fix)
{
    char *env = tu_printf("%s:relative/dir::%s/", dir_b, dir_good);
    setenv("HERALD_PLUGIN_PATH", env, 1);
    char *dirs = tu_printf("no nope.so in \"%s\" (plugin_dir), \"%s\" "
                           "(HERALD_PLUGIN_PATH), \"%s\" (HERALD_PLUGIN_PATH) "
                           "and \"%s\" (built in)", dir_a, dir_b, dir_good,
                           HERALD_PLUGINDIR);
    char *msg = expect_open_error(dir_a, "nope",
        FRAGS("driver 'nope' not found", dirs, "install the package",
              "plugin_dir", "HERALD_PLUGIN_PATH"));
    cr_assert_null(strstr(msg, "relative"), "relative entry searched: %s",
                   msg);
    free(msg);
    free(dirs);
    free(env);
}

Test(loader, plugin_dir_with_a_colon_is_one_directory)
{
    /* plugin_dir names one directory: never split on ':', and shown
     * quoted so it cannot read as a path list */
    char *dir = tu_printf("%s/x:y", dir_a);
    cr_assert_eq(mkdir(dir, 0755), 0);
    char *path = install(dir, "good", "good");
    setenv("HERALD_PLUGIN_PATH", dir_b, 1);
    struct hl_driver *drv = NULL;
    herald_error *err = NULL;
    cr_assert_eq(hl_open(dir, "good", &drv, NULL, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    cr_assert_str_eq(drv->path, path);
    hl_close(drv);

    char *want = tu_printf("no nope.so in \"%s\" (plugin_dir), \"%s\" "
                           "(HERALD_PLUGIN_PATH) and ", dir, dir_b);
    free(expect_open_error(dir, "nope", FRAGS(want)));

    /* the same through a config file, relative to it */
    char *conf = write_config(dir_a, "x:y");
    herald_ctx *ctx = NULL;
    cr_assert_eq(herald_open(conf, 0, &ctx, &err), HERALD_OK, "%s",
                 herald_error_message(err));
    herald_close(ctx);
    free(conf);
    free(want);
    free(path);
    free(dir);
}

Test(loader, config_dir_beats_plugin_path)
{
    char *pb = install(dir_b, "good", "good");
    setenv("HERALD_PLUGIN_PATH", dir_b, 1);
    struct hl_driver *drv = NULL;
    cr_assert_eq(hl_open(dir_a, "good", &drv, NULL, NULL), HERALD_OK,
                 "not found through HERALD_PLUGIN_PATH");
    cr_assert_str_eq(drv->path, pb);
    hl_close(drv);

    char *pa = install(dir_a, "good", "good");
    cr_assert_eq(hl_open(dir_a, "good", &drv, NULL, NULL), HERALD_OK);
    cr_assert_str_eq(drv->path, pa, "config plugin_dir must win");
    hl_close(drv);
    free(pa);
    free(pb);
}

Test(loader, plugin_path_entries_in_order_relative_skipped)
{
    /* "good_rel" resolves from the cwd if relative entries were used */
    cr_assert_eq(chdir(dir_a), 0);
    cr_assert_eq(mkdir("good_rel", 0755), 0);
    char *rel = install("good_rel", "good", "good");
    char *pb = install(dir_b, "good", "good");
    char *pg = install(dir_good, "good", "good");
    /* an entry that is a file, not a directory, is passed over too */
    char *file = tu_write_file(dir_a, "plain", "x");
    char *env = tu_printf("::good_rel:%s:%s:%s", file, dir_b, dir_good);
    setenv("HERALD_PLUGIN_PATH", env, 1);
    struct hl_driver *drv = NULL;
    char *warn = NULL;
    cr_assert_eq(hl_open(NULL, "good", &drv, &warn, NULL), HERALD_OK);
    cr_assert_str_eq(drv->path, pb, "relative entry used or order wrong");
    char *want = tu_printf("driver 'good': using %s; %s is shadowed by it",
                           pb, pg);
    cr_assert_str_eq(warn, want);
    hl_close(drv);
    free(want);
    free(warn);
    free(file);
    free(rel);
    free(pb);
    free(pg);
    free(env);
}

Test(loader, relative_config_dir_is_made_absolute)
{
    char *sub = tu_printf("%s/sub", dir_a);
    cr_assert_eq(mkdir(sub, 0755), 0);
    char *path = install(sub, "good", "good");
    cr_assert_eq(chdir(dir_a), 0);
    struct hl_driver *drv = NULL;
    herald_error *err = NULL;
    cr_assert_eq(hl_open("sub", "good", &drv, NULL, &err), HERALD_OK,
                 "%s", herald_error_message(err));
    cr_assert_str_eq(drv->path, path, "path not made absolute");
    hl_close(drv);
    free(path);
    free(sub);
}

Test(loader, duplicate_loads_first_and_warns_with_both_paths)
{
    char *pa = install(dir_a, "good", "good");
    char *pb = install(dir_b, "good", "good");
    setenv("HERALD_PLUGIN_PATH", dir_b, 1);
    struct hl_driver *drv = NULL;
    char *warn = NULL;
    cr_assert_eq(hl_open(dir_a, "good", &drv, &warn, NULL), HERALD_OK);
    cr_assert_str_eq(drv->path, pa);
    char *want = tu_printf("driver 'good': using %s; %s is shadowed by it",
                           pa, pb);
    cr_assert_str_eq(warn, want);
    cr_assert_not(is_mapped(pb), "the shadowed copy must not be loaded");
    hl_close(drv);
    free(want);
    free(warn);
    free(pa);
    free(pb);
}

Test(loader, same_directory_twice_is_no_duplicate)
{
    char *pa = install(dir_a, "good", "good");
    char *env = tu_printf("%s:%s/", dir_a, dir_a);
    setenv("HERALD_PLUGIN_PATH", env, 1);
    struct hl_driver *drv = NULL;
    char *warn = NULL;
    cr_assert_eq(hl_open(dir_a, "good", &drv, &warn, NULL), HERALD_OK);
    cr_assert_null(warn, "a directory cannot shadow itself: %s", warn);
    hl_close(drv);
    free(env);
    free(pa);
}

Test(loader, broken_first_copy_is_not_skipped_for_a_later_good_one)
{
    /* the first directory that has the file wins, even when it is broken:
     * silently falling through to another copy would hide the problem */
    char *bad = tu_write_file(dir_a, "good.so", "garbage");
    char *pb = install(dir_b, "good", "good");
    setenv("HERALD_PLUGIN_PATH", dir_b, 1);
    char *head = tu_printf("cannot load driver 'good' from %s: ", bad);
    free(expect_open_error(dir_a, "good", FRAGS(head)));
    cr_assert_not(is_mapped(pb));
    free(head);
    free(bad);
    free(pb);
}

/* ---- hl_scan ----------------------------------------------------------- */

struct seen_info {
    char *name, *path, *version, *refused, *opt0;
    unsigned abi_major, abi_minor;
    unsigned long long caps;
};
struct scan_log {
    struct seen_info v[32];
    size_t n;
    const char *only_a, *only_b;   /* record only files under these */
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void record(const herald_driver_info *info, void *user)
{
    struct scan_log *log = user;
    if (strncmp(info->path, log->only_a, strlen(log->only_a)) != 0 &&
        strncmp(info->path, log->only_b, strlen(log->only_b)) != 0)
        return;
    cr_assert_lt(log->n, 32);
    struct seen_info *s = &log->v[log->n++];
    s->name = strdup(info->name);
    s->path = strdup(info->path);
    s->version = dup_or_null(info->version);
    s->refused = info->refused && info->refused_fix
        ? tu_printf("%s\n  fix: %s", info->refused, info->refused_fix)
        : dup_or_null(info->refused);
    s->opt0 = dup_or_null(info->options ? info->options[0].name : NULL);
    s->abi_major = info->abi_major;
    s->abi_minor = info->abi_minor;
    s->caps = info->caps;
    if (!info->refused)
        cr_assert(is_mapped(info->path), "driver not loaded during fn");
}

static void scan_log_free(struct scan_log *log)
{
    for (size_t i = 0; i < log->n; i++) {
        free(log->v[i].name);
        free(log->v[i].path);
        free(log->v[i].version);
        free(log->v[i].refused);
        free(log->v[i].opt0);
    }
}

static void expect_entry(const struct scan_log *log, size_t i,
                         const char *dir, const char *name,
                         const char *refused_frag)
{
    cr_assert_lt(i, log->n, "only %zu entries", log->n);
    const struct seen_info *s = &log->v[i];
    char *path = tu_printf("%s/%s.so", dir, name);
    cr_assert_str_eq(s->path, path, "entry %zu", i);
    cr_assert_str_eq(s->name, name);
    if (refused_frag) {
        cr_assert(s->refused && strstr(s->refused, refused_frag),
                  "%s: refused = %s, want \"%s\"", path,
                  s->refused ? s->refused : "(null)", refused_frag);
        cr_assert_null(s->version);
    } else {
        cr_assert_null(s->refused, "%s refused: %s", path, s->refused);
    }
    free(path);
}

Test(loader, scan_reports_good_broken_and_shadowed_in_order)
{
    keep_libltdl_busy();
    char *f[] = {
        install(dir_a, "good", "good"),
        install(dir_a, "nosend", "nosend"),
        install(dir_a, "badmajor", "badmajor"),
        install(dir_b, "good", "good"),
        install(dir_b, "mismatch", "mismatch"),
        tu_write_file(dir_a, "README", "not a driver"),
        tu_write_file(dir_b, "Bad.so", "x"),
    };
    setenv("HERALD_PLUGIN_PATH", dir_b, 1);
    struct scan_log log = { .only_a = dir_a, .only_b = dir_b };
    herald_error *err = NULL;
    cr_assert_eq(hl_scan(dir_a, record, &log, &err), HERALD_OK);
    cr_assert_eq(log.n, 6, "got %zu entries", log.n);

    expect_entry(&log, 0, dir_a, "badmajor", "was built for driver ABI 2.0");
    cr_assert_eq(log.v[0].abi_major, 2, "ABI of a refused driver is shown");
    expect_entry(&log, 1, dir_a, "good", NULL);
    cr_assert_str_eq(log.v[1].version, "1.2.3");
    cr_assert_str_eq(log.v[1].opt0, "path");
    cr_assert_eq(log.v[1].abi_major, HERALD_ABI_MAJOR);
    cr_assert_eq(log.v[1].abi_minor, HERALD_ABI_MINOR);
    cr_assert_eq(log.v[1].caps, HERALD_CAP_EMAIL | HERALD_CAP_TEXT);
    expect_entry(&log, 2, dir_a, "nosend", "no send function");
    expect_entry(&log, 3, dir_b, "Bad", "invalid driver name 'Bad'");
    char *shadow = tu_printf("shadowed by %s", f[0]);
    expect_entry(&log, 4, dir_b, "good", shadow);
    cr_assert_str_eq(log.v[4].refused, shadow);
    expect_entry(&log, 5, dir_b, "mismatch",
                 "descriptor name 'other' does not match");

    /* the reason is the same text hl_open gives */
    char *msg = expect_open_error(dir_a, "nosend", NULL);
    cr_assert_str_eq(log.v[2].refused, msg);
    free(msg);

    for (size_t i = 0; i < 5; i++)
        cr_assert_not(is_mapped(f[i]), "%s left loaded after scan", f[i]);
    free(shadow);
    scan_log_free(&log);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        free(f[i]);
}

Test(loader, scan_skips_missing_dirs_and_refuses_world_writable)
{
    char *pb = install(dir_b, "good", "good");
    cr_assert_eq(chmod(dir_b, 0757), 0);
    char *missing = tu_printf("%s/does-not-exist", dir_a);
    setenv("HERALD_PLUGIN_PATH", dir_b, 1);
    struct scan_log log = { .only_a = dir_a, .only_b = dir_b };
    herald_error *err = NULL;
    cr_assert_eq(hl_scan(missing, record, &log, &err), HERALD_OK,
                 "%s", herald_error_message(err));
    cr_assert_eq(log.n, 1);
    expect_entry(&log, 0, dir_b, "good", "is world-writable\n  fix: run chmod o-w");
    scan_log_free(&log);
    free(missing);
    free(pb);
}

Test(loader, scan_with_nothing_installed_reports_nothing)
{
    struct scan_log log = { .only_a = dir_a, .only_b = dir_b };
    cr_assert_eq(hl_scan(dir_a, record, &log, NULL), HERALD_OK);
    cr_assert_eq(log.n, 0);
}

Test(loader, scan_reports_untrusted_drivers_with_the_fix)
{
    char *pg = install(dir_a, "good", "good");
    cr_assert_eq(chmod(pg, 0775), 0);
    char *target = install(dir_b, "variant", "variant");
    char *link = tu_printf("%s/variant.so", dir_a);
    cr_assert_eq(symlink(target, link), 0);
    cr_assert_eq(chmod(dir_b, 0757), 0);
    struct scan_log log = { .only_a = dir_a, .only_b = dir_b };
    cr_assert_eq(hl_scan(dir_a, record, &log, NULL), HERALD_OK);
    cr_assert_eq(log.n, 2, "got %zu entries", log.n);
    char *w1 = tu_printf("file %s is group-writable\n  fix: run chmod g-w %s", pg,
                         pg);
    expect_entry(&log, 0, dir_a, "good", w1);
    char *w2 = tu_printf("directory %s is world-writable\n  fix: run chmod o-w %s",
                         dir_b, dir_b);
    expect_entry(&log, 1, dir_a, "variant", w2);
    cr_assert_not(is_mapped(pg));
    cr_assert_not(is_mapped(target));
    scan_log_free(&log);
    free(w2);
    free(w1);
    free(link);
    free(target);
    free(pg);
}
