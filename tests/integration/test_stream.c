/*  test_stream: the event stream against a registered but hostile peer
    (issue 9, points 1, 2, 3 and 5), through a real node process
    (tests/progs/busnode) over real CURVE sockets.

    A registered key may be curious or careless: the state a Subscribe
    makes belongs to the connection and principal that made it and dies
    with the connection (point 1); a routing id a client chooses is not an
    identity (point 2); the memory one principal, and all of them, can make
    the node hold is bounded and given back (point 3); every stream is in
    the audit trail, from where it started to what it delivered (point 5).
    Also: a Subscribe the node cannot serve is answered (Reset LIMIT,
    FORBIDDEN) rather than left waiting, and the level boundary: an event
    exactly one level above the subscriber's maximum is never sent.

    Each test starts its own node with the limits it needs, on a fresh
    schema, and talks raw protocol through DEALER sockets it makes itself
    (so that it can choose routing ids and never read, as a hostile client
    would).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bus_fixture.h"
#include "lantern.pb-c.h"
#include "ln_auth.h"
#include "ln_db.h"
#include "ln_log.h"
#include "ln_outbox.h"
#include "pg_fixture.h"
#include "proc_child.h"
#include "wire.pb-c.h"

#define NOTICE   "nl.lantern.notice.posted.v1"
#define READY_MS 20000

static ln_pgfix_t *s_pg;
static bus_keys_t *s_keys;
static char s_busnode[PATH_MAX];
static char s_log[PATH_MAX];

typedef struct {
    proc_child_t *child;
    char endpoint[256];
    char schema[32];
    char z85[64];
} node_t;

static int s_schemas;

/* Start a node on a fresh schema: rules give role "triage" everything,
   role "reader" notices; `limits` as busnode's --limits (NULL: defaults). */
static node_t *
s_node_start (const char *limits)
{
    node_t *n = calloc (1, sizeof *n);
    snprintf (n->schema, sizeof n->schema, "stream%d", ++s_schemas);
    char certfile[PATH_MAX];
    snprintf (certfile, sizeof certfile, "%s", bus_keys_secret (s_keys, "node"));
    const char *argv[32];
    int a = 0;
    argv[a++] = s_busnode;
    argv[a++] = "--node";
    argv[a++] = "streamnode";
    argv[a++] = "--endpoint";
    argv[a++] = "tcp://127.0.0.1:*";
    argv[a++] = "--db";
    argv[a++] = ln_pgfix_conninfo (s_pg);
    argv[a++] = "--schema";
    argv[a++] = n->schema;
    argv[a++] = "--cert";
    argv[a++] = certfile;
    argv[a++] = "--registry";
    argv[a++] = bus_keys_registry (s_keys);
    argv[a++] = "--rule";
    argv[a++] = "triage,*,full";
    argv[a++] = "--rule";
    argv[a++] = "reader," NOTICE ",full";
    argv[a++] = "--log-level";
    argv[a++] = "warn";
    if (limits) {
        argv[a++] = "--limits";
        argv[a++] = limits;
    }
    argv[a] = NULL;
    n->child = proc_child_start ((char *const *)argv, s_log, NULL);
    assert_non_null (n->child);
    assert_int_equal (
        proc_child_wait_line (n->child, "ready ", n->endpoint, sizeof n->endpoint, READY_MS), 0);
    snprintf (n->z85, sizeof n->z85, "%s", bus_keys_public_z85 (s_keys, "node"));
    return n;
}

static void
s_node_stop (node_t **n_p)
{
    node_t *n = *n_p;
    assert_int_equal (proc_child_signal (n->child, SIGTERM), 0);
    int status = -1;
    assert_int_equal (proc_child_wait (n->child, 10000, &status), 0);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
    proc_child_destroy (&n->child);
    free (n);
    *n_p = NULL;
}

