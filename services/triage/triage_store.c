/*  triage_store: the triage node's tables (see triage_store.h).

    Arrays travel as text parameters in PostgreSQL's array syntax with every
    element double-quoted and its quotes and backslashes escaped (s_array):
    a parameter value, never SQL text, so it cannot inject anything; array
    results are read back with the matching parser (s_parse_array).
*/
#include "triage_store.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_dynbuf.h"

#define CS(x) LANTERN__V1__CASE_STATE__CASE_STATE_##x
#define TS(x) LANTERN__V1__TRACK_STATE__TRACK_STATE_##x

static const ln_migration_t s_migrations[] = {
    {100, "triage",
     "CREATE TABLE signals (\n"
     "    id text PRIMARY KEY,\n"
     "    node text NOT NULL,\n"
     "    organisation text NOT NULL,\n"
     "    organisation_type smallint NOT NULL,\n"
     "    version integer NOT NULL,\n"
     "    catalogue_version text NOT NULL,\n"
     "    municipality text NOT NULL,\n"
     "    forms_mask integer NOT NULL,\n"
     "    indicators text[] NOT NULL,\n"
     "    immediate_danger boolean NOT NULL,\n"
     "    minor_involved boolean NOT NULL,\n"
     "    received_us bigint NOT NULL,\n"
     "    updated_us bigint NOT NULL,\n"
     "    withdrawn_us bigint,\n"
     "    position bigint NOT NULL,\n"
     "    case_id text,\n"
     "    discussed_meeting text,\n"
     "    record bytea NOT NULL\n"
     ");\n"
     "CREATE INDEX signals_by_case ON signals (case_id) WHERE case_id IS NOT NULL;\n"
     "CREATE TABLE tokens (\n"
     "    kind smallint NOT NULL,\n"
     "    token text NOT NULL,\n"
     "    signal_id text NOT NULL REFERENCES signals (id) ON DELETE CASCADE,\n"
     "    PRIMARY KEY (kind, token, signal_id)\n"
     ");\n"
     "CREATE INDEX tokens_by_signal ON tokens (signal_id);\n"
     "CREATE TABLE cases (\n"
     "    id text PRIMARY KEY,\n"
     "    state smallint NOT NULL,\n"
     "    anchor_signal text NOT NULL,\n"
     "    opened_us bigint NOT NULL,\n"
     "    merged_into text,\n"
     "    closed_us bigint,\n"
     "    outcome smallint NOT NULL DEFAULT 0,\n"
     "    closed_by text NOT NULL DEFAULT '',\n"
     "    close_summary text NOT NULL DEFAULT ''\n"
     ");\n"
     "CREATE INDEX cases_open ON cases (opened_us, id) WHERE state IN (1, 2);\n"
     "CREATE INDEX cases_merged ON cases (merged_into) WHERE merged_into IS NOT NULL;\n"
     "CREATE TABLE links (\n"
     "    signal_id text PRIMARY KEY REFERENCES signals (id) ON DELETE CASCADE,\n"
     "    case_id text NOT NULL,\n"
     "    kind smallint NOT NULL,\n"
     "    other_signal_id text NOT NULL,\n"
     "    other_node text NOT NULL,\n"
     "    reason text NOT NULL\n"
     ");\n"
     "CREATE INDEX links_by_case ON links (case_id);\n"
     "CREATE TABLE case_history (\n"
     "    seq bigserial PRIMARY KEY,\n"
     "    case_id text NOT NULL,\n"
     "    at_us bigint NOT NULL,\n"
     "    action text NOT NULL,\n"
     "    signal_id text NOT NULL DEFAULT '',\n"
     "    other_case_id text NOT NULL DEFAULT '',\n"
     "    detail text NOT NULL DEFAULT ''\n"
     ");\n"
     "CREATE INDEX case_history_by_case ON case_history (case_id, seq);\n"
     "CREATE INDEX case_history_by_other ON case_history (other_case_id)"
     " WHERE other_case_id <> '';\n"
     "CREATE TABLE meetings (\n"
     "    id text PRIMARY KEY,\n"
     "    starts_us bigint NOT NULL\n"
     ");\n"
     "CREATE TABLE decisions (\n"
     "    id text PRIMARY KEY,\n"
     "    case_id text NOT NULL,\n"
     "    decided_case_id text NOT NULL,\n"
     "    meeting_id text NOT NULL REFERENCES meetings (id),\n"
     "    decided_us bigint NOT NULL,\n"
     "    decided_by text NOT NULL,\n"
     "    attendees text[] NOT NULL,\n"
     "    minutes text NOT NULL,\n"
     "    no_action_reason text NOT NULL,\n"
     "    no_youth_protection_reason text NOT NULL,\n"
     "    case_revision text NOT NULL\n"
     ");\n"
     "CREATE INDEX decisions_by_case ON decisions (case_id, decided_us);\n"
     "CREATE TABLE tracks (\n"
     "    id text PRIMARY KEY,\n"
     "    decision_id text NOT NULL REFERENCES decisions (id),\n"
     "    case_id text NOT NULL,\n"
     "    meeting_id text NOT NULL,\n"
     "    seq smallint NOT NULL,\n"
     "    kind smallint NOT NULL,\n"
     "    lead_organisation text NOT NULL,\n"
     "    deadline date,\n"
     "    note text NOT NULL,\n"
     "    state smallint NOT NULL,\n"
     "    outcome text NOT NULL DEFAULT '',\n"
     "    handback_reason text NOT NULL DEFAULT '',\n"
     "    opened_us bigint NOT NULL,\n"
     "    updated_us bigint NOT NULL,\n"
     "    updated_by text NOT NULL,\n"
     "    returned_meeting text\n"
     ");\n"
     "CREATE INDEX tracks_by_case ON tracks (case_id);\n"
     "CREATE INDEX tracks_active ON tracks (deadline) WHERE state IN (1, 2);\n"
     "CREATE TABLE alerts (\n"
     "    id text PRIMARY KEY,\n"
     "    kind smallint NOT NULL,\n"
     "    signal_id text NOT NULL REFERENCES signals (id),\n"
     "    raised_us bigint NOT NULL,\n"
     "    acknowledged_by text,\n"
     "    acknowledged_us bigint,\n"
     "    note text NOT NULL DEFAULT ''\n"
     ");\n"
     "CREATE INDEX alerts_open ON alerts (raised_us, id) WHERE acknowledged_by IS NULL;\n"
     "CREATE INDEX alerts_by_signal ON alerts (signal_id);\n"
     "CREATE TABLE catalogue_versions (\n"
     "    version text PRIMARY KEY,\n"
     "    digest text NOT NULL,\n"
     "    first_seen_us bigint NOT NULL\n"
     ");\n"},
    /* Every case a signal was in before its case now (signals.case_id), so
       that an erasure finds every event of triage's log that named it
       (triage_link_erased); a row is written when a signal moves or leaves.
       Like case_history, it records the order things arrived in: a replay
       in another interleaving may list an intermediate name more or less. */
    {101, "triage_signal_cases",
     "CREATE TABLE signal_cases (\n"
     "    signal_id text NOT NULL,\n"
     "    case_id text NOT NULL,\n"
     "    PRIMARY KEY (signal_id, case_id)\n"
     ");\n"},
    /* Tokens and links are deleted with their signal by triage_store
       (triage_store_signal_erase), not by a foreign key: the key's check
       is a trigger per token row, and tokens are most of the rows a replay
       writes (measured: 20 us against 8 us per token, docs/benchmarks.md). */
    {102, "triage_tokens_links_without_fk",
     "ALTER TABLE tokens DROP CONSTRAINT tokens_signal_id_fkey;\n"
     "ALTER TABLE links DROP CONSTRAINT links_signal_id_fkey;\n"},
};

const ln_migration_t *
triage_store_migrations (size_t *count)
{
    *count = sizeof s_migrations / sizeof s_migrations[0];
    return s_migrations;
}

/* --- helpers ------------------------------------------------------------------------ */

typedef struct {
    char v[12][24];
} s_nums_t;

static const char *
s_num (s_nums_t *t, int slot, int64_t v)
{
    snprintf (t->v[slot], sizeof t->v[slot], "%" PRId64, v);
    return t->v[slot];
}

static int64_t
s_i64 (const PGresult *res, int row, int col)
{
    return PQgetisnull (res, row, col) ? 0 : strtoll (PQgetvalue (res, row, col), NULL, 10);
}

static bool
s_bool (const PGresult *res, int row, int col)
{
    return PQgetvalue (res, row, col)[0] == 't';
}

static const char *
s_val (const PGresult *res, int row, int col)
{
    return PQgetvalue (res, row, col);
}

/* Copy a column into a fixed buffer; TRIAGE_CORRUPT when it does not fit
   (ids this module wrote always do). */
