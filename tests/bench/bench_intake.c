/*  bench_intake: signals accepted per second through the full command path.

    Two runs of the real lantern-intake process (tests/support/
    intake_fixture), in the same benchmark, against the same PostgreSQL:
      group    the node as shipped: group commit (batch_max 256), staged
               SubmitSignal (one set-based write per table per batch);
      baseline batch_max = 1: one transaction per signal.
    Each run: CLIENTS client threads, each with its own CURVE connection as
    an attention officer, each submitting the shared test baseline signal
    (tests/support/intake_cases.c: 2 persons, an address, a vehicle, an
    employer, indicators, an account; validated, pseudonymised, stored with
    its history row, its event, its stored reply and its audit row)
    synchronously, one after the other, for SECONDS seconds after a warm-up.
    "Accepted" counts OK replies only, and the run checks that the database
    holds exactly that many signals afterwards (durable, nothing lost,
    nothing duplicated).

        make bench            (all benchmarks)
        build/plain/bench/bench_intake [SECONDS] [CLIENTS]

    Prints both rates, the ratio, the targets (>= 10,000 signals/s and
    >= 5x the baseline), the machine, and the command.  Exit status 0 even
    when a target is missed (it is a measurement, not a test); 1 when a run
    could not be made or lost/duplicated signals.
*/
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <czmq.h>

#include "intake_cases.h"
#include "intake_fixture.h"
#include "ln_clock.h"
#include "wire.pb-c.h"

#define TARGET_RATE  10000.0
#define TARGET_RATIO 5.0

typedef struct {
    intake_fix_t *fix;
    int index;
    double seconds;
    atomic_bool *go;
    atomic_bool *stop;
    long accepted;
    long refused;
    long failed;
} client_t;

static void *
s_client (void *arg)
{
    client_t *c = arg;
    ln_client_t *client = intake_fix_client (c->fix, "officer");
    Lantern__V1__SignalDetails *d = intake_cases_baseline ();
    if (!client || !d) {
        c->failed++;
        return NULL;
    }
    Lantern__V1__SubmitSignal sub = LANTERN__V1__SUBMIT_SIGNAL__INIT;
    sub.details = d;
    Lantern__V1__Request r = LANTERN__V1__REQUEST__INIT;
    r.command_case = LANTERN__V1__REQUEST__COMMAND_SUBMIT_SIGNAL;
    r.submit_signal = &sub;
    char rid[80];
    while (!atomic_load (c->go))
        usleep (1000);
    long n = 0;
    while (!atomic_load (c->stop)) {
        snprintf (rid, sizeof rid, "b%d-%ld", c->index, n++);
        r.request_id = rid;
        ln_error_t err;
        Lantern__V1__ServerMessage *m = ln_client_call (client, &r, 30000, 1, &err);
        if (!m) {
            c->failed++;
            continue;
        }
        if (m->kind_case == LANTERN__V1__SERVER_MESSAGE__KIND_REPLY &&
            m->reply->status == LANTERN__V1__REPLY__STATUS__OK)
            c->accepted++;
        else
            c->refused++;
        lantern__v1__server_message__free_unpacked (m, NULL);
    }
    protobuf_c_message_free_unpacked (&d->base, NULL);
    ln_client_destroy (&client);
    return NULL;
}

/* One run: signals accepted per second, or -1. */
static double
s_run (const char *label, int batch_max, int clients, double seconds)
{
    intake_fix_config_t cfg = {.batch_max = batch_max};
    intake_fix_t *fix = intake_fix_start (&cfg);
    if (!fix)
        return -1;
    client_t *cs = calloc ((size_t)clients, sizeof *cs);
    pthread_t *th = calloc ((size_t)clients, sizeof *th);
    atomic_bool go = false, stop = false;
    for (int i = 0; i < clients; i++) {
        cs[i] = (client_t){.fix = fix, .index = i, .go = &go, .stop = &stop};
        pthread_create (&th[i], NULL, s_client, &cs[i]);
    }
    /* let every client connect (CURVE handshakes) before the clock runs */
    usleep (500 * 1000);
    atomic_store (&go, true);
    usleep (1000 * 1000); /* warm-up, not counted */
    long before = intake_fix_count (fix, "signals");
    long accepted0 = 0;
    for (int i = 0; i < clients; i++)
        accepted0 += __atomic_load_n (&cs[i].accepted, __ATOMIC_RELAXED);
    int64_t t0 = ln_clock_mono_ms ();
    usleep ((useconds_t)(seconds * 1e6));
    long accepted1 = 0;
    for (int i = 0; i < clients; i++)
        accepted1 += __atomic_load_n (&cs[i].accepted, __ATOMIC_RELAXED);
    int64_t t1 = ln_clock_mono_ms ();
    atomic_store (&stop, true);
    long accepted = 0, refused = 0, failed = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join (th[i], NULL);
        accepted += cs[i].accepted;
        refused += cs[i].refused;
        failed += cs[i].failed;
    }
    long stored = intake_fix_count (fix, "signals");
    double rate = (double)(accepted1 - accepted0) / ((double)(t1 - t0) / 1000.0);
    printf ("  %-9s batch_max %-4d %3d clients: %8.0f signals/s  (accepted %ld, refused %ld, "
            "failed %ld; stored %ld)\n",
            label, batch_max, clients, rate, accepted, refused, failed, stored);
    (void)before;
    if (stored != accepted || refused != 0 || failed != 0) {
        fprintf (stderr, "bench_intake: %s: %ld accepted but %ld stored, %ld refused, %ld failed\n",
                 label, accepted, stored, refused, failed);
        rate = -1;
    }
    free (cs);
    free (th);
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
    /* czmq's first socket initialises it; 64 threads doing that at once
       race: initialise here, once */
    zsys_init ();
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
