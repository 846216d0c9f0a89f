/*  Unit test of lanternctl's agenda page (tools/lanternctl/agenda_html):
    every text of the agenda is escaped, whatever it holds; the page has no
    script, no URL, no reference to anything outside itself; and it shows
    what the meeting needs (rank, score and its terms, reasons, partners,
    links, the tracks that bring a case back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../tools/lanternctl/agenda_html.h"
#include "triage.pb-c.h"

static const char s_evil[] = "<script>alert('x')</script> & \"q\" <img src=x onerror=y>"
                             " https://evil.example/ url(http://x) @import";

/* A tiny agenda: one case whose every text field is hostile, one plain. */
typedef struct {
    Lantern__V1__Agenda a;
    Lantern__V1__AgendaItem items[2], *item_ptrs[2];
    Lantern__V1__Score score;
    Lantern__V1__ScoreTerm terms[2], *term_ptrs[2];
    Lantern__V1__CaseFacts facts;
    Lantern__V1__AgendaPartner partner, *partner_ptrs[1];
    char *signal_ids[1];
    Lantern__V1__CaseLink link, *link_ptrs[1];
    Lantern__V1__Track track, *track_ptrs[1];
    Lantern__V1__AgendaReason reasons[2];
    Lantern__V1__ExploitationForm forms[1];
    char *indicators[1], *municipalities[1];
} fixture_t;

static void
s_fixture (fixture_t *f)
{
    memset (f, 0, sizeof *f);
    lantern__v1__agenda__init (&f->a);
    f->a.meeting_id = (char *)"2026-06-02";
    f->a.starts_at_us = INT64_C (1780387200000000);
    f->a.starts_local = (char *)"2026-06-02 10:00";
    f->a.time_zone = (char *)"Europe/Amsterdam";
    f->a.node = (char *)s_evil;
    f->a.catalogue_version = (char *)s_evil;
    f->a.generated_at_us = INT64_C (1780300800000000);
    for (int i = 0; i < 2; i++) {
        lantern__v1__agenda_item__init (&f->items[i]);
        f->item_ptrs[i] = &f->items[i];
        lantern__v1__score_term__init (&f->terms[i]);
        f->term_ptrs[i] = &f->terms[i];
    }
    f->a.items = f->item_ptrs;
    f->a.n_items = 2;
    Lantern__V1__AgendaItem *it = &f->items[0];
    it->rank = 1;
    it->case_id = (char *)s_evil;
    f->reasons[0] = LANTERN__V1__AGENDA_REASON__AGENDA_REASON_NEW_CASE;
    f->reasons[1] = LANTERN__V1__AGENDA_REASON__AGENDA_REASON_TRACK_OVERDUE;
    it->reasons = f->reasons;
    it->n_reasons = 2;
    lantern__v1__score__init (&f->score);
    f->terms[0].name = (char *)"indicator";
    f->terms[0].detail = (char *)s_evil;
    f->terms[0].count = 1;
    f->terms[0].weight = 4;
    f->terms[0].points = 4;
    f->terms[1].name = (char *)"immediate_danger";
    f->terms[1].detail = (char *)"";
    f->terms[1].count = 1;
    f->terms[1].weight = 50;
    f->terms[1].points = 50;
    f->score.terms = f->term_ptrs;
    f->score.n_terms = 2;
    f->score.total = 54;
    it->score = &f->score;
    lantern__v1__case_facts__init (&f->facts);
    f->facts.immediate_danger = true;
    f->forms[0] = LANTERN__V1__EXPLOITATION_FORM__EXPLOITATION_FORM_LABOUR;
    f->facts.forms = f->forms;
    f->facts.n_forms = 1;
    f->indicators[0] = (char *)s_evil;
    f->facts.indicators = f->indicators;
    f->facts.n_indicators = 1;
    f->municipalities[0] = (char *)s_evil;
    f->facts.municipalities = f->municipalities;
    f->facts.n_municipalities = 1;
    f->facts.signals = 2;
    f->facts.partners = 2;
    it->facts = &f->facts;
    lantern__v1__agenda_partner__init (&f->partner);
    f->partner.organisation = (char *)s_evil;
    f->partner.organisation_type = 99; /* not in the enum: shown as a number */
    f->signal_ids[0] = (char *)s_evil;
    f->partner.signal_ids = f->signal_ids;
    f->partner.n_signal_ids = 1;
    f->partner_ptrs[0] = &f->partner;
    it->partners = f->partner_ptrs;
    it->n_partners = 1;
    lantern__v1__case_link__init (&f->link);
    f->link.signal_id = (char *)s_evil;
    f->link.reason = (char *)s_evil;
    f->link_ptrs[0] = &f->link;
    it->links = f->link_ptrs;
    it->n_links = 1;
    lantern__v1__track__init (&f->track);
    f->track.kind = LANTERN__V1__TRACK_KIND__TRACK_KIND_MORE_INFORMATION;
    f->track.lead_organisation = (char *)s_evil;
    f->track.deadline = (char *)s_evil;
    f->track.state = LANTERN__V1__TRACK_STATE__TRACK_STATE_HANDED_BACK;
    f->track.handback_reason = (char *)s_evil;
    f->track_ptrs[0] = &f->track;
    it->tracks = f->track_ptrs;
    it->n_tracks = 1;
    f->items[1].rank = 2;
    f->items[1].case_id = (char *)"case-abcdefghijklmnopqrstuvwxyz";
}

