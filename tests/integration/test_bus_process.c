/*  Process-level acceptance tests of the bus (issue 3): real PostgreSQL
    (pg_fixture), real CURVE sockets on 127.0.0.1, and nodes that are
    separate processes (tests/progs/busnode), so that they can be killed
    with SIGKILL at any moment and restarted.

    Each case has a producer node and, except the memory case, a consumer
    node that follows it and records every Notice it receives in its table
    `received` (same transaction as its cursor; no unique constraint, so a
    double shows as a second row).  The test posts the events itself:
    PostNotice from several client threads, each request with its own
    request_id, retried with the SAME request_id after a timeout or
    UNAVAILABLE until it is OK.  Then it checks, from the database:
      - the consumer holds every event exactly once: n rows, n distinct
        event_ids, positions exactly 1..n, n distinct texts, each text the
        one posted under its index, with the event_id the node replied;
      - the producer committed every request exactly once: n outbox rows,
        each the (position, event_id) the consumer holds, n stored replies.

    Cases:
      1. kill -9 of the producer 3-5 times during a stream of 10,000 events
         (the stream goes on against the node restarted on the same
         endpoint); one of the kills lands inside a COMMIT (see
         s_slow_commits), so that committed requests go unanswered and the
         retries must be answered from the stored replies;
      2. kill -9 of the consumer 3-5 times, one of them inside the COMMIT of
         a batch with its cursor;
      3. PostgreSQL restarted twice during a stream: the same processes
         carry on, nothing lost, nothing doubled;
      4. a subscriber that stops reading (credit 100): the producer's RSS
         stays flat while it takes 20,000 more events, and the subscriber
         got exactly its credit; then one with the largest credit (10,000)
         that stops reading, and subscribes again without reading: the
         producer must wait quietly (no busy loop: CPU checked);
      5. the checks can fail: they catch a doubled row (end of case 2), and
         a consumer that applies outside its transaction (busnode's fault
         injection), killed with -9.

    Randomness is seeded (LANTERN_TEST_SEED=N repeats a run; the seed is
    printed first).  Event counts are smaller under ASan, which is slower,
    except that the plain build keeps the 10,000 events for the
    kill -9 cases.  LANTERN_TEST_FILTER=<pattern> runs some cases only;
    LANTERN_KEEP_LOGS=1 keeps the nodes' logs (printed on failure anyway).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bus_fixture.h"
#include "ln_client.h"
#include "ln_log.h"
#include "pg_fixture.h"
#include "proc_child.h"
#include "run_cmd.h"

#if defined(__SANITIZE_ADDRESS__)
#define S_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define S_ASAN 1
#endif
#endif
#ifndef S_ASAN
#define S_ASAN 0
#endif

#define NOTICE_TYPE     "nl.lantern.notice.posted.v1"
#define POSTERS         32                    /* client threads */
#define CALL_TIMEOUT    (S_ASAN ? 1000 : 500) /* ms before a request is sent again */
#define READY_MS        30000                 /* a node must print "ready" within this */
#define IDLE_MS         "300" /* consumer: resubscribe after this long without a Deliver */
#define CONSUMER_CREDIT "250" /* small batches: more transactions to be killed in */
#define MAX_NODES       4
#define TEXT_MAX        1000 /* PostNotice's limit */

/* Counts: see the header comment. */
#define N_KILL       (S_ASAN ? 4000 : 10000)
#define N_PG_RESTART (S_ASAN ? 2000 : 3000)
#define N_MEM_WARM   (S_ASAN ? 1000 : 2000)
#define N_MEM_LOAD   (S_ASAN ? 16000 : 20000)
#define N_BROKEN     1000
#define WAIT_MS      (S_ASAN ? 180000 : 60000) /* for a stream to be fully consumed */

/* --- group state ------------------------------------------------------------------ */

static ln_pgfix_t *s_pg;
static bus_keys_t *s_keys;
static char s_busnode[PATH_MAX];
static char s_tmp[64]; /* node logs */
static char s_producer_pub[PATH_MAX];
static char s_producer_z85[64];
static unsigned s_seed;
static int s_case_no;
static PGconn *s_conn; /* the test's own look at the database */

/* --- nodes ---------------------------------------------------------------------- */

typedef struct {
    char node[32]; /* --node, [a-z0-9-] */
    char schema[32];
    const char *conninfo; /* the node's own role (owned by the fixture) */
    char endpoint[64];    /* where it binds: fixed for a producer */
    char bound[128];      /* what it said it bound */
    char follow[PATH_MAX + 128];
    char log[PATH_MAX];
    const char *extra[8];   /* more arguments, NULL-terminated */
    const char *const *env; /* extra environment */
    proc_child_t *child;
    int starts;
} node_t;

static node_t s_nodes[MAX_NODES];
static int s_nnodes;
static bool s_case_ok;
static ln_client_t *s_raw[2]; /* the case's raw subscribers, destroyed in teardown */

static node_t *
s_node_new (const char *role, const char *node)
{
    assert_true (s_nnodes < MAX_NODES);
    node_t *n = &s_nodes[s_nnodes++];
    memset (n, 0, sizeof *n);
    snprintf (n->node, sizeof n->node, "%s-%d", node, s_case_no);
    char schema[32];
    snprintf (schema, sizeof schema, "%s%d", role, s_case_no);
    snprintf (n->schema, sizeof n->schema, "%s", schema);
    n->conninfo = ln_pgfix_create_role (s_pg, schema, schema);
    assert_non_null (n->conninfo);
    snprintf (n->endpoint, sizeof n->endpoint, "tcp://127.0.0.1:*");
    snprintf (n->log, sizeof n->log, "%s/%s.log", s_tmp, schema);
    return n;
}

/* A producer: a fixed endpoint, so that it can be restarted where its
   consumer and clients look for it. */
static node_t *
s_producer (const char *node)
{
    node_t *n = s_node_new ("p", node);
    int port = proc_free_port ();
    assert_true (port > 0);
    snprintf (n->endpoint, sizeof n->endpoint, "tcp://127.0.0.1:%d", port);
    return n;
}

static node_t *
s_consumer (const char *node, const node_t *upstream)
{
    node_t *n = s_node_new ("c", node);
    snprintf (n->follow, sizeof n->follow, "%s,%s,%s", upstream->node, upstream->endpoint,
              s_producer_pub);
    return n;
}

/* Start (or restart) a node and wait for "ready".  A restart on a fixed
   port may find it still held for a moment: try a few times. */
