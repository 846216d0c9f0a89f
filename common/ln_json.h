/*  ln_json: protobuf-c messages to JSON and back, driven by descriptors.

    lanternctl reads commands as JSON and prints replies and events as JSON;
    this module does the conversion for any lantern.v1 message without code
    per message type: it walks the ProtobufCMessageDescriptor, so a command
    or payload added to a .proto is usable at once.

    The mapping is the proto3 JSON mapping
    (https://protobuf.dev/programming-guides/proto3/#json), with these
    decisions:

      field names   output: the names of the .proto (`post_notice`,
                    `first_bad_seq`), as our error paths and docs use them
                    (protobuf's preserving_proto_field_names).  Input: the
                    .proto name or the lowerCamelCase JSON name
                    (`postNotice`); giving both for one field is an error.
      defaults      output: every field is written, also when it holds its
                    default (0, "", false, []), so that a script reading
                    `.ok` or `.first_bad_seq` always finds it; an unset
                    sub-message is left out; of a oneof, only the member
                    that is set.  Input: a missing field or `null` is the
                    default.
      integers      32-bit: JSON numbers.  64-bit: strings on output
                    ("12345", as JSON numbers lose precision beyond 2^53);
                    input accepts a number or a string of decimal digits.
                    A number with a fraction or exponent is accepted when
                    its value is an integer ("1e3").
      floats        numbers; "NaN", "Infinity", "-Infinity" as strings.
      bool          true / false only.
      enums         output: the value's name ("SERVICE_KIND_INTAKE"), or
                    the number when the enum does not define it.  Input: the
                    name or the number; either must be defined by the enum.
      bytes         standard base64 with padding on output; input accepts
                    standard or URL-safe base64, padded or not.
      repeated      arrays.
      maps          objects (output and input); keys are strings, converted
                    to the key type on input.
      oneof         at most one member may be given on input.
      Timestamp     google.protobuf.Timestamp is an RFC 3339 string, output
                    in UTC ("2024-05-01T10:00:00.123Z", with 0, 3, 6 or 9
                    fraction digits); input also accepts an offset
                    ("+02:00").  One that RFC 3339 cannot write (outside
                    0001..9999, or nanos outside 0..999999999) is the plain
                    message {"seconds": ..., "nanos": ...}, on output and
                    input.
      Any           google.protobuf.Any is written as an ordinary message
                    ({"type_url": ..., "value": base64}): resolving type
                    URLs to descriptors is the caller's business (lanternctl
                    prints event payloads decoded by ln_envelope instead).
      unknown       unknown JSON fields are refused (as ln_pbcheck refuses
                    unknown protobuf fields).

    Input is parsed by a strict RFC 8259 parser of our own rather than
    json-c's tokener, which keeps the last of two equal keys without a word,
    accepts overlong UTF-8 and raw control characters in strings, and turns
    unpaired surrogate escapes into U+FFFD.  Ours refuses all of those, is
    bounded in size and depth (iteration, not recursion, is bounded by the
    input; recursion by max_depth), and builds json-c objects.

    JSON to a message does not fill a C struct by hand: it encodes protobuf
    wire bytes from the JSON and the descriptor, then decodes them with
    ln_pbcheck_unpack, so every check of ln_pbcheck (UTF-8 text without
    NUL or control characters, lengths, counts, enum values, depth) applies
    exactly as to a message from the network, and the result is an
    ordinary protobuf-c message.

    Error field paths start with the caller's prefix and name JSON fields by
    their .proto names: `post_notice.text`, `roles[2]`, `attributes["time"]`
    (a key is shown only when it is short and plain, else `attributes[?]`).

    Error codes (ln_error_t.code):
      JSON_SYNTAX         not JSON (RFC 8259): the message says what and
                          where (line, column); also invalid UTF-8, a raw
                          control character in a string, an unpaired
                          surrogate escape, NUL in an object key, trailing
                          characters, empty input
      JSON_LIMIT          the text is longer than max_size bytes, or nested
                          deeper than max_depth
      JSON_DUPLICATE_KEY  a key twice in one object, a field given under
                          both its names, or two members of one oneof
      JSON_UNKNOWN_FIELD  a key that names no field of the message
      JSON_TYPE           a value of the wrong JSON type for its field
                          (e.g. a number for a string), a number with a
                          fraction for an integer, bad base64, a malformed
                          timestamp or integer string
      JSON_RANGE          a number outside its field's range (e.g. 2^32 for
                          a uint32, 1e400), an enum name or number the enum
                          does not define, a timestamp outside 0001..9999
      PB_*                from ln_pbcheck (ln_pbcheck.h) on the encoded
                          message: PB_INVALID_UTF8 (e.g. "\u0000" or a
                          control character in a string), PB_TOO_LONG,
                          PB_TOO_MANY, PB_TOO_DEEP, ...
*/
#ifndef LN_JSON_H
#define LN_JSON_H

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"
#include "ln_pbcheck.h"

