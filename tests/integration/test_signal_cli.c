/*  `lanternctl signal` as a user meets it: the REAL binary, run as a child
    process (run_cmd), first without any node (help, usage errors, the
    details it would send with --dry-run, what --file takes and the round
    trip of --dry-run through --file, the template, each exit status that
    needs no node, a node that does not answer), then against a real
    lantern-intake process (intake_fixture: its own database, keys and
    registry) for submit, show, list, amend, withdraw, the node's refusals,
    a filled-in template, and every example of every `signal ... --help`,
    run as printed.

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
#include "lantern.pb-c.h"
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
    const char *parts[] = {"submit",     "amend ID",         "withdraw ID",      "show ID",
                           "list",       "template",         "--endpoint",       "exit status",
                           "  2  usage", "  3  unreachable", "  4  local error", "examples:"};
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
          "--all", "--json", "D-M-YYYY", "example", NULL}},
        {"template", {"--file", "// to the end", "example", NULL}},
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
    char bad_form[128], bad_role[128], former[128];
    s_write ("form.json", "{\"forms\": [\"labour\", \"slavery\"]}", bad_form, sizeof bad_form);
    s_write ("role.json", "{\"persons\": [{\"role\": \"boss\", \"name\": \"Anna\"}]}", bad_role,
             sizeof bad_role);
    s_write ("former.json", "// Haaren was divided in 2021\n{\"municipality\": \"GM0788\"}\n",
             former, sizeof former);
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
        {{"signal", "submit", "--municipality", "GM9999", NULL},
         "--municipality: UNKNOWN_MUNICIPALITY: GM9999 is no municipality"},
        {{"signal", "submit", "--municipality", "GM0756", "--dry-run", NULL},
         "--municipality: FORMER_MUNICIPALITY: GM0756 (Boxmeer) merged into GM1982 Land van Cuijk "
         "on 2022-01-01"},
        {{"signal", "list", "--municipality", "gm0983", NULL},
         "--municipality: INVALID_MUNICIPALITY: not a CBS municipality code"},
        {{"signal", "submit", "--file", bad_form, NULL},
         "details.forms[1]: unknown value 'slavery' (one of: sexual, labour, criminal, "
         "organ_removal, unknown)"},
        {{"signal", "submit", "--file", bad_role, NULL},
         "details.persons[0].role: unknown value 'boss' (one of: victim, perpetrator, witness)"},
        {{"signal", "amend", "sig-abc", "--file", bad_form, NULL}, "added.forms[1]: unknown value"},
        {{"signal", "submit", "--file", former, NULL},
         "details.municipality: FORMER_MUNICIPALITY: GM0788 (Haaren) was divided among"},
        {{"signal", "template", "extra", NULL}, "unexpected argument 'extra'"},
        {{"signal", "list", "--from", "1-13-2026", NULL}, "--from: '1-13-2026' is not a date"},
        {{"signal", "list", "--from", "2026-05-01 25:00", NULL}, "is not a date"},
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
    assert_string_equal (s_str (o, "municipality"), "GM0983");
    assert_string_equal (s_str (o, "observed_on"), "1-5-2026");
    assert_string_equal (s_str (o, "forms.0"), "EXPLOITATION_FORM_LABOUR");
    assert_string_equal (s_str (o, "forms.1"), "EXPLOITATION_FORM_CRIMINAL");
    assert_string_equal (s_str (o, "sector"), "LABOUR_SECTOR_DOMESTIC_WORK");
    assert_string_equal (s_str (o, "indicators.0"), "ILO_DEBT_BONDAGE");
    assert_true (json_object_get_boolean (s_at (o, "immediate_danger")));
    assert_true (json_object_get_boolean (s_at (o, "minor_involved")));
    assert_string_equal (s_str (o, "persons.0.role"), "PERSON_ROLE_POSSIBLE_VICTIM");
    assert_string_equal (s_str (o, "persons.0.name"), "Kowalski, Anna");
    assert_string_equal (s_str (o, "persons.0.date_of_birth"), "1-2-1990");
    assert_string_equal (s_str (o, "persons.0.bsn"), "111222333");
    assert_string_equal (s_str (o, "persons.0.document_number"), "AB1234567");
    assert_string_equal (s_str (o, "persons.0.phone"), "+48 601 234 567");
    assert_string_equal (s_str (o, "persons.0.description"), "back\\slash\\");
    assert_string_equal (s_str (o, "persons.1.role"), "PERSON_ROLE_POSSIBLE_PERPETRATOR");
    assert_string_equal (s_str (o, "persons.2.role"), "PERSON_ROLE_WITNESS");
    assert_string_equal (s_str (o, "addresses.0.house_number"), "1");
    assert_string_equal (s_str (o, "addresses.0.postcode"), "5911 AB");
    assert_string_equal (s_str (o, "vehicles.0.licence_plate"), "AB-123-C");
    assert_string_equal (s_str (o, "employers.0.kvk_number"), "12345678");
    assert_string_equal (s_str (o, "reporter.role"), "REPORTER_ROLE_MUNICIPAL_STAFF");
    assert_string_equal (s_str (o, "reporter.organisation"), "Gemeente Venlo");
    assert_string_equal (s_str (o, "account"), "Line one\nline two");
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
    assert_string_equal (s_str (o, "observed_on"), "2026-05-01");
    assert_string_equal (s_str (o, "municipality"), "GM0935");
    assert_string_equal (s_str (o, "forms.0"), "EXPLOITATION_FORM_SEXUAL");
    assert_string_equal (s_str (o, "forms.1"), "EXPLOITATION_FORM_LABOUR");
    assert_string_equal (s_str (o, "persons.0.name"), "From File");
    assert_string_equal (s_str (o, "persons.1.name"), "From Flag");
    assert_string_equal (s_str (o, "reporter.role"), "REPORTER_ROLE_CITIZEN");
    assert_string_equal (s_str (o, "reporter.contact"), "mail");
    assert_string_equal (s_str (o, "reporter.organisation"), "School");
    json_object_put (o);
    run_cmd_free (&r);

    /* the account from stdin; amend's command */
    r = RUN (0, NULL, "seen at the market\n", "signal", "amend", "sig-abc", "--dry-run",
             "--account-file", "-", "--vehicle", "plate=XY-99-Z");
    o = s_parse_json (r.out);
    assert_string_equal (s_str (o, "account"), "seen at the market\n");
    assert_string_equal (s_str (o, "vehicles.0.licence_plate"), "XY-99-Z");
    assert_false (json_object_object_get_ex (o, "signal_id", NULL)); /* the argument */
    json_object_put (o);
    run_cmd_free (&r);

    /* what ln_pbcheck refuses is refused here, with the field's path */
    r = RUN (2, NULL, NULL, "signal", "submit", "--dry-run", "--person", "name=bell\a");
    s_expect (r.err, "PB_INVALID_UTF8: details.persons[0].name");
    run_cmd_free (&r);
}

