/*  ln_node: the node skeleton (see ln_node.h).

    The order of start-up matters and is the same for every service:
    configuration (so that a typo fails before anything else), logging,
    event types, keys and the ZAP handler (so that no socket ever exists
    without it), the database and its migrations, the service's own state,
    the server, the consumers.  Shutdown is the reverse.  Every failure
    before "ready" is one line on stderr and exit 1.
*/
#include "ln_node.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lantern.pb-c.h"
#include "ln_alloc.h"
#include "ln_audit.h"
#include "ln_auth.h"
#include "ln_clock.h"
#include "ln_keys.h"
#include "ln_log.h"
#include "ln_outbox.h"
#include "ln_version.h"

#define PATH_MAX_NODE 1024
#define RULES_MAX     256
#define UPSTREAMS_MAX 4096

static const char *const s_log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const s_projections[] = {"full", "pseudonymised", "statistical", NULL};

/* The settings every node has (ln_node.h, docs/operations.md). */
static const ln_config_spec_t s_node_specs[] = {
    {.path = "node", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 63},
    {.path = "endpoint", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 255},
    {.path = "log_level", .type = LN_CONFIG_ENUM, .values = s_log_levels, .default_str = "info"},
    {.path = "batch_max", .type = LN_CONFIG_INT, .min = 1, .max = 4096, .default_int = 256},
    {.path = "database", .type = LN_CONFIG_GROUP, .required = true},
    {.path = "database.conninfo",
     .type = LN_CONFIG_STRING,
     .required = true,
     .min = 1,
     .max = 1023},
    {.path = "database.schema", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 63},
    {.path = "database.owner_conninfo", .type = LN_CONFIG_STRING, .min = 1, .max = 1023},
    {.path = "keys", .type = LN_CONFIG_GROUP, .required = true},
    {.path = "keys.secret", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 1024},
    {.path = "keys.registry", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 1024},
    {.path = "events", .type = LN_CONFIG_GROUP},
    {.path = "events.level", .type = LN_CONFIG_LEVEL, .default_str = "vertrouwelijk"},
    {.path = "events.retention_days",
     .type = LN_CONFIG_INT,
     .min = 0,
     .max = 3650,
     .default_int = 0},
    {.path = "stream", .type = LN_CONFIG_GROUP_LIST, .max = RULES_MAX},
    {.path = "stream.[].role", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 127},
    {.path = "stream.[].type", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 255},
    {.path = "stream.[].projection",
     .type = LN_CONFIG_ENUM,
     .required = true,
     .values = s_projections,
     .default_str = "full"},
    {.path = "upstreams", .type = LN_CONFIG_GROUP_LIST, .max = UPSTREAMS_MAX},
    {.path = "upstreams.[].name", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 63},
    {.path = "upstreams.[].endpoint",
     .type = LN_CONFIG_STRING,
     .required = true,
     .min = 1,
     .max = 255},
    {.path = "upstreams.[].server_key",
     .type = LN_CONFIG_STRING,
     .required = true,
     .min = 1,
     .max = 1024},
    {.path = "upstreams.[].projection",
     .type = LN_CONFIG_ENUM,
     .values = s_projections,
     .default_str = "full"},
    {.path = "upstreams.[].credit",
     .type = LN_CONFIG_INT,
     .min = 1,
     .max = 10000,
     .default_int = 1000},
    {.path = "limits", .type = LN_CONFIG_GROUP},
    {.path = "limits.subscribers",
     .type = LN_CONFIG_INT,
     .min = 1,
     .max = 100000,
     .default_int = LN_STREAM_SUBSCRIBERS_MAX_DEFAULT},
    {.path = "limits.subscriptions_per_principal",
     .type = LN_CONFIG_INT,
     .min = 1,
     .max = 1000,
     .default_int = LN_STREAM_PER_PRINCIPAL_DEFAULT},
    {.path = "limits.unconfirmed_mib_per_principal",
     .type = LN_CONFIG_INT,
     .min = 1,
     .max = 4096,
     .default_int = LN_STREAM_UNCONFIRMED_PRINCIPAL_DEFAULT >> 20},
    {.path = "limits.unconfirmed_mib",
     .type = LN_CONFIG_INT,
     .min = 1,
     .max = 65536,
     .default_int = LN_STREAM_UNCONFIRMED_TOTAL_DEFAULT >> 20},
    {.path = "audit", .type = LN_CONFIG_GROUP},
    {.path = "audit.anchor_interval_s",
     .type = LN_CONFIG_INT,
     .min = 1,
     .max = 86400,
     .default_int = 600},
    {.path = "testing", .type = LN_CONFIG_GROUP},
    {.path = "testing.clock_file", .type = LN_CONFIG_STRING, .min = 1, .max = 1024},
};

