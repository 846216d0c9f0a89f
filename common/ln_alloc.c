/*  ln_alloc: allocation that cannot fail (ln_alloc.h). */
#include "ln_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void *
ln_xcalloc (size_t n, size_t size)
{
    void *p = calloc (n ? n : 1, size ? size : 1);
    if (!p)
        abort ();
    return p;
}

void *
ln_xrealloc (void *items, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        abort ();
    void *p = realloc (items, n && size ? n * size : 1);
    if (!p)
        abort ();
    return p;
}

void *
ln_xgrow (void *items, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap && items)
        return items;
    size_t c = *cap ? *cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            abort ();
        c *= 2;
    }
    items = ln_xrealloc (items, c, size);
    *cap = c;
    return items;
}

char *
ln_xstrdup (const char *text)
{
    char *p = strdup (text ? text : "");
    if (!p)
        abort ();
    return p;
}
