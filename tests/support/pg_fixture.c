/*  pg_fixture: a fresh PostgreSQL database per test suite; see pg_fixture.h.

    The fixture talks to the cluster as its superuser over the Unix socket
    and opens a short-lived admin connection per operation, so that it keeps
    working across the server restarts that tests provoke.  Values reach the
    server only as parameters; utility statements (CREATE ROLE ... PASSWORD)
    cannot take parameters, so the server builds them itself with format()
    from parameters, and identifiers are quoted with PQescapeIdentifier.
*/
#include "pg_fixture.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sodium.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NAME_MAX_LEN  63 /* PostgreSQL identifiers: NAMEDATALEN - 1 */
#define SUITE_MAX_LEN 24
#define ROLES_MAX     64
#define CONNINFO_MAX  (PATH_MAX + 512)

typedef struct {
    char asked[NAME_MAX_LEN + 1];
    char real[NAME_MAX_LEN + 1];
    char conninfo[CONNINFO_MAX];
} s_role_t;

struct ln_pgfix_t {
    char *own_dir; /* mkdtemp directory of our own cluster, or NULL */
    char pglocal[PATH_MAX];
    char host[PATH_MAX];
    char cluster_dir[PATH_MAX]; /* "" when unknown */
    char port[16];
    char user[NAME_MAX_LEN + 1];
    char passfile[PATH_MAX + 16]; /* the superuser's pgpass, "" when none */
    char dbname[NAME_MAX_LEN + 1];
    char tag[32]; /* _<pid>_<counter>: makes role names unique */
    char conninfo[CONNINFO_MAX];
    s_role_t roles[ROLES_MAX];
    int nroles;
};

static atomic_int s_counter = 0;

