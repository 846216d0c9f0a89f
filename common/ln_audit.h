/*  ln_audit: the service's append-only, hash-chained audit trail.

    docs/architecture.md "Security": every command (accepted or refused, with the
    reason) and every read of personal data is written to the service's
    audit table, so that afterwards anyone can answer who did what to which
    object, when, why, and with what outcome; and a row changed or deleted
    by hand is detected (`lanternctl audit verify`).

    How it fits:
    - The tables live in the service's own schema, created by
      ln_audit_migration (version 2 of the service's migration list; library
      tables take versions 1..99) and guarded by ln_audit_writer_migration
      (version 5).
    - Who may write.  The schema belongs to an owner role that migrates it;
      the node serves as a runtime role (ln_db.h) that may only READ audit
      and audit_head.  It appends through audit_append, a SECURITY DEFINER
      function of the owner (search_path pinned) that locks the head, checks
      the entries, computes seq, prev_hash and hash itself (in SQL, from the
      encoding below) and inserts.  So the runtime role decides what a row
      says (the entries are its own account of what happened, and when) but
      not where it goes in the chain: it cannot forge a hash, delete or
      change a row, move the head, disable a trigger or truncate.
    - ln_audit_append / ln_audit_append_batch are called INSIDE the caller's
      open transaction, the same one that holds the command's effect: an
      audit row exists if and only if the effect committed.  A refused
      command is audited in its own transaction or in the group-commit
      batch's.  On -1 the caller's transaction may be aborted: roll it back.
    - Writers are serialised by the single row of audit_head, which
      audit_append locks (FOR UPDATE) and which holds the last seq and hash.
      seq is therefore dense (1, 2, 3, ...) and taken in commit order, and a
      rolled-back transaction leaves no gap.  The lock is held until the
      caller commits: audit late in a transaction, and commit soon.  Under
      REPEATABLE READ or SERIALIZABLE a concurrent appender gets SQLSTATE
      40001 (retry the transaction); services use READ COMMITTED.
    - ln_audit_verify walks the whole chain (in bounded chunks) and names the
      first bad row; ln_audit_verify_anchors also checks the chain against
      heads that followers recorded (anchors, below).

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
    detected too.  The hash is computed in SQL by audit_append and
    recomputed in C by verification, so the format is checked by two
    independent implementations (and tests/integration/test_audit.c
    recomputes it in a third).

    Anchors.  Someone with the OWNER's rights (or a superuser) can still
    delete the newest rows and move the head back, or rewrite every row from
    some point on and the head, consistently: the chain alone cannot show
    it.  So a node publishes its head now and then as the event
    nl.lantern.audit.anchored.v1 (payload lantern.v1.AuditAnchored: seq,
    hash, at_us, node); each follower stores what it received
    (ln_audit_anchor_record, table upstream_anchors, migration 6), where the
    node's owner cannot write; and ln_audit_verify_anchors compares the
    node's trail with them: the row at each anchor's seq must exist and
    have the anchor's hash (`lanternctl audit anchors`, `audit verify
    --anchors`).  The triggers that refuse UPDATE, DELETE and TRUNCATE on
    audit prevent accidents by the owner.

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
      AUDIT_MISSING             the schema has no audit table, head row or
                                audit_append function (migration 2 or 5
                                not applied)
      AUDIT_ANCHOR_CONFLICT     (ln_audit_anchor_record returning 1) an
                                upstream's anchor contradicts one stored
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

/* The migration that creates audit and audit_head, version 2, name "audit";
   the one that makes the runtime role append through audit_append, version
   5, name "audit_writer"; the one that creates upstream_anchors, version 6,
   name "upstream_anchors".  Put them in the service's list in version order
   (ln_server_migrations does). */
extern const ln_migration_t ln_audit_migration;
extern const ln_migration_t ln_audit_writer_migration;
extern const ln_migration_t ln_audit_anchors_migration;

/* At most this many entries per audit_append call (one statement). */
#define LN_AUDIT_APPEND_MAX 10000

/* Append one entry inside the caller's open transaction.  Same as
   ln_audit_append_batch (db, entry, 1, err).  Returns 0 or -1. */
int ln_audit_append (ln_db_t *db, const ln_audit_entry_t *entry, ln_error_t *err);

/* Append n entries, in order, inside the caller's open transaction: one read
   of the head and one call of audit_append per chunk of up to 512 entries
   (two round trips for a group-commit batch).  Every entry is checked before anything
   is sent: if one is invalid, nothing is written (AUDIT_INVALID, field
   "entries[i].x") and the transaction is still usable.  n == 0 does nothing.
   Returns 0 or -1. */
int ln_audit_append_batch (ln_db_t *db, const ln_audit_entry_t *entries, size_t n, ln_error_t *err);

