/*  `lanternctl signal` as a user meets it: the REAL binary, run as a child
    process (run_cmd), first without any node (help, usage errors, the
    details it would send with --dry-run, a node that does not answer),
    then against a real lantern-intake process (intake_fixture: its own
    database, keys and registry) for submit, show, list, amend, withdraw
    and the node's refusals.

    The children run with TZ=UTC, so the local times of `signal show` and
    `signal list` are predictable.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "intake_fixture.h"
#include "run_cmd.h"

#define DEADLINE_MS 20000
#define MAX_ARGS    48

static char s_dir[64];
static intake_fix_t *s_node; /* started by the first test that needs it */

static int
s_setup (void **state)
{
    (void)state;
    setenv ("TZ", "UTC", 1);
    /* the connection comes from flags only */
    unsetenv ("LANTERN_ENDPOINT");
    unsetenv ("LANTERN_SERVER_KEY");
    unsetenv ("LANTERN_CERT");
    snprintf (s_dir, sizeof s_dir, "/tmp/lantern-signal-cli.XXXXXX");
    return mkdtemp (s_dir) ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    int rc = 0;
    if (s_node && intake_fix_stop (&s_node) != 0)
        rc = -1;
    char cmd[128];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    if (system (cmd) != 0)
        rc = -1;
    return rc;
}

static intake_fix_t *
s_need_node (void)
{
    if (!s_node)
        s_node = intake_fix_start (NULL);
    assert_non_null (s_node);
    return s_node;
}

// --------------------------------------------------------------------------
// Running lanternctl

/* Run lanternctl with args (NULL-terminated), as principal `who` of the
   node (NULL: no connection options), with `input` on stdin (may be NULL).
   Fails the test when the exit code is not `expect`, showing the output. */
static run_cmd_result_t
s_run (int expect, const char *who, const char *input, const char *const *args)
{
    char *argv[MAX_ARGS];
    char cert[512];
    int n = 0;
    argv[n++] = (char *)run_cmd_lanternctl ();
    for (int i = 0; args[i]; i++) {
        assert_true (n < MAX_ARGS - 8);
        argv[n++] = (char *)args[i];
    }
    if (who) {
        snprintf (cert, sizeof cert, "%s", intake_fix_secret (s_node, who));
        argv[n++] = "--endpoint";
        argv[n++] = (char *)intake_fix_endpoint (s_node);
        argv[n++] = "--server-key";
        argv[n++] = (char *)intake_fix_server_pub (s_node);
        argv[n++] = "--cert";
        argv[n++] = cert;
    }
    argv[n] = NULL;
    run_cmd_result_t r;
    assert_int_equal (run_cmd (argv, input, DEADLINE_MS, &r), 0);
    if (r.status != expect)
        fail_msg ("lanternctl %s %s: exit %d (expected %d)\nstdout: %s\nstderr: %s", args[0],
                  args[1] ? args[1] : "", r.status, expect, r.out, r.err);
    return r;
}

#define RUN(expect, who, input, ...)                                                               \
    s_run ((expect), (who), (input), (const char *const[]){__VA_ARGS__, NULL})

static void
s_expect (const char *text, const char *part)
{
    if (!strstr (text, part))
        fail_msg ("expected '%s' in:\n%s", part, text);
}

static json_object *
s_parse_json (const char *text)
{
    json_object *o = json_tokener_parse (text);
    if (!o)
        fail_msg ("not JSON: %s", text);
    return o;
}

/* obj.path1.path2... (each a key, or a number for an array index) */
static json_object *
s_at (json_object *obj, const char *path)
{
    char buf[256];
    snprintf (buf, sizeof buf, "%s", path);
    char *save = NULL;
    for (char *part = strtok_r (buf, ".", &save); part; part = strtok_r (NULL, ".", &save)) {
        json_object *next = NULL;
        if (part[0] >= '0' && part[0] <= '9') {
            long i = strtol (part, NULL, 10);
            if (!json_object_is_type (obj, json_type_array) ||
                (size_t)i >= json_object_array_length (obj))
                fail_msg ("no %s", path);
            next = json_object_array_get_idx (obj, (size_t)i);
        }
        else if (!json_object_object_get_ex (obj, part, &next))
            fail_msg ("no %s in %s", path, json_object_to_json_string (obj));
        obj = next;
    }
    return obj;
}

