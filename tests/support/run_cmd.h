/*  run_cmd: run a program of ours (lanternctl, ...) as a child process for
    a test, with a time limit, and capture its exit code, stdout and stderr. */
#ifndef RUN_CMD_H
#define RUN_CMD_H

#include <stddef.h>

typedef struct {
    int status; /* exit code; 128+N when killed by signal N; -1 when it could not run */
    char *out;  /* stdout, NUL-terminated (caller frees with run_cmd_free) */
    char *err;  /* stderr, NUL-terminated */
} run_cmd_result_t;

/* Run argv (argv[0] a path) with `input` (may be NULL) on stdin, killing it
   after timeout_ms.  Returns 0 when it ran (see r->status), -1 otherwise. */
int run_cmd (char *const argv[], const char *input, int timeout_ms, run_cmd_result_t *r);
void run_cmd_free (run_cmd_result_t *r);

/* $LANTERN_BUILD_DIR/bin/lanternctl (default build/bin/lanternctl), or
   .../asan/bin/lanternctl in the sanitized build of the tests.  Static. */
const char *run_cmd_lanternctl (void);

/* The path of the binary `name` (lanternctl, lantern-intake, ...) of the
   running test's variant: $LANTERN_BUILD_DIR/bin/NAME, or .../asan/bin/NAME
   in a sanitized test.  Returns 0, or -1 when it does not fit. */
int run_cmd_binary (const char *name, char *out, size_t size);

/* Remove a test's directory (rm -rf), unless LANTERN_KEEP_TEST_DIRS=1
   asks to keep it for a look (configs, logs).  Returns 0 when removed or
   kept, -1 when rm failed. */
int run_cmd_remove_test_dir (const char *dir);

#endif
