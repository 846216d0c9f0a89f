/*  ln_envelope: see ln_envelope.h.

    The registry of event types (s_types below) holds one row per CloudEvent
    type, naming the lantern.v1 message its payload must be: the node's own
    types are built in, and each service registers its own at start-up
    (ln_envelope_register), so a new service adds none here.

    Parsing order matters: the size is checked before a single byte is
    decoded, the raw bytes are walked by ln_pbcheck before protobuf-c
    allocates anything, and the payload is only decoded once the envelope
    says what it must be.
*/
#include "ln_envelope.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/any.pb-c.h"
#include "google/protobuf/timestamp.pb-c.h"
#include "lantern.pb-c.h"

// --------------------------------------------------------------------------
// The registry of event types: CloudEvent type -> payload message.  The
// node's own types are here; every service registers its own (and those of
// the upstreams it follows) with ln_envelope_register at start-up.  Rows
// are never removed, so a pointer to one stays valid; readers take the
// count under the lock and scan rows that no writer touches again.

static ln_event_type_t s_types[LN_ENVELOPE_TYPES_MAX] = {
    {"nl.lantern.node.started.v1", &lantern__v1__node_started__descriptor, false},
    {"nl.lantern.notice.posted.v1", &lantern__v1__notice__descriptor, false},
    {LN_ENVELOPE_TYPE_ERASED, &lantern__v1__record_erased__descriptor, false},
    {LN_ENVELOPE_TYPE_ANCHORED, &lantern__v1__audit_anchored__descriptor, false},
};
static size_t s_type_count = 4;
static pthread_mutex_t s_types_lock = PTHREAD_MUTEX_INITIALIZER;

static size_t
s_types_count (void)
{
    pthread_mutex_lock (&s_types_lock);
    size_t n = s_type_count;
    pthread_mutex_unlock (&s_types_lock);
    return n;
}

const ln_envelope_limits_t ln_envelope_default_limits = LN_ENVELOPE_LIMITS_DEFAULT;

/* Sane range of `time`: 2000-01-01T00:00:00Z .. 9999-12-31T23:59:59Z (the
   upper end is where RFC 3339 timestamps stop). */
#define TIME_MIN_S 946684800LL
#define TIME_MAX_S 253402300799LL

#define SEQUENCE_DIGITS 20 /* UINT64_MAX has 20 decimal digits */

typedef Io__Cloudevents__V1__CloudEvent cloud_event_t;
typedef Io__Cloudevents__V1__CloudEvent__AttributesEntry attr_entry_t;
typedef Io__Cloudevents__V1__CloudEvent__CloudEventAttributeValue attr_value_t;

#define ATTR_STRING IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_STRING
#define ATTR_URI    IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_URI
#define ATTR_TIMESTAMP                                                                             \
    IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR_CE_TIMESTAMP
#define ATTR_NOT_SET IO__CLOUDEVENTS__V1__CLOUD_EVENT__CLOUD_EVENT_ATTRIBUTE_VALUE__ATTR__NOT_SET

struct ln_event_t {
    cloud_event_t *ce;         /* decoded CloudEvent */
    ProtobufCMessage *payload; /* decoded payload */
    const char *node;          /* into ce->source */
    const char *correlationid; /* into ce's attributes, or NULL */
    int64_t time_ms;
    uint64_t sequence;
    ln_level_t level;
};

// --------------------------------------------------------------------------
// Registry and small rules

const ln_event_type_t *
ln_envelope_type_lookup (const char *type)
{
    if (!type)
        return NULL;
    size_t n = s_types_count ();
    for (size_t i = 0; i < n; i++)
        if (strcmp (s_types[i].type, type) == 0)
            return &s_types[i];
    return NULL;
}

