/*  test_triage: the screening meeting's node end to end, through real
    processes (issue 11 "Acceptance"): two lantern-intake nodes and one
    lantern-triage (tests/support/triage_region), real PostgreSQL, real
    CURVE, signals submitted by attention officers and followed by triage,
    cases read and decided by the chair over the wire, triage's stream read
    by care, police and the intake nodes themselves.

    The region of the first group lives through its tests, which build on
    each other in order (the cases of the scenario are decided later):
      - one person written differently at two nodes: one case with both
        partners and the reason of the link; an unrelated signal its own
        case; a common name alone links nothing; a third signal merging two
        cases (both ids resolve);
      - the agenda ordered by priority, every score the sum of its terms;
      - an immediate-danger signal's alert within one second of the
        officer's acknowledgement;
      - refusals (NO_ACTION without a reason, NO_ACTION with another
        track, a chair of another meeting, a partner deciding) each with
        its own code and field, changing nothing; a CARE decision reaching
        a care subscriber with the victims only, a CRIMINAL one reaching
        police; MORE_INFORMATION back on the agenda at its deadline (the
        node's test clock);
      - each intake node sees the outcome of its own signals and nothing of
        the other's (every field of every event it receives), and its
        signals' status moves (SCHEDULED, TRACKS_OPENED, MORE_INFORMATION,
        CLOSED_NO_ACTION);
      - every command and every read of a case in triage's audit trail;
      - intake's retention purges a NO_ACTION signal and a withdrawn one:
        triage erases its copies and its events' payloads, and tells its
        followers (RecordErased);
      - an intake node that is away is shown LAGGING while the other goes
        on; a node added later is followed from position 0.
    Own regions: dropping triage's schema and replaying the streams gives
    the same rows and agenda; SIGKILL of triage during a burst of signals
    loses and doubles nothing.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lantern.pb-c.h"
#include "ln_db.h"
#include "ln_envelope.h"
#include "ln_outbox.h"
#include "pg_fixture.h"
#include "triage.pb-c.h"
#include "triage_calls.h"
#include "triage_region.h"
#include "wire.pb-c.h"

#define TK(x)    LANTERN__V1__TRACK_KIND__TRACK_KIND_##x
#define CS(x)    LANTERN__V1__CASE_STATE__CASE_STATE_##x
#define ST(x)    LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_##x
#define PROLE(x) LANTERN__V1__PERSON_ROLE__PERSON_ROLE_##x
#define TRIAGE   TRIAGE_REGION_TRIAGE
#define WAIT_MS  30000

static triage_region_t *s_r;
static ln_client_t *s_officer[2]; /* officer-venlo at intake 0, officer-politie at 1 */
static ln_client_t *s_chair;
static ln_client_t *s_partner; /* partner-politie */

/* The scenario's signals. */
static char s_a[TRIAGE_SIG_ID_SIZE], s_b[TRIAGE_SIG_ID_SIZE], s_c[TRIAGE_SIG_ID_SIZE],
    s_d[TRIAGE_SIG_ID_SIZE], s_e[TRIAGE_SIG_ID_SIZE], s_f[TRIAGE_SIG_ID_SIZE],
    s_g[TRIAGE_SIG_ID_SIZE];

static const char *const s_event_types[] = {
    "nl.lantern.case.opened.v1",  "nl.lantern.case.linked.v1",   "nl.lantern.case.merged.v1",
    "nl.lantern.case.decided.v1", "nl.lantern.track.updated.v1", "nl.lantern.case.closed.v1",
    "nl.lantern.alert.raised.v1",
};

static void
s_register_types (void)
{
    static const ln_event_type_t types[] = {
        {"nl.lantern.case.opened.v1", &lantern__v1__case_opened__descriptor, true},
        {"nl.lantern.case.linked.v1", &lantern__v1__case_linked__descriptor, true},
        {"nl.lantern.case.merged.v1", &lantern__v1__case_merged__descriptor, true},
        {"nl.lantern.case.decided.v1", &lantern__v1__case_decided__descriptor, true},
        {"nl.lantern.track.updated.v1", &lantern__v1__track_updated__descriptor, true},
        {"nl.lantern.case.closed.v1", &lantern__v1__case_closed__descriptor, true},
        {"nl.lantern.alert.raised.v1", &lantern__v1__alert_raised__descriptor, true},
        {"nl.lantern.signal.received.v1", &lantern__v1__signal_received__descriptor, true},
        {"nl.lantern.signal.amended.v1", &lantern__v1__signal_amended__descriptor, true},
        {"nl.lantern.signal.withdrawn.v1", &lantern__v1__signal_withdrawn__descriptor, true},
        {"nl.lantern.signal.status_changed.v1", &lantern__v1__signal_status_changed__descriptor,
         false},
    };
    ln_envelope_register (types, sizeof types / sizeof types[0], NULL);
}

/* "case-X" of "sig-X". */
static void
s_case_of (const char *sig, char *out)
{
    snprintf (out, 40, "case-%s", sig + 4);
}

/* Today's date in Amsterdam (the meeting's zone), plus days. */
static void
s_date (int plus_days, char *out)
{
    time_t t = time (NULL) + 3600 + (time_t)plus_days * 86400; /* CET at least; a date */
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (out, 11, "%Y-%m-%d", &tm);
}

static Lantern__V1__CaseRecord *
s_get_case (ln_client_t *c, const char *case_id, char *code)
{
    Lantern__V1__GetCase cmd = LANTERN__V1__GET_CASE__INIT;
    cmd.case_id = (char *)case_id;
    cmd.purpose = "test: the scenario";
    ProtobufCMessage *out = NULL;
    char field[64];
    int rc = triage_call (c, &cmd.base, &lantern__v1__case_record__descriptor, &out, code, 64,
                          field, sizeof field);
    return rc == 0 ? (Lantern__V1__CaseRecord *)out : NULL;
}

/* GetCase until the case holds `signals` signals (and `with`, when
   given), or fail. */
static Lantern__V1__CaseRecord *
s_wait_case (const char *case_id, size_t signals, const char *with)
{
    int64_t until = triage_now_ms () + WAIT_MS;
    char code[64] = "";
    while (triage_now_ms () < until) {
        Lantern__V1__CaseRecord *r = s_get_case (s_chair, case_id, code);
        if (r && r->facts && r->facts->signals == signals) {
            bool found = !with;
            for (size_t i = 0; with && i < r->n_signals; i++)
                found |= strcmp (r->signals[i]->signal_id, with) == 0 && !r->signals[i]->withdrawn;
            if (found)
                return r;
        }
        if (r)
            protobuf_c_message_free_unpacked (&r->base, NULL);
        usleep (50 * 1000);
    }
    fail_msg ("case %s never held %zu signals (last code %s)", case_id, signals, code);
    return NULL;
}

static void
s_free (void *msg)
{
    if (msg)
        protobuf_c_message_free_unpacked ((ProtobufCMessage *)msg, NULL);
}

static int
s_setup (void **state)
{
    (void)state;
    s_register_types ();
    triage_region_config_t cfg = {
        .intakes = 2,
        .intakes_follow_triage = true,
        .start_triage = true,
        .intake_extra = "testing = { clock_file = \"clock\"; };",
    };
    s_r = triage_region_new (&cfg);
    if (!s_r)
        return -1;
    s_officer[0] = triage_region_client (s_r, 0, "officer-venlo");
    s_officer[1] = triage_region_client (s_r, 1, "officer-politie");
    s_chair = triage_region_client (s_r, TRIAGE, "chair");
    s_partner = triage_region_client (s_r, TRIAGE, "partner-politie");
    return s_officer[0] && s_officer[1] && s_chair && s_partner ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++)
        ln_client_destroy (&s_officer[i]);
    ln_client_destroy (&s_chair);
    ln_client_destroy (&s_partner);
    return triage_region_destroy (&s_r);
}

