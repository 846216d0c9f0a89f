/*  agenda_html: the screening meeting's agenda as a printable web page
    (`lanternctl agenda --html FILE`).

    A pure function from the GetAgenda result (lantern.v1.Agenda) to one
    self-contained HTML5 document: the style is inline, and there is no
    script, no image, no link, no font and no URL of any kind, so that the
    page shows the same on a laptop without network, prints (each case on
    its own block, kept whole across pages where it fits) and cannot call
    anywhere when opened.  Every text of the message (ids, organisations,
    indicator codes, reasons, notes) is escaped (& < > " '), whatever it
    holds.

    The page holds what the agenda holds: per case its rank, score and
    every term of it, why it is on the agenda, the partners with their
    signal ids, what it is about (forms, indicators, flags,
    municipalities), why its signals are linked, and the tracks that bring
    it back.  No person: the agenda has none.
*/
#ifndef AGENDA_HTML_H
#define AGENDA_HTML_H

#include <stddef.h>

#include "triage.pb-c.h"

/* The page, malloc'ed and NUL-terminated (the caller frees); *len (may be
   NULL) gets its length.  Never NULL: out of memory aborts. */
char *agenda_html_render (const Lantern__V1__Agenda *agenda, size_t *len);

#endif
