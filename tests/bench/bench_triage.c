/*  bench_triage: the triage node following two intake nodes (issue 11,
    "Bench").

    One region of real processes (tests/support/triage_region): two
    lantern-intake nodes and a lantern-triage, one PostgreSQL.

      1. fill: N signals (default 100,000) submitted through the intake
         nodes' command path by 64 officers' connections, half at each node;
         every tenth shares a phone number with a signal submitted seven
         before it (at the other node, half the time), so that weak signals
         add up into cases as they do in a region; the rest stand alone.
      2. the bus's own replay, in this run: one ln_consumer per intake node
         in this process (a principal with role triage, so it gets the same
         full events), whose apply inserts each batch's positions and ids
         with one statement, as bench_bus does: events/s until both cursors
         reach their node's newest position.
      3. triage's replay: lantern-triage started on an empty schema,
         following both nodes from position 0: events/s until both its
         cursors reach the newest positions, and the cases it built
         (checked: one row per signal, every signal in a case, one case per
         connected group of signals); the target is >= 30% of step 2's
         figure.  With the CPU per event of triage, the intake nodes and
         PostgreSQL, and what triage spent its PostgreSQL time on
         (pg_stat_statements when it is there).
      4. latency: 200 signals/s offered (open loop: each second's signals
         are sent on schedule whatever the replies), alternating the nodes,
         for SECONDS (default 20): from the officer's OK reply to the
         moment the signal is in a case at triage (a poll of triage's
         table every millisecond); p50, p99 and max; the target p99 is
         <= 100 ms.

        make bench
        build/plain/bench/bench_triage [SIGNALS] [SECONDS]

    Exit 0 when it measured (a missed target is a finding, not a failure);
    1 when a step could not be made or a check failed.
*/
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <czmq.h>

#include "cpu_usage.h"
#include "lantern.pb-c.h"
#include "ln_alloc.h"
#include "ln_clock.h"
#include "ln_consumer.h"
#include "ln_db.h"
#include "ln_envelope.h"
#include "ln_keys.h"
#include "triage_calls.h"
#include "triage_region.h"
#include "wire.pb-c.h"

#define CLIENTS_PER_NODE 32
#define TARGET_SHARE     0.30
#define TARGET_P99_MS    100.0
#define OFFERED_PER_S    200

static triage_region_t *s_r;

/* --- the signals --------------------------------------------------------------------- */

/* Signal i: a person with a name and date of birth of its own and a phone
   number, which every tenth shares with signal i - 7. */
static void
s_spec (long i, triage_sig_t *spec, char *name, char *dob, char *phone)
{
    static const char *const first[] = {"Anna",  "Ewa", "Maria", "Olga",  "Ivan",
                                        "Piotr", "Jan", "Ana",   "Elena", "Mihai"};
    char letters[8];
    long v = i;
    for (int k = 0; k < 5; k++) {
        letters[k] = (char)('a' + v % 26);
        v /= 26;
    }
    letters[5] = '\0';
    snprintf (name, 64, "%s %s", first[i % 10], letters);
    snprintf (dob, 16, "%04ld-%02ld-%02ld", 1960 + i % 45, 1 + i % 12, 1 + i % 28);
    long p = i % 10 == 9 && i >= 7 ? i - 7 : i;
    snprintf (phone, 32, "06 %08ld", 10000000 + p);
    memset (spec, 0, sizeof *spec);
    spec->persons[0].name = name;
    spec->persons[0].dob = dob;
    spec->persons[0].phone = phone;
    spec->indicators[0] = i % 3 ? "ILO_DECEPTION" : "LIVES_AT_WORKPLACE";
    spec->indicators[1] = i % 5 ? NULL : "ILO_WITHHOLDING_OF_WAGES";
    spec->account = "Seen at work; long hours.";
}

/* Of n signals, how many cases: every tenth (from 9) joins i - 7's. */
static long
s_expected_cases (long n)
{
    long linked = 0;
    for (long i = 9; i < n; i += 10)
        linked++;
    return n - linked;
}

typedef struct {
    ln_client_t *client;
    char rid[48];
    long n;
} slot_t;

/* Submit signals [0, n) over CLIENTS_PER_NODE connections per node, one
   request outstanding on each.  Signal i goes to node (i / 7) % 2, so that
   a linked signal (i - 7) sits at the other node half the time.  Returns
   the number accepted. */
