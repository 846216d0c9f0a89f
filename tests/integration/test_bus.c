/*  Integration tests of the bus: a real node (ln_server) in a thread, real
    PostgreSQL, real CURVE sockets, real protobuf.

    Commands: authorisation by role, idempotent retries, validation, group
    commit, audit; hostile frames.  Stream: exactly once in position order
    with two concurrent writers (one holding its transaction open), credit,
    filtering by role and level, projection field by field, Reset.
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

#include "bus_fixture.h"
#include "google/protobuf/any.pb-c.h"
#include "lantern.pb-c.h"
#include "ln_audit.h"
#include "ln_db.h"
#include "ln_envelope.h"
#include "ln_log.h"
#include "ln_outbox.h"
#include "pg_fixture.h"

#define NOTICE  "nl.lantern.notice.posted.v1"
#define STARTED "nl.lantern.node.started.v1"

static ln_pgfix_t *s_pg;
static const char *s_conninfo; /* the service role's */
static bus_keys_t *s_keys;
static bus_server_t *s_server;

/* Statistical projection of a Notice: no text, no author. */
static int
s_project (void *arg, const ln_principal_t *subscriber, ln_projection_t projection,
           const ln_outbox_row_t *row, uint8_t **out, size_t *out_size)
{
    (void)arg;
    (void)subscriber;
    if (projection == LN_PROJECTION_FULL)
        return LN_PROJECT_AS_STORED;
    if (strcmp (row->type, NOTICE) != 0 || projection != LN_PROJECTION_STATISTICAL)
        return LN_PROJECT_DROP;
    Lantern__V1__Notice *full = lantern__v1__notice__unpack (NULL, row->payload_size, row->payload);
    if (!full)
        return -1;
    Lantern__V1__Notice stat = LANTERN__V1__NOTICE__INIT;
    stat.organisation = full->organisation;
    *out_size = lantern__v1__notice__get_packed_size (&stat);
    *out = malloc (*out_size ? *out_size : 1);
    lantern__v1__notice__pack (&stat, *out);
    lantern__v1__notice__free_unpacked (full, NULL);
    return 0;
}

static const ln_stream_rule_t s_rules[] = {
    {"operator", "*", LN_PROJECTION_FULL},
    {"reader", NOTICE, LN_PROJECTION_STATISTICAL},
};

static int
s_group_setup (void **state)
{
    (void)state;
    ln_log_init ("test-bus", LN_LOG_WARN);
    s_pg = ln_pgfix_new ("bus");
    if (!s_pg)
        return -1;
    s_conninfo = ln_pgfix_create_role (s_pg, "bus", "bus");
    s_keys = bus_keys_new ();
    if (!s_conninfo || !s_keys)
        return -1;
    if (bus_keys_add (s_keys, "node", "node", "geheim", false) != 0 ||
        bus_keys_add (s_keys, "op", "operator", "geheim", true) != 0 ||
        bus_keys_add (s_keys, "reader", "reader", "intern", true) != 0 ||
        bus_keys_add (s_keys, "low", "reader", "openbaar", true) != 0 ||
        bus_keys_add (s_keys, "stranger", "operator", "geheim", false) != 0)
        return -1;
    bus_server_config_t config = {
        .conninfo = s_conninfo,
        .schema = "bus",
        .node = "node",
        .rules = s_rules,
        .rule_count = 2,
        .project = s_project,
    };
    s_server = bus_server_start (s_keys, &config);
    return s_server ? 0 : -1;
}

