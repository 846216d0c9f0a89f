/*  ln_audit: the service's append-only, hash-chained audit trail.

    DESIGN.md "Security": every command (accepted or refused, with the
    reason) and every read of personal data is written to the service's
    audit table, so that afterwards anyone can answer who did what to which
    object, when, why, and with what outcome; and a row changed or deleted
    by hand is detected (`lanternctl audit verify`).

    How it fits:
    - The table lives in the service's own schema, created by
      ln_audit_migration (version 2 of the service's migration list; library
      tables take versions 1..99).
    - ln_audit_append / ln_audit_append_batch are called INSIDE the caller's
      open transaction, the same one that holds the command's effect: an
      audit row exists if and only if the effect committed.  A refused
      command is audited in its own transaction or in the group-commit
      batch's.  On -1 the caller's transaction may be aborted: roll it back.
    - Writers are serialised by the single row of audit_head (SELECT ... FOR
      UPDATE), which holds the last seq and hash.  seq is therefore dense
      (1, 2, 3, ...) and taken in commit order, and a rolled-back
      transaction leaves no gap.  The lock is held until the caller commits:
      audit late in a transaction, and commit soon.  Under REPEATABLE READ or
      SERIALIZABLE a concurrent appender gets SQLSTATE 40001 (retry the
      transaction); services use READ COMMITTED.
    - ln_audit_verify walks the whole chain (in bounded chunks) and names the
      first bad row.

    The chain.  Row k stores prev_hash = hash of row k-1 (32 zero bytes for
    row 1) and hash = SHA-256 of this canonical encoding:

        "lantern-audit-v1"            16 bytes, ASCII, no NUL
        prev_hash                     32 bytes
        seq                           8 bytes, big-endian
        at_us                         8 bytes, big-endian two's complement
        F(principal) F(organisation) F(action) F(object)
        F(outcome) F(reason) F(request_id)

        F(NULL) = 0x00
        F(text) = 0x01, length (4 bytes, big-endian), the UTF-8 bytes

    Every part has a fixed size or a length prefix, so no two different rows
    encode alike.  audit_head keeps the last seq and hash, so that deleting
    the LAST row(s), which leaves a perfectly valid shorter chain, is
    detected too.  The same hash can be recomputed in SQL (see
    tests/integration/test_audit.c), so the format is checkable without
    this code.

    What the chain does not do: someone with the owner's rights can rewrite
    every row from some point on, and the head, consistently.  Against that,
    record the head ("lanternctl audit verify" prints it) somewhere the
    database owner cannot write, and compare later.  The triggers that
    refuse UPDATE, DELETE and TRUNCATE on audit prevent accidents; the owner
    could drop them; the chain is what detects tampering.

    Text fields are bounded (LN_AUDIT_*_MAX bytes) and must be valid UTF-8
    text as ln_utf8_valid says (no NUL, no control characters other than TAB,
    LF, CR).  Callers audit text they have already checked; for a request
    refused because a field is malformed, pass NULL (or a placeholder) rather
    than the hostile bytes.

    Error codes (ln_error_t.code):
      AUDIT_INVALID             a bad argument or entry (field names which,
                                e.g. "entries[3].reason"); nothing was written
      AUDIT_NOT_IN_TRANSACTION  append was called outside a transaction
      AUDIT_ENCODING            the connection's client_encoding is not UTF8
                                (the hashes are over UTF-8 bytes)
      AUDIT_MISSING             the schema has no audit table or head row
                                (ln_audit_migration not applied)
      DB_CONNECTION_LOST, DB_STATEMENT
                                from ln_db (see ln_db.h); ln_db_last_lost tells
                                whether to ln_db_ensure and retry
*/
#ifndef LN_AUDIT_H
#define LN_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ln_db.h"
#include "ln_error.h"

/* Outcomes (the only values ln_audit_append accepts). */
#define LN_AUDIT_ACCEPTED "accepted" /* a command that took effect */
#define LN_AUDIT_REFUSED  "refused"  /* refused: not authorised, invalid, ... */
#define LN_AUDIT_FAILED   "failed"   /* accepted but could not be carried out */
#define LN_AUDIT_READ     "read"     /* personal data was read */
#define LN_AUDIT_PURGED   "purged"   /* retention removed data */

/* Bounds, in bytes, of the text fields. */
#define LN_AUDIT_NAME_MAX   256  /* principal, organisation, action, request_id */
#define LN_AUDIT_OBJECT_MAX 1024 /* object */
#define LN_AUDIT_REASON_MAX 2048 /* reason */

/* SHA-256 sizes of prev_hash / hash. */
#define LN_AUDIT_HASH_BYTES 32
#define LN_AUDIT_HASH_HEX   (LN_AUDIT_HASH_BYTES * 2)

/* One audit record.  All pointers are borrowed for the call.  action and
   outcome are required; the other text fields may be NULL (stored as SQL
   NULL, which the hash tells apart from ""). */
