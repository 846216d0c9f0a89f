/*  triage_priority: a case's score as terms (see triage_priority.h). */
#include "triage_priority.h"

#include <stdio.h>
#include <string.h>

#include "triage.h"

#define S_WEEK_US (7LL * 24 * 3600 * 1000000)

const char *const triage_priority_weight_names[7] = {
    "triage_indicator_factor",  "triage_immediate_danger", "triage_minor_involved",
    "triage_per_extra_partner", "triage_per_extra_signal", "triage_per_week_open",
    "triage_weeks_counted_max"};

int
triage_priority_weights (const ln_catalogue_t *catalogue, triage_weights_t *w, ln_error_t *err)
{
    long long *slots[7] = {&w->indicator_factor,  &w->immediate_danger, &w->minor_involved,
                           &w->per_extra_partner, &w->per_extra_signal, &w->per_week_open,
                           &w->weeks_counted_max};
    memset (w, 0, sizeof *w);
    w->catalogue = catalogue;
    for (size_t i = 0; i < 7; i++)
        if (!ln_catalogue_weight (catalogue, triage_priority_weight_names[i], slots[i])) {
            ln_error_set (err, "TRIAGE_WEIGHT_MISSING", triage_priority_weight_names[i],
                          "catalogue %s has no weight %s (weights = ({ name = \"%s\"; value ="
                          " ...; }, ...))",
                          ln_catalogue_version (catalogue), triage_priority_weight_names[i],
                          triage_priority_weight_names[i]);
            return -1;
        }
    return 0;
}

static void
s_term (Lantern__V1__Score *s, const char *name, const char *detail, uint32_t count,
        long long weight)
{
    if (count == 0)
        return;
    Lantern__V1__ScoreTerm *t = triage_alloc (sizeof *t);
    lantern__v1__score_term__init (t);
    t->name = triage_str (name);
    t->detail = triage_str (detail);
    t->count = count;
    t->weight = weight;
    t->points = (int64_t)count * weight;
    s->total += t->points;
    triage_push ((void ***)&s->terms, &s->n_terms, t);
}

Lantern__V1__Score *
triage_priority_score (const triage_weights_t *w, const Lantern__V1__CaseFacts *facts,
                       int64_t now_us)
{
    Lantern__V1__Score *s = triage_alloc (sizeof *s);
    lantern__v1__score__init (s);
    s->catalogue_version = triage_str (ln_catalogue_version (w->catalogue));
    s->at_us = now_us;
    for (size_t i = 0; i < facts->n_indicators; i++) {
        const ln_indicator_t *ind = ln_catalogue_find (w->catalogue, facts->indicators[i]);
        s_term (s, "indicator", facts->indicators[i], 1,
                ind ? (long long)ind->weight * w->indicator_factor : 0);
    }
    s_term (s, "immediate_danger", NULL, facts->immediate_danger ? 1 : 0, w->immediate_danger);
    s_term (s, "minor_involved", NULL, facts->minor_involved ? 1 : 0, w->minor_involved);
    s_term (s, "extra_partners", NULL, facts->partners > 1 ? facts->partners - 1 : 0,
            w->per_extra_partner);
    s_term (s, "extra_signals", NULL, facts->signals > 1 ? facts->signals - 1 : 0,
            w->per_extra_signal);
    int64_t weeks = 0;
    if (facts->signals > 0 && now_us > facts->opened_at_us)
        weeks = (now_us - facts->opened_at_us) / S_WEEK_US;
    if (weeks > w->weeks_counted_max)
        weeks = w->weeks_counted_max;
    s_term (s, "weeks_open", NULL, (uint32_t)weeks, w->per_week_open);
    return s;
}

int
triage_priority_cmp (int64_t total_a, int64_t opened_a, const char *id_a, int64_t total_b,
                     int64_t opened_b, const char *id_b)
{
    if (total_a != total_b)
        return total_a > total_b ? -1 : 1;
    if (opened_a != opened_b)
        return opened_a < opened_b ? -1 : 1;
    return strcmp (id_a, id_b);
}
