/*  test_json: ln_json, protobuf messages to JSON and back.

    Round trips go message -> JSON -> message and compare the PACKED bytes,
    so any field lost, changed or added on the way fails.  The wire
    messages of lantern.v1 and a real CloudEvent (map, Timestamp, Any) are
    used, plus `t.AllTypes`, a message whose protobuf-c descriptor is written
    out by hand below because no Lantern .proto uses every scalar type yet:

        message AllTypes {
          int32 i32 = 1;  sint32 s32 = 2;  sfixed32 sf32 = 3;
          uint32 u32 = 4; fixed32 f32 = 5;
          int64 i64 = 6;  sint64 s64 = 7;  sfixed64 sf64 = 8;
          uint64 u64 = 9; fixed64 f64 = 10;
          float fl = 11;  double db = 12;  bool b = 13;
          repeated sint32 packed = 14;     // packed
          repeated double dbls = 15;       // packed
          bytes by = 16;
          repeated uint64 u64s = 17;       // packed
          lantern.v1.ConfidentialityLevel level = 18;
        }

    Then every error code with the path it names, and hostile text: deep
    nesting, huge numbers, invalid UTF-8, duplicate keys.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cloudevents.pb-c.h"
#include "lantern.pb-c.h"
#include "ln_envelope.h"
#include "ln_json.h"
#include "wire.pb-c.h"

// --------------------------------------------------------------------------
// t.AllTypes, by hand

typedef struct {
    ProtobufCMessage base;
    int32_t i32, s32, sf32;
    uint32_t u32, f32;
    int64_t i64, s64, sf64;
    uint64_t u64, f64;
    float fl;
    double db;
    protobuf_c_boolean b;
    size_t n_packed;
    int32_t *packed;
    size_t n_dbls;
    double *dbls;
    ProtobufCBinaryData by;
    size_t n_u64s;
    uint64_t *u64s;
    int level;
} all_types_t;

#define F(name, id, type, member)                                                                  \
    {                                                                                              \
        name, id, PROTOBUF_C_LABEL_NONE, type, 0, offsetof (all_types_t, member), NULL, NULL, 0,   \
            0, NULL, NULL                                                                          \
    }
#define R(name, id, type, member)                                                                  \
    {                                                                                              \
        name, id, PROTOBUF_C_LABEL_REPEATED, type, offsetof (all_types_t, n_##member),             \
            offsetof (all_types_t, member), NULL, NULL, PROTOBUF_C_FIELD_FLAG_PACKED, 0, NULL,     \
            NULL                                                                                   \
    }

static const ProtobufCFieldDescriptor s_all_fields[] = {
    F ("i32", 1, PROTOBUF_C_TYPE_INT32, i32),
    F ("s32", 2, PROTOBUF_C_TYPE_SINT32, s32),
    F ("sf32", 3, PROTOBUF_C_TYPE_SFIXED32, sf32),
    F ("u32", 4, PROTOBUF_C_TYPE_UINT32, u32),
    F ("f32", 5, PROTOBUF_C_TYPE_FIXED32, f32),
    F ("i64", 6, PROTOBUF_C_TYPE_INT64, i64),
    F ("s64", 7, PROTOBUF_C_TYPE_SINT64, s64),
    F ("sf64", 8, PROTOBUF_C_TYPE_SFIXED64, sf64),
    F ("u64", 9, PROTOBUF_C_TYPE_UINT64, u64),
    F ("f64", 10, PROTOBUF_C_TYPE_FIXED64, f64),
    F ("fl", 11, PROTOBUF_C_TYPE_FLOAT, fl),
    F ("db", 12, PROTOBUF_C_TYPE_DOUBLE, db),
    F ("b", 13, PROTOBUF_C_TYPE_BOOL, b),
    R ("packed", 14, PROTOBUF_C_TYPE_SINT32, packed),
    R ("dbls", 15, PROTOBUF_C_TYPE_DOUBLE, dbls),
    F ("by", 16, PROTOBUF_C_TYPE_BYTES, by),
    R ("u64s", 17, PROTOBUF_C_TYPE_UINT64, u64s),
    {"level", 18, PROTOBUF_C_LABEL_NONE, PROTOBUF_C_TYPE_ENUM, 0, offsetof (all_types_t, level),
     &lantern__v1__confidentiality_level__descriptor, NULL, 0, 0, NULL, NULL},
};
/* b by db dbls f32 f64 fl i32 i64 level packed s32 s64 sf32 sf64 u32 u64 u64s */
static const unsigned s_all_by_name[] = {12, 15, 11, 14, 4, 9, 10, 0, 5,
                                         17, 13, 1,  6,  2, 7, 3,  8, 16};
static const ProtobufCIntRange s_all_ranges[] = {{1, 0}, {0, 18}};

static void s_all_init (all_types_t *m);

static const ProtobufCMessageDescriptor s_all_desc = {
    PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
    "t.AllTypes",
    "AllTypes",
    "T__AllTypes",
    "t",
    sizeof (all_types_t),
    18,
    s_all_fields,
    s_all_by_name,
    1,
    s_all_ranges,
    (ProtobufCMessageInit)s_all_init,
    NULL,
    NULL,
    NULL,
};

static void
s_all_init (all_types_t *m)
{
    memset (m, 0, sizeof *m);
    m->base.descriptor = &s_all_desc;
}

// --------------------------------------------------------------------------
// Helpers

static uint8_t *
s_pack (const ProtobufCMessage *m, size_t *size)
{
    *size = protobuf_c_message_get_packed_size (m);
    uint8_t *buf = malloc (*size + 1);
    assert_non_null (buf);
    assert_int_equal (protobuf_c_message_pack (m, buf), *size);
    return buf;
}

