/*  Integration test of ln_auth over real sockets (CURVE, tcp on loopback):
    a ROUTER server guarded by the ZAP handler admits registered keys and
    tells the principal of every message it receives; unknown keys, clients
    without CURVE, and sockets that bypass our helper's ZAP domain get no
    message through; refusals are counted and logged; without a handler the
    server fails closed.

    Keys: alice and bob are in the registry, mallory is not (her .pub is
    kept out of it), server is the server's own pair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ln_auth.h"
#include "ln_keys.h"
#include "ln_log.h"

#define QUIET_MS 500 /* how long "never receives anything" is watched */

static char s_root[64];     /* temporary directory */
static char s_keys[96];     /* secrets of everyone */
static char s_registry[96]; /* alice.pub, bob.pub */
static char s_server_key[LN_KEYS_Z85_LEN + 1];
static char s_mallory_key[LN_KEYS_Z85_LEN + 1];

typedef struct {
    ln_auth_t *auth;
    zsock_t *server;
    zcert_t *server_cert;
    char endpoint[128];
    FILE *log;
} fixture_t;

/* --- helpers -------------------------------------------------------------- */

static void
s_generate (const char *dir, const char *name, const char *org, const char *roles,
            const char *level, char *key_out)
{
    ln_principal_t p;
    ln_error_t err;
    if (ln_principal_init (&p, name, org, roles, level, &err) != 0 ||
        ln_keys_generate (dir, name, &p, key_out, &err) != 0)
        fail_msg ("keygen %s: %s", name, err.message);
}

static void
s_remove_dir (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return;
    struct dirent *de;
    char path[512];
    while ((de = readdir (d)) != NULL) {
        if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || strcmp (de->d_name, "..") == 0))
            continue;
        snprintf (path, sizeof path, "%s/%s", dir, de->d_name);
        unlink (path);
    }
    closedir (d);
    rmdir (dir);
}

static zcert_t *
s_secret_cert (const char *name)
{
    char path[256];
    ln_error_t err;
    snprintf (path, sizeof path, "%s/%s.secret", s_keys, name);
    zcert_t *cert = ln_keys_load_secret (path, &err);
    if (!cert)
        fail_msg ("load %s: %s", name, err.message);
    return cert;
}

/* A CURVE DEALER client holding `name`'s keys, connected to the server. */
static zsock_t *
s_client (fixture_t *fx, const char *name)
{
    ln_error_t err;
    zcert_t *cert = s_secret_cert (name);
    zsock_t *client = ln_auth_client_socket (ZMQ_DEALER, fx->endpoint, cert, s_server_key, &err);
    zcert_destroy (&cert);
    if (!client)
        fail_msg ("client %s: %s", name, err.message);
    return client;
}

/* True if the server receives nothing at all for `ms`. */
static bool
s_server_stays_quiet (fixture_t *fx, int ms)
{
    zpoller_t *poller = zpoller_new (fx->server, NULL);
    void *which = zpoller_wait (poller, ms);
    zpoller_destroy (&poller);
    return which == NULL;
}

static bool
s_wait_refused (fixture_t *fx, uint64_t at_least)
{
    for (int waited = 0; waited < 3000; waited += 10) {
        if (ln_auth_refused_count (fx->auth) >= at_least)
            return true;
        zclock_sleep (10);
    }
    return false;
}

static char *
s_log_text (fixture_t *fx)
{
    fflush (fx->log);
    long size = ftell (fx->log);
    char *text = calloc (1, (size_t)size + 1);
    rewind (fx->log);
    size_t got = fread (text, 1, (size_t)size, fx->log);
    text[got] = '\0';
    fseek (fx->log, 0, SEEK_END);
    return text;
}