int
ln_envelope_register (const ln_event_type_t *types, size_t n, ln_error_t *err)
{
    int rc = -1;
    pthread_mutex_lock (&s_types_lock);
    for (size_t k = 0; k < n; k++) {
        const ln_event_type_t *t = &types[k];
        if (!t->type || !t->payload || strlen (t->type) > LN_ENVELOPE_TYPE_MAX ||
            strncmp (t->payload->name, "lantern.v1.", 11) != 0) {
            ln_error_set (err, "EVENT_REGISTER", "type", "event type %zu is not a lantern.v1 type",
                          k);
            goto out;
        }
        size_t i = 0;
        while (i < s_type_count && strcmp (s_types[i].type, t->type) != 0)
            i++;
        if (i < s_type_count) {
            if (s_types[i].payload != t->payload) {
                ln_error_set (err, "EVENT_REGISTER", "type",
                              "event type %s is already registered with payload %s", t->type,
                              s_types[i].payload->name);
                goto out;
            }
            continue; /* the same type again: fine (a service and a follower of it) */
        }
        if (s_type_count == LN_ENVELOPE_TYPES_MAX) {
            ln_error_set (err, "EVENT_REGISTER", "type", "more than %d event types",
                          LN_ENVELOPE_TYPES_MAX);
            goto out;
        }
        s_types[s_type_count++] = *t;
    }
    rc = 0;
out:
    pthread_mutex_unlock (&s_types_lock);
    return rc;
}

const ln_event_type_t *
ln_envelope_types (size_t *count)
{
    if (count)
        *count = s_types_count ();
    return s_types;
}

bool
ln_envelope_node_valid (const char *name)
{
    if (!name)
        return false;
    size_t len = strnlen (name, LN_ENVELOPE_NODE_MAX + 1);
    if (len == 0 || len > LN_ENVELOPE_NODE_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i < len - 1))
            return false;
    }
    return true;
}

/* The node name in a source URI, or NULL when it is not one of ours. */
static const char *
s_source_node (const char *source)
{
    size_t plen = strlen (LN_ENVELOPE_SOURCE_PREFIX);
    if (!source || strncmp (source, LN_ENVELOPE_SOURCE_PREFIX, plen) != 0)
        return NULL;
    return ln_envelope_node_valid (source + plen) ? source + plen : NULL;
}

/* id and correlationid: 1..128 bytes of printable ASCII without space.  The
   protobuf format allows any string; ours are generated by our nodes, and a
   narrow alphabet keeps them safe in logs, SQL and file names. */
