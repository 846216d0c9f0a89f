/*  test_intake_dbdown: a node whose database goes away (issue 10 point 8),
    through a real lantern-intake process.

    - PostgreSQL stopped under a running node: a client's request is
      answered UNAVAILABLE (with a retry hint) within one second, not left
      waiting; SIGTERM stops the node within two seconds even then.
    - A refusal that retrying cannot fix (the node's password changed under
      it): every request is answered UNAVAILABLE at once, the refusal is
      logged once, and the node does not try again for 30 s.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intake_fixture.h"
#include "lantern.pb-c.h"
#include "ln_clock.h"
#include "ln_log.h"

static Lantern__V1__ServerMessage *
s_ping_as (ln_client_t *c, const char *rid, int timeout_ms, int64_t *took_ms)
{
    ln_error_t err;
    Lantern__V1__PostNotice post = LANTERN__V1__POST_NOTICE__INIT;
    (void)post;
    Lantern__V1__ListSignals list = LANTERN__V1__LIST_SIGNALS__INIT;
    Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
    r.request_id = (char *)rid;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_LIST_SIGNALS;
    r.list_signals = &list;
    int64_t start = ln_clock_mono_ms ();
    Lantern__V1__ServerMessage *m = ln_client_call (c, &r, timeout_ms, 1, &err);
    *took_ms = ln_clock_mono_ms () - start;
    return m;
}

/* Has the process exited (a zombie, not yet reaped, or gone)? */
static bool
s_exited (pid_t pid)
{
    char path[64], buf[512];
    snprintf (path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return true;
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[n] = '\0';
    const char *paren = strrchr (buf, ')');
    return paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

/* The node's log: how many lines hold `text`. */
static int
s_log_count (intake_fix_t *fix, const char *text)
{
    char dir[1024], path[1100];
    snprintf (dir, sizeof dir, "%s", intake_fix_config_path (fix));
    char *slash = strrchr (dir, '/');
    if (slash)
        *slash = '\0';
    snprintf (path, sizeof path, "%s/node.log", dir);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    char line[4096];
    int n = 0;
    while (fgets (line, sizeof line, f))
        if (strstr (line, text))
            n++;
    fclose (f);
    return n;
}

static void
test_point8_database_down_answers_at_once (void **state)
{
    (void)state;
    intake_fix_t *fix = intake_fix_start (NULL);
    assert_non_null (fix);
    ln_client_t *officer = intake_fix_client (fix, "officer");
    int64_t took = 0;
    Lantern__V1__ServerMessage *m = s_ping_as (officer, "up-1", 5000, &took);
    assert_non_null (m);
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    lantern__v1__server_message__free_unpacked (m, NULL);

    assert_int_equal (ln_pgfix_stop (intake_fix_pg (fix)), 0);
    for (int i = 0; i < 3; i++) {
        char rid[32];
        snprintf (rid, sizeof rid, "down-%d", i);
        m = s_ping_as (officer, rid, 5000, &took);
        assert_non_null (m);
        assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__ERROR);
        assert_string_equal (m->reply->error->code, "UNAVAILABLE");
        assert_non_null (strstr (m->reply->error->message, "retry"));
        if (took > 1000)
            fail_msg ("request %d answered after %lld ms", i, (long long)took);
        lantern__v1__server_message__free_unpacked (m, NULL);
    }
    /* SIGTERM while the database is away: gone within two seconds */
    pid_t pid = intake_fix_pid (fix);
    int64_t start = ln_clock_mono_ms ();
    assert_int_equal (kill (pid, SIGTERM), 0);
    while (ln_clock_mono_ms () - start < 5000 && !s_exited (pid))
        usleep (20 * 1000);
    int64_t stopped = ln_clock_mono_ms () - start;
    if (stopped > 2000)
        fail_msg ("SIGTERM took %lld ms", (long long)stopped);
    assert_int_equal (ln_pgfix_start (intake_fix_pg (fix)), 0);
    ln_client_destroy (&officer);
    assert_int_equal (intake_fix_stop (&fix), 0); /* reaps it: exit status 0 */
}

static void
test_point8_a_permanent_refusal_is_said_once (void **state)
{
    (void)state;
    intake_fix_t *fix = intake_fix_start (NULL);
    assert_non_null (fix);
    ln_client_t *officer = intake_fix_client (fix, "officer");
    int64_t took = 0;
    Lantern__V1__ServerMessage *m = s_ping_as (officer, "ok-1", 5000, &took);
    assert_int_equal (m->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    lantern__v1__server_message__free_unpacked (m, NULL);
    /* the node's password changes under it, and its session goes */
    ln_db_t *db = intake_fix_db (fix);
    char *role = ln_pgfix_query_value (intake_fix_pg (fix), "SELECT current_user", 0, NULL);
    (void)db;
    free (role);
    assert_int_equal (
        ln_pgfix_exec (intake_fix_pg (fix),
                       "DO $$ DECLARE r text; BEGIN"
                       " SELECT usename INTO r FROM pg_stat_activity"
                       "  WHERE application_name = 'lantern-intake' LIMIT 1;"
                       " EXECUTE format ('ALTER ROLE %I PASSWORD %L', r, 'not-the-password');"
                       " PERFORM pg_terminate_backend (pid) FROM pg_stat_activity"
                       "  WHERE application_name = 'lantern-intake'; END $$"),
        0);
    for (int i = 0; i < 5; i++) {
        char rid[32];
        snprintf (rid, sizeof rid, "refused-%d", i);
        m = s_ping_as (officer, rid, 5000, &took);
        assert_non_null (m);
        assert_string_equal (m->reply->error->code, "UNAVAILABLE");
        if (took > 1500)
            fail_msg ("request %d answered after %lld ms", i, (long long)took);
        lantern__v1__server_message__free_unpacked (m, NULL);
    }
    assert_int_equal (s_log_count (fix, "database refuses the node"), 1);
    ln_client_destroy (&officer);
    intake_fix_stop (&fix);
}

int
main (void)
{
    ln_log_init ("test-dbdown", LN_LOG_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_point8_database_down_answers_at_once),
        cmocka_unit_test (test_point8_a_permanent_refusal_is_said_once),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
