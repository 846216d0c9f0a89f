/*  test_intake: the intake node end to end, as a real process.

    Real PostgreSQL, the real lantern-intake binary (tests/support/
    intake_fixture), real CURVE sockets and protobuf.  What must hold
    (issue 4, acceptance):
      - a submitted signal is stored, acknowledged with its id, audited and
        on the stream; triage's projection carries the details, monitor's no
        personal data: every field of both is checked by walking the
        messages' descriptors, so a field added later fails here until it
        is placed in one projection or the other;
      - identifiers written differently give the same token;
      - every kind of bad signal is refused with its own code and field and
        the database is unchanged (only the refusal's audit row is added);
      - amend and withdraw are audited and emitted; a read by another
        organisation's principal is refused and audited;
      - retention purges with a controllable clock, audited;
      - a retried request_id returns the first reply and stores nothing new.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "intake.h"
#include "intake_cases.h"
#include "intake_commands.h"
#include "intake_fixture.h"
#include "intake_store.h"
#include "intake_validate.h"
#include "run_cmd.h"
#include "lantern.pb-c.h"
#include "ln_audit.h"
#include "ln_clock.h"
#include "ln_dynbuf.h"
#include "ln_envelope.h"
#include "wire.pb-c.h"

static intake_fix_t *s_fix;

static int
s_setup (void **state)
{
    (void)state;
    /* the test reads intake's events off the stream, as a follower does */
    if (ln_envelope_register (intake_event_types, intake_event_type_count, NULL) != 0)
        return -1;
    s_fix = intake_fix_start (NULL);
    return s_fix ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    return intake_fix_stop (&s_fix);
}

static void
s_free (Lantern__V1__ServerMessage *m)
{
    if (m)
        lantern__v1__server_message__free_unpacked (m, NULL);
}

/* Call a command as `who`; the reply (OK or ERROR) or a failed test. */
static Lantern__V1__ServerMessage *
s_call_as (ln_client_t *c, Lantern__V1__Request *request)
{
    char rid[80];
    if (!request->request_id || !request->request_id[0]) {
        ln_client_request_id ("t", rid, sizeof rid);
        request->request_id = rid;
    }
    ln_error_t err;
    Lantern__V1__ServerMessage *m = ln_client_call (c, request, 10000, 1, &err);
    if (!m)
        fail_msg ("no reply: %s", err.message);
    assert_int_equal (m->kind_case, LANTERN__V1__SERVER_MESSAGE__KIND_REPLY);
    request->request_id = NULL;
    return m;
}

static Lantern__V1__ServerMessage *
s_submit (ln_client_t *c, Lantern__V1__SignalDetails *d)
{
    Lantern__V1__SubmitSignal sub = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    sub.details = d;
    Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL;
    r.submit_signal = &sub;
    return s_call_as (c, &r);
}

/* Submit and expect success: the new id (static buffer: copy it). */
static const char *
s_submit_ok (ln_client_t *c, Lantern__V1__SignalDetails *d)
{
    static char id[INTAKE_SIGNAL_ID_SIZE];
    Lantern__V1__ServerMessage *m = s_submit (c, d);
    if (m->reply->status != LANTERN__V1__REPLY__STATUS__OK)
        fail_msg ("submit refused: %s %s %s", m->reply->error->code, m->reply->error->field,
                  m->reply->error->message);
    assert_int_equal (m->reply->result_case, LANTERN__V1__REPLY__RESULT_SUBMIT_SIGNAL);
    snprintf (id, sizeof id, "%s", m->reply->submit_signal->signal_id);
    assert_int_equal (m->reply->submit_signal->version, 1);
    assert_true (m->reply->submit_signal->event_id[0] != '\0');
    assert_int_equal (m->reply->submit_signal->status,
                      LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_RECEIVED);
    s_free (m);
    return id;
}

static Lantern__V1__ServerMessage *
s_get (ln_client_t *c, const char *id)
{
    Lantern__V1__GetSignal g = LANTERN__V1__GET_SIGNAL__INIT;
    g.signal_id = (char *)id;
    Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_GET_SIGNAL;
    r.get_signal = &g;
    return s_call_as (c, &r);
}

static Lantern__V1__ServerMessage *
s_withdraw (ln_client_t *c, const char *id, const char *reason)
{
    Lantern__V1__WithdrawSignal w = LANTERN__V1__WITHDRAW_SIGNAL__INIT;
    w.signal_id = (char *)id;
    w.reason = (char *)reason;
    Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_WITHDRAW_SIGNAL;
    r.withdraw_signal = &w;
    return s_call_as (c, &r);
}

static void
s_expect_error (Lantern__V1__ServerMessage *m, const char *code, const char *field)
{
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__ERROR);
    assert_non_null (m->reply->error);
    if (strcmp (m->reply->error->code, code) != 0 ||
        (field && strcmp (m->reply->error->field, field) != 0))
        fail_msg ("expected %s at %s, got %s at %s (%s)", code, field ? field : "*",
                  m->reply->error->code, m->reply->error->field, m->reply->error->message);
    s_free (m);
}

/* The newest audit row as "principal|action|object|outcome|reason". */
static char *
s_last_audit (void)
{
    return ln_pgfix_query_value (
        intake_fix_pg (s_fix),
        "SELECT principal || '|' || action || '|' || coalesce(object, '') || '|' || outcome"
        " || '|' || coalesce(reason, '') FROM intake.audit ORDER BY seq DESC LIMIT 1",
        0, NULL);
}

/* --- the stream ----------------------------------------------------------------- */

static void
s_subscribe (ln_client_t *c, uint64_t after)
{
    ln_error_t err;
    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    sub.after_position = after;
    sub.credit = 1000;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    cm.subscribe = &sub;
    assert_int_equal (ln_client_send (c, &cm, &err), 0);
}

/* The next event of type `type` concerning `id` (others skipped). */
static ln_event_t *
s_wait_event (ln_client_t *c, const char *type, const char *id)
{
    int64_t deadline = ln_clock_mono_ms () + 10000;
    while (ln_clock_mono_ms () < deadline) {
        ln_error_t err;
        Lantern__V1__ServerMessage *m = ln_client_recv (c, 1000, &err);
        if (!m)
            continue;
        if (m->kind_case != LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER) {
            s_free (m);
            continue;
        }
        ln_event_t *ev = ln_envelope_parse (m->deliver->event.data, m->deliver->event.len, &err);
        s_free (m);
        assert_non_null (ev);
        if (strcmp (ln_event_type (ev), type) == 0 && ln_event_correlationid (ev) &&
            strcmp (ln_event_correlationid (ev), id) == 0)
            return ev;
        ln_event_destroy (&ev);
    }
    fail_msg ("no %s event for %s", type, id);
    return NULL;
}

