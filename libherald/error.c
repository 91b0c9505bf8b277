/* libherald/error.c - herald_error and herald_result. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Handed out when even the error cannot be allocated. */
static herald_error oom_error = {
    HERALD_ERR_INTERNAL, (char *)"out of memory", NULL, NULL, NULL, NULL, -1, 0
};

herald_class hx_error_full(herald_error **err_r, herald_class cls,
                           const char *code, const char *provider_text,
                           long retry_after, const char *fmt, va_list ap)
{
    if (!err_r || *err_r)
        return cls;
    herald_error *e = calloc(1, sizeof *e);
    if (!e) {
        *err_r = &oom_error;
        return cls;
    }
    e->cls = cls;
    e->message = hx_vprintf(fmt, ap);
    e->code = hx_strdup(code);
    e->provider_text = hx_strdup(provider_text);
    e->retry_after = retry_after;
    if (!e->message) {
        herald_error_free(e);
        e = &oom_error;
    }
    *err_r = e;
    return cls;
}

herald_class hx_error(herald_error **err_r, herald_class cls,
                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hx_error_full(err_r, cls, NULL, NULL, -1, fmt, ap);
    va_end(ap);
    return cls;
}

void hx_error_set_channel(herald_error *err, const char *channel)
{
    if (!err || err == &oom_error || err->channel || !channel)
        return;
    char *m = hx_printf("channel '%s': %s", channel, err->message);
    char *c = hx_strdup(channel);
    if (!m || !c) {
        free(m);
        free(c);
        return;
    }
    free(err->message);
    err->message = m;
    err->channel = c;
}

void hx_error_tag_channel(herald_error *err, const char *channel)
{
    if (!err || err == &oom_error || err->channel || !channel)
        return;
    err->channel = hx_strdup(channel);
}

void hx_error_vset_fix(herald_error *err, const char *fmt, va_list ap)
{
    if (!err || err == &oom_error || !fmt)
        return;
    char *f = hx_vprintf(fmt, ap);
    if (!f)
        return;
    free(err->fix);
    err->fix = f;
}

void hx_error_set_fix(herald_error *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hx_error_vset_fix(err, fmt, ap);
    va_end(ap);
}

herald_class hx_fix(herald_error **err_r, herald_class cls, const char *fmt, ...)
{
    if (err_r && *err_r) {
        va_list ap;
        va_start(ap, fmt);
        hx_error_vset_fix(*err_r, fmt, ap);
        va_end(ap);
    }
    return cls;
}

void hx_error_set_idempotent(herald_error *err)
{
    if (err && err != &oom_error)
        err->idempotent = 1;
}

herald_error *hx_error_copy(const herald_error *err)
{
    if (!err || err == &oom_error)
        return (herald_error *)err;
    herald_error *e = calloc(1, sizeof *e);
    if (!e)
        return &oom_error;
    e->cls = err->cls;
    e->message = hx_strdup(err->message);
    e->code = hx_strdup(err->code);
    e->provider_text = hx_strdup(err->provider_text);
    e->fix = hx_strdup(err->fix);
    e->channel = hx_strdup(err->channel);
    e->retry_after = err->retry_after;
    e->idempotent = err->idempotent;
    if (!e->message) {
        herald_error_free(e);
        return &oom_error;
    }
    return e;
}

herald_class herald_error_class(const herald_error *err)
{
    return err ? err->cls : HERALD_ERR_INTERNAL;
}

int herald_error_retryable(const herald_error *err)
{
    if (!err)
        return 0;
    if (err->cls == HERALD_ERR_DELIVERY_UNKNOWN)
        return err->idempotent;
    return herald_class_retryable(err->cls);
}

const char *herald_error_message(const herald_error *err)
{
    return err && err->message ? err->message : "";
}

const char *herald_error_fix(const herald_error *err)
{
    return err ? err->fix : NULL;
}

const char *herald_error_code(const herald_error *err)
{
    return err ? err->code : NULL;
}

const char *herald_error_provider_text(const herald_error *err)
{
    return err ? err->provider_text : NULL;
}

long herald_error_retry_after(const herald_error *err)
{
    return err ? err->retry_after : -1;
}

const char *herald_error_channel(const herald_error *err)
{
    return err ? err->channel : NULL;
}

void herald_error_free(herald_error *err)
{
    if (!err || err == &oom_error)
        return;
    free(err->message);
    free(err->code);
    free(err->provider_text);
    free(err->fix);
    free(err->channel);
    free(err);
}

static const struct {
    const char *name;
    const char *text;
    int retryable;
    int sysexit;
} class_info[] = {
#define HERALD_CLASS(cls, name, text, retryable, sysexit) \
    [cls] = {name, text, retryable, sysexit},
#include "classes.def"
#undef HERALD_CLASS
};

static int class_known(herald_class cls)
{
    return (unsigned)cls < sizeof class_info / sizeof class_info[0];
}

const char *herald_strerror(herald_class cls)
{
    return class_known(cls) ? class_info[cls].text : "unknown error";
}

const char *herald_class_name(herald_class cls)
{
    return class_known(cls) ? class_info[cls].name : "unknown";
}

int herald_class_retryable(herald_class cls)
{
    return class_known(cls) ? class_info[cls].retryable : 0;
}

int herald_sysexit(herald_class cls)
{
    return class_known(cls) ? class_info[cls].sysexit : 70;
}
