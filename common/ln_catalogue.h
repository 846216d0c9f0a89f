/*  ln_catalogue: the versioned catalogue of indicators of human trafficking.

    A signal carries indicators from a fixed catalogue (docs/architecture.md
    "Indicators"), so that the screening meeting can sort signals by weight.
    The catalogue is data, not code: deploy/indicators.cfg, a libconfig file
    that intake (validation) and triage (sorting) both read with this module.

        version = "2026.2";
        indicators = (
            { code = "ILO_DECEPTION"; label_nl = "Misleiding"; label_en = "Deception";
              forms = ["SEXUAL", "LABOUR"]; weight = 3; },
            ...
        );
        weights = (                                   # optional
            { name = "triage_immediate_danger"; value = 50; },
            ...
        );

    Named weights.  Besides each indicator's weight, a service may need
    other numbers that people tune rather than programmers (how much an
    urgency flag or a second partner adds to a priority): they are data of
    the catalogue too, in the optional `weights` list, read by name with
    ln_catalogue_weight.  The catalogue does not know what a name means; a
    service prefixes its names with its own ("triage_...") and refuses to
    start when one it needs is missing.  A list of groups rather than a
    group of free names, because ln_config refuses undeclared settings.

    The version names the content.  Whoever changes a code, a form, a
    weight or a named weight raises the version; ln_catalogue_digest is a
    fingerprint of exactly that content (labels excluded: rewording a label
    changes no decision), so a service that records (version, digest) pairs
    can refuse a catalogue whose content changed under an old version.

    Loading is strict (ln_config does the schema part: unknown settings,
    types, ranges, required settings, UTF-8; this module the rest).  Every
    error message reads `FILE:LINE: SETTING: problem`, and err->field holds
    SETTING (e.g. `indicators.[3].code`).  Codes:
      CONFIG_*                        from ln_config (ln_config.h): unknown
                                      setting (CONFIG_UNKNOWN), missing version
                                      or member (CONFIG_REQUIRED), empty label,
                                      empty list, weight outside 1..5, too many
                                      indicators or forms (CONFIG_RANGE), ...
      CATALOGUE_BAD_VERSION           version is not [0-9A-Za-z][0-9A-Za-z._-]*
      CATALOGUE_BAD_CODE              code is not [A-Z][A-Z0-9_]{1,47}
      CATALOGUE_DUPLICATE_CODE        a code listed twice (the message names
                                      the line of the first)
      CATALOGUE_BAD_LABEL             a label that is blank, has leading or
                                      trailing white space, or holds a control
                                      character (labels are shown in terminals
                                      and user interfaces, one line each)
      CATALOGUE_UNKNOWN_FORM          a form name that is not SEXUAL, LABOUR,
                                      CRIMINAL, ORGAN_REMOVAL or UNKNOWN
      CATALOGUE_DUPLICATE_FORM        a form listed twice in one indicator
      CATALOGUE_BAD_WEIGHT_NAME       a named weight's name is not
                                      [a-z][a-z0-9_]{0,47}
      CATALOGUE_DUPLICATE_WEIGHT      a name listed twice in `weights`
      CONFIG_IO                       also: the file changed between the two
                                      reads that loading takes (see below)

    Line numbers: ln_config checks the schema but does not tell the line of a
    setting, so the semantic checks read the file a second time with
    libconfig to find the line of the offending setting.  If the two reads
    disagree (the file was replaced in between), loading fails with
    CONFIG_IO; retrying loads the new file.

    Which indicators fit which signal (decision, used by intake):
    ln_indicator_applies_to (ind, form) is true when the indicator lists the
    form, and always for EXPLOITATION_FORM_UNKNOWN: a signal sent before
    anyone knows the form may carry any indicator.  An indicator may be
    attached to a signal when it applies to at least one of the signal's
    forms; otherwise intake refuses it with INDICATOR_FORM_MISMATCH (a
    "loverboy method" indicator on a signal that only says ORGAN_REMOVAL is
    a mistake the attention officer should see, not data to store).

    Threads: a loaded catalogue is read-only and may be shared.
*/
#ifndef LN_CATALOGUE_H
#define LN_CATALOGUE_H