/* ln_audit_append_batch in steps, for a group commit that sends its
   statements in a few round trips (ln_db_exec_all):
     1. ln_audit_lock_stmt: the statement that reads the head (to refuse
        early when the trail is missing; it takes no lock, the runtime role
        may not: audit_append locks the head in step 3, until the
        transaction ends); run it in the transaction, keep its result;
     2. ln_audit_encode: checks the entries (as append does; 1 <= n <=
        LN_AUDIT_APPEND_MAX), checks the head from that result, and sets
        enc->stmt: ONE statement (a call of audit_append) that appends all
        n rows, chained after whatever the head is when it runs, and moves
        the head;
     3. run enc->stmt (e.g. with the transaction's other writes and its
        COMMIT) and judge its result with ln_audit_encoded_check (NULL: it
        failed);
     4. ln_audit_encoded_clear.
   Returns 0 or -1 with err set. */
typedef struct {
    ln_db_stmt_t stmt;
    /* private */
    ln_db_array_t arrays[8];
    const char *values[8];
    int lengths[8];
    int formats[8];
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
    uint64_t anchors;                      /* anchors checked and found good */
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

/* --- anchors ------------------------------------------------------------------- */

/* A node's audit head as it published it (nl.lantern.audit.anchored.v1), or
   as a follower stored it. */
typedef struct {
    uint64_t seq;                     /* the head's seq (= rows in the trail) */
    char hash[LN_AUDIT_HASH_HEX + 1]; /* the head's hash, lower-case hex */
    int64_t at_us;                    /* when the node read its head */
    /* filled by ln_audit_anchors_load, not used by record or verify: */
    uint64_t position;   /* the event's position in the upstream's stream */
    int64_t received_us; /* when the follower stored it */
} ln_audit_anchor_t;

/* The node's own head, to publish: one read (no lock; a head read while
   others append is simply an earlier head).  Returns 0 or -1 (AUDIT_MISSING
   when the head row is missing or malformed, DB_*). */
int ln_audit_head (ln_db_t *db, uint64_t *seq, char hash_hex[LN_AUDIT_HASH_HEX + 1],
                   ln_error_t *err);

/* Store an anchor that `upstream` (the node name of the event's source)
   published at stream `position`: called by a consumer inside its batch
   transaction, with the event's payload.  Checked first (upstream 1..256
   bytes of UTF-8 text; hash 64 lower-case hex digits; position > 0; at_us
   >= 0): AUDIT_INVALID, nothing written.  A redelivered anchor (the same
   seq and hash again) is not stored twice.  Returns
     0   stored, or already stored as it is;
     1   stored or not, but it contradicts what this follower holds: an
         anchor of the same seq with ANOTHER hash is stored (the first is
         kept), or a higher seq of this upstream is stored already (its head
         went back).  The upstream's trail was cut or rewritten: the caller
         logs it as an error (err says which), and goes on;
     -1  error (err set; a database error aborts the caller's transaction).
   The SQL never fails on a duplicate (ON CONFLICT DO NOTHING), so the
   caller's transaction stays usable on 0 and 1. */
int ln_audit_anchor_record (ln_db_t *db, const char *upstream, uint64_t position,
                            const ln_audit_anchor_t *anchor, ln_error_t *err);

/* Every anchor stored for `upstream`, by seq (*anchors is the caller's to
   free; NULL and 0 when none).  Returns 0 or -1 (AUDIT_MISSING when the
   schema has no upstream_anchors: migration 6 not applied). */
int ln_audit_anchors_load (ln_db_t *db, const char *upstream, ln_audit_anchor_t **anchors,
                           size_t *n, ln_error_t *err);

/* ln_audit_verify, and then, in the same snapshot, every anchor (n of
   them, any order; anchors may be NULL when n is 0): the row at its seq
   must exist and have its hash (seq 0: the empty trail, hash all zeros).
   The first bad anchor, by seq, ends the check with report->ok false and:
     first_bad_seq = the first missing seq (last row + 1) and
     problem = "anchor of seq N (TIME) is beyond the end of the trail
               (seq M): rows deleted and the head moved back"
   or
     first_bad_seq = N and
     problem = "anchor of seq N (TIME) does not match row N: the trail was
               rewritten at or before it"
   (TIME: the anchor's at_us, UTC).  report->anchors counts the anchors
   found good.  A broken chain is reported as by ln_audit_verify, before
   any anchor.  Returns as ln_audit_verify; AUDIT_INVALID when an anchor's
   hash is not 64 hex digits. */
int ln_audit_verify_anchors (ln_db_t *db, const ln_audit_anchor_t *anchors, size_t n,
                             ln_audit_report_t *report, ln_error_t *err);

#endif
