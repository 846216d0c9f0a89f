/*  test_outbox: ln_outbox against a real PostgreSQL (tests/support/pg_fixture).

    Each case gets its own service: a least-privilege role owning a fresh
    schema, migrated with LN_OUTBOX_MIGRATION.  What is checked is what
    docs/architecture.md "Reliability" asks of the outbox:
    - a round trip keeps every field and payload byte, positions are dense;
    - the identity/serial pitfall: a writer that keeps its transaction open
      while a later one commits is neither skipped nor delivered early, and a
      naive `id > cursor` reader is shown to lose it where ours does not;
    - under concurrent writers (with rollbacks) and one or two stampers, a
      follower of `position > cursor` reads every committed event exactly
      once, in position order, positions dense, each writer's events in its
      own order, nothing rolled back;
    - retention prunes a prefix, bounds and Reset are right, stamping goes on;
    - a rollback leaves nothing; NOTIFY arrives at commit only;
    - the largest payload round-trips, and a batch is bounded in bytes;
    - a hand-made hole is refused, not skipped;
    - reading 1000 rows is fast (the replay hot path).
*/
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
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
#include "ln_clock.h"
#include "ln_outbox.h"
#include "pg_fixture.h"

static ln_pgfix_t *s_fix;
static int s_service_counter;

/* One service per case: its schema, its role's conninfo. */
typedef struct {
    char schema[32];
    const char *conninfo;
} service_t;

static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
s_sleep_us (int64_t us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
    nanosleep (&ts, NULL);
}

static ln_db_t *
s_connect (const service_t *svc)
{
    ln_error_t err;
    ln_error_clear (&err);
    ln_db_retry_t retry = {50, 500, 5000};
    ln_db_t *db = ln_db_connect (svc->conninfo, svc->schema, &retry, &err);
    if (!db)
        fprintf (stderr, "connect failed: %s: %s\n", err.code, err.message);
    return db;
}

static int
s_setup (void **state)
{
    (void)state;
    ln_log_init ("test_outbox", LN_LOG_WARN);
    if (sodium_init () < 0)
        return -1;
    s_fix = ln_pgfix_new ("outbox");
    return s_fix ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    ln_pgfix_destroy (&s_fix);
    return 0;
}

/* Per case: a new role + schema, migrated. */
static int
s_case_setup (void **state)
{
    service_t *svc = calloc (1, sizeof *svc);
    if (!svc)
        return -1;
    snprintf (svc->schema, sizeof svc->schema, "ob%d", ++s_service_counter);
    svc->conninfo = ln_pgfix_create_role (s_fix, svc->schema, svc->schema);
    ln_db_t *db = svc->conninfo ? s_connect (svc) : NULL;
    ln_error_t err;
    const ln_migration_t list[] = {LN_OUTBOX_MIGRATION, ln_outbox_redaction_migration};
    int rc = db ? ln_db_migrate (db, list, 2, &err) : -1;
    if (db && rc != 0)
        fprintf (stderr, "migrate failed: %s: %s\n", err.code, err.message);
    ln_db_destroy (&db);
    if (rc != 0) {
        free (svc);
        return -1;
    }
    *state = svc;
    return 0;
}

static int
s_case_teardown (void **state)
{
    free (*state);
    return 0;
}

/* First value of a query run as the superuser, as a number (-1 on error);
   each '@' in `text` stands for the service's schema. */
static long long
s_super_count (const service_t *svc, const char *text)
{
    char sql[1024];
    size_t j = 0;
    for (const char *p = text; *p && j + sizeof svc->schema < sizeof sql; p++) {
        if (*p == '@')
            j += (size_t)snprintf (sql + j, sizeof sql - j, "%s", svc->schema);
        else
            sql[j++] = *p;
    }
    sql[j] = '\0';
    char *v = ln_pgfix_query_value (s_fix, sql, 0, NULL);
    long long n = v ? strtoll (v, NULL, 10) : -1;
    free (v);
    return n;
}

/* Insert one event WITHOUT a position, as a hand-written INSERT (or a node
   from before appends were stamped as they are written) leaves it: the
   rows the relay (ln_outbox_stamp) numbers.  The relay's tests below use
   it; ln_outbox_append itself stamps at once (test_single_appends_*). */
static int
s_insert_unstamped (ln_db_t *db, const ln_outbox_event_t *ev, char *id_out, ln_error_t *err)
{
    char channel[LN_OUTBOX_CHANNEL_SIZE], level[8], time_us[24], gen[LN_OUTBOX_EVENT_ID_SIZE];
    if (ln_outbox_check (ev, err) != 0 || ln_outbox_channel (db, channel, sizeof channel) != 0)
        return -1;
    const char *id = ev->event_id && *ev->event_id ? ev->event_id : NULL;
    if (!id) {
        ln_outbox_new_id (gen);
        id = gen;
    }
    snprintf (level, sizeof level, "%d", (int)ev->level);
    snprintf (time_us, sizeof time_us, "%lld",
              (long long)(ev->time_us ? ev->time_us : ln_clock_wall_us ()));
    const char *values[7] = {
        id,      ev->type,
        level,   ev->correlation_id ? ev->correlation_id : "",
        time_us, (const char *)(ev->payload ? ev->payload : (const uint8_t *)""),
        channel};
    int lengths[7] = {0, 0, 0, 0, 0, (int)ev->payload_size, 0};
    int formats[7] = {0, 0, 0, 0, 0, 1, 0};
    PGresult *res = ln_db_exec_prepared (
        db, "test_outbox_unstamped",
        "WITH ins AS (INSERT INTO outbox (event_id, type, level, correlation_id, time_us, payload)"
        " VALUES ($1, $2, $3::smallint, $4, $5::bigint, $6::bytea) RETURNING 1)"
        " SELECT pg_catalog.pg_notify ($7, 'append') FROM ins",
        7, values, lengths, formats, 0, err);
    if (!res)
        return -1;
    PQclear (res);
    if (id_out)
        snprintf (id_out, LN_OUTBOX_EVENT_ID_SIZE, "%s", id);
    return 0;
}

/* Insert one unstamped event; asserts success. */
static void
s_append (ln_db_t *db, const char *event_id, const char *type, ln_level_t level, const char *cid,
          int64_t time_us, const uint8_t *payload, size_t size, char *id_out)
{
    ln_outbox_event_t ev = {event_id, type, level, cid, time_us, payload, size};
    ln_error_t err;
    ln_error_clear (&err);
    int rc = s_insert_unstamped (db, &ev, id_out, &err);
    if (rc != 0)
        fprintf (stderr, "append failed: %s: %s\n", err.code, err.message);
    assert_int_equal (rc, 0);
}

static size_t
s_stamp (ln_db_t *db, size_t max)
{
    size_t n = 999999;
    ln_error_t err;
    int rc = ln_outbox_stamp (db, max, &n, &err);
    if (rc != 0)
        fprintf (stderr, "stamp failed: %s: %s\n", err.code, err.message);
    assert_int_equal (rc, 0);
    return n;
}

static void
s_read (ln_db_t *db, uint64_t after, size_t limit, ln_outbox_batch_t *batch)
{
    ln_error_t err;
    int rc = ln_outbox_read (db, after, limit, batch, &err);
    if (rc != 0)
        fprintf (stderr, "read failed: %s: %s\n", err.code, err.message);
    assert_int_equal (rc, 0);
}

static void
s_begin (ln_db_t *db)
{
    assert_int_equal (ln_db_begin (db), 0);
}

static void
s_commit (ln_db_t *db)
{
    assert_int_equal (ln_db_commit (db), 0);
}

/* --- round trip ------------------------------------------------------------------- */