/* --- the scenario ------------------------------------------------------------------ */

static void
test_issue11_scenario_links_and_merges (void **state)
{
    (void)state;
    /* One person, at two nodes, written differently. */
    triage_sig_t a = {
        .persons = {{.name = "Anna Kowalska", .dob = "1998-03-14", .phone = "06 12345678"}},
        .indicators = {"ILO_RETENTION_OF_IDENTITY_DOCUMENTS", "LIVES_AT_WORKPLACE"}};
    triage_sig_t b = {
        .persons = {{.name = "anna  KOWALSKA", .dob = "14-03-1998", .phone = "+31 (0)6-1234 5678"}},
        .indicators = {"ILO_DEBT_BONDAGE"}};
    assert_int_equal (triage_submit (s_officer[0], &a, s_a), 0);
    assert_int_equal (triage_submit (s_officer[1], &b, s_b), 0);
    char ca[40], cb[40], cc[40], cd[40], ce[40], cf[40];
    s_case_of (s_a, ca);
    s_case_of (s_b, cb);
    Lantern__V1__CaseRecord *r = s_wait_case (ca, 2, s_b);
    assert_int_equal (r->facts->partners, 2);
    assert_int_equal (r->n_signals, 2);
    assert_string_equal (r->signals[0]->signal_id, s_a);
    assert_string_equal (r->signals[0]->node, "intake-venlo");
    assert_string_equal (r->signals[1]->signal_id, s_b);
    assert_string_equal (r->signals[1]->node, "intake-politie");
    assert_string_equal (r->signals[1]->organisation, "politie-limburg-noord");
    assert_int_equal (r->n_links, 1);
    assert_string_equal (r->links[0]->signal_id, s_b);
    char reason[160];
    snprintf (reason, sizeof reason, "same NAME_BIRTHDATE token as %s from intake-venlo", s_a);
    assert_string_equal (r->links[0]->reason, reason);
    s_free (r);
    /* B's own id resolves to the case it joined */
    char code[64];
    r = s_get_case (s_chair, cb, code);
    assert_non_null (r);
    assert_string_equal (r->case_id, ca);
    assert_string_equal (r->asked_id, cb);
    s_free (r);

    /* An unrelated signal: a case of its own. */
    triage_sig_t c = {.persons = {{.name = "Piotr Zielinski",
                                   .phone = "06 87654321",
                                   .role = PROLE (POSSIBLE_PERPETRATOR)}},
                      .indicators = {"TRANSPORTED_BY_EMPLOYER"}};
    assert_int_equal (triage_submit (s_officer[0], &c, s_c), 0);
    s_case_of (s_c, cc);
    r = s_wait_case (cc, 1, s_c);
    assert_string_equal (r->case_id, cc);
    assert_int_equal (r->n_links, 0);
    s_free (r);

    /* A common name alone (no date of birth: no token) links nothing. */
    triage_sig_t d = {.persons = {{.name = "Jan Jansen"}}, .indicators = {"ILO_ISOLATION"}};
    triage_sig_t e = {.persons = {{.name = "Jan Jansen"}},
                      .indicators = {"ILO_EXCESSIVE_OVERTIME"}};
    assert_int_equal (triage_submit (s_officer[1], &d, s_d), 0);
    assert_int_equal (triage_submit (s_officer[0], &e, s_e), 0);
    s_case_of (s_d, cd);
    s_case_of (s_e, ce);
    s_free (s_wait_case (cd, 1, s_d));
    s_free (s_wait_case (ce, 1, s_e));

    /* A third signal shares a token with A's case and with C's: one case,
       named after the earliest signal; C's id resolves to it. */
    triage_sig_t f = {.persons = {{.name = "Anna Kowalska", .dob = "1998-03-14"},
                                  {.name = "Piotr Zielinski",
                                   .phone = "0031 6 87654321",
                                   .role = PROLE (POSSIBLE_PERPETRATOR)}},
                      .indicators = {"ILO_INTIMIDATION_AND_THREATS"}};
    assert_int_equal (triage_submit (s_officer[1], &f, s_f), 0);
    s_case_of (s_f, cf);
    r = s_wait_case (ca, 4, s_f);
    assert_int_equal (r->facts->partners, 2);
    bool merged = false;
    for (size_t i = 0; i < r->n_merged_case_ids; i++)
        merged |= strcmp (r->merged_case_ids[i], cc) == 0;
    assert_true (merged);
    s_free (r);
    r = s_get_case (s_chair, cc, code);
    assert_non_null (r);
    assert_string_equal (r->case_id, ca);
    assert_string_equal (r->asked_id, cc);
    s_free (r);
    /* D and E still alone */
    r = s_get_case (s_chair, cd, code);
    assert_non_null (r);
    assert_int_equal (r->facts->signals, 1);
    s_free (r);
}

/* --- the agenda ---------------------------------------------------------------------- */

static void
test_issue11_agenda_ordered_and_explained (void **state)
{
    (void)state;
    Lantern__V1__GetAgenda cmd = LANTERN__V1__GET_AGENDA__INIT;
    ProtobufCMessage *out = NULL;
    assert_int_equal (triage_call (s_partner, &cmd.base, &lantern__v1__agenda__descriptor, &out,
                                   NULL, 0, NULL, 0),
                      0);
    const Lantern__V1__Agenda *ag = (const Lantern__V1__Agenda *)out;
    assert_true (ag->n_items >= 3); /* A's case, D's, E's */
    assert_string_equal (ag->time_zone, "Europe/Amsterdam");
    for (size_t i = 0; i < ag->n_items; i++) {
        const Lantern__V1__AgendaItem *it = ag->items[i];
        assert_int_equal (it->rank, i + 1);
        assert_non_null (it->score);
        assert_true (it->n_reasons >= 1);
        int64_t sum = 0;
        for (size_t t = 0; t < it->score->n_terms; t++) {
            const Lantern__V1__ScoreTerm *term = it->score->terms[t];
            assert_int_equal (term->points, (int64_t)term->count * term->weight);
            sum += term->points;
        }
        assert_int_equal (sum, it->score->total);
        if (i > 0)
            assert_true (ag->items[i - 1]->score->total >= it->score->total);
    }
    /* the linked case of two partners and four signals comes first */
    char ca[40];
    s_case_of (s_a, ca);
    assert_string_equal (ag->items[0]->case_id, ca);
    assert_int_equal (ag->items[0]->n_partners, 2);
    s_free (out);
}

/* --- alerts ------------------------------------------------------------------------- */

