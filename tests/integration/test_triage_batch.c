/*  Integration tests of triage_batch (the consumer's set-based apply)
    against triage_link (one event at a time), on a real PostgreSQL, with
    events built and parsed as CloudEvents as the consumer gets them.

    Streams of two intake nodes are generated from a seed: signals about a
    small pool of people (name and date of birth, phones, plates), so that
    they link, join open cases, rename them (a signal reaching triage after
    a later one it links to), bridge two cases, link within one batch, or
    stand alone; some raise alerts; the mixed streams also amend and
    withdraw.  Each stream is applied twice, into fresh schemas, in the
    same interleaving of the two nodes:
      - one event per transaction through triage_link_apply: the reference;
      - through triage_batch_apply.
    Then:
      - one event per batch (every route, no reordering within a batch):
        every row, every history entry and every event of the outbox
        (id, type, case, payload bytes) is the same;
      - batches of many events (fast routes first, the rest in order): the
        same signals, tokens, cases, links and alerts, row by row;
      - the routes were all taken (counted from the events written).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "intake_tokens.h"
#include "lantern.pb-c.h"
#include "ln_alloc.h"
#include "ln_catalogue.h"
#include "ln_db.h"
#include "ln_envelope.h"
#include "ln_outbox.h"
#include "ln_pseudonym.h"
#include "pg_fixture.h"
#include "triage.h"
#include "triage_batch.h"
#include "triage_link.h"
#include "triage_node.h"
#include "triage_store.h"

#define T0 INT64_C (1779667200000000) /* 2026-05-25 00:00 UTC */

static ln_pgfix_t *s_fix;
static ln_pseudonym_key_t s_key;

static const char *const s_nodes[2] = {"intake-venlo", "intake-politie"};
static const char *const s_orgs[2] = {"gemeente-venlo", "politie-limburg-noord"};

typedef enum { EV_RECEIVED, EV_AMENDED, EV_WITHDRAWN } kind_t;

/* One event of a node's stream, with its parsed CloudEvent. */
typedef struct {
    int node;
    uint64_t position;
    ln_event_t *ev;
    long key; /* the order triage gets it in */
} event_t;

typedef struct {
    event_t *e;
    size_t n;
} stream_t;

static uint32_t s_rng;
static uint32_t
s_rand (void)
{
    s_rng = s_rng * 1103515245u + 12345u;
    return (s_rng >> 8) & 0xffffff;
}

static void
s_sig_id (char out[TRIAGE_SIGNAL_ID_SIZE], unsigned n)
{
    static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
    char chars[27];
    for (int i = 0; i < 26; i++) {
        chars[i] = b32[(n >> ((i % 6) * 5)) & 31];
        if (i >= 6)
            chars[i] = b32[(i * 7 + n) & 31];
    }
    chars[26] = '\0';
    snprintf (out, TRIAGE_SIGNAL_ID_SIZE, "sig-%s", chars);
}

/* A person of the pool. */
static Lantern__V1__Person *
s_person (unsigned who, bool phone)
{
    static const char *const names[] = {"Anna Kowalska", "Ewa Nowak",    "Jan Jansen",
                                        "Maria Popescu", "Olga Petrova", "Ivan Horvat"};
    Lantern__V1__Person *p = ln_xcalloc (1, sizeof *p);
    lantern__v1__person__init (p);
    p->role = LANTERN__V1__PERSON_ROLE__PERSON_ROLE_POSSIBLE_VICTIM;
    p->name = ln_xstrdup (names[who % 6]);
    char buf[32];
    snprintf (buf, sizeof buf, "19%02u-0%u-1%u", 70 + who % 25, 1 + who % 9, who % 10);
    if (who % 4)
        p->date_of_birth = ln_xstrdup (buf);
    if (phone) {
        snprintf (buf, sizeof buf, "06 %08u", 20000000 + who * 7);
        p->phone = ln_xstrdup (buf);
    }
    return p;
}

