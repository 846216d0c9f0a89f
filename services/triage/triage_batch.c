/*  triage_batch: one batch of an intake node's events (see triage_batch.h).

    Routes.  Every SignalReceived that passes triage_link's checks, names a
    signal no other event of the batch names, shares no usable token with
    another event of the batch, and has indicators that travel as one
    comma-separated text (codes without commas, none empty), is a
    candidate.  One query tells which candidates triage already holds
    (duplicates), whose case id is taken, and the open cases whose active
    signals share one of their tokens.  Then:
      LONE   no such case: a case of its own (case.opened);
      JOIN   exactly one such case, joined by no other candidate, for which
             the partition of its members with the new signal is that case
             under its own name and the links of its members are what they
             were (triage_link_explain, computed here on the members read in
             one more query): the signal joins it (case.linked);
      GENERAL everything else, in order, through triage_link (after the
             writes of the others: see triage_batch.h for why the order may
             change).
    A JOIN gives what triage_link would: the same partition, the same links
    (its own is the new one: it is found by the same function), the same
    case row (its name and opening stay), the same history entry and
    events; a LONE the same as a signal that links nothing.

    A RENAME (an undecided case whose earliest signal the new one becomes,
    as when two linked signals reach triage in the other order) renames
    the case after it: the members move, the old row goes, every link is
    recomputed over all of them, case.opened and case.merged, as
    triage_link does.

    Writes: one round trip (ln_db_exec_all) of at most eleven set-based
    statements, whatever the number of signals: signals, tokens, the
    members a rename moves and the case they leave (signal_cases), cases
    deleted and inserted, case_history, links deleted and inserted, alerts,
    and the outbox rows of their events (ln_outbox_encode).  The events are built in C exactly as
    triage_link builds them from the store (facts over the members, signal
    entries, alerts), with the ids triage_event_id derives, so that a
    replay by either path gives the same rows.
*/
#include "triage_batch.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lantern.pb-c.h"
#include "ln_alloc.h"
#include "ln_log.h"
#include "ln_outbox.h"
#include "triage.h"
#include "triage.pb-c.h"
#include "triage_link.h"
#include "triage_store.h"

#define CS(x) LANTERN__V1__CASE_STATE__CASE_STATE_##x

#define T_RECEIVED  "nl.lantern.signal.received.v1"
#define T_AMENDED   "nl.lantern.signal.amended.v1"
#define T_WITHDRAWN "nl.lantern.signal.withdrawn.v1"

typedef enum { R_GENERAL = 0, R_LONE, R_JOIN, R_RENAME } route_t;

/* One member of a case a candidate joins (from the store), or the
   candidate itself. */
typedef struct {
    char *id, *node, *organisation, *municipality, *discussed;
    int organisation_type;
    int64_t received_us;
    uint32_t forms_mask;
    char **indicators;
    size_t n_indicators;
    bool danger, minor;
    triage_token_t *tokens;
    size_t n_tokens;
} member_t;

/* A case a candidate joins: its state and members. */
typedef struct {
    char id[TRIAGE_CASE_ID_SIZE];
    int state;
    int64_t opened_us;
    member_t *m;
    size_t n;
    size_t joiners; /* candidates that would join it */
} jcase_t;

typedef struct {
    const ln_event_t *ev;
    uint64_t position;
    const char *type;
    const char *id; /* the signal it names, or NULL */
    const Lantern__V1__Signal *sig;
    triage_token_t *tokens; /* usable, sorted by (kind, token), distinct */
    size_t n_tokens;
    bool candidate;
    route_t route;
    int64_t at_us;
    char case_id[TRIAGE_CASE_ID_SIZE];
    long jc;      /* JOIN: its case (index in the batch's cases), -1: none */
    long n_cases; /* open cases its tokens reach (-1: unknown) */
    bool exists;  /* triage holds the signal, or its case id is taken */
    /* JOIN: its link */
    const char *other_id, *other_node;
    int link_kind;
    char reason[192];
    /* RENAME: the links of every member and its own (parent index in the
       members, the new signal last; -1: none) */
    long *parents;
    int *kinds;
} item_t;

/* Routes taken, process-wide (triage_batch_routes); the node's one
   thread, a test's one thread. */
static triage_batch_routes_t s_routes;

void
triage_batch_routes (triage_batch_routes_t *out)
{
    *out = s_routes;
}

/* --- small helpers ------------------------------------------------------------------- */

static int
s_cmp_token (const void *a, const void *b)
{
    const triage_token_t *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp (x->token, y->token);
}

typedef struct {
    const char *text;
    size_t item;
    int kind;
} s_key_t;

static int
s_cmp_key (const void *a, const void *b)
{
    const s_key_t *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    int c = strcmp (x->text, y->text);
    if (c)
        return c;
    return x->item < y->item ? -1 : x->item > y->item;
}

static int
s_cmp_str (const void *a, const void *b)
{
    return strcmp (*(const char *const *)a, *(const char *const *)b);
}

/* The signal an event names, and its signal for the types that carry one. */
static const char *
s_named (const ln_event_t *ev, const Lantern__V1__Signal **sig)
{
    const char *type = ln_event_type (ev);
    const ProtobufCMessage *p = ln_event_payload (ev);
    *sig = NULL;
    if (!p)
        return NULL;
    if (strcmp (type, T_RECEIVED) == 0)
        *sig = ((const Lantern__V1__SignalReceived *)p)->signal;
    else if (strcmp (type, T_AMENDED) == 0)
        *sig = ((const Lantern__V1__SignalAmended *)p)->signal;
    else if (strcmp (type, T_WITHDRAWN) == 0)
        *sig = ((const Lantern__V1__SignalWithdrawn *)p)->signal;
    else if (strcmp (type, LN_OUTBOX_TYPE_ERASED) == 0)
        return ((const Lantern__V1__RecordErased *)p)->correlation_id;
    return *sig ? (*sig)->id : NULL;
}

/* Indicators that travel as one comma-separated text. */
static bool
s_indicators_plain (const Lantern__V1__SignalDetails *d)
{
    for (size_t i = 0; i < d->n_indicators; i++)
        if (!d->indicators[i][0] || strchr (d->indicators[i], ','))
            return false;
    return true;
}

static char *
s_join_indicators (const Lantern__V1__SignalDetails *d)
{
    size_t len = 1;
    for (size_t i = 0; i < d->n_indicators; i++)
        len += strlen (d->indicators[i]) + 1;
    char *out = ln_xcalloc (1, len);
    size_t used = 0;
    for (size_t i = 0; i < d->n_indicators; i++)
        used += (size_t)snprintf (out + used, len - used, "%s%s", i ? "," : "", d->indicators[i]);
    return out;
}

