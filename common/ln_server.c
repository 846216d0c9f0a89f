/*  ln_server: a node's endpoint: commands with group commit, the event log
    with credit, consumers, housekeeping.  See ln_server.h for the contract
    and docs/protocol.md for the wire.

    The loop (ln_server_step), in one thread:
      1. poll the ROUTER, the database socket (LISTEN/NOTIFY) and the
         consumers' sockets, with a timeout from the timers below;
      2. notifications: "stamp" (the relay numbered rows) -> read the
         outbox's bounds again;
      3. drain the ROUTER: Subscribe and Credit are handled at once;
         Requests are collected (at most batch_max) and run as ONE
         transaction, then replied to;
      4. serve subscribers that have credit and events to see;
      5. consumers: readable sockets and ticks;
      6. timers: outbox retention, expiry of stored replies, database
         reconnection.
*/
#include "ln_server.h"
#include "ln_alloc.h"
#include "ln_clock.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ln_audit.h"
#include "ln_envelope.h"
#include "google/protobuf/any.pb-c.h"
#include "ln_log.h"
#include "ln_messages.h"
#include "ln_pbcheck.h"
#include "ln_utf8.h"
#include "ln_version.h"
#include "lantern.pb-c.h"

#define MONITOR_EVENTS                                                                             \
    (ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |          \
     ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
#define STREAM_AUDIT_EVERY_MS (3600LL * 1000) /* a long stream's deliveries are audited hourly */
#define RETRY_LIMIT_MS        5000            /* Reset LIMIT: subscribe again after this */
#define RETRY_UNAVAILABLE_MS  1000            /* Reset UNAVAILABLE: ditto */
#define TRIM_EVERY_MS         1000            /* give freed memory back at most this often */
#define BATCH_MAX_DEFAULT     256
#define CREDIT_MAX_DEFAULT    10000
#define READ_CHUNK            500   /* outbox rows per read */
#define SCAN_BUDGET           4000  /* rows examined per subscriber per turn */
#define STAMP_CHUNK           10000 /* rows stamped per relay transaction */
#define RELAY_INTERVAL_MS     20    /* the relay stamps at most this often */
#define RELAY_IDLE_MS         1000  /* and looks at least this often */
#define DB_RETRY_MS           1000
#define DB_REFUSED_HOLD_MS    30000 /* a refusal that will not pass by itself: try again after */
#define PRUNE_EVERY_MS        60000
#define REPLY_KEEP_MS         (7LL * 24 * 3600 * 1000)
#define REQUEST_ID_MAX        64
#define NOTICE_TEXT_MAX       1000
#define NOTICE_TYPE           "nl.lantern.notice.posted.v1"
#define PURPOSE_MAX           200
#define REQUEST_HASH_BYTES    32
/* Request.call and Reply.call_result: commands named by their message. */
#define CALL_FIELD 90

/* --- small helpers ------------------------------------------------------------- */

static bool
s_request_id_valid (const char *id)
{
    size_t len = id ? strlen (id) : 0;
    if (len == 0 || len > REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* --- projections ------------------------------------------------------------------- */

static const char *s_projection_names[] = {NULL, "full", "pseudonymised", "statistical"};

int
ln_projection_parse (const char *text, ln_projection_t *projection)
{
    for (int i = LN_PROJECTION_FULL; text && i <= LN_PROJECTION_STATISTICAL; i++)
        if (strcmp (text, s_projection_names[i]) == 0) {
            *projection = (ln_projection_t)i;
            return 0;
        }
    return -1;
}

const char *
ln_projection_name (ln_projection_t projection)
{
    if (projection < LN_PROJECTION_FULL || projection > LN_PROJECTION_STATISTICAL)
        return NULL;
    return s_projection_names[projection];
}

/* --- the library's migrations ----------------------------------------------------- */

static const ln_migration_t s_replies_migration = {
    4, "command_replies",
    "CREATE TABLE command_replies (\n"
    "    principal  text   NOT NULL,\n"
    "    request_id text   NOT NULL,\n"
    "    reply      bytea  NOT NULL,\n"
    "    created_us bigint NOT NULL,\n"
    "    PRIMARY KEY (principal, request_id)\n"
    ");\n"
    "CREATE INDEX command_replies_created ON command_replies (created_us);\n"};

/* A request_id reused for another request is refused (REQUEST_ID_REUSED):
   each stored reply keeps a hash of the request it answers.  Rows stored
   before this migration have none and are replayed as before. */
static const ln_migration_t s_request_hash_migration = {
    7, "command_replies_request_hash",
    "ALTER TABLE command_replies ADD COLUMN request_hash bytea;\n"};

const ln_migration_t *
ln_server_migrations (size_t *count)
{
    static ln_migration_t list[8];
    list[0] = ln_outbox_migration;
    list[1] = ln_audit_migration;
    list[2] = ln_consumer_migration;
    list[3] = s_replies_migration;
    list[4] = ln_audit_writer_migration;
    list[5] = ln_audit_anchors_migration;
    list[6] = s_request_hash_migration;
    list[7] = ln_outbox_redaction_migration;
    *count = 8;
    return list;
}

int
ln_server_migrate (ln_db_t *db, const ln_migration_t *service, size_t count, ln_error_t *err)
{
    size_t nlib = 0;
    const ln_migration_t *lib = ln_server_migrations (&nlib);
    ln_migration_t *all = calloc (nlib + count, sizeof *all);
    if (!all)
        abort ();
    memcpy (all, lib, nlib * sizeof *all);
    if (count)
        memcpy (all + nlib, service, count * sizeof *all);
    int rc = ln_db_migrate (db, all, nlib + count, err);
    free (all);
    return rc;
}

/* --- structures --------------------------------------------------------------------- */

/* A streaming connection: the state a peer made with Subscribe.  It
   belongs to the connection it came on (routing id and socket) AND to the
   principal that connection authenticated as; it dies with the connection
   (the socket monitor's DISCONNECTED) and is never touched by a message of
   another principal.  It holds the connection's ledger of Delivers sent and
   not yet confirmed by Credit (they sit in the peer's or in libzmq's
   queues: memory the peer pins), which outlives a subscription that ends
   while the connection stays (a Reset, a new Subscribe), and a
   subscription when `active`. */
typedef struct {
    zframe_t *routing_id;
    int fd; /* the connection's socket (ZMQ_SRCFD of its messages) */
    const ln_principal_t *principal;
    bool active;           /* subscribed (the fields below from `asked` on) */
    ln_projection_t asked; /* Subscribe.projection: the most it wants (0: any) */
    uint64_t scan;         /* highest position examined */
    uint64_t prev;         /* last position delivered: next Deliver's previous_position */
    uint32_t credit;       /* Delivers allowed in flight */
    int64_t retry_at;      /* its queue was full: not before this (monotonic ms) */
    int retry_ms;          /* the current backoff */
    /* Sizes of the Delivers sent and not yet confirmed by Credit, oldest
       first (a ring that grows up to credit_max entries): credit bounds how
       many, this bounds how many bytes, whatever the events' size. */
    uint32_t *sizes;
    size_t ring_cap, ring_head, ring_count;
    uint64_t bytes;
    bool bytes_full; /* waiting for Credit to free bytes */
    uint64_t serial; /* order of creation: the oldest of a principal goes first */
    /* the stream's audit (docs/security.md): from where, since when, what */
    uint64_t after;
    int64_t since_us;
    uint64_t delivered, personal; /* since the subscription began */
    uint64_t audited_delivered;   /* counted in an audit row already */
    uint64_t audited_personal;
    int64_t audit_at; /* next periodic audit (monotonic ms) */
} subscriber_t;

/* What one principal holds in the stream (its subscriptions and the bytes
   they have not confirmed), for the per-principal limits. */
typedef struct {
    const ln_principal_t *principal;
    size_t subscriptions;
    uint64_t bytes;
} principal_use_t;

/* A stream audit row waiting for the loop's next audit transaction. */
typedef struct {
    char principal[LN_AUDIT_NAME_MAX];
    char organisation[LN_AUDIT_NAME_MAX];
    char action[32];
    char reason[LN_AUDIT_REASON_MAX];
} stream_audit_t;

/* An item a staged command's handler handed over (ln_call_stage). */
typedef struct {
    void *item;
    void (*destroy) (void *item);
} staged_t;

/* An event a staged command emitted, written at flush time: the event's
   strings and payload are copies in `block`. */
typedef struct {
    ln_outbox_event_t event;
    char *block;
} deferred_t;

/* What a handler staged and emitted for later: the call's while it runs,
   its request's once it has succeeded. */
typedef struct {
    staged_t *items;
    size_t nitems, items_cap;
    deferred_t *events;
    size_t nevents, events_cap;
} stash_t;

struct ln_call_t {
    ln_server_t *server;
    const ln_command_t *command;
    const ln_principal_t *principal;
    const char *request_id;
    char object[LN_AUDIT_OBJECT_MAX];
    char purpose[PURPOSE_MAX + 1];
    ln_error_t error;
    zlist_t *allocs;
    stash_t stash; /* staged commands only */
};

/* One Request of a batch, from receipt to reply. */
typedef struct {
    zframe_t *routing_id;
    const ln_principal_t *principal;
    Lantern__V1__ClientMessage *msg;  /* owned; msg->request is the Request */
    const ln_command_t *command;      /* NULL when refused before the handler */
    const ProtobufCMessage *input;    /* the command message: inside msg, or input_owned */
    ProtobufCMessage *input_owned;    /* decoded from Request.call (owned) */
    int via_field;                    /* the Request field it came in (CALL_FIELD: call) */
    uint8_t hash[REQUEST_HASH_BYTES]; /* of the request's command bytes (REQUEST_ID_REUSED) */
    bool reused;                      /* its request_id answered another request */
    ln_error_t precheck;              /* set when refused before the handler */
    int dup_of;                       /* index of the same request earlier in the batch, or -1 */
    bool replayed;                    /* reply came from command_replies */
    bool malformed;                   /* failed the checks; msg holds only the request_id */
    bool silent;                      /* refused unaudited, answered without request_id */
    bool store; /* accepted: its reply goes into command_replies with the batch's */
    char object[LN_AUDIT_OBJECT_MAX];
    const char *outcome; /* audit outcome */
    char reason[LN_AUDIT_REASON_MAX];
    uint8_t *reply; /* packed ServerMessage */
    size_t reply_size;
    stash_t stash; /* a staged command's items and events, until the flush */
} pending_t;

struct ln_server_t {
    char node[LN_ENVELOPE_NODE_MAX + 1];
    char source[LN_ENVELOPE_NODE_MAX + 32];
    char endpoint[256];
    zsock_t *router;
    ln_auth_t *auth;
    ln_db_t *db;
    ln_command_t *commands;
    size_t command_count;
    ln_stream_rule_t *rules;
    size_t rule_count;
    ln_project_fn project;
    void *arg;
    size_t batch_max;
    uint32_t credit_max;
    int64_t retention_ms;

    uint64_t listening_on; /* ln_db_generation of the connection we LISTEN on */
    bool db_down;
    bool db_refused; /* the last attempt was refused for good (DB_REFUSED): said once */
    int64_t db_retry_at;

    uint64_t first_position; /* oldest position held */
    uint64_t last_position;  /* newest position stamped */
    bool bounds_stale;       /* the relay stamped: read the bounds again */
    pthread_t relay;         /* the relay's thread (see s_relay_run) */
    bool relay_started;
    volatile int relay_stop; /* set by ln_server_destroy */
    int relay_wake[2];       /* a pipe: wakes the relay to stop */
    int64_t prune_at;
    int64_t expire_at;
    bool more_work; /* work left for the next turn (a subscriber ran out of scan
                       budget, requests wait beyond batch_max): do not sleep */

    subscriber_t *subs; /* nsubs in use, of subs_cap */
    size_t nsubs, subs_cap;
    uint64_t next_serial;
    principal_use_t *uses; /* one per principal with a subscription */
    size_t nuses, uses_cap;
    uint64_t unconfirmed; /* bytes of every subscription */
    ln_stream_limits_t limits;
    stream_audit_t *audits; /* rows waiting for s_flush_stream_audit */
    size_t naudits, audits_cap;
    zsock_t *monitor;  /* the ROUTER's socket monitor: connections come and go */
    uint8_t *fd_state; /* per socket: 0 unknown, 1 open, 2 closed (monitor) */
    size_t fd_cap;
    int64_t trim_at; /* memory was freed: give it back (malloc_trim) after this */
    ln_consumer_t **consumers;
    size_t nconsumers, consumers_cap;
    pending_t *pending; /* batch_max entries */

    volatile sig_atomic_t stopped;
    ln_server_stats_t stats;
};

/* --- ln_call ------------------------------------------------------------------------- */

const ln_principal_t *
ln_call_principal (const ln_call_t *call)
{
    return call->principal;
}

const char *
ln_call_request_id (const ln_call_t *call)
{
    return call->request_id;
}

ln_db_t *
ln_call_db (ln_call_t *call)
{
    return call->server->db;
}

const char *
ln_call_node (const ln_call_t *call)
{
    return call->server->node;
}

void
ln_call_set_object (ln_call_t *call, const char *object)
{
    snprintf (call->object, sizeof call->object, "%s", object ? object : "");
}

void
ln_call_set_purpose (ln_call_t *call, const char *purpose)
{
    snprintf (call->purpose, sizeof call->purpose, "%s", purpose ? purpose : "");
}

int64_t
ln_call_now_us (const ln_call_t *call)
{
    (void)call;
    return ln_clock_wall_us ();
}

const char *
ln_command_name (const ln_command_t *command)
{
    return command->input->short_name;
}

void *
ln_call_alloc (ln_call_t *call, size_t size)
{
    void *p = calloc (1, size ? size : 1);
    if (!p || zlist_append (call->allocs, p) != 0)
        abort ();
    return p;
}

char *
ln_call_strdup (ln_call_t *call, const char *text)
{
    size_t len = strlen (text);
    char *p = ln_call_alloc (call, len + 1);
    memcpy (p, text, len);
    return p;
}

int
ln_call_fail (ln_call_t *call, const char *code, const char *field, const char *fmt, ...)
{
    char message[LN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (message, sizeof message, fmt, ap);
    va_end (ap);
    ln_error_set (&call->error, code, field, "%s", message);
    return -1;
}

void
ln_call_stage (ln_call_t *call, void *item, void (*destroy) (void *item))
{
    if (!call->command->flush) {
        /* a programming error: nothing would ever write it */
        ln_log_error ("ln_call_stage in a command without flush", "command=%s",
                      ln_command_name (call->command));
        abort ();
    }
    stash_t *st = &call->stash;
    st->items = ln_xgrow (st->items, &st->items_cap, st->nitems + 1, sizeof *st->items);
    st->items[st->nitems++] = (staged_t){item, destroy};
}

/* Destroy what a stash holds (items never flushed, or flushed: either way
   the batch is done with them). */
static void
s_stash_clear (stash_t *st)
{
    for (size_t i = 0; i < st->nitems; i++)
        if (st->items[i].destroy)
            st->items[i].destroy (st->items[i].item);
    for (size_t i = 0; i < st->nevents; i++)
        free (st->events[i].block);
    free (st->items);
    free (st->events);
    memset (st, 0, sizeof *st);
}

/* Copy an event (checked) into the call's stash, with its final id. */
static void
s_stash_event (stash_t *st, const ln_outbox_event_t *event, const char *event_id)
{
    size_t id_len = strlen (event_id);
    size_t type_len = strlen (event->type);
    size_t corr_len = event->correlation_id ? strlen (event->correlation_id) : 0;
    char *block = malloc (id_len + type_len + corr_len + 3 + event->payload_size);
    if (!block)
        abort ();
    char *id = block, *type = id + id_len + 1, *corr = type + type_len + 1;
    uint8_t *payload = (uint8_t *)(corr + corr_len + 1);
    memcpy (id, event_id, id_len + 1);
    memcpy (type, event->type, type_len + 1);
    memcpy (corr, event->correlation_id ? event->correlation_id : "", corr_len + 1);
    if (event->payload_size)
        memcpy (payload, event->payload, event->payload_size);
    st->events = ln_xgrow (st->events, &st->events_cap, st->nevents + 1, sizeof *st->events);
    deferred_t *d = &st->events[st->nevents++];
    d->block = block;
    d->event = *event;
    d->event.event_id = id;
    d->event.type = type;
    d->event.correlation_id = corr;
    d->event.payload = payload;
    /* "now" is the handler's now, not the flush's */
    d->event.time_us = event->time_us ? event->time_us : ln_clock_wall_us ();
}

int
ln_call_emit (ln_call_t *call, const ln_outbox_event_t *event, char *event_id_out, size_t out_size)
{
    ln_server_t *self = call->server;
    char id[LN_OUTBOX_EVENT_ID_SIZE];
    if (call->command->flush) {
        /* staged: check now, write at flush time; the id is final now */
        if (ln_outbox_check (event, &call->error) != 0)
            return -1;
        if (event->event_id && *event->event_id)
            snprintf (id, sizeof id, "%s", event->event_id);
        else
            ln_outbox_new_id (id);
        if (event_id_out && out_size <= strlen (id)) {
            ln_error_set (&call->error, "OUTBOX_INVALID", "event_id_out",
                          "event_id_out holds %zu bytes, %zu needed", out_size, strlen (id) + 1);
            return -1;
        }
        s_stash_event (&call->stash, event, id);
    }
    else if (ln_outbox_append (self->db, event, id, sizeof id, &call->error) != 0)
        return -1;
    if (event_id_out)
        snprintf (event_id_out, out_size, "%s", id);
    return 0;
}

/* --- node commands ----------------------------------------------------------------------- */

static int
s_cmd_ping (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    (void)arg;
    (void)input;
    ln_server_t *self = call->server;
    const ln_principal_t *p = call->principal;
    Lantern__V1__Pong *pong = ln_call_alloc (call, sizeof *pong);
    lantern__v1__pong__init (pong);
    pong->node = self->node;
    pong->version = (char *)LN_VERSION;
    pong->principal = (char *)p->name;
    pong->organisation = (char *)p->organisation;
    pong->n_roles = p->role_count;
    pong->roles = ln_call_alloc (call, (p->role_count + 1) * sizeof (char *));
    for (size_t i = 0; i < p->role_count; i++)
        pong->roles[i] = (char *)p->roles[i];
    pong->level = (char *)ln_level_name (p->level);
    /* fresh bounds (a failed read fails the Ping, in its savepoint) */
    uint64_t first, last;
    ln_error_t err;
    if (self->bounds_stale && ln_outbox_bounds (self->db, &first, &last, &err) == 0) {
        self->first_position = first;
        self->last_position = last;
        self->bounds_stale = false;
    }
    pong->last_position = self->last_position;
    *output = &pong->base;
    return 0;
}

static int
s_cmd_post_notice (void *arg, ln_call_t *call, const ProtobufCMessage *input,
                   ProtobufCMessage **output)
{
    (void)arg;
    const char *text = ((const Lantern__V1__PostNotice *)input)->text;
    size_t len = text ? strlen (text) : 0;
    if (len == 0)
        return ln_call_fail (call, "MISSING_TEXT", "text", "a notice needs a text");
    if (len > NOTICE_TEXT_MAX)
        return ln_call_fail (call, "TEXT_TOO_LONG", "text", "text is longer than %d bytes",
                             NOTICE_TEXT_MAX);

    Lantern__V1__Notice notice = LANTERN__V1__NOTICE__INIT;
    notice.text = (char *)text;
    notice.author = (char *)call->principal->name;
    notice.organisation = (char *)call->principal->organisation;
    size_t size = lantern__v1__notice__get_packed_size (&notice);
    uint8_t *payload = ln_call_alloc (call, size);
    lantern__v1__notice__pack (&notice, payload);

    ln_outbox_event_t event = {
        .type = NOTICE_TYPE,
        .level = LN_LEVEL_INTERN,
        .correlation_id = NULL,
        .time_us = 0,
        .payload = payload,
        .payload_size = size,
    };
    char id[LN_ENVELOPE_ID_MAX + 1];
    if (ln_call_emit (call, &event, id, sizeof id) != 0)
        return -1;
    ln_call_set_object (call, id);
    Lantern__V1__PostNoticeResult *result = ln_call_alloc (call, sizeof *result);
    lantern__v1__post_notice_result__init (result);
    result->event_id = ln_call_strdup (call, id);
    *output = &result->base;
    return 0;
}

/* PostNotice only emits an event: it is staged so that the event is
   written with the batch's others, and stages no rows of its own, so this
   is never called. */
static int
s_flush_post_notice (void *arg, ln_db_t *db, void *const *items, size_t n, ln_error_t *err)
{
    (void)arg;
    (void)db;
    (void)items;
    (void)n;
    (void)err;
    return 0;
}

static int
s_cmd_verify_audit (void *arg, ln_call_t *call, const ProtobufCMessage *input,
                    ProtobufCMessage **output)
{
    (void)arg;
    (void)input;
    ln_audit_report_t report;
    if (ln_audit_verify (call->server->db, &report, &call->error) != 0)
        return -1;
    Lantern__V1__AuditReport *r = ln_call_alloc (call, sizeof *r);
    lantern__v1__audit_report__init (r);
    r->ok = report.ok;
    r->rows = report.rows;
    r->first_bad_seq = report.first_bad_seq;
    r->problem = ln_call_strdup (call, report.problem);
    *output = &r->base;
    return 0;
}

static const char *
s_upstream_state (const ln_consumer_status_t *st)
{
    if (st->lagging)
        return "LAGGING";
    return ln_consumer_state_name (st->state);
}

/* ListUpstreams: what the node's consumers see of their upstreams. */
static int
s_cmd_list_upstreams (void *arg, ln_call_t *call, const ProtobufCMessage *input,
                      ProtobufCMessage **output)
{
    (void)arg;
    (void)input;
    ln_server_t *self = call->server;
    Lantern__V1__UpstreamList *list = ln_call_alloc (call, sizeof *list);
    lantern__v1__upstream_list__init (list);
    list->n_upstreams = self->nconsumers;
    list->upstreams = ln_call_alloc (call, (self->nconsumers + 1) * sizeof *list->upstreams);
    for (size_t i = 0; i < self->nconsumers; i++) {
        ln_consumer_status_t st;
        ln_consumer_status (self->consumers[i], &st);
        Lantern__V1__UpstreamStatus *u = ln_call_alloc (call, sizeof *u);
        lantern__v1__upstream_status__init (u);
        u->name = ln_call_strdup (call, st.upstream);
        u->endpoint = ln_call_strdup (call, st.endpoint);
        u->state = ln_call_strdup (call, s_upstream_state (&st));
        u->position = st.position;
        u->upstream_position = st.upstream_position;
        u->last_heard_us = st.last_heard_us;
        u->problem = ln_call_strdup (call, st.problem);
        u->stopped_at = st.stopped_at;
        list->upstreams[i] = u;
    }
    *output = &list->base;
    return 0;
}

/* ResyncUpstream: an operator moves a stopped (or any) consumer's cursor;
   audited with the reason.  It runs in a transaction of its own (the
   cursor must be committed before the consumer subscribes from it); a
   retry sets the same cursor again. */
static int
s_cmd_resync_upstream (void *arg, ln_call_t *call, const ProtobufCMessage *input,
                       ProtobufCMessage **output)
{
    (void)arg;
    ln_server_t *self = call->server;
    const Lantern__V1__ResyncUpstream *r = (const Lantern__V1__ResyncUpstream *)input;
    size_t reason_len = r->reason ? strlen (r->reason) : 0;
    ln_call_set_object (call, r->name);
    if (reason_len == 0)
        return ln_call_fail (call, "MISSING_REASON", "reason",
                             "a resynchronisation needs a reason (it is audited)");
    if (reason_len > NOTICE_TEXT_MAX)
        return ln_call_fail (call, "TEXT_TOO_LONG", "reason", "the reason is longer than %d bytes",
                             NOTICE_TEXT_MAX);
    ln_consumer_t *c = NULL;
    for (size_t i = 0; i < self->nconsumers && !c; i++)
        if (strcmp (ln_consumer_upstream (self->consumers[i]), r->name ? r->name : "") == 0)
            c = self->consumers[i];
    if (!c)
        return ln_call_fail (call, "NOT_FOUND", "name", "this node follows no upstream %s",
                             r->name ? r->name : "");
    uint64_t previous = ln_consumer_position (c);
    ln_error_t err;
    if (ln_consumer_resync (c, r->after_position, &err) != 0)
        return ln_call_fail (call, "UNAVAILABLE", NULL, "the cursor could not be stored: %s",
                             err.message);
    snprintf (call->purpose, sizeof call->purpose, "from %llu to %llu: %.150s",
              (unsigned long long)previous, (unsigned long long)r->after_position, r->reason);
    Lantern__V1__UpstreamResynced *out = ln_call_alloc (call, sizeof *out);
    lantern__v1__upstream_resynced__init (out);
    out->name = ln_call_strdup (call, r->name);
    out->previous_position = previous;
    out->after_position = r->after_position;
    *output = &out->base;
    return 0;
}

/* The node's own event types go to every follower, after the service's
   rules (docs/protocol.md 5.4): notices, start-ups, erasures. */
static const ln_stream_rule_t s_node_rules[] = {
    {"*", NOTICE_TYPE, LN_PROJECTION_FULL},
    {"*", "nl.lantern.node.started.v1", LN_PROJECTION_FULL},
    {"*", LN_OUTBOX_TYPE_ERASED, LN_PROJECTION_FULL},
    {"*", LN_ENVELOPE_TYPE_ANCHORED, LN_PROJECTION_FULL},
};

static const char *const s_roles_operator[] = {"operator", NULL};
static const char *const s_roles_auditor[] = {"operator", "auditor", NULL};

static const ln_command_t s_node_commands[] = {
    {&lantern__v1__ping__descriptor, &lantern__v1__pong__descriptor, NULL, false, s_cmd_ping, false,
     NULL},
    {&lantern__v1__post_notice__descriptor, &lantern__v1__post_notice_result__descriptor,
     s_roles_operator, true, s_cmd_post_notice, false, s_flush_post_notice},
    {&lantern__v1__verify_audit__descriptor, &lantern__v1__audit_report__descriptor,
     s_roles_auditor, false, s_cmd_verify_audit, true, NULL},
    {&lantern__v1__list_upstreams__descriptor, &lantern__v1__upstream_list__descriptor,
     s_roles_auditor, false, s_cmd_list_upstreams, false, NULL},
    {&lantern__v1__resync_upstream__descriptor, &lantern__v1__upstream_resynced__descriptor,
     s_roles_operator, false, s_cmd_resync_upstream, true, NULL},
};

/* --- sending -------------------------------------------------------------------------- */

/* Send one packed ServerMessage to a peer without blocking.  Returns 0,
   1 when the peer's queue is full (try later), -1 when the peer is gone. */
static int
s_send (ln_server_t *self, zframe_t *routing_id, const uint8_t *data, size_t size)
{
    void *sock = zsock_resolve (self->router);
    if (zmq_send (sock, zframe_data (routing_id), zframe_size (routing_id),
                  ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return errno == EAGAIN ? 1 : -1;
    if (zmq_send (sock, data, size, ZMQ_DONTWAIT) < 0)
        return -1; /* cannot happen once the first part went: libzmq queues atomically */
    return 0;
}

static uint8_t *
s_pack_server_message (const Lantern__V1__ServerMessage *msg, size_t *size)
{
    *size = lantern__v1__server_message__get_packed_size (msg);
    uint8_t *buf = malloc (*size ? *size : 1);
    if (!buf)
        abort ();
    lantern__v1__server_message__pack (msg, buf);
    return buf;
}

/* The OK reply to a request that came in Request field `via_field`: the
   result goes in Reply's field of the same number when that field has the
   result's type (commands from before Request.call), otherwise in
   call_result as a google.protobuf.Any. */
static uint8_t *
s_pack_ok_reply (const char *request_id, int via_field, const ProtobufCMessage *result,
                 size_t *size)
{
    Lantern__V1__Reply reply = LANTERN__V1__REPLY__INIT;
    reply.request_id = (char *)request_id;
    reply.status = LANTERN__V1__REPLY__STATUS__OK;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    char type_url[LN_ENVELOPE_TYPE_MAX + 32];
    uint8_t *packed = NULL;
    const ProtobufCFieldDescriptor *f =
        via_field != CALL_FIELD ? protobuf_c_message_descriptor_get_field (
                                      &lantern__v1__reply__descriptor, (unsigned)via_field)
                                : NULL;
    if (f && f->type == PROTOBUF_C_TYPE_MESSAGE && f->descriptor == result->descriptor) {
        *(const ProtobufCMessage **)((char *)&reply + f->offset) = result;
        *(uint32_t *)((char *)&reply + f->quantifier_offset) = f->id;
    }
    else {
        if (ln_messages_type_url (result->descriptor, type_url, sizeof type_url) != 0)
            abort (); /* a lantern.v1 name is far shorter */
        size_t len = protobuf_c_message_get_packed_size (result);
        packed = malloc (len ? len : 1);
        if (!packed)
            abort ();
        protobuf_c_message_pack (result, packed);
        any.type_url = type_url;
        any.value.data = packed;
        any.value.len = len;
        reply.result_case = LANTERN__V1__REPLY__RESULT_CALL_RESULT;
        reply.call_result = &any;
    }
    Lantern__V1__ServerMessage msg = LANTERN__V1__SERVER_MESSAGE__INIT;
    msg.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_REPLY;
    msg.reply = &reply;
    uint8_t *buf = s_pack_server_message (&msg, size);
    free (packed);
    return buf;
}

static uint8_t *
s_pack_error_reply (const char *request_id, const ln_error_t *err, size_t *size)
{
    Lantern__V1__Error error = LANTERN__V1__ERROR__INIT;
    error.code = (char *)(err->code ? err->code : "INTERNAL");
    error.message = (char *)err->message;
    error.field = (char *)err->field;
    Lantern__V1__Reply reply = LANTERN__V1__REPLY__INIT;
    reply.request_id = (char *)(request_id ? request_id : "");
    reply.status = LANTERN__V1__REPLY__STATUS__ERROR;
    reply.error = &error;
    Lantern__V1__ServerMessage msg = LANTERN__V1__SERVER_MESSAGE__INIT;
    msg.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_REPLY;
    msg.reply = &reply;
    return s_pack_server_message (&msg, size);
}

static void
s_send_error (ln_server_t *self, zframe_t *routing_id, const char *request_id,
              const ln_error_t *err)
{
    size_t size;
    uint8_t *buf = s_pack_error_reply (request_id, err, &size);
    s_send (self, routing_id, buf, size);
    free (buf);
}

/* --- the database connection ----------------------------------------------------------------- */

static void
s_db_lost (ln_server_t *self)
{
    if (!self->db_down)
        ln_log_warn ("database connection lost", "retry_ms=%d", DB_RETRY_MS);
    self->db_down = true;
    self->db_retry_at = ln_clock_mono_ms ();
}

/* Make sure the connection is up and LISTENing.  Never blocks long: one
   bounded attempt (ln_db_reconnect, about a second), so that requests that
   come while the database is away are answered UNAVAILABLE at once and
   SIGTERM is obeyed.  A refusal that retrying cannot fix (wrong password,
   no grant, no database: DB_REFUSED) is logged once and not tried again
   for 30 s; a passing failure is tried again after a second.  Returns 0
   or -1. */
static int
s_db_ready (ln_server_t *self)
{
    ln_error_t err;
    if (self->db_down && ln_clock_mono_ms () < self->db_retry_at)
        return -1;
    if (ln_db_reconnect (self->db, LN_DB_RECONNECT_MS, &err) != 0) {
        bool refused = err.code && strcmp (err.code, "DB_REFUSED") == 0;
        if (refused && !self->db_refused)
            ln_log_error ("database refuses the node; not retried for 30 s",
                          "code=%s sqlstate=%s error=%s", err.code, ln_db_last_sqlstate (self->db),
                          err.message);
        else if (!refused && !self->db_down)
            ln_log_warn ("database unavailable", "code=%s error=%s", err.code, err.message);
        self->db_refused = refused;
        self->db_down = true;
        self->db_retry_at = ln_clock_mono_ms () + (refused ? DB_REFUSED_HOLD_MS : DB_RETRY_MS);
        return -1;
    }
    self->db_refused = false;
    if (ln_db_generation (self->db) != self->listening_on || self->db_down) {
        if (ln_outbox_listen (self->db, &err) != 0) {
            ln_log_error ("cannot LISTEN", "error=%s", err.message);
            self->db_down = true;
            self->db_retry_at = ln_clock_mono_ms () + DB_RETRY_MS;
            return -1;
        }
        if (self->db_down)
            ln_log_info ("database connection restored", "");
        self->listening_on = ln_db_generation (self->db);
        self->db_down = false;
        self->bounds_stale = true; /* events may have been stamped meanwhile */
    }
    return 0;
}

/* Read pending notifications: "stamp" means the relay gave rows their
   positions (our own "append"s are the relay's business). */
static void
s_db_notifications (ln_server_t *self)
{
    if (self->db_down)
        return;
    PGconn *conn = ln_db_conn (self->db);
    if (!conn)
        return;
    if (PQconsumeInput (conn) == 0) {
        s_db_lost (self);
        return;
    }
    PGnotify *n;
    while ((n = PQnotifies (conn))) {
        if (!n->extra || strcmp (n->extra, "append") != 0)
            self->bounds_stale = true;
        PQfreemem (n);
    }
}

/* --- the relay --------------------------------------------------------------------------- */

static int
s_refresh_bounds (ln_server_t *self)
{
    ln_error_t err;
    uint64_t first, last;
    if (ln_outbox_bounds (self->db, &first, &last, &err) != 0) {
        if (ln_db_last_lost (self->db))
            s_db_lost (self);
        return -1;
    }
    self->first_position = first;
    self->last_position = last;
    return 0;
}

/* The relay, in a thread of its own with a connection of its own, so that
   stamping (about 20 us per row on the reference machine: an UPDATE that
   touches three indexes, and its own fsync'd commit) runs beside the
   command batches instead of between them.  It LISTENs on the outbox
   channel, stamps when an "append" is heard (and every RELAY_IDLE_MS
   anyway, in case one was missed, e.g. across a reconnect), at most every
   RELAY_INTERVAL_MS so that a busy node stamps many rows per transaction.
   Its stamp commits notify "stamp", which the loop hears on its own
   connection (s_db_notifications) and answers by reading the bounds and
   serving subscribers.  Stampers may run anywhere (ln_outbox.h), so this
   needs no coordination with the loop.  The thread shares nothing with the
   loop but relay_stop and relay_wake. */
static void *
s_relay_run (void *arg)
{
    ln_server_t *self = arg;
    ln_db_t *db = NULL;
    ln_error_t err;
    /* one attempt per connect: this loop waits between them, so that
       ln_server_destroy is never held up by a backoff */
    ln_db_retry_t retry = {DB_RETRY_MS, DB_RETRY_MS, 0};
    uint64_t listening_on = 0;
    bool wanted = true;
    int64_t not_before = 0;
    int wait_ms = 0;
    pthread_setname_np (pthread_self (), "ln-relay");

    while (!self->relay_stop) {
        struct pollfd fds[2] = {{self->relay_wake[0], POLLIN, 0}, {-1, POLLIN, 0}};
        if (db)
            fds[1].fd = PQsocket (ln_db_conn (db));
        poll (fds, fds[1].fd >= 0 ? 2 : 1, wait_ms);
        if (self->relay_stop)
            break;
        int64_t now = ln_clock_mono_ms ();
        wait_ms = DB_RETRY_MS;
        if (!db && !(db = ln_db_connect_like (self->db, &retry, &err)))
            continue;
        /* one bounded attempt per turn: ln_server_destroy is never held up */
        if (ln_db_reconnect (db, LN_DB_RECONNECT_MS, &err) != 0)
            continue;
        if (ln_db_generation (db) != listening_on) {
            if (ln_outbox_listen (db, &err) != 0) {
                ln_log_warn ("relay cannot LISTEN", "error=%s", err.message);
                continue;
            }
            listening_on = ln_db_generation (db);
            wanted = true; /* events may have been committed meanwhile */
        }
        PGconn *conn = ln_db_conn (db);
        if (PQconsumeInput (conn) == 0)
            continue; /* lost: ln_db_reconnect makes a new one next turn */
        PGnotify *n;
        int heard = 0;
        while ((n = PQnotifies (conn))) {
            if (n->extra && strcmp (n->extra, "append") == 0)
                heard = 1;
            PQfreemem (n);
        }
        if (heard || fds[1].revents == 0)
            wanted = true; /* an append, or idle for a while: look */
        if (wanted && now < not_before) {
            wait_ms = (int)(not_before - now);
            continue;
        }
        wait_ms = RELAY_IDLE_MS;
        if (!wanted)
            continue;
        size_t stamped = 0, total = 0;
        int rc;
        do {
            rc = ln_outbox_stamp (db, STAMP_CHUNK, &stamped, &err);
            total += rc == 0 ? stamped : 0;
        } while (rc == 0 && stamped == STAMP_CHUNK && !self->relay_stop);
        if (rc != 0) {
            if (!ln_db_last_lost (db))
                ln_log_error ("outbox stamp failed", "error=%s", err.message);
            wait_ms = DB_RETRY_MS;
            continue;
        }
        /* everything committed is stamped now (ln_outbox.h) */
        wanted = false;
        if (total > 0)
            not_before = ln_clock_mono_ms () + RELAY_INTERVAL_MS;
        /* appends heard while stamping wait in libpq, not on the socket */
        while ((n = PQnotifies (ln_db_conn (db)))) {
            if (n->extra && strcmp (n->extra, "append") == 0)
                wanted = true;
            PQfreemem (n);
        }
        if (wanted)
            wait_ms = RELAY_INTERVAL_MS;
    }
    ln_db_destroy (&db);
    return NULL;
}

static int
s_relay_start (ln_server_t *self)
{
    if (pipe2 (self->relay_wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return -1;
    if (pthread_create (&self->relay, NULL, s_relay_run, self) != 0)
        return -1;
    self->relay_started = true;
    return 0;
}

static void
s_relay_stop (ln_server_t *self)
{
    if (self->relay_started) {
        self->relay_stop = 1;
        ssize_t w = write (self->relay_wake[1], "x", 1);
        (void)w; /* the pipe holds it; the thread also checks relay_stop */
        pthread_join (self->relay, NULL);
        self->relay_started = false;
    }
    for (int i = 0; i < 2; i++)
        if (self->relay_wake[i] >= 0) {
            close (self->relay_wake[i]);
            self->relay_wake[i] = -1;
        }
}

/* --- the stream ------------------------------------------------------------------------------ */

/* Is this routing id one the ROUTER made (a zero byte and a 32-bit counter,
   never reused while the socket lives)?  A client may choose its own
   routing id; one that chooses the id of a departed subscriber must not
   inherit what that subscriber was sent, so a stream needs a ROUTER-made
   id (docs/protocol.md 5.2). */
static bool
s_routing_id_ours (zframe_t *routing_id)
{
    return zframe_size (routing_id) == 5 && zframe_data (routing_id)[0] == 0;
}

static principal_use_t *
s_use (ln_server_t *self, const ln_principal_t *principal)
{
    for (size_t i = 0; i < self->nuses; i++)
        if (self->uses[i].principal == principal)
            return &self->uses[i];
    self->uses = ln_xgrow (self->uses, &self->uses_cap, self->nuses + 1, sizeof *self->uses);
    principal_use_t *u = &self->uses[self->nuses++];
    *u = (principal_use_t){principal, 0, 0};
    return u;
}

/* Queue a stream audit row (written by s_flush_stream_audit, in one
   transaction per turn of the loop). */
static void s_stream_audit (ln_server_t *self, const subscriber_t *sub, const char *action,
                            const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));
static void
s_stream_audit (ln_server_t *self, const subscriber_t *sub, const char *action, const char *fmt,
                ...)
{
    self->audits =
        ln_xgrow (self->audits, &self->audits_cap, self->naudits + 1, sizeof *self->audits);
    stream_audit_t *a = &self->audits[self->naudits++];
    snprintf (a->principal, sizeof a->principal, "%s", sub->principal->name);
    snprintf (a->organisation, sizeof a->organisation, "%s", sub->principal->organisation);
    snprintf (a->action, sizeof a->action, "%s", action);
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (a->reason, sizeof a->reason, fmt, ap);
    va_end (ap);
}

/* Write the queued stream audit rows in one transaction.  0, or -1 (they
   stay queued; the caller serves no subscriber whose start is not
   audited). */
static int
s_flush_stream_audit (ln_server_t *self)
{
    if (self->naudits == 0)
        return 0;
    ln_error_t err;
    ln_audit_entry_t *entries = calloc (self->naudits, sizeof *entries);
    if (!entries)
        abort ();
    for (size_t i = 0; i < self->naudits; i++)
        entries[i] = (ln_audit_entry_t){
            .principal = self->audits[i].principal,
            .organisation = self->audits[i].organisation,
            .action = self->audits[i].action,
            .object = "stream",
            .outcome = LN_AUDIT_READ,
            .reason = self->audits[i].reason,
        };
    int rc = -1;
    if (ln_db_begin (self->db) == 0 &&
        ln_audit_append_batch (self->db, entries, self->naudits, &err) == 0 &&
        ln_db_commit (self->db) == 0)
        rc = 0;
    else {
        ln_db_rollback (self->db);
        if (ln_db_last_lost (self->db))
            s_db_lost (self);
        ln_log_error ("cannot audit the stream", "rows=%zu", self->naudits);
    }
    free (entries);
    if (rc == 0)
        self->naudits = 0;
    return rc;
}

static subscriber_t *
s_find_sub (ln_server_t *self, zframe_t *routing_id)
{
    for (size_t i = 0; i < self->nsubs; i++)
        if (zframe_eq (self->subs[i].routing_id, routing_id))
            return &self->subs[i];
    return NULL;
}

/* Free a connection's entry (its connection went, or nothing is left of
   it): what it still had unconfirmed is off the books, since libzmq freed
   its queue with the connection, or the peer confirmed it all. */
static void
s_free_conn (ln_server_t *self, subscriber_t *sub)
{
    principal_use_t *u = s_use (self, sub->principal);
    u->bytes -= sub->bytes;
    self->unconfirmed -= sub->bytes;
    if (u->subscriptions == 0 && u->bytes == 0)
        *u = self->uses[--self->nuses];
    zframe_destroy (&sub->routing_id);
    free (sub->sizes);
    size_t i = (size_t)(sub - self->subs);
    self->subs[i] = self->subs[self->nsubs - 1];
    memset (&self->subs[self->nsubs - 1], 0, sizeof (subscriber_t));
    self->nsubs--;
    if (self->trim_at == 0)
        self->trim_at = ln_clock_mono_ms () + TRIM_EVERY_MS;
}

/* End a connection's subscription (reset, replaced by another principal,
   its connection gone, the node stopping), auditing what it delivered.
   Its ledger stays until the peer confirms it or the connection goes;
   the entry is freed once nothing is left, or at once when `gone` (the
   connection went, or its state must not survive).  Returns true when the
   entry was freed (the caller must not use it again: another entry may
   have taken its place). */
static bool
s_end_sub (ln_server_t *self, subscriber_t *sub, const char *why, bool gone)
{
    if (sub->active) {
        s_stream_audit (self, sub, "StreamEnded",
                        "why=%s after=%llu delivered=%llu personal=%llu since_us=%lld", why,
                        (unsigned long long)sub->after, (unsigned long long)sub->delivered,
                        (unsigned long long)sub->personal, (long long)sub->since_us);
        ln_log_info ("subscription ended", "principal=%s why=%s delivered=%llu",
                     sub->principal->name, why, (unsigned long long)sub->delivered);
        s_use (self, sub->principal)->subscriptions--;
        sub->active = false;
        self->stats.subscribers--;
    }
    if (sub->ring_count == 0 || gone) {
        s_free_conn (self, sub);
        return true;
    }
    return false;
}

/* Read what the socket monitor says: a connection accepted or gone.  A
   connection that goes takes its subscriptions with it (docs/protocol.md
   6).  Called before every Subscribe and Credit is judged and before
   subscribers are served, so that a message read after a connection's
   DISCONNECTED never acts for it.  (libzmq reports DISCONNECTED before it
   closes the socket, so before the number can be reused by a new
   connection, and ACCEPTED before any message of the new connection can be
   read.) */
static void
s_monitor_drain (ln_server_t *self)
{
    if (!self->monitor)
        return;
    void *sock = zsock_resolve (self->monitor);
    for (;;) {
        zmq_msg_t head, addr;
        zmq_msg_init (&head);
        if (zmq_msg_recv (&head, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&head);
            return;
        }
        uint16_t event = 0;
        uint32_t value = 0;
        if (zmq_msg_size (&head) >= 6) {
            memcpy (&event, zmq_msg_data (&head), 2);
            memcpy (&value, (uint8_t *)zmq_msg_data (&head) + 2, 4);
        }
        bool more = zmq_msg_more (&head);
        zmq_msg_close (&head);
        while (more) {
            zmq_msg_init (&addr);
            if (zmq_msg_recv (&addr, sock, 0) < 0) {
                zmq_msg_close (&addr);
                break;
            }
            more = zmq_msg_more (&addr);
            zmq_msg_close (&addr);
        }
        int fd = (int)value;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
            event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
            /* a peer that does not speak CURVE never reaches ZAP */
            ln_log_warn ("handshake failed", "event=%u", (unsigned)event);
            continue;
        }
        if (fd < 0 || fd > 1 << 20)
            continue;
        if ((size_t)fd >= self->fd_cap) {
            size_t old = self->fd_cap;
            self->fd_state = ln_xgrow (self->fd_state, &self->fd_cap, (size_t)fd + 1, 1);
            memset (self->fd_state + old, 0, self->fd_cap - old);
        }
        if (event == ZMQ_EVENT_ACCEPTED)
            self->fd_state[fd] = 1;
        else if (event == ZMQ_EVENT_DISCONNECTED) {
            self->fd_state[fd] = 2;
            for (size_t i = 0; i < self->nsubs;)
                if (self->subs[i].fd == fd)
                    s_end_sub (self, &self->subs[i], "disconnected", true);
                else
                    i++;
        }
    }
}

/* Is the connection of socket fd known to be gone? */
static bool
s_fd_closed (const ln_server_t *self, int fd)
{
    return fd >= 0 && (size_t)fd < self->fd_cap && self->fd_state[fd] == 2;
}

static void s_send_reset (ln_server_t *self, zframe_t *routing_id, const char *reason,
                          uint32_t retry_after_ms, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));
static void
s_send_reset (ln_server_t *self, zframe_t *routing_id, const char *reason, uint32_t retry_after_ms,
              const char *fmt, ...)
{
    char message[256];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (message, sizeof message, fmt, ap);
    va_end (ap);
    Lantern__V1__Reset reset = LANTERN__V1__RESET__INIT;
    reset.first_position = self->first_position;
    reset.last_position = self->last_position;
    reset.reason = (char *)reason;
    reset.message = message;
    reset.retry_after_ms = retry_after_ms;
    Lantern__V1__ServerMessage msg = LANTERN__V1__SERVER_MESSAGE__INIT;
    msg.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_RESET;
    msg.reset = &reset;
    size_t size;
    uint8_t *buf = s_pack_server_message (&msg, &size);
    s_send (self, routing_id, buf, size);
    free (buf);
}

/* Which projection may this principal see `type` in?  0 = none.  The
   service's rules first, then the node's own (its notices, erasures and
   audit anchors go to every follower). */
static ln_projection_t
s_policy (const ln_server_t *self, const ln_principal_t *principal, const char *type)
{
    for (size_t i = 0; i < self->rule_count; i++) {
        const ln_stream_rule_t *r = &self->rules[i];
        if (strcmp (r->type, "*") != 0 && strcmp (r->type, type) != 0)
            continue;
        if (strcmp (r->role, "*") == 0 || ln_principal_has_role (principal, r->role))
            return r->projection;
    }
    for (size_t i = 0; i < sizeof s_node_rules / sizeof s_node_rules[0]; i++)
        if (strcmp (s_node_rules[i].type, type) == 0)
            return s_node_rules[i].projection;
    return 0;
}

/* May this principal receive anything of the service's (beyond the node's
   own notices)?  A subscriber that may not is told so (Reset FORBIDDEN)
   rather than left waiting. */
static bool
s_policy_serves (const ln_server_t *self, const ln_principal_t *principal)
{
    for (size_t i = 0; i < self->rule_count; i++)
        if (strcmp (self->rules[i].role, "*") == 0 ||
            ln_principal_has_role (principal, self->rules[i].role))
            return true;
    return false;
}

static void
s_on_subscribe (ln_server_t *self, zframe_t *routing_id, int fd, const ln_principal_t *principal,
                const Lantern__V1__Subscribe *subscribe)
{
    s_monitor_drain (self);
    if (s_fd_closed (self, fd))
        return; /* its connection is gone: no one to serve */
    if (!s_routing_id_ours (routing_id)) {
        ln_log_warn ("subscription refused", "principal=%s reason=routing_id", principal->name);
        s_send_reset (self, routing_id, "FORBIDDEN", 0,
                      "a subscriber must not set its own routing id (ZMQ_ROUTING_ID)");
        return;
    }
    ln_projection_t asked = 0;
    if (subscribe->projection && *subscribe->projection &&
        ln_projection_parse (subscribe->projection, &asked) != 0) {
        s_send_reset (self, routing_id, "FORBIDDEN", 0,
                      "projection must be \"\", full, pseudonymised or statistical");
        return;
    }
    if (!s_policy_serves (self, principal)) {
        ln_log_warn ("subscription refused", "principal=%s reason=no_rule", principal->name);
        s_send_reset (self, routing_id, "FORBIDDEN", 0, "%s's roles receive no events from node %s",
                      principal->name, self->node);
        return;
    }
    if ((self->db_down && s_db_ready (self) != 0) || s_refresh_bounds (self) != 0) {
        /* without fresh bounds we cannot tell AHEAD from fine */
        s_send_reset (self, routing_id, "UNAVAILABLE", RETRY_UNAVAILABLE_MS,
                      "the node cannot read its event log now");
        return;
    }
    subscriber_t *sub = s_find_sub (self, routing_id);
    if (sub && sub->principal != principal) {
        /* cannot happen while routing ids are the ROUTER's; never mix two
           principals' state */
        s_end_sub (self, sub, "other principal", true);
        sub = NULL;
    }
    uint64_t after = subscribe->after_position;
    const char *reason = NULL;
    if (after > self->last_position)
        reason = "AHEAD";
    else if (self->first_position > 0 && after + 1 < self->first_position)
        reason = "PRUNED";
    if (reason) {
        ln_log_warn ("subscription reset", "principal=%s after=%llu first=%llu last=%llu reason=%s",
                     principal->name, (unsigned long long)after,
                     (unsigned long long)self->first_position,
                     (unsigned long long)self->last_position, reason);
        if (sub)
            s_end_sub (self, sub, reason, false);
        s_send_reset (
            self, routing_id, reason, 0, "position %llu is %s the log (%llu..%llu)",
            (unsigned long long)after, strcmp (reason, "AHEAD") == 0 ? "beyond" : "no longer in",
            (unsigned long long)self->first_position, (unsigned long long)self->last_position);
        return;
    }
    principal_use_t *u = s_use (self, principal);
    if (!sub || !sub->active) {
        /* Limits: what one principal may hold, and the node as a whole.  A
           refused Subscribe is told so (Reset LIMIT): the peer tries again
           later, by when a connection of its that went is gone too. */
        const char *full = NULL;
        if (u->subscriptions >= self->limits.subscriptions_per_principal)
            full = "subscriptions of this principal";
        else if (!sub && self->nsubs >= self->limits.subscribers_max)
            full = "subscriptions of this node";
        if (full) {
            ln_log_warn ("subscription refused", "principal=%s reason=limit which=%s",
                         principal->name, full);
            s_send_reset (self, routing_id, "LIMIT", RETRY_LIMIT_MS, "too many %s", full);
            if (u->subscriptions == 0 && u->bytes == 0)
                *u = self->uses[--self->nuses];
            return;
        }
    }
    if (!sub) {
        self->subs = ln_xgrow (self->subs, &self->subs_cap, self->nsubs + 1, sizeof *self->subs);
        sub = &self->subs[self->nsubs++];
        memset (sub, 0, sizeof *sub);
        sub->routing_id = zframe_dup (routing_id);
        sub->principal = principal;
    }
    if (!sub->active) {
        sub->active = true;
        sub->serial = ++self->next_serial;
        sub->since_us = ln_clock_wall_us ();
        sub->audit_at = ln_clock_mono_ms () + STREAM_AUDIT_EVERY_MS;
        sub->delivered = sub->personal = sub->audited_delivered = sub->audited_personal = 0;
        u = s_use (self, principal);
        u->subscriptions++;
        self->stats.subscribers++;
        s_stream_audit (self, sub, "Subscribe", "after=%llu projection=%s",
                        (unsigned long long)after, asked ? ln_projection_name (asked) : "policy");
        ln_log_info ("subscribed", "principal=%s after=%llu credit=%u", principal->name,
                     (unsigned long long)after, subscribe->credit);
    }
    /* A new Subscribe on the same connection starts afresh from `after`
       with its credit; what is still unconfirmed on the connection stays
       on its ledger until Credit confirms it (docs/protocol.md 5.2). */
    sub->fd = fd;
    sub->asked = asked;
    sub->after = after;
    sub->scan = after;
    sub->prev = after;
    sub->retry_at = 0;
    sub->retry_ms = 0;
    sub->credit = subscribe->credit < self->credit_max ? subscribe->credit : self->credit_max;
    sub->bytes_full = false;
}

static void
s_on_credit (ln_server_t *self, zframe_t *routing_id, const ln_principal_t *principal,
             const Lantern__V1__Credit *credit)
{
    s_monitor_drain (self);
    subscriber_t *sub = s_find_sub (self, routing_id);
    if (!sub)
        return; /* a late Credit for a subscription that was reset or replaced */
    if (sub->principal != principal) {
        ln_log_warn ("credit of another principal ignored", "principal=%s owner=%s",
                     principal->name, sub->principal->name);
        return;
    }
    uint64_t sum = (uint64_t)sub->credit + credit->credit;
    if (sub->active)
        sub->credit = sum < self->credit_max ? (uint32_t)sum : self->credit_max;
    /* n confirmed: the n oldest Delivers in flight on this connection are
       off the books */
    principal_use_t *u = s_use (self, principal);
    for (uint32_t n = credit->credit; n > 0 && sub->ring_count > 0; n--) {
        uint32_t size = sub->sizes[sub->ring_head];
        sub->bytes -= size;
        u->bytes -= size;
        self->unconfirmed -= size;
        sub->ring_head = (sub->ring_head + 1) % sub->ring_cap;
        sub->ring_count--;
    }
    sub->bytes_full = false;
    if (!sub->active && sub->ring_count == 0)
        s_free_conn (self, sub); /* nothing left of an ended subscription */
}

/* Build the Deliver for one row as this subscriber may see it.  Returns the
   packed ServerMessage, or NULL when the subscriber may not see it; sets
   *personal when what it carries is personal data (a type that carries it,
   in a projection other than statistical). */
static uint8_t *
s_deliver_for (ln_server_t *self, const subscriber_t *sub, const ln_outbox_row_t *row, size_t *size,
               bool *personal)
{
    *personal = false;
    if (row->redacted || row->level > sub->principal->level)
        return NULL;
    ln_projection_t projection = s_policy (self, sub->principal, row->type);
    if (projection == 0)
        return NULL;
    if (sub->asked > projection)
        projection = sub->asked; /* it asked for less: never more than asked */

    uint8_t *projected = NULL;
    size_t projected_size = 0;
    const uint8_t *payload = row->payload;
    size_t payload_size = row->payload_size;
    int rc = LN_PROJECT_AS_STORED;
    if (self->project)
        rc =
            self->project (self->arg, sub->principal, projection, row, &projected, &projected_size);
    else if (projection != LN_PROJECTION_FULL)
        rc = LN_PROJECT_DROP; /* nothing else can make a reduced projection */
    if (rc == LN_PROJECT_PROJECTED) {
        payload = projected;
        payload_size = projected_size;
    }
    else if (rc != LN_PROJECT_AS_STORED) {
        if (rc < 0)
            ln_log_error ("projection failed", "type=%s position=%llu projection=%s", row->type,
                          (unsigned long long)row->position, ln_projection_name (projection));
        free (projected);
        return NULL;
    }
    const ln_event_type_t *t = ln_envelope_type_lookup (row->type);
    *personal = t && t->personal && projection != LN_PROJECTION_STATISTICAL;

    ln_error_t err;
    ln_event_fields_t fields = {
        .source = self->source,
        .id = row->event_id,
        .type = row->type,
        .time_ms = row->time_us / 1000,
        .sequence = row->position,
        .level = (ln_level_t)row->level,
        .correlationid = row->correlation_id,
    };
    size_t event_size = 0;
    uint8_t *event = ln_envelope_build_packed (&fields, payload, payload_size, &event_size, &err);
    free (projected);
    if (!event) {
        ln_log_error ("cannot build event", "position=%llu type=%s code=%s error=%s",
                      (unsigned long long)row->position, row->type, err.code, err.message);
        return NULL;
    }
    Lantern__V1__Deliver deliver = LANTERN__V1__DELIVER__INIT;
    deliver.position = row->position;
    deliver.previous_position = sub->prev;
    deliver.event.data = event;
    deliver.event.len = event_size;
    deliver.last_position = self->last_position;
    Lantern__V1__ServerMessage msg = LANTERN__V1__SERVER_MESSAGE__INIT;
    msg.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER;
    msg.deliver = &deliver;
    uint8_t *buf = s_pack_server_message (&msg, size);
    free (event);
    return buf;
}

/* May this subscriber hold `size` more unconfirmed bytes?  Its own cap, its
   principal's and the node's (always at least one Deliver in flight per
   subscription, so that an event larger than a cap still moves). */
static bool
s_room_for (const ln_server_t *self, const subscriber_t *sub, const principal_use_t *u, size_t size)
{
    if (sub->ring_count == 0)
        return true;
    if (sub->ring_count == self->credit_max ||
        sub->bytes + size > LN_STREAM_UNCONFIRMED_SUBSCRIPTION)
        return false;
    return u->bytes + size <= self->limits.unconfirmed_per_principal &&
           self->unconfirmed + size <= self->limits.unconfirmed_total;
}

/* Send what one subscriber may see, within its credit and the scan budget.
   Returns -1 when the subscriber is gone, -2 when its position was pruned
   (removed by the caller). */
static int
s_serve_one (ln_server_t *self, subscriber_t *sub)
{
    size_t scanned = 0;
    ln_outbox_batch_t batch = {0};
    int rc = 0;
    if (!sub->active || sub->retry_at > ln_clock_mono_ms () || sub->bytes_full)
        return 0;
    sub->retry_at = 0;
    principal_use_t *u = s_use (self, sub->principal);
    while (sub->credit > 0 && sub->scan < self->last_position && !self->db_down) {
        if (scanned >= SCAN_BUDGET) {
            self->more_work = true;
            break;
        }
        ln_error_t err;
        size_t limit = sub->credit < READ_CHUNK ? sub->credit : READ_CHUNK;
        if (limit < 64)
            limit = 64; /* filtered rows cost no credit: read a useful chunk */
        if (ln_outbox_read (self->db, sub->scan, limit, &batch, &err) != 0) {
            if (err.code && strcmp (err.code, "OUTBOX_PRUNED") == 0) {
                /* pruned beneath the subscriber while it followed */
                self->first_position = batch.first;
                self->last_position = batch.last;
                rc = -2;
            }
            else if (ln_db_last_lost (self->db) ||
                     (err.code && strcmp (err.code, "DB_CONNECTION_LOST") == 0))
                s_db_lost (self);
            else
                ln_log_error ("outbox read failed", "error=%s", err.message);
            break;
        }
        if (batch.count == 0)
            break;
        for (size_t i = 0; i < batch.count && sub->credit > 0; i++) {
            const ln_outbox_row_t *row = &batch.rows[i];
            size_t size = 0;
            bool personal = false;
            uint8_t *buf = s_deliver_for (self, sub, row, &size, &personal);
            if (buf && !s_room_for (self, sub, u, size)) {
                /* enough unconfirmed bytes out: wait for Credit (this row
                   is sent then; the scan stays before it) */
                free (buf);
                sub->bytes_full =
                    sub->ring_count > 0 && (sub->ring_count == self->credit_max ||
                                            sub->bytes + size > LN_STREAM_UNCONFIRMED_SUBSCRIPTION);
                goto out;
            }
            if (buf) {
                int sent = s_send (self, sub->routing_id, buf, size);
                free (buf);
                if (sent == 1) {
                    /* Its queue is full: it does not read.  Back off rather
                       than re-read the outbox for it on every turn. */
                    sub->retry_ms =
                        sub->retry_ms ? (sub->retry_ms * 2 < 1000 ? sub->retry_ms * 2 : 1000) : 20;
                    sub->retry_at = ln_clock_mono_ms () + sub->retry_ms;
                    goto out;
                }
                sub->retry_ms = 0;
                if (sent < 0) {
                    rc = -1;
                    goto out;
                }
                sub->prev = row->position;
                sub->credit--;
                if (sub->ring_count == sub->ring_cap) {
                    /* grow the ring, keeping its order (it is full, so
                       head..end then start..head) */
                    size_t old = sub->ring_cap;
                    uint32_t *grown = calloc (old ? old * 2 : 16, sizeof *grown);
                    if (!grown)
                        abort ();
                    for (size_t k = 0; k < sub->ring_count; k++)
                        grown[k] = sub->sizes[(sub->ring_head + k) % old];
                    free (sub->sizes);
                    sub->sizes = grown;
                    sub->ring_cap = old ? old * 2 : 16;
                    sub->ring_head = 0;
                }
                sub->sizes[(sub->ring_head + sub->ring_count) % sub->ring_cap] = (uint32_t)size;
                sub->ring_count++;
                sub->bytes += size;
                u->bytes += size;
                self->unconfirmed += size;
                sub->delivered++;
                if (personal)
                    sub->personal++;
                self->stats.delivered++;
            }
            sub->scan = row->position;
            scanned++;
        }
        ln_outbox_batch_clear (&batch);
    }
out:
    ln_outbox_batch_clear (&batch);
    return rc;
}

static void
s_serve (ln_server_t *self)
{
    s_monitor_drain (self);
    int64_t now = ln_clock_mono_ms ();
    for (size_t i = 0; i < self->nsubs;) {
        subscriber_t *sub = &self->subs[i];
        int rc = s_serve_one (self, sub);
        if (rc == -2) {
            s_send_reset (self, sub->routing_id, "PRUNED", 0,
                          "the log was pruned beneath position %llu",
                          (unsigned long long)sub->scan);
            if (!s_end_sub (self, sub, "pruned", false))
                i++;
            continue;
        }
        if (rc < 0) {
            s_end_sub (self, sub, "disconnected", true); /* a send found no peer */
            continue;
        }
        if (sub->active && now >= sub->audit_at) {
            /* a long stream: what it delivered since the last row */
            sub->audit_at = now + STREAM_AUDIT_EVERY_MS;
            if (sub->personal > sub->audited_personal)
                s_stream_audit (self, sub, "StreamDelivered",
                                "after=%llu delivered=%llu personal=%llu since_us=%lld",
                                (unsigned long long)sub->after,
                                (unsigned long long)(sub->delivered - sub->audited_delivered),
                                (unsigned long long)(sub->personal - sub->audited_personal),
                                (long long)sub->since_us);
            sub->audited_delivered = sub->delivered;
            sub->audited_personal = sub->personal;
        }
        i++;
    }
}

/* --- commands -----------------------------------------------------------------------------------
 */

/* The command whose input is the message named `full_name`, or NULL. */
static const ln_command_t *
s_find_command (const ln_server_t *self, const char *full_name)
{
    for (size_t i = 0; i < self->command_count; i++)
        if (strcmp (self->commands[i].input->name, full_name) == 0)
            return &self->commands[i];
    return NULL;
}

static bool
s_allowed (const ln_command_t *command, const ln_principal_t *principal)
{
    if (!command->roles)
        return true;
    for (const char *const *r = command->roles; *r; r++)
        if (ln_principal_has_role (principal, *r))
            return true;
    return false;
}

static void
s_pending_clear (pending_t *p)
{
    zframe_destroy (&p->routing_id);
    if (p->msg)
        protobuf_c_message_free_unpacked (&p->msg->base, NULL);
    if (p->input_owned)
        protobuf_c_message_free_unpacked (p->input_owned, NULL);
    free (p->reply);
    s_stash_clear (&p->stash);
    memset (p, 0, sizeof *p);
}

/* Forget what an earlier attempt at the batch left (a refusal found before
   the database stays). */
static void
s_pending_reset (pending_t *p)
{
    if (p->precheck.code)
        return;
    free (p->reply);
    p->reply = NULL;
    p->reply_size = 0;
    p->replayed = p->store = p->reused = false;
    p->outcome = NULL;
    p->reason[0] = p->object[0] = '\0';
    s_stash_clear (&p->stash);
}

static const char *
s_request_id (const pending_t *p)
{
    return p->msg->request->request_id;
}

/* Does the request run in the batch's transaction? */
static bool
s_in_group (const pending_t *p)
{
    return !p->precheck.code && p->dup_of < 0 && !p->command->own_transaction;
}

/* The stored-reply lookup of a batch: ONE statement for all its writing
   requests (stmt is valid when m > 0). */
typedef struct {
    ln_db_stmt_t stmt;
    ln_db_array_t principals, ids;
    const char *values[2];
    int lengths[2], formats[2];
    size_t *index; /* the pending index of the k-th request looked up */
    size_t m;
} lookup_t;

static void
s_lookup_build (ln_server_t *self, size_t n, lookup_t *lk)
{
    memset (lk, 0, sizeof *lk);
    lk->index = calloc (n, sizeof *lk->index);
    if (!lk->index)
        abort ();
    ln_db_array_init (&lk->principals, LN_DB_OID_TEXT);
    ln_db_array_init (&lk->ids, LN_DB_OID_TEXT);
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &self->pending[i];
        if (!s_in_group (p) || !p->command->writes)
            continue;
        ln_db_array_add_text (&lk->principals, p->principal->name);
        ln_db_array_add_text (&lk->ids, s_request_id (p));
        lk->index[lk->m++] = i;
    }
    lk->values[0] = ln_db_array_data (&lk->principals);
    lk->values[1] = ln_db_array_data (&lk->ids);
    lk->lengths[0] = ln_db_array_size (&lk->principals);
    lk->lengths[1] = ln_db_array_size (&lk->ids);
    lk->formats[0] = lk->formats[1] = 1;
    /* One primary-key probe per request, whatever the statistics: a
       prepared statement keeps the generic plan made while the table was
       small, and a plain join (or a LATERAL subquery, which the planner
       flattens into one) then stays a hash join over every stored reply:
       1.2 ms per batch of 50 at 18,000 rows, growing with them.  LIMIT 1
       keeps the subquery a per-row index scan. */
    lk->stmt = (ln_db_stmt_t){
        .name = "ln_server_lookup_replies",
        .sql = "SELECT u.n, r.reply, r.request_hash"
               " FROM unnest ($1::text[], $2::text[]) WITH ORDINALITY"
               "  AS u (principal, request_id, n)"
               " CROSS JOIN LATERAL (SELECT c.reply, c.request_hash FROM command_replies c"
               "  WHERE c.principal = u.principal AND c.request_id = u.request_id"
               "  LIMIT 1) AS r",
        .nparams = 2,
        .values = lk->values,
        .lengths = lk->lengths,
        .formats = lk->formats,
        .result_format = 1,
    };
}

/* Mark the requests whose reply was found as replayed.  0 or -1. */
static int
s_lookup_apply (ln_server_t *self, const lookup_t *lk, const PGresult *res)
{
    for (int row = 0; row < PQntuples (res); row++) {
        int64_t k = 0;
        if (ln_db_int_value (res, row, 0, 8, &k) != 0 || k < 1 || (uint64_t)k > lk->m ||
            PQgetisnull (res, row, 1)) {
            ln_log_error ("stored reply lookup: unexpected row", "");
            return -1;
        }
        pending_t *p = &self->pending[lk->index[k - 1]];
        if (!PQgetisnull (res, row, 2) &&
            ((size_t)PQgetlength (res, row, 2) != sizeof p->hash ||
             memcmp (PQgetvalue (res, row, 2), p->hash, sizeof p->hash) != 0)) {
            /* answered under this request_id before, but for another request */
            free (p->reply);
            p->reused = true;
            p->outcome = LN_AUDIT_REFUSED;
            snprintf (p->reason, sizeof p->reason, "REQUEST_ID_REUSED request_id");
            ln_error_t e;
            ln_error_set (&e, "REQUEST_ID_REUSED", "request_id",
                          "request_id %s was already used for another request; use a new one",
                          s_request_id (p));
            p->reply = s_pack_error_reply (s_request_id (p), &e, &p->reply_size);
            p->replayed = true; /* answered without running the handler */
            self->stats.refused++;
            continue;
        }
        size_t len = (size_t)PQgetlength (res, row, 1);
        free (p->reply);
        p->reply = malloc (len ? len : 1);
        if (!p->reply)
            abort ();
        memcpy (p->reply, PQgetvalue (res, row, 1), len);
        p->reply_size = len;
        p->replayed = true;
        p->outcome = LN_AUDIT_ACCEPTED;
        snprintf (p->reason, sizeof p->reason, "replayed stored reply");
    }
    return 0;
}

static void
s_lookup_clear (lookup_t *lk)
{
    ln_db_array_clear (&lk->principals);
    ln_db_array_clear (&lk->ids);
    free (lk->index);
    memset (lk, 0, sizeof *lk);
}

/* The stored replies of `list` (m >= 1 accepted writing requests) as ONE
   INSERT. */
typedef struct {
    ln_db_stmt_t stmt;
    ln_db_array_t principals, ids, replies, hashes;
    const char *values[5];
    int lengths[5], formats[5];
    char created[24];
} replies_t;

static void
s_replies_build (pending_t *const *list, size_t m, replies_t *r)
{
    memset (r, 0, sizeof *r);
    ln_db_array_init (&r->principals, LN_DB_OID_TEXT);
    ln_db_array_init (&r->ids, LN_DB_OID_TEXT);
    ln_db_array_init (&r->replies, LN_DB_OID_BYTEA);
    ln_db_array_init (&r->hashes, LN_DB_OID_BYTEA);
    for (size_t i = 0; i < m; i++) {
        ln_db_array_add_text (&r->principals, list[i]->principal->name);
        ln_db_array_add_text (&r->ids, s_request_id (list[i]));
        ln_db_array_add (&r->replies, list[i]->reply, list[i]->reply_size);
        ln_db_array_add (&r->hashes, list[i]->hash, sizeof list[i]->hash);
    }
    snprintf (r->created, sizeof r->created, "%lld", (long long)ln_clock_wall_us ());
    r->values[0] = ln_db_array_data (&r->principals);
    r->values[1] = ln_db_array_data (&r->ids);
    r->values[2] = ln_db_array_data (&r->replies);
    r->values[3] = r->created;
    r->values[4] = ln_db_array_data (&r->hashes);
    r->lengths[0] = ln_db_array_size (&r->principals);
    r->lengths[1] = ln_db_array_size (&r->ids);
    r->lengths[2] = ln_db_array_size (&r->replies);
    r->lengths[4] = ln_db_array_size (&r->hashes);
    r->formats[0] = r->formats[1] = r->formats[2] = r->formats[4] = 1;
    r->stmt = (ln_db_stmt_t){
        .name = "ln_server_store_replies",
        .sql = "INSERT INTO command_replies (principal, request_id, reply, created_us,"
               " request_hash)"
               " SELECT u.principal, u.request_id, u.reply, $4::bigint, u.request_hash"
               " FROM unnest ($1::text[], $2::text[], $3::bytea[], $5::bytea[])"
               "  AS u (principal, request_id, reply, request_hash)",
        .nparams = 5,
        .values = r->values,
        .lengths = r->lengths,
        .formats = r->formats,
    };
}

static void
s_replies_clear (replies_t *r)
{
    ln_db_array_clear (&r->principals);
    ln_db_array_clear (&r->ids);
    ln_db_array_clear (&r->replies);
    ln_db_array_clear (&r->hashes);
    memset (r, 0, sizeof *r);
}

/* The events of `list` (m requests' stashes), in order, as ONE INSERT
   (ln_outbox_encode).  Returns the number of events (0: nothing to write,
   enc untouched), or -1. */
static long
s_events_encode (ln_server_t *self, pending_t *const *list, size_t m, ln_outbox_encoded_t *enc)
{
    ln_error_t err;
    size_t total = 0;
    for (size_t i = 0; i < m; i++)
        total += list[i]->stash.nevents;
    if (total == 0)
        return 0;
    ln_outbox_event_t *events = calloc (total, sizeof *events);
    if (!events)
        abort ();
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < list[i]->stash.nevents; j++)
            events[k++] = list[i]->stash.events[j].event;
    int rc = ln_outbox_encode (self->db, events, total, NULL, enc, &err);
    free (events);
    if (rc != 0) {
        ln_log_error ("cannot encode events", "events=%zu code=%s error=%s", total, err.code,
                      err.message);
        return -1;
    }
    return (long)total;
}

/* A failed batched write: a warning in the batch's first pass (it is run
   again one request at a time), an error in safe mode (a request fails). */
#define s_log_failure(safe, msg, ...)                                                              \
    do {                                                                                           \
        if (safe)                                                                                  \
            ln_log_error (msg, __VA_ARGS__);                                                       \
        else                                                                                       \
            ln_log_warn (msg, __VA_ARGS__);                                                        \
    } while (0)

/* Store the replies of `list` (m >= 1), now.  Returns 0 or -1. */
static int
s_store_replies (ln_server_t *self, pending_t *const *list, size_t m, bool safe)
{
    ln_error_t err;
    replies_t r;
    s_replies_build (list, m, &r);
    const ln_db_stmt_t *st = &r.stmt;
    PGresult *res = ln_db_exec_prepared (self->db, st->name, st->sql, st->nparams, st->values,
                                         st->lengths, st->formats, st->result_format, &err);
    s_replies_clear (&r);
    if (!res) {
        s_log_failure (safe, "storing replies failed", "requests=%zu error=%s", m, err.message);
        return -1;
    }
    PQclear (res);
    return 0;
}

/* Write the events of `list` (m requests' stashes), in order, now.
   Returns 0 or -1. */
static int
s_write_events (ln_server_t *self, pending_t *const *list, size_t m, bool safe)
{
    ln_error_t err;
    ln_outbox_encoded_t enc;
    long total = s_events_encode (self, list, m, &enc);
    if (total <= 0)
        return (int)total;
    const ln_db_stmt_t *st = &enc.stmt;
    PGresult *res = ln_db_exec_prepared (self->db, st->name, st->sql, st->nparams, st->values,
                                         st->lengths, st->formats, st->result_format, &err);
    int rc = ln_outbox_encoded_check (self->db, &enc, res, &err);
    if (rc != 0)
        s_log_failure (safe, "writing events failed", "events=%ld code=%s error=%s", total,
                       err.code, err.message);
    PQclear (res);
    ln_outbox_encoded_clear (&enc);
    return rc;
}

/* Call `command`'s flush with the items of `list` (m requests' stashes), in
   order; not when they staged none.  Returns 0 or -1. */
static int
s_flush (ln_server_t *self, const ln_command_t *command, pending_t *const *list, size_t m,
         bool safe)
{
    ln_error_t err;
    ln_error_clear (&err);
    size_t total = 0;
    for (size_t i = 0; i < m; i++)
        total += list[i]->stash.nitems;
    if (total == 0)
        return 0;
    void **items = calloc (total, sizeof *items);
    if (!items)
        abort ();
    size_t k = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < list[i]->stash.nitems; j++)
            items[k++] = list[i]->stash.items[j].item;
    int rc = command->flush (self->arg, self->db, items, total, &err);
    if (rc != 0)
        s_log_failure (safe, "flush failed", "command=%s items=%zu code=%s error=%s",
                       ln_command_name (command), total, err.code ? err.code : "-", err.message);
    free (items);
    return rc;
}

/* Run one request's handler.  Non-staged commands run in a savepoint of
   their own.  A staged command runs without one (it must not write) and its
   stash waits for the batch's flush, unless `safe`: then it too gets a
   savepoint, and its items, events and stored reply are written right after
   it.  Without `safe`, stored replies wait for the batch's (p->store).
   Returns 0 (reply set, possibly an error reply), -1 when the connection
   was lost, 1 when the batch's transaction failed under a staged handler
   (its read failed; run the batch again in safe mode). */
static int
s_run_one (ln_server_t *self, pending_t *p, bool safe)
{
    ln_error_t err;
    const Lantern__V1__Request *request = p->msg->request;
    ln_call_t call;
    memset (&call, 0, sizeof call);
    call.server = self;
    call.command = p->command;
    call.principal = p->principal;
    call.request_id = request->request_id;
    call.allocs = zlist_new ();
    int rc = -1;
    bool staged = p->command->flush != NULL;
    bool savepoint = !p->command->own_transaction && (safe || !staged);

    if (savepoint && ln_db_run (self->db, "SAVEPOINT lantern_request", 0, NULL, &err) != 0)
        goto out;

    ProtobufCMessage *output = NULL;
    int hrc = p->command->fn (self->arg, &call, p->input, &output);
    if (hrc == 0 && (!output || output->descriptor != p->command->output)) {
        /* a programming error in the handler: never reply with the wrong type */
        ln_log_error ("command gave no result of its type", "command=%s",
                      ln_command_name (p->command));
        hrc = -1;
    }
    if (hrc == 0) {
        p->reply = s_pack_ok_reply (request->request_id, p->via_field, output, &p->reply_size);
        p->stash = call.stash; /* the request's now */
        memset (&call.stash, 0, sizeof call.stash);
        pending_t *one = p;
        if (safe && staged &&
            (s_flush (self, p->command, &one, 1, true) != 0 ||
             s_write_events (self, &one, 1, true) != 0))
            hrc = -1;
        if (hrc == 0 && safe && p->command->writes && s_store_replies (self, &one, 1, true) != 0)
            hrc = -1;
        if (hrc == 0 && savepoint &&
            ln_db_run (self->db, "RELEASE SAVEPOINT lantern_request", 0, NULL, &err) != 0)
            hrc = -1;
        if (hrc == 0 && !savepoint && !p->command->own_transaction &&
            PQtransactionStatus (ln_db_conn (self->db)) != PQTRANS_INTRANS)
            hrc = -1; /* a staged handler swallowed a failed read */
        if (hrc == 0) {
            p->outcome = LN_AUDIT_ACCEPTED;
            p->store = p->command->writes && !safe;
            snprintf (p->object, sizeof p->object, "%s", call.object);
            if (call.purpose[0])
                snprintf (p->reason, sizeof p->reason, "purpose: %s", call.purpose);
            rc = 0;
            goto out;
        }
        free (p->reply);
        p->reply = NULL;
        s_stash_clear (&p->stash);
        ln_error_clear (&call.error);
    }
    if (ln_db_last_lost (self->db))
        goto out;
    /* what failed, before the rollback below clears it */
    ln_error_t dberr = *ln_db_last_error (self->db);
    /* Refused by the handler, or its SQL failed: undo what it did. */
    if (savepoint &&
        ln_db_run (self->db, "ROLLBACK TO SAVEPOINT lantern_request", 0, NULL, &err) != 0)
        goto out;
    if (!savepoint && !p->command->own_transaction &&
        PQtransactionStatus (ln_db_conn (self->db)) != PQTRANS_INTRANS) {
        rc = 1; /* nothing to roll back to: the batch must run again, safely */
        goto out;
    }
    if (!call.error.code) {
        ln_log_error ("command failed", "command=%s request_id=%s error=%s",
                      ln_command_name (p->command), request->request_id,
                      dberr.code ? dberr.message : "(none)");
        ln_error_set (&call.error, "INTERNAL", NULL, "the command failed; nothing changed");
    }
    p->outcome = LN_AUDIT_REFUSED;
    snprintf (p->reason, sizeof p->reason, "%s%s%s", call.error.code,
              call.error.field[0] ? " " : "", call.error.field);
    snprintf (p->object, sizeof p->object, "%s", call.object);
    p->reply = s_pack_error_reply (request->request_id, &call.error, &p->reply_size);
    rc = 0;
out:
    s_stash_clear (&call.stash);
    for (void *mem = zlist_pop (call.allocs); mem; mem = zlist_pop (call.allocs))
        free (mem);
    zlist_destroy (&call.allocs);
    return rc;
}

/* Did the request's handler run in this attempt and succeed? */
static bool
s_ran_ok (const pending_t *p)
{
    return !p->replayed && p->outcome && strcmp (p->outcome, LN_AUDIT_ACCEPTED) == 0;
}

/* After all handlers ran (not in safe mode): each staged command's flush
   once, with the items of its accepted requests in request order.
   Returns 0 or -1. */
static int
s_flush_batch (ln_server_t *self, size_t n)
{
    int rc = -1;
    pending_t **list = calloc (n, sizeof *list);
    const ln_command_t **flushed = calloc (n, sizeof *flushed);
    size_t nflushed = 0;
    if (!list || !flushed)
        abort ();
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &self->pending[i];
        if (!s_in_group (p) || !p->command->flush || !s_ran_ok (p))
            continue;
        const ln_command_t *command = p->command;
        bool done = false;
        for (size_t j = 0; j < nflushed && !done; j++)
            done = flushed[j] == command;
        if (done)
            continue;
        flushed[nflushed++] = command;
        size_t m = 0;
        for (size_t j = i; j < n; j++) {
            pending_t *q = &self->pending[j];
            if (s_in_group (q) && q->command == command && s_ran_ok (q))
                list[m++] = q;
        }
        if (s_flush (self, command, list, m, false) != 0)
            goto out;
    }
    rc = 0;
out:
    free (list);
    free (flushed);
    return rc;
}

static void
s_audit_entry (const pending_t *p, ln_audit_entry_t *e)
{
    memset (e, 0, sizeof *e);
    e->principal = p->principal->name;
    e->organisation = p->principal->organisation;
    const char *rid = s_request_id (p);
    e->request_id = s_request_id_valid (rid) ? rid : NULL;
    e->action = p->command     ? ln_command_name (p->command)
                : p->malformed ? "(malformed request)"
                               : "(unknown command)";
    e->object = p->object[0] ? p->object : NULL;
    e->outcome = p->outcome ? p->outcome : LN_AUDIT_REFUSED;
    e->reason = p->reason[0] ? p->reason : NULL;
}

/* How an attempt at a batch ended. */
typedef enum {
    TRY_COMMITTED = 0,
    TRY_LOST,        /* the connection was lost: reconnect, try again */
    TRY_FAILED,      /* a statement failed: try again in safe mode */
    TRY_UNAVAILABLE, /* no database now */
} try_t;

static try_t
s_try_failed (ln_server_t *self)
{
    return ln_db_last_lost (self->db) ? TRY_LOST : TRY_FAILED;
}

/* One attempt at the batch, in one transaction (see ln_server.h, STAGED
   COMMANDS, for the order of the work).  Besides the handlers' and
   flushes' own statements it costs three round trips (ln_db_exec_all):
     1. BEGIN and the stored-reply lookup;
     2. the deferred events, the stored replies (both not in safe mode,
        where each request wrote its own) and the audit head's lock;
     3. the audit rows and COMMIT.
   The audit head is locked only once every handler has run, because a
   handler may append audit rows of its own (reads of personal data). */
static try_t
s_try_batch (ln_server_t *self, size_t n, bool safe, ln_audit_entry_t *entries)
{
    try_t rc = TRY_FAILED;
    ln_error_t err;
    lookup_t lk;
    replies_t rp;
    ln_outbox_encoded_t ev;
    ln_audit_encoded_t au;
    PGresult *res[3] = {NULL, NULL, NULL};
    pending_t **list = calloc (n, sizeof *list);
    if (!list)
        abort ();
    memset (&lk, 0, sizeof lk);
    memset (&rp, 0, sizeof rp);
    memset (&ev, 0, sizeof ev);
    memset (&au, 0, sizeof au);

    for (size_t i = 0; i < n; i++)
        s_pending_reset (&self->pending[i]);
    if (s_db_ready (self) != 0) {
        rc = TRY_UNAVAILABLE;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &self->pending[i];
        if (!p->precheck.code && p->dup_of < 0 && p->command->own_transaction &&
            s_run_one (self, p, safe) != 0) {
            rc = TRY_LOST;
            goto out;
        }
    }

    /* 1: BEGIN, stored replies */
    s_lookup_build (self, n, &lk);
    ln_db_stmt_t rt1[2] = {{.sql = "BEGIN"}, lk.stmt};
    if (ln_db_exec_all (self->db, rt1, lk.m > 0 ? 2 : 1, res, &err) != 0 ||
        (lk.m > 0 && s_lookup_apply (self, &lk, res[1]) != 0))
        goto failed;
    for (int i = 0; i < 3; i++) {
        PQclear (res[i]);
        res[i] = NULL;
    }

    for (size_t i = 0; i < n; i++) {
        pending_t *p = &self->pending[i];
        if (!s_in_group (p) || p->replayed)
            continue;
        int r = s_run_one (self, p, safe);
        if (r < 0) {
            rc = TRY_LOST;
            goto out;
        }
        if (r > 0)
            goto out; /* TRY_FAILED */
    }
    if (!safe && s_flush_batch (self, n) != 0)
        goto failed;

    /* 2: events, stored replies, the audit head */
    ln_db_stmt_t rt2[3];
    size_t k = 0, ev_at = 3, rp_at = 3;
    if (!safe) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (self->pending[i].stash.nevents > 0)
                list[m++] = &self->pending[i];
        long events = s_events_encode (self, list, m, &ev);
        if (events < 0)
            goto out;
        if (events > 0) {
            ev_at = k;
            rt2[k++] = ev.stmt;
        }
        m = 0;
        for (size_t i = 0; i < n; i++)
            if (self->pending[i].store)
                list[m++] = &self->pending[i];
        if (m > 0) {
            s_replies_build (list, m, &rp);
            rp_at = k;
            rt2[k++] = rp.stmt;
        }
    }
    size_t lock_at = k;
    ln_audit_lock_stmt (&rt2[k++]);
    if (ln_db_exec_all (self->db, rt2, k, res, &err) != 0) {
        s_log_failure (safe, "batched writes failed", "requests=%zu error=%s", n, err.message);
        goto failed;
    }
    if (ev_at < 3 && ln_outbox_encoded_check (self->db, &ev, res[ev_at], &err) != 0) {
        ln_log_error ("writing events failed", "code=%s error=%s", err.code, err.message);
        goto out;
    }
    (void)rp_at; /* an INSERT without RETURNING: success is all it says */

    /* 3: the audit rows, COMMIT (a request refused for a malformed
       request_id is not audited: docs/protocol.md 7) */
    size_t na = 0;
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &self->pending[i];
        if (p->silent)
            continue;
        s_audit_entry (p->dup_of >= 0 ? &self->pending[p->dup_of] : p, &entries[na]);
        if (p->dup_of >= 0)
            entries[na].reason = "replayed stored reply";
        na++;
    }
    if (na > 0 && ln_audit_encode (self->db, res[lock_at], entries, na, &au, &err) != 0) {
        ln_log_error ("audit append failed", "error=%s", err.message);
        goto out; /* no audit, no effect: the batch is not committed */
    }
    for (int i = 0; i < 3; i++) {
        PQclear (res[i]);
        res[i] = NULL;
    }
    ln_db_stmt_t rt3[2] = {au.stmt, {.sql = "COMMIT"}};
    size_t c = na > 0 ? 1 : 0;
    if (ln_db_exec_all (self->db, rt3 + (1 - c), 1 + c, res, &err) != 0) {
        s_log_failure (safe, "audit and commit failed", "requests=%zu error=%s", n, err.message);
        goto failed;
    }
    if ((na > 0 && ln_audit_encoded_check (&au, res[0], &err) != 0) ||
        strcmp (PQcmdStatus (res[c]), "COMMIT") != 0) {
        /* cannot be after a successful insert, but never reply on a doubt */
        ln_log_error ("commit did not commit", "requests=%zu", n);
        goto out;
    }
    rc = TRY_COMMITTED;
    goto out;
