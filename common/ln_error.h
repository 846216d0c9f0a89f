/*  ln_error: a small error value that every fallible liblantern call can fill.

    An error carries a stable machine code (a string literal such as
    "INVALID_UTF8", which goes on the wire in Reply.error.code), the field it
    concerns (a dotted path such as "attributes.time", empty when none) and a
    message for people.  Callers pass an ln_error_t * (may be NULL when they do
    not care); callees fill it once, at the point of failure.
*/
#ifndef LN_ERROR_H
#define LN_ERROR_H

#include <stddef.h>

#define LN_ERROR_FIELD_MAX   128
#define LN_ERROR_MESSAGE_MAX 512

typedef struct {
    const char *code;                   /* string literal, NULL when no error */
    char field[LN_ERROR_FIELD_MAX];     /* offending field, "" when none */
    char message[LN_ERROR_MESSAGE_MAX]; /* human-readable, one line */
} ln_error_t;

/* Set code, field (may be NULL) and a printf-style message.  NULL-safe in err.
   Truncates silently: messages are for people, bounded by design. */
void ln_error_set (ln_error_t *err, const char *code, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/* Reset to "no error". NULL-safe. */
void ln_error_clear (ln_error_t *err);

#endif
