/*  ln_dynbuf: a growing text buffer with a hard maximum (ln_dynbuf.h). */
#include "ln_dynbuf.h"
#include "ln_alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DYNBUF_DEFAULT_MAX ((size_t)64 * 1024 * 1024)

struct ln_dynbuf_t {
    char *text;
    size_t len;
    size_t cap; /* allocated, including the NUL */
    size_t max;
};

ln_dynbuf_t *
ln_dynbuf_new (size_t max)
{
    ln_dynbuf_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->max = max ? max : DYNBUF_DEFAULT_MAX;
    self->cap = 64;
    self->text = calloc (1, self->cap);
    if (!self->text)
        abort ();
    return self;
}

void
ln_dynbuf_destroy (ln_dynbuf_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free ((*self_p)->text);
    free (*self_p);
    *self_p = NULL;
}

int
ln_dynbuf_addn (ln_dynbuf_t *self, const char *data, size_t len)
{
    if (len > self->max - self->len)
        return -1;
    self->text = ln_xgrow (self->text, &self->cap, self->len + len + 1, 1);
    memcpy (self->text + self->len, data, len);
    self->len += len;
    self->text[self->len] = '\0';
    return 0;
}

int
ln_dynbuf_add (ln_dynbuf_t *self, const char *text)
{
    return ln_dynbuf_addn (self, text, strlen (text));
}

int
ln_dynbuf_addf (ln_dynbuf_t *self, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (small, sizeof small, fmt, ap);
    va_end (ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof small)
        return ln_dynbuf_addn (self, small, (size_t)n);
    char *big = malloc ((size_t)n + 1);
    if (!big)
        abort ();
    va_start (ap, fmt);
    vsnprintf (big, (size_t)n + 1, fmt, ap);
    va_end (ap);
    int rc = ln_dynbuf_addn (self, big, (size_t)n);
    free (big);
    return rc;
}

const char *
ln_dynbuf_text (const ln_dynbuf_t *self)
{
    return self->text;
}

size_t
ln_dynbuf_len (const ln_dynbuf_t *self)
{
    return self->len;
}

void
ln_dynbuf_reset (ln_dynbuf_t *self)
{
    self->len = 0;
    self->text[0] = '\0';
}

char *
ln_dynbuf_take (ln_dynbuf_t *self)
{
    char *text = self->text;
    self->cap = 64;
    self->len = 0;
    self->text = calloc (1, self->cap);
    if (!self->text)
        abort ();
    return text;
}
