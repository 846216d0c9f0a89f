/*  triage_meeting: the weekly slot and the agenda (see triage_meeting.h). */
#include "triage_meeting.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ln_alloc.h"
#include "triage.h"
#include "triage_store.h"

#define S_DAY_S  86400
#define S_DAY_US (86400LL * 1000000)

struct triage_slot_t {
    int weekday; /* 1 Monday .. 7 Sunday */
    int minute;  /* of the day */
    triage_tz_t *tz;
};

static const char *const s_weekdays[] = {"monday", "tuesday",  "wednesday", "thursday",
                                         "friday", "saturday", "sunday"};

triage_slot_t *
triage_slot_new_tz (const char *weekday, const char *hhmm, triage_tz_t **tz, ln_error_t *err)
{
    triage_slot_t *self = NULL;
    int wd = 0;
    for (int i = 0; i < 7; i++)
        if (weekday && strcasecmp (weekday, s_weekdays[i]) == 0)
            wd = i + 1;
    if (!wd) {
        ln_error_set (err, "TRIAGE_BAD_WEEKDAY", "meeting.weekday",
                      "meeting.weekday: monday, tuesday, ... or sunday");
        goto out;
    }
    if (!hhmm || strlen (hhmm) != 5 || hhmm[2] != ':' || hhmm[0] < '0' || hhmm[0] > '2' ||
        hhmm[1] < '0' || hhmm[1] > '9' || hhmm[3] < '0' || hhmm[3] > '5' || hhmm[4] < '0' ||
        hhmm[4] > '9' || (hhmm[0] - '0') * 10 + (hhmm[1] - '0') > 23) {
        ln_error_set (err, "TRIAGE_BAD_TIME", "meeting.time",
                      "meeting.time: HH:MM, 00:00 to 23:59");
        goto out;
    }
    self = ln_xcalloc (1, sizeof *self);
    self->weekday = wd;
    self->minute =
        ((hhmm[0] - '0') * 10 + (hhmm[1] - '0')) * 60 + (hhmm[3] - '0') * 10 + (hhmm[4] - '0');
    self->tz = *tz;
    *tz = NULL;
out:
    triage_tz_destroy (tz);
    return self;
}

triage_slot_t *
triage_slot_new (const char *weekday, const char *hhmm, const char *zone, ln_error_t *err)
{
    triage_tz_t *tz = triage_tz_load (zone, err);
    if (!tz)
        return NULL;
    return triage_slot_new_tz (weekday, hhmm, &tz, err);
}

void
triage_slot_destroy (triage_slot_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    triage_tz_destroy (&(*self_p)->tz);
    free (*self_p);
    *self_p = NULL;
}

const char *
triage_slot_zone (const triage_slot_t *self)
{
    return triage_tz_name (self->tz);
}

static int64_t
s_floor_div (int64_t a, int64_t b)
{
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

int64_t
triage_slot_local_day (const triage_slot_t *self, int64_t t_us)
{
    int64_t t = s_floor_div (t_us, 1000000);
    return s_floor_div (t + triage_tz_offset (self->tz, t), S_DAY_S);
}

int64_t
triage_slot_start_on (const triage_slot_t *self, int64_t day)
{
    return triage_tz_to_utc (self->tz, day * S_DAY_S + self->minute * 60) * 1000000;
}

/* ISO weekday (1 Monday .. 7 Sunday) of a day since the epoch (a Thursday). */
static int
s_weekday (int64_t day)
{
    return (int)(((day % 7) + 7 + 3) % 7) + 1;
}

int64_t
triage_meeting_next (const triage_slot_t *self, int64_t t_us)
{
    int64_t day = triage_slot_local_day (self, t_us);
    day += (self->weekday - s_weekday (day) + 7) % 7;
    int64_t start = triage_slot_start_on (self, day);
    if (start < t_us)
        start = triage_slot_start_on (self, day + 7);
    return start;
}

int64_t
triage_meeting_upcoming (const triage_slot_t *self, int64_t now_us)
{
    int64_t day = triage_slot_local_day (self, now_us);
    day += (self->weekday - s_weekday (day) + 7) % 7;
    return triage_slot_start_on (self, day);
}

void
triage_meeting_id (const triage_slot_t *self, int64_t start_us, char *out, size_t out_size)
{
    triage_date_format (triage_slot_local_day (self, start_us), out, out_size);
}

int
triage_meeting_parse (const triage_slot_t *self, const char *meeting_id, int64_t *day,
                      int64_t *start_us)
{
    if (triage_date_parse (meeting_id, day) != 0)
        return -1;
    *start_us = triage_slot_start_on (self, *day);
    return s_weekday (*day) == self->weekday ? 1 : 0;
}

/* --- the agenda ------------------------------------------------------------------------ */

typedef struct {
    Lantern__V1__AgendaItem *item;
    int64_t opened_us;
} s_ranked_t;

static int
s_cmp_ranked (const void *a, const void *b)
{
    const s_ranked_t *x = a, *y = b;
    return triage_priority_cmp (x->item->score->total, x->opened_us, x->item->case_id,
                                y->item->score->total, y->opened_us, y->item->case_id);
}

static int
s_cmp_partner (const void *a, const void *b)
{
    const Lantern__V1__AgendaPartner *const *x = a;
    const Lantern__V1__AgendaPartner *const *y = b;
    return strcmp ((*x)->organisation, (*y)->organisation);
}

/* Partners from the case's signals: one per organisation, sorted. */
static void
s_partners (Lantern__V1__AgendaItem *item, Lantern__V1__CaseSignal **signals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        Lantern__V1__AgendaPartner *p = NULL;
        for (size_t k = 0; k < item->n_partners && !p; k++)
            if (strcmp (item->partners[k]->organisation, signals[i]->organisation) == 0)
                p = item->partners[k];
        if (!p) {
            p = triage_alloc (sizeof *p);
            lantern__v1__agenda_partner__init (p);
            p->organisation = triage_str (signals[i]->organisation);
            p->organisation_type = signals[i]->organisation_type;
            triage_push ((void ***)&item->partners, &item->n_partners, p);
        }
        triage_push ((void ***)&p->signal_ids, &p->n_signal_ids,
                     triage_str (signals[i]->signal_id));
    }
    triage_sort (item->partners, item->n_partners, sizeof *item->partners, s_cmp_partner);
}

