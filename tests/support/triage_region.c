/*  triage_region: intake nodes and a triage node as real processes (see
    triage_region.h). */
#include "triage_region.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ln_pseudonym.h"
#include "proc_child.h"
#include "run_cmd.h"

#define INTAKES_MAX 8

typedef struct {
    char name[64];
    char org[64];
    char type[32];
    char officer[64];
    char schema[64];
    char dir[400];
    char config[480];
    char log[480];
    char endpoint[64];
    char *conninfo;       /* the runtime role's */
    char *owner_conninfo; /* the schema owner's: --migrate */
    proc_child_t *child;
    bool made; /* roles and schema exist */
} node_t;

struct triage_region_t {
    char dir[256];
    triage_region_config_t cfg;
    ln_pgfix_t *pg;
    bus_keys_t *keys;
    node_t intakes[INTAKES_MAX];
    size_t n;
    node_t triage;
    char catalogue[1024];
    char regional[512];
    char intake_bin[512];
    char triage_bin[512];
};

static node_t *
s_node (triage_region_t *self, size_t node)
{
    if (node == TRIAGE_REGION_TRIAGE)
        return &self->triage;
    return node < self->n ? &self->intakes[node] : NULL;
}

static const node_t *
s_cnode (const triage_region_t *self, size_t node)
{
    return s_node ((triage_region_t *)self, node);
}

/* Write a libconfig string literal's body (escape \ and "). */
static void
s_put (FILE *f, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc ('\\', f);
        fputc (*p, f);
    }
}

/* Roles, schema and directory of a node. */
static int
s_make_node (triage_region_t *self, node_t *n)
{
    char role[80];
    snprintf (n->dir, sizeof n->dir, "%s/%s", self->dir, n->name);
    if (mkdir (n->dir, 0700) != 0 && errno != EEXIST)
        return -1;
    snprintf (n->config, sizeof n->config, "%s/node.cfg", n->dir);
    snprintf (n->log, sizeof n->log, "%s/node.log", n->dir);
    snprintf (role, sizeof role, "%s_o", n->schema);
    const char *owner = ln_pgfix_create_role (self->pg, role, n->schema);
    const char *runtime = ln_pgfix_create_runtime_role (self->pg, n->schema);
    if (!owner || !runtime)
        return -1;
    n->owner_conninfo = strdup (owner);
    n->conninfo = strdup (runtime);
    int port = proc_free_port ();
    if (!n->owner_conninfo || !n->conninfo || port < 0)
        return -1;
    snprintf (n->endpoint, sizeof n->endpoint, "tcp://127.0.0.1:%d", port);
    n->made = true;
    return 0;
}

static void
s_database (FILE *f, const node_t *n)
{
    fprintf (f, "database = { conninfo = \"");
    s_put (f, n->conninfo);
    fprintf (f, "\"; owner_conninfo = \"");
    s_put (f, n->owner_conninfo);
    fprintf (f, "\"; schema = \"%s\"; };\n", n->schema);
}

static void
s_upstream (FILE *f, triage_region_t *self, const node_t *n, bool first, int credit)
{
    fprintf (f, "%s{ name = \"%s\"; endpoint = \"%s\"; server_key = \"%s\";", first ? "" : ",\n  ",
             n->name, n->endpoint, bus_keys_public (self->keys, n->name));
    if (credit > 0)
        fprintf (f, " credit = %d;", credit);
    fprintf (f, " }");
}

static int
s_write_intake (triage_region_t *self, const node_t *n)
{
    FILE *f = fopen (n->config, "w");
    if (!f)
        return -1;
    fprintf (f,
             "node = \"%s\";\norganisation = \"%s\";\norganisation_type = \"%s\";\n"
             "endpoint = \"%s\";\nlog_level = \"info\";\n",
             n->name, n->org, n->type, n->endpoint);
    if (self->cfg.intake_batch_max > 0)
        fprintf (f, "batch_max = %d;\n", self->cfg.intake_batch_max);
    s_database (f, n);
    fprintf (f, "keys = { secret = \"%s\"; registry = \"%s\"; regional = \"%s\"; };\n",
             bus_keys_secret (self->keys, n->name), bus_keys_registry (self->keys), self->regional);
    fprintf (f, "catalogue = \"");
    s_put (f, self->catalogue);
    fprintf (f, "\";\n");
    if (self->cfg.intakes_follow_triage) {
        fprintf (f, "upstreams = (");
        s_upstream (f, self, &self->triage, true, 0);
        fprintf (f, ");\n");
    }
    fprintf (f, "%s\n", self->cfg.intake_extra ? self->cfg.intake_extra : "");
    return fclose (f) == 0 ? 0 : -1;
}

