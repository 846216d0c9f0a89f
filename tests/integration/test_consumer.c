/*  Integration test of ln_consumer: real PostgreSQL (pg_fixture), real
    CURVE sockets on loopback, and a SCRIPTED producer in this process.

    The producer is a ROUTER made with ln_auth_server_socket, guarded by
    ln_auth with a registry that holds the consumer's public key.  It keeps
    a log of events (positions first..last, of which those <= limit are
    "committed" and may be sent), reads the consumer's Subscribe and Credit
    messages, and sends Deliver while credit lasts, or Reset, as
    docs/protocol.md section 5 says; faults are injected on request
    (duplicates, a gap, garbage frames, a poisoned event, a restart).

    Everything runs in one thread: s_run pumps both sockets (zmq_poll) and
    calls the consumer's on_readable / on_tick, until a condition holds.
    The apply callback inserts each event's position and id into table
    `applied` in the consumer's transaction; no unique constraint, so that
    an event applied twice would show as a second row.  An observer
    connection checks, whenever a Credit reaches the producer, that the
    rows it grants credit for are already committed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include "lantern.pb-c.h"
#include "ln_auth.h"
#include "ln_consumer.h"
#include "ln_db.h"
#include "ln_envelope.h"
#include "ln_keys.h"
#include "ln_log.h"
#include "pg_fixture.h"
#include "wire.pb-c.h"

#define SCHEMA   "cons"
#define UPSTREAM "upstream-a"
#define MAX_LOG  1000

/* --- group state -------------------------------------------------------------- */

static char s_root[64];
static char s_keys[96];
static char s_registry[96];
static char s_server_key[LN_KEYS_Z85_LEN + 1];
static ln_pgfix_t *s_fix;
static ln_auth_t *s_auth;

/* The test's own table, after the consumer's migration (version 3). */
static const ln_migration_t s_applied_migration = {
    4, "applied",
    "CREATE TABLE applied (position bigint NOT NULL, id text NOT NULL, "
    "applied_at timestamptz NOT NULL DEFAULT clock_timestamp ())"};

/* --- the scripted producer -------------------------------------------------------- */

typedef enum { POISON_NONE, POISON_GARBAGE, POISON_SEQUENCE, POISON_SOURCE } poison_t;

typedef struct {
    zsock_t *router;
    zcert_t *cert;
    char endpoint[128];
    uint8_t peer[256]; /* routing id of the consumer's connection */
    size_t peer_size;

    uint64_t first, last; /* the log holds first..last */
    uint64_t limit;       /* positions <= limit may be sent */

    bool subscribed;
    uint64_t sent;   /* last position sent on the subscription */
    uint64_t credit; /* Delivers the consumer still allows */

    int subscribes;
    uint64_t sub_after;
    uint32_t sub_credit;
    int64_t sub_at;
    int credits;
    uint64_t credit_total;
    int delivers;

    /* checks made when a Credit arrives */
    ln_db_t *observer;
    bool check_commit;
    int commit_checks;
    int commit_violations;

    /* faults */
    uint64_t dup_after;  /* after sending it, send the 3 before it again */
    uint64_t gap_at;     /* skip it once */
    uint64_t garbage_at; /* before sending it, send bad frames once */
    uint64_t poison_at;  /* this event's bytes are bad */
    poison_t poison;
    bool reset_mode; /* answer every Subscribe with Reset */

    /* The producer may run in its own thread (s_producer_actor), where a
       cmocka assertion cannot be used: its own checks count here instead. */
    int broken;
} producer_t;

#define PROD_CHECK(p, cond)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "producer check failed at line %d: %s\n", __LINE__, #cond);           \
            (p)->broken++;                                                                         \
        }                                                                                          \
    } while (0)

typedef struct {
    int calls;
    uint64_t fail_at;   /* fail a batch that holds this position ... */
    int fail_remaining; /* ... this many times */
    int failures;
    bool commit_inside; /* once: the callback COMMITs itself (a bug) */
    uint64_t refuse_at; /* refuse this event for what it is (LN_CONSUMER_REFUSE) */
    uint64_t kill_at;   /* terminate the consumer's backend in a batch holding it */
    int kill_remaining;
    ln_db_t *observer;
    char victim_pid[16];
    uint64_t last_position; /* positions must increase within and across commits */
    bool order_broken;
} apply_ctx_t;

typedef struct {
    producer_t prod;
    apply_ctx_t ctx;
    ln_db_t *db;       /* the consumer's */
    ln_db_t *observer; /* a second session, to look from outside */
    ln_consumer_t *consumer;
    zactor_t *prod_actor; /* when set, the producer runs in this thread */
    zcert_t *follower_cert;
    FILE *log;
} fixture_t;

static void
s_generate (const char *dir, const char *name, const char *roles, char *key_out)
{
    ln_principal_t p;
    ln_error_t err;
    if (ln_principal_init (&p, name, "Regio Noord-Limburg", roles, "vertrouwelijk", &err) != 0 ||
        ln_keys_generate (dir, name, &p, key_out, &err) != 0)
        fail_msg ("keygen %s: %s", name, err.message);
}

static zcert_t *
s_secret_cert (const char *name)
{
    char path[256];
    ln_error_t err;
    snprintf (path, sizeof path, "%s/%s.secret", s_keys, name);
    zcert_t *cert = ln_keys_load_secret (path, &err);
    if (!cert)
        fail_msg ("load %s: %s", name, err.message);
    return cert;
}

static void
s_remove_dir (const char *dir)
{
    DIR *d = opendir (dir);
    if (!d)
        return;
    struct dirent *de;
    char path[512];
    while ((de = readdir (d)) != NULL) {
        if (strcmp (de->d_name, ".") == 0 || strcmp (de->d_name, "..") == 0)
            continue;
        snprintf (path, sizeof path, "%s/%s", dir, de->d_name);
        unlink (path);
    }
    closedir (d);
    rmdir (dir);
}

/* The event at `position`, packed (caller frees), as the node would send it,
   or spoiled as the producer's poison setting says. */
