/*  intake_cases: the table of bad (and good) signals that intake must refuse
    (and accept), shared by the unit test of intake_validate and the
    integration test that submits each one to a real intake node and checks
    that nothing was stored.

    Every case starts from a fresh valid baseline (intake_cases_baseline) or,
    for amendments, a fresh empty SignalDetails (intake_cases_empty) that is
    amended onto the baseline.  A mutator changes it in place; it only
    mallocs and frees, so protobuf_c_message_free_unpacked (&d->base, NULL)
    frees the result completely (strings are malloc'ed or the shared
    protobuf_c_empty_string default, never literals or stack memory).

    The clock of every case is INTAKE_CASES_NOW_US (2026-06-01 12:00 UTC);
    the baseline was observed on 2026-05-28 in Venlo (GM0983), its forms are
    [LABOUR], no sector, indicators [ILO_WITHHOLDING_OF_WAGES,
    LIVES_AT_WORKPLACE], two persons (a possible victim born 1998, a possible
    perpetrator with BSN, document and phone), one address, one vehicle, one
    employer and an account; both flags false.
*/
#ifndef INTAKE_CASES_H
#define INTAKE_CASES_H

#include "lantern.pb-c.h"

#include <stddef.h>
#include <stdint.h>

/* 2026-06-01T12:00:00Z in microseconds since the epoch. */
#define INTAKE_CASES_NOW_US INT64_C (1780315200000000)

typedef struct {
    const char *name;                               /* short, unique, snake_case */
    void (*mutate) (Lantern__V1__SignalDetails *d); /* changes d in place */
    const char *code;                               /* expected code; NULL: must pass */
    const char *field;                              /* expected field path */
} intake_case_t;

/* A freshly malloc'ed valid SubmitSignal details (see above). */
Lantern__V1__SignalDetails *intake_cases_baseline (void);

/* A freshly malloc'ed empty SignalDetails (the start of an amendment). */
Lantern__V1__SignalDetails *intake_cases_empty (void);

/* Submissions that must be refused: mutate a baseline; submit it. */
size_t intake_cases_count (void);
const intake_case_t *intake_cases_at (size_t i);

/* Submissions that must pass (code and field NULL). */
size_t intake_cases_valid_count (void);
const intake_case_t *intake_cases_valid_at (size_t i);

/* Amendments of the baseline: mutate an empty SignalDetails into the
   AmendSignal's `added`; the signal amended is the baseline as submitted.
   The first list must be refused, the second must pass. */
size_t intake_amend_cases_count (void);
const intake_case_t *intake_amend_cases_at (size_t i);
size_t intake_amend_cases_valid_count (void);
const intake_case_t *intake_amend_cases_valid_at (size_t i);

#endif
