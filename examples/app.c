/*
 * app.c - the smallest herald application: open the config, send one
 * message to a channel, say what happened.
 *
 *   cc app.c $(pkg-config --cflags --libs herald) -o app
 *   ./app herald.conf local you@example.com
 */
#include <stdio.h>
#include <herald/herald.h>

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s CONFIG CHANNEL RECIPIENT\n", argv[0]);
        return 64;
    }
    herald_ctx *ctx = NULL;
    herald_error *err = NULL;
    if (herald_open(argv[1], 0, &ctx, &err) != HERALD_OK) {
        fprintf(stderr, "%s\n", herald_error_message(err));
        int code = herald_sysexit(herald_error_class(err));
        herald_error_free(err);
        return code;
    }
    herald_msg *msg = herald_msg_new();
    herald_msg_add_to(msg, argv[3]);
    herald_msg_set_subject(msg, "hello from herald");
    herald_msg_set_text(msg, "It works.\n");

    herald_result *res = NULL;
    herald_class rc = herald_send(ctx, argv[2], msg, &res, &err);
    if (rc == HERALD_OK)
        printf("sent: %s\n", herald_result_message_id(res));
    else
        fprintf(stderr, "%s\n", herald_error_message(err));
    herald_result_free(res);
    herald_error_free(err);
    herald_msg_free(msg);
    herald_close(ctx);
    return herald_sysexit(rc);
}
