/*  conformance, intake: lantern-intake's codes (docs/protocol.md 4.6), each
    produced through a real lantern-intake process (tests/support/
    intake_fixture), over CURVE, as its officer (or, for FORBIDDEN, as
    someone else).

    The signal rules come from the table of bad signals that the validator's
    unit test and test_intake share (tests/support/intake_cases): every
    submission there is sent as SubmitSignal (through Request's
    submit_signal field), every amendment as AmendSignal (through
    Request.call) of a freshly submitted baseline.  A few of them break a
    rule of the hostile-input layer too, which a node checks first (section
    7): those expect that layer's code at the same field (s_wire_first), as
    the protocol says a client sees it.  Cases whose "future" is relative
    to the table's fixed clock are left out; the real clock's are here.
    Then the commands' own rules (signal ids, withdrawals, ListSignals).

    Checks (section 7.1, each limit from both sides): the account (20,000
    bytes accepted and delivered whole to triage, 20,001 refused); 1,024
    indicators reach intake's own rule, 1,025 are refused by the
    hostile-input layer; a signal with every list at its count and every
    text at its length is accepted.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conformance.h"
#include "intake.h"
#include "intake_cases.h"
#include "intake_fixture.h"
#include "lantern.pb-c.h"
#include "ln_clock.h"
#include "ln_envelope.h"

typedef struct {
    intake_fix_t *fix;
    ln_client_t *officer;
    ln_client_t *other;  /* an attention officer of another organisation */
    ln_client_t *triage; /* not an attention officer */
} intake_conf_t;

static void *
s_setup (void)
{
    intake_conf_t *f = calloc (1, sizeof *f);
    assert_non_null (f);
    /* the types triage receives, to read them as a follower does */
    if (ln_envelope_register (intake_event_types, intake_event_type_count, NULL) != 0)
        return NULL;
    f->fix = intake_fix_start (NULL);
    if (!f->fix)
        return NULL;
    f->officer = intake_fix_client (f->fix, "officer");
    f->other = intake_fix_client (f->fix, "other-officer");
    f->triage = intake_fix_client (f->fix, "triage");
    return f->officer && f->other && f->triage ? f : NULL;
}

static void
s_teardown (void *fixture)
{
    intake_conf_t *f = fixture;
    if (!f)
        return;
    ln_client_destroy (&f->officer);
    ln_client_destroy (&f->other);
    ln_client_destroy (&f->triage);
    intake_fix_stop (&f->fix);
    free (f);
}

/* --- helpers ------------------------------------------------------------------------ */

static char *
s_dup (const char *text)
{
    char *p = strdup (text);
    assert_non_null (p);
    return p;
}

/* Replace a malloc'ed string of a message (or protobuf-c's empty default). */
static void
s_replace (char **field, const char *value)
{
    if (*field && *field != protobuf_c_empty_string)
        free (*field);
    *field = s_dup (value);
}

static int
s_submit (ln_client_t *c, unsigned via, Lantern__V1__SignalDetails *d, conf_result_t *r)
{
    Lantern__V1__SubmitSignal s = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    s.details = d;
    return conf_call (c, via, &s.base, r);
}

/* Submit the baseline as the officer: its id in id (0), or -1. */
static int
s_submit_baseline (intake_conf_t *f, char *id, size_t size)
{
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    conf_result_t r = {0};
    int rc = s_submit (f->officer, 100, d, &r);
    protobuf_c_message_free_unpacked (&d->base, NULL);
    const Lantern__V1__Reply *reply = r.msg ? r.msg->reply : NULL;
    if (rc == 0 && reply && reply->status == LANTERN__V1__REPLY__STATUS__OK)
        snprintf (id, size, "%s", reply->submit_signal->signal_id);
    else {
        fprintf (stderr, "intake: the baseline was not accepted (%s %s)\n",
                 reply && reply->error ? reply->error->code : "no reply",
                 reply && reply->error ? reply->error->field : "");
        rc = -1;
    }
    if (r.msg)
        lantern__v1__server_message__free_unpacked (r.msg, NULL);
    return rc;
}

