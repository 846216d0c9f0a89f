/*  ln_consumer: follow ONE upstream node's event log with exactly-once effect.

    A service makes one consumer per upstream node it follows (triage: one
    per intake node; monitor: one per node).  The consumer speaks the client
    side of docs/protocol.md section 5 over a CURVE DEALER socket
    (ln_auth_client_socket), and for every batch of events it receives it
    opens a transaction on the service's database, calls the service's
    `apply` callback with the events, stores the cursor (the last applied
    position) in table stream_cursors in the SAME transaction, commits, and
    only then grants the node credit for them (protocol 5.3 rules 1 and 2).

    It is driven by the service's poll loop, never blocks on the network and
    owns no thread:

        zpoller_t *poller = zpoller_new (ln_consumer_socket (c), ...);
        while (running) {
            zsock_t *which = zpoller_wait (poller, ln_consumer_next_timeout_ms (c, zclock_mono ()));
            if (which == ln_consumer_socket (c))
                ln_consumer_on_readable (c);
            ln_consumer_on_tick (c, zclock_mono ());
        }

    The consumer's socket is a client: it needs no ZAP handler in this
    process (the upstream node runs one and must list our public key).

    Each on_readable call reads at most batch_max messages and commits them
    as one transaction; messages left waiting make a (level-triggered)
    zmq_poll/zpoller/zloop fire again at once.

    The protocol, as this consumer applies it
    -----------------------------------------
    - Start: read the cursor of `upstream` from stream_cursors (0 if none),
      send Subscribe{after_position: cursor, credit}.
    - Sending never queues: the socket has ZMQ_IMMEDIATE, so while there is
      no connection (the node is down, the handshake not done) a Subscribe
      fails at once and is tried again after 20 ms, doubling to 1 s, until
      it goes out; a Credit that finds no connection is dropped (the node has
      forgotten that subscription anyway).  So a node that was away for a
      day gets one Subscribe when it comes back, not a queued burst.
    - Every message is hostile: exactly one frame, decoded with
      ln_pbcheck_unpack as a ServerMessage.  A message that is not one, or
      that is neither Deliver nor Reset, is logged (warn) and dropped, and
      the consumer resubscribes from its cursor: the stream is suspect.
    - A Deliver is judged against `have`, the last position we hold (the
      committed cursor, or the last event accepted into the batch being
      gathered):
        position <= have                duplicate (after a resubscription):
                                        ignored; its credit is given back;
        previous_position != have       gap: what we hold is committed, then
                                        Subscribe{after_position: cursor};
        otherwise                       accepted: the event bytes go through
                                        ln_envelope_parse, and its
                                        attributes["sequence"] must equal the
                                        position and its source node must be
                                        `upstream`.
      After a resubscription because of a gap, a bad message or a failed
      batch, messages that the node sent on the previous subscription may
      still be in flight; gaps and bad messages within holdoff = idle_ms / 4
      of that Subscribe are dropped without yet another Subscribe, so that
      one gap does not become a storm of them.
    - Idle: when no Deliver has come for idle_ms (counted from the last
      Deliver or Subscribe), Subscribe{cursor} again (protocol 5.3 rule 4).
      This is how a restarted node, a replaced connection or a lost Credit
      are survived: a ZMTP reconnect is invisible to a DEALER, and a node
      keeps no subscription across either.
    - Reset (PRUNED, AHEAD, FORBIDDEN): what we hold is committed, the
      consumer logs an error with first/last position and reason, and stops:
      state RESET, no Subscribe or Credit is sent again by this object.
      Skipping ahead would silently lose events; resynchronising is an
      operator's decision (protocol 5.5): ResyncUpstream (lanternctl
      upstream resync), which calls ln_consumer_resync.  Reset LIMIT or
      UNAVAILABLE is not a stop: the consumer subscribes again after the
      Reset's retry_after_ms.
    - An accepted event that fails ln_envelope_parse, or whose sequence or
      source contradicts the Deliver, is NOT applied and NOT skipped: what
      came before it is committed and the consumer stops in state POISONED,
      logging an error that names the upstream, the position and the reason.
      Decision: losing nothing matters more than progress.  Skipping would
      lose an event for good (our cursor would pass it, and nothing would
      ever bring it back); stopping keeps it at the head of the stream, and a
      restart of the service meets it again.  An operator must look: fix the
      upstream, or deliberately skip it (ResyncUpstream with the poisoned
      position: `lanternctl upstream skip NAME`), which is audited.
    - An event the apply callback refuses for what it is (it returns
      LN_CONSUMER_REFUSE): the batch is applied again one event at a time,
      the events before the refused one are committed, and the consumer
      stops POISONED at it, as above.
    - Failure of the apply callback, the cursor update or the commit
      (including a lost database connection): ROLLBACK, the gathered batch is
      dropped, state BACKOFF; after a backoff (100 ms doubling to 5 s, with
      jitter) ln_db_ensure re-establishes the connection if it is lost (this
      blocks for up to the db handle's retry budget), the cursor is READ BACK
      from the database, and the consumer resubscribes from it.  Repeats
      until it works; each failure is logged.

    Why nothing is lost and nothing is doubled (exactly-once effect)
    ----------------------------------------------------------------
    The cursor and the effects of the events up to it live in one database
    and change in one transaction, so they are always consistent: whatever
    crashes, PostgreSQL holds "events 1..cursor applied, nothing after".
    Every (re)subscription asks for the events after that cursor, and the
    node's positions are dense and commit-ordered (protocol 5.1).  Crash
    points, one by one:
      - killed while gathering or applying a batch, before COMMIT: the
        transaction is rolled back by PostgreSQL; the restarted consumer
        reads the old cursor and is sent those events again.
      - killed after COMMIT, before Credit was sent (or Credit lost in
        flight): the cursor includes the batch; the restart subscribes after
        it, so the batch is not sent again; a lost Credit only shrinks the
        node's window, and the idle resubscribe resets the window.
      - the connection to PostgreSQL breaks during COMMIT: the outcome is
        unknown to us.  That is why the cursor is read back from the
        database before every resubscription after a failure, and why the
        cursor update is conditional (UPDATE ... WHERE position = <the
        cursor we started from>): a transaction built on a stale cursor
        changes nothing and is rolled back (CONSUMER_CURSOR_MOVED), so two
        processes that follow the same upstream with the same cursor row by
        mistake cannot both apply an event either.
      - the node crashes or restarts: it keeps no subscription; the idle
        resubscribe asks for the events after our cursor again.
      - a Deliver is lost or reordered on the way (a node that dropped one):
        previous_position does not match, the consumer resubscribes; events
        re-sent after the resubscription that we already hold are
        duplicates (position <= cursor) and ignored.
      - the node's database was restored from an older backup: it answers
        Reset AHEAD, and we stop rather than re-apply or skip.
    What this cannot cover: effects of `apply` OUTSIDE the transaction
    (sending messages, writing files).  The callback must only change the
    database through `db`, inside the transaction it is given, or make
    other effects idempotent itself.

    Database
    --------
    ln_consumer_migration (version 3, "consumer") creates, in the service's
    schema, stream_cursors (upstream text primary key, position bigint,
    updated_at timestamptz).  The service lists it in its migration list
    (versions strictly increasing).  The db handle is the service's (shared
    with its other work, one thread): the consumer uses it only inside
    ln_consumer_new / on_readable / on_tick, which must not be called while
    the service has a transaction of its own open on it.

    Error codes (ln_error_t.code) set by ln_consumer_new:
      CONSUMER_INVALID      a missing or unusable configuration value
                            (field names it: "upstream", "endpoint", ...)
      AUTH_*                from ln_auth_client_socket (bad key, socket)
      DB_*                  from ln_db when the cursor could not be read
                            (e.g. DB_STATEMENT: the migration is not applied)
    Codes that appear only in log lines (field `code`):
      CONSUMER_BAD_MESSAGE  a frame that is not a ServerMessage, or of a kind
                            a stream does not carry
      CONSUMER_GAP          previous_position does not match our cursor
      CONSUMER_CURSOR_MOVED the stored cursor is not the one this batch
                            started from (someone else moved it)
      CONSUMER_APPLY_FAILED the apply callback returned -1 without an error
                            of its own (its own code is logged when it set one)
      CONSUMER_APPLY_INVALID the apply callback ended the transaction itself
      CONSUMER_APPLY_REFUSED the apply callback refused an event
                            (LN_CONSUMER_REFUSE) without an error of its own;
                            its own code is the problem when it set one
                            (POISONED)
      CONSUMER_SEQUENCE     an event's sequence differs from its position
      CONSUMER_SOURCE       an event's source node is not the upstream
      EVENT_*, PB_*         why ln_envelope_parse refused an event (POISONED)
*/
#ifndef LN_CONSUMER_H
#define LN_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include <czmq.h>