static int
s_node_start (node_t *n)
{
    char certfile[PATH_MAX];
    snprintf (certfile, sizeof certfile, "%s",
              bus_keys_secret (s_keys, n->follow[0] ? "consumer" : "producer"));
    for (int attempt = 0; attempt < 5; attempt++) {
        const char *argv[40];
        int a = 0;
        argv[a++] = s_busnode;
        argv[a++] = "--node";
        argv[a++] = n->node;
        argv[a++] = "--endpoint";
        argv[a++] = n->endpoint;
        argv[a++] = "--db";
        argv[a++] = n->conninfo;
        argv[a++] = "--schema";
        argv[a++] = n->schema;
        argv[a++] = "--cert";
        argv[a++] = certfile;
        argv[a++] = "--registry";
        argv[a++] = bus_keys_registry (s_keys);
        argv[a++] = "--rule";
        argv[a++] = "follower," NOTICE_TYPE ",full";
        if (n->follow[0]) {
            argv[a++] = "--follow";
            argv[a++] = n->follow;
            argv[a++] = "--idle-ms";
            argv[a++] = IDLE_MS;
            argv[a++] = "--credit";
            argv[a++] = CONSUMER_CREDIT;
        }
        for (int i = 0; n->extra[i]; i++)
            argv[a++] = n->extra[i];
        argv[a] = NULL;
        proc_child_destroy (&n->child);
        n->child = proc_child_start ((char *const *)argv, n->log, n->env);
        if (!n->child)
            return -1;
        if (proc_child_wait_line (n->child, "ready ", n->bound, sizeof n->bound, READY_MS) == 0) {
            n->starts++;
            return 0;
        }
        proc_child_destroy (&n->child);
        usleep (200 * 1000);
    }
    fprintf (stderr, "# %s did not start; see its log below\n", n->node);
    return -1;
}

/* kill -9, and reap it. */
static void
s_node_kill (node_t *n)
{
    assert_non_null (n->child);
    assert_int_equal (proc_child_signal (n->child, SIGKILL), 0);
    int status = 0;
    assert_int_equal (proc_child_wait (n->child, 10000, &status), 0);
    if (!WIFSIGNALED (status) || WTERMSIG (status) != SIGKILL)
        fprintf (stderr, "# %s had already ended before the kill: status 0x%x\n", n->node, status);
    assert_true (WIFSIGNALED (status) && WTERMSIG (status) == SIGKILL);
}

/* SIGTERM: the node must finish its batch and exit 0 (under ASan: also
   without a leak or an error report). */
static void
s_node_stop (node_t *n)
{
    assert_non_null (n->child);
    assert_int_equal (proc_child_signal (n->child, SIGTERM), 0);
    int status = -1;
    assert_int_equal (proc_child_wait (n->child, 20000, &status), 0);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
        fprintf (stderr, "# %s: SIGTERM gave status 0x%x\n", n->node, status);
    assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

static void
s_print_tail (const char *path, int lines)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return;
    char **ring = calloc ((size_t)lines, sizeof *ring);
    char buf[2048];
    long count = 0;
    while (fgets (buf, sizeof buf, f)) {
        if (strstr (buf, "msg=\"zap admitted\""))
            continue; /* one per connection: noise here */
        free (ring[count % lines]);
        ring[count % lines] = strdup (buf);
        count++;
    }
    fclose (f);
    fprintf (stderr, "# --- last lines of %s\n", path);
    for (long i = count > lines ? count - lines : 0; i < count; i++)
        fprintf (stderr, "#   %s", ring[i % lines]);
    for (int i = 0; i < lines; i++)
        free (ring[i]);
    free (ring);
}

/* --- the test's own database connection ----------------------------------------- */

/* One value of a superuser query as a number, or LLONG_MIN on error.
   Reconnects after a loss (PostgreSQL restarts in case 3). */
static long long s_value (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static long long
s_value (const char *fmt, ...)
{
    char sql[1024];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (sql, sizeof sql, fmt, ap);
    va_end (ap);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!s_conn || PQstatus (s_conn) != CONNECTION_OK) {
            PQfinish (s_conn);
            s_conn = PQconnectdb (ln_pgfix_conninfo (s_pg));
            if (PQstatus (s_conn) != CONNECTION_OK)
                continue;
        }
        PGresult *res = PQexec (s_conn, sql);
        long long v = LLONG_MIN;
        if (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) == 1 &&
            !PQgetisnull (res, 0, 0))
            v = strtoll (PQgetvalue (res, 0, 0), NULL, 10);
        else if (PQresultStatus (res) != PGRES_TUPLES_OK && PQstatus (s_conn) == CONNECTION_OK)
            fprintf (stderr, "# query failed: %s: %s", sql, PQerrorMessage (s_conn));
        PQclear (res);
        if (v != LLONG_MIN || PQstatus (s_conn) == CONNECTION_OK)
            return v;
    }
    return LLONG_MIN;
}

static long long
s_received (const node_t *consumer)
{
    return s_value ("SELECT count(*) FROM %s.received", consumer->schema);
}

/* --- posting ------------------------------------------------------------------------ */

typedef struct {
    const char *endpoint;
    char prefix[16];        /* request ids and texts: "<prefix>-<index>" */
    int n;                  /* indices 0..n-1 in all */
    int end;                /* this run posts indices up to end - 1 */
    size_t text_len;        /* texts are padded to this length */
    atomic_int next;        /* next index to post */
    atomic_int acked;       /* indices answered OK */
    atomic_int retries;     /* sends of a request after its first */
    atomic_int unavailable; /* UNAVAILABLE replies among them */
    atomic_int failed;      /* replies that are neither OK nor retryable */
    atomic_bool stop;
    char (*event_ids)[40]; /* per index, from its reply */
    long long deadline_ms;
    pthread_mutex_t lock;
    char error[256];
} posting_t;

typedef struct {
    posting_t *posting;
    ln_client_t *client;
} poster_t;

static long long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_text (const posting_t *p, int index, char *out, size_t size)
{
    int len = snprintf (out, size, "%s notice %06d ", p->prefix, index);
    size_t want = p->text_len < size ? p->text_len : size - 1;
    for (size_t i = (size_t)len; i < want; i++)
        out[i] = (char)('a' + (index + (int)i) % 26);
    if ((size_t)len < want)
        out[want] = '\0';
}

static void s_post_failed (posting_t *p, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_post_failed (posting_t *p, const char *fmt, ...)
{
    pthread_mutex_lock (&p->lock);
    if (!p->error[0]) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (p->error, sizeof p->error, fmt, ap);
        va_end (ap);
    }
    pthread_mutex_unlock (&p->lock);
    atomic_fetch_add (&p->failed, 1);
}

