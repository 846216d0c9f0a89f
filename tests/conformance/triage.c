/*  conformance, triage: lantern-triage's codes (docs/protocol.md 4.8.6 and
    4.8.7), each produced through a real lantern-triage process that
    follows a real lantern-intake process (tests/support/triage_region),
    over CURVE, as the principal the rule is about: the chair of the
    meeting, a chair of another organisation, the partners of two
    organisations, and a care coordinator's key (no role at the table).

    The fixture submits ten signals at the intake node, each about a
    person of its own (one phone number each), and waits until triage has
    made their cases:
      K  decided at setup with two tracks led by the police: the life of
         a track and of a case (FORBIDDEN for another organisation,
         INVALID_TRANSITION, TRACK_FINISHED, TRACKS_NOT_DONE, CASE_CLOSED);
      L  the largest decision triage accepts (check k_decision);
      N  NO_ACTION with the longest reason (k_no_action), then closed;
      M  a minor involved (MINOR_WITHOUT_YOUTH_PROTECTION);
      D  immediate danger: an alert (k_alert_note, ALREADY_ACKNOWLEDGED);
      X1, X2 and X3, which shares X1's phone and X2's: X2 is merged into
         X1 (CASE_MERGED; X1 stays undecided: CASE_NOT_DECIDED);
      T, U  decided at setup with one police track each: the longest
         hand-back reason (T), outcome and summary (U).
    Rules of the message alone are sent for a case id that does not exist:
    they are checked before the case is looked up, so nothing else can be
    the reason.

    Checks (the limits of docs/protocol.md 7.1 and 4.8.6, each from both
    sides): a decision with every list at its count and every text at its
    length is accepted and stored whole, one element or byte more of each
    is refused with its code and field and changes nothing; the same for
    the reasons, outcome, summary, an alert's note, a purpose, page sizes
    and ListTracks' lead.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conformance.h"
#include "triage.pb-c.h"
#include "triage_calls.h"
#include "triage_region.h"

#define TRIAGE  TRIAGE_REGION_TRIAGE
#define TK(x)   LANTERN__V1__TRACK_KIND__TRACK_KIND_##x
#define TS(x)   LANTERN__V1__TRACK_STATE__TRACK_STATE_##x
#define CS(x)   LANTERN__V1__CASE_STATE__CASE_STATE_##x
#define POLICE  "politie-limburg-noord"
#define VENLO   "gemeente-venlo"
#define NOWHERE "case-aaaaaaaaaaaaaaaaaaaaaaaaaa" /* well formed, never made */
#define ID_SIZE 64

typedef struct {
    triage_region_t *r;
    ln_client_t *officer;   /* officer-venlo at the intake node */
    ln_client_t *chair;     /* screening_chair of the node's organisation */
    ln_client_t *elsewhere; /* screening_chair of another organisation */
    ln_client_t *police;    /* partner-politie: screening_partner */
    ln_client_t *venlo;     /* partner-venlo: screening_partner */
    ln_client_t *care;      /* role care: calls nothing at triage */
    char k[ID_SIZE], l[ID_SIZE], n[ID_SIZE], m[ID_SIZE], d[ID_SIZE], x1[ID_SIZE], x2[ID_SIZE],
        t[ID_SIZE], u[ID_SIZE];
    char k_criminal[ID_SIZE], k_admin[ID_SIZE], t_track[ID_SIZE], u_track[ID_SIZE];
    char alert[ID_SIZE]; /* D's */
} tconf_t;

/* --- small helpers ------------------------------------------------------------------ */

/* A date `days` from today (UTC), YYYY-MM-DD.  Two days back is before
   today in every time zone, so before the meeting's too; three ahead is
   after it. */
static void
s_date (int days, char out[11])
{
    time_t t = time (NULL) + (time_t)days * 86400;
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (out, 11, "%Y-%m-%d", &tm);
}

/* n bytes of text from a pattern (malloc'ed); never ends in a space. */
static char *
s_text (size_t n, const char *pattern)
{
    char *t = malloc (n + 1);
    assert_non_null (t);
    size_t len = strlen (pattern);
    for (size_t i = 0; i < n; i++)
        t[i] = pattern[i % len];
    t[n] = '\0';
    if (n > 0 && t[n - 1] == ' ')
        t[n - 1] = '.';
    return t;
}

/* Call a command; "OK" (with *out when out is given) or the code (field
   copied).  Fails the test when no reply came. */
static const char *
s_try (ln_client_t *c, const ProtobufCMessage *cmd, const ProtobufCMessageDescriptor *result,
       ProtobufCMessage **out, char *field, size_t field_size)
{
    static char code[64];
    ProtobufCMessage *got = NULL;
    char f[128] = "";
    code[0] = '\0';
    int rc = triage_call (c, cmd, result, &got, code, sizeof code, f, sizeof f);
    if (rc < 0)
        fail_msg ("no reply to %s", cmd->descriptor->name);
    if (field)
        snprintf (field, field_size, "%s", rc == 0 ? "" : f);
    if (rc == 0) {
        snprintf (code, sizeof code, "OK");
        if (out)
            *out = got;
        else
            protobuf_c_message_free_unpacked (got, NULL);
    }
    return code;
}

/* The refusal `code` at `field` (or an OK reply when code is "OK"). */
static void
s_expect (ln_client_t *c, const ProtobufCMessage *cmd, const ProtobufCMessageDescriptor *result,
          const char *code, const char *field, const char *what)
{
    char got_field[128];
    const char *got = s_try (c, cmd, result, NULL, got_field, sizeof got_field);
    if (strcmp (got, code) != 0 || (strcmp (code, "OK") != 0 && strcmp (got_field, field) != 0))
        fail_msg ("%s: expected %s at '%s', got %s at '%s'", what, code, field, got, got_field);
}

static Lantern__V1__CaseRecord *
s_get_case (ln_client_t *c, const char *id)
{
    Lantern__V1__GetCase g = LANTERN__V1__GET_CASE__INIT;
    g.case_id = (char *)id;
    g.purpose = "conformance: the case's state";
    ProtobufCMessage *out = NULL;
    if (strcmp (s_try (c, &g.base, &lantern__v1__case_record__descriptor, &out, NULL, 0), "OK") !=
        0)
        return NULL;
    return (Lantern__V1__CaseRecord *)out;
}

/* Wait until triage has case `id` as case `as` (itself, or the case it
   was merged into), with `alerts` alerts at least. */
static int
s_wait_case (tconf_t *f, const char *id, const char *as, size_t alerts)
{
    int64_t until = triage_now_ms () + 60000;
    while (triage_now_ms () < until) {
        Lantern__V1__CaseRecord *r = s_get_case (f->chair, id);
        bool ok = r && strcmp (r->case_id, as) == 0 && r->n_alerts >= alerts;
        if (r)
            protobuf_c_message_free_unpacked (&r->base, NULL);
        if (ok)
            return 0;
        usleep (100 * 1000);
    }
    fprintf (stderr, "conformance triage: no case %s as %s at triage\n", id, as);
    return -1;
}

/* Submit a signal about one person (and a second phone, or NULL): its
   case's id ("case-" and the signal's characters) into case_id. */
static int
s_signal (tconf_t *f, const char *name, const char *phone, const char *phone2, bool danger,
          bool minor, char *case_id)
{
    triage_sig_t spec = {
        .persons = {{.name = name, .phone = phone},
                    {.name = phone2 ? name : NULL, .phone = phone2}},
        .indicators = {"ILO_DEBT_BONDAGE"},
        .danger = danger,
        .minor = minor,
    };
    char sig[TRIAGE_SIG_ID_SIZE];
    if (triage_submit (f->officer, &spec, sig) != 0)
        return -1;
    snprintf (case_id, ID_SIZE, "case-%s", sig + 4);
    return 0;
}

/* --- decisions --------------------------------------------------------------------- */

#define TRACKS_MAX    17
#define ATTENDEES_MAX 31