typedef struct {
    size_t max_size;        /* bytes of JSON text */
    unsigned max_depth;     /* nesting of arrays and objects */
    ln_pbcheck_limits_t pb; /* applied to the encoded message */
} ln_json_limits_t;

/* Defaults: 1 MiB of text, depth 32, ln_pbcheck's defaults. */
#define LN_JSON_LIMITS_DEFAULT                                                                     \
    {                                                                                              \
        .max_size = 1024 * 1024, .max_depth = 32, .pb = LN_PBCHECK_LIMITS_DEFAULT                  \
    }

extern const ln_json_limits_t ln_json_default_limits;

// --------------------------------------------------------------------------
// Message to JSON

/* The message as JSON text, pretty (indented, several lines) or compact
   (one line).  The caller frees it with free().  NULL when msg is NULL or
   nested deeper than 64. */
char *ln_json_from_message (const ProtobufCMessage *msg, bool pretty);

/* The message as a json-c object, to embed in a larger document (the
   caller releases it with json_object_put).  NULL as above. */
json_object *ln_json_object_from_message (const ProtobufCMessage *msg);

/* json-c text of any object, pretty or compact, without escaping '/'.
   The caller frees it with free().  NULL when obj is NULL. */
char *ln_json_to_string (json_object *obj, bool pretty);

/* Write seconds + nanos since the epoch as RFC 3339 UTC, with 0, 3, 6 or 9
   fraction digits ("2024-05-01T10:00:00.123Z").  Returns 0, or -1 when out
   of 0001-01-01..9999-12-31, nanos not 0..999999999 or buf too small
   (LN_JSON_TIME_MAX bytes always suffice). */
#define LN_JSON_TIME_MAX 40
int ln_json_format_time (int64_t seconds, int32_t nanos, char *buf, size_t size);

// --------------------------------------------------------------------------
// JSON to message

/* Parse strict JSON text (len bytes; need not be NUL-terminated) into a
   json-c object (the caller releases it with json_object_put).  limits may
   be NULL (defaults); error paths start with prefix (may be NULL).
   Returns NULL with err set (JSON_SYNTAX, JSON_LIMIT, JSON_DUPLICATE_KEY);
   for the text "null" (json-c's NULL object) it returns NULL with
   err->code NULL. */
json_object *ln_json_parse (const char *text, size_t len, const ln_json_limits_t *limits,
                            const char *prefix, ln_error_t *err);

/* Build a message of type desc from JSON text (NUL-terminated).  Returns it
   (the caller frees it with protobuf_c_message_free_unpacked (msg, NULL))
   or NULL with err set. */
ProtobufCMessage *ln_json_to_message (const ProtobufCMessageDescriptor *desc, const char *json,
                                      ln_error_t *err);

/* The same with explicit limits (NULL: defaults) and an error path prefix
   (NULL or "": none; e.g. "post_notice" gives `post_notice.text`). */
ProtobufCMessage *ln_json_to_message_with (const ProtobufCMessageDescriptor *desc, const char *json,
                                           size_t len, const ln_json_limits_t *limits,
                                           const char *prefix, ln_error_t *err);

/* The same from a parsed object (e.g. one piece of a larger document). */
ProtobufCMessage *ln_json_object_to_message (const ProtobufCMessageDescriptor *desc,
                                             json_object *obj, const ln_json_limits_t *limits,
                                             const char *prefix, ln_error_t *err);

/* The lowerCamelCase JSON name of a .proto field name ("post_notice" ->
   "postNotice") into buf.  Returns 0, or -1 when buf is too small. */
int ln_json_name (const char *field_name, char *buf, size_t size);

#endif
