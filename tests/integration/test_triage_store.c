/*  Integration tests of triage's store, linking and decisions on a real
    PostgreSQL (tests/support/pg_fixture), with real SignalReceived /
    SignalAmended / SignalWithdrawn payloads whose tokens are made as
    intake makes them (intake_tokens over common/ln_pseudonym, one regional
    key), each event applied in its own transaction as the consumer does,
    and the events triage writes read back from its outbox.

      - two signals about one person from two intake nodes, name and phone
        written differently: one case, both partners, the reason;
      - an unrelated signal: a case of its own; a common name alone, or a
        city alone, links nothing;
      - a third signal linking two cases merges them (history kept, both
        ids resolve); a withdrawn signal leaves, a case left empty closes,
        a withdrawn bridge splits what it joined;
      - immediate danger and a minor raise alert.raised once;
      - dropping the schema and replaying the two streams in other
        interleavings gives the same rows and the same agenda, byte for byte;
      - decisions, tracks, closing, acknowledging, with every refusal that
        needs the store, each leaving the rows as they were; a
        MORE_INFORMATION track brings its case back at its deadline
        (controllable clock); a CARE decision carries the victim for care.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "intake_cases.h"
#include "intake_tokens.h"
#include "lantern.pb-c.h"
#include "ln_alloc.h"
#include "ln_db.h"
#include "ln_outbox.h"
#include "pg_fixture.h"
#include "triage.h"
#include "triage.pb-c.h"
#include "triage_decide.h"
#include "triage_link.h"
#include "triage_meeting.h"
#include "triage_priority.h"
#include "triage_query.h"
#include "triage_store.h"

#define PROLE(x) LANTERN__V1__PERSON_ROLE__PERSON_ROLE_##x
#define FORM(x)  LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_##x
#define TK(x)    LANTERN__V1__TRACK_KIND__TRACK_KIND_##x
#define TS(x)    LANTERN__V1__TRACK_STATE__TRACK_STATE_##x
#define CS(x)    LANTERN__V1__CASE_STATE__CASE_STATE_##x
#define DAY_US   (86400LL * 1000000)
/* 2026-05-25 00:00 UTC, a Monday: signals arrive from here on. */
#define T0 INT64_C (1779667200000000)

static ln_pgfix_t *s_fix;
static ln_pseudonym_key_t s_key;
static ln_catalogue_t *s_cat;
static triage_weights_t s_w;
static triage_slot_t *s_slot;

/* --- building signals as intake sends them ------------------------------------------------ */

typedef struct {
    const char *name, *dob, *phone, *document;
    int role;
} person_t;

/* A signal id from a short tag: "sig-" + tag padded with 'a' to 26. */
static void
s_sig_id (char out[TRIAGE_SIGNAL_ID_SIZE], const char *tag)
{
    snprintf (out, TRIAGE_SIGNAL_ID_SIZE, "sig-%-26s", tag);
    for (char *p = out + 4; *p; p++) /* base32 has no space, 0, 1, 8 or 9 */
        *p = *p == ' '   ? 'a'
             : *p == '0' ? 'z'
             : *p == '1' ? 'y'
             : *p == '8' ? 'w'
             : *p == '9' ? 'v'
                         : *p;
}

typedef struct {
    const char *tag;
    const char *node;
    const char *organisation;
    int64_t received_us;
    const char *municipality;
    const char *indicator;
    bool danger, minor;
    person_t persons[3];
    const char *city; /* an address of only a city: no token */
} spec_t;

static Lantern__V1__SignalDetails *
s_details (const spec_t *s)
{
    Lantern__V1__SignalDetails *d = intake_cases_empty ();
    d->observed_on = ln_xstrdup ("2026-05-20");
    d->municipality = ln_xstrdup (s->municipality ? s->municipality : "GM0983");
    d->forms = ln_xcalloc (1, sizeof *d->forms);
    d->forms[0] = FORM (LABOUR);
    d->n_forms = 1;
    if (s->indicator) {
        d->indicators = ln_xcalloc (1, sizeof *d->indicators);
        d->indicators[0] = ln_xstrdup (s->indicator);
        d->n_indicators = 1;
    }
    d->account = ln_xstrdup ("Asparagus picker; the employer keeps her passport.");
    d->immediate_danger = s->danger;
    d->minor_involved = s->minor;
    for (size_t i = 0; i < 3 && s->persons[i].name; i++) {
        Lantern__V1__Person *p = ln_xcalloc (1, sizeof *p);
        lantern__v1__person__init (p);
        p->role = s->persons[i].role ? s->persons[i].role : PROLE (POSSIBLE_VICTIM);
        p->name = ln_xstrdup (s->persons[i].name);
        if (s->persons[i].dob)
            p->date_of_birth = ln_xstrdup (s->persons[i].dob);
        if (s->persons[i].phone)
            p->phone = ln_xstrdup (s->persons[i].phone);
        if (s->persons[i].document)
            p->document_number = ln_xstrdup (s->persons[i].document);
        d->persons = ln_xrealloc (d->persons, d->n_persons + 1, sizeof *d->persons);
        d->persons[d->n_persons++] = p;
    }
    if (s->city) {
        Lantern__V1__Address *a = ln_xcalloc (1, sizeof *a);
        lantern__v1__address__init (a);
        a->city = ln_xstrdup (s->city);
        d->addresses = ln_xcalloc (1, sizeof *d->addresses);
        d->addresses[0] = a;
        d->n_addresses = 1;
    }
    ln_error_t err;
    if (intake_tokens_fill (&s_key, d, "details", &err) != 0)
        fail_msg ("tokens: %s", err.message);
    return d;
}

static Lantern__V1__Signal *
s_signal (const spec_t *s, uint32_t version, int64_t updated_us, int status)
{
    char id[TRIAGE_SIGNAL_ID_SIZE];
    s_sig_id (id, s->tag);
    Lantern__V1__Signal *sig = ln_xcalloc (1, sizeof *sig);
    lantern__v1__signal__init (sig);
    sig->id = ln_xstrdup (id);
    sig->node = ln_xstrdup (s->node);
    sig->organisation = ln_xstrdup (s->organisation);
    sig->organisation_type = strstr (s->node, "politie") ? 2 : 1;
    sig->status = status;
    sig->version = version;
    sig->catalogue_version = ln_xstrdup (ln_catalogue_version (s_cat));
    sig->received_at_us = s->received_us;
    sig->updated_at_us = updated_us;
    sig->details = s_details (s);
    return sig;
}

/* One intake event of a stream. */
typedef enum { EV_RECEIVED, EV_AMENDED, EV_WITHDRAWN } ev_kind_t;
typedef struct {
    ev_kind_t kind;
    const char *upstream;
    uint64_t position;
    spec_t spec; /* the signal as it is after the event */
    uint32_t version;
    int64_t at_us;
} event_t;

static int
s_apply_event (ln_db_t *db, const event_t *e, ln_error_t *err)
{
    int status = e->kind == EV_WITHDRAWN ? LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_WITHDRAWN
                                         : LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_RECEIVED;
    Lantern__V1__Signal *sig = s_signal (&e->spec, e->version, e->at_us, status);
    triage_emitter_t em = {.fn = triage_emit_outbox, .ctx = db, .level = LN_LEVEL_VERTROUWELIJK};
    int rc;
    /* As the consumer gets it: packed on the wire, decoded, dispatched by
       its CloudEvent type. */
    ProtobufCMessage *msg;
    const char *type;
    Lantern__V1__SignalReceived received = LANTERN__V1__SIGNAL_RECEIVED__INIT;
    Lantern__V1__SignalAmended amended = LANTERN__V1__SIGNAL_AMENDED__INIT;
    Lantern__V1__SignalWithdrawn withdrawn = LANTERN__V1__SIGNAL_WITHDRAWN__INIT;
    if (e->kind == EV_RECEIVED) {
        received.signal = sig;
        msg = &received.base;
        type = "nl.lantern.signal.received.v1";
    }
    else if (e->kind == EV_AMENDED) {
        amended.signal = sig;
        msg = &amended.base;
        type = "nl.lantern.signal.amended.v1";
    }
    else {
        withdrawn.signal = sig;
        withdrawn.reason = (char *)"entered by mistake";
        msg = &withdrawn.base;
        type = "nl.lantern.signal.withdrawn.v1";
    }
    size_t size = protobuf_c_message_get_packed_size (msg);
    uint8_t *wire = ln_xcalloc (1, size);
    protobuf_c_message_pack (msg, wire);
    ProtobufCMessage *decoded = protobuf_c_message_unpack (msg->descriptor, NULL, size, wire);
    free (wire);
    assert_non_null (decoded);
    assert_int_equal (ln_db_begin (db), 0);
    rc = triage_link_apply (db, e->upstream, e->position, type, decoded, &em, err);
    protobuf_c_message_free_unpacked (decoded, NULL);
    if (rc == 0)
        assert_int_equal (ln_db_commit (db), 0);
    else
        ln_db_rollback (db);
    lantern__v1__signal__free_unpacked (sig, NULL);
    return rc;
}

