/*  ln_db: the one way liblantern talks to PostgreSQL.

    A service owns one schema.  Two roles act on it (docs/architecture.md "Least
    privilege", docs/security.md): an OWNER role that owns the schema and
    everything in it and runs the migrations (ln_db_migrate_as_owner), and
    the RUNTIME role the node serves as, which may use the tables the way the
    schema's privilege policy says and nothing more: it cannot ALTER, DROP,
    TRUNCATE or change triggers, and it may only read (and append to,
    through the owner's function) the audit trail.  A single role that owns
    its schema still works (an existing set-up): ln_db_schema_ready
    migrates with it and warns.  This module gives a service:

    - a connection that is made, and re-made after a loss (a PostgreSQL
      restart, pg_terminate_backend, a network cut), with exponential backoff
      and jitter, bounded by a total wait; or, for a loop that must never
      block, one bounded attempt at a time (ln_db_reconnect);
    - failures told apart: the connection was lost (reconnect and retry the
      transaction), the statement failed, or the server refused us for a
      reason that retrying cannot fix (a wrong password, a missing grant or
      schema: ln_db_last_permanent, DB_REFUSED);
    - statements with parameters only (PQexecParams): values never become
      SQL text;
    - migrations: a service's numbered SQL scripts, applied in its own schema,
      each exactly once, each in one transaction with its record in
      <schema>.schema_migrations, safe when several processes start at once;
      and the runtime role's grants, re-applied after every migration from
      the schema's policy (<schema>.schema_runtime_privileges).

    An ln_db_t is one connection: use it from one thread at a time.  Modules
    that own their SQL may take the PGconn (ln_db_conn) for COPY, pipeline
    mode or LISTEN; it stays owned by the ln_db_t and changes on reconnect.

    The conninfo string may contain a password: this module never logs it
    and wipes its copy on destroy.

    Error codes (ln_error_t.code):
      DB_INVALID            bad argument (schema name, NULL conninfo, ...)
      DB_CONNECT            could not connect (within the retry budget, or in
                            ln_db_reconnect's one attempt); may pass
      DB_REFUSED            the server refused the connection for a reason
                            that will not pass by itself: wrong password or
                            no password (28P01), no pg_hba entry or login not
                            allowed (28000), no CONNECT on the database
                            (42501), the database does not exist (3D000).
                            Not retried; ln_db_last_sqlstate says which
      DB_CONNECTION_LOST    the connection broke during the call: call
                            ln_db_ensure, then retry the whole transaction
      DB_STATEMENT          the server refused the statement; the message
                            starts with "SQLSTATE xxxxx:"
      DB_SCHEMA_MISSING     the schema does not exist and this role may not
                            create it (an admin must: CREATE SCHEMA s
                            AUTHORIZATION owner)
      DB_PERMISSION         the role may not create objects in (or use) its
                            schema, or may not grant as asked
      DB_MIGRATION_INVALID  the code's migration list is malformed (versions
                            not strictly increasing, missing name or SQL), or a
                            migration ended the transaction itself
      DB_MIGRATION_FAILED   a migration's SQL failed; it was rolled back
                            entirely and not recorded
      DB_MIGRATION_CHANGED  an applied migration's SQL differs from the code's
                            (checksum mismatch): someone edited it
      DB_MIGRATION_NEWER    the database has a version newer than the code
                            knows (an older binary on a newer database)
      DB_MIGRATION_UNKNOWN  the database has applied a version that the code
                            does not list
      DB_MIGRATION_ORDER    a migration older than the newest applied one is
                            not applied (out of order)
      DB_MIGRATION_PENDING  the schema lacks migrations this program needs,
                            and this role may not apply them (the owner must:
                            the node's --migrate)
*/
#ifndef LN_DB_H
#define LN_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"

typedef struct ln_db_t ln_db_t;

/* How hard to try to connect.  The delay before attempt k+1 is a random
   value in [d/2, d] ("equal jitter", so that many nodes restarting together
   do not hammer PostgreSQL in step) where d = min(initial * 2^k, max);
   connecting gives up once max_wait_ms have passed since the first attempt
   (the last sleep is cut short to end at the deadline, and one last attempt
   is made there; one attempt itself may take up to connect_timeout).
   max_wait_ms = 0 means a single attempt. */
