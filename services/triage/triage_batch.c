/*  triage_batch: one batch of an intake node's events (see triage_batch.h). */
#include "triage_batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lantern.pb-c.h"
#include "ln_outbox.h"
#include "triage.h"
#include "triage_link.h"

/* One event by itself, through triage_link. */
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

int
triage_batch_apply (ln_db_t *db, const char *upstream, ln_event_t *const *events,
                    const uint64_t *positions, size_t count, ln_level_t level, ln_error_t *err)
{
    triage_emitter_t em = {.fn = triage_emit_outbox, .ctx = db, .level = level};
    for (size_t i = 0; i < count; i++)
        if (s_apply_one (db, upstream, events[i], positions[i], &em, err) != 0)
            return -1;
    return 0;
}