static int
s_withdraw (ln_client_t *c, const char *id, const char *reason, conf_result_t *r)
{
    Lantern__V1__WithdrawSignal w = LANTERN__V1__WITHDRAW_SIGNAL__INIT;
    w.signal_id = (char *)id;
    w.reason = (char *)reason;
    return conf_call (c, CONF_CALL, &w.base, r);
}

/* --- the table's cases ---------------------------------------------------------------- */

/* Cases of intake_cases that the hostile-input layer refuses first, and
   with which code (the field is the case's). */
static const struct {
    const char *name, *code;
} s_wire_first[] = {
    {"reporter_role_undefined", "PB_BAD_ENUM"},
    {"form_undefined", "PB_BAD_ENUM"},
    {"form_negative", "PB_BAD_ENUM"},
    {"sector_undefined", "PB_BAD_ENUM"},
    {"person_role_undefined", "PB_BAD_ENUM"},
    {"name_bad_utf8", "PB_INVALID_UTF8"},
    {"account_overlong_utf8", "PB_INVALID_UTF8"},
    {"employer_name_surrogate", "PB_INVALID_UTF8"},
    {"name_escape", "PB_INVALID_UTF8"},
    {"organisation_c1_control", "PB_INVALID_UTF8"},
};

static const char *
s_wire_code (const intake_case_t *c)
{
    for (size_t i = 0; i < sizeof s_wire_first / sizeof s_wire_first[0]; i++)
        if (strcmp (s_wire_first[i].name, c->name) == 0)
            return s_wire_first[i].code;
    return NULL;
}

static int
c_submit_case (void *fixture, const void *arg, conf_result_t *r)
{
    intake_conf_t *f = fixture;
    const intake_case_t *c = arg;
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    c->mutate (d);
    int rc = s_submit (f->officer, 100, d, r);
    protobuf_c_message_free_unpacked (&d->base, NULL);
    return rc;
}

static int
c_amend_case (void *fixture, const void *arg, conf_result_t *r)
{
    intake_conf_t *f = fixture;
    const intake_case_t *c = arg;
    char id[64];
    if (s_submit_baseline (f, id, sizeof id) != 0)
        return -1;
    Lantern__V1__SignalDetails *added = intake_cases_empty ();
    c->mutate (added);
    Lantern__V1__AmendSignal a = LANTERN__V1__AMEND_SIGNAL__INIT;
    a.signal_id = id;
    a.added = added;
    int rc = conf_call (f->officer, CONF_CALL, &a.base, r);
    protobuf_c_message_free_unpacked (&added->base, NULL);
    return rc;
}

/* --- the commands' own cases ------------------------------------------------------------ */

static int
c_other_organisation (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    intake_conf_t *f = fixture;
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    int rc = s_submit (f->other, 100, d, r);
    protobuf_c_message_free_unpacked (&d->base, NULL);
    return rc;
}

static int
c_not_an_officer (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    intake_conf_t *f = fixture;
    Lantern__V1__ListSignals l = LANTERN__V1__LIST_SIGNALS__INIT;
    return conf_call (f->triage, CONF_CALL, &l.base, r);
}

/* A future date by the node's (real) clock: two days ahead in UTC. */
static int
c_future (void *fixture, const void *arg, conf_result_t *r)
{
    intake_conf_t *f = fixture;
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    time_t later = time (NULL) + 2 * 86400;
    struct tm tm;
    gmtime_r (&later, &tm);
    char date[16];
    strftime (date, sizeof date, "%Y-%m-%d", &tm);
    if (strcmp (arg, "observed_on") == 0)
        s_replace (&d->observed_on, date);
    else
        s_replace (&d->persons[0]->date_of_birth, date);
    int rc = s_submit (f->officer, 100, d, r);
    protobuf_c_message_free_unpacked (&d->base, NULL);
    return rc;
}