static Lantern__V1__Signal *
s_signal (unsigned n, int node, uint32_t version, unsigned who[2], size_t persons, bool flags)
{
    Lantern__V1__Signal *sig = ln_xcalloc (1, sizeof *sig);
    lantern__v1__signal__init (sig);
    char id[TRIAGE_SIGNAL_ID_SIZE];
    s_sig_id (id, n);
    sig->id = ln_xstrdup (id);
    sig->node = ln_xstrdup (s_nodes[node]);
    sig->organisation = ln_xstrdup (s_orgs[node]);
    sig->organisation_type = node ? 2 : 1;
    sig->status = 1;
    sig->version = version;
    sig->catalogue_version = ln_xstrdup ("2026.2");
    /* received times of the two nodes interleave: node 1's stream runs a
       little behind in time, so arrivals cross */
    sig->received_at_us = T0 + (int64_t)n * 1000000 + (node ? -2500000 : 0);
    sig->updated_at_us = sig->received_at_us + (int64_t)version * 1000;
    Lantern__V1__SignalDetails *d = ln_xcalloc (1, sizeof *d);
    lantern__v1__signal_details__init (d);
    d->observed_on = ln_xstrdup ("2026-05-20");
    d->municipality = ln_xstrdup (n % 3 ? "GM0983" : "GM1507");
    d->forms = ln_xcalloc (1, sizeof *d->forms);
    d->forms[0] = n % 5 ? 2 : 1;
    d->n_forms = 1;
    /* every 17th names no indicator: its repeated field is NULL, and a
       case's facts must still be built from it */
    if (n % 17 != 16) {
        d->indicators = ln_xcalloc (2, sizeof *d->indicators);
        d->indicators[d->n_indicators++] =
            ln_xstrdup (n % 2 ? "ILO_DECEPTION" : "LIVES_AT_WORKPLACE");
        if (n % 7 == 0)
            d->indicators[d->n_indicators++] = ln_xstrdup ("ILO_DEBT_BONDAGE");
    }
    d->immediate_danger = flags && n % 11 == 0;
    d->minor_involved = flags && n % 13 == 0;
    d->persons = ln_xcalloc (persons, sizeof *d->persons);
    for (size_t i = 0; i < persons; i++)
        d->persons[d->n_persons++] = s_person (who[i], (who[i] + n) % 3 != 0);
    if (n % 9 == 0) {
        Lantern__V1__Vehicle *v = ln_xcalloc (1, sizeof *v);
        lantern__v1__vehicle__init (v);
        v->licence_plate = ln_xstrdup (n % 2 ? "12-ABC-3" : "99-XYZ-1");
        d->vehicles = ln_xcalloc (1, sizeof *d->vehicles);
        d->vehicles[0] = v;
        d->n_vehicles = 1;
    }
    d->account = ln_xstrdup ("An account triage does not keep.");
    ln_error_t err;
    if (intake_tokens_fill (&s_key, d, "details", &err) != 0)
        fail_msg ("tokens: %s", err.message);
    sig->details = d;
    return sig;
}

/* The CloudEvent, built and parsed as the consumer gets it; NULL (with
   why in err) when the envelope's checks refuse it, at the node that
   builds it or at the consumer that parses it. */
static ln_event_t *
s_event_try (int node, uint64_t position, kind_t kind, Lantern__V1__Signal *sig, ln_error_t *err)
{
    static const char *const types[] = {"nl.lantern.signal.received.v1",
                                        "nl.lantern.signal.amended.v1",
                                        "nl.lantern.signal.withdrawn.v1"};
    Lantern__V1__SignalReceived r = LANTERN__V1__SIGNAL_RECEIVED__INIT;
    Lantern__V1__SignalAmended a = LANTERN__V1__SIGNAL_AMENDED__INIT;
    Lantern__V1__SignalWithdrawn w = LANTERN__V1__SIGNAL_WITHDRAWN__INIT;
    ProtobufCMessage *msg = kind == EV_RECEIVED ? &r.base : kind == EV_AMENDED ? &a.base : &w.base;
    r.signal = a.signal = w.signal = sig;
    w.reason = "a mistake";
    char source[80];
    snprintf (source, sizeof source, "urn:lantern:node:%s", s_nodes[node]);
    ln_event_fields_t f = {.source = source,
                           .type = types[kind],
                           .time_ms = sig->updated_at_us / 1000,
                           .sequence = position,
                           .level = LN_LEVEL_VERTROUWELIJK,
                           .correlationid = sig->id,
                           .payload = msg};
    size_t size = 0;
    uint8_t *bytes = ln_envelope_build (&f, &size, err);
    if (!bytes)
        return NULL;
    ln_event_t *ev = ln_envelope_parse (bytes, size, err);
    free (bytes);
    return ev;
}

