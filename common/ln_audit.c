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
/* Array parameters of one append: at_us and the text fields. */
#define ARRAY_COUNT (1 + FIELD_COUNT)
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

/* Version 5: the runtime role appends only through audit_append, a SECURITY
   DEFINER function of the owner that locks the head, checks the entries,
   computes seq, prev_hash and hash itself (the canonical encoding of
   ln_audit.h, in SQL) and inserts: a caller cannot choose a row's place in
   the chain, nor forge a hash.  The runtime role may only read audit and
   audit_head (schema_runtime_privileges, ln_db_migrate_as_owner). */
const ln_migration_t ln_audit_writer_migration = {
    5, "audit_writer",
    "CREATE FUNCTION audit_append (p_at_us bigint[], p_principal text[], p_organisation text[],\n"
    "    p_action text[], p_object text[], p_outcome text[], p_reason text[], p_request_id "
    "text[],\n"
    "    OUT inserted bigint, OUT head_seq bigint)\n"
    "LANGUAGE plpgsql SECURITY DEFINER AS $$\n"
    "DECLARE\n"
    "  n integer := coalesce(array_length(p_at_us, 1), 0);\n"
    "  tag constant bytea := convert_to('lantern-audit-v1', 'UTF8');\n"
    "  s bigint;\n"
    "  h bytea;\n"
    "  prevs bytea[];\n"
    "  hashes bytea[];\n"
    "BEGIN\n"
    "  IF n < 1 OR n > 10000 THEN\n"
    "    RAISE EXCEPTION 'audit_append: 1 to 10000 entries, not %', n USING ERRCODE = '22023';\n"
    "  END IF;\n"
    "  IF array_ndims(p_at_us) <> 1 OR array_lower(p_at_us, 1) <> 1\n"
    "     OR array_ndims(p_principal) IS DISTINCT FROM 1 OR array_lower(p_principal, 1) <> 1\n"
    "     OR array_length(p_principal, 1) <> n\n"
    "     OR array_ndims(p_organisation) IS DISTINCT FROM 1 OR array_lower(p_organisation, 1) <> "
    "1\n"
    "     OR array_length(p_organisation, 1) <> n\n"
    "     OR array_ndims(p_action) IS DISTINCT FROM 1 OR array_lower(p_action, 1) <> 1\n"
    "     OR array_length(p_action, 1) <> n\n"
    "     OR array_ndims(p_object) IS DISTINCT FROM 1 OR array_lower(p_object, 1) <> 1\n"
    "     OR array_length(p_object, 1) <> n\n"
    "     OR array_ndims(p_outcome) IS DISTINCT FROM 1 OR array_lower(p_outcome, 1) <> 1\n"
    "     OR array_length(p_outcome, 1) <> n\n"
    "     OR array_ndims(p_reason) IS DISTINCT FROM 1 OR array_lower(p_reason, 1) <> 1\n"
    "     OR array_length(p_reason, 1) <> n\n"
    "     OR array_ndims(p_request_id) IS DISTINCT FROM 1 OR array_lower(p_request_id, 1) <> 1\n"
    "     OR array_length(p_request_id, 1) <> n THEN\n"
    "    RAISE EXCEPTION 'audit_append: the eight arrays must be one-dimensional, from 1, of one "
    "length'\n"
    "      USING ERRCODE = '22023';\n"
    "  END IF;\n"
    "  -- The head's lock serialises appenders until the caller's transaction ends.\n"
    "  SELECT a.seq, a.hash INTO s, h FROM audit_head a FOR UPDATE;\n"
    "  IF NOT FOUND THEN\n"
    "    RAISE EXCEPTION 'audit_append: audit_head is missing' USING ERRCODE = '55000';\n"
    "  END IF;\n"
    "  -- Each entry checked as common/ln_audit.c checks it, and chained: the hash\n"
    "  -- of the canonical encoding of common/ln_audit.h (F(NULL) = 0x00,\n"
    "  -- F(text) = 0x01, length, UTF-8 bytes).  Simple expressions over the\n"
    "  -- (expanded) arrays: no query per entry.\n"
    "  FOR i IN 1 .. n LOOP\n"
    "    IF p_at_us[i] IS NULL OR p_at_us[i] < 0 OR p_action[i] IS NULL OR p_action[i] = ''\n"
    "       OR p_outcome[i] IS NULL\n"
    "       OR p_outcome[i] NOT IN ('accepted', 'refused', 'failed', 'read', 'purged')\n"
    "       OR octet_length(p_principal[i]) > 256 OR octet_length(p_organisation[i]) > 256\n"
    "       OR octet_length(p_action[i]) > 256 OR octet_length(p_object[i]) > 1024\n"
    "       OR octet_length(p_reason[i]) > 2048 OR octet_length(p_request_id[i]) > 256 THEN\n"
    "      RAISE EXCEPTION 'audit_append: entry % is invalid', i USING ERRCODE = '22023',\n"
    "        HINT = 'at_us >= 0; action and outcome required; outcome accepted, refused, failed, "
    "read or purged; fields within their bounds';\n"
    "    END IF;\n"
    "    prevs[i] := h;\n"
    "    h := sha256(tag || h || int8send(s + i) || int8send(p_at_us[i])\n"
    "      || CASE WHEN p_principal[i] IS NULL THEN '\\x00'::bytea ELSE '\\x01'::bytea\n"
    "              || int4send(octet_length(p_principal[i])) || convert_to(p_principal[i], 'UTF8') "
    "END\n"
    "      || CASE WHEN p_organisation[i] IS NULL THEN '\\x00'::bytea ELSE '\\x01'::bytea\n"
    "              || int4send(octet_length(p_organisation[i])) || convert_to(p_organisation[i], "
    "'UTF8') END\n"
    "      || '\\x01'::bytea || int4send(octet_length(p_action[i])) || convert_to(p_action[i], "
    "'UTF8')\n"
    "      || CASE WHEN p_object[i] IS NULL THEN '\\x00'::bytea ELSE '\\x01'::bytea\n"
    "              || int4send(octet_length(p_object[i])) || convert_to(p_object[i], 'UTF8') END\n"
    "      || '\\x01'::bytea || int4send(octet_length(p_outcome[i])) || convert_to(p_outcome[i], "
    "'UTF8')\n"
    "      || CASE WHEN p_reason[i] IS NULL THEN '\\x00'::bytea ELSE '\\x01'::bytea\n"
    "              || int4send(octet_length(p_reason[i])) || convert_to(p_reason[i], 'UTF8') END\n"
    "      || CASE WHEN p_request_id[i] IS NULL THEN '\\x00'::bytea ELSE '\\x01'::bytea\n"
    "              || int4send(octet_length(p_request_id[i])) || convert_to(p_request_id[i], "
    "'UTF8') END);\n"
    "    hashes[i] := h;\n"
    "  END LOOP;\n"
    "  WITH ins AS (\n"
    "    INSERT INTO audit (seq, at_us, principal, organisation, action, object, outcome, reason,\n"
    "                       request_id, prev_hash, hash)\n"
    "    SELECT s + u.ord, u.at_us, u.principal, u.organisation, u.action, u.object, u.outcome,\n"
    "           u.reason, u.request_id, u.prev_hash, u.hash\n"
    "      FROM unnest(p_at_us, p_principal, p_organisation, p_action, p_object, p_outcome, "
    "p_reason,\n"
    "                  p_request_id, prevs, hashes) WITH ORDINALITY\n"
    "        AS u (at_us, principal, organisation, action, object, outcome, reason, request_id,\n"
    "              prev_hash, hash, ord))\n"
    "  UPDATE audit_head SET seq = s + n, hash = h;\n"
    "  inserted := n;\n"
    "  head_seq := s + n;\n"
    "END $$;\n"
    "DO $$\n"
    "BEGIN\n"
    "  -- A SECURITY DEFINER function must not find its tables (or a caller's\n"
    "  -- temporary table of the same name) through the caller's search_path.\n"
    "  EXECUTE format('ALTER FUNCTION audit_append (bigint[], text[], text[], text[], text[], "
    "text[],'\n"
    "                 ' text[], text[]) SET search_path = %I, pg_temp', current_schema());\n"
    "END $$;\n"
    "REVOKE ALL ON FUNCTION audit_append (bigint[], text[], text[], text[], text[], text[], "
    "text[],\n"
    "    text[]) FROM PUBLIC;\n"
    "INSERT INTO schema_runtime_privileges (relation, privileges)\n"
    "  VALUES ('audit', 'SELECT'), ('audit_head', 'SELECT');\n"};

