/*  Unit tests for triage_tz and triage_meeting's slot: local time in a
    named zone from the system's tz database (Debian's tzdata), correct on
    both sides of every daylight-saving change, in the distant past (the
    zone's transitions) and future (its POSIX rule), with gaps and
    overlaps resolved as documented; the weekly slot and the next meeting
    with a clock that the test controls.  Expected values were computed
    with Python's zoneinfo. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage.h"
#include "triage_meeting.h"
#include "triage_tz.h"

#define US(s) ((int64_t)(s)*1000000)

/* Local wall clock (as if UTC) of a civil time. */
static int64_t
s_local (int y, unsigned m, unsigned d, int h, int mi)
{
    return triage_days_from_civil (y, m, d) * 86400 + h * 3600 + mi * 60;
}

static triage_tz_t *
s_amsterdam (void)
{
    ln_error_t err;
    triage_tz_t *tz = triage_tz_load ("Europe/Amsterdam", &err);
    if (!tz)
        fail_msg ("Europe/Amsterdam: %s (is tzdata installed?)", err.message);
    return tz;
}

static void
test_amsterdam_offsets (void **state)
{
    (void)state;
    triage_tz_t *tz = s_amsterdam ();
    /* Tuesdays at 10:00 around both changes of 2026 (29 March, 25 October). */
    assert_int_equal (triage_tz_to_utc (tz, s_local (2026, 3, 24, 10, 0)), 1774342800); /* +1 */
    assert_int_equal (triage_tz_to_utc (tz, s_local (2026, 3, 31, 10, 0)), 1774944000); /* +2 */
    assert_int_equal (triage_tz_to_utc (tz, s_local (2026, 10, 20, 10, 0)), 1792483200);
    assert_int_equal (triage_tz_to_utc (tz, s_local (2026, 10, 27, 10, 0)), 1793091600);
    /* The change itself: 01:00 UTC on 29 March; one second before, +1. */
    int64_t change = triage_days_from_civil (2026, 3, 29) * 86400 + 3600;
    assert_int_equal (triage_tz_offset (tz, change - 1), 3600);
    assert_int_equal (triage_tz_offset (tz, change), 7200);
    /* Beyond the file's transitions (its POSIX rule): 2040. */
    assert_int_equal (triage_tz_to_utc (tz, s_local (2040, 7, 3, 10, 0)), 2224915200);
    assert_int_equal (triage_tz_to_utc (tz, s_local (2040, 1, 3, 10, 0)), 2209194000);
    /* Before the EU rules (1990: summer time ended on 30 September, which
       the rule of today would put at 28 October). */
    assert_int_equal (triage_tz_to_utc (tz, s_local (1990, 10, 2, 10, 0)), 654858000);
    assert_int_equal (triage_tz_to_utc (tz, s_local (1990, 9, 25, 10, 0)), 654249600);
    /* A local time that does not exist (02:30 on 29 March 2026) is the
       same distance after the change: 03:30 CEST. */
    assert_int_equal (triage_tz_to_utc (tz, s_local (2026, 3, 29, 2, 30)), 1774747800);
    /* One that happens twice (02:30 on 25 October 2026): the first. */
    assert_int_equal (triage_tz_to_utc (tz, s_local (2026, 10, 25, 2, 30)), 1792888200);
    assert_string_equal (triage_tz_name (tz), "Europe/Amsterdam");
    triage_tz_destroy (&tz);
    assert_null (tz);
    triage_tz_destroy (&tz);
}