/* m -> JSON (pretty and compact) -> message: packed bytes identical. */
static void
s_round_trip (const ProtobufCMessage *m)
{
    size_t size, back_size;
    uint8_t *bytes = s_pack (m, &size);
    for (int pretty = 0; pretty < 2; pretty++) {
        char *json = ln_json_from_message (m, pretty);
        assert_non_null (json);
        if (!pretty)
            assert_null (strchr (json, '\n')); /* compact is one line */
        ln_error_t err;
        ln_error_clear (&err);
        ProtobufCMessage *back = ln_json_to_message (m->descriptor, json, &err);
        if (!back)
            fail_msg ("%s: %s %s: %s\n%s", m->descriptor->name, err.code, err.field, err.message,
                      json);
        uint8_t *back_bytes = s_pack (back, &back_size);
        if (back_size != size || memcmp (bytes, back_bytes, size) != 0)
            fail_msg ("%s: not byte-identical after the round trip:\n%s", m->descriptor->name,
                      json);
        free (back_bytes);
        protobuf_c_message_free_unpacked (back, NULL);
        free (json);
    }
    free (bytes);
}

/* Convert `json` to `desc` with `prefix`: expect failure with code and
   field. */
static void
s_expect_error (const ProtobufCMessageDescriptor *desc, const char *prefix, const char *json,
                size_t len, const char *code, const char *field)
{
    ln_error_t err;
    ln_error_clear (&err);
    ProtobufCMessage *m = ln_json_to_message_with (desc, json, len, NULL, prefix, &err);
    if (m) {
        protobuf_c_message_free_unpacked (m, NULL);
        fail_msg ("accepted: %.200s", json);
    }
    if (!err.code || strcmp (err.code, code) != 0 || strcmp (err.field, field) != 0)
        fail_msg ("%.200s\n  expected %s (%s)\n  got      %s (%s): %s", json, code, field,
                  err.code ? err.code : "(none)", err.field, err.message);
    assert_true (err.message[0] != '\0');
}

#define EXPECT_ERROR(desc, prefix, json, code, field)                                              \
    s_expect_error (desc, prefix, json, strlen (json), code, field)

/* Parse output back with json-c to look at it. */
static json_object *
s_output (const ProtobufCMessage *m)
{
    char *json = ln_json_from_message (m, false);
    assert_non_null (json);
    json_object *o = json_tokener_parse (json);
    assert_non_null (o);
    free (json);
    return o;
}

static const char *
s_get_str (json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex (o, key, &v) || !json_object_is_type (v, json_type_string))
        fail_msg ("no string \"%s\" in %s", key, json_object_to_json_string (o));
    return json_object_get_string (v);
}

// --------------------------------------------------------------------------
// Round trips

static void
test_round_trip_wire_messages (void **state)
{
    (void)state;
    /* Request{post_notice} in a ClientMessage */
    Lantern__V1__PostNotice post = LANTERN__V1__POST_NOTICE__INIT;
    post.text = "Maintenance 22:00 \xe2\x80\x94 caf\xc3\xa9 \"quoted\" \\ / \t tab\nline";
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.request_id = "op-1";
    req.command_case = LANTERN__V1__REQUEST__COMMAND_POST_NOTICE;
    req.post_notice = &post;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    cm.request = &req;
    s_round_trip (&cm.base);

    /* an empty command: the oneof member set, with nothing in it */
    Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
    req.command_case = LANTERN__V1__REQUEST__COMMAND_PING;
    req.ping = &ping;
    s_round_trip (&req.base);

    /* Reply with a Pong: repeated strings, uint64 */
    char *roles[] = {"operator", "auditor", "node"};
    Lantern__V1__Pong pong = LANTERN__V1__PONG__INIT;
    pong.node = "intake-venlo";
    pong.version = "0.1.0";
    pong.principal = "op";
    pong.organisation = "Gemeente Venlo";
    pong.n_roles = 3;
    pong.roles = roles;
    pong.level = "geheim";
    pong.last_position = UINT64_MAX;
    Lantern__V1__Reply reply = LANTERN__V1__REPLY__INIT;
    reply.request_id = "op-2";
    reply.status = LANTERN__V1__REPLY__STATUS__OK;
    reply.result_case = LANTERN__V1__REPLY__RESULT_PING;
    reply.ping = &pong;
    Lantern__V1__ServerMessage sm = LANTERN__V1__SERVER_MESSAGE__INIT;
    sm.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_REPLY;
    sm.reply = &reply;
    s_round_trip (&sm.base);

    /* an error reply, and an audit report with bools and zeros */
    Lantern__V1__Error error = LANTERN__V1__ERROR__INIT;
    error.code = "FORBIDDEN";
    error.message = "role operator needed";
    error.field = "post_notice";
    reply.status = LANTERN__V1__REPLY__STATUS__ERROR;
    reply.error = &error;
    reply.result_case = LANTERN__V1__REPLY__RESULT__NOT_SET;
    s_round_trip (&reply.base);
    Lantern__V1__AuditReport report = LANTERN__V1__AUDIT_REPORT__INIT;
    report.ok = 0;
    report.rows = 12;
    report.first_bad_seq = 7;
    report.problem = "hash mismatch";
    s_round_trip (&report.base);

    /* Deliver: bytes that are not text */
    uint8_t raw[256];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(255 - i);
    Lantern__V1__Deliver deliver = LANTERN__V1__DELIVER__INIT;
    deliver.position = 42;
    deliver.previous_position = 41;
    deliver.event.data = raw;
    deliver.event.len = sizeof raw;
    s_round_trip (&deliver.base);
    for (size_t len = 0; len < 5; len++) { /* every padding case */
        deliver.event.len = len;
        s_round_trip (&deliver.base);
    }

    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    sub.after_position = 9007199254740993ULL; /* 2^53 + 1: not exact as a double */
    sub.credit = UINT32_MAX;
    s_round_trip (&sub.base);
    Lantern__V1__Reset reset = LANTERN__V1__RESET__INIT;
    reset.first_position = 5;
    reset.last_position = 9;
    reset.reason = "PRUNED";
    s_round_trip (&reset.base);

    Lantern__V1__NodeStarted started = LANTERN__V1__NODE_STARTED__INIT;
    started.node = "triage";
    started.version = "1";
    started.service = LANTERN__V1__SERVICE_KIND__SERVICE_KIND_TRIAGE;
    s_round_trip (&started.base);
}