static bool
s_token_valid (const char *text)
{
    if (!text)
        return false;
    size_t len = strnlen (text, LN_ENVELOPE_ID_MAX + 1);
    if (len == 0 || len > LN_ENVELOPE_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (text[i] < 0x21 || text[i] > 0x7E)
            return false;
    return true;
}

/* CloudEvents attribute naming: lower-case ASCII letters and digits; the
   spec says SHOULD NOT exceed 20 characters, we make it a MUST. */
static bool
s_attr_name_valid (const char *name)
{
    size_t len = strnlen (name, 21);
    if (len == 0 || len > 20)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9')))
            return false;
    return true;
}

/* Names of the REQUIRED attributes (explicit fields) and of the data: they
   must not appear again in the map. */
static bool
s_attr_name_reserved (const char *name)
{
    static const char *reserved[] = {"id", "source", "specversion", "type", "data"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strcmp (name, reserved[i]) == 0)
            return true;
    return false;
}

/* "type.googleapis.com/<full message name>" == url? */
static bool
s_type_url_matches (const char *url, const ProtobufCMessageDescriptor *desc)
{
    size_t plen = strlen (LN_ENVELOPE_TYPE_URL_PREFIX);
    return url && strncmp (url, LN_ENVELOPE_TYPE_URL_PREFIX, plen) == 0 &&
           strcmp (url + plen, desc->name) == 0;
}

/* Exactly 20 decimal digits, <= UINT64_MAX. */
static int
s_sequence_parse (const char *text, uint64_t *value)
{
    if (strnlen (text, SEQUENCE_DIGITS + 1) != SEQUENCE_DIGITS)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < SEQUENCE_DIGITS; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        unsigned d = (unsigned)(text[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *value = v;
    return 0;
}

/* The limits a payload is checked with: its strings and bytes are bounded
   by the event's size (a signal's account may be long), the rest (counts,
   depth, unknown fields, the allocation budget) as the event's own. */
static ln_pbcheck_limits_t
s_payload_limits (const ln_envelope_limits_t *lim)
{
    ln_pbcheck_limits_t pl = lim->pb;
    if (pl.max_string < lim->max_size)
        pl.max_string = lim->max_size;
    if (pl.max_bytes < lim->max_size)
        pl.max_bytes = lim->max_size;
    return pl;
}

// --------------------------------------------------------------------------
// Building

uint8_t *
ln_envelope_build_packed (const ln_event_fields_t *fields, const uint8_t *payload,
                          size_t payload_len, size_t *size, ln_error_t *err)
{
    uint8_t *out = NULL;
    const ln_envelope_limits_t *lim = &ln_envelope_default_limits;
    char id_buf[33];
    char seq_buf[SEQUENCE_DIGITS + 1];
    char type_url[256];

    if (!fields || !size) {
        ln_error_set (err, "EVENT_MISSING", "", "no event fields");
        goto out;
    }
    if (!fields->source || !*fields->source) {
        ln_error_set (err, "EVENT_MISSING", "source", "source is required");
        goto out;
    }
    if (!s_source_node (fields->source)) {
        ln_error_set (err, "EVENT_BAD_ATTRIBUTE", "source",
                      "source must be " LN_ENVELOPE_SOURCE_PREFIX "<node>");
        goto out;
    }
    const char *id = fields->id;
    if (!id) {
        unsigned char rnd[16];
        if (sodium_init () < 0) {
            ln_error_set (err, "EVENT_INTERNAL", "id", "libsodium could not be initialised");
            goto out;
        }
        randombytes_buf (rnd, sizeof rnd);
        sodium_bin2hex (id_buf, sizeof id_buf, rnd, sizeof rnd);
        id = id_buf;
    }
    else if (!s_token_valid (id)) {
        ln_error_set (err, "EVENT_BAD_ATTRIBUTE", "id",
                      "id must be 1..%d bytes of printable ASCII without space",
                      LN_ENVELOPE_ID_MAX);
        goto out;
    }
    const ln_event_type_t *type = ln_envelope_type_lookup (fields->type);
    if (!type) {
        ln_error_set (err, "EVENT_UNKNOWN_TYPE", "type", "unknown event type");
        goto out;
    }
    if (!payload && payload_len > 0) {
        ln_error_set (err, "EVENT_MISSING", "payload", "payload is required");
        goto out;
    }
    if (fields->time_ms < TIME_MIN_S * 1000 || fields->time_ms > TIME_MAX_S * 1000 + 999) {
        ln_error_set (err, "EVENT_BAD_ATTRIBUTE", "attributes[\"time\"]",
                      "time out of range 2000-01-01 .. 9999-12-31");
        goto out;
    }
    const char *level = ln_level_name (fields->level);
    if (!level) {
        ln_error_set (err, "EVENT_BAD_ATTRIBUTE", "attributes[\"dataclassification\"]",
                      "not a confidentiality level");
        goto out;
    }
    const char *cid = fields->correlationid;
    if (cid && *cid && !s_token_valid (cid)) {
        ln_error_set (err, "EVENT_BAD_ATTRIBUTE", "attributes[\"correlationid\"]",
                      "correlationid must be 1..%d bytes of printable ASCII without space",
                      LN_ENVELOPE_ID_MAX);
        goto out;
    }
    if (payload_len > lim->max_size) {
        ln_error_set (err, "EVENT_TOO_LARGE", "", "payload of %zu bytes (limit %zu)", payload_len,
                      lim->max_size);
        goto out;
    }
    /* The wire pass of ln_pbcheck: what a peer's parser would refuse
       (UTF-8, NUL, lengths, unknown fields, depth) is refused here. */
    ln_pbcheck_limits_t pl = s_payload_limits (lim);
    if (ln_pbcheck_wire (type->payload, payload, payload_len, &pl, "data", err) != 0)
        goto out;
    snprintf (type_url, sizeof type_url, "%s%s", LN_ENVELOPE_TYPE_URL_PREFIX, type->payload->name);
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = type_url;
    any.value.data = (uint8_t *)payload;
    any.value.len = payload_len;

    /* Attributes */
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = fields->time_ms / 1000;
    ts.nanos = (int32_t)(fields->time_ms % 1000) * 1000000;
    snprintf (seq_buf, sizeof seq_buf, "%020" PRIu64, fields->sequence);

    attr_value_t values[6];
    attr_entry_t entries[6];
    attr_entry_t *entry_ptrs[6];
    size_t n = 0;
#define ADD_ATTR(NAME, CASE, MEMBER, VALUE)                                                        \
    do {                                                                                           \
        io__cloudevents__v1__cloud_event__cloud_event_attribute_value__init (&values[n]);          \
        values[n].attr_case = (CASE);                                                              \
        values[n].MEMBER = (VALUE);                                                                \
        io__cloudevents__v1__cloud_event__attributes_entry__init (&entries[n]);                    \
        entries[n].key = (char *)(NAME);                                                           \
        entries[n].value = &values[n];                                                             \
        entry_ptrs[n] = &entries[n];                                                               \
        n++;                                                                                       \
    } while (0)
    ADD_ATTR ("time", ATTR_TIMESTAMP, ce_timestamp, &ts);
    ADD_ATTR ("sequence", ATTR_STRING, ce_string, seq_buf);
    ADD_ATTR ("dataclassification", ATTR_STRING, ce_string, (char *)level);
    if (cid && *cid)
        ADD_ATTR ("correlationid", ATTR_STRING, ce_string, (char *)cid);
    ADD_ATTR ("datacontenttype", ATTR_STRING, ce_string, (char *)LN_ENVELOPE_CONTENT_TYPE);
    ADD_ATTR ("dataschema", ATTR_URI, ce_uri, type_url);
#undef ADD_ATTR

    cloud_event_t ce;
    io__cloudevents__v1__cloud_event__init (&ce);
    ce.id = (char *)id;
    ce.source = (char *)fields->source;
    ce.spec_version = (char *)LN_ENVELOPE_SPEC_VERSION;
    ce.type = (char *)type->type;
    ce.n_attributes = n;
    ce.attributes = entry_ptrs;
    ce.data_case = IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_PROTO_DATA;
    ce.proto_data = &any;

    size_t len = io__cloudevents__v1__cloud_event__get_packed_size (&ce);
    if (len > lim->max_size) {
        ln_error_set (err, "EVENT_TOO_LARGE", "", "event of %zu bytes (limit %zu)", len,
                      lim->max_size);
        goto out;
    }
    out = malloc (len ? len : 1);
    if (!out)
        abort ();
    io__cloudevents__v1__cloud_event__pack (&ce, out);
    *size = len;
out:
    return out;
}

uint8_t *
ln_envelope_build (const ln_event_fields_t *fields, size_t *size, ln_error_t *err)
{
    uint8_t *out = NULL;
    uint8_t *payload_buf = NULL;
    const ln_event_type_t *type = fields ? ln_envelope_type_lookup (fields->type) : NULL;

    if (!fields || !size) {
        ln_error_set (err, "EVENT_MISSING", "", "no event fields");
        goto out;
    }
    if (!fields->payload) {
        ln_error_set (err, "EVENT_MISSING", "payload", "payload is required");
        goto out;
    }
    if (type && fields->payload->descriptor != type->payload) {
        ln_error_set (err, "EVENT_TYPE_MISMATCH", "payload", "payload of %s must be %s", type->type,
                      type->payload->name);
        goto out;
    }
    /* the message pass sees what the wire pass cannot: enum values, counts */
    ln_pbcheck_limits_t pl = s_payload_limits (&ln_envelope_default_limits);
    if (ln_pbcheck_message (fields->payload, &pl, "data", err) != 0)
        goto out;
    size_t payload_len = protobuf_c_message_get_packed_size (fields->payload);
    payload_buf = malloc (payload_len ? payload_len : 1);
    if (!payload_buf)
        abort ();
    protobuf_c_message_pack (fields->payload, payload_buf);
    out = ln_envelope_build_packed (fields, payload_buf, payload_len, size, err);
out:
    free (payload_buf);
    return out;
}

// --------------------------------------------------------------------------
// Parsing

/* Set an attribute error with the path attributes["name"] (names reaching
   here have passed the naming rule, so they are plain). */
static void
s_attr_error (ln_error_t *err, const char *code, const char *name, const char *message)
{
    char field[64];
    snprintf (field, sizeof field, "attributes[\"%.20s\"]", name);
    ln_error_set (err, code, field, "%s", message);
}

/* A name that breaks the naming rule is not shown (it may be anything):
   the path names the entry's index. */
static void
s_attr_name_error (ln_error_t *err, size_t index)
{
    char field[48];
    snprintf (field, sizeof field, "attributes[%zu]", index);
    ln_error_set (err, "EVENT_BAD_ATTRIBUTE", field,
                  "attribute names are 1..20 of [a-z0-9] and not id, source, specversion, "
                  "type or data");
}

/* Check the attributes and fill self's time, sequence, level and
   correlationid.  Returns 0 or -1. */
static int
s_parse_attributes (ln_event_t *self, const ln_event_type_t *type, const ln_envelope_limits_t *lim,
                    ln_error_t *err)
{
    const cloud_event_t *ce = self->ce;
    bool have_time = false, have_seq = false, have_level = false;

    if (ce->n_attributes > lim->max_attributes) {
        ln_error_set (err, "EVENT_TOO_MANY", "attributes", "%zu attributes (limit %zu)",
                      ce->n_attributes, lim->max_attributes);
        return -1;
    }
    for (size_t i = 0; i < ce->n_attributes; i++) {
        const attr_entry_t *entry = ce->attributes[i];
        const char *name = entry->key;
        if (!name || !s_attr_name_valid (name)) {
            s_attr_name_error (err, i);
            return -1;
        }
        const attr_value_t *v = entry->value;
        if (!v || v->attr_case == ATTR_NOT_SET) {
            s_attr_error (err, "EVENT_BAD_ATTRIBUTE", name, "attribute has no value");
            return -1;
        }
        if (strcmp (name, "time") == 0) {
            const Google__Protobuf__Timestamp *ts = v->ce_timestamp;
            if (v->attr_case != ATTR_TIMESTAMP || !ts) {
                s_attr_error (err, "EVENT_BAD_ATTRIBUTE", name, "time must be a ce_timestamp");
                return -1;
            }
            if (ts->seconds < TIME_MIN_S || ts->seconds > TIME_MAX_S || ts->nanos < 0 ||
                ts->nanos > 999999999) {
                s_attr_error (err, "EVENT_BAD_ATTRIBUTE", name,
                              "time out of range 2000-01-01 .. 9999-12-31");
                return -1;
            }
            self->time_ms = ts->seconds * 1000 + ts->nanos / 1000000;
            have_time = true;
        }
        else if (strcmp (name, "sequence") == 0) {
            if (v->attr_case != ATTR_STRING || s_sequence_parse (v->ce_string, &self->sequence)) {
                s_attr_error (err, "EVENT_BAD_ATTRIBUTE", name,
                              "sequence must be a ce_string of 20 decimal digits");
                return -1;
            }
            have_seq = true;
        }
        else if (strcmp (name, "dataclassification") == 0) {
            if (v->attr_case != ATTR_STRING || ln_level_parse (v->ce_string, &self->level)) {
                s_attr_error (err, "EVENT_BAD_ATTRIBUTE", name,
                              "dataclassification must be a ce_string naming a level");
                return -1;
            }
            have_level = true;
        }
        else if (strcmp (name, "correlationid") == 0) {
            if (v->attr_case != ATTR_STRING || !s_token_valid (v->ce_string)) {
                s_attr_error (err, "EVENT_BAD_ATTRIBUTE", name,
                              "correlationid must be a ce_string of 1..128 bytes of printable "
                              "ASCII without space");
                return -1;
            }
            self->correlationid = v->ce_string;
        }
        else if (strcmp (name, "datacontenttype") == 0) {
            if (v->attr_case != ATTR_STRING ||
                strcmp (v->ce_string, LN_ENVELOPE_CONTENT_TYPE) != 0) {
                s_attr_error (err, "EVENT_BAD_ATTRIBUTE", name,
                              "datacontenttype must be the ce_string " LN_ENVELOPE_CONTENT_TYPE);
                return -1;
            }
        }
        else if (strcmp (name, "dataschema") == 0) {
            if (v->attr_case != ATTR_URI || !s_type_url_matches (v->ce_uri, type->payload)) {
                s_attr_error (err, "EVENT_BAD_ATTRIBUTE", name,
                              "dataschema must be the ce_uri of the payload type");
                return -1;
            }
        }
        else if (s_attr_name_reserved (name)) {
            s_attr_name_error (err, i);
            return -1;
        }
        /* else: an extension attribute; ln_pbcheck has bounded it */
    }
    if (!have_time) {
        s_attr_error (err, "EVENT_MISSING", "time", "attribute time is required");
        return -1;
    }
    if (!have_seq) {
        s_attr_error (err, "EVENT_MISSING", "sequence", "attribute sequence is required");
        return -1;
    }
    if (!have_level) {
        s_attr_error (err, "EVENT_MISSING", "dataclassification",
                      "attribute dataclassification is required");
        return -1;
    }
    return 0;
}

/* ln_pbcheck reports malformed protobuf as PB_DECODE; the envelope's name
   for it is EVENT_DECODE. */
static void
s_rename_decode (ln_error_t *err)
{
    if (err && err->code && strcmp (err->code, "PB_DECODE") == 0)
        err->code = "EVENT_DECODE";
}

ln_event_t *
ln_envelope_parse_with (const uint8_t *data, size_t size, const ln_envelope_limits_t *limits,
                        ln_error_t *err)
{
    ln_event_t *self = NULL;
    ln_error_t e;
    int rc = -1;

    ln_error_clear (&e);
    const ln_envelope_limits_t *lim = limits ? limits : &ln_envelope_default_limits;
    if (size > lim->max_size) {
        ln_error_set (&e, "EVENT_TOO_LARGE", "", "event of %zu bytes (limit %zu)", size,
                      lim->max_size);
        goto out;
    }
    if (!data && size > 0) {
        ln_error_set (&e, "EVENT_DECODE", "", "no data");
        goto out;
    }
    /* The payload travels as bytes inside the event: bound it by the event
       size, not by the bytes limit meant for fields. */
    ln_pbcheck_limits_t ce_lim = lim->pb;
    if (ce_lim.max_bytes < lim->max_size)
        ce_lim.max_bytes = lim->max_size;

    self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->ce = (cloud_event_t *)ln_pbcheck_unpack (&io__cloudevents__v1__cloud_event__descriptor,
                                                   data, size, &ce_lim, NULL, &e);
    if (!self->ce)
        goto out;
    const cloud_event_t *ce = self->ce;

    if (!*ce->spec_version) {
        ln_error_set (&e, "EVENT_MISSING", "spec_version", "spec_version is required");
        goto out;
    }
    if (strcmp (ce->spec_version, LN_ENVELOPE_SPEC_VERSION) != 0) {
        ln_error_set (&e, "EVENT_SPEC_VERSION", "spec_version",
                      "spec_version must be " LN_ENVELOPE_SPEC_VERSION);
        goto out;
    }
    if (!*ce->id) {
        ln_error_set (&e, "EVENT_MISSING", "id", "id is required");
        goto out;
    }
    if (!s_token_valid (ce->id)) {
        ln_error_set (&e, "EVENT_BAD_ATTRIBUTE", "id",
                      "id must be 1..%d bytes of printable ASCII without space",
                      LN_ENVELOPE_ID_MAX);
        goto out;
    }
    if (!*ce->source) {
        ln_error_set (&e, "EVENT_MISSING", "source", "source is required");
        goto out;
    }
    self->node = s_source_node (ce->source);
    if (!self->node) {
        ln_error_set (&e, "EVENT_BAD_ATTRIBUTE", "source",
                      "source must be " LN_ENVELOPE_SOURCE_PREFIX "<node>");
        goto out;
    }
    if (!*ce->type) {
        ln_error_set (&e, "EVENT_MISSING", "type", "type is required");
        goto out;
    }
    const ln_event_type_t *type = ln_envelope_type_lookup (ce->type);
    if (!type) {
        ln_error_set (&e, "EVENT_UNKNOWN_TYPE", "type", "unknown event type");
        goto out;
    }
    if (s_parse_attributes (self, type, lim, &e) != 0)
        goto out;

    switch (ce->data_case) {
    case IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_PROTO_DATA:
        break;
    case IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_TEXT_DATA:
        ln_error_set (&e, "EVENT_BAD_DATA", "text_data", "data must be proto_data");
        goto out;
    case IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_BINARY_DATA:
        ln_error_set (&e, "EVENT_BAD_DATA", "binary_data", "data must be proto_data");
        goto out;
    default:
        ln_error_set (&e, "EVENT_MISSING", "proto_data", "proto_data is required");
        goto out;
    }
    const Google__Protobuf__Any *any = ce->proto_data;
    if (!any) {
        ln_error_set (&e, "EVENT_MISSING", "proto_data", "proto_data is required");
        goto out;
    }
    if (!s_type_url_matches (any->type_url, type->payload)) {
        ln_error_set (&e, "EVENT_TYPE_MISMATCH", "proto_data.type_url",
                      "type_url must be " LN_ENVELOPE_TYPE_URL_PREFIX "%s for %s",
                      type->payload->name, type->type);
        goto out;
    }
    ln_pbcheck_limits_t pl = s_payload_limits (lim);
    self->payload =
        ln_pbcheck_unpack (type->payload, any->value.data, any->value.len, &pl, "data", &e);
    if (!self->payload)
        goto out;
    rc = 0;
out:
    if (rc != 0) {
        s_rename_decode (&e);
        if (err)
            *err = e;
        ln_event_destroy (&self);
    }
    return self;
}

ln_event_t *
ln_envelope_parse (const uint8_t *data, size_t size, ln_error_t *err)
{
    return ln_envelope_parse_with (data, size, NULL, err);
}

void
ln_event_destroy (ln_event_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ln_event_t *self = *self_p;
    if (self->payload)
        protobuf_c_message_free_unpacked (self->payload, NULL);
    if (self->ce)
        io__cloudevents__v1__cloud_event__free_unpacked (self->ce, NULL);
    free (self);
    *self_p = NULL;
}

// --------------------------------------------------------------------------
// Accessors

const char *
ln_event_id (const ln_event_t *self)
{
    return self->ce->id;
}

const char *
ln_event_source (const ln_event_t *self)
{
    return self->ce->source;
}

const char *
ln_event_node (const ln_event_t *self)
{
    return self->node;
}

const char *
ln_event_type (const ln_event_t *self)
{
    return self->ce->type;
}

int64_t
ln_event_time_ms (const ln_event_t *self)
{
    return self->time_ms;
}

uint64_t
ln_event_sequence (const ln_event_t *self)
{
    return self->sequence;
}

ln_level_t
ln_event_level (const ln_event_t *self)
{
    return self->level;
}

const char *
ln_event_correlationid (const ln_event_t *self)
{
    return self->correlationid;
}

const ProtobufCMessage *
ln_event_payload (const ln_event_t *self)
{
    return self->payload;
}

const Io__Cloudevents__V1__CloudEvent *
ln_event_cloudevent (const ln_event_t *self)
{
    return self->ce;
}