static Lantern__V1__AgendaItem *
s_item (ln_db_t *db, const triage_weights_t *w, const triage_agenda_row_t *row, int64_t day,
        int64_t score_at, ln_error_t *err)
{
    Lantern__V1__AgendaItem *item = triage_alloc (sizeof *item);
    lantern__v1__agenda_item__init (item);
    Lantern__V1__CaseSignal **signals = NULL;
    size_t ns = 0;
    char revision[17];
    int rc = -1;
    item->case_id = triage_str (row->case_id);
    for (int r = 1; r < 32; r++)
        if (row->reasons & (1u << r))
            triage_push_enum ((int **)&item->reasons, &item->n_reasons, r);
    if (triage_store_case_facts (db, row->case_id, &item->facts, revision, err) != 0 ||
        triage_store_case_signals (db, row->case_id, false, &signals, &ns, err) != 0 ||
        triage_store_case_links (db, row->case_id, &item->links, &item->n_links, err) != 0 ||
        triage_store_agenda_tracks (db, row->case_id, day, &item->tracks, &item->n_tracks, err) !=
            0)
        goto out;
    item->revision = triage_str (revision);
    item->score = triage_priority_score (w, item->facts, score_at);
    s_partners (item, signals, ns);
    rc = 0;
out:
    for (size_t i = 0; i < ns; i++)
        protobuf_c_message_free_unpacked (&signals[i]->base, NULL);
    free (signals);
    if (rc != 0)
        protobuf_c_message_free_unpacked (&item->base, NULL);
    return rc == 0 ? item : NULL;
}

Lantern__V1__Agenda *
triage_meeting_agenda (ln_db_t *db, const triage_slot_t *slot, const triage_weights_t *w,
                       const char *node, const char *meeting_id, int64_t now_us, ln_error_t *err)
{
    Lantern__V1__Agenda *agenda = NULL;
    triage_agenda_row_t *rows = NULL;
    s_ranked_t *ranked = NULL;
    size_t n = 0, nr = 0;
    int64_t day, start;
    char id[16];

    if (!meeting_id || !*meeting_id) {
        start = triage_meeting_upcoming (slot, now_us);
        day = triage_slot_local_day (slot, start);
    }
    else {
        int on = triage_meeting_parse (slot, meeting_id, &day, &start);
        if (on < 0) {
            ln_error_set (err, "INVALID_DATE", "meeting_id", "meeting_id: a date YYYY-MM-DD");
            return NULL;
        }
        if (on == 0) {
            ln_error_set (err, "NOT_A_MEETING_DAY", "meeting_id",
                          "meeting_id: the meeting is on %s", s_weekdays[slot->weekday - 1]);
            return NULL;
        }
    }
    triage_date_format (day, id, sizeof id);
    if (triage_store_agenda (db, day, &rows, &n, err) != 0)
        goto out;
    agenda = triage_alloc (sizeof *agenda);
    lantern__v1__agenda__init (agenda);
    agenda->meeting_id = triage_str (id);
    agenda->starts_at_us = start;
    char local[32];
    int64_t start_s = s_floor_div (start, 1000000);
    int64_t local_s = start_s + triage_tz_offset (slot->tz, start_s);
    int64_t local_min = s_floor_div (local_s, 60) - s_floor_div (local_s, S_DAY_S) * 1440;
    snprintf (local, sizeof local, "%s %02d:%02d", id, (int)(local_min / 60),
              (int)(local_min % 60));
    agenda->starts_local = triage_str (local);
    agenda->time_zone = triage_str (triage_slot_zone (slot));
    agenda->node = triage_str (node);
    agenda->generated_at_us = now_us;
    agenda->catalogue_version = triage_str (ln_catalogue_version (w->catalogue));
    ranked = ln_xcalloc (n ? n : 1, sizeof *ranked);
    int64_t score_at = start > now_us ? start : now_us;
    for (size_t i = 0; i < n; i++) {
        Lantern__V1__AgendaItem *item = s_item (db, w, &rows[i], day, score_at, err);
        if (!item) {
            for (size_t k = 0; k < nr; k++)
                protobuf_c_message_free_unpacked (&ranked[k].item->base, NULL);
            protobuf_c_message_free_unpacked (&agenda->base, NULL);
            agenda = NULL;
            goto out;
        }
        ranked[nr++] = (s_ranked_t){.item = item, .opened_us = rows[i].opened_us};
    }
    triage_sort (ranked, nr, sizeof *ranked, s_cmp_ranked);
    for (size_t i = 0; i < nr; i++) {
        ranked[i].item->rank = (uint32_t)(i + 1);
        triage_push ((void ***)&agenda->items, &agenda->n_items, ranked[i].item);
    }
out:
    free (rows);
    free (ranked);
    return agenda;
}
