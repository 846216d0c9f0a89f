/*  lantern-triage: the screening meeting's node, where the signals of many
    intake nodes become cases, the weekly agenda is made and the meeting's
    decisions are kept.

    The node skeleton (common/ln_node.h) does what every node does; this
    file declares the service: its settings, state and consumers
    (triage_node), its tables (triage_store), its commands
    (triage_commands), its events and who may see what of them
    (triage_project).  Usage: lantern-triage --help.
*/
#include "ln_node.h"
#include "triage_commands.h"
#include "triage_node.h"
#include "triage_project.h"
#include "triage_store.h"

int
main (int argc, char **argv)
{
    size_t nmigrations = 0, ncommands = 0, nrules = 0;
    const ln_migration_t *migrations = triage_store_migrations (&nmigrations);
    const ln_command_t *commands = triage_commands (&ncommands);
    const ln_stream_rule_t *rules = triage_project_default_rules (&nrules);
    const ln_service_t service = {
        .name = "triage",
        .summary = "The screening meeting's node: signals of every intake node become cases",
        .kind = 2, /* lantern.v1.SERVICE_KIND_TRIAGE */
        .config = triage_settings,
        .migrations = migrations,
        .migration_count = nmigrations,
        .events = triage_node_event_types,
        .event_count = triage_node_event_type_count,
        .follows = triage_intake_types,
        .follow_count = triage_intake_type_count,
        .commands = commands,
        .command_count = ncommands,
        .rules = rules,
        .rule_count = nrules,
        .project = triage_project,
        .apply = triage_node_apply,
        .start = triage_start,
        .stop = triage_stop,
        .describe = triage_describe,
    };
    return ln_node_main (&service, argc, argv);
}
