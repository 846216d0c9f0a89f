/*  ln_envelope: Lantern events as CloudEvents 1.0 in the protobuf format.

    Every event a node emits or receives is an `io.cloudevents.v1.CloudEvent`
    (proto/cloudevents.proto), so any CloudEvents SDK can read the stream.
    This module is the only place that builds or takes one apart:

        id            unique per source; by default 128 random bits as 32
                      lower-case hex digits (libsodium)
        source        the node URI, "urn:lantern:node:<node>"
        spec_version  "1.0"
        type          e.g. "nl.lantern.node.started.v1"; must be in the
                      registry of event types (built-in node types, and
                      those registered with ln_envelope_register)
        attributes    time               ce_timestamp   required
                      sequence           ce_string      required, 20 decimal
                                         digits, zero-padded, so that string
                                         order is numeric order (CloudEvents
                                         sequence extension)
                      dataclassification ce_string      required, a ZGW level
                                         name (ln_level.h)
                      correlationid      ce_string      optional, the signal
                                         or case the event concerns
                      datacontenttype    ce_string      "application/protobuf"
                      dataschema         ce_uri         the payload's type URL
                      (the last two are written by ln_envelope_build and
                      checked when present; other extension attributes are
                      accepted, bounded in number and size, and ignored)
        proto_data    google.protobuf.Any: type_url
                      "type.googleapis.com/lantern.v1.<Message>" and the
                      packed lantern.v1 payload registered for the type

    Parsing treats the bytes as hostile (docs/architecture.md "Hostile input"): size is
    checked before decoding; the CloudEvent and then the payload go through
    ln_pbcheck (wire and message passes: strict UTF-8 without NUL, enums,
    lengths, counts, duplicate map keys, unknown fields, depth); then every
    rule above is checked.  An event that comes back from ln_envelope_parse
    has passed all of them; anything else returns NULL with an error that
    names the offending field.

    Error codes (ln_error_t.code) and the fields they name:
      EVENT_TOO_LARGE      more than max_size bytes (field ""), refused before
                           decoding; or a built event would be
      EVENT_DECODE         not a protobuf CloudEvent, or the payload is not a
                           protobuf of its type (field: where it broke, e.g.
                           "attributes", "data"; "" when unknown)
      EVENT_SPEC_VERSION   spec_version is not "1.0"
      EVENT_MISSING        a required part is absent or empty: "id", "source",
                           "spec_version", "type", "proto_data",
                           `attributes["time"]`, `attributes["sequence"]`,
                           `attributes["dataclassification"]`; for build also
                           "payload" (and "" for no fields at all)
      EVENT_BAD_ATTRIBUTE  an attribute with a wrong value or kind: "id" (1..128
                           bytes of printable ASCII, no space), "source" (not
                           urn:lantern:node:<node>, see ln_envelope_node_valid),
                           `attributes["<name>"]` (time out of 2000-01-01 ..
                           9999-12-31 or not a ce_timestamp; sequence not 20
                           digits; dataclassification not a level name;
                           correlationid like id; datacontenttype not
                           "application/protobuf"; dataschema not the
                           type URL; no value), or `attributes[<i>]` for a
                           name that breaks the CloudEvents naming rule
                           [a-z0-9]{1,20} or is reserved (id, source,
                           specversion, type, data)
      EVENT_TOO_MANY       more than max_attributes attributes ("attributes")
      EVENT_UNKNOWN_TYPE   type not in the registry ("type")
      EVENT_BAD_DATA       the data is text_data or binary_data, not
                           proto_data ("text_data", "binary_data")
      EVENT_TYPE_MISMATCH  proto_data.type_url is not the URL of the type's
                           payload message ("proto_data.type_url"); for build,
                           a payload of another message type ("payload")
      EVENT_INTERNAL       build only: no randomness for the id (libsodium)
      PB_*                 from ln_pbcheck (ln_pbcheck.h), passed through:
                           PB_INVALID_UTF8, PB_BAD_ENUM, PB_TOO_LONG,
                           PB_TOO_MANY, PB_DUPLICATE_KEY, PB_UNKNOWN_FIELD,
                           PB_TOO_DEEP.  Fields are paths in the CloudEvent
                           (`attributes["time"].ce_string`, "#99") or, for
                           the payload, "data.<path>" (e.g. "data.service").
                           (PB_DECODE is reported as EVENT_DECODE.)
*/
#ifndef LN_ENVELOPE_H
#define LN_ENVELOPE_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

#include "cloudevents.pb-c.h"
#include "ln_error.h"
#include "ln_level.h"
#include "ln_pbcheck.h"

#define LN_ENVELOPE_SPEC_VERSION    "1.0"
#define LN_ENVELOPE_SOURCE_PREFIX   "urn:lantern:node:"
#define LN_ENVELOPE_TYPE_URL_PREFIX "type.googleapis.com/"
#define LN_ENVELOPE_CONTENT_TYPE    "application/protobuf"
#define LN_ENVELOPE_ID_MAX          128 /* bytes of id and correlationid */
#define LN_ENVELOPE_NODE_MAX        63  /* bytes of a node name */

// --------------------------------------------------------------------------
// Limits

typedef struct {
    size_t max_size;        /* bytes of a whole event (default 768 KiB: a Deliver of one
                               must fit the 1 MiB frame); also bounds the payload's
                               strings and bytes (a signal's account is long) */
    size_t max_attributes;  /* entries in `attributes` (default 16) */
    ln_pbcheck_limits_t pb; /* strings, bytes, counts, depth, unknown fields,
                               for the CloudEvent and its payload (the bytes
                               limit does not apply to proto_data.value,
                               which max_size bounds) */
} ln_envelope_limits_t;

