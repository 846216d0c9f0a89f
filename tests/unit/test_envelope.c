/*  test_envelope: building and parsing Lantern CloudEvents (ln_envelope).

    The parser is fed every kind of hostile input docs/architecture.md names: random
    bytes, every truncation and bit flip of a valid event, oversized events,
    deep nesting, invalid UTF-8 (bad encodings, NULs, control characters) in
    every string field, unknown types and fields, type_url mismatches,
    duplicate attributes, enum values out of range, missing or malformed
    attributes.  Each must be refused with the expected code and field, and
    nothing may crash or leak (this suite also runs under ASan + UBSan).

    Hostile events are made with protobuf-c's packer from a test-side
    description (s_spec_*), which writes whatever strings it is given, and
    patched afterwards where protobuf-c cannot write something (NULs).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cloudevents.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "lantern.pb-c.h"
#include "ln_envelope.h"

#define T_SECONDS 1764412424LL /* 2025-11-29 */
#define T_MS      (T_SECONDS * 1000 + 123)

// --------------------------------------------------------------------------
// Helpers

typedef struct {
    uint8_t *data;
    size_t len;
} bytes_t;

/* A valid event made by ln_envelope_build. */
static bytes_t
s_valid_event (const char *cid)
{
    Lantern__V1__NodeStarted ns = LANTERN__V1__NODE_STARTED__INIT;
    ns.node = "intake-venlo";
    ns.version = "0.1.0";
    ns.service = LANTERN__V1__SERVICE_KIND__SERVICE_KIND_INTAKE;
    ln_event_fields_t f = {
        .source = "urn:lantern:node:intake-venlo",
        .id = "evt-1",
        .type = "nl.lantern.node.started.v1",
        .time_ms = T_MS,
        .sequence = 42,
        .level = LN_LEVEL_VERTROUWELIJK,
        .correlationid = cid,
        .payload = &ns.base,
    };
    bytes_t b = {0};
    ln_error_t err;
    b.data = ln_envelope_build (&f, &b.len, &err);
    if (!b.data)
        print_message ("build: %s %s %s\n", err.code, err.field, err.message);
    assert_non_null (b.data);
    return b;
}

/* Everything an accepted event must satisfy, whatever bytes it came from. */
static void
s_check_invariants (const ln_event_t *ev)
{
    const ln_event_type_t *t = ln_envelope_type_lookup (ln_event_type (ev));
    assert_non_null (t);
    assert_ptr_equal (ln_event_payload (ev)->descriptor, t->payload);
    assert_true (ln_envelope_node_valid (ln_event_node (ev)));
    assert_true (strncmp (ln_event_source (ev), LN_ENVELOPE_SOURCE_PREFIX,
                          strlen (LN_ENVELOPE_SOURCE_PREFIX)) == 0);
    assert_true (strlen (ln_event_id (ev)) >= 1 && strlen (ln_event_id (ev)) <= 128);
    assert_non_null (ln_level_name (ln_event_level (ev)));
    assert_true (ln_event_time_ms (ev) >= 946684800000LL);
    assert_int_equal (ln_pbcheck_message (ln_event_payload (ev), NULL, NULL, NULL), 0);
    assert_int_equal (ln_pbcheck_message (&ln_event_cloudevent (ev)->base, NULL, NULL, NULL), 0);
}

/* Parse; expect failure with `code` at `field`. */
static void
s_expect (const uint8_t *data, size_t len, const char *code, const char *field)
{
    ln_error_t err;
    ln_error_clear (&err);
    ln_event_t *ev = ln_envelope_parse (data, len, &err);
    if (ev) {
        print_message ("accepted; expected %s at '%s'\n", code, field);
        ln_event_destroy (&ev);
        fail ();
    }
    assert_non_null (err.code);
    if (strcmp (err.code, code) != 0 || strcmp (err.field, field) != 0)
        print_message ("got %s at '%s' (%s); expected %s at '%s'\n", err.code, err.field,
                       err.message, code, field);
    assert_string_equal (err.code, code);
    assert_string_equal (err.field, field);
    assert_true (err.message[0] != '\0');
}

/* Parse; whatever comes back must be an error or a fully valid event. */
static void
s_survive (const uint8_t *data, size_t len)
{
    ln_error_t err;
    ln_error_clear (&err);
    ln_event_t *ev = ln_envelope_parse (data, len, &err);
    if (ev) {
        s_check_invariants (ev);
        ln_event_destroy (&ev);
        assert_null (ev);
    }
    else {
        assert_non_null (err.code);
        assert_true (strncmp (err.code, "EVENT_", 6) == 0 || strncmp (err.code, "PB_", 3) == 0);
    }
}

// --------------------------------------------------------------------------
// A test-side description of a CloudEvent, packed by protobuf-c

enum { K_STRING, K_URI, K_URI_REF, K_TIME, K_BOOL, K_INT, K_BYTES, K_NOT_SET, K_NO_VALUE };
enum { D_PROTO, D_TEXT, D_BINARY, D_NONE, D_PROTO_NULL };

typedef struct {
    const char *key;
    int kind;
    const char *s;
    int64_t seconds;
    int32_t nanos;
} attr_t;

typedef struct {
    const char *id, *source, *spec_version, *type;
    attr_t attrs[24];
    size_t n_attrs;
    int data;
    const char *type_url;
    uint8_t payload[1024];
    size_t payload_len;
} spec_t;

static void
s_spec_payload (spec_t *s, const char *node, const char *version, int service)
{
    Lantern__V1__NodeStarted ns = LANTERN__V1__NODE_STARTED__INIT;
    ns.node = (char *)node;
    ns.version = (char *)version;
    ns.service = service;
    s->payload_len = lantern__v1__node_started__pack (&ns, s->payload);
}

static void
s_spec_default (spec_t *s)
{
    memset (s, 0, sizeof *s);
    s->id = "evt-1";
    s->source = "urn:lantern:node:intake-venlo";
    s->spec_version = "1.0";
    s->type = "nl.lantern.node.started.v1";
    s->attrs[s->n_attrs++] = (attr_t){"time", K_TIME, NULL, T_SECONDS, 123000000};
    s->attrs[s->n_attrs++] = (attr_t){"sequence", K_STRING, "00000000000000000042", 0, 0};
    s->attrs[s->n_attrs++] = (attr_t){"dataclassification", K_STRING, "vertrouwelijk", 0, 0};
    s->attrs[s->n_attrs++] = (attr_t){"correlationid", K_STRING, "sig-7", 0, 0};
    s->attrs[s->n_attrs++] = (attr_t){"datacontenttype", K_STRING, "application/protobuf", 0, 0};
    s->attrs[s->n_attrs++] =
        (attr_t){"dataschema", K_URI, "type.googleapis.com/lantern.v1.NodeStarted", 0, 0};
    s->data = D_PROTO;
    s->type_url = "type.googleapis.com/lantern.v1.NodeStarted";
    s_spec_payload (s, "intake-venlo", "0.1.0", LANTERN__V1__SERVICE_KIND__SERVICE_KIND_INTAKE);
}

