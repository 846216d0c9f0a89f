/*  ln_alloc: allocation that cannot fail.

    Out of memory aborts (docs/architecture.md: a service has no sane recovery from
    it), so callers never check.  calloc's zero sizes are made 1, so the
    result is never NULL either.
*/
#ifndef LN_ALLOC_H
#define LN_ALLOC_H

#include <stddef.h>

void *ln_xcalloc (size_t n, size_t size);
/* A copy of text ("" when text is NULL), malloc'ed. */
char *ln_xstrdup (const char *text);
/* realloc of `items` (may be NULL) to n elements of `size` bytes each; the
   product is checked for overflow. */
void *ln_xrealloc (void *items, size_t n, size_t size);
/* Room for at least `need` elements of `size` bytes in `items` (may be
   NULL), whose capacity is *cap elements: the capacity doubles (from 16)
   until it holds `need` and *cap is updated; nothing changes when it
   already does.  Returns the array, which may have moved. */
void *ln_xgrow (void *items, size_t *cap, size_t need, size_t size);

#endif