/* One client thread: takes the next index, posts it until OK. */
static void *
s_poster (void *arg)
{
    poster_t *me = arg;
    posting_t *p = me->posting;
    char text[TEXT_MAX + 1];
    char request_id[64];
    while (!atomic_load (&p->stop)) {
        int index = atomic_fetch_add (&p->next, 1);
        if (index >= p->end)
            break;
        snprintf (request_id, sizeof request_id, "%s-%d", p->prefix, index);
        s_text (p, index, text, sizeof text);
        Lantern__V1__PostNotice post = LANTERN__V1__POST_NOTICE__INIT;
        post.text = text;
        Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
        req.request_id = request_id;
        req.command_case = LANTERN__V1__REQUEST__COMMAND_POST_NOTICE;
        req.post_notice = &post;
        /* Until OK: the same request_id every time. */
        for (int attempt = 0;; attempt++) {
            if (atomic_load (&p->stop))
                return NULL;
            if (s_now_ms () > p->deadline_ms) {
                s_post_failed (p, "%s: no OK before the deadline", request_id);
                return NULL;
            }
            if (attempt > 0)
                atomic_fetch_add (&p->retries, 1);
            ln_error_t err;
            Lantern__V1__ServerMessage *m =
                ln_client_call (me->client, &req, CALL_TIMEOUT, 1, &err);
            if (!m)
                continue; /* CLIENT_TIMEOUT or CLIENT_SEND: the node is away */
            Lantern__V1__Reply *r = m->reply;
            if (r->status == LANTERN__V1__REPLY__STATUS__OK &&
                r->result_case == LANTERN__V1__REPLY__RESULT_POST_NOTICE &&
                r->post_notice->event_id) {
                snprintf (p->event_ids[index], sizeof p->event_ids[index], "%s",
                          r->post_notice->event_id);
                lantern__v1__server_message__free_unpacked (m, NULL);
                atomic_fetch_add (&p->acked, 1);
                break;
            }
            bool retry = r->status == LANTERN__V1__REPLY__STATUS__ERROR && r->error &&
                         strcmp (r->error->code, "UNAVAILABLE") == 0;
            if (!retry)
                s_post_failed (p, "%s: status %d code %s", request_id, (int)r->status,
                               r->error ? r->error->code : "-");
            lantern__v1__server_message__free_unpacked (m, NULL);
            if (!retry)
                return NULL;
            atomic_fetch_add (&p->unavailable, 1);
            usleep (50 * 1000);
        }
    }
    return NULL;
}

typedef struct {
    posting_t posting;
    poster_t posters[POSTERS];
    pthread_t threads[POSTERS];
    bool running;
} posters_t;

static posters_t *s_posters; /* the case's, stopped in teardown if still running */

/* Prepare to post indices 0..n-1 to the producer (texts of text_len). */
static posters_t *
s_posters_new (const node_t *producer, int n, size_t text_len)
{
    posters_t *ps = calloc (1, sizeof *ps);
    assert_non_null (ps);
    posting_t *p = &ps->posting;
    p->endpoint = producer->endpoint;
    snprintf (p->prefix, sizeof p->prefix, "k%d", s_case_no);
    p->n = n;
    p->text_len = text_len;
    p->event_ids = calloc ((size_t)n, sizeof *p->event_ids);
    assert_non_null (p->event_ids);
    pthread_mutex_init (&p->lock, NULL);
    atomic_init (&p->next, 0);
    atomic_init (&p->acked, 0);
    atomic_init (&p->retries, 0);
    atomic_init (&p->unavailable, 0);
    atomic_init (&p->failed, 0);
    atomic_init (&p->stop, false);
    s_posters = ps;
    return ps;
}

/* Start POSTERS client threads on indices first..end-1. */
static void
s_posting_go (posters_t *ps, int first, int end)
{
    posting_t *p = &ps->posting;
    assert_false (ps->running);
    p->end = end;
    atomic_store (&p->next, first);
    p->deadline_ms = s_now_ms () + WAIT_MS;
    /* The clients (connections) stay for the next run of the same posting. */
    if (!ps->posters[0].client) {
        zcert_t *cert = bus_keys_cert (s_keys, "op");
        assert_non_null (cert);
        for (int i = 0; i < POSTERS; i++) {
            ln_error_t err;
            ps->posters[i].posting = p;
            ps->posters[i].client = ln_client_new (p->endpoint, s_producer_z85, cert, &err);
            assert_non_null (ps->posters[i].client);
        }
        zcert_destroy (&cert);
    }
    for (int i = 0; i < POSTERS; i++)
        pthread_create (&ps->threads[i], NULL, s_poster, &ps->posters[i]);
    ps->running = true;
}

static void
s_posting_join (posters_t *ps)
{
    if (!ps->running)
        return;
    for (int i = 0; i < POSTERS; i++)
        pthread_join (ps->threads[i], NULL);
    ps->running = false;
}

/* Every index of the run posted (or a poster failed)? */
static bool
s_posting_over (posters_t *ps)
{
    return atomic_load (&ps->posting.next) >= ps->posting.end + POSTERS ||
           atomic_load (&ps->posting.failed) > 0;
}

/* Wait until every poster has its OK (or one failed); returns the
   posting's failure count. */
static int
s_posting_wait (posters_t *ps)
{
    s_posting_join (ps);
    if (ps->posting.error[0])
        fprintf (stderr, "# posting failed: %s\n", ps->posting.error);
    return atomic_load (&ps->posting.failed);
}

static void
s_posters_free (posters_t *ps)
{
    if (!ps)
        return;
    atomic_store (&ps->posting.stop, true);
    s_posting_join (ps);
    for (int i = 0; i < POSTERS; i++)
        ln_client_destroy (&ps->posters[i].client);
    free (ps->posting.event_ids);
    pthread_mutex_destroy (&ps->posting.lock);
    free (ps);
}

static void
s_report (const char *what, posters_t *ps, long long started_ms)
{
    fprintf (stderr, "# %s: %d events posted in %.1f s, %d resends (%d after UNAVAILABLE)\n", what,
             ps->posting.n, (double)(s_now_ms () - started_ms) / 1000.0,
             atomic_load (&ps->posting.retries), atomic_load (&ps->posting.unavailable));
}

/* --- the checks ---------------------------------------------------------------------------- */

/* Every way "exactly once" can be broken, counted; each problem printed.
   Returns the number of problems (0: the consumer holds each of the n
   events exactly once, and the producer committed each request once). */