/* A RecordDecision and the memory it points into. */
typedef struct {
    Lantern__V1__RecordDecision cmd;
    Lantern__V1__TrackSpec specs[TRACKS_MAX];
    Lantern__V1__TrackSpec *tracks[TRACKS_MAX];
    char *attendees[ATTENDEES_MAX];
    char meeting[11], deadline[11], before[11];
} decision_t;

/* At a meeting two days ago, both intake organisations attending, one
   CRIMINAL track led by the police, 30 days later. */
static void
s_decision (decision_t *d, const char *case_id)
{
    memset (d, 0, sizeof *d);
    lantern__v1__record_decision__init (&d->cmd);
    s_date (-2, d->meeting);
    s_date (28, d->deadline);
    s_date (-3, d->before);
    d->cmd.case_id = (char *)case_id;
    d->cmd.meeting_id = d->meeting;
    d->attendees[0] = VENLO;
    d->attendees[1] = POLICE;
    d->cmd.attendees = d->attendees;
    d->cmd.n_attendees = 2;
    for (size_t i = 0; i < TRACKS_MAX; i++) {
        lantern__v1__track_spec__init (&d->specs[i]);
        d->tracks[i] = &d->specs[i];
    }
    d->specs[0].kind = TK (CRIMINAL);
    d->specs[0].lead_organisation = POLICE;
    d->specs[0].deadline = d->deadline;
    d->cmd.tracks = d->tracks;
    d->cmd.n_tracks = 1;
}

/* Record d as the chair; the ids of its first tracks into ids (n). */
static int
s_decide (tconf_t *f, decision_t *d, char (*ids)[ID_SIZE], size_t n)
{
    ProtobufCMessage *out = NULL;
    char field[128];
    const char *code =
        s_try (f->chair, &d->cmd.base, &lantern__v1__record_decision_result__descriptor, &out,
               field, sizeof field);
    if (strcmp (code, "OK") != 0) {
        fprintf (stderr, "conformance triage: decision on %s refused: %s at %s\n", d->cmd.case_id,
                 code, field);
        return -1;
    }
    const Lantern__V1__RecordDecisionResult *res = (const Lantern__V1__RecordDecisionResult *)out;
    for (size_t i = 0; i < n && i < res->decision->n_tracks; i++)
        snprintf (ids[i], ID_SIZE, "%s", res->decision->tracks[i]->track_id);
    protobuf_c_message_free_unpacked (out, NULL);
    return 0;
}

/* --- fixture ------------------------------------------------------------------------- */

static void
s_teardown (void *fixture)
{
    tconf_t *f = fixture;
    if (!f)
        return;
    ln_client_destroy (&f->officer);
    ln_client_destroy (&f->chair);
    ln_client_destroy (&f->elsewhere);
    ln_client_destroy (&f->police);
    ln_client_destroy (&f->venlo);
    ln_client_destroy (&f->care);
    triage_region_destroy (&f->r);
    free (f);
}

static void *
s_setup (void)
{
    tconf_t *f = calloc (1, sizeof *f);
    assert_non_null (f);
    triage_region_config_t config = {.intakes = 1, .start_triage = true};
    f->r = triage_region_new (&config);
    if (!f->r)
        goto fail;
    f->officer = triage_region_client (f->r, 0, triage_region_officer (f->r, 0));
    f->chair = triage_region_client (f->r, TRIAGE, "chair");
    f->elsewhere = triage_region_client (f->r, TRIAGE, "chair-elsewhere");
    f->police = triage_region_client (f->r, TRIAGE, "partner-politie");
    f->venlo = triage_region_client (f->r, TRIAGE, "partner-venlo");
    f->care = triage_region_client (f->r, TRIAGE, "care");
    if (!f->officer || !f->chair || !f->elsewhere || !f->police || !f->venlo || !f->care)
        goto fail;
    char x3[ID_SIZE];
    if (s_signal (f, "Karin Konform", "06 3100 0001", NULL, false, false, f->k) != 0 ||
        s_signal (f, "Lena Konform", "06 3100 0002", NULL, false, false, f->l) != 0 ||
        s_signal (f, "Nina Konform", "06 3100 0003", NULL, false, false, f->n) != 0 ||
        s_signal (f, "Mira Konform", "06 3100 0004", NULL, false, true, f->m) != 0 ||
        s_signal (f, "Dora Konform", "06 3100 0005", NULL, true, false, f->d) != 0 ||
        s_signal (f, "Xenia Konform", "06 3100 0006", NULL, false, false, f->x1) != 0 ||
        s_signal (f, "Xaver Konform", "06 3100 0007", NULL, false, false, f->x2) != 0 ||
        s_signal (f, "Tara Konform", "06 3100 0008", NULL, false, false, f->t) != 0 ||
        s_signal (f, "Ute Konform", "06 3100 0009", NULL, false, false, f->u) != 0)
        goto fail;
    if (s_wait_case (f, f->x2, f->x2, 0) != 0 ||
        s_signal (f, "Xena Konform", "06 3100 0006", "06 3100 0007", false, false, x3) != 0)
        goto fail;
    if (s_wait_case (f, f->k, f->k, 0) != 0 || s_wait_case (f, f->l, f->l, 0) != 0 ||
        s_wait_case (f, f->n, f->n, 0) != 0 || s_wait_case (f, f->m, f->m, 0) != 0 ||
        s_wait_case (f, f->d, f->d, 1) != 0 || s_wait_case (f, f->t, f->t, 0) != 0 ||
        s_wait_case (f, f->u, f->u, 0) != 0 || s_wait_case (f, f->x2, f->x1, 0) != 0)
        goto fail;
    snprintf (f->alert, sizeof f->alert, "alert-%s-danger", f->d + 5);

    /* K: two police tracks; T and U: one each */
    decision_t d;
    char ids[2][ID_SIZE];
    s_decision (&d, f->k);
    d.specs[1].kind = TK (ADMINISTRATIVE);
    d.specs[1].lead_organisation = POLICE;
    d.specs[1].deadline = d.deadline;
    d.cmd.n_tracks = 2;
    if (s_decide (f, &d, ids, 2) != 0)
        goto fail;
    snprintf (f->k_criminal, sizeof f->k_criminal, "%s", ids[0]);
    snprintf (f->k_admin, sizeof f->k_admin, "%s", ids[1]);
    s_decision (&d, f->t);
    if (s_decide (f, &d, ids, 1) != 0)
        goto fail;
    snprintf (f->t_track, sizeof f->t_track, "%s", ids[0]);
    s_decision (&d, f->u);
    if (s_decide (f, &d, ids, 1) != 0)
        goto fail;
    snprintf (f->u_track, sizeof f->u_track, "%s", ids[0]);
    return f;
fail:
    s_teardown (f);
    return NULL;
}

/* --- the cases: RecordDecision --------------------------------------------------------- */

typedef struct {
    /* change the baseline decision (on NOWHERE unless it sets another) */
    void (*mutate) (tconf_t *f, decision_t *d);
    const char *who; /* "chair" (NULL), "elsewhere" */
} decide_arg_t;

static int
c_decide (void *fixture, const void *arg, conf_result_t *r)
{
    tconf_t *f = fixture;
    const decide_arg_t *a = arg;
    decision_t d;
    s_decision (&d, NOWHERE);
    if (a->mutate)
        a->mutate (f, &d);
    ln_client_t *c = a->who && strcmp (a->who, "elsewhere") == 0 ? f->elsewhere : f->chair;
    return conf_call (c, CONF_CALL, &d.cmd.base, r);
}

static char s_31[ATTENDEES_MAX][40];