typedef struct {
    const char *principal;    /* who: the principal's name */
    const char *organisation; /* the principal's organisation */
    const char *action;       /* what: the command or read, e.g. "RegisterSignal" */
    const char *object;       /* which object: e.g. "signal:sig-42" */
    const char *outcome;      /* one of LN_AUDIT_ACCEPTED ... LN_AUDIT_PURGED */
    const char *reason;       /* why: the refusal reason, the legal ground, ... */
    const char *request_id;   /* the client's request_id, if any */
    int64_t at_us;            /* when: microseconds since the Unix epoch; 0 = now
                                 (CLOCK_REALTIME); must not be negative */
} ln_audit_entry_t;

/* The migration that creates audit and audit_head, version 2, name "audit".
   Put it in the service's list in version order. */
extern const ln_migration_t ln_audit_migration;

/* Append one entry inside the caller's open transaction.  Same as
   ln_audit_append_batch (db, entry, 1, err).  Returns 0 or -1. */
int ln_audit_append (ln_db_t *db, const ln_audit_entry_t *entry, ln_error_t *err);

/* Append n entries, in order, inside the caller's open transaction: one lock
   of the head and one INSERT per chunk of up to 512 entries (two round
   trips for a group-commit batch).  Every entry is checked before anything
   is sent: if one is invalid, nothing is written (AUDIT_INVALID, field
   "entries[i].x") and the transaction is still usable.  n == 0 does nothing.
   Returns 0 or -1. */
int ln_audit_append_batch (ln_db_t *db, const ln_audit_entry_t *entries, size_t n, ln_error_t *err);

/* ln_audit_append_batch in steps, for a group commit that sends its
   statements in a few round trips (ln_db_exec_all):
     1. ln_audit_lock_stmt: the statement that locks the head (FOR UPDATE,
        until the transaction ends); run it in the transaction, keep its
        result;
     2. ln_audit_encode: checks the entries (as append does; n >= 1), reads
        the head from that result, computes the chain and sets enc->stmt:
        ONE statement that inserts all n rows and moves the head;
     3. run enc->stmt (e.g. with the transaction's other writes and its
        COMMIT) and judge its result with ln_audit_encoded_check (NULL: it
        failed);
     4. ln_audit_encoded_clear.
   Returns 0 or -1 with err set. */
typedef struct {
    ln_db_stmt_t stmt;
    /* private */
    ln_db_array_t arrays[10];
    const char *values[13];
    int lengths[13];
    int formats[13];
    char first[24];
    char last[24];
    uint8_t head_hash[LN_AUDIT_HASH_BYTES];
    size_t n;
} ln_audit_encoded_t;

void ln_audit_lock_stmt (ln_db_stmt_t *stmt);
int ln_audit_encode (ln_db_t *db, const PGresult *head, const ln_audit_entry_t *entries, size_t n,
                     ln_audit_encoded_t *enc, ln_error_t *err);
int ln_audit_encoded_check (const ln_audit_encoded_t *enc, const PGresult *res, ln_error_t *err);
void ln_audit_encoded_clear (ln_audit_encoded_t *enc);

/* The result of a verification. */
typedef struct {
    bool ok;                               /* the whole chain and the head are consistent */
    uint64_t rows;                         /* rows checked and found good (all rows when ok) */
    uint64_t first_bad_seq;                /* when !ok: the first bad row (see problem); 0 when
                                              the head itself is missing */
    char problem[256];                     /* when !ok: what is wrong, "" when ok */
    uint64_t head_seq;                     /* what audit_head says (when present) */
    char head_hash[LN_AUDIT_HASH_HEX + 1]; /* ditto, lower-case hex */
} ln_audit_report_t;

/* Walk the chain in seq order, in chunks (bounded memory for any number of
   rows), in one REPEATABLE READ READ ONLY snapshot, in its own transaction:
   call it with none open (else AUDIT_INVALID), so that rows appended
   meanwhile cannot look like tampering.  Checks that seq is
   dense from 1, that each prev_hash is the previous row's hash, that each
   hash matches the row, and that the head matches the last row.  Stops at
   the first bad row; first_bad_seq and problem say:
     "row changed"                       the row's hash does not match its
                                         contents (or its hash was changed)
     "row missing before it (seq A..B)"  a gap: first_bad_seq is the first
                                         row AFTER the hole, A..B are missing
     "prev_hash does not match"          the row does not follow its
                                         predecessor (e.g. the predecessor was
                                         changed and re-hashed)
     "unexpected seq (expected N)"       a seq out of order (duplicate, <= 0)
     "rows deleted at the end (head says seq N)"
                                         first_bad_seq is the first missing
                                         seq (last row + 1)
     "head does not match the last row"  head hash differs, or head is behind
     "head row missing or malformed"     first_bad_seq 0
   A broken chain is not an error: returns 0 with report->ok false.  Returns
   -1 (err set) only when the check could not be made (database errors,
   AUDIT_MISSING, AUDIT_ENCODING, AUDIT_INVALID). */
int ln_audit_verify (ln_db_t *db, ln_audit_report_t *report, ln_error_t *err);

#endif
