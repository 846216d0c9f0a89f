/*  ln_auth: the ZAP handler and CURVE socket helpers; see ln_auth.h.

    The handler socket (REP) is created and bound in ln_auth_new, in the
    caller's thread, so that a failed bind (another handler exists) is an
    ordinary error instead of an assertion inside an actor; it is then used
    only by the actor thread until ln_auth_destroy has joined that thread
    and closes it (a ZeroMQ socket may move between threads across such a
    full barrier).  The registry is immutable, so the actor and the server
    thread read it without locks; the counters are atomics.

    Why our own handler and not czmq's zauth: zauth can admit the keys of a
    zcertstore, but answers with an empty User-Id, so a server could not
    tell which principal sent a message.
*/
#include "ln_auth.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "ln_log.h"

/* A DRAFT option in 4.3's zmq.h, but built into the library Debian ships;
   set at run time, and a library without it is reported (see below). */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

struct _ln_auth_t {
    ln_registry_t *registry;
    zsock_t *handler; /* REP on LN_AUTH_ZAP_ENDPOINT; the actor's while it runs */
    zactor_t *actor;
    atomic_uint_least64_t accepted;
    atomic_uint_least64_t refused;
    /* Refusal log rate limit; touched by the actor thread only. */
    int64_t log_window_ms;
    unsigned log_in_window;
    unsigned long long log_suppressed;
};

/* --- the handler ------------------------------------------------------------ */

/* Copy a frame into a NUL-terminated string, cut to size-1 bytes. */
static void
s_frame_text (zframe_t *frame, char *buf, size_t size)
{
    size_t len = frame ? zframe_size (frame) : 0;
    if (len > size - 1)
        len = size - 1;
    if (len)
        memcpy (buf, zframe_data (frame), len);
    buf[len] = '\0';
    /* A NUL inside would silently shorten it: make it visible instead. */
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            buf[i] = '?';
}

static void
s_log_refusal (ln_auth_t *self, const char *reason, const char *peer, const char *key,
               const char *mechanism, const char *domain)
{
    int64_t now = zclock_mono ();
    if (now - self->log_window_ms >= 1000) {
        self->log_window_ms = now;
        self->log_in_window = 0;
    }
    if (self->log_in_window >= LN_AUTH_LOG_BURST) {
        self->log_suppressed++;
        return;
    }
    self->log_in_window++;
    ln_log_warn ("zap refused", "reason=%s peer=%s key=%s mechanism=%s domain=%s suppressed=%llu",
                 reason, peer, key, mechanism, domain, self->log_suppressed);
    self->log_suppressed = 0;
}

/* Answer one ZAP request (RFC 27).  A REP socket must answer every request
   it receives, so every path below sends a reply. */
