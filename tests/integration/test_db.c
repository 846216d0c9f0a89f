/*  test_db: ln_db against a real PostgreSQL (tests/support/pg_fixture).

    Covers what docs/architecture.md "Reliability" and "Security" ask of the database
    layer: connecting with bounded backoff, migrations applied exactly once
    (also with concurrent migrators) and atomically, refusal of edited or
    newer migrations, least privilege between service roles, parameters that
    stay values, and reconnection after a killed session and after a server
    restart.  Issue 9 point 9: the owner migrates and grants, the runtime
    role gets exactly the schema's policy and cannot change the schema.
    Issue 10 point 8: a node's loop makes one bounded reconnect attempt at a
    time (a server that hangs, one that is down), and a permanent refusal
    (wrong password, no grant, no database) is told apart and not retried.
*/
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "ln_db.h"
#include "ln_log.h"
#include "pg_fixture.h"

static ln_pgfix_t *s_fix;

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* First value of a query on `db`, as a new string (or NULL). */
static char *
s_value (ln_db_t *db, const char *sql, int n, const char *const *params)
{
    ln_error_t err;
    PGresult *res = ln_db_exec (db, sql, n, params, &err);
    if (!res) {
        fprintf (stderr, "query failed: %s: %s\n", err.code, err.message);
        return NULL;
    }
    char *v = NULL;
    if (PQntuples (res) > 0 && !PQgetisnull (res, 0, 0))
        v = strdup (PQgetvalue (res, 0, 0));
    PQclear (res);
    return v;
}

static void
assert_value (ln_db_t *db, const char *sql, const char *expected)
{
    char *v = s_value (db, sql, 0, NULL);
    if (expected == NULL)
        assert_null (v);
    else {
        assert_non_null (v);
        assert_string_equal (v, expected);
    }
    free (v);
}

static ln_db_t *
s_connect (const char *conninfo, const char *schema)
{
    ln_error_t err;
    ln_error_clear (&err);
    ln_db_retry_t retry = {50, 500, 5000};
    ln_db_t *db = ln_db_connect (conninfo, schema, &retry, &err);
    if (!db)
        fprintf (stderr, "connect failed: %s: %s\n", err.code, err.message);
    assert_non_null (db);
    return db;
}

static int
s_setup (void **state)
{
    (void)state;
    ln_log_init ("test_db", LN_LOG_WARN);
    s_fix = ln_pgfix_new ("db");
    return s_fix ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    ln_pgfix_destroy (&s_fix);
    return 0;
}

/* --- connecting ------------------------------------------------------------ */

static void
test_connect (void **state)
{
    (void)state;
    ln_db_t *db = s_connect (ln_pgfix_conninfo (s_fix), "app");
    assert_string_equal (ln_db_schema (db), "app");
    assert_non_null (ln_db_conn (db));
    assert_value (db, "SELECT current_setting('application_name')", "lantern-app");
    assert_value (db, "SHOW search_path", "\"app\", pg_temp");
    assert_int_equal (ln_db_ensure (db, NULL), 0);
    ln_db_destroy (&db);
    assert_null (db);
    ln_db_destroy (&db); /* NULL-safe */

    /* Schema names are checked before anything is sent. */
    const char *bad[] = {"",
                         "App",
                         "1abc",
                         "a-b",
                         "a b",
                         "x\"y",
                         "a123456789012345678901234567890123456789012345678901234567890123"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ln_error_t err;
        ln_error_clear (&err);
        assert_null (ln_db_connect (ln_pgfix_conninfo (s_fix), bad[i], NULL, &err));
        assert_string_equal (err.code, "DB_INVALID");
    }
    assert_true (ln_db_schema_valid ("_a1"));
    assert_true (ln_db_schema_valid (
        "a12345678901234567890123456789012345678901234567890123456789012")); /* 63 */
    ln_error_t err;
    ln_db_retry_t bad_retry = {0, 10, 10};
    assert_null (ln_db_connect (ln_pgfix_conninfo (s_fix), "app", &bad_retry, &err));
    assert_string_equal (err.code, "DB_INVALID");
}

/* A socket nobody listens on: retried with backoff, given up after the
   budget, and the password never reaches the log. */
static void
test_connect_dead_socket (void **state)
{
    (void)state;
    char *logbuf = NULL;
    size_t loglen = 0;
    FILE *log = open_memstream (&logbuf, &loglen);
    assert_non_null (log);
    ln_log_set_output (log);

    const char *conninfo = "host=/tmp/lantern-test-no-such-dir port=5432 user=postgres "
                           "password=Hunter2SecretPw dbname=nothing";
    ln_db_retry_t retry = {50, 200, 1000};
    ln_error_t err;
    ln_error_clear (&err);
    int64_t t0 = s_now_ms ();
    ln_db_t *db = ln_db_connect (conninfo, "app", &retry, &err);
    int64_t elapsed = s_now_ms () - t0;
    ln_log_set_output (NULL);
    fclose (log);

    assert_null (db);
    assert_string_equal (err.code, "DB_CONNECT");
    assert_non_null (strstr (err.message, "attempts"));
    assert_null (strstr (err.message, "Hunter2SecretPw"));
    /* The budget is kept: not before it, and not much after it. */
    assert_true (elapsed >= 1000);
    assert_true (elapsed < 2500);
    /* 50, 100, 200, 200, ... ms with jitter: several attempts, each logged. */
    int warns = 0;
    for (const char *p = logbuf; (p = strstr (p, "db connect failed")) != NULL; p++)
        warns++;
    assert_true (warns >= 4);
    assert_null (strstr (logbuf, "Hunter2SecretPw"));
    assert_null (strstr (logbuf, "password"));
    free (logbuf);

    /* max_wait 0: one attempt, no sleeping. */
    ln_db_retry_t once = {50, 200, 0};
    t0 = s_now_ms ();
    ln_log_init ("test_db", LN_LOG_ERROR); /* keep the output quiet */
    assert_null (ln_db_connect (conninfo, "app", &once, &err));
    ln_log_init ("test_db", LN_LOG_WARN);
    assert_string_equal (err.code, "DB_CONNECT");
    assert_true (s_now_ms () - t0 < 500);
}

/* --- migrations -------------------------------------------------------------- */

static const ln_migration_t s_m1[] = {
    {1, "create_signal", "CREATE TABLE signal (id bigint PRIMARY KEY, note text)"},
    {2, "add_form",
     "ALTER TABLE signal ADD COLUMN form text; CREATE INDEX signal_form ON signal (form);"
     "INSERT INTO signal (id, note, form) VALUES (1, 'seed', 'LABOUR')"},
};