/* Every '<' of the page starts one of the tags this renderer writes. */
static void
s_only_own_tags (const char *html)
{
    static const char *const tags[] = {"!DOCTYPE html>",
                                       "html",
                                       "/html>",
                                       "head>",
                                       "/head>",
                                       "meta ",
                                       "title>",
                                       "/title>",
                                       "style>",
                                       "/style>",
                                       "body>",
                                       "/body>",
                                       "h1>",
                                       "/h1>",
                                       "h2>",
                                       "/h2>",
                                       "p>",
                                       "p class=",
                                       "/p>",
                                       "section>",
                                       "/section>",
                                       "table>",
                                       "/table>",
                                       "tr>",
                                       "/tr>",
                                       "th>",
                                       "th colspan=",
                                       "/th>",
                                       "td>",
                                       "td class=",
                                       "/td>",
                                       "ul>",
                                       "/ul>",
                                       "li>",
                                       "/li>",
                                       "span class=",
                                       "/span>"};
    for (const char *p = strchr (html, '<'); p; p = strchr (p + 1, '<')) {
        bool known = false;
        for (size_t i = 0; i < sizeof tags / sizeof tags[0] && !known; i++)
            known = strncmp (p + 1, tags[i], strlen (tags[i])) == 0;
        if (!known)
            fail_msg ("unexpected markup at: %.40s", p);
    }
}

static void
test_escaped_and_self_contained (void **state)
{
    (void)state;
    fixture_t *f = malloc (sizeof *f);
    s_fixture (f);
    size_t len = 0;
    char *html = agenda_html_render (&f->a, &len);
    assert_non_null (html);
    assert_int_equal (strlen (html), len);
    assert_int_equal (strncmp (html, "<!DOCTYPE html>\n", 16), 0);
    assert_non_null (strstr (html, "</html>\n"));
    /* Nothing that runs, loads or leaves: every tag is one of ours (so no
       attribute but ours either), and the hostile text is there only
       escaped: its < > & " ' never reach the page as themselves. */
    assert_null (strcasestr (html, "<script"));
    assert_null (strcasestr (html, "<img"));
    s_only_own_tags (html);
    assert_null (strstr (html, "'x'"));
    assert_null (strstr (html, "\"q\""));
    /* Once per place the agenda puts it: node, catalogue version, case id,
       term detail, municipality, partner, signal id, link signal, link
       reason, track lead, deadline, handback reason. */
    size_t n = 0;
    const char *escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
                          " &lt;img src=x onerror=y&gt;";
    for (const char *p = strstr (html, escaped); p; p = strstr (p + 1, escaped))
        n++;
    assert_int_equal (n, 12);
    free (html);
    free (f);
}

/* The URL-looking text is only inside escaped text: look at the page with
   the hostile strings replaced by harmless ones. */
static void
test_content (void **state)
{
    (void)state;
    fixture_t *f = malloc (sizeof *f);
    s_fixture (f);
    f->a.node = (char *)"triage";
    f->a.catalogue_version = (char *)"2026.2";
    f->items[0].case_id = (char *)"case-zyxwvutsrqponmlkjihgfedcba";
    f->partner.organisation = (char *)"Politie Limburg-Noord";
    f->partner.organisation_type = LANTERN__V1__ORGANISATION_TYPE__ORGANISATION_TYPE_POLICE;
    f->signal_ids[0] = (char *)"sig-zyxwvutsrqponmlkjihgfedcba";
    f->link.signal_id = (char *)"sig-zyxwvutsrqponmlkjihgfedcba";
    f->link.reason = (char *)"same PHONE token as sig-abc from intake-venlo";
    f->terms[0].detail = (char *)"ILO_DEBT_BONDAGE";
    f->indicators[0] = (char *)"ILO_DEBT_BONDAGE";
    f->municipalities[0] = (char *)"GM0983";
    f->track.lead_organisation = (char *)"Gemeente Venlo";
    f->track.deadline = (char *)"2026-05-30";
    f->track.handback_reason = (char *)"not ours";
    char *html = agenda_html_render (&f->a, NULL);
    assert_null (strcasestr (html, "http"));
    assert_null (strcasestr (html, "<script"));
    static const char *const must[] = {
        "Screening meeting 2026-06-02",
        "2026-06-02 10:00",
        "Europe/Amsterdam",
        "2026-06-02 08:00 UTC",
        "1. case-zyxwvutsrqponmlkjihgfedcba",
        "score 54",
        "NEW_CASE, TRACK_OVERDUE",
        "Politie Limburg-Noord (POLICE): sig-zyx",
        "IMMEDIATE DANGER",
        "LABOUR",
        "GM0983",
        "indicator ILO_DEBT_BONDAGE",
        "immediate_danger",
        "1 &times; 50",
        "same PHONE token as sig-abc from intake-venlo",
        "MORE_INFORMATION, Gemeente Venlo, deadline 2026-05-30, HANDED_BACK: not ours",
        "2. case-abcdefghijklmnopqrstuvwxyz",
        "2 case(s)",
        "catalogue 2026.2"};
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        if (!strstr (html, must[i]))
            fail_msg ("missing \"%s\" in:\n%s", must[i], html);
    /* Rank 1 comes before rank 2. */
    assert_true (strstr (html, "1. case-") < strstr (html, "2. case-"));
    free (html);

    /* An empty agenda says so. */
    f->a.n_items = 0;
    html = agenda_html_render (&f->a, NULL);
    assert_non_null (strstr (html, "No cases on this agenda."));
    assert_non_null (strstr (html, "0 case(s)"));
    free (html);
    free (f);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_escaped_and_self_contained),
        cmocka_unit_test (test_content),
    };
    return cmocka_run_group_tests_name ("agenda_html", tests, NULL, NULL);
}
