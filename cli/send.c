/*
 * cli/send.c - herald send: build a message from the options (bodies and
 * attachments read from bounded regular files or standard input), then
 * send it, or render it with --dry-run, and print the result.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cli.h"
#include "base/base.h"

const char send_help[] =
    "Usage: herald send --channel NAME --to ADDR [OPTIONS]\n"
    "\n"
    "Send one message through channel NAME of the config file and print the\n"
    "provider's message id.  Retries, the channel's fallback chain, its\n"
    "circuit breaker and rate limit apply (see herald.conf(5)); a message\n"
    "the spool took prints 'queued ID' and exits 0.  On failure every\n"
    "attempt is listed on stderr.\n"
    "\n"
    "Message:\n"
    "  --channel NAME        channel from the config file (required)\n"
    "  --to ADDR             recipient; repeat for more (at least one of\n"
    "                        --to, --cc, --bcc is required)\n"
    "  --cc ADDR             carbon-copy recipient; repeat for more\n"
    "  --bcc ADDR            blind-copy recipient; repeat for more\n"
    "  --from ADDR           sender (default: the channel's 'from')\n"
    "  --reply-to ADDR       Reply-To address\n"
    "  --subject TEXT        subject\n"
    "  --text TEXT           plain-text body\n"
    "  --text-file FILE      plain-text body read from FILE ('-': stdin)\n"
    "  --html HTML           HTML body\n"
    "  --html-file FILE      HTML body read from FILE ('-': stdin)\n"
    "                        (at least one body is required)\n"
    "                        FILEs must be regular files; at most 25 MiB\n"
    "                        is read from each (and from stdin)\n"
    "  --attach FILE[;name=NAME][;type=TYPE]\n"
    "                        attach FILE ('-': stdin), optionally under\n"
    "                        another name and content type; repeatable\n"
    "  --header 'NAME: VALUE' extra header; repeatable\n"
    "  --tag TAG             provider-side tag; repeatable\n"
    "  --metadata KEY=VALUE  provider-side metadata; repeatable\n"
    "  --idempotency-key KEY lets the provider drop a duplicate submission\n"
    "\n"
    "Output:\n"
    "  --dry-run             print the exact payload the driver would send\n"
    "                        (secrets shown as ***) and send nothing\n"
    "  --json                print the outcome as one JSON object: \"status\"\n"
    "                        (\"sent\", \"queued\" or \"failed\"), \"channel\"\n"
    "                        (the one that delivered), \"attempts\", \"tried\"\n"
    "                        (every attempt: channel, class, code, message,\n"
    "                        delay_ms), then the message id and recipients,\n"
    "                        the queue id, or the \"error\"\n"
    "\n"
    "Addresses are 'user@example.com' or 'Name <user@example.com>'.\n"
    "Global options (-c FILE, -v, -q) are accepted here too.\n"
    "\n"
    "Example:\n"
    "  herald send --channel alerts --to ops@example.com \\\n"
    "      --subject 'disk full' --text-file - < report.txt\n";


enum {
    OPT_CHANNEL = OPT_COMMAND, OPT_TO, OPT_CC, OPT_BCC, OPT_FROM,
    OPT_REPLY_TO, OPT_SUBJECT, OPT_TEXT, OPT_TEXT_FILE, OPT_HTML,
    OPT_HTML_FILE, OPT_ATTACH, OPT_HEADER, OPT_TAG, OPT_METADATA,
    OPT_IDEMPOTENCY, OPT_DRY_RUN
};

/* Repeatable options, in the order they were given. */
enum { L_TO, L_CC, L_BCC, L_ATTACH, L_HEADER, L_TAG, L_META, L_COUNT };

struct send_args {
    const char *channel, *from, *reply_to, *subject, *idempotency_key;
    const char *text, *text_file, *html, *html_file;
    const char **list[L_COUNT];
    size_t n[L_COUNT];
    int dry_run;
    const char *stdin_user;   /* option that reads standard input */
    /* First setter that refused its value. */
    herald_class bad_cls;
    const char *bad_opt, *bad_arg;
};

static void send_args_free(struct send_args *a)
{
    for (int i = 0; i < L_COUNT; i++)
        free(a->list[i]);
}