/* Version 6: the audit heads that the nodes this one follows published
   (nl.lantern.audit.anchored.v1), stored by ln_audit_anchor_record: what
   `lanternctl audit anchors` lists and `audit verify --anchors` checks a
   node against.  The runtime role may insert and read them, never change
   or delete them. */
const ln_migration_t ln_audit_anchors_migration = {
    6, "upstream_anchors",
    "CREATE TABLE upstream_anchors (\n"
    "  upstream    text   NOT NULL,\n"
    "  seq         bigint NOT NULL CHECK (seq >= 0),\n"
    "  hash        bytea  NOT NULL CHECK (octet_length(hash) = 32),\n"
    "  at_us       bigint NOT NULL CHECK (at_us >= 0),\n"
    "  position    bigint NOT NULL CHECK (position > 0),\n"
    "  received_us bigint NOT NULL,\n"
    "  PRIMARY KEY (upstream, seq)\n"
    ");\n"
    "COMMENT ON TABLE upstream_anchors IS 'audit heads published by the nodes this one follows "
    "(common/ln_audit.h)';\n"
    "CREATE TRIGGER upstream_anchors_keep BEFORE UPDATE OR DELETE OR TRUNCATE ON upstream_anchors\n"
    "  FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only ();\n"
    "INSERT INTO schema_runtime_privileges (relation, privileges)\n"
    "  VALUES ('upstream_anchors', 'SELECT, INSERT');\n"};

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