static int
s_copy (char *dst, size_t size, const PGresult *res, int row, int col, ln_error_t *err)
{
    const char *v = PQgetvalue (res, row, col);
    if (strlen (v) >= size) {
        ln_error_set (err, "TRIAGE_CORRUPT", PQfname (res, col), "a stored %s is too long",
                      PQfname (res, col));
        return -1;
    }
    snprintf (dst, size, "%s", v);
    return 0;
}

/* An array parameter: {"a","b"} with " and \ escaped.  Caller frees. */
static char *
s_array (const char *const *items, size_t n)
{
    ln_dynbuf_t *b = ln_dynbuf_new (0);
    ln_dynbuf_add (b, "{");
    for (size_t i = 0; i < n; i++) {
        ln_dynbuf_add (b, i ? ",\"" : "\"");
        for (const char *p = items[i] ? items[i] : ""; *p; p++) {
            if (*p == '"' || *p == '\\')
                ln_dynbuf_add (b, "\\");
            ln_dynbuf_addn (b, p, 1);
        }
        ln_dynbuf_add (b, "\"");
    }
    ln_dynbuf_add (b, "}");
    char *out = ln_dynbuf_take (b);
    ln_dynbuf_destroy (&b);
    return out;
}

/* Parse a one-dimensional text array result ({a,"b c",NULL}) into
   malloc'ed strings (NULL elements are skipped).  0, or -1 when it is not
   an array. */
static int s_parse_array (const char *text, char ***out, size_t *n);

int
triage_store_parse_array (const char *text, char ***out, size_t *n)
{
    return s_parse_array (text, out, n);
}