static void
test_roundtrip (void **state)
{
    service_t *svc = *state;
    ln_db_t *db = s_connect (svc);
    assert_non_null (db);
    ln_outbox_batch_t batch = {0};
    uint64_t first = 99, last = 99;

    /* Empty log. */
    assert_int_equal (ln_outbox_bounds (db, &first, &last, NULL), 0);
    assert_true (first == 1 && last == 0);
    assert_int_equal (s_stamp (db, 10), 0);
    s_read (db, 0, 10, &batch);
    assert_int_equal (batch.count, 0);
    assert_true (batch.first == 1 && batch.last == 0);

    uint8_t binary[256];
    for (size_t i = 0; i < sizeof binary; i++)
        binary[i] = (uint8_t)(255 - i); /* 0xff first, 0x00 last */
    const uint8_t zeros[3] = {0x00, 0x00, 0xff};
    char ids[5][LN_OUTBOX_EVENT_ID_SIZE];

    s_begin (db);
    s_append (db, NULL, "nl.lantern.signal.received.v1", LN_LEVEL_VERTROUWELIJK, "sig-1",
              1700000000000001, binary, sizeof binary, ids[0]);
    s_append (db, "", "nl.lantern.signal.completed.v1", LN_LEVEL_OPENBAAR, NULL, 0, NULL, 0,
              ids[1]);
    s_append (db, "my-own-id-é", "t.x", LN_LEVEL_ZEER_GEHEIM, "case-ß", 42, zeros, sizeof zeros,
              ids[2]);
    s_append (db, NULL, "t.y", LN_LEVEL_INTERN, "", 7, zeros, 1, ids[3]);
    s_append (db, NULL, "t.z", LN_LEVEL_GEHEIM, "c", 8, binary + 100, 1, ids[4]);
    /* Not visible (uncommitted) to the relay on another connection. */
    ln_db_t *other = s_connect (svc);
    assert_non_null (other);
    assert_int_equal (s_stamp (other, 10), 0);
    s_commit (db);

    /* Generated ids: 128 random bits in hex, all different. */
    assert_int_equal (strlen (ids[0]), 32);
    assert_int_equal (strspn (ids[0], "0123456789abcdef"), 32);
    assert_int_equal (strlen (ids[1]), 32);
    assert_string_not_equal (ids[0], ids[1]);
    assert_string_not_equal (ids[3], ids[4]);
    assert_string_equal (ids[2], "my-own-id-é");

    /* Nothing is readable before it is stamped. */
    s_read (db, 0, 10, &batch);
    assert_int_equal (batch.count, 0);
    assert_int_equal (s_stamp (other, 100), 5);
    assert_int_equal (s_stamp (other, 100), 0);
    ln_db_destroy (&other);

    int64_t before = (int64_t)time (NULL) * 1000000;
    s_read (db, 0, 100, &batch);
    assert_int_equal (batch.count, 5);
    assert_true (batch.first == 1 && batch.last == 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal (batch.rows[i].position, i + 1);
        assert_string_equal (batch.rows[i].event_id, ids[i]);
    }
    const ln_outbox_row_t *r = batch.rows;
    assert_string_equal (r[0].type, "nl.lantern.signal.received.v1");
    assert_int_equal (r[0].level, LN_LEVEL_VERTROUWELIJK);
    assert_string_equal (r[0].correlation_id, "sig-1");
    assert_int_equal (r[0].time_us, 1700000000000001);
    assert_int_equal (r[0].payload_size, sizeof binary);
    assert_memory_equal (r[0].payload, binary, sizeof binary);
    /* time 0 = now; empty payload; NULL correlation id = "". */
    assert_string_equal (r[1].type, "nl.lantern.signal.completed.v1");
    assert_int_equal (r[1].level, LN_LEVEL_OPENBAAR);
    assert_string_equal (r[1].correlation_id, "");
    assert_true (r[1].time_us >= before - 120 * 1000000LL &&
                 r[1].time_us <= before + 120 * 1000000LL);
    assert_int_equal (r[1].payload_size, 0);
    assert_non_null (r[1].payload);
    assert_string_equal (r[2].correlation_id, "case-ß");
    assert_int_equal (r[2].level, LN_LEVEL_ZEER_GEHEIM);
    assert_int_equal (r[2].time_us, 42);
    assert_int_equal (r[2].payload_size, 3);
    assert_memory_equal (r[2].payload, zeros, 3);
    assert_int_equal (r[3].payload_size, 1);
    assert_int_equal (r[3].payload[0], 0x00);
    assert_int_equal (r[4].payload[0], binary[100]);

    /* Paging from a cursor; the batch is reused. */
    s_read (db, 2, 2, &batch);
    assert_int_equal (batch.count, 2);
    assert_int_equal (batch.rows[0].position, 3);
    assert_int_equal (batch.rows[1].position, 4);
    assert_string_equal (batch.rows[1].event_id, ids[3]);
    s_read (db, 5, 10, &batch);
    assert_int_equal (batch.count, 0);
    assert_true (batch.first == 1 && batch.last == 5);

    /* max_rows is respected; a transaction's events keep their order. */
    s_begin (db);
    for (int i = 0; i < 3; i++) {
        char id[32];
        snprintf (id, sizeof id, "more-%d", i);
        s_append (db, id, "t.more", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    }
    s_commit (db);
    assert_int_equal (s_stamp (db, 2), 2);
    assert_int_equal (s_stamp (db, 2), 1);
    assert_int_equal (s_stamp (db, 2), 0);
    s_read (db, 5, 10, &batch);
    assert_int_equal (batch.count, 3);
    assert_string_equal (batch.rows[0].event_id, "more-0");
    assert_string_equal (batch.rows[2].event_id, "more-2");
    assert_int_equal (batch.rows[2].position, 8);
    assert_int_equal (ln_outbox_bounds (db, &first, &last, NULL), 0);
    assert_true (first == 1 && last == 8);

    ln_outbox_batch_clear (&batch);
    assert_null (batch.rows);
    assert_int_equal (batch.count, 0);
    ln_outbox_batch_clear (&batch); /* twice is fine */
    ln_outbox_batch_clear (NULL);
    ln_db_destroy (&db);
}

/* --- big payloads: the largest accepted, and batches bounded in bytes ---------------- */

static void
test_big_payloads (void **state)
{
    service_t *svc = *state;
    ln_db_t *db = s_connect (svc);
    assert_non_null (db);
    ln_outbox_batch_t batch = {0};
    uint8_t *big = malloc (LN_OUTBOX_PAYLOAD_MAX);
    assert_non_null (big);
    for (size_t i = 0; i < LN_OUTBOX_PAYLOAD_MAX; i++)
        big[i] = (uint8_t)(i * 31 + 7);

    s_begin (db);
    for (int i = 0; i < 3; i++) {
        big[0] = (uint8_t)i;
        s_append (db, NULL, "t.big", LN_LEVEL_INTERN, "", 1, big, LN_OUTBOX_PAYLOAD_MAX, NULL);
    }
    s_append (db, NULL, "t.small", LN_LEVEL_INTERN, "", 1, big, 10, NULL);
    s_commit (db);
    assert_int_equal (s_stamp (db, 10), 4);

    /* 2 x 4 MiB reach LN_OUTBOX_READ_BYTES (8 MiB): the third waits for the
       next batch, whatever the limit. */
    s_read (db, 0, 100, &batch);
    assert_int_equal (batch.count, 2);
    assert_int_equal (batch.rows[1].payload_size, LN_OUTBOX_PAYLOAD_MAX);
    assert_int_equal (batch.rows[1].payload[0], 1);
    assert_memory_equal (batch.rows[1].payload + 1, big + 1, LN_OUTBOX_PAYLOAD_MAX - 1);
    s_read (db, 2, 100, &batch);
    assert_int_equal (batch.count, 2);
    assert_int_equal (batch.rows[0].payload[0], 2);
    assert_int_equal (batch.rows[1].payload_size, 10);
    assert_int_equal (batch.rows[1].position, 4);

    ln_outbox_batch_clear (&batch);
    free (big);
    ln_db_destroy (&db);
}

/* --- refusals --------------------------------------------------------------------- */

static void
s_expect_append_error (ln_db_t *db, const ln_outbox_event_t *ev, const char *code,
                       const char *field)
{
    ln_error_t err;
    ln_error_clear (&err);
    char id[LN_OUTBOX_EVENT_ID_SIZE];
    assert_int_equal (ln_outbox_append (db, ev, id, sizeof id, &err), -1);
    assert_non_null (err.code);
    assert_string_equal (err.code, code);
    if (field)
        assert_string_equal (err.field, field);
}

static void
test_refusals (void **state)
{
    service_t *svc = *state;
    ln_db_t *db = s_connect (svc);
    assert_non_null (db);
    ln_error_t err;
    ln_outbox_batch_t batch = {0};
    uint8_t one = 1;
    ln_outbox_event_t ok = {NULL, "t.ok", LN_LEVEL_INTERN, "c", 0, &one, 1};

    /* Outside a transaction an append would not be atomic with anything. */
    s_expect_append_error (db, &ok, "OUTBOX_NO_TRANSACTION", NULL);

    s_begin (db);
    ln_outbox_event_t ev = ok;
    ev.type = NULL;
    s_expect_append_error (db, &ev, "OUTBOX_INVALID", "type");
    ev.type = "";
    s_expect_append_error (db, &ev, "OUTBOX_INVALID", "type");
    char longtype[LN_OUTBOX_TYPE_MAX + 2];
    memset (longtype, 'a', sizeof longtype - 1);
    longtype[sizeof longtype - 1] = '\0';
    ev.type = longtype;
    s_expect_append_error (db, &ev, "OUTBOX_INVALID", "type");
    longtype[LN_OUTBOX_TYPE_MAX] = '\0'; /* exactly at the limit: fine */
    ev.type = longtype;
    assert_int_equal (ln_outbox_append (db, &ev, NULL, 0, &err), 0);
    ev = ok;
    ev.correlation_id = "bad\xff";
    s_expect_append_error (db, &ev, "OUTBOX_INVALID", "correlation_id");
    ev.correlation_id = "esc\x1b[31m";
    s_expect_append_error (db, &ev, "OUTBOX_INVALID", "correlation_id");
    ev = ok;
    ev.event_id = "\xc0\x80";
    s_expect_append_error (db, &ev, "OUTBOX_INVALID", "event_id");
    ev = ok;
    ev.level = (ln_level_t)LN_LEVEL_COUNT;
    s_expect_append_error (db, &ev, "OUTBOX_INVALID", "level");
    ev = ok;
    ev.time_us = -1;
    s_expect_append_error (db, &ev, "OUTBOX_INVALID", "time_us");
    ev = ok;
    ev.payload = NULL;
    s_expect_append_error (db, &ev, "OUTBOX_INVALID", "payload");
    ev = ok;
    ev.payload_size = LN_OUTBOX_PAYLOAD_MAX + 1;
    s_expect_append_error (db, &ev, "OUTBOX_INVALID", "payload");
    ev = ok;
    ev.event_id = "some-id-longer-than-8";
    char small[8];
    assert_int_equal (ln_outbox_append (db, &ev, small, sizeof small, &err), -1);
    assert_string_equal (err.code, "OUTBOX_INVALID");
    assert_int_equal (ln_outbox_append (NULL, &ok, NULL, 0, &err), -1);
    assert_int_equal (ln_outbox_append (db, NULL, NULL, 0, &err), -1);

    /* stamp and prune own their transactions. */
    assert_int_equal (ln_outbox_stamp (db, 10, NULL, &err), -1);
    assert_string_equal (err.code, "OUTBOX_IN_TRANSACTION");
    assert_int_equal (ln_outbox_prune (db, 0, NULL, &err), -1);
    assert_string_equal (err.code, "OUTBOX_IN_TRANSACTION");
    s_commit (db); /* the refusals changed nothing: one event (longtype), stamped */
    assert_int_equal (s_stamp (db, 10), 0);
    assert_int_equal (
        s_super_count (svc, "SELECT count(*) FROM @.outbox WHERE position IS NOT NULL"), 1);

    /* A duplicate event_id is refused and spoils the caller's transaction. */
    s_begin (db);
    ev = ok;
    ev.event_id = "dup-1";
    assert_int_equal (ln_outbox_append (db, &ev, NULL, 0, &err), 0);
    s_commit (db);
    s_begin (db);
    s_expect_append_error (db, &ev, "OUTBOX_DUPLICATE_ID", "event_id");
    /* ... and a failed transaction is no place to append. */
    ev.event_id = "dup-2";
    s_expect_append_error (db, &ev, "OUTBOX_NO_TRANSACTION", NULL);
    assert_int_equal (ln_db_commit (db), -1);
    assert_int_equal (ln_db_rollback (db), 0);
    assert_int_equal (s_stamp (db, 10), 0); /* dup-1 was stamped as it was written */
    assert_int_equal (s_super_count (svc, "SELECT count(*) FROM @.outbox"), 2);

    assert_int_equal (ln_outbox_stamp (db, 0, NULL, &err), -1);
    assert_string_equal (err.code, "OUTBOX_INVALID");
    assert_int_equal (ln_outbox_read (db, 0, 0, &batch, &err), -1);
    assert_string_equal (err.code, "OUTBOX_INVALID");
    assert_int_equal (ln_outbox_read (db, 0, 100001, &batch, &err), -1);
    assert_int_equal (ln_outbox_read (db, 0, 10, NULL, &err), -1);
    ln_outbox_batch_clear (&batch);
    ln_db_destroy (&db);
}

/* --- rollback ---------------------------------------------------------------------- */

static void
test_rollback (void **state)
{
    service_t *svc = *state;
    ln_db_t *db = s_connect (svc);
    assert_non_null (db);
    ln_outbox_batch_t batch = {0};

    s_begin (db);
    s_append (db, "gone-1", "t", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    s_append (db, "gone-2", "t", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    assert_int_equal (ln_db_rollback (db), 0);
    assert_int_equal (s_stamp (db, 10), 0);
    s_read (db, 0, 10, &batch);
    assert_int_equal (batch.count, 0);
    assert_int_equal (s_super_count (svc, "SELECT count(*) FROM @.outbox"), 0);

    /* A savepoint rolled back takes its event; the rest of the transaction
       commits (txid is the top-level transaction's). */
    s_begin (db);
    s_append (db, "kept-1", "t", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    assert_int_equal (ln_db_run (db, "SAVEPOINT s1", 0, NULL, NULL), 0);
    s_append (db, "gone-3", "t", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    assert_int_equal (ln_db_run (db, "ROLLBACK TO SAVEPOINT s1", 0, NULL, NULL), 0);
    assert_int_equal (ln_db_run (db, "SAVEPOINT s2", 0, NULL, NULL), 0);
    s_append (db, "kept-2", "t", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    assert_int_equal (ln_db_run (db, "RELEASE SAVEPOINT s2", 0, NULL, NULL), 0);
    s_commit (db);
    assert_int_equal (s_stamp (db, 10), 2);
    s_read (db, 0, 10, &batch);
    assert_int_equal (batch.count, 2);
    assert_string_equal (batch.rows[0].event_id, "kept-1");
    assert_string_equal (batch.rows[1].event_id, "kept-2");
    assert_int_equal (batch.rows[1].position, 2);
    /* The rolled-back ids were never used: they can be used now. */
    s_begin (db);
    s_append (db, "gone-1", "t", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    s_commit (db);
    assert_int_equal (s_stamp (db, 10), 1);
    ln_outbox_batch_clear (&batch);
    ln_db_destroy (&db);
}

/* --- the identity/serial pitfall --------------------------------------------------------- */

/* What a naive reader at id `cursor` would get: the count of ids > cursor. */
static long long
s_naive_count (const service_t *svc, long long cursor)
{
    char sql[256], arg[32];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM %s.outbox WHERE id > $1::bigint", svc->schema);
    snprintf (arg, sizeof arg, "%lld", cursor);
    const char *p[1] = {arg};
    char *v = ln_pgfix_query_value (s_fix, sql, 1, p);
    long long n = v ? strtoll (v, NULL, 10) : -1;
    free (v);
    return n;
}

static long long
s_id_of (const service_t *svc, const char *event_id)
{
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT id FROM %s.outbox WHERE event_id = $1", svc->schema);
    const char *p[1] = {event_id};
    char *v = ln_pgfix_query_value (s_fix, sql, 1, p);
    long long n = v ? strtoll (v, NULL, 10) : -1;
    free (v);
    return n;
}

/* A holds its transaction open while B commits.  a_first: A inserts first
   (A's id < B's: the case a naive `id > cursor` reader loses). */
static void
s_two_writers (const service_t *svc, bool a_first)
{
    ln_db_t *a = s_connect (svc);
    ln_db_t *b = s_connect (svc);
    ln_db_t *relay = s_connect (svc);
    ln_db_t *other = s_connect (svc);
    assert_true (a && b && relay && other);
    ln_outbox_batch_t batch = {0};

    /* An unrelated long transaction holding an xid older than B's: it must
       not hold back B (stamping is not tied to the oldest running xid). */
    assert_int_equal (ln_db_begin (other), 0);
    assert_int_equal (ln_db_run (other, "SELECT pg_current_xact_id()", 0, NULL, NULL), 0);

    s_begin (a);
    s_begin (b);
    if (a_first) {
        s_append (a, "event-A", "t", LN_LEVEL_INTERN, "", 1, (const uint8_t *)"A", 1, NULL);
        s_append (b, "event-B", "t", LN_LEVEL_INTERN, "", 2, (const uint8_t *)"B", 1, NULL);
    }
    else {
        s_append (b, "event-B", "t", LN_LEVEL_INTERN, "", 2, (const uint8_t *)"B", 1, NULL);
        s_append (a, "event-A", "t", LN_LEVEL_INTERN, "", 1, (const uint8_t *)"A", 1, NULL);
    }
    s_commit (b);

    /* B is committed, A is open: only B gets a position. */
    assert_int_equal (s_stamp (relay, 100), 1);
    s_read (relay, 0, 100, &batch);
    assert_int_equal (batch.count, 1);
    assert_string_equal (batch.rows[0].event_id, "event-B");
    assert_int_equal (batch.rows[0].position, 1);
    assert_int_equal (batch.last, 1);
    uint64_t cursor = batch.rows[0].position;
    /* A naive reader now stands at B's id. */
    long long naive_cursor = s_id_of (svc, "event-B");
    assert_true (naive_cursor > 0);
    /* Stamping again changes nothing while A is open. */
    assert_int_equal (s_stamp (relay, 100), 0);
    s_read (relay, cursor, 100, &batch);
    assert_int_equal (batch.count, 0);

    s_commit (a);
    if (a_first) {
        /* The pitfall: A's id is below the naive cursor, so `id > cursor`
           never returns it although it is committed. */
        assert_true (s_id_of (svc, "event-A") < naive_cursor);
        assert_int_equal (s_naive_count (svc, naive_cursor), 0);
    }
    assert_int_equal (s_stamp (relay, 100), 1);
    s_read (relay, cursor, 100, &batch);
    assert_int_equal (batch.count, 1);
    assert_string_equal (batch.rows[0].event_id, "event-A");
    assert_int_equal (batch.rows[0].position, 2);
    assert_int_equal (batch.rows[0].payload[0], 'A');
    /* From the start: each exactly once, in position order. */
    s_read (relay, 0, 100, &batch);
    assert_int_equal (batch.count, 2);
    assert_string_equal (batch.rows[0].event_id, "event-B");
    assert_string_equal (batch.rows[1].event_id, "event-A");

    assert_int_equal (ln_db_rollback (other), 0);
    ln_outbox_batch_clear (&batch);
    ln_db_destroy (&a);
    ln_db_destroy (&b);
    ln_db_destroy (&relay);
    ln_db_destroy (&other);
}

static void
test_pitfall_a_inserted_first (void **state)
{
    s_two_writers (*state, true);
}

static void
test_pitfall_b_inserted_first (void **state)
{
    s_two_writers (*state, false);
}

/* --- notifications ------------------------------------------------------------------------ */

/* Wait up to timeout_ms for a notification on db; returns its payload as a
   new string (caller frees) or NULL. */
static char *
s_wait_notify (ln_db_t *db, const char *channel, int timeout_ms)
{
    PGconn *conn = ln_db_conn (db);
    int64_t deadline = s_now_us () + (int64_t)timeout_ms * 1000;
    for (;;) {
        if (PQconsumeInput (conn) == 0)
            return NULL;
        PGnotify *n = PQnotifies (conn);
        if (n) {
            char *payload = NULL;
            if (strcmp (n->relname, channel) == 0)
                payload = strdup (n->extra);
            PQfreemem (n);
            if (payload)
                return payload;
            continue;
        }
        int64_t left = (deadline - s_now_us ()) / 1000;
        if (left <= 0)
            return NULL;
        struct pollfd pfd = {.fd = PQsocket (conn), .events = POLLIN};
        poll (&pfd, 1, (int)left);
    }
}

static void
test_notify (void **state)
{
    service_t *svc = *state;
    ln_db_t *listener = s_connect (svc);
    ln_db_t *writer = s_connect (svc);
    assert_true (listener && writer);
    char channel[LN_OUTBOX_CHANNEL_SIZE];
    assert_int_equal (ln_outbox_channel (listener, channel, sizeof channel), 0);
    char expected[LN_OUTBOX_CHANNEL_SIZE];
    snprintf (expected, sizeof expected, "lantern_outbox_%s", svc->schema);
    assert_string_equal (channel, expected);
    assert_int_equal (ln_outbox_channel (listener, channel, 63), -1);
    assert_int_equal (ln_outbox_listen (listener, NULL), 0);

    /* Nothing is heard while the transaction is open, nor after rollback. */
    s_begin (writer);
    s_append (writer, NULL, "t", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    char *got = s_wait_notify (listener, channel, 100);
    assert_null (got);
    assert_int_equal (ln_db_rollback (writer), 0);
    got = s_wait_notify (listener, channel, 100);
    assert_null (got);

    /* At commit: one 'append' (several appends in a transaction fold). */
    s_begin (writer);
    s_append (writer, NULL, "t", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    s_append (writer, NULL, "t", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    s_commit (writer);
    got = s_wait_notify (listener, channel, 5000);
    assert_non_null (got);
    assert_string_equal (got, "append");
    free (got);
    got = s_wait_notify (listener, channel, 100);
    assert_null (got);
    /* A stamp that numbered rows says so; an idle one is silent. */
    assert_int_equal (s_stamp (writer, 10), 2);
    got = s_wait_notify (listener, channel, 5000);
    assert_non_null (got);
    assert_string_equal (got, "stamp");
    free (got);
    assert_int_equal (s_stamp (writer, 10), 0);
    got = s_wait_notify (listener, channel, 100);
    assert_null (got);

    /* Long schema names: 63 bytes at most, and distinct. */
    const char *long1 = "a_very_long_schema_name_for_a_node_of_some_municipality_aaaaaaa";
    const char *long2 = "a_very_long_schema_name_for_a_node_of_some_municipality_aaaaaab";
    ln_db_t *l1 = ln_db_connect (ln_pgfix_conninfo (s_fix), long1, NULL, NULL);
    ln_db_t *l2 = ln_db_connect (ln_pgfix_conninfo (s_fix), long2, NULL, NULL);
    assert_true (l1 && l2);
    char c1[LN_OUTBOX_CHANNEL_SIZE], c2[LN_OUTBOX_CHANNEL_SIZE];
    assert_int_equal (ln_outbox_channel (l1, c1, sizeof c1), 0);
    assert_int_equal (ln_outbox_channel (l2, c2, sizeof c2), 0);
    assert_int_equal (strlen (c1), 63);
    assert_string_not_equal (c1, c2);
    assert_int_equal (strspn (c1, "abcdefghijklmnopqrstuvwxyz0123456789_"), 63);
    assert_int_equal (ln_outbox_listen (l1, NULL), 0);
    ln_db_destroy (&l1);
    ln_db_destroy (&l2);
    ln_db_t *noschema = ln_db_connect (ln_pgfix_conninfo (s_fix), NULL, NULL, NULL);
    assert_non_null (noschema);
    assert_int_equal (ln_outbox_channel (noschema, c1, sizeof c1), -1);
    ln_db_destroy (&noschema);

    ln_db_destroy (&listener);
    ln_db_destroy (&writer);
}

/* --- stress: concurrent writers, stampers and a follower ------------------------------------ */

#define STRESS_WRITERS 4
#define STRESS_EVENTS  500
#define STRESS_TOTAL   (STRESS_WRITERS * STRESS_EVENTS)

typedef struct {
    const service_t *svc;
    atomic_bool stop_stampers;
    atomic_int target; /* committed count once writers are done, else -1 */
    atomic_int failed;
    char why[256];
    pthread_mutex_t lock;
    bool committed[STRESS_WRITERS][STRESS_EVENTS];
    int committed_count;
    /* what the follower read, by position - 1 */
    int read_writer[STRESS_TOTAL];
    int read_seq[STRESS_TOTAL];
    int read_count;
    long stamp_calls;
} stress_t;

typedef struct {
    stress_t *st;
    int writer;
} writer_arg_t;

static void
s_stress_fail (stress_t *st, const char *fmt, ...)
{
    pthread_mutex_lock (&st->lock);
    if (!atomic_load (&st->failed)) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (st->why, sizeof st->why, fmt, ap);
        va_end (ap);
        atomic_store (&st->failed, 1);
    }
    pthread_mutex_unlock (&st->lock);
}

static void *
s_writer (void *arg)
{
    writer_arg_t *wa = arg;
    stress_t *st = wa->st;
    ln_db_t *db = s_connect (st->svc);
    if (!db) {
        s_stress_fail (st, "writer %d: connect", wa->writer);
        return NULL;
    }
    int seq = 0;
    while (seq < STRESS_EVENTS && !atomic_load (&st->failed)) {
        int n = 1 + (int)randombytes_uniform (10);
        if (n > STRESS_EVENTS - seq)
            n = STRESS_EVENTS - seq;
        bool rollback = randombytes_uniform (100) < 20;
        if (ln_db_begin (db) != 0) {
            s_stress_fail (st, "writer %d: begin", wa->writer);
            break;
        }
        for (int i = 0; i < n; i++) {
            char id[32];
            snprintf (id, sizeof id, "w%d-%d", wa->writer, seq + i);
            ln_outbox_event_t ev = {id,          "t.stress",          LN_LEVEL_INTERN, "",
                                    1 + seq + i, (const uint8_t *)id, strlen (id)};
            ln_error_t err;
            if (s_insert_unstamped (db, &ev, NULL, &err) != 0) {
                s_stress_fail (st, "writer %d: append: %s", wa->writer, err.message);
                break;
            }
            /* Hold the transaction open now and then, so that later
               transactions of other writers commit first. */
            if (randombytes_uniform (4) == 0)
                s_sleep_us (randombytes_uniform (3000));
        }
        if (rollback)
            ln_db_rollback (db);
        else {
            if (ln_db_commit (db) != 0) {
                s_stress_fail (st, "writer %d: commit", wa->writer);
                break;
            }
            pthread_mutex_lock (&st->lock);
            for (int i = 0; i < n; i++)
                st->committed[wa->writer][seq + i] = true;
            st->committed_count += n;
            pthread_mutex_unlock (&st->lock);
        }
        seq += n;
        if (randombytes_uniform (3) == 0)
            s_sleep_us (randombytes_uniform (2000));
    }
    ln_db_destroy (&db);
    return NULL;
}

static void *
s_stamper (void *arg)
{
    stress_t *st = arg;
    ln_db_t *db = s_connect (st->svc);
    if (!db) {
        s_stress_fail (st, "stamper: connect");
        return NULL;
    }
    long calls = 0;
    while (!atomic_load (&st->stop_stampers) && !atomic_load (&st->failed)) {
        size_t n = 0;
        ln_error_t err;
        /* A small max_rows, so that batches are cut and stampers overlap. */
        if (ln_outbox_stamp (db, 1 + randombytes_uniform (25), &n, &err) != 0) {
            s_stress_fail (st, "stamper: %s: %s", err.code, err.message);
            break;
        }
        calls++;
        if (n == 0)
            s_sleep_us (500);
    }
    pthread_mutex_lock (&st->lock);
    st->stamp_calls += calls;
    pthread_mutex_unlock (&st->lock);
    ln_db_destroy (&db);
    return NULL;
}

/* Follows position > cursor, woken by NOTIFY (with a poll timeout as a
   safety net), until it has read `target` events. */
static void *
s_follower (void *arg)
{
    stress_t *st = arg;
    ln_db_t *db = s_connect (st->svc);
    ln_outbox_batch_t batch = {0};
    char channel[LN_OUTBOX_CHANNEL_SIZE];
    if (!db || ln_outbox_listen (db, NULL) != 0 ||
        ln_outbox_channel (db, channel, sizeof channel) != 0) {
        s_stress_fail (st, "follower: connect/listen");
        ln_db_destroy (&db);
        return NULL;
    }
    uint64_t cursor = 0;
    int64_t deadline = s_now_us () + 60 * 1000000LL;
    while (!atomic_load (&st->failed)) {
        int target = atomic_load (&st->target);
        if (target >= 0 && cursor >= (uint64_t)target)
            break;
        if (s_now_us () > deadline) {
            s_stress_fail (st, "follower: timed out at %llu of %d", (unsigned long long)cursor,
                           target);
            break;
        }
        ln_error_t err;
        if (ln_outbox_read (db, cursor, 1 + randombytes_uniform (64), &batch, &err) != 0) {
            s_stress_fail (st, "follower: %s: %s", err.code, err.message);
            break;
        }
        for (size_t i = 0; i < batch.count; i++) {
            const ln_outbox_row_t *r = &batch.rows[i];
            int w = -1, s = -1;
            if (r->position != cursor + 1 || cursor >= STRESS_TOTAL ||
                sscanf (r->event_id, "w%d-%d", &w, &s) != 2 || w < 0 || w >= STRESS_WRITERS ||
                s < 0 || s >= STRESS_EVENTS || r->payload_size != strlen (r->event_id) ||
                memcmp (r->payload, r->event_id, r->payload_size) != 0) {
                s_stress_fail (st, "follower: bad row at cursor %llu: position %llu id %s",
                               (unsigned long long)cursor, (unsigned long long)r->position,
                               r->event_id);
                break;
            }
            st->read_writer[cursor] = w;
            st->read_seq[cursor] = s;
            cursor++;
        }
        st->read_count = (int)cursor;
        if (batch.count == 0) {
            char *note = s_wait_notify (db, channel, 50);
            free (note);
        }
    }
    ln_outbox_batch_clear (&batch);
    ln_db_destroy (&db);
    return NULL;
}

static void
s_stress (const service_t *svc, int nstampers)
{
    stress_t *st = calloc (1, sizeof *st);
    assert_non_null (st);
    st->svc = svc;
    atomic_init (&st->target, -1);
    pthread_mutex_init (&st->lock, NULL);
    pthread_t writers[STRESS_WRITERS], stampers[2], follower;
    writer_arg_t wargs[STRESS_WRITERS];
    int64_t t0 = s_now_us ();

    assert_int_equal (pthread_create (&follower, NULL, s_follower, st), 0);
    for (int i = 0; i < nstampers; i++)
        assert_int_equal (pthread_create (&stampers[i], NULL, s_stamper, st), 0);
    for (int i = 0; i < STRESS_WRITERS; i++) {
        wargs[i] = (writer_arg_t){st, i};
        assert_int_equal (pthread_create (&writers[i], NULL, s_writer, &wargs[i]), 0);
    }
    for (int i = 0; i < STRESS_WRITERS; i++)
        pthread_join (writers[i], NULL);
    atomic_store (&st->target, st->committed_count);
    pthread_join (follower, NULL);
    atomic_store (&st->stop_stampers, true);
    for (int i = 0; i < nstampers; i++)
        pthread_join (stampers[i], NULL);
    if (atomic_load (&st->failed))
        fprintf (stderr, "stress failed: %s\n", st->why);
    assert_false (atomic_load (&st->failed));

    /* Every committed event exactly once; nothing rolled back; each
       writer's events in its own order (its transactions are sequential, so
       causality demands it). */
    assert_true (st->committed_count > 0 && st->committed_count < STRESS_TOTAL);
    assert_int_equal (st->read_count, st->committed_count);
    static bool seen[STRESS_WRITERS][STRESS_EVENTS];
    memset (seen, 0, sizeof seen);
    int last_seq[STRESS_WRITERS];
    for (int w = 0; w < STRESS_WRITERS; w++)
        last_seq[w] = -1;
    for (int p = 0; p < st->read_count; p++) {
        int w = st->read_writer[p], s = st->read_seq[p];
        assert_true (st->committed[w][s]);
        assert_false (seen[w][s]);
        seen[w][s] = true;
        assert_true (s > last_seq[w]);
        last_seq[w] = s;
    }
    for (int w = 0; w < STRESS_WRITERS; w++)
        for (int s = 0; s < STRESS_EVENTS; s++)
            assert_true (seen[w][s] == st->committed[w][s]);

    /* The database agrees: positions dense 1..N, head N, nothing left
       unstamped, and no rolled-back row exists. */
    long long n = st->committed_count;
    assert_int_equal (s_super_count (svc, "SELECT count(*) FROM @.outbox"), n);
    assert_int_equal (s_super_count (svc, "SELECT count(*) FROM @.outbox WHERE position IS NULL"),
                      0);
    assert_int_equal (s_super_count (svc, "SELECT count(DISTINCT position) FROM @.outbox"), n);
    assert_int_equal (s_super_count (svc, "SELECT max(position) FROM @.outbox"), n);
    assert_int_equal (s_super_count (svc, "SELECT min(position) FROM @.outbox"), 1);
    assert_int_equal (s_super_count (svc, "SELECT head FROM @.outbox_head"), n);
    /* The run did exercise the pitfall: rows whose id is below an id
       already delivered before them (a naive id reader could lose them). */
    long long overtaken = s_super_count (
        svc, "SELECT count(*) FROM (SELECT id, max(id) OVER (ORDER BY position ROWS BETWEEN "
             "UNBOUNDED PRECEDING AND 1 PRECEDING) AS m FROM @.outbox) s WHERE id < m");
    print_message ("# stress (%d stamper%s): %lld committed of %d, %lld out of id order, "
                   "%ld stamp calls, %.1f s\n",
                   nstampers, nstampers > 1 ? "s" : "", n, STRESS_TOTAL, overtaken, st->stamp_calls,
                   (double)(s_now_us () - t0) / 1e6);
    assert_true (overtaken > 0);

    pthread_mutex_destroy (&st->lock);
    free (st);
}

static void
test_stress_one_stamper (void **state)
{
    s_stress (*state, 1);
}

static void
test_stress_two_stampers (void **state)
{
    s_stress (*state, 2);
}

/* --- retention ------------------------------------------------------------------------------ */

static void
test_prune (void **state)
{
    service_t *svc = *state;
    ln_db_t *db = s_connect (svc);
    assert_non_null (db);
    ln_outbox_batch_t batch = {0};
    ln_error_t err;
    uint64_t first = 0, last = 0, pruned = 99;

    /* Nothing to prune in an empty log. */
    assert_int_equal (ln_outbox_prune (db, INT64_MAX, &pruned, &err), 0);
    assert_int_equal (pruned, 0);

    /* Positions 1..10 with time 1000*p, except position 5, older (100). */
    s_begin (db);
    for (int p = 1; p <= 10; p++) {
        char id[32];
        snprintf (id, sizeof id, "e%d", p);
        s_append (db, id, "t", LN_LEVEL_INTERN, "", p == 5 ? 100 : 1000 * p, NULL, 0, NULL);
    }
    s_commit (db);
    assert_int_equal (s_stamp (db, 100), 10);
    /* An old event, committed but not yet stamped. */
    s_begin (db);
    s_append (db, "late", "t", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    s_commit (db);

    /* Cutoff 3500: the newest old event is position 5, so 1..5 go (4, at
       time 4000, with them: a prefix, no hole, no old straggler). */
    assert_int_equal (ln_outbox_prune (db, 3500, &pruned, &err), 0);
    assert_int_equal (pruned, 5);
    assert_int_equal (ln_outbox_bounds (db, &first, &last, &err), 0);
    assert_true (first == 6 && last == 10);
    assert_int_equal (s_super_count (svc, "SELECT count(*) FROM @.outbox WHERE position <= 5"), 0);
    assert_int_equal (
        s_super_count (svc, "SELECT count(*) FROM @.outbox WHERE event_id = 'late' AND position "
                            "IS NULL"),
        1);

    /* A subscriber whose next event is gone gets OUTBOX_PRUNED (Reset). */
    assert_int_equal (ln_outbox_read (db, 0, 10, &batch, &err), -1);
    assert_string_equal (err.code, "OUTBOX_PRUNED");
    assert_true (batch.count == 0 && batch.first == 6 && batch.last == 10);
    assert_int_equal (ln_outbox_read (db, 4, 10, &batch, &err), -1);
    assert_string_equal (err.code, "OUTBOX_PRUNED");
    /* One at first - 1 resumes, positions unchanged. */
    s_read (db, 5, 10, &batch);
    assert_int_equal (batch.count, 5);
    assert_int_equal (batch.rows[0].position, 6);
    assert_string_equal (batch.rows[0].event_id, "e6");
    assert_string_equal (batch.rows[4].event_id, "e10");

    /* Stamping continues from the head. */
    assert_int_equal (s_stamp (db, 100), 1);
    s_read (db, 10, 10, &batch);
    assert_int_equal (batch.count, 1);
    assert_int_equal (batch.rows[0].position, 11);
    assert_string_equal (batch.rows[0].event_id, "late");

    /* A cutoff older than everything: nothing. */
    assert_int_equal (ln_outbox_prune (db, 1, &pruned, &err), 0);
    assert_int_equal (pruned, 0);
    /* Cutoff 2: "late" (time 1) is the newest old event, at position 11, so
       the prefix up to it goes, younger events before it included: the log
       is empty, the head stays. */
    assert_int_equal (ln_outbox_prune (db, 2, &pruned, &err), 0);
    assert_int_equal (pruned, 6);
    assert_int_equal (ln_outbox_prune (db, INT64_MAX, &pruned, &err), 0);
    assert_int_equal (pruned, 0);
    assert_int_equal (ln_outbox_bounds (db, &first, &last, &err), 0);
    assert_true (first == 12 && last == 11);
    s_read (db, 11, 10, &batch);
    assert_int_equal (batch.count, 0);
    assert_int_equal (ln_outbox_read (db, 10, 10, &batch, &err), -1);
    assert_string_equal (err.code, "OUTBOX_PRUNED");
    assert_true (batch.first == 12 && batch.last == 11);
    s_begin (db);
    s_append (db, "after", "t", LN_LEVEL_INTERN, "", 0, NULL, 0, NULL);
    s_commit (db);
    assert_int_equal (s_stamp (db, 100), 1);
    s_read (db, 11, 10, &batch);
    assert_int_equal (batch.count, 1);
    assert_int_equal (batch.rows[0].position, 12);

    /* More than one chunk (10,000 rows each). */
    char sql[512];
    snprintf (sql, sizeof sql,
              "INSERT INTO %s.outbox (event_id, type, level, time_us, payload)"
              " SELECT 'bulk-' || g, 't', 2, 5, '\\x00' FROM generate_series(1, 21000) g",
              svc->schema);
    assert_int_equal (ln_pgfix_exec (s_fix, sql), 0);
    assert_int_equal (s_stamp (db, 30000), 21000);
    assert_int_equal (ln_outbox_prune (db, 6, &pruned, &err), 0);
    assert_int_equal (pruned, 21001); /* 12 (time: now) precedes the bulk: a prefix */
    assert_int_equal (ln_outbox_bounds (db, &first, &last, &err), 0);
    assert_true (first == 21013 && last == 21012);
    assert_int_equal (s_super_count (svc, "SELECT count(*) FROM @.outbox"), 0);

    ln_outbox_batch_clear (&batch);
    ln_db_destroy (&db);
}

/* --- a hand-made hole is refused, not skipped ------------------------------------------------ */

static void
test_corrupt (void **state)
{
    service_t *svc = *state;
    ln_db_t *db = s_connect (svc);
    assert_non_null (db);
    ln_outbox_batch_t batch = {0};
    ln_error_t err;

    s_begin (db);
    for (int i = 0; i < 5; i++)
        s_append (db, NULL, "t", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    s_commit (db);
    assert_int_equal (s_stamp (db, 10), 5);
    char sql[256];
    snprintf (sql, sizeof sql, "DELETE FROM %s.outbox WHERE position = 3", svc->schema);
    assert_int_equal (ln_pgfix_exec (s_fix, sql), 0);
    assert_int_equal (ln_outbox_read (db, 1, 10, &batch, &err), -1);
    assert_string_equal (err.code, "OUTBOX_CORRUPT");
    assert_int_equal (batch.count, 0);
    s_read (db, 3, 10, &batch); /* past the hole it reads again */
    assert_int_equal (batch.count, 2);

    snprintf (sql, sizeof sql, "DELETE FROM %s.outbox_head", svc->schema);
    assert_int_equal (ln_pgfix_exec (s_fix, sql), 0);
    assert_int_equal (ln_outbox_bounds (db, NULL, NULL, &err), -1);
    assert_string_equal (err.code, "OUTBOX_CORRUPT");
    assert_int_equal (ln_outbox_read (db, 3, 10, &batch, &err), -1);
    assert_string_equal (err.code, "OUTBOX_CORRUPT");
    s_begin (db);
    s_append (db, NULL, "t", LN_LEVEL_INTERN, "", 1, NULL, 0, NULL);
    s_commit (db);
    assert_int_equal (ln_outbox_stamp (db, 10, NULL, &err), -1);
    assert_string_equal (err.code, "OUTBOX_CORRUPT");
    assert_true (PQtransactionStatus (ln_db_conn (db)) == PQTRANS_IDLE);

    ln_outbox_batch_clear (&batch);
    ln_db_destroy (&db);
}

/* --- the replay hot path ------------------------------------------------------------------------
 */

static int
s_cmp_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void
test_read_speed (void **state)
{
    service_t *svc = *state;
    ln_db_t *db = s_connect (svc);
    assert_non_null (db);
    ln_outbox_batch_t batch = {0};

    /* 20,000 events of 256-byte payloads (a typical protobuf event). */
    char sql[512];
    snprintf (sql, sizeof sql,
              "INSERT INTO %s.outbox (event_id, type, level, correlation_id, time_us, payload)"
              " SELECT md5(g::text), 'nl.lantern.signal.received.v1', 3, 'sig-' || g,"
              " 1700000000000000 + g, decode(repeat(md5(g::text), 16), 'hex')"
              " FROM generate_series(1, 20000) g",
              svc->schema);
    assert_int_equal (ln_pgfix_exec (s_fix, sql), 0);
    assert_int_equal (s_stamp (db, 20000), 20000);
    snprintf (sql, sizeof sql, "VACUUM ANALYZE %s.outbox", svc->schema);
    assert_int_equal (ln_pgfix_exec (s_fix, sql), 0);

    enum { RUNS = 19 };
    int64_t us[RUNS];
    size_t bytes = 0;
    for (int i = 0; i < RUNS; i++) {
        uint64_t after = (uint64_t)i * 1000;
        int64_t t0 = s_now_us ();
        s_read (db, after, 1000, &batch);
        us[i] = s_now_us () - t0;
        assert_int_equal (batch.count, 1000);
        assert_int_equal (batch.rows[999].position, after + 1000);
        assert_int_equal (batch.rows[0].payload_size, 256);
        bytes = 0;
        for (size_t k = 0; k < batch.count; k++)
            bytes += batch.rows[k].payload_size;
    }
    qsort (us, RUNS, sizeof us[0], s_cmp_i64);
    print_message ("# read 1000 rows (256-byte payloads, %zu payload bytes): median %.2f ms, "
                   "best %.2f ms\n",
                   bytes, (double)us[RUNS / 2] / 1000, (double)us[0] / 1000);
    /* The target is well under 10 ms; allow for a loaded machine and ASan. */
    assert_true (us[RUNS / 2] < 50000);
    ln_outbox_batch_clear (&batch);
    ln_db_destroy (&db);
}

/* ln_outbox_append_batch: n events in one statement, in order, ids given
   or generated (32 hex characters, as ln_outbox_append's), one
   notification; every event checked before anything is sent; duplicates
   refused as a whole. */
static void
test_append_batch (void **state)
{
    service_t *svc = *state;
    ln_db_t *db = s_connect (svc);
    ln_db_t *listener = s_connect (svc);
    assert_true (db && listener);
    char channel[LN_OUTBOX_CHANNEL_SIZE];
    assert_int_equal (ln_outbox_channel (listener, channel, sizeof channel), 0);
    assert_int_equal (ln_outbox_listen (listener, NULL), 0);
    ln_error_t err;
    ln_error_clear (&err);
    const uint8_t payload[3] = {0, 1, 2};
    ln_outbox_event_t events[4] = {
        {NULL, "t.one", LN_LEVEL_INTERN, "c1", 0, payload, 3},
        {"given-id", "t.two", LN_LEVEL_OPENBAAR, NULL, 7, NULL, 0},
        {"", "t.three", LN_LEVEL_GEHEIM, "c3", 0, payload, 1},
        {NULL, "t.four", LN_LEVEL_INTERN, "", 0, payload, 2},
    };
    char ids[4][LN_OUTBOX_EVENT_ID_SIZE];

    /* outside a transaction */
    assert_int_equal (ln_outbox_append_batch (db, events, 4, ids, &err), -1);
    assert_string_equal (err.code, "OUTBOX_NO_TRANSACTION");

    s_begin (db);
    /* an invalid event: nothing written, the transaction still usable */
    ln_outbox_event_t bad[2] = {events[0], {NULL, "", LN_LEVEL_INTERN, NULL, 0, NULL, 0}};
    assert_int_equal (ln_outbox_append_batch (db, bad, 2, NULL, &err), -1);
    assert_string_equal (err.code, "OUTBOX_INVALID");
    assert_string_equal (err.field, "events[1].type");
    assert_int_equal (ln_outbox_append_batch (db, events, 0, NULL, &err), -1);
    assert_string_equal (err.code, "OUTBOX_INVALID");

    assert_int_equal (ln_outbox_append_batch (db, events, 4, ids, &err), 0);
    assert_string_equal (ids[1], "given-id");
    for (int i = 0; i < 4; i += (i == 0 ? 2 : 1)) {
        assert_int_equal (strlen (ids[i]), 32);
        assert_int_equal (strspn (ids[i], "0123456789abcdef"), 32);
    }
    assert_string_not_equal (ids[0], ids[2]);
    s_commit (db);

    /* one notification for the batch: it is stamped as it is written */
    char *got = s_wait_notify (listener, channel, 5000);
    assert_non_null (got);
    assert_string_equal (got, "stamp");
    free (got);
    got = s_wait_notify (listener, channel, 100);
    assert_null (got);

    /* in order, as given, with positions already: the relay has nothing to do */
    assert_int_equal (s_stamp (db, 10), 0);
    ln_outbox_batch_t batch = {0};
    assert_int_equal (ln_outbox_read (db, 0, 10, &batch, &err), 0);
    assert_int_equal (batch.count, 4);
    const char *types[4] = {"t.one", "t.two", "t.three", "t.four"};
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal (batch.rows[i].type, types[i]);
        assert_string_equal (batch.rows[i].event_id, ids[i]);
        assert_int_equal (batch.rows[i].level, events[i].level);
        assert_int_equal (batch.rows[i].payload_size, events[i].payload_size);
    }
    assert_string_equal (batch.rows[1].correlation_id, "");
    assert_int_equal (batch.rows[1].time_us, 7);
    assert_true (batch.rows[0].time_us > 0);
    ln_outbox_batch_clear (&batch);

    /* a duplicate id (already stored, or twice in the batch) refuses it all */
    ln_outbox_event_t dup[2] = {events[0], events[1]};
    s_begin (db);
    assert_int_equal (ln_outbox_append_batch (db, dup, 2, NULL, &err), -1);
    assert_string_equal (err.code, "OUTBOX_DUPLICATE_ID");
    assert_int_equal (ln_db_rollback (db), 0);
    ln_outbox_event_t twice[2] = {{"same", "t", LN_LEVEL_INTERN, NULL, 0, NULL, 0},
                                  {"same", "t", LN_LEVEL_INTERN, NULL, 0, NULL, 0}};
    s_begin (db);
    assert_int_equal (ln_outbox_append_batch (db, twice, 2, NULL, &err), -1);
    assert_string_equal (err.code, "OUTBOX_DUPLICATE_ID");
    assert_int_equal (ln_db_rollback (db), 0);
    assert_int_equal (s_super_count (svc, "SELECT count(*) FROM @.outbox"), 4);
    assert_int_equal (s_super_count (svc, "SELECT head FROM @.outbox_head"), 4);

    /* a rolled-back batch leaves no hole: its positions are handed out again */
    s_begin (db);
    ln_outbox_event_t later[2] = {{NULL, "t.five", LN_LEVEL_INTERN, NULL, 0, NULL, 0},
                                  {NULL, "t.six", LN_LEVEL_INTERN, NULL, 0, NULL, 0}};
    assert_int_equal (ln_outbox_append_batch (db, later, 2, NULL, &err), 0);
    assert_int_equal (ln_db_rollback (db), 0);
    s_begin (db);
    assert_int_equal (ln_outbox_append_batch (db, later, 2, NULL, &err), 0);
    s_commit (db);
    /* and one appended alone is stamped as it is written too: the relay
       finds nothing to do */
    ln_outbox_event_t alone = {NULL, "t.seven", LN_LEVEL_INTERN, NULL, 0, NULL, 0};
    s_begin (db);
    assert_int_equal (ln_outbox_append (db, &alone, NULL, 0, &err), 0);
    s_commit (db);
    assert_int_equal (s_stamp (db, 10), 0);
    assert_int_equal (ln_outbox_read (db, 0, 10, &batch, &err), 0);
    assert_int_equal (batch.count, 7);
    const char *all[7] = {"t.one", "t.two", "t.three", "t.four", "t.five", "t.six", "t.seven"};
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal (batch.rows[i].position, i + 1);
        assert_string_equal (batch.rows[i].type, all[i]);
    }
    ln_outbox_batch_clear (&batch);

    /* ln_outbox_check is append's check */
    assert_int_equal (ln_outbox_check (&events[0], &err), 0);
    assert_int_equal (ln_outbox_check (&bad[1], &err), -1);
    assert_string_equal (err.field, "type");
    ln_db_destroy (&listener);
    ln_db_destroy (&db);
}

/* Issue 9 point 8: positions follow commit order for every kind of
   append.  A single event is numbered as it is written, under the head's
   lock, held to the commit: a second writer's append waits for the first
   writer's commit and gets the next position.  (Before, single appends
   waited for the relay, and a batch committed later could be numbered
   before them.) */
typedef struct {
    service_t *svc;
    atomic_int appended; /* the second writer's append returned */
    int rc;
} second_t;

static void *
s_second_writer (void *arg)
{
    second_t *o = arg;
    ln_error_t err;
    ln_db_t *db = s_connect (o->svc);
    ln_outbox_event_t ev = {"second", "t.order", LN_LEVEL_INTERN, NULL, 0, NULL, 0};
    o->rc = -1;
    if (db && ln_db_begin (db) == 0 && ln_outbox_append (db, &ev, NULL, 0, &err) == 0) {
        atomic_store (&o->appended, 1);
        if (ln_db_commit (db) == 0)
            o->rc = 0;
    }
    ln_db_destroy (&db);
    return NULL;
}

static void
test_single_appends_follow_commit_order_point8 (void **state)
{
    service_t *svc = *state;
    ln_db_t *db = s_connect (svc);
    ln_error_t err;
    ln_outbox_batch_t batch = {0};
    ln_outbox_event_t first = {"first", "t.order", LN_LEVEL_INTERN, NULL, 0, NULL, 0};
    s_begin (db);
    assert_int_equal (ln_outbox_append (db, &first, NULL, 0, &err), 0);
    /* numbered at once, inside the transaction */
    second_t o = {.svc = svc, .appended = 0, .rc = -1};
    pthread_t t;
    assert_int_equal (pthread_create (&t, NULL, s_second_writer, &o), 0);
    s_sleep_us (300 * 1000);
    assert_int_equal (atomic_load (&o.appended), 0); /* waits for our commit */
    s_commit (db);
    pthread_join (t, NULL);
    assert_int_equal (o.rc, 0);
    assert_int_equal (s_stamp (db, 10), 0); /* nothing left for the relay */
    s_read (db, 0, 10, &batch);
    assert_int_equal (batch.count, 2);
    assert_string_equal (batch.rows[0].event_id, "first");
    assert_string_equal (batch.rows[1].event_id, "second");
    assert_int_equal (batch.rows[1].position, batch.rows[0].position + 1);
    ln_outbox_batch_clear (&batch);
    ln_db_destroy (&db);
}

int
main (void)
{
#define CASE(f) cmocka_unit_test_setup_teardown (f, s_case_setup, s_case_teardown)
    const struct CMUnitTest tests[] = {
        CASE (test_roundtrip),
        CASE (test_big_payloads),
        CASE (test_refusals),
        CASE (test_rollback),
        CASE (test_pitfall_a_inserted_first),
        CASE (test_pitfall_b_inserted_first),
        CASE (test_notify),
        CASE (test_stress_one_stamper),
        CASE (test_stress_two_stampers),
        CASE (test_prune),
        CASE (test_corrupt),
        CASE (test_read_speed),
        CASE (test_append_batch),
        CASE (test_single_appends_follow_commit_order_point8),
    };
    return cmocka_run_group_tests_name ("outbox", tests, s_setup, s_teardown);
}