/* Like s_parse_hash, upper-case digits allowed (anchors typed by hand). */
static int
s_parse_hash_any (const char *hex, uint8_t out[LN_AUDIT_HASH_BYTES])
{
    char lower[LN_AUDIT_HASH_HEX + 1];
    if (!hex || strlen (hex) != LN_AUDIT_HASH_HEX)
        return -1;
    for (size_t i = 0; i <= LN_AUDIT_HASH_HEX; i++)
        lower[i] = (hex[i] >= 'A' && hex[i] <= 'F') ? (char)(hex[i] - 'A' + 'a') : hex[i];
    return s_parse_hash (lower, out);
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

/* The runtime role cannot write audit or audit_head: it hands the entries
   to the owner's function (migration 5), which chains them. */
static const char *const s_append_sql =
    "SELECT inserted, head_seq FROM audit_append ($1::int8[], $2::text[], $3::text[],"
    " $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])";

/* Encode entries[0..n) into enc: one statement that appends them.  The
   arrays travel in binary (ln_db_array_t): no quoting, no hex. */
static void
s_encode_rows (const ln_audit_entry_t *entries, size_t n, int64_t now, ln_audit_encoded_t *enc)
{
    /* 0: at_us, 1..7: text fields */
    ln_db_array_t *arrays = enc->arrays;
    ln_db_array_init (&arrays[0], LN_DB_OID_INT8);
    for (int f = 0; f < FIELD_COUNT; f++)
        ln_db_array_init (&arrays[1 + f], LN_DB_OID_TEXT);
    for (size_t i = 0; i < n; i++) {
        const ln_audit_entry_t *e = &entries[i];
        const char *fields[FIELD_COUNT];
        size_t lens[FIELD_COUNT];
        s_entry_fields (e, fields, lens);
        ln_db_array_add_int8 (&arrays[0], e->at_us ? e->at_us : now);
        for (int f = 0; f < FIELD_COUNT; f++) {
            if (fields[f])
                ln_db_array_add (&arrays[1 + f], fields[f], lens[f]);
            else
                ln_db_array_add_null (&arrays[1 + f]);
        }
    }
    for (int a = 0; a < ARRAY_COUNT; a++) {
        enc->values[a] = ln_db_array_data (&arrays[a]);
        enc->lengths[a] = ln_db_array_size (&arrays[a]);
        enc->formats[a] = 1;
    }
    enc->n = n;
    enc->stmt = (ln_db_stmt_t){
        .name = "ln_audit_append",
        .sql = s_append_sql,
        .nparams = ARRAY_COUNT,
        .values = enc->values,
        .lengths = enc->lengths,
        .formats = enc->formats,
        .result_format = 0,
    };
}

int
ln_audit_encoded_check (const ln_audit_encoded_t *enc, const PGresult *res, ln_error_t *err)
{
    if (!res) {
        ln_error_set (err, "AUDIT_MISSING", NULL, "audit append: the insert failed");
        return -1;
    }
    if (PQntuples (res) != 1 || PQnfields (res) != 2 ||
        strtoull (PQgetvalue (res, 0, 0), NULL, 10) != enc->n) {
        ln_error_set (err, "AUDIT_MISSING", NULL, "audit append: appended %s of %zu rows",
                      PQntuples (res) == 1 ? PQgetvalue (res, 0, 0) : "?", enc->n);
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

/* Reads the head (binary: seq as 8 bytes, hash as its 32 bytes), to find
   out before appending that the trail is there.  It takes no lock: the
   runtime role may not, and audit_append locks the head itself, until the
   caller's commit. */
void
ln_audit_lock_stmt (ln_db_stmt_t *stmt)
{
    *stmt = (ln_db_stmt_t){
        .name = "ln_audit_head",
        .sql = "SELECT seq, hash FROM audit_head",
        .result_format = 1,
    };
}

/* Check the head read by ln_audit_lock_stmt's statement. */
static int
s_parse_head (const PGresult *res, size_t n, ln_error_t *err)
{
    int64_t seq = 0;
    if (!res || PQntuples (res) != 1 || PQnfields (res) != 2 ||
        ln_db_int_value (res, 0, 0, 8, &seq) != 0 || seq < 0 || PQgetisnull (res, 0, 1) ||
        PQgetlength (res, 0, 1) != LN_AUDIT_HASH_BYTES) {
        ln_error_set (err, "AUDIT_MISSING", NULL, "audit append: audit_head is %s",
                      res && PQntuples (res) == 0 ? "empty" : "malformed");
        return -1;
    }
    if ((uint64_t)seq + n > (uint64_t)INT64_MAX) {
        ln_error_set (err, "AUDIT_INVALID", NULL, "audit append: seq would overflow");
        return -1;
    }
    return 0;
}

/* An append that failed because the schema lacks migration 5 says so. */
static void
s_append_failed (ln_db_t *db, ln_error_t *err)
{
    if (strcmp (ln_db_last_sqlstate (db), "42883") == 0)
        ln_error_set (err, "AUDIT_MISSING", NULL,
                      "schema %s has no audit_append function (migration %d \"%s\" not applied)",
                      ln_db_schema (db) ? ln_db_schema (db) : "?",
                      ln_audit_writer_migration.version, ln_audit_writer_migration.name);
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
    memset (enc, 0, sizeof *enc);
    if (n == 0 || n > LN_AUDIT_APPEND_MAX) {
        ln_error_set (err, "AUDIT_INVALID", NULL, "audit append: 1 to %d entries, not %zu",
                      LN_AUDIT_APPEND_MAX, n);
        return -1;
    }
    if (s_check_append (db, entries, n, false, err) != 0 || s_parse_head (head, n, err) != 0)
        return -1;
    s_encode_rows (entries, n, ln_clock_wall_us (), enc);
    return 0;
}

/* single: errors name "entry.x" rather than "entries[i].x". */
static int
s_append (ln_db_t *db, const ln_audit_entry_t *entries, size_t n, bool single, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
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
    ln_db_stmt_t head;
    ln_audit_lock_stmt (&head);
    res =
        ln_db_exec_prepared (db, head.name, head.sql, 0, NULL, NULL, NULL, head.result_format, err);
    if (!res || s_parse_head (res, n, err) != 0)
        goto out;
    PQclear (res);
    res = NULL;

    int64_t now = ln_clock_wall_us ();
    for (size_t at = 0; at < n; at += APPEND_CHUNK) {
        size_t m = n - at < APPEND_CHUNK ? n - at : APPEND_CHUNK;
        s_encode_rows (entries + at, m, now, &enc);
        const ln_db_stmt_t *st = &enc.stmt;
        res = ln_db_exec_prepared (db, st->name, st->sql, st->nparams, st->values, st->lengths,
                                   st->formats, st->result_format, err);
        if (!res) {
            s_append_failed (db, err);
            goto out;
        }
        if (ln_audit_encoded_check (&enc, res, err) != 0)
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

/* Anchors per query of their rows' hashes. */
#define ANCHOR_CHUNK 1000

/* "2026-11-29T10:33:44Z" (UTC) for an anchor's at_us. */
static void
s_format_time (int64_t at_us, char *out, size_t size)
{
    time_t t = (time_t)(at_us / 1000000);
    struct tm tm;
    if (at_us < 0 || !gmtime_r (&t, &tm) || strftime (out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf (out, size, "at_us %" PRId64, at_us);
}

static int
s_cmp_seq (const void *a, const void *b)
{
    const ln_audit_anchor_t *x = *(const ln_audit_anchor_t *const *)a;
    const ln_audit_anchor_t *y = *(const ln_audit_anchor_t *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq ? 1 : 0;
}

/* After a good chain whose last row is last_seq: check each anchor (in seq
   order) against the hash of its row, in the verification's snapshot. */
static int
s_check_anchors (ln_db_t *db, const ln_audit_anchor_t *const *sorted, size_t n, int64_t last_seq,
                 ln_audit_report_t *r, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    ln_db_array_t seqs;
    memset (&seqs, 0, sizeof seqs);
    char when[48];

    for (size_t at = 0; at < n; at += ANCHOR_CHUNK) {
        size_t m = n - at < ANCHOR_CHUNK ? n - at : ANCHOR_CHUNK;
        ln_db_array_init (&seqs, LN_DB_OID_INT8);
        for (size_t i = 0; i < m; i++)
            ln_db_array_add_int8 (&seqs, sorted[at + i]->seq > (uint64_t)INT64_MAX
                                             ? -1
                                             : (int64_t)sorted[at + i]->seq);
        const char *values[1] = {ln_db_array_data (&seqs)};
        const int lengths[1] = {ln_db_array_size (&seqs)};
        const int formats[1] = {1};
        res = ln_db_exec_prepared (db, "ln_audit_anchor_rows",
                                   "SELECT a.ord, x.hash FROM unnest ($1::int8[]) WITH ORDINALITY"
                                   " AS a (seq, ord) LEFT JOIN audit x ON x.seq = a.seq"
                                   " ORDER BY a.ord",
                                   1, values, lengths, formats, 1, err);
        ln_db_array_clear (&seqs);
        if (!res)
            goto out;
        if ((size_t)PQntuples (res) != m) {
            ln_error_set (err, "AUDIT_INVALID", NULL,
                          "audit verify: anchor rows: unexpected result");
            goto out;
        }
        for (size_t i = 0; i < m; i++) {
            const ln_audit_anchor_t *an = sorted[at + i];
            uint8_t want[LN_AUDIT_HASH_BYTES];
            s_parse_hash_any (an->hash, want);
            s_format_time (an->at_us, when, sizeof when);
            if (an->seq == 0) {
                uint8_t zero[LN_AUDIT_HASH_BYTES] = {0};
                if (sodium_memcmp (want, zero, LN_AUDIT_HASH_BYTES) != 0) {
                    s_bad (r, 1, "anchor of seq 0 (%s) does not match the empty trail", when);
                    rc = 0;
                    goto out;
                }
            }
            else if (an->seq > (uint64_t)last_seq) {
                s_bad (r, (uint64_t)last_seq + 1,
                       "anchor of seq %" PRIu64 " (%s) is beyond the end of the trail (seq %" PRId64
                       "): rows deleted and the head moved back",
                       an->seq, when, last_seq);
                rc = 0;
                goto out;
            }
            else if (PQgetisnull (res, (int)i, 1) ||
                     PQgetlength (res, (int)i, 1) != LN_AUDIT_HASH_BYTES ||
                     sodium_memcmp (PQgetvalue (res, (int)i, 1), want, LN_AUDIT_HASH_BYTES) != 0) {
                s_bad (r, an->seq,
                       "anchor of seq %" PRIu64 " (%s) does not match row %" PRIu64
                       ": the trail was rewritten at or before it",
                       an->seq, when, an->seq);
                rc = 0;
                goto out;
            }
            r->anchors++;
        }
        PQclear (res);
        res = NULL;
    }
    rc = 0;
out:
    PQclear (res);
    ln_db_array_clear (&seqs);
    return rc;
}

int
ln_audit_verify (ln_db_t *db, ln_audit_report_t *report, ln_error_t *err)
{
    return ln_audit_verify_anchors (db, NULL, 0, report, err);
}

int
ln_audit_verify_anchors (ln_db_t *db, const ln_audit_anchor_t *anchors, size_t nanchors,
                         ln_audit_report_t *report, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    bool own_tx = false;
    bool have_head = false;
    int64_t head_seq = 0, last_seq = 0;
    uint8_t head_hash[LN_AUDIT_HASH_BYTES];
    uint8_t prev[LN_AUDIT_HASH_BYTES];
    char limit[16], after[24];

    const ln_audit_anchor_t **sorted = NULL;

    if (!db || !report || (nanchors > 0 && !anchors)) {
        ln_error_set (err, "AUDIT_INVALID", NULL, "audit verify: bad arguments");
        return -1;
    }
    memset (report, 0, sizeof *report);
    for (size_t i = 0; i < nanchors; i++) {
        uint8_t bin[LN_AUDIT_HASH_BYTES];
        if (s_parse_hash_any (anchors[i].hash, bin) != 0) {
            ln_error_set (err, "AUDIT_INVALID", "anchors",
                          "audit verify: anchor %zu (seq %" PRIu64 "): hash is not 64 hex digits",
                          i, anchors[i].seq);
            return -1;
        }
    }
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
    if (report->ok && nanchors > 0) {
        sorted = calloc (nanchors, sizeof *sorted);
        if (!sorted)
            abort ();
        for (size_t i = 0; i < nanchors; i++)
            sorted[i] = &anchors[i];
        qsort (sorted, nanchors, sizeof *sorted, s_cmp_seq);
        PQclear (res);
        res = NULL;
        if (s_check_anchors (db, sorted, nanchors, last_seq, report, err) != 0)
            goto out;
    }
    rc = 0;
out:
    free (sorted);
    PQclear (res);
    if (own_tx)
        ln_db_rollback (db); /* read only: nothing to keep */
    return rc;
}

/* --- anchors ------------------------------------------------------------------------ */

int
ln_audit_head (ln_db_t *db, uint64_t *seq, char hash_hex[LN_AUDIT_HASH_HEX + 1], ln_error_t *err)
{
    int rc = -1;
    int64_t s = 0;
    if (!db || !seq || !hash_hex) {
        ln_error_set (err, "AUDIT_INVALID", NULL, "audit head: bad arguments");
        return -1;
    }
    ln_db_stmt_t head;
    ln_audit_lock_stmt (&head);
    PGresult *res =
        ln_db_exec_prepared (db, head.name, head.sql, 0, NULL, NULL, NULL, head.result_format, err);
    if (!res)
        goto out;
    if (PQntuples (res) != 1 || ln_db_int_value (res, 0, 0, 8, &s) != 0 || s < 0 ||
        PQgetisnull (res, 0, 1) || PQgetlength (res, 0, 1) != LN_AUDIT_HASH_BYTES) {
        ln_error_set (err, "AUDIT_MISSING", NULL, "audit head: audit_head is %s",
                      PQntuples (res) == 0 ? "empty" : "malformed");
        goto out;
    }
    *seq = (uint64_t)s;
    sodium_bin2hex (hash_hex, LN_AUDIT_HASH_HEX + 1, (const unsigned char *)PQgetvalue (res, 0, 1),
                    LN_AUDIT_HASH_BYTES);
    rc = 0;
out:
    PQclear (res);
    return rc;
}

/* An anchor's hash must be exactly what a node publishes: 64 lower-case
   hex digits. */
static bool
s_hash_hex_valid (const char *hex)
{
    if (strnlen (hex, LN_AUDIT_HASH_HEX + 1) != LN_AUDIT_HASH_HEX)
        return false;
    for (size_t i = 0; i < LN_AUDIT_HASH_HEX; i++)
        if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
            return false;
    return true;
}

int
ln_audit_anchor_record (ln_db_t *db, const char *upstream, uint64_t position,
                        const ln_audit_anchor_t *anchor, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    char seq[24], pos[24], at[24], now[24];
    uint8_t hash[LN_AUDIT_HASH_BYTES];

    if (!db || !anchor) {
        ln_error_set (err, "AUDIT_INVALID", NULL, "anchor record: bad arguments");
        return -1;
    }
    if (s_check_text (upstream, true, LN_AUDIT_NAME_MAX, "anchor", -1, "upstream", err) != 0)
        return -1;
    if (!s_hash_hex_valid (anchor->hash) || s_parse_hash (anchor->hash, hash) != 0) {
        ln_error_set (err, "AUDIT_INVALID", "anchor.hash",
                      "anchor.hash: must be 64 lower-case hex digits");
        return -1;
    }
    if (position == 0 || position > (uint64_t)INT64_MAX || anchor->seq > (uint64_t)INT64_MAX ||
        anchor->at_us < 0) {
        ln_error_set (err, "AUDIT_INVALID", position == 0 ? "position" : "anchor",
                      "anchor record: position must be > 0, seq and at_us in range");
        return -1;
    }
    snprintf (seq, sizeof seq, "%" PRIu64, anchor->seq);
    snprintf (pos, sizeof pos, "%" PRIu64, position);
    snprintf (at, sizeof at, "%" PRId64, anchor->at_us);
    snprintf (now, sizeof now, "%" PRId64, ln_clock_wall_us ());
    const char *values[6] = {upstream, seq, (const char *)hash, at, pos, now};
    const int lengths[6] = {0, 0, LN_AUDIT_HASH_BYTES, 0, 0, 0};
    const int formats[6] = {0, 0, 1, 0, 0, 0};
    /* The data-modifying CTE's effect is not visible to the rest of the
       statement: the sub-selects see what was stored BEFORE this anchor. */
    res = ln_db_exec_prepared (
        db, "ln_audit_anchor_record",
        "WITH ins AS (INSERT INTO upstream_anchors (upstream, seq, hash, at_us, position,"
        " received_us) VALUES ($1::text, $2::int8, $3::bytea, $4::int8, $5::int8, $6::int8)"
        " ON CONFLICT (upstream, seq) DO NOTHING RETURNING 1)"
        " SELECT (SELECT count(*) FROM ins),"
        " (SELECT encode (hash, 'hex') FROM upstream_anchors WHERE upstream = $1::text"
        "   AND seq = $2::int8),"
        " (SELECT max(seq) FROM upstream_anchors WHERE upstream = $1::text)",
        6, values, lengths, formats, 0, err);
    if (!res) {
        if (strcmp (ln_db_last_sqlstate (db), "42P01") == 0)
            ln_error_set (err, "AUDIT_MISSING", NULL,
                          "schema %s has no upstream_anchors (migration %d \"%s\" not applied)",
                          ln_db_schema (db) ? ln_db_schema (db) : "?",
                          ln_audit_anchors_migration.version, ln_audit_anchors_migration.name);
        goto out;
    }
    bool inserted = strcmp (PQgetvalue (res, 0, 0), "1") == 0;
    if (!inserted && !PQgetisnull (res, 0, 1) &&
        strcmp (PQgetvalue (res, 0, 1), anchor->hash) != 0) {
        ln_error_set (err, "AUDIT_ANCHOR_CONFLICT", "anchor.hash",
                      "%s published seq %" PRIu64 " with hash %.16s..., but it published it "
                      "before with hash %.16s...: its audit trail was rewritten",
                      upstream, anchor->seq, anchor->hash, PQgetvalue (res, 0, 1));
        rc = 1;
        goto out;
    }
    if (!PQgetisnull (res, 0, 2) && strtoull (PQgetvalue (res, 0, 2), NULL, 10) > anchor->seq) {
        ln_error_set (err, "AUDIT_ANCHOR_CONFLICT", "anchor.seq",
                      "%s published seq %" PRIu64 " after seq %s: its audit trail went back",
                      upstream, anchor->seq, PQgetvalue (res, 0, 2));
        rc = 1;
        goto out;
    }
    rc = 0;
out:
    PQclear (res);
    return rc;
}

int
ln_audit_anchors_load (ln_db_t *db, const char *upstream, ln_audit_anchor_t **anchors, size_t *n,
                       ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    ln_audit_anchor_t *list = NULL;
    if (!db || !upstream || !anchors || !n) {
        ln_error_set (err, "AUDIT_INVALID", NULL, "anchors load: bad arguments");
        return -1;
    }
    *anchors = NULL;
    *n = 0;
    const char *p[1] = {upstream};
    res = ln_db_exec (db,
                      "SELECT seq, encode (hash, 'hex'), at_us, position, received_us"
                      " FROM upstream_anchors WHERE upstream = $1 ORDER BY seq",
                      1, p, err);
    if (!res) {
        if (strcmp (ln_db_last_sqlstate (db), "42P01") == 0)
            ln_error_set (err, "AUDIT_MISSING", NULL,
                          "schema %s has no upstream_anchors (migration %d \"%s\" not applied)",
                          ln_db_schema (db) ? ln_db_schema (db) : "?",
                          ln_audit_anchors_migration.version, ln_audit_anchors_migration.name);
        goto out;
    }
    size_t rows = (size_t)PQntuples (res);
    list = calloc (rows + 1, sizeof *list);
    if (!list)
        abort ();
    for (size_t i = 0; i < rows; i++) {
        int64_t seq = 0, pos = 0;
        ln_audit_anchor_t *a = &list[i];
        if (s_parse_i64 (PQgetvalue (res, (int)i, 0), &seq) != 0 ||
            s_parse_i64 (PQgetvalue (res, (int)i, 2), &a->at_us) != 0 ||
            s_parse_i64 (PQgetvalue (res, (int)i, 3), &pos) != 0 ||
            s_parse_i64 (PQgetvalue (res, (int)i, 4), &a->received_us) != 0) {
            ln_error_set (err, "AUDIT_INVALID", NULL, "anchors load: malformed row");
            goto out;
        }
        a->seq = (uint64_t)seq;
        a->position = (uint64_t)pos;
        snprintf (a->hash, sizeof a->hash, "%s", PQgetvalue (res, (int)i, 1));
    }
    *anchors = list;
    *n = rows;
    list = NULL;
    rc = 0;
out:
    free (list);
    PQclear (res);
    return rc;
}
