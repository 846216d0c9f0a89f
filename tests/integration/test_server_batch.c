/*  Integration tests of the set-based command path (ln_server.h, STAGED
    COMMANDS): a real node in a thread, real PostgreSQL, real CURVE sockets.

    The node serves three test commands besides the node's own, on command
    cases borrowed from the intake's vocabulary (their meaning here is the
    test's, not the intake's):
      Stage   (WithdrawSignal{signal_id = key, reason = value}): a staged
              command; reads items to refuse a key that exists, stages
              {key, value} and emits one event; its flush inserts the items
              of a batch with one INSERT ... SELECT FROM unnest.  A value of
              "violate" breaks a CHECK constraint at flush time, "refuse" is
              refused by the handler, "readfail" makes the handler's read
              fail (SQL error, no savepoint to fall back on).
      Direct  (AmendSignal{signal_id = key}): a non-staged write (savepoint,
              direct INSERT, direct event).
      Lookup  (GetSignal{signal_id = key}): a read: OK when the key is in
              items, NOT_FOUND when not.

    To put several requests into ONE batch, the test holds the audit head's
    row lock from its own connection: the node's current batch waits on it
    at its audit append while the next requests queue on the socket; on
    release they are taken together.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus_fixture.h"
#include "lantern.pb-c.h"
#include "ln_db.h"
#include "ln_log.h"
#include "ln_server.h"
#include "pg_fixture.h"

#define STAGED_TYPE "test.staged.v1"
#define DIRECT_TYPE "test.direct.v1"
#define MAX_FLUSHES 64
#define MAX_BATCH   16

static ln_pgfix_t *s_pg;
static bus_keys_t *s_keys;
static bus_server_t *s_server;
static ln_db_t *s_locker; /* the test's own connection, to hold the audit lock */

/* What the flushes saw (they run in the node's thread). */
static pthread_mutex_t s_flush_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t s_flush_sizes[MAX_FLUSHES];
static size_t s_flush_count;
static int s_items_alive; /* staged items not yet destroyed */

/* --- the test commands --------------------------------------------------------------- */

typedef struct {
    char *key;
    char *value;
} item_t;

static void
s_item_destroy (void *arg)
{
    item_t *item = arg;
    free (item->key);
    free (item->value);
    free (item);
    pthread_mutex_lock (&s_flush_lock);
    s_items_alive--;
    pthread_mutex_unlock (&s_flush_lock);
}

