/*  lanternctl call: call any command of a node, with JSON in and out.

        lanternctl call COMMAND [JSON | -] [--file FILE] [--request-id ID]
                        [--timeout MS] [--retries N] [--json] [connection options]

    COMMAND is the name of a member of Request's `command` oneof
    (proto/wire.proto): ping, post_notice, verify_audit, and whatever the
    services add.  They are found through the descriptor, so this file has
    no code per command: a command added to wire.proto is callable at once,
    and `lanternctl call --help` lists it.

    The JSON is the command message in the proto3 JSON mapping (ln_json.h);
    none means an empty command ({}).  It is converted and checked here
    before anything is sent (every check the node would make on the bytes:
    ln_pbcheck), so a typo is a usage error that names the field.

    The request_id is the idempotency key (docs/protocol.md 4.2): a fresh
    one unless --request-id gives it, printed to stderr so that a user whose
    call timed out can retry with it; retries after a timeout resend the
    SAME request, so the node executes it at most once.

    Output: the reply's result as JSON on stdout (indented; --json: one
    line).  Exit 0 on OK; 1 on an error reply ("lanternctl: call: CODE:
    message (field)" on stderr), on no reply (the command may or may not
    have taken effect: the message says which request_id to retry with),
    or when the connection cannot be made; 2 on usage errors, including
    JSON that does not fit the command (nothing was sent).
*/
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect.h"
#include "lanternctl.h"
#include "ln_json.h"
#include "wire.pb-c.h"

#define CALL_DEFAULT_TIMEOUT_MS 5000
#define CALL_DEFAULT_RETRIES    2
#define CALL_MAX_TIMEOUT_MS     3600000
#define CALL_MAX_RETRIES        100
#define CALL_REQUEST_ID_MAX     64

enum { OPT_JSON = 0x2001 };

#define s_usage_error(...) lanternctl_usage_error ("call", __VA_ARGS__)

// --------------------------------------------------------------------------
// Commands, from the descriptor

/* The member of Request's `command` oneof named `name` (.proto or JSON
   name), or NULL. */
static const ProtobufCFieldDescriptor *
s_find_command (const char *name)
{
    const ProtobufCMessageDescriptor *d = &lantern__v1__request__descriptor;
    char json_name[128];
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if (strcmp (f->name, name) == 0 ||
            (ln_json_name (f->name, json_name, sizeof json_name) == 0 &&
             strcmp (json_name, name) == 0))
            return f;
    }
    return NULL;
}

/* The result message type that Reply carries for a command: the member of
   Reply's `result` oneof with the command's name (the convention of
   wire.proto), or NULL. */
static const ProtobufCMessageDescriptor *
s_result_type (const ProtobufCFieldDescriptor *command)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name (
        &lantern__v1__reply__descriptor, command->name);
    return f && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && f->type == PROTOBUF_C_TYPE_MESSAGE
               ? f->descriptor
               : NULL;
}

static const char *
s_type_name (const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return "string";
    case PROTOBUF_C_TYPE_BYTES:
        return "base64";
    case PROTOBUF_C_TYPE_BOOL:
        return "true|false";
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return "number";
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return "\"integer\"";
    case PROTOBUF_C_TYPE_ENUM:
        return ((const ProtobufCEnumDescriptor *)f->descriptor)->short_name;
    case PROTOBUF_C_TYPE_MESSAGE:
        return ((const ProtobufCMessageDescriptor *)f->descriptor)->short_name;
    default:
        return "integer";
    }
}

/* A one-line sketch of a message's JSON: {"text": string, "n": integer}. */
static void
s_sketch (FILE *out, const ProtobufCMessageDescriptor *d)
{
    fputc ('{', out);
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        bool many = f->label == PROTOBUF_C_LABEL_REPEATED;
        fprintf (out, "%s\"%s\": %s%s%s", i ? ", " : "", f->name, many ? "[" : "", s_type_name (f),
                 many ? ", ...]" : "");
    }
    fputc ('}', out);
}

