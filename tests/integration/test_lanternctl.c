/*  Integration tests of `lanternctl call` and `lanternctl events tail`: the
    REAL binary, run as a child process, against a real node (ln_server in a
    thread of this process, bus_fixture), real PostgreSQL, real CURVE; and,
    for a Reset FORBIDDEN, a stand-in node on a real CURVE socket.

    The binary is $LANTERN_BUILD_DIR/bin/lanternctl (tests/run.sh sets
    LANTERN_BUILD_DIR); the ASan build of this test prefers
    $LANTERN_BUILD_DIR/asan/bin/lanternctl when it exists, so the child runs
    under the sanitizers too.  Every child runs with a deadline and is
    killed and reaped if it overstays; a failing test kills any child it
    left running (teardown).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus_fixture.h"
#include "ln_auth.h"
#include "ln_json.h"
#include "ln_log.h"
#include "pg_fixture.h"
#include "wire.pb-c.h"

extern char **environ;

#define NOTICE       "nl.lantern.notice.posted.v1"
#define DEADLINE     20000 /* ms a child may take, at most */
#define MAX_ARGS     32
#define MAX_CHILDREN 4

static ln_pgfix_t *s_pg;
static bus_keys_t *s_keys;
static bus_server_t *s_server;
static char s_bin[512];
static char s_tmp[64];

static const ln_stream_rule_t s_rules[] = {
    {"operator", "*", LN_PROJECTION_FULL},
};

// --------------------------------------------------------------------------
// Running the binary

typedef struct {
    pid_t pid;
    int out_fd, err_fd;
    char *out, *err;
    size_t out_len, err_len;
    int code; /* exit code; -1 when killed or timed out */
} child_t;

/* Children still running, killed by the teardown if a test fails. */
static pid_t s_live[MAX_CHILDREN];

static void
s_track (pid_t pid, bool live)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (live ? s_live[i] == 0 : s_live[i] == pid) {
            s_live[i] = live ? pid : 0;
            return;
        }
}

static int
s_kill_children (void **state)
{
    (void)state;
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (s_live[i] > 0) {
            kill (s_live[i], SIGKILL);
            waitpid (s_live[i], NULL, 0);
            s_live[i] = 0;
        }
    return 0;
}

/* Start the binary with args (NULL-terminated, without argv[0]) and the
   connection of principal `who` (NULL: none) given as `how`: "flags"
   (--endpoint ...) or "env" (LANTERN_*).  `extra_env` (may be NULL) is a
   NULL-terminated list of NAME=VALUE; stdin_text (may be NULL) is written
   to the child's stdin. */
static void
s_start (child_t *c, const char *who, const char *how, const char *const *args,
         const char *const *extra_env, const char *stdin_text)
{
    memset (c, 0, sizeof *c);
    c->code = -1;
    const char *argv[MAX_ARGS];
    int argc = 0;
    argv[argc++] = s_bin;
    for (int i = 0; args[i]; i++)
        argv[argc++] = args[i];

    char endpoint[300], server_key[600], cert[600];
    snprintf (endpoint, sizeof endpoint, "%s", bus_server_endpoint (s_server));
    snprintf (server_key, sizeof server_key, "%s", bus_keys_public (s_keys, "node"));
    if (who)
        snprintf (cert, sizeof cert, "%s", bus_keys_secret (s_keys, who));
    bool flags = who && strcmp (how, "flags") == 0;
    if (flags) {
        argv[argc++] = "--endpoint";
        argv[argc++] = endpoint;
        argv[argc++] = "--server-key";
        argv[argc++] = server_key;
        argv[argc++] = "--cert";
        argv[argc++] = cert;
    }
    argv[argc] = NULL;
    assert_true (argc < MAX_ARGS);

    /* the environment, without any LANTERN_* connection setting of ours */
    size_t n = 0;
    while (environ[n])
        n++;
    const char **envp = calloc (n + 16, sizeof *envp);
    size_t e = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp (environ[i], "LANTERN_ENDPOINT=", 17) != 0 &&
            strncmp (environ[i], "LANTERN_SERVER_KEY=", 19) != 0 &&
            strncmp (environ[i], "LANTERN_CERT=", 13) != 0)
            envp[e++] = environ[i];
    char env_endpoint[340], env_key[640], env_cert[640];
    if (who && !flags) {
        snprintf (env_endpoint, sizeof env_endpoint, "LANTERN_ENDPOINT=%s", endpoint);
        snprintf (env_key, sizeof env_key, "LANTERN_SERVER_KEY=%s", server_key);
        snprintf (env_cert, sizeof env_cert, "LANTERN_CERT=%s", cert);
        envp[e++] = env_endpoint;
        envp[e++] = env_key;
        envp[e++] = env_cert;
    }
    for (int i = 0; extra_env && extra_env[i] && e < n + 15; i++)
        envp[e++] = extra_env[i];
    envp[e] = NULL;

    int out[2], err[2], in[2];
    assert_int_equal (pipe2 (out, O_CLOEXEC), 0);
    assert_int_equal (pipe2 (err, O_CLOEXEC), 0);
    assert_int_equal (pipe2 (in, O_CLOEXEC), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_adddup2 (&fa, in[0], 0);
    posix_spawn_file_actions_adddup2 (&fa, out[1], 1);
    posix_spawn_file_actions_adddup2 (&fa, err[1], 2);
    int rc = posix_spawn (&c->pid, s_bin, &fa, NULL, (char *const *)argv, (char *const *)envp);
    posix_spawn_file_actions_destroy (&fa);
    free (envp);
    close (in[0]);
    close (out[1]);
    close (err[1]);
    assert_int_equal (rc, 0);
    s_track (c->pid, true);
    if (stdin_text) {
        size_t len = strlen (stdin_text), done = 0;
        while (done < len) {
            ssize_t w = write (in[1], stdin_text + done, len - done);
            if (w <= 0)
                break;
            done += (size_t)w;
        }
    }
    close (in[1]);
    c->out_fd = out[0];
    c->err_fd = err[0];
}

