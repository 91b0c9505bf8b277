/*
 * libherald/loader.c - find, open and check driver shared objects.
 *
 * The only file in herald that calls lt_dl*.  libltdl keeps global state
 * (its handle list and a process-wide error string), so every lt_dl* call
 * happens under one mutex, and lt_dlerror() is read under the same lock as
 * the call that failed.
 *
 * lt_dlinit()/lt_dlexit() are reference-counted here: every open driver,
 * every driver being checked and every running scan holds one reference,
 * and lt_dlexit() runs when the last one goes.  That way a program that
 * closes all its contexts leaves nothing of libltdl allocated, and valgrind
 * sees no leak from us; the next hl_open() simply initializes again.
 *
 * Drivers are loaded by name only: <dir>/<name>.so, absolute, from the
 * search path (config plugin_dir, then HERALD_PLUGIN_PATH, then the
 * compiled-in HERALD_PLUGINDIR), and only when nobody but root and the
 * caller can change the file or a directory on its path (trust.c).  A
 * driver that fails any check is closed before we return, so nothing is
 * ever left half-loaded.
 *
 * Here: the libltdl wrappers, driver names, the search path, the
 * descriptor checks and hl_open/hl_close.  The listing of every driver on
 * the path (hl_scan, `herald drivers`) is in scan.c and opens each file
 * through hl_load_checked/hl_handle_close (loader.h), never lt_dl* itself.
 */
#include "internal.h"
#include "loader.h"

#include <errno.h>
#include <ltdl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef HERALD_PLUGINDIR
#define HERALD_PLUGINDIR "/usr/local/lib/herald"
#endif

#define MAX_OPTIONS 256   /* a longer table is almost surely unterminated */

/* ---- libltdl, always under the lock ---------------------------------- */

static pthread_mutex_t lt_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned lt_users;   /* references to lt_dlinit(); under lt_lock */

herald_class hl_ltdl_hold(herald_error **err_r)
{
    herald_class rc = HERALD_OK;
    pthread_mutex_lock(&lt_lock);
    if (lt_users == 0 && lt_dlinit() != 0) {
        const char *why = lt_dlerror();
        rc = hx_error(err_r, HERALD_ERR_INTERNAL,
                      "cannot initialize libltdl to load drivers: %s",
                      why ? why : "unknown error");
        lt_dlexit(); /* libltdl counts even a failed init */
    } else {
        lt_users++;
    }
    pthread_mutex_unlock(&lt_lock);
    return rc;
}

void hl_ltdl_release(void)
{
    pthread_mutex_lock(&lt_lock);
    if (lt_users > 0 && --lt_users == 0)
        lt_dlexit();
    pthread_mutex_unlock(&lt_lock);
}

/* libltdl tries each of its loaders in turn and keeps the error of the
 * last one, which is the preload loader's "file not found" even when the
 * system dlopen() said something useful ("invalid ELF header", "libfoo.so.1:
 * cannot open shared object file").  Ask the dlopen loader directly for its
 * reason.  Called under lt_lock after a failed open; NULL when unknown. */
static char *lt_system_reason(const char *path, lt_dladvise advise)
{
    const lt_dlvtable *vt = lt_dlloader_find("lt_dlopen");
    if (!vt || !vt->module_open)
        return NULL;
    lt_dlerror();
    lt_module m = vt->module_open(vt->dlloader_data, path, advise);
    if (m) { /* it loads now: nothing to explain */
        if (vt->module_close)
            vt->module_close(vt->dlloader_data, m);
        return NULL;
    }
    const char *why = lt_dlerror();
    size_t n = strlen(path);
    if (why && strncmp(why, path, n) == 0 && strncmp(why + n, ": ", 2) == 0)
        why += n + 2; /* the caller names the path already */
    return why ? hx_strdup(why) : NULL;
}

/* Open @path with local symbol scope.  On failure returns NULL and sets
 * *why_r to a malloc'd reason (the system's, else lt_dlerror()). */
