/*  Unit tests of the message checks of triage_decide and triage_query:
    every rule is shown refusing (its code, its field path relative to the
    command's message) and, just on the other side of it, accepting.  The
    rules that need the store (NOT_FOUND, CASE_MERGED, CASE_CHANGED,
    TRACK_FINISHED, ...) are in tests/integration/test_triage_store.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "triage.h"
#include "triage_decide.h"
#include "triage_query.h"

#define TK(x) LANTERN__V1__TRACK_KIND__TRACK_KIND_##x
#define TS(x) LANTERN__V1__TRACK_STATE__TRACK_STATE_##x

/* 2026-06-02 */
static int64_t s_today;

/* A decision that passes: CARE + MORE_INFORMATION on 2026-06-02. */
typedef struct {
    Lantern__V1__RecordDecision cmd;
    Lantern__V1__TrackSpec specs[TRIAGE_TRACKS_MAX + 1];
    Lantern__V1__TrackSpec *tracks[TRIAGE_TRACKS_MAX + 1];
    char *attendees[TRIAGE_ATTENDEES_MAX + 1];
    char names[TRIAGE_ATTENDEES_MAX + 1][16];
} decision_t;

static void
s_decision (decision_t *d)
{
    memset (d, 0, sizeof *d);
    lantern__v1__record_decision__init (&d->cmd);
    d->cmd.case_id = (char *)"case-abcdefghijklmnopqrstuvwxyz";
    d->cmd.meeting_id = (char *)"2026-06-02";
    for (size_t i = 0; i <= TRIAGE_ATTENDEES_MAX; i++) {
        snprintf (d->names[i], sizeof d->names[i], "Partner %zu", i);
        d->attendees[i] = d->names[i];
    }
    d->cmd.attendees = d->attendees;
    d->cmd.n_attendees = 2;
    for (size_t i = 0; i <= TRIAGE_TRACKS_MAX; i++) {
        lantern__v1__track_spec__init (&d->specs[i]);
        d->specs[i].kind = TK (CARE);
        d->specs[i].lead_organisation = d->names[i % TRIAGE_ATTENDEES_MAX];
        d->specs[i].deadline = (char *)"2026-07-01";
        d->tracks[i] = &d->specs[i];
    }
    d->specs[1].kind = TK (MORE_INFORMATION);
    d->cmd.tracks = d->tracks;
    d->cmd.n_tracks = 2;
}

static void
s_ok (const decision_t *d, bool minor)
{
    ln_error_t err;
    ln_error_clear (&err);
    if (triage_decide_check_record (&d->cmd, s_today, minor, &err) != 0)
        fail_msg ("refused: %s (%s)", err.message, err.code);
}

static void
s_no (const decision_t *d, bool minor, const char *code, const char *field)
{
    ln_error_t err;
    ln_error_clear (&err);
    if (triage_decide_check_record (&d->cmd, s_today, minor, &err) == 0)
        fail_msg ("accepted, want %s at %s", code, field);
    if (strcmp (err.code, code) != 0 || strcmp (err.field, field) != 0)
        fail_msg ("got %s at %s (%s), want %s at %s", err.code, err.field, err.message, code,
                  field);
    /* The message names the field first. */
    assert_int_equal (strncmp (err.message, field, strlen (field)), 0);
}

/* A string of n bytes of c (static buffer per slot). */
static char *
s_fill (int slot, char c, size_t n)
{
    static char buf[4][TRIAGE_MINUTES_MAX + 2];
    memset (buf[slot], c, n);
    buf[slot][n] = '\0';
    return buf[slot];
}

static void
test_record_case_and_meeting (void **state)
{
    (void)state;
    decision_t d;
    s_decision (&d);
    s_ok (&d, false);
    d.cmd.case_id = (char *)" ";
    s_no (&d, false, "MISSING_CASE_ID", "case_id");
    d.cmd.case_id = (char *)"sig-abcdefghijklmnopqrstuvwxyz";
    s_no (&d, false, "INVALID_CASE_ID", "case_id");
    d.cmd.case_id = (char *)"case-abcdefghijklmnopqrstuvwxy";
    s_no (&d, false, "INVALID_CASE_ID", "case_id");
    s_decision (&d);
    d.cmd.case_revision = (char *)"0123456789abcdeF";
    s_no (&d, false, "INVALID_REVISION", "case_revision");
    d.cmd.case_revision = (char *)"0123456789abcde";
    s_no (&d, false, "INVALID_REVISION", "case_revision");
    d.cmd.case_revision = (char *)"0123456789abcdef";
    s_ok (&d, false);
    d.cmd.meeting_id = (char *)"";
    s_no (&d, false, "MISSING_MEETING", "meeting_id");
    d.cmd.meeting_id = (char *)"2 June 2026";
    s_no (&d, false, "INVALID_DATE", "meeting_id");
    d.cmd.meeting_id = (char *)"2026-06-31";
    s_no (&d, false, "INVALID_DATE", "meeting_id");
    d.cmd.meeting_id = (char *)"2026-06-03"; /* tomorrow */
    s_no (&d, false, "DATE_IN_FUTURE", "meeting_id");
    d.cmd.meeting_id = (char *)"2026-05-26"; /* last week's: may be recorded late */
    s_ok (&d, false);
}

