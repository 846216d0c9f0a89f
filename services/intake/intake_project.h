/*  intake_project: who follows an intake node, and what each may see.

    The outbox holds each signal event as triage needs it (FULL: persons,
    account and tokens; never the reporter, who stays on the node).  Other
    projections are made at the source, per subscriber, by
    intake_project (an ln_project_fn):
      STATISTICAL    for monitoring: the signal's id, node, organisation
                     and its type, status, version, catalogue version,
                     times, and of its details only observed_on,
                     municipality, forms, sector, indicators and the two
                     urgency flags.  No person, address, vehicle, employer,
                     account, token, reporter or submitting officer; a
                     withdrawal's free-text reason is dropped too.
      PSEUDONYMISED  for matching: the statistical fields plus, per person,
                     address, vehicle and employer, its role and tokens only.
    The default stream policy (intake_project_default_rules): role "triage"
    gets signal events FULL, role "monitor" STATISTICAL, role "matcher"
    PSEUDONYMISED; node notices go to every follower.  A node's config may
    replace it (docs/operations.md).
*/
#ifndef INTAKE_PROJECT_H
#define INTAKE_PROJECT_H

#include <stddef.h>
#include <stdint.h>

#include "ln_server.h"

int intake_project (void *arg, const ln_principal_t *subscriber, ln_projection_t projection,
                    const ln_outbox_row_t *row, uint8_t **out, size_t *out_size);

const ln_stream_rule_t *intake_project_default_rules (size_t *count);

#endif