typedef struct {
    int initial_delay_ms; /* >= 1 */
    int max_delay_ms;     /* >= initial_delay_ms */
    int max_wait_ms;      /* >= 0, total budget */
} ln_db_retry_t;

/* Defaults: 100 ms doubling to 5 s, giving up after 60 s (long enough to
   ride out a PostgreSQL restart, short enough that a misconfigured service
   fails visibly). */
#define LN_DB_RETRY_DEFAULT_INITIAL_MS 100
#define LN_DB_RETRY_DEFAULT_MAX_MS     5000
#define LN_DB_RETRY_DEFAULT_WAIT_MS    60000
#define LN_DB_RETRY_DEFAULT                                                                        \
    ((ln_db_retry_t){LN_DB_RETRY_DEFAULT_INITIAL_MS, LN_DB_RETRY_DEFAULT_MAX_MS,                   \
                     LN_DB_RETRY_DEFAULT_WAIT_MS})

/* Longest schema name PostgreSQL accepts (NAMEDATALEN - 1). */
#define LN_DB_SCHEMA_MAX 63

/* Connect to `conninfo` (a libpq keyword/value string or URI), retrying as
   `retry` says (NULL: LN_DB_RETRY_DEFAULT), and set search_path to `schema`
   and then pg_temp (pg_catalog stays implicit and first; pg_temp last, so
   that no temporary table can stand in for one of the schema's),
   re-applied on every reconnect.  `schema`
   must match [a-z_][a-z0-9_]{0,62}, or be NULL (search_path left alone;
   ln_db_migrate then refuses).  application_name defaults to
   "lantern-<schema>" and connect_timeout to 10 s; conninfo may override
   both.  Each failed attempt is logged at warn (never the conninfo).
   A refusal that retrying cannot fix (DB_REFUSED: wrong password, no
   pg_hba entry, no CONNECT, no such database) ends the retries at once.
   Returns NULL on failure with err set (DB_INVALID, DB_CONNECT, DB_REFUSED). */
ln_db_t *ln_db_connect (const char *conninfo, const char *schema, const ln_db_retry_t *retry,
                        ln_error_t *err);

/* A second connection like `other` (same conninfo and schema), e.g. for a
   thread of its own; retry as ln_db_connect (NULL: other's).  Returns NULL
   with err set. */
ln_db_t *ln_db_connect_like (const ln_db_t *other, const ln_db_retry_t *retry, ln_error_t *err);

/* Close and free; NULL-safe; sets *self_p to NULL. */
void ln_db_destroy (ln_db_t **self_p);

/* The live connection, borrowed.  It is replaced by ln_db_ensure after a
   loss: do not keep it across calls that may reconnect. */
PGconn *ln_db_conn (ln_db_t *self);

/* How many connections this handle has made (1 after ln_db_connect, +1 per
   reconnect).  Session state (LISTEN, prepared statements) must be set up
   again when it changes; comparing PGconn pointers is not enough, since a
   new connection may get the freed one's address. */
uint64_t ln_db_generation (const ln_db_t *self);

/* The schema given to ln_db_connect (NULL if none). */
const char *ln_db_schema (const ln_db_t *self);

/* Make sure the connection is usable: if it is broken (PQstatus bad, or the
   server has closed it, as after pg_terminate_backend or a restart),
   reconnect with the same backoff as ln_db_connect.  An open transaction on
   a broken connection is lost; a healthy connection is left alone.  This
   may sleep for the whole retry budget: a loop that must stay responsive
   calls ln_db_reconnect instead.  Returns 0, or -1 with err set
   (DB_CONNECT, or DB_REFUSED at once: not retried). */
int ln_db_ensure (ln_db_t *self, ln_error_t *err);

/* For a loop that must never block long (a node answering clients while
   its database is down): a healthy connection is left alone (0 at once,
   nothing sent); otherwise the broken one is closed and ONE new connection
   is attempted, bounded by timeout_ms from start to a usable session
   (connect, authenticate, set search_path), with no sleeping and no retry.
   libpq's own connect_timeout cannot go below 2 s, so the bound is kept
   here (non-blocking connect, polled).  Only resolving a host NAME may
   block longer: give nodes that must stay responsive an address or a
   socket directory.  Nothing is logged on failure (the caller decides how
   often to say it); success logs "db connected".
   Returns 0 (ln_db_generation moved on when a new session was made: set up
   LISTEN and prepared state again), or -1 with err set:
     DB_CONNECT  may pass (server down, starting up, out of connections,
                 network, no answer in time): try again in a second or so;
     DB_REFUSED  will not pass by itself (ln_db_last_permanent is true,
                 ln_db_last_sqlstate says why): hold off (say 30 s), and log
                 it once;
     DB_INVALID  bad arguments.
   timeout_ms: 1 .. LN_DB_RECONNECT_MAX_MS; LN_DB_RECONNECT_MS is a good
   value for a node's loop. */