static void
test_round_trip_all_scalar_types (void **state)
{
    (void)state;
    int32_t packed[] = {0, -1, 1, INT32_MIN, INT32_MAX};
    double dbls[] = {0.1, -2.5e-300, 1e300, 3.0};
    uint64_t u64s[] = {0, 1, UINT64_MAX};
    uint8_t by[] = {0, 1, 2, 0xfe, 0xff};
    all_types_t m;
    s_all_init (&m);
    s_round_trip (&m.base); /* all defaults */

    m.i32 = INT32_MIN;
    m.s32 = -7;
    m.sf32 = INT32_MIN;
    m.u32 = UINT32_MAX;
    m.f32 = 123456789;
    m.i64 = INT64_MIN;
    m.s64 = -9000000000000000000LL;
    m.sf64 = INT64_MAX;
    m.u64 = UINT64_MAX;
    m.f64 = 18446744073709551000ULL;
    m.fl = 0.1f;
    m.db = 1.0 / 3.0;
    m.b = 1;
    m.n_packed = 5;
    m.packed = packed;
    m.n_dbls = 4;
    m.dbls = dbls;
    m.by.data = by;
    m.by.len = sizeof by;
    m.n_u64s = 3;
    m.u64s = u64s;
    m.level = 8;
    s_round_trip (&m.base);

    m.i32 = INT32_MAX;
    m.i64 = -1;
    m.fl = -3.4028235e38f;
    m.db = -0.0;
    s_round_trip (&m.base);
}

static void
test_round_trip_cloudevent (void **state)
{
    (void)state;
    /* a real event: attributes map with ce_timestamp and ce_string, Any */
    Lantern__V1__Notice notice = LANTERN__V1__NOTICE__INIT;
    notice.text = "hi";
    notice.author = "op";
    notice.organisation = "Org";
    ln_event_fields_t fields = {
        .source = "urn:lantern:node:intake-venlo",
        .type = "nl.lantern.notice.posted.v1",
        .time_ms = 1714557600123LL,
        .sequence = 42,
        .level = LN_LEVEL_INTERN,
        .correlationid = "sig-42",
        .payload = &notice.base,
    };
    ln_error_t err;
    size_t size;
    uint8_t *bytes = ln_envelope_build (&fields, &size, &err);
    assert_non_null (bytes);
    Io__Cloudevents__V1__CloudEvent *ce =
        io__cloudevents__v1__cloud_event__unpack (NULL, size, bytes);
    assert_non_null (ce);
    s_round_trip (&ce->base);

    /* the map is an object keyed by attribute name; the Timestamp a string */
    json_object *o = s_output (&ce->base);
    json_object *attrs = NULL, *time = NULL, *seq = NULL;
    assert_true (json_object_object_get_ex (o, "attributes", &attrs));
    assert_true (json_object_is_type (attrs, json_type_object));
    assert_true (json_object_object_get_ex (attrs, "time", &time));
    assert_string_equal (s_get_str (time, "ce_timestamp"), "2024-05-01T10:00:00.123Z");
    assert_true (json_object_object_get_ex (attrs, "sequence", &seq));
    assert_string_equal (s_get_str (seq, "ce_string"), "00000000000000000042");
    json_object_put (o);

    /* other attribute kinds: integer, boolean, bytes, a Timestamp with
       nanoseconds */
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = -62135596800LL; /* 0001-01-01 */
    ts.nanos = 1;
    Io__Cloudevents__V1__CloudEvent__CloudEventAttributeValue v[4];
    Io__Cloudevents__V1__CloudEvent__AttributesEntry e[4];
    Io__Cloudevents__V1__CloudEvent__AttributesEntry *ep[4];
    const char *names[] = {"int", "flag", "blob", "when"};
    uint8_t blob[] = {1, 2, 3};
    for (int i = 0; i < 4; i++) {
        io__cloudevents__v1__cloud_event__cloud_event_attribute_value__init (&v[i]);
        io__cloudevents__v1__cloud_event__attributes_entry__init (&e[i]);
        e[i].key = (char *)names[i];
        e[i].value = &v[i];
        ep[i] = &e[i];
    }
    v[0].attr_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_INTEGER;
    v[0].ce_integer = -5;
    v[1].attr_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_BOOLEAN;
    v[1].ce_boolean = 0;
    v[2].attr_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_BYTES;
    v[2].ce_bytes.data = blob;
    v[2].ce_bytes.len = 3;
    v[3].attr_case =
        IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_TIMESTAMP;
    v[3].ce_timestamp = &ts;
    Io__Cloudevents__V1__CloudEvent ce2 = IO__CLOUDEVENTS__V1__CLOUD_EVENT__INIT;
    ce2.id = "x";
    ce2.n_attributes = 4;
    ce2.attributes = ep;
    s_round_trip (&ce2.base);
    o = s_output (&ce2.base);
    assert_true (json_object_object_get_ex (o, "attributes", &attrs));
    assert_true (json_object_object_get_ex (attrs, "when", &time));
    assert_string_equal (s_get_str (time, "ce_timestamp"), "0001-01-01T00:00:00.000000001Z");
    json_object_put (o);
    ts.seconds = 253402300799LL;
    ts.nanos = 999999999;
    s_round_trip (&ce2.base);
    /* one RFC 3339 cannot write travels as the plain message, out and back
       in; a Timestamp as the message itself is a string (both found by
       tests/fuzz/fuzz_json) */
    ts.seconds = 253402300800LL; /* 10000-01-01 */
    ts.nanos = 0;
    s_round_trip (&ce2.base);
    ts.seconds = -62135596801LL;
    ts.nanos = 5;
    s_round_trip (&ce2.base);
    ts.seconds = 1714557600;
    ts.nanos = 500000000;
    s_round_trip (&ts.base);
    ts.seconds = 0;
    ts.nanos = 0;
    s_round_trip (&ts.base);

    /* map keys longer than any buffer stay whole, also two that differ
       only at their end (found by tests/fuzz/fuzz_json: keys were cut at
       511 bytes, so these two fell together and one entry was lost) */
    char long_a[701], long_b[701];
    memset (long_a, 'k', 700);
    memcpy (long_b, long_a, 700);
    long_a[699] = 'a';
    long_b[699] = 'b';
    long_a[700] = long_b[700] = '\0';
    e[0].key = long_a;
    e[1].key = long_b;
    ce2.n_attributes = 2;
    s_round_trip (&ce2.base);
    o = s_output (&ce2.base);
    assert_true (json_object_object_get_ex (o, "attributes", &attrs));
    assert_int_equal (json_object_object_length (attrs), 2);
    assert_true (json_object_object_get_ex (attrs, long_b, NULL));
    json_object_put (o);

    io__cloudevents__v1__cloud_event__free_unpacked (ce, NULL);
    free (bytes);
}