/* Check every field of the principal against the registry's entry. */
static void
s_assert_principal (fixture_t *fx, const ln_principal_t *got, const char *name)
{
    assert_non_null (got);
    const ln_principal_t *want = ln_registry_lookup_name (ln_auth_registry (fx->auth), name);
    assert_non_null (want);
    assert_ptr_equal (got, want);
    assert_string_equal (got->name, name);
    if (strcmp (name, "alice") == 0) {
        assert_string_equal (got->organisation, "Gemeente Venlo");
        assert_int_equal (got->role_count, 2);
        assert_true (ln_principal_has_role (got, "intake"));
        assert_int_equal (got->level, LN_LEVEL_VERTROUWELIJK);
    }
    else {
        assert_string_equal (got->organisation, "Politie Limburg");
        assert_int_equal (got->role_count, 1);
        assert_true (ln_principal_has_role (got, "police"));
        assert_int_equal (got->level, LN_LEVEL_GEHEIM);
    }
}

/* --- fixtures ------------------------------------------------------------- */

static int
s_group_setup (void **state)
{
    (void)state;
    char unused[LN_KEYS_Z85_LEN + 1];
    snprintf (s_root, sizeof s_root, "/tmp/lantern-test-zap-XXXXXX");
    if (!mkdtemp (s_root))
        return -1;
    snprintf (s_keys, sizeof s_keys, "%s/keys", s_root);
    snprintf (s_registry, sizeof s_registry, "%s/registry", s_root);
    if (mkdir (s_keys, 0700) != 0 || mkdir (s_registry, 0700) != 0)
        return -1;
    s_generate (s_keys, "server", "Regio", "node,triage", "geheim", s_server_key);
    s_generate (s_keys, "alice", "Gemeente Venlo", "node,intake", "vertrouwelijk", unused);
    s_generate (s_keys, "bob", "Politie Limburg", "police", "geheim", unused);
    s_generate (s_keys, "mallory", "Nobody", "node", "zeer_geheim", s_mallory_key);
    /* The registry holds only alice's and bob's public certificates. */
    const char *registered[] = {"alice", "bob"};
    for (int i = 0; i < 2; i++) {
        char from[256], to[256];
        snprintf (from, sizeof from, "%s/%s.pub", s_keys, registered[i]);
        snprintf (to, sizeof to, "%s/%s.pub", s_registry, registered[i]);
        if (link (from, to) != 0)
            return -1;
    }
    return 0;
}

static int
s_group_teardown (void **state)
{
    (void)state;
    s_remove_dir (s_keys);
    s_remove_dir (s_registry);
    rmdir (s_root);
    return 0;
}

static int
s_setup (void **state)
{
    ln_error_t err;
    fixture_t *fx = calloc (1, sizeof *fx);
    fx->log = tmpfile ();
    ln_log_init ("test-zap", LN_LOG_DEBUG);
    ln_log_set_output (fx->log);

    ln_registry_t *registry = ln_registry_load (s_registry, &err);
    if (!registry)
        fail_msg ("registry: %s", err.message);
    assert_int_equal (ln_registry_size (registry), 2);
    fx->auth = ln_auth_new (&registry, &err);
    if (!fx->auth)
        fail_msg ("auth: %s", err.message);
    assert_null (registry); /* taken */

    fx->server_cert = s_secret_cert ("server");
    fx->server =
        ln_auth_server_socket (fx->auth, ZMQ_ROUTER, "tcp://127.0.0.1:*", fx->server_cert, &err);
    if (!fx->server)
        fail_msg ("server: %s", err.message);
    snprintf (fx->endpoint, sizeof fx->endpoint, "%s", zsock_endpoint (fx->server));
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    zsock_destroy (&fx->server);
    ln_auth_destroy (&fx->auth);
    zcert_destroy (&fx->server_cert);
    ln_log_set_output (NULL);
    fclose (fx->log);
    free (fx);
    ln_log_forget_all ();
    return 0;
}

/* --- tests ------------------------------------------------------------------ */

