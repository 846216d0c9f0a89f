/*  Unit tests for intake_validate: every case of tests/support/intake_cases
    (bad submissions and amendments) fails with exactly its code and field,
    every valid variant passes; then the rules the table cannot express
    (other current signals, the order of rules, limits, withdrawal, messages
    that never quote personal data).  The catalogue is the shipped
    deploy/indicators.cfg (LANTERN_SOURCE_DIR); the clock is 2026-06-01. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake_cases.h"
#include "intake_tokens.h"
#include "intake_validate.h"

#define FORM(x)   LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_##x
#define SECTOR(x) LANTERN__V1__LABOUR_SECTOR__LABOUR_SECTOR_##x

static ln_catalogue_t *s_catalogue;
static intake_validate_ctx_t s_ctx;

static int
s_setup (void **state)
{
    (void)state;
    char path[4096];
    const char *dir = getenv ("LANTERN_SOURCE_DIR");
    snprintf (path, sizeof path, "%s/deploy/indicators.cfg", dir && *dir ? dir : ".");
    ln_error_t err;
    s_catalogue = ln_catalogue_load (path, &err);
    if (!s_catalogue) {
        fprintf (stderr, "%s\n", err.message);
        return -1;
    }
    s_ctx.catalogue = s_catalogue;
    s_ctx.now_us = INTAKE_CASES_NOW_US;
    return 0;
}

static int
s_teardown (void **state)
{
    (void)state;
    ln_catalogue_destroy (&s_catalogue);
    return 0;
}

static void
s_free (Lantern__V1__SignalDetails *d)
{
    if (d)
        protobuf_c_message_free_unpacked (&d->base, NULL);
}

/* Validate and compare with the expected result; returns true when it
   matched, printing the difference otherwise (so that one run shows every
   failing case, not only the first). */
static bool
s_expect (const char *name, const Lantern__V1__SignalDetails *d,
          const Lantern__V1__SignalDetails *current, bool amendment, const char *code,
          const char *field)
{
    ln_error_t err;
    int rc = intake_validate_details (&s_ctx, d, current, amendment, &err);
    if (!code) {
        if (rc == 0 && !err.code)
            return true;
        print_error ("%s: refused with %s at %s (%s), should pass\n", name,
                     err.code ? err.code : "(no code)", err.field, err.message);
        return false;
    }
    if (rc == -1 && err.code && strcmp (err.code, code) == 0 && strcmp (err.field, field) == 0 &&
        strncmp (err.message, field, strlen (field)) == 0)
        return true;
    if (rc == 0)
        print_error ("%s: accepted, should fail with %s at %s\n", name, code, field);
    else
        print_error ("%s: got %s at %s (%s), want %s at %s\n", name,
                     err.code ? err.code : "(no code)", err.field, err.message, code, field);
    return false;
}

/* --- the shared table -------------------------------------------------------- */

static void
test_table_is_big_and_distinct (void **state)
{
    (void)state;
    assert_true (intake_cases_count () >= 30);
    /* Every row has a unique name; count the distinct codes of all tables. */
    const char *codes[256];
    size_t ncodes = 0;
    for (int t = 0; t < 2; t++) {
        size_t n = t ? intake_amend_cases_count () : intake_cases_count ();
        for (size_t i = 0; i < n; i++) {
            const intake_case_t *c = t ? intake_amend_cases_at (i) : intake_cases_at (i);
            assert_non_null (c->code);
            assert_non_null (c->field);
            size_t k = 0;
            while (k < ncodes && strcmp (codes[k], c->code) != 0)
                k++;
            if (k == ncodes && ncodes < 256)
                codes[ncodes++] = c->code;
            for (size_t j = 0; j < i; j++) {
                const intake_case_t *o = t ? intake_amend_cases_at (j) : intake_cases_at (j);
                if (strcmp (o->name, c->name) == 0)
                    fail_msg ("case name %s twice", c->name);
            }
        }
    }
    assert_true (ncodes >= 30);
    assert_null (intake_cases_at (intake_cases_count ()));
    assert_null (intake_cases_valid_at (intake_cases_valid_count ()));
    assert_null (intake_amend_cases_at (intake_amend_cases_count ()));
    assert_null (intake_amend_cases_valid_at (intake_amend_cases_valid_count ()));
}

