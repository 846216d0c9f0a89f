/*  intake_node: the intake service on the node skeleton (intake_node.c). */
#ifndef INTAKE_NODE_H
#define INTAKE_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include "intake.h"
#include "ln_node.h"

/* Intake's own settings, beside the node's (ln_node.h). */
extern const ln_config_spec_t intake_settings[];

/* ln_service_t.start / stop / describe: the intake_t of the node. */
void *intake_start (ln_node_t *node, bool check, ln_error_t *err);
void intake_stop (void *state);
void intake_describe (void *state, char *out, size_t size);

#endif
