/*  intake: the attention officer's node, where signals come in.

    The intake service is an ln_server (common/ln_server.h) with five
    commands (intake_commands.c), a stream policy and projections
    (intake_project.c), its own tables (intake_store.c) and a retention
    purge (intake_store.c).  This header holds what the modules share: the
    node's context, made once by main.c from the configuration
    (intake_config.c) and borrowed by every handler.

    Policy (docs/operations.md "Intake"): a principal with the role
    "attention_officer" whose organisation is the node's own may submit,
    read, amend and withdraw the node's signals; nobody else may call the
    signal commands; other nodes follow the event stream under the stream
    rules (triage: full, monitor: statistical).
*/
#ifndef INTAKE_H
#define INTAKE_H

#include <stdint.h>

#include "ln_catalogue.h"
#include "ln_envelope.h"
#include "ln_keys.h"
#include "ln_level.h"
#include "ln_pseudonym.h"

/* The role that may call the signal commands. */
#define INTAKE_ROLE_OFFICER "attention_officer"

/* Event types. */
#define INTAKE_EVENT_RECEIVED       "nl.lantern.signal.received.v1"
#define INTAKE_EVENT_AMENDED        "nl.lantern.signal.amended.v1"
#define INTAKE_EVENT_WITHDRAWN      "nl.lantern.signal.withdrawn.v1"
#define INTAKE_EVENT_STATUS_CHANGED "nl.lantern.signal.status_changed.v1"

/* The event types intake emits, for ln_envelope_register (intake_events.c):
   followers of intake register them too. */
extern const ln_event_type_t intake_event_types[];
extern const size_t intake_event_type_count;

/* A GetSignal's purpose, at most (bytes). */
#define INTAKE_PURPOSE_MAX 200

/* Signal ids: "sig-" + 26 base32 characters (128 random bits). */
#define INTAKE_SIGNAL_ID_SIZE 31 /* with NUL */

typedef struct {
    char node[64]; /* node name */
    char organisation[LN_KEYS_ORG_MAX + 1];
    int organisation_type;           /* lantern.v1.OrganisationType */
    const ln_catalogue_t *catalogue; /* borrowed */
    ln_pseudonym_key_t key;          /* the regional key */
    ln_level_t event_level;          /* confidentiality level of signal events */
    int64_t withdrawn_retention_us;  /* purge withdrawn signals this long after */
    int64_t no_action_retention_us;  /* purge NO_ACTION signals this long after */
    /* The clock (µs since the epoch): ln_clock_wall_us in the service;
       tests may set another. */
    int64_t (*clock_us) (void);
} intake_t;

#endif
