/*  ln_audit: append-only, hash-chained audit trail.  See ln_audit.h for the
    contract and the canonical encoding.

    Why things are as they are:
    - seq and prev_hash come from audit_head, locked FOR UPDATE, not from a
      sequence: a sequence value is taken before commit and lost on
      rollback, which would leave gaps that look exactly like deleted rows.
      The head lock makes writers take turns, so seq is dense and in commit
      order.
    - A batch is sent as one INSERT ... SELECT FROM unnest(arrays): the
      arrays travel as binary parameters (ln_db_array_t: no quoting, no
      hex), so a batch of hundreds of entries costs two round trips (lock
      the head; insert + move the head) instead of hundreds.  Both
      statements are prepared once per connection (ln_db_exec_prepared).
    - The hash is computed here, over the UTF-8 bytes as C holds them, with
      libsodium; the database only stores it.  Verification reads the rows
      back and recomputes, so client_encoding must be UTF8 on both ends.
    - Verification runs in one REPEATABLE READ snapshot, so appenders working
      meanwhile cannot make a consistent chain look broken, and reads in
      keyset-paginated chunks, so memory stays bounded for any length.
*/
#include "ln_audit.h"
#include "ln_clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ln_utf8.h"

/* Entries per INSERT statement: keeps one statement's parameters a few MB
   at most, while a group-commit batch (hundreds) is still one statement. */
#define APPEND_CHUNK 512
/* Rows per verification query. */
#define VERIFY_CHUNK 2000
#define FIELD_COUNT  7
/* Array parameters of one INSERT: at_us, the text fields, prev_hash, hash. */
#define ARRAY_COUNT (1 + FIELD_COUNT + 2)
#define DOMAIN_TAG  "lantern-audit-v1"

const ln_migration_t ln_audit_migration = {
    2, "audit",
    "CREATE TABLE audit ("
    "  seq          bigint PRIMARY KEY CHECK (seq > 0),"
    "  at_us        bigint NOT NULL,"
    "  principal    text,"
    "  organisation text,"
    "  action       text NOT NULL,"
    "  object       text,"
    "  outcome      text NOT NULL,"
    "  reason       text,"
    "  request_id   text,"
    "  prev_hash    bytea NOT NULL,"
    "  hash         bytea NOT NULL"
    ");\n"
    "COMMENT ON TABLE audit IS 'append-only, hash-chained audit trail (common/ln_audit.h)';\n"
    /* One row, ever: the boolean key can only be true. */
    "CREATE TABLE audit_head ("
    "  id   boolean PRIMARY KEY DEFAULT true CHECK (id),"
    "  seq  bigint NOT NULL CHECK (seq >= 0),"
    "  hash bytea NOT NULL"
    ");\n"
    "INSERT INTO audit_head (id, seq, hash) VALUES (true, 0, decode(repeat('00', 32), 'hex'));\n"
    "CREATE FUNCTION audit_append_only () RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  RAISE EXCEPTION 'audit is append-only: % on % refused', TG_OP, TG_TABLE_NAME\n"
    "    USING HINT = 'audit rows are never changed or removed; the hash chain would show it';\n"
    "END $$;\n"
    "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit"
    "  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only ();\n"
    "CREATE TRIGGER audit_head_keep BEFORE DELETE OR TRUNCATE ON audit_head"
    "  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only ();\n"
    "CREATE FUNCTION audit_head_forward () RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF NEW.seq <= OLD.seq THEN\n"
    "    RAISE EXCEPTION 'audit_head only moves forward: seq % to % refused', OLD.seq, NEW.seq;\n"
    "  END IF;\n"
    "  RETURN NEW;\n"
    "END $$;\n"
    "CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head"
    "  FOR EACH ROW EXECUTE FUNCTION audit_head_forward ();\n"};

/* --- small helpers ------------------------------------------------------------ */

/* Parse a decimal int64 that must be the whole string. */
static int
s_parse_i64 (const char *text, int64_t *out)
{
    if (!text || !*text)
        return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll (text, &end, 10);
    if (errno != 0 || !end || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Hex (exactly 64 digits) to 32 bytes. */
static int
s_parse_hash (const char *hex, uint8_t out[LN_AUDIT_HASH_BYTES])
{
    size_t bin_len = 0;
    if (!hex || strlen (hex) != LN_AUDIT_HASH_HEX)
        return -1;
    if (sodium_hex2bin (out, LN_AUDIT_HASH_BYTES, hex, LN_AUDIT_HASH_HEX, NULL, &bin_len, NULL) !=
            0 ||
        bin_len != LN_AUDIT_HASH_BYTES)
        return -1;
    return 0;
}

static void
s_put_be64 (uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)(v & 0xff);
        v >>= 8;
    }
}

