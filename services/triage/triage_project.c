/*  triage_project: projections of triage's events (see triage_project.h).

    Each projection unpacks the stored payload, builds a new message of
    the same type that BORROWS what it keeps from the unpacked one
    (reduced sub-messages and arrays are allocated in a keep_t and freed
    with it), packs that, and frees the rest.  Nothing is ever copied into
    a projection by default: a field is there because a line here puts it
    there.
*/
#include "triage_project.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "triage.h"
#include "triage.pb-c.h"

#define TK(x) LANTERN__V1__TRACK_KIND__TRACK_KIND_##x

static const ln_stream_rule_t s_rules[] = {
    {TRIAGE_ROLE_INTAKE, TRIAGE_EVENT_CASE_OPENED, LN_PROJECTION_FULL},
    {TRIAGE_ROLE_INTAKE, TRIAGE_EVENT_CASE_LINKED, LN_PROJECTION_FULL},
    {TRIAGE_ROLE_INTAKE, TRIAGE_EVENT_CASE_MERGED, LN_PROJECTION_FULL},
    {TRIAGE_ROLE_INTAKE, TRIAGE_EVENT_CASE_DECIDED, LN_PROJECTION_FULL},
    {TRIAGE_ROLE_INTAKE, TRIAGE_EVENT_CASE_CLOSED, LN_PROJECTION_FULL},
    {TRIAGE_ROLE_CARE, TRIAGE_EVENT_CASE_DECIDED, LN_PROJECTION_FULL},
    {TRIAGE_ROLE_CARE, TRIAGE_EVENT_TRACK_UPDATED, LN_PROJECTION_FULL},
    {TRIAGE_ROLE_CARE, TRIAGE_EVENT_CASE_CLOSED, LN_PROJECTION_FULL},
    {TRIAGE_ROLE_POLICE, TRIAGE_EVENT_CASE_DECIDED, LN_PROJECTION_FULL},
    {TRIAGE_ROLE_POLICE, TRIAGE_EVENT_TRACK_UPDATED, LN_PROJECTION_FULL},
    {TRIAGE_ROLE_POLICE, TRIAGE_EVENT_CASE_CLOSED, LN_PROJECTION_FULL},
    {TRIAGE_ROLE_MONITOR, TRIAGE_EVENT_CASE_OPENED, LN_PROJECTION_STATISTICAL},
    {TRIAGE_ROLE_MONITOR, TRIAGE_EVENT_CASE_LINKED, LN_PROJECTION_STATISTICAL},
    {TRIAGE_ROLE_MONITOR, TRIAGE_EVENT_CASE_MERGED, LN_PROJECTION_STATISTICAL},
    {TRIAGE_ROLE_MONITOR, TRIAGE_EVENT_CASE_DECIDED, LN_PROJECTION_STATISTICAL},
    {TRIAGE_ROLE_MONITOR, TRIAGE_EVENT_TRACK_UPDATED, LN_PROJECTION_STATISTICAL},
    {TRIAGE_ROLE_MONITOR, TRIAGE_EVENT_CASE_CLOSED, LN_PROJECTION_STATISTICAL},
    {TRIAGE_ROLE_MONITOR, TRIAGE_EVENT_ALERT_RAISED, LN_PROJECTION_STATISTICAL},
};

const ln_stream_rule_t *
triage_project_default_rules (size_t *count)
{
    *count = sizeof s_rules / sizeof s_rules[0];
    return s_rules;
}

typedef enum { V_STORED, V_INTAKE, V_CARE, V_POLICE, V_MONITOR, V_DROP } view_t;

static view_t
s_view (const ln_principal_t *sub, ln_projection_t projection)
{
    if (projection == LN_PROJECTION_STATISTICAL)
        return V_MONITOR;
    if (projection != LN_PROJECTION_FULL)
        return V_DROP;
    if (ln_principal_has_role (sub, TRIAGE_ROLE_INTAKE))
        return V_INTAKE;
    if (ln_principal_has_role (sub, TRIAGE_ROLE_POLICE))
        return V_POLICE;
    if (ln_principal_has_role (sub, TRIAGE_ROLE_CARE))
        return V_CARE;
    return V_STORED;
}