static void
m_no_case (tconf_t *f, decision_t *d)
{
    (void)f;
    d->cmd.case_id = "";
}
static void
m_bad_case (tconf_t *f, decision_t *d)
{
    (void)f;
    d->cmd.case_id = "case-1";
}
static void
m_bad_revision (tconf_t *f, decision_t *d)
{
    (void)f;
    d->cmd.case_revision = "abc";
}
static void
m_no_meeting (tconf_t *f, decision_t *d)
{
    (void)f;
    d->cmd.meeting_id = "";
}
static void
m_bad_meeting (tconf_t *f, decision_t *d)
{
    (void)f;
    d->cmd.meeting_id = "2026-02-30";
}
static void
m_future_meeting (tconf_t *f, decision_t *d)
{
    (void)f;
    s_date (3, d->meeting);
    s_date (40, d->deadline);
}
static void
m_no_attendees (tconf_t *f, decision_t *d)
{
    (void)f;
    d->cmd.n_attendees = 0;
}
static void
m_31_attendees (tconf_t *f, decision_t *d)
{
    (void)f;
    for (size_t i = 0; i < ATTENDEES_MAX; i++) {
        snprintf (s_31[i], sizeof s_31[i], "organisation-%zu", i);
        d->attendees[i] = s_31[i];
    }
    d->cmd.n_attendees = ATTENDEES_MAX;
}
static void
m_blank_attendee (tconf_t *f, decision_t *d)
{
    (void)f;
    d->attendees[1] = " \t";
}
static void
m_twice_attendee (tconf_t *f, decision_t *d)
{
    (void)f;
    d->attendees[1] = VENLO;
}
static void
m_lf_attendee (tconf_t *f, decision_t *d)
{
    (void)f;
    d->attendees[0] = VENLO "\n" POLICE;
}
static void
m_no_tracks (tconf_t *f, decision_t *d)
{
    (void)f;
    d->cmd.n_tracks = 0;
}
static void
m_17_tracks (tconf_t *f, decision_t *d)
{
    (void)f;
    for (size_t i = 1; i < TRACKS_MAX; i++)
        d->specs[i] = d->specs[0];
    d->cmd.n_tracks = TRACKS_MAX;
}
static void
m_no_kind (tconf_t *f, decision_t *d)
{
    (void)f;
    d->specs[0].kind = TK (UNSPECIFIED);
}
static void
m_undefined_kind (tconf_t *f, decision_t *d)
{
    (void)f;
    d->specs[0].kind = (Lantern__V1__TrackKind)9;
}
static void
m_no_action_and_care (tconf_t *f, decision_t *d)
{
    (void)f;
    d->specs[1] = d->specs[0];
    d->specs[1].kind = TK (CARE);
    d->specs[0] = (Lantern__V1__TrackSpec)LANTERN__V1__TRACK_SPEC__INIT;
    d->specs[0].kind = TK (NO_ACTION);
    d->cmd.n_tracks = 2;
    d->cmd.no_action_reason = "a common name, nothing else";
}
static void
m_no_action_lead (tconf_t *f, decision_t *d)
{
    (void)f;
    d->specs[0].kind = TK (NO_ACTION);
    d->specs[0].deadline = "";
    d->cmd.no_action_reason = "a common name, nothing else";
}
static void
m_no_action_deadline (tconf_t *f, decision_t *d)
{
    (void)f;
    d->specs[0].kind = TK (NO_ACTION);
    d->specs[0].lead_organisation = "";
    d->cmd.no_action_reason = "a common name, nothing else";
}
static void
m_no_lead (tconf_t *f, decision_t *d)
{
    (void)f;
    d->specs[0].lead_organisation = " ";
}
static void
m_no_deadline (tconf_t *f, decision_t *d)
{
    (void)f;
    d->specs[0].deadline = "";
}
static void
m_shorthand_deadline (tconf_t *f, decision_t *d)
{
    (void)f;
    d->specs[0].deadline = "+21d"; /* lanternctl's, not the wire's */
}
static void
m_early_deadline (tconf_t *f, decision_t *d)
{
    (void)f;
    d->specs[0].deadline = d->before;
}
static void
m_bidi_note (tconf_t *f, decision_t *d)
{
    (void)f;
    d->specs[0].note = "shelter first \xe2\x80\xae";
}
static void
m_twice_track (tconf_t *f, decision_t *d)
{
    (void)f;
    d->specs[1] = d->specs[0];
    d->cmd.n_tracks = 2;
}
static void
m_no_reason (tconf_t *f, decision_t *d)
{
    (void)f;
    d->specs[0] = (Lantern__V1__TrackSpec)LANTERN__V1__TRACK_SPEC__INIT;
    d->specs[0].kind = TK (NO_ACTION);
    d->cmd.no_action_reason = "  ";
}
static void
m_reason_without (tconf_t *f, decision_t *d)
{
    (void)f;
    d->cmd.no_action_reason = "nothing to do";
}
static void
m_long_minutes (tconf_t *f, decision_t *d)
{
    (void)f;
    static char *minutes;
    if (!minutes)
        minutes = s_text (20001, "Victim needs shelter; police investigates. ");
    d->cmd.minutes = minutes;
}
static void
m_cr_minutes (tconf_t *f, decision_t *d)
{
    (void)f;
    d->cmd.minutes = "Victim needs shelter.\r\nPolice investigates.";
}
static void
m_latin1_minutes (tconf_t *f, decision_t *d)
{
    (void)f;
    d->cmd.minutes = "caf\xe9";
}
static void
m_long_youth_reason (tconf_t *f, decision_t *d)
{
    (void)f;
    static char *reason;
    if (!reason)
        reason = s_text (1001, "the victim is an adult now. ");
    d->cmd.no_youth_protection_reason = reason;
}
static void
m_on_merged (tconf_t *f, decision_t *d)
{
    d->cmd.case_id = f->x2;
}
static void
m_changed (tconf_t *f, decision_t *d)
{
    d->cmd.case_id = f->x1;
    d->cmd.case_revision = "0000000000000000";
}
static void
m_minor (tconf_t *f, decision_t *d)
{
    d->cmd.case_id = f->m;
}
static void
m_on_closed (tconf_t *f, decision_t *d)
{
    d->cmd.case_id = f->k; /* closed by the CloseCase cases before */
}

#define DA(name, fn) static const decide_arg_t name = {fn, NULL}
DA (a_no_case, m_no_case);
DA (a_bad_case, m_bad_case);
DA (a_bad_revision, m_bad_revision);
DA (a_no_meeting, m_no_meeting);
DA (a_bad_meeting, m_bad_meeting);
DA (a_future_meeting, m_future_meeting);
DA (a_no_attendees, m_no_attendees);
DA (a_31_attendees, m_31_attendees);
DA (a_blank_attendee, m_blank_attendee);
DA (a_twice_attendee, m_twice_attendee);
DA (a_lf_attendee, m_lf_attendee);
DA (a_no_tracks, m_no_tracks);
DA (a_17_tracks, m_17_tracks);
DA (a_no_kind, m_no_kind);
DA (a_undefined_kind, m_undefined_kind);
DA (a_no_action_and_care, m_no_action_and_care);
DA (a_no_action_lead, m_no_action_lead);
DA (a_no_action_deadline, m_no_action_deadline);
DA (a_no_lead, m_no_lead);
DA (a_no_deadline, m_no_deadline);
DA (a_shorthand_deadline, m_shorthand_deadline);
DA (a_early_deadline, m_early_deadline);
DA (a_bidi_note, m_bidi_note);
DA (a_twice_track, m_twice_track);
DA (a_no_reason, m_no_reason);
DA (a_reason_without, m_reason_without);
DA (a_long_minutes, m_long_minutes);
DA (a_cr_minutes, m_cr_minutes);
DA (a_latin1_minutes, m_latin1_minutes);
DA (a_long_youth_reason, m_long_youth_reason);
DA (a_nowhere, NULL);
DA (a_on_merged, m_on_merged);
DA (a_changed, m_changed);
DA (a_minor, m_minor);
DA (a_on_closed, m_on_closed);
static const decide_arg_t a_elsewhere = {NULL, "elsewhere"};

/* --- the cases: UpdateTrack -------------------------------------------------------------- */

typedef struct {
    const char *track; /* an id, or "k_criminal", "k_admin" */
    int state;
    const char *outcome, *reason;
    const char *who; /* "police" (NULL) or "venlo" */
    /* a move made first (as the police), whatever it gives: the state the
       case needs */
    const char *first_track;
    int first_state;
} update_arg_t;

