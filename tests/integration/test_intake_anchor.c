/*  test_anchor: a node's audit trail anchored at its followers (issue 9
    point 9), end to end.

    A real lantern-intake node publishes its audit head
    (nl.lantern.audit.anchored.v1, here every second); a follower (a
    consumer in this process, as a triage node runs one) stores the anchors
    in its own schema in the same transaction as its cursor.  Then the
    schema's owner deletes the newest audit rows and moves the head back:
    `lanternctl audit verify` alone still says ok (the shortened chain is
    consistent), but checked against the anchors the follower exported with
    `lanternctl audit anchors`, it fails and names the anchor.
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

#include "intake.h"
#include "intake_cases.h"
#include "intake_fixture.h"
#include "lantern.pb-c.h"
#include "ln_clock.h"
#include "ln_consumer.h"
#include "ln_envelope.h"
#include "ln_log.h"
#include "ln_server.h"
#include "run_cmd.h"

static intake_fix_t *s_fix;

static int
s_setup (void **state)
{
    (void)state;
    ln_log_init ("test-anchor", LN_LOG_WARN);
    if (ln_envelope_register (intake_event_types, intake_event_type_count, NULL) != 0)
        return -1;
    intake_fix_config_t cfg = {.extra_config = "audit = { anchor_interval_s = 1; };"};
    s_fix = intake_fix_start (&cfg);
    return s_fix ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    return intake_fix_stop (&s_fix);
}

/* The follower stores nothing of its own: anchors are the library's. */
static int
s_apply (void *arg, ln_db_t *db, const char *upstream, ln_event_t *const *events,
         const uint64_t *positions, size_t count, ln_error_t *err)
{
    (void)arg, (void)db, (void)upstream, (void)events, (void)positions, (void)count, (void)err;
    return 0;
}

static char *
s_value (const char *sql)
{
    return ln_pgfix_query_value (intake_fix_pg (s_fix), sql, 0, NULL);
}

static void
s_lanternctl (const char *out_path, int expect, char *const *args, run_cmd_result_t *r)
{
    (void)out_path;
    assert_int_equal (run_cmd (args, NULL, 20000, r), 0);
    if (r->status != expect)
        fail_msg ("lanternctl %s: exit %d (expected %d)\nstdout: %s\nstderr: %s", args[1],
                  r->status, expect, r->out, r->err);
}

static void
test_point9_anchor_catches_a_trail_cut_back (void **state)
{
    (void)state;
    ln_error_t err;
    /* some audited work on the node */
    ln_client_t *officer = intake_fix_client (s_fix, "officer");
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    for (int i = 0; i < 5; i++) {
        Lantern__V1__SubmitSignal sub = LANTERN__V1__SUBMIT_SIGNAL__INIT;
        sub.details = d;
        Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
        char rid[64];
        ln_client_request_id ("anchor", rid, sizeof rid);
        r.request_id = rid;
        r.command_case = LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL;
        r.submit_signal = &sub;
        Lantern__V1__ServerMessage *m = ln_client_call (officer, &r, 10000, 1, &err);
        assert_non_null (m);
        assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
        lantern__v1__server_message__free_unpacked (m, NULL);
    }
    ln_client_destroy (&officer);
    protobuf_c_message_free_unpacked (&d->base, NULL);

    /* the follower: its own schema, the library's tables */
    assert_int_equal (ln_pgfix_exec (intake_fix_pg (s_fix), "CREATE SCHEMA follower"), 0);
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
        .idle_ms = 200,
    };
    ln_consumer_t *c = ln_consumer_new (&cc, fdb, s_apply, NULL, &err);
    assert_non_null (c);
    zcert_destroy (&cert);
    /* follow until an anchor of the head with every submission is stored */
    char *head = s_value ("SELECT seq FROM intake.audit_head");
    assert_non_null (head);
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM follower.upstream_anchors WHERE seq >= %s",
              head);
    free (head);
    int64_t deadline = ln_clock_mono_ms () + 20000;
    char *stored = NULL;
    while (ln_clock_mono_ms () < deadline) {
        zmq_pollitem_t item = {zsock_resolve (ln_consumer_socket (c)), 0, ZMQ_POLLIN, 0};
        zmq_poll (&item, 1, 100);
        ln_consumer_on_readable (c);
        ln_consumer_on_tick (c, ln_clock_mono_ms ());
        free (stored);
        stored = s_value (sql);
        if (stored && strcmp (stored, "0") != 0)
            break;
    }
    assert_non_null (stored);
    assert_string_not_equal (stored, "0");
    free (stored);
    ln_consumer_destroy (&c);
    ln_db_destroy (&fdb);

    /* the follower exports its anchors; verify with them: ok */
    char anchors[PATH_MAX], bin[PATH_MAX];
    snprintf (anchors, sizeof anchors, "%s.anchors", intake_fix_config_path (s_fix));
    assert_int_equal (run_cmd_binary ("lanternctl", bin, sizeof bin), 0);
    const char *fconn = ln_pgfix_conninfo (intake_fix_pg (s_fix));
    setenv ("LANTERN_DB", fconn, 1);
    run_cmd_result_t r;
    char *export[] = {bin,        "audit",      "anchors",     "--schema",
                      "follower", "--upstream", "intake-test", NULL};
    s_lanternctl (NULL, 0, export, &r);
    FILE *f = fopen (anchors, "w");
    assert_non_null (f);
    fputs (r.out, f);
    fclose (f);
    run_cmd_free (&r);
    char *verify[] = {bin, "audit", "verify", "--schema", "intake", "--anchors", anchors, NULL};
    s_lanternctl (NULL, 0, verify, &r);
    run_cmd_free (&r);

    /* the owner cuts the trail back by three rows and moves the head */
    assert_int_equal (ln_pgfix_exec (intake_fix_pg (s_fix),
                                     "ALTER TABLE intake.audit DISABLE TRIGGER USER;"
                                     "ALTER TABLE intake.audit_head DISABLE TRIGGER USER;"
                                     "DELETE FROM intake.audit WHERE seq > (SELECT max (seq) - 3"
                                     " FROM intake.audit);"
                                     "UPDATE intake.audit_head h SET seq = a.seq, hash = a.hash"
                                     " FROM (SELECT seq, hash FROM intake.audit ORDER BY seq DESC"
                                     " LIMIT 1) a;"
                                     "ALTER TABLE intake.audit ENABLE TRIGGER USER;"
                                     "ALTER TABLE intake.audit_head ENABLE TRIGGER USER;"),
                      0);
    char *plain[] = {bin, "audit", "verify", "--schema", "intake", NULL};
    s_lanternctl (NULL, 0, plain, &r); /* the chain alone cannot tell */
    run_cmd_free (&r);
    s_lanternctl (NULL, 1, verify, &r); /* the follower's anchor can */
    assert_non_null (strstr (r.out, "anchor") ? r.out : r.err);
    run_cmd_free (&r);
    unlink (anchors);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_point9_anchor_catches_a_trail_cut_back),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