static int
s_group_teardown (void **state)
{
    (void)state;
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

static Lantern__V1__ServerMessage *
s_call (ln_client_t *client, Lantern__V1__Request *request)
{
    ln_error_t err;
    Lantern__V1__ServerMessage *m = ln_client_call (client, request, 5000, 1, &err);
    if (!m)
        fprintf (stderr, "call: %s %s\n", err.code, err.message);
    return m;
}

static Lantern__V1__ServerMessage *
s_post (ln_client_t *client, const char *request_id, const char *text)
{
    Lantern__V1__PostNotice post = LANTERN__V1__POST_NOTICE__INIT;
    post.text = (char *)text;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.request_id = (char *)request_id;
    req.command_case = LANTERN__V1__REQUEST__COMMAND_POST_NOTICE;
    req.post_notice = &post;
    return s_call (client, &req);
}

static void
s_free (Lantern__V1__ServerMessage *m)
{
    if (m)
        lantern__v1__server_message__free_unpacked (m, NULL);
}

/* --- commands ---------------------------------------------------------------------- */

static void
test_ping_reads_principal (void **state)
{
    (void)state;
    ln_client_t *c = bus_client (s_keys, s_server, "reader");
    assert_non_null (c);
    Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.request_id = "ping-1";
    req.command_case = LANTERN__V1__REQUEST__COMMAND_PING;
    req.ping = &ping;
    Lantern__V1__ServerMessage *m = s_call (c, &req);
    assert_non_null (m);
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    assert_int_equal (m->reply->result_case, LANTERN__V1__REPLY__RESULT_PING);
    assert_string_equal (m->reply->ping->node, "node");
    assert_string_equal (m->reply->ping->principal, "reader");
    assert_string_equal (m->reply->ping->organisation, "Org of reader");
    assert_int_equal (m->reply->ping->n_roles, 1);
    assert_string_equal (m->reply->ping->roles[0], "reader");
    assert_string_equal (m->reply->ping->level, "intern");
    s_free (m);
    ln_client_destroy (&c);
}

static uint64_t s_last_position (void);

/* Ping's last_position is the newest position, also on a node that has no
   subscriber (which then does not read its bounds after every batch). */
static void
test_ping_last_position_is_fresh (void **state)
{
    (void)state;
    ln_client_t *op = bus_client (s_keys, s_server, "op");
    ln_client_t *reader = bus_client (s_keys, s_server, "reader");
    assert_non_null (op);
    assert_non_null (reader);
    for (int round = 0; round < 3; round++) {
        char id[32];
        snprintf (id, sizeof id, "fresh-%d", round);
        Lantern__V1__ServerMessage *posted = s_post (op, id, "a notice");
        assert_non_null (posted);
        assert_int_equal (posted->reply->status, LANTERN__V1__REPLY__STATUS__OK);
        s_free (posted);

        Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
        Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
        snprintf (id, sizeof id, "fresh-ping-%d", round);
        req.request_id = id;
        req.command_case = LANTERN__V1__REQUEST__COMMAND_PING;
        req.ping = &ping;
        Lantern__V1__ServerMessage *m = s_call (reader, &req);
        assert_non_null (m);
        assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
        assert_int_equal (m->reply->ping->last_position, s_last_position ());
        s_free (m);
    }
    ln_client_destroy (&op);
    ln_client_destroy (&reader);
}

static void
test_retry_returns_first_reply (void **state)
{
    (void)state;
    ln_client_t *c = bus_client (s_keys, s_server, "op");
    long events = s_count ("SELECT count(*) FROM bus.outbox");
    long audit = s_count ("SELECT count(*) FROM bus.audit");

    Lantern__V1__ServerMessage *first = s_post (c, "retry-1", "maintenance at 22:00");
    assert_non_null (first);
    assert_int_equal (first->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    char event_id[64];
    snprintf (event_id, sizeof event_id, "%s", first->reply->post_notice->event_id);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.outbox"), events + 1);

    /* the same request again gets the first reply; a different text under
       the same id is refused (REQUEST_ID_REUSED, docs/protocol.md 4.2);
       neither changes anything */
    Lantern__V1__ServerMessage *again = s_post (c, "retry-1", "maintenance at 22:00");
    assert_non_null (again);
    assert_int_equal (again->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    assert_string_equal (again->reply->post_notice->event_id, event_id);
    s_free (again);
    again = s_post (c, "retry-1", "other text");
    assert_non_null (again);
    assert_int_equal (again->reply->status, LANTERN__V1__REPLY__STATUS__ERROR);
    assert_string_equal (again->reply->error->code, "REQUEST_ID_REUSED");
    assert_string_equal (again->reply->error->field, "request_id");
    assert_string_equal (again->reply->request_id, "retry-1");
    s_free (again);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.audit WHERE request_id = 'retry-1'"
                               " AND outcome = 'refused' AND reason LIKE 'REQUEST_ID_REUSED%'"),
                      1);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.outbox"), events + 1);
    assert_int_equal (
        s_count ("SELECT count(*) FROM bus.command_replies WHERE request_id = 'retry-1'"), 1);
    /* every receipt is audited; the retry as a replay */
    assert_int_equal (s_count ("SELECT count(*) FROM bus.audit"), audit + 3);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.audit WHERE request_id = 'retry-1'"
                               " AND outcome = 'accepted' AND reason = 'replayed stored reply'"),
                      1);
    s_free (first);
    ln_client_destroy (&c);
}

static void
test_forbidden_is_refused_and_audited (void **state)
{
    (void)state;
    ln_client_t *c = bus_client (s_keys, s_server, "reader");
    long events = s_count ("SELECT count(*) FROM bus.outbox");
    Lantern__V1__ServerMessage *m = s_post (c, "forbidden-1", "I am not an operator");
    assert_non_null (m);
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__ERROR);
    assert_string_equal (m->reply->error->code, "FORBIDDEN");
    assert_int_equal (s_count ("SELECT count(*) FROM bus.outbox"), events);
    assert_int_equal (
        s_count ("SELECT count(*) FROM bus.command_replies WHERE request_id = 'forbidden-1'"), 0);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.audit WHERE request_id = 'forbidden-1'"
                               " AND principal = 'reader' AND action = 'PostNotice'"
                               " AND outcome = 'refused' AND reason = 'FORBIDDEN'"),
                      1);
    s_free (m);
    ln_client_destroy (&c);
}

static void
test_invalid_argument_changes_nothing (void **state)
{
    (void)state;
    ln_client_t *c = bus_client (s_keys, s_server, "op");
    long events = s_count ("SELECT count(*) FROM bus.outbox");
    char big[1100];
    memset (big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *texts[] = {"", big};
    for (int i = 0; i < 2; i++) {
        char id[32];
        snprintf (id, sizeof id, "invalid-%d", i);
        Lantern__V1__ServerMessage *m = s_post (c, id, texts[i]);
        assert_non_null (m);
        assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__ERROR);
        assert_string_equal (m->reply->error->code, i ? "TEXT_TOO_LONG" : "MISSING_TEXT");
        assert_string_equal (m->reply->error->field, "text");
        s_free (m);
    }
    assert_int_equal (s_count ("SELECT count(*) FROM bus.outbox"), events);
    assert_int_equal (
        s_count ("SELECT count(*) FROM bus.command_replies WHERE request_id LIKE 'invalid-%'"), 0);
    ln_client_destroy (&c);
}

