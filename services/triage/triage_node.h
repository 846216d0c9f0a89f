/*  triage_node: the triage service on the node skeleton (common/ln_node.h):
    its settings, its state, its start, stop and --check description, and
    the apply callback of its consumers (one per intake node it follows).

    Settings (beside the node's; docs/operations.md "Configuring a triage
    node", deploy/triage.cfg.example):

        organisation = "screeningsoverleg-noord-limburg";
        catalogue = "indicators.cfg";
        meeting = { weekday = "tuesday"; time = "10:00";
                    zone = "Europe/Amsterdam"; };

    `organisation` is the screening meeting's own: a chair (role
    screening_chair) must hold a certificate of it to decide or close.
    The catalogue gives the priority weights (triage_priority); a catalogue
    whose content changed under a version this node has scored with is
    refused at start (TRIAGE_CATALOGUE_CHANGED).

    The apply callback (triage_node_apply) takes a batch of one upstream's
    events in the consumer's transaction: signal events become cases
    (triage_batch, set-based, with triage_link for what links),
    nl.lantern.record.erased.v1 erases the signal's copies
    (triage_link_erased), and every other type (node.started, notices,
    audit anchors, types added later) is passed over.
*/
#ifndef TRIAGE_NODE_H
#define TRIAGE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ln_catalogue.h"
#include "ln_keys.h"
#include "ln_level.h"
#include "ln_node.h"
#include "triage_meeting.h"
#include "triage_priority.h"

typedef struct {
    char node[LN_ENVELOPE_NODE_MAX + 1];
    char organisation[LN_KEYS_ORG_MAX + 1]; /* the screening meeting's */
    ln_catalogue_t *catalogue;
    triage_weights_t weights; /* borrows catalogue */
    triage_slot_t *slot;
    ln_level_t event_level; /* dataclassification of triage's events */
} triage_node_t;

/* Triage's own settings, beside the node's (ln_node.h). */
extern const ln_config_spec_t triage_settings[];

/* The event types triage emits, with their `personal` flag (a delivery
   of any of them in a projection other than statistical is counted in the
   stream's audit), and the types it follows (intake's). */
extern const ln_event_type_t triage_node_event_types[];
extern const size_t triage_node_event_type_count;
extern const ln_event_type_t triage_intake_types[];
extern const size_t triage_intake_type_count;

/* ln_service_t.start / stop / describe: the triage_node_t of the node. */
void *triage_start (ln_node_t *node, bool check, ln_error_t *err);
void triage_stop (void *state);
void triage_describe (void *state, char *out, size_t size);

/* ln_consumer_apply_fn (arg: the triage_node_t). */
int triage_node_apply (void *arg, ln_db_t *db, const char *upstream, ln_event_t *const *events,
                       const uint64_t *positions, size_t count, ln_error_t *err);

#endif