static void
test_migrate_once (void **state)
{
    (void)state;
    ln_error_t err;
    ln_db_t *db = s_connect (ln_pgfix_conninfo (s_fix), "m_once");

    assert_int_equal (ln_db_migrate (db, s_m1, 2, &err), 0);
    assert_value (db, "SELECT count(*) FROM m_once.schema_migrations", "2");
    assert_value (db,
                  "SELECT string_agg(version || ':' || name, ',' ORDER BY version) "
                  "FROM m_once.schema_migrations",
                  "1:create_signal,2:add_form");
    /* Unqualified names land in the service's schema. */
    assert_value (db, "SELECT form FROM m_once.signal WHERE id = 1", "LABOUR");

    /* The recorded checksum is the SHA-256 of the SQL. */
    unsigned char d[crypto_hash_sha256_BYTES];
    char hex[sizeof d * 2 + 1];
    crypto_hash_sha256 (d, (const unsigned char *)s_m1[1].sql, strlen (s_m1[1].sql));
    sodium_bin2hex (hex, sizeof hex, d, sizeof d);
    assert_value (db, "SELECT checksum FROM m_once.schema_migrations WHERE version = 2", hex);

    /* Second run: nothing happens (the seed row would collide if re-run). */
    char *before =
        s_value (db, "SELECT max(applied_at)::text FROM m_once.schema_migrations", 0, NULL);
    assert_int_equal (ln_db_migrate (db, s_m1, 2, &err), 0);
    char *after =
        s_value (db, "SELECT max(applied_at)::text FROM m_once.schema_migrations", 0, NULL);
    assert_string_equal (before, after);
    free (before);
    free (after);
    assert_value (db, "SELECT count(*) FROM m_once.signal", "1");
    /* search_path is still the schema after migrating. */
    assert_value (db, "SELECT count(*) FROM signal", "1");
    /* And a new migration on top is applied. */
    ln_migration_t more[3] = {s_m1[0], s_m1[1], {3, "add_col", "ALTER TABLE signal ADD x int"}};
    assert_int_equal (ln_db_migrate (db, more, 3, &err), 0);
    assert_value (db, "SELECT max(version) FROM m_once.schema_migrations", "3");
    ln_db_destroy (&db);
}

static void
test_migrate_failure_rolls_back (void **state)
{
    (void)state;
    ln_error_t err;
    ln_db_t *db = s_connect (ln_pgfix_conninfo (s_fix), "m_fail");
    const ln_migration_t list[] = {
        {1, "base", "CREATE TABLE base (i int)"},
        {2, "broken_step",
         "CREATE TABLE half (i int); INSERT INTO base VALUES (1); "
         "CREATE TABLE oops (i int"},
        {3, "later", "CREATE TABLE later (i int)"},
    };
    ln_error_clear (&err);
    assert_int_equal (ln_db_migrate (db, list, 3, &err), -1);
    assert_string_equal (err.code, "DB_MIGRATION_FAILED");
    assert_non_null (strstr (err.message, "migration 2"));
    assert_non_null (strstr (err.message, "broken_step"));
    assert_non_null (strstr (err.message, "42601")); /* syntax error */
    /* Nothing of version 2 remains, version 1 does, 3 was never tried. */
    assert_value (db, "SELECT to_regclass('m_fail.half')::text", NULL);
    assert_value (db, "SELECT to_regclass('m_fail.later')::text", NULL);
    assert_value (db, "SELECT count(*) FROM m_fail.base", "0");
    assert_value (db, "SELECT string_agg(version::text, ',') FROM m_fail.schema_migrations", "1");
    /* The handle is usable afterwards (not left in a failed transaction). */
    assert_int_equal (PQtransactionStatus (ln_db_conn (db)), PQTRANS_IDLE);

    /* A migration may not end the transaction on its own. */
    const ln_migration_t sneaky[] = {list[0], {2, "commits", "CREATE TABLE c (i int); COMMIT"}};
    assert_int_equal (ln_db_migrate (db, sneaky, 2, &err), -1);
    assert_string_equal (err.code, "DB_MIGRATION_INVALID");
    assert_int_equal (PQtransactionStatus (ln_db_conn (db)), PQTRANS_IDLE);
    ln_db_destroy (&db);
}

static void
test_migrate_refusals (void **state)
{
    (void)state;
    ln_error_t err;
    ln_db_t *db = s_connect (ln_pgfix_conninfo (s_fix), "m_ref");
    const ln_migration_t v123[] = {
        {1, "one", "CREATE TABLE one (i int)"},
        {2, "two", "CREATE TABLE two (i int)"},
        {3, "three", "CREATE TABLE three (i int)"},
    };
    assert_int_equal (ln_db_migrate (db, v123, 2, &err), 0);

    /* Someone edited applied migration 2: refused, and 3 is not applied. */
    ln_migration_t edited[3] = {v123[0], {2, "two", "CREATE TABLE two (i bigint)"}, v123[2]};
    ln_error_clear (&err);
    assert_int_equal (ln_db_migrate (db, edited, 3, &err), -1);
    assert_string_equal (err.code, "DB_MIGRATION_CHANGED");
    assert_non_null (strstr (err.message, "migration 2"));
    assert_value (db, "SELECT to_regclass('m_ref.three')::text", NULL);

    /* The database is newer than the code. */
    assert_int_equal (ln_db_migrate (db, v123, 3, &err), 0);
    assert_int_equal (ln_db_migrate (db, v123, 2, &err), -1);
    assert_string_equal (err.code, "DB_MIGRATION_NEWER");
    assert_non_null (strstr (err.message, "version 3"));

    /* Applied version missing from the code. */
    const ln_migration_t gap[] = {v123[0], v123[2]};
    assert_int_equal (ln_db_migrate (db, gap, 2, &err), -1);
    assert_string_equal (err.code, "DB_MIGRATION_UNKNOWN");

    /* Malformed lists are refused before touching the database. */
    const ln_migration_t down[] = {v123[1], v123[0]};
    assert_int_equal (ln_db_migrate (db, down, 2, &err), -1);
    assert_string_equal (err.code, "DB_MIGRATION_INVALID");
    const ln_migration_t dup[] = {v123[0], v123[0]};
    assert_int_equal (ln_db_migrate (db, dup, 2, &err), -1);
    assert_string_equal (err.code, "DB_MIGRATION_INVALID");
    const ln_migration_t zero[] = {{0, "zero", "SELECT 1"}};
    assert_int_equal (ln_db_migrate (db, zero, 1, &err), -1);
    assert_string_equal (err.code, "DB_MIGRATION_INVALID");
    const ln_migration_t noname[] = {{1, NULL, "SELECT 1"}};
    assert_int_equal (ln_db_migrate (db, noname, 1, &err), -1);
    assert_string_equal (err.code, "DB_MIGRATION_INVALID");

    /* Out of order: the database has 1 and 3, the code adds 2 in between. */
    ln_db_t *db2 = s_connect (ln_pgfix_conninfo (s_fix), "m_ord");
    const ln_migration_t v13[] = {v123[0], v123[2]};
    assert_int_equal (ln_db_migrate (db2, v13, 2, &err), 0);
    assert_int_equal (ln_db_migrate (db2, v123, 3, &err), -1);
    assert_string_equal (err.code, "DB_MIGRATION_ORDER");
    ln_db_destroy (&db2);

    /* No schema, no migrations. */
    ln_db_t *noschema = s_connect (ln_pgfix_conninfo (s_fix), NULL);
    assert_int_equal (ln_db_migrate (noschema, v123, 1, &err), -1);
    assert_string_equal (err.code, "DB_INVALID");
    ln_db_destroy (&noschema);
    ln_db_destroy (&db);
}