static void
s_usage (FILE *out)
{
    fprintf (out,
             "usage: lanternctl call COMMAND [JSON | -] [options]\n"
             "\n"
             "Call a command of a node and print its result as JSON.  JSON is the command\n"
             "in the proto3 JSON mapping (field names as in proto/wire.proto, or\n"
             "lowerCamelCase; 64-bit integers as strings or numbers; enums by name); no\n"
             "JSON means an empty command, '-' reads it from stdin.\n"
             "\n"
             "Every call carries a request_id, the node's idempotency key: a retry with the\n"
             "same request_id returns the first reply and changes nothing.  Unless given,\n"
             "a fresh one is made and printed to stderr.  If no reply comes, the command\n"
             "may or may not have taken effect: call again with --request-id.\n"
             "\n"
             "Exit status: 0 OK; 1 error reply, no reply or no connection; 2 usage error\n"
             "(also JSON that does not fit the command: nothing was sent).\n"
             "\n"
             "options:\n"
             "  -f, --file FILE           read the JSON from FILE ('-': stdin)\n"
             "  -r, --request-id ID       request_id, [A-Za-z0-9._:-]{1,64} (default: fresh)\n"
             "  -t, --timeout MS          wait this long for the reply, per attempt\n"
             "                            (default %d)\n"
             "  -n, --retries N           resend the same request N more times when no\n"
             "                            reply comes (default %d)\n"
             "      --json                print the result on one line (default: indented)\n"
             "  -h, --help                show this help\n"
             "\n%s"
             "\n"
             "commands (the command's JSON -> the result's fields):\n",
             CALL_DEFAULT_TIMEOUT_MS, CALL_DEFAULT_RETRIES, LANTERNCTL_CONN_HELP);
    const ProtobufCMessageDescriptor *d = &lantern__v1__request__descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        fprintf (out, "  %-16s ", f->name);
        s_sketch (out, f->descriptor);
        const ProtobufCMessageDescriptor *result = s_result_type (f);
        if (result) {
            /* the result's field names, wrapped */
            int col = fprintf (out, "\n  %-16s   -> %s {", "", result->short_name) - 1;
            for (unsigned k = 0; k < result->n_fields; k++) {
                const char *field = result->fields[k].name;
                if (k && col + (int)strlen (field) + 3 > 78)
                    col = fprintf (out, ",\n  %-16s      ", "") - 2;
                else if (k)
                    col += fprintf (out, ", ");
                col += fprintf (out, "%s", field);
            }
            fputc ('}', out);
        }
        fputc ('\n', out);
    }
    fprintf (out,
             "\nexamples:\n"
             "  lanternctl call ping\n"
             "  lanternctl call post_notice '{\"text\": \"Maintenance at 22:00\"}'\n"
             "  lanternctl call post_notice --request-id op-2024-05-01-1 --file notice.json\n");
}

// --------------------------------------------------------------------------
// Input

/* Read all of `path` ("-": stdin), at most `max` bytes.  Returns a
   NUL-terminated buffer (caller frees) and sets *len, or NULL after
   printing why. */