static int
s_check_exactly_once (const node_t *producer, const node_t *consumer, const posting_t *p)
{
    int problems = 0;
    const char *c = consumer->schema, *pr = producer->schema;
    long long n = p->n;
    struct {
        const char *what;
        long long got, want;
    } counts[] = {
        {"received rows", s_value ("SELECT count(*) FROM %s.received", c), n},
        {"distinct event_ids", s_value ("SELECT count(DISTINCT event_id) FROM %s.received", c), n},
        {"distinct positions", s_value ("SELECT count(DISTINCT position) FROM %s.received", c), n},
        {"lowest position", s_value ("SELECT min(position) FROM %s.received", c), 1},
        {"highest position", s_value ("SELECT max(position) FROM %s.received", c), n},
        {"distinct texts", s_value ("SELECT count(DISTINCT text) FROM %s.received", c), n},
        {"rows of another type or upstream",
         s_value ("SELECT count(*) FROM %s.received WHERE type <> '" NOTICE_TYPE
                  "' OR upstream <> '%s'",
                  c, producer->node),
         0},
        {"consumer cursor",
         s_value ("SELECT position FROM %s.stream_cursors WHERE upstream = '%s'", c,
                  producer->node),
         n},
        {"producer outbox rows", s_value ("SELECT count(*) FROM %s.outbox", pr), n},
        /* same author and organisation in every Notice: distinct payloads
           are distinct texts */
        {"distinct outbox payloads", s_value ("SELECT count(DISTINCT payload) FROM %s.outbox", pr),
         n},
        {"outbox rows without a position",
         s_value ("SELECT count(*) FROM %s.outbox WHERE position IS NULL", pr), 0},
        {"outbox rows the consumer holds at the same position",
         s_value ("SELECT count(*) FROM %s.outbox o JOIN %s.received r"
                  " ON r.event_id = o.event_id AND r.position = o.position",
                  pr, c),
         n},
        {"stored replies",
         s_value ("SELECT count(*) FROM %s.command_replies WHERE request_id LIKE '%s-%%'", pr,
                  p->prefix),
         n},
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
        if (counts[i].got != counts[i].want) {
            fprintf (stderr, "# exactly-once: %s: %lld, expected %lld\n", counts[i].what,
                     counts[i].got, counts[i].want);
            problems++;
        }

    /* Each text is the one posted under its index, with the event_id the
       node replied for that index. */
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT text, event_id FROM %s.received", c);
    PGresult *res = PQexec (s_conn, sql);
    if (PQresultStatus (res) != PGRES_TUPLES_OK) {
        fprintf (stderr, "# exactly-once: cannot read received: %s", PQerrorMessage (s_conn));
        problems++;
    }
    else {
        int bad = 0;
        char want[TEXT_MAX + 1];
        size_t plen = strlen (p->prefix);
        for (int row = 0; row < PQntuples (res); row++) {
            const char *text = PQgetvalue (res, row, 0);
            const char *id = PQgetvalue (res, row, 1);
            char *end = NULL;
            long index = -1;
            if (strncmp (text, p->prefix, plen) == 0 && strncmp (text + plen, " notice ", 8) == 0)
                index = strtol (text + plen + 8, &end, 10);
            if (index < 0 || index >= p->n) {
                if (bad++ < 5)
                    fprintf (stderr, "# exactly-once: a text nobody posted: %.60s\n", text);
                continue;
            }
            s_text (p, (int)index, want, sizeof want);
            if (strcmp (text, want) != 0 || strcmp (id, p->event_ids[index]) != 0) {
                if (bad++ < 5)
                    fprintf (
                        stderr,
                        "# exactly-once: index %ld: text or event_id (%s, replied %s) differ\n",
                        index, id, p->event_ids[index]);
            }
        }
        if (bad) {
            fprintf (stderr, "# exactly-once: %d rows differ from what was posted\n", bad);
            problems++;
        }
    }
    PQclear (res);
    return problems;
}

/* Wait until the consumer holds at least n rows (or the deadline). */
static long long
s_wait_received (const node_t *consumer, long long n, int timeout_ms)
{
    long long deadline = s_now_ms () + timeout_ms;
    long long got = -1;
    while (s_now_ms () < deadline) {
        got = s_received (consumer);
        if (got >= n)
            break;
        usleep (50 * 1000);
    }
    return got;
}

/* --- random moments --------------------------------------------------------------------------- */

static unsigned s_rand_state;

static int
s_rand (int lo, int hi) /* inclusive */
{
    return lo + (int)(rand_r (&s_rand_state) % (unsigned)(hi - lo + 1));
}

/* k sorted thresholds in [lo, hi]. */
static void
s_thresholds (int *out, int k, int lo, int hi)
{
    for (int i = 0; i < k; i++)
        out[i] = s_rand (lo, hi);
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
}

/* --- fixtures ---------------------------------------------------------------------------- */

static const char *s_argv0;

static int
s_group_setup (void **state)
{
    (void)state;
    ln_log_init ("test-bus-process", LN_LOG_WARN);
    char variant[PATH_MAX];
    if (proc_variant_dir (s_argv0, variant, sizeof variant) != 0)
        return -1;
    if (snprintf (s_busnode, sizeof s_busnode, "%s/progs/busnode", variant) >=
            (int)sizeof s_busnode ||
        access (s_busnode, X_OK) != 0) {
        fprintf (stderr, "# busnode not found at %s (make %s)\n", s_busnode, s_busnode);
        return -1;
    }
    const char *seed = getenv ("LANTERN_TEST_SEED");
    s_seed = seed && *seed ? (unsigned)strtoul (seed, NULL, 10)
                           : (unsigned)time (NULL) ^ (unsigned)getpid ();
    s_rand_state = s_seed;
    fprintf (stderr, "# test_bus_process: seed %u (LANTERN_TEST_SEED=%u repeats it), %s build\n",
             s_seed, s_seed, S_ASAN ? "asan" : "plain");
    snprintf (s_tmp, sizeof s_tmp, "/tmp/lantern-busproc.XXXXXX");
    if (!mkdtemp (s_tmp))
        return -1;
    s_pg = ln_pgfix_new ("busproc");
    s_keys = bus_keys_new ();
    if (!s_pg || !s_keys)
        return -1;
    if (bus_keys_add (s_keys, "producer", "node", "geheim", false) != 0 ||
        bus_keys_add (s_keys, "consumer", "follower", "intern", true) != 0 ||
        bus_keys_add (s_keys, "stalled", "follower", "intern", true) != 0 ||
        bus_keys_add (s_keys, "op", "operator", "intern", true) != 0)
        return -1;
    snprintf (s_producer_pub, sizeof s_producer_pub, "%s", bus_keys_public (s_keys, "producer"));
    const char *z85 = bus_keys_public_z85 (s_keys, "producer");
    if (!z85)
        return -1;
    snprintf (s_producer_z85, sizeof s_producer_z85, "%s", z85);
    return 0;
}

static int
s_group_teardown (void **state)
{
    (void)state;
    PQfinish (s_conn);
    s_conn = NULL;
    bus_keys_destroy (&s_keys);
    ln_pgfix_destroy (&s_pg);
    const char *keep = getenv ("LANTERN_KEEP_LOGS");
    if (keep && *keep)
        fprintf (stderr, "# node logs kept in %s\n", s_tmp);
    else if (s_tmp[0]) {
        char cmd[128];
        snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_tmp);
        if (system (cmd) != 0)
            fprintf (stderr, "# could not remove %s\n", s_tmp);
    }
    return 0;
}

static int
s_case_setup (void **state)
{
    (void)state;
    s_case_no++;
    s_nnodes = 0;
    s_case_ok = false;
    s_posters = NULL;
    return 0;
}

/* Children never outlive a case: SIGKILL whatever still runs (also after
   a failed assertion, when the case never reached its own stops). */
static int
s_case_teardown (void **state)
{
    (void)state;
    s_posters_free (s_posters);
    s_posters = NULL;
    for (int i = 0; i < 2; i++)
        ln_client_destroy (&s_raw[i]);
    for (int i = 0; i < s_nnodes; i++) {
        proc_child_destroy (&s_nodes[i].child);
        if (!s_case_ok)
            s_print_tail (s_nodes[i].log, 25);
    }
    s_nnodes = 0;
    return 0;
}

/* --- 1. kill -9 of the producer ----------------------------------------------------------------
 */