/* Several processes start at once and all migrate: each migration runs
   exactly once (migration 2 would fail if run twice: its INSERT hits the
   primary key). */
#define MIGRATORS 4
static const ln_migration_t s_conc[] = {
    {1, "slow_first", "SELECT pg_sleep(0.2); CREATE TABLE t1 (i int)"},
    {2, "seed", "CREATE TABLE t2 (i int PRIMARY KEY); INSERT INTO t2 VALUES (1)"},
    {3, "third", "ALTER TABLE t2 ADD COLUMN j int"},
};

typedef struct {
    const char *conninfo;
    int rc;
    ln_error_t err;
} s_migrator_t;

static void *
s_migrator (void *arg)
{
    s_migrator_t *m = arg;
    ln_db_retry_t retry = {50, 500, 5000};
    m->rc = -1;
    ln_db_t *db = ln_db_connect (m->conninfo, "m_conc", &retry, &m->err);
    if (db)
        m->rc = ln_db_migrate (db, s_conc, 3, &m->err);
    ln_db_destroy (&db);
    return NULL;
}

static void
test_migrate_concurrent (void **state)
{
    (void)state;
    pthread_t th[MIGRATORS];
    s_migrator_t m[MIGRATORS];
    for (int i = 0; i < MIGRATORS; i++) {
        memset (&m[i], 0, sizeof m[i]);
        m[i].conninfo = ln_pgfix_conninfo (s_fix);
        assert_int_equal (pthread_create (&th[i], NULL, s_migrator, &m[i]), 0);
    }
    for (int i = 0; i < MIGRATORS; i++)
        assert_int_equal (pthread_join (th[i], NULL), 0);
    for (int i = 0; i < MIGRATORS; i++) {
        if (m[i].rc != 0)
            fprintf (stderr, "migrator %d: %s: %s\n", i, m[i].err.code, m[i].err.message);
        assert_int_equal (m[i].rc, 0);
    }
    ln_db_t *db = s_connect (ln_pgfix_conninfo (s_fix), "m_conc");
    assert_value (db, "SELECT count(*) FROM schema_migrations", "3");
    assert_value (db, "SELECT count(*) FROM t2", "1");
    ln_db_destroy (&db);
}

/* --- least privilege --------------------------------------------------------- */

static void
test_least_privilege (void **state)
{
    (void)state;
    ln_error_t err;
    const char *triage_ci = ln_pgfix_create_role (s_fix, "triage", "triage");
    const char *intake_ci = ln_pgfix_create_role (s_fix, "intake", "intake");
    assert_non_null (triage_ci);
    assert_non_null (intake_ci);

    /* Each role migrates its own schema. */
    ln_db_t *triage = s_connect (triage_ci, "triage");
    const ln_migration_t tm[] = {
        {1, "cases", "CREATE TABLE cases (id int, note text); INSERT INTO cases VALUES (1, 'x')"}};
    assert_int_equal (ln_db_migrate (triage, tm, 1, &err), 0);
    ln_db_t *intake = s_connect (intake_ci, "intake");
    const ln_migration_t im[] = {{1, "signals", "CREATE TABLE signals (id int)"}};
    assert_int_equal (ln_db_migrate (intake, im, 1, &err), 0);
    assert_value (intake, "SELECT current_user", ln_pgfix_role_name (s_fix, "intake"));

    /* intake can neither write into nor read from triage's schema, nor
       create schemas, nor use public. */
    const char *forbidden[] = {
        "CREATE TABLE triage.evil (i int)",         "SELECT * FROM triage.cases",
        "INSERT INTO triage.cases VALUES (2, 'y')", "CREATE SCHEMA evil",
        "CREATE TABLE public.evil (i int)",
    };
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
        ln_error_clear (&err);
        PGresult *res = ln_db_exec (intake, forbidden[i], 0, NULL, &err);
        assert_null (res);
        assert_string_equal (err.code, "DB_STATEMENT");
        assert_non_null (strstr (err.message, "42501")); /* insufficient_privilege */
        assert_string_equal (ln_db_last_sqlstate (intake), "42501");
        assert_false (ln_db_last_lost (intake));
    }
    /* Migrating someone else's schema is refused clearly. */
    ln_db_t *intruder = s_connect (intake_ci, "triage");
    assert_int_equal (ln_db_migrate (intruder, im, 1, &err), -1);
    assert_string_equal (err.code, "DB_PERMISSION");
    ln_db_destroy (&intruder);
    /* A schema that does not exist cannot be made by a service role. */
    ln_db_t *nosuch = s_connect (intake_ci, "nosuch");
    assert_int_equal (ln_db_migrate (nosuch, im, 1, &err), -1);
    assert_string_equal (err.code, "DB_SCHEMA_MISSING");
    assert_non_null (strstr (err.message, "AUTHORIZATION"));
    ln_db_destroy (&nosuch);

    /* triage's data is untouched. */
    assert_value (triage, "SELECT count(*) FROM cases", "1");
    ln_db_destroy (&intake);
    ln_db_destroy (&triage);
}

/* --- statements ----------------------------------------------------------------- */

