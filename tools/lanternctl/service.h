/*  lanternctl service: call a command a node serves by its message type
    (Request.call, a google.protobuf.Any; docs/protocol.md 4.1), for the
    subcommands of services (upstream, agenda, decide, ...): one function
    that packs the command, sends it with the usual request options
    (request.h), and decodes the result as hostile input.
*/
#ifndef LANTERNCTL_SERVICE_H
#define LANTERNCTL_SERVICE_H

#include <protobuf-c/protobuf-c.h>

#include "ln_client.h"
#include "request.h"

/* Call `command` (a lantern.v1 command message) and wait for its reply.
   Returns LANTERNCTL_EXIT_OK with *result set to the decoded result of
   type `result_type` (free it with protobuf_c_message_free_unpacked);
   LANTERNCTL_EXIT_FAIL after printing the node's refusal ("lanternctl:
   CMD: CODE at FIELD: message"), or when the result is not what was
   expected; LANTERNCTL_EXIT_UNAVAILABLE when no reply came (the message
   says which request_id to retry with). */
int lanternctl_service_call (ln_client_t *client, const char *cmd, const lanternctl_req_t *req,
                             const ProtobufCMessage *command,
                             const ProtobufCMessageDescriptor *result_type,
                             ProtobufCMessage **result);

#endif
