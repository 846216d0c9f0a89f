/*  triage_commands: the triage node's command handlers (see
    triage_commands.h).

    Each handler calls its module's function, which builds its result
    malloc'ed; the result is copied into the call's memory (packed and
    unpacked with the call's allocator) so that it lives until the reply is
    packed, and the malloc'ed one is freed at once.  A refusal carries the
    module's code and field (paths in the command's own message).
*/
#include "triage_commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "triage.h"
#include "triage.pb-c.h"
#include "triage_decide.h"
#include "triage_meeting.h"
#include "triage_node.h"
#include "triage_query.h"

static const char *const s_chair[] = {TRIAGE_ROLE_CHAIR, NULL};
static const char *const s_table[] = {TRIAGE_ROLE_CHAIR, TRIAGE_ROLE_PARTNER, NULL};

/* --- helpers --------------------------------------------------------------------------- */

static int
s_fail_with (ln_call_t *call, const ln_error_t *err)
{
    const char *code = err->code ? err->code : "INTERNAL";
    /* Database trouble is the node's, not the caller's: it says UNAVAILABLE
       (the server retries a lost connection's batch by itself). */
    if (strncmp (code, "DB_", 3) == 0 || strncmp (code, "OUTBOX_", 7) == 0)
        return ln_call_fail (call, "UNAVAILABLE", NULL, "the node could not do it now: %s",
                             err->message);
    return ln_call_fail (call, code, err->field, "%s", err->message);
}

static void *
s_call_alloc (void *data, size_t size)
{
    return ln_call_alloc ((ln_call_t *)data, size);
}

static void
s_call_free (void *data, void *p)
{
    (void)data;
    (void)p; /* freed with the call */
}

/* The malloc'ed result `msg` as a message in the call's memory; msg is
   freed. */
static ProtobufCMessage *
s_for_call (ln_call_t *call, ProtobufCMessage *msg)
{
    size_t size = protobuf_c_message_get_packed_size (msg);
    uint8_t *buf = ln_xcalloc (1, size ? size : 1);
    protobuf_c_message_pack (msg, buf);
    ProtobufCAllocator a = {s_call_alloc, s_call_free, call};
    ProtobufCMessage *copy = protobuf_c_message_unpack (msg->descriptor, &a, size, buf);
    free (buf);
    protobuf_c_message_free_unpacked (msg, NULL);
    if (!copy)
        abort (); /* our own packing does not unpack: a bug */
    return copy;
}

/* Command events: over ln_call_emit, with random ids. */
static int
s_emit (void *ctx, const ln_outbox_event_t *ev, ln_error_t *err)
{
    if (ln_call_emit ((ln_call_t *)ctx, ev, NULL, 0) != 0) {
        ln_error_set (err, "OUTBOX_INVALID", NULL, "an event of %s could not be written", ev->type);
        return -1;
    }
    return 0;
}

static triage_emitter_t
s_emitter (const triage_node_t *t, ln_call_t *call)
{
    return (triage_emitter_t){.fn = s_emit, .ctx = call, .level = t->event_level};
}

/* The chair's commands: the meeting's own organisation only. */
static int
s_meeting_organisation (const triage_node_t *t, ln_call_t *call)
{
    const ln_principal_t *p = ln_call_principal (call);
    if (strcmp (p->organisation, t->organisation) != 0)
        return ln_call_fail (call, "FORBIDDEN", NULL,
                             "%s (%s) does not chair this screening meeting (%s)", p->name,
                             p->organisation, t->organisation);
    return 0;
}

/* --- commands that change state ----------------------------------------------------------- */

static int
s_record (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    const triage_node_t *t = arg;
    const Lantern__V1__RecordDecision *cmd = (const Lantern__V1__RecordDecision *)input;
    ln_call_set_object (call, cmd->case_id);
    if (s_meeting_organisation (t, call) != 0)
        return -1;
    triage_emitter_t em = s_emitter (t, call);
    triage_decide_env_t env = {.slot = t->slot, .now_us = ln_call_now_us (call), .em = &em};
    Lantern__V1__RecordDecisionResult *res = NULL;
    ln_error_t err;
    ln_error_clear (&err);
    if (triage_decide_record (ln_call_db (call), &env, cmd, ln_call_principal (call)->name, &res,
                              &err) != 0)
        return s_fail_with (call, &err);
    *output = s_for_call (call, &res->base);
    return 0;
}

