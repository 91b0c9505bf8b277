/* bench/http/json_writer.c - the kit's compact JSON writer (hh_json_compact)
 * against json_dumps(JSON_COMPACT) on a typical ~1 KiB SendGrid body: ns per
 * body for each, and a check that both wrote the same bytes.  Run by hand:
 *   make && cc -O2 -Iinclude -I. -Iplugins/kit/http -Ilibherald \
 *     bench/http/json_writer.c plugins/kit/http/.libs/libherald-http.a \
 *     plugins/kit/net/.libs/libherald-net.a libherald/base/.libs/libherald-base.a \
 *     $(pkg-config --libs jansson libcurl) -o /tmp/json_writer && /tmp/json_writer
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(void)
{
    const char *doc =
        "{\"personalizations\":[{\"to\":[{\"email\":\"ann@example.com\",\"name\":\"Ann "
        "Example\"},{\"email\":\"bob@example.com\"}],\"cc\":[{\"email\":\"ops@example.com\"}]}],"
        "\"from\":{\"email\":\"bot@example.com\",\"name\":\"Build Bot\"},\"subject\":\"Build "
        "#4711 failed on \\\"main\\\"\",\"content\":[{\"type\":\"text/plain\",\"value\":\"The "
        "build failed.\\n\\nStep: test\\nExit: 2\\nLog tail:\\n  FAIL tests/test_x\\n  "
        "FAIL tests/test_y\\n\\nSee https://ci.example.com/builds/4711 for the whole log.\\n"
        "-- \\nherald\\n\"},{\"type\":\"text/html\",\"value\":\"<p>The build <b>failed</b>."
        "</p><pre>FAIL tests/test_x\\nFAIL tests/test_y</pre><p><a href=\\\"https://ci."
        "example.com/builds/4711\\\">whole log</a></p>\"}],\"categories\":[\"ci\",\"build\","
        "\"failure\"],\"custom_args\":{\"build\":\"4711\",\"branch\":\"main\"},\"headers\":"
        "{\"X-Priority\":\"1\"}}";
    json_t *v = json_loads(doc, 0, NULL);
    if (!v)
        return 1;
    const int n = 200000;
    size_t len = 0;
    char *a = hh_json_compact(v, &len), *b = json_dumps(v, JSON_COMPACT);
    if (strcmp(a, b) != 0) {
        fprintf(stderr, "different output\n");
        return 1;
    }
    printf("body: %zu bytes\n", len);
    free(a);
    free(b);
    for (int round = 0; round < 3; round++) {
        double t0 = now_ns();
        for (int i = 0; i < n; i++)
            free(hh_json_compact(v, NULL));
        double t1 = now_ns();
        for (int i = 0; i < n; i++)
            free(json_dumps(v, JSON_COMPACT));
        double t2 = now_ns();
        printf("hh_json_compact %.0f ns, json_dumps %.0f ns per body (%.1fx)\n",
               (t1 - t0) / n, (t2 - t1) / n, (t2 - t1) / (t1 - t0));
    }
    json_decref(v);
    return 0;
}