static void
test_issue11_immediate_danger_alert_within_one_second (void **state)
{
    (void)state;
    triage_sig_t g = {.persons = {{.name = "Maria Popescu", .phone = "+40 712 345 678"}},
                      .indicators = {"ILO_PHYSICAL_AND_SEXUAL_VIOLENCE"},
                      .danger = true};
    assert_int_equal (triage_submit (s_officer[0], &g, s_g), 0);
    int64_t acked = triage_now_ms ();
    char want[64];
    snprintf (want, sizeof want, "alert-%s-danger", s_g + 4);
    int64_t seen = 0;
    while (!seen && triage_now_ms () - acked < 5000) {
        Lantern__V1__ListAlerts cmd = LANTERN__V1__LIST_ALERTS__INIT;
        ProtobufCMessage *out = NULL;
        assert_int_equal (triage_call (s_partner, &cmd.base, &lantern__v1__alert_list__descriptor,
                                       &out, NULL, 0, NULL, 0),
                          0);
        const Lantern__V1__AlertList *l = (const Lantern__V1__AlertList *)out;
        for (size_t i = 0; i < l->n_alerts; i++)
            if (strcmp (l->alerts[i]->alert_id, want) == 0) {
                seen = triage_now_ms ();
                assert_string_equal (l->alerts[i]->signal->signal_id, s_g);
                assert_string_equal (l->alerts[i]->acknowledged_by, "");
            }
        s_free (out);
        if (!seen)
            usleep (5 * 1000);
    }
    assert_true (seen > 0);
    print_message ("alert seen %lld ms after the submission was acknowledged\n",
                   (long long)(seen - acked));
    assert_true (seen - acked <= 1000);

    /* It stays until a person acknowledges it (who and when kept). */
    Lantern__V1__AcknowledgeAlert ack = LANTERN__V1__ACKNOWLEDGE_ALERT__INIT;
    ack.alert_id = want;
    ack.note = "Veilig Thuis called";
    ProtobufCMessage *out = NULL;
    assert_int_equal (triage_call (s_partner, &ack.base,
                                   &lantern__v1__acknowledge_alert_result__descriptor, &out, NULL,
                                   0, NULL, 0),
                      0);
    const Lantern__V1__AcknowledgeAlertResult *res = (const void *)out;
    assert_string_equal (res->alert->acknowledged_by, "partner-politie");
    assert_true (res->alert->acknowledged_at_us > 0);
    s_free (out);
    char code[64], field[64];
    assert_int_equal (triage_call (s_partner, &ack.base,
                                   &lantern__v1__acknowledge_alert_result__descriptor, &out, code,
                                   sizeof code, field, sizeof field),
                      1);
    assert_string_equal (code, "ALREADY_ACKNOWLEDGED");
    assert_string_equal (field, "alert_id");
}

/* --- decisions ------------------------------------------------------------------------ */

/* RecordDecision: 0 accepted (result freed), 1 refused (code, field). */
static int
s_decide (ln_client_t *c, const char *case_id, const int *kinds, const char *const *leads, size_t n,
          const char *no_action_reason, int deadline_days, char *code, char *field)
{
    Lantern__V1__RecordDecision cmd = LANTERN__V1__RECORD_DECISION__INIT;
    char today[16], deadline[16];
    s_date (0, today);
    s_date (deadline_days, deadline);
    cmd.case_id = (char *)case_id;
    cmd.meeting_id = today;
    char *attendees[] = {"gemeente-venlo", "politie-limburg-noord"};
    cmd.attendees = attendees;
    cmd.n_attendees = 2;
    Lantern__V1__TrackSpec specs[4], *ptrs[4];
    for (size_t i = 0; i < n; i++) {
        lantern__v1__track_spec__init (&specs[i]);
        specs[i].kind = kinds[i];
        if (kinds[i] != TK (NO_ACTION)) {
            specs[i].lead_organisation = (char *)leads[i];
            specs[i].deadline = deadline;
            specs[i].note = "see the minutes";
        }
        ptrs[i] = &specs[i];
    }
    cmd.tracks = ptrs;
    cmd.n_tracks = n;
    cmd.minutes = "Discussed; the partners agree.";
    cmd.no_action_reason = (char *)(no_action_reason ? no_action_reason : "");
    ProtobufCMessage *out = NULL;
    int rc = triage_call (c, &cmd.base, &lantern__v1__record_decision_result__descriptor, &out,
                          code, 64, field, 64);
    s_free (out);
    return rc;
}

static void
s_assert_case_state (const char *case_id, int state, size_t decisions)
{
    char code[64];
    Lantern__V1__CaseRecord *r = s_get_case (s_chair, case_id, code);
    assert_non_null (r);
    assert_int_equal (r->state, state);
    assert_int_equal (r->n_decisions, decisions);
    s_free (r);
}

/* Read a subscription until an event of `type` about `case_id` comes. */
static ln_event_t *
s_wait_event (ln_client_t *c, const char *type, const char *case_id)
{
    int64_t until = triage_now_ms () + WAIT_MS;
    while (triage_now_ms () < until) {
        ln_event_t *ev = triage_next_event (c, 1000, NULL);
        if (!ev)
            continue;
        const char *corr = ln_event_correlationid (ev);
        if (strcmp (ln_event_type (ev), type) == 0 && corr && strcmp (corr, case_id) == 0)
            return ev;
        ln_event_destroy (&ev);
    }
    fail_msg ("no %s of %s", type, case_id);
    return NULL;
}

static void
test_issue11_decisions_refusals_and_partners (void **state)
{
    (void)state;
    char ca[40], cd[40], ce[40], code[64] = "", field[64] = "";
    s_case_of (s_a, ca);
    s_case_of (s_d, cd);
    s_case_of (s_e, ce);

    /* NO_ACTION without a reason; NO_ACTION with another track: each its
       own code; nothing changes. */
    int no_action[] = {TK (NO_ACTION), TK (CARE)};
    const char *leads[] = {"", "zorgcoordinatie-noord-limburg"};
    assert_int_equal (s_decide (s_chair, ce, no_action, leads, 1, NULL, 14, code, field), 1);
    assert_string_equal (code, "MISSING_NO_ACTION_REASON");
    assert_string_equal (field, "no_action_reason");
    assert_int_equal (
        s_decide (s_chair, ce, no_action, leads, 2, "nothing to go on", 14, code, field), 1);
    assert_string_equal (code, "NO_ACTION_WITH_OTHER_TRACK");
    assert_string_equal (field, "tracks[1].kind");
    s_assert_case_state (ce, CS (OPEN), 0);
    /* a chair of another meeting; a partner */
    ln_client_t *elsewhere = triage_region_client (s_r, TRIAGE, "chair-elsewhere");
    int care[] = {TK (CARE), TK (CRIMINAL)};
    const char *care_leads[] = {"zorgcoordinatie-noord-limburg", "politie-limburg-noord"};
    assert_int_equal (s_decide (elsewhere, ca, care, care_leads, 2, NULL, 21, code, field), 1);
    assert_string_equal (code, "FORBIDDEN");
    ln_client_destroy (&elsewhere);
    assert_int_equal (s_decide (s_partner, ca, care, care_leads, 2, NULL, 21, code, field), 1);
    assert_string_equal (code, "FORBIDDEN");
    s_assert_case_state (ca, CS (OPEN), 0);

    /* care and police follow triage */
    ln_client_t *care_c = triage_region_client (s_r, TRIAGE, "care");
    ln_client_t *police_c = triage_region_client (s_r, TRIAGE, "police");
    assert_int_equal (triage_subscribe (care_c, 0, ""), 0);
    assert_int_equal (triage_subscribe (police_c, 0, ""), 0);

    /* CARE and CRIMINAL on A's case */
    assert_int_equal (s_decide (s_chair, ca, care, care_leads, 2, NULL, 21, code, field), 0);
    s_assert_case_state (ca, CS (DECIDED), 1);
    ln_event_t *ev = s_wait_event (care_c, "nl.lantern.case.decided.v1", ca);
    const Lantern__V1__CaseDecided *cd_care = (const void *)ln_event_payload (ev);
    assert_string_equal (cd_care->case_id, ca);
    assert_non_null (cd_care->decision);
    assert_int_equal (cd_care->decision->n_tracks, 1);
    assert_int_equal (cd_care->decision->tracks[0]->kind, TK (CARE));
    assert_string_equal (cd_care->decision->minutes, "");
    assert_non_null (cd_care->facts);
    size_t victims = 0;
    for (size_t i = 0; i < cd_care->n_contents; i++) {
        const Lantern__V1__CaseContent *ct = cd_care->contents[i];
        assert_int_equal (ct->n_addresses + ct->n_vehicles + ct->n_employers, 0);
        for (size_t j = 0; j < ct->n_persons; j++) {
            assert_int_equal (ct->persons[j]->role, PROLE (POSSIBLE_VICTIM));
            assert_int_equal (ct->persons[j]->n_tokens, 0);
            assert_string_not_equal (ct->persons[j]->name, "Piotr Zielinski");
            victims++;
        }
    }
    assert_true (victims >= 3); /* Anna, at three signals */
    ln_event_destroy (&ev);
    /* police: the CRIMINAL track, everyone in the case */
    ev = s_wait_event (police_c, "nl.lantern.case.decided.v1", ca);
    const Lantern__V1__CaseDecided *cd_police = (const void *)ln_event_payload (ev);
    assert_int_equal (cd_police->decision->n_tracks, 1);
    assert_int_equal (cd_police->decision->tracks[0]->kind, TK (CRIMINAL));
    bool perpetrator = false;
    for (size_t i = 0; i < cd_police->n_contents; i++)
        for (size_t j = 0; j < cd_police->contents[i]->n_persons; j++)
            perpetrator |= cd_police->contents[i]->persons[j]->role == PROLE (POSSIBLE_PERPETRATOR);
    assert_true (perpetrator);
    ln_event_destroy (&ev);
    ln_client_destroy (&care_c);
    ln_client_destroy (&police_c);

    /* NO_ACTION with its reason closes D's case at once. */
    assert_int_equal (
        s_decide (s_chair, cd, no_action, leads, 1, "a name alone, nothing else", 14, code, field),
        0);
    s_assert_case_state (cd, CS (CLOSED), 1);
}

