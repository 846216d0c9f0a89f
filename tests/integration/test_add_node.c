/*  test_add_node: adding a node to a running region is one documented,
    tested procedure (issue 10 point 9).

    Starts a region with deploy/run-region (in a temporary directory, on
    free ports, with the binaries of this test's variant), then runs the
    commands of docs/operations.md that follow the marker
    "<!-- test: add-node" (extracted from the document at run time, never
    copied here: a changed document is what is tested), with only
    `build/bin/` pointed at this variant's binaries.  They add
    intake-roermond with deploy/add-node, list the region, and submit a
    signal to the new node with lanternctl as its officer and list it back.
    Then: the new node's database roles are what the documentation says
    (the runtime role owns nothing, may connect to lantern only, and cannot
    rewrite its audit trail), no connection is trusted without a password,
    and `run-region stop` / `start` / `status` know the added node.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "proc_child.h"
#include "run_cmd.h"

#define SCRIPT_MAX 16384
#define MARKER     "<!-- test: add-node"

static char s_src[1024];
static char s_region[256];
static char s_build[512];

/* Run a shell script in the source directory with the region's
   environment; prints what it said when it failed. */
static int
s_sh (const char *script, int timeout_ms, run_cmd_result_t *r)
{
    char full[SCRIPT_MAX + 256];
    snprintf (full, sizeof full, "set -euo pipefail\ncd '%s'\n%s\n", s_src, script);
    char *const argv[] = {"/bin/bash", "-c", full, NULL};
    int rc = run_cmd (argv, NULL, timeout_ms, r);
    if (rc != 0 || r->status != 0)
        fprintf (stderr, "--- script (exit %d):\n%s\n--- stdout:\n%s\n--- stderr:\n%s\n", r->status,
                 script, r->out ? r->out : "", r->err ? r->err : "");
    return rc == 0 ? r->status : -1;
}

/* The commands of the documentation's block after the marker, with
   build/bin/ replaced by "$BUILD/bin/". */
static void
s_doc_commands (char *out, size_t size)
{
    char path[1200];
    snprintf (path, sizeof path, "%s/docs/operations.md", s_src);
    FILE *f = fopen (path, "r");
    assert_non_null (f);
    char line[1024];
    int state = 0; /* 0: looking for the marker, 1: for the fence, 2: in the block */
    size_t n = 0;
    out[0] = '\0';
    while (state < 3 && fgets (line, sizeof line, f)) {
        if (state == 0 && strncmp (line, MARKER, strlen (MARKER)) == 0)
            state = 1;
        else if (state == 1 && strncmp (line, "```", 3) == 0)
            state = 2;
        else if (state == 2 && strncmp (line, "```", 3) == 0)
            state = 3;
        else if (state == 2) {
            for (const char *p = line; *p; p++) {
                if (strncmp (p, "build/bin/", 10) == 0) {
                    int w = snprintf (out + n, size - n, "\"$BUILD\"/bin/");
                    assert_true (w > 0 && (size_t)w < size - n);
                    n += (size_t)w;
                    p += 9;
                    continue;
                }
                assert_true (n + 1 < size);
                out[n++] = *p;
                out[n] = '\0';
            }
        }
    }
    fclose (f);
    if (state != 3)
        fprintf (stderr, "docs/operations.md has no complete ```sh block after '%s'\n", MARKER);
    assert_int_equal (state, 3);
    assert_non_null (strstr (out, "deploy/add-node intake-roermond"));
}

/* The first value of a query as the region's superuser. */
static char *
s_psql (const char *sql)
{
    char script[2048];
    snprintf (script, sizeof script, "deploy/pg-local psql '%s/pg' -X -At -d lantern -c \"%s\"",
              s_region, sql);
    run_cmd_result_t r;
    char *v = NULL;
    if (s_sh (script, 30000, &r) == 0) {
        v = strdup (r.out);
        assert_non_null (v);
        v[strcspn (v, "\n")] = '\0';
    }
    run_cmd_free (&r);
    return v;
}

