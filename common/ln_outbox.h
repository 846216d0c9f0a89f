/*  ln_outbox: the per-service transactional outbox, the source of a node's
    event stream (docs/architecture.md "Reliability").

    A service records a state change and the events it causes in ONE
    transaction: it calls ln_outbox_append inside its own open transaction,
    so the event exists if and only if the change committed.  A relay
    (ln_outbox_stamp) later gives committed events their stream position;
    the stream server reads them by position (ln_outbox_read) and sends
    Deliver{position, event}; retention removes old ones (ln_outbox_prune).

    Tables (in the service's own schema, created by ln_outbox_migration,
    version 1: the library's tables take versions 1..99, a service's own
    migrations 100 and up):

      outbox       one row per event: id (bigserial, insertion order only),
                   txid (xid8, the appending transaction), position (NULL
                   until stamped, then unique), event_id, type, level,
                   correlation_id, time_us, payload; a partial index holds
                   the unstamped rows only.
      outbox_head  exactly one row: head (the last position stamped, 0 when
                   none) and pruned (every position <= pruned is deleted).

    WHY POSITIONS ARE STAMPED LATE (the identity/serial pitfall).  `id` is
    taken from a sequence when the row is inserted, not when its transaction
    commits.  Writer A takes id 1 and keeps its transaction open; writer B
    takes id 2 and commits; a reader following `id > cursor` sees 2, moves
    its cursor to 2, and never sees 1 when A commits.  So readers never
    follow `id`: they follow `position`, which only exists on committed rows.

    THE STAMPING RULE.  ln_outbox_stamp, in its own READ COMMITTED
    transaction:
      1. locks the outbox_head row (SELECT ... FOR UPDATE), so that stampers
         in any number of processes run one at a time;
      2. in a NEW statement (hence a snapshot taken after the lock was
         granted), picks unstamped rows visible to that snapshot, ordered by
         (txid, id), at most max_rows, and numbers them head+1, head+2, ...;
         moves head; commits.
    A row is visible to the stamper only when its transaction has committed
    (rows of rolled-back transactions never become visible; rows of running
    ones are invisible), so a position is only ever given to a committed
    row, exactly once (the row stops matching `position IS NULL`).

    WHY A READER FOLLOWING `position > cursor` NEVER SKIPS A ROW.
    Claim: every snapshot sees the stamped positions as one gap-free range
    (pruned, head] of the head that snapshot sees.
      - One stamper transaction S_k adds the range (h_k, h_k + n_k] and moves
        head to h_k + n_k in one commit: it becomes visible all at once.
      - S_k+1 is granted the head lock only after S_k has committed, and
        PostgreSQL makes a commit visible to new snapshots before it releases
        the committing transaction's locks; so S_k+1's statement snapshot
        sees S_k (it reads h_k+1 = h_k + n_k and does not pick S_k's rows
        again), and any snapshot that sees S_k+1 committed also sees S_k.
        Stamper commits thus become visible in the order of their ranges.
        (This is also why step 2 must be a separate statement: under READ
        COMMITTED a statement's snapshot is taken when it starts, and a
        snapshot taken before the lock wait would miss S_k's work and number
        rows twice.  The transaction is explicitly READ COMMITTED; under
        REPEATABLE READ the lock would fail with a serialisation error.)
      - Retention deletes a prefix (pruned, p] and moves pruned to p in one
        commit, under the same lock.
    Hence a reader that has consumed everything up to c and asks for
    `position > c ORDER BY position` in one statement gets c+1, c+2, ...
    with no hole; a row that commits later is stamped later, with a
    position above every position already visible, so above c.
    ln_outbox_read also checks this on every batch (positions after+1,
    after+2, ...) and fails with OUTBOX_CORRUPT rather than skip.

    ORDER.  Positions follow the order in which transactions became visible
    to the relay, close to commit order.  Causality is kept: if transaction
    T2 began after T1 committed, every event of T1 has a smaller position
    than every event of T2 (T2 cannot be visible without T1; and when both
    are picked together, T1's xid, assigned before T1 committed, is below
    T2's).  Within a batch a transaction's events stay together, in the order
    it appended them.

    WHY NOT `txid < pg_snapshot_xmin(pg_current_snapshot())`.  That rule
    (stamp only rows older than every running transaction) would give the
    same no-skip guarantee but adds nothing to it, and it stalls the whole
    stream behind ANY long-running transaction with an xid in the cluster:
    another service's bulk import or migration, an operator's open psql
    session.  With one PostgreSQL shared by several nodes that would couple
    their buses.  It would also keep a committed event waiting while an
    older, unrelated transaction stays open, with no NOTIFY to say when it
    ends.  Rule used here: stamp what is visible.

    WAKE-UPS.  Each append runs pg_notify(channel, 'append'): listeners hear
    it when (and only if) the appending transaction commits, and a
    notification is delivered only once that commit is visible, so a stamp
    run after receiving it finds the row.  Each stamp that numbered rows
    runs pg_notify(channel, 'stamp'), so a reader in another process that
    does not stamp also wakes.  The channel is per schema
    (ln_outbox_channel); LISTEN with ln_outbox_listen, again after every
    reconnect (a new session listens to nothing).  A stream server loop:
    on a notification, ln_outbox_stamp until it stamps fewer than max_rows,
    then ln_outbox_read from each subscriber's cursor.

    RETENTION.  ln_outbox_prune deletes a prefix of the stamped log: every
    row with position <= P, where P is the highest position of an event with
    time_us < cutoff.  All events older than the cutoff go (no straggler
    survives because a younger event precedes it), a few younger ones just
    before P may go with them, unstamped rows never do, positions never
    change and no hole is made.  time_us is the event's own time: an import
    of historical events should keep the original time in the payload and
    let time_us default to now, or the next prune takes the log up to it.
    Deletion runs in chunks of their own transactions, so stamping is never
    blocked for long.

    BOUNDS.  first = pruned + 1 is the oldest position still held, last =
    head the newest (0 when nothing was ever stamped; first = last + 1 when
    the log is empty).  A subscriber at after_position may resume when
    after_position >= first - 1; below that its next event is gone and it
    must get a Reset (ln_outbox_read fails with OUTBOX_PRUNED).

    Threads: like ln_db_t, one connection per thread; the functions keep no
    state of their own.

    Error codes (ln_error_t.code), besides DB_CONNECTION_LOST (call
    ln_db_ensure and retry; an append's whole transaction is lost) and
    DB_STATEMENT passed through from ln_db:
      OUTBOX_INVALID         a bad argument (the field says which: type,
                             event_id, correlation_id, level, time_us,
                             payload, max_rows, limit, ...)
      OUTBOX_NO_TRANSACTION  ln_outbox_append without an open transaction
                             (or in one that has already failed)
      OUTBOX_IN_TRANSACTION  stamp or prune called while the connection has
                             a transaction open (they must own theirs)
      OUTBOX_DUPLICATE_ID    the event_id is already in the outbox; the
                             caller's transaction is now aborted
      OUTBOX_PRUNED          read: after_position < first - 1 (send Reset);
                             the batch's first and last are set
      OUTBOX_CORRUPT         the tables hold something this module never
                             writes (no head row, a hole in the positions,
                             a level out of range): someone changed them by
                             hand
*/
#ifndef LN_OUTBOX_H
#define LN_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ln_db.h"
#include "ln_error.h"
#include "ln_level.h"

