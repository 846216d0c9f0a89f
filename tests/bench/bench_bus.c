/*  bench_bus: what the bus costs (issue 3, "Benchmark").

        build/plain/bench/bench_bus [--events N] [--seconds S] [--clients N]
                                    [--credit N] [--rss-events N] [--rss-text-bytes N]
                                    [--rss-big-events N] [--only 123]

    Three measurements in one run, against one throwaway PostgreSQL (the
    fixture starts its own with deploy/pg-local when LANTERN_TEST_PGHOST is
    unset, as under `make bench`), each with the baseline it is judged
    against:

    1. REPLAY.  A log of --events (default 1,000,000) Notice events is
       written straight into a producer's outbox (INSERT ... SELECT from
       generate_series with a real packed lantern.v1.Notice as a bytea
       parameter) and stamped with ln_outbox_stamp in big chunks.  Baseline:
       reading the log with ln_outbox_read in the server's chunk size (no
       network, no consumer).  Then a node (bus_server_start, in a thread)
       serves it and an ln_consumer, in a thread of its own with its own
       zmq_poll loop and its own database connection and schema, follows it
       with --credit (default 2000) and an apply callback that inserts every
       event's position and id into a table, one multi-row statement per
       batch, in the same transaction as the cursor.  Target: 30,000
       events/s end to end.
    2. COMMANDS.  --clients (default 64) threads, each with its own
       ln_client, in a process of their own (this program, started with
       --posters), call PostNotice (a staged command) with distinct
       request_ids for --seconds (default 5): first against a node with the
       default batch_max (group commit), then against a fresh node with
       batch_max = 1 (one transaction per command).  Target: group commit
       >= 5x.  The CPU of the node's process, of PostgreSQL and of the
       clients' process is measured apart and reported per command, with
       the rate two cores could give at that cost (the ceiling), for the
       whole setup and for the node's side alone.
    3. STALLED CONSUMER.  A node runs as its own process (tests/progs
       busnode); a subscriber subscribes with the largest credit (10,000)
       and then never reads nor grants credit, while --rss-events (default
       300,000) events are committed into the node's outbox (chunks of
       10,000 with a NOTIFY, so the node's relay stamps them itself).  The
       node's VmRSS is sampled every 50 ms: start / max / end must be flat.
       Then 2 s of stall with nothing else to do: the node's CPU share then
       says whether it idles or spins on the full queue.  The run is done
       again with --rss-big-events (default 50,000) events whose Notice text
       is 4,000 bytes, so that the credit no longer fits in the socket
       buffers.

    Every figure is printed with its baseline and ratio, then a summary and
    the command line.  Exit status 0 when every measurement ran (a missed
    target is reported, not an error), 1 when one could not be made.

    What limits a figure is printed beside it: CPU seconds of this process
    (and of its busiest threads: "bench_bus" is the node's thread, ZMQbg/IO
    libzmq's I/O thread, which does the CURVE work of both ends here), of
    the cluster's PostgreSQL backends (by role), and of every OTHER process
    on the machine during the measurement, which is noise the figure
    suffered (other people's builds and tests on a shared machine).  Phase
    2 also prints the floor of the machine: one statement round trip and
    one small committed transaction.

    Environment: LANTERN_TEST_PGHOST (use a running cluster), LANTERN_SOURCE_DIR
    (where deploy/pg-local is; default: the current directory, else found
    upward from the binary), LANTERN_BUSNODE (the busnode binary; default
    ../progs/busnode beside this one), LANTERN_BENCH_LOG (debug|info|warn:
    show the library's log lines; default error).
*/
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bus_fixture.h"
#include "cpu_usage.h"
#include "lantern.pb-c.h"
#include "ln_consumer.h"
#include "ln_db.h"
#include "ln_envelope.h"
#include "ln_log.h"
#include "ln_outbox.h"
#include "pg_fixture.h"

extern char **environ;

#define NOTICE_TYPE      "nl.lantern.notice.posted.v1"
#define FILL_CHUNK       100000 /* rows per INSERT ... SELECT */
#define STAMP_CHUNK      250000 /* rows per ln_outbox_stamp */
#define READ_CHUNK       500    /* = ln_server.c READ_CHUNK: the server's read size */
#define REPLAY_TIMEOUT_S 240.0
#define RSS_CHUNK        10000
#define RSS_SAMPLE_MS    50
#define RSS_SAMPLES_MAX  8192
#define RSS_FLAT_KB      (16 * 1024) /* growth we still call flat */
#define TARGET_REPLAY    30000.0
#define TARGET_GROUP     5.0
#define STALL_CREDIT     10000
#define RSS_BIG_TEXT     4000 /* a long notice: Deliver of ~4.3 kB */

/* --- options and results ------------------------------------------------------- */

typedef struct {
    long events;
    double seconds;
    int clients;
    long credit;
    long rss_events;
    char phases[8];      /* which measurements: "123" = all */
    long rss_text;       /* Notice text bytes in phase 3 (0: the usual sentence) */
    long rss_big_events; /* phase 3 again with RSS_BIG_TEXT-byte texts (0: not) */
} options_t;

typedef struct {
    bool ok;
    long events, text;
    long start_kb, max_kb, end_kb, idle_kb;
    double cpu_node_s, s;
    uint64_t taken, queued;
    double idle_cpu;                /* node CPU share while stalled, after the load */
    double idle_pg_cpu;             /* PostgreSQL's meanwhile */
    double resub_cpu, resub_pg_cpu; /* the same after two more Subscribes */
    long second_half_kb;            /* RSS growth over the second half of the load */
    long resub_kb;
    size_t deliver_bytes; /* size of one Deliver, about */
} rss_result_t;

/* One command run (phase 2). */
typedef struct {
    double rate, batch, latency_ms, elapsed;
    uint64_t ok;
    /* CPU seconds: the node's process (all its threads: loop, relay,
       libzmq I/O), PostgreSQL (the cluster; the node's backends), the
       clients' process, everything else on the machine */
    double cpu_node, cpu_loop, cpu_relay, cpu_zmq;
    double cpu_pg, cpu_backends, cpu_clients, cpu_other;
} command_run_t;

typedef struct {
    /* replay */
    bool replay_ok;
    double fill_s, stamp_s, vacuum_s;
    double base_rate, base_big_rate, bus_rate, bus_s;
    uint64_t batches;
    double cpu_proc_s, cpu_consumer_s, cpu_pg_s, cpu_other_s;
    /* commands */
    bool commands_ok;
    command_run_t group, single;
    double group_ceiling, node_ceiling;
    double rtt_us, commit_ms;
    /* stalled consumer: typical events, then big ones */
    rss_result_t rss[2];
    int nrss;
} results_t;

static ln_pgfix_t *s_pg;
static bus_keys_t *s_keys;

