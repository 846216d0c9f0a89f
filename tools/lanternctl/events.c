/*  lanternctl events: follow a node's event log.

        lanternctl events tail [--after N] [--credit N] [--count N] [--json]
                               [--idle-timeout MS] [connection options]

    subscribes (docs/protocol.md 5.2) and prints each event as it arrives,
    one line per event:

        POSITION  TIME  TYPE  LEVEL  CORRELATIONID  PAYLOAD

    TIME is RFC 3339 UTC with milliseconds, LEVEL the dataclassification,
    CORRELATIONID "-" when the event has none, PAYLOAD the decoded lantern.v1
    payload as one line of JSON (ln_json).  With --json, each line is one
    JSON object in the CloudEvents JSON format (specversion, id, source,
    type, time, sequence, dataclassification, correlationid when present,
    other extension attributes, datacontenttype "application/json", data:
    the payload as JSON) plus "position", a JSON number.

    It follows the client rules of docs/protocol.md 5.3 (a viewer commits
    nothing, so "applied" means "printed"):
      - credit is granted after each batch has been printed and flushed;
      - a Deliver is printed only if previous_position is the last printed
        position; one at or below it (a duplicate after resubscribing) is
        skipped; any other gap resubscribes from the last printed position;
      - when nothing arrives for --idle-timeout (default 5 s), it
        resubscribes from the last printed position (the node may have
        restarted: it keeps no subscription across one).
    Without --after it starts at the node's newest position (from a Ping),
    so only new events are shown; --after 0 replays the log from the start.

    It stops after --count events (exit 0), on SIGINT or SIGTERM (exit 0),
    or on Reset (the reason on stderr, exit 1).  A Reset with the reason
    FORBIDDEN means the node's stream policy gives this principal's roles
    no event type at all: it is told so in those words (with its principal
    and roles, when the Ping gave them), instead of waiting for events that
    will never come.  Exit statuses: lanternctl.h (3 when the Ping that
    finds the newest position gets no answer, 4 when stdout fails).
    Characters that could
    reach a terminal are safe: the envelope's checks allow only printable
    ASCII in id, type and correlationid, and JSON escapes every control
    character in the payload.
*/
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connect.h"
#include "lanternctl.h"
#include "ln_envelope.h"
#include "ln_json.h"
#include "ln_level.h"
#include "request.h"
#include "wire.pb-c.h"

#define TAIL_DEFAULT_CREDIT 100
#define TAIL_MAX_CREDIT     10000
#define TAIL_DEFAULT_IDLE   5000
#define TAIL_POLL_MS        200 /* how often a wait looks at the stop flag */
#define TAIL_PING_TIMEOUT   5000

enum { OPT_AFTER = 0x2001, OPT_CREDIT, OPT_COUNT, OPT_JSON, OPT_IDLE };

static volatile sig_atomic_t s_stop;

static void
s_on_signal (int sig)
{
    (void)sig;
    s_stop = 1;
}

#define s_usage_error(...) lanternctl_usage_error ("events", __VA_ARGS__)

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: lanternctl events tail [--after N] [--credit N] [--count N] [--json]\n"
             "                              [--idle-timeout MS] [connection options]\n"
             "\n"
             "Follow a node's event log and print each event as it arrives, one line each:\n"
             "  POSITION  TIME  TYPE  LEVEL  CORRELATIONID  PAYLOAD-AS-JSON\n"
             "(CORRELATIONID is '-' when there is none).  With --json each line is a\n"
             "CloudEvent in the CloudEvents JSON format, with the payload as JSON in \"data\",\n"
             "plus \"position\".  Only the events your key may see are shown, in the\n"
             "projection the node gives your roles.\n"
             "\n"
             "Stops after --count events, on Ctrl-C (exit 0), or when the node resets the\n"
             "subscription (exit 1, reason on stderr): because the position asked for is\n"
             "gone (PRUNED) or not there yet (AHEAD), or because your key receives nothing\n"
             "from this node at all (FORBIDDEN: no rule of its stream policy names one of\n"
             "your roles; ask its operator).\n"
             "\n"
             "options:\n"
             "      --after N             start after position N (0: from the beginning;\n"
             "                            default: the newest position, i.e. new events only)\n"
             "      --credit N            events in flight, 1..%d (default %d)\n"
             "      --count N             stop after N events (default: never)\n"
             "      --json                one CloudEvents JSON object per line\n"
             "      --idle-timeout MS     resubscribe from the last printed position when\n"
             "                            nothing arrives for MS ms (default %d)\n"
             "  -h, --help                show this help\n"
             "\n%s"
             "\n"
             "examples:\n"
             "  lanternctl events tail\n"
             "  lanternctl events tail --after 0 --count 10 --json\n"
             "\n%s",
             TAIL_MAX_CREDIT, TAIL_DEFAULT_CREDIT, TAIL_DEFAULT_IDLE, LANTERNCTL_CONN_HELP,
             LANTERNCTL_EXIT_HELP);
}

