/*  triage_store: the triage node's tables, and every SQL statement on them.

    Tables (migration 100, in the node's own schema; the library's outbox,
    audit, consumer cursors and stored replies take versions below 100):

      signals      every signal triage has heard of: its upstream node and
                   organisation, the columns a case's facts and score need,
                   `case_id` (its case now; NULL once withdrawn),
                   `discussed_meeting` (NULL until a decision covered it) and
                   `record`, the signal as received (packed lantern.v1.Signal)
                   without its account and submitter: it is where the
                   persons a CARE or CRIMINAL track needs come from.
      tokens       (kind, token) -> signal: the pseudonym index that links
                   signals.  Only usable tokens (triage_link) of active
                   signals: a withdrawal deletes its signal's.
      cases        one row per case that exists now: an open (undecided)
                   case while it is a component of linked signals, a decided
                   or closed case for ever, a decided case merged into an
                   older decided one as state MERGED with merged_into.  The
                   id of an undecided case that was merged, renamed or emptied
                   is no row: it resolves through the signal it was named
                   after (triage_store_resolve) and its history.
      links        per signal, why it is in its case (triage_link_explain):
                   the other signal, the token kind, the reason text.
      case_history what happened to each case id, in order (opened, linked,
                   merged, renamed, left, split, decided, closed, ...): a log,
                   the one table that records the order things arrived in.
      meetings     the meetings decisions were taken at (id: local date).
      decisions    RecordDecision, as decided (case_id follows merges,
                   decided_case_id keeps the id it was taken on).
      tracks       the tracks decisions opened, and their follow-up.
      alerts       alert.raised, and who acknowledged it when.
      catalogue_versions  the catalogue versions this node has scored with
                   and their digests (a changed content under an old
                   version is refused).

    Everything runs in the caller's transaction; nothing here begins or
    commits.  Functions return 0 (or a count, or 1 found / 0 not found) or
    -1 with err set (DB_* from ln_db, TRIAGE_CORRUPT for rows this module
    never writes).

    Result messages (lantern.v1 ...) are built wholly malloc'ed (triage.h):
    free them with protobuf_c_message_free_unpacked (msg, NULL).
*/
#ifndef TRIAGE_STORE_H
#define TRIAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ln_db.h"
#include "ln_envelope.h"
#include "ln_error.h"
#include "ln_keys.h"
#include "triage.h"
#include "triage.pb-c.h"
#include "triage_link.h"

/* A text array as PostgreSQL writes it ({a,"b c"}) into malloc'ed strings
   in a malloc'ed array (NULL elements skipped).  0, or -1 when it is not
   one. */
int triage_store_parse_array (const char *text, char ***out, size_t *n);

/* The service's migrations (versions 100 and up). */
const ln_migration_t *triage_store_migrations (size_t *count);

/* Refuse a catalogue whose content changed under a version this node has
   used: records (version, digest) the first time, then compares.
   TRIAGE_CATALOGUE_CHANGED when it differs. */
int triage_store_catalogue_check (ln_db_t *db, const char *version, const char *digest,
                                  int64_t now_us, ln_error_t *err);

/* --- signals and tokens ------------------------------------------------------------ */

/* A signal as written by the link path (everything borrowed). */
typedef struct {
    const char *id;
    const char *node;
    const char *organisation;
    int organisation_type;
    uint32_t version;
    const char *catalogue_version;
    const char *municipality;
    uint32_t forms_mask; /* bit f: ExploitationForm f */
    char *const *indicators;
    size_t n_indicators;
    bool immediate_danger;
    bool minor_involved;
    int64_t received_us;
    int64_t updated_us;
    int64_t withdrawn_us; /* 0: active */
    uint64_t position;    /* of the upstream event that wrote it */
    const uint8_t *record;
    size_t record_size;
} triage_signal_put_t;

/* What the link path needs to know of a stored signal. */
typedef struct {
    char node[LN_ENVELOPE_NODE_MAX + 1];
    uint32_t version;
    bool withdrawn;
    bool immediate_danger;
    bool minor_involved;
    char case_id[TRIAGE_CASE_ID_SIZE]; /* "" when none */
    int case_state;                    /* CaseState of case_id, 0 when none */
} triage_signal_state_t;

