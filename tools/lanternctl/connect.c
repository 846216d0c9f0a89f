/*  lanternctl connect: see connect.h. */
#include "connect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lanternctl.h"
#include "ln_keys.h"
#include "ln_log.h"

static char s_endpoint[256];

bool
lanternctl_conn_option (lanternctl_conn_t *conn, int opt, const char *arg)
{
    switch (opt) {
    case LANTERNCTL_OPT_ENDPOINT:
        conn->endpoint = arg;
        return true;
    case LANTERNCTL_OPT_SERVER_KEY:
        conn->server_key = arg;
        return true;
    case LANTERNCTL_OPT_CERT:
        conn->cert = arg;
        return true;
    default:
        return false;
    }
}

const char *
lanternctl_conn_endpoint (void)
{
    return s_endpoint;
}

/* The option's value, else the environment's; NULL when neither is set. */
static const char *
s_value (const char *option, const char *env)
{
    if (option && *option)
        return option;
    const char *v = getenv (env);
    return v && *v ? v : NULL;
}

ln_client_t *
lanternctl_connect (const lanternctl_conn_t *conn, const char *cmd, int *exit_code)
{
    ln_client_t *client = NULL;
    zcert_t *server = NULL, *cert = NULL;
    ln_error_t err;
    ln_error_clear (&err);
    *exit_code = LANTERNCTL_EXIT_USAGE;

    const char *endpoint = s_value (conn->endpoint, "LANTERN_ENDPOINT");
    const char *server_key = s_value (conn->server_key, "LANTERN_SERVER_KEY");
    const char *cert_path = s_value (conn->cert, "LANTERN_CERT");
    if (!endpoint) {
        fprintf (stderr,
                 "lanternctl: %s: no endpoint: give --endpoint tcp://HOST:PORT or set "
                 "LANTERN_ENDPOINT\n",
                 cmd);
        goto out;
    }
    if (!server_key) {
        fprintf (stderr,
                 "lanternctl: %s: no server key: give --server-key NODE.pub (the node's public "
                 "certificate) or set LANTERN_SERVER_KEY\n",
                 cmd);
        goto out;
    }
    if (!cert_path) {
        fprintf (stderr,
                 "lanternctl: %s: no certificate: give --cert ME.secret (your key pair, made "
                 "with 'lanternctl keygen') or set LANTERN_CERT\n",
                 cmd);
        goto out;
    }
    snprintf (s_endpoint, sizeof s_endpoint, "%s", endpoint);

    *exit_code = LANTERNCTL_EXIT_FAIL;
    /* Only errors from the library: its info lines would be noise here. */
    ln_log_init ("lanternctl", LN_LOG_ERROR);
    /* czmq would catch SIGINT/SIGTERM and only set a flag; a CLI should
       stop when asked (events installs its own handler for a clean end). */
    zsys_handler_set (NULL);

    server = ln_keys_load_public (server_key, &err);
    if (!server) {
        fprintf (stderr, "lanternctl: %s: --server-key: %s\n", cmd, err.message);
        goto out;
    }
    cert = ln_keys_load_secret (cert_path, &err);
    if (!cert) {
        fprintf (stderr, "lanternctl: %s: --cert: %s\n", cmd, err.message);
        goto out;
    }
    client = ln_client_new (endpoint, zcert_public_txt (server), cert, &err);
    if (!client) {
        fprintf (stderr, "lanternctl: %s: cannot connect to %s: %s\n", cmd, endpoint, err.message);
        goto out;
    }
    *exit_code = LANTERNCTL_EXIT_OK;
out:
    /* the client's socket has taken the keys: the certificates can go */
    zcert_destroy (&cert);
    zcert_destroy (&server);
    return client;
}