static int
s_update_track (void *arg, ln_call_t *call, const ProtobufCMessage *input,
                ProtobufCMessage **output)
{
    const triage_node_t *t = arg;
    const Lantern__V1__UpdateTrack *cmd = (const Lantern__V1__UpdateTrack *)input;
    ln_call_set_object (call, cmd->track_id);
    const ln_principal_t *p = ln_call_principal (call);
    triage_emitter_t em = s_emitter (t, call);
    triage_decide_env_t env = {.slot = t->slot, .now_us = ln_call_now_us (call), .em = &em};
    Lantern__V1__UpdateTrackResult *res = NULL;
    ln_error_t err;
    ln_error_clear (&err);
    if (triage_decide_update_track (ln_call_db (call), &env, cmd, p->name, p->organisation, &res,
                                    &err) != 0)
        return s_fail_with (call, &err);
    *output = s_for_call (call, &res->base);
    return 0;
}

static int
s_close (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    const triage_node_t *t = arg;
    const Lantern__V1__CloseCase *cmd = (const Lantern__V1__CloseCase *)input;
    ln_call_set_object (call, cmd->case_id);
    if (s_meeting_organisation (t, call) != 0)
        return -1;
    triage_emitter_t em = s_emitter (t, call);
    triage_decide_env_t env = {.slot = t->slot, .now_us = ln_call_now_us (call), .em = &em};
    Lantern__V1__CloseCaseResult *res = NULL;
    ln_error_t err;
    ln_error_clear (&err);
    if (triage_decide_close (ln_call_db (call), &env, cmd, ln_call_principal (call)->name, &res,
                             &err) != 0)
        return s_fail_with (call, &err);
    *output = s_for_call (call, &res->base);
    return 0;
}

static int
s_ack (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    const triage_node_t *t = arg;
    const Lantern__V1__AcknowledgeAlert *cmd = (const Lantern__V1__AcknowledgeAlert *)input;
    ln_call_set_object (call, cmd->alert_id);
    triage_emitter_t em = s_emitter (t, call);
    triage_decide_env_t env = {.slot = t->slot, .now_us = ln_call_now_us (call), .em = &em};
    Lantern__V1__AcknowledgeAlertResult *res = NULL;
    ln_error_t err;
    ln_error_clear (&err);
    if (triage_decide_ack (ln_call_db (call), &env, cmd, ln_call_principal (call)->name, &res,
                           &err) != 0)
        return s_fail_with (call, &err);
    *output = s_for_call (call, &res->base);
    return 0;
}

/* --- reads ---------------------------------------------------------------------------------- */

static triage_query_env_t
s_query_env (const triage_node_t *t, ln_call_t *call)
{
    return (triage_query_env_t){.slot = t->slot, .w = &t->weights, .now_us = ln_call_now_us (call)};
}

static int
s_get_case (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    const triage_node_t *t = arg;
    const Lantern__V1__GetCase *cmd = (const Lantern__V1__GetCase *)input;
    ln_call_set_object (call, cmd->case_id);
    triage_query_env_t env = s_query_env (t, call);
    Lantern__V1__CaseRecord *res = NULL;
    ln_error_t err;
    ln_error_clear (&err);
    if (triage_query_get_case (ln_call_db (call), &env, cmd, &res, &err) != 0)
        return s_fail_with (call, &err);
    /* a read of a case: its audit row says why (the purpose is required) */
    ln_call_set_purpose (call, cmd->purpose);
    if (strcmp (res->case_id, cmd->case_id) != 0)
        ln_call_set_object (call, res->case_id); /* the case actually read */
    *output = s_for_call (call, &res->base);
    return 0;
}

