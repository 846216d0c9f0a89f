/*  ln_server: a node's one endpoint, serving commands and its event log.

    Every Lantern service is a thin main.c around one ln_server.  The server
    binds the node's CURVE ROUTER socket (docs/protocol.md) and runs the
    node's loop in the calling thread:

    - commands: each Request is checked (hostile input), authorised by role,
      and run by the service's handler inside a database transaction.
      Requests that are waiting together are run in ONE transaction (each
      non-staged one in its own savepoint), committed once, and only then
      replied to (group commit); a lone request is committed at once.  Replies of commands
      that change state are stored under (principal, request_id) in the same
      transaction, so a retry returns the stored reply and changes nothing.
      Every command, accepted or refused, is written to the audit trail in
      the same transaction (ln_audit).  Staged commands (see STAGED
      COMMANDS) skip the savepoint and write their rows set-based, once
      per batch.
    - the event log: the relay gives committed outbox rows their dense
      positions (ln_outbox_stamp) in a thread of its own, on a second
      database connection (ln_db_connect_like), woken by LISTEN/NOTIFY, at
      most every 20 ms under load; its "stamp" notifications wake the loop
      (the loop's connection socket is in the same poll); subscribers get
      Deliver while they have credit, filtered and projected per principal
      at the source (types by role, projection per type, never above the
      principal's confidentiality level).
    - consumers (ln_consumer) of upstream nodes, driven from the same loop.
    - housekeeping: retention of the outbox, expiry of stored replies, and
      reconnecting to PostgreSQL after a loss.

    One thread: the server, its consumers and its database connection are
    used from the thread that calls ln_server_run / ln_server_step.  (The
    relay's thread and connection are the server's own: it starts them in
    ln_server_new and stops them in ln_server_destroy.  So a node holds two
    database connections.)
    ln_server_stop may be called from a signal handler: the loop finishes
    the batch it is in, and returns.

    Node commands (docs/protocol.md 4.5) are built in: Ping (any principal),
    PostNotice (role "operator"), VerifyAudit (roles "operator", "auditor").
*/
#ifndef LN_SERVER_H
#define LN_SERVER_H

#include <czmq.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "ln_auth.h"
#include "ln_consumer.h"
#include "ln_db.h"
#include "ln_error.h"
#include "ln_keys.h"
#include "ln_outbox.h"
#include "wire.pb-c.h"

typedef struct ln_server_t ln_server_t;

/* --- commands ---------------------------------------------------------------- */

/* The context of one command call, valid during the handler. */
typedef struct ln_call_t ln_call_t;

const ln_principal_t *ln_call_principal (const ln_call_t *call);
const char *ln_call_request_id (const ln_call_t *call);
ln_db_t *ln_call_db (ln_call_t *call);
const char *ln_call_node (const ln_call_t *call);

/* Append an event to the outbox in the command's transaction (ln_outbox).
   event_id_out (may be NULL) receives its id.  In a staged command the
   event is checked and copied now and its row written at flush time (see
   STAGED COMMANDS below); its id is final at once.  Returns 0 or -1 (error
   set on the call). */
int ln_call_emit (ln_call_t *call, const ln_outbox_event_t *event, char *event_id_out,
                  size_t out_size);

/* Name the object a command concerns (a signal id, ...) for the audit row. */
void ln_call_set_object (ln_call_t *call, const char *object);

/* Memory that lives until the reply has been packed (for result messages
   and their strings).  Never NULL (out of memory aborts). */
void *ln_call_alloc (ln_call_t *call, size_t size);
char *ln_call_strdup (ln_call_t *call, const char *text);

/* Refuse the command: set the error the client gets and return -1, for
   `return ln_call_fail (call, "MISSING_TEXT", "text", "...")` (the field path
   relative to the command's own message: docs/protocol.md 8).
   Everything the handler wrote is rolled back (its savepoint). */
