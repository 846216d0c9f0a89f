/*  Unit tests for ln_catalogue: the shipped deploy/indicators.cfg loads (so
    a broken catalogue fails here, not in production), lookups work, and each
    kind of bad file is refused with its code, its setting and a message
    that starts with exactly `FILE:LINE: SETTING: `.  The shipped file is
    found through LANTERN_SOURCE_DIR (tests/run.sh sets it; "." otherwise). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ln_catalogue.h"
#include "lantern.pb-c.h"

#define F_SEXUAL  LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_SEXUAL
#define F_LABOUR  LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_LABOUR
#define F_CRIM    LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_CRIMINAL
#define F_ORGAN   LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_ORGAN_REMOVAL
#define F_UNKNOWN LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_UNKNOWN

static char s_path[64];

static void
s_write (const char *text)
{
    snprintf (s_path, sizeof s_path, "/tmp/ln_catalogue_test.XXXXXX");
    int fd = mkstemp (s_path);
    assert_true (fd >= 0);
    size_t len = strlen (text);
    assert_int_equal (write (fd, text, len), (ssize_t)len);
    assert_int_equal (close (fd), 0);
}

static void
s_shipped_path (char *dst, size_t size)
{
    const char *dir = getenv ("LANTERN_SOURCE_DIR");
    snprintf (dst, size, "%s/deploy/indicators.cfg", dir && *dir ? dir : ".");
}

/* `text` must be refused with `code` at `line` for `setting`. */
static void
s_refused (const char *text, const char *code, unsigned line, const char *setting)
{
    ln_error_t err;
    s_write (text);
    ln_catalogue_t *cat = ln_catalogue_load (s_path, &err);
    unlink (s_path);
    if (cat) {
        ln_catalogue_destroy (&cat);
        fail_msg ("accepted a file that should fail with %s:\n%s", code, text);
    }
    char prefix[256];
    if (*setting)
        snprintf (prefix, sizeof prefix, "%s:%u: %s: ", s_path, line, setting);
    else /* syntax errors name no setting */
        snprintf (prefix, sizeof prefix, "%s:%u: ", s_path, line);
    assert_non_null (err.code);
    if (strcmp (err.code, code) != 0 || strncmp (err.message, prefix, strlen (prefix)) != 0)
        fail_msg ("got %s \"%s\", want %s \"%s...\"", err.code, err.message, code, prefix);
    assert_string_equal (err.field, setting);
}

/* A valid indicator entry on 7 lines, with the given code, forms and weight. */
#define ENTRY(code, forms, weight)                                                                 \
    "  {\n"                                                                                        \
    "    code = \"" code "\";\n"                                                                   \
    "    label_nl = \"Label\";\n"                                                                  \
    "    label_en = \"Label\";\n"                                                                  \
    "    forms = [" forms "];\n"                                                                   \
    "    weight = " weight ";\n"                                                                   \
    "  }"

/* --- the shipped catalogue ------------------------------------------------ */

