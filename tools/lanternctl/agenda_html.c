/*  agenda_html: the agenda as a printable page (see agenda_html.h).

    Text goes into the page only through s_text (escaped); markup only
    through s_raw with literals of this file.  Enum values are shown by
    their names from the protobuf descriptors, without the enum's prefix.
*/
#include "agenda_html.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ln_dynbuf.h"

typedef struct {
    ln_dynbuf_t *b;
} page_t;

static void
s_raw (page_t *p, const char *markup)
{
    if (ln_dynbuf_add (p->b, markup) != 0)
        abort (); /* 64 MiB of agenda: a bug, not data */
}

static void
s_text (page_t *p, const char *text)
{
    for (const char *c = text ? text : ""; *c; c++) {
        const char *e = NULL;
        switch (*c) {
        case '&':
            e = "&amp;";
            break;
        case '<':
            e = "&lt;";
            break;
        case '>':
            e = "&gt;";
            break;
        case '"':
            e = "&quot;";
            break;
        case '\'':
            e = "&#39;";
            break;
        default:
            break;
        }
        if (e)
            s_raw (p, e);
        else if (ln_dynbuf_addn (p->b, c, 1) != 0)
            abort ();
    }
}

static void
s_num (page_t *p, int64_t v)
{
    char buf[24];
    snprintf (buf, sizeof buf, "%" PRId64, v);
    s_raw (p, buf);
}

/* An enum value's name without its prefix ("TRACK_KIND_CARE" -> "CARE"),
   or its number when the descriptor does not know it. */
static void
s_enum (page_t *p, const ProtobufCEnumDescriptor *desc, int value, const char *prefix)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value (desc, value);
    if (!v) {
        s_num (p, value);
        return;
    }
    const char *name = v->name;
    size_t n = strlen (prefix);
    if (strncmp (name, prefix, n) == 0)
        name += n;
    s_text (p, name);
}

static void
s_time (page_t *p, int64_t us)
{
    char buf[40];
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    if (us <= 0 || !gmtime_r (&t, &tm) ||
        strftime (buf, sizeof buf, "%Y-%m-%d %H:%M UTC", &tm) == 0)
        snprintf (buf, sizeof buf, "-");
    s_text (p, buf);
}

static const char s_style[] =
    "body{font-family:sans-serif;font-size:10.5pt;margin:1.5cm;color:#000}"
    "h1{font-size:16pt;margin:0 0 .2em}"
    "p.meta{margin:0 0 1em;color:#333}"
    "section{border:1px solid #888;padding:.5em .8em;margin:0 0 1em;"
    "page-break-inside:avoid;break-inside:avoid}"
    "h2{font-size:12pt;margin:0 0 .4em}"
    "span.score{float:right;font-weight:bold}"
    "table{border-collapse:collapse;width:100%;margin:.3em 0}"
    "th,td{border:1px solid #bbb;padding:.15em .4em;text-align:left;vertical-align:top}"
    "th{background:#eee;width:9em}"
    "td.n{text-align:right;width:4em}"
    "ul{margin:.2em 0;padding-left:1.2em}"
    ".flag{font-weight:bold}"
    "@media print{body{margin:0}}";

static void
s_row_start (page_t *p, const char *header)
{
    s_raw (p, "<tr><th>");
    s_text (p, header);
    s_raw (p, "</th><td>");
}