/* --- one event by itself ------------------------------------------------------------ */

static int
s_apply_one (ln_db_t *db, const char *upstream, const ln_event_t *ev, uint64_t position,
             triage_emitter_t *em, ln_error_t *err)
{
    const char *type = ln_event_type (ev);
    if (strcmp (type, LN_OUTBOX_TYPE_ERASED) == 0) {
        const Lantern__V1__RecordErased *r =
            (const Lantern__V1__RecordErased *)ln_event_payload (ev);
        return triage_link_erased (db, upstream, position, r ? r->correlation_id : NULL,
                                   r ? r->reason : NULL, ln_event_time_ms (ev) * 1000, em, err);
    }
    return triage_link_apply (db, upstream, position, type, ln_event_payload (ev), em, err);
}

/* --- routing ------------------------------------------------------------------------- */

/* Candidates: see the top of the file.  Items get their usable tokens. */
static void
s_candidates (item_t *it, size_t n, const char *upstream)
{
    /* ids named more than once */
    s_key_t *ids = ln_xcalloc (n ? n : 1, sizeof *ids);
    size_t ni = 0;
    for (size_t i = 0; i < n; i++)
        if (it[i].id)
            ids[ni++] = (s_key_t){.text = it[i].id, .item = i};
    triage_sort (ids, ni, sizeof *ids, s_cmp_key);
    bool *twice = ln_xcalloc (n ? n : 1, sizeof *twice);
    for (size_t i = 1; i < ni; i++)
        if (strcmp (ids[i].text, ids[i - 1].text) == 0)
            twice[ids[i].item] = twice[ids[i - 1].item] = true;
    free (ids);

    /* usable tokens of received and amended signals */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!it[i].sig || !it[i].sig->details || strcmp (it[i].type, T_WITHDRAWN) == 0)
            continue;
        size_t nt = 0;
        triage_token_t *all = triage_link_tokens (it[i].sig->details, &nt);
        it[i].tokens = ln_xcalloc (nt ? nt : 1, sizeof *it[i].tokens);
        for (size_t t = 0; t < nt; t++)
            if (triage_link_token_usable (all[t].kind, all[t].token))
                it[i].tokens[it[i].n_tokens++] = all[t];
        free (all);
        triage_sort (it[i].tokens, it[i].n_tokens, sizeof *it[i].tokens, s_cmp_token);
        size_t k = 0;
        for (size_t t = 0; t < it[i].n_tokens; t++)
            if (k == 0 || s_cmp_token (&it[i].tokens[k - 1], &it[i].tokens[t]) != 0)
                it[i].tokens[k++] = it[i].tokens[t];
        it[i].n_tokens = k;
        total += k;
    }
    /* tokens shared by two events of the batch */
    s_key_t *keys = ln_xcalloc (total ? total : 1, sizeof *keys);
    size_t nk = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t t = 0; t < it[i].n_tokens; t++)
            keys[nk++] =
                (s_key_t){.text = it[i].tokens[t].token, .item = i, .kind = it[i].tokens[t].kind};
    triage_sort (keys, nk, sizeof *keys, s_cmp_key);
    bool *shared = ln_xcalloc (n ? n : 1, sizeof *shared);
    for (size_t i = 1; i < nk; i++)
        if (keys[i].kind == keys[i - 1].kind && strcmp (keys[i].text, keys[i - 1].text) == 0)
            shared[keys[i].item] = shared[keys[i - 1].item] = true;
    free (keys);

    for (size_t i = 0; i < n; i++) {
        const Lantern__V1__Signal *sig = it[i].sig;
        if (strcmp (it[i].type, T_RECEIVED) != 0 || twice[i] || shared[i] ||
            triage_link_check_signal (sig, upstream, NULL) != 0 ||
            !s_indicators_plain (sig->details))
            continue;
        it[i].candidate = true;
        it[i].at_us = sig->received_at_us > 0 ? sig->received_at_us : sig->updated_at_us;
        triage_case_id_of (sig->id, it[i].case_id);
    }
    free (twice);
    free (shared);
}

/* One query: which candidates triage holds (or whose case id is taken),
   and the open cases their tokens reach. */