static void
test_rules (void **state)
{
    (void)state;
    ln_error_t err;
    /* Amsterdam's rule alone gives the same 2026 answers. */
    triage_tz_t *tz = triage_tz_from_rule ("CET-1CEST,M3.5.0,M10.5.0/3", &err);
    assert_non_null (tz);
    assert_int_equal (triage_tz_to_utc (tz, s_local (2026, 3, 24, 10, 0)), 1774342800);
    assert_int_equal (triage_tz_to_utc (tz, s_local (2026, 3, 31, 10, 0)), 1774944000);
    assert_int_equal (triage_tz_to_utc (tz, s_local (2026, 10, 27, 10, 0)), 1793091600);
    triage_tz_destroy (&tz);
    /* Southern hemisphere: summer time across the new year. */
    tz = triage_tz_from_rule ("AEST-10AEDT,M10.1.0,M4.1.0/3", &err);
    assert_non_null (tz);
    assert_int_equal (triage_tz_offset (tz, s_local (2026, 1, 15, 12, 0)), 11 * 3600);
    assert_int_equal (triage_tz_offset (tz, s_local (2026, 7, 15, 12, 0)), 10 * 3600);
    triage_tz_destroy (&tz);
    /* Fixed offsets, <+NN> names, J and zero-based days. */
    tz = triage_tz_from_rule ("<+0330>-3:30", &err);
    assert_non_null (tz);
    assert_int_equal (triage_tz_offset (tz, 0), 3 * 3600 + 1800);
    triage_tz_destroy (&tz);
    tz = triage_tz_from_rule ("EST5EDT,J60/2,300", &err);
    assert_non_null (tz);
    assert_int_equal (triage_tz_offset (tz, s_local (2026, 6, 1, 12, 0)), -4 * 3600);
    assert_int_equal (triage_tz_offset (tz, s_local (2026, 1, 1, 12, 0)), -5 * 3600);
    triage_tz_destroy (&tz);
    /* Refused. */
    static const char *const bad[] = {"",
                                      "X",
                                      "CET",
                                      "CET-1CEST,M3.5.0",
                                      "CET-25",
                                      "CET-1CEST,M13.5.0,M10.5.0",
                                      "CET-1CEST,M3.6.0,M10.5.0",
                                      "CET-1CEST,M3.5.7,M10.5.0",
                                      "CET-1CEST,J0,J300",
                                      "CET-1 CEST"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.code = NULL;
        tz = triage_tz_from_rule (bad[i], &err);
        if (tz)
            fail_msg ("rule \"%s\" accepted", bad[i]);
        assert_string_equal (err.code, "TRIAGE_TZ_INVALID");
    }
    assert_null (triage_tz_from_rule (NULL, &err));
}

static void
test_zone_files_refused (void **state)
{
    (void)state;
    ln_error_t err;
    static const char *const names[] = {
        "../../etc/passwd", "/etc/localtime", "Nowhere/City", "Europe/Amsterdam;rm", "", NULL};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        err.code = NULL;
        assert_null (triage_tz_load (names[i], &err));
        assert_string_equal (err.code, "TRIAGE_TZ_UNKNOWN");
    }
    /* Not TZif; and a real file cut short at every length. */
    static const uint8_t junk[] = "TZjf2 not a zone file at all, no no no no no no no no no";
    assert_null (triage_tz_from_tzif ("junk", junk, sizeof junk, &err));
    assert_string_equal (err.code, "TRIAGE_TZ_INVALID");
    FILE *f = fopen ("/usr/share/zoneinfo/Europe/Amsterdam", "rb");
    assert_non_null (f);
    uint8_t buf[8192];
    size_t size = fread (buf, 1, sizeof buf, f);
    fclose (f);
    assert_true (size > 100 && size < sizeof buf);
    triage_tz_t *tz = triage_tz_from_tzif ("whole", buf, size, &err);
    assert_non_null (tz);
    triage_tz_destroy (&tz);
    size_t accepted = 0;
    for (size_t cut = 0; cut < size; cut++) {
        tz = triage_tz_from_tzif ("cut", buf, cut, &err);
        if (tz) /* only a cut inside the footer can still be a zone */
            accepted++;
        triage_tz_destroy (&tz);
    }
    assert_true (accepted < 64);
    /* UTC has no transition and no DST. */
    tz = triage_tz_load ("UTC", &err);
    assert_non_null (tz);
    assert_int_equal (triage_tz_offset (tz, 1774944000), 0);
    assert_int_equal (triage_tz_to_utc (tz, 1774944000), 1774944000);
    triage_tz_destroy (&tz);
}

