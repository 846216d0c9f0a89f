/*  ln_db: PostgreSQL connection, parameterised statements, migrations.
    See ln_db.h for the contract.

    Why things are as they are:
    - libpq does all the protocol work; this file adds what every service
      would otherwise re-invent: retry with backoff, telling a lost
      connection from a failed statement, and migrations that are safe under
      concurrency.
    - Statements go through PQexecParams, which also means the server refuses
      several commands in one string: a value smuggled into SQL text could not
      append a second statement even if someone built SQL by hand.
    - Migrations are the one place where SQL text is run with PQexec (it may
      hold several statements); it is code shipped in the binary, not input.
*/
#include "ln_db.h"
#include "ln_alloc.h"
#include "ln_clock.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ln_log.h"

#define CONNECT_TIMEOUT_S  "10"
#define SQLSTATE_LEN       5
#define CHECKSUM_HEX_LEN   (crypto_hash_sha256_BYTES * 2)
#define MIGRATION_NAME_MAX 200
/* Probing a connection reads what the server sent; a server that closed the
   connection sends an error first and EOF after, so one read may not see the
   EOF yet.  A few non-blocking reads settle it. */
#define PROBE_READS 3
/* Prepared statement names remembered per connection. */
#define PREPARED_MAX 64
/* The runtime role's privilege policy in each schema (ln_db.h). */
#define PRIVILEGES_TABLE "schema_runtime_privileges"

struct ln_db_t {
    PGconn *conn;
    char *conninfo; /* may hold a password: wiped on destroy, never logged */
    char schema[LN_DB_SCHEMA_MAX + 1];
    bool has_schema;
    char appname[LN_DB_SCHEMA_MAX + 16];
    ln_db_retry_t retry;
    bool last_lost;
    bool last_permanent;
    uint64_t generation; /* connections made so far */
    char last_sqlstate[SQLSTATE_LEN + 1];
    ln_error_t last_error;
    /* names prepared on this connection (borrowed: callers pass literals) */
    const char *prepared[PREPARED_MAX];
    size_t nprepared;
    uint64_t prepared_on; /* the generation they belong to */
};

/* --- small helpers ------------------------------------------------------- */