// --------------------------------------------------------------------------
// Output shape and accepted input forms

static void
test_output_shape (void **state)
{
    (void)state;
    char *roles[] = {"operator"};
    Lantern__V1__Pong pong = LANTERN__V1__PONG__INIT;
    pong.node = "n";
    pong.n_roles = 1;
    pong.roles = roles;
    pong.last_position = 7;
    json_object *o = s_output (&pong.base);
    /* 64-bit as a string; defaults present; .proto names */
    assert_string_equal (s_get_str (o, "last_position"), "7");
    assert_string_equal (s_get_str (o, "version"), "");
    json_object *r = NULL;
    assert_true (json_object_object_get_ex (o, "roles", &r));
    assert_int_equal (json_object_array_length (r), 1);
    json_object_put (o);

    Lantern__V1__AuditReport report = LANTERN__V1__AUDIT_REPORT__INIT;
    o = s_output (&report.base);
    json_object *ok = NULL;
    assert_true (json_object_object_get_ex (o, "ok", &ok)); /* false, but there */
    assert_true (json_object_is_type (ok, json_type_boolean));
    assert_false (json_object_get_boolean (ok));
    assert_string_equal (s_get_str (o, "first_bad_seq"), "0");
    json_object_put (o);

    /* oneof: only the member set; unset sub-message: absent */
    Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.request_id = "r";
    req.command_case = LANTERN__V1__REQUEST__COMMAND_PING;
    req.ping = &ping;
    char *json = ln_json_from_message (&req.base, false);
    assert_string_equal (json, "{\"request_id\":\"r\",\"ping\":{}}");
    free (json);
    Lantern__V1__Reply reply = LANTERN__V1__REPLY__INIT;
    json = ln_json_from_message (&reply.base, false);
    assert_string_equal (json, "{\"request_id\":\"\",\"status\":\"STATUS_UNSPECIFIED\"}");
    free (json);

    /* enum by name, unknown enum number as a number, bytes as base64 */
    Lantern__V1__NodeStarted started = LANTERN__V1__NODE_STARTED__INIT;
    started.service = LANTERN__V1__SERVICE_KIND__SERVICE_KIND_CARE;
    o = s_output (&started.base);
    assert_string_equal (s_get_str (o, "service"), "SERVICE_KIND_CARE");
    json_object_put (o);
    started.service = (Lantern__V1__ServiceKind)77;
    json = ln_json_from_message (&started.base, false);
    assert_non_null (strstr (json, "\"service\":77"));
    free (json);
    Lantern__V1__Deliver d = LANTERN__V1__DELIVER__INIT;
    d.event.data = (uint8_t *)"hello?>";
    d.event.len = 7;
    o = s_output (&d.base);
    assert_string_equal (s_get_str (o, "event"), "aGVsbG8/Pg==");
    json_object_put (o);

    /* pretty output is indented over several lines, '/' not escaped */
    Lantern__V1__PostNotice post = LANTERN__V1__POST_NOTICE__INIT;
    post.text = "a/b";
    json = ln_json_from_message (&post.base, true);
    assert_non_null (strchr (json, '\n'));
    assert_non_null (strstr (json, "\"text\": \"a/b\""));
    free (json);

    /* control characters are escaped, never printed raw */
    post.text = "bell\x07"
                "esc\x1b";
    json = ln_json_from_message (&post.base, false);
    assert_null (strchr (json, '\x1b'));
    assert_null (strchr (json, '\x07'));
    free (json);

    /* floats: shortest text; NaN and infinities as strings */
    all_types_t m;
    s_all_init (&m);
    m.fl = 0.1f;
    m.db = 0.1;
    o = s_output (&m.base);
    json_object *fl = NULL;
    assert_true (json_object_object_get_ex (o, "fl", &fl));
    assert_string_equal (json_object_to_json_string (fl), "0.1");
    json_object_put (o);
    m.db = -INFINITY;
    json = ln_json_from_message (&m.base, false);
    assert_non_null (strstr (json, "\"db\":\"-Infinity\""));
    free (json);

    assert_null (ln_json_from_message (NULL, false));
}

