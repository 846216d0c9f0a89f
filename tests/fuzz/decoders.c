/*  decoders: see decoders.h.

    Everything here runs once per fuzz input, so it allocates only what the
    decoders under test need and frees it before returning (libFuzzer with
    ASan reports a leak of any input as a crash).
*/
#include "decoders.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevents.pb-c.h"
#include "lantern.pb-c.h"
#include "ln_envelope.h"
#include "ln_json.h"
#include "ln_level.h"
#include "ln_messages.h"
#include "ln_pbcheck.h"
#include "wire.pb-c.h"

#define TYPES_MAX 256

void
fuzz_check (int ok, const char *what)
{
    if (ok)
        return;
    fprintf (stderr, "fuzz: broken promise: %s\n", what);
    abort ();
}

// --------------------------------------------------------------------------
// Message types

typedef struct {
    const ProtobufCMessageDescriptor *list[TYPES_MAX];
    size_t count;
} s_types_t;

static void
s_add_closure (s_types_t *t, const ProtobufCMessageDescriptor *d)
{
    for (size_t i = 0; i < t->count; i++)
        if (t->list[i] == d)
            return;
    fuzz_check (t->count < TYPES_MAX, "more message types than TYPES_MAX");
    t->list[t->count++] = d;
    for (unsigned i = 0; i < d->n_fields; i++)
        if (d->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
            s_add_closure (t, d->fields[i].descriptor);
}

const ProtobufCMessageDescriptor *const *
fuzz_message_types (size_t *count)
{
    static s_types_t types;
    if (types.count == 0) {
        s_add_closure (&types, &lantern__v1__client_message__descriptor);
        s_add_closure (&types, &lantern__v1__server_message__descriptor);
        s_add_closure (&types, &io__cloudevents__v1__cloud_event__descriptor);
        size_t n = 0;
        const ln_event_type_t *events = ln_envelope_types (&n);
        for (size_t i = 0; i < n; i++)
            s_add_closure (&types, events[i].payload);
    }
    *count = types.count;
    return types.list;
}

const ProtobufCMessageDescriptor *
fuzz_message_type (const char *name, size_t len)
{
    size_t n;
    const ProtobufCMessageDescriptor *const *types = fuzz_message_types (&n);
    for (size_t i = 0; i < n; i++)
        if (strlen (types[i]->name) == len && memcmp (types[i]->name, name, len) == 0)
            return types[i];
    return NULL;
}

const ProtobufCMessageDescriptor *const *
fuzz_commands (size_t *count)
{
    static const ProtobufCMessageDescriptor *list[TYPES_MAX];
    static size_t n;
    const ProtobufCMessageDescriptor *req = &lantern__v1__request__descriptor;
    if (n == 0) {
        for (unsigned i = 0; i < req->n_fields && n < TYPES_MAX; i++)
            if ((req->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
                req->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
                list[n++] = req->fields[i].descriptor;
        /* and every lantern.v1 message, as a command that comes as
           Request.call may be any of them (ln_messages.h) */
        size_t all = 0;
        const ProtobufCMessageDescriptor *const *msgs = ln_messages_all (&all);
        for (size_t i = 0; i < all && n < TYPES_MAX; i++)
            list[n++] = msgs[i];
    }
    *count = n;
    return list;
}

// --------------------------------------------------------------------------
// Protobuf

/* An allocator that adds up what protobuf-c asks for, at glibc's
   granularity (as ln_pbcheck estimates it). */
typedef struct {
    size_t chunks;
} s_counter_t;

static void *
s_count_alloc (void *data, size_t size)
{
    s_counter_t *c = data;
    size_t chunk = (size + 8 + 15) / 16 * 16;
    c->chunks += chunk < 32 ? 32 : chunk;
    return malloc (size ? size : 1);
}

static void
s_count_free (void *data, void *p)
{
    (void)data;
    free (p);
}

static uint8_t *
s_pack (const ProtobufCMessage *m, size_t *size)
{
    *size = protobuf_c_message_get_packed_size (m);
    uint8_t *buf = malloc (*size ? *size : 1);
    fuzz_check (buf != NULL, "out of memory");
    fuzz_check (protobuf_c_message_pack (m, buf) == *size, "pack wrote another size");
    return buf;
}

/* a and b pack to the same bytes */
static bool
s_same (const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t na, nb;
    uint8_t *pa = s_pack (a, &na), *pb = s_pack (b, &nb);
    bool same = na == nb && memcmp (pa, pb, na) == 0;
    free (pa);
    free (pb);
    return same;
}

/* No allocation budget: a re-encoded message may be smaller than the
   bytes it came from (duplicates dropped) and still allocate as much. */
static ln_pbcheck_limits_t
s_unbudgeted (void)
{
    ln_pbcheck_limits_t lim = LN_PBCHECK_LIMITS_DEFAULT;
    lim.alloc_base = SIZE_MAX / 2;
    return lim;
}

/* An accepted message, packed, passes the checks and decodes to itself. */
static void
s_repack (const ProtobufCMessage *m)
{
    size_t n;
    uint8_t *buf = s_pack (m, &n);
    ln_pbcheck_limits_t lim = s_unbudgeted ();
    ln_error_t err;
    ProtobufCMessage *again = ln_pbcheck_unpack (m->descriptor, buf, n, &lim, NULL, &err);
    if (!again)
        fprintf (stderr, "fuzz: %s at '%s': %s\n", err.code, err.field, err.message);
    fuzz_check (again != NULL, "an accepted message, re-packed, is refused");
    fuzz_check (s_same (m, again), "an accepted message does not survive pack and unpack");
    protobuf_c_message_free_unpacked (again, NULL);
    free (buf);
}

/* message -> JSON -> message gives the same message. */
static void
s_json_roundtrip (const ProtobufCMessage *m)
{
    char *json = ln_json_from_message (m, false);
    fuzz_check (json != NULL, "ln_json_from_message failed on an accepted message");
    ln_json_limits_t lim = LN_JSON_LIMITS_DEFAULT;
    lim.max_size = SIZE_MAX / 2;
    lim.pb = s_unbudgeted ();
    ln_error_t err;
    ProtobufCMessage *back =
        ln_json_to_message_with (m->descriptor, json, strlen (json), &lim, NULL, &err);
    if (!back)
        fprintf (stderr, "fuzz: %s at '%s': %s\nfuzz: JSON: %.2000s\n", err.code, err.field,
                 err.message, json);
    fuzz_check (back != NULL, "the JSON of an accepted message is refused");
    if (!s_same (m, back))
        fprintf (stderr, "fuzz: JSON: %.2000s\n", json);
    fuzz_check (s_same (m, back), "message -> JSON -> message changes the message");
    protobuf_c_message_free_unpacked (back, NULL);
    free (json);
}

static void
s_check_error (const ln_error_t *err, const char *prefix1, const char *prefix2)
{
    fuzz_check (err->code != NULL, "a refusal without a code");
    fuzz_check (strncmp (err->code, prefix1, strlen (prefix1)) == 0 ||
                    (prefix2 && strncmp (err->code, prefix2, strlen (prefix2)) == 0),
                "a refusal with a code of another module");
    fuzz_check (strnlen (err->field, sizeof err->field) < sizeof err->field, "unbounded field");
    fuzz_check (strnlen (err->message, sizeof err->message) < sizeof err->message,
                "unbounded message");
}

ProtobufCMessage *
fuzz_protobuf (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
    ln_error_t wire_err;
    ln_error_clear (&wire_err);
    bool wire_ok = ln_pbcheck_wire (desc, data, size, NULL, NULL, &wire_err) == 0;
    size_t estimate = ln_pbcheck_alloc_estimate (desc, data, size, NULL);
    fuzz_check (!wire_ok || estimate != SIZE_MAX, "the wire pass accepts what it cannot estimate");
    fuzz_check (wire_ok || estimate == SIZE_MAX || strcmp (wire_err.code, "PB_TOO_BIG") == 0,
                "the wire pass refuses, but for the budget, what it can estimate");
    if (estimate != SIZE_MAX) {
        /* The wire pass vouches for these bytes but for their cost: what
           protobuf-c really allocates stays within the estimate, and its
           result has no count the wire pass did not see. */
        s_counter_t c = {0};
        ProtobufCAllocator counting = {s_count_alloc, s_count_free, &c};
        ProtobufCMessage *raw = protobuf_c_message_unpack (desc, &counting, size, data);
        if (c.chunks > estimate)
            fprintf (stderr, "fuzz: %s: protobuf-c took %zu bytes, estimate %zu\n", desc->name,
                     c.chunks, estimate);
        fuzz_check (c.chunks <= estimate, "protobuf-c allocated more than the estimate");
        if (raw) {
            ln_error_t e;
            ln_error_clear (&e);
            if (ln_pbcheck_message (raw, NULL, NULL, &e) != 0)
                fuzz_check (strcmp (e.code, "PB_TOO_MANY") != 0,
                            "the message pass found a count the wire pass missed");
            protobuf_c_message_free_unpacked (raw, &counting);
        }
    }

    ln_error_t err;
    ln_error_clear (&err);
    ProtobufCMessage *m = ln_pbcheck_unpack (desc, data, size, NULL, NULL, &err);
    if (!m) {
        s_check_error (&err, "PB_", NULL);
        return NULL;
    }
    fuzz_check (wire_ok, "unpack accepts what the wire pass refuses");
    fuzz_check (m->descriptor == desc, "a message of another type");
    fuzz_check (ln_pbcheck_message (m, NULL, NULL, NULL) == 0, "the message pass changed its mind");
    s_repack (m);
    s_json_roundtrip (m);
    return m;
}

// --------------------------------------------------------------------------
// The node's side

void
fuzz_client_message (const uint8_t *data, size_t size)
{
    ProtobufCMessage *m = fuzz_protobuf (&lantern__v1__client_message__descriptor, data, size);
    if (m) {
        /* a command named by its message (Request.call): the node decodes
           the Any's bytes as the message its type_url names, when it
           serves that command; here, whatever lantern.v1 message it is */
        const Lantern__V1__ClientMessage *cm = (const Lantern__V1__ClientMessage *)m;
        if (cm->kind_case == LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST && cm->request &&
            cm->request->command_case == LANTERN__V1__REQUEST__COMMAND_CALL && cm->request->call) {
            const ProtobufCMessageDescriptor *d =
                ln_messages_find_url (cm->request->call->type_url);
            ProtobufCMessage *c =
                d ? fuzz_protobuf (d, cm->request->call->value.data, cm->request->call->value.len)
                  : NULL;
            if (c)
                protobuf_c_message_free_unpacked (c, NULL);
        }
        protobuf_c_message_free_unpacked (m, NULL);
        return;
    }
    /* refused: ln_server still reads the request_id, to answer under it,
       and looks for the command it was meant to be, for the audit */
    static const uint32_t rid_path[2] = {1, 1};
    char rid[65];
    if (ln_pbcheck_find_id (data, size, rid_path, 2, rid, sizeof rid) == 0) {
        size_t n = strnlen (rid, sizeof rid);
        fuzz_check (n >= 1 && n < sizeof rid, "find_id: an id of a bad length");
        for (size_t i = 0; i < n; i++)
            fuzz_check (
                strchr ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-",
                        rid[i]) != NULL,
                "find_id: a character outside [A-Za-z0-9._:-]");
    }
    const ProtobufCMessageDescriptor *req = &lantern__v1__request__descriptor;
    for (unsigned i = 0; i < req->n_fields; i++) {
        if (!(req->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
            continue;
        const uint32_t path[2] = {1, req->fields[i].id};
        const uint8_t *v = NULL;
        size_t vlen = 0;
        if (ln_pbcheck_find_field (data, size, path, 2, &v, &vlen) == 0)
            fuzz_check (v >= data && vlen <= size && (size_t)(v - data) <= size - vlen,
                        "find_field: a value outside the input");
    }
}

void
fuzz_command (uint8_t selector, const uint8_t *data, size_t size)
{
    size_t n;
    const ProtobufCMessageDescriptor *const *commands = fuzz_commands (&n);
    if (n == 0)
        return;
    ProtobufCMessage *m = fuzz_protobuf (commands[selector % n], data, size);
    if (m)
        protobuf_c_message_free_unpacked (m, NULL);
}

// --------------------------------------------------------------------------
// The client's and consumer's side

void
fuzz_server_message (const uint8_t *data, size_t size)
{
    ProtobufCMessage *m = fuzz_protobuf (&lantern__v1__server_message__descriptor, data, size);
    if (!m)
        return;
    const Lantern__V1__ServerMessage *sm = (const Lantern__V1__ServerMessage *)m;
    if (sm->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER && sm->deliver)
        fuzz_envelope (sm->deliver->event.data, sm->deliver->event.len);
    protobuf_c_message_free_unpacked (m, NULL);
}

/* What lanternctl events tail prints of an event: its payload and every
   attribute's value as JSON. */
static void
s_event_json (const ln_event_t *ev)
{
    json_object *data = ln_json_object_from_message (ln_event_payload (ev));
    fuzz_check (data != NULL, "an accepted payload has no JSON");
    char *line = ln_json_to_string (data, false);
    fuzz_check (line != NULL, "no JSON text");
    free (line);
    json_object_put (data);
    const Io__Cloudevents__V1__CloudEvent *ce = ln_event_cloudevent (ev);
    for (size_t i = 0; i < ce->n_attributes; i++) {
        const Io__Cloudevents__V1__CloudEvent__AttributesEntry *a = ce->attributes[i];
        if (!a || !a->value)
            continue;
        json_object *holder = ln_json_object_from_message (&a->value->base);
        fuzz_check (holder != NULL, "an accepted attribute has no JSON");
        json_object_put (holder);
    }
}

void
fuzz_envelope (const uint8_t *data, size_t size)
{
    ln_error_t err;
    ln_error_clear (&err);
    ln_event_t *ev = ln_envelope_parse (data, size, &err);
    if (!ev) {
        s_check_error (&err, "EVENT_", "PB_");
        return;
    }
    const ln_event_type_t *t = ln_envelope_type_lookup (ln_event_type (ev));
    fuzz_check (t != NULL, "an event of an unknown type");
    fuzz_check (ln_event_payload (ev)->descriptor == t->payload, "a payload of another type");
    fuzz_check (ln_envelope_node_valid (ln_event_node (ev)), "a bad node name");
    fuzz_check (ln_level_name (ln_event_level (ev)) != NULL, "a bad level");
    fuzz_check (ln_event_time_ms (ev) >= 946684800000LL, "a time before 2000");
    fuzz_check (ln_pbcheck_message (ln_event_payload (ev), NULL, NULL, NULL) == 0,
                "a payload that fails the message pass");
    fuzz_check (ln_pbcheck_message (&ln_event_cloudevent (ev)->base, NULL, NULL, NULL) == 0,
                "a CloudEvent that fails the message pass");
    s_event_json (ev);
    ln_event_destroy (&ev);
    fuzz_check (ev == NULL, "ln_event_destroy left the pointer");
}

// --------------------------------------------------------------------------
// JSON

void
fuzz_json_text (const uint8_t *data, size_t size)
{
    ln_error_t err;
    ln_error_clear (&err);
    json_object *obj = ln_json_parse ((const char *)data, size, NULL, NULL, &err);
    if (!obj) {
        if (err.code) /* NULL: the text "null" */
            s_check_error (&err, "JSON_", NULL);
        return;
    }
    char *text = ln_json_to_string (obj, false);
    fuzz_check (text != NULL, "accepted JSON does not print");
    json_object *again = ln_json_parse (text, strlen (text), NULL, NULL, &err);
    if (!again)
        fprintf (stderr, "fuzz: %s: %s\nfuzz: printed: %.2000s\n", err.code, err.message, text);
    fuzz_check (again != NULL, "printed JSON is refused by our parser");
    fuzz_check (json_object_equal (obj, again), "JSON printed and parsed again differs");
    json_object_put (again);
    json_object_put (obj);
    free (text);
}

void
fuzz_json_message (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size)
{
    /* lanternctl hands ln_json a NUL-terminated buffer with its length */
    char *text = malloc (size + 1);
    fuzz_check (text != NULL, "out of memory");
    if (size)
        memcpy (text, data, size);
    text[size] = '\0';
    ln_error_t err;
    ln_error_clear (&err);
    ProtobufCMessage *m = ln_json_to_message_with (desc, text, size, NULL, NULL, &err);
    if (!m) {
        s_check_error (&err, "JSON_", "PB_");
        free (text);
        return;
    }
    fuzz_check (m->descriptor == desc, "a message of another type");
    fuzz_check (ln_pbcheck_message (m, NULL, NULL, NULL) == 0, "JSON gave a message that fails");
    s_repack (m);
    s_json_roundtrip (m);
    protobuf_c_message_free_unpacked (m, NULL);
    free (text);
}