static int
s_lookup (ln_db_t *db, item_t *it, size_t n, jcase_t **jcases, size_t *njc, ln_error_t *err)
{
    ln_db_array_t ids, cases, kinds, tokens, owners;
    ln_db_array_init (&ids, LN_DB_OID_TEXT);
    ln_db_array_init (&cases, LN_DB_OID_TEXT);
    ln_db_array_init (&kinds, LN_DB_OID_INT2);
    ln_db_array_init (&tokens, LN_DB_OID_TEXT);
    ln_db_array_init (&owners, LN_DB_OID_TEXT);
    for (size_t i = 0; i < n; i++) {
        if (!it[i].candidate)
            continue;
        ln_db_array_add_text (&ids, it[i].sig->id);
        ln_db_array_add_text (&cases, it[i].case_id);
        for (size_t t = 0; t < it[i].n_tokens; t++) {
            ln_db_array_add_int2 (&kinds, (int16_t)it[i].tokens[t].kind);
            ln_db_array_add_text (&tokens, it[i].tokens[t].token);
            ln_db_array_add_text (&owners, it[i].sig->id);
        }
    }
    const char *values[5] = {ln_db_array_data (&ids), ln_db_array_data (&cases),
                             ln_db_array_data (&kinds), ln_db_array_data (&tokens),
                             ln_db_array_data (&owners)};
    int lengths[5] = {ln_db_array_size (&ids), ln_db_array_size (&cases), ln_db_array_size (&kinds),
                      ln_db_array_size (&tokens), ln_db_array_size (&owners)};
    int formats[5] = {1, 1, 1, 1, 1};
    PGresult *res =
        ln_db_exec_prepared (db, "triage_batch_lookup",
                             /* every part driven by the arrays, row by row through an index:
                                a generic plan over tables whose statistics lag (a replay
                                grows them from nothing) must not scan them */
                             "SELECT 0, s.id, '', 0 FROM unnest ($1::text[]) AS u (id)"
                             " JOIN signals s ON s.id = u.id"
                             " UNION ALL SELECT 0, 'sig-' || substr (c.id, 6), '', 0"
                             "  FROM unnest ($2::text[]) AS u (id) JOIN cases c ON c.id = u.id"
                             " UNION ALL SELECT DISTINCT 1, u.sid, s.case_id, c.state"
                             "  FROM unnest ($3::int2[], $4::text[], $5::text[]) AS u (k, t, sid)"
                             "  JOIN tokens tk ON tk.kind = u.k AND tk.token = u.t"
                             "  JOIN signals s ON s.id = tk.signal_id"
                             "  JOIN cases c ON c.id = s.case_id"
                             "  WHERE s.withdrawn_us IS NULL AND c.state IN (1, 2)",
                             5, values, lengths, formats, 0, err);
    ln_db_array_clear (&ids);
    ln_db_array_clear (&cases);
    ln_db_array_clear (&kinds);
    ln_db_array_clear (&tokens);
    ln_db_array_clear (&owners);
    if (!res)
        return -1;
    /* candidates by id, for the rows */
    s_key_t *by_id = ln_xcalloc (n ? n : 1, sizeof *by_id);
    size_t nb = 0;
    for (size_t i = 0; i < n; i++)
        if (it[i].candidate)
            by_id[nb++] = (s_key_t){.text = it[i].sig->id, .item = i};
    triage_sort (by_id, nb, sizeof *by_id, s_cmp_key);
    for (int r = 0; r < PQntuples (res); r++) {
        s_key_t want = {.text = PQgetvalue (res, r, 1)};
        size_t lo = 0, hi = nb;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (strcmp (by_id[mid].text, want.text) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == nb || strcmp (by_id[lo].text, want.text) != 0)
            continue;
        item_t *x = &it[by_id[lo].item];
        if (PQgetvalue (res, r, 0)[0] == '0') {
            x->exists = true;
            continue;
        }
        const char *case_id = PQgetvalue (res, r, 2);
        if (x->n_cases == 0 && strlen (case_id) < TRIAGE_CASE_ID_SIZE) {
            /* the first case it reaches (shared by every candidate that
               reaches it) */
            long jc = -1;
            for (size_t c = 0; c < *njc && jc < 0; c++)
                if (strcmp ((*jcases)[c].id, case_id) == 0)
                    jc = (long)c;
            if (jc < 0) {
                *jcases = ln_xrealloc (*jcases, *njc + 1, sizeof **jcases);
                jcase_t *c = &(*jcases)[*njc];
                memset (c, 0, sizeof *c);
                snprintf (c->id, sizeof c->id, "%s", case_id);
                c->state = (int)strtol (PQgetvalue (res, r, 3), NULL, 10);
                jc = (long)(*njc)++;
            }
            x->jc = jc;
        }
        x->n_cases++;
    }
    PQclear (res);
    free (by_id);
    return 0;
}

/* --- the cases candidates join -------------------------------------------------------- */

static void
s_member_free (member_t *m)
{
    free (m->id);
    free (m->node);
    free (m->organisation);
    free (m->municipality);
    free (m->discussed);
    for (size_t i = 0; i < m->n_indicators; i++)
        free (m->indicators[i]);
    free (m->indicators);
    for (size_t i = 0; i < m->n_tokens; i++)
        free ((char *)m->tokens[i].token);
    free (m->tokens);
}

static void
s_jcases_free (jcase_t *jc, size_t n)
{
    for (size_t c = 0; c < n; c++) {
        for (size_t i = 0; i < jc[c].n; i++)
            s_member_free (&jc[c].m[i]);
        free (jc[c].m);
    }
    free (jc);
}

/* The active members of every case that exactly one candidate joins, with
   their tokens: one query. */
static int
s_load_members (ln_db_t *db, jcase_t *jc, size_t njc, ln_error_t *err)
{
    ln_db_array_t ids;
    ln_db_array_init (&ids, LN_DB_OID_TEXT);
    size_t want = 0;
    for (size_t c = 0; c < njc; c++)
        if (jc[c].joiners == 1) {
            ln_db_array_add_text (&ids, jc[c].id);
            want++;
        }
    if (want == 0) {
        ln_db_array_clear (&ids);
        return 0;
    }
    const char *values[1] = {ln_db_array_data (&ids)};
    int lengths[1] = {ln_db_array_size (&ids)};
    int formats[1] = {1};
    PGresult *res = ln_db_exec_prepared (
        db, "triage_batch_members",
        "SELECT s.case_id, s.id, s.node, s.organisation, s.organisation_type, s.received_us,"
        " s.forms_mask, s.indicators, s.immediate_danger, s.minor_involved, s.municipality,"
        " c.opened_us, t.kind, t.token, coalesce (s.discussed_meeting, '')"
        " FROM unnest ($1::text[]) AS u (c) JOIN signals s ON s.case_id = u.c"
        " JOIN cases c ON c.id = s.case_id LEFT JOIN tokens t ON t.signal_id = s.id"
        " WHERE s.withdrawn_us IS NULL"
        " ORDER BY s.case_id, s.id, t.kind, t.token",
        1, values, lengths, formats, 0, err);
    ln_db_array_clear (&ids);
    if (!res)
        return -1;
    jcase_t *cur = NULL;
    member_t *m = NULL;
    for (int r = 0; r < PQntuples (res); r++) {
        const char *case_id = PQgetvalue (res, r, 0);
        if (!cur || strcmp (cur->id, case_id) != 0) {
            cur = NULL;
            for (size_t c = 0; c < njc && !cur; c++)
                if (strcmp (jc[c].id, case_id) == 0)
                    cur = &jc[c];
            m = NULL;
            if (!cur)
                continue;
        }
        const char *id = PQgetvalue (res, r, 1);
        if (!m || strcmp (m->id, id) != 0) {
            cur->m = ln_xrealloc (cur->m, cur->n + 1, sizeof *cur->m);
            m = &cur->m[cur->n++];
            memset (m, 0, sizeof *m);
            m->id = ln_xstrdup (id);
            m->node = ln_xstrdup (PQgetvalue (res, r, 2));
            m->organisation = ln_xstrdup (PQgetvalue (res, r, 3));
            m->organisation_type = (int)strtol (PQgetvalue (res, r, 4), NULL, 10);
            m->received_us = strtoll (PQgetvalue (res, r, 5), NULL, 10);
            m->forms_mask = (uint32_t)strtol (PQgetvalue (res, r, 6), NULL, 10);
            if (triage_store_parse_array (PQgetvalue (res, r, 7), &m->indicators,
                                          &m->n_indicators) != 0) {
                ln_error_set (err, "TRIAGE_CORRUPT", "indicators", "signal %s: unreadable", id);
                PQclear (res);
                return -1;
            }
            m->danger = PQgetvalue (res, r, 8)[0] == 't';
            m->minor = PQgetvalue (res, r, 9)[0] == 't';
            m->municipality = ln_xstrdup (PQgetvalue (res, r, 10));
            cur->opened_us = strtoll (PQgetvalue (res, r, 11), NULL, 10);
            m->discussed = ln_xstrdup (PQgetvalue (res, r, 14));
        }
        if (!PQgetisnull (res, r, 12)) {
            m->tokens = ln_xrealloc (m->tokens, m->n_tokens + 1, sizeof *m->tokens);
            m->tokens[m->n_tokens].kind = (int)strtol (PQgetvalue (res, r, 12), NULL, 10);
            m->tokens[m->n_tokens].token = ln_xstrdup (PQgetvalue (res, r, 13));
            m->n_tokens++;
        }
    }
    PQclear (res);
    return 0;
}