/* Every field of a message that holds a value, as sorted "a.b.c" paths
   (repeated fields once, whatever their count), one per line. */
static void
s_paths (const ProtobufCMessage *msg, const char *prefix, ln_dynbuf_t *out)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)msg;
        char path[256];
        snprintf (path, sizeof path, "%s%s%s", prefix, prefix[0] ? "." : "", f->name);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            if (n == 0)
                continue;
            if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
                ProtobufCMessage *const *items =
                    *(ProtobufCMessage *const *const *)(base + f->offset);
                for (size_t k = 0; k < n; k++)
                    s_paths (items[k], path, out);
            }
            else
                ln_dynbuf_addf (out, "%s\n", path);
            continue;
        }
        const void *field = base + f->offset;
        bool set = false;
        switch (f->type) {
        case PROTOBUF_C_TYPE_STRING:
            set = *(const char *const *)field && (*(const char *const *)field)[0];
            break;
        case PROTOBUF_C_TYPE_MESSAGE: {
            const ProtobufCMessage *sub = *(const ProtobufCMessage *const *)field;
            if (sub)
                s_paths (sub, path, out);
            continue;
        }
        case PROTOBUF_C_TYPE_BOOL:
            set = *(const protobuf_c_boolean *)field;
            break;
        case PROTOBUF_C_TYPE_INT64:
        case PROTOBUF_C_TYPE_UINT64:
            set = *(const int64_t *)field != 0;
            break;
        case PROTOBUF_C_TYPE_BYTES:
            set = ((const ProtobufCBinaryData *)field)->len > 0;
            break;
        default: /* int32, uint32, enum */
            set = *(const int32_t *)field != 0;
            break;
        }
        if (set)
            ln_dynbuf_addf (out, "%s\n", path);
    }
}

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (*(char *const *)a, *(char *const *)b);
}

/* Sorted, unique lines of `lines` (newline-separated), joined by spaces. */
static char *
s_sorted (const char *lines_text)
{
    char *text = strdup (lines_text);
    assert_non_null (text);
    char *lines[1024];
    size_t n = 0;
    for (char *save = NULL, *l = strtok_r (text, "\n", &save); l && n < 1024;
         l = strtok_r (NULL, "\n", &save))
        lines[n++] = l;
    qsort (lines, n, sizeof *lines, s_cmp);
    ln_dynbuf_t *b = ln_dynbuf_new (0);
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp (lines[i], lines[i - 1]) != 0)
            ln_dynbuf_addf (b, "%s%s", ln_dynbuf_len (b) ? " " : "", lines[i]);
    free (text);
    char *joined = ln_dynbuf_take (b);
    ln_dynbuf_destroy (&b);
    return joined;
}

/* The fields of a message that hold a value, as sorted paths. */
static char *
s_field_set (const ProtobufCMessage *msg)
{
    ln_dynbuf_t *b = ln_dynbuf_new (0);
    s_paths (msg, "", b);
    char *set = s_sorted (ln_dynbuf_text (b));
    ln_dynbuf_destroy (&b);
    return set;
}

/* What a projection of a signal submitted with details `d` must show, field
   by field: triage everything but the reporter, plus tokens; monitor only
   the statistical fields.  Built from the input, so that every field the
   input sets is accounted for in both. */
static const char *const s_meta[] = {
    "catalogue_version", "id",     "node",          "organisation", "organisation_type",
    "received_at_us",    "status", "updated_at_us", "version",      NULL};
static const char *const s_statistical[] = {
    "observed_on", "municipality",     "forms",          "sector",
    "indicators",  "immediate_danger", "minor_involved", NULL};

static char *
s_expected (const Lantern__V1__SignalDetails *d, bool triage)
{
    ln_dynbuf_t *b = ln_dynbuf_new (0);
    for (size_t i = 0; s_meta[i]; i++)
        ln_dynbuf_addf (b, "signal.%s\n", s_meta[i]);
    if (triage)
        ln_dynbuf_add (b, "signal.submitted_by\n");
    ln_dynbuf_t *in = ln_dynbuf_new (0);
    s_paths (&d->base, "", in);
    char *text = strdup (ln_dynbuf_text (in));
    assert_non_null (text);
    for (char *save = NULL, *l = strtok_r (text, "\n", &save); l;
         l = strtok_r (NULL, "\n", &save)) {
        if (strncmp (l, "reporter", 8) == 0)
            continue; /* never in an event */
        bool keep = triage;
        for (size_t i = 0; !keep && s_statistical[i]; i++)
            keep = strcmp (l, s_statistical[i]) == 0;
        if (keep)
            ln_dynbuf_addf (b, "signal.details.%s\n", l);
        if (triage && (strncmp (l, "persons.", 8) == 0 || strncmp (l, "addresses.", 10) == 0 ||
                       strncmp (l, "vehicles.", 9) == 0 || strncmp (l, "employers.", 10) == 0)) {
            int len = (int)(strchr (l, '.') - l);
            ln_dynbuf_addf (b,
                            "signal.details.%.*s.tokens.kind\nsignal.details.%.*s.tokens.token\n",
                            len, l, len, l);
        }
    }
    free (text);
    ln_dynbuf_destroy (&in);
    char *set = s_sorted (ln_dynbuf_text (b));
    ln_dynbuf_destroy (&b);
    return set;
}

static uint64_t
s_last_position (void)
{
    char *v = ln_pgfix_query_value (
        intake_fix_pg (s_fix), "SELECT coalesce(max(position), 0) FROM intake.outbox", 0, NULL);
    assert_non_null (v);
    uint64_t p = strtoull (v, NULL, 10);
    free (v);
    return p;
}

/* --- tests ------------------------------------------------------------------------- */

