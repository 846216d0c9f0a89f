/*  make_corpus: write the seed corpus of every fuzz harness.

        make fuzz-corpus        (build/plain/fuzz/make_corpus tests/fuzz/corpus)

    libFuzzer finds its way much faster from inputs that already reach deep
    into a decoder than from nothing.  This program builds one of each kind
    of message Lantern sends, with every field set, plus a few hostile ones,
    and writes them as files, a few dozen per harness, each a few hundred
    bytes:
      corpus/fuzz_client_message   ClientMessage frames (every command,
                                   Subscribe, Credit, refused requests), and
                                   "<command index><command bytes>" inputs
                                   for the harness's second reading
      corpus/fuzz_server_message   ServerMessage frames (every reply, a
                                   Deliver of each event type, Reset)
      corpus/fuzz_envelope         events of each type
      corpus/fuzz_json             "<type>\n<JSON>" of the same messages, and
                                   plain JSON texts
    The output is deterministic (fixed ids and times), so re-running it
    changes nothing unless the messages do.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cloudevents.pb-c.h"
#include "lantern.pb-c.h"
#include "ln_envelope.h"
#include "ln_json.h"
#include "wire.pb-c.h"

static const char *s_root;
static int s_failed;

static void
s_write (const char *harness, const char *name, const void *data, size_t size)
{
    char path[1024];
    snprintf (path, sizeof path, "%s/%s", s_root, harness);
    if (mkdir (path, 0755) != 0 && errno != EEXIST) {
        fprintf (stderr, "make_corpus: %s: %s\n", path, strerror (errno));
        s_failed = 1;
        return;
    }
    snprintf (path, sizeof path, "%s/%s/%s", s_root, harness, name);
    FILE *f = fopen (path, "wb");
    if (!f || (size > 0 && fwrite (data, 1, size, f) != size)) {
        fprintf (stderr, "make_corpus: %s: %s\n", path, strerror (errno));
        s_failed = 1;
    }
    if (f && fclose (f) != 0)
        s_failed = 1;
}

static void
s_write_packed (const char *harness, const char *name, const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size (m);
    uint8_t *buf = malloc (n ? n : 1);
    if (!buf)
        abort ();
    protobuf_c_message_pack (m, buf);
    s_write (harness, name, buf, n);
    free (buf);
}

/* "<type>\n<JSON>" for fuzz_json */
static void
s_write_json (const char *name, const ProtobufCMessage *m)
{
    char *json = ln_json_from_message (m, false);
    if (!json) {
        fprintf (stderr, "make_corpus: no JSON for %s\n", name);
        s_failed = 1;
        return;
    }
    size_t tn = strlen (m->descriptor->name), jn = strlen (json);
    char *text = malloc (tn + 1 + jn);
    if (!text)
        abort ();
    memcpy (text, m->descriptor->name, tn);
    text[tn] = '\n';
    memcpy (text + tn + 1, json, jn);
    s_write ("fuzz_json", name, text, tn + 1 + jn);
    free (text);
    free (json);
}

// --------------------------------------------------------------------------
// A protobuf wire writer, for what protobuf-c would never produce

typedef struct {
    uint8_t data[4096];
    size_t len;
} buf_t;

static void
b_raw (buf_t *b, const void *p, size_t n)
{
    if (n > sizeof b->data - b->len)
        abort (); /* seeds are small */
    memcpy (b->data + b->len, p, n);
    b->len += n;
}

static void
b_varint (buf_t *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            c |= 0x80;
        b_raw (b, &c, 1);
    } while (v);
}

static void
b_len (buf_t *b, uint32_t field, const void *p, size_t n)
{
    b_varint (b, (uint64_t)field << 3 | 2);
    b_varint (b, n);
    b_raw (b, p, n);
}

static void
b_msg (buf_t *b, uint32_t field, const buf_t *sub)
{
    b_len (b, field, sub->data, sub->len);
}

static void
b_reset (buf_t *b)
{
    b->len = 0;
}

// --------------------------------------------------------------------------
// Sample messages