/* How item x goes with the one case its tokens reach (see the top of the
   file): R_JOIN (its link set), R_RENAME (an undecided case whose earliest
   signal it becomes: every member's link set), or R_GENERAL. */
static route_t
s_route_join (item_t *x, const jcase_t *jc)
{
    if (jc->n == 0 || (jc->state != CS (OPEN) && jc->state != CS (DECIDED)))
        return R_GENERAL;
    size_t n = jc->n + 1;
    triage_member_t *m = ln_xcalloc (n, sizeof *m);
    for (size_t i = 0; i < jc->n; i++)
        m[i] = (triage_member_t){.id = jc->m[i].id,
                                 .node = jc->m[i].node,
                                 .received_us = jc->m[i].received_us,
                                 .case_id = jc->id,
                                 .pinned = jc->state == CS (DECIDED),
                                 .pinned_opened_us = jc->opened_us,
                                 .tokens = jc->m[i].tokens,
                                 .n_tokens = jc->m[i].n_tokens};
    m[jc->n] = (triage_member_t){.id = x->sig->id,
                                 .node = x->sig->node,
                                 .received_us = x->sig->received_at_us,
                                 .tokens = x->tokens,
                                 .n_tokens = x->n_tokens};
    size_t *group = ln_xcalloc (n, sizeof *group);
    char (*ids)[TRIAGE_CASE_ID_SIZE] = ln_xcalloc (n, sizeof *ids);
    long *p0 = ln_xcalloc (n, sizeof *p0), *p1 = ln_xcalloc (n, sizeof *p1);
    int *k0 = ln_xcalloc (n, sizeof *k0), *k1 = ln_xcalloc (n, sizeof *k1);
    route_t route = R_GENERAL;
    if (triage_link_partition (m, n, group, ids) != 1)
        goto out;
    triage_link_explain (m, n, p1, k1);
    if (strcmp (ids[0], jc->id) == 0) {
        /* joins under the case's name: the others' links must hold */
        triage_link_explain (m, jc->n, p0, k0);
        bool same = p1[jc->n] >= 0;
        for (size_t i = 0; i < jc->n && same; i++)
            same = p0[i] == p1[i] && k0[i] == k1[i];
        if (!same)
            goto out;
        const member_t *other = &jc->m[p1[jc->n]];
        x->other_id = other->id;
        x->other_node = other->node;
        x->link_kind = k1[jc->n];
        triage_link_reason (x->link_kind, other->id, other->node, x->reason, sizeof x->reason);
        route = R_JOIN;
    }
    else if (jc->state == CS (OPEN) && strcmp (ids[0] + 5, x->sig->id + 4) == 0) {
        /* the earliest signal of an undecided case: it is renamed after it */
        x->parents = ln_xcalloc (n, sizeof *x->parents);
        x->kinds = ln_xcalloc (n, sizeof *x->kinds);
        memcpy (x->parents, p1, n * sizeof *p1);
        memcpy (x->kinds, k1, n * sizeof *k1);
        route = R_RENAME;
    }
out:
    free (m);
    free (group);
    free (ids);
    free (p0);
    free (p1);
    free (k0);
    free (k1);
    return route;
}

/* --- what the events carry, built as the store would ------------------------------------ */

static void
s_push_distinct (char ***items, size_t *n, const char *text)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp ((*items)[i], text) == 0)
            return;
    triage_push ((void ***)items, n, ln_xstrdup (text));
}

/* CaseFacts of the members and the new signal (triage_store_case_facts). */
static Lantern__V1__CaseFacts *
s_facts (const jcase_t *jc, const Lantern__V1__Signal *sig)
{
    Lantern__V1__CaseFacts *f = triage_alloc (sizeof *f);
    lantern__v1__case_facts__init (f);
    const Lantern__V1__SignalDetails *d = sig->details;
    uint32_t mask = triage_link_forms_mask (d);
    char **orgs = NULL;
    size_t n_orgs = 0;
    f->immediate_danger = d->immediate_danger;
    f->minor_involved = d->minor_involved;
    f->opened_at_us = sig->received_at_us;
    s_push_distinct (&orgs, &n_orgs, sig->organisation);
    for (size_t i = 0; i < d->n_indicators; i++)
        s_push_distinct (&f->indicators, &f->n_indicators, d->indicators[i]);
    s_push_distinct (&f->municipalities, &f->n_municipalities, d->municipality);
    size_t members = jc ? jc->n : 0;
    for (size_t i = 0; i < members; i++) {
        const member_t *m = &jc->m[i];
        mask |= m->forms_mask;
        f->immediate_danger |= m->danger;
        f->minor_involved |= m->minor;
        if (m->received_us < f->opened_at_us)
            f->opened_at_us = m->received_us;
        s_push_distinct (&orgs, &n_orgs, m->organisation);
        for (size_t k = 0; k < m->n_indicators; k++)
            s_push_distinct (&f->indicators, &f->n_indicators, m->indicators[k]);
        s_push_distinct (&f->municipalities, &f->n_municipalities, m->municipality);
    }
    for (int form = 1; form < 31; form++)
        if (mask & (1u << form))
            triage_push_enum ((int **)&f->forms, &f->n_forms, form);
    triage_sort (f->indicators, f->n_indicators, sizeof *f->indicators, s_cmp_str);
    triage_sort (f->municipalities, f->n_municipalities, sizeof *f->municipalities, s_cmp_str);
    f->signals = (uint32_t)(members + 1);
    f->partners = (uint32_t)n_orgs;
    for (size_t i = 0; i < n_orgs; i++)
        free (orgs[i]);
    free (orgs);
    return f;
}

/* A CaseSignal as triage_store_case_signals lists it; discussed NULL
   leaves the field unset. */
