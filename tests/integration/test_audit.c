/*  test_audit: ln_audit and `lanternctl audit verify` against a real
    PostgreSQL (tests/support/pg_fixture).

    docs/architecture.md "Security" (Audit) and issue 3 acceptance: every entry lands
    in an append-only, hash-chained table; a row changed by hand, or deleted
    from the middle or from the end, makes verification fail and name the
    first bad row; the service role cannot change rows by accident; an
    aborted transaction leaves no row and no gap; concurrent appenders keep
    the chain dense.  Each case gets its own schema owned by its own
    least-privilege role (as a service); tampering is done as the superuser
    with triggers off (session_replication_role = replica), as an attacker
    with the owner's or an admin's rights would.

    Which row is named after a deletion: for a hole in the middle, the first
    row AFTER the hole ("row missing before it (seq A..B)" lists the missing
    ones); for rows deleted at the end, the first missing seq (through the
    head).
*/
#include <pthread.h>
#include <setjmp.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ln_audit.h"
#include "ln_db.h"
#include "ln_log.h"
#include "pg_fixture.h"

extern char **environ;

static ln_pgfix_t *s_fix;
/* One superuser session for arranging and tampering (a new connection per
   statement costs more than the statements). */
static PGconn *s_super;

static int64_t
s_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
s_wall_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* First value of a query on `db`, as a new string (NULL for SQL NULL). */
static char *
s_value (ln_db_t *db, const char *sql)
{
    ln_error_t err;
    PGresult *res = ln_db_exec (db, sql, 0, NULL, &err);
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
    char *v = s_value (db, sql);
    if (!expected)
        assert_null (v);
    else {
        if (!v || strcmp (v, expected) != 0)
            fprintf (stderr, "%s\n  gave '%s', expected '%s'\n", sql, v ? v : "(null)", expected);
        assert_non_null (v);
        assert_string_equal (v, expected);
    }
    free (v);
}

/* Trusted SQL as the superuser, printf-style, several statements allowed
   (test code only). */