static void
s_send_frames (ln_client_t *c, const void *data, size_t size, int frames)
{
    zmsg_t *msg = zmsg_new ();
    for (int f = 0; f < frames; f++)
        zmsg_addmem (msg, data, size);
    zsock_t *sock = ln_client_socket (c);
    zmsg_send (&msg, sock);
}

static const char *
s_error_code_of_next (ln_client_t *c, char *buf, size_t size)
{
    ln_error_t err;
    Lantern__V1__ServerMessage *m = ln_client_recv (c, 1000, &err);
    buf[0] = '\0';
    if (m && m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_REPLY &&
        m->reply->status == LANTERN__V1__REPLY__STATUS__ERROR)
        snprintf (buf, size, "%s", m->reply->error->code);
    else if (m)
        snprintf (buf, size, "(not an error)");
    s_free (m);
    return buf;
}

static void
test_malformed_frames_change_nothing (void **state)
{
    (void)state;
    ln_client_t *c = bus_client (s_keys, s_server, "op");
    long events = s_count ("SELECT count(*) FROM bus.outbox");
    long replies = s_count ("SELECT count(*) FROM bus.command_replies");
    long audit = s_count ("SELECT count(*) FROM bus.audit");
    char code[64];

    /* a valid request, to cut into pieces */
    Lantern__V1__PostNotice post = LANTERN__V1__POST_NOTICE__INIT;
    post.text = "never stored";
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.request_id = "mal-1";
    req.command_case = LANTERN__V1__REQUEST__COMMAND_POST_NOTICE;
    req.post_notice = &post;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    cm.request = &req;
    uint8_t good[256];
    size_t good_size = lantern__v1__client_message__pack (&cm, good);

    /* random bytes */
    unsigned seed = 42;
    for (int i = 0; i < 20; i++) {
        uint8_t junk[64];
        for (size_t j = 0; j < sizeof junk; j++)
            junk[j] = (uint8_t)rand_r (&seed);
        s_send_frames (c, junk, sizeof junk, 1);
        s_error_code_of_next (c, code, sizeof code);
        assert_true (code[0] == '\0' || strncmp (code, "PB_", 3) == 0 ||
                     strcmp (code, "BAD_FRAME") == 0);
    }
    /* every truncation of a valid request */
    for (size_t cut = 1; cut < good_size; cut++) {
        s_send_frames (c, good, cut, 1);
        s_error_code_of_next (c, code, sizeof code);
        assert_true (strcmp (code, "(not an error)") != 0);
    }
    /* two frames */
    s_send_frames (c, good, good_size, 2);
    assert_string_equal (s_error_code_of_next (c, code, sizeof code), "BAD_FRAME");
    /* valid protobuf of the wrong type: a Pong */
    Lantern__V1__Pong pong = LANTERN__V1__PONG__INIT;
    pong.node = "x";
    pong.principal = "y";
    pong.last_position = 7;
    uint8_t pbuf[128];
    size_t psize = lantern__v1__pong__pack (&pong, pbuf);
    s_send_frames (c, pbuf, psize, 1);
    assert_true (strncmp (s_error_code_of_next (c, code, sizeof code), "PB_", 3) == 0 ||
                 strcmp (code, "BAD_FRAME") == 0);
    /* an empty ClientMessage */
    s_send_frames (c, "", 0, 1);
    assert_string_equal (s_error_code_of_next (c, code, sizeof code), "BAD_FRAME");
    /* a request with no command, and a bad request_id */
    Lantern__V1__Request nocmd = LANTERN__V1__REQUEST__INIT;
    nocmd.request_id = "mal-2";
    Lantern__V1__ServerMessage *m = s_call (c, &nocmd);
    assert_string_equal (m->reply->error->code, "UNKNOWN_COMMAND");
    s_free (m);
    req.request_id = "bad id with spaces";
    cm.request = &req;
    size_t bsize = lantern__v1__client_message__pack (&cm, good);
    s_send_frames (c, good, bsize, 1);
    {
        ln_error_t err;
        Lantern__V1__ServerMessage *r = ln_client_recv (c, 5000, &err);
        assert_non_null (r);
        assert_string_equal (r->reply->error->code, "BAD_REQUEST_ID");
        assert_string_equal (r->reply->error->field, "request_id");
        assert_string_equal (r->reply->request_id, ""); /* never echoed */
        s_free (r);
    }
    /* invalid UTF-8 in the text */
    post.text = "caf\xc3";
    req.request_id = "mal-3";
    bsize = lantern__v1__client_message__pack (&cm, good);
    s_send_frames (c, good, bsize, 1);
    {
        /* a request that fails the checks but has a good request_id is
           answered under it, and audited as refused */
        ln_error_t err;
        Lantern__V1__ServerMessage *r = ln_client_recv (c, 5000, &err);
        assert_non_null (r);
        assert_int_equal (r->kind_case, LANTERN__V1__SERVER_MESSAGE__KIND_REPLY);
        assert_string_equal (r->reply->request_id, "mal-3");
        assert_string_equal (r->reply->error->code, "PB_INVALID_UTF8");
        assert_string_equal (r->reply->error->field, "text");
        s_free (r);
    }

    /* an oversized message: libzmq drops the connection; the node goes on */
    ln_client_t *big = bus_client (s_keys, s_server, "op");
    size_t huge = 2 * 1024 * 1024;
    uint8_t *hbuf = calloc (1, huge);
    s_send_frames (big, hbuf, huge, 1);
    free (hbuf);
    ln_client_destroy (&big);

    /* nothing stored changed (refused requests are audited, nothing else;
       the one with a malformed request_id is neither echoed nor audited:
       docs/protocol.md 7) */
    assert_int_equal (s_count ("SELECT count(*) FROM bus.outbox"), events);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.command_replies"), replies);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.audit"), audit + 2);
    assert_int_equal (
        s_count ("SELECT count(*) FROM bus.audit WHERE outcome <> 'refused' AND seq > "
                 "(SELECT max(seq) - 2 FROM bus.audit)"),
        0);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.audit WHERE request_id = 'mal-3'"
                               " AND action = 'PostNotice'"
                               " AND reason = 'PB_INVALID_UTF8 text'"),
                      1);

    /* and it still serves */
    m = s_post (c, "mal-ok", "still here");
    assert_non_null (m);
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    s_free (m);
    ln_client_destroy (&c);
}