static void
s_apply_ok (ln_db_t *db, const event_t *e)
{
    ln_error_t err;
    ln_error_clear (&err);
    if (s_apply_event (db, e, &err) != 0)
        fail_msg ("%s #%" PRIu64 ": %s (%s)", e->upstream, e->position, err.message,
                  err.code ? err.code : "?");
}

/* --- the database ---------------------------------------------------------------------------- */

static ln_db_t *
s_fresh_db (void)
{
    ln_error_t err;
    ln_pgfix_exec (s_fix, "DROP SCHEMA IF EXISTS triage CASCADE");
    ln_db_t *db = ln_db_connect (ln_pgfix_conninfo (s_fix), "triage", NULL, &err);
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

static char *
s_value (const char *sql)
{
    char *v = ln_pgfix_query_value (s_fix, sql, 0, NULL);
    return v ? v : ln_xstrdup ("");
}

static long
s_count (const char *sql)
{
    char *v = s_value (sql);
    long n = strtol (v, NULL, 10);
    free (v);
    return n;
}

/* Every row that must be the same after a replay, as one text. */
static char *
s_snapshot (void)
{
    return s_value (
        "SELECT coalesce (string_agg (x, E'\\n' ORDER BY x), '') FROM ("
        " SELECT 'S|' || id || '|' || node || '|' || coalesce (case_id, '-') || '|' || version"
        "  || '|' || coalesce (withdrawn_us::text, '-') || '|' || position || '|' || md5 (record)"
        "  || '|' || coalesce (discussed_meeting, '-') || '|' || indicators::text FROM "
        "triage.signals"
        " UNION ALL SELECT 'T|' || kind || '|' || token || '|' || signal_id FROM triage.tokens"
        " UNION ALL SELECT 'C|' || id || '|' || state || '|' || anchor_signal || '|' || opened_us"
        "  || '|' || coalesce (merged_into, '-') || '|' || coalesce (closed_us::text, '-') || '|'"
        "  || outcome FROM triage.cases"
        " UNION ALL SELECT 'L|' || signal_id || '|' || case_id || '|' || kind || '|'"
        "  || other_signal_id || '|' || reason FROM triage.links"
        " UNION ALL SELECT 'A|' || id || '|' || kind || '|' || signal_id || '|' || raised_us"
        "  FROM triage.alerts) t (x)");
}

/* The agenda of the upcoming meeting at `now`, packed. */
static uint8_t *
s_agenda_bytes (ln_db_t *db, int64_t now, size_t *size)
{
    ln_error_t err;
    Lantern__V1__Agenda *a = triage_meeting_agenda (db, s_slot, &s_w, "triage", "", now, &err);
    if (!a)
        fail_msg ("agenda: %s", err.message);
    *size = protobuf_c_message_get_packed_size (&a->base);
    uint8_t *buf = ln_xcalloc (1, *size);
    protobuf_c_message_pack (&a->base, buf);
    protobuf_c_message_free_unpacked (&a->base, NULL);
    return buf;
}

/* The payload of the n-th (0-based, in append order) outbox event of a
   type, unpacked with its descriptor, or NULL. */
static ProtobufCMessage *
s_event (const char *type, int n, const ProtobufCMessageDescriptor *desc)
{
    char sql[512];
    snprintf (sql, sizeof sql,
              "SELECT encode (payload, 'hex') FROM triage.outbox WHERE type = '%s'"
              " ORDER BY id OFFSET %d LIMIT 1",
              type, n);
    char *hex = ln_pgfix_query_value (s_fix, sql, 0, NULL);
    if (!hex)
        return NULL;
    size_t len = strlen (hex) / 2;
    uint8_t *bytes = ln_xcalloc (1, len);
    for (size_t i = 0; i < len; i++) {
        unsigned v;
        sscanf (hex + 2 * i, "%2x", &v);
        bytes[i] = (uint8_t)v;
    }
    free (hex);
    ProtobufCMessage *m = protobuf_c_message_unpack (desc, NULL, len, bytes);
    free (bytes);
    return m;
}

static long
s_events (const char *type)
{
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM triage.outbox WHERE type = '%s'", type);
    return s_count (sql);
}

static void
s_case_of (const char *tag, char out[TRIAGE_CASE_ID_SIZE])
{
    char id[TRIAGE_SIGNAL_ID_SIZE], sql[256];
    s_sig_id (id, tag);
    snprintf (sql, sizeof sql, "SELECT coalesce (case_id, '') FROM triage.signals WHERE id = '%s'",
              id);
    char *v = s_value (sql);
    snprintf (out, TRIAGE_CASE_ID_SIZE, "%s", v);
    free (v);
}

static void
s_case_named (const char *tag, char out[TRIAGE_CASE_ID_SIZE])
{
    char id[TRIAGE_SIGNAL_ID_SIZE];
    s_sig_id (id, tag);
    triage_case_id_of (id, out);
}

/* --- the scenario ------------------------------------------------------------------------------
 */

#define VENLO   "intake-venlo", "Gemeente Venlo"
#define POLITIE "intake-politie", "Politie Limburg-Noord"

/* Anna, as Venlo writes her and as the police write her. */
static const person_t ANNA_V = {"Anna Kowalska", NULL, "06 12345678", NULL, 0};
static const person_t ANNA_P = {"KOWALSKA, anna", NULL, "+31 (0)6-1234 5678", NULL, 0};

static void
test_link_scenario (void **state)
{
    (void)state;
    ln_db_t *db = s_fresh_db ();
    char a[TRIAGE_CASE_ID_SIZE], b[TRIAGE_CASE_ID_SIZE], c[TRIAGE_CASE_ID_SIZE];
    char want[TRIAGE_CASE_ID_SIZE];

    /* 1. Anna from Venlo, then from the police, written differently. */
    event_t v1 = {
        EV_RECEIVED, "intake-venlo",
        1,           {"anna1", VENLO, T0, NULL, "ILO_DECEPTION", false, false, {ANNA_V}, NULL},
        1,           T0};
    event_t p1 = {
        EV_RECEIVED,
        "intake-politie",
        1,
        {"anna2", POLITIE, T0 + 3600000000LL, NULL, "ILO_ISOLATION", false, false, {ANNA_P}, NULL},
        1,
        T0 + 3600000000LL};
    s_apply_ok (db, &v1);
    s_apply_ok (db, &p1);
    s_case_of ("anna1", a);
    s_case_of ("anna2", b);
    s_case_named ("anna1", want);
    assert_string_equal (a, want);
    assert_string_equal (b, want);
    assert_int_equal (s_count ("SELECT count(*) FROM triage.cases"), 1);
    /* The record keeps persons, not the account (no follower gets it). */
    assert_int_equal (s_count ("SELECT count(*) FROM triage.signals"
                               " WHERE strpos (encode (record, 'escape'), 'Kowalska') > 0"),
                      1);
    assert_int_equal (s_count ("SELECT count(*) FROM triage.signals"
                               " WHERE strpos (encode (record, 'escape'), 'Asparagus') > 0"),
                      0);
    char *reason = s_value ("SELECT reason FROM triage.links");
    char sig1[TRIAGE_SIGNAL_ID_SIZE];
    s_sig_id (sig1, "anna1");
    char expect[160];
    snprintf (expect, sizeof expect, "same PHONE token as %s from intake-venlo", sig1);
    assert_string_equal (reason, expect);
    free (reason);
    /* Events: opened (with Anna from Venlo), then linked (with its reason). */
    assert_int_equal (s_events (TRIAGE_EVENT_CASE_OPENED), 1);
    Lantern__V1__CaseLinked *linked = (Lantern__V1__CaseLinked *)s_event (
        TRIAGE_EVENT_CASE_LINKED, 0, &lantern__v1__case_linked__descriptor);
    assert_non_null (linked);
    assert_string_equal (linked->case_id, want);
    assert_string_equal (linked->signal->node, "intake-politie");
    assert_string_equal (linked->link->reason, expect);
    assert_int_equal (linked->link->kind, LANTERN__V1__IDENTIFIER_KIND__IDENTIFIER_KIND_PHONE);
    assert_int_equal (linked->facts->partners, 2);
    assert_int_equal (linked->facts->signals, 2);
    protobuf_c_message_free_unpacked (&linked->base, NULL);

    /* GetCase: both partners, the reason, the score adds up, no person. */
    triage_query_env_t qenv = {.slot = s_slot, .w = &s_w, .now_us = T0 + 2 * DAY_US};
    Lantern__V1__GetCase get = LANTERN__V1__GET_CASE__INIT;
    get.case_id = want;
    get.purpose = (char *)"preparing the meeting";
    Lantern__V1__CaseRecord *rec = NULL;
    ln_error_t err;
    assert_int_equal (triage_query_get_case (db, &qenv, &get, &rec, &err), 0);
    assert_string_equal (rec->case_id, want);
    assert_int_equal (rec->n_signals, 2);
    assert_string_equal (rec->signals[0]->organisation, "Gemeente Venlo");
    assert_string_equal (rec->signals[1]->organisation, "Politie Limburg-Noord");
    assert_int_equal (rec->facts->partners, 2);
    assert_int_equal (rec->n_links, 1);
    int64_t sum = 0;
    for (size_t i = 0; i < rec->score->n_terms; i++)
        sum += rec->score->terms[i]->points;
    assert_int_equal (sum, rec->score->total);
    assert_true (rec->score->total > 0);
    size_t packed = protobuf_c_message_get_packed_size (&rec->base);
    uint8_t *bytes = ln_xcalloc (1, packed);
    protobuf_c_message_pack (&rec->base, bytes);
    assert_null (memmem (bytes, packed, "Kowalska", 8)); /* the reference index: no names */
    assert_null (memmem (bytes, packed, "KOWALSKA", 8));
    free (bytes);
    protobuf_c_message_free_unpacked (&rec->base, NULL);

    /* 2. An unrelated signal: its own case.  A common name alone, and a
       city alone, link nothing. */
    event_t v2 = {EV_RECEIVED,
                  "intake-venlo",
                  2,
                  {"piotr",
                   VENLO,
                   T0 + 2 * 3600000000LL,
                   NULL,
                   NULL,
                   false,
                   false,
                   {{"Piotr Nowak", "1990-01-02", NULL, "NW1234567", 0}},
                   "Venlo"},
                  1,
                  T0 + 2 * 3600000000LL};
    event_t p2 = {EV_RECEIVED,
                  "intake-politie",
                  2,
                  {"name",
                   POLITIE,
                   T0 + 3 * 3600000000LL,
                   NULL,
                   NULL,
                   false,
                   false,
                   {{"Anna Kowalska", NULL, NULL, NULL, 0}},
                   "Venlo"},
                  1,
                  T0 + 3 * 3600000000LL};
    s_apply_ok (db, &v2);
    s_apply_ok (db, &p2);
    s_case_of ("piotr", b);
    s_case_of ("name", c);
    assert_string_not_equal (b, a);
    assert_string_not_equal (c, a);
    assert_string_not_equal (c, b);
    assert_int_equal (s_count ("SELECT count(*) FROM triage.cases"), 3);
    assert_int_equal (s_count ("SELECT count(*) FROM triage.links"), 1);

    /* 3. A signal sharing Anna's phone and Piotr's document merges them
       into the case named after the earliest signal (Anna's). */
    event_t p3 = {EV_RECEIVED,
                  "intake-politie",
                  3,
                  {"bridge",
                   POLITIE,
                   T0 + 4 * 3600000000LL,
                   NULL,
                   NULL,
                   true,
                   false,
                   {{"A. K.", NULL, "0612345678", NULL, 0},
                    {"P. N.", NULL, NULL, "nw 1234567", PROLE (POSSIBLE_PERPETRATOR)}},
                   NULL},
                  1,
                  T0 + 4 * 3600000000LL};
    s_apply_ok (db, &p3);
    char piotr_case[TRIAGE_CASE_ID_SIZE];
    s_case_named ("piotr", piotr_case);
    s_case_of ("piotr", b);
    assert_string_equal (b, a);
    s_case_of ("bridge", c);
    assert_string_equal (c, a);
    assert_int_equal (s_count ("SELECT count(*) FROM triage.cases"), 2);
    /* Both ids resolve to the merged case; history kept. */
    char resolved[TRIAGE_CASE_ID_SIZE];
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (triage_store_resolve (db, piotr_case, resolved, &err), 1);
    assert_string_equal (resolved, a);
    assert_int_equal (triage_store_resolve (db, a, resolved, &err), 1);
    assert_string_equal (resolved, a);
    ln_db_rollback (db);
    Lantern__V1__CaseMerged *merged = (Lantern__V1__CaseMerged *)s_event (
        TRIAGE_EVENT_CASE_MERGED, 0, &lantern__v1__case_merged__descriptor);
    assert_non_null (merged);
    assert_string_equal (merged->case_id, a);
    assert_int_equal (merged->n_merged_case_ids, 1);
    assert_string_equal (merged->merged_case_ids[0], piotr_case);
    assert_int_equal (merged->n_signals, 4);
    protobuf_c_message_free_unpacked (&merged->base, NULL);
    get.case_id = piotr_case;
    assert_int_equal (triage_query_get_case (db, &qenv, &get, &rec, &err), 0);
    assert_string_equal (rec->case_id, a);
    assert_string_equal (rec->asked_id, piotr_case);
    assert_int_equal (rec->n_merged_case_ids, 1);
    assert_string_equal (rec->merged_case_ids[0], piotr_case);
    /* The bridge says danger: one alert. */
    assert_int_equal (rec->n_alerts, 1);
    assert_int_equal (rec->alerts[0]->kind, LANTERN__V1__ALERT_KIND__ALERT_KIND_IMMEDIATE_DANGER);
    protobuf_c_message_free_unpacked (&rec->base, NULL);
    assert_int_equal (s_events (TRIAGE_EVENT_ALERT_RAISED), 1);

    /* 4. The bridge is withdrawn: it leaves; Anna's and Piotr's signals
       are linked by nothing else now, so the case splits again. */
    event_t p3w = p3;
    p3w.kind = EV_WITHDRAWN;
    p3w.position = 4;
    p3w.version = 2;
    p3w.at_us = T0 + 5 * 3600000000LL;
    s_apply_ok (db, &p3w);
    s_case_of ("bridge", c);
    assert_string_equal (c, "");
    s_case_of ("piotr", b);
    assert_string_equal (b, piotr_case);
    s_case_of ("anna1", c);
    assert_string_equal (c, a);
    assert_int_equal (s_count ("SELECT count(*) FROM triage.cases"), 3);
    assert_int_equal (s_count ("SELECT count(*) FROM triage.tokens t JOIN triage.signals s"
                               " ON s.id = t.signal_id WHERE s.withdrawn_us IS NOT NULL"),
                      0);

    /* 5. The name-only signal is withdrawn: its case is left empty and
       closes; its id still answers (CLOSED, EMPTY). */
    char name_case[TRIAGE_CASE_ID_SIZE];
    s_case_named ("name", name_case);
    event_t p2w = p2;
    p2w.kind = EV_WITHDRAWN;
    p2w.position = 5;
    p2w.version = 2;
    p2w.at_us = T0 + 6 * 3600000000LL;
    s_apply_ok (db, &p2w);
    assert_int_equal (s_count ("SELECT count(*) FROM triage.cases"), 2);
    Lantern__V1__CaseClosed *closed = (Lantern__V1__CaseClosed *)s_event (
        TRIAGE_EVENT_CASE_CLOSED, 0, &lantern__v1__case_closed__descriptor);
    assert_non_null (closed);
    assert_string_equal (closed->case_id, name_case);
    assert_int_equal (closed->outcome, LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_EMPTY);
    protobuf_c_message_free_unpacked (&closed->base, NULL);
    get.case_id = name_case;
    assert_int_equal (triage_query_get_case (db, &qenv, &get, &rec, &err), 0);
    assert_int_equal (rec->state, CS (CLOSED));
    assert_int_equal (rec->outcome, LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_EMPTY);
    protobuf_c_message_free_unpacked (&rec->base, NULL);

    /* 6. Delivered twice (a redelivery): nothing changes, nothing emitted. */
    char *before = s_snapshot ();
    long events = s_count ("SELECT count(*) FROM triage.outbox");
    s_apply_ok (db, &p1);
    s_apply_ok (db, &p3w);
    char *after = s_snapshot ();
    assert_string_equal (before, after);
    assert_int_equal (s_count ("SELECT count(*) FROM triage.outbox"), events);
    free (before);
    free (after);

    /* 7. Other event types are not triage's business; a payload of the
       wrong message is refused. */
    Lantern__V1__NodeStarted started = LANTERN__V1__NODE_STARTED__INIT;
    triage_emitter_t em = {.fn = triage_emit_outbox, .ctx = db, .level = LN_LEVEL_VERTROUWELIJK};
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (triage_link_apply (db, "intake-venlo", 9, "nl.lantern.node.started.v1",
                                         &started.base, &em, &err),
                      0);
    assert_int_equal (triage_link_apply (db, "intake-venlo", 9, "nl.lantern.signal.received.v1",
                                         &started.base, &em, &err),
                      -1);
    assert_string_equal (err.code, "TRIAGE_BAD_EVENT");
    ln_db_rollback (db);

    /* 8. A foreign signal (another node's id, or a node that is not the
       upstream) is refused and changes nothing. */
    event_t bad = v1;
    bad.upstream = "intake-politie";
    assert_int_equal (s_apply_event (db, &bad, &err), -1);
    assert_string_equal (err.code, "TRIAGE_FOREIGN_SIGNAL");
    bad = p1;
    bad.spec.node = "intake-venlo"; /* politie's id now claimed by venlo */
    bad.upstream = "intake-venlo";
    bad.version = 5;
    assert_int_equal (s_apply_event (db, &bad, &err), -1);
    assert_string_equal (err.code, "TRIAGE_FOREIGN_SIGNAL");
    before = s_snapshot ();
    assert_int_equal (s_count ("SELECT count(*) FROM triage.outbox"), events);
    free (before);
    ln_db_destroy (&db);
}

/* --- replay -------------------------------------------------------------------------------- */

#define H (3600000000LL)

/* Two streams whose received times interleave, with amendments (one adds
   a phone that merges two cases, one adds a minor), withdrawals (a bridge,
   a case's earliest signal), and a signal that arrives late at triage but
   was received early (a rename). */
static const event_t s_venlo[] = {
    {EV_RECEIVED,
     "intake-venlo",
     1,
     {"va", VENLO, T0 + 1 * H, NULL, "ILO_DECEPTION", false, false, {ANNA_V}, NULL},
     1,
     T0 + 1 * H},
    {EV_RECEIVED,
     "intake-venlo",
     2,
     {"vb",
      VENLO,
      T0 + 3 * H,
      "GM1507",
      NULL,
      false,
      false,
      {{"Marek Zielinski", "1985-07-01", NULL, NULL, 0}},
      "Horst"},
     1,
     T0 + 3 * H},
    {EV_AMENDED,
     "intake-venlo",
     3,
     {"vb",
      VENLO,
      T0 + 3 * H,
      "GM1507",
      NULL,
      false,
      true,
      {{"Marek Zielinski", "1985-07-01", "0687654321", NULL, 0}},
      "Horst"},
     2,
     T0 + 6 * H},
    {EV_RECEIVED,
     "intake-venlo",
     4,
     {"vc",
      VENLO,
      T0 + 7 * H,
      NULL,
      "ILO_DEBT_BONDAGE",
      true,
      false,
      {{"Jan de Vries", "1970-02-03", NULL, "XR1234567", PROLE (POSSIBLE_PERPETRATOR)}},
      NULL},
     1,
     T0 + 7 * H},
    {EV_WITHDRAWN,
     "intake-venlo",
     5,
     {"va", VENLO, T0 + 1 * H, NULL, "ILO_DECEPTION", false, false, {ANNA_V}, NULL},
     2,
     T0 + 9 * H},
};
static const event_t s_politie[] = {
    {EV_RECEIVED,
     "intake-politie",
     1,
     {"pa", POLITIE, T0 + 2 * H, NULL, "ILO_ISOLATION", false, false, {ANNA_P}, NULL},
     1,
     T0 + 2 * H},
    {EV_RECEIVED,
     "intake-politie",
     2,
     {"pb",
      POLITIE,
      T0 + 4 * H,
      NULL,
      NULL,
      false,
      false,
      {{"M. Zielinski", NULL, "+31687654321", NULL, 0}},
      NULL},
     1,
     T0 + 4 * H},
    {EV_RECEIVED,
     "intake-politie",
     3,
     {"pc",
      POLITIE,
      T0 + 5 * H,
      NULL,
      NULL,
      false,
      false,
      {{"J. de Vries", NULL, NULL, "xr-1234567", PROLE (POSSIBLE_PERPETRATOR)},
       {"Anna K.", NULL, "06-12345678", NULL, 0}},
      NULL},
     1,
     T0 + 5 * H},
    {EV_RECEIVED,
     "intake-politie",
     4,
     {"p0",
      POLITIE,
      T0 + 0 * H + 5,
      NULL,
      "ILO_ISOLATION",
      false,
      false,
      {{"Jan de Vries", "1970-02-03", NULL, NULL, PROLE (POSSIBLE_PERPETRATOR)}},
      NULL},
     1,
     T0 + 8 * H},
    {EV_WITHDRAWN,
     "intake-politie",
     5,
     {"pc",
      POLITIE,
      T0 + 5 * H,
      NULL,
      NULL,
      false,
      false,
      {{"J. de Vries", NULL, NULL, "xr-1234567", PROLE (POSSIBLE_PERPETRATOR)},
       {"Anna K.", NULL, "06-12345678", NULL, 0}},
      NULL},
     2,
     T0 + 10 * H},
    {EV_RECEIVED,
     "intake-politie",
     6,
     {"pd",
      POLITIE,
      T0 + 11 * H,
      NULL,
      NULL,
      false,
      false,
      {{"Anna Kowalska", NULL, NULL, NULL, 0}},
      "Venlo"},
     1,
     T0 + 11 * H},
};
#define NV (sizeof s_venlo / sizeof s_venlo[0])
#define NP (sizeof s_politie / sizeof s_politie[0])

static uint64_t s_rng = 0x9e3779b97f4a7c15ull;

static unsigned
s_rand (unsigned below)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return (unsigned)(s_rng % below);
}