/* Make a node's transactions that write `table` linger in COMMIT: a
   deferred trigger sleeps once per transaction at commit time, after
   PostgreSQL has the COMMIT and before the node hears that it is done.  A
   node killed then has committed work it could not act on: a producer,
   requests it never answered (what an idempotent retry must survive); a
   consumer, a batch it never granted credit for.  (A kill at a random
   moment rarely hits this window: a transaction spends most of its time on
   its statements, not its commit.) */
static void
s_slow_commits (const node_t *n, const char *table, bool on)
{
    char sql[1024];
    if (on)
        snprintf (
            sql, sizeof sql,
            "CREATE FUNCTION %s.test_slow_commit () RETURNS trigger LANGUAGE plpgsql AS $$"
            " BEGIN"
            "   IF current_setting ('lantern_test.slept', true) IS DISTINCT FROM 'yes' THEN"
            "     PERFORM set_config ('lantern_test.slept', 'yes', true);"
            "     PERFORM pg_sleep (0.05);"
            "   END IF;"
            "   RETURN NULL;"
            " END $$;"
            "CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT OR UPDATE ON %s.%s"
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION %s.test_slow_commit ();",
            n->schema, n->schema, table, n->schema);
    else
        snprintf (sql, sizeof sql,
                  "DROP TRIGGER test_slow_commit ON %s.%s;"
                  "DROP FUNCTION %s.test_slow_commit ();",
                  n->schema, table, n->schema);
    assert_int_equal (ln_pgfix_exec (s_pg, sql), 0);
}

/* Wait (up to 10 s) until the node's database session is inside a COMMIT
   slowed by s_slow_commits.  True when caught. */
static bool
s_catch_commit (const node_t *n)
{
    const char *role = ln_pgfix_role_name (s_pg, n->schema);
    assert_non_null (role);
    long long until = s_now_ms () + 10000;
    while (s_now_ms () < until) {
        if (s_value ("SELECT count(*) FROM pg_stat_activity WHERE usename = '%s'"
                     " AND state = 'active' AND query = 'COMMIT' AND wait_event = 'PgSleep'",
                     role) > 0)
            return true;
        usleep (500);
    }
    return false;
}

static long long
s_replayed (const node_t *prod)
{
    return s_value ("SELECT count(*) FROM %s.audit WHERE reason = 'replayed stored reply'",
                    prod->schema);
}

static void
test_producer_killed (void **state)
{
    (void)state;
    long long t0 = s_now_ms ();
    node_t *prod = s_producer ("producer");
    node_t *cons = s_consumer ("consumer", prod);
    assert_int_equal (s_node_start (prod), 0);
    assert_int_equal (s_node_start (cons), 0);
    posters_t *ps = s_posters_new (prod, N_KILL, 60);
    s_posting_go (ps, 0, N_KILL);
    int kills = s_rand (3, 5);
    int at[5];
    s_thresholds (at, kills, N_KILL / 20, N_KILL * 9 / 10);
    /* One of the kills waits for a commit in flight; the others come at
       random moments. */
    int in_commit = s_rand (0, kills - 1);
    for (int k = 0; k < kills; k++) {
        while (atomic_load (&ps->posting.acked) < at[k] && atomic_load (&ps->posting.failed) == 0 &&
               s_now_ms () < ps->posting.deadline_ms)
            usleep (1000);
        bool caught = false;
        if (k == in_commit) {
            s_slow_commits (prod, "command_replies", true);
            caught = s_catch_commit (prod);
            assert_true (caught);
        }
        else
            usleep ((useconds_t)s_rand (0, 20000)); /* somewhere in a batch */
        long long acked = atomic_load (&ps->posting.acked);
        s_node_kill (prod);
        fprintf (stderr, "# producer killed (%d of %d) at %lld acknowledged events%s\n", k + 1,
                 kills, acked, caught ? ", during a COMMIT" : "");
        usleep ((useconds_t)s_rand (0, 300) * 1000); /* away for a moment */
        assert_int_equal (s_node_start (prod), 0);
        if (caught)
            s_slow_commits (prod, "command_replies", false);
    }
    assert_int_equal (s_posting_wait (ps), 0);
    assert_int_equal (atomic_load (&ps->posting.acked), N_KILL);
    assert_true (atomic_load (&ps->posting.retries) > 0); /* the kills were felt */
    s_report ("producer killed", ps, t0);
    /* The batch killed in its COMMIT was committed and never answered: its
       requests were sent again to the restarted node, which replied with
       the stored replies (and the checks below show nothing doubled). */
    long long replayed = s_replayed (prod);
    fprintf (stderr, "# producer killed: %lld requests answered from stored replies\n", replayed);
    assert_true (replayed > 0);

    assert_true (s_wait_received (cons, N_KILL, WAIT_MS) >= N_KILL);
    usleep (2 * 300 * 1000); /* two idle intervals: anything more would arrive now */
    assert_int_equal (s_check_exactly_once (prod, cons, &ps->posting), 0);
    assert_int_equal (prod->starts, kills + 1);
    s_node_stop (cons);
    s_node_stop (prod);
    fprintf (stderr, "# producer killed: done in %.1f s\n", (double)(s_now_ms () - t0) / 1000.0);
    s_case_ok = true;
}

/* --- 2. kill -9 of the consumer -----------------------------------------------------------------
 */

static void
test_consumer_killed (void **state)
{
    (void)state;
    long long t0 = s_now_ms ();
    node_t *prod = s_producer ("producer");
    node_t *cons = s_consumer ("consumer", prod);
    assert_int_equal (s_node_start (prod), 0);
    assert_int_equal (s_node_start (cons), 0);

    posters_t *ps = s_posters_new (prod, N_KILL, 60);
    s_posting_go (ps, 0, N_KILL);
    int kills = s_rand (3, 5);
    int at[5];
    s_thresholds (at, kills, N_KILL / 20, N_KILL * 9 / 10);
    /* One of the kills comes while a batch with its cursor is being
       committed (the cursor moves, the Credit is never sent); the others at
       random moments (mostly while a batch is applied: rolled back). */
    int in_commit = s_rand (0, kills - 1);
    for (int k = 0; k < kills; k++) {
        long long got = 0;
        while ((got = s_received (cons)) < at[k] && atomic_load (&ps->posting.failed) == 0 &&
               s_now_ms () < ps->posting.deadline_ms)
            usleep (2000);
        bool caught = false;
        if (k == in_commit) {
            s_slow_commits (cons, "stream_cursors", true);
            caught = s_catch_commit (cons);
            assert_true (caught);
        }
        else
            usleep ((useconds_t)s_rand (0, 20000));
        s_node_kill (cons);
        fprintf (stderr, "# consumer killed (%d of %d) at %lld received events%s\n", k + 1, kills,
                 got, caught ? ", during a COMMIT" : "");
        usleep ((useconds_t)s_rand (0, 300) * 1000);
        assert_int_equal (s_node_start (cons), 0);
        if (caught)
            s_slow_commits (cons, "stream_cursors", false);
    }
    assert_int_equal (s_posting_wait (ps), 0);
    assert_int_equal (atomic_load (&ps->posting.acked), N_KILL);
    s_report ("consumer killed", ps, t0);

    assert_true (s_wait_received (cons, N_KILL, WAIT_MS) >= N_KILL);
    usleep (2 * 300 * 1000);
    assert_int_equal (s_check_exactly_once (prod, cons, &ps->posting), 0);
    assert_int_equal (cons->starts, kills + 1);

    /* The checks can fail: a doubled row is caught. */
    assert_true (s_value ("WITH d AS (INSERT INTO %s.received SELECT * FROM %s.received"
                          " WHERE position = 7 RETURNING 1) SELECT count(*) FROM d",
                          cons->schema, cons->schema) == 1);
    fprintf (stderr, "# (self-check: a doubled row must be reported below)\n");
    assert_true (s_check_exactly_once (prod, cons, &ps->posting) > 0);
    s_node_stop (cons);
    s_node_stop (prod);
    fprintf (stderr, "# consumer killed: done in %.1f s\n", (double)(s_now_ms () - t0) / 1000.0);
    s_case_ok = true;
}

