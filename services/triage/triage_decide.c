/*  triage_decide: decisions and their follow-up (see triage_decide.h). */
#include "triage_decide.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "triage_store.h"

#define CS(x) LANTERN__V1__CASE_STATE__CASE_STATE_##x
#define TS(x) LANTERN__V1__TRACK_STATE__TRACK_STATE_##x
#define TK(x) LANTERN__V1__TRACK_KIND__TRACK_KIND_##x

static int s_fail (ln_error_t *err, const char *code, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_fail (ln_error_t *err, const char *code, const char *field, const char *fmt, ...)
{
    char message[LN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (message, sizeof message, fmt, ap);
    va_end (ap);
    if (*field)
        ln_error_set (err, code, field, "%s: %s", field, message);
    else
        ln_error_set (err, code, field, "%s", message);
    return -1;
}

/* A text field: its length, UTF-8, control characters; when required,
   `missing` is the code for a blank one. */
static int
s_text (ln_error_t *err, const char *field, const char *value, size_t max, bool multiline,
        const char *missing)
{
    const char *problem = triage_text_problem (value, max, multiline, missing != NULL);
    if (!problem)
        return 0;
    if (strcmp (problem, "MISSING_TEXT") == 0)
        return s_fail (err, missing, field, "required");
    if (strcmp (problem, "TEXT_TOO_LONG") == 0)
        return s_fail (err, problem, field, "is %zu bytes long; at most %zu allowed",
                       strlen (value), max);
    if (strcmp (problem, "INVALID_UTF8") == 0)
        return s_fail (err, problem, field, "not valid UTF-8");
    return s_fail (err, problem, field, "holds a control character (%s)",
                   multiline ? "only line feed and tab are allowed" : "one line of text");
}

static int
s_case_id (ln_error_t *err, const char *id)
{
    if (triage_blank (id))
        return s_fail (err, "MISSING_CASE_ID", "case_id", "required");
    if (!triage_case_id_valid (id))
        return s_fail (err, "INVALID_CASE_ID", "case_id", "not a case id (case-...)");
    return 0;
}

static bool
s_kind_defined (int kind)
{
    return kind >= TK (CARE) && kind <= TK (NO_ACTION);
}

/* --- step 1 ------------------------------------------------------------------------------ */

int
triage_decide_check_record (const Lantern__V1__RecordDecision *cmd, int64_t today,
                            bool minor_involved, ln_error_t *err)
{
    char field[LN_ERROR_FIELD_MAX];
    int64_t meeting_day = 0;
    if (s_case_id (err, cmd->case_id) != 0)
        return -1;
    if (!triage_blank (cmd->case_revision)) {
        bool hex = strlen (cmd->case_revision) == 16;
        for (size_t i = 0; hex && i < 16; i++)
            hex = (cmd->case_revision[i] >= '0' && cmd->case_revision[i] <= '9') ||
                  (cmd->case_revision[i] >= 'a' && cmd->case_revision[i] <= 'f');
        if (!hex)
            return s_fail (err, "INVALID_REVISION", "case_revision",
                           "16 hex digits, as GetCase or GetAgenda gave it");
    }
    if (triage_blank (cmd->meeting_id))
        return s_fail (err, "MISSING_MEETING", "meeting_id", "required");
    if (triage_date_parse (cmd->meeting_id, &meeting_day) != 0)
        return s_fail (err, "INVALID_DATE", "meeting_id", "a date YYYY-MM-DD");
    if (meeting_day > today)
        return s_fail (err, "DATE_IN_FUTURE", "meeting_id",
                       "a decision is recorded at or after its meeting");

    if (cmd->n_attendees == 0)
        return s_fail (err, "MISSING_ATTENDEES", "attendees", "name the organisations present");
    if (cmd->n_attendees > TRIAGE_ATTENDEES_MAX)
        return s_fail (err, "TOO_MANY_ATTENDEES", "attendees", "at most %d", TRIAGE_ATTENDEES_MAX);
    for (size_t i = 0; i < cmd->n_attendees; i++) {
        snprintf (field, sizeof field, "attendees[%zu]", i);
        if (s_text (err, field, cmd->attendees[i], TRIAGE_ORG_TEXT_MAX, false, "EMPTY_ATTENDEE") !=
            0)
            return -1;
        for (size_t k = 0; k < i; k++)
            if (strcmp (cmd->attendees[k], cmd->attendees[i]) == 0)
                return s_fail (err, "DUPLICATE_ATTENDEE", field, "also attendees[%zu]", k);
    }

    if (cmd->n_tracks == 0)
        return s_fail (err, "MISSING_TRACKS", "tracks",
                       "a decision opens one or more tracks (NO_ACTION is one)");
    if (cmd->n_tracks > TRIAGE_TRACKS_MAX)
        return s_fail (err, "TOO_MANY_TRACKS", "tracks", "at most %d", TRIAGE_TRACKS_MAX);
    bool no_action = false, youth = false;
    for (size_t i = 0; i < cmd->n_tracks; i++) {
        const Lantern__V1__TrackSpec *t = cmd->tracks[i];
        no_action |= t->kind == TK (NO_ACTION);
        youth |= t->kind == TK (YOUTH_PROTECTION);
    }
    for (size_t i = 0; i < cmd->n_tracks; i++) {
        const Lantern__V1__TrackSpec *t = cmd->tracks[i];
        snprintf (field, sizeof field, "tracks[%zu].kind", i);
        if (t->kind == TK (UNSPECIFIED))
            return s_fail (err, "MISSING_TRACK_KIND", field, "required");
        if (!s_kind_defined (t->kind))
            return s_fail (err, "UNKNOWN_TRACK_KIND", field, "not a track kind");
        if (no_action && t->kind != TK (NO_ACTION))
            return s_fail (err, "NO_ACTION_WITH_OTHER_TRACK", field,
                           "NO_ACTION excludes every other track");
        if (t->kind == TK (NO_ACTION)) {
            snprintf (field, sizeof field, "tracks[%zu].lead_organisation", i);
            if (!triage_blank (t->lead_organisation))
                return s_fail (err, "NO_ACTION_WITH_LEAD", field, "NO_ACTION has no lead");
            snprintf (field, sizeof field, "tracks[%zu].deadline", i);
            if (!triage_blank (t->deadline))
                return s_fail (err, "NO_ACTION_WITH_DEADLINE", field, "NO_ACTION has no deadline");
        }
        else {
            snprintf (field, sizeof field, "tracks[%zu].lead_organisation", i);
            if (s_text (err, field, t->lead_organisation, TRIAGE_ORG_TEXT_MAX, false,
                        "MISSING_LEAD_ORGANISATION") != 0)
                return -1;
            snprintf (field, sizeof field, "tracks[%zu].deadline", i);
            int64_t deadline;
            if (triage_blank (t->deadline))
                return s_fail (err, "MISSING_DEADLINE", field, "required (YYYY-MM-DD)");
            if (triage_date_parse (t->deadline, &deadline) != 0)
                return s_fail (err, "INVALID_DATE", field, "a date YYYY-MM-DD");
            if (deadline < meeting_day)
                return s_fail (err, "DEADLINE_BEFORE_MEETING", field,
                               "before the meeting that sets it");
        }
        snprintf (field, sizeof field, "tracks[%zu].note", i);
        if (s_text (err, field, t->note, TRIAGE_NOTE_MAX, true, NULL) != 0)
            return -1;
        for (size_t k = 0; k < i; k++)
            if (cmd->tracks[k]->kind == t->kind &&
                strcmp (cmd->tracks[k]->lead_organisation, t->lead_organisation) == 0) {
                snprintf (field, sizeof field, "tracks[%zu]", i);
                return s_fail (err, "DUPLICATE_TRACK", field,
                               "the same kind and lead as tracks[%zu]", k);
            }
    }
    if (s_text (err, "minutes", cmd->minutes, TRIAGE_MINUTES_MAX, true, NULL) != 0)
        return -1;
    if (no_action) {
        if (s_text (err, "no_action_reason", cmd->no_action_reason, TRIAGE_REASON_MAX, true,
                    "MISSING_NO_ACTION_REASON") != 0)
            return -1;
    }
    else if (!triage_blank (cmd->no_action_reason))
        return s_fail (err, "REASON_WITHOUT_NO_ACTION", "no_action_reason",
                       "given, but no NO_ACTION track");
    if (s_text (err, "no_youth_protection_reason", cmd->no_youth_protection_reason,
                TRIAGE_REASON_MAX, true, NULL) != 0)
        return -1;
    if (minor_involved && !youth && triage_blank (cmd->no_youth_protection_reason))
        return s_fail (err, "MINOR_WITHOUT_YOUTH_PROTECTION", "no_youth_protection_reason",
                       "a minor is involved: open a YOUTH_PROTECTION track or state why not");
    return 0;
}

int
triage_decide_check_update (const Lantern__V1__UpdateTrack *cmd, ln_error_t *err)
{
    if (triage_blank (cmd->track_id))
        return s_fail (err, "MISSING_TRACK_ID", "track_id", "required");
    if (!triage_prefixed_id_valid (cmd->track_id, "trk-"))
        return s_fail (err, "INVALID_TRACK_ID", "track_id", "not a track id (trk-...)");
    switch (cmd->state) {
    case TS (UNSPECIFIED):
        return s_fail (err, "MISSING_STATE", "state", "IN_PROGRESS, DONE or HANDED_BACK");
    case TS (IN_PROGRESS):
        break;
    case TS (DONE):
        if (s_text (err, "outcome", cmd->outcome, TRIAGE_OUTCOME_MAX, true, "MISSING_OUTCOME") != 0)
            return -1;
        break;
    case TS (HANDED_BACK):
        if (s_text (err, "reason", cmd->reason, TRIAGE_REASON_MAX, true, "MISSING_REASON") != 0)
            return -1;
        break;
    default:
        return s_fail (err, "INVALID_STATE", "state",
                       "a track moves to IN_PROGRESS, DONE or HANDED_BACK");
    }
    if (cmd->state != TS (DONE) && !triage_blank (cmd->outcome))
        return s_fail (err, "OUTCOME_WITHOUT_DONE", "outcome", "only with state DONE");
    if (cmd->state != TS (HANDED_BACK) && !triage_blank (cmd->reason))
        return s_fail (err, "REASON_WITHOUT_HANDBACK", "reason", "only with state HANDED_BACK");
    return 0;
}

int
triage_decide_check_close (const Lantern__V1__CloseCase *cmd, ln_error_t *err)
{
    if (s_case_id (err, cmd->case_id) != 0)
        return -1;
    return s_text (err, "summary", cmd->summary, TRIAGE_SUMMARY_MAX, true, NULL);
}

static bool
s_alert_id_valid (const char *id)
{
    size_t len = id ? strlen (id) : 0;
    char chars[TRIAGE_SIGNAL_ID_SIZE];
    if (len < 6 + TRIAGE_ID_CHARS || strncmp (id, "alert-", 6) != 0)
        return false;
    const char *suffix = id + 6 + TRIAGE_ID_CHARS;
    if (strcmp (suffix, "-danger") != 0 && strcmp (suffix, "-minor") != 0)
        return false;
    snprintf (chars, sizeof chars, "sig-%.*s", TRIAGE_ID_CHARS, id + 6);
    return triage_signal_id_valid (chars);
}

int
triage_decide_check_ack (const Lantern__V1__AcknowledgeAlert *cmd, ln_error_t *err)
{
    if (triage_blank (cmd->alert_id))
        return s_fail (err, "MISSING_ALERT_ID", "alert_id", "required");
    if (!s_alert_id_valid (cmd->alert_id))
        return s_fail (err, "INVALID_ALERT_ID", "alert_id", "not an alert id (alert-...)");
    return s_text (err, "note", cmd->note, TRIAGE_ALERT_NOTE_MAX, true, NULL);
}

/* --- step 2 ------------------------------------------------------------------------------ */

/* Load the case named by id for a change, refusing what the commands
   cannot change.  1 ok (row filled, locked), -1 with err set. */
static int
s_case_for_change (ln_db_t *db, const char *id, triage_case_row_t *row, ln_error_t *err)
{
    int found = triage_store_case_load (db, id, true, row, err);
    if (found < 0)
        return -1;
    if (found == 0 || row->state == CS (MERGED)) {
        char now[TRIAGE_CASE_ID_SIZE];
        int r = triage_store_resolve (db, id, now, err);
        if (r < 0)
            return -1;
        if (r == 1 && strcmp (now, id) != 0)
            return s_fail (err, "CASE_MERGED", "case_id",
                           "%s is now part of %s; look at that case and decide on it", id, now);
        return s_fail (err, "NOT_FOUND", "case_id", "no open case %s", id);
    }
    if (row->state == CS (CLOSED))
        return s_fail (err, "CASE_CLOSED", "case_id", "case %s is closed", id);
    return 1;
}

static Lantern__V1__Track *
s_new_track (const Lantern__V1__TrackSpec *spec, const char *case_id, const char *decision_id,
             const char *meeting_id, int64_t now_us, const char *principal)
{
    char id[TRIAGE_ID_SIZE];
    Lantern__V1__Track *t = triage_alloc (sizeof *t);
    lantern__v1__track__init (t);
    triage_random_id ("trk-", id, sizeof id);
    t->track_id = triage_str (id);
    t->case_id = triage_str (case_id);
    t->decision_id = triage_str (decision_id);
    t->meeting_id = triage_str (meeting_id);
    t->kind = spec->kind;
    t->lead_organisation = triage_str (spec->lead_organisation);
    t->deadline = triage_str (spec->deadline);
    t->note = triage_str (spec->note);
    t->state = spec->kind == TK (NO_ACTION) ? TS (DONE) : TS (OPEN);
    t->opened_at_us = now_us;
    t->updated_at_us = now_us;
    t->updated_by = triage_str (principal);
    return t;
}

static int
s_emit_track (triage_emitter_t *em, const Lantern__V1__Track *t, int64_t at_us, ln_error_t *err)
{
    Lantern__V1__TrackUpdated ev = LANTERN__V1__TRACK_UPDATED__INIT;
    ev.case_id = t->case_id;
    ev.track = (Lantern__V1__Track *)t;
    return triage_emit (em, TRIAGE_EVENT_TRACK_UPDATED, t->case_id, at_us, &ev.base, err);
}

/* case.closed with the case's signals, the kinds of its tracks, facts. */
static int
s_emit_closed (ln_db_t *db, triage_emitter_t *em, const char *case_id, int outcome, int64_t at_us,
               const char *summary, ln_error_t *err)
{
    Lantern__V1__CaseClosed ev = LANTERN__V1__CASE_CLOSED__INIT;
    Lantern__V1__Track **tracks = NULL;
    size_t nt = 0;
    char revision[17];
    int rc = -1;
    ev.case_id = triage_str (case_id);
    ev.outcome = outcome;
    ev.closed_at_us = at_us;
    ev.summary = triage_str (summary);
    if (triage_store_case_signals (db, case_id, false, &ev.signals, &ev.n_signals, err) != 0 ||
        triage_store_case_facts (db, case_id, &ev.facts, revision, err) != 0 ||
        triage_store_case_tracks (db, case_id, false, false, 0, &tracks, &nt, err) != 0)
        goto out;
    for (size_t i = 0; i < nt; i++) {
        bool seen = false;
        for (size_t k = 0; k < ev.n_track_kinds; k++)
            seen |= (int)ev.track_kinds[k] == (int)tracks[i]->kind;
        if (!seen)
            triage_push_enum ((int **)&ev.track_kinds, &ev.n_track_kinds, tracks[i]->kind);
    }
    rc = triage_emit (em, TRIAGE_EVENT_CASE_CLOSED, case_id, at_us, &ev.base, err);
out:
    for (size_t i = 0; i < nt; i++)
        protobuf_c_message_free_unpacked (&tracks[i]->base, NULL);
    free (tracks);
    triage_free_fields (&ev.base);
    return rc;
}

int
triage_decide_record (ln_db_t *db, const triage_decide_env_t *env,
                      const Lantern__V1__RecordDecision *cmd, const char *principal,
                      Lantern__V1__RecordDecisionResult **out, ln_error_t *err)
{
    int rc = -1;
    triage_case_row_t row;
    Lantern__V1__CaseFacts *facts = NULL;
    Lantern__V1__Decision *d = NULL;
    Lantern__V1__Track **open_tracks = NULL;
    size_t n_open = 0;
    char revision[17];
    char decision_id[TRIAGE_ID_SIZE];
    memset (&row, 0, sizeof row);
    *out = NULL;
    int64_t today = triage_slot_local_day (env->slot, env->now_us);

    env->em->upstream = NULL; /* command events get random ids */
    if (triage_decide_check_record (cmd, today, false, err) != 0)
        return -1;
    if (s_case_for_change (db, cmd->case_id, &row, err) < 0)
        goto out;
    if (triage_store_case_facts (db, cmd->case_id, &facts, revision, err) != 0)
        goto out;
    if (!triage_blank (cmd->case_revision) && strcmp (cmd->case_revision, revision) != 0) {
        s_fail (err, "CASE_CHANGED", "case_revision",
                "the case changed since (now %s): look at it again", revision);
        goto out;
    }
    if (facts->signals == 0) {
        s_fail (err, "NOT_FOUND", "case_id", "case %s holds no signal", cmd->case_id);
        goto out;
    }
    if (triage_decide_check_record (cmd, today, facts->minor_involved, err) != 0)
        goto out;

    int64_t meeting_day, starts_us;
    triage_meeting_parse (env->slot, cmd->meeting_id, &meeting_day, &starts_us);
    bool no_action = cmd->tracks[0]->kind == TK (NO_ACTION);
    triage_random_id ("dec-", decision_id, sizeof decision_id);
    d = triage_alloc (sizeof *d);
    lantern__v1__decision__init (d);
    d->decision_id = triage_str (decision_id);
    d->case_id = triage_str (cmd->case_id);
    d->meeting_id = triage_str (cmd->meeting_id);
    d->decided_at_us = env->now_us;
    d->decided_by = triage_str (principal);
    for (size_t i = 0; i < cmd->n_attendees; i++)
        triage_push ((void ***)&d->attendees, &d->n_attendees, triage_str (cmd->attendees[i]));
    d->minutes = triage_str (cmd->minutes);
    d->no_action_reason = triage_str (cmd->no_action_reason);
    d->no_youth_protection_reason = triage_str (cmd->no_youth_protection_reason);
    d->case_revision = triage_str (revision);
    for (size_t i = 0; i < cmd->n_tracks; i++)
        triage_push ((void ***)&d->tracks, &d->n_tracks,
                     s_new_track (cmd->tracks[i], cmd->case_id, decision_id, cmd->meeting_id,
                                  env->now_us, principal));

    /* MORE_INFORMATION tracks still open are taken up by this decision. */
    if (triage_store_case_tracks (db, cmd->case_id, true, true, today, &open_tracks, &n_open,
                                  err) != 0)
        goto out;
    char outcome[128];
    snprintf (outcome, sizeof outcome, "taken up again at meeting %s", cmd->meeting_id);
    for (size_t i = 0; i < n_open; i++) {
        Lantern__V1__Track *t = open_tracks[i];
        if (t->kind != TK (MORE_INFORMATION))
            continue;
        t->state = TS (DONE);
        if (t->outcome != protobuf_c_empty_string)
            free (t->outcome);
        t->outcome = triage_str (outcome);
        t->updated_at_us = env->now_us;
        if (t->updated_by != protobuf_c_empty_string)
            free (t->updated_by);
        t->updated_by = triage_str (principal);
        t->overdue = false;
        if (triage_store_track_update (db, t, err) != 0)
            goto out;
    }
    if (triage_store_meeting_put (db, cmd->meeting_id, starts_us, err) != 0 ||
        triage_store_tracks_returned (db, cmd->case_id, cmd->meeting_id, err) != 0 ||
        triage_store_decision_insert (db, d, err) != 0 ||
        triage_store_case_discussed (db, cmd->case_id, cmd->meeting_id, err) != 0 ||
        triage_store_history_add (db, cmd->case_id, env->now_us, "decided", NULL, NULL, decision_id,
                                  err) != 0)
        goto out;
    row.state = CS (DECIDED);
    if (triage_store_case_save (db, &row, err) != 0)
        goto out;
    if (no_action && (triage_store_case_close (db, cmd->case_id,
                                               LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_NO_ACTION,
                                               env->now_us, principal, "", err) != 0 ||
                      triage_store_history_add (db, cmd->case_id, env->now_us, "closed", NULL, NULL,
                                                "NO_ACTION", err) != 0))
        goto out;

    /* Events. */
    for (size_t i = 0; i < n_open; i++)
        if (open_tracks[i]->kind == TK (MORE_INFORMATION) &&
            s_emit_track (env->em, open_tracks[i], env->now_us, err) != 0)
            goto out;
    {
        Lantern__V1__CaseDecided ev = LANTERN__V1__CASE_DECIDED__INIT;
        ev.case_id = d->case_id;
        ev.decision = d;
        ev.facts = facts;
        int erc =
            triage_store_case_signals (db, cmd->case_id, false, &ev.signals, &ev.n_signals, err);
        if (erc == 0)
            erc =
                triage_store_case_contents (db, cmd->case_id, TRIAGE_CONTENTS_BUDGET, &ev.contents,
                                            &ev.n_contents, &ev.contents_omitted, err);
        if (erc == 0)
            erc = triage_emit (env->em, TRIAGE_EVENT_CASE_DECIDED, cmd->case_id, env->now_us,
                               &ev.base, err);
        ev.case_id = NULL;
        ev.decision = NULL;
        ev.facts = NULL;
        triage_free_fields (&ev.base);
        if (erc != 0)
            goto out;
    }
    if (no_action &&
        s_emit_closed (db, env->em, cmd->case_id, LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_NO_ACTION,
                       env->now_us, "", err) != 0)
        goto out;

    Lantern__V1__RecordDecisionResult *res = triage_alloc (sizeof *res);
    lantern__v1__record_decision_result__init (res);
    res->decision = d;
    res->state = no_action ? CS (CLOSED) : CS (DECIDED);
    d = NULL;
    *out = res;
    rc = 0;
out:
    free (row.close_summary);
    if (facts)
        protobuf_c_message_free_unpacked (&facts->base, NULL);
    if (d)
        protobuf_c_message_free_unpacked (&d->base, NULL);
    for (size_t i = 0; i < n_open; i++)
        protobuf_c_message_free_unpacked (&open_tracks[i]->base, NULL);
    free (open_tracks);
    return rc;
}

int
triage_decide_update_track (ln_db_t *db, const triage_decide_env_t *env,
                            const Lantern__V1__UpdateTrack *cmd, const char *principal,
                            const char *organisation, Lantern__V1__UpdateTrackResult **out,
                            ln_error_t *err)
{
    int rc = -1;
    Lantern__V1__Track *t = NULL;
    triage_case_row_t row;
    memset (&row, 0, sizeof row);
    *out = NULL;
    int64_t today = triage_slot_local_day (env->slot, env->now_us);
    env->em->upstream = NULL;
    if (triage_decide_check_update (cmd, err) != 0)
        return -1;
    int found = triage_store_track_load (db, cmd->track_id, true, today, &t, err);
    if (found < 0)
        goto out;
    if (found == 0) {
        s_fail (err, "NOT_FOUND", "track_id", "no track %s", cmd->track_id);
        goto out;
    }
    if (!organisation || strcmp (organisation, t->lead_organisation) != 0) {
        /* an authorisation refusal, as the node's own (docs/protocol.md 4.3) */
        s_fail (err, "FORBIDDEN", "", "only the lead organisation of track %s (%s) may change it",
                cmd->track_id, t->lead_organisation);
        goto out;
    }
    if (triage_store_case_load (db, t->case_id, true, &row, err) < 0)
        goto out;
    if (row.state == CS (CLOSED)) {
        s_fail (err, "CASE_CLOSED", "track_id", "its case %s is closed", t->case_id);
        goto out;
    }
    if (t->state == TS (DONE) || t->state == TS (HANDED_BACK)) {
        s_fail (err, "TRACK_FINISHED", "track_id", "the track is %s already",
                t->state == TS (DONE) ? "DONE" : "HANDED_BACK");
        goto out;
    }
    if (t->state == TS (IN_PROGRESS) && cmd->state == TS (IN_PROGRESS)) {
        s_fail (err, "INVALID_TRANSITION", "state", "the track is IN_PROGRESS already");
        goto out;
    }
    t->state = cmd->state;
    if (cmd->state == TS (DONE)) {
        if (t->outcome != protobuf_c_empty_string)
            free (t->outcome);
        t->outcome = triage_str (cmd->outcome);
    }
    if (cmd->state == TS (HANDED_BACK)) {
        if (t->handback_reason != protobuf_c_empty_string)
            free (t->handback_reason);
        t->handback_reason = triage_str (cmd->reason);
    }
    t->updated_at_us = env->now_us;
    if (t->updated_by != protobuf_c_empty_string)
        free (t->updated_by);
    t->updated_by = triage_str (principal);
    t->overdue = false;
    if (triage_store_track_update (db, t, err) != 0 ||
        triage_store_history_add (db, t->case_id, env->now_us, "track", NULL, NULL, t->track_id,
                                  err) != 0 ||
        s_emit_track (env->em, t, env->now_us, err) != 0)
        goto out;
    Lantern__V1__UpdateTrackResult *res = triage_alloc (sizeof *res);
    lantern__v1__update_track_result__init (res);
    res->track = t;
    t = NULL;
    *out = res;
    rc = 0;
out:
    free (row.close_summary);
    if (t)
        protobuf_c_message_free_unpacked (&t->base, NULL);
    return rc;
}

int
triage_decide_close (ln_db_t *db, const triage_decide_env_t *env, const Lantern__V1__CloseCase *cmd,
                     const char *principal, Lantern__V1__CloseCaseResult **out, ln_error_t *err)
{
    int rc = -1;
    triage_case_row_t row;
    Lantern__V1__Track **tracks = NULL;
    size_t nt = 0;
    memset (&row, 0, sizeof row);
    *out = NULL;
    env->em->upstream = NULL;
    if (triage_decide_check_close (cmd, err) != 0)
        return -1;
    if (s_case_for_change (db, cmd->case_id, &row, err) < 0)
        goto out;
    if (row.state != CS (DECIDED)) {
        s_fail (err, "CASE_NOT_DECIDED", "case_id", "no decision on %s yet", cmd->case_id);
        goto out;
    }
    if (triage_store_case_tracks (db, cmd->case_id, false, true, 0, &tracks, &nt, err) != 0)
        goto out;
    for (size_t i = 0; i < nt; i++)
        if (tracks[i]->state != TS (DONE)) {
            s_fail (err, "TRACKS_NOT_DONE", "case_id", "track %s (%s) is not done",
                    tracks[i]->track_id, tracks[i]->lead_organisation);
            goto out;
        }
    if (triage_store_case_close (db, cmd->case_id,
                                 LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_TRACKS_DONE, env->now_us,
                                 principal, cmd->summary, err) != 0 ||
        triage_store_history_add (db, cmd->case_id, env->now_us, "closed", NULL, NULL,
                                  "TRACKS_DONE", err) != 0 ||
        s_emit_closed (db, env->em, cmd->case_id,
                       LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_TRACKS_DONE, env->now_us,
                       cmd->summary, err) != 0)
        goto out;
    Lantern__V1__CloseCaseResult *res = triage_alloc (sizeof *res);
    lantern__v1__close_case_result__init (res);
    res->case_id = triage_str (cmd->case_id);
    res->outcome = LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_TRACKS_DONE;
    res->closed_at_us = env->now_us;
    *out = res;
    rc = 0;
out:
    free (row.close_summary);
    for (size_t i = 0; i < nt; i++)
        protobuf_c_message_free_unpacked (&tracks[i]->base, NULL);
    free (tracks);
    return rc;
}

int
triage_decide_ack (ln_db_t *db, const triage_decide_env_t *env,
                   const Lantern__V1__AcknowledgeAlert *cmd, const char *principal,
                   Lantern__V1__AcknowledgeAlertResult **out, ln_error_t *err)
{
    Lantern__V1__Alert *a = NULL;
    *out = NULL;
    if (triage_decide_check_ack (cmd, err) != 0)
        return -1;
    int found = triage_store_alert_load (db, cmd->alert_id, true, &a, err);
    if (found < 0)
        return -1;
    if (found == 0)
        return s_fail (err, "NOT_FOUND", "alert_id", "no alert %s", cmd->alert_id);
    if (*a->acknowledged_by) {
        s_fail (err, "ALREADY_ACKNOWLEDGED", "alert_id", "acknowledged by %s already",
                a->acknowledged_by);
        protobuf_c_message_free_unpacked (&a->base, NULL);
        return -1;
    }
    protobuf_c_message_free_unpacked (&a->base, NULL);
    if (triage_store_alert_ack (db, cmd->alert_id, principal, env->now_us, cmd->note, err) != 1 ||
        triage_store_alert_load (db, cmd->alert_id, false, &a, err) != 1) {
        if (!err || !err->code)
            ln_error_set (err, "TRIAGE_CORRUPT", "alert_id", "the alert changed under us");
        return -1;
    }
    Lantern__V1__AcknowledgeAlertResult *res = triage_alloc (sizeof *res);
    lantern__v1__acknowledge_alert_result__init (res);
    res->alert = a;
    *out = res;
    return 0;
}