static void
test_shipped_catalogue_loads (void **state)
{
    (void)state;
    char path[4096];
    ln_error_t err;
    s_shipped_path (path, sizeof path);
    ln_catalogue_t *cat = ln_catalogue_load (path, &err);
    if (!cat)
        fail_msg ("%s: %s (%s)", path, err.message, err.code);
    assert_string_equal (ln_catalogue_version (cat), "2026.2");
    size_t n = ln_catalogue_size (cat);
    assert_in_range (n, 25, 35);

    /* The 11 ILO indicators and the Dutch list's named ones are there. */
    static const char *const must[] = {"ILO_ABUSE_OF_VULNERABILITY",
                                       "ILO_DECEPTION",
                                       "ILO_RESTRICTION_OF_MOVEMENT",
                                       "ILO_ISOLATION",
                                       "ILO_PHYSICAL_AND_SEXUAL_VIOLENCE",
                                       "ILO_INTIMIDATION_AND_THREATS",
                                       "ILO_RETENTION_OF_IDENTITY_DOCUMENTS",
                                       "ILO_WITHHOLDING_OF_WAGES",
                                       "ILO_DEBT_BONDAGE",
                                       "ILO_ABUSIVE_WORKING_AND_LIVING_CONDITIONS",
                                       "ILO_EXCESSIVE_OVERTIME",
                                       "MINOR_INVOLVED",
                                       "HANDS_OVER_EARNINGS",
                                       "NO_CONTROL_OF_BANK_ACCOUNT",
                                       "DOES_NOT_KNOW_OWN_ADDRESS",
                                       "LIVES_AT_WORKPLACE",
                                       "MANY_REGISTERED_AT_ADDRESS",
                                       "TRANSPORTED_BY_EMPLOYER",
                                       "SIGNS_OF_PHYSICAL_ABUSE",
                                       "SOMEONE_ELSE_SPEAKS_FOR_THEM",
                                       "FORCED_TO_COMMIT_CRIMES",
                                       "RECRUITED_WITH_FALSE_PROMISES"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        if (!ln_catalogue_find (cat, must[i]))
            fail_msg ("%s is missing", must[i]);

    /* Every form has at least one specific indicator; every entry is sane. */
    unsigned seen = 0;
    for (size_t i = 0; i < n; i++) {
        const ln_indicator_t *ind = ln_catalogue_at (cat, i);
        assert_non_null (ind);
        assert_ptr_equal (ln_catalogue_find (cat, ind->code), ind);
        assert_in_range (ind->weight, 1, 5);
        assert_true (ind->forms != 0);
        assert_true (strlen (ind->label_nl) > 0 && strlen (ind->label_en) > 0);
        seen |= ind->forms;
    }
    assert_int_equal (seen & (1u << F_SEXUAL | 1u << F_LABOUR | 1u << F_CRIM | 1u << F_ORGAN),
                      1u << F_SEXUAL | 1u << F_LABOUR | 1u << F_CRIM | 1u << F_ORGAN);
    assert_null (ln_catalogue_at (cat, n));

    const ln_indicator_t *minor = ln_catalogue_find (cat, "MINOR_INVOLVED");
    assert_int_equal (minor->weight, 5);
    assert_int_equal (ln_catalogue_find (cat, "ILO_PHYSICAL_AND_SEXUAL_VIOLENCE")->weight, 5);
    const ln_indicator_t *crimes = ln_catalogue_find (cat, "FORCED_TO_COMMIT_CRIMES");
    assert_true (ln_indicator_applies_to (crimes, F_CRIM));
    assert_false (ln_indicator_applies_to (crimes, F_LABOUR));
    assert_true (ln_indicator_applies_to (crimes, F_UNKNOWN));

    assert_null (ln_catalogue_find (cat, "NO_SUCH_INDICATOR"));
    assert_null (ln_catalogue_find (cat, "minor_involved"));
    assert_null (ln_catalogue_find (cat, ""));
    assert_null (ln_catalogue_find (cat, NULL));

    /* Triage's named weights are there (triage refuses to start without). */
    static const char *const named[] = {"triage_indicator_factor", "triage_immediate_danger",
                                        "triage_minor_involved",   "triage_per_extra_partner",
                                        "triage_per_extra_signal", "triage_per_week_open",
                                        "triage_weeks_counted_max"};
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        long long v = -1;
        if (!ln_catalogue_weight (cat, named[i], &v))
            fail_msg ("named weight %s is missing", named[i]);
        assert_in_range (v, LN_CATALOGUE_NAMED_VALUE_MIN, LN_CATALOGUE_NAMED_VALUE_MAX);
    }
    assert_int_equal (ln_catalogue_weight_count (cat), sizeof named / sizeof named[0]);
    assert_int_equal (strlen (ln_catalogue_digest (cat)), 64);
    ln_catalogue_destroy (&cat);
    assert_null (cat);
    ln_catalogue_destroy (&cat);
    ln_catalogue_destroy (NULL);
}

