/*  decoders: every decoder that reads a peer's bytes, one function each,
    for the libFuzzer harnesses (tests/fuzz/fuzz_*.c).

    Each function feeds the bytes to the decoder exactly as the code that
    meets them in production does, then checks the decoder's promises, and
    aborts (a finding) when one is broken; ASan and UBSan (built in by
    `make fuzz`) catch memory errors, leaks and undefined behaviour.  A new
    decoder is one more function here and one call in a harness; a new
    message type reachable from the wire, the envelope or an event payload
    is covered without code (the descriptors are walked).

    Promises checked for every protobuf decode (fuzz_protobuf):
      - a refusal carries a PB_ code and a bounded field path;
      - an accepted message passes the message pass again, survives a
        pack / check / unpack round trip, and JSON out and back (ln_json)
        gives the same bytes;
      - when the wire pass accepts the bytes, protobuf-c's real allocations
        (counted by an allocator) stay within the wire pass's estimate, and
        the message pass never finds a count the wire pass missed.
*/
#ifndef FUZZ_DECODERS_H
#define FUZZ_DECODERS_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>
#include <stdint.h>

/* Abort unless ok: a broken promise is a finding. */
void fuzz_check (int ok, const char *what);

/* ln_pbcheck_unpack of `desc` from peer bytes, with the checks above.
   Returns the message (free with protobuf_c_message_free_unpacked) or
   NULL when refused. */
ProtobufCMessage *fuzz_protobuf (const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                 size_t size);

/* A node receiving a frame: ClientMessage as ln_server decodes it, and
   for a refused one, the request_id and command lookups it makes in the
   raw bytes (ln_pbcheck_find_id {1, 1}, ln_pbcheck_find_field {1, n} for
   every command of Request). */
void fuzz_client_message (const uint8_t *data, size_t size);

/* One command's own bytes, as a node will decode them from a Request
   (today a oneof member, soon a google.protobuf.Any's value): `selector`
   picks the command among fuzz_commands. */
void fuzz_command (uint8_t selector, const uint8_t *data, size_t size);

/* The command message types a node decodes: every message-typed member of
   Request's `command` oneof.  *count gets their number.  When commands
   move into google.protobuf.Any, list the registered command types
   here. */
const ProtobufCMessageDescriptor *const *fuzz_commands (size_t *count);

/* A client or consumer receiving a frame: ServerMessage as ln_client and
   ln_consumer decode it, then a Deliver's event as ln_consumer and
   `lanternctl events tail` do (fuzz_envelope). */
void fuzz_server_message (const uint8_t *data, size_t size);

/* An event (a serialised CloudEvent) through ln_envelope_parse, its
   promises, and its payload out as JSON (lanternctl events tail). */
void fuzz_envelope (const uint8_t *data, size_t size);

/* ln_json_parse of text: accepted text prints and parses back to an equal
   object. */
void fuzz_json_text (const uint8_t *data, size_t size);

/* JSON to a message of `desc` (ln_json_to_message_with), as lanternctl
   reads a command or a file; an accepted one goes back to the same JSON
   meaning (message -> JSON -> message gives the same bytes). */
void fuzz_json_message (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t size);

/* Every message type that can reach a decoder: the closure of
   ClientMessage, ServerMessage, CloudEvent and every registered event
   payload over their message fields (deterministic order); *count gets
   their number. */
const ProtobufCMessageDescriptor *const *fuzz_message_types (size_t *count);

/* The type among fuzz_message_types named `name` (e.g.
   "lantern.v1.SubmitSignal", len bytes), or NULL. */
const ProtobufCMessageDescriptor *fuzz_message_type (const char *name, size_t len);

#endif