static void
s_handle_request (ln_auth_t *self)
{
    zmsg_t *request = zmsg_recv (self->handler);
    zmsg_t *reply = NULL;
    if (!request)
        return; /* interrupted; nothing was received */

    char version[8], domain[64], peer[128], mechanism[32];
    char key[LN_KEYS_Z85_LEN + 1] = "-";
    const char *status = "400";
    const char *status_text = "refused";
    const char *user_id = "";
    const char *reason = NULL;

    zframe_t *f_version = zmsg_first (request);
    zframe_t *f_request_id = zmsg_next (request);
    zframe_t *f_domain = zmsg_next (request);
    zframe_t *f_address = zmsg_next (request);
    zframe_t *f_identity = zmsg_next (request);
    zframe_t *f_mechanism = zmsg_next (request);
    zframe_t *f_credentials = f_mechanism ? zmsg_next (request) : NULL;
    (void)f_identity;
    s_frame_text (f_version, version, sizeof version);
    s_frame_text (f_domain, domain, sizeof domain);
    s_frame_text (f_address, peer, sizeof peer);
    s_frame_text (f_mechanism, mechanism, sizeof mechanism);
    if (!*peer)
        snprintf (peer, sizeof peer, "-");

    if (!f_mechanism || strcmp (version, "1.0") != 0) {
        status = "500";
        status_text = "malformed ZAP request";
        reason = "malformed_request";
    }
    else if (strcmp (mechanism, "CURVE") != 0) {
        status_text = "only CURVE is allowed";
        reason = "mechanism";
    }
    else if (strcmp (domain, LN_AUTH_DOMAIN) != 0) {
        status_text = "wrong ZAP domain";
        reason = "domain";
    }
    else if (!f_credentials || zframe_size (f_credentials) != 32 || zmsg_size (request) != 7) {
        status = "500";
        status_text = "malformed CURVE credentials";
        reason = "malformed_request";
    }
    else {
        if (!zmq_z85_encode (key, zframe_data (f_credentials), 32))
            snprintf (key, sizeof key, "-");
        const ln_principal_t *principal = ln_registry_lookup (self->registry, key);
        if (principal) {
            status = "200";
            status_text = "OK";
            user_id = principal->public_key;
        }
        else {
            status_text = "unknown key";
            reason = "unknown_key";
        }
    }

    reply = zmsg_new ();
    if (!reply)
        abort ();
    zmsg_addstr (reply, "1.0");
    if (f_request_id)
        zmsg_addmem (reply, zframe_data (f_request_id), zframe_size (f_request_id));
    else
        zmsg_addmem (reply, NULL, 0);
    zmsg_addstr (reply, status);
    zmsg_addstr (reply, status_text);
    zmsg_addstr (reply, user_id);
    zmsg_addmem (reply, NULL, 0); /* no metadata */
    /* Count and log BEFORE replying: once the reply is out, the peer's
       messages can reach the server, and whoever reads the counters after
       seeing them must find this decision counted. */
    if (reason) {
        atomic_fetch_add (&self->refused, 1);
        s_log_refusal (self, reason, peer, key, mechanism, domain);
    }
    else {
        atomic_fetch_add (&self->accepted, 1);
        const ln_principal_t *p = ln_registry_lookup (self->registry, key);
        ln_log_info ("zap admitted", "peer=%s key=%s principal=%s organisation=%s", peer, key,
                     p ? p->name : "-", p ? p->organisation : "-");
    }
    if (zmsg_send (&reply, self->handler) != 0)
        ln_log_error ("zap reply failed", "error=%s", zmq_strerror (zmq_errno ()));
    zmsg_destroy (&reply);
    zmsg_destroy (&request);
}

static void
s_actor (zsock_t *pipe, void *args)
{
    ln_auth_t *self = (ln_auth_t *)args;
    zmq_pollitem_t items[] = {
        {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (self->handler), 0, ZMQ_POLLIN, 0},
    };
    zsock_signal (pipe, 0);

    /* zmq_poll rather than zpoller: a signal (EINTR) must not stop the
       handler, only $TERM from the owner or the end of the context does. */
    bool running = true;
    while (running) {
        int rc = zmq_poll (items, 2, -1);
        if (rc < 0) {
            if (zmq_errno () == EINTR)
                continue;
            break; /* ETERM: the context is going away */
        }
        if (items[0].revents & ZMQ_POLLIN) {
            char *command = zstr_recv (pipe);
            if (!command || strcmp (command, "$TERM") == 0)
                running = false;
            zstr_free (&command);
        }
        if (running && (items[1].revents & ZMQ_POLLIN))
            s_handle_request (self);
    }
}

/* --- life cycle ------------------------------------------------------------- */