static long s_count (const node_t *n, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
static long
s_count (const node_t *n, const char *fmt, ...)
{
    char sql[1024], full[1200];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (sql, sizeof sql, fmt, ap);
    va_end (ap);
    /* "@" stands for the node's schema */
    size_t j = 0;
    for (const char *p = sql; *p && j + 40 < sizeof full; p++) {
        if (*p == '@')
            j += (size_t)snprintf (full + j, sizeof full - j, "%s", n->schema);
        else
            full[j++] = *p;
    }
    full[j] = '\0';
    char *v = ln_pgfix_query_value (s_pg, full, 0, NULL);
    long r = v ? strtol (v, NULL, 10) : -1;
    free (v);
    return r;
}

/* A raw DEALER to the node as `name`; routing_id (may be NULL) of size
   rid_size is set before connecting, as a client may choose. */
static zsock_t *
s_dealer (const node_t *n, const char *name, const void *routing_id, size_t rid_size)
{
    ln_error_t err;
    zcert_t *cert = bus_keys_cert (s_keys, name);
    assert_non_null (cert);
    zsock_t *s = ln_auth_client_socket (ZMQ_DEALER, n->endpoint, cert, n->z85, &err);
    zcert_destroy (&cert);
    assert_non_null (s);
    if (routing_id) {
        assert_int_equal (zmq_setsockopt (zsock_resolve (s), ZMQ_ROUTING_ID, routing_id, rid_size),
                          0);
        assert_int_equal (zsock_disconnect (s, "%s", n->endpoint), 0);
        assert_int_equal (zsock_connect (s, "%s", n->endpoint), 0);
    }
    return s;
}

static void
s_send (zsock_t *s, const Lantern__V1__ClientMessage *cm)
{
    uint8_t buf[512];
    size_t size = lantern__v1__client_message__pack (cm, buf);
    assert_true (size <= sizeof buf);
    assert_int_equal (zmq_send (zsock_resolve (s), buf, size, 0), (int)size);
}

static void
s_subscribe (zsock_t *s, uint64_t after, uint32_t credit)
{
    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    sub.after_position = after;
    sub.credit = credit;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    cm.subscribe = &sub;
    s_send (s, &cm);
}

static void
s_credit (zsock_t *s, uint32_t credit)
{
    Lantern__V1__Credit cr = LANTERN__V1__CREDIT__INIT;
    cr.credit = credit;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_CREDIT;
    cm.credit = &cr;
    s_send (s, &cm);
}

static void
s_request (zsock_t *s, const char *id, Lantern__V1__Request *req)
{
    req->request_id = (char *)id;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    cm.request = req;
    s_send (s, &cm);
}

static void
s_ping (zsock_t *s, const char *id)
{
    Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.command_case = LANTERN__V1__REQUEST__COMMAND_PING;
    req.ping = &ping;
    s_request (s, id, &req);
}

/* The next message within timeout_ms, or NULL. */
static Lantern__V1__ServerMessage *
s_recv (zsock_t *s, int timeout_ms)
{
    zmq_pollitem_t item = {zsock_resolve (s), 0, ZMQ_POLLIN, 0};
    if (zmq_poll (&item, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    if (zmq_msg_recv (&msg, zsock_resolve (s), 0) < 0) {
        zmq_msg_close (&msg);
        return NULL;
    }
    Lantern__V1__ServerMessage *m =
        lantern__v1__server_message__unpack (NULL, zmq_msg_size (&msg), zmq_msg_data (&msg));
    zmq_msg_close (&msg);
    assert_non_null (m);
    return m;
}

static void
s_free (Lantern__V1__ServerMessage *m)
{
    if (m)
        lantern__v1__server_message__free_unpacked (m, NULL);
}

/* Read until the Pong of `id`; returns the Reset that came before it, if
   any (the caller frees), and counts Delivers in *delivers (may be NULL). */
static Lantern__V1__ServerMessage *
s_until_pong (zsock_t *s, const char *id, int *delivers)
{
    Lantern__V1__ServerMessage *reset = NULL;
    for (;;) {
        Lantern__V1__ServerMessage *m = s_recv (s, 5000);
        assert_non_null (m);
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_REPLY &&
            strcmp (m->reply->request_id, id) == 0) {
            s_free (m);
            return reset;
        }
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_RESET && !reset) {
            reset = m;
            continue;
        }
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER && delivers)
            (*delivers)++;
        s_free (m);
    }
}

/* Append n notices of `text_size` bytes of text at `level`, straight into
   the node's log (as its commands would), in batches. */
static void
s_fill (const node_t *n, size_t count, size_t text_size, ln_level_t level)
{
    ln_error_t err;
    ln_db_t *db = ln_db_connect (ln_pgfix_conninfo (s_pg), n->schema, NULL, &err);
    assert_non_null (db);
    char *text = malloc (text_size + 1);
    memset (text, 'x', text_size);
    text[text_size] = '\0';
    Lantern__V1__Notice notice = LANTERN__V1__NOTICE__INIT;
    notice.text = text;
    notice.author = "op";
    size_t size = lantern__v1__notice__get_packed_size (&notice);
    uint8_t *payload = malloc (size);
    lantern__v1__notice__pack (&notice, payload);
    ln_outbox_event_t ev[500];
    for (size_t i = 0; i < 500; i++)
        ev[i] = (ln_outbox_event_t){NULL, NOTICE, level, NULL, 0, payload, size};
    for (size_t done = 0; done < count;) {
        size_t k = count - done < 500 ? count - done : 500;
        assert_int_equal (ln_db_begin (db), 0);
        assert_int_equal (ln_outbox_append_batch (db, ev, k, NULL, &err), 0);
        assert_int_equal (ln_db_commit (db), 0);
        done += k;
    }
    free (payload);
    free (text);
    ln_db_destroy (&db);
}