typedef struct {
    char name[32];
    int64_t interval_ms;
    ln_job_fn run;
    void *state;
    int64_t due; /* monotonic ms */
} job_t;

struct ln_node_t {
    const ln_service_t *service;
    const char *config_path;
    ln_config_t *config;
    ln_config_spec_t *specs;
    char name[64];
    ln_level_t event_level;
    zcert_t *cert;
    ln_registry_t *registry;
    ln_auth_t *auth;
    ln_db_t *db;
    void *state;
    ln_server_t *server;
    ln_stream_rule_t *rules;
    size_t rule_count;
    ln_consumer_t **consumers;
    size_t nconsumers;
    job_t *jobs;
    size_t njobs, jobs_cap;
    uint64_t anchored_seq; /* the audit head last published */
    char clock_file[PATH_MAX_NODE];
    struct timespec clock_mtime;
    off_t clock_size;
    bool clock_seen;
};

static ln_node_t *s_running;               /* for the signal handler */
static volatile sig_atomic_t s_stop_asked; /* a signal came before the server existed */

static void
s_on_signal (int sig)
{
    (void)sig;
    s_stop_asked = 1;
    if (s_running && s_running->server)
        ln_server_stop (s_running->server);
}

/* --- accessors ------------------------------------------------------------------ */

const ln_config_t *
ln_node_config (const ln_node_t *node)
{
    return node->config;
}

const char *
ln_node_config_path (const ln_node_t *node)
{
    return node->config_path;
}

const char *
ln_node_name (const ln_node_t *node)
{
    return node->name;
}

ln_db_t *
ln_node_db (ln_node_t *node)
{
    return node->db;
}

ln_level_t
ln_node_event_level (const ln_node_t *node)
{
    return node->event_level;
}

static int
s_resolve (const char *config_path, const char *value, char *out, size_t size, const char *setting,
           ln_error_t *err)
{
    int n;
    if (value[0] == '/')
        n = snprintf (out, size, "%s", value);
    else {
        char copy[PATH_MAX_NODE];
        snprintf (copy, sizeof copy, "%s", config_path);
        n = snprintf (out, size, "%s/%s", dirname (copy), value);
    }
    if (n < 0 || (size_t)n >= size) {
        ln_error_set (err, "CONFIG_RANGE", setting, "%s: %s: path too long", config_path, setting);
        return -1;
    }
    return 0;
}

int
ln_node_path (const ln_node_t *node, const char *setting, char *out, size_t size, ln_error_t *err)
{
    const char *value = ln_config_string (node->config, setting);
    if (!value) {
        ln_error_set (err, "CONFIG_REQUIRED", setting, "%s: %s: not set", node->config_path,
                      setting);
        return -1;
    }
    return s_resolve (node->config_path, value, out, size, setting, err);
}

int
ln_node_add_job (ln_node_t *node, const char *name, int64_t interval_ms, ln_job_fn run, void *state)
{
    if (!name || interval_ms <= 0 || !run)
        return -1;
    node->jobs = ln_xgrow (node->jobs, &node->jobs_cap, node->njobs + 1, sizeof *node->jobs);
    job_t *j = &node->jobs[node->njobs++];
    snprintf (j->name, sizeof j->name, "%s", name);
    j->interval_ms = interval_ms;
    j->run = run;
    j->state = state;
    j->due = 0; /* first run right after start */
    return 0;
}

