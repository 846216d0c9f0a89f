/*  bus_fixture: key pairs and an in-process node for the bus's tests.

    bus_keys: a temporary directory with keys/ (every key pair made) and
    registry/ (the .pub files of the principals a node admits).
    bus_server: an ln_server with its own ZAP handler and database
    connection, run in a thread of the test process (one per process: one
    ZAP handler per process).  The test talks to it over real CURVE sockets.
*/
#ifndef BUS_FIXTURE_H
#define BUS_FIXTURE_H

#include <stdbool.h>
#include <czmq.h>

#include "ln_client.h"
#include "ln_server.h"

typedef struct bus_keys_t bus_keys_t;

bus_keys_t *bus_keys_new (void);
void bus_keys_destroy (bus_keys_t **self_p);
/* Make a key pair; registered: copy its .pub into the registry.  0 / -1. */
int bus_keys_add (bus_keys_t *self, const char *name, const char *roles, const char *level,
                  bool registered);
/* The same with the principal's organisation (bus_keys_add: "Org of NAME"). */
int bus_keys_add_org (bus_keys_t *self, const char *name, const char *organisation,
                      const char *roles, const char *level, bool registered);
const char *bus_keys_dir (const bus_keys_t *self);      /* .../keys */
const char *bus_keys_registry (const bus_keys_t *self); /* .../registry */
/* Path of NAME.secret / NAME.pub (static buffer: copy it; not for threads). */
const char *bus_keys_secret (const bus_keys_t *self, const char *name);
const char *bus_keys_public (const bus_keys_t *self, const char *name);
/* Load NAME's secret certificate (caller destroys).  Thread-safe. */
zcert_t *bus_keys_cert (const bus_keys_t *self, const char *name);
/* NAME's public key in Z85 (static buffer: copy it). */
const char *bus_keys_public_z85 (const bus_keys_t *self, const char *name);

typedef struct bus_server_t bus_server_t;

typedef struct {
    const char *conninfo;
    const char *schema;
    const char *node; /* also the key pair's name in keys */
    const ln_stream_rule_t *rules;
    size_t rule_count;
    ln_project_fn project;
    size_t batch_max;
    const ln_command_t *commands;
    size_t command_count;
    int64_t retention_ms;
    ln_stream_limits_t limits;
} bus_server_config_t;

/* Migrate, start the node in a thread, wait until it serves. */
bus_server_t *bus_server_start (const bus_keys_t *keys, const bus_server_config_t *config);
void bus_server_stop (bus_server_t **self_p);
const char *bus_server_endpoint (const bus_server_t *self);
void bus_server_stats (bus_server_t *self, ln_server_stats_t *stats);

/* A client of the node as principal `name`. */
ln_client_t *bus_client (const bus_keys_t *keys, const bus_server_t *server, const char *name);

#endif
