/*  lanternctl request: what the commands that call a node share (call,
    signal): the --request-id / --timeout / --retries options, sending one
    Request and waiting for its Reply, reading a file or stdin with a bound,
    and printing a result as JSON.

    The request_id is the node's idempotency key (docs/protocol.md 4.2): a
    fresh one unless --request-id gives it.  When no reply comes after every
    attempt, lanternctl_request says so and, for a command that changes
    state, names the request_id to retry with: a retry with it returns the
    first reply and changes nothing.

    A command puts LANTERNCTL_REQ_OPTIONS in its getopt_long table (the
    values are 'r', 't' and 'n', so short options -r -t -n may map to them)
    and hands those options to lanternctl_req_option.
*/
#ifndef LANTERNCTL_REQUEST_H
#define LANTERNCTL_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "ln_client.h"
#include "ln_json.h"
#include "wire.pb-c.h"

#define LANTERNCTL_DEFAULT_TIMEOUT_MS 5000
#define LANTERNCTL_DEFAULT_RETRIES    2
#define LANTERNCTL_MAX_TIMEOUT_MS     3600000
#define LANTERNCTL_MAX_RETRIES        100
#define LANTERNCTL_REQUEST_ID_MAX     64

typedef struct {
    const char *request_id; /* NULL: a fresh one per request */
    long timeout_ms;        /* per attempt */
    long retries;           /* resends of the same request after a timeout */
    bool announce;          /* print a fresh request_id to stderr before sending */
    bool changes;           /* the command changes state: on no reply, say it may
                               have taken effect and which request_id to retry with */
} lanternctl_req_t;

#define LANTERNCTL_REQ_DEFAULTS                                                                    \
    {                                                                                              \
        NULL, LANTERNCTL_DEFAULT_TIMEOUT_MS, LANTERNCTL_DEFAULT_RETRIES, false, false              \
    }

#define LANTERNCTL_REQ_OPTIONS                                                                     \
    {"request-id", required_argument, NULL, 'r'}, {"timeout", required_argument, NULL, 't'},       \
    {                                                                                              \
        "retries", required_argument, NULL, 'n'                                                    \
    }

/* The limits a command's JSON is checked with before anything is sent:
   the node's own hostile-input limits (docs/protocol.md "Limits": strings
   and bytes bounded by the frame, 1024 elements per repeated field,
   nesting 8, the decoding budget), so that lanternctl refuses exactly what
   the node would refuse on the wire and nothing more; the services' own
   text limits are theirs to check and report. */
extern const ln_json_limits_t lanternctl_json_limits;

/* If `opt` is one of the request options, check and store `arg`: returns 1,
   or -1 after printing a usage error for `cmd` (exit LANTERNCTL_EXIT_USAGE).
   Returns 0 for any other option. */
int lanternctl_req_option (lanternctl_req_t *req, const char *cmd, int opt, const char *arg);

/* Send `request` (its command set; request_id is filled here and reset to
   "" before returning) and wait for the Reply.  Returns 0 with *answer set
   (free it with lantern__v1__server_message__free_unpacked; the reply's
   status may be OK or ERROR), or -1 after printing "lanternctl: CMD: ..."
   on stderr: no connection, or no reply after every attempt. */
int lanternctl_request (ln_client_t *client, const char *cmd, const lanternctl_req_t *req,
                        Lantern__V1__Request *request, Lantern__V1__ServerMessage **answer);

/* Read all of `path` ("-": stdin), at most `max` bytes.  Returns a
   NUL-terminated buffer (the caller frees it) and sets *len, or NULL after
   printing "lanternctl: CMD: ..." on stderr. */
char *lanternctl_read_file (const char *cmd, const char *path, size_t max, size_t *len);

/* A whole decimal number in [min, max]: true and *value, else false. */
bool lanternctl_parse_long (const char *text, long min, long max, long *value);

/* Print a message as JSON on stdout (indented when pretty, else one line)
   and flush.  Returns 0, or -1 after printing why on stderr. */
int lanternctl_print_json (const char *cmd, const ProtobufCMessage *msg, bool pretty);

/* The same for a json-c object (borrowed). */
int lanternctl_print_json_object (const char *cmd, json_object *obj, bool pretty);

/* Print "lanternctl: LABEL: CODE at FIELD: message" (without " at FIELD"
   when the error names no field, and without the message's own "FIELD: "
   when it starts with one) on stderr: the one line of a refusal. */
void lanternctl_print_refusal (const char *label, const Lantern__V1__Error *error);

#endif
