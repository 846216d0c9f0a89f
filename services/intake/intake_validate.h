/*  intake_validate: every rule a signal must pass before intake stores it.

    The intake service decodes a command with ln_pbcheck (wire-level: UTF-8,
    enum values, sizes) and then calls this module for the domain rules of
    SubmitSignal, AmendSignal and WithdrawSignal.  It reads only; it stores,
    normalises and hashes nothing (the service does that after it passed).
    The checks that ln_pbcheck also makes (UTF-8, undefined enum values) are
    repeated here with domain codes, so that a message built in-process is
    held to the same rules.

    Error: a stable UPPER_SNAKE code per rule (below) and the path of the
    offending field, rooted at the command's field: "details..." for
    SubmitSignal, "added..." for AmendSignal (amendment = true), with the
    index in the list as given: "details.persons[1].bsn", "details.forms[0]",
    "added.indicators[2]".  A list as a whole is named without an index
    ("details.persons").  Messages never quote personal data.

    Order: checking stops at the first failing rule, in this fixed order
    (within a step, elements in list order and, within an element, fields
    in the order listed):
      1. counts        TOO_MANY_INDICATORS (> 64), TOO_MANY_PERSONS,
                       TOO_MANY_ADDRESSES, TOO_MANY_VEHICLES,
                       TOO_MANY_EMPLOYERS (> 20 each); an amendment counts
                       current + added
      2. tokens        TOKENS_NOT_ALLOWED (persons, addresses, vehicles,
                       employers, in that order)
      3. text          every string field in proto field order: TEXT_TOO_LONG,
                       INVALID_UTF8, CONTROL_CHARACTER
      4. content       EMPTY_SIGNAL / EMPTY_AMENDMENT
      5. reporter      MISSING_REPORTER_ROLE, UNKNOWN_REPORTER_ROLE;
                       amendment: REPORTER_IMMUTABLE
      6. observed_on   MISSING_OBSERVED_ON, INVALID_DATE, DATE_IN_FUTURE,
                       OBSERVED_BEFORE_2000; amendment: OBSERVED_ON_IMMUTABLE
      7. municipality  MISSING_MUNICIPALITY, INVALID_MUNICIPALITY,
                       UNKNOWN_MUNICIPALITY, FORMER_MUNICIPALITY
                       (intake_municipality.h); amendment:
                       MUNICIPALITY_IMMUTABLE
      8. forms         MISSING_FORM, then each: UNKNOWN_FORM, DUPLICATE_FORM;
                       then UNKNOWN_WITH_OTHER_FORM
      9. sector        UNKNOWN_SECTOR, SECTOR_IMMUTABLE, SECTOR_WITHOUT_LABOUR
     10. indicators    each: UNKNOWN_INDICATOR, DUPLICATE_INDICATOR,
                       INDICATOR_FORM_MISMATCH
     11. persons       each: MISSING_PERSON_ROLE, UNKNOWN_PERSON_ROLE,
                       PERSON_WITHOUT_IDENTITY, INVALID_NAME, date_of_birth
                       (INVALID_DATE, DATE_IN_FUTURE, DATE_BEFORE_1900),
                       INVALID_NATIONALITY, INVALID_BSN, BSN_CHECKSUM,
                       INVALID_DOCUMENT, INVALID_PHONE, MINOR_FLAG_MISSING
     12. addresses     each: EMPTY_ADDRESS, INVALID_COUNTRY, INVALID_ADDRESS
                       (street, then city), INVALID_POSTCODE,
                       INVALID_HOUSE_NUMBER
     13. vehicles      each: EMPTY_VEHICLE, INVALID_PLATE, INVALID_COUNTRY
     14. employers     each: EMPTY_EMPLOYER, INVALID_KVK
    (intake_validate.c's header comment explains each rule and decision.)
*/
#ifndef INTAKE_VALIDATE_H
#define INTAKE_VALIDATE_H

#include "lantern.pb-c.h"
#include "ln_catalogue.h"
#include "ln_error.h"
#include "wire.pb-c.h"

#include <stdbool.h>
#include <stdint.h>

/* Limits (proto/lantern.proto). */
#define INTAKE_MAX_PERSONS    20
#define INTAKE_MAX_ADDRESSES  20
#define INTAKE_MAX_VEHICLES   20
#define INTAKE_MAX_EMPLOYERS  20
#define INTAKE_MAX_INDICATORS 64
#define INTAKE_ACCOUNT_MAX    20000
#define INTAKE_REASON_MAX     1000

typedef struct {
    const ln_catalogue_t *catalogue;
    int64_t now_us; /* the clock (tests set it): for "date in the future" */
} intake_validate_ctx_t;

/* Check every rule on a SubmitSignal's details (amendment = false, current
   = NULL) or an AmendSignal's additions (amendment = true; current = the
   signal's details as stored, so that rules that depend on both see the
   merged result).  Returns 0, or -1 with err (may be NULL) set. */
int intake_validate_details (const intake_validate_ctx_t *ctx,
                             const Lantern__V1__SignalDetails *details,
                             const Lantern__V1__SignalDetails *current, bool amendment,
                             ln_error_t *err);

/* WithdrawSignal: signal_id (MISSING_SIGNAL_ID, INVALID_SIGNAL_ID), then
   reason, required, 1..1000 bytes of text (MISSING_REASON, TEXT_TOO_LONG,
   INVALID_UTF8, CONTROL_CHARACTER).  Fields "signal_id", "reason".
   Returns 0, or -1 with err set. */
int intake_validate_withdraw (const Lantern__V1__WithdrawSignal *w, ln_error_t *err);

/* True when id is "sig-" and 26 characters of [a-z2-7] (lower-case RFC 4648
   base32, as intake makes them).  NULL-safe. */
bool intake_signal_id_valid (const char *id);

/* True when m is the CBS code of a current municipality (GM0983; see
   intake_municipality.h, which also says why a code is not).  NULL-safe. */
bool intake_municipality_valid (const char *m);

#endif
