/*  lanternctl's screening-meeting commands (agenda, case, decide, track,
    tracks, alerts) as people meet them: the REAL binary, run as a child
    process, against a region of real processes (tests/support/
    triage_region: two intake nodes and triage), with the connection in
    the environment as `deploy/run-region env triage` gives it.

      - every --help: exit 0, the exit-status scheme, examples; and every
        example of every --help, run as printed (the ids it names, written
        "case-...", "trk-...", "alert-...-danger", replaced by real ones);
      - the agenda's table with every score written out, and its page
        (self-contained: no script, no link, no URL);
      - case show with every term of the score; decide from flags and from
        a JSON file in the flags' words, --dry-run and --file taking it
        back; a refusal (exit 1, CODE at FIELD), a usage error (2, nothing
        sent), a node that does not answer (3), a file that cannot be
        written (4);
      - track update by the lead organisation (and refused for another),
        tracks --overdue once a deadline has passed (the node's test
        clock), case close, alerts and alerts ack.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "run_cmd.h"
#include "triage_calls.h"
#include "triage_region.h"

#define TRIAGE TRIAGE_REGION_TRIAGE

static triage_region_t *s_r;
static char s_dir[64];
static char s_case[2][128]; /* two cases: each one signal, an alert on the first */
static char s_alert[128];
static char s_ctl[1024]; /* lanternctl of this variant, an absolute path */

/* The connection of `who` at triage, in the environment. */
static void
s_as (const char *who)
{
    setenv ("LANTERN_ENDPOINT", triage_region_endpoint (s_r, TRIAGE), 1);
    setenv ("LANTERN_SERVER_KEY", triage_region_server_pub (s_r, TRIAGE), 1);
    char path[512];
    snprintf (path, sizeof path, "%s", bus_keys_secret (triage_region_keys (s_r), who));
    setenv ("LANTERN_CERT", path, 1);
}

/* Run a shell command line in the test's directory (lanternctl as the
   binary of this variant); fail unless it exits `expect`. */
static run_cmd_result_t
s_sh (int expect, const char *line)
{
    char script[8192];
    snprintf (script, sizeof script, "cd '%s' && lanternctl () { '%s' \"$@\"; }\n%s", s_dir, s_ctl,
              line);
    char *const argv[] = {"/bin/bash", "-c", script, NULL};
    run_cmd_result_t r;
    assert_int_equal (run_cmd (argv, NULL, 60000, &r), 0);
    if (r.status != expect)
        fail_msg ("'%s' exited %d, not %d\n--- stdout:\n%s\n--- stderr:\n%s", line, r.status,
                  expect, r.out, r.err);
    return r;
}

static void
s_sh_ok (const char *line)
{
    run_cmd_result_t r = s_sh (0, line);
    run_cmd_free (&r);
}

/* Replace every `from` in text by `to` (in place, bounded). */
static void
s_replace (char *text, size_t size, const char *from, const char *to)
{
    char out[8192];
    size_t o = 0;
    for (const char *p = text; *p && o + 1 < sizeof out;) {
        if (strncmp (p, from, strlen (from)) == 0) {
            o += (size_t)snprintf (out + o, sizeof out - o, "%s", to);
            p += strlen (from);
        }
        else
            out[o++] = *p++;
    }
    out[o < sizeof out ? o : sizeof out - 1] = '\0';
    size_t len = strlen (out);
    if (len >= size)
        len = size - 1;
    memcpy (text, out, len);
    text[len] = '\0';
}

/* The examples of `lanternctl ARGS --help`, one command each (continued
   lines joined), into lines[] (at most max). */