static int
s_write_triage (triage_region_t *self)
{
    const node_t *n = &self->triage;
    FILE *f = fopen (n->config, "w");
    if (!f)
        return -1;
    fprintf (f,
             "node = \"%s\";\norganisation = \"screeningsoverleg\";\nendpoint = \"%s\";\n"
             "log_level = \"%s\";\n",
             n->name, n->endpoint,
             self->cfg.triage_log_level ? self->cfg.triage_log_level : "info");
    s_database (f, n);
    fprintf (f, "keys = { secret = \"%s\"; registry = \"%s\"; };\n",
             bus_keys_secret (self->keys, n->name), bus_keys_registry (self->keys));
    fprintf (f, "catalogue = \"");
    s_put (f, self->catalogue);
    fprintf (f, "\";\nmeeting = { weekday = \"tuesday\"; time = \"10:00\"; zone = "
                "\"Europe/Amsterdam\"; };\n");
    fprintf (f, "testing = { clock_file = \"clock\"; };\n");
    if (self->n > 0) {
        fprintf (f, "upstreams = (");
        for (size_t i = 0; i < self->n; i++)
            s_upstream (f, self, &self->intakes[i], i == 0, self->cfg.upstream_credit);
        fprintf (f, ");\n");
    }
    fprintf (f, "%s\n", self->cfg.triage_extra ? self->cfg.triage_extra : "");
    return fclose (f) == 0 ? 0 : -1;
}

static int
s_migrate (const char *binary, const node_t *n)
{
    char *argv[] = {(char *)binary, "--config", (char *)n->config, "--migrate", NULL};
    char path[600];
    snprintf (path, sizeof path, "%s/migrate.log", n->dir);
    proc_child_t *child = proc_child_start (argv, path, NULL);
    int status = -1;
    if (!child || proc_child_wait (child, 60000, &status) != 0 || status != 0) {
        fprintf (stderr, "triage_region: %s --migrate failed (status %d); its log: %s\n", n->name,
                 status, path);
        proc_child_destroy (&child);
        return -1;
    }
    proc_child_destroy (&child);
    return 0;
}

static int
s_spawn (const char *binary, node_t *n)
{
    if (s_migrate (binary, n) != 0)
        return -1;
    char *argv[] = {(char *)binary, "--config", n->config, NULL};
    n->child = proc_child_start (argv, n->log, NULL);
    if (!n->child)
        return -1;
    char line[256];
    if (proc_child_wait_line (n->child, "ready ", line, sizeof line, 30000) != 0) {
        fprintf (stderr, "triage_region: %s did not start; its log: %s\n", n->name, n->log);
        proc_child_destroy (&n->child);
        return -1;
    }
    return 0;
}

static int
s_stop (node_t *n)
{
    if (!n->child)
        return 0;
    int rc = 0, status = -1;
    if (proc_child_running (n->child)) {
        proc_child_signal (n->child, SIGTERM);
        if (proc_child_wait (n->child, 30000, &status) != 0 || status != 0) {
            fprintf (stderr, "triage_region: %s exited with %d; its log: %s\n", n->name, status,
                     n->log);
            rc = -1;
        }
    }
    proc_child_destroy (&n->child);
    return rc;
}

static int
s_add_keys (triage_region_t *self, const node_t *n, bool intake)
{
    if (bus_keys_add_org (self->keys, n->name, n->org, intake ? "node,intake" : "node,triage",
                          intake ? "vertrouwelijk" : "geheim", true) != 0)
        return -1;
    if (intake && bus_keys_add_org (self->keys, n->officer, n->org, "attention_officer",
                                    "vertrouwelijk", true) != 0)
        return -1;
    return 0;
}

static void
s_intake_names (node_t *n, size_t i)
{
    static const char *const names[][3] = {
        {"intake-venlo", "gemeente-venlo", "municipality"},
        {"intake-politie", "politie-limburg-noord", "police"},
    };
    if (i < 2) {
        snprintf (n->name, sizeof n->name, "%s", names[i][0]);
        snprintf (n->org, sizeof n->org, "%s", names[i][1]);
        snprintf (n->type, sizeof n->type, "%s", names[i][2]);
        snprintf (n->officer, sizeof n->officer, "officer-%s", names[i][0] + 7);
    }
    else {
        snprintf (n->name, sizeof n->name, "intake-%zu", i);
        snprintf (n->org, sizeof n->org, "org-%zu", i);
        snprintf (n->type, sizeof n->type, "municipality");
        snprintf (n->officer, sizeof n->officer, "officer-%zu", i);
    }
    snprintf (n->schema, sizeof n->schema, "%s", n->name);
    for (char *p = n->schema; *p; p++)
        if (*p == '-')
            *p = '_';
}

