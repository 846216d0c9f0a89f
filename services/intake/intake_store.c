/*  intake_store: the intake node's tables (see intake_store.h).

    Batches of new signals are written with one multi-row INSERT per table
    (VALUES lists of placeholders: still parameterised, and one round trip
    for the whole batch of a group commit).
*/
#include "intake_store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lantern.pb-c.h"
#include "ln_alloc.h"
#include "ln_audit.h"
#include "ln_outbox.h"

static const ln_migration_t s_migrations[] = {
    {100, "signals",
     "CREATE TABLE signals (\n"
     "    id text PRIMARY KEY,\n"
     "    organisation text NOT NULL,\n"
     "    submitted_by text NOT NULL,\n"
     "    status smallint NOT NULL,\n"
     "    version integer NOT NULL CHECK (version >= 1),\n"
     "    catalogue_version text NOT NULL,\n"
     "    municipality text NOT NULL,\n"
     "    forms_mask integer NOT NULL,\n"
     "    immediate_danger boolean NOT NULL,\n"
     "    minor_involved boolean NOT NULL,\n"
     "    persons integer NOT NULL,\n"
     "    received_us bigint NOT NULL,\n"
     "    updated_us bigint NOT NULL,\n"
     "    closed_us bigint,\n"
     "    record bytea NOT NULL\n"
     ");\n"
     "CREATE INDEX signals_by_received ON signals (organisation, received_us DESC, id DESC);\n"
     "CREATE INDEX signals_closed ON signals (closed_us) WHERE closed_us IS NOT NULL;\n"
     "CREATE TABLE signal_history (\n"
     "    signal_id text NOT NULL REFERENCES signals (id) ON DELETE CASCADE,\n"
     "    version integer NOT NULL,\n"
     "    action text NOT NULL,\n"
     "    principal text NOT NULL,\n"
     "    at_us bigint NOT NULL,\n"
     "    added bytea,\n"
     "    reason text,\n"
     "    PRIMARY KEY (signal_id, version)\n"
     ");\n"},
};

const ln_migration_t *
intake_store_migrations (size_t *count)
{
    *count = sizeof s_migrations / sizeof s_migrations[0];
    return s_migrations;
}

intake_row_t *
intake_row_new (void)
{
    intake_row_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    return self;
}

void
intake_row_destroy (intake_row_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    intake_row_t *self = *self_p;
    free (self->organisation);
    free (self->submitted_by);
    free (self->catalogue_version);
    free (self->municipality);
    free (self->record);
    free (self->action);
    free (self->principal);
    free (self->added);
    free (self->reason);
    free (self);
    *self_p = NULL;
}

void
intake_row_free (void *row)
{
    intake_row_t *self = row;
    intake_row_destroy (&self);
}

/* Text parameters of one row (the single-row statements). */
typedef struct {
    char num[8][24];
    char *hex[2];
} row_text_t;

static const char *
s_num (row_text_t *t, int slot, int64_t v)
{
    snprintf (t->num[slot], sizeof t->num[slot], "%" PRId64, v);
    return t->num[slot];
}

/* A batch of new signals travels as one binary array per column into one
   prepared INSERT ... SELECT FROM unnest (...) per table: no parsing,
   planning, hex or quoting per row (ln_db.h). */
enum { SIG_COLS = 14 };