static uint8_t *
s_event_bytes (const producer_t *p, uint64_t position, size_t *size)
{
    Lantern__V1__NodeStarted started = LANTERN__V1__NODE_STARTED__INIT;
    char id[32];
    ln_error_t err;
    bool poisoned = position == p->poison_at && p->poison != POISON_NONE;

    if (poisoned && p->poison == POISON_GARBAGE) {
        static const char garbage[] = "\x0a\xff\xff\xffnot a cloudevent";
        uint8_t *bytes = malloc (sizeof garbage);
        memcpy (bytes, garbage, sizeof garbage);
        *size = sizeof garbage;
        return bytes;
    }
    snprintf (id, sizeof id, "ev-%" PRIu64, position);
    started.node = UPSTREAM;
    started.version = "0.1.0";
    started.service = LANTERN__V1__SERVICE_KIND__SERVICE_KIND_INTAKE;
    ln_event_fields_t f = {
        .source = (poisoned && p->poison == POISON_SOURCE) ? "urn:lantern:node:someone-else"
                                                           : "urn:lantern:node:" UPSTREAM,
        .id = id,
        .type = "nl.lantern.node.started.v1",
        .time_ms = 1767225600000LL,
        .sequence = (poisoned && p->poison == POISON_SEQUENCE) ? position + 1 : position,
        .level = LN_LEVEL_INTERN,
        .payload = &started.base,
    };
    uint8_t *bytes = ln_envelope_build (&f, size, &err);
    if (!bytes)
        fprintf (stderr, "build event %" PRIu64 ": %s\n", position, err.message);
    return bytes;
}

static void
s_send_raw (producer_t *p, const void *data, size_t size, bool second_frame)
{
    void *h = zsock_resolve (p->router);
    PROD_CHECK (p, p->peer_size > 0);
    PROD_CHECK (p, zmq_send (h, p->peer, p->peer_size, ZMQ_SNDMORE) >= 0);
    if (second_frame) {
        PROD_CHECK (p, zmq_send (h, data, size, ZMQ_SNDMORE) >= 0);
        PROD_CHECK (p, zmq_send (h, "x", 1, 0) >= 0);
    }
    else
        PROD_CHECK (p, zmq_send (h, data, size, 0) >= 0);
}

static void
s_send_server (producer_t *p, const Lantern__V1__ServerMessage *msg)
{
    size_t size = lantern__v1__server_message__get_packed_size (msg);
    uint8_t *buf = malloc (size ? size : 1);
    lantern__v1__server_message__pack (msg, buf);
    s_send_raw (p, buf, size, false);
    free (buf);
}

static void
s_deliver (producer_t *p, uint64_t position, uint64_t previous)
{
    Lantern__V1__Deliver d = LANTERN__V1__DELIVER__INIT;
    Lantern__V1__ServerMessage msg = LANTERN__V1__SERVER_MESSAGE__INIT;
    size_t size = 0;
    uint8_t *bytes = s_event_bytes (p, position, &size);
    PROD_CHECK (p, bytes != NULL);
    if (!bytes)
        return;
    d.position = position;
    d.previous_position = previous;
    d.event.data = bytes;
    d.event.len = size;
    msg.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER;
    msg.deliver = &d;
    s_send_server (p, &msg);
    free (bytes);
    p->delivers++;
    if (p->credit)
        p->credit--;
}

static void
s_send_garbage (producer_t *p)
{
    static const uint8_t junk[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x01};
    Lantern__V1__Reply reply = LANTERN__V1__REPLY__INIT;
    Lantern__V1__ServerMessage msg = LANTERN__V1__SERVER_MESSAGE__INIT;
    s_send_raw (p, junk, sizeof junk, false); /* not protobuf */
    s_send_raw (p, "\x10\x01", 2, true);      /* two frames */
    reply.request_id = "r-1";
    reply.status = LANTERN__V1__REPLY__STATUS__OK;
    msg.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_REPLY;
    msg.reply = &reply;
    s_send_server (p, &msg); /* valid, but no stream message */
}

static void
s_send_reset (producer_t *p, const char *reason)
{
    Lantern__V1__Reset r = LANTERN__V1__RESET__INIT;
    Lantern__V1__ServerMessage msg = LANTERN__V1__SERVER_MESSAGE__INIT;
    r.first_position = p->first;
    r.last_position = p->last;
    r.reason = (char *)reason;
    msg.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_RESET;
    msg.reset = &r;
    s_send_server (p, &msg);
}

/* First value of a query as a number; -1 on error or no value. */
static long long
s_query_number (ln_db_t *db, const char *sql)
{
    ln_error_t err;
    PGresult *res = ln_db_exec (db, sql, 0, NULL, &err);
    if (!res) {
        fprintf (stderr, "observer: %s\n", err.message);
        return -1;
    }
    long long v = PQntuples (res) > 0 && !PQgetisnull (res, 0, 0)
                      ? strtoll (PQgetvalue (res, 0, 0), NULL, 10)
                      : -1;
    PQclear (res);
    return v;
}

static long long
s_observe_count (ln_db_t *db, const char *sql)
{
    long long v = s_query_number (db, sql);
    if (v < 0)
        fail_msg ("observer query failed or gave nothing: %s", sql);
    return v;
}