static attr_t *
s_spec_attr (spec_t *s, const char *key)
{
    for (size_t i = 0; i < s->n_attrs; i++)
        if (strcmp (s->attrs[i].key, key) == 0)
            return &s->attrs[i];
    fail_msg ("no attribute %s", key);
    return NULL;
}

static void
s_spec_remove (spec_t *s, const char *key)
{
    attr_t *a = s_spec_attr (s, key);
    size_t i = (size_t)(a - s->attrs);
    memmove (&s->attrs[i], &s->attrs[i + 1], (s->n_attrs - i - 1) * sizeof *a);
    s->n_attrs--;
}

/* Pack; the caller frees .data. */
static bytes_t
s_spec_pack (const spec_t *s)
{
    Io__Cloudevents__V1__CloudEvent ce;
    io__cloudevents__v1__cloud_event__init (&ce);
    Io__Cloudevents__V1__CloudEvent__AttributesEntry entries[24], *eptr[24];
    Io__Cloudevents__V1__CloudEvent__CloudEventAttributeValue values[24];
    Google__Protobuf__Timestamp ts[24];
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;

    ce.id = (char *)s->id;
    ce.source = (char *)s->source;
    ce.spec_version = (char *)s->spec_version;
    ce.type = (char *)s->type;
    for (size_t i = 0; i < s->n_attrs; i++) {
        const attr_t *a = &s->attrs[i];
        io__cloudevents__v1__cloud_event__attributes_entry__init (&entries[i]);
        io__cloudevents__v1__cloud_event__cloud_event_attribute_value__init (&values[i]);
        google__protobuf__timestamp__init (&ts[i]);
        entries[i].key = (char *)a->key;
        entries[i].value = a->kind == K_NO_VALUE ? NULL : &values[i];
        Io__Cloudevents__V1__CloudEvent__CloudEventAttributeValue *v = &values[i];
        switch (a->kind) {
        case K_STRING:
            v->attr_case =
                IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_STRING;
            v->ce_string = (char *)a->s;
            break;
        case K_URI:
            v->attr_case =
                IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_URI;
            v->ce_uri = (char *)a->s;
            break;
        case K_URI_REF:
            v->attr_case =
                IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_URI_REF;
            v->ce_uri_ref = (char *)a->s;
            break;
        case K_TIME:
            v->attr_case =
                IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_TIMESTAMP;
            ts[i].seconds = a->seconds;
            ts[i].nanos = a->nanos;
            v->ce_timestamp = &ts[i];
            break;
        case K_BOOL:
            v->attr_case =
                IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_BOOLEAN;
            v->ce_boolean = 1;
            break;
        case K_INT:
            v->attr_case =
                IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_INTEGER;
            v->ce_integer = 7;
            break;
        case K_BYTES:
            v->attr_case =
                IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_BYTES;
            v->ce_bytes.data = (uint8_t *)a->s;
            v->ce_bytes.len = strlen (a->s);
            break;
        default:
            break;
        }
        eptr[i] = &entries[i];
    }
    ce.n_attributes = s->n_attrs;
    ce.attributes = eptr;
    switch (s->data) {
    case D_PROTO:
        any.type_url = (char *)s->type_url;
        any.value.data = (uint8_t *)s->payload;
        any.value.len = s->payload_len;
        ce.data_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_PROTO_DATA;
        ce.proto_data = &any;
        break;
    case D_TEXT:
        ce.data_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_TEXT_DATA;
        ce.text_data = "hello";
        break;
    case D_BINARY:
        ce.data_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_BINARY_DATA;
        ce.binary_data.data = (uint8_t *)"hello";
        ce.binary_data.len = 5;
        break;
    default:
        break;
    }
    bytes_t b;
    b.len = io__cloudevents__v1__cloud_event__get_packed_size (&ce);
    b.data = malloc (b.len + 1);
    assert_non_null (b.data);
    io__cloudevents__v1__cloud_event__pack (&ce, b.data);
    return b;
}

/* Replace the first occurrence of `marker` in b by the same number of
   bytes from `with` (which may hold NULs). */
static void
s_patch (bytes_t *b, const char *marker, const char *with)
{
    size_t n = strlen (marker);
    uint8_t *at = memmem (b->data, b->len, marker, n);
    assert_non_null (at);
    memcpy (at, with, n);
}

/* Append raw bytes (an extra field at the end of the message). */
static void
s_append (bytes_t *b, const void *extra, size_t n)
{
    b->data = realloc (b->data, b->len + n);
    assert_non_null (b->data);
    memcpy (b->data + b->len, extra, n);
    b->len += n;
}

static void
s_spec_expect (const spec_t *s, const char *code, const char *field)
{
    bytes_t b = s_spec_pack (s);
    s_expect (b.data, b.len, code, field);
    free (b.data);
}

// --------------------------------------------------------------------------
// Building and round trips

static void
test_round_trip (void **state)
{
    (void)state;
    bytes_t b = s_valid_event ("sig-42");
    ln_error_t err;
    ln_event_t *ev = ln_envelope_parse (b.data, b.len, &err);
    if (!ev)
        print_message ("%s %s %s\n", err.code, err.field, err.message);
    assert_non_null (ev);
    assert_string_equal (ln_event_id (ev), "evt-1");
    assert_string_equal (ln_event_source (ev), "urn:lantern:node:intake-venlo");
    assert_string_equal (ln_event_node (ev), "intake-venlo");
    assert_string_equal (ln_event_type (ev), "nl.lantern.node.started.v1");
    assert_int_equal (ln_event_time_ms (ev), T_MS);
    assert_int_equal (ln_event_sequence (ev), 42);
    assert_int_equal (ln_event_level (ev), LN_LEVEL_VERTROUWELIJK);
    assert_string_equal (ln_event_correlationid (ev), "sig-42");
    const Lantern__V1__NodeStarted *ns = (const Lantern__V1__NodeStarted *)ln_event_payload (ev);
    assert_ptr_equal (ns->base.descriptor, &lantern__v1__node_started__descriptor);
    assert_string_equal (ns->node, "intake-venlo");
    assert_string_equal (ns->version, "0.1.0");
    assert_int_equal (ns->service, LANTERN__V1__SERVICE_KIND__SERVICE_KIND_INTAKE);
    s_check_invariants (ev);
    ln_event_destroy (&ev);
    assert_null (ev);
    ln_event_destroy (&ev); /* NULL-safe */
    ln_event_destroy (NULL);
    free (b.data);

    /* no correlationid: no attribute */
    b = s_valid_event (NULL);
    ev = ln_envelope_parse (b.data, b.len, &err);
    assert_non_null (ev);
    assert_null (ln_event_correlationid (ev));
    assert_int_equal (ln_event_cloudevent (ev)->n_attributes, 5);
    ln_event_destroy (&ev);
    free (b.data);
    b = s_valid_event ("");
    ev = ln_envelope_parse (b.data, b.len, &err);
    assert_non_null (ev);
    assert_null (ln_event_correlationid (ev));
    ln_event_destroy (&ev);
    free (b.data);
}