/* The row hash, over the canonical encoding of ln_audit.h.  fields[i] NULL
   means SQL NULL; lens[i] its length in bytes. */
static void
s_row_hash (const uint8_t prev[LN_AUDIT_HASH_BYTES], int64_t seq, int64_t at_us,
            const char *const fields[FIELD_COUNT], const size_t lens[FIELD_COUNT],
            uint8_t out[LN_AUDIT_HASH_BYTES])
{
    crypto_hash_sha256_state st;
    uint8_t num[8];

    crypto_hash_sha256_init (&st);
    crypto_hash_sha256_update (&st, (const uint8_t *)DOMAIN_TAG, strlen (DOMAIN_TAG));
    crypto_hash_sha256_update (&st, prev, LN_AUDIT_HASH_BYTES);
    s_put_be64 (num, (uint64_t)seq);
    crypto_hash_sha256_update (&st, num, 8);
    s_put_be64 (num, (uint64_t)at_us);
    crypto_hash_sha256_update (&st, num, 8);
    for (int i = 0; i < FIELD_COUNT; i++) {
        if (!fields[i]) {
            const uint8_t absent = 0;
            crypto_hash_sha256_update (&st, &absent, 1);
            continue;
        }
        uint32_t n = (uint32_t)lens[i];
        const uint8_t hdr[5] = {1, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                                (uint8_t)n};
        crypto_hash_sha256_update (&st, hdr, sizeof hdr);
        crypto_hash_sha256_update (&st, (const uint8_t *)fields[i], lens[i]);
    }
    crypto_hash_sha256_final (&st, out);
}

/* The hashed fields of an entry, in canonical order. */
static void
s_entry_fields (const ln_audit_entry_t *e, const char *fields[FIELD_COUNT],
                size_t lens[FIELD_COUNT])
{
    fields[0] = e->principal;
    fields[1] = e->organisation;
    fields[2] = e->action;
    fields[3] = e->object;
    fields[4] = e->outcome;
    fields[5] = e->reason;
    fields[6] = e->request_id;
    for (int i = 0; i < FIELD_COUNT; i++)
        lens[i] = fields[i] ? strlen (fields[i]) : 0;
}

static bool
s_client_utf8 (PGconn *conn)
{
    const char *enc = PQparameterStatus (conn, "client_encoding");
    return enc && strcmp (enc, "UTF8") == 0;
}

/* --- append ----------------------------------------------------------------------- */

/* The name of an entry's field for errors: "entry.x" or "entries[i].x". */
static void
s_field_name (char *out, size_t size, const char *prefix, long index, const char *name)
{
    if (index < 0)
        snprintf (out, size, "%s.%s", prefix, name);
    else
        snprintf (out, size, "%s[%ld].%s", prefix, index, name);
}

/* One text field: bounded, valid UTF-8 text; NULL allowed unless required. */
static int
s_check_text (const char *text, bool required, size_t max, const char *prefix, long index,
              const char *name, ln_error_t *err)
{
    char field[96];
    s_field_name (field, sizeof field, prefix, index, name);
    if (!text) {
        if (required) {
            ln_error_set (err, "AUDIT_INVALID", field, "%s: required", field);
            return -1;
        }
        return 0;
    }
    size_t len = strnlen (text, max + 1);
    if (required && len == 0) {
        ln_error_set (err, "AUDIT_INVALID", field, "%s: must not be empty", field);
        return -1;
    }
    if (len > max) {
        ln_error_set (err, "AUDIT_INVALID", field, "%s: longer than %zu bytes", field, max);
        return -1;
    }
    size_t bad = 0;
    if (ln_utf8_check (text, len, LN_UTF8_TEXT, &bad) != 0) {
        ln_error_set (err, "AUDIT_INVALID", field,
                      "%s: not valid UTF-8 text (offending byte at offset %zu)", field, bad);
        return -1;
    }
    return 0;
}