static void
test_slot (void **state)
{
    (void)state;
    ln_error_t err;
    /* Config mistakes. */
    static const char *const days[] = {"tue", "dinsdag", "", NULL};
    for (size_t i = 0; i < sizeof days / sizeof days[0]; i++) {
        err.code = NULL;
        assert_null (triage_slot_new (days[i], "10:00", "Europe/Amsterdam", &err));
        assert_string_equal (err.code, "TRIAGE_BAD_WEEKDAY");
    }
    static const char *const times[] = {"24:00", "9:00", "10:60", "10-00", "10:00 ", "", NULL};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++) {
        err.code = NULL;
        assert_null (triage_slot_new ("tuesday", times[i], "Europe/Amsterdam", &err));
        assert_string_equal (err.code, "TRIAGE_BAD_TIME");
    }
    assert_null (triage_slot_new ("tuesday", "10:00", "Mars/Olympus", &err));
    assert_string_equal (err.code, "TRIAGE_TZ_UNKNOWN");
    triage_slot_t *s = triage_slot_new ("SUNDAY", "23:59", "Europe/Amsterdam", &err);
    assert_non_null (s);
    triage_slot_destroy (&s);
    s = triage_slot_new ("monday", "00:00", "Europe/Amsterdam", &err);
    assert_non_null (s);
    triage_slot_destroy (&s);

    /* Tuesday 10:00 Europe/Amsterdam. */
    s = triage_slot_new ("Tuesday", "10:00", "Europe/Amsterdam", &err);
    assert_non_null (s);
    assert_string_equal (triage_slot_zone (s), "Europe/Amsterdam");
    /* Monday 30 March 2026, 12:00 UTC: tomorrow 10:00 CEST = 08:00 UTC. */
    int64_t mon = US (1774872000);
    assert_int_equal (triage_meeting_next (s, mon), US (1774944000));
    /* Exactly at the start: that meeting; a microsecond later: the next
       week's (7 days later, same offset). */
    assert_int_equal (triage_meeting_next (s, US (1774944000)), US (1774944000));
    assert_int_equal (triage_meeting_next (s, US (1774944000) + 1),
                      US (1774944000) + US (7 * 86400));
    /* Across the change: from Monday 23 March, the 24th is 09:00 UTC; the
       meeting after that is 31 March at 08:00 UTC: 6 days 23 hours later. */
    int64_t m1 = triage_meeting_next (s, US (1774342800) - US (86400));
    assert_int_equal (m1, US (1774342800));
    int64_t m2 = triage_meeting_next (s, m1 + 1);
    assert_int_equal (m2, US (1774944000));
    assert_int_equal (m2 - m1, US (7 * 86400 - 3600));
    /* And back in October: 7 days and one hour. */
    int64_t m3 = triage_meeting_next (s, US (1792483200) + 1);
    assert_int_equal (m3, US (1793091600));
    assert_int_equal (m3 - US (1792483200), US (7 * 86400 + 3600));
    /* Upcoming: on the meeting day after the meeting, still today's; the
       day after, next week's. */
    assert_int_equal (triage_meeting_upcoming (s, US (1774944000) + US (6 * 3600)),
                      US (1774944000));
    assert_int_equal (triage_meeting_upcoming (s, US (1774944000) + US (86400)),
                      US (1774944000) + US (7 * 86400));
    /* Late on Monday local (23:30 CEST = 21:30 UTC): tomorrow's. */
    assert_int_equal (triage_meeting_upcoming (s, US (1774944000) - US (10 * 3600 + 1800)),
                      US (1774944000));
    /* Ids are local dates; parsing them back. */
    char id[16];
    triage_meeting_id (s, US (1774944000), id, sizeof id);
    assert_string_equal (id, "2026-03-31");
    int64_t day, start;
    assert_int_equal (triage_meeting_parse (s, "2026-03-31", &day, &start), 1);
    assert_int_equal (start, US (1774944000));
    assert_int_equal (triage_meeting_parse (s, "2026-03-24", &day, &start), 1);
    assert_int_equal (start, US (1774342800));
    assert_int_equal (triage_meeting_parse (s, "2026-03-30", &day, &start), 0);
    assert_int_equal (triage_meeting_parse (s, "2026-02-30", &day, &start), -1);
    assert_int_equal (triage_meeting_parse (s, "31-03-2026", &day, &start), -1);
    assert_int_equal (triage_meeting_parse (s, NULL, &day, &start), -1);
    triage_slot_destroy (&s);
}

static void
test_dates (void **state)
{
    (void)state;
    int64_t d;
    char out[16];
    assert_int_equal (triage_date_parse ("1970-01-01", &d), 0);
    assert_int_equal (d, 0);
    assert_int_equal (triage_date_parse ("2024-02-29", &d), 0);
    triage_date_format (d, out, sizeof out);
    assert_string_equal (out, "2024-02-29");
    assert_int_equal (triage_date_parse ("2023-02-29", &d), -1);
    assert_int_equal (triage_date_parse ("1899-12-31", &d), -1);
    assert_int_equal (triage_date_parse ("1900-01-01", &d), 0);
    assert_int_equal (triage_date_parse ("2026-13-01", &d), -1);
    assert_int_equal (triage_date_parse ("2026-1-01", &d), -1);
    assert_int_equal (triage_date_parse ("2026-01-011", &d), -1);
    assert_int_equal (triage_date_parse ("2026/01/01", &d), -1);
    for (int64_t day = -800000; day < 3000000; day += 997) {
        int64_t y;
        unsigned m, dd;
        triage_civil_from_days (day, &y, &m, &dd);
        assert_int_equal (triage_days_from_civil (y, m, dd), day);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_amsterdam_offsets),
        cmocka_unit_test (test_rules),
        cmocka_unit_test (test_zone_files_refused),
        cmocka_unit_test (test_slot),
        cmocka_unit_test (test_dates),
    };
    return cmocka_run_group_tests_name ("triage_meeting", tests, NULL, NULL);
}
