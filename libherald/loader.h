/*
 * libherald/loader.h - what loader.c (libltdl, names, search path,
 * descriptor checks, hl_open) lends scan.c (hl_scan, the listing of every
 * driver on the path).  Private to the core; the rest of libherald uses
 * hl_open/hl_close/hl_scan from internal.h.
 *
 * loader.c stays the only file that calls lt_dl*: a handle here is a
 * `void *` (an lt_dlhandle inside loader.c) that only loader.c opens and
 * closes.
 */
#ifndef HERALD_CORE_LOADER_H
#define HERALD_CORE_LOADER_H

#include "internal.h"

/* Longest driver (and option) name. */
#define HL_NAME_MAX_LEN 64

/* 1 when @name is 1 to HL_NAME_MAX_LEN characters of a-z, 0-9 and '_'. */
int hl_name_valid(const char *name);
/* The config error for an invalid driver name @name (may be NULL). */
herald_class hl_name_error(const char *name, herald_error **err_r);

/* The driver search path: absolute directories, first one wins. */
struct hl_search {
    char **dir;
    const char **from;   /* where each entry came from, for messages */
    size_t n;
    int oom;
};

/* @config_dir (one directory, never split: it may contain ':'), then
 * HERALD_PLUGIN_PATH (a ':'-separated list, absolute entries only), then
 * the compiled-in plugin directory; duplicates (by name or identity) once.
 * HERALD_ERR_INTERNAL on out of memory; hl_search_free() it on success. */
herald_class hl_search_build(const char *config_dir, struct hl_search *s,
                             herald_error **err_r);
void hl_search_free(struct hl_search *s);

/* Take one reference to libltdl (initialized on first use); every
 * hl_ltdl_hold() that succeeded is paired with one hl_ltdl_release(), the
 * last of which shuts libltdl down.  Thread-safe. */
herald_class hl_ltdl_hold(herald_error **err_r);
void hl_ltdl_release(void);

/* Open @real (the vetted, resolved form of @path, which messages name) and
 * check its descriptor; the caller holds an hl_ltdl_hold() reference.  On
 * success *h_r is the open handle (hl_handle_close() it) and *desc_r its
 * descriptor, valid until then.  On failure the handle is closed again
 * and *desc_r is NULL; @abi_r (may be NULL) receives the descriptor's ABI
 * numbers whenever there was a descriptor to read them from.  Errors are
 * HERALD_ERR_CONFIG naming the path, the problem and the fix. */
herald_class hl_load_checked(const char *name, const char *path,
                             const char *real, void **h_r,
                             const herald_plugin **desc_r, unsigned abi_r[2],
                             herald_error **err_r);
/* Close a handle from hl_load_checked (not the reference to libltdl). */
void hl_handle_close(void *h);

#endif