/* Read one ClientMessage from the router and act on it as a node would. */
static void
s_producer_on_message (producer_t *p)
{
    zmsg_t *msg = zmsg_recv (p->router);
    if (!msg)
        return;
    zframe_t *id = zmsg_pop (msg);
    zframe_t *body = zmsg_pop (msg);
    Lantern__V1__ClientMessage *cm = NULL;
    PROD_CHECK (p, id && body && zmsg_size (msg) == 0);
    if (!id || !body || zframe_size (id) > sizeof p->peer)
        goto out;
    memcpy (p->peer, zframe_data (id), zframe_size (id));
    p->peer_size = zframe_size (id);

    cm = lantern__v1__client_message__unpack (NULL, zframe_size (body), zframe_data (body));
    PROD_CHECK (p, cm != NULL);
    if (!cm)
        goto out;
    if (cm->kind_case == LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE) {
        p->subscribes++;
        p->sub_after = cm->subscribe->after_position;
        p->sub_credit = cm->subscribe->credit;
        p->sub_at = zclock_mono ();
        uint64_t after = cm->subscribe->after_position;
        if (p->reset_mode || (p->first > 1 && after < p->first - 1) || after > p->last) {
            s_send_reset (p, after > p->last ? "AHEAD" : "PRUNED");
            p->subscribed = false;
        }
        else {
            p->subscribed = true;
            p->sent = after;
            p->credit = cm->subscribe->credit;
        }
    }
    else if (cm->kind_case == LANTERN__V1__CLIENT_MESSAGE__KIND_CREDIT) {
        p->credits++;
        p->credit_total += cm->credit->credit;
        if (p->subscribed)
            p->credit += cm->credit->credit;
        if (p->check_commit) {
            /* Credit means "committed": every row it pays for is visible
               from another session already. */
            long long rows = s_query_number (p->observer, "SELECT count(*) FROM applied");
            p->commit_checks++;
            if (rows < (long long)p->credit_total)
                p->commit_violations++;
        }
    }
    else
        PROD_CHECK (p, !"a client message other than Subscribe or Credit");
out:
    if (cm)
        lantern__v1__client_message__free_unpacked (cm, NULL);
    zframe_destroy (&id);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
}

/* Send what the subscription and credit allow. */
static void
s_producer_serve (producer_t *p)
{
    while (p->subscribed && p->credit > 0 && p->sent < p->limit && p->sent < p->last) {
        uint64_t next = p->sent + 1;
        if (next == p->garbage_at) {
            p->garbage_at = 0;
            s_send_garbage (p);
        }
        if (next == p->gap_at) {
            p->gap_at = 0;
            /* The node "loses" `next`: the one after it claims to follow it. */
            if (next + 1 > p->last)
                break;
            s_deliver (p, next + 1, next);
            p->sent = next + 1;
            continue;
        }
        s_deliver (p, next, p->sent);
        p->sent = next;
        if (next == p->dup_after) {
            p->dup_after = 0;
            for (uint64_t q = next - 2; q <= next; q++)
                s_deliver (p, q, q - 1);
        }
    }
}

static void
s_producer_open (producer_t *p, const char *endpoint)
{
    ln_error_t err;
    /* Closing a socket is asynchronous in libzmq: the port of the previous
       router may stay bound for a moment. */
    for (int tries = 0; tries < 100; tries++) {
        p->router = ln_auth_server_socket (s_auth, ZMQ_ROUTER, endpoint, p->cert, &err);
        if (p->router)
            break;
        zclock_sleep (20);
    }
    if (!p->router)
        fail_msg ("router: %s", err.message);
    snprintf (p->endpoint, sizeof p->endpoint, "%s", zsock_endpoint (p->router));
}

/* The node goes down: its connections and subscriptions are gone.
   s_producer_open (p, p->endpoint) brings it back on the same port. */
static void
s_producer_stop (producer_t *p)
{
    zsock_destroy (&p->router);
    p->subscribed = false;
    p->credit = 0;
    p->peer_size = 0;
}

/* --- the apply callback ------------------------------------------------------------ */

static int
s_apply (void *arg, ln_db_t *db, const char *upstream, ln_event_t *const *events,
         const uint64_t *positions, size_t count, ln_error_t *err)
{
    apply_ctx_t *ctx = arg;
    bool fail = false, kill = false;
    ctx->calls++;
    assert_string_equal (upstream, UPSTREAM);
    for (size_t i = 0; i < count; i++) {
        char pos[24];
        snprintf (pos, sizeof pos, "%" PRIu64, positions[i]);
        const char *params[2] = {pos, ln_event_id (events[i])};
        if (ln_event_sequence (events[i]) != positions[i] || positions[i] <= ctx->last_position)
            ctx->order_broken = true;
        ctx->last_position = positions[i];
        if (ln_db_run (db, "INSERT INTO applied (position, id) VALUES ($1, $2)", 2, params, err) !=
            0)
            return -1;
        if (positions[i] == ctx->fail_at && ctx->fail_remaining > 0)
            fail = true;
        if (positions[i] == ctx->refuse_at) {
            /* after this batch's rows were written: they go with it */
            ctx->last_position = positions[0] - 1;
            ln_error_set (err, "TEST_REFUSED", "data", "event %" PRIu64 " is wrong in itself",
                          positions[i]);
            return LN_CONSUMER_REFUSE;
        }
        if (positions[i] == ctx->kill_at && ctx->kill_remaining > 0)
            kill = true;
    }
    if (fail) {
        /* After the rows were written: the rollback must take them away. */
        ctx->fail_remaining--;
        ctx->failures++;
        ctx->last_position = positions[0] - 1;
        ln_error_set (err, "TEST_APPLY_FAILED", NULL, "apply refused the batch on purpose");
        return -1;
    }
    if (ctx->commit_inside) {
        ctx->commit_inside = false;
        ctx->last_position = positions[0] - 1;
        if (ln_db_run (db, "COMMIT", 0, NULL, err) != 0)
            return -1;
    }
    if (kill) {
        ctx->kill_remaining--;
        ctx->last_position = positions[0] - 1;
        const char *params[1] = {ctx->victim_pid};
        if (ln_db_run (ctx->observer, "SELECT pg_terminate_backend ($1::int)", 1, params, NULL) !=
            0)
            fail_msg ("could not terminate the consumer's backend");
    }
    return 0;
}

/* --- pumping ---------------------------------------------------------------------- */

typedef bool (*cond_fn) (fixture_t *fx);