static void
test_exec_parameters (void **state)
{
    (void)state;
    ln_error_t err;
    ln_db_t *db = s_connect (ln_pgfix_conninfo (s_fix), "m_exec");
    const ln_migration_t m[] = {{1, "notes", "CREATE TABLE notes (id serial, v text)"}};
    assert_int_equal (ln_db_migrate (db, m, 1, &err), 0);

    const char *hostile = "x'); DROP TABLE notes; --";
    const char *p[1] = {hostile};
    assert_int_equal (ln_db_run (db, "INSERT INTO notes (v) VALUES ($1)", 1, p, &err), 0);
    const char *pnull[1] = {NULL};
    assert_int_equal (ln_db_run (db, "INSERT INTO notes (v) VALUES ($1)", 1, pnull, &err), 0);
    assert_value (db, "SELECT count(*) FROM notes", "2");
    char *v = s_value (db, "SELECT v FROM notes WHERE v = $1", 1, p);
    assert_non_null (v);
    assert_string_equal (v, hostile);
    free (v);
    assert_value (db, "SELECT count(*) FROM notes WHERE v IS NULL", "1");

    /* Several statements in one string are refused by the protocol. */
    assert_int_equal (ln_db_run (db, "SELECT 1; DROP TABLE notes", 0, NULL, &err), -1);
    assert_string_equal (err.code, "DB_STATEMENT");
    assert_value (db, "SELECT count(*) FROM notes", "2");

    /* A statement error is not a connection loss. */
    assert_null (ln_db_exec (db, "SELECT * FROM no_such_table", 0, NULL, &err));
    assert_string_equal (err.code, "DB_STATEMENT");
    assert_string_equal (ln_db_last_sqlstate (db), "42P01");
    assert_false (ln_db_last_lost (db));
    assert_null (ln_db_exec (db, NULL, 0, NULL, &err));
    assert_string_equal (err.code, "DB_INVALID");

    /* Transactions: commit keeps, rollback drops, a failed one cannot commit. */
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (ln_db_run (db, "INSERT INTO notes (v) VALUES ('kept')", 0, NULL, &err), 0);
    assert_int_equal (ln_db_commit (db), 0);
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (ln_db_run (db, "INSERT INTO notes (v) VALUES ('dropped')", 0, NULL, &err), 0);
    assert_int_equal (ln_db_rollback (db), 0);
    assert_int_equal (ln_db_rollback (db), 0); /* no transaction: no-op */
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (ln_db_run (db, "INSERT INTO notes (v) VALUES ('lost')", 0, NULL, &err), 0);
    assert_int_equal (ln_db_run (db, "SELECT 1/0", 0, NULL, &err), -1);
    assert_string_equal (ln_db_last_sqlstate (db), "22012");
    assert_int_equal (ln_db_commit (db), -1);
    assert_string_equal (ln_db_last_error (db)->code, "DB_STATEMENT");
    assert_int_equal (PQtransactionStatus (ln_db_conn (db)), PQTRANS_IDLE);
    assert_value (db, "SELECT string_agg(v, ',' ORDER BY id) FROM notes WHERE v IS NOT NULL",
                  "x'); DROP TABLE notes; --,kept");
    ln_db_destroy (&db);
}

/* --- losing the connection ---------------------------------------------------------- */

static void
s_kill_backend (ln_db_t *db)
{
    char *pid = s_value (db, "SELECT pg_backend_pid()::text", 0, NULL);
    assert_non_null (pid);
    const char *p[1] = {pid};
    char *ok = ln_pgfix_query_value (s_fix, "SELECT pg_terminate_backend($1::int)::text", 1, p);
    assert_non_null (ok);
    assert_string_equal (ok, "true");
    free (ok);
    /* Wait until the backend has really gone. */
    for (int i = 0; i < 200; i++) {
        char *n = ln_pgfix_query_value (
            s_fix, "SELECT count(*)::text FROM pg_stat_activity WHERE pid = $1::int", 1, p);
        bool gone = n && strcmp (n, "0") == 0;
        free (n);
        if (gone)
            break;
        usleep (10000);
    }
    free (pid);
}

static void
test_terminated_session (void **state)
{
    (void)state;
    ln_error_t err;
    ln_db_t *db = s_connect (ln_pgfix_conninfo (s_fix), "m_kill");
    char *pid1 = s_value (db, "SELECT pg_backend_pid()::text", 0, NULL);

    /* The next statement reports a connection loss, not a statement error. */
    s_kill_backend (db);
    ln_error_clear (&err);
    assert_null (ln_db_exec (db, "SELECT 1", 0, NULL, &err));
    assert_string_equal (err.code, "DB_CONNECTION_LOST");
    assert_true (ln_db_last_lost (db));
    assert_int_equal (ln_db_ensure (db, &err), 0);
    assert_false (ln_db_last_lost (db));
    char *pid2 = s_value (db, "SELECT pg_backend_pid()::text", 0, NULL);
    assert_non_null (pid2);
    assert_string_not_equal (pid1, pid2);
    assert_value (db, "SHOW search_path", "\"m_kill\", pg_temp");

    /* ln_db_ensure notices a dead session by itself, before any statement. */
    s_kill_backend (db);
    assert_int_equal (ln_db_ensure (db, &err), 0);
    char *pid3 = s_value (db, "SELECT pg_backend_pid()::text", 0, NULL);
    assert_non_null (pid3);
    assert_string_not_equal (pid2, pid3);
    free (pid1);
    free (pid2);
    free (pid3);
    ln_db_destroy (&db);
}

/* A session that ends in the middle of a pipeline (here: the backend
   terminates itself at the first statement) leaves libpq with a connection
   it may still call healthy; the next call must report the loss, not a
   statement error, so that the caller reconnects. */
static void
test_session_ends_mid_pipeline (void **state)
{
    (void)state;
    ln_error_t err;
    ln_db_t *db = s_connect (ln_pgfix_conninfo (s_fix), "m_pipe");
    const ln_db_stmt_t stmts[3] = {
        {.sql = "SELECT pg_terminate_backend (pg_backend_pid ())"},
        {.sql = "SELECT 1"},
        {.sql = "SELECT 2"},
    };
    PGresult *res[3];
    ln_error_clear (&err);
    assert_int_equal (ln_db_exec_all (db, stmts, 3, res, &err), -1);
    assert_string_equal (err.code, "DB_CONNECTION_LOST");
    assert_true (ln_db_last_lost (db));
    ln_error_clear (&err);
    assert_null (ln_db_exec (db, "SELECT 1", 0, NULL, &err));
    assert_string_equal (err.code, "DB_CONNECTION_LOST");
    assert_int_equal (ln_db_ensure (db, &err), 0);
    /* and the new connection serves both kinds of call */
    assert_value (db, "SELECT 40 + 2", "42");
    assert_int_equal (ln_db_exec_all (db, &stmts[1], 2, res, &err), 0);
    assert_string_equal (PQgetvalue (res[0], 0, 0), "1");
    assert_string_equal (PQgetvalue (res[1], 0, 0), "2");
    PQclear (res[0]);
    PQclear (res[1]);
    ln_db_destroy (&db);
}

