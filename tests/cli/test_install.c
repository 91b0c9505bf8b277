/* tests/cli/test_install.c - what a packager and a third-party driver author
 * get: `make install DESTDIR=...` lays out the files, the example driver and
 * the example app build out of tree with only `pkg-config herald`, and the
 * installed CLI loads the out-of-tree driver. */
#include "config.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <herald/plugin.h>   /* HERALD_ABI_MAJOR/MINOR */

#include "testutil.h"

static char *root, *work, *pcdir, *libdir, *bindir, *plugindir;

/* The first line of a command's output, trimmed; NULL when empty. */
static char *first_line(const char *cmd)
{
    char *out = NULL;
    if (tu_run(&out, "%s", cmd) != 0 || !out) {
        free(out);
        return NULL;
    }
    out[strcspn(out, "\n")] = '\0';
    if (!*out) {
        free(out);
        return NULL;
    }
    return out;
}

/* Install once, in the runner process before any test starts (the tests run
 * in parallel and must not race on one `make install`); workers find the
 * tree through HERALD_TEST_INSTALL_ROOT. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
    (void)set;
    char *dir = tu_mkdtemp();
    char *dest = tu_printf("%s/root", dir);
    char *out = NULL;
    /* A make inside `make check` must not inherit the outer jobserver. */
    int rc = tu_run(&out, "cd %s && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "
                          "make install DESTDIR=%s", tu_builddir(), dest);
    if (rc != 0)
        fprintf(stderr, "make install failed:\n%s\n", out ? out : "");
    else
        setenv("HERALD_TEST_INSTALL_ROOT", dir, 1);
    free(out);
    free(dest);
    free(dir);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
    (void)stats;
    tu_rmrf(getenv("HERALD_TEST_INSTALL_ROOT"));
}

static void install_once(void)
{
    const char *base = getenv("HERALD_TEST_INSTALL_ROOT");
    cr_assert(base, "make install failed (see the test log)");
    work = tu_mkdtemp();
    cr_assert(work);
    root = tu_printf("%s/root", base);
    char *cmd = tu_printf("find %s -name herald.pc -printf '%%h\\n'", root);
    pcdir = first_line(cmd);
    free(cmd);
    cr_assert(pcdir, "no herald.pc installed");
    cmd = tu_printf("find %s -name 'libherald.so' -printf '%%h\\n'", root);
    libdir = first_line(cmd);
    free(cmd);
    cr_assert(libdir, "no libherald.so installed");
    cmd = tu_printf("find %s -type f -name herald -perm -u+x -printf '%%h\\n'", root);
    bindir = first_line(cmd);
    free(cmd);
    cr_assert(bindir, "no herald binary installed");
    cmd = tu_printf("PKG_CONFIG_PATH=%s PKG_CONFIG_SYSROOT_DIR=%s pkg-config "
                    "--variable=plugindir herald", pcdir, root);
    char *pd = first_line(cmd);
    free(cmd);
    cr_assert(pd, "herald.pc has no plugindir");
    /* pkgconf may or may not prefix variables with the sysroot */
    plugindir = strncmp(pd, root, strlen(root)) == 0 ? strdup(pd) : tu_printf("%s%s", root, pd);
    free(pd);
}

static void cleanup(void)
{
    tu_rmrf(work);
    free(work);
    free(root);
    free(pcdir);
    free(libdir);
    free(bindir);
    free(plugindir);
}

TestSuite(install, .init = install_once, .fini = cleanup, .timeout = 120);

Test(install, layout_for_packagers)
{
    char *p = tu_printf("%s/maildir.so", plugindir);
    char *la = tu_printf("%s/maildir.la", plugindir);
    cr_assert_eq(access(p, R_OK), 0, "driver not installed at %s", p);
    cr_assert_neq(access(la, F_OK), 0, ".la file left next to the drivers");
    free(p);
    free(la);
    char *out = NULL;
    cr_assert_eq(tu_run(&out, "find %s -name '*.la'", plugindir), 0);
    cr_assert_str_eq(out, "", "libtool archives in the plugin directory: %s", out);
    free(out);
    cr_assert_eq(tu_run(&out, "cd %s && find . -path '*include/herald/*.h' | sort", root), 0);
    cr_assert(strstr(out, "include/herald/herald.h") && strstr(out, "include/herald/plugin.h"),
              "%s", out);
    free(out);
    cr_assert_eq(tu_run(&out, "find %s -name 'herald.1' -o -name 'herald.conf.5'", root), 0);
    cr_assert(strstr(out, "herald.1") && strstr(out, "herald.conf.5"), "man pages: %s", out);
    free(out);
    cr_assert_eq(tu_run(&out, "PKG_CONFIG_PATH=%s pkg-config --variable=plugin_abi herald",
                        pcdir), 0);
    char *abi = tu_printf("%d.%d\n", HERALD_ABI_MAJOR, HERALD_ABI_MINOR);
    cr_assert_str_eq(out, abi, "plugin_abi is plugin.h's ABI");
    free(abi);
    free(out);
}

