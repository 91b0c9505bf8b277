/* tests/libherald/spoolutil.c - see spoolutil.h. */
#include "config.h"
#include "spoolutil.h"
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

herald_ctx *su_open(const char *dir, const char *globals, const char *channels)
{
    char *conf = tu_printf("[herald]\nspool_dir = %s/spool\n%s\n%s", dir,
                           globals ? globals : "", channels);
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    if (herald_open_string(conf, "spool.conf", 0, &ctx, &err) != HERALD_OK) {
        fprintf(stderr, "su_open: %s\n", herald_error_message(err));
        herald_error_free(err);
        ctx = NULL;
    }
    free(conf);
    return ctx;
}

herald_msg *su_msg(const char *subject)
{
    herald_msg *m = herald_msg_new();
    herald_msg_set_from(m, "a@example.com");
    herald_msg_add_to(m, "b@example.com");
    herald_msg_set_subject(m, subject);
    herald_msg_set_text(m, "hello\n");
    return m;
}

long su_count_sends(const char *path, const char *prefix, int *counts, int n)
{
    for (int i = 0; i < n; i++)
        counts[i] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[512];
    long total = 0;
    size_t plen = strlen(prefix);
    while (fgets(line, sizeof line, f)) {
        total++;
        char *tab = strchr(line, '\t');
        if (!tab || strncmp(tab + 1, prefix, plen) != 0)
            continue;
        int i = atoi(tab + 1 + plen);
        if (i >= 0 && i < n)
            counts[i]++;
    }
    fclose(f);
    return total;
}

int su_count(const char *dir, const char *area)
{
    char *p = tu_printf("%s/spool/%s", dir, area);
    DIR *d = opendir(p);
    free(p);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

int su_valgrind(void)
{
    return getenv("HERALD_TEST_VALGRIND") != NULL;
}