/* --- start-up ------------------------------------------------------------------- */

static void
s_usage (const ln_service_t *service, FILE *out)
{
    fprintf (out,
             "usage: lantern-%s --config FILE [--check | --migrate]\n"
             "       lantern-%s --help | --version\n"
             "\n"
             "%s (docs/operations.md).\n"
             "  --config FILE  the node's configuration (libconfig; every setting is in\n"
             "                 deploy/%s.cfg.example)\n"
             "  --check        check the configuration, keys and files, and that the\n"
             "                 database schema is current, then exit\n"
             "  --migrate      migrate the schema as its owner (database.owner_conninfo)\n"
             "                 and grant the runtime role (database.conninfo), then exit\n"
             "  --help         this text\n"
             "  --version      the Lantern version\n"
             "\n"
             "Prints \"ready ENDPOINT\" once it serves; logs go to stderr. SIGTERM or\n"
             "SIGINT: finish the batch in hand and exit 0. Exit status: 0 stopped\n"
             "cleanly (or --check passed), 1 could not start (the reason on stderr),\n"
             "2 usage.\n",
             service->name, service->name, service->summary, service->name);
}

/* The node's specs followed by the service's, in one array. */
static ln_config_spec_t *
s_merge_specs (const ln_service_t *service)
{
    size_t nnode = sizeof s_node_specs / sizeof s_node_specs[0];
    size_t nsvc = 0;
    while (service->config && service->config[nsvc].path)
        nsvc++;
    ln_config_spec_t *all = ln_xcalloc (nnode + nsvc + 1, sizeof *all);
    memcpy (all, s_node_specs, sizeof s_node_specs);
    if (nsvc)
        memcpy (all + nnode, service->config, nsvc * sizeof *all);
    return all; /* the last entry is zero: LN_CONFIG_SPEC_END */
}

static int
s_load_rules (ln_node_t *node, ln_error_t *err)
{
    size_t n = ln_config_list_size (node->config, "stream");
    if (n == 0) {
        node->rules = NULL;
        node->rule_count = 0;
        return 0;
    }
    node->rules = ln_xcalloc (n, sizeof *node->rules);
    for (size_t i = 0; i < n; i++) {
        const ln_config_t *r = ln_config_element (node->config, "stream", i);
        node->rules[i].role = ln_config_string (r, "role");
        node->rules[i].type = ln_config_string (r, "type");
        if (ln_projection_parse (ln_config_string (r, "projection"), &node->rules[i].projection) !=
            0) {
            ln_error_set (err, "CONFIG_VALUE", "stream", "bad projection");
            return -1;
        }
    }
    node->rule_count = n;
    return 0;
}

