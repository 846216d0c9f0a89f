/*  test_pg_local: the contract of deploy/pg-local that tests/run.sh, the
    test fixture and `make run` rely on: start (idempotent) / stop / status /
    env, a Unix socket only, every connection with a password (scram-sha-256,
    the superuser's in DIR/pgpass; an older trust cluster is converted),
    durability left on, the server run as postgres when we are root, nothing
    left running after stop, refusals of unsafe directories.  Uses its own cluster in a temporary
   directory.
*/
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

extern char **environ;

#define OUT_MAX 8192

static char s_pglocal[PATH_MAX];

/* Run pg-local with up to 3 arguments; capture stdout+stderr into out.
   Returns the exit status, or -1 if it did not exit normally. */
static int
s_pg_local (char *out, size_t outsize, const char *a1, const char *a2, const char *a3)
{
    int fds[2];
    pid_t pid;
    int status = 0;
    size_t len = 0;
    bool hung = false;
    char *argv[5] = {s_pglocal, (char *)a1, (char *)a2, (char *)a3, NULL};
    posix_spawn_file_actions_t fa;

    if (pipe (fds) != 0)
        return -1;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_adddup2 (&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2 (&fa, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose (&fa, fds[0]);
    int err = posix_spawn (&pid, s_pglocal, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    close (fds[1]);
    if (err != 0) {
        close (fds[0]);
        return -1;
    }
    /* The pipe is deliberately inheritable: pg-local must not let the server
       keep it open, or this read would never see EOF.  Bounded by a poll. */
    for (;;) {
        char buf[512];
        struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
        int pr = poll (&pfd, 1, 30000);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            hung = true;
            break;
        }
        ssize_t n = read (fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && len + 1 < outsize; i++)
            out[len++] = buf[i];
    }
    if (outsize)
        out[len < outsize ? len : outsize - 1] = '\0';
    close (fds[0]);
    while (waitpid (pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    fprintf (stderr, "pg-local %s %s -> %d: %s%s", a1 ? a1 : "", a2 ? a2 : "",
             WIFEXITED (status) ? WEXITSTATUS (status) : -1, out,
             hung ? "(its output pipe stayed open after it exited)\n" : "");
    if (hung)
        return -1;
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

static int
s_rm (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove (path);
    return 0;
}

/* Alive = exists and is not a zombie (an unreaped zombie has exited). */
static bool
s_pid_alive (long pid)
{
    char path[64];
    char line[256];
    bool alive = false;
    snprintf (path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return false;
    while (fgets (line, sizeof line, f))
        if (strncmp (line, "State:", 6) == 0) {
            alive = strchr (line, 'Z') == NULL && strchr (line, 'X') == NULL;
            break;
        }
    fclose (f);
    return alive;
}

/* As the superuser, with the cluster's password file (DIR/pgpass next to
   the socket directory DIR/run); passfile NULL: none at all. */
static char *
s_query_as (const char *host, const char *passfile, const char *sql)
{
    const char *keys[] = {"host", "port", "user", "dbname", "passfile", NULL};
    const char *vals[] = {host, "5432", "postgres", "postgres", passfile ? passfile : "/dev/null",
                          NULL};
    char *v = NULL;
    PGconn *conn = PQconnectdbParams (keys, vals, 0);
    if (PQstatus (conn) == CONNECTION_OK) {
        PGresult *res = PQexec (conn, sql);
        if (PQresultStatus (res) == PGRES_TUPLES_OK && PQntuples (res) > 0)
            v = strdup (PQgetvalue (res, 0, 0));
        else if (PQresultStatus (res) != PGRES_COMMAND_OK)
            fprintf (stderr, "%s: %s", sql, PQerrorMessage (conn));
        else
            v = strdup ("");
        PQclear (res);
    }
    else
        fprintf (stderr, "connect: %s", PQerrorMessage (conn));
    PQfinish (conn);
    return v;
}

static char *
s_query (const char *host, const char *sql)
{
    char passfile[512];
    snprintf (passfile, sizeof passfile, "%.*s/pgpass", (int)(strlen (host) - 4), host);
    return s_query_as (host, passfile, sql);
}

static void
assert_query (const char *host, const char *sql, const char *expected)
{
    char *v = s_query (host, sql);
    assert_non_null (v);
    assert_string_equal (v, expected);
    free (v);
}

static void
test_refusals (void **state)
{
    (void)state;
    char out[OUT_MAX];
    assert_int_equal (s_pg_local (out, sizeof out, "--help", NULL, NULL), 0);
    assert_non_null (strstr (out, "start"));
    assert_int_equal (s_pg_local (out, sizeof out, NULL, NULL, NULL), 2);
    assert_int_equal (s_pg_local (out, sizeof out, "bogus", "/tmp/x", NULL), 2);
    assert_int_equal (s_pg_local (out, sizeof out, "start", NULL, NULL), 1);
    assert_int_equal (s_pg_local (out, sizeof out, "start", "/tmp/has space", NULL), 1);
    assert_int_equal (s_pg_local (out, sizeof out, "start", "/var/lib/postgresql/15/main", NULL),
                      1);
    assert_non_null (strstr (out, "system"));
    char longdir[160];
    memset (longdir, 'x', sizeof longdir);
    memcpy (longdir, "/tmp/", 5);
    longdir[sizeof longdir - 1] = '\0';
    assert_int_equal (s_pg_local (out, sizeof out, "start", longdir, NULL), 1);
    assert_non_null (strstr (out, "107"));
    struct stat st;
    assert_int_not_equal (stat (longdir, &st), 0); /* nothing created */
    if (getuid () == 0) {
        /* postgres cannot traverse /root: refused up front. */
        assert_int_equal (s_pg_local (out, sizeof out, "start", "/root/lantern-pg-local-x", NULL),
                          1);
        assert_non_null (strstr (out, "traverse"));
        assert_int_not_equal (stat ("/root/lantern-pg-local-x", &st), 0);
    }
}

static void
test_lifecycle (void **state)
{
    (void)state;
    char out[OUT_MAX];
    char dir[] = "/tmp/lantern-pglocal-test.XXXXXX";
    char host[256], expect[512], pidfile[512], sock[512];
    assert_non_null (mkdtemp (dir));
    snprintf (host, sizeof host, "%s/run", dir);
    snprintf (pidfile, sizeof pidfile, "%s/data/postmaster.pid", dir);
    snprintf (sock, sizeof sock, "%s/.s.PGSQL.5432", host);

    assert_int_equal (s_pg_local (out, sizeof out, "status", dir, NULL), 3);
    assert_int_equal (s_pg_local (out, sizeof out, "stop", dir, NULL), 0); /* nothing to stop */
    assert_int_equal (s_pg_local (out, sizeof out, "start", dir, NULL), 0);
    assert_int_equal (s_pg_local (out, sizeof out, "start", dir, NULL), 0);
    assert_non_null (strstr (out, "already running"));
    assert_int_equal (s_pg_local (out, sizeof out, "status", dir, NULL), 0);
    assert_int_equal (s_pg_local (out, sizeof out, "env", dir, NULL), 0);
    snprintf (expect, sizeof expect,
              "PGHOST=%s\nPGPORT=5432\nPGUSER=postgres\nPGPASSFILE=%s/pgpass\n", host, dir);
    assert_string_equal (out, expect);

    /* Passwords, never trust (issue 10 point 9): the superuser's is in
       DIR/pgpass, mode 0600; without it, or with a wrong one, no entry. */
    char pgpass[512], wrong[600];
    snprintf (pgpass, sizeof pgpass, "%s/pgpass", dir);
    struct stat pst;
    assert_int_equal (stat (pgpass, &pst), 0);
    assert_int_equal (pst.st_mode & 0777, 0600);
    assert_null (s_query_as (host, NULL, "SELECT 1"));
    snprintf (wrong, sizeof wrong, "%s/wrong.pgpass", dir);
    FILE *w = fopen (wrong, "w");
    assert_non_null (w);
    fprintf (w, "*:*:*:postgres:not-the-password\n");
    fclose (w);
    assert_int_equal (chmod (wrong, 0600), 0);
    assert_null (s_query_as (host, wrong, "SELECT 1"));
    unlink (wrong);
    assert_query (host, "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust'", "0");
    assert_query (host,
                  "SELECT string_agg(DISTINCT auth_method, ',') FROM pg_hba_file_rules"
                  " WHERE type = 'local'",
                  "scram-sha-256");

    /* Socket only, private, durable, superuser postgres. */
    assert_query (host, "SELECT current_user", "postgres");
    assert_query (host, "SHOW listen_addresses", "");
    assert_query (host, "SHOW unix_socket_permissions", "0700");
    assert_query (host, "SHOW fsync", "on");
    assert_query (host, "SHOW synchronous_commit", "on");
    assert_query (host, "SHOW server_encoding", "UTF8");
    assert_query (host, "SELECT split_part(current_setting('server_version'), '.', 1)", "15");
    char datadir[PATH_MAX + 64];
    snprintf (datadir, sizeof datadir, "%s/data", dir);
    assert_query (host, "SHOW data_directory", datadir);
    struct stat st;
    assert_int_equal (stat (sock, &st), 0);
    assert_int_equal (st.st_mode & 0777, 0700);
    if (getuid () == 0) {
        struct passwd *pw = getpwnam ("postgres");
        assert_non_null (pw);
        assert_int_equal (st.st_uid, pw->pw_uid);
        assert_int_equal (stat (pidfile, &st), 0);
        assert_int_equal (st.st_uid, pw->pw_uid);
    }
    char *v = s_query (host, "CREATE TABLE kept (i int); INSERT INTO kept VALUES (42)");
    assert_non_null (v);
    free (v);

    /* Stop leaves no server behind. */
    FILE *f = fopen (pidfile, "r");
    assert_non_null (f);
    long pid = 0;
    assert_int_equal (fscanf (f, "%ld", &pid), 1);
    fclose (f);
    assert_true (pid > 1);
    assert_true (s_pid_alive (pid));
    assert_int_equal (s_pg_local (out, sizeof out, "stop", dir, NULL), 0);
    assert_false (s_pid_alive (pid));
    assert_int_not_equal (stat (pidfile, &st), 0);
    assert_int_equal (s_pg_local (out, sizeof out, "status", dir, NULL), 3);
    assert_int_equal (s_pg_local (out, sizeof out, "stop", dir, NULL), 0);

    /* Start again on the same data: what was committed is there. */
    assert_int_equal (s_pg_local (out, sizeof out, "start", dir, NULL), 0);
    assert_query (host, "SELECT i FROM kept", "42");
    assert_int_equal (s_pg_local (out, sizeof out, "stop", dir, NULL), 0);

    /* A cluster an older pg-local made (trust, no password file) gets a
       superuser password and scram-sha-256 at its next start. */
    char hba[600];
    snprintf (hba, sizeof hba, "%s/data/pg_hba.conf", dir);
    f = fopen (hba, "w");
    assert_non_null (f);
    fprintf (f, "local all all trust\nhost all all 127.0.0.1/32 reject\n");
    fclose (f);
    unlink (pgpass);
    assert_int_equal (s_pg_local (out, sizeof out, "start", dir, NULL), 0);
    assert_non_null (strstr (out, "now scram-sha-256"));
    assert_int_equal (stat (pgpass, &pst), 0);
    assert_int_equal (pst.st_mode & 0777, 0600);
    assert_null (s_query_as (host, NULL, "SELECT 1"));
    assert_query (host, "SELECT i FROM kept", "42");
    assert_query (host, "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust'", "0");
    assert_int_equal (s_pg_local (out, sizeof out, "stop", dir, NULL), 0);
    nftw (dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

int
main (void)
{
    const char *src = getenv ("LANTERN_SOURCE_DIR");
    snprintf (s_pglocal, sizeof s_pglocal, "%s/deploy/pg-local", src && *src ? src : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_refusals),
        cmocka_unit_test (test_lifecycle),
    };
    return cmocka_run_group_tests_name ("pg_local", tests, NULL, NULL);
}
