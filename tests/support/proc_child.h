/*  proc_child: child processes for process-level tests (kill -9, restarts).

    A test starts a helper program (tests/progs/busnode, ...) as a separate
    process so that it can kill it with SIGKILL at any moment, restart it,
    and look at it from outside (/proc/PID/status).  Children must never
    outlive the test:
      - the child asks the kernel for SIGKILL when the thread that forked it
        dies (PR_SET_PDEATHSIG, set between fork and exec; start children
        from the test's main thread, which lives as long as the process);
      - proc_child_destroy kills (SIGKILL) and reaps a child still running,
        so a cmocka teardown that destroys every child also cleans up after
        a failed assertion.

    The child's stdout is a pipe the test reads lines from (a node prints
    "ready ENDPOINT" once it serves); its stderr goes to a log file (appended
    to, so that the logs of every restart of a node stay in one file), or is
    inherited when no log file is given.  The child inherits the test's
    environment, with `env_extra` ("KEY=VALUE", overriding) applied.

    Everything here is for tests: on failure a function prints why to stderr
    and returns NULL / -1.
*/
#ifndef PROC_CHILD_H
#define PROC_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct proc_child_t proc_child_t;

/* Start argv[0] (a path) with argv (NULL-terminated).  log_path: where its
   stderr goes (appended), NULL to inherit ours.  env_extra: NULL or a
   NULL-terminated list of "KEY=VALUE" that replace or add to our
   environment.  Returns NULL if it could not be started. */
proc_child_t *proc_child_start (char *const argv[], const char *log_path,
                                const char *const *env_extra);

/* Kill (SIGKILL) and reap the child if it still runs, close the pipe, free.
   NULL-safe; sets *self_p to NULL. */
void proc_child_destroy (proc_child_t **self_p);

pid_t proc_child_pid (const proc_child_t *self);

/* Read stdout lines until one starts with `prefix`; copy the rest of that
   line (after the prefix, without the newline) into out.  Returns 0, or -1
   on timeout or when the child closed stdout (exited) first. */
int proc_child_wait_line (proc_child_t *self, const char *prefix, char *out, size_t size,
                          int timeout_ms);

/* Send a signal.  Returns 0, or -1 when the child has already been reaped. */
int proc_child_signal (proc_child_t *self, int sig);

/* Wait up to timeout_ms for the child to exit and reap it; *status (may be
   NULL) gets the waitpid status.  Returns 0 when reaped (also when it had
   been reaped before), -1 on timeout. */
int proc_child_wait (proc_child_t *self, int timeout_ms, int *status);

/* True while the child has not been reaped. */
bool proc_child_running (proc_child_t *self);

/* VmRSS of a process in KiB, from /proc/PID/status; -1 on error. */
long proc_rss_kib (pid_t pid);

/* CPU time (user + system) a process has used, in ms, from
   /proc/PID/stat; -1 on error. */
long proc_cpu_ms (pid_t pid);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0 and
   released), to bind a node on a fixed endpoint that survives restarts.
   Returns the port, or -1. */
int proc_free_port (void);

/* The directory holding the running test binary's variant build, i.e.
   $(BUILD)/<variant> for $(BUILD)/<variant>/tests/<kind>/<name>, found from
   /proc/self/exe (or argv0 when that fails).  Writes it to out; returns 0
   or -1. */
int proc_variant_dir (const char *argv0, char *out, size_t size);

#endif