failed:
    rc = s_try_failed (self);
out:
    for (int i = 0; i < 3; i++)
        PQclear (res[i]);
    s_lookup_clear (&lk);
    s_replies_clear (&rp);
    ln_outbox_encoded_clear (&ev);
    ln_audit_encoded_clear (&au);
    free (list);
    return rc;
}

/* Run a batch of requests in one transaction and reply to each. */
static void
s_run_batch (ln_server_t *self, size_t n)
{
    ln_error_t err;
    ln_audit_entry_t *entries = calloc (n, sizeof *entries);
    if (!entries)
        abort ();
    bool safe = false;
    int reconnects = 0;
    for (;;) {
        try_t t = s_try_batch (self, n, safe, entries);
        if (t == TRY_COMMITTED) {
            self->stats.transactions++;
            for (size_t i = 0; i < n; i++) {
                pending_t *p = &self->pending[i];
                const pending_t *src = p->dup_of >= 0 ? &self->pending[p->dup_of] : p;
                if (src->reply)
                    s_send (self, p->routing_id, src->reply, src->reply_size);
                else if (p->precheck.code)
                    s_send_error (self, p->routing_id, p->silent ? "" : s_request_id (p),
                                  &p->precheck);
                self->stats.requests++;
            }
            free (entries);
            return;
        }
        ln_db_rollback (self->db);
        if (t == TRY_UNAVAILABLE)
            break;
        if (t == TRY_LOST || self->db_down) {
            /* try to reconnect at once, once */
            s_db_lost (self);
            if (reconnects++ > 0)
                break;
            self->db_retry_at = 0;
            continue;
        }
        const ln_error_t *e = ln_db_last_error (self->db);
        if (!safe) {
            /* one request's rows or its handler broke the batch: find out
               which, each in its own savepoint */
            ln_log_warn ("command batch failed, running it again one request at a time",
                         "requests=%zu error=%s", n, e && e->code ? e->message : "(flush)");
            safe = true;
            continue;
        }
        ln_log_error ("command batch failed", "requests=%zu error=%s", n,
                      e && e->code ? e->message : "(audit)");
        break;
    }

    /* Nothing was committed: every request of the batch gets UNAVAILABLE
       (a refusal found before the database still gets its own error). */
    ln_error_set (&err, "UNAVAILABLE", NULL,
                  "the node could not commit; nothing changed; retry with the same request_id");
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &self->pending[i];
        s_send_error (self, p->routing_id, p->silent ? "" : s_request_id (p),
                      p->precheck.code ? &p->precheck : &err);
        self->stats.requests++;
    }
    free (entries);
}

