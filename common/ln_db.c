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
#include <sodium.h>
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

struct ln_db_t {
    PGconn *conn;
    char *conninfo; /* may hold a password: wiped on destroy, never logged */
    char schema[LN_DB_SCHEMA_MAX + 1];
    bool has_schema;
    char appname[LN_DB_SCHEMA_MAX + 16];
    ln_db_retry_t retry;
    bool last_lost;
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

static int
s_set_search_path (ln_db_t *self, PGconn *conn, char *why, size_t whylen)
{
    if (!self->has_schema)
        return 0;
    /* The value is a list of identifiers; quoting keeps reserved words
       (a schema called "user") meaning the schema. */
    char quoted[LN_DB_SCHEMA_MAX + 3];
    snprintf (quoted, sizeof quoted, "\"%s\"", self->schema);
    const char *params[1] = {quoted};
    PGresult *res = PQexecParams (conn, "SELECT pg_catalog.set_config('search_path', $1, false)", 1,
                                  NULL, params, NULL, NULL, 0);
    int rc = PQresultStatus (res) == PGRES_TUPLES_OK ? 0 : -1;
    if (rc != 0)
        s_one_line (why, whylen, PQerrorMessage (conn));
    PQclear (res);
    return rc;
}

/* One attempt.  Returns the connection, or NULL with a one-line reason. */
static PGconn *
s_connect_once (ln_db_t *self, char *why, size_t whylen)
{
    /* Keywords are applied in order and the conninfo (expanded from
       "dbname") comes last, so the caller's settings win over ours. */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *vals[] = {CONNECT_TIMEOUT_S, self->appname, self->conninfo, NULL};
    PGconn *conn = PQconnectdbParams (keys, vals, 1);
    if (!conn) {
        snprintf (why, whylen, "out of memory");
        return NULL;
    }
    if (PQstatus (conn) != CONNECTION_OK) {
        s_one_line (why, whylen, PQerrorMessage (conn));
        PQfinish (conn);
        return NULL;
    }
    PQsetNoticeProcessor (conn, s_notice, NULL);
    if (s_set_search_path (self, conn, why, whylen) != 0) {
        PQfinish (conn);
        return NULL;
    }
    return conn;
}

/* Connect with backoff until it works or the budget is spent. */
static int
s_connect_retry (ln_db_t *self, ln_error_t *err)
{
    const int64_t start = ln_clock_mono_ms ();
    int64_t delay = self->retry.initial_delay_ms;
    char why[LN_ERROR_MESSAGE_MAX / 2] = "";

    for (int attempt = 1;; attempt++) {
        PGconn *conn = s_connect_once (self, why, sizeof why);
        if (conn) {
            self->conn = conn;
            if (attempt > 1)
                ln_log_info ("db connected", "schema=%s attempts=%d ms=%lld",
                             self->has_schema ? self->schema : "-", attempt,
                             (long long)(ln_clock_mono_ms () - start));
            return 0;
        }
        int64_t elapsed = ln_clock_mono_ms () - start;
        int64_t remaining = self->retry.max_wait_ms - elapsed;
        if (remaining <= 0) {
            ln_log_warn ("db connect failed, giving up", "schema=%s attempt=%d ms=%lld error=%s",
                         self->has_schema ? self->schema : "-", attempt, (long long)elapsed, why);
            ln_error_set (err, "DB_CONNECT", NULL,
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
   "migrating schema S: <step>: ...", keeping the code. */
static PGresult *
s_mexec (ln_db_t *self, const char *step, const char *sql, int nparams, const char *const *params,
         ln_error_t *err)
{
    ln_error_t e;
    ln_error_clear (&e);
    PGresult *res = ln_db_exec (self, sql, nparams, params, &e);
    if (!res)
        ln_error_set (err, e.code, e.field, "migrating schema %s: %s: %s", self->schema, step,
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
    char sql[512];
    char key[24];
    char table[LN_DB_SCHEMA_MAX + 40];
    const char *p1[1] = {self->schema};

    s_lock_key (self->schema, key);
    const char *pk[1] = {key};
    res = s_mexec (self, "advisory lock", "SELECT pg_catalog.pg_advisory_xact_lock($1::bigint)", 1,
                   pk, err);
    if (!res)
        goto out;
    PQclear (res);

    /* The schema: normally created by an admin for the role. */
    res = s_mexec (self, "schema lookup",
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
        res = s_mexec (self, "create schema", sql, 0, NULL, err);
        if (!res)
            goto out;
        PQclear (res);
        ln_log_info ("db schema created", "schema=%s", self->schema);
    }

    snprintf (table, sizeof table, "%s.schema_migrations", qschema);
    /* (Not to_regclass: it fails outright without USAGE on the schema.) */
    res = s_mexec (self, "privileges",
                   "SELECT pg_catalog.has_schema_privilege($1, 'USAGE'), "
                   "pg_catalog.has_schema_privilege($1, 'CREATE'), "
                   "EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                   "ON n.oid = c.relnamespace WHERE n.nspname = $1 "
                   "AND c.relname = 'schema_migrations')",
                   1, p1, err);
    if (!res)
        goto out;
    bool usage = strcmp (PQgetvalue (res, 0, 0), "t") == 0;
    bool create = strcmp (PQgetvalue (res, 0, 1), "t") == 0;
    bool have_table = strcmp (PQgetvalue (res, 0, 2), "t") == 0;
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
        res = s_mexec (self, "create schema_migrations", sql, 0, NULL, err);
        if (!res)
            goto out;
        PQclear (res);
    }

    snprintf (sql, sizeof sql, "SELECT version, name, checksum FROM %s ORDER BY version", table);
    res = s_mexec (self, "read schema_migrations", sql, 0, NULL, err);
    if (!res)
        goto out;
    napplied = PQntuples (res);
    applied = calloc ((size_t)napplied + 1, sizeof *applied);
    if (!applied)
        abort ();
    for (int i = 0; i < napplied; i++) {
        char *end = NULL;
        long v = strtol (PQgetvalue (res, i, 0), &end, 10);
        applied[i].version = (end && *end == '\0' && v > 0 && v <= INT_MAX) ? (int)v : 0;
        snprintf (applied[i].name, sizeof applied[i].name, "%s", PQgetvalue (res, i, 1));
        snprintf (applied[i].checksum, sizeof applied[i].checksum, "%s", PQgetvalue (res, i, 2));
    }
    PQclear (res);
    res = NULL;

    /* What the database says must agree with the code, before anything new
       is applied. */
    int code_max = n > 0 ? list[n - 1].version : 0;
    int db_max = 0;
    for (int i = 0; i < napplied; i++) {
        const s_applied_t *a = &applied[i];
        if (a->version > code_max) {
            ln_error_set (err, "DB_MIGRATION_NEWER", "schema_migrations",
                          "schema %s is at version %d (%s), newer than this program knows "
                          "(up to %d): run a newer program",
                          self->schema, a->version, a->name, code_max);
            goto out;
        }
        const ln_migration_t *m = s_find (list, n, a->version);
        if (!m) {
            ln_error_set (err, "DB_MIGRATION_UNKNOWN", "schema_migrations",
                          "schema %s has migration %d (%s) applied, which this program does "
                          "not list",
                          self->schema, a->version, a->name);
            goto out;
        }
        if (strcmp (a->checksum, sums[m - list]) != 0) {
            ln_error_set (err, "DB_MIGRATION_CHANGED", "schema_migrations",
                          "migration %d (%s) of schema %s was changed after it was applied "
                          "(recorded sha256 %.12s..., code %.12s...); write a new migration "
                          "instead of editing an applied one",
                          a->version, m->name, self->schema, a->checksum, sums[m - list]);
            goto out;
        }
        if (strcmp (a->name, m->name) != 0)
            ln_log_warn ("db migration renamed", "schema=%s version=%d recorded=%s code=%s",
                         self->schema, a->version, a->name, m->name);
        db_max = a->version;
    }

    const ln_migration_t *next = NULL;
    for (size_t i = 0; i < n && !next; i++) {
        bool is_applied = false;
        for (int j = 0; j < napplied && !is_applied; j++)
            is_applied = applied[j].version == list[i].version;
        if (!is_applied)
            next = &list[i];
    }
    if (!next) {
        *done = true;
        rc = 0;
        goto out;
    }
    if (next->version < db_max) {
        ln_error_set (err, "DB_MIGRATION_ORDER", "schema_migrations",
                      "migration %d (%s) is not applied but schema %s is already at "
                      "version %d; migrations must be applied in order",
                      next->version, next->name, self->schema, db_max);
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
    res = s_mexec (self, "record migration", sql, 3, p3, err);
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
    sums = calloc (n + 1, sizeof *sums);
    if (!sums)
        abort ();
    for (size_t i = 0; i < n; i++)
        s_checksum (list[i].sql, sums[i]);
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
    if (s_set_search_path (self, self->conn, why, sizeof why) != 0) {
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
