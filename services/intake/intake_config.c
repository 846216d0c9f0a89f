/*  intake_config: the intake node's configuration file (intake_config.h). */
#include "intake_config.h"

#include <libgen.h>
#include <stdio.h>
#include <string.h>

#include "lantern.pb-c.h"
#include "ln_config.h"

static const char *const s_org_types[] = {"municipality",
                                          "police",
                                          "labour_inspectorate",
                                          "royal_marechaussee",
                                          "care_provider",
                                          "hotline",
                                          "other",
                                          NULL};
static const char *const s_log_levels[] = {"debug", "info", "warn", "error", NULL};
static const char *const s_projections[] = {"full", "pseudonymised", "statistical", NULL};

static const ln_config_spec_t s_specs[] = {
    {.path = "node", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 63},
    {.path = "organisation", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 128},
    {.path = "organisation_type",
     .type = LN_CONFIG_ENUM,
     .required = true,
     .values = s_org_types,
     .default_str = "municipality"},
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
    {.path = "keys.regional", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 1024},
    {.path = "catalogue", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 1024},
    {.path = "events", .type = LN_CONFIG_GROUP},
    {.path = "events.level", .type = LN_CONFIG_LEVEL, .default_str = "vertrouwelijk"},
    {.path = "events.retention_days",
     .type = LN_CONFIG_INT,
     .min = 0,
     .max = 3650,
     .default_int = 30},
    {.path = "retention", .type = LN_CONFIG_GROUP},
    {.path = "retention.withdrawn_days",
     .type = LN_CONFIG_INT,
     .min = 1,
     .max = 3650,
     .default_int = 30},
    {.path = "retention.no_action_days",
     .type = LN_CONFIG_INT,
     .min = 1,
     .max = 3650,
     .default_int = 90},
    {.path = "retention.interval_s",
     .type = LN_CONFIG_INT,
     .min = 1,
     .max = 86400,
     .default_int = 3600},
    {.path = "stream", .type = LN_CONFIG_GROUP_LIST, .max = INTAKE_CONFIG_RULES_MAX},
    {.path = "stream.[].role", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 127},
    {.path = "stream.[].type", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 127},
    {.path = "stream.[].projection",
     .type = LN_CONFIG_ENUM,
     .required = true,
     .values = s_projections,
     .default_str = "full"},
    LN_CONFIG_SPEC_END};

/* A path from the file: absolute as is, relative to the file's directory. */
static int
s_path (const char *config_path, const char *value, char *out, size_t size, const char *setting,
        ln_error_t *err)
{
    int n;
    if (value[0] == '/')
        n = snprintf (out, size, "%s", value);
    else {
        char copy[INTAKE_CONFIG_PATH_MAX];
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
intake_config_load (const char *path, intake_config_t *c, ln_error_t *err)
{
    int rc = -1;
    memset (c, 0, sizeof *c);
    ln_config_t *cfg = ln_config_load (path, s_specs, err);
    if (!cfg)
        return -1;
    snprintf (c->node, sizeof c->node, "%s", ln_config_string (cfg, "node"));
    snprintf (c->organisation, sizeof c->organisation, "%s",
              ln_config_string (cfg, "organisation"));
    /* s_org_types is in the order of lantern.v1.OrganisationType, from 1 */
    c->organisation_type = ln_config_enum (cfg, "organisation_type") + 1;
    snprintf (c->endpoint, sizeof c->endpoint, "%s", ln_config_string (cfg, "endpoint"));
    snprintf (c->log_level, sizeof c->log_level, "%s", ln_config_string (cfg, "log_level"));
    snprintf (c->conninfo, sizeof c->conninfo, "%s", ln_config_string (cfg, "database.conninfo"));
    snprintf (c->schema, sizeof c->schema, "%s", ln_config_string (cfg, "database.schema"));
    const char *owner = ln_config_string (cfg, "database.owner_conninfo");
    snprintf (c->owner_conninfo, sizeof c->owner_conninfo, "%s", owner ? owner : "");
    if (!ln_db_schema_valid (c->schema)) {
        ln_error_set (err, "CONFIG_VALUE", "database.schema",
                      "%s: database.schema: must be [a-z_][a-z0-9_]{0,62}", path);
        goto out;
    }
    if (s_path (path, ln_config_string (cfg, "keys.secret"), c->secret, sizeof c->secret,
                "keys.secret", err) != 0 ||
        s_path (path, ln_config_string (cfg, "keys.registry"), c->registry, sizeof c->registry,
                "keys.registry", err) != 0 ||
        s_path (path, ln_config_string (cfg, "keys.regional"), c->regional, sizeof c->regional,
                "keys.regional", err) != 0 ||
        s_path (path, ln_config_string (cfg, "catalogue"), c->catalogue, sizeof c->catalogue,
                "catalogue", err) != 0)
        goto out;
    c->event_level = ln_config_level (cfg, "events.level");
    c->event_retention_days = ln_config_int (cfg, "events.retention_days");
    c->withdrawn_days = ln_config_int (cfg, "retention.withdrawn_days");
    c->no_action_days = ln_config_int (cfg, "retention.no_action_days");
    c->purge_interval_s = ln_config_int (cfg, "retention.interval_s");
    c->batch_max = ln_config_int (cfg, "batch_max");
    c->rule_count = ln_config_list_size (cfg, "stream");
    for (size_t i = 0; i < c->rule_count; i++) {
        const ln_config_t *r = ln_config_element (cfg, "stream", i);
        snprintf (c->rule_text[i][0], sizeof c->rule_text[i][0], "%s",
                  ln_config_string (r, "role"));
        snprintf (c->rule_text[i][1], sizeof c->rule_text[i][1], "%s",
                  ln_config_string (r, "type"));
        c->rules[i].role = c->rule_text[i][0];
        c->rules[i].type = c->rule_text[i][1];
        ln_projection_parse (ln_config_string (r, "projection"), &c->rules[i].projection);
    }
    rc = 0;
out:
    ln_config_destroy (&cfg);
    return rc;
}