static void
s_quiet (void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static bool
s_ident_ok (const char *s)
{
    if (!s || !*s || strlen (s) > NAME_MAX_LEN)
        return false;
    if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

/* Append key='value' to a conninfo string, escaping as libpq requires. */
static int
s_kv (char *buf, size_t size, const char *key, const char *value)
{
    size_t len = strlen (buf);
    int n = snprintf (buf + len, size - len, "%s%s='", len ? " " : "", key);
    if (n < 0 || (size_t)n >= size - len)
        return -1;
    len += (size_t)n;
    for (const char *p = value; *p; p++) {
        if (len + 3 >= size)
            return -1;
        if (*p == '\'' || *p == '\\')
            buf[len++] = '\\';
        buf[len++] = *p;
    }
    if (len + 2 > size)
        return -1;
    buf[len++] = '\'';
    buf[len] = '\0';
    return 0;
}

static int
s_make_conninfo (const ln_pgfix_t *self, char *buf, size_t size, const char *user,
                 const char *password, const char *dbname)
{
    buf[0] = '\0';
    if (s_kv (buf, size, "host", self->host) || s_kv (buf, size, "port", self->port) ||
        s_kv (buf, size, "user", user) || s_kv (buf, size, "dbname", dbname))
        return -1;
    if (password && s_kv (buf, size, "password", password))
        return -1;
    /* The superuser authenticates with the cluster's password file. */
    if (!password && self->passfile[0] && s_kv (buf, size, "passfile", self->passfile))
        return -1;
    return 0;
}

/* An admin connection as the superuser to `dbname`. */
static PGconn *
s_admin (const ln_pgfix_t *self, const char *dbname)
{
    const char *keys[] = {
        "host", "port", "user", "dbname", "application_name", "connect_timeout", "passfile", NULL};
    const char *vals[] = {self->host,
                          self->port,
                          self->user,
                          dbname,
                          "pg_fixture",
                          "10",
                          self->passfile[0] ? self->passfile : NULL,
                          NULL};
    PGconn *conn = PQconnectdbParams (keys, vals, 0);
    if (!conn || PQstatus (conn) != CONNECTION_OK) {
        fprintf (stderr, "pg_fixture: cannot connect to %s as %s on %s: %s", dbname, self->user,
                 self->host, conn ? PQerrorMessage (conn) : "out of memory\n");
        PQfinish (conn);
        return NULL;
    }
    PQsetNoticeProcessor (conn, s_quiet, NULL);
    return conn;
}

/* Run a statement (params may be NULL); print and return -1 on failure. */
static int
s_run (PGconn *conn, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = nparams > 0 ? PQexecParams (conn, sql, nparams, NULL, params, NULL, NULL, 0)
                                : PQexec (conn, sql);
    ExecStatusType st = PQresultStatus (res);
    int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
    if (rc != 0)
        fprintf (stderr, "pg_fixture: %s\n  failed: %s", sql, PQerrorMessage (conn));
    PQclear (res);
    return rc;
}

/* Have the server build a utility statement from parameters with format()
   (%I identifiers, %L literals), then run it. */
static int
s_run_formatted (PGconn *conn, const char *fmt, int nparams, const char *const *params)
{
    int rc = -1;
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT pg_catalog.format(%s)", fmt);
    PGresult *res = PQexecParams (conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK || PQntuples (res) != 1) {
        fprintf (stderr, "pg_fixture: format failed: %s", PQerrorMessage (conn));
        goto out;
    }
    rc = s_run (conn, PQgetvalue (res, 0, 0), 0, NULL);
out:
    PQclear (res);
    return rc;
}

/* Run deploy/pg-local CMD DIR; its output goes to our stderr (stdout carries
   the TAP stream). */
static int
s_pglocal (const ln_pgfix_t *self, const char *cmd, const char *dir)
{
    pid_t pid;
    int status = 0;
    posix_spawn_file_actions_t fa;
    char *argv[] = {(char *)self->pglocal, (char *)cmd, (char *)dir, NULL};

    fflush (stdout);
    fflush (stderr);
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_adddup2 (&fa, STDERR_FILENO, STDOUT_FILENO);
    int err = posix_spawn (&pid, self->pglocal, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    if (err != 0) {
        fprintf (stderr, "pg_fixture: cannot run %s: %s\n", self->pglocal, strerror (err));
        return -1;
    }
    while (waitpid (pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror ("pg_fixture: waitpid");
            return -1;
        }
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        fprintf (stderr, "pg_fixture: %s %s %s failed (status %d)\n", self->pglocal, cmd, dir,
                 status);
        return -1;
    }
    return 0;
}

static int
s_rm (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove (path) != 0)
        perror (path);
    return 0;
}

static void
s_sanitise (char *dst, size_t size, const char *src)
{
    size_t j = 0;
    for (size_t i = 0; src && src[i] && j + 1 < size; i++) {
        char c = src[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        dst[j++] = ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) ? c : '_';
    }
    dst[j] = '\0';
}

ln_pgfix_t *
ln_pgfix_new (const char *suite)
{
    ln_pgfix_t *self = NULL;
    PGconn *conn = NULL;
    char clean[SUITE_MAX_LEN + 1];

    if (sodium_init () < 0)
        return NULL;
    self = calloc (1, sizeof *self);
    if (!self)
        abort ();

    const char *src = getenv ("LANTERN_SOURCE_DIR");
    snprintf (self->pglocal, sizeof self->pglocal, "%s/deploy/pg-local", src && *src ? src : ".");
    const char *host = getenv ("LANTERN_TEST_PGHOST");
    const char *port = getenv ("LANTERN_TEST_PGPORT");
    const char *user = getenv ("LANTERN_TEST_PGUSER");
    snprintf (self->port, sizeof self->port, "%s", port && *port ? port : "5432");
    snprintf (self->user, sizeof self->user, "%s", user && *user ? user : "postgres");

    if (host && *host)
        snprintf (self->host, sizeof self->host, "%s", host);
    else {
        /* No shared cluster: start our own. */
        char tmpl[] = "/tmp/lantern-pgfix.XXXXXX";
        if (!mkdtemp (tmpl)) {
            perror ("pg_fixture: mkdtemp");
            goto fail;
        }
        self->own_dir = strdup (tmpl);
        if (!self->own_dir)
            abort ();
        if (s_pglocal (self, "start", self->own_dir) != 0)
            goto fail;
        snprintf (self->host, sizeof self->host, "%s/run", self->own_dir);
    }
    /* The pg-local DIR is the parent of its "run" socket directory. */
    size_t hl = strlen (self->host);
    if (hl > 4 && strcmp (self->host + hl - 4, "/run") == 0)
        snprintf (self->cluster_dir, sizeof self->cluster_dir, "%.*s", (int)(hl - 4), self->host);
    /* Every connection authenticates (scram-sha-256): the superuser's
       password is in LANTERN_TEST_PGPASSFILE, or pg-local's DIR/pgpass. */
    const char *passfile = getenv ("LANTERN_TEST_PGPASSFILE");
    if (passfile && *passfile)
        snprintf (self->passfile, sizeof self->passfile, "%s", passfile);
    else if (self->cluster_dir[0]) {
        snprintf (self->passfile, sizeof self->passfile, "%s/pgpass", self->cluster_dir);
        if (access (self->passfile, R_OK) != 0)
            self->passfile[0] = '\0';
    }

    s_sanitise (clean, sizeof clean, suite && *suite ? suite : "suite");
    int id = atomic_fetch_add (&s_counter, 1) + 1;
    snprintf (self->tag, sizeof self->tag, "_%ld_%d", (long)getpid (), id);
    snprintf (self->dbname, sizeof self->dbname, "t_%s%s", clean, self->tag);
    if (s_make_conninfo (self, self->conninfo, sizeof self->conninfo, self->user, NULL,
                         self->dbname) != 0) {
        fprintf (stderr, "pg_fixture: conninfo too long\n");
        goto fail;
    }

    conn = s_admin (self, "postgres");
    if (!conn && !self->own_dir && self->cluster_dir[0]) {
        /* An earlier suite stopped the shared server and crashed before
           starting it again: start it rather than fail every later suite. */
        if (s_pglocal (self, "start", self->cluster_dir) == 0)
            conn = s_admin (self, "postgres");
    }
    if (!conn)
        goto fail;
    /* A leftover of a crashed earlier run with the same pid and counter. */
    const char *p[1] = {self->dbname};
    if (s_run_formatted (conn, "'DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text", 1, p) ||
        s_run_formatted (conn, "'CREATE DATABASE %I', $1::text", 1, p) ||
        /* Least privilege: only roles granted CONNECT may enter. */
        s_run_formatted (conn, "'REVOKE ALL ON DATABASE %I FROM PUBLIC', $1::text", 1, p))
        goto fail;
    PQfinish (conn);
    return self;
fail:
    PQfinish (conn);
    ln_pgfix_destroy (&self);
    return NULL;
}

void
ln_pgfix_destroy (ln_pgfix_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ln_pgfix_t *self = *self_p;

    if (self->dbname[0]) {
        PGconn *conn = s_admin (self, "postgres");
        if (!conn && self->cluster_dir[0]) {
            /* A test stopped the server and did not start it again: start it,
               or every later suite of the run would fail. */
            if (s_pglocal (self, "start", self->cluster_dir) == 0)
                conn = s_admin (self, "postgres");
        }
        if (conn) {
            const char *p[1] = {self->dbname};
            s_run (conn,
                   "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity "
                   "WHERE datname = $1 AND pid <> pg_catalog.pg_backend_pid()",
                   1, p);
            s_run_formatted (conn, "'DROP DATABASE IF EXISTS %I WITH (FORCE)', $1::text", 1, p);
            for (int i = 0; i < self->nroles; i++) {
                const char *r[1] = {self->roles[i].real};
                s_run_formatted (conn, "'DROP ROLE IF EXISTS %I', $1::text", 1, r);
            }
            PQfinish (conn);
        }
    }
    if (self->own_dir) {
        s_pglocal (self, "stop", self->own_dir);
        nftw (self->own_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
        free (self->own_dir);
    }
    free (self);
    *self_p = NULL;
}

const char *
ln_pgfix_conninfo (const ln_pgfix_t *self)
{
    return self ? self->conninfo : NULL;
}

const char *
ln_pgfix_dbname (const ln_pgfix_t *self)
{
    return self ? self->dbname : NULL;
}

const char *
ln_pgfix_host (const ln_pgfix_t *self)
{
    return self ? self->host : NULL;
}

const char *
ln_pgfix_cluster_dir (const ln_pgfix_t *self)
{
    return self && self->cluster_dir[0] ? self->cluster_dir : NULL;
}

const char *
ln_pgfix_create_role (ln_pgfix_t *self, const char *role, const char *schema)
{
    PGconn *conn = NULL;
    const char *result = NULL;
    unsigned char raw[24];
    char password[sizeof raw * 2 + 1];

    if (!self || !s_ident_ok (role) || !s_ident_ok (schema) || self->nroles >= ROLES_MAX ||
        strlen (role) + strlen (self->tag) > NAME_MAX_LEN) {
        fprintf (stderr, "pg_fixture: bad role/schema name or too many roles\n");
        return NULL;
    }
    s_role_t *r = &self->roles[self->nroles];
    snprintf (r->asked, sizeof r->asked, "%s", role);
    snprintf (r->real, sizeof r->real, "%s%s", role, self->tag);
    randombytes_buf (raw, sizeof raw);
    sodium_bin2hex (password, sizeof password, raw, sizeof raw);

    conn = s_admin (self, self->dbname);
    if (!conn)
        goto out;
    const char *p2[2] = {r->real, password};
    if (s_run_formatted (conn, "'CREATE ROLE %I LOGIN PASSWORD %L', $1::text, $2::text", 2, p2))
        goto out;
    self->nroles++; /* from here on destroy drops it */
    const char *pdb[2] = {self->dbname, r->real};
    const char *psc[2] = {schema, r->real};
    if (s_run_formatted (conn, "'GRANT CONNECT ON DATABASE %I TO %I', $1::text, $2::text", 2,
                         pdb) ||
        s_run_formatted (conn, "'CREATE SCHEMA %I AUTHORIZATION %I', $1::text, $2::text", 2, psc))
        goto out;
    if (s_make_conninfo (self, r->conninfo, sizeof r->conninfo, r->real, password, self->dbname) !=
        0)
        goto out;
    result = r->conninfo;
out:
    sodium_memzero (password, sizeof password);
    PQfinish (conn);
    return result;
}

const char *
ln_pgfix_create_runtime_role (ln_pgfix_t *self, const char *role)
{
    PGconn *conn = NULL;
    const char *result = NULL;
    unsigned char raw[24];
    char password[sizeof raw * 2 + 1];

    if (!self || !s_ident_ok (role) || self->nroles >= ROLES_MAX ||
        strlen (role) + strlen (self->tag) > NAME_MAX_LEN) {
        fprintf (stderr, "pg_fixture: bad role name or too many roles\n");
        return NULL;
    }
    s_role_t *r = &self->roles[self->nroles];
    snprintf (r->asked, sizeof r->asked, "%s", role);
    snprintf (r->real, sizeof r->real, "%s%s", role, self->tag);
    randombytes_buf (raw, sizeof raw);
    sodium_bin2hex (password, sizeof password, raw, sizeof raw);

    conn = s_admin (self, self->dbname);
    if (!conn)
        goto out;
    const char *p2[2] = {r->real, password};
    if (s_run_formatted (conn, "'CREATE ROLE %I LOGIN PASSWORD %L', $1::text, $2::text", 2, p2))
        goto out;
    self->nroles++; /* from here on destroy drops it */
    const char *pdb[2] = {self->dbname, r->real};
    if (s_run_formatted (conn, "'GRANT CONNECT ON DATABASE %I TO %I', $1::text, $2::text", 2, pdb))
        goto out;
    if (s_make_conninfo (self, r->conninfo, sizeof r->conninfo, r->real, password, self->dbname) !=
        0)
        goto out;
    result = r->conninfo;
out:
    sodium_memzero (password, sizeof password);
    PQfinish (conn);
    return result;
}

const char *
ln_pgfix_role_name (const ln_pgfix_t *self, const char *role)
{
    for (int i = 0; self && role && i < self->nroles; i++)
        if (strcmp (self->roles[i].asked, role) == 0)
            return self->roles[i].real;
    return NULL;
}

int
ln_pgfix_exec (ln_pgfix_t *self, const char *sql)
{
    if (!self || !sql)
        return -1;
    PGconn *conn = s_admin (self, self->dbname);
    if (!conn)
        return -1;
    int rc = s_run (conn, sql, 0, NULL);
    PQfinish (conn);
    return rc;
}

char *
ln_pgfix_query_value (ln_pgfix_t *self, const char *sql, int nparams, const char *const *params)
{
    char *value = NULL;
    if (!self || !sql)
        return NULL;
    PGconn *conn = s_admin (self, self->dbname);
    if (!conn)
        return NULL;
    PGresult *res = PQexecParams (conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus (res) != PGRES_TUPLES_OK)
        fprintf (stderr, "pg_fixture: %s\n  failed: %s", sql, PQerrorMessage (conn));
    else if (PQntuples (res) > 0 && !PQgetisnull (res, 0, 0)) {
        value = strdup (PQgetvalue (res, 0, 0));
        if (!value)
            abort ();
    }
    PQclear (res);
    PQfinish (conn);
    return value;
}

int
ln_pgfix_stop (ln_pgfix_t *self)
{
    if (!self || !self->cluster_dir[0]) {
        fprintf (stderr, "pg_fixture: no pg-local cluster directory to stop\n");
        return -1;
    }
    return s_pglocal (self, "stop", self->cluster_dir);
}

int
ln_pgfix_start (ln_pgfix_t *self)
{
    if (!self || !self->cluster_dir[0]) {
        fprintf (stderr, "pg_fixture: no pg-local cluster directory to start\n");
        return -1;
    }
    return s_pglocal (self, "start", self->cluster_dir);
}

int
ln_pgfix_restart (ln_pgfix_t *self)
{
    if (ln_pgfix_stop (self) != 0)
        return -1;
    return ln_pgfix_start (self);
}
