/*  intake_commands: the intake node's commands (see intake_commands.h).

    Memory: the request was unpacked by the server with the default
    allocator; a handler that changes it (tokens, normalised dates) puts it
    back as it was before returning (s_tokens_clear), since the server may
    run it again.  Messages read from the database for a reply are unpacked
    with an allocator over ln_call_alloc, so they live exactly until the
    reply has been packed.
*/
#include "intake_commands.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intake_municipality.h"
#include "intake_store.h"
#include "intake_tokens.h"
#include "intake_validate.h"
#include "lantern.pb-c.h"
#include "ln_alloc.h"
#include "ln_audit.h"
#include "ln_log.h"
#include "ln_outbox.h"

#define LIST_PAGE_DEFAULT 50
#define LIST_PAGE_MAX     500
#define ACCOUNT_TOTAL_MAX (20000 * 8) /* the account with all its addenda */

static const char *const s_officer[] = {INTAKE_ROLE_OFFICER, NULL};

/* --- helpers ------------------------------------------------------------------- */

static int64_t
s_now (const intake_t *in)
{
    return in->clock_us ();
}

/* "sig-" + 128 random bits in lower-case base32 (RFC 4648 alphabet). */
static void
s_new_id (char out[INTAKE_SIGNAL_ID_SIZE])
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    uint8_t raw[16];
    randombytes_buf (raw, sizeof raw);
    memcpy (out, "sig-", 4);
    size_t o = 4;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof raw; i++) {
        acc = (acc << 8) | raw[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

static uint32_t
s_forms_mask (const Lantern__V1__SignalDetails *d)
{
    uint32_t mask = 0;
    for (size_t i = 0; i < d->n_forms; i++)
        if (d->forms[i] > 0 && d->forms[i] < 31)
            mask |= 1u << d->forms[i];
    return mask;
}

/* Remove the tokens intake_tokens_fill added, so that the request is as it
   came (the server may run the handler again). */
static void
s_tokens_clear (Lantern__V1__SignalDetails *d)
{
    if (!d)
        return;
#define CLEAR_TOKENS(arr, n)                                                                       \
    for (size_t i = 0; i < d->n; i++) {                                                            \
        for (size_t t = 0; t < d->arr[i]->n_tokens; t++)                                           \
            protobuf_c_message_free_unpacked (&d->arr[i]->tokens[t]->base, NULL);                  \
        free (d->arr[i]->tokens);                                                                  \
        d->arr[i]->tokens = NULL;                                                                  \
        d->arr[i]->n_tokens = 0;                                                                   \
    }
    CLEAR_TOKENS (persons, n_persons)
    CLEAR_TOKENS (addresses, n_addresses)
    CLEAR_TOKENS (vehicles, n_vehicles)
    CLEAR_TOKENS (employers, n_employers)
#undef CLEAR_TOKENS
}

/* The caller must be of the node's own organisation. */
static int
s_own_organisation (const intake_t *in, ln_call_t *call)
{
    const ln_principal_t *p = ln_call_principal (call);
    if (strcmp (p->organisation, in->organisation) != 0)
        return ln_call_fail (call, "FORBIDDEN", NULL,
                             "%s (%s) is not of this node's organisation (%s)", p->name,
                             p->organisation, in->organisation);
    return 0;
}

static int
s_fail_with (ln_call_t *call, const ln_error_t *err)
{
    return ln_call_fail (call, err->code ? err->code : "INTERNAL", err->field, "%s", err->message);
}

/* An allocator whose memory is the call's (freed after the reply). */
static void *
s_call_alloc (void *data, size_t size)
{
    return ln_call_alloc ((ln_call_t *)data, size);
}

static void
s_call_free (void *data, void *p)
{
    (void)data;
    (void)p; /* freed with the call */
}

static ProtobufCMessage *
s_unpack_for_call (ln_call_t *call, const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                   size_t size)
{
    ProtobufCAllocator a = {s_call_alloc, s_call_free, call};
    return protobuf_c_message_unpack (desc, &a, size, data);
}

/* Emit one signal event: the payload is packed by the caller. */
static int
s_emit (const intake_t *in, ln_call_t *call, const char *type, const char *id, int64_t now,
        const uint8_t *payload, size_t size, char *event_id, size_t event_id_size)
{
    ln_outbox_event_t ev = {
        .type = type,
        .level = in->event_level,
        .correlation_id = id,
        .time_us = now,
        .payload = payload,
        .payload_size = size,
    };
    return ln_call_emit (call, &ev, event_id, event_id_size);
}

static void
s_accepted (ln_call_t *call, ProtobufCMessage **output, const char *id, uint32_t version,
            const char *event_id, const char *catalogue_version, int status)
{
    Lantern__V1__SignalAccepted *r = ln_call_alloc (call, sizeof *r);
    lantern__v1__signal_accepted__init (r);
    r->signal_id = ln_call_strdup (call, id);
    r->version = version;
    r->event_id = ln_call_strdup (call, event_id);
    r->catalogue_version = ln_call_strdup (call, catalogue_version);
    r->status = (Lantern__V1__SignalStatus)status;
    *output = &r->base;
}

/* The columns of a row from a signal. */
static void
s_row_from_signal (intake_row_t *row, const Lantern__V1__Signal *sig)
{
    snprintf (row->id, sizeof row->id, "%s", sig->id);
    row->organisation = ln_xstrdup (sig->organisation);
    row->submitted_by = ln_xstrdup (sig->submitted_by);
    row->status = (int)sig->status;
    row->version = sig->version;
    row->catalogue_version = ln_xstrdup (sig->catalogue_version);
    row->municipality = ln_xstrdup (sig->details->municipality);
    row->forms_mask = s_forms_mask (sig->details);
    row->immediate_danger = sig->details->immediate_danger;
    row->minor_involved = sig->details->minor_involved;
    row->persons = (uint32_t)sig->details->n_persons;
    row->received_us = sig->received_at_us;
    row->updated_us = sig->updated_at_us;
}

/* Store a (validated) date as YYYY-MM-DD, in place.  The request may be run
   again (safe mode): a normalised date normalises to itself. */
static int
s_normalise_date (char **field, const char *path, ln_error_t *err)
{
    char norm[LN_PSEUDONYM_NORM_MAX];
    if (!(*field)[0])
        return 0;
    if (ln_pseudonym_norm_date (*field, norm, sizeof norm, err) != 0) {
        snprintf (err->field, sizeof err->field, "%s", path);
        return -1;
    }
    if (strcmp (norm, *field) == 0)
        return 0;
    char *copy = ln_xstrdup (norm);
    if (*field != protobuf_c_empty_string)
        free (*field);
    *field = copy;
    return 0;
}

/* --- SubmitSignal ------------------------------------------------------------ */

static int
s_submit (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    intake_t *in = arg;
    int rc = -1;
    ln_error_t err;
    ln_error_clear (&err);
    uint8_t *payload = NULL;
    size_t payload_size = 0;
    intake_row_t *row = NULL;
    /* the handler fills in tokens and normal forms (and clears them after) */
    Lantern__V1__SignalDetails *d = ((const Lantern__V1__SubmitSignal *)input)->details;

    if (s_own_organisation (in, call) != 0)
        return -1;
    if (!d)
        return ln_call_fail (call, "EMPTY_SIGNAL", "details", "the signal has no details");
    int64_t now = s_now (in);
    intake_validate_ctx_t ctx = {.catalogue = in->catalogue, .now_us = now};
    if (intake_validate_details (&ctx, d, NULL, false, &err) != 0)
        return s_fail_with (call, &err);
    if (s_normalise_date (&d->observed_on, "details.observed_on", &err) != 0 ||
        intake_tokens_fill (&in->key, d, "details", &err) != 0) {
        s_fail_with (call, &err);
        goto out;
    }

    char id[INTAKE_SIGNAL_ID_SIZE];
    s_new_id (id);
    Lantern__V1__Signal sig = LANTERN__V1__SIGNAL__INIT;
    sig.id = id;
    sig.node = in->node;
    sig.organisation = in->organisation;
    sig.organisation_type = (Lantern__V1__OrganisationType)in->organisation_type;
    sig.status = LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_RECEIVED;
    sig.version = 1;
    sig.catalogue_version = (char *)ln_catalogue_version (in->catalogue);
    sig.received_at_us = now;
    sig.updated_at_us = now;
    sig.details = d;
    sig.submitted_by = (char *)ln_call_principal (call)->name;

    row = intake_row_new ();
    s_row_from_signal (row, &sig);
    row->record = intake_pack (&sig.base, &row->record_size);
    /* No history row for the submission: version 1 is the signal's own
       row (submitted_by, received_us); its details are the record's, less
       what amendments added (each amendment's entry holds its additions). */
    row->action = ln_xstrdup ("submitted");
    row->principal = ln_xstrdup (sig.submitted_by);

    /* the reporter stays on this node */
    Lantern__V1__Reporter *reporter = d->reporter;
    d->reporter = NULL;
    Lantern__V1__SignalReceived ev = LANTERN__V1__SIGNAL_RECEIVED__INIT;
    ev.signal = &sig;
    payload = intake_pack (&ev.base, &payload_size);
    d->reporter = reporter;

    char event_id[LN_OUTBOX_EVENT_ID_SIZE];
    if (s_emit (in, call, INTAKE_EVENT_RECEIVED, id, now, payload, payload_size, event_id,
                sizeof event_id) != 0)
        goto out;
    ln_call_stage (call, row, intake_row_free);
    row = NULL;
    ln_call_set_object (call, id);
    s_accepted (call, output, id, 1, event_id, sig.catalogue_version, sig.status);
    rc = 0;
out:
    s_tokens_clear (d);
    intake_row_destroy (&row);
    free (payload);
    return rc;
}

static int
s_flush_submit (void *arg, ln_db_t *db, void *const *items, size_t n, ln_error_t *err)
{
    (void)arg;
    return intake_store_insert (db, (intake_row_t *const *)items, n, err);
}

/* --- changes of an existing signal ----------------------------------------------- */

/* Load and lock a signal the caller may change: the unpacked record (the
   caller frees it), or NULL after ln_call_fail. */
static Lantern__V1__Signal *
s_load_own (intake_t *in, ln_call_t *call, const char *id, bool for_update, const char *field)
{
    ln_error_t err;
    ln_error_clear (&err);
    intake_current_t cur;
    Lantern__V1__Signal *sig = NULL;
    if (!id || !*id) {
        /* the same code for a missing id in every command */
        ln_call_fail (call, "MISSING_SIGNAL_ID", field, "required: the signal's id");
        return NULL;
    }
    if (!intake_signal_id_valid (id)) {
        ln_call_fail (call, "INVALID_SIGNAL_ID", field,
                      "a signal id is \"sig-\" and 26 characters of a-z, 2-7");
        return NULL;
    }
    ln_call_set_object (call, id);
    if (s_own_organisation (in, call) != 0)
        return NULL;
    int found = intake_store_load (ln_call_db (call), id, for_update, &cur, &err);
    if (found < 0) {
        s_fail_with (call, &err);
        return NULL;
    }
    if (found == 0) {
        ln_call_fail (call, "NOT_FOUND", field, "no signal %s on this node", id);
        return NULL;
    }
    if (strcmp (cur.organisation, in->organisation) != 0) {
        /* cannot happen while one node serves one organisation, but the
           check is what keeps it so */
        ln_call_fail (call, "FORBIDDEN", field, "signal %s belongs to another organisation", id);
        free (cur.record);
        return NULL;
    }
    sig = lantern__v1__signal__unpack (NULL, cur.record_size, cur.record);
    free (cur.record);
    if (!sig || !sig->details) {
        if (sig)
            lantern__v1__signal__free_unpacked (sig, NULL);
        ln_call_fail (call, "INTERNAL", NULL, "signal %s cannot be read", id);
        return NULL;
    }
    return sig;
}

/* Write a change: the new record, its history entry and its event.  `sig`
   is the signal after the change (reporter included). */
static int
s_write_change (intake_t *in, ln_call_t *call, Lantern__V1__Signal *sig, const char *action,
                const Lantern__V1__SignalDetails *added, const char *reason, int64_t closed_us,
                const char *event_type, const ProtobufCMessage *event_payload,
                ProtobufCMessage **output)
{
    int rc = -1;
    ln_error_t err;
    ln_error_clear (&err);
    intake_row_t *row = intake_row_new ();
    uint8_t *payload = NULL;
    size_t payload_size = 0;

    s_row_from_signal (row, sig);
    row->closed_us = closed_us;
    row->record = intake_pack (&sig->base, &row->record_size);
    if (added)
        row->added = intake_pack (&added->base, &row->added_size);
    row->action = ln_xstrdup (action);
    row->principal = ln_xstrdup (ln_call_principal (call)->name);
    row->reason = reason ? ln_xstrdup (reason) : NULL;
    if (intake_store_update (ln_call_db (call), row, &err) != 0) {
        s_fail_with (call, &err);
        goto out;
    }
    if (event_type) {
        Lantern__V1__Reporter *reporter = sig->details->reporter;
        sig->details->reporter = NULL;
        payload = intake_pack (event_payload, &payload_size);
        sig->details->reporter = reporter;
        char event_id[LN_OUTBOX_EVENT_ID_SIZE];
        if (s_emit (in, call, event_type, sig->id, sig->updated_at_us, payload, payload_size,
                    event_id, sizeof event_id) != 0)
            goto out;
        s_accepted (call, output, sig->id, sig->version, event_id, sig->catalogue_version,
                    sig->status);
    }
    rc = 0;
out:
    intake_row_destroy (&row);
    free (payload);
    return rc;
}

/* Concatenate two arrays of pointers (borrowed elements) into a malloc'ed
   one. */
static void **
s_concat (void *const *a, size_t na, void *const *b, size_t nb, size_t *n)
{
    *n = na + nb;
    void **out = calloc (*n ? *n : 1, sizeof *out);
    if (!out)
        abort ();
    if (na)
        memcpy (out, a, na * sizeof *out);
    if (nb)
        memcpy (out + na, b, nb * sizeof *out);
    return out;
}

/* --- AmendSignal -------------------------------------------------------------- */

static int
s_amend (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    intake_t *in = arg;
    int rc = -1;
    ln_error_t err;
    ln_error_clear (&err);
    const Lantern__V1__AmendSignal *amend = (const Lantern__V1__AmendSignal *)input;
    Lantern__V1__SignalDetails *added = amend->added;
    Lantern__V1__Signal *sig = NULL;
    void **persons = NULL, **addresses = NULL, **vehicles = NULL, **employers = NULL,
         **indicators = NULL;
    Lantern__V1__ExploitationForm *forms = NULL;
    char *account = NULL;

    sig = s_load_own (in, call, amend->signal_id, true, "signal_id");
    if (!sig)
        return -1;
    if (sig->status == LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_WITHDRAWN) {
        ln_call_fail (call, "SIGNAL_WITHDRAWN", "signal_id",
                      "signal %s was withdrawn and cannot be amended", sig->id);
        goto out;
    }
    if (!added) {
        ln_call_fail (call, "EMPTY_AMENDMENT", "added", "the amendment adds nothing");
        goto out;
    }
    int64_t now = s_now (in);
    intake_validate_ctx_t ctx = {.catalogue = in->catalogue, .now_us = now};
    if (intake_validate_details (&ctx, added, sig->details, true, &err) != 0) {
        s_fail_with (call, &err);
        goto out;
    }
    if (intake_tokens_fill (&in->key, added, "added", &err) != 0) {
        s_fail_with (call, &err);
        goto out;
    }

    /* Merge: the merged details borrow every element; only the arrays and
       the account text are new. */
    Lantern__V1__SignalDetails *cur = sig->details;
    Lantern__V1__SignalDetails merged = *cur;
    size_t n;
    persons = s_concat ((void *const *)cur->persons, cur->n_persons, (void *const *)added->persons,
                        added->n_persons, &n);
    merged.persons = (Lantern__V1__Person **)persons;
    merged.n_persons = n;
    addresses = s_concat ((void *const *)cur->addresses, cur->n_addresses,
                          (void *const *)added->addresses, added->n_addresses, &n);
    merged.addresses = (Lantern__V1__Address **)addresses;
    merged.n_addresses = n;
    vehicles = s_concat ((void *const *)cur->vehicles, cur->n_vehicles,
                         (void *const *)added->vehicles, added->n_vehicles, &n);
    merged.vehicles = (Lantern__V1__Vehicle **)vehicles;
    merged.n_vehicles = n;
    employers = s_concat ((void *const *)cur->employers, cur->n_employers,
                          (void *const *)added->employers, added->n_employers, &n);
    merged.employers = (Lantern__V1__Employer **)employers;
    merged.n_employers = n;
    indicators = s_concat ((void *const *)cur->indicators, cur->n_indicators,
                           (void *const *)added->indicators, added->n_indicators, &n);
    merged.indicators = (char **)indicators;
    merged.n_indicators = n;
    forms = calloc (cur->n_forms + added->n_forms + 1, sizeof *forms);
    if (!forms)
        abort ();
    if (cur->n_forms)
        memcpy (forms, cur->forms, cur->n_forms * sizeof *forms);
    if (added->n_forms)
        memcpy (forms + cur->n_forms, added->forms, added->n_forms * sizeof *forms);
    merged.forms = forms;
    merged.n_forms = cur->n_forms + added->n_forms;
    if (merged.sector == 0)
        merged.sector = added->sector;
    merged.immediate_danger = cur->immediate_danger || added->immediate_danger;
    merged.minor_involved = cur->minor_involved || added->minor_involved;
    if (added->account[0]) {
        /* an addendum, dated and signed, below what was there */
        size_t size = strlen (cur->account) + strlen (added->account) + 200;
        account = malloc (size);
        if (!account)
            abort ();
        time_t secs = (time_t)(now / 1000000);
        struct tm tm;
        gmtime_r (&secs, &tm);
        char when[32];
        strftime (when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
        snprintf (account, size, "%s%s[addendum %s, %s]\n%s", cur->account,
                  cur->account[0] ? "\n\n" : "", when, ln_call_principal (call)->name,
                  added->account);
        if (strlen (account) > ACCOUNT_TOTAL_MAX) {
            ln_call_fail (call, "TEXT_TOO_LONG", "added.account",
                          "the account with its addenda would pass %d bytes", ACCOUNT_TOTAL_MAX);
            goto out;
        }
        merged.account = account;
    }
    sig->details = &merged;
    sig->version++;
    sig->updated_at_us = now;

    Lantern__V1__SignalAmended ev = LANTERN__V1__SIGNAL_AMENDED__INIT;
    ev.signal = sig;
    ev.added = added;
    Lantern__V1__Reporter *reporter = added->reporter; /* refused by the validator anyway */
    added->reporter = NULL;
    rc = s_write_change (in, call, sig, "amended", added, NULL, 0, INTAKE_EVENT_AMENDED, &ev.base,
                         output);
    added->reporter = reporter;
    sig->details = cur;
out:
    s_tokens_clear (added);
    free (persons);
    free (addresses);
    free (vehicles);
    free (employers);
    free (indicators);
    free (forms);
    free (account);
    if (sig)
        lantern__v1__signal__free_unpacked (sig, NULL);
    return rc;
}

/* --- WithdrawSignal ------------------------------------------------------------- */

static int
s_withdraw (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    intake_t *in = arg;
    ln_error_t err;
    ln_error_clear (&err);
    const Lantern__V1__WithdrawSignal *w = (const Lantern__V1__WithdrawSignal *)input;
    if (intake_signal_id_valid (w->signal_id))
        ln_call_set_object (call, w->signal_id);
    if (s_own_organisation (in, call) != 0)
        return -1;
    if (intake_validate_withdraw (w, &err) != 0)
        return s_fail_with (call, &err);
    Lantern__V1__Signal *sig = s_load_own (in, call, w->signal_id, true, "signal_id");
    if (!sig)
        return -1;
    int rc = -1;
    if (sig->status == LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_WITHDRAWN) {
        ln_call_fail (call, "ALREADY_WITHDRAWN", "signal_id", "signal %s was already withdrawn",
                      sig->id);
        goto out;
    }
    int64_t now = s_now (in);
    sig->status = LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_WITHDRAWN;
    sig->version++;
    sig->updated_at_us = now;
    Lantern__V1__SignalWithdrawn ev = LANTERN__V1__SIGNAL_WITHDRAWN__INIT;
    ev.signal = sig;
    ev.reason = w->reason;
    rc = s_write_change (in, call, sig, "withdrawn", NULL, w->reason, now, INTAKE_EVENT_WITHDRAWN,
                         &ev.base, output);
out:
    lantern__v1__signal__free_unpacked (sig, NULL);
    return rc;
}

/* --- feedback ---------------------------------------------------------------------- */

int
intake_signal_set_status (intake_t *in, ln_db_t *db, const char *id, int status, const char *by,
                          const char *reason, ln_error_t *err)
{
    intake_current_t cur;
    int found = intake_store_load (db, id, true, &cur, err);
    if (found <= 0) {
        if (found == 0)
            ln_error_set (err, "NOT_FOUND", "signal_id", "no signal %s on this node", id);
        return -1;
    }
    Lantern__V1__Signal *sig = lantern__v1__signal__unpack (NULL, cur.record_size, cur.record);
    free (cur.record);
    if (!sig || !sig->details) {
        if (sig)
            lantern__v1__signal__free_unpacked (sig, NULL);
        ln_error_set (err, "INTERNAL", NULL, "signal %s cannot be read", id);
        return -1;
    }
    int rc = -1;
    intake_row_t *row = NULL;
    uint8_t *payload = NULL;
    if ((int)sig->status == status ||
        sig->status == LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_WITHDRAWN) {
        rc = 0; /* nothing moves (a replayed outcome; a withdrawn signal stays so) */
        goto out;
    }
    int64_t now = in->clock_us ();
    Lantern__V1__SignalStatus previous = sig->status;
    sig->status = (Lantern__V1__SignalStatus)status;
    sig->version++;
    sig->updated_at_us = now;
    row = intake_row_new ();
    s_row_from_signal (row, sig);
    bool closed = status == LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_CLOSED_NO_ACTION ||
                  status == LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_WITHDRAWN;
    row->closed_us = closed ? now : 0;
    row->record = intake_pack (&sig->base, &row->record_size);
    row->action = ln_xstrdup ("status");
    row->principal = ln_xstrdup (by);
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value (&lantern__v1__signal_status__descriptor, status);
    row->reason = ln_xstrdup (v ? v->name : "?");
    if (intake_store_update (db, row, err) != 0)
        goto out;
    /* Every change of a signal is emitted and audited, also one made on
       behalf of another service (triage's feedback). */
    Lantern__V1__SignalStatusChanged ev = LANTERN__V1__SIGNAL_STATUS_CHANGED__INIT;
    ev.signal_id = sig->id;
    ev.previous = previous;
    ev.status = sig->status;
    ev.by = (char *)by;
    ev.reason = (char *)(reason ? reason : "");
    ev.version = sig->version;
    size_t payload_size = 0;
    payload = intake_pack (&ev.base, &payload_size);
    ln_outbox_event_t event = {
        .type = INTAKE_EVENT_STATUS_CHANGED,
        .level = in->event_level,
        .correlation_id = sig->id,
        .time_us = now,
        .payload = payload,
        .payload_size = payload_size,
    };
    if (ln_outbox_append (db, &event, NULL, 0, err) != 0)
        goto out;
    char why[LN_AUDIT_REASON_MAX];
    snprintf (
        why, sizeof why, "%s -> %s%s%.1500s",
        protobuf_c_enum_descriptor_get_value (&lantern__v1__signal_status__descriptor, previous)
            ? protobuf_c_enum_descriptor_get_value (&lantern__v1__signal_status__descriptor,
                                                    previous)
                  ->name
            : "?",
        v ? v->name : "?", reason && *reason ? ": " : "", reason ? reason : "");
    ln_audit_entry_t entry = {
        .principal = by,
        .organisation = "",
        .action = "SetSignalStatus",
        .object = sig->id,
        .outcome = LN_AUDIT_ACCEPTED,
        .reason = why,
        .at_us = now,
    };
    if (ln_audit_append (db, &entry, err) != 0)
        goto out;
    rc = 0;
out:
    intake_row_destroy (&row);
    free (payload);
    lantern__v1__signal__free_unpacked (sig, NULL);
    return rc;
}

/* --- GetSignal ------------------------------------------------------------------------ */

static int
s_get (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    intake_t *in = arg;
    ln_error_t err;
    ln_error_clear (&err);
    const Lantern__V1__GetSignal *g = (const Lantern__V1__GetSignal *)input;
    const char *id = g->signal_id;
    if (g->purpose && strlen (g->purpose) > INTAKE_PURPOSE_MAX)
        return ln_call_fail (call, "TEXT_TOO_LONG", "purpose", "a purpose is at most %d bytes",
                             INTAKE_PURPOSE_MAX);
    if (!id || !*id)
        return ln_call_fail (call, "MISSING_SIGNAL_ID", "signal_id", "required: the signal's id");
    if (!intake_signal_id_valid (id))
        return ln_call_fail (call, "INVALID_SIGNAL_ID", "signal_id",
                             "a signal id is \"sig-\" and 26 characters of a-z, 2-7");
    ln_call_set_object (call, id); /* a refused read names what it tried to read */
    if (s_own_organisation (in, call) != 0)
        return -1;
    intake_current_t cur;
    int found = intake_store_load (ln_call_db (call), id, false, &cur, &err);
    if (found < 0)
        return s_fail_with (call, &err);
    if (found == 0)
        return ln_call_fail (call, "NOT_FOUND", "signal_id", "no signal %s on this node", id);
    if (strcmp (cur.organisation, in->organisation) != 0) {
        free (cur.record);
        return ln_call_fail (call, "FORBIDDEN", "signal_id",
                             "signal %s belongs to another organisation", id);
    }
    Lantern__V1__Signal *sig = (Lantern__V1__Signal *)s_unpack_for_call (
        call, &lantern__v1__signal__descriptor, cur.record, cur.record_size);
    free (cur.record);
    if (!sig)
        return ln_call_fail (call, "INTERNAL", NULL, "signal %s cannot be read", id);

    intake_history_t *h = NULL;
    size_t nh = 0;
    if (intake_store_history (ln_call_db (call), id, &h, &nh, &err) != 0)
        return s_fail_with (call, &err);
    Lantern__V1__SignalRecord *rec = ln_call_alloc (call, sizeof *rec);
    lantern__v1__signal_record__init (rec);
    rec->signal = sig;
    /* the submission (version 1) is the signal's own row: no history row
       is written for it (intake_store.h) */
    rec->history = ln_call_alloc (call, (nh + 1) * sizeof *rec->history);
    rec->n_history = nh + 1;
    Lantern__V1__SignalHistoryEntry *first = ln_call_alloc (call, sizeof *first);
    lantern__v1__signal_history_entry__init (first);
    first->version = 1;
    first->action = "submitted";
    first->principal = sig->submitted_by;
    first->at_us = sig->received_at_us;
    rec->history[0] = first;
    for (size_t i = 0; i < nh; i++) {
        Lantern__V1__SignalHistoryEntry *e = ln_call_alloc (call, sizeof *e);
        lantern__v1__signal_history_entry__init (e);
        e->version = h[i].version;
        e->action = ln_call_strdup (call, h[i].action);
        e->principal = ln_call_strdup (call, h[i].principal);
        e->at_us = h[i].at_us;
        if (h[i].added)
            e->added = (Lantern__V1__SignalDetails *)s_unpack_for_call (
                call, &lantern__v1__signal_details__descriptor, h[i].added, h[i].added_size);
        e->reason = ln_call_strdup (call, h[i].reason ? h[i].reason : "");
        rec->history[i + 1] = e;
    }
    intake_history_free (h, nh);
    ln_call_set_purpose (call, g->purpose);
    *output = &rec->base;
    return 0;
}

/* --- ListSignals ----------------------------------------------------------------------- */

typedef struct {
    ln_call_t *call;
    Lantern__V1__SignalSummary **items;
    size_t n, max;
    int64_t last_us;
    char last_id[INTAKE_SIGNAL_ID_SIZE];
} list_t;

static void
s_list_row (void *arg, const intake_summary_t *s)
{
    list_t *l = arg;
    if (l->n == l->max)
        return; /* the one past the page: there is a next page */
    Lantern__V1__SignalSummary *o = ln_call_alloc (l->call, sizeof *o);
    lantern__v1__signal_summary__init (o);
    o->id = ln_call_strdup (l->call, s->id);
    o->status = (Lantern__V1__SignalStatus)s->status;
    o->municipality = ln_call_strdup (l->call, s->municipality);
    o->forms = ln_call_alloc (l->call, 32 * sizeof *o->forms);
    for (int f = 1; f < 31; f++)
        if (s->forms_mask & (1u << f))
            o->forms[o->n_forms++] = (Lantern__V1__ExploitationForm)f;
    o->immediate_danger = s->immediate_danger;
    o->minor_involved = s->minor_involved;
    o->received_at_us = s->received_us;
    o->updated_at_us = s->updated_us;
    o->persons = s->persons;
    o->version = s->version;
    o->submitted_by = ln_call_strdup (l->call, s->submitted_by);
    l->items[l->n++] = o;
    l->last_us = s->received_us;
    snprintf (l->last_id, sizeof l->last_id, "%s", s->id);
}

static int
s_list (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    intake_t *in = arg;
    ln_error_t err;
    ln_error_clear (&err);
    const Lantern__V1__ListSignals *q = (const Lantern__V1__ListSignals *)input;
    if (s_own_organisation (in, call) != 0)
        return -1;
    if (q->status != 0 &&
        !protobuf_c_enum_descriptor_get_value (&lantern__v1__signal_status__descriptor, q->status))
        return ln_call_fail (call, "UNKNOWN_STATUS", "status", "no status %d", (int)q->status);
    if (q->form != 0 && !protobuf_c_enum_descriptor_get_value (
                            &lantern__v1__exploitation_form__descriptor, q->form))
        return ln_call_fail (call, "UNKNOWN_FORM", "form", "no form %d", (int)q->form);
    if (q->municipality[0] &&
        intake_municipality_check (q->municipality, "municipality", &err) != 0)
        return ln_call_fail (call, err.code, err.field, "%s", err.message);
    if (q->received_from_us < 0 || q->received_to_us < 0)
        return ln_call_fail (call, "INVALID_RANGE",
                             q->received_from_us < 0 ? "received_from_us" : "received_to_us",
                             "times are microseconds since the epoch, not negative");
    if (q->received_from_us && q->received_to_us && q->received_from_us > q->received_to_us)
        return ln_call_fail (call, "INVALID_RANGE", "received_to_us",
                             "the range ends before it begins (from > to)");
    if (q->page_size > LIST_PAGE_MAX)
        return ln_call_fail (call, "PAGE_TOO_LARGE", "page_size", "at most %d signals per page",
                             LIST_PAGE_MAX);
    size_t limit = q->page_size ? q->page_size : LIST_PAGE_DEFAULT;
    intake_filter_t f = {
        .organisation = in->organisation,
        .status = (int)q->status,
        .municipality = q->municipality,
        .form = (int)q->form,
        .from_us = q->received_from_us,
        .to_us = q->received_to_us,
        .after_id = "",
        .limit = limit + 1,
    };
    /* page token: "<received_us>.<id>" of the last row of the page before */
    char after_id[INTAKE_SIGNAL_ID_SIZE] = "";
    if (q->page_token[0]) {
        char *end = NULL;
        long long us = strtoll (q->page_token, &end, 10);
        if (!end || *end != '.' || us <= 0 || !intake_signal_id_valid (end + 1))
            return ln_call_fail (call, "BAD_PAGE_TOKEN", "page_token",
                                 "the page token is not one this node gave");
        snprintf (after_id, sizeof after_id, "%s", end + 1);
        f.after_us = us;
        f.after_id = after_id;
    }
    list_t l = {.call = call, .max = limit};
    l.items = ln_call_alloc (call, limit * sizeof *l.items);
    int rows = intake_store_list (ln_call_db (call), &f, s_list_row, &l, &err);
    if (rows < 0)
        return s_fail_with (call, &err);
    Lantern__V1__SignalList *out = ln_call_alloc (call, sizeof *out);
    lantern__v1__signal_list__init (out);
    out->signals = l.items;
    out->n_signals = l.n;
    if ((size_t)rows > limit) {
        char token[64];
        snprintf (token, sizeof token, "%" PRId64 ".%s", l.last_us, l.last_id);
        out->next_page_token = ln_call_strdup (call, token);
    }
    ln_call_set_object (call, "signals");
    *output = &out->base;
    return 0;
}

/* --- the table ------------------------------------------------------------------------ */

static const ln_command_t s_commands[] = {
    {.input = &lantern__v1__submit_signal__descriptor,
     .output = &lantern__v1__signal_accepted__descriptor,
     .roles = s_officer,
     .writes = true,
     .fn = s_submit,
     .flush = s_flush_submit},
    {.input = &lantern__v1__amend_signal__descriptor,
     .output = &lantern__v1__signal_accepted__descriptor,
     .roles = s_officer,
     .writes = true,
     .fn = s_amend},
    {.input = &lantern__v1__withdraw_signal__descriptor,
     .output = &lantern__v1__signal_accepted__descriptor,
     .roles = s_officer,
     .writes = true,
     .fn = s_withdraw},
    {.input = &lantern__v1__get_signal__descriptor,
     .output = &lantern__v1__signal_record__descriptor,
     .roles = s_officer,
     .fn = s_get},
    {.input = &lantern__v1__list_signals__descriptor,
     .output = &lantern__v1__signal_list__descriptor,
     .roles = s_officer,
     .fn = s_list},
};

const ln_command_t *
intake_commands (size_t *count)
{
    *count = sizeof s_commands / sizeof s_commands[0];
    return s_commands;
}