triage_region_t *
triage_region_new (const triage_region_config_t *config)
{
    triage_region_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->cfg = *config;
    size_t want = config->intakes ? config->intakes : 2;
    if (want > INTAKES_MAX)
        goto fail;
    snprintf (self->dir, sizeof self->dir, "/tmp/lantern-region-XXXXXX");
    if (!mkdtemp (self->dir))
        goto fail;
    self->pg = ln_pgfix_new ("triage_region");
    self->keys = bus_keys_new ();
    if (!self->pg || !self->keys)
        goto fail;
    static const struct {
        const char *name, *org, *roles;
    } people[] = {
        {"chair", "screeningsoverleg", "screening_chair"},
        {"chair-elsewhere", "screeningsoverleg-zuid", "screening_chair"},
        {"partner-venlo", "gemeente-venlo", "screening_partner"},
        {"partner-politie", "politie-limburg-noord", "screening_partner"},
        {"care", "zorgcoordinatie-noord-limburg", "care"},
        {"police", "politie-limburg-noord", "police"},
        {"monitor", "regio-noord-limburg", "monitor"},
        {"auditor", "regio-noord-limburg", "auditor"},
        {"operator", "regio-noord-limburg", "operator"},
        {"replayer", "regio-noord-limburg", "triage"}, /* bench_triage's own consumers */
    };
    for (size_t i = 0; i < sizeof people / sizeof people[0]; i++)
        if (bus_keys_add_org (self->keys, people[i].name, people[i].org, people[i].roles,
                              "vertrouwelijk", true) != 0)
            goto fail;
    ln_error_t err;
    snprintf (self->regional, sizeof self->regional, "%s/regional.key", self->dir);
    if (ln_pseudonym_key_generate (self->regional, &err) != 0) {
        fprintf (stderr, "triage_region: %s\n", err.message);
        goto fail;
    }
    const char *src = getenv ("LANTERN_SOURCE_DIR");
    snprintf (self->catalogue, sizeof self->catalogue, "%s/deploy/indicators.cfg",
              src && *src ? src : ".");
    if (self->catalogue[0] != '/') {
        char *real = realpath (self->catalogue, NULL);
        if (real) {
            snprintf (self->catalogue, sizeof self->catalogue, "%s", real);
            free (real);
        }
    }
    if (run_cmd_binary ("lantern-intake", self->intake_bin, sizeof self->intake_bin) != 0 ||
        run_cmd_binary ("lantern-triage", self->triage_bin, sizeof self->triage_bin) != 0)
        goto fail;

    /* triage first (its endpoint goes into the intake nodes' configs) */
    node_t *t = &self->triage;
    snprintf (t->name, sizeof t->name, "triage");
    snprintf (t->org, sizeof t->org, "screeningsoverleg");
    snprintf (t->schema, sizeof t->schema, "triage");
    if (s_make_node (self, t) != 0 || s_add_keys (self, t, false) != 0)
        goto fail;
    for (size_t i = 0; i < want; i++) {
        node_t *n = &self->intakes[i];
        s_intake_names (n, i);
        if (s_make_node (self, n) != 0 || s_add_keys (self, n, true) != 0)
            goto fail;
        self->n++;
    }
    for (size_t i = 0; i < self->n; i++)
        if (s_write_intake (self, &self->intakes[i]) != 0 ||
            s_spawn (self->intake_bin, &self->intakes[i]) != 0)
            goto fail;
    if (config->start_triage && triage_region_start_triage (self) != 0)
        goto fail;
    return self;
fail:
    fprintf (stderr, "triage_region: could not start\n");
    triage_region_destroy (&self);
    return NULL;
}

int
triage_region_destroy (triage_region_t **self_p)
{
    if (!self_p || !*self_p)
        return 0;
    triage_region_t *self = *self_p;
    int rc = 0;
    if (s_stop (&self->triage) != 0)
        rc = -1;
    for (size_t i = 0; i < self->n; i++)
        if (s_stop (&self->intakes[i]) != 0)
            rc = -1;
    free (self->triage.conninfo);
    free (self->triage.owner_conninfo);
    for (size_t i = 0; i < INTAKES_MAX; i++) {
        free (self->intakes[i].conninfo);
        free (self->intakes[i].owner_conninfo);
    }
    bus_keys_destroy (&self->keys);
    ln_pgfix_destroy (&self->pg);
    if (rc == 0 && run_cmd_remove_test_dir (self->dir) != 0)
        rc = -1;
    free (self);
    *self_p = NULL;
    return rc;
}