static int
s_start_consumers (ln_node_t *node, bool check, ln_error_t *err)
{
    size_t n = ln_config_list_size (node->config, "upstreams");
    if (n > 0 && !node->service->apply) {
        ln_error_set (err, "CONFIG_VALUE", "upstreams", "%s: upstreams: lantern-%s follows no node",
                      node->config_path, node->service->name);
        return -1;
    }
    node->consumers = n ? ln_xcalloc (n, sizeof *node->consumers) : NULL;
    for (size_t i = 0; i < n; i++) {
        const ln_config_t *u = ln_config_element (node->config, "upstreams", i);
        char setting[64], path[PATH_MAX_NODE];
        snprintf (setting, sizeof setting, "upstreams.[%zu].server_key", i);
        if (s_resolve (node->config_path, ln_config_string (u, "server_key"), path, sizeof path,
                       setting, err) != 0)
            return -1;
        const char *name = ln_config_string (u, "name");
        for (size_t j = 0; j < i; j++)
            if (strcmp (ln_config_string (ln_config_element (node->config, "upstreams", j), "name"),
                        name) == 0) {
                ln_error_set (err, "CONFIG_VALUE", "upstreams",
                              "%s: upstreams.[%zu].name: %s is listed twice", node->config_path, i,
                              name);
                return -1;
            }
        zcert_t *server = ln_keys_load_public (path, err);
        if (!server)
            return -1;
        ln_consumer_config_t cc = {
            .upstream = name,
            .endpoint = ln_config_string (u, "endpoint"),
            .server_public_key = zcert_public_txt (server),
            .cert = node->cert,
            .credit = (uint32_t)ln_config_int (u, "credit"),
            .projection = ln_config_string (u, "projection"),
        };
        if (check) {
            zcert_destroy (&server);
            continue;
        }
        node->consumers[i] =
            ln_consumer_new (&cc, node->db, node->service->apply, node->state, err);
        zcert_destroy (&server);
        if (!node->consumers[i])
            return -1;
        node->nconsumers++;
        if (ln_server_add_consumer (node->server, node->consumers[i]) != 0) {
            ln_error_set (err, "SERVER_INVALID", "upstreams", "cannot add consumer %s", name);
            return -1;
        }
    }
    return 0;
}

/* The library's migrations and the service's, in one list (caller frees). */
static ln_migration_t *
s_migrations (const ln_service_t *service, size_t *count)
{
    size_t nlib = 0;
    const ln_migration_t *lib = ln_server_migrations (&nlib);
    ln_migration_t *all = ln_xcalloc (nlib + service->migration_count + 1, sizeof *all);
    memcpy (all, lib, nlib * sizeof *all);
    if (service->migration_count)
        memcpy (all + nlib, service->migrations, service->migration_count * sizeof *all);
    *count = nlib + service->migration_count;
    return all;
}

/* --migrate: as the owner (database.owner_conninfo; without one, the
   single role of conninfo), apply the migrations and grant the runtime
   role, the role that conninfo logs in as. */
static int
s_migrate (ln_node_t *node, ln_error_t *err)
{
    int rc = -1;
    size_t n = 0;
    ln_migration_t *all = s_migrations (node->service, &n);
    const char *schema = ln_config_string (node->config, "database.schema");
    const char *owner_conninfo = ln_config_string (node->config, "database.owner_conninfo");
    ln_db_retry_t retry = {100, 2000, 10000};
    ln_db_t *runtime =
        ln_db_connect (ln_config_string (node->config, "database.conninfo"), schema, &retry, err);
    ln_db_t *owner = NULL;
    char role[64] = "";
    if (!runtime)
        goto out;
    snprintf (role, sizeof role, "%s", PQuser (ln_db_conn (runtime)));
    if (owner_conninfo) {
        ln_db_destroy (&runtime);
        owner = ln_db_connect (owner_conninfo, schema, &retry, err);
        if (!owner || ln_db_migrate_as_owner (owner, all, n, role, err) != 0)
            goto out;
        printf ("lantern-%s: schema %s migrated by %s; runtime role %s granted\n",
                node->service->name, schema, PQuser (ln_db_conn (owner)), role);
    }
    else {
        if (ln_db_migrate_as_owner (runtime, all, n, NULL, err) != 0)
            goto out;
        printf ("lantern-%s: schema %s migrated by %s (no database.owner_conninfo: the node "
                "serves as the schema's owner)\n",
                node->service->name, schema, role);
    }
    rc = 0;
out:
    ln_db_destroy (&runtime);
    ln_db_destroy (&owner);
    free (all);
    return rc;
}

/* --- the audit anchor ------------------------------------------------------------ */

/* Publish the audit head when it moved (nl.lantern.audit.anchored.v1): the
   node's followers store it where this node's database owner cannot write,
   so that a trail cut back or rewritten is found (ln_audit.h "Anchors"). */