static int
s_parse_array (const char *text, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    const char *p = text;
    if (*p++ != '{')
        return -1;
    if (*p == '}')
        return p[1] == '\0' ? 0 : -1;
    ln_dynbuf_t *b = ln_dynbuf_new (0);
    int rc = -1;
    for (;;) {
        ln_dynbuf_reset (b);
        bool quoted = *p == '"';
        if (quoted) {
            p++;
            while (*p && *p != '"') {
                if (*p == '\\' && p[1])
                    p++;
                ln_dynbuf_addn (b, p++, 1);
            }
            if (*p++ != '"')
                goto out;
        }
        else
            while (*p && *p != ',' && *p != '}')
                ln_dynbuf_addn (b, p++, 1);
        if (quoted || strcmp (ln_dynbuf_text (b), "NULL") != 0)
            triage_push ((void ***)out, n, ln_xstrdup (ln_dynbuf_text (b)));
        if (*p == ',') {
            p++;
            continue;
        }
        if (*p == '}' && p[1] == '\0')
            break;
        goto out;
    }
    rc = 0;
out:
    ln_dynbuf_destroy (&b);
    if (rc != 0) {
        for (size_t i = 0; i < *n; i++)
            free ((*out)[i]);
        free (*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static void
s_free_strings (char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free (items[i]);
    free (items);
}

/* Every statement is prepared once per connection (ln_db_exec_prepared),
   under a name made from a hash of its text: the link path runs some
   twenty statements per intake event, and planning each one again was
   most of its time.  ln_db keeps the name's pointer, so names live in a
   process-wide table (one per statement text of this file, fewer than
   S_NAMES_MAX); ln_db prepares up to 64 names per connection and runs the
   rest unprepared. */
#define S_NAMES_MAX 96
static char s_names[S_NAMES_MAX][24];
static size_t s_names_n;
static pthread_mutex_t s_names_lock = PTHREAD_MUTEX_INITIALIZER;

static PGresult *
s_exec (ln_db_t *db, const char *sql, int n, const char *const *params, ln_error_t *err)
{
    uint64_t h = UINT64_C (1469598103934665603); /* FNV-1a */
    for (const char *p = sql; *p; p++) {
        h ^= (unsigned char)*p;
        h *= UINT64_C (1099511628211);
    }
    char want[24];
    snprintf (want, sizeof want, "triage_%016" PRIx64, h);
    const char *name = NULL;
    pthread_mutex_lock (&s_names_lock);
    for (size_t i = 0; i < s_names_n && !name; i++)
        if (strcmp (s_names[i], want) == 0)
            name = s_names[i];
    if (!name && s_names_n < S_NAMES_MAX) {
        memcpy (s_names[s_names_n], want, sizeof want);
        name = s_names[s_names_n++];
    }
    pthread_mutex_unlock (&s_names_lock);
    if (!name)
        return ln_db_exec (db, sql, n, params, err);
    return ln_db_exec_prepared (db, name, sql, n, params, NULL, NULL, 0, err);
}

static int
s_run (ln_db_t *db, const char *sql, int n, const char *const *params, ln_error_t *err)
{
    PGresult *res = s_exec (db, sql, n, params, err);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

/* --- catalogue ------------------------------------------------------------------------- */

int
triage_store_catalogue_check (ln_db_t *db, const char *version, const char *digest, int64_t now_us,
                              ln_error_t *err)
{
    s_nums_t t;
    const char *params[3] = {version, digest, s_num (&t, 0, now_us)};
    if (s_run (db,
               "INSERT INTO catalogue_versions (version, digest, first_seen_us)"
               " VALUES ($1, $2, $3::bigint) ON CONFLICT (version) DO NOTHING",
               3, params, err) != 0)
        return -1;
    PGresult *res =
        s_exec (db, "SELECT digest FROM catalogue_versions WHERE version = $1", 1, params, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples (res) != 1 || strcmp (s_val (res, 0, 0), digest) != 0) {
        ln_error_set (err, "TRIAGE_CATALOGUE_CHANGED", "version",
                      "catalogue %s was used here with other codes or weights; give the changed"
                      " catalogue a new version",
                      version);
        rc = -1;
    }
    PQclear (res);
    return rc;
}

/* --- signals and tokens ------------------------------------------------------------------ */

int
triage_store_signal_state (ln_db_t *db, const char *id, triage_signal_state_t *st, ln_error_t *err)
{
    memset (st, 0, sizeof *st);
    const char *params[1] = {id};
    PGresult *res = s_exec (db,
                            "SELECT s.node, s.version, s.withdrawn_us IS NOT NULL,"
                            " s.immediate_danger, s.minor_involved, coalesce (s.case_id, ''),"
                            " coalesce (c.state, 0)"
                            " FROM signals s LEFT JOIN cases c ON c.id = s.case_id"
                            " WHERE s.id = $1 FOR UPDATE OF s",
                            1, params, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples (res) == 1) {
        rc = 1;
        if (s_copy (st->node, sizeof st->node, res, 0, 0, err) != 0 ||
            s_copy (st->case_id, sizeof st->case_id, res, 0, 5, err) != 0)
            rc = -1;
        st->version = (uint32_t)s_i64 (res, 0, 1);
        st->withdrawn = s_bool (res, 0, 2);
        st->immediate_danger = s_bool (res, 0, 3);
        st->minor_involved = s_bool (res, 0, 4);
        st->case_state = (int)s_i64 (res, 0, 6);
    }
    PQclear (res);
    return rc;
}

int
triage_store_signal_put (ln_db_t *db, const triage_signal_put_t *s, bool clear_discussed,
                         ln_error_t *err)
{
    s_nums_t t;
    char *indicators = s_array ((const char *const *)s->indicators, s->n_indicators);
    char *record = ln_db_bytea_param (s->record, s->record_size);
    const char *params[17] = {s->id,
                              s->node,
                              s->organisation,
                              s_num (&t, 0, s->organisation_type),
                              s_num (&t, 1, s->version),
                              s->catalogue_version,
                              s->municipality,
                              s_num (&t, 2, (int32_t)s->forms_mask),
                              indicators,
                              s->immediate_danger ? "t" : "f",
                              s->minor_involved ? "t" : "f",
                              s_num (&t, 3, s->received_us),
                              s_num (&t, 4, s->updated_us),
                              s->withdrawn_us ? s_num (&t, 5, s->withdrawn_us) : NULL,
                              s_num (&t, 6, (int64_t)s->position),
                              record,
                              clear_discussed ? "t" : "f"};
    int rc = s_run (
        db,
        "INSERT INTO signals (id, node, organisation, organisation_type, version,"
        " catalogue_version, municipality, forms_mask, indicators, immediate_danger,"
        " minor_involved, received_us, updated_us, withdrawn_us, position, record)"
        " VALUES ($1, $2, $3, $4::smallint, $5::integer, $6, $7, $8::integer, $9::text[],"
        " $10::boolean, $11::boolean, $12::bigint, $13::bigint, $14::bigint, $15::bigint,"
        " $16::bytea)"
        " ON CONFLICT (id) DO UPDATE SET organisation = EXCLUDED.organisation,"
        " organisation_type = EXCLUDED.organisation_type, version = EXCLUDED.version,"
        " catalogue_version = EXCLUDED.catalogue_version, municipality = EXCLUDED.municipality,"
        " forms_mask = EXCLUDED.forms_mask, indicators = EXCLUDED.indicators,"
        " immediate_danger = EXCLUDED.immediate_danger, minor_involved = EXCLUDED.minor_involved,"
        " received_us = EXCLUDED.received_us, updated_us = EXCLUDED.updated_us,"
        " withdrawn_us = EXCLUDED.withdrawn_us, position = EXCLUDED.position,"
        " record = EXCLUDED.record,"
        " discussed_meeting = CASE WHEN $17::boolean THEN NULL ELSE signals.discussed_meeting END",
        17, params, err);
    free (indicators);
    free (record);
    return rc;
}

int
triage_store_tokens_add (ln_db_t *db, const char *signal_id, const triage_token_t *tokens, size_t n,
                         ln_error_t *err)
{
    const char **kinds = ln_xcalloc (n ? n : 1, sizeof *kinds);
    const char **values = ln_xcalloc (n ? n : 1, sizeof *values);
    char (*kind_text)[8] = ln_xcalloc (n ? n : 1, sizeof *kind_text);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (triage_link_token_usable (tokens[i].kind, tokens[i].token)) {
            snprintf (kind_text[k], sizeof kind_text[k], "%d", tokens[i].kind);
            kinds[k] = kind_text[k];
            values[k] = tokens[i].token;
            k++;
        }
    int rc = 0;
    if (k > 0) {
        char *a_kinds = s_array (kinds, k);
        char *a_values = s_array (values, k);
        const char *params[3] = {signal_id, a_kinds, a_values};
        rc = s_run (db,
                    "INSERT INTO tokens (kind, token, signal_id)"
                    " SELECT u.k, u.t, $1 FROM unnest ($2::smallint[], $3::text[]) AS u (k, t)"
                    " ON CONFLICT DO NOTHING",
                    3, params, err);
        free (a_kinds);
        free (a_values);
    }
    free (kinds);
    free (values);
    free (kind_text);
    return rc;
}

int
triage_store_signal_leave (ln_db_t *db, const char *signal_id, ln_error_t *err)
{
    const char *params[1] = {signal_id};
    if (s_run (db, "DELETE FROM tokens WHERE signal_id = $1", 1, params, err) != 0 ||
        s_run (db, "DELETE FROM links WHERE signal_id = $1", 1, params, err) != 0 ||
        s_run (db,
               "WITH o AS (SELECT id, case_id FROM signals WHERE id = $1 AND case_id IS NOT NULL),"
               " u AS (UPDATE signals SET case_id = NULL WHERE id = $1)"
               " INSERT INTO signal_cases (signal_id, case_id) SELECT id, case_id FROM o"
               " ON CONFLICT DO NOTHING",
               1, params, err) != 0)
        return -1;
    return 0;
}

/* Fill a malloc'ed array of case ids from column 0. */
static int
s_case_ids (PGresult *res, char (**ids)[TRIAGE_CASE_ID_SIZE], size_t *n, ln_error_t *err)
{
    int rows = PQntuples (res);
    *ids = ln_xcalloc (rows ? (size_t)rows : 1, sizeof **ids);
    *n = 0;
    for (int i = 0; i < rows; i++) {
        if (s_copy ((*ids)[i], sizeof (*ids)[i], res, i, 0, err) != 0) {
            free (*ids);
            *ids = NULL;
            return -1;
        }
        (*n)++;
    }
    return 0;
}

int
triage_store_neighbour_cases (ln_db_t *db, const char *signal_id, char (**ids)[TRIAGE_CASE_ID_SIZE],
                              size_t *n, ln_error_t *err)
{
    *ids = NULL;
    *n = 0;
    const char *params[1] = {signal_id};
    /* Written so that the plan is index lookups whatever the statistics
       say (a replay starts on empty tables, the runtime role may not
       ANALYZE, and a prepared statement keeps its generic plan): the
       signal's own tokens, each one's other holders, their cases by
       primary key, each step fenced (OFFSET 0) so that no join order
       turns it into a scan of a whole table. */
    PGresult *res =
        s_exec (db,
                "WITH t AS MATERIALIZED (SELECT x.signal_id"
                " FROM (SELECT kind, token FROM tokens WHERE signal_id = $1 OFFSET 0) t1,"
                " LATERAL (SELECT t2.signal_id FROM tokens t2 WHERE t2.kind = t1.kind"
                " AND t2.token = t1.token AND t2.signal_id <> $1 OFFSET 0) x)"
                " SELECT c.id FROM cases c WHERE c.id = ANY (ARRAY (SELECT y.case_id FROM t,"
                " LATERAL (SELECT s.case_id FROM signals s WHERE s.id = t.signal_id"
                " AND s.withdrawn_us IS NULL OFFSET 0) y))"
                " AND c.state + 0 IN (1, 2)" /* (+ 0: by primary key, not the partial index) */
                " ORDER BY c.id FOR UPDATE OF c",
                1, params, err);
    if (!res)
        return -1;
    int rc = s_case_ids (res, ids, n, err);
    PQclear (res);
    return rc;
}

static char *
s_keep (triage_members_t *self, const char *text)
{
    char *copy = ln_xstrdup (text);
    triage_push ((void ***)&self->strings, &self->n_strings, copy);
    return copy;
}

void
triage_members_destroy (triage_members_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    triage_members_t *self = *self_p;
    s_free_strings (self->strings, self->n_strings);
    free (self->m);
    free (self->tokens);
    free (self);
    *self_p = NULL;
}

int
triage_store_members (ln_db_t *db, char (*case_ids)[TRIAGE_CASE_ID_SIZE], size_t n_cases,
                      const char *extra, triage_members_t **out, ln_error_t *err)
{
    *out = NULL;
    const char **list = ln_xcalloc (n_cases ? n_cases : 1, sizeof *list);
    for (size_t i = 0; i < n_cases; i++)
        list[i] = case_ids[i];
    char *a_cases = s_array (list, n_cases);
    free (list);
    const char *params[2] = {a_cases, extra ? extra : ""};
    PGresult *res = s_exec (db,
                            "SELECT s.id, s.node, s.received_us, coalesce (s.case_id, ''),"
                            " coalesce (c.state, 0), coalesce (c.opened_us, 0), t.kind, t.token"
                            " FROM (SELECT s1.* FROM unnest ($1::text[]) AS u (c)"
                            " JOIN signals s1 ON s1.case_id = u.c"
                            " UNION SELECT * FROM signals WHERE id = $2) s"
                            " LEFT JOIN cases c ON c.id = s.case_id"
                            " LEFT JOIN tokens t ON t.signal_id = s.id"
                            " WHERE s.withdrawn_us IS NULL"
                            " ORDER BY s.id, t.kind, t.token",
                            2, params, err);
    free (a_cases);
    if (!res)
        return -1;
    int rows = PQntuples (res);
    triage_members_t *self = ln_xcalloc (1, sizeof *self);
    self->m = ln_xcalloc (rows ? (size_t)rows : 1, sizeof *self->m);
    self->tokens = ln_xcalloc (rows ? (size_t)rows : 1, sizeof *self->tokens);
    size_t nt = 0;
    for (int i = 0; i < rows; i++) {
        if (i == 0 || strcmp (s_val (res, i, 0), s_val (res, i - 1, 0)) != 0) {
            triage_member_t *m = &self->m[self->n++];
            m->id = s_keep (self, s_val (res, i, 0));
            m->node = s_keep (self, s_val (res, i, 1));
            m->received_us = s_i64 (res, i, 2);
            m->case_id = *s_val (res, i, 3) ? s_keep (self, s_val (res, i, 3)) : NULL;
            m->pinned = s_i64 (res, i, 4) == CS (DECIDED);
            m->pinned_opened_us = s_i64 (res, i, 5);
            m->tokens = &self->tokens[nt];
        }
        if (!PQgetisnull (res, i, 6)) {
            self->tokens[nt].kind = (int)s_i64 (res, i, 6);
            self->tokens[nt].token = s_keep (self, s_val (res, i, 7));
            nt++;
            self->m[self->n - 1].n_tokens++;
        }
    }
    PQclear (res);
    *out = self;
    return 0;
}

int
triage_store_signals_move (ln_db_t *db, const char *const *signal_ids, size_t n,
                           const char *case_id, ln_error_t *err)
{
    if (n == 0)
        return 0;
    char *a_ids = s_array (signal_ids, n);
    const char *params[2] = {case_id, a_ids};
    int rc = s_run (db,
                    "WITH o AS (SELECT s.id, s.case_id FROM unnest ($2::text[]) AS u (id)"
                    " JOIN signals s ON s.id = u.id"
                    " WHERE s.case_id IS NOT NULL AND s.case_id <> $1),"
                    " m AS (UPDATE signals s SET case_id = $1 FROM unnest ($2::text[]) AS u (id)"
                    " WHERE s.id = u.id)"
                    " INSERT INTO signal_cases (signal_id, case_id) SELECT id, case_id FROM o"
                    " ON CONFLICT DO NOTHING",
                    2, params, err);
    free (a_ids);
    return rc;
}

int
triage_store_signal_cases (ln_db_t *db, const char *signal_id, char ***ids, size_t *n,
                           ln_error_t *err)
{
    *ids = NULL;
    *n = 0;
    const char *params[1] = {signal_id};
    PGresult *res =
        s_exec (db,
                "SELECT case_id FROM signal_cases WHERE signal_id = $1"
                " UNION SELECT case_id FROM signals WHERE id = $1 AND case_id IS NOT NULL"
                " ORDER BY 1",
                1, params, err);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples (res); i++)
        triage_push ((void ***)ids, n, ln_xstrdup (s_val (res, i, 0)));
    PQclear (res);
    return 0;
}

int
triage_store_signal_erase (ln_db_t *db, const char *signal_id, ln_error_t *err)
{
    const char *params[1] = {signal_id};
    /* alerts first (they refer to the signal); tokens and links too (no
       foreign key deletes them: migration 102) */
    PGresult *res = s_exec (db,
                            "WITH a AS (DELETE FROM alerts WHERE signal_id = $1),"
                            " c AS (DELETE FROM signal_cases WHERE signal_id = $1),"
                            " t AS (DELETE FROM tokens WHERE signal_id = $1),"
                            " l AS (DELETE FROM links WHERE signal_id = $1)"
                            " SELECT 1",
                            1, params, err);
    if (!res)
        return -1;
    PQclear (res);
    res = s_exec (db, "DELETE FROM signals WHERE id = $1", 1, params, err);
    if (!res)
        return -1;
    int found = strcmp (PQcmdTuples (res), "0") != 0;
    PQclear (res);
    return found;
}

int
triage_store_links_replace (ln_db_t *db, const char *const *signal_ids, size_t n,
                            const triage_link_row_t *links, size_t n_links, ln_error_t *err)
{
    int rc = -1;
    char *a[6] = {NULL};
    const char **cols[6] = {NULL};
    char (*kinds)[8] = NULL;
    if (n > 0) {
        a[0] = s_array (signal_ids, n);
        const char *params[1] = {a[0]};
        if (s_run (db,
                   "DELETE FROM links l USING unnest ($1::text[]) AS u (id)"
                   " WHERE l.signal_id = u.id",
                   1, params, err) != 0)
            goto out;
        free (a[0]);
        a[0] = NULL;
    }
    if (n_links == 0) {
        rc = 0;
        goto out;
    }
    kinds = ln_xcalloc (n_links, sizeof *kinds);
    for (int c = 0; c < 6; c++)
        cols[c] = ln_xcalloc (n_links, sizeof *cols[c]);
    for (size_t i = 0; i < n_links; i++) {
        snprintf (kinds[i], sizeof kinds[i], "%d", links[i].kind);
        cols[0][i] = links[i].signal_id;
        cols[1][i] = links[i].case_id;
        cols[2][i] = kinds[i];
        cols[3][i] = links[i].other_signal_id;
        cols[4][i] = links[i].other_node;
        cols[5][i] = links[i].reason;
    }
    for (int c = 0; c < 6; c++)
        a[c] = s_array (cols[c], n_links);
    const char *params[6] = {a[0], a[1], a[2], a[3], a[4], a[5]};
    if (s_run (db,
               "INSERT INTO links (signal_id, case_id, kind, other_signal_id, other_node, reason)"
               " SELECT * FROM unnest ($1::text[], $2::text[], $3::smallint[], $4::text[],"
               " $5::text[], $6::text[])",
               6, params, err) != 0)
        goto out;
    rc = 0;
out:
    for (int c = 0; c < 6; c++) {
        free (a[c]);
        free (cols[c]);
    }
    free (kinds);
    return rc;
}

/* --- cases ---------------------------------------------------------------------------- */

static int
s_case_row (const PGresult *res, int i, triage_case_row_t *row, bool with_summary, ln_error_t *err)
{
    memset (row, 0, sizeof *row);
    if (s_copy (row->id, sizeof row->id, res, i, 0, err) != 0 ||
        s_copy (row->anchor, sizeof row->anchor, res, i, 2, err) != 0 ||
        s_copy (row->merged_into, sizeof row->merged_into, res, i, 4, err) != 0 ||
        s_copy (row->closed_by, sizeof row->closed_by, res, i, 7, err) != 0)
        return -1;
    row->state = (int)s_i64 (res, i, 1);
    row->opened_us = s_i64 (res, i, 3);
    row->closed_us = s_i64 (res, i, 5);
    row->outcome = (int)s_i64 (res, i, 6);
    if (with_summary)
        row->close_summary = ln_xstrdup (s_val (res, i, 8));
    return 0;
}

#define S_CASE_COLUMNS                                                                             \
    "id, state, anchor_signal, opened_us, coalesce (merged_into, ''), coalesce (closed_us, 0),"    \
    " outcome, closed_by, close_summary"

int
triage_store_case_load (ln_db_t *db, const char *id, bool for_update, triage_case_row_t *row,
                        ln_error_t *err)
{
    memset (row, 0, sizeof *row);
    const char *params[1] = {id};
    PGresult *res =
        s_exec (db,
                for_update ? "SELECT " S_CASE_COLUMNS " FROM cases WHERE id = $1 FOR UPDATE"
                           : "SELECT " S_CASE_COLUMNS " FROM cases WHERE id = $1",
                1, params, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples (res) == 1)
        rc = s_case_row (res, 0, row, true, err) == 0 ? 1 : -1;
    PQclear (res);
    return rc;
}

int
triage_store_case_save (ln_db_t *db, const triage_case_row_t *row, ln_error_t *err)
{
    s_nums_t t;
    const char *params[9] = {row->id,
                             s_num (&t, 0, row->state),
                             row->anchor,
                             s_num (&t, 1, row->opened_us),
                             *row->merged_into ? row->merged_into : NULL,
                             row->closed_us ? s_num (&t, 2, row->closed_us) : NULL,
                             s_num (&t, 3, row->outcome),
                             row->closed_by,
                             row->close_summary ? row->close_summary : ""};
    return s_run (db,
                  "INSERT INTO cases (id, state, anchor_signal, opened_us, merged_into, closed_us,"
                  " outcome, closed_by, close_summary) VALUES ($1, $2::smallint, $3, $4::bigint,"
                  " $5, $6::bigint, $7::smallint, $8, $9)"
                  " ON CONFLICT (id) DO UPDATE SET state = EXCLUDED.state,"
                  " anchor_signal = EXCLUDED.anchor_signal, opened_us = EXCLUDED.opened_us,"
                  " merged_into = EXCLUDED.merged_into, closed_us = EXCLUDED.closed_us,"
                  " outcome = EXCLUDED.outcome, closed_by = EXCLUDED.closed_by,"
                  " close_summary = EXCLUDED.close_summary",
                  9, params, err);
}

int
triage_store_case_delete (ln_db_t *db, const char *id, ln_error_t *err)
{
    const char *params[1] = {id};
    return s_run (db, "DELETE FROM cases WHERE id = $1", 1, params, err);
}

int
triage_store_case_move_decisions (ln_db_t *db, const char *from, const char *to, ln_error_t *err)
{
    const char *params[2] = {from, to};
    if (s_run (db, "UPDATE decisions SET case_id = $2 WHERE case_id = $1", 2, params, err) != 0 ||
        s_run (db, "UPDATE tracks SET case_id = $2 WHERE case_id = $1", 2, params, err) != 0)
        return -1;
    return 0;
}

int
triage_store_history_add (ln_db_t *db, const char *case_id, int64_t at_us, const char *action,
                          const char *signal_id, const char *other_case_id, const char *detail,
                          ln_error_t *err)
{
    s_nums_t t;
    const char *params[6] = {case_id,
                             s_num (&t, 0, at_us),
                             action,
                             signal_id ? signal_id : "",
                             other_case_id ? other_case_id : "",
                             detail ? detail : ""};
    return s_run (db,
                  "INSERT INTO case_history (case_id, at_us, action, signal_id, other_case_id,"
                  " detail) VALUES ($1, $2::bigint, $3, $4, $5, $6)",
                  6, params, err);
}

int
triage_store_resolve (ln_db_t *db, const char *id, char resolved[TRIAGE_CASE_ID_SIZE],
                      ln_error_t *err)
{
    char cur[TRIAGE_CASE_ID_SIZE];
    resolved[0] = '\0';
    if (!triage_case_id_valid (id))
        return 0;
    snprintf (cur, sizeof cur, "%s", id);
    /* Each step follows a merge, a rename or a split recorded for an id
       that has no row: at most a few in practice; the bound stops a loop
       that hand-edited history could make. */
    for (int step = 0; step < 32; step++) {
        const char *params[2] = {cur, NULL};
        char sig[TRIAGE_SIGNAL_ID_SIZE];
        snprintf (sig, sizeof sig, "sig-%s", cur + 5);
        params[1] = sig;
        PGresult *res = s_exec (
            db,
            "SELECT 1, state, coalesce (merged_into, '') FROM cases WHERE id = $1"
            " UNION ALL (SELECT 2, 0, case_id FROM signals WHERE id = $2 AND withdrawn_us IS NULL"
            " AND case_id IS NOT NULL)"
            " UNION ALL (SELECT 3, 0, other_case_id FROM case_history WHERE case_id = $1"
            " AND action IN ('merged', 'split') ORDER BY seq DESC LIMIT 1)"
            " ORDER BY 1 LIMIT 1",
            2, params, err);
        if (!res)
            return -1;
        if (PQntuples (res) == 0) {
            PQclear (res);
            return 0;
        }
        int how = (int)s_i64 (res, 0, 0);
        int state = (int)s_i64 (res, 0, 1);
        char next[TRIAGE_CASE_ID_SIZE];
        int rc = s_copy (next, sizeof next, res, 0, 2, err);
        PQclear (res);
        if (rc != 0)
            return -1;
        if (how == 1 && state != CS (MERGED)) {
            snprintf (resolved, TRIAGE_CASE_ID_SIZE, "%s", cur);
            return 1;
        }
        if (how == 2 && strcmp (next, cur) == 0) { /* the signal's case is this id: no row? */
            ln_error_set (err, "TRIAGE_CORRUPT", "case_id", "%s has signals but no row", cur);
            return -1;
        }
        snprintf (cur, sizeof cur, "%s", next);
    }
    return 0;
}

int
triage_store_case_facts (ln_db_t *db, const char *case_id, Lantern__V1__CaseFacts **facts,
                         char revision[17], ln_error_t *err)
{
    *facts = NULL;
    revision[0] = '\0';
    const char *params[1] = {case_id};
    PGresult *res = s_exec (
        db,
        "SELECT count(*), count(DISTINCT organisation), coalesce (bool_or (immediate_danger), "
        "false),"
        " coalesce (bool_or (minor_involved), false), coalesce (min (received_us), 0),"
        " coalesce (bit_or (forms_mask), 0),"
        " coalesce ((SELECT array_agg (DISTINCT i COLLATE \"C\" ORDER BY i COLLATE \"C\")"
        " FROM signals s2, unnest (s2.indicators) i WHERE s2.case_id = $1"
        " AND s2.withdrawn_us IS NULL), '{}'),"
        " coalesce (array_agg (DISTINCT municipality COLLATE \"C\" ORDER BY municipality"
        " COLLATE \"C\"), '{}'),"
        " coalesce (substr (md5 (string_agg (id || ':' || version, ',' ORDER BY id)), 1, 16), '')"
        " FROM signals WHERE case_id = $1 AND withdrawn_us IS NULL",
        1, params, err);
    if (!res)
        return -1;
    int rc = -1;
    Lantern__V1__CaseFacts *f = triage_alloc (sizeof *f);
    lantern__v1__case_facts__init (f);
    if (PQntuples (res) != 1)
        goto out;
    f->signals = (uint32_t)s_i64 (res, 0, 0);
    f->partners = (uint32_t)s_i64 (res, 0, 1);
    f->immediate_danger = s_bool (res, 0, 2);
    f->minor_involved = s_bool (res, 0, 3);
    f->opened_at_us = s_i64 (res, 0, 4);
    uint32_t mask = (uint32_t)s_i64 (res, 0, 5);
    for (int form = 1; form < 31; form++)
        if (mask & (1u << form))
            triage_push_enum ((int **)&f->forms, &f->n_forms, form);
    if (s_parse_array (s_val (res, 0, 6), &f->indicators, &f->n_indicators) != 0 ||
        s_parse_array (s_val (res, 0, 7), &f->municipalities, &f->n_municipalities) != 0) {
        ln_error_set (err, "TRIAGE_CORRUPT", "indicators", "case %s: unreadable array", case_id);
        goto out;
    }
    snprintf (revision, 17, "%s", s_val (res, 0, 8));
    rc = 0;
out:
    PQclear (res);
    if (rc != 0)
        protobuf_c_message_free_unpacked (&f->base, NULL);
    else
        *facts = f;
    return rc;
}

static Lantern__V1__CaseSignal *
s_case_signal (const PGresult *res, int i)
{
    Lantern__V1__CaseSignal *s = triage_alloc (sizeof *s);
    lantern__v1__case_signal__init (s);
    s->signal_id = triage_str (s_val (res, i, 0));
    s->node = triage_str (s_val (res, i, 1));
    s->organisation = triage_str (s_val (res, i, 2));
    s->organisation_type = (Lantern__V1__OrganisationType)s_i64 (res, i, 3);
    s->received_at_us = s_i64 (res, i, 4);
    s->withdrawn = s_bool (res, i, 5);
    s->discussed_at = triage_str (s_val (res, i, 6));
    return s;
}

int
triage_store_case_signals (ln_db_t *db, const char *case_id, bool with_left,
                           Lantern__V1__CaseSignal ***out, size_t *n, ln_error_t *err)
{
    *out = NULL;
    *n = 0;
    const char *params[2] = {case_id, with_left ? "t" : "f"};
    PGresult *res = s_exec (
        db,
        /* two branches, each by an index (no OR a stale plan could scan) */
        "SELECT id, node, organisation, organisation_type, received_us,"
        " withdrawn_us IS NOT NULL, coalesce (discussed_meeting, '') FROM signals"
        " WHERE case_id = $1 AND withdrawn_us IS NULL"
        " UNION ALL SELECT s.id, s.node, s.organisation, s.organisation_type, s.received_us,"
        " true, coalesce (s.discussed_meeting, '') FROM signals s"
        " WHERE $2::boolean AND s.withdrawn_us IS NOT NULL AND s.id IN (SELECT h.signal_id"
        " FROM case_history h WHERE h.case_id = $1 AND h.action = 'left')"
        " ORDER BY 5, 1",
        2, params, err);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples (res); i++)
        triage_push ((void ***)out, n, s_case_signal (res, i));
    PQclear (res);
    return 0;
}

int
triage_store_case_links (ln_db_t *db, const char *case_id, Lantern__V1__CaseLink ***out, size_t *n,
                         ln_error_t *err)
{
    *out = NULL;
    *n = 0;
    const char *params[1] = {case_id};
    PGresult *res =
        s_exec (db,
                "SELECT l.signal_id, l.kind, l.other_signal_id, l.other_node, l.reason"
                " FROM links l JOIN signals s ON s.id = l.signal_id WHERE l.case_id = $1"
                " ORDER BY s.received_us, s.id",
                1, params, err);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples (res); i++) {
        Lantern__V1__CaseLink *l = triage_alloc (sizeof *l);
        lantern__v1__case_link__init (l);
        l->signal_id = triage_str (s_val (res, i, 0));
        l->kind = (Lantern__V1__IdentifierKind)s_i64 (res, i, 1);
        l->other_signal_id = triage_str (s_val (res, i, 2));
        l->other_node = triage_str (s_val (res, i, 3));
        l->reason = triage_str (s_val (res, i, 4));
        triage_push ((void ***)out, n, l);
    }
    PQclear (res);
    return 0;
}

int
triage_store_case_aliases (ln_db_t *db, const char *case_id, char ***out, size_t *n,
                           ln_error_t *err)
{
    *out = NULL;
    *n = 0;
    const char *params[1] = {case_id};
    PGresult *res = s_exec (db,
                            "SELECT case_id FROM case_history WHERE other_case_id = $1"
                            " AND action = 'merged' AND case_id <> $1"
                            " UNION SELECT id FROM cases WHERE merged_into = $1 ORDER BY 1",
                            1, params, err);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples (res); i++)
        triage_push ((void ***)out, n, ln_xstrdup (s_val (res, i, 0)));
    PQclear (res);
    return 0;
}