/* Many clients at once: every request answered, fewer transactions than
   requests (group commit), every request committed exactly once. */
typedef struct {
    int index;
    int ok;
} poster_t;

static void *
s_poster (void *arg)
{
    poster_t *p = arg;
    ln_client_t *c = bus_client (s_keys, s_server, "op");
    for (int i = 0; i < 20; i++) {
        char id[64], text[64];
        snprintf (id, sizeof id, "group-%d-%d", p->index, i);
        snprintf (text, sizeof text, "notice %d of %d", i, p->index);
        Lantern__V1__ServerMessage *m = s_post (c, id, text);
        if (m && m->reply->status == LANTERN__V1__REPLY__STATUS__OK)
            p->ok++;
        s_free (m);
    }
    ln_client_destroy (&c);
    return NULL;
}

static void
test_group_commit (void **state)
{
    (void)state;
    ln_server_stats_t before, after;
    bus_server_stats (s_server, &before);
    enum { CLIENTS = 16 };
    pthread_t t[CLIENTS];
    poster_t p[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        p[i].index = i;
        p[i].ok = 0;
        pthread_create (&t[i], NULL, s_poster, &p[i]);
    }
    for (int i = 0; i < CLIENTS; i++)
        pthread_join (t[i], NULL);
    usleep (100 * 1000);
    bus_server_stats (s_server, &after);
    for (int i = 0; i < CLIENTS; i++)
        assert_int_equal (p[i].ok, 20);
    assert_int_equal (
        s_count ("SELECT count(*) FROM bus.command_replies WHERE request_id LIKE 'group-%'"),
        CLIENTS * 20);
    assert_int_equal (
        s_count (
            "SELECT count(DISTINCT request_id) FROM bus.audit WHERE request_id LIKE 'group-%'"),
        CLIENTS * 20);
    uint64_t requests = after.requests - before.requests;
    uint64_t transactions = after.transactions - before.transactions;
    assert_true (requests >= CLIENTS * 20);
    assert_true (transactions < requests);
}

/* --- the stream ------------------------------------------------------------------------ */

/* Append a Notice straight into the outbox on `db`, inside an open
   transaction, as a service writer would. */
static void
s_append (ln_db_t *db, const char *text, const char *type, ln_level_t level, int64_t time_us)
{
    ln_error_t err;
    uint8_t buf[16384];
    size_t size;
    if (strcmp (type, NOTICE) == 0) {
        Lantern__V1__Notice n = LANTERN__V1__NOTICE__INIT;
        n.text = (char *)text;
        n.author = "writer";
        n.organisation = "Org of writer";
        size = lantern__v1__notice__pack (&n, buf);
    }
    else {
        Lantern__V1__NodeStarted n = LANTERN__V1__NODE_STARTED__INIT;
        n.node = "node";
        n.version = "0";
        size = lantern__v1__node_started__pack (&n, buf);
    }
    ln_outbox_event_t ev = {
        .type = type, .level = level, .time_us = time_us, .payload = buf, .payload_size = size};
    assert_int_equal (ln_outbox_append (db, &ev, NULL, 0, &err), 0);
}

static ln_db_t *
s_writer (void)
{
    ln_error_t err;
    ln_db_t *db = ln_db_connect (s_conninfo, "bus", NULL, &err);
    assert_non_null (db);
    return db;
}

static void
s_subscribe (ln_client_t *c, uint64_t after, uint32_t credit)
{
    ln_error_t err;
    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    sub.after_position = after;
    sub.credit = credit;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    cm.subscribe = &sub;
    assert_int_equal (ln_client_send (c, &cm, &err), 0);
}

static void
s_credit (ln_client_t *c, uint32_t credit)
{
    ln_error_t err;
    Lantern__V1__Credit cr = LANTERN__V1__CREDIT__INIT;
    cr.credit = credit;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_CREDIT;
    cm.credit = &cr;
    assert_int_equal (ln_client_send (c, &cm, &err), 0);
}

/* The next Deliver within timeout_ms, parsed; NULL when none came. */
static ln_event_t *
s_next_event (ln_client_t *c, int timeout_ms, uint64_t *position, uint64_t *previous)
{
    ln_error_t err;
    Lantern__V1__ServerMessage *m = ln_client_recv (c, timeout_ms, &err);
    if (!m)
        return NULL;
    assert_int_equal (m->kind_case, LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER);
    *position = m->deliver->position;
    *previous = m->deliver->previous_position;
    ln_event_t *ev = ln_envelope_parse (m->deliver->event.data, m->deliver->event.len, &err);
    assert_non_null (ev);
    assert_int_equal (ln_event_sequence (ev), *position);
    s_free (m);
    return ev;
}