static int
s_anchor (void *state, ln_node_t *node, int64_t now_us)
{
    (void)state;
    ln_error_t err;
    uint64_t seq = 0;
    char hash[LN_AUDIT_HASH_HEX + 1];
    if (ln_audit_head (node->db, &seq, hash, &err) != 0) {
        ln_log_warn ("cannot read the audit head", "code=%s error=%s", err.code, err.message);
        return -1;
    }
    if (seq == node->anchored_seq)
        return 0;
    Lantern__V1__AuditAnchored a = LANTERN__V1__AUDIT_ANCHORED__INIT;
    a.seq = seq;
    a.hash = hash;
    a.at_us = now_us;
    a.node = node->name;
    uint8_t payload[256];
    size_t size = lantern__v1__audit_anchored__get_packed_size (&a);
    if (size > sizeof payload)
        return -1; /* cannot be: a hash and a node name */
    lantern__v1__audit_anchored__pack (&a, payload);
    ln_outbox_event_t ev = {
        .type = LN_ENVELOPE_TYPE_ANCHORED,
        .level = LN_LEVEL_INTERN,
        .time_us = now_us,
        .payload = payload,
        .payload_size = size,
    };
    if (ln_db_begin (node->db) != 0 || ln_outbox_append (node->db, &ev, NULL, 0, &err) != 0 ||
        ln_db_commit (node->db) != 0) {
        ln_db_rollback (node->db);
        ln_log_warn ("cannot publish the audit anchor", "seq=%llu", (unsigned long long)seq);
        return -1;
    }
    node->anchored_seq = seq;
    return 0;
}

/* --- the loop ------------------------------------------------------------------- */

/* The test clock: re-read testing.clock_file when it changed.  Returns true
   when the offset moved (every job then runs at once). */
static bool
s_clock_moved (ln_node_t *node)
{
    struct stat st;
    if (!node->clock_file[0] || stat (node->clock_file, &st) != 0)
        return false;
    if (node->clock_seen && st.st_mtim.tv_sec == node->clock_mtime.tv_sec &&
        st.st_mtim.tv_nsec == node->clock_mtime.tv_nsec && st.st_size == node->clock_size)
        return false;
    node->clock_seen = true;
    node->clock_mtime = st.st_mtim;
    node->clock_size = st.st_size;
    FILE *f = fopen (node->clock_file, "r");
    if (!f)
        return false;
    char line[64] = "";
    bool ok = fgets (line, sizeof line, f) != NULL;
    fclose (f);
    char *end = NULL;
    errno = 0;
    long long seconds = ok ? strtoll (line, &end, 10) : 0;
    if (!ok || errno != 0 || end == line || (*end && *end != '\n') || seconds < -3650LL * 86400 ||
        seconds > 3650LL * 86400) {
        ln_log_warn ("test clock file unreadable", "file=%s", node->clock_file);
        return false;
    }
    int64_t offset = seconds * 1000000LL;
    if (offset == ln_clock_offset_us)
        return false;
    ln_clock_set_offset_us (offset);
    ln_log_warn ("test clock moved", "offset_s=%lld", seconds);
    return true;
}

static void
s_run_jobs (ln_node_t *node, bool all)
{
    int64_t now = ln_clock_mono_ms ();
    for (size_t i = 0; i < node->njobs; i++) {
        job_t *j = &node->jobs[i];
        if (!all && now < j->due)
            continue;
        j->due = now + j->interval_ms;
        if (j->run (j->state, node, ln_clock_wall_us ()) != 0)
            ln_log_error ("job failed", "job=%s", j->name);
    }
}

static int
s_loop (ln_node_t *node)
{
    for (;;) {
        int64_t now = ln_clock_mono_ms ();
        int timeout = 1000;
        for (size_t i = 0; i < node->njobs; i++) {
            int64_t left = node->jobs[i].due - now;
            if (left < timeout)
                timeout = left > 0 ? (int)left : 0;
        }
        if (node->clock_file[0] && timeout > 200)
            timeout = 200; /* look at the test clock often */
        if (ln_server_step (node->server, timeout) != 0)
            return 0;
        s_run_jobs (node, s_clock_moved (node));
    }
}

