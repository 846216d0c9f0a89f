/*  lanternctl upstream: what a node's consumers see of the nodes it
    follows, and an operator's way to move a stopped one on.

        lanternctl upstream list   [--json] [connection options]
        lanternctl upstream resync NAME --after N --reason TEXT [options]
        lanternctl upstream skip   NAME --reason TEXT [options]

    list calls ListUpstreams (roles operator, auditor) and prints one line
    per upstream: its state (FOLLOWING, LAGGING, BACKOFF, RESET, POISONED),
    the cursor, the upstream's newest position as last heard, and why it
    stopped.  resync calls ResyncUpstream (role operator): the consumer's
    cursor becomes N (the next event applied is the one after N) and it
    follows again; after a Reset PRUNED that is the upstream's oldest
    position minus one, or wherever the operator decides after looking.
    skip passes over the event a POISONED consumer refused: the cursor
    becomes that event's position, which the node reports.  Both are
    audited with the reason, on the node.  Skipping loses that event for
    good for this node: look at it first (the node's log names it).
*/
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "connect.h"
#include "lanternctl.h"
#include "request.h"
#include "service.h"
#include "table.h"
#include "wire.pb-c.h"

enum { OPT_JSON = 0x2001, OPT_AFTER, OPT_REASON };

#define s_usage_error(...) lanternctl_usage_error ("upstream", __VA_ARGS__)

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: lanternctl upstream list [--json] [options]\n"
             "       lanternctl upstream resync NAME --after N --reason TEXT [options]\n"
             "       lanternctl upstream skip NAME --reason TEXT [options]\n"
             "\n"
             "The nodes a node follows (its configuration's upstreams), as its consumers\n"
             "see them, and an operator's way to move one on after it stopped.\n"
             "\n"
             "  list     state (FOLLOWING, LAGGING, BACKOFF, RESET, POISONED), cursor, the\n"
             "           upstream's newest position as last heard, and what is wrong\n"
             "  resync   set the cursor to N and follow again (the next event applied is\n"
             "           the one after N): after a Reset, e.g. from the upstream's oldest\n"
             "           position minus one (list shows it)\n"
             "  skip     pass over the event a POISONED consumer refused (its position is\n"
             "           in list); that event is lost to this node for good\n"
             "\n"
             "resync and skip need the role operator and are audited on the node with\n"
             "the reason; list needs operator or auditor.\n"
             "\n" LANTERNCTL_EXIT_HELP "\n"
             "options:\n"
             "      --after N             resync: the new cursor\n"
             "      --reason TEXT         resync, skip: why (1..1000 bytes, audited)\n"
             "      --json                list: the UpstreamList as JSON\n"
             "  -r, --request-id ID, -t, --timeout MS, -n, --retries N\n"
             "                            as for lanternctl call\n"
             "  -h, --help                show this help\n"
             "\n%s"
             "\nexamples:\n"
             "  lanternctl upstream list\n"
             "  lanternctl upstream resync intake-venlo --after 0 --reason 'restored backup'\n"
             "  lanternctl upstream skip intake-venlo --reason 'event 42 refused, see ticket'\n",
             LANTERNCTL_CONN_HELP);
}

