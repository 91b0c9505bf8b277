/* libherald/config/conf.h - what the INI reader (ini.c) and the typed
 * option resolver (options.c) share.  Private to libherald/config/. */
#ifndef HERALD_CONFIG_CONF_H
#define HERALD_CONFIG_CONF_H

#include "../internal.h"

/* Longest piece of user text echoed back in a message. */
#define ECHO_MAX 64
#define ECHO(s) hconf_echo_len(s), (s), hconf_echo_more(s)

/* "[herald]" or "[channel NAME]" for a section. */
#define LABEL_FMT "[%s%s]"
#define LABEL(sec) ((sec) && (sec)->name ? "channel " : "herald"), \
                   ((sec) && (sec)->name ? (sec)->name : "")

/* Length and "..." suffix for echoing @s, cut at ECHO_MAX (see ECHO). */
int hconf_echo_len(const char *s);
const char *hconf_echo_more(const char *s);
/* A HERALD_ERR_CONFIG error prefixed with "FILE:LINE: ". */
herald_class hconf_error_at(herald_error **err_r, const char *file,
                            unsigned line, const char *fmt, ...)
    HERALD_PRINTF(4, 5);
herald_class hconf_oom(herald_error **err_r);
/* Overwrite before freeing: the text may hold a secret. */
void hconf_wipe_free_n(char *s, size_t n);
void hconf_wipe_free(char *s);
/* Unquote a value (see herald.conf(5)): 0 and *out_r malloc'd, -1 for an
 * unterminated quote, -2 out of memory. */
int hconf_scan_value(const char *s, char **out_r);

#endif
