/*  lanternctl triage: the screening meeting's commands, spoken to a triage
    node (docs/operations.md "The screening meeting with lanternctl").

        lanternctl agenda  [--meeting DATE] [--html FILE] [--json]
        lanternctl case    show ID --purpose TEXT [--json]
        lanternctl case    list [--state STATE] [--json]
        lanternctl case    close ID [--summary TEXT]
        lanternctl decide  CASE --meeting DATE --attendee ORG... --track SPEC...
                           [--minutes TEXT] [--no-action-reason TEXT]
                           [--no-youth-protection-reason TEXT] [--revision REV]
        lanternctl decide  --file DECISION.json [--dry-run]
        lanternctl track   update TRACK --state STATE [--outcome TEXT] [--reason TEXT]
        lanternctl tracks  [--overdue] [--lead ORG] [--kind KIND] [--json]
        lanternctl alerts  [--all] [--json]
        lanternctl alerts  ack ID [--note TEXT]

    Each calls one command of the node through Request.call (service.c),
    follows the pages of a list to its end, and prints a table for people
    (or the result as JSON).  Dates of a decision may be written relative
    to help scripts and examples that must keep working: a meeting
    "today" (this machine's local date) and a deadline "+21d" (21 days
    after the meeting).  The exit code is the same scheme as every command
    (lanternctl.h).
*/
#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agenda_html.h"
#include "connect.h"
#include "lanternctl.h"
#include "ln_alloc.h"
#include "ln_json.h"
#include "request.h"
#include "service.h"
#include "table.h"
#include "triage.pb-c.h"

#define TRACKS_MAX     16
#define ATTENDEES_MAX  30
#define PAGES_MAX      1000
#define DECISION_BYTES (256 * 1024)

enum {
    OPT_JSON = 0x2001,
    OPT_MEETING,
    OPT_HTML,
    OPT_PURPOSE,
    OPT_SUMMARY,
    OPT_STATE,
    OPT_ATTENDEE,
    OPT_TRACK,
    OPT_MINUTES,
    OPT_NO_ACTION,
    OPT_NO_YOUTH,
    OPT_REVISION,
    OPT_FILE,
    OPT_DRY_RUN,
    OPT_OUTCOME,
    OPT_REASON,
    OPT_OVERDUE,
    OPT_LEAD,
    OPT_KIND,
    OPT_ALL,
    OPT_NOTE,
};

/* Everything a subcommand may be given; each says which it takes. */
typedef struct {
    const char *cmd; /* "agenda", "case", ... */
    lanternctl_conn_t conn;
    lanternctl_req_t req;
    bool json, dry_run, overdue, all;
    const char *meeting, *html, *purpose, *summary, *state, *minutes, *no_action, *no_youth,
        *revision, *file, *outcome, *reason, *lead, *kind, *note;
    const char *attendees[ATTENDEES_MAX + 1];
    size_t n_attendees;
    const char *tracks[TRACKS_MAX + 1];
    size_t n_tracks;
    char **rest; /* positional arguments */
    int n_rest;
} args_t;

static const struct option s_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"meeting", required_argument, NULL, OPT_MEETING},
    {"html", required_argument, NULL, OPT_HTML},
    {"purpose", required_argument, NULL, OPT_PURPOSE},
    {"summary", required_argument, NULL, OPT_SUMMARY},
    {"state", required_argument, NULL, OPT_STATE},
    {"attendee", required_argument, NULL, OPT_ATTENDEE},
    {"track", required_argument, NULL, OPT_TRACK},
    {"minutes", required_argument, NULL, OPT_MINUTES},
    {"no-action-reason", required_argument, NULL, OPT_NO_ACTION},
    {"no-youth-protection-reason", required_argument, NULL, OPT_NO_YOUTH},
    {"revision", required_argument, NULL, OPT_REVISION},
    {"file", required_argument, NULL, OPT_FILE},
    {"dry-run", no_argument, NULL, OPT_DRY_RUN},
    {"outcome", required_argument, NULL, OPT_OUTCOME},
    {"reason", required_argument, NULL, OPT_REASON},
    {"overdue", no_argument, NULL, OPT_OVERDUE},
    {"lead", required_argument, NULL, OPT_LEAD},
    {"kind", required_argument, NULL, OPT_KIND},
    {"all", no_argument, NULL, OPT_ALL},
    {"note", required_argument, NULL, OPT_NOTE},
    LANTERNCTL_REQ_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    LANTERNCTL_CONN_OPTIONS,
    {NULL, 0, NULL, 0},
};

static const char *
s_name_of (int opt)
{
    for (const struct option *o = s_options; o->name; o++)
        if (o->val == opt)
            return o->name;
    return "?";
}

/* Parse argv; `allowed` lists the options (OPT_*) this subcommand takes.
   Returns -1 when parsed (a->rest set), LANTERNCTL_EXIT_OK after --help,
   or LANTERNCTL_EXIT_USAGE. */
static int
s_parse (args_t *a, int argc, char **argv, const int *allowed, void (*usage) (FILE *))
{
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long (argc, argv, ":r:t:n:h", s_options, NULL)) != -1) {
        if (c == 'h') {
            usage (stdout);
            return LANTERNCTL_EXIT_OK;
        }
        if (c == ':')
            return lanternctl_usage_error (a->cmd, "option '%s' needs a value", argv[optind - 1]);
        if (c == '?')
            return lanternctl_usage_error (a->cmd, "unknown option '%s'", argv[optind - 1]);
        if (c >= OPT_JSON && c <= OPT_NOTE) {
            bool ok = false;
            for (const int *p = allowed; *p; p++)
                ok |= *p == c;
            if (!ok)
                return lanternctl_usage_error (a->cmd, "--%s is not an option of this command",
                                               s_name_of (c));
        }
        switch (c) {
        case OPT_JSON:
            a->json = true;
            break;
        case OPT_DRY_RUN:
            a->dry_run = true;
            break;
        case OPT_OVERDUE:
            a->overdue = true;
            break;
        case OPT_ALL:
            a->all = true;
            break;
        case OPT_MEETING:
            a->meeting = optarg;
            break;
        case OPT_HTML:
            a->html = optarg;
            break;
        case OPT_PURPOSE:
            a->purpose = optarg;
            break;
        case OPT_SUMMARY:
            a->summary = optarg;
            break;
        case OPT_STATE:
            a->state = optarg;
            break;
        case OPT_MINUTES:
            a->minutes = optarg;
            break;
        case OPT_NO_ACTION:
            a->no_action = optarg;
            break;
        case OPT_NO_YOUTH:
            a->no_youth = optarg;
            break;
        case OPT_REVISION:
            a->revision = optarg;
            break;
        case OPT_FILE:
            a->file = optarg;
            break;
        case OPT_OUTCOME:
            a->outcome = optarg;
            break;
        case OPT_REASON:
            a->reason = optarg;
            break;
        case OPT_LEAD:
            a->lead = optarg;
            break;
        case OPT_KIND:
            a->kind = optarg;
            break;
        case OPT_NOTE:
            a->note = optarg;
            break;
        case OPT_ATTENDEE:
            if (a->n_attendees == ATTENDEES_MAX)
                return lanternctl_usage_error (a->cmd, "at most %d --attendee", ATTENDEES_MAX);
            a->attendees[a->n_attendees++] = optarg;
            break;
        case OPT_TRACK:
            if (a->n_tracks == TRACKS_MAX)
                return lanternctl_usage_error (a->cmd, "at most %d --track", TRACKS_MAX);
            a->tracks[a->n_tracks++] = optarg;
            break;
        default: {
            int taken = lanternctl_req_option (&a->req, a->cmd, c, optarg);
            if (taken < 0)
                return LANTERNCTL_EXIT_USAGE;
            if (!taken && !lanternctl_conn_option (&a->conn, c, optarg))
                return lanternctl_usage_error (a->cmd, "unknown option '%s'", argv[optind - 1]);
        }
        }
    }
    a->rest = argv + optind;
    a->n_rest = argc - optind;
    return -1;
}