static void
test_small_catalogue_reads_back (void **state)
{
    (void)state;
    ln_error_t err;
    s_write ("version = \"2026.2-test\";\n"
             "indicators = (\n" ENTRY ("ZZ_LAST", "\"LABOUR\", \"UNKNOWN\"", "1") ",\n" ENTRY (
                 "AA_FIRST", "\"SEXUAL\", \"CRIMINAL\", \"ORGAN_REMOVAL\"", "5") "\n);\n");
    ln_catalogue_t *cat = ln_catalogue_load (s_path, &err);
    unlink (s_path);
    if (!cat)
        fail_msg ("%s", err.message);
    assert_null (err.code);
    assert_string_equal (ln_catalogue_version (cat), "2026.2-test");
    assert_int_equal (ln_catalogue_size (cat), 2);
    /* File order for _at, any order for _find. */
    assert_string_equal (ln_catalogue_at (cat, 0)->code, "ZZ_LAST");
    assert_string_equal (ln_catalogue_at (cat, 1)->code, "AA_FIRST");
    const ln_indicator_t *a = ln_catalogue_find (cat, "AA_FIRST");
    assert_ptr_equal (a, ln_catalogue_at (cat, 1));
    assert_int_equal (a->weight, 5);
    assert_string_equal (a->label_nl, "Label");
    assert_int_equal (a->forms, 1u << F_SEXUAL | 1u << F_CRIM | 1u << F_ORGAN);
    assert_true (ln_indicator_applies_to (a, F_SEXUAL));
    assert_false (ln_indicator_applies_to (a, F_LABOUR));
    assert_true (ln_indicator_applies_to (a, F_UNKNOWN));
    assert_false (ln_indicator_applies_to (a, 0));
    assert_false (ln_indicator_applies_to (a, 6));
    assert_false (ln_indicator_applies_to (a, -1));
    assert_false (ln_indicator_applies_to (NULL, F_SEXUAL));
    const ln_indicator_t *z = ln_catalogue_find (cat, "ZZ_LAST");
    assert_int_equal (z->forms, 1u << F_LABOUR | 1u << F_UNKNOWN);
    assert_true (ln_indicator_applies_to (z, F_LABOUR));
    assert_false (ln_indicator_applies_to (z, F_CRIM));
    assert_string_equal (ln_catalogue_form_name (F_ORGAN), "ORGAN_REMOVAL");
    assert_null (ln_catalogue_form_name (0));
    assert_null (ln_catalogue_form_name (99));
    /* No `weights`: none, and asking is not an error. */
    long long v = 42;
    assert_int_equal (ln_catalogue_weight_count (cat), 0);
    assert_false (ln_catalogue_weight (cat, "triage_immediate_danger", &v));
    assert_int_equal (v, 42);
    const char *name = NULL;
    assert_false (ln_catalogue_weight_at (cat, 0, &name, &v));
    ln_catalogue_destroy (&cat);
}

/* --- named weights and the digest ------------------------------------------ */

/* Load `text` (must succeed) and copy its digest into out. */
static ln_catalogue_t *
s_load_ok (const char *text)
{
    ln_error_t err;
    s_write (text);
    ln_catalogue_t *cat = ln_catalogue_load (s_path, &err);
    unlink (s_path);
    if (!cat)
        fail_msg ("%s", err.message);
    return cat;
}

#define TWO_ENTRIES                                                                                \
    "indicators = (\n" ENTRY ("A1", "\"LABOUR\"", "2") ",\n" ENTRY ("B2", "\"SEXUAL\"",            \
                                                                    "3") "\n);\n"

