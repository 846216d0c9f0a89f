/*  bench_envelope: what the envelope's checks cost.

        build/plain/bench/bench_envelope [SECONDS_PER_RUN]   (default 1.6)

    Measures, on the same bytes in the same process, events per second of
      baseline  io__cloudevents__v1__cloud_event__unpack + free_unpacked
                (decoding the CloudEvent only: no payload, no checks)
      decode    the baseline plus unpacking the payload from proto_data
                (all the decoding the full parse does, without checks)
      full      ln_envelope_parse + ln_event_destroy (size check, wire and
                message validation of the CloudEvent, every attribute rule,
                payload decoding and validation)
    and prints them, their ratios, and the command line that produced them.
    The event is a typical one: NodeStarted with all six attributes.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cloudevents.pb-c.h"
#include "lantern.pb-c.h"
#include "ln_envelope.h"

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run `fn` in batches until `seconds` have passed; return events/s. */
static double
s_measure (int (*fn) (const uint8_t *, size_t), const uint8_t *data, size_t size, double seconds)
{
    const long batch = 1000;
    long count = 0;
    double start = s_now (), elapsed;
    do {
        for (long i = 0; i < batch; i++)
            if (fn (data, size) != 0) {
                fprintf (stderr, "bench_envelope: parse failed\n");
                exit (1);
            }
        count += batch;
        elapsed = s_now () - start;
    } while (elapsed < seconds);
    return (double)count / elapsed;
}

static int
s_baseline (const uint8_t *data, size_t size)
{
    Io__Cloudevents__V1__CloudEvent *ce =
        io__cloudevents__v1__cloud_event__unpack (NULL, size, data);
    if (!ce)
        return -1;
    io__cloudevents__v1__cloud_event__free_unpacked (ce, NULL);
    return 0;
}

static int
s_decode (const uint8_t *data, size_t size)
{
    Io__Cloudevents__V1__CloudEvent *ce =
        io__cloudevents__v1__cloud_event__unpack (NULL, size, data);
    if (!ce)
        return -1;
    int rc = -1;
    if (ce->data_case == IO__CLOUDEVENTS__V1__CLOUD_EVENT__DATA_PROTO_DATA && ce->proto_data) {
        Lantern__V1__NodeStarted *ns = lantern__v1__node_started__unpack (
            NULL, ce->proto_data->value.len, ce->proto_data->value.data);
        if (ns) {
            lantern__v1__node_started__free_unpacked (ns, NULL);
            rc = 0;
        }
    }
    io__cloudevents__v1__cloud_event__free_unpacked (ce, NULL);
    return rc;
}

static int
s_full (const uint8_t *data, size_t size)
{
    ln_event_t *ev = ln_envelope_parse (data, size, NULL);
    if (!ev)
        return -1;
    ln_event_destroy (&ev);
    return 0;
}

int
main (int argc, char **argv)
{
    int rc = 1;
    uint8_t *event = NULL;
    double seconds = 1.6; /* three runs: about 5 s in all */

    if (argc > 2 || (argc == 2 && (sscanf (argv[1], "%lf", &seconds) != 1 || seconds <= 0))) {
        fprintf (stderr, "usage: %s [SECONDS_PER_RUN]  (default 1.6; three runs)\n", argv[0]);
        goto out;
    }
    Lantern__V1__NodeStarted ns = LANTERN__V1__NODE_STARTED__INIT;
    ns.node = "intake-venlo";
    ns.version = "0.1.0";
    ns.service = LANTERN__V1__SERVICE_KIND__SERVICE_KIND_INTAKE;
    ln_event_fields_t f = {
        .source = "urn:lantern:node:intake-venlo",
        .type = "nl.lantern.node.started.v1",
        .time_ms = 1764412424123LL,
        .sequence = 123456,
        .level = LN_LEVEL_VERTROUWELIJK,
        .correlationid = "sig-2025-000042",
        .payload = &ns.base,
    };
    size_t size;
    ln_error_t err;
    event = ln_envelope_build (&f, &size, &err);
    if (!event) {
        fprintf (stderr, "bench_envelope: build: %s %s\n", err.code, err.message);
        goto out;
    }
    /* warm up caches and the allocator */
    s_measure (s_full, event, size, seconds / 10);

    double base = s_measure (s_baseline, event, size, seconds);
    double decode = s_measure (s_decode, event, size, seconds);
    double full = s_measure (s_full, event, size, seconds);

    printf ("event: %zu bytes (NodeStarted, 6 attributes)\n", size);
    printf ("baseline (CloudEvent unpack + free):         %10.0f events/s  %6.2f us/event\n", base,
            1e6 / base);
    printf ("decode   (CloudEvent + payload, no checks):  %10.0f events/s  %6.2f us/event\n",
            decode, 1e6 / decode);
    printf ("full     (ln_envelope_parse + destroy):      %10.0f events/s  %6.2f us/event\n", full,
            1e6 / full);
    printf ("ratio full/baseline: %.2f   full/decode: %.2f\n", full / base, full / decode);
    printf ("command:");
    for (int i = 0; i < argc; i++)
        printf (" %s", argv[i]);
    printf ("\n");
    rc = 0;
out:
    free (event);
    return rc;
}