int
intake_store_insert (ln_db_t *db, intake_row_t *const *rows, size_t n, ln_error_t *err)
{
    ln_db_array_t a[SIG_COLS];
    static const uint32_t types[SIG_COLS] = {
        LN_DB_OID_TEXT, LN_DB_OID_TEXT, LN_DB_OID_TEXT, LN_DB_OID_INT2, LN_DB_OID_INT8,
        LN_DB_OID_TEXT, LN_DB_OID_TEXT, LN_DB_OID_INT8, LN_DB_OID_INT2, LN_DB_OID_INT2,
        LN_DB_OID_INT8, LN_DB_OID_INT8, LN_DB_OID_INT8, LN_DB_OID_BYTEA};
    for (int c = 0; c < SIG_COLS; c++)
        ln_db_array_init (&a[c], types[c]);
    for (size_t i = 0; i < n; i++) {
        const intake_row_t *r = rows[i];
        ln_db_array_add_text (&a[0], r->id);
        ln_db_array_add_text (&a[1], r->organisation);
        ln_db_array_add_text (&a[2], r->submitted_by);
        ln_db_array_add_int2 (&a[3], (int16_t)r->status);
        ln_db_array_add_int8 (&a[4], r->version);
        ln_db_array_add_text (&a[5], r->catalogue_version);
        ln_db_array_add_text (&a[6], r->municipality);
        ln_db_array_add_int8 (&a[7], r->forms_mask);
        ln_db_array_add_int2 (&a[8], r->immediate_danger);
        ln_db_array_add_int2 (&a[9], r->minor_involved);
        ln_db_array_add_int8 (&a[10], r->persons);
        ln_db_array_add_int8 (&a[11], r->received_us);
        ln_db_array_add_int8 (&a[12], r->updated_us);
        ln_db_array_add (&a[13], r->record, r->record_size);
    }
    const char *values[SIG_COLS];
    int lengths[SIG_COLS], formats[SIG_COLS];
    for (int c = 0; c < SIG_COLS; c++) {
        values[c] = ln_db_array_data (&a[c]);
        lengths[c] = ln_db_array_size (&a[c]);
        formats[c] = 1;
    }
    PGresult *res = ln_db_exec_prepared (
        db, "intake_store_insert_signals",
        "INSERT INTO signals (id, organisation, submitted_by, status, version, catalogue_version,"
        " municipality, forms_mask, immediate_danger, minor_involved, persons, received_us,"
        " updated_us, record)"
        " SELECT u.id, u.org, u.by, u.st, u.v, u.cat, u.mun, u.forms, u.danger <> 0,"
        " u.minor <> 0, u.persons, u.rec_us, u.upd_us, u.record"
        " FROM unnest ($1::text[], $2::text[], $3::text[], $4::int2[], $5::int8[], $6::text[],"
        " $7::text[], $8::int8[], $9::int2[], $10::int2[], $11::int8[], $12::int8[],"
        " $13::int8[], $14::bytea[])"
        " AS u (id, org, by, st, v, cat, mun, forms, danger, minor, persons, rec_us, upd_us,"
        " record)",
        SIG_COLS, values, lengths, formats, 0, err);
    for (int c = 0; c < SIG_COLS; c++)
        ln_db_array_clear (&a[c]);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

int
intake_store_load (ln_db_t *db, const char *id, bool for_update, intake_current_t *cur,
                   ln_error_t *err)
{
    memset (cur, 0, sizeof *cur);
    const char *params[1] = {id};
    PGresult *res = ln_db_exec (db,
                                for_update ? "SELECT organisation, status, version, record"
                                             " FROM signals WHERE id = $1 FOR UPDATE"
                                           : "SELECT organisation, status, version, record"
                                             " FROM signals WHERE id = $1",
                                1, params, err);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples (res) == 1) {
        snprintf (cur->organisation, sizeof cur->organisation, "%s", PQgetvalue (res, 0, 0));
        cur->status = (int)strtol (PQgetvalue (res, 0, 1), NULL, 10);
        cur->version = (uint32_t)strtoul (PQgetvalue (res, 0, 2), NULL, 10);
        cur->record = ln_db_bytea_value (res, 0, 3, &cur->record_size);
        if (!cur->record) {
            ln_error_set (err, "INTAKE_CORRUPT", "signals.record", "signal %s has no record", id);
            rc = -1;
        }
        else
            rc = 1;
    }
    PQclear (res);
    return rc;
}

int
intake_store_update (ln_db_t *db, const intake_row_t *row, ln_error_t *err)
{
    int rc = -1;
    row_text_t t;
    memset (&t, 0, sizeof t);
    t.hex[0] = ln_db_bytea_param (row->record, row->record_size);
    t.hex[1] = row->added ? ln_db_bytea_param (row->added, row->added_size) : NULL;
    const char *params[11] = {row->id,
                              s_num (&t, 0, row->status),
                              s_num (&t, 1, row->version),
                              s_num (&t, 2, (int32_t)row->forms_mask),
                              row->immediate_danger ? "t" : "f",
                              row->minor_involved ? "t" : "f",
                              s_num (&t, 3, row->persons),
                              s_num (&t, 4, row->updated_us),
                              row->closed_us ? s_num (&t, 5, row->closed_us) : NULL,
                              t.hex[0],
                              NULL};
    PGresult *res = ln_db_exec (db,
                                "UPDATE signals SET status = $2::smallint, version = $3::integer,"
                                " forms_mask = $4::integer, immediate_danger = $5::boolean,"
                                " minor_involved = $6::boolean, persons = $7::integer,"
                                " updated_us = $8::bigint, closed_us = $9::bigint,"
                                " record = $10::bytea"
                                " WHERE id = $1 AND version = $3::integer - 1",
                                10, params, err);
    if (!res)
        goto out;
    bool updated = strcmp (PQcmdTuples (res), "1") == 0;
    PQclear (res);
    if (!updated) {
        ln_error_set (err, "INTAKE_CONFLICT", "signal_id",
                      "signal %s changed meanwhile; nothing changed, try again", row->id);
        goto out;
    }
    const char *hparams[7] = {row->id,   params[2], row->action, row->principal,
                              params[7], t.hex[1],  row->reason};
    if (ln_db_run (db,
                   "INSERT INTO signal_history (signal_id, version, action, principal, at_us,"
                   " added, reason) VALUES ($1, $2::integer, $3, $4, $5::bigint, $6::bytea, $7)",
                   7, hparams, err) != 0)
        goto out;
    rc = 0;
out:
    free (t.hex[0]);
    free (t.hex[1]);
    return rc;
}

