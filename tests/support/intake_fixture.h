/*  intake_fixture: a real lantern-intake process for tests.

    intake_fix_start makes everything a node needs in a temporary directory
    (a database of its own with two roles, as in production: an owner of the
    schema "intake" and a runtime role the node serves as; key pairs and a
    registry, a regional pseudonym key, a config file using
    deploy/indicators.cfg), runs the lantern-intake binary of the test's own
    variant ($LANTERN_BUILD_DIR/bin or .../asan/bin) with --migrate (as the
    owner: migrate, grant the runtime role), then starts it, waiting for
    its "ready" line.  The principals, all in the registry
    unless said otherwise:
      officer        attention_officer of the node's organisation
      officer2       another attention_officer of the node's organisation
      other-officer  attention_officer of another organisation (politie-limburg)
      triage         role triage (follows the stream, full)
      monitor        role monitor (follows the stream, statistical)
      matcher        role matcher (pseudonymised)
      auditor        role auditor
      stranger       a key pair that is NOT in the registry
      clerk          role monitor, of the node's OWN organisation (no officer role)
    Everything here is for tests: failures print why and return NULL / -1.
*/
#ifndef INTAKE_FIXTURE_H
#define INTAKE_FIXTURE_H

#include <stdbool.h>
#include <sys/types.h>

#include "bus_fixture.h"
#include "ln_client.h"
#include "ln_db.h"
#include "pg_fixture.h"

typedef struct intake_fix_t intake_fix_t;

typedef struct {
    const char *node;              /* NULL: "intake-test" */
    const char *organisation;      /* NULL: "gemeente-venlo" */
    const char *organisation_type; /* NULL: "municipality" */
    const char *extra_config;      /* more settings for the config file, or NULL */
    int batch_max;                 /* 0: the node's default */
} intake_fix_config_t;

intake_fix_t *intake_fix_start (const intake_fix_config_t *config);
/* SIGTERM, wait for exit 0 (returns -1 otherwise), remove everything. */
int intake_fix_stop (intake_fix_t **self_p);
/* Stop the process (SIGTERM) and start it again on the same endpoint. */
int intake_fix_restart (intake_fix_t *self);

const char *intake_fix_endpoint (const intake_fix_t *self);
/* The lantern-intake process's pid (for measuring its CPU time). */
pid_t intake_fix_pid (const intake_fix_t *self);
const char *intake_fix_server_key (const intake_fix_t *self); /* Z85 */
const char *intake_fix_server_pub (const intake_fix_t *self); /* path of NODE.pub */
const char *intake_fix_config_path (const intake_fix_t *self);
const char *intake_fix_regional_key (const intake_fix_t *self); /* path */
const char *intake_fix_catalogue (const intake_fix_t *self);    /* path */
/* Path of NAME.secret (static buffer: copy it). */
const char *intake_fix_secret (const intake_fix_t *self, const char *name);
bus_keys_t *intake_fix_keys (intake_fix_t *self);
ln_pgfix_t *intake_fix_pg (intake_fix_t *self);
/* A connection as the node's runtime role, search_path the node's schema. */
ln_db_t *intake_fix_db (intake_fix_t *self);
/* A client as principal NAME (caller destroys). */
ln_client_t *intake_fix_client (intake_fix_t *self, const char *name);

/* Count rows of a table of the node's schema (superuser), -1 on error. */
long intake_fix_count (intake_fix_t *self, const char *table);

/* Everything the node stores, as one text (signals, history, outbox with
   payloads, stored replies, audit rows with hashes; superuser): equal
   before and after an action means the action changed nothing, audit
   excepted when except_audit.  Caller frees. */
char *intake_fix_snapshot (intake_fix_t *self, bool except_audit);

#endif