static void
test_input_forms (void **state)
{
    (void)state;
    ln_error_t err;
    /* lowerCamelCase names, numbers for 64-bit, exponent for an integer */
    Lantern__V1__Subscribe *sub = (Lantern__V1__Subscribe *)ln_json_to_message (
        &lantern__v1__subscribe__descriptor, " {\"afterPosition\": 1e3, \"credit\": \"25\"} ",
        &err);
    assert_non_null (sub);
    assert_int_equal (sub->after_position, 1000);
    assert_int_equal (sub->credit, 25);
    lantern__v1__subscribe__free_unpacked (sub, NULL);
    sub = (Lantern__V1__Subscribe *)ln_json_to_message (
        &lantern__v1__subscribe__descriptor, "{\"after_position\": \"18446744073709551615\"}",
        &err);
    assert_non_null (sub);
    assert_true (sub->after_position == UINT64_MAX);
    lantern__v1__subscribe__free_unpacked (sub, NULL);
    sub = (Lantern__V1__Subscribe *)ln_json_to_message (
        &lantern__v1__subscribe__descriptor, "{\"after_position\": 18446744073709551615}", &err);
    assert_non_null (sub);
    assert_true (sub->after_position == UINT64_MAX);
    lantern__v1__subscribe__free_unpacked (sub, NULL);

    /* null is the default; the oneof member by its JSON name */
    Lantern__V1__Request *req = (Lantern__V1__Request *)ln_json_to_message (
        &lantern__v1__request__descriptor,
        "{\"requestId\":\"x-1\",\"ping\":null,\"postNotice\":{\"text\":\"hi\"}}", &err);
    assert_non_null (req);
    assert_string_equal (req->request_id, "x-1");
    assert_int_equal (req->command_case, LANTERN__V1__REQUEST__COMMAND_POST_NOTICE);
    assert_string_equal (req->post_notice->text, "hi");
    lantern__v1__request__free_unpacked (req, NULL);

    /* an empty object is an empty message */
    Lantern__V1__Ping *ping =
        (Lantern__V1__Ping *)ln_json_to_message (&lantern__v1__ping__descriptor, "{}", &err);
    assert_non_null (ping);
    lantern__v1__ping__free_unpacked (ping, NULL);

    /* enums by name or number */
    Lantern__V1__NodeStarted *ns = (Lantern__V1__NodeStarted *)ln_json_to_message (
        &lantern__v1__node_started__descriptor, "{\"service\":\"SERVICE_KIND_MONITOR\"}", &err);
    assert_non_null (ns);
    assert_int_equal (ns->service, LANTERN__V1__SERVICE_KIND__SERVICE_KIND_MONITOR);
    lantern__v1__node_started__free_unpacked (ns, NULL);
    ns = (Lantern__V1__NodeStarted *)ln_json_to_message (&lantern__v1__node_started__descriptor,
                                                         "{\"service\":2}", &err);
    assert_non_null (ns);
    assert_int_equal (ns->service, LANTERN__V1__SERVICE_KIND__SERVICE_KIND_TRIAGE);
    lantern__v1__node_started__free_unpacked (ns, NULL);

    /* escapes: \u, a surrogate pair, \/ */
    Lantern__V1__PostNotice *pn = (Lantern__V1__PostNotice *)ln_json_to_message (
        &lantern__v1__post_notice__descriptor, "{\"text\":\"caf\\u00e9 \\ud83d\\ude00 a\\/b\"}",
        &err);
    assert_non_null (pn);
    assert_string_equal (pn->text, "caf\xc3\xa9 \xf0\x9f\x98\x80 a/b");
    lantern__v1__post_notice__free_unpacked (pn, NULL);

    /* bytes: URL-safe and unpadded base64 */
    Lantern__V1__Deliver *d = (Lantern__V1__Deliver *)ln_json_to_message (
        &lantern__v1__deliver__descriptor, "{\"event\":\"aGVsbG8_Pg\"}", &err);
    assert_non_null (d);
    assert_int_equal (d->event.len, 7);
    assert_memory_equal (d->event.data, "hello?>", 7);
    lantern__v1__deliver__free_unpacked (d, NULL);

    /* a Timestamp with an offset */
    Io__Cloudevents__V1__CloudEvent *ce = (Io__Cloudevents__V1__CloudEvent *)ln_json_to_message (
        &io__cloudevents__v1__cloud_event__descriptor,
        "{\"attributes\":{\"time\":{\"ce_timestamp\":\"2024-05-01T12:00:00.5+02:00\"}}}", &err);
    assert_non_null (ce);
    assert_int_equal (ce->n_attributes, 1);
    assert_string_equal (ce->attributes[0]->key, "time");
    assert_int_equal (ce->attributes[0]->value->ce_timestamp->seconds, 1714557600);
    assert_int_equal (ce->attributes[0]->value->ce_timestamp->nanos, 500000000);
    io__cloudevents__v1__cloud_event__free_unpacked (ce, NULL);

    /* floats from strings; negative zero; signed integers */
    all_types_t *m = (all_types_t *)ln_json_to_message (
        &s_all_desc,
        "{\"fl\":\"NaN\",\"db\":\"-1.5e3\",\"i32\":-2147483648,\"s64\":\"-9223372036854775808\","
        "\"packed\":[1,-1],\"dbls\":[\"Infinity\",0.5],\"b\":true,\"level\":\"CONFIDENTIALITY_"
        "LEVEL_GEHEIM\"}",
        &err);
    if (!m)
        fail_msg ("%s %s %s", err.code, err.field, err.message);
    assert_true (m->fl != m->fl);
    assert_true (m->db == -1500.0);
    assert_int_equal (m->i32, INT32_MIN);
    assert_true (m->s64 == INT64_MIN);
    assert_int_equal (m->n_packed, 2);
    assert_int_equal (m->packed[1], -1);
    assert_int_equal (m->n_dbls, 2);
    assert_true (m->dbls[1] == 0.5);
    assert_true (m->b);
    assert_int_equal (m->level, 7);
    protobuf_c_message_free_unpacked (&m->base, NULL);
}

// --------------------------------------------------------------------------
// Errors, each with its path