#define LN_DB_RECONNECT_MS     1000
#define LN_DB_RECONNECT_MAX_MS 60000
int ln_db_reconnect (ln_db_t *self, int timeout_ms, ln_error_t *err);

/* Transactions.  Each returns 0 or -1; on -1 the error is available from
   ln_db_last_error (these take no ln_error_t so that cleanup paths stay
   one line, as in docs/architecture.md).  ln_db_rollback is a no-op returning 0 when no
   transaction is open, and never overwrites the last error (it runs in
   cleanup paths, after the error that matters).  A COMMIT that fails with a
   lost connection has an unknown outcome (it may have committed): that is
   why requests carry an idempotency key (docs/architecture.md, request_id). */
int ln_db_begin (ln_db_t *self);
int ln_db_commit (ln_db_t *self);
int ln_db_rollback (ln_db_t *self);

/* Run one statement with text parameters (PQexecParams; params may be NULL
   when nparams is 0; a NULL entry is SQL NULL).  Returns the result (status
   COMMAND_OK or TUPLES_OK), which the caller PQclear()s, or NULL with err
   set to DB_CONNECTION_LOST or DB_STATEMENT ("SQLSTATE xxxxx: message"). */
PGresult *ln_db_exec (ln_db_t *self, const char *sql, int nparams, const char *const *params,
                      ln_error_t *err);

/* Like ln_db_exec for statements whose result is not needed: 0 or -1. */
int ln_db_run (ln_db_t *self, const char *sql, int nparams, const char *const *params,
               ln_error_t *err);

/* Like ln_db_exec, for a hot statement: it is prepared (PQprepare) once per
   connection under `name` and then only executed (PQexecPrepared), which
   saves its planning on every call; it is prepared again on the first call
   after a reconnect (ln_db_generation).  `name` must stand for one SQL text
   in the whole process: prefix it with the module ("ln_outbox_append_batch").
   Parameter types come from casts in the SQL ($1::text[]).  lengths and
   formats (may be NULL: all text) say which parameters are binary
   (formats[i] = 1, lengths[i] bytes); result_format 1 asks for binary
   results.  Up to 64 names per handle; more are run unprepared.  Errors as
   ln_db_exec. */
PGresult *ln_db_exec_prepared (ln_db_t *self, const char *name, const char *sql, int nparams,
                               const char *const *values, const int *lengths, const int *formats,
                               int result_format, ln_error_t *err);

/* One statement of ln_db_exec_all: the arguments of ln_db_exec_prepared
   (name NULL: not prepared, planned at each run).  Everything is borrowed
   until ln_db_exec_all returns. */
typedef struct {
    const char *name;
    const char *sql;
    int nparams;
    const char *const *values;
    const int *lengths;
    const int *formats;
    int result_format;
} ln_db_stmt_t;

/* Run n statements in ONE round trip (libpq pipeline mode): all are sent,
   then one sync, then every result is read.  They run one after the other
   as with ln_db_exec, in the caller's open transaction (BEGIN and COMMIT
   may be among them); after the first failure the rest are skipped.
   results (may be NULL) gets the n results (PGRES_COMMAND_OK or
   TUPLES_OK), which the caller PQclear()s, when all succeeded, and n NULLs
   when not.  Returns 0 when all succeeded, or -1 with err set to the first
   failure (ln_db_last_lost and ln_db_last_sqlstate as ln_db_exec).
   A COMMIT of a transaction that failed earlier comes back with command
   tag ROLLBACK: check PQcmdStatus, as ln_db_commit does. */
int ln_db_exec_all (ln_db_t *self, const ln_db_stmt_t *stmts, size_t n, PGresult **results,
                    ln_error_t *err);