static int
s_check_entry (const ln_audit_entry_t *e, const char *prefix, long index, ln_error_t *err)
{
    if (s_check_text (e->principal, false, LN_AUDIT_NAME_MAX, prefix, index, "principal", err) ||
        s_check_text (e->organisation, false, LN_AUDIT_NAME_MAX, prefix, index, "organisation",
                      err) ||
        s_check_text (e->action, true, LN_AUDIT_NAME_MAX, prefix, index, "action", err) ||
        s_check_text (e->object, false, LN_AUDIT_OBJECT_MAX, prefix, index, "object", err) ||
        s_check_text (e->outcome, true, LN_AUDIT_NAME_MAX, prefix, index, "outcome", err) ||
        s_check_text (e->reason, false, LN_AUDIT_REASON_MAX, prefix, index, "reason", err) ||
        s_check_text (e->request_id, false, LN_AUDIT_NAME_MAX, prefix, index, "request_id", err))
        return -1;
    static const char *const outcomes[] = {LN_AUDIT_ACCEPTED, LN_AUDIT_REFUSED, LN_AUDIT_FAILED,
                                           LN_AUDIT_READ, LN_AUDIT_PURGED};
    bool known = false;
    for (size_t k = 0; k < sizeof outcomes / sizeof outcomes[0]; k++)
        known = known || strcmp (e->outcome, outcomes[k]) == 0;
    char field[96];
    if (!known) {
        s_field_name (field, sizeof field, prefix, index, "outcome");
        ln_error_set (err, "AUDIT_INVALID", field,
                      "%s: must be accepted, refused, failed, read or purged", field);
        return -1;
    }
    if (e->at_us < 0) {
        s_field_name (field, sizeof field, prefix, index, "at_us");
        ln_error_set (err, "AUDIT_INVALID", field, "%s: must not be negative", field);
        return -1;
    }
    return 0;
}

static const char *const s_insert_sql =
    "WITH ins AS ("
    " INSERT INTO audit (seq, at_us, principal, organisation, action, object, outcome, reason,"
    "   request_id, prev_hash, hash)"
    " SELECT $1::bigint + u.n - 1, u.at_us, u.principal, u.organisation, u.action, u.object,"
    "   u.outcome, u.reason, u.request_id, u.prev_hash, u.hash"
    " FROM unnest ($2::int8[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],"
    "   $8::text[], $9::text[], $10::bytea[], $11::bytea[]) WITH ORDINALITY"
    "   AS u (at_us, principal, organisation, action, object, outcome, reason, request_id,"
    "   prev_hash, hash, n)"
    " RETURNING 1),"
    " upd AS (UPDATE audit_head SET seq = $12::bigint, hash = $13::bytea RETURNING 1)"
    " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM upd)";

/* Encode entries[0..n) after head (*seq, prev) into enc (its statement
   inserts them and moves the head), and move *seq and prev on.  The arrays
   travel in binary (ln_db_array_t): no quoting, no hex. */
