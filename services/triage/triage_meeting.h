/*  triage_meeting: the weekly screening meeting's slot and its agenda.

    The slot comes from the node's config: a weekday, a local time and a
    time zone ("tuesday", "10:00", "Europe/Amsterdam").  A meeting is named
    by its local date ("2026-06-02"), which is also the meeting_id of the
    decisions taken at it.  Its start is the slot's local time on that
    date, converted with the zone's rules (triage_tz): Tuesday 10:00 in
    Amsterdam is 08:00 UTC in summer and 09:00 UTC in winter, and the
    meeting on the Tuesday after the clocks change starts an hour
    earlier or later in UTC, at 10:00 on the wall clock.

    Time is always passed in (µs since the epoch), never read here, so that
    a controllable clock drives it in tests.

    THE AGENDA of the meeting on day D holds every open case (OPEN or
    DECIDED) with at least one reason (lantern.v1.AgendaReason):
      NEW_CASE               a signal of it was never discussed, and the case
                             was never decided on
      NEW_SIGNALS            decided before, but a signal joined or was
                             amended since
      MORE_INFORMATION_DUE   a MORE_INFORMATION track still open whose
                             deadline is D or earlier
      MORE_INFORMATION_READY a MORE_INFORMATION track its lead marked DONE
      TRACK_OVERDUE          another track OPEN or IN_PROGRESS whose deadline
                             was before D (on every agenda until it is done)
      TRACK_HANDED_BACK      a track its lead handed back
    A MORE_INFORMATION or handed-back track stops bringing its case back
    once a decision at a later meeting took it up (RecordDecision).  Items
    are ordered by score (triage_priority, counted at the meeting's start),
    then the earlier opened, then the case id: the same data always gives
    the same agenda.

    Error codes (field paths of GetAgenda): TRIAGE_BAD_WEEKDAY,
    TRIAGE_BAD_TIME, TRIAGE_TZ_* (the slot's config), INVALID_DATE
    (meeting_id is not a date YYYY-MM-DD), NOT_A_MEETING_DAY (a date that
    is not the slot's weekday), DB_* .
*/
#ifndef TRIAGE_MEETING_H
#define TRIAGE_MEETING_H

#include <stdint.h>

#include "ln_db.h"
#include "ln_error.h"
#include "triage.pb-c.h"
#include "triage_priority.h"
#include "triage_tz.h"

typedef struct triage_slot_t triage_slot_t;

/* The weekly slot: weekday ("monday" .. "sunday", any case), local time
   "HH:MM" (00:00 .. 23:59) and a time zone name.  NULL with err set. */
triage_slot_t *triage_slot_new (const char *weekday, const char *hhmm, const char *zone,
                                ln_error_t *err);
/* The same with a zone already made (taken over). */
triage_slot_t *triage_slot_new_tz (const char *weekday, const char *hhmm, triage_tz_t **tz,
                                   ln_error_t *err);
void triage_slot_destroy (triage_slot_t **self_p);

const char *triage_slot_zone (const triage_slot_t *self);

/* The local date (days since the epoch) of a time. */
int64_t triage_slot_local_day (const triage_slot_t *self, int64_t t_us);

/* The start (µs) of the slot's time on local day `day`, whatever its
   weekday. */
int64_t triage_slot_start_on (const triage_slot_t *self, int64_t day);

/* The start of the first meeting at or after t_us. */
int64_t triage_meeting_next (const triage_slot_t *self, int64_t t_us);

/* The meeting of today if today (local) is a meeting day, else the next
   one: the meeting `lanternctl agenda` is about. */
int64_t triage_meeting_upcoming (const triage_slot_t *self, int64_t now_us);

/* The id (local date) of a meeting starting at start_us (out_size >= 11). */
void triage_meeting_id (const triage_slot_t *self, int64_t start_us, char *out, size_t out_size);

/* Resolve a meeting id: its day and start.  1 when it is the slot's
   weekday, 0 when it is a valid date on another day, -1 when it is not a
   date. */
int triage_meeting_parse (const triage_slot_t *self, const char *meeting_id, int64_t *day,
                          int64_t *start_us);

/* GetAgenda: the agenda of the meeting `meeting_id` ("" or NULL: the
   upcoming one at now_us), scored at the meeting's start (or now, if that
   is later).  node: this triage node's name, for the header.  Malloc'ed;
   NULL with err set. */
Lantern__V1__Agenda *triage_meeting_agenda (ln_db_t *db, const triage_slot_t *slot,
                                            const triage_weights_t *w, const char *node,
                                            const char *meeting_id, int64_t now_us,
                                            ln_error_t *err);

#endif
