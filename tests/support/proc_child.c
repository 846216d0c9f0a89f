/*  proc_child: child processes for process-level tests; see proc_child.h.

    fork + exec rather than posix_spawn, because PR_SET_PDEATHSIG must be
    set in the child before exec.  The test process has threads (libzmq's
    I/O threads, the test's client threads), so between fork and exec the
    child only makes async-signal-safe calls; everything it needs (argv,
    envp, paths) is prepared before the fork.
*/
#include "proc_child.h"
#include "cpu_usage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define LINE_MAX_LEN 1024
#define ENV_MAX      512

struct proc_child_t {
    pid_t pid;
    bool reaped;
    int status;
    int out_fd;             /* read end of the child's stdout, -1 when closed */
    char buf[LINE_MAX_LEN]; /* stdout read but not yet consumed as lines */
    size_t len;
};

static long long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Does "KEY=..." in `entry` have the same KEY as `assign`? */
static bool
s_same_key (const char *entry, const char *assign)
{
    const char *eq = strchr (assign, '=');
    size_t klen = eq ? (size_t)(eq - assign) : strlen (assign);
    return strncmp (entry, assign, klen) == 0 && entry[klen] == '=';
}

proc_child_t *
proc_child_start (char *const argv[], const char *log_path, const char *const *env_extra)
{
    proc_child_t *self = NULL;
    int pipefd[2] = {-1, -1};
    char **envp = NULL;
    size_t n = 0;

    if (!argv || !argv[0]) {
        fprintf (stderr, "proc_child: no program\n");
        return NULL;
    }
    envp = calloc (ENV_MAX + 1, sizeof *envp);
    if (!envp)
        abort ();
    for (char **e = environ; e && *e && n < ENV_MAX; e++) {
        bool replaced = false;
        for (const char *const *x = env_extra; x && *x; x++)
            if (s_same_key (*e, *x))
                replaced = true;
        if (!replaced)
            envp[n++] = *e;
    }
    for (const char *const *x = env_extra; x && *x && n < ENV_MAX; x++)
        envp[n++] = (char *)*x;
    envp[n] = NULL;

    if (pipe2 (pipefd, O_CLOEXEC) != 0) {
        perror ("proc_child: pipe2");
        goto fail;
    }
    self = calloc (1, sizeof *self);
    if (!self)
        abort ();
    self->out_fd = -1;
    pid_t parent = getpid ();
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    if (pid < 0) {
        perror ("proc_child: fork");
        goto fail;
    }
    if (pid == 0) {
        /* The child: async-signal-safe calls only. */
        if (prctl (PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid () != parent)
            _exit (127); /* the test is gone already */
        if (dup2 (pipefd[1], STDOUT_FILENO) < 0)
            _exit (127);
        if (log_path) {
            int fd = open (log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
            if (fd < 0 || dup2 (fd, STDERR_FILENO) < 0)
                _exit (127);
        }
        int stdin_fd = open ("/dev/null", O_RDONLY);
        if (stdin_fd >= 0 && stdin_fd != STDIN_FILENO)
            dup2 (stdin_fd, STDIN_FILENO);
        /* Descriptors the test opened without O_CLOEXEC stay ours. */
        for (int fd = 3; fd < 1024; fd++)
            close (fd);
        execve (argv[0], argv, envp);
        _exit (127);
    }
    close (pipefd[1]);
    self->pid = pid;
    self->out_fd = pipefd[0];
    free (envp);
    return self;
fail:
    if (pipefd[0] >= 0)
        close (pipefd[0]);
    if (pipefd[1] >= 0)
        close (pipefd[1]);
    free (envp);
    free (self);
    return NULL;
}

void
proc_child_destroy (proc_child_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    proc_child_t *self = *self_p;
    if (!self->reaped) {
        kill (self->pid, SIGKILL);
        proc_child_wait (self, 10000, NULL);
    }
    if (self->out_fd >= 0)
        close (self->out_fd);
    free (self);
    *self_p = NULL;
}

pid_t
proc_child_pid (const proc_child_t *self)
{
    return self->pid;
}

int
proc_child_wait_line (proc_child_t *self, const char *prefix, char *out, size_t size,
                      int timeout_ms)
{
    long long deadline = s_now_ms () + timeout_ms;
    size_t plen = strlen (prefix);
    while (true) {
        /* A complete line in the buffer? */
        char *nl = memchr (self->buf, '\n', self->len);
        while (nl) {
            size_t line = (size_t)(nl - self->buf);
            bool match = line >= plen && memcmp (self->buf, prefix, plen) == 0;
            if (match && out && size > 0) {
                size_t rest = line - plen;
                if (rest >= size)
                    rest = size - 1;
                memcpy (out, self->buf + plen, rest);
                out[rest] = '\0';
            }
            memmove (self->buf, nl + 1, self->len - line - 1);
            self->len -= line + 1;
            if (match)
                return 0;
            nl = memchr (self->buf, '\n', self->len);
        }
        if (self->len == sizeof self->buf)
            self->len = 0; /* a line longer than we care for: drop it */
        if (self->out_fd < 0)
            return -1;
        long long left = deadline - s_now_ms ();
        if (left <= 0) {
            fprintf (stderr, "proc_child: pid %d printed no '%s' line in %d ms\n", (int)self->pid,
                     prefix, timeout_ms);
            return -1;
        }
        struct pollfd pfd = {.fd = self->out_fd, .events = POLLIN};
        int rc = poll (&pfd, 1, (int)left);
        if (rc < 0 && errno != EINTR)
            return -1;
        if (rc <= 0)
            continue;
        ssize_t got = read (self->out_fd, self->buf + self->len, sizeof self->buf - self->len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            close (self->out_fd);
            self->out_fd = -1;
            fprintf (stderr, "proc_child: pid %d closed stdout before printing '%s'\n",
                     (int)self->pid, prefix);
            return -1;
        }
        self->len += (size_t)got;
    }
}

int
proc_child_signal (proc_child_t *self, int sig)
{
    if (self->reaped)
        return -1;
    return kill (self->pid, sig);
}

int
proc_child_wait (proc_child_t *self, int timeout_ms, int *status)
{
    long long deadline = s_now_ms () + timeout_ms;
    while (!self->reaped) {
        int st = 0;
        pid_t r = waitpid (self->pid, &st, WNOHANG);
        if (r == self->pid) {
            self->reaped = true;
            self->status = st;
            break;
        }
        if (r < 0 && errno != EINTR) {
            perror ("proc_child: waitpid");
            self->reaped = true; /* not ours to wait for any more */
            self->status = -1;
            break;
        }
        if (s_now_ms () >= deadline)
            return -1;
        usleep (2000);
    }
    if (status)
        *status = self->status;
    return 0;
}

bool
proc_child_running (proc_child_t *self)
{
    if (!self->reaped)
        proc_child_wait (self, 0, NULL);
    return !self->reaped;
}

long
proc_rss_kib (pid_t pid)
{
    char path[64], line[256];
    snprintf (path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    long kib = -1;
    while (fgets (line, sizeof line, f)) {
        if (strncmp (line, "VmRSS:", 6) == 0) {
            char *end = NULL;
            errno = 0;
            long v = strtol (line + 6, &end, 10);
            if (errno == 0 && end != line + 6 && v >= 0)
                kib = v;
            break;
        }
    }
    fclose (f);
    return kib;
}

long
proc_cpu_ms (pid_t pid)
{
    double cpu = cpu_pid (pid);
    return cpu < 0 ? -1 : (long)(cpu * 1000.0 + 0.5);
}

int
proc_free_port (void)
{
    int port = -1;
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t alen = sizeof addr;
    if (bind (fd, (struct sockaddr *)&addr, sizeof addr) == 0 &&
        getsockname (fd, (struct sockaddr *)&addr, &alen) == 0)
        port = ntohs (addr.sin_port);
    close (fd);
    return port;
}

int
proc_variant_dir (const char *argv0, char *out, size_t size)
{
    char path[PATH_MAX];
    ssize_t n = readlink ("/proc/self/exe", path, sizeof path - 1);
    if (n > 0)
        path[n] = '\0';
    else if (argv0 && strlen (argv0) < sizeof path)
        snprintf (path, sizeof path, "%s", argv0);
    else
        return -1;
    /* strip <name>, <kind>, "tests" */
    for (int i = 0; i < 3; i++) {
        char *slash = strrchr (path, '/');
        if (!slash)
            return -1;
        *slash = '\0';
    }
    if (snprintf (out, size, "%s", path) >= (int)size)
        return -1;
    return 0;
}