static Lantern__V1__CaseSignal *
s_case_signal_of (const char *id, const char *node, const char *organisation, int type,
                  int64_t received_us, const char *discussed)
{
    Lantern__V1__CaseSignal *s = triage_alloc (sizeof *s);
    lantern__v1__case_signal__init (s);
    s->signal_id = triage_str (id);
    s->node = triage_str (node);
    s->organisation = triage_str (organisation);
    s->organisation_type = type;
    s->received_at_us = received_us;
    if (discussed)
        s->discussed_at = triage_str (discussed);
    return s;
}

/* The CaseSignal of a new signal; full: as the store writes an
   undiscussed one. */
static Lantern__V1__CaseSignal *
s_case_signal (const Lantern__V1__Signal *sig, bool full)
{
    return s_case_signal_of (sig->id, sig->node, sig->organisation, sig->organisation_type,
                             sig->received_at_us, full ? "" : NULL);
}

/* The CaseSignal of a member. */
static Lantern__V1__CaseSignal *
s_member_signal (const member_t *m)
{
    return s_case_signal_of (m->id, m->node, m->organisation, m->organisation_type, m->received_us,
                             m->discussed);
}

/* Every signal of a renamed case, by (received, id), as the store lists
   them. */
static size_t
s_all_signals (const jcase_t *jc, const Lantern__V1__Signal *sig, Lantern__V1__CaseSignal ***out)
{
    size_t n = jc->n + 1;
    *out = ln_xcalloc (n, sizeof **out);
    for (size_t i = 0; i < jc->n; i++)
        (*out)[i] = s_member_signal (&jc->m[i]);
    (*out)[jc->n] = s_case_signal (sig, true);
    /* insertion sort by (received, id): cases are small */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            Lantern__V1__CaseSignal *a = (*out)[j - 1], *b = (*out)[j];
            if (a->received_at_us < b->received_at_us ||
                (a->received_at_us == b->received_at_us && strcmp (a->signal_id, b->signal_id) < 0))
                break;
            (*out)[j - 1] = b;
            (*out)[j] = a;
        }
    return n;
}

/* The events of one item, in triage_link's order (opened or linked, then
   its alerts), appended to *ev (payloads malloc'ed in *keep). */
typedef struct {
    ln_outbox_event_t *ev;
    size_t n;
    char (*ids)[LN_OUTBOX_EVENT_ID_SIZE];
    uint8_t **payloads;
} s_events_t;

static void
s_add_event (s_events_t *e, const char *upstream, const item_t *x, unsigned *seq, const char *type,
             const char *case_id, const ProtobufCMessage *msg, ln_level_t level)
{
    e->ev = ln_xrealloc (e->ev, e->n + 1, sizeof *e->ev);
    e->ids = ln_xrealloc (e->ids, e->n + 1, sizeof *e->ids);
    e->payloads = ln_xrealloc (e->payloads, e->n + 1, sizeof *e->payloads);
    size_t size = protobuf_c_message_get_packed_size (msg);
    uint8_t *buf = ln_xcalloc (1, size ? size : 1);
    protobuf_c_message_pack (msg, buf);
    triage_event_id (upstream, x->position, (*seq)++, e->ids[e->n]);
    e->payloads[e->n] = buf;
    e->ev[e->n] = (ln_outbox_event_t){.event_id = NULL, /* set once the array stops moving */
                                      .type = type,
                                      .level = level,
                                      .correlation_id = case_id,
                                      .time_us = x->at_us > 0 ? x->at_us : 0,
                                      .payload = buf,
                                      .payload_size = size};
    e->n++;
}

static void
s_item_events (s_events_t *e, const char *upstream, const item_t *x, const jcase_t *jc,
               ln_level_t level)
{
    unsigned seq = 0;
    Lantern__V1__CaseFacts *facts = s_facts (jc, x->sig);
    if (x->route == R_LONE) {
        Lantern__V1__CaseOpened ev = LANTERN__V1__CASE_OPENED__INIT;
        ev.case_id = (char *)x->case_id;
        Lantern__V1__CaseSignal *one = s_case_signal (x->sig, true);
        ev.signals = &one;
        ev.n_signals = 1;
        ev.facts = facts;
        s_add_event (e, upstream, x, &seq, TRIAGE_EVENT_CASE_OPENED, x->case_id, &ev.base, level);
        protobuf_c_message_free_unpacked (&one->base, NULL);
    }
    else if (x->route == R_RENAME) {
        Lantern__V1__CaseSignal **all = NULL;
        size_t n = s_all_signals (jc, x->sig, &all);
        Lantern__V1__CaseOpened op = LANTERN__V1__CASE_OPENED__INIT;
        op.case_id = (char *)x->case_id;
        op.signals = all;
        op.n_signals = n;
        op.facts = facts;
        s_add_event (e, upstream, x, &seq, TRIAGE_EVENT_CASE_OPENED, x->case_id, &op.base, level);
        Lantern__V1__CaseMerged me = LANTERN__V1__CASE_MERGED__INIT;
        char *merged = (char *)jc->id;
        me.case_id = (char *)x->case_id;
        me.merged_case_ids = &merged;
        me.n_merged_case_ids = 1;
        me.signals = all;
        me.n_signals = n;
        me.facts = facts;
        s_add_event (e, upstream, x, &seq, TRIAGE_EVENT_CASE_MERGED, x->case_id, &me.base, level);
        for (size_t i = 0; i < n; i++)
            protobuf_c_message_free_unpacked (&all[i]->base, NULL);
        free (all);
    }
    else {
        Lantern__V1__CaseLinked ev = LANTERN__V1__CASE_LINKED__INIT;
        ev.case_id = (char *)x->case_id;
        ev.signal = s_case_signal (x->sig, true);
        Lantern__V1__CaseLink link = LANTERN__V1__CASE_LINK__INIT;
        link.signal_id = x->sig->id;
        link.kind = x->link_kind;
        link.other_signal_id = (char *)x->other_id;
        link.other_node = (char *)x->other_node;
        link.reason = (char *)x->reason;
        ev.link = &link;
        ev.facts = facts;
        s_add_event (e, upstream, x, &seq, TRIAGE_EVENT_CASE_LINKED, x->case_id, &ev.base, level);
        protobuf_c_message_free_unpacked (&ev.signal->base, NULL);
    }
    static const struct {
        int kind;
        const char *suffix;
    } kinds[] = {{LANTERN__V1__ALERT_KIND__ALERT_KIND_IMMEDIATE_DANGER, "danger"},
                 {LANTERN__V1__ALERT_KIND__ALERT_KIND_MINOR_INVOLVED, "minor"}};
    for (size_t k = 0; k < 2; k++) {
        bool flag = k == 0 ? x->sig->details->immediate_danger : x->sig->details->minor_involved;
        if (!flag)
            continue;
        char id[TRIAGE_ID_SIZE];
        snprintf (id, sizeof id, "alert-%s-%s", x->sig->id + 4, kinds[k].suffix);
        Lantern__V1__Alert alert = LANTERN__V1__ALERT__INIT;
        alert.alert_id = id;
        alert.kind = kinds[k].kind;
        alert.case_id = (char *)x->case_id;
        alert.signal = s_case_signal (x->sig, false);
        alert.raised_at_us = x->at_us;
        Lantern__V1__AlertRaised ev = LANTERN__V1__ALERT_RAISED__INIT;
        ev.alert = &alert;
        ev.facts = facts;
        s_add_event (e, upstream, x, &seq, TRIAGE_EVENT_ALERT_RAISED, x->case_id, &ev.base, level);
        protobuf_c_message_free_unpacked (&alert.signal->base, NULL);
    }
    protobuf_c_message_free_unpacked (&facts->base, NULL);
}

