/*
 * plugins/http/response.c - is a 2xx answer the provider's success answer?
 * (see hh_shape in http.h), and the escaped excerpt of a body that is not.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "http.h"

void hh_escape_bytes(const char *p, size_t n, size_t max, char *out, size_t size)
{
    size_t o = 0;
    int cut = n > max;
    if (cut)
        n = max;
    for (size_t i = 0; i < n && o + 5 < size; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '"' || ch == '\\') {
            out[o++] = '\\';
            out[o++] = (char)ch;
        } else if (ch == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (ch >= 0x20 && ch < 0x7f) {
            out[o++] = (char)ch;
        } else {
            o += (size_t)snprintf(out + o, size - o, "\\x%02X", ch);
        }
    }
    if (cut && o + 4 < size)
        memcpy(out + o, "...", 3), o += 3;
    out[o] = '\0';
}

/* The ids of array member @key joined by ",", or a reason why not. */
static const char *joined_ids(const hh_response *resp, const char *key, char *id,
                              size_t size)
{
    json_t *arr = json_object_get(hh_response_json(resp), key);
    size_t i, used = 0;
    json_t *v;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return "no message ids";
    json_array_foreach(arr, i, v) {
        const char *s = json_string_value(v);
        if (!s || !*s)
            return "a message id that is not a string";
        if (used + strlen(s) + 2 > size)
            continue;   /* too many to keep: the first ones */
        used += (size_t)snprintf(id + used, size - used, "%s%s", used ? "," : "", s);
    }
    return NULL;
}

const char *hh_shape_problem(const hh_shape *shape, const hh_response *resp,
                             char *id, size_t size)
{
    id[0] = '\0';
    int blank = strspn(resp->body, " \t\r\n") == resp->len;
    if (shape->empty_body && !blank)
        return "a body where none belongs";
    if (!shape->empty_body) {
        json_t *json = resp->len ? hh_response_json(resp) : NULL;
        if (blank)
            return "an empty body";
        if (!json_is_object(json))
            return "a body that is not a JSON object";
        if (shape->true_member && !json_is_true(json_object_get(json, shape->true_member)))
            return "no \"success\": true";
        json_t *zero = shape->zero_member ? json_object_get(json, shape->zero_member)
                                          : NULL;
        if (shape->zero_member && !(json_is_integer(zero) && json_integer_value(zero) == 0))
            return "no error code 0";
    }
    if (shape->id_member) {
        const char *s = hh_json_string(hh_response_json(resp), shape->id_member);
        if (!s || !*s)
            return "no message id";
        snprintf(id, size, "%s", s);
    }
    if (shape->ids_member)
        return joined_ids(resp, shape->ids_member, id, size);
    if (shape->id_header && !hh_response_header(resp, shape->id_header, id, size) &&
        !shape->id_optional)
        return "no message id header";
    return NULL;
}
