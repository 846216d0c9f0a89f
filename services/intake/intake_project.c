/*  intake_project: projections of signal events (see intake_project.h).

    A projection never edits the stored message: it unpacks it, builds a
    new message that BORROWS the fields it keeps (so a field not copied
    cannot leak), packs that, and frees the unpacked original.  New fields
    added to Signal later are therefore left out of the reduced projections
    until someone decides they belong there.
*/
#include "intake_project.h"

#include <stdlib.h>
#include <string.h>

#include "intake.h"
#include "intake_store.h"
#include "lantern.pb-c.h"

static const ln_stream_rule_t s_rules[] = {
    {"triage", INTAKE_EVENT_RECEIVED, LN_PROJECTION_FULL},
    {"triage", INTAKE_EVENT_AMENDED, LN_PROJECTION_FULL},
    {"triage", INTAKE_EVENT_WITHDRAWN, LN_PROJECTION_FULL},
    {"monitor", INTAKE_EVENT_RECEIVED, LN_PROJECTION_STATISTICAL},
    {"monitor", INTAKE_EVENT_AMENDED, LN_PROJECTION_STATISTICAL},
    {"monitor", INTAKE_EVENT_WITHDRAWN, LN_PROJECTION_STATISTICAL},
    {"matcher", INTAKE_EVENT_RECEIVED, LN_PROJECTION_PSEUDONYMISED},
    {"matcher", INTAKE_EVENT_AMENDED, LN_PROJECTION_PSEUDONYMISED},
    {"matcher", INTAKE_EVENT_WITHDRAWN, LN_PROJECTION_PSEUDONYMISED},
    {"monitor", INTAKE_EVENT_STATUS_CHANGED, LN_PROJECTION_STATISTICAL},
    {"triage", INTAKE_EVENT_STATUS_CHANGED, LN_PROJECTION_FULL},
};

const ln_stream_rule_t *
intake_project_default_rules (size_t *count)
{
    *count = sizeof s_rules / sizeof s_rules[0];
    return s_rules;
}

/* The reduced details: the statistical fields, and for PSEUDONYMISED the
   identified things reduced to role + tokens.  Arrays and reduced items
   are allocated in `keep` (freed by s_keep_free). */
typedef struct {
    void *ptrs[512];
    size_t n;
} keep_t;

static void *
s_keep (keep_t *k, size_t size)
{
    void *p = calloc (1, size ? size : 1);
    if (!p || k->n == sizeof k->ptrs / sizeof k->ptrs[0])
        abort (); /* at most 20 of each item: far below */
    k->ptrs[k->n++] = p;
    return p;
}

static void
s_keep_free (keep_t *k)
{
    for (size_t i = 0; i < k->n; i++)
        free (k->ptrs[i]);
    k->n = 0;
}

static void
s_reduce_details (const Lantern__V1__SignalDetails *in, Lantern__V1__SignalDetails *out,
                  ln_projection_t projection, keep_t *k)
{
    lantern__v1__signal_details__init (out);
    out->observed_on = in->observed_on;
    out->municipality = in->municipality;
    out->n_forms = in->n_forms;
    out->forms = in->forms;
    out->sector = in->sector;
    out->n_indicators = in->n_indicators;
    out->indicators = in->indicators;
    out->immediate_danger = in->immediate_danger;
    out->minor_involved = in->minor_involved;
    if (projection != LN_PROJECTION_PSEUDONYMISED)
        return;
    out->n_persons = in->n_persons;
    out->persons = s_keep (k, in->n_persons * sizeof *out->persons);
    for (size_t i = 0; i < in->n_persons; i++) {
        Lantern__V1__Person *p = s_keep (k, sizeof *p);
        lantern__v1__person__init (p);
        p->role = in->persons[i]->role;
        p->n_tokens = in->persons[i]->n_tokens;
        p->tokens = in->persons[i]->tokens;
        out->persons[i] = p;
    }
    out->n_addresses = in->n_addresses;
    out->addresses = s_keep (k, in->n_addresses * sizeof *out->addresses);
    for (size_t i = 0; i < in->n_addresses; i++) {
        Lantern__V1__Address *a = s_keep (k, sizeof *a);
        lantern__v1__address__init (a);
        a->n_tokens = in->addresses[i]->n_tokens;
        a->tokens = in->addresses[i]->tokens;
        out->addresses[i] = a;
    }
    out->n_vehicles = in->n_vehicles;
    out->vehicles = s_keep (k, in->n_vehicles * sizeof *out->vehicles);
    for (size_t i = 0; i < in->n_vehicles; i++) {
        Lantern__V1__Vehicle *v = s_keep (k, sizeof *v);
        lantern__v1__vehicle__init (v);
        v->n_tokens = in->vehicles[i]->n_tokens;
        v->tokens = in->vehicles[i]->tokens;
        out->vehicles[i] = v;
    }
    out->n_employers = in->n_employers;
    out->employers = s_keep (k, in->n_employers * sizeof *out->employers);
    for (size_t i = 0; i < in->n_employers; i++) {
        Lantern__V1__Employer *e = s_keep (k, sizeof *e);
        lantern__v1__employer__init (e);
        e->n_tokens = in->employers[i]->n_tokens;
        e->tokens = in->employers[i]->tokens;
        out->employers[i] = e;
    }
}