/* What another CloudEvents SDK sees: plain protobuf-c decoding. */
static void
test_wire_form (void **state)
{
    (void)state;
    bytes_t b = s_valid_event ("sig-42");
    Io__Cloudevents__V1__CloudEvent *ce =
        io__cloudevents__v1__cloud_event__unpack (NULL, b.len, b.data);
    assert_non_null (ce);
    assert_string_equal (ce->spec_version, "1.0");
    assert_int_equal (ce->data_case, IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_PROTO_DATA);
    assert_string_equal (ce->proto_data->type_url, "type.googleapis.com/lantern.v1.NodeStarted");
    int seen = 0;
    for (size_t i = 0; i < ce->n_attributes; i++) {
        const char *k = ce->attributes[i]->key;
        const Io__Cloudevents__V1__CloudEvent__CloudEventAttributeValue *v =
            ce->attributes[i]->value;
        if (strcmp (k, "sequence") == 0) {
            assert_string_equal (v->ce_string, "00000000000000000042");
            seen |= 1;
        }
        else if (strcmp (k, "time") == 0) {
            assert_int_equal (v->ce_timestamp->seconds, T_SECONDS);
            assert_int_equal (v->ce_timestamp->nanos, 123000000);
            seen |= 2;
        }
        else if (strcmp (k, "dataclassification") == 0) {
            assert_string_equal (v->ce_string, "vertrouwelijk");
            seen |= 4;
        }
        else if (strcmp (k, "datacontenttype") == 0) {
            assert_string_equal (v->ce_string, "application/protobuf");
            seen |= 8;
        }
        else if (strcmp (k, "dataschema") == 0) {
            assert_int_equal (
                v->attr_case,
                IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_URI);
            assert_string_equal (v->ce_uri, "type.googleapis.com/lantern.v1.NodeStarted");
            seen |= 16;
        }
        else if (strcmp (k, "correlationid") == 0) {
            assert_string_equal (v->ce_string, "sig-42");
            seen |= 32;
        }
    }
    assert_int_equal (seen, 63);
    io__cloudevents__v1__cloud_event__free_unpacked (ce, NULL);
    free (b.data);

    /* and an event written by "another SDK": attributes in another order,
       no datacontenttype/dataschema, extension attributes of every kind */
    spec_t s;
    s_spec_default (&s);
    s_spec_remove (&s, "datacontenttype");
    s_spec_remove (&s, "dataschema");
    attr_t first = s.attrs[0];
    s.attrs[0] = s.attrs[2];
    s.attrs[2] = first;
    s.attrs[s.n_attrs++] = (attr_t){"subject", K_STRING, "anything", 0, 0};
    s.attrs[s.n_attrs++] = (attr_t){"extbool", K_BOOL, NULL, 0, 0};
    s.attrs[s.n_attrs++] = (attr_t){"extint", K_INT, NULL, 0, 0};
    s.attrs[s.n_attrs++] = (attr_t){"extbytes", K_BYTES, "\x01\x02", 0, 0};
    s.attrs[s.n_attrs++] = (attr_t){"exturiref", K_URI_REF, "/a/b", 0, 0};
    s.attrs[s.n_attrs++] = (attr_t){"extts", K_TIME, NULL, 0, 0};
    b = s_spec_pack (&s);
    ln_error_t err;
    ln_event_t *ev = ln_envelope_parse (b.data, b.len, &err);
    if (!ev)
        print_message ("%s %s %s\n", err.code, err.field, err.message);
    assert_non_null (ev);
    assert_int_equal (ln_event_time_ms (ev), T_MS);
    assert_string_equal (ln_event_correlationid (ev), "sig-7");
    ln_event_destroy (&ev);
    free (b.data);
}

static void
test_build_values (void **state)
{
    (void)state;
    Lantern__V1__NodeStarted ns = LANTERN__V1__NODE_STARTED__INIT;
    ns.node = "care";
    ln_event_fields_t f = {
        .source = "urn:lantern:node:care",
        .type = "nl.lantern.node.started.v1",
        .time_ms = 253402300799999LL, /* the last millisecond of 9999 */
        .sequence = UINT64_MAX,
        .level = LN_LEVEL_ZEER_GEHEIM,
        .payload = &ns.base,
    };
    ln_error_t err;
    size_t n1, n2;
    uint8_t *b1 = ln_envelope_build (&f, &n1, &err);
    uint8_t *b2 = ln_envelope_build (&f, &n2, &err);
    assert_non_null (b1);
    assert_non_null (b2);
    ln_event_t *e1 = ln_envelope_parse (b1, n1, &err);
    ln_event_t *e2 = ln_envelope_parse (b2, n2, &err);
    assert_non_null (e1);
    assert_non_null (e2);
    /* random ids: 128 bits as 32 hex digits, different each time */
    assert_int_equal (strlen (ln_event_id (e1)), 32);
    assert_int_equal (strspn (ln_event_id (e1), "0123456789abcdef"), 32);
    assert_string_not_equal (ln_event_id (e1), ln_event_id (e2));
    assert_int_equal (ln_event_sequence (e1), UINT64_MAX);
    assert_int_equal (ln_event_time_ms (e1), 253402300799999LL);
    assert_int_equal (ln_event_level (e1), LN_LEVEL_ZEER_GEHEIM);
    ln_event_destroy (&e1);
    ln_event_destroy (&e2);
    free (b1);
    free (b2);

    /* every level, and the smallest time and sequence */
    for (int l = 0; l < LN_LEVEL_COUNT; l++) {
        f.level = (ln_level_t)l;
        f.sequence = 0;
        f.time_ms = 946684800000LL;
        b1 = ln_envelope_build (&f, &n1, &err);
        assert_non_null (b1);
        e1 = ln_envelope_parse (b1, n1, &err);
        assert_non_null (e1);
        assert_int_equal (ln_event_level (e1), l);
        assert_int_equal (ln_event_sequence (e1), 0);
        assert_int_equal (ln_event_time_ms (e1), 946684800000LL);
        ln_event_destroy (&e1);
        free (b1);
    }
}

