/*  fuzz_client_message: libFuzzer harness for what a node decodes from its
    clients (tests/fuzz/decoders.h).

        make fuzz && build/fuzz/fuzz_client_message -max_total_time=30 CORPUS_DIR
        (seeds: tests/fuzz/corpus/fuzz_client_message; make fuzz-run)

    Every input is used twice:
      1. as a frame from a client: ClientMessage through ln_pbcheck_unpack,
         and for a refused one the request_id and command lookups the node
         makes in the raw bytes;
      2. as one command's own bytes (the first byte picks the command type
         among Request's commands): how a node will decode a command that
         arrives in a google.protobuf.Any.
    A new decoder of client bytes is one call more here.
*/
#include <stddef.h>
#include <stdint.h>

#include "decoders.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_client_message (data, size);
    if (size > 0)
        fuzz_command (data[0], data + 1, size - 1);
    return 0;
}
