/*  triage_calls: signals, commands and subscriptions for triage's tests
    (see triage_calls.h). */
#include "triage_calls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "google/protobuf/any.pb-c.h"
#include "ln_alloc.h"
#include "ln_messages.h"
#include "ln_pbcheck.h"

int64_t
triage_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
s_dup (const char *text)
{
    return ln_xstrdup (text ? text : "");
}

Lantern__V1__SignalDetails *
triage_sig_details (const triage_sig_t *spec)
{
    Lantern__V1__SignalDetails *d = ln_xcalloc (1, sizeof *d);
    lantern__v1__signal_details__init (d);
    d->reporter = ln_xcalloc (1, sizeof *d->reporter);
    lantern__v1__reporter__init (d->reporter);
    d->reporter->role = LANTERN__V1__REPORTER_ROLE__REPORTER_ROLE_MUNICIPAL_STAFF;
    d->reporter->organisation = s_dup ("Team Werk en Inkomen");
    d->reporter->contact = s_dup ("via het KCC");
    time_t week_ago = time (NULL) - 7 * 86400;
    struct tm tm;
    gmtime_r (&week_ago, &tm);
    char date[16];
    strftime (date, sizeof date, "%Y-%m-%d", &tm);
    d->observed_on = s_dup (date);
    d->municipality = s_dup (spec->municipality ? spec->municipality : "GM0983");
    d->forms = ln_xcalloc (1, sizeof *d->forms);
    d->forms[0] = LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_LABOUR;
    d->n_forms = 1;
    for (size_t i = 0; i < 4 && spec->indicators[i]; i++) {
        d->indicators = ln_xrealloc (d->indicators, d->n_indicators + 1, sizeof *d->indicators);
        d->indicators[d->n_indicators++] = s_dup (spec->indicators[i]);
    }
    d->immediate_danger = spec->danger;
    d->minor_involved = spec->minor;
    for (size_t i = 0; i < 3; i++) {
        const triage_person_t *ps = &spec->persons[i];
        if (!ps->name && !ps->phone && !ps->document && !ps->bsn)
            continue;
        Lantern__V1__Person *p = ln_xcalloc (1, sizeof *p);
        lantern__v1__person__init (p);
        p->role = ps->role ? ps->role : LANTERN__V1__PERSON_ROLE__PERSON_ROLE_POSSIBLE_VICTIM;
        if (ps->name)
            p->name = s_dup (ps->name);
        if (ps->dob)
            p->date_of_birth = s_dup (ps->dob);
        if (ps->phone)
            p->phone = s_dup (ps->phone);
        if (ps->document)
            p->document_number = s_dup (ps->document);
        if (ps->bsn)
            p->bsn = s_dup (ps->bsn);
        d->persons = ln_xrealloc (d->persons, d->n_persons + 1, sizeof *d->persons);
        d->persons[d->n_persons++] = p;
    }
    if (spec->plate) {
        Lantern__V1__Vehicle *v = ln_xcalloc (1, sizeof *v);
        lantern__v1__vehicle__init (v);
        v->licence_plate = s_dup (spec->plate);
        d->vehicles = ln_xcalloc (1, sizeof *d->vehicles);
        d->vehicles[0] = v;
        d->n_vehicles = 1;
    }
    d->account = s_dup (spec->account ? spec->account
                                      : "Works long days; the employer keeps the "
                                        "passport.");
    return d;
}

/* One Request, its Reply (free it), or NULL. */
static Lantern__V1__ServerMessage *
s_request (ln_client_t *client, Lantern__V1__Request *req)
{
    char rid[80];
    ln_client_request_id ("t", rid, sizeof rid);
    req->request_id = rid;
    ln_error_t err;
    Lantern__V1__ServerMessage *m = ln_client_call (client, req, 10000, 3, &err);
    req->request_id = NULL;
    if (!m)
        fprintf (stderr, "triage_calls: no reply: %s\n", err.message);
    else if (!m->reply) {
        fprintf (stderr, "triage_calls: not a reply\n");
        lantern__v1__server_message__free_unpacked (m, NULL);
        m = NULL;
    }
    return m;
}

int
triage_submit (ln_client_t *client, const triage_sig_t *spec, char *id_out)
{
    Lantern__V1__SubmitSignal cmd = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    cmd.details = triage_sig_details (spec);
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.command_case = LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL;
    req.submit_signal = &cmd;
    Lantern__V1__ServerMessage *m = s_request (client, &req);
    protobuf_c_message_free_unpacked (&cmd.details->base, NULL);
    int rc = -1;
    if (!m)
        return -1;
    const Lantern__V1__Reply *r = m->reply;
    if (r->status == LANTERN__V1__REPLY__STATUS__OK && r->submit_signal) {
        snprintf (id_out, TRIAGE_SIG_ID_SIZE, "%s", r->submit_signal->signal_id);
        rc = 0;
    }
    else
        fprintf (stderr, "triage_calls: submit refused: %s at %s: %s\n",
                 r->error ? r->error->code : "?", r->error ? r->error->field : "?",
                 r->error ? r->error->message : "?");
    lantern__v1__server_message__free_unpacked (m, NULL);
    return rc;
}

