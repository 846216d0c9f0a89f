/*  triage_project: who follows the triage node, and what each may see of
    its events (docs/protocol.md "Triage", "Who receives what").

    Decided at the source, per subscriber (ln_project_fn): a stream rule
    says which types a role may receive and in which projection; this
    module then makes the payload that subscriber gets, by TAKING FIELDS
    AWAY from the stored message (a new message borrows the fields it keeps,
    so a field added to triage.proto later is left out until someone
    decides it belongs).  The audience is the subscriber's role:

      intake    an intake node (node keys carry role `intake`; the
                principal's name is the node's name): of case.opened,
                case.linked, case.merged, case.decided and case.closed,
                only the CaseSignals of ITS OWN signals (CaseSignal.node =
                the subscriber's name), a decision's track kinds and states
                with its meeting; no link, facts, content, note, minutes,
                other partners' signals or merged case ids.  An event
                without one of its signals is not sent; case.linked only
                for its own signal.
      care      case.decided, track.updated and case.closed of decisions
                with a CARE track: the CARE tracks only, CaseContent
                reduced to the persons with role POSSIBLE_VICTIM, facts
                and signals; no minutes nor reasons.
      police    the same for CRIMINAL tracks, with every CaseContent.
      monitor   (projection statistical, whoever asks) facts, track kinds
                and states and their dates and leads, outcomes and times:
                no CaseSignal, link, content, alert signal, free text
                (minutes, notes, reasons, outcome, summary), principal
                name, token or person.

    The rule's projection bounds this: `statistical` is always the monitor
    view; `full` is the view of the subscriber's role (intake, then police,
    then care), or the stored event for a role that has none of those
    (only an operator's own rule can give that); `pseudonymised` is not
    defined for triage's events (not sent).  Event types that are not
    triage's (notices, erasures, node start-ups) go as stored.

    The CloudEvent's correlationid (the case id) is the bus's and goes
    with every delivery.

    Default stream policy (the node's `stream` setting replaces it):
      intake   case.opened, case.linked, case.merged, case.decided,
               case.closed                                  full
      care     case.decided, track.updated, case.closed     full
      police   case.decided, track.updated, case.closed     full
      monitor  all seven                                    statistical
*/
#ifndef TRIAGE_PROJECT_H
#define TRIAGE_PROJECT_H

#include <stddef.h>
#include <stdint.h>

#include "ln_server.h"

/* The roles of the audiences. */
#define TRIAGE_ROLE_INTAKE  "intake"
#define TRIAGE_ROLE_CARE    "care"
#define TRIAGE_ROLE_POLICE  "police"
#define TRIAGE_ROLE_MONITOR "monitor"

int triage_project (void *arg, const ln_principal_t *subscriber, ln_projection_t projection,
                    const ln_outbox_row_t *row, uint8_t **out, size_t *out_size);

const ln_stream_rule_t *triage_project_default_rules (size_t *count);

#endif