static uint64_t
s_last_position (void)
{
    return (uint64_t)s_count ("SELECT COALESCE(max(position), 0) FROM bus.outbox");
}

/* Writer B, in a thread of its own: begin, append, commit. */
static void *
s_writer_b (void *arg)
{
    ln_db_t *b = arg;
    if (ln_db_begin (b) == 0) {
        s_append (b, "from B", NOTICE, LN_LEVEL_INTERN, 0);
        ln_db_commit (b);
    }
    return NULL;
}

static void
test_two_writers_exactly_once_in_order (void **state)
{
    (void)state;
    ln_db_t *a = s_writer (), *b = s_writer ();
    ln_client_t *c = bus_client (s_keys, s_server, "op");
    uint64_t start = s_last_position ();
    s_subscribe (c, start, 1000);

    /* A opens its transaction and appends first; B appends while A is
       open.  An event is numbered as it is written, under the log's head
       lock held to the commit (docs/protocol.md 5.1): B waits for A, so
       positions follow commit order and nothing is seen before it is
       committed. */
    assert_int_equal (ln_db_begin (a), 0);
    s_append (a, "from A", NOTICE, LN_LEVEL_INTERN, 0);
    pthread_t tb;
    assert_int_equal (pthread_create (&tb, NULL, s_writer_b, b), 0);
    uint64_t pos, prev;
    assert_null (s_next_event (c, 300, &pos, &prev)); /* nothing committed yet */
    assert_int_equal (ln_db_commit (a), 0);
    pthread_join (tb, NULL);
    ln_event_t *ev = s_next_event (c, 3000, &pos, &prev);
    assert_non_null (ev);
    assert_int_equal (pos, start + 1);
    assert_int_equal (prev, start);
    assert_string_equal (((const Lantern__V1__Notice *)ln_event_payload (ev))->text, "from A");
    ln_event_destroy (&ev);
    ev = s_next_event (c, 3000, &pos, &prev);
    assert_non_null (ev);
    assert_int_equal (pos, start + 2);
    assert_int_equal (prev, start + 1);
    assert_string_equal (((const Lantern__V1__Notice *)ln_event_payload (ev))->text, "from B");
    ln_event_destroy (&ev);
    /* and nothing more */
    assert_null (s_next_event (c, 300, &pos, &prev));

    /* many more, interleaved, some rolled back: each committed one once */
    int committed = 0;
    for (int i = 0; i < 40; i++) {
        ln_db_t *w = i % 2 ? a : b;
        assert_int_equal (ln_db_begin (w), 0);
        s_append (w, "bulk", NOTICE, LN_LEVEL_INTERN, 0);
        if (i % 5 == 4)
            assert_int_equal (ln_db_rollback (w), 0);
        else {
            assert_int_equal (ln_db_commit (w), 0);
            committed++;
        }
    }
    uint64_t expect = start + 3;
    for (int i = 0; i < committed; i++) {
        ev = s_next_event (c, 3000, &pos, &prev);
        assert_non_null (ev);
        assert_int_equal (pos, expect);
        assert_int_equal (prev, expect - 1);
        expect++;
        ln_event_destroy (&ev);
    }
    assert_null (s_next_event (c, 300, &pos, &prev));
    ln_client_destroy (&c);
    ln_db_destroy (&a);
    ln_db_destroy (&b);
}

static void
test_credit_bounds_delivery (void **state)
{
    (void)state;
    ln_db_t *w = s_writer ();
    uint64_t start = s_last_position ();
    assert_int_equal (ln_db_begin (w), 0);
    for (int i = 0; i < 10; i++)
        s_append (w, "credit", NOTICE, LN_LEVEL_INTERN, 0);
    assert_int_equal (ln_db_commit (w), 0);

    ln_client_t *c = bus_client (s_keys, s_server, "op");
    s_subscribe (c, start, 3);
    uint64_t pos, prev;
    for (int i = 0; i < 3; i++) {
        ln_event_t *ev = s_next_event (c, 3000, &pos, &prev);
        assert_non_null (ev);
        assert_int_equal (pos, start + 1 + (uint64_t)i);
        ln_event_destroy (&ev);
    }
    assert_null (s_next_event (c, 300, &pos, &prev));
    s_credit (c, 7);
    for (int i = 3; i < 10; i++) {
        ln_event_t *ev = s_next_event (c, 3000, &pos, &prev);
        assert_non_null (ev);
        assert_int_equal (pos, start + 1 + (uint64_t)i);
        ln_event_destroy (&ev);
    }
    assert_null (s_next_event (c, 300, &pos, &prev));
    ln_client_destroy (&c);
    ln_db_destroy (&w);
}

/* Credit bounds how many Delivers are unconfirmed; the node also bounds
   their bytes (8 MiB), so a subscriber that stops confirming pins a
   bounded amount of memory whatever the events' size. */