static ln_event_t *
s_event (int node, uint64_t position, kind_t kind, Lantern__V1__Signal *sig)
{
    ln_error_t err;
    ln_error_clear (&err);
    ln_event_t *ev = s_event_try (node, position, kind, sig, &err);
    if (!ev)
        fail_msg ("event: %s %s", err.code, err.message);
    return ev;
}

static long s_delay; /* node 1's events reach triage this many events later */

static void
s_push (stream_t *s, int node, uint64_t position, ln_event_t *ev)
{
    s->e = ln_xrealloc (s->e, s->n + 1, sizeof *s->e);
    s->e[s->n] = (event_t){
        .node = node, .position = position, .ev = ev, .key = (long)s->n + (node ? s_delay : 0)};
    s->n++;
}

static int
s_cmp_key (const void *a, const void *b)
{
    const event_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->node - y->node;
}

/* n signals over two nodes, in the order triage gets them (node 1's
   `delay` events late); mixed: also amendments and withdrawals. */
static stream_t
s_stream (unsigned n, uint32_t seed, bool mixed, long delay)
{
    s_delay = delay;
    stream_t s = {NULL, 0};
    s_rng = seed;
    uint64_t pos[2] = {0, 0};
    uint32_t *versions = ln_xcalloc (n, sizeof *versions);
    unsigned (*who)[2] = ln_xcalloc (n, sizeof *who);
    int *nodes = ln_xcalloc (n, sizeof *nodes);
    bool *withdrawn = ln_xcalloc (n, sizeof *withdrawn);
    for (unsigned i = 0; i < n; i++) {
        nodes[i] = (int)(s_rand () % 2);
        /* a pool of 150 people: weak signals add up */
        who[i][0] = s_rand () % 150;
        who[i][1] = s_rand () % 150;
        /* every 19th names nobody (a place or a vehicle only): no tokens
           of persons, repeated fields NULL */
        size_t persons = i % 19 == 18 ? 0 : s_rand () % 4 == 0 ? 2 : 1;
        versions[i] = 1;
        Lantern__V1__Signal *sig = s_signal (i, nodes[i], 1, who[i], persons, true);
        uint64_t p = ++pos[nodes[i]];
        s_push (&s, nodes[i], p, s_event (nodes[i], p, EV_RECEIVED, sig));
        lantern__v1__signal__free_unpacked (sig, NULL);
        if (mixed && i > 5 && s_rand () % 8 == 0) {
            unsigned j = s_rand () % i;
            if (!withdrawn[j]) {
                bool withdraw = s_rand () % 2 == 0;
                versions[j]++;
                unsigned w2[2] = {who[j][0], s_rand () % 150};
                Lantern__V1__Signal *old = s_signal (j, nodes[j], versions[j], w2, 2, true);
                uint64_t pj = ++pos[nodes[j]];
                s_push (&s, nodes[j], pj,
                        s_event (nodes[j], pj, withdraw ? EV_WITHDRAWN : EV_AMENDED, old));
                lantern__v1__signal__free_unpacked (old, NULL);
                withdrawn[j] = withdraw;
                who[j][1] = w2[1];
            }
        }
    }
    free (versions);
    free (who);
    free (nodes);
    free (withdrawn);
    /* (each node's own events stay in their order: their keys grow) */
    qsort (s.e, s.n, sizeof *s.e, s_cmp_key);
    return s;
}

static void
s_stream_free (stream_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        ln_event_destroy (&s->e[i].ev);
    free (s->e);
}

/* --- applying ----------------------------------------------------------------------- */

