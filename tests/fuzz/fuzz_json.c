/*  fuzz_json: libFuzzer harness for ln_json, which reads what a person or
    a script gives lanternctl (tests/fuzz/decoders.h).

        make fuzz && build/fuzz/fuzz_json -max_total_time=30 CORPUS_DIR
        (seeds: tests/fuzz/corpus/fuzz_json; make fuzz-run)

    Every input is used twice:
      1. as JSON text for ln_json_parse (the strict parser);
      2. when it reads "<message type>\n<JSON>" (e.g.
         "lantern.v1.SubmitSignal\n{...}", any type a decoder can meet), as
         that message in JSON for ln_json_to_message_with, the conversion
         to protobuf lanternctl uses for commands and files.
*/
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "decoders.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Type names are shorter than this. */
#define NAME_MAX_LEN 128

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    fuzz_json_text (data, size);
    const uint8_t *nl = memchr (data, '\n', size < NAME_MAX_LEN ? size : NAME_MAX_LEN);
    if (nl) {
        size_t name_len = (size_t)(nl - data);
        const ProtobufCMessageDescriptor *desc = fuzz_message_type ((const char *)data, name_len);
        if (desc)
            fuzz_json_message (desc, nl + 1, size - name_len - 1);
    }
    return 0;
}
