/*  triage_region: a small region of real processes for triage's tests and
    benchmark: intake nodes (lantern-intake) and one triage node
    (lantern-triage), each with its own schema in ONE database, owned by an
    owner role that migrates it and served by a runtime role (as in
    production), one set of key pairs and one registry that every node
    admits, real CURVE everywhere.

    Nodes: intake nodes 0..n-1 ("intake-venlo" of gemeente-venlo and
    "intake-politie" of politie-limburg-noord, then "intake-N" of org-N),
    each following triage (unless told not to), and triage
    (organisation "screeningsoverleg", meetings on Tuesday 10:00
    Europe/Amsterdam, a test clock file), following every intake node
    started so far.  Principals (all registered):
      NODE              each node's own key (intake nodes: roles node,intake;
                        triage: node,triage)
      officer-venlo, officer-politie, officer-N   attention officers
      chair             screening_chair of screeningsoverleg
      chair-elsewhere   screening_chair of another organisation
      partner-venlo, partner-politie             screening_partner
      care              role care (a care coordinator's node)
      police            role police
      monitor           role monitor
      auditor, operator
      replayer          role triage (gets intake's events as triage does)
    Everything here is for tests: failures print why and return NULL / -1.
*/
#ifndef TRIAGE_REGION_H
#define TRIAGE_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bus_fixture.h"
#include "ln_client.h"
#include "pg_fixture.h"

typedef struct triage_region_t triage_region_t;

typedef struct {
    size_t intakes;               /* intake nodes at start (0: 2) */
    bool intakes_follow_triage;   /* give intake nodes triage as upstream */
    const char *intake_extra;     /* more settings for every intake node */
    const char *triage_extra;     /* more settings for triage */
    bool start_triage;            /* start triage at once (else triage_region_start_triage) */
    int intake_batch_max;         /* 0: default */
    int upstream_credit;          /* triage's credit per upstream (0: the node's default) */
    const char *triage_log_level; /* NULL: info */
} triage_region_config_t;

triage_region_t *triage_region_new (const triage_region_config_t *config);
/* SIGTERM every node (reporting a bad exit), remove everything. */
int triage_region_destroy (triage_region_t **self_p);

/* The node index of triage, and of intake node i (0..). */
#define TRIAGE_REGION_TRIAGE ((size_t)-1)

size_t triage_region_intakes (const triage_region_t *self);
const char *triage_region_name (const triage_region_t *self, size_t node);
const char *triage_region_officer (const triage_region_t *self, size_t node);
const char *triage_region_endpoint (const triage_region_t *self, size_t node);
pid_t triage_region_pid (const triage_region_t *self, size_t node);
const char *triage_region_dir (const triage_region_t *self);
const char *triage_region_log (const triage_region_t *self, size_t node);
const char *triage_region_config_path (const triage_region_t *self, size_t node);
const char *triage_region_server_pub (const triage_region_t *self, size_t node);
bus_keys_t *triage_region_keys (triage_region_t *self);
ln_pgfix_t *triage_region_pg (triage_region_t *self);

/* A client of `node` as principal `who` (caller destroys). */
ln_client_t *triage_region_client (triage_region_t *self, size_t node, const char *who);

/* Add intake node n (the next one) and start it; triage follows it once
   its configuration is written again and it restarts
   (triage_region_restart_triage).  Returns its index, or -1. */
long triage_region_add_intake (triage_region_t *self);

/* Triage's process: start (migrate first), stop with SIGTERM (exit 0
   expected), kill with SIGKILL, restart (SIGTERM, start); the
   configuration is written again at each start (every intake node). */
int triage_region_start_triage (triage_region_t *self);
int triage_region_stop_triage (triage_region_t *self);
int triage_region_kill_triage (triage_region_t *self);
int triage_region_restart_triage (triage_region_t *self);
/* The same for an intake node. */
int triage_region_stop_intake (triage_region_t *self, size_t i);
int triage_region_start_intake (triage_region_t *self, size_t i);

/* Drop triage's schema (superuser) and make it again, empty, owned by its
   owner: triage must be stopped.  Returns 0 or -1. */
int triage_region_drop_triage (triage_region_t *self);

/* Move a node's test clock (testing.clock_file "clock" in its directory:
   triage always has one; an intake node when intake_extra sets it) to now
   + seconds. */
int triage_region_set_clock (triage_region_t *self, size_t node, long long seconds);

/* Wait until every consumer has caught up: triage's cursor of each running
   intake node is that node's newest position, each intake node's cursor of
   triage is triage's, and nothing is left unstamped, twice in a row.  0,
   or -1 after timeout_ms. */
int triage_region_settle (triage_region_t *self, int timeout_ms);

/* One value of a query as the superuser (caller frees), or NULL. */
char *triage_region_query (triage_region_t *self, const char *sql);
/* A count from a query, or -1. */
long triage_region_count (triage_region_t *self, const char *sql);

#endif
