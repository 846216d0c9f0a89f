/*  bench_intake: signals accepted per second through the full command path.

    Two runs of the real lantern-intake process (tests/support/
    intake_fixture), in the same benchmark, against the same PostgreSQL:
      group    the node as shipped: group commit (batch_max 256), staged
               SubmitSignal (one set-based write per table per batch);
      baseline batch_max = 1: one transaction per signal.
    Each run: CLIENTS clients, each with its own CURVE connection as an
    attention officer and one request outstanding at any time, all driven
    by the benchmark's one thread, each submitting the shared test baseline
    signal
    (tests/support/intake_cases.c: 2 persons, an address, a vehicle, an
    employer, indicators, an account; validated, pseudonymised, stored,
    with its event, its stored reply and its audit row)
    synchronously, one after the other, for SECONDS seconds after a warm-up.
    "Accepted" counts OK replies only, and the run checks that the database
    holds exactly that many signals afterwards (durable, nothing lost,
    nothing duplicated).

        make bench            (all benchmarks)
        build/plain/bench/bench_intake [SECONDS] [CLIENTS]

    Prints both rates, the ratio, the targets (>= 10,000 signals/s and
    >= 5x the baseline), the machine, and the command; and, per run, the
    CPU time per signal of the node, PostgreSQL, the clients (this process)
    and the rest of the machine in the measured window, with the rate that
    CPU cost allows when every core is busy: on a small machine shared by
    all three, that ceiling rather than the wait for the disk is what
    bounds the rate.  Exit status 0 even
    when a target is missed (it is a measurement, not a test); 1 when a run
    could not be made or lost/duplicated signals.
*/
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <czmq.h>

#include "cpu_usage.h"
#include "intake_cases.h"
#include "intake_fixture.h"
#include "ln_clock.h"
#include "wire.pb-c.h"

#define TARGET_RATE  10000.0
#define TARGET_RATIO 5.0

/* One client: its connection and its one outstanding request. */
typedef struct {
    ln_client_t *client;
    char rid[40];    /* the outstanding request's id, "" when none */
    int64_t sent_ms; /* when it was sent */
    long n;          /* requests sent */
} client_t;

typedef struct {
    long accepted, refused, failed;
} counts_t;

/* Send client i's next request (the baseline signal under a fresh id). */
static int
s_send (client_t *c, int i, Lantern__V1__Request *r, Lantern__V1__ClientMessage *m)
{
    snprintf (c->rid, sizeof c->rid, "b%d-%ld", i, c->n++);
    r->request_id = c->rid;
    ln_error_t err;
    if (ln_client_send (c->client, m, &err) != 0) {
        fprintf (stderr, "bench_intake: client %d: %s\n", i, err.message);
        c->rid[0] = '\0';
        return -1;
    }
    c->sent_ms = ln_clock_mono_ms ();
    return 0;
}

/* Take client i's reply (its socket is readable); 1 when it answered the
   outstanding request (counted), 0 otherwise. */
static int
s_take (client_t *c, int i, counts_t *k)
{
    ln_error_t err;
    Lantern__V1__ServerMessage *m = ln_client_recv (c->client, 0, &err);
    if (!m)
        return 0;
    int done = 0;
    if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_REPLY &&
        strcmp (m->reply->request_id, c->rid) == 0) {
        if (m->reply->status == LANTERN__V1__REPLY__STATUS__OK)
            k->accepted++;
        else {
            k->refused++;
            fprintf (stderr, "bench_intake: client %d: refused: %s\n", i,
                     m->reply->error ? m->reply->error->message : "?");
        }
        c->rid[0] = '\0';
        done = 1;
    }
    lantern__v1__server_message__free_unpacked (m, NULL);
    return done;
}

/* Where the CPU went in the measured window. */
typedef struct {
    double node, pg, clients, busy;
    double wal_bytes, wal_records; /* pg_stat_wal: the cluster is this run's own */
} cpu_t;