/* Apply both streams, each in its own order, interleaved by `order`
   (a string of 'v' and 'p'). */
static void
s_replay (ln_db_t *db, const char *order)
{
    size_t v = 0, p = 0;
    for (const char *o = order; *o; o++)
        s_apply_ok (db, *o == 'v' ? &s_venlo[v++] : &s_politie[p++]);
    assert_int_equal (v, NV);
    assert_int_equal (p, NP);
}

static void
test_replay_same_rows (void **state)
{
    (void)state;
    char orders[24][NV + NP + 1];
    size_t n = 0;
    /* All of one first, all of the other first, strictly alternating, and
       random interleavings. */
    memset (orders, 0, sizeof orders);
    for (size_t i = 0; i < NV + NP; i++) {
        orders[0][i] = i < NV ? 'v' : 'p';
        orders[1][i] = i < NP ? 'p' : 'v';
    }
    size_t vv = 0, pp = 0;
    for (size_t i = 0; i < NV + NP; i++)
        orders[2][i] = ((i % 2 == 0 && vv < NV) || pp == NP) ? (vv++, 'v') : (pp++, 'p');
    n = 3;
    for (; n < 16; n++) {
        size_t left_v = NV, left_p = NP;
        for (size_t i = 0; i < NV + NP; i++) {
            bool take_v = left_p == 0 ||
                          (left_v > 0 && s_rand ((unsigned)(left_v + left_p)) < (unsigned)left_v);
            orders[n][i] = take_v ? 'v' : 'p';
            if (take_v)
                left_v--;
            else
                left_p--;
        }
    }
    int64_t now = T0 + 3 * DAY_US;
    char *first = NULL;
    uint8_t *first_agenda = NULL;
    size_t first_size = 0;
    for (size_t k = 0; k < n; k++) {
        ln_db_t *db = s_fresh_db (); /* drops triage's schema */
        s_replay (db, orders[k]);
        char *rows = s_snapshot ();
        size_t size;
        uint8_t *agenda = s_agenda_bytes (db, now, &size);
        if (!first) {
            first = rows;
            first_agenda = agenda;
            first_size = size;
            /* The shape this data must have, whatever the order: Marek
               (vb + pb, by the phone vb's amendment added), Jan (vc + p0,
               name and birth date), Anna from the police alone (va and
               the bridge pc withdrawn), the name-only pd alone. */
            assert_int_equal (s_count ("SELECT count(*) FROM triage.cases"), 4);
            assert_int_equal (s_count ("SELECT count(*) FROM triage.links"), 2);
            /* Jan's case is named after p0, received first though applied
               after vc in most orders (a rename), and vc's own id
               resolves to it. */
            char jan[TRIAGE_CASE_ID_SIZE], p0[TRIAGE_CASE_ID_SIZE], vc[TRIAGE_CASE_ID_SIZE];
            char resolved[TRIAGE_CASE_ID_SIZE];
            ln_error_t err;
            s_case_of ("vc", jan);
            s_case_named ("p0", p0);
            s_case_named ("vc", vc);
            assert_string_equal (jan, p0);
            assert_int_equal (ln_db_begin (db), 0);
            assert_int_equal (triage_store_resolve (db, vc, resolved, &err), 1);
            assert_string_equal (resolved, p0);
            ln_db_rollback (db);
            assert_true (strstr (rows, "A|alert-") != NULL);
        }
        else {
            if (strcmp (rows, first) != 0)
                fail_msg ("order %s gave other rows than %s:\n%s\n---\n%s", orders[k], orders[0],
                          rows, first);
            assert_int_equal (size, first_size);
            assert_memory_equal (agenda, first_agenda, size);
            free (rows);
            free (agenda);
        }
        ln_db_destroy (&db);
    }
    free (first);
    free (first_agenda);
}

