/*  ln_dynbuf: a growing text buffer with a hard maximum (after curl's
    dynbuf): for SQL with many placeholders, tables, messages.

    The buffer always holds a NUL-terminated string.  Appending past the
    maximum fails (returns -1) and leaves the buffer as it was; out of
    memory aborts (docs/architecture.md).
*/
#ifndef LN_DYNBUF_H
#define LN_DYNBUF_H

#include <stddef.h>

typedef struct ln_dynbuf_t ln_dynbuf_t;

/* A buffer that may hold up to max bytes of text (0: 64 MiB). */
ln_dynbuf_t *ln_dynbuf_new (size_t max);
void ln_dynbuf_destroy (ln_dynbuf_t **self_p);

/* Append text / formatted text.  0, or -1 when it would pass the maximum. */
int ln_dynbuf_add (ln_dynbuf_t *self, const char *text);
int ln_dynbuf_addn (ln_dynbuf_t *self, const char *data, size_t len);
int ln_dynbuf_addf (ln_dynbuf_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

const char *ln_dynbuf_text (const ln_dynbuf_t *self);
size_t ln_dynbuf_len (const ln_dynbuf_t *self);
void ln_dynbuf_reset (ln_dynbuf_t *self);

/* Take the text (malloc'ed, the caller frees); the buffer is left empty. */
char *ln_dynbuf_take (ln_dynbuf_t *self);

#endif