/* --- the writes ------------------------------------------------------------------------ */

#define S_COLS 16

/* The arrays of every statement, one per column. */
enum { T_SIG, T_TOK, T_MOVE, T_SC, T_DELCASE, T_CASE, T_HIST, T_DELLINK, T_LINK, T_ALERT, T_N };
static const size_t s_widths[T_N] = {S_COLS, 3, 2, 2, 1, 3, 5, 1, 6, 4};
static const uint32_t s_types[T_N][S_COLS] = {
    [T_SIG] = {LN_DB_OID_TEXT, LN_DB_OID_TEXT, LN_DB_OID_TEXT, LN_DB_OID_INT2, LN_DB_OID_INT8,
               LN_DB_OID_TEXT, LN_DB_OID_TEXT, LN_DB_OID_INT8, LN_DB_OID_TEXT, LN_DB_OID_INT2,
               LN_DB_OID_INT2, LN_DB_OID_INT8, LN_DB_OID_INT8, LN_DB_OID_INT8, LN_DB_OID_TEXT,
               LN_DB_OID_BYTEA},
    [T_TOK] = {LN_DB_OID_INT2, LN_DB_OID_TEXT, LN_DB_OID_TEXT},
    [T_MOVE] = {LN_DB_OID_TEXT, LN_DB_OID_TEXT},
    [T_SC] = {LN_DB_OID_TEXT, LN_DB_OID_TEXT},
    [T_DELCASE] = {LN_DB_OID_TEXT},
    [T_CASE] = {LN_DB_OID_TEXT, LN_DB_OID_TEXT, LN_DB_OID_INT8},
    [T_HIST] = {LN_DB_OID_TEXT, LN_DB_OID_INT8, LN_DB_OID_TEXT, LN_DB_OID_TEXT, LN_DB_OID_TEXT},
    [T_DELLINK] = {LN_DB_OID_TEXT},
    [T_LINK] = {LN_DB_OID_TEXT, LN_DB_OID_TEXT, LN_DB_OID_INT2, LN_DB_OID_TEXT, LN_DB_OID_TEXT,
                LN_DB_OID_TEXT},
    [T_ALERT] = {LN_DB_OID_TEXT, LN_DB_OID_INT2, LN_DB_OID_TEXT, LN_DB_OID_INT8},
};
static const struct {
    const char *name, *sql;
} s_sql[T_N] = {
    [T_SIG] = {"triage_batch_signals",
               "INSERT INTO signals (id, node, organisation, organisation_type, version,"
               " catalogue_version, municipality, forms_mask, indicators, immediate_danger,"
               " minor_involved, received_us, updated_us, position, case_id, record)"
               " SELECT u.id, u.node, u.org, u.ot, u.v::integer, u.cv, u.mu, u.fm::integer,"
               " CASE WHEN u.ind = '' THEN '{}'::text[] ELSE string_to_array (u.ind, ',') END,"
               " u.dg <> 0, u.mn <> 0, u.rc, u.up, u.pos, u.cid, u.rec"
               " FROM unnest ($1::text[], $2::text[], $3::text[], $4::int2[], $5::int8[],"
               " $6::text[], $7::text[], $8::int8[], $9::text[], $10::int2[], $11::int2[],"
               " $12::int8[], $13::int8[], $14::int8[], $15::text[], $16::bytea[])"
               " AS u (id, node, org, ot, v, cv, mu, fm, ind, dg, mn, rc, up, pos, cid, rec)"},
    /* (no ON CONFLICT: the signals are new, their tokens distinct) */
    [T_TOK] = {"triage_batch_tokens", "INSERT INTO tokens (kind, token, signal_id)"
                                      " SELECT * FROM unnest ($1::int2[], $2::text[], $3::text[])"},
    [T_MOVE] = {"triage_batch_move", "UPDATE signals s SET case_id = u.c"
                                     " FROM unnest ($1::text[], $2::text[]) AS u (s, c)"
                                     " WHERE s.id = u.s"},
    [T_SC] = {"triage_batch_signal_cases", "INSERT INTO signal_cases (signal_id, case_id)"
                                           " SELECT * FROM unnest ($1::text[], $2::text[])"
                                           " ON CONFLICT DO NOTHING"},
    [T_DELCASE] = {"triage_batch_delete_cases",
                   "DELETE FROM cases c USING unnest ($1::text[]) AS u (id)"
                   " WHERE c.id = u.id"},
    [T_CASE] = {"triage_batch_cases", "INSERT INTO cases (id, state, anchor_signal, opened_us)"
                                      " SELECT u.c, 1, u.a, u.o"
                                      " FROM unnest ($1::text[], $2::text[], $3::int8[])"
                                      " AS u (c, a, o)"},
    [T_HIST] = {"triage_batch_history",
                "INSERT INTO case_history (case_id, at_us, action, signal_id, other_case_id)"
                " SELECT u.c, u.a, u.act, u.s, u.oc FROM unnest ($1::text[], $2::int8[],"
                " $3::text[], $4::text[], $5::text[]) WITH ORDINALITY AS u (c, a, act, s, oc, o)"
                " ORDER BY u.o"},
    [T_DELLINK] = {"triage_batch_delete_links",
                   "DELETE FROM links l USING unnest ($1::text[]) AS u (id)"
                   " WHERE l.signal_id = u.id"},
    [T_LINK] = {"triage_batch_links",
                "INSERT INTO links (signal_id, case_id, kind, other_signal_id, other_node, reason)"
                " SELECT * FROM unnest ($1::text[], $2::text[], $3::int2[], $4::text[],"
                " $5::text[], $6::text[])"},
    [T_ALERT] = {"triage_batch_alerts", "INSERT INTO alerts (id, kind, signal_id, raised_us)"
                                        " SELECT * FROM unnest ($1::text[], $2::int2[],"
                                        " $3::text[], $4::int8[])"},
};