static void
test_refused_submissions (void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < intake_cases_count (); i++) {
        const intake_case_t *c = intake_cases_at (i);
        Lantern__V1__SignalDetails *d = intake_cases_baseline ();
        c->mutate (d);
        if (!s_expect (c->name, d, NULL, false, c->code, c->field))
            failed++;
        s_free (d);
    }
    assert_int_equal (failed, 0);
}

static void
test_valid_submissions (void **state)
{
    (void)state;
    size_t failed = 0;
    for (size_t i = 0; i < intake_cases_valid_count (); i++) {
        const intake_case_t *c = intake_cases_valid_at (i);
        Lantern__V1__SignalDetails *d = intake_cases_baseline ();
        c->mutate (d);
        if (!s_expect (c->name, d, NULL, false, NULL, NULL))
            failed++;
        /* what the validator lets through, the tokeniser takes (intake_validate.h) */
        ln_pseudonym_key_t key;
        memset (&key, 7, sizeof key);
        ln_error_t err;
        ln_error_clear (&err);
        if (intake_tokens_fill (&key, d, "details", &err) != 0) {
            fprintf (stderr, "%s: valid, but the tokeniser refuses it: %s %s: %s\n", c->name,
                     err.code, err.field, err.message);
            failed++;
        }
        s_free (d);
    }
    assert_int_equal (failed, 0);
}

static void
test_amendments (void **state)
{
    (void)state;
    size_t failed = 0;
    Lantern__V1__SignalDetails *current = intake_cases_baseline ();
    for (size_t i = 0; i < intake_amend_cases_count (); i++) {
        const intake_case_t *c = intake_amend_cases_at (i);
        Lantern__V1__SignalDetails *added = intake_cases_empty ();
        c->mutate (added);
        if (!s_expect (c->name, added, current, true, c->code, c->field))
            failed++;
        s_free (added);
    }
    for (size_t i = 0; i < intake_amend_cases_valid_count (); i++) {
        const intake_case_t *c = intake_amend_cases_valid_at (i);
        Lantern__V1__SignalDetails *added = intake_cases_empty ();
        c->mutate (added);
        if (!s_expect (c->name, added, current, true, NULL, NULL))
            failed++;
        s_free (added);
    }
    s_free (current);
    assert_int_equal (failed, 0);
}

/* --- helpers for the cases below -------------------------------------------------- */

static void
s_set (char **field, const char *value)
{
    if (*field && *field != protobuf_c_empty_string)
        free (*field);
    *field = strdup (value);
    assert_non_null (*field);
}

static void
s_forms (Lantern__V1__SignalDetails *d, int a, int b)
{
    free (d->forms);
    d->n_forms = b ? 2 : 1;
    d->forms = calloc (2, sizeof *d->forms);
    assert_non_null (d->forms);
    d->forms[0] = (Lantern__V1__ExploitationForm)a;
    d->forms[1] = (Lantern__V1__ExploitationForm)b;
}

static void
s_indicators (Lantern__V1__SignalDetails *d, const char *a)
{
    for (size_t i = 0; i < d->n_indicators; i++)
        free (d->indicators[i]);
    free (d->indicators);
    d->n_indicators = 1;
    d->indicators = calloc (1, sizeof *d->indicators);
    assert_non_null (d->indicators);
    d->indicators[0] = strdup (a);
}

/* --- amendments of other signals --------------------------------------------------- */