static void
test_issue11_more_information_returns_at_its_deadline (void **state)
{
    (void)state;
    char ce[40], code[64], field[64];
    s_case_of (s_e, ce);
    int more[] = {TK (MORE_INFORMATION)};
    const char *leads[] = {"gemeente-venlo"};
    /* the deadline is 10 days ahead: after the coming meeting */
    assert_int_equal (s_decide (s_chair, ce, more, leads, 1, NULL, 10, code, field), 0);
    Lantern__V1__GetAgenda cmd = LANTERN__V1__GET_AGENDA__INIT;
    ProtobufCMessage *out = NULL;
    assert_int_equal (
        triage_call (s_chair, &cmd.base, &lantern__v1__agenda__descriptor, &out, NULL, 0, NULL, 0),
        0);
    const Lantern__V1__Agenda *ag = (const void *)out;
    for (size_t i = 0; i < ag->n_items; i++)
        assert_string_not_equal (ag->items[i]->case_id, ce);
    s_free (out);
    /* two weeks on (the node's test clock): due */
    assert_int_equal (triage_region_set_clock (s_r, TRIAGE, 14 * 86400), 0);
    bool due = false;
    int64_t until = triage_now_ms () + 5000;
    while (!due && triage_now_ms () < until) {
        usleep (300 * 1000); /* the node reads its clock file every turn (200 ms) */
        assert_int_equal (triage_call (s_chair, &cmd.base, &lantern__v1__agenda__descriptor, &out,
                                       NULL, 0, NULL, 0),
                          0);
        ag = (const void *)out;
        for (size_t i = 0; i < ag->n_items; i++)
            if (strcmp (ag->items[i]->case_id, ce) == 0) {
                due = ag->items[i]->n_reasons == 1 &&
                      ag->items[i]->reasons[0] ==
                          LANTERN__V1__AGENDA_REASON__AGENDA_REASON_MORE_INFORMATION_DUE &&
                      ag->items[i]->n_tracks == 1 &&
                      ag->items[i]->tracks[0]->kind == TK (MORE_INFORMATION);
            }
        s_free (out);
    }
    assert_true (due);
    assert_int_equal (triage_region_set_clock (s_r, TRIAGE, 0), 0);
    usleep (400 * 1000);
}

/* --- what an intake node receives ------------------------------------------------- */

static bool
s_is_own (const char *id, const char *const *own, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp (id, own[i]) == 0)
            return true;
    return false;
}

static void
s_check_case_signal (const Lantern__V1__CaseSignal *s, const char *node, const char *const *own,
                     size_t n_own)
{
    assert_non_null (s);
    assert_string_equal (s->node, node);
    assert_true (s_is_own (s->signal_id, own, n_own));
}

static void
s_check_decision_for_intake (const Lantern__V1__Decision *d)
{
    assert_non_null (d);
    assert_string_equal (d->minutes, "");
    assert_string_equal (d->decided_by, "");
    assert_int_equal (d->n_attendees, 0);
    assert_string_equal (d->no_action_reason, "");
    assert_string_equal (d->no_youth_protection_reason, "");
    assert_string_equal (d->case_revision, "");
    for (size_t i = 0; i < d->n_tracks; i++) {
        const Lantern__V1__Track *t = d->tracks[i];
        assert_string_equal (t->lead_organisation, "");
        assert_string_equal (t->note, "");
        assert_string_equal (t->deadline, "");
        assert_string_equal (t->outcome, "");
        assert_string_equal (t->handback_reason, "");
        assert_string_equal (t->updated_by, "");
        assert_true (t->kind > 0);
    }
}