int
triage_withdraw (ln_client_t *client, const char *signal_id, const char *reason)
{
    Lantern__V1__WithdrawSignal cmd = LANTERN__V1__WITHDRAW_SIGNAL__INIT;
    cmd.signal_id = (char *)signal_id;
    cmd.reason = (char *)reason;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.command_case = LANTERN__V1__REQUEST__COMMAND_WITHDRAW_SIGNAL;
    req.withdraw_signal = &cmd;
    Lantern__V1__ServerMessage *m = s_request (client, &req);
    if (!m)
        return -1;
    int rc = m->reply->status == LANTERN__V1__REPLY__STATUS__OK ? 0 : -1;
    lantern__v1__server_message__free_unpacked (m, NULL);
    return rc;
}

Lantern__V1__SignalRecord *
triage_get_signal (ln_client_t *client, const char *signal_id)
{
    Lantern__V1__GetSignal cmd = LANTERN__V1__GET_SIGNAL__INIT;
    cmd.signal_id = (char *)signal_id;
    cmd.purpose = "test";
    ProtobufCMessage *out = NULL;
    if (triage_call (client, &cmd.base, &lantern__v1__signal_record__descriptor, &out, NULL, 0,
                     NULL, 0) != 0)
        return NULL;
    return (Lantern__V1__SignalRecord *)out;
}

int
triage_call (ln_client_t *client, const ProtobufCMessage *command,
             const ProtobufCMessageDescriptor *result, ProtobufCMessage **out, char *code,
             size_t code_size, char *field, size_t field_size)
{
    *out = NULL;
    char url[300];
    ln_messages_type_url (command->descriptor, url, sizeof url);
    size_t size = protobuf_c_message_get_packed_size (command);
    uint8_t *packed = ln_xcalloc (1, size ? size : 1);
    protobuf_c_message_pack (command, packed);
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = url;
    any.value.data = packed;
    any.value.len = size;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.command_case = LANTERN__V1__REQUEST__COMMAND_CALL;
    req.call = &any;
    Lantern__V1__ServerMessage *m = s_request (client, &req);
    free (packed);
    if (!m)
        return -1;
    int rc = -1;
    const Lantern__V1__Reply *r = m->reply;
    if (r->status != LANTERN__V1__REPLY__STATUS__OK) {
        if (code)
            snprintf (code, code_size, "%s", r->error ? r->error->code : "");
        if (field)
            snprintf (field, field_size, "%s", r->error ? r->error->field : "");
        rc = 1;
        goto out;
    }
    char want[300];
    ln_messages_type_url (result, want, sizeof want);
    if (r->result_case != LANTERN__V1__REPLY__RESULT_CALL_RESULT ||
        strcmp (r->call_result->type_url, want) != 0) {
        fprintf (stderr, "triage_calls: not a %s\n", want);
        goto out;
    }
    /* as a client reads a result: strings bounded by the frame only (a
       decision's minutes are up to 20,000 bytes) */
    ln_error_t err;
    *out = ln_pbcheck_unpack (result, r->call_result->value.data, r->call_result->value.len,
                              &ln_pbcheck_wire_limits, NULL, &err);
    if (!*out)
        fprintf (stderr, "triage_calls: the %s does not decode: %s at %s: %s\n", want, err.code,
                 err.field, err.message);
    rc = *out ? 0 : -1;
out:
    lantern__v1__server_message__free_unpacked (m, NULL);
    return rc;
}

int
triage_subscribe (ln_client_t *client, uint64_t after, const char *projection)
{
    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    sub.after_position = after;
    sub.credit = 1000;
    sub.projection = (char *)(projection ? projection : "");
    Lantern__V1__ClientMessage msg = LANTERN__V1__CLIENT_MESSAGE__INIT;
    msg.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    msg.subscribe = &sub;
    ln_error_t err;
    return ln_client_send (client, &msg, &err);
}

ln_event_t *
triage_next_event (ln_client_t *client, int timeout_ms, uint64_t *position)
{
    int64_t deadline = triage_now_ms () + timeout_ms;
    for (;;) {
        int left = (int)(deadline - triage_now_ms ());
        if (left <= 0)
            return NULL;
        ln_error_t err;
        Lantern__V1__ServerMessage *m = ln_client_recv (client, left, &err);
        if (!m)
            return NULL;
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_RESET) {
            fprintf (stderr, "triage_calls: Reset %s\n", m->reset->reason);
            lantern__v1__server_message__free_unpacked (m, NULL);
            return NULL;
        }
        if (m->kind_case != LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER) {
            lantern__v1__server_message__free_unpacked (m, NULL);
            continue;
        }
        ln_event_t *ev = ln_envelope_parse (m->deliver->event.data, m->deliver->event.len, &err);
        if (position)
            *position = m->deliver->position;
        lantern__v1__server_message__free_unpacked (m, NULL);
        Lantern__V1__Credit credit = LANTERN__V1__CREDIT__INIT;
        credit.credit = 1;
        Lantern__V1__ClientMessage msg = LANTERN__V1__CLIENT_MESSAGE__INIT;
        msg.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_CREDIT;
        msg.credit = &credit;
        ln_client_send (client, &msg, NULL);
        if (!ev)
            fprintf (stderr, "triage_calls: an event does not parse: %s\n", err.message);
        return ev;
    }
}
