/*  lantern-intake: the attention officer's node, where signals come in.

    The node skeleton (common/ln_node.h) does what every node does; this
    file declares the service: its settings and state (intake_node), its
    tables (intake_store), its commands (intake_commands), its events
    (intake_events), who may see what of them (intake_project), and what
    it takes from the triage node it follows (intake_feedback: the status
    of its signals).
    Usage: lantern-intake --help.
*/
#include "intake.h"
#include "intake_commands.h"
#include "intake_feedback.h"
#include "intake_node.h"
#include "intake_project.h"
#include "intake_store.h"
#include "ln_node.h"

int
main (int argc, char **argv)
{
    size_t nmigrations = 0, ncommands = 0, nrules = 0;
    const ln_migration_t *migrations = intake_store_migrations (&nmigrations);
    const ln_command_t *commands = intake_commands (&ncommands);
    const ln_stream_rule_t *rules = intake_project_default_rules (&nrules);
    const ln_service_t service = {
        .name = "intake",
        .summary = "The attention officer's node: signals come in here",
        .kind = 1, /* lantern.v1.SERVICE_KIND_INTAKE */
        .config = intake_settings,
        .migrations = migrations,
        .migration_count = nmigrations,
        .events = intake_event_types,
        .event_count = intake_event_type_count,
        .follows = intake_feedback_types,
        .follow_count = intake_feedback_type_count,
        .commands = commands,
        .command_count = ncommands,
        .rules = rules,
        .rule_count = nrules,
        .project = intake_project,
        .apply = intake_feedback_apply,
        .start = intake_start,
        .stop = intake_stop,
        .describe = intake_describe,
    };
    return ln_node_main (&service, argc, argv);
}
