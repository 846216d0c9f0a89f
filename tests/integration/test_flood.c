/*  test_flood: issue 9 point 4, "Repeated fields are counted before
    decoding", through a real node.

    A real lantern-intake process (tests/support/intake_fixture: real
    PostgreSQL, real CURVE sockets).  One officer sends 1 MiB frames that
    are nothing but repeated entries: a SubmitSignal whose details hold
    500,000 empty persons (the flood of the issue: before the fix it raised
    the node's RSS by ~90 MB and held its only loop thread ~300 ms per
    frame), and one whose 500 persons hold 1,000 empty tokens each (within
    every count, but 500,000 structs: what nesting multiplies).  Meanwhile
    another officer Pings.  What must hold:
      - each flood is answered, under its request_id, with PB_TOO_MANY at
        details.persons or PB_TOO_BIG: refused by the wire pass, before
        protobuf-c allocates;
      - every Ping is answered within 100 ms (a thread Pings without pause
        while the floods are sent and answered), and the node spends less
        than 30 ms of CPU per flood (before: ~300 ms);
      - the node's peak RSS (VmHWM) and RSS (VmRSS) grow by less than
        8 MiB over all the floods (12 MiB for a node built with ASan;
        ZeroMQ's own buffers for a few 1 MiB frames included; before the
        fix the peak grew by 78 MiB);
      - nothing is stored: no signal.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>

#include "intake_fixture.h"
#include "ln_client.h"
#include "proc_child.h"
#include "wire.pb-c.h"

#define ROUNDS           24
#define PER_ROUND        1 /* a Ping waits behind one flood at most */
#define PING_MAX_MS      100
#define CPU_PER_FLOOD_MS 30
/* ZeroMQ holds a few 1 MiB frames (received, decrypted) at a time; a
   node built with ASan adds its allocator's bookkeeping (measured: plain
   3..5 MiB, ASan 5..7 MiB; before the fix, plain: 78 MiB) */
#if defined(__SANITIZE_ADDRESS__)
#define GROWTH_KIB (12 * 1024)
#else
#define GROWTH_KIB (8 * 1024)
#endif
#define FRAME_MAX (1024 * 1024) /* the node's ZMQ_MAXMSGSIZE */

static intake_fix_t *s_fix;

static int
s_setup (void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__)
    /* ASan holds freed memory in a quarantine (256 MiB by default), so the
       node's RSS would count every 1 MiB frame ZeroMQ received and freed:
       keep none, for the node this test starts. */
    char opts[1024];
    const char *old = getenv ("ASAN_OPTIONS");
    snprintf (opts, sizeof opts, "%s%squarantine_size_mb=0:thread_local_quarantine_size_kb=0",
              old ? old : "", old && *old ? ":" : "");
    setenv ("ASAN_OPTIONS", opts, 1);
#endif
    s_fix = intake_fix_start (NULL);
    return s_fix ? 0 : -1;
}

static int
s_teardown (void **state)
{
    (void)state;
    return intake_fix_stop (&s_fix);
}

/* A line "KEY:   N kB" of /proc/PID/status, in KiB; -1 when absent. */
static long
s_status_kib (pid_t pid, const char *key)
{
    char path[64], line[256];
    size_t klen = strlen (key);
    long kib = -1;
    snprintf (path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    while (fgets (line, sizeof line, f))
        if (strncmp (line, key, klen) == 0 && line[klen] == ':') {
            kib = strtol (line + klen + 1, NULL, 10);
            break;
        }
    fclose (f);
    return kib;
}

// --------------------------------------------------------------------------
// The flood, written as bytes (protobuf-c would need 500,000 structs)

typedef struct {
    uint8_t *data;
    size_t len, cap;
} buf_t;

static void
b_raw (buf_t *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->data = realloc (b->data, b->cap);
        assert_non_null (b->data);
    }
    memcpy (b->data + b->len, p, n);
    b->len += n;
}

static void
b_varint (buf_t *b, uint64_t v)
{
    do {
        uint8_t c = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v)
            c |= 0x80;
        b_raw (b, &c, 1);
    } while (v);
}

/* Field `field` (length-delimited) holding sub. */
static void
b_msg (buf_t *b, uint32_t field, const buf_t *sub)
{
    b_varint (b, (uint64_t)field << 3 | 2);
    b_varint (b, sub->len);
    if (sub->len)
        b_raw (b, sub->data, sub->len);
}