static void
s_build_expect (const ln_event_fields_t *f, const char *code, const char *field)
{
    ln_error_t err;
    ln_error_clear (&err);
    size_t n = 0;
    uint8_t *b = ln_envelope_build (f, &n, &err);
    if (b)
        free (b);
    assert_null (b);
    if (strcmp (err.code, code) != 0 || strcmp (err.field, field) != 0)
        print_message ("got %s at '%s' (%s); expected %s at '%s'\n", err.code, err.field,
                       err.message, code, field);
    assert_string_equal (err.code, code);
    assert_string_equal (err.field, field);
}

static void
test_build_refuses (void **state)
{
    (void)state;
    Lantern__V1__NodeStarted ns = LANTERN__V1__NODE_STARTED__INIT;
    ns.node = "care";
    Google__Protobuf__Timestamp other = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    const ln_event_fields_t good = {
        .source = "urn:lantern:node:care",
        .type = "nl.lantern.node.started.v1",
        .time_ms = T_MS,
        .level = LN_LEVEL_INTERN,
        .payload = &ns.base,
    };
    ln_event_fields_t f;
    size_t n;
    ln_error_t err;

    assert_null (ln_envelope_build (NULL, &n, &err));
    assert_string_equal (err.code, "EVENT_MISSING");
    assert_null (ln_envelope_build (&good, NULL, &err));

    f = good, f.source = NULL;
    s_build_expect (&f, "EVENT_MISSING", "source");
    f = good, f.source = "urn:lantern:node:Care";
    s_build_expect (&f, "EVENT_BAD_ATTRIBUTE", "source");
    f = good, f.id = "two words";
    s_build_expect (&f, "EVENT_BAD_ATTRIBUTE", "id");
    f = good, f.id = "";
    s_build_expect (&f, "EVENT_BAD_ATTRIBUTE", "id");
    f = good, f.type = "nl.lantern.node.exploded.v1";
    s_build_expect (&f, "EVENT_UNKNOWN_TYPE", "type");
    f = good, f.type = NULL;
    s_build_expect (&f, "EVENT_UNKNOWN_TYPE", "type");
    f = good, f.payload = NULL;
    s_build_expect (&f, "EVENT_MISSING", "payload");
    f = good, f.payload = &other.base;
    s_build_expect (&f, "EVENT_TYPE_MISMATCH", "payload");
    f = good, f.time_ms = 0;
    s_build_expect (&f, "EVENT_BAD_ATTRIBUTE", "attributes[\"time\"]");
    f = good, f.time_ms = 253402300800000LL;
    s_build_expect (&f, "EVENT_BAD_ATTRIBUTE", "attributes[\"time\"]");
    f = good, f.level = (ln_level_t)8;
    s_build_expect (&f, "EVENT_BAD_ATTRIBUTE", "attributes[\"dataclassification\"]");
    f = good, f.correlationid = "tab\there";
    s_build_expect (&f, "EVENT_BAD_ATTRIBUTE", "attributes[\"correlationid\"]");

    /* the payload is checked like an incoming one */
    f = good;
    ns.version = "\xc0\xae";
    s_build_expect (&f, "PB_INVALID_UTF8", "data.version");
    ns.version = "";
    ns.service = 99;
    s_build_expect (&f, "PB_BAD_ENUM", "data.service");
    ns.service = 0;
    /* a payload's strings are bounded by the event's size, not by the 8 KiB
       of attributes: a long text (a signal's account) goes; past the event's
       limit nothing goes */
    char *big = malloc (768 * 1024 + 2);
    memset (big, 'a', 9999);
    big[9999] = '\0';
    ns.node = big;
    size_t built_size = 0;
    ln_error_t e2;
    uint8_t *built = ln_envelope_build (&f, &built_size, &e2);
    assert_non_null (built);
    free (built);
    memset (big, 'a', 768 * 1024 + 1);
    big[768 * 1024 + 1] = '\0';
    s_build_expect (&f, "PB_TOO_LONG", "data.node");
    free (big);
}

// --------------------------------------------------------------------------
// Hostile input: raw bytes

static uint32_t
s_rand (uint32_t *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return *seed >> 8;
}

static void
test_random_bytes (void **state)
{
    (void)state;
    uint8_t buf[700];
    for (uint32_t seed0 = 1; seed0 <= 4000; seed0++) {
        uint32_t seed = seed0;
        size_t len = s_rand (&seed) % sizeof buf;
        for (size_t i = 0; i < len; i++)
            buf[i] = (uint8_t)s_rand (&seed);
        /* half of them start like a CloudEvent (field 1, a string) so that
           the parser gets past the first byte */
        if (seed0 % 2 == 0 && len > 2) {
            buf[0] = 0x0a;
            buf[1] = (uint8_t)(len / 4);
        }
        s_survive (buf, len);
    }
    /* and a few lengths of nothing */
    s_expect (NULL, 0, "EVENT_MISSING", "spec_version");
    s_expect ((const uint8_t *)"", 0, "EVENT_MISSING", "spec_version");
    s_expect (NULL, 10, "EVENT_DECODE", "");
}

static void
test_truncations (void **state)
{
    (void)state;
    bytes_t b = s_valid_event ("sig-1");
    for (size_t len = 0; len < b.len; len++) {
        /* an exact-size copy, so that ASan sees any read past the end */
        uint8_t *copy = malloc (len ? len : 1);
        memcpy (copy, b.data, len);
        ln_error_t err;
        ln_error_clear (&err);
        ln_event_t *ev = ln_envelope_parse (copy, len, &err);
        if (ev)
            print_message ("prefix of %zu bytes accepted\n", len);
        assert_null (ev);
        assert_non_null (err.code);
        free (copy);
    }
    s_survive (b.data, b.len);
    free (b.data);
}