static long
s_fill (long n)
{
    int nc = 2 * CLIENTS_PER_NODE;
    slot_t *cs = ln_xcalloc ((size_t)nc, sizeof *cs);
    zmq_pollitem_t *items = ln_xcalloc ((size_t)nc, sizeof *items);
    long next[2] = {0, 0}; /* next index per node */
    long accepted = 0, refused = 0, outstanding = 0;
    for (int c = 0; c < nc; c++) {
        size_t node = (size_t)(c % 2);
        cs[c].client = triage_region_client (s_r, node, triage_region_officer (s_r, node));
        items[c].socket = zsock_resolve (ln_client_socket (cs[c].client));
        items[c].events = ZMQ_POLLIN;
    }
    usleep (500 * 1000);
    /* the next index of node `node`: i with (i / 7) % 2 == node */
    for (;;) {
        for (int c = 0; c < nc; c++) {
            if (cs[c].rid[0])
                continue;
            int node = c % 2;
            long i = next[node];
            while ((i / 7) % 2 != node)
                i++;
            if (i >= n)
                continue;
            next[node] = i + 1;
            triage_sig_t spec;
            char name[64], dob[16], phone[32];
            s_spec (i, &spec, name, dob, phone);
            Lantern__V1__SubmitSignal sub = LANTERN__V1__SUBMIT_SIGNAL__INIT;
            sub.details = triage_sig_details (&spec);
            Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
            r.command_case = LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL;
            r.submit_signal = &sub;
            snprintf (cs[c].rid, sizeof cs[c].rid, "fill-%d-%ld", c, cs[c].n++);
            r.request_id = cs[c].rid;
            Lantern__V1__ClientMessage m = LANTERN__V1__CLIENT_MESSAGE__INIT;
            m.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
            m.request = &r;
            ln_error_t err;
            if (ln_client_send (cs[c].client, &m, &err) != 0)
                cs[c].rid[0] = '\0';
            else
                outstanding++;
            protobuf_c_message_free_unpacked (&sub.details->base, NULL);
        }
        if (outstanding == 0)
            break;
        if (zmq_poll (items, nc, 30000) <= 0)
            break;
        for (int c = 0; c < nc; c++) {
            if (!(items[c].revents & ZMQ_POLLIN))
                continue;
            ln_error_t err;
            Lantern__V1__ServerMessage *m;
            while ((m = ln_client_recv (cs[c].client, 0, &err))) {
                if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_REPLY && cs[c].rid[0] &&
                    strcmp (m->reply->request_id, cs[c].rid) == 0) {
                    if (m->reply->status == LANTERN__V1__REPLY__STATUS__OK)
                        accepted++;
                    else if (refused++ < 5)
                        fprintf (stderr, "bench_triage: refused: %s\n",
                                 m->reply->error ? m->reply->error->message : "?");
                    cs[c].rid[0] = '\0';
                    outstanding--;
                }
                lantern__v1__server_message__free_unpacked (m, NULL);
            }
        }
    }
    for (int c = 0; c < nc; c++)
        ln_client_destroy (&cs[c].client);
    free (cs);
    free (items);
    return accepted;
}

/* --- the bus's own replay ------------------------------------------------------------ */

static const ln_migration_t s_applied_migration = {
    100, "bench_applied",
    "CREATE TABLE applied (upstream text NOT NULL, position bigint NOT NULL, event_id text NOT"
    " NULL, PRIMARY KEY (upstream, position))"};

/* The bus's apply: the batch's positions and ids, one INSERT. */
static int
s_apply_baseline (void *arg, ln_db_t *db, const char *upstream, ln_event_t *const *events,
                  const uint64_t *positions, size_t count, ln_error_t *err)
{
    (void)arg;
    ln_db_array_t pos, ids;
    ln_db_array_init (&pos, LN_DB_OID_INT8);
    ln_db_array_init (&ids, LN_DB_OID_TEXT);
    for (size_t i = 0; i < count; i++) {
        ln_db_array_add_int8 (&pos, (int64_t)positions[i]);
        ln_db_array_add_text (&ids, ln_event_id (events[i]));
    }
    const char *values[3] = {upstream, ln_db_array_data (&pos), ln_db_array_data (&ids)};
    int lengths[3] = {0, ln_db_array_size (&pos), ln_db_array_size (&ids)};
    int formats[3] = {0, 1, 1};
    PGresult *res = ln_db_exec_prepared (
        db, "bench_triage_applied",
        "INSERT INTO applied SELECT $1, p, i FROM unnest ($2::bigint[], $3::text[]) AS u (p, i)", 3,
        values, lengths, formats, 0, err);
    ln_db_array_clear (&pos);
    ln_db_array_clear (&ids);
    if (!res)
        return -1;
    PQclear (res);
    return 0;
}