/* Pump both sides until cond holds (returns true) or timeout_ms passes. */
static bool
s_run (fixture_t *fx, cond_fn cond, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        if (cond && cond (fx))
            return true;
        int64_t now = zclock_mono ();
        if (now >= deadline)
            return false;
        /* items[0]: the consumer; items[1]: the producer, unless its
           own thread serves it. */
        bool local = fx->prod_actor == NULL && fx->prod.router != NULL;
        zmq_pollitem_t items[2] = {
            {fx->consumer ? zsock_resolve (ln_consumer_socket (fx->consumer)) : NULL, 0,
             fx->consumer ? ZMQ_POLLIN : 0, 0},
            {local ? zsock_resolve (fx->prod.router) : NULL, 0, local ? ZMQ_POLLIN : 0, 0},
        };
        long wait = 5;
        if (fx->consumer) {
            int t = ln_consumer_next_timeout_ms (fx->consumer, now);
            if (t >= 0 && t < wait)
                wait = t;
        }
        zmq_poll (items, local ? 2 : 1, wait);
        if (fx->consumer && (items[0].revents & ZMQ_POLLIN))
            ln_consumer_on_readable (fx->consumer);
        if (local && (items[1].revents & ZMQ_POLLIN))
            s_producer_on_message (&fx->prod);
        if (fx->consumer)
            ln_consumer_on_tick (fx->consumer, zclock_mono ());
        if (local) {
            s_producer_serve (&fx->prod);
            if (fx->prod.broken)
                fail_msg ("the producer saw something wrong (see stderr)");
        }
    }
}

/* The producer in a thread of its own, so that it sees the consumer's
   messages while the consumer is busy (between its commit and its Credit,
   say).  It owns p (and p->router, p->observer) until the actor ends. */