static void
assert_psql (const char *sql, const char *expected)
{
    char *v = s_psql (sql);
    if (!v || strcmp (v, expected) != 0)
        fprintf (stderr, "%s\n  gave '%s', expected '%s'\n", sql, v ? v : "(error)", expected);
    assert_non_null (v);
    assert_string_equal (v, expected);
    free (v);
}

/* A statement the runtime role must be refused (as the superuser with SET
   ROLE, which acts with the role's privileges). */
static void
assert_refused_as_runtime (const char *sql)
{
    char script[2048];
    snprintf (
        script, sizeof script,
        "deploy/pg-local psql '%s/pg' -X -q -d lantern -v ON_ERROR_STOP=1 <<'SQL' 2>&1 || true\n"
        "SET ROLE intake_roermond;\nSET search_path = intake_roermond;\n%s;\nSQL",
        s_region, sql);
    run_cmd_result_t r;
    assert_int_equal (s_sh (script, 30000, &r), 0);
    if (!strstr (r.out, "permission denied") && !strstr (r.out, "must be owner"))
        fprintf (stderr, "%s as intake_roermond: %s\n", sql, r.out);
    assert_true (strstr (r.out, "permission denied") || strstr (r.out, "must be owner"));
    run_cmd_free (&r);
}

static int
s_teardown (void **state)
{
    (void)state;
    if (s_region[0]) {
        run_cmd_result_t r;
        char script[512];
        snprintf (script, sizeof script, "deploy/run-region stop >/dev/null 2>&1 || true");
        s_sh (script, 120000, &r);
        run_cmd_free (&r);
        run_cmd_remove_test_dir (s_region);
    }
    return 0;
}

static void
test_issue10_point9_add_node_from_the_docs (void **state)
{
    (void)state;
    run_cmd_result_t r;
    char *commands = calloc (1, SCRIPT_MAX);
    assert_non_null (commands);

    /* A running region. */
    assert_int_equal (s_sh ("deploy/run-region start >/dev/null", 180000, &r), 0);
    run_cmd_free (&r);
    assert_int_equal (s_sh ("deploy/run-region status", 30000, &r), 0);
    assert_null (strstr (r.out, "intake-roermond"));
    run_cmd_free (&r);

    /* The documentation's own commands. */
    s_doc_commands (commands, SCRIPT_MAX);
    assert_int_equal (s_sh (commands, 180000, &r), 0);
    /* add-node's steps, status with the new node running, the signal
       received and listed back */
    assert_non_null (strstr (r.out, "add-node: 5. recorded"));
    const char *row = strstr (r.out, "\n  intake-roermond running  pid ");
    assert_non_null (row);
    const char *sig = strstr (r.out, "signal sig-");
    assert_non_null (sig);
    char id[64];
    snprintf (id, sizeof id, "%.*s", (int)strcspn (sig + 7, " "), sig + 7);
    assert_true (strlen (id) > 4);
    assert_non_null (strstr (sig, " received ("));
    const char *listed = strstr (sig + 7 + strlen (id), id); /* again, in the list */
    assert_non_null (listed);
    assert_non_null (strstr (listed, "GM0957"));
    run_cmd_free (&r);

    /* The roles are those of docs/operations.md "The database". */
    assert_psql ("SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = "
                 "'intake_roermond'",
                 "intake_roermond_owner");
    assert_psql ("SELECT count(*) FROM pg_class WHERE relowner = 'intake_roermond'::regrole", "0");
    assert_psql ("SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE "
                 "datallowconn AND has_database_privilege('intake_roermond', datname, 'CONNECT')",
                 "lantern");
    assert_psql ("SELECT has_database_privilege('intake_roermond', 'lantern', 'CREATE') OR "
                 "has_database_privilege('intake_roermond', 'lantern', 'TEMPORARY') OR "
                 "has_schema_privilege('intake_roermond', 'intake_roermond', 'CREATE') OR "
                 "has_schema_privilege('intake_roermond', 'intake_venlo', 'USAGE')",
                 "f");
    assert_psql ("SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles WHERE rolname = "
                 "'intake_roermond'",
                 "f");
    assert_refused_as_runtime ("DELETE FROM audit");
    assert_refused_as_runtime ("ALTER TABLE audit DISABLE TRIGGER ALL");
    assert_refused_as_runtime ("UPDATE audit_head SET seq = 0");
    /* passwords everywhere: no rule of the cluster trusts */
    assert_psql ("SELECT count(*) FROM pg_hba_file_rules WHERE auth_method NOT IN "
                 "('scram-sha-256', 'reject')",
                 "0");
    assert_psql ("SELECT count(*) FROM pg_hba_file_rules WHERE database = '{lantern}' AND "
                 "'intake_roermond' = ANY (user_name) AND auth_method = 'scram-sha-256'",
                 "1");

    /* make stop / make run / status know the added node. */
    assert_int_equal (s_sh ("deploy/run-region stop", 120000, &r), 0);
    assert_non_null (strstr (r.out, "intake-roermond stopped"));
    run_cmd_free (&r);
    char script[512];
    snprintf (script, sizeof script,
              /* ([g]: the pattern must not match this shell's own command line) */
              "! pgrep -f -- '--config %s/intake-roermond/intake.cf[g]' >/dev/null", s_region);
    assert_int_equal (s_sh (script, 30000, &r), 0);
    run_cmd_free (&r);
    assert_int_equal (s_sh ("deploy/run-region status || test $? = 1", 30000, &r), 0);
    assert_non_null (strstr (r.out, "intake-roermond not running"));
    run_cmd_free (&r);
    assert_int_equal (
        s_sh ("deploy/run-region start >/dev/null && deploy/run-region status", 180000, &r), 0);
    assert_non_null (strstr (r.out, "intake-roermond running"));
    run_cmd_free (&r);
    /* and the signal is still there */
    snprintf (script, sizeof script,
              "eval \"$(deploy/run-region env intake-roermond)\"\n"
              "\"$BUILD\"/bin/lanternctl signal show %s",
              id);
    assert_int_equal (s_sh (script, 60000, &r), 0);
    assert_non_null (strstr (r.out, "GM0957"));
    run_cmd_free (&r);
    free (commands);
}

