/*  ln_error: see ln_error.h. */
#include "ln_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
ln_error_set (ln_error_t *err, const char *code, const char *field, const char *fmt, ...)
{
    if (!err)
        return;
    err->code = code;
    snprintf (err->field, sizeof err->field, "%s", field ? field : "");
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (err->message, sizeof err->message, fmt, ap);
    va_end (ap);
}

void
ln_error_clear (ln_error_t *err)
{
    if (!err)
        return;
    err->code = NULL;
    err->field[0] = '\0';
    err->message[0] = '\0';
}
