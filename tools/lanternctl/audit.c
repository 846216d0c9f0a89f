/*  lanternctl audit: check a node's hash-chained audit trail, and the
    anchors its followers recorded.

        lanternctl audit verify [--db CONNINFO] --schema SCHEMA [--anchors FILE]
        lanternctl audit anchors [--db CONNINFO] --schema FOLLOWER_SCHEMA --upstream NODE

    verify connects to the node's database (CONNINFO, or $LANTERN_DB when
    --db is absent) and walks the chain of SCHEMA.audit with
    ln_audit_verify_anchors (common/ln_audit.h); with --anchors, the node's
    rows must also match the heads in FILE (what `audit anchors` printed at
    a follower).  Prints, on stdout,

        audit: ok, N rows[; M anchors match]      exit 0
        head: seq N sha256 HEX
    or
        audit: FAILED at seq N: PROBLEM           exit 1

    anchors connects to a FOLLOWER's database and prints the heads that NODE
    published and the follower stored (nl.lantern.audit.anchored.v1), one
    line each, oldest first:

        SEQ HASH AT                               (AT: UTC, ISO 8601)

    Exit codes (as every lanternctl command): 0 done; 1 a check failed, or
    the database refused (no audit table, a permission, a wrong password);
    2 usage (bad flags, a malformed anchors FILE: nothing was checked);
    3 the database could not be reached; 4 a local file could not be read
    or written.  A script that only looks at the exit code fails closed.

    The conninfo may hold a password: it is never printed, and $LANTERN_DB is
    the better way to pass it (command lines are visible to other users).
*/
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lanternctl.h"
#include "ln_alloc.h"
#include "ln_audit.h"
#include "ln_db.h"
#include "ln_error.h"
#include "ln_log.h"

#ifndef LANTERNCTL_EXIT_LOCAL
#define LANTERNCTL_EXIT_LOCAL 4 /* a local file cannot be read or written */
#endif

/* A CLI should not hang for a minute on a wrong address: a few seconds of
   retries ride out a blip. */
#define AUDIT_CONNECT_RETRY ((ln_db_retry_t){100, 1000, 5000})
/* Bounds of an anchors file. */
#define ANCHOR_LINE_MAX 256
#define ANCHORS_MAX     1000000

static void
s_usage (FILE *out)
{
    fprintf (
        out,
        "usage: lanternctl audit verify [--db CONNINFO] --schema SCHEMA [--anchors FILE]\n"
        "       lanternctl audit anchors [--db CONNINFO] --schema FOLLOWER_SCHEMA --upstream NODE\n"
        "\n"
        "verify: check a node's audit trail.  Every row is hash-chained to the one\n"
        "before, and the head records the last one, so a row changed, removed from\n"
        "the middle or removed from the end is detected and the first bad row named.\n"
        "Prints 'audit: ok, N rows' and the head (exit 0), or\n"
        "'audit: FAILED at seq N: PROBLEM' (exit 1).\n"
        "Someone with the database owner's rights could still delete the newest rows\n"
        "and move the head back, or rewrite the chain from some row on: the chain\n"
        "alone cannot show that.  Nodes publish their head to their followers, which\n"
        "store it (nl.lantern.audit.anchored.v1); --anchors FILE\n"
        "checks the node against those heads (lines 'SEQ HASH [AT]', as 'audit\n"
        "anchors' prints them; '#' starts a comment).\n"
        "\n"
        "anchors: print the heads that NODE published and that the follower whose\n"
        "schema is FOLLOWER_SCHEMA stored, one 'SEQ HASH AT' line each, oldest first.\n"
        "\n"
        "options:\n"
        "  -d, --db CONNINFO     libpq connection string or URI of the database\n"
        "                        (default: $LANTERN_DB; prefer the environment, since\n"
        "                        a password on the command line is visible to others)\n"
        "  -s, --schema SCHEMA   the node's schema (verify), the follower's (anchors)\n"
        "  -a, --anchors FILE    verify: also check against these anchors ('-': stdin)\n"
        "  -u, --upstream NODE   anchors: the node whose anchors to print\n"
        "  -h, --help            show this help\n"
        "\n"
        "exit status: 0 ok; 1 a check failed, or the database refused (no audit\n"
        "table, a permission, a wrong password); 2 usage, or a malformed anchors\n"
        "file; 3 the database could not be reached; 4 a local file could not be\n"
        "read or written.\n"
        "\n"
        "examples (LANTERN_DB set to the node's connection, as make run prints it):\n"
        "  lanternctl audit verify --schema intake_venlo\n"
        "  lanternctl audit anchors --schema triage --upstream intake-venlo >venlo.anchors && \\\n"
        "      lanternctl audit verify --schema intake_venlo --anchors venlo.anchors\n");
}