/* Read node i's whole view of triage's stream and check every field. */
static void
s_check_intake_view (size_t node, const char *const *own, size_t n_own, const char *const *others,
                     size_t n_others, size_t *decided)
{
    const char *name = triage_region_name (s_r, node);
    ln_client_t *c = triage_region_client (s_r, TRIAGE, name);
    assert_int_equal (triage_subscribe (c, 0, ""), 0);
    size_t events = 0;
    *decided = 0;
    for (;;) {
        ln_event_t *ev = triage_next_event (c, 2000, NULL);
        if (!ev)
            break;
        events++;
        const char *type = ln_event_type (ev);
        const ProtobufCMessage *p = ln_event_payload (ev);
        /* the payload's bytes name no signal of another node */
        const Io__Cloudevents__V1__CloudEvent *ce = ln_event_cloudevent (ev);
        const ProtobufCBinaryData *raw = &ce->proto_data->value;
        for (size_t i = 0; i < n_others; i++)
            assert_null (memmem (raw->data, raw->len, others[i], strlen (others[i])));
        if (strcmp (type, "nl.lantern.case.opened.v1") == 0) {
            const Lantern__V1__CaseOpened *m = (const void *)p;
            assert_null (m->facts);
            assert_true (m->n_signals >= 1);
            for (size_t i = 0; i < m->n_signals; i++)
                s_check_case_signal (m->signals[i], name, own, n_own);
        }
        else if (strcmp (type, "nl.lantern.case.linked.v1") == 0) {
            const Lantern__V1__CaseLinked *m = (const void *)p;
            assert_null (m->facts);
            assert_null (m->link);
            s_check_case_signal (m->signal, name, own, n_own);
        }
        else if (strcmp (type, "nl.lantern.case.merged.v1") == 0) {
            const Lantern__V1__CaseMerged *m = (const void *)p;
            assert_null (m->facts);
            assert_int_equal (m->n_merged_case_ids, 0);
            assert_true (m->n_signals >= 1);
            for (size_t i = 0; i < m->n_signals; i++)
                s_check_case_signal (m->signals[i], name, own, n_own);
        }
        else if (strcmp (type, "nl.lantern.case.decided.v1") == 0) {
            const Lantern__V1__CaseDecided *m = (const void *)p;
            assert_null (m->facts);
            assert_int_equal (m->n_contents, 0);
            assert_int_equal (m->contents_omitted, 0);
            s_check_decision_for_intake (m->decision);
            assert_true (m->n_signals >= 1);
            for (size_t i = 0; i < m->n_signals; i++)
                s_check_case_signal (m->signals[i], name, own, n_own);
            (*decided)++;
        }
        else if (strcmp (type, "nl.lantern.case.closed.v1") == 0) {
            const Lantern__V1__CaseClosed *m = (const void *)p;
            assert_null (m->facts);
            assert_string_equal (m->summary, "");
            assert_true (m->n_signals >= 1);
            for (size_t i = 0; i < m->n_signals; i++)
                s_check_case_signal (m->signals[i], name, own, n_own);
        }
        else
            /* track.updated and alert.raised are not for intake nodes; node
               events (notices, erasures) carry no signal */
            for (size_t i = 0; i < sizeof s_event_types / sizeof s_event_types[0]; i++)
                assert_string_not_equal (type, s_event_types[i]);
        ln_event_destroy (&ev);
    }
    assert_true (events >= n_own);
    ln_client_destroy (&c);
}

static int
s_status (size_t node, const char *id)
{
    ln_client_t *c = node == 0 ? s_officer[0] : s_officer[1];
    Lantern__V1__SignalRecord *r = triage_get_signal (c, id);
    assert_non_null (r);
    int status = r->signal->status;
    s_free (r);
    return status;
}

/* Wait until the intake node shows the status (feedback is asynchronous). */
static void
s_wait_status (size_t node, const char *id, int status)
{
    int64_t until = triage_now_ms () + WAIT_MS;
    int now = 0;
    while (triage_now_ms () < until && (now = s_status (node, id)) != status)
        usleep (100 * 1000);
    assert_int_equal (now, status);
}

static void
test_issue11_intake_sees_its_own_outcomes_only (void **state)
{
    (void)state;
    assert_int_equal (triage_region_settle (s_r, WAIT_MS), 0);
    const char *venlo[] = {s_a, s_c, s_e, s_g};
    const char *politie[] = {s_b, s_d, s_f};
    size_t decided = 0;
    s_check_intake_view (0, venlo, 4, politie, 3, &decided);
    assert_true (decided >= 2); /* A's case (with C), E's */
    s_check_intake_view (1, politie, 3, venlo, 4, &decided);
    assert_true (decided >= 2); /* A's case (B and F), D's */
    /* and the status of each signal at its own node */
    s_wait_status (0, s_a, ST (TRACKS_OPENED));
    s_wait_status (0, s_c, ST (TRACKS_OPENED));
    s_wait_status (0, s_e, ST (MORE_INFORMATION));
    s_wait_status (0, s_g, ST (SCHEDULED));
    s_wait_status (1, s_b, ST (TRACKS_OPENED));
    s_wait_status (1, s_f, ST (TRACKS_OPENED));
    s_wait_status (1, s_d, ST (CLOSED_NO_ACTION));
    /* the history says who moved it and why */
    Lantern__V1__SignalRecord *r = triage_get_signal (s_officer[0], s_a);
    assert_non_null (r);
    const Lantern__V1__SignalHistoryEntry *last = r->history[r->n_history - 1];
    assert_string_equal (last->principal, "triage");
    assert_non_null (strstr (last->reason, "TRACKS_OPENED"));
    s_free (r);
}

/* --- audit ---------------------------------------------------------------------------- */

static void
test_issue11_every_command_and_read_audited (void **state)
{
    (void)state;
    /* reads of cases, with the purpose as their reason */
    assert_true (triage_region_count (s_r, "SELECT count(*) FROM triage.audit WHERE action ="
                                           " 'GetCase' AND outcome = 'accepted' AND reason ="
                                           " 'purpose: test: the scenario' AND principal ="
                                           " 'chair'") >= 5);
    /* every decision, accepted and refused */
    assert_int_equal (triage_region_count (s_r, "SELECT count(*) FROM triage.audit WHERE action ="
                                                " 'RecordDecision' AND outcome = 'accepted'"),
                      3);
    assert_true (triage_region_count (s_r, "SELECT count(*) FROM triage.audit WHERE action ="
                                           " 'RecordDecision' AND outcome <> 'accepted'") >= 4);
    /* the alert's acknowledgement (who, when) */
    assert_true (triage_region_count (s_r, "SELECT count(*) FROM triage.audit WHERE action ="
                                           " 'AcknowledgeAlert' AND principal = 'partner-politie'"
                                           " AND object LIKE 'alert-%'") >= 1);
    assert_true (triage_region_count (s_r, "SELECT count(*) FROM triage.audit WHERE action ="
                                           " 'GetAgenda'") >= 2);
    /* the status moves at intake, on triage's behalf */
    assert_true (triage_region_count (s_r, "SELECT count(*) FROM intake_venlo.audit WHERE action ="
                                           " 'SetSignalStatus' AND principal = 'triage'") >= 4);
    /* the chain holds */
    char *ok =
        triage_region_query (s_r, "SELECT bool_and (prev_hash IS NOT NULL) FROM triage.audit");
    assert_non_null (ok);
    assert_string_equal (ok, "t");
    free (ok);
}

/* --- erasure ---------------------------------------------------------------------------- */

static void
s_wait_count (const char *sql, long want)
{
    int64_t until = triage_now_ms () + WAIT_MS;
    long n = -2;
    while (triage_now_ms () < until && (n = triage_region_count (s_r, sql)) != want)
        usleep (100 * 1000);
    if (n != want)
        fail_msg ("%s: %ld, not %ld", sql, n, want);
}