static void
test_bit_flips (void **state)
{
    (void)state;
    bytes_t b = s_valid_event ("sig-1");
    uint8_t *copy = malloc (b.len);
    /* every bit of every byte */
    for (size_t i = 0; i < b.len; i++)
        for (int bit = 0; bit < 8; bit++) {
            memcpy (copy, b.data, b.len);
            copy[i] ^= (uint8_t)(1u << bit);
            s_survive (copy, b.len);
        }
    /* every byte set to the values that matter to protobuf */
    const uint8_t special[] = {0x00, 0x7f, 0x80, 0xff};
    for (size_t i = 0; i < b.len; i++)
        for (size_t k = 0; k < sizeof special; k++) {
            memcpy (copy, b.data, b.len);
            copy[i] = special[k];
            s_survive (copy, b.len);
        }
    /* several flips at once */
    uint32_t seed = 99;
    for (int round = 0; round < 3000; round++) {
        memcpy (copy, b.data, b.len);
        int flips = 2 + round % 6;
        for (int k = 0; k < flips; k++) {
            uint32_t r = s_rand (&seed);
            copy[r % b.len] ^= (uint8_t)(1u << ((r >> 16) % 8));
        }
        s_survive (copy, b.len);
    }
    free (copy);
    free (b.data);
}

static void
test_oversized (void **state)
{
    (void)state;
    /* refused before decoding: these bytes would not even decode */
    size_t big = 768 * 1024 + 1;
    uint8_t *junk = malloc (big);
    memset (junk, 0xff, big);
    s_expect (junk, big, "EVENT_TOO_LARGE", "");
    s_expect (junk, SIZE_MAX, "EVENT_TOO_LARGE", ""); /* never read */
    free (junk);

    /* the limit is configurable, and exact */
    bytes_t b = s_valid_event ("sig-1");
    ln_envelope_limits_t lim = LN_ENVELOPE_LIMITS_DEFAULT;
    ln_error_t err;
    lim.max_size = b.len;
    ln_event_t *ev = ln_envelope_parse_with (b.data, b.len, &lim, &err);
    assert_non_null (ev);
    ln_event_destroy (&ev);
    lim.max_size = b.len - 1;
    assert_null (ln_envelope_parse_with (b.data, b.len, &lim, &err));
    assert_string_equal (err.code, "EVENT_TOO_LARGE");
    free (b.data);

    /* a large but well-formed event under the limit is fine; a string over
       the string limit is not */
    spec_t s;
    s_spec_default (&s);
    char *text = malloc (8194);
    memset (text, 'x', 8193);
    text[8193] = '\0';
    s.attrs[s.n_attrs++] = (attr_t){"note", K_STRING, text, 0, 0};
    s_spec_expect (&s, "PB_TOO_LONG", "attributes[\"note\"].ce_string");
    text[8192] = '\0'; /* 8192 bytes: the limit itself is allowed */
    b = s_spec_pack (&s);
    ev = ln_envelope_parse (b.data, b.len, &err);
    assert_non_null (ev);
    ln_event_destroy (&ev);
    free (b.data);
    free (text);
}

/* `depth` nested length-delimited fields, cycling through `tags`, around a
   small core.  Built in one pass (headers, then core). */
static bytes_t
s_nest (unsigned depth, const uint8_t *tags, size_t n_tags)
{
    size_t *len = calloc (depth + 1, sizeof *len);
    len[depth] = 2; /* core: field 1 varint 1 */
    for (unsigned i = depth; i-- > 0;) {
        size_t v = len[i + 1], n = 1;
        while (v >= 0x80)
            v >>= 7, n++;
        len[i] = len[i + 1] + 1 + n;
    }
    bytes_t b = {malloc (len[0]), 0};
    for (unsigned i = 0; i < depth; i++) {
        b.data[b.len++] = tags[i % n_tags];
        size_t v = len[i + 1];
        while (v >= 0x80) {
            b.data[b.len++] = (uint8_t)(v | 0x80);
            v >>= 7;
        }
        b.data[b.len++] = (uint8_t)v;
    }
    b.data[b.len++] = 0x08;
    b.data[b.len++] = 0x01;
    assert_int_equal (b.len, len[0]);
    free (len);
    return b;
}

static void
test_deep_nesting (void **state)
{
    (void)state;
    ln_error_t err;
    /* attributes -> value -> ce_timestamp -> field 5, unknown in Timestamp */
    const uint8_t chain[] = {0x2a, 0x12, 0x3a};
    bytes_t b = s_nest (5000, chain, 3);
    assert_null (ln_envelope_parse (b.data, b.len, &err));
    assert_string_equal (err.code, "PB_UNKNOWN_FIELD");
    assert_string_equal (err.field, "attributes[0].value.ce_timestamp.#5");
    free (b.data);

    /* the same with unknown fields allowed: still refused, never recursed */
    ln_envelope_limits_t lim = LN_ENVELOPE_LIMITS_DEFAULT;
    lim.pb.allow_unknown = true;
    b = s_nest (5000, chain, 3);
    assert_null (ln_envelope_parse_with (b.data, b.len, &lim, &err));
    free (b.data);

    /* proto_data, attributes, and field 5 nested into itself */
    const uint8_t one[][1] = {{0x42}, {0x2a}, {0x12}, {0x3a}, {0x0a}};
    for (size_t k = 0; k < sizeof one / sizeof one[0]; k++) {
        b = s_nest (20000, one[k], 1);
        s_survive (b.data, b.len);
        free (b.data);
    }

    /* the depth limit applies inside the envelope */
    lim = (ln_envelope_limits_t)LN_ENVELOPE_LIMITS_DEFAULT;
    lim.pb.max_depth = 2;
    b = s_valid_event ("sig-1");
    assert_null (ln_envelope_parse_with (b.data, b.len, &lim, &err));
    assert_string_equal (err.code, "PB_TOO_DEEP");
    assert_string_equal (err.field, "attributes[\"time\"].ce_timestamp");
    free (b.data);
}

// --------------------------------------------------------------------------
// Hostile input: strings

/* Three kinds of bad text, each of which ln_utf8 must refuse. */
static const char *s_bad_texts[] = {
    "ab\xc0\xaf",     /* overlong '/' */
    "ab\x1b[2J",      /* ESC: terminal control */
    "ab\xed\xa0\x80", /* surrogate */
};