/* --- fixture -------------------------------------------------------------------------- */

static int
s_setup (void **state)
{
    (void)state;
    ln_log_init ("test-stream", LN_LOG_WARN);
    char variant[PATH_MAX - 64];
    if (proc_variant_dir (NULL, variant, sizeof variant) != 0)
        return -1;
    snprintf (s_busnode, sizeof s_busnode, "%s/progs/busnode", variant);
    snprintf (s_log, sizeof s_log, "%s/../test-logs/test_stream.busnode.log", variant);
    if (access (s_busnode, X_OK) != 0) {
        fprintf (stderr, "# busnode not found at %s\n", s_busnode);
        return -1;
    }
    s_pg = ln_pgfix_new ("stream");
    s_keys = bus_keys_new ();
    if (!s_pg || !s_keys)
        return -1;
    /* the node; a follower allowed everything; readers of notices; a key
       the policy gives nothing; a stranger of no registry */
    if (bus_keys_add (s_keys, "node", "node", "geheim", true) != 0 ||
        bus_keys_add (s_keys, "triage", "triage", "vertrouwelijk", true) != 0 ||
        bus_keys_add (s_keys, "reader", "reader", "intern", true) != 0 ||
        bus_keys_add (s_keys, "reader2", "reader", "intern", true) != 0 ||
        bus_keys_add (s_keys, "reader3", "reader", "intern", true) != 0 ||
        bus_keys_add (s_keys, "outsider", "nothing", "geheim", true) != 0)
        return -1;
    return 0;
}

static int
s_teardown (void **state)
{
    (void)state;
    bus_keys_destroy (&s_keys);
    ln_pgfix_destroy (&s_pg);
    return 0;
}

/* --- point 1 ----------------------------------------------------------------------------- */

/* Point 1: a subscription dies with its connection.  A key subscribes and
   disconnects, again and again, while it has nothing to receive: no slot
   stays taken (a principal may hold 2 here, so a leftover would make the
   third Subscribe a LIMIT), each ending is audited, and a follower still
   subscribes and receives afterwards. */
static void
test_point1_subscriptions_die_with_their_connection (void **state)
{
    (void)state;
    node_t *n = s_node_start ("6,2,4,8");
    const int cycles = 150;
    char id[32];
    for (int i = 0; i < cycles; i++) {
        zsock_t *s = s_dealer (n, "reader", NULL, 0);
        s_subscribe (s, 0, 10);
        snprintf (id, sizeof id, "p-%d", i);
        s_ping (s, id);
        Lantern__V1__ServerMessage *reset = s_until_pong (s, id, NULL);
        if (reset)
            fail_msg ("cycle %d: Reset %s: %s", i, reset->reset->reason, reset->reset->message);
        zsock_destroy (&s);
    }
    /* every one of them ended, in the audit trail */
    long ended = 0;
    for (int wait = 0; wait < 100 && ended < cycles; wait++) {
        usleep (100 * 1000);
        ended = s_count (n, "SELECT count(*) FROM @.audit WHERE principal = 'reader'"
                            " AND action = 'StreamEnded' AND reason LIKE 'why=disconnected %%'");
    }
    assert_int_equal (ended, cycles);
    /* and a follower is served */
    zsock_t *t = s_dealer (n, "triage", NULL, 0);
    s_subscribe (t, 0, 100);
    s_fill (n, 3, 10, LN_LEVEL_INTERN);
    int got = 0;
    for (Lantern__V1__ServerMessage *m; got < 3 && (m = s_recv (t, 5000)); s_free (m))
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER)
            got++;
    assert_int_equal (got, 3);
    zsock_destroy (&t);
    s_node_stop (&n);
}

/* Point 1: a Subscribe that cannot be served is answered: beyond the
   node's subscriptions (6 here) a LIMIT Reset with a retry time, beyond a
   principal's (2 here) too; a key the policy gives nothing is told
   FORBIDDEN instead of waiting for ever. */