ln_auth_t *
ln_auth_new (ln_registry_t **registry_p, ln_error_t *err)
{
    ln_auth_t *self = NULL;
    ln_auth_t *result = NULL;

    if (!registry_p || !*registry_p) {
        ln_error_set (err, "AUTH_INVALID_ARG", "registry", "no registry given");
        goto out;
    }
    if (!zsys_has_curve ()) {
        ln_error_set (err, "AUTH_NO_CURVE", NULL, "libzmq was built without CURVE");
        goto out;
    }
    self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    atomic_init (&self->accepted, 0);
    atomic_init (&self->refused, 0);
    self->handler = zsock_new (ZMQ_REP);
    if (!self->handler) {
        ln_error_set (err, "AUTH_SOCKET", NULL, "cannot create the ZAP socket: %s",
                      zmq_strerror (zmq_errno ()));
        goto out;
    }
    zsock_set_linger (self->handler, 0);
    if (zsock_bind (self->handler, "%s", LN_AUTH_ZAP_ENDPOINT) != 0) {
        int e = zmq_errno ();
        if (e == EADDRINUSE)
            ln_error_set (err, "AUTH_HANDLER_EXISTS", NULL,
                          "another ZAP handler is already bound to %s in this process",
                          LN_AUTH_ZAP_ENDPOINT);
        else
            ln_error_set (err, "AUTH_SOCKET", NULL, "cannot bind %s: %s", LN_AUTH_ZAP_ENDPOINT,
                          zmq_strerror (e));
        goto out;
    }
    self->registry = *registry_p;
    self->actor = zactor_new (s_actor, self);
    if (!self->actor) {
        self->registry = NULL; /* still the caller's */
        ln_error_set (err, "AUTH_SOCKET", NULL, "cannot start the ZAP handler thread");
        goto out;
    }
    *registry_p = NULL;
    ln_log_info ("zap handler started", "endpoint=%s domain=%s principals=%zu",
                 LN_AUTH_ZAP_ENDPOINT, LN_AUTH_DOMAIN, ln_registry_size (self->registry));
    result = self;
    self = NULL;
out:
    ln_auth_destroy (&self);
    return result;
}

void
ln_auth_destroy (ln_auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ln_auth_t *self = *self_p;
    /* Join the actor first: only then is the handler socket ours again. */
    zactor_destroy (&self->actor);
    if (self->handler) {
        /* Unbind explicitly: it frees the inproc name at once, so that a new
           handler can be bound straight after. */
        zsock_unbind (self->handler, "%s", LN_AUTH_ZAP_ENDPOINT);
        zsock_destroy (&self->handler);
    }
    ln_registry_destroy (&self->registry);
    free (self);
    *self_p = NULL;
}

const ln_registry_t *
ln_auth_registry (const ln_auth_t *self)
{
    return self ? self->registry : NULL;
}

uint64_t
ln_auth_accepted_count (const ln_auth_t *self)
{
    return self ? atomic_load (&((ln_auth_t *)self)->accepted) : 0;
}

uint64_t
ln_auth_refused_count (const ln_auth_t *self)
{
    return self ? atomic_load (&((ln_auth_t *)self)->refused) : 0;
}

const ln_principal_t *
ln_auth_principal_of (ln_auth_t *self, zframe_t *frame)
{
    if (!self || !frame)
        return NULL;
    /* The ZAP reply's User-Id takes precedence over any property a peer
       sends in its handshake metadata (libzmq merges ZAP properties first
       and does not overwrite), and we always set it. */
    const char *user_id = zframe_meta (frame, "User-Id");
    return user_id ? ln_registry_lookup (self->registry, user_id) : NULL;
}

const ln_principal_t *
ln_auth_principal_of_user_id (ln_auth_t *self, const char *user_id)
{
    return self && user_id ? ln_registry_lookup (self->registry, user_id) : NULL;
}

const ln_principal_t *
ln_auth_principal_of_msg (ln_auth_t *self, zmsg_t *msg)
{
    return msg ? ln_auth_principal_of (self, zmsg_first (msg)) : NULL;
}

/* --- socket helpers ------------------------------------------------------------ */

static bool
s_has_secret (zcert_t *cert)
{
    const byte *secret = zcert_secret_key (cert);
    byte any = 0;
    for (size_t i = 0; i < 32; i++)
        any |= secret[i];
    return any != 0;
}

static void
s_common_options (zsock_t *sock)
{
    zsock_set_maxmsgsize (sock, LN_AUTH_MAXMSGSIZE);
    zsock_set_heartbeat_ivl (sock, LN_AUTH_HEARTBEAT_IVL_MS);
    zsock_set_heartbeat_timeout (sock, LN_AUTH_HEARTBEAT_TIMEOUT_MS);
    zsock_set_heartbeat_ttl (sock, LN_AUTH_HEARTBEAT_TTL_MS);
    zsock_set_handshake_ivl (sock, LN_AUTH_HANDSHAKE_IVL_MS);
}