static int
s_flush_items (void *arg, ln_db_t *db, void *const *items, size_t n, ln_error_t *err)
{
    (void)arg;
    pthread_mutex_lock (&s_flush_lock);
    if (s_flush_count < MAX_FLUSHES)
        s_flush_sizes[s_flush_count] = n;
    s_flush_count++;
    pthread_mutex_unlock (&s_flush_lock);

    ln_db_array_t keys, values;
    ln_db_array_init (&keys, LN_DB_OID_TEXT);
    ln_db_array_init (&values, LN_DB_OID_TEXT);
    for (size_t i = 0; i < n; i++) {
        const item_t *item = items[i];
        ln_db_array_add_text (&keys, item->key);
        ln_db_array_add_text (&values, item->value);
    }
    const char *v[2] = {ln_db_array_data (&keys), ln_db_array_data (&values)};
    const int l[2] = {ln_db_array_size (&keys), ln_db_array_size (&values)};
    const int f[2] = {1, 1};
    PGresult *res = ln_db_exec_prepared (
        db, "test_server_batch_items",
        "INSERT INTO items (key, value) SELECT u.key, u.value"
        " FROM unnest ($1::text[], $2::text[]) WITH ORDINALITY AS u (key, value, n) ORDER BY u.n",
        2, v, l, f, 0, err);
    ln_db_array_clear (&keys);
    ln_db_array_clear (&values);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

static Lantern__V1__SignalAccepted *
s_accepted (ln_call_t *call, const char *event_id)
{
    Lantern__V1__SignalAccepted *r = ln_call_alloc (call, sizeof *r);
    lantern__v1__signal_accepted__init (r);
    r->signal_id = ln_call_strdup (call, event_id);
    r->version = 1;
    return r;
}

static int
s_cmd_stage (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    (void)arg;
    const Lantern__V1__WithdrawSignal *w = (const Lantern__V1__WithdrawSignal *)input;
    const char *key = w->signal_id;
    const char *value = w->reason;
    ln_error_t err;
    if (!key || !*key || !value || !*value)
        return ln_call_fail (call, "INVALID_ARGUMENT", "", "key and value");
    if (strcmp (value, "refuse") == 0)
        return ln_call_fail (call, "INVALID_ARGUMENT", "reason", "refused");
    if (strcmp (value, "readfail") == 0) {
        /* a read that fails: the batch's transaction is now aborted */
        PGresult *res = ln_db_exec (ln_call_db (call), "SELECT 1 / 0", 0, NULL, &err);
        PQclear (res);
        return -1;
    }
    /* a staged handler may read */
    const char *params[1] = {key};
    PGresult *res =
        ln_db_exec (ln_call_db (call), "SELECT 1 FROM items WHERE key = $1", 1, params, &err);
    if (!res)
        return -1;
    int found = PQntuples (res);
    PQclear (res);
    if (found)
        return ln_call_fail (call, "ALREADY_EXISTS", "signal_id", "key exists");

    item_t *item = calloc (1, sizeof *item);
    item->key = strdup (key);
    item->value = strdup (value);
    pthread_mutex_lock (&s_flush_lock);
    s_items_alive++;
    pthread_mutex_unlock (&s_flush_lock);
    ln_call_stage (call, item, s_item_destroy);

    ln_outbox_event_t event = {
        .type = STAGED_TYPE,
        .level = LN_LEVEL_INTERN,
        .correlation_id = key,
        .payload = (const uint8_t *)value,
        .payload_size = strlen (value),
    };
    char id[LN_OUTBOX_EVENT_ID_SIZE];
    if (ln_call_emit (call, &event, id, sizeof id) != 0)
        return -1;
    ln_call_set_object (call, key);
    *output = &s_accepted (call, id)->base;
    return 0;
}

static int
s_cmd_direct (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    (void)arg;
    ln_error_t err;
    const char *key = ((const Lantern__V1__AmendSignal *)input)->signal_id;
    const char *params[1] = {key};
    if (ln_db_run (ln_call_db (call), "INSERT INTO direct (key) VALUES ($1)", 1, params, &err) != 0)
        return -1;
    ln_outbox_event_t event = {
        .type = DIRECT_TYPE,
        .level = LN_LEVEL_INTERN,
        .correlation_id = key,
    };
    char id[LN_OUTBOX_EVENT_ID_SIZE];
    if (ln_call_emit (call, &event, id, sizeof id) != 0)
        return -1;
    *output = &s_accepted (call, id)->base;
    return 0;
}

static int
s_cmd_lookup (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    (void)arg;
    ln_error_t err;
    const char *params[1] = {((const Lantern__V1__GetSignal *)input)->signal_id};
    PGresult *res =
        ln_db_exec (ln_call_db (call), "SELECT 1 FROM items WHERE key = $1", 1, params, &err);
    if (!res)
        return -1;
    int found = PQntuples (res);
    PQclear (res);
    if (!found)
        return ln_call_fail (call, "NOT_FOUND", "signal_id", "no such key");
    Lantern__V1__SignalRecord *rec = ln_call_alloc (call, sizeof *rec);
    lantern__v1__signal_record__init (rec);
    *output = &rec->base;
    return 0;
}

static const char *const s_roles_operator[] = {"operator", NULL};

/* The test borrows intake's messages for its three commands (the server
   serves whatever it is given): WithdrawSignal stages, AmendSignal writes
   directly, GetSignal reads. */
static const ln_command_t s_commands[] = {
    {&lantern__v1__withdraw_signal__descriptor, &lantern__v1__signal_accepted__descriptor,
     s_roles_operator, true, s_cmd_stage, false, s_flush_items},
    {&lantern__v1__amend_signal__descriptor, &lantern__v1__signal_accepted__descriptor,
     s_roles_operator, true, s_cmd_direct, false, NULL},
    {&lantern__v1__get_signal__descriptor, &lantern__v1__signal_record__descriptor,
     s_roles_operator, false, s_cmd_lookup, false, NULL},
};

/* --- fixture ----------------------------------------------------------------------------- */

static int
s_group_setup (void **state)
{
    (void)state;
    ln_error_t err;
    ln_log_init ("test-server-batch", LN_LOG_ERROR);
    s_pg = ln_pgfix_new ("server_batch");
    if (!s_pg)
        return -1;
    const char *conninfo = ln_pgfix_create_role (s_pg, "batch", "batch");
    s_keys = bus_keys_new ();
    if (!conninfo || !s_keys)
        return -1;
    if (bus_keys_add (s_keys, "node", "node", "geheim", false) != 0 ||
        bus_keys_add (s_keys, "op", "operator", "geheim", true) != 0)
        return -1;
    static const ln_stream_rule_t rules[] = {{"*", "*", LN_PROJECTION_FULL}};
    bus_server_config_t config = {
        .conninfo = conninfo,
        .schema = "batch",
        .node = "node",
        .rules = rules,
        .rule_count = 1,
        .commands = s_commands,
        .command_count = sizeof s_commands / sizeof s_commands[0],
    };
    s_server = bus_server_start (s_keys, &config);
    if (!s_server)
        return -1;
    char sql[512];
    snprintf (sql, sizeof sql,
              "CREATE TABLE batch.items (n bigserial PRIMARY KEY, key text NOT NULL UNIQUE,"
              " value text NOT NULL CHECK (value <> 'violate'));"
              "CREATE TABLE batch.direct (key text PRIMARY KEY);"
              "ALTER TABLE batch.items OWNER TO %s; ALTER TABLE batch.direct OWNER TO %s;",
              ln_pgfix_role_name (s_pg, "batch"), ln_pgfix_role_name (s_pg, "batch"));
    if (ln_pgfix_exec (s_pg, sql) != 0)
        return -1;
    s_locker = ln_db_connect (ln_pgfix_conninfo (s_pg), "batch", NULL, &err);
    return s_locker ? 0 : -1;
}

static int
s_group_teardown (void **state)
{
    (void)state;
    ln_db_destroy (&s_locker);
    bus_server_stop (&s_server);
    bus_keys_destroy (&s_keys);
    ln_pgfix_destroy (&s_pg);
    return 0;
}

static long
s_count (const char *sql)
{
    char *v = ln_pgfix_query_value (s_pg, sql, 0, NULL);
    long n = v ? strtol (v, NULL, 10) : -1;
    free (v);
    return n;
}

static char *
s_value (const char *sql)
{
    return ln_pgfix_query_value (s_pg, sql, 0, NULL);
}

static void
s_flushes_reset (void)
{
    pthread_mutex_lock (&s_flush_lock);
    s_flush_count = 0;
    memset (s_flush_sizes, 0, sizeof s_flush_sizes);
    pthread_mutex_unlock (&s_flush_lock);
}

static size_t
s_flushes (size_t *sizes, size_t max)
{
    pthread_mutex_lock (&s_flush_lock);
    size_t n = s_flush_count;
    for (size_t i = 0; i < n && i < max && i < MAX_FLUSHES; i++)
        sizes[i] = s_flush_sizes[i];
    pthread_mutex_unlock (&s_flush_lock);
    return n;
}

/* --- requests ---------------------------------------------------------------------------- */

typedef enum { STAGE, DIRECT, LOOKUP, POST } kind_t;

typedef struct {
    kind_t kind;
    const char *request_id;
    const char *key;   /* Stage, Direct, Lookup; PostNotice: the text */
    const char *value; /* Stage */
} call_t;

static void
s_send (ln_client_t *c, const call_t *call)
{
    ln_error_t err;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    Lantern__V1__WithdrawSignal stage = LANTERN__V1__WITHDRAW_SIGNAL__INIT;
    Lantern__V1__AmendSignal direct = LANTERN__V1__AMEND_SIGNAL__INIT;
    Lantern__V1__GetSignal lookup = LANTERN__V1__GET_SIGNAL__INIT;
    Lantern__V1__PostNotice post = LANTERN__V1__POST_NOTICE__INIT;
    req.request_id = (char *)call->request_id;
    switch (call->kind) {
    case STAGE:
        stage.signal_id = (char *)call->key;
        stage.reason = (char *)call->value;
        req.command_case = LANTERN__V1__REQUEST__COMMAND_WITHDRAW_SIGNAL;
        req.withdraw_signal = &stage;
        break;
    case DIRECT:
        direct.signal_id = (char *)call->key;
        req.command_case = LANTERN__V1__REQUEST__COMMAND_AMEND_SIGNAL;
        req.amend_signal = &direct;
        break;
    case LOOKUP:
        lookup.signal_id = (char *)call->key;
        req.command_case = LANTERN__V1__REQUEST__COMMAND_GET_SIGNAL;
        req.get_signal = &lookup;
        break;
    case POST:
        post.text = (char *)call->key;
        req.command_case = LANTERN__V1__REQUEST__COMMAND_POST_NOTICE;
        req.post_notice = &post;
        break;
    }
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    cm.request = &req;
    assert_int_equal (ln_client_send (c, &cm, &err), 0);
}

/* Lock the audit head from the test's connection: the node's next batch
   stops at its audit append until s_unlock. */
static void
s_lock (void)
{
    ln_error_t err;
    assert_int_equal (ln_db_begin (s_locker), 0);
    assert_int_equal (
        ln_db_run (s_locker, "SELECT 1 FROM batch.audit_head FOR UPDATE", 0, NULL, &err), 0);
}

static void
s_unlock (void)
{
    assert_int_equal (ln_db_rollback (s_locker), 0);
}

/* Wait until the node's session waits for a lock (its batch is stuck). */
static void
s_wait_blocked (void)
{
    for (int i = 0; i < 500; i++) {
        /* (the head is locked by the owner's audit_append function) */
        if (s_count ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                     " AND (query LIKE '%audit_head%' OR query LIKE '%audit_append%')") > 0)
            return;
        usleep (10 * 1000);
    }
    fail_msg ("the node never waited for the audit lock");
}

