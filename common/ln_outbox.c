/*  ln_outbox: the transactional outbox.  See ln_outbox.h for the contract
    and for why stamping is correct.

    How the SQL is shaped, and why:
    - append is one statement (INSERT in a CTE + pg_notify), so that the
      event costs the caller's transaction one round trip.  The payload goes
      as hex text ('\x...') through ln_db_exec, so that a failure is
      classified by ln_db like every other statement of the transaction.
    - stamp first checks, outside any transaction, whether anything is
      unstamped (the partial index makes that one index probe): an idle
      relay then costs no transaction id, no row lock and no WAL.
    - stamp numbers rows with row_number() over the same (txid, id) order
      that the LIMIT uses, in one statement that also moves the head.
    - read is the replay hot path: binary results (the payload arrives as
      raw bytes, ~6x faster than hex text for 1000 rows of 256 bytes), and
      the batch keeps the PGresult so rows point into it without copying.
      ln_db_exec only returns text results, so read runs PQexecParams on
      ln_db_conn and classifies failures itself, as ln_db does.
*/
#include "ln_outbox.h"
#include "ln_alloc.h"
#include "ln_clock.h"

#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lantern.pb-c.h"
#include "ln_log.h"
#include "ln_utf8.h"

#define CHANNEL_PREFIX     "lantern_outbox_"
#define CHANNEL_KEEP       31 /* schema bytes kept when hashing a long name */
#define CHANNEL_HASH_HEX   16
#define GENERATED_ID_BYTES 16
#define READ_LIMIT_MAX     100000
#define PRUNE_CHUNK        10000
#define U64_TEXT           24

/* --- migration ------------------------------------------------------------- */

/* The tables live in the schema on the search_path (the service's own):
   nothing here is schema-qualified. */
const char ln_outbox_migration_sql[] =
    "CREATE TABLE outbox ("
    " id bigserial PRIMARY KEY,"
    /* the appending transaction (top level, also inside a savepoint):
       orders a batch so that a transaction's events stay together */
    " txid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),"
    " position bigint UNIQUE CHECK (position > 0),"
    " event_id text NOT NULL UNIQUE CHECK (event_id <> ''),"
    " type text NOT NULL CHECK (type <> ''),"
    " level smallint NOT NULL CHECK (level BETWEEN 0 AND 7),"
    " correlation_id text NOT NULL DEFAULT '',"
    " time_us bigint NOT NULL CHECK (time_us >= 0),"
    " payload bytea NOT NULL);\n"
    /* the relay's work list: unstamped rows only, in stamping order */
    "CREATE INDEX outbox_unstamped ON outbox (txid, id) WHERE position IS NULL;\n"
    "CREATE TABLE outbox_head ("
    " one boolean PRIMARY KEY DEFAULT true CHECK (one),"
    " head bigint NOT NULL DEFAULT 0 CHECK (head >= 0),"
    " pruned bigint NOT NULL DEFAULT 0 CHECK (pruned >= 0 AND pruned <= head));\n"
    "INSERT INTO outbox_head DEFAULT VALUES;\n";

const ln_migration_t ln_outbox_migration = LN_OUTBOX_MIGRATION;

/* --- helpers ------------------------------------------------------------------ */

/* Parse a non-negative decimal bigint as PostgreSQL prints it. */
static int
s_parse_u64 (const char *text, uint64_t *value)
{
    if (!text || *text < '0' || *text > '9')
        return -1;
    uint64_t v = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *value = v;
    return 0;
}

static int
s_check_text (const char *field, const char *value, size_t max, bool required, ln_error_t *err)
{
    size_t len = value ? strnlen (value, max + 1) : 0;
    if (required && len == 0) {
        ln_error_set (err, "OUTBOX_INVALID", field, "%s is required", field);
        return -1;
    }
    if (len > max) {
        ln_error_set (err, "OUTBOX_INVALID", field, "%s is longer than %zu bytes", field, max);
        return -1;
    }
    size_t bad = 0;
    if (len > 0 && ln_utf8_check (value, len, LN_UTF8_TEXT, &bad) != 0) {
        ln_error_set (err, "OUTBOX_INVALID", field, "%s is not valid UTF-8 text (byte %zu)", field,
                      bad);
        return -1;
    }
    return 0;
}

static bool
s_idle (ln_db_t *db)
{
    PGconn *conn = ln_db_conn (db);
    return conn && PQtransactionStatus (conn) == PQTRANS_IDLE;
}

/* Prefix a failure from ln_db with what we were doing, keeping its code. */
static void
s_wrap (ln_error_t *err, const char *what, const ln_error_t *cause)
{
    ln_error_set (err, cause->code ? cause->code : "DB_STATEMENT", cause->field, "%s: %s", what,
                  cause->message);
}

static bool
s_sqlstate_is_lost (const char *state)
{
    /* As ln_db: class 08, admin/crash shutdown, cannot connect now. */
    return state && strlen (state) == 5 &&
           (strncmp (state, "08", 2) == 0 || strcmp (state, "57P01") == 0 ||
            strcmp (state, "57P02") == 0 || strcmp (state, "57P03") == 0);
}

/* Run a read-only statement with text parameters and BINARY results on the
   raw connection, classifying failures as ln_db does (DB_CONNECTION_LOST /
   DB_STATEMENT, primary message only: DETAIL may quote row values). */