size_t
triage_region_intakes (const triage_region_t *self)
{
    return self->n;
}

const char *
triage_region_name (const triage_region_t *self, size_t node)
{
    const node_t *n = s_cnode (self, node);
    return n ? n->name : NULL;
}

const char *
triage_region_officer (const triage_region_t *self, size_t node)
{
    const node_t *n = s_cnode (self, node);
    return n ? n->officer : NULL;
}

const char *
triage_region_endpoint (const triage_region_t *self, size_t node)
{
    const node_t *n = s_cnode (self, node);
    return n ? n->endpoint : NULL;
}

pid_t
triage_region_pid (const triage_region_t *self, size_t node)
{
    const node_t *n = s_cnode (self, node);
    return n && n->child ? proc_child_pid (n->child) : -1;
}

const char *
triage_region_dir (const triage_region_t *self)
{
    return self->dir;
}

const char *
triage_region_log (const triage_region_t *self, size_t node)
{
    const node_t *n = s_cnode (self, node);
    return n ? n->log : NULL;
}

const char *
triage_region_config_path (const triage_region_t *self, size_t node)
{
    const node_t *n = s_cnode (self, node);
    return n ? n->config : NULL;
}

const char *
triage_region_server_pub (const triage_region_t *self, size_t node)
{
    const node_t *n = s_cnode (self, node);
    return n ? bus_keys_public (self->keys, n->name) : NULL;
}

bus_keys_t *
triage_region_keys (triage_region_t *self)
{
    return self->keys;
}

ln_pgfix_t *
triage_region_pg (triage_region_t *self)
{
    return self->pg;
}

ln_client_t *
triage_region_client (triage_region_t *self, size_t node, const char *who)
{
    const node_t *n = s_node (self, node);
    if (!n)
        return NULL;
    char key[64];
    snprintf (key, sizeof key, "%s", bus_keys_public_z85 (self->keys, n->name));
    zcert_t *cert = bus_keys_cert (self->keys, who);
    if (!cert)
        return NULL;
    ln_error_t err;
    ln_client_t *client = ln_client_new (n->endpoint, key, cert, &err);
    zcert_destroy (&cert);
    if (!client)
        fprintf (stderr, "triage_region: client %s of %s: %s\n", who, n->name, err.message);
    return client;
}

long
triage_region_add_intake (triage_region_t *self)
{
    if (self->n >= INTAKES_MAX)
        return -1;
    node_t *n = &self->intakes[self->n];
    s_intake_names (n, self->n);
    if (s_make_node (self, n) != 0 || s_add_keys (self, n, true) != 0)
        return -1;
    self->n++;
    if (s_write_intake (self, n) != 0 || s_spawn (self->intake_bin, n) != 0)
        return -1;
    return (long)self->n - 1;
}

int
triage_region_start_triage (triage_region_t *self)
{
    if (s_write_triage (self) != 0)
        return -1;
    return s_spawn (self->triage_bin, &self->triage);
}

int
triage_region_stop_triage (triage_region_t *self)
{
    return s_stop (&self->triage);
}

int
triage_region_kill_triage (triage_region_t *self)
{
    node_t *n = &self->triage;
    if (!n->child)
        return -1;
    proc_child_signal (n->child, SIGKILL);
    int status = 0;
    int rc = proc_child_wait (n->child, 10000, &status);
    proc_child_destroy (&n->child);
    return rc;
}

int
triage_region_restart_triage (triage_region_t *self)
{
    if (s_stop (&self->triage) != 0)
        return -1;
    return triage_region_start_triage (self);
}

int
triage_region_stop_intake (triage_region_t *self, size_t i)
{
    return i < self->n ? s_stop (&self->intakes[i]) : -1;
}

int
triage_region_start_intake (triage_region_t *self, size_t i)
{
    if (i >= self->n || self->intakes[i].child)
        return -1;
    return s_spawn (self->intake_bin, &self->intakes[i]);
}