/* Run calls[0..n) in ONE batch: a warm-up request takes the lock wait, the
   calls queue behind it, then everything is released.  replies[i] gets the
   reply to calls[i] (caller frees). */
static void
s_run_in_one_batch (const call_t *calls, size_t n, Lantern__V1__ServerMessage **replies)
{
    static int round;
    ln_error_t err;
    ln_client_t *c = bus_client (s_keys, s_server, "op");
    assert_non_null (c);
    ln_server_stats_t before, after;
    bus_server_stats (s_server, &before);

    s_lock ();
    char warm_id[64], warm_text[64];
    snprintf (warm_id, sizeof warm_id, "warm-%d", ++round);
    snprintf (warm_text, sizeof warm_text, "warm-up %d", round);
    call_t warm = {POST, warm_id, warm_text, NULL};
    s_send (c, &warm);
    s_wait_blocked ();
    for (size_t i = 0; i < n; i++)
        s_send (c, &calls[i]);
    usleep (200 * 1000); /* let them all reach the node's socket */
    s_unlock ();

    Lantern__V1__ServerMessage *m = ln_client_recv (c, 5000, &err);
    assert_non_null (m);
    assert_string_equal (m->reply->request_id, warm_id);
    lantern__v1__server_message__free_unpacked (m, NULL);
    for (size_t i = 0; i < n; i++)
        replies[i] = NULL;
    for (size_t got = 0; got < n; got++) {
        m = ln_client_recv (c, 5000, &err);
        assert_non_null (m);
        assert_int_equal (m->kind_case, LANTERN__V1__SERVER_MESSAGE__KIND_REPLY);
        size_t i = 0;
        while (i < n && (replies[i] || strcmp (calls[i].request_id, m->reply->request_id) != 0))
            i++;
        assert_true (i < n);
        replies[i] = m;
    }
    usleep (50 * 1000); /* stats are published after the step */
    bus_server_stats (s_server, &after);
    /* the warm-up's batch and ONE batch for all the calls */
    assert_int_equal (after.transactions - before.transactions, 2);
    ln_client_destroy (&c);
}