static void
test_submit_stored_audited_streamed (void **state)
{
    (void)state;
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    ln_client_t *triage = intake_fix_client (s_fix, "triage");
    ln_client_t *monitor = intake_fix_client (s_fix, "monitor");
    uint64_t start = s_last_position ();
    s_subscribe (triage, start);
    s_subscribe (monitor, start);
    long before = intake_fix_count (s_fix, "signals");

    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    char id[INTAKE_SIGNAL_ID_SIZE];
    snprintf (id, sizeof id, "%s", s_submit_ok (officer, d));
    assert_true (intake_signal_id_valid (id));
    assert_int_equal (intake_fix_count (s_fix, "signals"), before + 1);
    char *audit = s_last_audit ();
    char expect[256];
    snprintf (expect, sizeof expect, "officer|SubmitSignal|%s|accepted|", id);
    assert_string_equal (audit, expect);
    free (audit);

    /* triage: the details, persons and account included, and tokens; no reporter */
    ln_event_t *ev = s_wait_event (triage, INTAKE_EVENT_RECEIVED, id);
    const Lantern__V1__SignalReceived *got =
        (const Lantern__V1__SignalReceived *)ln_event_payload (ev);
    char *fields = s_field_set (&got->base);
    char *expected = s_expected (d, true);
    assert_string_equal (fields, expected);
    /* the baseline is rich enough for this to mean something */
    assert_non_null (strstr (expected, "signal.details.persons.name"));
    assert_non_null (strstr (expected, "signal.details.account"));
    assert_non_null (strstr (expected, "signal.details.vehicles.tokens.token"));
    free (fields);
    free (expected);
    assert_string_equal (got->signal->details->persons[0]->name, d->persons[0]->name);
    assert_string_equal (got->signal->details->account, d->account);
    assert_null (got->signal->details->reporter);
    assert_int_equal (ln_event_level (ev), LN_LEVEL_VERTROUWELIJK);
    ln_event_destroy (&ev);

    /* monitor: statistical fields only */
    ev = s_wait_event (monitor, INTAKE_EVENT_RECEIVED, id);
    got = (const Lantern__V1__SignalReceived *)ln_event_payload (ev);
    fields = s_field_set (&got->base);
    expected = s_expected (d, false);
    assert_string_equal (fields, expected);
    assert_null (strstr (fields, "persons"));
    assert_null (strstr (fields, "account"));
    assert_null (strstr (fields, "token"));
    assert_null (strstr (fields, "submitted_by"));
    free (fields);
    free (expected);
    assert_string_equal (got->signal->details->municipality, d->municipality);
    ln_event_destroy (&ev);

    /* the stored record has the reporter, and the read is audited */
    Lantern__V1__ServerMessage *m = s_get (officer, id);
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    const Lantern__V1__Signal *sig = m->reply->get_signal->signal;
    assert_non_null (sig->details->reporter);
    assert_string_equal (sig->details->reporter->contact, d->reporter->contact);
    assert_int_equal (m->reply->get_signal->n_history, 1);
    assert_string_equal (m->reply->get_signal->history[0]->action, "submitted");
    s_free (m);
    audit = s_last_audit ();
    snprintf (expect, sizeof expect, "officer|GetSignal|%s|accepted|", id);
    assert_string_equal (audit, expect);
    free (audit);

    protobuf_c_message_free_unpacked (&d->base, NULL);
    ln_client_destroy (&officer);
    ln_client_destroy (&triage);
    ln_client_destroy (&monitor);
}

/* The acceptance path as a person takes it: lanternctl signal submit. */
static void
test_lanternctl_submit_stored_audited_streamed (void **state)
{
    (void)state;
    ln_client_t *triage = intake_fix_client (s_fix, "triage");
    s_subscribe (triage, s_last_position ());
    char cert[512];
    snprintf (cert, sizeof cert, "%s", intake_fix_secret (s_fix, "officer"));
    char *argv[] = {(char *)run_cmd_lanternctl (),
                    "signal",
                    "submit",
                    "--endpoint",
                    (char *)intake_fix_endpoint (s_fix),
                    "--server-key",
                    (char *)intake_fix_server_pub (s_fix),
                    "--cert",
                    cert,
                    "--reporter-role",
                    "citizen",
                    "--municipality",
                    "GM0983",
                    "--observed",
                    "20-11-2026",
                    "--form",
                    "labour",
                    "--sector",
                    "agriculture",
                    "--person",
                    "role=victim,name=Anna Kowalska,phone=06 12345678",
                    "--account",
                    "Sleeps in a barn on the farm; the employer keeps her passport.",
                    NULL};
    run_cmd_result_t r;
    assert_int_equal (run_cmd (argv, NULL, 30000, &r), 0);
    if (r.status != 0)
        fail_msg ("lanternctl: %d: %s", r.status, r.err);
    /* "signal sig-... received (version 1, ...)" */
    const char *at = strstr (r.out, "sig-");
    assert_non_null (at);
    char id[INTAKE_SIGNAL_ID_SIZE];
    snprintf (id, sizeof id, "%.30s", at);
    assert_true (intake_signal_id_valid (id));
    run_cmd_free (&r);
    /* stored, audited, on the stream with the person and a phone token */
    const char *params[1] = {id};
    char *n = ln_pgfix_query_value (intake_fix_pg (s_fix),
                                    "SELECT count(*) FROM intake.signals WHERE id = $1", 1, params);
    assert_string_equal (n, "1");
    free (n);
    n = ln_pgfix_query_value (intake_fix_pg (s_fix),
                              "SELECT principal || '|' || outcome FROM intake.audit"
                              " WHERE action = 'SubmitSignal' AND object = $1",
                              1, params);
    assert_non_null (n);
    assert_string_equal (n, "officer|accepted");
    free (n);
    ln_event_t *ev = s_wait_event (triage, INTAKE_EVENT_RECEIVED, id);
    const Lantern__V1__SignalReceived *got =
        (const Lantern__V1__SignalReceived *)ln_event_payload (ev);
    assert_string_equal (got->signal->details->persons[0]->name, "Anna Kowalska");
    assert_string_equal (got->signal->details->observed_on, "2026-11-20");
    bool phone_token = false;
    for (size_t t = 0; t < got->signal->details->persons[0]->n_tokens; t++)
        phone_token |= got->signal->details->persons[0]->tokens[t]->kind ==
                       LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_PHONE;
    assert_true (phone_token);
    ln_event_destroy (&ev);
    ln_client_destroy (&triage);
}

/* Tokens of one kind in a signal's persons/addresses/... (first found). */
static const char *
s_token (const Lantern__V1__Signal *sig, int kind)
{
    const Lantern__V1__SignalDetails *d = sig->details;
    for (size_t i = 0; i < d->n_persons; i++)
        for (size_t t = 0; t < d->persons[i]->n_tokens; t++)
            if ((int)d->persons[i]->tokens[t]->kind == kind)
                return d->persons[i]->tokens[t]->token;
    for (size_t i = 0; i < d->n_addresses; i++)
        for (size_t t = 0; t < d->addresses[i]->n_tokens; t++)
            if ((int)d->addresses[i]->tokens[t]->kind == kind)
                return d->addresses[i]->tokens[t]->token;
    for (size_t i = 0; i < d->n_vehicles; i++)
        for (size_t t = 0; t < d->vehicles[i]->n_tokens; t++)
            if ((int)d->vehicles[i]->tokens[t]->kind == kind)
                return d->vehicles[i]->tokens[t]->token;
    for (size_t i = 0; i < d->n_employers; i++)
        for (size_t t = 0; t < d->employers[i]->n_tokens; t++)
            if ((int)d->employers[i]->tokens[t]->kind == kind)
                return d->employers[i]->tokens[t]->token;
    return NULL;
}