static void
s_sleep_ms (int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep (&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Copy a server or libpq message onto one line: newlines and tabs become
   spaces, runs of spaces collapse, trailing space goes. */
static void
s_one_line (char *dst, size_t size, const char *src)
{
    size_t j = 0;
    bool space = false;
    if (size == 0)
        return;
    for (size_t i = 0; src && src[i] && j + 1 < size; i++) {
        unsigned char c = (unsigned char)src[i];
        if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
            space = j > 0;
            continue;
        }
        if (space && j + 2 < size)
            dst[j++] = ' ';
        space = false;
        dst[j++] = (char)c;
    }
    dst[j] = '\0';
}

bool
ln_db_schema_valid (const char *name)
{
    if (!name || !*name)
        return false;
    size_t len = strlen (name);
    if (len > LN_DB_SCHEMA_MAX)
        return false;
    if (!((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

/* Server notices (e.g. "relation already exists, skipping") go to the log at
   debug level instead of libpq's default, which prints to stderr. */
static void
s_notice (void *arg, const char *message)
{
    (void)arg;
    char line[512];
    s_one_line (line, sizeof line, message);
    ln_log_debug ("db notice", "text=%s", line);
}

static bool
s_sqlstate_is_lost (const char *state)
{
    if (!state || strlen (state) != SQLSTATE_LEN)
        return false;
    /* class 08: connection exception; 57P01 admin shutdown (terminated or
       server stopping), 57P02 crash shutdown, 57P03 cannot connect now. */
    return strncmp (state, "08", 2) == 0 || strcmp (state, "57P01") == 0 ||
           strcmp (state, "57P02") == 0 || strcmp (state, "57P03") == 0;
}

/* Record a failure of `what` (res may be NULL) in the handle and in err. */
static void
s_fail (ln_db_t *self, const PGresult *res, const char *what, ln_error_t *err)
{
    const char *state = res ? PQresultErrorField (res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField (res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char text[LN_ERROR_MESSAGE_MAX];

    /* Only the primary message: DETAIL may quote row values (personal data)
       and errors travel into logs and replies. */
    if (!primary || !*primary)
        primary = self->conn ? PQerrorMessage (self->conn) : "no connection";
    s_one_line (text, sizeof text, primary);

    self->last_lost = (self->conn == NULL || PQstatus (self->conn) == CONNECTION_BAD ||
                       s_sqlstate_is_lost (state));
    self->last_permanent = !self->last_lost && ln_db_sqlstate_permanent (state);
    snprintf (self->last_sqlstate, sizeof self->last_sqlstate, "%s",
              state && strlen (state) == SQLSTATE_LEN ? state : "");
    if (self->last_lost)
        ln_error_set (&self->last_error, "DB_CONNECTION_LOST", NULL, "%s: connection lost%s%s: %s",
                      what, *self->last_sqlstate ? " SQLSTATE " : "", self->last_sqlstate, text);
    else
        ln_error_set (&self->last_error, "DB_STATEMENT", NULL, "%s: SQLSTATE %s: %s", what,
                      *self->last_sqlstate ? self->last_sqlstate : "?????", text);
    if (err)
        *err = self->last_error;
}

static void
s_ok (ln_db_t *self)
{
    self->last_lost = false;
    self->last_permanent = false;
    self->last_sqlstate[0] = '\0';
    ln_error_clear (&self->last_error);
}

/* A statement that put the connection into COPY mode by mistake would wedge
   it; end the COPY and drain, so the connection stays usable. */
static void
s_drain (PGconn *conn, PGresult *res)
{
    ExecStatusType st = PQresultStatus (res);
    if (st == PGRES_COPY_IN)
        PQputCopyEnd (conn, "COPY is not supported here; use ln_db_conn");
    else if (st == PGRES_COPY_OUT) {
        char *buf = NULL;
        while (PQgetCopyData (conn, &buf, 0) > 0) {
            PQfreemem (buf);
            buf = NULL;
        }
    }
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
        PGresult *r;
        while ((r = PQgetResult (conn)) != NULL)
            PQclear (r);
    }
}

/* --- connecting ------------------------------------------------------------ */

/* SQLSTATEs after which trying again, unchanged, cannot help: the password
   or the role is wrong (class 28), the database or schema does not exist
   (3D000, 3F000), a privilege is missing (42501), or the schema lacks a
   table or function this program needs (42P01, 42883: a migration not
   applied).  Everything else (a server that is down, starting or out of
   connections, a network fault, a deadlock) may pass. */
bool
ln_db_sqlstate_permanent (const char *state)
{
    if (!state || strlen (state) != SQLSTATE_LEN)
        return false;
    return strncmp (state, "28", 2) == 0 || strcmp (state, "3D000") == 0 ||
           strcmp (state, "3F000") == 0 || strcmp (state, "42501") == 0 ||
           strcmp (state, "42P01") == 0 || strcmp (state, "42883") == 0;
}

/* Wait until conn's socket is ready (for writing or reading) or the
   deadline passes.  Returns 1 ready, 0 timed out, -1 error. */
static int
s_wait_socket (PGconn *conn, bool for_write, int64_t deadline_ms)
{
    int fd = PQsocket (conn);
    if (fd < 0)
        return -1;
    for (;;) {
        int64_t left = deadline_ms - ln_clock_mono_ms ();
        if (left <= 0)
            return 0;
        struct pollfd p = {.fd = fd, .events = for_write ? POLLOUT : POLLIN};
        int r = poll (&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

/* The reason a connection failed, on one line without libpq's LOCATION
   lines (the server's source file), and the SQLSTATE when the server sent
   one.  The connection was made with PQERRORS_VERBOSE, which is the only way
   libpq tells a connection failure's SQLSTATE: "...failed: FATAL:  28P01:
   password authentication failed for user ...".  The last one counts
   (libpq may have tried several hosts). */
static void
s_connect_error (PGconn *conn, char *why, size_t whylen, char state[SQLSTATE_LEN + 1])
{
    char text[LN_ERROR_MESSAGE_MAX];
    const char *msg = conn ? PQerrorMessage (conn) : "out of memory";
    size_t j = 0;
    state[0] = '\0';
    for (const char *line = msg; line && *line && j + 1 < sizeof text;) {
        const char *nl = strchr (line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen (line);
        if (strncmp (line, "LOCATION:", 9) != 0) {
            if (j > 0 && j + 1 < sizeof text)
                text[j++] = ' ';
            for (size_t i = 0; i < len && j + 1 < sizeof text; i++)
                text[j++] = line[i];
        }
        line = nl ? nl + 1 : NULL;
    }
    text[j] = '\0';
    static const char *const severities[] = {"FATAL:  ", "ERROR:  ", "PANIC:  "};
    for (size_t k = 0; k < sizeof severities / sizeof severities[0]; k++)
        for (const char *p = strstr (text, severities[k]); p; p = strstr (p + 1, severities[k])) {
            const char *code = p + strlen (severities[k]);
            bool ok = strlen (code) > SQLSTATE_LEN && code[SQLSTATE_LEN] == ':';
            for (int i = 0; ok && i < SQLSTATE_LEN; i++)
                ok = (code[i] >= '0' && code[i] <= '9') || (code[i] >= 'A' && code[i] <= 'Z');
            if (ok) {
                memcpy (state, code, SQLSTATE_LEN);
                state[SQLSTATE_LEN] = '\0';
            }
        }
    s_one_line (why, whylen, text);
}

/* Set search_path on a fresh connection, within the deadline. */
static int
s_set_search_path (ln_db_t *self, PGconn *conn, int64_t deadline_ms, char *why, size_t whylen)
{
    if (!self->has_schema)
        return 0;
    /* The value is a list of identifiers; quoting keeps reserved words
       (a schema called "user") meaning the schema.  pg_temp goes last:
       unlisted, it would be searched FIRST, and a temporary table of the
       session could stand in for one of the schema's (the audit head). */
    char quoted[LN_DB_SCHEMA_MAX + 16];
    snprintf (quoted, sizeof quoted, "\"%s\", pg_temp", self->schema);
    const char *params[1] = {quoted};
    if (PQsendQueryParams (conn, "SELECT pg_catalog.set_config('search_path', $1, false)", 1, NULL,
                           params, NULL, NULL, 0) != 1) {
        s_one_line (why, whylen, PQerrorMessage (conn));
        return -1;
    }
    while (PQisBusy (conn)) {
        int r = s_wait_socket (conn, false, deadline_ms);
        if (r <= 0) {
            snprintf (why, whylen,
                      r == 0 ? "no answer to the first statement in time"
                             : "waiting for the server failed");
            return -1;
        }
        if (PQconsumeInput (conn) == 0) {
            s_one_line (why, whylen, PQerrorMessage (conn));
            return -1;
        }
    }
    int rc = 0;
    PGresult *res;
    while ((res = PQgetResult (conn)) != NULL) {
        if (PQresultStatus (res) != PGRES_TUPLES_OK && rc == 0) {
            s_one_line (why, whylen, PQerrorMessage (conn));
            rc = -1;
        }
        PQclear (res);
    }
    return rc;
}

/* The conninfo's connect_timeout in ms (libpq's rule: 1 counts as 2 s),
   or the default; connecting is polled here, so libpq does not apply it. */
static int64_t
s_connect_timeout_ms (const ln_db_t *self)
{
    int64_t ms = (int64_t)strtol (CONNECT_TIMEOUT_S, NULL, 10) * 1000;
    PQconninfoOption *opts = PQconninfoParse (self->conninfo, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp (o->keyword, "connect_timeout") == 0 && o->val && *o->val) {
            char *end = NULL;
            long s = strtol (o->val, &end, 10);
            if (end && *end == '\0' && s > 0 && s <= 86400)
                ms = (s < 2 ? 2 : s) * 1000;
        }
    PQconninfoFree (opts);
    return ms;
}

/* One attempt, bounded by timeout_ms from start to a usable connection
   (connecting, authenticating, search_path), and no sleeping: libpq's
   non-blocking connect, polled against the deadline.  Returns the
   connection, or NULL with a one-line reason, the SQLSTATE if any, and
   whether the failure is permanent. */
static PGconn *
s_connect_once (ln_db_t *self, int64_t timeout_ms, char *why, size_t whylen,
                char state[SQLSTATE_LEN + 1], bool *permanent)
{
    const int64_t deadline = ln_clock_mono_ms () + timeout_ms;
    /* Keywords are applied in order and the conninfo (expanded from
       "dbname") comes last, so the caller's settings win over ours. */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {CONNECT_TIMEOUT_S, self->appname, self->conninfo, NULL};
    state[0] = '\0';
    *permanent = false;
    PGconn *conn = PQconnectStartParams (keys, vals, 1);
    if (!conn) {
        snprintf (why, whylen, "out of memory");
        return NULL;
    }
    /* (libpq has already tried once: a socket that is not there fails
       here, before any polling.) */
    PQsetErrorVerbosity (conn, PQERRORS_VERBOSE);
    PostgresPollingStatusType st =
        PQstatus (conn) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            s_connect_error (conn, why, whylen, state);
            /* No SQLSTATE but the server asked for a password that we do
               not have (none in the conninfo or the passfile). */
            *permanent = ln_db_sqlstate_permanent (state) || PQconnectionNeedsPassword (conn);
            goto fail;
        }
        int r = s_wait_socket (conn, st == PGRES_POLLING_WRITING, deadline);
        if (r <= 0) {
            if (r == 0)
                snprintf (why, whylen, "no connection within %lld ms", (long long)timeout_ms);
            else
                snprintf (why, whylen, "waiting for the server failed: %s", strerror (errno));
            goto fail;
        }
        st = PQconnectPoll (conn);
    }
    PQsetErrorVerbosity (conn, PQERRORS_DEFAULT);
    PQsetNoticeProcessor (conn, s_notice, NULL);
    if (s_set_search_path (self, conn, deadline, why, whylen) != 0)
        goto fail;
    return conn;
fail:
    PQfinish (conn);
    return NULL;
}

/* Record a failed connect in the handle and in err: DB_REFUSED when it is
   permanent, else `code`. */
static void s_connect_failed (ln_db_t *self, const char *code, bool permanent, const char *state,
                              ln_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 6, 7)));

static void
s_connect_failed (ln_db_t *self, const char *code, bool permanent, const char *state,
                  ln_error_t *err, const char *fmt, ...)
{
    char text[LN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    self->last_lost = !permanent;
    self->last_permanent = permanent;
    snprintf (self->last_sqlstate, sizeof self->last_sqlstate, "%s", state ? state : "");
    ln_error_set (&self->last_error, permanent ? "DB_REFUSED" : code, NULL, "%s", text);
    if (err)
        *err = self->last_error;
}

/* Connect with backoff until it works, the budget is spent, or the server
   refuses us for a reason that retrying cannot fix. */
static int
s_connect_retry (ln_db_t *self, ln_error_t *err)
{
    const int64_t start = ln_clock_mono_ms ();
    const int64_t attempt_ms = s_connect_timeout_ms (self);
    int64_t delay = self->retry.initial_delay_ms;
    char why[LN_ERROR_MESSAGE_MAX / 2] = "";
    char state[SQLSTATE_LEN + 1];
    bool permanent = false;

    for (int attempt = 1;; attempt++) {
        PGconn *conn = s_connect_once (self, attempt_ms, why, sizeof why, state, &permanent);
        if (conn) {
            self->conn = conn;
            if (attempt > 1)
                ln_log_info ("db connected", "schema=%s attempts=%d ms=%lld",
                             self->has_schema ? self->schema : "-", attempt,
                             (long long)(ln_clock_mono_ms () - start));
            return 0;
        }
        int64_t elapsed = ln_clock_mono_ms () - start;
        if (permanent) {
            ln_log_warn ("db connect refused, not retrying", "schema=%s sqlstate=%s error=%s",
                         self->has_schema ? self->schema : "-", *state ? state : "-", why);
            s_connect_failed (self, "DB_CONNECT", true, state, err,
                              "PostgreSQL refused the connection (not retried): %s", why);
            return -1;
        }
        int64_t remaining = self->retry.max_wait_ms - elapsed;
        if (remaining <= 0) {
            ln_log_warn ("db connect failed, giving up", "schema=%s attempt=%d ms=%lld error=%s",
                         self->has_schema ? self->schema : "-", attempt, (long long)elapsed, why);
            s_connect_failed (self, "DB_CONNECT", false, state, err,
                              "could not connect to PostgreSQL in %lld ms (%d attempts): %s",
                              (long long)elapsed, attempt, why);
            return -1;
        }
        /* Equal jitter: somewhere in [delay/2, delay]. */
        int64_t half = delay / 2;
        int64_t sleep_ms = half + (int64_t)randombytes_uniform ((uint32_t)(delay - half + 1));
        if (sleep_ms > remaining)
            sleep_ms = remaining;
        ln_log_warn ("db connect failed", "schema=%s attempt=%d retry_in_ms=%lld error=%s",
                     self->has_schema ? self->schema : "-", attempt, (long long)sleep_ms, why);
        s_sleep_ms (sleep_ms);
        delay = delay * 2 > self->retry.max_delay_ms ? self->retry.max_delay_ms : delay * 2;
    }
}

ln_db_t *
ln_db_connect (const char *conninfo, const char *schema, const ln_db_retry_t *retry,
               ln_error_t *err)
{
    ln_db_t *self = NULL;
    ln_db_retry_t r = retry ? *retry : LN_DB_RETRY_DEFAULT;

    if (!conninfo) {
        ln_error_set (err, "DB_INVALID", "conninfo", "no conninfo given");
        goto fail;
    }
    if (schema && !ln_db_schema_valid (schema)) {
        ln_error_set (err, "DB_INVALID", "schema", "schema name must match [a-z_][a-z0-9_]{0,62}");
        goto fail;
    }
    /* A malformed conninfo is refused here, once, without libpq's message:
       it may quote a fragment of the string, and so of a password. */
    PQconninfoOption *parsed = PQconninfoParse (conninfo, NULL);
    if (!parsed && (strchr (conninfo, '=') || strstr (conninfo, "://"))) { /* else: a db name */
        ln_error_set (err, "DB_INVALID", "conninfo",
                      "conninfo is not a valid libpq connection string or URI");
        goto fail;
    }
    PQconninfoFree (parsed);
    if (r.initial_delay_ms < 1 || r.max_delay_ms < r.initial_delay_ms || r.max_wait_ms < 0) {
        ln_error_set (err, "DB_INVALID", "retry",
                      "retry needs 1 <= initial_delay_ms <= max_delay_ms and max_wait_ms >= 0");
        goto fail;
    }
    if (sodium_init () < 0) {
        ln_error_set (err, "DB_INVALID", NULL, "libsodium could not be initialised");
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->conninfo = strdup (conninfo);
    if (!self->conninfo)
        abort ();
    self->retry = r;
    if (schema) {
        self->has_schema = true;
        snprintf (self->schema, sizeof self->schema, "%s", schema);
    }
    snprintf (self->appname, sizeof self->appname, "lantern-%s", schema ? schema : "client");
    if (s_connect_retry (self, err) != 0)
        goto fail;
    self->generation = 1;
    return self;
fail:
    ln_db_destroy (&self);
    return NULL;
}

ln_db_t *
ln_db_connect_like (const ln_db_t *other, const ln_db_retry_t *retry, ln_error_t *err)
{
    if (!other) {
        ln_error_set (err, "DB_INVALID", NULL, "no database handle to copy");
        return NULL;
    }
    return ln_db_connect (other->conninfo, other->has_schema ? other->schema : NULL,
                          retry ? retry : &other->retry, err);
}

void
ln_db_destroy (ln_db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ln_db_t *self = *self_p;
    if (self->conn)
        PQfinish (self->conn);
    if (self->conninfo) {
        sodium_memzero (self->conninfo, strlen (self->conninfo));
        free (self->conninfo);
    }
    free (self);
    *self_p = NULL;
}

PGconn *
ln_db_conn (ln_db_t *self)
{
    return self ? self->conn : NULL;
}

const char *
ln_db_schema (const ln_db_t *self)
{
    return self && self->has_schema ? self->schema : NULL;
}

/* Is the connection still there?  PQstatus only changes when libpq reads
   from the socket, so read whatever the server sent (non-blocking). */
static bool
s_alive (PGconn *conn)
{
    if (!conn || PQstatus (conn) != CONNECTION_OK)
        return false;
    if (PQtransactionStatus (conn) == PQTRANS_ACTIVE)
        return true; /* a command is in flight: not ours to disturb */
    for (int i = 0; i < PROBE_READS; i++)
        if (PQconsumeInput (conn) == 0 || PQstatus (conn) != CONNECTION_OK)
            return false;
    return true;
}

int
ln_db_ensure (ln_db_t *self, ln_error_t *err)
{
    if (!self) {
        ln_error_set (err, "DB_INVALID", NULL, "no database handle");
        return -1;
    }
    if (s_alive (self->conn))
        return 0;
    ln_log_warn ("db connection lost, reconnecting", "schema=%s",
                 self->has_schema ? self->schema : "-");
    if (self->conn) {
        PQfinish (self->conn);
        self->conn = NULL;
    }
    if (s_connect_retry (self, err) != 0)
        return -1;
    self->generation++;
    s_ok (self);
    return 0;
}

int
ln_db_reconnect (ln_db_t *self, int timeout_ms, ln_error_t *err)
{
    char why[LN_ERROR_MESSAGE_MAX / 2] = "";
    char state[SQLSTATE_LEN + 1];
    bool permanent = false;

    if (!self || timeout_ms < 1 || timeout_ms > LN_DB_RECONNECT_MAX_MS) {
        ln_error_set (err, "DB_INVALID", NULL, "ln_db_reconnect: bad arguments");
        return -1;
    }
    if (s_alive (self->conn))
        return 0;
    if (self->conn) {
        ln_log_warn ("db connection lost", "schema=%s", self->has_schema ? self->schema : "-");
        PQfinish (self->conn);
        self->conn = NULL;
    }
    PGconn *conn = s_connect_once (self, timeout_ms, why, sizeof why, state, &permanent);
    if (!conn) {
        /* No log line here: the caller decides how often to say it. */
        if (permanent)
            s_connect_failed (self, "DB_CONNECT", true, state, err,
                              "PostgreSQL refused the connection: %s", why);
        else
            s_connect_failed (self, "DB_CONNECT", false, state, err,
                              "could not connect to PostgreSQL: %s", why);
        return -1;
    }
    self->conn = conn;
    self->generation++;
    s_ok (self);
    ln_log_info ("db connected", "schema=%s", self->has_schema ? self->schema : "-");
    return 0;
}

bool
ln_db_last_permanent (const ln_db_t *self)
{
    return self && self->last_permanent;
}

uint64_t
ln_db_generation (const ln_db_t *self)
{
    return self ? self->generation : 0;
}

/* --- statements ---------------------------------------------------------------- */

PGresult *
ln_db_exec (ln_db_t *self, const char *sql, int nparams, const char *const *params, ln_error_t *err)
{
    PGresult *res = NULL;

    if (!self || !sql || nparams < 0 || (nparams > 0 && !params)) {
        ln_error_set (err, "DB_INVALID", NULL, "ln_db_exec: bad arguments");
        return NULL;
    }
    if (!self->conn || PQstatus (self->conn) != CONNECTION_OK) {
        s_fail (self, NULL, "statement", err);
        return NULL;
    }
    res = PQexecParams (self->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus (res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        s_ok (self);
        return res;
    }
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
        s_drain (self->conn, res);
        ln_error_set (&self->last_error, "DB_INVALID", NULL,
                      "statement: COPY is not supported by ln_db_exec; use ln_db_conn");
        self->last_lost = false;
        self->last_sqlstate[0] = '\0';
        if (err)
            *err = self->last_error;
    }
    else
        s_fail (self, res, "statement", err);
    PQclear (res);
    return NULL;
}

int
ln_db_run (ln_db_t *self, const char *sql, int nparams, const char *const *params, ln_error_t *err)
{
    PGresult *res = ln_db_exec (self, sql, nparams, params, err);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

/* Is `name` prepared on the current connection?  Forgets everything after
   a reconnect (a new session has no prepared statements). */
static bool
s_is_prepared (ln_db_t *self, const char *name)
{
    if (self->prepared_on != self->generation) {
        self->nprepared = 0;
        self->prepared_on = self->generation;
    }
    for (size_t i = 0; i < self->nprepared; i++)
        if (strcmp (self->prepared[i], name) == 0)
            return true;
    return false;
}

PGresult *
ln_db_exec_prepared (ln_db_t *self, const char *name, const char *sql, int nparams,
                     const char *const *values, const int *lengths, const int *formats,
                     int result_format, ln_error_t *err)
{
    PGresult *res = NULL;

    if (!self || !name || !sql || nparams < 0 || (nparams > 0 && !values)) {
        ln_error_set (err, "DB_INVALID", NULL, "ln_db_exec_prepared: bad arguments");
        return NULL;
    }
    if (!self->conn || PQstatus (self->conn) != CONNECTION_OK) {
        s_fail (self, NULL, name, err);
        return NULL;
    }
    if (!s_is_prepared (self, name)) {
        if (self->nprepared == PREPARED_MAX)
            res = PQexecParams (self->conn, sql, nparams, NULL, values, lengths, formats,
                                result_format);
        else {
            PGresult *prep = PQprepare (self->conn, name, sql, nparams, NULL);
            if (PQresultStatus (prep) != PGRES_COMMAND_OK) {
                s_fail (self, prep, name, err);
                PQclear (prep);
                return NULL;
            }
            PQclear (prep);
            self->prepared[self->nprepared++] = name;
        }
    }
    if (!res)
        res = PQexecPrepared (self->conn, name, nparams, values, lengths, formats, result_format);
    ExecStatusType st = PQresultStatus (res);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        s_ok (self);
        return res;
    }
    s_fail (self, res, name, err);
    PQclear (res);
    return NULL;
}

/* Forget a name marked prepared whose PQsendPrepare then failed. */
static void
s_unprepare (ln_db_t *self, const char *name)
{
    for (size_t i = 0; i < self->nprepared; i++)
        if (strcmp (self->prepared[i], name) == 0) {
            self->prepared[i] = self->prepared[--self->nprepared];
            return;
        }
}

/* Leave pipeline mode, whatever state the pipeline was left in: a
   connection left in it refuses every later synchronous call, and libpq
   may still call it healthy (a server that ended the session mid-pipeline
   is noticed only when its socket is read).  Collect what is left (a
   bounded number of results), then exit; when that is not possible the
   connection is closed, so that the next call fails as lost and
   ln_db_ensure makes a new one.  Returns 0, or -1 when it had to close. */
static int
s_leave_pipeline (ln_db_t *self)
{
    PGconn *conn = self->conn;
    for (int guard = 0; guard < 256; guard++) {
        if (PQpipelineStatus (conn) == PQ_PIPELINE_OFF)
            return 0;
        if (PQstatus (conn) != CONNECTION_OK)
            break;
        if (PQexitPipelineMode (conn) == 1)
            return 0;
        PQclear (PQgetResult (conn));
    }
    ln_log_warn ("db connection unusable after a pipeline, closing it", "schema=%s",
                 self->has_schema ? self->schema : "-");
    PQfinish (conn);
    self->conn = NULL;
    return -1;
}

int
ln_db_exec_all (ln_db_t *self, const ln_db_stmt_t *stmts, size_t n, PGresult **results,
                ln_error_t *err)
{
    int rc = -1;
    bool failed = false, piped = false, send_failed = false;
    /* What was sent, in order: a statement (>= 0) or the prepare of
       statement -1 - i; each gets its results and then a NULL. */
    long *sent = NULL;
    size_t nsent = 0;

    for (size_t i = 0; results && i < n; i++)
        results[i] = NULL;
    if (!self || !stmts || n == 0 || n > LONG_MAX / 2) {
        ln_error_set (err, "DB_INVALID", NULL, "ln_db_exec_all: bad arguments");
        return -1;
    }
    PGconn *conn = self->conn;
    if (!conn || PQstatus (conn) != CONNECTION_OK) {
        s_fail (self, NULL, "pipeline", err);
        return -1;
    }
    sent = calloc (2 * n, sizeof *sent);
    if (!sent)
        abort ();
    if (PQenterPipelineMode (conn) != 1) {
        s_fail (self, NULL, "pipeline", err);
        goto out;
    }
    piped = true;
    for (size_t i = 0; i < n && !send_failed; i++) {
        const ln_db_stmt_t *st = &stmts[i];
        if (st->name && !s_is_prepared (self, st->name) && self->nprepared < PREPARED_MAX) {
            if (PQsendPrepare (conn, st->name, st->sql, st->nparams, NULL) != 1) {
                send_failed = true;
                break;
            }
            self->prepared[self->nprepared++] = st->name;
            sent[nsent++] = -1 - (long)i;
        }
        int ok;
        if (st->name && s_is_prepared (self, st->name))
            ok = PQsendQueryPrepared (conn, st->name, st->nparams, st->values, st->lengths,
                                      st->formats, st->result_format);
        else
            ok = PQsendQueryParams (conn, st->sql, st->nparams, NULL, st->values, st->lengths,
                                    st->formats, st->result_format);
        if (ok != 1)
            send_failed = true;
        else
            sent[nsent++] = (long)i;
    }
    if (send_failed) {
        s_fail (self, NULL, "pipeline", err); /* libpq's message */
        failed = true;
    }
    if (PQpipelineSync (conn) != 1) {
        if (!failed)
            s_fail (self, NULL, "pipeline", err);
        failed = true;
        goto out;
    }
    /* Read everything, also after a failure, so that the connection leaves
       pipeline mode clean. */
    for (size_t k = 0; k < nsent; k++) {
        bool prepare = sent[k] < 0;
        size_t i = prepare ? (size_t)(-1 - sent[k]) : (size_t)sent[k];
        const char *what = stmts[i].name ? stmts[i].name : "pipeline";
        PGresult *res = PQgetResult (conn);
        ExecStatusType st = PQresultStatus (res);
        if (!res || PQstatus (conn) == CONNECTION_BAD) {
            if (!failed)
                s_fail (self, res, what, err);
            failed = true;
            PQclear (res);
            goto out; /* nothing more will come */
        }
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
            if (st != PGRES_PIPELINE_ABORTED && !failed)
                s_fail (self, res, what, err);
            failed = true;
            if (prepare)
                s_unprepare (self, stmts[i].name);
            PQclear (res);
        }
        else if (!prepare && results)
            results[i] = res;
        else
            PQclear (res);
        PQclear (PQgetResult (conn)); /* the NULL that ends this one */
    }
    PGresult *sync = PQgetResult (conn);
    if (PQresultStatus (sync) != PGRES_PIPELINE_SYNC && !failed) {
        s_fail (self, sync, "pipeline", err);
        failed = true;
    }
    PQclear (sync);
    if (!failed) {
        s_ok (self);
        rc = 0;
    }
out:
    if (piped && s_leave_pipeline (self) != 0) {
        if (rc == 0)
            s_fail (self, NULL, "pipeline", err); /* no connection: lost */
        else {
            /* keep the first error's text, but say what it means now */
            self->last_lost = true;
            self->last_error.code = "DB_CONNECTION_LOST";
            if (err)
                *err = self->last_error;
        }
        rc = -1;
    }
    if (rc != 0)
        for (size_t i = 0; results && i < n; i++) {
            PQclear (results[i]);
            results[i] = NULL;
        }
    free (sent);
    return rc;
}

/* --- binary array parameters ---------------------------------------------------- */

static void
s_array_put (ln_db_array_t *a, const void *bytes, size_t size)
{
    a->data = ln_xgrow (a->data, &a->cap, a->size + size, 1);
    if (size)
        memcpy (a->data + a->size, bytes, size);
    a->size += size;
}

static void
s_array_put_u32 (ln_db_array_t *a, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 8), (unsigned char)v};
    s_array_put (a, b, 4);
}

static void
s_array_set_u32 (ln_db_array_t *a, size_t at, uint32_t v)
{
    unsigned char *p = (unsigned char *)a->data + at;
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

void
ln_db_array_init (ln_db_array_t *a, uint32_t elem_oid)
{
    memset (a, 0, sizeof *a);
    s_array_put_u32 (a, 1);        /* ndim */
    s_array_put_u32 (a, 0);        /* has nulls: set when finished */
    s_array_put_u32 (a, elem_oid); /* element type */
    s_array_put_u32 (a, 0);        /* size: set when finished */
    s_array_put_u32 (a, 1);        /* lower bound */
}

void
ln_db_array_add (ln_db_array_t *a, const void *bytes, size_t size)
{
    if (size > INT32_MAX || a->count == INT32_MAX)
        abort (); /* a programming error: PostgreSQL takes at most 1 GB per value */
    s_array_put_u32 (a, (uint32_t)size);
    s_array_put (a, bytes, size);
    a->count++;
}

void
ln_db_array_add_text (ln_db_array_t *a, const char *text)
{
    if (!text)
        ln_db_array_add_null (a);
    else
        ln_db_array_add (a, text, strlen (text));
}

void
ln_db_array_add_int8 (ln_db_array_t *a, int64_t value)
{
    uint64_t v = (uint64_t)value;
    s_array_put_u32 (a, 8);
    s_array_put_u32 (a, (uint32_t)(v >> 32));
    s_array_put_u32 (a, (uint32_t)v);
    a->count++;
}

void
ln_db_array_add_int2 (ln_db_array_t *a, int16_t value)
{
    uint16_t v = (uint16_t)value;
    unsigned char b[2] = {(unsigned char)(v >> 8), (unsigned char)v};
    s_array_put_u32 (a, 2);
    s_array_put (a, b, 2);
    a->count++;
}

void
ln_db_array_add_null (ln_db_array_t *a)
{
    s_array_put_u32 (a, 0xFFFFFFFFu); /* length -1 */
    a->has_null = true;
    a->count++;
}

const char *
ln_db_array_data (ln_db_array_t *a)
{
    if (!a->data)
        return NULL;
    s_array_set_u32 (a, 4, a->has_null ? 1 : 0);
    s_array_set_u32 (a, 12, (uint32_t)a->count);
    return a->data;
}

int
ln_db_array_size (const ln_db_array_t *a)
{
    return a->size > INT32_MAX ? -1 : (int)a->size;
}

void
ln_db_array_clear (ln_db_array_t *a)
{
    free (a->data);
    memset (a, 0, sizeof *a);
}

int
ln_db_begin (ln_db_t *self)
{
    return ln_db_run (self, "BEGIN", 0, NULL, NULL);
}

int
ln_db_commit (ln_db_t *self)
{
    if (!self)
        return -1;
    /* COMMIT of a failed transaction "succeeds" with tag ROLLBACK; that is a
       failure for the caller, who must not reply success. */
    bool failed = self->conn && PQtransactionStatus (self->conn) == PQTRANS_INERROR;
    PGresult *res = ln_db_exec (self, "COMMIT", 0, NULL, NULL);
    if (!res)
        return -1;
    if (failed || strcmp (PQcmdStatus (res), "COMMIT") != 0) {
        ln_error_set (&self->last_error, "DB_STATEMENT", NULL,
                      "commit: the transaction was rolled back (a statement in it failed)");
        self->last_lost = false;
        PQclear (res);
        return -1;
    }
    PQclear (res);
    return 0;
}

int
ln_db_rollback (ln_db_t *self)
{
    if (!self || !self->conn || PQstatus (self->conn) != CONNECTION_OK)
        return 0; /* a lost connection has no transaction left */
    PGTransactionStatusType ts = PQtransactionStatus (self->conn);
    if (ts != PQTRANS_INTRANS && ts != PQTRANS_INERROR)
        return 0;
    PGresult *res = PQexec (self->conn, "ROLLBACK");
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0) {
        char why[256];
        s_one_line (why, sizeof why, PQerrorMessage (self->conn));
        ln_log_debug ("db rollback failed", "error=%s", why);
    }
    PQclear (res);
    return rc;
}

bool
ln_db_last_lost (const ln_db_t *self)
{
    return self && self->last_lost;
}

const char *
ln_db_last_sqlstate (const ln_db_t *self)
{
    return self ? self->last_sqlstate : "";
}

const ln_error_t *
ln_db_last_error (const ln_db_t *self)
{
    return self ? &self->last_error : NULL;
}

/* --- migrations ------------------------------------------------------------------ */

typedef struct {
    int version;
    char name[MIGRATION_NAME_MAX + 1];
    char checksum[CHECKSUM_HEX_LEN + 1];
} s_applied_t;

static void
s_checksum (const char *sql, char hex[CHECKSUM_HEX_LEN + 1])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256 (digest, (const unsigned char *)sql, strlen (sql));
    sodium_bin2hex (hex, CHECKSUM_HEX_LEN + 1, digest, sizeof digest);
}

static int
s_validate_list (const ln_migration_t *list, size_t n, ln_error_t *err)
{
    if (n > 0 && !list) {
        ln_error_set (err, "DB_MIGRATION_INVALID", NULL, "migration list is NULL");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const ln_migration_t *m = &list[i];
        if (m->version <= 0 || (i > 0 && m->version <= list[i - 1].version)) {
            ln_error_set (err, "DB_MIGRATION_INVALID", "migrations",
                          "migration versions must be > 0 and strictly increasing "
                          "(entry %zu has version %d)",
                          i, m->version);
            return -1;
        }
        if (!m->name || !*m->name || strlen (m->name) > MIGRATION_NAME_MAX || !m->sql) {
            ln_error_set (err, "DB_MIGRATION_INVALID", "migrations",
                          "migration %d needs a name (1..%d bytes) and SQL", m->version,
                          MIGRATION_NAME_MAX);
            return -1;
        }
    }
    return 0;
}

static const ln_migration_t *
s_find (const ln_migration_t *list, size_t n, int version)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].version == version)
            return &list[i];
    return NULL;
}

/* Run `sql` with params and keep the result; on failure wrap the error as
   "<verb> schema S: <step>: ...", keeping the code. */
static PGresult *
s_mexec (ln_db_t *self, const char *verb, const char *step, const char *sql, int nparams,
         const char *const *params, ln_error_t *err)
{
    ln_error_t e;
    ln_error_clear (&e);
    PGresult *res = ln_db_exec (self, sql, nparams, params, &e);
    if (!res)
        ln_error_set (err, e.code, e.field, "%s schema %s: %s: %s", verb, self->schema, step,
                      e.message);
    return res;
}

/* A 64-bit advisory lock key derived from the schema name, so that
   migrators of different schemas do not wait for each other. */
static void
s_lock_key (const char *schema, char out[24])
{
    unsigned char digest[crypto_hash_sha256_BYTES];
    char label[LN_DB_SCHEMA_MAX + 32];
    snprintf (label, sizeof label, "lantern.migrate:%s", schema);
    crypto_hash_sha256 (digest, (const unsigned char *)label, strlen (label));
    int64_t key = 0;
    memcpy (&key, digest, sizeof key);
    snprintf (out, 24, "%lld", (long long)key);
}

/* The migrations recorded in `table`, in version order (*applied is the
   caller's to free). */
static int
s_read_applied (ln_db_t *self, const char *verb, const char *table, s_applied_t **applied,
                int *napplied, ln_error_t *err)
{
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT version, name, checksum FROM %s ORDER BY version", table);
    PGresult *res = s_mexec (self, verb, "read schema_migrations", sql, 0, NULL, err);
    if (!res)
        return -1;
    int rows = PQntuples (res);
    s_applied_t *a = calloc ((size_t)rows + 1, sizeof *a);
    if (!a)
        abort ();
    for (int i = 0; i < rows; i++) {
        char *end = NULL;
        long v = strtol (PQgetvalue (res, i, 0), &end, 10);
        a[i].version = (end && *end == '\0' && v > 0 && v <= INT_MAX) ? (int)v : 0;
        snprintf (a[i].name, sizeof a[i].name, "%s", PQgetvalue (res, i, 1));
        snprintf (a[i].checksum, sizeof a[i].checksum, "%s", PQgetvalue (res, i, 2));
    }
    PQclear (res);
    *applied = a;
    *napplied = rows;
    return 0;
}

/* What the database says must agree with the code before anything new is
   applied: refuses a database newer than the code, with a version the code
   does not list, with an edited migration, or with a gap before the newest
   applied one.  Sets *next to the first pending migration (NULL: none) and
   *pending to how many are. */
static int
s_compare (ln_db_t *self, const ln_migration_t *list, size_t n, char (*sums)[CHECKSUM_HEX_LEN + 1],
           const s_applied_t *applied, int napplied, const ln_migration_t **next, size_t *pending,
           ln_error_t *err)
{
    int code_max = n > 0 ? list[n - 1].version : 0;
    int db_max = 0;
    *next = NULL;
    *pending = 0;
    for (int i = 0; i < napplied; i++) {
        const s_applied_t *a = &applied[i];
        if (a->version > code_max) {
            ln_error_set (err, "DB_MIGRATION_NEWER", "schema_migrations",
                          "schema %s is at version %d (%s), newer than this program knows "
                          "(up to %d): run a newer program",
                          self->schema, a->version, a->name, code_max);
            return -1;
        }
        const ln_migration_t *m = s_find (list, n, a->version);
        if (!m) {
            ln_error_set (err, "DB_MIGRATION_UNKNOWN", "schema_migrations",
                          "schema %s has migration %d (%s) applied, which this program does "
                          "not list",
                          self->schema, a->version, a->name);
            return -1;
        }
        if (strcmp (a->checksum, sums[m - list]) != 0) {
            ln_error_set (err, "DB_MIGRATION_CHANGED", "schema_migrations",
                          "migration %d (%s) of schema %s was changed after it was applied "
                          "(recorded sha256 %.12s..., code %.12s...); write a new migration "
                          "instead of editing an applied one",
                          a->version, m->name, self->schema, a->checksum, sums[m - list]);
            return -1;
        }
        if (strcmp (a->name, m->name) != 0)
            ln_log_warn ("db migration renamed", "schema=%s version=%d recorded=%s code=%s",
                         self->schema, a->version, a->name, m->name);
        db_max = a->version;
    }
    for (size_t i = 0; i < n; i++) {
        bool is_applied = false;
        for (int j = 0; j < napplied && !is_applied; j++)
            is_applied = applied[j].version == list[i].version;
        if (is_applied)
            continue;
        if (!*next)
            *next = &list[i];
        (*pending)++;
    }
    if (*next && (*next)->version < db_max) {
        ln_error_set (err, "DB_MIGRATION_ORDER", "schema_migrations",
                      "migration %d (%s) is not applied but schema %s is already at "
                      "version %d; migrations must be applied in order",
                      (*next)->version, (*next)->name, self->schema, db_max);
        return -1;
    }
    return 0;
}

/* Checksums of the list's SQL (the caller frees). */
static char (*s_sums (const ln_migration_t *list, size_t n))[CHECKSUM_HEX_LEN + 1]
{
    char (*sums)[CHECKSUM_HEX_LEN + 1] = calloc (n + 1, sizeof *sums);
    if (!sums)
        abort ();
    for (size_t i = 0; i < n; i++)
        s_checksum (list[i].sql, sums[i]);
    return sums;
}

/* One round under the lock: check the recorded state against the code and
   apply the first pending migration.  Sets *done when nothing is pending.
   Runs inside a transaction opened by the caller. */
static int
s_migrate_step (ln_db_t *self, const ln_migration_t *list, size_t n,
                char (*sums)[CHECKSUM_HEX_LEN + 1], const char *qschema, bool *done,
                ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    s_applied_t *applied = NULL;
    int napplied = 0;
    char sql[768];
    char key[24];
    char table[LN_DB_SCHEMA_MAX + 40];
    const char *p1[1] = {self->schema};
    const char *verb = "migrating";

    s_lock_key (self->schema, key);
    const char *pk[1] = {key};
    res = s_mexec (self, verb, "advisory lock",
                   "SELECT pg_catalog.pg_advisory_xact_lock($1::bigint)", 1, pk, err);
    if (!res)
        goto out;
    PQclear (res);

    /* The schema: normally created by an admin for the owner role. */
    res = s_mexec (self, verb, "schema lookup",
                   "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1), "
                   "pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE')",
                   1, p1, err);
    if (!res)
        goto out;
    bool exists = strcmp (PQgetvalue (res, 0, 0), "t") == 0;
    bool may_create_schema = strcmp (PQgetvalue (res, 0, 1), "t") == 0;
    PQclear (res);
    res = NULL;
    if (!exists) {
        if (!may_create_schema) {
            ln_error_set (err, "DB_SCHEMA_MISSING", "schema",
                          "schema %s does not exist and role %s may not create it; an admin "
                          "must run: CREATE SCHEMA %s AUTHORIZATION %s",
                          self->schema, PQuser (self->conn), self->schema, PQuser (self->conn));
            goto out;
        }
        snprintf (sql, sizeof sql, "CREATE SCHEMA %s", qschema);
        res = s_mexec (self, verb, "create schema", sql, 0, NULL, err);
        if (!res)
            goto out;
        PQclear (res);
        ln_log_info ("db schema created", "schema=%s", self->schema);
    }

    snprintf (table, sizeof table, "%s.schema_migrations", qschema);
    /* (Not to_regclass: it fails outright without USAGE on the schema.) */
    res = s_mexec (self, verb, "privileges",
                   "SELECT pg_catalog.has_schema_privilege($1, 'USAGE'), "
                   "pg_catalog.has_schema_privilege($1, 'CREATE'), "
                   "EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                   "ON n.oid = c.relnamespace WHERE n.nspname = $1 "
                   "AND c.relname = 'schema_migrations'), "
                   "EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                   "ON n.oid = c.relnamespace WHERE n.nspname = $1 "
                   "AND c.relname = '" PRIVILEGES_TABLE "')",
                   1, p1, err);
    if (!res)
        goto out;
    bool usage = strcmp (PQgetvalue (res, 0, 0), "t") == 0;
    bool create = strcmp (PQgetvalue (res, 0, 1), "t") == 0;
    bool have_table = strcmp (PQgetvalue (res, 0, 2), "t") == 0;
    bool have_policy = strcmp (PQgetvalue (res, 0, 3), "t") == 0;
    PQclear (res);
    res = NULL;
    if (!usage || (!have_table && !create)) {
        ln_error_set (err, "DB_PERMISSION", "schema",
                      "role %s may not %s schema %s; it should own it (CREATE SCHEMA %s "
                      "AUTHORIZATION %s)",
                      PQuser (self->conn), usage ? "create objects in" : "use", self->schema,
                      self->schema, PQuser (self->conn));
        goto out;
    }
    if (!have_table) {
        snprintf (sql, sizeof sql,
                  "CREATE TABLE %s ("
                  " version integer PRIMARY KEY CHECK (version > 0),"
                  " name text NOT NULL,"
                  " checksum text NOT NULL,"
                  " applied_at timestamptz NOT NULL DEFAULT pg_catalog.now())",
                  table);
        res = s_mexec (self, verb, "create schema_migrations", sql, 0, NULL, err);
        if (!res)
            goto out;
        PQclear (res);
    }
    /* The runtime role's privilege policy, which migrations fill in (an
       older schema gets it on its first migration with this code). */
    if (!have_policy && create) {
        snprintf (sql, sizeof sql,
                  "CREATE TABLE %s." PRIVILEGES_TABLE " ("
                  " relation text PRIMARY KEY,"
                  " privileges text NOT NULL CHECK (privileges IN ('SELECT', 'SELECT, INSERT',"
                  " 'SELECT, INSERT, UPDATE', 'SELECT, INSERT, UPDATE, DELETE')))",
                  qschema);
        res = s_mexec (self, verb, "create " PRIVILEGES_TABLE, sql, 0, NULL, err);
        if (!res)
            goto out;
        PQclear (res);
        snprintf (sql, sizeof sql,
                  "COMMENT ON TABLE %s." PRIVILEGES_TABLE " IS 'what the runtime role may do with "
                  "a table of this schema (common/ln_db.h); a table not listed: SELECT, INSERT, "
                  "UPDATE, DELETE'",
                  qschema);
        res = s_mexec (self, verb, "comment " PRIVILEGES_TABLE, sql, 0, NULL, err);
        if (!res)
            goto out;
        PQclear (res);
    }
    res = NULL;

    if (s_read_applied (self, verb, table, &applied, &napplied, err) != 0)
        goto out;
    const ln_migration_t *next = NULL;
    size_t pending = 0;
    if (s_compare (self, list, n, sums, applied, napplied, &next, &pending, err) != 0)
        goto out;
    if (!next) {
        *done = true;
        rc = 0;
        goto out;
    }
    if (!create) {
        ln_error_set (err, "DB_PERMISSION", "schema", "role %s may not create objects in schema %s",
                      PQuser (self->conn), self->schema);
        goto out;
    }

    /* Trusted SQL shipped with the program: may hold several statements. */
    int64_t t0 = ln_clock_mono_ms ();
    res = PQexec (self->conn, next->sql);
    ExecStatusType st = PQresultStatus (res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        ln_error_t e;
        ln_error_clear (&e);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
            s_drain (self->conn, res);
            ln_error_set (err, "DB_MIGRATION_INVALID", "migrations",
                          "migration %d (%s) of schema %s uses COPY, which migrations may not",
                          next->version, next->name, self->schema);
            goto out;
        }
        s_fail (self, res, "sql", &e);
        ln_error_set (err, self->last_lost ? "DB_CONNECTION_LOST" : "DB_MIGRATION_FAILED",
                      "migrations", "migration %d (%s) of schema %s failed and was rolled back: %s",
                      next->version, next->name, self->schema, e.message);
        goto out;
    }
    PQclear (res);
    res = NULL;
    if (PQtransactionStatus (self->conn) != PQTRANS_INTRANS) {
        ln_error_set (err, "DB_MIGRATION_INVALID", "migrations",
                      "migration %d (%s) of schema %s ended the transaction itself "
                      "(COMMIT/ROLLBACK in migration SQL); it may be half applied",
                      next->version, next->name, self->schema);
        goto out;
    }

    char version[16];
    snprintf (version, sizeof version, "%d", next->version);
    const char *p3[3] = {version, next->name, sums[next - list]};
    snprintf (sql, sizeof sql, "INSERT INTO %s (version, name, checksum) VALUES ($1, $2, $3)",
              table);
    res = s_mexec (self, verb, "record migration", sql, 3, p3, err);
    if (!res)
        goto out;
    ln_log_info ("db migration applied", "schema=%s version=%d name=%s ms=%lld", self->schema,
                 next->version, next->name, (long long)(ln_clock_mono_ms () - t0));
    rc = 0;
out:
    PQclear (res);
    free (applied);
    return rc;
}

