/*  intake_fixture: a real lantern-intake process for tests (intake_fixture.h). */
#include "intake_fixture.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ln_pseudonym.h"
#include "proc_child.h"
#include "run_cmd.h"

#define SCHEMA "intake"

struct intake_fix_t {
    char dir[256];
    char node[64];
    char config_path[512];
    char regional[512];
    char catalogue[1024];
    char log_path[512];
    char endpoint[128];
    char server_pub[512];
    char server_key[64];
    char binary[512];
    ln_pgfix_t *pg;
    bus_keys_t *keys;
    proc_child_t *child;
    ln_db_t *db;
    char *conninfo;       /* the runtime role's: the node serves as it */
    char *owner_conninfo; /* the schema owner's: --migrate */
};

static const struct {
    const char *name, *org, *roles, *level;
    bool registered;
} s_principals[] = {
    {"officer", NULL, "attention_officer", "vertrouwelijk", true},
    {"officer2", NULL, "attention_officer", "vertrouwelijk", true},
    {"other-officer", "politie-limburg", "attention_officer", "vertrouwelijk", true},
    {"triage", "screeningsoverleg", "triage", "geheim", true},
    {"monitor", "regio", "monitor", "vertrouwelijk", true},
    {"matcher", "regio", "matcher", "vertrouwelijk", true},
    {"auditor", "regio", "auditor", "vertrouwelijk", true},
    {"stranger", "nobody", "attention_officer", "vertrouwelijk", false},
    /* of the node's own organisation, without the officer's role: a role
       check must refuse it, whatever the organisation check says */
    {"clerk", NULL, "monitor", "vertrouwelijk", true},
};

/* Write a libconfig string literal's body (escape \ and "). */
static void
s_put_string (FILE *f, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '\\' || *p == '"')
            fputc ('\\', f);
        fputc (*p, f);
    }
}

/* lantern-intake --migrate: as the owner, migrate and grant the runtime
   role (what an operator does before starting a node). */
static int
s_migrate (intake_fix_t *self)
{
    char *argv[] = {self->binary, "--config", self->config_path, "--migrate", NULL};
    char path[600];
    snprintf (path, sizeof path, "%s/migrate.log", self->dir);
    proc_child_t *child = proc_child_start (argv, path, NULL);
    int status = -1;
    if (!child || proc_child_wait (child, 30000, &status) != 0 || status != 0) {
        fprintf (stderr, "intake_fixture: --migrate failed (status %d); its log: %s\n", status,
                 path);
        proc_child_destroy (&child);
        return -1;
    }
    proc_child_destroy (&child);
    return 0;
}

static int
s_spawn (intake_fix_t *self)
{
    char *argv[] = {self->binary, "--config", self->config_path, NULL};
    self->child = proc_child_start (argv, self->log_path, NULL);
    if (!self->child)
        return -1;
    char line[256];
    if (proc_child_wait_line (self->child, "ready ", line, sizeof line, 20000) != 0) {
        fprintf (stderr, "intake_fixture: the node did not start; its log: %s\n", self->log_path);
        return -1;
    }
    return 0;
}

