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
      3. a SignalReceived of a signal triage does not hold, that shares no
         usable token with an open case's signal nor with any other event
         of the batch, and whose id is in no other event of the batch, is
         a case of its own and nothing else: such "lone" signals are
         written together, each table in one statement (signals, tokens,
         cases, case_history, alerts and the outbox rows of their
         case.opened and alert.raised events);
      4. every other event (an amendment, a withdrawal, a signal that
         links, a duplicate delivery, an erasure) goes through triage_link
         in the batch's order, after the lone ones.

    Why the order may change: a lone signal shares no token with anything
    the other events touch, and no other event names it, so whether it is
    written before or after them changes none of their cases, links,
    names or scores (the rule of triage_link is about connected components,
    and a lone signal is a component of its own either way).  Its events
    get the same ids as one by one (triage_event_id of its upstream and
    position), so a replay gives the same outbox ids too; only the order of
    triage's events in its own log differs, which DETERMINISM in
    triage_link.h does not promise.

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