static void
test_point1_full_node_answers_limit (void **state)
{
    (void)state;
    node_t *n = s_node_start ("4,2,4,8");
    const char *who[4] = {"reader", "reader", "reader2", "reader2"};
    zsock_t *s[4];
    char id[32];
    for (int i = 0; i < 4; i++) {
        s[i] = s_dealer (n, who[i], NULL, 0);
        s_subscribe (s[i], 0, 10);
        snprintf (id, sizeof id, "ok-%d", i);
        s_ping (s[i], id);
        assert_null (s_until_pong (s[i], id, NULL));
    }
    /* a third of one principal, one more of the node */
    const char *more[2] = {"reader", "reader3"};
    for (int i = 0; i < 2; i++) {
        zsock_t *x = s_dealer (n, more[i], NULL, 0);
        s_subscribe (x, 0, 10);
        s_ping (x, "full");
        Lantern__V1__ServerMessage *r = s_until_pong (x, "full", NULL);
        assert_non_null (r);
        assert_string_equal (r->reset->reason, "LIMIT");
        assert_true (r->reset->retry_after_ms > 0);
        s_free (r);
        zsock_destroy (&x);
    }
    /* the policy gives this key nothing */
    zsock_t *o = s_dealer (n, "outsider", NULL, 0);
    s_subscribe (o, 0, 10);
    s_ping (o, "nothing");
    Lantern__V1__ServerMessage *r = s_until_pong (o, "nothing", NULL);
    assert_non_null (r);
    assert_string_equal (r->reset->reason, "FORBIDDEN");
    s_free (r);
    zsock_destroy (&o);
    for (int i = 0; i < 4; i++)
        zsock_destroy (&s[i]);
    s_node_stop (&n);
}

/* --- point 2 ----------------------------------------------------------------------------- */

/* Point 2: a routing id is not an identity.  A follower that chose its own
   routing id subscribes and leaves; a key the policy gives nothing
   connects with the same routing id and sends Credit: it must receive
   none of what the follower would have.  A stream asked for with a routing
   id that is not the node's own kind is refused outright. */
static void
test_point2_routing_id_is_not_an_identity (void **state)
{
    (void)state;
    node_t *n = s_node_start (NULL);
    /* a chosen id of the ROUTER's own shape: the hardest case */
    const uint8_t rid[5] = {0, 'A', 'B', 'C', 'D'};
    zsock_t *victim = s_dealer (n, "triage", rid, sizeof rid);
    s_subscribe (victim, 0, 100);
    s_ping (victim, "v");
    assert_null (s_until_pong (victim, "v", NULL));
    zsock_destroy (&victim);
    usleep (300 * 1000);

    zsock_t *thief = s_dealer (n, "outsider", rid, sizeof rid);
    s_credit (thief, 100);
    s_ping (thief, "t");
    int delivers = 0;
    assert_null (s_until_pong (thief, "t", &delivers));
    s_fill (n, 5, 10, LN_LEVEL_INTERN);
    for (Lantern__V1__ServerMessage *m; (m = s_recv (thief, 1500)); s_free (m))
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER)
            delivers++;
    assert_int_equal (delivers, 0);
    zsock_destroy (&thief);

    /* any other chosen routing id: no stream at all */
    zsock_t *named = s_dealer (n, "triage", "victim", 6);
    s_subscribe (named, 0, 100);
    s_ping (named, "n");
    Lantern__V1__ServerMessage *r = s_until_pong (named, "n", NULL);
    assert_non_null (r);
    assert_string_equal (r->reset->reason, "FORBIDDEN");
    s_free (r);
    zsock_destroy (&named);
    s_node_stop (&n);
}

/* --- point 3 ----------------------------------------------------------------------------- */

/* Point 3: the memory a principal can pin is bounded, and given back.
   150 subscriptions of one key that never read and never confirm, on a
   log of about 20 MB: the node holds no more than the principal's cap
   (16 MiB here) beyond what it held before, and returns to about that
   once they are gone.  One connection that subscribes again and again
   without confirming pins no more either. */
