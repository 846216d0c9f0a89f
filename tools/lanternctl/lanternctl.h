/*  lanternctl: the one command-line client of Lantern, for people and scripts.

    main.c parses the global options and dispatches to one function per
    command.  Each command function gets argv with argv[0] = the command name,
    prints its own --help, writes results to stdout and errors to stderr
    ("lanternctl: COMMAND: what is wrong"), and returns the process exit code.
    One scheme for every command (LANTERNCTL_EXIT_HELP says it to users):
      0  done
      1  refused by the node, or a check that failed (audit verify not ok)
      2  usage: bad flags, or bad local input that never left this machine
      3  unreachable: no reply in time, no connection, the node (or its
         database) unavailable; trying again later may work
      4  local error: a key or file that cannot be read or written, output
         that cannot be written
*/
#ifndef LANTERNCTL_H
#define LANTERNCTL_H

#define LANTERNCTL_EXIT_OK          0
#define LANTERNCTL_EXIT_FAIL        1
#define LANTERNCTL_EXIT_USAGE       2
#define LANTERNCTL_EXIT_UNAVAILABLE 3
#define LANTERNCTL_EXIT_LOCAL       4 /* a key or file that cannot be read or written */

/* The exit statuses, for every command's --help. */
#define LANTERNCTL_EXIT_HELP                                                                       \
    "exit status (the same for every lanternctl command):\n"                                       \
    "  0  done\n"                                                                                  \
    "  1  refused by the node (one line on stderr: CODE at FIELD: message), or a\n"                \
    "     check that failed\n"                                                                     \
    "  2  usage: a bad flag or bad input; nothing was sent\n"                                      \
    "  3  unreachable: no reply in time (node down, wrong endpoint, or our key not in\n"           \
    "     its registry), or the node unavailable: try again later\n"                               \
    "  4  local error: a key or file that cannot be read or written\n"

/* Print "lanternctl: CMD: <message>" and a pointer to 'lanternctl CMD
   --help' on stderr; returns LANTERNCTL_EXIT_USAGE (main.c). */
int lanternctl_usage_error (const char *cmd, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* keygen.c */
int lanternctl_keygen (int argc, char **argv);
int lanternctl_audit (int argc, char **argv);
/* call.c */
int lanternctl_call (int argc, char **argv);
/* events.c */
int lanternctl_events (int argc, char **argv);
/* signal.c */
int lanternctl_signal (int argc, char **argv);

/* Register the event types of every service, so that events of any node
   can be shown (known.c). */
void lanternctl_register_types (void);

/* lanternctl upstream (upstream.c). */
int lanternctl_upstream (int argc, char **argv);

/* The screening meeting's commands, to a triage node (triage.c). */
int lanternctl_agenda (int argc, char **argv);
int lanternctl_case (int argc, char **argv);
int lanternctl_decide (int argc, char **argv);
int lanternctl_track (int argc, char **argv);
int lanternctl_tracks (int argc, char **argv);
int lanternctl_alerts (int argc, char **argv);

#endif