#include "ln_db.h"
#include "ln_envelope.h"
#include "ln_error.h"

#define LN_CONSUMER_CREDIT_DEFAULT  1000
#define LN_CONSUMER_CREDIT_MAX      10000 /* the node clamps to this (protocol 5.2) */
#define LN_CONSUMER_IDLE_MS_DEFAULT 5000
#define LN_CONSUMER_BACKOFF_MIN_MS  100
#define LN_CONSUMER_BACKOFF_MAX_MS  5000

typedef struct _ln_consumer_t ln_consumer_t;

typedef enum {
    LN_CONSUMER_FOLLOWING = 0, /* subscribed (or about to be), applying events */
    LN_CONSUMER_BACKOFF,       /* a batch failed; will read the cursor back and resubscribe */
    LN_CONSUMER_RESET,         /* the node sent Reset: stopped, an operator must resync */
    LN_CONSUMER_POISONED,      /* an event could not be accepted: stopped, an operator must look */
} ln_consumer_state_t;

/* Apply a batch of events.  Called INSIDE an open transaction on `db`;
   events[i] is at positions[i], in increasing position order; events are
   borrowed (valid during the call).  Return 0 to commit (with the cursor
   moved to positions[count-1]), -1 to roll back (err may be filled; the
   batch is then retried after a backoff, from the stored cursor: for what
   may pass, such as a lost connection), or LN_CONSUMER_REFUSE (err
   filled) when an event will never apply, whatever the retries: it is
   wrong in itself (a broken or hostile upstream).  The consumer then
   rolls back and applies the batch again one event at a time, each in a
   savepoint of one transaction (so the callback must take batches of one,
   and must not keep state outside the transaction), commits the events
   before the refused one and stops POISONED at it, with err as the
   problem; `lanternctl upstream skip` moves past it.  Do not COMMIT or
   ROLLBACK inside; change nothing outside the transaction. */