/* Parse `send` options into @a.  Returns CONTINUE or an exit status. */
static int parse_send(struct cli *cli, int argc, char **argv,
                      struct send_args *a)
{
    static const struct option longopts[] = {
        GLOBAL_LONGOPTS,
        {"channel", required_argument, NULL, OPT_CHANNEL},
        {"to", required_argument, NULL, OPT_TO},
        {"cc", required_argument, NULL, OPT_CC},
        {"bcc", required_argument, NULL, OPT_BCC},
        {"from", required_argument, NULL, OPT_FROM},
        {"reply-to", required_argument, NULL, OPT_REPLY_TO},
        {"subject", required_argument, NULL, OPT_SUBJECT},
        {"text", required_argument, NULL, OPT_TEXT},
        {"text-file", required_argument, NULL, OPT_TEXT_FILE},
        {"html", required_argument, NULL, OPT_HTML},
        {"html-file", required_argument, NULL, OPT_HTML_FILE},
        {"attach", required_argument, NULL, OPT_ATTACH},
        {"header", required_argument, NULL, OPT_HEADER},
        {"tag", required_argument, NULL, OPT_TAG},
        {"metadata", required_argument, NULL, OPT_METADATA},
        {"idempotency-key", required_argument, NULL, OPT_IDEMPOTENCY},
        {"dry-run", no_argument, NULL, OPT_DRY_RUN},
        {"json", no_argument, NULL, OPT_JSON},
        {NULL, 0, NULL, 0}
    };
    for (int i = 0; i < L_COUNT; i++)
        a->list[i] = xcalloc((size_t)argc, sizeof *a->list[i]);

    getopt_reset();
    int c;
    while ((c = getopt_long(argc, argv, ":" GLOBAL_SHORTOPTS, longopts,
                            NULL)) != -1) {
        int rc = global_option(cli, c, argv, send_help);
        if (rc != -2) {
            if (rc != CONTINUE)
                return rc;
            continue;
        }
        switch (c) {
        case OPT_CHANNEL: a->channel = optarg; break;
        case OPT_FROM: a->from = optarg; break;
        case OPT_REPLY_TO: a->reply_to = optarg; break;
        case OPT_SUBJECT: a->subject = optarg; break;
        case OPT_TEXT: a->text = optarg; break;
        case OPT_TEXT_FILE: a->text_file = optarg; break;
        case OPT_HTML: a->html = optarg; break;
        case OPT_HTML_FILE: a->html_file = optarg; break;
        case OPT_IDEMPOTENCY: a->idempotency_key = optarg; break;
        case OPT_DRY_RUN: a->dry_run = 1; break;
        case OPT_JSON: cli->json = 1; break;
        case OPT_TO: a->list[L_TO][a->n[L_TO]++] = optarg; break;
        case OPT_CC: a->list[L_CC][a->n[L_CC]++] = optarg; break;
        case OPT_BCC: a->list[L_BCC][a->n[L_BCC]++] = optarg; break;
        case OPT_ATTACH: a->list[L_ATTACH][a->n[L_ATTACH]++] = optarg; break;
        case OPT_HEADER: a->list[L_HEADER][a->n[L_HEADER]++] = optarg; break;
        case OPT_TAG: a->list[L_TAG][a->n[L_TAG]++] = optarg; break;
        case OPT_METADATA: a->list[L_META][a->n[L_META]++] = optarg; break;
        default:
            return fail(cli, HERALD_ERR_USAGE, NULL, "unexpected option");
        }
    }
    if (optind < argc)
        return fail(cli, HERALD_ERR_USAGE, "quote the subject or text, e.g. "
                    "--subject 'two words'", "unexpected argument '%s'",
                    argv[optind]);
    if (!a->channel)
        return fail(cli, HERALD_ERR_USAGE, "name a channel of the config "
                    "file: --channel NAME", "missing --channel NAME");
    if (!a->n[L_TO] && !a->n[L_CC] && !a->n[L_BCC])
        return fail(cli, HERALD_ERR_USAGE, "give at least one --to ADDR",
                    "missing recipient");
    if (a->text && a->text_file)
        return fail(cli, HERALD_ERR_USAGE, "use one of them",
                    "--text and --text-file both given");
    if (a->html && a->html_file)
        return fail(cli, HERALD_ERR_USAGE, "use one of them",
                    "--html and --html-file both given");
    if (!a->text && !a->text_file && !a->html && !a->html_file)
        return fail(cli, HERALD_ERR_USAGE, "give --text, --text-file, --html "
                    "or --html-file", "missing body");
    return CONTINUE;
}