/* --- 3. PostgreSQL restarted -------------------------------------------------------------------
 */

static void
test_postgres_restarted (void **state)
{
    (void)state;
    long long t0 = s_now_ms ();
    node_t *prod = s_producer ("producer");
    node_t *cons = s_consumer ("consumer", prod);
    assert_int_equal (s_node_start (prod), 0);
    assert_int_equal (s_node_start (cons), 0);

    posters_t *ps = s_posters_new (prod, N_PG_RESTART, 60);
    s_posting_go (ps, 0, N_PG_RESTART);
    int at[2];
    s_thresholds (at, 2, N_PG_RESTART / 10, N_PG_RESTART * 8 / 10);
    for (int k = 0; k < 2; k++) {
        while (atomic_load (&ps->posting.acked) < at[k] && atomic_load (&ps->posting.failed) == 0 &&
               s_now_ms () < ps->posting.deadline_ms)
            usleep (1000);
        long long r0 = s_now_ms ();
        long long acked = atomic_load (&ps->posting.acked);
        assert_int_equal (ln_pgfix_restart (s_pg), 0);
        fprintf (stderr, "# PostgreSQL restarted at %lld acknowledged events (%lld ms)\n", acked,
                 s_now_ms () - r0);
        /* let the stream run again before the next restart */
        long long again = atomic_load (&ps->posting.acked) + 100;
        while (atomic_load (&ps->posting.acked) < again &&
               atomic_load (&ps->posting.acked) < N_PG_RESTART &&
               atomic_load (&ps->posting.failed) == 0 && s_now_ms () < ps->posting.deadline_ms)
            usleep (1000);
    }
    assert_int_equal (s_posting_wait (ps), 0);
    assert_int_equal (atomic_load (&ps->posting.acked), N_PG_RESTART);
    s_report ("PostgreSQL restarted", ps, t0);
    fprintf (stderr, "# PostgreSQL restarted: %lld requests answered from stored replies\n",
             s_replayed (prod));

    /* no manual step: the same processes carry on */
    assert_true (proc_child_running (prod->child));
    assert_true (proc_child_running (cons->child));
    assert_int_equal (prod->starts, 1);
    assert_int_equal (cons->starts, 1);
    assert_true (s_wait_received (cons, N_PG_RESTART, WAIT_MS) >= N_PG_RESTART);
    usleep (2 * 300 * 1000);
    assert_int_equal (s_check_exactly_once (prod, cons, &ps->posting), 0);
    s_node_stop (cons);
    s_node_stop (prod);
    fprintf (stderr, "# PostgreSQL restarted: done in %.1f s\n",
             (double)(s_now_ms () - t0) / 1000.0);
    s_case_ok = true;
}

/* --- 4. a subscriber that stops reading ---------------------------------------------------------
 */

/* The producer's RSS while the posters run: sampled every 10 ms; the
   highest at each tenth of the run is printed (the shape tells growth from
   noise). */
typedef struct {
    long max;  /* highest sample */
    long half; /* highest sample in the first half of the run */
    long tenth[11];
} rss_profile_t;

static void
s_rss_profile (proc_child_t *child, posters_t *ps, int first, rss_profile_t *prof)
{
    memset (prof, 0, sizeof *prof);
    int total = ps->posting.end - first;
    while (ps->running) {
        long rss = proc_rss_kib (proc_child_pid (child));
        int done = atomic_load (&ps->posting.acked) - first;
        int t = total > 0 ? done * 10 / total : 10;
        if (t >= 0 && t <= 10 && rss > prof->tenth[t])
            prof->tenth[t] = rss;
        if (s_posting_over (ps))
            break;
        usleep (10 * 1000);
    }
    s_posting_join (ps);
    usleep (300 * 1000);
    long rss = proc_rss_kib (proc_child_pid (child));
    if (rss > prof->tenth[10])
        prof->tenth[10] = rss;
    fprintf (stderr, "# producer RSS (KiB) by tenths of the load:");
    for (int t = 0; t <= 10; t++) {
        fprintf (stderr, " %ld", prof->tenth[t]);
        if (prof->tenth[t] > prof->max)
            prof->max = prof->tenth[t];
        if (t < 5 && prof->tenth[t] > prof->half)
            prof->half = prof->tenth[t];
    }
    fprintf (stderr, "\n");
}

/* A raw subscriber (principal "stalled") that subscribes from position 0
   with `credit` and then never reads nor grants.  A small kernel receive
   buffer on its side, so that what the producer sends it cannot hide in
   our kernel buffers: beyond our socket's queue (1,000 messages), anything
   the producer sent without credit would have to stay in the producer. */
static ln_client_t *
s_stalled_subscriber (const node_t *prod, uint32_t credit)
{
    zcert_t *cert = bus_keys_cert (s_keys, "stalled");
    ln_error_t err;
    ln_client_t *c = ln_client_new (prod->endpoint, s_producer_z85, cert, &err);
    zcert_destroy (&cert);
    assert_non_null (c);
    zsock_t *sock = ln_client_socket (c);
    zsock_set_rcvbuf (sock, 16 * 1024);
    /* socket options apply to new connections: connect again */
    assert_int_equal (zsock_disconnect (sock, "%s", prod->endpoint), 0);
    assert_int_equal (zsock_connect (sock, "%s", prod->endpoint), 0);
    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    sub.after_position = 0;
    sub.credit = credit;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    cm.subscribe = &sub;
    assert_int_equal (ln_client_send (c, &cm, &err), 0);
    return c;
}

/* CPU time (ms) that the node and its database session(s) use during the
   next `ms` milliseconds. */
static long
s_node_cpu_ms (const node_t *n, int ms)
{
    const char *role = ln_pgfix_role_name (s_pg, n->schema);
    assert_non_null (role);
    long long backend = s_value ("SELECT pid FROM pg_stat_activity WHERE usename = '%s'"
                                 " ORDER BY backend_start LIMIT 1",
                                 role);
    pid_t pids[2] = {proc_child_pid (n->child), backend > 0 ? (pid_t)backend : 0};
    long before = 0, after = 0;
    for (int i = 0; i < 2; i++)
        if (pids[i] > 0)
            before += proc_cpu_ms (pids[i]);
    usleep ((useconds_t)ms * 1000);
    for (int i = 0; i < 2; i++)
        if (pids[i] > 0)
            after += proc_cpu_ms (pids[i]);
    return after - before;
}