static void s_refused (ln_server_t *self, pending_t *p);

/* The request_id of this request answered another one (a stored reply, or
   an earlier request of the same batch, with another hash). */
static void
s_reused (ln_server_t *self, pending_t *p)
{
    ln_error_set (&p->precheck, "REQUEST_ID_REUSED", "request_id",
                  "request_id %s was already used for another request; use a new one",
                  s_request_id (p));
    s_refused (self, p);
}

/* A request refused before its handler: logged, counted, audited. */
static void
s_refused (ln_server_t *self, pending_t *p)
{
    p->outcome = LN_AUDIT_REFUSED;
    snprintf (p->reason, sizeof p->reason, "%s%s%s", p->precheck.code,
              p->precheck.field[0] ? " " : "", p->precheck.field);
    ln_log_warn ("command refused", "principal=%s command=%s code=%s field=%s", p->principal->name,
                 p->command ? ln_command_name (p->command) : "-", p->precheck.code,
                 p->precheck.field);
    self->stats.refused++;
}

/* Check a request before any handler sees it: its request_id, which command
   it is (a field of Request's oneof, or Request.call naming the command's
   message), the command's message (Request.call's bytes are decoded and
   checked here, like the rest of the frame was), and the caller's roles.
   Fills p->precheck on refusal. */