static void
test_issue11_purged_at_intake_erased_at_triage (void **state)
{
    (void)state;
    char sql[600], cd[40], cg[40];
    s_case_of (s_d, cd);
    s_case_of (s_g, cg);
    /* care follows triage from here */
    ln_client_t *monitor = triage_region_client (s_r, TRIAGE, "monitor");
    assert_int_equal (triage_subscribe (monitor, 0, ""), 0);

    /* D: closed with NO_ACTION; intake purges it after its retention (90
       days by default: the node's clock moves 91 days) */
    assert_int_equal (triage_region_set_clock (s_r, 1, 91LL * 86400), 0);
    snprintf (sql, sizeof sql, "SELECT count(*) FROM triage.signals WHERE id = '%s'", s_d);
    s_wait_count (sql, 0);
    snprintf (sql, sizeof sql, "SELECT count(*) FROM triage.tokens WHERE signal_id = '%s'", s_d);
    assert_int_equal (triage_region_count (s_r, sql), 0);
    /* every event of its case lost its payload; followers are told */
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM triage.outbox WHERE correlation_id = '%s' AND type <>"
              " 'nl.lantern.record.erased.v1' AND (redacted_us IS NULL OR length (payload) > 0)",
              cd);
    assert_int_equal (triage_region_count (s_r, sql), 0);
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM triage.outbox WHERE correlation_id = '%s' AND type ="
              " 'nl.lantern.record.erased.v1'",
              cd);
    assert_true (triage_region_count (s_r, sql) >= 1);
    ln_event_t *ev = s_wait_event (monitor, "nl.lantern.record.erased.v1", cd);
    ln_event_destroy (&ev);
    assert_int_equal (triage_region_set_clock (s_r, 1, 0), 0);

    /* G (with an alert) and K: withdrawn; intake purges both after 30 days,
       in one run: their erasures reach triage together */
    char k[TRIAGE_SIG_ID_SIZE], ck[40];
    triage_sig_t ks = {.persons = {{.name = "Karol Wisniewski", .phone = "06 13572468"}},
                       .indicators = {"ILO_ISOLATION"}};
    assert_int_equal (triage_submit (s_officer[0], &ks, k), 0);
    s_case_of (k, ck);
    s_free (s_wait_case (ck, 1, k));
    assert_int_equal (triage_withdraw (s_officer[0], s_g, "entered at the wrong node"), 0);
    assert_int_equal (triage_withdraw (s_officer[0], k, "a duplicate"), 0);
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM triage.signals WHERE id IN ('%s', '%s') AND withdrawn_us IS"
              " NOT NULL",
              s_g, k);
    s_wait_count (sql, 2);
    assert_int_equal (triage_region_set_clock (s_r, 0, 31LL * 86400), 0);
    snprintf (sql, sizeof sql, "SELECT count(*) FROM triage.signals WHERE id IN ('%s', '%s')", s_g,
              k);
    s_wait_count (sql, 0);
    snprintf (sql, sizeof sql, "SELECT count(*) FROM triage.alerts WHERE signal_id = '%s'", s_g);
    assert_int_equal (triage_region_count (s_r, sql), 0);
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM triage.outbox WHERE correlation_id IN ('%s', '%s') AND type <>"
              " 'nl.lantern.record.erased.v1' AND length (payload) > 0",
              cg, ck);
    assert_int_equal (triage_region_count (s_r, sql), 0);
    snprintf (sql, sizeof sql,
              "SELECT count(DISTINCT correlation_id) FROM triage.outbox WHERE correlation_id IN"
              " ('%s', '%s') AND type = 'nl.lantern.record.erased.v1'",
              cg, ck);
    assert_int_equal (triage_region_count (s_r, sql), 2);
    assert_int_equal (triage_region_set_clock (s_r, 0, 0), 0);
    ln_client_destroy (&monitor);
    /* nothing of A's case went */
    char ca[40];
    s_case_of (s_a, ca);
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM triage.outbox WHERE correlation_id = '%s' AND redacted_us IS"
              " NOT NULL",
              ca);
    assert_int_equal (triage_region_count (s_r, sql), 0);
}

/* --- upstreams ------------------------------------------------------------------------- */

/* The upstream `name` as triage lists it (ListUpstreams, as its operator),
   or NULL; *list holds it (free with s_free). */
static const Lantern__V1__UpstreamStatus *
s_upstream (const char *name, ProtobufCMessage **list)
{
    ln_client_t *op = triage_region_client (s_r, TRIAGE, "operator");
    Lantern__V1__ListUpstreams cmd = LANTERN__V1__LIST_UPSTREAMS__INIT;
    const Lantern__V1__UpstreamStatus *u = NULL;
    *list = NULL;
    if (triage_call (op, &cmd.base, &lantern__v1__upstream_list__descriptor, list, NULL, 0, NULL,
                     0) == 0) {
        const Lantern__V1__UpstreamList *l = (const void *)*list;
        for (size_t i = 0; i < l->n_upstreams; i++)
            if (strcmp (l->upstreams[i]->name, name) == 0)
                u = l->upstreams[i];
    }
    ln_client_destroy (&op);
    return u;
}

static char *
s_upstream_state (const char *name)
{
    ProtobufCMessage *list = NULL;
    const Lantern__V1__UpstreamStatus *u = s_upstream (name, &list);
    char *state = u ? strdup (u->state) : NULL;
    s_free (list);
    return state;
}

static void
test_issue11_lost_upstream_lagging_others_go_on_new_one_from_zero (void **state)
{
    (void)state;
    /* politie away: venlo's signals still become cases */
    assert_int_equal (triage_region_stop_intake (s_r, 1), 0);
    triage_sig_t h = {.persons = {{.name = "Olga Petrova", .phone = "+7 912 345 67 89"}},
                      .indicators = {"ILO_DECEPTION"}};
    char id[TRIAGE_SIG_ID_SIZE], ch[40];
    assert_int_equal (triage_submit (s_officer[0], &h, id), 0);
    s_case_of (id, ch);
    s_free (s_wait_case (ch, 1, id));
    /* and the one away is shown lagging (three idle intervals: 15 s) */
    int64_t until = triage_now_ms () + 40000;
    char *st = NULL;
    while (triage_now_ms () < until) {
        free (st);
        st = s_upstream_state ("intake-politie");
        if (st && strcmp (st, "LAGGING") == 0)
            break;
        usleep (500 * 1000);
    }
    assert_non_null (st);
    assert_string_equal (st, "LAGGING");
    free (st);
    assert_int_equal (triage_region_start_intake (s_r, 1), 0);
    ln_client_destroy (&s_officer[1]);
    s_officer[1] = triage_region_client (s_r, 1, "officer-politie");

    /* a node added later: its history is followed from position 0 */
    long n = triage_region_add_intake (s_r);
    assert_true (n == 2);
    ln_client_t *officer2 = triage_region_client (s_r, 2, "officer-2");
    triage_sig_t i1 = {.persons = {{.name = "Ivan Horvat", .phone = "+385 91 234 5678"}},
                       .indicators = {"ILO_DEBT_BONDAGE"}};
    char id2[TRIAGE_SIG_ID_SIZE], c2[40];
    assert_int_equal (triage_submit (officer2, &i1, id2), 0);
    ln_client_destroy (&officer2);
    assert_int_equal (triage_region_restart_triage (s_r), 0);
    ln_client_destroy (&s_chair);
    ln_client_destroy (&s_partner);
    s_chair = triage_region_client (s_r, TRIAGE, "chair");
    s_partner = triage_region_client (s_r, TRIAGE, "partner-politie");
    s_case_of (id2, c2);
    s_free (s_wait_case (c2, 1, id2));
    st = s_upstream_state ("intake-2");
    assert_non_null (st);
    assert_string_equal (st, "FOLLOWING");
    free (st);
}

/* A hostile (or broken) intake node: its stream carries a signal.received
   that takes the id of another node's signal.  Triage must not let it
   rewrite that signal, must not retry it for ever: the consumer of that
   upstream stops POISONED at the event, saying why; the other upstreams go
   on; an operator's skip (ResyncUpstream past it, as `lanternctl upstream
   skip`) lets it follow again. */