static void
test_error_codes_and_paths (void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *post = &lantern__v1__post_notice__descriptor;
    const ProtobufCMessageDescriptor *req = &lantern__v1__request__descriptor;
    const ProtobufCMessageDescriptor *sub = &lantern__v1__subscribe__descriptor;
    const ProtobufCMessageDescriptor *pong = &lantern__v1__pong__descriptor;

    /* JSON_SYNTAX, with the place */
    EXPECT_ERROR (post, "post_notice", "{\"text\":", "JSON_SYNTAX", "post_notice.text");
    EXPECT_ERROR (post, NULL, "{\"text\":\"a\"} x", "JSON_SYNTAX", "");
    EXPECT_ERROR (post, NULL, "", "JSON_SYNTAX", "");
    EXPECT_ERROR (post, NULL, "   ", "JSON_SYNTAX", "");
    EXPECT_ERROR (post, NULL, "{'text':'a'}", "JSON_SYNTAX", "");
    EXPECT_ERROR (post, NULL, "{\"text\":\"a\",}", "JSON_SYNTAX", "");
    EXPECT_ERROR (sub, NULL, "{\"credit\":01}", "JSON_SYNTAX", "");
    EXPECT_ERROR (sub, NULL, "{\"credit\":+1}", "JSON_SYNTAX", "credit");
    EXPECT_ERROR (sub, NULL, "{\"credit\":1.}", "JSON_SYNTAX", "credit");
    EXPECT_ERROR (sub, NULL, "{\"credit\":NaN}", "JSON_SYNTAX", "credit");
    EXPECT_ERROR (post, NULL, "{\"text\":tru}", "JSON_SYNTAX", "text");
    EXPECT_ERROR (post, NULL, "{\"text\":\"tab\there\"}", "JSON_SYNTAX", "text");
    EXPECT_ERROR (post, NULL, "{\"text\":\"\\x41\"}", "JSON_SYNTAX", "text");
    EXPECT_ERROR (post, NULL, "{\"text\":\"\\u12\"}", "JSON_SYNTAX", "text");
    EXPECT_ERROR (post, NULL, "{\"text\":\"\\ud800\"}", "JSON_SYNTAX", "text");
    EXPECT_ERROR (post, NULL, "{\"text\":\"\\udc00\\ud800\"}", "JSON_SYNTAX", "text");
    EXPECT_ERROR (post, NULL, "{\"text\":\"\\ud800\\u0041\"}", "JSON_SYNTAX", "text");
    EXPECT_ERROR (post, NULL, "{\"te\\u0000xt\":\"a\"}", "JSON_SYNTAX", "[?]");
    EXPECT_ERROR (post, NULL, "{\"text\":\"abc", "JSON_SYNTAX", "text");
    ln_error_t err;
    assert_null (ln_json_to_message (post, "{\n  \"text\": \"a\"\n  \"x\": 1}", &err));
    assert_string_equal (err.code, "JSON_SYNTAX");
    assert_non_null (strstr (err.message, "line 3 column 3"));

    /* JSON_LIMIT */
    ln_json_limits_t small = LN_JSON_LIMITS_DEFAULT;
    small.max_size = 10;
    assert_null (ln_json_to_message_with (post, "{\"text\":\"abc\"}", 14, &small, NULL, &err));
    assert_string_equal (err.code, "JSON_LIMIT");

    /* JSON_DUPLICATE_KEY: a key twice, both names, two oneof members */
    EXPECT_ERROR (post, "post_notice", "{\"text\":\"a\",\"text\":\"b\"}", "JSON_DUPLICATE_KEY",
                  "post_notice.text");
    EXPECT_ERROR (req, NULL, "{\"request_id\":\"a\",\"requestId\":\"b\"}", "JSON_DUPLICATE_KEY",
                  "request_id");
    EXPECT_ERROR (req, NULL, "{\"ping\":{},\"post_notice\":{\"text\":\"x\"}}", "JSON_DUPLICATE_KEY",
                  "post_notice");

    /* JSON_UNKNOWN_FIELD */
    EXPECT_ERROR (req, NULL, "{\"post_notice\":{\"text\":\"x\",\"bogus\":1}}", "JSON_UNKNOWN_FIELD",
                  "post_notice.bogus");
    EXPECT_ERROR (post, "post_notice", "{\"Text\":\"x\"}", "JSON_UNKNOWN_FIELD",
                  "post_notice.Text");
    EXPECT_ERROR (post, NULL, "{\"\\u001b[31m\":\"x\"}", "JSON_UNKNOWN_FIELD", "[?]");

    /* JSON_TYPE */
    EXPECT_ERROR (post, "post_notice", "{\"text\":1}", "JSON_TYPE", "post_notice.text");
    EXPECT_ERROR (post, "post_notice", "[]", "JSON_TYPE", "post_notice");
    EXPECT_ERROR (post, NULL, "null", "JSON_TYPE", "");
    EXPECT_ERROR (post, NULL, "{\"text\":[\"a\"]}", "JSON_TYPE", "text");
    EXPECT_ERROR (sub, NULL, "{\"credit\":1.5}", "JSON_TYPE", "credit");
    EXPECT_ERROR (sub, NULL, "{\"credit\":\"12x\"}", "JSON_TYPE", "credit");
    EXPECT_ERROR (sub, NULL, "{\"credit\":\" 12\"}", "JSON_TYPE", "credit");
    EXPECT_ERROR (sub, NULL, "{\"credit\":true}", "JSON_TYPE", "credit");
    EXPECT_ERROR (pong, NULL, "{\"roles\":\"operator\"}", "JSON_TYPE", "roles");
    EXPECT_ERROR (pong, NULL, "{\"roles\":[\"a\",2]}", "JSON_TYPE", "roles[1]");
    EXPECT_ERROR (pong, NULL, "{\"roles\":[\"a\",null]}", "JSON_TYPE", "roles[1]");
    EXPECT_ERROR (&lantern__v1__audit_report__descriptor, NULL, "{\"ok\":\"true\"}", "JSON_TYPE",
                  "ok");
    EXPECT_ERROR (&lantern__v1__deliver__descriptor, NULL, "{\"event\":\"not base64!\"}",
                  "JSON_TYPE", "event");
    EXPECT_ERROR (req, NULL, "{\"post_notice\":\"hi\"}", "JSON_TYPE", "post_notice");
    EXPECT_ERROR (&io__cloudevents__v1__cloud_event__descriptor, NULL,
                  "{\"attributes\":{\"time\":{\"ce_timestamp\":\"2024-02-30T00:00:00Z\"}}}",
                  "JSON_TYPE", "attributes[\"time\"].ce_timestamp");
    EXPECT_ERROR (&io__cloudevents__v1__cloud_event__descriptor, NULL, "{\"attributes\":[]}",
                  "JSON_TYPE", "attributes");

    /* JSON_RANGE */
    EXPECT_ERROR (sub, NULL, "{\"credit\":4294967296}", "JSON_RANGE", "credit");
    EXPECT_ERROR (sub, NULL, "{\"credit\":-1}", "JSON_RANGE", "credit");
    EXPECT_ERROR (sub, NULL, "{\"after_position\":\"18446744073709551616\"}", "JSON_RANGE",
                  "after_position");
    EXPECT_ERROR (sub, NULL, "{\"after_position\":18446744073709551616}", "JSON_RANGE",
                  "after_position");
    EXPECT_ERROR (sub, NULL, "{\"after_position\":1e400}", "JSON_RANGE", "after_position");
    EXPECT_ERROR (sub, NULL, "{\"after_position\":-1e400}", "JSON_RANGE", "after_position");
    EXPECT_ERROR (&lantern__v1__node_started__descriptor, NULL,
                  "{\"service\":\"SERVICE_KIND_NOPE\"}", "JSON_RANGE", "service");
    EXPECT_ERROR (&lantern__v1__node_started__descriptor, NULL, "{\"service\":99}", "JSON_RANGE",
                  "service");
    EXPECT_ERROR (&s_all_desc, NULL, "{\"fl\":1e39}", "JSON_RANGE", "fl");
    EXPECT_ERROR (&s_all_desc, NULL, "{\"i32\":2147483648}", "JSON_RANGE", "i32");
    EXPECT_ERROR (&s_all_desc, NULL, "{\"packed\":[1,-2147483649]}", "JSON_RANGE", "packed[1]");
    EXPECT_ERROR (&io__cloudevents__v1__cloud_event__descriptor, NULL,
                  "{\"attributes\":{\"t\":{\"ce_timestamp\":\"0000-12-31T00:00:00Z\"}}}",
                  "JSON_RANGE", "attributes[\"t\"].ce_timestamp");

    /* PB_* from ln_pbcheck, on what the JSON encoded */
    EXPECT_ERROR (req, NULL, "{\"post_notice\":{\"text\":\"a\\u0000b\"}}", "PB_INVALID_UTF8",
                  "post_notice.text");
    EXPECT_ERROR (post, "post_notice", "{\"text\":\"\\u001b[2J\"}", "PB_INVALID_UTF8",
                  "post_notice.text");
    char *big = malloc (9000 + 20);
    int n = snprintf (big, 20, "{\"text\":\"");
    memset (big + n, 'x', 9000);
    snprintf (big + n + 9000, 20, "\"}");
    EXPECT_ERROR (post, "post_notice", big, "PB_TOO_LONG", "post_notice.text");
    free (big);
    char *many = malloc (1025 * 4 + 32);
    size_t len = (size_t)snprintf (many, 32, "{\"roles\":[");
    for (int i = 0; i < 1025; i++)
        len += (size_t)snprintf (many + len, 8, "%s\"r\"", i ? "," : "");
    snprintf (many + len, 8, "]}");
    EXPECT_ERROR (pong, NULL, many, "PB_TOO_MANY", "roles");
    free (many);

    /* err may be NULL */
    assert_null (ln_json_to_message (post, "{", NULL));
}