uint8_t *
intake_pack (const ProtobufCMessage *msg, size_t *size)
{
    *size = protobuf_c_message_get_packed_size (msg);
    uint8_t *buf = malloc (*size ? *size : 1);
    if (!buf)
        abort ();
    protobuf_c_message_pack (msg, buf);
    return buf;
}

int
intake_store_history (ln_db_t *db, const char *id, intake_history_t **entries, size_t *n,
                      ln_error_t *err)
{
    *entries = NULL;
    *n = 0;
    const char *params[1] = {id};
    PGresult *res = ln_db_exec (db,
                                "SELECT version, action, principal, at_us, added, reason"
                                " FROM signal_history WHERE signal_id = $1 ORDER BY version",
                                1, params, err);
    if (!res)
        return -1;
    int rows = PQntuples (res);
    intake_history_t *e = calloc (rows ? (size_t)rows : 1, sizeof *e);
    if (!e)
        abort ();
    for (int i = 0; i < rows; i++) {
        e[i].version = (uint32_t)strtoul (PQgetvalue (res, i, 0), NULL, 10);
        e[i].action = ln_xstrdup (PQgetvalue (res, i, 1));
        e[i].principal = ln_xstrdup (PQgetvalue (res, i, 2));
        e[i].at_us = strtoll (PQgetvalue (res, i, 3), NULL, 10);
        e[i].added = ln_db_bytea_value (res, i, 4, &e[i].added_size);
        e[i].reason = PQgetisnull (res, i, 5) ? NULL : ln_xstrdup (PQgetvalue (res, i, 5));
    }
    PQclear (res);
    *entries = e;
    *n = (size_t)rows;
    return 0;
}

void
intake_history_free (intake_history_t *entries, size_t n)
{
    for (size_t i = 0; i < n && entries; i++) {
        free (entries[i].action);
        free (entries[i].principal);
        free (entries[i].added);
        free (entries[i].reason);
    }
    free (entries);
}

int
intake_store_list (ln_db_t *db, const intake_filter_t *f, intake_summary_fn fn, void *arg,
                   ln_error_t *err)
{
    char status[12], form[12], from[24], to[24], after_us[24], limit[24];
    snprintf (status, sizeof status, "%d", f->status);
    snprintf (form, sizeof form, "%d", f->form);
    snprintf (from, sizeof from, "%" PRId64, f->from_us);
    snprintf (to, sizeof to, "%" PRId64, f->to_us);
    snprintf (after_us, sizeof after_us, "%" PRId64, f->after_us);
    snprintf (limit, sizeof limit, "%zu", f->limit);
    const char *params[9] = {f->organisation,
                             status,
                             f->municipality ? f->municipality : "",
                             form,
                             from,
                             to,
                             after_us,
                             f->after_id ? f->after_id : "",
                             limit};
    /* One statement for every filter: an unset filter compares true.  The
       page condition is the row-value comparison that matches the index
       order (received_us DESC, id DESC). */
    PGresult *res =
        ln_db_exec (db,
                    "SELECT id, status, municipality, forms_mask, immediate_danger, minor_involved,"
                    " received_us, updated_us, persons, version, submitted_by FROM signals"
                    " WHERE organisation = $1"
                    " AND ($2::integer = 0 OR status = $2::integer)"
                    " AND ($3 = '' OR municipality = $3)"
                    " AND ($4::integer = 0 OR forms_mask & (1 << $4::integer) <> 0)"
                    " AND ($5::bigint = 0 OR received_us >= $5::bigint)"
                    " AND ($6::bigint = 0 OR received_us < $6::bigint)"
                    " AND ($8 = '' OR (received_us, id) < ($7::bigint, $8))"
                    " ORDER BY received_us DESC, id DESC LIMIT $9::bigint",
                    9, params, err);
    if (!res)
        return -1;
    int rows = PQntuples (res);
    for (int i = 0; i < rows; i++) {
        intake_summary_t s = {
            .id = PQgetvalue (res, i, 0),
            .status = (int)strtol (PQgetvalue (res, i, 1), NULL, 10),
            .municipality = PQgetvalue (res, i, 2),
            .forms_mask = (uint32_t)strtoul (PQgetvalue (res, i, 3), NULL, 10),
            .immediate_danger = PQgetvalue (res, i, 4)[0] == 't',
            .minor_involved = PQgetvalue (res, i, 5)[0] == 't',
            .received_us = strtoll (PQgetvalue (res, i, 6), NULL, 10),
            .updated_us = strtoll (PQgetvalue (res, i, 7), NULL, 10),
            .persons = (uint32_t)strtoul (PQgetvalue (res, i, 8), NULL, 10),
            .version = (uint32_t)strtoul (PQgetvalue (res, i, 9), NULL, 10),
            .submitted_by = PQgetvalue (res, i, 10),
        };
        fn (arg, &s);
    }
    PQclear (res);
    return rows;
}