static void
s_precheck (ln_server_t *self, pending_t *p)
{
    const Lantern__V1__Request *request = p->msg->request;
    p->dup_of = -1;
    if (!s_request_id_valid (request->request_id)) {
        /* not echoed, not audited: docs/protocol.md 7 */
        ln_error_set (&p->precheck, "BAD_REQUEST_ID", "request_id",
                      "request_id must be 1..%d bytes of [A-Za-z0-9._:-]", REQUEST_ID_MAX);
        p->silent = true;
        s_refused (self, p);
        return;
    }
    if (request->command_case == LANTERN__V1__REQUEST__COMMAND__NOT_SET) {
        ln_error_set (&p->precheck, "UNKNOWN_COMMAND", "", "no command given");
        s_refused (self, p);
        return;
    }
    if (request->command_case == LANTERN__V1__REQUEST__COMMAND_CALL) {
        const char *url = request->call->type_url ? request->call->type_url : "";
        const char *slash = strrchr (url, '/');
        const char *name = slash ? slash + 1 : url;
        p->command = s_find_command (self, name);
        if (!p->command) {
            ln_error_set (&p->precheck, "UNKNOWN_COMMAND", "call.type_url",
                          "this node does not serve %.*s", 200, *name ? name : "(no type)");
            s_refused (self, p);
            return;
        }
        p->via_field = CALL_FIELD;
        p->input_owned = ln_pbcheck_unpack (p->command->input, request->call->value.data,
                                            request->call->value.len, &ln_pbcheck_wire_limits, NULL,
                                            &p->precheck);
        if (!p->input_owned) {
            s_refused (self, p);
            return;
        }
        p->input = p->input_owned;
    }
    else {
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field (
            &lantern__v1__request__descriptor, (unsigned)request->command_case);
        p->command =
            f && f->type == PROTOBUF_C_TYPE_MESSAGE
                ? s_find_command (self, ((const ProtobufCMessageDescriptor *)f->descriptor)->name)
                : NULL;
        if (!p->command) {
            ln_error_set (&p->precheck, "UNKNOWN_COMMAND", "",
                          "this node does not serve command %s", f ? f->name : "(unknown)");
            s_refused (self, p);
            return;
        }
        p->via_field = (int)f->id;
        p->input = *(const ProtobufCMessage *const *)((const char *)request + f->offset);
    }
    if (!s_allowed (p->command, p->principal)) {
        ln_error_set (&p->precheck, "FORBIDDEN", "", "%s may not call %s", p->principal->name,
                      ln_command_name (p->command));
        s_refused (self, p);
        return;
    }
}