static const char *
s_time (int64_t us, char *buf, size_t size)
{
    if (us <= 0)
        return "never";
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static int
s_list (ln_client_t *client, const lanternctl_req_t *req, bool json)
{
    Lantern__V1__ListUpstreams cmd = LANTERN__V1__LIST_UPSTREAMS__INIT;
    ProtobufCMessage *result = NULL;
    int rc = lanternctl_service_call (client, "upstream", req, &cmd.base,
                                      &lantern__v1__upstream_list__descriptor, &result);
    if (rc != LANTERNCTL_EXIT_OK)
        return rc;
    const Lantern__V1__UpstreamList *list = (const Lantern__V1__UpstreamList *)result;
    if (json)
        rc = lanternctl_print_json ("upstream", result, true) == 0 ? LANTERNCTL_EXIT_OK
                                                                   : LANTERNCTL_EXIT_LOCAL;
    else if (list->n_upstreams == 0) {
        printf ("this node follows no upstream\n");
        rc = LANTERNCTL_EXIT_OK;
    }
    else {
        static const char *const head[] = {"UPSTREAM", "STATE",      "CURSOR",
                                           "NEWEST",   "LAST HEARD", "PROBLEM"};
        lanternctl_table_t *t = lanternctl_table_new (6, head);
        for (size_t i = 0; i < list->n_upstreams; i++) {
            const Lantern__V1__UpstreamStatus *u = list->upstreams[i];
            char cursor[24], newest[24], heard[32];
            snprintf (cursor, sizeof cursor, "%" PRIu64, u->position);
            snprintf (newest, sizeof newest, "%" PRIu64, u->upstream_position);
            const char *cells[6] = {u->name,
                                    u->state,
                                    cursor,
                                    u->upstream_position ? newest : "?",
                                    s_time (u->last_heard_us, heard, sizeof heard),
                                    u->problem};
            lanternctl_table_add (t, cells);
        }
        rc = lanternctl_table_print (t, stdout, "") == 0 ? LANTERNCTL_EXIT_OK
                                                         : LANTERNCTL_EXIT_LOCAL;
        lanternctl_table_destroy (&t);
    }
    protobuf_c_message_free_unpacked (result, NULL);
    return rc;
}

/* skip: the position of the event NAME's consumer refused (POISONED), from
   ListUpstreams; 0 when it is not poisoned. */
static int
s_poisoned_at (ln_client_t *client, const lanternctl_req_t *req, const char *name, uint64_t *at)
{
    Lantern__V1__ListUpstreams cmd = LANTERN__V1__LIST_UPSTREAMS__INIT;
    ProtobufCMessage *result = NULL;
    int rc = lanternctl_service_call (client, "upstream", req, &cmd.base,
                                      &lantern__v1__upstream_list__descriptor, &result);
    if (rc != LANTERNCTL_EXIT_OK)
        return rc;
    const Lantern__V1__UpstreamList *list = (const Lantern__V1__UpstreamList *)result;
    rc = LANTERNCTL_EXIT_FAIL;
    for (size_t i = 0; i < list->n_upstreams; i++) {
        const Lantern__V1__UpstreamStatus *u = list->upstreams[i];
        if (strcmp (u->name, name) != 0)
            continue;
        if (strcmp (u->state, "POISONED") != 0 || u->stopped_at == 0) {
            fprintf (stderr,
                     "lanternctl: upstream: %s is %s, not POISONED: nothing to skip (resync "
                     "moves the cursor anywhere)\n",
                     name, u->state);
            goto out;
        }
        *at = u->stopped_at;
        rc = LANTERNCTL_EXIT_OK;
        goto out;
    }
    fprintf (stderr, "lanternctl: upstream: this node follows no upstream %s\n", name);
out:
    protobuf_c_message_free_unpacked (result, NULL);
    return rc;
}

static int
s_resync (ln_client_t *client, const lanternctl_req_t *req, const char *name, uint64_t after,
          const char *reason)
{
    Lantern__V1__ResyncUpstream cmd = LANTERN__V1__RESYNC_UPSTREAM__INIT;
    cmd.name = (char *)name;
    cmd.after_position = after;
    cmd.reason = (char *)reason;
    ProtobufCMessage *result = NULL;
    int rc = lanternctl_service_call (client, "upstream", req, &cmd.base,
                                      &lantern__v1__upstream_resynced__descriptor, &result);
    if (rc != LANTERNCTL_EXIT_OK)
        return rc;
    const Lantern__V1__UpstreamResynced *r = (const Lantern__V1__UpstreamResynced *)result;
    printf ("%s: cursor %" PRIu64 " -> %" PRIu64 "; following again\n", r->name,
            r->previous_position, r->after_position);
    protobuf_c_message_free_unpacked (result, NULL);
    return LANTERNCTL_EXIT_OK;
}

int
lanternctl_upstream (int argc, char **argv)
{
    static const struct option options[] = {
        {"after", required_argument, NULL, OPT_AFTER},
        {"reason", required_argument, NULL, OPT_REASON},
        {"json", no_argument, NULL, OPT_JSON},
        LANTERNCTL_REQ_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        LANTERNCTL_CONN_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    lanternctl_conn_t conn = {NULL, NULL, NULL};
    lanternctl_req_t req = LANTERNCTL_REQ_DEFAULTS;
    const char *reason = NULL, *after_text = NULL;
    bool json = false;
    optind = 0;
    opterr = 0;
    int c;
    while ((c = getopt_long (argc, argv, ":r:t:n:h", options, NULL)) != -1) {
        switch (c) {
        case OPT_AFTER:
            after_text = optarg;
            break;
        case OPT_REASON:
            reason = optarg;
            break;
        case OPT_JSON:
            json = true;
            break;
        case 'h':
            s_usage (stdout);
            return LANTERNCTL_EXIT_OK;
        case ':':
            return s_usage_error ("option '%s' needs a value", argv[optind - 1]);
        case '?':
            return s_usage_error ("unknown option '%s'", argv[optind - 1]);
        default: {
            int taken = lanternctl_req_option (&req, "upstream", c, optarg);
            if (taken < 0)
                return LANTERNCTL_EXIT_USAGE;
            if (!taken && !lanternctl_conn_option (&conn, c, optarg))
                return s_usage_error ("unknown option '%s'", argv[optind - 1]);
            break;
        }
        }
    }
    if (optind >= argc)
        return s_usage_error ("%s", "missing list, resync or skip");
    const char *verb = argv[optind++];
    const char *name = optind < argc ? argv[optind++] : NULL;
    if (optind < argc)
        return s_usage_error ("unexpected argument '%s'", argv[optind]);
    bool list = strcmp (verb, "list") == 0, resync = strcmp (verb, "resync") == 0,
         skip = strcmp (verb, "skip") == 0;
    if (!list && !resync && !skip)
        return s_usage_error ("unknown subcommand '%s' (list, resync, skip)", verb);
    if (list && (name || reason || after_text))
        return s_usage_error ("%s", "list takes no NAME, --after or --reason");
    if (!list && !name)
        return s_usage_error ("%s needs the upstream's NAME", verb);
    if (!list && (!reason || !*reason))
        return s_usage_error ("%s needs --reason (it is audited)", verb);
    long long after = 0;
    if (resync) {
        char *end = NULL;
        if (!after_text || !*after_text || (after = strtoll (after_text, &end, 10)) < 0 || *end)
            return s_usage_error ("%s", "resync needs --after N, a position (0 or more)");
    }
    else if (after_text)
        return s_usage_error ("%s", "--after is for resync");
    if (json && !list)
        return s_usage_error ("%s", "--json is for list");

    int rc = LANTERNCTL_EXIT_FAIL;
    ln_client_t *client = lanternctl_connect (&conn, "upstream", &rc);
    if (!client)
        return rc;
    if (list)
        rc = s_list (client, &req, json);
    else {
        req.changes = true;
        uint64_t at = (uint64_t)after;
        rc = skip ? s_poisoned_at (client, &req, name, &at) : LANTERNCTL_EXIT_OK;
        if (rc == LANTERNCTL_EXIT_OK)
            rc = s_resync (client, &req, name, at, reason);
    }
    ln_client_destroy (&client);
    return rc;
}