static const char *
s_track (tconf_t *f, const char *name)
{
    if (!name)
        return NULL;
    if (strcmp (name, "k_criminal") == 0)
        return f->k_criminal;
    if (strcmp (name, "k_admin") == 0)
        return f->k_admin;
    return name;
}

static void
s_move (tconf_t *f, const char *track, int state)
{
    Lantern__V1__UpdateTrack u = LANTERN__V1__UPDATE_TRACK__INIT;
    u.track_id = (char *)track;
    u.state = state;
    if (state == TS (DONE))
        u.outcome = "report made";
    s_try (f->police, &u.base, &lantern__v1__update_track_result__descriptor, NULL, NULL, 0);
}

static int
c_update (void *fixture, const void *arg, conf_result_t *r)
{
    tconf_t *f = fixture;
    const update_arg_t *a = arg;
    if (a->first_track)
        s_move (f, s_track (f, a->first_track), a->first_state);
    Lantern__V1__UpdateTrack u = LANTERN__V1__UPDATE_TRACK__INIT;
    u.track_id = (char *)s_track (f, a->track);
    u.state = a->state;
    if (a->outcome)
        u.outcome = (char *)a->outcome;
    if (a->reason)
        u.reason = (char *)a->reason;
    ln_client_t *c = a->who && strcmp (a->who, "venlo") == 0 ? f->venlo : f->police;
    return conf_call (c, CONF_CALL, &u.base, r);
}

#define TRK_NOWHERE "trk-aaaaaaaaaaaaaaaaaaaaaaaaaa"
static char s_outcome_2001[2002];
static const update_arg_t u_no_id = {"", TS (IN_PROGRESS), NULL, NULL, NULL, NULL, 0};
static const update_arg_t u_bad_id = {"trk-1", TS (IN_PROGRESS), NULL, NULL, NULL, NULL, 0};
static const update_arg_t u_no_state = {TRK_NOWHERE, TS (UNSPECIFIED), NULL, NULL, NULL, NULL, 0};
static const update_arg_t u_open = {TRK_NOWHERE, TS (OPEN), NULL, NULL, NULL, NULL, 0};
static const update_arg_t u_undefined = {TRK_NOWHERE, 9, NULL, NULL, NULL, NULL, 0};
static const update_arg_t u_no_outcome = {TRK_NOWHERE, TS (DONE), " ", NULL, NULL, NULL, 0};
static const update_arg_t u_no_reason = {TRK_NOWHERE, TS (HANDED_BACK), NULL, "", NULL, NULL, 0};
static const update_arg_t u_outcome_without = {
    TRK_NOWHERE, TS (IN_PROGRESS), "report made", NULL, NULL, NULL, 0};
static const update_arg_t u_reason_without = {
    TRK_NOWHERE, TS (DONE), "report made", "not ours", NULL, NULL, 0};
static const update_arg_t u_long_outcome = {TRK_NOWHERE, TS (DONE), s_outcome_2001, NULL, NULL,
                                            NULL,        0};
static const update_arg_t u_cr_reason = {
    TRK_NOWHERE, TS (HANDED_BACK), NULL, "not ours\r", NULL, NULL, 0};
static const update_arg_t u_nowhere = {TRK_NOWHERE, TS (IN_PROGRESS), NULL, NULL, NULL, NULL, 0};
static const update_arg_t u_other_org = {
    "k_criminal", TS (IN_PROGRESS), NULL, NULL, "venlo", NULL, 0};
static const update_arg_t u_again = {"k_admin", TS (IN_PROGRESS), NULL, NULL, NULL,
                                     "k_admin", TS (IN_PROGRESS)};
static const update_arg_t u_finished = {"k_criminal", TS (IN_PROGRESS), NULL,     NULL,
                                        NULL,         "k_criminal",     TS (DONE)};
static const update_arg_t u_case_closed = {
    "k_criminal", TS (HANDED_BACK), NULL, "not ours", NULL, NULL, 0};

/* --- the cases: CloseCase ----------------------------------------------------------------- */

typedef struct {
    const char *which; /* "", "case-1", NOWHERE, "x1", "x2", "k", "k-ready" */
    const char *summary;
    bool elsewhere;
} close_arg_t;

static int
c_close (void *fixture, const void *arg, conf_result_t *r)
{
    tconf_t *f = fixture;
    const close_arg_t *a = arg;
    const char *id = a->which;
    if (strcmp (a->which, "x1") == 0)
        id = f->x1;
    else if (strcmp (a->which, "x2") == 0)
        id = f->x2;
    else if (strcmp (a->which, "k") == 0)
        id = f->k;
    else if (strcmp (a->which, "k-ready") == 0) {
        /* every track of K done, then closed: the case is closed */
        s_move (f, f->k_admin, TS (DONE));
        Lantern__V1__CloseCase first = LANTERN__V1__CLOSE_CASE__INIT;
        first.case_id = f->k;
        s_try (f->chair, &first.base, &lantern__v1__close_case_result__descriptor, NULL, NULL, 0);
        id = f->k;
    }
    Lantern__V1__CloseCase c = LANTERN__V1__CLOSE_CASE__INIT;
    c.case_id = (char *)id;
    if (a->summary)
        c.summary = (char *)a->summary;
    return conf_call (a->elsewhere ? f->elsewhere : f->chair, CONF_CALL, &c.base, r);
}

static char s_summary_2001[2002];
static const close_arg_t k_no_id = {"", NULL, false};
static const close_arg_t k_bad_id = {"case-1", NULL, false};
static const close_arg_t k_long_summary = {NOWHERE, s_summary_2001, false};
static const close_arg_t k_nowhere = {NOWHERE, NULL, false};
static const close_arg_t k_merged = {"x2", NULL, false};
static const close_arg_t k_undecided = {"x1", NULL, false};
static const close_arg_t k_not_done = {"k", NULL, false};
static const close_arg_t k_elsewhere = {"k", NULL, true};
static const close_arg_t k_closed = {"k-ready", NULL, false};

/* --- the cases: alerts, reads -------------------------------------------------------------- */

typedef struct {
    const char *alert; /* an id, or "d": D's (acknowledged once first) */
    const char *note;
} ack_arg_t;

static int
c_ack (void *fixture, const void *arg, conf_result_t *r)
{
    tconf_t *f = fixture;
    const ack_arg_t *a = arg;
    Lantern__V1__AcknowledgeAlert ack = LANTERN__V1__ACKNOWLEDGE_ALERT__INIT;
    ack.alert_id = (char *)a->alert;
    if (strcmp (a->alert, "d") == 0) {
        ack.alert_id = f->alert;
        s_try (f->chair, &ack.base, &lantern__v1__acknowledge_alert_result__descriptor, NULL, NULL,
               0);
    }
    if (a->note)
        ack.note = (char *)a->note;
    return conf_call (f->chair, CONF_CALL, &ack.base, r);
}

static char s_note_1001[1002];
static const ack_arg_t x_no_id = {"", NULL};
static const ack_arg_t x_bad_id = {"alert-1", NULL};
static const ack_arg_t x_long_note = {"alert-aaaaaaaaaaaaaaaaaaaaaaaaaa-danger", s_note_1001};
static const ack_arg_t x_nowhere = {"alert-aaaaaaaaaaaaaaaaaaaaaaaaaa-danger", NULL};
static const ack_arg_t x_twice = {"d", NULL};

typedef struct {
    const char *case_id, *purpose;
    bool care; /* as the care coordinator's key */
} get_arg_t;

static int
c_get (void *fixture, const void *arg, conf_result_t *r)
{
    tconf_t *f = fixture;
    const get_arg_t *a = arg;
    Lantern__V1__GetCase g = LANTERN__V1__GET_CASE__INIT;
    g.case_id = (char *)a->case_id;
    g.purpose = (char *)a->purpose;
    return conf_call (a->care ? f->care : f->chair, CONF_CALL, &g.base, r);
}