// --------------------------------------------------------------------------
// Hostile text

static void
test_hostile_json (void **state)
{
    (void)state;
    const ProtobufCMessageDescriptor *post = &lantern__v1__post_notice__descriptor;
    ln_error_t err;

    /* deep nesting: refused at the limit, long before the stack is at risk */
    size_t depth = 200000;
    char *deep = malloc (2 * depth + 1);
    memset (deep, '[', depth);
    memset (deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    assert_null (ln_json_to_message (post, deep, &err));
    assert_string_equal (err.code, "JSON_LIMIT");
    deep[0] = '{';
    assert_null (ln_json_to_message (post, deep, &err));
    assert_string_equal (err.code, "JSON_SYNTAX");
    free (deep);
    /* nesting inside a field: the path says where */
    {
        /* 32 levels pass (the object and 31 arrays); the 33rd is refused */
        char nested[200], expect[200];
        size_t k = (size_t)snprintf (nested, sizeof nested, "{\"text\":");
        size_t m = (size_t)snprintf (expect, sizeof expect, "post_notice.text");
        for (int i = 0; i < 40; i++)
            nested[k++] = '[';
        for (int i = 0; i < 40; i++)
            nested[k++] = ']';
        snprintf (nested + k, 4, "}");
        for (int i = 0; i < 31; i++)
            m += (size_t)snprintf (expect + m, sizeof expect - m, "[0]");
        EXPECT_ERROR (post, "post_notice", nested, "JSON_LIMIT", expect);
        /* a smaller limit */
        ln_json_limits_t lim = LN_JSON_LIMITS_DEFAULT;
        lim.max_depth = 2;
        assert_null (ln_json_to_message_with (post, "{\"text\":[[\"a\"]]}", 16, &lim, NULL, &err));
        assert_string_equal (err.code, "JSON_LIMIT");
        assert_string_equal (err.field, "text[0]");
    }
    /* deep but within the limit: parsed, then refused for its type */
    EXPECT_ERROR (post, NULL, "{\"text\":[[[[[[[[[[]]]]]]]]]]}", "JSON_TYPE", "text");

    /* huge numbers */
    size_t digits = 100000;
    char *huge = malloc (digits + 64);
    int n = snprintf (huge, 32, "{\"after_position\":");
    memset (huge + n, '9', digits);
    snprintf (huge + (size_t)n + digits, 8, "}");
    EXPECT_ERROR (&lantern__v1__subscribe__descriptor, NULL, huge, "JSON_RANGE", "after_position");
    huge[n] = '-';
    EXPECT_ERROR (&lantern__v1__subscribe__descriptor, NULL, huge, "JSON_RANGE", "after_position");
    snprintf (huge + n, 32, "1e99999999999}");
    EXPECT_ERROR (&lantern__v1__subscribe__descriptor, NULL, huge, "JSON_RANGE", "after_position");
    snprintf (huge + n, 32, "1e-5}");
    EXPECT_ERROR (&lantern__v1__subscribe__descriptor, NULL, huge, "JSON_TYPE", "after_position");
    snprintf (huge + n, 32, "0.0000001e7}"); /* exactly 1: accepted */
    Lantern__V1__Subscribe *sub = (Lantern__V1__Subscribe *)ln_json_to_message (
        &lantern__v1__subscribe__descriptor, huge, &err);
    assert_non_null (sub);
    assert_int_equal (sub->after_position, 1);
    lantern__v1__subscribe__free_unpacked (sub, NULL);
    free (huge);

    /* invalid UTF-8, raw: truncated, overlong, surrogate, too high, lone
       continuation, NUL byte */
    static const char *const bad[] = {
        "{\"text\":\"caf\xc3\"}",
        "{\"text\":\"\xc0\x80\"}",
        "{\"text\":\"\xe0\x80\x80\"}",
        "{\"text\":\"\xed\xa0\x80\"}",
        "{\"text\":\"\xf4\x90\x80\x80\"}",
        "{\"text\":\"\x80\"}",
        "{\"text\":\"\xff\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null (ln_json_to_message (post, bad[i], &err));
        assert_string_equal (err.code, "JSON_SYNTAX");
        assert_non_null (strstr (err.message, "UTF-8"));
    }
    s_expect_error (post, NULL, "{\"text\":\"a\0b\"}", 14, "JSON_SYNTAX", "");
    /* invalid UTF-8 in a key */
    assert_null (ln_json_to_message (post, "{\"t\xc3\":1}", &err));
    assert_string_equal (err.code, "JSON_SYNTAX");

    /* duplicate keys, nested, and in a map */
    EXPECT_ERROR (&lantern__v1__request__descriptor, NULL,
                  "{\"post_notice\":{\"text\":\"a\",\"text\":\"a\"}}", "JSON_DUPLICATE_KEY",
                  "post_notice.text");
    EXPECT_ERROR (&io__cloudevents__v1__cloud_event__descriptor, NULL,
                  "{\"attributes\":{\"time\":{},\"time\":{}}}", "JSON_DUPLICATE_KEY",
                  "attributes.time");
    /* the same key spelled with an escape is the same key */
    EXPECT_ERROR (&lantern__v1__post_notice__descriptor, NULL,
                  "{\"text\":\"a\",\"t\\u0065xt\":\"b\"}", "JSON_DUPLICATE_KEY", "text");

    /* a long key does not overflow the path */
    char key[600];
    memset (key, 'k', sizeof key);
    char json[700];
    snprintf (json, sizeof json, "{\"%.*s\":1}", (int)sizeof key - 1, key);
    EXPECT_ERROR (post, "post_notice", json, "JSON_UNKNOWN_FIELD", "post_notice[?]");
}

// --------------------------------------------------------------------------
// Small functions

static void
test_parse_and_helpers (void **state)
{
    (void)state;
    ln_error_t err;
    const char *text = "[1, -2, 3.5, \"x\", true, null, {}]";
    json_object *o = ln_json_parse (text, strlen (text), NULL, NULL, &err);
    assert_non_null (o);
    assert_int_equal (json_object_array_length (o), 7);
    assert_null (json_object_array_get_idx (o, 5));
    json_object_put (o);
    /* a bare null: NULL without an error */
    assert_null (ln_json_parse ("null", 4, NULL, NULL, &err));
    assert_null (err.code);
    char *s = ln_json_to_string (NULL, false);
    assert_null (s);

    char name[32];
    assert_int_equal (ln_json_name ("post_notice", name, sizeof name), 0);
    assert_string_equal (name, "postNotice");
    assert_int_equal (ln_json_name ("first_bad_seq", name, sizeof name), 0);
    assert_string_equal (name, "firstBadSeq");
    assert_int_equal (ln_json_name ("ok", name, sizeof name), 0);
    assert_string_equal (name, "ok");
    assert_int_equal (ln_json_name ("a_very_long_field_name_indeed", name, 8), -1);

    char t[LN_JSON_TIME_MAX];
    assert_int_equal (ln_json_format_time (0, 0, t, sizeof t), 0);
    assert_string_equal (t, "1970-01-01T00:00:00Z");
    assert_int_equal (ln_json_format_time (951782400, 120000000, t, sizeof t), 0);
    assert_string_equal (t, "2000-02-29T00:00:00.120Z");
    assert_int_equal (ln_json_format_time (-1, 123456000, t, sizeof t), 0);
    assert_string_equal (t, "1969-12-31T23:59:59.123456Z");
    assert_int_equal (ln_json_format_time (253402300799LL, 0, t, sizeof t), 0);
    assert_string_equal (t, "9999-12-31T23:59:59Z");
    assert_int_equal (ln_json_format_time (253402300800LL, 0, t, sizeof t), -1);
    assert_int_equal (ln_json_format_time (0, 1000000000, t, sizeof t), -1);
    assert_int_equal (ln_json_format_time (0, 0, t, 5), -1);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_round_trip_wire_messages),
        cmocka_unit_test (test_round_trip_all_scalar_types),
        cmocka_unit_test (test_round_trip_cloudevent),
        cmocka_unit_test (test_output_shape),
        cmocka_unit_test (test_input_forms),
        cmocka_unit_test (test_error_codes_and_paths),
        cmocka_unit_test (test_hostile_json),
        cmocka_unit_test (test_parse_and_helpers),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