/* A ClientMessage holding only a Request with `request_id`, allocated as
   protobuf-c's default allocator would (freed by s_pending_clear). */
static Lantern__V1__ClientMessage *
s_malformed_message (const char *request_id)
{
    Lantern__V1__ClientMessage *msg = malloc (sizeof *msg);
    Lantern__V1__Request *request = malloc (sizeof *request);
    char *rid = strdup (request_id);
    if (!msg || !request || !rid)
        abort ();
    lantern__v1__client_message__init (msg);
    lantern__v1__request__init (request);
    request->request_id = rid;
    msg->kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    msg->request = request;
    return msg;
}

/* Error paths name fields from the command's own message (docs/protocol.md
   8): a check of the whole ClientMessage says
   "request.submit_signal.details.persons[0].role", the client reads
   "details.persons[0].role"; "request.request_id" becomes "request_id". */
static void
s_relative_field (ln_error_t *err)
{
    const char *prefix = "request.";
    size_t plen = strlen (prefix);
    if (strncmp (err->field, prefix, plen) != 0)
        return;
    const char *rest = err->field + plen;
    size_t len = strcspn (rest, ".[");
    char name[64];
    const char *keep = rest;
    if (len < sizeof name) {
        memcpy (name, rest, len);
        name[len] = '\0';
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name (
            &lantern__v1__request__descriptor, name);
        if (f && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->id != CALL_FIELD)
            keep = rest[len] == '.' ? rest + len + 1 : rest + len;
    }
    memmove (err->field, keep, strlen (keep) + 1);
}