int
ln_db_migrate (ln_db_t *self, const ln_migration_t *list, size_t n, ln_error_t *err)
{
    int rc = -1;
    char (*sums)[CHECKSUM_HEX_LEN + 1] = NULL;
    char *qschema = NULL;
    char why[256];

    if (!self || !self->has_schema) {
        ln_error_set (err, "DB_INVALID", "schema", "ln_db_migrate needs a handle with a schema");
        goto out;
    }
    if (s_validate_list (list, n, err) != 0)
        goto out;
    if (!self->conn || PQstatus (self->conn) != CONNECTION_OK) {
        s_fail (self, NULL, "migrate", err);
        goto out;
    }
    if (PQtransactionStatus (self->conn) != PQTRANS_IDLE) {
        ln_error_set (err, "DB_INVALID", NULL, "ln_db_migrate must not run inside a transaction");
        goto out;
    }
    sums = s_sums (list, n);
    qschema = PQescapeIdentifier (self->conn, self->schema, strlen (self->schema));
    if (!qschema) {
        ln_error_set (err, "DB_INVALID", "schema", "cannot quote schema name");
        goto out;
    }

    /* One transaction per migration (with its record); the advisory lock is
       taken again in each, and the state re-read, so that concurrent
       migrators interleave safely and each migration runs exactly once. */
    for (;;) {
        bool done = false;
        if (ln_db_begin (self) != 0) {
            ln_error_set (err, self->last_error.code, NULL, "migrating schema %s: %s", self->schema,
                          self->last_error.message);
            goto out;
        }
        if (s_migrate_step (self, list, n, sums, qschema, &done, err) != 0)
            goto out;
        if (ln_db_commit (self) != 0) {
            ln_error_set (err, self->last_error.code, NULL, "migrating schema %s: %s", self->schema,
                          self->last_error.message);
            goto out;
        }
        if (done)
            break;
    }
    /* A migration may have changed search_path with a plain SET. */
    if (s_set_search_path (self, self->conn, ln_clock_mono_ms () + s_connect_timeout_ms (self), why,
                           sizeof why) != 0) {
        ln_error_set (err, "DB_STATEMENT", NULL, "migrating schema %s: resetting search_path: %s",
                      self->schema, why);
        goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        ln_db_rollback (self);
    PQfreemem (qschema);
    free (sums);
    return rc;
}

/* --- owner and runtime roles ------------------------------------------------------- */

/* Run a utility statement built by the server from identifiers
   (format() with %I): GRANT and REVOKE take no parameters. */
static int
s_run_formatted (ln_db_t *self, const char *fmt, const char *a, const char *b, ln_error_t *err)
{
    const char *p[3] = {fmt, a, b};
    PGresult *res = s_mexec (self, "granting", "build statement",
                             "SELECT pg_catalog.format($1::text, $2::text, $3::text)", 3, p, err);
    if (!res)
        return -1;
    ln_error_t e;
    ln_error_clear (&e);
    int rc = ln_db_run (self, PQgetvalue (res, 0, 0), 0, NULL, &e);
    if (rc != 0)
        ln_error_set (err, e.code, NULL, "granting schema %s: %s", self->schema, e.message);
    PQclear (res);
    return rc;
}

/* Give `role` exactly the rights the schema's policy says, in one
   transaction under the migration lock: first everything it had is taken
   away (so a right granted by hand, or one a newer policy dropped, does
   not linger), then USAGE on the schema; per table the policy's privileges
   (schema_runtime_privileges; a table not listed: SELECT, INSERT, UPDATE,
   DELETE; schema_migrations and the policy itself: SELECT); USAGE and
   SELECT on the sequences; EXECUTE on the functions (the owner's SECURITY
   DEFINER functions are how it appends to what it may not write).  Never
   TRUNCATE, REFERENCES, TRIGGER, CREATE or ownership.  Refuses a role that
   could act as an owner anyway (a superuser, or a member of the schema's
   or a table's owner). */
static int
s_grant_runtime (ln_db_t *self, const char *role, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    char key[24];
    char sql[1024];
    char *qschema = NULL;
    int tables = 0;

    if (ln_db_begin (self) != 0) {
        if (err)
            *err = self->last_error;
        goto out;
    }
    s_lock_key (self->schema, key);
    const char *pk[1] = {key};
    res = s_mexec (self, "granting", "advisory lock",
                   "SELECT pg_catalog.pg_advisory_xact_lock($1::bigint)", 1, pk, err);
    if (!res)
        goto out;
    PQclear (res);

    const char *p2[2] = {self->schema, role};
    res = s_mexec (self, "granting", "role lookup",
                   "SELECT r.rolsuper OR r.rolbypassrls,"
                   " pg_catalog.pg_has_role(r.oid, n.nspowner, 'MEMBER') OR EXISTS (SELECT 1"
                   "   FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid"
                   "   AND pg_catalog.pg_has_role(r.oid, c.relowner, 'MEMBER'))"
                   " FROM pg_catalog.pg_roles r, pg_catalog.pg_namespace n"
                   " WHERE n.nspname = $1 AND r.rolname = $2",
                   2, p2, err);
    if (!res)
        goto out;
    if (PQntuples (res) != 1) {
        ln_error_set (err, "DB_INVALID", "runtime_role",
                      "granting schema %s: role %s does not exist; an admin must create it "
                      "(CREATE ROLE %s LOGIN PASSWORD '...'; GRANT CONNECT ON DATABASE ... TO %s)",
                      self->schema, role, role, role);
        goto out;
    }
    if (strcmp (PQgetvalue (res, 0, 0), "t") == 0 || strcmp (PQgetvalue (res, 0, 1), "t") == 0) {
        ln_error_set (err, "DB_PERMISSION", "runtime_role",
                      "granting schema %s: role %s %s: it could rewrite the audit trail; the "
                      "node must serve as a plain role of its own",
                      self->schema, role,
                      strcmp (PQgetvalue (res, 0, 0), "t") == 0
                          ? "is a superuser or bypasses row security"
                          : "is a member of the role that owns the schema or its tables");
        goto out;
    }
    PQclear (res);
    res = NULL;

    static const char *const before[] = {
        "REVOKE ALL ON SCHEMA %I FROM %I",
        "REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I",
        "REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I",
        "REVOKE ALL ON ALL ROUTINES IN SCHEMA %I FROM %I",
        "GRANT USAGE ON SCHEMA %I TO %I",
    };
    for (size_t i = 0; i < sizeof before / sizeof before[0]; i++)
        if (s_run_formatted (self, before[i], self->schema, role, err) != 0)
            goto out;

    qschema = PQescapeIdentifier (self->conn, self->schema, strlen (self->schema));
    if (!qschema) {
        ln_error_set (err, "DB_INVALID", "schema", "cannot quote schema name");
        goto out;
    }
    snprintf (sql, sizeof sql,
              "SELECT pg_catalog.format('GRANT %%s ON TABLE %%I.%%I TO %%I',"
              " CASE WHEN c.relname IN ('schema_migrations', '" PRIVILEGES_TABLE "')"
              " THEN 'SELECT' ELSE coalesce(p.privileges, 'SELECT, INSERT, UPDATE, DELETE') END,"
              " n.nspname, c.relname, $2::text)"
              " FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
              " LEFT JOIN %s." PRIVILEGES_TABLE " p ON p.relation = c.relname::text"
              " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
              " ORDER BY c.relname",
              qschema);
    res = s_mexec (self, "granting", "tables", sql, 2, p2, err);
    if (!res)
        goto out;
    tables = PQntuples (res);
    for (int i = 0; i < tables; i++)
        if (ln_db_run (self, PQgetvalue (res, i, 0), 0, NULL, err) != 0)
            goto out;
    PQclear (res);
    res = NULL;
    static const char *const after[] = {
        "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I",
        "GRANT EXECUTE ON ALL ROUTINES IN SCHEMA %I TO %I",
    };
    for (size_t i = 0; i < sizeof after / sizeof after[0]; i++)
        if (s_run_formatted (self, after[i], self->schema, role, err) != 0)
            goto out;
    if (ln_db_commit (self) != 0) {
        if (err)
            *err = self->last_error;
        goto out;
    }
    ln_log_info ("db runtime role granted", "schema=%s role=%s tables=%d", self->schema, role,
                 tables);
    rc = 0;
out:
    if (rc != 0)
        ln_db_rollback (self);
    PQclear (res);
    PQfreemem (qschema);
    return rc;
}

int
ln_db_migrate_as_owner (ln_db_t *owner, const ln_migration_t *list, size_t n,
                        const char *runtime_role, ln_error_t *err)
{
    if (!owner || !owner->has_schema || !owner->conn) {
        ln_error_set (err, "DB_INVALID", "schema",
                      "ln_db_migrate_as_owner needs a connected handle with a schema");
        return -1;
    }
    if (runtime_role && (!*runtime_role || strlen (runtime_role) > LN_DB_SCHEMA_MAX)) {
        ln_error_set (err, "DB_INVALID", "runtime_role", "runtime role: 1..63 bytes");
        return -1;
    }
    PGresult *res = s_mexec (
        owner, "migrating", "role check",
        "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user", 0, NULL, err);
    if (!res)
        return -1;
    bool super = PQntuples (res) == 1 && strcmp (PQgetvalue (res, 0, 0), "t") == 0;
    PQclear (res);
    if (super) {
        /* What a superuser creates belongs to it: the owner's functions would
           run with a superuser's rights. */
        ln_error_set (err, "DB_PERMISSION", "owner",
                      "migrating schema %s: connected as a superuser; migrate as the role that "
                      "owns the schema (CREATE SCHEMA %s AUTHORIZATION <owner>)",
                      owner->schema, owner->schema);
        return -1;
    }
    if (ln_db_migrate (owner, list, n, err) != 0)
        return -1;
    const char *self_role = PQuser (owner->conn);
    if (!runtime_role || (self_role && strcmp (runtime_role, self_role) == 0)) {
        ln_log_warn ("db single role", "schema=%s role=%s hint=%s", owner->schema,
                     self_role ? self_role : "?",
                     "the node serves as the schema's owner and could rewrite its audit trail; "
                     "give it a runtime role of its own (docs/operations.md)");
        return 0;
    }
    return s_grant_runtime (owner, runtime_role, err);
}

int
ln_db_migrations_current (ln_db_t *self, const ln_migration_t *list, size_t n, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    char (*sums)[CHECKSUM_HEX_LEN + 1] = NULL;
    char *qschema = NULL;
    s_applied_t *applied = NULL;
    int napplied = 0;
    char table[LN_DB_SCHEMA_MAX + 40];
    const char *verb = "checking";

    if (!self || !self->has_schema) {
        ln_error_set (err, "DB_INVALID", "schema", "ln_db_migrations_current needs a schema");
        goto out;
    }
    if (s_validate_list (list, n, err) != 0)
        goto out;
    if (!self->conn || PQstatus (self->conn) != CONNECTION_OK) {
        s_fail (self, NULL, "checking migrations", err);
        goto out;
    }
    const char *p1[1] = {self->schema};
    res = s_mexec (self, verb, "privileges",
                   "SELECT n.oid IS NOT NULL,"
                   " n.oid IS NOT NULL AND pg_catalog.has_schema_privilege(n.oid, 'USAGE'),"
                   " c.oid IS NOT NULL,"
                   " c.oid IS NOT NULL AND pg_catalog.has_table_privilege(c.oid, 'SELECT')"
                   " FROM (SELECT 1) one"
                   " LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $1"
                   " LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid"
                   "   AND c.relname = 'schema_migrations'",
                   1, p1, err);
    if (!res)
        goto out;
    bool exists = strcmp (PQgetvalue (res, 0, 0), "t") == 0;
    bool usage = strcmp (PQgetvalue (res, 0, 1), "t") == 0;
    bool have_table = strcmp (PQgetvalue (res, 0, 2), "t") == 0;
    bool may_read = strcmp (PQgetvalue (res, 0, 3), "t") == 0;
    PQclear (res);
    res = NULL;
    if (!exists) {
        ln_error_set (err, "DB_SCHEMA_MISSING", "schema",
                      "schema %s does not exist: an admin creates it for the owner role "
                      "(CREATE SCHEMA %s AUTHORIZATION <owner>), then the owner migrates it "
                      "(the node's --migrate)",
                      self->schema, self->schema);
        goto out;
    }
    if (!usage || (have_table && !may_read)) {
        ln_error_set (err, "DB_PERMISSION", "schema",
                      "role %s may not %s schema %s: the owner grants it when it migrates "
                      "(the node's --migrate with database.owner_conninfo)",
                      PQuser (self->conn), usage ? "read schema_migrations of" : "use",
                      self->schema);
        goto out;
    }
    sums = s_sums (list, n);
    if (have_table) {
        qschema = PQescapeIdentifier (self->conn, self->schema, strlen (self->schema));
        if (!qschema) {
            ln_error_set (err, "DB_INVALID", "schema", "cannot quote schema name");
            goto out;
        }
        snprintf (table, sizeof table, "%s.schema_migrations", qschema);
        if (s_read_applied (self, verb, table, &applied, &napplied, err) != 0)
            goto out;
    }
    const ln_migration_t *next = NULL;
    size_t pending = 0;
    if (s_compare (self, list, n, sums, applied, napplied, &next, &pending, err) != 0)
        goto out;
    if (next) {
        ln_error_set (err, "DB_MIGRATION_PENDING", "schema_migrations",
                      "schema %s is not up to date: migration %d (%s)%s is not applied, and "
                      "role %s may not apply it; the owner must: run the node with --migrate "
                      "(database.owner_conninfo, docs/operations.md)",
                      self->schema, next->version, next->name, pending > 1 ? " and later ones" : "",
                      PQuser (self->conn));
        goto out;
    }
    rc = 0;
out:
    PQclear (res);
    PQfreemem (qschema);
    free (sums);
    free (applied);
    return rc;
}

int
ln_db_schema_ready (ln_db_t *self, const ln_migration_t *list, size_t n, ln_error_t *err)
{
    if (!self || !self->has_schema || !self->conn) {
        ln_error_set (err, "DB_INVALID", "schema", "ln_db_schema_ready needs a schema");
        return -1;
    }
    const char *p1[1] = {self->schema};
    PGresult *res =
        s_mexec (self, "checking", "ownership",
                 "SELECT n.oid IS NOT NULL,"
                 " n.oid IS NOT NULL AND pg_catalog.pg_has_role(n.nspowner, 'USAGE'),"
                 " EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.relnamespace = n.oid"
                 "   AND pg_catalog.pg_has_role(c.relowner, 'USAGE')),"
                 " pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE')"
                 " FROM (SELECT 1) one LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $1",
                 1, p1, err);
    if (!res)
        return -1;
    bool exists = strcmp (PQgetvalue (res, 0, 0), "t") == 0;
    bool owns_schema = strcmp (PQgetvalue (res, 0, 1), "t") == 0;
    bool owns_table = strcmp (PQgetvalue (res, 0, 2), "t") == 0;
    bool may_create = strcmp (PQgetvalue (res, 0, 3), "t") == 0;
    PQclear (res);
    if (owns_schema || owns_table || (!exists && may_create))
        ln_log_warn ("db runtime role can change its schema", "schema=%s role=%s hint=%s",
                     self->schema, PQuser (self->conn),
                     "it owns the schema or its tables (or is a superuser), so it could rewrite "
                     "its own audit trail; serve as a runtime role and migrate as the owner "
                     "(docs/operations.md)");
    /* A single role that owns its schema (the set-up before owner and
       runtime roles were separated): it migrates, as it always did. */
    if (owns_schema || (!exists && may_create))
        return ln_db_migrate (self, list, n, err);
    return ln_db_migrations_current (self, list, n, err);
}

char *
ln_db_bytea_param (const uint8_t *data, size_t size)
{
    char *hex = malloc (size * 2 + 3);
    if (!hex)
        abort ();
    hex[0] = '\\';
    hex[1] = 'x';
    sodium_bin2hex (hex + 2, size * 2 + 1, data ? data : (const uint8_t *)"", size);
    return hex;
}

uint8_t *
ln_db_bytea_value (const PGresult *res, int row, int col, size_t *size)
{
    *size = 0;
    if (PQgetisnull (res, row, col))
        return NULL;
    size_t len = 0;
    unsigned char *bytes =
        PQunescapeBytea ((const unsigned char *)PQgetvalue (res, row, col), &len);
    if (!bytes)
        return NULL;
    uint8_t *out = malloc (len ? len : 1);
    if (!out)
        abort ();
    memcpy (out, bytes, len);
    PQfreemem (bytes);
    *size = len;
    return out;
}

int
ln_db_int_value (const PGresult *res, int row, int col, int size, int64_t *value)
{
    if ((size != 2 && size != 4 && size != 8) || PQgetisnull (res, row, col) ||
        PQgetlength (res, row, col) != size)
        return -1;
    const unsigned char *p = (const unsigned char *)PQgetvalue (res, row, col);
    uint64_t v = 0;
    for (int i = 0; i < size; i++)
        v = (v << 8) | p[i];
    if (size == 2)
        *value = (int16_t)(uint16_t)v;
    else if (size == 4)
        *value = (int32_t)(uint32_t)v;
    else
        *value = (int64_t)v;
    return 0;
}