/* The newest position of intake node i. */
static long
s_head (size_t i)
{
    char sql[160];
    snprintf (sql, sizeof sql, "SELECT head FROM %s.outbox_head", triage_region_name (s_r, i));
    for (char *p = sql + 17; *p && *p != '.'; p++)
        if (*p == '-')
            *p = '_';
    return triage_region_count (s_r, sql);
}

/* Replay both nodes into this process's consumers: events/s, or -1. */
static double
s_replay_baseline (long *events_out)
{
    ln_pgfix_t *pg = triage_region_pg (s_r);
    const char *conninfo = ln_pgfix_create_role (pg, "bench_replay", "bench_replay");
    ln_error_t err;
    ln_db_t *db = conninfo ? ln_db_connect (conninfo, "bench_replay", NULL, &err) : NULL;
    ln_migration_t list[2] = {ln_consumer_migration, s_applied_migration};
    if (!db || ln_db_migrate (db, list, 2, &err) != 0) {
        fprintf (stderr, "bench_triage: replay schema: %s\n", db ? err.message : "no connection");
        ln_db_destroy (&db);
        return -1;
    }
    zcert_t *cert = bus_keys_cert (triage_region_keys (s_r), "replayer");
    ln_consumer_t *c[2] = {NULL, NULL};
    long heads[2] = {s_head (0), s_head (1)};
    for (size_t i = 0; i < 2; i++) {
        char key[64];
        snprintf (key, sizeof key, "%s",
                  bus_keys_public_z85 (triage_region_keys (s_r), triage_region_name (s_r, i)));
        ln_consumer_config_t cc = {.upstream = triage_region_name (s_r, i),
                                   .endpoint = triage_region_endpoint (s_r, i),
                                   .server_public_key = key,
                                   .cert = cert,
                                   .credit = 1000};
        c[i] = ln_consumer_new (&cc, db, s_apply_baseline, NULL, &err);
        if (!c[i]) {
            fprintf (stderr, "bench_triage: consumer: %s\n", err.message);
            break;
        }
    }
    zcert_destroy (&cert);
    double rate = -1;
    if (c[0] && c[1]) {
        int64_t t0 = ln_clock_mono_ms ();
        zpoller_t *poller =
            zpoller_new (ln_consumer_socket (c[0]), ln_consumer_socket (c[1]), NULL);
        while ((long)ln_consumer_position (c[0]) < heads[0] ||
               (long)ln_consumer_position (c[1]) < heads[1]) {
            int64_t now = ln_clock_mono_ms ();
            if (now - t0 > 600000)
                break;
            int wait = 100;
            for (int i = 0; i < 2; i++) {
                int w = ln_consumer_next_timeout_ms (c[i], now);
                if (w >= 0 && w < wait)
                    wait = w;
            }
            void *which = zpoller_wait (poller, wait);
            for (int i = 0; i < 2; i++) {
                if (which == ln_consumer_socket (c[i]))
                    ln_consumer_on_readable (c[i]);
                ln_consumer_on_tick (c[i], ln_clock_mono_ms ());
            }
        }
        int64_t t1 = ln_clock_mono_ms ();
        zpoller_destroy (&poller);
        long events = heads[0] + heads[1];
        if ((long)ln_consumer_position (c[0]) >= heads[0] &&
            (long)ln_consumer_position (c[1]) >= heads[1])
            rate = (double)events / ((double)(t1 - t0) / 1000.0);
        *events_out = events;
        printf ("  bus replay (ln_consumer x2 in this process, one INSERT per batch): %ld events "
                "in %.1f s: %.0f events/s\n",
                events, (double)(t1 - t0) / 1000.0, rate);
    }
    for (int i = 0; i < 2; i++)
        ln_consumer_destroy (&c[i]);
    ln_db_destroy (&db);
    return rate;
}