static void
test_named_weights_read_back (void **state)
{
    (void)state;
    ln_catalogue_t *cat = s_load_ok ("version = \"1\";\n" TWO_ENTRIES "weights = (\n"
                                     "  { name = \"svc_zero\"; value = 0; },\n"
                                     "  { name = \"svc_max\"; value = 1000000; },\n"
                                     "  { name = \"s\"; value = 7; }\n"
                                     ");\n");
    long long v = -1;
    assert_true (ln_catalogue_weight (cat, "svc_zero", &v));
    assert_int_equal (v, 0);
    assert_true (ln_catalogue_weight (cat, "svc_max", &v));
    assert_int_equal (v, 1000000);
    assert_true (ln_catalogue_weight (cat, "s", &v));
    assert_int_equal (v, 7);
    assert_false (ln_catalogue_weight (cat, "svc", &v));
    assert_false (ln_catalogue_weight (cat, "SVC_ZERO", &v));
    assert_false (ln_catalogue_weight (cat, NULL, &v));
    assert_false (ln_catalogue_weight (NULL, "s", &v));
    assert_int_equal (ln_catalogue_weight_count (cat), 3);
    const char *name = NULL;
    assert_true (ln_catalogue_weight_at (cat, 1, &name, &v));
    assert_string_equal (name, "svc_max");
    assert_int_equal (v, 1000000);
    assert_false (ln_catalogue_weight_at (cat, 3, &name, &v));
    ln_catalogue_destroy (&cat);

    /* An empty list is allowed. */
    cat = s_load_ok ("version = \"1\";\n" TWO_ENTRIES "weights = ();\n");
    assert_int_equal (ln_catalogue_weight_count (cat), 0);
    ln_catalogue_destroy (&cat);
}

static void
test_named_weights_refused (void **state)
{
    (void)state;
    /* TWO_ENTRIES takes lines 2..17; weights starts on line 18. */
#define W(body) "version = \"1\";\n" TWO_ENTRIES "weights = (\n" body "\n);\n"
    s_refused (W ("  { name = \"Upper\"; value = 1; }"), "CATALOGUE_BAD_WEIGHT_NAME", 19,
               "weights.[0].name");
    s_refused (W ("  { name = \"1st\"; value = 1; }"), "CATALOGUE_BAD_WEIGHT_NAME", 19,
               "weights.[0].name");
    s_refused (W ("  { name = \"a-b\"; value = 1; }"), "CATALOGUE_BAD_WEIGHT_NAME", 19,
               "weights.[0].name");
    /* 48 bytes pass, 49 do not. */
    s_refused (W ("  { name = \"a234567890123456789012345678901234567890123456789\"; value = 1; }"),
               "CONFIG_RANGE", 19, "weights.[0].name");
    ln_catalogue_destroy (&(ln_catalogue_t *){s_load_ok (
        W ("  { name = \"a23456789012345678901234567890123456789012345678\"; value = 1; }"))});
    s_refused (W ("  { name = \"\"; value = 1; }"), "CONFIG_RANGE", 19, "weights.[0].name");
    s_refused (W ("  { name = \"a\"; value = 1; },\n  { name = \"a\"; value = 2; }"),
               "CATALOGUE_DUPLICATE_WEIGHT", 20, "weights.[1].name");
    s_refused (W ("  { name = \"a\"; value = -1; }"), "CONFIG_RANGE", 19, "weights.[0].value");
    s_refused (W ("  { name = \"a\"; value = 1000001; }"), "CONFIG_RANGE", 19, "weights.[0].value");
    s_refused (W ("  { name = \"a\"; value = \"5\"; }"), "CONFIG_TYPE", 19, "weights.[0].value");
    s_refused (W ("  { name = \"a\"; }"), "CONFIG_REQUIRED", 19, "weights.[0].value");
    s_refused (W ("  { name = \"a\"; value = 1; extra = 2; }"), "CONFIG_UNKNOWN", 19,
               "weights.[0].extra");
#undef W
    /* The duplicate message names the first definition's line. */
    ln_error_t err;
    s_write ("version = \"1\";\n" TWO_ENTRIES
             "weights = (\n  { name = \"a\"; value = 1; },\n  { name = \"a\"; value = 2; }\n);\n");
    assert_null (ln_catalogue_load (s_path, &err));
    unlink (s_path);
    assert_non_null (strstr (err.message, "already defined at line 19"));
}