static void
s_append (char **buf, size_t *len, const char *data, size_t n)
{
    char *grown = realloc (*buf, *len + n + 1);
    assert_non_null (grown);
    memcpy (grown + *len, data, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
}

/* Read the child's output until it exits or the deadline passes (then it
   is killed).  Always reaps it. */
static void
s_finish (child_t *c, int deadline_ms)
{
    int64_t end = zclock_mono () + deadline_ms;
    bool out_open = true, err_open = true;
    while ((out_open || err_open) && zclock_mono () < end) {
        struct pollfd p[2] = {{c->out_fd, POLLIN, 0}, {c->err_fd, POLLIN, 0}};
        int left = (int)(end - zclock_mono ());
        if (poll (p, 2, left > 0 ? left : 0) < 0 && errno != EINTR)
            break;
        char buf[4096];
        for (int i = 0; i < 2; i++) {
            bool *open = i ? &err_open : &out_open;
            if (!*open || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t r = read (p[i].fd, buf, sizeof buf);
            if (r > 0)
                s_append (i ? &c->err : &c->out, i ? &c->err_len : &c->out_len, buf, (size_t)r);
            else
                *open = false;
        }
    }
    int status = 0;
    pid_t done = 0;
    while ((done = waitpid (c->pid, &status, WNOHANG)) == 0 && zclock_mono () < end)
        zclock_sleep (5);
    if (done == 0) {
        fprintf (stderr, "test: child %d overstayed its deadline: killed\n", (int)c->pid);
        kill (c->pid, SIGKILL);
        waitpid (c->pid, &status, 0);
        c->code = -1;
    }
    else
        c->code = WIFEXITED (status) ? WEXITSTATUS (status) : -1;
    s_track (c->pid, false);
    close (c->out_fd);
    close (c->err_fd);
    if (!c->out)
        s_append (&c->out, &c->out_len, "", 0);
    if (!c->err)
        s_append (&c->err, &c->err_len, "", 0);
}

static void
s_free_child (child_t *c)
{
    free (c->out);
    free (c->err);
    c->out = c->err = NULL;
}

/* Run to the end; print what it said when the exit code is not `expect`. */
static void
s_run (child_t *c, int expect, const char *who, const char *how, const char *const *args,
       const char *stdin_text)
{
    s_start (c, who, how, args, NULL, stdin_text);
    s_finish (c, DEADLINE);
    if (c->code != expect)
        fail_msg ("lanternctl %s %s: exit %d (expected %d)\nstdout: %s\nstderr: %s", args[0],
                  args[1] ? args[1] : "", c->code, expect, c->out, c->err);
}

/* The next line at *cursor, cut out in place (the cursor moves past it);
   NULL at the end. */
static char *
s_next_line (char **cursor)
{
    char *line = *cursor;
    if (!line || !*line)
        return NULL;
    char *nl = strchr (line, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    }
    else
        *cursor = line + strlen (line);
    return line;
}

static json_object *
s_parse (const char *text)
{
    ln_error_t err;
    json_object *o = ln_json_parse (text, strlen (text), NULL, NULL, &err);
    if (!o)
        fail_msg ("not JSON (%s %s): %s", err.code, err.message, text);
    return o;
}

static const char *
s_str (json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex (o, key, &v) || !json_object_is_type (v, json_type_string))
        fail_msg ("no string \"%s\" in %s", key, json_object_to_json_string (o));
    return json_object_get_string (v);
}

static long
s_outbox_count (void)
{
    char *v = ln_pgfix_query_value (s_pg, "SELECT count(*) FROM ctl.outbox", 0, NULL);
    long n = v ? strtol (v, NULL, 10) : -1;
    free (v);
    return n;
}

static long
s_audit_count (void)
{
    char *v = ln_pgfix_query_value (s_pg, "SELECT count(*) FROM ctl.audit", 0, NULL);
    long n = v ? strtol (v, NULL, 10) : -1;
    free (v);
    return n;
}

/* The node's newest position, by `lanternctl call ping`. */
static uint64_t
s_last_position (void)
{
    child_t c;
    const char *args[] = {"call", "ping", "--json", NULL};
    s_run (&c, 0, "op", "flags", args, NULL);
    json_object *o = s_parse (c.out);
    uint64_t last = strtoull (s_str (o, "last_position"), NULL, 10);
    json_object_put (o);
    s_free_child (&c);
    return last;
}

/* Post a notice with lanternctl; returns its event_id (static buffer). */
static const char *
s_post (const char *who, const char *text, const char *request_id)
{
    static char event_id[64];
    char json[256];
    snprintf (json, sizeof json, "{\"text\": \"%s\"}", text);
    const char *args[] = {
        "call",     "post_notice", json, "--json", request_id ? "--request-id" : NULL,
        request_id, NULL};
    child_t c;
    s_run (&c, 0, who, "flags", args, NULL);
    json_object *o = s_parse (c.out);
    snprintf (event_id, sizeof event_id, "%s", s_str (o, "event_id"));
    json_object_put (o);
    s_free_child (&c);
    return event_id;
}

// --------------------------------------------------------------------------
// Setup

static int
s_group_setup (void **state)
{
    (void)state;
    ln_log_init ("test-lanternctl", LN_LOG_WARN);
    const char *build = getenv ("LANTERN_BUILD_DIR");
    if (!build || !*build)
        build = "build";
    snprintf (s_bin, sizeof s_bin, "%s/bin/lanternctl", build);
#if defined(__SANITIZE_ADDRESS__)
    char asan[512];
    snprintf (asan, sizeof asan, "%s/asan/bin/lanternctl", build);
    if (access (asan, X_OK) == 0)
        snprintf (s_bin, sizeof s_bin, "%s", asan);
#endif
    if (access (s_bin, X_OK) != 0) {
        fprintf (stderr, "test: no lanternctl at %s (make BUILD=%s %s/bin/lanternctl)\n", s_bin,
                 build, build);
        return -1;
    }
    fprintf (stderr, "test: running %s\n", s_bin);
    snprintf (s_tmp, sizeof s_tmp, "/tmp/lantern-ctl-test.XXXXXX");
    if (!mkdtemp (s_tmp))
        return -1;

    s_pg = ln_pgfix_new ("ctl");
    if (!s_pg)
        return -1;
    const char *conninfo = ln_pgfix_create_role (s_pg, "ctl", "ctl");
    s_keys = bus_keys_new ();
    if (!conninfo || !s_keys)
        return -1;
    if (bus_keys_add (s_keys, "node", "node", "geheim", false) != 0 ||
        bus_keys_add (s_keys, "op", "operator", "geheim", true) != 0 ||
        bus_keys_add (s_keys, "reader", "reader", "intern", true) != 0 ||
        bus_keys_add (s_keys, "stranger", "operator", "geheim", false) != 0)
        return -1;
    bus_server_config_t config = {
        .conninfo = conninfo,
        .schema = "ctl",
        .node = "node",
        .rules = s_rules,
        .rule_count = 1,
    };
    s_server = bus_server_start (s_keys, &config);
    return s_server ? 0 : -1;
}

static int
s_group_teardown (void **state)
{
    s_kill_children (state);
    bus_server_stop (&s_server);
    bus_keys_destroy (&s_keys);
    ln_pgfix_destroy (&s_pg);
    if (s_tmp[0]) {
        char path[128];
        snprintf (path, sizeof path, "%s/notice.json", s_tmp);
        unlink (path);
        rmdir (s_tmp);
    }
    return 0;
}

// --------------------------------------------------------------------------
// events tail

/* First, on an empty log: three notices come out as positions 1..3. */
static void
test_tail_json_after_posting (void **state)
{
    (void)state;
    uint64_t last = s_last_position ();
    assert_int_equal (last, 0); /* the first test: nothing posted yet */
    const char *texts[] = {"first notice", "second: caf\xc3\xa9", "third \\\"quoted\\\""};
    const char *expect[] = {"first notice", "second: caf\xc3\xa9", "third \"quoted\""};
    char ids[3][64];
    for (int i = 0; i < 3; i++)
        snprintf (ids[i], sizeof ids[i], "%s", s_post ("op", texts[i], NULL));

    const char *args[] = {"events", "tail", "--after", "0", "--count", "3", "--json", NULL};
    child_t c;
    s_run (&c, 0, "op", "flags", args, NULL);
    char *cursor = c.out, *line;
    int lines = 0;
    while ((line = s_next_line (&cursor))) {
        assert_true (lines < 3);
        json_object *o = s_parse (line);
        json_object *pos = NULL, *data = NULL;
        assert_true (json_object_object_get_ex (o, "position", &pos));
        assert_true (json_object_is_type (pos, json_type_int));
        assert_int_equal (json_object_get_int64 (pos), lines + 1);
        char seq[32];
        snprintf (seq, sizeof seq, "%020d", lines + 1);
        assert_string_equal (s_str (o, "sequence"), seq);
        assert_string_equal (s_str (o, "specversion"), "1.0");
        assert_string_equal (s_str (o, "type"), NOTICE);
        assert_string_equal (s_str (o, "source"), "urn:lantern:node:node");
        assert_string_equal (s_str (o, "id"), ids[lines]);
        assert_string_equal (s_str (o, "datacontenttype"), "application/json");
        ln_level_t level;
        assert_int_equal (ln_level_parse (s_str (o, "dataclassification"), &level), 0);
        const char *time = s_str (o, "time");
        assert_int_equal (strlen (time), 24); /* 2024-05-01T10:00:00.123Z */
        assert_true (time[10] == 'T' && time[23] == 'Z');
        assert_true (json_object_object_get_ex (o, "data", &data));
        assert_string_equal (s_str (data, "text"), expect[lines]);
        assert_string_equal (s_str (data, "author"), "op");
        json_object_put (o);
        lines++;
    }
    assert_int_equal (lines, 3);
    s_free_child (&c);
}

static void
test_tail_human_format (void **state)
{
    (void)state;
    const char *args[] = {"events", "tail", "--after", "1", "--count", "2", NULL};
    child_t c;
    s_run (&c, 0, "op", "env", args, NULL);
    char *cursor = c.out, *line;
    int lines = 0;
    while ((line = s_next_line (&cursor))) {
        /* POSITION  TIME  TYPE  LEVEL  CORRELATIONID  PAYLOAD */
        char *cols[6];
        char *p = line;
        for (int k = 0; k < 5; k++) {
            char *sep = strstr (p, "  ");
            assert_non_null (sep);
            *sep = '\0';
            cols[k] = p;
            p = sep + 2;
        }
        cols[5] = p;
        assert_int_equal (strtol (cols[0], NULL, 10), lines + 2);
        assert_int_equal (strlen (cols[1]), 24);
        assert_string_equal (cols[2], NOTICE);
        ln_level_t level;
        assert_int_equal (ln_level_parse (cols[3], &level), 0);
        assert_string_equal (cols[4], "-");
        json_object *o = s_parse (cols[5]);
        assert_string_equal (s_str (o, "text"),
                             lines == 0 ? "second: caf\xc3\xa9" : "third \"quoted\"");
        json_object_put (o);
        lines++;
    }
    assert_int_equal (lines, 2);
    s_free_child (&c);
}

/* Without --after: only events that come after it started, as they come. */
static void
test_tail_follows_new_events (void **state)
{
    (void)state;
    uint64_t before = s_last_position ();
    const char *args[] = {"events", "tail",           "--count", "1",
                          "--json", "--idle-timeout", "1000",    NULL};
    child_t c;
    s_start (&c, "op", "flags", args, NULL, NULL);
    /* post until it shows one (it may not have subscribed yet) */
    bool seen = false;
    int posted = 0;
    for (int i = 0; i < 30 && !seen; i++) {
        char text[32];
        snprintf (text, sizeof text, "live %d", i);
        s_post ("op", text, NULL);
        posted++;
        struct pollfd p = {c.out_fd, POLLIN, 0};
        seen = poll (&p, 1, 300) > 0;
    }
    s_finish (&c, DEADLINE);
    assert_true (seen);
    assert_int_equal (c.code, 0);
    json_object *o = s_parse (c.out);
    json_object *pos = NULL, *data = NULL;
    assert_true (json_object_object_get_ex (o, "position", &pos));
    uint64_t position = (uint64_t)json_object_get_int64 (pos);
    assert_true (position > before && position <= before + (uint64_t)posted);
    assert_true (json_object_object_get_ex (o, "data", &data));
    char expect[32];
    snprintf (expect, sizeof expect, "live %d", (int)(position - before - 1));
    assert_string_equal (s_str (data, "text"), expect);
    json_object_put (o);
    s_free_child (&c);
}

/* With a short idle interval it resubscribes again and again while events
   trickle in (protocol 5.3 rule 4): still each event once, in order.
   Credit 1 makes every event a batch of its own. */
static void
test_tail_resubscribes_without_duplicates (void **state)
{
    (void)state;
    uint64_t before = s_last_position ();
    char after[32];
    snprintf (after, sizeof after, "%" PRIu64, before);
    const char *args[] = {"events", "tail",           "--after", after,      "--count", "6",
                          "--json", "--idle-timeout", "20",      "--credit", "1",       NULL};
    child_t c;
    s_start (&c, "op", "flags", args, NULL, NULL);
    for (int i = 0; i < 6; i++) {
        char text[32];
        snprintf (text, sizeof text, "trickle %d", i);
        s_post ("op", text, NULL);
        zclock_sleep (60);
    }
    s_finish (&c, DEADLINE);
    assert_int_equal (c.code, 0);
    char *cursor = c.out, *line;
    uint64_t expect = before + 1;
    while ((line = s_next_line (&cursor))) {
        json_object *o = s_parse (line);
        json_object *pos = NULL, *data = NULL;
        assert_true (json_object_object_get_ex (o, "position", &pos));
        assert_int_equal ((uint64_t)json_object_get_int64 (pos), expect);
        assert_true (json_object_object_get_ex (o, "data", &data));
        char text[32];
        snprintf (text, sizeof text, "trickle %d", (int)(expect - before - 1));
        assert_string_equal (s_str (data, "text"), text);
        json_object_put (o);
        expect++;
    }
    assert_int_equal (expect, before + 7);
    s_free_child (&c);
}

static void
test_tail_reset_and_signal (void **state)
{
    (void)state;
    /* beyond the newest position: Reset AHEAD, exit 1 */
    const char *ahead[] = {"events", "tail", "--after", "1000000", NULL};
    child_t c;
    s_run (&c, 1, "op", "flags", ahead, NULL);
    assert_non_null (strstr (c.err, "AHEAD"));
    assert_string_equal (c.out, "");
    s_free_child (&c);

    /* SIGINT ends a tail cleanly and soon */
    const char *follow[] = {"events", "tail", "--after", "0", "--json", NULL};
    s_start (&c, "op", "flags", follow, NULL, NULL);
    /* wait for the backlog to be printed: it is then following */
    int64_t end = zclock_mono () + 10000;
    while (zclock_mono () < end) {
        struct pollfd p = {c.out_fd, POLLIN, 0};
        if (poll (&p, 1, 100) > 0)
            break;
    }
    zclock_sleep (200);
    kill (c.pid, SIGINT);
    int64_t start = zclock_mono ();
    s_finish (&c, 5000);
    assert_int_equal (c.code, 0);
    assert_true (zclock_mono () - start < 3000);
    assert_non_null (strstr (c.out, "\"position\":1}"));
    s_free_child (&c);

    /* usage errors */
    const char *bad[][6] = {
        {"events", "tail", "--credit", "0", NULL},
        {"events", "tail", "--after", "-1", NULL},
        {"events", "tail", "extra", NULL},
        {"events", "follow", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_run (&c, 2, "op", "flags", bad[i], NULL);
        s_free_child (&c);
    }
}

/* A stand-in for a node whose stream policy gives the subscriber's roles
   nothing: a CURVE ROUTER with the node's key that answers a Ping with a
   Pong for "reader" and every Subscribe with Reset{reason: "FORBIDDEN"}
   (what the node is to send, protocol.md 5.5), so that what lanternctl
   does with it is tested before and apart from the node's own change. */
static void
s_forbidding_node (zsock_t *pipe, void *args)
{
    /* no cmocka asserts in this thread: it reports port 0 instead */
    zcert_t *cert = bus_keys_cert ((bus_keys_t *)args, "node");
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    int port = 0;
    if (cert && router) {
        zcert_apply (cert, router);
        zsock_set_curve_server (router, 1);
        /* the registry of this process's ZAP handler admits "reader" */
        zsock_set_zap_domain (router, LN_AUTH_DOMAIN);
        port = zsock_bind (router, "tcp://127.0.0.1:*");
    }
    zsock_signal (pipe, 0); /* zactor_new waits for this */
    zsock_send (pipe, "i", port > 0 ? port : 0);
    if (port <= 0) {
        zsock_destroy (&router);
        zcert_destroy (&cert);
        return;
    }
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which != router)
            break; /* $TERM, or interrupted */
        zmsg_t *in = zmsg_recv (router);
        zframe_t *id = zmsg_pop (in);
        zframe_t *body = zmsg_pop (in);
        Lantern__V1__ClientMessage *cm =
            body
                ? lantern__v1__client_message__unpack (NULL, zframe_size (body), zframe_data (body))
                : NULL;
        Lantern__V1__ServerMessage sm = LANTERN__V1__SERVER_MESSAGE__INIT;
        Lantern__V1__Reply reply = LANTERN__V1__REPLY__INIT;
        Lantern__V1__Pong pong = LANTERN__V1__PONG__INIT;
        Lantern__V1__Reset reset = LANTERN__V1__RESET__INIT;
        char *roles[] = {"reader"};
        if (cm && cm->kind_case == LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST &&
            cm->request->command_case == LANTERN__V1__REQUEST__COMMAND_PING) {
            pong.node = "node";
            pong.principal = "reader";
            pong.organisation = "Org of reader";
            pong.n_roles = 1;
            pong.roles = roles;
            pong.level = "intern";
            reply.request_id = cm->request->request_id;
            reply.status = LANTERN__V1__REPLY__STATUS__OK;
            reply.result_case = LANTERN__V1__REPLY__RESULT_PING;
            reply.ping = &pong;
            sm.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_REPLY;
            sm.reply = &reply;
        }
        else if (cm && cm->kind_case == LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE) {
            reset.reason = "FORBIDDEN";
            sm.kind_case = LANTERN__V1__SERVER_MESSAGE__KIND_RESET;
            sm.reset = &reset;
        }
        if (sm.kind_case != LANTERN__V1__SERVER_MESSAGE__KIND__NOT_SET) {
            size_t len = lantern__v1__server_message__get_packed_size (&sm);
            uint8_t *buf = malloc (len ? len : 1);
            if (!buf)
                abort ();
            lantern__v1__server_message__pack (&sm, buf);
            zmsg_t *out = zmsg_new ();
            zmsg_append (out, &id);
            zmsg_addmem (out, buf, len);
            zmsg_send (&out, router);
            free (buf);
        }
        if (cm)
            lantern__v1__client_message__free_unpacked (cm, NULL);
        zframe_destroy (&id);
        zframe_destroy (&body);
        zmsg_destroy (&in);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
    zcert_destroy (&cert);
}

/* A key whose roles receive nothing: told so, exit 1, soon; with the
   principal and roles when the Ping gave them. */
static void
test_tail_forbidden (void **state)
{
    (void)state;
    zactor_t *node = zactor_new (s_forbidding_node, s_keys);
    assert_non_null (node);
    int port = 0;
    assert_int_equal (zsock_recv (node, "i", &port), 0);
    assert_true (port > 0);
    char endpoint[64], key[600], cert[600];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    snprintf (key, sizeof key, "%s", bus_keys_public (s_keys, "node"));
    snprintf (cert, sizeof cert, "%s", bus_keys_secret (s_keys, "reader"));

    const char *newest[] = {"events", "tail",   "--endpoint", endpoint, "--server-key",
                            key,      "--cert", cert,         NULL};
    child_t c;
    int64_t start = zclock_mono ();
    s_run (&c, 1, NULL, NULL, newest, NULL);
    assert_true (zclock_mono () - start < 5000);
    if (!strstr (c.err, "lanternctl: events: principal reader (roles reader) receives no events "
                        "from tcp://127.0.0.1:") ||
        !strstr (c.err, "its stream policy gives those roles no event type (Reset FORBIDDEN); "
                        "ask the node's operator"))
        fail_msg ("stderr: %s", c.err);
    assert_string_equal (c.out, "");
    s_free_child (&c);

    /* with --after there is no Ping: "your key" */
    const char *after[] = {"events",       "tail", "--after", "0",  "--endpoint", endpoint,
                           "--server-key", key,    "--cert",  cert, NULL};
    s_run (&c, 1, NULL, NULL, after, NULL);
    if (!strstr (c.err, "lanternctl: events: your key receives no events from ") ||
        !strstr (c.err, "gives its roles no event type (Reset FORBIDDEN)"))
        fail_msg ("stderr: %s", c.err);
    s_free_child (&c);
    zactor_destroy (&node);
}

/* events tail's other exit statuses: 3 when the node does not answer, 4
   when our key file cannot be read, 2 for an endpoint without tcp://. */
static void
test_tail_exit_codes (void **state)
{
    (void)state;
    char key[600], missing[700];
    snprintf (key, sizeof key, "%s", bus_keys_public (s_keys, "node"));
    snprintf (missing, sizeof missing, "%s/nobody.secret", bus_keys_dir (s_keys));
    const char *unreachable[] = {"events",
                                 "tail",
                                 "--endpoint",
                                 "tcp://127.0.0.1:9",
                                 "--server-key",
                                 key,
                                 "--cert",
                                 bus_keys_secret (s_keys, "op"),
                                 NULL};
    child_t c;
    s_run (&c, 3, NULL, NULL, unreachable, NULL);
    assert_non_null (strstr (c.err, "no answer from tcp://127.0.0.1:9 to a ping"));
    s_free_child (&c);
    const char *no_key[] = {
        "events", "tail",  "--endpoint", "tcp://127.0.0.1:9", "--server-key", key,
        "--cert", missing, NULL};
    s_run (&c, 4, NULL, NULL, no_key, NULL);
    assert_non_null (strstr (c.err, "--cert: "));
    s_free_child (&c);
    const char *no_transport[] = {"events",
                                  "tail",
                                  "--endpoint",
                                  "127.0.0.1:9",
                                  "--server-key",
                                  key,
                                  "--cert",
                                  bus_keys_secret (s_keys, "op"),
                                  NULL};
    s_run (&c, 2, NULL, NULL, no_transport, NULL);
    assert_non_null (strstr (c.err, "did you mean tcp://127.0.0.1:9?"));
    s_free_child (&c);
}

// --------------------------------------------------------------------------
// call

static void
test_call_ping_prints_principal (void **state)
{
    (void)state;
    /* connection from the environment; compact output */
    const char *args[] = {"call", "ping", "--json", NULL};
    child_t c;
    s_run (&c, 0, "op", "env", args, NULL);
    assert_non_null (strstr (c.err, "request_id: ctl-"));
    assert_int_equal (strchr (c.out, '\n') - c.out, (long)c.out_len - 1); /* one line */
    json_object *o = s_parse (c.out);
    assert_string_equal (s_str (o, "principal"), "op");
    assert_string_equal (s_str (o, "node"), "node");
    assert_string_equal (s_str (o, "level"), "geheim");
    json_object_put (o);
    s_free_child (&c);

    /* flags; pretty output (several lines), for another principal */
    const char *pretty[] = {"call", "ping", NULL};
    s_run (&c, 0, "reader", "flags", pretty, NULL);
    assert_true (strchr (c.out, '\n') < c.out + c.out_len - 1);
    o = s_parse (c.out);
    assert_string_equal (s_str (o, "principal"), "reader");
    assert_string_equal (s_str (o, "organisation"), "Org of reader");
    json_object *roles = NULL;
    assert_true (json_object_object_get_ex (o, "roles", &roles));
    assert_int_equal (json_object_array_length (roles), 1);
    assert_string_equal (json_object_get_string (json_object_array_get_idx (roles, 0)), "reader");
    json_object_put (o);
    s_free_child (&c);
}

static void
test_call_post_notice_and_retry (void **state)
{
    (void)state;
    long events = s_outbox_count ();
    const char *id = s_post ("op", "hi", NULL);
    assert_int_equal (strlen (id), 32);
    assert_int_equal (s_outbox_count (), events + 1);

    /* the same request_id: the same event_id, nothing new; another text
       under it is refused (REQUEST_ID_REUSED), exit 1 */
    char first[64];
    snprintf (first, sizeof first, "%s", s_post ("op", "once only", "ctl-test-retry-1"));
    assert_int_equal (s_outbox_count (), events + 2);
    assert_string_equal (s_post ("op", "once only", "ctl-test-retry-1"), first);
    {
        const char *reuse[] = {"call",         "post_notice",      "{\"text\": \"another text\"}",
                               "--request-id", "ctl-test-retry-1", NULL};
        child_t r;
        s_run (&r, 1, "op", "flags", reuse, NULL);
        assert_non_null (strstr (r.err, "REQUEST_ID_REUSED"));
        s_free_child (&r);
    }
    assert_int_equal (s_outbox_count (), events + 2);

    /* camelCase, from a file and from stdin */
    char path[128];
    snprintf (path, sizeof path, "%s/notice.json", s_tmp);
    FILE *f = fopen (path, "w");
    assert_non_null (f);
    fputs ("{\n  \"text\": \"from a file\"\n}\n", f);
    fclose (f);
    const char *from_file[] = {"call", "postNotice", "--file", path, "--json", NULL};
    child_t c;
    s_run (&c, 0, "op", "flags", from_file, NULL);
    json_object *o = s_parse (c.out);
    assert_int_equal (strlen (s_str (o, "event_id")), 32);
    json_object_put (o);
    s_free_child (&c);
    const char *from_stdin[] = {"call", "post_notice", "-", NULL};
    s_run (&c, 0, "op", "flags", from_stdin, "{\"text\": \"from stdin\"}");
    o = s_parse (c.out);
    assert_int_equal (strlen (s_str (o, "event_id")), 32);
    json_object_put (o);
    s_free_child (&c);
    assert_int_equal (s_outbox_count (), events + 4);

    /* verify_audit: an operator's read-only command */
    const char *verify[] = {"call", "verify_audit", "--json", NULL};
    s_run (&c, 0, "op", "flags", verify, NULL);
    o = s_parse (c.out);
    json_object *ok = NULL;
    assert_true (json_object_object_get_ex (o, "ok", &ok));
    assert_true (json_object_get_boolean (ok));
    assert_true (strtol (s_str (o, "rows"), NULL, 10) > 5);
    json_object_put (o);
    s_free_child (&c);
}

static void
test_call_refusals (void **state)
{
    (void)state;
    long events = s_outbox_count ();
    /* an operator-only command with a non-operator key */
    const char *post[] = {"call", "post_notice", "{\"text\":\"not allowed\"}", NULL};
    child_t c;
    s_run (&c, 1, "reader", "flags", post, NULL);
    assert_non_null (strstr (c.err, "lanternctl: call: FORBIDDEN: "));
    assert_string_equal (c.out, "");
    s_free_child (&c);
    /* the node's own validation: named field */
    const char *empty[] = {"call", "post_notice", "{\"text\":\"\"}", NULL};
    s_run (&c, 1, "op", "flags", empty, NULL);
    assert_non_null (strstr (c.err, "lanternctl: call: MISSING_TEXT: "));
    assert_non_null (strstr (c.err, "(text)"));
    s_free_child (&c);
    assert_int_equal (s_outbox_count (), events);

    /* JSON that does not fit: exit 2 with the path, and nothing is sent
       (the node audits every request it gets, refused or not) */
    long audit = s_audit_count ();
    static const struct {
        const char *json, *code, *field;
    } bad[] = {
        {"{\"text\":1}", "JSON_TYPE", "text"},
        {"{\"text\":", "JSON_SYNTAX", "text"},
        {"{\"txt\":\"x\"}", "JSON_UNKNOWN_FIELD", "txt"},
        {"{\"text\":\"a\",\"text\":\"b\"}", "JSON_DUPLICATE_KEY", "text"},
        {"{\"text\":\"bell\\u0007\"}", "PB_INVALID_UTF8", "text"},
        {"[]", "JSON_TYPE", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[] = {"call", "post_notice", bad[i].json, NULL};
        s_run (&c, 2, "op", "flags", args, NULL);
        char expect[128];
        snprintf (expect, sizeof expect, "lanternctl: call: %s: %s%s", bad[i].code, bad[i].field,
                  bad[i].field[0] ? ": " : "");
        if (!strstr (c.err, expect))
            fail_msg ("%s: expected '%s' in: %s", bad[i].json, expect, c.err);
        assert_null (strstr (c.err, "request_id"));
        s_free_child (&c);
    }
    assert_int_equal (s_audit_count (), audit);
    assert_int_equal (s_outbox_count (), events);
}

static void
test_call_usage_and_connection_errors (void **state)
{
    (void)state;
    child_t c;
    /* missing --cert (the other two given): a clear message, exit 2 */
    char endpoint[300], key[600];
    snprintf (endpoint, sizeof endpoint, "%s", bus_server_endpoint (s_server));
    snprintf (key, sizeof key, "%s", bus_keys_public (s_keys, "node"));
    const char *no_cert[] = {"call", "ping", "--endpoint", endpoint, "--server-key", key, NULL};
    s_run (&c, 2, NULL, NULL, no_cert, NULL);
    assert_non_null (strstr (c.err, "--cert"));
    assert_non_null (strstr (c.err, "LANTERN_CERT"));
    assert_string_equal (c.out, "");
    s_free_child (&c);
    const char *tail_no_cert[] = {"events",       "tail", "--endpoint", endpoint,
                                  "--server-key", key,    NULL};
    s_run (&c, 2, NULL, NULL, tail_no_cert, NULL);
    assert_non_null (strstr (c.err, "--cert"));
    s_free_child (&c);
    const char *no_endpoint[] = {"call", "ping", NULL};
    s_run (&c, 2, NULL, NULL, no_endpoint, NULL);
    assert_non_null (strstr (c.err, "--endpoint"));
    s_free_child (&c);
    /* a public certificate given as --cert: exit 2, and it says so */
    const char *bad_cert[] = {"call", "ping",   "--endpoint", endpoint, "--server-key",
                              key,    "--cert", key,          NULL};
    s_run (&c, 2, NULL, NULL, bad_cert, NULL);
    assert_non_null (strstr (c.err, "--cert "));
    assert_non_null (strstr (c.err, "is a public certificate, not a key pair"));
    s_free_child (&c);
    /* the same from the environment names the variable */
    const char *bad_env[] = {"call", "ping", NULL};
    char env_cert[700];
    snprintf (env_cert, sizeof env_cert, "LANTERN_CERT=%s", key);
    const char *env[] = {env_cert, NULL};
    s_start (&c, NULL, NULL, bad_env, env, NULL);
    s_finish (&c, DEADLINE);
    assert_int_equal (c.code, 2);
    s_free_child (&c);

    /* usage errors */
    const char *bad[][6] = {
        {"call", NULL},
        {"call", "no_such_command", NULL},
        {"call", "ping", "--timeout", "0", NULL},
        {"call", "ping", "--retries", "x", NULL},
        {"call", "ping", "--request-id", "has space", NULL},
        {"call", "ping", "{}", "{}", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_run (&c, 2, "op", "flags", bad[i], NULL);
        assert_non_null (strstr (c.err, "lanternctl: call: "));
        s_free_child (&c);
    }

    /* --help lists the commands, from the descriptor */
    const char *help[] = {"call", "--help", NULL};
    s_run (&c, 0, NULL, NULL, help, NULL);
    assert_non_null (strstr (c.out, "\n  ping "));
    assert_non_null (strstr (c.out, "\n  post_notice "));
    assert_non_null (strstr (c.out, "\n  verify_audit "));
    s_free_child (&c);
}

/* A key the node does not know never gets an answer: exit 3 (unreachable),
   and the user is told that the command may or may not have taken effect and which
   request_id to retry with. */
static void
test_call_timeout (void **state)
{
    (void)state;
    const char *args[] = {"call", "ping",         "--timeout", "300", "--retries",
                          "0",    "--request-id", "strange-1", NULL};
    child_t c;
    int64_t start = zclock_mono ();
    s_run (&c, 3, "stranger", "flags", args, NULL);
    assert_true (zclock_mono () - start >= 300);
    if (!strstr (c.err, "no reply from tcp://127.0.0.1:") ||
        !strstr (c.err, "1 attempt(s) of 300 ms"))
        fail_msg ("stderr: %s", c.err);
    assert_non_null (strstr (c.err, "may or may not have taken effect"));
    assert_non_null (strstr (c.err, "--request-id strange-1"));
    assert_string_equal (c.out, "");
    s_free_child (&c);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown (test_tail_json_after_posting, s_kill_children),
        cmocka_unit_test_teardown (test_tail_human_format, s_kill_children),
        cmocka_unit_test_teardown (test_tail_follows_new_events, s_kill_children),
        cmocka_unit_test_teardown (test_tail_resubscribes_without_duplicates, s_kill_children),
        cmocka_unit_test_teardown (test_tail_reset_and_signal, s_kill_children),
        cmocka_unit_test_teardown (test_tail_forbidden, s_kill_children),
        cmocka_unit_test_teardown (test_tail_exit_codes, s_kill_children),
        cmocka_unit_test_teardown (test_call_ping_prints_principal, s_kill_children),
        cmocka_unit_test_teardown (test_call_post_notice_and_retry, s_kill_children),
        cmocka_unit_test_teardown (test_call_refusals, s_kill_children),
        cmocka_unit_test_teardown (test_call_usage_and_connection_errors, s_kill_children),
        cmocka_unit_test_teardown (test_call_timeout, s_kill_children),
    };
    return cmocka_run_group_tests (tests, s_group_setup, s_group_teardown);
}