/* --- triage's replay ------------------------------------------------------------------ */

typedef struct {
    double triage, intakes, pg, self, busy;
} cpu_t;

static void
s_cpu (cpu_t *c)
{
    c->triage = cpu_pid (triage_region_pid (s_r, TRIAGE_REGION_TRIAGE));
    c->intakes = cpu_pid (triage_region_pid (s_r, 0)) + cpu_pid (triage_region_pid (s_r, 1));
    c->pg = cpu_pg_cluster (ln_pgfix_cluster_dir (triage_region_pg (s_r)));
    c->self = cpu_self ();
    c->busy = cpu_machine_busy ();
}

static long
s_cursor (size_t i)
{
    char sql[200];
    snprintf (
        sql, sizeof sql,
        "SELECT coalesce (max (position), 0) FROM triage.stream_cursors WHERE upstream = '%s'",
        triage_region_name (s_r, i));
    return triage_region_count (s_r, sql);
}

static double
s_replay_triage (long n, long events)
{
    long heads[2] = {s_head (0), s_head (1)};
    /* pg_stat_statements, when the cluster has it: where triage's
       PostgreSQL time goes */
    bool stats =
        ln_pgfix_exec (triage_region_pg (s_r), "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
                                               " SELECT pg_stat_statements_reset ()") == 0;
    int64_t t0 = ln_clock_mono_ms ();
    if (triage_region_start_triage (s_r) != 0)
        return -1;
    cpu_t c0, c1;
    s_cpu (&c0);
    int64_t t_ready = ln_clock_mono_ms ();
    while (s_cursor (0) < heads[0] || s_cursor (1) < heads[1]) {
        if (ln_clock_mono_ms () - t0 > 3600000) {
            fprintf (stderr, "bench_triage: triage did not catch up in an hour\n");
            return -1;
        }
        usleep (100 * 1000);
    }
    int64_t t1 = ln_clock_mono_ms ();
    s_cpu (&c1);
    double secs = (double)(t1 - t_ready) / 1000.0;
    double rate = (double)events / secs;
    printf ("  triage replay: %ld events in %.1f s (after its start, %.1f s with it): %.0f "
            "events/s\n",
            events, secs, (double)(t1 - t0) / 1000.0, rate);
    long signals = triage_region_count (s_r, "SELECT count(*) FROM triage.signals");
    long in_case =
        triage_region_count (s_r, "SELECT count(*) FROM triage.signals WHERE case_id IS NOT NULL");
    long cases = triage_region_count (s_r, "SELECT count(*) FROM triage.cases");
    printf ("    built: %ld signals, %ld in a case, %ld cases (expected %ld signals, %ld cases)\n",
            signals, in_case, cases, n, s_expected_cases (n));
    if (signals != n || in_case != n || cases != s_expected_cases (n)) {
        fprintf (stderr, "bench_triage: triage did not build what the signals make\n");
        return -1;
    }
    /* the routes, from triage's last "triage batch" line (cumulative) */
    FILE *log = fopen (triage_region_log (s_r, TRIAGE_REGION_TRIAGE), "r");
    char line[1024], last[1024] = "";
    while (log && fgets (line, sizeof line, log))
        if (strstr (line, "msg=\"triage batch\""))
            snprintf (last, sizeof last, "%s", line);
    if (log)
        fclose (log);
    unsigned long long lone = 0, join = 0, rename = 0;
    const char *p = strstr (last, "lone=");
    if (p && sscanf (p, "lone=%llu join=%llu rename=%llu", &lone, &join, &rename) == 3)
        printf ("    routes: %llu lone, %llu joins, %llu renames set-based; %llu event by event "
                "(%.1f%% set-based)\n",
                lone, join, rename, (unsigned long long)events - lone - join - rename,
                100.0 * (double)(lone + join + rename) / (double)events);
    double per = 1e6 / (double)events;
    printf ("    CPU per event: triage %.1f us, the intake nodes %.1f us, PostgreSQL %.1f us, this "
            "process %.1f us, machine busy %.0f%% of %ld cores\n",
            (c1.triage - c0.triage) * per, (c1.intakes - c0.intakes) * per, (c1.pg - c0.pg) * per,
            (c1.self - c0.self) * per, 100.0 * (c1.busy - c0.busy) / secs / 2.0,
            sysconf (_SC_NPROCESSORS_ONLN));
    if (stats) {
        char sql[1200];
        snprintf (sql, sizeof sql,
                  "SELECT string_agg (format ('      %%s us/event  %%s calls  %%s', round"
                  " ((total_exec_time * 1000 / %ld)::numeric, 1), calls, left (regexp_replace"
                  " (query, '\\s+', ' ', 'g'), 110)), E'\\n' ORDER BY total_exec_time DESC) FROM"
                  " (SELECT * FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE"
                  " r.rolname LIKE 'triage%%' ORDER BY total_exec_time DESC LIMIT 8) t",
                  events);
        char *top = triage_region_query (s_r, sql);
        if (top) {
            printf ("    triage's statements by PostgreSQL time (pg_stat_statements):\n%s\n", top);
            free (top);
        }
        snprintf (
            sql, sizeof sql,
            "SELECT string_agg (format ('%%s %%s us/event', who, round (t::numeric, 1)), ', ')"
            " FROM (SELECT CASE WHEN r.rolname LIKE 'triage%%' THEN 'triage' WHEN r.rolname"
            " LIKE 'intake%%' THEN 'intake nodes' ELSE 'others' END AS who,"
            " sum (total_exec_time) * 1000 / %ld AS t FROM pg_stat_statements s JOIN pg_roles"
            " r ON r.oid = s.userid GROUP BY 1 ORDER BY 1) x",
            events);
        top = triage_region_query (s_r, sql);
        if (top) {
            printf ("    statement time in all (pg_stat_statements): %s\n", top);
            free (top);
        }
    }
    return rate;
}