intake_fix_t *
intake_fix_start (const intake_fix_config_t *config)
{
    intake_fix_config_t none = {0};
    if (!config)
        config = &none;
    intake_fix_t *self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    const char *org = config->organisation ? config->organisation : "gemeente-venlo";
    snprintf (self->node, sizeof self->node, "%s", config->node ? config->node : "intake-test");
    snprintf (self->dir, sizeof self->dir, "/tmp/lantern-intake-XXXXXX");
    if (!mkdtemp (self->dir))
        goto fail;
    self->pg = ln_pgfix_new ("intake");
    if (!self->pg)
        goto fail;
    /* Two roles, as in production: the owner migrates, the node serves as
       a runtime role that may not rewrite its audit trail. */
    const char *owner = ln_pgfix_create_role (self->pg, "intake_owner", SCHEMA);
    const char *conninfo = ln_pgfix_create_runtime_role (self->pg, "intake");
    if (!owner || !conninfo)
        goto fail;
    self->conninfo = strdup (conninfo);
    self->owner_conninfo = strdup (owner);
    if (!self->conninfo || !self->owner_conninfo)
        abort ();
    self->keys = bus_keys_new ();
    if (!self->keys ||
        bus_keys_add_org (self->keys, self->node, org, "node", "zeer_geheim", false) != 0)
        goto fail;
    for (size_t i = 0; i < sizeof s_principals / sizeof s_principals[0]; i++)
        if (bus_keys_add_org (
                self->keys, s_principals[i].name, s_principals[i].org ? s_principals[i].org : org,
                s_principals[i].roles, s_principals[i].level, s_principals[i].registered) != 0)
            goto fail;
    snprintf (self->server_pub, sizeof self->server_pub, "%s",
              bus_keys_public (self->keys, self->node));
    snprintf (self->server_key, sizeof self->server_key, "%s",
              bus_keys_public_z85 (self->keys, self->node));

    ln_error_t err;
    snprintf (self->regional, sizeof self->regional, "%s/regional.key", self->dir);
    if (ln_pseudonym_key_generate (self->regional, &err) != 0) {
        fprintf (stderr, "intake_fixture: %s\n", err.message);
        goto fail;
    }
    const char *src = getenv ("LANTERN_SOURCE_DIR");
    snprintf (self->catalogue, sizeof self->catalogue, "%s/deploy/indicators.cfg",
              src && *src ? src : ".");
    int port = proc_free_port ();
    if (port < 0)
        goto fail;
    snprintf (self->endpoint, sizeof self->endpoint, "tcp://127.0.0.1:%d", port);
    snprintf (self->log_path, sizeof self->log_path, "%s/node.log", self->dir);
    if (run_cmd_binary ("lantern-intake", self->binary, sizeof self->binary) != 0)
        goto fail;

    snprintf (self->config_path, sizeof self->config_path, "%s/intake.cfg", self->dir);
    FILE *f = fopen (self->config_path, "w");
    if (!f)
        goto fail;
    fprintf (f, "node = \"%s\";\norganisation = \"", self->node);
    s_put_string (f, org);
    fprintf (f, "\";\norganisation_type = \"%s\";\nendpoint = \"%s\";\nlog_level = \"info\";\n",
             config->organisation_type ? config->organisation_type : "municipality",
             self->endpoint);
    if (config->batch_max > 0)
        fprintf (f, "batch_max = %d;\n", config->batch_max);
    fprintf (f, "database = { conninfo = \"");
    s_put_string (f, self->conninfo);
    fprintf (f, "\"; owner_conninfo = \"");
    s_put_string (f, self->owner_conninfo);
    fprintf (f, "\"; schema = \"%s\"; };\n", SCHEMA);
    fprintf (f, "keys = { secret = \"%s\"; registry = \"%s\"; regional = \"regional.key\"; };\n",
             bus_keys_secret (self->keys, self->node), bus_keys_registry (self->keys));
    fprintf (f, "catalogue = \"");
    s_put_string (f, self->catalogue);
    fprintf (f, "\";\n%s\n", config->extra_config ? config->extra_config : "");
    if (fclose (f) != 0)
        goto fail;

    if (s_migrate (self) != 0 || s_spawn (self) != 0)
        goto fail;
    self->db = ln_db_connect (self->conninfo, SCHEMA, NULL, &err);
    if (!self->db) {
        fprintf (stderr, "intake_fixture: %s\n", err.message);
        goto fail;
    }
    return self;
fail:
    fprintf (stderr, "intake_fixture: could not start (%s)\n", strerror (errno));
    intake_fix_stop (&self);
    return NULL;
}