static char s_purpose_501[502];
static const get_arg_t g_no_id = {"", "meeting preparation", false};
static const get_arg_t g_bad_id = {"case-AAAAAAAAAAAAAAAAAAAAAAAAAA", "meeting preparation", false};
static const get_arg_t g_no_purpose = {NOWHERE, " ", false};
static const get_arg_t g_long_purpose = {NOWHERE, s_purpose_501, false};
static const get_arg_t g_lf_purpose = {NOWHERE, "meeting\npreparation", false};
static const get_arg_t g_nowhere = {NOWHERE, "meeting preparation", false};
static const get_arg_t g_care = {NOWHERE, "meeting preparation", true};

typedef struct {
    char which; /* 'c' ListCases, 'a' ListAlerts, 't' ListTracks, 'g' GetAgenda */
    int state_or_kind;
    uint32_t page_size;
    const char *page_token, *lead, *meeting;
} list_arg_t;

static int
c_list (void *fixture, const void *arg, conf_result_t *r)
{
    tconf_t *f = fixture;
    const list_arg_t *a = arg;
    if (a->which == 'c') {
        Lantern__V1__ListCases l = LANTERN__V1__LIST_CASES__INIT;
        l.state = a->state_or_kind;
        l.page_size = a->page_size;
        if (a->page_token)
            l.page_token = (char *)a->page_token;
        return conf_call (f->chair, CONF_CALL, &l.base, r);
    }
    if (a->which == 'a') {
        Lantern__V1__ListAlerts l = LANTERN__V1__LIST_ALERTS__INIT;
        l.page_size = a->page_size;
        if (a->page_token)
            l.page_token = (char *)a->page_token;
        return conf_call (f->chair, CONF_CALL, &l.base, r);
    }
    if (a->which == 't') {
        Lantern__V1__ListTracks l = LANTERN__V1__LIST_TRACKS__INIT;
        l.kind = a->state_or_kind;
        l.page_size = a->page_size;
        if (a->page_token)
            l.page_token = (char *)a->page_token;
        if (a->lead)
            l.lead_organisation = (char *)a->lead;
        return conf_call (f->police, CONF_CALL, &l.base, r);
    }
    Lantern__V1__GetAgenda g = LANTERN__V1__GET_AGENDA__INIT;
    g.meeting_id = (char *)a->meeting;
    return conf_call (f->chair, CONF_CALL, &g.base, r);
}

static char s_lead_201[202];
static const list_arg_t l_cases_state = {'c', 9, 0, NULL, NULL, NULL};
static const list_arg_t l_cases_page = {'c', 0, 501, NULL, NULL, NULL};
static const list_arg_t l_cases_token = {'c', 0, 0, "next", NULL, NULL};
static const list_arg_t l_alerts_page = {'a', 0, 501, NULL, NULL, NULL};
static const list_arg_t l_alerts_token = {'a', 0, 0, "1:sig-1", NULL, NULL};
static const list_arg_t l_tracks_kind = {'t', 9, 0, NULL, NULL, NULL};
static const list_arg_t l_tracks_page = {'t', 0, 501, NULL, NULL, NULL};
static const list_arg_t l_tracks_token = {'t', 0, 0, "2026-01-01:x", NULL, NULL};
static const list_arg_t l_tracks_lead = {'t', 0, 0, NULL, s_lead_201, NULL};
static const list_arg_t l_agenda_date = {'g', 0, 0, NULL, NULL, "2026-02-30"};
static const list_arg_t l_agenda_day = {'g', 0, 0, NULL, NULL, "2026-06-03"}; /* a Wednesday */

#define DECIDE (&lantern__v1__record_decision__descriptor)
#define UPDATE (&lantern__v1__update_track__descriptor)
#define CLOSE  (&lantern__v1__close_case__descriptor)
#define ACK    (&lantern__v1__acknowledge_alert__descriptor)
#define GET    (&lantern__v1__get_case__descriptor)
#define CASES  (&lantern__v1__list_cases__descriptor)
#define ALERTS (&lantern__v1__list_alerts__descriptor)
#define TRACKS (&lantern__v1__list_tracks__descriptor)
#define AGENDA (&lantern__v1__get_agenda__descriptor)

/* In this order: some build on the state the ones before left (K's
   tracks and its closing). */