static void
test_invalid_utf8_everywhere (void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof s_bad_texts / sizeof s_bad_texts[0]; k++) {
        const char *bad = s_bad_texts[k];
        spec_t s;
        s_spec_default (&s), s.id = bad;
        s_spec_expect (&s, "PB_INVALID_UTF8", "id");
        s_spec_default (&s), s.source = bad;
        s_spec_expect (&s, "PB_INVALID_UTF8", "source");
        s_spec_default (&s), s.spec_version = bad;
        s_spec_expect (&s, "PB_INVALID_UTF8", "spec_version");
        s_spec_default (&s), s.type = bad;
        s_spec_expect (&s, "PB_INVALID_UTF8", "type");
        s_spec_default (&s), s.type_url = bad;
        s_spec_expect (&s, "PB_INVALID_UTF8", "proto_data.type_url");
        s_spec_default (&s), s_spec_attr (&s, "sequence")->s = bad;
        s_spec_expect (&s, "PB_INVALID_UTF8", "attributes[\"sequence\"].ce_string");
        s_spec_default (&s), s_spec_attr (&s, "dataschema")->s = bad;
        s_spec_expect (&s, "PB_INVALID_UTF8", "attributes[\"dataschema\"].ce_uri");
        s_spec_default (&s);
        s.attrs[s.n_attrs++] = (attr_t){"ext", K_URI_REF, bad, 0, 0};
        s_spec_expect (&s, "PB_INVALID_UTF8", "attributes[\"ext\"].ce_uri_ref");
        s_spec_default (&s);
        s.attrs[s.n_attrs++] = (attr_t){bad, K_STRING, "x", 0, 0};
        s_spec_expect (&s, "PB_INVALID_UTF8", "attributes[6].key");
        s_spec_default (&s);
        s_spec_payload (&s, bad, "1", 1);
        s_spec_expect (&s, "PB_INVALID_UTF8", "data.node");
        s_spec_default (&s);
        s_spec_payload (&s, "n", bad, 1);
        s_spec_expect (&s, "PB_INVALID_UTF8", "data.version");
        /* text_data is checked although it is not our kind of data */
        s_spec_default (&s);
        s.data = D_TEXT;
        bytes_t b = s_spec_pack (&s);
        s_patch (&b, "hello", bad);
        s_expect (b.data, b.len, "PB_INVALID_UTF8", "text_data");
        free (b.data);
    }
}

/* NUL inside a string: protobuf-c would silently cut the string there. */
static void
test_embedded_nul (void **state)
{
    (void)state;
    struct {
        const char *field; /* expected path */
        int where;
    } cases[] = {
        {"id", 0},
        {"source", 1},
        {"type", 2},
        {"attributes[\"correlationid\"].ce_string", 3},
        {"attributes[2].key", 4},
        {"data.node", 5},
        {"proto_data.type_url", 6},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        spec_t s;
        s_spec_default (&s);
        /* a marker that would be valid on its own, then cut by a NUL */
        switch (cases[i].where) {
        case 0:
            s.id = "evt-1MARK";
            break;
        case 1:
            s.source = "urn:lantern:node:intake-venloMARK";
            break;
        case 2:
            s.type = "nl.lantern.node.started.v1MARK";
            break;
        case 3:
            s_spec_attr (&s, "correlationid")->s = "sig-7MARK";
            break;
        case 4:
            s_spec_attr (&s, "dataclassification")->key = "dataclassificationMARK";
            break;
        case 5:
            s_spec_payload (&s, "intake-venloMARK", "0.1.0", 1);
            break;
        case 6:
            s.type_url = "type.googleapis.com/lantern.v1.NodeStartedMARK";
            break;
        }
        bytes_t b = s_spec_pack (&s);
        s_patch (&b, "MARK", "\0ARK");
        s_expect (b.data, b.len, "PB_INVALID_UTF8", cases[i].field);
        free (b.data);
    }
}

// --------------------------------------------------------------------------
// Hostile input: the envelope's own rules

static void
test_spec_version (void **state)
{
    (void)state;
    const char *bad[] = {"0.3", "1.0 ", "1", "1.0.0", "2.0"};
    spec_t s;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_spec_default (&s), s.spec_version = bad[i];
        s_spec_expect (&s, "EVENT_SPEC_VERSION", "spec_version");
    }
    s_spec_default (&s), s.spec_version = "";
    s_spec_expect (&s, "EVENT_MISSING", "spec_version");
}

static void
test_required_fields (void **state)
{
    (void)state;
    spec_t s;
    s_spec_default (&s), s.id = "";
    s_spec_expect (&s, "EVENT_MISSING", "id");
    s_spec_default (&s), s.source = "";
    s_spec_expect (&s, "EVENT_MISSING", "source");
    s_spec_default (&s), s.type = "";
    s_spec_expect (&s, "EVENT_MISSING", "type");
    s_spec_default (&s), s.data = D_NONE;
    s_spec_expect (&s, "EVENT_MISSING", "proto_data");
    s_spec_default (&s), s.data = D_TEXT;
    s_spec_expect (&s, "EVENT_BAD_DATA", "text_data");
    s_spec_default (&s), s.data = D_BINARY;
    s_spec_expect (&s, "EVENT_BAD_DATA", "binary_data");

    const char *required[] = {"time", "sequence", "dataclassification"};
    for (size_t i = 0; i < 3; i++) {
        char field[64];
        snprintf (field, sizeof field, "attributes[\"%s\"]", required[i]);
        s_spec_default (&s);
        s_spec_remove (&s, required[i]);
        s_spec_expect (&s, "EVENT_MISSING", field);
        /* present but without a value, or with an empty one */
        s_spec_default (&s);
        s_spec_attr (&s, required[i])->kind = K_NO_VALUE;
        s_spec_expect (&s, "EVENT_BAD_ATTRIBUTE", field);
        s_spec_default (&s);
        s_spec_attr (&s, required[i])->kind = K_NOT_SET;
        s_spec_expect (&s, "EVENT_BAD_ATTRIBUTE", field);
    }
}