static void
s_producer_actor (zsock_t *pipe, void *arg)
{
    producer_t *p = arg;
    bool done = false;
    zsock_signal (pipe, 0);
    while (!done) {
        zmq_pollitem_t items[2] = {
            {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
            {zsock_resolve (p->router), 0, ZMQ_POLLIN, 0},
        };
        zmq_poll (items, 2, 5);
        if (items[0].revents & ZMQ_POLLIN) {
            char *command = zstr_recv (pipe);
            done = !command || streq (command, "$TERM");
            zstr_free (&command);
        }
        if (!done && (items[1].revents & ZMQ_POLLIN))
            s_producer_on_message (p);
        if (!done)
            s_producer_serve (p);
    }
}

static uint64_t s_target;

static bool
s_reached_target (fixture_t *fx)
{
    return ln_consumer_position (fx->consumer) >= s_target;
}

static bool
s_reached_target_and_credit (fixture_t *fx)
{
    return ln_consumer_position (fx->consumer) >= s_target && fx->prod.credit_total >= s_target;
}

/* Credit for the 3 duplicates comes back as well. */
static bool
s_reached_target_and_dup_credit (fixture_t *fx)
{
    return ln_consumer_position (fx->consumer) >= s_target && fx->prod.credit_total >= s_target + 3;
}

static bool
s_not_following (fixture_t *fx)
{
    return ln_consumer_state (fx->consumer) != LN_CONSUMER_FOLLOWING;
}

static int s_subscribes_target;

static bool
s_subscribed_n (fixture_t *fx)
{
    return fx->prod.subscribes >= s_subscribes_target;
}

/* --- fixture ---------------------------------------------------------------------- */

static char *
s_log_text (fixture_t *fx)
{
    fflush (fx->log);
    long size = ftell (fx->log);
    char *text = calloc (1, (size_t)size + 1);
    rewind (fx->log);
    size_t got = fread (text, 1, (size_t)size, fx->log);
    text[got] = '\0';
    fseek (fx->log, 0, SEEK_END);
    return text;
}

static void
s_assert_log_has (fixture_t *fx, const char *needle)
{
    char *text = s_log_text (fx);
    if (!strstr (text, needle)) {
        fprintf (stderr, "log:\n%s\n", text);
        free (text);
        fail_msg ("the log does not contain: %s", needle);
    }
    free (text);
}

static ln_db_t *
s_connect (const char *schema)
{
    ln_error_t err;
    ln_db_retry_t retry = {50, 500, 10000};
    ln_db_t *db = ln_db_connect (ln_pgfix_conninfo (s_fix), schema, &retry, &err);
    if (!db)
        fail_msg ("connect: %s", err.message);
    return db;
}

static int
s_group_setup (void **state)
{
    (void)state;
    ln_error_t err;
    char unused[LN_KEYS_Z85_LEN + 1];
    snprintf (s_root, sizeof s_root, "/tmp/lantern-test-consumer-XXXXXX");
    if (!mkdtemp (s_root))
        return -1;
    snprintf (s_keys, sizeof s_keys, "%s/keys", s_root);
    snprintf (s_registry, sizeof s_registry, "%s/registry", s_root);
    if (mkdir (s_keys, 0700) != 0 || mkdir (s_registry, 0700) != 0)
        return -1;
    s_generate (s_keys, UPSTREAM, "node,intake", s_server_key);
    s_generate (s_keys, "follower", "node,triage", unused);
    char from[256], to[256];
    snprintf (from, sizeof from, "%s/follower.pub", s_keys);
    snprintf (to, sizeof to, "%s/follower.pub", s_registry);
    if (link (from, to) != 0)
        return -1;

    ln_registry_t *registry = ln_registry_load (s_registry, &err);
    if (!registry)
        return -1;
    s_auth = ln_auth_new (&registry, &err);
    if (!s_auth) {
        ln_registry_destroy (&registry);
        return -1;
    }
    s_fix = ln_pgfix_new ("consumer");
    if (!s_fix)
        return -1;
    ln_migration_t list[2] = {ln_consumer_migration, s_applied_migration};
    ln_db_t *db = s_connect (SCHEMA);
    int rc = ln_db_migrate (db, list, 2, &err);
    if (rc != 0)
        fprintf (stderr, "migrate: %s: %s\n", err.code, err.message);
    ln_db_destroy (&db);
    return rc;
}

static int
s_group_teardown (void **state)
{
    (void)state;
    ln_pgfix_destroy (&s_fix);
    ln_auth_destroy (&s_auth);
    s_remove_dir (s_keys);
    s_remove_dir (s_registry);
    rmdir (s_root);
    ln_log_forget_all ();
    return 0;
}

static int
s_setup (void **state)
{
    fixture_t *fx = calloc (1, sizeof *fx);
    fx->log = tmpfile ();
    ln_log_init ("test-consumer", LN_LOG_DEBUG);
    ln_log_set_output (fx->log);
    if (ln_pgfix_exec (s_fix, "TRUNCATE " SCHEMA ".applied, " SCHEMA ".stream_cursors") != 0)
        return -1;
    fx->db = s_connect (SCHEMA);
    fx->observer = s_connect (SCHEMA);
    fx->follower_cert = s_secret_cert ("follower");
    fx->prod.cert = s_secret_cert (UPSTREAM);
    fx->prod.observer = fx->observer;
    fx->prod.first = 1;
    s_producer_open (&fx->prod, "tcp://127.0.0.1:*");
    fx->ctx.observer = fx->observer;
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = *state;
    if (getenv ("TEST_CONSUMER_LOG")) { /* to read what the consumer logged */
        char *text = s_log_text (fx);
        fprintf (stderr, "%s", text);
        free (text);
    }
    zactor_destroy (&fx->prod_actor);
    ln_consumer_destroy (&fx->consumer);
    zsock_destroy (&fx->prod.router);
    zcert_destroy (&fx->prod.cert);
    zcert_destroy (&fx->follower_cert);
    ln_db_destroy (&fx->db);
    ln_db_destroy (&fx->observer);
    ln_log_set_output (NULL);
    fclose (fx->log);
    free (fx);
    return 0;
}

static void
s_start_consumer (fixture_t *fx, uint32_t credit, int idle_ms)
{
    ln_error_t err;
    ln_consumer_config_t cfg = {
        .upstream = UPSTREAM,
        .endpoint = fx->prod.endpoint,
        .server_public_key = s_server_key,
        .cert = fx->follower_cert,
        .credit = credit,
        .idle_ms = idle_ms,
    };
    fx->consumer = ln_consumer_new (&cfg, fx->db, s_apply, &fx->ctx, &err);
    if (!fx->consumer)
        fail_msg ("consumer: %s: %s", err.code, err.message);
}

/* The outcome every stream must have: positions `want` applied once each. */
static void
s_assert_applied (fixture_t *fx, long long want_rows, long long max_position)
{
    assert_int_equal (s_observe_count (fx->observer, "SELECT count(*) FROM applied"), want_rows);
    assert_int_equal (
        s_observe_count (fx->observer, "SELECT count(DISTINCT position) FROM applied"), want_rows);
    assert_int_equal (s_observe_count (fx->observer, "SELECT count(DISTINCT id) FROM applied"),
                      want_rows);
    assert_int_equal (s_observe_count (fx->observer, "SELECT max(position) FROM applied"),
                      max_position);
    assert_int_equal (s_observe_count (fx->observer, "SELECT count(*) FROM applied WHERE "
                                                     "id <> 'ev-' || position::text"),
                      0);
    assert_int_equal (
        s_observe_count (fx->observer,
                         "SELECT position FROM stream_cursors WHERE upstream = '" UPSTREAM "'"),
        max_position);
    assert_false (fx->ctx.order_broken);
}

/* --- tests ------------------------------------------------------------------------- */

/* N events over several credit windows: each applied once, cursor = N,
   and every Credit arrives only when what it pays for is committed. */
static void
test_stream_in_credit_windows (void **state)
{
    fixture_t *fx = *state;
    const uint64_t n = 250;
    fx->prod.last = fx->prod.limit = n;
    fx->prod.check_commit = true;
    /* The producer runs in its own thread here: when a Credit reaches it,
       it looks at the table through its own session at once, while the
       consumer's thread goes on. */
    fx->prod_actor = zactor_new (s_producer_actor, &fx->prod);
    assert_non_null (fx->prod_actor);
    s_start_consumer (fx, 40, 3000);

    s_target = n;
    assert_true (s_run (fx, s_reached_target, 15000));
    s_run (fx, NULL, 300); /* the last Credit on its way */
    zactor_destroy (&fx->prod_actor);
    assert_int_equal (fx->prod.broken, 0);
    s_assert_applied (fx, (long long)n, (long long)n);
    assert_int_equal (ln_consumer_position (fx->consumer), n);
    assert_int_equal (ln_consumer_state (fx->consumer), LN_CONSUMER_FOLLOWING);
    assert_int_equal (fx->prod.subscribes, 1);
    assert_int_equal (fx->prod.sub_after, 0);
    assert_int_equal (fx->prod.sub_credit, 40);
    assert_int_equal (fx->prod.credit_total, n); /* one credit per applied event */
    assert_true (fx->prod.credits >= (int)(n / 40));
    assert_true (fx->ctx.calls >= (int)(n / 40));
    assert_true (fx->prod.commit_checks == fx->prod.credits);
    assert_int_equal (fx->prod.commit_violations, 0);
    /* Nothing was sent twice: no resubscription was needed. */
    assert_int_equal (fx->prod.delivers, n);
}

/* Delivers at or below the cursor are ignored, their credit given back,
   and they cause no resubscription. */
static void
test_duplicates_ignored (void **state)
{
    fixture_t *fx = *state;
    const uint64_t n = 60;
    fx->prod.last = fx->prod.limit = n;
    fx->prod.dup_after = 10;
    s_start_consumer (fx, 20, 3000);

    s_target = n;
    assert_true (s_run (fx, s_reached_target_and_dup_credit, 10000));
    s_assert_applied (fx, (long long)n, (long long)n);
    assert_int_equal (fx->prod.delivers, n + 3);
    assert_int_equal (fx->prod.subscribes, 1);
    assert_int_equal (fx->prod.credit_total, n + 3);
}

/* A Deliver whose previous_position is not our cursor: what we hold is
   committed, then Subscribe from the cursor; the stale rest is dropped
   without a storm of Subscribes. */
static void
test_gap_resubscribes_from_cursor (void **state)
{
    fixture_t *fx = *state;
    const uint64_t n = 60;
    fx->prod.last = fx->prod.limit = n;
    fx->prod.gap_at = 15;
    s_start_consumer (fx, 20, 2000);

    s_target = n;
    assert_true (s_run (fx, s_reached_target, 10000));
    s_assert_applied (fx, (long long)n, (long long)n);
    assert_int_equal (fx->prod.subscribes, 2);
    assert_int_equal (fx->prod.sub_after, 14); /* 1..14 committed before resubscribing */
    s_assert_log_has (fx, "code=CONSUMER_GAP");
    s_assert_log_has (fx, "have=14 previous=15 position=16");
}

/* Frames that are not stream messages: logged, dropped, resubscribe. */
static void
test_garbage_frames_dropped (void **state)
{
    fixture_t *fx = *state;
    const uint64_t n = 60;
    fx->prod.last = fx->prod.limit = n;
    fx->prod.garbage_at = 20;
    s_start_consumer (fx, 20, 2000);

    s_target = n;
    assert_true (s_run (fx, s_reached_target, 10000));
    s_assert_applied (fx, (long long)n, (long long)n);
    assert_int_equal (ln_consumer_state (fx->consumer), LN_CONSUMER_FOLLOWING);
    assert_int_equal (fx->prod.subscribes, 2);
    assert_int_equal (fx->prod.sub_after, 19);
    s_assert_log_has (fx, "msg=\"stream suspect, resubscribing\"");
    s_assert_log_has (fx, "code=CONSUMER_BAD_MESSAGE");
    s_assert_log_has (fx, "more than one frame");
    s_assert_log_has (fx, "neither Deliver nor Reset");
}

/* An event that fails ln_envelope_parse (or contradicts its Deliver) is
   neither applied nor skipped: the consumer commits what came before and
   stops, naming the position; a new consumer stops at the same place; an
   operator's deliberate skip (UPDATE stream_cursors) lets it go on. */
static void
test_poisoned_event_stops (void **state)
{
    fixture_t *fx = *state;
    const uint64_t n = 30;
    fx->prod.last = fx->prod.limit = n;
    fx->prod.poison_at = 7;
    fx->prod.poison = POISON_GARBAGE;
    s_start_consumer (fx, 10, 200);

    assert_true (s_run (fx, s_not_following, 5000));
    assert_int_equal (ln_consumer_state (fx->consumer), LN_CONSUMER_POISONED);
    assert_string_equal (ln_consumer_state_name (LN_CONSUMER_POISONED), "POISONED");
    assert_int_equal (ln_consumer_position (fx->consumer), 6);
    s_assert_applied (fx, 6, 6);
    s_assert_log_has (fx, "msg=\"stream stopped: event refused, an operator must look\"");
    s_assert_log_has (fx, "position=7 cursor=6 code=EVENT_DECODE");
    assert_int_equal (ln_consumer_next_timeout_ms (fx->consumer, zclock_mono ()), -1);

    /* Stopped for good: no Subscribe (idle is 200 ms), and no Credit but
       the one for 1..6 (sent with their commit, possibly still on its way). */
    int subscribes = fx->prod.subscribes;
    assert_false (s_run (fx, NULL, 800));
    assert_int_equal (fx->prod.subscribes, subscribes);
    assert_int_equal (fx->prod.credit_total, 6);
    s_assert_applied (fx, 6, 6);

    /* A restarted consumer meets the event again; this time its sequence
       contradicts the position. */
    ln_consumer_destroy (&fx->consumer);
    fx->prod.poison = POISON_SEQUENCE;
    s_start_consumer (fx, 10, 200);
    assert_true (s_run (fx, s_not_following, 5000));
    assert_int_equal (ln_consumer_state (fx->consumer), LN_CONSUMER_POISONED);
    assert_int_equal (fx->prod.sub_after, 6);
    s_assert_log_has (fx, "position=7 cursor=6 code=CONSUMER_SEQUENCE");

    /* And from another node. */
    ln_consumer_destroy (&fx->consumer);
    fx->prod.poison = POISON_SOURCE;
    s_start_consumer (fx, 10, 200);
    assert_true (s_run (fx, s_not_following, 5000));
    s_assert_log_has (fx, "position=7 cursor=6 code=CONSUMER_SOURCE");
    s_assert_applied (fx, 6, 6);

    /* The operator decides to skip 7. */
    ln_consumer_destroy (&fx->consumer);
    assert_int_equal (ln_pgfix_exec (s_fix, "UPDATE " SCHEMA ".stream_cursors SET position = 7"),
                      0);
    fx->ctx.last_position = 7;
    s_start_consumer (fx, 10, 200);
    s_target = n;
    assert_true (s_run (fx, s_reached_target, 5000));
    assert_int_equal (s_observe_count (fx->observer, "SELECT count(*) FROM applied"), n - 1);
    assert_int_equal (
        s_observe_count (fx->observer, "SELECT count(*) FROM applied WHERE position = 7"), 0);
}

/* apply refuses an event for what it is (LN_CONSUMER_REFUSE), in a batch
   of several: the events before it are committed, not one doubled, the
   consumer stops POISONED at it with the callback's reason (no retry for
   ever), and an operator's skip (ln_consumer_resync past it, what
   `lanternctl upstream skip` calls) lets it go on after it. */
static void
test_apply_refusal_poisons_at_the_event (void **state)
{
    fixture_t *fx = *state;
    const uint64_t n = 40;
    fx->prod.last = fx->prod.limit = n;
    fx->ctx.refuse_at = 17;
    s_start_consumer (fx, 10, 200);

    assert_true (s_run (fx, s_not_following, 5000));
    assert_int_equal (ln_consumer_state (fx->consumer), LN_CONSUMER_POISONED);
    assert_int_equal (ln_consumer_position (fx->consumer), 16);
    s_assert_applied (fx, 16, 16);
    assert_false (fx->ctx.order_broken);
    s_assert_log_has (fx, "position=17 cursor=16 code=TEST_REFUSED field=data");
    ln_consumer_status_t st;
    ln_consumer_status (fx->consumer, &st);
    assert_int_equal (st.stopped_at, 17);
    assert_non_null (strstr (st.problem, "TEST_REFUSED"));
    /* stopped: no retries, no Subscribe */
    int calls = fx->ctx.calls, subscribes = fx->prod.subscribes;
    assert_false (s_run (fx, NULL, 800));
    assert_int_equal (fx->ctx.calls, calls);
    assert_int_equal (fx->prod.subscribes, subscribes);
    s_assert_applied (fx, 16, 16);

    /* the operator skips 17 */
    ln_error_t err;
    assert_int_equal (ln_consumer_resync (fx->consumer, 17, &err), 0);
    fx->ctx.last_position = 17;
    s_target = n;
    assert_true (s_run (fx, s_reached_target, 5000));
    assert_int_equal (ln_consumer_state (fx->consumer), LN_CONSUMER_FOLLOWING);
    assert_int_equal (s_observe_count (fx->observer, "SELECT count(*) FROM applied"), n - 1);
    assert_int_equal (
        s_observe_count (fx->observer, "SELECT count(*) FROM applied WHERE position = 17"), 0);
    assert_int_equal (s_observe_count (fx->observer,
                                       "SELECT count(*) FROM (SELECT position FROM applied"
                                       " GROUP BY position HAVING count(*) > 1) d"),
                      0);
    assert_false (fx->ctx.order_broken);
}

/* apply returns -1 (after writing rows): rolled back, retried after a
   backoff from the stored cursor, nothing doubled. */
static void
test_apply_failure_rolled_back_and_retried (void **state)
{
    fixture_t *fx = *state;
    const uint64_t n = 60;
    fx->prod.last = fx->prod.limit = n;
    fx->ctx.fail_at = 25;
    fx->ctx.fail_remaining = 2;
    s_start_consumer (fx, 20, 3000);

    s_target = n;
    assert_true (s_run (fx, s_reached_target, 10000));
    s_assert_applied (fx, (long long)n, (long long)n);
    assert_int_equal (fx->ctx.failures, 2);
    assert_int_equal (ln_consumer_state (fx->consumer), LN_CONSUMER_FOLLOWING);
    assert_int_equal (fx->prod.subscribes, 3); /* start, and one per recovery */
    s_assert_log_has (fx, "what=apply code=TEST_APPLY_FAILED");
}

/* A callback that ends the transaction itself breaks exactly-once: the
   consumer refuses to go on from such a batch (and retries it). */
static void
test_apply_ending_transaction_refused (void **state)
{
    fixture_t *fx = *state;
    const uint64_t n = 20;
    fx->prod.last = fx->prod.limit = n;
    fx->ctx.commit_inside = true;
    s_start_consumer (fx, 20, 3000);
    assert_true (s_run (fx, s_not_following, 5000));
    assert_int_equal (ln_consumer_state (fx->consumer), LN_CONSUMER_BACKOFF);
    assert_int_equal (ln_consumer_position (fx->consumer), 0);
    s_assert_log_has (fx, "what=apply code=CONSUMER_APPLY_INVALID");
    assert_true (ln_consumer_next_timeout_ms (fx->consumer, zclock_mono ()) >= 0);
    s_target = n;
    assert_true (s_run (fx, s_reached_target, 5000));
    assert_int_equal (ln_consumer_state (fx->consumer), LN_CONSUMER_FOLLOWING);
}

/* The database session dies inside a batch: rolled back, reconnected,
   cursor read back, resumed; nothing doubled. */
static void
test_db_connection_lost (void **state)
{
    fixture_t *fx = *state;
    const uint64_t n = 60;
    ln_error_t err;
    fx->prod.last = fx->prod.limit = n;
    PGresult *res = ln_db_exec (fx->db, "SELECT pg_backend_pid ()", 0, NULL, &err);
    assert_non_null (res);
    snprintf (fx->ctx.victim_pid, sizeof fx->ctx.victim_pid, "%s", PQgetvalue (res, 0, 0));
    PQclear (res);
    fx->ctx.kill_at = 30;
    fx->ctx.kill_remaining = 1;
    s_start_consumer (fx, 20, 3000);

    s_target = n;
    assert_true (s_run (fx, s_reached_target, 15000));
    s_assert_applied (fx, (long long)n, (long long)n);
    assert_int_equal (fx->ctx.kill_remaining, 0);
    s_assert_log_has (fx, "db_lost=yes");
    assert_int_equal (ln_consumer_state (fx->consumer), LN_CONSUMER_FOLLOWING);
}

/* Someone moved the stored cursor behind the consumer's back (a second
   process, or a COMMIT of unknown outcome): the conditional update refuses
   the batch, the cursor is read back, and the consumer resumes from it. */
static void
test_cursor_moved_is_read_back (void **state)
{
    fixture_t *fx = *state;
    const uint64_t n = 40;
    fx->prod.last = n;
    fx->prod.limit = 10;
    s_start_consumer (fx, 20, 3000);
    s_target = 10;
    assert_true (s_run (fx, s_reached_target, 5000));

    assert_int_equal (ln_pgfix_exec (s_fix, "UPDATE " SCHEMA ".stream_cursors SET position = 15"),
                      0);
    fx->ctx.last_position = 0; /* positions 11.. are tried once, then from 16 */
    fx->prod.limit = n;
    s_target = n;
    assert_true (s_run (fx, s_reached_target, 10000));
    s_assert_log_has (fx, "code=CONSUMER_CURSOR_MOVED");
    s_assert_log_has (fx, "ours=10 stored=15");
    /* 1..10 and 16..40; 11..15 were rolled back with the refused batch. */
    assert_int_equal (s_observe_count (fx->observer, "SELECT count(*) FROM applied"), 35);
    assert_int_equal (
        s_observe_count (fx->observer, "SELECT count(DISTINCT position) FROM applied"), 35);
    assert_int_equal (s_observe_count (fx->observer, "SELECT count(*) FROM applied "
                                                     "WHERE position BETWEEN 11 AND 15"),
                      0);
}

/* The producer restarts (forgets the subscription, goes quiet): after
   idle_ms the consumer resubscribes from its committed cursor. */
static void
test_idle_resubscribe_after_producer_restart (void **state)
{
    fixture_t *fx = *state;
    const uint64_t n = 60;
    fx->prod.last = n;
    fx->prod.limit = 25;
    s_start_consumer (fx, 20, 200);
    s_target = 25;
    assert_true (s_run (fx, s_reached_target_and_credit, 5000));

    /* Down for 1 s (5 idle intervals), then back, knowing nothing of us. */
    char endpoint[128];
    snprintf (endpoint, sizeof endpoint, "%s", fx->prod.endpoint);
    s_producer_stop (&fx->prod);
    assert_false (s_run (fx, NULL, 1000));
    s_producer_open (&fx->prod, endpoint);
    int64_t restarted = zclock_mono ();
    fx->prod.subscribes = 0;
    fx->prod.limit = n;
    s_subscribes_target = 1;
    assert_true (s_run (fx, s_subscribed_n, 5000));
    assert_int_equal (fx->prod.sub_after, 25);
    assert_true (fx->prod.sub_at - restarted < 3000);
    /* The Subscribes attempted while it was down were not queued up: it
       hears one, not a burst of them. */
    fx->prod.subscribes = 0;
    assert_false (s_run (fx, NULL, 50));
    assert_int_equal (fx->prod.subscribes, 0);

    s_target = n;
    assert_true (s_run (fx, s_reached_target, 5000));
    s_assert_applied (fx, (long long)n, (long long)n);

    /* A quiet stream is re-subscribed every idle interval, not more. */
    fx->prod.subscribes = 0;
    assert_false (s_run (fx, NULL, 1000));
    assert_true (fx->prod.subscribes >= 3 && fx->prod.subscribes <= 6);
    assert_int_equal (fx->prod.sub_after, n);
}

/* Reset: the consumer stops, logs, and sends nothing more. */
static void
test_reset_stops (void **state)
{
    fixture_t *fx = *state;
    fx->prod.first = 50;
    fx->prod.last = fx->prod.limit = 100;
    s_start_consumer (fx, 20, 200);

    assert_true (s_run (fx, s_not_following, 5000));
    assert_int_equal (ln_consumer_state (fx->consumer), LN_CONSUMER_RESET);
    assert_int_equal (ln_consumer_position (fx->consumer), 0);
    s_assert_log_has (fx, "first=50 last=100 reason=PRUNED");
    assert_int_equal (ln_consumer_next_timeout_ms (fx->consumer, zclock_mono ()), -1);

    /* A Deliver that still arrives is discarded; nothing is sent. */
    s_deliver (&fx->prod, 1, 0);
    assert_false (s_run (fx, NULL, 1000));
    assert_int_equal (fx->prod.subscribes, 1);
    assert_int_equal (fx->prod.credits, 0);
    assert_int_equal (s_observe_count (fx->observer, "SELECT count(*) FROM applied"), 0);
}

/* A consumer destroyed mid-stream (events in flight, credit unsent) and
   created again resumes from the stored cursor, without duplicates. */
static void
test_restart_resumes_from_stored_cursor (void **state)
{
    fixture_t *fx = *state;
    const uint64_t n = 120;
    fx->prod.last = fx->prod.limit = n;
    s_start_consumer (fx, 30, 3000);
    s_target = 45;
    assert_true (s_run (fx, s_reached_target, 5000));
    uint64_t at = ln_consumer_position (fx->consumer);
    assert_true (at < n);
    ln_consumer_destroy (&fx->consumer);
    assert_int_equal (s_observe_count (fx->observer, "SELECT position FROM stream_cursors"),
                      (long long)at);

    int subscribes = fx->prod.subscribes;
    s_start_consumer (fx, 30, 3000);
    assert_int_equal (ln_consumer_position (fx->consumer), at);
    s_target = n;
    assert_true (s_run (fx, s_reached_target, 10000));
    assert_int_equal (fx->prod.subscribes, subscribes + 1);
    s_assert_applied (fx, (long long)n, (long long)n);
}

static void
test_config_refused (void **state)
{
    fixture_t *fx = *state;
    ln_error_t err;
    ln_consumer_config_t cfg = {
        .upstream = UPSTREAM,
        .endpoint = fx->prod.endpoint,
        .server_public_key = s_server_key,
        .cert = fx->follower_cert,
    };
    assert_null (ln_consumer_new (NULL, fx->db, s_apply, NULL, &err));
    assert_string_equal (err.code, "CONSUMER_INVALID");
    cfg.upstream = "Not A Node";
    assert_null (ln_consumer_new (&cfg, fx->db, s_apply, NULL, &err));
    assert_string_equal (err.code, "CONSUMER_INVALID");
    assert_string_equal (err.field, "upstream");
    cfg.upstream = UPSTREAM;
    cfg.idle_ms = 5;
    assert_null (ln_consumer_new (&cfg, fx->db, s_apply, NULL, &err));
    assert_string_equal (err.field, "idle_ms");
    cfg.idle_ms = 0;
    cfg.server_public_key = "short";
    assert_null (ln_consumer_new (&cfg, fx->db, s_apply, NULL, &err));
    assert_string_equal (err.code, "AUTH_INVALID_ARG");
    cfg.server_public_key = s_server_key;

    /* A schema without the migration: the cursor cannot be read. */
    ln_db_t *bare = s_connect ("public");
    assert_null (ln_consumer_new (&cfg, bare, s_apply, NULL, &err));
    assert_string_equal (err.code, "DB_STATEMENT");
    ln_db_destroy (&bare);

    assert_int_equal (ln_consumer_migration.version, 3);
    assert_string_equal (ln_consumer_migration.name, "consumer");
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_stream_in_credit_windows, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_duplicates_ignored, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_gap_resubscribes_from_cursor, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_garbage_frames_dropped, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_poisoned_event_stops, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_apply_refusal_poisons_at_the_event, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_apply_failure_rolled_back_and_retried, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_apply_ending_transaction_refused, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_db_connection_lost, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_cursor_moved_is_read_back, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_idle_resubscribe_after_producer_restart, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_reset_stops, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_restart_resumes_from_stored_cursor, s_setup,
                                         s_teardown),
        cmocka_unit_test_setup_teardown (test_config_refused, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