static void
test_unconfirmed_bytes_are_bounded (void **state)
{
    (void)state;
    ln_db_t *w = s_writer ();
    uint64_t start = s_last_position ();
    char *big = malloc (8001);
    memset (big, 'b', 8000);
    big[8000] = '\0';
    enum { EVENTS = 1500 };
    assert_int_equal (ln_db_begin (w), 0);
    for (int i = 0; i < EVENTS; i++)
        s_append (w, big, NOTICE, LN_LEVEL_INTERN, 0);
    assert_int_equal (ln_db_commit (w), 0);
    free (big);
    ln_db_destroy (&w);

    ln_client_t *c = bus_client (s_keys, s_server, "op");
    s_subscribe (c, start, 10000);
    uint64_t pos, prev, expect = start + 1;
    int first = 0;
    ln_event_t *ev;
    /* quiet for 2 s: the node has sent all it will without a Credit */
    while ((ev = s_next_event (c, 2000, &pos, &prev))) {
        assert_int_equal (pos, expect++);
        ln_event_destroy (&ev);
        first++;
    }
    /* about 8 MiB of ~8.2 kB Delivers, far below the credit */
    assert_true (first > 800);
    assert_true (first < 1100);
    /* confirming them lets the rest come, in order, once */
    s_credit (c, (uint32_t)first);
    int rest = 0;
    while ((ev = s_next_event (c, 3000, &pos, &prev))) {
        assert_int_equal (pos, expect++);
        ln_event_destroy (&ev);
        rest++;
        if (rest % 200 == 0)
            s_credit (c, 200);
    }
    assert_int_equal (first + rest, EVENTS);
    ln_client_destroy (&c);
}

static void
test_roles_levels_and_projection (void **state)
{
    (void)state;
    ln_db_t *w = s_writer ();
    uint64_t start = s_last_position ();
    assert_int_equal (ln_db_begin (w), 0);
    s_append (w, "secret text", NOTICE, LN_LEVEL_INTERN, 0); /* start+1 */
    /* start+2: a node's own event goes to every follower that may see
       its level (docs/protocol.md 5.4): not to the reader (intern) */
    s_append (w, "", STARTED, LN_LEVEL_VERTROUWELIJK, 0);
    s_append (w, "above intern", NOTICE, LN_LEVEL_VERTROUWELIJK, 0); /* start+3: above reader */
    s_append (w, "second", NOTICE, LN_LEVEL_INTERN, 0);              /* start+4 */
    assert_int_equal (ln_db_commit (w), 0);

    /* the operator sees all four, in full */
    ln_client_t *op = bus_client (s_keys, s_server, "op");
    s_subscribe (op, start, 100);
    uint64_t pos, prev;
    for (int i = 1; i <= 4; i++) {
        ln_event_t *ev = s_next_event (op, 3000, &pos, &prev);
        assert_non_null (ev);
        assert_int_equal (pos, start + (uint64_t)i);
        if (i == 1) {
            const Lantern__V1__Notice *n = (const Lantern__V1__Notice *)ln_event_payload (ev);
            assert_string_equal (n->text, "secret text");
            assert_string_equal (n->author, "writer");
        }
        ln_event_destroy (&ev);
    }

    /* the reader sees only the notices at or below intern, statistical:
       every field checked */
    ln_client_t *rd = bus_client (s_keys, s_server, "reader");
    s_subscribe (rd, start, 100);
    uint64_t expect[2] = {start + 1, start + 4};
    uint64_t expect_prev[2] = {start, start + 1};
    for (int i = 0; i < 2; i++) {
        ln_event_t *ev = s_next_event (rd, 3000, &pos, &prev);
        assert_non_null (ev);
        assert_int_equal (pos, expect[i]);
        assert_int_equal (prev, expect_prev[i]);
        assert_string_equal (ln_event_type (ev), NOTICE);
        assert_int_equal (ln_event_level (ev), LN_LEVEL_INTERN);
        const Lantern__V1__Notice *n = (const Lantern__V1__Notice *)ln_event_payload (ev);
        const ProtobufCMessageDescriptor *d = n->base.descriptor;
        for (unsigned f = 0; f < d->n_fields; f++) {
            const char *name = d->fields[f].name;
            const char *value = *(char *const *)((const char *)n + d->fields[f].offset);
            if (strcmp (name, "organisation") == 0)
                assert_string_equal (value, "Org of writer");
            else
                assert_string_equal (value, ""); /* text, author: never sent */
        }
        ln_event_destroy (&ev);
    }
    assert_null (s_next_event (rd, 300, &pos, &prev));

    /* a reader whose level is openbaar sees none of them */
    ln_client_t *low = bus_client (s_keys, s_server, "low");
    s_subscribe (low, start, 100);
    assert_null (s_next_event (low, 500, &pos, &prev));

    ln_client_destroy (&low);
    ln_client_destroy (&rd);
    ln_client_destroy (&op);
    ln_db_destroy (&w);
}

static void
test_unregistered_key_gets_nothing (void **state)
{
    (void)state;
    ln_client_t *c = bus_client (s_keys, s_server, "stranger");
    /* the handshake never completes: the send itself may fail */
    ln_error_t err;
    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    sub.credit = 100;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    cm.subscribe = &sub;
    ln_client_send (c, &cm, &err);
    uint64_t pos, prev;
    assert_null (s_next_event (c, 500, &pos, &prev));
    /* s_post waits 5 s for a reply that never comes */
    Lantern__V1__ServerMessage *m = s_post (c, "stranger-1", "let me in");
    assert_null (m);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.audit WHERE request_id = 'stranger-1'"),
                      0);
    ln_client_destroy (&c);
}

