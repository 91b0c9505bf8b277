/*
 * bench/mime/mime_bench.c - instructions per body byte of the MIME
 * renderer (the core's hmime_render, what the smtp and maildir drivers
 * send), for an ASCII body and an 8-bit (quoted-printable) one.  Run under
 * callgrind by bench/mime/run.sh, which divides the instructions of the
 * render loop by the bytes rendered; never run by make check.
 *
 *   mime_bench SIZE ROUNDS [ascii|utf8|crlf]
 */
#include "internal.h"

#include <herald/herald.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    size_t size = argc > 1 ? strtoul(argv[1], NULL, 10) : 102400;
    int rounds = argc > 2 ? atoi(argv[2]) : 10;
    const char *kind = argc > 3 ? argv[3] : "ascii";
    char *text = malloc(size + 1);
    if (!text)
        return 1;
    /* 72-character lines, as mail clients write them. */
    static const char line[] = "The quick brown fox jumps over the lazy dog; "
                               "pack my box with five dozen.";
    const char *eol = strcmp(kind, "crlf") == 0 ? "\r\n" : "\n";
    size_t n = 0, ll = strlen(line), el = strlen(eol);
    while (n + ll + el <= size) {
        memcpy(text + n, line, ll);
        n += ll;
        if (strcmp(kind, "utf8") == 0 && n >= 3) {
            memcpy(text + n - 3, "\xc3\xa9.", 3);   /* é */
        }
        memcpy(text + n, eol, el);
        n += el;
    }
    text[n] = '\0';
    herald_msg *m = herald_msg_new();
    herald_msg_set_from(m, "Bench <bench@example.com>");
    herald_msg_add_to(m, "you@example.com");
    herald_msg_set_subject(m, "mime bench");
    herald_msg_set_text(m, text);
    size_t total = 0;
    for (int i = 0; i < rounds; i++) {
        char *out = NULL;
        size_t len = 0;
        herald_error *err = NULL;
        if (hmime_render(m, 0, &out, &len, &err) != HERALD_OK) {
            fprintf(stderr, "render: %s\n", herald_error_message(err));
            return 1;
        }
        total += len;
        free(out);
    }
    printf("rendered %d x %zu body bytes (%zu bytes out)\n", rounds, n, total);
    herald_msg_free(m);
    free(text);
    return 0;
}