static void s_admin (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static void
s_admin (const char *fmt, ...)
{
    char sql[8192];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (sql, sizeof sql, fmt, ap);
    va_end (ap);
    PGresult *res = PQexec (s_super, sql);
    ExecStatusType st = PQresultStatus (res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fprintf (stderr, "%s\n  failed: %s", sql, PQerrorMessage (s_super));
    PQclear (res);
    assert_true (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);
}

/* As an attacker: triggers off for this session only. */
#define TAMPER "SET session_replication_role = replica; "

/* A service: its own role owning its own schema, audit migrated. */
typedef struct {
    char schema[32];
    const char *conninfo; /* owned by the fixture; holds the role's password */
    ln_db_t *db;
} svc_t;

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

static void
s_service (svc_t *svc, const char *schema)
{
    char role[40];
    snprintf (svc->schema, sizeof svc->schema, "%s", schema);
    snprintf (role, sizeof role, "r_%s", schema);
    svc->conninfo = ln_pgfix_create_role (s_fix, role, schema);
    assert_non_null (svc->conninfo);
    svc->db = s_connect (svc->conninfo, schema);
    ln_error_t err;
    ln_error_clear (&err);
    const ln_migration_t list[] = {ln_audit_migration, ln_audit_writer_migration,
                                   ln_audit_anchors_migration};
    int rc = ln_db_migrate (svc->db, list, 3, &err);
    if (rc != 0)
        fprintf (stderr, "migrate: %s: %s\n", err.code, err.message);
    assert_int_equal (rc, 0);
}

static void
s_service_end (svc_t *svc)
{
    ln_db_destroy (&svc->db);
}

/* Varied, realistic entries: entry i, with its text kept in the struct
   (which must therefore not move while the entry is used). */
typedef struct {
    char principal[32];
    char object[48];
    char request_id[48];
    char reason[96];
    ln_audit_entry_t e;
} gen_t;

static void
s_gen (gen_t *g, int i)
{
    snprintf (g->principal, sizeof g->principal, "user-%d", i % 7);
    snprintf (g->object, sizeof g->object, "signal:sig-%d", i);
    snprintf (g->request_id, sizeof g->request_id, "req-%08d", i);
    bool refused = i % 5 == 0;
    const char *outcome = refused ? LN_AUDIT_REFUSED : i % 2 ? LN_AUDIT_ACCEPTED : LN_AUDIT_READ;
    snprintf (g->reason, sizeof g->reason, "NOT_AUTHORISED: role intake may not call #%d", i);
    g->e = (ln_audit_entry_t){
        .principal = g->principal,
        .organisation = i % 3 ? "gemeente-venlo" : "politie",
        .action = i % 2 ? "RegisterSignal" : "ReadCase",
        .object = g->object,
        .outcome = outcome,
        .reason = refused ? g->reason : NULL,
        .request_id = i % 4 == 0 ? NULL : g->request_id,
        .at_us = i % 3 == 0 ? 0 : INT64_C (1700000000000000) + i,
    };
}

static void
s_ok (int rc, const ln_error_t *err)
{
    if (rc != 0)
        fprintf (stderr, "failed: %s: %s (%s)\n", err->code ? err->code : "-", err->message,
                 err->field);
    assert_int_equal (rc, 0);
}

/* Entries first..first+n-1: each in its own transaction, or as one batch. */
static void
s_append_range (ln_db_t *db, int first, int n, bool batch)
{
    ln_error_t err;
    ln_error_clear (&err);
    if (!batch) {
        for (int i = 0; i < n; i++) {
            gen_t g = {0};
            s_gen (&g, first + i);
            assert_int_equal (ln_db_begin (db), 0);
            s_ok (ln_audit_append (db, &g.e, &err), &err);
            assert_int_equal (ln_db_commit (db), 0);
        }
        return;
    }
    gen_t *gens = calloc ((size_t)n, sizeof *gens);
    ln_audit_entry_t *entries = calloc ((size_t)n, sizeof *entries);
    assert_non_null (gens);
    assert_non_null (entries);
    for (int i = 0; i < n; i++) {
        s_gen (&gens[i], first + i);
        entries[i] = gens[i].e;
    }
    assert_int_equal (ln_db_begin (db), 0);
    s_ok (ln_audit_append_batch (db, entries, (size_t)n, &err), &err);
    assert_int_equal (ln_db_commit (db), 0);
    free (entries);
    free (gens);
}

static ln_audit_report_t
s_verify (ln_db_t *db)
{
    ln_audit_report_t r;
    ln_error_t err;
    ln_error_clear (&err);
    s_ok (ln_audit_verify (db, &r, &err), &err);
    /* Verification leaves no transaction behind. */
    assert_int_equal (PQtransactionStatus (ln_db_conn (db)), PQTRANS_IDLE);
    return r;
}

static void
s_expect_ok (ln_db_t *db, uint64_t rows)
{
    ln_audit_report_t r = s_verify (db);
    if (!r.ok)
        fprintf (stderr, "verify: FAILED at seq %llu: %s\n", (unsigned long long)r.first_bad_seq,
                 r.problem);
    assert_true (r.ok);
    assert_int_equal (r.rows, rows);
    assert_int_equal (r.head_seq, rows);
    assert_int_equal (strlen (r.head_hash), LN_AUDIT_HASH_HEX);
    assert_string_equal (r.problem, "");
}

/* Verification fails at `seq` with `problem`, having found `rows` good. */
static void
s_expect_bad_n (ln_db_t *db, uint64_t seq, const char *problem, uint64_t rows)
{
    ln_audit_report_t r = s_verify (db);
    if (r.ok || r.first_bad_seq != seq || strcmp (r.problem, problem) != 0)
        fprintf (stderr, "verify: ok=%d seq %llu '%s'; expected seq %llu '%s'\n", r.ok,
                 (unsigned long long)r.first_bad_seq, r.problem, (unsigned long long)seq, problem);
    assert_false (r.ok);
    assert_int_equal (r.first_bad_seq, seq);
    assert_string_equal (r.problem, problem);
    assert_int_equal (r.rows, rows);
}

/* For a bad row: the rows before it were checked and good. */
static void
s_expect_bad (ln_db_t *db, uint64_t seq, const char *problem)
{
    s_expect_bad_n (db, seq, problem, seq - 1);
}

static int
s_setup (void **state)
{
    (void)state;
    ln_log_init ("test_audit", LN_LOG_WARN);
    s_fix = ln_pgfix_new ("audit");
    if (!s_fix)
        return -1;
    s_super = PQconnectdb (ln_pgfix_conninfo (s_fix));
    return PQstatus (s_super) == CONNECTION_OK ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    PQfinish (s_super);
    s_super = NULL;
    ln_pgfix_destroy (&s_fix);
    return 0;
}

/* --- appending ------------------------------------------------------------------ */

/* The documented encoding, recomputed in SQL: proves the format in
   ln_audit.h is what is stored, and that it can be checked without our C. */
#define SQL_F(col)                                                                                 \
    "CASE WHEN " col " IS NULL THEN '\\x00'::bytea ELSE '\\x01'::bytea || "                        \
    "int4send(octet_length(" col ")) || convert_to(" col ", 'UTF8') END"
#define SQL_ROW_HASH                                                                                   \
    "sha256(convert_to('lantern-audit-v1', 'UTF8') || prev_hash || int8send(seq) || "                  \
    "int8send(at_us) || " SQL_F ("principal") " || " SQL_F ("organisation") " || " SQL_F (             \
        "action") " || " SQL_F ("object") " || " SQL_F ("outcome") " || " SQL_F ("reason") " ||"       \
                                                                                           " " SQL_F ( \
                                                                                               "r"     \
                                                                                               "e"     \
                                                                                               "q"     \
                                                                                               "u"     \
                                                                                               "e"     \
                                                                                               "s"     \
                                                                                               "t"     \
                                                                                               "_"     \
                                                                                               "i"     \
                                                                                               "d") ")"

static void
test_append_and_verify (void **state)
{
    (void)state;
    svc_t svc = {0};
    s_service (&svc, "a_ok");
    ln_db_t *db = svc.db;
    ln_error_t err;
    ln_error_clear (&err);

    /* An empty trail is a valid one. */
    s_expect_ok (db, 0);

    int64_t t0 = s_wall_us ();
    s_append_range (db, 1, 5, false);   /* seq 1..5, one transaction each */
    s_append_range (db, 6, 700, true);  /* 6..705: one batch, two INSERT chunks */
    s_append_range (db, 706, 3, false); /* 706..708 */
    int64_t t1 = s_wall_us ();

    /* Text that array literals and encodings could get wrong. */
    const ln_audit_entry_t tricky = {
        .principal = "ann \"the\" o'neil \\ {x,y} NULL",
        .organisation = "", /* empty, not NULL: the hash tells them apart */
        .action = "Read\tCase\r\nLine",
        .object = "NULL",
        .outcome = LN_AUDIT_PURGED,
        .reason = "\xc3\xa9 \xe6\xbc\xa2\xe5\xad\x97 \xf0\x9f\x99\x82 , } { \"",
        .request_id = "\\\\\"\"",
        .at_us = 42,
    };
    const ln_audit_entry_t pair[2] = {tricky,
                                      {.action = "Purge", .outcome = LN_AUDIT_FAILED, .at_us = 7}};
    assert_int_equal (ln_db_begin (db), 0);
    s_ok (ln_audit_append_batch (db, pair, 2, &err), &err); /* 709, 710 */
    s_ok (ln_audit_append (db, &tricky, &err), &err);       /* 711 */
    assert_int_equal (ln_db_commit (db), 0);
    s_expect_ok (db, 711);

    /* Stored as given, NULL as NULL. */
    PGresult *res =
        ln_db_exec (db,
                    "SELECT principal, organisation, action, object, outcome, reason,"
                    " request_id, at_us FROM audit WHERE seq IN (709, 711) ORDER BY seq",
                    0, NULL, &err);
    assert_non_null (res);
    assert_int_equal (PQntuples (res), 2);
    for (int row = 0; row < 2; row++) {
        const char *want[8] = {
            tricky.principal, tricky.organisation, tricky.action,     tricky.object,
            tricky.outcome,   tricky.reason,       tricky.request_id, "42"};
        for (int c = 0; c < 8; c++) {
            assert_false (PQgetisnull (res, row, c));
            assert_string_equal (PQgetvalue (res, row, c), want[c]);
        }
    }
    PQclear (res);
    assert_value (db,
                  "SELECT concat_ws(',', principal IS NULL, organisation IS NULL, action, "
                  "object IS NULL, outcome, reason IS NULL, request_id IS NULL, at_us) "
                  "FROM audit WHERE seq = 710",
                  "t,t,Purge,t,failed,t,t,7");

    /* at_us 0 means now (entry i % 3 == 0), otherwise as given. */
    char sql[256];
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM audit WHERE seq <= 708 AND seq %% 3 = 0 "
              "AND at_us BETWEEN %lld AND %lld",
              (long long)t0, (long long)t1);
    assert_value (db, sql, "236");
    assert_value (db,
                  "SELECT count(*) FROM audit WHERE seq <= 708 AND seq % 3 <> 0 "
                  "AND at_us = 1700000000000000 + seq",
                  "472");

    /* The chain, recomputed by PostgreSQL from the documented format. */
    assert_value (db, "SELECT count(*) FROM audit WHERE hash = " SQL_ROW_HASH, "711");
    assert_value (db,
                  "SELECT count(*) FROM (SELECT prev_hash, lag(hash, 1, "
                  "decode(repeat('00', 32), 'hex')) OVER (ORDER BY seq) AS want FROM audit) x "
                  "WHERE prev_hash = want",
                  "711");
    assert_value (db,
                  "SELECT h.seq = a.seq AND h.hash = a.hash FROM audit_head h, audit a "
                  "WHERE a.seq = (SELECT max(seq) FROM audit)",
                  "t");
    assert_value (db, "SELECT min(seq)::text || '..' || max(seq) || '/' || count(*) FROM audit",
                  "1..711/711");

    /* An empty batch does nothing, even outside a transaction. */
    s_ok (ln_audit_append_batch (db, NULL, 0, &err), &err);
    s_expect_ok (db, 711);

    /* Verify takes its own snapshot: not inside the caller's transaction,
       which it leaves alone. */
    assert_int_equal (ln_db_begin (db), 0);
    ln_audit_report_t r;
    assert_int_equal (ln_audit_verify (db, &r, &err), -1);
    assert_string_equal (err.code, "AUDIT_INVALID");
    assert_int_equal (PQtransactionStatus (ln_db_conn (db)), PQTRANS_INTRANS);
    assert_int_equal (ln_db_rollback (db), 0);
    s_service_end (&svc);
}

static void
s_expect_invalid (ln_db_t *db, const ln_audit_entry_t *e, const char *code, const char *field)
{
    ln_error_t err;
    ln_error_clear (&err);
    assert_int_equal (ln_audit_append (db, e, &err), -1);
    assert_non_null (err.code);
    assert_string_equal (err.code, code);
    assert_string_equal (err.field, field);
}

static void
test_invalid_entries (void **state)
{
    (void)state;
    svc_t svc = {0};
    s_service (&svc, "a_inv");
    ln_db_t *db = svc.db;
    ln_error_t err;
    const ln_audit_entry_t good = {.principal = "p", .action = "A", .outcome = LN_AUDIT_ACCEPTED};

    /* Outside a transaction: refused, the effect and its audit row must be
       one unit. */
    s_expect_invalid (db, &good, "AUDIT_NOT_IN_TRANSACTION", "");

    assert_int_equal (ln_db_begin (db), 0);
    ln_audit_entry_t e = good;
    e.reason = "bad \xc3\x28 utf8";
    s_expect_invalid (db, &e, "AUDIT_INVALID", "entry.reason");
    e = good;
    e.principal = "esc \x1b[31m red";
    s_expect_invalid (db, &e, "AUDIT_INVALID", "entry.principal");
    e = good;
    e.action = NULL;
    s_expect_invalid (db, &e, "AUDIT_INVALID", "entry.action");
    e = good;
    e.action = "";
    s_expect_invalid (db, &e, "AUDIT_INVALID", "entry.action");
    e = good;
    e.outcome = "ok";
    s_expect_invalid (db, &e, "AUDIT_INVALID", "entry.outcome");
    e = good;
    e.outcome = NULL;
    s_expect_invalid (db, &e, "AUDIT_INVALID", "entry.outcome");
    e = good;
    e.at_us = -1;
    s_expect_invalid (db, &e, "AUDIT_INVALID", "entry.at_us");
    char big[LN_AUDIT_OBJECT_MAX + 2];
    memset (big, 'o', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    e = good;
    e.object = big;
    s_expect_invalid (db, &e, "AUDIT_INVALID", "entry.object");
    big[LN_AUDIT_OBJECT_MAX] = '\0'; /* exactly the maximum is fine */
    e.object = big;
    ln_error_clear (&err);
    s_ok (ln_audit_append (db, &e, &err), &err);

    /* In a batch, the offending entry is named and nothing is written. */
    ln_audit_entry_t batch[3] = {good, good, good};
    batch[2].request_id = "\xed\xa0\x80"; /* a UTF-16 surrogate */
    ln_error_clear (&err);
    assert_int_equal (ln_audit_append_batch (db, batch, 3, &err), -1);
    assert_string_equal (err.code, "AUDIT_INVALID");
    assert_string_equal (err.field, "entries[2].request_id");
    assert_int_equal (ln_audit_append (NULL, &good, &err), -1);
    assert_string_equal (err.code, "AUDIT_INVALID");
    assert_int_equal (ln_audit_append (db, NULL, &err), -1);
    assert_string_equal (err.code, "AUDIT_INVALID");
    assert_int_equal (ln_audit_append_batch (db, NULL, 2, &err), -1);
    assert_string_equal (err.code, "AUDIT_INVALID");

    /* The transaction is still usable: only the good entries are there. */
    s_ok (ln_audit_append (db, &good, &err), &err);
    assert_int_equal (ln_db_commit (db), 0);
    s_expect_ok (db, 2);

    /* A transaction that already failed is refused too. */
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (ln_db_run (db, "SELECT 1/0", 0, NULL, NULL), -1);
    s_expect_invalid (db, &good, "AUDIT_NOT_IN_TRANSACTION", "");
    assert_int_equal (ln_db_rollback (db), 0);

    /* A schema without the migration: a clear error, not a broken chain. */
    ln_db_t *bare = s_connect (ln_pgfix_conninfo (s_fix), "public");
    ln_audit_report_t r;
    ln_error_clear (&err);
    assert_int_equal (ln_audit_verify (bare, &r, &err), -1);
    assert_string_equal (err.code, "AUDIT_MISSING");
    assert_int_equal (PQtransactionStatus (ln_db_conn (bare)), PQTRANS_IDLE);
    ln_db_destroy (&bare);
    s_service_end (&svc);
}

/* --- tampering ---------------------------------------------------------------------- */

static void
test_tamper_change_each_field (void **state)
{
    (void)state;
    svc_t svc = {0};
    s_service (&svc, "t_chg");
    ln_db_t *db = svc.db;
    s_append_range (db, 1, 6, false);
    s_append_range (db, 7, 14, true); /* row 8 (entry 8): request_id NULL */
    s_expect_ok (db, 20);
    s_admin ("CREATE TABLE t_chg.saved AS SELECT * FROM t_chg.audit WHERE seq = 8");

    /* Every stored column is covered by the hash: change one, verification
       names row 8; put it back, the chain is whole again. */
    static const char *const changes[][2] = {
        {"principal", "principal || 'x'"},
        {"organisation", "'politie-x'"},
        {"action", "'DeleteCase'"},
        {"object", "'signal:sig-999'"},
        {"outcome", "'accepted'"},
        {"reason", "'nothing to see'"}, /* NULL -> text */
        {"request_id", "''"},           /* NULL -> empty */
        {"at_us", "at_us + 1"},
        {"prev_hash", "sha256('x')"},
        {"hash", "sha256('y')"},
    };
    for (size_t i = 0; i < sizeof changes / sizeof changes[0]; i++) {
        const char *col = changes[i][0];
        s_admin (TAMPER "UPDATE t_chg.audit SET %s = %s WHERE seq = 8", col, changes[i][1]);
        s_expect_bad (db, 8,
                      strcmp (col, "prev_hash") == 0 ? "prev_hash does not match" : "row changed");
        s_admin (TAMPER "UPDATE t_chg.audit a SET %s = s.%s FROM t_chg.saved s WHERE a.seq = 8",
                 col, col);
        s_expect_ok (db, 20);
    }
    /* The first row and the last row are covered as well. */
    s_admin (TAMPER "UPDATE t_chg.audit SET object = 'x' WHERE seq IN (1, 20)");
    s_expect_bad (db, 1, "row changed");
    s_service_end (&svc);
}

static void
test_tamper_delete_middle (void **state)
{
    (void)state;
    svc_t svc = {0};
    s_service (&svc, "t_del");
    ln_db_t *db = svc.db;
    s_append_range (db, 1, 20, true);
    s_expect_ok (db, 20);

    /* The row after the hole is named; the message says what is missing. */
    s_admin (TAMPER "DELETE FROM t_del.audit WHERE seq = 9");
    s_expect_bad_n (db, 10, "row missing before it (seq 9)", 8);
    s_admin (TAMPER "DELETE FROM t_del.audit WHERE seq IN (10, 11)");
    s_expect_bad_n (db, 12, "row missing before it (seq 9..11)", 8);
    /* Renumbering the rest to close the hole breaks prev_hash instead. */
    s_admin (TAMPER "UPDATE t_del.audit SET seq = seq + 1000 WHERE seq > 11;"
                    "UPDATE t_del.audit SET seq = seq - 1003 WHERE seq > 1000");
    s_expect_bad (db, 9, "prev_hash does not match");
    /* A deleted first row: the chain does not start at 1. */
    s_admin (TAMPER "DELETE FROM t_del.audit WHERE seq = 1");
    s_expect_bad_n (db, 2, "row missing before it (seq 1)", 0);
    s_service_end (&svc);
}

static void
test_tamper_delete_last (void **state)
{
    (void)state;
    svc_t svc = {0};
    s_service (&svc, "t_last");
    ln_db_t *db = svc.db;
    s_append_range (db, 1, 10, true);
    s_expect_ok (db, 10);

    /* What remains is a valid chain: only the head shows the loss. */
    s_admin (TAMPER "DELETE FROM t_last.audit WHERE seq = 10");
    s_expect_bad (db, 10, "rows deleted at the end (head says seq 10)");
    s_admin (TAMPER "DELETE FROM t_last.audit WHERE seq IN (8, 9)");
    s_expect_bad (db, 8, "rows deleted at the end (head says seq 10)");
    /* Everything deleted. */
    s_admin (TAMPER "DELETE FROM t_last.audit");
    s_expect_bad (db, 1, "rows deleted at the end (head says seq 10)");

    /* A head moved back while rows stay, or with a wrong hash. */
    svc_t svc2 = {0};
    s_service (&svc2, "t_head");
    s_append_range (svc2.db, 1, 5, false);
    s_admin (TAMPER "UPDATE t_head.audit_head SET seq = 3");
    s_expect_bad_n (svc2.db, 4, "head does not match the last row (head says seq 3)", 5);
    s_admin (TAMPER "UPDATE t_head.audit_head SET seq = 5, hash = sha256('z')");
    s_expect_bad_n (svc2.db, 5, "head does not match the last row (hash differs)", 5);
    s_admin (TAMPER "DELETE FROM t_head.audit_head");
    s_expect_bad_n (svc2.db, 0, "head row missing or malformed", 5);
    /* And appending refuses to chain onto nothing. */
    ln_error_t err;
    ln_error_clear (&err);
    const ln_audit_entry_t e = {.action = "A", .outcome = LN_AUDIT_READ};
    assert_int_equal (ln_db_begin (svc2.db), 0);
    assert_int_equal (ln_audit_append (svc2.db, &e, &err), -1);
    assert_string_equal (err.code, "AUDIT_MISSING");
    assert_int_equal (ln_db_rollback (svc2.db), 0);
    s_service_end (&svc2);
    s_service_end (&svc);
}

static void
test_tamper_rehash (void **state)
{
    (void)state;
    svc_t svc = {0};
    s_service (&svc, "t_rh");
    ln_db_t *db = svc.db;
    s_append_range (db, 1, 10, true);
    s_admin ("CREATE TABLE t_rh.saved AS SELECT * FROM t_rh.audit");

    /* A new hash on row 4 and row 5's prev_hash changed to match: the links
       agree, but row 4's hash is recomputed from its contents. */
    s_admin (TAMPER "UPDATE t_rh.audit SET hash = sha256('forged') WHERE seq = 4;"
                    "UPDATE t_rh.audit SET prev_hash = sha256('forged') WHERE seq = 5");
    s_expect_bad (db, 4, "row changed");

    /* Done properly (the content changed and row 4 re-hashed with the real
       formula, row 5 linked to it): row 5's own hash covers its prev_hash,
       so the forger would have to rewrite every later row and the head. */
    s_admin (TAMPER "UPDATE t_rh.audit a SET hash = s.hash FROM t_rh.saved s "
                    "WHERE a.seq = s.seq AND a.seq = 4;"
                    "UPDATE t_rh.audit a SET prev_hash = s.prev_hash FROM t_rh.saved s "
                    "WHERE a.seq = s.seq AND a.seq = 5");
    s_expect_ok (db, 10);
    s_admin (TAMPER "UPDATE t_rh.audit SET outcome = 'accepted', reason = NULL WHERE seq = 4;"
                    "UPDATE t_rh.audit SET hash = " SQL_ROW_HASH " WHERE seq = 4;"
                    "UPDATE t_rh.audit SET prev_hash = (SELECT hash FROM t_rh.audit WHERE seq = 4)"
                    " WHERE seq = 5");
    s_expect_bad (db, 5, "row changed");
    s_service_end (&svc);
}

/* --- the service role cannot change the trail by accident ------------------------------- */

static void
s_expect_refused (ln_db_t *db, const char *sql, const char *message)
{
    ln_error_t err;
    ln_error_clear (&err);
    assert_int_equal (ln_db_run (db, sql, 0, NULL, &err), -1);
    assert_string_equal (err.code, "DB_STATEMENT");
    if (!strstr (err.message, message))
        fprintf (stderr, "%s: '%s' lacks '%s'\n", sql, err.message, message);
    assert_non_null (strstr (err.message, message));
}

static void
test_trigger_refuses (void **state)
{
    (void)state;
    svc_t svc = {0};
    s_service (&svc, "a_trg");
    ln_db_t *db = svc.db;
    s_append_range (db, 1, 5, false);

    s_expect_refused (db, "UPDATE audit SET reason = 'x' WHERE seq = 2",
                      "audit is append-only: UPDATE on audit refused");
    s_expect_refused (db, "DELETE FROM audit WHERE seq = 5",
                      "audit is append-only: DELETE on audit refused");
    s_expect_refused (db, "TRUNCATE audit", "audit is append-only: TRUNCATE on audit refused");
    s_expect_refused (db, "DELETE FROM audit_head",
                      "audit is append-only: DELETE on audit_head refused");
    s_expect_refused (db, "UPDATE audit_head SET seq = 2",
                      "audit_head only moves forward: seq 5 to 2 refused");
    s_expect_refused (db, "INSERT INTO audit_head (id, seq, hash) VALUES (false, 0, '')",
                      "audit_head_id_check");
    /* Even a statement matching no row is refused (statement triggers). */
    s_expect_refused (db, "DELETE FROM audit WHERE seq = 999", "append-only");
    /* The role is the owner, it is not privileges that stop it. */
    assert_value (db,
                  "SELECT tableowner = current_user FROM pg_tables WHERE tablename = 'audit' "
                  "AND schemaname = 'a_trg'",
                  "t");
    s_expect_ok (db, 5);
    s_service_end (&svc);
}

/* --- transactions and concurrency -------------------------------------------------------- */

static void
test_rollback_leaves_no_gap (void **state)
{
    (void)state;
    svc_t svc = {0};
    s_service (&svc, "a_gap");
    ln_db_t *db = svc.db;
    ln_error_t err;
    ln_error_clear (&err);
    assert_int_equal (ln_db_run (db, "CREATE TABLE effect (id int PRIMARY KEY)", 0, NULL, NULL), 0);
    s_append_range (db, 1, 3, false);

    /* The command's effect and its audit row, rolled back together. */
    gen_t g = {0};
    s_gen (&g, 100);
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (ln_db_run (db, "INSERT INTO effect VALUES (1)", 0, NULL, NULL), 0);
    s_ok (ln_audit_append (db, &g.e, &err), &err);
    assert_int_equal (ln_db_rollback (db), 0);

    /* A statement after the audit row fails: the commit fails, nothing stays. */
    assert_int_equal (ln_db_begin (db), 0);
    s_ok (ln_audit_append (db, &g.e, &err), &err);
    assert_int_equal (ln_db_run (db, "INSERT INTO effect VALUES (NULL)", 0, NULL, NULL), -1);
    assert_int_equal (ln_db_commit (db), -1);
    assert_int_equal (ln_db_rollback (db), 0);

    assert_value (db, "SELECT count(*) || '/' || max(seq) FROM audit", "3/3");
    assert_value (db, "SELECT seq FROM audit_head", "3");
    assert_value (db, "SELECT count(*) FROM effect", "0");

    /* The next one takes seq 4: no gap. */
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (ln_db_run (db, "INSERT INTO effect VALUES (2)", 0, NULL, NULL), 0);
    s_ok (ln_audit_append (db, &g.e, &err), &err);
    assert_int_equal (ln_db_commit (db), 0);
    assert_value (db, "SELECT max(seq) FROM audit", "4");
    s_expect_ok (db, 4);
    s_service_end (&svc);
}

#define CONC_THREADS 2
#define CONC_TX      60

typedef struct {
    const char *conninfo;
    int id;
    int failures;
    char why[600];
} conc_arg_t;

/* One appender: CONC_TX transactions of 1 or 3 entries, sometimes holding
   the transaction (and so the head lock) open a moment after appending, as
   a command with more work to do would.  No cmocka asserts off the main
   thread: failures are counted and told. */
static void *
s_appender (void *arg)
{
    conc_arg_t *a = arg;
    ln_error_t err;
    ln_error_clear (&err);
    ln_db_retry_t retry = {50, 500, 5000};
    ln_db_t *db = ln_db_connect (a->conninfo, "a_conc", &retry, &err);
    if (!db) {
        a->failures++;
        snprintf (a->why, sizeof a->why, "connect: %s", err.message);
        return NULL;
    }
    char principal[32];
    snprintf (principal, sizeof principal, "thread-%d", a->id);
    for (int t = 0; t < CONC_TX; t++) {
        char object[32];
        snprintf (object, sizeof object, "obj-%d", t);
        ln_audit_entry_t e[3];
        for (int k = 0; k < 3; k++)
            e[k] = (ln_audit_entry_t){.principal = principal,
                                      .action = "Concurrent",
                                      .object = object,
                                      .outcome = LN_AUDIT_ACCEPTED};
        size_t n = t % 2 ? 3 : 1;
        if (ln_db_begin (db) != 0 || ln_audit_append_batch (db, e, n, &err) != 0) {
            a->failures++;
            snprintf (a->why, sizeof a->why, "append: %s", err.message);
            ln_db_rollback (db);
            continue;
        }
        if (t % 4 == 0)
            usleep (2000);
        if (ln_db_commit (db) != 0) {
            a->failures++;
            snprintf (a->why, sizeof a->why, "commit: %s", ln_db_last_error (db)->message);
        }
    }
    ln_db_destroy (&db);
    return NULL;
}

static void
test_concurrent_appenders (void **state)
{
    (void)state;
    svc_t svc = {0};
    s_service (&svc, "a_conc");
    pthread_t th[CONC_THREADS];
    conc_arg_t args[CONC_THREADS];
    for (int i = 0; i < CONC_THREADS; i++) {
        args[i] = (conc_arg_t){.conninfo = svc.conninfo, .id = i};
        assert_int_equal (pthread_create (&th[i], NULL, s_appender, &args[i]), 0);
    }
    /* Verification while they append: its snapshot sees a consistent chain
       and head every time, never a false alarm. */
    for (int i = 0; i < 5; i++) {
        ln_audit_report_t r = s_verify (svc.db);
        if (!r.ok)
            fprintf (stderr, "verify during appends: seq %llu: %s\n",
                     (unsigned long long)r.first_bad_seq, r.problem);
        assert_true (r.ok);
        assert_int_equal (r.rows, r.head_seq);
        usleep (20000);
    }
    for (int i = 0; i < CONC_THREADS; i++) {
        pthread_join (th[i], NULL);
        if (args[i].failures)
            fprintf (stderr, "thread %d: %d failures, last: %s\n", i, args[i].failures,
                     args[i].why);
        assert_int_equal (args[i].failures, 0);
    }
    /* Per thread: 30 transactions of 1 and 30 of 3 entries. */
    int per = CONC_TX / 2 * 1 + CONC_TX / 2 * 3;
    char want[32];
    snprintf (want, sizeof want, "%d", per * CONC_THREADS);
    assert_value (svc.db, "SELECT count(*) FROM audit", want);
    snprintf (want, sizeof want, "%d,%d", per, per);
    assert_value (svc.db,
                  "SELECT string_agg(n::text, ',') FROM (SELECT count(*) AS n FROM audit "
                  "GROUP BY principal) x",
                  want);
    /* The two really interleaved (the chain is not just one after the other). */
    assert_value (svc.db,
                  "SELECT count(*) > 2 FROM (SELECT principal <> lag(principal) OVER (ORDER BY "
                  "seq) AS sw FROM audit) x WHERE sw",
                  "t");
    s_expect_ok (svc.db, (uint64_t)per * CONC_THREADS);
    s_service_end (&svc);
}

/* --- cost ----------------------------------------------------------------------------------- */

#define COST_BATCH  256
#define COST_ROUNDS 20

static void
test_batch_cost (void **state)
{
    (void)state;
    svc_t svc = {0};
    s_service (&svc, "a_cost");
    ln_db_t *db = svc.db;
    ln_error_t err;
    ln_error_clear (&err);
    gen_t *gens = calloc (COST_BATCH, sizeof *gens);
    ln_audit_entry_t *entries = calloc (COST_BATCH, sizeof *entries);
    assert_non_null (gens);
    assert_non_null (entries);
    for (int i = 0; i < COST_BATCH; i++) {
        s_gen (&gens[i], i + 1);
        entries[i] = gens[i].e;
    }
    s_append_range (db, 1, 10, true); /* warm up */

    /* A group-commit batch: begin, 256 entries, commit. */
    int64_t total = 0, worst = 0, appending = 0;
    for (int round = 0; round < COST_ROUNDS; round++) {
        int64_t t0 = s_mono_us ();
        assert_int_equal (ln_db_begin (db), 0);
        int64_t t1 = s_mono_us ();
        s_ok (ln_audit_append_batch (db, entries, COST_BATCH, &err), &err);
        appending += s_mono_us () - t1;
        assert_int_equal (ln_db_commit (db), 0);
        int64_t dt = s_mono_us () - t0;
        total += dt;
        worst = dt > worst ? dt : worst;
    }
    /* For comparison: the same entries one call each, in one transaction. */
    int64_t t0 = s_mono_us ();
    assert_int_equal (ln_db_begin (db), 0);
    for (int i = 0; i < COST_BATCH; i++)
        s_ok (ln_audit_append (db, &entries[i], &err), &err);
    assert_int_equal (ln_db_commit (db), 0);
    int64_t singles = s_mono_us () - t0;

    uint64_t rows = 10 + (uint64_t)COST_BATCH * (COST_ROUNDS + 1);
    t0 = s_mono_us ();
    s_expect_ok (db, rows);
    int64_t verify = s_mono_us () - t0;

    printf ("# audit: batch of %d entries (begin, append_batch, commit): mean %.2f ms "
            "(append_batch alone %.2f ms), worst %.2f ms over %d rounds\n",
            COST_BATCH, (double)total / COST_ROUNDS / 1000.0,
            (double)appending / COST_ROUNDS / 1000.0, (double)worst / 1000.0, COST_ROUNDS);
    printf ("# audit: %d single appends in one transaction: %.2f ms\n", COST_BATCH,
            (double)singles / 1000.0);
    printf ("# audit: verify of %llu rows: %.2f ms\n", (unsigned long long)rows,
            (double)verify / 1000.0);
    /* Generous (ASan, a busy 2-core machine); a round trip per entry would
       still pass on a fast box, so also compare with the single calls. */
    assert_true (total / COST_ROUNDS < 100000);
    assert_true (total / COST_ROUNDS < singles);
    free (entries);
    free (gens);
    s_service_end (&svc);
}

/* --- lanternctl audit verify -------------------------------------------------------------- */

/* Run argv with stdout and stderr captured; returns the exit code (-1 if it
   did not exit normally).  *out and *errout are the caller's to free. */
static int
s_run (char *const argv[], char **out, char **errout)
{
    char opath[] = "/tmp/test_audit_out.XXXXXX";
    char epath[] = "/tmp/test_audit_err.XXXXXX";
    int ofd = mkstemp (opath);
    int efd = mkstemp (epath);
    assert_true (ofd >= 0 && efd >= 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_adddup2 (&fa, ofd, 1);
    posix_spawn_file_actions_adddup2 (&fa, efd, 2);
    pid_t pid;
    int rc = posix_spawn (&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    assert_int_equal (rc, 0);
    int status = 0;
    assert_int_equal (waitpid (pid, &status, 0), pid);
    close (ofd);
    close (efd);

    char *paths[2] = {opath, epath};
    char **bufs[2] = {out, errout};
    for (int i = 0; i < 2; i++) {
        FILE *f = fopen (paths[i], "r");
        assert_non_null (f);
        char *buf = calloc (1, 65536);
        assert_non_null (buf);
        size_t n = fread (buf, 1, 65535, f);
        buf[n] = '\0';
        fclose (f);
        unlink (paths[i]);
        *bufs[i] = buf;
    }
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

/* Write `text` to a new temporary file; its path into path. */
static void
s_write_file (char *path, size_t size, const char *text)
{
    snprintf (path, size, "/tmp/test_audit_anchors.XXXXXX");
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    FILE *f = fdopen (fd, "w");
    assert_non_null (f);
    assert_true (fputs (text, f) >= 0);
    assert_int_equal (fclose (f), 0);
}

static void
test_cli_verify (void **state)
{
    (void)state;
    const char *build = getenv ("LANTERN_BUILD_DIR");
    char bin[512];
    snprintf (bin, sizeof bin, "%s/bin/lanternctl", build && *build ? build : "build");
    if (access (bin, X_OK) != 0) {
        fprintf (stderr, "%s is missing: build it first (make BUILD=%s %s)\n", bin,
                 build && *build ? build : "build", bin);
        fail ();
    }
    svc_t svc = {0};
    s_service (&svc, "a_cli");
    s_append_range (svc.db, 1, 4, false);
    s_append_range (svc.db, 5, 8, true);

    /* The role's password must never be printed. */
    const char *pw = strstr (svc.conninfo, "password=");
    assert_non_null (pw);
    char password[128];
    snprintf (password, sizeof password, "%s", pw + strlen ("password="));
    password[strcspn (password, " ")] = '\0';
    assert_true (strlen (password) >= 16);

    char *out = NULL, *errout = NULL;
    /* Conninfo from the environment. */
    setenv ("LANTERN_DB", svc.conninfo, 1);
    char *const argv_env[] = {bin, "audit", "verify", "--schema", "a_cli", NULL};
    int rc = s_run (argv_env, &out, &errout);
    if (rc != 0)
        fprintf (stderr, "lanternctl: rc %d\nstdout: %s\nstderr: %s\n", rc, out, errout);
    assert_int_equal (rc, 0);
    const char *want_ok = "audit: ok, 12 rows\nhead: seq 12 sha256 ";
    assert_true (strncmp (out, want_ok, strlen (want_ok)) == 0);
    assert_int_equal (strlen (out), strlen (want_ok) + LN_AUDIT_HASH_HEX + 1);
    assert_null (strstr (out, password));
    assert_null (strstr (errout, password));
    free (out);
    free (errout);

    /* --db wins over the environment. */
    setenv ("LANTERN_DB", "host=/nonexistent dbname=none", 1);
    char *const argv_db[] = {bin,        "audit", "verify", "--db", (char *)svc.conninfo,
                             "--schema", "a_cli", NULL};
    rc = s_run (argv_db, &out, &errout);
    assert_int_equal (rc, 0);
    assert_true (strncmp (out, "audit: ok, 12 rows\n", 19) == 0);
    free (out);
    free (errout);
    unsetenv ("LANTERN_DB");

    /* A changed row: exit 1 and its seq. */
    s_admin (TAMPER "UPDATE a_cli.audit SET principal = 'someone-else' WHERE seq = 6");
    rc = s_run (argv_db, &out, &errout);
    assert_int_equal (rc, 1);
    assert_string_equal (out, "audit: FAILED at seq 6: row changed\n");
    assert_null (strstr (errout, password));
    free (out);
    free (errout);

    /* A row deleted from the middle (after undoing the change). */
    s_admin (TAMPER "UPDATE a_cli.audit SET principal = 'user-6' WHERE seq = 6;"
                    "DELETE FROM a_cli.audit WHERE seq = 9");
    rc = s_run (argv_db, &out, &errout);
    assert_int_equal (rc, 1);
    assert_string_equal (out, "audit: FAILED at seq 10: row missing before it (seq 9)\n");
    free (out);
    free (errout);

    /* Usage errors: exit 2, no database touched. */
    char *const argv_noschema[] = {bin, "audit", "verify", "--db", (char *)svc.conninfo, NULL};
    rc = s_run (argv_noschema, &out, &errout);
    assert_int_equal (rc, 2);
    assert_non_null (strstr (errout, "missing --schema"));
    assert_null (strstr (errout, password));
    free (out);
    free (errout);
    char *const argv_nodb[] = {bin, "audit", "verify", "--schema", "a_cli", NULL};
    rc = s_run (argv_nodb, &out, &errout);
    assert_int_equal (rc, 2);
    free (out);
    free (errout);
    char *const argv_bad[] = {bin, "audit", "check", NULL};
    rc = s_run (argv_bad, &out, &errout);
    assert_int_equal (rc, 2);
    free (out);
    free (errout);
    char *const argv_help[] = {bin, "audit", "verify", "--help", NULL};
    rc = s_run (argv_help, &out, &errout);
    assert_int_equal (rc, 0);
    assert_non_null (strstr (out, "usage: lanternctl audit verify"));
    free (out);
    free (errout);

    /* Exit codes (COMMON to every lanternctl command): a database that
       cannot be reached 3; an anchors file that cannot be read 4; a
       malformed one 2, before any database is touched; an option of the
       other subcommand 2. */
    char *const argv_down[] = {bin,        "audit", "verify", "--db", "host=/nonexistent dbname=x",
                               "--schema", "a_cli", NULL};
    rc = s_run (argv_down, &out, &errout);
    assert_int_equal (rc, 3);
    free (out);
    free (errout);
    char *const argv_nofile[] = {bin,
                                 "audit",
                                 "verify",
                                 "--db",
                                 (char *)svc.conninfo,
                                 "--schema",
                                 "a_cli",
                                 "--anchors",
                                 "/nonexistent/anchors",
                                 NULL};
    rc = s_run (argv_nofile, &out, &errout);
    assert_int_equal (rc, 4);
    assert_non_null (strstr (errout, "/nonexistent/anchors"));
    free (out);
    free (errout);
    char bad_path[64];
    s_write_file (bad_path, sizeof bad_path, "# comment\n\n12 not-a-hash 2026-01-01T00:00:00Z\n");
    char *const argv_badfile[] = {
        bin,        "audit", "verify",    "--db",   "host=/nonexistent dbname=x",
        "--schema", "a_cli", "--anchors", bad_path, NULL};
    rc = s_run (argv_badfile, &out, &errout);
    assert_int_equal (rc, 2);
    assert_non_null (strstr (errout, ":3: not an anchor line"));
    free (out);
    free (errout);
    unlink (bad_path);
    char *const argv_mixed[] = {bin, "audit",    "verify", "--upstream",
                                "x", "--schema", "a_cli",  NULL};
    rc = s_run (argv_mixed, &out, &errout);
    assert_int_equal (rc, 2);
    free (out);
    free (errout);
    char *const argv_noup[] = {bin,        "audit", "anchors", "--db", (char *)svc.conninfo,
                               "--schema", "a_cli", NULL};
    rc = s_run (argv_noup, &out, &errout);
    assert_int_equal (rc, 2);
    assert_non_null (strstr (errout, "--upstream"));
    free (out);
    free (errout);
    char *const argv_anchors_down[] = {
        bin,        "audit", "anchors",    "--db", "host=/nonexistent dbname=x",
        "--schema", "a_cli", "--upstream", "x",    NULL};
    rc = s_run (argv_anchors_down, &out, &errout);
    assert_int_equal (rc, 3);
    free (out);
    free (errout);
    /* anchors of a schema without the table (migration 6): refused, 1 */
    char *const argv_anchors_none[] = {
        bin,        "audit",  "anchors",    "--db", (char *)ln_pgfix_conninfo (s_fix),
        "--schema", "public", "--upstream", "x",    NULL};
    rc = s_run (argv_anchors_none, &out, &errout);
    assert_int_equal (rc, 1);
    assert_non_null (strstr (errout, "upstream_anchors"));
    free (out);
    free (errout);
    char *const argv_help2[] = {bin, "audit", "--help", NULL};
    rc = s_run (argv_help2, &out, &errout);
    assert_int_equal (rc, 0);
    assert_non_null (strstr (out, "lanternctl audit anchors"));
    assert_non_null (strstr (out, "--anchors FILE"));
    assert_non_null (strstr (out, "exit status"));
    free (out);
    free (errout);

    /* A schema with no audit trail: cannot verify, exit 1, said on stderr. */
    char *const argv_none[] = {
        bin,        "audit",  "verify", "--db", (char *)ln_pgfix_conninfo (s_fix),
        "--schema", "public", NULL};
    rc = s_run (argv_none, &out, &errout);
    assert_int_equal (rc, 1);
    assert_string_equal (out, "");
    assert_non_null (strstr (errout, "no audit table"));
    free (out);
    free (errout);
    s_service_end (&svc);
}

/* The stepwise form a group commit uses (ln_audit_lock_stmt,
   ln_audit_encode, ln_db_exec_all): the same chain as ln_audit_append_batch,
   and a head that moved between the lock's read and the insert (here: an
   append of the same transaction in between) is refused, never chained
   wrongly. */
static void
test_stepwise_append (void **state)
{
    (void)state;
    svc_t svc = {0};
    s_service (&svc, "a_steps");
    ln_db_t *db = svc.db;
    ln_error_t err;
    ln_error_clear (&err);
    s_append_range (db, 1, 3, true);

    gen_t gens[40];
    ln_audit_entry_t entries[40];
    for (int i = 0; i < 40; i++) {
        s_gen (&gens[i], 4 + i);
        entries[i] = gens[i].e;
    }
    PGresult *res[2] = {NULL, NULL};
    ln_db_stmt_t rt1[2] = {{.sql = "BEGIN"}};
    ln_audit_lock_stmt (&rt1[1]);
    s_ok (ln_db_exec_all (db, rt1, 2, res, &err), &err);
    ln_audit_encoded_t enc;
    assert_int_equal (ln_audit_encode (db, res[1], entries, 0, &enc, &err), -1);
    assert_string_equal (err.code, "AUDIT_INVALID");
    ln_audit_entry_t bad[2] = {entries[0], {.action = "X", .outcome = "maybe"}};
    assert_int_equal (ln_audit_encode (db, res[1], bad, 2, &enc, &err), -1);
    assert_string_equal (err.field, "entries[1].outcome");
    s_ok (ln_audit_encode (db, res[1], entries, 40, &enc, &err), &err);
    PQclear (res[0]);
    PQclear (res[1]);
    ln_db_stmt_t rt2[2] = {enc.stmt, {.sql = "COMMIT"}};
    s_ok (ln_db_exec_all (db, rt2, 2, res, &err), &err);
    s_ok (ln_audit_encoded_check (&enc, res[0], &err), &err);
    assert_string_equal (PQcmdStatus (res[1]), "COMMIT");
    PQclear (res[0]);
    PQclear (res[1]);
    ln_audit_encoded_clear (&enc);
    s_expect_ok (db, 43);

    /* The head moved between its read and the append (here: an append of
       the same transaction in between): the rows are chained after the
       head as it is then, never after the stale one, since audit_append
       takes seq and prev_hash from the locked head itself. */
    s_ok (ln_db_exec_all (db, rt1, 2, res, &err), &err);
    s_ok (ln_audit_encode (db, res[1], entries, 2, &enc, &err), &err);
    s_ok (ln_audit_append (db, &entries[5], &err), &err); /* moves the head to 44 */
    PQclear (res[0]);
    PQclear (res[1]);
    s_ok (ln_db_exec_all (db, rt2, 2, res, &err), &err);
    s_ok (ln_audit_encoded_check (&enc, res[0], &err), &err);
    assert_string_equal (PQgetvalue (res[0], 0, 1), "46"); /* the head after it */
    PQclear (res[0]);
    PQclear (res[1]);
    ln_audit_encoded_clear (&enc);
    s_expect_ok (db, 46);
    assert_value (db, "SELECT string_agg(object, ',' ORDER BY seq) FROM audit WHERE seq > 43",
                  "signal:sig-9,signal:sig-4,signal:sig-5");
    s_service_end (&svc);
}

/* --- owner and runtime roles (issue 9 point 9) ----------------------------------------- */

/* The library's audit migrations, as a node's list has them. */
static const ln_migration_t *
s_audit_list (size_t *n)
{
    static ln_migration_t list[3];
    list[0] = ln_audit_migration;
    list[1] = ln_audit_writer_migration;
    list[2] = ln_audit_anchors_migration;
    *n = 3;
    return list;
}

/* A node as in production: an owner role that owns the schema and
   migrates it, and the runtime role the node serves as (db). */
typedef struct {
    char schema[32];
    const char *owner_ci;
    const char *run_ci;
    const char *run_role;
    ln_db_t *owner;
    ln_db_t *db;
} node_t;

static void
s_node (node_t *node, const char *schema)
{
    char role[40];
    ln_error_t err;
    ln_error_clear (&err);
    snprintf (node->schema, sizeof node->schema, "%s", schema);
    snprintf (role, sizeof role, "o_%s", schema);
    node->owner_ci = ln_pgfix_create_role (s_fix, role, schema);
    snprintf (role, sizeof role, "n_%s", schema);
    node->run_ci = ln_pgfix_create_runtime_role (s_fix, role);
    assert_non_null (node->owner_ci);
    assert_non_null (node->run_ci);
    node->run_role = ln_pgfix_role_name (s_fix, role);
    node->owner = s_connect (node->owner_ci, schema);
    size_t n = 0;
    const ln_migration_t *list = s_audit_list (&n);
    s_ok (ln_db_migrate_as_owner (node->owner, list, n, node->run_role, &err), &err);
    node->db = s_connect (node->run_ci, schema);
    s_ok (ln_db_migrations_current (node->db, list, n, &err), &err);
}

static void
s_node_end (node_t *node)
{
    ln_db_destroy (&node->db);
    ln_db_destroy (&node->owner);
}

/* A statement the role's privileges refuse (42501), not a trigger: the
   trigger could be switched off by whoever may ALTER the table. */
static void
s_expect_denied (ln_db_t *db, const char *sql)
{
    ln_error_t err;
    ln_error_clear (&err);
    int rc = ln_db_run (db, sql, 0, NULL, &err);
    if (rc == 0 || strcmp (ln_db_last_sqlstate (db), "42501") != 0)
        fprintf (stderr, "%s\n  expected 42501 (insufficient privilege), got %s: %s\n", sql,
                 rc == 0 ? "success" : ln_db_last_sqlstate (db), rc == 0 ? "" : err.message);
    assert_int_equal (rc, -1);
    assert_string_equal (ln_db_last_sqlstate (db), "42501");
}

static void
test_issue9_point9_runtime_role_cannot_rewrite_audit (void **state)
{
    (void)state;
    node_t node = {0};
    s_node (&node, "p9_rw");
    s_append_range (node.db, 1, 4, false); /* the runtime role appends */
    s_append_range (node.db, 5, 6, true);
    s_expect_ok (node.db, 10);
    char *before = ln_pgfix_query_value (
        s_fix, "SELECT string_agg(encode(hash, 'hex'), ',' ORDER BY seq) FROM p9_rw.audit", 0,
        NULL);
    assert_non_null (before);

    /* The attack of the issue (switch the trigger off, delete the newest
       rows, move the head back), and every other way to rewrite the trail:
       all refused by privileges. */
    const char *attacks[] = {
        "ALTER TABLE audit DISABLE TRIGGER audit_append_only",
        "ALTER TABLE audit DISABLE TRIGGER ALL",
        "ALTER TABLE audit_head DISABLE TRIGGER audit_head_forward",
        "DELETE FROM audit WHERE seq > 8",
        "UPDATE audit SET reason = 'nothing happened' WHERE seq = 2",
        "UPDATE audit_head SET seq = 8, hash = sha256('x')",
        "DELETE FROM audit_head",
        "TRUNCATE audit",
        "TRUNCATE audit_head",
        "INSERT INTO audit (seq, at_us, action, outcome, prev_hash, hash)"
        " SELECT seq + 1, 1, 'Forged', 'accepted', hash, hash FROM audit_head",
        "SELECT seq FROM audit_head FOR UPDATE",
        "DROP TRIGGER audit_append_only ON audit",
        "DROP TABLE audit",
        "ALTER TABLE audit RENAME TO audit_old",
        "CREATE TABLE audit_new (LIKE audit)",
        "DROP FUNCTION audit_append (bigint[], text[], text[], text[], text[], text[], text[],"
        " text[])",
        "ALTER FUNCTION audit_append (bigint[], text[], text[], text[], text[], text[], text[],"
        " text[]) SECURITY INVOKER",
        "CREATE OR REPLACE FUNCTION audit_append_only () RETURNS trigger LANGUAGE plpgsql"
        " AS 'BEGIN RETURN NULL; END'",
        "SET session_replication_role = replica",
    };
    for (size_t i = 0; i < sizeof attacks / sizeof attacks[0]; i++)
        s_expect_denied (node.db, attacks[i]);
    char sql[256];
    snprintf (sql, sizeof sql, "SET ROLE %s", ln_pgfix_role_name (s_fix, "o_p9_rw"));
    s_expect_denied (node.db, sql);

    /* Nothing changed, and the trail goes on. */
    char *after = ln_pgfix_query_value (
        s_fix, "SELECT string_agg(encode(hash, 'hex'), ',' ORDER BY seq) FROM p9_rw.audit", 0,
        NULL);
    assert_non_null (after);
    assert_string_equal (before, after);
    free (before);
    free (after);
    s_append_range (node.db, 11, 2, true);
    s_expect_ok (node.db, 12);
    s_node_end (&node);
}

/* Run SQL as `db` and expect it refused with `sqlstate`. */
static void
s_expect_sqlstate (ln_db_t *db, const char *sql, const char *sqlstate)
{
    ln_error_t err;
    ln_error_clear (&err);
    int rc = ln_db_run (db, sql, 0, NULL, &err);
    if (rc == 0 || strcmp (ln_db_last_sqlstate (db), sqlstate) != 0)
        fprintf (stderr, "%s\n  expected %s, got %s: %s\n", sql, sqlstate,
                 rc == 0 ? "success" : ln_db_last_sqlstate (db), rc == 0 ? "" : err.message);
    assert_int_equal (rc, -1);
    assert_string_equal (ln_db_last_sqlstate (db), sqlstate);
}

#define CALL(at, p, o, a, obj, out, r, req)                                                        \
    "SELECT * FROM audit_append (" at "::int8[], " p "::text[], " o "::text[], " a                 \
    "::text[], " obj "::text[], " out "::text[], " r "::text[], " req "::text[])"

static void
test_issue9_point9_forged_appends (void **state)
{
    (void)state;
    node_t node = {0};
    s_node (&node, "p9_forge");
    ln_db_t *db = node.db;
    ln_error_t err;
    s_append_range (db, 1, 3, true);

    /* The runtime role may call the owner's function directly, with any
       values it likes; it has no way to say where the rows go: the seq,
       prev_hash and hash come from the function. */
    assert_int_equal (
        ln_db_run (db,
                   CALL ("'{1,2}'", "'{mallory,mallory}'", "'{x,x}'", "'{A,B}'", "'{NULL,NULL}'",
                         "'{accepted,read}'", "'{NULL,NULL}'", "'{NULL,NULL}'"),
                   0, NULL, &err),
        0);
    s_expect_ok (db, 5);
    /* The rows' hashes are the documented encoding, recomputed. */
    assert_value (db, "SELECT count(*) FROM audit WHERE hash = " SQL_ROW_HASH, "5");

    /* What ln_audit.c would refuse is refused by the function too. */
    static const char *const refused[] = {
        /* arrays of different lengths */
        CALL ("'{1,2}'", "'{p}'", "'{o}'", "'{A}'", "'{x}'", "'{read}'", "'{NULL}'", "'{NULL}'"),
        /* nothing, or too much */
        CALL ("'{}'", "'{}'", "'{}'", "'{}'", "'{}'", "'{}'", "'{}'", "'{}'"),
        "SELECT * FROM audit_append (array_fill(1::int8, ARRAY[10001]),"
        " array_fill('p'::text, ARRAY[10001]), array_fill('o'::text, ARRAY[10001]),"
        " array_fill('A'::text, ARRAY[10001]), array_fill(NULL::text, ARRAY[10001]),"
        " array_fill('read'::text, ARRAY[10001]), array_fill(NULL::text, ARRAY[10001]),"
        " array_fill(NULL::text, ARRAY[10001]))",
        /* no action, an empty one, an unknown outcome, a time before 1970 */
        CALL ("'{1}'", "'{p}'", "'{o}'", "'{NULL}'", "'{x}'", "'{read}'", "'{NULL}'", "'{NULL}'"),
        CALL ("'{1}'", "'{p}'", "'{o}'", "'{\"\"}'", "'{x}'", "'{read}'", "'{NULL}'", "'{NULL}'"),
        CALL ("'{1}'", "'{p}'", "'{o}'", "'{A}'", "'{x}'", "'{ok}'", "'{NULL}'", "'{NULL}'"),
        CALL ("'{-1}'", "'{p}'", "'{o}'", "'{A}'", "'{x}'", "'{read}'", "'{NULL}'", "'{NULL}'"),
        CALL ("'{NULL}'", "'{p}'", "'{o}'", "'{A}'", "'{x}'", "'{read}'", "'{NULL}'", "'{NULL}'"),
        /* arrays that do not start at 1, or have two dimensions */
        CALL ("'[0:0]={1}'", "'[0:0]={p}'", "'[0:0]={o}'", "'[0:0]={A}'", "'[0:0]={x}'",
              "'[0:0]={read}'", "'[0:0]={NULL}'", "'[0:0]={NULL}'"),
        CALL ("'{{1}}'", "'{{p}}'", "'{{o}}'", "'{{A}}'", "'{{x}}'", "'{{read}}'", "'{{NULL}}'",
              "'{{NULL}}'"),
        /* a field longer than its bound */
        "SELECT * FROM audit_append ('{1}', ARRAY[repeat('p', 257)], '{o}', '{A}', '{x}',"
        " '{read}', '{NULL}', '{NULL}')",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        s_expect_sqlstate (db, refused[i], "22023");
    s_expect_ok (db, 5);

    /* A temporary table named like the head, first in the caller's
       search_path: the function does not look there (search_path pinned to
       its schema, pg_temp last), so the rows follow the real head. */
    char sql[512];
    snprintf (sql, sizeof sql, "GRANT TEMPORARY ON DATABASE %s TO %s", ln_pgfix_dbname (s_fix),
              node.run_role);
    s_admin ("%s", sql);
    assert_int_equal (
        ln_db_run (db,
                   "CREATE TEMP TABLE audit_head (id boolean, seq bigint, hash bytea);"
                   " ",
                   0, NULL, &err),
        0);
    assert_int_equal (ln_db_run (db, "INSERT INTO pg_temp.audit_head VALUES (true, 1000, '\\x00')",
                                 0, NULL, &err),
                      0);
    assert_int_equal (
        ln_db_run (db, "SELECT pg_catalog.set_config('search_path', 'pg_temp, p9_forge', false)", 0,
                   NULL, &err),
        0);
    assert_int_equal (ln_db_run (db,
                                 CALL ("'{7}'", "'{mallory}'", "'{x}'", "'{A}'", "'{NULL}'",
                                       "'{read}'", "'{NULL}'", "'{NULL}'"),
                                 0, NULL, &err),
                      0);
    assert_value (db, "SELECT seq FROM pg_temp.audit_head", "1000");
    assert_value (db, "SELECT seq FROM p9_forge.audit_head", "6");
    assert_int_equal (
        ln_db_run (db, "SELECT pg_catalog.set_config('search_path', 'p9_forge, pg_temp', false)", 0,
                   NULL, &err),
        0);
    s_expect_ok (db, 6);
    s_node_end (&node);
}

/* One row the way the code before migration 5 wrote it: hashed by the
   client (here by SQL, the same encoding) and inserted by the role that
   owned the table. */
#define OLD_APPEND                                                                                 \
    "WITH h AS (SELECT seq, hash FROM audit_head),"                                                \
    " r AS (SELECT h.seq + 1 AS seq, 1700000000000000::bigint AS at_us, 'old-user'::text AS"       \
    "   principal, 'gemeente-venlo'::text AS organisation, 'OldCommand'::text AS action,"          \
    "   NULL::text AS object, 'accepted'::text AS outcome, NULL::text AS reason,"                  \
    "   NULL::text AS request_id, h.hash AS prev_hash FROM h),"                                    \
    " ins AS (INSERT INTO audit SELECT r.seq, r.at_us, r.principal, r.organisation, r.action,"     \
    "   r.object, r.outcome, r.reason, r.request_id, r.prev_hash, " SQL_ROW_HASH " FROM r"         \
    "   RETURNING seq, hash)"                                                                      \
    " UPDATE audit_head SET seq = ins.seq, hash = ins.hash FROM ins"

static void
test_issue9_point9_existing_single_role_database (void **state)
{
    (void)state;
    ln_error_t err;
    ln_error_clear (&err);
    /* A database of the code before: one role owns the schema, migration 2
       applied, rows written by that role. */
    const char *legacy_ci = ln_pgfix_create_role (s_fix, "legacy", "p9_old");
    assert_non_null (legacy_ci);
    ln_db_t *legacy = s_connect (legacy_ci, "p9_old");
    s_ok (ln_db_migrate (legacy, &ln_audit_migration, 1, &err), &err);
    for (int i = 0; i < 3; i++)
        s_ok (ln_db_run (legacy, OLD_APPEND, 0, NULL, &err), &err);
    s_expect_ok (legacy, 3);

    /* This code, still with the single role: it migrates (as it always
       did, with a warning) and appends through the new function. */
    size_t n = 0;
    const ln_migration_t *list = s_audit_list (&n);
    s_ok (ln_db_schema_ready (legacy, list, n, &err), &err);
    s_append_range (legacy, 4, 2, true);
    s_expect_ok (legacy, 5);

    /* The operator splits the roles as docs/operations.md says: a new
       owner role gets everything the old role owned, which becomes the
       runtime role, and the owner migrates and grants. */
    const char *owner_ci = ln_pgfix_create_runtime_role (s_fix, "legacy_owner");
    assert_non_null (owner_ci);
    s_admin ("REASSIGN OWNED BY %s TO %s", ln_pgfix_role_name (s_fix, "legacy"),
             ln_pgfix_role_name (s_fix, "legacy_owner"));
    ln_db_t *owner = s_connect (owner_ci, "p9_old");
    s_ok (ln_db_migrate_as_owner (owner, list, n, ln_pgfix_role_name (s_fix, "legacy"), &err),
          &err);
    /* The old role serves on, and can no longer rewrite what it wrote. */
    s_ok (ln_db_schema_ready (legacy, list, n, &err), &err);
    s_append_range (legacy, 6, 1, false);
    s_expect_denied (legacy, "ALTER TABLE audit DISABLE TRIGGER ALL");
    s_expect_denied (legacy, "DELETE FROM audit WHERE seq > 3");
    s_expect_ok (legacy, 6);
    ln_db_destroy (&owner);
    ln_db_destroy (&legacy);
}

/* --- anchors (issue 9 point 9, second half) --------------------------------------------- */

static ln_audit_anchor_t
s_publish (ln_db_t *node_db)
{
    ln_audit_anchor_t a;
    memset (&a, 0, sizeof a);
    ln_error_t err;
    s_ok (ln_audit_head (node_db, &a.seq, a.hash, &err), &err);
    a.at_us = s_wall_us ();
    return a;
}

static int
s_record (ln_db_t *follower, const char *upstream, uint64_t position, const ln_audit_anchor_t *a,
          ln_error_t *err)
{
    assert_int_equal (ln_db_begin (follower), 0);
    int rc = ln_audit_anchor_record (follower, upstream, position, a, err);
    assert_int_equal (ln_db_commit (follower), 0); /* usable whatever rc */
    return rc;
}

static void
test_anchor_record (void **state)
{
    (void)state;
    node_t node = {0}, follower = {0};
    s_node (&node, "an_node");
    s_node (&follower, "an_fol");
    ln_error_t err;
    ln_error_clear (&err);

    /* An empty trail has a head too. */
    ln_audit_anchor_t a0 = s_publish (node.db);
    assert_int_equal (a0.seq, 0);
    assert_string_equal (a0.hash,
                         "0000000000000000000000000000000000000000000000000000000000000000");
    s_append_range (node.db, 1, 5, true);
    ln_audit_anchor_t a5 = s_publish (node.db);
    assert_int_equal (a5.seq, 5);
    ln_audit_report_t r = s_verify (node.db);
    assert_string_equal (a5.hash, r.head_hash);

    assert_int_equal (s_record (follower.db, "intake-x", 3, &a0, &err), 0);
    assert_int_equal (s_record (follower.db, "intake-x", 9, &a5, &err), 0);
    /* delivered again (a consumer that replays): stored once */
    assert_int_equal (s_record (follower.db, "intake-x", 9, &a5, &err), 0);
    assert_value (follower.db, "SELECT count(*) FROM upstream_anchors", "2");
    ln_audit_anchor_t *list = NULL;
    size_t n = 0;
    s_ok (ln_audit_anchors_load (follower.db, "intake-x", &list, &n, &err), &err);
    assert_int_equal (n, 2);
    assert_int_equal (list[1].seq, 5);
    assert_string_equal (list[1].hash, a5.hash);
    assert_int_equal (list[1].at_us, a5.at_us);
    assert_int_equal (list[1].position, 9);
    assert_true (list[1].received_us > 0);
    free (list);
    s_ok (ln_audit_anchors_load (follower.db, "nobody", &list, &n, &err), &err);
    assert_int_equal (n, 0);
    free (list);

    /* Contradictions are told (1), and the first anchor is kept. */
    ln_audit_anchor_t other = a5;
    other.hash[0] = other.hash[0] == 'a' ? 'b' : 'a';
    ln_error_clear (&err);
    assert_int_equal (s_record (follower.db, "intake-x", 12, &other, &err), 1);
    assert_string_equal (err.code, "AUDIT_ANCHOR_CONFLICT");
    assert_non_null (strstr (err.message, "rewritten"));
    assert_value (follower.db, "SELECT count(*) FROM upstream_anchors WHERE seq = 5", "1");
    ln_audit_anchor_t back = a5;
    back.seq = 3;
    ln_error_clear (&err);
    assert_int_equal (s_record (follower.db, "intake-x", 13, &back, &err), 1);
    assert_non_null (strstr (err.message, "went back"));

    /* Refused before anything is written. */
    ln_audit_anchor_t bad = a5;
    bad.hash[3] = 'G';
    assert_int_equal (ln_audit_anchor_record (follower.db, "intake-x", 14, &bad, &err), -1);
    assert_string_equal (err.code, "AUDIT_INVALID");
    assert_string_equal (err.field, "anchor.hash");
    bad = a5;
    bad.hash[3] = 'A'; /* published hashes are lower case */
    assert_int_equal (ln_audit_anchor_record (follower.db, "intake-x", 14, &bad, &err), -1);
    assert_int_equal (ln_audit_anchor_record (follower.db, "intake-x", 0, &a5, &err), -1);
    assert_string_equal (err.field, "position");
    assert_int_equal (ln_audit_anchor_record (follower.db, NULL, 14, &a5, &err), -1);
    assert_string_equal (err.field, "anchor.upstream");
    assert_int_equal (ln_audit_anchor_record (follower.db, "bad\x01name", 14, &a5, &err), -1);

    /* The follower's runtime role keeps what it stored: it cannot change
       or remove an anchor. */
    s_expect_denied (follower.db, "DELETE FROM upstream_anchors");
    s_expect_denied (follower.db, "UPDATE upstream_anchors SET seq = 1");
    s_expect_denied (follower.db, "TRUNCATE upstream_anchors");
    s_node_end (&follower);
    s_node_end (&node);
}

/* The lanternctl of this build (LANTERN_BUILD_DIR). */
static void
s_lanternctl (char *bin, size_t size)
{
    const char *build = getenv ("LANTERN_BUILD_DIR");
    snprintf (bin, size, "%s/bin/lanternctl", build && *build ? build : "build");
    if (access (bin, X_OK) != 0) {
        fprintf (stderr, "%s is missing: build it first\n", bin);
        fail ();
    }
}

/* The acceptance of issue 9: audit verify fails after the newest rows were
   deleted and the head moved back, when checked against a follower's
   anchor; without anchors it says ok, which is why anchors exist. */
static void
test_issue9_point9_anchor_detects_rows_deleted_and_head_moved_back (void **state)
{
    (void)state;
    node_t node = {0}, follower = {0};
    s_node (&node, "ac_node");
    s_node (&follower, "ac_fol");
    ln_error_t err;
    ln_error_clear (&err);
    char bin[512];
    s_lanternctl (bin, sizeof bin);

    /* The node works; now and then it publishes its head, and the follower
       stores what it receives. */
    s_append_range (node.db, 1, 6, true);
    ln_audit_anchor_t a6 = s_publish (node.db);
    assert_int_equal (s_record (follower.db, "intake-test", 20, &a6, &err), 0);
    s_append_range (node.db, 7, 4, false);
    ln_audit_anchor_t a10 = s_publish (node.db);
    assert_int_equal (s_record (follower.db, "intake-test", 41, &a10, &err), 0);

    /* What the follower holds, as lanternctl prints it. */
    char *out = NULL, *errout = NULL;
    char *const argv_anchors[] = {
        bin,        "audit",  "anchors",    "--db",        (char *)follower.run_ci,
        "--schema", "ac_fol", "--upstream", "intake-test", NULL};
    assert_int_equal (s_run (argv_anchors, &out, &errout), 0);
    char want[128];
    snprintf (want, sizeof want, "6 %s 20", a6.hash);
    assert_true (strncmp (out, want, strlen (want)) == 0); /* "6 HASH 20YY-...Z" */
    snprintf (want, sizeof want, "\n10 %s 20", a10.hash);
    assert_non_null (strstr (out, want));
    int lines = 0;
    for (const char *p = out; (p = strchr (p, '\n')) != NULL; p++)
        lines++;
    assert_int_equal (lines, 2);
    assert_string_equal (errout, "");
    char anchors_path[64];
    s_write_file (anchors_path, sizeof anchors_path, out);
    free (out);
    free (errout);

    char *const argv_plain[] = {bin,        "audit",   "verify", "--db", (char *)node.run_ci,
                                "--schema", "ac_node", NULL};
    char *const argv_anch[] = {
        bin,        "audit",   "verify",    "--db",       (char *)node.run_ci,
        "--schema", "ac_node", "--anchors", anchors_path, NULL};
    assert_int_equal (s_run (argv_anch, &out, &errout), 0);
    assert_true (strncmp (out, "audit: ok, 10 rows; 2 anchors match\n", 36) == 0);
    free (out);
    free (errout);

    /* The node's OWNER (the runtime role no longer can) deletes the newest
       three rows and moves the head back: a valid, shorter chain. */
    ln_db_t *owner = node.owner;
    s_ok (ln_db_run (owner,
                     "ALTER TABLE audit DISABLE TRIGGER audit_append_only;"
                     " ",
                     0, NULL, &err),
          &err);
    s_ok (ln_db_run (owner, "ALTER TABLE audit_head DISABLE TRIGGER audit_head_forward", 0, NULL,
                     &err),
          &err);
    s_ok (ln_db_run (owner, "DELETE FROM audit WHERE seq > 7", 0, NULL, &err), &err);
    s_ok (ln_db_run (owner,
                     "UPDATE audit_head SET seq = 7, hash = (SELECT hash FROM audit WHERE seq = 7)",
                     0, NULL, &err),
          &err);
    s_ok (ln_db_run (owner, "ALTER TABLE audit ENABLE TRIGGER audit_append_only", 0, NULL, &err),
          &err);
    s_ok (ln_db_run (owner, "ALTER TABLE audit_head ENABLE TRIGGER audit_head_forward", 0, NULL,
                     &err),
          &err);

    /* The chain alone: ok. */
    s_expect_ok (node.db, 7);
    assert_int_equal (s_run (argv_plain, &out, &errout), 0);
    assert_true (strncmp (out, "audit: ok, 7 rows\n", 18) == 0);
    free (out);
    free (errout);

    /* Against the follower's anchors: not ok, naming the anchor. */
    ln_audit_anchor_t *list = NULL;
    size_t n = 0;
    s_ok (ln_audit_anchors_load (follower.db, "intake-test", &list, &n, &err), &err);
    assert_int_equal (n, 2);
    ln_audit_report_t r;
    s_ok (ln_audit_verify_anchors (node.db, list, n, &r, &err), &err);
    assert_false (r.ok);
    assert_int_equal (r.first_bad_seq, 8);
    assert_int_equal (r.anchors, 1); /* seq 6 still matches */
    assert_true (strncmp (r.problem, "anchor of seq 10 (", 18) == 0);
    assert_non_null (strstr (r.problem, "is beyond the end of the trail (seq 7): rows deleted "
                                        "and the head moved back"));
    assert_int_equal (s_run (argv_anch, &out, &errout), 1);
    assert_true (strncmp (out, "audit: FAILED at seq 8: anchor of seq 10 (", 42) == 0);
    free (out);
    free (errout);

    /* A consistent rewrite from row 5 on (content changed, rows re-hashed,
       the head too): the chain is fine, the anchor of seq 6 is not. */
    s_admin (TAMPER "UPDATE ac_node.audit SET object = 'signal:forged' WHERE seq = 5;"
                    "UPDATE ac_node.audit SET hash = " SQL_ROW_HASH " WHERE seq = 5;"
                    "UPDATE ac_node.audit SET prev_hash = (SELECT hash FROM ac_node.audit"
                    " WHERE seq = 5) WHERE seq = 6;"
                    "UPDATE ac_node.audit SET hash = " SQL_ROW_HASH " WHERE seq = 6;"
                    "UPDATE ac_node.audit SET prev_hash = (SELECT hash FROM ac_node.audit"
                    " WHERE seq = 6) WHERE seq = 7;"
                    "UPDATE ac_node.audit SET hash = " SQL_ROW_HASH " WHERE seq = 7;"
                    "UPDATE ac_node.audit_head SET hash = (SELECT hash FROM ac_node.audit"
                    " WHERE seq = 7)");
    s_expect_ok (node.db, 7);
    s_ok (ln_audit_verify_anchors (node.db, list, 1, &r, &err), &err);
    assert_false (r.ok);
    assert_int_equal (r.first_bad_seq, 6);
    assert_non_null (strstr (r.problem, "anchor of seq 6 ("));
    assert_non_null (strstr (r.problem, "does not match row 6: the trail was rewritten"));
    /* both anchors: the lower one is named first */
    s_ok (ln_audit_verify_anchors (node.db, list, 2, &r, &err), &err);
    assert_int_equal (r.first_bad_seq, 6);
    free (list);
    unlink (anchors_path);
    s_node_end (&follower);
    s_node_end (&node);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_append_and_verify),
        cmocka_unit_test (test_invalid_entries),
        cmocka_unit_test (test_tamper_change_each_field),
        cmocka_unit_test (test_tamper_delete_middle),
        cmocka_unit_test (test_tamper_delete_last),
        cmocka_unit_test (test_tamper_rehash),
        cmocka_unit_test (test_trigger_refuses),
        cmocka_unit_test (test_rollback_leaves_no_gap),
        cmocka_unit_test (test_concurrent_appenders),
        cmocka_unit_test (test_batch_cost),
        cmocka_unit_test (test_stepwise_append),
        cmocka_unit_test (test_cli_verify),
        cmocka_unit_test (test_issue9_point9_runtime_role_cannot_rewrite_audit),
        cmocka_unit_test (test_issue9_point9_forged_appends),
        cmocka_unit_test (test_issue9_point9_existing_single_role_database),
        cmocka_unit_test (test_anchor_record),
        cmocka_unit_test (test_issue9_point9_anchor_detects_rows_deleted_and_head_moved_back),
    };
    return cmocka_run_group_tests_name ("audit", tests, s_setup, s_teardown);
}
