/*  triage_calls: what triage's tests and benchmark say to nodes: signals
    as an attention officer submits them (one person written several
    ways), any command through Request.call, and a subscription read
    event by event.

    Everything here is for tests: failures print why and return -1.
*/
#ifndef TRIAGE_CALLS_H
#define TRIAGE_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lantern.pb-c.h"
#include "ln_client.h"
#include "ln_envelope.h"

/* One person of a signal; NULL fields are left out. */
typedef struct {
    const char *name, *dob, *phone, *document, *bsn;
    int role; /* PersonRole; 0: POSSIBLE_VICTIM */
} triage_person_t;

/* A signal as an officer submits it: LABOUR, observed a week ago in
   `municipality` (default GM0983), with these persons and indicators. */
typedef struct {
    triage_person_t persons[3];
    const char *indicators[4];
    const char *municipality;
    const char *plate; /* a vehicle, or NULL */
    bool danger, minor;
    const char *account; /* NULL: a short one */
} triage_sig_t;

/* The SubmitSignal details (malloc'ed; free with
   protobuf_c_message_free_unpacked). */
Lantern__V1__SignalDetails *triage_sig_details (const triage_sig_t *spec);

/* Submit: 0 with the signal id (TRIAGE_SIG_ID_SIZE), or -1. */
#define TRIAGE_SIG_ID_SIZE 32
int triage_submit (ln_client_t *client, const triage_sig_t *spec, char *id_out);

/* Withdraw a signal (0 or -1). */
int triage_withdraw (ln_client_t *client, const char *signal_id, const char *reason);

/* The signal as its node holds it (GetSignal; free the record), or NULL. */
Lantern__V1__SignalRecord *triage_get_signal (ln_client_t *client, const char *signal_id);

/* Call `command` through Request.call.  Returns 0 with *out (free with
   protobuf_c_message_free_unpacked) of type `result`; 1 when the node
   refused it (code and field copied, each may be NULL); -1 when no reply
   came or the reply was not what was asked. */
int triage_call (ln_client_t *client, const ProtobufCMessage *command,
                 const ProtobufCMessageDescriptor *result, ProtobufCMessage **out, char *code,
                 size_t code_size, char *field, size_t field_size);

/* Subscribe on this connection (after_position, credit 1000,
   projection "" or e.g. "statistical").  0 or -1. */
int triage_subscribe (ln_client_t *client, uint64_t after, const char *projection);

/* The next event of the subscription within timeout_ms, parsed
   (ln_envelope_parse; destroy it), with its position; Credit 1 is sent
   back.  NULL on timeout, or a Reset (printed). */
ln_event_t *triage_next_event (ln_client_t *client, int timeout_ms, uint64_t *position);

/* Milliseconds on the monotonic clock. */
int64_t triage_now_ms (void);

#endif