static size_t
s_examples (const char *args, char lines[][1024], size_t max)
{
    char cmd[256];
    snprintf (cmd, sizeof cmd, "lanternctl %s --help", args);
    run_cmd_result_t r = s_sh (0, cmd);
    assert_non_null (strstr (r.out, "exit status"));
    assert_non_null (strstr (r.out, "  3  unreachable"));
    const char *ex = strstr (r.out, "\nexamples:\n");
    assert_non_null (ex);
    size_t n = 0;
    const char *p = ex + strlen ("\nexamples:\n");
    while (*p && n < max) {
        const char *end = strchr (p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen (p);
        if (len > 2 && strncmp (p, "  ", 2) == 0) {
            bool cont = lines[n][0] != '\0';
            size_t have = strlen (lines[n]);
            snprintf (lines[n] + have, 1024 - have, "%s%.*s", cont ? " " : "", (int)len - 2, p + 2);
            have = strlen (lines[n]);
            if (have > 0 && lines[n][have - 1] == '\\')
                lines[n][have - 1] = ' '; /* continued */
            else
                n++;
        }
        if (!end)
            break;
        p = end + 1;
    }
    run_cmd_free (&r);
    return n;
}

static int
s_setup (void **state)
{
    (void)state;
    setenv ("TZ", "UTC", 1);
    char *real = realpath (run_cmd_lanternctl (), NULL);
    if (!real)
        return -1;
    snprintf (s_ctl, sizeof s_ctl, "%s", real);
    free (real);
    snprintf (s_dir, sizeof s_dir, "/tmp/lantern-triage-cli.XXXXXX");
    if (!mkdtemp (s_dir))
        return -1;
    triage_region_config_t cfg = {
        .intakes = 2, .intakes_follow_triage = true, .start_triage = true};
    s_r = triage_region_new (&cfg);
    if (!s_r)
        return -1;
    /* two cases: one alone with an alert, one of two partners */
    ln_client_t *o[2] = {triage_region_client (s_r, 0, "officer-venlo"),
                         triage_region_client (s_r, 1, "officer-politie")};
    char id[3][TRIAGE_SIG_ID_SIZE];
    triage_sig_t a = {.persons = {{.name = "Maria Popescu", .phone = "+40 712 345 678"}},
                      .indicators = {"ILO_PHYSICAL_AND_SEXUAL_VIOLENCE"},
                      .danger = true};
    triage_sig_t b = {.persons = {{.name = "Anna Kowalska", .dob = "1998-03-14"}},
                      .indicators = {"ILO_DEBT_BONDAGE"}};
    if (triage_submit (o[0], &a, id[0]) != 0 || triage_submit (o[0], &b, id[1]) != 0 ||
        triage_submit (o[1], &b, id[2]) != 0)
        return -1;
    ln_client_destroy (&o[0]);
    ln_client_destroy (&o[1]);
    snprintf (s_case[0], sizeof s_case[0], "case-%s", id[0] + 4);
    snprintf (s_case[1], sizeof s_case[1], "case-%s", id[1] + 4);
    snprintf (s_alert, sizeof s_alert, "alert-%s-danger", id[0] + 4);
    return triage_region_settle (s_r, 30000);
}

static int
s_teardown (void **state)
{
    (void)state;
    int rc = triage_region_destroy (&s_r);
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system (cmd) != 0)
        rc = -1;
    return rc;
}

/* --- the commands ---------------------------------------------------------------- */

static void
test_agenda_table_page_and_case_show (void **state)
{
    (void)state;
    s_as ("chair");
    run_cmd_result_t r = s_sh (0, "lanternctl agenda");
    assert_non_null (strstr (r.out, "Agenda of the screening meeting of "));
    assert_non_null (strstr (r.out, "(Europe/Amsterdam)"));
    assert_non_null (strstr (r.out, s_case[0]));
    assert_non_null (strstr (r.out, s_case[1]));
    assert_non_null (strstr (r.out, "gemeente-venlo, politie-limburg-noord"));
    /* every score written out: its total, then each term */
    char want[160];
    snprintf (want, sizeof want, "  %s: ", s_case[0]);
    const char *line = strstr (r.out, want);
    assert_non_null (line);
    assert_non_null (strstr (line, "(immediate_danger)"));
    assert_non_null (strstr (line, "(indicator ILO_PHYSICAL_AND_SEXUAL_VIOLENCE)"));
    run_cmd_free (&r);

    s_sh_ok ("lanternctl agenda --html agenda.html");
    r = s_sh (0, "cat agenda.html");
    assert_non_null (strstr (r.out, "<!DOCTYPE html>"));
    assert_non_null (strstr (r.out, s_case[1]));
    assert_null (strstr (r.out, "<script"));
    assert_null (strstr (r.out, "http"));
    assert_null (strstr (r.out, "<link"));
    run_cmd_free (&r);

    char cmd[256];
    snprintf (cmd, sizeof cmd, "lanternctl case show %s --purpose 'meeting preparation'",
              s_case[1]);
    r = s_sh (0, cmd);
    assert_non_null (strstr (r.out, "signals        2 from 2 partners"));
    assert_non_null (strstr (r.out, "extra_partners"));
    assert_non_null (strstr (r.out, "ILO_DEBT_BONDAGE"));
    assert_non_null (strstr (r.out, "same NAME_BIRTHDATE token as"));
    assert_non_null (strstr (r.out, "total"));
    run_cmd_free (&r);
    /* the purpose is required, before anything is sent */
    snprintf (cmd, sizeof cmd, "lanternctl case show %s", s_case[1]);
    r = s_sh (2, cmd);
    assert_non_null (strstr (r.err, "--purpose"));
    run_cmd_free (&r);
    assert_true (triage_region_count (s_r, "SELECT count(*) FROM triage.audit WHERE action ="
                                           " 'GetCase' AND reason = 'purpose: meeting"
                                           " preparation'") >= 1);
}