zsock_t *
ln_auth_server_socket (ln_auth_t *auth, int type, const char *endpoint, zcert_t *server_cert,
                       ln_error_t *err)
{
    zsock_t *sock = NULL;
    zsock_t *result = NULL;

    if (!auth || !endpoint || !server_cert) {
        ln_error_set (err, "AUTH_INVALID_ARG", NULL,
                      "a server socket needs a running auth, an endpoint and a certificate");
        goto out;
    }
    if (!s_has_secret (server_cert)) {
        ln_error_set (err, "AUTH_NO_SECRET", NULL, "the server certificate has no secret key");
        goto out;
    }
    sock = zsock_new (type);
    if (!sock) {
        ln_error_set (err, "AUTH_SOCKET", NULL, "cannot create socket: %s",
                      zmq_strerror (zmq_errno ()));
        goto out;
    }
    zsock_set_zap_domain (sock, LN_AUTH_DOMAIN);
    int enforce = 1;
    if (zmq_setsockopt (zsock_resolve (sock), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce, sizeof enforce) !=
        0) {
        /* Only matters if the handler is gone; say so, once per socket. */
        ln_log_warn (
            "zap domain not enforced", "endpoint=%s error=%s note=%s", endpoint,
            zmq_strerror (zmq_errno ()),
            "libzmq lacks ZMQ_ZAP_ENFORCE_DOMAIN; without a handler CURVE would admit anyone");
    }
    /* Both keys directly, not zcert_apply(): newer czmq versions also copy
       certificate metadata into ZMQ_METADATA there, which we do not want on
       the wire. */
    zsock_set_curve_secretkey_bin (sock, zcert_secret_key (server_cert));
    zsock_set_curve_publickey_bin (sock, zcert_public_key (server_cert));
    zsock_set_curve_server (sock, 1);
    s_common_options (sock);
    /* Per-connection options are taken at bind: set the queue bound here.
       A node's subscribers hold at most LN_AUTH_CREDIT_MAX Delivers in
       flight, so a queue a little larger never drops one. */
    zsock_set_sndhwm (sock, LN_AUTH_SERVER_SNDHWM);
    if (zsock_bind (sock, "%s", endpoint) < 0) {
        ln_error_set (err, "AUTH_SOCKET", "endpoint", "cannot bind %s: %s", endpoint,
                      zmq_strerror (zmq_errno ()));
        goto out;
    }
    result = sock;
    sock = NULL;
out:
    zsock_destroy (&sock);
    return result;
}

zsock_t *
ln_auth_client_socket (int type, const char *endpoint, zcert_t *client_cert,
                       const char *server_public_z85, ln_error_t *err)
{
    zsock_t *sock = NULL;
    zsock_t *result = NULL;
    byte server_key[32];

    if (!endpoint || !client_cert || !server_public_z85) {
        ln_error_set (err, "AUTH_INVALID_ARG", NULL,
                      "a client socket needs an endpoint, a certificate and the server's key");
        goto out;
    }
    if (strnlen (server_public_z85, LN_KEYS_Z85_LEN + 1) != LN_KEYS_Z85_LEN ||
        !zmq_z85_decode (server_key, server_public_z85)) {
        ln_error_set (err, "AUTH_INVALID_ARG", "server_key",
                      "the server's public key is not 40 characters of Z85");
        goto out;
    }
    if (!s_has_secret (client_cert)) {
        ln_error_set (err, "AUTH_NO_SECRET", NULL, "the client certificate has no secret key");
        goto out;
    }
    sock = zsock_new (type);
    if (!sock) {
        ln_error_set (err, "AUTH_SOCKET", NULL, "cannot create socket: %s",
                      zmq_strerror (zmq_errno ()));
        goto out;
    }
    zsock_set_curve_serverkey_bin (sock, server_key);
    zsock_set_curve_secretkey_bin (sock, zcert_secret_key (client_cert));
    zsock_set_curve_publickey_bin (sock, zcert_public_key (client_cert));
    s_common_options (sock);
    zsock_set_reconnect_ivl (sock, LN_AUTH_RECONNECT_IVL_MS);
    zsock_set_reconnect_ivl_max (sock, LN_AUTH_RECONNECT_IVL_MAX_MS);
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        ln_error_set (err, "AUTH_SOCKET", "endpoint", "cannot connect to %s: %s", endpoint,
                      zmq_strerror (zmq_errno ()));
        goto out;
    }
    result = sock;
    sock = NULL;
out:
    zsock_destroy (&sock);
    return result;
}
