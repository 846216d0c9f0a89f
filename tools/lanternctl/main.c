/*  lanternctl: the one command-line client of Lantern.

    This file holds the global options and the table of commands; each
    command lives in its own file (keygen.c, ...) behind the signature in
    lanternctl.h.  Unknown commands and options are usage errors (exit 2),
    reported on stderr as "lanternctl: ...".  --help also states the exit
    statuses, which are the same for every command (lanternctl.h).
*/
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lanternctl.h"
#include "ln_version.h"

typedef struct {
    const char *name;
    int (*run) (int argc, char **argv);
    const char *summary;
} command_t;

static const command_t s_commands[] = {
    {"keygen", lanternctl_keygen, "generate a CURVE key pair as NAME.pub and NAME.secret"},
    {"audit", lanternctl_audit, "verify a node's hash-chained audit trail"},
    {"call", lanternctl_call, "call a command of a node (JSON in, JSON out)"},
    {"events", lanternctl_events, "follow a node's event log (events tail)"},
    {"signal", lanternctl_signal, "submit, amend, withdraw, show and list signals (intake)"},
    {"upstream", lanternctl_upstream, "the nodes a node follows: list, resync, skip"},
    {"agenda", lanternctl_agenda, "the screening meeting's agenda (triage; --html for print)"},
    {"case", lanternctl_case, "show, list and close cases (triage)"},
    {"decide", lanternctl_decide, "record the meeting's decision on a case (triage)"},
    {"track", lanternctl_track, "move a track on: in progress, done, handed back (triage)"},
    {"tracks", lanternctl_tracks, "the tracks decisions opened, --overdue ones (triage)"},
    {"alerts", lanternctl_alerts, "immediate-danger and minor alerts; ack one (triage)"},
};
#define COMMAND_COUNT (sizeof s_commands / sizeof s_commands[0])

int
lanternctl_usage_error (const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    fprintf (stderr, "lanternctl: %s: ", cmd);
    vfprintf (stderr, fmt, ap);
    fprintf (stderr, "\ntry 'lanternctl %s --help'\n", cmd);
    va_end (ap);
    return LANTERNCTL_EXIT_USAGE;
}

static void
s_usage (FILE *out)
{
    fprintf (out, "usage: lanternctl [--help] [--version] COMMAND [ARGS...]\n\n"
                  "The command-line client of Lantern.\n\ncommands:\n");
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf (out, "  %-10s %s\n", s_commands[i].name, s_commands[i].summary);
    fprintf (out, "\n'lanternctl COMMAND --help' tells more about one command.\n\n%s",
             LANTERNCTL_EXIT_HELP);
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        s_usage (stderr);
        return LANTERNCTL_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp (cmd, "--help") == 0 || strcmp (cmd, "-h") == 0 || strcmp (cmd, "help") == 0) {
        s_usage (stdout);
        return LANTERNCTL_EXIT_OK;
    }
    if (strcmp (cmd, "--version") == 0 || strcmp (cmd, "version") == 0) {
        printf ("lanternctl %s\n", LN_VERSION);
        return LANTERNCTL_EXIT_OK;
    }
    lanternctl_register_types ();
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        if (strcmp (cmd, s_commands[i].name) == 0)
            return s_commands[i].run (argc - 1, argv + 1);

    if (cmd[0] == '-')
        fprintf (stderr, "lanternctl: unknown option '%s'\n", cmd);
    else
        fprintf (stderr, "lanternctl: unknown command '%s'\n", cmd);
    fprintf (stderr, "Try 'lanternctl --help'.\n");
    return LANTERNCTL_EXIT_USAGE;
}