/* --- latency --------------------------------------------------------------------------- */

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    char id[TRIAGE_SIG_ID_SIZE];
    int64_t acked_us;
} pending_t;

static int
s_latency (double seconds)
{
    ln_client_t *officer[2] = {triage_region_client (s_r, 0, triage_region_officer (s_r, 0)),
                               triage_region_client (s_r, 1, triage_region_officer (s_r, 1))};
    ln_error_t err;
    ln_db_t *db = ln_db_connect (ln_pgfix_conninfo (triage_region_pg (s_r)), "triage", NULL, &err);
    if (!officer[0] || !officer[1] || !db)
        return -1;
    long total = (long)(seconds * OFFERED_PER_S);
    double *lat = ln_xcalloc ((size_t)total, sizeof *lat);
    pending_t *pend = ln_xcalloc ((size_t)total, sizeof *pend);
    long npend = 0, nlat = 0, sent = 0, late_sends = 0;
    int64_t start = ln_clock_mono_ms () * 1000 + 500000;
    int64_t interval = 1000000 / OFFERED_PER_S;
    long base = 10000000; /* indexes of their own: no link with the fill */
    while (nlat < total) {
        int64_t now = ln_clock_mono_ms () * 1000;
        if (sent < total && now >= start + sent * interval) {
            if (now > start + sent * interval + 5000)
                late_sends++;
            triage_sig_t spec;
            char name[64], dob[16], phone[32];
            s_spec (base + sent, &spec, name, dob, phone);
            spec.persons[0].phone = NULL; /* alone: a case of its own */
            if (triage_submit (officer[sent % 2], &spec, pend[npend].id) != 0)
                break;
            struct timespec ts;
            clock_gettime (CLOCK_MONOTONIC, &ts);
            pend[npend].acked_us = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
            npend++;
            sent++;
        }
        if (npend > 0) {
            /* which of the pending ones are in a case now */
            ln_db_array_t ids;
            ln_db_array_init (&ids, LN_DB_OID_TEXT);
            for (long i = 0; i < npend; i++)
                ln_db_array_add_text (&ids, pend[i].id);
            const char *values[1] = {ln_db_array_data (&ids)};
            int lengths[1] = {ln_db_array_size (&ids)};
            int formats[1] = {1};
            PGresult *res = ln_db_exec_prepared (
                db, "bench_triage_seen",
                "SELECT id FROM signals WHERE id = ANY ($1::text[]) AND case_id IS NOT NULL", 1,
                values, lengths, formats, 0, &err);
            ln_db_array_clear (&ids);
            struct timespec ts;
            clock_gettime (CLOCK_MONOTONIC, &ts);
            int64_t seen = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
            for (int r = 0; res && r < PQntuples (res); r++)
                for (long i = 0; i < npend; i++)
                    if (strcmp (pend[i].id, PQgetvalue (res, r, 0)) == 0) {
                        lat[nlat++] = (double)(seen - pend[i].acked_us) / 1000.0;
                        pend[i] = pend[--npend];
                        break;
                    }
            PQclear (res);
        }
        if (sent == total && npend > 0 &&
            ln_clock_mono_ms () * 1000 > start + total * interval + 60000000)
            break;
        usleep (1000);
    }
    int rc = -1;
    if (nlat == total) {
        qsort (lat, (size_t)nlat, sizeof *lat, s_cmp_double);
        double p50 = lat[nlat / 2], p99 = lat[(long)((double)nlat * 0.99)], max = lat[nlat - 1];
        printf ("  latency, intake's OK to the case at triage, %d signals/s offered for %.0f s "
                "(%ld signals, %ld sent late by > 5 ms): p50 %.1f ms, p99 %.1f ms, max %.1f ms "
                "(target p99 <= %.0f ms: %s)\n",
                OFFERED_PER_S, seconds, nlat, late_sends, p50, p99, max, TARGET_P99_MS,
                p99 <= TARGET_P99_MS ? "met" : "MISSED");
        rc = 0;
    }
    else
        fprintf (stderr, "bench_triage: %ld of %ld signals seen at triage\n", nlat, total);
    free (lat);
    free (pend);
    ln_db_destroy (&db);
    ln_client_destroy (&officer[0]);
    ln_client_destroy (&officer[1]);
    return rc;
}