static void
test_record_attendees (void **state)
{
    (void)state;
    decision_t d;
    s_decision (&d);
    d.cmd.n_attendees = 0;
    s_no (&d, false, "MISSING_ATTENDEES", "attendees");
    d.cmd.n_attendees = 1;
    s_ok (&d, false);
    d.cmd.n_attendees = TRIAGE_ATTENDEES_MAX;
    s_ok (&d, false);
    d.cmd.n_attendees = TRIAGE_ATTENDEES_MAX + 1;
    s_no (&d, false, "TOO_MANY_ATTENDEES", "attendees");
    s_decision (&d);
    d.attendees[1] = (char *)"\t";
    s_no (&d, false, "EMPTY_ATTENDEE", "attendees[1]");
    d.attendees[1] = d.names[0];
    s_no (&d, false, "DUPLICATE_ATTENDEE", "attendees[1]");
    d.attendees[1] = s_fill (0, 'x', TRIAGE_ORG_TEXT_MAX + 1);
    s_no (&d, false, "TEXT_TOO_LONG", "attendees[1]");
    d.attendees[1] = s_fill (0, 'x', TRIAGE_ORG_TEXT_MAX);
    s_ok (&d, false);
    d.attendees[1] = (char *)"Politie\nLimburg";
    s_no (&d, false, "CONTROL_CHARACTER", "attendees[1]");
    d.attendees[1] = (char *)"Politie \xe2\x80\xae Limburg"; /* a bidi override */
    s_no (&d, false, "CONTROL_CHARACTER", "attendees[1]");
    d.attendees[1] = (char *)"Politie \xc3 Limburg";
    s_no (&d, false, "INVALID_UTF8", "attendees[1]");
    d.attendees[1] = (char *)"Politie Limburg-Noord \xc3\xa9";
    s_ok (&d, false);
}