/* A one-dimensional array parameter in PostgreSQL's binary format, built in
   C: a batch of rows travels as a few arrays into one
   INSERT ... SELECT FROM unnest ($1::text[], ...), with no quoting, hex or
   escaping.  Initialise with ln_db_array_init, add elements, pass
   ln_db_array_data / ln_db_array_size with format 1, free with
   ln_db_array_clear.  Out of memory aborts. */
typedef struct {
    char *data;
    size_t size;
    size_t cap;
    int32_t count;
    bool has_null;
} ln_db_array_t;

/* Element types (pg_type OIDs) the builder knows. */
#define LN_DB_OID_BYTEA 17
#define LN_DB_OID_INT8  20
#define LN_DB_OID_INT2  21
#define LN_DB_OID_TEXT  25

void ln_db_array_init (ln_db_array_t *a, uint32_t elem_oid);
/* An element's bytes as the type's binary form (text: the UTF-8 bytes
   without NUL; bytea: the bytes).  bytes may be NULL when size is 0. */
void ln_db_array_add (ln_db_array_t *a, const void *bytes, size_t size);
void ln_db_array_add_text (ln_db_array_t *a, const char *text); /* NULL: SQL NULL */
void ln_db_array_add_int8 (ln_db_array_t *a, int64_t value);
void ln_db_array_add_int2 (ln_db_array_t *a, int16_t value);
void ln_db_array_add_null (ln_db_array_t *a);
/* The finished value and its size (valid until the next add or clear). */
const char *ln_db_array_data (ln_db_array_t *a);
int ln_db_array_size (const ln_db_array_t *a);
void ln_db_array_clear (ln_db_array_t *a);

/* About the last failed call on this handle (cleared by each successful
   ln_db_exec/ln_db_run/begin/commit):
   - ln_db_last_lost: true if it failed because the connection was lost
     (SQLSTATE class 08, 57P01..57P03, or the socket closed), i.e. the caller
     should ln_db_ensure and retry the transaction;
   - ln_db_last_sqlstate: the five-character SQLSTATE, "" if none (e.g.
     "40001" serialization failure, "23505" unique violation);
   - ln_db_last_error: the full error. */
bool ln_db_last_lost (const ln_db_t *self);
const char *ln_db_last_sqlstate (const ln_db_t *self);
const ln_error_t *ln_db_last_error (const ln_db_t *self);

/* True when the last failure was permanent: retrying unchanged cannot help
   until an operator changes a password, a grant, pg_hba.conf or the schema.
   Set by a refused connection (DB_REFUSED) and by a statement that failed
   with a permanent SQLSTATE (ln_db_sqlstate_permanent; its code stays
   DB_STATEMENT).  Cleared like the others. */
bool ln_db_last_permanent (const ln_db_t *self);

/* Is `sqlstate` one after which retrying unchanged cannot help?  Class 28
   (invalid authorization: wrong password 28P01, no pg_hba entry or login
   not allowed 28000), 3D000 (no such database), 3F000 (no such schema),
   42501 (insufficient privilege), 42P01 and 42883 (a table or function
   this program needs is missing: a migration not applied).  Not: class 08
   and 57P0x (connection; server shutting down or starting), 53300 (too
   many connections), 40001/40P01 (serialization, deadlock). */
bool ln_db_sqlstate_permanent (const char *sqlstate);

/* One migration: a version (> 0, strictly increasing in the list), a short
   name, and its SQL (trusted code, may hold several statements; must not
   COMMIT or ROLLBACK itself). */
typedef struct {
    int version;
    const char *name;
    const char *sql;
} ln_migration_t;

/* Bring the schema up to date: apply each migration of `list` (n entries)
   that is not yet recorded in <schema>.schema_migrations (version, name,
   checksum = hex SHA-256 of sql, applied_at), each in its own transaction
   together with its record, in order.  A transaction-level advisory lock
   per schema serialises concurrent migrators: each migration is applied
   exactly once.  Refuses before applying anything when the list is
   malformed, when an applied migration's checksum differs from the code's,
   or when the database is newer than the code.  Creates the schema only if
   it is missing and the role may create schemas, and schema_migrations and
   schema_runtime_privileges (the runtime role's policy, see
   ln_db_migrate_as_owner) when they are missing.  On failure, the migrations
   before the failing one stay applied; the failing one leaves no trace.
   Returns 0 (also when nothing was pending), or -1 with err set. */