int
triage_store_case_history (ln_db_t *db, const char *case_id, size_t limit,
                           Lantern__V1__CaseHistoryEntry ***out, size_t *n, ln_error_t *err)
{
    *out = NULL;
    *n = 0;
    s_nums_t t;
    const char *params[2] = {case_id, s_num (&t, 0, (int64_t)limit)};
    PGresult *res = s_exec (db,
                            "SELECT at_us, action, signal_id, other_case_id, detail FROM"
                            " (SELECT * FROM case_history WHERE case_id = $1"
                            " ORDER BY seq DESC LIMIT $2::bigint) h ORDER BY seq",
                            2, params, err);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples (res); i++) {
        Lantern__V1__CaseHistoryEntry *h = triage_alloc (sizeof *h);
        lantern__v1__case_history_entry__init (h);
        h->at_us = s_i64 (res, i, 0);
        h->action = triage_str (s_val (res, i, 1));
        h->signal_id = triage_str (s_val (res, i, 2));
        h->other_case_id = triage_str (s_val (res, i, 3));
        h->detail = triage_str (s_val (res, i, 4));
        triage_push ((void ***)out, n, h);
    }
    PQclear (res);
    return 0;
}

/* Deep copies of what a CaseContent holds, without tokens. */
static Lantern__V1__Person *
s_copy_person (const Lantern__V1__Person *in)
{
    Lantern__V1__Person *p = triage_alloc (sizeof *p);
    lantern__v1__person__init (p);
    p->role = in->role;
    p->name = triage_str (in->name);
    p->date_of_birth = triage_str (in->date_of_birth);
    p->nationality = triage_str (in->nationality);
    p->bsn = triage_str (in->bsn);
    p->document_number = triage_str (in->document_number);
    p->phone = triage_str (in->phone);
    p->description = triage_str (in->description);
    return p;
}