/* The request's hash, for REQUEST_ID_REUSED: SHA-256 of the command's name
   and of the bytes of its Request field as the client sent them (a retry
   sends the same bytes). */
static void
s_request_hash (pending_t *p, const uint8_t *data, size_t size)
{
    const uint32_t path[2] = {1, (uint32_t)p->via_field};
    const uint8_t *value = NULL;
    size_t len = 0;
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init (&st);
    crypto_hash_sha256_update (&st, (const uint8_t *)p->command->input->name,
                               strlen (p->command->input->name) + 1);
    if (ln_pbcheck_find_field (data, size, path, 2, &value, &len) == 0 && value)
        crypto_hash_sha256_update (&st, value, len);
    crypto_hash_sha256_final (&st, p->hash);
}

/* A frame that failed the checks: if it is a Request with a readable,
   well-formed request_id, it is answered under it (so that its client can
   tell its refusal from a lost reply) and audited as refused, naming the
   command it was meant to be; anything else gets an error with no
   request_id and is not audited.  Returns 1 when it became a pending
   request (routing id taken), 0 otherwise. */
static int
s_malformed (ln_server_t *self, pending_t *p, zframe_t **routing_id,
             const ln_principal_t *principal, const uint8_t *data, size_t size,
             const ln_error_t *err)
{
    static const uint32_t request_id_path[2] = {1, 1};
    char rid[REQUEST_ID_MAX + 1];
    if (ln_pbcheck_find_id (data, size, request_id_path, 2, rid, sizeof rid) != 0 ||
        !s_request_id_valid (rid)) {
        s_send_error (self, *routing_id, "", err);
        return 0;
    }
    memset (p, 0, sizeof *p);
    p->routing_id = *routing_id;
    *routing_id = NULL;
    p->principal = principal;
    p->msg = s_malformed_message (rid);
    p->malformed = true;
    p->dup_of = -1;
    /* name the command it was meant to be, for the audit: the first field
       of Request's oneof present in the frame that a command of ours has */
    const ProtobufCMessageDescriptor *rd = &lantern__v1__request__descriptor;
    for (unsigned i = 0; i < rd->n_fields && !p->command; i++) {
        const ProtobufCFieldDescriptor *f = &rd->fields[i];
        const uint32_t command_path[2] = {1, f->id};
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->id == CALL_FIELD ||
            f->type != PROTOBUF_C_TYPE_MESSAGE ||
            ln_pbcheck_find_field (data, size, command_path, 2, NULL, NULL) != 0)
            continue;
        p->command =
            s_find_command (self, ((const ProtobufCMessageDescriptor *)f->descriptor)->name);
    }
    p->precheck = *err;
    s_refused (self, p);
    return 1;
}

