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
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "ln_audit.h"
#include "ln_envelope.h"
#include "ln_log.h"
#include "ln_pbcheck.h"
#include "ln_utf8.h"
#include "ln_version.h"
#include "lantern.pb-c.h"

#define MAX_SUBSCRIBERS    1024
#define MAX_CONSUMERS      32
#define BATCH_MAX_DEFAULT  256
#define CREDIT_MAX_DEFAULT 10000
#define READ_CHUNK         500               /* outbox rows per read */
#define INFLIGHT_BYTES_MAX (8 * 1024 * 1024) /* Deliver bytes a subscriber may hold unconfirmed */
#define SCAN_BUDGET        4000              /* rows examined per subscriber per turn */
#define STAMP_CHUNK        10000             /* rows stamped per relay transaction */
#define RELAY_INTERVAL_MS  20                /* the relay stamps at most this often */
#define RELAY_IDLE_MS      1000              /* and looks at least this often */
#define DB_RETRY_MS        1000
#define PRUNE_EVERY_MS     60000
#define REPLY_KEEP_MS      (7LL * 24 * 3600 * 1000)
#define REQUEST_ID_MAX     64
#define NOTICE_TEXT_MAX    1000
#define NOTICE_TYPE        "nl.lantern.notice.posted.v1"

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

const ln_migration_t *
ln_server_migrations (size_t *count)
{
    static ln_migration_t list[6];
    list[0] = ln_outbox_migration;
    list[1] = ln_audit_migration;
    list[2] = ln_consumer_migration;
    list[3] = s_replies_migration;
    list[4] = ln_audit_writer_migration;
    list[5] = ln_audit_anchors_migration;
    *count = 6;
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

typedef struct {
    zframe_t *routing_id;
    const ln_principal_t *principal;
    uint64_t scan;    /* highest position examined */
    uint64_t prev;    /* last position delivered: next Deliver's previous_position */
    uint32_t credit;  /* Delivers allowed in flight */
    int64_t retry_at; /* its queue was full: not before this (monotonic ms) */
    int retry_ms;     /* the current backoff */
    /* Sizes of the Delivers sent and not yet confirmed by Credit, oldest
       first (a ring of credit_max entries): credit bounds how many, this
       bounds how many bytes, whatever the events' size. */
    uint32_t *sizes;
    size_t ring_head, ring_count;
    uint64_t bytes;
    bool bytes_full; /* waiting for Credit to free bytes */
} subscriber_t;

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
    ln_error_t error;
    zlist_t *allocs;
    stash_t stash; /* staged commands only */
};

/* One Request of a batch, from receipt to reply. */
typedef struct {
    zframe_t *routing_id;
    const ln_principal_t *principal;
    Lantern__V1__ClientMessage *msg; /* owned; msg->request is the Request */
    const ln_command_t *command;     /* NULL when refused before the handler */
    ln_error_t precheck;             /* set when refused before the handler */
    int dup_of;                      /* index of the same request earlier in the batch, or -1 */
    bool replayed;                   /* reply came from command_replies */
    bool malformed;                  /* failed the checks; msg holds only the request_id */
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

    subscriber_t subs[MAX_SUBSCRIBERS];
    size_t nsubs;
    ln_consumer_t *consumers[MAX_CONSUMERS];
    size_t nconsumers;
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
                      call->command->name);
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
s_cmd_ping (void *arg, ln_call_t *call, const Lantern__V1__Request *request,
            Lantern__V1__Reply *reply)
{
    (void)arg;
    (void)request;
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
    reply->result_case = LANTERN__V1__REPLY__RESULT_PING;
    reply->ping = pong;
    return 0;
}