static Lantern__V1__Address *
s_copy_address (const Lantern__V1__Address *in)
{
    Lantern__V1__Address *a = triage_alloc (sizeof *a);
    lantern__v1__address__init (a);
    a->street = triage_str (in->street);
    a->house_number = triage_str (in->house_number);
    a->postcode = triage_str (in->postcode);
    a->city = triage_str (in->city);
    a->country = triage_str (in->country);
    a->description = triage_str (in->description);
    return a;
}

static Lantern__V1__Vehicle *
s_copy_vehicle (const Lantern__V1__Vehicle *in)
{
    Lantern__V1__Vehicle *v = triage_alloc (sizeof *v);
    lantern__v1__vehicle__init (v);
    v->licence_plate = triage_str (in->licence_plate);
    v->country = triage_str (in->country);
    v->description = triage_str (in->description);
    return v;
}

static Lantern__V1__Employer *
s_copy_employer (const Lantern__V1__Employer *in)
{
    Lantern__V1__Employer *e = triage_alloc (sizeof *e);
    lantern__v1__employer__init (e);
    e->name = triage_str (in->name);
    e->kvk_number = triage_str (in->kvk_number);
    e->address = triage_str (in->address);
    return e;
}

int
triage_store_case_contents (ln_db_t *db, const char *case_id, size_t max_bytes,
                            Lantern__V1__CaseContent ***out, size_t *n, uint32_t *omitted,
                            ln_error_t *err)
{
    *out = NULL;
    *n = 0;
    *omitted = 0;
    const char *params[1] = {case_id};
    PGresult *res = s_exec (db,
                            "SELECT id, record FROM signals WHERE case_id = $1"
                            " AND withdrawn_us IS NULL ORDER BY received_us, id",
                            1, params, err);
    if (!res)
        return -1;
    size_t used = 0;
    for (int i = 0; i < PQntuples (res); i++) {
        size_t size = 0;
        uint8_t *bytes = ln_db_bytea_value (res, i, 1, &size);
        Lantern__V1__Signal *sig = bytes ? lantern__v1__signal__unpack (NULL, size, bytes) : NULL;
        free (bytes);
        if (!sig || !sig->details) {
            if (sig)
                lantern__v1__signal__free_unpacked (sig, NULL);
            ln_error_set (err, "TRIAGE_CORRUPT", "record", "signal %s: unreadable record",
                          s_val (res, i, 0));
            PQclear (res);
            return -1;
        }
        const Lantern__V1__SignalDetails *d = sig->details;
        Lantern__V1__CaseContent *c = triage_alloc (sizeof *c);
        lantern__v1__case_content__init (c);
        c->signal_id = triage_str (s_val (res, i, 0));
        for (size_t k = 0; k < d->n_persons; k++)
            triage_push ((void ***)&c->persons, &c->n_persons, s_copy_person (d->persons[k]));
        for (size_t k = 0; k < d->n_addresses; k++)
            triage_push ((void ***)&c->addresses, &c->n_addresses,
                         s_copy_address (d->addresses[k]));
        for (size_t k = 0; k < d->n_vehicles; k++)
            triage_push ((void ***)&c->vehicles, &c->n_vehicles, s_copy_vehicle (d->vehicles[k]));
        for (size_t k = 0; k < d->n_employers; k++)
            triage_push ((void ***)&c->employers, &c->n_employers,
                         s_copy_employer (d->employers[k]));
        lantern__v1__signal__free_unpacked (sig, NULL);
        size_t csize = protobuf_c_message_get_packed_size (&c->base) + 8;
        if (used + csize > max_bytes) {
            protobuf_c_message_free_unpacked (&c->base, NULL);
            (*omitted)++;
            continue;
        }
        used += csize;
        triage_push ((void ***)out, n, c);
    }
    PQclear (res);
    return 0;
}

