/*  triage_node: the triage service's settings, state and consumers on the
    node skeleton (see triage_node.h).
*/
#include "triage_node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lantern.pb-c.h"
#include "ln_alloc.h"
#include "ln_clock.h"
#include "ln_consumer.h"
#include "ln_log.h"
#include "triage.h"
#include "triage.pb-c.h"
#include "triage_batch.h"
#include "triage_store.h"

#define PATH_SIZE 1024

static const char *const s_weekdays[] = {"monday", "tuesday",  "wednesday", "thursday",
                                         "friday", "saturday", "sunday",    NULL};

const ln_config_spec_t triage_settings[] = {
    {.path = "organisation", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 128},
    {.path = "catalogue", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 1024},
    {.path = "meeting", .type = LN_CONFIG_GROUP, .required = true},
    {.path = "meeting.weekday", .type = LN_CONFIG_ENUM, .required = true, .values = s_weekdays},
    {.path = "meeting.time", .type = LN_CONFIG_STRING, .required = true, .min = 5, .max = 5},
    {.path = "meeting.zone", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 64},
    LN_CONFIG_SPEC_END};

/* Every case event is about people (which partner has a signal about whom,
   the victims of a CARE track), so each delivery that is not statistical
   is counted in the stream's audit. */
const ln_event_type_t triage_node_event_types[] = {
    {TRIAGE_EVENT_CASE_OPENED, &lantern__v1__case_opened__descriptor, true},
    {TRIAGE_EVENT_CASE_LINKED, &lantern__v1__case_linked__descriptor, true},
    {TRIAGE_EVENT_CASE_MERGED, &lantern__v1__case_merged__descriptor, true},
    {TRIAGE_EVENT_CASE_DECIDED, &lantern__v1__case_decided__descriptor, true},
    {TRIAGE_EVENT_TRACK_UPDATED, &lantern__v1__track_updated__descriptor, true},
    {TRIAGE_EVENT_CASE_CLOSED, &lantern__v1__case_closed__descriptor, true},
    {TRIAGE_EVENT_ALERT_RAISED, &lantern__v1__alert_raised__descriptor, true},
};
const size_t triage_node_event_type_count =
    sizeof triage_node_event_types / sizeof triage_node_event_types[0];

/* Intake's event types, as intake declares them (the wire is the
   contract; the table is intake's own in services/intake/intake_events.c). */
const ln_event_type_t triage_intake_types[] = {
    {"nl.lantern.signal.received.v1", &lantern__v1__signal_received__descriptor, true},
    {"nl.lantern.signal.amended.v1", &lantern__v1__signal_amended__descriptor, true},
    {"nl.lantern.signal.withdrawn.v1", &lantern__v1__signal_withdrawn__descriptor, true},
    {"nl.lantern.signal.status_changed.v1", &lantern__v1__signal_status_changed__descriptor, false},
};
const size_t triage_intake_type_count = sizeof triage_intake_types / sizeof triage_intake_types[0];

void
triage_stop (void *state)
{
    triage_node_t *t = state;
    if (!t)
        return;
    triage_slot_destroy (&t->slot);
    ln_catalogue_destroy (&t->catalogue);
    free (t);
}

void *
triage_start (ln_node_t *node, bool check, ln_error_t *err)
{
    const ln_config_t *cfg = ln_node_config (node);
    triage_node_t *t = ln_xcalloc (1, sizeof *t);
    char path[PATH_SIZE];
    snprintf (t->node, sizeof t->node, "%s", ln_node_name (node));
    snprintf (t->organisation, sizeof t->organisation, "%s",
              ln_config_string (cfg, "organisation"));
    t->event_level = ln_node_event_level (node);
    if (ln_node_path (node, "catalogue", path, sizeof path, err) != 0 ||
        !(t->catalogue = ln_catalogue_load (path, err)) ||
        triage_priority_weights (t->catalogue, &t->weights, err) != 0)
        goto fail;
    t->slot = triage_slot_new (s_weekdays[ln_config_enum (cfg, "meeting.weekday")],
                               ln_config_string (cfg, "meeting.time"),
                               ln_config_string (cfg, "meeting.zone"), err);
    if (!t->slot) {
        /* name the setting, as every other configuration error does */
        char message[LN_ERROR_MESSAGE_MAX];
        snprintf (message, sizeof message, "%.200s: meeting: %.280s", ln_node_config_path (node),
                  err->message);
        ln_error_set (err, err->code,
                      strncmp (err->code, "TRIAGE_TZ", 9) == 0     ? "meeting.zone"
                      : strcmp (err->code, "TRIAGE_BAD_TIME") == 0 ? "meeting.time"
                                                                   : "meeting.weekday",
                      "%s", message);
        goto fail;
    }
    /* A catalogue whose content changed under a version already scored
       with would change scores silently: refused (also under --check). */
    ln_db_t *db = ln_node_db (node);
    if (ln_db_begin (db) != 0 ||
        triage_store_catalogue_check (db, ln_catalogue_version (t->catalogue),
                                      ln_catalogue_digest (t->catalogue), ln_clock_wall_us (),
                                      err) != 0) {
        if (!err->code || !*err->code)
            *err = *ln_db_last_error (db);
        ln_db_rollback (db);
        goto fail;
    }
    if ((check ? ln_db_rollback (db) : ln_db_commit (db)) != 0) {
        *err = *ln_db_last_error (db);
        goto fail;
    }
    return t;
fail:
    triage_stop (t);
    return NULL;
}

void
triage_describe (void *state, char *out, size_t size)
{
    const triage_node_t *t = state;
    snprintf (out, size, "catalogue %s (%zu indicators), meetings %s",
              ln_catalogue_version (t->catalogue), ln_catalogue_size (t->catalogue),
              triage_slot_zone (t->slot));
}

int
triage_node_apply (void *arg, ln_db_t *db, const char *upstream, ln_event_t *const *events,
                   const uint64_t *positions, size_t count, ln_error_t *err)
{
    const triage_node_t *t = arg;
    if (triage_batch_apply (db, upstream, events, positions, count, t->event_level, err) == 0)
        return 0;
    /* An event that is wrong in itself (not a signal event of this
       upstream's own signals) will never apply: the consumer finds it and
       stops there for an operator (POISONED), instead of retrying the batch
       for ever.  Anything else (the database) is retried. */
    if (err->code && (strcmp (err->code, "TRIAGE_BAD_EVENT") == 0 ||
                      strcmp (err->code, "TRIAGE_FOREIGN_SIGNAL") == 0))
        return LN_CONSUMER_REFUSE;
    return -1;
}