static int
s_cmd_post_notice (void *arg, ln_call_t *call, const Lantern__V1__Request *request,
                   Lantern__V1__Reply *reply)
{
    (void)arg;
    const char *text = request->post_notice->text;
    size_t len = text ? strlen (text) : 0;
    if (len == 0)
        return ln_call_fail (call, "INVALID_ARGUMENT", "post_notice.text", "text is empty");
    if (len > NOTICE_TEXT_MAX)
        return ln_call_fail (call, "INVALID_ARGUMENT", "post_notice.text",
                             "text is longer than %d bytes", NOTICE_TEXT_MAX);

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
    reply->result_case = LANTERN__V1__REPLY__RESULT_POST_NOTICE;
    reply->post_notice = result;
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
s_cmd_verify_audit (void *arg, ln_call_t *call, const Lantern__V1__Request *request,
                    Lantern__V1__Reply *reply)
{
    (void)arg;
    (void)request;
    ln_audit_report_t report;
    if (ln_audit_verify (call->server->db, &report, &call->error) != 0)
        return -1;
    Lantern__V1__AuditReport *r = ln_call_alloc (call, sizeof *r);
    lantern__v1__audit_report__init (r);
    r->ok = report.ok;
    r->rows = report.rows;
    r->first_bad_seq = report.first_bad_seq;
    r->problem = ln_call_strdup (call, report.problem);
    reply->result_case = LANTERN__V1__REPLY__RESULT_VERIFY_AUDIT;
    reply->verify_audit = r;
    return 0;
}

static const char *const s_roles_operator[] = {"operator", NULL};
static const char *const s_roles_auditor[] = {"operator", "auditor", NULL};

static const ln_command_t s_node_commands[] = {
    {LANTERN__V1__REQUEST__COMMAND_PING, "Ping", NULL, false, s_cmd_ping, false, NULL},
    {LANTERN__V1__REQUEST__COMMAND_POST_NOTICE, "PostNotice", s_roles_operator, true,
     s_cmd_post_notice, false, s_flush_post_notice},
    {LANTERN__V1__REQUEST__COMMAND_VERIFY_AUDIT, "VerifyAudit", s_roles_auditor, false,
     s_cmd_verify_audit, true, NULL},
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

/* Make sure the connection is up and LISTENing.  Returns 0 or -1. */
static int
s_db_ready (ln_server_t *self)
{
    ln_error_t err;
    if (self->db_down && ln_clock_mono_ms () < self->db_retry_at)
        return -1;
    if (ln_db_ensure (self->db, &err) != 0) {
        self->db_down = true;
        self->db_retry_at = ln_clock_mono_ms () + DB_RETRY_MS;
        return -1;
    }
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
        if (ln_db_ensure (db, &err) != 0)
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
            continue; /* lost: ln_db_ensure reconnects next turn */
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

static subscriber_t *
s_find_sub (ln_server_t *self, zframe_t *routing_id)
{
    for (size_t i = 0; i < self->nsubs; i++)
        if (zframe_eq (self->subs[i].routing_id, routing_id))
            return &self->subs[i];
    return NULL;
}

static void
s_remove_sub (ln_server_t *self, subscriber_t *sub)
{
    zframe_destroy (&sub->routing_id);
    free (sub->sizes);
    size_t i = (size_t)(sub - self->subs);
    self->subs[i] = self->subs[self->nsubs - 1];
    memset (&self->subs[self->nsubs - 1], 0, sizeof (subscriber_t));
    self->nsubs--;
    self->stats.subscribers = self->nsubs;
}

static void
s_send_reset (ln_server_t *self, zframe_t *routing_id, const char *reason)
{
    Lantern__V1__Reset reset = LANTERN__V1__RESET__INIT;
    reset.first_position = self->first_position;
    reset.last_position = self->last_position;
    reset.reason = (char *)reason;
    Lantern__V1__ServerMessage msg = LANTERN__V1__SERVER_MESSAGE__INIT;
    msg.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_RESET;
    msg.reset = &reset;
    size_t size;
    uint8_t *buf = s_pack_server_message (&msg, &size);
    s_send (self, routing_id, buf, size);
    free (buf);
}

static void
s_on_subscribe (ln_server_t *self, zframe_t *routing_id, const ln_principal_t *principal,
                const Lantern__V1__Subscribe *subscribe)
{
    /* Without fresh bounds we cannot tell AHEAD from fine: say nothing, the
       client subscribes again after its idle interval. */
    if (s_refresh_bounds (self) != 0)
        return;
    uint64_t after = subscribe->after_position;
    const char *reason = NULL;
    if (after > self->last_position)
        reason = "AHEAD";
    else if (self->first_position > 0 && after + 1 < self->first_position)
        reason = "PRUNED";
    subscriber_t *sub = s_find_sub (self, routing_id);
    if (reason) {
        ln_log_warn ("subscription reset", "principal=%s after=%llu first=%llu last=%llu reason=%s",
                     principal->name, (unsigned long long)after,
                     (unsigned long long)self->first_position,
                     (unsigned long long)self->last_position, reason);
        if (sub)
            s_remove_sub (self, sub);
        s_send_reset (self, routing_id, reason);
        return;
    }
    if (!sub) {
        if (self->nsubs == MAX_SUBSCRIBERS) {
            ln_log_warn ("too many subscribers", "principal=%s max=%d", principal->name,
                         MAX_SUBSCRIBERS);
            return;
        }
        sub = &self->subs[self->nsubs++];
        sub->routing_id = zframe_dup (routing_id);
        self->stats.subscribers = self->nsubs;
        ln_log_info ("subscribed", "principal=%s after=%llu credit=%u", principal->name,
                     (unsigned long long)after, subscribe->credit);
    }
    sub->principal = principal;
    sub->scan = after;
    sub->prev = after;
    sub->retry_at = 0;
    sub->retry_ms = 0;
    sub->credit = subscribe->credit < self->credit_max ? subscribe->credit : self->credit_max;
    if (!sub->sizes && !(sub->sizes = calloc (self->credit_max, sizeof (uint32_t))))
        abort ();
    sub->ring_head = sub->ring_count = 0;
    sub->bytes = 0;
    sub->bytes_full = false;
}

static void
s_on_credit (ln_server_t *self, zframe_t *routing_id, const Lantern__V1__Credit *credit)
{
    subscriber_t *sub = s_find_sub (self, routing_id);
    if (!sub)
        return; /* a late Credit for a subscription that was reset or replaced */
    uint64_t sum = (uint64_t)sub->credit + credit->credit;
    sub->credit = sum < self->credit_max ? (uint32_t)sum : self->credit_max;
    /* n confirmed: the n oldest Delivers in flight are off the books */
    for (uint32_t n = credit->credit; n > 0 && sub->ring_count > 0; n--) {
        sub->bytes -= sub->sizes[sub->ring_head];
        sub->ring_head = (sub->ring_head + 1) % self->credit_max;
        sub->ring_count--;
    }
    sub->bytes_full = false;
}

/* Which projection may this principal see `type` in?  0 = none. */
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
    return 0;
}

/* Build the Deliver for one row as this subscriber may see it.  Returns the
   packed ServerMessage, or NULL when the subscriber may not see it. */
static uint8_t *
s_deliver_for (ln_server_t *self, const subscriber_t *sub, const ln_outbox_row_t *row, size_t *size)
{
    if (row->level > sub->principal->level)
        return NULL;
    ln_projection_t projection = s_policy (self, sub->principal, row->type);
    if (projection == 0)
        return NULL;

    uint8_t *projected = NULL;
    size_t projected_size = 0;
    const uint8_t *payload = row->payload;
    size_t payload_size = row->payload_size;
    if (projection != LN_PROJECTION_FULL) {
        if (!self->project)
            return NULL;
        int rc = self->project (self->arg, row->type, projection, row->payload, row->payload_size,
                                &projected, &projected_size);
        if (rc != 0) {
            if (rc < 0)
                ln_log_error ("projection failed", "type=%s position=%llu projection=%s", row->type,
                              (unsigned long long)row->position, ln_projection_name (projection));
            free (projected);
            return NULL;
        }
        payload = projected;
        payload_size = projected_size;
    }

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
    Lantern__V1__ServerMessage msg = LANTERN__V1__SERVER_MESSAGE__INIT;
    msg.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER;
    msg.deliver = &deliver;
    uint8_t *buf = s_pack_server_message (&msg, size);
    free (event);
    return buf;
}

/* Send what one subscriber may see, within its credit and the scan budget.
   Returns -1 when the subscriber is gone (removed by the caller). */
static int
s_serve_one (ln_server_t *self, subscriber_t *sub)
{
    size_t scanned = 0;
    ln_outbox_batch_t batch = {0};
    int rc = 0;
    if (sub->retry_at > ln_clock_mono_ms () || sub->bytes_full)
        return 0;
    sub->retry_at = 0;
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
            uint8_t *buf = s_deliver_for (self, sub, row, &size);
            if (buf && sub->ring_count > 0 &&
                (sub->bytes + size > INFLIGHT_BYTES_MAX || sub->ring_count == self->credit_max)) {
                /* enough unconfirmed bytes out: wait for Credit (this row
                   is sent then; the scan stays before it) */
                free (buf);
                sub->bytes_full = true;
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
                sub->sizes[(sub->ring_head + sub->ring_count) % self->credit_max] = (uint32_t)size;
                sub->ring_count++;
                sub->bytes += size;
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
    for (size_t i = 0; i < self->nsubs;) {
        subscriber_t *sub = &self->subs[i];
        int rc = s_serve_one (self, sub);
        if (rc == -2) {
            s_send_reset (self, sub->routing_id, "PRUNED");
            s_remove_sub (self, sub);
        }
        else if (rc < 0) {
            ln_log_info ("subscriber gone", "principal=%s", sub->principal->name);
            s_remove_sub (self, sub);
        }
        else
            i++;
    }
}

/* --- commands -----------------------------------------------------------------------------------
 */

static const ln_command_t *
s_find_command (const ln_server_t *self, int command_case)
{
    for (size_t i = 0; i < self->command_count; i++)
        if ((int)self->commands[i].command == command_case)
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
    p->replayed = p->store = false;
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
        .sql = "SELECT u.n, r.reply"
               " FROM unnest ($1::text[], $2::text[]) WITH ORDINALITY"
               "  AS u (principal, request_id, n)"
               " CROSS JOIN LATERAL (SELECT c.reply FROM command_replies c"
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
    ln_db_array_t principals, ids, replies;
    const char *values[4];
    int lengths[4], formats[4];
    char created[24];
} replies_t;

static void
s_replies_build (pending_t *const *list, size_t m, replies_t *r)
{
    memset (r, 0, sizeof *r);
    ln_db_array_init (&r->principals, LN_DB_OID_TEXT);
    ln_db_array_init (&r->ids, LN_DB_OID_TEXT);
    ln_db_array_init (&r->replies, LN_DB_OID_BYTEA);
    for (size_t i = 0; i < m; i++) {
        ln_db_array_add_text (&r->principals, list[i]->principal->name);
        ln_db_array_add_text (&r->ids, s_request_id (list[i]));
        ln_db_array_add (&r->replies, list[i]->reply, list[i]->reply_size);
    }
    snprintf (r->created, sizeof r->created, "%lld", (long long)ln_clock_wall_us ());
    r->values[0] = ln_db_array_data (&r->principals);
    r->values[1] = ln_db_array_data (&r->ids);
    r->values[2] = ln_db_array_data (&r->replies);
    r->values[3] = r->created;
    r->lengths[0] = ln_db_array_size (&r->principals);
    r->lengths[1] = ln_db_array_size (&r->ids);
    r->lengths[2] = ln_db_array_size (&r->replies);
    r->formats[0] = r->formats[1] = r->formats[2] = 1;
    r->stmt = (ln_db_stmt_t){
        .name = "ln_server_store_replies",
        .sql = "INSERT INTO command_replies (principal, request_id, reply, created_us)"
               " SELECT u.principal, u.request_id, u.reply, $4::bigint"
               " FROM unnest ($1::text[], $2::text[], $3::bytea[])"
               "  AS u (principal, request_id, reply)",
        .nparams = 4,
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
        s_log_failure (safe, "flush failed", "command=%s items=%zu code=%s error=%s", command->name,
                       total, err.code ? err.code : "-", err.message);
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

    Lantern__V1__Reply reply = LANTERN__V1__REPLY__INIT;
    reply.request_id = request->request_id;
    reply.status = LANTERN__V1__REPLY__STATUS__OK;
    int hrc = p->command->fn (self->arg, &call, request, &reply);
    if (hrc == 0) {
        Lantern__V1__ServerMessage msg = LANTERN__V1__SERVER_MESSAGE__INIT;
        msg.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_REPLY;
        msg.reply = &reply;
        p->reply = s_pack_server_message (&msg, &p->reply_size);
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
        ln_log_error ("command failed", "command=%s request_id=%s error=%s", p->command->name,
                      request->request_id, dberr.code ? dberr.message : "(none)");
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
    e->action = p->command     ? p->command->name
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

    /* 3: the audit rows, COMMIT */
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &self->pending[i];
        s_audit_entry (p->dup_of >= 0 ? &self->pending[p->dup_of] : p, &entries[i]);
        if (p->dup_of >= 0)
            entries[i].reason = "replayed stored reply";
    }
    if (ln_audit_encode (self->db, res[lock_at], entries, n, &au, &err) != 0) {
        ln_log_error ("audit append failed", "error=%s", err.message);
        goto out; /* no audit, no effect: the batch is not committed */
    }
    for (int i = 0; i < 3; i++) {
        PQclear (res[i]);
        res[i] = NULL;
    }
    ln_db_stmt_t rt3[2] = {au.stmt, {.sql = "COMMIT"}};
    if (ln_db_exec_all (self->db, rt3, 2, res, &err) != 0) {
        s_log_failure (safe, "audit and commit failed", "requests=%zu error=%s", n, err.message);
        goto failed;
    }
    if (ln_audit_encoded_check (&au, res[0], &err) != 0 ||
        strcmp (PQcmdStatus (res[1]), "COMMIT") != 0) {
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
                    s_send_error (self, p->routing_id, s_request_id (p), &p->precheck);
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
        s_send_error (self, p->routing_id, s_request_id (p),
                      p->precheck.code ? &p->precheck : &err);
        self->stats.requests++;
    }
    free (entries);
}

/* A request refused before its handler: logged, counted, audited. */
static void
s_refused (ln_server_t *self, pending_t *p)
{
    p->outcome = LN_AUDIT_REFUSED;
    snprintf (p->reason, sizeof p->reason, "%s%s%s", p->precheck.code,
              p->precheck.field[0] ? " " : "", p->precheck.field);
    ln_log_warn ("command refused", "principal=%s command=%s code=%s field=%s", p->principal->name,
                 p->command ? p->command->name : "-", p->precheck.code, p->precheck.field);
    self->stats.refused++;
}

/* Check a request before any handler sees it; fills p->precheck on refusal. */
static void
s_precheck (ln_server_t *self, pending_t *p)
{
    const Lantern__V1__Request *request = p->msg->request;
    p->dup_of = -1;
    if (!s_request_id_valid (request->request_id)) {
        ln_error_set (&p->precheck, "BAD_REQUEST_ID", "request.request_id",
                      "request_id must be 1..%d bytes of [A-Za-z0-9._:-]", REQUEST_ID_MAX);
        s_refused (self, p);
        return;
    }
    p->command = s_find_command (self, request->command_case);
    if (!p->command) {
        if (request->command_case)
            ln_error_set (&p->precheck, "UNKNOWN_COMMAND", "request.command",
                          "this node does not serve command %d", (int)request->command_case);
        else
            ln_error_set (&p->precheck, "UNKNOWN_COMMAND", "request.command", "no command given");
        s_refused (self, p);
        return;
    }
    if (!s_allowed (p->command, p->principal)) {
        ln_error_set (&p->precheck, "FORBIDDEN", NULL, "%s may not call %s", p->principal->name,
                      p->command->name);
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

/* Receive everything waiting on the ROUTER: streams now, requests batched. */
static void
s_drain (ln_server_t *self)
{
    size_t n = 0;
    /* The ROUTER's receive timeout is 0: zmsg_recv returns NULL when
       nothing is waiting.  (Asking ZMQ_EVENTS before each message would cost
       a poll and a getpid system call per message; a receive only looks at
       libzmq's command pipe when its queue is empty.) */
    while (n < self->batch_max) {
        zmsg_t *zmsg = zmsg_recv (self->router);
        if (!zmsg)
            break;
        zframe_t *routing_id = zmsg_pop (zmsg);
        /* The body frame carries the connection's metadata (the routing id
           frame is made by the ROUTER itself). */
        const ln_principal_t *principal =
            zmsg_first (zmsg) ? ln_auth_principal_of (self->auth, zmsg_first (zmsg)) : NULL;
        ln_error_t err;
        ln_error_clear (&err);
        if (!principal) {
            /* ZAP admitted it, so this cannot happen; refuse rather than guess */
            ln_log_error ("message without a principal", "");
            goto drop;
        }
        if (zmsg_size (zmsg) != 1) {
            ln_log_warn ("bad frame count", "principal=%s frames=%zu", principal->name,
                         zmsg_size (zmsg));
            ln_error_set (&err, "BAD_FRAME", NULL, "a message must have exactly one frame");
            s_send_error (self, routing_id, "", &err);
            self->stats.dropped_frames++;
            goto drop;
        }
        zframe_t *body = zmsg_first (zmsg);
        Lantern__V1__ClientMessage *msg = (Lantern__V1__ClientMessage *)ln_pbcheck_unpack (
            &lantern__v1__client_message__descriptor, zframe_data (body), zframe_size (body), NULL,
            NULL, &err);
        if (!msg || msg->kind_case == LANTERN__V1__CLIENT_MESSAGE__KIND__NOT_SET) {
            if (msg) {
                protobuf_c_message_free_unpacked (&msg->base, NULL);
                ln_error_set (&err, "BAD_FRAME", "kind", "empty ClientMessage");
            }
            ln_log_warn ("bad client message", "principal=%s code=%s field=%s", principal->name,
                         err.code, err.field);
            self->stats.dropped_frames++;
            /* A Request that fails the checks but names a well-formed
               request_id is answered under it (so that its client can tell
               its refusal from a lost reply) and audited as refused, like
               any refusal; anything else gets an error with no request_id. */
            static const uint32_t request_id_path[2] = {1, 1};
            char rid[REQUEST_ID_MAX + 1];
            if (!msg &&
                ln_pbcheck_find_id (zframe_data (body), zframe_size (body), request_id_path, 2, rid,
                                    sizeof rid) == 0 &&
                s_request_id_valid (rid)) {
                pending_t *p = &self->pending[n++];
                memset (p, 0, sizeof *p);
                p->routing_id = routing_id;
                routing_id = NULL;
                p->principal = principal;
                p->msg = s_malformed_message (rid);
                p->malformed = true;
                p->dup_of = -1;
                /* name the command it was meant to be, for the audit */
                for (size_t c = 0; c < self->command_count && !p->command; c++) {
                    const uint32_t command_path[2] = {1, (uint32_t)self->commands[c].command};
                    if (ln_pbcheck_find_field (zframe_data (body), zframe_size (body), command_path,
                                               2, NULL, NULL) == 0)
                        p->command = &self->commands[c];
                }
                p->precheck = err;
                s_refused (self, p);
                goto drop;
            }
            s_send_error (self, routing_id, "", &err);
            goto drop;
        }
        if (msg->kind_case == LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE) {
            if (!self->db_down || s_db_ready (self) == 0)
                s_on_subscribe (self, routing_id, principal, msg->subscribe);
            protobuf_c_message_free_unpacked (&msg->base, NULL);
            goto drop;
        }
        if (msg->kind_case == LANTERN__V1__CLIENT_MESSAGE__KIND_CREDIT) {
            s_on_credit (self, routing_id, msg->credit);
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
        /* the same request twice in one batch: the second gets the first's reply */
        if (!p->precheck.code && p->command->writes)
            for (size_t j = 0; j + 1 < n; j++) {
                pending_t *q = &self->pending[j];
                if (!q->precheck.code && q->dup_of < 0 && q->command->writes &&
                    q->principal == p->principal &&
                    strcmp (s_request_id (q), s_request_id (p)) == 0) {
                    p->dup_of = (int)j;
                    break;
                }
            }
    drop:
        zframe_destroy (&routing_id);
        zmsg_destroy (&zmsg);
    }
    if (n > 0)
        s_run_batch (self, n);
    for (size_t i = 0; i < n; i++)
        s_pending_clear (&self->pending[i]);
    if (zsock_events (self->router) & ZMQ_POLLIN)
        self->more_work = true;
}

/* --- housekeeping --------------------------------------------------------------------------- */

/* Purges are audited (DESIGN.md "Retention"), by the node itself. */
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

    size_t nnode = sizeof s_node_commands / sizeof s_node_commands[0];
    self->command_count = nnode + config->command_count;
    self->commands = calloc (self->command_count, sizeof (ln_command_t));
    memcpy (self->commands, s_node_commands, sizeof s_node_commands);
    for (size_t i = 0; i < config->command_count; i++) {
        if (s_find_command (self, config->commands[i].command) || !config->commands[i].fn) {
            ln_error_set (err, "SERVER_INVALID", "commands",
                          "command %d is served twice or has no handler",
                          (int)config->commands[i].command);
            goto fail;
        }
        if (config->commands[i].flush &&
            (!config->commands[i].writes || config->commands[i].own_transaction)) {
            ln_error_set (err, "SERVER_INVALID", "commands",
                          "command %d has a flush: it must write and not own its transaction",
                          (int)config->commands[i].command);
            goto fail;
        }
        self->commands[nnode + i] = config->commands[i];
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
    for (size_t i = 0; i < self->nsubs; i++) {
        zframe_destroy (&self->subs[i].routing_id);
        free (self->subs[i].sizes);
    }
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
    if (!consumer || self->nconsumers == MAX_CONSUMERS)
        return -1;
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

    zmq_pollitem_t items[2 + MAX_CONSUMERS];
    memset (items, 0, sizeof items);
    size_t nitems = 0;
    items[nitems].socket = zsock_resolve (self->router);
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
    if (zmq_poll (items, (int)nitems, timeout) < 0 && errno != EINTR)
        return -1;
    if (self->stopped)
        return -1;
    now = ln_clock_mono_ms ();

    /* a reconnect made elsewhere (a consumer's recovery) lost our LISTEN */
    if ((self->db_down && now >= self->db_retry_at) ||
        (!self->db_down && ln_db_generation (self->db) != self->listening_on))
        s_db_ready (self);
    if (pgfd >= 0 && (items[pg_item].revents & ZMQ_POLLIN))
        s_db_notifications (self);
    else
        s_db_notifications (self); /* notifications read during other queries */

    if (zsock_events (self->router) & ZMQ_POLLIN)
        s_drain (self);
    /* The bounds serve subscribers (and Ping, which reads them itself):
       with none, a busy node does not read them again after every batch
       (a round trip each; the events' NOTIFY marks them stale). */
    if (!self->db_down && self->bounds_stale && self->nsubs > 0 && s_refresh_bounds (self) == 0)
        self->bounds_stale = false;
    if (!self->db_down && self->nsubs > 0)
        s_serve (self);

    for (size_t i = 0; i < self->nconsumers; i++) {
        if (items[first_consumer + i].revents & ZMQ_POLLIN)
            ln_consumer_on_readable (self->consumers[i]);
        ln_consumer_on_tick (self->consumers[i], now);
    }
    if (!self->db_down)
        s_housekeeping (self, now);
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