static void
test_decide_flags_file_refusals_and_exit_codes (void **state)
{
    (void)state;
    s_as ("chair");
    char cmd[1024];
    /* refused by the node: 1, CODE at FIELD */
    snprintf (cmd, sizeof cmd,
              "lanternctl decide %s --meeting today --attendee gemeente-venlo --track "
              "kind=no_action --track 'kind=care,lead=zorg,deadline=+14d'"
              " --no-action-reason 'nothing'",
              s_case[1]);
    run_cmd_result_t r = s_sh (1, cmd);
    assert_non_null (strstr (r.err, "NO_ACTION_WITH_OTHER_TRACK at tracks[1].kind"));
    run_cmd_free (&r);
    /* usage: 2, nothing sent */
    r = s_sh (2, "lanternctl decide case-x --meeting today --track kind=nonsense");
    assert_non_null (strstr (r.err, "is not one of"));
    run_cmd_free (&r);
    /* unreachable: 3 */
    r = s_sh (3, "LANTERN_ENDPOINT=tcp://127.0.0.1:9 lanternctl agenda --timeout 300 --retries 0");
    run_cmd_free (&r);
    /* a file that cannot be written: 4 */
    r = s_sh (4, "lanternctl agenda --html /nonexistent/dir/agenda.html");
    run_cmd_free (&r);

    /* --dry-run prints what --file takes back */
    snprintf (cmd, sizeof cmd,
              "lanternctl decide %s --meeting today --attendee gemeente-venlo --attendee "
              "politie-limburg-noord --track 'kind=criminal,lead=politie-limburg-noord,"
              "deadline=+2d,note=ask the employer, then visit' --minutes 'Two partners.'"
              " --dry-run > d.json && lanternctl decide --file d.json",
              s_case[1]);
    r = s_sh (0, cmd);
    assert_non_null (strstr (r.out, "case DECIDED"));
    assert_non_null (strstr (r.out, "CRIMINAL, lead politie-limburg-noord"));
    run_cmd_free (&r);
    /* the file in the flags' words, its case from the argument */
    s_sh_ok ("cat > n.json <<'EOF'\n"
             "{\"meeting_id\": \"today\", \"attendees\": [\"gemeente-venlo\"],\n"
             " \"tracks\": [{\"kind\": \"more_information\", \"lead_organisation\":"
             " \"gemeente-venlo\", \"deadline\": \"+1d\"}]}\nEOF");
    snprintf (cmd, sizeof cmd, "lanternctl decide --file n.json %s", s_case[0]);
    r = s_sh (0, cmd);
    assert_non_null (strstr (r.out, "MORE_INFORMATION, lead gemeente-venlo"));
    run_cmd_free (&r);
}