static void
test_reset_when_ahead_or_pruned (void **state)
{
    (void)state;
    ln_client_t *c = bus_client (s_keys, s_server, "op");
    ln_error_t err;
    uint64_t last = s_last_position ();
    s_subscribe (c, last + 5, 10);
    Lantern__V1__ServerMessage *m = ln_client_recv (c, 3000, &err);
    assert_non_null (m);
    assert_int_equal (m->kind_case, LANTERN__V1__SERVER_MESSAGE__KIND_RESET);
    assert_string_equal (m->reset->reason, "AHEAD");
    assert_int_equal (m->reset->last_position, last);
    s_free (m);

    /* prune everything older than now: a subscriber from 0 is told */
    ln_db_t *w = s_writer ();
    uint64_t pruned = 0;
    assert_int_equal (ln_outbox_prune (w, (int64_t)time (NULL) * 1000000 + 1000000, &pruned, &err),
                      0);
    assert_true (pruned > 0);
    s_subscribe (c, 0, 10);
    m = ln_client_recv (c, 3000, &err);
    assert_non_null (m);
    assert_int_equal (m->kind_case, LANTERN__V1__SERVER_MESSAGE__KIND_RESET);
    assert_string_equal (m->reset->reason, "PRUNED");
    s_free (m);
    /* positions stay: new events continue after the pruned ones */
    assert_int_equal (ln_db_begin (w), 0);
    s_append (w, "after prune", NOTICE, LN_LEVEL_INTERN, 0);
    assert_int_equal (ln_db_commit (w), 0);
    s_subscribe (c, last, 10);
    uint64_t pos, prev;
    ln_event_t *ev = s_next_event (c, 3000, &pos, &prev);
    assert_non_null (ev);
    assert_int_equal (pos, last + 1);
    ln_event_destroy (&ev);
    ln_db_destroy (&w);
    ln_client_destroy (&c);
}

static void
test_verify_audit_over_the_wire (void **state)
{
    (void)state;
    ln_client_t *c = bus_client (s_keys, s_server, "op");
    Lantern__V1__VerifyAudit va = LANTERN__V1__VERIFY_AUDIT__INIT;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.request_id = "verify-1";
    req.command_case = LANTERN__V1__REQUEST__COMMAND_VERIFY_AUDIT;
    req.verify_audit = &va;
    Lantern__V1__ServerMessage *m = s_call (c, &req);
    assert_non_null (m);
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    assert_true (m->reply->verify_audit->ok);
    assert_true (m->reply->verify_audit->rows > 10);
    s_free (m);
    ln_client_destroy (&c);
}

/* A node with retention prunes old events at start and audits the purge. */
static void
test_retention_prunes_and_audits (void **state)
{
    (void)state;
    ln_db_t *w = s_writer ();
    int64_t two_days_ago = ((int64_t)time (NULL) - 2 * 86400) * 1000000;
    assert_int_equal (ln_db_begin (w), 0);
    for (int i = 0; i < 5; i++)
        s_append (w, "old", NOTICE, LN_LEVEL_INTERN, two_days_ago);
    assert_int_equal (ln_db_commit (w), 0);
    assert_int_equal (ln_db_begin (w), 0);
    s_append (w, "new", NOTICE, LN_LEVEL_INTERN, 0);
    assert_int_equal (ln_db_commit (w), 0);
    ln_db_destroy (&w);
    usleep (300 * 1000); /* let the node stamp them */
    uint64_t last = s_last_position ();

    bus_server_stop (&s_server);
    bus_server_config_t config = {
        .conninfo = s_conninfo,
        .schema = "bus",
        .node = "node",
        .rules = s_rules,
        .rule_count = 2,
        .project = s_project,
        .retention_ms = 86400 * 1000,
    };
    s_server = bus_server_start (s_keys, &config);
    assert_non_null (s_server);
    usleep (500 * 1000);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.audit WHERE action = 'RetentionPrune'"
                               " AND outcome = 'purged' AND principal = 'node'"),
                      1);
    /* only the new event is left, at its old position */
    assert_int_equal (s_count ("SELECT count(*) FROM bus.outbox"), 1);
    assert_int_equal (s_last_position (), last);
    ln_client_t *c = bus_client (s_keys, s_server, "op");
    s_subscribe (c, last - 1, 10);
    uint64_t pos, prev;
    ln_event_t *ev = s_next_event (c, 3000, &pos, &prev);
    assert_non_null (ev);
    assert_int_equal (pos, last);
    ln_event_destroy (&ev);
    ln_client_destroy (&c);
}

/* Stored replies are kept 7 days (docs/protocol.md 4.2).  The limit's
   both sides: a retry an hour and six days after the request gets the first
   reply; eight days after, the reply is gone (the node's expiry removes it
   at its next run: here a restart) and the retry is executed again. */
static void
test_stored_reply_age_boundaries (void **state)
{
    (void)state;
    ln_client_t *c = bus_client (s_keys, s_server, "op");
    Lantern__V1__ServerMessage *m = s_post (c, "age-1", "kept a week");
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    char first[64];
    snprintf (first, sizeof first, "%s", m->reply->post_notice->event_id);
    s_free (m);
    static const struct {
        const char *age;
        bool kept;
    } ages[] = {{"1 hour", true}, {"6 days", true}, {"8 days", false}};
    for (size_t i = 0; i < 3; i++) {
        char sql[256];
        snprintf (sql, sizeof sql,
                  "UPDATE bus.command_replies SET created_us = (extract (epoch FROM now ()"
                  " - interval '%s') * 1000000)::bigint WHERE request_id = 'age-1'",
                  ages[i].age);
        assert_int_equal (ln_pgfix_exec (s_pg, sql), 0);
        if (!ages[i].kept) {
            ln_client_destroy (&c);
            bus_server_stop (&s_server);
            bus_server_config_t config = {
                .conninfo = s_conninfo,
                .schema = "bus",
                .node = "node",
                .rules = s_rules,
                .rule_count = 2,
                .project = s_project,
            };
            s_server = bus_server_start (s_keys, &config);
            assert_non_null (s_server);
            c = bus_client (s_keys, s_server, "op");
            for (int w = 0; w < 50 && s_count ("SELECT count(*) FROM bus.command_replies"
                                               " WHERE request_id = 'age-1'") != 0;
                 w++)
                usleep (100 * 1000);
        }
        m = s_post (c, "age-1", "kept a week");
        assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
        if (ages[i].kept)
            assert_string_equal (m->reply->post_notice->event_id, first);
        else
            assert_string_not_equal (m->reply->post_notice->event_id, first);
        s_free (m);
    }
    ln_client_destroy (&c);
}