/* --file speaks the flags' words: short enum names, // comments (but not
   inside strings), empty values and empty entries left out. */
static void
test_file_speaks_the_flags_words (void **state)
{
    (void)state;
    char path[128];
    s_write ("words.json",
             "// a signal, by hand\n"
             "{\n"
             "  \"reporter\": {\"role\": \"municipal_staff\", \"contact\": \"\"}, // who\n"
             "  \"observed_on\": \"1.5.2026\",\n"
             "  \"municipality\": \"GM0983\",\n"
             "  \"forms\": [\"labour\", \"Criminal\", \"\"],\n"
             "  \"sector\": \"meat-processing\",\n"
             "  \"indicators\": [\"ILO_DEBT_BONDAGE\", \"\"],\n"
             "  \"persons\": [{\"role\": \"victim\", \"name\": \"Anna (Ania) Kowalska\"},\n"
             "              {\"role\": \"suspect\", \"name\": \"Piet\"},\n"
             "              {\"role\": \"\", \"name\": \"\", \"phone\": \"\"}],\n"
             "  \"addresses\": [{\"street\": \"\", \"city\": \"\"}],\n"
             "  \"vehicles\": [],\n"
             "  \"account\": \"see http://example.org/a // not a comment\\n\" // this is\n"
             "}\n",
             path, sizeof path);
    run_cmd_result_t r = RUN (0, NULL, NULL, "signal", "submit", "--dry-run", "--file", path);
    json_object *o = s_parse_json (r.out);
    assert_string_equal (s_str (o, "reporter.role"), "REPORTER_ROLE_MUNICIPAL_STAFF");
    assert_string_equal (s_str (o, "forms.0"), "EXPLOITATION_FORM_LABOUR");
    assert_string_equal (s_str (o, "forms.1"), "EXPLOITATION_FORM_CRIMINAL");
    assert_int_equal (json_object_array_length (s_at (o, "forms")), 2);
    assert_string_equal (s_str (o, "sector"), "LABOUR_SECTOR_MEAT_PROCESSING");
    assert_int_equal (json_object_array_length (s_at (o, "indicators")), 1);
    assert_string_equal (s_str (o, "persons.0.role"), "PERSON_ROLE_POSSIBLE_VICTIM");
    assert_string_equal (s_str (o, "persons.1.role"), "PERSON_ROLE_POSSIBLE_PERPETRATOR");
    assert_int_equal (json_object_array_length (s_at (o, "persons")), 2);
    assert_false (json_object_object_get_ex (o, "addresses", NULL));
    assert_false (json_object_object_get_ex (o, "vehicles", NULL));
    assert_string_equal (s_str (o, "account"), "see http://example.org/a // not a comment\n");
    json_object_put (o);
    run_cmd_free (&r);

    /* the full names still do, and so does the zero value (unset) */
    s_write ("full.json",
             "{\"forms\": [\"EXPLOITATION_FORM_SEXUAL\"], \"sector\": "
             "\"LABOUR_SECTOR_UNSPECIFIED\",\n"
             " \"reporter\": {\"role\": \"REPORTER_ROLE_SCHOOL\"}}\n",
             path, sizeof path);
    r = RUN (0, NULL, NULL, "signal", "submit", "--dry-run", "--file", path);
    o = s_parse_json (r.out);
    assert_string_equal (s_str (o, "forms.0"), "EXPLOITATION_FORM_SEXUAL");
    assert_string_equal (s_str (o, "reporter.role"), "REPORTER_ROLE_SCHOOL");
    assert_false (json_object_object_get_ex (o, "sector", NULL));
    json_object_put (o);
    run_cmd_free (&r);

    /* a comment that swallows a closing brace is a JSON error, named */
    s_write ("swallowed.json", "{\"account\": \"x\" // }\n", path, sizeof path);
    r = RUN (2, NULL, NULL, "signal", "submit", "--dry-run", "--file", path);
    s_expect (r.err, "JSON_SYNTAX");
    run_cmd_free (&r);
}