#define LN_CONSUMER_REFUSE (-2)

typedef int (*ln_consumer_apply_fn) (void *arg, ln_db_t *db, const char *upstream,
                                     ln_event_t *const *events, const uint64_t *positions,
                                     size_t count, ln_error_t *err);

typedef struct {
    const char *upstream;          /* the upstream node's name, as in its events' source
                                      (urn:lantern:node:<upstream>); the key of its cursor row */
    const char *endpoint;          /* e.g. "tcp://127.0.0.1:5701" */
    const char *server_public_key; /* Z85 (40 characters) of the upstream node */
    zcert_t *cert;                 /* our key pair; borrowed, used during new only */
    uint32_t credit;               /* window; 0: LN_CONSUMER_CREDIT_DEFAULT; max 10,000 */
    int idle_ms;                   /* resubscribe after this long without a Deliver;
                                      0: LN_CONSUMER_IDLE_MS_DEFAULT; >= 20 */
    size_t batch_max;              /* events per transaction; 0: = credit */
    const char *projection;        /* the most revealing projection wanted (Subscribe's
                                      projection): "full", "pseudonymised", "statistical";
                                      NULL or "": whatever the upstream's policy allows */
} ln_consumer_config_t;

/* Create a consumer: validate the configuration (strings are copied), make
   the DEALER socket, read the cursor, and send the first Subscribe.  `db`
   and `arg` are borrowed and must outlive the consumer.  Returns NULL with
   err set on failure. */