static void
s_encode_rows (const ln_audit_entry_t *entries, size_t n, int64_t now, int64_t *seq,
               uint8_t prev[LN_AUDIT_HASH_BYTES], ln_audit_encoded_t *enc)
{
    /* 0: at_us, 1..7: text fields, 8: prev_hash, 9: hash */
    ln_db_array_t *arrays = enc->arrays;
    ln_db_array_init (&arrays[0], LN_DB_OID_INT8);
    for (int f = 0; f < FIELD_COUNT; f++)
        ln_db_array_init (&arrays[1 + f], LN_DB_OID_TEXT);
    ln_db_array_init (&arrays[8], LN_DB_OID_BYTEA);
    ln_db_array_init (&arrays[9], LN_DB_OID_BYTEA);
    int64_t first_seq = *seq + 1;
    for (size_t i = 0; i < n; i++) {
        const ln_audit_entry_t *e = &entries[i];
        const char *fields[FIELD_COUNT];
        size_t lens[FIELD_COUNT];
        int64_t at = e->at_us ? e->at_us : now;
        int64_t s = first_seq + (int64_t)i;
        uint8_t hash[LN_AUDIT_HASH_BYTES];

        s_entry_fields (e, fields, lens);
        s_row_hash (prev, s, at, fields, lens, hash);
        ln_db_array_add_int8 (&arrays[0], at);
        for (int f = 0; f < FIELD_COUNT; f++) {
            if (fields[f])
                ln_db_array_add (&arrays[1 + f], fields[f], lens[f]);
            else
                ln_db_array_add_null (&arrays[1 + f]);
        }
        ln_db_array_add (&arrays[8], prev, LN_AUDIT_HASH_BYTES);
        ln_db_array_add (&arrays[9], hash, LN_AUDIT_HASH_BYTES);
        memcpy (prev, hash, LN_AUDIT_HASH_BYTES);
    }
    int64_t last_seq = first_seq + (int64_t)n - 1;
    snprintf (enc->first, sizeof enc->first, "%" PRId64, first_seq);
    snprintf (enc->last, sizeof enc->last, "%" PRId64, last_seq);
    memcpy (enc->head_hash, prev, LN_AUDIT_HASH_BYTES);

    enc->values[0] = enc->first;
    for (int a = 0; a < ARRAY_COUNT; a++) {
        enc->values[1 + a] = ln_db_array_data (&arrays[a]);
        enc->lengths[1 + a] = ln_db_array_size (&arrays[a]);
        enc->formats[1 + a] = 1;
    }
    enc->values[ARRAY_COUNT + 1] = enc->last;
    enc->values[ARRAY_COUNT + 2] = (const char *)enc->head_hash;
    enc->lengths[ARRAY_COUNT + 2] = LN_AUDIT_HASH_BYTES;
    enc->formats[ARRAY_COUNT + 2] = 1;
    enc->n = n;
    enc->stmt = (ln_db_stmt_t){
        .name = "ln_audit_insert",
        .sql = s_insert_sql,
        .nparams = ARRAY_COUNT + 3,
        .values = enc->values,
        .lengths = enc->lengths,
        .formats = enc->formats,
        .result_format = 0,
    };
    *seq = last_seq;
}

int
ln_audit_encoded_check (const ln_audit_encoded_t *enc, const PGresult *res, ln_error_t *err)
{
    if (!res) {
        ln_error_set (err, "AUDIT_MISSING", NULL, "audit append: the insert failed");
        return -1;
    }
    if (PQntuples (res) != 1 || strtoull (PQgetvalue (res, 0, 0), NULL, 10) != enc->n ||
        strcmp (PQgetvalue (res, 0, 1), "1") != 0) {
        ln_error_set (err, "AUDIT_MISSING", NULL,
                      "audit append: inserted %s of %zu rows, moved the head %s times",
                      PQntuples (res) == 1 ? PQgetvalue (res, 0, 0) : "?", enc->n,
                      PQntuples (res) == 1 ? PQgetvalue (res, 0, 1) : "?");
        return -1;
    }
    return 0;
}

void
ln_audit_encoded_clear (ln_audit_encoded_t *enc)
{
    for (int a = 0; a < ARRAY_COUNT; a++)
        ln_db_array_clear (&enc->arrays[a]);
    memset (enc, 0, sizeof *enc);
}

/* The head lock: held until the caller's commit or rollback.  Binary
   results: seq as 8 bytes, hash as its 32 bytes. */
void
ln_audit_lock_stmt (ln_db_stmt_t *stmt)
{
    *stmt = (ln_db_stmt_t){
        .name = "ln_audit_lock_head",
        .sql = "SELECT seq, hash FROM audit_head FOR UPDATE",
        .result_format = 1,
    };
}

/* Read the head from the lock statement's result. */
static int
s_parse_head (const PGresult *res, size_t n, int64_t *seq, uint8_t prev[LN_AUDIT_HASH_BYTES],
              ln_error_t *err)
{
    if (!res || PQntuples (res) != 1 || PQnfields (res) != 2 ||
        ln_db_int_value (res, 0, 0, 8, seq) != 0 || *seq < 0 || PQgetisnull (res, 0, 1) ||
        PQgetlength (res, 0, 1) != LN_AUDIT_HASH_BYTES) {
        ln_error_set (err, "AUDIT_MISSING", NULL, "audit append: audit_head is %s",
                      res && PQntuples (res) == 0 ? "empty" : "malformed");
        return -1;
    }
    memcpy (prev, PQgetvalue (res, 0, 1), LN_AUDIT_HASH_BYTES);
    if ((uint64_t)*seq + n > (uint64_t)INT64_MAX) {
        ln_error_set (err, "AUDIT_INVALID", NULL, "audit append: seq would overflow");
        return -1;
    }
    return 0;
}