/* Read one signal (and lock it).  1 found, 0 not, -1 error. */
int triage_store_signal_state (ln_db_t *db, const char *id, triage_signal_state_t *st,
                               ln_error_t *err);

/* Insert or replace a signal's columns and record (its case_id and
   discussed_meeting are left as they are; an amendment clears
   discussed_meeting when clear_discussed).  0 or -1. */
int triage_store_signal_put (ln_db_t *db, const triage_signal_put_t *s, bool clear_discussed,
                             ln_error_t *err);

/* Add usable tokens to a signal (the others are skipped; existing ones
   kept).  0 or -1. */
int triage_store_tokens_add (ln_db_t *db, const char *signal_id, const triage_token_t *tokens,
                             size_t n, ln_error_t *err);

/* Delete a signal's tokens and its link, and take it out of its case
   (case_id NULL; the case is remembered in signal_cases).  0 or -1. */
int triage_store_signal_leave (ln_db_t *db, const char *signal_id, ln_error_t *err);

/* The open (OPEN or DECIDED) cases of other active signals that share a
   token with this one, sorted, rows locked.  *ids (malloc'ed array of
   TRIAGE_CASE_ID_SIZE strings) and *n.  0 or -1. */
int triage_store_neighbour_cases (ln_db_t *db, const char *signal_id,
                                  char (**ids)[TRIAGE_CASE_ID_SIZE], size_t *n, ln_error_t *err);

/* The active signals of the given cases with their tokens, as members for
   triage_link_partition (pinned = the case is DECIDED), plus the signal
   `extra` when it is active and not among them (NULL: none).  Owns its
   strings; free with triage_members_destroy. */
typedef struct {
    triage_member_t *m;
    size_t n;
    /* private */
    char **strings;
    size_t n_strings;
    triage_token_t *tokens;
} triage_members_t;

int triage_store_members (ln_db_t *db, char (*case_ids)[TRIAGE_CASE_ID_SIZE], size_t n_cases,
                          const char *extra, triage_members_t **out, ln_error_t *err);
void triage_members_destroy (triage_members_t **self_p);

/* Move signals to a case (signals.case_id; the case each leaves is
   remembered in signal_cases).  0 or -1. */
int triage_store_signals_move (ln_db_t *db, const char *const *signal_ids, size_t n,
                               const char *case_id, ln_error_t *err);

/* Every case the signal has been in (its case now, and those of
   signal_cases), sorted; *ids malloc'ed strings in a malloc'ed array.
   0 or -1. */
int triage_store_signal_cases (ln_db_t *db, const char *signal_id, char ***ids, size_t *n,
                               ln_error_t *err);

/* Erase a signal: its row with its record, tokens and link, its alerts and
   its memberships.  1 erased, 0 not held, -1 error. */
int triage_store_signal_erase (ln_db_t *db, const char *signal_id, ln_error_t *err);

/* Replace the links of these signals by the given ones (n_links may be
   0: only delete).  0 or -1. */
typedef struct {
    const char *signal_id;
    const char *case_id;
    int kind;
    const char *other_signal_id;
    const char *other_node;
    const char *reason;
} triage_link_row_t;
int triage_store_links_replace (ln_db_t *db, const char *const *signal_ids, size_t n,
                                const triage_link_row_t *links, size_t n_links, ln_error_t *err);

/* --- cases -------------------------------------------------------------------------- */

typedef struct {
    char id[TRIAGE_CASE_ID_SIZE];
    int state; /* CaseState */
    char anchor[TRIAGE_SIGNAL_ID_SIZE];
    int64_t opened_us;
    char merged_into[TRIAGE_CASE_ID_SIZE]; /* "" unless MERGED */
    int64_t closed_us;
    int outcome; /* CaseOutcome */
    char closed_by[LN_KEYS_NAME_MAX + 1];
    char *close_summary; /* malloc'ed by load; borrowed by save */
} triage_case_row_t;

/* Read one case row (locked when for_update).  1, 0, -1.  Free
   row->close_summary. */
int triage_store_case_load (ln_db_t *db, const char *id, bool for_update, triage_case_row_t *row,
                            ln_error_t *err);