/* The agenda is ordered by score, each item's terms add up, and every
   open case is on it (nothing discussed yet). */
static void
test_agenda_order (void **state)
{
    (void)state;
    ln_db_t *db = s_fresh_db ();
    s_replay (db, "vpvpvpvpvpp");
    ln_error_t err;
    Lantern__V1__Agenda *a =
        triage_meeting_agenda (db, s_slot, &s_w, "triage", "", T0 + 3 * DAY_US, &err);
    assert_non_null (a);
    assert_string_equal (a->meeting_id, "2026-06-02"); /* the Tuesday after */
    assert_string_equal (a->time_zone, "Europe/Amsterdam");
    /* 10:00 CEST on 2 June 2026 = 08:00 UTC */
    assert_int_equal (a->starts_at_us, INT64_C (1780387200000000));
    assert_int_equal ((long)a->n_items, s_count ("SELECT count(*) FROM triage.cases"));
    for (size_t i = 0; i < a->n_items; i++) {
        const Lantern__V1__AgendaItem *it = a->items[i];
        assert_int_equal (it->rank, i + 1);
        int64_t sum = 0;
        for (size_t t = 0; t < it->score->n_terms; t++)
            sum += it->score->terms[t]->points;
        assert_int_equal (sum, it->score->total);
        assert_int_equal (it->n_reasons, 1);
        assert_int_equal (it->reasons[0], LANTERN__V1__AGENDA_REASON__AGENDA_REASON_NEW_CASE);
        if (i > 0)
            assert_true (a->items[i - 1]->score->total >= it->score->total);
    }
    /* The one with the minor (alert) and two partners is first. */
    assert_true (a->items[0]->facts->minor_involved || a->items[0]->facts->immediate_danger);
    protobuf_c_message_free_unpacked (&a->base, NULL);
    /* A date that is no meeting day, and no date. */
    assert_null (triage_meeting_agenda (db, s_slot, &s_w, "triage", "2026-06-03", T0, &err));
    assert_string_equal (err.code, "NOT_A_MEETING_DAY");
    assert_null (triage_meeting_agenda (db, s_slot, &s_w, "triage", "next week", T0, &err));
    assert_string_equal (err.code, "INVALID_DATE");
    ln_db_destroy (&db);
}

