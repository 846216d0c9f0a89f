/*  lanternctl service: see service.h. */
#include "service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/any.pb-c.h"
#include "lanternctl.h"
#include "ln_messages.h"
#include "ln_pbcheck.h"

int
lanternctl_service_call (ln_client_t *client, const char *cmd, const lanternctl_req_t *req,
                         const ProtobufCMessage *command,
                         const ProtobufCMessageDescriptor *result_type, ProtobufCMessage **result)
{
    int rc = LANTERNCTL_EXIT_FAIL;
    Lantern__V1__ServerMessage *answer = NULL;
    char type_url[300];
    *result = NULL;
    size_t size = protobuf_c_message_get_packed_size (command);
    uint8_t *packed = malloc (size ? size : 1);
    if (!packed || ln_messages_type_url (command->descriptor, type_url, sizeof type_url) != 0)
        abort ();
    protobuf_c_message_pack (command, packed);
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = type_url;
    any.value.data = packed;
    any.value.len = size;
    Lantern__V1__Request request = LANTERN__V1__REQUEST__INIT;
    request.command_case = LANTERN__V1__REQUEST__COMMAND_CALL;
    request.call = &any;
    if (lanternctl_request (client, cmd, req, &request, &answer) != 0) {
        rc = LANTERNCTL_EXIT_UNAVAILABLE;
        goto out;
    }
    const Lantern__V1__Reply *reply = answer->reply;
    if (reply->status != LANTERN__V1__REPLY__STATUS__OK) {
        lanternctl_print_refusal (cmd, reply->error);
        goto out;
    }
    char expected[300];
    ln_messages_type_url (result_type, expected, sizeof expected);
    if (reply->result_case != LANTERN__V1__REPLY__RESULT_CALL_RESULT ||
        strcmp (reply->call_result->type_url, expected) != 0) {
        fprintf (stderr, "lanternctl: %s: the node answered with %s, not %s\n", cmd,
                 reply->result_case == LANTERN__V1__REPLY__RESULT_CALL_RESULT
                     ? reply->call_result->type_url
                     : "another result",
                 expected);
        goto out;
    }
    ln_error_t err;
    *result =
        ln_pbcheck_unpack (result_type, reply->call_result->value.data,
                           reply->call_result->value.len, &ln_pbcheck_wire_limits, NULL, &err);
    if (!*result) {
        fprintf (stderr, "lanternctl: %s: the result does not decode: %s at %s: %s\n", cmd,
                 err.code, err.field, err.message);
        goto out;
    }
    rc = LANTERNCTL_EXIT_OK;
out:
    if (answer)
        lantern__v1__server_message__free_unpacked (answer, NULL);
    free (packed);
    return rc;
}