/* What --dry-run prints, --file takes back unchanged: flags -> JSON ->
   --file -> the same JSON, byte for byte; for submit and amend. */
static void
test_dry_run_round_trip (void **state)
{
    (void)state;
    run_cmd_result_t first = RUN (
        0, NULL, NULL, "signal", "submit", "--dry-run", "--reporter-role", "police",
        "--reporter-organisation", "Politie Limburg-Noord", "--observed", "27-11-2026",
        "--municipality", "GM1507", "--form", "labour", "--form", "sexual", "--sector",
        "horticulture", "--indicator", "ILO_DEBT_BONDAGE", "--indicator", "LIVES_AT_WORKPLACE",
        "--immediate-danger", "--minor", "--person",
        "role=victim,name=Zoë (Zo) O’Neill,dob=2010-02-01,nationality=IE,phone=06 12345678",
        "--person", "role=perpetrator,description=tall\\, speaks Dutch", "--address",
        "street=Markt,number=1,postcode=5911 AB,city=Venlo", "--vehicle",
        "plate=AB-123-C,country=NL", "--employer", "name=De Wit & Zn. (Venlo) B.V.,kvk=12345678",
        "--account", "line one\nline \"two\"\t// tab");
    char path[128];
    s_write ("round.json", first.out, path, sizeof path);
    run_cmd_result_t again = RUN (0, NULL, NULL, "signal", "submit", "--dry-run", "--file", path);
    assert_string_equal (again.out, first.out);
    run_cmd_free (&again);
    /* and through stdin */
    again = RUN (0, NULL, first.out, "signal", "submit", "--dry-run", "--file", "-");
    assert_string_equal (again.out, first.out);
    run_cmd_free (&again);
    run_cmd_free (&first);

    first = RUN (0, NULL, NULL, "signal", "amend", "sig-abc", "--dry-run", "--form", "criminal",
                 "--person", "role=witness,name=Jan", "--minor");
    s_write ("round-amend.json", first.out, path, sizeof path);
    again = RUN (0, NULL, NULL, "signal", "amend", "sig-abc", "--dry-run", "--file", path);
    assert_string_equal (again.out, first.out);
    run_cmd_free (&again);
    run_cmd_free (&first);
}

