/*  ln_pbcheck: validate untrusted protobuf messages, driven by descriptors.

    protobuf-c decodes what it is given and checks little: it accepts strings
    that are not UTF-8 (and truncates those holding a NUL), enum values that
    the enum does not define, any number of repeated elements, map entries
    with the same key, unknown fields, and it recurses without limit.  Every
    message that arrives from the network (commands, events, payloads) goes
    through this module before any code reads it.  It knows no message type:
    it walks the ProtobufCMessageDescriptor, so new messages need no code.

    Two passes, both generic:

      ln_pbcheck_wire     walks the RAW bytes against the descriptor, before
                          protobuf-c sees them: malformed wire data, wrong wire
                          types, nesting deeper than max_depth (before any
                          recursion happens), unknown fields, every string
                          field's bytes (UTF-8, no NUL: only visible here,
                          since protobuf-c's C strings end at the first NUL)
                          and length, every bytes field's length; the
                          elements of every repeated field per message
                          (packed runs counted element by element); and
                          the memory protobuf-c would allocate to decode
                          the message (below).  So a hostile message is
                          refused before protobuf-c allocates anything.
      ln_pbcheck_message  walks a DECODED message (also one built locally
                          before it is sent): enum values against the enum
                          descriptor, repeated/map element counts, duplicate
                          map keys, string UTF-8 and lengths, bytes lengths,
                          unknown fields, depth.

    ln_pbcheck_unpack runs wire pass, protobuf-c unpack, message pass; use it
    for every decode of untrusted bytes.

    Decisions:
      - Unknown fields are refused by default (allow_unknown = false): peers
        run the same schema version, so an unknown field is either an attack
        or a version skew that must be noticed, not silently dropped.
      - Map fields are protobuf-c repeated "...Entry" messages; they are
        recognised by shape (a nested message type <Field>Entry with exactly
        key = 1 and value = 2) and a key seen twice is refused (protobuf
        would silently keep the last one, so two readers could disagree).
      - Strings are checked with ln_utf8 in LN_UTF8_TEXT mode (no NUL, no
        control characters other than TAB/LF/CR; see ln_utf8.h).
      - A singular field that occurs more than once on the wire follows
        protobuf semantics (last wins; a singular message field given twice
        is MERGED by protobuf-c: its repeated fields concatenated); every
        occurrence is still checked, and the wire pass counts the repeated
        fields of a merged message over all its occurrences, so that its
        PB_TOO_MANY agrees with what the message pass would find.
      - The allocation budget.  protobuf-c turns a few bytes into much
        more memory: an empty sub-message (2 bytes on the wire) becomes a
        struct of 40..120 bytes plus its malloc overhead and a pointer in
        an array, and its first scan keeps a 32-byte record per field.  The
        wire pass adds up, from the descriptors, everything protobuf-c
        would allocate (each struct, repeated-field array, string and bytes
        copy, scan record and merge, at malloc's granularity: an upper
        bound of the sum, so of the peak) and refuses a message whose total
        exceeds alloc_base + alloc_per_byte * (its size in bytes).  The
        defaults (1 MiB + 8 per byte) are far above what real messages
        need (a small one takes a few KiB, a large one about 4 bytes per
        byte: see test_pbcheck) and hold the worst case of a node's
        largest frame (1 MiB) to 9 MiB, where protobuf-c alone would
        allocate about 90 MiB.

    Error field paths name the field from the top message, with an optional
    prefix: `name`, `persons[2].name`, `attributes["time"].ce_string`
    (the key is shown only when it is short and plain; otherwise the entry's
    index: `attributes[3].key`), `#99` for unknown field number 99.

    Error codes (ln_error_t.code):
      PB_DECODE         malformed protobuf (bad varint, length past the end,
                        wrong wire type for the field, group wire types,
                        field number 0) or protobuf-c refused to unpack
      PB_INVALID_UTF8   a string is not strict UTF-8 text (ln_utf8.h)
      PB_BAD_ENUM       an enum value the enum does not define
      PB_TOO_LONG       a string longer than max_string bytes or a bytes
                        field longer than max_bytes
      PB_TOO_MANY       a repeated or map field with more than max_repeated
                        elements (the path names the field: `persons`,
                        `details.persons`, `friends[2].aliases`)
      PB_TOO_BIG        decoding would allocate more than the budget
                        (alloc_base + alloc_per_byte * size); the path is
                        empty (or the prefix): it is the whole message
      PB_DUPLICATE_KEY  a map key that occurs twice
      PB_UNKNOWN_FIELD  a field number the descriptor does not define
      PB_TOO_DEEP       sub-messages nested deeper than max_depth
*/
#ifndef LN_PBCHECK_H
#define LN_PBCHECK_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>

#include "ln_error.h"