/* Amend (0), withdraw (1) or get (2) with signal_id `arg`. */
static int
s_by_id (intake_conf_t *f, int which, const char *id, conf_result_t *r)
{
    if (which == 0) {
        Lantern__V1__SignalDetails d = LANTERN__V1__SIGNAL_DETAILS__INIT;
        d.immediate_danger = 1;
        Lantern__V1__AmendSignal a = LANTERN__V1__AMEND_SIGNAL__INIT;
        a.signal_id = (char *)id;
        a.added = &d;
        return conf_call (f->officer, CONF_CALL, &a.base, r);
    }
    if (which == 1)
        return s_withdraw (f->officer, id, "entered twice", r);
    Lantern__V1__GetSignal g = LANTERN__V1__GET_SIGNAL__INIT;
    g.signal_id = (char *)id;
    return conf_call (f->officer, CONF_CALL, &g.base, r);
}

static int
c_amend_id (void *fixture, const void *arg, conf_result_t *r)
{
    return s_by_id (fixture, 0, arg, r);
}

static int
c_withdraw_id (void *fixture, const void *arg, conf_result_t *r)
{
    return s_by_id (fixture, 1, arg, r);
}

static int
c_get_id (void *fixture, const void *arg, conf_result_t *r)
{
    return s_by_id (fixture, 2, arg, r);
}

static int
c_amend_withdrawn (void *fixture, const void *arg, conf_result_t *r)
{
    intake_conf_t *f = fixture;
    char id[64];
    conf_result_t w = {0};
    if (s_submit_baseline (f, id, sizeof id) != 0 || s_withdraw (f->officer, id, "test", &w) != 0)
        return -1;
    if (w.msg)
        lantern__v1__server_message__free_unpacked (w.msg, NULL);
    return s_by_id (f, strcmp (arg, "amend") == 0 ? 0 : 1, id, r);
}

/* Amend the baseline's sector when it has one: first set it, then again. */
static int
c_sector_twice (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    intake_conf_t *f = fixture;
    char id[64];
    if (s_submit_baseline (f, id, sizeof id) != 0)
        return -1;
    Lantern__V1__SignalDetails d = LANTERN__V1__SIGNAL_DETAILS__INIT;
    d.sector = LANTERN__V1__LABOUR_SECTOR__LABOUR_SECTOR_AGRICULTURE;
    Lantern__V1__AmendSignal a = LANTERN__V1__AMEND_SIGNAL__INIT;
    a.signal_id = id;
    a.added = &d;
    conf_result_t first = {0};
    if (conf_call (f->officer, CONF_CALL, &a.base, &first) != 0 || !first.msg ||
        first.msg->reply->status != LANTERN__V1__REPLY__STATUS__OK) {
        fprintf (stderr, "SECTOR_IMMUTABLE: setting the first sector failed\n");
        if (first.msg)
            lantern__v1__server_message__free_unpacked (first.msg, NULL);
        return -1;
    }
    lantern__v1__server_message__free_unpacked (first.msg, NULL);
    d.sector = LANTERN__V1__LABOUR_SECTOR__LABOUR_SECTOR_CONSTRUCTION;
    return conf_call (f->officer, CONF_CALL, &a.base, r);
}

static int
c_withdraw_reason (void *fixture, const void *arg, conf_result_t *r)
{
    intake_conf_t *f = fixture;
    char id[64];
    if (s_submit_baseline (f, id, sizeof id) != 0)
        return -1;
    return s_withdraw (f->officer, id, arg, r);
}

static int
c_purpose (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    intake_conf_t *f = fixture;
    char purpose[202];
    memset (purpose, 'p', 201);
    purpose[201] = '\0';
    Lantern__V1__GetSignal g = LANTERN__V1__GET_SIGNAL__INIT;
    g.signal_id = "sig-aaaaaaaaaaaaaaaaaaaaaaaaaa";
    g.purpose = purpose;
    return conf_call (f->officer, 103, &g.base, r);
}

typedef struct {
    int64_t from, to;
    uint32_t page_size;
    const char *page_token, *municipality;
} list_arg_t;

static int
c_list (void *fixture, const void *arg, conf_result_t *r)
{
    intake_conf_t *f = fixture;
    const list_arg_t *a = arg;
    Lantern__V1__ListSignals l = LANTERN__V1__LIST_SIGNALS__INIT;
    l.received_from_us = a->from;
    l.received_to_us = a->to;
    l.page_size = a->page_size;
    if (a->page_token)
        l.page_token = (char *)a->page_token;
    if (a->municipality)
        l.municipality = (char *)a->municipality;
    return conf_call (f->officer, 104, &l.base, r);
}