/* Call one command; *out is the result (free it). */
static int
s_call (args_t *a, ln_client_t *client, const ProtobufCMessage *cmd,
        const ProtobufCMessageDescriptor *result, ProtobufCMessage **out)
{
    return lanternctl_service_call (client, a->cmd, &a->req, cmd, result, out);
}

static int
s_print_json (args_t *a, const ProtobufCMessage *msg)
{
    return lanternctl_print_json (a->cmd, msg, true) == 0 ? LANTERNCTL_EXIT_OK
                                                          : LANTERNCTL_EXIT_LOCAL;
}

/* --- words ---------------------------------------------------------------------------- */

/* The name of an enum value without its prefix ("CARE"), or the number. */
static const char *
s_enum (const ProtobufCEnumDescriptor *d, int value, char *buf, size_t size)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value (d, value);
    if (!v) {
        snprintf (buf, size, "%d", value);
        return buf;
    }
    /* the prefix is the part every name shares: up to the enum's own name */
    const char *name = v->name;
    const ProtobufCEnumValue *first = &d->values[0];
    size_t p = 0;
    while (first->name[p] && first->name[p] == name[p])
        p++;
    while (p > 0 && name[p - 1] != '_')
        p--;
    snprintf (buf, size, "%s", name + p);
    return buf;
}

/* An enum value from its short name, any case ("care", "in_progress",
   "TRACK_KIND_CARE" too); 0 when none. */
static int
s_enum_parse (const ProtobufCEnumDescriptor *d, const char *text)
{
    char want[80];
    size_t n = 0;
    for (const char *p = text; *p && n + 1 < sizeof want; p++)
        want[n++] = *p == '-' ? '_' : (char)toupper ((unsigned char)*p);
    want[n] = '\0';
    for (unsigned i = 0; i < d->n_values; i++) {
        char short_name[80];
        s_enum (d, d->values[i].value, short_name, sizeof short_name);
        if (d->values[i].value != 0 &&
            (strcmp (short_name, want) == 0 || strcmp (d->values[i].name, want) == 0))
            return d->values[i].value;
    }
    return 0;
}

/* "care, criminal, ..." of the enum's values (but 0), for messages. */
static const char *
s_enum_choices (const ProtobufCEnumDescriptor *d, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < d->n_values; i++) {
        if (d->values[i].value == 0)
            continue;
        char name[80];
        s_enum (d, d->values[i].value, name, sizeof name);
        for (char *p = name; *p; p++)
            *p = (char)tolower ((unsigned char)*p);
        int w = snprintf (buf + used, size - used, "%s%s", used ? ", " : "", name);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
    return buf;
}

static const char *
s_time (int64_t us, char *buf, size_t size)
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    if (us <= 0 || !localtime_r (&secs, &tm)) {
        snprintf (buf, size, "-");
        return buf;
    }
    strftime (buf, size, "%Y-%m-%d %H:%M", &tm);
    return buf;
}

/* YYYY-MM-DD of a time_t, local. */
static void
s_local_date (time_t t, char *out, size_t size)
{
    struct tm tm;
    localtime_r (&t, &tm);
    strftime (out, size, "%Y-%m-%d", &tm);
}

/* "today" -> this machine's local date; a date as given otherwise. */
static void
s_meeting_date (const char *text, char *out, size_t size)
{
    if (strcmp (text, "today") == 0)
        s_local_date (time (NULL), out, size);
    else
        snprintf (out, size, "%s", text);
}

/* "+21d" -> the meeting's date + 21 days; anything else as given. */
static int
s_deadline (const args_t *a, const char *text, const char *meeting, char *out, size_t size)
{
    if (text[0] != '+') {
        snprintf (out, size, "%s", text);
        return 0;
    }
    long days = 0;
    char number[16];
    size_t len = strlen (text);
    if (len < 3 || len > 6 || text[len - 1] != 'd')
        goto bad;
    snprintf (number, sizeof number, "%.*s", (int)(len - 2), text + 1);
    if (!lanternctl_parse_long (number, 0, 3650, &days))
        goto bad;
    struct tm tm;
    memset (&tm, 0, sizeof tm);
    if (strlen (meeting) != 10 || !strptime (meeting, "%Y-%m-%d", &tm)) {
        lanternctl_usage_error (a->cmd, "a deadline +Nd needs the meeting as a date (or today)");
        return -1;
    }
    tm.tm_mday += (int)days;
    tm.tm_hour = 12;
    tm.tm_isdst = -1;
    time_t t = mktime (&tm);
    s_local_date (t, out, size);
    return 0;
bad:
    lanternctl_usage_error (a->cmd,
                            "deadline '%s': a date YYYY-MM-DD, or +Nd (days after the "
                            "meeting)",
                            text);
    return -1;
}

/* --- agenda ------------------------------------------------------------------------------ */

static void
s_usage_agenda (FILE *out)
{
    fprintf (out,
             "usage: lanternctl agenda [--meeting DATE] [--html FILE] [--json] [options]\n"
             "\n"
             "The agenda of the screening meeting (GetAgenda): every case to discuss,\n"
             "highest priority first, why it is there, its partners, what it is about,\n"
             "and every term of its score.  Roles screening_chair, screening_partner.\n"
             "\n" LANTERNCTL_EXIT_HELP "\n"
             "options:\n"
             "      --meeting DATE        the meeting of that day (YYYY-MM-DD, a meeting\n"
             "                            day); default: today's if today is a meeting day,\n"
             "                            else the next one\n"
             "      --html FILE           also write the agenda as one self-contained,\n"
             "                            printable page to FILE (no script, no link)\n"
             "      --json                the Agenda as JSON\n"
             "  -r, --request-id ID, -t, --timeout MS, -n, --retries N\n"
             "                            as for lanternctl call\n"
             "  -h, --help                show this help\n"
             "\n%s"
             "\nexamples:\n"
             "  lanternctl agenda\n"
             "  lanternctl agenda --html agenda.html\n"
             "  lanternctl agenda --json\n",
             LANTERNCTL_CONN_HELP);
}

/* The reasons of an item, in words. */
static const char *
s_reasons (const Lantern__V1__AgendaItem *it, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < it->n_reasons; i++) {
        char name[64];
        s_enum (&lantern__v1__agenda_reason__descriptor, it->reasons[i], name, sizeof name);
        for (char *p = name; *p; p++)
            *p = *p == '_' ? ' ' : (char)tolower ((unsigned char)*p);
        int w = snprintf (buf + used, size - used, "%s%s", used ? ", " : "", name);
        if (w < 0 || (size_t)w >= size - used)
            break;
        used += (size_t)w;
    }
    return buf;
}

/* "71 = 4 (indicator ILO_X) + 50 (immediate_danger) + 16 (extra_partners 2 x 8)" */
static void
s_print_score_line (const char *label, const Lantern__V1__Score *s)
{
    printf ("  %s: %" PRId64 " =", label, s->total);
    if (s->n_terms == 0)
        printf (" 0");
    for (size_t t = 0; t < s->n_terms; t++) {
        const Lantern__V1__ScoreTerm *term = s->terms[t];
        printf ("%s %" PRId64 " (%s%s%s", t ? " +" : "", term->points, term->name,
                term->detail[0] ? " " : "", term->detail);
        if (term->count != 1)
            printf (" %u x %" PRId64, term->count, term->weight);
        printf (")");
    }
    printf ("\n");
}

static void
s_facts_words (const Lantern__V1__CaseFacts *f, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    if (!f)
        return;
    for (size_t i = 0; i < f->n_forms; i++) {
        char name[64];
        s_enum (&lantern__v1__exploitation_form__descriptor, f->forms[i], name, sizeof name);
        int w = snprintf (buf + used, size - used, "%s%s", used ? "/" : "", name);
        if (w > 0 && (size_t)w < size - used)
            used += (size_t)w;
    }
    int w = snprintf (buf + used, size - used, "%s%zu indicator%s%s%s", used ? "; " : "",
                      f->n_indicators, f->n_indicators == 1 ? "" : "s",
                      f->immediate_danger ? "; IMMEDIATE DANGER" : "",
                      f->minor_involved ? "; MINOR" : "");
    (void)w;
}

