/*  conformance, node: the codes every node answers (docs/protocol.md 8.2),
    each produced through a real node: an ln_server in a thread of the test
    (tests/support/bus_fixture), over real CURVE sockets, with its own
    database.

    Besides the node commands, this node serves two commands declared here,
    as a service would declare its own, with messages that have what the
    node commands lack: an enum (lantern.v1.ListSignals, answered with an
    empty list) and repeated fields (lantern.v1.SubmitSignal, whose handler
    fails without saying why: INTERNAL).

    Principals: op (operator), reader (no role that may call anything but
    Ping).  UNAVAILABLE is the last case: it takes the node's database
    role's LOGIN away and cuts its connections.

    Checks: the frame limit from both sides (the largest ClientMessage that
    arrives through CURVE, and one byte more), and the node serving on.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus_fixture.h"
#include "conformance.h"
#include "lantern.pb-c.h"
#include "ln_auth.h"
#include "ln_pbcheck.h"
#include "pg_fixture.h"

/* The largest ClientMessage (bytes) that reaches a node: ZMQ_MAXMSGSIZE
   bounds the frame as it travels, and CURVE wraps each message in a
   MESSAGE command of 33 bytes more (8 of command name, 8 of nonce, 16 of
   authenticator, 1 of flags): docs/protocol.md 7.1. */
#define USABLE_FRAME (LN_AUTH_MAXMSGSIZE - 33)

typedef struct {
    ln_pgfix_t *pg;
    bus_keys_t *keys;
    bus_server_t *server;
    ln_client_t *op;
    ln_client_t *reader;
    char role[128]; /* the node's database role */
} node_fix_t;

/* --- the two commands declared here -------------------------------------------- */

static int
s_list (void *arg, ln_call_t *call, const ProtobufCMessage *input, ProtobufCMessage **output)
{
    (void)arg;
    (void)input;
    Lantern__V1__SignalList *out = ln_call_alloc (call, sizeof *out);
    lantern__v1__signal_list__init (out);
    *output = &out->base;
    return 0;
}

static int
s_fail_silently (void *arg, ln_call_t *call, const ProtobufCMessage *input,
                 ProtobufCMessage **output)
{
    (void)arg;
    (void)call;
    (void)input;
    (void)output;
    return -1; /* a bug: no error given */
}

static const ln_command_t s_commands[] = {
    {&lantern__v1__list_signals__descriptor, &lantern__v1__signal_list__descriptor, NULL, false,
     s_list, false, NULL},
    {&lantern__v1__submit_signal__descriptor, &lantern__v1__signal_accepted__descriptor, NULL, true,
     s_fail_silently, false, NULL},
};

/* --- fixture --------------------------------------------------------------------- */

static void *
s_setup (void)
{
    node_fix_t *f = calloc (1, sizeof *f);
    assert_non_null (f);
    f->pg = ln_pgfix_new ("conformance-node");
    const char *conninfo = f->pg ? ln_pgfix_create_role (f->pg, "node", "node") : NULL;
    f->keys = bus_keys_new ();
    if (!conninfo || !f->keys || bus_keys_add (f->keys, "node", "node", "geheim", false) != 0 ||
        bus_keys_add (f->keys, "op", "operator", "geheim", true) != 0 ||
        bus_keys_add (f->keys, "reader", "reader", "intern", true) != 0)
        return NULL;
    snprintf (f->role, sizeof f->role, "%s", ln_pgfix_role_name (f->pg, "node"));
    bus_server_config_t config = {
        .conninfo = conninfo,
        .schema = "node",
        .node = "node",
        .commands = s_commands,
        .command_count = sizeof s_commands / sizeof s_commands[0],
    };
    f->server = bus_server_start (f->keys, &config);
    if (!f->server)
        return NULL;
    f->op = bus_client (f->keys, f->server, "op");
    f->reader = bus_client (f->keys, f->server, "reader");
    return f->op && f->reader ? f : NULL;
}