static void
test_stalled_subscriber_bounded (void **state)
{
    (void)state;
    long long t0 = s_now_ms ();
    node_t *prod = s_producer ("producer");
    /* ASan keeps freed memory in a quarantine (256 MB by default), which
       would show as growth whatever the producer holds: keep it small. */
    static char asan_env[1024];
    const char *asan = getenv ("ASAN_OPTIONS");
    snprintf (asan_env, sizeof asan_env, "ASAN_OPTIONS=%s%squarantine_size_mb=1", asan ? asan : "",
              asan && *asan ? ":" : "");
    static const char *env[2];
    env[0] = asan_env;
    env[1] = NULL;
    prod->env = env;
    assert_int_equal (s_node_start (prod), 0);

    /* Credit 100, then it never reads. */
    ln_client_t *stalled = s_raw[0] = s_stalled_subscriber (prod, 100);

    /* Warm up (connections, pools, the first 100 events sent), then
       measure while it takes N_MEM_LOAD events of ~900 bytes: ~1 KB each
       as a Deliver, ~19 MiB in all (plain), which the producer must not
       hold for the stalled subscriber. */
    posters_t *ps = s_posters_new (prod, N_MEM_WARM + N_MEM_LOAD, 900);
    posting_t *p = &ps->posting;
    s_posting_go (ps, 0, N_MEM_WARM);
    assert_int_equal (s_posting_wait (ps), 0);
    usleep (300 * 1000);
    long base = proc_rss_kib (proc_child_pid (prod->child));
    assert_true (base > 0);
    s_posting_go (ps, N_MEM_WARM, N_MEM_WARM + N_MEM_LOAD);
    rss_profile_t prof;
    s_rss_profile (prod->child, ps, N_MEM_WARM, &prof);
    assert_int_equal (atomic_load (&p->failed), 0);
    assert_int_equal (atomic_load (&p->acked), N_MEM_WARM + N_MEM_LOAD);
    long growth = prof.max - base;
    long late = prof.max - prof.half;
    fprintf (stderr,
             "# stalled subscriber: producer RSS %ld KiB after warm-up, at most %ld KiB while it "
             "took %d events (growth %ld KiB, of which %ld KiB in the second half), %.1f s\n",
             base, prof.max, N_MEM_LOAD, growth, late, (double)(s_now_ms () - t0) / 1000.0);
    /* The bounds.  What the producer may hold for the stalled subscriber
       is its credit: 100 Delivers, ~100 KB.  The rest of its memory is
       fixed-size (one outbox read of <= 500 rows, one command batch of
       <= 256 requests, libpq's and libzmq's buffers) and reached during
       the warm-up; what remains is allocator drift that levels off
       (observed: plain <= ~2 MiB, ASan ~6-8 MiB even with a 1 MB
       quarantine).  A producer that ignored credit would send the stream
       until its ROUTER's queue for the peer is full (SNDHWM: meant to be
       credit_max + 1,000 = 11,000 messages, ~10.5 MiB).  So:
         - the whole load: < 8 MiB (plain), < 16 MiB under ASan, whose
           allocator drift makes the plain bound meaningless there;
         - the second half of the load: < 4 MiB in both.  It would be
           ~half the stream (~9 MiB) if the producer kept what the
           subscriber does not take: by then our queue and the kernel's
           buffers are long full. */
    assert_true (growth < (S_ASAN ? 16384 : 8192));
    assert_true (late < 4096);

    /* It received exactly its credit, in order, nothing more. */
    ln_error_t err;
    int delivered = 0;
    uint64_t expect = 1;
    while (true) {
        Lantern__V1__ServerMessage *m = ln_client_recv (stalled, 500, &err);
        if (!m)
            break;
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER) {
            assert_int_equal (m->deliver->position, expect);
            expect++;
            delivered++;
        }
        lantern__v1__server_message__free_unpacked (m, NULL);
    }
    fprintf (stderr, "# stalled subscriber received %d Delivers (credit 100)\n", delivered);
    assert_int_equal (delivered, 100);
    ln_client_destroy (&s_raw[0]);

    /* The same with the largest credit (10,000): the producer sends until
       the window is used up or the subscriber's queue is full, and what
       cannot leave waits in its memory (for comparison with the above).
       Then it must wait quietly: a peer that does not read must cost the
       producer neither memory nor CPU.  And again after the subscriber
       subscribes anew without reading (a Subscribe starts a fresh window
       while the old Delivers still wait). */
    usleep (300 * 1000);
    long before = proc_rss_kib (proc_child_pid (prod->child));
    ln_client_t *greedy = s_raw[1] = s_stalled_subscriber (prod, 10000);
    long peak = before;
    for (int i = 0; i < 150; i++) {
        long rss = proc_rss_kib (proc_child_pid (prod->child));
        if (rss > peak)
            peak = rss;
        usleep (10 * 1000);
    }
    fprintf (stderr,
             "# for comparison, credit 10000 and never reading: producer RSS %ld -> %ld KiB"
             " (+%ld KiB) within 1.5 s\n",
             before, peak, peak - before);
    long cpu_stalled = s_node_cpu_ms (prod, 1000);
    Lantern__V1__Subscribe again = LANTERN__V1__SUBSCRIBE__INIT;
    again.after_position = 0;
    again.credit = 10000;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    cm.subscribe = &again;
    assert_int_equal (ln_client_send (greedy, &cm, &err), 0);
    usleep (500 * 1000);
    long cpu_again = s_node_cpu_ms (prod, 1000);
    fprintf (stderr,
             "# stalled subscriber with credit 10000: producer and its database session used "
             "%ld ms CPU in 1 s; after it subscribed again: %ld ms (bound 200)\n",
             cpu_stalled, cpu_again);
    /* An idle node uses next to nothing (heartbeats); 200 ms of CPU per
       second is a loop that keeps trying to send to a full queue. */
    assert_true (cpu_stalled < 200);
    assert_true (cpu_again < 200);
    ln_client_destroy (&s_raw[1]);
    s_node_stop (prod);
    s_case_ok = true;
}

/* --- 5. the checks can fail ------------------------------------------------------------------- */

/* A consumer that breaks exactly-once (busnode's fault injection: apply
   writes through a second, autocommit connection), killed with -9 while it
   applies: the events of the interrupted batch are recorded but the cursor
   is not moved, so they are applied again after the restart.  The same
   checks that pass in case 2 must catch it. */
