/*  triage_query: the read commands (see triage_query.h).

    Page tokens are "<number>:<id>" (cases: opened_us and case id; alerts:
    raised_us and alert id) or "<YYYY-MM-DD>:<id>" (tracks: deadline, or
    9999-12-31 for none, and track id); they are checked as strictly as
    any input.
*/
#include "triage_query.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "triage.h"
#include "triage_store.h"

#define CS(x) LANTERN__V1__CASE_STATE__CASE_STATE_##x
#define TS(x) LANTERN__V1__TRACK_STATE__TRACK_STATE_##x

static int s_fail (ln_error_t *err, const char *code, const char *field, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static int
s_fail (ln_error_t *err, const char *code, const char *field, const char *fmt, ...)
{
    char message[LN_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (message, sizeof message, fmt, ap);
    va_end (ap);
    ln_error_set (err, code, field, "%s: %s", field, message);
    return -1;
}

static int
s_page_size (uint32_t asked, size_t *limit, ln_error_t *err)
{
    if (asked > TRIAGE_PAGE_MAX)
        return s_fail (err, "PAGE_TOO_LARGE", "page_size", "at most %d", TRIAGE_PAGE_MAX);
    *limit = asked ? asked : TRIAGE_PAGE_DEFAULT;
    return 0;
}

/* "<digits>:<id>": the number and the id (into id, id_size).  "" is the
   first page (0 and ""). */
static int
s_page_token (const char *token, int64_t *num, char *id, size_t id_size, ln_error_t *err)
{
    *num = 0;
    id[0] = '\0';
    if (!token || !*token)
        return 0;
    const char *colon = strchr (token, ':');
    size_t digits = colon ? (size_t)(colon - token) : 0;
    bool ok = colon && digits >= 1 && digits <= 18 && strlen (colon + 1) < id_size;
    for (size_t i = 0; ok && i < digits; i++)
        ok = token[i] >= '0' && token[i] <= '9';
    if (!ok)
        return s_fail (err, "BAD_PAGE_TOKEN", "page_token", "not a token this node gave");
    *num = strtoll (token, NULL, 10);
    snprintf (id, id_size, "%s", colon + 1);
    return 0;
}

/* --- checks -------------------------------------------------------------------------------- */

int
triage_query_check_get_case (const Lantern__V1__GetCase *cmd, ln_error_t *err)
{
    if (triage_blank (cmd->case_id))
        return s_fail (err, "MISSING_CASE_ID", "case_id", "required");
    if (!triage_case_id_valid (cmd->case_id))
        return s_fail (err, "INVALID_CASE_ID", "case_id", "not a case id (case-...)");
    const char *p = triage_text_problem (cmd->purpose, TRIAGE_PURPOSE_MAX, false, true);
    if (p && strcmp (p, "MISSING_TEXT") == 0)
        return s_fail (err, "MISSING_PURPOSE", "purpose", "say why the case is read (audited)");
    if (p)
        return s_fail (err, p, "purpose", "one line of at most %d bytes", TRIAGE_PURPOSE_MAX);
    return 0;
}

int
triage_query_check_list_cases (const Lantern__V1__ListCases *cmd, ln_error_t *err)
{
    size_t limit = TRIAGE_PAGE_DEFAULT;
    int64_t num;
    char id[TRIAGE_ID_SIZE];
    if (cmd->state < CS (UNSPECIFIED) || cmd->state > CS (MERGED))
        return s_fail (err, "UNKNOWN_STATE", "state", "not a case state");
    if (s_page_size (cmd->page_size, &limit, err) != 0 ||
        s_page_token (cmd->page_token, &num, id, sizeof id, err) != 0)
        return -1;
    if (*id && !triage_case_id_valid (id))
        return s_fail (err, "BAD_PAGE_TOKEN", "page_token", "not a token this node gave");
    return 0;
}

int
triage_query_check_list_alerts (const Lantern__V1__ListAlerts *cmd, ln_error_t *err)
{
    size_t limit = TRIAGE_PAGE_DEFAULT;
    int64_t num;
    char id[TRIAGE_ID_SIZE];
    if (s_page_size (cmd->page_size, &limit, err) != 0 ||
        s_page_token (cmd->page_token, &num, id, sizeof id, err) != 0)
        return -1;
    if (*id && strncmp (id, "alert-", 6) != 0)
        return s_fail (err, "BAD_PAGE_TOKEN", "page_token", "not a token this node gave");
    return 0;
}

/* A tracks token: "YYYY-MM-DD:trk-...". */
static int
s_track_token (const char *token, char *date, size_t date_size, char *id, size_t id_size,
               ln_error_t *err)
{
    date[0] = id[0] = '\0';
    if (!token || !*token)
        return 0;
    int64_t day;
    char d[11];
    if (strlen (token) < 12 || token[10] != ':')
        return s_fail (err, "BAD_PAGE_TOKEN", "page_token", "not a token this node gave");
    memcpy (d, token, 10);
    d[10] = '\0';
    if (triage_date_parse (d, &day) != 0 || !triage_prefixed_id_valid (token + 11, "trk-"))
        return s_fail (err, "BAD_PAGE_TOKEN", "page_token", "not a token this node gave");
    snprintf (date, date_size, "%s", d);
    snprintf (id, id_size, "%s", token + 11);
    return 0;
}

int
triage_query_check_list_tracks (const Lantern__V1__ListTracks *cmd, ln_error_t *err)
{
    size_t limit = TRIAGE_PAGE_DEFAULT;
    char date[16], id[TRIAGE_ID_SIZE];
    if (cmd->kind < LANTERN__V1__TRACK_KIND__TRACK_KIND_UNSPECIFIED ||
        cmd->kind > LANTERN__V1__TRACK_KIND__TRACK_KIND_NO_ACTION)
        return s_fail (err, "UNKNOWN_TRACK_KIND", "kind", "not a track kind");
    const char *p = triage_text_problem (cmd->lead_organisation, 200, false, false);
    if (p)
        return s_fail (err, p, "lead_organisation", "one line of at most 200 bytes");
    if (s_page_size (cmd->page_size, &limit, err) != 0 ||
        s_track_token (cmd->page_token, date, sizeof date, id, sizeof id, err) != 0)
        return -1;
    return 0;
}

/* --- GetCase ------------------------------------------------------------------------------- */

/* The record of an undecided case id that exists no more: what its
   history says.  1 made, 0 no history, -1. */
static int
s_gone_record (ln_db_t *db, const char *id, Lantern__V1__CaseRecord *r, ln_error_t *err)
{
    if (triage_store_case_history (db, id, TRIAGE_HISTORY_MAX, &r->history, &r->n_history, err) !=
        0)
        return -1;
    if (r->n_history == 0)
        return 0;
    r->case_id = triage_str (id);
    r->state = CS (CLOSED);
    for (size_t i = 0; i < r->n_history; i++)
        if (strcmp (r->history[i]->action, "closed") == 0) {
            r->outcome = LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_EMPTY;
            r->closed_at_us = r->history[i]->at_us;
        }
    if (triage_store_case_signals (db, id, true, &r->signals, &r->n_signals, err) != 0)
        return -1;
    r->facts = triage_alloc (sizeof *r->facts);
    lantern__v1__case_facts__init (r->facts);
    return 1;
}

int
triage_query_get_case (ln_db_t *db, const triage_query_env_t *env, const Lantern__V1__GetCase *cmd,
                       Lantern__V1__CaseRecord **out, ln_error_t *err)
{
    int rc = -1;
    char id[TRIAGE_CASE_ID_SIZE], revision[17];
    triage_case_row_t row;
    memset (&row, 0, sizeof row);
    *out = NULL;
    if (triage_query_check_get_case (cmd, err) != 0)
        return -1;
    Lantern__V1__CaseRecord *r = triage_alloc (sizeof *r);
    lantern__v1__case_record__init (r);
    r->asked_id = triage_str (cmd->case_id);
    int found = triage_store_resolve (db, cmd->case_id, id, err);
    if (found < 0)
        goto out;
    if (found == 0) {
        int gone = s_gone_record (db, cmd->case_id, r, err);
        if (gone < 0)
            goto out;
        if (gone == 0) {
            s_fail (err, "NOT_FOUND", "case_id", "no case %s", cmd->case_id);
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (triage_store_case_load (db, id, false, &row, err) != 1) {
        if (!err || !err->code)
            s_fail (err, "NOT_FOUND", "case_id", "no case %s", cmd->case_id);
        goto out;
    }
    r->case_id = triage_str (id);
    r->state = row.state;
    r->outcome = row.outcome;
    r->closed_at_us = row.closed_us;
    r->closed_by = triage_str (row.closed_by);
    r->close_summary = triage_str (row.close_summary);
    if (triage_store_case_facts (db, id, &r->facts, revision, err) != 0 ||
        triage_store_case_signals (db, id, true, &r->signals, &r->n_signals, err) != 0 ||
        triage_store_case_links (db, id, &r->links, &r->n_links, err) != 0 ||
        triage_store_case_decisions (db, id, &r->decisions, &r->n_decisions, err) != 0 ||
        triage_store_alerts_list (db, true, id, 0, "", 1000, &r->alerts, &r->n_alerts, err) != 0 ||
        triage_store_case_aliases (db, id, &r->merged_case_ids, &r->n_merged_case_ids, err) != 0 ||
        triage_store_case_history (db, id, TRIAGE_HISTORY_MAX, &r->history, &r->n_history, err) !=
            0)
        goto out;
    r->revision = triage_str (revision);
    r->score = triage_priority_score (env->w, r->facts, env->now_us);
    int64_t today = triage_slot_local_day (env->slot, env->now_us);
    for (size_t i = 0; i < r->n_decisions; i++)
        for (size_t k = 0; k < r->decisions[i]->n_tracks; k++) {
            Lantern__V1__Track *t = r->decisions[i]->tracks[k];
            int64_t day;
            t->overdue = (t->state == TS (OPEN) || t->state == TS (IN_PROGRESS)) &&
                         triage_date_parse (t->deadline, &day) == 0 && day < today;
        }
    rc = 0;
out:
    free (row.close_summary);
    if (rc == 0)
        *out = r;
    else
        protobuf_c_message_free_unpacked (&r->base, NULL);
    return rc;
}

/* --- ListCases -------------------------------------------------------------------------------- */

typedef struct {
    Lantern__V1__CaseList *list;
    triage_case_row_t last;
    size_t rows;
} s_cases_t;

static void
s_case_row (void *arg, const triage_case_row_t *row)
{
    s_cases_t *c = arg;
    Lantern__V1__CaseSummary *s = triage_alloc (sizeof *s);
    lantern__v1__case_summary__init (s);
    s->case_id = triage_str (row->id);
    s->state = row->state;
    triage_push ((void ***)&c->list->cases, &c->list->n_cases, s);
    c->last = *row;
    c->last.close_summary = NULL;
    c->rows++;
}

int
triage_query_list_cases (ln_db_t *db, const triage_query_env_t *env,
                         const Lantern__V1__ListCases *cmd, Lantern__V1__CaseList **out,
                         ln_error_t *err)
{
    size_t limit = TRIAGE_PAGE_DEFAULT;
    int64_t after_us;
    char after_id[TRIAGE_ID_SIZE], revision[17];
    *out = NULL;
    if (triage_query_check_list_cases (cmd, err) != 0 ||
        s_page_size (cmd->page_size, &limit, err) != 0 ||
        s_page_token (cmd->page_token, &after_us, after_id, sizeof after_id, err) != 0)
        return -1;
    s_cases_t c = {.list = triage_alloc (sizeof *c.list)};
    lantern__v1__case_list__init (c.list);
    if (triage_store_cases_list (db, cmd->state, after_us, after_id, limit, s_case_row, &c, err) <
        0)
        goto fail;
    for (size_t i = 0; i < c.list->n_cases; i++) {
        Lantern__V1__CaseSummary *s = c.list->cases[i];
        Lantern__V1__Track **tracks = NULL;
        size_t nt = 0;
        if (triage_store_case_facts (db, s->case_id, &s->facts, revision, err) != 0 ||
            triage_store_case_tracks (db, s->case_id, true, false, 0, &tracks, &nt, err) != 0)
            goto fail;
        Lantern__V1__Score *score = triage_priority_score (env->w, s->facts, env->now_us);
        s->score = score->total;
        protobuf_c_message_free_unpacked (&score->base, NULL);
        for (size_t k = 0; k < nt; k++) {
            triage_push_enum ((int **)&s->open_tracks, &s->n_open_tracks, tracks[k]->kind);
            protobuf_c_message_free_unpacked (&tracks[k]->base, NULL);
        }
        free (tracks);
    }
    if (c.rows == limit) {
        char token[64];
        snprintf (token, sizeof token, "%" PRId64 ":%s", c.last.opened_us, c.last.id);
        c.list->next_page_token = triage_str (token);
    }
    *out = c.list;
    return 0;
fail:
    protobuf_c_message_free_unpacked (&c.list->base, NULL);
    return -1;
}

/* --- ListAlerts, ListTracks ---------------------------------------------------------------- */

int
triage_query_list_alerts (ln_db_t *db, const triage_query_env_t *env,
                          const Lantern__V1__ListAlerts *cmd, Lantern__V1__AlertList **out,
                          ln_error_t *err)
{
    (void)env;
    size_t limit = TRIAGE_PAGE_DEFAULT;
    int64_t after_us;
    char after_id[TRIAGE_ID_SIZE];
    *out = NULL;
    if (triage_query_check_list_alerts (cmd, err) != 0 ||
        s_page_size (cmd->page_size, &limit, err) != 0 ||
        s_page_token (cmd->page_token, &after_us, after_id, sizeof after_id, err) != 0)
        return -1;
    Lantern__V1__AlertList *list = triage_alloc (sizeof *list);
    lantern__v1__alert_list__init (list);
    if (triage_store_alerts_list (db, cmd->include_acknowledged, NULL, after_us, after_id, limit,
                                  &list->alerts, &list->n_alerts, err) != 0) {
        protobuf_c_message_free_unpacked (&list->base, NULL);
        return -1;
    }
    if (list->n_alerts == limit) {
        char token[96];
        const Lantern__V1__Alert *last = list->alerts[limit - 1];
        snprintf (token, sizeof token, "%" PRId64 ":%s", last->raised_at_us, last->alert_id);
        list->next_page_token = triage_str (token);
    }
    *out = list;
    return 0;
}

int
triage_query_list_tracks (ln_db_t *db, const triage_query_env_t *env,
                          const Lantern__V1__ListTracks *cmd, Lantern__V1__TrackList **out,
                          ln_error_t *err)
{
    size_t limit = TRIAGE_PAGE_DEFAULT;
    char after_date[16], after_id[TRIAGE_ID_SIZE];
    *out = NULL;
    if (triage_query_check_list_tracks (cmd, err) != 0 ||
        s_page_size (cmd->page_size, &limit, err) != 0 ||
        s_track_token (cmd->page_token, after_date, sizeof after_date, after_id, sizeof after_id,
                       err) != 0)
        return -1;
    triage_track_filter_t f = {.overdue = cmd->overdue,
                               .lead_organisation = cmd->lead_organisation,
                               .kind = cmd->kind,
                               .today = triage_slot_local_day (env->slot, env->now_us),
                               .after_deadline = after_date,
                               .after_id = after_id,
                               .limit = limit};
    Lantern__V1__TrackList *list = triage_alloc (sizeof *list);
    lantern__v1__track_list__init (list);
    if (triage_store_tracks_list (db, &f, &list->tracks, &list->n_tracks, err) != 0) {
        protobuf_c_message_free_unpacked (&list->base, NULL);
        return -1;
    }
    if (list->n_tracks == limit) {
        char token[96];
        const Lantern__V1__Track *last = list->tracks[limit - 1];
        snprintf (token, sizeof token, "%s:%s", *last->deadline ? last->deadline : "9999-12-31",
                  last->track_id);
        list->next_page_token = triage_str (token);
    }
    *out = list;
    return 0;
}