static void
test_issue9_hostile_upstream_refused_event_stops_there_others_go_on (void **state)
{
    (void)state;
    /* a signal of intake-politie, in its case at triage */
    triage_sig_t p = {.persons = {{.name = "Piet Pieters", .phone = "06 3111 2222"}},
                      .indicators = {"ILO_DECEPTION"}};
    char victim[TRIAGE_SIG_ID_SIZE], cv[40];
    assert_int_equal (triage_submit (s_officer[1], &p, victim), 0);
    s_case_of (victim, cv);
    s_free (s_wait_case (cv, 1, victim));

    /* intake-venlo's stream carries a signal.received with that id (written
       into its outbox as a compromised node would) */
    Lantern__V1__Signal sig = LANTERN__V1__SIGNAL__INIT;
    sig.id = victim;
    sig.node = "intake-venlo";
    sig.organisation = "gemeente-venlo";
    sig.version = 1;
    sig.catalogue_version = "2026.2";
    sig.received_at_us = sig.updated_at_us = (int64_t)time (NULL) * 1000000;
    triage_sig_t h = {.persons = {{.name = "Someone Else", .phone = "06 3999 8888"}},
                      .indicators = {"ILO_DECEPTION"}};
    sig.details = triage_sig_details (&h);
    Lantern__V1__SignalReceived ev = LANTERN__V1__SIGNAL_RECEIVED__INIT;
    ev.signal = &sig;
    size_t size = lantern__v1__signal_received__get_packed_size (&ev);
    uint8_t *buf = malloc (size);
    lantern__v1__signal_received__pack (&ev, buf);
    ln_error_t err;
    ln_db_t *db =
        ln_db_connect (ln_pgfix_conninfo (triage_region_pg (s_r)), "intake_venlo", NULL, &err);
    assert_non_null (db);
    ln_outbox_event_t oe = {.type = "nl.lantern.signal.received.v1",
                            .level = LN_LEVEL_VERTROUWELIJK,
                            .correlation_id = victim,
                            .payload = buf,
                            .payload_size = size};
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (ln_outbox_append (db, &oe, NULL, 0, &err), 0);
    assert_int_equal (ln_db_commit (db), 0);
    char *at = NULL;
    {
        PGresult *res = ln_db_exec (db, "SELECT max(position)::text FROM outbox", 0, NULL, &err);
        assert_non_null (res);
        at = strdup (PQgetvalue (res, 0, 0));
        PQclear (res);
    }
    ln_db_destroy (&db);
    free (buf);
    protobuf_c_message_free_unpacked (&sig.details->base, NULL);

    /* triage stops at it, and says where and why */
    const Lantern__V1__UpstreamStatus *u = NULL;
    ProtobufCMessage *out = NULL;
    int64_t until = triage_now_ms () + WAIT_MS;
    while (triage_now_ms () < until) {
        s_free (out);
        u = s_upstream ("intake-venlo", &out);
        if (u && strcmp (u->state, "POISONED") == 0)
            break;
        usleep (100 * 1000);
    }
    assert_non_null (u);
    assert_string_equal (u->state, "POISONED");
    assert_int_equal (u->stopped_at, strtoull (at, NULL, 10));
    assert_int_equal (u->position, u->stopped_at - 1);
    assert_non_null (strstr (u->problem, "TRIAGE_FOREIGN_SIGNAL"));
    s_free (out);
    /* the signal is still politie's, unchanged */
    char sql[256];
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM triage.signals WHERE id = '%s' AND node = 'intake-politie'"
              " AND version = 1",
              victim);
    assert_int_equal (triage_region_count (s_r, sql), 1);

    /* the others go on */
    triage_sig_t q = {.persons = {{.name = "Klaas Klaassen", .phone = "06 3222 3333"}},
                      .indicators = {"ILO_DECEPTION"}};
    char other[TRIAGE_SIG_ID_SIZE], co[40];
    assert_int_equal (triage_submit (s_officer[1], &q, other), 0);
    s_case_of (other, co);
    s_free (s_wait_case (co, 1, other));

    /* the operator skips the event; venlo is followed again */
    ln_client_t *op = triage_region_client (s_r, TRIAGE, "operator");
    Lantern__V1__ResyncUpstream rs = LANTERN__V1__RESYNC_UPSTREAM__INIT;
    rs.name = "intake-venlo";
    rs.after_position = strtoull (at, NULL, 10);
    rs.reason = "test: a forged signal id, reported to gemeente-venlo";
    assert_int_equal (triage_call (op, &rs.base, &lantern__v1__upstream_resynced__descriptor, &out,
                                   NULL, 0, NULL, 0),
                      0);
    s_free (out);
    ln_client_destroy (&op);
    triage_sig_t v = {.persons = {{.name = "Vera Venlo", .phone = "06 3444 5555"}},
                      .indicators = {"ILO_DECEPTION"}};
    char next[TRIAGE_SIG_ID_SIZE], cn[40];
    assert_int_equal (triage_submit (s_officer[0], &v, next), 0);
    s_case_of (next, cn);
    s_free (s_wait_case (cn, 1, next));
    char *st = s_upstream_state ("intake-venlo");
    assert_non_null (st);
    assert_string_equal (st, "FOLLOWING");
    free (st);
    assert_int_equal (triage_region_count (s_r, sql), 1);
    free (at);
}

/* --- a replay gives the same ---------------------------------------------------------- */

/* Every row a replay must give again, and the agenda of a fixed meeting. */
static char *
s_rows (triage_region_t *r)
{
    return triage_region_query (
        r,
        "SELECT coalesce (string_agg (x, E'\\n' ORDER BY x), '') FROM ("
        " SELECT 'S|' || id || '|' || node || '|' || coalesce (case_id, '-') || '|' || version"
        "  || '|' || coalesce (withdrawn_us::text, '-') || '|' || position || '|' || md5 (record)"
        "  || '|' || coalesce (discussed_meeting, '-') || '|' || indicators::text FROM"
        " triage.signals"
        " UNION ALL SELECT 'T|' || kind || '|' || token || '|' || signal_id FROM triage.tokens"
        " UNION ALL SELECT 'C|' || id || '|' || state || '|' || anchor_signal || '|' || opened_us"
        "  || '|' || coalesce (merged_into, '-') || '|' || coalesce (closed_us::text, '-') ||"
        " '|' || outcome FROM triage.cases"
        " UNION ALL SELECT 'L|' || signal_id || '|' || case_id || '|' || kind || '|'"
        "  || other_signal_id || '|' || reason FROM triage.links"
        " UNION ALL SELECT 'A|' || id || '|' || kind || '|' || signal_id || '|' || raised_us"
        "  FROM triage.alerts) t (x)");
}

/* The agenda of the meeting two weeks ahead, without its generation time. */
static uint8_t *
s_agenda_bytes (triage_region_t *r, size_t *size)
{
    ln_client_t *c = triage_region_client (r, TRIAGE, "chair");
    char day[16];
    /* the Tuesday at least a week ahead */
    time_t t = time (NULL) + 7 * 86400;
    struct tm tm;
    for (;;) {
        gmtime_r (&t, &tm);
        if (tm.tm_wday == 2)
            break;
        t += 86400;
    }
    strftime (day, sizeof day, "%Y-%m-%d", &tm);
    Lantern__V1__GetAgenda cmd = LANTERN__V1__GET_AGENDA__INIT;
    cmd.meeting_id = day;
    ProtobufCMessage *out = NULL;
    assert_int_equal (
        triage_call (c, &cmd.base, &lantern__v1__agenda__descriptor, &out, NULL, 0, NULL, 0), 0);
    ln_client_destroy (&c);
    Lantern__V1__Agenda *ag = (Lantern__V1__Agenda *)out;
    ag->generated_at_us = 0;
    *size = protobuf_c_message_get_packed_size (out);
    uint8_t *buf = calloc (1, *size + 1);
    protobuf_c_message_pack (out, buf);
    s_free (out);
    return buf;
}