static void
s_free_all (Lantern__V1__ServerMessage **replies, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (replies[i])
            lantern__v1__server_message__free_unpacked (replies[i], NULL);
}

static void
s_assert_ok (const Lantern__V1__ServerMessage *m)
{
    assert_non_null (m);
    if (m->reply->status != LANTERN__V1__REPLY__STATUS__OK)
        fail_msg ("%s: %s %s", m->reply->request_id, m->reply->error->code,
                  m->reply->error->message);
}

static void
s_assert_error (const Lantern__V1__ServerMessage *m, const char *code)
{
    assert_non_null (m);
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__ERROR);
    assert_string_equal (m->reply->error->code, code);
}

/* The event id a Stage/Direct reply carries. */
static const char *
s_event_id (const Lantern__V1__ServerMessage *m)
{
    if (m->reply->result_case == LANTERN__V1__REPLY__RESULT_WITHDRAW_SIGNAL)
        return m->reply->withdraw_signal->signal_id;
    if (m->reply->result_case == LANTERN__V1__REPLY__RESULT_AMEND_SIGNAL)
        return m->reply->amend_signal->signal_id;
    return "";
}

static long
s_count_param (const char *sql, const char *param)
{
    const char *params[1] = {param};
    char *v = ln_pgfix_query_value (s_pg, sql, 1, params);
    long n = v ? strtol (v, NULL, 10) : -1;
    free (v);
    return n;
}

/* --- tests ------------------------------------------------------------------------------- */

/* Five staged requests in one batch: one flush of five items, in request
   order; each event's id returned at once is the one in the outbox; replies
   stored; everything audited. */
static void
test_one_flush_per_batch (void **state)
{
    (void)state;
    const call_t calls[] = {
        {STAGE, "one-1", "k1-1", "a"}, {STAGE, "one-2", "k1-2", "b"}, {STAGE, "one-3", "k1-3", "c"},
        {STAGE, "one-4", "k1-4", "d"}, {STAGE, "one-5", "k1-5", "e"},
    };
    const size_t n = sizeof calls / sizeof calls[0];
    Lantern__V1__ServerMessage *replies[MAX_BATCH];
    s_flushes_reset ();
    s_run_in_one_batch (calls, n, replies);

    size_t sizes[MAX_FLUSHES];
    assert_int_equal (s_flushes (sizes, MAX_FLUSHES), 1);
    assert_int_equal (sizes[0], n);
    for (size_t i = 0; i < n; i++) {
        s_assert_ok (replies[i]);
        const char *id = s_event_id (replies[i]);
        /* made in C like ln_outbox_append's: 32 hex characters */
        assert_int_equal (strlen (id), 32);
        assert_int_equal (strspn (id, "0123456789abcdef"), 32);
        assert_int_equal (s_count_param ("SELECT count(*) FROM batch.outbox WHERE event_id = $1"
                                         " AND type = '" STAGED_TYPE "'",
                                         id),
                          1);
    }
    char *order = s_value ("SELECT string_agg (value, '' ORDER BY n) FROM batch.items"
                           " WHERE key LIKE 'k1-%'");
    assert_string_equal (order, "abcde");
    free (order);
    /* the events of the batch are in request order too */
    order = s_value ("SELECT string_agg (convert_from (payload, 'UTF8'), '' ORDER BY id)"
                     " FROM batch.outbox WHERE correlation_id LIKE 'k1-%'");
    assert_string_equal (order, "abcde");
    free (order);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.command_replies"
                               " WHERE request_id LIKE 'one-%'"),
                      n);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.audit WHERE request_id LIKE 'one-%'"
                               " AND action = 'WithdrawSignal' AND outcome = 'accepted'"),
                      n);
    s_free_all (replies, n);
    assert_int_equal (s_items_alive, 0);
}

/* One item breaks the flush (CHECK constraint): the batch is rolled back
   and run again one request at a time; that request is refused (INTERNAL,
   audited as refused) and the others succeed. */
