/*  lantern-intake: the attention officer's node, where signals come in.

        lantern-intake --config FILE       serve until SIGTERM / SIGINT
        lantern-intake --config FILE --check
                                           check the configuration, the keys,
                                           the catalogue and that the schema
                                           is current; then exit
        lantern-intake --config FILE --migrate
                                           migrate the schema as its owner
                                           (database.owner_conninfo), grant
                                           the runtime role, exit
        lantern-intake --help | --version

    Prints "ready ENDPOINT" on stdout once it serves (scripts and tests wait
    for it); logs go to stderr (logfmt).  SIGTERM: finish the batch in hand
    and exit 0.  Exit status 1: it could not start (the reason on stderr);
    2: usage.  The modules: intake_config (the file), intake_commands,
    intake_project (stream policy), intake_store (tables, retention).
*/
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake.h"
#include "intake_commands.h"
#include "intake_config.h"
#include "intake_project.h"
#include "intake_store.h"
#include "ln_auth.h"
#include "ln_clock.h"
#include "ln_log.h"
#include "ln_server.h"
#include "ln_version.h"

#define PURGE_BATCH 1000

static ln_server_t *s_server;

static void
s_on_signal (int sig)
{
    (void)sig;
    if (s_server)
        ln_server_stop (s_server);
}

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: lantern-intake --config FILE [--check | --migrate]\n"
                  "       lantern-intake --help | --version\n"
                  "\n"
                  "The attention officer's node: signals come in here (docs/operations.md).\n"
                  "  --config FILE  the node's configuration (example: deploy/intake.cfg.example)\n"
                  "  --check        check the configuration, keys and catalogue, connect to\n"
                  "                 PostgreSQL and check that the schema is current, then exit\n"
                  "  --migrate      migrate the schema as its owner (database.owner_conninfo)\n"
                  "                 and grant the runtime role (database.conninfo), then exit\n"
                  "  --help         this text\n"
                  "  --version      the Lantern version\n");
}

/* The library's migrations and the service's, in one list (caller frees). */
static ln_migration_t *
s_migrations (size_t *count)
{
    size_t nlib = 0, nsvc = 0;
    const ln_migration_t *lib = ln_server_migrations (&nlib);
    const ln_migration_t *svc = intake_store_migrations (&nsvc);
    ln_migration_t *all = calloc (nlib + nsvc, sizeof *all);
    if (!all)
        abort ();
    memcpy (all, lib, nlib * sizeof *all);
    memcpy (all + nlib, svc, nsvc * sizeof *all);
    *count = nlib + nsvc;
    return all;
}

/* --migrate: as the owner (owner_conninfo; without one, the single role of
   conninfo), apply the migrations and grant the runtime role, the role
   that conninfo logs in as. */
static int
s_migrate (const intake_config_t *cfg, ln_error_t *err)
{
    int rc = -1;
    size_t n = 0;
    ln_migration_t *all = s_migrations (&n);
    ln_db_retry_t retry = {100, 2000, 10000};
    ln_db_t *runtime = ln_db_connect (cfg->conninfo, cfg->schema, &retry, err);
    ln_db_t *owner = NULL;
    char role[64] = "";
    if (!runtime)
        goto out;
    snprintf (role, sizeof role, "%s", PQuser (ln_db_conn (runtime)));
    ln_db_destroy (&runtime);
    if (cfg->owner_conninfo[0]) {
        owner = ln_db_connect (cfg->owner_conninfo, cfg->schema, &retry, err);
        if (!owner || ln_db_migrate_as_owner (owner, all, n, role, err) != 0)
            goto out;
        printf ("lantern-intake: schema %s migrated by %s; runtime role %s granted\n", cfg->schema,
                PQuser (ln_db_conn (owner)), role);
    }
    else {
        owner = ln_db_connect (cfg->conninfo, cfg->schema, &retry, err);
        if (!owner || ln_db_migrate_as_owner (owner, all, n, NULL, err) != 0)
            goto out;
        printf ("lantern-intake: schema %s migrated by %s (no database.owner_conninfo: the node "
                "serves as the schema's owner)\n",
                cfg->schema, role);
    }
    rc = 0;
out:
    ln_db_destroy (&owner);
    free (all);
    return rc;
}

/* Purge what retention says is due; log what was purged. */
static void
s_purge (intake_t *in, ln_db_t *db)
{
    ln_error_t err;
    ln_error_clear (&err);
    int64_t now = in->clock_us ();
    size_t purged = 0;
    do {
        if (intake_store_purge (db, now - in->withdrawn_retention_us,
                                now - in->no_action_retention_us, PURGE_BATCH, "retention", &purged,
                                &err) != 0) {
            ln_log_error ("retention purge failed", "code=%s error=%s", err.code, err.message);
            return;
        }
        if (purged)
            ln_log_info ("retention purged signals", "count=%zu", purged);
    } while (purged == PURGE_BATCH);
}

