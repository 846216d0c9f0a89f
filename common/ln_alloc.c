/*  ln_alloc: allocation that cannot fail (ln_alloc.h). */
#include "ln_alloc.h"

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

char *
ln_xstrdup (const char *text)
{
    char *p = strdup (text ? text : "");
    if (!p)
        abort ();
    return p;
}