static void
s_reduce_signal (const Lantern__V1__Signal *in, Lantern__V1__Signal *out,
                 Lantern__V1__SignalDetails *details, ln_projection_t projection, keep_t *k)
{
    lantern__v1__signal__init (out);
    out->id = in->id;
    out->node = in->node;
    out->organisation = in->organisation;
    out->organisation_type = in->organisation_type;
    out->status = in->status;
    out->version = in->version;
    out->catalogue_version = in->catalogue_version;
    out->received_at_us = in->received_at_us;
    out->updated_at_us = in->updated_at_us;
    if (in->details) {
        s_reduce_details (in->details, details, projection, k);
        out->details = details;
    }
}

int
intake_project (void *arg, const ln_principal_t *subscriber, ln_projection_t projection,
                const ln_outbox_row_t *row, uint8_t **out, size_t *out_size)
{
    (void)arg;
    (void)subscriber; /* intake's projections depend on the role only */
    const char *type = row->type;
    const uint8_t *payload = row->payload;
    size_t size = row->payload_size;
    if (projection == LN_PROJECTION_FULL || strcmp (type, INTAKE_EVENT_STATUS_CHANGED) == 0)
        return LN_PROJECT_AS_STORED; /* a status change holds no personal data */
    if (projection != LN_PROJECTION_STATISTICAL && projection != LN_PROJECTION_PSEUDONYMISED)
        return LN_PROJECT_DROP; /* nothing else is defined for signal events */
    keep_t k = {.n = 0};
    Lantern__V1__Signal sig;
    Lantern__V1__SignalDetails details, added;
    int rc = -1;
    if (strcmp (type, INTAKE_EVENT_RECEIVED) == 0) {
        Lantern__V1__SignalReceived *m = lantern__v1__signal_received__unpack (NULL, size, payload);
        if (!m)
            return -1;
        Lantern__V1__SignalReceived r = LANTERN__V1__SIGNAL_RECEIVED__INIT;
        if (m->signal) {
            s_reduce_signal (m->signal, &sig, &details, projection, &k);
            r.signal = &sig;
        }
        *out = intake_pack (&r.base, out_size);
        lantern__v1__signal_received__free_unpacked (m, NULL);
        rc = 0;
    }
    else if (strcmp (type, INTAKE_EVENT_AMENDED) == 0) {
        Lantern__V1__SignalAmended *m = lantern__v1__signal_amended__unpack (NULL, size, payload);
        if (!m)
            return -1;
        Lantern__V1__SignalAmended r = LANTERN__V1__SIGNAL_AMENDED__INIT;
        if (m->signal) {
            s_reduce_signal (m->signal, &sig, &details, projection, &k);
            r.signal = &sig;
        }
        if (m->added) {
            s_reduce_details (m->added, &added, projection, &k);
            r.added = &added;
        }
        *out = intake_pack (&r.base, out_size);
        lantern__v1__signal_amended__free_unpacked (m, NULL);
        rc = 0;
    }
    else if (strcmp (type, INTAKE_EVENT_WITHDRAWN) == 0) {
        Lantern__V1__SignalWithdrawn *m =
            lantern__v1__signal_withdrawn__unpack (NULL, size, payload);
        if (!m)
            return -1;
        Lantern__V1__SignalWithdrawn r = LANTERN__V1__SIGNAL_WITHDRAWN__INIT;
        if (m->signal) {
            s_reduce_signal (m->signal, &sig, &details, projection, &k);
            r.signal = &sig;
        }
        /* the reason is free text: it may name someone */
        *out = intake_pack (&r.base, out_size);
        lantern__v1__signal_withdrawn__free_unpacked (m, NULL);
        rc = 0;
    }
    else
        rc = LN_PROJECT_DROP; /* not a signal event: not for reduced projections */
    s_keep_free (&k);
    return rc;
}