/* The template is complete (every field of SignalDetails), commented, and
   --file takes it as it is: empty, it says nothing. */
static void
test_template (void **state)
{
    (void)state;
    run_cmd_result_t t = RUN (0, NULL, NULL, "signal", "template");
    const char *fields[] = {"\"reporter\"",
                            "\"role\"",
                            "\"organisation\"",
                            "\"contact\"",
                            "\"observed_on\"",
                            "\"municipality\"",
                            "\"forms\"",
                            "\"sector\"",
                            "\"indicators\"",
                            "\"immediate_danger\"",
                            "\"minor_involved\"",
                            "\"persons\"",
                            "\"name\"",
                            "\"date_of_birth\"",
                            "\"nationality\"",
                            "\"bsn\"",
                            "\"document_number\"",
                            "\"phone\"",
                            "\"description\"",
                            "\"addresses\"",
                            "\"street\"",
                            "\"house_number\"",
                            "\"postcode\"",
                            "\"city\"",
                            "\"country\"",
                            "\"vehicles\"",
                            "\"licence_plate\"",
                            "\"employers\"",
                            "\"kvk_number\"",
                            "\"address\"",
                            "\"account\"",
                            "municipal_staff",
                            "organ_removal",
                            "domestic_work",
                            "victim, perpetrator or witness",
                            "// "};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        s_expect (t.out, fields[i]);
    assert_string_equal (t.err, "");
    run_cmd_free (&t);
    /* every field of the message is in it: the descriptor says which */
    t = RUN (0, NULL, NULL, "signal", "template");
    const ProtobufCMessageDescriptor *d = &lantern__v1__signal_details__descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        char quoted[80];
        snprintf (quoted, sizeof quoted, "\"%s\"", d->fields[i].name);
        s_expect (t.out, quoted);
    }
    char path[128];
    s_write ("template.json", t.out, path, sizeof path);
    run_cmd_free (&t);
    t = RUN (0, NULL, NULL, "signal", "submit", "--dry-run", "--file", path);
    assert_string_equal (t.out, "{\n}\n");
    run_cmd_free (&t);
}

/* Each exit status that needs no node: 4 for files that cannot be read,
   2 for a wrong kind of key file or an endpoint without tcp:// (saying
   what was meant), 3 when nobody answers. */
