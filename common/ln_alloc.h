/*  ln_alloc: allocation that cannot fail.

    Out of memory aborts (STYLE.md: a service has no sane recovery from
    it), so callers never check.  calloc's zero sizes are made 1, so the
    result is never NULL either.
*/
#ifndef LN_ALLOC_H
#define LN_ALLOC_H

#include <stddef.h>

void *ln_xcalloc (size_t n, size_t size);
/* A copy of text ("" when text is NULL), malloc'ed. */
char *ln_xstrdup (const char *text);

#endif
