/*  triage_commands: the triage node's commands (docs/protocol.md "Triage"),
    thin handlers over triage_decide, triage_query and triage_meeting.

    Who may call what (the node's policy, docs/security.md "Triage"):
      RecordDecision, CloseCase   role screening_chair, and a certificate of
                                  the node's own organisation (the meeting's
                                  chair); another organisation: FORBIDDEN
      UpdateTrack                 roles screening_partner or screening_chair;
                                  only the track's lead organisation
                                  (FORBIDDEN)
      GetCase, ListCases, GetAgenda, ListAlerts, AcknowledgeAlert,
      ListTracks                  roles screening_chair or screening_partner:
                                  the people at the meeting's table
    Every call, accepted or refused, is written to the audit trail by the
    server; GetCase's purpose becomes the reason of its audit row, and the
    object of each row is the case, track, alert or meeting concerned.
    Events of commands go through ln_call_emit (random ids).
*/
#ifndef TRIAGE_COMMANDS_H
#define TRIAGE_COMMANDS_H

#include <stddef.h>

#include "ln_server.h"

#define TRIAGE_ROLE_PARTNER "screening_partner"

/* The command table (arg: the triage_node_t). */
const ln_command_t *triage_commands (size_t *count);

#endif