static PGresult *
s_exec_binary (ln_db_t *db, const char *what, const char *sql, int nparams,
               const char *const *params, ln_error_t *err)
{
    PGconn *conn = ln_db_conn (db);
    if (!conn || PQstatus (conn) != CONNECTION_OK) {
        ln_error_set (err, "DB_CONNECTION_LOST", NULL, "%s: connection lost", what);
        return NULL;
    }
    PGresult *res = PQexecParams (conn, sql, nparams, NULL, params, NULL, NULL, 1);
    if (PQresultStatus (res) == PGRES_TUPLES_OK)
        return res;

    const char *state = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char text[LN_ERROR_MESSAGE_MAX / 2];
    snprintf (text, sizeof text, "%s", primary && *primary ? primary : PQerrorMessage (conn));
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    if (PQstatus (conn) == CONNECTION_BAD || s_sqlstate_is_lost (state))
        ln_error_set (err, "DB_CONNECTION_LOST", NULL, "%s: connection lost: %s", what, text);
    else
        ln_error_set (err, "DB_STATEMENT", NULL, "%s: SQLSTATE %s: %s", what,
                      state && *state ? state : "?????", text);
    PQclear (res);
    return NULL;
}

/* --- channel ----------------------------------------------------------------------- */

int
ln_outbox_channel (const ln_db_t *db, char *out, size_t out_size)
{
    const char *schema = ln_db_schema (db);
    if (!schema || !out || out_size < LN_OUTBOX_CHANNEL_SIZE)
        return -1;
    size_t len = strlen (schema);
    if (sizeof CHANNEL_PREFIX - 1 + len <= LN_OUTBOX_CHANNEL_SIZE - 1) {
        snprintf (out, out_size, CHANNEL_PREFIX "%s", schema);
        return 0;
    }
    /* PostgreSQL truncates identifiers at 63 bytes (and pg_notify refuses
       longer channels), which would merge schemas sharing a long prefix: a
       hash of the full name keeps them apart. */
    unsigned char digest[crypto_hash_sha256_BYTES];
    char hex[crypto_hash_sha256_BYTES * 2 + 1];
    crypto_hash_sha256 (digest, (const unsigned char *)schema, len);
    sodium_bin2hex (hex, sizeof hex, digest, sizeof digest);
    snprintf (out, out_size, CHANNEL_PREFIX "%.*s_%.*s", CHANNEL_KEEP, schema, CHANNEL_HASH_HEX,
              hex);
    return 0;
}

int
ln_outbox_listen (ln_db_t *db, ln_error_t *err)
{
    char channel[LN_OUTBOX_CHANNEL_SIZE];
    char sql[LN_OUTBOX_CHANNEL_SIZE + 16];
    ln_error_t e;

    if (ln_outbox_channel (db, channel, sizeof channel) != 0) {
        ln_error_set (err, "OUTBOX_INVALID", "schema", "the connection has no schema");
        return -1;
    }
    /* LISTEN takes an identifier, not a parameter; the channel is made of
       [a-z0-9_] only (checked schema name, hex), so quoting is enough. */
    snprintf (sql, sizeof sql, "LISTEN \"%s\"", channel);
    if (ln_db_run (db, sql, 0, NULL, &e) != 0) {
        s_wrap (err, "outbox listen", &e);
        return -1;
    }
    return 0;
}

/* --- append ------------------------------------------------------------------------- */

int
ln_outbox_append (ln_db_t *db, const ln_outbox_event_t *ev, char *event_id_out, size_t out_size,
                  ln_error_t *err)
{
    char id[1][LN_OUTBOX_EVENT_ID_SIZE];
    if (!db || !ev) {
        ln_error_set (err, "OUTBOX_INVALID", NULL, "no database handle or event");
        return -1;
    }
    const char *given = ev->event_id && *ev->event_id ? ev->event_id : NULL;
    size_t need = given ? strlen (given) : 2 * GENERATED_ID_BYTES;
    if (event_id_out && out_size <= need) {
        ln_error_set (err, "OUTBOX_INVALID", "event_id_out",
                      "event_id_out holds %zu bytes, %zu needed", out_size, need + 1);
        return -1;
    }
    /* Stamped as it is written, like a batch (see the header, "ORDER"): a
       single event's position follows commit order too. */
    if (ln_outbox_append_batch (db, ev, 1, id, err) != 0) {
        /* one event: its field names need no "events[0]." */
        if (err && strncmp (err->field, "events[0].", 10) == 0)
            memmove (err->field, err->field + 10, strlen (err->field + 10) + 1);
        return -1;
    }
    if (event_id_out)
        snprintf (event_id_out, out_size, "%s", id[0]);
    return 0;
}

/* Random bytes for ids are taken from the system a pool at a time: one
   getrandom() per id cost the node about 5% of its thread under load.  The
   pool is per thread, so no lock is needed; a forked child empties its
   copy, so that it never hands out its parent's next ids. */
#define ID_POOL_BYTES (GENERATED_ID_BYTES * 64)

static _Thread_local unsigned char s_id_pool[ID_POOL_BYTES];
static _Thread_local size_t s_id_used = ID_POOL_BYTES;
static pthread_once_t s_id_once = PTHREAD_ONCE_INIT;

static void
s_id_pool_forget (void)
{
    s_id_used = ID_POOL_BYTES;
}