#include "ln_error.h"

#include <stdbool.h>
#include <stddef.h>

/* Longest indicator code, in bytes (the syntax is [A-Z][A-Z0-9_]{1,47}). */
#define LN_CATALOGUE_CODE_MAX 48
/* Longest label, in bytes. */
#define LN_CATALOGUE_LABEL_MAX 200
/* Longest version string, in bytes. */
#define LN_CATALOGUE_VERSION_MAX 32
/* Most indicators a catalogue may hold. */
#define LN_CATALOGUE_MAX 512
/* Weight range. */
#define LN_CATALOGUE_WEIGHT_MIN 1
#define LN_CATALOGUE_WEIGHT_MAX 5
/* Named weights: at most this many, names of at most this many bytes
   ([a-z][a-z0-9_]{0,47}), values in this range. */
#define LN_CATALOGUE_NAMED_MAX       64
#define LN_CATALOGUE_NAME_MAX        48
#define LN_CATALOGUE_NAMED_VALUE_MIN 0
#define LN_CATALOGUE_NAMED_VALUE_MAX 1000000
/* ln_catalogue_digest: 64 lower-case hex digits and a NUL. */
#define LN_CATALOGUE_DIGEST_SIZE 65

/* The bit of an ExploitationForm value (1..5) in ln_indicator_t.forms. */
#define LN_CATALOGUE_FORM_BIT(form) (1u << (unsigned)(form))

typedef struct {
    const char *code;     /* [A-Z][A-Z0-9_]{1,47} */
    const char *label_nl; /* Dutch label, one line */
    const char *label_en; /* English label, one line */
    unsigned forms;       /* LN_CATALOGUE_FORM_BIT of each listed ExploitationForm */
    int weight;           /* 1..5, 5 strongest */
} ln_indicator_t;

typedef struct _ln_catalogue_t ln_catalogue_t;

/* Load and check the catalogue at `path`.  Returns it, or NULL and fills
   err (may be NULL) as described above. */
ln_catalogue_t *ln_catalogue_load (const char *path, ln_error_t *err);

/* Destroy a catalogue; NULL-safe, sets *self_p to NULL. */
void ln_catalogue_destroy (ln_catalogue_t **self_p);

/* The catalogue's version string (valid as long as the catalogue is). */
const char *ln_catalogue_version (const ln_catalogue_t *self);

/* Number of indicators (at least 1). */
size_t ln_catalogue_size (const ln_catalogue_t *self);

/* The indicator with exactly this code, or NULL (also for a NULL code). */
const ln_indicator_t *ln_catalogue_find (const ln_catalogue_t *self, const char *code);

/* Indicator i in file order, or NULL when i >= size. */
const ln_indicator_t *ln_catalogue_at (const ln_catalogue_t *self, size_t i);

/* The named weight `name`: true and *value set when the catalogue lists
   it; false (value untouched) when it does not, or name is NULL. */
bool ln_catalogue_weight (const ln_catalogue_t *self, const char *name, long long *value);

/* Number of named weights (0 when the file has no `weights`), and the
   name and value of weight i in file order (false when i >= count). */
size_t ln_catalogue_weight_count (const ln_catalogue_t *self);
bool ln_catalogue_weight_at (const ln_catalogue_t *self, size_t i, const char **name,
                             long long *value);

/* A fingerprint of the catalogue's content: SHA-256, as hex, over every
   indicator's code, forms and weight (in code order) and every named
   weight (in name order), not the labels nor the version (valid as long as
   the catalogue is).  Equal digests: the same codes, forms and weights. */
const char *ln_catalogue_digest (const ln_catalogue_t *self);

/* Whether the indicator may go on a signal of this ExploitationForm: it
   lists the form, or the form is EXPLOITATION_FORM_UNKNOWN.  False for
   UNSPECIFIED and values that are no form. */
bool ln_indicator_applies_to (const ln_indicator_t *indicator, int exploitation_form);

/* The name of an ExploitationForm value as the catalogue writes it
   ("LABOUR"), or NULL for UNSPECIFIED and values that are no form. */
const char *ln_catalogue_form_name (int exploitation_form);

#endif