/* Remember the first setter that refused its value. */
static void note_setter(struct send_args *a, herald_class cls,
                        const char *opt, const char *arg)
{
    if (cls != HERALD_OK && a->bad_cls == HERALD_OK) {
        a->bad_cls = cls;
        a->bad_opt = opt;
        a->bad_arg = arg;
    }
}

/* Claim standard input for option @opt; only one option may read it. */
static int claim_stdin(struct cli *cli, struct send_args *a, const char *opt)
{
    if (a->stdin_user)
        return fail(cli, HERALD_ERR_USAGE, "let only one of them read it; "
                    "give the other a file", "both %s and %s read standard "
                    "input ('-')", a->stdin_user, opt);
    a->stdin_user = opt;
    return CONTINUE;
}

/* The most `herald send` reads from one file (a body or an attachment):
 * the default max_message_size.  herald_send() then holds the whole message
 * to the config's own max_message_size. */
#define SEND_FILE_LIMIT (25u * 1024u * 1024u)

/* Read the file @path that option @opt names ("-": standard input) with
 * hb_read_file(): a regular file only, at most SEND_FILE_LIMIT bytes.
 * Returns CONTINUE with *data_r (malloc'd) and *len_r, or an exit status
 * after reporting what the path is or which limit it exceeds. */
static int read_send_file(struct cli *cli, struct send_args *a,
                          const char *opt, const char *path, char **data_r,
                          size_t *len_r)
{
    if (strcmp(path, "-") == 0 && claim_stdin(cli, a, opt) != CONTINUE)
        return EX_USAGE;
    char *why = NULL;
    if (hb_read_file(path, SEND_FILE_LIMIT, "the default max_message_size",
                     1, data_r, len_r, &why) == 0)
        return CONTINUE;
    int e = errno;
    int rc = fail(cli, HERALD_ERR_INVALID_MESSAGE,
                  e == EFBIG ? "send a smaller one: herald send reads no "
                  "more from one file" : e == EINVAL ? NULL :
                  "check the path and its permissions", "%s %s", opt,
                  why ? why : strerror(e));
    free(why);
    return rc;
}

/* Read a body from @path into a new string; NUL bytes are refused. */
static int read_body(struct cli *cli, struct send_args *a, const char *opt,
                     const char *path, char **body_r)
{
    size_t len;
    char *body;
    int rc = read_send_file(cli, a, opt, path, &body, &len);
    if (rc != CONTINUE)
        return rc;
    if (memchr(body, '\0', len)) {
        free(body);
        return fail(cli, HERALD_ERR_INVALID_MESSAGE, "a body must be text: "
                    "send binary data with --attach", "%s %s: contains a NUL "
                    "byte", opt, path);
    }
    *body_r = body;
    return CONTINUE;
}

/* Split "FILE[;name=N][;type=T]".  A ';' starts a parameter only when
 * "name=" or "type=" follows it, so other ';' stay in the value. */
static int parse_attach_spec(struct cli *cli, const char *spec, char **path_r,
                             char **name_r, char **type_r)
{
    const char *p = spec, *cut = NULL;
    char **dest = path_r;
    const char *start = spec;
    *path_r = *name_r = *type_r = NULL;
    for (;;) {
        cut = strchr(p, ';');
        while (cut && strncmp(cut + 1, "name=", 5) != 0 &&
               strncmp(cut + 1, "type=", 5) != 0)
            cut = strchr(cut + 1, ';');
        size_t n = cut ? (size_t)(cut - start) : strlen(start);
        if (*dest) {
            free(*path_r); free(*name_r); free(*type_r);
            return fail(cli, HERALD_ERR_USAGE, "give name= and type= at "
                        "most once each", "--attach '%s': a parameter is "
                        "given twice", spec);
        }
        *dest = xstrndup(start, n);
        if (n == 0) {
            free(*path_r); free(*name_r); free(*type_r);
            return fail(cli, HERALD_ERR_USAGE, "use "
                        "FILE[;name=NAME][;type=TYPE]", "--attach '%s': "
                        "empty %s", spec,
                        dest == path_r ? "file name" :
                        dest == name_r ? "name=" : "type=");
        }
        if (!cut)
            return CONTINUE;
        dest = strncmp(cut + 1, "name=", 5) == 0 ? name_r : type_r;
        start = p = cut + 6;
    }
}