static const conf_case_t s_cases[] = {
    /* RecordDecision: the message alone */
    {"FORBIDDEN", "", "RecordDecision by the chair of another organisation", DECIDE, c_decide,
     &a_elsewhere},
    {"MISSING_CASE_ID", "case_id", "RecordDecision without case_id", DECIDE, c_decide, &a_no_case},
    {"INVALID_CASE_ID", "case_id", "RecordDecision of case-1", DECIDE, c_decide, &a_bad_case},
    {"INVALID_REVISION", "case_revision", "RecordDecision with revision 'abc'", DECIDE, c_decide,
     &a_bad_revision},
    {"MISSING_MEETING", "meeting_id", "RecordDecision without meeting", DECIDE, c_decide,
     &a_no_meeting},
    {"INVALID_DATE", "meeting_id", "RecordDecision at meeting 2026-02-30", DECIDE, c_decide,
     &a_bad_meeting},
    {"DATE_IN_FUTURE", "meeting_id", "RecordDecision at a meeting three days ahead", DECIDE,
     c_decide, &a_future_meeting},
    {"MISSING_ATTENDEES", "attendees", "RecordDecision without attendees", DECIDE, c_decide,
     &a_no_attendees},
    {"TOO_MANY_ATTENDEES", "attendees", "RecordDecision with 31 attendees", DECIDE, c_decide,
     &a_31_attendees},
    {"EMPTY_ATTENDEE", "attendees[1]", "RecordDecision with a blank attendee", DECIDE, c_decide,
     &a_blank_attendee},
    {"DUPLICATE_ATTENDEE", "attendees[1]", "RecordDecision with an attendee twice", DECIDE,
     c_decide, &a_twice_attendee},
    {"CONTROL_CHARACTER", "attendees[0]", "RecordDecision with a line feed in an attendee", DECIDE,
     c_decide, &a_lf_attendee},
    {"MISSING_TRACKS", "tracks", "RecordDecision without tracks", DECIDE, c_decide, &a_no_tracks},
    {"TOO_MANY_TRACKS", "tracks", "RecordDecision with 17 tracks", DECIDE, c_decide, &a_17_tracks},
    {"MISSING_TRACK_KIND", "tracks[0].kind", "RecordDecision with a track of kind UNSPECIFIED",
     DECIDE, c_decide, &a_no_kind},
    {"PB_BAD_ENUM", "tracks[0].kind", "RecordDecision with a track of kind 9", DECIDE, c_decide,
     &a_undefined_kind},
    {"NO_ACTION_WITH_OTHER_TRACK", "tracks[1].kind", "RecordDecision of NO_ACTION and CARE", DECIDE,
     c_decide, &a_no_action_and_care},
    {"NO_ACTION_WITH_LEAD", "tracks[0].lead_organisation",
     "RecordDecision of NO_ACTION with a lead", DECIDE, c_decide, &a_no_action_lead},
    {"NO_ACTION_WITH_DEADLINE", "tracks[0].deadline", "RecordDecision of NO_ACTION with a deadline",
     DECIDE, c_decide, &a_no_action_deadline},
    {"MISSING_LEAD_ORGANISATION", "tracks[0].lead_organisation",
     "RecordDecision of a track with a blank lead", DECIDE, c_decide, &a_no_lead},
    {"MISSING_DEADLINE", "tracks[0].deadline", "RecordDecision of a track without deadline", DECIDE,
     c_decide, &a_no_deadline},
    {"INVALID_DATE", "tracks[0].deadline", "RecordDecision of a track with deadline '+21d'", DECIDE,
     c_decide, &a_shorthand_deadline},
    {"DEADLINE_BEFORE_MEETING", "tracks[0].deadline",
     "RecordDecision of a track due the day before its meeting", DECIDE, c_decide,
     &a_early_deadline},
    {"CONTROL_CHARACTER", "tracks[0].note", "RecordDecision with a bidi override in a note", DECIDE,
     c_decide, &a_bidi_note},
    {"DUPLICATE_TRACK", "tracks[1]", "RecordDecision of the same track twice", DECIDE, c_decide,
     &a_twice_track},
    {"TEXT_TOO_LONG", "minutes", "RecordDecision with minutes of 20,001 bytes", DECIDE, c_decide,
     &a_long_minutes},
    {"CONTROL_CHARACTER", "minutes", "RecordDecision with a carriage return in its minutes", DECIDE,
     c_decide, &a_cr_minutes},
    {"PB_INVALID_UTF8", "minutes", "RecordDecision with Latin-1 minutes", DECIDE, c_decide,
     &a_latin1_minutes},
    {"MISSING_NO_ACTION_REASON", "no_action_reason", "RecordDecision of NO_ACTION without reason",
     DECIDE, c_decide, &a_no_reason},
    {"REASON_WITHOUT_NO_ACTION", "no_action_reason",
     "RecordDecision with a no-action reason and a CRIMINAL track", DECIDE, c_decide,
     &a_reason_without},
    {"TEXT_TOO_LONG", "no_youth_protection_reason",
     "RecordDecision with a no-youth-protection reason of 1,001 bytes", DECIDE, c_decide,
     &a_long_youth_reason},
    /* RecordDecision: the case */
    {"NOT_FOUND", "case_id", "RecordDecision on a case that does not exist", DECIDE, c_decide,
     &a_nowhere},
    {"CASE_MERGED", "case_id", "RecordDecision on the id of a case merged into another", DECIDE,
     c_decide, &a_on_merged},
    {"CASE_CHANGED", "case_revision", "RecordDecision on a case at another revision", DECIDE,
     c_decide, &a_changed},
    {"MINOR_WITHOUT_YOUTH_PROTECTION", "no_youth_protection_reason",
     "RecordDecision on a case with a minor, no YOUTH_PROTECTION track and no reason", DECIDE,
     c_decide, &a_minor},
    /* UpdateTrack */
    {"MISSING_TRACK_ID", "track_id", "UpdateTrack without track_id", UPDATE, c_update, &u_no_id},
    {"INVALID_TRACK_ID", "track_id", "UpdateTrack of trk-1", UPDATE, c_update, &u_bad_id},
    {"MISSING_STATE", "state", "UpdateTrack to state UNSPECIFIED", UPDATE, c_update, &u_no_state},
    {"INVALID_STATE", "state", "UpdateTrack to state OPEN", UPDATE, c_update, &u_open},
    {"PB_BAD_ENUM", "state", "UpdateTrack to state 9", UPDATE, c_update, &u_undefined},
    {"MISSING_OUTCOME", "outcome", "UpdateTrack to DONE without outcome", UPDATE, c_update,
     &u_no_outcome},
    {"MISSING_REASON", "reason", "UpdateTrack to HANDED_BACK without reason", UPDATE, c_update,
     &u_no_reason},
    {"CONTROL_CHARACTER", "reason", "UpdateTrack to HANDED_BACK with a carriage return", UPDATE,
     c_update, &u_cr_reason},
    {"TEXT_TOO_LONG", "outcome", "UpdateTrack to DONE with an outcome of 2,001 bytes", UPDATE,
     c_update, &u_long_outcome},
    {"OUTCOME_WITHOUT_DONE", "outcome", "UpdateTrack to IN_PROGRESS with an outcome", UPDATE,
     c_update, &u_outcome_without},
    {"REASON_WITHOUT_HANDBACK", "reason", "UpdateTrack to DONE with a hand-back reason", UPDATE,
     c_update, &u_reason_without},
    {"NOT_FOUND", "track_id", "UpdateTrack of a track that does not exist", UPDATE, c_update,
     &u_nowhere},
    {"FORBIDDEN", "", "UpdateTrack by a partner of another organisation than the lead", UPDATE,
     c_update, &u_other_org},
    {"INVALID_TRANSITION", "state", "UpdateTrack to IN_PROGRESS of a track in progress", UPDATE,
     c_update, &u_again},
    {"TRACK_FINISHED", "track_id", "UpdateTrack of a DONE track", UPDATE, c_update, &u_finished},
    /* CloseCase */
    {"FORBIDDEN", "", "CloseCase by the chair of another organisation", CLOSE, c_close,
     &k_elsewhere},
    {"MISSING_CASE_ID", "case_id", "CloseCase without case_id", CLOSE, c_close, &k_no_id},
    {"INVALID_CASE_ID", "case_id", "CloseCase of case-1", CLOSE, c_close, &k_bad_id},
    {"TEXT_TOO_LONG", "summary", "CloseCase with a summary of 2,001 bytes", CLOSE, c_close,
     &k_long_summary},
    {"NOT_FOUND", "case_id", "CloseCase of a case that does not exist", CLOSE, c_close, &k_nowhere},
    {"CASE_MERGED", "case_id", "CloseCase of the id of a merged case", CLOSE, c_close, &k_merged},
    {"CASE_NOT_DECIDED", "case_id", "CloseCase of a case never decided", CLOSE, c_close,
     &k_undecided},
    {"TRACKS_NOT_DONE", "case_id", "CloseCase while a track is in progress", CLOSE, c_close,
     &k_not_done},
    {"CASE_CLOSED", "case_id", "CloseCase of a closed case", CLOSE, c_close, &k_closed},
    {"CASE_CLOSED", "track_id", "UpdateTrack of a track of a closed case", UPDATE, c_update,
     &u_case_closed},
    {"CASE_CLOSED", "case_id", "RecordDecision on a closed case", DECIDE, c_decide, &a_on_closed},
    /* AcknowledgeAlert */
    {"MISSING_ALERT_ID", "alert_id", "AcknowledgeAlert without alert_id", ACK, c_ack, &x_no_id},
    {"INVALID_ALERT_ID", "alert_id", "AcknowledgeAlert of alert-1", ACK, c_ack, &x_bad_id},
    {"TEXT_TOO_LONG", "note", "AcknowledgeAlert with a note of 1,001 bytes", ACK, c_ack,
     &x_long_note},
    {"NOT_FOUND", "alert_id", "AcknowledgeAlert of an alert that does not exist", ACK, c_ack,
     &x_nowhere},
    {"ALREADY_ACKNOWLEDGED", "alert_id", "AcknowledgeAlert of an acknowledged alert", ACK, c_ack,
     &x_twice},
    /* GetCase */
    {"FORBIDDEN", "", "GetCase by a care coordinator's key (no role at the table)", GET, c_get,
     &g_care},
    {"MISSING_CASE_ID", "case_id", "GetCase without case_id", GET, c_get, &g_no_id},
    {"INVALID_CASE_ID", "case_id", "GetCase of an upper-case id", GET, c_get, &g_bad_id},
    {"MISSING_PURPOSE", "purpose", "GetCase with a blank purpose", GET, c_get, &g_no_purpose},
    {"TEXT_TOO_LONG", "purpose", "GetCase with a purpose of 501 bytes", GET, c_get,
     &g_long_purpose},
    {"CONTROL_CHARACTER", "purpose", "GetCase with a purpose of two lines", GET, c_get,
     &g_lf_purpose},
    {"NOT_FOUND", "case_id", "GetCase of a case that does not exist", GET, c_get, &g_nowhere},
    /* lists and the agenda */
    {"PB_BAD_ENUM", "state", "ListCases{state: 9}", CASES, c_list, &l_cases_state},
    {"PAGE_TOO_LARGE", "page_size", "ListCases of 501 per page", CASES, c_list, &l_cases_page},
    {"BAD_PAGE_TOKEN", "page_token", "ListCases with a made-up page token", CASES, c_list,
     &l_cases_token},
    {"PAGE_TOO_LARGE", "page_size", "ListAlerts of 501 per page", ALERTS, c_list, &l_alerts_page},
    {"BAD_PAGE_TOKEN", "page_token", "ListAlerts with a page token of another list", ALERTS, c_list,
     &l_alerts_token},
    {"PB_BAD_ENUM", "kind", "ListTracks{kind: 9}", TRACKS, c_list, &l_tracks_kind},
    {"PAGE_TOO_LARGE", "page_size", "ListTracks of 501 per page", TRACKS, c_list, &l_tracks_page},
    {"BAD_PAGE_TOKEN", "page_token", "ListTracks with a made-up page token", TRACKS, c_list,
     &l_tracks_token},
    {"TEXT_TOO_LONG", "lead_organisation", "ListTracks of a lead of 201 bytes", TRACKS, c_list,
     &l_tracks_lead},
    {"INVALID_DATE", "meeting_id", "GetAgenda of meeting 2026-02-30", AGENDA, c_list,
     &l_agenda_date},
    {"NOT_A_MEETING_DAY", "meeting_id", "GetAgenda of a Wednesday (meetings are on Tuesday)",
     AGENDA, c_list, &l_agenda_day},
};

