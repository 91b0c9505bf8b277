/* bench/http/curl_loop.c - the ceiling for bench/http: the same POST sent N
 * times on one libcurl easy handle (one kept-alive connection), with
 * nothing else around it.  The request is what herald's driver of that
 * name sends: method, path, auth and JSON headers, and a JSON body of the
 * same size.  Prints "libcurl DRIVER N SECONDS MSG/S".
 *
 *   curl_loop sendgrid|postmark BASE_URL N
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static const char sendgrid_body[] =
    "{\"personalizations\":[{\"to\":[{\"email\":\"ann@example.com\",\"name\":\"Ann\"}]}],"
    "\"from\":{\"email\":\"bench@example.com\",\"name\":\"Bench\"},"
    "\"subject\":\"bench: disk almost full on db-1\",\"content\":[{\"type\":\"text/plain\","
    "\"value\":\"/var on db-1 is at 91%; the nightly cleanup did not run.\\nThis is a "
    "benchmark message from bench/http.\\n\"}]}";

static const char postmark_body[] =
    "{\"From\":\"Bench <bench@example.com>\",\"To\":\"Ann <ann@example.com>\","
    "\"Subject\":\"bench: disk almost full on db-1\",\"TextBody\":\"/var on db-1 is at "
    "91%; the nightly cleanup did not run.\\nThis is a benchmark message from "
    "bench/http.\\n\"}";

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[1], "sendgrid") && strcmp(argv[1], "postmark"))) {
        fprintf(stderr, "usage: curl_loop sendgrid|postmark BASE_URL N\n");
        return 64;
    }
    int sg = !strcmp(argv[1], "sendgrid");
    long n = atol(argv[3]);
    char url[512];
    snprintf(url, sizeof url, "%s%s", argv[2], sg ? "/v3/mail/send" : "/email");

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    hdrs = curl_slist_append(hdrs, sg ? "Authorization: Bearer SG.test"
                                      : "X-Postmark-Server-Token: pm-test");
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, sg ? sendgrid_body : postmark_body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "curl_loop/1");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);

    int rc = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        long status = 0;
        CURLcode res = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (res != CURLE_OK || status / 100 != 2) {
            fprintf(stderr, "curl_loop: request %ld: %s, HTTP %ld\n", i + 1,
                    curl_easy_strerror(res), status);
            rc = 1;
            break;
        }
    }
    double secs = now() - t0;
    if (rc == 0)
        printf("libcurl %s %ld %.3f %.0f\n", argv[1], n, secs, (double)n / secs);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    return rc;
}