static int
s_list_cases (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    const triage_node_t *t = arg;
    triage_query_env_t env = s_query_env (t, call);
    Lantern__V1__CaseList *res = NULL;
    ln_error_t err;
    ln_error_clear (&err);
    if (triage_query_list_cases (ln_call_db (call), &env, (const Lantern__V1__ListCases *)input,
                                 &res, &err) != 0)
        return s_fail_with (call, &err);
    *output = s_for_call (call, &res->base);
    return 0;
}

static int
s_agenda (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    const triage_node_t *t = arg;
    const Lantern__V1__GetAgenda *cmd = (const Lantern__V1__GetAgenda *)input;
    ln_error_t err;
    ln_error_clear (&err);
    Lantern__V1__Agenda *res =
        triage_meeting_agenda (ln_call_db (call), t->slot, &t->weights, t->node, cmd->meeting_id,
                               ln_call_now_us (call), &err);
    if (!res)
        return s_fail_with (call, &err);
    ln_call_set_object (call, res->meeting_id); /* the meeting whose agenda was read */
    *output = s_for_call (call, &res->base);
    return 0;
}

static int
s_list_alerts (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    const triage_node_t *t = arg;
    triage_query_env_t env = s_query_env (t, call);
    Lantern__V1__AlertList *res = NULL;
    ln_error_t err;
    ln_error_clear (&err);
    if (triage_query_list_alerts (ln_call_db (call), &env, (const Lantern__V1__ListAlerts *)input,
                                  &res, &err) != 0)
        return s_fail_with (call, &err);
    *output = s_for_call (call, &res->base);
    return 0;
}

static int
s_list_tracks (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    const triage_node_t *t = arg;
    triage_query_env_t env = s_query_env (t, call);
    Lantern__V1__TrackList *res = NULL;
    ln_error_t err;
    ln_error_clear (&err);
    if (triage_query_list_tracks (ln_call_db (call), &env, (const Lantern__V1__ListTracks *)input,
                                  &res, &err) != 0)
        return s_fail_with (call, &err);
    *output = s_for_call (call, &res->base);
    return 0;
}

static const ln_command_t s_commands[] = {
    {.input = &lantern__v1__record_decision__descriptor,
     .output = &lantern__v1__record_decision_result__descriptor,
     .roles = s_chair,
     .writes = true,
     .fn = s_record},
    {.input = &lantern__v1__update_track__descriptor,
     .output = &lantern__v1__update_track_result__descriptor,
     .roles = s_table,
     .writes = true,
     .fn = s_update_track},
    {.input = &lantern__v1__close_case__descriptor,
     .output = &lantern__v1__close_case_result__descriptor,
     .roles = s_chair,
     .writes = true,
     .fn = s_close},
    {.input = &lantern__v1__acknowledge_alert__descriptor,
     .output = &lantern__v1__acknowledge_alert_result__descriptor,
     .roles = s_table,
     .writes = true,
     .fn = s_ack},
    {.input = &lantern__v1__get_case__descriptor,
     .output = &lantern__v1__case_record__descriptor,
     .roles = s_table,
     .fn = s_get_case},
    {.input = &lantern__v1__list_cases__descriptor,
     .output = &lantern__v1__case_list__descriptor,
     .roles = s_table,
     .fn = s_list_cases},
    {.input = &lantern__v1__get_agenda__descriptor,
     .output = &lantern__v1__agenda__descriptor,
     .roles = s_table,
     .fn = s_agenda},
    {.input = &lantern__v1__list_alerts__descriptor,
     .output = &lantern__v1__alert_list__descriptor,
     .roles = s_table,
     .fn = s_list_alerts},
    {.input = &lantern__v1__list_tracks__descriptor,
     .output = &lantern__v1__track_list__descriptor,
     .roles = s_table,
     .fn = s_list_tracks},
};

const ln_command_t *
triage_commands (size_t *count)
{
    *count = sizeof s_commands / sizeof s_commands[0];
    return s_commands;
}