static const list_arg_t s_list_backwards = {.from = 1800000000000000, .to = 1700000000000000};
static const list_arg_t s_list_negative = {.from = -1};
static const list_arg_t s_list_big_page = {.page_size = 501};
static const list_arg_t s_list_bad_token = {.page_token = "next"};
static const list_arg_t s_list_bad_municipality = {.municipality = "Venlo"};
static const list_arg_t s_list_unknown_municipality = {.municipality = "GM9999"};
static const list_arg_t s_list_former_municipality = {.municipality = "GM0756"};

#define SUBMIT (&lantern__v1__submit_signal__descriptor)
#define AMEND  (&lantern__v1__amend_signal__descriptor)
#define WDRAW  (&lantern__v1__withdraw_signal__descriptor)
#define GET    (&lantern__v1__get_signal__descriptor)
#define LIST   (&lantern__v1__list_signals__descriptor)

static const conf_case_t s_own[] = {
    {"FORBIDDEN", "", "SubmitSignal by an officer of another organisation", SUBMIT,
     c_other_organisation, NULL},
    {"FORBIDDEN", "", "ListSignals by a principal without attention_officer", LIST,
     c_not_an_officer, NULL},
    {"DATE_IN_FUTURE", "details.observed_on", "observed_on two days ahead", SUBMIT, c_future,
     "observed_on"},
    {"DATE_IN_FUTURE", "details.persons[0].date_of_birth", "born two days ahead", SUBMIT, c_future,
     "date_of_birth"},
    {"MISSING_SIGNAL_ID", "signal_id", "AmendSignal without signal_id", AMEND, c_amend_id, ""},
    {"MISSING_SIGNAL_ID", "signal_id", "WithdrawSignal without signal_id", WDRAW, c_withdraw_id,
     ""},
    {"MISSING_SIGNAL_ID", "signal_id", "GetSignal without signal_id", GET, c_get_id, ""},
    {"INVALID_SIGNAL_ID", "signal_id", "AmendSignal of sig-1", AMEND, c_amend_id, "sig-1"},
    {"INVALID_SIGNAL_ID", "signal_id", "WithdrawSignal of sig-1", WDRAW, c_withdraw_id, "sig-1"},
    {"INVALID_SIGNAL_ID", "signal_id", "GetSignal of an upper-case id", GET, c_get_id,
     "sig-AAAAAAAAAAAAAAAAAAAAAAAAAA"},
    {"NOT_FOUND", "signal_id", "AmendSignal of a signal that does not exist", AMEND, c_amend_id,
     "sig-aaaaaaaaaaaaaaaaaaaaaaaaaa"},
    {"NOT_FOUND", "signal_id", "WithdrawSignal of a signal that does not exist", WDRAW,
     c_withdraw_id, "sig-aaaaaaaaaaaaaaaaaaaaaaaaaa"},
    {"NOT_FOUND", "signal_id", "GetSignal of a signal that does not exist", GET, c_get_id,
     "sig-aaaaaaaaaaaaaaaaaaaaaaaaaa"},
    {"SIGNAL_WITHDRAWN", "signal_id", "AmendSignal of a withdrawn signal", AMEND, c_amend_withdrawn,
     "amend"},
    {"ALREADY_WITHDRAWN", "signal_id", "WithdrawSignal of a withdrawn signal", WDRAW,
     c_amend_withdrawn, "withdraw"},
    {"SECTOR_IMMUTABLE", "added.sector", "AmendSignal of the sector of a signal that has one",
     AMEND, c_sector_twice, NULL},
    {"MISSING_REASON", "reason", "WithdrawSignal without a reason", WDRAW, c_withdraw_reason, " "},
    {"CONTROL_CHARACTER", "reason", "WithdrawSignal with a bidi override in its reason", WDRAW,
     c_withdraw_reason, "typo \xe2\x80\xae"},
    {"TEXT_TOO_LONG", "purpose", "GetSignal with a purpose of 201 bytes", GET, c_purpose, NULL},
    {"INVALID_RANGE", "received_to_us", "ListSignals from after to", LIST, c_list,
     &s_list_backwards},
    {"INVALID_RANGE", "received_from_us", "ListSignals from a negative time", LIST, c_list,
     &s_list_negative},
    {"PAGE_TOO_LARGE", "page_size", "ListSignals of 501 per page", LIST, c_list, &s_list_big_page},
    {"BAD_PAGE_TOKEN", "page_token", "ListSignals with a made-up page token", LIST, c_list,
     &s_list_bad_token},
    {"INVALID_MUNICIPALITY", "municipality", "ListSignals of municipality 'Venlo'", LIST, c_list,
     &s_list_bad_municipality},
    {"UNKNOWN_MUNICIPALITY", "municipality", "ListSignals of GM9999", LIST, c_list,
     &s_list_unknown_municipality},
    {"FORMER_MUNICIPALITY", "municipality",
     "ListSignals of GM0756 (Boxmeer, since 2022 Land "
     "van Cuijk)",
     LIST, c_list, &s_list_former_municipality},
};