int
main (int argc, char **argv)
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
            s_usage (stdout);
            return 0;
        case 'V':
            printf ("lantern-intake %s\n", LN_VERSION);
            return 0;
        default:
            s_usage (stderr);
            return 2;
        }
    }
    if (!config_path || optind != argc || (check && migrate)) {
        fprintf (stderr, "lantern-intake: %s\n",
                 !config_path       ? "--config FILE is required"
                 : check && migrate ? "--check and --migrate exclude each other"
                                    : "unexpected argument");
        s_usage (stderr);
        return 2;
    }

    int rc = 1;
    ln_error_t err;
    ln_error_clear (&err);
    intake_config_t *cfg = calloc (1, sizeof *cfg);
    intake_t *in = calloc (1, sizeof *in);
    zcert_t *cert = NULL;
    ln_registry_t *registry = NULL;
    ln_auth_t *auth = NULL;
    ln_db_t *db = NULL;
    ln_catalogue_t *catalogue = NULL;
    if (!cfg || !in)
        abort ();

    if (intake_config_load (config_path, cfg, &err) != 0)
        goto fail;
    ln_log_level_t level = LN_LOG_INFO;
    ln_log_level_parse (cfg->log_level, &level);
    ln_log_init (cfg->node, level);
    /* Before the keys: --migrate may run as another user (one who can read
       the owner's password), who has no business with the node's keys. */
    if (migrate) {
        if (s_migrate (cfg, &err) != 0)
            goto fail;
        rc = 0;
        goto out;
    }

    zsys_init ();
    zsys_handler_set (NULL);
    signal (SIGTERM, s_on_signal);
    signal (SIGINT, s_on_signal);

    cert = ln_keys_load_secret (cfg->secret, &err);
    if (!cert)
        goto fail;
    registry = ln_registry_load (cfg->registry, &err);
    if (!registry)
        goto fail;
    auth = ln_auth_new (&registry, &err);
    if (!auth)
        goto fail;
    if (ln_pseudonym_key_load (cfg->regional, &in->key, &err) != 0)
        goto fail;
    ln_log_forbid (in->key.bytes, sizeof in->key.bytes);
    catalogue = ln_catalogue_load (cfg->catalogue, &err);
    if (!catalogue)
        goto fail;

    snprintf (in->node, sizeof in->node, "%s", cfg->node);
    snprintf (in->organisation, sizeof in->organisation, "%s", cfg->organisation);
    in->organisation_type = cfg->organisation_type;
    in->catalogue = catalogue;
    in->event_level = cfg->event_level;
    in->withdrawn_retention_us = cfg->withdrawn_days * 86400LL * 1000000LL;
    in->no_action_retention_us = cfg->no_action_days * 86400LL * 1000000LL;
    in->clock_us = ln_clock_wall_us;

    /* A short retry budget: the node's loop must not hang for a minute on
       a lost database (docs/operations.md). */
    ln_db_retry_t retry = {100, 2000, check ? 5000 : 30000};
    db = ln_db_connect (cfg->conninfo, cfg->schema, &retry, &err);
    if (!db)
        goto fail;
    /* Serving never uses the owner: the schema must be current (--migrate),
       unless this role owns it (a single role, as before: it migrates). */
    size_t nmig = 0;
    ln_migration_t *migrations = s_migrations (&nmig);
    int ready = ln_db_schema_ready (db, migrations, nmig, &err);
    free (migrations);
    if (ready != 0)
        goto fail;
    if (check) {
        printf ("lantern-intake: %s: configuration, keys, catalogue %s (%zu indicators) and "
                "database schema %s are in order\n",
                config_path, ln_catalogue_version (catalogue), ln_catalogue_size (catalogue),
                cfg->schema);
        rc = 0;
        goto out;
    }

    size_t ncommands = 0, nrules = cfg->rule_count;
    const ln_command_t *commands = intake_commands (&ncommands);
    const ln_stream_rule_t *rules = nrules ? cfg->rules : intake_project_default_rules (&nrules);
    ln_server_config_t sc = {
        .node = cfg->node,
        .endpoint = cfg->endpoint,
        .cert = cert,
        .auth = auth,
        .db = db,
        .commands = commands,
        .command_count = ncommands,
        .rules = rules,
        .rule_count = nrules,
        .project = intake_project,
        .arg = in,
        .batch_max = (size_t)cfg->batch_max,
        .retention_ms = cfg->event_retention_days * 86400LL * 1000LL,
    };
    s_server = ln_server_new (&sc, &err);
    if (!s_server)
        goto fail;
    ln_log_info ("intake serving", "endpoint=%s organisation=%s catalogue=%s",
                 ln_server_endpoint (s_server), in->organisation, ln_catalogue_version (catalogue));
    printf ("ready %s\n", ln_server_endpoint (s_server));
    fflush (stdout);

    int64_t purge_at = 0;
    while (ln_server_step (s_server, 1000) == 0) {
        int64_t now = ln_clock_mono_ms ();
        if (now >= purge_at) {
            s_purge (in, db);
            purge_at = now + cfg->purge_interval_s * 1000;
        }
    }
    ln_log_info ("intake stopped", "");
    rc = 0;
    goto out;
fail:
    fprintf (stderr, "lantern-intake: %s%s%s: %s\n", err.code ? err.code : "ERROR",
             err.field[0] ? " " : "", err.field, err.message);
out:
    ln_server_destroy (&s_server);
    ln_db_destroy (&db);
    ln_auth_destroy (&auth);
    ln_registry_destroy (&registry);
    zcert_destroy (&cert);
    ln_catalogue_destroy (&catalogue);
    if (in)
        ln_pseudonym_key_wipe (&in->key);
    free (in);
    free (cfg);
    return rc;
}