static void
s_cpu_read (intake_fix_t *fix, cpu_t *c)
{
    c->node = cpu_pid (intake_fix_pid (fix));
    c->pg = cpu_pg_cluster (ln_pgfix_cluster_dir (intake_fix_pg (fix)));
    c->clients = cpu_self ();
    c->busy = cpu_machine_busy ();
    c->wal_bytes = c->wal_records = -1;
    char *t = ln_pgfix_query_value (
        intake_fix_pg (fix), "SELECT wal_bytes || ' ' || wal_records FROM pg_stat_wal", 0, NULL);
    if (t && sscanf (t, "%lf %lf", &c->wal_bytes, &c->wal_records) != 2)
        c->wal_bytes = c->wal_records = -1;
    free (t);
}

/* One run: signals accepted per second, or -1.  The clients are driven by
   this one thread, each with one request outstanding at any time (a load
   generator, as wrk or pgbench -j1 are: 64 client threads would measure
   the scheduler as well, on the same two cores as the node). */
static double
s_run (const char *label, int batch_max, int clients, double seconds)
{
    intake_fix_config_t cfg = {.batch_max = batch_max};
    intake_fix_t *fix = intake_fix_start (&cfg);
    if (!fix)
        return -1;
    client_t *cs = calloc ((size_t)clients, sizeof *cs);
    zmq_pollitem_t *items = calloc ((size_t)clients, sizeof *items);
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    if (!cs || !items || !d)
        abort ();
    Lantern__V1__SubmitSignal sub = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    sub.details = d;
    Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL;
    r.submit_signal = &sub;
    Lantern__V1__ClientMessage m = LANTERN__V1__CLIENT_MESSAGE__INIT;
    m.kind_case = LANTERN__V1__CLIENT_MESSAGE__KIND_REQUEST;
    m.request = &r;

    counts_t k = {0, 0, 0};
    double rate = -1;
    for (int i = 0; i < clients; i++) {
        cs[i].client = intake_fix_client (fix, "officer");
        if (!cs[i].client)
            goto done;
        items[i].socket = zsock_resolve (ln_client_socket (cs[i].client));
        items[i].events = ZMQ_POLLIN;
    }
    /* let every client connect (CURVE handshakes) before the clock runs */
    usleep (500 * 1000);
    for (int i = 0; i < clients; i++)
        if (s_send (&cs[i], i, &r, &m) != 0)
            k.failed++;

    /* warm-up (1 s, not counted), the measured window, then the tail:
       no new requests, every outstanding one answered */
    int64_t start = ln_clock_mono_ms ();
    int64_t t0 = start + 1000, t1 = t0 + (int64_t)(seconds * 1000), t_end = t1 + 30000;
    bool in_window = false, after = false;
    long acc0 = 0, acc1 = 0;
    int64_t w0 = 0, w1 = 0;
    cpu_t c0, c1; /* read when the window opens and closes */
    memset (&c0, 0, sizeof c0);
    memset (&c1, 0, sizeof c1);
    for (;;) {
        int64_t now = ln_clock_mono_ms ();
        if (!in_window && !after && now >= t0) {
            in_window = true;
            acc0 = k.accepted;
            w0 = now;
            s_cpu_read (fix, &c0);
        }
        if (in_window && now >= t1) {
            in_window = false;
            after = true;
            acc1 = k.accepted;
            w1 = now;
            s_cpu_read (fix, &c1);
        }
        int outstanding = 0;
        for (int i = 0; i < clients; i++)
            outstanding += cs[i].rid[0] != '\0';
        if (after && (outstanding == 0 || now >= t_end))
            break;
        if (zmq_poll (items, clients, 100) < 0)
            break;
        for (int i = 0; i < clients; i++) {
            if (!(items[i].revents & ZMQ_POLLIN))
                continue;
            while (cs[i].rid[0] && s_take (&cs[i], i, &k) == 1 && !after)
                if (s_send (&cs[i], i, &r, &m) != 0)
                    k.failed++;
        }
        for (int i = 0; i < clients; i++)
            if (cs[i].rid[0] && now - cs[i].sent_ms > 30000) {
                fprintf (stderr, "bench_intake: client %d: no reply in 30 s\n", i);
                cs[i].rid[0] = '\0';
                k.failed++;
            }
    }
    for (int i = 0; i < clients; i++)
        if (cs[i].rid[0]) /* still outstanding at the end */
            k.failed++;

    long stored = intake_fix_count (fix, "signals");
    long window = acc1 - acc0;
    rate = w1 > w0 ? (double)window / ((double)(w1 - w0) / 1000.0) : -1;
    printf ("  %-9s batch_max %-4d %3d clients: %8.0f signals/s  (accepted %ld, refused %ld, "
            "failed %ld; stored %ld)\n",
            label, batch_max, clients, rate, k.accepted, k.refused, k.failed, stored);
    if (window > 0 && c0.node >= 0 && c1.node >= 0 && c0.pg >= 0 && c1.pg >= 0) {
        double per = 1e6 / (double)window; /* seconds -> us per signal */
        double node = (c1.node - c0.node) * per, pg = (c1.pg - c0.pg) * per;
        double cl = (c1.clients - c0.clients) * per, busy = (c1.busy - c0.busy) * per;
        double rest = busy - node - pg - cl;
        long cores = sysconf (_SC_NPROCESSORS_ONLN);
        printf ("            CPU per signal: node %.0f us, PostgreSQL %.0f us, clients %.0f us, "
                "rest %.0f us; machine busy %.0f%% of %ld cores\n",
                node, pg, cl, rest < 0 ? 0 : rest,
                100.0 * (c1.busy - c0.busy) / ((double)(w1 - w0) / 1000.0) / (double)cores, cores);
        printf ("            at that CPU per signal, %ld fully busy cores give at most %.0f "
                "signals/s\n",
                cores, (double)cores * 1e6 / busy);
        if (c0.wal_bytes >= 0 && c1.wal_bytes >= 0)
            printf ("            WAL per signal: %.0f bytes in %.1f records\n",
                    (c1.wal_bytes - c0.wal_bytes) / (double)window,
                    (c1.wal_records - c0.wal_records) / (double)window);
    }
    if (stored != k.accepted || k.refused != 0 || k.failed != 0) {
        fprintf (stderr, "bench_intake: %s: %ld accepted but %ld stored, %ld refused, %ld failed\n",
                 label, k.accepted, stored, k.refused, k.failed);
        rate = -1;
    }
done:
    for (int i = 0; i < clients; i++)
        ln_client_destroy (&cs[i].client);
    protobuf_c_message_free_unpacked (&d->base, NULL);
    free (cs);
    free (items);
    if (intake_fix_stop (&fix) != 0)
        rate = -1;
    return rate;
}