/* Limits on what append accepts (bytes). */
#define LN_OUTBOX_EVENT_ID_MAX       128
#define LN_OUTBOX_TYPE_MAX           255
#define LN_OUTBOX_CORRELATION_ID_MAX 255
#define LN_OUTBOX_PAYLOAD_MAX        (4u * 1024u * 1024u)

/* A batch read stops before this many payload bytes (it always holds at
   least one event), so that its memory is bounded whatever the limit. */
#define LN_OUTBOX_READ_BYTES (8u * 1024u * 1024u)

/* A buffer that holds any event_id, generated or given, with its NUL. */
#define LN_OUTBOX_EVENT_ID_SIZE (LN_OUTBOX_EVENT_ID_MAX + 1)

/* A buffer that holds any channel name with its NUL (PostgreSQL's limit is
   63 bytes). */
#define LN_OUTBOX_CHANNEL_SIZE 64

/* The migration creating the tables, for the service's migration list:
       const ln_migration_t list[] = { LN_OUTBOX_MIGRATION, {100, ...}, };
   (the macro is usable in static initialisers; ln_outbox_migration is the
   same value as an object). */
#define LN_OUTBOX_MIGRATION_VERSION 1
extern const char ln_outbox_migration_sql[];
#define LN_OUTBOX_MIGRATION                                                                        \
    {                                                                                              \
        LN_OUTBOX_MIGRATION_VERSION, "outbox", ln_outbox_migration_sql                             \
    }
