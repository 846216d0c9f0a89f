/*  lanternctl connect: see connect.h.  Most of this file is about saying
    what is wrong in the words of the user's own mistake: a .pub given where
    the .secret belongs, an endpoint without tcp://. */
#include "connect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The option's value, else the environment's; NULL when neither is set.
 *from names where it came from, for messages. */
static const char *
s_value (const char *option, const char *flag, const char *env, const char **from)
{
    *from = flag;
    if (option && *option)
        return option;
    *from = env;
    const char *v = getenv (env);
    return v && *v ? v : NULL;
}

/* An endpoint is tcp://HOST:PORT (protocol.md 2).  Returns true, or false
   after saying what is wrong, with the corrected endpoint when only the
   transport is missing ("127.0.0.1:5711"). */
static bool
s_endpoint_ok (const char *cmd, const char *from, const char *endpoint)
{
    const char *scheme_end = strstr (endpoint, "://");
    if (!scheme_end) {
        fprintf (stderr,
                 "lanternctl: %s: %s '%.200s' names no transport: Lantern nodes listen on "
                 "tcp://HOST:PORT; did you mean tcp://%.200s?\n",
                 cmd, from, endpoint, endpoint);
        return false;
    }
    if (strncmp (endpoint, "tcp://", 6) != 0) {
        fprintf (stderr,
                 "lanternctl: %s: %s '%.200s': Lantern nodes listen on tcp://HOST:PORT, not "
                 "%.*s://\n",
                 cmd, from, endpoint,
                 (int)(scheme_end - endpoint > 20 ? 20 : scheme_end - endpoint), endpoint);
        return false;
    }
    const char *host = endpoint + 6;
    const char *colon = strrchr (host, ':');
    bool port_ok = colon && colon > host && colon[1];
    long port = 0;
    for (const char *p = colon ? colon + 1 : ""; port_ok && *p; p++) {
        if (*p < '0' || *p > '9' || port > 65535)
            port_ok = false;
        else
            port = port * 10 + (*p - '0');
    }
    if (!port_ok || port < 1 || port > 65535) {
        fprintf (stderr,
                 "lanternctl: %s: %s '%.200s': expected tcp://HOST:PORT with a port of "
                 "1-65535, e.g. tcp://127.0.0.1:5711\n",
                 cmd, from, endpoint);
        return false;
    }
    return true;
}

/* `path` with its suffix `from` replaced by `to` in buf, if it ends in
   `from` and that file exists; else NULL. */
static const char *
s_sibling (const char *path, const char *from, const char *to, char *buf, size_t size)
{
    size_t n = strlen (path), f = strlen (from);
    if (n <= f || strcmp (path + n - f, from) != 0)
        return NULL;
    int w = snprintf (buf, size, "%.*s%s", (int)(n - f), path, to);
    if (w < 0 || (size_t)w >= size || access (buf, F_OK) != 0)
        return NULL;
    return buf;
}

ln_client_t *
lanternctl_connect (const lanternctl_conn_t *conn, const char *cmd, int *exit_code)
{
    ln_client_t *client = NULL;
    zcert_t *server = NULL, *cert = NULL;
    ln_error_t err;
    ln_error_clear (&err);
    *exit_code = LANTERNCTL_EXIT_USAGE;

    const char *endpoint_from, *server_from, *cert_from;
    const char *endpoint =
        s_value (conn->endpoint, "--endpoint", "LANTERN_ENDPOINT", &endpoint_from);
    const char *server_key =
        s_value (conn->server_key, "--server-key", "LANTERN_SERVER_KEY", &server_from);
    const char *cert_path = s_value (conn->cert, "--cert", "LANTERN_CERT", &cert_from);
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
    if (!s_endpoint_ok (cmd, endpoint_from, endpoint))
        goto out;
    snprintf (s_endpoint, sizeof s_endpoint, "%s", endpoint);

    /* Only errors from the library: its info lines would be noise here. */
    ln_log_init ("lanternctl", LN_LOG_ERROR);
    /* czmq would catch SIGINT/SIGTERM and only set a flag; a CLI should
       stop when asked (events installs its own handler for a clean end). */
    zsys_handler_set (NULL);

    char other[4096];
    server = ln_keys_load_public (server_key, &err);
    if (!server) {
        if (err.code && strcmp (err.code, "CERT_HAS_SECRET") == 0) {
            /* our own mistake, not a compromised key: say which file is meant */
            const char *pub = s_sibling (server_key, ".secret", ".pub", other, sizeof other);
            fprintf (stderr,
                     "lanternctl: %s: %s %s holds a secret key: give the node's public "
                     "certificate, NODE.pub%s%s%s\n",
                     cmd, server_from, server_key, pub ? "; did you mean " : "", pub ? pub : "",
                     pub ? "?" : "");
            *exit_code = LANTERNCTL_EXIT_USAGE;
        }
        else {
            fprintf (stderr, "lanternctl: %s: %s: %s\n", cmd, server_from, err.message);
            *exit_code = LANTERNCTL_EXIT_LOCAL;
        }
        goto out;
    }
    cert = ln_keys_load_secret (cert_path, &err);
    if (!cert) {
        /* A public certificate where our key pair belongs fails the secret
           file's checks (its mode, its missing secret) with messages about
           those; the real mistake is the file, so say that instead. */
        zcert_t *as_public = ln_keys_load_public (cert_path, NULL);
        if (as_public) {
            zcert_destroy (&as_public);
            const char *secret = s_sibling (cert_path, ".pub", ".secret", other, sizeof other);
            fprintf (stderr,
                     "lanternctl: %s: %s %s is a public certificate, not a key pair: give your "
                     "ME.secret (made with it by 'lanternctl keygen')%s%s%s\n",
                     cmd, cert_from, cert_path, secret ? "; did you mean " : "",
                     secret ? secret : "", secret ? "?" : "");
            *exit_code = LANTERNCTL_EXIT_USAGE;
        }
        else {
            fprintf (stderr, "lanternctl: %s: %s: %s\n", cmd, cert_from, err.message);
            *exit_code = LANTERNCTL_EXIT_LOCAL;
        }
        goto out;
    }
    client = ln_client_new (endpoint, zcert_public_txt (server), cert, &err);
    if (!client) {
        fprintf (stderr, "lanternctl: %s: cannot connect to %s: %s\n", cmd, endpoint, err.message);
        *exit_code = LANTERNCTL_EXIT_UNAVAILABLE;
        goto out;
    }
    *exit_code = LANTERNCTL_EXIT_OK;
out:
    /* the client's socket has taken the keys: the certificates can go */
    zcert_destroy (&cert);
    zcert_destroy (&server);
    return client;
}