static lt_dlhandle lt_open_path(const char *path, char **why_r)
{
    lt_dlhandle h = NULL;
    lt_dladvise advise;
    pthread_mutex_lock(&lt_lock);
    lt_dlerror(); /* clear a stale error */
    if (lt_dladvise_init(&advise) != 0) {
        *why_r = hx_strdup("out of memory");
    } else {
        if (lt_dladvise_local(&advise) == 0)
            h = lt_dlopenadvise(path, advise);
        if (!h) {
            const char *generic = lt_dlerror();
            char *why = hx_strdup(generic ? generic : "unknown error");
            char *sys = lt_system_reason(path, advise);
            if (sys && why && !strstr(sys, why)) {
                *why_r = hx_printf("%s (libltdl: %s)", sys, why);
                free(why);
            } else {
                *why_r = why;
            }
            free(sys);
        }
        lt_dladvise_destroy(&advise);
    }
    pthread_mutex_unlock(&lt_lock);
    return h;
}

static void *lt_symbol(lt_dlhandle h, const char *sym)
{
    pthread_mutex_lock(&lt_lock);
    void *p = lt_dlsym(h, sym);
    lt_dlerror();
    pthread_mutex_unlock(&lt_lock);
    return p;
}

void hl_handle_close(void *h)
{
    pthread_mutex_lock(&lt_lock);
    lt_dlclose((lt_dlhandle)h);
    pthread_mutex_unlock(&lt_lock);
}

/* ---- names and the search path ------------------------------------- */

static int name_char_ok(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

int hl_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > HL_NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char_ok(name[i]))
            return 0;
    return 1;
}

herald_class hl_name_error(const char *name, herald_error **err_r)
{
    return hx_error(err_r, HERALD_ERR_CONFIG,
                    "invalid driver name '%s': a driver name is 1 to %d "
                    "characters, each a lowercase letter a-z, a digit or "
                    "'_' (it is the file NAME.so in the plugin directory); "
                    "fix the channel's driver = line",
                    name ? name : "(null)", HL_NAME_MAX_LEN);
}

/* Append @dir (absolute) unless it is already on the list, by name or, for
 * existing directories, by identity. */
static void search_add(struct hl_search *s, const char *dir, size_t len,
                       const char *from)
{
    while (len > 1 && dir[len - 1] == '/')
        len--;
    char *d = hx_strndup(dir, len);
    char **nd = d ? realloc(s->dir, (s->n + 1) * sizeof *nd) : NULL;
    if (nd)
        s->dir = nd;
    const char **nf = nd ? realloc(s->from, (s->n + 1) * sizeof *nf) : NULL;
    if (!nf) {
        free(d);
        s->oom = 1;
        return;
    }
    s->from = nf;
    struct stat a, b;
    int have_a = stat(d, &a) == 0;
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->dir[i], d) == 0 ||
            (have_a && stat(s->dir[i], &b) == 0 && a.st_dev == b.st_dev &&
             a.st_ino == b.st_ino)) {
            free(d);
            return;
        }
    }
    s->from[s->n] = from;
    s->dir[s->n++] = d;
}

void hl_search_free(struct hl_search *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->dir[i]);
    free(s->dir);
    free(s->from);
    s->dir = NULL;
    s->from = NULL;
    s->n = 0;
}

static void search_add_config_dir(struct hl_search *s, const char *config_dir)
{
    if (!config_dir || !*config_dir)
        return;
    if (config_dir[0] == '/') {
        search_add(s, config_dir, strlen(config_dir), "plugin_dir");
        return;
    }
    char *cwd = getcwd(NULL, 0);
    char *abs = cwd ? hx_printf("%s/%s", cwd, config_dir) : NULL;
    if (abs)
        search_add(s, abs, strlen(abs), "plugin_dir");
    else
        s->oom = 1;
    free(cwd);
    free(abs);
}

herald_class hl_search_build(const char *config_dir, struct hl_search *s,
                             herald_error **err_r)
{
    memset(s, 0, sizeof *s);
    search_add_config_dir(s, config_dir);
    const char *env = hx_getenv("HERALD_PLUGIN_PATH");
    while (env && *env) {
        const char *colon = strchr(env, ':');
        size_t len = colon ? (size_t)(colon - env) : strlen(env);
        if (len > 0 && env[0] == '/')
            search_add(s, env, len, "HERALD_PLUGIN_PATH");
        env = colon ? colon + 1 : NULL;
    }
    search_add(s, HERALD_PLUGINDIR, strlen(HERALD_PLUGINDIR), "built in");
    if (s->oom) {
        hl_search_free(s);
        return hx_error(err_r, HERALD_ERR_INTERNAL,
                        "out of memory building the driver search path");
    }
    return HERALD_OK;
}

/* "A" (plugin_dir), "B" (HERALD_PLUGIN_PATH) and "C" (built in): each
 * directory quoted (\" and \\ escaped), so a ':' or ", " inside one
 * never reads as a separator. */