/* Issue 9 point 11: a command is named by its message.  Any command a node
   serves can be called as Request.call (google.protobuf.Any); its result
   comes back as Reply.call_result, an Any of the result type.  A type the
   node does not serve is UNKNOWN_COMMAND at call.type_url; bytes that are
   not that message are refused with the field path inside the command.
   The node's own ListUpstreams exists only this way. */
static Lantern__V1__ServerMessage *
s_call_any (ln_client_t *c, const char *rid, const char *type_url, const uint8_t *value,
            size_t size)
{
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    any.type_url = (char *)type_url;
    any.value.data = (uint8_t *)value;
    any.value.len = size;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.request_id = (char *)rid;
    req.command_case = LANTERN__V1__REQUEST__COMMAND_CALL;
    req.call = &any;
    return s_call (c, &req);
}

static void
test_commands_by_message_type_point11 (void **state)
{
    (void)state;
    ln_client_t *c = bus_client (s_keys, s_server, "op");
    long events = s_count ("SELECT count(*) FROM bus.outbox");

    Lantern__V1__PostNotice post = LANTERN__V1__POST_NOTICE__INIT;
    post.text = "through call";
    uint8_t buf[256];
    size_t size = lantern__v1__post_notice__pack (&post, buf);
    Lantern__V1__ServerMessage *m =
        s_call_any (c, "any-1", "type.googleapis.com/lantern.v1.PostNotice", buf, size);
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    assert_int_equal (m->reply->result_case, LANTERN__V1__REPLY__RESULT_CALL_RESULT);
    assert_string_equal (m->reply->call_result->type_url,
                         "type.googleapis.com/lantern.v1.PostNoticeResult");
    Lantern__V1__PostNoticeResult *r = lantern__v1__post_notice_result__unpack (
        NULL, m->reply->call_result->value.len, m->reply->call_result->value.data);
    assert_non_null (r);
    assert_int_equal (strlen (r->event_id), 32);
    lantern__v1__post_notice_result__free_unpacked (r, NULL);
    s_free (m);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.outbox"), events + 1);

    /* a node command that only exists this way */
    m = s_call_any (c, "any-2", "type.googleapis.com/lantern.v1.ListUpstreams", NULL, 0);
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    assert_string_equal (m->reply->call_result->type_url,
                         "type.googleapis.com/lantern.v1.UpstreamList");
    s_free (m);

    /* a message the node does not serve as a command */
    m = s_call_any (c, "any-3", "type.googleapis.com/lantern.v1.Notice", NULL, 0);
    assert_string_equal (m->reply->error->code, "UNKNOWN_COMMAND");
    assert_string_equal (m->reply->error->field, "call.type_url");
    assert_string_equal (m->reply->request_id, "any-3");
    s_free (m);

    /* bytes that are not the message: refused, with the path inside it */
    const uint8_t bad_utf8[] = {0x0a, 0x02, 0xc3, 0x28}; /* text = invalid UTF-8 */
    m = s_call_any (c, "any-4", "type.googleapis.com/lantern.v1.PostNotice", bad_utf8,
                    sizeof bad_utf8);
    assert_string_equal (m->reply->error->code, "PB_INVALID_UTF8");
    assert_string_equal (m->reply->error->field, "text");
    s_free (m);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.outbox"), events + 1);
    assert_int_equal (s_count ("SELECT count(*) FROM bus.audit WHERE request_id IN"
                               " ('any-3', 'any-4') AND outcome = 'refused'"),
                      2);
    ln_client_destroy (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_ping_reads_principal),
        cmocka_unit_test (test_ping_last_position_is_fresh),
        cmocka_unit_test (test_retry_returns_first_reply),
        cmocka_unit_test (test_forbidden_is_refused_and_audited),
        cmocka_unit_test (test_invalid_argument_changes_nothing),
        cmocka_unit_test (test_malformed_frames_change_nothing),
        cmocka_unit_test (test_group_commit),
        cmocka_unit_test (test_two_writers_exactly_once_in_order),
        cmocka_unit_test (test_credit_bounds_delivery),
        cmocka_unit_test (test_unconfirmed_bytes_are_bounded),
        cmocka_unit_test (test_roles_levels_and_projection),
        cmocka_unit_test (test_unregistered_key_gets_nothing),
        cmocka_unit_test (test_verify_audit_over_the_wire),
        cmocka_unit_test (test_reset_when_ahead_or_pruned),
        cmocka_unit_test (test_retention_prunes_and_audits),
        cmocka_unit_test (test_commands_by_message_type_point11),
        cmocka_unit_test (test_stored_reply_age_boundaries),
    };
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
