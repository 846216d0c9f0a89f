/*  Unit tests for intake_municipality and its generator: every code from
    GM0000 to GM9999 is looked up, so a table out of order (bsearch would
    miss entries), a missing or a doubled municipality shows as a wrong
    count; the hints for former codes name a current municipality; and the
    generator (services/intake/municipalities.awk) refuses data it must not
    turn into a table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "intake_municipality.h"
#include "intake_validate.h"

/* The CBS classification of 1 January 2026 (unchanged since 2023), and the
   municipalities that ceased to exist from 2015 on. */
#define CURRENT 342
#define FORMER  84

static void
test_counts_over_every_code (void **state)
{
    (void)state;
    size_t current = 0, former = 0;
    char code[16], why[INTAKE_MUNICIPALITY_MESSAGE_MAX];
    for (int i = 0; i <= 9999; i++) {
        snprintf (code, sizeof code, "GM%04d", i);
        const intake_municipality_t *m = intake_municipality_find (code);
        const char *error = intake_municipality_explain (code, why, sizeof why);
        if (!m) {
            assert_string_equal (error, "UNKNOWN_MUNICIPALITY");
            assert_false (intake_municipality_valid (code));
            continue;
        }
        assert_string_equal (m->code, code);
        assert_true (m->name[0] != '\0');
        if (m->change == INTAKE_MUNICIPALITY_CURRENT) {
            current++;
            assert_null (error);
            assert_string_equal (m->ceased, "");
            assert_true (intake_municipality_valid (code));
            continue;
        }
        former++;
        assert_string_equal (error, "FORMER_MUNICIPALITY");
        assert_false (intake_municipality_valid (code));
        assert_int_equal (strlen (m->ceased), 10);
        assert_true (strcmp (m->ceased, intake_municipality_as_of ()) <= 0);
        /* the message starts with the code and its name, and ends with a
           code that exists today (directly or "today GM...") */
        char head[128];
        snprintf (head, sizeof head, "%s (%s) ", code, m->name);
        assert_int_equal (strncmp (why, head, strlen (head)), 0);
        bool names_current = false;
        for (const char *p = strstr (why, "GM"); p; p = strstr (p + 1, "GM")) {
            char next[7] = "";
            memcpy (next, p, 6);
            const intake_municipality_t *n = intake_municipality_find (next);
            names_current |= n && n->change == INTAKE_MUNICIPALITY_CURRENT;
        }
        if (!names_current)
            fail_msg ("%s: no current municipality in \"%s\"", code, why);
    }
    assert_int_equal (current, CURRENT);
    assert_int_equal (intake_municipality_current_count (), CURRENT);
    assert_int_equal (former, FORMER);
    assert_string_equal (intake_municipality_as_of (), "2026-01-01");
}