static void
s_id_pool_init (void)
{
    pthread_atfork (NULL, NULL, s_id_pool_forget);
}

void
ln_outbox_new_id (char out[LN_OUTBOX_EVENT_ID_SIZE])
{
    unsigned char *pool = s_id_pool;
    pthread_once (&s_id_once, s_id_pool_init);
    if (s_id_used == ID_POOL_BYTES) {
        randombytes_buf (pool, ID_POOL_BYTES);
        s_id_used = 0;
    }
    sodium_bin2hex (out, GENERATED_ID_BYTES * 2 + 1, pool + s_id_used, GENERATED_ID_BYTES);
    sodium_memzero (pool + s_id_used, GENERATED_ID_BYTES);
    s_id_used += GENERATED_ID_BYTES;
}

/* The checks of append, with field names prefixed ("events[3].type") when
   index >= 0. */
static int
s_check_event (const ln_outbox_event_t *ev, long index, ln_error_t *err)
{
    ln_error_t e;
    ln_error_clear (&e);
    const char *event_id = ev->event_id && *ev->event_id ? ev->event_id : NULL;
    if ((event_id && s_check_text ("event_id", event_id, LN_OUTBOX_EVENT_ID_MAX, true, &e) != 0) ||
        s_check_text ("type", ev->type, LN_OUTBOX_TYPE_MAX, true, &e) != 0 ||
        s_check_text ("correlation_id", ev->correlation_id, LN_OUTBOX_CORRELATION_ID_MAX, false,
                      &e) != 0)
        goto bad;
    if (!ln_level_name (ev->level)) {
        ln_error_set (&e, "OUTBOX_INVALID", "level", "level %d is not a confidentiality level",
                      (int)ev->level);
        goto bad;
    }
    if (ev->time_us < 0) {
        ln_error_set (&e, "OUTBOX_INVALID", "time_us", "time_us must not be negative");
        goto bad;
    }
    if (ev->payload_size > LN_OUTBOX_PAYLOAD_MAX || (ev->payload_size > 0 && !ev->payload)) {
        ln_error_set (&e, "OUTBOX_INVALID", "payload", "payload missing or larger than %u bytes",
                      LN_OUTBOX_PAYLOAD_MAX);
        goto bad;
    }
    return 0;
bad:
    if (index < 0)
        *err = e;
    else {
        char field[LN_ERROR_FIELD_MAX + 32];
        snprintf (field, sizeof field, "events[%ld].%.64s", index, e.field);
        ln_error_set (err, e.code, field, "events[%ld]: %s", index, e.message);
    }
    return -1;
}

int
ln_outbox_check (const ln_outbox_event_t *ev, ln_error_t *err)
{
    if (!ev) {
        ln_error_set (err, "OUTBOX_INVALID", NULL, "no event");
        return -1;
    }
    return s_check_event (ev, -1, err);
}

#define APPEND_ARRAYS 6