static char *search_list(const struct hl_search *s)
{
    struct hbuf b = {0};
    for (size_t i = 0; i < s->n; i++) {
        if (i > 0)
            hbuf_adds(&b, i + 1 == s->n ? " and " : ", ");
        hbuf_addc(&b, '"');
        for (const char *c = s->dir[i]; *c; c++) {
            if (*c == '"' || *c == '\\')
                hbuf_addc(&b, '\\');
            hbuf_addc(&b, *c);
        }
        hbuf_printf(&b, "\" (%s)", s->from[i]);
    }
    return hbuf_steal(&b, NULL);
}

static herald_class check_options(const char *name, const char *path,
                                  const herald_option *opts,
                                  herald_error **err_r)
{
    if (!opts)
        return HERALD_OK;
    for (size_t i = 0; opts[i].name; i++) {
        const herald_option *o = &opts[i];
        if (i >= MAX_OPTIONS)
            return hx_error(err_r, HERALD_ERR_CONFIG,
                            "driver '%s' (%s): its option table has more "
                            "than %d entries: end it with { NULL }",
                            name, path, MAX_OPTIONS);
        if (!hl_name_valid(o->name))
            return hx_error(err_r, HERALD_ERR_CONFIG,
                            "driver '%s' (%s): options[%zu] has the invalid "
                            "name '%s': option names are 1 to %d characters "
                            "of a-z, 0-9 and '_'; fix the driver's option "
                            "table", name, path, i, o->name, HL_NAME_MAX_LEN);
        if ((unsigned)o->type > (unsigned)HERALD_OPT_PATH)
            return hx_error(err_r, HERALD_ERR_CONFIG,
                            "driver '%s' (%s): options[%zu] ('%s') has "
                            "unknown type %d: use one of the HERALD_OPT_* "
                            "types from <herald/plugin.h>",
                            name, path, i, o->name, (int)o->type);
        if (o->type == HERALD_OPT_ENUM && (!o->choices || !*o->choices))
            return hx_error(err_r, HERALD_ERR_CONFIG,
                            "driver '%s' (%s): options[%zu] ('%s') is an "
                            "ENUM without choices: set .choices to a "
                            "'|'-separated list such as \"a|b\"",
                            name, path, i, o->name);
        for (size_t j = 0; j < i; j++)
            if (strcmp(opts[j].name, o->name) == 0)
                return hx_error(err_r, HERALD_ERR_CONFIG,
                                "driver '%s' (%s): options[%zu] repeats the "
                                "option name '%s' of options[%zu]: give each "
                                "option its own name",
                                name, path, i, o->name, j);
    }
    return HERALD_OK;
}

static herald_class missing_field(const char *name, const char *path,
                                  const char *field, herald_error **err_r)
{
    return hx_error(err_r, HERALD_ERR_CONFIG,
                    "driver '%s' (%s): descriptor field '%s' is empty: set "
                    ".%s in HERALD_PLUGIN_DEFINE", name, path, field, field);
}

static herald_class missing_function(const char *name, const char *path,
                                     const char *fn, herald_error **err_r)
{
    return hx_error(err_r, HERALD_ERR_CONFIG,
                    "driver '%s' (%s): descriptor has no %s function: set "
                    ".%s in HERALD_PLUGIN_DEFINE", name, path, fn, fn);
}

/* Every rule of the descriptor, in an order that never reads past what
 * struct_size covers. */
