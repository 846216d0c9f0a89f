/*  lanternctl request: see request.h. */
#include "request.h"

#include <errno.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connect.h"
#include "lanternctl.h"
#include "ln_json.h"

const ln_json_limits_t lanternctl_json_limits = {
    .max_size = 1024 * 1024,
    .max_depth = 32,
    .pb = LN_PBCHECK_LIMITS_WIRE,
};

static bool
s_request_id_valid (const char *id)
{
    size_t n = strlen (id);
    if (n == 0 || n > LANTERNCTL_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

bool
lanternctl_parse_long (const char *text, long min, long max, long *value)
{
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return false;
    *value = v;
    return true;
}

int
lanternctl_req_option (lanternctl_req_t *req, const char *cmd, int opt, const char *arg)
{
    switch (opt) {
    case 'r':
        if (!s_request_id_valid (arg)) {
            lanternctl_usage_error (cmd, "--request-id: 1 to %d characters of A-Z a-z 0-9 . _ : -",
                                    LANTERNCTL_REQUEST_ID_MAX);
            return -1;
        }
        req->request_id = arg;
        return 1;
    case 't':
        if (!lanternctl_parse_long (arg, 1, LANTERNCTL_MAX_TIMEOUT_MS, &req->timeout_ms)) {
            lanternctl_usage_error (cmd, "--timeout: not a number of ms in 1..%d",
                                    LANTERNCTL_MAX_TIMEOUT_MS);
            return -1;
        }
        return 1;
    case 'n':
        if (!lanternctl_parse_long (arg, 0, LANTERNCTL_MAX_RETRIES, &req->retries)) {
            lanternctl_usage_error (cmd, "--retries: not a number in 0..%d",
                                    LANTERNCTL_MAX_RETRIES);
            return -1;
        }
        return 1;
    default:
        return 0;
    }
}

int
lanternctl_request (ln_client_t *client, const char *cmd, const lanternctl_req_t *req,
                    Lantern__V1__Request *request, Lantern__V1__ServerMessage **answer)
{
    char fresh[LANTERNCTL_REQUEST_ID_MAX + 1];
    const char *request_id = req->request_id;
    *answer = NULL;
    if (!request_id) {
        if (sodium_init () < 0) {
            fprintf (stderr, "lanternctl: %s: libsodium cannot initialise\n", cmd);
            return -1;
        }
        ln_client_request_id ("ctl", fresh, sizeof fresh);
        request_id = fresh;
        /* before sending: whatever happens next, the user can retry */
        if (req->announce)
            fprintf (stderr, "request_id: %s\n", request_id);
    }
    request->request_id = (char *)request_id;

    ln_error_t err;
    ln_error_clear (&err);
    int attempts = (int)req->retries + 1;
    *answer = ln_client_call (client, request, (int)req->timeout_ms, attempts, &err);
    request->request_id = (char *)"";
    if (*answer)
        return 0;

    if (err.code && strcmp (err.code, "CLIENT_TIMEOUT") == 0)
        fprintf (stderr, "lanternctl: %s: no reply from %s after %d attempt(s) of %ld ms\n", cmd,
                 lanternctl_conn_endpoint (), attempts, req->timeout_ms);
    else if (err.code && strcmp (err.code, "CLIENT_SEND") == 0)
        fprintf (stderr,
                 "lanternctl: %s: no connection to %s within %d ms (is the node up, and "
                 "is our key in its registry?)\n",
                 cmd, lanternctl_conn_endpoint (), LN_CLIENT_SEND_TIMEOUT_MS);
    else
        fprintf (stderr, "lanternctl: %s: %s: %s\n", cmd, err.code ? err.code : "CLIENT",
                 err.message);
    if (req->changes)
        fprintf (stderr,
                 "lanternctl: %s: the command may or may not have taken effect; retry with "
                 "--request-id %s\n",
                 cmd, request_id);
    return -1;
}

char *
lanternctl_read_file (const char *cmd, const char *path, size_t max, size_t *len)
{
    bool is_stdin = strcmp (path, "-") == 0;
    const char *name = is_stdin ? "stdin" : path;
    FILE *f = is_stdin ? stdin : fopen (path, "rb");
    char *buf = NULL;
    if (!f) {
        fprintf (stderr, "lanternctl: %s: cannot read %s: %s\n", cmd, path, strerror (errno));
        return NULL;
    }
    buf = malloc (max + 2);
    if (!buf)
        abort ();
    size_t n = fread (buf, 1, max + 1, f);
    int saved = errno;
    bool failed = ferror (f) != 0;
    if (!is_stdin)
        fclose (f);
    if (failed) {
        /* e.g. a directory: fopen succeeds, the read fails with EISDIR */
        fprintf (stderr, "lanternctl: %s: cannot read %s: %s\n", cmd, name, strerror (saved));
        free (buf);
        return NULL;
    }
    if (n > max) {
        fprintf (stderr, "lanternctl: %s: %s is larger than %zu bytes\n", cmd, name, max);
        free (buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

int
lanternctl_print_json_object (const char *cmd, json_object *obj, bool pretty)
{
    char *json = ln_json_to_string (obj, pretty);
    int rc = -1;
    if (!json) {
        fprintf (stderr, "lanternctl: %s: cannot print the result as JSON\n", cmd);
        goto out;
    }
    if (printf ("%s\n", json) < 0 || fflush (stdout) != 0) {
        fprintf (stderr, "lanternctl: %s: cannot write the result: %s\n", cmd, strerror (errno));
        goto out;
    }
    rc = 0;
out:
    free (json);
    return rc;
}

int
lanternctl_print_json (const char *cmd, const ProtobufCMessage *msg, bool pretty)
{
    json_object *obj = ln_json_object_from_message (msg);
    if (!obj) {
        fprintf (stderr, "lanternctl: %s: cannot print the result as JSON\n", cmd);
        return -1;
    }
    int rc = lanternctl_print_json_object (cmd, obj, pretty);
    json_object_put (obj);
    return rc;
}

void
lanternctl_print_refusal (const char *label, const Lantern__V1__Error *error)
{
    const char *code = error && error->code[0] ? error->code : "ERROR";
    const char *message =
        error && error->message[0] ? error->message : "the node refused the command";
    if (error && error->field[0]) {
        /* the node's messages often start with the field's path already */
        size_t n = strlen (error->field);
        if (strncmp (message, error->field, n) == 0 && strncmp (message + n, ": ", 2) == 0)
            message += n + 2;
        fprintf (stderr, "lanternctl: %s: %s at %s: %s\n", label, code, error->field, message);
    }
    else
        fprintf (stderr, "lanternctl: %s: %s: %s\n", label, code, message);
}