/* --- decisions ----------------------------------------------------------------------------- */

typedef struct {
    ln_db_t *db;
    triage_emitter_t em;
    triage_decide_env_t env;
} chair_t;

static void
s_chair (chair_t *c, ln_db_t *db, int64_t now)
{
    c->db = db;
    c->em =
        (triage_emitter_t){.fn = triage_emit_outbox, .ctx = db, .level = LN_LEVEL_VERTROUWELIJK};
    c->env = (triage_decide_env_t){.slot = s_slot, .now_us = now, .em = &c->em};
}

/* Run a decision in its own transaction: 0, or -1 with err (rolled back,
   and the rows checked unchanged). */
static int
s_decide (chair_t *c, Lantern__V1__RecordDecision *cmd, Lantern__V1__RecordDecisionResult **res,
          ln_error_t *err)
{
    char *before = s_snapshot ();
    long events = s_count ("SELECT count(*) FROM triage.outbox");
    long tracks = s_count ("SELECT count(*) FROM triage.tracks");
    assert_int_equal (ln_db_begin (c->db), 0);
    int rc = triage_decide_record (c->db, &c->env, cmd, "chair-venlo", res, err);
    if (rc == 0)
        assert_int_equal (ln_db_commit (c->db), 0);
    else {
        ln_db_rollback (c->db);
        char *after = s_snapshot ();
        assert_string_equal (before, after);
        free (after);
        assert_int_equal (s_count ("SELECT count(*) FROM triage.outbox"), events);
        assert_int_equal (s_count ("SELECT count(*) FROM triage.tracks"), tracks);
    }
    free (before);
    return rc;
}

static Lantern__V1__TrackSpec *
s_spec (int kind, const char *lead, const char *deadline)
{
    Lantern__V1__TrackSpec *t = ln_xcalloc (1, sizeof *t);
    lantern__v1__track_spec__init (t);
    t->kind = kind;
    if (lead)
        t->lead_organisation = (char *)lead;
    if (deadline)
        t->deadline = (char *)deadline;
    return t;
}

static void
s_refused (chair_t *c, Lantern__V1__RecordDecision *cmd, const char *code, const char *field)
{
    ln_error_t err;
    Lantern__V1__RecordDecisionResult *res = NULL;
    ln_error_clear (&err);
    if (s_decide (c, cmd, &res, &err) == 0)
        fail_msg ("accepted, want %s", code);
    if (strcmp (err.code, code) != 0 || strcmp (err.field, field) != 0)
        fail_msg ("got %s at %s (%s), want %s at %s", err.code, err.field, err.message, code,
                  field);
}

static int
s_update (chair_t *c, const char *track_id, int state, const char *outcome, const char *org,
          ln_error_t *err)
{
    Lantern__V1__UpdateTrack u = LANTERN__V1__UPDATE_TRACK__INIT;
    u.track_id = (char *)track_id;
    u.state = state;
    if (outcome && state == TS (DONE))
        u.outcome = (char *)outcome;
    if (outcome && state == TS (HANDED_BACK))
        u.reason = (char *)outcome;
    Lantern__V1__UpdateTrackResult *res = NULL;
    char *before = s_snapshot ();
    assert_int_equal (ln_db_begin (c->db), 0);
    int rc = triage_decide_update_track (c->db, &c->env, &u, "lead-person", org, &res, err);
    if (rc == 0) {
        assert_int_equal (ln_db_commit (c->db), 0);
        assert_int_equal (res->track->state, state);
        protobuf_c_message_free_unpacked (&res->base, NULL);
    }
    else
        ln_db_rollback (c->db);
    free (before);
    return rc;
}

