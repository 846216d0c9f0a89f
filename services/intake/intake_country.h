/*  intake_country: ISO 3166-1 country codes, for validation and tokens.

    A country may be written as its alpha-2 or its alpha-3 code (DE or
    DEU), in upper case: the 249 codes of iso-codes 4.15
    (/usr/share/iso-codes/json/iso_3166-1.json) plus XK/XKX, Kosovo's
    user-assigned codes in use in passports and on plates.  Tokens hold the
    alpha-2 code, so that both spellings give the same token.
*/
#ifndef INTAKE_COUNTRY_H
#define INTAKE_COUNTRY_H

#include <stdbool.h>

/* Is `code` (exactly 2 or 3 upper-case letters) a country?  When it is and
   alpha2 is not NULL, the alpha-2 code is written there. */
bool intake_country_find (const char *code, char alpha2[3]);

#endif