static void
test_point3_memory_a_principal_pins_is_bounded (void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    /* AddressSanitizer keeps freed memory in quarantine and pads every
       allocation: the process's RSS says nothing about what the node
       holds.  The plain build measures it. */
    skip ();
#endif
    node_t *n = s_node_start ("1024,200,16,32");
    s_fill (n, 20000, 1000, LN_LEVEL_INTERN);
    pid_t pid = proc_child_pid (n->child);
    /* a warm-up follower reads it all once (the node's own buffers) */
    zsock_t *w = s_dealer (n, "triage", NULL, 0);
    s_subscribe (w, 0, 10000);
    for (int got = 0; got < 20000;) {
        Lantern__V1__ServerMessage *m = s_recv (w, 5000);
        assert_non_null (m);
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER) {
            got++;
            if (got % 500 == 0)
                s_credit (w, 500);
        }
        s_free (m);
    }
    zsock_destroy (&w);
    usleep (1500 * 1000);
    long base = proc_rss_kib (pid);
    assert_true (base > 0);

    zsock_t *stalled[150];
    for (int i = 0; i < 150; i++) {
        stalled[i] = s_dealer (n, "reader", NULL, 0);
        zsock_set_rcvhwm (stalled[i], 1); /* and never read */
        s_subscribe (stalled[i], 0, 10000);
    }
    /* one connection that subscribes again and again */
    zsock_t *again = s_dealer (n, "reader2", NULL, 0);
    zsock_set_rcvhwm (again, 1);
    for (int i = 0; i < 50; i++)
        s_subscribe (again, 0, 10000);
    sleep (4);
    long held = proc_rss_kib (pid);
    /* reader's 16 MiB, reader2's 16 MiB (its one connection: 8 MiB), and
       room for 151 connections' own buffers */
    fprintf (stderr, "# rss: before %ld KiB, with 151 stalled %ld KiB\n", base, held);
    assert_true (held - base < 48 * 1024);
    for (int i = 0; i < 150; i++)
        zsock_destroy (&stalled[i]);
    zsock_destroy (&again);
    sleep (3);
    long after = proc_rss_kib (pid);
    fprintf (stderr, "# rss: after they left %ld KiB\n", after);
    assert_true (after - base < 16 * 1024);
    s_node_stop (&n);
}

/* --- point 5 and the level boundary ---------------------------------------------------------- */

/* Point 5: a stream is audited: who subscribed from where and in which
   projection, and when it ended, with what it delivered. */
static void
test_point5_stream_is_audited (void **state)
{
    (void)state;
    node_t *n = s_node_start (NULL);
    s_fill (n, 4, 10, LN_LEVEL_INTERN);
    zsock_t *t = s_dealer (n, "triage", NULL, 0);
    s_subscribe (t, 1, 100);
    int got = 0;
    for (Lantern__V1__ServerMessage *m; got < 3 && (m = s_recv (t, 5000)); s_free (m))
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER)
            got++;
    assert_int_equal (got, 3);
    zsock_destroy (&t);
    long rows = 0;
    for (int wait = 0; wait < 50 && rows < 1; wait++) {
        usleep (100 * 1000);
        rows = s_count (n, "SELECT count(*) FROM @.audit WHERE principal = 'triage'"
                           " AND action = 'StreamEnded' AND outcome = 'read'"
                           " AND reason LIKE 'why=disconnected after=1 delivered=3 personal=0 %%'");
    }
    assert_int_equal (rows, 1);
    assert_int_equal (s_count (n, "SELECT count(*) FROM @.audit WHERE principal = 'triage'"
                                  " AND action = 'Subscribe' AND object = 'stream'"
                                  " AND outcome = 'read' AND reason = 'after=1 projection=policy'"),
                      1);
    s_node_stop (&n);
}

/* The level boundary: reader's maximum is intern; an event at intern is
   sent, one exactly one level above (zaakvertrouwelijk) is not. */
static void
test_level_exactly_one_above_is_not_delivered (void **state)
{
    (void)state;
    node_t *n = s_node_start (NULL);
    s_fill (n, 1, 10, LN_LEVEL_ZAAKVERTROUWELIJK);
    s_fill (n, 1, 10, LN_LEVEL_INTERN);
    zsock_t *r = s_dealer (n, "reader", NULL, 0);
    s_subscribe (r, 0, 100);
    Lantern__V1__ServerMessage *m = s_recv (r, 5000);
    assert_non_null (m);
    assert_int_equal (m->kind_case, LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER);
    assert_int_equal (m->deliver->position, 2); /* position 1 was skipped */
    assert_int_equal (m->deliver->previous_position, 0);
    s_free (m);
    assert_null (s_recv (r, 500));
    zsock_destroy (&r);
    s_node_stop (&n);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_point1_subscriptions_die_with_their_connection),
        cmocka_unit_test (test_point1_full_node_answers_limit),
        cmocka_unit_test (test_point2_routing_id_is_not_an_identity),
        cmocka_unit_test (test_point3_memory_a_principal_pins_is_bounded),
        cmocka_unit_test (test_point5_stream_is_audited),
        cmocka_unit_test (test_level_exactly_one_above_is_not_delivered),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