static void
s_teardown (void *fixture)
{
    node_fix_t *f = fixture;
    if (!f)
        return;
    char sql[256];
    snprintf (sql, sizeof sql, "ALTER ROLE \"%s\" LOGIN", f->role);
    if (f->pg && f->role[0])
        ln_pgfix_exec (f->pg, sql);
    ln_client_destroy (&f->op);
    ln_client_destroy (&f->reader);
    bus_server_stop (&f->server);
    bus_keys_destroy (&f->keys);
    ln_pgfix_destroy (&f->pg);
    free (f);
}

/* --- raw bytes ------------------------------------------------------------------- */

/* A length-delimited field: tag, length, bytes (appended at *n). */
static void
s_put_field (uint8_t *buf, size_t *n, unsigned field, const void *data, size_t len)
{
    size_t v = field << 3 | 2;
    do {
        buf[(*n)++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    v = len;
    do {
        buf[(*n)++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    memcpy (buf + *n, data, len);
    *n += len;
}

/* ClientMessage{request{request_id, field: command bytes as given}}. */
static int
s_send_command_bytes (ln_client_t *c, unsigned field, const uint8_t *command, size_t len,
                      conf_result_t *r)
{
    conf_request_id (r->request_id, sizeof r->request_id);
    uint8_t request[512], frame[600];
    size_t nr = 0, nf = 0;
    s_put_field (request, &nr, 1, r->request_id, strlen (r->request_id));
    s_put_field (request, &nr, field, command, len);
    s_put_field (frame, &nf, 1, request, nr);
    return conf_send_raw (c, frame, nf, 1, 10000, r);
}

/* --- the cases --------------------------------------------------------------------- */

static int
c_two_frames (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
    size_t size;
    uint8_t *bytes = conf_pack_request ("conf-two-frames", 10, &ping.base, &size);
    int rc = conf_send_raw (f->op, bytes, size, 2, 10000, r);
    free (bytes);
    r->request_id[0] = '\0'; /* never read from a bad frame */
    return rc;
}

static int
c_empty_message (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    r->request_id[0] = '\0';
    return conf_send_raw (f->op, (const uint8_t *)"", 0, 1, 10000, r);
}

static int
c_bad_request_id (void *fixture, const void *arg, conf_result_t *r)
{
    node_fix_t *f = fixture;
    Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
    size_t size;
    uint8_t *bytes = conf_pack_request (arg, 10, &ping.base, &size);
    int rc = conf_send_raw (f->op, bytes, size, 1, 10000, r);
    free (bytes);
    r->request_id[0] = '\0'; /* a malformed request_id is not echoed */
    return rc;
}

static int
c_no_command (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    return conf_call (f->op, 0, NULL, r);
}

static int
c_call_not_served (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    Lantern__V1__GetSignal get = LANTERN__V1__GET_SIGNAL__INIT;
    return conf_call (f->op, CONF_CALL, &get.base, r);
}

static int
c_field_not_served (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    Lantern__V1__GetSignal get = LANTERN__V1__GET_SIGNAL__INIT;
    return conf_call (f->op, 103, &get.base, r);
}

static int
c_forbidden (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    Lantern__V1__PostNotice notice = LANTERN__V1__POST_NOTICE__INIT;
    notice.text = "not for a reader";
    return conf_call (f->reader, CONF_CALL, &notice.base, r);
}

static int
c_reused (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    Lantern__V1__PostNotice notice = LANTERN__V1__POST_NOTICE__INIT;
    notice.text = "first";
    conf_request_id (r->request_id, sizeof r->request_id);
    size_t size;
    uint8_t *bytes = conf_pack_request (r->request_id, 11, &notice.base, &size);
    conf_result_t first = {0};
    int rc = conf_send_raw (f->op, bytes, size, 1, 10000, &first);
    free (bytes);
    bool ok = first.msg && first.msg->reply->status == LANTERN__V1__REPLY__STATUS__OK;
    if (first.msg)
        lantern__v1__server_message__free_unpacked (first.msg, NULL);
    if (rc != 0 || !ok) {
        fprintf (stderr, "REQUEST_ID_REUSED: the first PostNotice was not accepted\n");
        return -1;
    }
    notice.text = "second, other bytes";
    bytes = conf_pack_request (r->request_id, 11, &notice.base, &size);
    rc = conf_send_raw (f->op, bytes, size, 1, 10000, r);
    free (bytes);
    return rc;
}

static int
c_decode (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    /* PostNotice{text: a length of 5 with 2 bytes left}: the command's own
       bytes are broken */
    static const uint8_t bytes[] = {0x0a, 0x05, 'a', 'b'};
    return s_send_command_bytes (f->op, 11, bytes, sizeof bytes, r);
}

static int
c_decode_nested (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    /* SubmitSignal{details: {reporter: a length of 5 with 1 byte left}} */
    static const uint8_t bytes[] = {0x0a, 0x03, 0x0a, 0x05, 'a'};
    return s_send_command_bytes (f->op, 100, bytes, sizeof bytes, r);
}

static int
c_utf8 (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    Lantern__V1__PostNotice notice = LANTERN__V1__POST_NOTICE__INIT;
    notice.text = "caf\xe9"; /* Latin-1, not UTF-8 */
    return conf_call (f->op, 11, &notice.base, r);
}

static int
c_control (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    Lantern__V1__PostNotice notice = LANTERN__V1__POST_NOTICE__INIT;
    notice.text = "bell\a";
    return conf_call (f->op, CONF_CALL, &notice.base, r);
}

static int
c_bad_enum (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    Lantern__V1__ListSignals list = LANTERN__V1__LIST_SIGNALS__INIT;
    list.status = (Lantern__V1__SignalStatus)99;
    return conf_call (f->op, 104, &list.base, r);
}

static int
c_unknown_field (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    /* PostNotice{text: "x", #7: 1} */
    static const uint8_t bytes[] = {0x0a, 0x01, 'x', 7 << 3, 0x01};
    return s_send_command_bytes (f->op, 11, bytes, sizeof bytes, r);
}

static int
c_too_many (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    Lantern__V1__SignalDetails d = LANTERN__V1__SIGNAL_DETAILS__INIT;
    char *codes[1025];
    for (size_t i = 0; i < 1025; i++)
        codes[i] = "ILO_DEBT_BONDAGE";
    d.indicators = codes;
    d.n_indicators = 1025;
    Lantern__V1__SubmitSignal s = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    s.details = &d;
    return conf_call (f->op, 100, &s.base, r);
}

/* 400 persons of 1,000 empty tokens each: about 800 KB on the wire (no
   count over 1024), which protobuf-c would turn into tens of MB. */
static int
c_too_big (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    enum { PERSONS = 400, TOKENS = 1000 };
    static Lantern__V1__Token token = LANTERN__V1__TOKEN__INIT;
    static Lantern__V1__Token *tokens[TOKENS];
    static Lantern__V1__Person person = LANTERN__V1__PERSON__INIT;
    static Lantern__V1__Person *persons[PERSONS];
    for (size_t i = 0; i < TOKENS; i++)
        tokens[i] = &token;
    person.tokens = tokens;
    person.n_tokens = TOKENS;
    for (size_t i = 0; i < PERSONS; i++)
        persons[i] = &person;
    Lantern__V1__SignalDetails d = LANTERN__V1__SIGNAL_DETAILS__INIT;
    d.persons = persons;
    d.n_persons = PERSONS;
    Lantern__V1__SubmitSignal s = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    s.details = &d;
    conf_request_id (r->request_id, sizeof r->request_id);
    size_t size;
    uint8_t *bytes = conf_pack_request (r->request_id, 100, &s.base, &size);
    /* the case is only one if it is within the frame and over the budget */
    size_t estimate =
        ln_pbcheck_alloc_estimate (&lantern__v1__client_message__descriptor, bytes, size, NULL);
    if (size > USABLE_FRAME || estimate <= 1024 * 1024 + 8 * size) {
        fprintf (stderr, "PB_TOO_BIG: %zu bytes, estimate %zu: not a case\n", size, estimate);
        free (bytes);
        return -1;
    }
    int rc = conf_send_raw (f->op, bytes, size, 1, 10000, r);
    free (bytes);
    return rc;
}

/* PostNotice with the text given (arg): empty, or past 1,000 bytes. */
static int
c_notice_text (void *fixture, const void *arg, conf_result_t *r)
{
    node_fix_t *f = fixture;
    Lantern__V1__PostNotice notice = LANTERN__V1__POST_NOTICE__INIT;
    notice.text = (char *)arg;
    return conf_call (f->op, CONF_CALL, &notice.base, r);
}

static const char s_text_1001[] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                                  "xxxxxxxxxxxxxxxxxxxxx";

static int
c_resync (void *fixture, const void *arg, conf_result_t *r)
{
    node_fix_t *f = fixture;
    const char *const *v = arg; /* name, reason */
    Lantern__V1__ResyncUpstream resync = LANTERN__V1__RESYNC_UPSTREAM__INIT;
    resync.name = (char *)v[0];
    resync.reason = (char *)v[1];
    return conf_call (f->op, CONF_CALL, &resync.base, r);
}

static int
c_internal (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    Lantern__V1__SignalDetails d = LANTERN__V1__SIGNAL_DETAILS__INIT;
    Lantern__V1__SubmitSignal s = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    s.details = &d;
    return conf_call (f->op, CONF_CALL, &s.base, r);
}

static int
c_unavailable (void *fixture, const void *arg, conf_result_t *r)
{
    (void)arg;
    node_fix_t *f = fixture;
    char sql[512];
    snprintf (sql, sizeof sql,
              "ALTER ROLE \"%s\" NOLOGIN;"
              " SELECT pg_terminate_backend (pid) FROM pg_stat_activity WHERE usename = '%s'",
              f->role, f->role);
    if (ln_pgfix_exec (f->pg, sql) != 0)
        return -1;
    Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
    return conf_call (f->op, CONF_CALL, &ping.base, r);
}

static const char *const s_resync_no_reason[] = {"intake-venlo", ""};
static const char *const s_resync_nowhere[] = {"nowhere", "the upstream was restored"};

#define PING   (&lantern__v1__ping__descriptor)
#define NOTICE (&lantern__v1__post_notice__descriptor)
#define RESYNC (&lantern__v1__resync_upstream__descriptor)
#define SUBMIT (&lantern__v1__submit_signal__descriptor)
#define LIST   (&lantern__v1__list_signals__descriptor)

static const conf_case_t s_cases[] = {
    {"BAD_FRAME", "", "a Request in two frames", NULL, c_two_frames, NULL},
    {"BAD_FRAME", "", "an empty ClientMessage (no kind)", NULL, c_empty_message, NULL},
    {"BAD_REQUEST_ID", "request_id", "request_id \"\"", PING, c_bad_request_id, ""},
    {"BAD_REQUEST_ID", "request_id", "request_id with a space", PING, c_bad_request_id, "op 1"},
    {"UNKNOWN_COMMAND", "", "a Request with no command", NULL, c_no_command, NULL},
    {"UNKNOWN_COMMAND", "call.type_url",
     "Request.call of GetSignal, which this node does not serve", NULL, c_call_not_served, NULL},
    {"UNKNOWN_COMMAND", "", "Request.get_signal, which this node does not serve", NULL,
     c_field_not_served, NULL},
    {"FORBIDDEN", "", "PostNotice by a reader", NOTICE, c_forbidden, NULL},
    {"REQUEST_ID_REUSED", "request_id", "PostNotice again under its request_id, other text", NOTICE,
     c_reused, NULL},
    {"PB_DECODE", "", "PostNotice whose text runs past its end", NOTICE, c_decode, NULL},
    {"PB_DECODE", "details", "SubmitSignal whose details' reporter runs past their end", SUBMIT,
     c_decode_nested, NULL},
    {"PB_INVALID_UTF8", "text", "PostNotice with Latin-1 text", NOTICE, c_utf8, NULL},
    {"PB_INVALID_UTF8", "text", "PostNotice (call) with a BEL character", NOTICE, c_control, NULL},
    {"PB_BAD_ENUM", "status", "ListSignals{status: 99}", LIST, c_bad_enum, NULL},
    {"PB_UNKNOWN_FIELD", "#7", "PostNotice with field number 7", NOTICE, c_unknown_field, NULL},
    {"PB_TOO_MANY", "details.indicators", "SubmitSignal with 1,025 indicators", SUBMIT, c_too_many,
     NULL},
    {"PB_TOO_BIG", "", "SubmitSignal of 400 persons with 1,000 empty tokens each", SUBMIT,
     c_too_big, NULL},
    {"MISSING_TEXT", "text", "PostNotice with empty text", NOTICE, c_notice_text, ""},
    {"TEXT_TOO_LONG", "text", "PostNotice with a text of 1,001 bytes", NOTICE, c_notice_text,
     s_text_1001},
    {"MISSING_REASON", "reason", "ResyncUpstream without a reason", RESYNC, c_resync,
     s_resync_no_reason},
    {"NOT_FOUND", "name", "ResyncUpstream of an upstream the node does not follow", RESYNC,
     c_resync, s_resync_nowhere},
    {"INTERNAL", "", "a command whose handler fails without saying why", SUBMIT, c_internal, NULL},
    /* last: the node's database goes away */
    {"UNAVAILABLE", "", "Ping while the node's database refuses it", PING, c_unavailable, NULL},
};

static const conf_case_t *
s_get_cases (size_t *count)
{
    *count = sizeof s_cases / sizeof s_cases[0];
    return s_cases;
}

/* --- checks ------------------------------------------------------------------------ */

/* A ClientMessage of exactly `size` bytes: a PostNotice whose text fills
   it (the node answers TEXT_TOO_LONG: over 1,000 bytes; any answer
   proves that it arrived). */
static uint8_t *
s_message_of_size (const char *request_id, size_t size)
{
    char *text = malloc (size + 1);
    assert_non_null (text);
    Lantern__V1__PostNotice notice = LANTERN__V1__POST_NOTICE__INIT;
    notice.text = text;
    size_t len = size, got = 0;
    uint8_t *bytes = NULL;
    for (int round = 0; round < 8; round++) {
        memset (text, 'x', len);
        text[len] = '\0';
        free (bytes);
        bytes = conf_pack_request (request_id, 11, &notice.base, &got);
        if (got == size)
            break;
        len = len + size - got; /* the prefixes' sizes are nearly constant */
    }
    free (text);
    assert_int_equal (got, size);
    return bytes;
}

static void
k_frame (void *fixture)
{
    node_fix_t *f = fixture;
    conf_result_t r = {0};
    /* the largest: it arrives, and is answered */
    uint8_t *bytes = s_message_of_size ("conf-frame-max", USABLE_FRAME);
    assert_int_equal (conf_send_raw (f->op, bytes, USABLE_FRAME, 1, 15000, &r), 0);
    free (bytes);
    assert_non_null (r.msg);
    assert_string_equal (r.msg->reply->request_id, "conf-frame-max");
    assert_string_equal (r.msg->reply->error->code, "TEXT_TOO_LONG");
    lantern__v1__server_message__free_unpacked (r.msg, NULL);
    /* one byte more: the node's libzmq drops the connection; no answer */
    bytes = s_message_of_size ("conf-frame-over", USABLE_FRAME + 1);
    assert_int_equal (conf_send_raw (f->op, bytes, USABLE_FRAME + 1, 1, 3000, &r), 0);
    free (bytes);
    if (r.msg)
        fail_msg ("a ClientMessage of %d bytes was answered (%s)", USABLE_FRAME + 1,
                  r.msg->reply->error ? r.msg->reply->error->code : "OK");
    /* and the node serves on: the client reconnects, a Ping is answered */
    Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
    assert_int_equal (conf_call (f->op, CONF_CALL, &ping.base, &r), 0);
    assert_non_null (r.msg);
    assert_int_equal (r.msg->reply->status, LANTERN__V1__REPLY__STATUS__OK);
    lantern__v1__server_message__free_unpacked (r.msg, NULL);
}

static const conf_check_t s_checks[] = {
    {"a ClientMessage of 1 MiB less CURVE's 33 bytes arrives, one byte more does not", k_frame},
};

static const char *const s_sections[] = {"8", NULL};

static const conf_service_t s_node = {
    .name = "node",
    .sections = s_sections,
    .setup = s_setup,
    .teardown = s_teardown,
    .cases = s_get_cases,
    .checks = s_checks,
    .check_count = sizeof s_checks / sizeof s_checks[0],
};

CONF_REGISTER (s_node)
