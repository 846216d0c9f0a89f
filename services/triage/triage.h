/*  triage: the screening meeting's node (lantern-triage), where the signals
    of many intake nodes become cases, the weekly agenda is made, and the
    meeting's decisions and their follow-up are kept (docs/protocol.md "Triage").

    The service is built from modules that its command handlers and its
    consumers' apply callback call as thin wrappers:

      triage_store     the tables and every SQL statement on them
      triage_link      intake events -> cases (linking, merging, leaving,
                       alerts), inside the caller's transaction
      triage_priority  a case's score as terms that add up
      triage_tz        time zones from the system's tz database
      triage_meeting   the weekly slot, the next meeting, the agenda
      triage_decide    RecordDecision, UpdateTrack, CloseCase,
                       AcknowledgeAlert: validation and state changes
      triage_query     GetCase, ListCases, ListAlerts, ListTracks
      triage_batch     a consumer's batch: set-based where it may be,
                       triage_link otherwise
      triage_node      settings, start, the consumers' apply
      triage_commands  the command table and its handlers (roles)
      triage_project   what each follower receives

    This header holds what they share: names, ids, the emitter through which
    events are written, and small helpers for building result messages.

    Events.  Every change writes its events through a triage_emitter_t: the
    command path passes a function over ln_call_emit, the consumer path
    triage_emit_outbox (ln_outbox_append on the consumer's transaction).
    Events caused by an intake event get an id derived from the upstream,
    the event's position and a counter (triage_event_id), so that replaying
    a stream gives the same ids; command events get random ones.
*/
#ifndef TRIAGE_H
#define TRIAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "ln_error.h"
#include "ln_level.h"
#include "ln_outbox.h"

/* Roles. */
#define TRIAGE_ROLE_CHAIR "screening_chair"

/* Event types. */
#define TRIAGE_EVENT_CASE_OPENED   "nl.lantern.case.opened.v1"
#define TRIAGE_EVENT_CASE_LINKED   "nl.lantern.case.linked.v1"
#define TRIAGE_EVENT_CASE_MERGED   "nl.lantern.case.merged.v1"
#define TRIAGE_EVENT_CASE_DECIDED  "nl.lantern.case.decided.v1"
#define TRIAGE_EVENT_TRACK_UPDATED "nl.lantern.track.updated.v1"
#define TRIAGE_EVENT_CASE_CLOSED   "nl.lantern.case.closed.v1"
#define TRIAGE_EVENT_ALERT_RAISED  "nl.lantern.alert.raised.v1"

/* An event type and its payload message, for the node skeleton's registry. */
typedef struct {
    const char *type;
    const ProtobufCMessageDescriptor *payload;
} triage_event_type_t;

/* The seven event types (*count set). */
const triage_event_type_t *triage_event_types (size_t *count);

/* Ids.  A signal id is "sig-" + 26 of [a-z2-7] (intake's); a case id is
   "case-" + the same 26 characters of the signal it was first named after
   (triage_link: its earliest signal); decisions "dec-", tracks "trk-" +
   26 random base32 characters; alerts "alert-" + 26 + "-danger" or
   "-minor". */
#define TRIAGE_ID_CHARS       26
#define TRIAGE_SIGNAL_ID_SIZE 31 /* "sig-" + 26 + NUL */
#define TRIAGE_CASE_ID_SIZE   32 /* "case-" + 26 + NUL */
#define TRIAGE_ID_SIZE        48 /* any triage id with its NUL */

bool triage_signal_id_valid (const char *id);
bool triage_case_id_valid (const char *id);
/* prefix ("dec-", "trk-") + 26 characters; the prefix decides the kind. */
bool triage_prefixed_id_valid (const char *id, const char *prefix);

/* The case id named after a signal ("sig-X" -> "case-X").  Returns 0, or
   -1 when signal_id is not valid. */
int triage_case_id_of (const char *signal_id, char out[TRIAGE_CASE_ID_SIZE]);

/* prefix + 26 random base32 characters (128 bits, libsodium). */
void triage_random_id (const char *prefix, char *out, size_t size);

/* The id of the n-th event caused by the upstream event at `position`:
   32 hex digits of a keyless BLAKE2b-128 over the three. */
void triage_event_id (const char *upstream, uint64_t position, unsigned n,
                      char out[LN_OUTBOX_EVENT_ID_SIZE]);

/* --- emitting events --------------------------------------------------------- */

typedef int (*triage_emit_fn) (void *ctx, const ln_outbox_event_t *ev, ln_error_t *err);

typedef struct {
    triage_emit_fn fn;
    void *ctx;
    ln_level_t level; /* dataclassification of triage's events */
    /* Set by the consumer path (triage_link): events get derived ids
       upstream/position/n (n counts up per event); NULL: random ids. */
    const char *upstream;
    uint64_t position;
    unsigned n;
} triage_emitter_t;

/* An emit function for the consumer path: ctx is the ln_db_t * of the open
   transaction (ln_outbox_append). */
int triage_emit_outbox (void *ctx, const ln_outbox_event_t *ev, ln_error_t *err);

/* Pack msg and emit it as an event of `type`, correlation id case_id, at
   time_us (> 0: the time of what caused it).  0 or -1 with err set. */
int triage_emit (triage_emitter_t *em, const char *type, const char *case_id, int64_t time_us,
                 const ProtobufCMessage *msg, ln_error_t *err);

/* --- result messages --------------------------------------------------------- */

/* Result messages built by the modules are owned by the caller and wholly
   malloc'ed (strings, arrays, sub-messages; an empty string is protobuf-c's
   shared default), so protobuf_c_message_free_unpacked (msg, NULL) frees
   everything.  These helpers keep to that. */

/* A malloc'ed copy of text, or protobuf-c's empty string for NULL or "". */
char *triage_str (const char *text);
/* Append item to a repeated message (or string) field: *items grows by one. */
void triage_push (void ***items, size_t *n, void *item);
/* Append value to a repeated enum field. */
void triage_push_enum (int **items, size_t *n, int value);
/* Free what a message that lives on the stack owns (its strings, arrays
   and sub-messages), not the message itself. */
void triage_free_fields (ProtobufCMessage *msg);
/* calloc that cannot fail, for messages (init them after). */
void *triage_alloc (size_t size);
/* qsort, for arrays that may be empty: a repeated field with no entries
   is a NULL pointer, which qsort must not be given even with n 0. */
void triage_sort (void *base, size_t n, size_t size, int (*cmp) (const void *, const void *));

/* --- texts and dates ------------------------------------------------------------ */

/* Check a text of a command against its limit: NULL when fine, else the
   code TEXT_TOO_LONG (over max bytes), INVALID_TEXT (not UTF-8 text, a
   control character; LF and TAB allowed only when multiline), or
   MISSING_TEXT when required and blank (only spaces and tabs). */
const char *triage_text_problem (const char *text, size_t max, bool multiline, bool required);

/* True when text is empty or only spaces and tabs. */
bool triage_blank (const char *text);

/* Days since 1970-01-01 of a proleptic Gregorian date, and back. */
int64_t triage_days_from_civil (int64_t y, unsigned m, unsigned d);
void triage_civil_from_days (int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* Parse "YYYY-MM-DD" (exactly; a real date, years 1900..9999) into days
   since the epoch.  0 or -1. */
int triage_date_parse (const char *text, int64_t *days);
/* Write days as "YYYY-MM-DD" (out_size >= 11). */
void triage_date_format (int64_t days, char *out, size_t out_size);

#endif
