/*  lanternctl call: call any command of a node, with JSON in and out.

        lanternctl call COMMAND [JSON | -] [--file FILE] [--request-id ID]
                        [--timeout MS] [--retries N] [--json] [connection options]

    COMMAND is either the name of a member of Request's `command` oneof
    (proto/wire.proto: ping, post_notice, verify_audit, intake's) or the
    name of any command message (ListUpstreams, list_upstreams,
    lantern.v1.RecordDecision): the latter is sent as Request.call, a
    google.protobuf.Any, and its result comes back as Reply.call_result.
    Both are found through descriptors (the generated table of every
    lantern.v1 message, ln_messages.h), so this file has no code per
    command: a service's new command is callable at once.

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
    message (field)" on stderr); 2 on usage errors, including JSON that does
    not fit the command (nothing was sent); 3 when no reply came (the
    command may or may not have taken effect: the message says which
    request_id to retry with) or the connection cannot be made.
*/
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect.h"
#include "google/protobuf/any.pb-c.h"
#include "lanternctl.h"
#include "ln_json.h"
#include "ln_messages.h"
#include "ln_pbcheck.h"
#include "request.h"
#include "wire.pb-c.h"

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

/* A command message by name, for Request.call: "ListUpstreams",
   "list_upstreams" or "lantern.v1.ListUpstreams".  NULL when no lantern.v1
   message has that name. */
static const ProtobufCMessageDescriptor *
s_find_message (const char *name)
{
    char full[256];
    char camel[200];
    if (strncmp (name, "lantern.v1.", 11) == 0)
        return ln_messages_find (name);
    /* snake_case to CamelCase: list_upstreams -> ListUpstreams */
    size_t k = 0;
    bool up = true;
    for (const char *p = name; *p && k + 1 < sizeof camel; p++) {
        if (*p == '_') {
            up = true;
            continue;
        }
        camel[k++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        up = false;
    }
    camel[k] = '\0';
    snprintf (full, sizeof full, "lantern.v1.%s", camel);
    return ln_messages_find (full);
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
             "COMMAND is a field of Request's command (listed below) or the name of any\n"
             "command message a node serves (ListUpstreams, ResyncUpstream, and every\n"
             "service's commands: docs/protocol.md), sent as Request.call.\n"
             "\n" LANTERNCTL_EXIT_HELP "\n"
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
             LANTERNCTL_DEFAULT_TIMEOUT_MS, LANTERNCTL_DEFAULT_RETRIES, LANTERNCTL_CONN_HELP);
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
    fprintf (out, "\nexamples:\n"
                  "  lanternctl call ping\n"
                  "  lanternctl call post_notice '{\"text\": \"Maintenance at 22:00\"}'\n"
                  "  lanternctl call post_notice --request-id op-2026-05-01-1 --file - \\\n"
                  "      <<<'{\"text\": \"Maintenance at 22:00\"}'\n"
                  "  lanternctl call ListUpstreams\n");
}

// --------------------------------------------------------------------------
// Output

/* The result member of the reply that is set, or NULL (call_result is
   handled by the caller). */
