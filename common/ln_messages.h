/*  ln_messages: every lantern.v1 message this build knows, by name.

    Commands and events name their message type on the wire
    (google.protobuf.Any's type_url, a CloudEvent's dataschema): a node
    decodes a command it serves, and lanternctl shows any result or event,
    by looking the name up here.  The table is generated at build time from
    every .proto file under proto/ of package lantern.v1 (tools/build/gen-messages.sh),
    so a service that adds a proto file adds its messages without editing
    this module.  A name found here is a type this binary can decode; that
    a node ACCEPTS it as a command is decided by the commands the node
    serves (ln_server), never by this table.
*/
#ifndef LN_MESSAGES_H
#define LN_MESSAGES_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#define LN_MESSAGES_TYPE_URL_PREFIX "type.googleapis.com/"

/* The message with this full name ("lantern.v1.RecordDecision"), or NULL. */
const ProtobufCMessageDescriptor *ln_messages_find (const char *full_name);

/* The same from a type URL ("type.googleapis.com/lantern.v1.RecordDecision";
   the part after the last '/' is the name, as google.protobuf.Any says). */
const ProtobufCMessageDescriptor *ln_messages_find_url (const char *type_url);

/* Write "type.googleapis.com/<full name>" into out.  0, or -1 when it does
   not fit. */
int ln_messages_type_url (const ProtobufCMessageDescriptor *desc, char *out, size_t size);

/* Every known message, NULL-terminated (count: may be NULL). */
const ProtobufCMessageDescriptor *const *ln_messages_all (size_t *count);

#endif