static Lantern__V1__Token s_tokens[2];
static Lantern__V1__Token *s_token_list[2] = {&s_tokens[0], &s_tokens[1]};
static Lantern__V1__Reporter s_reporter;
static Lantern__V1__Person s_persons[2];
static Lantern__V1__Person *s_person_list[2] = {&s_persons[0], &s_persons[1]};
static Lantern__V1__Address s_address;
static Lantern__V1__Address *s_address_list[1] = {&s_address};
static Lantern__V1__Vehicle s_vehicle;
static Lantern__V1__Vehicle *s_vehicle_list[1] = {&s_vehicle};
static Lantern__V1__Employer s_employer;
static Lantern__V1__Employer *s_employer_list[1] = {&s_employer};
static Lantern__V1__ExploitationForm s_forms[2] = {
    LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_LABOUR,
    LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_SEXUAL};
static char *s_indicators[2] = {"ILO_RETENTION_OF_IDENTITY_DOCUMENTS", "ILO_EXCESSIVE_HOURS"};
static Lantern__V1__SignalDetails s_details;
static Lantern__V1__Signal s_signal;

static void
s_init_samples (void)
{
    for (int i = 0; i < 2; i++) {
        lantern__v1__token__init (&s_tokens[i]);
        s_tokens[i].kind = i ? LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_PHONE
                             : LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_BSN;
        s_tokens[i].token = i ? "tok-Qm9vYmFyYmF6cXV4" : "tok-c2lnbmFsLXRva2Vu";
    }
    lantern__v1__reporter__init (&s_reporter);
    s_reporter.role = LANTERN__V1__REPORTER_ROLE__REPORTER_ROLE_MUNICIPAL_STAFF;
    s_reporter.organisation = "Gemeente Venlo";
    s_reporter.contact = "06 12345678";
    lantern__v1__person__init (&s_persons[0]);
    s_persons[0].role = LANTERN__V1__PERSON_ROLE__PERSON_ROLE_POSSIBLE_VICTIM;
    s_persons[0].name = "Anna Kowalska";
    s_persons[0].date_of_birth = "1998-04-02";
    s_persons[0].nationality = "POL";
    s_persons[0].bsn = "111222333";
    s_persons[0].document_number = "EA1234567";
    s_persons[0].phone = "+48 601 234 567";
    s_persons[0].description = "Speaks Polish and some German; \xc3\xa9\xe2\x82\xac.";
    s_persons[0].n_tokens = 2;
    s_persons[0].tokens = s_token_list;
    lantern__v1__person__init (&s_persons[1]);
    s_persons[1].role = LANTERN__V1__PERSON_ROLE__PERSON_ROLE_POSSIBLE_PERPETRATOR;
    s_persons[1].name = "J. de Vries";
    lantern__v1__address__init (&s_address);
    s_address.street = "Kaldenkerkerweg";
    s_address.house_number = "12a";
    s_address.postcode = "5912 AB";
    s_address.city = "Venlo";
    s_address.country = "NL";
    s_address.description = "lives at the workplace";
    lantern__v1__vehicle__init (&s_vehicle);
    s_vehicle.licence_plate = "AB-123-C";
    s_vehicle.description = "white van";
    lantern__v1__employer__init (&s_employer);
    s_employer.name = "Asperge BV";
    s_employer.kvk_number = "12345678";
    s_employer.address = "Venlo";

    lantern__v1__signal_details__init (&s_details);
    s_details.reporter = &s_reporter;
    s_details.observed_on = "2026-11-27";
    s_details.municipality = "GM0983";
    s_details.n_forms = 2;
    s_details.forms = s_forms;
    s_details.sector = LANTERN__V1__LABOUR_SECTOR__LABOUR_SECTOR_AGRICULTURE;
    s_details.n_indicators = 2;
    s_details.indicators = s_indicators;
    s_details.immediate_danger = 1;
    s_details.n_persons = 2;
    s_details.persons = s_person_list;
    s_details.n_addresses = 1;
    s_details.addresses = s_address_list;
    s_details.n_vehicles = 1;
    s_details.vehicles = s_vehicle_list;
    s_details.n_employers = 1;
    s_details.employers = s_employer_list;
    s_details.account = "Asparagus picker; the employer keeps her passport.\nTwo lines.";

    lantern__v1__signal__init (&s_signal);
    s_signal.id = "sig-01JDRM5X3V9Q7K2M4N6P8R0T2W";
    s_signal.node = "intake-venlo";
    s_signal.organisation = "Gemeente Venlo";
    s_signal.organisation_type = LANTERN__V1__ORGANISATION_TYPE__ORGANISATION_TYPE_MUNICIPALITY;
    s_signal.status = LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_RECEIVED;
    s_signal.version = 2;
    s_signal.catalogue_version = "2026.1";
    s_signal.received_at_us = 1764412424123456LL;
    s_signal.updated_at_us = 1764412425123456LL;
    s_signal.details = &s_details;
    s_signal.submitted_by = "officer-venlo";
}

