/*  conformance: the helpers the services' case files share
    (conformance.h). */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <czmq.h>

#include "google/protobuf/any.pb-c.h"
#include "ln_clock.h"
#include "ln_messages.h"

void
conf_request_id (char *out, size_t size)
{
    static unsigned counter;
    snprintf (out, size, "conf-%d-%u", (int)getpid (), ++counter);
}

uint8_t *
conf_pack_request (const char *request_id, unsigned field, const ProtobufCMessage *command,
                   size_t *size)
{
    Lantern__V1__Request request = LANTERN__V1__REQUEST__INIT;
    request.request_id = (char *)request_id;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    char type_url[300];
    uint8_t *value = NULL;
    if (field == CONF_CALL) {
        if (ln_messages_type_url (command->descriptor, type_url, sizeof type_url) != 0)
            abort ();
        size_t len = protobuf_c_message_get_packed_size (command);
        value = malloc (len ? len : 1);
        if (!value)
            abort ();
        protobuf_c_message_pack (command, value);
        any.type_url = type_url;
        any.value.data = value;
        any.value.len = len;
        request.command_case = LANTERN__V1__REQUEST__COMMAND_CALL;
        request.call = &any;
    }
    else if (command) {
        const ProtobufCFieldDescriptor *f =
            protobuf_c_message_descriptor_get_field (&lantern__v1__request__descriptor, field);
        if (!f || f->descriptor != command->descriptor)
            abort (); /* a mistake in a case */
        *(const ProtobufCMessage **)((char *)&request + f->offset) = command;
        *(uint32_t *)((char *)&request + f->quantifier_offset) = f->id;
    }
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    cm.request = &request;
    *size = lantern__v1__client_message__get_packed_size (&cm);
    uint8_t *out = malloc (*size ? *size : 1);
    if (!out)
        abort ();
    lantern__v1__client_message__pack (&cm, out);
    free (value);
    return out;
}

int
conf_send_raw (ln_client_t *client, const uint8_t *data, size_t size, int frames, int timeout_ms,
               conf_result_t *result)
{
    result->msg = NULL;
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, data, size);
    for (int i = 1; i < frames; i++)
        zmsg_addmem (msg, NULL, 0);
    if (zmsg_send (&msg, ln_client_socket (client)) != 0) {
        zmsg_destroy (&msg);
        fprintf (stderr, "conformance: cannot send\n");
        return -1;
    }
    int64_t deadline = ln_clock_mono_ms () + timeout_ms;
    while (ln_clock_mono_ms () < deadline) {
        ln_error_t err;
        Lantern__V1__ServerMessage *m =
            ln_client_recv (client, (int)(deadline - ln_clock_mono_ms ()), &err);
        if (!m)
            continue;
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_REPLY) {
            result->msg = m;
            return 0;
        }
        lantern__v1__server_message__free_unpacked (m, NULL);
    }
    return 0;
}

int
conf_call (ln_client_t *client, unsigned field, const ProtobufCMessage *command,
           conf_result_t *result)
{
    conf_request_id (result->request_id, sizeof result->request_id);
    size_t size = 0;
    uint8_t *bytes = conf_pack_request (result->request_id, field, command, &size);
    int rc = conf_send_raw (client, bytes, size, 1, 10000, result);
    free (bytes);
    return rc;
}