static void
test_registered_client_every_message_has_principal (void **state)
{
    fixture_t *fx = *state;
    zsock_t *alice = s_client (fx, "alice");
    const int count = 50;
    for (int i = 0; i < count; i++)
        assert_int_equal (zstr_sendf (alice, "alice-%d", i), 0);

    zsock_set_rcvtimeo (fx->server, 3000);
    for (int i = 0; i < count; i++) {
        zmsg_t *msg = zmsg_recv (fx->server);
        if (!msg)
            fail_msg ("message %d not received", i);
        assert_int_equal (zmsg_size (msg), 2);
        s_assert_principal (fx, ln_auth_principal_of_msg (fx->auth, msg), "alice");
        /* Every frame carries it, the routing id as well as the body. */
        zframe_t *routing_id = zmsg_first (msg);
        zframe_t *body = zmsg_next (msg);
        s_assert_principal (fx, ln_auth_principal_of (fx->auth, routing_id), "alice");
        s_assert_principal (fx, ln_auth_principal_of (fx->auth, body), "alice");
        char expect[32];
        snprintf (expect, sizeof expect, "alice-%d", i);
        assert_true (zframe_streq (body, expect));
        zmsg_destroy (&msg);
    }
    assert_true (ln_auth_accepted_count (fx->auth) >= 1);
    assert_int_equal (ln_auth_refused_count (fx->auth), 0);

    /* Replies reach the client (the server side of the connection works). */
    zstr_send (alice, "ping");
    zmsg_t *msg = zmsg_recv (fx->server);
    assert_non_null (msg);
    zframe_t *routing_id = zmsg_pop (msg);
    zmsg_destroy (&msg);
    zframe_send (&routing_id, fx->server, ZFRAME_MORE);
    zstr_send (fx->server, "pong");
    zsock_set_rcvtimeo (alice, 3000);
    char *reply = zstr_recv (alice);
    assert_non_null (reply);
    assert_string_equal (reply, "pong");
    zstr_free (&reply);

    /* A frame that did not come over the wire has no principal. */
    zframe_t *local = zframe_new ("x", 1);
    assert_null (ln_auth_principal_of (fx->auth, local));
    zframe_destroy (&local);

    char *log = s_log_text (fx);
    assert_non_null (strstr (log, "zap admitted"));
    assert_non_null (strstr (log, "principal=alice"));
    free (log);
    zsock_destroy (&alice);
}

static void
test_unregistered_key_is_refused (void **state)
{
    fixture_t *fx = *state;
    zsock_t *mallory = s_client (fx, "mallory");
    zsock_set_sndtimeo (mallory, 0);
    for (int i = 0; i < 5; i++)
        zstr_sendf (mallory, "mallory-%d", i);

    assert_true (s_server_stays_quiet (fx, QUIET_MS));
    assert_true (s_wait_refused (fx, 1));
    assert_int_equal (ln_auth_accepted_count (fx->auth), 0);

    char *log = s_log_text (fx);
    assert_non_null (strstr (log, "zap refused"));
    assert_non_null (strstr (log, "reason=unknown_key"));
    assert_non_null (strstr (log, "peer=127.0.0.1"));
    assert_non_null (strstr (log, s_mallory_key));
    assert_non_null (strstr (log, "level=warn"));
    free (log);

    /* The server still serves registered clients. */
    zsock_t *alice = s_client (fx, "alice");
    zstr_send (alice, "hello");
    zsock_set_rcvtimeo (fx->server, 3000);
    zmsg_t *msg = zmsg_recv (fx->server);
    assert_non_null (msg);
    s_assert_principal (fx, ln_auth_principal_of_msg (fx->auth, msg), "alice");
    assert_true (zframe_streq (zmsg_last (msg), "hello"));
    zmsg_destroy (&msg);
    zsock_destroy (&alice);

    /* Nothing of mallory's ever arrived, also not after alice got in. */
    assert_true (s_server_stays_quiet (fx, 100));
    zsock_destroy (&mallory);
}

static void
test_client_without_curve_is_refused (void **state)
{
    fixture_t *fx = *state;
    zsock_t *plain = zsock_new (ZMQ_DEALER);
    assert_non_null (plain);
    zsock_set_sndtimeo (plain, 0);
    assert_int_equal (zsock_connect (plain, "%s", fx->endpoint), 0);
    for (int i = 0; i < 5; i++)
        zstr_sendf (plain, "plain-%d", i);
    assert_true (s_server_stays_quiet (fx, QUIET_MS));
    assert_int_equal (ln_auth_accepted_count (fx->auth), 0);
    zsock_destroy (&plain);
}