static int
s_print_agenda (const Lantern__V1__Agenda *ag)
{
    printf ("Agenda of the screening meeting of %s (%s), node %s, catalogue %s: %zu case%s\n",
            ag->starts_local, ag->time_zone, ag->node, ag->catalogue_version, ag->n_items,
            ag->n_items == 1 ? "" : "s");
    if (ag->n_items == 0)
        return LANTERNCTL_EXIT_OK;
    static const char *const head[] = {"RANK",     "CASE",    "SCORE", "WHY",
                                       "PARTNERS", "SIGNALS", "ABOUT"};
    lanternctl_table_t *t = lanternctl_table_new (7, head);
    for (size_t i = 0; i < ag->n_items; i++) {
        const Lantern__V1__AgendaItem *it = ag->items[i];
        char rank[16], score[24], why[200], partners[400], signals[16], about[300];
        snprintf (rank, sizeof rank, "%u", it->rank);
        snprintf (score, sizeof score, "%" PRId64, it->score ? it->score->total : 0);
        size_t used = 0, nsig = 0;
        partners[0] = '\0';
        for (size_t p = 0; p < it->n_partners; p++) {
            nsig += it->partners[p]->n_signal_ids;
            int w = snprintf (partners + used, sizeof partners - used, "%s%s", used ? ", " : "",
                              it->partners[p]->organisation);
            if (w > 0 && (size_t)w < sizeof partners - used)
                used += (size_t)w;
        }
        snprintf (signals, sizeof signals, "%zu", nsig);
        s_facts_words (it->facts, about, sizeof about);
        const char *cells[7] = {rank,     it->case_id, score, s_reasons (it, why, sizeof why),
                                partners, signals,     about};
        lanternctl_table_add (t, cells);
    }
    int rc =
        lanternctl_table_print (t, stdout, "") == 0 ? LANTERNCTL_EXIT_OK : LANTERNCTL_EXIT_LOCAL;
    lanternctl_table_destroy (&t);
    printf ("\nScores (each the sum of its terms; weights from catalogue %s):\n",
            ag->catalogue_version);
    for (size_t i = 0; i < ag->n_items; i++)
        if (ag->items[i]->score)
            s_print_score_line (ag->items[i]->case_id, ag->items[i]->score);
    return rc;
}

static int
s_agenda (args_t *a, int argc, char **argv)
{
    static const int allowed[] = {OPT_MEETING, OPT_HTML, OPT_JSON, 0};
    int rc = s_parse (a, argc, argv, allowed, s_usage_agenda);
    if (rc >= 0)
        return rc;
    if (a->n_rest > 0)
        return lanternctl_usage_error (a->cmd, "unexpected argument '%s'", a->rest[0]);
    char meeting[16] = "";
    if (a->meeting)
        s_meeting_date (a->meeting, meeting, sizeof meeting);
    ln_client_t *client = lanternctl_connect (&a->conn, a->cmd, &rc);
    if (!client)
        return rc;
    Lantern__V1__GetAgenda cmd = LANTERN__V1__GET_AGENDA__INIT;
    cmd.meeting_id = meeting;
    ProtobufCMessage *out = NULL;
    rc = s_call (a, client, &cmd.base, &lantern__v1__agenda__descriptor, &out);
    ln_client_destroy (&client);
    if (rc != LANTERNCTL_EXIT_OK)
        return rc;
    const Lantern__V1__Agenda *ag = (const Lantern__V1__Agenda *)out;
    if (a->html) {
        size_t len = 0;
        char *page = agenda_html_render (ag, &len);
        FILE *f = strcmp (a->html, "-") == 0 ? stdout : fopen (a->html, "w");
        bool ok = f && fwrite (page, 1, len, f) == len;
        if (f && f != stdout)
            ok = fclose (f) == 0 && ok;
        free (page);
        if (!ok) {
            fprintf (stderr, "lanternctl: agenda: cannot write %s\n", a->html);
            protobuf_c_message_free_unpacked (out, NULL);
            return LANTERNCTL_EXIT_LOCAL;
        }
        if (f != stdout)
            fprintf (stderr, "lanternctl: agenda: %s written (%zu bytes)\n", a->html, len);
    }
    if (a->json)
        rc = s_print_json (a, out);
    else if (!a->html || strcmp (a->html, "-") != 0)
        rc = s_print_agenda (ag);
    protobuf_c_message_free_unpacked (out, NULL);
    return rc;
}

/* --- case ---------------------------------------------------------------------------------- */

static void
s_usage_case (FILE *out)
{
    fprintf (out,
             "usage: lanternctl case show ID --purpose TEXT [--json] [options]\n"
             "       lanternctl case list [--state STATE] [--json] [options]\n"
             "       lanternctl case close ID [--summary TEXT] [options]\n"
             "\n"
             "  show    the case (GetCase): its partners, why its signals are linked,\n"
             "          what it is about, its score with every term, decisions, tracks,\n"
             "          alerts and history; never a person.  A read of a case: the node\n"
             "          audits it with its purpose.  An id that was merged shows the case\n"
             "          it joined.  Roles screening_chair, screening_partner.\n"
             "  list    the cases (ListCases), earliest opened first: open and decided\n"
             "          ones, or those of --state open, decided, closed or merged\n"
             "  close   close a decided case whose every track is done (CloseCase, role\n"
             "          screening_chair of the meeting's organisation)\n"
             "\n" LANTERNCTL_EXIT_HELP "\n"
             "options:\n"
             "      --purpose TEXT        show: why the case is read (1..500 bytes, audited)\n"
             "      --state STATE         list: open, decided, closed, merged\n"
             "      --summary TEXT        close: what came of it (0..2000 bytes)\n"
             "      --json                show, list: the result as JSON\n"
             "  -r, --request-id ID, -t, --timeout MS, -n, --retries N\n"
             "                            as for lanternctl call\n"
             "  -h, --help                show this help\n"
             "\n%s"
             "\nexamples:\n"
             "  lanternctl case list\n"
             "  lanternctl case show case-... --purpose 'screening meeting preparation'\n"
             "  lanternctl case close case-... --summary 'shelter found, report made'\n",
             LANTERNCTL_CONN_HELP);
}

static void
s_section (const char *title, lanternctl_table_t *t)
{
    if (lanternctl_table_rows (t) > 0) {
        printf ("\n%s\n", title);
        lanternctl_table_print (t, stdout, "  ");
    }
    lanternctl_table_destroy (&t);
}

static void
s_line (const char *label, const char *value)
{
    printf ("%-14s %s\n", label, value && *value ? value : "-");
}

static void
s_track_rows (lanternctl_table_t *t, Lantern__V1__Track **tracks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const Lantern__V1__Track *k = tracks[i];
        char kind[40], state[40];
        s_enum (&lantern__v1__track_kind__descriptor, k->kind, kind, sizeof kind);
        s_enum (&lantern__v1__track_state__descriptor, k->state, state, sizeof state);
        const char *what = k->state == LANTERN__V1__TRACK_STATE__TRACK_STATE_DONE ? k->outcome
                           : k->state == LANTERN__V1__TRACK_STATE__TRACK_STATE_HANDED_BACK
                               ? k->handback_reason
                               : k->note;
        const char *cells[8] = {k->track_id,   kind,  k->lead_organisation,
                                k->deadline,   state, k->overdue ? "OVERDUE" : "",
                                k->meeting_id, what};
        lanternctl_table_add (t, cells);
    }
}