static int add_attachment(struct cli *cli, struct send_args *a,
                          herald_msg *m, const char *spec)
{
    char *path, *name, *type;
    int rc = parse_attach_spec(cli, spec, &path, &name, &type);
    if (rc != CONTINUE)
        return rc;
    size_t len;
    char *data = NULL;
    if ((rc = read_send_file(cli, a, "--attach", path, &data, &len)) ==
        CONTINUE) {
        const char *slash = strrchr(path, '/');
        const char *base = strcmp(path, "-") == 0 ? "stdin"
                           : slash ? slash + 1 : path;
        note_setter(a, herald_msg_attach_data(m, data, len,
                                              name ? name : base, type),
                    "--attach", spec);
    }
    free(data);
    free(path);
    free(name);
    free(type);
    return rc;
}

/* "Name: value" -> add_header. */
static int add_header(struct cli *cli, struct send_args *a, herald_msg *m,
                      const char *spec)
{
    const char *colon = strchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : 0;
    while (n > 0 && (spec[n - 1] == ' ' || spec[n - 1] == '\t'))
        n--;
    if (!colon || n == 0)
        return fail(cli, HERALD_ERR_USAGE, "write it as 'Name: value', e.g. "
                    "--header 'X-Ticket: 1234'", "--header '%s': not "
                    "'Name: value'", spec);
    char *name = xstrndup(spec, n);
    const char *value = colon + 1;
    value += strspn(value, " \t");
    note_setter(a, herald_msg_add_header(m, name, value), "--header", spec);
    free(name);
    return CONTINUE;
}

/* "KEY=VALUE" -> set_metadata. */
static int add_metadata(struct cli *cli, struct send_args *a, herald_msg *m,
                        const char *spec)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec)
        return fail(cli, HERALD_ERR_USAGE, "write it as KEY=VALUE, e.g. "
                    "--metadata order=1234", "--metadata '%s': not KEY=VALUE",
                    spec);
    char *key = xstrndup(spec, (size_t)(eq - spec));
    note_setter(a, herald_msg_set_metadata(m, key, eq + 1), "--metadata",
                spec);
    free(key);
    return CONTINUE;
}

/* Build the message from the parsed options. */
static int build_message(struct cli *cli, struct send_args *a, herald_msg *m)
{
    static herald_class (*const add_rcpt[3])(herald_msg *, const char *) = {
        herald_msg_add_to, herald_msg_add_cc, herald_msg_add_bcc
    };
    static const char *const rcpt_opt[3] = {"--to", "--cc", "--bcc"};
    int rc = CONTINUE;

    for (int l = L_TO; l <= L_BCC; l++)
        for (size_t i = 0; i < a->n[l]; i++)
            note_setter(a, add_rcpt[l](m, a->list[l][i]), rcpt_opt[l],
                        a->list[l][i]);
    if (a->from)
        note_setter(a, herald_msg_set_from(m, a->from), "--from", a->from);
    if (a->reply_to)
        note_setter(a, herald_msg_set_reply_to(m, a->reply_to), "--reply-to",
                    a->reply_to);
    if (a->subject)
        note_setter(a, herald_msg_set_subject(m, a->subject), "--subject",
                    a->subject);
    if (a->idempotency_key)
        note_setter(a, herald_msg_set_idempotency_key(m, a->idempotency_key),
                    "--idempotency-key", a->idempotency_key);

    const char *body_opt[2] = {"--text-file", "--html-file"};
    const char *body_file[2] = {a->text_file, a->html_file};
    const char *body_inline[2] = {a->text, a->html};
    herald_class (*const set_body[2])(herald_msg *, const char *) = {
        herald_msg_set_text, herald_msg_set_html
    };
    for (int k = 0; k < 2 && rc == CONTINUE; k++) {
        char *owned = NULL;
        if (body_file[k])
            rc = read_body(cli, a, body_opt[k], body_file[k], &owned);
        const char *body = owned ? owned : body_inline[k];
        if (rc == CONTINUE && body)
            note_setter(a, set_body[k](m, body),
                        body_file[k] ? body_opt[k] : k ? "--html" : "--text",
                        body_file[k] ? body_file[k] : "(body)");
        free(owned);
    }
    for (size_t i = 0; i < a->n[L_ATTACH] && rc == CONTINUE; i++)
        rc = add_attachment(cli, a, m, a->list[L_ATTACH][i]);
    for (size_t i = 0; i < a->n[L_HEADER] && rc == CONTINUE; i++)
        rc = add_header(cli, a, m, a->list[L_HEADER][i]);
    for (size_t i = 0; i < a->n[L_TAG] && rc == CONTINUE; i++)
        note_setter(a, herald_msg_add_tag(m, a->list[L_TAG][i]), "--tag",
                    a->list[L_TAG][i]);
    for (size_t i = 0; i < a->n[L_META] && rc == CONTINUE; i++)
        rc = add_metadata(cli, a, m, a->list[L_META][i]);
    return rc;
}