int
main (int argc, char **argv)
{
    double seconds = argc > 1 ? strtod (argv[1], NULL) : 8.0;
    int clients = argc > 2 ? (int)strtol (argv[2], NULL, 10) : 64;
    if (seconds <= 0 || clients < 1 || clients > 1024) {
        fprintf (stderr, "usage: bench_intake [SECONDS] [CLIENTS]\n");
        return 2;
    }
    struct utsname u;
    uname (&u);
    printf ("bench_intake: SubmitSignal through lantern-intake, %d clients, %.0f s per run\n",
            clients, seconds);
    printf ("  machine: %s %s, %ld cores; command: %s %s %d\n", u.sysname, u.machine,
            sysconf (_SC_NPROCESSORS_ONLN), argv[0], argc > 1 ? argv[1] : "8", clients);
    double group = s_run ("group", 0, clients, seconds);
    double base = s_run ("baseline", 1, clients, seconds);
    if (group < 0 || base <= 0)
        return 1;
    printf ("  ratio group/baseline: %.1fx  (target %.0fx: %s)\n", group / base, TARGET_RATIO,
            group / base >= TARGET_RATIO ? "met" : "MISSED");
    printf ("  group rate: %.0f signals/s  (target %.0f: %s)\n", group, TARGET_RATE,
            group >= TARGET_RATE ? "met" : "MISSED");
    return 0;
}
