/*  lanternctl: the one command-line client of Lantern, for people and scripts.

    main.c parses the global options and dispatches to one function per
    command.  Each command function gets argv with argv[0] = the command name,
    prints its own --help, writes results to stdout and errors to stderr
    ("lanternctl: COMMAND: what is wrong"), and returns the process exit code:
    0 success, 1 failure, 2 usage error, 3 the node gave no reply or was
    UNAVAILABLE (signal; call still says 1 there).
*/
#ifndef LANTERNCTL_H
#define LANTERNCTL_H

#define LANTERNCTL_EXIT_OK          0
#define LANTERNCTL_EXIT_FAIL        1
#define LANTERNCTL_EXIT_USAGE       2
#define LANTERNCTL_EXIT_UNAVAILABLE 3
#define LANTERNCTL_EXIT_LOCAL       4 /* a key or file that cannot be read or written */

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

#endif