/* --- time, CPU, memory ------------------------------------------------------------ */

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
s_thread_cpu (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* User and system CPU seconds of the calling thread. */
static void
s_thread_user_sys (double *user, double *sys)
{
    struct rusage ru;
    getrusage (RUSAGE_THREAD, &ru);
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
s_process_user_sys (double *user, double *sys)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    *user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
    *sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* CPU seconds used so far by the benchmark's PostgreSQL cluster. */
static double
s_pg_cpu (void)
{
    return cpu_pg_cluster (ln_pgfix_cluster_dir (s_pg));
}

/* Per-thread and per-backend CPU, to see which one a phase waits on: a
   snapshot of every thread of this process (by name) and every child of
   the cluster's postmaster (by its ps title: role and state). */
#define CPU_ENTRIES_MAX 256
typedef struct {
    long id;
    char name[64];
    double cpu;
} cpu_entry_t;

typedef struct {
    cpu_entry_t e[CPU_ENTRIES_MAX];
    size_t n;
} cpu_snap_t;

static void
s_snap_add (cpu_snap_t *snap, long id, const char *name, double cpu)
{
    if (snap->n == CPU_ENTRIES_MAX)
        return;
    cpu_entry_t *e = &snap->e[snap->n++];
    e->id = id;
    snprintf (e->name, sizeof e->name, "%s", name);
    e->cpu = cpu;
}

static long
s_postmaster_pid (void)
{
    const char *dir = ln_pgfix_cluster_dir (s_pg);
    char path[PATH_MAX];
    long pid = -1;
    if (!dir)
        return -1;
    snprintf (path, sizeof path, "%s/data/postmaster.pid", dir);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    if (fscanf (f, "%ld", &pid) != 1)
        pid = -1;
    fclose (f);
    return pid;
}

static void
s_cpu_snapshot (cpu_snap_t *snap)
{
    snap->n = 0;
    char path[PATH_MAX], name[64];
    DIR *d = opendir ("/proc/self/task");
    struct dirent *e;
    while (d && (e = readdir (d))) {
        char *end = NULL;
        long tid = strtol (e->d_name, &end, 10);
        double cpu = 0;
        if (end == e->d_name || *end != '\0' || tid <= 0)
            continue;
        snprintf (path, sizeof path, "/proc/self/task/%ld/stat", tid);
        FILE *f = fopen (path, "r");
        char buf[1024];
        size_t n = f ? fread (buf, 1, sizeof buf - 1, f) : 0;
        if (f)
            fclose (f);
        buf[n] = '\0';
        char *open = strchr (buf, '('), *close = strrchr (buf, ')');
        unsigned long long ut = 0, st = 0;
        if (!open || !close || close < open ||
            sscanf (close + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) !=
                2)
            continue;
        cpu = (double)(ut + st) / (double)sysconf (_SC_CLK_TCK);
        snprintf (name, sizeof name, "thread %.*s", (int)(close - open - 1), open + 1);
        s_snap_add (snap, tid, name, cpu);
    }
    if (d)
        closedir (d);
    long postmaster = s_postmaster_pid ();
    d = postmaster > 0 ? opendir ("/proc") : NULL;
    while (d && (e = readdir (d))) {
        char *end = NULL;
        long pid = strtol (e->d_name, &end, 10), ppid = 0;
        double cpu = 0;
        if (end == e->d_name || *end != '\0' || pid <= 0 ||
            cpu_proc_stat (pid, &ppid, &cpu, NULL) != 0 || ppid != postmaster)
            continue;
        /* "postgres: ROLE DB [local] STATE": keep the role, cut the tag */
        snprintf (path, sizeof path, "/proc/%ld/cmdline", pid);
        FILE *f = fopen (path, "r");
        char title[128] = "";
        size_t n = f ? fread (title, 1, sizeof title - 1, f) : 0;
        if (f)
            fclose (f);
        title[n] = '\0';
        char role[48] = "?";
        if (sscanf (title, "postgres: %47s", role) != 1)
            snprintf (role, sizeof role, "?");
        /* pg_fixture's role names are <role>_<pid>_<n>: drop the tag */
        for (int k = 0; k < 2; k++) {
            char *us = strrchr (role, '_');
            if (us && us[1] && strspn (us + 1, "0123456789") == strlen (us + 1))
                *us = '\0';
        }
        snprintf (name, sizeof name, "postgres %s", role);
        s_snap_add (snap, pid, name, cpu);
    }
    if (d)
        closedir (d);
}

/* Print the entries that used at least 2% of `wall` between a and b. */
static void
s_cpu_report (const cpu_snap_t *a, const cpu_snap_t *b, double wall)
{
    printf ("  busiest threads and PostgreSQL backends (CPU s / %% of one core):");
    int shown = 0;
    for (size_t i = 0; i < b->n; i++) {
        double before = 0;
        for (size_t j = 0; j < a->n; j++)
            if (a->e[j].id == b->e[i].id)
                before = a->e[j].cpu;
        double used = b->e[i].cpu - before;
        if (used < 0.02 * wall)
            continue;
        printf ("%s %s %.1f s %.0f%%", shown++ % 3 ? ";" : "\n   ", b->e[i].name, used,
                100.0 * used / wall);
    }
    printf ("\n");
}

/* VmRSS of a process in kB, or -1. */
static long
s_rss_kb (long pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf (path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    while (fgets (line, sizeof line, f))
        if (strncmp (line, "VmRSS:", 6) == 0) {
            char *end = NULL;
            kb = strtol (line + 6, &end, 10);
            if (end == line + 6)
                kb = -1;
            break;
        }
    fclose (f);
    return kb;
}

/* --- the payload and filling the outbox ------------------------------------------------ */

/* A real packed lantern.v1.Notice, as PostNotice would store it; with
   text_bytes > 0 its text is that long (a bigger event). */
static uint8_t *
s_notice_payload (size_t text_bytes, size_t *size)
{
    static const char sentence[] = "Maintenance window tonight 22:00-23:00: intake-venlo is "
                                   "read-only, queue new signals locally and send them "
                                   "afterwards. ";
    char *text = NULL;
    Lantern__V1__Notice n = LANTERN__V1__NOTICE__INIT;
    if (text_bytes > 0) {
        text = malloc (text_bytes + 1);
        if (!text)
            abort ();
        for (size_t i = 0; i < text_bytes; i++)
            text[i] = sentence[i % (sizeof sentence - 1)];
        text[text_bytes] = '\0';
        n.text = text;
    }
    else
        n.text = (char *)sentence;
    n.author = "op";
    n.organisation = "Org of op";
    *size = lantern__v1__notice__get_packed_size (&n);
    uint8_t *buf = malloc (*size);
    if (!buf)
        abort ();
    lantern__v1__notice__pack (&n, buf);
    free (text);
    return buf;
}

/* Append `count` events to db's outbox, `chunk` per transaction, with ids
   md5(prefix || n).  notify: wake the node's relay at each commit, as
   ln_outbox_append does. */
static int
s_fill (ln_db_t *db, long count, const char *prefix, long chunk, bool notify, size_t text_bytes)
{
    int rc = -1;
    PGresult *res = NULL;
    size_t payload_size = 0;
    uint8_t *payload = s_notice_payload (text_bytes, &payload_size);
    char channel[LN_OUTBOX_CHANNEL_SIZE];
    ln_error_t err;
    ln_error_clear (&err);

    if (ln_outbox_channel (db, channel, sizeof channel) != 0)
        goto out;
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    char time_us[32];
    snprintf (time_us, sizeof time_us, "%lld", (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    for (long from = 1; from <= count; from += chunk) {
        long to = from + chunk - 1 < count ? from + chunk - 1 : count;
        char from_text[32], to_text[32];
        snprintf (from_text, sizeof from_text, "%ld", from);
        snprintf (to_text, sizeof to_text, "%ld", to);
        const char *values[6] = {prefix,    NOTICE_TYPE, time_us, (const char *)payload,
                                 from_text, to_text};
        int lengths[6] = {0, 0, 0, (int)payload_size, 0, 0};
        int formats[6] = {0, 0, 0, 1, 0, 0};
        if (ln_db_begin (db) != 0)
            goto out;
        /* level 2 = intern, as PostNotice */
        res = PQexecParams (ln_db_conn (db),
                            "INSERT INTO outbox (event_id, type, level, correlation_id, time_us,"
                            " payload)"
                            " SELECT pg_catalog.md5($1 || g::text), $2, 2, '', $3::bigint,"
                            " $4::bytea FROM pg_catalog.generate_series($5::bigint, $6::bigint) g",
                            6, NULL, values, lengths, formats, 0);
        if (PQresultStatus (res) != PGRES_COMMAND_OK) {
            fprintf (stderr, "bench_bus: fill: %s", PQerrorMessage (ln_db_conn (db)));
            goto out;
        }
        PQclear (res);
        res = NULL;
        const char *np[1] = {channel};
        if (notify && ln_db_run (db, "SELECT pg_catalog.pg_notify($1, 'append')", 1, np, &err) != 0)
            goto out;
        if (ln_db_commit (db) != 0)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0) {
        if (err.code)
            fprintf (stderr, "bench_bus: fill: %s\n", err.message);
        ln_db_rollback (db);
    }
    PQclear (res);
    free (payload);
    return rc;
}

static int
s_exec_raw (ln_db_t *db, const char *sql)
{
    PGresult *res = PQexec (ln_db_conn (db), sql);
    int rc = PQresultStatus (res) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc != 0)
        fprintf (stderr, "bench_bus: %s: %s", sql, PQerrorMessage (ln_db_conn (db)));
    PQclear (res);
    return rc;
}

static long
s_count (const char *sql)
{
    char *v = ln_pgfix_query_value (s_pg, sql, 0, NULL);
    char *end = NULL;
    long n = v ? strtol (v, &end, 10) : -1;
    if (v && (end == v || *end != '\0'))
        n = -1;
    free (v);
    return n;
}

/* --- 1. replay ------------------------------------------------------------------------ */

/* The consumer's apply: one INSERT ... SELECT FROM unnest() per batch, in
   the consumer's transaction. */
typedef struct {
    char *positions; /* "{1,2,3}" */
    size_t pos_cap;
    char *ids; /* {"a","b"} */
    size_t ids_cap;
    uint64_t batches;
    uint64_t events;
} applier_t;

static void
s_reserve (char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t cap2 = *cap ? *cap : 4096;
    while (cap2 < need)
        cap2 *= 2;
    char *p = realloc (*buf, cap2);
    if (!p)
        abort ();
    *buf = p;
    *cap = cap2;
}

static int
s_apply (void *arg, ln_db_t *db, const char *upstream, ln_event_t *const *events,
         const uint64_t *positions, size_t count, ln_error_t *err)
{
    (void)upstream;
    applier_t *a = arg;
    size_t plen = 0, ilen = 0;
    s_reserve (&a->positions, &a->pos_cap, count * 22 + 3);
    a->positions[plen++] = '{';
    s_reserve (&a->ids, &a->ids_cap, 3);
    a->ids[ilen++] = '{';
    for (size_t i = 0; i < count; i++) {
        int n = snprintf (a->positions + plen, a->pos_cap - plen, "%s%" PRIu64, i ? "," : "",
                          positions[i]);
        if (n < 0 || (size_t)n >= a->pos_cap - plen)
            return -1;
        plen += (size_t)n;
        /* an array element, quoted: ids are printable ASCII without space,
           but may hold '"' or '\' */
        const char *id = ln_event_id (events[i]);
        s_reserve (&a->ids, &a->ids_cap, ilen + 2 * strlen (id) + 5);
        if (i)
            a->ids[ilen++] = ',';
        a->ids[ilen++] = '"';
        for (const char *p = id; *p; p++) {
            if (*p == '"' || *p == '\\')
                a->ids[ilen++] = '\\';
            a->ids[ilen++] = *p;
        }
        a->ids[ilen++] = '"';
    }
    a->positions[plen++] = '}';
    a->positions[plen] = '\0';
    a->ids[ilen++] = '}';
    a->ids[ilen] = '\0';
    const char *params[2] = {a->positions, a->ids};
    if (ln_db_run (db,
                   "INSERT INTO applied (position, event_id)"
                   " SELECT * FROM unnest($1::bigint[], $2::text[])",
                   2, params, err) != 0)
        return -1;
    a->batches++;
    a->events += count;
    return 0;
}

typedef struct {
    const char *conninfo;
    const char *schema;
    const char *upstream;
    char endpoint[256];
    char server_key[64];
    zcert_t *cert;
    uint32_t credit;
    uint64_t target;
    /* out */
    int rc;
    double elapsed;
    double cpu;
    uint64_t position;
    uint64_t batches;
    double pg_cpu;    /* CPU of the consumer's PostgreSQL backend */
    double user, sys; /* the consumer thread's split */
} replay_t;

static const ln_migration_t s_applied_migration = {
    100, "applied",
    "CREATE TABLE applied (position bigint PRIMARY KEY, event_id text NOT NULL);\n"};

static void *
s_replay_consumer (void *arg)
{
    replay_t *r = arg;
    ln_error_t err;
    ln_db_t *db = NULL;
    pthread_setname_np (pthread_self (), "consumer");
    ln_consumer_t *consumer = NULL;
    applier_t applier;
    memset (&applier, 0, sizeof applier);
    ln_error_clear (&err);
    r->rc = -1;

    db = ln_db_connect (r->conninfo, r->schema, NULL, &err);
    if (!db)
        goto out;
    ln_migration_t list[2] = {ln_consumer_migration, s_applied_migration};
    if (ln_db_migrate (db, list, 2, &err) != 0)
        goto out;

    ln_consumer_config_t cc = {
        .upstream = r->upstream,
        .endpoint = r->endpoint,
        .server_public_key = r->server_key,
        .cert = r->cert,
        .credit = r->credit,
    };
    long backend = PQbackendPID (ln_db_conn (db));
    double backend0 = 0, backend1 = 0;
    cpu_proc_stat (backend, NULL, &backend0, NULL);
    double cpu0 = s_thread_cpu (), user0, sys0;
    s_thread_user_sys (&user0, &sys0);
    double t0 = s_now ();
    double deadline = t0 + REPLAY_TIMEOUT_S;
    consumer = ln_consumer_new (&cc, db, s_apply, &applier, &err);
    if (!consumer)
        goto out;
    zmq_pollitem_t item = {zsock_resolve (ln_consumer_socket (consumer)), 0, ZMQ_POLLIN, 0};
    while (ln_consumer_position (consumer) < r->target) {
        if (s_now () > deadline) {
            fprintf (stderr, "bench_bus: replay timed out at position %" PRIu64 "\n",
                     ln_consumer_position (consumer));
            goto out;
        }
        ln_consumer_state_t state = ln_consumer_state (consumer);
        if (state == LN_CONSUMER_RESET || state == LN_CONSUMER_POISONED) {
            fprintf (stderr, "bench_bus: consumer stopped in state %s\n",
                     ln_consumer_state_name (state));
            goto out;
        }
        int timeout = ln_consumer_next_timeout_ms (consumer, zclock_mono ());
        if (timeout < 0 || timeout > 100)
            timeout = 100;
        item.revents = 0;
        if (zmq_poll (&item, 1, timeout) < 0 && errno != EINTR)
            goto out;
        if (item.revents & ZMQ_POLLIN)
            ln_consumer_on_readable (consumer);
        ln_consumer_on_tick (consumer, zclock_mono ());
    }
    r->elapsed = s_now () - t0;
    r->cpu = s_thread_cpu () - cpu0;
    s_thread_user_sys (&r->user, &r->sys);
    r->user -= user0;
    r->sys -= sys0;
    if (cpu_proc_stat (backend, NULL, &backend1, NULL) == 0)
        r->pg_cpu = backend1 - backend0;
    r->rc = 0;
out:
    if (r->rc != 0 && err.code)
        fprintf (stderr, "bench_bus: consumer: %s %s\n", err.code, err.message);
    r->position = ln_consumer_position (consumer);
    r->batches = applier.batches;
    ln_consumer_destroy (&consumer);
    ln_db_destroy (&db);
    free (applier.positions);
    free (applier.ids);
    return NULL;
}

/* Read the whole log with ln_outbox_read, `chunk` rows at a time.  Returns
   events/s, or -1. */
static double
s_read_baseline (ln_db_t *db, uint64_t expect, size_t chunk)
{
    ln_outbox_batch_t batch = {0};
    ln_error_t err;
    uint64_t after = 0;
    double rate = -1;
    double t0 = s_now ();
    for (;;) {
        if (ln_outbox_read (db, after, chunk, &batch, &err) != 0) {
            fprintf (stderr, "bench_bus: read: %s\n", err.message);
            goto out;
        }
        if (batch.count == 0)
            break;
        after = batch.rows[batch.count - 1].position;
    }
    if (after != expect) {
        fprintf (stderr, "bench_bus: read %" PRIu64 " events, expected %" PRIu64 "\n", after,
                 expect);
        goto out;
    }
    rate = (double)expect / (s_now () - t0);
out:
    ln_outbox_batch_clear (&batch);
    return rate;
}

static int
s_bench_replay (const options_t *o, results_t *res)
{
    int rc = -1;
    ln_error_t err;
    ln_db_t *db = NULL;
    bus_server_t *server = NULL;
    zcert_t *cert = NULL;
    ln_error_clear (&err);

    printf ("\n== 1. replay of a %ld-event log into a consumer that commits each batch with its "
            "cursor\n",
            o->events);
    fflush (stdout);
    const char *prod = ln_pgfix_create_role (s_pg, "prod", "prod");
    const char *cons = prod ? ln_pgfix_create_role (s_pg, "cons", "cons") : NULL;
    if (!cons)
        goto out;
    db = ln_db_connect (prod, "prod", NULL, &err);
    if (!db || ln_server_migrate (db, NULL, 0, &err) != 0)
        goto out;

    double t0 = s_now ();
    if (s_fill (db, o->events, "replay-", FILL_CHUNK, false, 0) != 0)
        goto out;
    double t1 = s_now ();
    size_t stamped = 0, total = 0;
    do {
        if (ln_outbox_stamp (db, STAMP_CHUNK, &stamped, &err) != 0)
            goto out;
        total += stamped;
    } while (stamped == STAMP_CHUNK);
    double t2 = s_now ();
    if (total != (size_t)o->events) {
        fprintf (stderr, "bench_bus: stamped %zu of %ld\n", total, o->events);
        goto out;
    }
    /* Let the log be as a long-running node's would be after autovacuum:
       hint bits set, dead row versions of the stamping gone, statistics
       known; and start the measurements from a checkpoint. */
    if (s_exec_raw (db, "VACUUM (ANALYZE) outbox") != 0 || ln_pgfix_exec (s_pg, "CHECKPOINT") != 0)
        goto out;
    double t3 = s_now ();
    res->fill_s = t1 - t0;
    res->stamp_s = t2 - t1;
    res->vacuum_s = t3 - t2;
    long mb = s_count ("SELECT pg_catalog.pg_total_relation_size('prod.outbox') / 1048576");
    printf ("log: %ld events of %s (payload: a packed Notice), %ld MB with indexes\n", o->events,
            NOTICE_TYPE, mb);
    printf ("  fill (INSERT ... SELECT, %d rows per statement): %6.1f s  %8.0f events/s\n",
            FILL_CHUNK, res->fill_s, (double)o->events / res->fill_s);
    printf ("  stamp (ln_outbox_stamp, %d per call):            %6.1f s  %8.0f events/s\n",
            STAMP_CHUNK, res->stamp_s, (double)o->events / res->stamp_s);
    printf ("  VACUUM (ANALYZE) + CHECKPOINT:                    %6.1f s\n", res->vacuum_s);
    fflush (stdout);

    res->base_rate = s_read_baseline (db, (uint64_t)o->events, READ_CHUNK);
    res->base_big_rate = s_read_baseline (db, (uint64_t)o->events, 5000);
    if (res->base_rate < 0 || res->base_big_rate < 0)
        goto out;
    printf ("baseline: ln_outbox_read, %d rows per read (the server's chunk):  %8.0f events/s\n",
            READ_CHUNK, res->base_rate);
    printf ("          ln_outbox_read, 5000 rows per read:                     %8.0f events/s\n",
            res->base_big_rate);
    fflush (stdout);
    ln_db_destroy (&db);

    static const ln_stream_rule_t rules[] = {{"*", "*", LN_PROJECTION_FULL}};
    bus_server_config_t config = {
        .conninfo = prod,
        .schema = "prod",
        .node = "producer",
        .rules = rules,
        .rule_count = 1,
    };
    server = bus_server_start (s_keys, &config);
    cert = server ? bus_keys_cert (s_keys, "consumer") : NULL;
    if (!cert)
        goto out;
    replay_t r;
    memset (&r, 0, sizeof r);
    r.conninfo = cons;
    r.schema = "cons";
    r.upstream = "producer";
    snprintf (r.endpoint, sizeof r.endpoint, "%s", bus_server_endpoint (server));
    snprintf (r.server_key, sizeof r.server_key, "%s", bus_keys_public_z85 (s_keys, "producer"));
    r.cert = cert;
    r.credit = (uint32_t)o->credit;
    r.target = (uint64_t)o->events;
    static cpu_snap_t snap0, snap1;
    s_cpu_snapshot (&snap0);
    double pg0 = s_pg_cpu (), proc0 = cpu_self (), busy0 = cpu_machine_busy ();
    double puser0, psys0, puser1, psys1;
    s_process_user_sys (&puser0, &psys0);
    pthread_t thread;
    pthread_create (&thread, NULL, s_replay_consumer, &r);
    pthread_join (thread, NULL);
    usleep (200 * 1000); /* the consumer's backend has exited: let the postmaster reap it, so
                            that its CPU shows in the postmaster's child times */
    double pg1 = s_pg_cpu (), proc1 = cpu_self (), busy1 = cpu_machine_busy ();
    s_process_user_sys (&puser1, &psys1);
    s_cpu_snapshot (&snap1);
    /* they have ended: add them by hand */
    s_snap_add (&snap1, -1, "thread consumer", r.cpu);
    s_snap_add (&snap1, -2, "postgres cons", r.pg_cpu);
    if (r.rc != 0)
        goto out;
    res->bus_s = r.elapsed;
    res->bus_rate = (double)r.target / r.elapsed;
    res->batches = r.batches;
    res->cpu_consumer_s = r.cpu;
    res->cpu_proc_s = proc1 - proc0;
    res->cpu_pg_s = pg0 >= 0 && pg1 >= 0 ? pg1 - pg0 : -1;
    res->cpu_other_s = (busy1 - busy0) - res->cpu_proc_s - res->cpu_pg_s;

    long applied = s_count ("SELECT count(*) FROM cons.applied");
    long distinct_max = s_count ("SELECT max(position) FROM cons.applied");
    long cursor = s_count ("SELECT position FROM cons.stream_cursors WHERE upstream = 'producer'");
    if (applied != o->events || distinct_max != o->events || cursor != o->events) {
        fprintf (stderr,
                 "bench_bus: consumer applied %ld rows (max %ld, cursor %ld), expected %ld\n",
                 applied, distinct_max, cursor, o->events);
        goto out;
    }
    printf ("bus: node (bus_server, own thread) -> CURVE -> ln_consumer (own thread), credit %ld, "
            "apply = 1 INSERT per batch\n",
            o->credit);
    printf ("  %ld events in %.1f s: %8.0f events/s   (%" PRIu64
            " transactions, %.0f events each)\n",
            o->events, r.elapsed, res->bus_rate, r.batches,
            r.batches ? (double)o->events / (double)r.batches : 0.0);
    printf ("  checked: %ld rows applied, positions 1..%ld, cursor %ld\n", applied, distinct_max,
            cursor);
    printf ("  ratio bus / baseline(500): %.2f   bus / baseline(5000): %.2f\n",
            res->bus_rate / res->base_rate, res->bus_rate / res->base_big_rate);
    printf ("  CPU over %.1f s wall (%ld cores = %.1f s available): bench process %.1f s "
            "(consumer thread %.1f s, node thread + libzmq I/O %.1f s), PostgreSQL %.1f s, "
            "other processes on the machine %.1f s\n",
            r.elapsed, sysconf (_SC_NPROCESSORS_ONLN),
            (double)sysconf (_SC_NPROCESSORS_ONLN) * r.elapsed, res->cpu_proc_s,
            res->cpu_consumer_s, res->cpu_proc_s - res->cpu_consumer_s, res->cpu_pg_s,
            res->cpu_other_s);
    s_cpu_report (&snap0, &snap1, r.elapsed);
    printf ("  user / system CPU: bench process %.1f / %.1f s, consumer thread %.1f / %.1f s; "
            "CPU per event: %.1f us in the bench process, %.1f us in PostgreSQL\n",
            puser1 - puser0, psys1 - psys0, r.user, r.sys, 1e6 * res->cpu_proc_s / (double)r.target,
            1e6 * res->cpu_pg_s / (double)r.target);
    printf ("  target >= %.0f events/s: %s\n", TARGET_REPLAY,
            res->bus_rate >= TARGET_REPLAY ? "MET" : "MISSED");
    res->replay_ok = true;
    rc = 0;
out:
    fflush (stdout);
    zcert_destroy (&cert);
    bus_server_stop (&server);
    ln_db_destroy (&db);
    return rc;
}

/* --- 2. commands: group commit against one transaction per command ---------------------- */

typedef struct {
    ln_client_t *client;
    int index;
    const char *run;
    pthread_barrier_t *ready;
    pthread_barrier_t *go;
    const double *deadline;
    uint64_t ok;
    uint64_t failed;
    double latency_s;
    bool warm;
} poster_t;

static Lantern__V1__ServerMessage *
s_call_post (ln_client_t *client, const char *request_id, const char *text)
{
    ln_error_t err;
    Lantern__V1__PostNotice post = LANTERN__V1__POST_NOTICE__INIT;
    post.text = (char *)text;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    req.request_id = (char *)request_id;
    req.command_case = LANTERN__V1__REQUEST__COMMAND_POST_NOTICE;
    req.post_notice = &post;
    return ln_client_call (client, &req, 10000, 3, &err);
}

static void *
s_poster (void *arg)
{
    poster_t *p = arg;
    ln_error_t err;
    pthread_setname_np (pthread_self (), "client");
    /* Warm up: the CURVE handshake is done once a Ping has come back. */
    Lantern__V1__Ping ping = LANTERN__V1__PING__INIT;
    Lantern__V1__Request req = LANTERN__V1__REQUEST__INIT;
    char id[64];
    snprintf (id, sizeof id, "%s-warm-%d", p->run, p->index);
    req.request_id = id;
    req.command_case = LANTERN__V1__REQUEST__COMMAND_PING;
    req.ping = &ping;
    Lantern__V1__ServerMessage *m = ln_client_call (p->client, &req, 10000, 3, &err);
    p->warm = m && m->reply->status == LANTERN__V1__REPLY__STATUS__OK;
    if (m)
        lantern__v1__server_message__free_unpacked (m, NULL);
    pthread_barrier_wait (p->ready);
    pthread_barrier_wait (p->go);
    for (long i = 0; s_now () < *p->deadline; i++) {
        char text[96];
        snprintf (id, sizeof id, "%s-%d-%ld", p->run, p->index, i);
        snprintf (text, sizeof text, "notice %ld of client %d", i, p->index);
        double t0 = s_now ();
        m = s_call_post (p->client, id, text);
        p->latency_s += s_now () - t0;
        if (m && m->reply->status == LANTERN__V1__REPLY__STATUS__OK)
            p->ok++;
        else
            p->failed++;
        if (m)
            lantern__v1__server_message__free_unpacked (m, NULL);
    }
    return NULL;
}

/* --- the clients' process ------------------------------------------------------------------ */

/* `bench_bus --posters N --endpoint E --server-key Z85 --cert FILE --run NAME
   --seconds S` (what s_command_run starts): N client threads, each with its
   own ln_client, warm up (a Ping each), print "ready", wait for a line on
   stdin, post for S seconds, print "done OK FAILED LATENCY_S".  A process
   of its own, so that the node's CPU and the clients' are measured apart
   (and libzmq gives each process its own I/O thread, as two machines
   would). */
static int
s_posters_main (int n, const char *endpoint, const char *server_key, const char *cert_path,
                const char *run, double seconds)
{
    int rc = 1, started = 0;
    ln_error_t err;
    poster_t *posters = calloc ((size_t)n, sizeof *posters);
    pthread_t *threads = calloc ((size_t)n, sizeof *threads);
    pthread_barrier_t ready, go;
    double deadline = 0;
    zcert_t *cert = zcert_load (cert_path);
    if (!posters || !threads || !cert) {
        fprintf (stderr, "bench_bus --posters: cannot load %s\n", cert_path);
        goto out;
    }
    pthread_barrier_init (&ready, NULL, (unsigned)n + 1);
    pthread_barrier_init (&go, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++) {
        posters[i].client = ln_client_new (endpoint, server_key, cert, &err);
        if (!posters[i].client) {
            fprintf (stderr, "bench_bus --posters: client: %s\n", err.message);
            goto out;
        }
        posters[i].index = i;
        posters[i].run = run;
        posters[i].ready = &ready;
        posters[i].go = &go;
        posters[i].deadline = &deadline;
    }
    for (; started < n; started++)
        pthread_create (&threads[started], NULL, s_poster, &posters[started]);
    pthread_barrier_wait (&ready);
    bool warm = true;
    for (int i = 0; i < n; i++)
        warm = warm && posters[i].warm;
    printf ("%s\n", warm ? "ready" : "cold");
    fflush (stdout);
    char line[32];
    if (!warm || !fgets (line, sizeof line, stdin)) {
        deadline = 0; /* let them go and stop at once */
        pthread_barrier_wait (&go);
        goto out;
    }
    deadline = s_now () + seconds;
    pthread_barrier_wait (&go);
    for (int i = 0; i < started; i++)
        pthread_join (threads[i], NULL);
    started = 0;
    uint64_t ok = 0, failed = 0;
    double lat = 0;
    for (int i = 0; i < n; i++) {
        ok += posters[i].ok;
        failed += posters[i].failed;
        lat += posters[i].latency_s;
    }
    printf ("done %" PRIu64 " %" PRIu64 " %.6f\n", ok, failed, lat);
    fflush (stdout);
    rc = 0;
out:
    for (int i = 0; i < started; i++)
        pthread_join (threads[i], NULL);
    for (int i = 0; posters && i < n; i++)
        ln_client_destroy (&posters[i].client);
    zcert_destroy (&cert);
    free (posters);
    free (threads);
    return rc;
}

/* Start the clients' process; *to and *from are its stdin and stdout. */
static pid_t
s_start_posters (const options_t *o, const bus_server_t *server, const char *run, FILE **to,
                 FILE **from)
{
    pid_t pid = -1;
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    char self[PATH_MAX], n[16], seconds[32];
    ssize_t len = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0 || pipe (in) != 0 || pipe (out) != 0)
        goto fail;
    self[len] = '\0';
    snprintf (n, sizeof n, "%d", o->clients);
    snprintf (seconds, sizeof seconds, "%.0f", o->seconds);
    char *argv[] = {self,
                    "--posters",
                    n,
                    "--endpoint",
                    (char *)bus_server_endpoint (server),
                    "--server-key",
                    (char *)bus_keys_public_z85 (s_keys, "cmdnode"),
                    "--cert",
                    (char *)bus_keys_secret (s_keys, "op"),
                    "--run",
                    (char *)run,
                    "--seconds",
                    seconds,
                    NULL};
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_adddup2 (&fa, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2 (&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose (&fa, in[1]);
    posix_spawn_file_actions_addclose (&fa, out[0]);
    int rc = posix_spawn (&pid, self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    if (rc != 0)
        goto fail;
    close (in[0]);
    close (out[1]);
    *to = fdopen (in[1], "w");
    *from = fdopen (out[0], "r");
    return pid;
fail:
    for (int i = 0; i < 2; i++) {
        if (in[i] >= 0)
            close (in[i]);
        if (out[i] >= 0)
            close (out[i]);
    }
    return -1;
}

/* CPU seconds between two snapshots of entries whose name starts with
   `prefix`. */
static double
s_cpu_used (const cpu_snap_t *a, const cpu_snap_t *b, const char *prefix)
{
    double used = 0;
    for (size_t i = 0; i < b->n; i++) {
        if (strncmp (b->e[i].name, prefix, strlen (prefix)) != 0)
            continue;
        double before = 0;
        for (size_t j = 0; j < a->n; j++)
            if (a->e[j].id == b->e[i].id)
                before = a->e[j].cpu;
        used += b->e[i].cpu - before;
    }
    return used;
}

/* One run: a fresh schema, a node with batch_max (in this process, in a
   thread), `clients` posters (in a process of their own) for `seconds`.
   Fills `run` and prints it.  0 or -1. */
static int
s_command_run (const options_t *o, const char *schema, size_t batch_max, command_run_t *run)
{
    int rc = -1;
    bus_server_t *server = NULL;
    pid_t child = -1;
    FILE *to = NULL, *from = NULL;
    char line[256];
    memset (run, 0, sizeof *run);

    const char *conninfo = ln_pgfix_create_role (s_pg, schema, schema);
    if (!conninfo)
        goto out;
    bus_server_config_t config = {
        .conninfo = conninfo,
        .schema = schema,
        .node = "cmdnode",
        .batch_max = batch_max,
    };
    server = bus_server_start (s_keys, &config);
    if (!server)
        goto out;
    child = s_start_posters (o, server, schema, &to, &from);
    if (child < 0 || !to || !from || !fgets (line, sizeof line, from) ||
        strcmp (line, "ready\n") != 0) {
        fprintf (stderr, "bench_bus: the clients could not reach the node\n");
        goto out;
    }
    usleep (100 * 1000); /* let the node publish its stats after the warm-up */
    ln_server_stats_t before, after;
    bus_server_stats (server, &before);
    static cpu_snap_t snap0, snap1;
    s_cpu_snapshot (&snap0);
    double child0 = 0, child1 = 0;
    cpu_proc_stat (child, NULL, &child0, NULL);
    double pg0 = s_pg_cpu (), busy0 = cpu_machine_busy ();
    double t0 = s_now ();
    fprintf (to, "go\n");
    fflush (to);
    uint64_t ok = 0, failed = 0;
    double lat = 0;
    if (!fgets (line, sizeof line, from) ||
        sscanf (line, "done %" SCNu64 " %" SCNu64 " %lf", &ok, &failed, &lat) != 3) {
        fprintf (stderr, "bench_bus: the clients did not finish\n");
        goto out;
    }
    double elapsed = s_now () - t0;
    cpu_proc_stat (child, NULL, &child1, NULL);
    double pg1 = s_pg_cpu (), busy1 = cpu_machine_busy ();
    s_cpu_snapshot (&snap1);
    usleep (100 * 1000);
    bus_server_stats (server, &after);

    char sql[160];
    snprintf (sql, sizeof sql,
              "SELECT count(*) FROM %s.command_replies WHERE request_id NOT LIKE '%%-warm-%%'",
              schema);
    long stored = s_count (sql);
    uint64_t requests = after.requests - before.requests;
    uint64_t transactions = after.transactions - before.transactions;
    run->rate = (double)ok / elapsed;
    run->batch = transactions ? (double)requests / (double)transactions : 0;
    run->latency_ms = ok + failed ? 1000.0 * lat / (double)(ok + failed) : 0;
    run->cpu_node = s_cpu_used (&snap0, &snap1, "thread ");
    run->cpu_loop = s_cpu_used (&snap0, &snap1, "thread bench_bus");
    run->cpu_relay = s_cpu_used (&snap0, &snap1, "thread ln-relay");
    run->cpu_zmq = s_cpu_used (&snap0, &snap1, "thread ZMQbg");
    run->cpu_clients = child1 - child0;
    run->cpu_pg = pg0 >= 0 && pg1 >= 0 ? pg1 - pg0 : -1;
    char backends[96];
    snprintf (backends, sizeof backends, "postgres %s", schema);
    run->cpu_backends = s_cpu_used (&snap0, &snap1, backends);
    run->cpu_other = (busy1 - busy0) - run->cpu_node - run->cpu_clients - run->cpu_pg;
    run->elapsed = elapsed;
    run->ok = ok;
    double per = ok ? 1e6 / (double)ok : 0;
    printf ("  batch_max %-4s %6" PRIu64 " commands OK in %.2f s: %7.0f commands/s   "
            "%" PRIu64 " transactions (%.1f requests each), mean latency %.1f ms, "
            "%" PRIu64 " failed, %ld replies stored\n",
            batch_max ? "1" : "256", ok, elapsed, run->rate, transactions, run->batch,
            run->latency_ms, failed, stored);
    printf ("    CPU over %.1f s (%.0f s available): node process %.2f s (loop %.2f, relay %.2f, "
            "libzmq I/O %.2f), PostgreSQL %.2f s (the node's two backends %.2f), "
            "clients' process %.2f s, other processes on the machine %.2f s\n",
            elapsed, elapsed * (double)sysconf (_SC_NPROCESSORS_ONLN), run->cpu_node, run->cpu_loop,
            run->cpu_relay, run->cpu_zmq, run->cpu_pg, run->cpu_backends, run->cpu_clients,
            run->cpu_other);
    printf ("    CPU per command: node process %.0f us + PostgreSQL %.0f us = %.0f us on the "
            "node's side; clients %.0f us\n",
            run->cpu_node * per, run->cpu_pg * per, (run->cpu_node + run->cpu_pg) * per,
            run->cpu_clients * per);
    s_cpu_report (&snap0, &snap1, elapsed);
    fflush (stdout);
    if (failed > 0 || stored != (long)ok) {
        fprintf (stderr,
                 "bench_bus: %" PRIu64 " commands failed or %ld stored for %" PRIu64 " OK\n",
                 failed, stored, ok);
        goto out;
    }
    rc = 0;
out:
    if (to)
        fclose (to); /* a child still waiting for "go" stops at once */
    if (from)
        fclose (from);
    if (child > 0)
        waitpid (child, NULL, 0);
    bus_server_stop (&server);
    return rc;
}

/* The floor under any command: what one statement round trip and one
   small committed transaction cost on this machine (same socket, same
   durability settings as the node's connection). */
static int
s_db_floor (double *rtt_us, double *commit_ms)
{
    int rc = -1;
    ln_error_t err;
    ln_db_t *db = NULL;
    const char *conninfo = ln_pgfix_create_role (s_pg, "floor", "floor");
    if (!conninfo || !(db = ln_db_connect (conninfo, "floor", NULL, &err)) ||
        ln_db_run (db, "CREATE TABLE t (n int)", 0, NULL, &err) != 0)
        goto out;
    const int rtts = 2000, commits = 300;
    double t0 = s_now ();
    for (int i = 0; i < rtts; i++)
        if (ln_db_run (db, "SELECT 1", 0, NULL, &err) != 0)
            goto out;
    *rtt_us = (s_now () - t0) * 1e6 / rtts;
    t0 = s_now ();
    for (int i = 0; i < commits; i++)
        if (ln_db_begin (db) != 0 ||
            ln_db_run (db, "INSERT INTO t VALUES (1)", 0, NULL, &err) != 0 ||
            ln_db_commit (db) != 0)
            goto out;
    *commit_ms = (s_now () - t0) * 1e3 / commits;
    rc = 0;
out:
    ln_db_destroy (&db);
    return rc;
}

static int
s_bench_commands (const options_t *o, results_t *res)
{
    printf ("\n== 2. PostNotice commands/s, %d concurrent clients (threads of a process of "
            "their own, one ln_client each), %.0f s per run\n",
            o->clients, o->seconds);
    if (s_db_floor (&res->rtt_us, &res->commit_ms) != 0)
        return -1;
    printf ("  floor on this machine: one statement round trip (SELECT 1) %.0f us; "
            "one small transaction committed (BEGIN, INSERT, COMMIT with fsync) %.2f ms\n",
            res->rtt_us, res->commit_ms);
    fflush (stdout);
    if (s_command_run (o, "gc_group", 0, &res->group) != 0 ||
        s_command_run (o, "gc_single", 1, &res->single) != 0)
        return -1;
    const command_run_t *g = &res->group;
    printf ("  ratio group commit / one transaction per command: %.2fx   target >= %.0fx: %s\n",
            g->rate / res->single.rate, TARGET_GROUP,
            g->rate / res->single.rate >= TARGET_GROUP ? "MET" : "MISSED");
    /* What two cores could do at this CPU cost per command, if nothing
       else ran and nothing waited: the ceiling the figure is measured
       against. */
    double cores = (double)sysconf (_SC_NPROCESSORS_ONLN);
    double node_us = 1e6 * (g->cpu_node + g->cpu_pg) / (double)g->ok;
    double all_us = node_us + 1e6 * g->cpu_clients / (double)g->ok;
    printf ("  group commit: the machine was busy %.0f%% of the run (%.0f%% with ours alone);"
            " at %.0f us of CPU per command (node %.0f + clients %.0f) %.0f cores cap this"
            " setup at %.0f commands/s, the node's side alone at %.0f/s\n",
            100.0 * (g->cpu_node + g->cpu_pg + g->cpu_clients + g->cpu_other) /
                (cores * g->elapsed),
            100.0 * (g->cpu_node + g->cpu_pg + g->cpu_clients) / (cores * g->elapsed), all_us,
            node_us, all_us - node_us, cores, cores * 1e6 / all_us, cores * 1e6 / node_us);
    res->group_ceiling = cores * 1e6 / all_us;
    res->node_ceiling = cores * 1e6 / node_us;
    fflush (stdout);
    res->commands_ok = true;
    return 0;
}

/* --- 3. producer RSS while a consumer is stalled ------------------------------------------- */

typedef struct {
    long pid;
    volatile int stop;
    long samples[RSS_SAMPLES_MAX];
    double at[RSS_SAMPLES_MAX];
    size_t count;
    long max_kb;
    double t0;
} sampler_t;

static void *
s_sampler (void *arg)
{
    sampler_t *s = arg;
    while (!s->stop) {
        long kb = s_rss_kb (s->pid);
        if (kb > 0 && s->count < RSS_SAMPLES_MAX) {
            s->at[s->count] = s_now () - s->t0;
            s->samples[s->count++] = kb;
            if (kb > s->max_kb)
                s->max_kb = kb;
        }
        usleep (RSS_SAMPLE_MS * 1000);
    }
    return NULL;
}

/* Where busnode is: $LANTERN_BUSNODE, else ../progs/busnode next to our
   own bench directory ($(BUILD)/plain/bench -> $(BUILD)/plain/progs). */
static int
s_busnode_path (char *out, size_t size)
{
    const char *env = getenv ("LANTERN_BUSNODE");
    if (env && *env) {
        snprintf (out, size, "%s", env);
        return access (out, X_OK);
    }
    char self[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = '\0';
    char *slash = strrchr (self, '/');
    if (!slash)
        return -1;
    *slash = '\0';
    if (snprintf (out, size, "%s/../progs/busnode", self) >= (int)size)
        return -1;
    return access (out, X_OK);
}

/* Start busnode; wait for its "ready ENDPOINT" line.  Returns its pid or -1. */
static pid_t
s_start_busnode (const char *path, const char *conninfo, const char *schema, const char *logfile,
                 char *endpoint, size_t size)
{
    pid_t pid = -1;
    int fds[2] = {-1, -1};
    posix_spawn_file_actions_t fa;
    char cert[PATH_MAX];
    snprintf (cert, sizeof cert, "%s", bus_keys_secret (s_keys, "rssnode"));
    char *argv[] = {(char *)path,
                    "--node",
                    "rssnode",
                    "--endpoint",
                    "tcp://127.0.0.1:*",
                    "--db",
                    (char *)conninfo,
                    "--schema",
                    (char *)schema,
                    "--cert",
                    cert,
                    "--registry",
                    (char *)bus_keys_registry (s_keys),
                    "--rule",
                    "*,*,full",
                    NULL};
    if (pipe (fds) != 0)
        return -1;
    posix_spawn_file_actions_init (&fa);
    posix_spawn_file_actions_adddup2 (&fa, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose (&fa, fds[0]);
    posix_spawn_file_actions_addopen (&fa, STDERR_FILENO, logfile, O_WRONLY | O_CREAT | O_TRUNC,
                                      0600);
    int e = posix_spawn (&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&fa);
    close (fds[1]);
    if (e != 0) {
        fprintf (stderr, "bench_bus: cannot start %s: %s\n", path, strerror (e));
        close (fds[0]);
        return -1;
    }
    /* "ready tcp://127.0.0.1:NNNNN\n" within 30 s */
    char line[512];
    size_t len = 0;
    double deadline = s_now () + 30;
    while (len < sizeof line - 1 && s_now () < deadline) {
        struct pollfd pfd = {fds[0], POLLIN, 0};
        if (poll (&pfd, 1, 200) <= 0)
            continue;
        ssize_t r = read (fds[0], line + len, 1);
        if (r <= 0)
            break;
        if (line[len] == '\n')
            break;
        len++;
    }
    line[len] = '\0';
    close (fds[0]);
    if (strncmp (line, "ready ", 6) != 0) {
        fprintf (stderr, "bench_bus: busnode did not start (see %s)\n", logfile);
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
        return -1;
    }
    if (strlen (line + 6) >= size) {
        kill (pid, SIGKILL);
        waitpid (pid, NULL, 0);
        return -1;
    }
    memcpy (endpoint, line + 6, strlen (line + 6) + 1);
    return pid;
}

static int
s_rss_run (const char *schema, long events, long text, rss_result_t *res)
{
    int rc = -1;
    pid_t pid = -1;
    ln_db_t *db = NULL;
    ln_client_t *client = NULL;
    zcert_t *cert = NULL;
    sampler_t *sampler = calloc (1, sizeof *sampler);
    pthread_t sampler_thread;
    bool sampling = false;
    ln_error_t err;
    char path[PATH_MAX], logfile[PATH_MAX], endpoint[256];
    if (!sampler)
        abort ();
    ln_error_clear (&err);

    res->events = events;
    res->text = text;
    if (text)
        printf ("-- %ld events, each a Notice with a %ld-byte text\n", events, text);
    else
        printf ("-- %ld events, each a Notice with a one-sentence text\n", events);
    fflush (stdout);
    if (s_busnode_path (path, sizeof path) != 0) {
        fprintf (stderr,
                 "bench_bus: busnode not found at %s (make builds it; or set "
                 "LANTERN_BUSNODE)\n",
                 path);
        goto out;
    }
    const char *conninfo = ln_pgfix_create_role (s_pg, schema, schema);
    if (!conninfo)
        goto out;
    snprintf (logfile, sizeof logfile, "%s/busnode-%s.log", bus_keys_dir (s_keys), schema);
    pid = s_start_busnode (path, conninfo, schema, logfile, endpoint, sizeof endpoint);
    if (pid < 0)
        goto out;
    db = ln_db_connect (conninfo, schema, NULL, &err);
    if (!db)
        goto out;

    /* The stalled subscriber: subscribes with the largest credit, then never
       reads and never grants credit. */
    cert = bus_keys_cert (s_keys, "consumer");
    char key[64];
    snprintf (key, sizeof key, "%s", bus_keys_public_z85 (s_keys, "rssnode"));
    client = cert ? ln_client_new (endpoint, key, cert, &err) : NULL;
    if (!client)
        goto out;
    Lantern__V1__Subscribe sub = LANTERN__V1__SUBSCRIBE__INIT;
    sub.after_position = 0;
    sub.credit = STALL_CREDIT;
    Lantern__V1__ClientMessage cm = LANTERN__V1__CLIENT_MESSAGE__INIT;
    cm.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_SUBSCRIBE;
    cm.subscribe = &sub;
    if (ln_client_send (client, &cm, &err) != 0)
        goto out;
    usleep (300 * 1000); /* subscribed; the node idles */

    double node0 = 0, node1 = 0, child = 0;
    cpu_proc_stat (pid, NULL, &node0, &child);
    double busy0 = cpu_machine_busy (), pg0 = s_pg_cpu (), proc0 = cpu_self ();
    res->idle_kb = s_rss_kb (pid);
    sampler->pid = pid;
    sampler->t0 = s_now ();
    pthread_create (&sampler_thread, NULL, s_sampler, sampler);
    sampling = true;
    /* The load in two halves, each followed by 1 s of settling: a node whose
       memory is bounded reaches its plateau in the first half (the credit
       window is filled by the first 10,000 events) and grows no more in the
       second. */
    uint64_t last = 0;
    long half = events / 2 / RSS_CHUNK * RSS_CHUNK;
    long half_kb = 0;
    for (int part = 0; part < 2; part++) {
        long n = part == 0 ? half : events - half;
        if (s_fill (db, n, part == 0 ? "rss-a-" : "rss-b-", RSS_CHUNK, true, (size_t)text) != 0)
            goto out;
        uint64_t want = (uint64_t)(part == 0 ? half : events);
        double deadline = s_now () + 60;
        while (last < want && s_now () < deadline) {
            if (ln_outbox_bounds (db, NULL, &last, &err) != 0)
                goto out;
            usleep (50 * 1000);
        }
        if (last != want) {
            fprintf (stderr, "bench_bus: the node stamped %" PRIu64 " of %" PRIu64 "\n", last,
                     want);
            goto out;
        }
        usleep (1000 * 1000);
        if (part == 0)
            half_kb = s_rss_kb (pid);
        else
            res->second_half_kb = s_rss_kb (pid) - half_kb;
    }
    /* Then 2 s of nothing but the stall: an idle node should use ~no CPU
       (a node that spins on a full queue would use a whole core). */
    double idle0 = 0, idle1 = 0, idle_pg0 = s_pg_cpu ();
    cpu_proc_stat (pid, NULL, &idle0, NULL);
    double idle_t0 = s_now ();
    usleep (2000 * 1000);
    cpu_proc_stat (pid, NULL, &idle1, NULL);
    res->idle_cpu = (idle1 - idle0) / (s_now () - idle_t0);
    res->idle_pg_cpu = (s_pg_cpu () - idle_pg0) / (s_now () - idle_t0);
    /* A hostile variant: the same peer subscribes again twice, still
       without reading (each Subscribe starts a fresh window of credit, so
       more than one window can be in flight), then 2 s of stall. */
    for (int k = 0; k < 2; k++)
        if (ln_client_send (client, &cm, &err) != 0)
            goto out;
    usleep (1000 * 1000);
    double again0 = 0, again1 = 0, again_pg0 = s_pg_cpu ();
    cpu_proc_stat (pid, NULL, &again0, NULL);
    double again_t0 = s_now ();
    usleep (2000 * 1000);
    cpu_proc_stat (pid, NULL, &again1, NULL);
    res->resub_cpu = (again1 - again0) / (s_now () - again_t0);
    res->resub_pg_cpu = (s_pg_cpu () - again_pg0) / (s_now () - again_t0);
    res->resub_kb = s_rss_kb (pid);
    sampler->stop = 1;
    pthread_join (sampler_thread, NULL);
    sampling = false;
    cpu_proc_stat (pid, NULL, &node1, &child);
    double busy1 = cpu_machine_busy (), pg1 = s_pg_cpu (), proc1 = cpu_self ();
    res->s = s_now () - sampler->t0;
    res->cpu_node_s = node1 - node0;
    res->taken = last;
    if (sampler->count < 2)
        goto out;
    res->start_kb = sampler->samples[0];
    res->max_kb = sampler->max_kb;
    res->end_kb = sampler->samples[sampler->count - 1];

    /* What did the stalled subscriber get?  Exactly its credit. */
    uint64_t queued = 0;
    for (;;) {
        Lantern__V1__ServerMessage *m = ln_client_recv (client, 3000, &err);
        if (!m)
            break;
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_DELIVER) {
            if (queued++ == 0)
                res->deliver_bytes = lantern__v1__server_message__get_packed_size (m);
        }
        lantern__v1__server_message__free_unpacked (m, NULL);
    }
    res->queued = queued;

    printf ("stalled subscriber: Subscribe{after 0, credit %d}, then never reads nor grants "
            "credit\n",
            STALL_CREDIT);
    printf ("node took %" PRIu64 " events (%d per transaction, NOTIFY -> its relay stamps them) "
            "in %.1f s; CPU: node %.2f s, bench process (writer) %.2f s, PostgreSQL %.1f s, "
            "other processes on the machine %.1f s\n",
            last, RSS_CHUNK, res->s, res->cpu_node_s, proc1 - proc0, pg1 - pg0,
            (busy1 - busy0) - res->cpu_node_s - (proc1 - proc0) - (pg1 - pg0));
    printf ("node VmRSS, sampled every %d ms (%zu samples):\n", RSS_SAMPLE_MS, sampler->count);
    for (size_t i = 0; i < sampler->count; i += sampler->count / 10 ? sampler->count / 10 : 1)
        printf ("  t=%5.1f s  %6ld kB\n", sampler->at[i], sampler->samples[i]);
    printf ("  start %ld kB  max %ld kB  end %ld kB  (before the load, subscribed: %ld kB)\n",
            res->start_kb, res->max_kb, res->end_kb, res->idle_kb);
    printf ("  growth: %+ld kB to max, %+ld kB to end, for %" PRIu64 " events "
            "(%.1f MB of Deliver messages if they were all queued)\n",
            res->max_kb - res->start_kb, res->end_kb - res->start_kb, last,
            (double)last * (double)res->deliver_bytes / 1048576.0);
    printf ("  during 2 s of stall after the load: node CPU %.0f%% of a core, PostgreSQL %.0f%%\n",
            100.0 * res->idle_cpu, 100.0 * res->idle_pg_cpu);
    printf ("  then the same peer sends Subscribe{after 0, credit %d} twice more, still not "
            "reading: node CPU %.0f%% of a core, PostgreSQL %.0f%%, node VmRSS %ld kB\n",
            STALL_CREDIT, 100.0 * res->resub_cpu, 100.0 * res->resub_pg_cpu, res->resub_kb);
    printf ("  the subscriber's socket then held %" PRIu64 " Deliver messages\n", queued);
    bool flat = res->max_kb - res->start_kb < RSS_FLAT_KB;
    bool bounded = res->second_half_kb < 1024;
    printf ("  growth over the second half of the load: %+ld kB; one credit window of Delivers "
            "(%d x %zu bytes) is %.1f MB\n",
            res->second_half_kb, STALL_CREDIT, res->deliver_bytes,
            (double)STALL_CREDIT * (double)res->deliver_bytes / 1048576.0);
    printf ("  RSS flat (growth < %d MB): %s; bounded (no growth in the second half): %s; "
            "node idle while stalled (< 5%% of a core): %s\n",
            RSS_FLAT_KB / 1024, flat ? "YES" : "NO", bounded ? "YES" : "NO",
            res->idle_cpu < 0.05 ? "YES" : "NO");
    fflush (stdout);
    res->ok = true;
    rc = 0;
out:
    if (sampling) {
        sampler->stop = 1;
        pthread_join (sampler_thread, NULL);
    }
    if (rc != 0 && err.code)
        fprintf (stderr, "bench_bus: rss: %s %s\n", err.code, err.message);
    ln_client_destroy (&client);
    zcert_destroy (&cert);
    ln_db_destroy (&db);
    if (pid > 0) {
        int status = 0;
        kill (pid, SIGTERM);
        if (waitpid (pid, &status, 0) == pid && (!WIFEXITED (status) || WEXITSTATUS (status) != 0))
            fprintf (stderr, "bench_bus: busnode ended with status %d (log: %s)\n", status,
                     logfile);
    }
    free (sampler);
    return rc;
}

static int
s_bench_rss (const options_t *o, results_t *res)
{
    int failures = 0;
    printf ("\n== 3. producer RSS while a consumer is stalled (node = busnode, its own process)\n");
    failures += s_rss_run ("rss", o->rss_events, o->rss_text, &res->rss[0]) != 0;
    res->nrss = 1;
    if (o->rss_big_events > 0) {
        failures += s_rss_run ("rss_big", o->rss_big_events, RSS_BIG_TEXT, &res->rss[1]) != 0;
        res->nrss = 2;
    }
    return failures ? -1 : 0;
}

/* --- main ----------------------------------------------------------------------------------- */

/* pg_fixture runs $LANTERN_SOURCE_DIR/deploy/pg-local; under `make bench`
   the current directory is the source tree.  When it is not, look upward
   from the binary. */
static void
s_default_source_dir (void)
{
    const char *src = getenv ("LANTERN_SOURCE_DIR");
    if ((src && *src) || access ("deploy/pg-local", X_OK) == 0)
        return;
    char dir[PATH_MAX], probe[PATH_MAX + 32];
    ssize_t n = readlink ("/proc/self/exe", dir, sizeof dir - 1);
    if (n <= 0)
        return;
    dir[n] = '\0';
    char *slash;
    while ((slash = strrchr (dir, '/')) && slash != dir) {
        *slash = '\0';
        snprintf (probe, sizeof probe, "%s/deploy/pg-local", dir);
        if (access (probe, X_OK) == 0) {
            setenv ("LANTERN_SOURCE_DIR", dir, 1);
            return;
        }
    }
}

static int
s_parse_long (const char *text, long min, long max, long *value)
{
    char *end = NULL;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return -1;
    *value = v;
    return 0;
}

static void
s_machine (void)
{
    char line[256], model[200] = "?";
    FILE *f = fopen ("/proc/cpuinfo", "r");
    while (f && fgets (line, sizeof line, f))
        if (strncmp (line, "model name", 10) == 0) {
            char *colon = strchr (line, ':');
            if (colon) {
                snprintf (model, sizeof model, "%s", colon + 2);
                model[strcspn (model, "\n")] = '\0';
            }
            break;
        }
    if (f)
        fclose (f);
    long pages = sysconf (_SC_PHYS_PAGES), page = sysconf (_SC_PAGE_SIZE);
    time_t now = time (NULL);
    char date[64];
    strftime (date, sizeof date, "%Y-%m-%d %H:%M:%S %Z", localtime (&now));
    double load[3] = {0, 0, 0};
    if (getloadavg (load, 3) != 3)
        load[0] = load[1] = load[2] = -1;
    printf ("machine: %ld cores (%s), %.1f GiB RAM; %s; load average %.2f %.2f %.2f\n",
            sysconf (_SC_NPROCESSORS_ONLN), model,
            (double)pages * (double)page / (1024.0 * 1024.0 * 1024.0), date, load[0], load[1],
            load[2]);
}

int
main (int argc, char **argv)
{
    int rc = 1;
    options_t o = {1000000, 5.0, 64, 2000, 300000, "123", 0, 50000};
    results_t res;
    memset (&res, 0, sizeof res);

    static const struct option options[] = {
        {"events", required_argument, NULL, 'e'},
        {"seconds", required_argument, NULL, 's'},
        {"clients", required_argument, NULL, 'c'},
        {"credit", required_argument, NULL, 'k'},
        {"rss-events", required_argument, NULL, 'r'},
        {"only", required_argument, NULL, 'o'},
        {"rss-text-bytes", required_argument, NULL, 't'},
        {"rss-big-events", required_argument, NULL, 'b'},
        /* the clients' process of phase 2 (s_posters_main) */
        {"posters", required_argument, NULL, 'P'},
        {"endpoint", required_argument, NULL, 'E'},
        {"server-key", required_argument, NULL, 'K'},
        {"cert", required_argument, NULL, 'C'},
        {"run", required_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    long posters = 0;
    const char *p_endpoint = NULL, *p_key = NULL, *p_cert = NULL, *p_run = NULL;
    int opt;
    long v;
    while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 'e':
            if (s_parse_long (optarg, 1, 100000000, &o.events) != 0)
                goto usage;
            break;
        case 's':
            if (s_parse_long (optarg, 1, 600, &v) != 0)
                goto usage;
            o.seconds = (double)v;
            break;
        case 'c':
            if (s_parse_long (optarg, 1, 512, &v) != 0)
                goto usage;
            o.clients = (int)v;
            break;
        case 'k':
            if (s_parse_long (optarg, 1, LN_CONSUMER_CREDIT_MAX, &o.credit) != 0)
                goto usage;
            break;
        case 'r':
            if (s_parse_long (optarg, RSS_CHUNK, 100000000, &o.rss_events) != 0)
                goto usage;
            break;
        case 'b':
            if (s_parse_long (optarg, 0, 100000000, &o.rss_big_events) != 0 ||
                (o.rss_big_events > 0 && o.rss_big_events < RSS_CHUNK))
                goto usage;
            break;
        case 't':
            if (s_parse_long (optarg, 0, 1000000, &o.rss_text) != 0)
                goto usage;
            break;
        case 'P':
            if (s_parse_long (optarg, 1, 512, &posters) != 0)
                goto usage;
            break;
        case 'E':
            p_endpoint = optarg;
            break;
        case 'K':
            p_key = optarg;
            break;
        case 'C':
            p_cert = optarg;
            break;
        case 'R':
            p_run = optarg;
            break;
        case 'o':
            if (strlen (optarg) == 0 || strlen (optarg) >= sizeof o.phases ||
                strspn (optarg, "123") != strlen (optarg))
                goto usage;
            snprintf (o.phases, sizeof o.phases, "%s", optarg);
            break;
        default:
            goto usage;
        }
    }
    if (optind != argc)
        goto usage;
    if (posters > 0) {
        if (!p_endpoint || !p_key || !p_cert || !p_run)
            goto usage;
        ln_log_init ("bench-bus-clients", LN_LOG_ERROR);
        return s_posters_main ((int)posters, p_endpoint, p_key, p_cert, p_run, o.seconds);
    }

    signal (SIGPIPE, SIG_IGN);
    /* Quiet by default; LANTERN_BENCH_LOG=debug|info|warn to look inside. */
    ln_log_level_t log_level = LN_LOG_ERROR;
    const char *log_env = getenv ("LANTERN_BENCH_LOG");
    if (log_env && ln_log_level_parse (log_env, &log_level) != 0)
        log_level = LN_LOG_ERROR;
    ln_log_init ("bench-bus", log_level);
    s_default_source_dir ();
    s_machine ();
    const char *pghost = getenv ("LANTERN_TEST_PGHOST");
    printf ("PostgreSQL: %s\n", pghost && *pghost
                                    ? pghost
                                    : "a throwaway cluster started by pg_fixture "
                                      "(deploy/pg-local, default durability: fsync on)");
    fflush (stdout);
    double t_start = s_now ();
    s_pg = ln_pgfix_new ("bench_bus");
    s_keys = bus_keys_new ();
    if (!s_pg || !s_keys || bus_keys_add (s_keys, "producer", "node", "geheim", false) != 0 ||
        bus_keys_add (s_keys, "cmdnode", "node", "geheim", false) != 0 ||
        bus_keys_add (s_keys, "rssnode", "node", "geheim", false) != 0 ||
        bus_keys_add (s_keys, "consumer", "node", "geheim", true) != 0 ||
        bus_keys_add (s_keys, "op", "operator", "geheim", true) != 0) {
        fprintf (stderr, "bench_bus: setup failed\n");
        goto out;
    }

    int failures = 0;
    if (strchr (o.phases, '1'))
        failures += s_bench_replay (&o, &res) != 0;
    if (strchr (o.phases, '2'))
        failures += s_bench_commands (&o, &res) != 0;
    if (strchr (o.phases, '3'))
        failures += s_bench_rss (&o, &res) != 0;

    printf ("\n== summary (%.0f s in all)\n", s_now () - t_start);
    if (!strchr (o.phases, '1'))
        printf ("replay:   not run (--only %s)\n", o.phases);
    else if (res.replay_ok)
        printf ("replay:   %8.0f events/s through the bus; baseline ln_outbox_read %.0f events/s "
                "(ratio %.2f); target >= %.0f: %s\n",
                res.bus_rate, res.base_rate, res.bus_rate / res.base_rate, TARGET_REPLAY,
                res.bus_rate >= TARGET_REPLAY ? "MET" : "MISSED");
    else
        printf ("replay:   FAILED to run\n");
    if (!strchr (o.phases, '2'))
        printf ("commands: not run (--only %s)\n", o.phases);
    else if (res.commands_ok)
        printf ("commands: %8.0f commands/s with group commit (staged PostNotice); baseline one "
                "transaction per command %.0f/s; ratio %.2fx; target >= %.0fx: %s; "
                "CPU ceiling of this setup %.0f/s, of the node's side %.0f/s\n",
                res.group.rate, res.single.rate, res.group.rate / res.single.rate, TARGET_GROUP,
                res.group.rate / res.single.rate >= TARGET_GROUP ? "MET" : "MISSED",
                res.group_ceiling, res.node_ceiling);
    else
        printf ("commands: FAILED to run\n");
    if (!strchr (o.phases, '3'))
        printf ("rss:      not run (--only %s)\n", o.phases);
    else
        for (int i = 0; i < res.nrss; i++) {
            const rss_result_t *r = &res.rss[i];
            if (!r->ok) {
                printf ("rss:      FAILED to run (%ld events)\n", r->events);
                continue;
            }
            printf (
                "rss:      node VmRSS start %ld kB, max %ld kB, end %ld kB (%+ld kB) over %" PRIu64
                " events of %zu-byte Delivers with a stalled subscriber: %s; while stalled "
                "the node uses %.0f%% of a core and PostgreSQL %.0f%%\n",
                r->start_kb, r->max_kb, r->end_kb, r->max_kb - r->start_kb, r->taken,
                r->deliver_bytes,
                r->max_kb - r->start_kb < RSS_FLAT_KB
                    ? "FLAT"
                    : (r->second_half_kb < 1024 ? "BOUNDED (not flat: it holds the credit "
                                                  "window)"
                                                : "GROWING"),
                100.0 * r->idle_cpu, 100.0 * r->idle_pg_cpu);
        }
    printf ("command:");
    for (int i = 0; i < argc; i++)
        printf (" %s", argv[i]);
    printf (
        "   (events=%ld credit=%ld clients=%d seconds=%.0f rss-events=%ld rss-big-events=%ld)\n",
        o.events, o.credit, o.clients, o.seconds, o.rss_events, o.rss_big_events);
    rc = failures ? 1 : 0;
    goto out;
usage:
    fprintf (stderr,
             "usage: %s [--events N] [--seconds S] [--clients N] [--credit N] "
             "[--rss-events N] [--rss-text-bytes N] [--rss-big-events N] [--only 123]\n",
             argv[0]);
out:
    fflush (stdout);
    bus_keys_destroy (&s_keys);
    ln_pgfix_destroy (&s_pg);
    return rc;
}