int ln_db_migrate (ln_db_t *self, const ln_migration_t *list, size_t n, ln_error_t *err);

/* The node's start-up, with owner and runtime roles (docs/operations.md
   "The database"):

   ln_db_migrate_as_owner: `owner` is connected as the role that owns the
   schema (not a superuser: what a superuser creates would belong to it).
   Applies the pending migrations (ln_db_migrate), then gives `runtime_role`
   exactly the rights the schema's policy says, in one transaction: all it
   had is revoked first; then USAGE on the schema, per table the privileges
   of <schema>.schema_runtime_privileges (relation, privileges: 'SELECT',
   'SELECT, INSERT', 'SELECT, INSERT, UPDATE' or 'SELECT, INSERT, UPDATE,
   DELETE'; a table not listed gets the last; schema_migrations and the
   policy table itself SELECT), USAGE and SELECT on its sequences, EXECUTE
   on its functions (the owner's SECURITY DEFINER functions, e.g. the audit
   append, are how it writes what it may not write directly).  Never
   TRUNCATE, REFERENCES, TRIGGER, CREATE or ownership: it cannot ALTER or
   DROP anything, nor switch a trigger off.  ln_db creates the policy table
   with schema_migrations; a migration restricts its own tables with
   INSERT INTO schema_runtime_privileges.  The grants are re-applied on
   every call, so a table added by a later migration is granted too.
   The runtime role must exist (an admin makes it, with CONNECT on the
   database); a superuser, or a member of the schema's or a table's owner,
   is refused (DB_PERMISSION): it could rewrite the audit trail anyway.
   runtime_role NULL, or the owner itself: migrates only, and warns (the
   single-role set-up).  Must run with no transaction open.  Returns 0, or
   -1 with err set (the codes of ln_db_migrate, DB_INVALID, DB_PERMISSION).

   ln_db_migrations_current: as the runtime role, without changing anything:
   is every migration of `list` applied (and none edited, unknown or newer)?
   Returns 0, or -1 with err set: DB_MIGRATION_PENDING (the message names
   the first pending migration and the fix: the owner runs the node's
   --migrate), DB_SCHEMA_MISSING, DB_PERMISSION (the role may not use the
   schema or read schema_migrations: the owner has not granted it yet),
   DB_MIGRATION_CHANGED / _NEWER / _UNKNOWN / _ORDER as ln_db_migrate.

   ln_db_schema_ready: what a node calls at start with its runtime
   connection when no owner connection is configured.  When the connected
   role owns the schema (a single role, as before the roles were separated;
   also a superuser), or the schema is missing and the role may create it,
   it migrates as ln_db_migrate does and logs a warning that the role could
   rewrite its own audit trail; otherwise it is ln_db_migrations_current
   (a pending migration refuses the start with DB_MIGRATION_PENDING). */
int ln_db_migrate_as_owner (ln_db_t *owner, const ln_migration_t *list, size_t n,
                            const char *runtime_role, ln_error_t *err);
int ln_db_migrations_current (ln_db_t *self, const ln_migration_t *list, size_t n, ln_error_t *err);
int ln_db_schema_ready (ln_db_t *self, const ln_migration_t *list, size_t n, ln_error_t *err);

/* bytea as a text parameter: "\x" + lower-case hex, malloc'ed (the
   caller frees; never NULL: out of memory aborts).  data may be NULL when
   size is 0. */
char *ln_db_bytea_param (const uint8_t *data, size_t size);

/* A bytea column of a text-format result, decoded: malloc'ed (the caller
   frees; a 1-byte buffer for an empty value), *size set.  NULL when the
   value is SQL NULL or not valid bytea text. */
uint8_t *ln_db_bytea_value (const PGresult *res, int row, int col, size_t *size);

/* A binary-format integer column (int2, int4 or int8: `size` 2, 4 or 8
   bytes, network byte order) as int64 (an int2 / int4 sign-extended).
   Returns 0, or -1 when the value is NULL or not `size` bytes. */
int ln_db_int_value (const PGresult *res, int row, int col, int size, int64_t *value);

/* Is `name` an acceptable schema name ([a-z_][a-z0-9_]{0,62})? */
bool ln_db_schema_valid (const char *name);

#endif
