/*  test_db: ln_db against a real PostgreSQL (tests/support/pg_fixture).

    Covers what DESIGN.md "Reliability" and "Security" ask of the database
    layer: connecting with bounded backoff, migrations applied exactly once
    (also with concurrent migrators) and atomically, refusal of edited or
    newer migrations, least privilege between service roles, parameters that
    stay values, and reconnection after a killed session and after a server
    restart.
*/
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    assert_value (db, "SHOW search_path", "\"app\"");
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
    assert_value (db, "SHOW search_path", "\"m_kill\"");

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
    assert_value (db, "SHOW search_path", "\"m_restart\"");
    assert_int_equal (ln_db_run (db, "INSERT INTO t VALUES ('after')", 0, NULL, &err), 0);
    assert_value (db, "SELECT string_agg(v, ',' ORDER BY v) FROM t", "after,before");
    ln_db_destroy (&db);
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
    };
    return cmocka_run_group_tests_name ("db", tests, s_setup, s_teardown);
}