/* Receive one message from the ROUTER without blocking: the routing id,
   the first body frame (kept in *body, with the connection's metadata),
   and the number of body frames (the rest are read and dropped).  Returns
   the routing id, or NULL when nothing is waiting. */
static zframe_t *
s_recv (ln_server_t *self, zmq_msg_t *body, size_t *frames)
{
    void *sock = zsock_resolve (self->router);
    zmq_msg_t part;
    zmq_msg_init (&part);
    if (zmq_msg_recv (&part, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&part);
        return NULL;
    }
    zframe_t *routing_id = zframe_new (zmq_msg_data (&part), zmq_msg_size (&part));
    bool more = zmq_msg_more (&part);
    zmq_msg_close (&part);
    *frames = 0;
    /* the rest of a message is there at once: libzmq delivers it whole */
    if (more && zmq_msg_recv (body, sock, 0) >= 0) {
        *frames = 1;
        more = zmq_msg_more (body);
    }
    while (more) {
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, sock, 0) < 0) {
            zmq_msg_close (&part);
            break;
        }
        (*frames)++;
        more = zmq_msg_more (&part);
        zmq_msg_close (&part);
    }
    return routing_id;
}

/* Receive everything waiting on the ROUTER: streams now, requests batched. */
static void
s_drain (ln_server_t *self)
{
    size_t n = 0;
    /* The ROUTER's receive timeout is 0: a receive returns at once when
       nothing is waiting.  (Asking ZMQ_EVENTS before each message would cost
       a poll and a getpid system call per message; a receive only looks at
       libzmq's command pipe when its queue is empty.) */
    while (n < self->batch_max) {
        zmq_msg_t body;
        size_t frames = 0;
        zmq_msg_init (&body);
        zframe_t *routing_id = s_recv (self, &body, &frames);
        if (!routing_id) {
            zmq_msg_close (&body);
            break;
        }
        /* The body frame carries the connection's metadata: the User-Id the
           ZAP handler gave it, and the connection's socket. */
        const ln_principal_t *principal =
            frames > 0 ? ln_auth_principal_of_user_id (self->auth, zmq_msg_gets (&body, "User-Id"))
                       : NULL;
        int fd = frames > 0 ? zmq_msg_get (&body, ZMQ_SRCFD) : -1;
        const uint8_t *data = zmq_msg_data (&body);
        size_t size = zmq_msg_size (&body);
        ln_error_t err;
        ln_error_clear (&err);
        if (!principal) {
            /* ZAP admitted it, so this cannot happen; refuse rather than guess */
            ln_log_error ("message without a principal", "frames=%zu", frames);
            goto drop;
        }
        if (frames != 1) {
            ln_log_warn ("bad frame count", "principal=%s frames=%zu", principal->name, frames);
            ln_error_set (&err, "BAD_FRAME", "", "a message must have exactly one frame");
            s_send_error (self, routing_id, "", &err);
            self->stats.dropped_frames++;
            goto drop;
        }
        Lantern__V1__ClientMessage *msg = (Lantern__V1__ClientMessage *)ln_pbcheck_unpack (
            &lantern__v1__client_message__descriptor, data, size, &ln_pbcheck_wire_limits, NULL,
            &err);
        if (!msg || msg->kind_case == LANTERN__V1__CLIENT_MESSAGE__KIND__NOT_SET) {
            if (msg) {
                protobuf_c_message_free_unpacked (&msg->base, NULL);
                ln_error_set (&err, "BAD_FRAME", "", "empty ClientMessage");
            }
            s_relative_field (&err);
            ln_log_warn ("bad client message", "principal=%s code=%s field=%s", principal->name,
                         err.code, err.field);
            self->stats.dropped_frames++;
            if (!msg)
                n += (size_t)s_malformed (self, &self->pending[n], &routing_id, principal, data,
                                          size, &err);
            else
                s_send_error (self, routing_id, "", &err);
            goto drop;
        }
        if (msg->kind_case == LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE) {
            s_on_subscribe (self, routing_id, fd, principal, msg->subscribe);
            protobuf_c_message_free_unpacked (&msg->base, NULL);
            goto drop;
        }
        if (msg->kind_case == LANTERN__V1__CLIENT_MESSAGE__KIND_CREDIT) {
            s_on_credit (self, routing_id, principal, msg->credit);
            protobuf_c_message_free_unpacked (&msg->base, NULL);
            goto drop;
        }
        pending_t *p = &self->pending[n++];
        memset (p, 0, sizeof *p);
        p->routing_id = routing_id;
        routing_id = NULL;
        p->principal = principal;
        p->msg = msg;
        s_precheck (self, p);
        if (!p->precheck.code && p->command->writes)
            s_request_hash (p, data, size);
        /* The same request twice in one batch: the second gets the first's
           reply; the same request_id for another request is refused. */
        if (!p->precheck.code && p->command->writes)
            for (size_t j = 0; j + 1 < n; j++) {
                pending_t *q = &self->pending[j];
                if (q->precheck.code || q->dup_of >= 0 || !q->command->writes ||
                    q->principal != p->principal ||
                    strcmp (s_request_id (q), s_request_id (p)) != 0)
                    continue;
                if (memcmp (q->hash, p->hash, sizeof p->hash) == 0)
                    p->dup_of = (int)j;
                else
                    s_reused (self, p);
                break;
            }
    drop:
        zframe_destroy (&routing_id);
        zmq_msg_close (&body);
    }
    if (n > 0)
        s_run_batch (self, n);
    for (size_t i = 0; i < n; i++)
        s_pending_clear (&self->pending[i]);
    if (zsock_events (self->router) & ZMQ_POLLIN)
        self->more_work = true;
}

