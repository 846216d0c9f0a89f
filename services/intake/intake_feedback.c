/*  intake_feedback: the status of this node's signals from the triage
    node's events (see intake_feedback.h). */
#include "intake_feedback.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake.h"
#include "intake_commands.h"
#include "intake_store.h"
#include "lantern.pb-c.h"
#include "triage.pb-c.h"

#define ST(x) LANTERN__V1__SIGNAL_STATUS__SIGNAL_STATUS_##x
#define TK(x) LANTERN__V1__TRACK_KIND__TRACK_KIND_##x

#define T_OPENED  "nl.lantern.case.opened.v1"
#define T_LINKED  "nl.lantern.case.linked.v1"
#define T_MERGED  "nl.lantern.case.merged.v1"
#define T_DECIDED "nl.lantern.case.decided.v1"
#define T_CLOSED  "nl.lantern.case.closed.v1"

/* Triage's types as triage declares them (the wire is the contract). */
const ln_event_type_t intake_feedback_types[] = {
    {T_OPENED, &lantern__v1__case_opened__descriptor, true},
    {T_LINKED, &lantern__v1__case_linked__descriptor, true},
    {T_MERGED, &lantern__v1__case_merged__descriptor, true},
    {T_DECIDED, &lantern__v1__case_decided__descriptor, true},
    {"nl.lantern.track.updated.v1", &lantern__v1__track_updated__descriptor, true},
    {T_CLOSED, &lantern__v1__case_closed__descriptor, true},
    {"nl.lantern.alert.raised.v1", &lantern__v1__alert_raised__descriptor, true},
};
const size_t intake_feedback_type_count =
    sizeof intake_feedback_types / sizeof intake_feedback_types[0];

static bool
s_closed (int status)
{
    return status == ST (CLOSED) || status == ST (CLOSED_NO_ACTION) || status == ST (WITHDRAWN);
}

/* Move one of our signals to `status` unless that would move it back. */
static int
s_move (intake_t *in, ln_db_t *db, const char *upstream, const Lantern__V1__CaseSignal *cs,
        int status, const char *reason, ln_error_t *err)
{
    if (!cs || strcmp (cs->node, in->node) != 0)
        return 0; /* not ours: the source sends none, and we take none */
    intake_current_t cur;
    int found = intake_store_load (db, cs->signal_id, true, &cur, err);
    if (found <= 0)
        return found; /* purged here already: nothing to move */
    free (cur.record);
    if (s_closed (cur.status) || cur.status == status ||
        (status == ST (SCHEDULED) && cur.status != ST (RECEIVED)))
        return 0;
    return intake_signal_set_status (in, db, cs->signal_id, status, upstream, reason, err);
}

static int
s_move_all (intake_t *in, ln_db_t *db, const char *upstream, Lantern__V1__CaseSignal **signals,
            size_t n, int status, const char *reason, ln_error_t *err)
{
    for (size_t i = 0; i < n; i++)
        if (s_move (in, db, upstream, signals[i], status, reason, err) != 0)
            return -1;
    return 0;
}

/* "CARE, CRIMINAL" of a decision's tracks; the status they give. */
static int
s_decided_status (const Lantern__V1__Decision *d, char *kinds, size_t size)
{
    bool other = false, more = false, none = false;
    size_t used = 0;
    kinds[0] = '\0';
    for (size_t i = 0; d && i < d->n_tracks; i++) {
        int k = d->tracks[i]->kind;
        other |= k != TK (MORE_INFORMATION) && k != TK (NO_ACTION);
        more |= k == TK (MORE_INFORMATION);
        none |= k == TK (NO_ACTION);
        const ProtobufCEnumValue *v =
            protobuf_c_enum_descriptor_get_value (&lantern__v1__track_kind__descriptor, k);
        const char *name = v ? v->name + strlen ("TRACK_KIND_") : "?";
        int w = snprintf (kinds + used, size - used, "%s%s", used ? ", " : "", name);
        if (w > 0 && (size_t)w < size - used)
            used += (size_t)w;
    }
    if (other)
        return ST (TRACKS_OPENED);
    if (more)
        return ST (MORE_INFORMATION);
    (void)none;
    return 0; /* NO_ACTION: case.closed says it */
}

static int
s_apply_one (intake_t *in, ln_db_t *db, const char *upstream, const ln_event_t *ev, ln_error_t *err)
{
    const char *type = ln_event_type (ev);
    const ProtobufCMessage *p = ln_event_payload (ev);
    char reason[300];
    if (strcmp (type, T_OPENED) == 0) {
        const Lantern__V1__CaseOpened *m = (const Lantern__V1__CaseOpened *)p;
        snprintf (reason, sizeof reason, "case %.40s opened: on the screening meeting's agenda",
                  m->case_id);
        return s_move_all (in, db, upstream, m->signals, m->n_signals, ST (SCHEDULED), reason, err);
    }
    if (strcmp (type, T_LINKED) == 0) {
        const Lantern__V1__CaseLinked *m = (const Lantern__V1__CaseLinked *)p;
        snprintf (reason, sizeof reason, "linked to case %.40s: on the screening meeting's agenda",
                  m->case_id);
        return s_move (in, db, upstream, m->signal, ST (SCHEDULED), reason, err) < 0 ? -1 : 0;
    }
    if (strcmp (type, T_MERGED) == 0) {
        const Lantern__V1__CaseMerged *m = (const Lantern__V1__CaseMerged *)p;
        snprintf (reason, sizeof reason, "in case %.40s: on the screening meeting's agenda",
                  m->case_id);
        return s_move_all (in, db, upstream, m->signals, m->n_signals, ST (SCHEDULED), reason, err);
    }
    if (strcmp (type, T_DECIDED) == 0) {
        const Lantern__V1__CaseDecided *m = (const Lantern__V1__CaseDecided *)p;
        char kinds[200];
        int status = s_decided_status (m->decision, kinds, sizeof kinds);
        if (!status)
            return 0;
        snprintf (reason, sizeof reason, "case %.40s decided at meeting %.20s: %s", m->case_id,
                  m->decision ? m->decision->meeting_id : "?", kinds);
        return s_move_all (in, db, upstream, m->signals, m->n_signals, status, reason, err);
    }
    if (strcmp (type, T_CLOSED) == 0) {
        const Lantern__V1__CaseClosed *m = (const Lantern__V1__CaseClosed *)p;
        int status =
            m->outcome == LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_NO_ACTION ? ST (CLOSED_NO_ACTION)
            : m->outcome == LANTERN__V1__CASE_OUTCOME__CASE_OUTCOME_TRACKS_DONE ? ST (CLOSED)
                                                                                : 0;
        if (!status)
            return 0; /* EMPTY: its signals were withdrawn here */
        snprintf (reason, sizeof reason, "case %.40s closed: %s", m->case_id,
                  status == ST (CLOSED) ? "every track done" : "no action");
        return s_move_all (in, db, upstream, m->signals, m->n_signals, status, reason, err);
    }
    return 0; /* track.updated, alert.raised, notices, erasures: nothing here */
}

int
intake_feedback_apply (void *arg, ln_db_t *db, const char *upstream, ln_event_t *const *events,
                       const uint64_t *positions, size_t count, ln_error_t *err)
{
    (void)positions;
    intake_t *in = arg;
    for (size_t i = 0; i < count; i++)
        if (s_apply_one (in, db, upstream, events[i], err) != 0)
            return -1;
    return 0;
}
