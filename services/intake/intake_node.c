/*  intake_node: the intake service's settings and state on the node
    skeleton (common/ln_node.h): what main.c declares as its configuration
    and its start, stop and --check description.  The node's own settings
    are the skeleton's; intake adds its organisation, the regional key, the
    catalogue and retention, and runs the retention purge as a periodic
    job (docs/operations.md "Configuring an intake node").
*/
#include "intake_node.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake_store.h"
#include "ln_alloc.h"
#include "ln_clock.h"
#include "ln_log.h"

#define PURGE_BATCH 1000
#define PATH_SIZE   1024

static const char *const s_org_types[] = {"municipality",
                                          "police",
                                          "labour_inspectorate",
                                          "royal_marechaussee",
                                          "care_provider",
                                          "hotline",
                                          "other",
                                          NULL};

/* Intake's own settings (the node's are in ln_node.h). */
const ln_config_spec_t intake_settings[] = {
    {.path = "organisation", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 128},
    {.path = "organisation_type",
     .type = LN_CONFIG_ENUM,
     .required = true,
     .values = s_org_types, /* lantern.v1.OrganisationType, from 1 */
     .default_str = "municipality"},
    {.path = "keys.regional", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 1024},
    {.path = "catalogue", .type = LN_CONFIG_STRING, .required = true, .min = 1, .max = 1024},
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
    LN_CONFIG_SPEC_END};

/* The retention purge: what is due, in batches, each erased everywhere. */
static int
s_purge (void *state, ln_node_t *node, int64_t now_us)
{
    intake_t *in = state;
    ln_error_t err;
    ln_error_clear (&err);
    size_t purged = 0;
    do {
        if (intake_store_purge (ln_node_db (node), now_us - in->withdrawn_retention_us,
                                now_us - in->no_action_retention_us, PURGE_BATCH, "retention",
                                in->event_level, &purged, &err) != 0) {
            ln_log_error ("retention purge failed", "code=%s error=%s", err.code, err.message);
            return -1;
        }
        if (purged)
            ln_log_info ("retention purged signals", "count=%zu", purged);
    } while (purged == PURGE_BATCH);
    return 0;
}

void
intake_stop (void *state)
{
    intake_t *in = state;
    if (!in)
        return;
    ln_catalogue_destroy ((ln_catalogue_t **)&in->catalogue);
    ln_pseudonym_key_wipe (&in->key);
    free (in);
}

void *
intake_start (ln_node_t *node, bool check, ln_error_t *err)
{
    const ln_config_t *cfg = ln_node_config (node);
    intake_t *in = ln_xcalloc (1, sizeof *in);
    char path[PATH_SIZE];
    snprintf (in->node, sizeof in->node, "%s", ln_node_name (node));
    snprintf (in->organisation, sizeof in->organisation, "%s",
              ln_config_string (cfg, "organisation"));
    in->organisation_type = ln_config_enum (cfg, "organisation_type") + 1;
    in->event_level = ln_node_event_level (node);
    in->withdrawn_retention_us = ln_config_int (cfg, "retention.withdrawn_days") * 86400000000LL;
    in->no_action_retention_us = ln_config_int (cfg, "retention.no_action_days") * 86400000000LL;
    in->clock_us = ln_clock_wall_us;

    /* The event log must not keep a signal longer than the signal itself:
       a purge erases its events (ln_outbox_erase), and a pruning period,
       when set, may not be longer than the longest data retention. */
    long long events_days = ln_config_int (cfg, "events.retention_days");
    long long data_days = ln_config_int (cfg, "retention.withdrawn_days");
    if (ln_config_int (cfg, "retention.no_action_days") > data_days)
        data_days = ln_config_int (cfg, "retention.no_action_days");
    if (events_days > data_days) {
        ln_error_set (err, "CONFIG_RANGE", "events.retention_days",
                      "%s: events.retention_days: %lld days would keep signal events longer than "
                      "the signals themselves (at most %lld, the longest of retention.*; 0 keeps "
                      "events until their signal is purged)",
                      ln_node_config_path (node), events_days, data_days);
        goto fail;
    }
    if (ln_node_path (node, "keys.regional", path, sizeof path, err) != 0 ||
        ln_pseudonym_key_load (path, &in->key, err) != 0)
        goto fail;
    ln_log_forbid (in->key.bytes, sizeof in->key.bytes);
    if (ln_node_path (node, "catalogue", path, sizeof path, err) != 0 ||
        !(in->catalogue = ln_catalogue_load (path, err)))
        goto fail;
    if (!check &&
        ln_node_add_job (node, "retention", ln_config_int (cfg, "retention.interval_s") * 1000,
                         s_purge, in) != 0) {
        ln_error_set (err, "INTERNAL", NULL, "cannot add the retention job");
        goto fail;
    }
    return in;
fail:
    intake_stop (in);
    return NULL;
}

void
intake_describe (void *state, char *out, size_t size)
{
    const intake_t *in = state;
    snprintf (out, size, "catalogue %s (%zu indicators)", ln_catalogue_version (in->catalogue),
              ln_catalogue_size (in->catalogue));
}
