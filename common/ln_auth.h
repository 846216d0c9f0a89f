/*  ln_auth: the ZAP handler that guards every Lantern server, and helpers
    that make correctly secured CURVE server and client sockets.

    Without a ZAP handler, libzmq lets *any* CURVE client in (the
    "Stonehouse" pattern).  ln_auth runs one ZAP handler (RFC 27) in an actor
    thread, bound to inproc://zeromq.zap.01 in czmq's shared ZeroMQ context
    (the one every zsock_t lives in).  For each handshake it:

      - admits a CURVE client whose public key is in the registry (ln_keys.h)
        and answers with User-Id = that key's Z85 text, so that every frame
        the server receives carries it (zframe_meta (frame, "User-Id"));
        ln_auth_principal_of() turns that back into the principal;
      - refuses everything else: an unknown key, any mechanism other than
        CURVE, a ZAP domain other than LN_AUTH_DOMAIN, a malformed request.
        Each refusal is counted and logged (ln_log_warn "zap refused", with
        the reason, the peer's address and the client's public key, which is
        not secret).  Log lines are limited to LN_AUTH_LOG_BURST a second, so
        a client that keeps reconnecting cannot flood the log; the next line
        says how many were suppressed.  The counters count every refusal.

    ONE HANDLER PER CONTEXT: libzmq sends every ZAP request of a context to
    whichever socket is bound to inproc://zeromq.zap.01, so a process has at
    most one ln_auth (a second ln_auth_new fails with AUTH_HANDLER_EXISTS),
    and nothing else in the process may use czmq's zauth.  All server
    sockets of the process share it and its registry.

    Fail closed: ln_auth_server_socket() sets the ZAP domain and
    ZMQ_ZAP_ENFORCE_DOMAIN, so if the handler is gone (destroyed, or never
    started), CURVE handshakes are refused instead of admitted.  A client
    that does not speak CURVE at all (NULL or PLAIN) never reaches ZAP: libzmq
    drops it at the greeting (mechanism mismatch), so it is refused but not
    counted here.

    Thread use: create, destroy and the socket helpers from one thread (the
    owner).  The counters and ln_auth_principal_of() may be read from any
    thread: the registry is immutable while the handler runs.

    Error codes (ln_error_t.code):
      AUTH_INVALID_ARG      a NULL or unusable argument
      AUTH_NO_CURVE         libzmq was built without CURVE
      AUTH_HANDLER_EXISTS   another ZAP handler is bound in this process
      AUTH_NO_SECRET        a certificate without a secret key where one is needed
      AUTH_SOCKET           a socket could not be created, bound or connected
*/
#ifndef LN_AUTH_H
#define LN_AUTH_H

#include <stdint.h>

#include <czmq.h>

#include "ln_error.h"
#include "ln_keys.h"

#define LN_AUTH_DOMAIN       "lantern"
#define LN_AUTH_ZAP_ENDPOINT "inproc://zeromq.zap.01"

/* Socket options the helpers set.  MAXMSGSIZE bounds every frame a peer can
   make us allocate (docs/architecture.md "Hostile input"); heartbeats notice a dead
   peer within HEARTBEAT_TIMEOUT; the handshake limit stops a peer that
   opens a connection and never finishes it from holding it for long. */
#define LN_AUTH_MAXMSGSIZE           (1024 * 1024)
#define LN_AUTH_HEARTBEAT_IVL_MS     5000
#define LN_AUTH_HEARTBEAT_TIMEOUT_MS 15000
#define LN_AUTH_HEARTBEAT_TTL_MS     15000
#define LN_AUTH_HANDSHAKE_IVL_MS     10000
#define LN_AUTH_RECONNECT_IVL_MS     100   /* first retry of a client ... */
#define LN_AUTH_RECONNECT_IVL_MAX_MS 30000 /* ... backing off up to this */
#define LN_AUTH_SERVER_SNDHWM        11000 /* per connection: above the largest credit (10000) */
#define LN_AUTH_LOG_BURST            20    /* refusal log lines per second */

typedef struct _ln_auth_t ln_auth_t;

/* Start the ZAP handler with this registry.  On success it takes the
   registry (*registry_p becomes NULL) and keeps it until ln_auth_destroy;
   on failure the caller still owns it.  Returns NULL with err set. */
ln_auth_t *ln_auth_new (ln_registry_t **registry_p, ln_error_t *err);

/* Stop the handler and free the registry.  NULL-safe; sets *self_p = NULL.
   Server sockets made with this auth refuse new clients afterwards. */
void ln_auth_destroy (ln_auth_t **self_p);

/* The registry the handler admits from. */
const ln_registry_t *ln_auth_registry (const ln_auth_t *self);

/* The principal that sent this frame (any frame of a message received on a
   server socket made by ln_auth_server_socket, including a ROUTER's routing
   id frame), or NULL when the frame carries no User-Id (e.g. it was not
   received from such a socket) or the key is not in the registry.  The
   pointer is valid until ln_auth_destroy. */
const ln_principal_t *ln_auth_principal_of (ln_auth_t *self, zframe_t *frame);

/* Same, from the User-Id metadata of a received zmq_msg_t
   (zmq_msg_gets (msg, "User-Id")); NULL-safe. */
const ln_principal_t *ln_auth_principal_of_user_id (ln_auth_t *self, const char *user_id);

/* Same, for a whole message (reads its first frame; moves its cursor). */
const ln_principal_t *ln_auth_principal_of_msg (ln_auth_t *self, zmsg_t *msg);

/* Handshakes admitted / refused so far.  Any thread. */
uint64_t ln_auth_accepted_count (const ln_auth_t *self);
uint64_t ln_auth_refused_count (const ln_auth_t *self);

/* A CURVE server socket of `type` (e.g. ZMQ_ROUTER) bound to `endpoint`
   (e.g. "tcp://127.0.0.1:*"; zsock_endpoint() tells the port), with
   `server_cert`'s key pair, ZAP domain LN_AUTH_DOMAIN (enforced), and the
   limits above.  Needs a running auth, so that no server ever exists
   without a handler.  Returns NULL with err set. */
zsock_t *ln_auth_server_socket (ln_auth_t *auth, int type, const char *endpoint,
                                zcert_t *server_cert, ln_error_t *err);

/* A CURVE client socket of `type` (e.g. ZMQ_DEALER) with `client_cert`'s
   key pair, connecting to `endpoint` whose server has the public key
   `server_public_z85` (40 characters), with heartbeats, reconnect backoff
   and MAXMSGSIZE.  Returns NULL with err set. */
zsock_t *ln_auth_client_socket (int type, const char *endpoint, zcert_t *client_cert,
                                const char *server_public_z85, ln_error_t *err);

#endif
