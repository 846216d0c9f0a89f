/*  lanternctl audit: check a node's hash-chained audit trail.

        lanternctl audit verify [--db CONNINFO] --schema SCHEMA

    connects to the node's database (CONNINFO, or $LANTERN_DB when --db is
    absent) and walks the chain of SCHEMA.audit with ln_audit_verify
    (common/ln_audit.h).  Prints, on stdout,

        audit: ok, N rows                         exit 0
        head: seq N sha256 HEX                    (record it elsewhere; see below)
    or
        audit: FAILED at seq N: PROBLEM           exit 1

    A check that could not be made (no connection, no audit table) is
    reported on stderr and exits 1 as well: a script that only looks at the
    exit code fails closed.  Usage errors exit 2.

    The conninfo may hold a password: it is never printed, and $LANTERN_DB is
    the better way to pass it (command lines are visible to other users).
*/
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lanternctl.h"
#include "ln_audit.h"
#include "ln_db.h"
#include "ln_error.h"
#include "ln_log.h"

/* A CLI should not hang for a minute on a wrong address: a few seconds of
   retries ride out a blip. */
#define AUDIT_CONNECT_RETRY ((ln_db_retry_t){100, 1000, 5000})

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: lanternctl audit verify [--db CONNINFO] --schema SCHEMA\n"
                  "\n"
                  "Check a node's audit trail: every row is hash-chained to the one before,\n"
                  "and the head records the last one, so a row changed, removed from the\n"
                  "middle or removed from the end is detected and the first bad row named.\n"
                  "\n"
                  "Prints 'audit: ok, N rows' and the head (exit 0), or\n"
                  "'audit: FAILED at seq N: PROBLEM' (exit 1).  If the check cannot be made\n"
                  "(no connection, no audit table) it says why on stderr and exits 1.\n"
                  "Someone with the database owner's rights could rewrite the whole chain\n"
                  "from some row on: record the printed head somewhere they cannot write,\n"
                  "and compare it later.\n"
                  "\n"
                  "options:\n"
                  "  -d, --db CONNINFO     libpq connection string or URI of the node's database\n"
                  "                        (default: $LANTERN_DB; prefer the environment, since\n"
                  "                        a password on the command line is visible to others)\n"
                  "  -s, --schema SCHEMA   the node's schema\n"
                  "  -h, --help            show this help\n");
}

#define s_usage_error(...) lanternctl_usage_error ("audit", __VA_ARGS__)

static int
s_verify (int argc, char **argv)
{
    static const struct option options[] = {
        {"db", required_argument, NULL, 'd'},
        {"schema", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conninfo = NULL;
    const char *schema = NULL;
    int rc = LANTERNCTL_EXIT_FAIL;
    ln_db_t *db = NULL;

    /* 0 makes GNU getopt start afresh; we report bad options ourselves. */
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long (argc, argv, ":d:s:h", options, NULL)) != -1) {
        switch (c) {
        case 'd':
            conninfo = optarg;
            break;
        case 's':
            schema = optarg;
            break;
        case 'h':
            s_usage (stdout);
            return LANTERNCTL_EXIT_OK;
        case ':':
            return s_usage_error ("option '%s' needs a value", argv[optind - 1]);
        default:
            if (optopt)
                return s_usage_error ("unknown option '-%c'", optopt);
            return s_usage_error ("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return s_usage_error ("unexpected argument '%s'", argv[optind]);
    if (!schema)
        return s_usage_error ("%s", "missing --schema");
    if (!ln_db_schema_valid (schema))
        return s_usage_error ("%s", "--schema: not a schema name ([a-z_][a-z0-9_]{0,62})");
    if (!conninfo || !*conninfo)
        conninfo = getenv ("LANTERN_DB");
    if (!conninfo || !*conninfo)
        return s_usage_error ("%s", "no database: give --db CONNINFO or set LANTERN_DB");

    /* Only errors: the connect retries' warnings would be noise here. */
    ln_log_init ("lanternctl", LN_LOG_ERROR);
    ln_error_t err;
    ln_error_clear (&err);
    ln_db_retry_t retry = AUDIT_CONNECT_RETRY;
    db = ln_db_connect (conninfo, schema, &retry, &err);
    if (!db) {
        /* ln_db's messages never contain the conninfo. */
        fprintf (stderr, "lanternctl: audit: %s\n", err.message);
        goto out;
    }
    /* The hashes are over UTF-8 bytes: read them back as such, whatever the
       environment (PGCLIENTENCODING) says. */
    if (PQsetClientEncoding (ln_db_conn (db), "UTF8") != 0) {
        fprintf (stderr, "lanternctl: audit: cannot set client_encoding to UTF8\n");
        goto out;
    }
    ln_audit_report_t report;
    if (ln_audit_verify (db, &report, &err) != 0) {
        fprintf (stderr, "lanternctl: audit: cannot verify schema %s: %s\n", schema, err.message);
        goto out;
    }
    if (!report.ok) {
        printf ("audit: FAILED at seq %" PRIu64 ": %s\n", report.first_bad_seq, report.problem);
        goto out;
    }
    printf ("audit: ok, %" PRIu64 " rows\n", report.rows);
    printf ("head: seq %" PRIu64 " sha256 %s\n", report.head_seq, report.head_hash);
    rc = LANTERNCTL_EXIT_OK;
out:
    ln_db_destroy (&db);
    return rc;
}

int
lanternctl_audit (int argc, char **argv)
{
    if (argc < 2)
        return s_usage_error ("%s", "missing subcommand (verify)");
    const char *sub = argv[1];
    if (strcmp (sub, "--help") == 0 || strcmp (sub, "-h") == 0 || strcmp (sub, "help") == 0) {
        s_usage (stdout);
        return LANTERNCTL_EXIT_OK;
    }
    if (strcmp (sub, "verify") == 0)
        return s_verify (argc - 1, argv + 1);
    return s_usage_error ("unknown subcommand '%s'", sub);
}