static int
s_print_case (const Lantern__V1__CaseRecord *r)
{
    char buf[512], state[40], when[40];
    s_enum (&lantern__v1__case_state__descriptor, r->state, state, sizeof state);
    if (strcmp (r->asked_id, r->case_id) != 0) {
        snprintf (buf, sizeof buf, "%s (asked for %s, which it absorbed)", r->case_id, r->asked_id);
        s_line ("case", buf);
    }
    else
        s_line ("case", r->case_id);
    if (r->outcome) {
        char outcome[40];
        s_enum (&lantern__v1__case_outcome__descriptor, r->outcome, outcome, sizeof outcome);
        snprintf (buf, sizeof buf, "%s: %s on %s by %s", state, outcome,
                  s_time (r->closed_at_us, when, sizeof when),
                  r->closed_by[0] ? r->closed_by : "-");
        s_line ("state", buf);
        if (r->close_summary[0])
            s_line ("summary", r->close_summary);
    }
    else
        s_line ("state", state);
    s_line ("revision", r->revision);
    const Lantern__V1__CaseFacts *f = r->facts;
    if (f) {
        s_line ("opened", s_time (f->opened_at_us, when, sizeof when));
        snprintf (buf, sizeof buf, "%u from %u partner%s", f->signals, f->partners,
                  f->partners == 1 ? "" : "s");
        s_line ("signals", buf);
        s_facts_words (f, buf, sizeof buf);
        s_line ("about", buf);
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < f->n_indicators; i++) {
            int w =
                snprintf (buf + used, sizeof buf - used, "%s%s", i ? ", " : "", f->indicators[i]);
            if (w > 0 && (size_t)w < sizeof buf - used)
                used += (size_t)w;
        }
        s_line ("indicators", buf);
        used = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < f->n_municipalities; i++) {
            int w = snprintf (buf + used, sizeof buf - used, "%s%s", i ? ", " : "",
                              f->municipalities[i]);
            if (w > 0 && (size_t)w < sizeof buf - used)
                used += (size_t)w;
        }
        s_line ("municipalities", buf);
    }
    if (r->n_merged_case_ids) {
        size_t used = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < r->n_merged_case_ids; i++) {
            int w = snprintf (buf + used, sizeof buf - used, "%s%s", i ? ", " : "",
                              r->merged_case_ids[i]);
            if (w > 0 && (size_t)w < sizeof buf - used)
                used += (size_t)w;
        }
        s_line ("absorbed", buf);
    }
    if (r->score) {
        snprintf (buf, sizeof buf, "%" PRId64 " (catalogue %s, counted at %s)", r->score->total,
                  r->score->catalogue_version, s_time (r->score->at_us, when, sizeof when));
        s_line ("score", buf);
        static const char *const sh[] = {"TERM", "DETAIL", "COUNT", "WEIGHT", "POINTS"};
        lanternctl_table_t *t = lanternctl_table_new (5, sh);
        for (size_t i = 0; i < r->score->n_terms; i++) {
            const Lantern__V1__ScoreTerm *term = r->score->terms[i];
            char count[16], weight[24], points[24];
            snprintf (count, sizeof count, "%u", term->count);
            snprintf (weight, sizeof weight, "%" PRId64, term->weight);
            snprintf (points, sizeof points, "%" PRId64, term->points);
            const char *cells[5] = {term->name, term->detail, count, weight, points};
            lanternctl_table_add (t, cells);
        }
        char total[24];
        snprintf (total, sizeof total, "%" PRId64, r->score->total);
        const char *cells[5] = {"total", "", "", "", total};
        lanternctl_table_add (t, cells);
        s_section ("Score (points = count x weight; the terms add up to the total)", t);
    }
    static const char *const gh[] = {"SIGNAL",   "NODE",      "ORGANISATION",
                                     "RECEIVED", "DISCUSSED", "NOTE"};
    lanternctl_table_t *t = lanternctl_table_new (6, gh);
    for (size_t i = 0; i < r->n_signals; i++) {
        const Lantern__V1__CaseSignal *s = r->signals[i];
        const char *cells[6] = {s->signal_id,    s->node,
                                s->organisation, s_time (s->received_at_us, when, sizeof when),
                                s->discussed_at, s->withdrawn ? "withdrawn: left the case" : ""};
        lanternctl_table_add (t, cells);
    }
    s_section ("Signals (the partners that hold them)", t);
    static const char *const lh[] = {"SIGNAL", "LINKED BY", "TO", "WHY"};
    t = lanternctl_table_new (4, lh);
    for (size_t i = 0; i < r->n_links; i++) {
        const Lantern__V1__CaseLink *l = r->links[i];
        char kind[40];
        s_enum (&lantern__v1__identifier_kind__descriptor, l->kind, kind, sizeof kind);
        const char *cells[4] = {l->signal_id, kind, l->other_signal_id, l->reason};
        lanternctl_table_add (t, cells);
    }
    s_section ("Links (a shared pseudonym token; the token is never shown)", t);
    static const char *const dh[] = {"DECISION", "MEETING", "DECIDED", "BY", "TRACKS", "MINUTES"};
    t = lanternctl_table_new (6, dh);
    static const char *const th[] = {"TRACK", "KIND",    "LEAD",    "DEADLINE",
                                     "STATE", "OVERDUE", "MEETING", "NOTE / OUTCOME"};
    lanternctl_table_t *tt = lanternctl_table_new (8, th);
    for (size_t i = 0; i < r->n_decisions; i++) {
        const Lantern__V1__Decision *d = r->decisions[i];
        char tracks[16];
        snprintf (tracks, sizeof tracks, "%zu", d->n_tracks);
        const char *cells[6] = {d->decision_id,
                                d->meeting_id,
                                s_time (d->decided_at_us, when, sizeof when),
                                d->decided_by,
                                tracks,
                                d->no_action_reason[0] ? d->no_action_reason : d->minutes};
        lanternctl_table_add (t, cells);
        s_track_rows (tt, d->tracks, d->n_tracks);
    }
    s_section ("Decisions", t);
    s_section ("Tracks", tt);
    static const char *const ah[] = {"ALERT", "KIND", "SIGNAL", "RAISED", "ACKNOWLEDGED BY"};
    t = lanternctl_table_new (5, ah);
    for (size_t i = 0; i < r->n_alerts; i++) {
        const Lantern__V1__Alert *al = r->alerts[i];
        char kind[40];
        s_enum (&lantern__v1__alert_kind__descriptor, al->kind, kind, sizeof kind);
        const char *cells[5] = {al->alert_id, kind, al->signal ? al->signal->signal_id : "",
                                s_time (al->raised_at_us, when, sizeof when), al->acknowledged_by};
        lanternctl_table_add (t, cells);
    }
    s_section ("Alerts", t);
    static const char *const hh[] = {"WHEN", "WHAT", "SIGNAL", "OTHER CASE", "DETAIL"};
    t = lanternctl_table_new (5, hh);
    for (size_t i = 0; i < r->n_history; i++) {
        const Lantern__V1__CaseHistoryEntry *h = r->history[i];
        const char *cells[5] = {s_time (h->at_us, when, sizeof when), h->action, h->signal_id,
                                h->other_case_id, h->detail};
        lanternctl_table_add (t, cells);
    }
    s_section ("History", t);
    return ferror (stdout) ? LANTERNCTL_EXIT_LOCAL : LANTERNCTL_EXIT_OK;
}

/* The end of a listing: when all went well, the pages gathered as one
   JSON array (--json), or the table, or `none` when it has no rows; then
   both are freed.  Returns the exit status. */
static int
s_list_done (const char *cmd, int rc, json_object *all, lanternctl_table_t **t, const char *none)
{
    if (rc == LANTERNCTL_EXIT_OK) {
        if (all)
            rc = lanternctl_print_json_object (cmd, all, true) == 0 ? LANTERNCTL_EXIT_OK
                                                                    : LANTERNCTL_EXIT_LOCAL;
        else if (lanternctl_table_rows (*t) == 0)
            fputs (none, stdout);
        else if (lanternctl_table_print (*t, stdout, "") != 0)
            rc = LANTERNCTL_EXIT_LOCAL;
    }
    if (all)
        json_object_put (all);
    lanternctl_table_destroy (t);
    return rc;
}