static void
test_record_tracks (void **state)
{
    (void)state;
    decision_t d;
    s_decision (&d);
    d.cmd.n_tracks = 0;
    s_no (&d, false, "MISSING_TRACKS", "tracks");
    d.cmd.n_tracks = TRIAGE_TRACKS_MAX;
    for (size_t i = 0; i < TRIAGE_TRACKS_MAX; i++)
        d.specs[i].kind = TK (CARE); /* different leads: no duplicates */
    s_ok (&d, false);
    d.cmd.n_tracks = TRIAGE_TRACKS_MAX + 1;
    s_no (&d, false, "TOO_MANY_TRACKS", "tracks");

    s_decision (&d);
    d.specs[1].kind = TK (UNSPECIFIED);
    s_no (&d, false, "MISSING_TRACK_KIND", "tracks[1].kind");
    d.specs[1].kind = 8;
    s_no (&d, false, "UNKNOWN_TRACK_KIND", "tracks[1].kind");
    d.specs[1].kind = TK (NO_ACTION);
    d.specs[1].lead_organisation = (char *)"";
    d.specs[1].deadline = (char *)"";
    d.cmd.no_action_reason = (char *)"nothing to act on";
    s_no (&d, false, "NO_ACTION_WITH_OTHER_TRACK", "tracks[0].kind");
    /* NO_ACTION alone, with its reason: fine; without a reason: refused;
       a reason without NO_ACTION: refused. */
    d.specs[0] = d.specs[1];
    d.cmd.n_tracks = 1;
    s_ok (&d, false);
    d.cmd.no_action_reason = (char *)"  ";
    s_no (&d, false, "MISSING_NO_ACTION_REASON", "no_action_reason");
    d.cmd.no_action_reason = s_fill (1, 'r', TRIAGE_REASON_MAX + 1);
    s_no (&d, false, "TEXT_TOO_LONG", "no_action_reason");
    d.cmd.no_action_reason = s_fill (1, 'r', TRIAGE_REASON_MAX);
    s_ok (&d, false);
    d.specs[0].lead_organisation = (char *)"Gemeente Venlo";
    s_no (&d, false, "NO_ACTION_WITH_LEAD", "tracks[0].lead_organisation");
    d.specs[0].lead_organisation = (char *)"";
    d.specs[0].deadline = (char *)"2026-07-01";
    s_no (&d, false, "NO_ACTION_WITH_DEADLINE", "tracks[0].deadline");
    s_decision (&d);
    d.cmd.no_action_reason = (char *)"why not";
    s_no (&d, false, "REASON_WITHOUT_NO_ACTION", "no_action_reason");

    /* Lead and deadline where needed. */
    s_decision (&d);
    d.specs[1].lead_organisation = (char *)"";
    s_no (&d, false, "MISSING_LEAD_ORGANISATION", "tracks[1].lead_organisation");
    d.specs[1].lead_organisation = s_fill (2, 'o', TRIAGE_ORG_TEXT_MAX + 1);
    s_no (&d, false, "TEXT_TOO_LONG", "tracks[1].lead_organisation");
    d.specs[1].lead_organisation = (char *)"Politie";
    d.specs[1].deadline = (char *)"";
    s_no (&d, false, "MISSING_DEADLINE", "tracks[1].deadline");
    d.specs[1].deadline = (char *)"1-7-2026";
    s_no (&d, false, "INVALID_DATE", "tracks[1].deadline");
    d.specs[1].deadline = (char *)"2026-06-01"; /* the day before the meeting */
    s_no (&d, false, "DEADLINE_BEFORE_MEETING", "tracks[1].deadline");
    d.specs[1].deadline = (char *)"2026-06-02"; /* the meeting's day itself */
    s_ok (&d, false);
    d.specs[1].note = s_fill (3, 'n', TRIAGE_NOTE_MAX + 1);
    s_no (&d, false, "TEXT_TOO_LONG", "tracks[1].note");
    d.specs[1].note = (char *)"first line\nsecond line\twith a tab";
    s_ok (&d, false);
    d.specs[1].note = (char *)"bell\a";
    s_no (&d, false, "CONTROL_CHARACTER", "tracks[1].note");
    d.specs[1].note = (char *)"";
    /* The same kind twice with the same lead; with another lead: fine. */
    d.specs[1].kind = TK (CARE);
    d.specs[1].lead_organisation = d.specs[0].lead_organisation;
    s_no (&d, false, "DUPLICATE_TRACK", "tracks[1]");
    d.specs[1].lead_organisation = (char *)"Another care provider";
    s_ok (&d, false);
}

static void
test_record_texts_and_minor (void **state)
{
    (void)state;
    decision_t d;
    s_decision (&d);
    d.cmd.minutes = s_fill (0, 'm', TRIAGE_MINUTES_MAX);
    s_ok (&d, false);
    d.cmd.minutes = s_fill (0, 'm', TRIAGE_MINUTES_MAX + 1);
    s_no (&d, false, "TEXT_TOO_LONG", "minutes");
    d.cmd.minutes = (char *)"\x1b[31mred";
    s_no (&d, false, "CONTROL_CHARACTER", "minutes");
    d.cmd.minutes = (char *)"";
    /* A minor involved: YOUTH_PROTECTION, or a stated reason. */
    s_no (&d, true, "MINOR_WITHOUT_YOUTH_PROTECTION", "no_youth_protection_reason");
    s_ok (&d, false);
    d.cmd.no_youth_protection_reason = (char *)"Veilig Thuis is involved already";
    s_ok (&d, true);
    d.cmd.no_youth_protection_reason = s_fill (1, 'y', TRIAGE_REASON_MAX + 1);
    s_no (&d, true, "TEXT_TOO_LONG", "no_youth_protection_reason");
    d.cmd.no_youth_protection_reason = (char *)"";
    d.specs[1].kind = TK (YOUTH_PROTECTION);
    s_ok (&d, true);
    /* NO_ACTION with a minor needs both reasons. */
    s_decision (&d);
    d.specs[0].kind = TK (NO_ACTION);
    d.specs[0].lead_organisation = (char *)"";
    d.specs[0].deadline = (char *)"";
    d.cmd.n_tracks = 1;
    d.cmd.no_action_reason = (char *)"no indicators";
    s_no (&d, true, "MINOR_WITHOUT_YOUTH_PROTECTION", "no_youth_protection_reason");
    d.cmd.no_youth_protection_reason = (char *)"reported to Veilig Thuis separately";
    s_ok (&d, true);
}

static void
s_update_no (Lantern__V1__UpdateTrack *u, const char *code, const char *field)
{
    ln_error_t err;
    ln_error_clear (&err);
    if (triage_decide_check_update (u, &err) == 0)
        fail_msg ("accepted, want %s", code);
    if (strcmp (err.code, code) != 0 || strcmp (err.field, field) != 0)
        fail_msg ("got %s at %s, want %s at %s", err.code, err.field, code, field);
}