static void
test_amending_a_signal_of_unknown_form (void **state)
{
    (void)state;
    Lantern__V1__SignalDetails *current = intake_cases_baseline ();
    s_forms (current, FORM (UNKNOWN), 0);
    s_indicators (current, "PRESSURED_TO_GIVE_ORGAN");

    /* The form becomes known: LABOUR, its sector, a labour indicator. */
    Lantern__V1__SignalDetails *added = intake_cases_empty ();
    s_forms (added, FORM (LABOUR), 0);
    added->sector = SECTOR (MEAT_PROCESSING);
    s_indicators (added, "ILO_EXCESSIVE_OVERTIME");
    assert_true (s_expect ("unknown_becomes_labour", added, current, true, NULL, NULL));

    /* From then on the real forms count: a criminal-only indicator does
       not fit LABOUR. */
    s_indicators (added, "FORCED_TO_COMMIT_CRIMES");
    assert_true (s_expect ("criminal_indicator_on_labour", added, current, true,
                           "INDICATOR_FORM_MISMATCH", "added.indicators[0]"));
    /* ... and the sector needs LABOUR in the merged forms. */
    s_forms (added, FORM (CRIMINAL), 0);
    assert_true (s_expect ("sector_with_criminal", added, current, true, "SECTOR_WITHOUT_LABOUR",
                           "added.sector"));
    s_free (added);

    /* Still unknown: any indicator may be added. */
    added = intake_cases_empty ();
    s_indicators (added, "OWNERSHIP_TATTOO");
    assert_true (s_expect ("unknown_takes_any_indicator", added, current, true, NULL, NULL));
    /* UNKNOWN again is a repeat. */
    s_forms (added, FORM (UNKNOWN), 0);
    assert_true (
        s_expect ("unknown_again", added, current, true, "DUPLICATE_FORM", "added.forms[0]"));
    /* An indicator already stored is a repeat. */
    s_forms (added, FORM (SEXUAL), 0);
    s_indicators (added, "PRESSURED_TO_GIVE_ORGAN");
    assert_true (s_expect ("stored_indicator_again", added, current, true, "DUPLICATE_INDICATOR",
                           "added.indicators[0]"));
    s_free (added);
    s_free (current);
}

static void
test_amendment_sector_and_flags (void **state)
{
    (void)state;
    Lantern__V1__SignalDetails *current = intake_cases_baseline ();
    current->sector = SECTOR (AGRICULTURE);
    current->immediate_danger = 1;
    current->minor_involved = 1;

    Lantern__V1__SignalDetails *added = intake_cases_empty ();
    added->sector = SECTOR (CONSTRUCTION);
    assert_true (
        s_expect ("sector_set_twice", added, current, true, "SECTOR_IMMUTABLE", "added.sector"));
    added->sector = SECTOR (AGRICULTURE);
    assert_true (
        s_expect ("same_sector_again", added, current, true, "SECTOR_IMMUTABLE", "added.sector"));
    added->sector = 0;

    /* Flags that are already raised add nothing. */
    added->immediate_danger = 1;
    added->minor_involved = 1;
    assert_true (
        s_expect ("flags_already_raised", added, current, true, "EMPTY_AMENDMENT", "added"));
    s_free (added);

    /* The stored minor_involved covers a minor added later. */
    added = intake_cases_empty ();
    const intake_case_t *minor = NULL;
    for (size_t i = 0; i < intake_amend_cases_count (); i++)
        if (strcmp (intake_amend_cases_at (i)->name, "minor_without_flag") == 0)
            minor = intake_amend_cases_at (i);
    assert_non_null (minor);
    minor->mutate (added);
    assert_true (s_expect ("minor_flag_stored", added, current, true, NULL, NULL));
    s_free (added);
    s_free (current);
}

static void
test_amendment_without_current (void **state)
{
    (void)state;
    /* The caller must pass the current signal; without it the merged
       rules see an empty signal and still hold. */
    Lantern__V1__SignalDetails *added = intake_cases_empty ();
    s_indicators (added, "OWNERSHIP_TATTOO");
    assert_true (s_expect ("no_current", added, NULL, true, NULL, NULL));
    added->sector = SECTOR (RETAIL);
    assert_true (
        s_expect ("no_current_sector", added, NULL, true, "SECTOR_WITHOUT_LABOUR", "added.sector"));
    s_free (added);
}

/* --- order, limits, robustness ------------------------------------------------------ */