static conf_case_t *s_cases;
static size_t s_case_count;

static void
s_add (const conf_case_t *c)
{
    conf_case_t *grown = realloc (s_cases, (s_case_count + 1) * sizeof *grown);
    assert_non_null (grown);
    s_cases = grown;
    s_cases[s_case_count++] = *c;
}

static const conf_case_t *
s_get_cases (size_t *count)
{
    if (!s_cases) {
        for (size_t i = 0; i < intake_cases_count (); i++) {
            const intake_case_t *c = intake_cases_at (i);
            if (strcmp (c->code, "DATE_IN_FUTURE") == 0)
                continue; /* the table's clock, not the node's: see s_own */
            const char *wire = s_wire_code (c);
            s_add (
                &(conf_case_t){wire ? wire : c->code, c->field, c->name, SUBMIT, c_submit_case, c});
        }
        for (size_t i = 0; i < intake_amend_cases_count (); i++) {
            const intake_case_t *c = intake_amend_cases_at (i);
            const char *wire = s_wire_code (c);
            s_add (
                &(conf_case_t){wire ? wire : c->code, c->field, c->name, AMEND, c_amend_case, c});
        }
        for (size_t i = 0; i < sizeof s_own / sizeof s_own[0]; i++)
            s_add (&s_own[i]);
    }
    *count = s_case_count;
    return s_cases;
}

/* --- checks ------------------------------------------------------------------------------ */

/* Submit d as the officer and return the reply's error code ("OK" when
   accepted; static). */
static const char *
s_outcome (intake_conf_t *f, Lantern__V1__SignalDetails *d, char *field, size_t size, char *id,
           size_t id_size)
{
    static char code[64];
    conf_result_t r = {0};
    assert_int_equal (s_submit (f->officer, 100, d, &r), 0);
    assert_non_null (r.msg);
    const Lantern__V1__Reply *reply = r.msg->reply;
    if (reply->status == LANTERN__V1__REPLY__STATUS__OK) {
        snprintf (code, sizeof code, "OK");
        if (field)
            field[0] = '\0';
        if (id)
            snprintf (id, id_size, "%s", reply->submit_signal->signal_id);
    }
    else {
        snprintf (code, sizeof code, "%s", reply->error->code);
        if (field)
            snprintf (field, size, "%s", reply->error->field);
    }
    lantern__v1__server_message__free_unpacked (r.msg, NULL);
    return code;
}

/* The payload of the SignalReceived event of signal `id`, as triage
   receives it (waits up to 10 s). */