static void
test_update_close_ack (void **state)
{
    (void)state;
    ln_error_t err;
    Lantern__V1__UpdateTrack u = LANTERN__V1__UPDATE_TRACK__INIT;
    u.track_id = (char *)"trk-abcdefghijklmnopqrstuvwxyz";
    u.state = TS (IN_PROGRESS);
    assert_int_equal (triage_decide_check_update (&u, &err), 0);
    u.track_id = (char *)"";
    s_update_no (&u, "MISSING_TRACK_ID", "track_id");
    u.track_id = (char *)"dec-abcdefghijklmnopqrstuvwxyz";
    s_update_no (&u, "INVALID_TRACK_ID", "track_id");
    u.track_id = (char *)"trk-abcdefghijklmnopqrstuvwxyz";
    u.state = TS (UNSPECIFIED);
    s_update_no (&u, "MISSING_STATE", "state");
    u.state = TS (OPEN);
    s_update_no (&u, "INVALID_STATE", "state");
    u.state = 9;
    s_update_no (&u, "INVALID_STATE", "state");
    u.state = TS (DONE);
    s_update_no (&u, "MISSING_OUTCOME", "outcome");
    u.outcome = s_fill (0, 'o', TRIAGE_OUTCOME_MAX + 1);
    s_update_no (&u, "TEXT_TOO_LONG", "outcome");
    u.outcome = s_fill (0, 'o', TRIAGE_OUTCOME_MAX);
    assert_int_equal (triage_decide_check_update (&u, &err), 0);
    u.reason = (char *)"why";
    s_update_no (&u, "REASON_WITHOUT_HANDBACK", "reason");
    u.state = TS (HANDED_BACK);
    s_update_no (&u, "OUTCOME_WITHOUT_DONE", "outcome");
    u.outcome = (char *)"";
    assert_int_equal (triage_decide_check_update (&u, &err), 0);
    u.reason = (char *)"";
    s_update_no (&u, "MISSING_REASON", "reason");

    Lantern__V1__CloseCase c = LANTERN__V1__CLOSE_CASE__INIT;
    c.case_id = (char *)"case-abcdefghijklmnopqrstuvwxyz";
    assert_int_equal (triage_decide_check_close (&c, &err), 0);
    c.summary = s_fill (1, 's', TRIAGE_SUMMARY_MAX + 1);
    assert_int_equal (triage_decide_check_close (&c, &err), -1);
    assert_string_equal (err.code, "TEXT_TOO_LONG");
    assert_string_equal (err.field, "summary");
    c.summary = s_fill (1, 's', TRIAGE_SUMMARY_MAX);
    assert_int_equal (triage_decide_check_close (&c, &err), 0);
    c.case_id = (char *)"";
    assert_int_equal (triage_decide_check_close (&c, &err), -1);
    assert_string_equal (err.code, "MISSING_CASE_ID");

    Lantern__V1__AcknowledgeAlert a = LANTERN__V1__ACKNOWLEDGE_ALERT__INIT;
    a.alert_id = (char *)"alert-abcdefghijklmnopqrstuvwxyz-danger";
    assert_int_equal (triage_decide_check_ack (&a, &err), 0);
    a.alert_id = (char *)"alert-abcdefghijklmnopqrstuvwxyz-minor";
    assert_int_equal (triage_decide_check_ack (&a, &err), 0);
    a.alert_id = (char *)"alert-abcdefghijklmnopqrstuvwxyz-other";
    assert_int_equal (triage_decide_check_ack (&a, &err), -1);
    assert_string_equal (err.code, "INVALID_ALERT_ID");
    a.alert_id = (char *)"alert-abcdefghijklmnopqrstuvwxy1-minor";
    assert_int_equal (triage_decide_check_ack (&a, &err), -1);
    assert_string_equal (err.code, "INVALID_ALERT_ID");
    a.alert_id = (char *)"";
    assert_int_equal (triage_decide_check_ack (&a, &err), -1);
    assert_string_equal (err.code, "MISSING_ALERT_ID");
    a.alert_id = (char *)"alert-abcdefghijklmnopqrstuvwxyz-minor";
    a.note = s_fill (2, 'n', TRIAGE_ALERT_NOTE_MAX + 1);
    assert_int_equal (triage_decide_check_ack (&a, &err), -1);
    assert_string_equal (err.field, "note");
}