static void
s_item (page_t *p, const Lantern__V1__AgendaItem *it)
{
    s_raw (p, "<section>\n<h2>");
    s_num (p, it->rank);
    s_raw (p, ". ");
    s_text (p, it->case_id);
    s_raw (p, " <span class=\"score\">score ");
    s_num (p, it->score ? it->score->total : 0);
    s_raw (p, "</span></h2>\n<table>\n");

    s_row_start (p, "On the agenda");
    for (size_t i = 0; i < it->n_reasons; i++) {
        if (i)
            s_raw (p, ", ");
        s_enum (p, &lantern__v1__agenda_reason__descriptor, it->reasons[i], "AGENDA_REASON_");
    }
    s_raw (p, "</td></tr>\n");

    s_row_start (p, "Partners");
    s_raw (p, "<ul>");
    for (size_t i = 0; i < it->n_partners; i++) {
        const Lantern__V1__AgendaPartner *pt = it->partners[i];
        s_raw (p, "<li>");
        s_text (p, pt->organisation);
        s_raw (p, " (");
        s_enum (p, &lantern__v1__organisation_type__descriptor, pt->organisation_type,
                "ORGANISATION_TYPE_");
        s_raw (p, "): ");
        for (size_t k = 0; k < pt->n_signal_ids; k++) {
            if (k)
                s_raw (p, ", ");
            s_text (p, pt->signal_ids[k]);
        }
        s_raw (p, "</li>");
    }
    s_raw (p, "</ul></td></tr>\n");

    const Lantern__V1__CaseFacts *f = it->facts;
    if (f) {
        s_row_start (p, "About");
        if (f->immediate_danger)
            s_raw (p, "<span class=\"flag\">IMMEDIATE DANGER</span> ");
        if (f->minor_involved)
            s_raw (p, "<span class=\"flag\">MINOR INVOLVED</span> ");
        for (size_t i = 0; i < f->n_forms; i++) {
            if (i)
                s_raw (p, ", ");
            s_enum (p, &lantern__v1__exploitation_form__descriptor, f->forms[i],
                    "EXPLOITATION_FORM_");
        }
        s_raw (p, "; ");
        s_num (p, f->signals);
        s_raw (p, " signal(s), ");
        s_num (p, f->partners);
        s_raw (p, " partner(s), since ");
        s_time (p, f->opened_at_us);
        if (f->n_municipalities) {
            s_raw (p, "; ");
            for (size_t i = 0; i < f->n_municipalities; i++) {
                if (i)
                    s_raw (p, ", ");
                s_text (p, f->municipalities[i]);
            }
        }
        s_raw (p, "</td></tr>\n");
    }

    if (it->score && it->score->n_terms) {
        s_row_start (p, "Score");
        s_raw (p, "<table>");
        for (size_t i = 0; i < it->score->n_terms; i++) {
            const Lantern__V1__ScoreTerm *t = it->score->terms[i];
            s_raw (p, "<tr><td>");
            s_text (p, t->name);
            if (t->detail && *t->detail) {
                s_raw (p, " ");
                s_text (p, t->detail);
            }
            s_raw (p, "</td><td class=\"n\">");
            s_num (p, t->count);
            s_raw (p, " &times; ");
            s_num (p, t->weight);
            s_raw (p, "</td><td class=\"n\">");
            s_num (p, t->points);
            s_raw (p, "</td></tr>");
        }
        s_raw (p, "<tr><th colspan=\"2\">total</th><td class=\"n\">");
        s_num (p, it->score->total);
        s_raw (p, "</td></tr></table></td></tr>\n");
    }

    if (it->n_links) {
        s_row_start (p, "Linked because");
        s_raw (p, "<ul>");
        for (size_t i = 0; i < it->n_links; i++) {
            s_raw (p, "<li>");
            s_text (p, it->links[i]->signal_id);
            s_raw (p, ": ");
            s_text (p, it->links[i]->reason);
            s_raw (p, "</li>");
        }
        s_raw (p, "</ul></td></tr>\n");
    }

    if (it->n_tracks) {
        s_row_start (p, "Back because of");
        s_raw (p, "<ul>");
        for (size_t i = 0; i < it->n_tracks; i++) {
            const Lantern__V1__Track *t = it->tracks[i];
            s_raw (p, "<li>");
            s_enum (p, &lantern__v1__track_kind__descriptor, t->kind, "TRACK_KIND_");
            s_raw (p, ", ");
            s_text (p, t->lead_organisation);
            s_raw (p, ", deadline ");
            s_text (p, t->deadline);
            s_raw (p, ", ");
            s_enum (p, &lantern__v1__track_state__descriptor, t->state, "TRACK_STATE_");
            if (t->outcome && *t->outcome) {
                s_raw (p, ": ");
                s_text (p, t->outcome);
            }
            if (t->handback_reason && *t->handback_reason) {
                s_raw (p, ": ");
                s_text (p, t->handback_reason);
            }
            s_raw (p, "</li>");
        }
        s_raw (p, "</ul></td></tr>\n");
    }
    s_raw (p, "</table>\n");
    s_raw (p, "<p>Decision: ____________________________________________</p>\n</section>\n");
}

char *
agenda_html_render (const Lantern__V1__Agenda *a, size_t *len)
{
    page_t p = {.b = ln_dynbuf_new (0)};
    s_raw (&p, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<meta name=\"referrer\" content=\"no-referrer\">\n<title>Screening meeting ");
    s_text (&p, a->meeting_id);
    s_raw (&p, "</title>\n<style>");
    s_raw (&p, s_style);
    s_raw (&p, "</style>\n</head>\n<body>\n<h1>Screening meeting ");
    s_text (&p, a->meeting_id);
    s_raw (&p, "</h1>\n<p class=\"meta\">Starts ");
    s_text (&p, a->starts_local && *a->starts_local ? a->starts_local : "");
    s_raw (&p, " (");
    s_text (&p, a->time_zone);
    s_raw (&p, "), ");
    s_time (&p, a->starts_at_us);
    s_raw (&p, ". ");
    s_num (&p, (int64_t)a->n_items);
    s_raw (&p, " case(s), ordered by score (catalogue ");
    s_text (&p, a->catalogue_version);
    s_raw (&p, "). Made by ");
    s_text (&p, a->node);
    s_raw (&p, " at ");
    s_time (&p, a->generated_at_us);
    s_raw (&p, ". Confidential: for the partners at the table only.</p>\n");
    if (a->n_items == 0)
        s_raw (&p, "<p>No cases on this agenda.</p>\n");
    for (size_t i = 0; i < a->n_items; i++)
        s_item (&p, a->items[i]);
    s_raw (&p, "</body>\n</html>\n");
    if (len)
        *len = ln_dynbuf_len (p.b);
    char *out = ln_dynbuf_take (p.b);
    ln_dynbuf_destroy (&p.b);
    return out;
}
