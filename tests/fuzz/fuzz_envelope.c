/*  fuzz_envelope: libFuzzer harness for ln_envelope_parse.

        make fuzz && build/fuzz/fuzz_envelope -max_total_time=30 [CORPUS_DIR]
        (seeds: tests/fuzz/corpus/fuzz_envelope; make fuzz-run)

    Every input is used twice:
      1. as an event, as it is;
      2. as a list of edits to a valid event built by ln_envelope_build
         (pairs of offset and byte to XOR in, then an optional cut), so
         that the fuzzer explores the inner checks (attributes, payload)
         from the first second, without needing a seed corpus.
    Each parse must either be refused with an error code or return an event
    that satisfies everything the envelope promises, and print as JSON
    (fuzz_envelope in tests/fuzz/decoders.c; abort otherwise: a finding).
    ASan and UBSan (built in by `make fuzz`) catch memory errors, leaks and
    undefined behaviour.
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decoders.h"
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
    fuzz_envelope (data, size);
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
