/*  conformance: docs/protocol.md and the nodes agree.

    tests/integration/test_conformance.c reads the error-code tables of
    docs/protocol.md at run time (every table whose first column is headed
    `code`) and runs the cases that the services contribute here, each in a
    file of its own in tests/conformance/ (node.c: the codes every node
    answers, through the bus fixture; intake.c: lantern-intake's, through
    the intake fixture).  It fails when

      - a code of a table has no case in the service that covers the
        table's section, or a service's case names a code its section's
        tables do not list;
      - a case's reply is not an ERROR with exactly the case's code and
        field, under the request_id the protocol says (the request's own,
        or "" for BAD_FRAME and BAD_REQUEST_ID);
      - a case's field is not a path that the field-path convention of
        docs/protocol.md gives (section 8.1): "", a field of Request
        (`request_id`, `call.type_url`), or a path in the command's own
        message (`details.persons[0].role`, `#15` for an unknown field
        number), checked against the message's descriptor.

    A service registers itself from its own file, so a new service adds a
    file and touches nothing else:

        static const conf_service_t s_service = {...};
        CONF_REGISTER (s_service)

    Besides its cases, a service may contribute checks: cmocka tests of the
    limits of docs/protocol.md 7.1 (each limit from both sides), run with
    the service's fixture.
*/
#ifndef CONFORMANCE_H
#define CONFORMANCE_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ln_client.h"
#include "wire.pb-c.h"

/* What one case got back. */
typedef struct {
    Lantern__V1__ServerMessage *msg; /* the answer (NULL: none came); the
                                        driver frees it */
    char request_id[80];             /* the request_id the Reply must carry */
} conf_result_t;

typedef struct {
    const char *code;  /* the error code it must produce */
    const char *field; /* the field path the convention gives */
    const char *what;  /* one line: what it sends */
    /* The command message the field is relative to (NULL: a field of
       Request, or none). */
    const ProtobufCMessageDescriptor *command;
    /* Send it and wait for the answer.  Returns 0, or -1 when it could not
       even be sent (the reason printed). */
    int (*run) (void *fixture, const void *arg, conf_result_t *result);
    const void *arg; /* passed to run */
} conf_case_t;

/* A check of the limits: cmocka asserts, with the service's fixture. */
typedef struct {
    const char *name;
    void (*run) (void *fixture);
} conf_check_t;

typedef struct {
    const char *name; /* "node", "intake" */
    /* The sections of docs/protocol.md whose code tables this service's
       cases cover, by number ("8", "4.6"; subsections included), NULL-ended. */
    const char *const *sections;
    void *(*setup) (void); /* start the fixture: NULL on failure */
    void (*teardown) (void *fixture);
    /* The cases (static, or built on the first call; needs no fixture):
     *count set. */
    const conf_case_t *(*cases) (size_t *count);
    const conf_check_t *checks;
    size_t check_count;
} conf_service_t;

void conf_register (const conf_service_t *service);

#define CONF_REGISTER(service)                                                                     \
    static void __attribute__ ((constructor)) s_conf_register_##service (void)                     \
    {                                                                                              \
        conf_register (&service);                                                                  \
    }

/* --- helpers for the services' files (conformance.c) -------------------------- */

/* Request field number of Request.call. */
#define CONF_CALL 90

/* The bytes of a ClientMessage holding a Request with `request_id` and
   `command` in Request field `field` (a member of its oneof: ping = 10,
   submit_signal = 100, ...) or, with CONF_CALL, in Request.call as a
   google.protobuf.Any named by the command's type.  Caller frees.  Never
   NULL (out of memory aborts). */
uint8_t *conf_pack_request (const char *request_id, unsigned field, const ProtobufCMessage *command,
                            size_t *size);

/* Send the bytes as one frame (or, with frames > 1, as that many frames:
   the bytes, then empty ones) and wait for the Reply, skipping anything
   else.  result->msg is NULL when none came within timeout_ms.  0 or -1. */
int conf_send_raw (ln_client_t *client, const uint8_t *data, size_t size, int frames,
                   int timeout_ms, conf_result_t *result);

/* conf_pack_request + conf_send_raw, with a fresh request_id, which
   result->request_id then holds. */
int conf_call (ln_client_t *client, unsigned field, const ProtobufCMessage *command,
               conf_result_t *result);

/* A fresh request_id "conf-<pid>-<n>". */
void conf_request_id (char *out, size_t size);

#endif