#define LN_ENVELOPE_LIMITS_DEFAULT                                                                 \
    {                                                                                              \
        .max_size = 768 * 1024, .max_attributes = 16, .pb = LN_PBCHECK_LIMITS_DEFAULT              \
    }

extern const ln_envelope_limits_t ln_envelope_default_limits;

// --------------------------------------------------------------------------
// Registry of event types

typedef struct {
    const char *type;                          /* CloudEvent type */
    const ProtobufCMessageDescriptor *payload; /* its lantern.v1 payload */
    bool personal; /* its full projection carries personal data: deliveries
                      are counted in the stream's audit (docs/security.md) */
} ln_event_type_t;

#define LN_ENVELOPE_TYPES_MAX 512 /* registered types in one process */
#define LN_ENVELOPE_TYPE_MAX  255 /* bytes of a type name */

/* The node's own event types, always registered. */
#define LN_ENVELOPE_TYPE_ERASED   "nl.lantern.record.erased.v1"  /* RecordErased */
#define LN_ENVELOPE_TYPE_ANCHORED "nl.lantern.audit.anchored.v1" /* AuditAnchored */

/* Register event types, process-wide: the service that emits them does so
   at start-up, and so does every service (and lanternctl) that reads them
   from an upstream.  The strings and descriptors must live as long as the
   process (static tables).  Registering a type again with the same payload
   is allowed; with another payload it fails (EVENT_REGISTER), as does a
   payload outside lantern.v1.  Thread-safe.  Returns 0 or -1. */
int ln_envelope_register (const ln_event_type_t *types, size_t n, ln_error_t *err);

/* The registered type named `type`, or NULL. */
const ln_event_type_t *ln_envelope_type_lookup (const char *type);

/* All registered types: *count is set to their number (the rows up to
 *count stay valid; later registrations add after them). */
const ln_event_type_t *ln_envelope_types (size_t *count);

/* True when `name` is a valid node name: 1..63 bytes of [a-z0-9-], starting
   and ending with a letter or digit (a DNS label in lower case). */
bool ln_envelope_node_valid (const char *name);

// --------------------------------------------------------------------------
// Building

typedef struct {
    const char *source;              /* "urn:lantern:node:<node>" */
    const char *id;                  /* NULL: a random one */
    const char *type;                /* a registered type */
    int64_t time_ms;                 /* ms since the Unix epoch, 2000..9999 */
    uint64_t sequence;               /* position in the source's stream */
    ln_level_t level;                /* dataclassification */
    const char *correlationid;       /* NULL or "": not sent */
    const ProtobufCMessage *payload; /* of the type's payload message; borrowed */
} ln_event_fields_t;

/* Build and pack an event.  Everything that ln_envelope_parse checks is
   checked here too, so a node never emits what a peer would refuse.
   Returns the packed CloudEvent (the caller frees it with free()) and sets
   *size, or returns NULL with err set. */
uint8_t *ln_envelope_build (const ln_event_fields_t *fields, size_t *size, ln_error_t *err);

/* The same for a payload that is already packed (fields->payload is
   ignored): the node's stream sends events from stored payload bytes
   without decoding them.  The payload gets the wire pass of ln_pbcheck
   (UTF-8, NUL, lengths, unknown fields, depth) but not the message pass
   (enum values, counts): use it for payloads this node built itself. */
uint8_t *ln_envelope_build_packed (const ln_event_fields_t *fields, const uint8_t *payload,
                                   size_t payload_size, size_t *size, ln_error_t *err);

// --------------------------------------------------------------------------
// Parsing

typedef struct ln_event_t ln_event_t;

/* Parse and check an event from untrusted bytes, with the default limits.
   Returns the event, or NULL with err set. */
ln_event_t *ln_envelope_parse (const uint8_t *data, size_t size, ln_error_t *err);

/* The same with explicit limits (NULL: defaults). */
ln_event_t *ln_envelope_parse_with (const uint8_t *data, size_t size,
                                    const ln_envelope_limits_t *limits, ln_error_t *err);

/* Free an event and everything it owns.  NULL-safe; sets *self_p to NULL. */
void ln_event_destroy (ln_event_t **self_p);

/* Accessors.  Strings and the payload are owned by the event and live until
   ln_event_destroy. */
const char *ln_event_id (const ln_event_t *self);
const char *ln_event_source (const ln_event_t *self);
const char *ln_event_node (const ln_event_t *self); /* the <node> of source */
const char *ln_event_type (const ln_event_t *self);
int64_t ln_event_time_ms (const ln_event_t *self); /* ms since the epoch */
uint64_t ln_event_sequence (const ln_event_t *self);
ln_level_t ln_event_level (const ln_event_t *self);
const char *ln_event_correlationid (const ln_event_t *self); /* NULL when absent */
/* The decoded payload, of the descriptor registered for the type: cast it,
   e.g. (const Lantern__V1__NodeStarted *) ln_event_payload (ev). */
const ProtobufCMessage *ln_event_payload (const ln_event_t *self);
/* The whole decoded CloudEvent (e.g. for extension attributes). */
const Io__Cloudevents__V1__CloudEvent *ln_event_cloudevent (const ln_event_t *self);

#endif
