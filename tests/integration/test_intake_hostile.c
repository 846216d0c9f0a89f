/*  test_intake_hostile: issue 9's acceptance run against a real intake node.

    While attention officers submit signals, a follower with triage's key
    follows the node's stream (an ln_consumer committing its cursor with
    what it applied, as lantern-triage does), one registered key runs 5,000
    subscribe-and-disconnect cycles, and another floods 1 MiB frames of
    empty repeated entries.  The follower stays subscribed and gets every
    signal event exactly once (nothing lost, nothing doubled), and the
    node's resident memory stays under 64 MiB throughout.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intake.h"
#include "intake_cases.h"
#include "intake_fixture.h"
#include "lantern.pb-c.h"
#include "ln_clock.h"
#include "ln_consumer.h"
#include "ln_envelope.h"
#include "ln_log.h"
#include "ln_server.h"
#include "proc_child.h"

#if defined(__SANITIZE_ADDRESS__)
#define CYCLES  1000 /* ASan's handshakes are slow; its RSS means nothing */
#define SIGNALS 60
#else
#define CYCLES  5000
#define SIGNALS 200
#endif
#define FLOODS  20
#define RSS_MAX (64L * 1024) /* KiB */

static intake_fix_t *s_fix;
static atomic_int s_attack_done;
static atomic_int s_submitted;

/* --- the follower ---------------------------------------------------------------- */

static int
s_apply (void *arg, ln_db_t *db, const char *upstream, ln_event_t *const *events,
         const uint64_t *positions, size_t count, ln_error_t *err)
{
    (void)arg;
    (void)upstream;
    for (size_t i = 0; i < count; i++) {
        if (strcmp (ln_event_type (events[i]), INTAKE_EVENT_RECEIVED) != 0)
            continue;
        char pos[24];
        snprintf (pos, sizeof pos, "%llu", (unsigned long long)positions[i]);
        const char *params[2] = {pos, ln_event_correlationid (events[i])};
        /* no unique constraint: a duplicate must be seen, not hidden */
        if (ln_db_run (db, "INSERT INTO got (position, signal_id) VALUES ($1::bigint, $2)", 2,
                       params, err) != 0)
            return -1;
    }
    return 0;
}

/* --- the attackers ---------------------------------------------------------------- */

/* A 1 MiB ClientMessage of 500,000 empty persons in one SubmitSignal. */
static uint8_t *
s_flood_frame (size_t *size)
{
    static Lantern__V1__Person empty = LANTERN__V1__PERSON__INIT;
    size_t n = 500000;
    Lantern__V1__Person **persons = malloc (n * sizeof *persons);
    for (size_t i = 0; i < n; i++)
        persons[i] = &empty;
    Lantern__V1__SignalDetails d = LANTERN__V1__SIGNAL_DETAILS__INIT;
    d.n_persons = n;
    d.persons = persons;
    Lantern__V1__SubmitSignal sub = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    sub.details = &d;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.request_id = "flood";
    req.command_case = LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL;
    req.submit_signal = &sub;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    cm.request = &req;
    *size = lantern__v1__client_message__get_packed_size (&cm);
    uint8_t *buf = malloc (*size);
    lantern__v1__client_message__pack (&cm, buf);
    free (persons);
    return buf;
}

static void *
s_attack (void *arg)
{
    (void)arg;
    ln_error_t err;
    size_t flood_size = 0;
    uint8_t *flood = s_flood_frame (&flood_size);
    ln_client_t *flooder = intake_fix_client (s_fix, "matcher");
    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    sub.credit = 100;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    cm.subscribe = &sub;
    for (int i = 0; i < CYCLES; i++) {
        ln_client_t *c = intake_fix_client (s_fix, "monitor");
        ln_client_send (c, &cm, &err);
        ln_client_destroy (&c);
        if (i % (CYCLES / FLOODS) == 0) {
            /* the flood, answered PB_TOO_MANY: read the answer so that it
               does not pile up here */
            zmq_send (zsock_resolve (ln_client_socket (flooder)), flood, flood_size, 0);
            Lantern__V1__ServerMessage *m = ln_client_recv (flooder, 10000, &err);
            if (m)
                lantern__v1__server_message__free_unpacked (m, NULL);
        }
    }
    ln_client_destroy (&flooder);
    free (flood);
    atomic_store (&s_attack_done, 1);
    return NULL;
}