// --------------------------------------------------------------------------
// Client messages

static void
s_request_out (const char *name, Lantern__V1__Request *r)
{
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    cm.request = r;
    s_write_packed ("fuzz_client_message", name, &cm.base);
    char jname[128];
    snprintf (jname, sizeof jname, "client-%s", name);
    s_write_json (jname, &cm.base);
}

/* "<index of the command among Request's commands><its bytes>", the
   harness's second reading (decoders.c: fuzz_commands) */
static void
s_command_out (const char *name, const ProtobufCMessage *command)
{
    const ProtobufCMessageDescriptor *req = &lantern__v1__request__descriptor;
    unsigned index = 0;
    for (unsigned i = 0; i < req->n_fields; i++) {
        if (!(req->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
            req->fields[i].type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (req->fields[i].descriptor == command->descriptor)
            break;
        index++;
    }
    size_t n = protobuf_c_message_get_packed_size (command);
    uint8_t *buf = malloc (n + 1);
    if (!buf)
        abort ();
    buf[0] = (uint8_t)index;
    protobuf_c_message_pack (command, buf + 1);
    char cname[128];
    snprintf (cname, sizeof cname, "command-%s", name);
    s_write ("fuzz_client_message", cname, buf, n + 1);
    free (buf);
    s_write_json (name, command);
}

static void
s_client_messages (void)
{
    Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
    r.request_id = "req-01JDRM5X3V9Q7K2M4N6P8R0T2W";

    Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_PING;
    r.ping = &ping;
    s_request_out ("ping", &r);
    s_command_out ("ping", &ping.base);

    Lantern__V1__PostNotice notice = LANTERN__V1__POST_NOTICE__INIT;
    notice.text = "Maintenance tonight 22:00-23:00; \xe2\x80\x9cquotes\xe2\x80\x9d.";
    r.command_case = LANTERN__V1__REQUEST__COMMAND_POST_NOTICE;
    r.post_notice = &notice;
    s_request_out ("post_notice", &r);
    s_command_out ("post_notice", &notice.base);

    Lantern__V1__VerifyAudit verify = LANTERN__V1__VERIFY_AUDIT__INIT;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_VERIFY_AUDIT;
    r.verify_audit = &verify;
    s_request_out ("verify_audit", &r);

    Lantern__V1__SubmitSignal submit = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    submit.details = &s_details;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL;
    r.submit_signal = &submit;
    s_request_out ("submit_signal", &r);
    s_command_out ("submit_signal", &submit.base);

    Lantern__V1__AmendSignal amend = LANTERN__V1__AMEND_SIGNAL__INIT;
    Lantern__V1__SignalDetails added = LANTERN__V1__SIGNAL_DETAILS__INIT;
    added.n_persons = 1;
    added.persons = &s_person_list[1];
    added.minor_involved = 1;
    added.account = "She was seen again on 2026-12-01.";
    amend.signal_id = s_signal.id;
    amend.added = &added;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_AMEND_SIGNAL;
    r.amend_signal = &amend;
    s_request_out ("amend_signal", &r);
    s_command_out ("amend_signal", &amend.base);

    Lantern__V1__WithdrawSignal withdraw = LANTERN__V1__WITHDRAW_SIGNAL__INIT;
    withdraw.signal_id = s_signal.id;
    withdraw.reason = "registered twice";
    r.command_case = LANTERN__V1__REQUEST__COMMAND_WITHDRAW_SIGNAL;
    r.withdraw_signal = &withdraw;
    s_request_out ("withdraw_signal", &r);
    s_command_out ("withdraw_signal", &withdraw.base);

    Lantern__V1__GetSignal get = LANTERN__V1__GET_SIGNAL__INIT;
    get.signal_id = s_signal.id;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_GET_SIGNAL;
    r.get_signal = &get;
    s_request_out ("get_signal", &r);
    s_command_out ("get_signal", &get.base);

    Lantern__V1__ListSignals list = LANTERN__V1__LIST_SIGNALS__INIT;
    list.status = LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_RECEIVED;
    list.municipality = "GM0983";
    list.form = LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_LABOUR;
    list.received_from_us = 1764412424000000LL;
    list.received_to_us = 1764512424000000LL;
    list.page_size = 50;
    list.page_token = "p-50";
    r.command_case = LANTERN__V1__REQUEST__COMMAND_LIST_SIGNALS;
    r.list_signals = &list;
    s_request_out ("list_signals", &r);
    s_command_out ("list_signals", &list.base);

    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    sub.after_position = 1234567;
    sub.credit = 64;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    cm.subscribe = &sub;
    s_write_packed ("fuzz_client_message", "subscribe", &cm.base);
    Lantern__V1__Credit credit = LANTERN__V1__CREDIT__INIT;
    credit.credit = 32;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_CREDIT;
    cm.credit = &credit;
    s_write_packed ("fuzz_client_message", "credit", &cm.base);
    s_write ("fuzz_client_message", "empty", "", 0);

    /* refused, but answered under their request_id */
    Lantern__V1__Person bad = s_persons[0];
    bad.role = (Lantern__V1__PersonRole)99;
    Lantern__V1__Person *bad_list[1] = {&bad};
    Lantern__V1__SignalDetails bad_details = s_details;
    bad_details.n_persons = 1;
    bad_details.persons = bad_list;
    submit.details = &bad_details;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL;
    r.submit_signal = &submit;
    Lantern__V1__ClientMessage refused = LANTERN__V1__CLIENT_MESSAGE__INIT;
    refused.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    refused.request = &r;
    s_write_packed ("fuzz_client_message", "refused-bad-enum", &refused.base);
    submit.details = &s_details;

    /* by hand: a NUL in a name; details given twice (merged), with forms
       packed and unpacked; the command given twice; an unknown field */
    buf_t person = {0}, details = {0}, cmd = {0}, req = {0}, top = {0};
    b_len (&person, 2, "Anna\0Kowalska", 14);
    b_msg (&details, 9, &person);
    b_msg (&cmd, 1, &details);
    b_len (&req, 1, "rq-99", 5);
    b_msg (&req, 100, &cmd);
    b_msg (&top, 1, &req);
    s_write ("fuzz_client_message", "refused-nul", top.data, top.len);
    b_reset (&person), b_reset (&details), b_reset (&cmd), b_reset (&req), b_reset (&top);

    b_len (&person, 2, "Ann", 3);
    b_msg (&details, 9, &person);
    b_msg (&cmd, 1, &details);
    b_reset (&details);
    b_len (&details, 4, "\x01\x02", 2); /* forms, packed */
    b_varint (&details, 4 << 3);        /* forms, one unpacked */
    b_varint (&details, 3);
    b_msg (&details, 9, &person);
    b_msg (&cmd, 1, &details);
    b_len (&req, 1, "rq-1", 4);
    b_msg (&req, 100, &cmd);
    b_msg (&top, 1, &req);
    s_write ("fuzz_client_message", "merged-details", top.data, top.len);
    b_reset (&person), b_reset (&details), b_reset (&cmd), b_reset (&req), b_reset (&top);

    b_len (&req, 1, "rq-2", 4);
    b_len (&req, 10, "", 0);   /* ping */
    b_msg (&cmd, 1, &details); /* an empty SubmitSignal.details */
    b_msg (&req, 100, &cmd);
    b_len (&req, 10, "", 0); /* ping again: the last wins */
    b_msg (&top, 1, &req);
    s_write ("fuzz_client_message", "command-twice", top.data, top.len);
    b_reset (&cmd), b_reset (&req), b_reset (&top);

    b_len (&req, 1, "rq-3", 4);
    b_len (&req, 10, "", 0);
    b_varint (&req, 999 << 3); /* field 999, a varint */
    b_varint (&req, 1);
    b_msg (&top, 1, &req);
    s_write ("fuzz_client_message", "refused-unknown", top.data, top.len);
    b_reset (&req), b_reset (&top);
}

// --------------------------------------------------------------------------
// Server messages and events

static void
s_reply_out (const char *name, Lantern__V1__Reply *reply)
{
    Lantern__V1__ServerMessage sm = LANTERN__V1__SERVER_MESSAGE__INIT;
    sm.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_REPLY;
    sm.reply = reply;
    s_write_packed ("fuzz_server_message", name, &sm.base);
    char jname[128];
    snprintf (jname, sizeof jname, "server-%s", name);
    s_write_json (jname, &sm.base);
}

static void
s_event_out (const char *name, const char *type, const ProtobufCMessage *payload, uint64_t seq,
             ln_level_t level, const char *correlationid)
{
    ln_event_fields_t f = {
        .source = "urn:lantern:node:intake-venlo",
        .id = "evt-01JDRM5X3V9Q7K2M4N6P8R0T2W",
        .type = type,
        .time_ms = 1764412424123LL,
        .sequence = seq,
        .level = level,
        .correlationid = correlationid,
        .payload = payload,
    };
    ln_error_t err;
    size_t n = 0;
    uint8_t *event = ln_envelope_build (&f, &n, &err);
    if (!event) {
        fprintf (stderr, "make_corpus: %s: %s %s\n", name, err.code, err.message);
        s_failed = 1;
        return;
    }
    s_write ("fuzz_envelope", name, event, n);
    Lantern__V1__Deliver d = LANTERN__V1__DELIVER__INIT;
    d.position = seq;
    d.previous_position = seq - 1;
    d.event.data = event;
    d.event.len = n;
    Lantern__V1__ServerMessage sm = LANTERN__V1__SERVER_MESSAGE__INIT;
    sm.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER;
    sm.deliver = &d;
    char dname[128];
    snprintf (dname, sizeof dname, "deliver-%s", name);
    s_write_packed ("fuzz_server_message", dname, &sm.base);
    /* the CloudEvent and its payload in JSON */
    Io__Cloudevents__V1__CloudEvent *ce = io__cloudevents__v1__cloud_event__unpack (NULL, n, event);
    if (ce) {
        char jname[128];
        snprintf (jname, sizeof jname, "event-%s", name);
        s_write_json (jname, &ce->base);
        io__cloudevents__v1__cloud_event__free_unpacked (ce, NULL);
    }
    snprintf (dname, sizeof dname, "payload-%s", name);
    s_write_json (dname, payload);
    free (event);
}

static void
s_server_messages (void)
{
    Lantern__V1__Reply r = LANTERN__V1__REPLY__INIT;
    r.request_id = "req-01JDRM5X3V9Q7K2M4N6P8R0T2W";
    r.status = LANTERN__V1__REPLY__STATUS__OK;

    Lantern__V1__Pong pong = LANTERN__V1__PONG__INIT;
    char *roles[2] = {"attention_officer", "node"};
    pong.node = "intake-venlo";
    pong.version = "0.1.0";
    pong.principal = "officer-venlo";
    pong.organisation = "Gemeente Venlo";
    pong.n_roles = 2;
    pong.roles = roles;
    pong.level = "vertrouwelijk";
    pong.last_position = 4242;
    r.result_case = LANTERN__V1__REPLY__RESULT_PING;
    r.ping = &pong;
    s_reply_out ("pong", &r);

    Lantern__V1__SignalAccepted acc = LANTERN__V1__SIGNAL_ACCEPTED__INIT;
    acc.signal_id = s_signal.id;
    acc.version = 1;
    acc.event_id = "evt-01JDRM5X3V9Q7K2M4N6P8R0T2W";
    acc.catalogue_version = "2026.1";
    acc.status = LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_RECEIVED;
    r.result_case = LANTERN__V1__REPLY__RESULT_SUBMIT_SIGNAL;
    r.submit_signal = &acc;
    s_reply_out ("signal_accepted", &r);

    Lantern__V1__SignalHistoryEntry h[2];
    Lantern__V1__SignalHistoryEntry *hl[2] = {&h[0], &h[1]};
    for (int i = 0; i < 2; i++) {
        lantern__v1__signal_history_entry__init (&h[i]);
        h[i].version = (uint32_t)i + 1;
        h[i].action = i ? "amended" : "submitted";
        h[i].principal = "officer-venlo";
        h[i].at_us = 1764412424123456LL + i;
        h[i].added = &s_details;
    }
    Lantern__V1__SignalRecord rec = LANTERN__V1__SIGNAL_RECORD__INIT;
    rec.signal = &s_signal;
    rec.n_history = 2;
    rec.history = hl;
    r.result_case = LANTERN__V1__REPLY__RESULT_GET_SIGNAL;
    r.get_signal = &rec;
    s_reply_out ("signal_record", &r);

    Lantern__V1__SignalSummary s[3];
    Lantern__V1__SignalSummary *sl[3] = {&s[0], &s[1], &s[2]};
    for (int i = 0; i < 3; i++) {
        lantern__v1__signal_summary__init (&s[i]);
        s[i].id = s_signal.id;
        s[i].status = LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_RECEIVED;
        s[i].municipality = "GM0983";
        s[i].n_forms = 2;
        s[i].forms = s_forms;
        s[i].received_at_us = 1764412424123456LL;
        s[i].persons = 2;
        s[i].version = 1;
        s[i].submitted_by = "officer-venlo";
    }
    Lantern__V1__SignalList list = LANTERN__V1__SIGNAL_LIST__INIT;
    list.n_signals = 3;
    list.signals = sl;
    list.next_page_token = "p-3";
    r.result_case = LANTERN__V1__REPLY__RESULT_LIST_SIGNALS;
    r.list_signals = &list;
    s_reply_out ("signal_list", &r);

    Lantern__V1__AuditReport audit = LANTERN__V1__AUDIT_REPORT__INIT;
    audit.ok = 0;
    audit.rows = 1200;
    audit.first_bad_seq = 1117;
    audit.problem = "hash mismatch";
    r.result_case = LANTERN__V1__REPLY__RESULT_VERIFY_AUDIT;
    r.verify_audit = &audit;
    s_reply_out ("audit_report", &r);

    Lantern__V1__Error e = LANTERN__V1__ERROR__INIT;
    e.code = "PB_TOO_MANY";
    e.message = "more than 1024 elements";
    e.field = "details.persons";
    r.status = LANTERN__V1__REPLY__STATUS__ERROR;
    r.error = &e;
    r.result_case = LANTERN__V1__REPLY__RESULT__NOT_SET;
    s_reply_out ("error", &r);

    Lantern__V1__ServerMessage sm = LANTERN__V1__SERVER_MESSAGE__INIT;
    Lantern__V1__Reset reset = LANTERN__V1__RESET__INIT;
    reset.first_position = 100;
    reset.last_position = 4242;
    reset.reason = "PRUNED";
    sm.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_RESET;
    sm.reset = &reset;
    s_write_packed ("fuzz_server_message", "reset", &sm.base);

    Lantern__V1__NodeStarted ns = LANTERN__V1__NODE_STARTED__INIT;
    ns.node = "intake-venlo";
    ns.version = "0.1.0";
    ns.service = LANTERN__V1__SERVICE_KIND__SERVICE_KIND_INTAKE;
    s_event_out ("node_started", "nl.lantern.node.started.v1", &ns.base, 1, LN_LEVEL_VERTROUWELIJK,
                 NULL);
    Lantern__V1__Notice notice = LANTERN__V1__NOTICE__INIT;
    notice.text = "Maintenance tonight";
    notice.author = "operator-venlo";
    notice.organisation = "Gemeente Venlo";
    s_event_out ("notice", "nl.lantern.notice.posted.v1", &notice.base, 2, LN_LEVEL_VERTROUWELIJK,
                 NULL);
    Lantern__V1__SignalReceived received = LANTERN__V1__SIGNAL_RECEIVED__INIT;
    received.signal = &s_signal;
    s_event_out ("signal_received", "nl.lantern.signal.received.v1", &received.base, 3,
                 LN_LEVEL_VERTROUWELIJK, s_signal.id);
    Lantern__V1__SignalAmended amended = LANTERN__V1__SIGNAL_AMENDED__INIT;
    amended.signal = &s_signal;
    amended.added = &s_details;
    s_event_out ("signal_amended", "nl.lantern.signal.amended.v1", &amended.base, 4,
                 LN_LEVEL_VERTROUWELIJK, s_signal.id);
    Lantern__V1__SignalWithdrawn withdrawn = LANTERN__V1__SIGNAL_WITHDRAWN__INIT;
    withdrawn.signal = &s_signal;
    withdrawn.reason = "registered twice";
    s_event_out ("node_started-intern", "nl.lantern.node.started.v1", &ns.base, 6, LN_LEVEL_INTERN,
                 "c-1");
    s_event_out ("notice-openbaar", "nl.lantern.notice.posted.v1", &notice.base, 7,
                 LN_LEVEL_OPENBAAR, NULL);
    Lantern__V1__SignalReceived small = LANTERN__V1__SIGNAL_RECEIVED__INIT;
    Lantern__V1__Signal bare = LANTERN__V1__SIGNAL__INIT;
    bare.id = s_signal.id;
    small.signal = &bare;
    s_event_out ("signal_received-bare", "nl.lantern.signal.received.v1", &small.base, 8,
                 LN_LEVEL_GEHEIM, s_signal.id);
    s_event_out ("signal_withdrawn", "nl.lantern.signal.withdrawn.v1", &withdrawn.base, 5,
                 LN_LEVEL_VERTROUWELIJK, s_signal.id);
}

// --------------------------------------------------------------------------
// Plain JSON texts

static void
s_json_texts (void)
{
    static const struct {
        const char *name, *text;
    } texts[] = {
        {"text-scalars", "[0, -0, 1.5e3, -12.25E-2, 9007199254740993, true, false, null]"},
        {"text-strings", "{\"a\": \"\\u00e9\\ud83d\\ude00\\n\\t\\\"\\\\\\/\", \"\": \"\"}"},
        {"text-nested", "{\"a\": [{\"b\": [[[[[[{\"c\": {}}]]]]]]}, []]}"},
        {"text-utf8", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
        {"text-space", " \t\r\n{ \"k\" : [ 1 , 2 ] } \n"},
        {"text-duplicate", "{\"a\": 1, \"a\": 2}"},
        {"ints", "lantern.v1.ListSignals\n{\"page_size\": \"50\", \"received_from_us\": 1e15, "
                 "\"receivedToUs\": \"1764512424000000\", \"status\": 1, \"form\": "
                 "\"EXPLOITATION_FORM_LABOUR\"}"},
        {"bytes", "lantern.v1.Deliver\n{\"position\": \"7\", \"event\": \"AAEC_-8\"}"},
        {"timestamp", "io.cloudevents.v1.CloudEvent.CloudEventAttributeValue\n"
                      "{\"ce_timestamp\": \"2026-11-27T10:00:00.123+02:00\"}"},
        {"map", "io.cloudevents.v1.CloudEvent\n{\"id\": \"e\", \"source\": \"s\", "
                "\"spec_version\": \"1.0\", \"type\": \"t\", \"attributes\": {\"time\": "
                "{\"ce_timestamp\": \"2026-11-27T10:00:00Z\"}, \"sequence\": {\"ce_string\": "
                "\"7\"}}}"},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        s_write ("fuzz_json", texts[i].name, texts[i].text, strlen (texts[i].text));

    /* what the harness found once, kept as seeds: a Timestamp that is the
       message itself; two map keys longer than 511 bytes that differ only
       at their end */
    static const char top_time[] = "google.protobuf.Timestamp\n\"2024-05-01T10:00:00Z\"";
    s_write ("fuzz_json", "found-timestamp", top_time, strlen (top_time));
    char text[2048], key[601];
    memset (key, 'k', 600);
    key[600] = '\0';
    int n = snprintf (text, sizeof text,
                      "io.cloudevents.v1.CloudEvent\n{\"attributes\": {\"%sa\": {\"ce_string\": "
                      "\"1\"}, \"%sb\": {\"ce_integer\": 2}}}",
                      key, key);
    s_write ("fuzz_json", "found-long-keys", text, (size_t)n);
}

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: make_corpus DIR   (make fuzz-corpus)\n");
        return 2;
    }
    s_root = argv[1];
    if (mkdir (s_root, 0755) != 0 && errno != EEXIST) {
        fprintf (stderr, "make_corpus: %s: %s\n", s_root, strerror (errno));
        return 1;
    }
    s_init_samples ();
    s_client_messages ();
    s_server_messages ();
    s_json_texts ();
    s_write_json ("signal", &s_signal.base);
    return s_failed;
}