/* --- main ------------------------------------------------------------------------ */

static void
s_node_free (ln_node_t *node)
{
    ln_server_destroy (&node->server);
    for (size_t i = 0; i < node->nconsumers; i++)
        ln_consumer_destroy (&node->consumers[i]);
    free (node->consumers);
    if (node->service->stop && node->state)
        node->service->stop (node->state);
    ln_db_destroy (&node->db);
    ln_auth_destroy (&node->auth);
    ln_registry_destroy (&node->registry);
    zcert_destroy (&node->cert);
    ln_config_destroy (&node->config);
    free (node->specs);
    free (node->rules);
    free (node->jobs);
}

int
ln_node_main (const ln_service_t *service, int argc, char **argv)
{
    const char *config_path = NULL;
    bool check = false, migrate = false;
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'k'},
        {"migrate", no_argument, NULL, 'm'},      {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'k':
            check = true;
            break;
        case 'm':
            migrate = true;
            break;
        case 'h':
            s_usage (service, stdout);
            return 0;
        case 'V':
            printf ("lantern-%s %s\n", service->name, LN_VERSION);
            return 0;
        default:
            s_usage (service, stderr);
            return 2;
        }
    }
    if (!config_path || optind != argc || (check && migrate)) {
        fprintf (stderr, "lantern-%s: %s\n", service->name,
                 !config_path       ? "--config FILE is required"
                 : check && migrate ? "--check and --migrate exclude each other"
                                    : "unexpected argument");
        s_usage (service, stderr);
        return 2;
    }

    int rc = 1;
    ln_error_t err;
    ln_error_clear (&err);
    ln_node_t node;
    memset (&node, 0, sizeof node);
    node.service = service;
    node.config_path = config_path;
    char path[PATH_MAX_NODE];

    node.specs = s_merge_specs (service);
    node.config = ln_config_load (config_path, node.specs, &err);
    if (!node.config)
        goto fail;
    snprintf (node.name, sizeof node.name, "%s", ln_config_string (node.config, "node"));
    if (!ln_envelope_node_valid (node.name)) {
        ln_error_set (&err, "CONFIG_VALUE", "node",
                      "%s: node: must be [a-z0-9-], starting and ending with a letter or digit",
                      config_path);
        goto fail;
    }
    if (!ln_db_schema_valid (ln_config_string (node.config, "database.schema"))) {
        ln_error_set (&err, "CONFIG_VALUE", "database.schema",
                      "%s: database.schema: must be [a-z_][a-z0-9_]{0,62}", config_path);
        goto fail;
    }
    node.event_level = ln_config_level (node.config, "events.level");
    ln_log_level_t level = LN_LOG_INFO;
    ln_log_level_parse (ln_config_string (node.config, "log_level"), &level);
    ln_log_init (node.name, level);
    if (ln_config_has (node.config, "testing.clock_file")) {
        if (ln_node_path (&node, "testing.clock_file", node.clock_file, sizeof node.clock_file,
                          &err) != 0)
            goto fail;
        ln_log_warn ("testing.clock_file is set: the node's clock can be moved; never in a region",
                     "file=%s", node.clock_file);
        s_clock_moved (&node);
    }
    if (s_load_rules (&node, &err) != 0)
        goto fail;
    /* Before the keys: --migrate may run as another user (one who can read
       the owner's password), who has no business with the node's keys. */
    if (migrate) {
        if (s_migrate (&node, &err) != 0)
            goto fail;
        rc = 0;
        goto out;
    }

    zsys_init ();
    zsys_handler_set (NULL);
    s_running = &node;
    signal (SIGTERM, s_on_signal);
    signal (SIGINT, s_on_signal);

    if ((service->event_count &&
         ln_envelope_register (service->events, service->event_count, &err) != 0) ||
        (service->follow_count &&
         ln_envelope_register (service->follows, service->follow_count, &err) != 0))
        goto fail;
    if (ln_node_path (&node, "keys.secret", path, sizeof path, &err) != 0 ||
        !(node.cert = ln_keys_load_secret (path, &err)))
        goto fail;
    if (ln_node_path (&node, "keys.registry", path, sizeof path, &err) != 0 ||
        !(node.registry = ln_registry_load (path, &err)))
        goto fail;
    if (!(node.auth = ln_auth_new (&node.registry, &err)))
        goto fail;

    /* A short retry budget: the node's loop must not hang for a minute on
       a lost database (docs/operations.md). */
    ln_db_retry_t retry = {100, 2000, check ? 5000 : 30000};
    node.db = ln_db_connect (ln_config_string (node.config, "database.conninfo"),
                             ln_config_string (node.config, "database.schema"), &retry, &err);
    if (!node.db)
        goto fail;
    /* Serving never uses the owner: the schema must be current (--migrate),
       unless this role owns it (a single role, as before: it migrates). */
    size_t nmig = 0;
    ln_migration_t *migrations = s_migrations (service, &nmig);
    int ready = ln_db_schema_ready (node.db, migrations, nmig, &err);
    free (migrations);
    if (ready != 0)
        goto fail;
    if (service->start && !(node.state = service->start (&node, check, &err)))
        goto fail;
    if (check) {
        if (s_start_consumers (&node, true, &err) != 0)
            goto fail;
        char what[512] = "";
        if (service->describe)
            service->describe (node.state, what, sizeof what);
        printf ("lantern-%s: %s: configuration, keys%s%s and database schema %s are in order\n",
                service->name, config_path, what[0] ? ", " : "", what,
                ln_config_string (node.config, "database.schema"));
        rc = 0;
        goto out;
    }

    const ln_stream_rule_t *rules = node.rule_count ? node.rules : service->rules;
    size_t nrules = node.rule_count ? node.rule_count : service->rule_count;
    ln_server_config_t sc = {
        .node = node.name,
        .endpoint = ln_config_string (node.config, "endpoint"),
        .cert = node.cert,
        .auth = node.auth,
        .db = node.db,
        .commands = service->commands,
        .command_count = service->command_count,
        .rules = rules,
        .rule_count = nrules,
        .project = service->project,
        .arg = node.state,
        .batch_max = (size_t)ln_config_int (node.config, "batch_max"),
        .retention_ms = ln_config_int (node.config, "events.retention_days") * 86400LL * 1000LL,
        .limits =
            {
                .subscribers_max = (size_t)ln_config_int (node.config, "limits.subscribers"),
                .subscriptions_per_principal =
                    (size_t)ln_config_int (node.config, "limits.subscriptions_per_principal"),
                .unconfirmed_per_principal =
                    (uint64_t)ln_config_int (node.config, "limits.unconfirmed_mib_per_principal")
                    << 20,
                .unconfirmed_total = (uint64_t)ln_config_int (node.config, "limits.unconfirmed_mib")
                                     << 20,
            },
    };
    node.server = ln_server_new (&sc, &err);
    if (!node.server)
        goto fail;
    if (s_stop_asked)
        ln_server_stop (node.server); /* SIGTERM during start-up: stop at once */
    if (s_start_consumers (&node, false, &err) != 0)
        goto fail;
    ln_node_add_job (&node, "audit-anchor",
                     ln_config_int (node.config, "audit.anchor_interval_s") * 1000, s_anchor, NULL);
    ln_log_info ("serving", "service=%s endpoint=%s upstreams=%zu", service->name,
                 ln_server_endpoint (node.server), node.nconsumers);
    printf ("ready %s\n", ln_server_endpoint (node.server));
    fflush (stdout);
    s_loop (&node);
    ln_log_info ("stopped", "service=%s", service->name);
    rc = 0;
    goto out;
fail:
    fprintf (stderr, "lantern-%s: %s%s%s: %s\n", service->name, err.code ? err.code : "ERROR",
             err.field[0] ? " " : "", err.field, err.message);
out:
    s_running = NULL;
    s_node_free (&node);
    return rc;
}
