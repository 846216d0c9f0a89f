/*  pg_fixture: a fresh PostgreSQL database for one test suite (or case).

    Tests never share tables: each fixture creates its own database,
    t_<suite>_<pid>_<counter>, and drops it on destroy.

    Which cluster (the environment contract, set by tests/run.sh):
      LANTERN_TEST_PGHOST   socket directory of a running cluster (pg-local's
                            DIR/run); when set, the fixture uses that cluster
      LANTERN_TEST_PGPORT   its port (default 5432)
      LANTERN_TEST_PGUSER   a superuser (default postgres)
      LANTERN_TEST_PGPASSFILE  its password file (default: the pg-local
                            DIR/pgpass next to the socket directory); every
                            connection authenticates (scram-sha-256)
    When LANTERN_TEST_PGHOST is unset, the fixture starts its own cluster in a
    mktemp directory with $LANTERN_SOURCE_DIR/deploy/pg-local
    (LANTERN_SOURCE_DIR defaults to ".") and stops and removes it on destroy.
    PG_BINDIR is passed through to pg-local.

    Roles are cluster-wide, so a role made by ln_pgfix_create_role gets a
    name unique to this fixture (<role>_<database>, cut to 63 bytes); ask
    ln_pgfix_role_name for it.  Schemas are per database and keep the name
    asked for.  Roles are dropped on destroy.

    Everything here is for tests: on failure a function prints why to stderr
    and returns NULL / -1, so a test can assert on it.
*/
#ifndef PG_FIXTURE_H
#define PG_FIXTURE_H

#include <libpq-fe.h>

typedef struct ln_pgfix_t ln_pgfix_t;

/* Create a fresh database for `suite` (any text; sanitised into the name). */
ln_pgfix_t *ln_pgfix_new (const char *suite);

/* Drop the database (terminating its sessions first) and the roles made for
   it; stop and remove the cluster if the fixture started it.  NULL-safe. */
void ln_pgfix_destroy (ln_pgfix_t **self_p);

/* libpq conninfo for the database, as the superuser (its passfile
   included).  Owned by the fixture. */
const char *ln_pgfix_conninfo (const ln_pgfix_t *self);

/* The database name, the socket directory, and the cluster directory (the
   pg-local DIR, the parent of the socket directory; NULL when the socket
   directory is not a pg-local "run" directory). */
const char *ln_pgfix_dbname (const ln_pgfix_t *self);
const char *ln_pgfix_host (const ln_pgfix_t *self);
const char *ln_pgfix_cluster_dir (const ln_pgfix_t *self);

/* Create a login role that owns schema `schema` in this database and may
   connect to it, and nothing else: no CREATE on the database, no rights on
   other schemas (least privilege, as each service's role).  The role gets a
   random password, which is in the returned conninfo (owned by the
   fixture).  Returns NULL on failure. */
const char *ln_pgfix_create_role (ln_pgfix_t *self, const char *role, const char *schema);

/* Create a login role that may connect to this database and owns nothing
   (a node's runtime role): the schema's owner grants it what it may do
   (ln_db_migrate_as_owner).  Random password, in the returned conninfo
   (owned by the fixture).  Returns NULL on failure. */
const char *ln_pgfix_create_runtime_role (ln_pgfix_t *self, const char *role);

/* The real name of a role made by ln_pgfix_create_role or
   ln_pgfix_create_runtime_role, or NULL. */
const char *ln_pgfix_role_name (const ln_pgfix_t *self, const char *role);

/* Run trusted SQL (several statements allowed) in the database as the
   superuser, e.g. to arrange a test or look behind a service's back.
   Returns 0 or -1. */
int ln_pgfix_exec (ln_pgfix_t *self, const char *sql);

/* Run one parameterised query as the superuser and return its first value
   as a new string (caller frees), or NULL on error or no rows. */
char *ln_pgfix_query_value (ln_pgfix_t *self, const char *sql, int nparams,
                            const char *const *params);

/* Stop, start, or restart the PostgreSQL server (pg-local stop/start on the
   cluster directory).  Works on the fixture's own cluster and on the shared
   one of tests/run.sh (which runs suites one at a time); sessions are cut.
   Returns 0 or -1. */
int ln_pgfix_stop (ln_pgfix_t *self);
int ln_pgfix_start (ln_pgfix_t *self);
int ln_pgfix_restart (ln_pgfix_t *self);

#endif