static char *
s_read_input (const char *path, size_t max, size_t *len)
{
    bool is_stdin = strcmp (path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen (path, "rb");
    char *buf = NULL;
    if (!f) {
        fprintf (stderr, "lanternctl: call: cannot read %s: %s\n", path, strerror (errno));
        return NULL;
    }
    buf = malloc (max + 2);
    if (!buf)
        abort ();
    size_t n = fread (buf, 1, max + 1, f);
    bool failed = ferror (f) != 0;
    if (!is_stdin)
        fclose (f);
    if (failed) {
        fprintf (stderr, "lanternctl: call: cannot read %s\n", is_stdin ? "stdin" : path);
        free (buf);
        return NULL;
    }
    if (n > max) {
        fprintf (stderr, "lanternctl: call: JSON_LIMIT: %s is larger than %zu bytes\n",
                 is_stdin ? "stdin" : path, max);
        free (buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

static bool
s_request_id_valid (const char *id)
{
    size_t n = strlen (id);
    if (n == 0 || n > CALL_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

/* A whole decimal number in [min, max]. */
static bool
s_parse_long (const char *text, long min, long max, long *value)
{
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return false;
    *value = v;
    return true;
}

// --------------------------------------------------------------------------
// Output

/* The result member of the reply that is set, or NULL. */
static const ProtobufCMessage *
s_result_of (const Lantern__V1__Reply *reply)
{
    const ProtobufCMessageDescriptor *d = reply->base.descriptor;
    const char *base = (const char *)reply;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) || f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        uint32_t which;
        memcpy (&which, base + f->quantifier_offset, sizeof which);
        if (which == f->id) {
            const ProtobufCMessage *m;
            memcpy (&m, base + f->offset, sizeof m);
            return m;
        }
    }
    return NULL;
}

int
lanternctl_call (int argc, char **argv)
{
    static const struct option options[] = {
        {"file", required_argument, NULL, 'f'},
        {"request-id", required_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 't'},
        {"retries", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        LANTERNCTL_CONN_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    lanternctl_conn_t conn = {NULL, NULL, NULL};
    const char *file = NULL;
    const char *request_id = NULL;
    long timeout_ms = CALL_DEFAULT_TIMEOUT_MS, retries = CALL_DEFAULT_RETRIES;
    bool compact = false;
    int rc = LANTERNCTL_EXIT_FAIL;
    char *text = NULL;
    ProtobufCMessage *command = NULL;
    ln_client_t *client = NULL;
    Lantern__V1__ServerMessage *answer = NULL;
    char *json = NULL;

    optind = 0; /* GNU getopt: start afresh */
    opterr = 0;
    int c;
    while ((c = getopt_long (argc, argv, ":f:r:t:n:h", options, NULL)) != -1) {
        switch (c) {
        case 'f':
            file = optarg;
            break;
        case 'r':
            request_id = optarg;
            break;
        case 't':
            if (!s_parse_long (optarg, 1, CALL_MAX_TIMEOUT_MS, &timeout_ms))
                return s_usage_error ("--timeout: not a number of ms in 1..%d",
                                      CALL_MAX_TIMEOUT_MS);
            break;
        case 'n':
            if (!s_parse_long (optarg, 0, CALL_MAX_RETRIES, &retries))
                return s_usage_error ("--retries: not a number in 0..%d", CALL_MAX_RETRIES);
            break;
        case OPT_JSON:
            compact = true;
            break;
        case 'h':
            s_usage (stdout);
            return LANTERNCTL_EXIT_OK;
        case ':':
            return s_usage_error ("option '%s' needs a value", argv[optind - 1]);
        case '?':
            if (optopt)
                return s_usage_error ("unknown option '-%c'", optopt);
            return s_usage_error ("unknown option '%s'", argv[optind - 1]);
        default:
            if (!lanternctl_conn_option (&conn, c, optarg))
                return s_usage_error ("unknown option '%s'", argv[optind - 1]);
            break;
        }
    }
    if (optind >= argc)
        return s_usage_error ("%s", "missing COMMAND");
    const char *name = argv[optind];
    const char *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
    if (optind + 2 < argc)
        return s_usage_error ("unexpected argument '%s' (give the JSON as one argument)",
                              argv[optind + 2]);
    const ProtobufCFieldDescriptor *cmd = s_find_command (name);
    if (!cmd)
        return s_usage_error ("unknown command '%s' ('lanternctl call --help' lists them)", name);
    if (arg && file)
        return s_usage_error ("%s", "give the JSON as an argument or with --file, not both");
    if (request_id && !s_request_id_valid (request_id))
        return s_usage_error ("--request-id: 1 to %d characters of A-Z a-z 0-9 . _ : -",
                              CALL_REQUEST_ID_MAX);

    /* The command, checked before anything is sent. */
    size_t len = 0;
    if (file || (arg && strcmp (arg, "-") == 0)) {
        text = s_read_input (file ? file : "-", ln_json_default_limits.max_size, &len);
        if (!text)
            return LANTERNCTL_EXIT_USAGE;
    }
    else {
        text = strdup (arg ? arg : "{}");
        if (!text)
            abort ();
        len = strlen (text);
    }
    ln_error_t err;
    ln_error_clear (&err);
    command = ln_json_to_message_with (cmd->descriptor, text, len, NULL, cmd->name, &err);
    if (!command) {
        fprintf (stderr, "lanternctl: call: %s: %s%s%s\n", err.code, err.field,
                 err.field[0] ? ": " : "", err.message);
        rc = LANTERNCTL_EXIT_USAGE;
        goto out;
    }

    client = lanternctl_connect (&conn, "call", &rc);
    if (!client)
        goto out;
    rc = LANTERNCTL_EXIT_FAIL;

    char fresh[CALL_REQUEST_ID_MAX + 1];
    if (!request_id) {
        if (sodium_init () < 0) {
            fprintf (stderr, "lanternctl: call: libsodium cannot initialise\n");
            goto out;
        }
        ln_client_request_id ("ctl", fresh, sizeof fresh);
        request_id = fresh;
        /* before sending: whatever happens next, the user can retry */
        fprintf (stderr, "request_id: %s\n", request_id);
    }

    /* Set the oneof through the descriptor: no code per command. */
    Lantern__V1__Request request = LANTERN__V1__REQUEST__INIT;
    request.request_id = (char *)request_id;
    uint32_t which = cmd->id;
    memcpy ((char *)&request + cmd->quantifier_offset, &which, sizeof which);
    memcpy ((char *)&request + cmd->offset, &command, sizeof command);

    int attempts = (int)retries + 1;
    answer = ln_client_call (client, &request, (int)timeout_ms, attempts, &err);
    if (!answer) {
        if (err.code && strcmp (err.code, "CLIENT_TIMEOUT") == 0)
            fprintf (stderr, "lanternctl: call: no reply from %s after %d attempt(s) of %ld ms\n",
                     lanternctl_conn_endpoint (), attempts, timeout_ms);
        else if (err.code && strcmp (err.code, "CLIENT_SEND") == 0)
            fprintf (stderr,
                     "lanternctl: call: no connection to %s within %d ms (is the node up, and "
                     "is our key in its registry?)\n",
                     lanternctl_conn_endpoint (), LN_CLIENT_SEND_TIMEOUT_MS);
        else
            fprintf (stderr, "lanternctl: call: %s: %s\n", err.code ? err.code : "CLIENT",
                     err.message);
        fprintf (stderr,
                 "lanternctl: call: the command may or may not have taken effect; retry with "
                 "--request-id %s\n",
                 request_id);
        goto out;
    }
    const Lantern__V1__Reply *reply = answer->reply;
    if (reply->status != LANTERN__V1__REPLY__STATUS__OK) {
        const Lantern__V1__Error *e = reply->error;
        const char *code = e && e->code[0] ? e->code : "ERROR";
        fprintf (stderr, "lanternctl: call: %s: %s", code,
                 e && e->message[0] ? e->message : "the node refused the command");
        if (e && e->field[0])
            fprintf (stderr, " (%s)", e->field);
        fputc ('\n', stderr);
        goto out;
    }
    const ProtobufCMessage *result = s_result_of (reply);
    json = result ? ln_json_from_message (result, !compact) : strdup ("{}");
    if (!json) {
        fprintf (stderr, "lanternctl: call: cannot print the result as JSON\n");
        goto out;
    }
    if (printf ("%s\n", json) < 0 || fflush (stdout) != 0) {
        fprintf (stderr, "lanternctl: call: cannot write the result: %s\n", strerror (errno));
        goto out;
    }
    rc = LANTERNCTL_EXIT_OK;
out:
    free (json);
    if (answer)
        lantern__v1__server_message__free_unpacked (answer, NULL);
    ln_client_destroy (&client);
    if (command)
        protobuf_c_message_free_unpacked (command, NULL);
    free (text);
    return rc;
}