static void
s_history (ln_db_array_t *h, const char *case_id, int64_t at, const char *action,
           const char *signal_id, const char *other)
{
    ln_db_array_add_text (&h[0], case_id);
    ln_db_array_add_int8 (&h[1], at);
    ln_db_array_add_text (&h[2], action);
    ln_db_array_add_text (&h[3], signal_id);
    ln_db_array_add_text (&h[4], other);
}

static void
s_link (ln_db_array_t *l, const char *signal_id, const char *case_id, int kind,
        const char *other_id, const char *other_node, const char *reason)
{
    ln_db_array_add_text (&l[0], signal_id);
    ln_db_array_add_text (&l[1], case_id);
    ln_db_array_add_int2 (&l[2], (int16_t)kind);
    ln_db_array_add_text (&l[3], other_id);
    ln_db_array_add_text (&l[4], other_node);
    ln_db_array_add_text (&l[5], reason);
}

/* The rows of one item into the arrays. */
static void
s_rows (ln_db_array_t (*a)[S_COLS], item_t *x, const jcase_t *jc)
{
    const Lantern__V1__Signal *sig = x->sig;
    const Lantern__V1__SignalDetails *d = sig->details;
    size_t rsize = 0;
    uint8_t *record = triage_link_record (sig, false, &rsize);
    char *ind = s_join_indicators (d);
    ln_db_array_t *sg = a[T_SIG];
    ln_db_array_add_text (&sg[0], sig->id);
    ln_db_array_add_text (&sg[1], sig->node);
    ln_db_array_add_text (&sg[2], sig->organisation);
    ln_db_array_add_int2 (&sg[3], (int16_t)sig->organisation_type);
    ln_db_array_add_int8 (&sg[4], sig->version);
    ln_db_array_add_text (&sg[5], sig->catalogue_version);
    ln_db_array_add_text (&sg[6], d->municipality);
    ln_db_array_add_int8 (&sg[7], (int32_t)triage_link_forms_mask (d));
    ln_db_array_add_text (&sg[8], ind);
    ln_db_array_add_int2 (&sg[9], d->immediate_danger);
    ln_db_array_add_int2 (&sg[10], d->minor_involved);
    ln_db_array_add_int8 (&sg[11], sig->received_at_us);
    ln_db_array_add_int8 (&sg[12], sig->updated_at_us);
    ln_db_array_add_int8 (&sg[13], (int64_t)x->position);
    ln_db_array_add_text (&sg[14], x->case_id);
    ln_db_array_add (&sg[15], record, rsize);
    free (record);
    free (ind);
    for (size_t t = 0; t < x->n_tokens; t++) {
        ln_db_array_add_int2 (&a[T_TOK][0], (int16_t)x->tokens[t].kind);
        ln_db_array_add_text (&a[T_TOK][1], x->tokens[t].token);
        ln_db_array_add_text (&a[T_TOK][2], sig->id);
    }
    ln_db_array_t *hi = a[T_HIST];
    if (x->route == R_LONE || x->route == R_RENAME) {
        ln_db_array_add_text (&a[T_CASE][0], x->case_id);
        ln_db_array_add_text (&a[T_CASE][1], sig->id);
        ln_db_array_add_int8 (&a[T_CASE][2], sig->received_at_us);
        s_history (hi, x->case_id, x->at_us, "opened", sig->id, "");
    }
    if (x->route == R_JOIN) {
        s_history (hi, x->case_id, x->at_us, "linked", sig->id, "");
        s_link (a[T_LINK], sig->id, x->case_id, x->link_kind, x->other_id, x->other_node,
                x->reason);
    }
    if (x->route == R_RENAME) {
        /* the members move to the new name; the old row goes; every link
           is as triage_link_explain says over all of them */
        for (size_t i = 0; i < jc->n; i++) {
            ln_db_array_add_text (&a[T_MOVE][0], jc->m[i].id);
            ln_db_array_add_text (&a[T_MOVE][1], x->case_id);
            ln_db_array_add_text (&a[T_SC][0], jc->m[i].id); /* the case it leaves */
            ln_db_array_add_text (&a[T_SC][1], jc->id);
            ln_db_array_add_text (&a[T_DELLINK][0], jc->m[i].id);
        }
        ln_db_array_add_text (&a[T_DELLINK][0], sig->id);
        ln_db_array_add_text (&a[T_DELCASE][0], jc->id);
        s_history (hi, jc->id, x->at_us, "merged", "", x->case_id);
        s_history (hi, x->case_id, x->at_us, "absorbed", "", jc->id);
        for (size_t i = 0; i <= jc->n; i++) {
            long p = x->parents[i];
            if (p < 0)
                continue;
            const char *id = i < jc->n ? jc->m[i].id : sig->id;
            const char *oid = (size_t)p < jc->n ? jc->m[p].id : sig->id;
            const char *onode = (size_t)p < jc->n ? jc->m[p].node : sig->node;
            char reason[192];
            triage_link_reason (x->kinds[i], oid, onode, reason, sizeof reason);
            s_link (a[T_LINK], id, x->case_id, x->kinds[i], oid, onode, reason);
        }
    }
    for (int k = 0; k < 2; k++) {
        bool flag = k == 0 ? d->immediate_danger : d->minor_involved;
        if (!flag)
            continue;
        char id[TRIAGE_ID_SIZE];
        snprintf (id, sizeof id, "alert-%s-%s", sig->id + 4, k == 0 ? "danger" : "minor");
        ln_db_array_add_text (&a[T_ALERT][0], id);
        ln_db_array_add_int2 (&a[T_ALERT][1],
                              k == 0 ? LANTERN__V1__ALERT_KIND__ALERT_KIND_IMMEDIATE_DANGER
                                     : LANTERN__V1__ALERT_KIND__ALERT_KIND_MINOR_INVOLVED);
        ln_db_array_add_text (&a[T_ALERT][2], sig->id);
        ln_db_array_add_int8 (&a[T_ALERT][3], x->at_us);
    }
}

