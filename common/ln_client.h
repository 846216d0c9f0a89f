/*  ln_client: the client side of the wire protocol (docs/protocol.md), for
    lanternctl, tests and services that call other nodes.

    A client is one CURVE DEALER connected to one node.  It sends
    ClientMessages and receives ServerMessages, each checked as hostile
    input (ln_pbcheck) before the caller sees it.  ln_client_call sends a
    Request and waits for the Reply with the same request_id, resending the
    SAME request (same request_id: the node's idempotency makes that safe)
    when no reply comes in time; other messages that arrive meanwhile (a
    Deliver of a subscription on the same connection) are kept in order for
    ln_client_recv.

    Error codes (ln_error_t.code): CLIENT_INVALID, CLIENT_SEND (no connection
    to send on within LN_CLIENT_SEND_TIMEOUT_MS), CLIENT_TIMEOUT (no reply
    after every attempt: the command may or may not have taken effect; retry
    with the same request_id), CLIENT_BAD_MESSAGE (the node sent something
    that fails the checks), plus AUTH_* from making the socket.
*/
#ifndef LN_CLIENT_H
#define LN_CLIENT_H

#include <czmq.h>

#include "ln_error.h"
#include "wire.pb-c.h"

typedef struct ln_client_t ln_client_t;

/* How long a send may wait for a connection before it fails (CLIENT_SEND). */
#define LN_CLIENT_SEND_TIMEOUT_MS 5000

/* Connect to `endpoint` (the node's public key `server_public_z85`), as the
   key pair in `cert` (borrowed).  Connecting is asynchronous: a node that is
   down, or that refuses our key, shows as timeouts.  NULL on error. */
ln_client_t *ln_client_new (const char *endpoint, const char *server_public_z85, zcert_t *cert,
                            ln_error_t *err);
void ln_client_destroy (ln_client_t **self_p);

/* The DEALER socket, for a poller. */
zsock_t *ln_client_socket (ln_client_t *self);

/* A fresh request_id: "<prefix>-<32 hex>" (prefix may be NULL: "r"). */
void ln_client_request_id (const char *prefix, char *out, size_t size);

/* Send one message.  Returns 0 or -1. */
int ln_client_send (ln_client_t *self, const Lantern__V1__ClientMessage *msg, ln_error_t *err);

/* Receive the next message within timeout_ms (-1: wait for ever).  Returns
   it (free with lantern__v1__server_message__free_unpacked (m, NULL)) or
   NULL with err set (CLIENT_TIMEOUT, CLIENT_BAD_MESSAGE). */
Lantern__V1__ServerMessage *ln_client_recv (ln_client_t *self, int timeout_ms, ln_error_t *err);

/* Send `request` and wait for its Reply: up to `attempts` sends of the same
   bytes, each waiting timeout_ms.  Returns the Reply's ServerMessage (free
   as above; check reply->status) or NULL with err set. */
Lantern__V1__ServerMessage *ln_client_call (ln_client_t *self, const Lantern__V1__Request *request,
                                            int timeout_ms, int attempts, ln_error_t *err);

#endif