static void
test_exit_codes_without_a_node (void **state)
{
    (void)state;
    char keys[128], pub[160], secret[160], node_secret[160], missing[160];
    snprintf (keys, sizeof keys, "%s/exit-keys", s_dir);
    run_cmd_result_t r = RUN (0, NULL, NULL, "keygen", "node", "--dir", keys);
    run_cmd_free (&r);
    r = RUN (0, NULL, NULL, "keygen", "me", "--dir", keys);
    run_cmd_free (&r);
    snprintf (pub, sizeof pub, "%s/node.pub", keys);
    snprintf (node_secret, sizeof node_secret, "%s/node.secret", keys);
    snprintf (secret, sizeof secret, "%s/me.secret", keys);
    snprintf (missing, sizeof missing, "%s/nobody.secret", keys);
    char my_pub[160];
    snprintf (my_pub, sizeof my_pub, "%s/me.pub", keys);

    /* 4: a file that cannot be read */
    r = RUN (4, NULL, NULL, "signal", "submit", "--file", "/nonexistent/signal.json");
    s_expect (r.err, "cannot read /nonexistent/signal.json: No such file");
    run_cmd_free (&r);
    r = RUN (4, NULL, NULL, "signal", "amend", "sig-abc", "--account-file", "/nonexistent/a.txt");
    s_expect (r.err, "cannot read /nonexistent/a.txt");
    run_cmd_free (&r);
    r = RUN (4, NULL, NULL, "signal", "show", "sig-abc", "--endpoint", "tcp://127.0.0.1:9",
             "--server-key", pub, "--cert", missing);
    s_expect (r.err, "--cert: ");
    run_cmd_free (&r);

    /* 2: a public certificate as --cert, a secret one as --server-key, an
       endpoint without its transport; each says what was meant */
    r = RUN (2, NULL, NULL, "signal", "list", "--endpoint", "tcp://127.0.0.1:9", "--server-key",
             pub, "--cert", my_pub);
    s_expect (r.err, "is a public certificate, not a key pair");
    s_expect (r.err, "did you mean ");
    s_expect (r.err, "me.secret?");
    run_cmd_free (&r);
    r = RUN (2, NULL, NULL, "signal", "list", "--endpoint", "tcp://127.0.0.1:9", "--server-key",
             node_secret, "--cert", secret);
    s_expect (r.err, "holds a secret key: give the node's public certificate");
    s_expect (r.err, "node.pub?");
    run_cmd_free (&r);
    r = RUN (2, NULL, NULL, "signal", "list", "--endpoint", "127.0.0.1:5711", "--server-key", pub,
             "--cert", secret);
    s_expect (r.err, "--endpoint '127.0.0.1:5711' names no transport");
    s_expect (r.err, "did you mean tcp://127.0.0.1:5711?");
    run_cmd_free (&r);
    r = RUN (2, NULL, NULL, "signal", "list", "--endpoint", "tcp://127.0.0.1", "--server-key", pub,
             "--cert", secret);
    s_expect (r.err, "expected tcp://HOST:PORT");
    run_cmd_free (&r);

    /* 3: nobody answers, for every subcommand that asks */
    const char *const subs[][4] = {
        {"show", "sig-aaaaaaaaaaaaaaaaaaaaaaaaaa", NULL, NULL},
        {"amend", "sig-aaaaaaaaaaaaaaaaaaaaaaaaaa", "--minor", NULL},
        {"withdraw", "sig-aaaaaaaaaaaaaaaaaaaaaaaaaa", "--reason", "test"},
    };
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
        const char *args[16] = {"signal", subs[i][0], subs[i][1]};
        int n = 3;
        for (int k = 2; k < 4 && subs[i][k]; k++)
            args[n++] = subs[i][k];
        const char *conn[] = {
            "--endpoint", "tcp://127.0.0.1:9", "--server-key", pub,         "--cert",
            secret,       "--timeout",         "100",          "--retries", "0",
            NULL};
        for (int k = 0; conn[k]; k++)
            args[n++] = conn[k];
        args[n] = NULL;
        r = s_run (3, NULL, NULL, args);
        s_expect (r.err, "no ");
        run_cmd_free (&r);
    }
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