static int
s_close (chair_t *c, const char *case_id, ln_error_t *err)
{
    Lantern__V1__CloseCase cc = LANTERN__V1__CLOSE_CASE__INIT;
    cc.case_id = (char *)case_id;
    cc.summary = (char *)"victim in care; suspect prosecuted";
    Lantern__V1__CloseCaseResult *res = NULL;
    assert_int_equal (ln_db_begin (c->db), 0);
    int rc = triage_decide_close (c->db, &c->env, &cc, "chair-venlo", &res, err);
    if (rc == 0) {
        assert_int_equal (ln_db_commit (c->db), 0);
        protobuf_c_message_free_unpacked (&res->base, NULL);
    }
    else
        ln_db_rollback (c->db);
    return rc;
}

static bool
s_on_agenda (ln_db_t *db, const char *meeting, int64_t now, const char *case_id, int reason)
{
    ln_error_t err;
    Lantern__V1__Agenda *a = triage_meeting_agenda (db, s_slot, &s_w, "triage", meeting, now, &err);
    if (!a)
        fail_msg ("%s", err.message);
    bool found = false;
    for (size_t i = 0; i < a->n_items; i++)
        if (strcmp (a->items[i]->case_id, case_id) == 0)
            for (size_t r = 0; r < a->items[i]->n_reasons; r++)
                found |= !reason || (int)a->items[i]->reasons[r] == reason;
    protobuf_c_message_free_unpacked (&a->base, NULL);
    return found;
}