/* --- housekeeping --------------------------------------------------------------------------- */

/* Purges are audited (docs/architecture.md "Retention"), by the node itself. */
static void
s_audit_purge (ln_server_t *self, uint64_t pruned)
{
    ln_error_t err;
    char reason[128];
    snprintf (reason, sizeof reason, "retention: %llu events older than %lld ms",
              (unsigned long long)pruned, (long long)self->retention_ms);
    ln_audit_entry_t entry = {
        .principal = self->node,
        .action = "RetentionPrune",
        .object = "outbox",
        .outcome = LN_AUDIT_PURGED,
        .reason = reason,
    };
    if (ln_db_begin (self->db) != 0 || ln_audit_append (self->db, &entry, &err) != 0 ||
        ln_db_commit (self->db) != 0) {
        ln_db_rollback (self->db);
        ln_log_error ("cannot audit a purge", "events=%llu", (unsigned long long)pruned);
    }
}

static void
s_housekeeping (ln_server_t *self, int64_t now)
{
    ln_error_t err;
    if (self->retention_ms > 0 && now >= self->prune_at) {
        self->prune_at = now + PRUNE_EVERY_MS;
        uint64_t pruned = 0;
        int64_t cutoff = ln_clock_wall_us () - self->retention_ms * 1000;
        if (ln_outbox_prune (self->db, cutoff, &pruned, &err) == 0 && pruned > 0) {
            ln_log_info ("outbox pruned", "events=%llu", (unsigned long long)pruned);
            s_refresh_bounds (self);
            s_audit_purge (self, pruned);
        }
    }
    if (now >= self->expire_at) {
        self->expire_at = now + PRUNE_EVERY_MS;
        char cutoff[24];
        snprintf (cutoff, sizeof cutoff, "%lld",
                  (long long)(ln_clock_wall_us () - REPLY_KEEP_MS * 1000));
        const char *params[1] = {cutoff};
        ln_db_run (self->db, "DELETE FROM command_replies WHERE created_us < $1::bigint", 1, params,
                   &err);
    }
}

/* --- life cycle
 * ------------------------------------------------------------------------------------ */

ln_server_t *
ln_server_new (const ln_server_config_t *config, ln_error_t *err)
{
    ln_server_t *self = NULL;
    if (!config || !config->node || !config->endpoint || !config->cert || !config->auth ||
        !config->db) {
        ln_error_set (err, "SERVER_INVALID", NULL,
                      "node, endpoint, cert, auth and db are required");
        goto fail;
    }
    if (!ln_envelope_node_valid (config->node)) {
        ln_error_set (err, "SERVER_INVALID", "node", "node name '%s' is not [a-z0-9-]{1,63}",
                      config->node);
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->relay_wake[0] = self->relay_wake[1] = -1;
    snprintf (self->node, sizeof self->node, "%s", config->node);
    snprintf (self->source, sizeof self->source, "%s%s", LN_ENVELOPE_SOURCE_PREFIX, config->node);
    self->auth = config->auth;
    self->db = config->db;
    self->project = config->project;
    self->arg = config->arg;
    self->batch_max = config->batch_max ? config->batch_max : BATCH_MAX_DEFAULT;
    self->credit_max = config->credit_max ? config->credit_max : CREDIT_MAX_DEFAULT;
    if (self->credit_max > LN_AUTH_SERVER_SNDHWM - 1000)
        self->credit_max = LN_AUTH_SERVER_SNDHWM - 1000; /* what the queue holds */
    self->retention_ms = config->retention_ms;
    self->pending = calloc (self->batch_max, sizeof (pending_t));
    self->limits = config->limits;
    if (!self->limits.subscribers_max)
        self->limits.subscribers_max = LN_STREAM_SUBSCRIBERS_MAX_DEFAULT;
    if (!self->limits.subscriptions_per_principal)
        self->limits.subscriptions_per_principal = LN_STREAM_PER_PRINCIPAL_DEFAULT;
    if (!self->limits.unconfirmed_per_principal)
        self->limits.unconfirmed_per_principal = LN_STREAM_UNCONFIRMED_PRINCIPAL_DEFAULT;
    if (!self->limits.unconfirmed_total)
        self->limits.unconfirmed_total = LN_STREAM_UNCONFIRMED_TOTAL_DEFAULT;

    size_t nnode = sizeof s_node_commands / sizeof s_node_commands[0];
    self->commands = calloc (nnode + config->command_count, sizeof (ln_command_t));
    if (!self->commands)
        abort ();
    memcpy (self->commands, s_node_commands, sizeof s_node_commands);
    self->command_count = nnode;
    for (size_t i = 0; i < config->command_count; i++) {
        const ln_command_t *c = &config->commands[i];
        if (!c->input || !c->output || !c->fn || strncmp (c->input->name, "lantern.v1.", 11) != 0 ||
            strncmp (c->output->name, "lantern.v1.", 11) != 0) {
            ln_error_set (err, "SERVER_INVALID", "commands",
                          "command %zu needs lantern.v1 input and output messages and a handler",
                          i);
            goto fail;
        }
        if (s_find_command (self, c->input->name)) {
            ln_error_set (err, "SERVER_INVALID", "commands", "command %s is served twice",
                          c->input->name);
            goto fail;
        }
        if (c->flush && (!c->writes || c->own_transaction)) {
            ln_error_set (err, "SERVER_INVALID", "commands",
                          "command %s has a flush: it must write and not own its transaction",
                          c->input->name);
            goto fail;
        }
        self->commands[self->command_count++] = *c;
    }
    self->rule_count = config->rule_count;
    self->rules = calloc (self->rule_count + 1, sizeof (ln_stream_rule_t));
    if (config->rule_count)
        memcpy (self->rules, config->rules, config->rule_count * sizeof (ln_stream_rule_t));

    if (!self->pending || !self->commands || !self->rules)
        abort ();

    if (s_db_ready (self) != 0) {
        ln_error_set (err, "SERVER_DB", NULL, "cannot LISTEN on the database");
        goto fail;
    }
    if (s_refresh_bounds (self) != 0) {
        ln_error_set (err, "SERVER_DB", NULL, "cannot read the outbox's bounds");
        goto fail;
    }

    self->router =
        ln_auth_server_socket (self->auth, ZMQ_ROUTER, config->endpoint, config->cert, err);
    if (!self->router)
        goto fail;
    /* A peer that went away makes sends fail (EHOSTUNREACH) instead of
       vanishing silently, so its subscription is dropped. */
    zsock_set_router_mandatory (self->router, 1);
    zsock_set_rcvtimeo (self->router, 0); /* s_drain: never blocks */
    /* Connections come and go: the monitor says when, so that a peer's
       stream state dies with its connection (s_monitor_drain). */
    char monitor_ep[64];
    snprintf (monitor_ep, sizeof monitor_ep, "inproc://ln-server-monitor-%p", (void *)self);
    if (zmq_socket_monitor (zsock_resolve (self->router), monitor_ep, MONITOR_EVENTS) != 0 ||
        !(self->monitor = zsock_new_pair (monitor_ep))) {
        ln_error_set (err, "SERVER_MONITOR", NULL, "cannot monitor the server socket: %s",
                      zmq_strerror (zmq_errno ()));
        goto fail;
    }
    snprintf (self->endpoint, sizeof self->endpoint, "%s", zsock_endpoint (self->router));
    if (s_relay_start (self) != 0) {
        ln_error_set (err, "SERVER_RELAY", NULL, "cannot start the relay thread");
        goto fail;
    }
    self->prune_at = ln_clock_mono_ms ();
    self->expire_at = ln_clock_mono_ms ();
    ln_log_info ("serving", "node=%s endpoint=%s last_position=%llu", self->node, self->endpoint,
                 (unsigned long long)self->last_position);
    return self;
fail:
    ln_server_destroy (&self);
    return NULL;
}

void
ln_server_destroy (ln_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ln_server_t *self = *self_p;
    s_relay_stop (self);
    while (self->nsubs > 0)
        s_end_sub (self, &self->subs[0], "node stopped", true);
    if (self->db && !self->db_down)
        s_flush_stream_audit (self);
    free (self->subs);
    free (self->uses);
    free (self->audits);
    free (self->fd_state);
    free (self->consumers);
    if (self->router && self->monitor)
        zmq_socket_monitor (zsock_resolve (self->router), NULL, 0);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->router);
    free (self->pending);
    free (self->commands);
    free (self->rules);
    free (self);
    *self_p = NULL;
}

const char *
ln_server_endpoint (ln_server_t *self)
{
    return self->endpoint;
}

int
ln_server_add_consumer (ln_server_t *self, ln_consumer_t *consumer)
{
    if (!consumer)
        return -1;
    self->consumers = ln_xgrow (self->consumers, &self->consumers_cap, self->nconsumers + 1,
                                sizeof *self->consumers);
    self->consumers[self->nconsumers++] = consumer;
    return 0;
}

void
ln_server_stop (ln_server_t *self)
{
    self->stopped = 1;
}

void
ln_server_stats (const ln_server_t *self, ln_server_stats_t *stats)
{
    *stats = self->stats;
}

int
ln_server_step (ln_server_t *self, int timeout_ms)
{
    if (self->stopped)
        return -1;
    int64_t now = ln_clock_mono_ms ();

    /* How long may we sleep? */
    int timeout = timeout_ms;
    /* Cleared for this turn: whatever still has work left sets it again.
       (Left set, the loop would spin at timeout 0 for ever.) */
    bool more_work = self->more_work;
    self->more_work = false;
    if (more_work)
        timeout = 0;
    if (self->db_down && self->db_retry_at - now < timeout)
        timeout = self->db_retry_at > now ? (int)(self->db_retry_at - now) : 0;
    for (size_t i = 0; i < self->nsubs; i++)
        if (self->subs[i].retry_at > 0 && self->subs[i].retry_at - now < timeout)
            timeout = self->subs[i].retry_at > now ? (int)(self->subs[i].retry_at - now) : 0;
    for (size_t i = 0; i < self->nconsumers; i++) {
        int t = ln_consumer_next_timeout_ms (self->consumers[i], now);
        if (t >= 0 && t < timeout)
            timeout = t;
    }

    zmq_pollitem_t stack_items[3 + 16];
    zmq_pollitem_t *items = stack_items;
    if (self->nconsumers > 16 && !(items = calloc (3 + self->nconsumers, sizeof *items)))
        abort ();
    memset (items, 0, (3 + (self->nconsumers > 16 ? self->nconsumers : 16)) * sizeof *items);
    size_t nitems = 0;
    items[nitems].socket = zsock_resolve (self->router);
    items[nitems++].events = ZMQ_POLLIN;
    items[nitems].socket = zsock_resolve (self->monitor);
    items[nitems++].events = ZMQ_POLLIN;
    int pgfd = self->db_down ? -1 : PQsocket (ln_db_conn (self->db));
    size_t pg_item = nitems;
    if (pgfd >= 0) {
        items[nitems].fd = pgfd;
        items[nitems++].events = ZMQ_POLLIN;
    }
    size_t first_consumer = nitems;
    for (size_t i = 0; i < self->nconsumers; i++) {
        items[nitems].socket = zsock_resolve (ln_consumer_socket (self->consumers[i]));
        items[nitems++].events = ZMQ_POLLIN;
    }
    int polled = zmq_poll (items, (int)nitems, timeout);
    bool pg_readable = pgfd >= 0 && (items[pg_item].revents & ZMQ_POLLIN);
    bool *readable = NULL;
    if (self->nconsumers > 0) {
        readable = calloc (self->nconsumers, sizeof *readable);
        if (!readable)
            abort ();
        for (size_t i = 0; i < self->nconsumers; i++)
            readable[i] = polled > 0 && (items[first_consumer + i].revents & ZMQ_POLLIN);
    }
    if (items != stack_items)
        free (items);
    if ((polled < 0 && errno != EINTR) || self->stopped) {
        free (readable);
        return -1;
    }
    now = ln_clock_mono_ms ();
    s_monitor_drain (self);

    /* a reconnect made elsewhere (a consumer's recovery) lost our LISTEN */
    if ((self->db_down && now >= self->db_retry_at) ||
        (!self->db_down && ln_db_generation (self->db) != self->listening_on))
        s_db_ready (self);
    (void)pg_readable; /* notifications are also read during other queries: always look */
    s_db_notifications (self);

    if (zsock_events (self->router) & ZMQ_POLLIN) {
        s_drain (self);
        /* A batch's own commit notifies "stamp"; libpq may have read that
           notification while it read the batch's results, so the socket
           will not wake the poll for it: look now, so that followers get
           the batch's events this turn, not at the next wake-up. */
        s_db_notifications (self);
    }
    /* The bounds serve subscribers (and Ping, which reads them itself):
       with none, a busy node does not read them again after every batch
       (a round trip each; the events' NOTIFY marks them stale). */
    if (!self->db_down && self->bounds_stale && self->nsubs > 0 && s_refresh_bounds (self) == 0)
        self->bounds_stale = false;
    /* A subscription is served only once its start is in the audit trail. */
    bool audited = self->naudits == 0 || (!self->db_down && s_flush_stream_audit (self) == 0);
    if (!self->db_down && self->nsubs > 0 && audited)
        s_serve (self);
    if (self->naudits > 0 && !self->db_down)
        s_flush_stream_audit (self); /* what serving ended */

    for (size_t i = 0; i < self->nconsumers; i++) {
        if (readable[i])
            ln_consumer_on_readable (self->consumers[i]);
        ln_consumer_on_tick (self->consumers[i], now);
    }
    free (readable);
    if (!self->db_down)
        s_housekeeping (self, now);
    if (self->trim_at && now >= self->trim_at) {
        /* subscriptions went: give the memory their queues held back to
           the system (glibc keeps freed memory in its arenas otherwise) */
        self->trim_at = 0;
        malloc_trim (0);
    }
    return 0;
}

int
ln_server_run (ln_server_t *self)
{
    while (ln_server_step (self, 1000) == 0)
        ;
    ln_log_info ("stopped", "node=%s", self->node);
    return 0;
}