/* The template, filled in as a person would (blanks replaced, the rest
   left empty), is accepted by a real node; unfilled, it is refused by the
   node for what is missing, never sent as placeholders. */
static void
test_template_filled_is_accepted (void **state)
{
    (void)state;
    s_need_node ();
    run_cmd_result_t t = RUN (0, NULL, NULL, "signal", "template");
    char path[128];
    s_write ("empty-template.json", t.out, path, sizeof path);
    run_cmd_result_t r = RUN (1, "officer", NULL, "signal", "submit", "--file", path);
    s_expect (r.err, "lanternctl: signal refused: EMPTY_SIGNAL at details: names no indicator");
    run_cmd_free (&r);

    static const char *const fills[][2] = {
        {"\"reporter\": {\"role\": \"\"", "\"reporter\": {\"role\": \"municipal_staff\""},
        {"\"observed_on\": \"\"", "\"observed_on\": \"27-11-2026\""},
        {"\"municipality\": \"\"", "\"municipality\": \"GM0983\""},
        {"\"forms\": [\"\"]", "\"forms\": [\"labour\"]"},
        {"\"sector\": \"\"", "\"sector\": \"agriculture\""},
        {"\"indicators\": []", "\"indicators\": [\"ILO_RETENTION_OF_IDENTITY_DOCUMENTS\"]"},
        {"{\"role\": \"\", \"name\": \"\"",
         "{\"role\": \"victim\", \"name\": \"Anna (Ania) Kowalska\""},
        {"\"phone\": \"\"", "\"phone\": \"06 12345678\""},
        {"\"account\": \"\"",
         "\"account\": \"Asparagus picker.\\nThe employer keeps her passport.\""},
    };
    char *text = strdup (t.out);
    assert_non_null (text);
    for (size_t i = 0; i < sizeof fills / sizeof fills[0]; i++) {
        char *at = strstr (text, fills[i][0]);
        if (!at)
            fail_msg ("the template has no %s", fills[i][0]);
        size_t old = strlen (fills[i][0]), add = strlen (fills[i][1]);
        char *next = malloc (strlen (text) - old + add + 1);
        assert_non_null (next);
        snprintf (next, strlen (text) - old + add + 1, "%.*s%s%s", (int)(at - text), text,
                  fills[i][1], at + old);
        free (text);
        text = next;
    }
    run_cmd_free (&t);
    s_write ("filled-template.json", text, path, sizeof path);
    free (text);
    r = RUN (0, "officer", NULL, "signal", "submit", "--file", path);
    char id[64];
    assert_int_equal (sscanf (r.out, "signal %63s received", id), 1);
    run_cmd_free (&r);

    r = RUN (0, "officer", NULL, "signal", "show", id, "--json");
    json_object *o = s_parse_json (r.out);
    assert_string_equal (s_str (o, "signal.details.reporter.role"),
                         "REPORTER_ROLE_MUNICIPAL_STAFF");
    assert_string_equal (s_str (o, "signal.details.persons.0.name"), "Anna (Ania) Kowalska");
    assert_int_equal (json_object_array_length (s_at (o, "signal.details.persons")), 1);
    /* the empty address, vehicle and employer were not sent */
    assert_int_equal (json_object_array_length (s_at (o, "signal.details.addresses")), 0);
    assert_int_equal (json_object_array_length (s_at (o, "signal.details.vehicles")), 0);
    assert_int_equal (json_object_array_length (s_at (o, "signal.details.employers")), 0);
    json_object_put (o);
    run_cmd_free (&r);
}

/* Split an example's command line into words as sh would for what the
   examples use: '...' and "..." quoting, \x outside quotes, and stop at an
   unquoted # (a comment), > (stdout to the file that follows) or |.
   Returns the number of words (argv NULL-ended, pointing into buf);
   *redirect is the file after >, or NULL. */