static void
s_fill (char *buf, size_t n, char c)
{
    memset (buf, c, n);
    buf[n] = '\0';
}

static const conf_case_t *
s_get_cases (size_t *count)
{
    /* the texts one byte over their lengths (static: the table needs no
       fixture) */
    s_fill (s_outcome_2001, 2001, 'o');
    s_fill (s_summary_2001, 2001, 's');
    s_fill (s_note_1001, 1001, 'n');
    s_fill (s_purpose_501, 501, 'p');
    s_fill (s_lead_201, 201, 'l');
    *count = sizeof s_cases / sizeof s_cases[0];
    return s_cases;
}

/* --- checks: the limits from both sides ------------------------------------------------------ */

/* The largest decision: 30 attendees and 16 tracks, every text at its
   length.  The texts are malloc'ed into texts[] (free them). */
static void
s_largest (decision_t *d, const char *case_id, char **texts, size_t *nt)
{
    static const int kinds[] = {TK (CARE),
                                TK (CRIMINAL),
                                TK (ADMINISTRATIVE),
                                TK (LABOUR_INSPECTION),
                                TK (YOUTH_PROTECTION),
                                TK (MORE_INFORMATION)};
    s_decision (d, case_id);
    *nt = 0;
    for (size_t i = 0; i < 30; i++) {
        char pattern[64];
        snprintf (pattern, sizeof pattern, "organisation %02zu of the region ", i);
        d->attendees[i] = texts[(*nt)++] = s_text (200, pattern);
    }
    d->cmd.n_attendees = 30;
    for (size_t i = 0; i < 16; i++) {
        char pattern[64];
        snprintf (pattern, sizeof pattern, "lead %02zu of the track ", i);
        d->specs[i].kind = kinds[i % 6];
        d->specs[i].lead_organisation = texts[(*nt)++] = s_text (200, pattern);
        d->specs[i].deadline = d->deadline;
        d->specs[i].note = texts[(*nt)++] = s_text (2000, "first things first.\n");
    }
    d->cmd.n_tracks = 16;
    d->cmd.minutes = texts[(*nt)++] =
        s_text (20000, "Victim needs shelter.\tPolice investigates.\n");
    d->cmd.no_youth_protection_reason = texts[(*nt)++] = s_text (1000, "no minor involved. ");
}

static void
k_decision (void *fixture)
{
    tconf_t *f = fixture;
    decision_t d;
    char *texts[80];
    size_t nt = 0;
    char *over = s_text (20001, "x");
    s_largest (&d, f->l, texts, &nt);
    /* one more of each, one at a time: refused, at its field */
    char extra[] = "organisation 30 of the region";
    d.attendees[30] = extra;
    d.cmd.n_attendees = 31;
    s_expect (f->chair, &d.cmd.base, &lantern__v1__record_decision_result__descriptor,
              "TOO_MANY_ATTENDEES", "attendees", "31 attendees");
    d.cmd.n_attendees = 30;
    char *keep = d.attendees[29];
    d.attendees[29] = over + 20001 - 201;
    s_expect (f->chair, &d.cmd.base, &lantern__v1__record_decision_result__descriptor,
              "TEXT_TOO_LONG", "attendees[29]", "an attendee of 201 bytes");
    d.attendees[29] = keep;
    d.specs[16] = d.specs[0];
    d.specs[16].lead_organisation = "one more lead";
    d.cmd.n_tracks = 17;
    s_expect (f->chair, &d.cmd.base, &lantern__v1__record_decision_result__descriptor,
              "TOO_MANY_TRACKS", "tracks", "17 tracks");
    d.cmd.n_tracks = 16;
    keep = d.specs[15].lead_organisation;
    d.specs[15].lead_organisation = over + 20001 - 201;
    s_expect (f->chair, &d.cmd.base, &lantern__v1__record_decision_result__descriptor,
              "TEXT_TOO_LONG", "tracks[15].lead_organisation", "a lead of 201 bytes");
    d.specs[15].lead_organisation = keep;
    keep = d.specs[15].note;
    d.specs[15].note = over + 20001 - 2001;
    s_expect (f->chair, &d.cmd.base, &lantern__v1__record_decision_result__descriptor,
              "TEXT_TOO_LONG", "tracks[15].note", "a note of 2,001 bytes");
    d.specs[15].note = keep;
    keep = d.cmd.minutes;
    d.cmd.minutes = over;
    s_expect (f->chair, &d.cmd.base, &lantern__v1__record_decision_result__descriptor,
              "TEXT_TOO_LONG", "minutes", "minutes of 20,001 bytes");
    d.cmd.minutes = keep;
    keep = d.cmd.no_youth_protection_reason;
    d.cmd.no_youth_protection_reason = over + 20001 - 1001;
    s_expect (f->chair, &d.cmd.base, &lantern__v1__record_decision_result__descriptor,
              "TEXT_TOO_LONG", "no_youth_protection_reason", "a reason of 1,001 bytes");
    d.cmd.no_youth_protection_reason = keep;
    /* nothing of those was recorded */
    Lantern__V1__CaseRecord *rec = s_get_case (f->chair, f->l);
    assert_non_null (rec);
    assert_int_equal (rec->n_decisions, 0);
    assert_int_equal (rec->state, CS (OPEN));
    protobuf_c_message_free_unpacked (&rec->base, NULL);
    /* at the limits: accepted, and stored whole */
    s_expect (f->chair, &d.cmd.base, &lantern__v1__record_decision_result__descriptor, "OK", "",
              "the largest decision");
    rec = s_get_case (f->chair, f->l);
    assert_non_null (rec);
    assert_int_equal (rec->state, CS (DECIDED));
    assert_int_equal (rec->n_decisions, 1);
    const Lantern__V1__Decision *dec = rec->decisions[0];
    assert_int_equal (dec->n_attendees, 30);
    assert_int_equal (dec->n_tracks, 16);
    assert_string_equal (dec->minutes, d.cmd.minutes);
    assert_string_equal (dec->no_youth_protection_reason, d.cmd.no_youth_protection_reason);
    for (size_t i = 0; i < 30; i++)
        assert_string_equal (dec->attendees[i], d.attendees[i]);
    for (size_t i = 0; i < 16; i++) {
        assert_string_equal (dec->tracks[i]->lead_organisation, d.specs[i].lead_organisation);
        assert_string_equal (dec->tracks[i]->note, d.specs[i].note);
    }
    protobuf_c_message_free_unpacked (&rec->base, NULL);
    for (size_t i = 0; i < nt; i++)
        free (texts[i]);
    free (over);
}

static void
k_no_action (void *fixture)
{
    tconf_t *f = fixture;
    decision_t d;
    s_decision (&d, f->n);
    d.specs[0] = (Lantern__V1__TrackSpec)LANTERN__V1__TRACK_SPEC__INIT;
    d.specs[0].kind = TK (NO_ACTION);
    char *reason = s_text (1001, "a common name, nothing else. ");
    d.cmd.no_action_reason = reason;
    s_expect (f->chair, &d.cmd.base, &lantern__v1__record_decision_result__descriptor,
              "TEXT_TOO_LONG", "no_action_reason", "a no-action reason of 1,001 bytes");
    reason[1000] = '\0';
    ProtobufCMessage *out = NULL;
    assert_string_equal (s_try (f->chair, &d.cmd.base,
                                &lantern__v1__record_decision_result__descriptor, &out, NULL, 0),
                         "OK");
    const Lantern__V1__RecordDecisionResult *res = (const Lantern__V1__RecordDecisionResult *)out;
    assert_int_equal (res->state, CS (CLOSED));
    assert_string_equal (res->decision->no_action_reason, reason);
    protobuf_c_message_free_unpacked (out, NULL);
    free (reason);
}