static void
test_tracks_overdue_update_close_alerts (void **state)
{
    (void)state;
    s_as ("partner-politie");
    run_cmd_result_t r = s_sh (0, "lanternctl tracks");
    assert_non_null (strstr (r.out, "CRIMINAL"));
    assert_non_null (strstr (r.out, "MORE_INFORMATION"));
    run_cmd_free (&r);
    r = s_sh (0, "lanternctl tracks --overdue");
    assert_non_null (strstr (r.out, "no overdue tracks"));
    run_cmd_free (&r);
    /* three days on: both deadlines passed */
    assert_int_equal (triage_region_set_clock (s_r, TRIAGE, 3 * 86400), 0);
    usleep (600 * 1000);
    r = s_sh (0, "lanternctl tracks --overdue --kind criminal --json");
    assert_non_null (strstr (r.out, "\"overdue\": true"));
    assert_null (strstr (r.out, "MORE_INFORMATION"));
    /* the CRIMINAL track's id, for its lead */
    char track[64] = "";
    const char *t = strstr (r.out, "\"track_id\": \"");
    assert_non_null (t);
    snprintf (track, sizeof track, "%.30s", t + strlen ("\"track_id\": \""));
    run_cmd_free (&r);
    assert_int_equal (triage_region_set_clock (s_r, TRIAGE, 0), 0);
    usleep (600 * 1000);

    char cmd[512];
    /* another organisation's partner may not move it */
    s_as ("partner-venlo");
    snprintf (cmd, sizeof cmd, "lanternctl track update %s --state in_progress", track);
    r = s_sh (1, cmd);
    assert_non_null (strstr (r.err, "FORBIDDEN: only the lead organisation"));
    run_cmd_free (&r);
    s_as ("partner-politie");
    snprintf (cmd, sizeof cmd, "lanternctl track update %s --state done --outcome 'report made'",
              track);
    r = s_sh (0, cmd);
    assert_non_null (strstr (r.out, ": DONE"));
    run_cmd_free (&r);
    s_as ("chair");
    snprintf (cmd, sizeof cmd, "lanternctl case close %s --summary 'report made'", s_case[1]);
    r = s_sh (0, cmd);
    assert_non_null (strstr (r.out, "closed: TRACKS_DONE"));
    run_cmd_free (&r);

    r = s_sh (0, "lanternctl alerts");
    assert_non_null (strstr (r.out, s_alert));
    assert_non_null (strstr (r.out, "IMMEDIATE_DANGER"));
    run_cmd_free (&r);
    snprintf (cmd, sizeof cmd, "lanternctl alerts ack %s --note 'Veilig Thuis informed'", s_alert);
    r = s_sh (0, cmd);
    assert_non_null (strstr (r.out, "acknowledged by chair"));
    run_cmd_free (&r);
    r = s_sh (0, "lanternctl alerts");
    assert_non_null (strstr (r.out, "no alerts waiting"));
    run_cmd_free (&r);
    r = s_sh (1, cmd);
    assert_non_null (strstr (r.err, "ALREADY_ACKNOWLEDGED"));
    run_cmd_free (&r);
}

/* Every example of every --help, run as printed (the ids it elides filled
   in), against cases made for them. */