static herald_class check_descriptor(const char *name, const char *path,
                                     const herald_plugin *d,
                                     herald_error **err_r)
{
    if (d->abi_major != HERALD_ABI_MAJOR)
        return hx_error(err_r, HERALD_ERR_CONFIG,
                        "driver '%s' (%s) was built for driver ABI %u.%u but "
                        "this herald supports %d.0..%d.%d: rebuild it against "
                        "this herald", name, path, (unsigned)d->abi_major,
                        (unsigned)d->abi_minor, HERALD_ABI_MAJOR,
                        HERALD_ABI_MAJOR, HERALD_ABI_MINOR);
    if (d->abi_minor > HERALD_ABI_MINOR)
        return hx_error(err_r, HERALD_ERR_CONFIG,
                        "driver '%s' (%s) was built for driver ABI %u.%u but "
                        "this herald supports %d.0..%d.%d: it needs a newer "
                        "herald; upgrade herald or rebuild the driver "
                        "against this one", name, path,
                        (unsigned)d->abi_major, (unsigned)d->abi_minor,
                        HERALD_ABI_MAJOR, HERALD_ABI_MAJOR, HERALD_ABI_MINOR);
    if (d->struct_size < offsetof(herald_plugin, reserved))
        return hx_error(err_r, HERALD_ERR_CONFIG,
                        "driver '%s' (%s): descriptor too small: struct_size "
                        "is %u but ABI %d.%d needs at least %zu bytes; "
                        "define it with HERALD_PLUGIN_DEFINE and rebuild",
                        name, path, (unsigned)d->struct_size,
                        HERALD_ABI_MAJOR, HERALD_ABI_MINOR,
                        offsetof(herald_plugin, reserved));
    if (!d->name || !*d->name)
        return missing_field(name, path, "name", err_r);
    if (!d->version || !*d->version)
        return missing_field(name, path, "version", err_r);
    if (!d->description || !*d->description)
        return missing_field(name, path, "description", err_r);
    if (strcmp(d->name, name) != 0)
        return hx_error(err_r, HERALD_ERR_CONFIG,
                        "driver '%s' (%s): descriptor name '%s' does not "
                        "match the file name %s.so: rename the file or fix "
                        "HERALD_PLUGIN_DEFINE", name, path, d->name, name);
    if (!d->init)
        return missing_function(name, path, "init", err_r);
    if (!d->send)
        return missing_function(name, path, "send", err_r);
    if (!d->teardown)
        return missing_function(name, path, "teardown", err_r);
    return check_options(name, path, d->options, err_r);
}

herald_class hl_load_checked(const char *name, const char *path,
                             const char *real, void **h_r,
                             const herald_plugin **desc_r, unsigned abi_r[2],
                             herald_error **err_r)
{
    char *why = NULL;
    *desc_r = NULL;
    lt_dlhandle h = lt_open_path(real, &why);
    if (!h) {
        hx_fix(err_r, hx_error(err_r, HERALD_ERR_CONFIG,
                               "cannot load driver '%s' from %s: %s", name,
                               path, why ? why : "out of memory"),
               "check its dependencies with: ldd %s", path);
        free(why);
        return HERALD_ERR_CONFIG;
    }
    typedef const herald_plugin *(*getter_fn)(void);
    getter_fn get;
    void *sym = lt_symbol(h, HERALD_PLUGIN_SYMBOL);
    memcpy(&get, &sym, sizeof get); /* object to function pointer */
    herald_class rc;
    if (!get) {
        rc = hx_error(err_r, HERALD_ERR_CONFIG,
                      "%s is not a herald driver: it does not export "
                      "%s_LTX_" HERALD_PLUGIN_SYMBOL " (define it with "
                      "HERALD_PLUGIN_DEFINE(%s, ...))", path, name, name);
    } else if (!(*desc_r = get())) {
        rc = hx_error(err_r, HERALD_ERR_CONFIG,
                      "driver '%s' (%s): %s_LTX_" HERALD_PLUGIN_SYMBOL "() "
                      "returned NULL instead of its descriptor; define it "
                      "with HERALD_PLUGIN_DEFINE(%s, ...)",
                      name, path, name, name);
    } else {
        if (abi_r) {
            abi_r[0] = (*desc_r)->abi_major;
            abi_r[1] = (*desc_r)->abi_minor;
        }
        rc = check_descriptor(name, path, *desc_r, err_r);
    }
    if (rc != HERALD_OK) {
        *desc_r = NULL;
        hl_handle_close(h);
        return rc;
    }
    *h_r = h;
    return HERALD_OK;
}

/* ---- hl_open / hl_close ------------------------------------------------ */

/* "B/x.so" or "B/x.so and C/x.so" shadowed by @path in later dirs. */
static char *shadow_warning(const struct hl_search *s, size_t from,
                            const char *name, const char *path)
{
    struct hbuf b = {0};
    size_t n = 0;
    for (size_t i = from; i < s->n; i++) {
        char *p = hx_printf("%s/%s.so", s->dir[i], name);
        struct stat st;
        if (p && stat(p, &st) == 0) {
            if (n++ > 0)
                hbuf_adds(&b, ", ");
            hbuf_adds(&b, p);
        }
        free(p);
    }
    if (n == 0) {
        hbuf_free(&b);
        return NULL;
    }
    char *list = hbuf_steal(&b, NULL);
    char *w = list ? hx_printf("driver '%s': using %s; %s %s shadowed by it",
                               name, path, list, n > 1 ? "are" : "is")
                   : NULL;
    free(list);
    return w;
}

