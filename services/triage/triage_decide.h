/*  triage_decide: what the screening meeting and the lead organisations
    change: RecordDecision, UpdateTrack, CloseCase, AcknowledgeAlert.

    Each command is checked in two steps, both with an error code of its
    own per rule and the field as a path in the command's own message
    (`tracks[1].lead_organisation`), first failure wins, in a fixed order:
      1. triage_decide_check_* : the message alone (pure; unit-tested on
         both sides of every rule);
      2. triage_decide_*       : against the stored case, track or alert,
         inside the caller's transaction, then the change and its events.
    Nothing is written unless every check passed.  The codes are listed in
    docs/protocol.md 4.8.6.

    Who may call (checked by the caller, the command handler): RecordDecision
    and CloseCase the role screening_chair; UpdateTrack the lead
    organisation of the track (the caller's organisation is passed in and
    compared here, FORBIDDEN); AcknowledgeAlert whoever the
    node's policy lets read alerts.

    RecordDecision on a case:
      - the case must be open (CASE_CLOSED), be named by its current id
        (CASE_MERGED: the message names the case it joined), and, when
        case_revision is given, be as the chair saw it (CASE_CHANGED);
      - opens its tracks (a NO_ACTION track is DONE at once), marks every
        active signal of the case discussed at the meeting, closes the
        MORE_INFORMATION tracks still open (DONE, "taken up again at
        meeting ...") and marks the tracks that brought the case back as
        taken up, so that they do not bring it back again;
      - the case becomes DECIDED (pinned: see triage_link.h), or, with
        NO_ACTION, CLOSED with outcome NO_ACTION;
      - events: track.updated for each MORE_INFORMATION track it closed,
        case.decided (with CaseContent for the partners that take a
        track), and case.closed after NO_ACTION.
    UpdateTrack: OPEN -> IN_PROGRESS | DONE | HANDED_BACK, IN_PROGRESS ->
    DONE | HANDED_BACK; DONE and HANDED_BACK are final.  Event
    track.updated.  A handed-back track and a done MORE_INFORMATION track
    bring the case back to the agenda.
    CloseCase: a DECIDED case whose every track is DONE; event case.closed.
*/
#ifndef TRIAGE_DECIDE_H
#define TRIAGE_DECIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "ln_db.h"
#include "ln_error.h"
#include "triage.h"
#include "triage.pb-c.h"
#include "triage_meeting.h"

/* Text limits (bytes). */
#define TRIAGE_ATTENDEES_MAX  30
#define TRIAGE_TRACKS_MAX     16
#define TRIAGE_ORG_TEXT_MAX   200
#define TRIAGE_MINUTES_MAX    20000
#define TRIAGE_NOTE_MAX       2000
#define TRIAGE_REASON_MAX     1000
#define TRIAGE_OUTCOME_MAX    2000
#define TRIAGE_SUMMARY_MAX    2000
#define TRIAGE_ALERT_NOTE_MAX 1000
/* case.decided carries at most this many bytes of CaseContent. */
#define TRIAGE_CONTENTS_BUDGET (160 * 1024)

/* --- step 1: the message alone ------------------------------------------------------- */

/* today: the local date (days since the epoch) of now; minor_involved:
   whether the case has a minor involved (false when not yet known: the
   rule is checked again in step 2). */
int triage_decide_check_record (const Lantern__V1__RecordDecision *cmd, int64_t today,
                                bool minor_involved, ln_error_t *err);
int triage_decide_check_update (const Lantern__V1__UpdateTrack *cmd, ln_error_t *err);
int triage_decide_check_close (const Lantern__V1__CloseCase *cmd, ln_error_t *err);
int triage_decide_check_ack (const Lantern__V1__AcknowledgeAlert *cmd, ln_error_t *err);

/* --- step 2: against the store, and the change --------------------------------------- */

typedef struct {
    const triage_slot_t *slot; /* meeting days and times, the local date */
    int64_t now_us;            /* the node's clock */
    triage_emitter_t *em;      /* events (command path: over ln_call_emit) */
} triage_decide_env_t;

/* Each returns 0 with *out set (malloc'ed; free with
   protobuf_c_message_free_unpacked), or -1 with err set (nothing written
   by this call, but the caller's transaction may have been used: roll
   back on -1 with a DB_ or OUTBOX_ code). */
int triage_decide_record (ln_db_t *db, const triage_decide_env_t *env,
                          const Lantern__V1__RecordDecision *cmd, const char *principal,
                          Lantern__V1__RecordDecisionResult **out, ln_error_t *err);
int triage_decide_update_track (ln_db_t *db, const triage_decide_env_t *env,
                                const Lantern__V1__UpdateTrack *cmd, const char *principal,
                                const char *organisation, Lantern__V1__UpdateTrackResult **out,
                                ln_error_t *err);
int triage_decide_close (ln_db_t *db, const triage_decide_env_t *env,
                         const Lantern__V1__CloseCase *cmd, const char *principal,
                         Lantern__V1__CloseCaseResult **out, ln_error_t *err);
int triage_decide_ack (ln_db_t *db, const triage_decide_env_t *env,
                       const Lantern__V1__AcknowledgeAlert *cmd, const char *principal,
                       Lantern__V1__AcknowledgeAlertResult **out, ln_error_t *err);

#endif