static void
test_first_rule_in_documented_order (void **state)
{
    (void)state;
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    /* A bad BSN (step 11) and a bad postcode (12): the person first. */
    s_set (&d->persons[1]->bsn, "111222334");
    s_set (&d->addresses[0]->postcode, "0000 XX");
    assert_true (s_expect ("person_before_address", d, NULL, false, "BSN_CHECKSUM",
                           "details.persons[1].bsn"));
    /* A missing municipality (7) comes before both. */
    s_set (&d->municipality, "");
    assert_true (s_expect ("header_before_persons", d, NULL, false, "MISSING_MUNICIPALITY",
                           "details.municipality"));
    /* Text (3) before the header, in field order: account is last. */
    s_set (&d->account, "\x1b]0;pwned\x07");
    s_set (&d->persons[0]->description, "\xff");
    assert_true (s_expect ("text_in_field_order", d, NULL, false, "INVALID_UTF8",
                           "details.persons[0].description"));
    s_free (d);
}

static void
test_limits_are_inclusive (void **state)
{
    (void)state;
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    char *big = malloc (INTAKE_ACCOUNT_MAX + 1);
    assert_non_null (big);
    memset (big, 'x', INTAKE_ACCOUNT_MAX);
    big[INTAKE_ACCOUNT_MAX] = '\0';
    s_set (&d->account, big);
    free (big);
    char name[201];
    memset (name, 'a', 200);
    name[200] = '\0';
    s_set (&d->persons[0]->name, name);
    assert_true (s_expect ("at_the_limits", d, NULL, false, NULL, NULL));

    /* 64 indicators are not too many (these are unknown codes, so the
       count passes and the first code fails). */
    for (size_t i = 0; i < d->n_indicators; i++)
        free (d->indicators[i]);
    free (d->indicators);
    d->n_indicators = INTAKE_MAX_INDICATORS;
    d->indicators = calloc (INTAKE_MAX_INDICATORS, sizeof *d->indicators);
    assert_non_null (d->indicators);
    for (size_t i = 0; i < INTAKE_MAX_INDICATORS; i++)
        d->indicators[i] = strdup ("X");
    assert_true (
        s_expect ("64_indicators", d, NULL, false, "UNKNOWN_INDICATOR", "details.indicators[0]"));
    s_free (d);
}

static void
test_null_and_hand_built_input (void **state)
{
    (void)state;
    ln_error_t err;
    assert_int_equal (intake_validate_details (&s_ctx, NULL, NULL, false, &err), -1);
    assert_string_equal (err.code, "EMPTY_SIGNAL");
    assert_string_equal (err.field, "details");
    assert_int_equal (intake_validate_details (&s_ctx, NULL, NULL, true, &err), -1);
    assert_string_equal (err.code, "EMPTY_AMENDMENT");
    assert_string_equal (err.field, "added");
    intake_validate_ctx_t none = {.catalogue = NULL};
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    assert_int_equal (intake_validate_details (&none, d, NULL, false, &err), -1);
    assert_string_equal (err.code, "INTERNAL");
    /* err may be NULL. */
    assert_int_equal (intake_validate_details (&s_ctx, d, NULL, false, NULL), 0);
    s_set (&d->observed_on, "");
    assert_int_equal (intake_validate_details (&s_ctx, d, NULL, false, NULL), -1);
    s_free (d);

    /* A message built by hand with NULL strings and a NULL element. */
    Lantern__V1__SignalDetails hand = LANTERN__V1__SIGNAL_DETAILS__INIT;
    Lantern__V1__Person *persons[1] = {NULL};
    hand.observed_on = NULL;
    hand.municipality = NULL;
    hand.account = NULL;
    hand.n_persons = 1;
    hand.persons = persons;
    assert_int_equal (intake_validate_details (&s_ctx, &hand, NULL, false, &err), -1);
    assert_string_equal (err.code, "MISSING_REPORTER_ROLE");
    Lantern__V1__Reporter reporter = LANTERN__V1__REPORTER__INIT;
    reporter.role = LANTERN__V1__REPORTER_ROLE__REPORTER_ROLE_HOTLINE;
    reporter.organisation = NULL;
    hand.reporter = &reporter;
    char observed[] = "2026-05-01", municipality[] = "GM0983";
    hand.observed_on = observed;
    hand.municipality = municipality;
    Lantern__V1__ExploitationForm forms[] = {FORM (UNKNOWN)};
    hand.n_forms = 1;
    hand.forms = forms;
    assert_int_equal (intake_validate_details (&s_ctx, &hand, NULL, false, &err), -1);
    assert_string_equal (err.code, "MISSING_PERSON_ROLE");
    assert_string_equal (err.field, "details.persons[0].role");
}