static void
test_bad_item_is_refused_alone (void **state)
{
    (void)state;
    const call_t calls[] = {
        {STAGE, "bad-1", "k2-1", "a"}, {STAGE, "bad-2", "k2-2", "violate"},
        {STAGE, "bad-3", "k2-3", "c"}, {POST, "bad-4", "a notice in the same batch", NULL},
        {STAGE, "bad-5", "k2-5", "e"},
    };
    const size_t n = sizeof calls / sizeof calls[0];
    Lantern__V1__ServerMessage *replies[MAX_BATCH];
    long events = s_count ("SELECT count(*) FROM batch.outbox");
    s_flushes_reset ();
    s_run_in_one_batch (calls, n, replies);

    s_assert_ok (replies[0]);
    s_assert_error (replies[1], "INTERNAL");
    s_assert_ok (replies[2]);
    s_assert_ok (replies[3]);
    s_assert_ok (replies[4]);
    /* once for the whole batch (failed), then n = 1 per request in safe mode */
    size_t sizes[MAX_FLUSHES];
    assert_int_equal (s_flushes (sizes, MAX_FLUSHES), 5);
    assert_int_equal (sizes[0], 4);
    for (int i = 1; i < 5; i++)
        assert_int_equal (sizes[i], 1);
    char *order = s_value ("SELECT string_agg (value, '' ORDER BY n) FROM batch.items"
                           " WHERE key LIKE 'k2-%'");
    assert_string_equal (order, "ace");
    free (order);
    /* its event and stored reply are gone with it; the others' are there */
    /* (+ 1: the warm-up's notice) */
    assert_int_equal (s_count ("SELECT count(*) FROM batch.outbox"), events + 1 + 4);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.outbox WHERE correlation_id = 'k2-2'"),
                      0);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.command_replies"
                               " WHERE request_id LIKE 'bad-%'"),
                      4);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.audit WHERE request_id = 'bad-2'"
                               " AND outcome = 'refused' AND reason = 'INTERNAL'"),
                      1);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.audit WHERE request_id LIKE 'bad-%'"
                               " AND outcome = 'accepted'"),
                      4);
    s_free_all (replies, n);
    assert_int_equal (s_items_alive, 0);
}

/* A handler's refusal costs nothing but its own request (no safe mode); a
   handler whose read fails aborts the batch's transaction, which has no
   savepoint to go back to: safe mode, and only that request fails. */
static void
test_handler_failures (void **state)
{
    (void)state;
    const call_t calls[] = {
        {STAGE, "hf-1", "k3-1", "a"},
        {STAGE, "hf-2", "k3-2", "refuse"},
        {STAGE, "hf-3", "k3-3", "c"},
    };
    Lantern__V1__ServerMessage *replies[MAX_BATCH];
    s_flushes_reset ();
    s_run_in_one_batch (calls, 3, replies);
    s_assert_ok (replies[0]);
    s_assert_error (replies[1], "INVALID_ARGUMENT");
    s_assert_ok (replies[2]);
    size_t sizes[MAX_FLUSHES];
    assert_int_equal (s_flushes (sizes, MAX_FLUSHES), 1);
    assert_int_equal (sizes[0], 2);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.audit WHERE request_id = 'hf-2'"
                               " AND outcome = 'refused'"
                               " AND reason = 'INVALID_ARGUMENT reason'"),
                      1);
    s_free_all (replies, 3);

    const call_t calls2[] = {
        {STAGE, "hf-4", "k3-4", "d"},
        {STAGE, "hf-5", "k3-5", "readfail"},
        {STAGE, "hf-6", "k3-6", "f"},
    };
    s_flushes_reset ();
    s_run_in_one_batch (calls2, 3, replies);
    s_assert_ok (replies[0]);
    s_assert_error (replies[1], "INTERNAL");
    s_assert_ok (replies[2]);
    /* the aborted first pass flushed nothing; safe mode flushed two of one */
    assert_int_equal (s_flushes (sizes, MAX_FLUSHES), 2);
    assert_int_equal (sizes[0], 1);
    assert_int_equal (sizes[1], 1);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.items WHERE key LIKE 'k3-%'"), 4);
    s_free_all (replies, 3);
    assert_int_equal (s_items_alive, 0);
}

/* Staged and non-staged commands in one batch.  A staged command's rows
   exist only after the flush: a read in the same batch does not see them,
   the next batch does.  The non-staged command's event is written at once,
   so it comes before the staged ones of its batch. */