int
triage_region_drop_triage (triage_region_t *self)
{
    if (self->triage.child)
        return -1;
    char sql[300];
    snprintf (sql, sizeof sql, "DROP SCHEMA triage CASCADE; CREATE SCHEMA triage AUTHORIZATION %s",
              ln_pgfix_role_name (self->pg, "triage_o"));
    return ln_pgfix_exec (self->pg, sql);
}

int
triage_region_set_clock (triage_region_t *self, size_t node, long long seconds)
{
    const node_t *n = s_node (self, node);
    if (!n)
        return -1;
    char path[600], tmp[620];
    snprintf (path, sizeof path, "%s/clock", n->dir);
    snprintf (tmp, sizeof tmp, "%s.new", path);
    FILE *f = fopen (tmp, "w");
    if (!f)
        return -1;
    fprintf (f, "%lld\n", seconds);
    if (fclose (f) != 0)
        return -1;
    return rename (tmp, path);
}

char *
triage_region_query (triage_region_t *self, const char *sql)
{
    return ln_pgfix_query_value (self->pg, sql, 0, NULL);
}

long
triage_region_count (triage_region_t *self, const char *sql)
{
    char *v = ln_pgfix_query_value (self->pg, sql, 0, NULL);
    if (!v)
        return -1;
    long n = strtol (v, NULL, 10);
    free (v);
    return n;
}

/* "position:head:unstamped" of everything that must agree, as one text. */
static char *
s_progress (triage_region_t *self)
{
    char sql[4096];
    size_t used = (size_t)snprintf (sql, sizeof sql,
                                    "SELECT concat_ws ('|', (SELECT head FROM triage.outbox_head),"
                                    " (SELECT count(*) FROM triage.outbox WHERE position IS NULL)");
    for (size_t i = 0; i < self->n; i++) {
        const node_t *n = &self->intakes[i];
        used += (size_t)snprintf (
            sql + used, sizeof sql - used,
            ", (SELECT head FROM %s.outbox_head), (SELECT count(*) FROM %s.outbox WHERE position"
            " IS NULL), (SELECT coalesce (max (position), 0) FROM triage.stream_cursors WHERE"
            " upstream = '%s')",
            n->schema, n->schema, n->name);
        if (self->cfg.intakes_follow_triage)
            used += (size_t)snprintf (sql + used, sizeof sql - used,
                                      ", (SELECT coalesce (max (position), 0) FROM"
                                      " %s.stream_cursors WHERE upstream = 'triage')",
                                      n->schema);
    }
    snprintf (sql + used, sizeof sql - used, ")");
    return ln_pgfix_query_value (self->pg, sql, 0, NULL);
}

/* Whether the progress text says everyone has caught up. */
static bool
s_caught_up (const triage_region_t *self, const char *text)
{
    long long v[64];
    size_t n = 0;
    const char *p = text;
    while (*p && n < 64) {
        char *end = NULL;
        v[n++] = strtoll (p, &end, 10);
        p = *end == '|' ? end + 1 : end;
        if (end == p && *p)
            return false;
    }
    if (n < 2 || v[1] != 0)
        return false;
    size_t k = 2;
    for (size_t i = 0; i < self->n; i++) {
        long long head = v[k], unstamped = v[k + 1], cursor = v[k + 2];
        k += 3;
        if (unstamped != 0 || (self->intakes[i].child && self->triage.child && cursor != head))
            return false;
        /* An intake node's cursor of triage stops at the last event triage
           sent it (the others are not for it): only its stability counts. */
        if (self->cfg.intakes_follow_triage)
            k++;
    }
    return true;
}

int
triage_region_settle (triage_region_t *self, int timeout_ms)
{
    struct timespec start;
    clock_gettime (CLOCK_MONOTONIC, &start);
    char *previous = NULL;
    int same = 0; /* reads in a row that found the same, caught up */
    for (;;) {
        char *now = s_progress (self);
        if (now && previous && strcmp (now, previous) == 0 && s_caught_up (self, now))
            same++;
        else
            same = 0;
        bool done = same >= 4; /* 400 ms without a change */
        free (previous);
        previous = now;
        if (done) {
            free (previous);
            return 0;
        }
        struct timespec t;
        clock_gettime (CLOCK_MONOTONIC, &t);
        long ms = (t.tv_sec - start.tv_sec) * 1000 + (t.tv_nsec - start.tv_nsec) / 1000000;
        if (ms > timeout_ms) {
            fprintf (stderr, "triage_region: not settled after %d ms: %s\n", timeout_ms,
                     previous ? previous : "?");
            free (previous);
            return -1;
        }
        usleep (100 * 1000);
    }
}