static const char *
s_str (json_object *obj, const char *path)
{
    return json_object_get_string (s_at (obj, path));
}

static void
s_write (const char *name, const char *text, char *path, size_t size)
{
    snprintf (path, size, "%s/%s", s_dir, name);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs (text, f);
    fclose (f);
}

/* The number of lines of text. */
static int
s_lines (const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

// --------------------------------------------------------------------------
// Without a node

static void
test_help (void **state)
{
    (void)state;
    run_cmd_result_t r = RUN (0, NULL, NULL, "--help");
    s_expect (r.out, "signal");
    run_cmd_free (&r);

    r = RUN (0, NULL, NULL, "signal", "--help");
    const char *parts[] = {"submit",        "amend ID",   "withdraw ID", "show ID",
                           "list",          "--endpoint", "exit status", "  2  usage error",
                           "  3  no reply", "examples:"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        s_expect (r.out, parts[i]);
    run_cmd_free (&r);

    /* every flag of every subcommand, and an example */
    static const struct {
        const char *sub;
        const char *flags[32];
    } subs[] = {
        {"submit",
         {"--file",
          "--municipality",
          "--observed",
          "--form",
          "--sector",
          "--indicator",
          "--immediate-danger",
          "--minor",
          "--reporter-role",
          "--reporter-organisation",
          "--reporter-contact",
          "--person",
          "--address",
          "--vehicle",
          "--employer",
          "--account",
          "--account-file",
          "--dry-run",
          "--request-id",
          "--json",
          "--timeout",
          "--retries",
          "--cert",
          "\\,",
          "example",
          NULL}},
        {"amend",
         {"--file", "--municipality", "--form", "--person", "--address", "--vehicle", "--employer",
          "--account", "--account-file", "--dry-run", "--request-id", "--json", "example", NULL}},
        {"withdraw", {"--reason", "--request-id", "--json", "example", NULL}},
        {"show", {"--tokens", "--json", "--endpoint", "example", NULL}},
        {"list",
         {"--status", "--municipality", "--form", "--from", "--to", "--limit", "--page-token",
          "--all", "--json", "example", NULL}},
    };
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        r = RUN (0, NULL, NULL, "signal", subs[i].sub, "--help");
        s_expect (r.out, "usage: lanternctl signal ");
        for (size_t k = 0; subs[i].flags[k]; k++)
            s_expect (r.out, subs[i].flags[k]);
        s_expect (r.out, "exit status");
        assert_string_equal (r.err, "");
        run_cmd_free (&r);
    }
}

static void
test_usage_errors (void **state)
{
    (void)state;
    char not_json[128], array[128], bad_field[128];
    s_write ("not.json", "municipality: GM0983\n", not_json, sizeof not_json);
    s_write ("array.json", "[1, 2]\n", array, sizeof array);
    s_write ("field.json", "{\"municipality\": \"GM0983\", \"colour\": \"red\"}", bad_field,
             sizeof bad_field);
    const struct {
        const char *args[8];
        const char *says;
    } cases[] = {
        {{"signal", NULL}, "lanternctl: signal: missing subcommand"},
        {{"signal", "frobnicate", NULL}, "unknown subcommand 'frobnicate'"},
        {{"signal", "submit", "--frobnicate", NULL}, "unknown option '--frobnicate'"},
        {{"signal", "submit", "--person", "role=victim,nmae=Anna", NULL},
         "--person: unknown key 'nmae' (keys: role, name, dob,"},
        {{"signal", "submit", "--person", "role=boss,name=Anna", NULL},
         "--person: unknown role 'boss'"},
        {{"signal", "submit", "--person", "name", NULL}, "--person: 'name' is not KEY=VALUE"},
        {{"signal", "submit", "--person", "name=A,name=B", NULL}, "'name' given twice"},
        {{"signal", "submit", "--address", "street=Markt,floor=2", NULL},
         "--address: unknown key 'floor'"},
        {{"signal", "submit", "--form", "slavery", NULL},
         "--form: unknown value 'slavery' (one of: sexual, labour, criminal, organ_removal, "
         "unknown)"},
        {{"signal", "submit", "--sector", "mining", NULL}, "--sector: unknown value 'mining'"},
        {{"signal", "submit", "--reporter-role", "alien", NULL},
         "--reporter-role: unknown value 'alien'"},
        {{"signal", "submit", "--file", "/nonexistent/signal.json", NULL},
         "cannot read /nonexistent/signal.json: No such file"},
        {{"signal", "submit", "--file", not_json, NULL}, "JSON_SYNTAX"},
        {{"signal", "submit", "--file", array, NULL}, "not a JSON object"},
        {{"signal", "submit", "--file", bad_field, NULL}, "JSON_UNKNOWN_FIELD: details.colour: "},
        {{"signal", "submit", "--municipality", NULL}, "option '--municipality' needs a value"},
        {{"signal", "submit", "--account", "x", "--account-file", "y", NULL},
         "--account or --account-file"},
        {{"signal", "submit", "sig-abc", NULL}, "unexpected argument 'sig-abc'"},
        {{"signal", "show", NULL}, "lanternctl: signal show: missing ID"},
        {{"signal", "amend", "--minor", NULL}, "lanternctl: signal amend: missing ID"},
        {{"signal", "withdraw", "--reason", "dup", NULL},
         "lanternctl: signal withdraw: missing ID"},
        {{"signal", "show", "sig-a", "sig-b", NULL}, "unexpected argument 'sig-b'"},
        {{"signal", "withdraw", "sig-abc", NULL}, "missing --reason"},
        {{"signal", "withdraw", "sig-abc", "--reason", "", NULL}, "missing --reason"},
        {{"signal", "amend", "sig-abc", "--reporter-role", "citizen", NULL},
         "the reporter of a signal cannot be changed"},
        {{"signal", "show", "sig-abc", "--minor", NULL}, "unknown option '--minor'"},
        {{"signal", "list", "--limit", "0", NULL}, "--limit: not a number in 1..500"},
        {{"signal", "list", "--status", "bogus", NULL}, "--status: unknown value 'bogus'"},
        {{"signal", "list", "--from", "2026-02-30", NULL}, "--from: '2026-02-30' is not"},
        {{"signal", "list", "--to", "yesterday", NULL}, "--to: 'yesterday' is not"},
        {{"signal", "list", "--from", "2026-05-02", "--to", "2026-05-01", NULL},
         "--from must be before --to"},
        {{"signal", "list", "--all", "--page-token", "x", NULL}, "--page-token or --all"},
        {{"signal", "list", "--timeout", "0", NULL}, "--timeout: not a number"},
        {{"signal", "submit", "--request-id", "has space", NULL}, "--request-id: "},
        {{"signal", "show", "sig-abc", NULL}, "no endpoint: give --endpoint"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run_cmd_result_t r = s_run (2, NULL, NULL, cases[i].args);
        s_expect (r.err, cases[i].says);
        s_expect (r.err, "lanternctl: signal");
        assert_string_equal (r.out, "");
        run_cmd_free (&r);
    }
}

/* --dry-run shows what would be sent: the flags' mapping to SignalDetails,
   \, escaping, the file's details with flags added and overriding. */
static void
test_dry_run_builds_details (void **state)
{
    (void)state;
    run_cmd_result_t r = RUN (
        0, NULL, NULL, "signal", "submit", "--dry-run", "--municipality", "GM0983", "--observed",
        "1-5-2026", "--form", "labour", "--form", "CRIMINAL", "--sector", "domestic-work",
        "--indicator", "ILO_DEBT_BONDAGE", "--immediate-danger", "--minor", "--person",
        "role=victim, name=Kowalski\\, Anna,dob=1-2-1990,nationality=PL,bsn=111222333,"
        "document=AB1234567,phone=+48 601 234 567,description=back\\\\slash\\\\,",
        "--person", "role=perpetrator,name=Jan", "--person", "role=WITNESS,phone=0612345678",
        "--address", "street=Markt,number=1,postcode=5911 AB,city=Venlo,country=NL", "--vehicle",
        "plate=AB-123-C,description=white van", "--employer",
        "name=Agro BV,kvk=12345678,address=Venlo", "--reporter-role", "municipal-staff",
        "--reporter-organisation", "Gemeente Venlo", "--reporter-contact", "06-1", "--account",
        "Line one\nline two");
    json_object *o = s_parse_json (r.out);
    assert_string_equal (s_str (o, "details.municipality"), "GM0983");
    assert_string_equal (s_str (o, "details.observed_on"), "1-5-2026");
    assert_string_equal (s_str (o, "details.forms.0"), "EXPLOITATION_FORM_LABOUR");
    assert_string_equal (s_str (o, "details.forms.1"), "EXPLOITATION_FORM_CRIMINAL");
    assert_string_equal (s_str (o, "details.sector"), "LABOUR_SECTOR_DOMESTIC_WORK");
    assert_string_equal (s_str (o, "details.indicators.0"), "ILO_DEBT_BONDAGE");
    assert_true (json_object_get_boolean (s_at (o, "details.immediate_danger")));
    assert_true (json_object_get_boolean (s_at (o, "details.minor_involved")));
    assert_string_equal (s_str (o, "details.persons.0.role"), "PERSON_ROLE_POSSIBLE_VICTIM");
    assert_string_equal (s_str (o, "details.persons.0.name"), "Kowalski, Anna");
    assert_string_equal (s_str (o, "details.persons.0.date_of_birth"), "1-2-1990");
    assert_string_equal (s_str (o, "details.persons.0.bsn"), "111222333");
    assert_string_equal (s_str (o, "details.persons.0.document_number"), "AB1234567");
    assert_string_equal (s_str (o, "details.persons.0.phone"), "+48 601 234 567");
    assert_string_equal (s_str (o, "details.persons.0.description"), "back\\slash\\");
    assert_string_equal (s_str (o, "details.persons.1.role"), "PERSON_ROLE_POSSIBLE_PERPETRATOR");
    assert_string_equal (s_str (o, "details.persons.2.role"), "PERSON_ROLE_WITNESS");
    assert_string_equal (s_str (o, "details.addresses.0.house_number"), "1");
    assert_string_equal (s_str (o, "details.addresses.0.postcode"), "5911 AB");
    assert_string_equal (s_str (o, "details.vehicles.0.licence_plate"), "AB-123-C");
    assert_string_equal (s_str (o, "details.employers.0.kvk_number"), "12345678");
    assert_string_equal (s_str (o, "details.reporter.role"), "REPORTER_ROLE_MUNICIPAL_STAFF");
    assert_string_equal (s_str (o, "details.reporter.organisation"), "Gemeente Venlo");
    assert_string_equal (s_str (o, "details.account"), "Line one\nline two");
    json_object_put (o);
    run_cmd_free (&r);

    /* a file (camelCase names too) with flags: single values overridden,
       lists added to */
    char path[128];
    s_write ("details.json",
             "{\"observedOn\": \"2026-04-01\", \"municipality\": \"GM0935\",\n"
             " \"forms\": [\"EXPLOITATION_FORM_SEXUAL\"],\n"
             " \"persons\": [{\"role\": \"PERSON_ROLE_WITNESS\", \"name\": \"From File\"}],\n"
             " \"reporter\": {\"role\": \"REPORTER_ROLE_CITIZEN\", \"contact\": \"mail\"}}\n",
             path, sizeof path);
    r = RUN (0, NULL, NULL, "signal", "submit", "--dry-run", "--file", path, "--observed",
             "2026-05-01", "--form", "labour", "--person", "role=victim,name=From Flag",
             "--reporter-organisation", "School");
    o = s_parse_json (r.out);
    assert_string_equal (s_str (o, "details.observed_on"), "2026-05-01");
    assert_string_equal (s_str (o, "details.municipality"), "GM0935");
    assert_string_equal (s_str (o, "details.forms.0"), "EXPLOITATION_FORM_SEXUAL");
    assert_string_equal (s_str (o, "details.forms.1"), "EXPLOITATION_FORM_LABOUR");
    assert_string_equal (s_str (o, "details.persons.0.name"), "From File");
    assert_string_equal (s_str (o, "details.persons.1.name"), "From Flag");
    assert_string_equal (s_str (o, "details.reporter.role"), "REPORTER_ROLE_CITIZEN");
    assert_string_equal (s_str (o, "details.reporter.contact"), "mail");
    assert_string_equal (s_str (o, "details.reporter.organisation"), "School");
    json_object_put (o);
    run_cmd_free (&r);

    /* the account from stdin; amend's command */
    r = RUN (0, NULL, "seen at the market\n", "signal", "amend", "sig-abc", "--dry-run",
             "--account-file", "-", "--vehicle", "plate=XY-99-Z");
    o = s_parse_json (r.out);
    assert_string_equal (s_str (o, "signal_id"), "sig-abc");
    assert_string_equal (s_str (o, "added.account"), "seen at the market\n");
    assert_string_equal (s_str (o, "added.vehicles.0.licence_plate"), "XY-99-Z");
    json_object_put (o);
    run_cmd_free (&r);

    /* what ln_pbcheck refuses is refused here, with the field's path */
    r = RUN (2, NULL, NULL, "signal", "submit", "--dry-run", "--person", "name=bell\a");
    s_expect (r.err, "PB_INVALID_UTF8: details.persons[0].name");
    run_cmd_free (&r);
}

/* No node at the endpoint: exit 3, and the request_id to retry with. */
static void
test_no_reply_exits_3 (void **state)
{
    (void)state;
    char keys[128], pub[160], secret[160];
    snprintf (keys, sizeof keys, "%s/keys", s_dir);
    assert_int_equal (mkdir (keys, 0700), 0);
    run_cmd_result_t r = RUN (0, NULL, NULL, "keygen", "node", "--dir", keys);
    run_cmd_free (&r);
    r = RUN (0, NULL, NULL, "keygen", "me", "--dir", keys);
    run_cmd_free (&r);
    snprintf (pub, sizeof pub, "%s/node.pub", keys);
    snprintf (secret, sizeof secret, "%s/me.secret", keys);
    r = RUN (3, NULL, NULL, "signal", "submit", "--municipality", "GM0983", "--endpoint",
             "tcp://127.0.0.1:9", "--server-key", pub, "--cert", secret, "--timeout", "200",
             "--retries", "1", "--request-id", "retry-me-1");
    s_expect (r.err, "lanternctl: signal submit: no ");
    s_expect (r.err, "may or may not have taken effect; retry with --request-id retry-me-1");
    assert_string_equal (r.out, "");
    run_cmd_free (&r);
    r = RUN (3, NULL, NULL, "signal", "list", "--endpoint", "tcp://127.0.0.1:9", "--server-key",
             pub, "--cert", secret, "--timeout", "200", "--retries", "0");
    s_expect (r.err, "lanternctl: signal list: no ");
    assert_null (strstr (r.err, "may or may not")); /* a read changes nothing */
    run_cmd_free (&r);
}

// --------------------------------------------------------------------------
// Against a real intake node

#define SIGNAL_FLAGS                                                                               \
    "--reporter-role", "citizen", "--observed", "2026-05-01", "--municipality", "GM0983",          \
        "--form", "labour"

/* Submit with the flags plus a person; returns the id (static buffer). */
static const char *
s_submit (const char *name)
{
    static char id[64];
    char person[128];
    snprintf (person, sizeof person, "role=victim,name=%s,dob=1-2-1990,nationality=PL", name);
    run_cmd_result_t r = RUN (0, "officer", NULL, "signal", "submit", SIGNAL_FLAGS, "--person",
                              person, "--indicator", "ILO_DEBT_BONDAGE");
    /* signal sig-... received (version 1, catalogue 2026.2, event ...) */
    assert_int_equal (strncmp (r.out, "signal sig-", 11), 0);
    assert_int_equal (sscanf (r.out, "signal %63s received", id), 1);
    assert_int_equal (strlen (id), 30);
    s_expect (r.out, " received (version 1, catalogue 2026.2, event ");
    assert_int_equal (s_lines (r.out), 1);
    run_cmd_free (&r);
    return id;
}

static void
test_submit_show_list (void **state)
{
    (void)state;
    s_need_node ();
    char id[64];
    snprintf (id, sizeof id, "%s", s_submit ("Anna Kowalska"));

    /* show: the header and the persons table, times in local time (UTC) */
    run_cmd_result_t r = RUN (0, "officer", NULL, "signal", "show", id);
    const char *parts[] = {"signal        ",
                           id,
                           "status        received",
                           "version       1",
                           "municipality  GM0983",
                           "forms         labour",
                           "catalogue     2026.2",
                           "submitted by  officer",
                           "reporter      citizen",
                           "+00:00",
                           "\npersons\n  ROLE ",
                           "NAME",
                           "BORN",
                           "NATIONALITY",
                           "BSN",
                           "DOCUMENT",
                           "PHONE",
                           "possible_victim",
                           "Anna Kowalska",
                           "\nindicators\n",
                           "ILO_DEBT_BONDAGE",
                           "\nhistory\n  VERSION  ACTION",
                           "submitted"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        s_expect (r.out, parts[i]);
    assert_null (strstr (r.out, "\ntokens\n")); /* only with --tokens */
    run_cmd_free (&r);

    r = RUN (0, "officer", NULL, "signal", "show", id, "--tokens");
    s_expect (r.out, "\ntokens\n  OF ");
    s_expect (r.out, "persons[0]");
    run_cmd_free (&r);

    /* --json: the SignalRecord; tokens only with --tokens */
    r = RUN (0, "officer", NULL, "signal", "show", id, "--json");
    json_object *o = s_parse_json (r.out);
    assert_string_equal (s_str (o, "signal.id"), id);
    assert_string_equal (s_str (o, "signal.details.persons.0.name"), "Anna Kowalska");
    assert_string_equal (s_str (o, "history.0.action"), "submitted");
    assert_null (strstr (r.out, "\"tokens\""));
    json_object_put (o);
    run_cmd_free (&r);
    r = RUN (0, "officer", NULL, "signal", "show", id, "--json", "--tokens");
    o = s_parse_json (r.out);
    assert_true (json_object_array_length (s_at (o, "signal.details.persons.0.tokens")) > 0);
    json_object_put (o);
    run_cmd_free (&r);

    /* list: the table holds it */
    r = RUN (0, "officer", NULL, "signal", "list");
    s_expect (r.out, "ID ");
    s_expect (r.out, "STATUS");
    s_expect (r.out, "RECEIVED");
    s_expect (r.out, "MUNICIPALITY");
    s_expect (r.out, "URGENT");
    s_expect (r.out, id);
    run_cmd_free (&r);
    r = RUN (0, "officer", NULL, "signal", "list", "--json", "--status", "received", "--form",
             "LABOUR", "--municipality", "GM0983");
    o = s_parse_json (r.out);
    bool found = false;
    json_object *signals = s_at (o, "signals");
    for (size_t i = 0; i < json_object_array_length (signals); i++)
        found |= strcmp (s_str (json_object_array_get_idx (signals, i), "id"), id) == 0;
    assert_true (found);
    json_object_put (o);
    run_cmd_free (&r);

    /* another organisation does not get it */
    r = RUN (1, "other-officer", NULL, "signal", "show", id);
    s_expect (r.err, "lanternctl: signal refused: ");
    assert_int_equal (s_lines (r.err), 1);
    assert_string_equal (r.out, "");
    run_cmd_free (&r);
}

static void
test_submit_from_file_and_json (void **state)
{
    (void)state;
    s_need_node ();
    char path[128];
    s_write ("signal.json",
             "{\"reporter\": {\"role\": \"REPORTER_ROLE_SCHOOL\"},\n"
             " \"observedOn\": \"2026-04-30\", \"municipality\": \"GM0983\",\n"
             " \"forms\": [\"EXPLOITATION_FORM_SEXUAL\"],\n"
             " \"persons\": [{\"role\": \"PERSON_ROLE_POSSIBLE_VICTIM\", \"name\": \"Zoë "
             "Ångström\", \"phone\": \"0612345678\"}],\n"
             " \"account\": \"first line\\nsecond line\"}\n",
             path, sizeof path);
    run_cmd_result_t r = RUN (0, "officer", NULL, "signal", "submit", "--file", path);
    char id[64];
    assert_int_equal (sscanf (r.out, "signal %63s received", id), 1);
    run_cmd_free (&r);

    r = RUN (0, "officer", NULL, "signal", "show", id);
    s_expect (r.out, "Zoë Ångström");
    s_expect (r.out, "reporter      school");
    s_expect (r.out, "\naccount\n  first line\n  second line\n");
    /* the columns line up by code points: NAME starts where the name does */
    const char *header = strstr (r.out, "  ROLE ");
    const char *row = strstr (r.out, "  possible_victim ");
    assert_non_null (header);
    assert_non_null (row);
    assert_int_equal (strstr (header, "NAME") - header, strstr (row, "Zo") - row);
    run_cmd_free (&r);

    /* --json of submit: the SignalAccepted */
    r = RUN (0, "officer", NULL, "signal", "submit", "--file", path, "--json");
    json_object *o = s_parse_json (r.out);
    assert_int_equal (strncmp (s_str (o, "signal_id"), "sig-", 4), 0);
    assert_int_equal (json_object_get_int (s_at (o, "version")), 1);
    assert_string_equal (s_str (o, "catalogue_version"), "2026.2");
    assert_string_equal (s_str (o, "status"), "SIGNAL_STATUS_RECEIVED");
    json_object_put (o);
    run_cmd_free (&r);
}

static void
test_amend_then_withdraw (void **state)
{
    (void)state;
    s_need_node ();
    char id[64];
    snprintf (id, sizeof id, "%s", s_submit ("Piotr Nowak"));

    run_cmd_result_t r =
        RUN (0, "officer2", NULL, "signal", "amend", id, "--vehicle",
             "plate=AB-123-C,description=white van", "--address",
             "street=Markt,number=1,postcode=5911 AB,city=Venlo", "--account", "he came back");
    char expect[128];
    snprintf (expect, sizeof expect, "signal %s amended (version 2", id);
    s_expect (r.out, expect);
    run_cmd_free (&r);

    r = RUN (0, "officer", NULL, "signal", "show", id);
    s_expect (r.out, "version       2");
    s_expect (r.out, "\nvehicles\n  PLATE");
    s_expect (r.out, "white van");
    s_expect (r.out, "\naddresses\n  STREET");
    s_expect (r.out, "5911");
    s_expect (r.out, "\nhistory\n  VERSION  ACTION     BY");
    s_expect (r.out, "submitted");
    s_expect (r.out, "amended");
    s_expect (r.out, "officer2");
    run_cmd_free (&r);

    /* withdraw: the reason is required; then status and history say so */
    r = RUN (2, "officer", NULL, "signal", "withdraw", id);
    s_expect (r.err, "missing --reason");
    run_cmd_free (&r);
    r = RUN (0, "officer", NULL, "signal", "withdraw", id, "--reason", "entered twice");
    snprintf (expect, sizeof expect, "signal %s withdrawn (version 3", id);
    s_expect (r.out, expect);
    run_cmd_free (&r);
    r = RUN (0, "officer", NULL, "signal", "show", id);
    s_expect (r.out, "status        withdrawn");
    s_expect (r.out, "withdrawn");
    s_expect (r.out, "entered twice");
    run_cmd_free (&r);
    r = RUN (0, "officer", NULL, "signal", "list", "--status", "withdrawn", "--json");
    s_expect (r.out, id);
    json_object_put (s_parse_json (r.out));
    run_cmd_free (&r);
}

static void
test_refusals (void **state)
{
    (void)state;
    s_need_node ();
    long before = intake_fix_count (s_node, "signals");

    /* a BSN failing the 11-check: the code and the field, one line, exit 1 */
    run_cmd_result_t r = RUN (1, "officer", NULL, "signal", "submit", SIGNAL_FLAGS, "--person",
                              "role=victim,name=Anna,bsn=111222334");
    s_expect (r.err, "lanternctl: signal refused: BSN_CHECKSUM at details.persons[0].bsn: ");
    assert_int_equal (s_lines (r.err), 1);
    assert_string_equal (r.out, "");
    run_cmd_free (&r);
    /* a valid one passes */
    r = RUN (0, "officer", NULL, "signal", "submit", SIGNAL_FLAGS, "--person",
             "role=victim,name=Anna,bsn=111222333");
    run_cmd_free (&r);

    /* no reporter role: the node's rule, named */
    r = RUN (1, "officer", NULL, "signal", "submit", "--observed", "2026-05-01", "--municipality",
             "GM0983", "--form", "labour", "--person", "role=victim,name=Anna");
    s_expect (r.err, "lanternctl: signal refused: MISSING_REPORTER_ROLE at details.reporter");
    run_cmd_free (&r);

    /* an amendment of a signal that is not there */
    r = RUN (1, "officer", NULL, "signal", "amend", "sig-aaaaaaaaaaaaaaaaaaaaaaaaaa", "--minor");
    s_expect (r.err, "lanternctl: signal refused: ");
    assert_int_equal (s_lines (r.err), 1);
    run_cmd_free (&r);
    assert_int_equal (intake_fix_count (s_node, "signals"), before + 1);

    /* a key the node does not know never gets an answer: exit 3 */
    r = RUN (3, "stranger", NULL, "signal", "list", "--timeout", "300", "--retries", "0");
    s_expect (r.err, "lanternctl: signal list: no ");
    run_cmd_free (&r);
}

static void
test_list_pages (void **state)
{
    (void)state;
    s_need_node ();
    s_submit ("Page One");
    s_submit ("Page Two");
    s_submit ("Page Three");

    /* one page: a hint with the next token on stderr */
    run_cmd_result_t r = RUN (0, "officer", NULL, "signal", "list", "--limit", "1");
    assert_int_equal (s_lines (r.out), 2); /* header + one */
    s_expect (r.err, "--page-token ");
    char token[256];
    const char *at = strstr (r.err, "--page-token ") + strlen ("--page-token ");
    assert_int_equal (sscanf (at, "%255s", token), 1);
    run_cmd_free (&r);
    r = RUN (0, "officer", NULL, "signal", "list", "--limit", "1", "--page-token", token);
    assert_int_equal (s_lines (r.out), 2);
    run_cmd_free (&r);

    /* --all follows the pages: every signal, once */
    r = RUN (0, "officer", NULL, "signal", "list", "--limit", "1", "--all", "--json");
    json_object *o = s_parse_json (r.out);
    size_t n = json_object_array_length (s_at (o, "signals"));
    assert_string_equal (s_str (o, "next_page_token"), "");
    json_object_put (o);
    run_cmd_free (&r);
    r = RUN (0, "officer", NULL, "signal", "list", "--limit", "500", "--json");
    o = s_parse_json (r.out);
    assert_int_equal (json_object_array_length (s_at (o, "signals")), n);
    assert_true (n >= 3);
    json_object_put (o);
    run_cmd_free (&r);
    r = RUN (0, "officer", NULL, "signal", "list", "--limit", "2", "--all");
    assert_int_equal ((size_t)s_lines (r.out), n + 1);
    assert_string_equal (r.err, "");
    run_cmd_free (&r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_help),
        cmocka_unit_test (test_usage_errors),
        cmocka_unit_test (test_dry_run_builds_details),
        cmocka_unit_test (test_no_reply_exits_3),
        cmocka_unit_test (test_submit_show_list),
        cmocka_unit_test (test_submit_from_file_and_json),
        cmocka_unit_test (test_amend_then_withdraw),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_list_pages),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