/* Move `track` as the police: the code. */
static const char *
s_update (tconf_t *f, const char *track, int state, const char *outcome, const char *reason,
          char *field, size_t field_size)
{
    Lantern__V1__UpdateTrack u = LANTERN__V1__UPDATE_TRACK__INIT;
    u.track_id = (char *)track;
    u.state = state;
    if (outcome)
        u.outcome = (char *)outcome;
    if (reason)
        u.reason = (char *)reason;
    return s_try (f->police, &u.base, &lantern__v1__update_track_result__descriptor, NULL, field,
                  field_size);
}

static void
k_track_texts (void *fixture)
{
    tconf_t *f = fixture;
    char field[128];
    /* T: handed back with the longest reason */
    char *text = s_text (2001, "not ours: the labour inspectorate leads. ");
    text[1001] = '\0';
    assert_string_equal (
        s_update (f, f->t_track, TS (HANDED_BACK), NULL, text, field, sizeof field),
        "TEXT_TOO_LONG");
    assert_string_equal (field, "reason");
    text[1000] = '\0';
    assert_string_equal (
        s_update (f, f->t_track, TS (HANDED_BACK), NULL, text, field, sizeof field), "OK");
    free (text);
    /* U: done with the longest outcome, then closed with the longest summary */
    text = s_text (2001, "report made; the prosecutor takes it on. ");
    assert_string_equal (s_update (f, f->u_track, TS (DONE), text, NULL, field, sizeof field),
                         "TEXT_TOO_LONG");
    assert_string_equal (field, "outcome");
    Lantern__V1__CaseRecord *rec = s_get_case (f->chair, f->u);
    assert_non_null (rec);
    assert_int_equal (rec->decisions[0]->tracks[0]->state, TS (OPEN)); /* refused: unchanged */
    protobuf_c_message_free_unpacked (&rec->base, NULL);
    text[2000] = '\0';
    assert_string_equal (s_update (f, f->u_track, TS (DONE), text, NULL, field, sizeof field),
                         "OK");
    char *summary = s_text (2001, "shelter found, report made. ");
    Lantern__V1__CloseCase c = LANTERN__V1__CLOSE_CASE__INIT;
    c.case_id = f->u;
    c.summary = summary;
    s_expect (f->chair, &c.base, &lantern__v1__close_case_result__descriptor, "TEXT_TOO_LONG",
              "summary", "a summary of 2,001 bytes");
    summary[2000] = '\0';
    s_expect (f->chair, &c.base, &lantern__v1__close_case_result__descriptor, "OK", "",
              "a summary of 2,000 bytes");
    rec = s_get_case (f->chair, f->u);
    assert_non_null (rec);
    assert_int_equal (rec->state, CS (CLOSED));
    assert_string_equal (rec->close_summary, summary);
    assert_string_equal (rec->decisions[0]->tracks[0]->outcome, text);
    protobuf_c_message_free_unpacked (&rec->base, NULL);
    free (summary);
    free (text);
}

static void
k_alert_note (void *fixture)
{
    tconf_t *f = fixture;
    char *note = s_text (1001, "Veilig Thuis informed. ");
    Lantern__V1__AcknowledgeAlert ack = LANTERN__V1__ACKNOWLEDGE_ALERT__INIT;
    ack.alert_id = f->alert;
    ack.note = note;
    s_expect (f->chair, &ack.base, &lantern__v1__acknowledge_alert_result__descriptor,
              "TEXT_TOO_LONG", "note", "a note of 1,001 bytes");
    note[1000] = '\0';
    ProtobufCMessage *out = NULL;
    assert_string_equal (s_try (f->chair, &ack.base,
                                &lantern__v1__acknowledge_alert_result__descriptor, &out, NULL, 0),
                         "OK");
    const Lantern__V1__Alert *a = ((const Lantern__V1__AcknowledgeAlertResult *)out)->alert;
    assert_string_equal (a->note, note);
    assert_string_equal (a->acknowledged_by, "chair");
    protobuf_c_message_free_unpacked (out, NULL);
    free (note);
}

static void
k_reads (void *fixture)
{
    tconf_t *f = fixture;
    char *purpose = s_text (501, "screening meeting preparation. ");
    Lantern__V1__GetCase g = LANTERN__V1__GET_CASE__INIT;
    g.case_id = f->k;
    g.purpose = purpose;
    s_expect (f->chair, &g.base, &lantern__v1__case_record__descriptor, "TEXT_TOO_LONG", "purpose",
              "a purpose of 501 bytes");
    purpose[500] = '\0';
    s_expect (f->chair, &g.base, &lantern__v1__case_record__descriptor, "OK", "",
              "a purpose of 500 bytes");
    free (purpose);

    Lantern__V1__ListCases lc = LANTERN__V1__LIST_CASES__INIT;
    lc.page_size = 501;
    s_expect (f->chair, &lc.base, &lantern__v1__case_list__descriptor, "PAGE_TOO_LARGE",
              "page_size", "ListCases of 501");
    lc.page_size = 500;
    s_expect (f->chair, &lc.base, &lantern__v1__case_list__descriptor, "OK", "",
              "ListCases of 500");
    Lantern__V1__ListAlerts la = LANTERN__V1__LIST_ALERTS__INIT;
    la.page_size = 501;
    s_expect (f->chair, &la.base, &lantern__v1__alert_list__descriptor, "PAGE_TOO_LARGE",
              "page_size", "ListAlerts of 501");
    la.page_size = 500;
    s_expect (f->chair, &la.base, &lantern__v1__alert_list__descriptor, "OK", "",
              "ListAlerts of 500");
    Lantern__V1__ListTracks lt = LANTERN__V1__LIST_TRACKS__INIT;
    lt.page_size = 501;
    s_expect (f->police, &lt.base, &lantern__v1__track_list__descriptor, "PAGE_TOO_LARGE",
              "page_size", "ListTracks of 501");
    lt.page_size = 500;
    s_expect (f->police, &lt.base, &lantern__v1__track_list__descriptor, "OK", "",
              "ListTracks of 500");
    char *lead = s_text (201, "politie-limburg-noord ");
    lt.lead_organisation = lead;
    s_expect (f->police, &lt.base, &lantern__v1__track_list__descriptor, "TEXT_TOO_LONG",
              "lead_organisation", "ListTracks of a lead of 201 bytes");
    lead[200] = '\0';
    s_expect (f->police, &lt.base, &lantern__v1__track_list__descriptor, "OK", "",
              "ListTracks of a lead of 200 bytes");
    free (lead);
}

static const conf_check_t s_checks[] = {
    {"a decision of 30 attendees and 16 tracks, every text at its length, is accepted and "
     "stored whole; one more of each is refused and changes nothing",
     k_decision},
    {"a no-action reason of 1,000 bytes is accepted, 1,001 are refused", k_no_action},
    {"a hand-back reason of 1,000 bytes, an outcome and a summary of 2,000 are accepted; one "
     "byte more is refused",
     k_track_texts},
    {"an alert's note of 1,000 bytes is accepted, 1,001 are refused", k_alert_note},
    {"a purpose of 500 bytes, pages of 500 and a lead of 200 are accepted; one more is refused",
     k_reads},
};

static const char *const s_sections[] = {"4.8", NULL};

static const conf_service_t s_triage = {
    .name = "triage",
    .sections = s_sections,
    .setup = s_setup,
    .teardown = s_teardown,
    .cases = s_get_cases,
    .checks = s_checks,
    .check_count = sizeof s_checks / sizeof s_checks[0],
};

CONF_REGISTER (s_triage)