typedef struct {
    size_t max_string;     /* bytes per string field */
    size_t max_bytes;      /* bytes per bytes field */
    size_t max_repeated;   /* elements per repeated or map field */
    unsigned max_depth;    /* sub-message nesting below the top message */
    bool allow_unknown;    /* accept unknown fields */
    size_t alloc_base;     /* decoding may allocate alloc_base bytes */
    size_t alloc_per_byte; /* plus this many per byte of the message */
} ln_pbcheck_limits_t;

/* Defaults: 8 KiB strings, 256 KiB bytes, 1024 elements, depth 8, unknown
   fields refused, 1 MiB + 8 bytes per byte of the message allocated. */
#define LN_PBCHECK_LIMITS_DEFAULT                                                                  \
    {                                                                                              \
        .max_string = 8192, .max_bytes = 256 * 1024, .max_repeated = 1024, .max_depth = 8,         \
        .allow_unknown = false, .alloc_base = 1024 * 1024, .alloc_per_byte = 8                     \
    }

extern const ln_pbcheck_limits_t ln_pbcheck_default_limits;

/* The limits of a message between a client and a node (a ClientMessage or
   ServerMessage, a command or a result in an Any): strings and bytes are
   bounded by the frame only (1 MiB, ZMQ_MAXMSGSIZE), so that no layer
   below a service cuts text the service accepts (docs/protocol.md 7.1:
   the services check their own lengths); counts, depth, unknown fields
   and the allocation budget as the defaults. */
#define LN_PBCHECK_LIMITS_WIRE                                                                     \
    {                                                                                              \
        .max_string = 1024 * 1024, .max_bytes = 1024 * 1024, .max_repeated = 1024, .max_depth = 8, \
        .allow_unknown = false, .alloc_base = 1024 * 1024, .alloc_per_byte = 8                     \
    }

extern const ln_pbcheck_limits_t ln_pbcheck_wire_limits;

/* In all three functions `limits` may be NULL (defaults), `prefix` may be
   NULL or "" (error paths start at the top message's fields; otherwise they
   read "<prefix>.<field>"), and `err` may be NULL. */

/* Check the raw encoding of a message of type `desc`.  Returns 0 or -1. */
int ln_pbcheck_wire (const ProtobufCMessageDescriptor *desc, const void *data, size_t size,
                     const ln_pbcheck_limits_t *limits, const char *prefix, ln_error_t *err);

/* What the wire pass estimates protobuf-c would allocate to decode these
   bytes (the sum of its allocations at malloc's granularity: an upper
   bound), whatever the budget; SIZE_MAX when the wire pass refuses them
   for another reason.  For tests and for tuning the budget. */
size_t ln_pbcheck_alloc_estimate (const ProtobufCMessageDescriptor *desc, const void *data,
                                  size_t size, const ln_pbcheck_limits_t *limits);

/* Check a decoded (or locally built) message.  Returns 0 or -1.  Embedded
   NULs are invisible here; ln_pbcheck_wire sees them. */
int ln_pbcheck_message (const ProtobufCMessage *msg, const ln_pbcheck_limits_t *limits,
                        const char *prefix, ln_error_t *err);

/* Wire check, unpack, message check.  Returns the message (the caller frees
   it with protobuf_c_message_free_unpacked (msg, NULL)) or NULL. */
ProtobufCMessage *ln_pbcheck_unpack (const ProtobufCMessageDescriptor *desc, const void *data,
                                     size_t size, const ln_pbcheck_limits_t *limits,
                                     const char *prefix, ln_error_t *err);

/* Find a string by a path of field numbers in raw bytes that may fail every
   other check: e.g. {1, 1} is ClientMessage.request.request_id.  Walks
   only as far as needed; the last occurrence of a field wins (as in
   protobuf).  Copies the value to out when it is 1..out_size-1 bytes of
   [A-Za-z0-9._:-] (an id, never arbitrary text) and returns 0; -1 when
   absent, malformed or of other characters.  For answering a refused
   request under its own request_id. */
int ln_pbcheck_find_id (const void *data, size_t size, const uint32_t *path, size_t depth,
                        char *out, size_t out_size);

/* The same walk for any length-delimited field (a message, a string):
   0 with *value / *value_size (may be NULL) set to its bytes, or -1. */
int ln_pbcheck_find_field (const void *data, size_t size, const uint32_t *path, size_t depth,
                           const uint8_t **value, size_t *value_size);

/* The wire type a field of `type` is encoded with when not packed:
   0 varint, 1 64-bit, 2 length-delimited, 5 32-bit. */
int ln_pbcheck_wire_type (ProtobufCType type);

/* The size in memory of one element of a repeated field of `type` (how
   protobuf-c lays out its arrays). */
size_t ln_pbcheck_elem_size (ProtobufCType type);

/* True when `field` (of a message) is a map field, i.e. a repeated
   <Field>Entry message with key = 1 and value = 2. */
bool ln_pbcheck_is_map (const ProtobufCFieldDescriptor *field);

#endif