int
triage_store_case_discussed (ln_db_t *db, const char *case_id, const char *meeting_id,
                             ln_error_t *err)
{
    const char *params[2] = {case_id, meeting_id};
    return s_run (db,
                  "UPDATE signals SET discussed_meeting = $2 WHERE case_id = $1"
                  " AND withdrawn_us IS NULL AND discussed_meeting IS NULL",
                  2, params, err);
}

int
triage_store_cases_list (ln_db_t *db, int state, int64_t after_us, const char *after_id,
                         size_t limit, triage_case_fn fn, void *arg, ln_error_t *err)
{
    s_nums_t t;
    const char *params[4] = {s_num (&t, 0, state), s_num (&t, 1, after_us),
                             after_id ? after_id : "", s_num (&t, 2, (int64_t)limit)};
    PGresult *res =
        s_exec (db,
                "SELECT " S_CASE_COLUMNS " FROM cases"
                " WHERE (($1::smallint = 0 AND state IN (1, 2)) OR state = $1::smallint)"
                " AND ($3 = '' OR (opened_us, id) > ($2::bigint, $3))"
                " ORDER BY opened_us, id LIMIT $4::bigint",
                4, params, err);
    if (!res)
        return -1;
    int rows = PQntuples (res);
    for (int i = 0; i < rows; i++) {
        triage_case_row_t row;
        if (s_case_row (res, i, &row, false, err) != 0) {
            PQclear (res);
            return -1;
        }
        fn (arg, &row);
    }
    PQclear (res);
    return rows;
}

/* --- meetings, decisions, tracks ------------------------------------------------------- */

int
triage_store_meeting_put (ln_db_t *db, const char *meeting_id, int64_t starts_us, ln_error_t *err)
{
    s_nums_t t;
    const char *params[2] = {meeting_id, s_num (&t, 0, starts_us)};
    return s_run (db,
                  "INSERT INTO meetings (id, starts_us) VALUES ($1, $2::bigint)"
                  " ON CONFLICT (id) DO NOTHING",
                  2, params, err);
}

int
triage_store_decision_insert (ln_db_t *db, const Lantern__V1__Decision *d, ln_error_t *err)
{
    s_nums_t t;
    char *attendees = s_array ((const char *const *)d->attendees, d->n_attendees);
    const char *params[11] = {d->decision_id,
                              d->case_id,
                              d->case_id,
                              d->meeting_id,
                              s_num (&t, 0, d->decided_at_us),
                              d->decided_by,
                              attendees,
                              d->minutes,
                              d->no_action_reason,
                              d->no_youth_protection_reason,
                              d->case_revision};
    int rc = s_run (db,
                    "INSERT INTO decisions (id, case_id, decided_case_id, meeting_id, decided_us,"
                    " decided_by, attendees, minutes, no_action_reason, no_youth_protection_reason,"
                    " case_revision) VALUES ($1, $2, $3, $4, $5::bigint, $6, $7::text[], $8, $9,"
                    " $10, $11)",
                    11, params, err);
    free (attendees);
    for (size_t i = 0; rc == 0 && i < d->n_tracks; i++) {
        const Lantern__V1__Track *tr = d->tracks[i];
        const char *tp[13] = {tr->track_id,
                              tr->decision_id,
                              tr->case_id,
                              tr->meeting_id,
                              s_num (&t, 1, (int64_t)i),
                              s_num (&t, 2, tr->kind),
                              tr->lead_organisation,
                              *tr->deadline ? tr->deadline : NULL,
                              tr->note,
                              s_num (&t, 3, tr->state),
                              s_num (&t, 4, tr->opened_at_us),
                              s_num (&t, 5, tr->updated_at_us),
                              tr->updated_by};
        rc = s_run (db,
                    "INSERT INTO tracks (id, decision_id, case_id, meeting_id, seq, kind,"
                    " lead_organisation, deadline, note, state, opened_us, updated_us, updated_by)"
                    " VALUES ($1, $2, $3, $4, $5::smallint, $6::smallint, $7, $8::date, $9,"
                    " $10::smallint, $11::bigint, $12::bigint, $13)",
                    13, tp, err);
    }
    return rc;
}

