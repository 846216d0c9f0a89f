/*  fuzz_envelope: libFuzzer harness for ln_envelope_parse.

        make BUILD=build-x fuzz
        ./build-x/fuzz/fuzz_envelope -max_total_time=30 [CORPUS_DIR]

    Every input is used twice:
      1. as an event, as it is;
      2. as a list of edits to a valid event built by ln_envelope_build
         (pairs of offset and byte to XOR in, then an optional cut), so
         that the fuzzer explores the inner checks (attributes, payload)
         from the first second, without needing a seed corpus.
    Each parse must either be refused with an error code or return an event
    that satisfies everything the envelope promises (abort otherwise: a
    finding).  ASan and UBSan (built in by `make fuzz`) catch memory errors,
    leaks and undefined behaviour.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lantern.pb-c.h"
#include "ln_envelope.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define MAX_EDITS 16

static uint8_t *s_valid;
static size_t s_valid_len;

static void
s_check (int ok)
{
    if (!ok)
        abort (); /* a broken promise is a finding */
}

static void
s_build_valid (void)
{
    Lantern__V1__NodeStarted ns = LANTERN__V1__NODE_STARTED__INIT;
    ns.node = "intake-venlo";
    ns.version = "0.1.0";
    ns.service = LANTERN__V1__SERVICE_KIND__SERVICE_KIND_INTAKE;
    ln_event_fields_t f = {
        .source = "urn:lantern:node:intake-venlo",
        .id = "evt-1",
        .type = "nl.lantern.node.started.v1",
        .time_ms = 1764412424123LL,
        .sequence = 7,
        .level = LN_LEVEL_INTERN,
        .correlationid = "sig-1",
        .payload = &ns.base,
    };
    s_valid = ln_envelope_build (&f, &s_valid_len, NULL);
    s_check (s_valid != NULL);
}

static void
s_parse (const uint8_t *data, size_t size)
{
    ln_error_t err;
    ln_error_clear (&err);
    ln_event_t *ev = ln_envelope_parse (data, size, &err);
    if (!ev) {
        s_check (err.code != NULL);
        s_check (strnlen (err.field, sizeof err.field) < sizeof err.field);
        return;
    }
    const ln_event_type_t *t = ln_envelope_type_lookup (ln_event_type (ev));
    s_check (t != NULL);
    s_check (ln_event_payload (ev)->descriptor == t->payload);
    s_check (ln_envelope_node_valid (ln_event_node (ev)));
    s_check (ln_level_name (ln_event_level (ev)) != NULL);
    s_check (ln_event_time_ms (ev) >= 946684800000LL);
    s_check (ln_pbcheck_message (ln_event_payload (ev), NULL, NULL, NULL) == 0);
    s_check (ln_pbcheck_message (&ln_event_cloudevent (ev)->base, NULL, NULL, NULL) == 0);
    ln_event_destroy (&ev);
    s_check (ev == NULL);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_valid)
        s_build_valid ();

    /* 1. the input as an event */
    s_parse (data, size);

    /* 2. the input as edits of a valid event: (offset, xor) pairs; an odd
       last byte cuts the event to that length (modulo its size) */
    uint8_t *copy = malloc (s_valid_len);
    s_check (copy != NULL);
    memcpy (copy, s_valid, s_valid_len);
    size_t len = s_valid_len, i = 0;
    for (int k = 0; k < MAX_EDITS && i + 1 < size; k++, i += 2)
        copy[data[i] % s_valid_len] ^= data[i + 1];
    if (i < size && size % 2 == 1)
        len = data[size - 1] % (s_valid_len + 1);
    /* an exact-size buffer, so that ASan sees any read past the end */
    uint8_t *exact = malloc (len ? len : 1);
    s_check (exact != NULL);
    memcpy (exact, copy, len);
    s_parse (exact, len);
    free (exact);
    free (copy);
    return 0;
}