static void
test_messages_never_quote_input (void **state)
{
    (void)state;
    static const struct {
        const char *value;
        int which;
    } bad[] = {{"111222334", 0}, {"Jan de Vries 2", 1}, {"06-BELMIJ", 2}, {"Polen", 3}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Lantern__V1__SignalDetails *d = intake_cases_baseline ();
        Lantern__V1__Person *p = d->persons[1];
        char **field = bad[i].which == 0   ? &p->bsn
                       : bad[i].which == 1 ? &p->name
                       : bad[i].which == 2 ? &p->phone
                                           : &p->nationality;
        s_set (field, bad[i].value);
        ln_error_t err;
        assert_int_equal (intake_validate_details (&s_ctx, d, NULL, false, &err), -1);
        if (strstr (err.message, bad[i].value))
            fail_msg ("message quotes the input: %s", err.message);
        s_free (d);
    }
}

/* A code that no longer exists is refused with the code to use now; the
   same words as lanternctl's flags and ListSignals (intake_municipality). */
static void
test_former_municipality_hint (void **state)
{
    (void)state;
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    s_set (&d->municipality, "GM0756");
    ln_error_t err;
    assert_int_equal (intake_validate_details (&s_ctx, d, NULL, false, &err), -1);
    assert_string_equal (err.code, "FORMER_MUNICIPALITY");
    assert_string_equal (err.field, "details.municipality");
    assert_string_equal (err.message, "details.municipality: GM0756 (Boxmeer) merged into GM1982 "
                                      "Land van Cuijk on 2022-01-01");
    s_set (&d->municipality, "GM1982");
    assert_int_equal (intake_validate_details (&s_ctx, d, NULL, false, &err), 0);
    s_set (&d->municipality, "GM9999");
    assert_int_equal (intake_validate_details (&s_ctx, d, NULL, false, &err), -1);
    assert_string_equal (err.code, "UNKNOWN_MUNICIPALITY");
    s_free (d);
}

/* A refused name says which character and where, at the field's path. */
static void
test_name_refusal_says_why (void **state)
{
    (void)state;
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    s_set (&d->persons[1]->name, "Jan de Vries 2");
    ln_error_t err;
    assert_int_equal (intake_validate_details (&s_ctx, d, NULL, false, &err), -1);
    assert_string_equal (err.code, "INVALID_NAME");
    assert_string_equal (err.field, "details.persons[1].name");
    assert_string_equal (err.message,
                         "details.persons[1].name: character 14 ('2', a digit) is not allowed: a "
                         "name holds letters, spaces, - . , ' and a remark in (parentheses)");
    s_set (&d->persons[1]->name, "Jan (Johnny");
    assert_int_equal (intake_validate_details (&s_ctx, d, NULL, false, &err), -1);
    assert_string_equal (err.message, "details.persons[1].name: character 5: '(' is never closed");
    s_set (&d->persons[1]->name, "Jan (Johnny) de Vries");
    assert_int_equal (intake_validate_details (&s_ctx, d, NULL, false, &err), 0);
    s_free (d);
}

/* --- withdrawal ------------------------------------------------------------------ */