static void
test_id_and_source (void **state)
{
    (void)state;
    spec_t s;
    char long_id[130];
    memset (long_id, 'a', 129);
    long_id[129] = '\0';
    const char *bad_ids[] = {"two words", "tab\tid", "caf\xc3\xa9", long_id};
    for (size_t i = 0; i < sizeof bad_ids / sizeof bad_ids[0]; i++) {
        s_spec_default (&s), s.id = bad_ids[i];
        s_spec_expect (&s, "EVENT_BAD_ATTRIBUTE", "id");
    }
    long_id[128] = '\0';
    s_spec_default (&s), s.id = long_id;
    bytes_t b = s_spec_pack (&s);
    s_survive (b.data, b.len);
    ln_event_t *ev = ln_envelope_parse (b.data, b.len, NULL);
    assert_non_null (ev);
    ln_event_destroy (&ev);
    free (b.data);

    const char *bad_sources[] = {
        "urn:lantern:node:",
        "urn:lantern:node:Intake",
        "urn:lantern:node:-intake",
        "urn:lantern:node:intake-",
        "urn:lantern:node:a/b",
        "urn:lantern:node:a b",
        "https://example.org/x",
        "intake-venlo",
        "URN:LANTERN:NODE:x",
        "urn:lantern:node:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    };
    for (size_t i = 0; i < sizeof bad_sources / sizeof bad_sources[0]; i++) {
        s_spec_default (&s), s.source = bad_sources[i];
        s_spec_expect (&s, "EVENT_BAD_ATTRIBUTE", "source");
    }
    assert_true (ln_envelope_node_valid ("a"));
    assert_true (ln_envelope_node_valid ("intake-venlo-2"));
    assert_false (ln_envelope_node_valid (""));
    assert_false (ln_envelope_node_valid (NULL));
    assert_false (ln_envelope_node_valid ("a_b"));
}

static void
test_unknown_type (void **state)
{
    (void)state;
    const char *bad[] = {"nl.lantern.node.exploded.v1", "nl.lantern.node.started.v2",
                         "NL.LANTERN.NODE.STARTED.V1", "com.example.thing"};
    spec_t s;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_spec_default (&s), s.type = bad[i];
        s_spec_expect (&s, "EVENT_UNKNOWN_TYPE", "type");
    }
    size_t n;
    const ln_event_type_t *types = ln_envelope_types (&n);
    assert_true (n >= 1);
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal (ln_envelope_type_lookup (types[i].type), &types[i]);
    assert_null (ln_envelope_type_lookup (NULL));
}

static void
test_type_url_mismatch (void **state)
{
    (void)state;
    const char *bad[] = {
        "type.googleapis.com/lantern.v1.NodeStartedX",
        "type.googleapis.com/lantern.v1.Other",
        "lantern.v1.NodeStarted",
        "type.googleapis.com/",
        "",
        "example.com/lantern.v1.NodeStarted",
        "type.googleapis.com/io.cloudevents.v1.CloudEvent",
    };
    spec_t s;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_spec_default (&s), s.type_url = bad[i];
        s_spec_remove (&s, "dataschema");
        s_spec_expect (&s, "EVENT_TYPE_MISMATCH", "proto_data.type_url");
    }
}

static void
test_payload (void **state)
{
    (void)state;
    spec_t s;
    /* enum out of range */
    s_spec_default (&s);
    s_spec_payload (&s, "n", "v", 5);
    s_spec_expect (&s, "PB_BAD_ENUM", "data.service");
    s_spec_default (&s);
    s_spec_payload (&s, "n", "v", -1);
    s_spec_expect (&s, "PB_BAD_ENUM", "data.service");
    /* not a NodeStarted at all */
    s_spec_default (&s);
    memcpy (s.payload,
            "\x0a\x09"
            "abc",
            5);
    s.payload_len = 5;
    s_spec_expect (&s, "EVENT_DECODE", "data");
    memcpy (s.payload, "\x10\x01", 2); /* version as varint */
    s.payload_len = 2;
    s_spec_expect (&s, "EVENT_DECODE", "data.version");
    /* unknown field */
    s_spec_default (&s);
    memcpy (s.payload + s.payload_len, "\xc8\x01\x01", 3); /* field 25 */
    s.payload_len += 3;
    s_spec_expect (&s, "PB_UNKNOWN_FIELD", "data.#25");
    /* an empty payload is a valid (empty) NodeStarted */
    s_spec_default (&s);
    s.payload_len = 0;
    bytes_t b = s_spec_pack (&s);
    ln_event_t *ev = ln_envelope_parse (b.data, b.len, NULL);
    assert_non_null (ev);
    ln_event_destroy (&ev);
    free (b.data);
}

static void
test_duplicate_attributes (void **state)
{
    (void)state;
    spec_t s;
    s_spec_default (&s);
    s.attrs[s.n_attrs++] = (attr_t){"time", K_TIME, NULL, T_SECONDS + 1, 0};
    s_spec_expect (&s, "PB_DUPLICATE_KEY", "attributes[\"time\"]");
    s_spec_default (&s);
    s.attrs[s.n_attrs++] = (attr_t){"dataclassification", K_STRING, "openbaar", 0, 0};
    s_spec_expect (&s, "PB_DUPLICATE_KEY", "attributes[\"dataclassification\"]");
    s_spec_default (&s);
    s.attrs[s.n_attrs++] = (attr_t){"ext", K_STRING, "a", 0, 0};
    s.attrs[s.n_attrs++] = (attr_t){"ext", K_INT, NULL, 0, 0};
    s_spec_expect (&s, "PB_DUPLICATE_KEY", "attributes[\"ext\"]");
}