/* A setter refused a value: report the library's own account of it (which
 * names the field) or, failing that, the option and value. */
static int fail_setter(struct cli *cli, struct send_args *a, herald_msg *m)
{
    herald_error *err = NULL;
    if (herald_msg_validate(m, &err) != HERALD_OK && err)
        return fail_err(cli, a->bad_cls, err);
    herald_error_free(err);
    return fail(cli, a->bad_cls, "fix the value", "%s '%s': %s", a->bad_opt,
                a->bad_arg, herald_strerror(a->bad_cls));
}

/* "tried":[{"channel","class","code","message","delay_ms"}...] */
static void print_tried_json(const herald_result *res)
{
    printf("\"tried\":[");
    size_t n = herald_result_tried_count(res);
    for (size_t i = 0; i < n; i++) {
        printf("%s{", i ? "," : "");
        json_kv(stdout, "channel", herald_result_tried_channel(res, i));
        putchar(',');
        json_kv(stdout, "class",
                herald_class_name(herald_result_tried_class(res, i)));
        putchar(',');
        json_kv(stdout, "code", herald_result_tried_code(res, i));
        putchar(',');
        json_kv(stdout, "message", herald_result_tried_message(res, i));
        printf(",\"delay_ms\":%lld}", herald_result_tried_delay_ms(res, i));
    }
    putchar(']');
}

/* "status":..., "channel", "attempts", "tried" (the members every
 * outcome has), each followed by a comma. */
static void print_outcome_members(const char *status, const herald_result *res)
{
    json_kv(stdout, "status", status);
    putchar(',');
    json_kv(stdout, "channel", herald_result_channel(res));
    printf(",\"attempts\":%u,", herald_result_attempts(res));
    print_tried_json(res);
    putchar(',');
}

static void failed_members(void *res)
{
    print_outcome_members("failed", res);
}

static void print_send_json(const herald_result *res, herald_class cls)
{
    printf("{");
    print_outcome_members(cls == HERALD_QUEUED ? "queued" : "sent", res);
    if (cls == HERALD_QUEUED) {
        json_kv(stdout, "queue_id", herald_result_queue_id(res));
        putchar(',');
    }
    json_kv(stdout, "driver", herald_result_driver(res));
    putchar(',');
    json_kv(stdout, "message_id", herald_result_message_id(res));
    printf(",\"recipients\":[");
    size_t n = herald_result_recipient_count(res);
    for (size_t i = 0; i < n; i++) {
        printf("%s{", i ? "," : "");
        json_kv(stdout, "address", herald_result_recipient(res, i));
        printf(",\"accepted\":%s,",
               herald_result_recipient_accepted(res, i) ? "true" : "false");
        json_kv(stdout, "text", herald_result_recipient_text(res, i));
        putchar('}');
    }
    puts("]}");
}

/* Text mode, on stderr: every attempt of a send that did not deliver at
 * once ("  tried: CHANNEL: CLASS (CODE): MESSAGE"). */
static void print_tried_text(const herald_result *res)
{
    size_t n = herald_result_tried_count(res);
    for (size_t i = 0; i < n; i++) {
        herald_class c = herald_result_tried_class(res, i);
        const char *code = herald_result_tried_code(res, i);
        fputs("  tried: ", stderr);
        put_text(stderr, herald_result_tried_channel(res, i), 0);
        fprintf(stderr, ": %s", herald_class_name(c));
        if (code) {
            fputs(" (", stderr);
            put_text(stderr, code, 0);
            putc(')', stderr);
        }
        long long d = herald_result_tried_delay_ms(res, i);
        if (d > 0)
            fprintf(stderr, " after %lld ms", d);
        if (herald_result_tried_message(res, i)) {
            fputs(": ", stderr);
            put_text(stderr, herald_result_tried_message(res, i), 0);
        }
        putc('\n', stderr);
    }
}