Test(install, example_driver_builds_out_of_tree_and_cli_loads_it)
{
    char *out = NULL;
    int rc = tu_run(&out, "cp %s/examples/driver/shout.c %s/examples/driver/Makefile %s/ && "
                          "cd %s && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "
                          "PKG_CONFIG_PATH=%s PKG_CONFIG_SYSROOT_DIR=%s "
                          "make CC='%s' CFLAGS='%s' LDFLAGS='%s'",
                    tu_srcdir(), tu_srcdir(), work, work, pcdir, root,
                    tu_cc(), tu_cflags(), tu_ldflags());
    cr_assert_eq(rc, 0, "out-of-tree build failed:\n%s", out);
    cr_assert_null(strstr(out, "warning"), "the example driver builds with warnings:\n%s", out);
    free(out);
    /* Only the getter leaves the driver. */
    rc = tu_run(&out, "nm -D --defined-only %s/shout.so | awk '{print $3}'", work);
    cr_assert_str_eq(out, "shout_LTX_herald_plugin_get\n");
    free(out);

    char *conf = tu_printf("[channel loud]\ndriver = shout\nfile = %s/shout.log\n", work);
    char *confpath = tu_write_file(work, "herald.conf", conf);
    rc = tu_run(&out, "LD_LIBRARY_PATH=%s HERALD_PLUGIN_PATH=%s:%s %s/herald drivers",
                libdir, work, plugindir, bindir);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strstr(out, "shout"), "installed CLI does not list shout:\n%s", out);
    cr_assert(strstr(out, "maildir"), "installed CLI does not list maildir:\n%s", out);
    free(out);
    rc = tu_run(&out, "LD_LIBRARY_PATH=%s HERALD_PLUGIN_PATH=%s %s/herald --config %s send "
                      "--channel loud --to ops@example.com --subject 'disk full' --text x",
                libdir, work, bindir, confpath);
    cr_assert_eq(rc, 0, "send through shout failed:\n%s", out);
    free(out);
    char *logpath = tu_printf("%s/shout.log", work);
    char *log = tu_read_file(logpath, NULL);
    cr_assert(log);
    cr_assert_str_eq(log, "DISK FULL -> ops@example.com\n");
    free(log);
    free(logpath);
    free(conf);
    free(confpath);
}

Test(install, example_app_builds_against_installed_library)
{
    char *out = NULL;
    /* The build's own compiler and flags: under `make check-asan` the
     * installed library carries ASan, so the app must too. */
    int rc = tu_run(&out, "cd %s && %s -std=c11 -Wall -Wextra -Werror %s %s/examples/app.c "
                          "$(PKG_CONFIG_PATH=%s PKG_CONFIG_SYSROOT_DIR=%s pkg-config --cflags --libs herald) "
                          "%s -o app",
                    work, tu_cc(), tu_cflags(), tu_srcdir(), pcdir, root, tu_ldflags());
    cr_assert_eq(rc, 0, "example app failed to build:\n%s", out);
    free(out);
    char *conf = tu_printf("[channel local]\ndriver = maildir\npath = %s/Maildir\n"
                           "from = demo@example.com\n", work);
    char *confpath = tu_write_file(work, "app.conf", conf);
    rc = tu_run(&out, "LD_LIBRARY_PATH=%s HERALD_PLUGIN_PATH=%s %s/app %s local you@example.com",
                libdir, plugindir, work, confpath);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert(strncmp(out, "sent: ", 6) == 0, "%s", out);
    free(out);
    free(conf);
    free(confpath);
}