int
main (int argc, char **argv)
{
    long n = argc > 1 ? strtol (argv[1], NULL, 10) : 100000;
    double seconds = argc > 2 ? strtod (argv[2], NULL) : 20.0;
    int credit = argc > 3 ? (int)strtol (argv[3], NULL, 10) : 0;
    if (n < 100 || seconds <= 0) {
        fprintf (stderr, "usage: bench_triage [SIGNALS >= 100] [SECONDS]\n");
        return 2;
    }
    static const ln_event_type_t intake_types[] = {
        {"nl.lantern.signal.received.v1", &lantern__v1__signal_received__descriptor, true},
        {"nl.lantern.signal.amended.v1", &lantern__v1__signal_amended__descriptor, true},
        {"nl.lantern.signal.withdrawn.v1", &lantern__v1__signal_withdrawn__descriptor, true},
        {"nl.lantern.signal.status_changed.v1", &lantern__v1__signal_status_changed__descriptor,
         false},
    };
    ln_envelope_register (intake_types, 4, NULL);
    struct utsname u;
    uname (&u);
    printf ("bench_triage: %ld signals from two intake nodes into triage; latency at %d/s for %.0f "
            "s\n  machine: %s %s, %ld cores; command: %s %ld %.0f\n",
            n, OFFERED_PER_S, seconds, u.sysname, u.machine, sysconf (_SC_NPROCESSORS_ONLN),
            argv[0], n, seconds);
    /* debug: triage logs the routes its batches took (triage_batch) */
    triage_region_config_t cfg = {
        .intakes = 2, .upstream_credit = credit, .triage_log_level = "debug"};
    s_r = triage_region_new (&cfg);
    if (!s_r)
        return 1;
    int rc = 1;
    int64_t t0 = ln_clock_mono_ms ();
    long accepted = s_fill (n);
    printf ("  fill: %ld signals accepted in %.1f s\n", accepted,
            (double)(ln_clock_mono_ms () - t0) / 1000.0);
    if (accepted != n)
        goto out;
    long events = 0;
    double bus = s_replay_baseline (&events);
    if (bus <= 0)
        goto out;
    double triage = s_replay_triage (n, events);
    if (triage <= 0)
        goto out;
    printf ("  triage / bus: %.2f  (target >= %.2f: %s)\n", triage / bus, TARGET_SHARE,
            triage / bus >= TARGET_SHARE ? "met" : "MISSED");
    if (s_latency (seconds) != 0)
        goto out;
    rc = 0;
out:
    if (triage_region_destroy (&s_r) != 0)
        rc = 1;
    return rc;
}
