/*  triage_priority: the score by which the screening meeting's agenda is
    ordered, kept as terms that add up to it, so that `case show` and the
    agenda can say why a case is where it is.

    Every number comes from the versioned catalogue (common/ln_catalogue,
    deploy/indicators.cfg), none from code: the indicator weights (1..5)
    and the named weights below.  triage refuses to start without them
    (triage_priority_weights), so a catalogue that lacks one is noticed at
    once rather than scored with a silent default.

      term              count                               weight (catalogue)
      indicator CODE    1 per distinct indicator of the     the indicator's weight
                        case's active signals               x triage_indicator_factor
      immediate_danger  1 when a signal says so             triage_immediate_danger
      minor_involved    1 when a signal says so             triage_minor_involved
      extra_partners    distinct organisations - 1          triage_per_extra_partner
      extra_signals     active signals - 1                  triage_per_extra_signal
      weeks_open        whole weeks since the case's        triage_per_week_open
                        earliest signal, at most
                        triage_weeks_counted_max

    points = count x weight; total = the sum.  Only terms with a count
    above zero are listed, in the order above (indicators by code).  An
    indicator the catalogue does not know (the signal was validated against
    another version) counts with weight 0, and is listed, so that nobody
    wonders why it adds nothing.  Integer arithmetic only: the same facts
    and the same time give the same score on any machine.
*/
#ifndef TRIAGE_PRIORITY_H
#define TRIAGE_PRIORITY_H

#include <stdint.h>

#include "ln_catalogue.h"
#include "ln_error.h"
#include "triage.pb-c.h"

typedef struct {
    const ln_catalogue_t *catalogue; /* borrowed: indicator weights, version */
    long long indicator_factor;
    long long immediate_danger;
    long long minor_involved;
    long long per_extra_partner;
    long long per_extra_signal;
    long long per_week_open;
    long long weeks_counted_max;
} triage_weights_t;

/* The names of the named weights, in the order of the struct. */
extern const char *const triage_priority_weight_names[7];

/* Read the named weights from the catalogue.  TRIAGE_WEIGHT_MISSING (field
   the name) when one is not there.  0 or -1. */
int triage_priority_weights (const ln_catalogue_t *catalogue, triage_weights_t *w, ln_error_t *err);

/* The score of a case with these facts at time now_us (µs since the
   epoch; the age term counts to it).  Malloc'ed (free with
   protobuf_c_message_free_unpacked). */
Lantern__V1__Score *triage_priority_score (const triage_weights_t *w,
                                           const Lantern__V1__CaseFacts *facts, int64_t now_us);

/* Agenda order: higher total first, then the earlier opened, then the
   smaller case id.  <0 when a comes first. */
int triage_priority_cmp (int64_t total_a, int64_t opened_a, const char *id_a, int64_t total_b,
                         int64_t opened_b, const char *id_b);

#endif