extern const ln_migration_t ln_outbox_migration;

/* One event to append; borrowed for the call. */
typedef struct {
    const char *event_id;       /* NULL or "": 128 random bits as 32 hex chars */
    const char *type;           /* e.g. "nl.lantern.signal.received.v1"; required */
    ln_level_t level;           /* confidentiality level */
    const char *correlation_id; /* signal or case concerned; NULL = "" */
    int64_t time_us;            /* µs since the Unix epoch; 0 = now; not negative */
    const uint8_t *payload;     /* may be NULL when payload_size is 0 */
    size_t payload_size;        /* <= LN_OUTBOX_PAYLOAD_MAX */
} ln_outbox_event_t;

/* Append one event in the caller's open transaction (the one that makes the
   state change it records) and notify the channel (heard at commit).  Text
   fields must be valid UTF-8 text (ln_utf8, no control characters) within
   the limits above.  Writes the event_id used (given or generated) to
   event_id_out when it is not NULL (out_size >= LN_OUTBOX_EVENT_ID_SIZE is
   always enough).  On failure the caller should roll back.  Returns 0 or
   -1 with err set. */
int ln_outbox_append (ln_db_t *db, const ln_outbox_event_t *ev, char *event_id_out, size_t out_size,
                      ln_error_t *err);

/* A new event_id, as append makes one when none is given: 128 random bits
   as 32 lower-case hex characters. */
void ln_outbox_new_id (char out[LN_OUTBOX_EVENT_ID_SIZE]);

/* Check an event as append does (OUTBOX_INVALID with the field), without
   writing anything.  A NULL or empty event_id passes (append makes one).
   Returns 0 or -1 with err set. */
int ln_outbox_check (const ln_outbox_event_t *ev, ln_error_t *err);

/* Append n (>= 1) events in order in the caller's open transaction, in ONE
   statement (INSERT ... SELECT FROM unnest of binary arrays, prepared once
   per connection) with one notification: the set-based form of
   ln_outbox_append, for a group commit's events.

   A BATCH IS STAMPED AS IT IS WRITTEN: the same statement moves
   outbox_head.head by n and gives the rows positions head+1..head+n, so
   the relay never has to UPDATE them (an update rewrites every row, and
   was the largest cost of a busy node).  Why the rule of THE STAMPING RULE
   still holds: moving the head takes the head row's lock, held until the
   caller's transaction ends, and every other numbering (the relay, other
   batches, prune) takes the same lock first; so positions are handed out
   one holder at a time, each holder's range starts where the last
   committed holder's ended (READ COMMITTED re-reads the head after the
   wait), a rolled-back range is handed out again, and a range becomes
   visible all at once, with its head, at commit.  A reader following
   `position > cursor` therefore still sees a gap-free prefix.  The price:
   the caller holds the head lock from this statement to its commit, so
   the relay (and other writers' batches) wait for that commit; call it
   late in the transaction.  Events appended one by one (ln_outbox_append)
   in the same transaction are stamped by the relay after the commit, so
   they come after the batch's in the stream.  Every event is checked
   before anything is sent (an invalid one: OUTBOX_INVALID, field
   "events[i].x", nothing written, the transaction still usable).  ids_out
   (may be NULL) gets n event_ids, given or generated.  A duplicate event_id
   (in the outbox or twice in the batch) fails the whole statement with
   OUTBOX_DUPLICATE_ID (roll back).  Returns 0 or -1 with err set. */
