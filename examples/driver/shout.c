/*
 * shout - an example herald driver, built out of tree with nothing but
 * `pkg-config herald`.  It appends one line per message to a file:
 * the subject in capitals, then the recipients.
 *
 *   make && make install        (installs into `pkg-config --variable=plugindir herald`)
 *
 *   [channel loud]
 *   driver = shout
 *   file   = /tmp/shout.log
 */
#define _POSIX_C_SOURCE 200809L /* strdup */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <herald/plugin.h>

struct shout {
    const herald_host *host;
    herald_channel *ch;
    char *file;
};

static const herald_option shout_options[] = {
    {"file", HERALD_OPT_PATH, HERALD_OPT_REQUIRED, NULL, NULL,
     "file that receives one line per message", 0, 0},
    {NULL, 0, 0, NULL, NULL, NULL, 0, 0}
};

static herald_class shout_init(const herald_host *host, herald_channel *ch,
                               void **state_r, herald_error **err_r)
{
    struct shout *s = calloc(1, sizeof *s);
    if (!s || !(s->file = strdup(host->opt_str(ch, "file")))) {
        free(s);
        return host->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1, "out of memory");
    }
    s->host = host;
    s->ch = ch;
    *state_r = s;
    return HERALD_OK;
}

static herald_class shout_send(void *state, const herald_msg *msg,
                               herald_result *res, herald_error **err_r)
{
    struct shout *s = state;
    const herald_host *h = s->host;
    FILE *f = fopen(s->file, "a");
    if (!f)
        return h->error(err_r, HERALD_ERR_CONFIG, NULL, NULL, -1,
                        "cannot open %s: %s; check the `file` option",
                        s->file, strerror(errno));
    const char *subject = h->msg_get(msg, HERALD_FIELD_SUBJECT);
    for (const char *p = subject ? subject : ""; *p; p++)
        fputc(toupper((unsigned char)*p), f);
    fputs(" ->", f);
    for (size_t i = 0; i < h->msg_count(msg, HERALD_LIST_TO); i++) {
        const char *addr = h->msg_address(msg, HERALD_LIST_TO, i, NULL);
        fprintf(f, " %s", addr);
        h->result_add_recipient(res, addr, 1, NULL);
    }
    fputc('\n', f);
    if (fclose(f) != 0)
        return h->error(err_r, HERALD_ERR_INTERNAL, NULL, NULL, -1,
                        "cannot write %s: %s", s->file, strerror(errno));
    h->result_set_id(res, "shouted");
    return HERALD_OK;
}

static void shout_teardown(void *state)
{
    struct shout *s = state;
    free(s->file);
    free(s);
}

HERALD_PLUGIN_DEFINE(shout,
    .version = "1.0",
    .description = "example: appends the subject in capitals to a file",
    .caps = HERALD_CAP_CHAT | HERALD_CAP_TEXT,
    .options = shout_options,
    .init = shout_init,
    .send = shout_send,
    .teardown = shout_teardown)
