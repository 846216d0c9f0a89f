/*  fuzz_server_message: libFuzzer harness for what a client (ln_client,
    lanternctl) and a consumer of another node's stream (ln_consumer)
    decode from a node (tests/fuzz/decoders.h).

        make fuzz && build/fuzz/fuzz_server_message -max_total_time=30 CORPUS_DIR
        (seeds: tests/fuzz/corpus/fuzz_server_message; make fuzz-run)

    The input is a frame from a node: ServerMessage through
    ln_pbcheck_unpack, then a Deliver's event through ln_envelope_parse and
    out as JSON, as ln_consumer and `lanternctl events tail` do.
*/
#include <stddef.h>
#include <stdint.h>

#include "decoders.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_server_message (data, size);
    return 0;
}