int ln_outbox_append_batch (ln_db_t *db, const ln_outbox_event_t *events, size_t n,
                            char (*ids_out)[LN_OUTBOX_EVENT_ID_SIZE], ln_error_t *err);

/* ln_outbox_append_batch in halves, for a caller that sends the INSERT in
   one round trip with other statements (ln_db_exec_all), inside its open
   transaction: ln_outbox_encode checks and encodes the events (as append
   does, ids_out as above) and sets enc->stmt, which points into enc;
   ln_outbox_encoded_check judges the statement's result (NULL when it
   failed: the error then comes from ln_db's last error, 23505 as
   OUTBOX_DUPLICATE_ID); ln_outbox_encoded_clear frees enc.  Both return
   0 or -1 with err set. */
typedef struct {
    ln_db_stmt_t stmt;
    /* private */
    ln_db_array_t arrays[6];
    const char *values[8];
    int lengths[8];
    int formats[8];
    char channel[LN_OUTBOX_CHANNEL_SIZE];
    char count[24];
    size_t n;
} ln_outbox_encoded_t;

int ln_outbox_encode (ln_db_t *db, const ln_outbox_event_t *events, size_t n,
                      char (*ids_out)[LN_OUTBOX_EVENT_ID_SIZE], ln_outbox_encoded_t *enc,
                      ln_error_t *err);
int ln_outbox_encoded_check (ln_db_t *db, const ln_outbox_encoded_t *enc, const PGresult *res,
                             ln_error_t *err);
void ln_outbox_encoded_clear (ln_outbox_encoded_t *enc);

/* The relay: number at most max_rows (>= 1) committed, unstamped events in
   a transaction of its own (see THE STAMPING RULE); safe to run from many
   connections and processes at once.  Sets *stamped (may be NULL) to how
   many were numbered; when that equals max_rows there may be more: call
   again.  With nothing to stamp it costs one query and no transaction.
   Returns 0 or -1 with err set (OUTBOX_IN_TRANSACTION when the connection
   has a transaction open). */
int ln_outbox_stamp (ln_db_t *db, size_t max_rows, size_t *stamped, ln_error_t *err);

/* One stamped event of a batch.  Every pointer points into the batch and
   lives until the batch is read into again or cleared.  Text fields are
   NUL-terminated. */
typedef struct {
    uint64_t position;
    const char *event_id;
    const char *type;
    ln_level_t level;
    const char *correlation_id;
    int64_t time_us;
    const uint8_t *payload; /* never NULL, also when payload_size is 0 */
    size_t payload_size;
    bool redacted; /* erased (ln_outbox_erase): payload empty, never delivered */
} ln_outbox_row_t;

/* A batch of events, owned by the caller.  Initialise to all zeros
   (ln_outbox_batch_t b = {0};); reuse it for every read (the memory is
   kept); free it with ln_outbox_batch_clear. */
typedef struct {
    ln_outbox_row_t *rows; /* count rows, by position, dense */
    size_t count;
    uint64_t first; /* bounds seen by the read, as ln_outbox_bounds */
    uint64_t last;
    /* private */
    size_t capacity;
    void *res;
} ln_outbox_batch_t;