static void
test_help_examples_run (void **state)
{
    (void)state;
    /* fresh cases for the examples: one to decide with two tracks, one for
       no action */
    ln_client_t *o = triage_region_client (s_r, 0, "officer-venlo");
    char id[2][TRIAGE_SIG_ID_SIZE];
    triage_sig_t a = {.persons = {{.name = "Olga Petrova", .phone = "06 55555555"}},
                      .indicators = {"ILO_DECEPTION"},
                      .danger = true};
    triage_sig_t b = {.persons = {{.name = "Ivan Horvat", .phone = "06 66666666"}},
                      .indicators = {"ILO_ISOLATION"}};
    assert_int_equal (triage_submit (o, &a, id[0]), 0);
    assert_int_equal (triage_submit (o, &b, id[1]), 0);
    ln_client_destroy (&o);
    assert_int_equal (triage_region_settle (s_r, 30000), 0);
    char c1[128], c2[128], alert[128];
    snprintf (c1, sizeof c1, "case-%s", id[0] + 4);
    snprintf (c2, sizeof c2, "case-%s", id[1] + 4);
    snprintf (alert, sizeof alert, "alert-%s-danger", id[0] + 4);
    static const char *const cmds[] = {"agenda", "case", "decide", "track", "tracks", "alerts"};
    char lines[6][8][1024];
    size_t n[6];
    memset (lines, 0, sizeof lines);
    for (size_t c = 0; c < 6; c++) {
        n[c] = s_examples (cmds[c], lines[c], 8);
        assert_true (n[c] >= 1);
    }
    s_as ("chair");
    /* agenda */
    for (size_t i = 0; i < n[0]; i++)
        s_sh_ok (lines[0][i]);
    /* decide: the first on c1, the second on c2, the third on a file */
    s_sh_ok ("lanternctl decide case-x --meeting today --attendee gemeente-venlo --track "
             "'kind=criminal,lead=politie-limburg-noord,deadline=+30d' --dry-run > decision.json"
             " && sed -i 's/case-x/CASE/' decision.json");
    for (size_t i = 0; i < n[2]; i++) {
        s_replace (lines[2][i], sizeof lines[2][i], "case-...", i == 0 ? c1 : c2);
        s_sh_ok (lines[2][i]);
    }
    /* tracks (as politie's partner) */
    s_as ("partner-politie");
    for (size_t i = 0; i < n[4]; i++)
        s_sh_ok (lines[4][i]);
    /* three open tracks led by politie, one per example of track update */
    s_as ("chair");
    for (int k = 0; k < 3; k++) {
        char more[600];
        snprintf (more, sizeof more,
                  "lanternctl decide %s --meeting today --attendee politie-limburg-noord --track "
                  "'kind=labour_inspection,lead=politie-limburg-noord,deadline=+%dd'",
                  c1, 10 + k);
        s_sh_ok (more);
    }
    s_as ("partner-politie");
    run_cmd_result_t r =
        s_sh (0, "lanternctl tracks --lead politie-limburg-noord --kind labour_inspection --json");
    char tracks[3][40];
    const char *p = r.out;
    size_t nt = 0;
    while (nt < 3 && (p = strstr (p, "\"track_id\": \""))) {
        p += strlen ("\"track_id\": \"");
        snprintf (tracks[nt++], sizeof tracks[0], "%.30s", p);
    }
    run_cmd_free (&r);
    assert_int_equal (nt, 3);
    for (size_t i = 0; i < n[3] && i < 3; i++) {
        s_replace (lines[3][i], sizeof lines[3][i], "trk-...", tracks[i]);
        s_sh_ok (lines[3][i]);
    }
    /* alerts: list, ack, all */
    s_as ("chair");
    for (size_t i = 0; i < n[5]; i++) {
        s_replace (lines[5][i], sizeof lines[5][i], "alert-...-danger", alert);
        s_sh_ok (lines[5][i]);
    }
    /* case: list, show, close (c2 was closed by its NO_ACTION decision: a
       case whose every track is done is made for the close example) */
    o = triage_region_client (s_r, 1, "officer-politie");
    char id3[TRIAGE_SIG_ID_SIZE], c3[128];
    triage_sig_t c = {.persons = {{.name = "Elena Ionescu", .phone = "06 77777777"}},
                      .indicators = {"ILO_ISOLATION"}};
    assert_int_equal (triage_submit (o, &c, id3), 0);
    ln_client_destroy (&o);
    assert_int_equal (triage_region_settle (s_r, 30000), 0);
    snprintf (c3, sizeof c3, "case-%s", id3 + 4);
    char cmd[600];
    snprintf (cmd, sizeof cmd,
              "lanternctl decide %s --meeting today --attendee politie-limburg-noord --track "
              "'kind=criminal,lead=politie-limburg-noord,deadline=+5d' | sed -n 's/.*track "
              "\\(trk-[a-z2-7]*\\).*/\\1/p' > t.id && LANTERN_CERT='%s' lanternctl track update "
              "\"$(cat t.id)\" --state done --outcome done",
              c3, bus_keys_secret (triage_region_keys (s_r), "partner-politie"));
    s_sh_ok (cmd);
    for (size_t i = 0; i < n[1]; i++) {
        s_replace (lines[1][i], sizeof lines[1][i], "case-...",
                   strstr (lines[1][i], "close") ? c3 : c1);
        s_sh_ok (lines[1][i]);
    }
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_agenda_table_page_and_case_show),
        cmocka_unit_test (test_decide_flags_file_refusals_and_exit_codes),
        cmocka_unit_test (test_tracks_overdue_update_close_alerts),
        cmocka_unit_test (test_help_examples_run),
    };
    return cmocka_run_group_tests_name ("triage_cli", tests, s_setup, s_teardown);
}