static void
test_decisions (void **state)
{
    (void)state;
    ln_db_t *db = s_fresh_db ();
    /* Anna (two partners), and a minor's case of its own. */
    event_t v1 = {
        EV_RECEIVED, "intake-venlo",
        1,           {"anna1", VENLO, T0, NULL, "ILO_DECEPTION", false, false, {ANNA_V}, NULL},
        1,           T0};
    event_t p1 = {EV_RECEIVED, "intake-politie",
                  1,           {"anna2", POLITIE, T0 + H, NULL, NULL, false, false, {ANNA_P}, NULL},
                  1,           T0 + H};
    event_t v2 = {EV_RECEIVED,
                  "intake-venlo",
                  2,
                  {"minor",
                   VENLO,
                   T0 + 2 * H,
                   NULL,
                   "MINOR_INVOLVED",
                   false,
                   true,
                   {{"Kim Jansen", "2011-05-05", NULL, NULL, 0}},
                   NULL},
                  1,
                  T0 + 2 * H};
    s_apply_ok (db, &v1);
    s_apply_ok (db, &p1);
    s_apply_ok (db, &v2);
    char anna[TRIAGE_CASE_ID_SIZE], minor[TRIAGE_CASE_ID_SIZE];
    s_case_of ("anna1", anna);
    s_case_of ("minor", minor);
    /* The meeting of Tuesday 2 June 2026, decided at 11:00 local. */
    int64_t meeting_now = INT64_C (1780387200000000) + H;
    chair_t c;
    s_chair (&c, db, meeting_now);

    Lantern__V1__TrackSpec *care =
        s_spec (TK (CARE), "Zorgcoordinator Noord-Limburg", "2026-07-01");
    Lantern__V1__TrackSpec *more =
        s_spec (TK (MORE_INFORMATION), "Politie Limburg-Noord", "2026-06-16");
    Lantern__V1__TrackSpec *none = s_spec (TK (NO_ACTION), NULL, NULL);
    Lantern__V1__TrackSpec *tracks[3];
    char *attendees[] = {"Gemeente Venlo", "Politie Limburg-Noord"};
    Lantern__V1__RecordDecision cmd = LANTERN__V1__RECORD_DECISION__INIT;
    cmd.case_id = anna;
    cmd.meeting_id = (char *)"2026-06-02";
    cmd.attendees = attendees;
    cmd.n_attendees = 2;
    cmd.tracks = tracks;

    /* Refusals that need the store; each leaves everything as it was. */
    tracks[0] = none;
    cmd.n_tracks = 1;
    s_refused (&c, &cmd, "MISSING_NO_ACTION_REASON", "no_action_reason");
    tracks[1] = care;
    cmd.n_tracks = 2;
    cmd.no_action_reason = (char *)"insufficient indicators";
    s_refused (&c, &cmd, "NO_ACTION_WITH_OTHER_TRACK", "tracks[1].kind");
    cmd.no_action_reason = (char *)"";
    tracks[0] = care;
    tracks[1] = more;
    cmd.case_id = (char *)"case-zzzzzzzzzzzzzzzzzzzzzzzzzz";
    s_refused (&c, &cmd, "NOT_FOUND", "case_id");
    char merged_away[TRIAGE_CASE_ID_SIZE];
    s_case_named ("anna2", merged_away); /* anna2's own id resolves to Anna's case */
    cmd.case_id = merged_away;
    s_refused (&c, &cmd, "CASE_MERGED", "case_id");
    cmd.case_id = anna;
    cmd.case_revision = (char *)"0123456789abcdef";
    s_refused (&c, &cmd, "CASE_CHANGED", "case_revision");
    cmd.case_revision = (char *)"";
    cmd.meeting_id = (char *)"2026-06-09";
    s_refused (&c, &cmd, "DATE_IN_FUTURE", "meeting_id");
    cmd.meeting_id = (char *)"2026-06-02";
    Lantern__V1__RecordDecision mcmd = cmd;
    mcmd.case_id = minor;
    s_refused (&c, &mcmd, "MINOR_WITHOUT_YOUTH_PROTECTION", "no_youth_protection_reason");

    /* The revision the agenda showed is accepted. */
    ln_error_t err;
    Lantern__V1__Agenda *ag =
        triage_meeting_agenda (db, s_slot, &s_w, "triage", "2026-06-02", meeting_now, &err);
    assert_non_null (ag);
    char revision[17] = "";
    for (size_t i = 0; i < ag->n_items; i++)
        if (strcmp (ag->items[i]->case_id, anna) == 0)
            snprintf (revision, sizeof revision, "%s", ag->items[i]->revision);
    protobuf_c_message_free_unpacked (&ag->base, NULL);
    assert_int_equal (strlen (revision), 16);
    cmd.case_revision = revision;
    cmd.minutes = (char *)"Anna is known to both partners.\nCare first.";

    /* The decision: CARE and MORE_INFORMATION. */
    Lantern__V1__RecordDecisionResult *res = NULL;
    if (s_decide (&c, &cmd, &res, &err) != 0)
        fail_msg ("%s", err.message);
    assert_int_equal (res->state, CS (DECIDED));
    assert_int_equal (res->decision->n_tracks, 2);
    char care_id[TRIAGE_ID_SIZE], more_id[TRIAGE_ID_SIZE];
    snprintf (care_id, sizeof care_id, "%s", res->decision->tracks[0]->track_id);
    snprintf (more_id, sizeof more_id, "%s", res->decision->tracks[1]->track_id);
    assert_int_equal (res->decision->tracks[0]->state, TS (OPEN));
    protobuf_c_message_free_unpacked (&res->base, NULL);
    /* case.decided carries the victim for care, and every signal. */
    Lantern__V1__CaseDecided *dec = (Lantern__V1__CaseDecided *)s_event (
        TRIAGE_EVENT_CASE_DECIDED, 0, &lantern__v1__case_decided__descriptor);
    assert_non_null (dec);
    assert_string_equal (dec->case_id, anna);
    assert_int_equal (dec->n_signals, 2);
    assert_int_equal (dec->n_contents, 2);
    assert_string_equal (dec->contents[0]->persons[0]->name, "Anna Kowalska");
    assert_int_equal (dec->contents[0]->persons[0]->n_tokens, 0);
    assert_int_equal (dec->decision->tracks[0]->kind, TK (CARE));
    assert_string_equal (dec->decision->minutes, "Anna is known to both partners.\nCare first.");
    protobuf_c_message_free_unpacked (&dec->base, NULL);
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT state FROM triage.cases WHERE id = '%s'", anna);
    assert_int_equal (s_count (sql), CS (DECIDED));
    /* Every active signal of it was discussed at the meeting. */
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM triage.signals WHERE case_id = '%s'"
              " AND discussed_meeting = '2026-06-02'",
              anna);
    assert_int_equal (s_count (sql), 2);

    /* Not on the next agenda; back at the MORE_INFORMATION deadline. */
    assert_false (s_on_agenda (db, "2026-06-09", meeting_now, anna, 0));
    assert_true (s_on_agenda (db, "2026-06-16", meeting_now + 14 * DAY_US, anna,
                              LANTERN__V1__AGENDA_REASON__AGENDA_REASON_MORE_INFORMATION_DUE));
    /* A new signal joining the decided case brings it back (NEW_SIGNALS),
       and the decided case keeps its id though the signal is earlier. */
    event_t p2 = {EV_RECEIVED,
                  "intake-politie",
                  2,
                  {"early",
                   POLITIE,
                   T0 - DAY_US,
                   NULL,
                   NULL,
                   false,
                   false,
                   {{"Anna", NULL, "0612345678", NULL, 0}},
                   NULL},
                  1,
                  T0 + 9 * DAY_US};
    s_apply_ok (db, &p2);
    char early[TRIAGE_CASE_ID_SIZE];
    s_case_of ("early", early);
    assert_string_equal (early, anna);
    assert_true (s_on_agenda (db, "2026-06-09", meeting_now + 7 * DAY_US, anna,
                              LANTERN__V1__AGENDA_REASON__AGENDA_REASON_NEW_SIGNALS));

    /* Tracks: only the lead organisation; legal moves only. */
    assert_int_equal (s_update (&c, care_id, TS (IN_PROGRESS), NULL, "Gemeente Venlo", &err), -1);
    assert_string_equal (err.code, "FORBIDDEN");
    assert_int_equal (s_update (&c, "trk-zzzzzzzzzzzzzzzzzzzzzzzzzz", TS (IN_PROGRESS), NULL,
                                "Gemeente Venlo", &err),
                      -1);
    assert_string_equal (err.code, "NOT_FOUND");
    assert_int_equal (
        s_update (&c, care_id, TS (IN_PROGRESS), NULL, "Zorgcoordinator Noord-Limburg", &err), 0);
    assert_int_equal (
        s_update (&c, care_id, TS (IN_PROGRESS), NULL, "Zorgcoordinator Noord-Limburg", &err), -1);
    assert_string_equal (err.code, "INVALID_TRANSITION");

    /* Closing needs every track done. */
    assert_int_equal (s_close (&c, anna, &err), -1);
    assert_string_equal (err.code, "TRACKS_NOT_DONE");
    assert_int_equal (s_close (&c, minor, &err), -1);
    assert_string_equal (err.code, "CASE_NOT_DECIDED");
    assert_int_equal (s_update (&c, care_id, TS (DONE), "in shelter, B8 started",
                                "Zorgcoordinator Noord-Limburg", &err),
                      0);
    assert_int_equal (
        s_update (&c, care_id, TS (DONE), "again", "Zorgcoordinator Noord-Limburg", &err), -1);
    assert_string_equal (err.code, "TRACK_FINISHED");
    /* The MORE_INFORMATION track done: the case comes back with it. */
    assert_int_equal (
        s_update (&c, more_id, TS (DONE), "two more reports found", "Politie Limburg-Noord", &err),
        0);
    assert_true (s_on_agenda (db, "2026-06-09", meeting_now + 7 * DAY_US, anna,
                              LANTERN__V1__AGENDA_REASON__AGENDA_REASON_MORE_INFORMATION_READY));
    assert_int_equal (s_close (&c, anna, &err), 0);
    assert_int_equal (s_close (&c, anna, &err), -1);
    assert_string_equal (err.code, "CASE_CLOSED");
    assert_false (s_on_agenda (db, "2026-06-09", meeting_now + 7 * DAY_US, anna, 0));
    Lantern__V1__CaseClosed *closed = (Lantern__V1__CaseClosed *)s_event (
        TRIAGE_EVENT_CASE_CLOSED, 0, &lantern__v1__case_closed__descriptor);
    assert_non_null (closed);
    assert_int_equal (closed->outcome, LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_TRACKS_DONE);
    assert_int_equal (closed->n_track_kinds, 2);
    protobuf_c_message_free_unpacked (&closed->base, NULL);
    assert_int_equal (s_decide (&c, &cmd, &res, &err), -1);
    assert_string_equal (err.code, "CASE_CLOSED");
    /* A signal sharing Anna's phone now starts a case of its own. */
    event_t p3 = {
        EV_RECEIVED, "intake-politie",
        3,           {"later", POLITIE, T0 + 20 * DAY_US, NULL, NULL, false, false, {ANNA_P}, NULL},
        1,           T0 + 20 * DAY_US};
    s_apply_ok (db, &p3);
    char later[TRIAGE_CASE_ID_SIZE];
    s_case_of ("later", later);
    assert_string_not_equal (later, anna);

    /* NO_ACTION with its reason closes the minor's case at once (with the
       reason for no youth protection). */
    tracks[0] = none;
    mcmd.n_tracks = 1;
    mcmd.no_action_reason = (char *)"the school's report was a misunderstanding";
    mcmd.no_youth_protection_reason = (char *)"Veilig Thuis already involved";
    if (s_decide (&c, &mcmd, &res, &err) != 0)
        fail_msg ("%s", err.message);
    assert_int_equal (res->state, CS (CLOSED));
    assert_int_equal (res->decision->tracks[0]->state, TS (DONE));
    protobuf_c_message_free_unpacked (&res->base, NULL);
    closed = (Lantern__V1__CaseClosed *)s_event (TRIAGE_EVENT_CASE_CLOSED, 1,
                                                 &lantern__v1__case_closed__descriptor);
    assert_non_null (closed);
    assert_string_equal (closed->case_id, minor);
    assert_int_equal (closed->outcome, LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_NO_ACTION);
    protobuf_c_message_free_unpacked (&closed->base, NULL);

    /* Alerts: the minor's is open until acknowledged, once. */
    triage_query_env_t qenv = {.slot = s_slot, .w = &s_w, .now_us = meeting_now};
    Lantern__V1__ListAlerts la = LANTERN__V1__LIST_ALERTS__INIT;
    Lantern__V1__AlertList *alerts = NULL;
    assert_int_equal (triage_query_list_alerts (db, &qenv, &la, &alerts, &err), 0);
    assert_int_equal (alerts->n_alerts, 1);
    char alert_id[TRIAGE_ID_SIZE];
    snprintf (alert_id, sizeof alert_id, "%s", alerts->alerts[0]->alert_id);
    assert_int_equal (alerts->alerts[0]->kind, LANTERN__V1__ALERT_KIND__ALERT_KIND_MINOR_INVOLVED);
    protobuf_c_message_free_unpacked (&alerts->base, NULL);
    Lantern__V1__AcknowledgeAlert ack = LANTERN__V1__ACKNOWLEDGE_ALERT__INIT;
    ack.alert_id = alert_id;
    ack.note = (char *)"Veilig Thuis called";
    Lantern__V1__AcknowledgeAlertResult *ares = NULL;
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (triage_decide_ack (db, &c.env, &ack, "chair-venlo", &ares, &err), 0);
    assert_int_equal (ln_db_commit (db), 0);
    assert_string_equal (ares->alert->acknowledged_by, "chair-venlo");
    assert_int_equal (ares->alert->acknowledged_at_us, meeting_now);
    protobuf_c_message_free_unpacked (&ares->base, NULL);
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (triage_decide_ack (db, &c.env, &ack, "chair-venlo", &ares, &err), -1);
    ln_db_rollback (db);
    assert_string_equal (err.code, "ALREADY_ACKNOWLEDGED");
    ack.alert_id = (char *)"alert-zzzzzzzzzzzzzzzzzzzzzzzzzz-minor";
    assert_int_equal (ln_db_begin (db), 0);
    assert_int_equal (triage_decide_ack (db, &c.env, &ack, "chair-venlo", &ares, &err), -1);
    ln_db_rollback (db);
    assert_string_equal (err.code, "NOT_FOUND");
    assert_int_equal (triage_query_list_alerts (db, &qenv, &la, &alerts, &err), 0);
    assert_int_equal (alerts->n_alerts, 0);
    protobuf_c_message_free_unpacked (&alerts->base, NULL);
    la.include_acknowledged = true;
    assert_int_equal (triage_query_list_alerts (db, &qenv, &la, &alerts, &err), 0);
    assert_int_equal (alerts->n_alerts, 1);
    protobuf_c_message_free_unpacked (&alerts->base, NULL);

    /* Lists. */
    Lantern__V1__ListTracks lt = LANTERN__V1__LIST_TRACKS__INIT;
    Lantern__V1__TrackList *tl = NULL;
    assert_int_equal (triage_query_list_tracks (db, &qenv, &lt, &tl, &err), 0);
    assert_int_equal (tl->n_tracks, 3);
    protobuf_c_message_free_unpacked (&tl->base, NULL);
    lt.overdue = true;
    assert_int_equal (triage_query_list_tracks (db, &qenv, &lt, &tl, &err), 0);
    assert_int_equal (tl->n_tracks, 0);
    protobuf_c_message_free_unpacked (&tl->base, NULL);
    Lantern__V1__ListCases lc = LANTERN__V1__LIST_CASES__INIT;
    lc.page_size = 1;
    Lantern__V1__CaseList *cl = NULL;
    assert_int_equal (triage_query_list_cases (db, &qenv, &lc, &cl, &err), 0);
    assert_int_equal (cl->n_cases, 1);
    assert_true (*cl->next_page_token);
    lc.page_token = cl->next_page_token;
    Lantern__V1__CaseList *cl2 = NULL;
    assert_int_equal (triage_query_list_cases (db, &qenv, &lc, &cl2, &err), 0);
    assert_int_equal (cl2->n_cases, 0); /* only "later" is open */
    protobuf_c_message_free_unpacked (&cl->base, NULL);
    protobuf_c_message_free_unpacked (&cl2->base, NULL);
    free (care);
    free (more);
    free (none);
    ln_db_destroy (&db);
}