static int dry_run(struct cli *cli, herald_ctx *ctx, const char *channel,
                   herald_msg *m)
{
    char *payload = NULL;
    size_t len = 0;
    herald_error *err = NULL;
    herald_class cls = herald_render(ctx, channel, m, &payload, &len, &err);
    if (cls != HERALD_OK)
        return fail_err(cli, cls, err);
    if (cli->json) {
        printf("{");
        json_kv(stdout, "channel", channel);
        printf(",\"dry_run\":true,\"payload\":");
        json_strn(stdout, payload, len);
        puts("}");
    } else {
        fwrite(payload, 1, len, stdout);
    }
    herald_free(payload);
    return EX_OK;
}

static int do_send(struct cli *cli, herald_ctx *ctx, const char *channel,
                   herald_msg *m)
{
    herald_result *res = NULL;
    herald_error *err = NULL;
    herald_class cls = herald_send(ctx, channel, m, &res, &err);
    if (cls != HERALD_OK && cls != HERALD_QUEUED) {
        int rc = res ? fail_err_extra(cli, cls, err, failed_members, res)
                     : fail_err(cli, cls, err);
        if (res && !cli->quiet && herald_result_tried_count(res) > 1)
            print_tried_text(res);
        herald_result_free(res);
        return rc;
    }
    herald_error_free(err);
    const char *via = res ? herald_result_channel(res) : channel;
    const char *id = res ? herald_result_message_id(res) : NULL;
    if (cls == HERALD_QUEUED) {
        /* Not sent yet, but safe on disk: exit 0, say where it waits. */
        const char *qid = res ? herald_result_queue_id(res) : NULL;
        if (cli->json && res)
            print_send_json(res, cls);
        else {
            fputs("queued ", stdout);
            put_text(stdout, qid ? qid : "(no id)", 0);
            putchar('\n');
        }
        int e = flush_stdout();
        herald_result_free(res);
        if (e)
            fprintf(stderr, "herald: the message was queued, but printing "
                            "its id failed: %s\n", strerror(e));
        return e ? EX_IOERR : EX_OK;
    }
    if (cli->json && res)
        print_send_json(res, cls);
    else if (id) {
        put_text(stdout, id, 0);
        putchar('\n');
    }
    int rc = EX_OK, e = flush_stdout();
    if (e) {
        /* Delivered: say so, with the id, so that no one sends it again
         * (by hand: the id is outside text, its newlines escaped too). */
        fprintf(stderr, "herald: the message was sent through channel '%s' "
                        "(message id ", via);
        put_text(stderr, id ? id : "unknown", 0);
        fprintf(stderr, "), but printing the result failed: %s\n"
                        "  fix: do not send it again\n", strerror(e));
        rc = EX_IOERR;
    } else if (!cli->quiet && !cli->json && strcmp(via, channel) != 0) {
        fprintf(stderr, "herald: sent through channel '%s', the fallback of "
                        "'%s' (%u attempts)\n", via, channel,
                herald_result_attempts(res));
        print_tried_text(res);
    } else if (!id && !cli->quiet && !cli->json)
        fprintf(stderr, "herald: sent through channel '%s' (the driver "
                        "reported no message id)\n", channel);
    else if (cli->verbose && res)
        fprintf(stderr, "herald: sent through channel '%s' (driver %s, %u "
                        "attempt%s)\n", channel, herald_result_driver(res),
                herald_result_attempts(res),
                herald_result_attempts(res) == 1 ? "" : "s");
    herald_result_free(res);
    return rc;
}

int cmd_send(struct cli *cli, int argc, char **argv)
{
    struct send_args a;
    memset(&a, 0, sizeof a);
    herald_msg *m = NULL;
    herald_ctx *ctx = NULL;
    int rc = parse_send(cli, argc, argv, &a);
    if (rc != CONTINUE)
        goto out;
    if (!(m = herald_msg_new()))
        die_oom();
    if ((rc = build_message(cli, &a, m)) != CONTINUE)
        goto out;
    if (a.bad_cls != HERALD_OK) {
        rc = fail_setter(cli, &a, m);
        goto out;
    }
    /* A broken channel elsewhere in the file must not stop this one; a
     * send to a broken channel still fails with its error. */
    if ((rc = open_config(cli, HERALD_OPEN_KEEP_BROKEN, &ctx, NULL)) != EX_OK)
        goto out;
    rc = a.dry_run ? dry_run(cli, ctx, a.channel, m)
                   : do_send(cli, ctx, a.channel, m);
out:
    herald_close(ctx);
    herald_msg_free(m);
    send_args_free(&a);
    return rc;
}