#define S_TRACK_COLUMNS                                                                            \
    "id, case_id, decision_id, meeting_id, kind, lead_organisation, coalesce (deadline::text, "    \
    "''),"                                                                                         \
    " note, state, outcome, handback_reason, opened_us, updated_us, updated_by"

static Lantern__V1__Track *
s_track (const PGresult *res, int i, int64_t today)
{
    Lantern__V1__Track *t = triage_alloc (sizeof *t);
    lantern__v1__track__init (t);
    t->track_id = triage_str (s_val (res, i, 0));
    t->case_id = triage_str (s_val (res, i, 1));
    t->decision_id = triage_str (s_val (res, i, 2));
    t->meeting_id = triage_str (s_val (res, i, 3));
    t->kind = (Lantern__V1__TrackKind)s_i64 (res, i, 4);
    t->lead_organisation = triage_str (s_val (res, i, 5));
    t->deadline = triage_str (s_val (res, i, 6));
    t->note = triage_str (s_val (res, i, 7));
    t->state = (Lantern__V1__TrackState)s_i64 (res, i, 8);
    t->outcome = triage_str (s_val (res, i, 9));
    t->handback_reason = triage_str (s_val (res, i, 10));
    t->opened_at_us = s_i64 (res, i, 11);
    t->updated_at_us = s_i64 (res, i, 12);
    t->updated_by = triage_str (s_val (res, i, 13));
    int64_t day;
    t->overdue = (t->state == TS (OPEN) || t->state == TS (IN_PROGRESS)) &&
                 triage_date_parse (t->deadline, &day) == 0 && day < today;
    return t;
}

static int
s_tracks (PGresult *res, int64_t today, Lantern__V1__Track ***out, size_t *n)
{
    for (int i = 0; i < PQntuples (res); i++)
        triage_push ((void ***)out, n, s_track (res, i, today));
    PQclear (res);
    return 0;
}

int
triage_store_case_decisions (ln_db_t *db, const char *case_id, Lantern__V1__Decision ***out,
                             size_t *n, ln_error_t *err)
{
    *out = NULL;
    *n = 0;
    const char *params[1] = {case_id};
    PGresult *res = s_exec (db,
                            "SELECT id, decided_case_id, meeting_id, decided_us, decided_by,"
                            " attendees, minutes, no_action_reason, no_youth_protection_reason,"
                            " case_revision FROM decisions WHERE case_id = $1"
                            " ORDER BY decided_us, id",
                            1, params, err);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples (res); i++) {
        Lantern__V1__Decision *d = triage_alloc (sizeof *d);
        lantern__v1__decision__init (d);
        d->decision_id = triage_str (s_val (res, i, 0));
        d->case_id = triage_str (s_val (res, i, 1));
        d->meeting_id = triage_str (s_val (res, i, 2));
        d->decided_at_us = s_i64 (res, i, 3);
        d->decided_by = triage_str (s_val (res, i, 4));
        if (s_parse_array (s_val (res, i, 5), &d->attendees, &d->n_attendees) != 0)
            d->n_attendees = 0;
        d->minutes = triage_str (s_val (res, i, 6));
        d->no_action_reason = triage_str (s_val (res, i, 7));
        d->no_youth_protection_reason = triage_str (s_val (res, i, 8));
        d->case_revision = triage_str (s_val (res, i, 9));
        triage_push ((void ***)out, n, d);
    }
    PQclear (res);
    res = s_exec (db,
                  "SELECT " S_TRACK_COLUMNS " FROM tracks WHERE case_id = $1"
                  " ORDER BY opened_us, decision_id, seq",
                  1, params, err);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples (res); i++)
        for (size_t k = 0; k < *n; k++)
            if (strcmp ((*out)[k]->decision_id, s_val (res, i, 2)) == 0) {
                Lantern__V1__Decision *d = (*out)[k];
                triage_push ((void ***)&d->tracks, &d->n_tracks, s_track (res, i, 0));
                break;
            }
    PQclear (res);
    return 0;
}

int
triage_store_case_tracks (ln_db_t *db, const char *case_id, bool active_only, bool for_update,
                          int64_t today, Lantern__V1__Track ***out, size_t *n, ln_error_t *err)
{
    *out = NULL;
    *n = 0;
    const char *params[1] = {case_id};
    const char *sql;
    if (active_only)
        sql = for_update ? "SELECT " S_TRACK_COLUMNS " FROM tracks WHERE case_id = $1"
                           " AND state IN (1, 2) ORDER BY opened_us, decision_id, seq FOR UPDATE"
                         : "SELECT " S_TRACK_COLUMNS " FROM tracks WHERE case_id = $1"
                           " AND state IN (1, 2) ORDER BY opened_us, decision_id, seq";
    else
        sql = for_update ? "SELECT " S_TRACK_COLUMNS " FROM tracks WHERE case_id = $1"
                           " ORDER BY opened_us, decision_id, seq FOR UPDATE"
                         : "SELECT " S_TRACK_COLUMNS " FROM tracks WHERE case_id = $1"
                           " ORDER BY opened_us, decision_id, seq";
    PGresult *res = s_exec (db, sql, 1, params, err);
    if (!res)
        return -1;
    return s_tracks (res, today, out, n);
}

int
triage_store_track_load (ln_db_t *db, const char *track_id, bool for_update, int64_t today,
                         Lantern__V1__Track **out, ln_error_t *err)
{
    *out = NULL;
    const char *params[1] = {track_id};
    PGresult *res =
        s_exec (db,
                for_update ? "SELECT " S_TRACK_COLUMNS " FROM tracks WHERE id = $1 FOR UPDATE"
                           : "SELECT " S_TRACK_COLUMNS " FROM tracks WHERE id = $1",
                1, params, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples (res) == 1) {
        *out = s_track (res, 0, today);
        rc = 1;
    }
    PQclear (res);
    return rc;
}

int
triage_store_track_update (ln_db_t *db, const Lantern__V1__Track *t, ln_error_t *err)
{
    s_nums_t n;
    const char *params[6] = {t->track_id,        s_num (&n, 0, t->state),         t->outcome,
                             t->handback_reason, s_num (&n, 1, t->updated_at_us), t->updated_by};
    return s_run (db,
                  "UPDATE tracks SET state = $2::smallint, outcome = $3, handback_reason = $4,"
                  " updated_us = $5::bigint, updated_by = $6 WHERE id = $1",
                  6, params, err);
}

int
triage_store_tracks_returned (ln_db_t *db, const char *case_id, const char *meeting_id,
                              ln_error_t *err)
{
    const char *params[2] = {case_id, meeting_id};
    return s_run (db,
                  "UPDATE tracks SET returned_meeting = $2 WHERE case_id = $1"
                  " AND returned_meeting IS NULL AND (kind = 6 OR state = 4)",
                  2, params, err);
}

int
triage_store_tracks_list (ln_db_t *db, const triage_track_filter_t *f, Lantern__V1__Track ***out,
                          size_t *n, ln_error_t *err)
{
    *out = NULL;
    *n = 0;
    s_nums_t t;
    char today[16];
    triage_date_format (f->today, today, sizeof today);
    const char *params[7] = {f->overdue ? "t" : "f",
                             today,
                             f->lead_organisation ? f->lead_organisation : "",
                             s_num (&t, 0, f->kind),
                             f->after_deadline ? f->after_deadline : "",
                             f->after_id ? f->after_id : "",
                             s_num (&t, 1, (int64_t)f->limit)};
    PGresult *res = s_exec (
        db,
        "SELECT " S_TRACK_COLUMNS " FROM tracks"
        " WHERE (NOT $1::boolean OR (state IN (1, 2) AND deadline < $2::date))"
        " AND ($3 = '' OR lead_organisation = $3) AND ($4::smallint = 0 OR kind = $4::smallint)"
        " AND ($6 = '' OR (coalesce (deadline, '9999-12-31'::date), id) > (nullif ($5, '')::date, "
        "$6))"
        " ORDER BY coalesce (deadline, '9999-12-31'::date), id LIMIT $7::bigint",
        7, params, err);
    if (!res)
        return -1;
    return s_tracks (res, f->today, out, n);
}

int
triage_store_case_close (ln_db_t *db, const char *case_id, int outcome, int64_t closed_us,
                         const char *by, const char *summary, ln_error_t *err)
{
    s_nums_t t;
    const char *params[5] = {case_id, s_num (&t, 0, outcome), s_num (&t, 1, closed_us), by,
                             summary ? summary : ""};
    return s_run (db,
                  "UPDATE cases SET state = 3, outcome = $2::smallint, closed_us = $3::bigint,"
                  " closed_by = $4, close_summary = $5 WHERE id = $1",
                  5, params, err);
}

/* --- the agenda ------------------------------------------------------------------------ */

