/*  ln_level: see ln_level.h. */
#include "ln_level.h"

#include <string.h>

static const char *s_names[LN_LEVEL_COUNT] = {
    "openbaar",      "beperkt_openbaar", "intern", "zaakvertrouwelijk",
    "vertrouwelijk", "confidentieel",    "geheim", "zeer_geheim",
};

int
ln_level_parse (const char *text, ln_level_t *level)
{
    if (!text)
        return -1;
    for (int i = 0; i < LN_LEVEL_COUNT; i++)
        if (strcmp (text, s_names[i]) == 0) {
            if (level)
                *level = (ln_level_t)i;
            return 0;
        }
    return -1;
}

const char *
ln_level_name (ln_level_t level)
{
    if ((int)level < 0 || (int)level >= LN_LEVEL_COUNT)
        return NULL;
    return s_names[level];
}

const char *
ln_level_names (void)
{
    return "openbaar, beperkt_openbaar, intern, zaakvertrouwelijk, vertrouwelijk, "
           "confidentieel, geheim, zeer_geheim";
}