static void *
s_start_later (void *arg)
{
    usleep (1000 * 1000);
    *(int *)arg = ln_pgfix_start (s_fix);
    return NULL;
}

static void
test_server_restart (void **state)
{
    (void)state;
    ln_error_t err;
    ln_db_retry_t retry = {50, 400, 20000};
    ln_db_t *db = ln_db_connect (ln_pgfix_conninfo (s_fix), "m_restart", &retry, &err);
    assert_non_null (db);
    const ln_migration_t m[] = {{1, "t", "CREATE TABLE t (v text)"}};
    assert_int_equal (ln_db_migrate (db, m, 1, &err), 0);
    assert_int_equal (ln_db_run (db, "INSERT INTO t VALUES ('before')", 0, NULL, &err), 0);

    /* The server goes down (fast shutdown, as in a restart) and comes back
       a second later: the old session is reported lost, and ln_db_ensure
       keeps retrying until the server is back. */
    assert_int_equal (ln_pgfix_stop (s_fix), 0);
    assert_null (ln_db_exec (db, "SELECT 1", 0, NULL, &err));
    assert_string_equal (err.code, "DB_CONNECTION_LOST");
    assert_true (ln_db_last_lost (db));
    int started = -1;
    pthread_t th;
    int64_t t0 = s_now_ms ();
    assert_int_equal (pthread_create (&th, NULL, s_start_later, &started), 0);
    ln_log_init ("test_db", LN_LOG_ERROR); /* the retries are expected */
    int rc = ln_db_ensure (db, &err);
    ln_log_init ("test_db", LN_LOG_WARN);
    int64_t elapsed = s_now_ms () - t0;
    assert_int_equal (pthread_join (th, NULL), 0);
    assert_int_equal (started, 0);
    assert_int_equal (rc, 0);
    assert_true (elapsed >= 1000);
    assert_value (db, "SELECT string_agg(v, ',') FROM t", "before"); /* committed = durable */
    assert_value (db, "SHOW search_path", "\"m_restart\", pg_temp");
    assert_int_equal (ln_db_run (db, "INSERT INTO t VALUES ('after')", 0, NULL, &err), 0);
    assert_value (db, "SELECT string_agg(v, ',' ORDER BY v) FROM t", "after,before");
    ln_db_destroy (&db);
}

/* --- a node's loop: one bounded reconnect attempt (issue 10 point 8) -------------- */

/* A TCP front for the cluster's Unix socket, run by a thread of the test:
   in FORWARD it relays bytes both ways, in BLACKHOLE it accepts and never
   answers (a server that hangs, a network that drops packets), and a switch
   to BLACKHOLE cuts the relayed connections (the node's session is lost). */
#define PROXY_PAIRS 8
typedef struct {
    int listen_fd;
    int port;
    char socket_path[100]; /* fits sun_path */
    volatile int blackhole;
    volatile int stop;
    volatile int cut;
    pthread_t thread;
} proxy_t;