int
intake_store_purge (ln_db_t *db, int64_t withdrawn_before_us, int64_t no_action_before_us,
                    size_t max, const char *by, ln_level_t level, size_t *purged, ln_error_t *err)
{
    int rc = -1;
    PGresult *res = NULL;
    ln_audit_entry_t *entries = NULL;
    char **objects = NULL;
    char **reasons = NULL;
    int rows = 0;
    *purged = 0;

    char wstatus[12], nstatus[12], wbefore[24], nbefore[24], limit[24];
    snprintf (wstatus, sizeof wstatus, "%d", LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_WITHDRAWN);
    snprintf (nstatus, sizeof nstatus, "%d",
              LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_CLOSED_NO_ACTION);
    snprintf (wbefore, sizeof wbefore, "%" PRId64, withdrawn_before_us);
    snprintf (nbefore, sizeof nbefore, "%" PRId64, no_action_before_us);
    snprintf (limit, sizeof limit, "%zu", max);
    const char *params[5] = {wstatus, wbefore, nstatus, nbefore, limit};

    if (ln_db_begin (db) != 0) {
        *err = *ln_db_last_error (db);
        goto out;
    }
    res = ln_db_exec (db,
                      "DELETE FROM signals WHERE id IN (SELECT id FROM signals"
                      " WHERE closed_us IS NOT NULL AND"
                      " ((status = $1::smallint AND $2::bigint > 0 AND closed_us < $2::bigint)"
                      " OR (status = $3::smallint AND $4::bigint > 0 AND closed_us < $4::bigint))"
                      " ORDER BY closed_us LIMIT $5::bigint FOR UPDATE)"
                      " RETURNING id, status, closed_us",
                      5, params, err);
    if (!res)
        goto out;
    rows = PQntuples (res);
    if (rows > 0) {
        entries = calloc ((size_t)rows, sizeof *entries);
        objects = calloc ((size_t)rows, sizeof *objects);
        reasons = calloc ((size_t)rows, sizeof *reasons);
        if (!entries || !objects || !reasons)
            abort ();
        for (int i = 0; i < rows; i++) {
            bool withdrawn = strcmp (PQgetvalue (res, i, 1), wstatus) == 0;
            objects[i] = ln_xstrdup (PQgetvalue (res, i, 0));
            size_t len = 160;
            reasons[i] = malloc (len);
            if (!reasons[i])
                abort ();
            snprintf (reasons[i], len, "retention: %s, closed at %s us",
                      withdrawn ? "withdrawn" : "case ended with NO_ACTION",
                      PQgetvalue (res, i, 2));
            entries[i] = (ln_audit_entry_t){
                .principal = by,
                .organisation = "",
                .action = "PurgeSignal",
                .object = objects[i],
                .outcome = LN_AUDIT_PURGED,
                .reason = reasons[i],
            };
        }
        if (ln_audit_append_batch (db, entries, (size_t)rows, err) != 0)
            goto out;
        /* Erased means erased everywhere: the signals' events in the log
           lose their payloads, and followers are told to erase theirs. */
        if (ln_outbox_erase (db, (const char *const *)objects, (size_t)rows, "retention purge",
                             level, NULL, err) != 0)
            goto out;
    }
    if (ln_db_commit (db) != 0) {
        *err = *ln_db_last_error (db);
        goto out;
    }
    *purged = (size_t)rows;
    rc = 0;
out:
    if (rc != 0)
        ln_db_rollback (db);
    PQclear (res);
    for (int i = 0; i < rows && objects; i++) {
        free (objects[i]);
        free (reasons[i]);
    }
    free (objects);
    free (reasons);
    free (entries);
    return rc;
}