/* Insert or update a case row. */
int triage_store_case_save (ln_db_t *db, const triage_case_row_t *row, ln_error_t *err);
/* Delete an undecided case's row (its id then lives on in history). */
int triage_store_case_delete (ln_db_t *db, const char *id, ln_error_t *err);

/* Decisions and tracks of case `from` now belong to case `to` (a decided
   case merged into an older one). */
int triage_store_case_move_decisions (ln_db_t *db, const char *from, const char *to,
                                      ln_error_t *err);

/* Append to a case's history. */
int triage_store_history_add (ln_db_t *db, const char *case_id, int64_t at_us, const char *action,
                              const char *signal_id, const char *other_case_id, const char *detail,
                              ln_error_t *err);

/* Which case an id names now (GetCase, decisions): a case row (a MERGED
   row: its merged_into, followed to the end); otherwise, for "case-X" whose
   signal "sig-X" is active, that signal's case; otherwise (the signal was
   withdrawn, or never heard of) 0.  resolved gets the id.  1 found, 0 not
   found, -1 error. */
int triage_store_resolve (ln_db_t *db, const char *id, char resolved[TRIAGE_CASE_ID_SIZE],
                          ln_error_t *err);

/* The facts of a case (its active signals), and its revision: 16 hex
   digits of a hash of its active signals' ids and versions, which changes
   whenever a signal joins, leaves or is amended.  A case without active
   signals gets empty facts.  *facts malloc'ed.  0 or -1. */
int triage_store_case_facts (ln_db_t *db, const char *case_id, Lantern__V1__CaseFacts **facts,
                             char revision[17], ln_error_t *err);

/* The case's signals (active ones; also the ones that left it when
   with_left, marked withdrawn), by (received, id).  0 or -1. */
int triage_store_case_signals (ln_db_t *db, const char *case_id, bool with_left,
                               Lantern__V1__CaseSignal ***out, size_t *n, ln_error_t *err);

/* The case's links, by signal order.  0 or -1. */
int triage_store_case_links (ln_db_t *db, const char *case_id, Lantern__V1__CaseLink ***out,
                             size_t *n, ln_error_t *err);

/* Ids whose history says they were merged or renamed into this case, and
   MERGED rows pointing at it, sorted, distinct.  0 or -1. */
int triage_store_case_aliases (ln_db_t *db, const char *case_id, char ***out, size_t *n,
                               ln_error_t *err);

/* The last `limit` history entries of a case id, oldest first. */
int triage_store_case_history (ln_db_t *db, const char *case_id, size_t limit,
                               Lantern__V1__CaseHistoryEntry ***out, size_t *n, ln_error_t *err);

/* What the case's active signals say about people and things (tokens
   removed), for case.decided, in signal order, while the packed contents
   stay within max_bytes; *omitted counts the signals left out.  0 or -1. */
int triage_store_case_contents (ln_db_t *db, const char *case_id, size_t max_bytes,
                                Lantern__V1__CaseContent ***out, size_t *n, uint32_t *omitted,
                                ln_error_t *err);

/* Mark the active, undiscussed signals of a case as discussed at meeting. */
int triage_store_case_discussed (ln_db_t *db, const char *case_id, const char *meeting_id,
                                 ln_error_t *err);

/* A page of cases in a state (0: OPEN and DECIDED), by (opened, id), after
   (after_us, after_id) (after_id "": from the start).  Calls fn per row.
   Returns the number of rows or -1. */
typedef void (*triage_case_fn) (void *arg, const triage_case_row_t *row);
int triage_store_cases_list (ln_db_t *db, int state, int64_t after_us, const char *after_id,
                             size_t limit, triage_case_fn fn, void *arg, ln_error_t *err);

/* --- meetings, decisions, tracks ------------------------------------------------------ */

int triage_store_meeting_put (ln_db_t *db, const char *meeting_id, int64_t starts_us,
                              ln_error_t *err);

/* Insert a decision and its tracks (d->tracks, each with its ids set). */
int triage_store_decision_insert (ln_db_t *db, const Lantern__V1__Decision *d, ln_error_t *err);

/* The decisions of a case, oldest first, each with its tracks.  0 or -1. */
int triage_store_case_decisions (ln_db_t *db, const char *case_id, Lantern__V1__Decision ***out,
                                 size_t *n, ln_error_t *err);