static void
test_bad_attributes (void **state)
{
    (void)state;
    spec_t s;
    struct {
        const char *key;
        attr_t value;
    } cases[] = {
        {"time", {"time", K_STRING, "2025-11-29T10:33:44Z", 0, 0}},
        {"time", {"time", K_TIME, NULL, 0, 0}},
        {"time", {"time", K_TIME, NULL, 946684799, 999999999}},
        {"time", {"time", K_TIME, NULL, 253402300800LL, 0}},
        {"time", {"time", K_TIME, NULL, T_SECONDS, -1}},
        {"time", {"time", K_TIME, NULL, T_SECONDS, 1000000000}},
        {"time", {"time", K_TIME, NULL, INT64_MIN, 0}},
        {"sequence", {"sequence", K_STRING, "42", 0, 0}},
        {"sequence", {"sequence", K_STRING, "", 0, 0}},
        {"sequence", {"sequence", K_STRING, "0000000000000000004a", 0, 0}},
        {"sequence", {"sequence", K_STRING, "-0000000000000000042", 0, 0}},
        {"sequence", {"sequence", K_STRING, "18446744073709551616", 0, 0}},
        {"sequence", {"sequence", K_STRING, "000000000000000000042", 0, 0}},
        {"sequence", {"sequence", K_INT, NULL, 0, 0}},
        {"dataclassification", {"dataclassification", K_STRING, "secret", 0, 0}},
        {"dataclassification", {"dataclassification", K_STRING, "Geheim", 0, 0}},
        {"dataclassification", {"dataclassification", K_STRING, "", 0, 0}},
        {"dataclassification", {"dataclassification", K_URI, "geheim", 0, 0}},
        {"correlationid", {"correlationid", K_STRING, "", 0, 0}},
        {"correlationid", {"correlationid", K_STRING, "a b", 0, 0}},
        {"correlationid", {"correlationid", K_BYTES, "sig", 0, 0}},
        {"datacontenttype", {"datacontenttype", K_STRING, "application/json", 0, 0}},
        {"datacontenttype", {"datacontenttype", K_URI, "application/protobuf", 0, 0}},
        {"dataschema", {"dataschema", K_URI, "type.googleapis.com/lantern.v1.Other", 0, 0}},
        {"dataschema",
         {"dataschema", K_STRING, "type.googleapis.com/lantern.v1.NodeStarted", 0, 0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char field[64];
        snprintf (field, sizeof field, "attributes[\"%s\"]", cases[i].key);
        s_spec_default (&s);
        *s_spec_attr (&s, cases[i].key) = cases[i].value;
        s_spec_expect (&s, "EVENT_BAD_ATTRIBUTE", field);
    }

    /* names: CloudEvents naming rule and reserved names, by index */
    const char *bad_names[] = {"Time", "",       "with_underscore", "aaaaaaaaaaaaaaaaaaaaa",
                               "id",   "source", "specversion",     "type",
                               "data", "x-y"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++) {
        s_spec_default (&s);
        s.attrs[s.n_attrs++] = (attr_t){bad_names[i], K_STRING, "v", 0, 0};
        s_spec_expect (&s, "EVENT_BAD_ATTRIBUTE", "attributes[6]");
    }
    /* twenty characters is the longest name */
    s_spec_default (&s);
    s.attrs[s.n_attrs++] = (attr_t){"aaaaaaaaaaaaaaaaaaaa", K_STRING, "v", 0, 0};
    bytes_t b = s_spec_pack (&s);
    ln_event_t *ev = ln_envelope_parse (b.data, b.len, NULL);
    assert_non_null (ev);
    ln_event_destroy (&ev);
    free (b.data);

    /* an extension attribute without a value */
    s_spec_default (&s);
    s.attrs[s.n_attrs++] = (attr_t){"ext", K_NO_VALUE, NULL, 0, 0};
    s_spec_expect (&s, "EVENT_BAD_ATTRIBUTE", "attributes[\"ext\"]");
}

static void
test_too_many_attributes (void **state)
{
    (void)state;
    spec_t s;
    s_spec_default (&s);
    static char names[24][8];
    while (s.n_attrs < 16) {
        snprintf (names[s.n_attrs], sizeof names[0], "ext%zu", s.n_attrs);
        s.attrs[s.n_attrs] = (attr_t){names[s.n_attrs], K_BOOL, NULL, 0, 0};
        s.n_attrs++;
    }
    bytes_t b = s_spec_pack (&s);
    ln_event_t *ev = ln_envelope_parse (b.data, b.len, NULL);
    assert_non_null (ev);
    ln_event_destroy (&ev);
    free (b.data);
    snprintf (names[16], sizeof names[0], "ext16");
    s.attrs[s.n_attrs++] = (attr_t){names[16], K_BOOL, NULL, 0, 0};
    s_spec_expect (&s, "EVENT_TOO_MANY", "attributes");
}

static void
test_unknown_fields (void **state)
{
    (void)state;
    spec_t s;
    s_spec_default (&s);
    bytes_t b = s_spec_pack (&s);
    s_append (&b, "\x98\x06\x01", 3); /* field 99, varint */
    s_expect (b.data, b.len, "PB_UNKNOWN_FIELD", "#99");
    free (b.data);

    /* a hand-made attributes entry: key "ext", value { field 9 varint 1 } */
    s_spec_default (&s);
    b = s_spec_pack (&s);
    const uint8_t entry[] = {0x2a, 0x09, 0x0a, 0x03, 'e', 'x', 't', 0x12, 0x02, 0x48, 0x01};
    s_append (&b, entry, sizeof entry);
    s_expect (b.data, b.len, "PB_UNKNOWN_FIELD", "attributes[\"ext\"].#9");
    free (b.data);

    /* time with an unknown field in its Timestamp */
    b = s_spec_pack (&s);
    const uint8_t ts_entry[] = {0x2a, 0x0c, 0x0a, 0x02, 'e',  'x',  0x12,
                                0x06, 0x3a, 0x04, 0x08, 0x01, 0x18, 0x01};
    s_append (&b, ts_entry, sizeof ts_entry);
    s_expect (b.data, b.len, "PB_UNKNOWN_FIELD", "attributes[\"ex\"].ce_timestamp.#3");
    free (b.data);

    /* an unknown field in the Any: a proto_data field merged at the end */
    b = s_spec_pack (&s);
    const uint8_t any_extra[] = {0x42, 0x02, 0x18, 0x01};
    s_append (&b, any_extra, sizeof any_extra);
    s_expect (b.data, b.len, "PB_UNKNOWN_FIELD", "proto_data.#3");
    free (b.data);
}

/* The parse error always names a field that exists, in a bounded buffer,
   and NULL err is allowed. */
static void
test_null_err (void **state)
{
    (void)state;
    assert_null (ln_envelope_parse ((const uint8_t *)"\xff", 1, NULL));
    bytes_t b = s_valid_event ("x");
    ln_event_t *ev = ln_envelope_parse (b.data, b.len, NULL);
    assert_non_null (ev);
    ln_event_destroy (&ev);
    free (b.data);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_round_trip),      cmocka_unit_test (test_wire_form),
        cmocka_unit_test (test_build_values),    cmocka_unit_test (test_build_refuses),
        cmocka_unit_test (test_random_bytes),    cmocka_unit_test (test_truncations),
        cmocka_unit_test (test_bit_flips),       cmocka_unit_test (test_oversized),
        cmocka_unit_test (test_deep_nesting),    cmocka_unit_test (test_invalid_utf8_everywhere),
        cmocka_unit_test (test_embedded_nul),    cmocka_unit_test (test_spec_version),
        cmocka_unit_test (test_required_fields), cmocka_unit_test (test_id_and_source),
        cmocka_unit_test (test_unknown_type),    cmocka_unit_test (test_type_url_mismatch),
        cmocka_unit_test (test_payload),         cmocka_unit_test (test_duplicate_attributes),
        cmocka_unit_test (test_bad_attributes),  cmocka_unit_test (test_too_many_attributes),
        cmocka_unit_test (test_unknown_fields),  cmocka_unit_test (test_null_err),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
