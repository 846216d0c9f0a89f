/*  ln_level: the eight confidentiality levels of the Dutch ZGW standards.

    Ordered from least to most confidential.  A principal has a maximum level;
    an event carries one (CloudEvent attribute `dataclassification`); an event
    is only ever shown to a principal whose maximum is at or above it.
    The text form is the ZGW name (e.g. "vertrouwelijk"), used in config,
    certificate metadata and on the wire.
*/
#ifndef LN_LEVEL_H
#define LN_LEVEL_H

typedef enum {
    LN_LEVEL_OPENBAAR = 0,
    LN_LEVEL_BEPERKT_OPENBAAR,
    LN_LEVEL_INTERN,
    LN_LEVEL_ZAAKVERTROUWELIJK,
    LN_LEVEL_VERTROUWELIJK,
    LN_LEVEL_CONFIDENTIEEL,
    LN_LEVEL_GEHEIM,
    LN_LEVEL_ZEER_GEHEIM,
} ln_level_t;

#define LN_LEVEL_COUNT 8

/* Parse a ZGW name (exact, lower case).  Returns 0 and sets *level, or -1. */
int ln_level_parse (const char *text, ln_level_t *level);

/* The ZGW name of a level, or NULL when out of range. */
const char *ln_level_name (ln_level_t level);

/* All names joined by ", " (for error messages and --help). */
const char *ln_level_names (void);

#endif
