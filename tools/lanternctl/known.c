/*  lanternctl known: the event types lanternctl can show.  A node registers
    the types it emits and follows (ln_node.h); lanternctl shows any node's
    events, so it registers every service's table here.  A new service adds
    its table to this list. */
#include "intake.h"
#include "lanternctl.h"
#include "ln_envelope.h"
#include "triage_node.h"

void
lanternctl_register_types (void)
{
    ln_envelope_register (intake_event_types, intake_event_type_count, NULL);
    ln_envelope_register (triage_node_event_types, triage_node_event_type_count, NULL);
}