/* Memory of one projection: every reduced message and array. */
typedef struct {
    void **ptrs;
    size_t n;
} keep_t;

static void *
s_keep (keep_t *k, size_t size)
{
    void *p = ln_xcalloc (1, size ? size : 1);
    k->ptrs = ln_xrealloc (k->ptrs, k->n + 1, sizeof *k->ptrs);
    k->ptrs[k->n++] = p;
    return p;
}

static void
s_keep_free (keep_t *k)
{
    for (size_t i = 0; i < k->n; i++)
        free (k->ptrs[i]);
    free (k->ptrs);
    k->ptrs = NULL;
    k->n = 0;
}

/* --- pieces -------------------------------------------------------------------------- */

/* The subscriber's own CaseSignals (borrowed); their number. */
static size_t
s_own_signals (keep_t *k, Lantern__V1__CaseSignal **in, size_t n, const char *node,
               Lantern__V1__CaseSignal ***out)
{
    *out = s_keep (k, n * sizeof **out);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (in[i] && strcmp (in[i]->node, node) == 0)
            (*out)[m++] = in[i];
    return m;
}

/* A track as an intake node sees it: which kind, where it stands. */
static Lantern__V1__Track *
s_track_intake (keep_t *k, const Lantern__V1__Track *t)
{
    Lantern__V1__Track *r = s_keep (k, sizeof *r);
    lantern__v1__track__init (r);
    r->track_id = t->track_id;
    r->case_id = t->case_id;
    r->decision_id = t->decision_id;
    r->meeting_id = t->meeting_id;
    r->kind = t->kind;
    r->state = t->state;
    return r;
}

/* A track for statistics: no note, outcome, reason or principal. */
static Lantern__V1__Track *
s_track_monitor (keep_t *k, const Lantern__V1__Track *t)
{
    Lantern__V1__Track *r = s_track_intake (k, t);
    r->lead_organisation = t->lead_organisation;
    r->deadline = t->deadline;
    r->opened_at_us = t->opened_at_us;
    r->updated_at_us = t->updated_at_us;
    r->overdue = t->overdue;
    return r;
}

/* A decision with its tracks reduced by `view`; for care and police only
   the tracks of `kind`, and NULL when it has none. */
static Lantern__V1__Decision *
s_decision (keep_t *k, const Lantern__V1__Decision *d, view_t view, int kind)
{
    if (!d)
        return NULL;
    Lantern__V1__Decision *r = s_keep (k, sizeof *r);
    lantern__v1__decision__init (r);
    r->decision_id = d->decision_id;
    r->case_id = d->case_id;
    r->meeting_id = d->meeting_id;
    r->decided_at_us = d->decided_at_us;
    r->tracks = s_keep (k, d->n_tracks * sizeof *r->tracks);
    for (size_t i = 0; i < d->n_tracks; i++) {
        const Lantern__V1__Track *t = d->tracks[i];
        if (view == V_INTAKE)
            r->tracks[r->n_tracks++] = s_track_intake (k, t);
        else if (view == V_MONITOR)
            r->tracks[r->n_tracks++] = s_track_monitor (k, t);
        else if ((int)t->kind == kind)
            r->tracks[r->n_tracks++] = d->tracks[i]; /* the partner's own track, whole */
    }
    if (view == V_CARE || view == V_POLICE) {
        if (r->n_tracks == 0)
            return NULL;
        r->decided_by = d->decided_by;
        r->n_attendees = d->n_attendees;
        r->attendees = d->attendees;
        r->case_revision = d->case_revision;
    }
    return r;
}

/* Care's contents: per signal, the persons with role POSSIBLE_VICTIM. */
static size_t
s_contents_care (keep_t *k, Lantern__V1__CaseContent **in, size_t n,
                 Lantern__V1__CaseContent ***out)
{
    *out = s_keep (k, n * sizeof **out);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        Lantern__V1__CaseContent *c = s_keep (k, sizeof *c);
        lantern__v1__case_content__init (c);
        c->signal_id = in[i]->signal_id;
        c->persons = s_keep (k, in[i]->n_persons * sizeof *c->persons);
        for (size_t j = 0; j < in[i]->n_persons; j++)
            if (in[i]->persons[j]->role == LANTERN__V1__PERSON_ROLE__PERSON_ROLE_POSSIBLE_VICTIM)
                c->persons[c->n_persons++] = in[i]->persons[j];
        if (c->n_persons)
            (*out)[m++] = c;
    }
    return m;
}