static herald_class not_found(const struct hl_search *s, const char *name,
                              herald_error **err_r)
{
    char *dirs = search_list(s);
    hx_error(err_r, HERALD_ERR_CONFIG, "driver '%s' not found: no %s.so in %s",
             name, name, dirs ? dirs : "the plugin path");
    hx_fix(err_r, HERALD_ERR_CONFIG, "install the package that provides the "
           "%s driver, or point plugin_dir (in the [herald] section of the "
           "config) or HERALD_PLUGIN_PATH at the directory that holds %s.so",
           name, name);
    free(dirs);
    return HERALD_ERR_CONFIG;
}

/* Find the first <dir>/<name>.so and vet it; *at_r is its index in @s,
 * *real_r the resolved path to open. */
static herald_class find_driver(const struct hl_search *s, const char *name,
                                char **path_r, char **real_r, size_t *at_r,
                                herald_error **err_r)
{
    for (size_t i = 0; i < s->n; i++) {
        char *path = hx_printf("%s/%s.so", s->dir[i], name);
        if (!path)
            return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
        struct stat st;
        if (stat(path, &st) != 0) {
            int e = errno;
            if (e == ENOENT || e == ENOTDIR) {
                free(path);
                continue;
            }
            hx_fix(err_r, hx_error(err_r, HERALD_ERR_CONFIG,
                                   "cannot load driver '%s': cannot stat "
                                   "%s: %s", name, path, strerror(e)),
                   "fix its permissions or remove it");
            free(path);
            return HERALD_ERR_CONFIG;
        }
        herald_class rc = hl_vet_driver(name, path, &st, real_r, err_r);
        if (rc != HERALD_OK) {
            free(path);
            return rc;
        }
        *path_r = path;
        *at_r = i;
        return HERALD_OK;
    }
    return not_found(s, name, err_r);
}

/* Load and check the driver file at @path (resolved: @real) into a new
 * hl_driver. */
static herald_class driver_load(const char *name, const char *path,
                                const char *real, struct hl_driver **drv_r,
                                herald_error **err_r)
{
    herald_class rc = hl_ltdl_hold(err_r);
    if (rc != HERALD_OK)
        return rc;
    void *h = NULL;
    const herald_plugin *desc = NULL;
    rc = hl_load_checked(name, path, real, &h, &desc, NULL, err_r);
    if (rc != HERALD_OK) {
        hl_ltdl_release();
        return rc;
    }
    struct hl_driver *drv = calloc(1, sizeof *drv);
    if (!drv) {
        hl_handle_close(h);
        hl_ltdl_release();
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    }
    drv->handle = h; /* from here on hl_close() undoes everything */
    drv->desc = desc;
    drv->name = hx_strdup(name);
    drv->path = hx_strdup(path);
    if (!drv->name || !drv->path) {
        hl_close(drv);
        return hx_error(err_r, HERALD_ERR_INTERNAL, "out of memory");
    }
    *drv_r = drv;
    return HERALD_OK;
}

herald_class hl_open(const char *config_dir, const char *name,
                     struct hl_driver **drv_r, char **warning_r,
                     herald_error **err_r)
{
    if (warning_r)
        *warning_r = NULL;
    if (!drv_r)
        return hx_error(err_r, HERALD_ERR_USAGE, "hl_open: drv_r is NULL");
    *drv_r = NULL;
    if (!hl_name_valid(name))
        return hl_name_error(name, err_r);

    struct hl_search s;
    herald_class rc = hl_search_build(config_dir, &s, err_r);
    if (rc != HERALD_OK)
        return rc;
    char *path = NULL, *real = NULL;
    size_t at = 0;
    rc = find_driver(&s, name, &path, &real, &at, err_r);
    if (rc == HERALD_OK)
        rc = driver_load(name, path, real, drv_r, err_r);
    if (rc == HERALD_OK && warning_r)
        *warning_r = shadow_warning(&s, at + 1, name, path);
    free(path);
    free(real);
    hl_search_free(&s);
    return rc;
}

void hl_close(struct hl_driver *drv)
{
    if (!drv)
        return;
    if (drv->handle) {
        hl_handle_close(drv->handle);
        hl_ltdl_release();
    }
    free(drv->name);
    free(drv->path);
    free(drv);
}
