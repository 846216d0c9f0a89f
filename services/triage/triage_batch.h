/*  triage_batch: one batch of an intake node's events, applied in the
    consumer's transaction (triage_node_apply).

    Applying events one by one (triage_link) costs a dozen statements per
    signal; a replay of a node's history is hundreds of thousands of them.
    So a batch is applied set-based where that gives the same result as
    applying its events in order, and event by event where it might not:

      1. the batch is decoded and checked in C (each signal's id and node,
         as triage_link checks them), and its signals' usable tokens are
         collected;
      2. ONE round trip asks PostgreSQL, for all of them at once, which
         signals it already holds and which of their tokens an active
         signal of an open case holds;
      3. a SignalReceived of a signal triage does not hold, whose id is in
         no other event of the batch and whose tokens are in no other
         event of it, takes a set-based route when it can:
           LONE    it shares no usable token with an open case's signal: a
                   case of its own (case.opened);
           JOIN    its tokens reach exactly one open case, which it joins
                   under that case's name without changing the links of
                   the case's members (case.linked);
           RENAME  its tokens reach exactly one undecided case, of which
                   it becomes the earliest signal: the case is named after
                   it (case.opened, case.merged), every link recomputed;
         the cases it would join are read in one more query (one case per
         route per batch); all of these are written together, each table
         in one statement (signals, tokens, the moves of a rename, cases,
         case_history, links, alerts, and the outbox rows of their events);
      4. every other event (an amendment, a withdrawal, a signal that
         bridges cases or links within the batch, a duplicate delivery, an
         erasure) goes through triage_link in the batch's order, after the
         set-based ones.

    Why the order may change: a set-based signal shares no token with
    another event of the batch and no other event names it; what an
    undecided case is, its name and its links, are a function of the set
    of active signals (triage_link, DETERMINISM), which the order of one
    upstream's events within a batch does not change.  (The history and
    the events the event-by-event ones write may then tell the same in
    other steps.)  A set-based signal's events get the ids and payloads
    they get one by one (triage_event_id of its upstream and position);
    the order of triage's events in its own log may differ, which
    DETERMINISM in triage_link.h does not promise.  A decided case (pinned)
    is joined only when nothing of it moves.

    Returns 0, or -1 with err set (the consumer rolls the batch back and
    tries again after a backoff).
*/
#ifndef TRIAGE_BATCH_H
#define TRIAGE_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "ln_db.h"
#include "ln_envelope.h"
#include "ln_error.h"
#include "ln_level.h"

int triage_batch_apply (ln_db_t *db, const char *upstream, ln_event_t *const *events,
                        const uint64_t *positions, size_t count, ln_level_t level, ln_error_t *err);

/* How many events took each route since the process started (batches
   that were rolled back included): for tests, the benchmark and the
   node's debug log. */
typedef struct {
    uint64_t lone, join, rename, general;
} triage_batch_routes_t;
void triage_batch_routes (triage_batch_routes_t *out);

#endif