static int
s_write (ln_db_t *db, const char *upstream, item_t *it, size_t n, const jcase_t *jcases,
         ln_level_t level, ln_error_t *err)
{
    int rc = -1;
    ln_db_array_t a[T_N][S_COLS];
    for (size_t t = 0; t < T_N; t++)
        for (size_t c = 0; c < s_widths[t]; c++)
            ln_db_array_init (&a[t][c], s_types[t][c]);
    s_events_t e = {NULL, 0, NULL, NULL};
    ln_outbox_encoded_t enc;
    bool encoded = false;
    PGresult *results[T_N + 1] = {NULL};
    size_t nstmt = 0;
    const char *values[T_N][S_COLS];
    int lengths[T_N][S_COLS];
    static const int ones[S_COLS] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    ln_db_stmt_t st[T_N + 1];

    for (size_t i = 0; i < n; i++) {
        item_t *x = &it[i];
        if (x->route == R_GENERAL)
            continue;
        const jcase_t *jc = x->route == R_LONE ? NULL : &jcases[x->jc];
        s_rows (a, x, jc);
        s_item_events (&e, upstream, x, jc, level);
    }
    if (a[T_SIG][0].count == 0) {
        rc = 0;
        goto out;
    }
    for (size_t i = 0; i < e.n; i++)
        e.ev[i].event_id = e.ids[i];
    /* in this order: a move before the deletes, deletes before inserts */
    for (size_t t = 0; t < T_N; t++) {
        if (a[t][0].count == 0)
            continue;
        for (size_t c = 0; c < s_widths[t]; c++) {
            values[t][c] = ln_db_array_data (&a[t][c]);
            lengths[t][c] = ln_db_array_size (&a[t][c]);
        }
        st[nstmt++] = (ln_db_stmt_t){
            s_sql[t].name, s_sql[t].sql, (int)s_widths[t], values[t], lengths[t], ones, 0};
    }
    if (ln_outbox_encode (db, e.ev, e.n, NULL, &enc, err) != 0)
        goto out;
    encoded = true;
    st[nstmt++] = enc.stmt;
    if (ln_db_exec_all (db, st, nstmt, results, err) != 0)
        goto out;
    if (ln_outbox_encoded_check (db, &enc, results[nstmt - 1], err) != 0)
        goto out;
    rc = 0;
out:
    for (size_t i = 0; i < nstmt; i++)
        PQclear (results[i]);
    if (encoded)
        ln_outbox_encoded_clear (&enc);
    for (size_t t = 0; t < T_N; t++)
        for (size_t c = 0; c < s_widths[t]; c++)
            ln_db_array_clear (&a[t][c]);
    for (size_t i = 0; i < e.n; i++)
        free (e.payloads[i]);
    free (e.ev);
    free (e.ids);
    free (e.payloads);
    return rc;
}

/* --- the batch ------------------------------------------------------------------------------ */

int
triage_batch_apply (ln_db_t *db, const char *upstream, ln_event_t *const *events,
                    const uint64_t *positions, size_t count, ln_level_t level, ln_error_t *err)
{
    int rc = -1;
    item_t *it = ln_xcalloc (count ? count : 1, sizeof *it);
    jcase_t *jcases = NULL;
    size_t njc = 0, candidates = 0;
    char **erased = NULL; /* the cases of the batch's erased signals */
    size_t n_erased_cases = 0, n_erased = 0;
    int64_t erased_at = 0;
    uint64_t erased_pos = 0;
    for (size_t i = 0; i < count; i++) {
        it[i].ev = events[i];
        it[i].position = positions[i];
        it[i].type = ln_event_type (events[i]);
        it[i].id = s_named (events[i], &it[i].sig);
        it[i].jc = -1;
    }
    s_candidates (it, count, upstream);
    for (size_t i = 0; i < count; i++)
        candidates += it[i].candidate;
    if (candidates > 0) {
        if (s_lookup (db, it, count, &jcases, &njc, err) != 0)
            goto out;
        for (size_t i = 0; i < count; i++)
            if (it[i].candidate && !it[i].exists && it[i].n_cases == 1 && it[i].jc >= 0)
                jcases[it[i].jc].joiners++;
        if (s_load_members (db, jcases, njc, err) != 0)
            goto out;
        for (size_t i = 0; i < count; i++) {
            item_t *x = &it[i];
            if (!x->candidate || x->exists)
                continue;
            if (x->n_cases == 0)
                x->route = R_LONE;
            else if (x->n_cases == 1 && x->jc >= 0 && jcases[x->jc].joiners == 1) {
                x->route = s_route_join (x, &jcases[x->jc]);
                if (x->route == R_JOIN)
                    snprintf (x->case_id, sizeof x->case_id, "%s", jcases[x->jc].id);
            }
        }
        if (s_write (db, upstream, it, count, jcases, level, err) != 0)
            goto out;
    }
    for (size_t i = 0; i < count; i++) {
        s_routes.lone += it[i].route == R_LONE;
        s_routes.join += it[i].route == R_JOIN;
        s_routes.rename += it[i].route == R_RENAME;
        s_routes.general += it[i].route == R_GENERAL;
    }
    ln_log_debug ("triage batch", "upstream=%s events=%zu lone=%llu join=%llu rename=%llu",
                  upstream, count, (unsigned long long)s_routes.lone,
                  (unsigned long long)s_routes.join, (unsigned long long)s_routes.rename);
    triage_emitter_t em = {.fn = triage_emit_outbox, .ctx = db, .level = level};
    /* Erasures (an intake node's retention purges in batches): each
       signal's copies go in order, the events of every case they were in
       together at the end, in one scan of the log. */
    for (size_t i = 0; i < count; i++) {
        if (it[i].route != R_GENERAL)
            continue;
        if (strcmp (it[i].type, LN_OUTBOX_TYPE_ERASED) == 0) {
            erased_at = ln_event_time_ms (events[i]) * 1000;
            erased_pos = positions[i];
            n_erased++;
            if (triage_link_erase_signal (db, upstream, positions[i], it[i].id, erased_at, &em,
                                          &erased, &n_erased_cases, err) != 0)
                goto out;
        }
        else if (s_apply_one (db, upstream, events[i], positions[i], &em, err) != 0)
            goto out;
    }
    if (n_erased_cases > 0) {
        char why[200];
        snprintf (why, sizeof why, "%zu signal%s erased by %s", n_erased, n_erased == 1 ? "" : "s",
                  upstream);
        em.upstream = upstream;
        em.position = erased_pos;
        em.n = 1000; /* after the numbers the erasures' own events took */
        if (triage_link_erase_cases (db, erased, n_erased_cases, why, erased_at, &em, err) != 0)
            goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < count; i++) {
        free (it[i].tokens);
        free (it[i].parents);
        free (it[i].kinds);
    }
    free (it);
    s_jcases_free (jcases, njc);
    for (size_t i = 0; i < n_erased_cases; i++)
        free (erased[i]);
    free (erased);
    return rc;
}