static int
s_partner_kind (view_t view)
{
    return view == V_CARE ? TK (CARE) : TK (CRIMINAL);
}

static bool
s_has_kind (const int *kinds, size_t n, int kind)
{
    for (size_t i = 0; i < n; i++)
        if (kinds[i] == kind)
            return true;
    return false;
}

/* --- per type: fill `r` (an initialised message of the type) from `m`;
       false: not for this subscriber ------------------------------------------------- */

static bool
s_opened (keep_t *k, view_t v, const char *node, Lantern__V1__CaseOpened *m,
          Lantern__V1__CaseOpened *r)
{
    r->case_id = m->case_id;
    if (v == V_MONITOR) {
        r->facts = m->facts;
        return true;
    }
    r->n_signals = s_own_signals (k, m->signals, m->n_signals, node, &r->signals);
    return v == V_INTAKE && r->n_signals > 0;
}

static bool
s_linked (view_t v, const char *node, Lantern__V1__CaseLinked *m, Lantern__V1__CaseLinked *r)
{
    r->case_id = m->case_id;
    if (v == V_MONITOR) {
        r->facts = m->facts;
        return true;
    }
    if (v != V_INTAKE || !m->signal || strcmp (m->signal->node, node) != 0)
        return false;
    r->signal = m->signal; /* its own; not the link, which names another's signal */
    return true;
}

static bool
s_merged (keep_t *k, view_t v, const char *node, Lantern__V1__CaseMerged *m,
          Lantern__V1__CaseMerged *r)
{
    r->case_id = m->case_id;
    if (v == V_MONITOR) {
        r->n_merged_case_ids = m->n_merged_case_ids;
        r->merged_case_ids = m->merged_case_ids;
        r->facts = m->facts;
        return true;
    }
    r->n_signals = s_own_signals (k, m->signals, m->n_signals, node, &r->signals);
    return v == V_INTAKE && r->n_signals > 0;
}

static bool
s_decided (keep_t *k, view_t v, const char *node, Lantern__V1__CaseDecided *m,
           Lantern__V1__CaseDecided *r)
{
    r->case_id = m->case_id;
    r->decision = s_decision (k, m->decision, v, s_partner_kind (v));
    if (!r->decision)
        return false;
    switch (v) {
    case V_MONITOR:
        r->facts = m->facts;
        return true;
    case V_INTAKE:
        r->n_signals = s_own_signals (k, m->signals, m->n_signals, node, &r->signals);
        return r->n_signals > 0;
    case V_CARE:
        r->n_signals = m->n_signals;
        r->signals = m->signals;
        r->facts = m->facts;
        r->n_contents = s_contents_care (k, m->contents, m->n_contents, &r->contents);
        r->contents_omitted = m->contents_omitted;
        return true;
    case V_POLICE:
        r->n_signals = m->n_signals;
        r->signals = m->signals;
        r->facts = m->facts;
        r->n_contents = m->n_contents;
        r->contents = m->contents;
        r->contents_omitted = m->contents_omitted;
        return true;
    default:
        return false;
    }
}

static bool
s_track_updated (keep_t *k, view_t v, Lantern__V1__TrackUpdated *m, Lantern__V1__TrackUpdated *r)
{
    r->case_id = m->case_id;
    if (!m->track)
        return false;
    if (v == V_MONITOR) {
        r->track = s_track_monitor (k, m->track);
        return true;
    }
    if ((v == V_CARE || v == V_POLICE) && (int)m->track->kind == s_partner_kind (v)) {
        r->track = m->track;
        return true;
    }
    return false;
}