static void
test_mixed_batch_and_visibility (void **state)
{
    (void)state;
    const call_t calls[] = {
        {STAGE, "mix-1", "k4-1", "a"},
        {DIRECT, "mix-2", "d4-1", NULL},
        {LOOKUP, "mix-3", "k4-1", NULL},
        {STAGE, "mix-4", "k4-2", "b"},
    };
    Lantern__V1__ServerMessage *replies[MAX_BATCH];
    s_run_in_one_batch (calls, 4, replies);
    s_assert_ok (replies[0]);
    s_assert_ok (replies[1]);
    s_assert_error (replies[2], "NOT_FOUND"); /* not flushed yet */
    s_assert_ok (replies[3]);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.direct WHERE key = 'd4-1'"), 1);
    char *order = s_value ("SELECT string_agg (correlation_id, ',' ORDER BY id) FROM batch.outbox"
                           " WHERE correlation_id IN ('k4-1', 'd4-1', 'k4-2')");
    assert_string_equal (order, "d4-1,k4-1,k4-2");
    free (order);
    /* the direct command's reply is stored like the staged ones' */
    assert_int_equal (s_count ("SELECT count(*) FROM batch.command_replies"
                               " WHERE request_id LIKE 'mix-%'"),
                      3);
    s_free_all (replies, 4);

    /* the next batch sees them */
    const call_t again[] = {{LOOKUP, "mix-5", "k4-1", NULL}};
    s_run_in_one_batch (again, 1, replies);
    s_assert_ok (replies[0]);
    s_free_all (replies, 1);
}

/* Retries of staged requests, in a later batch and within the same batch,
   get the first reply, byte for byte the same as stored; nothing is
   written twice. */
static void
test_retries_return_the_first_reply (void **state)
{
    (void)state;
    const call_t first[] = {
        {STAGE, "rt-1", "k5-1", "a"},
        {STAGE, "rt-2", "k5-2", "b"},
        {STAGE, "rt-1", "k5-1", "a"}, /* the same request twice in one batch */
    };
    Lantern__V1__ServerMessage *replies[MAX_BATCH];
    s_flushes_reset ();
    s_run_in_one_batch (first, 3, replies);
    for (int i = 0; i < 3; i++)
        s_assert_ok (replies[i]);
    /* s_run_in_one_batch matches replies by request_id: both rt-1 got one */
    char id1[64], id2[64];
    snprintf (id1, sizeof id1, "%s", s_event_id (replies[0]));
    snprintf (id2, sizeof id2, "%s", s_event_id (replies[1]));
    assert_string_equal (s_event_id (replies[2]), id1);
    size_t sizes[MAX_FLUSHES];
    assert_int_equal (s_flushes (sizes, MAX_FLUSHES), 1);
    assert_int_equal (sizes[0], 2);
    s_free_all (replies, 3);

    /* later, mixed with new work: the stored replies come back */
    const call_t later[] = {
        {STAGE, "rt-2", "k5-2", "b"},
        {STAGE, "rt-3", "k5-3", "c"},
        {STAGE, "rt-1", "k5-1", "a"},
    };
    s_flushes_reset ();
    s_run_in_one_batch (later, 3, replies);
    for (int i = 0; i < 3; i++)
        s_assert_ok (replies[i]);
    assert_string_equal (s_event_id (replies[0]), id2);
    assert_string_equal (s_event_id (replies[2]), id1);
    assert_int_equal (s_flushes (sizes, MAX_FLUSHES), 1);
    assert_int_equal (sizes[0], 1);
    /* byte for byte: the reply sent is the one stored */
    Lantern__V1__ServerMessage *m = replies[0];
    size_t size = lantern__v1__server_message__get_packed_size (m);
    uint8_t *packed = malloc (size);
    lantern__v1__server_message__pack (m, packed);
    char *hex = s_value ("SELECT encode (reply, 'hex') FROM batch.command_replies"
                         " WHERE request_id = 'rt-2'");
    assert_non_null (hex);
    assert_int_equal (strlen (hex), size * 2);
    for (size_t i = 0; i < size; i++) {
        char byte[3];
        snprintf (byte, sizeof byte, "%02x", packed[i]);
        assert_memory_equal (hex + 2 * i, byte, 2);
    }
    free (hex);
    free (packed);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.items WHERE key LIKE 'k5-%'"), 3);
    assert_int_equal (
        s_count ("SELECT count(*) FROM batch.outbox WHERE correlation_id LIKE 'k5-%'"), 3);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.audit WHERE request_id LIKE 'rt-%'"
                               " AND reason = 'replayed stored reply'"),
                      3);
    s_free_all (replies, 3);

    /* a different value under a used request_id is refused, in a later
       batch (against the stored reply) and within one batch (against the
       first request), and changes nothing (docs/protocol.md 4.2) */
    const call_t reused[] = {
        {STAGE, "rt-2", "k5-2", "changed"},
        {STAGE, "rt-4", "k5-4", "d"},
        {STAGE, "rt-4", "k5-4", "other"},
    };
    s_run_in_one_batch (reused, 3, replies);
    assert_string_equal (replies[0]->reply->error->code, "REQUEST_ID_REUSED");
    assert_string_equal (replies[0]->reply->error->field, "request_id");
    s_assert_ok (replies[1]);
    assert_string_equal (replies[2]->reply->error->code, "REQUEST_ID_REUSED");
    s_free_all (replies, 3);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.items WHERE key LIKE 'k5-%'"), 4);
    assert_int_equal (s_count ("SELECT count(*) FROM batch.audit WHERE request_id LIKE 'rt-%'"
                               " AND outcome = 'refused' AND reason LIKE 'REQUEST_ID_REUSED%'"),
                      2);
    assert_int_equal (s_items_alive, 0);
}

/* A command whose flush is set must write and must not own its
   transaction: the server refuses the configuration. */
