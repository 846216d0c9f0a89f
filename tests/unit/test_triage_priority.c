/*  Unit tests for triage_priority: every term of a score, each weight read
    from the catalogue (none from code), the terms adding up to the total,
    the age term on both sides of a week and of its cap, refusal of a
    catalogue without a weight, and the agenda order with its ties. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "triage.h"
#include "triage_priority.h"

#define WEEK_US (7LL * 86400 * 1000000)

static char s_path[64];

/* A catalogue with two indicators (weights 2 and 5) and the given weights
   text. */
static ln_catalogue_t *
s_catalogue (const char *weights)
{
    char text[4096];
    snprintf (text, sizeof text,
              "version = \"t1\";\n"
              "indicators = (\n"
              "  { code = \"LOW\"; label_nl = \"L\"; label_en = \"L\"; forms = [\"LABOUR\"];"
              " weight = 2; },\n"
              "  { code = \"HIGH\"; label_nl = \"H\"; label_en = \"H\"; forms = [\"LABOUR\"];"
              " weight = 5; }\n"
              ");\n%s",
              weights);
    snprintf (s_path, sizeof s_path, "/tmp/triage_prio.XXXXXX");
    int fd = mkstemp (s_path);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, text, strlen (text)), (ssize_t)strlen (text));
    close (fd);
    ln_error_t err;
    ln_catalogue_t *cat = ln_catalogue_load (s_path, &err);
    unlink (s_path);
    if (!cat)
        fail_msg ("%s", err.message);
    return cat;
}

#define ALL_WEIGHTS                                                                                \
    "weights = (\n"                                                                                \
    "  { name = \"triage_indicator_factor\"; value = 3; },\n"                                      \
    "  { name = \"triage_immediate_danger\"; value = 50; },\n"                                     \
    "  { name = \"triage_minor_involved\"; value = 30; },\n"                                       \
    "  { name = \"triage_per_extra_partner\"; value = 8; },\n"                                     \
    "  { name = \"triage_per_extra_signal\"; value = 4; },\n"                                      \
    "  { name = \"triage_per_week_open\"; value = 2; },\n"                                         \
    "  { name = \"triage_weeks_counted_max\"; value = 5; }\n"                                      \
    ");\n"

/* The term named name (and detail), or NULL. */
static const Lantern__V1__ScoreTerm *
s_term (const Lantern__V1__Score *s, const char *name, const char *detail)
{
    for (size_t i = 0; i < s->n_terms; i++)
        if (strcmp (s->terms[i]->name, name) == 0 &&
            (!detail || strcmp (s->terms[i]->detail, detail) == 0))
            return s->terms[i];
    return NULL;
}

static int64_t
s_sum (const Lantern__V1__Score *s)
{
    int64_t sum = 0;
    for (size_t i = 0; i < s->n_terms; i++) {
        assert_int_equal (s->terms[i]->points, (int64_t)s->terms[i]->count * s->terms[i]->weight);
        sum += s->terms[i]->points;
    }
    return sum;
}

static void
test_terms (void **state)
{
    (void)state;
    ln_catalogue_t *cat = s_catalogue (ALL_WEIGHTS);
    triage_weights_t w;
    ln_error_t err;
    assert_int_equal (triage_priority_weights (cat, &w, &err), 0);

    char *indicators[] = {"HIGH", "LOW", "RETIRED"};
    Lantern__V1__CaseFacts f = LANTERN__V1__CASE_FACTS__INIT;
    f.indicators = indicators;
    f.n_indicators = 3;
    f.immediate_danger = true;
    f.minor_involved = true;
    f.signals = 4;
    f.partners = 3;
    f.opened_at_us = 1000;
    int64_t now = 1000 + 2 * WEEK_US + WEEK_US - 1; /* 2 whole weeks and a bit */
    Lantern__V1__Score *s = triage_priority_score (&w, &f, now);
    assert_string_equal (s->catalogue_version, "t1");
    assert_int_equal (s->at_us, now);
    const Lantern__V1__ScoreTerm *t = s_term (s, "indicator", "HIGH");
    assert_non_null (t);
    assert_int_equal (t->weight, 15); /* 5 x factor 3 */
    assert_int_equal (s_term (s, "indicator", "LOW")->points, 6);
    t = s_term (s, "indicator", "RETIRED"); /* unknown here: listed, worth 0 */
    assert_non_null (t);
    assert_int_equal (t->points, 0);
    assert_int_equal (s_term (s, "immediate_danger", NULL)->points, 50);
    assert_int_equal (s_term (s, "minor_involved", NULL)->points, 30);
    t = s_term (s, "extra_partners", NULL);
    assert_int_equal (t->count, 2);
    assert_int_equal (t->points, 16);
    t = s_term (s, "extra_signals", NULL);
    assert_int_equal (t->count, 3);
    assert_int_equal (t->points, 12);
    t = s_term (s, "weeks_open", NULL);
    assert_int_equal (t->count, 2);
    assert_int_equal (t->points, 4);
    assert_int_equal (s->total, 15 + 6 + 0 + 50 + 30 + 16 + 12 + 4);
    assert_int_equal (s_sum (s), s->total);
    /* The order: indicators, flags, partners, signals, age. */
    assert_string_equal (s->terms[0]->name, "indicator");
    assert_string_equal (s->terms[s->n_terms - 1]->name, "weeks_open");
    protobuf_c_message_free_unpacked (&s->base, NULL);

    /* One signal, one partner, no flag, just under a week: no such terms. */
    Lantern__V1__CaseFacts g = LANTERN__V1__CASE_FACTS__INIT;
    g.signals = 1;
    g.partners = 1;
    g.opened_at_us = 0;
    s = triage_priority_score (&w, &g, WEEK_US - 1);
    assert_int_equal (s->n_terms, 0);
    assert_int_equal (s->total, 0);
    protobuf_c_message_free_unpacked (&s->base, NULL);
    /* Exactly a week: one. */
    s = triage_priority_score (&w, &g, WEEK_US);
    assert_int_equal (s_term (s, "weeks_open", NULL)->count, 1);
    protobuf_c_message_free_unpacked (&s->base, NULL);
    /* The cap: 5 weeks counted, at 5 and at 50. */
    s = triage_priority_score (&w, &g, 5 * WEEK_US);
    assert_int_equal (s_term (s, "weeks_open", NULL)->count, 5);
    protobuf_c_message_free_unpacked (&s->base, NULL);
    s = triage_priority_score (&w, &g, 50 * WEEK_US);
    assert_int_equal (s_term (s, "weeks_open", NULL)->count, 5);
    assert_int_equal (s->total, 10);
    protobuf_c_message_free_unpacked (&s->base, NULL);
    /* A clock before the case opened counts no age. */
    g.opened_at_us = 10 * WEEK_US;
    s = triage_priority_score (&w, &g, 0);
    assert_null (s_term (s, "weeks_open", NULL));
    protobuf_c_message_free_unpacked (&s->base, NULL);
    ln_catalogue_destroy (&cat);
}