static int
s_case_list (args_t *a, ln_client_t *client)
{
    Lantern__V1__ListCases cmd = LANTERN__V1__LIST_CASES__INIT;
    if (a->state) {
        cmd.state = s_enum_parse (&lantern__v1__case_state__descriptor, a->state);
        if (!cmd.state) {
            char choices[200];
            return lanternctl_usage_error (
                a->cmd, "--state: one of %s",
                s_enum_choices (&lantern__v1__case_state__descriptor, choices, sizeof choices));
        }
    }
    cmd.page_size = 500;
    static const char *const head[] = {"CASE",     "STATE",  "SCORE",       "SIGNALS",
                                       "PARTNERS", "OPENED", "OPEN TRACKS", "ABOUT"};
    lanternctl_table_t *t = lanternctl_table_new (8, head);
    json_object *all = a->json ? json_object_new_array () : NULL;
    char token[256] = "";
    int rc = LANTERNCTL_EXIT_OK;
    for (int page = 0; page < PAGES_MAX; page++) {
        cmd.page_token = token;
        ProtobufCMessage *out = NULL;
        rc = s_call (a, client, &cmd.base, &lantern__v1__case_list__descriptor, &out);
        if (rc != LANTERNCTL_EXIT_OK)
            break;
        const Lantern__V1__CaseList *l = (const Lantern__V1__CaseList *)out;
        for (size_t i = 0; i < l->n_cases; i++) {
            const Lantern__V1__CaseSummary *c = l->cases[i];
            if (all) {
                json_object_array_add (all, ln_json_object_from_message (&c->base));
                continue;
            }
            char state[40], score[24], signals[16], partners[16], opened[40], tracks[200],
                about[300];
            s_enum (&lantern__v1__case_state__descriptor, c->state, state, sizeof state);
            snprintf (score, sizeof score, "%" PRId64, c->score);
            snprintf (signals, sizeof signals, "%u", c->facts ? c->facts->signals : 0);
            snprintf (partners, sizeof partners, "%u", c->facts ? c->facts->partners : 0);
            s_time (c->facts ? c->facts->opened_at_us : 0, opened, sizeof opened);
            size_t used = 0;
            tracks[0] = '\0';
            for (size_t k = 0; k < c->n_open_tracks; k++) {
                char kind[40];
                s_enum (&lantern__v1__track_kind__descriptor, c->open_tracks[k], kind, sizeof kind);
                int w = snprintf (tracks + used, sizeof tracks - used, "%s%s", k ? ", " : "", kind);
                if (w > 0 && (size_t)w < sizeof tracks - used)
                    used += (size_t)w;
            }
            s_facts_words (c->facts, about, sizeof about);
            const char *cells[8] = {c->case_id, state,  score,  signals,
                                    partners,   opened, tracks, about};
            lanternctl_table_add (t, cells);
        }
        snprintf (token, sizeof token, "%s", l->next_page_token);
        protobuf_c_message_free_unpacked (out, NULL);
        if (!token[0])
            break;
    }
    return s_list_done (a->cmd, rc, all, &t, "no cases\n");
}

static int
s_case (args_t *a, int argc, char **argv)
{
    static const int allowed[] = {OPT_PURPOSE, OPT_STATE, OPT_SUMMARY, OPT_JSON, 0};
    int rc = s_parse (a, argc, argv, allowed, s_usage_case);
    if (rc >= 0)
        return rc;
    if (a->n_rest == 0)
        return lanternctl_usage_error (a->cmd, "missing show, list or close");
    const char *verb = a->rest[0];
    bool show = strcmp (verb, "show") == 0, list = strcmp (verb, "list") == 0,
         close = strcmp (verb, "close") == 0;
    if (!show && !list && !close)
        return lanternctl_usage_error (a->cmd, "unknown subcommand '%s' (show, list, close)", verb);
    int want = list ? 1 : 2;
    if (a->n_rest < want)
        return lanternctl_usage_error (a->cmd, "%s needs the case's ID", verb);
    if (a->n_rest > want)
        return lanternctl_usage_error (a->cmd, "unexpected argument '%s'", a->rest[want]);
    if (show && (!a->purpose || !*a->purpose))
        return lanternctl_usage_error (a->cmd, "show needs --purpose: why the case is read "
                                               "(the node audits it)");
    if ((a->purpose && !show) || (a->state && !list) || (a->summary && !close) ||
        (a->json && close))
        return lanternctl_usage_error (a->cmd, "an option that %s does not take", verb);
    ln_client_t *client = lanternctl_connect (&a->conn, a->cmd, &rc);
    if (!client)
        return rc;
    ProtobufCMessage *out = NULL;
    if (list)
        rc = s_case_list (a, client);
    else if (show) {
        Lantern__V1__GetCase cmd = LANTERN__V1__GET_CASE__INIT;
        cmd.case_id = a->rest[1];
        cmd.purpose = (char *)a->purpose;
        rc = s_call (a, client, &cmd.base, &lantern__v1__case_record__descriptor, &out);
        if (rc == LANTERNCTL_EXIT_OK)
            rc = a->json ? s_print_json (a, out)
                         : s_print_case ((const Lantern__V1__CaseRecord *)out);
    }
    else {
        a->req.changes = true;
        Lantern__V1__CloseCase cmd = LANTERN__V1__CLOSE_CASE__INIT;
        cmd.case_id = a->rest[1];
        cmd.summary = (char *)(a->summary ? a->summary : "");
        rc = s_call (a, client, &cmd.base, &lantern__v1__close_case_result__descriptor, &out);
        if (rc == LANTERNCTL_EXIT_OK) {
            const Lantern__V1__CloseCaseResult *r = (const Lantern__V1__CloseCaseResult *)out;
            char outcome[40], when[40];
            printf ("%s closed: %s, %s\n", r->case_id,
                    s_enum (&lantern__v1__case_outcome__descriptor, r->outcome, outcome,
                            sizeof outcome),
                    s_time (r->closed_at_us, when, sizeof when));
        }
    }
    if (out)
        protobuf_c_message_free_unpacked (out, NULL);
    ln_client_destroy (&client);
    return rc;
}

/* --- decide -------------------------------------------------------------------------------- */

static void
s_usage_decide (FILE *out)
{
    char kinds[300];
    fprintf (out,
             "usage: lanternctl decide CASE --meeting DATE --attendee ORG... --track SPEC...\n"
             "                         [--minutes TEXT] [--no-action-reason TEXT]\n"
             "                         [--no-youth-protection-reason TEXT] [--revision REV]\n"
             "                         [options]\n"
             "       lanternctl decide --file DECISION.json [CASE] [--dry-run] [options]\n"
             "\n"
             "Record the screening meeting's decision on a case (RecordDecision; role\n"
             "screening_chair of the meeting's organisation): the tracks it opens, each\n"
             "with its lead organisation and deadline.  NO_ACTION needs a reason and\n"
             "excludes every other track; a minor involved needs YOUTH_PROTECTION or\n"
             "--no-youth-protection-reason.  Every rule has its own code\n"
             "(docs/protocol.md \"Triage\").\n"
             "\n"
             "A track SPEC is kind=KIND,lead=ORG,deadline=DATE,note=TEXT (note last: it\n"
             "takes the rest, commas included); KIND is one of\n"
             "  %s;\n"
             "no_action has no lead and no deadline.  DATE is YYYY-MM-DD, or +Nd: N days\n"
             "after the meeting.  --meeting today is this machine's local date.\n"
             "\n"
             "--file takes the RecordDecision as JSON, in the same words: {\"case_id\": ...,\n"
             "\"meeting_id\": \"today\", \"attendees\": [...], \"tracks\": [{\"kind\": \"care\",\n"
             "\"lead_organisation\": ..., \"deadline\": \"+21d\", \"note\": ...}], \"minutes\":\n"
             "...}; a CASE argument overrides its case_id.  --dry-run prints the\n"
             "RecordDecision that would be sent, as JSON, and sends nothing.\n"
             "\n" LANTERNCTL_EXIT_HELP "\n"
             "options:\n"
             "      --meeting DATE        the meeting that decided (YYYY-MM-DD or today)\n"
             "      --attendee ORG        an organisation at the table (1..30)\n"
             "      --track SPEC          a track (1..16)\n"
             "      --minutes TEXT        what was said (0..20000 bytes)\n"
             "      --no-action-reason TEXT\n"
             "      --no-youth-protection-reason TEXT\n"
             "      --revision REV        refuse if the case changed since (case show)\n"
             "      --file FILE           the decision as JSON ('-': stdin)\n"
             "      --dry-run             print what would be sent; send nothing\n"
             "  -r, --request-id ID, -t, --timeout MS, -n, --retries N\n"
             "                            as for lanternctl call\n"
             "  -h, --help                show this help\n"
             "\n%s"
             "\nexamples:\n"
             "  lanternctl decide case-... --meeting today \\\n"
             "      --attendee gemeente-venlo --attendee politie-limburg-noord \\\n"
             "      --track 'kind=care,lead=zorgcoordinatie-noord-limburg,deadline=+21d,"
             "note=shelter first' \\\n"
             "      --track 'kind=criminal,lead=politie-limburg-noord,deadline=+30d' \\\n"
             "      --minutes 'Victim needs shelter; police opens an investigation.'\n"
             "  lanternctl decide case-... --meeting today --attendee gemeente-venlo \\\n"
             "      --track kind=no_action --no-action-reason 'a common name, nothing else'\n"
             "  lanternctl decide case-... --meeting today --attendee gemeente-venlo \\\n"
             "      --track 'kind=more_information,lead=gemeente-venlo,deadline=+14d,"
             "note=who rents the house?' \\\n"
             "      --dry-run >decision.json && lanternctl decide --file decision.json --dry-run\n",
             s_enum_choices (&lantern__v1__track_kind__descriptor, kinds, sizeof kinds),
             LANTERNCTL_CONN_HELP);
}