int
intake_fix_stop (intake_fix_t **self_p)
{
    if (!self_p || !*self_p)
        return 0;
    intake_fix_t *self = *self_p;
    int rc = 0;
    if (self->child && proc_child_running (self->child)) {
        int status = -1;
        proc_child_signal (self->child, SIGTERM);
        if (proc_child_wait (self->child, 20000, &status) != 0 || status != 0) {
            fprintf (stderr, "intake_fixture: node exited with %d; log: %s\n", status,
                     self->log_path);
            rc = -1;
        }
    }
    proc_child_destroy (&self->child);
    ln_db_destroy (&self->db);
    bus_keys_destroy (&self->keys);
    ln_pgfix_destroy (&self->pg);
    free (self->conninfo);
    free (self->owner_conninfo);
    /* LANTERN_KEEP_TEST_DIRS=1 keeps the node's directory (config, log) */
    if (rc == 0 && run_cmd_remove_test_dir (self->dir) != 0)
        rc = -1;
    free (self);
    *self_p = NULL;
    return rc;
}

int
intake_fix_restart (intake_fix_t *self)
{
    int status = -1;
    proc_child_signal (self->child, SIGTERM);
    if (proc_child_wait (self->child, 20000, &status) != 0 || status != 0)
        return -1;
    proc_child_destroy (&self->child);
    return s_spawn (self);
}

const char *
intake_fix_endpoint (const intake_fix_t *self)
{
    return self->endpoint;
}

pid_t
intake_fix_pid (const intake_fix_t *self)
{
    return proc_child_pid (self->child);
}

const char *
intake_fix_server_key (const intake_fix_t *self)
{
    return self->server_key;
}

const char *
intake_fix_server_pub (const intake_fix_t *self)
{
    return self->server_pub;
}

const char *
intake_fix_config_path (const intake_fix_t *self)
{
    return self->config_path;
}

const char *
intake_fix_regional_key (const intake_fix_t *self)
{
    return self->regional;
}

const char *
intake_fix_catalogue (const intake_fix_t *self)
{
    return self->catalogue;
}

const char *
intake_fix_secret (const intake_fix_t *self, const char *name)
{
    return bus_keys_secret (self->keys, name);
}

bus_keys_t *
intake_fix_keys (intake_fix_t *self)
{
    return self->keys;
}

ln_pgfix_t *
intake_fix_pg (intake_fix_t *self)
{
    return self->pg;
}

ln_db_t *
intake_fix_db (intake_fix_t *self)
{
    return self->db;
}

ln_client_t *
intake_fix_client (intake_fix_t *self, const char *name)
{
    ln_error_t err;
    zcert_t *cert = bus_keys_cert (self->keys, name);
    if (!cert)
        return NULL;
    ln_client_t *client = ln_client_new (self->endpoint, self->server_key, cert, &err);
    zcert_destroy (&cert);
    if (!client)
        fprintf (stderr, "intake_fixture: client %s: %s\n", name, err.message);
    return client;
}

long
intake_fix_count (intake_fix_t *self, const char *table)
{
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM " SCHEMA ".%s", table);
    char *v = ln_pgfix_query_value (self->pg, sql, 0, NULL);
    if (!v)
        return -1;
    long n = strtol (v, NULL, 10);
    free (v);
    return n;
}

char *
intake_fix_snapshot (intake_fix_t *self, bool except_audit)
{
    /* every table of the schema, each row as text, in a stable order */
    const char *params[1] = {except_audit ? "t" : "f"};
    return ln_pgfix_query_value (
        self->pg,
        "SELECT string_agg(table_name || E':\\n' || coalesce((xpath('/row/c/text()',"
        " query_to_xml(format('SELECT string_agg(t::text, E''\\n'' ORDER BY t::text) AS c"
        " FROM %I.%I t', table_schema, table_name), false, true, '')))[1]::text, ''),"
        " E'\\n' ORDER BY table_name) FROM information_schema.tables"
        " WHERE table_schema = '" SCHEMA "'"
        " AND NOT ($1::boolean AND table_name IN ('audit', 'audit_head'))",
        1, params);
}