int
main (void)
{
    const char *src = getenv ("LANTERN_SOURCE_DIR");
    snprintf (s_src, sizeof s_src, "%s", src && *src ? src : ".");
    char *real = realpath (s_src, NULL);
    if (real) {
        snprintf (s_src, sizeof s_src, "%s", real);
        free (real);
    }
    /* This test's variant: BUILD for run-region (its binaries in BUILD/bin). */
    char intake[512];
    if (run_cmd_binary ("lantern-intake", intake, sizeof intake) != 0)
        return 1;
    snprintf (s_build, sizeof s_build, "%.*s",
              (int)(strlen (intake) - strlen ("/bin/lantern-intake")), intake);
    if (s_build[0] != '/') {
        char abs[sizeof s_src + sizeof s_build + 2];
        int n = snprintf (abs, sizeof abs, "%s/%s", s_src, s_build);
        if (n < 0 || (size_t)n >= sizeof s_build)
            return 1;
        memcpy (s_build, abs, (size_t)n + 1);
    }
    snprintf (s_region, sizeof s_region, "/tmp/lantern-addnode-XXXXXX");
    /* (o+x: as root, the cluster's postgres user must reach region/pg) */
    if (!mkdtemp (s_region) || chmod (s_region, 0711) != 0)
        return 1;
    /* Free ports for the two built-in nodes and the one added after them
       (the next port after the region's highest). */
    int base = proc_free_port ();
    char port[16];
    snprintf (port, sizeof port, "%d", base > 0 && base < 64000 ? base : 47811);
    setenv ("LANTERN_REGION_DIR", s_region, 1);
    setenv ("LANTERN_REGION_PORT", port, 1);
    setenv ("BUILD", s_build, 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_issue10_point9_add_node_from_the_docs, s_teardown),
    };
    return cmocka_run_group_tests_name ("add_node", tests, NULL, NULL);
}