/* One --track SPEC into a TrackSpec (strings point into spec's copy). */
static int
s_track_spec (args_t *a, char *spec, const char *meeting, Lantern__V1__TrackSpec *t, char *deadline,
              size_t deadline_size)
{
    lantern__v1__track_spec__init (t);
    char *p = spec;
    while (*p) {
        char *eq = strchr (p, '=');
        if (!eq)
            return lanternctl_usage_error (a->cmd, "--track: '%s' is not KEY=VALUE", p);
        *eq = '\0';
        char *value = eq + 1;
        char *next = NULL;
        if (strcmp (p, "note") != 0) { /* note takes the rest */
            char *comma = strchr (value, ',');
            if (comma) {
                *comma = '\0';
                next = comma + 1;
            }
        }
        if (strcmp (p, "kind") == 0) {
            t->kind = s_enum_parse (&lantern__v1__track_kind__descriptor, value);
            if (!t->kind) {
                char kinds[300];
                return lanternctl_usage_error (
                    a->cmd, "--track: kind '%s' is not one of %s", value,
                    s_enum_choices (&lantern__v1__track_kind__descriptor, kinds, sizeof kinds));
            }
        }
        else if (strcmp (p, "lead") == 0)
            t->lead_organisation = value;
        else if (strcmp (p, "deadline") == 0) {
            if (s_deadline (a, value, meeting, deadline, deadline_size) != 0)
                return LANTERNCTL_EXIT_USAGE;
            t->deadline = deadline;
        }
        else if (strcmp (p, "note") == 0)
            t->note = value;
        else
            return lanternctl_usage_error (
                a->cmd, "--track: unknown key '%s' (kind, lead, deadline, note)", p);
        if (!next)
            break;
        p = next;
    }
    if (!t->kind)
        return lanternctl_usage_error (a->cmd, "--track needs kind=");
    return 0;
}

/* The file's words made the node's: short track kinds, "today", "+Nd". */
static int
s_tidy_file (args_t *a, json_object *obj, const char *case_id)
{
    if (!json_object_is_type (obj, json_type_object))
        return lanternctl_usage_error (a->cmd, "--file: not a JSON object");
    if (case_id)
        json_object_object_add (obj, "case_id", json_object_new_string (case_id));
    char meeting[16] = "";
    json_object *m = NULL;
    if (json_object_object_get_ex (obj, "meeting_id", &m) &&
        json_object_is_type (m, json_type_string)) {
        s_meeting_date (json_object_get_string (m), meeting, sizeof meeting);
        json_object_object_add (obj, "meeting_id", json_object_new_string (meeting));
    }
    json_object *tracks = NULL;
    if (!json_object_object_get_ex (obj, "tracks", &tracks) ||
        !json_object_is_type (tracks, json_type_array))
        return 0; /* the node says what is missing */
    for (size_t i = 0; i < json_object_array_length (tracks); i++) {
        json_object *t = json_object_array_get_idx (tracks, i), *v = NULL;
        if (!json_object_is_type (t, json_type_object))
            continue;
        if (json_object_object_get_ex (t, "kind", &v) &&
            json_object_is_type (v, json_type_string)) {
            int kind =
                s_enum_parse (&lantern__v1__track_kind__descriptor, json_object_get_string (v));
            if (!kind) {
                char kinds[300];
                return lanternctl_usage_error (
                    a->cmd, "--file: tracks[%zu].kind '%s' is not one of %s", i,
                    json_object_get_string (v),
                    s_enum_choices (&lantern__v1__track_kind__descriptor, kinds, sizeof kinds));
            }
            const ProtobufCEnumValue *ev =
                protobuf_c_enum_descriptor_get_value (&lantern__v1__track_kind__descriptor, kind);
            json_object_object_add (t, "kind", json_object_new_string (ev->name));
        }
        if (json_object_object_get_ex (t, "deadline", &v) &&
            json_object_is_type (v, json_type_string) && json_object_get_string (v)[0] == '+') {
            char deadline[16];
            if (s_deadline (a, json_object_get_string (v), meeting, deadline, sizeof deadline) != 0)
                return LANTERNCTL_EXIT_USAGE;
            json_object_object_add (t, "deadline", json_object_new_string (deadline));
        }
    }
    return 0;
}