/* Fill `batch` (emptied first) with the stamped events of position >
   after_position, by position, at most `limit` (1..100000) and, past the
   first event, less than LN_OUTBOX_READ_BYTES of payload in all.  One statement,
   one snapshot: the rows are consecutive, starting at after_position + 1.
   Also sets batch->first and batch->last (the bounds seen).  A count of 0
   means the reader is caught up (after_position >= last); after_position >
   last is not an error here (the caller may decide it is).  Returns 0, or
   -1 with err set: OUTBOX_PRUNED when after_position < first - 1 (the
   batch is then empty but first and last are set, for the Reset),
   OUTBOX_CORRUPT, DB_*.  (read uses binary results on ln_db_conn, which
   ln_db_exec does not offer: its DB_CONNECTION_LOST is reported in err
   only, not through ln_db_last_lost.) */
int ln_outbox_read (ln_db_t *db, uint64_t after_position, size_t limit, ln_outbox_batch_t *batch,
                    ln_error_t *err);

/* Free what the batch holds and make it empty; NULL-safe; the batch can be
   used again. */
void ln_outbox_batch_clear (ln_outbox_batch_t *batch);

/* The bounds of the log: *last = the newest stamped position (0 if none
   ever), *first = the oldest position still held (last + 1 when nothing is
   held).  Either pointer may be NULL.  Returns 0 or -1 with err set. */
int ln_outbox_bounds (ln_db_t *db, uint64_t *first, uint64_t *last, ln_error_t *err);

/* Retention: delete the prefix of the log up to the highest position whose
   event has time_us < cutoff_time_us (see RETENTION), in transactions of
   its own.  Sets *pruned (may be NULL) to the number of rows deleted.
   Positions of the rest and the head do not change.  The caller audits the
   purge.  Returns 0 or -1 with err set (OUTBOX_IN_TRANSACTION when the
   connection has a transaction open); on -1 a prefix may already be gone
   (*pruned counts it) and a later call continues. */
int ln_outbox_prune (ln_db_t *db, int64_t cutoff_time_us, uint64_t *pruned, ln_error_t *err);

/* ERASURE ("erased means erased everywhere", docs/security.md).  A
   service that purges a record calls ln_outbox_erase in the purge's own
   transaction, with the record's correlation ids: every event of the log
   with one of them loses its payload (an empty payload and redacted_us
   set: the row keeps its position, so the log stays dense, and it is never
   delivered again, ln_outbox_row_t.redacted), and one event
   nl.lantern.record.erased.v1 (payload lantern.v1.RecordErased, at
   `level`) per id is appended, so that every follower erases its own
   copies.  *redacted (may be NULL) gets the number of events redacted.
   The statement scans the log once (there is no index on correlation_id:
   it would cost every append), so erase many records per call.  Returns 0
   or -1 with err set (OUTBOX_NO_TRANSACTION, OUTBOX_INVALID, DB_*). */
#define LN_OUTBOX_TYPE_ERASED "nl.lantern.record.erased.v1"
int ln_outbox_erase (ln_db_t *db, const char *const *correlation_ids, size_t n, const char *reason,
                     ln_level_t level, uint64_t *redacted, ln_error_t *err);

/* The migration that adds redacted_us (version 8, "outbox_redaction"). */
extern const ln_migration_t ln_outbox_redaction_migration;

/* Write the LISTEN/NOTIFY channel of db's schema into out:
   "lantern_outbox_<schema>", or, when that would pass 63 bytes,
   "lantern_outbox_<first 31 bytes of schema>_<16 hex of SHA-256(schema)>".
   Always [a-z0-9_], safe to use as a quoted identifier.  Returns 0, or -1
   when db has no schema or out_size < LN_OUTBOX_CHANNEL_SIZE. */
int ln_outbox_channel (const ln_db_t *db, char *out, size_t out_size);

/* LISTEN on the channel of db's schema (outside or inside a transaction;
   inside, it takes effect at commit).  Notifications then arrive on
   ln_db_conn (db): PQconsumeInput + PQnotifies, with PQsocket in the poll
   loop.  Call again after every reconnect.  Returns 0 or -1 with err set. */
int ln_outbox_listen (ln_db_t *db, ln_error_t *err);

#endif