static Lantern__V1__SignalReceived *
s_received_by_triage (intake_conf_t *f, const char *id)
{
    ln_error_t err;
    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    sub.credit = 1000;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    cm.subscribe = &sub;
    assert_int_equal (ln_client_send (f->triage, &cm, &err), 0);
    Lantern__V1__SignalReceived *found = NULL;
    int64_t deadline = ln_clock_mono_ms () + 10000;
    while (!found && ln_clock_mono_ms () < deadline) {
        Lantern__V1__ServerMessage *m = ln_client_recv (f->triage, 1000, &err);
        if (!m)
            continue;
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER) {
            ln_event_t *ev =
                ln_envelope_parse (m->deliver->event.data, m->deliver->event.len, &err);
            if (!ev)
                fail_msg ("triage refused an event: %s %s %s", err.code, err.field, err.message);
            const ProtobufCMessage *payload = ln_event_payload (ev);
            if (strcmp (ln_event_type (ev), "nl.lantern.signal.received.v1") == 0 &&
                strcmp (((const Lantern__V1__SignalReceived *)payload)->signal->id, id) == 0) {
                size_t size = protobuf_c_message_get_packed_size (payload);
                uint8_t *bytes = malloc (size ? size : 1);
                assert_non_null (bytes);
                protobuf_c_message_pack (payload, bytes);
                found = lantern__v1__signal_received__unpack (NULL, size, bytes);
                free (bytes);
            }
            ln_event_destroy (&ev);
            Lantern__V1__Credit credit = LANTERN__V1__CREDIT__INIT;
            credit.credit = 1;
            Lantern__V1__ClientMessage cc = LANTERN__V1__CLIENT_MESSAGE__INIT;
            cc.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_CREDIT;
            cc.credit = &credit;
            ln_client_send (f->triage, &cc, &err);
        }
        lantern__v1__server_message__free_unpacked (m, NULL);
    }
    return found;
}

