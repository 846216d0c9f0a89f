/*  lanternctl connect: the connection options shared by the commands that
    talk to a node over the wire (call, events).

        --endpoint tcp://HOST:PORT   the node's endpoint      ($LANTERN_ENDPOINT)
        --server-key NODE.pub        the node's public certificate ($LANTERN_SERVER_KEY)
        --cert ME.secret             our key pair (ln_keys_load_secret: mode 0600)
                                                              ($LANTERN_CERT)

    A command puts LANTERNCTL_CONN_OPTIONS in its getopt_long table, hands
    every option it does not know itself to lanternctl_conn_option, prints
    LANTERNCTL_CONN_HELP in its --help, and calls lanternctl_connect once its
    own arguments are checked.
*/
#ifndef LANTERNCTL_CONNECT_H
#define LANTERNCTL_CONNECT_H

#include <getopt.h>
#include <stdbool.h>

#include "ln_client.h"

typedef struct {
    const char *endpoint;   /* NULL: $LANTERN_ENDPOINT */
    const char *server_key; /* path of the node's .pub; NULL: $LANTERN_SERVER_KEY */
    const char *cert;       /* path of our .secret; NULL: $LANTERN_CERT */
} lanternctl_conn_t;

/* getopt_long values of the options (outside the range of characters). */
#define LANTERNCTL_OPT_ENDPOINT   0x1001
#define LANTERNCTL_OPT_SERVER_KEY 0x1002
#define LANTERNCTL_OPT_CERT       0x1003

#define LANTERNCTL_CONN_OPTIONS                                                                    \
    {"endpoint", required_argument, NULL, LANTERNCTL_OPT_ENDPOINT},                                \
        {"server-key", required_argument, NULL, LANTERNCTL_OPT_SERVER_KEY},                        \
    {                                                                                              \
        "cert", required_argument, NULL, LANTERNCTL_OPT_CERT                                       \
    }

#define LANTERNCTL_CONN_HELP                                                                       \
    "connection (each option falls back to its environment variable):\n"                           \
    "      --endpoint URL        the node's endpoint, e.g. tcp://10.0.0.5:5701\n"                  \
    "                            ($LANTERN_ENDPOINT)\n"                                            \
    "      --server-key FILE     the node's public certificate, NODE.pub\n"                        \
    "                            ($LANTERN_SERVER_KEY)\n"                                          \
    "      --cert FILE           our key pair, ME.secret (mode 0600; its public key\n"             \
    "                            must be in the node's registry) ($LANTERN_CERT)\n"

/* If `opt` is one of the connection options, store `arg` and return true. */
bool lanternctl_conn_option (lanternctl_conn_t *conn, int opt, const char *arg);

/* Resolve the environment fallbacks, load both certificates and make the
   client.  On failure, prints "lanternctl: CMD: what is wrong" on stderr
   (naming the option or the environment variable the value came from),
   sets *exit_code and returns NULL:
     LANTERNCTL_EXIT_USAGE  an option missing; an endpoint that is not
                            tcp://HOST:PORT (with the fix when the tcp:// is
                            only missing); a public certificate given as
                            --cert or a secret one as --server-key (each
                            says which file was meant)
     LANTERNCTL_EXIT_LOCAL  a certificate that cannot be read or used (no
                            such file, open mode, malformed)
     LANTERNCTL_EXIT_UNAVAILABLE  the socket cannot be connected
   Also turns czmq's own SIGINT/SIGTERM handling off, so that signals keep
   their usual effect unless the command installs handlers of its own. */
ln_client_t *lanternctl_connect (const lanternctl_conn_t *conn, const char *cmd, int *exit_code);

/* The endpoint lanternctl_connect used (for messages); "" before. */
const char *lanternctl_conn_endpoint (void);

#endif