static void
s_replace (char **field, const char *value)
{
    if (*field && *field != protobuf_c_empty_string)
        free (*field);
    *field = strdup (value);
}

static void
test_same_identifiers_same_tokens (void **state)
{
    (void)state;
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    Lantern__V1__SignalDetails *a = intake_cases_baseline ();
    Lantern__V1__SignalDetails *b = intake_cases_baseline ();
    /* the same person, address, vehicle and employer, written differently */
    s_replace (&a->persons[0]->name, "Anna Kowalska-Nowak");
    s_replace (&b->persons[0]->name, "  anna  KOWALSKA nowák ");
    s_replace (&a->persons[0]->date_of_birth, "1990-02-01");
    s_replace (&b->persons[0]->date_of_birth, "1-2-1990");
    s_replace (&a->persons[0]->phone, "06 12345678");
    s_replace (&b->persons[0]->phone, "+31 (0)6-1234 5678");
    s_replace (&a->persons[0]->bsn, "111222333");
    s_replace (&b->persons[0]->bsn, "111 222 333");
    s_replace (&a->persons[0]->document_number, "NX1234567");
    s_replace (&b->persons[0]->document_number, "nx 123-4567");
    s_replace (&a->addresses[0]->postcode, "5911 AB");
    s_replace (&b->addresses[0]->postcode, "5911ab");
    s_replace (&a->addresses[0]->house_number, "12a");
    s_replace (&b->addresses[0]->house_number, "12 A");
    s_replace (&a->vehicles[0]->licence_plate, "B-AB 1234"); /* a German plate */
    s_replace (&b->vehicles[0]->licence_plate, "b ab-1234");
    s_replace (&a->vehicles[0]->country, "DE");  /* ISO 3166-1 alpha-2 ... */
    s_replace (&b->vehicles[0]->country, "DEU"); /* ... and alpha-3 */
    s_replace (&a->employers[0]->kvk_number, "12345678");
    s_replace (&b->employers[0]->kvk_number, "1234.5678");
    char ida[INTAKE_SIGNAL_ID_SIZE], idb[INTAKE_SIGNAL_ID_SIZE];
    snprintf (ida, sizeof ida, "%s", s_submit_ok (officer, a));
    snprintf (idb, sizeof idb, "%s", s_submit_ok (officer, b));
    Lantern__V1__ServerMessage *ma = s_get (officer, ida);
    Lantern__V1__ServerMessage *mb = s_get (officer, idb);
    assert_int_equal (ma->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    assert_int_equal (mb->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    for (int kind = LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_NAME_BIRTHDATE;
         kind <= LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_EMPLOYER; kind++) {
        const char *ta = s_token (ma->reply->get_signal->signal, kind);
        const char *tb = s_token (mb->reply->get_signal->signal, kind);
        if (!ta || !tb)
            fail_msg ("no token of kind %d", kind);
        assert_int_equal (strlen (ta), 64);
        assert_string_equal (ta, tb);
    }
    /* the stored date of birth is normalised */
    assert_string_equal (mb->reply->get_signal->signal->details->persons[0]->date_of_birth,
                         "1990-02-01");
    s_free (ma);
    s_free (mb);
    protobuf_c_message_free_unpacked (&a->base, NULL);
    protobuf_c_message_free_unpacked (&b->base, NULL);
    ln_client_destroy (&officer);
}

static void
test_bad_signals_refused_database_unchanged (void **state)
{
    (void)state;
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    size_t n = intake_cases_count ();
    size_t ran = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) {
        const intake_case_t *c = intake_cases_at (i);
        /* the table's "future" is relative to its own fixed clock
           (INTAKE_CASES_NOW_US); the node runs on the real one: its own
           case below */
        if (strcmp (c->code, "DATE_IN_FUTURE") == 0) {
            skipped++;
            continue;
        }
        ran++;
        Lantern__V1__SignalDetails *d = intake_cases_baseline ();
        c->mutate (d);
        char *before = intake_fix_snapshot (s_fix, true);
        long audit_before = intake_fix_count (s_fix, "audit");
        Lantern__V1__ServerMessage *m = s_submit (officer, d);
        /* Values the wire check already refuses (an enum out of range,
           invalid UTF-8) are refused there, before the validator, with the
           wire check's code (PB_...) and the full path of the same field. */
        char wire_field[300];
        snprintf (wire_field, sizeof wire_field, "%s", c->field);
        bool ok = m->reply->status == LANTERN__V1__REPLY__STATUS__ERROR;
        bool own = ok && strcmp (m->reply->error->code, c->code) == 0 &&
                   strcmp (m->reply->error->field, c->field) == 0;
        bool wire = ok && strncmp (m->reply->error->code, "PB_", 3) == 0 &&
                    strcmp (m->reply->error->field, wire_field) == 0;
        if (!own && !wire)
            fail_msg ("case %s: expected %s at %s, got %s at %s", c->name, c->code, c->field,
                      ok ? m->reply->error->code : "OK", ok ? m->reply->error->field : "");
        char reason[400];
        snprintf (reason, sizeof reason, "%s %s", m->reply->error->code, m->reply->error->field);
        s_free (m);
        char *after = intake_fix_snapshot (s_fix, true);
        assert_non_null (before);
        assert_non_null (after);
        if (strcmp (before, after) != 0)
            fail_msg ("case %s changed the database", c->name);
        free (before);
        free (after);
        /* the refusal itself is audited, with its code */
        assert_int_equal (intake_fix_count (s_fix, "audit"), audit_before + 1);
        char *audit = s_last_audit ();
        char expect[512];
        snprintf (expect, sizeof expect, "officer|SubmitSignal||refused|%s", reason);
        assert_string_equal (audit, expect);
        free (audit);
        protobuf_c_message_free_unpacked (&d->base, NULL);
    }
    assert_true (ran >= 25);
    assert_true (skipped <= 3);
    /* a date in the future by the node's (real) clock */
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    char *before = intake_fix_snapshot (s_fix, true);
    time_t tomorrow = time (NULL) + 2 * 86400;
    struct tm tm;
    gmtime_r (&tomorrow, &tm);
    char date[16];
    strftime (date, sizeof date, "%Y-%m-%d", &tm);
    s_replace (&d->observed_on, date);
    s_expect_error (s_submit (officer, d), "DATE_IN_FUTURE", "details.observed_on");
    char *after = intake_fix_snapshot (s_fix, true);
    assert_string_equal (before, after);
    free (before);
    free (after);
    protobuf_c_message_free_unpacked (&d->base, NULL);
    ln_client_destroy (&officer);
}

static char *
s_strdup (const char *text)
{
    char *p = strdup (text);
    assert_non_null (p);
    return p;
}

/* An amendment: a witness and a line of account (malloc'ed throughout, so
   that protobuf_c_message_free_unpacked frees it). */
static Lantern__V1__SignalDetails *
s_amendment (void)
{
    Lantern__V1__SignalDetails *d = calloc (1, sizeof *d);
    assert_non_null (d);
    lantern__v1__signal_details__init (d);
    Lantern__V1__Person *p = calloc (1, sizeof *p);
    assert_non_null (p);
    lantern__v1__person__init (p);
    p->role = LANTERN__V1__PERSON_ROLE__PERSON_ROLE_WITNESS;
    p->name = s_strdup ("Jan de Vries");
    p->phone = s_strdup ("+31 77 123 4567");
    d->persons = calloc (1, sizeof *d->persons);
    assert_non_null (d->persons);
    d->persons[0] = p;
    d->n_persons = 1;
    d->account = s_strdup ("The neighbour saw a van at night, every night.");
    return d;
}

static void
test_amend_and_withdraw_audited_and_emitted (void **state)
{
    (void)state;
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    ln_client_t *officer2 = intake_fix_client (s_fix, "officer2");
    ln_client_t *triage = intake_fix_client (s_fix, "triage");
    ln_client_t *monitor = intake_fix_client (s_fix, "monitor");
    uint64_t start = s_last_position ();
    s_subscribe (triage, start);
    s_subscribe (monitor, start);
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    char id[INTAKE_SIGNAL_ID_SIZE];
    snprintf (id, sizeof id, "%s", s_submit_ok (officer, d));

    /* officer2 (same organisation) adds a witness and a line of account */
    Lantern__V1__SignalDetails *added = s_amendment ();
    Lantern__V1__AmendSignal am = LANTERN__V1__AMEND_SIGNAL__INIT;
    am.signal_id = id;
    am.added = added;
    Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_AMEND_SIGNAL;
    r.amend_signal = &am;
    Lantern__V1__ServerMessage *m = s_call_as (officer2, &r);
    if (m->reply->status != LANTERN__V1__REPLY__STATUS__OK)
        fail_msg ("amend refused: %s %s", m->reply->error->code, m->reply->error->message);
    assert_int_equal (m->reply->amend_signal->version, 2);
    s_free (m);
    char *audit = s_last_audit ();
    char expect[256];
    snprintf (expect, sizeof expect, "officer2|AmendSignal|%s|accepted|", id);
    assert_string_equal (audit, expect);
    free (audit);
    ln_event_t *ev = s_wait_event (triage, INTAKE_EVENT_AMENDED, id);
    const Lantern__V1__SignalAmended *am_ev =
        (const Lantern__V1__SignalAmended *)ln_event_payload (ev);
    assert_int_equal (am_ev->signal->version, 2);
    assert_int_equal (am_ev->signal->details->n_persons, d->n_persons + added->n_persons);
    assert_int_equal (am_ev->added->n_persons, added->n_persons);
    assert_true (am_ev->added->persons[0]->n_tokens > 0);
    assert_non_null (strstr (am_ev->signal->details->account, added->account));
    ln_event_destroy (&ev);
    ev = s_wait_event (monitor, INTAKE_EVENT_AMENDED, id);
    am_ev = (const Lantern__V1__SignalAmended *)ln_event_payload (ev);
    assert_int_equal (am_ev->signal->details->n_persons, 0);
    assert_int_equal (am_ev->added->n_persons, 0);
    assert_string_equal (am_ev->signal->details->account, "");
    ln_event_destroy (&ev);

    /* withdraw: a reason is required */
    s_expect_error (s_withdraw (officer, id, ""), "MISSING_REASON", "reason");
    m = s_withdraw (officer, id, "duplicate of an earlier signal");
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    assert_int_equal (m->reply->withdraw_signal->version, 3);
    assert_int_equal (m->reply->withdraw_signal->status,
                      LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_WITHDRAWN);
    s_free (m);
    audit = s_last_audit ();
    snprintf (expect, sizeof expect, "officer|WithdrawSignal|%s|accepted|", id);
    assert_string_equal (audit, expect);
    free (audit);
    ev = s_wait_event (triage, INTAKE_EVENT_WITHDRAWN, id);
    const Lantern__V1__SignalWithdrawn *w_ev =
        (const Lantern__V1__SignalWithdrawn *)ln_event_payload (ev);
    assert_string_equal (w_ev->reason, "duplicate of an earlier signal");
    assert_int_equal (w_ev->signal->status, LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_WITHDRAWN);
    ln_event_destroy (&ev);
    ev = s_wait_event (monitor, INTAKE_EVENT_WITHDRAWN, id);
    w_ev = (const Lantern__V1__SignalWithdrawn *)ln_event_payload (ev);
    assert_string_equal (w_ev->reason, "");
    ln_event_destroy (&ev);

    /* a withdrawn signal cannot be amended or withdrawn again */
    m = s_call_as (officer, &r);
    s_expect_error (m, "SIGNAL_WITHDRAWN", "signal_id");
    s_expect_error (s_withdraw (officer, id, "again"), "ALREADY_WITHDRAWN", "signal_id");

    /* the history shows all three, and the status */
    m = s_get (officer, id);
    assert_int_equal (m->reply->get_signal->n_history, 3);
    assert_string_equal (m->reply->get_signal->history[1]->action, "amended");
    assert_string_equal (m->reply->get_signal->history[1]->principal, "officer2");
    assert_string_equal (m->reply->get_signal->history[2]->action, "withdrawn");
    assert_string_equal (m->reply->get_signal->history[2]->reason,
                         "duplicate of an earlier signal");
    assert_int_equal (m->reply->get_signal->signal->status,
                      LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_WITHDRAWN);
    s_free (m);
    protobuf_c_message_free_unpacked (&d->base, NULL);
    protobuf_c_message_free_unpacked (&added->base, NULL);
    ln_client_destroy (&officer);
    ln_client_destroy (&officer2);
    ln_client_destroy (&triage);
    ln_client_destroy (&monitor);
}

static void
test_other_organisation_refused_and_audited (void **state)
{
    (void)state;
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    ln_client_t *other = intake_fix_client (s_fix, "other-officer");
    ln_client_t *monitor = intake_fix_client (s_fix, "monitor");
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    char id[INTAKE_SIGNAL_ID_SIZE];
    snprintf (id, sizeof id, "%s", s_submit_ok (officer, d));

    s_expect_error (s_get (other, id), "FORBIDDEN", NULL);
    char *audit = s_last_audit ();
    char expect[256];
    snprintf (expect, sizeof expect, "other-officer|GetSignal|%s|refused|FORBIDDEN", id);
    assert_string_equal (audit, expect);
    free (audit);
    /* nor may it submit to this node, or withdraw */
    s_expect_error (s_submit (other, d), "FORBIDDEN", NULL);
    s_expect_error (s_withdraw (other, id, "not mine"), "FORBIDDEN", NULL);
    /* a role that may follow the stream may not read a signal */
    s_expect_error (s_get (monitor, id), "FORBIDDEN", NULL);
    audit = s_last_audit ();
    assert_non_null (strstr (audit, "monitor|GetSignal|"));
    assert_non_null (strstr (audit, "|refused|FORBIDDEN"));
    free (audit);
    /* nor may a key of the node's OWN organisation without the officer's
       role: the role check refuses it by itself (the organisation check
       would let it through), for every signal command */
    ln_client_t *clerk = intake_fix_client (s_fix, "clerk");
    s_expect_error (s_get (clerk, id), "FORBIDDEN", NULL);
    s_expect_error (s_submit (clerk, d), "FORBIDDEN", NULL);
    s_expect_error (s_withdraw (clerk, id, "not my role"), "FORBIDDEN", NULL);
    {
        Lantern__V1__ListSignals l = LANTERN__V1__LIST_SIGNALS__INIT;
        Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
        r.command_case = LANTERN__V1__REQUEST__COMMAND_LIST_SIGNALS;
        r.list_signals = &l;
        s_expect_error (s_call_as (clerk, &r), "FORBIDDEN", NULL);
    }
    ln_client_destroy (&clerk);
    /* unknown id / bad id */
    s_expect_error (s_get (officer, "sig-aaaaaaaaaaaaaaaaaaaaaaaaaa"), "NOT_FOUND", "signal_id");
    s_expect_error (s_get (officer, "sig-'; DROP TABLE signals; --"), "INVALID_SIGNAL_ID",
                    "signal_id");
    protobuf_c_message_free_unpacked (&d->base, NULL);
    ln_client_destroy (&officer);
    ln_client_destroy (&other);
    ln_client_destroy (&monitor);
}

static void
test_retry_returns_first_reply (void **state)
{
    (void)state;
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    Lantern__V1__SubmitSignal sub = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    sub.details = d;
    Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL;
    r.submit_signal = &sub;
    long before = intake_fix_count (s_fix, "signals");
    r.request_id = "retry-1";
    Lantern__V1__ServerMessage *m1 = s_call_as (officer, &r);
    r.request_id = "retry-1";
    Lantern__V1__ServerMessage *m2 = s_call_as (officer, &r);
    assert_int_equal (m1->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    assert_string_equal (m1->reply->submit_signal->signal_id, m2->reply->submit_signal->signal_id);
    assert_string_equal (m1->reply->submit_signal->event_id, m2->reply->submit_signal->event_id);
    assert_int_equal (intake_fix_count (s_fix, "signals"), before + 1);
    s_free (m1);
    s_free (m2);
    protobuf_c_message_free_unpacked (&d->base, NULL);
    ln_client_destroy (&officer);
}

static void
test_list_filters_and_pages (void **state)
{
    (void)state;
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    /* seven signals in a municipality no other test uses */
    char ids[7][INTAKE_SIGNAL_ID_SIZE];
    for (int i = 0; i < 7; i++) {
        Lantern__V1__SignalDetails *d = intake_cases_baseline ();
        s_replace (&d->municipality, "GM1507");
        snprintf (ids[i], sizeof ids[i], "%s", s_submit_ok (officer, d));
        protobuf_c_message_free_unpacked (&d->base, NULL);
    }
    Lantern__V1__ListSignals q = LANTERN__V1__LIST_SIGNALS__INIT;
    q.municipality = "GM1507";
    q.page_size = 3;
    Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_LIST_SIGNALS;
    r.list_signals = &q;
    int seen[7] = {0};
    int pages = 0, total = 0;
    char token[128] = "";
    do {
        q.page_token = token;
        Lantern__V1__ServerMessage *m = s_call_as (officer, &r);
        assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
        const Lantern__V1__SignalList *l = m->reply->list_signals;
        assert_true (l->n_signals <= 3);
        for (size_t i = 0; i < l->n_signals; i++) {
            assert_string_equal (l->signals[i]->municipality, "GM1507");
            for (int k = 0; k < 7; k++)
                if (strcmp (l->signals[i]->id, ids[k]) == 0)
                    seen[k]++;
            total++;
        }
        snprintf (token, sizeof token, "%s", l->next_page_token);
        pages++;
        s_free (m);
    } while (token[0] && pages < 10);
    assert_int_equal (total, 7);
    assert_int_equal (pages, 3);
    for (int k = 0; k < 7; k++)
        assert_int_equal (seen[k], 1);
    /* filters: a status nobody has, a bad token */
    q.page_token = "";
    q.status = LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_CLOSED;
    Lantern__V1__ServerMessage *m = s_call_as (officer, &r);
    assert_int_equal (m->reply->list_signals->n_signals, 0);
    s_free (m);
    q.status = 0;
    q.page_token = "12.nonsense";
    s_expect_error (s_call_as (officer, &r), "BAD_PAGE_TOKEN", "page_token");
    q.page_token = "";
    q.page_size = 501;
    s_expect_error (s_call_as (officer, &r), "PAGE_TOO_LARGE", "page_size");
    ln_client_destroy (&officer);
}

static long
s_count_status (int status)
{
    char st[12];
    snprintf (st, sizeof st, "%d", status);
    const char *params[1] = {st};
    char *v = ln_pgfix_query_value (
        intake_fix_pg (s_fix), "SELECT count(*) FROM intake.signals WHERE status = $1::smallint", 1,
        params);
    assert_non_null (v);
    long n = strtol (v, NULL, 10);
    free (v);
    return n;
}

/* The controllable clock of the retention test. */
static int64_t s_fake_now;
static int64_t
s_fake_clock (void)
{
    return s_fake_now;
}

static void
test_retention_purge_with_controllable_clock (void **state)
{
    (void)state;
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    ln_db_t *db = intake_fix_db (s_fix);
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    char withdrawn[INTAKE_SIGNAL_ID_SIZE], no_action[INTAKE_SIGNAL_ID_SIZE],
        open[INTAKE_SIGNAL_ID_SIZE];
    snprintf (withdrawn, sizeof withdrawn, "%s", s_submit_ok (officer, d));
    snprintf (no_action, sizeof no_action, "%s", s_submit_ok (officer, d));
    snprintf (open, sizeof open, "%s", s_submit_ok (officer, d));
    Lantern__V1__ServerMessage *m = s_withdraw (officer, withdrawn, "entered twice");
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    s_free (m);

    /* triage's feedback (a later issue) moves a status: here by hand, with
       the fake clock standing at the real time */
    intake_t in = {.clock_us = s_fake_clock};
    s_fake_now = ln_clock_wall_us ();
    ln_error_t err;
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (
        intake_signal_set_status (&in, db, no_action,
                                  LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_CLOSED_NO_ACTION,
                                  "triage", "case ended with NO_ACTION", &err),
        0);
    assert_int_equal (ln_db_commit (db), 0);
    m = s_get (officer, no_action);
    assert_int_equal (m->reply->get_signal->signal->status,
                      LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_CLOSED_NO_ACTION);
    s_free (m);

    const int64_t day = 86400LL * 1000000LL;
    int64_t withdrawn_keep = 30 * day, no_action_keep = 90 * day;
    size_t purged = 99;
    long audit_before = intake_fix_count (s_fix, "audit");
    /* 29 days on: nothing is due */
    s_fake_now += 29 * day;
    assert_int_equal (intake_store_purge (db, s_fake_now - withdrawn_keep,
                                          s_fake_now - no_action_keep, 100, "retention",
                                          LN_LEVEL_VERTROUWELIJK, &purged, &err),
                      0);
    assert_int_equal (purged, 0);
    assert_int_equal (intake_fix_count (s_fix, "audit"), audit_before);
    /* 31 days: the withdrawn one goes (with those other tests withdrew a
       moment earlier), with its history, audited */
    s_fake_now += 2 * day;
    long withdrawn_count = s_count_status (LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_WITHDRAWN);
    assert_true (withdrawn_count >= 1);
    assert_int_equal (intake_store_purge (db, s_fake_now - withdrawn_keep,
                                          s_fake_now - no_action_keep, 100, "retention",
                                          LN_LEVEL_VERTROUWELIJK, &purged, &err),
                      0);
    assert_int_equal (purged, withdrawn_count);
    assert_int_equal (s_count_status (LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_WITHDRAWN), 0);
    s_expect_error (s_get (officer, withdrawn), "NOT_FOUND", "signal_id");
    const char *params[1] = {withdrawn};
    char *n = ln_pgfix_query_value (
        intake_fix_pg (s_fix), "SELECT count(*) FROM intake.signal_history WHERE signal_id = $1", 1,
        params);
    assert_string_equal (n, "0");
    free (n);
    n = ln_pgfix_query_value (intake_fix_pg (s_fix),
                              "SELECT principal || '|' || action || '|' || outcome"
                              " FROM intake.audit WHERE object = $1 AND outcome = 'purged'",
                              1, params);
    assert_non_null (n);
    assert_string_equal (n, "retention|PurgeSignal|purged");
    free (n);
    /* 91 days: the NO_ACTION one goes too; the open one stays */
    s_fake_now += 60 * day;
    assert_int_equal (intake_store_purge (db, s_fake_now - withdrawn_keep,
                                          s_fake_now - no_action_keep, 100, "retention",
                                          LN_LEVEL_VERTROUWELIJK, &purged, &err),
                      0);
    assert_int_equal (purged, 1);
    s_expect_error (s_get (officer, no_action), "NOT_FOUND", "signal_id");
    m = s_get (officer, open);
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    s_free (m);
    /* the audit chain is intact after all of it */
    ln_audit_report_t report;
    assert_int_equal (ln_audit_verify (db, &report, &err), 0);
    assert_true (report.ok);
    protobuf_c_message_free_unpacked (&d->base, NULL);
    ln_client_destroy (&officer);
}

/* Does `hay` (size bytes) contain `needle`, as is or as lower-case hex
   (how a bytea shows in a row's text)? */
static bool
s_holds (const char *hay, const char *needle)
{
    if (strstr (hay, needle))
        return true;
    char hex[256];
    size_t n = strlen (needle);
    for (size_t i = 0; i < n && 2 * i + 2 < sizeof hex; i++)
        snprintf (hex + 2 * i, 3, "%02x", (unsigned char)needle[i]);
    return strstr (hay, hex) != NULL;
}

static bool
s_bytes_hold (const uint8_t *data, size_t size, const char *needle)
{
    size_t n = strlen (needle);
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp (data + i, needle, n) == 0)
            return true;
    return false;
}

/* Issue 9 point 6: a purge reaches every copy.  A withdrawn signal with a
   name, BSN, phone and account of its own is purged by retention: its
   rows go, its events in the log lose their payloads (positions stay
   dense), an erasure event tells every follower, and none of its personal
   data is found anywhere in the node's schema nor in anything a
   subscriber from position 0 receives. */
static void
test_purge_erases_everywhere_point6 (void **state)
{
    (void)state;
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    ln_db_t *db = intake_fix_db (s_fix);
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    const char *name = "Zofia Erasmusowa", *bsn = "123456782", *phone = "0687654329",
               *account = "Uniek verhaal van een persoon die gewist wordt.";
    s_replace (&d->persons[0]->name, name);
    s_replace (&d->persons[0]->bsn, bsn);
    s_replace (&d->persons[0]->phone, phone);
    s_replace (&d->account, account);
    char id[INTAKE_SIGNAL_ID_SIZE];
    snprintf (id, sizeof id, "%s", s_submit_ok (officer, d));
    Lantern__V1__ServerMessage *m = s_withdraw (officer, id, "entered by mistake");
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    s_free (m);
    uint64_t last = s_last_position ();
    char *before = intake_fix_snapshot (s_fix, false);
    assert_true (s_holds (before, name) && s_holds (before, account));
    free (before);

    /* retention, 31 days on */
    ln_error_t err;
    size_t purged = 0;
    int64_t later = ln_clock_wall_us () + 31LL * 86400 * 1000000;
    assert_int_equal (intake_store_purge (db, later - 30LL * 86400 * 1000000, 0, 1000, "retention",
                                          LN_LEVEL_VERTROUWELIJK, &purged, &err),
                      0);
    assert_true (purged >= 1);

    /* nowhere in the schema */
    char *after = intake_fix_snapshot (s_fix, false);
    assert_non_null (after);
    const char *secrets[] = {name, bsn, phone, "87654329", account};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        if (s_holds (after, secrets[i]))
            fail_msg ("'%s' is still in the node's schema after the purge", secrets[i]);
    free (after);
    /* the log: its events redacted in place, and an erasure event after */
    const char *params[1] = {id};
    char *v = ln_pgfix_query_value (
        intake_fix_pg (s_fix),
        "SELECT count(*) FILTER (WHERE redacted_us IS NOT NULL AND octet_length (payload) = 0)"
        " || '/' || count(*) FILTER (WHERE type = 'nl.lantern.record.erased.v1')"
        " FROM intake.outbox WHERE correlation_id = $1",
        1, params);
    assert_string_equal (v, "2/1"); /* received, withdrawn; one erasure */
    free (v);

    /* a follower from position 0 gets none of it, and the erasure */
    ln_client_t *triage = intake_fix_client (s_fix, "triage");
    s_subscribe (triage, 0);
    bool erased = false;
    uint64_t seen = 0;
    while (seen <= last) {
        Lantern__V1__ServerMessage *dm = ln_client_recv (triage, 5000, &err);
        assert_non_null (dm);
        if (dm->kind_case != LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER) {
            s_free (dm);
            continue;
        }
        seen = dm->deliver->position;
        for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
            if (s_bytes_hold (dm->deliver->event.data, dm->deliver->event.len, secrets[i]))
                fail_msg ("'%s' was delivered at position %llu", secrets[i],
                          (unsigned long long)seen);
        ln_event_t *ev = ln_envelope_parse (dm->deliver->event.data, dm->deliver->event.len, &err);
        assert_non_null (ev);
        if (strcmp (ln_event_type (ev), "nl.lantern.record.erased.v1") == 0 &&
            strcmp (ln_event_correlationid (ev), id) == 0) {
            erased = true;
            assert_int_equal (
                ((const Lantern__V1__RecordErased *)ln_event_payload (ev))->events_redacted, 2);
        }
        ln_event_destroy (&ev);
        s_free (dm);
    }
    assert_true (erased);
    ln_client_destroy (&triage);
    protobuf_c_message_free_unpacked (&d->base, NULL);
    ln_client_destroy (&officer);
}

/* Issue 9 point 5: an accepted read records its purpose where the command
   has one (GetSignal.purpose): in the read's audit row. */
static void
test_read_records_its_purpose_point5 (void **state)
{
    (void)state;
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    char id[INTAKE_SIGNAL_ID_SIZE];
    snprintf (id, sizeof id, "%s", s_submit_ok (officer, d));
    Lantern__V1__GetSignal g = LANTERN__V1__GET_SIGNAL__INIT;
    g.signal_id = id;
    g.purpose = "voorbereiding screeningsoverleg";
    Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_GET_SIGNAL;
    r.get_signal = &g;
    Lantern__V1__ServerMessage *m = s_call_as (officer, &r);
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    s_free (m);
    char *audit = s_last_audit ();
    char expect[256];
    snprintf (expect, sizeof expect,
              "officer|GetSignal|%s|accepted|purpose: voorbereiding screeningsoverleg", id);
    assert_string_equal (audit, expect);
    free (audit);
    /* a purpose longer than 200 bytes is refused, with its field */
    char long_purpose[260];
    memset (long_purpose, 'p', sizeof long_purpose - 1);
    long_purpose[sizeof long_purpose - 1] = '\0';
    g.purpose = long_purpose;
    s_expect_error (s_call_as (officer, &r), "TEXT_TOO_LONG", "purpose");
    protobuf_c_message_free_unpacked (&d->base, NULL);
    ln_client_destroy (&officer);
}

/* Issue 9 point 7: every change of a signal is audited and emitted, also
   one made on behalf of another service (triage's feedback). */
static void
test_status_change_audited_and_emitted_point7 (void **state)
{
    (void)state;
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    ln_db_t *db = intake_fix_db (s_fix);
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    char id[INTAKE_SIGNAL_ID_SIZE];
    snprintf (id, sizeof id, "%s", s_submit_ok (officer, d));
    ln_client_t *monitor = intake_fix_client (s_fix, "monitor");
    s_subscribe (monitor, s_last_position ());

    intake_t in = {.clock_us = ln_clock_wall_us, .event_level = LN_LEVEL_VERTROUWELIJK};
    ln_error_t err;
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (intake_signal_set_status (&in, db, id,
                                                LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_SCHEDULED,
                                                "triage-node", "on the agenda of 2026-12-08", &err),
                      0);
    assert_int_equal (ln_db_commit (db), 0);
    ln_event_t *ev = s_wait_event (monitor, "nl.lantern.signal.status_changed.v1", id);
    const Lantern__V1__SignalStatusChanged *c =
        (const Lantern__V1__SignalStatusChanged *)ln_event_payload (ev);
    assert_int_equal (c->previous, LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_RECEIVED);
    assert_int_equal (c->status, LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_SCHEDULED);
    assert_string_equal (c->by, "triage-node");
    assert_int_equal (c->version, 2);
    ln_event_destroy (&ev);
    const char *params[1] = {id};
    char *v = ln_pgfix_query_value (intake_fix_pg (s_fix),
                                    "SELECT principal || '|' || action || '|' || outcome || '|'"
                                    " || reason FROM intake.audit WHERE object = $1"
                                    " AND action = 'SetSignalStatus'",
                                    1, params);
    assert_non_null (v);
    assert_string_equal (v, "triage-node|SetSignalStatus|accepted|SIGNAL_STATUS_RECEIVED -> "
                            "SIGNAL_STATUS_SCHEDULED: on the agenda of 2026-12-08");
    free (v);
    /* the same status again changes nothing and says nothing */
    long audit = intake_fix_count (s_fix, "audit");
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (intake_signal_set_status (&in, db, id,
                                                LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_SCHEDULED,
                                                "triage-node", "again", &err),
                      0);
    assert_int_equal (ln_db_commit (db), 0);
    assert_int_equal (intake_fix_count (s_fix, "audit"), audit);
    ln_client_destroy (&monitor);
    protobuf_c_message_free_unpacked (&d->base, NULL);
    ln_client_destroy (&officer);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_submit_stored_audited_streamed),
        cmocka_unit_test (test_lanternctl_submit_stored_audited_streamed),
        cmocka_unit_test (test_same_identifiers_same_tokens),
        cmocka_unit_test (test_bad_signals_refused_database_unchanged),
        cmocka_unit_test (test_amend_and_withdraw_audited_and_emitted),
        cmocka_unit_test (test_other_organisation_refused_and_audited),
        cmocka_unit_test (test_retry_returns_first_reply),
        cmocka_unit_test (test_list_filters_and_pages),
        cmocka_unit_test (test_retention_purge_with_controllable_clock),
        cmocka_unit_test (test_purge_erases_everywhere_point6),
        cmocka_unit_test (test_status_change_audited_and_emitted_point7),
        cmocka_unit_test (test_read_records_its_purpose_point5),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