/* ClientMessage{request{request_id, submit_signal{details{persons}}}}:
   `persons` persons, each with `tokens` empty tokens (0: empty persons). */
static zframe_t *
s_flood_frame (const char *request_id, size_t persons, size_t tokens)
{
    buf_t person = {0}, details = {0}, sub = {0}, req = {0}, top = {0}, empty = {0};
    for (size_t t = 0; t < tokens; t++)
        b_msg (&person, 9, &empty); /* Person.tokens */
    for (size_t p = 0; p < persons; p++)
        b_msg (&details, 9, &person); /* SignalDetails.persons */
    b_msg (&sub, 1, &details);        /* SubmitSignal.details */
    buf_t id = {0};
    b_raw (&id, request_id, strlen (request_id));
    b_msg (&req, 1, &id);    /* Request.request_id */
    b_msg (&req, 100, &sub); /* Request.submit_signal */
    b_msg (&top, 1, &req);   /* ClientMessage.request */
    assert_true (top.len <= FRAME_MAX);
    assert_true (top.len > FRAME_MAX - 64 * 1024); /* about 1 MiB */
    zframe_t *frame = zframe_new (top.data, top.len);
    free (person.data);
    free (details.data);
    free (sub.data);
    free (req.data);
    free (top.data);
    free (id.data);
    return frame;
}

/* Ping as c; milliseconds until the reply, or -1 (with why in err). */
static int64_t
s_try_ping_ms (ln_client_t *c, int n, char *why, size_t why_size)
{
    char rid[32];
    snprintf (rid, sizeof rid, "ping-%d", n);
    Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.request_id = rid;
    req.command_case = LANTERN__V1__REQUEST__COMMAND_PING;
    req.ping = &ping;
    ln_error_t err;
    int64_t start = zclock_mono ();
    Lantern__V1__ServerMessage *m = ln_client_call (c, &req, 10000, 1, &err);
    int64_t ms = zclock_mono () - start;
    if (!m) {
        snprintf (why, why_size, "no Pong: %s", err.message);
        return -1;
    }
    if (m->kind_case != LANTERN__V1__SERVER_MESSAGE__KIND_REPLY ||
        m->reply->status != LANTERN__V1__REPLY__STATUS__OK ||
        strcmp (m->reply->request_id, rid) != 0) {
        snprintf (why, why_size, "not the Pong of %s", rid);
        ms = -1;
    }
    lantern__v1__server_message__free_unpacked (m, NULL);
    return ms;
}

static int64_t
s_ping_ms (ln_client_t *c, int n)
{
    char why[LN_ERROR_MESSAGE_MAX + 32];
    int64_t ms = s_try_ping_ms (c, n, why, sizeof why);
    if (ms < 0)
        fail_msg ("%s", why);
    return ms;
}

/* Ping without pause until told to stop; the slowest Pong. */
typedef struct {
    ln_client_t *client;
    atomic_bool stop;
    int pings;
    int64_t slowest_ms; /* -1: a Ping failed (why) */
    char why[LN_ERROR_MESSAGE_MAX + 32];
} s_pinger_t;

static void *
s_pinger (void *arg)
{
    s_pinger_t *p = arg;
    while (!atomic_load (&p->stop)) {
        int64_t ms = s_try_ping_ms (p->client, 100 + p->pings, p->why, sizeof p->why);
        p->pings++;
        if (ms < 0) {
            p->slowest_ms = -1;
            break;
        }
        if (ms > p->slowest_ms)
            p->slowest_ms = ms;
    }
    return NULL;
}

static bool
s_ends_with (const char *s, const char *tail)
{
    size_t n = strlen (s), t = strlen (tail);
    return n >= t && strcmp (s + n - t, tail) == 0;
}

/* A flood's reply: refused under its request_id, PB_TOO_MANY at
   details.persons or PB_TOO_BIG; else says why in problem. */
