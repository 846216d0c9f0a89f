/*  intake_events: the event types intake emits (intake.h).  A service that
    follows intake nodes (triage, monitor) registers this table too, so
    that its consumers accept them. */
#include "intake.h"
#include "lantern.pb-c.h"

const ln_event_type_t intake_event_types[] = {
    {INTAKE_EVENT_RECEIVED, &lantern__v1__signal_received__descriptor, true},
    {INTAKE_EVENT_AMENDED, &lantern__v1__signal_amended__descriptor, true},
    {INTAKE_EVENT_WITHDRAWN, &lantern__v1__signal_withdrawn__descriptor, true},
    {INTAKE_EVENT_STATUS_CHANGED, &lantern__v1__signal_status_changed__descriptor, false},
};

const size_t intake_event_type_count = sizeof intake_event_types / sizeof intake_event_types[0];
