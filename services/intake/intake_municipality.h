/*  intake_municipality: the Dutch municipalities and their CBS codes.

    A signal names the municipality where it was observed by its CBS code
    ("GM" and four digits, GM0983 = Venlo).  This module knows which codes
    exist: the current municipalities of the CBS classification on the date
    intake_municipality_as_of() gives, and the former ones, with the date
    each ceased to exist and what became of it (merged into another,
    renamed, or divided among several).  The data is
    services/intake/municipalities.tsv, turned into a C table at build time
    by services/intake/municipalities.awk; nothing is read at run time, so a
    node needs no setting for it.

    The same check serves intake's validation of SubmitSignal
    (details.municipality), the ListSignals filter and lanternctl's
    --municipality flags, so all three refuse the same codes with the same
    words.  Error codes (docs/protocol.md 4.6):
      INVALID_MUNICIPALITY  not "GM" and four digits (upper case)
      UNKNOWN_MUNICIPALITY  well formed, but no municipality has that code
      FORMER_MUNICIPALITY   the municipality no longer exists; the message
                            says since when and which code to use now:
                            "GM0756 (Boxmeer) merged into GM1982 Land van
                            Cuijk on 2022-01-01"
    Messages quote the code (a code is not personal data) and the names of
    municipalities, never anything else a user typed.
*/
#ifndef INTAKE_MUNICIPALITY_H
#define INTAKE_MUNICIPALITY_H

#include <stdbool.h>
#include <stddef.h>

#include "ln_error.h"

typedef enum {
    INTAKE_MUNICIPALITY_CURRENT, /* exists today */
    INTAKE_MUNICIPALITY_MERGED,  /* merged into one other municipality */
    INTAKE_MUNICIPALITY_RENAMED, /* the same area under a new name and code */
    INTAKE_MUNICIPALITY_DIVIDED, /* its area divided among several */
} intake_municipality_change_t;

typedef struct {
    const char *code;   /* "GM0756" */
    const char *name;   /* as CBS writes it: "Boxmeer", "Bergen (L.)" */
    const char *ceased; /* "YYYY-MM-DD"; "" for a current municipality */
    intake_municipality_change_t change;
    const char *successors; /* "GM1982" or "GM0757,GM0824,..."; "" when current */
} intake_municipality_t;

/* Room for any message of intake_municipality_explain. */
#define INTAKE_MUNICIPALITY_MESSAGE_MAX 384

/* The entry of `code` (current or former), or NULL.  NULL-safe. */
const intake_municipality_t *intake_municipality_find (const char *code);

/* The date of the CBS classification the current list is ("2026-01-01"). */
const char *intake_municipality_as_of (void);

/* How many municipalities are current (342 on 2026-01-01). */
size_t intake_municipality_current_count (void);

/* Whether `code` names a current municipality: returns NULL, or the error
   code (INVALID_MUNICIPALITY, UNKNOWN_MUNICIPALITY, FORMER_MUNICIPALITY)
   with why in message (no field name in it).  NULL-safe (NULL is invalid). */
const char *intake_municipality_explain (const char *code, char *message, size_t size);

/* The same as an ln_error_t: 0, or -1 with err's code, field `field` and
   message "FIELD: why".  err may be NULL. */
int intake_municipality_check (const char *code, const char *field, ln_error_t *err);

#endif