static void
test_client_with_wrong_server_key_gets_nothing_through (void **state)
{
    fixture_t *fx = *state;
    ln_error_t err;
    zcert_t *cert = s_secret_cert ("alice");
    /* alice is registered, but expects another server (mallory's key). */
    zsock_t *client = ln_auth_client_socket (ZMQ_DEALER, fx->endpoint, cert, s_mallory_key, &err);
    zcert_destroy (&cert);
    assert_non_null (client);
    zsock_set_sndtimeo (client, 0);
    zstr_send (client, "lost");
    assert_true (s_server_stays_quiet (fx, QUIET_MS));
    zsock_destroy (&client);
}

static void
test_two_clients_each_get_their_principal (void **state)
{
    fixture_t *fx = *state;
    zsock_t *alice = s_client (fx, "alice");
    zsock_t *bob = s_client (fx, "bob");
    const int count = 20;
    for (int i = 0; i < count; i++) {
        zstr_sendf (alice, "alice-%d", i);
        zstr_sendf (bob, "bob-%d", i);
    }
    int seen_alice = 0, seen_bob = 0;
    zsock_set_rcvtimeo (fx->server, 3000);
    for (int i = 0; i < 2 * count; i++) {
        zmsg_t *msg = zmsg_recv (fx->server);
        if (!msg)
            fail_msg ("message %d of %d not received", i, 2 * count);
        char *body = zframe_strdup (zmsg_last (msg));
        const ln_principal_t *p = ln_auth_principal_of_msg (fx->auth, msg);
        char expect[32];
        if (strncmp (body, "alice-", 6) == 0) {
            s_assert_principal (fx, p, "alice");
            snprintf (expect, sizeof expect, "alice-%d", seen_alice++);
        }
        else {
            s_assert_principal (fx, p, "bob");
            snprintf (expect, sizeof expect, "bob-%d", seen_bob++);
        }
        assert_string_equal (body, expect); /* in order, per client */
        free (body);
        zmsg_destroy (&msg);
    }
    assert_int_equal (seen_alice, count);
    assert_int_equal (seen_bob, count);
    assert_true (ln_auth_accepted_count (fx->auth) >= 2);
    assert_int_equal (ln_auth_refused_count (fx->auth), 0);
    zsock_destroy (&alice);
    zsock_destroy (&bob);
}

/* A CURVE server made without our helper has no (or another) ZAP domain:
   libzmq 4.3 still asks the handler, and the handler refuses it, so a
   forgotten zap_domain cannot open a server to anyone. */
static void
test_socket_without_our_domain_is_refused (void **state)
{
    fixture_t *fx = *state;
    /* (libzmq 4.3 rejects setting an empty domain: NULL is "never set".) */
    const char *domains[] = {NULL, "other"};
    for (int i = 0; i < 2; i++) {
        zsock_t *server = zsock_new (ZMQ_ROUTER);
        zsock_set_curve_secretkey_bin (server, zcert_secret_key (fx->server_cert));
        zsock_set_curve_publickey_bin (server, zcert_public_key (fx->server_cert));
        zsock_set_curve_server (server, 1);
        if (domains[i])
            zsock_set_zap_domain (server, domains[i]);
        assert_true (zsock_bind (server, "tcp://127.0.0.1:*") > 0);
        char endpoint[128];
        snprintf (endpoint, sizeof endpoint, "%s", zsock_endpoint (server));

        /* counted before the client exists: its first handshake may be
           refused before the next line runs */
        uint64_t before = ln_auth_refused_count (fx->auth);
        ln_error_t err;
        zcert_t *cert = s_secret_cert ("alice");
        zsock_t *alice = ln_auth_client_socket (ZMQ_DEALER, endpoint, cert, s_server_key, &err);
        zcert_destroy (&cert);
        assert_non_null (alice);
        zsock_set_sndtimeo (alice, 0);
        zstr_send (alice, "via a bare socket");
        zpoller_t *poller = zpoller_new (server, NULL);
        assert_null (zpoller_wait (poller, 300));
        zpoller_destroy (&poller);
        assert_true (s_wait_refused (fx, before + 1));
        zsock_destroy (&alice);
        zsock_destroy (&server);
    }
    char *log = s_log_text (fx);
    assert_non_null (strstr (log, "reason=domain"));
    free (log);
}