ln_consumer_t *ln_consumer_new (const ln_consumer_config_t *cfg, ln_db_t *db,
                                ln_consumer_apply_fn apply, void *arg, ln_error_t *err);

/* Close the socket and free everything; a batch being gathered (never the
   case between calls) would be dropped, uncommitted.  NULL-safe; sets
   *self_p to NULL. */
void ln_consumer_destroy (ln_consumer_t **self_p);

/* The DEALER socket, for the service's poller.  Owned by the consumer. */
zsock_t *ln_consumer_socket (ln_consumer_t *self);

/* Read what is waiting without blocking (at most batch_max messages), apply
   the accepted events as one transaction with the cursor, commit, then send
   Credit.  In RESET, POISONED or BACKOFF, messages are read and discarded.
   Returns 0, or -1 when a batch failed during this call (the consumer is
   then in BACKOFF and recovers by itself: the caller need not act). */
int ln_consumer_on_readable (ln_consumer_t *self);

/* Timers: the idle resubscribe, and in BACKOFF the recovery (ln_db_ensure,
   read the cursor back, resubscribe).  `now_ms` is zclock_mono ().  Call it
   whenever ln_consumer_next_timeout_ms says, or more often.  Returns 0, or
   -1 when a recovery attempt failed (another one is scheduled). */
int ln_consumer_on_tick (ln_consumer_t *self, int64_t now_ms);

/* How long (ms, >= 0) the poller may sleep before on_tick is due, or -1
   when no timer runs (RESET, POISONED). */
int ln_consumer_next_timeout_ms (ln_consumer_t *self, int64_t now_ms);

/* The committed cursor: the last position applied and stored. */
uint64_t ln_consumer_position (const ln_consumer_t *self);

/* The state (NULL: POISONED, i.e. "not following"). */
ln_consumer_state_t ln_consumer_state (const ln_consumer_t *self);

/* "FOLLOWING", "BACKOFF", "RESET", "POISONED". */
const char *ln_consumer_state_name (ln_consumer_state_t state);

/* The upstream's name. */
const char *ln_consumer_upstream (const ln_consumer_t *self);

/* What an operator sees of a consumer (ListUpstreams). */
typedef struct {
    char upstream[LN_ENVELOPE_NODE_MAX + 1];
    char endpoint[256];
    ln_consumer_state_t state;
    bool lagging;               /* FOLLOWING, but nothing heard for three idle intervals */
    uint64_t position;          /* the committed cursor */
    uint64_t upstream_position; /* the upstream's newest position, as last heard (0: unknown) */
    int64_t last_heard_us;      /* wall time of the last message (0: never) */
    uint64_t stopped_at;        /* RESET: the upstream's first position; POISONED: the event's */
    char problem[256];          /* why it stopped or waits; "" when following */
} ln_consumer_status_t;

void ln_consumer_status (const ln_consumer_t *self, ln_consumer_status_t *status);

/* An operator's decision after a Reset or a poisoned event: store the
   cursor `after_position` (the next event applied is the one after it) in
   a transaction of its own, and follow again from it.  The caller audits
   it.  Returns 0 or -1 with err set. */
int ln_consumer_resync (ln_consumer_t *self, uint64_t after_position, ln_error_t *err);

/* Migration that creates stream_cursors (version 3, name "consumer"). */
extern const ln_migration_t ln_consumer_migration;

#endif
