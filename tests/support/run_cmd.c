/*  run_cmd: see run_cmd.h. */
#include "run_cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CAPTURE_MAX (4 * 1024 * 1024)

typedef struct {
    char *data;
    size_t len;
} buf_t;

static void
s_append (buf_t *b, const char *data, size_t len)
{
    if (b->len + len > CAPTURE_MAX)
        len = CAPTURE_MAX - b->len;
    char *grown = realloc (b->data, b->len + len + 1);
    if (!grown)
        abort ();
    b->data = grown;
    memcpy (b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

static long long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
run_cmd (char *const argv[], const char *input, int timeout_ms, run_cmd_result_t *r)
{
    int in[2], out[2], err[2];
    memset (r, 0, sizeof *r);
    r->status = -1;
    if (pipe (in) || pipe (out) || pipe (err))
        return -1;
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2 (in[0], 0);
        dup2 (out[1], 1);
        dup2 (err[1], 2);
        close (in[1]);
        close (out[0]);
        close (err[0]);
        execv (argv[0], argv);
        _exit (127);
    }
    close (in[0]);
    close (out[1]);
    close (err[1]);
    if (input) {
        ssize_t left = (ssize_t)strlen (input);
        const char *p = input;
        while (left > 0) {
            ssize_t n = write (in[1], p, (size_t)left);
            if (n <= 0)
                break;
            p += n;
            left -= n;
        }
    }
    close (in[1]);

    buf_t bo = {calloc (1, 1), 0}, be = {calloc (1, 1), 0};
    long long deadline = s_now_ms () + timeout_ms;
    struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    int killed = 0;
    while (open_fds > 0) {
        long long left = deadline - s_now_ms ();
        if (left <= 0) {
            kill (pid, SIGKILL);
            killed = 1;
            break;
        }
        if (poll (fds, 2, (int)left) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char chunk[4096];
            ssize_t n = read (fds[i].fd, chunk, sizeof chunk);
            if (n > 0)
                s_append (i == 0 ? &bo : &be, chunk, (size_t)n);
            else {
                close (fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close (fds[i].fd);
    int status = 0;
    waitpid (pid, &status, 0);
    r->out = bo.data;
    r->err = be.data;
    if (killed)
        r->status = 128 + SIGKILL;
    else if (WIFEXITED (status))
        r->status = WEXITSTATUS (status);
    else if (WIFSIGNALED (status))
        r->status = 128 + WTERMSIG (status);
    return 0;
}

void
run_cmd_free (run_cmd_result_t *r)
{
    free (r->out);
    free (r->err);
    r->out = r->err = NULL;
}

int
run_cmd_binary (const char *name, char *out, size_t size)
{
    const char *build = getenv ("LANTERN_BUILD_DIR");
    /* the sanitized tests run the sanitized binary */
#ifdef __SANITIZE_ADDRESS__
    const char *variant = "/asan";
#else
    const char *variant = "";
#endif
    int n = snprintf (out, size, "%s%s/bin/%s", build && *build ? build : "build", variant, name);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

const char *
run_cmd_lanternctl (void)
{
    static char path[512];
    run_cmd_binary ("lanternctl", path, sizeof path);
    return path;
}

int
run_cmd_remove_test_dir (const char *dir)
{
    const char *keep = getenv ("LANTERN_KEEP_TEST_DIRS");
    if (!dir || !*dir || (keep && *keep == '1'))
        return 0;
    char *const argv[] = {"/bin/rm", "-rf", "--", (char *)dir, NULL};
    run_cmd_result_t r;
    int rc = run_cmd (argv, NULL, 60000, &r) == 0 && r.status == 0 ? 0 : -1;
    run_cmd_free (&r);
    return rc;
}