static void
s_check_refusal (const Lantern__V1__ServerMessage *m, char *problem, size_t size)
{
    const Lantern__V1__Reply *r = m->reply;
    if (m->kind_case != LANTERN__V1__SERVER_MESSAGE__KIND_REPLY ||
        r->status != LANTERN__V1__REPLY__STATUS__ERROR || !r->error)
        snprintf (problem, size, "a flood not refused");
    else if (strcmp (r->request_id, "flood-count") == 0) {
        if (strcmp (r->error->code, "PB_TOO_MANY") != 0 ||
            !s_ends_with (r->error->field, "details.persons"))
            snprintf (problem, size, "the count flood refused with %s at '%s'", r->error->code,
                      r->error->field);
    }
    else if (strcmp (r->request_id, "flood-nested") == 0) {
        if (strcmp (r->error->code, "PB_TOO_BIG") != 0)
            snprintf (problem, size, "the nested flood refused with %s at '%s'", r->error->code,
                      r->error->field);
    }
    else
        snprintf (problem, size, "a reply to '%s'", r->request_id);
}

static void
test_issue9_p4_repeated_flood (void **state)
{
    (void)state;
    ln_client_t *flooder = intake_fix_client (s_fix, "officer");
    ln_client_t *pinger = intake_fix_client (s_fix, "officer2");
    assert_non_null (flooder);
    assert_non_null (pinger);
    pid_t pid = intake_fix_pid (s_fix);
    long signals = intake_fix_count (s_fix, "signals");

    /* connections up, the node warm */
    s_ping_ms (flooder, 0);
    s_ping_ms (pinger, 1);
    long rss0 = s_status_kib (pid, "VmRSS"), hwm0 = s_status_kib (pid, "VmHWM");
    long cpu0 = proc_cpu_ms (pid);
    assert_true (rss0 > 0 && hwm0 > 0 && cpu0 >= 0);

    zframe_t *count_flood = s_flood_frame ("flood-count", 500000, 0);
    zframe_t *nested_flood = s_flood_frame ("flood-nested", 500, 1000);
    s_pinger_t ping = {.client = pinger};
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_pinger, &ping), 0);
    char problem[LN_ERROR_MESSAGE_MAX + 128] = "";
    for (int round = 0; round < ROUNDS && !problem[0]; round++) {
        /* a flood, of each shape in turn */
        for (int k = 0; k < PER_ROUND; k++) {
            zframe_t *f = zframe_dup ((round + k) % 2 ? nested_flood : count_flood);
            assert_int_equal (zframe_send (&f, ln_client_socket (flooder), 0), 0);
        }
        /* every flood refused under its request_id, by the wire pass */
        for (int k = 0; k < PER_ROUND && !problem[0]; k++) {
            ln_error_t err;
            Lantern__V1__ServerMessage *m = ln_client_recv (flooder, 10000, &err);
            if (!m)
                snprintf (problem, sizeof problem, "a flood of round %d not answered: %s", round,
                          err.message);
            else
                s_check_refusal (m, problem, sizeof problem);
            if (m)
                lantern__v1__server_message__free_unpacked (m, NULL);
        }
    }
    atomic_store (&ping.stop, true);
    assert_int_equal (pthread_join (thread, NULL), 0);
    if (problem[0])
        fail_msg ("%s", problem);
    long rss1 = s_status_kib (pid, "VmRSS"), hwm1 = s_status_kib (pid, "VmHWM");
    long cpu = proc_cpu_ms (pid) - cpu0;
    print_message ("%d floods: VmRSS %ld -> %ld KiB, VmHWM %ld -> %ld KiB; node CPU %ld ms; %d "
                   "Pings, the slowest after %lld ms\n",
                   ROUNDS * PER_ROUND, rss0, rss1, hwm0, hwm1, cpu, ping.pings,
                   (long long)ping.slowest_ms);
    if (ping.slowest_ms < 0)
        fail_msg ("%s", ping.why);
    assert_true (ping.pings >= ROUNDS); /* it Pinged all along */
    assert_true (ping.slowest_ms < PING_MAX_MS);
    assert_true (cpu < ROUNDS * PER_ROUND * CPU_PER_FLOOD_MS);
    assert_true (hwm1 - hwm0 < GROWTH_KIB);
    assert_true (rss1 - rss0 < GROWTH_KIB);
    assert_int_equal (intake_fix_count (s_fix, "signals"), signals);

    zframe_destroy (&count_flood);
    zframe_destroy (&nested_flood);
    ln_client_destroy (&pinger);
    ln_client_destroy (&flooder);
}

int
main (void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test (test_issue9_p4_repeated_flood),
    };
    return cmocka_run_group_tests (tests, s_setup, s_teardown);
}