static void
test_broken_consumer_is_caught (void **state)
{
    (void)state;
    long long t0 = s_now_ms ();
    node_t *prod = s_producer ("producer");
    node_t *cons = s_consumer ("consumer", prod);
    cons->extra[0] = "--fault-apply-outside-transaction";
    assert_int_equal (s_node_start (prod), 0);
    assert_int_equal (s_node_start (cons), 0);
    posters_t *ps = s_posters_new (prod, N_BROKEN, 60);
    s_posting_go (ps, 0, N_BROKEN);
    int at[3];
    s_thresholds (at, 3, N_BROKEN / 10, N_BROKEN * 8 / 10);
    for (int k = 0; k < 3; k++) {
        /* received grows only while a batch is being applied: kill then */
        while (s_received (cons) < at[k] && s_now_ms () < ps->posting.deadline_ms)
            usleep (1000);
        s_node_kill (cons);
        assert_int_equal (s_node_start (cons), 0);
    }
    assert_int_equal (s_posting_wait (ps), 0);
    /* the cursor gets to the end; the table has more than it should */
    long long deadline = s_now_ms () + WAIT_MS;
    while (s_value ("SELECT COALESCE (max (position), 0) FROM %s.stream_cursors", cons->schema) <
               N_BROKEN &&
           s_now_ms () < deadline)
        usleep (50 * 1000);
    fprintf (stderr, "# (self-check: the broken consumer's doubles must be reported below)\n");
    int problems = s_check_exactly_once (prod, cons, &ps->posting);
    fprintf (stderr, "# broken consumer: %d problems found, %.1f s\n", problems,
             (double)(s_now_ms () - t0) / 1000.0);
    assert_true (problems > 0);
    assert_true (s_received (cons) > N_BROKEN);
    s_case_ok = true;
}

/* --- 6. an operator resynchronises a stopped consumer with lanternctl -------------------- */

/* Run lanternctl as `who` against node n, whose key pair is `node_key`: its
   exit status, and its stdout in *out (caller frees; out may be NULL). */
static int
s_lanternctl (const node_t *n, const char *who, const char *node_key, char *const *args, char **out)
{
    char bin[PATH_MAX];
    assert_int_equal (run_cmd_binary ("lanternctl", bin, sizeof bin), 0);
    char *argv[16];
    int a = 0;
    argv[a++] = bin;
    for (int i = 0; args[i] && a < 12; i++)
        argv[a++] = args[i];
    argv[a] = NULL;
    setenv ("LANTERN_ENDPOINT", n->bound, 1);
    char pub[PATH_MAX], secret[PATH_MAX];
    snprintf (pub, sizeof pub, "%s", bus_keys_public (s_keys, node_key));
    snprintf (secret, sizeof secret, "%s", bus_keys_secret (s_keys, who));
    setenv ("LANTERN_SERVER_KEY", pub, 1);
    setenv ("LANTERN_CERT", secret, 1);
    run_cmd_result_t r;
    assert_int_equal (run_cmd (argv, NULL, 20000, &r), 0);
    int status = r.status;
    if (out)
        *out = strdup (r.out);
    if (status != 0)
        fprintf (stderr, "# lanternctl %s: exit %d: %s%s", args[0], status, r.out, r.err);
    run_cmd_free (&r);
    return status;
}

/* Issue 9 point 13: a consumer stopped by a Reset is seen and moved on with
   lanternctl, not hand-written SQL.  The consumer's stored cursor is put
   beyond the producer's log (as after restoring the producer from an older
   backup); restarted, it gets Reset AHEAD and stops; `lanternctl upstream
   list` shows it RESET; `lanternctl upstream resync` moves its cursor back
   and it follows again (audited on the node). */
static void
test_upstream_resync_through_lanternctl (void **state)
{
    (void)state;
    node_t *prod = s_producer ("prod");
    node_t *cons = s_consumer ("cons", prod);
    assert_int_equal (s_node_start (prod), 0);
    assert_int_equal (s_node_start (cons), 0);
    posters_t *ps = s_posters_new (prod, 10, 20);
    s_posting_go (ps, 0, 10);
    s_posting_wait (ps);
    assert_int_equal (s_wait_received (cons, 10, 20000), 10);

    s_node_stop (cons);
    assert_true (s_value ("WITH u AS (UPDATE %s.stream_cursors SET position = 1000 RETURNING 1)"
                          " SELECT count(*) FROM u",
                          cons->schema) == 1);
    assert_int_equal (s_node_start (cons), 0);
    char *out = NULL;
    char *list[] = {"upstream", "list", NULL};
    int64_t deadline = s_now_ms () + 20000;
    bool reset = false;
    while (!reset && s_now_ms () < deadline) {
        usleep (200 * 1000);
        free (out);
        out = NULL;
        assert_int_equal (s_lanternctl (cons, "op", "consumer", list, &out), 0);
        reset = strstr (out, "RESET") != NULL;
    }
    if (!reset)
        fail_msg ("the consumer did not stop: %s", out);
    assert_non_null (strstr (out, prod->node));
    free (out);

    /* a key without the operator's role may not move it */
    char *resync[] = {
        "upstream", "resync", prod->node, "--after", "5", "--reason", "the producer was restored",
        NULL};
    assert_int_equal (s_lanternctl (cons, "consumer", "consumer", resync, NULL), 1);
    /* the operator moves it back to 5: it follows again from there */
    assert_int_equal (s_lanternctl (cons, "op", "consumer", resync, NULL), 0);
    deadline = s_now_ms () + 20000;
    bool following = false;
    while (!following && s_now_ms () < deadline) {
        usleep (200 * 1000);
        assert_int_equal (s_lanternctl (cons, "op", "consumer", list, &out), 0);
        following = strstr (out, "FOLLOWING") != NULL &&
                    s_value ("SELECT position FROM %s.stream_cursors", cons->schema) >= 10;
        free (out);
    }
    assert_true (following);
    assert_true (s_value ("SELECT count(*) FROM %s.audit WHERE action = 'ResyncUpstream'"
                          " AND outcome = 'accepted' AND reason LIKE '%%from 1000 to 5%%'",
                          cons->schema) == 1);
    s_node_stop (cons);
    s_node_stop (prod);
    s_case_ok = true;
}

int
main (int argc, char **argv)
{
    (void)argc;
    s_argv0 = argv[0];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown (test_producer_killed, s_case_setup, s_case_teardown),
        cmocka_unit_test_setup_teardown (test_consumer_killed, s_case_setup, s_case_teardown),
        cmocka_unit_test_setup_teardown (test_postgres_restarted, s_case_setup, s_case_teardown),
        cmocka_unit_test_setup_teardown (test_stalled_subscriber_bounded, s_case_setup,
                                         s_case_teardown),
        cmocka_unit_test_setup_teardown (test_upstream_resync_through_lanternctl, s_case_setup,
                                         s_case_teardown),
        cmocka_unit_test_setup_teardown (test_broken_consumer_is_caught, s_case_setup,
                                         s_case_teardown),
    };
    /* LANTERN_TEST_FILTER=test_consumer_killed runs one case (a pattern);
       LANTERN_KEEP_LOGS=1 keeps the nodes' logs. */
    const char *filter = getenv ("LANTERN_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter (filter);
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