/* The checks both forms of append make before anything is sent. */
static int
s_check_append (ln_db_t *db, const ln_audit_entry_t *entries, size_t n, bool single,
                ln_error_t *err)
{
    if (!db || (n > 0 && !entries)) {
        ln_error_set (err, "AUDIT_INVALID", NULL, "audit append: bad arguments");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (s_check_entry (&entries[i], single ? "entry" : "entries", single ? -1 : (long)i, err) !=
            0)
            return -1;
    if (n == 0)
        return 0;
    PGconn *conn = ln_db_conn (db);
    if (!conn || PQstatus (conn) != CONNECTION_OK) {
        ln_error_set (err, "DB_CONNECTION_LOST", NULL, "audit append: no database connection");
        return -1;
    }
    if (!s_client_utf8 (conn)) {
        ln_error_set (err, "AUDIT_ENCODING", NULL,
                      "audit append: client_encoding is %s, must be UTF8",
                      PQparameterStatus (conn, "client_encoding")
                          ? PQparameterStatus (conn, "client_encoding")
                          : "unknown");
        return -1;
    }
    if (sodium_init () < 0)
        abort ();
    return 0;
}

int
ln_audit_encode (ln_db_t *db, const PGresult *head, const ln_audit_entry_t *entries, size_t n,
                 ln_audit_encoded_t *enc, ln_error_t *err)
{
    uint8_t prev[LN_AUDIT_HASH_BYTES];
    int64_t seq = 0;
    memset (enc, 0, sizeof *enc);
    if (n == 0) {
        ln_error_set (err, "AUDIT_INVALID", NULL, "audit append: no entries");
        return -1;
    }
    if (s_check_append (db, entries, n, false, err) != 0 ||
        s_parse_head (head, n, &seq, prev, err) != 0)
        return -1;
    s_encode_rows (entries, n, ln_clock_wall_us (), &seq, prev, enc);
    return 0;
}

/* single: errors name "entry.x" rather than "entries[i].x". */
static int
s_append (ln_db_t *db, const ln_audit_entry_t *entries, size_t n, bool single, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    uint8_t prev[LN_AUDIT_HASH_BYTES];
    ln_audit_encoded_t enc;
    memset (&enc, 0, sizeof enc);

    /* Everything is checked before anything is sent: a bad entry leaves the
       caller's transaction as it was. */
    if (s_check_append (db, entries, n, single, err) != 0)
        goto out;
    if (n == 0) {
        rc = 0;
        goto out;
    }
    PGconn *conn = ln_db_conn (db);
    if (PQtransactionStatus (conn) != PQTRANS_INTRANS) {
        ln_error_set (err, "AUDIT_NOT_IN_TRANSACTION", NULL,
                      PQtransactionStatus (conn) == PQTRANS_INERROR
                          ? "audit append: the transaction has already failed; roll it back"
                          : "audit append: must be called inside the transaction that holds "
                            "the audited effect");
        goto out;
    }
    ln_db_stmt_t lock;
    ln_audit_lock_stmt (&lock);
    res =
        ln_db_exec_prepared (db, lock.name, lock.sql, 0, NULL, NULL, NULL, lock.result_format, err);
    if (!res)
        goto out;
    int64_t seq = 0;
    if (s_parse_head (res, n, &seq, prev, err) != 0)
        goto out;
    PQclear (res);
    res = NULL;

    int64_t now = ln_clock_wall_us ();
    for (size_t at = 0; at < n; at += APPEND_CHUNK) {
        size_t m = n - at < APPEND_CHUNK ? n - at : APPEND_CHUNK;
        s_encode_rows (entries + at, m, now, &seq, prev, &enc);
        const ln_db_stmt_t *st = &enc.stmt;
        res = ln_db_exec_prepared (db, st->name, st->sql, st->nparams, st->values, st->lengths,
                                   st->formats, st->result_format, err);
        if (!res || ln_audit_encoded_check (&enc, res, err) != 0)
            goto out;
        PQclear (res);
        res = NULL;
        ln_audit_encoded_clear (&enc);
    }
    rc = 0;
out:
    PQclear (res);
    ln_audit_encoded_clear (&enc);
    return rc;
}

int
ln_audit_append (ln_db_t *db, const ln_audit_entry_t *entry, ln_error_t *err)
{
    if (!entry) {
        ln_error_set (err, "AUDIT_INVALID", "entry", "audit append: entry is NULL");
        return -1;
    }
    return s_append (db, entry, 1, true, err);
}

int
ln_audit_append_batch (ln_db_t *db, const ln_audit_entry_t *entries, size_t n, ln_error_t *err)
{
    return s_append (db, entries, n, false, err);
}

/* --- verify ------------------------------------------------------------------------ */

static void s_bad (ln_audit_report_t *r, uint64_t seq, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_bad (ln_audit_report_t *r, uint64_t seq, const char *fmt, ...)
{
    va_list ap;
    r->ok = false;
    r->first_bad_seq = seq;
    va_start (ap, fmt);
    vsnprintf (r->problem, sizeof r->problem, fmt, ap);
    va_end (ap);
}

/* Check one chunk of rows.  Returns 1 when a bad row was found (report
   filled), 0 to go on. */
static int
s_verify_rows (PGresult *res, int64_t *last_seq, uint8_t prev[LN_AUDIT_HASH_BYTES],
               ln_audit_report_t *r)
{
    int rows = PQntuples (res);
    for (int i = 0; i < rows; i++) {
        int64_t seq = 0, at_us = 0;
        int64_t expected = *last_seq + 1;
        if (PQgetisnull (res, i, 0) || s_parse_i64 (PQgetvalue (res, i, 0), &seq) != 0) {
            s_bad (r, (uint64_t)expected, "unreadable seq (expected %" PRId64 ")", expected);
            return 1;
        }
        if (seq > expected) {
            if (seq - 1 == expected)
                s_bad (r, (uint64_t)seq, "row missing before it (seq %" PRId64 ")", expected);
            else
                s_bad (r, (uint64_t)seq, "row missing before it (seq %" PRId64 "..%" PRId64 ")",
                       expected, seq - 1);
            return 1;
        }
        if (seq < expected) {
            s_bad (r, seq > 0 ? (uint64_t)seq : (uint64_t)expected,
                   "unexpected seq %" PRId64 " (expected %" PRId64 ")", seq, expected);
            return 1;
        }
        uint8_t stored_prev[LN_AUDIT_HASH_BYTES], stored[LN_AUDIT_HASH_BYTES];
        uint8_t computed[LN_AUDIT_HASH_BYTES];
        if (PQgetisnull (res, i, 9) || s_parse_hash (PQgetvalue (res, i, 9), stored_prev) != 0 ||
            sodium_memcmp (stored_prev, prev, LN_AUDIT_HASH_BYTES) != 0) {
            s_bad (r, (uint64_t)seq, "prev_hash does not match");
            return 1;
        }
        const char *fields[FIELD_COUNT];
        size_t lens[FIELD_COUNT];
        for (int f = 0; f < FIELD_COUNT; f++) {
            fields[f] = PQgetisnull (res, i, 2 + f) ? NULL : PQgetvalue (res, i, 2 + f);
            lens[f] = fields[f] ? (size_t)PQgetlength (res, i, 2 + f) : 0;
        }
        if (PQgetisnull (res, i, 1) || s_parse_i64 (PQgetvalue (res, i, 1), &at_us) != 0 ||
            PQgetisnull (res, i, 10) || s_parse_hash (PQgetvalue (res, i, 10), stored) != 0) {
            s_bad (r, (uint64_t)seq, "row changed");
            return 1;
        }
        s_row_hash (prev, seq, at_us, fields, lens, computed);
        if (sodium_memcmp (computed, stored, LN_AUDIT_HASH_BYTES) != 0) {
            s_bad (r, (uint64_t)seq, "row changed");
            return 1;
        }
        memcpy (prev, stored, LN_AUDIT_HASH_BYTES);
        *last_seq = seq;
        r->rows++;
    }
    return 0;
}

#define VERIFY_COLUMNS                                                                             \
    "SELECT seq, at_us, principal, organisation, action, object, outcome, reason, request_id,"     \
    " encode (prev_hash, 'hex'), encode (hash, 'hex') FROM audit "

int
ln_audit_verify (ln_db_t *db, ln_audit_report_t *report, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    bool own_tx = false;
    bool have_head = false;
    int64_t head_seq = 0, last_seq = 0;
    uint8_t head_hash[LN_AUDIT_HASH_BYTES];
    uint8_t prev[LN_AUDIT_HASH_BYTES];
    char limit[16], after[24];

    if (!db || !report) {
        ln_error_set (err, "AUDIT_INVALID", NULL, "audit verify: bad arguments");
        return -1;
    }
    memset (report, 0, sizeof *report);
    memset (prev, 0, sizeof prev);
    if (sodium_init () < 0)
        abort ();

    PGconn *conn = ln_db_conn (db);
    if (!conn || PQstatus (conn) != CONNECTION_OK) {
        ln_error_set (err, "DB_CONNECTION_LOST", NULL, "audit verify: no database connection");
        goto out;
    }
    /* In the caller's READ COMMITTED transaction each chunk would see a
       newer state, and rows appended meanwhile would look like a head that
       lags behind: a false alarm.  So always our own snapshot. */
    if (PQtransactionStatus (conn) != PQTRANS_IDLE) {
        ln_error_set (err, "AUDIT_INVALID", NULL,
                      "audit verify: call it with no transaction open (it takes its own "
                      "snapshot)");
        goto out;
    }
    if (!s_client_utf8 (conn)) {
        ln_error_set (err, "AUDIT_ENCODING", NULL, "audit verify: client_encoding must be UTF8");
        goto out;
    }
    if (ln_db_run (db, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", 0, NULL, err) != 0)
        goto out;
    own_tx = true;

    res = ln_db_exec (db,
                      "SELECT to_regclass ('audit') IS NOT NULL AND "
                      "to_regclass ('audit_head') IS NOT NULL",
                      0, NULL, err);
    if (!res)
        goto out;
    if (strcmp (PQgetvalue (res, 0, 0), "t") != 0) {
        ln_error_set (err, "AUDIT_MISSING", NULL,
                      "schema %s has no audit table (migration %d \"%s\" not "
                      "applied)",
                      ln_db_schema (db) ? ln_db_schema (db) : "?", ln_audit_migration.version,
                      ln_audit_migration.name);
        goto out;
    }
    PQclear (res);
    res = NULL;

    res = ln_db_exec (db, "SELECT seq, encode (hash, 'hex') FROM audit_head", 0, NULL, err);
    if (!res)
        goto out;
    if (PQntuples (res) == 1 && s_parse_i64 (PQgetvalue (res, 0, 0), &head_seq) == 0 &&
        head_seq >= 0 && s_parse_hash (PQgetvalue (res, 0, 1), head_hash) == 0) {
        have_head = true;
        report->head_seq = (uint64_t)head_seq;
        snprintf (report->head_hash, sizeof report->head_hash, "%s", PQgetvalue (res, 0, 1));
    }
    PQclear (res);
    res = NULL;

    snprintf (limit, sizeof limit, "%d", VERIFY_CHUNK);
    bool first = true;
    bool bad = false;
    for (;;) {
        if (first) {
            const char *p1[1] = {limit};
            res = ln_db_exec (db, VERIFY_COLUMNS "ORDER BY seq LIMIT $1", 1, p1, err);
        }
        else {
            snprintf (after, sizeof after, "%" PRId64, last_seq);
            const char *p2[2] = {after, limit};
            res =
                ln_db_exec (db, VERIFY_COLUMNS "WHERE seq > $1 ORDER BY seq LIMIT $2", 2, p2, err);
        }
        if (!res)
            goto out;
        first = false;
        int rows = PQntuples (res);
        if (s_verify_rows (res, &last_seq, prev, report)) {
            bad = true;
            break;
        }
        PQclear (res);
        res = NULL;
        if (rows < VERIFY_CHUNK)
            break;
    }

    if (!bad) {
        if (!have_head)
            s_bad (report, 0, "head row missing or malformed");
        else if (head_seq > last_seq)
            s_bad (report, (uint64_t)last_seq + 1,
                   "rows deleted at the end (head says seq %" PRId64 ")", head_seq);
        else if (head_seq < last_seq)
            s_bad (report, (uint64_t)head_seq + 1,
                   "head does not match the last row (head says seq %" PRId64 ")", head_seq);
        else if (sodium_memcmp (head_hash, prev, LN_AUDIT_HASH_BYTES) != 0)
            s_bad (report, (uint64_t)last_seq, "head does not match the last row (hash differs)");
        else
            report->ok = true;
    }
    rc = 0;
out:
    PQclear (res);
    if (own_tx)
        ln_db_rollback (db); /* read only: nothing to keep */
    return rc;
}