static void
test_flush_needs_a_writing_command (void **state)
{
    (void)state;
    ln_error_t err;
    zcert_t *cert = zcert_new ();
    ln_command_t bad = {&lantern__v1__get_signal__descriptor,
                        &lantern__v1__signal_record__descriptor,
                        NULL,
                        false,
                        s_cmd_lookup,
                        false,
                        s_flush_items};
    ln_server_config_t config = {
        .node = "bad",
        .endpoint = "tcp://127.0.0.1:*",
        .cert = cert,
        .auth = (ln_auth_t *)1, /* not reached */
        .db = s_locker,
        .commands = &bad,
        .command_count = 1,
    };
    ln_server_t *server = ln_server_new (&config, &err);
    assert_null (server);
    assert_string_equal (err.code, "SERVER_INVALID");
    zcert_destroy (&cert);
}

/* ln_db_exec_all: statements in one round trip; the first failure skips
   the rest; prepared statements are prepared again on a new connection. */
static void
test_exec_all (void **state)
{
    (void)state;
    ln_error_t err;
    ln_db_t *db = ln_db_connect (ln_pgfix_conninfo (s_pg), NULL, NULL, &err);
    assert_non_null (db);
    PGresult *res[4];
    const char *v[1] = {"41"};
    ln_db_stmt_t ok[4] = {
        {.sql = "BEGIN"},
        {.name = "test_exec_all_add", .sql = "SELECT $1::int + 1", .nparams = 1, .values = v},
        {.sql = "SELECT 'x'"},
        {.sql = "COMMIT"},
    };
    for (int round = 0; round < 3; round++) {
        assert_int_equal (ln_db_exec_all (db, ok, 4, res, &err), 0);
        assert_string_equal (PQgetvalue (res[1], 0, 0), "42");
        assert_string_equal (PQgetvalue (res[2], 0, 0), "x");
        assert_string_equal (PQcmdStatus (res[3]), "COMMIT");
        for (int i = 0; i < 4; i++)
            PQclear (res[i]);
        if (round == 1) {
            /* a new session has no prepared statements: prepared again */
            char sql[96];
            snprintf (sql, sizeof sql, "SELECT pg_terminate_backend (%d)",
                      PQbackendPID (ln_db_conn (db)));
            assert_int_equal (ln_pgfix_exec (s_pg, sql), 0);
            usleep (100 * 1000);
            assert_int_equal (ln_db_ensure (db, &err), 0);
            assert_int_equal (ln_db_generation (db), 2);
        }
    }

    /* a failure in the middle: the rest is skipped, every result NULL */
    ln_db_stmt_t bad[4] = {
        {.sql = "BEGIN"}, {.sql = "SELECT 1 / 0"}, {.sql = "SELECT 2"}, {.sql = "COMMIT"}};
    assert_int_equal (ln_db_exec_all (db, bad, 4, res, &err), -1);
    assert_string_equal (err.code, "DB_STATEMENT");
    assert_string_equal (ln_db_last_sqlstate (db), "22012");
    assert_false (ln_db_last_lost (db));
    for (int i = 0; i < 4; i++)
        assert_null (res[i]);
    /* the transaction is left failed: a COMMIT in a later call says ROLLBACK */
    assert_int_equal (PQtransactionStatus (ln_db_conn (db)), PQTRANS_INERROR);
    assert_int_equal (ln_db_exec_all (db, &ok[3], 1, res, &err), 0);
    assert_string_equal (PQcmdStatus (res[0]), "ROLLBACK");
    PQclear (res[0]);
    assert_int_equal (PQtransactionStatus (ln_db_conn (db)), PQTRANS_IDLE);

    /* a failed prepare is forgotten, not taken as prepared */
    ln_db_stmt_t broken = {.name = "test_exec_all_broken", .sql = "SELEKT 1"};
    for (int i = 0; i < 2; i++) {
        assert_int_equal (ln_db_exec_all (db, &broken, 1, NULL, &err), -1);
        assert_string_equal (ln_db_last_sqlstate (db), "42601");
    }
    ln_db_destroy (&db);
}

/* The binary array parameters of ln_db: every element type, NULLs and
   empty values, read back through unnest. */