static void
test_one_handler_per_process (void **state)
{
    fixture_t *fx = *state;
    ln_error_t err;
    ln_registry_t *registry = ln_registry_load (s_registry, &err);
    assert_non_null (registry);
    ln_auth_t *second = ln_auth_new (&registry, &err);
    assert_null (second);
    assert_string_equal (err.code, "AUTH_HANDLER_EXISTS");
    assert_non_null (registry); /* still ours after a failure */
    ln_registry_destroy (&registry);
    (void)fx;
}

/* Without a handler (destroyed here) a server made by the helper refuses
   even registered keys instead of letting everyone in. */
static void
test_fails_closed_without_handler (void **state)
{
    fixture_t *fx = *state;
    ln_auth_destroy (&fx->auth);
    zsock_t *alice = s_client (fx, "alice");
    zsock_set_sndtimeo (alice, 0);
    zstr_send (alice, "is anyone guarding?");
    assert_true (s_server_stays_quiet (fx, QUIET_MS));
    zsock_destroy (&alice);

    /* A new handler can be bound again at once. */
    ln_error_t err;
    ln_registry_t *registry = ln_registry_load (s_registry, &err);
    fx->auth = ln_auth_new (&registry, &err);
    if (!fx->auth)
        fail_msg ("auth again: %s", err.message);
}

static void
test_helpers_check_their_arguments (void **state)
{
    fixture_t *fx = *state;
    ln_error_t err;
    char path[256];
    snprintf (path, sizeof path, "%s/alice.pub", s_registry);
    zcert_t *public_only = ln_keys_load_public (path, &err);
    assert_non_null (public_only);

    assert_null (
        ln_auth_server_socket (fx->auth, ZMQ_ROUTER, "tcp://127.0.0.1:*", public_only, &err));
    assert_string_equal (err.code, "AUTH_NO_SECRET");
    assert_null (
        ln_auth_server_socket (NULL, ZMQ_ROUTER, "tcp://127.0.0.1:*", fx->server_cert, &err));
    assert_string_equal (err.code, "AUTH_INVALID_ARG");
    assert_null (ln_auth_server_socket (fx->auth, ZMQ_ROUTER, "bogus://x", fx->server_cert, &err));
    assert_string_equal (err.code, "AUTH_SOCKET");

    zcert_t *cert = s_secret_cert ("alice");
    assert_null (ln_auth_client_socket (ZMQ_DEALER, fx->endpoint, cert, "short", &err));
    assert_string_equal (err.code, "AUTH_INVALID_ARG");
    assert_null (ln_auth_client_socket (ZMQ_DEALER, fx->endpoint, public_only, s_server_key, &err));
    assert_string_equal (err.code, "AUTH_NO_SECRET");
    zcert_destroy (&cert);
    zcert_destroy (&public_only);

    /* The limits are set on the server socket. */
    assert_int_equal (zsock_maxmsgsize (fx->server), LN_AUTH_MAXMSGSIZE);
    assert_int_equal (zsock_curve_server (fx->server), 1);
    char *domain = zsock_zap_domain (fx->server);
    assert_string_equal (domain, LN_AUTH_DOMAIN);
    zstr_free (&domain);
    assert_int_equal (zsock_heartbeat_ivl (fx->server), LN_AUTH_HEARTBEAT_IVL_MS);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_registered_client_every_message_has_principal,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_unregistered_key_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_client_without_curve_is_refused, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_client_with_wrong_server_key_gets_nothing_through,
                                         s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_two_clients_each_get_their_principal, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_socket_without_our_domain_is_refused, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_one_handler_per_process, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_fails_closed_without_handler, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_helpers_check_their_arguments, s_setup, s_teardown),
    };
    return cmocka_run_group_tests_name ("zap", tests, s_group_setup, s_group_teardown);
}