static int
s_decide (args_t *a, int argc, char **argv)
{
    static const int allowed[] = {OPT_MEETING,  OPT_ATTENDEE, OPT_TRACK, OPT_MINUTES, OPT_NO_ACTION,
                                  OPT_NO_YOUTH, OPT_REVISION, OPT_FILE,  OPT_DRY_RUN, 0};
    int rc = s_parse (a, argc, argv, allowed, s_usage_decide);
    if (rc >= 0)
        return rc;
    if (a->n_rest > 1)
        return lanternctl_usage_error (a->cmd, "unexpected argument '%s'", a->rest[1]);
    const char *case_id = a->n_rest == 1 ? a->rest[0] : NULL;
    ProtobufCMessage *from_file = NULL;
    Lantern__V1__RecordDecision flags = LANTERN__V1__RECORD_DECISION__INIT;
    Lantern__V1__TrackSpec specs[TRACKS_MAX], *ptrs[TRACKS_MAX];
    char spec_text[TRACKS_MAX][2048], deadlines[TRACKS_MAX][16], meeting[16] = "";
    const ProtobufCMessage *cmd = NULL;
    if (a->file) {
        if (a->meeting || a->n_attendees || a->n_tracks || a->minutes || a->no_action ||
            a->no_youth || a->revision)
            return lanternctl_usage_error (a->cmd, "--file holds the whole decision: no other "
                                                   "flag of it");
        size_t len = 0;
        char *text = lanternctl_read_file (a->cmd, a->file, DECISION_BYTES, &len);
        if (!text)
            return LANTERNCTL_EXIT_LOCAL;
        ln_error_t err;
        json_object *obj = ln_json_parse (text, len, NULL, NULL, &err);
        free (text);
        if (!obj)
            return lanternctl_usage_error (a->cmd, "--file: %s",
                                           err.code ? err.message : "not a JSON object");
        rc = s_tidy_file (a, obj, case_id);
        if (rc == 0) {
            from_file = ln_json_object_to_message (&lantern__v1__record_decision__descriptor, obj,
                                                   NULL, NULL, &err);
            if (!from_file)
                rc = lanternctl_usage_error (a->cmd, "--file: %s at %s: %s", err.code, err.field,
                                             err.message);
        }
        json_object_put (obj);
        if (rc != 0)
            return rc;
        cmd = from_file;
    }
    else {
        if (!case_id)
            return lanternctl_usage_error (a->cmd, "missing the CASE (or --file)");
        if (!a->meeting)
            return lanternctl_usage_error (a->cmd, "missing --meeting (a date, or today)");
        if (a->n_tracks == 0)
            return lanternctl_usage_error (a->cmd, "missing --track (at least one)");
        s_meeting_date (a->meeting, meeting, sizeof meeting);
        flags.case_id = (char *)case_id;
        flags.meeting_id = meeting;
        flags.attendees = (char **)a->attendees;
        flags.n_attendees = a->n_attendees;
        for (size_t i = 0; i < a->n_tracks; i++) {
            snprintf (spec_text[i], sizeof spec_text[i], "%s", a->tracks[i]);
            if (strlen (a->tracks[i]) >= sizeof spec_text[i])
                return lanternctl_usage_error (a->cmd, "--track: too long");
            rc = s_track_spec (a, spec_text[i], meeting, &specs[i], deadlines[i],
                               sizeof deadlines[i]);
            if (rc != 0)
                return rc;
            ptrs[i] = &specs[i];
        }
        flags.tracks = ptrs;
        flags.n_tracks = a->n_tracks;
        flags.minutes = (char *)(a->minutes ? a->minutes : "");
        flags.no_action_reason = (char *)(a->no_action ? a->no_action : "");
        flags.no_youth_protection_reason = (char *)(a->no_youth ? a->no_youth : "");
        flags.case_revision = (char *)(a->revision ? a->revision : "");
        cmd = &flags.base;
    }
    if (a->dry_run) {
        rc = s_print_json (a, cmd);
        if (from_file)
            protobuf_c_message_free_unpacked (from_file, NULL);
        return rc;
    }
    ln_client_t *client = lanternctl_connect (&a->conn, a->cmd, &rc);
    if (client) {
        a->req.changes = true;
        ProtobufCMessage *out = NULL;
        rc = s_call (a, client, cmd, &lantern__v1__record_decision_result__descriptor, &out);
        if (rc == LANTERNCTL_EXIT_OK) {
            const Lantern__V1__RecordDecisionResult *r =
                (const Lantern__V1__RecordDecisionResult *)out;
            char state[40];
            printf ("decision %s on %s at meeting %s: case %s\n", r->decision->decision_id,
                    r->decision->case_id, r->decision->meeting_id,
                    s_enum (&lantern__v1__case_state__descriptor, r->state, state, sizeof state));
            for (size_t i = 0; i < r->decision->n_tracks; i++) {
                const Lantern__V1__Track *t = r->decision->tracks[i];
                char kind[40];
                printf ("  track %s %s%s%s%s%s\n", t->track_id,
                        s_enum (&lantern__v1__track_kind__descriptor, t->kind, kind, sizeof kind),
                        t->lead_organisation[0] ? ", lead " : "", t->lead_organisation,
                        t->deadline[0] ? ", deadline " : "", t->deadline);
            }
            protobuf_c_message_free_unpacked (out, NULL);
        }
        ln_client_destroy (&client);
    }
    if (from_file)
        protobuf_c_message_free_unpacked (from_file, NULL);
    return rc;
}

/* --- track, tracks ---------------------------------------------------------------------------- */

static void
s_usage_track (FILE *out)
{
    fprintf (out,
             "usage: lanternctl track update TRACK --state STATE [--outcome TEXT]\n"
             "                               [--reason TEXT] [options]\n"
             "\n"
             "Move a track on (UpdateTrack): only a person of the track's lead\n"
             "organisation (roles screening_partner, screening_chair) may.  STATE:\n"
             "  in_progress   taken up\n"
             "  done          finished, with --outcome (1..2000 bytes)\n"
             "  handed_back   given back to the meeting, with --reason (1..1000 bytes):\n"
             "                the case returns to the agenda\n"
             "done and handed_back are final.\n"
             "\n" LANTERNCTL_EXIT_HELP "\n"
             "options:\n"
             "      --state STATE, --outcome TEXT, --reason TEXT   as above\n"
             "  -r, --request-id ID, -t, --timeout MS, -n, --retries N\n"
             "                            as for lanternctl call\n"
             "  -h, --help                show this help\n"
             "\n%s"
             "\nexamples:\n"
             "  lanternctl track update trk-... --state in_progress\n"
             "  lanternctl track update trk-... --state done --outcome 'report made'\n"
             "  lanternctl track update trk-... --state handed_back --reason 'not ours'\n",
             LANTERNCTL_CONN_HELP);
}

static int
s_track (args_t *a, int argc, char **argv)
{
    static const int allowed[] = {OPT_STATE, OPT_OUTCOME, OPT_REASON, 0};
    int rc = s_parse (a, argc, argv, allowed, s_usage_track);
    if (rc >= 0)
        return rc;
    if (a->n_rest == 0 || strcmp (a->rest[0], "update") != 0)
        return lanternctl_usage_error (
            a->cmd, "%s", a->n_rest ? "unknown subcommand (update)" : "missing update");
    if (a->n_rest != 2)
        return lanternctl_usage_error (a->cmd, "update needs the TRACK's id, and nothing more");
    if (!a->state)
        return lanternctl_usage_error (a->cmd, "missing --state (in_progress, done, handed_back)");
    Lantern__V1__UpdateTrack cmd = LANTERN__V1__UPDATE_TRACK__INIT;
    cmd.track_id = a->rest[1];
    cmd.state = s_enum_parse (&lantern__v1__track_state__descriptor, a->state);
    if (!cmd.state)
        return lanternctl_usage_error (a->cmd, "--state: in_progress, done or handed_back");
    cmd.outcome = (char *)(a->outcome ? a->outcome : "");
    cmd.reason = (char *)(a->reason ? a->reason : "");
    ln_client_t *client = lanternctl_connect (&a->conn, a->cmd, &rc);
    if (!client)
        return rc;
    a->req.changes = true;
    ProtobufCMessage *out = NULL;
    rc = s_call (a, client, &cmd.base, &lantern__v1__update_track_result__descriptor, &out);
    if (rc == LANTERNCTL_EXIT_OK) {
        const Lantern__V1__Track *t = ((const Lantern__V1__UpdateTrackResult *)out)->track;
        char kind[40], state[40];
        printf ("%s (%s of %s, lead %s): %s\n", t->track_id,
                s_enum (&lantern__v1__track_kind__descriptor, t->kind, kind, sizeof kind),
                t->case_id, t->lead_organisation,
                s_enum (&lantern__v1__track_state__descriptor, t->state, state, sizeof state));
        protobuf_c_message_free_unpacked (out, NULL);
    }
    ln_client_destroy (&client);
    return rc;
}

static void
s_usage_tracks (FILE *out)
{
    char kinds[300];
    fprintf (out,
             "usage: lanternctl tracks [--overdue] [--lead ORG] [--kind KIND] [--json] [options]\n"
             "\n"
             "The tracks the meeting opened (ListTracks), earliest deadline first; with\n"
             "--overdue only those open or in progress past their deadline.  Roles\n"
             "screening_chair, screening_partner.  KIND: %s.\n"
             "\n" LANTERNCTL_EXIT_HELP "\n"
             "options:\n"
             "      --overdue             only overdue tracks\n"
             "      --lead ORG            only tracks led by ORG\n"
             "      --kind KIND           only tracks of KIND\n"
             "      --json                the tracks as JSON\n"
             "  -r, --request-id ID, -t, --timeout MS, -n, --retries N\n"
             "                            as for lanternctl call\n"
             "  -h, --help                show this help\n"
             "\n%s"
             "\nexamples:\n"
             "  lanternctl tracks\n"
             "  lanternctl tracks --overdue\n"
             "  lanternctl tracks --lead politie-limburg-noord --kind criminal\n",
             s_enum_choices (&lantern__v1__track_kind__descriptor, kinds, sizeof kinds),
             LANTERNCTL_CONN_HELP);
}