/* The digest moves with every code, form, weight and named weight, and
   with nothing else (labels, order, version). */
static void
test_digest (void **state)
{
    (void)state;
    char base[LN_CATALOGUE_DIGEST_SIZE];
    ln_catalogue_t *cat =
        s_load_ok ("version = \"1\";\n" TWO_ENTRIES "weights = ({ name = \"x\"; value = 1; },"
                   " { name = \"y\"; value = 2; });\n");
    snprintf (base, sizeof base, "%s", ln_catalogue_digest (cat));
    ln_catalogue_destroy (&cat);
    for (size_t i = 0; i < 64; i++)
        assert_true ((base[i] >= '0' && base[i] <= '9') || (base[i] >= 'a' && base[i] <= 'f'));

    static const struct {
        const char *text;
        bool same;
    } cases[] = {
        /* the same content: another version, labels, file order */
        {"version = \"2\";\n" TWO_ENTRIES
         "weights = ({ name = \"x\"; value = 1; }, { name = \"y\"; value = 2; });\n",
         true},
        {"version = \"1\";\nindicators = (\n" ENTRY ("B2", "\"SEXUAL\"", "3") ",\n" ENTRY (
             "A1", "\"LABOUR\"", "2") "\n);\n"
                                      "weights = ({ name = \"y\"; value = 2; },"
                                      " { name = \"x\"; value = 1; });\n",
         true},
        {"version = \"1\";\nindicators = (\n"
         "  { code = \"A1\"; label_nl = \"Ander\"; label_en = \"Other\"; forms = [\"LABOUR\"];"
         " weight = 2; },\n" ENTRY ("B2", "\"SEXUAL\"",
                                    "3") "\n);\n"
                                         "weights = ({ name = \"x\"; value = 1; "
                                         "}, { name = \"y\"; value = 2; });\n",
         true},
        /* another content */
        {"version = \"1\";\n" TWO_ENTRIES
         "weights = ({ name = \"x\"; value = 1; }, { name = \"y\"; value = 3; });\n",
         false},
        {"version = \"1\";\n" TWO_ENTRIES
         "weights = ({ name = \"x\"; value = 1; }, { name = \"z\"; value = 2; });\n",
         false},
        {"version = \"1\";\n" TWO_ENTRIES "weights = ({ name = \"x\"; value = 1; });\n", false},
        {"version = \"1\";\nindicators = (\n" ENTRY ("A1", "\"LABOUR\"", "2") ",\n" ENTRY (
             "B2", "\"SEXUAL\"", "4") "\n);\n"
                                      "weights = ({ name = \"x\"; value = 1; },"
                                      " { name = \"y\"; value = 2; });\n",
         false},
        {"version = \"1\";\nindicators = (\n" ENTRY ("A1", "\"LABOUR\", \"SEXUAL\"",
                                                     "2") ",\n" ENTRY ("B2", "\"SEXUAL\"",
                                                                       "3") "\n);\n"
                                                                            "weights = ({ name = "
                                                                            "\"x\"; value = 1; },"
                                                                            " { name = \"y\"; "
                                                                            "value = 2; });\n",
         false},
        {"version = \"1\";\nindicators = (\n" ENTRY ("A1", "\"LABOUR\"", "2") ",\n" ENTRY (
             "B3", "\"SEXUAL\"", "3") "\n);\n"
                                      "weights = ({ name = \"x\"; value = 1; },"
                                      " { name = \"y\"; value = 2; });\n",
         false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cat = s_load_ok (cases[i].text);
        bool same = strcmp (ln_catalogue_digest (cat), base) == 0;
        ln_catalogue_destroy (&cat);
        if (same != cases[i].same)
            fail_msg ("case %zu: digest %s", i, same ? "unchanged" : "changed");
    }
}

/* --- bad files -------------------------------------------------------------- */

#define HEAD "version = \"1\";\nindicators = (\n" /* the list starts at line 2 */

static void
test_structure_refused (void **state)
{
    (void)state;
    /* Missing version: a required top-level setting names line 1. */
    s_refused ("indicators = (\n" ENTRY ("A1", "\"LABOUR\"", "1") "\n);\n", "CONFIG_REQUIRED", 1,
               "version");
    s_refused ("version = \"1\";\n", "CONFIG_REQUIRED", 1, "indicators");
    s_refused ("version = \"1\";\nindicators = ();\n", "CONFIG_RANGE", 2, "indicators");
    s_refused ("version = \"\";\nindicators = (\n" ENTRY ("A1", "\"LABOUR\"", "1") "\n);\n",
               "CONFIG_RANGE", 1, "version");
    s_refused ("version = \"2026 1\";\nindicators = (\n" ENTRY ("A1", "\"LABOUR\"", "1") "\n);\n",
               "CATALOGUE_BAD_VERSION", 1, "version");
    s_refused ("version = 2026;\n", "CONFIG_TYPE", 1, "version");
    /* Unknown settings, at the top and inside an element. */
    s_refused (HEAD ENTRY ("A1", "\"LABOUR\"", "1") "\n);\nrevision = 2;\n", "CONFIG_UNKNOWN", 11,
               "revision");
    s_refused (HEAD "  { code = \"A1\"; label_nl = \"L\"; label_en = \"L\"; forms = [\"LABOUR\"];\n"
                    "    weight = 1; colour = \"red\"; }\n);\n",
               "CONFIG_UNKNOWN", 4, "indicators.[0].colour");
    s_refused (HEAD "  { code = \"A1\"; label_nl = \"L\"; label_en = \"L\";\n"
                    "    forms = [\"LABOUR\"]; }\n);\n",
               "CONFIG_REQUIRED", 3, "indicators.[0].weight");
    s_refused ("version = \"1\";\nindicators = (\n  { code = \"A1\"\n);\n", "CONFIG_SYNTAX", 4, "");
}

static void
test_codes_refused (void **state)
{
    (void)state;
    /* Second entry's code is on line 2 + 7 + 1 = 11 (entry 1: lines 3..9). */
    s_refused (HEAD ENTRY ("A1", "\"LABOUR\"", "1") ",\n" ENTRY ("A1", "\"SEXUAL\"", "2") "\n);\n",
               "CATALOGUE_DUPLICATE_CODE", 11, "indicators.[1].code");
    s_refused (HEAD ENTRY ("lower_case", "\"LABOUR\"", "1") "\n);\n", "CATALOGUE_BAD_CODE", 4,
               "indicators.[0].code");
    s_refused (HEAD ENTRY ("1ST", "\"LABOUR\"", "1") "\n);\n", "CATALOGUE_BAD_CODE", 4,
               "indicators.[0].code");
    s_refused (HEAD ENTRY ("A", "\"LABOUR\"", "1") "\n);\n", "CATALOGUE_BAD_CODE", 4,
               "indicators.[0].code");
    s_refused (HEAD ENTRY ("A-B", "\"LABOUR\"", "1") "\n);\n", "CATALOGUE_BAD_CODE", 4,
               "indicators.[0].code");
    s_refused (HEAD ENTRY ("", "\"LABOUR\"", "1") "\n);\n", "CONFIG_RANGE", 4,
               "indicators.[0].code");
    /* 49 characters: one too many. */
    s_refused (HEAD ENTRY ("A234567890123456789012345678901234567890123456789", "\"LABOUR\"",
                           "1") "\n);\n",
               "CONFIG_RANGE", 4, "indicators.[0].code");
    /* The duplicate message names the first definition's line. */
    ln_error_t err;
    s_write (HEAD ENTRY ("A1", "\"LABOUR\"", "1") ",\n" ENTRY ("A1", "\"SEXUAL\"", "2") "\n);\n");
    assert_null (ln_catalogue_load (s_path, &err));
    unlink (s_path);
    assert_non_null (strstr (err.message, "already defined at line 4"));
}

static void
test_labels_forms_weights_refused (void **state)
{
    (void)state;
    s_refused (HEAD "  {\n    code = \"A1\";\n    label_nl = \"\";\n    label_en = \"L\";\n"
                    "    forms = [\"LABOUR\"];\n    weight = 1;\n  }\n);\n",
               "CONFIG_RANGE", 5, "indicators.[0].label_nl");
    s_refused (HEAD
               "  {\n    code = \"A1\";\n    label_nl = \"L\";\n    label_en = \"two\\nlines\";\n"
               "    forms = [\"LABOUR\"];\n    weight = 1;\n  }\n);\n",
               "CATALOGUE_BAD_LABEL", 6, "indicators.[0].label_en");
    s_refused (HEAD "  {\n    code = \"A1\";\n    label_nl = \" \";\n    label_en = \"L\";\n"
                    "    forms = [\"LABOUR\"];\n    weight = 1;\n  }\n);\n",
               "CATALOGUE_BAD_LABEL", 5, "indicators.[0].label_nl");
    s_refused (HEAD
               "  {\n    code = \"A1\";\n    label_nl = \"esc \\x1b[31m\";\n    label_en = \"L\";\n"
               "    forms = [\"LABOUR\"];\n    weight = 1;\n  }\n);\n",
               "CATALOGUE_BAD_LABEL", 5, "indicators.[0].label_nl");
    /* forms is on line 7 of the file (the entry's 5th line). */
    s_refused (HEAD ENTRY ("A1", "\"LABOUR\", \"FORCED\"", "1") "\n);\n", "CATALOGUE_UNKNOWN_FORM",
               7, "indicators.[0].forms.[1]");
    s_refused (HEAD ENTRY ("A1", "\"labour\"", "1") "\n);\n", "CATALOGUE_UNKNOWN_FORM", 7,
               "indicators.[0].forms.[0]");
    s_refused (HEAD ENTRY ("A1", "\"UNSPECIFIED\"", "1") "\n);\n", "CATALOGUE_UNKNOWN_FORM", 7,
               "indicators.[0].forms.[0]");
    s_refused (HEAD ENTRY ("A1", "\"SEXUAL\", \"SEXUAL\"", "1") "\n);\n",
               "CATALOGUE_DUPLICATE_FORM", 7, "indicators.[0].forms.[1]");
    s_refused (HEAD ENTRY ("A1", "", "1") "\n);\n", "CONFIG_RANGE", 7, "indicators.[0].forms");
    s_refused (HEAD ENTRY ("A1", "\"LABOUR\"", "0") "\n);\n", "CONFIG_RANGE", 8,
               "indicators.[0].weight");
    s_refused (HEAD ENTRY ("A1", "\"LABOUR\"", "6") "\n);\n", "CONFIG_RANGE", 8,
               "indicators.[0].weight");
    s_refused (HEAD ENTRY ("A1", "\"LABOUR\"", "\"3\"") "\n);\n", "CONFIG_TYPE", 8,
               "indicators.[0].weight");
    s_refused (HEAD ENTRY ("A1", "\"LABOUR\"", "2.5") "\n);\n", "CONFIG_TYPE", 8,
               "indicators.[0].weight");
}

static void
test_missing_file (void **state)
{
    (void)state;
    ln_error_t err;
    assert_null (ln_catalogue_load ("/nonexistent/indicators.cfg", &err));
    assert_string_equal (err.code, "CONFIG_IO");
    assert_null (ln_catalogue_load ("/nonexistent/indicators.cfg", NULL));
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_shipped_catalogue_loads),
        cmocka_unit_test (test_small_catalogue_reads_back),
        cmocka_unit_test (test_structure_refused),
        cmocka_unit_test (test_codes_refused),
        cmocka_unit_test (test_labels_forms_weights_refused),
        cmocka_unit_test (test_missing_file),
        cmocka_unit_test (test_named_weights_read_back),
        cmocka_unit_test (test_named_weights_refused),
        cmocka_unit_test (test_digest),
    };
    return cmocka_run_group_tests_name ("ln_catalogue", tests, NULL, NULL);
}