/* The weights are data: other numbers in the catalogue, other scores. */
static void
test_weights_are_data (void **state)
{
    (void)state;
    ln_catalogue_t *cat = s_catalogue ("weights = (\n"
                                       "  { name = \"triage_indicator_factor\"; value = 0; },\n"
                                       "  { name = \"triage_immediate_danger\"; value = 1; },\n"
                                       "  { name = \"triage_minor_involved\"; value = 2; },\n"
                                       "  { name = \"triage_per_extra_partner\"; value = 3; },\n"
                                       "  { name = \"triage_per_extra_signal\"; value = 4; },\n"
                                       "  { name = \"triage_per_week_open\"; value = 5; },\n"
                                       "  { name = \"triage_weeks_counted_max\"; value = 1; }\n"
                                       ");\n");
    triage_weights_t w;
    ln_error_t err;
    assert_int_equal (triage_priority_weights (cat, &w, &err), 0);
    char *indicators[] = {"HIGH"};
    Lantern__V1__CaseFacts f = LANTERN__V1__CASE_FACTS__INIT;
    f.indicators = indicators;
    f.n_indicators = 1;
    f.immediate_danger = f.minor_involved = true;
    f.signals = f.partners = 2;
    Lantern__V1__Score *s = triage_priority_score (&w, &f, 9 * WEEK_US);
    assert_int_equal (s->total, 0 + 1 + 2 + 3 + 4 + 5);
    protobuf_c_message_free_unpacked (&s->base, NULL);
    ln_catalogue_destroy (&cat);

    /* Each missing weight is refused by name. */
    for (size_t miss = 0; miss < 7; miss++) {
        char text[2048] = "weights = (\n";
        size_t len = strlen (text);
        for (size_t i = 0; i < 7; i++)
            if (i != miss)
                len += (size_t)snprintf (text + len, sizeof text - len,
                                         "  { name = \"%s\"; value = 1; },\n",
                                         triage_priority_weight_names[i]);
        snprintf (text + len - 2, sizeof text - len + 2, "\n);\n");
        cat = s_catalogue (text);
        err.code = NULL;
        assert_int_equal (triage_priority_weights (cat, &w, &err), -1);
        assert_string_equal (err.code, "TRIAGE_WEIGHT_MISSING");
        assert_string_equal (err.field, triage_priority_weight_names[miss]);
        ln_catalogue_destroy (&cat);
    }
}

static void
test_order (void **state)
{
    (void)state;
    /* Higher score first; then earlier opened; then smaller id. */
    assert_true (triage_priority_cmp (10, 5, "case-b", 9, 1, "case-a") < 0);
    assert_true (triage_priority_cmp (9, 1, "case-a", 10, 5, "case-b") > 0);
    assert_true (triage_priority_cmp (10, 1, "case-b", 10, 2, "case-a") < 0);
    assert_true (triage_priority_cmp (10, 1, "case-a", 10, 1, "case-b") < 0);
    assert_int_equal (triage_priority_cmp (10, 1, "case-a", 10, 1, "case-a"), 0);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_terms),
        cmocka_unit_test (test_weights_are_data),
        cmocka_unit_test (test_order),
    };
    return cmocka_run_group_tests_name ("triage_priority", tests, NULL, NULL);
}