#define s_usage_error(...) lanternctl_usage_error ("audit", __VA_ARGS__)

typedef struct {
    const char *conninfo;
    const char *schema;
    const char *anchors;
    const char *upstream;
} audit_opts_t;

/* Parse the options of a subcommand; `allowed` lists the letters it takes
   beyond d, s and h.  Returns -1 when done (help printed: *rc set), or the
   exit code of a usage error, or 0 to go on. */
static int
s_parse (int argc, char **argv, const char *allowed, audit_opts_t *o, int *rc)
{
    static const struct option options[] = {
        {"db", required_argument, NULL, 'd'},      {"schema", required_argument, NULL, 's'},
        {"anchors", required_argument, NULL, 'a'}, {"upstream", required_argument, NULL, 'u'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    memset (o, 0, sizeof *o);
    /* 0 makes GNU getopt start afresh; we report bad options ourselves. */
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long (argc, argv, ":d:s:a:u:h", options, NULL)) != -1) {
        if ((c == 'a' || c == 'u') && !strchr (allowed, c))
            return s_usage_error ("%s takes no option '%s'", argv[0], argv[optind - 1]);
        switch (c) {
        case 'd':
            o->conninfo = optarg;
            break;
        case 's':
            o->schema = optarg;
            break;
        case 'a':
            o->anchors = optarg;
            break;
        case 'u':
            o->upstream = optarg;
            break;
        case 'h':
            s_usage (stdout);
            *rc = LANTERNCTL_EXIT_OK;
            return -1;
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
    if (!o->schema)
        return s_usage_error ("%s", "missing --schema");
    if (!ln_db_schema_valid (o->schema))
        return s_usage_error ("%s", "--schema: not a schema name ([a-z_][a-z0-9_]{0,62})");
    if (!o->conninfo || !*o->conninfo)
        o->conninfo = getenv ("LANTERN_DB");
    if (!o->conninfo || !*o->conninfo)
        return s_usage_error ("%s", "no database: give --db CONNINFO or set LANTERN_DB");
    return 0;
}

/* The exit code for a database error: unreachable (3) or refused (1). */
static int
s_db_exit (const ln_error_t *err)
{
    if (err->code &&
        (strcmp (err->code, "DB_CONNECT") == 0 || strcmp (err->code, "DB_CONNECTION_LOST") == 0))
        return LANTERNCTL_EXIT_UNAVAILABLE;
    return LANTERNCTL_EXIT_FAIL;
}

static ln_db_t *
s_connect (const audit_opts_t *o, int *rc)
{
    /* Only errors: the connect retries' warnings would be noise here. */
    ln_log_init ("lanternctl", LN_LOG_ERROR);
    ln_error_t err;
    ln_error_clear (&err);
    ln_db_retry_t retry = AUDIT_CONNECT_RETRY;
    ln_db_t *db = ln_db_connect (o->conninfo, o->schema, &retry, &err);
    if (!db) {
        /* ln_db's messages never contain the conninfo. */
        fprintf (stderr, "lanternctl: audit: %s\n", err.message);
        *rc = strcmp (err.code, "DB_INVALID") == 0 ? LANTERNCTL_EXIT_USAGE : s_db_exit (&err);
        return NULL;
    }
    /* The hashes are over UTF-8 bytes: read them back as such, whatever the
       environment (PGCLIENTENCODING) says. */
    if (PQsetClientEncoding (ln_db_conn (db), "UTF8") != 0) {
        fprintf (stderr, "lanternctl: audit: cannot set client_encoding to UTF8\n");
        ln_db_destroy (&db);
        *rc = LANTERNCTL_EXIT_FAIL;
        return NULL;
    }
    return db;
}

/* "2026-11-29T10:33:44.123456Z" (UTC). */
static void
s_format_time (int64_t at_us, char *out, size_t size)
{
    time_t t = (time_t)(at_us / 1000000);
    struct tm tm;
    char base[32];
    if (at_us < 0 || !gmtime_r (&t, &tm) ||
        strftime (base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        snprintf (out, size, "-");
        return;
    }
    snprintf (out, size, "%s.%06dZ", base, (int)(at_us % 1000000));
}

/* n decimal digits at *p, moved on. */
static bool
s_digits (const char **p, int n, int *value)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *value = v;
    return true;
}

/* The AT of an anchors line: "YYYY-MM-DDTHH:MM:SS[.ffffff]Z". */
static bool
s_parse_time (const char *text, int64_t *at_us)
{
    const char *p = text;
    int y, mo, d, h, mi, s, us = 0;
    if (!s_digits (&p, 4, &y) || *p++ != '-' || !s_digits (&p, 2, &mo) || *p++ != '-' ||
        !s_digits (&p, 2, &d) || *p++ != 'T' || !s_digits (&p, 2, &h) || *p++ != ':' ||
        !s_digits (&p, 2, &mi) || *p++ != ':' || !s_digits (&p, 2, &s))
        return false;
    if (*p == '.') {
        p++;
        if (!s_digits (&p, 6, &us))
            return false;
    }
    if (*p++ != 'Z' || *p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
        s > 60)
        return false;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = s};
    time_t t = timegm (&tm);
    if (t == (time_t)-1)
        return false;
    *at_us = (int64_t)t * 1000000 + us;
    return true;
}

/* Read an anchors file ("SEQ HASH [AT]" lines).  Returns 0, or an exit
   code (2: malformed, 4: unreadable) with the reason on stderr. */
static int
s_read_anchors (const char *path, ln_audit_anchor_t **out, size_t *count)
{
    int rc = LANTERNCTL_EXIT_LOCAL;
    bool is_stdin = strcmp (path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen (path, "r");
    ln_audit_anchor_t *list = NULL;
    size_t n = 0, cap = 0;
    char line[ANCHOR_LINE_MAX + 2];
    long lineno = 0;

    *out = NULL;
    *count = 0;
    if (!f) {
        fprintf (stderr, "lanternctl: audit: %s: %s\n", path, strerror (errno));
        return LANTERNCTL_EXIT_LOCAL;
    }
    while (fgets (line, sizeof line, f)) {
        lineno++;
        size_t len = strlen (line);
        if (len > ANCHOR_LINE_MAX || (len == sizeof line - 1 && line[len - 1] != '\n')) {
            fprintf (stderr, "lanternctl: audit: %s:%ld: line longer than %d bytes\n", path, lineno,
                     ANCHOR_LINE_MAX);
            rc = LANTERNCTL_EXIT_USAGE;
            goto out;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        /* SEQ */
        char *end = NULL;
        errno = 0;
        unsigned long long seq = strtoull (p, &end, 10);
        if (errno != 0 || end == p || *p == '-' || *p == '+' || (*end != ' ' && *end != '\t') ||
            seq > (unsigned long long)INT64_MAX)
            goto malformed;
        p = end;
        while (*p == ' ' || *p == '\t')
            p++;
        /* HASH */
        size_t hl = strcspn (p, " \t");
        if (hl != LN_AUDIT_HASH_HEX)
            goto malformed;
        ln_audit_anchor_t a;
        memset (&a, 0, sizeof a);
        for (size_t i = 0; i < hl; i++) {
            char c = p[i];
            if (c >= 'A' && c <= 'F')
                c = (char)(c - 'A' + 'a');
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                goto malformed;
            a.hash[i] = c;
        }
        a.seq = seq;
        p += hl;
        while (*p == ' ' || *p == '\t')
            p++;
        /* [AT] */
        if (*p) {
            char at[64];
            size_t al = strcspn (p, " \t");
            if (al >= sizeof at || p[al + strspn (p + al, " \t")] != '\0')
                goto malformed;
            memcpy (at, p, al);
            at[al] = '\0';
            if (!s_parse_time (at, &a.at_us))
                goto malformed;
        }
        if (n == ANCHORS_MAX) {
            fprintf (stderr, "lanternctl: audit: %s: more than %d anchors\n", path, ANCHORS_MAX);
            rc = LANTERNCTL_EXIT_USAGE;
            goto out;
        }
        list = ln_xgrow (list, &cap, n + 1, sizeof *list);
        list[n++] = a;
        continue;
    malformed:
        fprintf (stderr,
                 "lanternctl: audit: %s:%ld: not an anchor line ('SEQ HASH [AT]': a number, "
                 "64 hex digits, a UTC time like 2026-11-29T10:33:44Z)\n",
                 path, lineno);
        rc = LANTERNCTL_EXIT_USAGE;
        goto out;
    }
    if (ferror (f)) {
        fprintf (stderr, "lanternctl: audit: %s: read error\n", path);
        goto out;
    }
    *out = list;
    *count = n;
    list = NULL;
    rc = 0;
out:
    free (list);
    if (!is_stdin)
        fclose (f);
    return rc;
}

/* stdout must have reached its destination: a full disk is an error. */
static int
s_flush_stdout (int rc)
{
    if (fflush (stdout) != 0 || ferror (stdout)) {
        fprintf (stderr, "lanternctl: audit: cannot write the output: %s\n", strerror (errno));
        return LANTERNCTL_EXIT_LOCAL;
    }
    return rc;
}

static int
s_verify (int argc, char **argv)
{
    audit_opts_t o;
    int rc = LANTERNCTL_EXIT_FAIL;
    ln_db_t *db = NULL;
    ln_audit_anchor_t *anchors = NULL;
    size_t nanchors = 0;

    int p = s_parse (argc, argv, "a", &o, &rc);
    if (p != 0)
        return p < 0 ? rc : p;
    /* The file first: a malformed one is a usage error, no database touched. */
    if (o.anchors && (rc = s_read_anchors (o.anchors, &anchors, &nanchors)) != 0)
        goto out;
    rc = LANTERNCTL_EXIT_FAIL;
    db = s_connect (&o, &rc);
    if (!db)
        goto out;
    ln_error_t err;
    ln_error_clear (&err);
    ln_audit_report_t report;
    if (ln_audit_verify_anchors (db, anchors, nanchors, &report, &err) != 0) {
        fprintf (stderr, "lanternctl: audit: cannot verify schema %s: %s\n", o.schema, err.message);
        rc = s_db_exit (&err);
        goto out;
    }
    if (!report.ok) {
        printf ("audit: FAILED at seq %" PRIu64 ": %s\n", report.first_bad_seq, report.problem);
        rc = s_flush_stdout (LANTERNCTL_EXIT_FAIL);
        goto out;
    }
    if (o.anchors)
        printf ("audit: ok, %" PRIu64 " rows; %" PRIu64 " anchors match\n", report.rows,
                report.anchors);
    else
        printf ("audit: ok, %" PRIu64 " rows\n", report.rows);
    printf ("head: seq %" PRIu64 " sha256 %s\n", report.head_seq, report.head_hash);
    rc = s_flush_stdout (LANTERNCTL_EXIT_OK);
out:
    free (anchors);
    ln_db_destroy (&db);
    return rc;
}

static int
s_anchors (int argc, char **argv)
{
    audit_opts_t o;
    int rc = LANTERNCTL_EXIT_FAIL;
    ln_db_t *db = NULL;
    ln_audit_anchor_t *anchors = NULL;
    size_t n = 0;

    int p = s_parse (argc, argv, "u", &o, &rc);
    if (p != 0)
        return p < 0 ? rc : p;
    if (!o.upstream || !*o.upstream)
        return s_usage_error ("%s", "missing --upstream NODE");
    if (strlen (o.upstream) > LN_AUDIT_NAME_MAX)
        return s_usage_error ("--upstream: longer than %d bytes", LN_AUDIT_NAME_MAX);
    db = s_connect (&o, &rc);
    if (!db)
        goto out;
    ln_error_t err;
    ln_error_clear (&err);
    if (ln_audit_anchors_load (db, o.upstream, &anchors, &n, &err) != 0) {
        fprintf (stderr, "lanternctl: audit: cannot read anchors in schema %s: %s\n", o.schema,
                 err.message);
        rc = s_db_exit (&err);
        goto out;
    }
    if (n == 0)
        fprintf (stderr, "lanternctl: audit: schema %s holds no anchors of %s\n", o.schema,
                 o.upstream);
    for (size_t i = 0; i < n; i++) {
        char at[48];
        s_format_time (anchors[i].at_us, at, sizeof at);
        printf ("%" PRIu64 " %s %s\n", anchors[i].seq, anchors[i].hash, at);
    }
    rc = s_flush_stdout (LANTERNCTL_EXIT_OK);
out:
    free (anchors);
    ln_db_destroy (&db);
    return rc;
}

int
lanternctl_audit (int argc, char **argv)
{
    if (argc < 2)
        return s_usage_error ("%s", "missing subcommand (verify, anchors)");
    const char *sub = argv[1];
    if (strcmp (sub, "--help") == 0 || strcmp (sub, "-h") == 0 || strcmp (sub, "help") == 0) {
        s_usage (stdout);
        return LANTERNCTL_EXIT_OK;
    }
    if (strcmp (sub, "verify") == 0)
        return s_verify (argc - 1, argv + 1);
    if (strcmp (sub, "anchors") == 0)
        return s_anchors (argc - 1, argv + 1);
    return s_usage_error ("unknown subcommand '%s'", sub);
}