int ln_call_fail (ln_call_t *call, const char *code, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

/* A handler: do the command's work with ln_call_db (inside the transaction;
   parameterised SQL only), set *output to the result (a message of the
   command's output type, allocated with ln_call_alloc or borrowed from
   memory that lives until the reply is packed), return 0; or return
   ln_call_fail (...).  `input` is the decoded, checked command message of
   the command's input type: cast it.  A lost database connection is
   detected by the server (ln_db_last_lost) and the whole batch is
   retried. */
typedef int (*ln_command_fn) (void *arg, ln_call_t *call, const ProtobufCMessage *input,
                              ProtobufCMessage **output);

/* Record why an accepted read of personal data was made (the command's
   purpose field): written as the reason of the command's audit row. */
void ln_call_set_purpose (ln_call_t *call, const char *purpose);

/* The node's clock (µs since the epoch, ln_clock_wall_us: a test may move
   it, see ln_clock.h). */
int64_t ln_call_now_us (const ln_call_t *call);

/* Write the items a batch's calls of one command staged (ln_call_stage), in
   order, with set-based statements, inside the batch's transaction.
   Returns 0 or -1 with err set. */
typedef int (*ln_flush_fn) (void *arg, ln_db_t *db, void *const *items, size_t n, ln_error_t *err);

/* In a command whose ln_command_t has a flush: hand the server one item to
   write at flush time (ownership passes; destroy, which may be NULL, is
   called after the batch, whatever happened).  Items staged by a handler
   that then fails are destroyed without being flushed.  Called in a command
   without flush, it aborts (a programming error: nothing would write the
   item). */
void ln_call_stage (ln_call_t *call, void *item, void (*destroy) (void *item));

/* STAGED COMMANDS (ln_command_t.flush set): the set-based command path.

   The handler validates and prepares in C.  It may READ the database
   (ln_call_db) but must NOT write it: it hands its rows to the server with
   ln_call_stage and its events with ln_call_emit, which for a staged
   command checks the event and returns its event_id at once (generated in
   C when none is given) but defers the outbox row.  A staged request has no
   savepoint of its own.  Once every handler of the batch has run, the
   server, in the batch's transaction:
     1. calls each staged command's flush ONCE with the items of its
        accepted requests, in request order (not called when none staged);
     2. writes all deferred outbox rows of the batch in one statement
        (ln_outbox_encode), all stored replies in one, the audit rows in one
        (ln_audit_encode), then commits.
   Stored replies of every writing request of the batch are looked up in one
   query before any handler runs.  Besides the handlers' and flushes' own
   statements, a batch costs three round trips (ln_db_exec_all): BEGIN and
   the lookup; the events, the stored replies and the audit head's lock;
   the audit rows and COMMIT.  Non-staged commands in the same batch keep
   their savepoint and direct SQL; their stored replies go with the batch's.

   If a flush or one of these batched writes fails (other than by losing
   the connection), the batch is rolled back and run again one request at a
   time ("safe mode"): each request in its own savepoint, its items flushed
   with n = 1 right after its handler.  The request whose flush fails is
   refused (INTERNAL, audited as refused); the others succeed.  So a flush
   must be correct for any subset of the items, and a handler must be
   deterministic enough to be run twice (it runs again in safe mode; its
   first run's items and events are discarded).  A staged handler whose
   read fails (the transaction is then aborted, with no savepoint to go
   back to) also sends the batch to safe mode.

   Visibility: what a staged command writes exists only after the flush,
   so handlers of the same batch (staged or not) do not see it; commands
   of later batches do.  That is fine for rows whose ids the node makes
   (they reach a client only in the reply, after commit).  Within a batch,
   the outbox rows of non-staged commands are written before the staged
   ones; events of one batch are one transaction and get consecutive
   positions, so only their order within the batch differs from the order
   of the requests (none of which had been answered). */

/* A command a node serves, declared by the service that owns it.  The
   command is named by its message type: a client calls it as
   Request.call = google.protobuf.Any{type_url "type.googleapis.com/<input
   full name>", value} and gets Reply.call_result = Any of the output type
   (docs/protocol.md 4.1).  Commands whose message also has a field in
   Request's `command` oneof (the node commands Ping, PostNotice,
   VerifyAudit and intake's, from before `call`) are served through that
   field too, and answered in Reply's field of the same number when that
   field has the output type. */
typedef struct {
    const ProtobufCMessageDescriptor *input;  /* the command message, e.g. RecordDecision */
    const ProtobufCMessageDescriptor *output; /* its result message */
    const char *const *roles;                 /* NULL-terminated; NULL: any principal */
    bool writes;                              /* changes state: reply stored for retries */
    ln_command_fn fn;
    bool own_transaction; /* read-only, runs before the group transaction and
                             manages its own (e.g. one consistent snapshot);
                             its audit row still goes in the group's */
    ln_flush_fn flush;    /* non-NULL: a staged command (see above); needs
                             writes and not own_transaction */
} ln_command_t;

/* The command's name in audit rows and logs: its message's short name
   ("SubmitSignal"). */
const char *ln_command_name (const ln_command_t *command);

/* --- the event log's access policy -------------------------------------------- */

typedef enum {
    LN_PROJECTION_FULL = 1,
    LN_PROJECTION_PSEUDONYMISED,
    LN_PROJECTION_STATISTICAL,
} ln_projection_t;

/* Parse "full", "pseudonymised", "statistical".  0 or -1. */
int ln_projection_parse (const char *text, ln_projection_t *projection);
const char *ln_projection_name (ln_projection_t projection);

/* One rule: a principal holding `role` ("*": any) may receive events of
   `type` ("*": any) in `projection`.  The first matching rule wins; an
   event that matches no rule is not sent. */
typedef struct {
    const char *role;
    const char *type;
    ln_projection_t projection;
} ln_stream_rule_t;

/* Make the payload one subscriber sees of one event.  Called for every
   event a rule lets this subscriber receive (FULL included), with the
   subscriber's principal (so that a source can send an intake node only
   its own signals' outcomes, a care provider only its own referrals) and
   the stored row (type, correlation id, payload as stored).  Returns
     LN_PROJECT_PROJECTED (0)  *out is a malloc'ed packed payload of the SAME
                               message type, sent instead of the stored one;
     LN_PROJECT_DROP (1)       this subscriber does not get the event;
     LN_PROJECT_AS_STORED (2)  send the stored payload unchanged;
     -1                        error: the event is dropped for this
                               subscriber and the error logged.
   NULL project: FULL events are sent as stored, nothing else is sent. */
#define LN_PROJECT_PROJECTED 0
#define LN_PROJECT_DROP      1
#define LN_PROJECT_AS_STORED 2
typedef int (*ln_project_fn) (void *arg, const ln_principal_t *subscriber,
                              ln_projection_t projection, const ln_outbox_row_t *row, uint8_t **out,
                              size_t *out_size);

/* What one principal, and all of them together, can make the node hold for
   the stream (a registered peer is not a trusted peer: docs/security.md).
   A Subscribe beyond a limit is answered Reset LIMIT (with a time to try
   again).  Zero fields take the defaults (docs/operations.md,
   "Configuring a node"). */
typedef struct {
    size_t subscribers_max;             /* subscriptions in all; 0: 1024 */
    size_t subscriptions_per_principal; /* 0: 8 */
    uint64_t unconfirmed_per_principal; /* Deliver bytes not yet confirmed by
                                           Credit, per principal; 0: 16 MiB */
    uint64_t unconfirmed_total;         /* the same for the whole node; 0: 32 MiB */
} ln_stream_limits_t;

#define LN_STREAM_SUBSCRIBERS_MAX_DEFAULT       1024
#define LN_STREAM_PER_PRINCIPAL_DEFAULT         8
#define LN_STREAM_UNCONFIRMED_PRINCIPAL_DEFAULT (16u * 1024u * 1024u)
#define LN_STREAM_UNCONFIRMED_TOTAL_DEFAULT     (32u * 1024u * 1024u)
#define LN_STREAM_UNCONFIRMED_SUBSCRIPTION      (8u * 1024u * 1024u)

/* --- the server ------------------------------------------------------------------ */

typedef struct {
    const char *node;             /* node name, [a-z0-9-]{1,63}: source urn:lantern:node:<node> */
    const char *endpoint;         /* where to bind, e.g. tcp://127.0.0.1:5701 */
    zcert_t *cert;                /* the node's key pair, borrowed */
    ln_auth_t *auth;              /* the process's ZAP handler, borrowed */
    ln_db_t *db;                  /* the node's database, borrowed; migrated with
                                     ln_server_migrations() + the service's own */
    const ln_command_t *commands; /* the service's commands (may be NULL) */
    size_t command_count;
    const ln_stream_rule_t *rules; /* the service's stream policy (may be NULL) */
    size_t rule_count;
    ln_project_fn project; /* may be NULL */
    void *arg;             /* passed to handlers and project */
    ln_stream_limits_t limits;
    size_t batch_max;     /* requests per transaction; 0: 256; 1: no group commit */
    uint32_t credit_max;  /* largest credit a subscriber may hold; 0: 10000 */
    int64_t retention_ms; /* outbox retention; 0: keep forever */
} ln_server_config_t;

/* Bind and prepare (LISTEN).  Returns NULL with err set. */
ln_server_t *ln_server_new (const ln_server_config_t *config, ln_error_t *err);
void ln_server_destroy (ln_server_t **self_p);

/* The endpoint actually bound (resolves "tcp://127.0.0.1:*"). */
const char *ln_server_endpoint (ln_server_t *self);

/* Drive a consumer from the server's loop (borrowed; destroy it after the
   server).  Any number (a node follows every upstream of its
   configuration).  Returns 0 or -1. */
int ln_server_add_consumer (ln_server_t *self, ln_consumer_t *consumer);

/* One turn of the loop: wait at most timeout_ms for work, then do it.
   Returns 0, or -1 once stopped. */
int ln_server_step (ln_server_t *self, int timeout_ms);

/* Run until ln_server_stop.  Returns 0. */
int ln_server_run (ln_server_t *self);

/* Ask the loop to return after the batch in hand.  Async-signal-safe. */
void ln_server_stop (ln_server_t *self);

/* The library's own migrations (outbox, audit, consumer cursors, stored
   replies), versions 1..99.  A service runs them first, then its own
   (versions 100 and up): see ln_server_migrate. */
const ln_migration_t *ln_server_migrations (size_t *count);

/* Migrate the library's tables and then the service's (may be NULL/0) in
   one ordered list.  Returns 0 or -1 with err set. */
int ln_server_migrate (ln_db_t *db, const ln_migration_t *service, size_t count, ln_error_t *err);

/* Counters, for tests and the Pong. */
typedef struct {
    uint64_t requests;       /* requests answered */
    uint64_t transactions;   /* command transactions committed */
    uint64_t refused;        /* requests refused before the handler */
    uint64_t delivered;      /* Deliver messages sent */
    uint64_t dropped_frames; /* malformed client messages */
    uint64_t subscribers;    /* current subscriptions */
} ln_server_stats_t;
void ln_server_stats (const ln_server_t *self, ln_server_stats_t *stats);

#endif
