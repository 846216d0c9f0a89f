/*  intake_config: the intake node's configuration file (libconfig).

    An example with every setting is deploy/intake.cfg.example; the meaning
    of each is in docs/operations.md ("Configuring an intake node").
    Relative paths in the file are taken relative to the file's directory,
    so a node's directory can be moved as a whole.
*/
#ifndef INTAKE_CONFIG_H
#define INTAKE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"
#include "ln_level.h"
#include "ln_server.h"

#define INTAKE_CONFIG_PATH_MAX  4096
#define INTAKE_CONFIG_RULES_MAX 64

typedef struct {
    char node[64];
    char organisation[129];
    int organisation_type; /* lantern.v1.OrganisationType */
    char endpoint[256];
    char log_level[16];
    char conninfo[1024];       /* the runtime role's connection */
    char owner_conninfo[1024]; /* the schema owner's, for --migrate; "" when none */
    char schema[64];
    char secret[INTAKE_CONFIG_PATH_MAX];   /* the node's secret key file */
    char registry[INTAKE_CONFIG_PATH_MAX]; /* directory of known principals */
    char regional[INTAKE_CONFIG_PATH_MAX]; /* the regional pseudonym key */
    char catalogue[INTAKE_CONFIG_PATH_MAX];
    ln_level_t event_level;
    int64_t event_retention_days; /* 0: keep the event log forever */
    int64_t withdrawn_days;
    int64_t no_action_days;
    int64_t purge_interval_s;
    int64_t batch_max;
    /* the stream policy; rule_count 0: the default (intake_project.h) */
    ln_stream_rule_t rules[INTAKE_CONFIG_RULES_MAX];
    char rule_text[INTAKE_CONFIG_RULES_MAX][2][128];
    size_t rule_count;
} intake_config_t;

/* Load and check the file.  Returns 0, or -1 with err set (the message
   names FILE:LINE and the setting, see ln_config.h). */
int intake_config_load (const char *path, intake_config_t *config, ln_error_t *err);

#endif
