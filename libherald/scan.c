/*
 * libherald/scan.c - hl_scan, behind herald_drivers_foreach() and `herald
 * drivers`: every *.so on the driver search path, directory by directory
 * in path order and by name within one, reported with its descriptor or
 * the reason it is refused (an invalid name, shadowed by an earlier
 * directory's file of the same name, a dangling link, failed trust or
 * descriptor checks).
 *
 * No lt_dl* here: each file is opened and checked through loader.c
 * (hl_load_checked, hl_handle_close; see loader.h), and the scan holds one
 * reference to libltdl for its whole run so that libltdl is not set up
 * and torn down again for every file.
 */
#include "internal.h"
#include "loader.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct seen {
    char **stem, **path;   /* the file that won for each stem */
    size_t n;
};

static const char *seen_find(const struct seen *s, const char *stem)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->stem[i], stem) == 0)
            return s->path[i];
    return NULL;
}

static int seen_add(struct seen *s, const char *stem, const char *path)
{
    char **ns = realloc(s->stem, (s->n + 1) * sizeof *ns);
    if (!ns)
        return -1;
    s->stem = ns;
    char **np = realloc(s->path, (s->n + 1) * sizeof *np);
    if (!np)
        return -1;
    s->path = np;
    s->stem[s->n] = hx_strdup(stem);
    s->path[s->n] = hx_strdup(path);
    if (!s->stem[s->n] || !s->path[s->n]) {
        free(s->stem[s->n]);
        free(s->path[s->n]);
        return -1;
    }
    s->n++;
    return 0;
}

static void seen_free(struct seen *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->stem[i]);
        free(s->path[i]);
    }
    free(s->stem);
    free(s->path);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.so entries of @dir, sorted; NULL with *n_r = 0 when the directory
 * cannot be read (missing directories are skipped silently). */
static char **list_so_files(const char *dir, size_t *n_r, int *oom_r)
{
    *n_r = 0;
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    char **v = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len <= 3 || strcmp(e->d_name + len - 3, ".so") != 0)
            continue;
        char **nv = realloc(v, (n + 1) * sizeof *nv);
        char *s = nv ? hx_strdup(e->d_name) : NULL;
        if (nv)
            v = nv;
        if (!s) {
            *oom_r = 1;
            break;
        }
        v[n++] = s;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof *v, cmp_names);
    *n_r = n;
    return v;
}

/* Report one file through @fn; *won_r = 1 when it takes the stem.  The
 * caller holds an lt reference for the whole scan. */
static void scan_file(const char *stem, const char *path,
                      const struct seen *seen, herald_driver_fn fn,
                      void *user_data, int *won_r)
{
    herald_driver_info info = { .name = stem, .path = path };
    herald_error *why = NULL;
    char *refused = NULL, *real = NULL;
    void *h = NULL;
    const char *winner = seen_find(seen, stem);
    struct stat st;
    *won_r = 0;

    if (!hl_name_valid(stem)) {
        hl_name_error(stem, &why);
    } else if (winner) {
        refused = hx_printf("shadowed by %s", winner);
    } else if (stat(path, &st) != 0) {
        hx_fix(&why, hx_error(&why, HERALD_ERR_CONFIG,
                              "cannot load driver '%s': cannot stat %s: %s "
                              "(a dangling symbolic link?)", stem, path,
                              strerror(errno)), "fix or remove it");
    } else {
        *won_r = 1;
        if (hl_vet_driver(stem, path, &st, &real, &why) == HERALD_OK) {
            const herald_plugin *d = NULL;
            unsigned abi[2] = {0, 0};
            if (hl_load_checked(stem, path, real, &h, &d, abi, &why) ==
                HERALD_OK) {
                info.version = d->version;
                info.description = d->description;
                info.caps = d->caps;
                info.options = d->options;
            }
            info.abi_major = abi[0];
            info.abi_minor = abi[1];
        }
    }
    if (why) {
        info.refused = herald_error_message(why);
        info.refused_fix = herald_error_fix(why);
    }
    else if (refused)
        info.refused = refused;
    else if (!h)
        info.refused = "out of memory";
    fn(&info, user_data);
    if (h)
        hl_handle_close(h);
    herald_error_free(why);
    free(refused);
    free(real);
}

/* Every *.so in @dir, in name order; -1 on out of memory. */
static int scan_dir(const char *dir, struct seen *seen, herald_driver_fn fn,
                    void *user_data)
{
    size_t n = 0;
    int oom = 0;
    char **files = list_so_files(dir, &n, &oom);
    for (size_t j = 0; j < n; j++) {
        char *stem = oom ? NULL : hx_strndup(files[j], strlen(files[j]) - 3);
        char *path = oom ? NULL : hx_printf("%s/%s", dir, files[j]);
        int won = 0;
        if (stem && path)
            scan_file(stem, path, seen, fn, user_data, &won);
        else
            oom = 1;
        if (won && seen_add(seen, stem, path) < 0)
            oom = 1;
        free(stem);
        free(path);
        free(files[j]);
    }
    free(files);
    return oom ? -1 : 0;
}

herald_class hl_scan(const char *config_dir, herald_driver_fn fn,
                     void *user_data, herald_error **err_r)
{
    if (!fn)
        return hx_error(err_r, HERALD_ERR_USAGE,
                        "herald_drivers_foreach: fn is NULL");
    struct hl_search s;
    herald_class rc = hl_search_build(config_dir, &s, err_r);
    if (rc != HERALD_OK)
        return rc;
    rc = hl_ltdl_hold(err_r);
    if (rc != HERALD_OK) {
        hl_search_free(&s);
        return rc;
    }
    struct seen seen = {0};
    for (size_t i = 0; i < s.n && rc == HERALD_OK; i++)
        if (scan_dir(s.dir[i], &seen, fn, user_data) < 0)
            rc = hx_error(err_r, HERALD_ERR_INTERNAL,
                          "out of memory while listing drivers");
    hl_ltdl_release();
    seen_free(&seen);
    hl_search_free(&s);
    return rc;
}