static void
test_issue11_drop_schema_and_replay_gives_the_same (void **state)
{
    (void)state;
    triage_region_config_t cfg = {.intakes = 2, .start_triage = true};
    triage_region_t *r = triage_region_new (&cfg);
    assert_non_null (r);
    ln_client_t *o[2] = {triage_region_client (r, 0, "officer-venlo"),
                         triage_region_client (r, 1, "officer-politie")};
    /* people seen at both nodes, some linking, some not, an amendment-free
       withdrawal that splits a case, urgent ones */
    char ids[12][TRIAGE_SIG_ID_SIZE];
    static const char *const names[] = {"Anna Kowalska", "Ewa Nowak", "Jan Jansen",
                                        "Maria Popescu"};
    static const char *const phones[] = {"06 11111111", "06 22222222", "06 33333333",
                                         "06 44444444"};
    for (int i = 0; i < 12; i++) {
        triage_sig_t s = {.persons = {{.name = names[i % 4],
                                       .dob = i % 3 ? "1990-01-02" : NULL,
                                       .phone = i % 2 ? phones[(i / 2) % 4] : NULL}},
                          .indicators = {i % 2 ? "ILO_DECEPTION" : "LIVES_AT_WORKPLACE"},
                          .danger = i == 5,
                          .minor = i == 7};
        if (!s.persons[0].phone && !s.persons[0].dob)
            s.plate = i % 4 == 0 ? "12-ABC-3" : NULL;
        assert_int_equal (triage_submit (o[i % 2], &s, ids[i]), 0);
    }
    assert_int_equal (triage_withdraw (o[1], ids[3], "a mistake"), 0);
    assert_int_equal (triage_region_settle (r, WAIT_MS), 0);
    char *before = s_rows (r);
    size_t size_before = 0, size_after = 0;
    uint8_t *agenda_before = s_agenda_bytes (r, &size_before);
    assert_non_null (before);
    assert_true (strlen (before) > 500);

    assert_int_equal (triage_region_stop_triage (r), 0);
    assert_int_equal (triage_region_drop_triage (r), 0);
    assert_int_equal (triage_region_start_triage (r), 0);
    assert_int_equal (triage_region_settle (r, WAIT_MS), 0);
    char *after = s_rows (r);
    uint8_t *agenda_after = s_agenda_bytes (r, &size_after);
    assert_string_equal (before, after);
    assert_int_equal (size_before, size_after);
    assert_memory_equal (agenda_before, agenda_after, size_before);
    free (before);
    free (after);
    free (agenda_before);
    free (agenda_after);
    ln_client_destroy (&o[0]);
    ln_client_destroy (&o[1]);
    assert_int_equal (triage_region_destroy (&r), 0);
}

/* --- SIGKILL during a burst ---------------------------------------------------------- */

static void
test_issue11_sigkill_during_a_burst_loses_and_doubles_nothing (void **state)
{
    (void)state;
    triage_region_config_t cfg = {.intakes = 2, .start_triage = true};
    triage_region_t *r = triage_region_new (&cfg);
    assert_non_null (r);
    ln_client_t *o[2] = {triage_region_client (r, 0, "officer-venlo"),
                         triage_region_client (r, 1, "officer-politie")};
    enum { N = 240 };
    char id[TRIAGE_SIG_ID_SIZE];
    int kills = 0;
    for (int i = 0; i < N; i++) {
        char name[64], phone[32];
        /* every fifth shares a phone with the one before: some link */
        snprintf (name, sizeof name, "Person Number %c%c", 'a' + i % 26, 'a' + (i / 26) % 26);
        snprintf (phone, sizeof phone, "06 %08d", 10000000 + (i % 5 == 4 ? i - 1 : i));
        triage_sig_t s = {.persons = {{.name = name, .phone = phone}},
                          .indicators = {"ILO_DECEPTION"}};
        assert_int_equal (triage_submit (o[i % 2], &s, id), 0);
        if (i == N / 3 || i == 2 * N / 3) {
            assert_int_equal (triage_region_kill_triage (r), 0);
            kills++;
            assert_int_equal (triage_region_start_triage (r), 0);
        }
    }
    assert_int_equal (kills, 2);
    assert_int_equal (triage_region_settle (r, 60000), 0);
    /* every signal once, every case once, every event once */
    assert_int_equal (triage_region_count (r, "SELECT count(*) FROM triage.signals"), N);
    assert_int_equal (triage_region_count (r, "SELECT count(DISTINCT id) FROM triage.signals"), N);
    assert_int_equal (triage_region_count (r, "SELECT count(*) FROM triage.cases"), N - N / 5);
    assert_int_equal (triage_region_count (r, "SELECT count(DISTINCT case_id) FROM triage.signals"),
                      N - N / 5);
    assert_int_equal (triage_region_count (r, "SELECT count(*) FROM triage.links"), N / 5);
    /* No case opened twice.  A pair whose later signal reached triage first
       opened a case that the earlier one renamed (case.merged); one that
       came in order, case.linked: one of the two per pair. */
    long opened = triage_region_count (r, "SELECT count(*) FROM triage.outbox WHERE type ="
                                          " 'nl.lantern.case.opened.v1'");
    assert_int_equal (triage_region_count (r, "SELECT count(DISTINCT correlation_id) FROM"
                                              " triage.outbox WHERE type ="
                                              " 'nl.lantern.case.opened.v1'"),
                      opened);
    assert_int_equal (triage_region_count (r, "SELECT count(*) FROM triage.case_history WHERE"
                                              " action = 'opened'"),
                      opened);
    assert_int_equal (triage_region_count (r, "SELECT count(*) FROM triage.outbox WHERE type IN"
                                              " ('nl.lantern.case.linked.v1',"
                                              " 'nl.lantern.case.merged.v1')"),
                      N / 5);
    assert_int_equal (opened - triage_region_count (r, "SELECT count(*) FROM triage.outbox WHERE"
                                                       " type = 'nl.lantern.case.merged.v1'"),
                      N - N / 5);
    ln_client_destroy (&o[0]);
    ln_client_destroy (&o[1]);
    assert_int_equal (triage_region_destroy (&r), 0);
}

int
main (void)
{
    const struct CMUnitTest scenario[] = {
        cmocka_unit_test (test_issue11_scenario_links_and_merges),
        cmocka_unit_test (test_issue11_agenda_ordered_and_explained),
        cmocka_unit_test (test_issue11_immediate_danger_alert_within_one_second),
        cmocka_unit_test (test_issue11_decisions_refusals_and_partners),
        cmocka_unit_test (test_issue11_more_information_returns_at_its_deadline),
        cmocka_unit_test (test_issue11_intake_sees_its_own_outcomes_only),
        cmocka_unit_test (test_issue11_every_command_and_read_audited),
        cmocka_unit_test (test_issue11_purged_at_intake_erased_at_triage),
        cmocka_unit_test (test_issue11_lost_upstream_lagging_others_go_on_new_one_from_zero),
        cmocka_unit_test (test_issue9_hostile_upstream_refused_event_stops_there_others_go_on),
    };
    const struct CMUnitTest own[] = {
        cmocka_unit_test (test_issue11_drop_schema_and_replay_gives_the_same),
        cmocka_unit_test (test_issue11_sigkill_during_a_burst_loses_and_doubles_nothing),
    };
    int failed = cmocka_run_group_tests_name ("triage", scenario, s_setup, s_teardown);
    s_register_types ();
    failed += cmocka_run_group_tests_name ("triage_own_regions", own, NULL, NULL);
    return failed;
}
