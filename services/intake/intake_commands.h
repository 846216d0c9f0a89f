/*  intake_commands: the intake node's commands (docs/protocol.md 5).

    SubmitSignal   staged (ln_server STAGED COMMANDS): validated, tokens
                   made and the signal packed in C; its rows are written
                   once per batch by intake_store_insert.
    AmendSignal    add information; version + 1; history kept.
    WithdrawSignal reason required; the signal waits for retention.
    GetSignal      the whole signal with its history (a read of personal
                   data: audited like every command).
    ListSignals    summaries without personal data, newest first, paged.

    All five need the role attention_officer (INTAKE_ROLE_OFFICER) and the
    node's own organisation; a signal of another organisation is FORBIDDEN
    (audited as refused).  Each handler leaves the request message as it
    found it, because the server may run a batch twice (safe mode).
*/
#ifndef INTAKE_COMMANDS_H
#define INTAKE_COMMANDS_H

#include <stddef.h>

#include "intake.h"
#include "ln_server.h"

/* The command table, for ln_server_config_t.commands (arg: an intake_t). */
const ln_command_t *intake_commands (size_t *count);

/* Move a signal's status on behalf of another service (triage's feedback):
   version + 1, a history entry "status" by `by`, an event
   nl.lantern.signal.status_changed.v1 and an audit row, all in the
   caller's transaction; CLOSED_NO_ACTION starts its retention period.  A
   status equal to the current one, or a withdrawn signal, changes nothing
   (returns 0).  Returns 0, or -1 with err set (NOT_FOUND, INTAKE_CONFLICT,
   ...). */
int intake_signal_set_status (intake_t *intake, ln_db_t *db, const char *id, int status,
                              const char *by, const char *reason, ln_error_t *err);

#endif