int
triage_store_agenda (ln_db_t *db, int64_t day, triage_agenda_row_t **rows, size_t *n,
                     ln_error_t *err)
{
    *rows = NULL;
    *n = 0;
    char date[16];
    triage_date_format (day, date, sizeof date);
    const char *params[1] = {date};
    PGresult *res = s_exec (
        db,
        "SELECT c.id, c.opened_us,"
        " EXISTS (SELECT 1 FROM signals s WHERE s.case_id = c.id AND s.withdrawn_us IS NULL"
        "  AND s.discussed_meeting IS NULL),"
        " EXISTS (SELECT 1 FROM decisions d WHERE d.case_id = c.id),"
        " EXISTS (SELECT 1 FROM tracks t WHERE t.case_id = c.id AND t.kind = 6"
        "  AND t.returned_meeting IS NULL AND t.state IN (1, 2) AND t.deadline <= $1::date),"
        " EXISTS (SELECT 1 FROM tracks t WHERE t.case_id = c.id AND t.kind = 6"
        "  AND t.returned_meeting IS NULL AND t.state = 3),"
        " EXISTS (SELECT 1 FROM tracks t WHERE t.case_id = c.id AND t.kind <> 6"
        "  AND t.state IN (1, 2) AND t.deadline < $1::date),"
        " EXISTS (SELECT 1 FROM tracks t WHERE t.case_id = c.id AND t.state = 4"
        "  AND t.returned_meeting IS NULL)"
        " FROM cases c WHERE c.state IN (1, 2) ORDER BY c.id",
        1, params, err);
    if (!res)
        return -1;
    int count = PQntuples (res);
    *rows = ln_xcalloc (count ? (size_t)count : 1, sizeof **rows);
    for (int i = 0; i < count; i++) {
        unsigned r = 0;
        bool undiscussed = s_bool (res, i, 2), decided = s_bool (res, i, 3);
        if (undiscussed)
            r |= 1u << (decided ? LANTERN__V1__AGENDA_REASON__AGENDA_REASON_NEW_SIGNALS
                                : LANTERN__V1__AGENDA_REASON__AGENDA_REASON_NEW_CASE);
        if (s_bool (res, i, 4))
            r |= 1u << LANTERN__V1__AGENDA_REASON__AGENDA_REASON_MORE_INFORMATION_DUE;
        if (s_bool (res, i, 5))
            r |= 1u << LANTERN__V1__AGENDA_REASON__AGENDA_REASON_MORE_INFORMATION_READY;
        if (s_bool (res, i, 6))
            r |= 1u << LANTERN__V1__AGENDA_REASON__AGENDA_REASON_TRACK_OVERDUE;
        if (s_bool (res, i, 7))
            r |= 1u << LANTERN__V1__AGENDA_REASON__AGENDA_REASON_TRACK_HANDED_BACK;
        if (!r)
            continue;
        triage_agenda_row_t *row = &(*rows)[(*n)++];
        if (s_copy (row->case_id, sizeof row->case_id, res, i, 0, err) != 0) {
            PQclear (res);
            free (*rows);
            *rows = NULL;
            *n = 0;
            return -1;
        }
        row->opened_us = s_i64 (res, i, 1);
        row->reasons = r;
    }
    PQclear (res);
    return 0;
}

int
triage_store_agenda_tracks (ln_db_t *db, const char *case_id, int64_t day,
                            Lantern__V1__Track ***out, size_t *n, ln_error_t *err)
{
    *out = NULL;
    *n = 0;
    char date[16];
    triage_date_format (day, date, sizeof date);
    const char *params[2] = {case_id, date};
    PGresult *res = s_exec (db,
                            "SELECT " S_TRACK_COLUMNS " FROM tracks WHERE case_id = $1 AND ("
                            " (kind = 6 AND returned_meeting IS NULL"
                            "  AND (state = 3 OR (state IN (1, 2) AND deadline <= $2::date)))"
                            " OR (kind <> 6 AND state IN (1, 2) AND deadline < $2::date)"
                            " OR (state = 4 AND returned_meeting IS NULL))"
                            " ORDER BY opened_us, decision_id, seq",
                            2, params, err);
    if (!res)
        return -1;
    return s_tracks (res, day, out, n);
}

/* --- alerts ---------------------------------------------------------------------------- */

int
triage_store_alert_insert (ln_db_t *db, const char *alert_id, int kind, const char *signal_id,
                           int64_t raised_us, ln_error_t *err)
{
    s_nums_t t;
    const char *params[4] = {alert_id, s_num (&t, 0, kind), signal_id, s_num (&t, 1, raised_us)};
    PGresult *res = s_exec (db,
                            "INSERT INTO alerts (id, kind, signal_id, raised_us)"
                            " VALUES ($1, $2::smallint, $3, $4::bigint)"
                            " ON CONFLICT (id) DO NOTHING",
                            4, params, err);
    if (!res)
        return -1;
    int rc = strcmp (PQcmdTuples (res), "1") == 0 ? 1 : 0;
    PQclear (res);
    return rc;
}

#define S_ALERT_COLUMNS                                                                            \
    "a.id, a.kind, coalesce (s.case_id, ''), s.id, s.node, s.organisation, s.organisation_type,"   \
    " s.received_us, a.raised_us, coalesce (a.acknowledged_by, ''),"                               \
    " coalesce (a.acknowledged_us, 0), a.note"

static Lantern__V1__Alert *
s_alert (const PGresult *res, int i)
{
    Lantern__V1__Alert *a = triage_alloc (sizeof *a);
    lantern__v1__alert__init (a);
    a->alert_id = triage_str (s_val (res, i, 0));
    a->kind = (Lantern__V1__AlertKind)s_i64 (res, i, 1);
    a->case_id = triage_str (s_val (res, i, 2));
    Lantern__V1__CaseSignal *s = triage_alloc (sizeof *s);
    lantern__v1__case_signal__init (s);
    s->signal_id = triage_str (s_val (res, i, 3));
    s->node = triage_str (s_val (res, i, 4));
    s->organisation = triage_str (s_val (res, i, 5));
    s->organisation_type = (Lantern__V1__OrganisationType)s_i64 (res, i, 6);
    s->received_at_us = s_i64 (res, i, 7);
    a->signal = s;
    a->raised_at_us = s_i64 (res, i, 8);
    a->acknowledged_by = triage_str (s_val (res, i, 9));
    a->acknowledged_at_us = s_i64 (res, i, 10);
    a->note = triage_str (s_val (res, i, 11));
    return a;
}

int
triage_store_alert_load (ln_db_t *db, const char *alert_id, bool for_update,
                         Lantern__V1__Alert **out, ln_error_t *err)
{
    *out = NULL;
    const char *params[1] = {alert_id};
    PGresult *res = s_exec (
        db,
        for_update ? "SELECT " S_ALERT_COLUMNS " FROM alerts a JOIN signals s ON s.id = a.signal_id"
                     " WHERE a.id = $1 FOR UPDATE OF a"
                   : "SELECT " S_ALERT_COLUMNS " FROM alerts a JOIN signals s ON s.id = a.signal_id"
                     " WHERE a.id = $1",
        1, params, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples (res) == 1) {
        *out = s_alert (res, 0);
        rc = 1;
    }
    PQclear (res);
    return rc;
}

int
triage_store_alert_ack (ln_db_t *db, const char *alert_id, const char *by, int64_t at_us,
                        const char *note, ln_error_t *err)
{
    s_nums_t t;
    const char *params[4] = {alert_id, by, s_num (&t, 0, at_us), note ? note : ""};
    PGresult *res = s_exec (db,
                            "UPDATE alerts SET acknowledged_by = $2, acknowledged_us = $3::bigint,"
                            " note = $4 WHERE id = $1 AND acknowledged_by IS NULL",
                            4, params, err);
    if (!res)
        return -1;
    int rc = strcmp (PQcmdTuples (res), "1") == 0 ? 1 : 0;
    PQclear (res);
    return rc;
}

int
triage_store_alerts_list (ln_db_t *db, bool include_acknowledged, const char *case_id,
                          int64_t after_us, const char *after_id, size_t limit,
                          Lantern__V1__Alert ***out, size_t *n, ln_error_t *err)
{
    *out = NULL;
    *n = 0;
    s_nums_t t;
    const char *params[5] = {include_acknowledged ? "t" : "f", case_id ? case_id : "",
                             s_num (&t, 0, after_us), after_id ? after_id : "",
                             s_num (&t, 1, (int64_t)limit)};
    PGresult *res =
        s_exec (db,
                "SELECT " S_ALERT_COLUMNS " FROM alerts a JOIN signals s ON s.id = a.signal_id"
                " WHERE ($1::boolean OR a.acknowledged_by IS NULL)"
                " AND ($2 = '' OR s.case_id = $2)"
                " AND ($4 = '' OR (a.raised_us, a.id) > ($3::bigint, $4))"
                " ORDER BY a.raised_us, a.id LIMIT $5::bigint",
                5, params, err);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples (res); i++)
        triage_push ((void ***)out, n, s_alert (res, i));
    PQclear (res);
    return 0;
}
