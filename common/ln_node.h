/*  ln_node: the skeleton every Lantern service runs on.

    A service is its configuration and its parts; this module does the rest
    that every node needs, the same way for each:

        static const ln_service_t s_service = {
            .name = "triage", .summary = "the screening meeting's node",
            .config = s_settings,                 (the service's own settings)
            .migrations = ..., .events = ..., .follows = ...,
            .commands = ..., .rules = ..., .project = ..., .apply = ...,
            .start = s_start, .stop = s_stop,
        };
        int main (int argc, char **argv) { return ln_node_main (&s_service, argc, argv); }

    ln_node_main parses the command line (--config FILE, --check, --migrate,
    --help, --version), loads the configuration (the node's settings below plus the
    service's, one file, strictly checked: ln_config.h), starts logging,
    registers the service's event types and those it follows
    (ln_envelope_register), loads the node's key pair and the registry of
    the keys it admits, starts the ZAP handler, connects to PostgreSQL as
    its runtime role and checks that the schema is current (the library's
    tables and the service's; `--migrate` applies them as the schema's
    owner, database.owner_conninfo, and grants the runtime role: ln_db.h),
    calls the service's
    start (which makes its state from its settings and may add periodic
    jobs), binds the server (ln_server: the service's commands, stream
    policy and projection), starts a consumer (ln_consumer) for every
    upstream in the configuration with the service's apply, prints
    "ready ENDPOINT", and runs the loop until SIGTERM or SIGINT: the batch
    in hand is finished, everything is closed, exit 0.

    Exit status: 0 (stopped cleanly, or --check passed), 1 (could not start:
    the reason on stderr as "lantern-NAME: CODE FIELD: message"), 2 (usage).

    THE NODE'S SETTINGS (every service has them; docs/operations.md):
        node = "intake-venlo";           [a-z0-9-], unique in the region
        endpoint = "tcp://127.0.0.1:5711";
        log_level = "info";              debug | info | warn | error
        batch_max = 256;                 requests per group commit
        database = { conninfo = "..."; schema = "intake_venlo";
                     owner_conninfo = "..."; };   (--migrate only)
        keys = { secret = "keys/x.secret"; registry = "registry"; };
        events = { level = "vertrouwelijk"; retention_days = 30; };
        stream = ( { role = ...; type = ...; projection = ...; }, ... );
        upstreams = ( { name = "intake-venlo"; endpoint = "tcp://...";
                        server_key = "keys/intake-venlo.pub";
                        projection = "full"; credit = 1000; }, ... );
        limits = { subscribers = 1024; subscriptions_per_principal = 8;
                   unconfirmed_mib_per_principal = 16; unconfirmed_mib = 32; };
        audit = { anchor_interval_s = 600; };
        testing = { clock_file = "clock"; };
    A service adds its own settings with its `config` specs, also as
    members of the node's groups (intake adds keys.regional).  Relative
    paths are relative to the configuration file's directory.

    PERIODIC JOBS.  start may add jobs (ln_node_add_job): each runs in the
    loop's thread, between batches, first right after start and then every
    interval.  They read the time from ln_clock_wall_us, which a test can
    move: testing.clock_file names a file holding an offset in seconds
    (e.g. "604800" for a week ahead); the node reads it every turn of the
    loop and, when it changes, moves the process's clock and runs every job
    at once.  A node with testing.clock_file logs a warning at start: it is
    for tests, never for a real region.

    AUDIT ANCHORS.  Every audit.anchor_interval_s (when the trail grew)
    the node publishes its audit head as nl.lantern.audit.anchored.v1;
    every node that follows it stores it (ln_consumer, table
    upstream_anchors), where this node's database owner cannot reach, so
    that `lanternctl audit verify --anchors` finds a trail cut back or
    rewritten (ln_audit.h).

    UPSTREAMS.  A node that follows others lists them, with no fixed limit
    (a national region has hundreds): name (the upstream's node name),
    endpoint, server_key (its .pub certificate), projection (the most
    revealing projection this node wants of it: the upstream never sends
    more than its policy allows nor more than asked), credit.  Each gets a
    consumer whose batches go to the service's apply in one transaction
    with the cursor (exactly once).  Operators see them with ListUpstreams
    and move a stopped one on with ResyncUpstream (lanternctl upstream).
*/
#ifndef LN_NODE_H
#define LN_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ln_config.h"
#include "ln_consumer.h"
#include "ln_db.h"
#include "ln_envelope.h"
#include "ln_error.h"
#include "ln_server.h"

typedef struct ln_node_t ln_node_t;

/* A service, as its main.c declares it.  Everything is borrowed for the
   life of the process (static tables). */
typedef struct {
    const char *name;                 /* "intake": the binary is lantern-intake */
    const char *summary;              /* one line for --help */
    int kind;                         /* lantern.v1.ServiceKind */
    const ln_config_spec_t *config;   /* its own settings (LN_CONFIG_SPEC_END), or NULL */
    const ln_migration_t *migrations; /* versions 100 and up */
    size_t migration_count;
    const ln_event_type_t *events; /* the event types it emits */
    size_t event_count;
    const ln_event_type_t *follows; /* event types of the upstreams it reads */
    size_t follow_count;
    const ln_command_t *commands;
    size_t command_count;
    const ln_stream_rule_t *rules; /* its default stream policy (the `stream`
                                      setting replaces it) */
    size_t rule_count;
    ln_project_fn project;      /* may be NULL */
    ln_consumer_apply_fn apply; /* NULL: the service follows no upstream */
    /* Make the service's state from the loaded node (its settings through
       ln_node_config; files through ln_node_path); may add jobs.  `check`
       is true under --check: check everything, start nothing that runs.
       Returns the state (passed to commands, project, apply and jobs as
       their `arg`), or NULL with err set. */
    void *(*start) (ln_node_t *node, bool check, ln_error_t *err);
    /* Free the state (NULL-safe). */
    void (*stop) (void *state);
    /* --check: what was checked, one line (may be NULL). */
    void (*describe) (void *state, char *out, size_t size);
} ln_service_t;

/* Run the service as a node: see the top of this file.  Returns the exit
   status for main. */
int ln_node_main (const ln_service_t *service, int argc, char **argv);

/* --- for the service's start ------------------------------------------------ */

/* The loaded configuration (the node's settings and the service's). */
const ln_config_t *ln_node_config (const ln_node_t *node);

/* The configuration file's path, as given. */
const char *ln_node_config_path (const ln_node_t *node);

/* A path setting resolved against the configuration file's directory (an
   absolute path stays).  0, or -1 with err set (CONFIG_RANGE: too long). */
int ln_node_path (const ln_node_t *node, const char *setting, char *out, size_t size,
                  ln_error_t *err);

/* The node's name, database, and the confidentiality level its events get
   by default (events.level). */
const char *ln_node_name (const ln_node_t *node);
ln_db_t *ln_node_db (ln_node_t *node);
ln_level_t ln_node_event_level (const ln_node_t *node);

/* A periodic job: run (in the loop's thread, with the node's database free
   for it to open its own transactions) first after start, then every
   interval_ms, and at once whenever the test clock moves.  Returns 0 or -1
   (logged; the job runs again at its next time). */
typedef int (*ln_job_fn) (void *state, ln_node_t *node, int64_t now_us);
int ln_node_add_job (ln_node_t *node, const char *name, int64_t interval_ms, ln_job_fn run,
                     void *state);

#endif