/* The tracks of a case (all, or only OPEN / IN_PROGRESS when active_only),
   by (opened, decision, order); locked when for_update.  `today` (days
   since the epoch) sets Track.overdue.  0 or -1. */
int triage_store_case_tracks (ln_db_t *db, const char *case_id, bool active_only, bool for_update,
                              int64_t today, Lantern__V1__Track ***out, size_t *n, ln_error_t *err);

/* One track (locked when for_update).  1, 0, -1; *out malloc'ed. */
int triage_store_track_load (ln_db_t *db, const char *track_id, bool for_update, int64_t today,
                             Lantern__V1__Track **out, ln_error_t *err);

/* Write a track's state, outcome, handback_reason, updated_*. */
int triage_store_track_update (ln_db_t *db, const Lantern__V1__Track *t, ln_error_t *err);

/* The tracks that brought a case back were taken up at meeting: set
   returned_meeting on its MORE_INFORMATION and handed-back tracks that
   have none. */
int triage_store_tracks_returned (ln_db_t *db, const char *case_id, const char *meeting_id,
                                  ln_error_t *err);

/* ListTracks: tracks by (deadline, id) after (after_deadline, after_id),
   overdue ones only (OPEN / IN_PROGRESS with deadline < today) when
   overdue; lead and kind filter when given.  Returns rows or -1. */
typedef struct {
    bool overdue;
    const char *lead_organisation; /* NULL or "": any */
    int kind;                      /* 0: any */
    int64_t today;
    const char *after_deadline; /* "" : from the start */
    const char *after_id;
    size_t limit;
} triage_track_filter_t;
int triage_store_tracks_list (ln_db_t *db, const triage_track_filter_t *f,
                              Lantern__V1__Track ***out, size_t *n, ln_error_t *err);

/* Close a case: state CLOSED with outcome, time, by and summary. */
int triage_store_case_close (ln_db_t *db, const char *case_id, int outcome, int64_t closed_us,
                             const char *by, const char *summary, ln_error_t *err);

/* --- the agenda ------------------------------------------------------------------------- */

/* An open case that belongs on the agenda of the meeting on local date
   `day` (days since the epoch), with its reasons (AgendaReason bits: bit r
   set for reason r). */
typedef struct {
    char case_id[TRIAGE_CASE_ID_SIZE];
    unsigned reasons;
    int64_t opened_us;
} triage_agenda_row_t;

/* Every such case (unordered: the caller scores and sorts).  *rows
   malloc'ed.  0 or -1. */
int triage_store_agenda (ln_db_t *db, int64_t day, triage_agenda_row_t **rows, size_t *n,
                         ln_error_t *err);

/* The tracks that bring a case onto the agenda of day `day` (see
   triage_meeting.h), by (opened, decision, order).  0 or -1. */
int triage_store_agenda_tracks (ln_db_t *db, const char *case_id, int64_t day,
                                Lantern__V1__Track ***out, size_t *n, ln_error_t *err);

/* --- alerts ------------------------------------------------------------------------------ */

/* Insert an alert unless its id exists: 1 inserted, 0 existed, -1. */
int triage_store_alert_insert (ln_db_t *db, const char *alert_id, int kind, const char *signal_id,
                               int64_t raised_us, ln_error_t *err);

/* One alert with its signal and case; locked when for_update.  1, 0, -1. */
int triage_store_alert_load (ln_db_t *db, const char *alert_id, bool for_update,
                             Lantern__V1__Alert **out, ln_error_t *err);

/* Acknowledge (only when not yet acknowledged): 1 done, 0 already, -1. */
int triage_store_alert_ack (ln_db_t *db, const char *alert_id, const char *by, int64_t at_us,
                            const char *note, ln_error_t *err);

/* Alerts by (raised, id) after (after_us, after_id), unacknowledged only
   unless include_acknowledged; of one case when case_id is given. */
int triage_store_alerts_list (ln_db_t *db, bool include_acknowledged, const char *case_id,
                              int64_t after_us, const char *after_id, size_t limit,
                              Lantern__V1__Alert ***out, size_t *n, ln_error_t *err);

#endif