static void
s_withdraw (const char *id, const char *reason, const char *code, const char *field)
{
    Lantern__V1__WithdrawSignal w = LANTERN__V1__WITHDRAW_SIGNAL__INIT;
    w.signal_id = (char *)id;
    w.reason = (char *)reason;
    ln_error_t err;
    int rc = intake_validate_withdraw (&w, &err);
    if (!code) {
        if (rc != 0)
            fail_msg ("withdraw (%s) refused: %s %s", id, err.code, err.message);
        return;
    }
    if (rc != -1 || !err.code || strcmp (err.code, code) != 0 || strcmp (err.field, field) != 0)
        fail_msg ("withdraw (%s): got %s at %s, want %s at %s", id, rc ? err.code : "success",
                  rc ? err.field : "", code, field);
}

static void
test_withdraw (void **state)
{
    (void)state;
    const char *id = "sig-abcdefghijklmnopqrstuvwxyz";
    char long_reason[INTAKE_REASON_MAX + 2];
    memset (long_reason, 'r', sizeof long_reason - 1);
    long_reason[INTAKE_REASON_MAX] = '\0';

    s_withdraw (id, "Dubbel geregistreerd; zie het signaal van de politie.", NULL, NULL);
    s_withdraw ("sig-22222222222222222222222222", "reden\nmet\ttab", NULL, NULL);
    s_withdraw (id, long_reason, NULL, NULL);
    long_reason[INTAKE_REASON_MAX] = 'r';
    long_reason[INTAKE_REASON_MAX + 1] = '\0';
    s_withdraw (id, long_reason, "TEXT_TOO_LONG", "reason");

    s_withdraw ("", "reden", "MISSING_SIGNAL_ID", "signal_id");
    s_withdraw (NULL, "reden", "MISSING_SIGNAL_ID", "signal_id");
    s_withdraw ("sig-ABCDEFGHIJKLMNOPQRSTUVWXYZ", "reden", "INVALID_SIGNAL_ID", "signal_id");
    s_withdraw ("sig-abcdefghijklmnopqrstuvwxy", "reden", "INVALID_SIGNAL_ID", "signal_id");
    s_withdraw ("sig-abcdefghijklmnopqrstuvwxyz2", "reden", "INVALID_SIGNAL_ID", "signal_id");
    s_withdraw ("sig-abcdefghijklmnopqrstuvwxy1", "reden", "INVALID_SIGNAL_ID", "signal_id");
    s_withdraw ("sig-abcdefghijklmnopqrstuvwxy8", "reden", "INVALID_SIGNAL_ID", "signal_id");
    s_withdraw ("sig_abcdefghijklmnopqrstuvwxyz", "reden", "INVALID_SIGNAL_ID", "signal_id");
    s_withdraw ("../../etc/passwd", "reden", "INVALID_SIGNAL_ID", "signal_id");

    s_withdraw (id, "", "MISSING_REASON", "reason");
    s_withdraw (id, NULL, "MISSING_REASON", "reason");
    s_withdraw (id, " \n\t", "MISSING_REASON", "reason");
    s_withdraw (id, "reden \xc3", "INVALID_UTF8", "reason");
    s_withdraw (id, "reden \x1b[2J", "CONTROL_CHARACTER", "reason");

    ln_error_t err;
    assert_int_equal (intake_validate_withdraw (NULL, &err), -1);
    assert_string_equal (err.code, "MISSING_SIGNAL_ID");
    assert_false (intake_signal_id_valid (NULL));
    assert_true (intake_signal_id_valid (id));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_table_is_big_and_distinct),
        cmocka_unit_test (test_refused_submissions),
        cmocka_unit_test (test_valid_submissions),
        cmocka_unit_test (test_amendments),
        cmocka_unit_test (test_amending_a_signal_of_unknown_form),
        cmocka_unit_test (test_amendment_sector_and_flags),
        cmocka_unit_test (test_amendment_without_current),
        cmocka_unit_test (test_first_rule_in_documented_order),
        cmocka_unit_test (test_limits_are_inclusive),
        cmocka_unit_test (test_null_and_hand_built_input),
        cmocka_unit_test (test_messages_never_quote_input),
        cmocka_unit_test (test_former_municipality_hint),
        cmocka_unit_test (test_name_refusal_says_why),
        cmocka_unit_test (test_withdraw),
    };
    return cmocka_run_group_tests_name ("intake_validate", tests, s_setup, s_teardown);
}