static int
s_tracks (args_t *a, int argc, char **argv)
{
    static const int allowed[] = {OPT_OVERDUE, OPT_LEAD, OPT_KIND, OPT_JSON, 0};
    int rc = s_parse (a, argc, argv, allowed, s_usage_tracks);
    if (rc >= 0)
        return rc;
    if (a->n_rest > 0)
        return lanternctl_usage_error (a->cmd, "unexpected argument '%s'", a->rest[0]);
    Lantern__V1__ListTracks cmd = LANTERN__V1__LIST_TRACKS__INIT;
    cmd.overdue = a->overdue;
    cmd.lead_organisation = (char *)(a->lead ? a->lead : "");
    if (a->kind) {
        cmd.kind = s_enum_parse (&lantern__v1__track_kind__descriptor, a->kind);
        if (!cmd.kind) {
            char kinds[300];
            return lanternctl_usage_error (
                a->cmd, "--kind: one of %s",
                s_enum_choices (&lantern__v1__track_kind__descriptor, kinds, sizeof kinds));
        }
    }
    cmd.page_size = 500;
    ln_client_t *client = lanternctl_connect (&a->conn, a->cmd, &rc);
    if (!client)
        return rc;
    static const char *const th[] = {"TRACK", "KIND",    "LEAD",    "DEADLINE",
                                     "STATE", "OVERDUE", "MEETING", "NOTE / OUTCOME"};
    lanternctl_table_t *t = lanternctl_table_new (8, th);
    json_object *all = a->json ? json_object_new_array () : NULL;
    char token[256] = "";
    for (int page = 0; page < PAGES_MAX; page++) {
        cmd.page_token = token;
        ProtobufCMessage *out = NULL;
        rc = s_call (a, client, &cmd.base, &lantern__v1__track_list__descriptor, &out);
        if (rc != LANTERNCTL_EXIT_OK)
            break;
        const Lantern__V1__TrackList *l = (const Lantern__V1__TrackList *)out;
        if (all)
            for (size_t i = 0; i < l->n_tracks; i++)
                json_object_array_add (all, ln_json_object_from_message (&l->tracks[i]->base));
        else
            s_track_rows (t, l->tracks, l->n_tracks);
        snprintf (token, sizeof token, "%s", l->next_page_token);
        protobuf_c_message_free_unpacked (out, NULL);
        if (!token[0])
            break;
    }
    rc = s_list_done (a->cmd, rc, all, &t, a->overdue ? "no overdue tracks\n" : "no tracks\n");
    ln_client_destroy (&client);
    return rc;
}

/* --- alerts ------------------------------------------------------------------------------------
 */

static void
s_usage_alerts (FILE *out)
{
    fprintf (out,
             "usage: lanternctl alerts [--all] [--json] [options]\n"
             "       lanternctl alerts ack ID [--note TEXT] [options]\n"
             "\n"
             "Alerts raised at once, outside the weekly rhythm, when a signal says a\n"
             "person is in immediate danger or a minor is involved (ListAlerts): each\n"
             "stays until a person acknowledges it (AcknowledgeAlert: who and when are\n"
             "kept and audited).  Roles screening_chair, screening_partner.\n"
             "\n" LANTERNCTL_EXIT_HELP "\n"
             "options:\n"
             "      --all                 also the acknowledged ones\n"
             "      --note TEXT           ack: what was done (0..1000 bytes)\n"
             "      --json                the alerts as JSON\n"
             "  -r, --request-id ID, -t, --timeout MS, -n, --retries N\n"
             "                            as for lanternctl call\n"
             "  -h, --help                show this help\n"
             "\n%s"
             "\nexamples:\n"
             "  lanternctl alerts\n"
             "  lanternctl alerts ack alert-...-danger --note 'Veilig Thuis informed'\n"
             "  lanternctl alerts --all --json\n",
             LANTERNCTL_CONN_HELP);
}

static int
s_alerts (args_t *a, int argc, char **argv)
{
    static const int allowed[] = {OPT_ALL, OPT_NOTE, OPT_JSON, 0};
    int rc = s_parse (a, argc, argv, allowed, s_usage_alerts);
    if (rc >= 0)
        return rc;
    bool ack = a->n_rest > 0;
    if (ack && strcmp (a->rest[0], "ack") != 0)
        return lanternctl_usage_error (a->cmd, "unknown subcommand '%s' (ack)", a->rest[0]);
    if (ack && a->n_rest != 2)
        return lanternctl_usage_error (a->cmd, "ack needs the alert's ID, and nothing more");
    if ((ack && (a->all || a->json)) || (!ack && a->note))
        return lanternctl_usage_error (a->cmd, "%s",
                                       ack ? "ack takes --note only" : "--note is for ack");
    ln_client_t *client = lanternctl_connect (&a->conn, a->cmd, &rc);
    if (!client)
        return rc;
    if (ack) {
        a->req.changes = true;
        Lantern__V1__AcknowledgeAlert cmd = LANTERN__V1__ACKNOWLEDGE_ALERT__INIT;
        cmd.alert_id = a->rest[1];
        cmd.note = (char *)(a->note ? a->note : "");
        ProtobufCMessage *out = NULL;
        rc =
            s_call (a, client, &cmd.base, &lantern__v1__acknowledge_alert_result__descriptor, &out);
        if (rc == LANTERNCTL_EXIT_OK) {
            const Lantern__V1__Alert *al =
                ((const Lantern__V1__AcknowledgeAlertResult *)out)->alert;
            char when[40];
            printf ("%s acknowledged by %s at %s\n", al->alert_id, al->acknowledged_by,
                    s_time (al->acknowledged_at_us, when, sizeof when));
            protobuf_c_message_free_unpacked (out, NULL);
        }
        ln_client_destroy (&client);
        return rc;
    }
    Lantern__V1__ListAlerts cmd = LANTERN__V1__LIST_ALERTS__INIT;
    cmd.include_acknowledged = a->all;
    cmd.page_size = 500;
    static const char *const head[] = {
        "ALERT", "KIND", "CASE", "SIGNAL", "RAISED", "NODE", "ACKNOWLEDGED BY", "NOTE"};
    lanternctl_table_t *t = lanternctl_table_new (8, head);
    json_object *all = a->json ? json_object_new_array () : NULL;
    char token[256] = "";
    for (int page = 0; page < PAGES_MAX; page++) {
        cmd.page_token = token;
        ProtobufCMessage *out = NULL;
        rc = s_call (a, client, &cmd.base, &lantern__v1__alert_list__descriptor, &out);
        if (rc != LANTERNCTL_EXIT_OK)
            break;
        const Lantern__V1__AlertList *l = (const Lantern__V1__AlertList *)out;
        for (size_t i = 0; i < l->n_alerts; i++) {
            const Lantern__V1__Alert *al = l->alerts[i];
            if (all) {
                json_object_array_add (all, ln_json_object_from_message (&al->base));
                continue;
            }
            char kind[40], when[40];
            const char *cells[8] = {
                al->alert_id,
                s_enum (&lantern__v1__alert_kind__descriptor, al->kind, kind, sizeof kind),
                al->case_id,
                al->signal ? al->signal->signal_id : "",
                s_time (al->raised_at_us, when, sizeof when),
                al->signal ? al->signal->node : "",
                al->acknowledged_by,
                al->note};
            lanternctl_table_add (t, cells);
        }
        snprintf (token, sizeof token, "%s", l->next_page_token);
        protobuf_c_message_free_unpacked (out, NULL);
        if (!token[0])
            break;
    }
    rc = s_list_done (a->cmd, rc, all, &t,
                      a->all ? "no alerts\n" : "no alerts waiting for acknowledgement\n");
    ln_client_destroy (&client);
    return rc;
}

/* --- entry points ------------------------------------------------------------------------------
 */

#define S_ENTRY(fn, name)                                                                          \
    int lanternctl_##fn (int argc, char **argv)                                                    \
    {                                                                                              \
        args_t a;                                                                                  \
        memset (&a, 0, sizeof a);                                                                  \
        a.cmd = name;                                                                              \
        a.req = (lanternctl_req_t)LANTERNCTL_REQ_DEFAULTS;                                         \
        return s_##fn (&a, argc, argv);                                                            \
    }

S_ENTRY (agenda, "agenda")
S_ENTRY (case, "case")
S_ENTRY (decide, "decide")
S_ENTRY (track, "track")
S_ENTRY (tracks, "tracks")
S_ENTRY (alerts, "alerts")