static bool
s_closed (keep_t *k, view_t v, const char *node, Lantern__V1__CaseClosed *m,
          Lantern__V1__CaseClosed *r)
{
    r->case_id = m->case_id;
    r->outcome = m->outcome;
    r->closed_at_us = m->closed_at_us;
    r->n_track_kinds = m->n_track_kinds;
    r->track_kinds = m->track_kinds;
    switch (v) {
    case V_MONITOR:
        r->facts = m->facts;
        return true;
    case V_INTAKE:
        r->n_signals = s_own_signals (k, m->signals, m->n_signals, node, &r->signals);
        return r->n_signals > 0;
    case V_CARE:
    case V_POLICE:
        if (!s_has_kind ((const int *)m->track_kinds, m->n_track_kinds, s_partner_kind (v)))
            return false;
        r->summary = m->summary;
        r->n_signals = m->n_signals;
        r->signals = m->signals;
        r->facts = m->facts;
        return true;
    default:
        return false;
    }
}

static bool
s_alert (keep_t *k, view_t v, Lantern__V1__AlertRaised *m, Lantern__V1__AlertRaised *r)
{
    if (v != V_MONITOR || !m->alert)
        return false;
    Lantern__V1__Alert *a = s_keep (k, sizeof *a);
    lantern__v1__alert__init (a);
    a->kind = m->alert->kind;
    a->case_id = m->alert->case_id;
    a->raised_at_us = m->alert->raised_at_us;
    a->acknowledged_at_us = m->alert->acknowledged_at_us;
    r->alert = a;
    r->facts = m->facts;
    return true;
}

/* --- the projection ----------------------------------------------------------------- */

static const ProtobufCMessageDescriptor *
s_descriptor (const char *type)
{
    size_t n = 0;
    const triage_event_type_t *types = triage_event_types (&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp (types[i].type, type) == 0)
            return types[i].payload;
    return NULL;
}

int
triage_project (void *arg, const ln_principal_t *subscriber, ln_projection_t projection,
                const ln_outbox_row_t *row, uint8_t **out, size_t *out_size)
{
    (void)arg;
    const ProtobufCMessageDescriptor *desc = s_descriptor (row->type);
    if (!desc)
        return LN_PROJECT_AS_STORED; /* the node's own types: notices, erasures */
    view_t v = s_view (subscriber, projection);
    if (v == V_STORED)
        return LN_PROJECT_AS_STORED;
    if (v == V_DROP)
        return LN_PROJECT_DROP;
    ProtobufCMessage *m = protobuf_c_message_unpack (desc, NULL, row->payload_size, row->payload);
    if (!m)
        return -1;
    ProtobufCMessage *r = ln_xcalloc (1, desc->sizeof_message);
    protobuf_c_message_init (desc, r);
    keep_t k = {NULL, 0};
    const char *node = subscriber->name;
    bool send = false;
    if (desc == &lantern__v1__case_opened__descriptor)
        send = s_opened (&k, v, node, (void *)m, (void *)r);
    else if (desc == &lantern__v1__case_linked__descriptor)
        send = s_linked (v, node, (void *)m, (void *)r);
    else if (desc == &lantern__v1__case_merged__descriptor)
        send = s_merged (&k, v, node, (void *)m, (void *)r);
    else if (desc == &lantern__v1__case_decided__descriptor)
        send = s_decided (&k, v, node, (void *)m, (void *)r);
    else if (desc == &lantern__v1__track_updated__descriptor)
        send = s_track_updated (&k, v, (void *)m, (void *)r);
    else if (desc == &lantern__v1__case_closed__descriptor)
        send = s_closed (&k, v, node, (void *)m, (void *)r);
    else if (desc == &lantern__v1__alert_raised__descriptor)
        send = s_alert (&k, v, (void *)m, (void *)r);
    int rc = LN_PROJECT_DROP;
    if (send) {
        *out_size = protobuf_c_message_get_packed_size (r);
        *out = ln_xcalloc (1, *out_size ? *out_size : 1);
        protobuf_c_message_pack (r, *out);
        rc = LN_PROJECT_PROJECTED;
    }
    free (r); /* borrowed everything: only the shell is ours */
    s_keep_free (&k);
    protobuf_c_message_free_unpacked (m, NULL);
    return rc;
}