static void *
s_proxy_run (void *arg)
{
    proxy_t *p = arg;
    int client[PROXY_PAIRS], server[PROXY_PAIRS];
    for (int i = 0; i < PROXY_PAIRS; i++)
        client[i] = server[i] = -1;
    while (!p->stop) {
        struct pollfd fds[1 + 2 * PROXY_PAIRS];
        int nfds = 0;
        fds[nfds++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
        for (int i = 0; i < PROXY_PAIRS; i++) {
            fds[nfds++] = (struct pollfd){.fd = client[i], .events = POLLIN};
            fds[nfds++] = (struct pollfd){.fd = server[i], .events = POLLIN};
        }
        if (p->cut) {
            for (int i = 0; i < PROXY_PAIRS; i++) {
                if (client[i] >= 0)
                    close (client[i]);
                if (server[i] >= 0)
                    close (server[i]);
                client[i] = server[i] = -1;
            }
            p->cut = 0;
            continue;
        }
        if (poll (fds, (nfds_t)nfds, 50) <= 0)
            continue;
        if (fds[0].revents & POLLIN) {
            int c = accept (p->listen_fd, NULL, NULL);
            int slot = -1;
            for (int i = 0; i < PROXY_PAIRS && slot < 0; i++)
                if (client[i] < 0)
                    slot = i;
            if (c >= 0 && slot >= 0) {
                client[slot] = c;
                if (!p->blackhole) {
                    struct sockaddr_un sa = {.sun_family = AF_UNIX};
                    snprintf (sa.sun_path, sizeof sa.sun_path, "%s", p->socket_path);
                    int s = socket (AF_UNIX, SOCK_STREAM, 0);
                    if (s >= 0 && connect (s, (struct sockaddr *)&sa, sizeof sa) == 0)
                        server[slot] = s;
                    else if (s >= 0)
                        close (s);
                }
            }
            else if (c >= 0)
                close (c);
        }
        for (int i = 0; i < PROXY_PAIRS; i++) {
            struct pollfd *cf = &fds[1 + 2 * i], *sf = &fds[2 + 2 * i];
            char buf[8192];
            if (client[i] >= 0 && (cf->revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t n = read (client[i], buf, sizeof buf);
                if (n <= 0 || (server[i] >= 0 && write (server[i], buf, (size_t)n) != n)) {
                    close (client[i]);
                    if (server[i] >= 0)
                        close (server[i]);
                    client[i] = server[i] = -1;
                    continue;
                }
                /* BLACKHOLE: what the client sends is swallowed */
            }
            if (server[i] >= 0 && (sf->revents & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t n = read (server[i], buf, sizeof buf);
                if (n <= 0 || write (client[i], buf, (size_t)n) != n) {
                    close (client[i]);
                    close (server[i]);
                    client[i] = server[i] = -1;
                }
            }
        }
    }
    for (int i = 0; i < PROXY_PAIRS; i++) {
        if (client[i] >= 0)
            close (client[i]);
        if (server[i] >= 0)
            close (server[i]);
    }
    return NULL;
}

static void
s_proxy_start (proxy_t *p)
{
    memset (p, 0, sizeof *p);
    int n =
        snprintf (p->socket_path, sizeof p->socket_path, "%s/.s.PGSQL.5432", ln_pgfix_host (s_fix));
    assert_true (n > 0 && (size_t)n < sizeof p->socket_path);
    p->listen_fd = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (p->listen_fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
    assert_int_equal (bind (p->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    socklen_t len = sizeof sa;
    assert_int_equal (getsockname (p->listen_fd, (struct sockaddr *)&sa, &len), 0);
    p->port = ntohs (sa.sin_port);
    assert_int_equal (listen (p->listen_fd, 16), 0);
    assert_int_equal (pthread_create (&p->thread, NULL, s_proxy_run, p), 0);
}

static void
s_proxy_stop (proxy_t *p)
{
    p->stop = 1;
    pthread_join (p->thread, NULL);
    close (p->listen_fd);
}

/* The superuser's conninfo through the proxy (sslmode=disable: the server
   has no TLS; connect_timeout far above the bound under test). */
static void
s_proxy_conninfo (const proxy_t *p, char *out, size_t size)
{
    const char *ci = ln_pgfix_conninfo (s_fix);
    const char *pf = strstr (ci, "passfile=");
    char dbname[128];
    snprintf (dbname, sizeof dbname, "%s", ln_pgfix_dbname (s_fix));
    snprintf (out, size,
              "host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable "
              "connect_timeout=30 %s",
              p->port, dbname, pf ? pf : "");
}

static void
test_issue10_point8_reconnect_bounded (void **state)
{
    (void)state;
    ln_error_t err;
    proxy_t proxy;
    s_proxy_start (&proxy);
    char conninfo[1024];
    s_proxy_conninfo (&proxy, conninfo, sizeof conninfo);
    ln_db_t *db = s_connect (conninfo, "r_bound");
    assert_value (db, "SELECT 1", "1");

    /* A healthy connection: nothing happens, at once. */
    uint64_t gen = ln_db_generation (db);
    int64_t t0 = s_now_ms ();
    assert_int_equal (ln_db_reconnect (db, LN_DB_RECONNECT_MS, &err), 0);
    assert_true (s_now_ms () - t0 < 100);
    assert_int_equal (ln_db_generation (db), gen);

    /* The server stops answering and the session is cut: each attempt
       gives up after the bound (not libpq's connect_timeout=30), is told
       apart from a permanent refusal, and sleeps nowhere. */
    proxy.blackhole = 1;
    proxy.cut = 1;
    usleep (100 * 1000);
    static const int bounds[] = {300, LN_DB_RECONNECT_MS};
    for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
        ln_error_clear (&err);
        t0 = s_now_ms ();
        assert_int_equal (ln_db_reconnect (db, bounds[i], &err), -1);
        int64_t ms = s_now_ms () - t0;
        fprintf (stderr, "# reconnect into a black hole, bound %d ms: gave up after %lld ms\n",
                 bounds[i], (long long)ms);
        assert_true (ms >= bounds[i] - 20);
        assert_true (ms < bounds[i] + 400);
        assert_string_equal (err.code, "DB_CONNECT");
        assert_false (ln_db_last_permanent (db));
        assert_true (ln_db_last_lost (db));
    }

    /* Back: the next attempt makes a new session, search_path and all. */
    proxy.blackhole = 0;
    assert_int_equal (ln_db_reconnect (db, LN_DB_RECONNECT_MS, &err), 0);
    assert_true (ln_db_generation (db) > gen);
    assert_false (ln_db_last_lost (db));
    assert_value (db, "SHOW search_path", "\"r_bound\", pg_temp");
    ln_db_destroy (&db);
    s_proxy_stop (&proxy);

    /* PostgreSQL stopped (no socket at all): fails at once, may pass. */
    db = s_connect (ln_pgfix_conninfo (s_fix), "r_down");
    assert_int_equal (ln_pgfix_stop (s_fix), 0);
    for (int i = 0; i < 3; i++) {
        t0 = s_now_ms ();
        assert_int_equal (ln_db_reconnect (db, LN_DB_RECONNECT_MS, &err), -1);
        assert_true (s_now_ms () - t0 < LN_DB_RECONNECT_MS);
        assert_string_equal (err.code, "DB_CONNECT");
        assert_false (ln_db_last_permanent (db));
    }
    assert_int_equal (ln_pgfix_start (s_fix), 0);
    assert_int_equal (ln_db_reconnect (db, LN_DB_RECONNECT_MS, &err), 0);
    assert_value (db, "SELECT 2", "2");
    /* bad arguments */
    assert_int_equal (ln_db_reconnect (db, 0, &err), -1);
    assert_string_equal (err.code, "DB_INVALID");
    assert_int_equal (ln_db_reconnect (NULL, 100, &err), -1);
    ln_db_destroy (&db);
}

/* A conninfo like `conninfo` with one keyword's value replaced. */
static void
s_with (const char *conninfo, const char *key, const char *value, char *out, size_t size)
{
    char pattern[64];
    snprintf (pattern, sizeof pattern, "%s='", key);
    const char *at = strstr (conninfo, pattern);
    assert_non_null (at);
    const char *end = at + strlen (pattern);
    while (*end && !(*end == '\'' && end[-1] != '\\'))
        end++;
    snprintf (out, size, "%.*s%s%s'%s", (int)(at - conninfo), conninfo, pattern, value,
              *end ? end + 1 : "");
}

/* Refused for good: reported as DB_REFUSED with its SQLSTATE, at once and
   without retrying, and never with the password. */
static void
s_expect_refused (const char *conninfo, const char *sqlstate, const char *words)
{
    ln_error_t err;
    ln_error_clear (&err);
    ln_db_retry_t retry = {50, 500, 5000};
    int64_t t0 = s_now_ms ();
    ln_db_t *db = ln_db_connect (conninfo, "p_err", &retry, &err);
    int64_t ms = s_now_ms () - t0;
    if (db || strcmp (err.code, "DB_REFUSED") != 0 || !strstr (err.message, words))
        fprintf (stderr, "expected %s (%s): %s: %s\n", sqlstate, words, db ? "connected" : err.code,
                 err.message);
    assert_null (db);
    assert_string_equal (err.code, "DB_REFUSED");
    assert_non_null (strstr (err.message, words));
    assert_true (ms < 1000); /* not the 5 s budget: not retried */
    assert_null (strstr (err.message, "password='"));
    (void)sqlstate;
}

static void
test_issue10_point8_permanent_errors (void **state)
{
    (void)state;
    ln_error_t err;
    char ci[1024];
    const char *role_ci = ln_pgfix_create_runtime_role (s_fix, "perm");
    assert_non_null (role_ci);
    const char *role = ln_pgfix_role_name (s_fix, "perm");

    /* wrong password (28P01); the cluster checks passwords (scram-sha-256) */
    s_with (role_ci, "password", "not-the-password", ci, sizeof ci);
    s_expect_refused (ci, "28P01", "password authentication failed");
    /* no password at all: libpq cannot answer the server's request */
    const char *pw = strstr (role_ci, " password='");
    assert_non_null (pw);
    snprintf (ci, sizeof ci, "%.*s", (int)(pw - role_ci), role_ci);
    s_expect_refused (ci, "", "no password supplied");
    /* no such database (3D000) */
    s_with (role_ci, "dbname", "no_such_database", ci, sizeof ci);
    s_expect_refused (ci, "3D000", "does not exist");

    /* A session that worked: its grant or login goes away, and the next
       attempt is refused for good, with the SQLSTATE to say why. */
    ln_db_t *db = s_connect (role_ci, "p_err");
    char sql[512];
    snprintf (sql, sizeof sql,
              "REVOKE CONNECT ON DATABASE %s FROM %s; "
              "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '%s'",
              ln_pgfix_dbname (s_fix), role, role);
    assert_int_equal (ln_pgfix_exec (s_fix, sql), 0);
    /* (the backend ends a moment after it was told to) */
    int rc = 0;
    for (int i = 0; i < 40 && rc == 0; i++)
        if ((rc = ln_db_reconnect (db, LN_DB_RECONNECT_MS, &err)) == 0)
            usleep (50 * 1000);
    assert_int_equal (rc, -1);
    assert_string_equal (err.code, "DB_REFUSED");
    assert_string_equal (ln_db_last_sqlstate (db), "42501");
    assert_true (ln_db_last_permanent (db));
    snprintf (sql, sizeof sql, "GRANT CONNECT ON DATABASE %s TO %s; ALTER ROLE %s NOLOGIN",
              ln_pgfix_dbname (s_fix), role, role);
    assert_int_equal (ln_pgfix_exec (s_fix, sql), 0);
    assert_int_equal (ln_db_reconnect (db, LN_DB_RECONNECT_MS, &err), -1);
    assert_string_equal (ln_db_last_sqlstate (db), "28000");
    assert_true (ln_db_last_permanent (db));
    /* fixed by the operator: the next attempt works */
    snprintf (sql, sizeof sql, "ALTER ROLE %s LOGIN", role);
    assert_int_equal (ln_pgfix_exec (s_fix, sql), 0);
    assert_int_equal (ln_db_reconnect (db, LN_DB_RECONNECT_MS, &err), 0);
    assert_false (ln_db_last_permanent (db));

    /* Statements: a missing privilege or table is permanent (the code stays
       DB_STATEMENT), a constraint or a division by zero is not. */
    assert_int_equal (ln_db_run (db, "CREATE TABLE public.x (i int)", 0, NULL, &err), -1);
    assert_string_equal (err.code, "DB_STATEMENT");
    assert_true (ln_db_last_permanent (db));
    assert_int_equal (ln_db_run (db, "SELECT * FROM no_such_table", 0, NULL, &err), -1);
    assert_true (ln_db_last_permanent (db));
    assert_int_equal (ln_db_run (db, "SELECT 1/0", 0, NULL, &err), -1);
    assert_false (ln_db_last_permanent (db));
    assert_int_equal (ln_db_run (db, "SELECT 1", 0, NULL, &err), 0);
    assert_false (ln_db_last_permanent (db));
    ln_db_destroy (&db);

    /* The table, one each side. */
    static const char *const permanent[] = {"28P01", "28000", "3D000", "3F000",
                                            "42501", "42P01", "42883"};
    static const char *const passing[] = {"08006", "08001", "57P01", "57P03", "53300",
                                          "40001", "40P01", "23505", "22012", ""};
    for (size_t i = 0; i < sizeof permanent / sizeof permanent[0]; i++)
        assert_true (ln_db_sqlstate_permanent (permanent[i]));
    for (size_t i = 0; i < sizeof passing / sizeof passing[0]; i++)
        assert_false (ln_db_sqlstate_permanent (passing[i]));
    assert_false (ln_db_sqlstate_permanent (NULL));

    /* A malformed conninfo is refused before connecting, without echoing it. */
    ln_error_clear (&err);
    assert_null (ln_db_connect ("host=/tmp password='Hunter2 user", "p_err", NULL, &err));
    assert_string_equal (err.code, "DB_INVALID");
    assert_null (strstr (err.message, "Hunter2"));
}

/* --- owner and runtime roles (issue 9 point 9) -------------------------------------- */

static const ln_migration_t s_svc[] = {
    {1, "notes", "CREATE TABLE notes (id serial PRIMARY KEY, v text)"},
    {2, "ledger",
     "CREATE TABLE ledger (id int PRIMARY KEY, v text);"
     "INSERT INTO schema_runtime_privileges (relation, privileges)"
     " VALUES ('ledger', 'SELECT, INSERT')"},
    {3, "later", "CREATE TABLE later (i int)"},
};

static void
s_expect_denied (ln_db_t *db, const char *sql)
{
    ln_error_t err;
    ln_error_clear (&err);
    int rc = ln_db_run (db, sql, 0, NULL, &err);
    if (rc == 0 || strcmp (ln_db_last_sqlstate (db), "42501") != 0)
        fprintf (stderr, "%s: expected 42501, got %s %s\n", sql, rc == 0 ? "success" : err.code,
                 err.message);
    assert_int_equal (rc, -1);
    assert_string_equal (ln_db_last_sqlstate (db), "42501");
}

static void
test_issue9_point9_owner_and_runtime_roles (void **state)
{
    (void)state;
    ln_error_t err;
    const char *owner_ci = ln_pgfix_create_role (s_fix, "svc_owner", "svc");
    const char *run_ci = ln_pgfix_create_runtime_role (s_fix, "svc_run");
    assert_non_null (owner_ci);
    assert_non_null (run_ci);
    const char *run = ln_pgfix_role_name (s_fix, "svc_run");
    ln_db_t *owner = s_connect (owner_ci, "svc");
    ln_db_t *rt = s_connect (run_ci, "svc");

    /* Before the owner has migrated and granted, the runtime role is told
       what to do, and changes nothing. */
    ln_error_clear (&err);
    assert_int_equal (ln_db_schema_ready (rt, s_svc, 2, &err), -1);
    assert_string_equal (err.code, "DB_PERMISSION");
    assert_non_null (strstr (err.message, "--migrate"));

    assert_int_equal (ln_db_migrate_as_owner (owner, s_svc, 2, run, &err), 0);
    assert_int_equal (ln_db_migrations_current (rt, s_svc, 2, &err), 0);
    assert_int_equal (ln_db_schema_ready (rt, s_svc, 2, &err), 0);

    /* What it may do: the policy's default on notes, SELECT and INSERT on
       ledger, read schema_migrations. */
    assert_int_equal (ln_db_run (rt, "INSERT INTO notes (v) VALUES ('a')", 0, NULL, &err), 0);
    assert_int_equal (ln_db_run (rt, "UPDATE notes SET v = 'b'", 0, NULL, &err), 0);
    assert_int_equal (ln_db_run (rt, "DELETE FROM notes", 0, NULL, &err), 0);
    assert_int_equal (ln_db_run (rt, "INSERT INTO ledger VALUES (1, 'x')", 0, NULL, &err), 0);
    assert_value (rt, "SELECT count(*) FROM ledger", "1");
    assert_value (rt, "SELECT max(version) FROM schema_migrations", "2");
    /* What it may not: change the ledger, DDL, TRUNCATE, triggers, the
       migration record, the policy. */
    const char *denied[] = {
        "UPDATE ledger SET v = 'y'",
        "DELETE FROM ledger",
        "TRUNCATE notes",
        "ALTER TABLE notes ADD COLUMN w int",
        "ALTER TABLE ledger DISABLE TRIGGER ALL",
        "DROP TABLE ledger",
        "CREATE TABLE evil (i int)",
        "CREATE FUNCTION evil () RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (9, 'x', 'y')",
        "DELETE FROM schema_migrations",
        "INSERT INTO schema_runtime_privileges VALUES ('notes', 'SELECT')",
        "UPDATE schema_runtime_privileges SET privileges = 'SELECT, INSERT, UPDATE, DELETE'",
    };
    for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++)
        s_expect_denied (rt, denied[i]);
    char sql[256];
    snprintf (sql, sizeof sql, "SET ROLE %s", ln_pgfix_role_name (s_fix, "svc_owner"));
    s_expect_denied (rt, sql);

    /* A newer program: the runtime role refuses to serve a schema that
       lacks a migration, and says who must apply it. */
    ln_error_clear (&err);
    assert_int_equal (ln_db_schema_ready (rt, s_svc, 3, &err), -1);
    assert_string_equal (err.code, "DB_MIGRATION_PENDING");
    assert_non_null (strstr (err.message, "migration 3 (later)"));
    assert_non_null (strstr (err.message, "--migrate"));
    assert_value (owner, "SELECT max(version) FROM schema_migrations", "2"); /* unchanged */
    /* A right given by hand does not survive the next migration: the
       grants are exactly the policy, and new tables are granted. */
    snprintf (sql, sizeof sql, "GRANT TRUNCATE, UPDATE ON svc.ledger TO %s", run);
    assert_int_equal (ln_pgfix_exec (s_fix, sql), 0);
    assert_int_equal (ln_db_migrate_as_owner (owner, s_svc, 3, run, &err), 0);
    assert_int_equal (ln_db_schema_ready (rt, s_svc, 3, &err), 0);
    assert_int_equal (ln_db_run (rt, "INSERT INTO later VALUES (1)", 0, NULL, &err), 0);
    s_expect_denied (rt, "TRUNCATE ledger");
    s_expect_denied (rt, "UPDATE ledger SET v = 'z'");

    /* Refused: a runtime role that could act as the owner, one that does
       not exist, and migrating as a superuser. */
    const char *member_ci = ln_pgfix_create_runtime_role (s_fix, "svc_member");
    assert_non_null (member_ci);
    snprintf (sql, sizeof sql, "GRANT %s TO %s", ln_pgfix_role_name (s_fix, "svc_owner"),
              ln_pgfix_role_name (s_fix, "svc_member"));
    assert_int_equal (ln_pgfix_exec (s_fix, sql), 0);
    ln_error_clear (&err);
    assert_int_equal (
        ln_db_migrate_as_owner (owner, s_svc, 3, ln_pgfix_role_name (s_fix, "svc_member"), &err),
        -1);
    assert_string_equal (err.code, "DB_PERMISSION");
    assert_non_null (strstr (err.message, "member"));
    assert_int_equal (ln_db_migrate_as_owner (owner, s_svc, 3, "no_such_role_x", &err), -1);
    assert_string_equal (err.code, "DB_INVALID");
    assert_non_null (strstr (err.message, "CREATE ROLE"));
    ln_db_t *super = s_connect (ln_pgfix_conninfo (s_fix), "svc");
    assert_int_equal (ln_db_migrate_as_owner (super, s_svc, 3, run, &err), -1);
    assert_string_equal (err.code, "DB_PERMISSION");
    assert_non_null (strstr (err.message, "superuser"));
    ln_db_destroy (&super);

    /* One role owning its schema (the set-up before the roles were split):
       ln_db_schema_ready migrates, as ln_db_migrate did. */
    const char *single_ci = ln_pgfix_create_role (s_fix, "single", "single");
    ln_db_t *single = s_connect (single_ci, "single");
    assert_int_equal (ln_db_schema_ready (single, s_svc, 2, &err), 0);
    assert_value (single, "SELECT max(version) FROM schema_migrations", "2");
    assert_int_equal (ln_db_schema_ready (single, s_svc, 3, &err), 0);
    assert_value (single, "SELECT max(version) FROM schema_migrations", "3");
    ln_db_destroy (&single);
    ln_db_destroy (&rt);
    ln_db_destroy (&owner);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_connect),
        cmocka_unit_test (test_connect_dead_socket),
        cmocka_unit_test (test_migrate_once),
        cmocka_unit_test (test_migrate_failure_rolls_back),
        cmocka_unit_test (test_migrate_refusals),
        cmocka_unit_test (test_migrate_concurrent),
        cmocka_unit_test (test_least_privilege),
        cmocka_unit_test (test_exec_parameters),
        cmocka_unit_test (test_terminated_session),
        cmocka_unit_test (test_session_ends_mid_pipeline),
        cmocka_unit_test (test_server_restart),
        cmocka_unit_test (test_issue10_point8_reconnect_bounded),
        cmocka_unit_test (test_issue10_point8_permanent_errors),
        cmocka_unit_test (test_issue9_point9_owner_and_runtime_roles),
    };
    return cmocka_run_group_tests_name ("db", tests, s_setup, s_teardown);
}