static void *
s_officer (void *arg)
{
    (void)arg;
    ln_error_t err;
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    for (int i = 0; i < SIGNALS; i++) {
        Lantern__V1__SubmitSignal sub = LANTERN__V1__SUBMIT_SIGNAL__INIT;
        sub.details = d;
        Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
        char rid[64];
        snprintf (rid, sizeof rid, "hostile-%d", i);
        r.request_id = rid;
        r.command_case = LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL;
        r.submit_signal = &sub;
        Lantern__V1__ServerMessage *m = ln_client_call (officer, &r, 10000, 3, &err);
        if (m && m->reply->status == LANTERN__V1__REPLY__STATUS__OK)
            atomic_fetch_add (&s_submitted, 1);
        if (m)
            lantern__v1__server_message__free_unpacked (m, NULL);
        usleep (50 * 1000);
    }
    protobuf_c_message_free_unpacked (&d->base, NULL);
    ln_client_destroy (&officer);
    return NULL;
}

/* --- the run ------------------------------------------------------------------------ */

static long
s_count (const char *sql)
{
    char *v = ln_pgfix_query_value (intake_fix_pg (s_fix), sql, 0, NULL);
    long n = v ? strtol (v, NULL, 10) : -1;
    free (v);
    return n;
}

static void
test_follower_unharmed_by_hostile_keys (void **state)
{
    (void)state;
    ln_error_t err;
    assert_int_equal (ln_pgfix_exec (intake_fix_pg (s_fix),
                                     "CREATE SCHEMA follower;"
                                     "CREATE TABLE follower.got (position bigint, signal_id text)"),
                      0);
    ln_db_t *fdb =
        ln_db_connect (ln_pgfix_conninfo (intake_fix_pg (s_fix)), "follower", NULL, &err);
    assert_non_null (fdb);
    assert_int_equal (ln_server_migrate (fdb, NULL, 0, &err), 0);
    zcert_t *cert = bus_keys_cert (intake_fix_keys (s_fix), "triage");
    ln_consumer_config_t cc = {
        .upstream = "intake-test",
        .endpoint = intake_fix_endpoint (s_fix),
        .server_public_key = intake_fix_server_key (s_fix),
        .cert = cert,
        .credit = 50,
        .idle_ms = 500,
    };
    ln_consumer_t *c = ln_consumer_new (&cc, fdb, s_apply, NULL, &err);
    zcert_destroy (&cert);
    assert_non_null (c);

    pthread_t attack, officer;
    assert_int_equal (pthread_create (&attack, NULL, s_attack, NULL), 0);
    assert_int_equal (pthread_create (&officer, NULL, s_officer, NULL), 0);
    pid_t pid = intake_fix_pid (s_fix);
    long rss_max = 0;
    int64_t next_sample = 0;
    int64_t deadline = ln_clock_mono_ms () + 600000;
    long got = 0;
    while (ln_clock_mono_ms () < deadline) {
        zmq_pollitem_t item = {zsock_resolve (ln_consumer_socket (c)), 0, ZMQ_POLLIN, 0};
        zmq_poll (&item, 1, 50);
        ln_consumer_on_readable (c);
        ln_consumer_on_tick (c, ln_clock_mono_ms ());
        assert_int_equal (ln_consumer_state (c), LN_CONSUMER_FOLLOWING);
        if (ln_clock_mono_ms () >= next_sample) {
            next_sample = ln_clock_mono_ms () + 200;
            long rss = proc_rss_kib (pid);
            if (rss > rss_max)
                rss_max = rss;
            got = s_count ("SELECT count(*) FROM follower.got");
        }
        if (atomic_load (&s_attack_done) && got >= SIGNALS && atomic_load (&s_submitted) == SIGNALS)
            break;
    }
    pthread_join (attack, NULL);
    pthread_join (officer, NULL);
    fprintf (stderr, "# node rss at most %ld KiB; %d cycles, %d floods, %ld signals followed\n",
             rss_max, CYCLES, FLOODS, got);
    assert_int_equal (atomic_load (&s_submitted), SIGNALS);
    /* every signal event once, and only once */
    assert_int_equal (s_count ("SELECT count(*) FROM follower.got"), SIGNALS);
    assert_int_equal (s_count ("SELECT count(DISTINCT signal_id) FROM follower.got"), SIGNALS);
    assert_int_equal (s_count ("SELECT count(*) FROM intake.signals"), SIGNALS);
#if !defined(__SANITIZE_ADDRESS__)
    assert_true (rss_max > 0 && rss_max < RSS_MAX);
#endif
    ln_consumer_destroy (&c);
    ln_db_destroy (&fdb);
}

static int
s_setup (void **state)
{
    (void)state;
    ln_log_init ("test-hostile", LN_LOG_WARN);
    if (ln_envelope_register (intake_event_types, intake_event_type_count, NULL) != 0)
        return -1;
    s_fix = intake_fix_start (NULL);
    return s_fix ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    return intake_fix_stop (&s_fix);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_follower_unharmed_by_hostile_keys),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
