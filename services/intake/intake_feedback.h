/*  intake_feedback: an intake node follows the triage node and moves the
    status of its own signals from what the screening meeting did
    (issue 11 point 8; docs/protocol.md "Triage", "What an intake node
    receives").

    The node's configuration lists the triage node as an upstream; triage
    sends each intake node, projected at the source, only the CaseSignals
    of that node's own signals.  Each event moves them, through
    intake_signal_set_status (history, event, audit, in the consumer's
    transaction, exactly once with the cursor):

      case.opened, case.linked,     RECEIVED -> SCHEDULED (on the agenda)
      case.merged
      case.decided                  MORE_INFORMATION when it opened only
                                    MORE_INFORMATION tracks; TRACKS_OPENED
                                    when it opened another kind; NO_ACTION
                                    is followed by case.closed
      case.closed                   NO_ACTION -> CLOSED_NO_ACTION (intake's
                                    retention.no_action_days then purges it);
                                    TRACKS_DONE -> CLOSED; EMPTY (every
                                    signal withdrawn) changes nothing

    A status never moves back (SCHEDULED only from RECEIVED; nothing once
    CLOSED, CLOSED_NO_ACTION or WITHDRAWN); a CaseSignal of another node,
    or of a signal this node no longer holds (purged), is passed over; so
    is every other event type.  The reason of each change names the case
    and what happened ("case case-... decided at meeting 2026-06-02:
    CARE, CRIMINAL").
*/
#ifndef INTAKE_FEEDBACK_H
#define INTAKE_FEEDBACK_H

#include <stddef.h>
#include <stdint.h>

#include "ln_consumer.h"
#include "ln_envelope.h"

/* Triage's event types, for the node's `follows` (so that its consumer
   accepts them). */
extern const ln_event_type_t intake_feedback_types[];
extern const size_t intake_feedback_type_count;

/* ln_consumer_apply_fn (arg: the intake_t). */
int intake_feedback_apply (void *arg, ln_db_t *db, const char *upstream, ln_event_t *const *events,
                           const uint64_t *positions, size_t count, ln_error_t *err);

#endif