static ln_db_t *
s_fresh_db (const char *schema)
{
    ln_error_t err;
    char sql[128];
    snprintf (sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", schema);
    ln_pgfix_exec (s_fix, sql);
    ln_db_t *db = ln_db_connect (ln_pgfix_conninfo (s_fix), schema, NULL, &err);
    if (!db)
        fail_msg ("%s", err.message);
    size_t n = 0;
    const ln_migration_t *own = triage_store_migrations (&n);
    ln_migration_t list[8];
    list[0] = ln_outbox_migration;
    for (size_t i = 0; i < n; i++)
        list[1 + i] = own[i];
    if (ln_db_migrate (db, list, n + 1, &err) != 0)
        fail_msg ("%s", err.message);
    return db;
}

/* The reference: each event alone through triage_link. */
static void
s_apply_reference (ln_db_t *db, const stream_t *s)
{
    triage_emitter_t em = {.fn = triage_emit_outbox, .ctx = db, .level = LN_LEVEL_VERTROUWELIJK};
    for (size_t i = 0; i < s->n; i++) {
        ln_error_t err;
        ln_error_clear (&err);
        assert_int_equal (ln_db_begin (db), 0);
        if (triage_link_apply (db, s_nodes[s->e[i].node], s->e[i].position,
                               ln_event_type (s->e[i].ev), ln_event_payload (s->e[i].ev), &em,
                               &err) != 0)
            fail_msg ("reference #%zu: %s %s", i, err.code, err.message);
        assert_int_equal (ln_db_commit (db), 0);
    }
}

/* Through triage_batch_apply: runs of one node's consecutive events, at
   most `size` per batch (as a consumer gets them). */
static void
s_apply_batched (ln_db_t *db, const stream_t *s, size_t size)
{
    ln_event_t **evs = ln_xcalloc (s->n, sizeof *evs);
    uint64_t *pos = ln_xcalloc (s->n, sizeof *pos);
    for (size_t i = 0; i < s->n;) {
        size_t k = 0;
        int node = s->e[i].node;
        while (i < s->n && s->e[i].node == node && k < size) {
            evs[k] = s->e[i].ev;
            pos[k] = s->e[i].position;
            k++;
            i++;
        }
        ln_error_t err;
        ln_error_clear (&err);
        assert_int_equal (ln_db_begin (db), 0);
        if (triage_batch_apply (db, s_nodes[node], evs, pos, k, LN_LEVEL_VERTROUWELIJK, &err) != 0)
            fail_msg ("batch ending at #%zu: %s %s", i, err.code, err.message);
        assert_int_equal (ln_db_commit (db), 0);
    }
    free (evs);
    free (pos);
}

/* Every row that must be the same, as one text. */
static char *
s_rows (const char *schema, bool with_log)
{
    char sql[4096];
    snprintf (
        sql, sizeof sql,
        "SELECT coalesce (string_agg (x, E'\\n' ORDER BY x), '') FROM ("
        " SELECT 'S|' || id || '|' || coalesce (case_id, '-') || '|' || version || '|'"
        "  || coalesce (withdrawn_us::text, '-') || '|' || position || '|' || md5 (record) || '|'"
        "  || indicators::text || '|' || forms_mask || '|' || organisation FROM %1$s.signals"
        " UNION ALL SELECT 'T|' || kind || '|' || token || '|' || signal_id FROM %1$s.tokens"
        " UNION ALL SELECT 'C|' || id || '|' || state || '|' || anchor_signal || '|' || opened_us"
        "  || '|' || coalesce (merged_into, '-') || '|' || coalesce (closed_us::text, '-') || '|'"
        "  || outcome FROM %1$s.cases"
        " UNION ALL SELECT 'L|' || signal_id || '|' || case_id || '|' || kind || '|'"
        "  || other_signal_id || '|' || other_node || '|' || reason FROM %1$s.links"
        " UNION ALL SELECT 'A|' || id || '|' || kind || '|' || signal_id || '|' || raised_us"
        "  FROM %1$s.alerts"
        " UNION ALL SELECT 'H|' || case_id || '|' || at_us || '|' || action || '|' || signal_id"
        "  || '|' || other_case_id || '|' || detail FROM %1$s.case_history WHERE %2$s"
        " UNION ALL SELECT 'E|' || event_id || '|' || type || '|' || correlation_id || '|'"
        "  || time_us || '|' || md5 (payload) FROM %1$s.outbox WHERE %2$s"
        " UNION ALL SELECT 'M|' || signal_id || '|' || case_id FROM %1$s.signal_cases WHERE %2$s"
        ") t (x)",
        schema, with_log ? "true" : "false");
    char *v = ln_pgfix_query_value (s_fix, sql, 0, NULL);
    assert_non_null (v);
    return v;
}

static long
s_count (const char *sql)
{
    char *v = ln_pgfix_query_value (s_fix, sql, 0, NULL);
    long n = v ? strtol (v, NULL, 10) : -1;
    free (v);
    return n;
}

/* --- tests ---------------------------------------------------------------------------- */

static void
s_compare (const stream_t *s, size_t batch, bool with_log)
{
    ln_db_t *ref = s_fresh_db ("tref");
    ln_db_t *bat = s_fresh_db ("tbat");
    s_apply_reference (ref, s);
    s_apply_batched (bat, s, batch);
    char *a = s_rows ("tref", with_log), *b = s_rows ("tbat", with_log);
    if (strcmp (a, b) != 0) {
        /* the first line that differs */
        size_t i = 0, line = 0;
        while (a[i] && a[i] == b[i]) {
            if (a[i] == '\n')
                line = i + 1;
            i++;
        }
        fail_msg ("rows differ (batches of %zu) at:\n  ref: %.240s\n  bat: %.240s", batch, a + line,
                  b + line);
    }
    assert_true (strlen (a) > 1000);
    free (a);
    free (b);
    ln_db_destroy (&ref);
    ln_db_destroy (&bat);
}

static void
test_one_event_per_batch_same_rows_history_and_events (void **state)
{
    (void)state;
    stream_t s = s_stream (240, 7, false, 40);
    triage_batch_routes_t r0, r1;
    triage_batch_routes (&r0);
    s_compare (&s, 1, true);
    triage_batch_routes (&r1);
    print_message ("routes: lone %llu, join %llu, rename %llu, general %llu\n",
                   (unsigned long long)(r1.lone - r0.lone), (unsigned long long)(r1.join - r0.join),
                   (unsigned long long)(r1.rename - r0.rename),
                   (unsigned long long)(r1.general - r0.general));
    assert_true (r1.lone - r0.lone > 10);
    assert_true (r1.join - r0.join > 10);
    assert_true (r1.rename - r0.rename > 3);
    assert_true (r1.general - r0.general > 3);
    /* every route was taken: lone cases, joins, renames, and the general
       path (a signal bridging two cases merges them) */
    assert_true (s_count ("SELECT count(*) FROM tbat.outbox WHERE type ="
                          " 'nl.lantern.case.linked.v1'") > 10);
    assert_true (s_count ("SELECT count(*) FROM tbat.case_history WHERE action = 'absorbed'") > 5);
    assert_true (s_count ("SELECT count(*) FROM tbat.cases") > 10);
    assert_true (s_count ("SELECT count(*) FROM tbat.alerts") > 5);
    s_stream_free (&s);
}

static void
test_large_batches_same_cases_links_and_alerts (void **state)
{
    (void)state;
    for (uint32_t seed = 1; seed <= 3; seed++) {
        stream_t s = s_stream (300, seed, false, seed * 20);
        triage_batch_routes_t r0, r1;
        triage_batch_routes (&r0);
        s_compare (&s, 1000, false);
        s_compare (&s, 17, false);
        triage_batch_routes (&r1);
        assert_true (r1.lone - r0.lone > 20 && r1.join - r0.join > 0);
        s_stream_free (&s);
    }
}

static void
test_mixed_streams_same_cases_links_and_alerts (void **state)
{
    (void)state;
    for (uint32_t seed = 11; seed <= 13; seed++) {
        stream_t s = s_stream (260, seed, true, 30);
        s_compare (&s, 1, false);
        s_compare (&s, 1000, false);
        s_compare (&s, 9, false);
        assert_true (s_count ("SELECT count(*) FROM tbat.signals WHERE withdrawn_us IS NOT NULL") >
                     0);
        s_stream_free (&s);
    }
}

/* --- a hostile upstream ------------------------------------------------------------- */

static char *
s_repeat (char c, size_t n)
{
    char *t = ln_xcalloc (1, n + 1);
    memset (t, c, n);
    return t;
}

static void
s_set_str (char **field, char *value)
{
    if (*field && *field != protobuf_c_empty_string)
        free (*field);
    *field = value;
}

static void
s_set_strings (char ***items, size_t *n, size_t count, char *(*make) (size_t))
{
    for (size_t i = 0; i < *n; i++)
        free ((*items)[i]);
    free (*items);
    *items = ln_xcalloc (count, sizeof **items);
    for (*n = 0; *n < count; (*n)++)
        (*items)[*n] = make (*n);
}

static char *
s_odd_indicator (size_t i)
{
    return i == 0   ? ln_xstrdup ("")
           : i == 1 ? ln_xstrdup ("ILO_DECEPTION,LIVES_AT_WORKPLACE")
                    : s_repeat ('I', 5000);
}

static char *
s_unknown_indicator (size_t i)
{
    char code[16];
    snprintf (code, sizeof code, "X_%03zu", i);
    return ln_xstrdup (code);
}

#define MUTATIONS 15

/* Mutation m of a valid signal event (number n, at node), as a registered
   but broken or hostile intake node may send it; *kind may change. */
static void
s_mutate (Lantern__V1__Signal *sig, unsigned n, int node, unsigned m, kind_t *kind)
{
    char id[TRIAGE_SIGNAL_ID_SIZE];
    Lantern__V1__SignalDetails *d = sig->details;
    Lantern__V1__Token *t0 =
        d->n_persons && d->persons[0]->n_tokens ? d->persons[0]->tokens[0] : NULL;
    switch (m) {
    case 0: /* not an intake signal id */
        s_set_str (&sig->id, ln_xstrdup ("sig-NOT-AN-INTAKE-ID"));
        break;
    case 1: /* no details */
        lantern__v1__signal_details__free_unpacked (d, NULL);
        sig->details = NULL;
        break;
    case 2: /* a signal of the other node */
        s_set_str (&sig->node, ln_xstrdup (s_nodes[!node]));
        break;
    case 3: /* the id of the other node's signal four before: taken */
    case 4: /* ... amended */
    case 5: /* ... withdrawn */
        s_sig_id (id, n - 4);
        s_set_str (&sig->id, ln_xstrdup (id));
        sig->version = 2;
        *kind = m == 3 ? EV_RECEIVED : m == 4 ? EV_AMENDED : EV_WITHDRAWN;
        break;
    case 6: /* an amendment of a signal never received */
    case 7: /* a withdrawal of one */
        s_sig_id (id, 100000 + n);
        s_set_str (&sig->id, ln_xstrdup (id));
        sig->version = 2;
        *kind = m == 6 ? EV_AMENDED : EV_WITHDRAWN;
        break;
    case 8: /* tokens that are not tokens */
        if (t0) {
            s_set_str (&t0->token,
                       d->persons[0]->n_tokens > 1 ? s_repeat ('z', 64) : s_repeat ('a', 3000));
            if (d->persons[0]->n_tokens > 1)
                s_set_str (&d->persons[0]->tokens[1]->token, s_repeat ('a', 3000));
        }
        break;
    case 9: /* indicators: empty, two in one, 5000 bytes */
        s_set_strings (&d->indicators, &d->n_indicators, 3, s_odd_indicator);
        break;
    case 10: /* 300 indicators no catalogue knows */
        s_set_strings (&d->indicators, &d->n_indicators, 300, s_unknown_indicator);
        break;
    case 11: /* times and version out of any range */
        sig->received_at_us = -1;
        sig->updated_at_us = INT64_MAX;
        sig->version = 0;
        break;
    case 12: /* forty copies of one person */
        if (d->n_persons) {
            d->persons = ln_xrealloc (d->persons, 40, sizeof *d->persons);
            for (size_t i = d->n_persons; i < 40; i++)
                d->persons[i] = s_person (n % 150, true);
            d->n_persons = 40;
            ln_error_t err;
            for (size_t i = 0; i < d->n_persons; i++)
                for (size_t k = 0; k < d->persons[i]->n_tokens; k++)
                    lantern__v1__token__free_unpacked (d->persons[i]->tokens[k], NULL);
            for (size_t i = 0; i < d->n_persons; i++) {
                free (d->persons[i]->tokens);
                d->persons[i]->tokens = NULL;
                d->persons[i]->n_tokens = 0;
            }
            if (intake_tokens_fill (&s_key, d, "details", &err) != 0)
                fail_msg ("tokens: %s", err.message);
        }
        break;
    case 13: /* empty texts where intake always writes one */
        s_set_str (&sig->catalogue_version, ln_xstrdup ("1999.9"));
        s_set_str (&d->municipality, ln_xstrdup (""));
        s_set_str (&sig->organisation, ln_xstrdup (""));
        break;
    case 14: /* one token two thousand times */
        if (t0) {
            Lantern__V1__Person *p = d->persons[0];
            p->tokens = ln_xrealloc (p->tokens, 2000, sizeof *p->tokens);
            for (size_t i = p->n_tokens; i < 2000; i++) {
                Lantern__V1__Token *t = ln_xcalloc (1, sizeof *t);
                lantern__v1__token__init (t);
                t->kind = t0->kind;
                t->token = ln_xstrdup (t0->token);
                p->tokens[i] = t;
            }
            p->n_tokens = 2000;
        }
        break;
    }
}

/* The outcome of each event: "" applied, else the code it was refused
   with ("envelope: CODE" when the envelope's checks stopped it first). */
typedef struct {
    char code[64];
    bool mutant;
} outcome_t;

static void
s_outcome (outcome_t *o, const ln_error_t *err)
{
    snprintf (o->code, sizeof o->code, "%s", err->code && *err->code ? err->code : "(no code)");
}

/* Events from a registered but hostile (or broken) intake node, between
   valid ones of its stream (every third event is one of the mutations
   above): applied one by one (the reference), and in batches as the
   consumer applies them (a refused batch again one event at a time, the
   refused event skipped as an operator would).  Both refuse the same
   events with the same code, a code that stops the consumer (not one that
   would retry for ever), never a valid event; and both end with the same
   rows.  Under the sanitizers, nothing of it may crash. */
static void
test_hostile_events_same_refusals_and_rows (void **state)
{
    (void)state;
    enum { N = 3 * MUTATIONS * 3 };
    ln_event_t **evs = ln_xcalloc (N, sizeof *evs);
    int *nodes = ln_xcalloc (N, sizeof *nodes);
    uint64_t *pos = ln_xcalloc (N, sizeof *pos);
    outcome_t *ref = ln_xcalloc (N, sizeof *ref), *bat = ln_xcalloc (N, sizeof *bat);
    uint64_t next[2] = {0, 0};
    s_rng = 99;
    int envelope = 0;
    for (unsigned i = 0; i < N; i++) {
        nodes[i] = (int)((i / 4) % 2);
        unsigned who[2] = {s_rand () % 40, s_rand () % 40};
        Lantern__V1__Signal *sig = s_signal (i, nodes[i], 1, who, 1 + i % 2, true);
        kind_t kind = EV_RECEIVED;
        bool mutant = i % 3 == 2;
        if (mutant)
            s_mutate (sig, i, nodes[i], (i / 3) % MUTATIONS, &kind);
        pos[i] = ++next[nodes[i]];
        ln_error_t err;
        ln_error_clear (&err);
        evs[i] = s_event_try (nodes[i], pos[i], kind, sig, &err);
        ref[i].mutant = bat[i].mutant = mutant;
        if (!evs[i]) {
            assert_true (mutant);
            snprintf (ref[i].code, sizeof ref[i].code, "envelope: %s", err.code);
            snprintf (bat[i].code, sizeof bat[i].code, "envelope: %s", err.code);
            envelope++;
        }
        lantern__v1__signal__free_unpacked (sig, NULL);
    }

    ln_db_t *rdb = s_fresh_db ("href");
    ln_db_t *bdb = s_fresh_db ("hbat");
    triage_emitter_t em = {.fn = triage_emit_outbox, .ctx = rdb, .level = LN_LEVEL_VERTROUWELIJK};
    for (size_t i = 0; i < N; i++) {
        if (!evs[i])
            continue;
        ln_error_t err;
        ln_error_clear (&err);
        assert_int_equal (ln_db_begin (rdb), 0);
        if (triage_link_apply (rdb, s_nodes[nodes[i]], pos[i], ln_event_type (evs[i]),
                               ln_event_payload (evs[i]), &em, &err) == 0)
            assert_int_equal (ln_db_commit (rdb), 0);
        else {
            s_outcome (&ref[i], &err);
            assert_int_equal (ln_db_rollback (rdb), 0);
        }
    }
    for (size_t i = 0; i < N;) {
        ln_event_t *b[8];
        uint64_t bp[8];
        size_t idx[8], k = 0;
        int node = nodes[i];
        for (; i < N && nodes[i] == node && k < 8; i++)
            if (evs[i]) {
                idx[k] = i;
                bp[k] = pos[i];
                b[k++] = evs[i];
            }
        ln_error_t err;
        ln_error_clear (&err);
        assert_int_equal (ln_db_begin (bdb), 0);
        if (triage_batch_apply (bdb, s_nodes[node], b, bp, k, LN_LEVEL_VERTROUWELIJK, &err) == 0) {
            assert_int_equal (ln_db_commit (bdb), 0);
            continue;
        }
        assert_int_equal (ln_db_rollback (bdb), 0);
        for (size_t j = 0; j < k; j++) {
            ln_error_clear (&err);
            assert_int_equal (ln_db_begin (bdb), 0);
            if (triage_batch_apply (bdb, s_nodes[node], b + j, bp + j, 1, LN_LEVEL_VERTROUWELIJK,
                                    &err) == 0)
                assert_int_equal (ln_db_commit (bdb), 0);
            else {
                s_outcome (&bat[idx[j]], &err);
                assert_int_equal (ln_db_rollback (bdb), 0);
            }
        }
    }

    int refused = 0, applied_mutants = 0;
    for (size_t i = 0; i < N; i++) {
        if (strcmp (ref[i].code, bat[i].code) != 0)
            fail_msg ("event #%zu (mutation %zu): one by one \"%s\", in batches \"%s\"", i,
                      (i / 3) % MUTATIONS, ref[i].code, bat[i].code);
        if (!ref[i].mutant)
            assert_string_equal (ref[i].code, "");
        else if (!*ref[i].code)
            applied_mutants++;
        else if (strncmp (ref[i].code, "envelope: ", 10) != 0) {
            refused++;
            if (strcmp (ref[i].code, "TRIAGE_BAD_EVENT") != 0 &&
                strcmp (ref[i].code, "TRIAGE_FOREIGN_SIGNAL") != 0)
                fail_msg ("event #%zu (mutation %zu) refused with %s: the consumer would retry it"
                          " for ever",
                          i, (i / 3) % MUTATIONS, ref[i].code);
        }
    }
    print_message ("hostile events: %d refused by triage, %d by the envelope, %d applied\n",
                   refused, envelope, applied_mutants);
    assert_true (refused >= 3 * 6);
    assert_true (applied_mutants > 0);
    char *a = s_rows ("href", false), *b = s_rows ("hbat", false);
    assert_string_equal (a, b);
    assert_true (strlen (a) > 1000);
    free (a);
    free (b);
    ln_db_destroy (&rdb);
    ln_db_destroy (&bdb);
    for (size_t i = 0; i < N; i++)
        ln_event_destroy (&evs[i]);
    free (evs);
    free (nodes);
    free (pos);
    free (ref);
    free (bat);
}

static int
s_setup (void **state)
{
    (void)state;
    static const ln_event_type_t types[] = {
        {"nl.lantern.signal.received.v1", &lantern__v1__signal_received__descriptor, true},
        {"nl.lantern.signal.amended.v1", &lantern__v1__signal_amended__descriptor, true},
        {"nl.lantern.signal.withdrawn.v1", &lantern__v1__signal_withdrawn__descriptor, true},
    };
    ln_envelope_register (types, 3, NULL);
    ln_envelope_register (triage_node_event_types, triage_node_event_type_count, NULL);
    for (size_t i = 0; i < sizeof s_key.bytes; i++)
        s_key.bytes[i] = (uint8_t)(i * 7 + 1);
    s_fix = ln_pgfix_new ("triage_batch");
    return s_fix ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    ln_pgfix_destroy (&s_fix);
    return 0;
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_one_event_per_batch_same_rows_history_and_events),
        cmocka_unit_test (test_large_batches_same_cases_links_and_alerts),
        cmocka_unit_test (test_mixed_streams_same_cases_links_and_alerts),
        cmocka_unit_test (test_hostile_events_same_refusals_and_rows),
    };
    return cmocka_run_group_tests_name ("triage_batch", tests, s_setup, s_teardown);
}