static bool
s_parse_u64 (const char *text, uint64_t max, uint64_t *value)
{
    if (!text || *text < '0' || *text > '9')
        return false; /* no sign, no space */
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *value = v;
    return true;
}

// --------------------------------------------------------------------------
// Printing

/* RFC 3339 UTC with milliseconds: fixed width, for people and machines. */
static void
s_format_time (int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    if (ms < 0 || !gmtime_r (&secs, &tm)) {
        snprintf (buf, size, "-");
        return;
    }
    snprintf (buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
              tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static bool
s_reserved_attribute (const char *name)
{
    static const char *const known[] = {"time",          "sequence",        "dataclassification",
                                        "correlationid", "datacontenttype", "dataschema"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp (name, known[i]) == 0)
            return true;
    return false;
}

/* The CloudEvents JSON form of an event, plus "position". */
static json_object *
s_event_json (const ln_event_t *ev, uint64_t position, json_object *data)
{
    char time[64], seq[32];
    s_format_time (ln_event_time_ms (ev), time, sizeof time);
    snprintf (seq, sizeof seq, "%020" PRIu64, ln_event_sequence (ev));
    json_object *o = json_object_new_object ();
    json_object_object_add (o, "specversion", json_object_new_string (LN_ENVELOPE_SPEC_VERSION));
    json_object_object_add (o, "id", json_object_new_string (ln_event_id (ev)));
    json_object_object_add (o, "source", json_object_new_string (ln_event_source (ev)));
    json_object_object_add (o, "type", json_object_new_string (ln_event_type (ev)));
    json_object_object_add (o, "time", json_object_new_string (time));
    json_object_object_add (o, "sequence", json_object_new_string (seq));
    json_object_object_add (o, "dataclassification",
                            json_object_new_string (ln_level_name (ln_event_level (ev))));
    if (ln_event_correlationid (ev))
        json_object_object_add (o, "correlationid",
                                json_object_new_string (ln_event_correlationid (ev)));
    /* Extension attributes we do not interpret travel on, each as the one
       value its CloudEventAttributeValue holds. */
    const Io__Cloudevents__V1__CloudEvent *ce = ln_event_cloudevent (ev);
    for (size_t i = 0; i < ce->n_attributes; i++) {
        const Io__Cloudevents__V1__CloudEvent__AttributesEntry *a = ce->attributes[i];
        if (!a || !a->value || s_reserved_attribute (a->key))
            continue;
        json_object *holder = ln_json_object_from_message (&a->value->base);
        struct json_object_iterator it = json_object_iter_begin (holder);
        struct json_object_iterator end = json_object_iter_end (holder);
        if (!json_object_iter_equal (&it, &end))
            json_object_object_add (o, a->key, json_object_get (json_object_iter_peek_value (&it)));
        json_object_put (holder);
    }
    json_object_object_add (o, "datacontenttype", json_object_new_string ("application/json"));
    json_object_object_add (o, "data", data);
    /* ours, last: it wins over an extension attribute of the same name */
    json_object_object_add (o, "position", json_object_new_int64 ((int64_t)position));
    return o;
}

/* Print one event.  Returns 0, or -1 when stdout fails. */
static int
s_print_event (uint64_t position, const ProtobufCBinaryData *bytes, bool as_json)
{
    ln_error_t err;
    ln_error_clear (&err);
    ln_event_t *ev = ln_envelope_parse (bytes->data, bytes->len, &err);
    if (!ev) {
        /* the position was delivered: skip it, but say so */
        fprintf (stderr, "lanternctl: events: position %" PRIu64 ": %s: %s%s%s%s\n", position,
                 err.code, err.message, err.field[0] ? " (" : "", err.field,
                 err.field[0] ? ")" : "");
        return 0;
    }
    if (ln_event_sequence (ev) != position)
        fprintf (stderr,
                 "lanternctl: events: position %" PRIu64 ": the event says sequence %" PRIu64 "\n",
                 position, ln_event_sequence (ev));
    json_object *data = ln_json_object_from_message (ln_event_payload (ev));
    char *line = NULL;
    int rc;
    if (as_json) {
        json_object *o = s_event_json (ev, position, data);
        line = ln_json_to_string (o, false);
        json_object_put (o);
        rc = printf ("%s\n", line);
    }
    else {
        char time[64];
        s_format_time (ln_event_time_ms (ev), time, sizeof time);
        line = ln_json_to_string (data, false);
        json_object_put (data);
        const char *cid = ln_event_correlationid (ev);
        rc = printf ("%" PRIu64 "  %s  %s  %s  %s  %s\n", position, time, ln_event_type (ev),
                     ln_level_name (ln_event_level (ev)), cid ? cid : "-", line ? line : "null");
    }
    free (line);
    ln_event_destroy (&ev);
    return rc < 0 ? -1 : 0;
}

// --------------------------------------------------------------------------
// Following

typedef struct {
    ln_client_t *client;
    char who[256];   /* "principal op (roles a, b)" from the Ping; "" without one */
    uint64_t cursor; /* last printed position */
    uint32_t credit; /* per Subscribe */
    uint64_t count;  /* stop after this many (0: never) */
    uint64_t printed;
    uint32_t received; /* Delivers in this batch: credit to grant */
    bool as_json;
    bool resubscribe; /* a gap was seen in this batch */
    int rc;           /* -1 while following */
} tail_t;

static int
s_send_subscribe (tail_t *t)
{
    ln_error_t err;
    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    sub.after_position = t->cursor;
    sub.credit = t->credit;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    cm.subscribe = &sub;
    if (ln_client_send (t->client, &cm, &err) != 0) {
        /* not fatal: the node may be away; the idle rule tries again */
        fprintf (stderr, "lanternctl: events: %s\n", err.message);
        return -1;
    }
    return 0;
}

static void
s_send_credit (tail_t *t)
{
    if (t->received == 0)
        return;
    ln_error_t err;
    Lantern__V1__Credit cr = LANTERN__V1__CREDIT__INIT;
    cr.credit = t->received;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_CREDIT;
    cm.credit = &cr;
    if (ln_client_send (t->client, &cm, &err) != 0)
        fprintf (stderr, "lanternctl: events: %s\n", err.message);
    t->received = 0;
}

/* Handle one message from the node. */
static void
s_handle (tail_t *t, const Lantern__V1__ServerMessage *m)
{
    if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_RESET) {
        const Lantern__V1__Reset *r = m->reset;
        if (strcmp (r->reason, "FORBIDDEN") == 0)
            /* not a position problem: waiting would never show anything */
            fprintf (stderr,
                     "lanternctl: events: %s receives no events from %s: its stream policy "
                     "gives %s no event type (Reset FORBIDDEN); ask the node's operator, or use "
                     "a key with a role that follows it (e.g. triage, monitor)\n",
                     t->who[0] ? t->who : "your key", lanternctl_conn_endpoint (),
                     t->who[0] ? "those roles" : "its roles");
        else
            fprintf (stderr,
                     "lanternctl: events: the node reset the subscription: %s (it holds "
                     "positions %" PRIu64 "..%" PRIu64 "; asked for events after %" PRIu64 ")\n",
                     r->reason[0] ? r->reason : "no reason given", r->first_position,
                     r->last_position, t->cursor);
        t->rc = LANTERNCTL_EXIT_FAIL;
        return;
    }
    if (m->kind_case != LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER)
        return; /* a late Reply (the Ping's retry): nothing to do */
    const Lantern__V1__Deliver *d = m->deliver;
    t->received++;
    if (d->position <= t->cursor)
        return; /* a duplicate after resubscribing */
    if (d->previous_position != t->cursor) {
        t->resubscribe = true; /* a gap: something was lost in between */
        return;
    }
    if (s_print_event (d->position, &d->event, t->as_json) != 0) {
        fprintf (stderr, "lanternctl: events: cannot write: %s\n", strerror (errno));
        t->rc = LANTERNCTL_EXIT_LOCAL;
        return;
    }
    t->cursor = d->position;
    t->printed++;
    if (t->count && t->printed >= t->count)
        t->rc = LANTERNCTL_EXIT_OK;
}

static int
s_follow (tail_t *t, int idle_ms)
{
    s_send_subscribe (t); /* a failure is retried after the idle interval */
    int64_t last_heard = zclock_mono ();
    while (t->rc < 0 && !s_stop) {
        int64_t quiet = zclock_mono () - last_heard;
        if (quiet >= idle_ms) {
            /* protocol 5.3 rule 4: the node may have restarted */
            s_send_subscribe (t);
            last_heard = zclock_mono ();
            continue;
        }
        int wait = (int)(idle_ms - quiet) < TAIL_POLL_MS ? (int)(idle_ms - quiet) : TAIL_POLL_MS;
        ln_error_t err;
        ln_error_clear (&err);
        Lantern__V1__ServerMessage *m = ln_client_recv (t->client, wait, &err);
        if (!m) {
            if (err.code && strcmp (err.code, "CLIENT_BAD_MESSAGE") == 0)
                fprintf (stderr, "lanternctl: events: dropped a bad message: %s\n", err.message);
            continue;
        }
        /* a batch: this message and every one already waiting */
        while (m) {
            last_heard = zclock_mono ();
            s_handle (t, m);
            lantern__v1__server_message__free_unpacked (m, NULL);
            m = NULL;
            if (t->rc >= 0 || s_stop)
                break;
            m = ln_client_recv (t->client, 0, &err);
        }
        if (fflush (stdout) != 0) {
            fprintf (stderr, "lanternctl: events: cannot write: %s\n", strerror (errno));
            return LANTERNCTL_EXIT_LOCAL;
        }
        if (t->rc >= 0)
            break;
        /* printed and flushed: grant what this batch used */
        s_send_credit (t);
        if (t->resubscribe) {
            t->resubscribe = false;
            s_send_subscribe (t);
        }
    }
    return t->rc >= 0 ? t->rc : LANTERNCTL_EXIT_OK;
}

/* The node's newest position, and who we are to it, from a Ping.  Returns
   LANTERNCTL_EXIT_OK, or the exit code after printing why: no answer
   (LANTERNCTL_EXIT_UNAVAILABLE), or a refusal (LANTERNCTL_EXIT_FAIL). */
static int
s_ping (tail_t *t)
{
    char id[80];
    ln_client_request_id ("ctl-tail", id, sizeof id);
    Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.request_id = id;
    req.command_case = LANTERN__V1__REQUEST__COMMAND_PING;
    req.ping = &ping;
    ln_error_t err;
    ln_error_clear (&err);
    Lantern__V1__ServerMessage *m = ln_client_call (t->client, &req, TAIL_PING_TIMEOUT, 1, &err);
    if (!m) {
        fprintf (stderr,
                 "lanternctl: events: no answer from %s to a ping: %s (is the node up, and is "
                 "our key in its registry?)\n",
                 lanternctl_conn_endpoint (), err.message);
        return LANTERNCTL_EXIT_UNAVAILABLE;
    }
    int rc = LANTERNCTL_EXIT_FAIL;
    if (m->reply->status == LANTERN__V1__REPLY__STATUS__OK &&
        m->reply->result_case == LANTERN__V1__REPLY__RESULT_PING) {
        const Lantern__V1__Pong *pong = m->reply->ping;
        t->cursor = pong->last_position;
        size_t used = 0;
        int n = snprintf (t->who, sizeof t->who, "principal %s (roles ", pong->principal);
        used = n > 0 && (size_t)n < sizeof t->who ? (size_t)n : 0;
        for (size_t i = 0; used && i < pong->n_roles; i++) {
            n = snprintf (t->who + used, sizeof t->who - used, "%s%s", i ? ", " : "",
                          pong->roles[i]);
            used = n > 0 && (size_t)n < sizeof t->who - used ? used + (size_t)n : 0;
        }
        if (!used || snprintf (t->who + used, sizeof t->who - used, ")") != 1)
            t->who[0] = '\0'; /* did not fit: say "your key" */
        rc = LANTERNCTL_EXIT_OK;
    }
    else
        lanternctl_print_refusal ("events: ping refused", m->reply->error);
    lantern__v1__server_message__free_unpacked (m, NULL);
    return rc;
}

static int
s_tail (int argc, char **argv)
{
    static const struct option options[] = {
        {"after", required_argument, NULL, OPT_AFTER},
        {"credit", required_argument, NULL, OPT_CREDIT},
        {"count", required_argument, NULL, OPT_COUNT},
        {"json", no_argument, NULL, OPT_JSON},
        {"idle-timeout", required_argument, NULL, OPT_IDLE},
        {"help", no_argument, NULL, 'h'},
        LANTERNCTL_CONN_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    lanternctl_conn_t conn = {NULL, NULL, NULL};
    tail_t t = {.credit = TAIL_DEFAULT_CREDIT, .rc = -1};
    bool have_after = false;
    uint64_t value, idle_ms = TAIL_DEFAULT_IDLE;

    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (c) {
        case OPT_AFTER:
            if (!s_parse_u64 (optarg, INT64_MAX, &t.cursor))
                return s_usage_error ("%s", "--after: not a position (0 or more)");
            have_after = true;
            break;
        case OPT_CREDIT:
            if (!s_parse_u64 (optarg, TAIL_MAX_CREDIT, &value) || value == 0)
                return s_usage_error ("--credit: not a number in 1..%d", TAIL_MAX_CREDIT);
            t.credit = (uint32_t)value;
            break;
        case OPT_COUNT:
            if (!s_parse_u64 (optarg, UINT64_MAX, &t.count))
                return s_usage_error ("%s", "--count: not a number (0: never stop)");
            break;
        case OPT_JSON:
            t.as_json = true;
            break;
        case OPT_IDLE:
            if (!s_parse_u64 (optarg, 3600000, &idle_ms) || idle_ms < 10)
                return s_usage_error ("%s", "--idle-timeout: not a number of ms in 10..3600000");
            break;
        case 'h':
            s_usage (stdout);
            return LANTERNCTL_EXIT_OK;
        case ':':
            return s_usage_error ("option '%s' needs a value", argv[optind - 1]);
        case '?':
            if (optopt)
                return s_usage_error ("unknown option '-%c'", optopt);
            return s_usage_error ("unknown option '%s'", argv[optind - 1]);
        default:
            if (!lanternctl_conn_option (&conn, c, optarg))
                return s_usage_error ("unknown option '%s'", argv[optind - 1]);
            break;
        }
    }
    if (optind < argc)
        return s_usage_error ("unexpected argument '%s'", argv[optind]);

    int rc;
    t.client = lanternctl_connect (&conn, "events", &rc);
    if (!t.client)
        return rc;
    /* Stop cleanly on Ctrl-C / SIGTERM: the wait is interrupted (no
       SA_RESTART) and the loop looks at the flag. */
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);

    rc = have_after ? LANTERNCTL_EXIT_OK : s_ping (&t);
    if (rc != LANTERNCTL_EXIT_OK)
        rc = s_stop ? LANTERNCTL_EXIT_OK : rc;
    else
        rc = s_follow (&t, (int)idle_ms);
    ln_client_destroy (&t.client);
    return rc;
}

int
lanternctl_events (int argc, char **argv)
{
    if (argc < 2)
        return s_usage_error ("%s", "missing subcommand (tail)");
    const char *sub = argv[1];
    if (strcmp (sub, "--help") == 0 || strcmp (sub, "-h") == 0 || strcmp (sub, "help") == 0) {
        s_usage (stdout);
        return LANTERNCTL_EXIT_OK;
    }
    if (strcmp (sub, "tail") == 0)
        return s_tail (argc - 1, argv + 1);
    return s_usage_error ("unknown subcommand '%s'", sub);
}