/* An overdue track is on ListTracks --overdue and brings its case back. */
static void
test_overdue (void **state)
{
    (void)state;
    ln_db_t *db = s_fresh_db ();
    event_t v1 = {EV_RECEIVED, "intake-venlo",
                  1,           {"solo", VENLO, T0, NULL, NULL, false, false, {ANNA_V}, NULL},
                  1,           T0};
    s_apply_ok (db, &v1);
    char id[TRIAGE_CASE_ID_SIZE];
    s_case_of ("solo", id);
    int64_t meeting_now = INT64_C (1780387200000000) + H;
    chair_t c;
    s_chair (&c, db, meeting_now);
    Lantern__V1__TrackSpec *adm = s_spec (TK (ADMINISTRATIVE), "Gemeente Venlo", "2026-06-05");
    Lantern__V1__TrackSpec *tracks[1] = {adm};
    char *attendees[] = {"Gemeente Venlo"};
    Lantern__V1__RecordDecision cmd = LANTERN__V1__RECORD_DECISION__INIT;
    cmd.case_id = id;
    cmd.meeting_id = (char *)"2026-06-02";
    cmd.attendees = attendees;
    cmd.n_attendees = 1;
    cmd.tracks = tracks;
    cmd.n_tracks = 1;
    Lantern__V1__RecordDecisionResult *res = NULL;
    ln_error_t err;
    if (s_decide (&c, &cmd, &res, &err) != 0)
        fail_msg ("%s", err.message);
    protobuf_c_message_free_unpacked (&res->base, NULL);
    triage_query_env_t q = {.slot = s_slot, .w = &s_w, .now_us = meeting_now};
    Lantern__V1__ListTracks lt = LANTERN__V1__LIST_TRACKS__INIT;
    lt.overdue = true;
    Lantern__V1__TrackList *tl = NULL;
    /* On the deadline day: not yet overdue; the day after: overdue. */
    q.now_us = INT64_C (1780387200000000) + 3 * DAY_US;
    assert_int_equal (triage_query_list_tracks (db, &q, &lt, &tl, &err), 0);
    assert_int_equal (tl->n_tracks, 0);
    protobuf_c_message_free_unpacked (&tl->base, NULL);
    q.now_us += DAY_US;
    assert_int_equal (triage_query_list_tracks (db, &q, &lt, &tl, &err), 0);
    assert_int_equal (tl->n_tracks, 1);
    assert_true (tl->tracks[0]->overdue);
    char track_id[TRIAGE_ID_SIZE];
    snprintf (track_id, sizeof track_id, "%s", tl->tracks[0]->track_id);
    protobuf_c_message_free_unpacked (&tl->base, NULL);
    assert_true (s_on_agenda (db, "2026-06-09", q.now_us, id,
                              LANTERN__V1__AGENDA_REASON__AGENDA_REASON_TRACK_OVERDUE));
    /* Handed back: it comes back for that instead, and is no longer
       overdue. */
    c.env.now_us = q.now_us;
    assert_int_equal (s_update (&c, track_id, TS (HANDED_BACK), "not ours: a labour matter",
                                "Gemeente Venlo", &err),
                      0);
    assert_int_equal (triage_query_list_tracks (db, &q, &lt, &tl, &err), 0);
    assert_int_equal (tl->n_tracks, 0);
    protobuf_c_message_free_unpacked (&tl->base, NULL);
    assert_true (s_on_agenda (db, "2026-06-09", q.now_us, id,
                              LANTERN__V1__AGENDA_REASON__AGENDA_REASON_TRACK_HANDED_BACK));
    assert_false (s_on_agenda (db, "2026-06-09", q.now_us, id,
                               LANTERN__V1__AGENDA_REASON__AGENDA_REASON_TRACK_OVERDUE));
    /* The next decision takes it up: it brings the case back no more. */
    Lantern__V1__TrackSpec *li =
        s_spec (TK (LABOUR_INSPECTION), "Nederlandse Arbeidsinspectie", "2026-07-01");
    tracks[0] = li;
    cmd.meeting_id = (char *)"2026-06-09";
    c.env.now_us = INT64_C (1780387200000000) + 7 * DAY_US + H;
    if (s_decide (&c, &cmd, &res, &err) != 0)
        fail_msg ("%s", err.message);
    protobuf_c_message_free_unpacked (&res->base, NULL);
    assert_false (s_on_agenda (db, "2026-06-16", c.env.now_us, id, 0));
    free (li);
    free (adm);
    ln_db_destroy (&db);
}

/* --- setup -------------------------------------------------------------------------------------
 */

static int
s_setup (void **state)
{
    (void)state;
    s_fix = ln_pgfix_new ("triage_store");
    if (!s_fix)
        return -1;
    for (size_t i = 0; i < sizeof s_key.bytes; i++)
        s_key.bytes[i] = (unsigned char)(i * 7 + 3);
    char path[4096];
    const char *dir = getenv ("LANTERN_SOURCE_DIR");
    snprintf (path, sizeof path, "%s/deploy/indicators.cfg", dir && *dir ? dir : ".");
    ln_error_t err;
    s_cat = ln_catalogue_load (path, &err);
    if (!s_cat || triage_priority_weights (s_cat, &s_w, &err) != 0) {
        fprintf (stderr, "%s\n", err.message);
        return -1;
    }
    s_slot = triage_slot_new ("tuesday", "10:00", "Europe/Amsterdam", &err);
    return s_slot ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    triage_slot_destroy (&s_slot);
    ln_catalogue_destroy (&s_cat);
    ln_pgfix_destroy (&s_fix);
    return 0;
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_link_scenario), cmocka_unit_test (test_replay_same_rows),
        cmocka_unit_test (test_agenda_order),  cmocka_unit_test (test_decisions),
        cmocka_unit_test (test_overdue),
    };
    return cmocka_run_group_tests_name ("triage_store", tests, s_setup, s_teardown);
}