static int
s_shell_words (const char *line, char *buf, size_t size, char **argv, int max, char **redirect)
{
    int argc = 0;
    size_t n = 0;
    const char *p = line;
    bool want_file = false;
    *redirect = NULL;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p || *p == '#' || *p == '|')
            break;
        if (*p == '>') {
            want_file = true;
            p++;
            continue;
        }
        char *word = buf + n;
        while (*p && *p != ' ') {
            assert_true (n + 2 < size);
            if (*p == '\'') {
                for (p++; *p && *p != '\''; p++)
                    buf[n++] = *p;
                if (*p)
                    p++;
            }
            else if (*p == '"') {
                for (p++; *p && *p != '"'; p++) {
                    if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
                        p++;
                    buf[n++] = *p;
                }
                if (*p)
                    p++;
            }
            else if (*p == '\\' && p[1]) {
                buf[n++] = p[1];
                p += 2;
            }
            else
                buf[n++] = *p++;
        }
        buf[n++] = '\0';
        if (want_file) {
            *redirect = word;
            break;
        }
        assert_true (argc < max - 1);
        argv[argc++] = word;
    }
    argv[argc] = NULL;
    return argc;
}

/* Every example of every `lanternctl signal ... --help`, run as printed
   against a real node (the connection added as flags, the example id
   replaced by a real one): a newcomer who copies one must see it work. */
static void
test_help_examples_run (void **state)
{
    (void)state;
    s_need_node ();
    static const char *const helps[][2] = {
        {"--help", NULL},   {"submit", "--help"},   {"amend", "--help"},    {"show", "--help"},
        {"list", "--help"}, {"template", "--help"}, {"withdraw", "--help"},
    };
    char id[64] = "";
    int ran = 0;
    for (size_t h = 0; h < sizeof helps / sizeof helps[0]; h++) {
        run_cmd_result_t help = helps[h][1]
                                    ? RUN (0, NULL, NULL, "signal", helps[h][0], helps[h][1])
                                    : RUN (0, NULL, NULL, "signal", helps[h][0]);
        const char *ex = strstr (help.out, "\nexample");
        assert_non_null (ex);
        ex = strchr (ex + 1, '\n') + 1;
        char cmd[2048] = "";
        for (const char *line = ex; *line; line = strchr (line, '\n') + 1) {
            size_t len = strcspn (line, "\n");
            if (len < 2 || line[0] != ' ')
                break;
            size_t used = strlen (cmd);
            snprintf (cmd + used, sizeof cmd - used, "%.*s", (int)len, line);
            used = strlen (cmd);
            if (used && cmd[used - 1] == '\\') {
                cmd[used - 1] = ' ';
                if (!line[len])
                    break;
                continue;
            }
            const char *start = cmd + strspn (cmd, " ");
            if (strncmp (start, "lanternctl ", 11) != 0) { /* "-> signal ... received" */
                cmd[0] = '\0';
                if (!line[len])
                    break;
                continue;
            }
            char words[2048], *argv[MAX_ARGS - 8], *redirect;
            int argc =
                s_shell_words (start + 11, words, sizeof words, argv, MAX_ARGS - 8, &redirect);
            assert_true (argc >= 2);
            for (int i = 0; i < argc; i++)
                if (strncmp (argv[i], "sig-01hzx3k9q4m2n7p5r8s6t0v1w2", 30) == 0) {
                    assert_true (id[0] != '\0'); /* a submit example came first */
                    argv[i] = id;
                }
            bool local = strcmp (argv[1], "template") == 0;
            run_cmd_result_t r = s_run (0, local ? NULL : "officer", NULL, (const char **)argv);
            if (strcmp (argv[1], "submit") == 0 && !id[0])
                assert_int_equal (sscanf (r.out, "signal %63s received", id), 1);
            if (redirect) {
                char path[160];
                s_write (redirect, r.out, path, sizeof path);
            }
            run_cmd_free (&r);
            ran++;
            cmd[0] = '\0';
            if (!line[len])
                break;
        }
        run_cmd_free (&help);
    }
    assert_true (ran >= 10);
    /* the withdraw example ran last, on the submit example's signal */
    run_cmd_result_t r = RUN (0, "officer", NULL, "signal", "show", id);
    s_expect (r.out, "status        withdrawn");
    s_expect (r.out, "amended");
    run_cmd_free (&r);
}

