/*  Unit tests for intake_country: every ISO 3166-1 country is found by both
    of its codes and its alpha-3 code leads to its alpha-2 code (a search
    over every 2- and 3-letter combination, so a table out of order, a
    missing or a doubled entry shows as a wrong count); anything else is
    not a country. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "intake_country.h"

/* The countries of iso-codes 4.15 (249) and Kosovo. */
#define COUNTRIES 250

static void
test_every_code_once (void **state)
{
    (void)state;
    char code[4] = {0}, a2[3];
    int two = 0, three = 0;
    for (char x = 'A'; x <= 'Z'; x++)
        for (char y = 'A'; y <= 'Z'; y++) {
            code[0] = x;
            code[1] = y;
            code[2] = '\0';
            two += intake_country_find (code, NULL);
            for (char z = 'A'; z <= 'Z'; z++) {
                code[2] = z;
                if (!intake_country_find (code, a2))
                    continue;
                three++;
                /* the alpha-2 code it leads to is a country, and leads to itself */
                char back[3];
                assert_int_equal (strlen (a2), 2);
                assert_true (intake_country_find (a2, back));
                assert_string_equal (back, a2);
            }
        }
    assert_int_equal (two, COUNTRIES);
    assert_int_equal (three, COUNTRIES);
}

static void
test_known_pairs (void **state)
{
    (void)state;
    static const char *const pairs[][2] = {
        {"NLD", "NL"}, {"DEU", "DE"}, {"BEL", "BE"}, {"POL", "PL"}, {"ROU", "RO"}, {"BGR", "BG"},
        {"UKR", "UA"}, {"XKX", "XK"}, {"ABW", "AW"}, {"ZWE", "ZW"}, {"GBR", "GB"}, {"SGS", "GS"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        char a2[3] = "";
        assert_true (intake_country_find (pairs[i][0], a2));
        assert_string_equal (a2, pairs[i][1]);
        assert_true (intake_country_find (pairs[i][1], a2));
        assert_string_equal (a2, pairs[i][1]);
    }
}

static void
test_not_countries (void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",    "D",   "nl",  "nld", "Nl",  "NLDD", "N L", "UK", "EU",
        "XXA", "XXX", "ZZZ", "QQ",  "AAA", "DE ",  "1A",  "É",  NULL,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char a2[3] = "?";
        assert_false (intake_country_find (bad[i], a2));
        assert_string_equal (a2, "?"); /* untouched */
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_every_code_once),
        cmocka_unit_test (test_known_pairs),
        cmocka_unit_test (test_not_countries),
    };
    return cmocka_run_group_tests_name ("intake_country", tests, NULL, NULL);
}
