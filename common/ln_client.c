/*  ln_client: see ln_client.h. */
#include "ln_client.h"

#include <sodium.h>
#include <string.h>

#include "ln_auth.h"
#include "ln_pbcheck.h"

struct ln_client_t {
    zsock_t *dealer;
    zlist_t *held; /* ServerMessages received while waiting for a Reply */
};

ln_client_t *
ln_client_new (const char *endpoint, const char *server_public_z85, zcert_t *cert, ln_error_t *err)
{
    if (!endpoint || !server_public_z85 || !cert) {
        ln_error_set (err, "CLIENT_INVALID", NULL,
                      "endpoint, server key and certificate are required");
        return NULL;
    }
    ln_client_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->dealer = ln_auth_client_socket (ZMQ_DEALER, endpoint, cert, server_public_z85, err);
    self->held = zlist_new ();
    if (!self->dealer) {
        ln_client_destroy (&self);
        return NULL;
    }
    /* A DEALER blocks a send while it has no connected peer (the node is
       down, or refuses our key): give up instead of hanging. */
    zsock_set_sndtimeo (self->dealer, LN_CLIENT_SEND_TIMEOUT_MS);
    return self;
}

void
ln_client_destroy (ln_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ln_client_t *self = *self_p;
    if (self->held) {
        Lantern__V1__ServerMessage *m;
        while ((m = zlist_pop (self->held)))
            lantern__v1__server_message__free_unpacked (m, NULL);
        zlist_destroy (&self->held);
    }
    zsock_destroy (&self->dealer);
    free (self);
    *self_p = NULL;
}

zsock_t *
ln_client_socket (ln_client_t *self)
{
    return self->dealer;
}

void
ln_client_request_id (const char *prefix, char *out, size_t size)
{
    unsigned char raw[16];
    char hex[33];
    randombytes_buf (raw, sizeof raw);
    sodium_bin2hex (hex, sizeof hex, raw, sizeof raw);
    snprintf (out, size, "%s-%s", prefix ? prefix : "r", hex);
}

int
ln_client_send (ln_client_t *self, const Lantern__V1__ClientMessage *msg, ln_error_t *err)
{
    size_t size = lantern__v1__client_message__get_packed_size (msg);
    zframe_t *frame = zframe_new (NULL, size);
    lantern__v1__client_message__pack (msg, zframe_data (frame));
    if (zframe_send (&frame, self->dealer, 0) != 0) {
        zframe_destroy (&frame);
        ln_error_set (err, "CLIENT_SEND", NULL, "could not send: %s", zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}

/* Receive from the socket itself (not the held list). */
static Lantern__V1__ServerMessage *
s_recv_raw (ln_client_t *self, int timeout_ms, ln_error_t *err)
{
    zsock_set_rcvtimeo (self->dealer, timeout_ms);
    zmsg_t *zmsg = zmsg_recv (self->dealer);
    if (!zmsg) {
        ln_error_set (err, "CLIENT_TIMEOUT", NULL, "no answer within %d ms", timeout_ms);
        return NULL;
    }
    Lantern__V1__ServerMessage *msg = NULL;
    if (zmsg_size (zmsg) != 1)
        ln_error_set (err, "CLIENT_BAD_MESSAGE", NULL, "a message of %zu frames", zmsg_size (zmsg));
    else {
        zframe_t *f = zmsg_first (zmsg);
        msg = (Lantern__V1__ServerMessage *)ln_pbcheck_unpack (
            &lantern__v1__server_message__descriptor, zframe_data (f), zframe_size (f),
            &ln_pbcheck_wire_limits, NULL, err);
        if (!msg && err)
            err->code = "CLIENT_BAD_MESSAGE";
    }
    zmsg_destroy (&zmsg);
    return msg;
}

Lantern__V1__ServerMessage *
ln_client_recv (ln_client_t *self, int timeout_ms, ln_error_t *err)
{
    Lantern__V1__ServerMessage *held = zlist_pop (self->held);
    if (held)
        return held;
    return s_recv_raw (self, timeout_ms, err);
}

static int64_t
s_now_ms (void)
{
    return zclock_mono ();
}

Lantern__V1__ServerMessage *
ln_client_call (ln_client_t *self, const Lantern__V1__Request *request, int timeout_ms,
                int attempts, ln_error_t *err)
{
    Lantern__V1__ClientMessage msg = LANTERN__V1__CLIENT_MESSAGE__INIT;
    msg.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    msg.request = (Lantern__V1__Request *)request;
    for (int attempt = 0; attempt < (attempts > 0 ? attempts : 1); attempt++) {
        if (ln_client_send (self, &msg, err) != 0)
            return NULL;
        int64_t deadline = s_now_ms () + timeout_ms;
        while (true) {
            int64_t left = deadline - s_now_ms ();
            if (left <= 0)
                break;
            ln_error_t rerr;
            Lantern__V1__ServerMessage *m = s_recv_raw (self, (int)left, &rerr);
            if (!m) {
                if (rerr.code && strcmp (rerr.code, "CLIENT_TIMEOUT") == 0)
                    break;
                if (err)
                    *err = rerr;
                return NULL;
            }
            if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_REPLY &&
                strcmp (m->reply->request_id, request->request_id) == 0)
                return m;
            if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_REPLY)
                lantern__v1__server_message__free_unpacked (m, NULL); /* an old retry's reply */
            else
                zlist_append (self->held, m);
        }
    }
    ln_error_set (err, "CLIENT_TIMEOUT", NULL,
                  "no reply after %d attempt(s) of %d ms; the command may or may not have taken "
                  "effect: retry with the same request_id",
                  attempts, timeout_ms);
    return NULL;
}