/* Names as people write them pass through lanternctl and the node; a name
   that is refused says which character, at which field, once. */
static void
test_names_as_written (void **state)
{
    (void)state;
    s_need_node ();
    run_cmd_result_t r = RUN (0, "officer", NULL, "signal", "submit", SIGNAL_FLAGS, "--person",
                              "role=victim,name=J.W. (Hans) van ’t Hof-Łęcka", "--person",
                              "role=witness,name=Seán O'Connor", "--employer",
                              "name=Uitzendbureau De Wit & Zn. (Venlo) B.V.,kvk=12345678");
    char id[64];
    assert_int_equal (sscanf (r.out, "signal %63s received", id), 1);
    run_cmd_free (&r);
    r = RUN (0, "officer", NULL, "signal", "show", id);
    s_expect (r.out, "J.W. (Hans) van ’t Hof-Łęcka");
    s_expect (r.out, "Uitzendbureau De Wit & Zn. (Venlo) B.V.");
    run_cmd_free (&r);

    r = RUN (1, "officer", NULL, "signal", "submit", SIGNAL_FLAGS, "--person",
             "role=victim,name=Anna Kowalska 2");
    assert_string_equal (r.err,
                         "lanternctl: signal refused: INVALID_NAME at details.persons[0].name: "
                         "character 15 ('2', a digit) is not allowed: a name holds letters, "
                         "spaces, - . , ' and a remark in (parentheses)\n");
    run_cmd_free (&r);
}

/* list's --from and --to take the dates submit takes. */
static void
test_list_dates_like_submit (void **state)
{
    (void)state;
    s_need_node ();
    const char *id = s_submit ("Datum Test");
    char mine[64];
    snprintf (mine, sizeof mine, "%s", id);
    static const char *const ranges[][2] = {
        {"1-1-2000", "31-12-2099"},
        {"1/1/2000", "31.12.2099"},
        {"2000-01-01 00:00", "2099-12-31T23:59:59"},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        run_cmd_result_t r = RUN (0, "officer", NULL, "signal", "list", "--from", ranges[i][0],
                                  "--to", ranges[i][1], "--all", "--json");
        s_expect (r.out, mine);
        run_cmd_free (&r);
    }
    /* a range before it does not hold it */
    run_cmd_result_t r =
        RUN (0, "officer", NULL, "signal", "list", "--to", "1.1.2001", "--all", "--json");
    assert_null (strstr (r.out, mine));
    run_cmd_free (&r);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_help),
        cmocka_unit_test (test_usage_errors),
        cmocka_unit_test (test_dry_run_builds_details),
        cmocka_unit_test (test_file_speaks_the_flags_words),
        cmocka_unit_test (test_dry_run_round_trip),
        cmocka_unit_test (test_template),
        cmocka_unit_test (test_exit_codes_without_a_node),
        cmocka_unit_test (test_no_reply_exits_3),
        cmocka_unit_test (test_submit_show_list),
        cmocka_unit_test (test_submit_from_file_and_json),
        cmocka_unit_test (test_amend_then_withdraw),
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_list_pages),
        cmocka_unit_test (test_template_filled_is_accepted),
        cmocka_unit_test (test_names_as_written),
        cmocka_unit_test (test_list_dates_like_submit),
        cmocka_unit_test (test_help_examples_run),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