static void
test_messages (void **state)
{
    (void)state;
    static const struct {
        const char *code, *error, *message;
    } cases[] = {
        {"GM0983", NULL, ""},
        {"GM1992", NULL, ""}, /* Voorne aan Zee, the newest code */
        {"GM0518", NULL, ""}, /* 's-Gravenhage */
        {"GM0756", "FORMER_MUNICIPALITY",
         "GM0756 (Boxmeer) merged into GM1982 Land van Cuijk on 2022-01-01"},
        {"GM0457", "FORMER_MUNICIPALITY",
         "GM0457 (Weesp) merged into GM0363 Amsterdam on 2022-03-24"},
        {"GM0614", "FORMER_MUNICIPALITY",
         "GM0614 (Westvoorne) merged into GM1992 Voorne aan Zee on 2023-01-01"},
        {"GM1921", "FORMER_MUNICIPALITY",
         "GM1921 (De Friese Meren) was renamed GM1940 De Fryske Marren on 2015-07-01"},
        {"GM0265", "FORMER_MUNICIPALITY",
         "GM0265 (Millingen aan de Rijn) merged into GM0241 Groesbeek (today GM1945 Berg en Dal) "
         "on 2015-01-01"},
        {"GM0788", "FORMER_MUNICIPALITY",
         "GM0788 (Haaren) was divided among GM0757 Boxtel, GM0824 Oisterwijk, GM0855 Tilburg and "
         "GM0865 Vught on 2021-01-01: give the one where it was observed"},
        {"GM0053", "FORMER_MUNICIPALITY",
         "GM0053 (Winsum) was divided among GM1966 Het Hogeland and GM1969 Westerkwartier on "
         "2019-01-01: give the one where it was observed"},
        {"GM9999", "UNKNOWN_MUNICIPALITY",
         "GM9999 is no municipality: not in the CBS list of 2026-01-01, nor a former code"},
        {"GM1993", "UNKNOWN_MUNICIPALITY",
         "GM1993 is no municipality: not in the CBS list of 2026-01-01, nor a former code"},
        {"gm0983", "INVALID_MUNICIPALITY",
         "not a CBS municipality code: GM and 4 digits, in upper "
         "case (e.g. GM0983 for Venlo)"},
        {"GM098", "INVALID_MUNICIPALITY", NULL},
        {"GM09830", "INVALID_MUNICIPALITY", NULL},
        {"0983", "INVALID_MUNICIPALITY", NULL},
        {"GM 983", "INVALID_MUNICIPALITY", NULL},
        {"", "INVALID_MUNICIPALITY", NULL},
        {"Venlo", "INVALID_MUNICIPALITY", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char why[INTAKE_MUNICIPALITY_MESSAGE_MAX];
        const char *error = intake_municipality_explain (cases[i].code, why, sizeof why);
        if (!cases[i].error) {
            assert_null (error);
            continue;
        }
        if (!error || strcmp (error, cases[i].error) != 0)
            fail_msg ("%s: %s, expected %s", cases[i].code, error ? error : "valid",
                      cases[i].error);
        if (cases[i].message)
            assert_string_equal (why, cases[i].message);
    }
    char why[8];
    assert_string_equal (intake_municipality_explain (NULL, why, sizeof why),
                         "INVALID_MUNICIPALITY");
    assert_int_equal (strlen (why), sizeof why - 1); /* cut, never overrun */
    assert_null (intake_municipality_find (NULL));
    assert_false (intake_municipality_valid (NULL));

    ln_error_t err;
    assert_int_equal (intake_municipality_check ("GM0983", "municipality", &err), 0);
    assert_int_equal (intake_municipality_check ("GM0756", "list_signals.municipality", &err), -1);
    assert_string_equal (err.code, "FORMER_MUNICIPALITY");
    assert_string_equal (err.field, "list_signals.municipality");
    assert_string_equal (err.message, "list_signals.municipality: GM0756 (Boxmeer) merged into "
                                      "GM1982 Land van Cuijk on 2022-01-01");
}

/* Run the generator on `data`; its exit code, and stderr into err. */
static int
s_generate (const char *data, char *err, size_t size)
{
    const char *src = getenv ("LANTERN_SOURCE_DIR");
    char in[] = "/tmp/lantern-muni.XXXXXX";
    int fd = mkstemp (in);
    assert_true (fd >= 0);
    assert_int_equal (write (fd, data, strlen (data)), (ssize_t)strlen (data));
    close (fd);
    char cmd[512];
    snprintf (cmd, sizeof cmd,
              "awk -f '%s/services/intake/municipalities.awk' '%s' 2>&1 >/dev/null",
              src ? src : ".", in);
    FILE *p = popen (cmd, "r");
    assert_non_null (p);
    size_t n = fread (err, 1, size - 1, p);
    err[n] = '\0';
    int status = pclose (p);
    unlink (in);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static void
test_generator_refuses_bad_data (void **state)
{
    (void)state;
    static const struct {
        const char *data, *says;
    } cases[] = {
        {"as_of\t2026-01-01\nGM0001\tA\nGM0002\tB\t2020-01-01\tmerged\tGM0001\n", NULL},
        {"GM0001\tA\n", "as_of line must come before"},
        {"as_of\t2026-01-01\nGM0002\tA\nGM0001\tB\n", "out of order"},
        {"as_of\t2026-01-01\nGM0001\tA\nGM0001\tB\n", "out of order or repeated"},
        {"as_of\t2026-01-01\nGM001\tA\n", "not a code"},
        {"as_of\t2026-01-01\nGM0001\tA \n", "spaces around it"},
        {"as_of\t2026-01-01\nGM0001\t\"A\n", "holds"},
        {"as_of\t2026-01-01\nGM0001\tA\t2020-01-01\tmerged\tGM0009\nGM0002\tB\n",
         "not in the list"},
        {"as_of\t2026-01-01\nGM0001\tA\nGM0002\tB\t2027-01-01\tmerged\tGM0001\n",
         "after as_of 2026-01-01"},
        {"as_of\t2026-01-01\nGM0001\tA\nGM0002\tB\t2020-01-01\tswallowed\tGM0001\n",
         "merged, renamed or divided"},
        {"as_of\t2026-01-01\nGM0001\tA\nGM0002\tB\t2020-01-01\tdivided\tGM0001\n",
         "two or more successors"},
        {"as_of\t2026-01-01\nGM0001\tA\nGM0002\tB\nGM0003\tC\t2020-01-01\tmerged\tGM0001,GM0002\n",
         "exactly one successor"},
        /* a chain must move forward in time and end in a current code */
        {"as_of\t2026-01-01\nGM0001\tA\nGM0002\tB\t2020-01-01\tmerged\tGM0003\n"
         "GM0003\tC\t2019-01-01\tmerged\tGM0001\n",
         "not after 2020-01-01"},
        {"as_of\t2026-01-01\nGM0001\tA\t2020-01-01\tmerged\tGM0002\n"
         "GM0002\tB\t2021-01-01\tmerged\tGM0001\nGM0003\tC\n",
         "ceased on 2020-01-01, not after 2021-01-01"},
        {"as_of\t2026-01-01\nas_of\t2026-01-01\nGM0001\tA\n", "as_of given twice"},
        {"as_of\t2026-01-01\n", "no current municipality"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512];
        int rc = s_generate (cases[i].data, err, sizeof err);
        if (!cases[i].says) {
            assert_int_equal (rc, 0);
            continue;
        }
        if (rc != 1 || !strstr (err, cases[i].says))
            fail_msg ("case %zu: exit %d, expected 1 and '%s' in: %s", i, rc, cases[i].says, err);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_counts_over_every_code),
        cmocka_unit_test (test_messages),
        cmocka_unit_test (test_generator_refuses_bad_data),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