int
ln_outbox_encode (ln_db_t *db, const ln_outbox_event_t *events, size_t n,
                  char (*ids_out)[LN_OUTBOX_EVENT_ID_SIZE], ln_outbox_encoded_t *enc,
                  ln_error_t *err)
{
    char generated[LN_OUTBOX_EVENT_ID_SIZE];
    memset (enc, 0, sizeof *enc);
    if (!db || !events || n == 0 || n > INT32_MAX) {
        ln_error_set (err, "OUTBOX_INVALID", NULL, "no database handle or no events");
        return -1;
    }
    if (ln_outbox_channel (db, enc->channel, sizeof enc->channel) != 0) {
        ln_error_set (err, "OUTBOX_INVALID", "schema", "the connection has no schema");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (s_check_event (&events[i], (long)i, err) != 0)
            return -1;

    ln_db_array_t *arrays = enc->arrays;
    ln_db_array_init (&arrays[0], LN_DB_OID_TEXT);
    ln_db_array_init (&arrays[1], LN_DB_OID_TEXT);
    ln_db_array_init (&arrays[2], LN_DB_OID_INT2);
    ln_db_array_init (&arrays[3], LN_DB_OID_TEXT);
    ln_db_array_init (&arrays[4], LN_DB_OID_INT8);
    ln_db_array_init (&arrays[5], LN_DB_OID_BYTEA);
    int64_t now = ln_clock_wall_us ();
    for (size_t i = 0; i < n; i++) {
        const ln_outbox_event_t *ev = &events[i];
        const char *event_id = ev->event_id;
        if (!event_id || !*event_id) {
            ln_outbox_new_id (generated);
            event_id = generated;
        }
        if (ids_out)
            snprintf (ids_out[i], LN_OUTBOX_EVENT_ID_SIZE, "%s", event_id);
        ln_db_array_add_text (&arrays[0], event_id);
        ln_db_array_add_text (&arrays[1], ev->type);
        ln_db_array_add_int2 (&arrays[2], (int16_t)ev->level);
        ln_db_array_add_text (&arrays[3], ev->correlation_id ? ev->correlation_id : "");
        ln_db_array_add_int8 (&arrays[4], ev->time_us ? ev->time_us : now);
        ln_db_array_add (&arrays[5], ev->payload, ev->payload_size);
    }
    for (int a = 0; a < APPEND_ARRAYS; a++) {
        enc->values[a] = ln_db_array_data (&arrays[a]);
        enc->lengths[a] = ln_db_array_size (&arrays[a]);
        enc->formats[a] = 1;
        if (enc->lengths[a] < 0) {
            ln_error_set (err, "OUTBOX_INVALID", "events", "the batch is larger than 2 GB");
            ln_outbox_encoded_clear (enc);
            return -1;
        }
    }
    enc->values[APPEND_ARRAYS] = enc->channel;
    snprintf (enc->count, sizeof enc->count, "%zu", n);
    enc->values[APPEND_ARRAYS + 1] = enc->count;
    enc->formats[APPEND_ARRAYS] = enc->formats[APPEND_ARRAYS + 1] = 0;
    enc->n = n;
    /* STAMPED AT INSERT (see the header, "A BATCH IS STAMPED AS IT IS
       WRITTEN"): the statement moves the head by n, which locks the head
       row until the transaction ends, and gives the rows head+1..head+n in
       the caller's order.  One pg_notify 'stamp' for the batch, heard at
       commit, as after a relay's stamp. */
    enc->stmt = (ln_db_stmt_t){
        .name = "ln_outbox_append_batch",
        .sql =
            "WITH h AS ("
            " UPDATE outbox_head SET head = head + $8::bigint"
            " RETURNING head - $8::bigint AS base),"
            " ins AS ("
            " INSERT INTO outbox (event_id, type, level, correlation_id, time_us, payload,"
            "  position)"
            " SELECT u.event_id, u.type, u.level, u.correlation_id, u.time_us, u.payload,"
            "  h.base + u.n"
            " FROM unnest ($1::text[], $2::text[], $3::int2[], $4::text[], $5::int8[],"
            "  $6::bytea[])"
            "  WITH ORDINALITY AS u (event_id, type, level, correlation_id, time_us, payload, n),"
            "  h"
            " ORDER BY u.n RETURNING 1)"
            " SELECT (SELECT count(*) FROM ins), pg_catalog.pg_notify ($7, 'stamp')",
        .nparams = APPEND_ARRAYS + 2,
        .values = enc->values,
        .lengths = enc->lengths,
        .formats = enc->formats,
        .result_format = 0,
    };
    return 0;
}

int
ln_outbox_encoded_check (ln_db_t *db, const ln_outbox_encoded_t *enc, const PGresult *res,
                         ln_error_t *err)
{
    uint64_t count = 0;
    if (!res) {
        if (strcmp (ln_db_last_sqlstate (db), "23505") == 0)
            ln_error_set (err, "OUTBOX_DUPLICATE_ID", "event_id",
                          "an event_id of the batch is already in the outbox (or twice in it)");
        else
            s_wrap (err, "outbox append", ln_db_last_error (db));
        return -1;
    }
    if (PQntuples (res) != 1 || s_parse_u64 (PQgetvalue (res, 0, 0), &count) != 0 ||
        count != enc->n) {
        ln_error_set (err, "OUTBOX_CORRUPT", NULL, "append: inserted %s of %zu rows",
                      PQntuples (res) == 1 ? PQgetvalue (res, 0, 0) : "?", enc->n);
        return -1;
    }
    return 0;
}

void
ln_outbox_encoded_clear (ln_outbox_encoded_t *enc)
{
    for (int a = 0; a < APPEND_ARRAYS; a++)
        ln_db_array_clear (&enc->arrays[a]);
    memset (enc, 0, sizeof *enc);
}

int
ln_outbox_append_batch (ln_db_t *db, const ln_outbox_event_t *events, size_t n,
                        char (*ids_out)[LN_OUTBOX_EVENT_ID_SIZE], ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    ln_outbox_encoded_t enc;
    ln_error_t e;

    if (!db || !events || n == 0 || n > INT32_MAX) {
        ln_error_set (err, "OUTBOX_INVALID", NULL, "no database handle or no events");
        return -1;
    }
    PGconn *conn = ln_db_conn (db);
    if (!conn || PQtransactionStatus (conn) != PQTRANS_INTRANS) {
        ln_error_set (err, "OUTBOX_NO_TRANSACTION", NULL,
                      "append must run inside the caller's open (not failed) transaction");
        return -1;
    }
    if (ln_outbox_encode (db, events, n, ids_out, &enc, err) != 0)
        return -1;
    const ln_db_stmt_t *st = &enc.stmt;
    res = ln_db_exec_prepared (db, st->name, st->sql, st->nparams, st->values, st->lengths,
                               st->formats, st->result_format, &e);
    if (ln_outbox_encoded_check (db, &enc, res, err) != 0)
        goto out;
    rc = 0;
out:
    PQclear (res);
    ln_outbox_encoded_clear (&enc);
    return rc;
}

/* --- stamp ------------------------------------------------------------------------- */

int
ln_outbox_stamp (ln_db_t *db, size_t max_rows, size_t *stamped, ln_error_t *err)
{
    int rc = -1;
    bool in_tx = false;
    PGresult *res = NULL;
    char channel[LN_OUTBOX_CHANNEL_SIZE];
    char limit[U64_TEXT];
    uint64_t head = 0, n = 0;
    ln_error_t e;

    if (stamped)
        *stamped = 0;
    if (!db || max_rows == 0 || max_rows > INT32_MAX) {
        ln_error_set (err, "OUTBOX_INVALID", "max_rows",
                      "need a database handle and max_rows >= 1");
        goto out;
    }
    if (!s_idle (db)) {
        ln_error_set (err, "OUTBOX_IN_TRANSACTION", NULL,
                      "stamp runs its own transaction; the connection has one open");
        goto out;
    }
    if (ln_outbox_channel (db, channel, sizeof channel) != 0) {
        ln_error_set (err, "OUTBOX_INVALID", "schema", "the connection has no schema");
        goto out;
    }

    /* Cheap exit when idle.  A row committed just after this check is not
       lost: its commit's notification wakes the relay again. */
    res = ln_db_exec_prepared (db, "ln_outbox_stamp_any",
                               "SELECT EXISTS (SELECT 1 FROM outbox WHERE position IS NULL)", 0,
                               NULL, NULL, NULL, 0, &e);
    if (!res) {
        s_wrap (err, "outbox stamp", &e);
        goto out;
    }
    if (strcmp (PQgetvalue (res, 0, 0), "t") != 0) {
        rc = 0;
        goto out;
    }
    PQclear (res);
    res = NULL;

    /* READ COMMITTED explicitly: each statement below must get a fresh
       snapshot (see ln_outbox.h, THE STAMPING RULE). */
    if (ln_db_run (db, "BEGIN ISOLATION LEVEL READ COMMITTED", 0, NULL, &e) != 0) {
        s_wrap (err, "outbox stamp", &e);
        goto out;
    }
    in_tx = true;

    /* Statement 1: the lock.  Blocks while another stamper (or pruner) holds
       it; returns the head as that one committed it. */
    res =
        ln_db_exec_prepared (db, "ln_outbox_stamp_lock", "SELECT head FROM outbox_head FOR UPDATE",
                             0, NULL, NULL, NULL, 0, &e);
    if (!res) {
        s_wrap (err, "outbox stamp: lock head", &e);
        goto out;
    }
    if (PQntuples (res) != 1 || s_parse_u64 (PQgetvalue (res, 0, 0), &head) != 0) {
        ln_error_set (err, "OUTBOX_CORRUPT", "outbox_head",
                      "outbox_head must hold exactly one row");
        goto out;
    }
    PQclear (res);
    res = NULL;

    /* Statement 2, with a snapshot taken after the lock was granted: number
       the visible (= committed) unstamped rows after the head, move the head,
       wake the listeners.  Data-modifying CTEs always run to completion. */
    char head_text[U64_TEXT];
    snprintf (head_text, sizeof head_text, "%" PRIu64, head);
    snprintf (limit, sizeof limit, "%zu", max_rows);
    const char *params[3] = {limit, head_text, channel};
    /* Not prepared: a generic plan made while the outbox was small keeps a
       hash join over the whole table (seen: 3-7 ms per stamp after a few
       seconds); planned each time it finds the rows by index.  Under load
       the relay stamps at most every 20 ms, so planning costs little. */
    res = ln_db_exec (db,
                      "WITH pick AS ("
                      "  SELECT id, txid FROM outbox WHERE position IS NULL"
                      "  ORDER BY txid, id LIMIT $1::bigint),"
                      " numbered AS ("
                      "  SELECT id, row_number() OVER (ORDER BY txid, id) AS rn FROM pick),"
                      " upd AS ("
                      "  UPDATE outbox o SET position = $2::bigint + n.rn"
                      "  FROM numbered n WHERE o.id = n.id RETURNING 1),"
                      " cnt AS (SELECT count(*) AS n FROM upd),"
                      " moved AS ("
                      "  UPDATE outbox_head SET head = head + cnt.n FROM cnt WHERE cnt.n > 0"
                      "  RETURNING 1)"
                      " SELECT cnt.n,"
                      "  (SELECT pg_catalog.pg_notify($3, 'stamp') WHERE cnt.n > 0)"
                      " FROM cnt",
                      3, params, &e);
    if (!res) {
        s_wrap (err, "outbox stamp", &e);
        goto out;
    }
    if (s_parse_u64 (PQgetvalue (res, 0, 0), &n) != 0 || n > max_rows) {
        ln_error_set (err, "OUTBOX_CORRUPT", NULL, "stamp: unexpected row count");
        goto out;
    }
    if (ln_db_commit (db) != 0) {
        s_wrap (err, "outbox stamp: commit", ln_db_last_error (db));
        goto out;
    }
    in_tx = false;
    if (stamped)
        *stamped = (size_t)n;
    rc = 0;
out:
    if (in_tx)
        ln_db_rollback (db);
    PQclear (res);
    return rc;
}

/* --- read ---------------------------------------------------------------------------- */

void
ln_outbox_batch_clear (ln_outbox_batch_t *batch)
{
    if (!batch)
        return;
    PQclear ((PGresult *)batch->res);
    free (batch->rows);
    memset (batch, 0, sizeof *batch);
}

/* Release the previous result but keep the rows array for reuse. */
static void
s_batch_reset (ln_outbox_batch_t *batch)
{
    PQclear ((PGresult *)batch->res);
    batch->res = NULL;
    batch->count = 0;
    batch->first = batch->last = 0;
}

int
ln_outbox_bounds (ln_db_t *db, uint64_t *first, uint64_t *last, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    uint64_t head = 0, pruned = 0;
    ln_error_t e;

    if (!db) {
        ln_error_set (err, "OUTBOX_INVALID", NULL, "no database handle");
        goto out;
    }
    res = ln_db_exec_prepared (db, "ln_outbox_bounds", "SELECT head, pruned FROM outbox_head", 0,
                               NULL, NULL, NULL, 0, &e);
    if (!res) {
        s_wrap (err, "outbox bounds", &e);
        goto out;
    }
    if (PQntuples (res) != 1 || s_parse_u64 (PQgetvalue (res, 0, 0), &head) != 0 ||
        s_parse_u64 (PQgetvalue (res, 0, 1), &pruned) != 0 || pruned > head) {
        ln_error_set (err, "OUTBOX_CORRUPT", "outbox_head",
                      "outbox_head must hold exactly one row");
        goto out;
    }
    if (first)
        *first = pruned + 1;
    if (last)
        *last = head;
    rc = 0;
out:
    PQclear (res);
    return rc;
}

int
ln_outbox_read (ln_db_t *db, uint64_t after_position, size_t limit, ln_outbox_batch_t *batch,
                ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    char after_text[U64_TEXT];
    char limit_text[U64_TEXT];
    int64_t pruned = 0, head = 0;

    if (!batch) {
        ln_error_set (err, "OUTBOX_INVALID", "batch", "no batch");
        return -1;
    }
    s_batch_reset (batch);
    if (!db || limit == 0 || limit > READ_LIMIT_MAX || after_position > INT64_MAX) {
        ln_error_set (err, "OUTBOX_INVALID", "limit",
                      "need a database handle, 1 <= limit <= %d, after_position <= 2^63-1",
                      READ_LIMIT_MAX);
        goto out;
    }
    snprintf (after_text, sizeof after_text, "%" PRIu64, after_position);
    snprintf (limit_text, sizeof limit_text, "%zu", limit);
    char bytes_text[U64_TEXT];
    snprintf (bytes_text, sizeof bytes_text, "%u", LN_OUTBOX_READ_BYTES);
    const char *params[3] = {after_text, limit_text, bytes_text};
    /* One statement, one snapshot: the bounds (uncorrelated subqueries, run
       once) agree with the rows.  The range scan on the position index
       returns them in order without a sort. */
    /* The running sum cuts the batch before LN_OUTBOX_READ_BYTES of payload
       (the first row always passes), so that memory stays bounded whatever
       the limit; octet_length does not detoast. */
    res = s_exec_binary (db, "outbox read",
                         "SELECT (SELECT pruned FROM outbox_head), (SELECT head FROM outbox_head),"
                         " position, event_id, type, level, correlation_id, time_us, payload,"
                         " redacted_us IS NOT NULL"
                         " FROM (SELECT position, event_id, type, level, correlation_id, time_us,"
                         "  payload, redacted_us,"
                         "  sum(octet_length(payload)) OVER (ORDER BY position) AS run"
                         "  FROM outbox WHERE position > $1::bigint"
                         "  ORDER BY position LIMIT $2::bigint) s"
                         " WHERE run - octet_length(payload) < $3::bigint"
                         " ORDER BY position",
                         3, params, err);
    if (!res)
        goto out;
    int ntuples = PQntuples (res);
    if (ntuples == 0) {
        /* Nothing after the cursor: caught up, or everything after it was
           pruned.  Bounds from a later snapshot are just as right here: if
           the cursor is below pruned now, its next event is gone. */
        uint64_t first = 0, last = 0;
        if (ln_outbox_bounds (db, &first, &last, err) != 0)
            goto out;
        batch->first = first;
        batch->last = last;
        if (after_position < first - 1) {
            ln_error_set (err, "OUTBOX_PRUNED", "after_position",
                          "position %" PRIu64 " was pruned; the oldest held is %" PRIu64,
                          after_position + 1, first);
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (PQnfields (res) != 10 || ln_db_int_value (res, 0, 0, 8, &pruned) != 0 ||
        ln_db_int_value (res, 0, 1, 8, &head) != 0 || pruned < 0 || head < pruned) {
        ln_error_set (err, "OUTBOX_CORRUPT", "outbox_head",
                      "outbox_head must hold exactly one row");
        goto out;
    }
    batch->first = (uint64_t)pruned + 1;
    batch->last = (uint64_t)head;
    if (after_position < (uint64_t)pruned) {
        ln_error_set (err, "OUTBOX_PRUNED", "after_position",
                      "position %" PRIu64 " was pruned; the oldest held is %" PRIu64,
                      after_position + 1, batch->first);
        goto out;
    }
    if ((size_t)ntuples > batch->capacity) {
        batch->rows = ln_xrealloc (batch->rows, (size_t)ntuples, sizeof *batch->rows);
        batch->capacity = (size_t)ntuples;
    }
    for (int i = 0; i < ntuples; i++) {
        ln_outbox_row_t *row = &batch->rows[i];
        int64_t position = 0, level = 0, time_us = 0;
        if (ln_db_int_value (res, i, 2, 8, &position) != 0 ||
            ln_db_int_value (res, i, 5, 2, &level) != 0 ||
            ln_db_int_value (res, i, 7, 8, &time_us) != 0 || PQgetisnull (res, i, 3) ||
            PQgetisnull (res, i, 4) || PQgetisnull (res, i, 6) || PQgetisnull (res, i, 8)) {
            ln_error_set (err, "OUTBOX_CORRUPT", "outbox", "unexpected NULL or type in outbox");
            goto out;
        }
        /* The no-skip guarantee, checked: a hole would make a subscriber
           silently lose events, so refuse to deliver past one. */
        if ((uint64_t)position != after_position + 1 + (uint64_t)i) {
            ln_error_set (err, "OUTBOX_CORRUPT", "outbox.position",
                          "expected position %" PRIu64 ", found %" PRId64
                          ": the outbox was changed by hand",
                          after_position + 1 + (uint64_t)i, position);
            goto out;
        }
        if (level < 0 || level >= LN_LEVEL_COUNT) {
            ln_error_set (err, "OUTBOX_CORRUPT", "outbox.level",
                          "position %" PRId64 " has level %" PRId64, position, level);
            goto out;
        }
        row->position = (uint64_t)position;
        row->level = (ln_level_t)level;
        row->time_us = time_us;
        /* Binary text is the raw UTF-8, and libpq ends every value with a
           NUL byte, so these are C strings. */
        row->event_id = PQgetvalue (res, i, 3);
        row->type = PQgetvalue (res, i, 4);
        row->correlation_id = PQgetvalue (res, i, 6);
        row->payload = (const uint8_t *)PQgetvalue (res, i, 8);
        row->payload_size = (size_t)PQgetlength (res, i, 8);
        row->redacted = PQgetlength (res, i, 9) == 1 && PQgetvalue (res, i, 9)[0] != 0;
    }
    batch->count = (size_t)ntuples;
    batch->res = res;
    res = NULL;
    rc = 0;
out:
    PQclear (res);
    return rc;
}

/* --- prune --------------------------------------------------------------------------- */

int
ln_outbox_prune (ln_db_t *db, int64_t cutoff_time_us, uint64_t *pruned, ln_error_t *err)
{
    int rc = -1;
    bool in_tx = false;
    PGresult *res = NULL;
    char cutoff[U64_TEXT];
    uint64_t target = 0, total = 0;
    ln_error_t e;

    if (pruned)
        *pruned = 0;
    if (!db) {
        ln_error_set (err, "OUTBOX_INVALID", NULL, "no database handle");
        goto out;
    }
    if (!s_idle (db)) {
        ln_error_set (err, "OUTBOX_IN_TRANSACTION", NULL,
                      "prune runs its own transactions; the connection has one open");
        goto out;
    }
    /* The end of the prefix: the newest stamped event older than the cutoff.
       A full scan (no index on time_us: it would cost every append), fine
       for a periodic job.  Rows stamped later have later positions, so the
       target stays a prefix whatever happens meanwhile. */
    snprintf (cutoff, sizeof cutoff, "%" PRId64, cutoff_time_us);
    const char *p1[1] = {cutoff};
    res = ln_db_exec (db,
                      "SELECT max(position) FROM outbox"
                      " WHERE position IS NOT NULL AND time_us < $1::bigint",
                      1, p1, &e);
    if (!res) {
        s_wrap (err, "outbox prune", &e);
        goto out;
    }
    if (PQgetisnull (res, 0, 0)) {
        rc = 0; /* nothing old enough */
        goto out;
    }
    if (s_parse_u64 (PQgetvalue (res, 0, 0), &target) != 0) {
        ln_error_set (err, "OUTBOX_CORRUPT", "outbox.position", "bad position");
        goto out;
    }
    PQclear (res);
    res = NULL;

    /* Chunks of their own transactions, so that the head lock (which
       stampers need) is never held for long. */
    for (;;) {
        uint64_t head = 0, low = 0;
        if (ln_db_run (db, "BEGIN ISOLATION LEVEL READ COMMITTED", 0, NULL, &e) != 0) {
            s_wrap (err, "outbox prune", &e);
            goto out;
        }
        in_tx = true;
        res = ln_db_exec (db, "SELECT head, pruned FROM outbox_head FOR UPDATE", 0, NULL, &e);
        if (!res) {
            s_wrap (err, "outbox prune: lock head", &e);
            goto out;
        }
        if (PQntuples (res) != 1 || s_parse_u64 (PQgetvalue (res, 0, 0), &head) != 0 ||
            s_parse_u64 (PQgetvalue (res, 0, 1), &low) != 0 || target > head) {
            ln_error_set (err, "OUTBOX_CORRUPT", "outbox_head",
                          "outbox_head must hold exactly one row at or above every position");
            goto out;
        }
        PQclear (res);
        res = NULL;
        if (target <= low)
            break; /* done (or another pruner got there first) */
        uint64_t upto = target - low > PRUNE_CHUNK ? low + PRUNE_CHUNK : target;
        char low_text[U64_TEXT], upto_text[U64_TEXT];
        snprintf (low_text, sizeof low_text, "%" PRIu64, low);
        snprintf (upto_text, sizeof upto_text, "%" PRIu64, upto);
        const char *p2[2] = {low_text, upto_text};
        res = ln_db_exec (db,
                          "WITH d AS (DELETE FROM outbox"
                          "  WHERE position > $1::bigint AND position <= $2::bigint RETURNING 1),"
                          " u AS (UPDATE outbox_head SET pruned = $2::bigint RETURNING 1)"
                          " SELECT count(*) FROM d",
                          2, p2, &e);
        uint64_t n = 0;
        if (!res) {
            s_wrap (err, "outbox prune", &e);
            goto out;
        }
        if (s_parse_u64 (PQgetvalue (res, 0, 0), &n) != 0) {
            ln_error_set (err, "OUTBOX_CORRUPT", NULL, "prune: unexpected row count");
            goto out;
        }
        PQclear (res);
        res = NULL;
        if (ln_db_commit (db) != 0) {
            s_wrap (err, "outbox prune: commit", ln_db_last_error (db));
            goto out;
        }
        in_tx = false;
        if (n != upto - low)
            ln_log_warn ("outbox prune found a hole", "from=%llu to=%llu deleted=%llu",
                         (unsigned long long)low + 1, (unsigned long long)upto,
                         (unsigned long long)n);
        total += n;
        if (pruned)
            *pruned = total;
    }
    rc = 0;
out:
    if (in_tx)
        ln_db_rollback (db);
    PQclear (res);
    return rc;
}

/* --- erasure ------------------------------------------------------------------------ */

const ln_migration_t ln_outbox_redaction_migration = {
    8, "outbox_redaction",
    /* set when ln_outbox_erase removed the payload; the row keeps its
       position so that the log stays dense */
    "ALTER TABLE outbox ADD COLUMN redacted_us bigint;\n"};

int
ln_outbox_erase (ln_db_t *db, const char *const *correlation_ids, size_t n, const char *reason,
                 ln_level_t level, uint64_t *redacted, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    ln_db_array_t ids;
    ln_outbox_event_t *events = NULL;
    uint8_t **payloads = NULL;
    ln_error_t e;
    char now[U64_TEXT];
    ln_db_array_init (&ids, LN_DB_OID_TEXT);
    if (redacted)
        *redacted = 0;
    if (!db || (n > 0 && !correlation_ids) || !reason || !ln_level_name (level)) {
        ln_error_set (err, "OUTBOX_INVALID", NULL, "erase needs ids, a reason and a level");
        goto out;
    }
    if (n == 0) {
        rc = 0;
        goto out;
    }
    PGconn *conn = ln_db_conn (db);
    if (!conn || PQtransactionStatus (conn) != PQTRANS_INTRANS) {
        ln_error_set (err, "OUTBOX_NO_TRANSACTION", NULL,
                      "erase must run inside the caller's open (not failed) transaction");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (s_check_text ("correlation_id", correlation_ids[i], LN_OUTBOX_CORRELATION_ID_MAX, true,
                          err) != 0)
            goto out;
        ln_db_array_add_text (&ids, correlation_ids[i]);
    }
    snprintf (now, sizeof now, "%" PRId64, ln_clock_wall_us ());
    const char *values[3] = {ln_db_array_data (&ids), now, LN_OUTBOX_TYPE_ERASED};
    int lengths[3] = {ln_db_array_size (&ids), 0, 0};
    int formats[3] = {1, 0, 0};
    /* Without an index on correlation_id (it would cost every append), one
       scan of the log per call: erase many records in one call. */
    res =
        ln_db_exec_prepared (db, "ln_outbox_erase",
                             "WITH u AS (UPDATE outbox SET payload = '\\x'::bytea,"
                             "  redacted_us = $2::bigint"
                             " WHERE correlation_id = ANY ($1::text[]) AND redacted_us IS NULL"
                             "  AND type <> $3::text RETURNING correlation_id)"
                             " SELECT i.id, (SELECT count(*) FROM u WHERE u.correlation_id = i.id)"
                             " FROM unnest ($1::text[]) WITH ORDINALITY AS i (id, n) ORDER BY i.n",
                             3, values, lengths, formats, 0, &e);
    if (!res) {
        s_wrap (err, "outbox erase", &e);
        goto out;
    }
    if ((size_t)PQntuples (res) != n) {
        ln_error_set (err, "OUTBOX_CORRUPT", NULL, "erase: %d rows for %zu ids", PQntuples (res),
                      n);
        goto out;
    }
    events = calloc (n, sizeof *events);
    payloads = calloc (n, sizeof *payloads);
    if (!events || !payloads)
        abort ();
    for (size_t i = 0; i < n; i++) {
        uint64_t count = 0;
        if (s_parse_u64 (PQgetvalue (res, (int)i, 1), &count) != 0) {
            ln_error_set (err, "OUTBOX_CORRUPT", NULL, "erase: unreadable count");
            goto out;
        }
        if (redacted)
            *redacted += count;
        Lantern__V1__RecordErased erased = LANTERN__V1__RECORD_ERASED__INIT;
        erased.correlation_id = (char *)correlation_ids[i];
        erased.reason = (char *)reason;
        erased.events_redacted = count;
        size_t size = lantern__v1__record_erased__get_packed_size (&erased);
        payloads[i] = malloc (size ? size : 1);
        if (!payloads[i])
            abort ();
        lantern__v1__record_erased__pack (&erased, payloads[i]);
        events[i] = (ln_outbox_event_t){
            .type = LN_OUTBOX_TYPE_ERASED,
            .level = level,
            .correlation_id = correlation_ids[i],
            .payload = payloads[i],
            .payload_size = size,
        };
    }
    if (ln_outbox_append_batch (db, events, n, NULL, err) != 0)
        goto out;
    rc = 0;
out:
    if (payloads)
        for (size_t i = 0; i < n; i++)
            free (payloads[i]);
    free (payloads);
    free (events);
    PQclear (res);
    ln_db_array_clear (&ids);
    return rc;
}
