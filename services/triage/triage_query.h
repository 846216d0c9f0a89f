/*  triage_query: the read commands: GetCase, ListCases, ListAlerts,
    ListTracks (GetAgenda is triage_meeting_agenda).

    A case is shown as the Dutch reference index (Verwijsindex) shows it:
    which partners have signals in it, why they are linked (the kind of
    token, never the token), what it is about (CaseFacts), its score and
    every term of it, its decisions, tracks, alerts and history; never the
    persons, addresses or accounts the signals hold (those reach only the
    partner that takes a track, in case.decided).  Every GetCase is a read
    of personal data in the audit sense: the command handler audits it with
    its purpose (required here, so that the audit row always has a why).

    GetCase of an id that was merged or renamed shows the case it resolves
    to (asked_id keeps what was asked); of an undecided case that closed
    because all its signals were withdrawn, a CLOSED record with outcome
    EMPTY made from its history.

    Lists are paged by an opaque page_token (the last row's sort key);
    page_size 1..500, 0 means 50.

    Error codes (fields in the command's message): MISSING_CASE_ID,
    INVALID_CASE_ID, NOT_FOUND, MISSING_PURPOSE, TEXT_TOO_LONG,
    INVALID_UTF8, CONTROL_CHARACTER, UNKNOWN_STATE, UNKNOWN_TRACK_KIND,
    PAGE_TOO_LARGE, BAD_PAGE_TOKEN, DB_* .
*/
#ifndef TRIAGE_QUERY_H
#define TRIAGE_QUERY_H

#include <stdint.h>

#include "ln_db.h"
#include "ln_error.h"
#include "triage.pb-c.h"
#include "triage_meeting.h"
#include "triage_priority.h"

#define TRIAGE_PURPOSE_MAX  500
#define TRIAGE_PAGE_MAX     500
#define TRIAGE_PAGE_DEFAULT 50
#define TRIAGE_HISTORY_MAX  200

typedef struct {
    const triage_slot_t *slot; /* the local date (overdue tracks) */
    const triage_weights_t *w; /* scores */
    int64_t now_us;
} triage_query_env_t;

/* Pure checks of the messages (step 1, as triage_decide). */
int triage_query_check_get_case (const Lantern__V1__GetCase *cmd, ln_error_t *err);
int triage_query_check_list_cases (const Lantern__V1__ListCases *cmd, ln_error_t *err);
int triage_query_check_list_alerts (const Lantern__V1__ListAlerts *cmd, ln_error_t *err);
int triage_query_check_list_tracks (const Lantern__V1__ListTracks *cmd, ln_error_t *err);

/* The reads; *out malloc'ed (free with protobuf_c_message_free_unpacked).
   0 or -1 with err set. */
int triage_query_get_case (ln_db_t *db, const triage_query_env_t *env,
                           const Lantern__V1__GetCase *cmd, Lantern__V1__CaseRecord **out,
                           ln_error_t *err);
int triage_query_list_cases (ln_db_t *db, const triage_query_env_t *env,
                             const Lantern__V1__ListCases *cmd, Lantern__V1__CaseList **out,
                             ln_error_t *err);
int triage_query_list_alerts (ln_db_t *db, const triage_query_env_t *env,
                              const Lantern__V1__ListAlerts *cmd, Lantern__V1__AlertList **out,
                              ln_error_t *err);
int triage_query_list_tracks (ln_db_t *db, const triage_query_env_t *env,
                              const Lantern__V1__ListTracks *cmd, Lantern__V1__TrackList **out,
                              ln_error_t *err);

#endif