static void
test_binary_arrays (void **state)
{
    (void)state;
    ln_error_t err;
    ln_db_t *db = ln_db_connect (ln_pgfix_conninfo (s_pg), NULL, NULL, &err);
    assert_non_null (db);
    ln_db_array_t t, b, i8, i2;
    ln_db_array_init (&t, LN_DB_OID_TEXT);
    ln_db_array_init (&b, LN_DB_OID_BYTEA);
    ln_db_array_init (&i8, LN_DB_OID_INT8);
    ln_db_array_init (&i2, LN_DB_OID_INT2);
    ln_db_array_add_text (&t, "a \"quoted\" {text}, NULL");
    ln_db_array_add_text (&t, NULL);
    ln_db_array_add_text (&t, "");
    ln_db_array_add (&b, "\x00\xff", 2);
    ln_db_array_add (&b, NULL, 0);
    ln_db_array_add_null (&b);
    ln_db_array_add_int8 (&i8, INT64_MIN);
    ln_db_array_add_int8 (&i8, -1);
    ln_db_array_add_int8 (&i8, INT64_MAX);
    ln_db_array_add_int2 (&i2, -32768);
    ln_db_array_add_int2 (&i2, 7);
    ln_db_array_add_int2 (&i2, 32767);
    const char *v[4] = {ln_db_array_data (&t), ln_db_array_data (&b), ln_db_array_data (&i8),
                        ln_db_array_data (&i2)};
    const int l[4] = {ln_db_array_size (&t), ln_db_array_size (&b), ln_db_array_size (&i8),
                      ln_db_array_size (&i2)};
    const int f[4] = {1, 1, 1, 1};
    PGresult *res = ln_db_exec_prepared (
        db, "test_binary_arrays",
        "SELECT coalesce (u.t, '(null)'), coalesce (encode (u.b, 'hex'), '(null)'), u.i8, u.i2"
        " FROM unnest ($1::text[], $2::bytea[], $3::int8[], $4::int2[]) WITH ORDINALITY"
        " AS u (t, b, i8, i2, n) ORDER BY n",
        4, v, l, f, 0, &err);
    assert_non_null (res);
    assert_int_equal (PQntuples (res), 3);
    assert_string_equal (PQgetvalue (res, 0, 0), "a \"quoted\" {text}, NULL");
    assert_string_equal (PQgetvalue (res, 1, 0), "(null)");
    assert_string_equal (PQgetvalue (res, 2, 0), "");
    assert_string_equal (PQgetvalue (res, 0, 1), "00ff");
    assert_string_equal (PQgetvalue (res, 1, 1), "");
    assert_string_equal (PQgetvalue (res, 2, 1), "(null)");
    assert_string_equal (PQgetvalue (res, 0, 2), "-9223372036854775808");
    assert_string_equal (PQgetvalue (res, 1, 2), "-1");
    assert_string_equal (PQgetvalue (res, 2, 2), "9223372036854775807");
    assert_string_equal (PQgetvalue (res, 0, 3), "-32768");
    assert_string_equal (PQgetvalue (res, 2, 3), "32767");
    PQclear (res);
    /* an empty array is an empty set */
    ln_db_array_clear (&t);
    ln_db_array_init (&t, LN_DB_OID_TEXT);
    v[0] = ln_db_array_data (&t);
    const int l0[1] = {ln_db_array_size (&t)};
    res = ln_db_exec_prepared (db, "test_binary_arrays_empty",
                               "SELECT count(*) FROM unnest ($1::text[])", 1, v, l0, f, 0, &err);
    assert_non_null (res);
    assert_string_equal (PQgetvalue (res, 0, 0), "0");
    PQclear (res);
    ln_db_array_clear (&t);
    ln_db_array_clear (&b);
    ln_db_array_clear (&i8);
    ln_db_array_clear (&i2);
    ln_db_destroy (&db);
}

/* Issue 9 point 8: positions follow commit order for every kind of
   append.  A direct (unstaged) command's event and a staged command's
   event, each acknowledged before the next request is sent: the earlier
   acknowledged gets the smaller position, every time.  (Before, the direct
   one waited for the relay, and the staged batch, numbered at its commit,
   overtook it about half of the time.) */
static void
test_positions_follow_commit_order_point8 (void **state)
{
    (void)state;
    ln_client_t *c = bus_client (s_keys, s_server, "op");
    ln_error_t err;
    char rid[32], key[32];
    for (int i = 0; i < 60; i++) {
        snprintf (rid, sizeof rid, "po-d-%d", i);
        snprintf (key, sizeof key, "po-d-%d", i);
        call_t d = {DIRECT, rid, key, NULL};
        s_send (c, &d);
        Lantern__V1__ServerMessage *m = ln_client_recv (c, 5000, &err);
        s_assert_ok (m);
        lantern__v1__server_message__free_unpacked (m, NULL);
        snprintf (rid, sizeof rid, "po-s-%d", i);
        snprintf (key, sizeof key, "po-s-%d", i);
        call_t st = {STAGE, rid, key, "v"};
        s_send (c, &st);
        m = ln_client_recv (c, 5000, &err);
        s_assert_ok (m);
        lantern__v1__server_message__free_unpacked (m, NULL);
    }
    usleep (100 * 1000); /* anything the relay would still number */
    assert_int_equal (s_count ("SELECT count(*) FROM batch.outbox d JOIN batch.outbox s"
                               " ON s.correlation_id = 'po-s-' || substr (d.correlation_id, 6)"
                               " WHERE d.correlation_id LIKE 'po-d-%' AND d.position < s.position"),
                      60);
    ln_client_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_one_flush_per_batch),
        cmocka_unit_test (test_bad_item_is_refused_alone),
        cmocka_unit_test (test_handler_failures),
        cmocka_unit_test (test_mixed_batch_and_visibility),
        cmocka_unit_test (test_retries_return_the_first_reply),
        cmocka_unit_test (test_flush_needs_a_writing_command),
        cmocka_unit_test (test_exec_all),
        cmocka_unit_test (test_binary_arrays),
        cmocka_unit_test (test_positions_follow_commit_order_point8),
    };
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