static const ProtobufCMessage *
s_result_of (const Lantern__V1__Reply *reply)
{
    if (reply->result_case == LANTERN__V1__REPLY__RESULT_CALL_RESULT)
        return NULL;
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
        LANTERNCTL_REQ_OPTIONS,
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        LANTERNCTL_CONN_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    lanternctl_conn_t conn = {NULL, NULL, NULL};
    lanternctl_req_t req = LANTERNCTL_REQ_DEFAULTS;
    req.announce = true;
    req.changes = true; /* any command: call cannot tell which ones change state */
    const char *file = NULL;
    bool compact = false;
    int rc = LANTERNCTL_EXIT_FAIL;
    char *text = NULL;
    ProtobufCMessage *command = NULL;
    ProtobufCMessage *unpacked = NULL;
    uint8_t *packed = NULL;
    ln_client_t *client = NULL;
    Lantern__V1__ServerMessage *answer = NULL;

    optind = 0; /* GNU getopt: start afresh */
    opterr = 0;
    int c;
    while ((c = getopt_long (argc, argv, ":f:r:t:n:h", options, NULL)) != -1) {
        switch (c) {
        case 'f':
            file = optarg;
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
        default: {
            int taken = lanternctl_req_option (&req, "call", c, optarg);
            if (taken < 0)
                return LANTERNCTL_EXIT_USAGE;
            if (!taken && !lanternctl_conn_option (&conn, c, optarg))
                return s_usage_error ("unknown option '%s'", argv[optind - 1]);
            break;
        }
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
    const ProtobufCMessageDescriptor *message = cmd ? cmd->descriptor : s_find_message (name);
    if (!message)
        return s_usage_error ("unknown command '%s' ('lanternctl call --help' lists them)", name);
    if (arg && file)
        return s_usage_error ("%s", "give the JSON as an argument or with --file, not both");

    /* The command, checked before anything is sent. */
    size_t len = 0;
    if (file || (arg && strcmp (arg, "-") == 0)) {
        text =
            lanternctl_read_file ("call", file ? file : "-", ln_json_default_limits.max_size, &len);
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
    command = ln_json_to_message_with (message, text, len, &lanternctl_json_limits, NULL, &err);
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

    /* Set the oneof through the descriptor, or send the message as
       Request.call: no code per command. */
    Lantern__V1__Request request = LANTERN__V1__REQUEST__INIT;
    Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
    char type_url[300];
    if (cmd) {
        uint32_t which = cmd->id;
        memcpy ((char *)&request + cmd->quantifier_offset, &which, sizeof which);
        memcpy ((char *)&request + cmd->offset, &command, sizeof command);
    }
    else {
        size_t size = protobuf_c_message_get_packed_size (command);
        packed = malloc (size ? size : 1);
        if (!packed || ln_messages_type_url (message, type_url, sizeof type_url) != 0)
            abort ();
        protobuf_c_message_pack (command, packed);
        any.type_url = type_url;
        any.value.data = packed;
        any.value.len = size;
        request.command_case = LANTERN__V1__REQUEST__COMMAND_CALL;
        request.call = &any;
    }

    if (lanternctl_request (client, "call", &req, &request, &answer) != 0) {
        rc = LANTERNCTL_EXIT_UNAVAILABLE;
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
    if (reply->result_case == LANTERN__V1__REPLY__RESULT_CALL_RESULT) {
        /* the result is named by its type: decode it as hostile as anything */
        const ProtobufCMessageDescriptor *rd = ln_messages_find_url (reply->call_result->type_url);
        if (!rd) {
            fprintf (stderr,
                     "lanternctl: call: the result is of a type this lanternctl does not "
                     "know (%s): a newer node?\n",
                     reply->call_result->type_url);
            goto out;
        }
        result = unpacked =
            ln_pbcheck_unpack (rd, reply->call_result->value.data, reply->call_result->value.len,
                               &ln_pbcheck_wire_limits, NULL, &err);
        if (!result) {
            fprintf (stderr, "lanternctl: call: the result does not decode: %s %s\n", err.code,
                     err.field);
            goto out;
        }
    }
    if (result && lanternctl_print_json ("call", result, !compact) != 0)
        goto out;
    if (!result && (printf ("{}\n") < 0 || fflush (stdout) != 0))
        goto out; /* a reply without a result: an empty one */
    rc = LANTERNCTL_EXIT_OK;
out:
    if (unpacked)
        protobuf_c_message_free_unpacked (unpacked, NULL);
    free (packed);
    if (answer)
        lantern__v1__server_message__free_unpacked (answer, NULL);
    ln_client_destroy (&client);
    if (command)
        protobuf_c_message_free_unpacked (command, NULL);
    free (text);
    return rc;
}