static void
k_account (void *fixture)
{
    intake_conf_t *f = fixture;
    char field[128], id[64];
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    char *account = malloc (20002);
    assert_non_null (account);
    for (size_t i = 0; i < 20001; i++)
        account[i] = "Works nights. "[i % 14];
    account[20001] = '\0';
    s_replace (&d->account, account);
    assert_string_equal (s_outcome (f, d, field, sizeof field, NULL, 0), "TEXT_TOO_LONG");
    assert_string_equal (field, "details.account");
    account[20000] = '\0';
    s_replace (&d->account, account);
    assert_string_equal (s_outcome (f, d, field, sizeof field, id, sizeof id), "OK");
    /* it comes back whole to a client (ln_client, as lanternctl reads it) */
    Lantern__V1__GetSignal g = LANTERN__V1__GET_SIGNAL__INIT;
    g.signal_id = id;
    conf_result_t r = {0};
    assert_int_equal (conf_call (f->officer, 103, &g.base, &r), 0);
    if (!r.msg)
        fail_msg (
            "GetSignal of the signal with a 20,000-byte account: no reply the client accepts");
    assert_int_equal (r.msg->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    assert_string_equal (r.msg->reply->get_signal->signal->details->account, account);
    lantern__v1__server_message__free_unpacked (r.msg, NULL);
    /* and it reaches a follower whole: no layer after intake cuts it */
    Lantern__V1__SignalReceived *ev = s_received_by_triage (f, id);
    bool got = ev != NULL;
    bool whole = got && strcmp (ev->signal->details->account, account) == 0;
    if (ev)
        lantern__v1__signal_received__free_unpacked (ev, NULL);
    free (account);
    protobuf_c_message_free_unpacked (&d->base, NULL);
    if (!whole)
        fail_msg ("triage did not receive signal %s with its 20,000-byte account %s", id,
                  got ? "whole" : "at all");
}

static void
k_indicators (void *fixture)
{
    intake_conf_t *f = fixture;
    char field[128];
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    char **codes = calloc (1025, sizeof *codes);
    assert_non_null (codes);
    for (size_t i = 0; i < 1025; i++)
        codes[i] = s_dup ("ILO_DEBT_BONDAGE");
    for (size_t i = 0; i < d->n_indicators; i++)
        free (d->indicators[i]);
    free (d->indicators);
    d->indicators = codes;
    d->n_indicators = 1024;
    /* 1,024: through the hostile-input layer, to intake's own rule */
    assert_string_equal (s_outcome (f, d, field, sizeof field, NULL, 0), "TOO_MANY_INDICATORS");
    assert_string_equal (field, "details.indicators");
    d->n_indicators = 1025;
    assert_string_equal (s_outcome (f, d, field, sizeof field, NULL, 0), "PB_TOO_MANY");
    assert_string_equal (field, "details.indicators");
    protobuf_c_message_free_unpacked (&d->base, NULL);
}

/* n characters of a name (letters and spaces). */
static char *
s_text (size_t n, const char *pattern)
{
    char *t = malloc (n + 1);
    assert_non_null (t);
    size_t len = strlen (pattern);
    for (size_t i = 0; i < n; i++)
        t[i] = pattern[i % len];
    t[n] = '\0';
    if (n > 0 && t[n - 1] == ' ')
        t[n - 1] = 'a';
    return t;
}

static void
k_largest (void *fixture)
{
    intake_conf_t *f = fixture;
    char field[128];
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    /* every list at intake's count, every text at its length */
    Lantern__V1__Person **persons = calloc (20, sizeof *persons);
    Lantern__V1__Address **addresses = calloc (20, sizeof *addresses);
    Lantern__V1__Vehicle **vehicles = calloc (20, sizeof *vehicles);
    Lantern__V1__Employer **employers = calloc (20, sizeof *employers);
    assert_true (persons && addresses && vehicles && employers);
    for (size_t i = 0; i < 20; i++) {
        persons[i] = malloc (sizeof **persons);
        lantern__v1__person__init (persons[i]);
        persons[i]->role = LANTERN__V1__PERSON_ROLE__PERSON_ROLE_WITNESS;
        persons[i]->name = s_text (200, "Anna Kowalska ");
        persons[i]->description = s_text (1000, "tall, speaks Polish. ");
        addresses[i] = malloc (sizeof **addresses);
        lantern__v1__address__init (addresses[i]);
        addresses[i]->street = s_text (200, "Laan van Nieuw Oost Indie ");
        addresses[i]->city = s_text (200, "Venlo ");
        addresses[i]->description = s_text (500, "lives at the workplace. ");
        vehicles[i] = malloc (sizeof **vehicles);
        lantern__v1__vehicle__init (vehicles[i]);
        vehicles[i]->description = s_text (200, "white van ");
        employers[i] = malloc (sizeof **employers);
        lantern__v1__employer__init (employers[i]);
        employers[i]->name = s_text (200, "De Wit & Zn. B.V. ");
        employers[i]->address = s_text (300, "Markt 1, Venlo ");
    }
#define SWAP(list, type)                                                                           \
    do {                                                                                           \
        for (size_t i = 0; i < d->n_##list; i++)                                                   \
            protobuf_c_message_free_unpacked (&d->list[i]->base, NULL);                            \
        free (d->list);                                                                            \
        d->list = list;                                                                            \
        d->n_##list = 20;                                                                          \
    } while (0)
    SWAP (persons, Person);
    SWAP (addresses, Address);
    SWAP (vehicles, Vehicle);
    SWAP (employers, Employer);
#undef SWAP
    char *account = s_text (20000, "Works nights in the greenhouse. ");
    s_replace (&d->account, account);
    free (account);
    const char *code = s_outcome (f, d, field, sizeof field, NULL, 0);
    if (strcmp (code, "OK") != 0)
        fail_msg ("the largest signal intake accepts was refused: %s at %s", code, field);
    protobuf_c_message_free_unpacked (&d->base, NULL);
}

static const conf_check_t s_checks[] = {
    {"an account of 20,000 bytes is accepted, read back and delivered to triage whole; 20,001 "
     "are refused",
     k_account},
    {"1,024 indicators reach intake's rule, 1,025 are refused by the hostile-input layer",
     k_indicators},
    {"a signal with every list at its count and every text at its length is accepted", k_largest},
};

static const char *const s_sections[] = {"4.6", NULL};

static const conf_service_t s_intake = {
    .name = "intake",
    .sections = s_sections,
    .setup = s_setup,
    .teardown = s_teardown,
    .cases = s_get_cases,
    .checks = s_checks,
    .check_count = sizeof s_checks / sizeof s_checks[0],
};

CONF_REGISTER (s_intake)