static void
test_queries (void **state)
{
    (void)state;
    ln_error_t err;
    Lantern__V1__GetCase g = LANTERN__V1__GET_CASE__INIT;
    g.case_id = (char *)"case-abcdefghijklmnopqrstuvwxyz";
    g.purpose = (char *)"screening meeting of 2 June";
    assert_int_equal (triage_query_check_get_case (&g, &err), 0);
    g.purpose = (char *)" ";
    assert_int_equal (triage_query_check_get_case (&g, &err), -1);
    assert_string_equal (err.code, "MISSING_PURPOSE");
    assert_string_equal (err.field, "purpose");
    g.purpose = s_fill (0, 'p', TRIAGE_PURPOSE_MAX + 1);
    assert_int_equal (triage_query_check_get_case (&g, &err), -1);
    assert_string_equal (err.code, "TEXT_TOO_LONG");
    g.purpose = s_fill (0, 'p', TRIAGE_PURPOSE_MAX);
    assert_int_equal (triage_query_check_get_case (&g, &err), 0);
    g.case_id = (char *)"case-x";
    assert_int_equal (triage_query_check_get_case (&g, &err), -1);
    assert_string_equal (err.code, "INVALID_CASE_ID");

    Lantern__V1__ListCases lc = LANTERN__V1__LIST_CASES__INIT;
    lc.page_size = TRIAGE_PAGE_MAX;
    assert_int_equal (triage_query_check_list_cases (&lc, &err), 0);
    lc.page_size = TRIAGE_PAGE_MAX + 1;
    assert_int_equal (triage_query_check_list_cases (&lc, &err), -1);
    assert_string_equal (err.code, "PAGE_TOO_LARGE");
    lc.page_size = 0;
    lc.page_token = (char *)"1780387200000000:case-abcdefghijklmnopqrstuvwxyz";
    assert_int_equal (triage_query_check_list_cases (&lc, &err), 0);
    static const char *const bad[] = {"x:case-abcdefghijklmnopqrstuvwxyz", ":case-a", "123",
                                      "12:sig-abcdefghijklmnopqrstuvwxyz",
                                      "1234567890123456789:case-abcdefghijklmnopqrstuvwxyz"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        lc.page_token = (char *)bad[i];
        assert_int_equal (triage_query_check_list_cases (&lc, &err), -1);
        assert_string_equal (err.code, "BAD_PAGE_TOKEN");
    }
    lc.page_token = (char *)"";
    lc.state = 9;
    assert_int_equal (triage_query_check_list_cases (&lc, &err), -1);
    assert_string_equal (err.code, "UNKNOWN_STATE");

    Lantern__V1__ListTracks lt = LANTERN__V1__LIST_TRACKS__INIT;
    lt.page_token = (char *)"2026-07-01:trk-abcdefghijklmnopqrstuvwxyz";
    assert_int_equal (triage_query_check_list_tracks (&lt, &err), 0);
    lt.page_token = (char *)"2026-13-01:trk-abcdefghijklmnopqrstuvwxyz";
    assert_int_equal (triage_query_check_list_tracks (&lt, &err), -1);
    assert_string_equal (err.code, "BAD_PAGE_TOKEN");
    lt.page_token = (char *)"";
    lt.kind = 8;
    assert_int_equal (triage_query_check_list_tracks (&lt, &err), -1);
    assert_string_equal (err.code, "UNKNOWN_TRACK_KIND");
    lt.kind = TK (NO_ACTION);
    lt.lead_organisation = (char *)"Politie\r";
    assert_int_equal (triage_query_check_list_tracks (&lt, &err), -1);
    assert_string_equal (err.field, "lead_organisation");

    Lantern__V1__ListAlerts la = LANTERN__V1__LIST_ALERTS__INIT;
    la.page_token = (char *)"5:alert-abcdefghijklmnopqrstuvwxyz-minor";
    assert_int_equal (triage_query_check_list_alerts (&la, &err), 0);
    la.page_token = (char *)"5:case-abcdefghijklmnopqrstuvwxyz";
    assert_int_equal (triage_query_check_list_alerts (&la, &err), -1);
    assert_string_equal (err.code, "BAD_PAGE_TOKEN");
}

static int
s_setup (void **state)
{
    (void)state;
    return triage_date_parse ("2026-06-02", &s_today);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_record_case_and_meeting),
        cmocka_unit_test (test_record_attendees),
        cmocka_unit_test (test_record_tracks),
        cmocka_unit_test (test_record_texts_and_minor),
        cmocka_unit_test (test_update_close_ack),
        cmocka_unit_test (test_queries),
    };
    return cmocka_run_group_tests_name ("triage_decide", tests, s_setup, NULL);
}
